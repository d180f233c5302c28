/* outputs.c — where each input's result goes: one file, or names below an
 * output directory (made first, with the parents of relative paths), with
 * every clash refused before any image is read: two inputs writing one
 * output, an output that is an input (by device and inode), and outputs
 * left alone under --skip-existing.
 * It must not write an output file: only directories are made here.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "io/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

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

typedef struct file_id {
    dev_t dev;
    ino_t ino;
} file_id;

static int by_id(const void *a, const void *b)
{
    const file_id *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int refuse_inputs_as_outputs(const cli_inputs *in, char **outs, int n,
                                    run_state *s)
{
    file_id *ids = malloc((size_t)n * sizeof *ids), key;
    struct stat sb;
    int i, m = 0;
    if (!ids) return -1;
    for (i = 0; i < n; i++)
        if (stat(in->v[i].path, &sb) == 0) {
            ids[m].dev = sb.st_dev;
            ids[m++].ino = sb.st_ino;
        }
    qsort(ids, (size_t)m, sizeof *ids, by_id);
    for (i = 0; i < n; i++) {
        if (!outs[i] || stat(outs[i], &sb) != 0) continue;
        key.dev = sb.st_dev;
        key.ino = sb.st_ino;
        if (bsearch(&key, ids, (size_t)m, sizeof *ids, by_id))
            drop_output(in, outs, i, "is an input", s);
    }
    free(ids);
    return 0;
}

/* Names every output; directories made up front, so workers only write.
 * Exit status, 0 when done. */
static int name_outputs(const cli_config *cfg, const cli_inputs *in, int dir_mode,
                        char **outs)
{
    char err[CLI_ERR_MAX];
    int i;
    if (dir_mode && !is_dir(cfg->output) && mkdir(cfg->output, 0777) != 0) {
        fprintf(stderr, "clconv: %s: cannot create the output directory: %s\n",
                cfg->output, strerror(errno));
        return EXIT_SOME_FAILED;
    }
    for (i = 0; i < in->n; i++) {
        outs[i] = dir_mode ? cli_output_name(cfg->output, in->v[i].rel, cfg->format)
                           : strdup(cfg->output);
        if (!outs[i]) {
            fprintf(stderr, "clconv: out of memory\n");
            return EXIT_SOME_FAILED;
        }
        if (dir_mode && strchr(in->v[i].rel, '/') && cli_make_parents(outs[i], err) != 0) {
            fprintf(stderr, "clconv: %s\n", err);
            return EXIT_SOME_FAILED;
        }
    }
    return EXIT_DONE;
}

/* Two inputs must not write one output (a.png and a.jpg into out/). */
static int drop_shared_outputs(const cli_inputs *in, char **outs, run_state *s)
{
    char ***order = calloc((size_t)in->n, sizeof *order);
    int i, c;
    if (!order) return -1;
    for (i = 0; i < in->n; i++) order[i] = &outs[i];
    qsort(order, (size_t)in->n, sizeof *order, by_str);
    for (i = 1, c = 0; i < in->n; i++) {
        if (strcmp(*order[c], *order[i]) != 0) {
            c = i;
            continue;
        }
        drop_output(in, outs, (int)(order[i] - outs), "is also another input's output", s);
    }
    free(order);
    return 0;
}

int cli_plan_outputs(const cli_config *cfg, cli_inputs *in, run_state *s,
                     cli_plan *p)
{
    const char *output = cfg->output;
    const int dir_mode = in->n > 1 || in->had_dir || cfg->nfrom > 0 || cfg->shard_n > 1 ||
                         cfg->nargs > 1 || output[strlen(output) - 1] == '/' ||
                         is_dir(output);
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
    if (in->n == 0) {
        if (!s->quiet) fprintf(stderr, "clconv: no images to do\n");
        return EXIT_DONE;
    }
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
    /* No output may replace an input, not even another one of the batch. */
    if (drop_shared_outputs(in, p->outs, s) != 0 ||
        refuse_inputs_as_outputs(in, p->outs, in->n, s) != 0) {
        fprintf(stderr, "clconv: out of memory\n");
        return EXIT_SOME_FAILED;
    }
    for (i = 0; i < in->n; i++) {
        if (!p->outs[i]) continue;
        if (cfg->skip_existing && exists(p->outs[i])) {
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
