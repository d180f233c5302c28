/* resize.c — --resize: Pillow 9.4's Image.resize((w, h), filter), bit for
 * bit, on one channel. Six filters (nearest, box, bilinear, hamming,
 * bicubic, lanczos), the support widened by the scale factor when
 * shrinking, separable passes (horizontal first, then vertical, a pass only
 * where the size changes): 8-bit images in 22-bit fixed point with each
 * pass clipped to 0..255 (Pillow's mode "L"); float planes in double with
 * float32 between passes ("F"), or rounded half away from zero after each
 * pass when they hold integer samples ("I"); nearest by Pillow's
 * accumulated source step. The numbers are written out in docs/numbers.md.
 * A channel is addressed with a step between pixels, so an interleaved
 * colour image is one call per channel (Pillow resizes each alike).
 * It must not know about files or devices.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* M_PI is POSIX, not C11. */
#define PI 3.14159265358979323846

/* The filters as Pillow defines them, at 0 the centre of a source pixel,
 * in units of source pixels (before the widening). */
static double f_box(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

static double f_bilinear(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double f_hamming(double x)
{
    if (x < 0.0) x = -x;
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x = x * PI;
    /* The window's constants are float literals in Pillow (0.54f, 0.46f):
     * as doubles they are not 0.54 and 0.46, and mode F shows it. */
    return sin(x) / x * ((double)0.54f + (double)0.46f * cos(x));
}

static double f_bicubic(double x)
{
    const double a = -0.5; /* Keys' cubic, as Pillow (and Catmull-Rom) */
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc(double x)
{
    if (x == 0.0) return 1.0;
    x = x * PI;
    return sin(x) / x;
}

static double f_lanczos(double x)
{
    return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

static const struct {
    const char *name;
    double (*fn)(double);
    double support;
} filters[] = {
    [CLCONV_RESIZE_BICUBIC] = {"bicubic", f_bicubic, 2.0},
    [CLCONV_RESIZE_NEAREST] = {"nearest", NULL, 0.0},
    [CLCONV_RESIZE_BOX] = {"box", f_box, 0.5},
    [CLCONV_RESIZE_BILINEAR] = {"bilinear", f_bilinear, 1.0},
    [CLCONV_RESIZE_HAMMING] = {"hamming", f_hamming, 1.0},
    [CLCONV_RESIZE_LANCZOS] = {"lanczos", f_lanczos, 3.0},
};
#define NFILTERS ((int)(sizeof filters / sizeof filters[0]))
#define PRECISION_BITS 22 /* 32 - 8 - 2, as Pillow: sums stay in 32 bits */

const char *clconv_resize_filter_name(clconv_resize_filter f)
{
    return (int)f >= 0 && (int)f < NFILTERS ? filters[f].name : NULL;
}

/* One axis's coefficients: output pixel i reads n[i] source pixels from
 * lo[i] on, weighted k[i*ksize ..] (doubles, summing to 1) or, for 8-bit
 * images, ik[i*ksize ..] (fixed point). */
typedef struct axis {
    int out, ksize;
    int *lo, *n;
    double *k;
    int *ik;
} axis;

static void axis_free(axis *a)
{
    free(a->lo);
    free(a->n);
    free(a->k);
    free(a->ik);
    memset(a, 0, sizeof *a);
}

/* Pillow's precompute_coeffs for `in` source pixels onto `out`. */
static clconv_status axis_make(int in, int out, clconv_resize_filter f, int fixed,
                               axis *a, char *err)
{
    const double scale = (double)in / out;
    const double fscale = scale < 1.0 ? 1.0 : scale;
    const double support = filters[f].support * fscale;
    size_t total;
    int i, x;
    memset(a, 0, sizeof *a);
    if (support * 2 + 1 > (double)INT32_MAX / 2) goto too_large;
    a->out = out;
    a->ksize = (int)ceil(support) * 2 + 1;
    if (!clconv__mul_ok((size_t)out, (size_t)a->ksize, sizeof(double), &total))
        goto too_large;
    a->lo = malloc((size_t)out * sizeof *a->lo);
    a->n = malloc((size_t)out * sizeof *a->n);
    a->k = calloc((size_t)out * (size_t)a->ksize, sizeof *a->k);
    a->ik = fixed ? calloc((size_t)out * (size_t)a->ksize, sizeof *a->ik) : NULL;
    if (!a->lo || !a->n || !a->k || (fixed && !a->ik)) {
        axis_free(a);
        clconv__err(err, "out of memory for the --resize coefficients (%d to %d pixels)",
                    in, out);
        return CLCONV_E_NOMEM;
    }
    for (i = 0; i < out; i++) {
        const double center = (i + 0.5) * scale, ss = 1.0 / fscale;
        double *k = a->k + (size_t)i * (size_t)a->ksize, ww = 0.0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        a->lo[i] = lo;
        a->n[i] = hi - lo;
        for (x = 0; x < hi - lo; x++) {
            k[x] = filters[f].fn((x + lo - center + 0.5) * ss);
            ww += k[x];
        }
        for (x = 0; x < hi - lo; x++) {
            if (ww != 0.0) k[x] /= ww;
            if (fixed) /* rounded half away from zero, truncated as Pillow */
                a->ik[(size_t)i * (size_t)a->ksize + (size_t)x] =
                    (int)(k[x] < 0 ? -0.5 + k[x] * (1 << PRECISION_BITS)
                                   : 0.5 + k[x] * (1 << PRECISION_BITS));
        }
    }
    return CLCONV_OK;
too_large:
    clconv__err(err, "--resize from %d to %d pixels needs too many coefficients", in, out);
    return CLCONV_E_TOO_LARGE;
}

/* Where a pass reads or writes: element (line l, position i along the
 * axis) is at base + l*line + i*along, counted in elements. */
typedef struct lane {
    void *base;
    ptrdiff_t along, line;
} lane;

/* The passes below sum every output pixel over its taps in order. Where
 * the lines lie closer together than the taps (the vertical pass), they
 * sum a whole output row at once, tap by tap, into `acc` (`lines`
 * accumulators): the same sums in the same order, read along memory. */

static unsigned char clip8(int64_t sum)
{
    sum = sum < 0 ? 0 : sum >> PRECISION_BITS;
    return (unsigned char)(sum > 255 ? 255 : sum);
}

/* One pass of 8-bit fixed point over `lines` lines: a sum that starts at
 * one half, shifted down and clipped to 0..255 (so a pass never wraps). */
static void pass_u8(lane s, lane d, int lines, const axis *a, int64_t *restrict acc)
{
    const unsigned char *src = s.base;
    unsigned char *dst = d.base;
    const int64_t half = (int64_t)1 << (PRECISION_BITS - 1);
    int i, l, j;
    for (i = 0; i < a->out; i++) {
        const int *k = a->ik + (size_t)i * (size_t)a->ksize;
        const unsigned char *first = src + a->lo[i] * s.along;
        if (acc) {
            for (l = 0; l < lines; l++) acc[l] = half;
            for (j = 0; j < a->n[i]; j++) {
                const unsigned char *restrict p = first + j * s.along;
                for (l = 0; l < lines; l++) acc[l] += (int64_t)p[l * s.line] * k[j];
            }
            for (l = 0; l < lines; l++) dst[l * d.line + i * d.along] = clip8(acc[l]);
            continue;
        }
        for (l = 0; l < lines; l++) {
            const unsigned char *p = first + l * s.line;
            int64_t sum = half;
            for (j = 0; j < a->n[i]; j++) sum += (int64_t)p[j * s.along] * k[j];
            dst[l * d.line + i * d.along] = clip8(sum);
        }
    }
}

/* Mode "I" rounds each pass half away from zero. */
static float store_f(double sum, int integer)
{
    if (integer) sum = sum >= 0.0 ? floor(sum + 0.5) : -floor(-sum + 0.5);
    return (float)sum;
}

/* One pass on floats: sums in double, stored as float32 ("F"), or
 * rounded first ("I"). */
static void pass_f(lane s, lane d, int lines, const axis *a, int integer,
                   double *restrict acc)
{
    const float *src = s.base;
    float *dst = d.base;
    int i, l, j;
    for (i = 0; i < a->out; i++) {
        const double *k = a->k + (size_t)i * (size_t)a->ksize;
        const float *first = src + a->lo[i] * s.along;
        if (acc) {
            for (l = 0; l < lines; l++) acc[l] = 0.0;
            for (j = 0; j < a->n[i]; j++) {
                const float *restrict p = first + j * s.along;
                for (l = 0; l < lines; l++) acc[l] += (double)p[l * s.line] * k[j];
            }
            for (l = 0; l < lines; l++) dst[l * d.line + i * d.along] = store_f(acc[l], integer);
            continue;
        }
        for (l = 0; l < lines; l++) {
            const float *p = first + l * s.line;
            double sum = 0.0;
            for (j = 0; j < a->n[i]; j++) sum += (double)p[j * s.along] * k[j];
            dst[l * d.line + i * d.along] = store_f(sum, integer);
        }
    }
}

/* kind: 0 bytes, 1 floats ("F"), 2 integer samples in floats ("I"). */
static clconv_status pass(int kind, lane s, lane d, int lines, const axis *a, char *err)
{
    void *acc = NULL;
    if (s.line < s.along && !(acc = malloc((size_t)lines * 8))) {
        clconv__err(err, "out of memory for --resize");
        return CLCONV_E_NOMEM;
    }
    if (kind == 0)
        pass_u8(s, d, lines, a, acc);
    else
        pass_f(s, d, lines, a, kind == 2, acc);
    free(acc);
    return CLCONV_OK;
}

static void *at(const lane *c, int kind, ptrdiff_t off)
{
    return kind == 0 ? (void *)((unsigned char *)c->base + off)
                     : (void *)((float *)c->base + off);
}

/* Pillow's nearest (an affine scale): source index of output i from a step
 * added up, not multiplied, so as to land where Pillow lands. */
static int *nearest_map(int in, int out)
{
    int *m = malloc((size_t)out * sizeof *m);
    const double step = (double)in / out;
    double x = step * 0.5;
    int i;
    if (!m) return NULL;
    for (i = 0; i < out; i++, x += step)
        m[i] = x < 0.0 ? 0 : (int)x < in ? (int)x : in - 1;
    return m;
}

static clconv_status resize_nearest(int kind, lane s, int iw, int ih, lane d, int ow,
                                    int oh, char *err)
{
    int *mx = nearest_map(iw, ow), *my = nearest_map(ih, oh), x, y;
    clconv_status st = CLCONV_OK;
    if (!mx || !my) {
        clconv__err(err, "out of memory for --resize");
        st = CLCONV_E_NOMEM;
    } else {
        for (y = 0; y < oh; y++)
            for (x = 0; x < ow; x++) {
                const ptrdiff_t so = my[y] * s.line + mx[x] * s.along;
                const ptrdiff_t dof = y * d.line + x * d.along;
                if (kind == 0)
                    ((unsigned char *)d.base)[dof] = ((unsigned char *)s.base)[so];
                else
                    ((float *)d.base)[dof] = ((float *)s.base)[so];
            }
    }
    free(mx);
    free(my);
    return st;
}

/* Both passes: rows first (only those the vertical pass reads, as Pillow),
 * into a temporary lane, then columns. */
static clconv_status resize_two(int kind, lane s, lane d, const axis *h, axis *v,
                                char *err)
{
    const int first = v->lo[0], last = v->lo[v->out - 1] + v->n[v->out - 1];
    const int rows = last - first, cols = h->out;
    const size_t esize = kind == 0 ? 1 : sizeof(float);
    size_t bytes;
    lane t = {NULL, 1, cols}, s2 = s;
    clconv_status st;
    int i;
    if (!clconv__mul_ok((size_t)rows, (size_t)cols, esize, &bytes) ||
        !(t.base = malloc(bytes))) {
        clconv__err(err, "out of memory for --resize (a %dx%d temporary image)", cols, rows);
        return CLCONV_E_NOMEM;
    }
    s2.base = at(&s, kind, first * s.line);
    st = pass(kind, s2, t, rows, h, err);
    /* The vertical pass reads the temporary image, whose row 0 is source
     * row `first`: its bounds move for the pass, and back after. */
    for (i = 0; i < v->out; i++) v->lo[i] -= first;
    if (st == CLCONV_OK)
        st = pass(kind, (lane){t.base, t.line, t.along}, (lane){d.base, d.line, d.along}, cols,
                  v, err);
    for (i = 0; i < v->out; i++) v->lo[i] += first;
    free(t.base);
    return st;
}

/* The one entry: a channel of iw x ih (s) into ow x oh (d). */
static clconv_status resize_lane(int kind, lane s, int iw, int ih, lane d, int ow, int oh,
                                 clconv_resize_filter f, char *err)
{
    axis h, v;
    clconv_status st = CLCONV_OK;
    int x, y;
    if ((int)f < 0 || (int)f >= NFILTERS) {
        clconv__err(err, "--resize: unknown filter %d", (int)f);
        return CLCONV_E_INVALID;
    }
    if (iw == ow && ih == oh) { /* Pillow copies */
        for (y = 0; y < oh; y++)
            for (x = 0; x < ow; x++)
                memcpy(at(&d, kind, y * d.line + x * d.along),
                       at(&s, kind, y * s.line + x * s.along), kind == 0 ? 1 : sizeof(float));
        return CLCONV_OK;
    }
    if (f == CLCONV_RESIZE_NEAREST) return resize_nearest(kind, s, iw, ih, d, ow, oh, err);
    memset(&h, 0, sizeof h);
    memset(&v, 0, sizeof v);
    if (iw != ow) st = axis_make(iw, ow, f, kind == 0, &h, err);
    if (st == CLCONV_OK && ih != oh) st = axis_make(ih, oh, f, kind == 0, &v, err);
    if (st != CLCONV_OK) {
        /* nothing to do */
    } else if (iw != ow && ih != oh) {
        st = resize_two(kind, s, d, &h, &v, err);
    } else if (iw != ow) {
        st = pass(kind, s, d, ih, &h, err);
    } else {
        st = pass(kind, (lane){s.base, s.line, s.along}, (lane){d.base, d.line, d.along}, iw,
                  &v, err);
    }
    axis_free(&h);
    axis_free(&v);
    return st;
}

static clconv_status check_sizes(int iw, int ih, int ow, int oh, char *err)
{
    if (iw < 1 || ih < 1 || ow < 1 || oh < 1) {
        clconv__err(err, "--resize: cannot resize %dx%d to %dx%d", iw, ih, ow, oh);
        return CLCONV_E_INVALID;
    }
    return CLCONV_OK;
}

clconv_status clconv__resize_u8(const unsigned char *in, int iw, int ih, ptrdiff_t step,
                                unsigned char *out, int ow, int oh, ptrdiff_t ostep,
                                clconv_resize_filter f, char *err)
{
    const lane s = {(void *)in, step, step * iw}, d = {out, ostep, ostep * ow};
    clconv_status st = check_sizes(iw, ih, ow, oh, err);
    return st != CLCONV_OK ? st : resize_lane(0, s, iw, ih, d, ow, oh, f, err);
}

clconv_status clconv__resize_f(const float *in, int iw, int ih, ptrdiff_t step, float *out,
                               int ow, int oh, ptrdiff_t ostep, clconv_resize_filter f,
                               int integer, char *err)
{
    const lane s = {(void *)in, step, step * iw}, d = {out, ostep, ostep * ow};
    clconv_status st = check_sizes(iw, ih, ow, oh, err);
    return st != CLCONV_OK ? st : resize_lane(integer ? 2 : 1, s, iw, ih, d, ow, oh, f, err);
}

clconv_status clconv_image8_resize(const clconv_image8 *in, int width, int height,
                                   clconv_resize_filter filter, clconv_image8 *out,
                                   char err[CLCONV_ERR_MAX])
{
    size_t n;
    clconv_status st;
    out->width = out->height = 0;
    out->data = NULL;
    st = check_sizes(in->width, in->height, width, height, err);
    if (st != CLCONV_OK) return st;
    if (!clconv__mul_ok((size_t)width, (size_t)height, 1, &n) || !(out->data = malloc(n))) {
        clconv__err(err, "cannot allocate a %dx%d image for --resize", width, height);
        return CLCONV_E_NOMEM;
    }
    out->width = width;
    out->height = height;
    st = clconv__resize_u8(in->data, in->width, in->height, 1, out->data, width, height, 1,
                           filter, err);
    if (st != CLCONV_OK) clconv_image8_free(out);
    return st;
}

clconv_status clconv_plane_resize_filter(const clconv_plane *in, int width, int height,
                                         clconv_resize_filter filter, int integer,
                                         clconv_plane *out, char err[CLCONV_ERR_MAX])
{
    clconv_status st = check_sizes(in->width, in->height, width, height, err);
    out->width = out->height = 0;
    out->data = NULL;
    if (st != CLCONV_OK) return st;
    st = clconv_plane_alloc(out, width, height);
    if (st != CLCONV_OK) {
        clconv__err(err, "cannot allocate a %dx%d plane for --resize: %s", width, height,
                    clconv_status_str(st));
        return st;
    }
    st = clconv__resize_f(in->data, in->width, in->height, 1, out->data, width, height, 1,
                          filter, integer, err);
    if (st != CLCONV_OK) clconv_plane_free(out);
    return st;
}

clconv_status clconv_plane_resize(const clconv_plane *in, int width, int height,
                                  clconv_plane *out, char err[CLCONV_ERR_MAX])
{
    return clconv_plane_resize_filter(in, width, height, CLCONV_RESIZE_BICUBIC, 0, out, err);
}
