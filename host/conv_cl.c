/* conv_cl.c — the device path: hands the host-padded plane to the device in
 * horizontal bands (each with the halo of rows its filter reads), runs one of
 * the kernels of kernels/conv2d.cl on it and reads the band back. On devices
 * that share memory with the host the bands are wrapped, not copied.
 */
#define _POSIX_C_SOURCE 200809L
#include "cl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* Of the device's global memory, the share one band may take: the rest is
 * left to other programs and to the driver. */
#define MEM_SHARE 0.5

/* Rank-1 filters with at least this many taps take the separable path by
 * default (bench/RESULTS.md: on PoCL the two passes beat the tiled kernel
 * from 7x7 on, and lose at 5x5). */
#define SEP_MIN_TAPS 36

typedef enum variant { VAR_NAIVE, VAR_TILED, VAR_SEPARABLE, VAR_LOCAL, VAR_FFT } variant;

/* The local kernel's __local tile for an lx x ly work-group, in bytes: its
 * outputs (lx * CLCONV_LOCAL_R by ly) and their halo. Only ever forced
 * (auto never picks it: bench/RESULTS.md), and then only when this fits the
 * device's local memory; else the tiled kernel runs. */
static unsigned long long local_bytes(const clconv_geometry *g, size_t lx, size_t ly)
{
    return ((unsigned long long)lx * CLCONV_LOCAL_R +
            (unsigned long long)(g->kw - 1) * g->dilation) *
           ((unsigned long long)ly + (unsigned long long)(g->kh - 1) * g->dilation) *
           sizeof(float);
}

/* A kernel name to its variant; -1 for "auto" and anything unknown. */
static int variant_of(const char *v)
{
    if (!v) return -1;
    if (strcmp(v, "naive") == 0) return VAR_NAIVE;
    if (strcmp(v, "tiled") == 0) return VAR_TILED;
    if (strcmp(v, "separable") == 0) return VAR_SEPARABLE;
    if (strcmp(v, "local") == 0) return VAR_LOCAL;
    if (strcmp(v, "fft") == 0) return VAR_FFT;
    return -1;
}

clconv_status clconv_cl_set_kernel(clconv_cl *cl, const char *name)
{
    int v = variant_of(name);
    if (v < 0 && strcmp(name, "auto") != 0) return CLCONV_E_INVALID;
    cl->kernel = v;
    return CLCONV_OK;
}

/* The kernel forced by clconv_cl_set_kernel, else by CLCONV_KERNEL=naive|
 * tiled|separable|local|fft (the tests run each); -1: the host chooses. */
static int forced_variant(const clconv_cl *cl)
{
    return cl->kernel >= 0 ? cl->kernel : variant_of(getenv("CLCONV_KERNEL"));
}

/* Factors K = u v^T when the filter has rank 1, into u (kh) and v (kw)
 * floats; returns 0 when it does not, or when the factors would lose what
 * DESIGN.md promises:
 *  - integer filters must stay bit-exact on 8-bit input, so they need integer
 *    factors (v: the pivot row over the gcd of its taps) with
 *    sum|u| * sum|v| * 255 < 2^24: then every partial sum of both passes is
 *    an integer float32 holds exactly, as the naive sums are;
 *  - other filters need u_i v_j == K_ij to 1e-12 relative, tap by tap, and
 *    factors well inside float32's normal range, so the float32 products are
 *    within a few ulp of float32(K_ij) and the tolerance holds. */
static int factor_rank1(const clconv_filter *f, float *u, float *v)
{
    const int kh = f->kh, kw = f->kw;
    const double *K = f->taps;
    int p = 0, q = 0, i, j;
    double piv = 0, su = 0, sv = 0;
    for (i = 0; i < kh * kw; i++)
        if (fabs(K[i]) > piv) {
            piv = fabs(K[i]);
            p = i / kw;
            q = i % kw;
        }
    if (piv == 0) return 0;
    if (clconv_filter_is_integer(f)) {
        long long g = 0, a, b, t, vi[CLCONV_FILTER_MAX], ui[CLCONV_FILTER_MAX];
        for (j = 0; j < kw; j++) {
            a = g;
            b = llabs((long long)K[p * kw + j]);
            while (b) { t = a % b; a = b; b = t; }
            g = a;
        }
        for (j = 0; j < kw; j++) vi[j] = (long long)K[p * kw + j] / g;
        for (i = 0; i < kh; i++) {
            const long long kq = (long long)K[i * kw + q];
            if (kq % vi[q] != 0) return 0;
            ui[i] = kq / vi[q];
            for (j = 0; j < kw; j++)
                if (ui[i] * vi[j] != (long long)K[i * kw + j]) return 0;
        }
        for (i = 0; i < kh; i++) su += (double)llabs(ui[i]);
        for (j = 0; j < kw; j++) sv += (double)llabs(vi[j]);
        if (su * sv * 255.0 >= 16777216.0) return 0;
        for (i = 0; i < kh; i++) u[i] = (float)ui[i];
        for (j = 0; j < kw; j++) v[j] = (float)vi[j];
        return 1;
    }
    {
        const double kpq = K[p * kw + q];
        double ud[CLCONV_FILTER_MAX];
        for (i = 0; i < kh; i++) ud[i] = K[i * kw + q] / kpq;
        for (i = 0; i < kh; i++)
            for (j = 0; j < kw; j++) {
                const double kij = K[i * kw + j], uv = ud[i] * K[p * kw + j];
                if (fabs(uv - kij) > 1e-12 * fabs(kij)) return 0;
                if (kij != 0 && (fabs(kij) < 1e-30 || fabs(kij) > 1e30)) return 0;
            }
        for (i = 0; i < kh; i++) {
            if (ud[i] != 0 && fabs(ud[i]) < 1e-30) return 0;
            u[i] = (float)ud[i];
        }
        for (j = 0; j < kw; j++) v[j] = (float)K[p * kw + j];
        return 1;
    }
}

/* Nonzero when the device reads host memory directly (CPU devices,
 * integrated GPUs): then a band is wrapped with CL_MEM_USE_HOST_PTR instead
 * of copied. CLCONV_ZERO_COPY=0 turns this off. */
