/* devices.c — the devices a run computes on: --list-devices, opening what
 * --device asks for (auto: the first GPU, else any device, else the CPU
 * reference; all: every device), opening it beside the first images'
 * decoding under auto, the signals that stop a batch, and the batch run
 * itself; also --list-filters.
 * It must not touch pixels or name outputs.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile int cli_stop_signal;

/* The first SIGINT or SIGTERM stops the batch (no new image; one waiting
 * on a pipe is abandoned; exit 130 after the summary); a second one ends
 * the process at once, leaving at most a temp file, never a partial output. */
static void on_signal(int sig)
{
    if (cli_stop_signal) _exit(EXIT_INTERRUPTED);
    cli_stop_signal = sig;
}

/* One filter's matrix, indented under its name. */
static void print_matrix(const char *spec)
{
    clconv_filter *f = NULL;
    if (clconv_filter_parse(spec, &f, NULL) == CLCONV_OK) {
        int y, x, w = clconv_filter_width(f), h = clconv_filter_height(f);
        const double *t = clconv_filter_taps(f);
        for (y = 0; y < h; y++) {
            printf("%20s", "");
            for (x = 0; x < w; x++) printf(" %8.5g", t[y * w + x]);
            printf("\n");
        }
    }
    clconv_filter_destroy(f);
}

/* Every preset with its matrix; a parametric one ("log:N[:SIGMA]") with its
 * rule and the matrix of its N = 5 example. */
int cli_list_filters(void)
{
    int i;
    for (i = 0; clconv_preset_name(i); i++) {
        const char *name = clconv_preset_name(i), *colon = strchr(name, ':');
        char example[64];
        printf("%-20s %s\n", name, clconv_preset_help(i));
        if (!colon) {
            print_matrix(name);
            continue;
        }
        snprintf(example, sizeof example, "%.*s:5", (int)(colon - name), name);
        printf("%20s e.g. %s:\n", "", example);
        print_matrix(example);
    }
    return EXIT_DONE;
}

int cli_list_devices(void)
{
    clconv_device_info *d = NULL;
    int n = 0, i, entries;
    char err[CLCONV_ERR_MAX] = "", path[4096];
    const char *off = getenv("CLCONV_TUNE_TABLE");
    /* Parsing runs this, before main sets the hook: a refused tuning table
     * is reported here too. */
    clconv_set_log(cli_on_log, NULL);
    if (clconv_devices_list(&d, &n, err) != CLCONV_OK)
        cli_err("%s", err);
    if (n == 0) printf("no OpenCL devices (the CPU reference path is used)\n");
    for (i = 0; i < n; i++) {
        printf("opencl:%d:%d  %s  %s\n", d[i].platform, d[i].device, d[i].type,
               d[i].name);
        printf("    vendor %s; platform %s; driver %s; %s\n", d[i].vendor,
               d[i].platform_name, d[i].driver_version, d[i].cl_version);
        printf("    global memory %.0f MiB; max allocation %.0f MiB; "
               "compute units %u\n", d[i].global_mem / 1048576.0,
               d[i].max_alloc / 1048576.0, d[i].compute_units);
        if (clconv_device_tuned(&d[i], &entries, path, sizeof path))
            printf("    tuned: %d table entr%s in %s%s\n", entries,
                   entries == 1 ? "y" : "ies", path,
                   off && strcmp(off, "off") == 0 ? " (ignored: CLCONV_TUNE_TABLE=off)" : "");
        else
            printf("    not tuned (built-in kernel choices; clconv --tune)\n");
    }
    free(d);
    return EXIT_DONE;
}

/* Diagnostics for the stress run (CLCONV_DEBUG_FDS): descriptors still
 * open at the end, after the OpenCL devices are closed (none of ours
 * should be). */
void cli_report_fds(void)
{
    DIR *d;
    struct dirent *de;
    int n = 0;
    d = opendir("/proc/self/fd");
    if (!d) return;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    fprintf(stderr, "clconv: %d file descriptors open at exit\n", n - 1);
}

/* Under auto, when the first choice (the first GPU, else the first device)
 * cannot be opened or built: every other device in --list-devices order,
 * GPUs first, before the CPU reference. `err` holds the first failure. */
