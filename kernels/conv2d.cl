/* conv2d.cl — 2-D correlation of a padded float32 plane (numpy.pad border
 * modes). The kernels below read a host-padded band, so no work-item ever
 * tests for an image edge; the *_src kernels at the end compute the same
 * sums from the unpadded image, float or 8-bit, through index maps. The
 * variants compute the same sums; the host picks one per call
 * (CLCONV_KERNEL forces one):
 *
 *   naive      one work-item per output pixel, any stride and dilation
 *   tiled      one work-item per VEC_W x TILE_ROWS block of outputs, stride 1,
 *              any dilation: vector loads along x, the block's sums held in
 *              registers (register tiling)
 *   separable  rank-1 filters K = u v^T, stride 1: a row pass (v) into a
 *              temporary plane, then a column pass (u)
 *   local      the classic GPU tile kernel, stride 1, any dilation: a
 *              work-group stages its input tile plus halo in __local memory,
 *              then each work-item computes LOCAL_R outputs along x from it
 *              (forced only: CLCONV_KERNEL=local; auto never picks it)
 *
 * Buffers (all row-major, no row padding):
 *   in   : rows of the padded plane, `pw` floats each; row 0 is the first
 *          padded row this band reads (band start * stride)
 *   out  : out_w * out_h floats, the band's output rows
 *   taps : kh * kw floats, row-major, not flipped (correlation)
 * naive/tiled arguments: in, out, taps, pw, out_w, out_h, kw, kh, stride, dilation
 * (tiled requires stride == 1 and ignores the argument); local takes the same
 * and then its __local tile.
 *
 * Arithmetic: every output is a float32 sum of float32 products. naive,
 * tiled and local add the products in row-major tap order, so they agree bit
 * for bit;
 * separable sums u_i * (sum_j v_j * p_ij), another order, exact for integer
 * factors on 8-bit input and within DESIGN.md's tolerance otherwise. The
 * global size is rounded up to the work-group size; the tail is guarded.
 *
 * naive, tiled and local each have two entry points that differ only in where the
 * taps live: __constant when they fit the device's constant buffer, __global
 * otherwise (big filters).
 */

#ifndef VEC_W
#define VEC_W 16 /* outputs along x per tiled work-item: 4, 8 or 16 */
#endif
#ifndef TILE_ROWS
#define TILE_ROWS 4 /* outputs along y per tiled work-item */
#endif

#if VEC_W == 4
typedef float4 floatv;
#define VLOAD vload4
#define VSTORE vstore4
#elif VEC_W == 8
typedef float8 floatv;
#define VLOAD vload8
#define VSTORE vstore8
#elif VEC_W == 16
typedef float16 floatv;
#define VLOAD vload16
#define VSTORE vstore16
#else
#error "VEC_W must be 4, 8 or 16"
#endif

/* ------------------------------------------------------------------ naive */

#define CONV2D_BODY                                                          \
    const int x = get_global_id(0);                                          \
    const int y = get_global_id(1);                                          \
    if (x >= out_w || y >= out_h) return;                                    \
    __global const float *p = in + (size_t)y * stride * pw + (size_t)x * stride; \
    float acc = 0.0f;                                                        \
    for (int i = 0; i < kh; i++) {                                           \
        __global const float *row = p + (size_t)i * dilation * pw;           \
        const int t0 = i * kw;                                               \
        for (int j = 0; j < kw; j++)                                         \
            acc += taps[t0 + j] * row[j * dilation];                         \
    }                                                                        \
    out[(size_t)y * out_w + x] = acc;

__kernel void conv2d_const(__global const float *restrict in,
                           __global float *restrict out,
                           __constant float *taps, int pw, int out_w,
                           int out_h, int kw, int kh, int stride, int dilation)
{
    CONV2D_BODY
}

__kernel void conv2d_global(__global const float *restrict in,
                            __global float *restrict out,
                            __global const float *restrict taps, int pw,
                            int out_w, int out_h, int kw, int kh, int stride,
                            int dilation)
{
    CONV2D_BODY
}