int clconv__zero_copy(const clconv_cl *cl)
{
    cl_bool unified = CL_FALSE;
    const char *env = getenv("CLCONV_ZERO_COPY");
    if (env && strcmp(env, "0") == 0) return 0;
    if (clGetDeviceInfo(cl->dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified,
                        &unified, NULL) != CL_SUCCESS)
        return 0;
    return unified == CL_TRUE;
}

double clconv__event_ms(cl_event ev)
{
    cl_ulong a = 0, b = 0;
    if (!ev) return 0;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) != CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) != CL_SUCCESS)
        return 0;
    return b > a ? (double)(b - a) * 1e-6 : 0;
}

/* (Re)creates *buf when it is smaller than `need` bytes. */
clconv_status clconv__ensure_buf(clconv_cl *cl, cl_mem *buf, size_t *cap,
                                 size_t need, cl_mem_flags flags, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e = CL_SUCCESS;
    if (*buf && *cap >= need) return CLCONV_OK;
    if (*buf) clReleaseMemObject(*buf);
    *buf = NULL;
    *cap = 0;
    if (clconv__fault("cl-alloc")) {
        e = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    } else {
        *buf = clCreateBuffer(cl->ctx, flags, need, NULL, &e);
    }
    CL_CHECK(err, e, "clCreateBuffer");
    *cap = need;
cleanup:
    return st;
}

/* The kept input and output buffers, at least in_bytes and out_bytes. */
static clconv_status ensure_io(clconv_cl *cl, size_t in_bytes, size_t out_bytes,
                               char *err)
{
    clconv_status st = clconv__ensure_buf(cl, &cl->in_buf, &cl->in_cap, in_bytes,
                                  CL_MEM_READ_ONLY, err);
    if (st == CLCONV_OK)
        st = clconv__ensure_buf(cl, &cl->out_buf, &cl->out_cap, out_bytes,
                        CL_MEM_WRITE_ONLY, err);
    return st;
}

/* The largest number of output rows per band that fits the device; `sep`:
 * the separable path's temporary plane (in rows x out_w) must fit too. */
static long long band_rows(const clconv_cl *cl, const clconv_geometry *g, int sep)
{
    const unsigned long long row_in = (unsigned long long)g->padded_w * sizeof(float);
    const unsigned long long row_out = (unsigned long long)g->out_w * sizeof(float);
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    unsigned long long max_alloc = cl->info.max_alloc ? cl->info.max_alloc : (1ULL << 27);
    unsigned long long budget = cl->info.global_mem
                                    ? (unsigned long long)(cl->info.global_mem * MEM_SHARE)
                                    : max_alloc;
    long long b = g->out_h, lim;
    if (cl->band_rows > 0 && cl->band_rows < b) b = cl->band_rows;
    if (sep) {
        lim = (long long)(max_alloc / row_out) - keff;
        lim = lim < 0 ? 0 : lim / g->stride + 1;
        if (lim < b) b = lim;
    }
    /* Input rows for b output rows: (b - 1) * stride + keff. */
    lim = (long long)(max_alloc / row_in) - keff;
    lim = lim < 0 ? 0 : lim / g->stride + 1;
    if (lim < b) b = lim;
    lim = (long long)(max_alloc / row_out);
    if (lim < b) b = lim;
    /* Both buffers together within the budget. */
    while (b > 1 && ((unsigned long long)((b - 1) * g->stride + keff) *
                         (row_in + (sep ? row_out : 0)) +
                     (unsigned long long)b * row_out) > budget)
        b = b / 2;
    return b;
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

/* A work-group of up to want_x x want_y items, within the kernel's limit. */
static clconv_status group_size(clconv_cl *cl, cl_kernel k, size_t want_x,
                                size_t want_y, size_t *lx, size_t *ly, char *err)
{
    clconv_status st = CLCONV_OK;
    size_t kwg = 0;
    *lx = want_x;
    *ly = want_y;
    CL_TRY(err, clGetKernelWorkGroupInfo(k, cl->dev, CL_KERNEL_WORK_GROUP_SIZE,
                                         sizeof kwg, &kwg, NULL));
    while (*lx * *ly > kwg && *lx > 1) {
        if (*ly >= *lx) *ly /= 2; else *lx /= 2;
    }
cleanup:
    return st;
}

/* The separable path's column pass over cl->tmp_buf into out_b, for `rows`
 * output rows, in work-groups of lx x ly. */
static clconv_status enqueue_sep_cols(clconv_cl *cl, cl_kernel k, cl_mem out_b,
                                      cl_mem u, const clconv_geometry *g,
                                      int rows, size_t lx, size_t ly,
                                      cl_event *ev, char *err)
{
    clconv_status st = CLCONV_OK;
    const size_t gsz[2] = {round_up(((size_t)g->out_w + CLCONV_VEC_W - 1) / CLCONV_VEC_W, lx),
                           round_up(((size_t)rows + CLCONV_TILE_ROWS - 1) /
                                        CLCONV_TILE_ROWS, ly)};
    const size_t lsz[2] = {lx, ly};
    CL_TRY(err, clSetKernelArg(k, 0, sizeof(cl_mem), &cl->tmp_buf));
    CL_TRY(err, clSetKernelArg(k, 1, sizeof(cl_mem), &out_b));
    CL_TRY(err, clSetKernelArg(k, 2, sizeof(cl_mem), &u));
    CL_TRY(err, clSetKernelArg(k, 3, sizeof(int), &g->out_w));
    CL_TRY(err, clSetKernelArg(k, 4, sizeof(int), &rows));
    CL_TRY(err, clSetKernelArg(k, 5, sizeof(int), &g->kh));
    CL_TRY(err, clSetKernelArg(k, 6, sizeof(int), &g->dilation));
    CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 2, NULL, gsz, lsz, 0, NULL, ev));
cleanup:
    return st;
}

