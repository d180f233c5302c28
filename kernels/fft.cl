/* fft.cl — 2-D correlation by FFT, overlap-save, for big integer filters on
 * 8-bit values (host/cl/fft.c decides when; bench/RESULTS.md "FFT path").
 * Built on first use, once per block side: -DN=<128|256|512>, after
 * common.cl (its loads and border-map read).
 *
 * Blocks. The band's padded rows are copied (fft_load_*) into an "extended"
 * plane E of ew columns, zero past the padded plane. Block b (row by, column
 * bx of the band's block grid) is the N x N tile of E at (by*V, bx*V) and
 * yields the V x V outputs at the same place, V = N - k + 1: the circular
 * correlation of the tile with the zero-padded filter is exact there, the
 * other outputs wrap around and are dropped.
 *
 * SIMD layout. LANES = 16 blocks go through together, one block per float16
 * lane, so every butterfly is one vector operation along y and along x and
 * no transpose pass over memory is needed. Loads read 16 columns of each of
 * the 16 tiles (vload16) and transpose the 16x16 tile in registers; stores do
 * the reverse. Lanes past the band's last block repeat that block; their
 * outputs are not stored.
 *
 * Scratch S, per group of 16 blocks: M + 1 slots (M = N/2) of N complex
 * vectors, row pitch RP = N + 1 (an odd pitch breaks the power-of-two stride
 * of the column pass). Slot s, column c: re at S[g*GS + (s*RP + c)*2], im at
 * +1 (in float16 units).
 *
 *   fft_fwd_y  one work-item per (16 columns, group), the 16 columns held in
 *              __local (or its own global) memory column by column
 *              (contiguous FFTs): packs rows
 *              2m and 2m+1 as re/im, z[m] = t[2m][c] + i t[2m+1][c], radix-2
 *              DIF FFT of length M (natural in, bit-reversed out), then the
 *              real-FFT post-process: slot rev(k) holds X[k], slot M X[M].
 *   fft_x_conv one work-item per (slot, group): DIF FFT of length N along x,
 *              times H (the filter's conjugated spectrum, for correlation,
 *              in the same slot and bit-reversed order, scaled by 1/(N*M)),
 *              DIT inverse FFT along x.
 *   fft_inv_y  one work-item per (16 columns, group): undoes the
 *              post-process, DIT inverse FFT of length M, rows 2m/2m+1 from
 *              re/im, rounds to the nearest integer (rint; -0 becomes +0, as
 *              the other kernels' sums give) and stores the valid V x V part
 *              inside the band's out_w x out_h outputs.
 *
 * The results are float32 FFT sums, within about 0.1 of the exact integer
 * for the filters the host lets through; rounding makes them exact. There is
 * no such guarantee for other inputs, hence the host's gate.
 */

/* Every product and sum rounded as written, never fused (DESIGN.md §7): the
 * variants' bit-identity must not depend on the compiler. */
#pragma OPENCL FP_CONTRACT OFF
#ifndef N
#error "N (the block side, a power of 2) must be defined"
#endif
#define LANES 16
#define M (N / 2)
#define RP (N + 1)
#define RS (RP * 2)
#define GS ((M + 1) * RS)
/* The work-item's 16 columns in __local memory, column-major: column cc,
 * slot s at L[(cc * CP + s) * 2] (re), +1 (im). */
#define CP (M + 1)

typedef float16 vf;

/* Where a work-item keeps its 16 columns (L below): __local memory, 16 *
 * (M + 1) complex float16 = 133 KiB at N = 128, which only CPU
 * implementations offer; or, built with -DFFT_GLOBAL_SCRATCH, its own slice
 * of a global buffer (one more kernel argument, Lg), which every device
 * has. The arithmetic is the same, so are the results, bit for bit. */
#ifdef FFT_GLOBAL_SCRATCH
#define LQ __global
#define L_ARG , __global vf *restrict Lg
#define L_DECL                                                               \
    __global vf *L = Lg + ((size_t)g * (N / 16) + get_global_id(0)) * (16 * CP * 2);
#else
#define LQ __local
#define L_ARG
#define L_DECL __local vf L[16 * CP * 2];
#endif

/* ------------------------------------------------------------ load */

/* E[e][c] for the band's padded rows prow0 + e: the padded plane's value
 * through the border maps (SRC_AT of common.cl: -1 is cval, columns
 * [c_lo, c_hi) are the source's own), 0 past the padded plane (ph x pw).
 * One work-item per 16 columns of one row. The padded entry point passes
 * the padded plane with identity maps. */
