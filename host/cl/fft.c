/* fft.c — the FFT path: correlation by overlap-save FFT in N x N blocks
 * (kernels/fft.cl), rounded to the nearest integer on the device. It is only
 * taken where that rounding gives the exact result: integer filters on
 * integer values in 0..255, stride 1, dilation 1, and a filter small enough
 * in sum|K| that the FFT's float32 error stays far below 0.5 (the gate,
 * the cost model and the band sizing are in plan.c). The program is built
 * on the first call that takes the path, once per block side, so other runs
 * start as before; the bands go through the one band loop (bands.c).
 * It must not decide when the path is taken (plan.c) or loop over bands
 * itself.
 */
#define _POSIX_C_SOURCE 200809L
#include "cl/cl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define LANES 16

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
    if (cl->fft_cols) clReleaseMemObject(cl->fft_cols);
    cl->fft_cols = NULL;
    cl->fft_cols_cap = 0;
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
    static const char *const files[] = {"fft.cl"};
    float *tw = NULL;
    int *rev = NULL, i;
    char opts[64];
    const clconv__limits lim = clconv__limits_of(cl);
    cl_int e;

    *out = NULL;
    if (p->program) {
        *out = p;
        return CLCONV_OK;
    }
    /* The columns in __local memory where the device has room for them,
     * else in a global buffer: 32 KiB of local memory must do. */
    p->global_cols = !clconv__fft_local_ok(&lim, n);
    snprintf(opts, sizeof opts, "-DN=%d%s", n, p->global_cols ? " -DFFT_GLOBAL_SCRATCH" : "");
    st = clconv__build_program(cl, files, 1, opts,
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

/* What every band's launch of the FFT path reads. */
typedef struct fft_call {
    clconv_cl *cl;
    struct clconv_fft_prog *p;
    cl_kernel load;
    int n, V, nbx;
    size_t lx;
} fft_call;

/* One band: load the band's extended plane, forward FFT along y, along x
 * times the spectrum and back, inverse along y into the band's output. */
static clconv_status fft_launch(void *user, const clconv__band *b, cl_event ev[4],
                                char *err)
{
    const fft_call *c = user;
    struct clconv_fft_prog *p = c->p;
    const int n = c->n, m = n / 2, V = c->V;
    const int bnby = (b->rows + V - 1) / V, nb = bnby * c->nbx;
    const int ngrp = (nb + LANES - 1) / LANES, erows = (bnby - 1) * V + n;
    const int ew = (c->nbx - 1) * V + n;
    const size_t gl[2] = {((size_t)ew + 15) / 16, (size_t)erows};
    const size_t gy[2] = {(size_t)n / 16, (size_t)ngrp}, ly[2] = {1, 1};
    const size_t gx[2] = {clconv__round_up((size_t)m + 1, c->lx), (size_t)ngrp};
    const size_t lxs[2] = {c->lx, 1};
    cl_command_queue q = b->queue;
    clconv_status st = CLCONV_OK;
    CL_TRY(err, clSetKernelArg(c->load, 0, sizeof(cl_mem), &b->in));
    CL_TRY(err, clSetKernelArg(c->load, 6, sizeof(int), &erows));
    CL_TRY(err, clSetKernelArg(c->load, 7, sizeof(int), &b->r0));
    CL_TRY(err, clSetKernelArg(p->fwd_y, 6, sizeof(int), &nb));
    CL_TRY(err, clSetKernelArg(p->inv_y, 1, sizeof(cl_mem), &b->out));
    CL_TRY(err, clSetKernelArg(p->inv_y, 5, sizeof(int), &b->rows));
    CL_TRY(err, clSetKernelArg(p->inv_y, 7, sizeof(int), &nb));
    CL_TRY(err, clEnqueueNDRangeKernel(q, c->load, 2, NULL, gl, NULL, 0, NULL, &ev[0]));
    CL_TRY(err, clEnqueueNDRangeKernel(q, p->fwd_y, 2, NULL, gy, ly, 0, NULL, &ev[1]));
    CL_TRY(err, clEnqueueNDRangeKernel(q, p->x_conv, 2, NULL, gx, lxs, 0, NULL, &ev[2]));
    CL_TRY(err, clEnqueueNDRangeKernel(q, p->inv_y, 2, NULL, gy, ly, 0, NULL, &ev[3]));
cleanup:
    return st;
}

/* The arguments that do not change from band to band (the source's
 * buffer is the band's: fft_launch). */
static clconv_status static_args(const fft_call *c, const clconv__fft_src *src,
                                 const clconv_geometry *g, cl_mem rmap_b,
                                 cl_mem cmap_b, char *err)
{
    clconv_cl *cl = c->cl;
    struct clconv_fft_prog *p = c->p;
    cl_kernel kl = c->load;
    const int ew = (c->nbx - 1) * c->V + c->n;
    const int round_out = !clconv__fault("fft-raw");
    clconv_status st = CLCONV_OK;
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
    CL_TRY(err, clSetKernelArg(p->fwd_y, 5, sizeof(int), &c->nbx));
    CL_TRY(err, clSetKernelArg(p->fwd_y, 7, sizeof(int), &c->V));
    CL_TRY(err, clSetKernelArg(p->x_conv, 0, sizeof(cl_mem), &cl->fft_scratch));
    CL_TRY(err, clSetKernelArg(p->x_conv, 1, sizeof(cl_mem), &cl->fft_h));
    CL_TRY(err, clSetKernelArg(p->x_conv, 2, sizeof(cl_mem), &p->tw));
    CL_TRY(err, clSetKernelArg(p->inv_y, 0, sizeof(cl_mem), &cl->fft_scratch));
    CL_TRY(err, clSetKernelArg(p->inv_y, 2, sizeof(cl_mem), &p->tw));
    CL_TRY(err, clSetKernelArg(p->inv_y, 3, sizeof(cl_mem), &p->rev));
    CL_TRY(err, clSetKernelArg(p->inv_y, 4, sizeof(int), &g->out_w));
    CL_TRY(err, clSetKernelArg(p->inv_y, 6, sizeof(int), &c->nbx));
    CL_TRY(err, clSetKernelArg(p->inv_y, 8, sizeof(int), &c->V));
    CL_TRY(err, clSetKernelArg(p->inv_y, 9, sizeof(int), &round_out));
    if (p->global_cols) {
        CL_TRY(err, clSetKernelArg(p->fwd_y, 8, sizeof(cl_mem), &cl->fft_cols));
        CL_TRY(err, clSetKernelArg(p->inv_y, 10, sizeof(cl_mem), &cl->fft_cols));
    }
cleanup:
    return st;
}

clconv_status clconv__fft_run(clconv_cl *cl, clconv__slot *slot,
                              const clconv__fft_src *src,
                              const clconv_filter *f, const clconv_geometry *g,
                              clconv_plane *out, clconv_cl_timing *tm,
                              clconv__map_run *mr, char *err)
{
    const clconv__limits lim = clconv__limits_of(cl);
    const int kmax = g->kw > g->kh ? g->kw : g->kh;
    const int idx = clconv__fft_block_index(g), n = 128 << idx;
    const int V = n - kmax + 1;
    const int nbx = (g->out_w + V - 1) / V;
    const int ew = (nbx - 1) * V + n;
    const unsigned long long src_bytes =
        (unsigned long long)src->sw * (unsigned long long)src->sh * (src->u8 ? 1 : sizeof(float));
    const long long rows = clconv__band_rows_fft(&lim, g, src_bytes);
    clconv_status st = CLCONV_OK;
    clconv__band_run run;
    fft_call c;
    cl_mem rmap_b = NULL, cmap_b = NULL;

    if (rows < 1 || clconv__fault("fft-nomem"))
        return CLCONV_E_TOO_LARGE; /* nothing done: the caller takes tiled */
    memset(&run, 0, sizeof run);
    memset(&c, 0, sizeof c);
    c.cl = cl;
    c.n = n;
    c.V = V;
    c.nbx = nbx;
    st = get_prog(cl, idx, &c.p, err);
    if (st != CLCONV_OK) return st;
    st = spectrum(cl, f, n, err);
    if (st != CLCONV_OK) return st;
    if (!clconv__fft_gate_ok(cl->fft_h_max)) return CLCONV_E_TOO_LARGE; /* declined */
    c.load = c.p->load[src->u8 ? 1 : 0];

    {
        const long long band = rows < g->out_h ? rows : g->out_h;
        const long long bnby = (band + V - 1) / V;
        st = clconv__ensure_buf(cl, &cl->fft_ext, &cl->fft_ext_cap,
                                (size_t)((bnby - 1) * V + n) * (size_t)ew * sizeof(float),
                                CL_MEM_READ_WRITE, err);
        if (st == CLCONV_OK)
            st = clconv__ensure_buf(cl, &cl->fft_scratch, &cl->fft_scratch_cap,
                                    (size_t)((bnby * nbx + LANES - 1) / LANES) *
                                        (size_t)clconv__fft_group_bytes(n),
                                    CL_MEM_READ_WRITE, err);
        if (st == CLCONV_OK && c.p->global_cols)
            st = clconv__ensure_buf(cl, &cl->fft_cols, &cl->fft_cols_cap,
                                    (size_t)((bnby * nbx + LANES - 1) / LANES) *
                                        (size_t)clconv__fft_column_bytes(n),
                                    CL_MEM_READ_WRITE, err);
        if (st != CLCONV_OK) goto cleanup;
    }
    st = clconv__copy_buf(cl, &rmap_b, (size_t)g->padded_h * sizeof(int), src->rmap, err);
    if (st == CLCONV_OK)
        st = clconv__copy_buf(cl, &cmap_b, (size_t)g->padded_w * sizeof(int), src->cmap, err);
    if (st != CLCONV_OK) goto cleanup;
    {
        size_t one = 1;
        st = clconv__group_size(cl, c.p->x_conv, 16, 1, &c.lx, &one, err);
        if (st != CLCONV_OK) goto cleanup;
        if (c.lx < 16) c.lx = 1; /* (M + 1) items, rounded up to lx */
    }
    st = static_args(&c, src, g, rmap_b, cmap_b, err);
    if (st != CLCONV_OK) goto cleanup;
    run.cl = cl;
    run.slot = slot;
    run.g = g;
    run.rows_per_band = rows;
    /* One output buffer: plan.c sized the band for one (the FFT's own
     * buffers dwarf it); the source still goes up before the bands. */
    run.depth = 1;
    run.src = src->data;
    run.src_bytes = (size_t)src_bytes;
    run.launch = fft_launch;
    run.user = &c;
    run.map = mr;
    st = clconv__run_bands(&run, out->data, tm, err);
    if (st == CLCONV_OK) tm->kernel = "fft";
cleanup:
    if (rmap_b) clReleaseMemObject(rmap_b);
    if (cmap_b) clReleaseMemObject(cmap_b);
    return st;
}
