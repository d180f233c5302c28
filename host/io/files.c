/* files.c — what the writer and the CLI need to know about paths and
 * directories, apart from any format: which file or directory entry a path
 * names (device and inode, not its spelling), `mkdir -p` that is safe when
 * several processes create one tree at once, the names of the writer's
 * temporary files, and the removal of such temporary files left by a
 * clconv that was killed.
 * It must not remove or replace anything but a temporary file of the
 * writer's own naming whose writer is gone.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ path keys */

/* Prepends "/" + name (n bytes) to *rest; -1 when out of memory. */
static int prepend(char **rest, const char *name, size_t n)
{
    size_t old = *rest ? strlen(*rest) : 0;
    char *s = malloc(old + n + 2);
    if (!s) return -1;
    s[0] = '/';
    memcpy(s + 1, name, n);
    if (old) memcpy(s + 1 + n, *rest, old);
    s[1 + n + old] = '\0';
    free(*rest);
    *rest = s;
    return 0;
}

int clconv__path_key_of(const char *path, clconv__path_key *k)
{
    char *cur = strdup(path && *path ? path : ".");
    struct stat sb;
    memset(k, 0, sizeof *k);
    if (!cur) return -1;
    for (;;) {
        size_t len = strlen(cur);
        char *slash, *base;
        while (len > 1 && cur[len - 1] == '/') cur[--len] = '\0';
        if (stat(cur, &sb) == 0) {
            k->dev = (unsigned long long)sb.st_dev;
            k->ino = (unsigned long long)sb.st_ino;
            k->exists = k->rest == NULL;
            break;
        }
        /* Not there (yet): the entry below the nearest existing directory,
         * spelt without "." and empty components. */
        slash = strrchr(cur, '/');
        base = slash ? slash + 1 : cur;
        if (strcmp(base, ".") != 0 && *base && prepend(&k->rest, base, strlen(base)) != 0)
            break;
        if (!slash) strcpy(cur, ".");
        else if (slash == cur) strcpy(cur, "/");
        else *slash = '\0';
        if (strcmp(cur, ".") == 0 && stat(cur, &sb) != 0) break; /* cwd gone */
    }
    free(cur);
    if (!k->exists && !k->rest) return -1;
    return 0;
}

void clconv__path_key_free(clconv__path_key *k)
{
    free(k->rest);
    k->rest = NULL;
}

int clconv__path_key_cmp(const clconv__path_key *a, const clconv__path_key *b)
{
    if (a->dev != b->dev) return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino) return a->ino < b->ino ? -1 : 1;
    if (!a->rest || !b->rest) return (a->rest != NULL) - (b->rest != NULL);
    return strcmp(a->rest, b->rest);
}

int clconv__same_path(const char *a, const char *b)
{
    clconv__path_key ka, kb;
    int same = 0;
    if (clconv__path_key_of(a, &ka) == 0 && clconv__path_key_of(b, &kb) == 0) {
        same = clconv__path_key_cmp(&ka, &kb) == 0;
        clconv__path_key_free(&kb);
    }
    clconv__path_key_free(&ka);
    return same;
}

/* ------------------------------------------------------------ mkdir -p */

/* Makes one directory; one that exists already (made by another process a
 * moment ago, say) is success, anything else in its place is not. */
static int make_one(const char *p)
{
    struct stat sb;
    int e;
    if (mkdir(p, 0777) == 0) return 0;
    e = errno;
    if (stat(p, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return 0;
        errno = ENOTDIR;
        return -1;
    }
    errno = e;
    return -1;
}

clconv_status clconv__make_dirs(const char *path, int parents_only, char *err)
{
    char *p = strdup(path), *s;
    clconv_status st = CLCONV_OK;
    if (!p) {
        clconv__err(err, "%s: out of memory", path);
        return CLCONV_E_NOMEM;
    }
    for (s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s) *s = '\0';
        if ((s || !parents_only) && *p && make_one(p) != 0) {
            clconv__err(err, "%s: cannot create the directory: %s", p, strerror(errno));
            st = CLCONV_E_IO;
            break;
        }
        if (!s) break;
        *s = '/';
    }
    free(p);
    return st;
}

/* ------------------------------------------------------------ temp files */

