/* conv_fft.c — the FFT path: correlation by overlap-save FFT in N x N blocks
 * (kernels/fft.cl), rounded to the nearest integer on the device. It is only
 * taken where that rounding gives the exact result: integer filters on
 * integer values in 0..255, stride 1, dilation 1, and a filter small enough
 * in sum|K| that the FFT's float32 error stays far below 0.5 (the gate
 * below). The program is built on the first call that takes the path, once
 * per block side, so other runs start as before.
 */
#define _POSIX_C_SOURCE 200809L
#include "cl_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* The default choice takes the FFT path for qualifying filters of at least
 * FFT_MIN_TAPS taps (rank-1 filters keep the separable path) when it also
 * predicts it faster than tiled. Measured on PoCL, 2 shared cores, kernel
 * time, fft and tiled interleaved (bench/RESULTS.md "FFT path"), tiled/fft:
 *   1024^2: 15x15 0.9, 19x19 1.4, 21x21 1.8, 23x23 1.1-2.2, 31x31 4.8, 63x63 5.3
 *   4096^2: 15x15 0.7-1.4, 19x19 1.6, 21x21 2.1, 23x23 2.5, 31x31 4.2, 63x63 13
 * so 19x19 (361 taps) is the smallest size that won at both sizes. The
 * prediction: the FFT costs about FFT_GROUP_COST[i] tap-multiplies of the
 * tiled kernel per group of 16 blocks, whatever the filter (fitted to the
 * rows above: 46M, 131-183M, 717-750M for N = 128, 256, 512; the larger
 * values kept), tiled out_w * out_h * taps. It keeps small images (one
 * group of 16 lanes computes 16 blocks however few hold pixels) on tiled. */
#define FFT_MIN_TAPS 361
static const double FFT_GROUP_COST[CLCONV_FFT_SIZES] = {46e6, 180e6, 750e6};

/* The accuracy gate. The FFT result is a float32 approximation of an
 * integer; rint gives that integer while the error is below 0.5. The FFT's
 * rounding errors are relative to the size of what it transforms, and the
 * largest output any 8-bit image can give a block is about
 *   255 * max|H|,  H = the filter's DFT on the block's N x N frequencies
 * (a constant image or a cosine at the frequency where |H| peaks). So the
 * estimate is A = 255 * max|H| * FLT_EPSILON, and the path is taken only
 * while FFT_ERR_C * A <= FFT_ERR_MAX:
 *  - FFT_ERR_C = 5: the largest max error / A measured (bench/fft_error.c,
 *    bench/RESULTS.md "FFT path": 5 filter shapes incl. a single big tap,
 *    all-positive and checkerboard taps, x 6 images incl. white, binary,
 *    checkerboard and the worst-case cosine, k = 15, 31, 63, every pixel of
 *    512^2) was 4.34 with the taps scaled to the gate's limit and 4.54 with
 *    them 4x bigger (errors up to 0.375, still rounding exactly): the ratio
 *    holds as the taps grow. Single big taps are the worst; most cases stay
 *    below 3.
 *  - FFT_ERR_MAX = 0.125: 4x below the 0.5 where rounding would go wrong.
 * This is empirical, not a bound (the worst-case FFT error bound is far too
 * big to use). The prototype's rule on sum|K| (branch wip-fft) fitted its
 * one filter shape and failed by 10x on a single big tap; max|H| <= sum|K|,
 * so this rule is never looser than a sum|K| rule with the same constant.
 * max|H| comes with the spectrum; ||K||_2 <= max|H| (Parseval) rejects
 * hopeless filters before computing it. */
#define FFT_ERR_C 5.0
#define FFT_ERR_MAX 0.125

/* Whether an estimate built on `mag` (max|H| or a bound of it) passes;
 * CLCONV_FAULT=fft-nogate lets bench/fft_error.c measure past the gate. */
static int gate_ok(double mag)
{
    return FFT_ERR_C * 255.0 * mag * FLT_EPSILON <= FFT_ERR_MAX ||
           clconv__fault("fft-nogate");
}

/* Of the device's global memory, the share one call may take (as conv_cl.c). */
#define MEM_SHARE 0.5

#define LANES 16

/* Block side index (N = 128 << i) for a filter of kmax taps a side: N about
 * 8 kmax, 128..512 (the prototype's measurements), and always > kmax. */
static int block_index(int kmax)
{
    int i;
    for (i = 0; i < CLCONV_FFT_SIZES - 1; i++)
        if ((128 << i) >= 8 * kmax) break;
    return i;
}