/* Work-groups for a call's kernel(s): 16 x 16 pixels for naive and local; a
 * row of 64 blocks (1024 pixels) for the vector kernels, which on PoCL
 * streams each input row further before the next group starts
 * (bench/RESULTS.md); the same for separable's column pass k2. */
static clconv_status group_sizes(clconv_cl *cl, int var, cl_kernel k,
                                 cl_kernel k2, size_t *lx, size_t *ly,
                                 size_t *lx2, size_t *ly2, char *err)
{
    clconv_status st;
    if (var == VAR_NAIVE || var == VAR_LOCAL)
        st = group_size(cl, k, 16, 16, lx, ly, err);
    else
        st = group_size(cl, k, 64, 1, lx, ly, err);
    if (st == CLCONV_OK && k2) st = group_size(cl, k2, 64, 1, lx2, ly2, err);
    return st;
}

/* The separable path's factors as device buffers: v (kw floats, the row
 * pass) and u (kh floats, the column pass). */
static clconv_status sep_taps(clconv_cl *cl, const clconv_geometry *g,
                              const float *fu, const float *fv, cl_mem *v,
                              cl_mem *u, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e;
    *v = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                        (size_t)g->kw * sizeof(float), (void *)fv, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    *u = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                        (size_t)g->kh * sizeof(float), (void *)fu, &e);
    CL_CHECK(err, e, "clCreateBuffer");
cleanup:
    return st;
}

/* One kernel argument: its size and where its value is. */
typedef struct karg {
    size_t size;
    const void *value;
} karg;

static clconv_status set_args(cl_kernel k, const karg *a, cl_uint n, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_uint i;
    for (i = 0; i < n; i++)
        CL_TRY(err, clSetKernelArg(k, i, a[i].size, a[i].value));
cleanup:
    return st;
}

/* A read-only or write-only buffer over host memory, for zero-copy bands. */
clconv_status clconv__wrap_host(clconv_cl *cl, cl_mem *buf, cl_mem_flags flags,
                                size_t bytes, void *host, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e = CL_SUCCESS;
    if (clconv__fault("cl-alloc"))
        e = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    else
        *buf = clCreateBuffer(cl->ctx, flags | CL_MEM_USE_HOST_PTR, bytes, host, &e);
    CL_CHECK(err, e, "clCreateBuffer");
cleanup:
    return st;
}

static const char *variant_name(int var)
{
    return var == VAR_FFT ? "fft" : var == VAR_SEPARABLE ? "separable"
           : var == VAR_TILED ? "tiled" : var == VAR_LOCAL ? "local" : "naive";
}

clconv_status clconv__read_back(clconv_cl *cl, int zc, cl_mem out_b,
                                float *host_out, size_t out_bytes,
                                cl_event *ev_read, cl_event *ev_unmap, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e;
    if (zc) {
        /* Mapping the wrapped output makes the host copy current (a no-op
         * where the device wrote host memory in place). */
        void *m = clEnqueueMapBuffer(cl->queue, out_b, CL_TRUE, CL_MAP_READ, 0,
                                     out_bytes, 0, NULL, ev_read, &e);
        CL_CHECK(err, e, "clEnqueueMapBuffer");
        CL_TRY(err, clEnqueueUnmapMemObject(cl->queue, out_b, m, 0, NULL, ev_unmap));
        CL_TRY(err, clWaitForEvents(1, ev_unmap));
        if (m != (void *)host_out) memcpy(host_out, m, out_bytes);
    } else {
        CL_TRY(err, clEnqueueReadBuffer(cl->queue, out_b, CL_TRUE, 0, out_bytes,
                                        host_out, 0, NULL, ev_read));
    }
cleanup:
    return st;
}

/* Brings a band's output to the host (ev[3], ev[4]), adds the band's events
 * (upload ev[0], kernels ev[1], ev[2]) to the timing and releases them. */
static clconv_status finish_band(clconv_cl *cl, int zc, cl_mem out_b,
                                 float *host_out, size_t out_bytes,
                                 cl_event ev[5], clconv_cl_timing *tm, char *err)
{
    clconv_status st;
    int i;
    st = clconv__read_back(cl, zc, out_b, host_out, out_bytes, &ev[3], &ev[4], err);
    if (st != CLCONV_OK) return st;
    tm->upload_ms += clconv__event_ms(ev[0]);
    tm->kernel_ms += clconv__event_ms(ev[1]) + clconv__event_ms(ev[2]);
    tm->download_ms += clconv__event_ms(ev[3]) + clconv__event_ms(ev[4]);
    tm->bands++;
    for (i = 0; i < 5; i++) {
        if (ev[i]) clReleaseEvent(ev[i]);
        ev[i] = NULL;
    }
    return st;
}

/* The kernel for this call: the vector kernels need stride 1; separable also
 * a rank-1 filter (factored into fu, fv) and, unless forced, enough taps for
 * the second pass to pay. */
static int choose_variant(const clconv_cl *cl, const clconv_filter *f,
                          const clconv_geometry *g, float *fu, float *fv)
{
    /* fft is decided apart (fft_wanted); where it does not apply, the
     * default choice stands. */
    const int forced = forced_variant(cl) == VAR_FFT ? -1 : forced_variant(cl);
    if (g->stride == 1 &&
        (forced == VAR_SEPARABLE ||
         (forced < 0 && g->kw * g->kh >= SEP_MIN_TAPS && g->kw > 1 && g->kh > 1)) &&
        factor_rank1(f, fu, fv))
        return VAR_SEPARABLE;
    /* local only when forced, and when its tile fits local memory. */
    if (g->stride == 1 && forced == VAR_LOCAL &&
        local_bytes(g, 16, 16) <= cl->info.local_mem)
        return VAR_LOCAL;
    return (g->stride == 1 && forced != VAR_NAIVE) ? VAR_TILED : VAR_NAIVE;
}

/* Whether to try the FFT path, given the variant choose_variant picked:
 * forced, for any case the FFT may compute exactly; by default, after the
 * separable check (rank-1 filters keep it), for such cases with enough taps.
 * The values must be checked too (fft_values_ok, fft_plane_ok). */