/* The writer's temporary files are ".<name>" + CLCONV__TMP_TAG + "<host>-
 * <pid>-<6 letters>" in the output's directory: hidden (never walked as an
 * input), and saying who wrote them, so a later run can tell a dead
 * writer's file from a live one's. */
#define TMP_TAG ".clconv-tmp-"
#define STALE_AGE_S (24 * 3600)

/* This host's name, cut at its first '.', '/'-free; "host" when unknown. */
static void host_name(char *buf, size_t n)
{
    char h[256];
    size_t i;
    if (gethostname(h, sizeof h) != 0) strcpy(h, "host");
    h[sizeof h - 1] = '\0';
    h[strcspn(h, "./")] = '\0';
    if (!h[0]) strcpy(h, "host");
    for (i = 0; h[i] && i + 1 < n; i++) buf[i] = h[i];
    buf[i] = '\0';
}

char *clconv__temp_name(const char *path, unsigned long long seed)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dirlen = (size_t)(base - path), blen = strlen(base);
    char host[40], rnd[7], *tmp;
    int i;
    host_name(host, sizeof host);
    /* Room for the tag in a 255-byte file name. */
    if (blen > 160) blen = 160;
    for (i = 0; i < 6; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        rnd[i] = letters[(seed >> 33) % (sizeof letters - 1)];
    }
    rnd[6] = '\0';
    tmp = malloc(dirlen + blen + strlen(host) + 64);
    if (tmp)
        sprintf(tmp, "%.*s.%.*s%s%s-%ld-%s", (int)dirlen, path, (int)blen, base,
                TMP_TAG, host, (long)getpid(), rnd);
    return tmp;
}

/* Whether `name` is a temporary file of clconv's naming, and if so its
 * host and pid (legacy ".clconv-tmp-XXXXXX" names have neither: pid 0). */
static int parse_temp(const char *name, char *host, size_t hn, long *pid)
{
    const char *tag = NULL, *p, *dash1, *dash2;
    size_t i;
    if (name[0] != '.') return 0;
    if (strncmp(name, TMP_TAG, strlen(TMP_TAG)) == 0 && strlen(name) == strlen(TMP_TAG) + 6) {
        *pid = 0;
        host[0] = '\0';
        return 1;
    }
    for (p = strstr(name, TMP_TAG); p; p = strstr(p + 1, TMP_TAG)) tag = p;
    if (!tag || tag == name) return 0;
    tag += strlen(TMP_TAG);
    dash2 = strrchr(tag, '-');
    if (!dash2 || strlen(dash2 + 1) != 6) return 0;
    for (dash1 = dash2 - 1; dash1 > tag && *dash1 != '-'; dash1--)
        if (*dash1 < '0' || *dash1 > '9') return 0;
    if (dash1 <= tag || dash1 + 1 == dash2) return 0;
    *pid = strtol(dash1 + 1, NULL, 10);
    for (i = 0; tag + i < dash1 && i + 1 < hn; i++) host[i] = tag[i];
    host[i] = '\0';
    return *pid > 0;
}

int clconv__clean_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char me[40], host[40];
    int removed = 0;
    const time_t now = time(NULL);
    if (!d) return 0;
    host_name(me, sizeof me);
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        long pid;
        char *p;
        size_t n;
        if (!parse_temp(de->d_name, host, sizeof host, &pid)) continue;
        n = strlen(dir) + strlen(de->d_name) + 2;
        if (!(p = malloc(n))) break;
        snprintf(p, n, "%s/%s", dir, de->d_name);
        /* Ours and gone: written on this host by a process that no longer
         * exists, or (any host, legacy names) untouched for a day, which no
         * live writer's file is. */
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) &&
            ((pid > 0 && strcmp(host, me) == 0 && kill((pid_t)pid, 0) != 0 &&
              errno == ESRCH) ||
             now - sb.st_mtime > STALE_AGE_S) &&
            unlink(p) == 0)
            removed++;
        free(p);
    }
    closedir(d);
    return removed;
}

char *clconv__page_name(const char *path, long page, long pages)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    const size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    int digits = 1;
    long last = pages - 1;
    size_t n;
    char *s;
    while (last >= 10) {
        last /= 10;
        digits++;
    }
    n = strlen(path) + (size_t)digits + 24;
    if (!(s = malloc(n))) return NULL;
    snprintf(s, n, "%.*s-%0*ld%s", (int)stem, path, digits, page, path + stem);
    return s;
}
