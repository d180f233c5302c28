/* plan.c — the device path's decisions from numbers alone (plan.h): the
 * memory budget, the kernel variant of a call, whether the FFT path may
 * take it (exactness gate, cost model), and the rows of a band. Nothing
 * here touches OpenCL, so tests/test_plan.c checks it without a device.
 * It must not call OpenCL or allocate device memory.
 */
#include "cl/cl.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Of the device's global memory, the share one call may take: the rest is
 * left to other programs and to the driver. */
#define MEM_SHARE 0.5

/* Rank-1 filters with at least this many taps take the separable path by
 * default (bench/RESULTS.md: on PoCL the two passes beat the tiled kernel
 * from 7x7 on, and lose at 5x5). */
#define SEP_MIN_TAPS 36

void clconv__budget(const clconv__limits *lim, unsigned long long *max_alloc,
                    unsigned long long *budget)
{
    *max_alloc = lim->max_alloc ? lim->max_alloc : (1ULL << 27);
    *budget = lim->global_mem ? (unsigned long long)(lim->global_mem * MEM_SHARE)
                              : *max_alloc;
}

int clconv__variant_of(const char *v)
{
    int i;
    if (!v) return -1;
    for (i = 0; i < CLCONV__VARIANTS; i++)
        if (strcmp(v, clconv__registry[i].name) == 0) return i;
    return -1;
}

const char *clconv__variant_name(int v)
{
    return v >= 0 && v < CLCONV__VARIANTS ? clconv__registry[v].name : NULL;
}

int clconv__forced_variant(int set)
{
    return set >= 0 ? set : clconv__variant_of(getenv("CLCONV_KERNEL"));
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
int clconv__factor_rank1(const clconv_filter *f, float *u, float *v)
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

/* The local kernel's __local tile for an lx x ly work-group, in bytes: its
 * outputs (lx * CLCONV_LOCAL_R by ly) and their halo. Only ever forced
 * (auto never picks it: bench/RESULTS.md), and then only when this fits the
 * device's local memory; else the tiled kernel runs. */
unsigned long long clconv__local_bytes(const clconv_geometry *g, size_t lx, size_t ly)
{
    return clconv__local_bytes_r(g, lx, ly, CLCONV_LOCAL_R);
}

unsigned long long clconv__local_bytes_r(const clconv_geometry *g, size_t lx, size_t ly,
                                         int r)
{
    return ((unsigned long long)lx * (unsigned long long)r +
            (unsigned long long)(g->kw - 1) * g->dilation) *
           ((unsigned long long)ly + (unsigned long long)(g->kh - 1) * g->dilation) *
           sizeof(float);
}

/* Whether variant v can run this call, by what its registry row says it
 * supports (fu, fv: the separable factors, when it takes them). */
static int runs(int v, const clconv__limits *lim, const clconv_filter *f,
                const clconv_geometry *g, float *fu, float *fv)
{
    const clconv__kernel_desc *d = &clconv__registry[v];
    if (d->stride1 && g->stride != 1) return 0;
    if (d->local_tile && clconv__local_bytes(g, d->want_x, d->want_y) > lim->local_mem)
        return 0;
    return !d->rank1 || clconv__factor_rank1(f, fu, fv);
}

int clconv__choose_variant(const clconv__limits *lim, int forced_in,
                           const clconv_filter *f, const clconv_geometry *g,
                           float *fu, float *fv)
{
    const int forced = forced_in == CLCONV__FFT ? -1 : forced_in;
    /* fft is decided apart (clconv__fft_wanted); where it does not apply,
     * the default choice stands, as it does for any forced variant that
     * cannot run the call. local is never the default. */
    if (forced >= 0 && runs(forced, lim, f, g, fu, fv))
        return forced;
    if (forced < 0 && g->kw * g->kh >= SEP_MIN_TAPS && g->kw > 1 && g->kh > 1 &&
        runs(CLCONV__SEPARABLE, lim, f, g, fu, fv))
        return CLCONV__SEPARABLE;
    return runs(CLCONV__TILED, lim, f, g, fu, fv) ? CLCONV__TILED : CLCONV__NAIVE;
}

int clconv__fft_wanted(const clconv__limits *lim, int forced,
                       const clconv_filter *f, const clconv_geometry *g, int var)
{
    if (forced == CLCONV__FFT) return clconv__fft_filter_ok(lim, f, g, 1);
    if (forced >= 0 || var == CLCONV__SEPARABLE) return 0;
    return clconv__fft_filter_ok(lim, f, g, 0);
}

int clconv__fft_values_ok(const float *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!(v[i] >= 0.0f && v[i] <= 255.0f) || v[i] != (float)(int)v[i]) return 0;
    return 1;
}

/* ------------------------------------------------------------ FFT */

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
int clconv__fft_gate_ok(double mag)
{
    return FFT_ERR_C * 255.0 * mag * FLT_EPSILON <= FFT_ERR_MAX ||
           clconv__fault_on("fft-nogate", NULL);
}

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
static size_t fft_local_bytes(int n)
{
    return (size_t)16 * (size_t)(n / 2 + 1) * 2 * 16 * sizeof(float);
}