static int fft_wanted(const clconv_cl *cl, const clconv_filter *f,
                      const clconv_geometry *g, int var)
{
    const int forced = forced_variant(cl);
    if (forced == VAR_FFT) return clconv__fft_filter_ok(cl, f, g, 1);
    if (forced >= 0 || var == VAR_SEPARABLE) return 0;
    return clconv__fft_filter_ok(cl, f, g, 0);
}

/* Every value an integer in 0..255: what the FFT path's rounding needs. */
static int fft_values_ok(const float *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!(v[i] >= 0.0f && v[i] <= 255.0f) || v[i] != (float)(int)v[i]) return 0;
    return 1;
}

/* The FFT path on a plane with identity maps (clconv_conv_cl). */
static clconv_status fft_on_plane(clconv_cl *cl, const clconv_plane *plane,
                                  const clconv_filter *f, const clconv_geometry *g,
                                  clconv_plane *out, clconv_cl_timing *tm, char *err)
{
    clconv__fft_src s;
    int *rmap = malloc((size_t)g->padded_h * sizeof(int));
    int *cmap = malloc((size_t)g->padded_w * sizeof(int));
    clconv_status st;
    int i;
    if (!rmap || !cmap) {
        free(rmap);
        free(cmap);
        clconv__err(err, "out of memory");
        return CLCONV_E_NOMEM;
    }
    for (i = 0; i < g->padded_h; i++) rmap[i] = i;
    for (i = 0; i < g->padded_w; i++) cmap[i] = i;
    s.data = plane->data;
    s.u8 = 0;
    s.sw = plane->width;
    s.sh = plane->height;
    s.rmap = rmap;
    s.cmap = cmap;
    s.c_lo = 0;
    s.c_hi = plane->width;
    s.cval = 0.0f;
    st = clconv__fft_run(cl, &s, f, g, out, tm, err);
    free(rmap);
    free(cmap);
    return st;
}

/* The filter's taps as a float32 device buffer; *in_const: whether they fit
 * __constant memory (cached on every GPU), else the __global entry points
 * take them. */
static clconv_status taps_buffer(clconv_cl *cl, const clconv_filter *f,
                                 cl_mem *taps, int *in_const, char *err)
{
    clconv_status st = CLCONV_OK;
    const size_t n = (size_t)f->kw * (size_t)f->kh, bytes = n * sizeof(float);
    float *ft = malloc(bytes);
    cl_int e = CL_SUCCESS;
    size_t i;
    *in_const = bytes <= cl->info.const_mem && !clconv__fault("taps-global");
    if (!ft) {
        clconv__err(err, "out of memory");
        return CLCONV_E_NOMEM;
    }
    for (i = 0; i < n; i++) ft[i] = (float)f->taps[i];
    *taps = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                           bytes, ft, &e);
    CL_CHECK(err, e, "clCreateBuffer");
cleanup:
    free(ft);
    return st;
}

/* Test switch CLCONV_FAULT=perturb: one wrong pixel, which --verify must
 * catch. */
static void perturb(clconv_plane *out)
{
    if (clconv__fault("perturb")) {
        float *v = out->data + (size_t)(out->height / 2) * out->width + out->width / 2;
        *v += fabsf(*v) + 1.0f;
    }
}

