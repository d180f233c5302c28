/* test_unit.c — hand-worked small cases for the library's pure parts:
 * geometry, numpy.pad border modes, the CPU reference, filters, 8-bit
 * mapping, file round trips and decoder failures. Every expected number here
 * was worked out by hand or pasted once from numpy.pad (said where), never
 * taken from clconv itself.
 */
#define _POSIX_C_SOURCE 200809L
#include "clconv.h"
#include "io/io.h" /* the writer's internals: path keys, mkdir -p, keep list */

#include <dirent.h>
#include <float.h>

#include "cl/cl.h" /* the kernel cache section */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;
static int checks;

static void check_(int ok, const char *what, const char *file, int line)
{
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
    }
}
#define CHECK(c) check_((c) != 0, #c, __FILE__, __LINE__)

/* Equality of two ints, printing both on failure. */
static void check_int_(long long got, long long want, const char *what,
                       const char *file, int line)
{
    checks++;
    if (got != want) {
        failures++;
        fprintf(stderr, "%s:%d: FAILED: %s = %lld, expected %lld\n", file,
                line, what, got, want);
    }
}
#define CHECK_INT(got, want) check_int_((got), (want), #got, __FILE__, __LINE__)

static void check_float_(double got, double want, double tol, const char *what,
                         const char *file, int line)
{
    checks++;
    if (!(fabs(got - want) <= tol)) {
        failures++;
        fprintf(stderr, "%s:%d: FAILED: %s = %.17g (%a), expected %.17g (tol %g)\n",
                file, line, what, got, got, want, tol);
    }
}
#define CHECK_FLOAT(got, want, tol) \
    check_float_((got), (want), (tol), #got, __FILE__, __LINE__)

static void check_str_has_(const char *s, const char *needle, const char *what,
                           const char *file, int line)
{
    checks++;
    if (!s || !strstr(s, needle)) {
        failures++;
        fprintf(stderr, "%s:%d: FAILED: %s does not contain '%s': '%s'\n", file,
                line, what, needle, s ? s : "(null)");
    }
}
#define CHECK_HAS(s, needle) check_str_has_((s), (needle), #s, __FILE__, __LINE__)

/* ------------------------------------------------------------ geometry */

/* One expected geometry, all numbers written by hand from DESIGN.md §2. */
typedef struct geo_case {
    int in_w, in_h, kw, kh;
    clconv_padding padding;
    int pad_width, stride, dilation;
    int top, bottom, left, right, out_w, out_h;
} geo_case;

static void test_geometry(void)
{
    static const geo_case cases[] = {
        /* valid: out = floor((n - k_eff) / s) + 1, no padding */
        {5, 4, 3, 3, CLCONV_PAD_VALID, 0, 1, 1, 0, 0, 0, 0, 3, 2},
        {10, 10, 3, 3, CLCONV_PAD_VALID, 0, 3, 1, 0, 0, 0, 0, 3, 3},
        {7, 9, 3, 2, CLCONV_PAD_VALID, 0, 1, 2, 0, 0, 0, 0, 3, 7},
        {3, 3, 3, 3, CLCONV_PAD_VALID, 0, 1, 1, 0, 0, 0, 0, 1, 1},
        /* same, odd k, s 1: k // 2 each side */
        {5, 5, 3, 3, CLCONV_PAD_SAME, 0, 1, 1, 1, 1, 1, 1, 5, 5},
        {8, 6, 5, 7, CLCONV_PAD_SAME, 0, 1, 1, 3, 3, 2, 2, 8, 6},
        /* same, even k: total 3 -> before 1 (floor), after 2 */
        {5, 5, 4, 4, CLCONV_PAD_SAME, 0, 1, 1, 1, 2, 1, 2, 5, 5},
        /* even k = 2: total 1 -> before 0, after 1 */
        {6, 4, 2, 2, CLCONV_PAD_SAME, 0, 1, 1, 0, 1, 0, 1, 6, 4},
        /* same, stride 2, n 7, k 3: out 4, total 3*2+3-7 = 2 -> 1, 1 */
        {7, 7, 3, 3, CLCONV_PAD_SAME, 0, 2, 1, 1, 1, 1, 1, 4, 4},
        /* same, stride 2, n 6, k 3: out 3, total 2*2+3-6 = 1 -> 0, 1 */
        {6, 6, 3, 3, CLCONV_PAD_SAME, 0, 2, 1, 0, 1, 0, 1, 3, 3},
        /* same, stride 3, n 10, k 2: out 4, total 3*3+2-10 = 1 -> 0, 1;
         * n 9 (rows), k 1: out 3, total 2*3+1-9 < 0 -> 0 */
        {10, 9, 2, 1, CLCONV_PAD_SAME, 0, 3, 1, 0, 0, 0, 1, 4, 3},
        /* same, dilation 2, k 3: k_eff 5, total 4 -> 2, 2 */
        {5, 5, 3, 3, CLCONV_PAD_SAME, 0, 1, 2, 2, 2, 2, 2, 5, 5},
        /* same, filter larger than image: n 2, k 7: total 6 -> 3, 3 */
        {2, 2, 7, 7, CLCONV_PAD_SAME, 0, 1, 1, 3, 3, 3, 3, 2, 2},
        /* same, 1x1 image, 4x4 filter: total 3 -> 1, 2 */
        {1, 1, 4, 4, CLCONV_PAD_SAME, 0, 1, 1, 1, 2, 1, 2, 1, 1},
        /* rectangular: kw 5 -> 2, 2; kh 2 -> 0, 1 */
        {10, 6, 5, 2, CLCONV_PAD_SAME, 0, 1, 1, 0, 1, 2, 2, 10, 6},
        /* explicit: pad then valid. n 4 + 2*2 = 8, k 3: out 6 */
        {4, 4, 3, 3, CLCONV_PAD_EXPLICIT, 2, 1, 1, 2, 2, 2, 2, 6, 6},
        /* explicit 1, stride 2: n 6, k 3 -> (6-3)/2+1 = 2 */
        {4, 4, 3, 3, CLCONV_PAD_EXPLICIT, 1, 2, 1, 1, 1, 1, 1, 2, 2},
        /* explicit wider than the image: 1 + 2*5 = 11, k 3 -> 9 */
        {1, 1, 3, 3, CLCONV_PAD_EXPLICIT, 5, 1, 1, 5, 5, 5, 5, 9, 9},
        /* explicit 0 is valid */
        {5, 4, 3, 3, CLCONV_PAD_EXPLICIT, 0, 1, 1, 0, 0, 0, 0, 3, 2},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const geo_case *c = &cases[i];
        clconv_params prm;
        clconv_geometry g;
        char err[CLCONV_ERR_MAX] = "";
        clconv_status st;
        const int before = failures;
        clconv_params_init(&prm);
        prm.padding = c->padding;
        prm.pad_width = c->pad_width;
        prm.stride = c->stride;
        prm.dilation = c->dilation;
        st = clconv_geometry_compute(c->in_w, c->in_h, c->kw, c->kh, &prm, &g,
                                     err);
        if (st != CLCONV_OK) {
            fprintf(stderr, "geometry case %zu: %s\n", i, err);
        }
        CHECK_INT(st, CLCONV_OK);
        CHECK_INT(g.pad_top, c->top);
        CHECK_INT(g.pad_bottom, c->bottom);
        CHECK_INT(g.pad_left, c->left);
        CHECK_INT(g.pad_right, c->right);
        CHECK_INT(g.out_w, c->out_w);
        CHECK_INT(g.out_h, c->out_h);
        CHECK_INT(g.padded_w, c->in_w + c->left + c->right);
        CHECK_INT(g.padded_h, c->in_h + c->top + c->bottom);
        CHECK_INT(g.stride, c->stride);
        CHECK_INT(g.dilation, c->dilation);
        if (failures != before)
            fprintf(stderr, "  (geometry case %zu: image %dx%d, filter %dx%d)\n",
                    i, c->in_w, c->in_h, c->kw, c->kh);
    }

    /* Filters larger than the image under valid: an error naming sizes. */
    {
        clconv_params prm;
        clconv_geometry g;
        char err[CLCONV_ERR_MAX] = "";
        clconv_params_init(&prm);
        prm.padding = CLCONV_PAD_VALID;
        CHECK_INT(clconv_geometry_compute(3, 3, 5, 5, &prm, &g, err),
                  CLCONV_E_GEOMETRY);
        CHECK_HAS(err, "5x5");
        CHECK_HAS(err, "3x3");
        /* Only one axis too small. */
        CHECK_INT(clconv_geometry_compute(10, 2, 3, 3, &prm, &g, err),
                  CLCONV_E_GEOMETRY);
        /* Dilation makes 3 taps span 7 > 5. */
        prm.dilation = 3;
        CHECK_INT(clconv_geometry_compute(5, 5, 3, 3, &prm, &g, err),
                  CLCONV_E_GEOMETRY);
        /* Explicit padding 0 is valid: still too large. */
        prm.dilation = 1;
        prm.padding = CLCONV_PAD_EXPLICIT;
        prm.pad_width = 0;
        CHECK_INT(clconv_geometry_compute(2, 2, 3, 3, &prm, &g, err),
                  CLCONV_E_GEOMETRY);
        /* Bad argument values. */
        clconv_params_init(&prm);
        prm.stride = 0;
        CHECK_INT(clconv_geometry_compute(5, 5, 3, 3, &prm, &g, err),
                  CLCONV_E_INVALID);
        clconv_params_init(&prm);
        prm.dilation = 0;
        CHECK_INT(clconv_geometry_compute(5, 5, 3, 3, &prm, &g, err),
                  CLCONV_E_INVALID);
        clconv_params_init(&prm);
        prm.padding = CLCONV_PAD_EXPLICIT;
        prm.pad_width = -1;
        CHECK_INT(clconv_geometry_compute(5, 5, 3, 3, &prm, &g, err),
                  CLCONV_E_INVALID);
        clconv_params_init(&prm);
        CHECK_INT(clconv_geometry_compute(0, 5, 3, 3, &prm, &g, err),
                  CLCONV_E_INVALID);
    }
}

/* ------------------------------------------------------------ padding */

/* One axis padded: values 1..n, widths L and R, and numpy's answer. */
typedef struct pad1_case {
    clconv_border mode;
    int n, L, R;
    int want[32];
} pad1_case;

/* Pads in[h][w] (values given) with explicit per-side widths through a
 * hand-made geometry, so each side can differ. */
static clconv_status pad_plane(const float *vals, int w, int h, int top,
                               int bottom, int left, int right,
                               clconv_border mode, float cval,
                               clconv_plane *out)
{
    clconv_plane in;
    clconv_geometry g;
    clconv_params prm;
    char err[CLCONV_ERR_MAX] = "";
    clconv_status st = clconv_plane_alloc(&in, w, h);
    if (st != CLCONV_OK) return st;
    memcpy(in.data, vals, (size_t)w * (size_t)h * sizeof(float));
    memset(&g, 0, sizeof g);
    g.in_w = w;
    g.in_h = h;
    g.pad_top = top;
    g.pad_bottom = bottom;
    g.pad_left = left;
    g.pad_right = right;
    g.padded_w = w + left + right;
    g.padded_h = h + top + bottom;
    clconv_params_init(&prm);
    prm.border = mode;
    prm.cval = cval;
    st = clconv_pad(&in, &g, &prm, out, err);
    if (st != CLCONV_OK) fprintf(stderr, "clconv_pad: %s\n", err);
    clconv_plane_free(&in);
    return st;
}

static void test_pad(void)
{
    /* Every `want` below was pasted from numpy 1.24.2:
     *   np.pad(np.arange(1, n + 1.0), (L, R), mode=m, constant_values=9)
     * Several wide, uneven cases are where numpy's chunk-by-chunk filling
     * differs from a plain periodic extension (wrap 2 1 3, symmetric 2 1 8). */
    static const pad1_case cases[] = {
        {CLCONV_BORDER_CONSTANT, 3, 7, 5, {9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 9, 9, 9}},
        {CLCONV_BORDER_CONSTANT, 1, 3, 2, {9, 9, 9, 1, 9, 9}},
        {CLCONV_BORDER_EDGE, 3, 7, 5, {1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3}},
        {CLCONV_BORDER_EDGE, 2, 5, 4, {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2}},
        {CLCONV_BORDER_REFLECT, 3, 7, 5, {2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2}},
        {CLCONV_BORDER_REFLECT, 2, 5, 4, {2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}},
        {CLCONV_BORDER_REFLECT, 1, 3, 2, {1, 1, 1, 1, 1, 1}},
        {CLCONV_BORDER_REFLECT, 5, 11, 8,
         {4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3, 4, 5}},
        {CLCONV_BORDER_REFLECT, 3, 1, 9, {2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 1, 2}},
        {CLCONV_BORDER_REFLECT, 4, 11, 2,
         {2, 3, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1, 2, 3, 4, 3, 2}},
        {CLCONV_BORDER_REFLECT, 2, 0, 5, {1, 2, 1, 2, 1, 2, 1}},
        {CLCONV_BORDER_SYMMETRIC, 3, 7, 5, {1, 1, 2, 3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1, 2}},
        {CLCONV_BORDER_SYMMETRIC, 2, 5, 4, {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2}},
        {CLCONV_BORDER_SYMMETRIC, 1, 3, 2, {1, 1, 1, 1, 1, 1}},
        {CLCONV_BORDER_SYMMETRIC, 5, 11, 8,
         {1, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 1, 2, 3}},
        {CLCONV_BORDER_SYMMETRIC, 2, 1, 8, {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 1}},
        {CLCONV_BORDER_SYMMETRIC, 3, 2, 11,
         {2, 1, 1, 2, 3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1, 2}},
        {CLCONV_BORDER_SYMMETRIC, 3, 10, 0, {3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1, 2, 3}},
        {CLCONV_BORDER_WRAP, 3, 7, 5, {3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2}},
        {CLCONV_BORDER_WRAP, 2, 5, 4, {2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}},
        {CLCONV_BORDER_WRAP, 1, 3, 2, {1, 1, 1, 1, 1, 1}},
        {CLCONV_BORDER_WRAP, 5, 11, 8,
         {5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3}},
        {CLCONV_BORDER_WRAP, 2, 1, 3, {2, 1, 2, 1, 2, 2}},
        {CLCONV_BORDER_WRAP, 3, 1, 7, {3, 1, 2, 3, 1, 2, 3, 3, 1, 2, 3}},
        {CLCONV_BORDER_WRAP, 3, 5, 1, {3, 1, 1, 2, 3, 1, 2, 3, 1}},
    };
    size_t c;
    float vals[8];
    int i, axis;

    for (i = 0; i < 8; i++) vals[i] = (float)(i + 1);
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const pad1_case *pc = &cases[c];
        int len = pc->n + pc->L + pc->R;
        /* The same 1-D answer along columns (a 1-row image) and along rows
         * (a 1-column image). */
        for (axis = 0; axis < 2; axis++) {
            clconv_plane out = {0, 0, NULL};
            clconv_status st =
                axis == 0 ? pad_plane(vals, pc->n, 1, 0, 0, pc->L, pc->R,
                                      pc->mode, 9.0f, &out)
                          : pad_plane(vals, 1, pc->n, pc->L, pc->R, 0, 0,
                                      pc->mode, 9.0f, &out);
            int bad = -1;
            CHECK_INT(st, CLCONV_OK);
            if (st != CLCONV_OK) continue;
            CHECK_INT((long long)out.width * out.height, len);
            for (i = 0; i < len && bad < 0; i++)
                if (out.data[i] != (float)pc->want[i]) bad = i;
            if (bad >= 0) {
                failures++;
                fprintf(stderr, "pad %s n=%d (%d,%d) along %s: index %d is %g, "
                        "numpy says %d\n  got ", clconv_border_name(pc->mode),
                        pc->n, pc->L, pc->R, axis ? "rows" : "columns", bad,
                        out.data[bad], pc->want[bad]);
                for (i = 0; i < len; i++) fprintf(stderr, "%g ", out.data[i]);
                fprintf(stderr, "\n");
            }
            checks++;
            clconv_plane_free(&out);
        }
    }

    /* 2-D: [[1,2,3],[4,5,6]] padded rows (1, 2), columns (2, 1); pasted from
     * np.pad(b, ((1, 2), (2, 1)), mode=m, constant_values=9). */
    {
        static const float b[6] = {1, 2, 3, 4, 5, 6};
        static const int want[5][30] = {
            {9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9, 9, 9, 9, 9, 9,
             9, 9, 9, 9, 9, 9},
            {1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6,
             4, 4, 4, 5, 6, 6},
            {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2,
             6, 5, 4, 5, 6, 5},
            {2, 1, 1, 2, 3, 3, 2, 1, 1, 2, 3, 3, 5, 4, 4, 5, 6, 6, 5, 4, 4, 5, 6, 6,
             2, 1, 1, 2, 3, 3},
            {5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1,
             5, 6, 4, 5, 6, 4},
        };
        int m;
        for (m = 0; m <= CLCONV_BORDER_WRAP; m++) {
            clconv_plane out = {0, 0, NULL};
            int same = 1;
            CHECK_INT(pad_plane(b, 3, 2, 1, 2, 2, 1, (clconv_border)m, 9.0f, &out),
                      CLCONV_OK);
            CHECK_INT(out.width, 6);
            CHECK_INT(out.height, 5);
            if (out.data)
                for (i = 0; i < 30; i++) same &= out.data[i] == (float)want[m][i];
            if (!same) fprintf(stderr, "2-D pad, mode %s\n",
                               clconv_border_name((clconv_border)m));
            CHECK(same);
            clconv_plane_free(&out);
        }
    }
    /* Through the real geometry: explicit 2 with a non-integer cval. */
    {
        clconv_plane in, out = {0, 0, NULL};
        clconv_params prm;
        clconv_geometry g;
        char err[CLCONV_ERR_MAX];
        clconv_params_init(&prm);
        prm.padding = CLCONV_PAD_EXPLICIT;
        prm.pad_width = 2;
        prm.cval = -1.25f;
        CHECK_INT(clconv_plane_alloc(&in, 1, 1), CLCONV_OK);
        in.data[0] = 3.0f;
        CHECK_INT(clconv_geometry_compute(1, 1, 3, 3, &prm, &g, err), CLCONV_OK);
        CHECK_INT(clconv_pad(&in, &g, &prm, &out, err), CLCONV_OK);
        CHECK_INT(out.width, 5);
        CHECK_INT(out.height, 5);
        if (out.data) {
            int ok = 1;
            for (i = 0; i < 25; i++)
                ok &= out.data[i] == (i == 12 ? 3.0f : -1.25f);
            CHECK(ok);
        }
        CHECK(clconv_border_parse("symmetric") == CLCONV_BORDER_SYMMETRIC);
        CHECK(clconv_border_parse("mirror") == -1);
        clconv_plane_free(&in);
        clconv_plane_free(&out);
    }
}

