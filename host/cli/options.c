/* options.c — the option table: each option's names, argument, section,
 * help text and handler. getopt_long's array and --help are made from it
 * (and the man page, later, from --help), so an option is one row and one
 * handler. Values are parsed whole (strtol/strtod with the end checked);
 * a bad one is a usage error, exit 2.
 * It must not act on the options beyond the lists and --help: main.c runs the
 * job.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "cl/plan.h"
#include "io/io.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_line[] =
    "Usage: clconv -f FILTER [options] INPUT... -o OUTPUT\n";

/* The column where --help's descriptions start. */
#define HELP_COL 25

/* A usage error: one line naming the cause, then the usage line. */
static int usage_msg(const char *msg)
{
    cli_err("%s", msg);
    fprintf(stderr, "%sTry 'clconv --help'.\n", usage_line);
    return EXIT_USAGE;
}

/* The same from a format and `arg`, a user's value, shown cut when long (a
 * 5000-digit token names itself in a short line) with control bytes as '?'. */
static int usage_error(const char *fmt, const char *arg)
{
    char shown[CLCONV__SHOWN_MAX], msg[512];
    snprintf(msg, sizeof msg, fmt, arg ? clconv__shown(shown, arg, -1) : "");
    return usage_msg(msg);
}

/* A whole-string integer within [lo, hi]. */
static int parse_long(const char *s, long lo, long hi, long *v)
{
    char *e;
    errno = 0;
    *v = strtol(s, &e, 10);
    return s[0] && !errno && !*e && *v >= lo && *v <= hi;
}

/* ---------------------------------------------------------------- handlers */

/* Each returns -1 to go on, or an exit status. */
typedef int (*opt_fn)(cli_config *c, const char *arg);

static int o_filter(cli_config *c, const char *a) { c->filter_spec = a; return -1; }
static int o_output(cli_config *c, const char *a)
{
    if (!*a) return usage_error("-o: the output path is empty%s", "");
    c->output = a;
    return -1;
}
static int o_quiet(cli_config *c, const char *a) { (void)a; c->quiet = 1; return -1; }
static int o_recursive(cli_config *c, const char *a) { (void)a; c->recursive = 1; return -1; }
static int o_flip(cli_config *c, const char *a) { (void)a; c->flip = 1; return -1; }
static int o_device(cli_config *c, const char *a) { c->device = a; return -1; }
static int o_verify(cli_config *c, const char *a)
{
    if (!a || strcmp(a, "full") == 0) c->job.verify = CLCONV_VERIFY_FULL;
    else if (strcmp(a, "sample") == 0) c->job.verify = CLCONV_VERIFY_SAMPLE;
    else if (strcmp(a, "off") == 0) c->job.verify = CLCONV_VERIFY_OFF;
    else return usage_error("--verify: '%s' is not full, sample or off", a);
    return -1;
}
static int o_json(cli_config *c, const char *a) { (void)a; c->json = 1; return -1; }
static int o_self_test(cli_config *c, const char *a) { (void)a; c->self_test = 1; return -1; }
static int o_tune(cli_config *c, const char *a) { (void)a; c->tune = 1; return -1; }
static int o_budget(cli_config *c, const char *a)
{
    char *e;
    double d;
    errno = 0;
    d = strtod(a, &e);
    if (!a[0] || *e || errno || !isfinite(d) || d < 1 || d > 86400)
        return usage_error("--budget: '%s' is not a number of seconds from 1 to 86400", a);
    c->budget = d;
    return -1;
}
static int o_from(cli_config *c, const char *a) { c->from[c->nfrom++] = a; return -1; }
static int o_skip(cli_config *c, const char *a) { (void)a; c->skip_existing = 1; return -1; }
static int o_null(cli_config *c, const char *a) { (void)a; c->null_lists = 1; return -1; }
static int o_shard(cli_config *c, const char *a) { c->shard = a; return -1; }
static int o_side(cli_config *c, const char *a)
{
    if (!*a) return usage_error("--side-by-side: the path is empty%s", "");
    c->job.side_by_side = a;
    return -1;
}
static int o_list_devices(cli_config *c, const char *a) { (void)c; (void)a; return cli_list_devices(); }
static int o_list_filters(cli_config *c, const char *a) { (void)c; (void)a; return cli_list_filters(); }
static int o_version(cli_config *c, const char *a)
{
    (void)c;
    (void)a;
    printf("clconv %s\n", CLCONV_VERSION);
    return EXIT_DONE;
}
static int o_help(cli_config *c, const char *a);

