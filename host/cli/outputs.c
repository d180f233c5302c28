/* outputs.c — where each input's result goes: one file, or names below an
 * output directory (made first, parents too, safe against other processes
 * making them at the same moment). Before any image is read, every clash is
 * a usage error (exit 2): an output (-o, a directory's, --side-by-side) that
 * is an input or another output, by device and inode, not by spelling. Then
 * the writer's temporary files that a killed clconv left in the output
 * directories are removed, and --skip-existing takes only finished outputs.
 * It must not write an output file: only directories are made here, and
 * only stale temporary files of clconv's naming are removed.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* cli_check_outputs passed for this run's inputs (the whole list, before
 * sharding, when inputs.c calls it). */
static int outputs_checked;

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int dir_mode_of(const cli_config *cfg, const cli_inputs *in)
{
    const char *output = cfg->output;
    return in->n > 1 || in->had_dir || cfg->nfrom > 0 || cfg->shard_n > 1 ||
           cfg->nargs > 1 || output[strlen(output) - 1] == '/' || is_dir(output);
}

static char *output_of(const cli_config *cfg, const cli_inputs *in, int dir_mode, int i)
{
    return dir_mode ? cli_output_name(cfg->output, in->v[i].rel, cfg->format)
                    : strdup(cfg->output);
}

/* ---------------------------------------------------------------- clashes */

enum { ROLE_INPUT, ROLE_OUTPUT, ROLE_SIDE };

typedef struct entry {
    clconv__path_key key;
    int role, k;      /* input k, its output, or --side-by-side */
    const char *path; /* as the user spelt it (or as named below -o) */
} entry;

static void set_entry(entry *e, int role, int k, const char *path)
{
    e->role = role;
    e->k = k;
    e->path = path;
}

static int by_key(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = clconv__path_key_cmp(&x->key, &y->key);
    if (c) return c;
    if (x->role != y->role) return x->role - y->role; /* inputs first */
    return x->k - y->k;
}

/* One line for entry e, which names the same file as `first`. */
static void report_clash(const entry *e, const entry *first, const cli_inputs *in)
{
    const char *who = e->role == ROLE_OUTPUT ? in->v[e->k].path : "--side-by-side";
    const char *its = e->role == ROLE_OUTPUT ? ": its output" : "";
    if (first->role == ROLE_INPUT)
        cli_err("%s%s %s is the input %s (the same file); nothing done", who, its,
                e->path, first->path);
    else
        cli_err("%s%s %s is also the output of %s; nothing done", who, its, e->path,
                in->v[first->k].path);
}

/* Sorts the entries by key; in each run of one file, every output after the
 * run's first entry (an input when there is one) is a clash. */
static int find_clashes(entry *v, int n, const cli_inputs *in)
{
    int i, j, clashes = 0;
    qsort(v, (size_t)n, sizeof *v, by_key);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && clconv__path_key_cmp(&v[i].key, &v[j].key) == 0; j++)
            if (v[j].role != ROLE_INPUT) {
                report_clash(&v[j], &v[i], in);
                clashes++;
            }
    }
    return clashes;
}

/* How many page files input i's output stands for: a multi-page TIFF's
 * pages when the output's format holds one image (NAME-PAGE.ext), else 1
 * (one file, a stack file included). Read from the header in place. */
static long page_files(const cli_config *cfg, const char *input, const char *output)
{
    const long long cap = cfg->job.max_pages;
    long n;
    if (clconv__format_holds_pages(clconv__format_by_name(output, 1))) return 1;
    n = clconv__path_pages(input, cap);
    return n > 1 && (cap <= 0 || n <= cap) ? n : 1;
}

/* The entries: grown as page files are added; names made here kept in
 * `made` to be freed. */
typedef struct entries {
    entry *v;
    int n, cap;
    char **made;
    int nmade, capmade;
} entries;

static entry *add_entry(entries *e, int role, int k, const char *path)
{
    if (e->n == e->cap) {
        const int c = e->cap ? e->cap * 2 : 64;
        entry *v = realloc(e->v, (size_t)c * sizeof *v);
        if (!v) return NULL;
        e->v = v;
        e->cap = c;
    }
    memset(&e->v[e->n], 0, sizeof e->v[e->n]);
    if (clconv__path_key_of(path, &e->v[e->n].key) != 0) return NULL;
    set_entry(&e->v[e->n], role, k, path);
    return &e->v[e->n++];
}

static char *keep_name(entries *e, char *name)
{
    if (!name) return NULL;
    if (e->nmade == e->capmade) {
        const int c = e->capmade ? e->capmade * 2 : 16;
        char **m = realloc(e->made, (size_t)c * sizeof *m);
        if (!m) {
            free(name);
            return NULL;
        }
        e->made = m;
        e->capmade = c;
    }
    return e->made[e->nmade++] = name;
}