/* ------------------------------------------------------------ reference */

static clconv_filter *make_filter(int kh, int kw, const double *t)
{
    clconv_filter *f = NULL;
    char err[CLCONV_ERR_MAX];
    if (clconv_filter_create(kh, kw, t, "test", &f, err) != CLCONV_OK)
        fprintf(stderr, "filter_create: %s\n", err);
    return f;
}

/* Runs the reference on `vals` (w x h) and compares with want (out_w*out_h
 * values worked out by hand). */
static void ref_case(const char *name, const float *vals, int w, int h,
                     const clconv_filter *f, const clconv_params *prm,
                     int out_w, int out_h, const float *want,
                     const float *want_abs)
{
    clconv_plane in = {0, 0, NULL}, padded = {0, 0, NULL}, out = {0, 0, NULL},
                 asum = {0, 0, NULL};
    clconv_geometry g;
    char err[CLCONV_ERR_MAX] = "";
    int i, bad = 0;
    if (clconv_plane_alloc(&in, w, h) != CLCONV_OK) { CHECK(0); return; }
    memcpy(in.data, vals, (size_t)w * (size_t)h * sizeof(float));
    CHECK_INT(clconv_geometry_compute(w, h, clconv_filter_width(f),
                                      clconv_filter_height(f), prm, &g, err),
              CLCONV_OK);
    CHECK_INT(g.out_w, out_w);
    CHECK_INT(g.out_h, out_h);
    if (g.out_w != out_w || g.out_h != out_h) goto done;
    CHECK_INT(clconv_pad(&in, &g, prm, &padded, err), CLCONV_OK);
    CHECK_INT(clconv_plane_alloc(&out, out_w, out_h), CLCONV_OK);
    CHECK_INT(clconv_plane_alloc(&asum, out_w, out_h), CLCONV_OK);
    CHECK_INT(clconv_conv_ref(&padded, f, &g, &out, want_abs ? &asum : NULL),
              CLCONV_OK);
    for (i = 0; i < out_w * out_h; i++) {
        if (out.data[i] != want[i]) {
            fprintf(stderr, "%s: pixel (%d, %d) is %.9g, by hand %.9g\n", name,
                    i % out_w, i / out_w, out.data[i], want[i]);
            bad++;
        }
        if (want_abs && asum.data[i] != want_abs[i]) {
            fprintf(stderr, "%s: abs_sum (%d, %d) is %.9g, by hand %.9g\n",
                    name, i % out_w, i / out_w, asum.data[i], want_abs[i]);
            bad++;
        }
    }
    CHECK(bad == 0);
done:
    clconv_plane_free(&in);
    clconv_plane_free(&padded);
    clconv_plane_free(&out);
    clconv_plane_free(&asum);
}