#define FFT_LOAD_KERNEL(name, T, LD)                                         \
    __kernel void name(__global const T *restrict src,                       \
                       __global float *restrict ext,                         \
                       __global const int *restrict rmap,                    \
                       __global const int *restrict cmap, int sw, int ew,    \
                       int erows, int prow0, int ph, int pw, int c_lo,       \
                       int c_hi, float cval)                                 \
    {                                                                        \
        const int c0 = get_global_id(0) * 16, e = get_global_id(1);          \
        if (c0 >= ew || e >= erows) return;                                  \
        const int pr = prow0 + e;                                            \
        const int sr = pr < ph ? rmap[pr] : -1;                              \
        __global float *d = ext + (size_t)e * ew + c0;                       \
        if (pr < ph && sr >= 0 && c0 >= c_lo && c0 + 16 <= c_hi &&           \
            c0 + 16 <= ew) {                                                 \
            vstore16(LD(src + (size_t)sr * sw + (c0 - c_lo)), 0, d);         \
            return;                                                          \
        }                                                                    \
        for (int c = c0; c < min(c0 + 16, ew); c++) {                        \
            float v = 0.0f;                                                  \
            if (pr < ph && c < pw) {                                         \
                const int sc = cmap[c];                                      \
                v = SRC_AT(sr, sc);                                          \
            }                                                                \
            d[c - c0] = v;                                                   \
        }                                                                    \
    }

FFT_LOAD_KERNEL(fft_load_f32, float, LD16_float)
FFT_LOAD_KERNEL(fft_load_u8, uchar, LD16_uchar)

/* ------------------------------------------------------------ helpers */

/* 16x16 transpose of t0..t15 (row i = t_i) with shuffle2: four butterfly
 * stages, each swapping the off-diagonal d x d blocks. */
