/* clconv_bench.c — how fast the device path is, and how close to the memory
 * limit: per image size and filter size it times the kernel alone (OpenCL
 * profiling events), the transfers, and an in-memory image end to end (pad +
 * device + result on the host), and compares the kernel's effective bandwidth
 * with a copy-bandwidth probe measured on the same device in the same run.
 *
 * Then the same from the unpadded image with the border read on the device
 * (clconv_conv_cl_image, what the CLI runs): from the float plane (dpk_ms
 * kernel, dp_e2e end to end) and from bytes when the image is 8-bit (u8k_ms,
 * u8_e2e).
 *
 * Every figure is the median of --reps runs after --warmup runs.
 *   effective GB/s = (padded input bytes read once + output bytes written) / kernel time
 *   copy GB/s      = (bytes read + bytes written) / time of clEnqueueCopyBuffer
 */
#define _POSIX_C_SOURCE 200809L
#include "clconv.h"

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIST 16

typedef struct options {
    int sizes[MAX_LIST], nsizes;
    int ksizes[MAX_LIST], nksizes;
    int reps, warmup;
    const char *kind;        /* dense | gauss | ones */
    const char *filter_spec; /* one filter instead of the generated ones */
    const char *input;       /* an image file instead of random pixels */
    const char *variant;     /* sets CLCONV_KERNEL for the library */
    int platform, device;
    int csv, check, no_e2e;
    long long copy_mib;
    int batch, jobs;         /* --batch N: the pipeline comparison, N images
                                per batch on --jobs threads */
} options;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n values (sorts them in place). */
static double median(double *v, int n)
{
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double event_ms(cl_event ev)
{
    cl_ulong a = 0, b = 0;
    clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL);
    clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL);
    return b > a ? (double)(b - a) * 1e-6 : 0;
}

/* "1024,4096" into a list of positive ints; 0 on junk. */
static int parse_list(const char *s, int *out, int *n)
{
    char *end;
    *n = 0;
    while (*s) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1 << 20 || *n >= MAX_LIST) return 0;
        out[(*n)++] = (int)v;
        if (*end == ',') end++;
        else if (*end) return 0;
        s = end;
    }
    return *n > 0;
}

static void usage(FILE *fp)
{
    fprintf(fp,
        "Usage: clconv-bench [options]\n"
        "  --sizes LIST      image sides, square (1024,4096,8192)\n"
        "  --filters LIST    filter sides, square (3,5,9,15,31)\n"
        "  --kind KIND       generated filters: dense (integer, not separable;\n"
        "                    default), gauss (gaussian:N, separable), ones\n"
        "                    (integer, separable), random (integer taps -4..4 from\n"
        "                    a fixed seed, not separable: passes the FFT path's\n"
        "                    accuracy gate up to 63x63, dense does to about 31x31)\n"
        "  --filter SPEC     one filter as clconv -f takes it, instead of --filters\n"
        "  --input FILE      one image file instead of random 8-bit pixels\n"
        "  --reps N          timed runs per case, median reported (10)\n"
        "  --warmup N        untimed runs first (2)\n"
        "  --variant NAME    force the kernel: sets CLCONV_KERNEL (auto)\n"
        "  --device P:D      OpenCL platform and device (auto)\n"
        "  --copy-mib N      size of the copy-bandwidth probe buffer (256)\n"
        "  --no-e2e          skip the end-to-end timing\n"
        "  --check           verify one result per case against the reference\n"
        "  --csv             comma-separated output\n"
        "  --batch N         instead of the table: batches of N images of each\n"
        "                    --sizes side (8-bit, border on the device), on\n"
        "                    --jobs threads sharing one device, the pipelined\n"
        "                    path against the serial one (CLCONV_PIPELINE=0)\n"
        "                    interleaved, float and 8-bit outputs; per-stage\n"
        "                    times and the device's busy share. The pipeline\n"
        "                    runs where zero-copy is off (CLCONV_ZERO_COPY=0)\n"
        "  --jobs N          threads for --batch (2)\n");
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"sizes", required_argument, 0, 's'}, {"filters", required_argument, 0, 'f'},
        {"kind", required_argument, 0, 'k'}, {"filter", required_argument, 0, 'F'},
        {"input", required_argument, 0, 'i'}, {"reps", required_argument, 0, 'r'},
        {"warmup", required_argument, 0, 'w'}, {"variant", required_argument, 0, 'v'},
        {"device", required_argument, 0, 'd'}, {"copy-mib", required_argument, 0, 'm'},
        {"no-e2e", no_argument, 0, 'E'}, {"check", no_argument, 0, 'c'},
        {"csv", no_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
        {"batch", required_argument, 0, 'b'}, {"jobs", required_argument, 0, 'j'},
        {0, 0, 0, 0}};
    int c;
    char *end;
    memset(o, 0, sizeof *o);
    parse_list("1024,4096,8192", o->sizes, &o->nsizes);
    parse_list("3,5,9,15,31", o->ksizes, &o->nksizes);
    o->reps = 10;
    o->warmup = 2;
    o->kind = "dense";
    o->platform = o->device = -1;
    o->copy_mib = 256;
    o->jobs = 2;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 's': if (!parse_list(optarg, o->sizes, &o->nsizes)) goto bad; break;
        case 'f': if (!parse_list(optarg, o->ksizes, &o->nksizes)) goto bad; break;
        case 'k':
            if (strcmp(optarg, "dense") && strcmp(optarg, "gauss") && strcmp(optarg, "ones") &&
                strcmp(optarg, "random"))
                goto bad;
            o->kind = optarg;
            break;
        case 'F': o->filter_spec = optarg; break;
        case 'i': o->input = optarg; break;
        case 'r': o->reps = (int)strtol(optarg, &end, 10); if (*end || o->reps < 1) goto bad; break;
        case 'w': o->warmup = (int)strtol(optarg, &end, 10); if (*end || o->warmup < 0) goto bad; break;
        case 'v': o->variant = optarg; break;
        case 'd':
            o->platform = (int)strtol(optarg, &end, 10);
            o->device = 0;
            if (*end == ':') o->device = (int)strtol(end + 1, &end, 10);
            if (*end || o->platform < 0 || o->device < 0) goto bad;
            break;
        case 'm': o->copy_mib = strtoll(optarg, &end, 10); if (*end || o->copy_mib < 1) goto bad; break;
        case 'E': o->no_e2e = 1; break;
        case 'c': o->check = 1; break;
        case 'C': o->csv = 1; break;
        case 'b': o->batch = (int)strtol(optarg, &end, 10); if (*end || o->batch < 1) goto bad; break;
        case 'j': o->jobs = (int)strtol(optarg, &end, 10); if (*end || o->jobs < 1 || o->jobs > 64) goto bad; break;
        case 'h': usage(stdout); exit(0);
        default: goto bad;
        }
    }
    if (optind != argc) goto bad;
    return 1;
