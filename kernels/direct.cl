/* direct.cl — correlation of a host-padded band, one work-item per output
 * pixel (naive: any stride and dilation) or per VEC_W x TILE_ROWS block of
 * outputs (tiled: stride 1, vector loads along x, the block's sums in
 * registers). The two add the products in the same order, so they agree
 * bit for bit. Each has two entry points that differ only in where the taps
 * live: __constant when they fit the device's constant buffer, __global
 * otherwise (big filters). The host's registry (host/cl/registry.c) names
 * them and sets their arguments.
 *
 * Buffers: in = rows of the padded plane, `pw` floats each, row 0 the first
 * padded row this band reads (band start * stride); out = the band's
 * out_w x out_h outputs; taps.
 * Arguments: in, out, taps, pw, out_w, out_h, kw, kh, stride, dilation
 * (tiled requires stride == 1 and ignores the argument). The global size
 * is rounded up to the work-group size; the tail is guarded.
 */

/* Every product and sum rounded as written, never fused (DESIGN.md §7): the
 * variants' bit-identity must not depend on the compiler. */
#pragma OPENCL FP_CONTRACT OFF

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