static int o_jobs(cli_config *c, const char *a)
{
    long v;
    if (!parse_long(a, 1, 1024, &v))
        return usage_error("--jobs: '%s' is not a number from 1 to 1024", a);
    c->jobs = (int)v;
    return -1;
}

static int o_padding(cli_config *c, const char *a)
{
    long v;
    if (strcmp(a, "same") == 0) c->job.params.padding = CLCONV_PAD_SAME;
    else if (strcmp(a, "valid") == 0) c->job.params.padding = CLCONV_PAD_VALID;
    else if (parse_long(a, 0, 1 << 20, &v)) {
        c->job.params.padding = CLCONV_PAD_EXPLICIT;
        c->job.params.pad_width = (int)v;
    } else
        return usage_error("--padding: '%s' is not same, valid or a width from 0 "
                           "to 1048576", a);
    return -1;
}

static int o_border(cli_config *c, const char *a)
{
    int b = clconv_border_parse(a);
    if (b < 0)
        return usage_error("--border: '%s' is not constant, edge, reflect, "
                           "symmetric or wrap", a);
    c->job.params.border = (clconv_border)b;
    return -1;
}

static int o_cval(cli_config *c, const char *a)
{
    char *e;
    double d;
    errno = 0;
    d = strtod(a, &e);
    if (!a[0] || *e || errno || !isfinite(d) || fabs(d) > 3e38)
        return usage_error("--cval: '%s' is not a finite number", a);
    c->job.params.cval = (float)d;
    return -1;
}

static int o_stride(cli_config *c, const char *a)
{
    long v;
    if (!parse_long(a, 1, 1 << 20, &v))
        return usage_error("--stride: '%s' is not a whole number from 1 to "
                           "1048576", a);
    c->job.params.stride = (int)v;
    return -1;
}

static int o_dilation(cli_config *c, const char *a)
{
    long v;
    if (!parse_long(a, 1, 1 << 20, &v))
        return usage_error("--dilation: '%s' is not a whole number from 1 "
                           "to 1048576", a);
    c->job.params.dilation = (int)v;
    return -1;
}

static int o_resize(cli_config *c, const char *a)
{
    const char *x = strchr(a, 'x');
    char buf[32];
    long w, h;
    if (!x || (size_t)(x - a) >= sizeof buf)
        return usage_error("--resize: '%s' is not WxH", a);
    memcpy(buf, a, (size_t)(x - a));
    buf[x - a] = '\0';
    if (!parse_long(buf, 1, 1 << 20, &w) || !parse_long(x + 1, 1, 1 << 20, &h))
        return usage_error("--resize: '%s' is not WxH (1 to 1048576 each)", a);
    c->job.resize_w = (int)w;
    c->job.resize_h = (int)h;
    return -1;
}

static int o_resize_filter(cli_config *c, const char *a)
{
    int f;
    for (f = 0; clconv_resize_filter_name((clconv_resize_filter)f); f++)
        if (strcmp(a, clconv_resize_filter_name((clconv_resize_filter)f)) == 0) {
            c->job.resize_filter = (clconv_resize_filter)f;
            return -1;
        }
    return usage_error("--resize-filter: '%s' is not nearest, box, bilinear, hamming, "
                       "bicubic or lanczos", a);
}

static int o_format(cli_config *c, const char *a)
{
    const clconv__format *f;
    char names[128], msg[200];
    for (f = clconv__formats; f->name; f++)
        if (f->encode && strlen(a) == strcspn(f->exts, "|") &&
            strncmp(a, f->exts, strlen(a)) == 0) {
            c->format = a;
            return -1;
        }
    clconv__format_names(names, sizeof names, 1, "", ", ", " or ");
    snprintf(msg, sizeof msg, "--format: '%%s' is not %s", names);
    return usage_error(msg, a);
}

