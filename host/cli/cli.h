/* cli.h — the command line's own pieces, not part of the library: the
 * configuration the options fill (options.c), the input list (inputs.c),
 * output naming and checks (outputs.c), devices (devices.c) and reports
 * (report.c). main.c strings them together. The CLI uses the public API
 * and, for its tables, io/ and cl/plan.h (docs/layers.md).
 * Nothing here is part of the library; the library never includes it.
 */
#ifndef CLCONV_CLI_H
#define CLCONV_CLI_H

#include "clconv.h"

#include <stdio.h>

#define CLI_ERR_MAX 4096

enum { EXIT_DONE = 0, EXIT_SOME_FAILED = 1, EXIT_USAGE = 2, EXIT_MISMATCH = 3,
       EXIT_INTERRUPTED = 130 };

/* ---------------------------------------------------------------- options */

/* What the command line asked for (options.c fills it). */
typedef struct cli_config {
    clconv_job job;
    const char *filter_spec, *output, *format, *device, *shard, *kernel;
    const char **from;          /* --inputs-from lists */
    int nfrom;
    char **args;                /* the inputs named on the command line */
    int nargs;
    int flip, jobs, recursive, skip_existing, quiet, json, self_test;
    int tune;                   /* --tune */
    double budget;              /* --budget seconds (60) */
    int null_lists;             /* -0: input lists are NUL-separated */
    int dev_kind;               /* DEV_AUTO, ... */
    int dev_p, dev_d;           /* opencl:P:D, -1: not given */
    int shard_i, shard_n;
} cli_config;

enum { DEV_AUTO, DEV_CPU, DEV_OPENCL, DEV_ALL };

/* Parses argv into cfg (allocated parts freed by cli_config_free).
 * Returns -1 to go on, or the exit status (--help, --version, the lists,
 * usage errors, which it reports). */
int cli_parse(int argc, char **argv, cli_config *cfg);
void cli_config_free(cli_config *cfg);
/* --depth against the output format (output_file's, or --format's when
 * NULL: a directory output): -1 when it holds it, else the usage error's
 * exit status, reported. */
int cli_check_depth(const cli_config *cfg, const char *output_file);
/* The filter cfg names, flipped for --flip; exit status, 0 when made. */
int cli_make_filter(const cli_config *cfg, clconv_filter **out);

/* ---------------------------------------------------------------- inputs */

typedef struct cli_input {
    char *path; /* as it will be opened */
    char *rel;  /* the name it keeps below an output directory */
} cli_input;

typedef struct cli_inputs {
    cli_input *v;
    int n, cap;
    int had_dir; /* a directory was given: outputs go to a directory */
    /* Entries a walk could not take (a symlink loop, an unreadable
     * directory): reported at once, each counts as one failed input. */
    char **bad_path, **bad_msg;
    int nbad, bad_cap;
    /* The output directory (when it exists): never walked into. */
    int skip_set;
    unsigned long long skip_dev, skip_ino;
} cli_inputs;

/* A file (kept even when missing: it fails on its own), a directory (its
 * images; with `recursive`, those below too, their relative paths kept,
 * the output directory and symlink loops left out) or "-" (paths on stdin).
 * Returns 0, or -1 with err set (out of memory, an unreadable list). */
int cli_inputs_add_arg(cli_inputs *in, const char *arg, int recursive, int nul,
                       char *err);
/* Paths from a list file ("-": stdin): one a line, '#' and blank lines
 * skipped; or, with `nul`, NUL-separated and taken as they are. */
int cli_inputs_add_list(cli_inputs *in, const char *list, int nul, char *err);
/* Sorts by path and drops repeated paths. */
void cli_inputs_sort(cli_inputs *in);
/* Keeps the inputs whose sorted position k has k % count == index. */
void cli_inputs_shard(cli_inputs *in, int index, int count);
void cli_inputs_free(cli_inputs *in);
/* Nonzero for the extensions clconv reads when it walks a directory. */
int cli_is_image_name(const char *name);
/* Every input cfg names, sorted and sharded. Exit status, 0 when done. */
int cli_collect_inputs(const cli_config *cfg, cli_inputs *in);

/* "I/N" or "auto" (Slurm job arrays; Kubernetes indexed jobs with
 * CLCONV_SHARD_COUNT). Returns 0, or -1 with err set. */
int cli_shard_parse(const char *s, int *index, int *count, char *err);

/* ---------------------------------------------------------------- reports */

