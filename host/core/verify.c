/* verify.c — compares a device result with the reference under DESIGN.md's
 * tolerance: |dev - ref| <= 4 * taps * FLT_EPSILON * sum|K*P| + FLT_MIN,
 * for finite values; NaN and infinities match only themselves.
 * It must not loosen the tolerance for any caller, nor let it become
 * infinite.
 */
#include "core/core.h"

#include <float.h>
#include <math.h>

/* DESIGN.md's tolerance for a pixel whose sum |K*P| is asum, in double and
 * never infinite. A sum past FLT_MAX (infinite as a float) counts as
 * FLT_MAX: a finite float32 result had every partial sum below FLT_MAX, so
 * its rounding error is within that bound, and an infinite tolerance would
 * accept anything. */
static double tolerance(int taps, double asum)
{
    if (!(asum <= FLT_MAX)) asum = FLT_MAX;
    return 4.0 * taps * FLT_EPSILON * asum + FLT_MIN;
}

/* One pixel: its error, and whether it is over the tolerance; the worst so
 * far (furthest over, or least under, its tolerance) into r. Non-finite
 * values are compared apart from the tolerance: NaN matches only NaN, an
 * infinity only the same infinity; finite values are compared in double. */
static void check_pixel(double a, double b, double tol, int x, int y,
                        double *worst_excess, clconv_verify_result *r)
{
    double e, excess;
    int bad;
    if (isnan(a) || isnan(b) || isinf(a) || isinf(b)) {
        if ((isnan(a) && isnan(b)) || a == b) return;
        e = INFINITY;
        bad = 1;
    } else {
        e = fabs(a - b);
        bad = e > tol;
    }
    if (bad) r->bad++;
    if (e > r->max_abs_err) r->max_abs_err = e;
    excess = bad && isinf(e) ? INFINITY : e - tol;
    if (e > 0 && (excess > *worst_excess || (bad && r->worst_x < 0))) {
        *worst_excess = excess;
        r->worst_x = x;
        r->worst_y = y;
        r->worst_dev = (float)a;
        r->worst_ref = (float)b;
        r->worst_tol = tol;
    }
}

static void reset(clconv_verify_result *r)
{
    r->bad = 0;
    r->max_abs_err = 0;
    r->worst_x = r->worst_y = -1;
    r->worst_dev = r->worst_ref = 0;
    r->worst_tol = 0;
}

void clconv_verify(const clconv_plane *dev, const clconv_plane *ref,
                   const clconv_plane *abs_sum, int taps,
                   clconv_verify_result *r)
{
    size_t i, n = (size_t)ref->width * (size_t)ref->height;
    double worst_excess = -INFINITY;

    reset(r);
    if (dev->width != ref->width || dev->height != ref->height) {
        r->bad = (long long)n;
        r->max_abs_err = INFINITY;
        return;
    }
    for (i = 0; i < n; i++)
        check_pixel(dev->data[i], ref->data[i],
                    tolerance(taps, abs_sum->data[i]),
                    (int)(i % (size_t)ref->width), (int)(i / (size_t)ref->width),
                    &worst_excess, r);
}

void clconv__verify_points(const clconv_plane *dev, const float *src,
                           const unsigned char *src8, int sw, const int *rmap,
                           const int *cmap, float cval, const clconv_filter *f,
                           const clconv_geometry *g, const int *xs, const int *ys,
                           int n, clconv_verify_result *r)
{
    clconv__verify_values(dev, NULL, src, src8, sw, rmap, cmap, cval, f, g, xs, ys, n, r);
}

void clconv__verify_values(const clconv_plane *dev, const float *vals, const float *src,
                           const unsigned char *src8, int sw, const int *rmap,
                           const int *cmap, float cval, const clconv_filter *f,
                           const clconv_geometry *g, const int *xs, const int *ys,
                           int n, clconv_verify_result *r)
{
    const int taps = f->kw * f->kh;
    double worst_excess = -INFINITY;
    int k, i, j;
    reset(r);
    for (k = 0; k < n; k++) {
        double acc = 0, aacc = 0;
        for (i = 0; i < f->kh; i++) {
            const int sr = rmap[ys[k] * g->stride + i * g->dilation];
            for (j = 0; j < f->kw; j++) {
                const int sc = cmap[xs[k] * g->stride + j * g->dilation];
                const double kk = f->taps[(size_t)i * f->kw + j];
                const float p = (sr < 0 || sc < 0) ? cval
                                : src ? src[(size_t)sr * sw + sc]
                                      : (float)src8[(size_t)sr * sw + sc];
                acc += kk * p;
                aacc += fabs(kk * p);
            }
        }
        /* Rounded as clconv_conv_ref rounds: once, to float32. */
        check_pixel(vals ? vals[k] : dev->data[(size_t)ys[k] * g->out_w + xs[k]], (float)acc,
                    tolerance(taps, (float)aacc), xs[k], ys[k],
                    &worst_excess, r);
    }
}