/* Input i's output, or its page files (NAME-PAGE.ext) for a stack. */
static int add_outputs(entries *e, const cli_config *cfg, const cli_inputs *in, int i)
{
    char *out = keep_name(e, output_of(cfg, in, dir_mode_of(cfg, in), i));
    long pages, k;
    if (!out) return -1;
    pages = page_files(cfg, in->v[i].path, out);
    if (pages <= 1) return add_entry(e, ROLE_OUTPUT, i, out) ? 0 : -1;
    for (k = 0; k < pages; k++) {
        const char *name = keep_name(e, clconv__page_name(out, k, pages));
        if (!name || !add_entry(e, ROLE_OUTPUT, i, name)) return -1;
    }
    return 0;
}

int cli_check_outputs(const cli_config *cfg, const cli_inputs *in)
{
    const char *sbs = cfg->job.side_by_side;
    entries e;
    int i, rc = EXIT_DONE;
    memset(&e, 0, sizeof e);
    for (i = 0; i < in->n && rc == EXIT_DONE; i++)
        if (!add_entry(&e, ROLE_INPUT, i, in->v[i].path) || add_outputs(&e, cfg, in, i) != 0)
            rc = EXIT_SOME_FAILED;
    if (rc == EXIT_DONE && sbs && !add_entry(&e, ROLE_SIDE, 0, sbs)) rc = EXIT_SOME_FAILED;
    if (rc == EXIT_SOME_FAILED) fprintf(stderr, "clconv: out of memory\n");
    else if (find_clashes(e.v, e.n, in) > 0) rc = EXIT_USAGE;
    else outputs_checked = 1;
    for (i = 0; i < e.n; i++) clconv__path_key_free(&e.v[i].key);
    for (i = 0; i < e.nmade; i++) free(e.made[i]);
    free(e.v);
    free(e.made);
    return rc;
}

/* ---------------------------------------------------------------- the plan */

/* Reports that input k gets no output, and counts it as failed; the JSON
 * report lists it too, once it has begun. */
static void drop_output(const cli_inputs *in, char **outs, int k, const char *why,
                        run_state *s)
{
    size_t n = strlen(in->v[k].path) + strlen(outs[k]) + strlen(why) + 32;
    char *msg = malloc(n);
    if (msg) snprintf(msg, n, "%s: its output %s %s; skipped", in->v[k].path,
                      outs[k], why);
    cli_err("%s", msg ? msg : in->v[k].path);
    if (s->dropped) s->dropped[k] = msg;
    else free(msg);
    free(outs[k]);
    outs[k] = NULL;
    s->failed++;
}

/* Names every output; directories made up front (mkdir -p), so workers
 * only write. Exit status, 0 when done. */