clconv_status clconv_conv_cl(clconv_cl *cl, const clconv_plane *padded,
                             const clconv_filter *f, const clconv_geometry *g,
                             clconv_plane *out, clconv_cl_timing *timing,
                             char *err)
{
    clconv_status st = CLCONV_OK;
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    const size_t pw = (size_t)g->padded_w, ow = (size_t)g->out_w;
    float fu[CLCONV_FILTER_MAX], fv[CLCONV_FILTER_MAX];
    cl_mem taps = NULL, taps_u = NULL, in_b = NULL, out_b = NULL;
    cl_kernel k = NULL, k2 = NULL;
    /* upload, kernel, second kernel, download (read or map), unmap */
    cl_event ev[5] = {NULL, NULL, NULL, NULL, NULL};
    long long rows_per_band, r0;
    size_t lx = 1, ly = 1, lx2 = 1, ly2 = 1;
    clconv_cl_timing tm = {0, 0, 0, 0, NULL, NULL, 0};
    int i, locked = 0, zc, var;

    if (padded->width != g->padded_w || padded->height != g->padded_h ||
        out->width != g->out_w || out->height != g->out_h || f->kw != g->kw ||
        f->kh != g->kh) {
        clconv__err(err, "plane sizes do not match the geometry");
        return CLCONV_E_INVALID;
    }
    if (pthread_mutex_lock(&cl->lock) != 0) {
        clconv__err(err, "cannot lock the device");
        return CLCONV_E_INVALID;
    }
    locked = 1;
    zc = clconv__zero_copy(cl);
    /* The vector kernels need stride 1; separable also a rank-1 filter, and
     * by default enough taps for the second pass to pay. */
    var = choose_variant(cl, f, g, fu, fv);
    if (fft_wanted(cl, f, g, var) &&
        fft_values_ok(padded->data, (size_t)pw * (size_t)g->padded_h)) {
        st = fft_on_plane(cl, padded, f, g, out, &tm, err);
        if (st != CLCONV_E_TOO_LARGE) {
            if (st == CLCONV_OK) perturb(out);
            goto cleanup;
        }
        st = CLCONV_OK; /* does not fit: the default choice */
        memset(&tm, 0, sizeof tm);
    }

    rows_per_band = band_rows(cl, g, var == VAR_SEPARABLE);
    if (rows_per_band < 1) {
        clconv__err(err, "one row of the %dx%d padded image with its halo does "
                    "not fit the device (max allocation %llu bytes)",
                    g->padded_w, g->padded_h, cl->info.max_alloc);
        st = CLCONV_E_TOO_LARGE;
        goto cleanup;
    }
    if (var == VAR_SEPARABLE) {
        st = sep_taps(cl, g, fu, fv, &taps, &taps_u, err);
        if (st != CLCONV_OK) goto cleanup;
        k = cl->k_sep_rows;
        k2 = cl->k_sep_cols;
        st = clconv__ensure_buf(cl, &cl->tmp_buf, &cl->tmp_cap,
                        (size_t)((rows_per_band - 1) * g->stride + keff) * ow * sizeof(float),
                        CL_MEM_READ_WRITE, err);
        if (st != CLCONV_OK) goto cleanup;
    } else {
        int in_const = 0;
        st = taps_buffer(cl, f, &taps, &in_const, err);
        if (st != CLCONV_OK) goto cleanup;
        if (var == VAR_LOCAL)
            k = in_const ? cl->k_local_const : cl->k_local_global;
        else if (var == VAR_TILED)
            k = in_const ? cl->k_tiled_const : cl->k_tiled_global;
        else
            k = in_const ? cl->k_const : cl->k_global;
    }
    if (!zc) {
        st = ensure_io(cl, (size_t)((rows_per_band - 1) * g->stride + keff) * pw * sizeof(float),
                       (size_t)rows_per_band * ow * sizeof(float), err);
        if (st != CLCONV_OK) goto cleanup;
    }
    st = group_sizes(cl, var, k, k2, &lx, &ly, &lx2, &ly2, err);
    if (st != CLCONV_OK) goto cleanup;

    for (r0 = 0; r0 < g->out_h; r0 += rows_per_band) {
        const int rows = (int)(g->out_h - r0 < rows_per_band ? g->out_h - r0
                                                              : rows_per_band);
        const int in_rows = (int)((rows - 1) * g->stride + keff);
        const size_t in_bytes = (size_t)in_rows * pw * sizeof(float);
        const size_t out_bytes = (size_t)rows * ow * sizeof(float);
        float *host_in = padded->data + (size_t)r0 * g->stride * pw;
        float *host_out = out->data + (size_t)r0 * ow;
        if (zc) {
            st = clconv__wrap_host(cl, &in_b, CL_MEM_READ_ONLY, in_bytes, host_in, err);
            if (st == CLCONV_OK)
                st = clconv__wrap_host(cl, &out_b, CL_MEM_WRITE_ONLY, out_bytes, host_out, err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            in_b = cl->in_buf;
            out_b = cl->out_buf;
            CL_TRY(err, clEnqueueWriteBuffer(cl->queue, in_b, CL_FALSE, 0, in_bytes,
                                             host_in, 0, NULL, &ev[0]));
        }
        if (var == VAR_SEPARABLE) {
            const size_t gr[2] = {round_up((ow + CLCONV_VEC_W - 1) / CLCONV_VEC_W, lx),
                                  round_up((size_t)in_rows, ly)};
            const size_t lr[2] = {lx, ly};
            const karg ka[] = {
                {sizeof(cl_mem), &in_b}, {sizeof(cl_mem), &cl->tmp_buf},
                {sizeof(cl_mem), &taps}, {sizeof(int), &g->padded_w},
                {sizeof(int), &g->out_w}, {sizeof(int), &in_rows},
                {sizeof(int), &g->kw}, {sizeof(int), &g->dilation}};
            st = set_args(k, ka, sizeof ka / sizeof ka[0], err);
            if (st != CLCONV_OK) goto cleanup;
            CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 2, NULL, gr, lr, 0,
                                               NULL, &ev[1]));
            st = enqueue_sep_cols(cl, k2, out_b, taps_u, g, rows, lx2, ly2, &ev[2], err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            const size_t vw = var == VAR_TILED ? CLCONV_VEC_W
                              : var == VAR_LOCAL ? CLCONV_LOCAL_R : 1;
            const size_t vh = var == VAR_TILED ? CLCONV_TILE_ROWS : 1;
            const size_t gsz[2] = {round_up((ow + vw - 1) / vw, lx),
                                   round_up(((size_t)rows + vh - 1) / vh, ly)};
            const size_t lsz[2] = {lx, ly};
            const karg ka[] = {
                {sizeof(cl_mem), &in_b}, {sizeof(cl_mem), &out_b},
                {sizeof(cl_mem), &taps}, {sizeof(int), &g->padded_w},
                {sizeof(int), &g->out_w}, {sizeof(int), &rows},
                {sizeof(int), &g->kw}, {sizeof(int), &g->kh},
                {sizeof(int), &g->stride}, {sizeof(int), &g->dilation}};
            st = set_args(k, ka, sizeof ka / sizeof ka[0], err);
            if (st != CLCONV_OK) goto cleanup;
            if (var == VAR_LOCAL)
                CL_TRY(err, clSetKernelArg(k, 10, (size_t)local_bytes(g, lx, ly), NULL));
            CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 2, NULL, gsz, lsz, 0,
                                               NULL, &ev[1]));
        }
        st = finish_band(cl, zc, out_b, host_out, out_bytes, ev, &tm, err);
        if (st != CLCONV_OK) goto cleanup;
        tm.kernel = variant_name(var);
        if (zc) {
            clReleaseMemObject(in_b);
            clReleaseMemObject(out_b);
        }
        in_b = out_b = NULL;
    }
    perturb(out);
cleanup:
    if (st != CLCONV_OK) clFinish(cl->queue);
    for (i = 0; i < 5; i++)
        if (ev[i]) clReleaseEvent(ev[i]);
    if (zc) {
        if (in_b) clReleaseMemObject(in_b);
        if (out_b) clReleaseMemObject(out_b);
    }
    if (taps) clReleaseMemObject(taps);
    if (taps_u) clReleaseMemObject(taps_u);
    if (locked) pthread_mutex_unlock(&cl->lock);
    if (timing) *timing = tm;
    return st;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* clconv_conv_cl_image when the border cannot be read on the device: pad
 * on the host (8-bit sources become floats first) and run the padded path. */