static void test_reference(void)
{
    static const float img3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const double sharpen[9] = {0, -1, 0, -1, 5, -1, 0, -1, 0};
    /* By hand: 5*c - up - down - left - right, zeros outside. */
    static const float sharp_want[9] = {-1, 1, 7, 7, 5, 13, 23, 19, 31};
    /* |5c| + neighbours, all positive: 5*c + up + down + left + right. */
    static const float sharp_abs[9] = {11, 19, 23, 33, 45, 47, 47, 61, 59};
    static const double k22[4] = {1, 2, 3, 4};
    static const float k22_valid[4] = {37, 47, 67, 77};
    static const float k22_flipped[4] = {23, 33, 53, 63};
    float img5[25];
    static const float dil_want[4] = {92, 112, 192, 212};
    /* Edge border, sharpen on [[1,2],[3,4]] same: padded
     * 1 1 2 2 / 1 1 2 2 / 3 3 4 4 / 3 3 4 4. (0,0): 5 - 1 - 3 - 1 - 2 = -2;
     * (1,0): 10 - 2 - 4 - 1 - 2 = 1; (0,1): 15 - 1 - 3 - 3 - 4 = 4;
     * (1,1): 20 - 2 - 4 - 3 - 4 = 7. */
    static const float img2[4] = {1, 2, 3, 4};
    static const float edge_want[4] = {-2, 1, 4, 7};
    clconv_filter *fs = make_filter(3, 3, sharpen);
    clconv_filter *f22 = make_filter(2, 2, k22), *f22f = NULL;
    clconv_params prm;
    char err[CLCONV_ERR_MAX];
    int i;

    for (i = 0; i < 25; i++) img5[i] = (float)(i + 1);
    if (!fs || !f22) { CHECK(0); goto done; }
    clconv_params_init(&prm);
    ref_case("sharpen same", img3, 3, 3, fs, &prm, 3, 3, sharp_want, sharp_abs);
    prm.border = CLCONV_BORDER_EDGE;
    ref_case("sharpen edge", img2, 2, 2, fs, &prm, 2, 2, edge_want, NULL);

    /* Correlation, not convolution: K[0][0] meets the top-left pixel.
     * [[1,2],[3,4]] over [[1,2,3],[4,5,6],[7,8,9]]: 1+4+12+20 = 37, ... */
    clconv_params_init(&prm);
    prm.padding = CLCONV_PAD_VALID;
    ref_case("2x2 valid", img3, 3, 3, f22, &prm, 2, 2, k22_valid, NULL);
    CHECK_INT(clconv_filter_flip(f22, &f22f, err), CLCONV_OK);
    /* Flipped [[4,3],[2,1]]: 4+6+8+5 = 23, then +10 per column step... */
    if (f22f) ref_case("2x2 flipped", img3, 3, 3, f22f, &prm, 2, 2, k22_flipped, NULL);

    /* Stride 2, dilation 2 on 1..25 (5x5), valid: out[y][x] =
     * P[2y][2x] + 2 P[2y][2x+2] + 3 P[2y+2][2x] + 4 P[2y+2][2x+2],
     * P[r][c] = 5r + c + 1: (0,0) = 1 + 6 + 33 + 52 = 92. */
    prm.stride = 2;
    prm.dilation = 2;
    ref_case("stride 2 dilation 2", img5, 5, 5, f22, &prm, 2, 2, dil_want, NULL);

done:
    clconv_filter_destroy(fs);
    clconv_filter_destroy(f22);
    clconv_filter_destroy(f22f);
}

/* ------------------------------------------------------------ filters */

