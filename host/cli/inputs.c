/* inputs.c — the command line's input list: files, directories (walked
 * with -r), list files and stdin; sorted, de-duplicated and split into shards
 * so that N machines can each take a disjoint part of one job.
 * It must not open or decode an image: a missing or bad file fails later, on
 * its own.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int add(cli_inputs *in, const char *path, const char *rel)
{
    cli_input *e;
    if (in->n == in->cap) {
        int ncap = in->cap ? in->cap * 2 : 64;
        cli_input *g = realloc(in->v, (size_t)ncap * sizeof *g);
        if (!g) return -1;
        in->v = g;
        in->cap = ncap;
    }
    e = &in->v[in->n];
    e->path = strdup(path);
    e->rel = strdup(rel);
    if (!e->path || !e->rel) {
        free(e->path);
        free(e->rel);
        return -1;
    }
    in->n++;
    return 0;
}

int cli_is_image_name(const char *name)
{
    if (name[0] == '.') return 0; /* hidden files, our temp files */
    return clconv__format_by_name(name, 0) != NULL;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Adds the images of a directory; `rel` is the path below the directory
 * given on the command line ("" at the top). */
static int walk(cli_inputs *in, const char *dir, const char *rel, int recursive,
                int depth, char *err)
{
    DIR *d;
    struct dirent *de;
    int rc = 0;
    if (depth > 64) {
        snprintf(err, CLI_ERR_MAX, "%s: directories nested too deep", dir);
        return -1;
    }
    d = opendir(dir);
    if (!d) {
        snprintf(err, CLI_ERR_MAX, "%s: cannot read the directory: %s", dir,
                 strerror(errno));
        return -1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct stat sb;
        size_t pl = strlen(dir) + strlen(de->d_name) + 2;
        size_t rl = strlen(rel) + strlen(de->d_name) + 2;
        char *path, *r;
        if (de->d_name[0] == '.') continue;
        path = malloc(pl);
        r = malloc(rl);
        if (!path || !r) {
            free(path);
            free(r);
            snprintf(err, CLI_ERR_MAX, "out of memory listing %s", dir);
            rc = -1;
            break;
        }
        snprintf(path, pl, "%s/%s", dir, de->d_name);
        snprintf(r, rl, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        if (stat(path, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                if (recursive) rc = walk(in, path, r, recursive, depth + 1, err);
            } else if (S_ISREG(sb.st_mode) && cli_is_image_name(de->d_name)) {
                if (add(in, path, r) != 0) {
                    snprintf(err, CLI_ERR_MAX, "out of memory listing %s", dir);
                    rc = -1;
                }
            }
        }
        free(path);
        free(r);
    }
    closedir(d);
    return rc;
}

int cli_inputs_add_list(cli_inputs *in, const char *list, char *err)
{
    FILE *fp = strcmp(list, "-") == 0 ? stdin : fopen(list, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    if (!fp) {
        snprintf(err, CLI_ERR_MAX, "%s: cannot open the list: %s", list,
                 strerror(errno));
        return -1;
    }
    while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#') continue;
        if (add(in, line, base_name(line)) != 0) {
            snprintf(err, CLI_ERR_MAX, "out of memory reading %s", list);
            rc = -1;
        }
    }
    free(line);
    if (fp != stdin) fclose(fp);
    return rc;
}

int cli_inputs_add_arg(cli_inputs *in, const char *arg, int recursive,
                       char *err)
{
    struct stat sb;
    if (strcmp(arg, "-") == 0) return cli_inputs_add_list(in, "-", err);
    if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        in->had_dir = 1;
        return walk(in, arg, "", recursive, 0, err);
    }
    /* A missing or odd file is kept: it fails on its own, with its name. */
    if (add(in, arg, base_name(arg)) != 0) {
        snprintf(err, CLI_ERR_MAX, "out of memory");
        return -1;
    }
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const cli_input *)a)->path, ((const cli_input *)b)->path);
}

void cli_inputs_sort(cli_inputs *in)
{
    int i, j = 0;
    if (in->n > 1) qsort(in->v, (size_t)in->n, sizeof *in->v, by_path);
    for (i = 0; i < in->n; i++) {
        if (j > 0 && strcmp(in->v[j - 1].path, in->v[i].path) == 0) {
            free(in->v[i].path);
            free(in->v[i].rel);
            continue;
        }
        in->v[j++] = in->v[i];
    }
    in->n = j;
}

void cli_inputs_shard(cli_inputs *in, int index, int count)
{
    int i, j = 0;
    if (count <= 1) return;
    /* Round-robin over the sorted list: disjoint, complete, and balanced even
     * when one directory holds the big files. */
    for (i = 0; i < in->n; i++) {
        if (i % count == index) {
            in->v[j++] = in->v[i];
        } else {
            free(in->v[i].path);
            free(in->v[i].rel);
        }
    }
    in->n = j;
}