/* What the run reports: counts, the progress line, the JSON stream. */
typedef struct run_state {
    int quiet, json, progress;
    int total, done, failed, mismatched, skipped;
    int failed0;     /* failed before the run (walks, dropped outputs) */
    int report_lost; /* stdout failed: the JSON report stopped (exit 1) */
    int json_n;     /* image records written so far */
    char **dropped; /* per input: why it gets no output, or NULL */
    long long nans;      /* NaN pixels written as 0 (8-bit outputs) */
    long long nans_kept; /* NaN pixels kept in float outputs (.npy) */
    long long clipped;   /* pixels the mapping clamped, all images */
    double t0, last_progress;
    const char *device_name;
    int verify;                     /* the job's mode, for the JSON report */
    unsigned long long verify_seed;
} run_state;

/* Prints "clconv: <message>" on stderr as one line: control bytes, DEL,
 * backslashes and bytes that are not UTF-8 come out as \n, \t, \\, \xNN,
 * so no file name can forge or colour a line. The library keeps its
 * messages raw; every CLI message goes through here. */
void cli_err(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The last message cli_err printed, unescaped ("" when none). */
const char *cli_last_err(void);
/* Writes s to fp escaped as cli_err does. */
void cli_escape(FILE *fp, const char *s);

/* Writes s as a JSON string to stdout, escaped. */
void cli_json_str(const char *s);
/* Called for every finished image (clconv_report_fn). */
void cli_on_report(const clconv_report *r, void *user);
/* The library's warnings (clconv_set_log): one line on stderr, even under
 * --quiet, since they name something unsafe the user must fix. */
void cli_on_log(const char *line, void *user);
/* The JSON report's head (and the inputs dropped before the run), and its
 * tail; the progress line's last state; the summary and the exit status. */
void cli_report_begin(run_state *s, const clconv_filter *f, const cli_inputs *in);
int cli_report_end(run_state *s, int n, int interrupted);
/* After a usage error (exit 2), when --json is on the command line (before
 * "--"): {"error": the last cli_err message, "exit": 2} on stdout. */
void cli_report_usage_json(int argc, char **argv);

/* ---------------------------------------------------------------- outputs */

/* The run's plan: outputs named, directories made, outputs in a
 * directory's place dropped (reported in s), finished outputs skipped under
 * --skip-existing; ins/outs hold the n images left to do. */
typedef struct cli_plan {
    char **outs;      /* per input of `in`, NULL when dropped or skipped */
    const char **ins; /* the n images to do, and their outputs: */
    const char **todo;
    int n;
} cli_plan;

/* Refuses, one line each, every output that would replace an input or
 * another output (-o, the names below an output directory, --side-by-side),
 * compared by device and inode. Called on the whole input list before it is
 * sharded, so that shards cannot clash either. Exit status: 0, or 2. */
int cli_check_outputs(const cli_config *cfg, const cli_inputs *in);
/* -1 when the plan is made and the run goes on, else the exit status
 * (nothing to do is 0). Checks the outputs (cli_check_outputs) unless that
 * was done already, makes the output directories (mkdir -p), removes the
 * temporary files a killed clconv left there, and refuses a directory in an
 * output's place (that image fails). */
int cli_plan_outputs(const cli_config *cfg, cli_inputs *in, run_state *s,
                     cli_plan *p);
void cli_plan_free(cli_plan *p, int ninputs);

/* dir/<rel without its extension>.<ext>, malloc'd. */
char *cli_output_name(const char *dir, const char *rel, const char *ext);

/* ---------------------------------------------------------------- devices */

/* Opens what --device asks for, starts the report (cli_report_begin) and
 * runs the batch (under auto, the device opens while the first images
 * decode); SIGINT and SIGTERM set cli_stop_signal, after which no new
 * image starts. Exit status, 0 when the batch ran. */
int cli_run(const cli_config *cfg, clconv_job *job, const cli_plan *p,
            run_state *s, const clconv_filter *f, const cli_inputs *in);
extern volatile int cli_stop_signal;
/* --self-test: every kernel path of the device(s) --device names against
 * the reference, a line per path (or JSON); exit 0, or 3 when any failed. */
int cli_self_test(const cli_config *cfg);
/* --tune: tunes the devices --device names (auto: the one auto takes),
 * each within --budget; exit 0, or 1 when a device could not be tuned. */
int cli_tune(const cli_config *cfg);
/* CLCONV_DEBUG_FDS: the descriptors open at exit, on stderr. */
void cli_report_fds(void);
/* --list-devices and --list-filters. */
int cli_list_devices(void);
int cli_list_filters(void);

#endif
