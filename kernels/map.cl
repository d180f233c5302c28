/* map.cl — a band's float results mapped to 8 or 16 bits on the device
 * (DESIGN §6, issue 14 item 2), so only the mapped samples come down:
 * exactly the host's clconv__plane_map (host/core/plane.c), NaN and clipped
 * pixels counted per work-group (the host adds the partial counts up);
 * normalize's min and max of the finite values, reduced per work-group;
 * and the gather of a few float results for the spot check. Built apart
 * from the registry's program (host/cl/map.c), with -DMAP_FP64 where the
 * device has cl_khr_fp64: --scale/--offset and normalize compute in double
 * as the host does, so without it the host maps (map.c declines).
 *
 * Every group takes `chunk` consecutive samples of the band, its
 * work-items striding by the group's size (consecutive items touch
 * consecutive samples). The reductions work for any group size.
 */

#ifdef MAP_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
/* --scale/--offset as host/core/plane.c's clconv__plane_affine: in double,
 * rounded once to float32. */
#define AFFINE_ARGS , int affine, double scale, double offset
#define AFFINE(v) (affine ? (float)(scale * (double)(v) + offset) : (v))
#define NORM_ARGS , double lo, double nscale
#else
#define AFFINE_ARGS
#define AFFINE(v) (v)
#define NORM_ARGS
#endif

#define MAP_CLAMP 0
#define MAP_ABS 1
#define MAP_NORMALIZE 2

/* One rounded sample to 0..maxv: rint rounds half to even (exact, as the
 * host's rint in double on a float's value); *clips counts what the clamp
 * changed, an infinity included. */
inline uint to_int(float r, float maxv, uint *clips)
{
    r = rint(r);
    if (r < 0.0f || r > maxv) {
        (*clips)++;
        return r < 0.0f ? 0u : (uint)maxv;
    }
    return (uint)r;
}

#ifdef MAP_FP64
inline uint to_int_d(double r, double maxv)
{
    r = rint(r);
    if (r < 0.0 || r > maxv) return r < 0.0 ? 0u : (uint)maxv;
    return (uint)r;
}
#endif

/* The host's mapping of one sample (host/core/plane.c), case for case. */
inline uint map_one(float v, int mode, float maxv, uint *nans, uint *clips NORM_ARGS)
{
    if (isnan(v)) {
        (*nans)++;
        return 0u;
    }
    if (mode == MAP_ABS) return to_int(fabs(v), maxv, clips);
#ifdef MAP_FP64
    if (mode == MAP_NORMALIZE) {
        /* min..max onto the full range, nothing counted; an infinity, left
         * out of min and max, clamps and counts; a flat image maps to 0. */
        if (nscale > 0.0 && isfinite(v)) return to_int_d(((double)v - lo) * nscale, (double)maxv);
        return nscale > 0.0 ? to_int(v, maxv, clips) : 0u;
    }
#endif
    return to_int(v, maxv, clips);
}

