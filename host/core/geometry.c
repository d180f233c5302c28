/* geometry.c — geometry (valid, TensorFlow SAME, explicit widths), the
 * border index maps of numpy.pad's modes (which the device reads through)
 * and host padding with them (the reference's input), so both paths see the
 * same padded plane and inner loops never test for edges.
 * It must not know about devices or files.
 */
#include "core/core.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *const border_names[] = {"constant", "edge", "reflect",
                                           "symmetric", "wrap"};

void clconv_params_init(clconv_params *p)
{
    memset(p, 0, sizeof *p);
    p->padding = CLCONV_PAD_SAME;
    p->border = CLCONV_BORDER_CONSTANT;
    p->cval = 0.0f;
    p->stride = 1;
    p->dilation = 1;
}

const char *clconv_border_name(clconv_border b)
{
    if ((int)b < 0 || (int)b > CLCONV_BORDER_WRAP) return "?";
    return border_names[b];
}

int clconv_border_parse(const char *s)
{
    int i;
    for (i = 0; i <= CLCONV_BORDER_WRAP; i++)
        if (strcmp(s, border_names[i]) == 0) return i;
    return -1;
}

/* One axis: n input pixels, filter k, gives out size and the pads. */
static clconv_status axis_geometry(long long n, long long k, long long s,
                                   long long d, const clconv_params *prm,
                                   int *before, int *after, int *out)
{
    long long keff = d * (k - 1) + 1, o, total;
    switch (prm->padding) {
    case CLCONV_PAD_SAME:
        o = (n + s - 1) / s;
        total = (o - 1) * s + keff - n;
        if (total < 0) total = 0;
        *before = (int)(total / 2);
        *after = (int)(total - total / 2);
        break;
    case CLCONV_PAD_EXPLICIT:
        *before = *after = prm->pad_width;
        n += 2LL * prm->pad_width;
        /* fall through */
    default:
        if (prm->padding == CLCONV_PAD_VALID) *before = *after = 0;
        if (n < keff) return CLCONV_E_GEOMETRY;
        o = (n - keff) / s + 1;
        break;
    }
    if (n + *before + *after > INT_MAX || o > INT_MAX)
        return CLCONV_E_TOO_LARGE;
    *out = (int)o;
    return CLCONV_OK;
}

clconv_status clconv_geometry_compute(int in_w, int in_h, int kw, int kh,
                                      const clconv_params *prm,
                                      clconv_geometry *g, char err[CLCONV_ERR_MAX])
{
    clconv_status st;
    size_t bytes;
    const int lim = 1 << 20; /* a stride, dilation or pad past this is a typo */

    memset(g, 0, sizeof *g);
    if (in_w < 1 || in_h < 1 || kw < 1 || kh < 1) {
        clconv__err(err, "image %dx%d or filter %dx%d is empty", in_w, in_h,
                    kw, kh);
        return CLCONV_E_INVALID;
    }
    if (prm->stride < 1 || prm->stride > lim || prm->dilation < 1 ||
        prm->dilation > lim || prm->pad_width < 0 || prm->pad_width > lim) {
        clconv__err(err, "stride %d, dilation %d or padding %d out of range",
                    prm->stride, prm->dilation, prm->pad_width);
        return CLCONV_E_INVALID;
    }
    g->in_w = in_w;
    g->in_h = in_h;
    g->kw = kw;
    g->kh = kh;
    g->stride = prm->stride;
    g->dilation = prm->dilation;
    st = axis_geometry(in_h, kh, prm->stride, prm->dilation, prm, &g->pad_top,
                       &g->pad_bottom, &g->out_h);
    if (st == CLCONV_OK)
        st = axis_geometry(in_w, kw, prm->stride, prm->dilation, prm,
                           &g->pad_left, &g->pad_right, &g->out_w);
    if (st == CLCONV_E_GEOMETRY) {
        clconv__err(err, "the %dx%d filter (%dx%d with dilation %d) is larger "
                    "than the %dx%d image%s: no output pixel under valid "
                    "padding", kw, kh, prm->dilation * (kw - 1) + 1,
                    prm->dilation * (kh - 1) + 1, prm->dilation, in_w, in_h,
                    prm->padding == CLCONV_PAD_EXPLICIT ? " plus its padding"
                                                         : "");
        return st;
    }
    if (st == CLCONV_OK) {
        g->padded_w = in_w + g->pad_left + g->pad_right;
        g->padded_h = in_h + g->pad_top + g->pad_bottom;
        if (!clconv__mul_ok((size_t)g->padded_w, (size_t)g->padded_h,
                            sizeof(float), &bytes))
            st = CLCONV_E_TOO_LARGE;
    }
    if (st != CLCONV_OK)
        clconv__err(err, "a %dx%d image padded for a %dx%d filter is too "
                    "large", in_w, in_h, kw, kh);
    return st;
}

