/* conv_ref.c — the CPU reference: correlation of the padded plane written for
 * clarity, summed in double and rounded once to float32. It is the fallback
 * when no OpenCL device exists and the oracle the device is verified against.
 * It must not be made fast at the cost of being obviously right.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>

clconv_status clconv_conv_ref(const clconv_plane *padded,
                              const clconv_filter *f, const clconv_geometry *g,
                              clconv_plane *out, clconv_plane *abs_sum)
{
    double *acc = NULL, *aacc = NULL;
    const int s = g->stride, d = g->dilation, ow = g->out_w;
    const size_t pw = (size_t)padded->width;
    int y, i, j, x;

    if (padded->width != g->padded_w || padded->height != g->padded_h ||
        out->width != g->out_w || out->height != g->out_h ||
        f->kw != g->kw || f->kh != g->kh ||
        (abs_sum && (abs_sum->width != ow || abs_sum->height != g->out_h)))
        return CLCONV_E_INVALID;
    acc = malloc((size_t)ow * sizeof(double));
    aacc = abs_sum ? malloc((size_t)ow * sizeof(double)) : NULL;
    if (!acc || (abs_sum && !aacc)) {
        free(acc);
        free(aacc);
        return CLCONV_E_NOMEM;
    }
    /* Row at a time: each tap adds its whole row of products, so the inner
     * loop is a plain strided multiply-add the compiler can vectorise. */
    for (y = 0; y < g->out_h; y++) {
        for (x = 0; x < ow; x++) acc[x] = 0.0;
        if (aacc)
            for (x = 0; x < ow; x++) aacc[x] = 0.0;
        for (i = 0; i < g->kh; i++) {
            const float *row = padded->data + ((size_t)y * s + (size_t)i * d) * pw;
            for (j = 0; j < g->kw; j++) {
                const double k = f->taps[(size_t)i * g->kw + j];
                const float *p = row + (size_t)j * d;
                if (s == 1) {
                    for (x = 0; x < ow; x++) acc[x] += k * p[x];
                } else {
                    for (x = 0; x < ow; x++) acc[x] += k * p[(size_t)x * s];
                }
                if (aacc)
                    for (x = 0; x < ow; x++)
                        aacc[x] += fabs(k * p[(size_t)x * s]);
            }
        }
        for (x = 0; x < ow; x++)
            out->data[(size_t)y * ow + x] = (float)acc[x];
        if (aacc)
            for (x = 0; x < ow; x++)
                abs_sum->data[(size_t)y * ow + x] = (float)aacc[x];
    }
    free(acc);
    free(aacc);
    return CLCONV_OK;
}