static int o_map(cli_config *c, const char *a)
{
    if (strcmp(a, "clamp") == 0) c->job.map = CLCONV_MAP_CLAMP;
    else if (strcmp(a, "abs") == 0) c->job.map = CLCONV_MAP_ABS;
    else if (strcmp(a, "normalize") == 0) c->job.map = CLCONV_MAP_NORMALIZE;
    else return usage_error("--map: '%s' is not clamp, abs or normalize", a);
    return -1;
}

static int o_depth(cli_config *c, const char *a)
{
    if (strcmp(a, "auto") == 0) c->job.depth = CLCONV_DEPTH_AUTO;
    else if (strcmp(a, "8") == 0) c->job.depth = CLCONV_DEPTH_8;
    else if (strcmp(a, "16") == 0) c->job.depth = CLCONV_DEPTH_16;
    else if (strcmp(a, "float") == 0) c->job.depth = CLCONV_DEPTH_FLOAT;
    else return usage_error("--depth: '%s' is not auto, 8, 16 or float", a);
    return -1;
}

static int o_color(cli_config *c, const char *a)
{
    (void)a;
    c->job.color = 1;
    return -1;
}

static int o_alpha(cli_config *c, const char *a)
{
    if (strcmp(a, "keep") == 0) c->job.alpha = CLCONV_ALPHA_KEEP;
    else if (strcmp(a, "filter") == 0) c->job.alpha = CLCONV_ALPHA_FILTER;
    else if (strcmp(a, "drop") == 0) c->job.alpha = CLCONV_ALPHA_DROP;
    else return usage_error("--alpha: '%s' is not keep, filter or drop", a);
    return -1;
}

/* --scale and --offset: a whole-string finite number into *v. */
static int affine_value(cli_config *c, const char *a, const char *name, double *v)
{
    char *e, fmt[64];
    errno = 0;
    *v = strtod(a, &e);
    if (!a[0] || *e || errno || !isfinite(*v)) {
        snprintf(fmt, sizeof fmt, "%s: '%%s' is not a finite number", name);
        return usage_error(fmt, a);
    }
    c->job.affine = 1;
    return -1;
}
static int o_scale(cli_config *c, const char *a) { return affine_value(c, a, "--scale", &c->job.scale); }
static int o_offset(cli_config *c, const char *a) { return affine_value(c, a, "--offset", &c->job.offset); }

int cli_check_depth(const cli_config *c, const char *output_file)
{
    char path[64], msg[256];
    const char *names[] = {"auto", "8", "16", "", "float"};
    const clconv__format *f;
    if (c->job.depth == CLCONV_DEPTH_AUTO) return -1;
    if (!output_file) snprintf(path, sizeof path, "x.%s", c->format);
    f = clconv__format_by_name(output_file ? output_file : path, 1);
    if (!f || clconv__format_depth(f, (clconv_depth)c->job.depth, CLCONV_DEPTH_8))
        return -1;
    snprintf(msg, sizeof msg, "--depth %s: %s output '%%s' holds %s samples only",
             names[c->job.depth / 8], f->name,
             f->depths == (CLCONV__D8 | CLCONV__D16) ? "8- or 16-bit"
             : f->depths == CLCONV__DF ? "float32" : "8-bit");
    return usage_error(msg, output_file ? output_file : path + 1);
}

static int o_quality(cli_config *c, const char *a)
{
    long v;
    if (!parse_long(a, 1, 100, &v))
        return usage_error("--quality: '%s' is not a number from 1 to 100", a);
    c->job.quality = (int)v;
    return -1;
}

static int o_max_pixels(cli_config *c, const char *a)
{
    long v;
    if (!parse_long(a, 1, LONG_MAX, &v))
        return usage_error("--max-pixels: '%s' is not a number >= 1", a);
    c->job.max_pixels = v;
    return -1;
}