int clconv__fft_local_ok(const clconv__limits *lim, int n)
{
    return lim->local_mem >= fft_local_bytes(n);
}

/* The columns in global memory: N / 16 work-items per group, each with the
 * same 16 columns fft_local_bytes counts. */
unsigned long long clconv__fft_column_bytes(int n)
{
    return (unsigned long long)(n / 16) * fft_local_bytes(n);
}

/* Scratch bytes per group of 16 blocks: M + 1 slots of N + 1 complex
 * float16 values. */
unsigned long long clconv__fft_group_bytes(int n)
{
    return (unsigned long long)(n / 2 + 1) * (unsigned long long)(n + 1) * 2 * LANES *
           sizeof(float);
}

/* ||K||_2: a lower bound of max|H| (the mean of |H|^2 over the grid). */
static double norm2(const clconv_filter *f)
{
    double s = 0;
    int i;
    for (i = 0; i < f->kh * f->kw; i++) s += f->taps[i] * f->taps[i];
    return sqrt(s);
}

int clconv__fft_filter_ok(const clconv__limits *lim, const clconv_filter *f,
                          const clconv_geometry *g, int forced)
{
    const int kmax = g->kw > g->kh ? g->kw : g->kh;
    const int n = 128 << block_index(kmax);
    if (g->stride != 1 || g->dilation != 1 || kmax >= n) return 0;
    if (!forced) {
        const int v = n - kmax + 1;
        if (lim->is_gpu) return 0;
        const double groups = ceil((double)((g->out_w + v - 1) / v) *
                                   (double)((g->out_h + v - 1) / v) / LANES);
        const double taps = (double)g->kw * g->kh;
        if (taps < FFT_MIN_TAPS ||
            groups * FFT_GROUP_COST[block_index(kmax)] >= (double)g->out_w * g->out_h * taps)
            return 0;
    }
    return clconv_filter_is_integer(f) && clconv__fft_gate_ok(norm2(f));
}

int clconv__fft_block_index(const clconv_geometry *g)
{
    return block_index(g->kw > g->kh ? g->kw : g->kh);
}

/* ------------------------------------------------------------ bands */

long long clconv__band_rows_padded(const clconv__limits *lim,
                                   const clconv_geometry *g, int sep)
{
    const unsigned long long row_in = (unsigned long long)g->padded_w * sizeof(float);
    const unsigned long long row_out = (unsigned long long)g->out_w * sizeof(float);
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    unsigned long long max_alloc, budget;
    long long b = g->out_h, l;
    clconv__budget(lim, &max_alloc, &budget);
    if (lim->band_rows > 0 && lim->band_rows < b) b = lim->band_rows;
    if (sep) {
        l = (long long)(max_alloc / row_out) - keff;
        l = l < 0 ? 0 : l / g->stride + 1;
        if (l < b) b = l;
    }
    /* Input rows for b output rows: (b - 1) * stride + keff. */
    l = (long long)(max_alloc / row_in) - keff;
    l = l < 0 ? 0 : l / g->stride + 1;
    if (l < b) b = l;
    l = (long long)(max_alloc / row_out);
    if (l < b) b = l;
    /* Both buffers together within the budget. */
    while (b > 1 && ((unsigned long long)((b - 1) * g->stride + keff) *
                         (row_in + (sep ? row_out : 0)) +
                     (unsigned long long)b * row_out) > budget)
        b = b / 2;
    return b;
}

long long clconv__band_rows_src(const clconv__limits *lim,
                                const clconv_geometry *g,
                                unsigned long long src_bytes, int sep,
                                unsigned long long *left)
{
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    const unsigned long long row_out = (unsigned long long)g->out_w * sizeof(float);
    const unsigned long long maps_bytes =
        ((unsigned long long)g->padded_w + (unsigned long long)g->padded_h) * sizeof(int);
    unsigned long long max_alloc, budget;
    long long rows = g->out_h;
    clconv__budget(lim, &max_alloc, &budget);
    *left = 0;
    /* The whole source must sit on the device (a map may point anywhere in
     * it), with at least one output row beside it. */
    if (src_bytes > max_alloc || src_bytes + maps_bytes + row_out > budget) return 0;
    *left = budget - src_bytes - maps_bytes;
    if (lim->band_rows > 0 && lim->band_rows < rows) rows = lim->band_rows;
    if ((long long)(max_alloc / row_out) < rows) rows = (long long)(max_alloc / row_out);
    if ((long long)(*left / row_out) < rows) rows = (long long)(*left / row_out);
    if (sep) {
        /* The row pass's plane too: rows + keff - 1 rows of out_w. */
        const long long room = (long long)(*left / row_out) - (keff - 1);
        const long long l = (long long)(max_alloc / row_out) - (keff - 1);
        if (room / 2 < rows) rows = room / 2;
        if (l < rows) rows = l;
    }
    return rows < 1 ? 0 : rows;
}