static void test_filters(void)
{
    clconv_filter *f = NULL, *g = NULL;
    char err[CLCONV_ERR_MAX];
    const double *t;
    int i, j;
    static const double rect[6] = {1, 2, 3, 4, 5, 6};

    /* flip of a 2x3: [[6,5,4],[3,2,1]], still 2 rows of 3 */
    CHECK_INT(clconv_filter_create(2, 3, rect, "r", &f, err), CLCONV_OK);
    CHECK_INT(clconv_filter_flip(f, &g, err), CLCONV_OK);
    if (g) {
        static const double want[6] = {6, 5, 4, 3, 2, 1};
        CHECK_INT(clconv_filter_height(g), 2);
        CHECK_INT(clconv_filter_width(g), 3);
        CHECK(memcmp(clconv_filter_taps(g), want, sizeof want) == 0);
    }
    /* the original is left alone */
    CHECK(memcmp(clconv_filter_taps(f), rect, sizeof rect) == 0);
    clconv_filter_destroy(f);
    clconv_filter_destroy(g);
    f = g = NULL;

    /* Presets from DESIGN.md. */
    {
        static const double sharpen[9] = {0, -1, 0, -1, 5, -1, 0, -1, 0};
        static const double emboss[9] = {-2, -1, 0, -1, 1, 1, 0, 1, 2};
        static const double sobel_top[9] = {1, 2, 1, 0, 0, 0, -1, -2, -1};
        static const double sobel_left[9] = {1, 0, -1, 2, 0, -2, 1, 0, -1};
        CHECK_INT(clconv_filter_parse("sharpen", &f, err), CLCONV_OK);
        if (f) {
            CHECK(memcmp(clconv_filter_taps(f), sharpen, sizeof sharpen) == 0);
            CHECK(clconv_filter_is_integer(f));
        }
        clconv_filter_destroy(f);
        CHECK_INT(clconv_filter_parse("emboss", &f, err), CLCONV_OK);
        if (f) CHECK(memcmp(clconv_filter_taps(f), emboss, sizeof emboss) == 0);
        clconv_filter_destroy(f);
        CHECK_INT(clconv_filter_parse("sobel-top", &f, err), CLCONV_OK);
        if (f) CHECK(memcmp(clconv_filter_taps(f), sobel_top, sizeof sobel_top) == 0);
        clconv_filter_destroy(f);
        CHECK_INT(clconv_filter_parse("sobel-left", &f, err), CLCONV_OK);
        if (f) CHECK(memcmp(clconv_filter_taps(f), sobel_left, sizeof sobel_left) == 0);
        clconv_filter_destroy(f);
        CHECK_INT(clconv_filter_parse("blur", &f, err), CLCONV_OK);
        if (f) {
            t = clconv_filter_taps(f);
            CHECK(t[0] == 1.0 / 16 && t[1] == 2.0 / 16 && t[4] == 4.0 / 16);
            CHECK(!clconv_filter_is_integer(f));
        }
        clconv_filter_destroy(f);
        f = NULL;
        for (i = 0; clconv_preset_name(i); i++) CHECK(clconv_preset_help(i) != NULL);
        CHECK(i >= 11); /* 9 fixed + box + gaussian */
    }

    /* box:3: nine taps of 1/9 */
    CHECK_INT(clconv_filter_parse("box:3", &f, err), CLCONV_OK);
    if (f) {
        CHECK_INT(clconv_filter_width(f), 3);
        CHECK_INT(clconv_filter_height(f), 3);
        t = clconv_filter_taps(f);
        for (i = 0; i < 9; i++) CHECK_FLOAT(t[i], 1.0 / 9.0, 1e-16);
    }
    clconv_filter_destroy(f);
    f = NULL;

    /* gaussian:5: sums to 1, symmetric both ways, peak in the middle */
    CHECK_INT(clconv_filter_parse("gaussian:5", &f, err), CLCONV_OK);
    if (f) {
        double sum = 0;
        CHECK_INT(clconv_filter_width(f), 5);
        t = clconv_filter_taps(f);
        for (i = 0; i < 25; i++) sum += t[i];
        CHECK_FLOAT(sum, 1.0, 1e-12);
        for (i = 0; i < 5; i++)
            for (j = 0; j < 5; j++) {
                CHECK_FLOAT(t[i * 5 + j], t[j * 5 + i], 1e-15);
                CHECK_FLOAT(t[i * 5 + j], t[(4 - i) * 5 + j], 1e-15);
                CHECK_FLOAT(t[i * 5 + j], t[i * 5 + (4 - j)], 1e-15);
                CHECK(t[i * 5 + j] <= t[12]);
                CHECK(t[i * 5 + j] > 0);
            }
    }
    clconv_filter_destroy(f);
    f = NULL;
    /* Without SIGMA, odd N <= 9 takes OpenCV's fixed tables, exactly:
     * gaussian:3 is the blur preset (1 2 1 / 2 4 2 / 1 2 1, over 16), and
     * gaussian:7's middle tap is 0.28125^2; even N and N > 7 use sigma. */
    {
        static const double g7[7] = {0.03125, 0.109375, 0.21875, 0.28125,
                                     0.21875, 0.109375, 0.03125};
        static const double b3[3] = {1, 2, 1};
        CHECK_INT(clconv_filter_parse("gaussian:3", &f, err), CLCONV_OK);
        for (i = 0; f && i < 9; i++)
            CHECK_FLOAT(clconv_filter_taps(f)[i], b3[i / 3] * b3[i % 3] / 16, 0);
        clconv_filter_destroy(f);
        CHECK_INT(clconv_filter_parse("gaussian:7", &f, err), CLCONV_OK);
        for (i = 0; f && i < 49; i++)
            CHECK_FLOAT(clconv_filter_taps(f)[i], g7[i / 7] * g7[i % 7], 0);
        clconv_filter_destroy(f);
        CHECK_INT(clconv_filter_parse("gaussian:9", &f, err), CLCONV_OK);
        if (f) CHECK_FLOAT(clconv_filter_taps(f)[40], 60.0 * 60 / 65536, 0);
        clconv_filter_destroy(f);
        /* gaussian:7:1.4 (an explicit sigma) is the formula, not the table */
        CHECK_INT(clconv_filter_parse("gaussian:7:1.4", &f, err), CLCONV_OK);
        if (f) CHECK(fabs(clconv_filter_taps(f)[24] - g7[3] * g7[3]) > 1e-6);
        clconv_filter_destroy(f);
        f = NULL;
    }
    /* an explicit sigma changes the spread: larger sigma, flatter middle */
    CHECK_INT(clconv_filter_parse("gaussian:5:3", &f, err), CLCONV_OK);
    CHECK_INT(clconv_filter_parse("gaussian:5:0.5", &g, err), CLCONV_OK);
    if (f && g) CHECK(clconv_filter_taps(f)[12] < clconv_filter_taps(g)[12]);
    clconv_filter_destroy(f);
    clconv_filter_destroy(g);
    f = g = NULL;

    /* inline matrices: rows split by ';' */
    CHECK_INT(clconv_filter_parse("1,2;3,4", &f, err), CLCONV_OK);
    if (f) {
        static const double want[4] = {1, 2, 3, 4};
        CHECK_INT(clconv_filter_height(f), 2);
        CHECK_INT(clconv_filter_width(f), 2);
        CHECK(memcmp(clconv_filter_taps(f), want, sizeof want) == 0);
    }
    clconv_filter_destroy(f);
    CHECK_INT(clconv_filter_parse("0.5 -1.5e1 2", &f, err), CLCONV_OK);
    if (f) {
        static const double want[3] = {0.5, -15, 2};
        CHECK_INT(clconv_filter_height(f), 1);
        CHECK_INT(clconv_filter_width(f), 3);
        CHECK(memcmp(clconv_filter_taps(f), want, sizeof want) == 0);
        CHECK(!clconv_filter_is_integer(f));
    }
    clconv_filter_destroy(f);
    CHECK_INT(clconv_filter_parse("1;2;3", &f, err), CLCONV_OK);
    if (f) {
        CHECK_INT(clconv_filter_height(f), 3);
        CHECK_INT(clconv_filter_width(f), 1);
    }
    clconv_filter_destroy(f);
    f = NULL;

    /* Bad specs: all CLCONV_E_FILTER, no filter, a message. */
    {
        static const char *const bad[] = {
            "", "1,2;3", "1,x", "nan", "inf", "-inf", "1,nan;2,3", "1e400",
            "box:0", "box:", "box:3x", "box:256", "box:3:1", "gaussian:3:-1",
            "gaussian:3:0", "gaussian:3:abc", "no-such-preset", ";;", " ",
        };
        char cols[300 * 2 + 1];
        size_t k;
        for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            clconv_filter *b = (clconv_filter *)&err; /* must be reset */
            clconv_status st;
            err[0] = '\0';
            st = clconv_filter_parse(bad[k], &b, err);
            if (st != CLCONV_E_FILTER)
                fprintf(stderr, "bad spec '%s' gave status %d\n", bad[k], st);
            CHECK_INT(st, CLCONV_E_FILTER);
            CHECK(b == NULL);
            CHECK(err[0] != '\0');
            if (st == CLCONV_OK) clconv_filter_destroy(b);
        }
        /* 300 columns > CLCONV_FILTER_MAX */
        for (i = 0; i < 300; i++) {
            cols[2 * i] = '1';
            cols[2 * i + 1] = ',';
        }
        cols[599] = '\0';
        CHECK_INT(clconv_filter_parse(cols, &f, err), CLCONV_E_FILTER);
        CHECK(f == NULL);
        /* ... and 255 columns are fine */
        cols[2 * 254 + 1] = '\0';
        CHECK_INT(clconv_filter_parse(cols, &f, err), CLCONV_OK);
        if (f) CHECK_INT(clconv_filter_width(f), 255);
        clconv_filter_destroy(f);
        f = NULL;
    }
}

static void test_filter_file(const char *dir)
{
    char path[512], spec[520], err[CLCONV_ERR_MAX];
    clconv_filter *f = NULL;
    FILE *fp;
    snprintf(path, sizeof path, "%s/edge.txt", dir);
    fp = fopen(path, "w");
    if (!fp) { CHECK(0); return; }
    fputs("# an edge filter\n-1 -1 -1   # top\n-1,8,-1\n\n-1 -1 -1\n", fp);
    fclose(fp);
    snprintf(spec, sizeof spec, "@%s", path);
    CHECK_INT(clconv_filter_parse(spec, &f, err), CLCONV_OK);
    if (f) {
        static const double want[9] = {-1, -1, -1, -1, 8, -1, -1, -1, -1};
        CHECK_INT(clconv_filter_width(f), 3);
        CHECK_INT(clconv_filter_height(f), 3);
        CHECK(memcmp(clconv_filter_taps(f), want, sizeof want) == 0);
    }
    clconv_filter_destroy(f);
    f = NULL;
    fp = fopen(path, "w");
    if (!fp) { CHECK(0); return; }
    fputs("1 2\n3 nan\n", fp);
    fclose(fp);
    CHECK_INT(clconv_filter_parse(spec, &f, err), CLCONV_E_FILTER);
    CHECK_HAS(err, "edge.txt");
    fp = fopen(path, "w");
    if (!fp) { CHECK(0); return; }
    fputs("# only a comment\n\n", fp);
    fclose(fp);
    CHECK_INT(clconv_filter_parse(spec, &f, err), CLCONV_E_FILTER);
    snprintf(spec, sizeof spec, "@%s/missing.txt", dir);
    CHECK_INT(clconv_filter_parse(spec, &f, err), CLCONV_E_FILTER);
    CHECK_HAS(err, "missing.txt");
    remove(path);
}

/* ------------------------------------------------------------ mapping */

/* clamp and abs against libm's rint, half to even, on every half step of
 * -4..65540 and on random floats of every magnitude (2^-30 .. 2^100, both
 * signs, the ties of float32 included), to 8 and 16 bits: the map rounds
 * without calling rint, so this is where a shortcut would show. */
static void test_map_rounding(void)
{
    const int halves = 2 * 65544 + 8, randoms = 200000, n = halves + randoms;
    unsigned seed = 2026u;
    clconv_plane p = {0, 0, NULL};
    unsigned char *u8 = malloc((size_t)n);
    uint16_t *u16 = malloc((size_t)n * sizeof *u16);
    long long nans = -1, clipped = -1, want_clipped = 0;
    int i, bad = 0, m;
    CHECK_INT(clconv_plane_alloc(&p, n, 1), CLCONV_OK);
    if (!p.data || !u8 || !u16) goto done;
    for (i = 0; i < halves; i++) p.data[i] = (float)(i - 8) * 0.5f;
    for (i = halves; i < n; i++) {
        float v;
        seed = seed * 1103515245u + 12345u;
        v = ldexpf((float)(seed >> 8) / 16777216.0f, (int)(seed % 131u) - 30);
        if (seed & 0x40000000u) v = -v;
        if (i % 7 == 0) v = floorf(v) + 0.5f; /* a tie where floats hold one */
        p.data[i] = v;
    }
    for (m = 0; m < 2; m++) {
        const clconv_map map = m ? CLCONV_MAP_ABS : CLCONV_MAP_CLAMP;
        clconv_plane_to_u16(&p, map, u16, &nans, &clipped);
        clconv_plane_to_u8(&p, map, u8, NULL);
        want_clipped = 0;
        for (i = 0; i < n && bad < 5; i++) {
            const double r = rint(m ? fabs((double)p.data[i]) : (double)p.data[i]);
            const unsigned w16 = r < 0 ? 0u : r > 65535 ? 65535u : (unsigned)r;
            const unsigned w8 = r < 0 ? 0u : r > 255 ? 255u : (unsigned)r;
            want_clipped += r < 0 || r > 65535;
            if (u16[i] != w16 || u8[i] != w8) {
                fprintf(stderr, "map %s of %.9g (%a): %u/%u, rint gives %u/%u\n",
                        m ? "abs" : "clamp", p.data[i], p.data[i], u8[i], u16[i], w8, w16);
                bad++;
            }
        }
        CHECK_INT(bad, 0);
        CHECK_INT(nans, 0);
        CHECK_INT(clipped, want_clipped);
    }
done:
    clconv_plane_free(&p);
    free(u8);
    free(u16);
}