static int o_max_pages(cli_config *c, const char *a)
{
    long v;
    if (!parse_long(a, 1, LONG_MAX, &v))
        return usage_error("--max-pages: '%s' is not a number >= 1", a);
    c->job.max_pages = v;
    return -1;
}

/* "auto | naive | ... | fft" (sep " | ") or "auto, naive, ... or fft". */
static void kernel_names(char *buf, size_t n, const char *sep, const char *last)
{
    size_t used = (size_t)snprintf(buf, n, "auto");
    int i;
    for (i = 0; clconv__variant_name(i) && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s",
                                 clconv__variant_name(i + 1) ? sep : last,
                                 clconv__variant_name(i));
}

/* --kernel K, or CLCONV_KERNEL=K (`what`): the same names, the same
 * refusal, so that a misspelt variable is not silently auto. */
static int set_kernel(cli_config *c, const char *a, const char *what)
{
    char names[128], msg[200];
    if (strcmp(a, "auto") == 0 || clconv__variant_of(a) >= 0) {
        c->kernel = a;
        return -1;
    }
    kernel_names(names, sizeof names, ", ", " or ");
    snprintf(msg, sizeof msg, "%s: '%%s' is not %s", what, names);
    return usage_error(msg, a);
}

static int o_kernel(cli_config *c, const char *a)
{
    return set_kernel(c, a, "--kernel");
}

/* ---------------------------------------------------------------- the table */

enum { S_FILTER, S_GEOMETRY, S_INPUTS, S_OUTPUT, S_DEVICE, S_RUN, S_COUNT };
static const char *const sections[S_COUNT] = {
    "Filter:", "Geometry:",
    "Inputs (image files, directories of images, or '-' for paths on stdin):",
    "Output:", "Device:", "Run:"};

/* A help text of "@formats" or "@kernels" is made from the format table
 * or the kernel registry. */
typedef struct opt_row {
    const char *name;
    char short_name;  /* 0: none */
    const char *arg;  /* NULL: takes none */
    int section;
    const char *help; /* lines split by '\n' */
    opt_fn fn;
} opt_row;