bad:
    fprintf(stderr, "clconv-bench: bad usage\n");
    usage(stderr);
    return 0;
}

/* The generated n x n filter of a kind. "dense" is an integer filter of rank
 * > 1 (so no separable shortcut applies) with taps in -3..3; "random" one
 * with pseudo-random taps in -4..4 (a flatter spectrum: see host/conv_fft.c's
 * accuracy gate). */
static clconv_filter *make_filter(const char *kind, int n, char *err)
{
    clconv_filter *f = NULL;
    char spec[64];
    double *t;
    int i, j;
    if (strcmp(kind, "gauss") == 0) {
        snprintf(spec, sizeof spec, "gaussian:%d", n);
        return clconv_filter_parse(spec, &f, err) == CLCONV_OK ? f : NULL;
    }
    t = malloc((size_t)n * n * sizeof *t);
    if (!t) return NULL;
    {
        unsigned long long x = 0x9E3779B97F4A7C15ULL;
        for (i = 0; i < n; i++)
            for (j = 0; j < n; j++) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                t[i * n + j] = strcmp(kind, "ones") == 0     ? 1.0
                               : strcmp(kind, "random") == 0 ? (double)((int)((x >> 33) % 9) - 4)
                               : (double)((i * 5 + j * 3 + (i * j) % 7) % 7 - 3);
            }
    }
    snprintf(spec, sizeof spec, "%s%dx%d", kind, n, n);
    if (clconv_filter_create(n, n, t, spec, &f, err) != CLCONV_OK) f = NULL;
    free(t);
    return f;
}

/* The copy-bandwidth probe: two buffers on the same device, in a context of
 * its own. One copy runs after every timed kernel, so the kernel and the
 * probe see the same machine load (this machine is shared). */
typedef struct probe {
    cl_context ctx;
    cl_command_queue q;
    cl_mem a, b;
    size_t bytes;
    cl_program prog;
    cl_kernel copy; /* the same copy as a kernel: every compute unit moves data */
} probe;

/* clEnqueueCopyBuffer may run on one host thread (PoCL does), so the probe
 * also times the copy as a kernel, 16 floats per work-item. */
static const char *probe_src =
    "__kernel void copy16(__global const float *restrict a, __global float *restrict b)\n"
    "{ size_t i = get_global_id(0); vstore16(vload16(i, a), i, b); }\n";

static void probe_close(probe *p)
{
    if (p->copy) clReleaseKernel(p->copy);
    if (p->prog) clReleaseProgram(p->prog);
    if (p->a) clReleaseMemObject(p->a);
    if (p->b) clReleaseMemObject(p->b);
    if (p->q) clReleaseCommandQueue(p->q);
    if (p->ctx) clReleaseContext(p->ctx);
    memset(p, 0, sizeof *p);
}

