/* plane.c — float planes and 8-bit images: allocation (huge pages for big
 * planes), the 8-bit-to-float pass, --scale/--offset's affine step, and
 * the mapping of float results to 8 or 16 bits (clamp, abs, normalize; NaN
 * and clipped pixels counted).
 * It must not know about files or devices.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE) */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Planes at least this large are placed on huge pages (see plane_alloc). */
#define HUGE_PLANE ((size_t)8 << 20)

clconv_status clconv_plane_alloc(clconv_plane *p, int width, int height)
{
    size_t n;
    p->width = p->height = 0;
    p->data = NULL;
    if (width < 1 || height < 1) return CLCONV_E_INVALID;
    if (!clconv__mul_ok((size_t)width, (size_t)height, sizeof(float), &n))
        return CLCONV_E_TOO_LARGE;
    if (n >= HUGE_PLANE) {
        /* A fresh plane is written once right away (decode, pad, result):
         * with 4 KiB pages that is a page fault per 1024 floats, most of the
         * time of a host pass over a big image. Ask for 2 MiB pages where
         * the kernel gives them on request (transparent huge pages). */
        void *mem = NULL;
        if (posix_memalign(&mem, (size_t)2 << 20, n) != 0) mem = NULL;
#ifdef MADV_HUGEPAGE
        if (mem) (void)madvise(mem, n, MADV_HUGEPAGE);
#endif
        p->data = mem;
    } else {
        p->data = malloc(n);
    }
    if (!p->data) return CLCONV_E_NOMEM;
    p->width = width;
    p->height = height;
    return CLCONV_OK;
}

void clconv_plane_free(clconv_plane *p)
{
    if (!p) return;
    free(p->data);
    p->data = NULL;
    p->width = p->height = 0;
}

void clconv_image8_free(clconv_image8 *p)
{
    if (!p) return;
    free(p->data);
    p->data = NULL;
    p->width = p->height = 0;
}

clconv_status clconv__plane_from_u8(const clconv_image8 *in, clconv_plane *out,
                                    char *err)
{
    const size_t n = (size_t)in->width * (size_t)in->height;
    size_t i;
    clconv_status st = clconv_plane_alloc(out, in->width, in->height);
    if (st != CLCONV_OK) {
        clconv__err(err, "cannot allocate a %dx%d plane: %s", in->width,
                    in->height, clconv_status_str(st));
        return st;
    }
    for (i = 0; i < n; i++) out->data[i] = (float)in->data[i];
    return CLCONV_OK;
}

/* v rounded to an integer, half to even, as rint does in the default
 * rounding mode, without its libm call (the call was a third of a batch's
 * time with PNG outputs): below 2^51, adding and taking away 1.5 * 2^52
 * leaves the sum where doubles are whole, so the addition rounds; above,
 * every value a float32 result can hold is whole already. */
static double round_even(double v)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    if (fabs(v) < 2251799813685248.0)        /* 2^51 */
        return (v + magic) - magic;
    return v;
}

/* One sample to 0..max, rounded half to even; *clipped counts a value the
 * clamp changed (an infinity included). */
static unsigned to_int(double v, double max, long long *clipped)
{
    v = round_even(v);
    if (v < 0 || v > max) {
        (*clipped)++;
        return v < 0 ? 0u : (unsigned)max;
    }
    return (unsigned)v;
}

/* clamp and abs, the common maps, without a branch per sample: random
 * filter output is clipped or not at random, and the branches' misses were
 * most of the map's time (a third of a batch's with PNG outputs). The value
 * is first held to -1..max+1 (NaN stays NaN: both tests fail), which keeps
 * every rounding and clip as the plain formula has them, and puts it where
 * float32 rounds exactly: adding and taking away 1.5 * 2^23 rounds half to
 * even below 2^22 (max is at most 65535). NaN becomes 0. One loop per
 * output type, so the compiler can vectorize each. */
#define MAP_CLAMP_LOOP(OUT, T)                                               \
    for (i = 0; i < n; i++) {                                                \
        float v = absolute ? fabsf(src[i]) : src[i], r;                      \
        v = v < -1.0f ? -1.0f : v;                                           \
        v = v > top ? top : v;                                               \
        r = (v + magic) - magic;                                             \
        nn += r != r;                                                        \
        cc += (r < 0.0f) | (r > fmax);                                       \
        r = r == r ? r : 0.0f;                                               \
        r = r < 0.0f ? 0.0f : r;                                             \
        r = r > fmax ? fmax : r;                                             \
        OUT[i] = (T)r;                                                       \
    }

static void map_clamp(const float *src, size_t n, int absolute, double max,
                      unsigned char *out8, uint16_t *out16, long long *nans,
                      long long *clips)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    const float fmax = (float)max, top = (float)max + 1.0f;
    long long nn = 0, cc = 0;
    size_t i;
    if (out16) {
        MAP_CLAMP_LOOP(out16, uint16_t)
    } else {
        MAP_CLAMP_LOOP(out8, unsigned char)
    }
    *nans = nn;
    *clips = cc;
}
#undef MAP_CLAMP_LOOP

void clconv__plane_map(const clconv_plane *p, clconv_map map, int bits,
                       unsigned char *out8, uint16_t *out16,
                       long long *nan_count, long long *clipped)
{
    size_t i, n = (size_t)p->width * (size_t)p->height;
    long long nans = 0, clips = 0, dummy = 0;
    const double max = bits == 16 ? 65535.0 : 255.0;
    double lo = INFINITY, hi = -INFINITY, scale = 0;

    if (map != CLCONV_MAP_NORMALIZE) {
        map_clamp(p->data, n, map == CLCONV_MAP_ABS, max, out8, out16, &nans, &clips);
        if (nan_count) *nan_count = nans;
        if (clipped) *clipped = clips;
        return;
    }
    {
        for (i = 0; i < n; i++) {
            float v = p->data[i];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (hi > lo) scale = max / (hi - lo);
    }
    for (i = 0; i < n; i++) {
        double v = p->data[i];
        unsigned o;
        if (isnan(v)) {
            nans++;
            o = 0;
        } else if (map == CLCONV_MAP_ABS) {
            o = to_int(fabs(v), max, &clips);
        } else if (map == CLCONV_MAP_NORMALIZE) {
            /* min..max onto the full range: nothing is clipped (an
             * infinity, left out of min and max, still is). */
            o = scale > 0 && isfinite(v) ? to_int((v - lo) * scale, max, &dummy)
                : scale > 0 ? to_int(v, max, &clips) : 0;
        } else {
            o = to_int(v, max, &clips);
        }
        if (out16) out16[i] = (uint16_t)o;
        else out8[i] = (unsigned char)o;
    }
    if (nan_count) *nan_count = nans;
    if (clipped) *clipped = clips;
}

void clconv_plane_to_u8(const clconv_plane *p, clconv_map map,
                        unsigned char *out8, long long *nan_count)
{
    clconv__plane_map(p, map, 8, out8, NULL, nan_count, NULL);
}

void clconv_plane_to_u16(const clconv_plane *p, clconv_map map, uint16_t *out16,
                         long long *nan_count, long long *clipped)
{
    clconv__plane_map(p, map, 16, NULL, out16, nan_count, clipped);
}

void clconv__plane_affine(clconv_plane *p, double scale, double offset)
{
    size_t i, n = (size_t)p->width * (size_t)p->height;
    /* In double, rounded once to float32: the value the mapping and a .npy
     * output both see. */
    for (i = 0; i < n; i++) p->data[i] = (float)(scale * (double)p->data[i] + offset);
}
