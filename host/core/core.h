/* core.h — the ground floor of libclconv, shared by every layer above it and
 * not installed: the filter struct, one-line error formatting, overflow-
 * checked sizes, the test-only fault switch, the border index maps and the
 * 8-bit-to-float pass. Includes nothing of the library but the public
 * header; no file in host/core/ may include io/, cl/, pipeline/ or cli/
 * (docs/layers.md, checked by tests/check_layers.sh).
 * Nothing here may print, exit, or know about files or devices.
 */
#ifndef CLCONV_CORE_H
#define CLCONV_CORE_H

#include "clconv.h"

#include <stddef.h>
#include <stdint.h>

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

/* A user's token as a message shows it: its first bytes (non-printable
 * ones as '?'), and when it is longer than CLCONV__SHOWN_HEAD bytes, "..."
 * and its length: a 5000-digit number names itself in one short line.
 * `len` < 0: up to the NUL. Returns buf. */
#define CLCONV__SHOWN_HEAD 40
#define CLCONV__SHOWN_MAX (CLCONV__SHOWN_HEAD + 32)
const char *clconv__shown(char buf[CLCONV__SHOWN_MAX], const char *s, long len);
/* Formats one warning line and hands it to the clconv_set_log callback, if
 * any (status.c). */
void clconv__log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* *out = a * b * c; returns 0 when that overflows size_t (and when any
 * factor is 0, which no caller wants). */
int clconv__mul_ok(size_t a, size_t b, size_t c, size_t *out);

/* Test-only fault switch (fault.c): nonzero when $CLCONV_FAULT holds the
 * word `what` alone, or `what=PART` where PART occurs in `name` (so one file
 * of a batch can be made to fail). Always 0 unless the build has
 * CLCONV_FAULT_INJECTION (the tests' build); never in libclconv.so. */
int clconv__fault_on(const char *what, const char *name);

/* Milliseconds of CLOCK_MONOTONIC, for the timings in reports. */
double clconv__now_ms(void);

/* For one axis of n pixels padded by before/after, the source index of
 * every padded position (-1: the constant value), from numpy.pad's own
 * iterative algorithm (geometry.c). malloc'd, n + before + after ints; NULL
 * when out of memory. */
int *clconv__axis_map(int n, int before, int after, clconv_border mode);

/* The float plane of an 8-bit image (allocated; err names the size on
 * failure). */
clconv_status clconv__plane_from_u8(const clconv_image8 *in, clconv_plane *out,
                                    char *err);
/* Maps p to `bits` (8 into out8, 16 into out16): clconv_plane_to_u8's
 * rules on 0..2^bits-1, NaN and clipped pixels counted (either may be
 * NULL). */
void clconv__plane_map(const clconv_plane *p, clconv_map map, int bits,
                       unsigned char *out8, uint16_t *out16,
                       long long *nan_count, long long *clipped);
/* p = scale * p + offset, in double, rounded once to float32. */
void clconv__plane_affine(clconv_plane *p, double scale, double offset);

/* --resize on one channel (resize.c): iw x ih pixels `step` elements
 * apart (rows iw*step apart) into ow x oh `ostep` apart, as Pillow's
 * Image.resize; so channel c of an interleaved image of C channels is
 * (in + c, step C, out + c, ostep C). _f: integer != 0 for Pillow's mode
 * "I" (integer samples), else "F". */
clconv_status clconv__resize_u8(const unsigned char *in, int iw, int ih, ptrdiff_t step,
                                unsigned char *out, int ow, int oh, ptrdiff_t ostep,
                                clconv_resize_filter f, char *err);
clconv_status clconv__resize_f(const float *in, int iw, int ih, ptrdiff_t step, float *out,
                               int ow, int oh, ptrdiff_t ostep, clconv_resize_filter f,
                               int integer, char *err);

/* The test cases' inputs (cases.c), from the generator state *s
 * (splitmix64): uniform draws, a kh x kw filter (integer taps in -4..4, or
 * not; rank 1 or not; NULL with err set when it cannot be made), and an
 * image's values (8-bit, or floats at one of three scales). */
uint64_t clconv__rnd64(uint64_t *s);
int clconv__rnd_int(uint64_t *s, int lo, int hi);
double clconv__rnd_unit(uint64_t *s);
clconv_filter *clconv__case_filter(uint64_t *s, int kh, int kw, int integer, int rank1,
                                   char *err);
void clconv__case_image(uint64_t *s, clconv_plane *p, int integer);

/* The spot check (verify.c): the reference at the n output pixels (xs[k],
 * ys[k]) of geometry g, read from the unpadded source (floats `src` or
 * bytes `src8`, sw wide) through the border maps (-1: cval) and summed in
 * double as clconv_conv_ref sums, compared with those pixels of `dev` under
 * DESIGN.md's tolerance; the result as clconv_verify gives it. */
void clconv__verify_points(const clconv_plane *dev, const float *src,
                           const unsigned char *src8, int sw, const int *rmap,
                           const int *cmap, float cval, const clconv_filter *f,
                           const clconv_geometry *g, const int *xs, const int *ys,
                           int n, clconv_verify_result *r);
/* The same with the device's values at the points given in vals[k] (the
 * device map's probes), dev unused when vals is set. */
void clconv__verify_values(const clconv_plane *dev, const float *vals, const float *src,
                           const unsigned char *src8, int sw, const int *rmap,
                           const int *cmap, float cval, const clconv_filter *f,
                           const clconv_geometry *g, const int *xs, const int *ys,
                           int n, clconv_verify_result *r);

#endif