void cli_inputs_free(cli_inputs *in)
{
    int i;
    for (i = 0; i < in->n; i++) {
        free(in->v[i].path);
        free(in->v[i].rel);
    }
    free(in->v);
    memset(in, 0, sizeof *in);
}

static int parse_nonneg(const char *s, long *v)
{
    char *e;
    errno = 0;
    *v = strtol(s, &e, 10);
    return *s && !*e && !errno && *v >= 0 && *v < (1L << 30);
}

int cli_shard_parse(const char *s, int *index, int *count, char *err)
{
    long i, n;
    char buf[64];
    const char *slash;
    if (strcmp(s, "auto") == 0) {
        const char *id = getenv("SLURM_ARRAY_TASK_ID");
        const char *cnt = getenv("SLURM_ARRAY_TASK_COUNT");
        const char *mn = getenv("SLURM_ARRAY_TASK_MIN");
        long m = 0;
        if (id && cnt) {
            if (!parse_nonneg(id, &i) || !parse_nonneg(cnt, &n) ||
                (mn && !parse_nonneg(mn, &m)) || n < 1 || i - m < 0 || i - m >= n) {
                snprintf(err, CLI_ERR_MAX, "--shard auto: SLURM_ARRAY_TASK_ID=%s, "
                         "SLURM_ARRAY_TASK_COUNT=%s do not make a shard", id, cnt);
                return -1;
            }
            *index = (int)(i - m);
            *count = (int)n;
            return 0;
        }
        id = getenv("JOB_COMPLETION_INDEX");
        cnt = getenv("CLCONV_SHARD_COUNT");
        if (id && cnt && parse_nonneg(id, &i) && parse_nonneg(cnt, &n) && n >= 1 &&
            i < n) {
            *index = (int)i;
            *count = (int)n;
            return 0;
        }
        snprintf(err, CLI_ERR_MAX, "--shard auto: set by Slurm job arrays "
                 "(SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) or Kubernetes "
                 "indexed jobs (JOB_COMPLETION_INDEX with CLCONV_SHARD_COUNT); "
                 "none found");
        return -1;
    }
    slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof buf) goto bad;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    if (!parse_nonneg(buf, &i) || !parse_nonneg(slash + 1, &n) || n < 1 || i >= n)
        goto bad;
    *index = (int)i;
    *count = (int)n;
    return 0;
bad:
    snprintf(err, CLI_ERR_MAX, "--shard: '%s' is not I/N with 0 <= I < N, or auto", s);
    return -1;
}

char *cli_output_name(const char *dir, const char *rel, const char *ext)
{
    const char *base = base_name(rel);
    const char *dot = strrchr(base, '.');
    size_t keep = dot && dot != base ? (size_t)(dot - rel) : strlen(rel);
    size_t dlen = strlen(dir), n;
    char *out;
    while (dlen > 1 && dir[dlen - 1] == '/') dlen--;
    n = dlen + 1 + keep + 1 + strlen(ext) + 1;
    out = malloc(n);
    if (out) snprintf(out, n, "%.*s/%.*s.%s", (int)dlen, dir, (int)keep, rel, ext);
    return out;
}

int cli_make_parents(const char *path, char *err)
{
    char *p = strdup(path), *s;
    int rc = 0;
    if (!p) return -1;
    for (s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            snprintf(err, CLI_ERR_MAX, "%s: cannot create the directory: %s", p,
                     strerror(errno));
            rc = -1;
            break;
        }
        *s = '/';
    }
    free(p);
    return rc;
}

int cli_collect_inputs(const cli_config *cfg, cli_inputs *in)
{
    char err[CLI_ERR_MAX];
    int i;
    for (i = 0; i < cfg->nargs; i++)
        if (cli_inputs_add_arg(in, cfg->args[i], cfg->recursive, err) != 0) {
            fprintf(stderr, "clconv: %s\n", err);
            return EXIT_SOME_FAILED;
        }
    for (i = 0; i < cfg->nfrom; i++)
        if (cli_inputs_add_list(in, cfg->from[i], err) != 0) {
            fprintf(stderr, "clconv: %s\n", err);
            return EXIT_SOME_FAILED;
        }
    /* Sorted, so shards are the same on every machine. */
    cli_inputs_sort(in);
    /* Outputs checked against the whole list, so that shards cannot clash. */
    if (cfg->shard_n > 1 && (i = cli_check_outputs(cfg, in)) != EXIT_DONE) return i;
    cli_inputs_shard(in, cfg->shard_i, cfg->shard_n);
    return EXIT_DONE;
}