static clconv_status pad_on_host(clconv_cl *cl, const clconv_plane *in,
                                 const clconv_image8 *in8,
                                 const clconv_params *prm,
                                 const clconv_filter *f,
                                 const clconv_geometry *g, clconv_plane *out,
                                 clconv_cl_timing *timing, char *err)
{
    clconv_plane tmp = {0, 0, NULL}, padded = {0, 0, NULL};
    clconv_cl_timing tm = {0, 0, 0, 0, NULL, NULL, 0};
    clconv_status st = CLCONV_OK;
    const double t = now_ms();
    double pad_ms;
    if (in8) {
        const size_t n = (size_t)in8->width * (size_t)in8->height;
        size_t i;
        st = clconv_plane_alloc(&tmp, in8->width, in8->height);
        if (st != CLCONV_OK) {
            clconv__err(err, "cannot allocate a %dx%d plane: %s", in8->width,
                        in8->height, clconv_status_str(st));
            return st;
        }
        for (i = 0; i < n; i++) tmp.data[i] = (float)in8->data[i];
        in = &tmp;
    }
    st = clconv_pad(in, g, prm, &padded, err);
    clconv_plane_free(&tmp);
    if (st != CLCONV_OK) return st;
    pad_ms = now_ms() - t;
    st = clconv_conv_cl(cl, &padded, f, g, out, &tm, err);
    clconv_plane_free(&padded);
    tm.pad = "host";
    tm.pad_ms = pad_ms;
    if (timing) *timing = tm;
    return st;
}

/* The border strips the tiled_src kernel reads instead of the source where a
 * block's window leaves the image (kernels/conv2d.cl says which): padded
 * values, floats, built on the host through the same maps. A few strips of
 * (VEC_W + halo) columns or (TILE_ROWS + halo) rows: about 1 MB at 4096²
 * for 5x5, against the 64 MB padded plane. */
typedef struct frame {
    float *data;
    size_t n;                 /* floats */
    int fw, top_h, bot_y, bot_off, left_w, left_off, right_x, right_off;
} frame;

static void fill_strip(float *dst, int r0, int r1, int c0, int c1,
                       const int *rmap, const int *cmap, const float *f32,
                       const unsigned char *u8, int sw, float cval)
{
    int r, c;
    for (r = r0; r < r1; r++) {
        const int sr = rmap[r];
        for (c = c0; c < c1; c++, dst++) {
            const int sc = cmap[c];
            if (sr < 0 || sc < 0)
                *dst = cval;
            else
                *dst = f32 ? f32[(size_t)sr * sw + sc] : (float)u8[(size_t)sr * sw + sc];
        }
    }
}

static int build_frame(frame *fr, const clconv_geometry *g, const int *rmap,
                       const int *cmap, int r_lo, int r_hi, int c_lo, int c_hi,
                       const float *f32, const unsigned char *u8, int sw,
                       float cval)
{
    const int ph = g->padded_h, pw = g->padded_w;
    const int hr = CLCONV_TILE_ROWS - 1 + (g->kh - 1) * g->dilation;
    const int hc = CLCONV_VEC_W - 1 + (g->kw - 1) * g->dilation;
    size_t top, bot, left, right;
    fr->fw = pw;
    fr->top_h = r_lo > 0 ? (r_lo + hr < ph ? r_lo + hr : ph) : 0;
    fr->bot_y = r_hi < ph ? (r_hi - hr > 0 ? r_hi - hr : 0) : ph;
    fr->left_w = c_lo > 0 ? (c_lo + hc < pw ? c_lo + hc : pw) : 0;
    fr->right_x = c_hi < pw ? (c_hi - hc > 0 ? c_hi - hc : 0) : pw;
    top = (size_t)fr->top_h * pw;
    bot = (size_t)(ph - fr->bot_y) * pw;
    left = (size_t)ph * fr->left_w;
    right = (size_t)ph * (pw - fr->right_x);
    fr->bot_off = (int)top;
    fr->left_off = (int)(top + bot);
    fr->right_off = (int)(top + bot + left);
    fr->n = top + bot + left + right;
    if (fr->n > (size_t)INT32_MAX) return 0;
    fr->data = malloc((fr->n ? fr->n : 1) * sizeof(float));
    if (!fr->data) return 0;
    fill_strip(fr->data, 0, fr->top_h, 0, pw, rmap, cmap, f32, u8, sw, cval);
    fill_strip(fr->data + fr->bot_off, fr->bot_y, ph, 0, pw, rmap, cmap, f32, u8, sw, cval);
    fill_strip(fr->data + fr->left_off, 0, ph, 0, fr->left_w, rmap, cmap, f32, u8, sw, cval);
    fill_strip(fr->data + fr->right_off, 0, ph, fr->right_x, pw, rmap, cmap, f32, u8, sw, cval);
    return 1;
}

