/* local.cl — the classic GPU tile kernel, stride 1, any dilation: a
 * work-group stages its input tile plus halo in __local memory, then each
 * work-item computes LOCAL_R outputs along x from it. Same products and
 * order as the naive kernel, so the same results bit for bit. Forced only
 * (--kernel local): auto never picks it (bench/RESULTS.md). Arguments: those
 * of direct.cl, then the __local tile (sized by the host per call).
 */

/* Every product and sum rounded as written, never fused (DESIGN.md §7): the
 * variants' bit-identity must not depend on the compiler. */
#pragma OPENCL FP_CONTRACT OFF

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
