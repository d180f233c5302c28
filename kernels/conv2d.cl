/* conv2d.cl — 2-D correlation of a host-padded float32 plane, one work-item
 * per output pixel. The host pads (numpy.pad border modes), so no work-item
 * ever tests for an image edge: every read below is inside the padded band.
 *
 * Buffers (all row-major, no row padding):
 *   in   : rows of the padded plane, `pw` floats each; row 0 is the first
 *          padded row this band reads (band start * stride)
 *   out  : out_w * out_h floats, the band's output rows
 *   taps : kh * kw floats, row-major, not flipped (correlation)
 * Arguments: in, out, taps, pw, out_w, out_h, kw, kh, stride, dilation.
 * out[y][x] = sum_{i<kh, j<kw} taps[i][j] * in[y*stride + i*dilation][x*stride + j*dilation]
 * summed in float32, in row-major tap order. The global size is rounded up
 * to the work-group size; the tail is guarded.
 *
 * Two entry points differ only in where the taps live: __constant when they
 * fit the device's constant buffer, __global otherwise (big filters).
 */

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