/* Sums a[lid] over the group into a[0] (any group size). */
inline void sum_pair(__local uint *a, __local uint *b, uint lid, uint ls)
{
    uint s;
    for (s = 1; s < ls; s <<= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if ((lid & (2 * s - 1)) == 0 && lid + s < ls) {
            a[lid] += a[lid + s];
            b[lid] += b[lid + s];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* Sixteen samples at once (explicit vectors, so that CPU implementations
 * vectorise them too: a loop per work-item defeats PoCL's vectoriser and
 * costs ~30 ns a sample), case for case as map_one. Returns the mapped
 * values; adds the NaN and clipped lanes to *nans, *clips. */
inline int hsum(int16 a)
{
    int8 b = a.lo + a.hi;
    int4 c = b.lo + b.hi;
    int2 d = c.lo + c.hi;
    return d.x + d.y;
}

inline float16 map16(float16 v, int mode, float maxv, uint *nans, uint *clips NORM_ARGS)
{
    const int16 nan_m = isnan(v);
    const float16 x = mode == MAP_ABS ? fabs(v) : v;
    const float16 r = rint(x);
    const int16 low = r < (float16)0.0f, high = r > (float16)maxv;
    int16 counted = low | high;
    float16 o = select(select(r, (float16)0.0f, low), (float16)maxv, high);
#ifdef MAP_FP64
    if (mode == MAP_NORMALIZE) {
        if (nscale > 0.0) {
            const int16 fin = isfinite(v);
            double16 t = rint((convert_double16(v) - lo) * nscale);
            t = select(t, (double16)0.0, convert_long16(t < (double16)0.0));
            t = select(t, (double16)maxv, convert_long16(t > (double16)maxv));
            o = select(o, convert_float16(t), fin);
            counted &= ~fin; /* only the infinities clamp and count */
        } else {
            o = (float16)0.0f;
            counted = (int16)0;
        }
    }
#endif
    o = select(o, (float16)0.0f, nan_m);
    *nans += (uint)(-hsum(nan_m));
    *clips += (uint)(-hsum(counted));
    return o;
}

#ifdef MAP_FP64
#define AFFINE16(v) (affine ? convert_float16(scale * convert_double16(v) + offset) : (v))
#define MAP16(v) map16(AFFINE16(v), mode, MAXV, &nans, &clips, lo, nscale)
#define MAP1(v) map_one(AFFINE(v), mode, MAXV, &nans, &clips, lo, nscale)
#else
#define AFFINE16(v) (v)
#define MAP16(v) map16(v, mode, MAXV, &nans, &clips)
#define MAP1(v) map_one(v, mode, MAXV, &nans, &clips)
#endif

/* Each group maps `chunk` samples (a multiple of 16 * its size) from
 * start = group * chunk: work-item lid takes the 16-sample vectors lid,
 * lid + ls, ... of the chunk (consecutive items, consecutive vectors); the
 * samples past the last whole vector of the band one by one. */
#define MAP_BODY(CONVERT, STORE_T)                                             \
    const uint lid = get_local_id(0), ls = get_local_size(0);                  \
    const uint grp = get_group_id(0), start = grp * chunk;                     \
    const uint end = n - start < chunk ? n : start + chunk;                    \
    const uint whole = start + (end - start) / 16 * 16;                        \
    uint nans = 0, clips = 0, i;                                               \
    for (i = start + lid * 16; i < whole; i += ls * 16)                        \
        vstore16(CONVERT(MAP16(vload16(0, in + i))), 0, out + i);              \
    for (i = whole + lid; i < end; i += ls)                                    \
        out[i] = (STORE_T)MAP1(in[i]);                                         \
    scratch[lid] = nans;                                                       \
    scratch[ls + lid] = clips;                                                 \
    sum_pair(scratch, scratch + ls, lid, ls);                                  \
    if (lid == 0) {                                                            \
        counts[2 * grp] = scratch[0];                                          \
        counts[2 * grp + 1] = scratch[ls];                                     \
    }

/* n samples of `in` to `out`; counts[2g], counts[2g+1]: group g's NaN and
 * clipped samples. scratch: 2 * group size uints. */
__kernel void map_u8(__global const float *in, __global uchar *out, uint n, uint chunk,
                     int mode AFFINE_ARGS NORM_ARGS, __global uint *counts,
                     __local uint *scratch)
{
#define MAXV 255.0f
    MAP_BODY(convert_uchar16, uchar)
#undef MAXV
}

__kernel void map_u16(__global const float *in, __global ushort *out, uint n, uint chunk,
                      int mode AFFINE_ARGS NORM_ARGS, __global uint *counts,
                      __local uint *scratch)
{
#define MAXV 65535.0f
    MAP_BODY(convert_ushort16, ushort)
#undef MAXV
}

/* Normalize's first pass: each group's min and max of the finite samples
 * (after --scale/--offset) into mm[2g], mm[2g+1] (+inf, -inf when it has
 * none). scratch: 2 * group size floats. */
__kernel void map_minmax(__global const float *in, uint n, uint chunk AFFINE_ARGS,
                         __global float *mm, __local float *scratch)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    const uint grp = get_group_id(0), start = grp * chunk;
    const uint end = n - start < chunk ? n : start + chunk;
    const uint whole = start + (end - start) / 16 * 16;
    float16 lo16 = (float16)INFINITY, hi16 = (float16)(-INFINITY);
    float lo, hi;
    uint i, s;
    for (i = start + lid * 16; i < whole; i += ls * 16) {
        const float16 v = AFFINE16(vload16(0, in + i));
        const int16 fin = isfinite(v);
        lo16 = select(lo16, v, fin & (v < lo16));
        hi16 = select(hi16, v, fin & (v > hi16));
    }
    {
        float8 a = fmin(lo16.lo, lo16.hi), b = fmax(hi16.lo, hi16.hi);
        float4 c = fmin(a.lo, a.hi), d = fmax(b.lo, b.hi);
        float2 e = fmin(c.lo, c.hi), f = fmax(d.lo, d.hi);
        lo = fmin(e.x, e.y);
        hi = fmax(f.x, f.y);
    }
    for (i = whole + lid; i < end; i += ls) {
        const float v = AFFINE(in[i]);
        if (!isfinite(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    scratch[lid] = lo;
    scratch[ls + lid] = hi;
    for (s = 1; s < ls; s <<= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if ((lid & (2 * s - 1)) == 0 && lid + s < ls) {
            if (scratch[lid + s] < scratch[lid]) scratch[lid] = scratch[lid + s];
            if (scratch[ls + lid + s] > scratch[ls + lid]) scratch[ls + lid] = scratch[ls + lid + s];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        mm[2 * grp] = scratch[0];
        mm[2 * grp + 1] = scratch[ls];
    }
}

/* The spot check's samples: vals[k] = in[idx[k]] for k < n. */
__kernel void map_gather(__global const float *in, __global const uint *idx, uint n,
                         __global float *vals)
{
    const uint k = get_global_id(0);
    if (k < n) vals[k] = in[idx[k]];
}