static int name_outputs(const cli_config *cfg, const cli_inputs *in, int dir_mode,
                        char **outs)
{
    char err[CLCONV_ERR_MAX];
    int i;
    if (dir_mode && clconv__make_dirs(cfg->output, 0, err) != CLCONV_OK) {
        cli_err("%s (for the output directory %s)", err, cfg->output);
        return EXIT_SOME_FAILED;
    }
    for (i = 0; i < in->n; i++) {
        if (!(outs[i] = output_of(cfg, in, dir_mode, i))) {
            fprintf(stderr, "clconv: out of memory\n");
            return EXIT_SOME_FAILED;
        }
        if (dir_mode && strchr(in->v[i].rel, '/') &&
            clconv__make_dirs(outs[i], 1, err) != CLCONV_OK) {
            cli_err("%s", err);
            return EXIT_SOME_FAILED;
        }
    }
    return EXIT_DONE;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the temporary files a killed clconv left in the directories the
 * run writes to (each directory once). */
static void clean_output_dirs(char **outs, int n, const char *side)
{
    char **dirs = calloc((size_t)n + 1, sizeof *dirs);
    int i, m = 0;
    if (!dirs) return;
    for (i = 0; i <= n; i++) {
        const char *p = i < n ? outs[i] : side, *slash;
        if (!p) continue;
        slash = strrchr(p, '/');
        dirs[m] = slash ? strndup(p, slash == p ? 1 : (size_t)(slash - p)) : strdup(".");
        if (dirs[m]) m++;
    }
    qsort(dirs, (size_t)m, sizeof *dirs, by_str);
    for (i = 0; i < m; i++)
        if (i == 0 || strcmp(dirs[i], dirs[i - 1]) != 0) clconv__clean_temps(dirs[i]);
    for (i = 0; i < m; i++) free(dirs[i]);
    free(dirs);
}

/* --skip-existing takes an output for finished only when it is a regular,
 * non-empty file that starts as its format's files start (TGA, which has
 * no magic: at least its 18-byte header). A 0-byte file, a wrong format, a
 * truncated stub are redone. */
static int finished(const char *path, const struct stat *sb)
{
    const clconv__format *f = clconv__format_by_name(path, 1);
    unsigned char head[16];
    ssize_t got;
    int fd;
    if (!f || !S_ISREG(sb->st_mode) || sb->st_size == 0) return 0;
    if (f->magic_len == 0) return sb->st_size >= 18;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    got = read(fd, head, f->magic_len < sizeof head ? f->magic_len : sizeof head);
    close(fd);
    return got == (ssize_t)f->magic_len && memcmp(head, f->magic, f->magic_len) == 0;
}

/* --skip-existing for a stack written as page files: finished only when
 * every page's file is (a run stopped part way leaves the first pages, and
 * the whole stack is redone). */
static int pages_finished(const cli_config *cfg, const char *input, const char *output)
{
    const long pages = page_files(cfg, input, output);
    long k;
    int all = 1;
    for (k = 0; k < pages && all; k++) {
        char *name = pages > 1 ? clconv__page_name(output, k, pages) : strdup(output);
        struct stat sb;
        all = name && stat(name, &sb) == 0 && finished(name, &sb);
        free(name);
    }
    return all;
}

/* --resize's target, held to --max-pixels before any image is read. */
static int resize_too_large(const cli_config *cfg)
{
    const long long w = cfg->job.resize_w, h = cfg->job.resize_h;
    if (cfg->job.max_pixels <= 0 || w <= 0 || h <= 0 || w * h <= cfg->job.max_pixels)
        return 0;
    fprintf(stderr, "clconv: --resize %lldx%lld is %lld pixels, over the limit of %lld "
            "(--max-pixels)\n", w, h, w * h, cfg->job.max_pixels);
    return 1;
}

int cli_plan_outputs(const cli_config *cfg, cli_inputs *in, run_state *s,
                     cli_plan *p)
{
    const char *output = cfg->output;
    const int dir_mode = dir_mode_of(cfg, in);
    int i, m = 0, rc;
    memset(p, 0, sizeof *p);
    if (cfg->job.side_by_side && (dir_mode || in->n != 1)) {
        cli_err("--side-by-side takes one input and one output file");
        return EXIT_USAGE;
    }
    if (!dir_mode && !clconv_format_supported(output)) {
        char exts[128];
        clconv__format_names(exts, sizeof exts, 1, ".", ", ", " or ");
        cli_err("%s: unknown output format (use %s, or a directory ending in '/')",
                output, exts);
        return EXIT_USAGE;
    }
    if ((rc = cli_check_depth(cfg, dir_mode ? NULL : output)) >= 0) return rc;
    if (resize_too_large(cfg)) return EXIT_USAGE;
    if (in->n == 0) {
        if (!s->quiet) fprintf(stderr, "clconv: no images to do\n");
        return EXIT_DONE;
    }
    /* No output may replace an input or another output. */
    if (!outputs_checked && (rc = cli_check_outputs(cfg, in)) != EXIT_DONE) return rc;
    p->outs = calloc((size_t)in->n, sizeof *p->outs);
    p->ins = calloc((size_t)in->n, sizeof *p->ins);
    p->todo = calloc((size_t)in->n, sizeof *p->todo);
    s->dropped = calloc((size_t)in->n, sizeof *s->dropped);
    if (!p->outs || !p->ins || !p->todo || !s->dropped) {
        fprintf(stderr, "clconv: out of memory\n");
        return EXIT_SOME_FAILED;
    }
    rc = name_outputs(cfg, in, dir_mode, p->outs);
    if (rc != EXIT_DONE) return rc;
    clean_output_dirs(p->outs, in->n, cfg->job.side_by_side);
    for (i = 0; i < in->n; i++) {
        struct stat sb;
        const int there = stat(p->outs[i], &sb) == 0;
        if (there && S_ISDIR(sb.st_mode)) {
            drop_output(in, p->outs, i, "is a directory", s);
            continue;
        }
        if (cfg->skip_existing && pages_finished(cfg, in->v[i].path, p->outs[i])) {
            s->skipped++;
            continue;
        }
        p->ins[m] = in->v[i].path;
        p->todo[m++] = p->outs[i];
    }
    p->n = m;
    return -1;
}

void cli_plan_free(cli_plan *p, int ninputs)
{
    int i;
    if (p->outs)
        for (i = 0; i < ninputs; i++) free(p->outs[i]);
    free(p->outs);
    free(p->ins);
    free(p->todo);
    memset(p, 0, sizeof *p);
}