static const opt_row table[] = {
    {"filter", 'f', "SPEC", S_FILTER,
     "a preset (--list-filters), @FILE (a text matrix, one\n"
     "row a line) or an inline matrix \"0,-1,0;-1,5,-1;0,-1,0\"", o_filter},
    {"flip", 0, NULL, S_FILTER,
     "true convolution: rotate the filter by 180 degrees\n"
     "(default: correlation, no flip)", o_flip},
    {"padding", 0, "MODE", S_GEOMETRY, "same | valid | N (N pixels on every side) (same)", o_padding},
    {"border", 0, "MODE", S_GEOMETRY,
     "constant | edge | reflect | symmetric | wrap, as\nnumpy.pad (constant)", o_border},
    {"cval", 0, "V", S_GEOMETRY, "value of the constant border (0)", o_cval},
    {"stride", 0, "N", S_GEOMETRY, "step between output pixels (1)", o_stride},
    {"dilation", 0, "N", S_GEOMETRY, "spacing between filter taps (1)", o_dilation},
    {"resize", 0, "WxH", S_GEOMETRY,
     "resize the image (each channel under --color) before\nfiltering, as Pillow's Image.resize (off)", o_resize},
    {"resize-filter", 0, "NAME", S_GEOMETRY,
     "nearest | box | bilinear | hamming | bicubic | lanczos,\nPillow's filters (bicubic)",
     o_resize_filter},
    {"color", 0, NULL, S_GEOMETRY,
     "filter RGB(A) channel by channel instead of the\ngray (luma) image (off)", o_color},
    {"alpha", 0, "MODE", S_GEOMETRY,
     "keep | filter | drop: the alpha under --color; keep\ncarries it through unfiltered (keep)",
     o_alpha},
    {"recursive", 'r', NULL, S_INPUTS,
     "walk directories below the ones given; outputs keep\ntheir relative paths (off)",
     o_recursive},
    {"inputs-from", 0, "FILE", S_INPUTS, "read input paths from FILE, one a line ('-': stdin)",
     o_from},
    {"null", '0', NULL, S_INPUTS,
     "input lists (--inputs-from, '-') are NUL-separated,\nnames taken as they are (off)",
     o_null},
    {"shard", 0, "I/N", S_INPUTS,
     "do only part I of N of the sorted inputs, or 'auto'\nfrom Slurm/Kubernetes job arrays (all)",
     o_shard},
    {"skip-existing", 0, NULL, S_INPUTS, "leave inputs whose output exists alone, to resume (off)",
     o_skip},
    {"output", 'o', "PATH", S_OUTPUT,
     "a file for one input; a directory for several or\nwhen PATH ends in '/' (required)",
     o_output},
    {"side-by-side", 0, "F", S_OUTPUT,
     "also write the input and the output side by side\ninto F, for one input (off)", o_side},
    {"format", 0, "EXT", S_OUTPUT, "@formats", o_format},
    {"map", 0, "MODE", S_OUTPUT,
     "clamp | abs | normalize: float to the output's\ninteger depth (clamp)", o_map},
    {"depth", 0, "D", S_OUTPUT,
     "auto | 8 | 16 | float: the output's sample depth;\n"
     "auto keeps the input's where the format holds it (auto)", o_depth},
    {"scale", 0, "S", S_OUTPUT, "out = S * v + O before the mapping and in .npy (1)",
     o_scale},
    {"offset", 0, "O", S_OUTPUT, "O of --scale; --offset 128 shows signed results (0)",
     o_offset},
    {"quality", 0, "N", S_OUTPUT, "JPEG quality 1..100 (95)", o_quality},
    {"device", 0, "DEV", S_DEVICE,
     "auto | all | cpu | opencl[:P[:D]] (auto; also\n$CLCONV_DEVICE)", o_device},
    {"kernel", 0, "K", S_DEVICE, "@kernels", o_kernel},
    {"verify", 0, "[=MODE]", S_DEVICE,
     "check device results against the CPU reference: full\n"
     "(every pixel; --verify alone), sample (a few hundred\n"
     "pixels a image, corners and band seams among them; a\n"
     "wrong one retires the device under auto, else exit 3)\n"
     "or off (sample)", o_verify},
    {"list-devices", 0, NULL, S_DEVICE, "list the OpenCL devices and exit", o_list_devices},
    {"self-test", 0, NULL, S_DEVICE,
     "check every kernel path of the device against the CPU\n"
     "reference (seconds), a line each; exit 0, or 3 on a failure", o_self_test},
    {"tune", 0, NULL, S_DEVICE,
     "time the kernels, tile sizes and work-groups on the\n"
     "device (each checked against the CPU reference first)\n"
     "and keep the fastest for auto in the cache directory", o_tune},
    {"budget", 0, "SECONDS", S_DEVICE, "how long --tune may take (60)", o_budget},
    {"jobs", 'j', "N", S_RUN,
     "images in flight: worker threads that decode, filter\n"
     "and encode (number of CPUs, at least 2 per device)", o_jobs},
    {"max-pixels", 0, "N", S_RUN, "refuse images, --resize sizes, padded planes or\noutputs with more pixels (268435456)", o_max_pixels},
    {"max-pages", 0, "N", S_RUN, "refuse multi-page TIFF stacks of more pages,\nfrom the header (65536)", o_max_pages},
    {"quiet", 'q', NULL, S_RUN, "no messages but errors", o_quiet},
    {"json", 0, NULL, S_RUN, "a machine-readable report on stdout", o_json},
    {"list-filters", 0, NULL, S_RUN, "list the presets with their matrices and exit",
     o_list_filters},
    {"help", 'h', NULL, S_RUN, "this help", o_help},
    {"version", 'V', NULL, S_RUN, "the version", o_version},
};
#define NOPTS (sizeof table / sizeof table[0])