/* __local bytes of fft_fwd_y / fft_inv_y: 16 columns of M + 1 complex
 * float16 values. */
static size_t local_bytes(int n)
{
    return (size_t)16 * (size_t)(n / 2 + 1) * 2 * 16 * sizeof(float);
}

/* Scratch bytes per group of 16 blocks: M + 1 slots of N + 1 complex
 * float16 values. */
static size_t group_bytes(int n)
{
    return (size_t)(n / 2 + 1) * (size_t)(n + 1) * 2 * LANES * sizeof(float);
}

/* ||K||_2: a lower bound of max|H| (the mean of |H|^2 over the grid). */
static double norm2(const clconv_filter *f)
{
    double s = 0;
    int i;
    for (i = 0; i < f->kh * f->kw; i++) s += f->taps[i] * f->taps[i];
    return sqrt(s);
}

int clconv__fft_filter_ok(const clconv_cl *cl, const clconv_filter *f,
                          const clconv_geometry *g, int forced)
{
    const int kmax = g->kw > g->kh ? g->kw : g->kh;
    const int n = 128 << block_index(kmax);
    if (g->stride != 1 || g->dilation != 1 || kmax >= n) return 0;
    if (!forced) {
        const int v = n - kmax + 1;
        const double groups = ceil((double)((g->out_w + v - 1) / v) *
                                   (double)((g->out_h + v - 1) / v) / LANES);
        const double taps = (double)g->kw * g->kh;
        if (taps < FFT_MIN_TAPS ||
            groups * FFT_GROUP_COST[block_index(kmax)] >= (double)g->out_w * g->out_h * taps)
            return 0;
    }
    if (!clconv_filter_is_integer(f) || !gate_ok(norm2(f))) return 0;
    return cl->info.local_mem >= local_bytes(n);
}

static void release_prog(struct clconv_fft_prog *p)
{
    int i;
    for (i = 0; i < 2; i++)
        if (p->load[i]) clReleaseKernel(p->load[i]);
    if (p->fwd_y) clReleaseKernel(p->fwd_y);
    if (p->x_conv) clReleaseKernel(p->x_conv);
    if (p->inv_y) clReleaseKernel(p->inv_y);
    if (p->tw) clReleaseMemObject(p->tw);
    if (p->rev) clReleaseMemObject(p->rev);
    if (p->program) clReleaseProgram(p->program);
    memset(p, 0, sizeof *p);
}

void clconv__fft_release(clconv_cl *cl)
{
    int i;
    for (i = 0; i < CLCONV_FFT_SIZES; i++) release_prog(&cl->fft[i]);
    if (cl->fft_ext) clReleaseMemObject(cl->fft_ext);
    if (cl->fft_scratch) clReleaseMemObject(cl->fft_scratch);
    if (cl->fft_h) clReleaseMemObject(cl->fft_h);
    free(cl->fft_h_taps);
    cl->fft_ext = cl->fft_scratch = cl->fft_h = NULL;
    cl->fft_ext_cap = cl->fft_scratch_cap = 0;
    cl->fft_h_taps = NULL;
}

static int rev_bits(int v, int bits)
{
    int r = 0, i;
    for (i = 0; i < bits; i++) r = (r << 1) | ((v >> i) & 1);
    return r;
}

static int log2i(int n)
{
    int l = 0;
    while ((1 << l) < n) l++;
    return l;
}

/* The program for block side 128 << idx, its kernels, twiddles and
 * bit-reversal table; built once, on first use. */