/* ------------------------------------------------------------------ tiled */

/* A full block keeps its TILE_ROWS rows of VEC_W sums in named vector
 * variables (a private array would live in memory on PoCL: its work-group
 * loops keep such arrays per work-item). For each tap, one broadcast of the
 * tap and one vector load per output row; per output the taps are taken in
 * row-major order, so the sums and their order are those of the naive
 * kernel, and so are the results, bit for bit. Blocks that cross the right or
 * bottom edge go one pixel at a time, in the same order. */
#if TILE_ROWS == 4
#define TILE_DECL floatv a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#define TILE_FMA(t, p, j)                                                    \
    a0 += (t) * VLOAD(0, (p) + (j));                                         \
    a1 += (t) * VLOAD(0, (p) + pw + (j));                                    \
    a2 += (t) * VLOAD(0, (p) + 2 * pw + (j));                                \
    a3 += (t) * VLOAD(0, (p) + 3 * pw + (j));
#define TILE_STORE(q, n)                                                     \
    VSTORE(a0, 0, (q)); VSTORE(a1, 0, (q) + (n));                            \
    VSTORE(a2, 0, (q) + 2 * (n)); VSTORE(a3, 0, (q) + 3 * (n));
#elif TILE_ROWS == 2
#define TILE_DECL floatv a0 = 0.0f, a1 = 0.0f;
#define TILE_FMA(t, p, j)                                                    \
    a0 += (t) * VLOAD(0, (p) + (j));                                         \
    a1 += (t) * VLOAD(0, (p) + pw + (j));
#define TILE_STORE(q, n) VSTORE(a0, 0, (q)); VSTORE(a1, 0, (q) + (n));
#elif TILE_ROWS == 1
#define TILE_DECL floatv a0 = 0.0f;
#define TILE_FMA(t, p, j) a0 += (t) * VLOAD(0, (p) + (j));
#define TILE_STORE(q, n) VSTORE(a0, 0, (q));
#else
#error "TILE_ROWS must be 1, 2 or 4"
#endif

#define CONV2D_TILED_BODY                                                    \
    const int x0 = get_global_id(0) * VEC_W;                                 \
    const int y0 = get_global_id(1) * TILE_ROWS;                             \
    if (x0 >= out_w || y0 >= out_h) return;                                  \
    (void)stride;                                                            \
    if (x0 + VEC_W <= out_w && y0 + TILE_ROWS <= out_h) {                    \
        TILE_DECL                                                            \
        for (int i = 0; i < kh; i++) {                                       \
            __global const float *p = in + (size_t)(y0 + i * dilation) * pw + x0; \
            for (int j = 0; j < kw; j++) {                                   \
                const float t = taps[i * kw + j];                            \
                TILE_FMA(t, p, j * dilation)                                 \
            }                                                                \
        }                                                                    \
        __global float *q = out + (size_t)y0 * out_w + x0;                   \
        TILE_STORE(q, out_w)                                                 \
    } else {                                                                 \
        const int xe = min(x0 + VEC_W, out_w), ye = min(y0 + TILE_ROWS, out_h); \
        for (int y = y0; y < ye; y++)                                        \
            for (int x = x0; x < xe; x++) {                                  \
                __global const float *p = in + (size_t)y * pw + x;           \
                float a = 0.0f;                                              \
                for (int i = 0; i < kh; i++) {                               \
                    __global const float *row = p + (size_t)i * dilation * pw; \
                    for (int j = 0; j < kw; j++)                             \
                        a += taps[i * kw + j] * row[j * dilation];           \
                }                                                            \
                out[(size_t)y * out_w + x] = a;                              \
            }                                                                \
    }

__kernel void conv2d_tiled_const(__global const float *restrict in,
                                 __global float *restrict out,
                                 __constant float *taps, int pw, int out_w,
                                 int out_h, int kw, int kh, int stride,
                                 int dilation)
{
    CONV2D_TILED_BODY
}