/* One row of --help: the names, then the help from HELP_COL on. */
static void help_row(const opt_row *o)
{
    char left[64], gen[256];
    const char *h = o->help;
    int n;
    const char *sep = o->arg && o->arg[0] != '[' ? " " : "";
    if (o->short_name)
        n = snprintf(left, sizeof left, "  -%c, --%s%s%s", o->short_name, o->name, sep,
                     o->arg ? o->arg : "");
    else
        n = snprintf(left, sizeof left, "      --%s%s%s", o->name, sep, o->arg ? o->arg : "");
    if (strcmp(h, "@formats") == 0) {
        char names[128];
        clconv__format_names(names, sizeof names, 1, "", " | ", " | ");
        snprintf(gen, sizeof gen, "%s, for directory outputs (png)", names);
        h = gen;
    } else if (strcmp(h, "@kernels") == 0) {
        char names[128];
        kernel_names(names, sizeof names, " | ", " | ");
        snprintf(gen, sizeof gen, "%s:\nforce a device kernel where it applies (auto)", names);
        h = gen;
    }
    printf("%s%*s", left, n < HELP_COL - 1 ? HELP_COL - n : 1, "");
    while (*h) {
        const size_t len = strcspn(h, "\n");
        printf("%.*s\n", (int)len, h);
        h += len;
        if (*h == '\n') {
            h++;
            printf("%*s", HELP_COL, "");
        }
    }
}

static int o_help(cli_config *c, const char *a)
{
    int s;
    size_t i;
    (void)c;
    (void)a;
    printf("%s", usage_line);
    printf("Filter grayscale images with a 2-D convolution on an OpenCL device (a GPU\n"
           "first), with a CPU reference path that is the fallback and the oracle.\n");
    for (s = 0; s < S_COUNT; s++) {
        printf("\n%s\n", sections[s]);
        for (i = 0; i < NOPTS; i++)
            if (table[i].section == s) help_row(&table[i]);
    }
    printf("\n"
           "Exit status: 0 all done; 1 some inputs failed (the others are done); 2 bad\n"
           "usage, filter or option value; 3 verification mismatch; 130 interrupted\n"
           "(finished outputs kept, nothing partial left).\n");
    return EXIT_DONE;
}

/* ---------------------------------------------------------------- parsing */

/* After the options: the device spec, the shard, what is required. */
static int check_config(cli_config *c)
{
    char err[CLI_ERR_MAX];
    if (c->budget > 0 && !c->tune)
        return usage_error("--budget: only with --tune%s", "");
    if (!c->self_test && !c->tune) {
        if (!c->filter_spec) return usage_error("%sno filter given (-f)", "");
        if (c->nargs == 0 && c->nfrom == 0) return usage_error("%sno input image given", "");
        if (!c->output) return usage_error("%sno output given (-o)", "");
    }
    if (c->job.alpha != CLCONV_ALPHA_KEEP && !c->job.color)
        return usage_error("--alpha %s: only with --color (gray mode ignores alpha)",
                           c->job.alpha == CLCONV_ALPHA_DROP ? "drop" : "filter");
    if (!c->device || !*c->device) c->device = "auto";
    if (strcmp(c->device, "all") == 0) c->dev_kind = DEV_ALL;
    else if (strcmp(c->device, "auto") == 0) c->dev_kind = DEV_AUTO;
    else if (strcmp(c->device, "cpu") == 0) c->dev_kind = DEV_CPU;
    else {
        const char *s;
        long p = -1, d = -1;
        char buf[32];
        const char *colon;
        c->dev_kind = DEV_OPENCL;
        if (strncmp(c->device, "opencl", 6) != 0) goto bad_device;
        s = c->device + 6;
        if (*s && *s != ':') goto bad_device;
        if (*s) {
            s++;
            colon = strchr(s, ':');
            if (colon) {
                if ((size_t)(colon - s) >= sizeof buf) goto bad_device;
                memcpy(buf, s, (size_t)(colon - s));
                buf[colon - s] = '\0';
                if (!parse_long(buf, 0, 1000, &p) || !parse_long(colon + 1, 0, 1000, &d))
                    goto bad_device;
            } else if (!parse_long(s, 0, 1000, &p)) {
                goto bad_device;
            }
        }
        c->dev_p = (int)p;
        c->dev_d = (int)d;
    }
    if (c->shard && cli_shard_parse(c->shard, &c->shard_i, &c->shard_n, err) != 0)
        return usage_msg(err);
    return -1;
bad_device:
    return usage_error("--device: '%s' is not auto, all, cpu or opencl[:P[:D]]", c->device);
}