static int open_next(int quiet, const char *first_err, clconv_cl **slot, int *ncl)
{
    char err[CLCONV_ERR_MAX], why[256];
    clconv_device_info *info = NULL;
    int n = 0, pass, i, tried = 0;
    if (!quiet) cli_err("skipping the first OpenCL choice: %s", first_err);
    if (clconv_devices_list(&info, &n, err) != CLCONV_OK) n = 0;
    for (pass = 0; pass < 2 && *ncl == 0; pass++)
        for (i = 0; i < n && *ncl == 0; i++) {
            if (info[i].is_gpu != !pass) continue;
            if (tried++ == 0) continue; /* the first choice, which failed */
            if (clconv_cl_open(info[i].platform, info[i].device, slot, why, sizeof why,
                               err) == CLCONV_OK) {
                *ncl = 1;
                if (!quiet)
                    cli_err("using OpenCL device %d:%d %s (the next "
                            "device after a failure)", info[i].platform,
                            info[i].device, info[i].name);
            } else if (!quiet) {
                cli_err("skipping OpenCL device %d:%d %s: %s",
                        info[i].platform, info[i].device, info[i].name, err);
            }
        }
    if (*ncl == 0 && !quiet)
        cli_err("using the CPU reference path (%s)",
                tried > 1 ? "no OpenCL device could be opened" : first_err);
    clconv_devices_free(info);
    return EXIT_DONE;
}

/* Opens the devices --device asks for. Returns an exit status (0: go on). */
static int open_devices(int kind, int p, int d, const char *spec, int quiet,
                        clconv_cl ***cls, int *ncl)
{
    char err[CLCONV_ERR_MAX], why[256];
    clconv_device_info *info = NULL;
    int n = 0, i;
    *cls = NULL;
    *ncl = 0;
    if (kind == DEV_CPU) return EXIT_DONE;
    if (kind == DEV_ALL) {
        if (clconv_devices_list(&info, &n, err) != CLCONV_OK && !quiet)
            cli_err("%s", err);
        *cls = calloc(n > 0 ? (size_t)n : 1, sizeof **cls);
        if (!*cls) {
            clconv_devices_free(info);
            return EXIT_SOME_FAILED;
        }
        for (i = 0; i < n; i++) {
            clconv_cl *cl = NULL;
            if (clconv_cl_open(info[i].platform, info[i].device, &cl, why,
                               sizeof why, err) == CLCONV_OK) {
                (*cls)[(*ncl)++] = cl;
                if (!quiet)
                    cli_err("using OpenCL device %d:%d %s",
                            info[i].platform, info[i].device, info[i].name);
            } else if (!quiet) {
                cli_err("skipping OpenCL device %d:%d %s: %s",
                        info[i].platform, info[i].device, info[i].name, err);
            }
        }
        clconv_devices_free(info);
        if (*ncl == 0 && !quiet)
            cli_err("using the CPU reference path (no usable "
                    "OpenCL device)");
        return EXIT_DONE;
    }
    *cls = calloc(1, sizeof **cls);
    if (!*cls) return EXIT_SOME_FAILED;
    {
        clconv_status st = clconv_cl_open(p, d, &(*cls)[0], why, sizeof why, err);
        if (st == CLCONV_OK) {
            const clconv_device_info *in = clconv_cl_info((*cls)[0]);
            *ncl = 1;
            if (!quiet)
                cli_err("using OpenCL device %d:%d %s (%s)",
                        in->platform, in->device, in->name, why);
        } else if (kind == DEV_AUTO) {
            return open_next(quiet, err, *cls, ncl);
        } else {
            cli_err("%s: %s", spec, err);
            return st == CLCONV_E_NO_DEVICE ? EXIT_USAGE : EXIT_SOME_FAILED;
        }
    }
    return EXIT_DONE;
}

/* Under --device auto the device opens beside the first images' decoding
 * (clconv_job.wait_device): PoCL's platform start-up alone is ~25 ms of
 * every run, as long as decoding a 1-megapixel PNG. The main thread opens
 * the device and the batch runs on another: OpenCL stacks set up
 * per-thread state (LLVM's alternate signal stacks) in the thread that
 * opens them, which must not be a thread that ends before the process. */
