/* inputs.c — the command line's input list: files, directories (walked
 * with -r: the output directory and symlink loops left out, an unreadable
 * entry reported and passed), list files (lines, or NUL-separated with -0)
 * and stdin; sorted, de-duplicated and split into shards so that N machines
 * can each take a disjoint part of one job.
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

/* Records an entry a walk could not take, and reports it at once: it costs
 * that entry, not the batch. -1 only when out of memory. */
static int bad_entry(cli_inputs *in, const char *path, const char *why)
{
    if (in->nbad == in->bad_cap) {
        int ncap = in->bad_cap ? in->bad_cap * 2 : 8;
        char **p = realloc(in->bad_path, (size_t)ncap * sizeof *p);
        char **m = p ? realloc(in->bad_msg, (size_t)ncap * sizeof *m) : NULL;
        if (p) in->bad_path = p;
        if (!p || !m) return -1;
        in->bad_msg = m;
        in->bad_cap = ncap;
    }
    in->bad_path[in->nbad] = strdup(path);
    in->bad_msg[in->nbad] = malloc(strlen(path) + strlen(why) + 3);
    if (!in->bad_path[in->nbad] || !in->bad_msg[in->nbad]) {
        free(in->bad_path[in->nbad]);
        free(in->bad_msg[in->nbad]);
        return -1;
    }
    sprintf(in->bad_msg[in->nbad], "%s: %s", path, why);
    cli_err("%s", in->bad_msg[in->nbad]);
    in->nbad++;
    return 0;
}

/* The directories above the one being walked, to see a symlink loop. */
typedef struct dir_chain {
    const struct dir_chain *up;
    dev_t dev;
    ino_t ino;
    const char *path;
} dir_chain;

static int walk(cli_inputs *in, const char *dir, const char *rel, int recursive,
                const dir_chain *up, int depth, char *err);

/* One entry of a directory being walked: an image to add, a directory to
 * walk, or something to report and leave. */
static int walk_entry(cli_inputs *in, const char *path, const char *name,
                      const char *rel, int recursive, const dir_chain *up,
                      int depth, char *err)
{
    struct stat sb;
    const dir_chain *a;
    char why[CLI_ERR_MAX];
    if (stat(path, &sb) != 0) {
        int e = errno;
        /* A dangling link that names no image is none of ours. */
        if (e != ELOOP && !cli_is_image_name(name)) return 0;
        snprintf(why, sizeof why, "skipped: %s", e == ELOOP
                 ? "a symbolic link loop" : strerror(e));
        return bad_entry(in, path, why);
    }
    if (S_ISREG(sb.st_mode)) {
        if (cli_is_image_name(name) && add(in, path, rel) != 0) return -1;
        return 0;
    }
    if (!S_ISDIR(sb.st_mode) || !recursive) return 0;
    /* The output tree is never an input (a rerun must not filter it). */
    if (in->skip_set && (unsigned long long)sb.st_dev == in->skip_dev &&
        (unsigned long long)sb.st_ino == in->skip_ino)
        return 0;
    for (a = up; a; a = a->up)
        if (a->dev == sb.st_dev && a->ino == sb.st_ino) {
            snprintf(why, sizeof why, "skipped: a symbolic link loop (back to %s)",
                     a->path);
            return bad_entry(in, path, why);
        }
    return walk(in, path, rel, recursive, up, depth + 1, err);
}

/* Adds the images of a directory; `rel` is the path below the directory
 * given on the command line ("" at the top). -1 only when out of memory:
 * an unreadable directory is reported and left. */