static void test_map(void)
{
    /* clamp: round half to even, then clamp; NaN -> 0 and counted */
    static const float in[] = {0.5f, 1.5f, 2.5f, -0.5f, 254.5f, 300.0f,
                               3.5f, 127.49f, 255.5f, -3.0f, 0.0f, 1e30f,
                               -1e30f};
    static const unsigned char want_clamp[] = {0, 2, 2, 0, 254, 255, 4, 127,
                                               255, 0, 0, 255, 0};
    static const unsigned char want_abs[] = {0, 2, 2, 0, 254, 255, 4, 127,
                                             255, 3, 0, 255, 255};
    const int n = (int)(sizeof in / sizeof in[0]);
    clconv_plane p = {0, 0, NULL};
    unsigned char u8[16];
    long long nans = -1;
    int i;

    CHECK_INT(clconv_plane_alloc(&p, n + 1, 1), CLCONV_OK);
    if (!p.data) return;
    memcpy(p.data, in, sizeof in);
    p.data[n] = NAN;
    memset(u8, 0xAA, sizeof u8);
    clconv_plane_to_u8(&p, CLCONV_MAP_CLAMP, u8, &nans);
    for (i = 0; i < n; i++) {
        if (u8[i] != want_clamp[i])
            fprintf(stderr, "clamp %.9g -> %d, expected %d\n", in[i], u8[i],
                    want_clamp[i]);
        CHECK_INT(u8[i], want_clamp[i]);
    }
    CHECK_INT(u8[n], 0);
    CHECK_INT(nans, 1);
    nans = -1;
    memset(u8, 0xAA, sizeof u8);
    clconv_plane_to_u8(&p, CLCONV_MAP_ABS, u8, &nans);
    for (i = 0; i < n; i++) {
        if (u8[i] != want_abs[i])
            fprintf(stderr, "abs %.9g -> %d, expected %d\n", in[i], u8[i],
                    want_abs[i]);
        CHECK_INT(u8[i], want_abs[i]);
    }
    CHECK_INT(u8[n], 0);
    CHECK_INT(nans, 1);
    /* nan_count may be NULL */
    clconv_plane_to_u8(&p, CLCONV_MAP_CLAMP, u8, NULL);
    clconv_plane_free(&p);

    /* abs: -3.5 -> 3.5 -> 4 (even), -2.5 -> 2 */
    CHECK_INT(clconv_plane_alloc(&p, 2, 1), CLCONV_OK);
    if (p.data) {
        p.data[0] = -3.5f;
        p.data[1] = -2.5f;
        clconv_plane_to_u8(&p, CLCONV_MAP_ABS, u8, NULL);
        CHECK_INT(u8[0], 4);
        CHECK_INT(u8[1], 2);
    }
    clconv_plane_free(&p);

    /* normalize: [10, 20, 30, NaN] -> 0, 127.5 -> 128 (even), 255; NaN 0 */
    CHECK_INT(clconv_plane_alloc(&p, 2, 2), CLCONV_OK);
    if (p.data) {
        p.data[0] = 10;
        p.data[1] = 20;
        p.data[2] = 30;
        p.data[3] = NAN;
        nans = -1;
        clconv_plane_to_u8(&p, CLCONV_MAP_NORMALIZE, u8, &nans);
        CHECK_INT(u8[0], 0);
        CHECK_INT(u8[1], 128);
        CHECK_INT(u8[2], 255);
        CHECK_INT(u8[3], 0);
        CHECK_INT(nans, 1);
        /* -4, 0, 12, 4: range 16, 255/16 each: 0, 63.75 -> 64, 255, 127.5 -> 128 */
        p.data[0] = -4;
        p.data[1] = 0;
        p.data[2] = 12;
        p.data[3] = 4;
        clconv_plane_to_u8(&p, CLCONV_MAP_NORMALIZE, u8, &nans);
        CHECK_INT(u8[0], 0);
        CHECK_INT(u8[1], 64);
        CHECK_INT(u8[2], 255);
        CHECK_INT(u8[3], 128);
        CHECK_INT(nans, 0);
        /* flat: all 0 */
        for (i = 0; i < 4; i++) p.data[i] = 77.0f;
        memset(u8, 0xAA, 4);
        clconv_plane_to_u8(&p, CLCONV_MAP_NORMALIZE, u8, &nans);
        for (i = 0; i < 4; i++) CHECK_INT(u8[i], 0);
        CHECK_INT(nans, 0);
    }
    clconv_plane_free(&p);
    test_map_rounding();
}

/* ------------------------------------------------------------ files */

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *b = NULL;
    long n;
    *len = 0;
    if (!fp) return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
        fseek(fp, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) != NULL) {
        *len = fread(b, 1, (size_t)n, fp);
    }
    fclose(fp);
    return b;
}

static unsigned long crc32_of(const unsigned char *b, size_t n)
{
    unsigned long c = 0xFFFFFFFFul;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= b[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320ul & (0ul - (c & 1)));
    }
    return c ^ 0xFFFFFFFFul;
}

