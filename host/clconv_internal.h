/* clconv_internal.h — helpers shared by the library's files, not installed:
 * error formatting, overflow-checked size arithmetic and the filter struct.
 */
#ifndef CLCONV_INTERNAL_H
#define CLCONV_INTERNAL_H

#include "clconv.h"

#include <stddef.h>

struct clconv_filter {
    int kh, kw;
    double *taps; /* kh*kw, row-major */
    char name[64];
};

/* Writes a formatted one-line message into err (CLCONV_ERR_MAX bytes); err
 * may be NULL. Newlines are kept only in OpenCL build logs, which callers
 * append themselves. */
void clconv__err(char *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* *out = a * b * c; returns 0 when that overflows size_t (and when any
 * factor is 0, which no caller wants). */
int clconv__mul_ok(size_t a, size_t b, size_t c, size_t *out);

/* Test-only fault switch: nonzero when $CLCONV_FAULT holds the word `what`
 * alone, or `what=PART` where PART occurs in `name` (so one file of a batch
 * can be made to fail). */
int clconv__fault_on(const char *what, const char *name);

/* Gray encoders stb_image_write lacks (host/encode_gray.c); they write
 * through `fn` like stbi_write_*_to_func and return 0 on failure. */
typedef void (*clconv__write_fn)(void *ctx, void *data, int size);
int clconv__write_bmp_gray(clconv__write_fn fn, void *ctx, int w, int h,
                           const unsigned char *px);
int clconv__write_jpeg_gray(clconv__write_fn fn, void *ctx, int w, int h,
                            const unsigned char *px, int quality);

/* Where a decoder puts its gray image: as floats (f) or as bytes (b);
 * exactly one is set. */
typedef struct clconv__gray {
    clconv_plane *f;
    clconv_image8 *b;
} clconv__gray;

/* Allocates the destination for a w x h image (CLCONV_E_NOMEM, ...). */
clconv_status clconv__gray_alloc(clconv__gray *g, int w, int h);
void clconv__gray_free(clconv__gray *g);

/* Stores row y of gray from w pixels of `comp` 8-bit channels: the channel
 * itself for gray (1, 2), Pillow's L = (19595 R + 38470 G + 7471 B + 32768)
 * >> 16 for colour (3, 4). */
void clconv__gray_row(clconv__gray *g, int y, const unsigned char *px,
                      int comp);

/* Decodes an 8-bit non-interlaced gray, RGB, gray+alpha or RGBA PNG with
 * zlib (host/png_fast.c); returns CLCONV__NOT_MINE, having touched
 * nothing, for every other PNG, which stb decodes. On failure `out` is
 * empty and err holds one line naming the file. */
#define CLCONV__NOT_MINE ((clconv_status)100)
clconv_status clconv__png_fast(const unsigned char *buf, size_t len,
                               const char *name, long long max_pixels,
                               clconv__gray *out, char *err);
/* Nonzero: clconv__png_fast declines every file (tests compare with stb). */
extern _Thread_local int clconv__png_fast_off;

/* Decodes a JPEG with libjpeg-turbo into a Pillow-exact gray image. */
clconv_status clconv__load_jpeg(const unsigned char *buf, size_t len,
                                const char *name, long long max_pixels,
                                clconv__gray *out, char *err);

/* For one axis of n pixels padded by before/after, the source index of
 * every padded position (-1: the constant value), from numpy.pad's own
 * iterative algorithm (pad.c). malloc'd, n + before + after ints; NULL when
 * out of memory. */
int *clconv__axis_map(int n, int before, int after, clconv_border mode);

/* Largest single allocation stb may make in this thread (0: no cap), and
 * whether the last decode ran into it (host/stb_impl.c). */
extern _Thread_local size_t clconv__stbi_cap;
extern _Thread_local int clconv__stbi_capped;

#endif