static int probe_open(probe *p, int platform, int device, size_t bytes)
{
    cl_platform_id pl[16];
    cl_device_id dv[16];
    cl_uint np = 0, nd = 0;
    cl_int e;
    const float zero = 0.0f;
    memset(p, 0, sizeof *p);
    p->bytes = bytes;
    if (clGetPlatformIDs(16, pl, &np) != CL_SUCCESS || (cl_uint)platform >= np ||
        clGetDeviceIDs(pl[platform], CL_DEVICE_TYPE_ALL, 16, dv, &nd) != CL_SUCCESS ||
        (cl_uint)device >= nd)
        return 0;
    p->ctx = clCreateContext(NULL, 1, &dv[device], NULL, NULL, &e);
    if (e == CL_SUCCESS)
        p->q = clCreateCommandQueue(p->ctx, dv[device], CL_QUEUE_PROFILING_ENABLE, &e);
    if (e == CL_SUCCESS) p->a = clCreateBuffer(p->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (e == CL_SUCCESS) p->b = clCreateBuffer(p->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
    /* Touch both buffers first, so no page fault is timed. */
    if (e == CL_SUCCESS)
        e = clEnqueueFillBuffer(p->q, p->a, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    if (e == CL_SUCCESS)
        e = clEnqueueFillBuffer(p->q, p->b, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    if (e == CL_SUCCESS) e = clFinish(p->q);
    if (e == CL_SUCCESS) p->prog = clCreateProgramWithSource(p->ctx, 1, &probe_src, NULL, &e);
    if (e == CL_SUCCESS) e = clBuildProgram(p->prog, 1, &dv[device], "", NULL, NULL);
    if (e == CL_SUCCESS) p->copy = clCreateKernel(p->prog, "copy16", &e);
    if (e == CL_SUCCESS) e = clSetKernelArg(p->copy, 0, sizeof(cl_mem), &p->a);
    if (e == CL_SUCCESS) e = clSetKernelArg(p->copy, 1, sizeof(cl_mem), &p->b);
    if (e != CL_SUCCESS) {
        probe_close(p);
        return 0;
    }
    return 1;
}

/* One copy: (bytes read + bytes written) / time, in GB/s; NAN on failure. */
static double probe_copy(probe *p)
{
    cl_event ev;
    double ms;
    if (!p->q || clEnqueueCopyBuffer(p->q, p->a, p->b, 0, 0, p->bytes, 0, NULL, &ev) != CL_SUCCESS)
        return NAN;
    clWaitForEvents(1, &ev);
    ms = event_ms(ev);
    clReleaseEvent(ev);
    return ms > 0 ? 2.0 * (double)p->bytes / (ms * 1e6) : NAN;
}

static volatile char sink;

/* One copy by the copy16 kernel, in GB/s as probe_copy; NAN on failure. */
static double probe_kernel(probe *p)
{
    const size_t gsz = p->bytes / (16 * sizeof(float)), lsz = 64;
    cl_event ev;
    double ms;
    if (!p->copy || clEnqueueNDRangeKernel(p->q, p->copy, 1, NULL, &gsz, gsz % lsz ? NULL : &lsz,
                                           0, NULL, &ev) != CL_SUCCESS)
        return NAN;
    clWaitForEvents(1, &ev);
    ms = event_ms(ev);
    clReleaseEvent(ev);
    return ms > 0 ? 2.0 * (double)p->bytes / (ms * 1e6) : NAN;
}

/* Host memcpy bandwidth over `bytes`, one thread, median of reps (context
 * only: the targets are against the device's own copy). */
static double host_copy(size_t bytes, int reps)
{
    char *a = malloc(bytes), *b = malloc(bytes);
    double *t = calloc((size_t)reps, sizeof *t), r = NAN;
    int i;
    if (a && b && t) {
        memset(a, 1, bytes);
        memset(b, 2, bytes);
        for (i = -2; i < reps; i++) {
            double t0 = now_ms();
            memcpy(i % 2 ? a : b, i % 2 ? b : a, bytes);
            if (i >= 0) t[i] = now_ms() - t0;
        }
        r = 2.0 * (double)bytes / (median(t, reps) * 1e6);
        sink = a[bytes / 2] + b[bytes / 3]; /* the copies are used */
    }
    free(a);
    free(b);
    free(t);
    return r;
}

/* Random 8-bit pixels as floats, as a decoded gray image holds them. */
static int make_image(int w, int h, clconv_plane *p)
{
    size_t i, n = (size_t)w * (size_t)h;
    unsigned long long s = 0x9E3779B97F4A7C15ULL;
    if (clconv_plane_alloc(p, w, h) != CLCONV_OK) return 0;
    for (i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p->data[i] = (float)(s >> 56);
    }
    return 1;
}

typedef struct row {
    int w, h, kw, kh;
    double kernel_ms, up_ms, down_ms, call_ms, pad_ms, e2e_ms, copy_gbs, kcopy_gbs;
    /* From the unpadded image, border on the device (clconv_conv_cl_image):
     * [0] float source, [1] 8-bit source (NAN when the image is not 8-bit). */
    double src_kernel_ms[2], src_e2e_ms[2];
    long long bytes;
    const char *check;
    char check_buf[96];
    const char *ran; /* the kernel that ran (timing.kernel) */
} row;

/* Checks `dev` against the reference: "exact", "ok (max err ...)" or "BAD". */
static void check_result(const clconv_plane *padded, const clconv_filter *f,
                         const clconv_geometry *g, const clconv_plane *dev,
                         row *r)
{
    clconv_plane ref = {0, 0, NULL}, as = {0, 0, NULL};
    clconv_verify_result vr;
    size_t i, n = (size_t)g->out_w * (size_t)g->out_h, diff = 0;
    r->check = "n/a";
    if (clconv_plane_alloc(&ref, g->out_w, g->out_h) != CLCONV_OK ||
        clconv_plane_alloc(&as, g->out_w, g->out_h) != CLCONV_OK ||
        clconv_conv_ref(padded, f, g, &ref, &as) != CLCONV_OK)
        goto cleanup;
    clconv_verify(dev, &ref, &as, g->kw * g->kh, &vr);
    for (i = 0; i < n; i++) diff += dev->data[i] != ref.data[i];
    if (vr.bad)
        snprintf(r->check_buf, sizeof r->check_buf, "BAD %lld px (max err %.3g)",
                 vr.bad, vr.max_abs_err);
    else if (diff == 0)
        snprintf(r->check_buf, sizeof r->check_buf, "exact");
    else
        snprintf(r->check_buf, sizeof r->check_buf, "ok, %zu px differ, max %.3g",
                 diff, vr.max_abs_err);
    r->check = r->check_buf;
cleanup:
    clconv_plane_free(&ref);
    clconv_plane_free(&as);
}

/* The image as bytes when every pixel is an integer in 0..255. */
static int to_u8(const clconv_plane *img, clconv_image8 *img8)
{
    size_t i, n = (size_t)img->width * (size_t)img->height;
    if (img8->data) return 1;
    for (i = 0; i < n; i++)
        if (!(img->data[i] >= 0 && img->data[i] <= 255) ||
            img->data[i] != (float)(int)img->data[i])
            return 0;
    img8->data = malloc(n);
    if (!img8->data) return 0;
    img8->width = img->width;
    img8->height = img->height;
    for (i = 0; i < n; i++) img8->data[i] = (unsigned char)img->data[i];
    return 1;
}

/* One case: kernel, transfer and end-to-end medians. 0 on failure. */
static int run_case(clconv_cl *cl, probe *pr, const options *o,
                    const clconv_plane *img, const clconv_filter *f, row *r,
                    char *err)
{
    clconv_params prm;
    clconv_geometry g;
    clconv_plane padded = {0, 0, NULL}, out = {0, 0, NULL};
    clconv_cl_timing tm;
    double *k = calloc((size_t)o->reps, sizeof *k), *u = calloc((size_t)o->reps, sizeof *u),
           *d = calloc((size_t)o->reps, sizeof *d), *c = calloc((size_t)o->reps, sizeof *c),
           *e = calloc((size_t)o->reps, sizeof *e), *pd = calloc((size_t)o->reps, sizeof *pd),
           *cp = calloc((size_t)o->reps, sizeof *cp), *kc = calloc((size_t)o->reps, sizeof *kc);
    clconv_image8 img8 = {0, 0, NULL};
    int i, src, ok = 0;

    memset(r, 0, sizeof *r);
    r->check = "-";
    clconv_params_init(&prm);
    if (!k || !u || !d || !c || !e || !pd || !cp || !kc) goto cleanup;
    if (clconv_geometry_compute(img->width, img->height, clconv_filter_width(f),
                                clconv_filter_height(f), &prm, &g, err) != CLCONV_OK ||
        clconv_pad(img, &g, &prm, &padded, err) != CLCONV_OK ||
        clconv_plane_alloc(&out, g.out_w, g.out_h) != CLCONV_OK)
        goto cleanup;
    r->w = img->width;
    r->h = img->height;
    r->kw = g.kw;
    r->kh = g.kh;
    r->bytes = ((long long)g.padded_w * g.padded_h + (long long)g.out_w * g.out_h) *
               (long long)sizeof(float);
    for (i = -o->warmup; i < o->reps; i++) {
        double t0 = now_ms();
        if (clconv_conv_cl(cl, &padded, f, &g, &out, &tm, err) != CLCONV_OK) goto cleanup;
        if (i < 0) continue;
        c[i] = now_ms() - t0;
        k[i] = tm.kernel_ms;
        r->ran = tm.kernel;
        u[i] = tm.upload_ms;
        d[i] = tm.download_ms;
        cp[i] = probe_copy(pr);
        kc[i] = probe_kernel(pr);
    }
    r->kernel_ms = median(k, o->reps);
    r->up_ms = median(u, o->reps);
    r->down_ms = median(d, o->reps);
    r->call_ms = median(c, o->reps);
    r->copy_gbs = median(cp, o->reps);
    r->kcopy_gbs = median(kc, o->reps);
    if (o->check) check_result(&padded, f, &g, &out, r);
    clconv_plane_free(&padded);
    clconv_plane_free(&out);
    /* End to end: an in-memory image in, the float result in host memory out;
     * the planes are allocated per run, as the CLI does per image. */
    for (i = -(o->no_e2e ? o->reps + 1 : 1); i < (o->no_e2e ? 0 : o->reps); i++) {
        double t0 = now_ms(), t1;
        if (clconv_pad(img, &g, &prm, &padded, err) != CLCONV_OK) goto cleanup;
        t1 = now_ms();
        if (clconv_plane_alloc(&out, g.out_w, g.out_h) != CLCONV_OK ||
            clconv_conv_cl(cl, &padded, f, &g, &out, &tm, err) != CLCONV_OK)
            goto cleanup;
        if (i >= 0) {
            e[i] = now_ms() - t0;
            pd[i] = t1 - t0;
        }
        clconv_plane_free(&padded);
        clconv_plane_free(&out);
    }
    r->e2e_ms = o->no_e2e ? NAN : median(e, o->reps);
    r->pad_ms = o->no_e2e ? NAN : median(pd, o->reps);
    /* The same from the unpadded image, the border read on the device: from
     * floats, then from bytes (8-bit images only). The output plane is
     * allocated per run here too. */
    r->src_kernel_ms[0] = r->src_kernel_ms[1] = NAN;
    r->src_e2e_ms[0] = r->src_e2e_ms[1] = NAN;
    for (src = 0; src < 2 && !o->no_e2e; src++) {
        int fresh;
        if (src == 1 && !to_u8(img, &img8)) break;
        /* Kernel time with the output plane reused (a fresh one would add
         * its first-touch page faults to the kernel on host-memory devices),
         * then end to end with a fresh plane per run. */
        for (fresh = 0; fresh < 2; fresh++)
            for (i = -1; i < o->reps; i++) {
                double t0 = now_ms();
                if ((fresh || !out.data) &&
                    clconv_plane_alloc(&out, g.out_w, g.out_h) != CLCONV_OK)
                    goto cleanup;
                if (clconv_conv_cl_image(cl, src ? NULL : img, src ? &img8 : NULL,
                                         &prm, f, &g, &out, &tm, err) != CLCONV_OK)
                    goto cleanup;
                if (i >= 0 && fresh) e[i] = now_ms() - t0;
                if (i >= 0 && !fresh) k[i] = tm.kernel_ms;
                if (fresh || i == o->reps - 1) clconv_plane_free(&out);
            }
        r->src_e2e_ms[src] = median(e, o->reps);
        r->src_kernel_ms[src] = median(k, o->reps);
    }
    ok = 1;
cleanup:
    clconv_plane_free(&padded);
    clconv_plane_free(&out);
    free(k);
    free(u);
    free(d);
    free(c);
    free(e);
    free(pd);
    free(cp);
    free(kc);
    clconv_image8_free(&img8);
    return ok;
}

static void print_row(const options *o, const row *r)
{
    const double mpix = (double)r->w * r->h * 1e-6;
    const double gbs = (double)r->bytes / (r->kernel_ms * 1e6);
    if (o->csv) {
        printf("%d,%d,%d,%d,%s,%.4f,%.1f,%.2f,%.2f,%.1f,%.2f,%.1f,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f,%.4f,%.4f,%.4f,%.4f,%s,%s\n",
               r->w, r->h, r->kw, r->kh, o->variant ? o->variant : "auto",
               r->kernel_ms, mpix / r->kernel_ms * 1e3, gbs, r->copy_gbs,
               100.0 * gbs / r->copy_gbs, r->kcopy_gbs, 100.0 * gbs / r->kcopy_gbs,
               r->up_ms, r->down_ms, r->call_ms, r->pad_ms,
               r->e2e_ms, mpix / r->e2e_ms * 1e3, r->src_kernel_ms[0], r->src_e2e_ms[0],
               r->src_kernel_ms[1], r->src_e2e_ms[1], r->check, r->ran ? r->ran : "?");
    } else {
        printf("%5dx%-5d %3dx%-3d %9.3f %7.0f %6.2f %6.2f %4.0f%% %6.2f %4.0f%% %6.3f %6.3f %8.3f %7.2f %8.2f %7.0f %8.3f %8.2f %8.3f %8.2f  %s [%s]\n",
               r->w, r->h, r->kw, r->kh, r->kernel_ms, mpix / r->kernel_ms * 1e3, gbs,
               r->copy_gbs, 100.0 * gbs / r->copy_gbs, r->kcopy_gbs,
               100.0 * gbs / r->kcopy_gbs, r->up_ms, r->down_ms, r->call_ms,
               r->pad_ms, r->e2e_ms, mpix / r->e2e_ms * 1e3, r->src_kernel_ms[0],
               r->src_e2e_ms[0], r->src_kernel_ms[1], r->src_e2e_ms[1], r->check,
               r->ran ? r->ran : "?");
    }
    fflush(stdout);
}

/* The first three fields of /proc/loadavg, or "?": the machine may be shared. */
static const char *loadavg(char *buf, size_t n)
{
    FILE *fp = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, c = 0;
    if (!fp || fscanf(fp, "%lf %lf %lf", &a, &b, &c) != 3)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, "%.2f %.2f %.2f", a, b, c);
    if (fp) fclose(fp);
    return buf;
}

/* ------------------------------------------------------------ --batch */

/* One batch: n images through one device handle on `jobs` threads, as the
 * CLI's workers do (clconv_conv_cl_image from bytes, then the 8-bit mapping
 * on the host for 8-bit outputs; u8out 2: the 8-bit mapping on the device,
 * clconv_conv_cl_image_mapped, as the CLI's gray path does by default).
 * Sums of the per-image stage times. */
typedef struct batch {
    clconv_cl *cl;
    const clconv_image8 *img8;
    const clconv_params *prm;
    const clconv_filter *f;
    const clconv_geometry *g;
    int n, next, u8out, failed;
    double up, k, down, stage, wait, queue;
    pthread_mutex_t mu;
    char err[CLCONV_ERR_MAX];
} batch;

static void *batch_worker(void *arg)
{
    batch *b = arg;
    clconv_plane out = {0, 0, NULL};
    unsigned char *o8 = NULL;
    clconv_cl_timing tm;
    char err[CLCONV_ERR_MAX];
    if (clconv_plane_alloc(&out, b->g->out_w, b->g->out_h) != CLCONV_OK ||
        (b->u8out && !(o8 = malloc((size_t)b->g->out_w * (size_t)b->g->out_h)))) {
        pthread_mutex_lock(&b->mu);
        b->failed++;
        pthread_mutex_unlock(&b->mu);
        goto done;
    }
    for (;;) {
        clconv_status st;
        pthread_mutex_lock(&b->mu);
        const int i = b->next < b->n ? b->next++ : -1;
        pthread_mutex_unlock(&b->mu);
        if (i < 0) break;
        if (b->u8out == 2) {
            clconv_cl_mapped m;
            memset(&m, 0, sizeof m);
            m.bits = 8;
            m.map = CLCONV_MAP_CLAMP;
            m.data = o8;
            st = clconv_conv_cl_image_mapped(b->cl, NULL, b->img8, b->prm, b->f, b->g, &out,
                                             &m, &tm, err);
            if (st == CLCONV_OK && !m.mapped) {
                snprintf(err, sizeof err, "the device map declined: %.200s", m.why);
                st = CLCONV_E_INVALID;
            }
        } else {
            st = clconv_conv_cl_image(b->cl, NULL, b->img8, b->prm, b->f, b->g, &out, &tm, err);
            if (st == CLCONV_OK && b->u8out) clconv_plane_to_u8(&out, CLCONV_MAP_CLAMP, o8, NULL);
        }
        pthread_mutex_lock(&b->mu);
        if (st != CLCONV_OK) {
            b->failed++;
            snprintf(b->err, sizeof b->err, "%s", err);
        }
        b->up += tm.upload_ms;
        b->k += tm.kernel_ms;
        b->down += tm.download_ms;
        b->stage += tm.stage_ms;
        b->wait += tm.wait_ms;
        b->queue += tm.queue_ms;
        pthread_mutex_unlock(&b->mu);
    }
done:
    clconv_plane_free(&out);
    free(o8);
    return NULL;
}

/* Runs one batch; its wall time and the device's busy time over it. */
static int run_batch(batch *b, int jobs, double *wall, double *busy)
{
    pthread_t th[64];
    int i, started = 0;
    const double busy0 = clconv_cl_busy_ms(b->cl), t0 = now_ms();
    b->next = b->failed = 0;
    b->up = b->k = b->down = b->stage = b->wait = b->queue = 0;
    for (i = 1; i < jobs; i++)
        if (pthread_create(&th[started], NULL, batch_worker, b) == 0) started++;
    batch_worker(b);
    for (i = 0; i < started; i++) pthread_join(th[i], NULL);
    *wall = now_ms() - t0;
    *busy = clconv_cl_busy_ms(b->cl) - busy0;
    return b->failed == 0;
}

/* --batch: per size, float and 8-bit outputs, the serial path (a handle
 * opened with CLCONV_PIPELINE=0) and the pipelined one interleaved rep by
 * rep; medians of the batch wall time, the per-image stage times and the
 * device's busy share. */
static int batch_compare(const options *o)
{
    clconv_cl *cl[2] = {NULL, NULL};
    const char *label[2] = {"serial", "pipelined"};
    char err[CLCONV_ERR_MAX] = "", why[128], la[64];
    int m, si, rc = 1;
    const char *old = getenv("CLCONV_PIPELINE");
    char *keep = old ? strdup(old) : NULL;
    for (m = 0; m < 2; m++) {
        setenv("CLCONV_PIPELINE", m ? "1" : "0", 1);
        if (clconv_cl_open(o->platform, o->device, &cl[m], why, sizeof why, err) != CLCONV_OK) {
            fprintf(stderr, "clconv-bench: %s\n", err);
            goto cleanup;
        }
    }
    if (keep) setenv("CLCONV_PIPELINE", keep, 1); else unsetenv("CLCONV_PIPELINE");
    printf("clconv-bench --batch %d --jobs %d: device %s (%s), CLCONV_ZERO_COPY=%s; "
           "load average at start: %s\n", o->batch, o->jobs, clconv_cl_info(cl[0])->name,
           clconv_cl_info(cl[0])->platform_name,
           getenv("CLCONV_ZERO_COPY") ? getenv("CLCONV_ZERO_COPY") : "(unset)",
           loadavg(la, sizeof la));
    printf("per image (medians over %d reps, interleaved): upload, kernel, download (device "
           "events), stage (host copies to/from pinned memory), wait (for a device slot), "
           "queue (kernels queued before starting); batch wall time, images/s, device "
           "busy = union of kernel time / wall\n", o->reps);
    printf("%-11s %-6s %-6s %-9s %9s %8s %7s %7s %7s %7s %7s %7s %7s %6s\n", "image", "filter",
           "output", "path", "wall_ms", "img/s", "up_ms", "k_ms", "down_ms", "stage", "wait",
           "queue", "busy%", "gain");
    for (si = 0; si < o->nsizes; si++) {
        clconv_plane img = {0, 0, NULL};
        clconv_image8 img8 = {0, 0, NULL};
        clconv_filter *f = o->filter_spec ? NULL : make_filter(o->kind, o->ksizes[0], err);
        clconv_params prm;
        clconv_geometry g;
        int u8out;
        if (o->filter_spec && clconv_filter_parse(o->filter_spec, &f, err) != CLCONV_OK) f = NULL;
        clconv_params_init(&prm);
        if (!f || !make_image(o->sizes[si], o->sizes[si], &img) || !to_u8(&img, &img8) ||
            clconv_geometry_compute(img.width, img.height, clconv_filter_width(f),
                                    clconv_filter_height(f), &prm, &g, err) != CLCONV_OK) {
            fprintf(stderr, "clconv-bench: batch set-up failed: %s\n", err);
            clconv_filter_destroy(f);
            clconv_plane_free(&img);
            clconv_image8_free(&img8);
            goto cleanup;
        }
        clconv_plane_free(&img);
        for (u8out = 2; u8out >= 0; u8out--) {
            double *v[2][8];
            double med[2][8];
            int r, j, ok = 1;
            for (m = 0; m < 2; m++)
                for (j = 0; j < 8; j++) v[m][j] = calloc((size_t)o->reps, sizeof(double));
            for (r = -o->warmup; r < o->reps && ok; r++)
                for (m = 0; m < 2 && ok; m++) {
                    batch b;
                    double wall, busy;
                    memset(&b, 0, sizeof b);
                    pthread_mutex_init(&b.mu, NULL);
                    b.cl = cl[m];
                    b.img8 = &img8;
                    b.prm = &prm;
                    b.f = f;
                    b.g = &g;
                    b.n = o->batch;
                    b.u8out = u8out;
                    ok = run_batch(&b, o->jobs, &wall, &busy);
                    pthread_mutex_destroy(&b.mu);
                    if (!ok) fprintf(stderr, "clconv-bench: batch failed: %s\n", b.err);
                    if (r < 0 || !ok) continue;
                    v[m][0][r] = wall;
                    v[m][1][r] = b.up / b.n;
                    v[m][2][r] = b.k / b.n;
                    v[m][3][r] = b.down / b.n;
                    v[m][4][r] = b.stage / b.n;
                    v[m][5][r] = b.wait / b.n;
                    v[m][6][r] = b.queue / b.n;
                    v[m][7][r] = 100.0 * busy / wall;
                }
            for (m = 0; m < 2 && ok; m++) {
                for (j = 0; j < 8; j++) med[m][j] = median(v[m][j], o->reps);
                printf("%5dx%-5d %-6s %-6s %-9s %9.1f %8.2f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f "
                       "%6.1f%%", g.in_w, g.in_h, clconv_filter_name(f), u8out == 2 ? "8b-dev" : u8out ? "8-bit" : "float",
                       label[m], med[m][0], o->batch / med[m][0] * 1e3, med[m][1], med[m][2],
                       med[m][3], med[m][4], med[m][5], med[m][6], med[m][7]);
                if (m == 1) printf(" %5.2fx", med[0][0] / med[1][0]);
                printf("\n");
            }
            fflush(stdout);
            for (m = 0; m < 2; m++)
                for (j = 0; j < 8; j++) free(v[m][j]);
            if (!ok) {
                clconv_filter_destroy(f);
                clconv_image8_free(&img8);
                goto cleanup;
            }
        }
        clconv_filter_destroy(f);
        clconv_image8_free(&img8);
    }
    rc = 0;
cleanup:
    free(keep);
    clconv_cl_close(cl[0]);
    clconv_cl_close(cl[1]);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    char err[CLCONV_ERR_MAX] = "", why[128] = "", date[64], date2[64];
    clconv_cl *cl = NULL;
    const clconv_device_info *di;
    clconv_plane img = {0, 0, NULL};
    double copy_gbs[32], kcopy_gbs[32], host_gbs;
    size_t copy_bytes;
    probe pr;
    time_t tnow = time(NULL);
    int si, ki, rc = 1;

    if (!parse_options(argc, argv, &o)) return 2;
    if (o.variant && setenv("CLCONV_KERNEL", o.variant, 1) != 0) return 2;
    if (o.batch) return batch_compare(&o);
    if (clconv_cl_open(o.platform, o.device, &cl, why, sizeof why, err) != CLCONV_OK) {
        fprintf(stderr, "clconv-bench: %s\n", err);
        return 1;
    }
    di = clconv_cl_info(cl);
    copy_bytes = (size_t)o.copy_mib << 20;
    if (di->max_alloc && copy_bytes > di->max_alloc) copy_bytes = (size_t)di->max_alloc;
    if (!probe_open(&pr, di->platform, di->device, copy_bytes))
        fprintf(stderr, "clconv-bench: the copy-bandwidth probe failed\n");
    probe_copy(&pr);
    probe_kernel(&pr);
    for (si = 0; si < 32; si++) {
        copy_gbs[si] = probe_copy(&pr);
        kcopy_gbs[si] = probe_kernel(&pr);
    }
    host_gbs = host_copy(copy_bytes, 10);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&tnow));
    printf("%sclconv-bench %s, %s\n", o.csv ? "# " : "", CLCONV_VERSION, date);
    printf("%sdevice %d:%d %s (%s, %s, %u compute units), %s\n", o.csv ? "# " : "",
           di->platform, di->device, di->name, di->platform_name, di->driver_version,
           di->compute_units, why);
    printf("%skernel variant: %s; reps %d (median), warm-up %d; load average at start: %s\n",
           o.csv ? "# " : "", getenv("CLCONV_KERNEL") ? getenv("CLCONV_KERNEL") : "auto",
           o.reps, o.warmup, loadavg(date2, sizeof date2));
    printf("%scopy probe, %zu MiB, (bytes read + written) / time, median of 32 at start: "
           "clEnqueueCopyBuffer %.2f GB/s, copy kernel %.2f GB/s, host memcpy %.2f GB/s\n",
           o.csv ? "# " : "", copy_bytes >> 20, median(copy_gbs, 32), median(kcopy_gbs, 32),
           host_gbs);
    printf("%sper case, one of each probe copy after every timed kernel: copyGB (clEnqueueCopyBuffer) "
           "and kcopyGB (copy kernel) are their medians, %%copy and %%kcopy the kernel's effective "
           "GB/s against them\n", o.csv ? "# " : "");
    if (o.csv)
        printf("width,height,kw,kh,variant,kernel_ms,kernel_mpix_s,eff_gb_s,copy_gb_s,"
               "pct_copy,kcopy_gb_s,pct_kcopy,upload_ms,download_ms,call_ms,pad_ms,e2e_ms,"
               "e2e_mpix_s,devpad_kernel_ms,devpad_e2e_ms,u8_kernel_ms,u8_e2e_ms,check,ran\n");
    else
        printf("%-11s %-7s %9s %7s %6s %6s %5s %6s %5s %6s %6s %8s %7s %8s %7s %8s %8s %8s %8s  %s\n",
               "image", "filter", "kernel_ms", "Mpix/s", "GB/s", "copyGB", "%copy", "kcopyGB",
               "%kcp", "up_ms", "down_ms", "call_ms", "pad_ms", "e2e_ms", "e2e_Mp/s", "dpk_ms",
               "dp_e2e", "u8k_ms", "u8_e2e", "check [kernel that ran]");

    for (si = 0; si < (o.input ? 1 : o.nsizes); si++) {
        if (o.input) {
            if (clconv_image_load(o.input, 0, &img, err) != CLCONV_OK) {
                fprintf(stderr, "clconv-bench: %s\n", err);
                goto cleanup;
            }
        } else if (!make_image(o.sizes[si], o.sizes[si], &img)) {
            fprintf(stderr, "clconv-bench: cannot allocate a %d^2 image\n", o.sizes[si]);
            continue;
        }
        for (ki = 0; ki < (o.filter_spec ? 1 : o.nksizes); ki++) {
            clconv_filter *f = NULL;
            row r;
            if (o.filter_spec) {
                if (clconv_filter_parse(o.filter_spec, &f, err) != CLCONV_OK) f = NULL;
            } else {
                f = make_filter(o.kind, o.ksizes[ki], err);
            }
            if (!f) {
                fprintf(stderr, "clconv-bench: %s\n", err);
                goto cleanup;
            }
            if (!run_case(cl, &pr, &o, &img, f, &r, err)) {
                fprintf(stderr, "clconv-bench: %dx%d, %s: %s\n", img.width, img.height,
                        clconv_filter_name(f), err);
            } else {
                print_row(&o, &r);
            }
            clconv_filter_destroy(f);
        }
        clconv_plane_free(&img);
    }
    rc = 0;
cleanup:
    clconv_plane_free(&img);
    probe_close(&pr);
    clconv_cl_close(cl);
    return rc;
}