static void put_be32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_files(const char *dir)
{
    char path[512], err[CLCONV_ERR_MAX];
    clconv_plane p = {0, 0, NULL}, q = {0, 0, NULL};
    const int w = 37, h = 23;
    int i;
    unsigned seed = 12345;
    unsigned char *buf;
    size_t len;

    CHECK_INT(clconv_plane_alloc(&p, w, h), CLCONV_OK);
    if (!p.data) return;

    /* .npy keeps every float bit, NaN and negative zero included. */
    for (i = 0; i < w * h; i++) {
        seed = seed * 1103515245u + 12345u;
        p.data[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 1000.0f;
    }
    p.data[0] = NAN;
    p.data[1] = -0.0f;
    p.data[2] = 1e-40f; /* subnormal */
    snprintf(path, sizeof path, "%s/round.npy", dir);
    CHECK_INT(clconv_image_save(path, &p, CLCONV_MAP_CLAMP, 95, NULL, err),
              CLCONV_OK);
    CHECK_INT(clconv_image_load(path, 0, &q, err), CLCONV_OK);
    CHECK_INT(q.width, w);
    CHECK_INT(q.height, h);
    if (q.data && q.width == w && q.height == h)
        CHECK(memcmp(p.data, q.data, sizeof(float) * (size_t)(w * h)) == 0);
    clconv_plane_free(&q);
    /* The header follows the NumPy format: 64-byte aligned, shape (H, W). */
    buf = slurp(path, &len);
    CHECK(buf != NULL);
    if (buf) {
        size_t hlen = len >= 10 ? (size_t)buf[8] | (size_t)buf[9] << 8 : 0;
        CHECK(len > 10 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
        CHECK((10 + hlen) % 64 == 0);
        CHECK_INT((long long)len, (long long)(10 + hlen + 4 * (size_t)(w * h)));
        if (len > 10 + hlen) {
            char hdr[256];
            memcpy(hdr, buf + 10, hlen < 255 ? hlen : 255);
            hdr[hlen < 255 ? hlen : 255] = '\0';
            CHECK_HAS(hdr, "'<f4'");
            CHECK_HAS(hdr, "(23, 37)");
            CHECK_HAS(hdr, "'fortran_order': False");
        }
        /* Truncated data: refused, naming the name given. */
        CHECK_INT(clconv_image_load_memory(buf, len - 5, "cut.npy", 0, &q, err),
                  CLCONV_E_DECODE);
        CHECK_HAS(err, "cut.npy");
        /* max_pixels from the header alone */
        CHECK_INT(clconv_image_load_memory(buf, len, "big.npy",
                                           (long long)w * h - 1, &q, err),
                  CLCONV_E_TOO_LARGE);
        CHECK_HAS(err, "big.npy");
        CHECK(q.data == NULL);
        free(buf);
    }

    /* PNG keeps integer data 0..255 exactly (clamp map is the identity). */
    for (i = 0; i < w * h; i++) p.data[i] = (float)((i * 37 + 11) % 256);
    snprintf(path, sizeof path, "%s/round.png", dir);
    CHECK_INT(clconv_image_save(path, &p, CLCONV_MAP_CLAMP, 95, NULL, err),
              CLCONV_OK);
    CHECK_INT(clconv_image_load(path, 0, &q, err), CLCONV_OK);
    CHECK_INT(q.width, w);
    CHECK_INT(q.height, h);
    if (q.data && q.width == w && q.height == h)
        CHECK(memcmp(p.data, q.data, sizeof(float) * (size_t)(w * h)) == 0);
    clconv_plane_free(&q);
    /* BMP too. */
    snprintf(path, sizeof path, "%s/round.bmp", dir);
    CHECK_INT(clconv_image_save(path, &p, CLCONV_MAP_CLAMP, 95, NULL, err),
              CLCONV_OK);
    CHECK_INT(clconv_image_load(path, 0, &q, err), CLCONV_OK);
    if (q.data && q.width == w && q.height == h)
        CHECK(memcmp(p.data, q.data, sizeof(float) * (size_t)(w * h)) == 0);
    else
        CHECK(0);
    clconv_plane_free(&q);

    /* Truncated and corrupt PNG; max_pixels before decoding. */
    snprintf(path, sizeof path, "%s/round.png", dir);
    buf = slurp(path, &len);
    CHECK(buf != NULL && len > 60);
    if (buf && len > 60) {
        CHECK_INT(clconv_image_load_memory(buf, len, "ok.png", 0, &q, err),
                  CLCONV_OK);
        clconv_plane_free(&q);
        CHECK_INT(clconv_image_load_memory(buf, len / 2, "half.png", 0, &q, err),
                  CLCONV_E_DECODE);
        CHECK_HAS(err, "half.png");
        CHECK(q.data == NULL);
        CHECK_INT(clconv_image_load_memory(buf, 12, "twelve.png", 0, &q, err),
                  CLCONV_E_DECODE);
        CHECK_HAS(err, "twelve.png");
        CHECK_INT(clconv_image_load_memory(buf, len, "limit.png",
                                           (long long)w * h - 1, &q, err),
                  CLCONV_E_TOO_LARGE);
        CHECK_HAS(err, "limit.png");
        CHECK_INT(clconv_image_load_memory(buf, len, "limit.png",
                                           (long long)w * h, &q, err),
                  CLCONV_OK);
        clconv_plane_free(&q);
    }
    free(buf);

    /* A JPEG cut short must not decode as gray filler. */
    snprintf(path, sizeof path, "%s/round.jpg", dir);
    CHECK_INT(clconv_image_save(path, &p, CLCONV_MAP_CLAMP, 90, NULL, err),
              CLCONV_OK);
    buf = slurp(path, &len);
    if (buf && len > 200) {
        CHECK_INT(clconv_image_load_memory(buf, len, "ok.jpg", 0, &q, err),
                  CLCONV_OK);
        clconv_plane_free(&q);
        CHECK_INT(clconv_image_load_memory(buf, len - len / 3, "cut.jpg", 0, &q,
                                           err),
                  CLCONV_E_DECODE);
        CHECK_HAS(err, "cut.jpg");
    } else {
        CHECK(0);
    }
    free(buf);

    /* A decompression bomb: a valid PNG signature and IHDR announcing
     * 20000 x 20000 (4e8 pixels: over the default limit of 2^28, under
     * stb's own 2^30 cap), with no image data at all. The limit must answer
     * from the header; without a limit it is a decode error, not a crash. */
    {
        unsigned char bomb[8 + 25];
        unsigned long side;
        for (side = 20000; side <= 60000; side += 40000) {
            memcpy(bomb, "\x89PNG\r\n\x1a\n", 8);
            put_be32(bomb + 8, 13);
            memcpy(bomb + 12, "IHDR", 4);
            put_be32(bomb + 16, side);
            put_be32(bomb + 20, side);
            bomb[24] = 8; /* bit depth */
            bomb[25] = 0; /* gray */
            bomb[26] = bomb[27] = bomb[28] = 0;
            put_be32(bomb + 29, crc32_of(bomb + 12, 17));
            if (side == 20000) {
                CHECK_INT(clconv_image_load_memory(bomb, sizeof bomb, "bomb.png",
                                                   1LL << 28, &q, err),
                          CLCONV_E_TOO_LARGE);
                CHECK_HAS(err, "bomb.png");
                CHECK(q.data == NULL);
                CHECK_INT(clconv_image_load_memory(bomb, sizeof bomb, "bomb.png",
                                                   0, &q, err),
                          CLCONV_E_DECODE);
            } else {
                /* 3.6e9 pixels: stb refuses the header itself; refused in
                 * any case, naming the file. */
                CHECK(clconv_image_load_memory(bomb, sizeof bomb, "huge.png",
                                               1LL << 28, &q, err) != CLCONV_OK);
                CHECK_HAS(err, "huge.png");
            }
            CHECK(q.data == NULL);
            clconv_plane_free(&q);
        }
    }

    /* Garbage and empty buffers. */
    {
        static const unsigned char junk[] = "this is not an image at all, just text";
        CHECK_INT(clconv_image_load_memory(junk, sizeof junk, "junk.bin", 0, &q,
                                           err),
                  CLCONV_E_DECODE);
        CHECK_HAS(err, "junk.bin");
        CHECK(q.data == NULL);
        CHECK_INT(clconv_image_load_memory(junk, 0, "empty.png", 0, &q, err),
                  CLCONV_E_DECODE);
        CHECK_HAS(err, "empty.png");
        CHECK_INT(clconv_image_load_memory((const unsigned char *)"\x93NUMPY", 6,
                                           "six.npy", 0, &q, err),
                  CLCONV_E_DECODE);
        CHECK_HAS(err, "six.npy");
        CHECK_INT(clconv_image_load_memory((const unsigned char *)"\xFF\xD8\xFF",
                                           3, "three.jpg", 0, &q, err),
                  CLCONV_E_DECODE);
        CHECK_HAS(err, "three.jpg");
        snprintf(path, sizeof path, "%s/does-not-exist.png", dir);
        CHECK(clconv_image_load(path, 0, &q, err) != CLCONV_OK);
        CHECK_HAS(err, "does-not-exist.png");
    }

    /* CLCONV_FAULT=write: the save fails, and leaves neither the file nor
     * a temporary in the directory. */
    {
        char sub[256];
        int k;
        static const char *const names[] = {"w.png", "w.npy", "w.bmp"};
        snprintf(sub, sizeof sub, "%s/faultdir", dir);
        CHECK(mkdir(sub, 0700) == 0);
        CHECK_INT(dir_entries(sub), 0);
        setenv("CLCONV_FAULT", "write", 1);
        for (k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/%s", sub, names[k]);
            CHECK_INT(clconv_image_save(path, &p, CLCONV_MAP_CLAMP, 95, NULL,
                                        err),
                      CLCONV_E_IO);
            CHECK_HAS(err, names[k]);
            CHECK(access(path, F_OK) != 0);
            CHECK_INT(dir_entries(sub), 0);
        }
        unsetenv("CLCONV_FAULT");
        /* The same save works without the fault: the test could tell. */
        snprintf(path, sizeof path, "%s/w.png", sub);
        CHECK_INT(clconv_image_save(path, &p, CLCONV_MAP_CLAMP, 95, NULL, err),
                  CLCONV_OK);
        CHECK_INT(dir_entries(sub), 1);
        remove(path);
        rmdir(sub);
    }
    /* Unknown extension refused (WebP: recognised on input, never written). */
    snprintf(path, sizeof path, "%s/out.webp", dir);
    CHECK_INT(clconv_image_save(path, &p, CLCONV_MAP_CLAMP, 95, NULL, err),
              CLCONV_E_INVALID);
    clconv_plane_free(&p);

    snprintf(path, sizeof path, "%s/round.npy", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/round.png", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/round.bmp", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/round.jpg", dir);
    remove(path);
}

/* ------------------------------------------------------------ misc */

static void test_misc(void)
{
    clconv_plane p = {0, 0, NULL};
    int s;
    CHECK_INT(clconv_plane_alloc(&p, 0, 5), CLCONV_E_INVALID);
    CHECK(p.data == NULL);
    CHECK_INT(clconv_plane_alloc(&p, 3, -1), CLCONV_E_INVALID);
    clconv_plane_free(NULL);
    clconv_filter_destroy(NULL);
    for (s = CLCONV_OK; s <= CLCONV_E_MISMATCH; s++)
        CHECK(clconv_status_str((clconv_status)s) != NULL &&
              *clconv_status_str((clconv_status)s));
}

static void test_outputs_and_verify(void);
static void test_presets_issue13(void);

/* ------------------------------------------------------------------
 * The kernel binary cache (host/cl/cache.c): its key and how it opens
 * files. Every field of the device's identity and of the ICD library's
 * (path, size, mtime) must change the key and the entry's name; a FIFO, a
 * symlink, a file of others' mode is refused without blocking.
 * ------------------------------------------------------------------ */

static int key_differs(const clconv__cache_id *a, const clconv__cache_id *b,
                       const char *src_b, const char *opts_b)
{
    size_t la = 0, lb = 0;
    char na[32], nb[32];
    char *ka = clconv__cache_key(a, "src", "-DX=1", &la);
    char *kb = clconv__cache_key(b, src_b, opts_b, &lb);
    int differ = -1;
    if (ka && kb) {
        clconv__cache_name(ka, la, na);
        clconv__cache_name(kb, lb, nb);
        differ = (la != lb || memcmp(ka, kb, la) != 0) + 2 * (strcmp(na, nb) != 0);
    }
    free(ka);
    free(kb);
    return differ; /* 3: key and name differ, 0: both equal */
}

static void test_cache_key(void)
{
    clconv__cache_id a, b;
    size_t len = 0;
    char *key, name[32];
    memset(&a, 0, sizeof a);
    strcpy(a.device, "pthread-skylake");
    strcpy(a.vendor, "AuthenticAMD");
    strcpy(a.platform, "Portable Computing Language");
    strcpy(a.platform_version, "OpenCL 3.0 PoCL 3.1");
    strcpy(a.driver_version, "3.1");
    strcpy(a.device_version, "OpenCL 3.0 PoCL HSTR");
    strcpy(a.icd_path, "/usr/lib/x86_64-linux-gnu/libpocl.so.2.10.0");
    a.icd_size = 1045528;
    a.icd_mtime_ns = 1680393600000000000LL;
    b = a;
    CHECK_INT(key_differs(&a, &b, "src", "-DX=1"), 0);
/* One field changed at a time, by the statement `change`. */
#define DIFFERS(change)                                                     \
    do {                                                                    \
        b = a;                                                              \
        change;                                                             \
        CHECK_INT(key_differs(&a, &b, "src", "-DX=1"), 3);                  \
    } while (0)
    DIFFERS(strcpy(b.driver_version, "3.2"));
    DIFFERS(strcpy(b.device_version, "OpenCL 3.0 PoCL HSTR2"));
    DIFFERS(strcpy(b.platform_version, "OpenCL 3.0 PoCL 3.2"));
    DIFFERS(strcpy(b.icd_path, "/tmp/libpocl.so.2.10.0"));
    DIFFERS(b.icd_size = 1045529);
    DIFFERS(b.icd_mtime_ns = a.icd_mtime_ns + 1);
    DIFFERS(strcpy(b.device, "pthread-haswell"));
    DIFFERS(strcpy(b.vendor, "GenuineIntel"));
    DIFFERS(strcpy(b.platform, "Intel(R) OpenCL"));
    DIFFERS(b.is_gpu = 1);
#undef DIFFERS
    b = a;
    CHECK_INT(key_differs(&a, &b, "src ", "-DX=1"), 3);
    CHECK_INT(key_differs(&a, &b, "src", "-DX=2"), 3);
    /* Fields cannot run into each other: moving text from the options to
     * the source is another key. */
    CHECK_INT(key_differs(&a, &b, "=1src", "-DX"), 3);
    /* The whole key is kept, not only its hash: the source and options are
     * in it as they are. */
    key = clconv__cache_key(&a, "__kernel void k(void) {}", "-DN=128", &len);
    CHECK(key && len == strlen(key));
    CHECK(key && strstr(key, "__kernel void k(void) {}") && strstr(key, "-DN=128") &&
          strstr(key, a.icd_path) && strstr(key, "1045528") &&
          strstr(key, "1680393600000000000") && strstr(key, CLCONV_VERSION));
    if (key) {
        clconv__cache_name(key, len, name);
        CHECK_INT((long long)strlen(name), 20);
        CHECK(strcmp(name + 16, ".bin") == 0);
    }
    free(key);
}

static void test_cache_open(const char *dir)
{
    char path[512], link[512], fifo[512], why[1024];
    int fd;
    FILE *fp;
    snprintf(path, sizeof path, "%s/entry.bin", dir);
    snprintf(link, sizeof link, "%s/link.bin", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo.bin", dir);
    fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp) return;
    fputs("data", fp);
    fclose(fp);
    CHECK(chmod(path, 0600) == 0);
    fd = clconv__open_file(AT_FDCWD, path, "E", 1, why, sizeof why);
    CHECK(fd >= 0);
    if (fd >= 0) {
        unsigned char *d = NULL;
        size_t n = 0;
        /* The descriptor reads normally: O_NONBLOCK was cleared. */
        CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
        CHECK(clconv__read_fd(fd, 100, &d, &n) && n == 4 && memcmp(d, "data", 4) == 0);
        free(d);
        close(fd);
    }
    CHECK(chmod(path, 0666) == 0);
    CHECK(clconv__open_file(AT_FDCWD, path, "E", 1, why, sizeof why) < 0 &&
          strstr(why, "E: writable by"));
    fd = clconv__open_file(AT_FDCWD, path, "E", 0, why, sizeof why);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK(symlink(path, link) == 0);
    CHECK(clconv__open_file(AT_FDCWD, link, "L", 0, why, sizeof why) < 0 &&
          strstr(why, "L: a symbolic link"));
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(clconv__open_file(AT_FDCWD, fifo, "F", 0, why, sizeof why) < 0 &&
          strstr(why, "F: not a regular file (a FIFO)"));
    CHECK(clconv__open_file(AT_FDCWD, dir, "D", 0, why, sizeof why) < 0 &&
          strstr(why, "not a regular file"));
    errno = 0;
    CHECK(clconv__open_file(AT_FDCWD, "/nonexistent/x", "N", 0, why, sizeof why) < 0 &&
          errno == ENOENT);
    unlink(fifo);
    unlink(link);
    unlink(path);
}

int main(void)
{
    char dir[] = "/tmp/clconv-unit-XXXXXX";
    unsetenv("CLCONV_FAULT");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_geometry();
    test_pad();
    test_reference();
    test_filters();
    test_filter_file(dir);
    test_map();
    test_files(dir);
    test_misc();
    test_outputs_and_verify();
    test_presets_issue13();

    test_cache_key();
    test_cache_open(dir);
    if (rmdir(dir) != 0) fprintf(stderr, "note: %s not empty\n", dir);
    printf("test_unit: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------ verify, writer
 * (issue 12): non-finite values against the tolerance, and the writer's own
 * guards. Kept apart, at the end, so other sections merge cleanly. */

/* One pixel through clconv_verify: dev against ref with sum |K*P| asum. */
static long long verify_one(float dev, float ref, float asum)
{
    clconv_plane d = {1, 1, &dev}, r = {1, 1, &ref}, a = {1, 1, &asum};
    clconv_verify_result vr;
    clconv_verify(&d, &r, &a, 9, &vr);
    return vr.bad;
}

static void test_verify_nonfinite(void)
{
    const float inf = INFINITY, nan = NAN, big = 3e38f;
    /* The issue's case: the device's float sum overflowed, the reference's
     * double sum did not, and |K*P| overflowed float: inf tolerance. */
    CHECK_INT(verify_one(-inf, big, inf), 1);
    CHECK_INT(verify_one(inf, big, inf), 1);
    CHECK_INT(verify_one(big, inf, inf), 1);
    CHECK_INT(verify_one(-inf, inf, inf), 1);
    CHECK_INT(verify_one(inf, inf, inf), 0);
    CHECK_INT(verify_one(-inf, -inf, inf), 0);
    CHECK_INT(verify_one(nan, nan, 0), 0);
    CHECK_INT(verify_one(nan, 1, 1), 1);
    CHECK_INT(verify_one(1, nan, 1), 1);
    CHECK_INT(verify_one(nan, inf, inf), 1);
    CHECK_INT(verify_one(FLT_MAX, FLT_MAX, FLT_MAX), 0);
    /* Finite, but as far apart as floats get: the capped tolerance
     * (4*9*eps*FLT_MAX, about 1.5e33) does not hide it. */
    CHECK_INT(verify_one(FLT_MAX, -FLT_MAX, inf), 1);
    CHECK_INT(verify_one(big, -big, inf), 1);
    /* Within the tolerance still passes: one ulp at 3e38, FLT_MIN at 0. */
    CHECK_INT(verify_one(big, nextafterf(big, inf), big), 0);
    CHECK_INT(verify_one(0, FLT_MIN / 2, 0), 0);
    {
        /* The worst pixel is the infinite one, and the error says so. */
        float dv[3] = {1, -inf, 2}, rv[3] = {1, big, 2}, av[3] = {1, inf, 2};
        clconv_plane d = {3, 1, dv}, r = {3, 1, rv}, a = {3, 1, av};
        clconv_verify_result vr;
        clconv_verify(&d, &r, &a, 9, &vr);
        CHECK_INT(vr.bad, 1);
        CHECK_INT(vr.worst_x, 1);
        CHECK(isinf(vr.max_abs_err));
        CHECK(isfinite(vr.worst_tol));
    }
    {
        /* The spot check: (1, 1, -1) over 3e38 sums to 3e38 in double; a
         * device that overflowed to +-inf is wrong. */
        const double taps[3] = {1, 1, -1};
        clconv_filter *f = make_filter(1, 3, taps);
        float src[3] = {big, big, big}, dev = inf;
        clconv_plane d = {1, 1, &dev};
        const int rmap[1] = {0}, cmap[3] = {0, 1, 2}, xs[1] = {0}, ys[1] = {0};
        clconv_geometry g;
        clconv_verify_result vr;
        memset(&g, 0, sizeof g);
        g.in_w = 3, g.in_h = 1, g.kw = 3, g.kh = 1, g.stride = 1, g.dilation = 1;
        g.padded_w = 3, g.padded_h = 1, g.out_w = 1, g.out_h = 1;
        CHECK(f != NULL);
        if (!f) return;
        clconv__verify_points(&d, src, NULL, 3, rmap, cmap, 0, f, &g, xs, ys, 1, &vr);
        CHECK_INT(vr.bad, 1);
        dev = -inf;
        clconv__verify_points(&d, src, NULL, 3, rmap, cmap, 0, f, &g, xs, ys, 1, &vr);
        CHECK_INT(vr.bad, 1);
        dev = big;
        clconv__verify_points(&d, src, NULL, 3, rmap, cmap, 0, f, &g, xs, ys, 1, &vr);
        CHECK_INT(vr.bad, 0);
        clconv_filter_destroy(f);
    }
}

static int same_key(const char *a, const char *b)
{
    clconv__path_key ka, kb;
    int same;
    if (clconv__path_key_of(a, &ka) != 0) return -1;
    if (clconv__path_key_of(b, &kb) != 0) {
        clconv__path_key_free(&ka);
        return -1;
    }
    same = clconv__path_key_cmp(&ka, &kb) == 0;
    clconv__path_key_free(&ka);
    clconv__path_key_free(&kb);
    return same;
}

static void test_writer_guards(const char *dir)
{
    char path[512], other[512], p2[512], link[512];
    float px[4] = {1, 2, 3, 4};
    clconv_plane pl = {2, 2, px};
    char err[CLCONV_ERR_MAX];
    clconv__path_key keep;
    size_t len = 0;
    unsigned char *before, *after;
    snprintf(path, sizeof path, "%s/keep.png", dir);
    snprintf(other, sizeof other, "%s/other.png", dir);
    CHECK_INT(clconv_image_save(path, &pl, CLCONV_MAP_CLAMP, 95, NULL, err), CLCONV_OK);
    before = slurp(path, &len);
    /* Told to keep the file at the destination (an input that took the
     * output's place), the writer refuses and leaves it as it was. */
    CHECK(clconv__path_key_of(path, &keep) == 0);
    px[0] = 200;
    CHECK(clconv__image_save(path, NULL, &keep, 1, &pl, CLCONV_MAP_CLAMP, 95, NULL, err) !=
          CLCONV_OK);
    CHECK_HAS(err, "keep.png");
    after = slurp(path, &len);
    CHECK(before && after && memcmp(before, after, len) == 0);
    free(after);
    /* Another file's key does not stop it; the format can come from
     * another name (NAME.mismatch). */
    snprintf(p2, sizeof p2, "%s/keep.png.mismatch", dir);
    CHECK_INT(clconv__image_save(p2, path, &keep, 1, &pl, CLCONV_MAP_CLAMP, 95, NULL, err),
              CLCONV_OK);
    after = slurp(p2, &len);
    CHECK(after && len > 8 && memcmp(after, "\x89PNG", 4) == 0);
    free(after);
    free(before);
    clconv__path_key_free(&keep);
    CHECK_INT(dir_entries(dir), 2); /* no temp file left */
    /* Keys: spellings, links and names not made yet. */
    snprintf(p2, sizeof p2, "%s/./keep.png", dir);
    CHECK_INT(same_key(path, p2), 1);
    snprintf(link, sizeof link, "%s/link.png", dir);
    CHECK(symlink("keep.png", link) == 0);
    CHECK_INT(same_key(path, link), 1);
    snprintf(p2, sizeof p2, "%s/.//other.png", dir);
    CHECK_INT(same_key(other, p2), 1);
    CHECK_INT(same_key(other, path), 0);
    CHECK_INT(same_key(other, link), 0);
    remove(link);
    remove(path);
    snprintf(p2, sizeof p2, "%s/keep.png.mismatch", dir);
    remove(p2);
    /* mkdir -p: twice is fine, parents made, a file in the way is named. */
    snprintf(p2, sizeof p2, "%s/a/b/c", dir);
    CHECK_INT(clconv__make_dirs(p2, 0, err), CLCONV_OK);
    CHECK_INT(clconv__make_dirs(p2, 0, err), CLCONV_OK);
    snprintf(p2, sizeof p2, "%s/a/b/c/x.png", dir);
    CHECK_INT(clconv__make_dirs(p2, 1, err), CLCONV_OK);
    CHECK_INT(dir_entries(dir), 1);
    {
        FILE *fp = fopen(other, "w");
        if (fp) fclose(fp);
    }
    snprintf(p2, sizeof p2, "%s/other.png/sub", dir);
    CHECK(clconv__make_dirs(p2, 0, err) != CLCONV_OK);
    CHECK_HAS(err, "other.png");
    remove(other);
    snprintf(p2, sizeof p2, "%s/a/b/c", dir);
    rmdir(p2);
    snprintf(p2, sizeof p2, "%s/a/b", dir);
    rmdir(p2);
    snprintf(p2, sizeof p2, "%s/a", dir);
    rmdir(p2);
}

static void test_outputs_and_verify(void)
{
    char dir[] = "/tmp/clconv-unit-out-XXXXXX";
    test_verify_nonfinite();
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        failures++;
        return;
    }
    test_writer_guards(dir);
    if (rmdir(dir) != 0) fprintf(stderr, "note: %s not empty\n", dir);
}

/* ------------------------------------------------------------ presets
 * (issue 13): scharr-*, prewitt-*, laplacian, laplacian8, log:N[:SIGMA].
 * Kept apart, at the end, so other sections merge cleanly. */

/* The taps of `spec` are exactly want[9] (3x3) and integers. */
static void check_taps3(const char *spec, const double want[9])
{
    char err[CLCONV_ERR_MAX] = "";
    clconv_filter *f = NULL;
    int i;
    CHECK_INT(clconv_filter_parse(spec, &f, err), CLCONV_OK);
    if (!f) {
        fprintf(stderr, "preset %s: %s\n", spec, err);
        return;
    }
    CHECK_INT(clconv_filter_width(f), 3);
    CHECK_INT(clconv_filter_height(f), 3);
    for (i = 0; i < 9; i++)
        if (clconv_filter_taps(f)[i] != want[i]) {
            fprintf(stderr, "preset %s: tap %d is %g, want %g\n", spec, i,
                    clconv_filter_taps(f)[i], want[i]);
            CHECK(0);
        }
    CHECK(clconv_filter_is_integer(f));
    clconv_filter_destroy(f);
}

static void test_presets_fixed13(void)
{
    static const struct { const char *name; double t[9]; } want[] = {
        {"scharr-left", {3, 0, -3, 10, 0, -10, 3, 0, -3}},
        {"scharr-right", {-3, 0, 3, -10, 0, 10, -3, 0, 3}},
        {"scharr-top", {3, 10, 3, 0, 0, 0, -3, -10, -3}},
        {"scharr-bottom", {-3, -10, -3, 0, 0, 0, 3, 10, 3}},
        {"prewitt-left", {1, 0, -1, 1, 0, -1, 1, 0, -1}},
        {"prewitt-right", {-1, 0, 1, -1, 0, 1, -1, 0, 1}},
        {"prewitt-top", {1, 1, 1, 0, 0, 0, -1, -1, -1}},
        {"prewitt-bottom", {-1, -1, -1, 0, 0, 0, 1, 1, 1}},
        {"laplacian", {0, 1, 0, 1, -4, 1, 0, 1, 0}},
        {"laplacian8", {1, 1, 1, 1, -8, 1, 1, 1, 1}},
        /* laplacian8 is outline negated; sobel-* keep their signs */
        {"outline", {-1, -1, -1, -1, 8, -1, -1, -1, -1}},
        {"sobel-right", {-1, 0, 1, -2, 0, 2, -1, 0, 1}},
    };
    size_t k;
    int i, listed;
    for (k = 0; k < sizeof want / sizeof want[0]; k++) {
        check_taps3(want[k].name, want[k].t);
        /* --list-filters (and Python's presets) see it */
        for (listed = 0, i = 0; clconv_preset_name(i); i++)
            if (strcmp(clconv_preset_name(i), want[k].name) == 0) listed = 1;
        if (!listed) fprintf(stderr, "preset %s not listed\n", want[k].name);
        CHECK(listed);
    }
    for (listed = 0, i = 0; clconv_preset_name(i); i++)
        if (strcmp(clconv_preset_name(i), "log:N[:SIGMA]") == 0)
            listed = clconv_preset_help(i) && strstr(clconv_preset_help(i), "log:5");
    CHECK(listed);
}

/* log:N[:SIGMA]: n x n, sums to 0, symmetric both ways and across the
 * diagonal (exactly), centre the most negative tap, corners positive. */
static void check_log(const char *spec, int n)
{
    char err[CLCONV_ERR_MAX] = "";
    clconv_filter *f = NULL;
    const double *t;
    double sum = 0;
    int i, j, c = (n - 1) / 2;
    CHECK_INT(clconv_filter_parse(spec, &f, err), CLCONV_OK);
    if (!f) {
        fprintf(stderr, "%s: %s\n", spec, err);
        return;
    }
    CHECK_INT(clconv_filter_width(f), n);
    CHECK_INT(clconv_filter_height(f), n);
    t = clconv_filter_taps(f);
    for (i = 0; i < n * n; i++) sum += t[i];
    if (fabs(sum) > 1e-12) fprintf(stderr, "%s sums to %g\n", spec, sum);
    CHECK(fabs(sum) <= 1e-12);
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            CHECK(t[i * n + j] == t[j * n + i]);
            CHECK(t[i * n + j] == t[(n - 1 - i) * n + j]);
            CHECK(t[i * n + j] == t[i * n + (n - 1 - j)]);
            CHECK(t[i * n + j] >= t[c * n + c]);
        }
    CHECK(t[c * n + c] < 0);
    CHECK(t[0] > 0);
    CHECK(!clconv_filter_is_integer(f));
    clconv_filter_destroy(f);
}

static void test_presets_log(void)
{
    /* MATLAB's documented fspecial('log') (5x5, sigma 0.5), to its 4 digits */
    static const double matlab[25] = {
        0.0448, 0.0468, 0.0564, 0.0468, 0.0448,
        0.0468, 0.3167, 0.7146, 0.3167, 0.0468,
        0.0564, 0.7146, -4.9048, 0.7146, 0.0564,
        0.0468, 0.3167, 0.7146, 0.3167, 0.0468,
        0.0448, 0.0468, 0.0564, 0.0468, 0.0448};
    char err[CLCONV_ERR_MAX] = "";
    clconv_filter *f = NULL, *g = NULL;
    int i;
    check_log("log:3", 3);
    check_log("log:5", 5);
    check_log("log:9", 9);
    check_log("log:31", 31);
    check_log("log:5:0.5", 5);
    check_log("log:7:3", 7);
    check_log("log:255", 255);
    check_log("log:3:1e-7", 3);
    CHECK_INT(clconv_filter_parse("log:5:0.5", &f, err), CLCONV_OK);
    for (i = 0; f && i < 25; i++)
        CHECK_FLOAT(clconv_filter_taps(f)[i], matlab[i], 5e-5);
    clconv_filter_destroy(f);
    /* Without SIGMA: gaussian:N's default 0.3*((N-1)/2-1)+0.8 (1.1 at N=5,
     * 2.6 at N=15); a given SIGMA changes the taps. */
    CHECK_INT(clconv_filter_parse("log:5", &f, err), CLCONV_OK);
    CHECK_INT(clconv_filter_parse("log:5:1.1", &g, err), CLCONV_OK);
    for (i = 0; f && g && i < 25; i++)
        CHECK_FLOAT(clconv_filter_taps(f)[i], clconv_filter_taps(g)[i], 1e-12);
    clconv_filter_destroy(g);
    CHECK_INT(clconv_filter_parse("log:5:2", &g, err), CLCONV_OK);
    if (f && g) CHECK(fabs(clconv_filter_taps(f)[12] - clconv_filter_taps(g)[12]) > 1e-3);
    clconv_filter_destroy(f);
    clconv_filter_destroy(g);
    CHECK_INT(clconv_filter_parse("log:15", &f, err), CLCONV_OK);
    CHECK_INT(clconv_filter_parse("log:15:2.6", &g, err), CLCONV_OK);
    for (i = 0; f && g && i < 225; i++)
        CHECK_FLOAT(clconv_filter_taps(f)[i], clconv_filter_taps(g)[i], 1e-12);
    clconv_filter_destroy(f);
    clconv_filter_destroy(g);
}

/* Bad specs of the new presets: refused, no filter, one line naming the
 * spec and what is wrong. */
static void test_presets_bad13(void)
{
    static const struct { const char *spec, *says; } bad[] = {
        {"log:4", "odd"}, {"log:2", "odd"}, {"log:1", "odd"},
        {"log:0", "odd"}, {"log:-3", "odd"}, {"log:256", "odd"},
        {"log:257", "255"}, {"log:", "N must"}, {"log:5x", "N must"},
        {"log:3:0", "SIGMA"}, {"log:3:-1", "SIGMA"}, {"log:3:abc", "SIGMA"},
        {"log:3:", "SIGMA"}, {"log:3:nan", "SIGMA"}, {"log:3:inf", "SIGMA"},
        {"log:5:1:2", "SIGMA"}, {"log:3:1e-20", "too small"},
        {"log:3:1e100", "too large"}, {"log:3:1e200", "too large"},
        {"log", "unknown filter"}, {"scharr", "unknown filter"},
        {"prewitt-up", "unknown filter"}, {"laplacian4", "unknown filter"},
        {"Laplacian", "unknown filter"},
    };
    size_t k;
    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char err[CLCONV_ERR_MAX] = "";
        clconv_filter *b = (clconv_filter *)err; /* must be reset */
        clconv_status st = clconv_filter_parse(bad[k].spec, &b, err);
        if (st != CLCONV_E_FILTER)
            fprintf(stderr, "bad spec '%s' gave status %d\n", bad[k].spec, st);
        CHECK_INT(st, CLCONV_E_FILTER);
        CHECK(b == NULL);
        if (st == CLCONV_OK) clconv_filter_destroy(b);
        CHECK_HAS(err, bad[k].spec);
        CHECK_HAS(err, bad[k].says);
        CHECK(strchr(err, '\n') == NULL);
    }
}

static void test_presets_issue13(void)
{
    test_presets_fixed13();
    test_presets_log();
    test_presets_bad13();
}