static int walk(cli_inputs *in, const char *dir, const char *rel, int recursive,
                const dir_chain *up, int depth, char *err)
{
    DIR *d;
    struct dirent *de;
    struct stat sb;
    dir_chain here;
    int rc = 0;
    if (depth > 64) return bad_entry(in, dir, "skipped: directories nested too deep");
    d = opendir(dir);
    if (!d || fstat(dirfd(d), &sb) != 0) {
        char why[CLI_ERR_MAX];
        snprintf(why, sizeof why, "cannot read the directory: %s", strerror(errno));
        if (d) closedir(d);
        return bad_entry(in, dir, why);
    }
    here.up = up;
    here.dev = sb.st_dev;
    here.ino = sb.st_ino;
    here.path = dir;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t pl = strlen(dir) + strlen(de->d_name) + 2;
        size_t rl = strlen(rel) + strlen(de->d_name) + 2;
        char *path, *r;
        if (de->d_name[0] == '.') continue;
        path = malloc(pl);
        r = malloc(rl);
        if (path && r) {
            snprintf(path, pl, "%s/%s", dir, de->d_name);
            snprintf(r, rl, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
            rc = walk_entry(in, path, de->d_name, r, recursive, &here, depth, err);
        } else {
            rc = -1;
        }
        free(path);
        free(r);
    }
    closedir(d);
    if (rc != 0) snprintf(err, CLI_ERR_MAX, "out of memory listing %s", dir);
    return rc;
}

/* Nonzero for a line of blanks only (a list's spacer, not a name). */
static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\v' && *s != '\f') return 0;
    return 1;
}

int cli_inputs_add_list(cli_inputs *in, const char *list, int nul, char *err)
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
    while (rc == 0 && (len = getdelim(&line, &cap, nul ? '\0' : '\n', fp)) >= 0) {
        if (nul) {
            /* Names as they are (spaces, '#', newlines and all), like xargs -0. */
            if (len > 0 && line[len - 1] == '\0') len--;
            if (len == 0) continue;
        } else {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (len == 0 || line[0] == '#' || blank(line)) continue;
        }
        if (add(in, line, base_name(line)) != 0) {
            snprintf(err, CLI_ERR_MAX, "out of memory reading %s", list);
            rc = -1;
        }
    }
    free(line);
    if (fp != stdin) fclose(fp);
    return rc;
}

int cli_inputs_add_arg(cli_inputs *in, const char *arg, int recursive, int nul,
                       char *err)
{
    struct stat sb;
    if (strcmp(arg, "-") == 0) return cli_inputs_add_list(in, "-", nul, err);
    if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        in->had_dir = 1;
        return walk(in, arg, "", recursive, NULL, 0, err);
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
    for (i = 0; i < in->nbad; i++) {
        free(in->bad_path[i]);
        free(in->bad_msg[i]);
    }
    free(in->bad_path);
    free(in->bad_msg);
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
    {
        char sh[CLCONV__SHOWN_MAX];
        snprintf(err, CLI_ERR_MAX, "--shard: '%s' is not I/N with 0 <= I < N, or auto",
                 clconv__shown(sh, s, -1));
    }
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

int cli_collect_inputs(const cli_config *cfg, cli_inputs *in)
{
    char err[CLI_ERR_MAX];
    struct stat sb;
    int i;
    if (cfg->output && stat(cfg->output, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        in->skip_set = 1;
        in->skip_dev = (unsigned long long)sb.st_dev;
        in->skip_ino = (unsigned long long)sb.st_ino;
    }
    for (i = 0; i < cfg->nargs; i++)
        if (cli_inputs_add_arg(in, cfg->args[i], cfg->recursive, cfg->null_lists,
                               err) != 0) {
            cli_err("%s", err);
            return EXIT_SOME_FAILED;
        }
    for (i = 0; i < cfg->nfrom; i++)
        if (cli_inputs_add_list(in, cfg->from[i], cfg->null_lists, err) != 0) {
            cli_err("%s", err);
            return EXIT_SOME_FAILED;
        }
    /* Sorted, so shards are the same on every machine. */
    cli_inputs_sort(in);
    /* Outputs checked against the whole list, so that shards cannot clash. */
    if (cfg->shard_n > 1 && (i = cli_check_outputs(cfg, in)) != EXIT_DONE) return i;
    cli_inputs_shard(in, cfg->shard_i, cfg->shard_n);
    return EXIT_DONE;
}