#define MLO8 ((uint16)(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23))
#define MHI8 ((uint16)(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
#define MLO4 ((uint16)(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27))
#define MHI4 ((uint16)(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
#define MLO2 ((uint16)(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29))
#define MHI2 ((uint16)(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
#define MLO1 ((uint16)(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30))
#define MHI1 ((uint16)(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
#define TSTEP(a, b, d)                                                       \
    do {                                                                     \
        const vf na_ = shuffle2(a, b, MLO##d), nb_ = shuffle2(a, b, MHI##d); \
        a = na_;                                                             \
        b = nb_;                                                             \
    } while (0)
#define TRANSPOSE16                                                          \
    do {                                                                     \
        TSTEP(t0, t8, 8); TSTEP(t1, t9, 8); TSTEP(t2, t10, 8);               \
        TSTEP(t3, t11, 8); TSTEP(t4, t12, 8); TSTEP(t5, t13, 8);             \
        TSTEP(t6, t14, 8); TSTEP(t7, t15, 8);                                \
        TSTEP(t0, t4, 4); TSTEP(t1, t5, 4); TSTEP(t2, t6, 4);                \
        TSTEP(t3, t7, 4); TSTEP(t8, t12, 4); TSTEP(t9, t13, 4);              \
        TSTEP(t10, t14, 4); TSTEP(t11, t15, 4);                              \
        TSTEP(t0, t2, 2); TSTEP(t1, t3, 2); TSTEP(t4, t6, 2);                \
        TSTEP(t5, t7, 2); TSTEP(t8, t10, 2); TSTEP(t9, t11, 2);              \
        TSTEP(t12, t14, 2); TSTEP(t13, t15, 2);                              \
        TSTEP(t0, t1, 1); TSTEP(t2, t3, 1); TSTEP(t4, t5, 1);                \
        TSTEP(t6, t7, 1); TSTEP(t8, t9, 1); TSTEP(t10, t11, 1);              \
        TSTEP(t12, t13, 1); TSTEP(t14, t15, 1);                              \
    } while (0)

/* x[p] <- a + b, x[q] <- (a - b) * w  (DIF butterfly); complex numbers as
 * re/im pairs of lane vectors. */
#define BF_DIF(x, p, q, w)                                                   \
    do {                                                                     \
        const vf ar = (x)[(p)], ai = (x)[(p) + 1];                           \
        const vf br = (x)[(q)], bi = (x)[(q) + 1];                           \
        const vf dr = ar - br, di = ai - bi;                                 \
        (x)[(p)] = ar + br;                                                  \
        (x)[(p) + 1] = ai + bi;                                              \
        (x)[(q)] = dr * (w).x - di * (w).y;                                  \
        (x)[(q) + 1] = dr * (w).y + di * (w).x;                              \
    } while (0)
/* b <- x[q] * conj(w); x[p] <- a + b, x[q] <- a - b  (inverse DIT) */
#define BF_DIT_INV(x, p, q, w)                                               \
    do {                                                                     \
        const vf ar = (x)[(p)], ai = (x)[(p) + 1];                           \
        const vf cr = (x)[(q)], ci = (x)[(q) + 1];                           \
        const vf br = cr * (w).x + ci * (w).y, bi = ci * (w).x - cr * (w).y; \
        (x)[(p)] = ar + br;                                                  \
        (x)[(p) + 1] = ai + bi;                                              \
        (x)[(q)] = ar - br;                                                  \
        (x)[(q) + 1] = ai - bi;                                              \
    } while (0)

/* tw[t] = exp(-2 pi i t / N), t < N/2; W_{2h}^j = tw[j * N / (2h)].
 * revM[k]: k bit-reversed over log2(M) bits (revM[M] = 0). */

#define TDECL vf t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15;
#define TLOAD(p, o)                                                          \
    do {                                                                     \
        t0 = vload16(0, (p) + (o)[0]); t1 = vload16(0, (p) + (o)[1]);        \
        t2 = vload16(0, (p) + (o)[2]); t3 = vload16(0, (p) + (o)[3]);        \
        t4 = vload16(0, (p) + (o)[4]); t5 = vload16(0, (p) + (o)[5]);        \
        t6 = vload16(0, (p) + (o)[6]); t7 = vload16(0, (p) + (o)[7]);        \
        t8 = vload16(0, (p) + (o)[8]); t9 = vload16(0, (p) + (o)[9]);        \
        t10 = vload16(0, (p) + (o)[10]); t11 = vload16(0, (p) + (o)[11]);    \
        t12 = vload16(0, (p) + (o)[12]); t13 = vload16(0, (p) + (o)[13]);    \
        t14 = vload16(0, (p) + (o)[14]); t15 = vload16(0, (p) + (o)[15]);    \
    } while (0)
#define TPUT(d, q)                                                           \
    do {                                                                     \
        (d)[0] = t0; (d)[(q)] = t1; (d)[2 * (q)] = t2; (d)[3 * (q)] = t3;    \
        (d)[4 * (q)] = t4; (d)[5 * (q)] = t5; (d)[6 * (q)] = t6;             \
        (d)[7 * (q)] = t7; (d)[8 * (q)] = t8; (d)[9 * (q)] = t9;             \
        (d)[10 * (q)] = t10; (d)[11 * (q)] = t11; (d)[12 * (q)] = t12;       \
        (d)[13 * (q)] = t13; (d)[14 * (q)] = t14; (d)[15 * (q)] = t15;       \
    } while (0)
#define TGET(d, q)                                                           \
    do {                                                                     \
        t0 = (d)[0]; t1 = (d)[(q)]; t2 = (d)[2 * (q)]; t3 = (d)[3 * (q)];    \
        t4 = (d)[4 * (q)]; t5 = (d)[5 * (q)]; t6 = (d)[6 * (q)];             \
        t7 = (d)[7 * (q)]; t8 = (d)[8 * (q)]; t9 = (d)[9 * (q)];             \
        t10 = (d)[10 * (q)]; t11 = (d)[11 * (q)]; t12 = (d)[12 * (q)];       \
        t13 = (d)[13 * (q)]; t14 = (d)[14 * (q)]; t15 = (d)[15 * (q)];       \
    } while (0)

/* ------------------------------------------------------------ forward y */

/* Arguments: E (the band's extended plane, ew columns), S, tw, revM, ew,
 * nbx (blocks per band row), nb (blocks in the band), V. */
__kernel void fft_fwd_y(__global const float *restrict E, __global vf *restrict S,
                        __global const float2 *restrict tw,
                        __global const int *restrict revM, int ew, int nbx,
                        int nb, int V L_ARG)
{
    const int c0 = get_global_id(0) * 16, g = get_global_id(1);
    if (c0 >= N) return;
    __global vf *x0 = S + (size_t)g * GS + c0 * 2;
    L_DECL
    size_t ol[LANES];
    for (int l = 0; l < LANES; l++) {
        const int b = min(g * LANES + l, nb - 1);
        ol[l] = (size_t)(b / nbx) * V * ew + (size_t)(b % nbx) * V;
    }
    TDECL
    for (int r = 0; r < N; r++) {
        __global const float *pr = E + (size_t)r * ew + c0;
        TLOAD(pr, ol);
        TRANSPOSE16;
        LQ vf *d = L + (r >> 1) * 2 + (r & 1);
        TPUT(d, CP * 2);
    }
    for (int cc = 0; cc < 16; cc++) {
        LQ vf *x = L + cc * CP * 2;
        for (int h = M / 2; h >= 1; h >>= 1) {
            const int ts = N / (2 * h);
            for (int j = 0; j < h; j++) {
                const float2 w = tw[j * ts];
                for (int i = 0; i < M; i += 2 * h)
                    BF_DIF(x, (i + j) * 2, (i + j + h) * 2, w);
            }
        }
        /* Real-FFT post-process: X[k] = Fe + W^k Fo, X[M-k] = conj(Fe - W^k Fo),
         * Fe = (Z[k] + conj Z[M-k])/2, Fo = -i (Z[k] - conj Z[M-k])/2. */
        {
            const vf zr = x[0], zi = x[1];
            x[0] = zr + zi;
            x[1] = 0.0f;
            x[M * 2] = zr - zi;
            x[M * 2 + 1] = 0.0f;
        }
        for (int k = 1; k <= M / 2; k++) {
            const int pa = revM[k] * 2, pb = revM[M - k] * 2;
            const vf Ar = x[pa], Ai = x[pa + 1], Br = x[pb], Bi = x[pb + 1];
            const vf fer = 0.5f * (Ar + Br), fei = 0.5f * (Ai - Bi);
            const vf for_ = 0.5f * (Ai + Bi), foi = -0.5f * (Ar - Br);
            const float2 w = tw[k]; /* k <= M/2 < N/2 */
            const vf tr = for_ * w.x - foi * w.y, ti = for_ * w.y + foi * w.x;
            x[pa] = fer + tr;
            x[pa + 1] = fei + ti;
            x[pb] = fer - tr;
            x[pb + 1] = -(fei - ti);
        }
    }
    for (int s = 0; s <= M; s++)
        for (int cc = 0; cc < 16; cc++) {
            x0[s * RS + cc * 2] = L[(cc * CP + s) * 2];
            x0[s * RS + cc * 2 + 1] = L[(cc * CP + s) * 2 + 1];
        }
}

/* ------------------------------------------------------------ along x */

/* Arguments: S, H ((M+1) x N float2), tw. */
__kernel void fft_x_conv(__global vf *restrict S, __global const float2 *restrict H,
                         __global const float2 *restrict tw)
{
    const int s = get_global_id(0), g = get_global_id(1);
    if (s > M) return;
    __global vf *x = S + (size_t)g * GS + s * RS;
    __global const float2 *hrow = H + (size_t)s * N;
    for (int h = N / 2; h >= 1; h >>= 1) {
        const int ts = N / (2 * h);
        for (int j = 0; j < h; j++) {
            const float2 w = tw[j * ts];
            for (int i = 0; i < N; i += 2 * h)
                BF_DIF(x, (i + j) * 2, (i + j + h) * 2, w);
        }
    }
    for (int t = 0; t < N; t++) {
        const float2 w = hrow[t];
        const vf r = x[2 * t], i = x[2 * t + 1];
        x[2 * t] = r * w.x - i * w.y;
        x[2 * t + 1] = r * w.y + i * w.x;
    }
    for (int h = 1; h <= N / 2; h <<= 1) {
        const int ts = N / (2 * h);
        for (int j = 0; j < h; j++) {
            const float2 w = tw[j * ts];
            for (int i = 0; i < N; i += 2 * h)
                BF_DIT_INV(x, (i + j) * 2, (i + j + h) * 2, w);
        }
    }
}

/* ------------------------------------------------------------ inverse y */

/* Lane l's row r of 16 outputs: stored when the block has that row and
 * column inside the band (the last block row and column are cut). */
#define ST_LANE(l, t)                                                        \
    if (r < nr[l] && nc[l] > 0) {                                            \
        __global float *p_ = out + ob[l] + (size_t)r * out_w;                \
        if (nc[l] >= 16) {                                                   \
            vstore16((t), 0, p_);                                            \
        } else {                                                             \
            float tmp_[16];                                                  \
            vstore16((t), 0, tmp_);                                          \
            for (int cc = 0; cc < nc[l]; cc++) p_[cc] = tmp_[cc];            \
        }                                                                    \
    }
#define ROUND(t) t = rint(t) + 0.0f /* + 0: -0 becomes +0 */

/* Arguments: S, out (the band's out_w x out_h outputs), tw, revM, out_w,
 * out_h, nbx, nb, V, round_out (0 only for the accuracy measurements). */
__kernel void fft_inv_y(__global vf *restrict S, __global float *restrict out,
                        __global const float2 *restrict tw,
                        __global const int *restrict revM, int out_w, int out_h,
                        int nbx, int nb, int V, int round_out L_ARG)
{
    const int c0 = get_global_id(0) * 16, g = get_global_id(1);
    if (c0 >= N) return;
    __global vf *x0 = S + (size_t)g * GS + c0 * 2;
    L_DECL
    for (int s = 0; s <= M; s++)
        for (int cc = 0; cc < 16; cc++) {
            L[(cc * CP + s) * 2] = x0[s * RS + cc * 2];
            L[(cc * CP + s) * 2 + 1] = x0[s * RS + cc * 2 + 1];
        }
    for (int cc = 0; cc < 16; cc++) {
        LQ vf *x = L + cc * CP * 2;
        /* Pre-process, the post-process undone:
         * Fe = (X[k] + conj X[M-k])/2, Fo = (X[k] - conj X[M-k]) W^-k / 2,
         * Z[k] = Fe + i Fo, Z[M-k] = conj(Fe) + i conj(Fo). */
        {
            const vf ar = x[0], ai = x[1], br = x[M * 2], bi = x[M * 2 + 1];
            const vf fer = 0.5f * (ar + br), fei = 0.5f * (ai - bi);
            const vf for_ = 0.5f * (ar - br), foi = 0.5f * (ai + bi);
            x[0] = fer - foi;
            x[1] = fei + for_;
        }
        for (int k = 1; k <= M / 2; k++) {
            const int pa = revM[k] * 2, pb = revM[M - k] * 2;
            const vf Ar = x[pa], Ai = x[pa + 1], Br = x[pb], Bi = x[pb + 1];
            const vf fer = 0.5f * (Ar + Br), fei = 0.5f * (Ai - Bi);
            const vf dr = 0.5f * (Ar - Br), di = 0.5f * (Ai + Bi);
            const float2 w = tw[k]; /* W^-k = conj(w) */
            const vf for_ = dr * w.x + di * w.y, foi = di * w.x - dr * w.y;
            x[pa] = fer - foi;
            x[pa + 1] = fei + for_;
            x[pb] = fer + foi;
            x[pb + 1] = for_ - fei;
        }
        for (int h = 1; h <= M / 2; h <<= 1) {
            const int ts = N / (2 * h);
            for (int j = 0; j < h; j++) {
                const float2 w = tw[j * ts];
                for (int i = 0; i < M; i += 2 * h)
                    BF_DIT_INV(x, (i + j) * 2, (i + j + h) * 2, w);
            }
        }
    }
    if (c0 >= V) return;
    size_t ob[LANES];
    int nr[LANES], nc[LANES], rmax = 0;
    for (int l = 0; l < LANES; l++) {
        const int b = g * LANES + l;
        if (b < nb) {
            const int by = b / nbx, bx = b % nbx;
            ob[l] = (size_t)by * V * out_w + (size_t)bx * V + c0;
            nr[l] = min(V, out_h - by * V);
            nc[l] = min(V, out_w - bx * V) - c0;
        } else {
            ob[l] = 0;
            nr[l] = 0;
            nc[l] = 0;
        }
        rmax = max(rmax, nr[l]);
    }
    TDECL
    for (int r = 0; r < rmax; r++) {
        LQ vf *d = L + (r >> 1) * 2 + (r & 1);
        TGET(d, CP * 2);
        TRANSPOSE16;
        if (round_out) {
            ROUND(t0); ROUND(t1); ROUND(t2); ROUND(t3);
            ROUND(t4); ROUND(t5); ROUND(t6); ROUND(t7);
            ROUND(t8); ROUND(t9); ROUND(t10); ROUND(t11);
            ROUND(t12); ROUND(t13); ROUND(t14); ROUND(t15);
        }
        ST_LANE(0, t0) ST_LANE(1, t1) ST_LANE(2, t2) ST_LANE(3, t3)
        ST_LANE(4, t4) ST_LANE(5, t5) ST_LANE(6, t6) ST_LANE(7, t7)
        ST_LANE(8, t8) ST_LANE(9, t9) ST_LANE(10, t10) ST_LANE(11, t11)
        ST_LANE(12, t12) ST_LANE(13, t13) ST_LANE(14, t14) ST_LANE(15, t15)
    }
}