int cli_parse(int argc, char **argv, cli_config *c)
{
    struct option opts[NOPTS + 1];
    char shorts[3 * NOPTS + 1];
    size_t i, ns = 0;
    int ch, rc;

    memset(c, 0, sizeof *c);
    clconv_job_init(&c->job);
    c->format = "png";
    c->kernel = "auto";
    c->device = getenv("CLCONV_DEVICE");
    c->dev_p = c->dev_d = -1;
    c->shard_n = 1;
    if (getenv("CLCONV_KERNEL") && *getenv("CLCONV_KERNEL") &&
        (rc = set_kernel(c, getenv("CLCONV_KERNEL"), "CLCONV_KERNEL")) >= 0)
        return rc;
    {
        /* The spot check's pixels: CLCONV_VERIFY_SEED repeats a run's. */
        const char *vs = getenv("CLCONV_VERIFY_SEED");
        struct timespec ts;
        char *e;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->job.verify_seed = ((unsigned long long)ts.tv_sec * 1000000007ULL) ^
                             (unsigned long long)ts.tv_nsec ^
                             ((unsigned long long)getpid() << 32);
        if (vs && *vs) {
            errno = 0;
            c->job.verify_seed = strtoull(vs, &e, 0);
            if (errno || *e || vs[0] == '-')
                return usage_error("CLCONV_VERIFY_SEED: '%s' is not a whole "
                                   "number from 0 to 2^64-1", vs);
        }
    }
    c->from = calloc((size_t)argc + 1, sizeof *c->from);
    if (!c->from) return EXIT_SOME_FAILED;
    for (i = 0; i < NOPTS; i++) {
        opts[i].name = table[i].name;
        opts[i].has_arg = !table[i].arg ? no_argument
                          : table[i].arg[0] == '[' ? optional_argument : required_argument;
        opts[i].flag = NULL;
        opts[i].val = table[i].short_name ? table[i].short_name : 256 + (int)i;
        if (table[i].short_name) {
            shorts[ns++] = table[i].short_name;
            if (table[i].arg) shorts[ns++] = ':';
        }
    }
    memset(&opts[NOPTS], 0, sizeof opts[NOPTS]);
    shorts[ns] = '\0';
    opterr = 0;
    while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        const opt_row *o = NULL;
        if (ch >= 256 && ch < 256 + (int)NOPTS) o = &table[ch - 256];
        for (i = 0; !o && i < NOPTS; i++)
            if (table[i].short_name && table[i].short_name == ch) o = &table[i];
        if (!o) {
            if (optopt && optopt < 256)
                return usage_error("unknown option or missing value: '-%s'",
                                   (char[]){(char)optopt, 0});
            return usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
        }
        rc = o->fn(c, optarg);
        if (rc >= 0) return rc;
    }
    c->args = argv + optind;
    c->nargs = argc - optind;
    return check_config(c);
}

void cli_config_free(cli_config *c)
{
    free(c->from);
    c->from = NULL;
}

int cli_make_filter(const cli_config *c, clconv_filter **out)
{
    char err[CLCONV_ERR_MAX];
    clconv_filter *f = NULL, *flipped = NULL;
    *out = NULL;
    if (clconv_filter_parse(c->filter_spec, &f, err) != CLCONV_OK) {
        cli_err("%s", err);
        return EXIT_USAGE;
    }
    if (c->flip) {
        clconv_status st = clconv_filter_flip(f, &flipped, err);
        clconv_filter_destroy(f);
        if (st != CLCONV_OK) {
            cli_err("%s", err);
            return EXIT_USAGE;
        }
        f = flipped;
    }
    *out = f;
    return EXIT_DONE;
}
