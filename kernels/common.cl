/* common.cl — what every kernel family shares, prepended to each program's
 * source by the host (host/cl/program.c), never built alone: the tile
 * sizes (tunable with -D), the vector types and loads, the register-tile
 * macros of the tiled kernels, and the one border-map read.
 *
 * Buffers everywhere are row-major with no row padding; taps are kh * kw
 * floats, row-major, not flipped (correlation). Every output is a float32
 * sum of float32 products; kernels that must agree bit for bit add the
 * products in the same row-major tap order.
 */

/* Every product and sum rounded as written, never fused (DESIGN.md §7): the
 * variants' bit-identity must not depend on the compiler. */
#pragma OPENCL FP_CONTRACT OFF

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

/* Loads of VEC_W values as floats, from float or 8-bit sources. */
#define LD_float(p) VLOAD(0, (p))
#if VEC_W == 4
#define LD_uchar(p) convert_float4(vload4(0, (p)))
#elif VEC_W == 8
#define LD_uchar(p) convert_float8(vload8(0, (p)))
#else
#define LD_uchar(p) convert_float16(vload16(0, (p)))
#endif

/* The same, always 16 wide (the FFT's loads). */
#define LD16_float(p) vload16(0, (p))
#define LD16_uchar(p) convert_float16(vload16(0, (p)))

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

/* The border-map read: padded row r is source row rmap[..] = r, padded
 * column c source column c; -1 on either means the constant cval. The host
 * builds both maps with numpy.pad's own algorithm (host/core/geometry.c), so
 * every value is the one the host's padding writes. Needs src, sw, cval. */
#define SRC_AT(r, c)                                                         \
    ((r) < 0 || (c) < 0 ? cval : (float)src[(size_t)(r) * sw + (c)])
