/* main.c — the clconv command line: parses options, picks the device, names
 * the outputs, hands the images to the library and turns its reports into
 * messages, a JSON report and the exit status. No image logic lives here.
 */
#define _POSIX_C_SOURCE 200809L
#include "clconv.h"
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_DONE = 0, EXIT_SOME_FAILED = 1, EXIT_USAGE = 2, EXIT_MISMATCH = 3 };

static const char usage_line[] =
    "Usage: clconv -f FILTER [options] INPUT... -o OUTPUT\n";

static void help(void)
{
    printf("%s", usage_line);
    printf(
"Filter grayscale images with a 2-D convolution on an OpenCL device (a GPU\n"
"first), with a CPU reference path that is the fallback and the oracle.\n"
"\n"
"Filter:\n"
"  -f, --filter SPEC      a preset (--list-filters), @FILE (a text matrix, one\n"
"                         row a line) or an inline matrix \"0,-1,0;-1,5,-1;0,-1,0\"\n"
"      --flip             true convolution: rotate the filter by 180 degrees\n"
"                         (default: correlation, no flip)\n"
"\n"
"Geometry:\n"
"      --padding MODE     same | valid | N (N pixels on every side) (same)\n"
"      --border MODE      constant | edge | reflect | symmetric | wrap, as\n"
"                         numpy.pad (constant)\n"
"      --cval V           value of the constant border (0)\n"
"      --stride N         step between output pixels (1)\n"
"      --dilation N       spacing between filter taps (1)\n"
"      --resize WxH       resize the gray image before filtering (off)\n"
"\n"
"Inputs (image files, directories of images, or '-' for paths on stdin):\n"
"  -r, --recursive        walk directories below the ones given; outputs keep\n"
"                         their relative paths (off)\n"
"      --inputs-from FILE read input paths from FILE, one a line ('-': stdin)\n"
"      --shard I/N        do only part I of N of the sorted inputs, or 'auto'\n"
"                         from Slurm/Kubernetes job arrays (all)\n"
"      --skip-existing    leave inputs whose output exists alone, to resume (off)\n"
"\n"
"Output:\n"
"  -o, --output PATH      a file for one input; a directory for several or\n"
"                         when PATH ends in '/' (required)\n"
"      --side-by-side F   also write the input and the output side by side\n"
"                         into F, for one input (off)\n"
"      --format EXT       png | jpg | bmp | tga | npy, for directory outputs (png)\n"
"      --map MODE         clamp | abs | normalize: float to 8 bits (clamp)\n"
"      --quality N        JPEG quality 1..100 (95)\n"
"\n"
"Device:\n"
"      --device DEV       auto | all | cpu | opencl[:P[:D]] (auto; also\n"
"                         $CLCONV_DEVICE)\n"
"      --kernel K         auto | naive | tiled | separable | local | fft:\n"
"                         force a device kernel where it applies (auto)\n"
"      --verify           also run the CPU reference and compare; exit 3 on a\n"
"                         mismatch (off)\n"
"      --list-devices     list the OpenCL devices and exit\n"
"\n"
"Run:\n"
"  -j, --jobs N           images in flight: worker threads that decode, filter\n"
"                         and encode (number of CPUs, at least 2 per device)\n"
"      --max-pixels N     refuse images with more pixels (268435456)\n"
"  -q, --quiet            no messages but errors\n"
"      --json             a machine-readable report on stdout\n"
"      --list-filters     list the presets with their matrices and exit\n"
"  -h, --help             this help\n"
"  -V, --version          the version\n"
"\n"
"Exit status: 0 all done; 1 some inputs failed (the others are done); 2 bad\n"
"usage, filter or option value; 3 verification mismatch; 130 interrupted\n"
"(finished outputs kept, nothing partial left).\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "clconv: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%sTry 'clconv --help'.\n", usage_line);
    return EXIT_USAGE;
}

/* A whole-string integer within [lo, hi]. */
static int parse_long(const char *s, long lo, long hi, long *v)
{
    char *e;
    errno = 0;
    *v = strtol(s, &e, 10);
    return s[0] && !errno && !*e && *v >= lo && *v <= hi;
}

static int list_filters(void)
{
    int i;
    for (i = 0; clconv_preset_name(i); i++) {
        const char *name = clconv_preset_name(i);
        clconv_filter *f = NULL;
        printf("%-20s %s\n", name, clconv_preset_help(i));
        if (strchr(name, ':')) continue;
        if (clconv_filter_parse(name, &f, NULL) == CLCONV_OK) {
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
    return EXIT_DONE;
}

static int list_devices(void)
{
    clconv_device_info *d = NULL;
    int n = 0, i;
    char err[CLCONV_ERR_MAX] = "";
    if (clconv_devices_list(&d, &n, err) != CLCONV_OK)
        fprintf(stderr, "clconv: %s\n", err);
    if (n == 0) printf("no OpenCL devices (the CPU reference path is used)\n");
    for (i = 0; i < n; i++) {
        printf("opencl:%d:%d  %s  %s\n", d[i].platform, d[i].device, d[i].type,
               d[i].name);
        printf("    vendor %s; platform %s; driver %s; %s\n", d[i].vendor,
               d[i].platform_name, d[i].driver_version, d[i].cl_version);
        printf("    global memory %.0f MiB; max allocation %.0f MiB; "
               "compute units %u\n", d[i].global_mem / 1048576.0,
               d[i].max_alloc / 1048576.0, d[i].compute_units);
    }
    free(d);
    return EXIT_DONE;
}

/* ---------------------------------------------------------------- reports */

typedef struct run_state {
    int quiet, json, progress;
    int total, done, failed, mismatched;
    int json_n;     /* image records written so far */
    char **dropped; /* per input: why it gets no output, or NULL */
    long long nans;
    double t0, last_progress;
    const char *device_name;
} run_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void json_image(run_state *s, const clconv_report *r);

/* Messages must not land in the middle of the progress line. */
static void clear_progress(const run_state *s)
{
    if (s->progress) fputs("\r\033[K", stderr);
}

static void show_progress(run_state *s, int final)
{
    double t = now_s(), el = t - s->t0, rate;
    int n = s->done + s->failed;
    if (!s->progress || (!final && t - s->last_progress < 0.1)) return;
    s->last_progress = t;
    rate = el > 0 ? n / el : 0;
    fprintf(stderr, "\r\033[Kclconv: %d/%d images, %.1f/s", n, s->total, rate);
    if (rate > 0 && n < s->total)
        fprintf(stderr, ", ETA %.0f s", (s->total - n) / rate);
    if (final) fputc('\n', stderr);
}

static void on_report(const clconv_report *r, void *user)
{
    run_state *s = user;
    int loud = !s->quiet;
    if (r->status == CLCONV_OK || r->status == CLCONV_E_MISMATCH) s->done++;
    if (r->status == CLCONV_E_MISMATCH) s->mismatched++;
    else if (r->status != CLCONV_OK) s->failed++;
    if ((r->note[0] && loud) || r->status != CLCONV_OK || (r->verified && loud) ||
        (r->nan_count > 0 && loud))
        clear_progress(s);
    if (r->note[0] && loud) fprintf(stderr, "clconv: %s\n", r->note);
    if (r->status != CLCONV_OK) fprintf(stderr, "clconv: %s\n", r->err);
    if (r->verified && r->status != CLCONV_E_MISMATCH && loud)
        fprintf(stderr, "clconv: %s: verify ok (%s vs CPU reference): max abs "
                "error %.9g at (%d, %d), 0 pixels over tolerance\n", r->input,
                r->on_device ? "device" : "reference", r->vr.max_abs_err,
                r->vr.worst_x, r->vr.worst_y);
    if (r->verified && r->status == CLCONV_E_MISMATCH)
        fprintf(stderr, "clconv: %s: verify: max abs error %.9g\n", r->input,
                r->vr.max_abs_err);
    if (r->nan_count > 0 && loud)
        fprintf(stderr, "clconv: %s: %lld NaN pixel%s written as 0\n", r->input,
                r->nan_count, r->nan_count == 1 ? "" : "s");
    s->nans += r->nan_count;
    if (s->json) json_image(s, r);
    show_progress(s, 0);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void json_num(double v)
{
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
}

/* The JSON report streams: the images are written as they finish, so a
 * batch of any size needs no memory for it. */
static void json_begin(const run_state *s, const clconv_filter *f)
{
    printf("{\"version\": \"%s\", \"filter\": ", CLCONV_VERSION);
    json_str(clconv_filter_name(f));
    printf(", \"filter_size\": [%d, %d], \"device\": ", clconv_filter_height(f),
           clconv_filter_width(f));
    json_str(s->device_name);
    printf(", \"images\": [");
}

static void json_image(run_state *s, const clconv_report *r)
{
    printf("%s\n  {\"input\": ", s->json_n++ ? "," : "");
    json_str(r->input);
    printf(", \"output\": ");
    json_str(r->output);
    printf(", \"status\": ");
    json_str(r->status == CLCONV_OK ? "ok" : r->status == CLCONV_E_MISMATCH
                                                  ? "mismatch" : "failed");
    if (r->status != CLCONV_OK) {
        printf(", \"error\": ");
        json_str(r->err);
    }
    printf(", \"size\": [%d, %d], \"out_size\": [%d, %d], \"device\": ",
           r->in_w, r->in_h, r->out_w, r->out_h);
    json_str(r->on_device ? s->device_name : "cpu");
    printf(", \"fell_back\": %s, \"bands\": %d, \"kernel\": ",
           r->fell_back ? "true" : "false", r->cl_timing.bands);
    json_str(r->on_device && r->cl_timing.kernel ? r->cl_timing.kernel : "reference");
    printf(", \"border\": ");
    json_str(r->on_device && r->cl_timing.pad ? r->cl_timing.pad : "host");
    printf(", \"ms\": {\"decode\": ");
    json_num(r->decode_ms);
    printf(", \"pad\": ");
    json_num(r->pad_ms);
    printf(", \"compute\": ");
    json_num(r->compute_ms);
    printf(", \"kernel\": ");
    json_num(r->cl_timing.kernel_ms);
    printf(", \"upload\": ");
    json_num(r->cl_timing.upload_ms);
    printf(", \"download\": ");
    json_num(r->cl_timing.download_ms);
    printf(", \"verify\": ");
    json_num(r->verify_ms);
    printf(", \"encode\": ");
    json_num(r->encode_ms);
    printf("}, \"nan_pixels\": %lld", r->nan_count);
    if (r->verified) {
        printf(", \"verify\": {\"ok\": %s, \"bad_pixels\": %lld, "
               "\"max_abs_err\": ", r->vr.bad ? "false" : "true", r->vr.bad);
        json_num(r->vr.max_abs_err);
        printf(", \"worst\": [%d, %d]}", r->vr.worst_x, r->vr.worst_y);
    }
    printf("}");
    fflush(stdout);
}

static void json_end(const run_state *s)
{
    printf("\n], \"done\": %d, \"failed\": %d, \"mismatched\": %d}\n",
           s->done - s->mismatched, s->failed, s->mismatched);
}

/* ---------------------------------------------------------------- outputs */

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
static void drop_output(cli_inputs *in, char **outs, int k, const char *why,
                        run_state *s)
{
    size_t n = strlen(in->v[k].path) + strlen(outs[k]) + strlen(why) + 32;
    char *msg = malloc(n);
    if (msg) snprintf(msg, n, "%s: its output %s %s; skipped", in->v[k].path,
                      outs[k], why);
    fprintf(stderr, "clconv: %s\n", msg ? msg : in->v[k].path);
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

static int refuse_inputs_as_outputs(cli_inputs *in, char **outs, int n,
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

/* Diagnostics for the stress run: descriptors still open at the end, after
 * the OpenCL devices are closed (none of ours should be). */
static void report_fds(clconv_cl **cls, int ncl)
{
    DIR *d;
    struct dirent *de;
    int i, n = 0;
    for (i = 0; i < ncl; i++) {
        clconv_cl_close(cls[i]);
        cls[i] = NULL;
    }
    d = opendir("/proc/self/fd");
    if (!d) return;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    fprintf(stderr, "clconv: %d file descriptors open at exit\n", n - 1);
}

static volatile int stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static int parse_device(const char *s, int *kind, int *p, int *d)
{
    long v;
    const char *c;
    *p = *d = -1;
    if (strcmp(s, "auto") == 0) { *kind = 0; return 1; }
    if (strcmp(s, "cpu") == 0) { *kind = 1; return 1; }
    if (strncmp(s, "opencl", 6) != 0) return 0;
    *kind = 2;
    s += 6;
    if (!*s) return 1;
    if (*s != ':') return 0;
    s++;
    c = strchr(s, ':');
    if (c) {
        char buf[32];
        if ((size_t)(c - s) >= sizeof buf) return 0;
        memcpy(buf, s, (size_t)(c - s));
        buf[c - s] = '\0';
        if (!parse_long(buf, 0, 1000, &v)) return 0;
        *p = (int)v;
        if (!parse_long(c + 1, 0, 1000, &v)) return 0;
        *d = (int)v;
    } else {
        if (!parse_long(s, 0, 1000, &v)) return 0;
        *p = (int)v;
    }
    return 1;
}

enum {
    OPT_FLIP = 256, OPT_PADDING, OPT_BORDER, OPT_CVAL, OPT_STRIDE, OPT_DILATION,
    OPT_RESIZE, OPT_FORMAT, OPT_MAP, OPT_QUALITY, OPT_DEVICE, OPT_VERIFY,
    OPT_LIST_DEVICES, OPT_LIST_FILTERS, OPT_MAX_PIXELS, OPT_JSON, OPT_FROM,
    OPT_SKIP, OPT_SHARD, OPT_SIDE, OPT_KERNEL
};

/* Opens the devices --device asks for. Returns an exit status (0: go on). */
static int open_devices(int kind, int p, int d, const char *spec, int quiet,
                        clconv_cl ***cls, int *ncl)
{
    char err[CLCONV_ERR_MAX], why[256];
    clconv_device_info *info = NULL;
    int n = 0, i;
    *cls = NULL;
    *ncl = 0;
    if (kind == 1) return EXIT_DONE;
    if (kind == 3) { /* all */
        if (clconv_devices_list(&info, &n, err) != CLCONV_OK && !quiet)
            fprintf(stderr, "clconv: %s\n", err);
        *cls = calloc(n > 0 ? (size_t)n : 1, sizeof **cls);
        if (!*cls) {
            free(info);
            return EXIT_SOME_FAILED;
        }
        for (i = 0; i < n; i++) {
            clconv_cl *cl = NULL;
            if (clconv_cl_open(info[i].platform, info[i].device, &cl, why,
                               sizeof why, err) == CLCONV_OK) {
                (*cls)[(*ncl)++] = cl;
                if (!quiet)
                    fprintf(stderr, "clconv: using OpenCL device %d:%d %s\n",
                            info[i].platform, info[i].device, info[i].name);
            } else if (!quiet) {
                fprintf(stderr, "clconv: skipping OpenCL device %d:%d %s: %s\n",
                        info[i].platform, info[i].device, info[i].name, err);
            }
        }
        free(info);
        if (*ncl == 0 && !quiet)
            fprintf(stderr, "clconv: using the CPU reference path (no usable "
                    "OpenCL device)\n");
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
                fprintf(stderr, "clconv: using OpenCL device %d:%d %s (%s)\n",
                        in->platform, in->device, in->name, why);
        } else if (kind == 0) {
            if (!quiet)
                fprintf(stderr, "clconv: using the CPU reference path (%s)\n", err);
        } else {
            fprintf(stderr, "clconv: %s: %s\n", spec, err);
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
    clconv_batch_run(o->job, o->n, o->ins, o->outs, o->jobs, on_report, o->s);
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

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"filter", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"jobs", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"recursive", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"flip", no_argument, NULL, OPT_FLIP},
        {"padding", required_argument, NULL, OPT_PADDING},
        {"border", required_argument, NULL, OPT_BORDER},
        {"cval", required_argument, NULL, OPT_CVAL},
        {"stride", required_argument, NULL, OPT_STRIDE},
        {"dilation", required_argument, NULL, OPT_DILATION},
        {"resize", required_argument, NULL, OPT_RESIZE},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"map", required_argument, NULL, OPT_MAP},
        {"quality", required_argument, NULL, OPT_QUALITY},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"verify", no_argument, NULL, OPT_VERIFY},
        {"list-devices", no_argument, NULL, OPT_LIST_DEVICES},
        {"list-filters", no_argument, NULL, OPT_LIST_FILTERS},
        {"max-pixels", required_argument, NULL, OPT_MAX_PIXELS},
        {"json", no_argument, NULL, OPT_JSON},
        {"inputs-from", required_argument, NULL, OPT_FROM},
        {"skip-existing", no_argument, NULL, OPT_SKIP},
        {"shard", required_argument, NULL, OPT_SHARD},
        {"side-by-side", required_argument, NULL, OPT_SIDE},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {NULL, 0, NULL, 0}};
    clconv_job job;
    clconv_filter *filter = NULL, *flipped = NULL;
    clconv_cl **cls = NULL;
    opener op;
    int opening = 0;
    cli_inputs in = {NULL, 0, 0, 0};
    const char *filter_spec = NULL, *output = NULL, *format = "png";
    const char *device = getenv("CLCONV_DEVICE"), *shard = NULL;
    const char *kernel = "auto";
    const char **from = NULL;
    char err[CLCONV_ERR_MAX];
    char **outs = NULL, **ins = NULL, ***order = NULL;
    int flip = 0, jobs = 0, recursive = 0, skip_existing = 0, nfrom = 0;
    int c, i, n, dir_mode, dev_kind, dev_p, dev_d, ncl = 0, skipped = 0;
    int shard_i = 0, shard_n = 1;
    int rc = EXIT_DONE;
    long v;
    run_state s;
    struct sigaction sa;

    memset(&s, 0, sizeof s);
    clconv_job_init(&job);
    from = calloc((size_t)argc + 1, sizeof *from);
    if (!from) return EXIT_SOME_FAILED;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "f:o:j:qrhV", opts, NULL)) != -1) {
        switch (c) {
        case 'f': filter_spec = optarg; break;
        case 'o': output = optarg; break;
        case 'j':
            if (!parse_long(optarg, 1, 1024, &v))
                return usage_error("--jobs: '%s' is not a number from 1 to 1024", optarg);
            jobs = (int)v;
            break;
        case 'q': s.quiet = 1; break;
        case 'r': recursive = 1; break;
        case 'h': help(); return EXIT_DONE;
        case 'V': printf("clconv %s\n", CLCONV_VERSION); return EXIT_DONE;
        case OPT_FLIP: flip = 1; break;
        case OPT_PADDING:
            if (strcmp(optarg, "same") == 0) job.params.padding = CLCONV_PAD_SAME;
            else if (strcmp(optarg, "valid") == 0) job.params.padding = CLCONV_PAD_VALID;
            else if (parse_long(optarg, 0, 1 << 20, &v)) {
                job.params.padding = CLCONV_PAD_EXPLICIT;
                job.params.pad_width = (int)v;
            } else
                return usage_error("--padding: '%s' is not same, valid or a "
                                   "width from 0 to 1048576", optarg);
            break;
        case OPT_BORDER: {
            int b = clconv_border_parse(optarg);
            if (b < 0)
                return usage_error("--border: '%s' is not constant, edge, "
                                   "reflect, symmetric or wrap", optarg);
            job.params.border = (clconv_border)b;
            break;
        }
        case OPT_CVAL: {
            char *e;
            double d;
            errno = 0;
            d = strtod(optarg, &e);
            if (!optarg[0] || *e || errno || !isfinite(d) || fabs(d) > 3e38)
                return usage_error("--cval: '%s' is not a finite number", optarg);
            job.params.cval = (float)d;
            break;
        }
        case OPT_STRIDE:
            if (!parse_long(optarg, 1, 1 << 20, &v))
                return usage_error("--stride: '%s' is not a whole number >= 1", optarg);
            job.params.stride = (int)v;
            break;
        case OPT_DILATION:
            if (!parse_long(optarg, 1, 1 << 20, &v))
                return usage_error("--dilation: '%s' is not a whole number >= 1", optarg);
            job.params.dilation = (int)v;
            break;
        case OPT_RESIZE: {
            char *x = strchr(optarg, 'x'), buf[32];
            long w, h;
            if (!x || (size_t)(x - optarg) >= sizeof buf)
                return usage_error("--resize: '%s' is not WxH", optarg);
            memcpy(buf, optarg, (size_t)(x - optarg));
            buf[x - optarg] = '\0';
            if (!parse_long(buf, 1, 1 << 20, &w) || !parse_long(x + 1, 1, 1 << 20, &h))
                return usage_error("--resize: '%s' is not WxH (1 to 1048576 each)", optarg);
            job.resize_w = (int)w;
            job.resize_h = (int)h;
            break;
        }
        case OPT_FORMAT:
            if (strcmp(optarg, "png") && strcmp(optarg, "jpg") &&
                strcmp(optarg, "bmp") && strcmp(optarg, "tga") &&
                strcmp(optarg, "npy"))
                return usage_error("--format: '%s' is not png, jpg, bmp, tga or npy", optarg);
            format = optarg;
            break;
        case OPT_MAP:
            if (strcmp(optarg, "clamp") == 0) job.map = CLCONV_MAP_CLAMP;
            else if (strcmp(optarg, "abs") == 0) job.map = CLCONV_MAP_ABS;
            else if (strcmp(optarg, "normalize") == 0) job.map = CLCONV_MAP_NORMALIZE;
            else return usage_error("--map: '%s' is not clamp, abs or normalize", optarg);
            break;
        case OPT_QUALITY:
            if (!parse_long(optarg, 1, 100, &v))
                return usage_error("--quality: '%s' is not a number from 1 to 100", optarg);
            job.quality = (int)v;
            break;
        case OPT_DEVICE: device = optarg; break;
        case OPT_VERIFY: job.verify = 1; break;
        case OPT_LIST_DEVICES: return list_devices();
        case OPT_LIST_FILTERS: return list_filters();
        case OPT_MAX_PIXELS:
            if (!parse_long(optarg, 1, LONG_MAX, &v))
                return usage_error("--max-pixels: '%s' is not a number >= 1", optarg);
            job.max_pixels = v;
            break;
        case OPT_JSON: s.json = 1; break;
        case OPT_FROM: from[nfrom++] = optarg; break;
        case OPT_SKIP: skip_existing = 1; break;
        case OPT_SHARD: shard = optarg; break;
        case OPT_SIDE: job.side_by_side = optarg; break;
        case OPT_KERNEL:
            if (strcmp(optarg, "auto") && strcmp(optarg, "naive") &&
                strcmp(optarg, "tiled") && strcmp(optarg, "separable") &&
                strcmp(optarg, "local") && strcmp(optarg, "fft"))
                return usage_error("--kernel: '%s' is not auto, naive, tiled, "
                                   "separable, local or fft", optarg);
            kernel = optarg;
            break;
        default:
            if (optopt && optopt < 256)
                return usage_error("unknown option or missing value: '-%s'",
                                   (char[]){(char)optopt, 0});
            return usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (!filter_spec) return usage_error("%sno filter given (-f)", "");
    if (optind >= argc && nfrom == 0) return usage_error("%sno input image given", "");
    if (!output) return usage_error("%sno output given (-o)", "");
    if (!device || !*device) device = "auto";
    if (strcmp(device, "all") == 0) dev_kind = 3, dev_p = dev_d = -1;
    else if (!parse_device(device, &dev_kind, &dev_p, &dev_d))
        return usage_error("--device: '%s' is not auto, all, cpu or opencl[:P[:D]]", device);
    if (shard && cli_shard_parse(shard, &shard_i, &shard_n, err) != 0)
        return usage_error("%s", err);

    /* The filter is refused before any image is read. */
    if (clconv_filter_parse(filter_spec, &filter, err) != CLCONV_OK) {
        fprintf(stderr, "clconv: %s\n", err);
        free(from);
        return EXIT_USAGE;
    }
    if (flip) {
        if (clconv_filter_flip(filter, &flipped, err) != CLCONV_OK) {
            fprintf(stderr, "clconv: %s\n", err);
            rc = EXIT_USAGE;
            goto cleanup;
        }
        clconv_filter_destroy(filter);
        filter = flipped;
    }
    job.filter = filter;

    /* Inputs: sorted, so shards are the same on every machine. */
    for (i = optind; i < argc; i++)
        if (cli_inputs_add_arg(&in, argv[i], recursive, err) != 0) {
            fprintf(stderr, "clconv: %s\n", err);
            rc = EXIT_SOME_FAILED;
            goto cleanup;
        }
    for (i = 0; i < nfrom; i++)
        if (cli_inputs_add_list(&in, from[i], err) != 0) {
            fprintf(stderr, "clconv: %s\n", err);
            rc = EXIT_SOME_FAILED;
            goto cleanup;
        }
    cli_inputs_sort(&in);
    cli_inputs_shard(&in, shard_i, shard_n);
    n = in.n;
    dir_mode = n > 1 || in.had_dir || nfrom > 0 || shard_n > 1 ||
               optind + 1 < argc || output[strlen(output) - 1] == '/' ||
               is_dir(output);
    if (job.side_by_side && (dir_mode || n != 1)) {
        fprintf(stderr, "clconv: --side-by-side takes one input and one output file\n");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (!dir_mode) {
        if (!clconv_format_supported(output)) {
            fprintf(stderr, "clconv: %s: unknown output format (use .png, .jpg, "
                    ".bmp, .tga or .npy, or a directory ending in '/')\n", output);
            rc = EXIT_USAGE;
            goto cleanup;
        }
    }
    if (n == 0) {
        if (!s.quiet) fprintf(stderr, "clconv: no images to do\n");
        goto cleanup;
    }

    /* Output names; directories made up front, so workers only write. */
    outs = calloc((size_t)n, sizeof *outs);
    ins = calloc((size_t)n, sizeof *ins);
    s.dropped = calloc((size_t)n, sizeof *s.dropped);
    order = calloc((size_t)n, sizeof *order);
    if (!outs || !ins || !order || !s.dropped) {
        fprintf(stderr, "clconv: out of memory\n");
        rc = EXIT_SOME_FAILED;
        goto cleanup;
    }
    if (dir_mode && !is_dir(output) && mkdir(output, 0777) != 0) {
        fprintf(stderr, "clconv: %s: cannot create the output directory: %s\n",
                output, strerror(errno));
        rc = EXIT_SOME_FAILED;
        goto cleanup;
    }
    for (i = 0; i < n; i++) {
        outs[i] = dir_mode ? cli_output_name(output, in.v[i].rel, format)
                           : strdup(output);
        if (!outs[i]) {
            fprintf(stderr, "clconv: out of memory\n");
            rc = EXIT_SOME_FAILED;
            goto cleanup;
        }
        if (dir_mode && strchr(in.v[i].rel, '/') &&
            cli_make_parents(outs[i], err) != 0) {
            fprintf(stderr, "clconv: %s\n", err);
            rc = EXIT_SOME_FAILED;
            goto cleanup;
        }
        order[i] = &outs[i];
    }
    /* Two inputs must not write one output (a.png and a.jpg into out/). */
    qsort(order, (size_t)n, sizeof *order, by_str);
    for (i = 1, c = 0; i < n; i++) {
        if (strcmp(*order[c], *order[i]) != 0) {
            c = i;
            continue;
        }
        drop_output(&in, outs, (int)(order[i] - outs), "is also another input's output", &s);
    }
    /* No output may replace an input, not even another one of the batch. */
    if (refuse_inputs_as_outputs(&in, outs, n, &s) != 0) {
        fprintf(stderr, "clconv: out of memory\n");
        rc = EXIT_SOME_FAILED;
        goto cleanup;
    }
    {
        int m = 0;
        for (i = 0; i < n; i++) {
            if (!outs[i]) continue;
            if (skip_existing && exists(outs[i])) {
                skipped++;
                free(outs[i]);
                continue;
            }
            ins[m] = in.v[i].path;
            outs[m++] = outs[i];
        }
        for (i = m; i < n; i++) outs[i] = NULL;
        n = m;
    }

    s.device_name = "cpu";
    if (dev_kind == 0 && n > 0 && !s.json) {
        /* auto (one device or none, never an error) and no JSON header to
         * name the device first: open it beside the decoding. */
        memset(&op, 0, sizeof op);
        op.kind = dev_kind;
        op.p = dev_p;
        op.d = dev_d;
        op.spec = device;
        op.quiet = s.quiet;
        op.kernel = kernel;
        op.s = &s;
        if (pthread_mutex_init(&op.mu, NULL) == 0) {
            if (pthread_cond_init(&op.cv, NULL) == 0)
                opening = 1;
            else
                pthread_mutex_destroy(&op.mu);
        }
    }
    if (opening) {
        job.wait_device = wait_opened;
        job.wait_user = &op;
    } else {
        rc = open_devices(dev_kind, dev_p, dev_d, device, s.quiet, &cls, &ncl);
        if (rc != EXIT_DONE) goto cleanup;
        for (i = 0; i < ncl; i++) clconv_cl_set_kernel(cls[i], kernel);
        job.cl = ncl > 0 ? cls[0] : NULL;
        job.devices = cls;
        job.ndevices = ncl;
        s.device_name = ncl == 1 ? clconv_cl_info(cls[0])->name
                      : ncl > 1 ? "all" : "cpu";
    }
    job.fallback = dev_kind == 0 || dev_kind == 3;
    if (jobs < 1) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = ncpu > 0 ? (int)ncpu : 1;
        /* At least two images in flight per device. */
        if (jobs < 2 * (opening ? 1 : ncl)) jobs = 2 * (opening ? 1 : ncl);
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    job.stop = &stop_signal;

    s.total = n;
    s.progress = !s.quiet && n > 1 && isatty(STDERR_FILENO);
    s.t0 = now_s();
    if (s.json) {
        json_begin(&s, filter);
        for (i = 0; i < in.n; i++) {
            if (!s.dropped[i]) continue;
            printf("%s\n  {\"input\": ", s.json_n++ ? "," : "");
            json_str(in.v[i].path);
            printf(", \"output\": null, \"status\": \"failed\", \"error\": ");
            json_str(s.dropped[i]);
            printf("}");
        }
    }
    if (opening) {
        op.job = &job;
        op.n = n;
        op.jobs = jobs;
        op.ins = (const char *const *)ins;
        op.outs = (const char *const *)outs;
        if (pthread_create(&op.th, NULL, run_batch, &op) == 0) {
            open_device(&op);
            pthread_join(op.th, NULL);
        } else {
            open_device(&op);
            run_batch(&op);
        }
        pthread_cond_destroy(&op.cv);
        pthread_mutex_destroy(&op.mu);
        cls = op.cls;
        ncl = op.ncl;
        opening = 0;
    } else {
        clconv_batch_run(&job, n, (const char *const *)ins, (const char *const *)outs,
                         jobs, on_report, &s);
    }
    if (s.json) json_end(&s);
    show_progress(&s, 1);
    if (stop_signal) {
        fprintf(stderr, "clconv: interrupted: %d done, %d failed, %d not started\n",
                s.done, s.failed, n - s.done - s.failed);
        rc = 130;
        goto cleanup;
    }
    if ((n > 1 || skipped) && !s.quiet)
        fprintf(stderr, "clconv: %d done, %d failed%s, %d skipped (%.1f s)\n",
                s.done - s.mismatched, s.failed + s.mismatched,
                s.mismatched ? " (verification)" : "", skipped, now_s() - s.t0);
    if (n > 1 && s.nans > 0 && !s.quiet)
        fprintf(stderr, "clconv: %lld NaN pixel%s written as 0 in all\n", s.nans,
                s.nans == 1 ? "" : "s");
    rc = s.mismatched ? EXIT_MISMATCH : s.failed ? EXIT_SOME_FAILED : EXIT_DONE;
cleanup:
    if (getenv("CLCONV_DEBUG_FDS")) report_fds(cls, ncl);
    if (outs)
        for (i = 0; i < in.n; i++) free(outs[i]);
    free(outs);
    if (s.dropped)
        for (i = 0; i < in.n; i++) free(s.dropped[i]);
    free(s.dropped);
    free(ins);
    free(order);
    free(from);
    cli_inputs_free(&in);
    for (i = 0; i < ncl; i++) clconv_cl_close(cls[i]);
    free(cls);
    clconv_filter_destroy(filter);
    return rc;
}