__kernel void conv2d_tiled_global(__global const float *restrict in,
                                  __global float *restrict out,
                                  __global const float *restrict taps, int pw,
                                  int out_w, int out_h, int kw, int kh,
                                  int stride, int dilation)
{
    CONV2D_TILED_BODY
}

/* -------------------------------------------------------------- separable */

/* Row pass: tmp[r][x] = sum_j v[j] * in[r][x + j*dilation] for every padded
 * row r of the band. tmp is rows x out_w. Arguments: in, tmp, v, pw, out_w,
 * rows, kw, dilation. One work-item per VEC_W outputs of one row. */
__kernel void sep_rows(__global const float *restrict in,
                       __global float *restrict tmp, __constant float *v,
                       int pw, int out_w, int rows, int kw, int dilation)
{
    const int x0 = get_global_id(0) * VEC_W;
    const int r = get_global_id(1);
    if (x0 >= out_w || r >= rows) return;
    __global const float *row = in + (size_t)r * pw + x0;
    __global float *dst = tmp + (size_t)r * out_w + x0;
    if (x0 + VEC_W <= out_w) {
        floatv a = (floatv)(0.0f);
        for (int j = 0; j < kw; j++)
            a += v[j] * VLOAD(0, row + j * dilation);
        VSTORE(a, 0, dst);
    } else {
        for (int x = 0; x < out_w - x0; x++) {
            float a = 0.0f;
            for (int j = 0; j < kw; j++)
                a += v[j] * row[x + j * dilation];
            dst[x] = a;
        }
    }
}

/* Column pass: out[y][x] = sum_i u[i] * tmp[y + i*dilation][x]. Arguments:
 * tmp, out, u, out_w, out_h, kh, dilation. One work-item per VEC_W x
 * TILE_ROWS block, as in the tiled kernel. */
__kernel void sep_cols(__global const float *restrict tmp,
                       __global float *restrict out, __constant float *u,
                       int out_w, int out_h, int kh, int dilation)
{
    const int x0 = get_global_id(0) * VEC_W;
    const int y0 = get_global_id(1) * TILE_ROWS;
    if (x0 >= out_w || y0 >= out_h) return;
    if (x0 + VEC_W <= out_w && y0 + TILE_ROWS <= out_h) {
        const int pw = out_w; /* TILE_FMA steps rows of tmp */
        TILE_DECL
        for (int i = 0; i < kh; i++) {
            __global const float *p = tmp + (size_t)(y0 + i * dilation) * out_w + x0;
            TILE_FMA(u[i], p, 0)
        }
        __global float *q = out + (size_t)y0 * out_w + x0;
        TILE_STORE(q, out_w)
    } else {
        const int xe = min(x0 + VEC_W, out_w), ye = min(y0 + TILE_ROWS, out_h);
        for (int y = y0; y < ye; y++)
            for (int x = x0; x < xe; x++) {
                float a = 0.0f;
                for (int i = 0; i < kh; i++)
                    a += u[i] * tmp[(size_t)(y + i * dilation) * out_w + x];
                out[(size_t)y * out_w + x] = a;
            }
    }
}

/* ------------------------------------------------------ border on device */

/* The same sums read from the unpadded image, so the host writes no padded
 * plane, and an 8-bit image travels as bytes. Padded row r is source row
 * rmap[r], padded column c source column cmap[c], -1 meaning the constant
 * cval: the host builds both maps with numpy.pad's own algorithm (pad.c), so
 * every padded value is the one clconv_pad writes, and the sums (same
 * products, same row-major order) are bit for bit those of naive and tiled
 * on the host-padded plane.
 *
 * Arguments: src (sw elements a row: float or uchar), out, taps, rmap, cmap,
 * sw, out_w, out_h, kw, kh, stride, dilation, prow0 (the band's first padded
 * row), r_lo, r_hi (padded rows whose map is >= 0, a range), c_lo, c_hi
 * (padded columns that map to c - c_lo, a range), cval.
 *
 * tiled_src: a block whose columns all lie in [c_lo, c_hi) and whose rows all
 * map to source rows takes the vector path of the tiled kernel, with one row
 * pointer per output row from rmap (edge, reflect, symmetric and wrap rows
 * are real rows); other blocks go one pixel at a time through both maps. */

