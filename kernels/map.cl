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

#define MAP_BODY(STORE)                                                        \
    const uint lid = get_local_id(0), ls = get_local_size(0);                  \
    const uint grp = get_group_id(0), start = grp * chunk;                     \
    const uint end = n - start < chunk ? n : start + chunk;                    \
    uint nans = 0, clips = 0, i;                                               \
    for (i = start + lid; i < end; i += ls) {                                  \
        const float v = AFFINE(in[i]);                                         \
        STORE;                                                                 \
    }                                                                          \
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
#ifdef MAP_FP64
    MAP_BODY(out[i] = (uchar)map_one(v, mode, 255.0f, &nans, &clips, lo, nscale))
#else
    MAP_BODY(out[i] = (uchar)map_one(v, mode, 255.0f, &nans, &clips))
#endif
}

__kernel void map_u16(__global const float *in, __global ushort *out, uint n, uint chunk,
                      int mode AFFINE_ARGS NORM_ARGS, __global uint *counts,
                      __local uint *scratch)
{
#ifdef MAP_FP64
    MAP_BODY(out[i] = (ushort)map_one(v, mode, 65535.0f, &nans, &clips, lo, nscale))
#else
    MAP_BODY(out[i] = (ushort)map_one(v, mode, 65535.0f, &nans, &clips))
#endif
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
    float lo = INFINITY, hi = -INFINITY;
    uint i, s;
    for (i = start + lid; i < end; i += ls) {
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