clconv_status clconv_conv_cl_image(clconv_cl *cl, const clconv_plane *in,
                                   const clconv_image8 *in8,
                                   const clconv_params *prm,
                                   const clconv_filter *f,
                                   const clconv_geometry *g, clconv_plane *out,
                                   clconv_cl_timing *timing, char *err)
{
    clconv_status st = CLCONV_OK;
    const int u8 = in8 != NULL;
    const int sw = u8 ? in8->width : in ? in->width : 0;
    const int sh = u8 ? in8->height : in ? in->height : 0;
    const size_t ow = (size_t)g->out_w;
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    const unsigned long long row_out = (unsigned long long)ow * sizeof(float);
    const unsigned long long max_alloc = cl->info.max_alloc ? cl->info.max_alloc
                                                            : (1ULL << 27);
    const unsigned long long budget =
        cl->info.global_mem ? (unsigned long long)(cl->info.global_mem * MEM_SHARE)
                            : max_alloc;
    unsigned long long src_bytes, maps_bytes, left;
    float fu[CLCONV_FILTER_MAX], fv[CLCONV_FILTER_MAX];
    int *rmap = NULL, *cmap = NULL;
    frame fr = {NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    cl_mem frame_b = NULL;
    cl_mem taps = NULL, taps_u = NULL, rmap_b = NULL, cmap_b = NULL, src_b = NULL, out_b = NULL;
    cl_event ev[5] = {NULL, NULL, NULL, NULL, NULL};
    clconv_cl_timing tm = {0, 0, 0, 0, NULL, "device", 0};
    cl_kernel k, k2 = NULL;
    cl_int e;
    long long rows_per_band, r0;
    size_t lx = 1, ly = 1, lx2 = 1, ly2 = 1;
    int i, zc = 0, var, in_const = 0, r_lo, r_hi, c_lo, c_hi;

    if ((in == NULL) == (in8 == NULL) || sw != g->in_w || sh != g->in_h ||
        out->width != g->out_w || out->height != g->out_h || f->kw != g->kw ||
        f->kh != g->kh) {
        clconv__err(err, "image sizes do not match the geometry");
        return CLCONV_E_INVALID;
    }
    var = choose_variant(cl, f, g, fu, fv);
    src_bytes = (unsigned long long)sw * (unsigned long long)sh * (u8 ? 1 : sizeof(float));
    maps_bytes = ((unsigned long long)g->padded_w + (unsigned long long)g->padded_h) * sizeof(int);
    /* The whole source must sit on the device (a map may point anywhere in
     * it), with at least one output row beside it. The local kernel (forced
     * only) has no border-reading form. */
    if (var == VAR_LOCAL || src_bytes > max_alloc ||
        src_bytes + maps_bytes + row_out > budget || getenv("CLCONV_HOST_PAD"))
        return pad_on_host(cl, in, in8, prm, f, g, out, timing, err);
    left = budget - src_bytes - maps_bytes;
    rows_per_band = g->out_h;
    if (cl->band_rows > 0 && cl->band_rows < rows_per_band) rows_per_band = cl->band_rows;
    if ((long long)(max_alloc / row_out) < rows_per_band)
        rows_per_band = (long long)(max_alloc / row_out);
    if ((long long)(left / row_out) < rows_per_band)
        rows_per_band = (long long)(left / row_out);
    if (var == VAR_SEPARABLE) {
        /* The row pass's plane too: rows + keff - 1 rows of out_w. */
        const long long room = (long long)(left / row_out) - (keff - 1);
        const long long lim = (long long)(max_alloc / row_out) - (keff - 1);
        if (room / 2 < rows_per_band) rows_per_band = room / 2;
        if (lim < rows_per_band) rows_per_band = lim;
    }
    if (rows_per_band < 1) /* one output row is past one allocation */
        return pad_on_host(cl, in, in8, prm, f, g, out, timing, err);

    rmap = clconv__axis_map(g->in_h, g->pad_top, g->pad_bottom, prm->border);
    cmap = clconv__axis_map(g->in_w, g->pad_left, g->pad_right, prm->border);
    if (!rmap || !cmap) {
        free(rmap);
        free(cmap);
        clconv__err(err, "out of memory");
        return CLCONV_E_NOMEM;
    }
    /* Rows that map to source rows form one range: all of them, or the
     * image's own under a constant border. Columns [c_lo, c_hi) are the
     * image's own, read straight. */
    r_lo = prm->border == CLCONV_BORDER_CONSTANT ? g->pad_top : 0;
    r_hi = prm->border == CLCONV_BORDER_CONSTANT ? g->pad_top + g->in_h : g->padded_h;
    c_lo = g->pad_left;
    c_hi = g->pad_left + g->in_w;

    /* tiled_src's border strips, counted against the device budget too. */
    if (var == VAR_TILED &&
        (!build_frame(&fr, g, rmap, cmap, r_lo, r_hi, c_lo, c_hi,
                      u8 ? NULL : in->data, u8 ? in8->data : NULL, sw, prm->cval) ||
         (unsigned long long)fr.n * sizeof(float) > left / 2)) {
        free(rmap);
        free(cmap);
        free(fr.data);
        return pad_on_host(cl, in, in8, prm, f, g, out, timing, err);
    }
    if (pthread_mutex_lock(&cl->lock) != 0) {
        free(rmap);
        free(cmap);
        free(fr.data);
        clconv__err(err, "cannot lock the device");
        return CLCONV_E_INVALID;
    }
    if (fft_wanted(cl, f, g, var)) {
        /* Every padded value an integer in 0..255: 8-bit sources are, float
         * ones are checked; so is a constant border's cval where there is
         * a border (for both). */
        const int padded_any = g->pad_top || g->pad_bottom || g->pad_left || g->pad_right;
        if ((u8 || fft_values_ok(in->data, (size_t)sw * (size_t)sh)) &&
            (prm->border != CLCONV_BORDER_CONSTANT || !padded_any ||
             fft_values_ok(&prm->cval, 1))) {
            clconv__fft_src fs;
            fs.data = u8 ? (const void *)in8->data : (const void *)in->data;
            fs.u8 = u8;
            fs.sw = sw;
            fs.sh = sh;
            fs.rmap = rmap;
            fs.cmap = cmap;
            fs.c_lo = c_lo;
            fs.c_hi = c_hi;
            fs.cval = prm->cval;
            st = clconv__fft_run(cl, &fs, f, g, out, &tm, err);
            if (st != CLCONV_E_TOO_LARGE) {
                if (st == CLCONV_OK) perturb(out);
                goto cleanup;
            }
            st = CLCONV_OK; /* does not fit: the default choice */
            memset(&tm, 0, sizeof tm);
            tm.pad = "device";
        }
    }
    zc = clconv__zero_copy(cl);
    if (var == VAR_SEPARABLE) {
        st = sep_taps(cl, g, fu, fv, &taps, &taps_u, err);
        if (st != CLCONV_OK) goto cleanup;
        k = cl->k_sep_rows_src[u8];
        k2 = cl->k_sep_cols;
        st = clconv__ensure_buf(cl, &cl->tmp_buf, &cl->tmp_cap,
                        (size_t)(rows_per_band - 1 + keff) * ow * sizeof(float),
                        CL_MEM_READ_WRITE, err);
        if (st != CLCONV_OK) goto cleanup;
    } else {
        st = taps_buffer(cl, f, &taps, &in_const, err);
        if (st != CLCONV_OK) goto cleanup;
        k = cl->k_src[var == VAR_TILED][u8][!in_const];
    }
    rmap_b = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            (size_t)g->padded_h * sizeof(int), rmap, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    cmap_b = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            (size_t)g->padded_w * sizeof(int), cmap, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    if (var == VAR_TILED) {
        frame_b = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                 (fr.n ? fr.n : 1) * sizeof(float), fr.data, &e);
        CL_CHECK(err, e, "clCreateBuffer");
    }
    {
        void *host_src = u8 ? (void *)in8->data : (void *)in->data;
        if (zc) {
            st = clconv__wrap_host(cl, &src_b, CL_MEM_READ_ONLY, (size_t)src_bytes, host_src, err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            st = ensure_io(cl, (size_t)src_bytes,
                           (size_t)rows_per_band * ow * sizeof(float), err);
            if (st != CLCONV_OK) goto cleanup;
            CL_TRY(err, clEnqueueWriteBuffer(cl->queue, cl->in_buf, CL_FALSE, 0,
                                             (size_t)src_bytes, host_src, 0, NULL,
                                             &ev[0]));
        }
    }
    st = group_sizes(cl, var, k, k2, &lx, &ly, &lx2, &ly2, err);
    if (st != CLCONV_OK) goto cleanup;

    for (r0 = 0; r0 < g->out_h; r0 += rows_per_band) {
        const int rows = (int)(g->out_h - r0 < rows_per_band ? g->out_h - r0
                                                              : rows_per_band);
        const size_t out_bytes = (size_t)rows * ow * sizeof(float);
        float *host_out = out->data + (size_t)r0 * ow;
        const int prow0 = (int)(r0 * g->stride);
        const size_t vw = var == VAR_TILED ? CLCONV_VEC_W : 1;
        const size_t vh = var == VAR_TILED ? CLCONV_TILE_ROWS : 1;
        const size_t gsz[2] = {round_up((ow + vw - 1) / vw, lx),
                               round_up(((size_t)rows + vh - 1) / vh, ly)};
        const size_t lsz[2] = {lx, ly};
        const cl_mem s = zc ? src_b : cl->in_buf;
        if (zc) {
            st = clconv__wrap_host(cl, &out_b, CL_MEM_WRITE_ONLY, out_bytes, host_out, err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            out_b = cl->out_buf;
        }
        if (var == VAR_SEPARABLE) {
            const int in_rows = (int)(rows - 1 + keff);
            const size_t gr[2] = {round_up((ow + CLCONV_VEC_W - 1) / CLCONV_VEC_W, lx),
                                  round_up((size_t)in_rows, ly)};
            const size_t lr[2] = {lx, ly};
            const karg ka[] = {
                {sizeof(cl_mem), &s}, {sizeof(cl_mem), &cl->tmp_buf},
                {sizeof(cl_mem), &taps}, {sizeof(cl_mem), &rmap_b},
                {sizeof(cl_mem), &cmap_b}, {sizeof(int), &sw},
                {sizeof(int), &g->out_w}, {sizeof(int), &in_rows},
                {sizeof(int), &g->kw}, {sizeof(int), &g->dilation},
                {sizeof(int), &prow0}, {sizeof(int), &c_lo},
                {sizeof(int), &c_hi}, {sizeof(float), &prm->cval}};
            st = set_args(k, ka, sizeof ka / sizeof ka[0], err);
            if (st != CLCONV_OK) goto cleanup;
            CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 2, NULL, gr, lr, 0,
                                               NULL, &ev[1]));
            st = enqueue_sep_cols(cl, k2, out_b, taps_u, g, rows, lx2, ly2, &ev[2], err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            const int fa[8] = {fr.fw, fr.top_h, fr.bot_y, fr.bot_off, fr.left_w,
                               fr.left_off, fr.right_x, fr.right_off};
            const karg ka[] = {
                {sizeof(cl_mem), &s}, {sizeof(cl_mem), &out_b},
                {sizeof(cl_mem), &taps}, {sizeof(cl_mem), &rmap_b},
                {sizeof(cl_mem), &cmap_b}, {sizeof(int), &sw},
                {sizeof(int), &g->out_w}, {sizeof(int), &rows},
                {sizeof(int), &g->kw}, {sizeof(int), &g->kh},
                {sizeof(int), &g->stride}, {sizeof(int), &g->dilation},
                {sizeof(int), &prow0}, {sizeof(int), &r_lo},
                {sizeof(int), &r_hi}, {sizeof(int), &c_lo},
                {sizeof(int), &c_hi}, {sizeof(float), &prm->cval},
                /* tiled_src only: the border strips */
                {sizeof(cl_mem), &frame_b}, {sizeof(int), &fa[0]},
                {sizeof(int), &fa[1]}, {sizeof(int), &fa[2]},
                {sizeof(int), &fa[3]}, {sizeof(int), &fa[4]},
                {sizeof(int), &fa[5]}, {sizeof(int), &fa[6]},
                {sizeof(int), &fa[7]}};
            st = set_args(k, ka, var == VAR_TILED ? 27 : 18, err);
            if (st != CLCONV_OK) goto cleanup;
            CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 2, NULL, gsz, lsz, 0,
                                               NULL, &ev[1]));
        }
        st = finish_band(cl, zc, out_b, host_out, out_bytes, ev, &tm, err);
        if (st != CLCONV_OK) goto cleanup;
        if (zc) clReleaseMemObject(out_b);
        out_b = NULL;
    }
    tm.kernel = variant_name(var);
    perturb(out);
cleanup:
    if (st != CLCONV_OK) clFinish(cl->queue);
    for (i = 0; i < 5; i++)
        if (ev[i]) clReleaseEvent(ev[i]);
    if (zc && out_b) clReleaseMemObject(out_b);
    if (src_b) clReleaseMemObject(src_b);
    if (rmap_b) clReleaseMemObject(rmap_b);
    if (cmap_b) clReleaseMemObject(cmap_b);
    if (frame_b) clReleaseMemObject(frame_b);
    if (taps) clReleaseMemObject(taps);
    if (taps_u) clReleaseMemObject(taps_u);
    pthread_mutex_unlock(&cl->lock);
    free(rmap);
    free(cmap);
    free(fr.data);
    if (timing) *timing = tm;
    return st;
}