#define LD_float(p) VLOAD(0, (p))
#if VEC_W == 4
#define LD_uchar(p) convert_float4(vload4(0, (p)))
#elif VEC_W == 8
#define LD_uchar(p) convert_float8(vload8(0, (p)))
#else
#define LD_uchar(p) convert_float16(vload16(0, (p)))
#endif

#define SRC_AT(r, c)                                                         \
    ((r) < 0 || (c) < 0 ? cval : (float)src[(size_t)(r) * sw + (c)])

#define SRC_PIXEL(y, x)                                                      \
    {                                                                        \
        float a = 0.0f;                                                      \
        for (int i = 0; i < kh; i++) {                                       \
            const int r = rmap[prow0 + (y) * stride + i * dilation];         \
            for (int j = 0; j < kw; j++)                                     \
                a += taps[i * kw + j] * SRC_AT(r, cmap[(x) * stride + j * dilation]); \
        }                                                                    \
        out[(size_t)(y) * out_w + (x)] = a;                                  \
    }

#define SRC_ARGS(T, TAPSQ)                                                   \
    (__global const T *restrict src, __global float *restrict out,           \
     TAPSQ float *taps, __global const int *restrict rmap,                   \
     __global const int *restrict cmap, int sw, int out_w, int out_h, int kw, \
     int kh, int stride, int dilation, int prow0, int r_lo, int r_hi,        \
     int c_lo, int c_hi, float cval)

#define NAIVE_SRC_KERNEL(name, T, TAPSQ)                                     \
    __kernel void name SRC_ARGS(T, TAPSQ)                                    \
    {                                                                        \
        const int x = get_global_id(0);                                      \
        const int y = get_global_id(1);                                      \
        (void)r_lo; (void)r_hi; (void)c_lo; (void)c_hi;                      \
        if (x >= out_w || y >= out_h) return;                                \
        SRC_PIXEL(y, x)                                                      \
    }

/* tiled_src also gets `frame`: the host-padded border of the padded plane,
 * four strips of floats, so that blocks on the border keep vector loads:
 *   top    padded rows [0, top_h), all fw columns, at frame + 0
 *   bottom padded rows [bot_y, ph), all columns, at frame + bot_off
 *   left   all rows, padded columns [0, left_w), at frame + left_off
 *   right  all rows, padded columns [right_x, fw), at frame + right_off
 * The host sizes them so that every full block that cannot read the source
 * directly has its whole window inside one strip (empty strips when the
 * border needs none); partial blocks go one pixel at a time. */
