/* separable.cl — rank-1 filters K = u v^T, stride 1: a row pass (v) into a
 * temporary plane, then a column pass (u), from a host-padded band
 * (sep_rows) or from the unpadded image through the border maps
 * (sep_rows_src_*). Sums u_i * (sum_j v_j * p_ij): another order than the
 * direct kernels, exact for integer factors on 8-bit input (the host only
 * factors such filters when every partial sum stays an exact float32
 * integer) and within DESIGN.md's tolerance otherwise.
 */

/* Every product and sum rounded as written, never fused (DESIGN.md §7): the
 * variants' bit-identity must not depend on the compiler. */
#pragma OPENCL FP_CONTRACT OFF

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
