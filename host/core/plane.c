/* plane.c — float planes and 8-bit images: allocation (huge pages for big
 * planes), the 8-bit-to-float pass, and the mapping of float results to
 * 8 bits (clamp, abs, normalize; NaN counted).
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

static unsigned char to_u8(double v)
{
    /* rint: round half to even in the default rounding mode. */
    v = rint(v);
    if (v <= 0) return 0;
    if (v >= 255) return 255;
    return (unsigned char)v;
}

void clconv_plane_to_u8(const clconv_plane *p, clconv_map map,
                        unsigned char *out8, long long *nan_count)
{
    size_t i, n = (size_t)p->width * (size_t)p->height;
    long long nans = 0;
    double lo = INFINITY, hi = -INFINITY, scale = 0;

    if (map == CLCONV_MAP_NORMALIZE) {
        for (i = 0; i < n; i++) {
            float v = p->data[i];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (hi > lo) scale = 255.0 / (hi - lo);
    }
    for (i = 0; i < n; i++) {
        double v = p->data[i];
        if (isnan(v)) {
            nans++;
            out8[i] = 0;
            continue;
        }
        switch (map) {
        case CLCONV_MAP_ABS: out8[i] = to_u8(fabs(v)); break;
        case CLCONV_MAP_NORMALIZE:
            out8[i] = scale > 0 ? to_u8((v - lo) * scale) : 0;
            break;
        default: out8[i] = to_u8(v); break;
        }
    }
    if (nan_count) *nan_count = nans;
}
