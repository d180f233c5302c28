/* replay.c — runs a fuzz harness's LLVMFuzzerTestOneInput over files and
 * directories of files (a corpus), without libFuzzer, so the checked-in
 * corpus replays under any compiler with ASan/UBSan in ctest. Each file is
 * named before it runs, so a crash shows which input caused it.
 *   usage: replay PATH...   (a directory: every regular file in it, sorted)
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    if (!fp) {
        fprintf(stderr, "replay: %s: cannot open\n", path);
        return 0;
    }
    for (;;) {
        size_t got;
        if (len == cap) {
            unsigned char *nb;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap);
            if (!nb) {
                fclose(fp);
                free(buf);
                fprintf(stderr, "replay: %s: out of memory\n", path);
                return 0;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        fclose(fp);
        free(buf);
        fprintf(stderr, "replay: %s: read error\n", path);
        return 0;
    }
    fclose(fp);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    if (getenv("CLCONV_FUZZ_DIGEST")) {
        /* determinism.cmake compares stdout: name each input's line. */
        const char *base = strrchr(path, '/');
        printf("%s: ", base ? base + 1 : path);
        fflush(stdout);
    }
    /* An exact-size copy, so ASan sees reads past the end of the input. */
    {
        unsigned char *exact = malloc(len ? len : 1);
        if (!exact) {
            free(buf);
            return 0;
        }
        if (len) memcpy(exact, buf, len);
        free(buf);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    return 1;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int i, files = 0, failed = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            failed = 1;
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            char **names = NULL;
            size_t n = 0, cap = 0, k;
            if (!d) {
                fprintf(stderr, "replay: %s: cannot list\n", argv[i]);
                failed = 1;
                continue;
            }
            while ((e = readdir(d)) != NULL) {
                char *p;
                struct stat fs;
                if (e->d_name[0] == '.') continue;
                p = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
                if (!p) abort();
                sprintf(p, "%s/%s", argv[i], e->d_name);
                if (stat(p, &fs) != 0 || !S_ISREG(fs.st_mode)) {
                    free(p);
                    continue;
                }
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    names = realloc(names, cap * sizeof *names);
                    if (!names) abort();
                }
                names[n++] = p;
            }
            closedir(d);
            if (n) qsort(names, n, sizeof *names, cmp);
            for (k = 0; k < n; k++) {
                if (run_file(names[k])) files++;
                else failed = 1;
                free(names[k]);
            }
            free(names);
        } else {
            if (run_file(argv[i])) files++;
            else failed = 1;
        }
    }
    fprintf(stderr, "replay: %d input(s) ran%s\n", files,
            failed ? ", some could not be read" : "");
    if (files == 0) return 1;
    return failed;
}