#define TILED_SRC_KERNEL(name, T, TAPSQ)                                     \
    __kernel void name(__global const T *restrict src,                       \
                       __global float *restrict out, TAPSQ float *taps,      \
                       __global const int *restrict rmap,                    \
                       __global const int *restrict cmap, int sw, int out_w, \
                       int out_h, int kw, int kh, int stride, int dilation,  \
                       int prow0, int r_lo, int r_hi, int c_lo, int c_hi,    \
                       float cval, __global const float *restrict frame,     \
                       int fw, int top_h, int bot_y, int bot_off, int left_w, \
                       int left_off, int right_x, int right_off)             \
    {                                                                        \
        const int x0 = get_global_id(0) * VEC_W;                             \
        const int y0 = get_global_id(1) * TILE_ROWS;                         \
        const int a = prow0 + y0;                                            \
        const int last_r = a + TILE_ROWS - 1 + (kh - 1) * dilation;          \
        const int last_c = x0 + VEC_W - 1 + (kw - 1) * dilation;            \
        if (x0 >= out_w || y0 >= out_h) return;                              \
        (void)stride;                                                        \
        const int full = x0 + VEC_W <= out_w && y0 + TILE_ROWS <= out_h;     \
        if (full && x0 >= c_lo && last_c < c_hi && a >= r_lo && last_r < r_hi) { \
            TILE_DECL                                                        \
            const int sx = x0 - c_lo;                                        \
            for (int i = 0; i < kh; i++) {                                   \
                const int pr = a + i * dilation;                             \
                __global const T *p0 = src + (size_t)rmap[pr] * sw + sx;     \
                __global const T *p1 = src + (size_t)rmap[pr + min(1, TILE_ROWS - 1)] * sw + sx; \
                __global const T *p2 = src + (size_t)rmap[pr + min(2, TILE_ROWS - 1)] * sw + sx; \
                __global const T *p3 = src + (size_t)rmap[pr + min(3, TILE_ROWS - 1)] * sw + sx; \
                for (int j = 0; j < kw; j++) {                               \
                    const float t = taps[i * kw + j];                        \
                    const int o = j * dilation;                              \
                    TILE_FMA_ROWS(t, LD_##T, p0 + o, p1 + o, p2 + o, p3 + o) \
                }                                                            \
            }                                                                \
            __global float *q = out + (size_t)y0 * out_w + x0;               \
            TILE_STORE(q, out_w)                                             \
            return;                                                          \
        }                                                                    \
        __global const float *f = 0;                                         \
        int pitch = fw;                                                      \
        if (full) {                                                          \
            if (last_r < top_h) {                                            \
                f = frame + (size_t)a * fw + x0;                             \
            } else if (a >= bot_y) {                                         \
                f = frame + bot_off + (size_t)(a - bot_y) * fw + x0;         \
            } else if (last_c < left_w) {                                    \
                pitch = left_w;                                              \
                f = frame + left_off + (size_t)a * pitch + x0;               \
            } else if (x0 >= right_x) {                                      \
                pitch = fw - right_x;                                        \
                f = frame + right_off + (size_t)a * pitch + (x0 - right_x);  \
            }                                                                \
        }                                                                    \
        if (f) {                                                             \
            TILE_DECL                                                        \
            for (int i = 0; i < kh; i++) {                                   \
                __global const float *p = f + (size_t)i * dilation * pitch;  \
                for (int j = 0; j < kw; j++) {                               \
                    const float t = taps[i * kw + j];                        \
                    const int o = j * dilation;                              \
                    TILE_FMA_ROWS(t, LD_float, p + o, p + pitch + o,         \
                                  p + 2 * pitch + o, p + 3 * pitch + o)      \
                }                                                            \
            }                                                                \
            __global float *q = out + (size_t)y0 * out_w + x0;               \
            TILE_STORE(q, out_w)                                             \
        } else {                                                             \
            const int xe = min(x0 + VEC_W, out_w), ye = min(y0 + TILE_ROWS, out_h); \
            for (int y = y0; y < ye; y++)                                    \
                for (int x = x0; x < xe; x++)                                \
                    SRC_PIXEL(y, x)                                          \
        }                                                                    \
    }

/* TILE_FMA with four independent row pointers (TILE_ROWS rows of them). */
#if TILE_ROWS == 4
#define TILE_FMA_ROWS(t, LD, q0, q1, q2, q3)                                 \
    a0 += (t) * LD(q0); a1 += (t) * LD(q1);                                  \
    a2 += (t) * LD(q2); a3 += (t) * LD(q3);
#elif TILE_ROWS == 2
#define TILE_FMA_ROWS(t, LD, q0, q1, q2, q3)                                 \
    a0 += (t) * LD(q0); a1 += (t) * LD(q1);
#else
#define TILE_FMA_ROWS(t, LD, q0, q1, q2, q3) a0 += (t) * LD(q0);
#endif

NAIVE_SRC_KERNEL(conv2d_src_f32_const, float, __constant)
NAIVE_SRC_KERNEL(conv2d_src_f32_global, float, __global const)
NAIVE_SRC_KERNEL(conv2d_src_u8_const, uchar, __constant)
NAIVE_SRC_KERNEL(conv2d_src_u8_global, uchar, __global const)
TILED_SRC_KERNEL(conv2d_tiled_src_f32_const, float, __constant)
TILED_SRC_KERNEL(conv2d_tiled_src_f32_global, float, __global const)
TILED_SRC_KERNEL(conv2d_tiled_src_u8_const, uchar, __constant)
TILED_SRC_KERNEL(conv2d_tiled_src_u8_global, uchar, __global const)

/* The separable kernel's row pass from the unpadded image: tmp row r holds
 * the row pass of padded row prow0 + r (the constant row when it maps to
 * -1). Arguments: src, tmp, v, rmap, cmap, sw, out_w, rows, kw, dilation,
 * prow0, c_lo, c_hi, cval. The column pass is sep_cols, unchanged. */
#define SEP_ROWS_SRC_KERNEL(name, T)                                         \
    __kernel void name(__global const T *restrict src,                       \
                       __global float *restrict tmp, __constant float *v,    \
                       __global const int *restrict rmap,                    \
                       __global const int *restrict cmap, int sw, int out_w, \
                       int rows, int kw, int dilation, int prow0, int c_lo,  \
                       int c_hi, float cval)                                 \
    {                                                                        \
        const int x0 = get_global_id(0) * VEC_W;                             \
        const int r = get_global_id(1);                                      \
        if (x0 >= out_w || r >= rows) return;                                \
        const int sr = rmap[prow0 + r];                                      \
        __global float *dst = tmp + (size_t)r * out_w + x0;                  \
        if (sr >= 0 && x0 + VEC_W <= out_w && x0 >= c_lo &&                  \
            x0 + VEC_W - 1 + (kw - 1) * dilation < c_hi) {                   \
            __global const T *row = src + (size_t)sr * sw + (x0 - c_lo);     \
            floatv a = (floatv)(0.0f);                                       \
            for (int j = 0; j < kw; j++)                                     \
                a += v[j] * LD_##T(row + j * dilation);                      \
            VSTORE(a, 0, dst);                                               \
        } else {                                                             \
            const int xe = min(VEC_W, out_w - x0);                           \
            for (int x = 0; x < xe; x++) {                                   \
                float a = 0.0f;                                              \
                for (int j = 0; j < kw; j++)                                 \
                    a += v[j] * SRC_AT(sr, cmap[x0 + x + j * dilation]);     \
                dst[x] = a;                                                  \
            }                                                                \
        }                                                                    \
    }

SEP_ROWS_SRC_KERNEL(sep_rows_src_f32, float)
SEP_ROWS_SRC_KERNEL(sep_rows_src_u8, uchar)

/* ------------------------------------------------------------------ local */

#ifndef LOCAL_R
#define LOCAL_R 4 /* outputs along x per local work-item: 1, 2 or 4 */
#endif

/* A work-group of LX x LY items (the host's choice, read back with
 * get_local_size) computes a block of LX*LOCAL_R x LY outputs. It first
 * copies the block's input, tile_w = LX*LOCAL_R + (kw-1)*dilation by
 * tile_h = LY + (kh-1)*dilation floats, into `tile` (the host sizes the
 * __local argument per call), reading only inside the band: rows below
 * out_h + (kh-1)*dilation, columns below pw; the rest of a partial block's
 * tile is zero and feeds only outputs that are not written. After the
 * barrier, item (lx, ly) computes the outputs (gx0 + lx + r*LX, gy0 + ly),
 * r < LOCAL_R: neighbouring items read neighbouring words of `tile`. Each
 * output's products are added in row-major tap order, as in the naive
 * kernel, so the results are those of naive, bit for bit. No work-item
 * returns before the barrier. */
#if LOCAL_R == 4
#define LOCAL_DECL float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#define LOCAL_FMA(t, p)                                                      \
    a0 += (t) * (p)[0];                                                      \
    a1 += (t) * (p)[lxs];                                                    \
    a2 += (t) * (p)[2 * lxs];                                                \
    a3 += (t) * (p)[3 * lxs];
#define LOCAL_STORE(q, x)                                                    \
    if ((x) < out_w) (q)[0] = a0;                                            \
    if ((x) + lxs < out_w) (q)[lxs] = a1;                                    \
    if ((x) + 2 * lxs < out_w) (q)[2 * lxs] = a2;                            \
    if ((x) + 3 * lxs < out_w) (q)[3 * lxs] = a3;
#elif LOCAL_R == 2
#define LOCAL_DECL float a0 = 0.0f, a1 = 0.0f;
#define LOCAL_FMA(t, p)                                                      \
    a0 += (t) * (p)[0];                                                      \
    a1 += (t) * (p)[lxs];
#define LOCAL_STORE(q, x)                                                    \
    if ((x) < out_w) (q)[0] = a0;                                            \
    if ((x) + lxs < out_w) (q)[lxs] = a1;
#elif LOCAL_R == 1
#define LOCAL_DECL float a0 = 0.0f;
#define LOCAL_FMA(t, p) a0 += (t) * (p)[0];
#define LOCAL_STORE(q, x) if ((x) < out_w) (q)[0] = a0;
#else
#error "LOCAL_R must be 1, 2 or 4"
#endif

#define CONV2D_LOCAL_BODY                                                    \
    const int lx = get_local_id(0), ly = get_local_id(1);                    \
    const int lxs = get_local_size(0), lys = get_local_size(1);              \
    const int gx0 = get_group_id(0) * lxs * LOCAL_R;                         \
    const int gy0 = get_group_id(1) * lys;                                   \
    const int tile_w = lxs * LOCAL_R + (kw - 1) * dilation;                  \
    const int tile_h = lys + (kh - 1) * dilation;                            \
    const int in_h = out_h + (kh - 1) * dilation;                            \
    (void)stride;                                                            \
    for (int ty = ly; ty < tile_h; ty += lys) {                              \
        const int sy = gy0 + ty;                                             \
        __local float *dst = tile + ty * tile_w;                             \
        if (sy < in_h) {                                                     \
            __global const float *src = in + (size_t)sy * pw;                \
            for (int tx = lx; tx < tile_w; tx += lxs)                        \
                dst[tx] = gx0 + tx < pw ? src[gx0 + tx] : 0.0f;              \
        } else {                                                             \
            for (int tx = lx; tx < tile_w; tx += lxs) dst[tx] = 0.0f;        \
        }                                                                    \
    }                                                                        \
    barrier(CLK_LOCAL_MEM_FENCE);                                            \
    {                                                                        \
        const int x = gx0 + lx, y = gy0 + ly;                                \
        LOCAL_DECL                                                           \
        for (int i = 0; i < kh; i++) {                                       \
            __local const float *p = tile + (ly + i * dilation) * tile_w + lx; \
            for (int j = 0; j < kw; j++) {                                   \
                const float t = taps[i * kw + j];                            \
                LOCAL_FMA(t, p + j * dilation)                               \
            }                                                                \
        }                                                                    \
        if (y < out_h) {                                                     \
            __global float *q = out + (size_t)y * out_w + x;                 \
            LOCAL_STORE(q, x)                                                \
        }                                                                    \
    }

__kernel void conv2d_local_const(__global const float *restrict in,
                                 __global float *restrict out,
                                 __constant float *taps, int pw, int out_w,
                                 int out_h, int kw, int kh, int stride,
                                 int dilation, __local float *tile)
{
    CONV2D_LOCAL_BODY
}

__kernel void conv2d_local_global(__global const float *restrict in,
                                  __global float *restrict out,
                                  __global const float *restrict taps, int pw,
                                  int out_w, int out_h, int kw, int kh,
                                  int stride, int dilation, __local float *tile)
{
    CONV2D_LOCAL_BODY
}