long long clconv__band_rows_fft(const clconv__limits *lim,
                                const clconv_geometry *g,
                                unsigned long long src_bytes)
{
    const int kmax = g->kw > g->kh ? g->kw : g->kh;
    const int n = 128 << block_index(kmax), m = n / 2;
    const long long V = n - kmax + 1;
    const long long nbx = (g->out_w + V - 1) / V, nby = (g->out_h + V - 1) / V;
    const unsigned long long ew = (unsigned long long)((nbx - 1) * V + n);
    const unsigned long long ow = (unsigned long long)g->out_w;
    const unsigned long long gbytes = clconv__fft_group_bytes(n);
    const unsigned long long cbytes = clconv__fft_local_ok(lim, n) ? 0 : clconv__fft_column_bytes(n);
    const unsigned long long fixed =
        src_bytes + (unsigned long long)(m + 1) * n * 2 * sizeof(float) +
        ((unsigned long long)g->padded_w + (unsigned long long)g->padded_h) * sizeof(int);
    unsigned long long max_alloc, budget;
    long long cb, rows;
    clconv__budget(lim, &max_alloc, &budget);
    /* Block rows per band: as many as fit, halving until the band's
     * extended plane, scratch (and the columns, in global memory) and output
     * fit one allocation each and all together (with the source, spectrum
     * and maps) the budget. */
    for (cb = nby; cb >= 1; cb /= 2) {
        const unsigned long long ext = ((unsigned long long)(cb - 1) * V + n) * ew * sizeof(float);
        const unsigned long long grp = (unsigned long long)((cb * nbx + LANES - 1) / LANES);
        const unsigned long long scr = grp * gbytes, cols = grp * cbytes;
        const unsigned long long ob = (unsigned long long)(cb * V < g->out_h ? cb * V : g->out_h) *
                                      ow * sizeof(float);
        if (ext <= max_alloc && scr <= max_alloc && ob <= max_alloc && cols <= max_alloc &&
            fixed + ext + scr + cols + ob <= budget)
            break;
    }
    if (cb < 1 || src_bytes > max_alloc) return 0;
    rows = cb * V;
    if (lim->band_rows > 0 && lim->band_rows < rows) rows = lim->band_rows;
    return rows;
}

/* ------------------------------------------------------------ tuning */

void clconv__shape_default(int v, clconv__shape *s)
{
    const clconv__kernel_desc *d = &clconv__registry[v];
    s->var = v;
    s->vec_w = (int)d->vw;
    s->tile_rows = (int)d->vh;
    s->wg_x = (int)d->want_x;
    s->wg_y = (int)d->want_y;
}

int clconv__shape_is_default(const clconv__shape *s)
{
    clconv__shape d;
    if (s->var < 0 || s->var >= CLCONV__VARIANTS) return 0;
    clconv__shape_default(s->var, &d);
    return d.vec_w == s->vec_w && d.tile_rows == s->tile_rows && d.wg_x == s->wg_x &&
           d.wg_y == s->wg_y;
}

static int one_two_four(int v) { return v == 1 || v == 2 || v == 4; }

int clconv__shape_valid(const clconv__shape *s)
{
    const long long items = (long long)s->wg_x * s->wg_y;
    int tiles;
    if (s->var < 0 || s->var >= CLCONV__VARIANTS || s->wg_x < 1 || s->wg_y < 1 ||
        items > 1024)
        return 0;
    switch (s->var) {
    case CLCONV__TILED:
    case CLCONV__SEPARABLE:
        tiles = (s->vec_w == 4 || s->vec_w == 8 || s->vec_w == 16) &&
                one_two_four(s->tile_rows);
        break;
    case CLCONV__LOCAL:
        tiles = one_two_four(s->vec_w) && s->tile_rows == 1;
        break;
    default: /* naive and fft have no tiles; fft's groups are its own */
        tiles = clconv__shape_is_default(s) ||
                (s->var == CLCONV__NAIVE && s->vec_w == 1 && s->tile_rows == 1);
    }
    return tiles;
}

const clconv__tune_entry *clconv__tune_lookup(const clconv__tune_table *t, int rank1,
                                              int kw, int kh, int out_w, int out_h)
{
    const double lk = 0.5 * log((double)kw * kh), lp = log((double)out_w * out_h);
    const clconv__tune_entry *best = NULL;
    double bd = 0;
    int i;
    if (!t) return NULL;
    for (i = 0; i < t->n; i++) {
        const clconv__tune_entry *e = &t->e[i];
        double d;
        if (e->rank1 != rank1) continue;
        d = 2 * fabs(lk - log((double)e->k)) +
            fabs(lp - 2 * log((double)e->side));
        if (!best || d < bd) {
            best = e;
            bd = d;
        }
    }
    return best;
}