typedef struct opener {
    pthread_t th;               /* the thread running the batch */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc, kind, p, d, quiet;
    const char *spec, *kernel;
    clconv_cl **cls;
    int ncl;
    run_state *s;
    /* the batch's arguments */
    const clconv_job *job;
    int n, jobs;
    const char *const *ins, *const *outs;
} opener;

static void *run_batch(void *arg)
{
    opener *o = arg;
    clconv_batch_run(o->job, o->n, o->ins, o->outs, o->jobs, cli_on_report, o->s);
    return NULL;
}

static void open_device(void *arg)
{
    opener *o = arg;
    clconv_cl **cls = NULL;
    int ncl = 0, i;
    const int rc = open_devices(o->kind, o->p, o->d, o->spec, o->quiet, &cls, &ncl);
    for (i = 0; i < ncl; i++) clconv_cl_set_kernel(cls[i], o->kernel);
    pthread_mutex_lock(&o->mu);
    o->cls = cls;
    o->ncl = ncl;
    o->rc = rc;
    o->s->device_name = ncl > 0 ? clconv_cl_info(cls[0])->name : "cpu";
    o->done = 1;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

static clconv_cl *wait_opened(void *arg)
{
    opener *o = arg;
    clconv_cl *cl;
    pthread_mutex_lock(&o->mu);
    while (!o->done) pthread_cond_wait(&o->cv, &o->mu);
    cl = o->ncl > 0 ? o->cls[0] : NULL;
    pthread_mutex_unlock(&o->mu);
    return cl;
}

/* Under auto without --json: the batch starts decoding in another thread
 * while the device opens in this one. */
static void run_opening(opener *op)
{
    if (pthread_create(&op->th, NULL, run_batch, op) == 0) {
        open_device(op);
        pthread_join(op->th, NULL);
    } else {
        open_device(op);
        run_batch(op);
    }
    pthread_cond_destroy(&op->cv);
    pthread_mutex_destroy(&op->mu);
}

/* Sets up the opener for cfg's auto device; 0 when it cannot (no mutex). */
static int opener_init(opener *op, const cli_config *cfg, const run_state *s)
{
    memset(op, 0, sizeof *op);
    op->kind = cfg->dev_kind;
    op->p = cfg->dev_p;
    op->d = cfg->dev_d;
    op->spec = cfg->device;
    op->quiet = s->quiet;
    op->kernel = cfg->kernel;
    if (pthread_mutex_init(&op->mu, NULL) != 0) return 0;
    if (pthread_cond_init(&op->cv, NULL) != 0) {
        pthread_mutex_destroy(&op->mu);
        return 0;
    }
    return 1;
}

int cli_run(const cli_config *cfg, clconv_job *job, const cli_plan *p,
            run_state *s, const clconv_filter *f, const cli_inputs *in)
{
    clconv_cl **cls = NULL;
    int ncl = 0, i, rc = EXIT_DONE, jobs = cfg->jobs, opening = 0;
    struct sigaction sa;
    opener op;

    s->device_name = "cpu";
    /* auto (one device or none, never an error) and no JSON header to name
     * the device first: open it beside the decoding. */
    if (cfg->dev_kind == DEV_AUTO && p->n > 0 && !s->json)
        opening = opener_init(&op, cfg, s);
    if (opening) {
        job->wait_device = wait_opened;
        job->wait_user = &op;
    } else {
        rc = open_devices(cfg->dev_kind, cfg->dev_p, cfg->dev_d, cfg->device, s->quiet,
                          &cls, &ncl);
        if (rc != EXIT_DONE) goto cleanup;
        for (i = 0; i < ncl; i++) clconv_cl_set_kernel(cls[i], cfg->kernel);
        job->cl = ncl > 0 ? cls[0] : NULL;
        job->devices = cls;
        job->ndevices = ncl;
        s->device_name = ncl == 1 ? clconv_cl_info(cls[0])->name : ncl > 1 ? "all" : "cpu";
    }
    job->fallback = cfg->dev_kind == DEV_AUTO || cfg->dev_kind == DEV_ALL;
    if (jobs < 1) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = ncpu > 0 ? (int)ncpu : 1;
        /* At least two images in flight per device. */
        if (jobs < 2 * (opening ? 1 : ncl)) jobs = 2 * (opening ? 1 : ncl);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* SA_RESTART: plain reads and writes go on; the waits on pipes poll the
     * flag. */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    job->stop = &cli_stop_signal;
    s->total = p->n;
    cli_report_begin(s, f, in);
    if (opening) {
        op.s = s;
        op.job = job;
        op.n = p->n;
        op.jobs = jobs;
        op.ins = p->ins;
        op.outs = p->todo;
        run_opening(&op);
        cls = op.cls;
        ncl = op.ncl;
    } else {
        clconv_batch_run(job, p->n, p->ins, p->todo, jobs, cli_on_report, s);
    }
cleanup:
    for (i = 0; i < ncl; i++) clconv_cl_close(cls[i]);
    free(cls);
    return rc;
}

/* ---------------------------------------------------------------- self-test */

typedef struct st_state {
    int json, n, failed;
} st_state;

static void on_self_test(const clconv_self_test_line *l, void *user)
{
    st_state *st = user;
    st->failed += !l->passed;
    if (st->json) {
        printf("%s\n    {\"path\": ", st->n++ ? "," : "");
        cli_json_str(l->path);
        printf(", \"ran\": ");
        cli_json_str(l->ran);
        printf(", \"ok\": %s, \"cases\": %d, \"bad_pixels\": %lld, \"max_abs_err\": %.9g",
               l->passed ? "true" : "false", l->cases, l->bad, l->max_abs_err);
        printf(", \"worst\": [%d, %d]", l->worst_x, l->worst_y);
        if (l->err[0]) {
            printf(", \"error\": ");
            cli_json_str(l->err);
        }
        printf("}");
        return;
    }
    if (l->passed)
        printf("PASS  %s: %d cases, max abs error %.9g (ran %s)\n", l->path, l->cases,
               l->max_abs_err, l->ran);
    else
        printf("FAIL  %s: %lld pixels wrong in %d cases; worst at (%d, %d): device %.9g, "
               "reference %.9g, error %.9g%s%s\n", l->path, l->bad, l->cases, l->worst_x,
               l->worst_y, l->worst_dev, l->worst_ref, l->max_abs_err,
               l->err[0] ? "; " : "", l->err);
    fflush(stdout);
}

int cli_self_test(const cli_config *cfg)
{
    clconv_cl **cls = NULL;
    int ncl = 0, i, rc;
    st_state st = {cfg->json, 0, 0};
    if (cfg->dev_kind == DEV_CPU) {
        cli_err("--self-test checks an OpenCL device; --device cpu is "
                "the reference itself");
        return EXIT_USAGE;
    }
    /* auto checks the device auto would use; with none, that is a failure
     * here, since there is nothing to trust. */
    rc = open_devices(cfg->dev_kind == DEV_AUTO ? DEV_OPENCL : cfg->dev_kind, cfg->dev_p,
                      cfg->dev_d, cfg->device, cfg->quiet, &cls, &ncl);
    if (rc != EXIT_DONE) goto cleanup;
    if (ncl == 0) {
        cli_err("--self-test: no OpenCL device to check");
        rc = EXIT_SOME_FAILED;
        goto cleanup;
    }
    if (st.json) printf("{\"version\": \"%s\", \"self_test\": [", CLCONV_VERSION);
    for (i = 0; i < ncl; i++) {
        const clconv_device_info *d = clconv_cl_info(cls[i]);
        if (st.json) {
            printf("%s\n  {\"device\": ", i ? "," : "");
            cli_json_str(d->name);
            printf(", \"platform\": ");
            cli_json_str(d->platform_name);
            printf(", \"driver\": ");
            cli_json_str(d->driver_version);
            printf(", \"paths\": [");
            st.n = 0;
        } else {
            printf("self-test of opencl:%d:%d %s (%s, driver %s)\n", d->platform, d->device,
                   d->name, d->platform_name, d->driver_version);
        }
        clconv_self_test(cls[i], on_self_test, &st);
        if (st.json) printf("]}");
    }
    if (st.json) printf("\n], \"passed\": %s}\n", st.failed ? "false" : "true");
    else printf("self-test: %s\n", st.failed ? "FAILED" : "all paths passed");
    rc = st.failed ? EXIT_MISMATCH : EXIT_DONE;
cleanup:
    for (i = 0; i < ncl; i++) clconv_cl_close(cls[i]);
    free(cls);
    return rc;
}

static void on_tune_line(const char *line, void *user)
{
    if (!*(const int *)user) fprintf(stderr, "clconv: tune %s\n", line);
}

int cli_tune(const cli_config *cfg)
{
    clconv_cl **cls = NULL;
    int ncl = 0, i, rc, failed = 0;
    const double budget = cfg->budget > 0 ? cfg->budget : 60;
    struct timespec t0, t1;
    double left;
    /* The budget is the command's: opening (and building for) the devices
     * counts too. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (cfg->dev_kind == DEV_CPU) {
        cli_err("--tune measures an OpenCL device; --device cpu has nothing to tune");
        return EXIT_USAGE;
    }
    rc = open_devices(cfg->dev_kind == DEV_AUTO ? DEV_OPENCL : cfg->dev_kind, cfg->dev_p,
                      cfg->dev_d, cfg->device, cfg->quiet, &cls, &ncl);
    if (rc != EXIT_DONE) goto cleanup;
    if (ncl == 0) {
        cli_err("--tune: no OpenCL device to tune");
        rc = EXIT_SOME_FAILED;
        goto cleanup;
    }
    if (cfg->json) printf("{\"version\": \"%s\", \"tune\": [", CLCONV_VERSION);
    for (i = 0; i < ncl; i++) {
        const clconv_device_info *d = clconv_cl_info(cls[i]);
        char err[CLCONV_ERR_MAX] = "";
        clconv_tune_result r;
        clconv_status st;
        /* Devices share what is left of the budget, one after the other. */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        left = budget - (double)(t1.tv_sec - t0.tv_sec) - (t1.tv_nsec - t0.tv_nsec) / 1e9;
        left -= 0.25; /* closing the devices */
        st = clconv_cl_tune(cls[i], left > 0.5 ? left / (ncl - i) : 0.5, on_tune_line,
                            (void *)&cfg->quiet, &r, err);
        if (st != CLCONV_OK) {
            cli_err("opencl:%d:%d %s: cannot tune: %s", d->platform, d->device, d->name, err);
            failed = 1;
        }
        if (cfg->json) {
            printf("%s\n  {\"device\": ", i ? "," : "");
            cli_json_str(d->name);
            printf(", \"platform\": ");
            cli_json_str(d->platform_name);
            printf(", \"driver\": ");
            cli_json_str(d->driver_version);
            printf(", \"table\": ");
            cli_json_str(r.path);
            printf(", \"points\": %d, \"measured\": %d, \"timed\": %d, \"refused\": %d, "
                   "\"skipped\": %d, \"complete\": %s, \"seconds\": %.3f, \"ok\": %s}",
                   r.points, r.measured, r.timed, r.refused, r.skipped,
                   r.complete ? "true" : "false", r.seconds,
                   st == CLCONV_OK ? "true" : "false");
        } else if (st == CLCONV_OK && !cfg->quiet) {
            printf("tuned opencl:%d:%d %s: %d of %d grid points in %.1f s (%d candidates "
                   "timed, %d refused, %d skipped)%s\n    table %s\n", d->platform, d->device,
                   d->name, r.measured, r.points, r.seconds, r.timed, r.refused, r.skipped,
                   r.complete ? "" : "; the budget ended it: a partial table", r.path);
        }
    }
    if (cfg->json) printf("\n]}\n");
    rc = failed ? EXIT_SOME_FAILED : EXIT_DONE;
cleanup:
    for (i = 0; i < ncl; i++) clconv_cl_close(cls[i]);
    free(cls);
    return rc;
}
