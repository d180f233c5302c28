/* verify.c — compares a device result with the reference under DESIGN.md's
 * tolerance: |dev - ref| <= 4 * taps * FLT_EPSILON * sum|K*P| + FLT_MIN.
 * It must not loosen the tolerance for any caller.
 */
#include "core/core.h"

#include <float.h>
#include <math.h>

void clconv_verify(const clconv_plane *dev, const clconv_plane *ref,
                   const clconv_plane *abs_sum, int taps,
                   clconv_verify_result *r)
{
    size_t i, n = (size_t)ref->width * (size_t)ref->height;
    double worst_excess = -INFINITY;

    r->bad = 0;
    r->max_abs_err = 0;
    r->worst_x = r->worst_y = -1;
    r->worst_dev = r->worst_ref = 0;
    r->worst_tol = 0;
    if (dev->width != ref->width || dev->height != ref->height) {
        r->bad = (long long)n;
        r->max_abs_err = INFINITY;
        return;
    }
    for (i = 0; i < n; i++) {
        double a = dev->data[i], b = ref->data[i];
        double tol = 4.0 * taps * FLT_EPSILON * abs_sum->data[i] + FLT_MIN;
        double e;
        if (isnan(a) && isnan(b)) continue;
        /* Infinities agree only with the same infinity. */
        e = (a == b) ? 0.0 : fabs(a - b);
        if (isnan(e)) e = INFINITY;
        if (e > tol) r->bad++;
        /* The worst pixel is the one furthest over (or least under) its
         * tolerance, so a failing pixel always wins over a passing one. */
        if (e > r->max_abs_err) r->max_abs_err = e;
        if (e > 0 && e - tol > worst_excess) {
            worst_excess = e - tol;
            r->worst_x = (int)(i % (size_t)ref->width);
            r->worst_y = (int)(i / (size_t)ref->width);
            r->worst_dev = dev->data[i];
            r->worst_ref = ref->data[i];
            r->worst_tol = tol;
        }
    }
}