static clconv_status get_prog(clconv_cl *cl, int idx, struct clconv_fft_prog **out,
                              char *err)
{
    clconv_status st = CLCONV_OK;
    struct clconv_fft_prog *p = &cl->fft[idx];
    const int n = 128 << idx, m = n / 2, logm = log2i(m);
    /* A test switch (CLCONV_FAULT=fft-build): the lazy build fails with the
     * compiler's log, like the main program's. */
    const char *broken = "__kernel void fft_fwd_y( { this is not C }\n";
    float *tw = NULL;
    int *rev = NULL, i;
    char opts[32];
    cl_int e;

    *out = NULL;
    if (p->program) {
        *out = p;
        return CLCONV_OK;
    }
    snprintf(opts, sizeof opts, "-DN=%d", n);
    st = clconv__build_program(cl, "fft.cl", opts,
                               clconv__fault("fft-build") ? broken : NULL,
                               &p->program, err);
    if (st != CLCONV_OK) goto cleanup;
    {
        const clconv__kernel_ref ks[] = {
            {"fft_load_f32", &p->load[0]},
            {"fft_load_u8", &p->load[1]},
            {"fft_fwd_y", &p->fwd_y},
            {"fft_x_conv", &p->x_conv},
            {"fft_inv_y", &p->inv_y},
        };
        st = clconv__create_kernels(p->program, ks, sizeof ks / sizeof ks[0], err);
        if (st != CLCONV_OK) goto cleanup;
    }
    tw = malloc((size_t)n * sizeof(float));
    rev = malloc((size_t)(m + 1) * sizeof(int));
    if (!tw || !rev) {
        clconv__err(err, "out of memory");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    for (i = 0; i < m; i++) {
        tw[2 * i] = (float)cos(2 * M_PI * i / n);
        tw[2 * i + 1] = (float)-sin(2 * M_PI * i / n);
    }
    for (i = 0; i < m; i++) rev[i] = rev_bits(i, logm);
    rev[m] = 0;
    p->tw = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                           (size_t)n * sizeof(float), tw, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    p->rev = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            (size_t)(m + 1) * sizeof(int), rev, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    *out = p;
cleanup:
    if (st != CLCONV_OK) release_prog(p);
    free(tw);
    free(rev);
    return st;
}

/* cl->fft_h := the spectrum fft_x_conv multiplies by, for f at block side n:
 * H[s][t] = conj(DFT2(K zero-padded to n x n))[ky(s)][rev(t)] / (n * n/2),
 * ky(s) = rev(s) for s < M, M for s = M: the order the y pass leaves its
 * slots in and the x pass's DIF output order. Conjugated: correlation, the
 * filter not flipped. Computed in double, kept for the next call with the
 * same taps and block. */
static clconv_status spectrum(clconv_cl *cl, const clconv_filter *f, int n,
                              char *err)
{
    clconv_status st = CLCONV_OK;
    const int m = n / 2, kh = f->kh, kw = f->kw, logn = log2i(n), logm = logn - 1;
    const size_t nt = (size_t)kh * (size_t)kw;
    double *cs = NULL, *R = NULL, *F = NULL, *keep = NULL, hmax = 0;
    float *H = NULL;
    cl_int e;
    int i, j, u, v, s, t;

    if (cl->fft_h && cl->fft_h_n == n && cl->fft_h_kh == kh && cl->fft_h_kw == kw &&
        memcmp(cl->fft_h_taps, f->taps, nt * sizeof(double)) == 0)
        return CLCONV_OK;
    if (cl->fft_h) clReleaseMemObject(cl->fft_h);
    cl->fft_h = NULL;
    cs = malloc((size_t)n * 2 * sizeof(double));
    R = malloc((size_t)kh * n * 2 * sizeof(double));
    F = malloc((size_t)(m + 1) * n * 2 * sizeof(double));
    H = malloc((size_t)(m + 1) * n * 2 * sizeof(float));
    keep = malloc(nt * sizeof(double));
    if (!cs || !R || !F || !H || !keep) {
        clconv__err(err, "out of memory");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    for (i = 0; i < n; i++) {
        cs[2 * i] = cos(2 * M_PI * i / n);
        cs[2 * i + 1] = -sin(2 * M_PI * i / n);
    }
    /* Along x for every filter row, then along y for rows 0..M (the rest
     * are conjugates the real FFT never needs). */
    for (i = 0; i < kh; i++)
        for (v = 0; v < n; v++) {
            double re = 0, im = 0;
            for (j = 0; j < kw; j++) {
                const int w = (int)(((long long)v * j) % n);
                re += f->taps[i * kw + j] * cs[2 * w];
                im += f->taps[i * kw + j] * cs[2 * w + 1];
            }
            R[((size_t)i * n + v) * 2] = re;
            R[((size_t)i * n + v) * 2 + 1] = im;
        }
    for (u = 0; u <= m; u++)
        for (v = 0; v < n; v++) {
            double re = 0, im = 0;
            for (i = 0; i < kh; i++) {
                const int w = (int)(((long long)u * i) % n);
                const double a = R[((size_t)i * n + v) * 2], b = R[((size_t)i * n + v) * 2 + 1];
                re += a * cs[2 * w] - b * cs[2 * w + 1];
                im += a * cs[2 * w + 1] + b * cs[2 * w];
            }
            F[((size_t)u * n + v) * 2] = re;
            F[((size_t)u * n + v) * 2 + 1] = im;
            if (re * re + im * im > hmax) hmax = re * re + im * im;
        }
    {
        const double sc = 1.0 / ((double)n * m);
        for (s = 0; s <= m; s++) {
            const int ky = s < m ? rev_bits(s, logm) : m;
            for (t = 0; t < n; t++) {
                const int kx = rev_bits(t, logn);
                H[((size_t)s * n + t) * 2] = (float)(F[((size_t)ky * n + kx) * 2] * sc);
                H[((size_t)s * n + t) * 2 + 1] = (float)(-F[((size_t)ky * n + kx) * 2 + 1] * sc);
            }
        }
    }
    cl->fft_h = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                               (size_t)(m + 1) * n * 2 * sizeof(float), H, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    memcpy(keep, f->taps, nt * sizeof(double));
    free(cl->fft_h_taps);
    cl->fft_h_taps = keep;
    keep = NULL;
    cl->fft_h_max = sqrt(hmax);
    cl->fft_h_n = n;
    cl->fft_h_kh = kh;
    cl->fft_h_kw = kw;
cleanup:
    free(cs);
    free(R);
    free(F);
    free(H);
    free(keep);
    return st;
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

clconv_status clconv__fft_run(clconv_cl *cl, const clconv__fft_src *src,
                              const clconv_filter *f, const clconv_geometry *g,
                              clconv_plane *out, clconv_cl_timing *tm, char *err)
{
    clconv_status st = CLCONV_OK;
    const int kmax = g->kw > g->kh ? g->kw : g->kh;
    const int idx = block_index(kmax), n = 128 << idx, m = n / 2;
    const int V = n - kmax + 1;
    const int nbx = (g->out_w + V - 1) / V, nby = (g->out_h + V - 1) / V;
    const int ew = (nbx - 1) * V + n;
    const size_t ow = (size_t)g->out_w;
    const unsigned long long gbytes = group_bytes(n);
    const unsigned long long src_bytes =
        (unsigned long long)src->sw * (unsigned long long)src->sh * (src->u8 ? 1 : sizeof(float));
    const unsigned long long fixed =
        src_bytes + (unsigned long long)(m + 1) * n * 2 * sizeof(float) +
        ((unsigned long long)g->padded_w + (unsigned long long)g->padded_h) * sizeof(int);
    const unsigned long long max_alloc = cl->info.max_alloc ? cl->info.max_alloc
                                                            : (1ULL << 27);
    const unsigned long long budget =
        cl->info.global_mem ? (unsigned long long)(cl->info.global_mem * MEM_SHARE)
                            : max_alloc;
    const int round_out = !clconv__fault("fft-raw");
    struct clconv_fft_prog *p = NULL;
    cl_mem src_b = NULL, rmap_b = NULL, cmap_b = NULL, out_b = NULL;
    cl_event ev[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    long long cb, rows_per_band, r0;
    size_t lx = 1, kwg = 0;
    cl_int e;
    int i, zc;

    /* Block rows per band: as many as fit, halving until the band's
     * extended plane, scratch and output fit one allocation each and all
     * together (with the source, spectrum and maps) the budget. */
    for (cb = nby; cb >= 1; cb /= 2) {
        const unsigned long long ext = ((unsigned long long)(cb - 1) * V + n) * ew * sizeof(float);
        const unsigned long long scr = (unsigned long long)((cb * nbx + LANES - 1) / LANES) * gbytes;
        const unsigned long long ob = (unsigned long long)(cb * V < g->out_h ? cb * V : g->out_h) *
                                      ow * sizeof(float);
        if (ext <= max_alloc && scr <= max_alloc && ob <= max_alloc &&
            fixed + ext + scr + ob <= budget)
            break;
    }
    if (cb < 1 || src_bytes > max_alloc || clconv__fault("fft-nomem"))
        return CLCONV_E_TOO_LARGE; /* nothing done: the caller takes tiled */
    rows_per_band = cb * V;
    if (cl->band_rows > 0 && cl->band_rows < rows_per_band) rows_per_band = cl->band_rows;

    st = get_prog(cl, idx, &p, err);
    if (st != CLCONV_OK) return st;
    st = spectrum(cl, f, n, err);
    if (st != CLCONV_OK) return st;
    if (!gate_ok(cl->fft_h_max)) return CLCONV_E_TOO_LARGE; /* declined */

    zc = clconv__zero_copy(cl);
    {
        const long long bands_rows = rows_per_band < g->out_h ? rows_per_band : g->out_h;
        const long long bnby = (bands_rows + V - 1) / V;
        st = clconv__ensure_buf(cl, &cl->fft_ext, &cl->fft_ext_cap,
                                (size_t)((bnby - 1) * V + n) * (size_t)ew * sizeof(float),
                                CL_MEM_READ_WRITE, err);
        if (st == CLCONV_OK)
            st = clconv__ensure_buf(cl, &cl->fft_scratch, &cl->fft_scratch_cap,
                                    (size_t)((bnby * nbx + LANES - 1) / LANES) * (size_t)gbytes,
                                    CL_MEM_READ_WRITE, err);
        if (st == CLCONV_OK && !zc)
            st = clconv__ensure_buf(cl, &cl->out_buf, &cl->out_cap,
                                    (size_t)bands_rows * ow * sizeof(float),
                                    CL_MEM_WRITE_ONLY, err);
        if (st != CLCONV_OK) goto cleanup;
    }
    rmap_b = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            (size_t)g->padded_h * sizeof(int), (void *)src->rmap, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    cmap_b = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            (size_t)g->padded_w * sizeof(int), (void *)src->cmap, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    if (zc) {
        st = clconv__wrap_host(cl, &src_b, CL_MEM_READ_ONLY, (size_t)src_bytes,
                               (void *)src->data, err);
        if (st != CLCONV_OK) goto cleanup;
    } else {
        st = clconv__ensure_buf(cl, &cl->in_buf, &cl->in_cap, (size_t)src_bytes,
                                CL_MEM_READ_ONLY, err);
        if (st != CLCONV_OK) goto cleanup;
        src_b = cl->in_buf;
        CL_TRY(err, clEnqueueWriteBuffer(cl->queue, src_b, CL_FALSE, 0, (size_t)src_bytes,
                                         src->data, 0, NULL, &ev[0]));
    }
    CL_TRY(err, clGetKernelWorkGroupInfo(p->x_conv, cl->dev, CL_KERNEL_WORK_GROUP_SIZE,
                                         sizeof kwg, &kwg, NULL));
    lx = kwg >= 16 ? 16 : 1;
    {
        /* Arguments that do not change from band to band. */
        cl_kernel kl = p->load[src->u8 ? 1 : 0];
        CL_TRY(err, clSetKernelArg(kl, 0, sizeof(cl_mem), &src_b));
        CL_TRY(err, clSetKernelArg(kl, 1, sizeof(cl_mem), &cl->fft_ext));
        CL_TRY(err, clSetKernelArg(kl, 2, sizeof(cl_mem), &rmap_b));
        CL_TRY(err, clSetKernelArg(kl, 3, sizeof(cl_mem), &cmap_b));
        CL_TRY(err, clSetKernelArg(kl, 4, sizeof(int), &src->sw));
        CL_TRY(err, clSetKernelArg(kl, 5, sizeof(int), &ew));
        CL_TRY(err, clSetKernelArg(kl, 8, sizeof(int), &g->padded_h));
        CL_TRY(err, clSetKernelArg(kl, 9, sizeof(int), &g->padded_w));
        CL_TRY(err, clSetKernelArg(kl, 10, sizeof(int), &src->c_lo));
        CL_TRY(err, clSetKernelArg(kl, 11, sizeof(int), &src->c_hi));
        CL_TRY(err, clSetKernelArg(kl, 12, sizeof(float), &src->cval));
        CL_TRY(err, clSetKernelArg(p->fwd_y, 0, sizeof(cl_mem), &cl->fft_ext));
        CL_TRY(err, clSetKernelArg(p->fwd_y, 1, sizeof(cl_mem), &cl->fft_scratch));
        CL_TRY(err, clSetKernelArg(p->fwd_y, 2, sizeof(cl_mem), &p->tw));
        CL_TRY(err, clSetKernelArg(p->fwd_y, 3, sizeof(cl_mem), &p->rev));
        CL_TRY(err, clSetKernelArg(p->fwd_y, 4, sizeof(int), &ew));
        CL_TRY(err, clSetKernelArg(p->fwd_y, 5, sizeof(int), &nbx));
        CL_TRY(err, clSetKernelArg(p->fwd_y, 7, sizeof(int), &V));
        CL_TRY(err, clSetKernelArg(p->x_conv, 0, sizeof(cl_mem), &cl->fft_scratch));
        CL_TRY(err, clSetKernelArg(p->x_conv, 1, sizeof(cl_mem), &cl->fft_h));
        CL_TRY(err, clSetKernelArg(p->x_conv, 2, sizeof(cl_mem), &p->tw));
        CL_TRY(err, clSetKernelArg(p->inv_y, 0, sizeof(cl_mem), &cl->fft_scratch));
        CL_TRY(err, clSetKernelArg(p->inv_y, 2, sizeof(cl_mem), &p->tw));
        CL_TRY(err, clSetKernelArg(p->inv_y, 3, sizeof(cl_mem), &p->rev));
        CL_TRY(err, clSetKernelArg(p->inv_y, 4, sizeof(int), &g->out_w));
        CL_TRY(err, clSetKernelArg(p->inv_y, 6, sizeof(int), &nbx));
        CL_TRY(err, clSetKernelArg(p->inv_y, 8, sizeof(int), &V));
        CL_TRY(err, clSetKernelArg(p->inv_y, 9, sizeof(int), &round_out));
    }

    for (r0 = 0; r0 < g->out_h; r0 += rows_per_band) {
        const int rows = (int)(g->out_h - r0 < rows_per_band ? g->out_h - r0 : rows_per_band);
        const int bnby = (rows + V - 1) / V, nb = bnby * nbx;
        const int ngrp = (nb + LANES - 1) / LANES, erows = (bnby - 1) * V + n;
        const int prow0 = (int)r0;
        const size_t out_bytes = (size_t)rows * ow * sizeof(float);
        float *host_out = out->data + (size_t)r0 * ow;
        cl_kernel kl = p->load[src->u8 ? 1 : 0];
        const size_t gl[2] = {((size_t)ew + 15) / 16, (size_t)erows};
        const size_t gy[2] = {(size_t)n / 16, (size_t)ngrp}, ly[2] = {1, 1};
        const size_t gx[2] = {round_up((size_t)m + 1, lx), (size_t)ngrp}, lxs[2] = {lx, 1};
        if (zc) {
            st = clconv__wrap_host(cl, &out_b, CL_MEM_WRITE_ONLY, out_bytes, host_out, err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            out_b = cl->out_buf;
        }
        CL_TRY(err, clSetKernelArg(kl, 6, sizeof(int), &erows));
        CL_TRY(err, clSetKernelArg(kl, 7, sizeof(int), &prow0));
        CL_TRY(err, clSetKernelArg(p->fwd_y, 6, sizeof(int), &nb));
        CL_TRY(err, clSetKernelArg(p->inv_y, 1, sizeof(cl_mem), &out_b));
        CL_TRY(err, clSetKernelArg(p->inv_y, 5, sizeof(int), &rows));
        CL_TRY(err, clSetKernelArg(p->inv_y, 7, sizeof(int), &nb));
        CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, kl, 2, NULL, gl, NULL, 0,
                                           NULL, &ev[1]));
        CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, p->fwd_y, 2, NULL, gy, ly, 0,
                                           NULL, &ev[2]));
        CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, p->x_conv, 2, NULL, gx, lxs, 0,
                                           NULL, &ev[3]));
        CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, p->inv_y, 2, NULL, gy, ly, 0,
                                           NULL, &ev[4]));
        st = clconv__read_back(cl, zc, out_b, host_out, out_bytes, &ev[5], &ev[6], err);
        if (st != CLCONV_OK) goto cleanup;
        if (zc) clReleaseMemObject(out_b);
        out_b = NULL;
        tm->upload_ms += clconv__event_ms(ev[0]);
        tm->kernel_ms += clconv__event_ms(ev[1]) + clconv__event_ms(ev[2]) +
                         clconv__event_ms(ev[3]) + clconv__event_ms(ev[4]);
        tm->download_ms += clconv__event_ms(ev[5]) + clconv__event_ms(ev[6]);
        tm->bands++;
        for (i = 0; i < 7; i++) {
            if (ev[i]) clReleaseEvent(ev[i]);
            ev[i] = NULL;
        }
    }
    tm->kernel = "fft";
cleanup:
    if (st != CLCONV_OK) clFinish(cl->queue);
    for (i = 0; i < 7; i++)
        if (ev[i]) clReleaseEvent(ev[i]);
    if (zc && out_b) clReleaseMemObject(out_b);
    if (zc && src_b) clReleaseMemObject(src_b);
    if (rmap_b) clReleaseMemObject(rmap_b);
    if (cmap_b) clReleaseMemObject(cmap_b);
    return st;
}
