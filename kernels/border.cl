/* border.cl — the direct kernels (naive, tiled) reading the unpadded image,
 * float or 8-bit, through the border maps, so the host writes no padded
 * plane and an 8-bit image travels as bytes. Same products, same order:
 * bit for bit the results of direct.cl on the host-padded plane.
 */

/* Every product and sum rounded as written, never fused (DESIGN.md §7): the
 * variants' bit-identity must not depend on the compiler. */
#pragma OPENCL FP_CONTRACT OFF

/* ------------------------------------------------------ border on device */

/* The same sums read from the unpadded image, so the host writes no padded
 * plane, and an 8-bit image travels as bytes. Padded row r is source row
 * rmap[r], padded column c source column cmap[c], -1 meaning the constant
 * cval: the host builds both maps with numpy.pad's own algorithm (host/core/geometry.c), so
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

NAIVE_SRC_KERNEL(conv2d_src_f32_const, float, __constant)
NAIVE_SRC_KERNEL(conv2d_src_f32_global, float, __global const)
NAIVE_SRC_KERNEL(conv2d_src_u8_const, uchar, __constant)
NAIVE_SRC_KERNEL(conv2d_src_u8_global, uchar, __global const)
TILED_SRC_KERNEL(conv2d_tiled_src_f32_const, float, __constant)
TILED_SRC_KERNEL(conv2d_tiled_src_f32_global, float, __global const)
TILED_SRC_KERNEL(conv2d_tiled_src_u8_const, uchar, __constant)
TILED_SRC_KERNEL(conv2d_tiled_src_u8_global, uchar, __global const)