/* For one axis, the source index of every padded position (-1: the constant
 * value), built by running numpy.pad's own iterative algorithm on indices:
 * numpy fills a pad wider than the image chunk by chunk from what is already
 * padded, and for uneven widths that differs from a plain periodic extension,
 * so the algorithm itself is the specification. */
int *clconv__axis_map(int n, int before, int after, clconv_border mode)
{
    size_t len = (size_t)n + (size_t)before + (size_t)after;
    int *a = malloc(len * sizeof(int));
    long long i;
    int L = before, R = after, N = (int)len;
    if (!a) return NULL;
    for (i = 0; i < (long long)len; i++) {
        long long src = i - before;
        if (mode == CLCONV_BORDER_CONSTANT)
            a[i] = (src < 0 || src >= n) ? -1 : (int)src;
        else /* edge, and the starting point of the others */
            a[i] = (int)(src < 0 ? 0 : src >= n ? n - 1 : src);
    }
    if (mode == CLCONV_BORDER_REFLECT || mode == CLCONV_BORDER_SYMMETRIC) {
        int edge = mode == CLCONV_BORDER_SYMMETRIC;
        if (n == 1) return a; /* numpy extends a singleton like 'edge' */
        while (L > 0 || R > 0) {
            int old = N - L - R - (edge ? 0 : 1);
            if (L > 0) {
                int c = old < L ? old : L, t;
                int start = L - edge + c;
                for (t = 0; t < c; t++) a[L - c + t] = a[start - t];
                L -= c;
            }
            if (R > 0) {
                int c = old < R ? old : R, t;
                int start = N - R + edge - 2;
                for (t = 0; t < c; t++) a[N - R + t] = a[start - t];
                R -= c;
            }
        }
    } else if (mode == CLCONV_BORDER_WRAP) {
        while (L > 0 || R > 0) {
            int period = N - L - R, nl = 0, nr = 0, t;
            if (L > 0) {
                int c = period < L ? period : L;
                int dst = L > period ? L - period : 0;
                for (t = 0; t < c; t++) a[dst + t] = a[N - R - c + t];
                if (L > period) nl = L - period;
            }
            if (R > 0) {
                int c = period < R ? period : R;
                for (t = 0; t < c; t++) a[N - R + t] = a[L + t];
                if (R > period) nr = R - period;
            }
            L = nl;
            R = nr;
        }
    }
    return a;
}

clconv_status clconv_pad(const clconv_plane *in, const clconv_geometry *g,
                         const clconv_params *prm, clconv_plane *out,
                         char err[CLCONV_ERR_MAX])
{
    clconv_status st;
    int *my = NULL, *mx = NULL;
    int y, x;

    st = clconv_plane_alloc(out, g->padded_w, g->padded_h);
    if (st != CLCONV_OK) {
        clconv__err(err, "cannot allocate the %dx%d padded plane: %s",
                    g->padded_w, g->padded_h, clconv_status_str(st));
        return st;
    }
    my = clconv__axis_map(in->height, g->pad_top, g->pad_bottom, prm->border);
    mx = clconv__axis_map(in->width, g->pad_left, g->pad_right, prm->border);
    if (!my || !mx) {
        clconv_plane_free(out);
        clconv__err(err, "out of memory padding the image");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    for (y = 0; y < g->padded_h; y++) {
        float *dst = out->data + (size_t)y * (size_t)g->padded_w;
        const float *src;
        if (my[y] < 0) {
            for (x = 0; x < g->padded_w; x++) dst[x] = prm->cval;
            continue;
        }
        src = in->data + (size_t)my[y] * (size_t)in->width;
        /* The middle is a straight copy; only the borders use the map. */
        for (x = 0; x < g->pad_left; x++)
            dst[x] = mx[x] < 0 ? prm->cval : src[mx[x]];
        memcpy(dst + g->pad_left, src, (size_t)in->width * sizeof(float));
        for (x = g->pad_left + in->width; x < g->padded_w; x++)
            dst[x] = mx[x] < 0 ? prm->cval : src[mx[x]];
    }
cleanup:
    free(my);
    free(mx);
    return st;
}
