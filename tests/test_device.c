/* test_device.c — the OpenCL path against the CPU reference (the oracle), in
 * the manner of OpenCL-CTS and CLBlast's tester: random inputs from a printed
 * seed (CLCONV_TEST_SEED overrides it), a NaN-poisoned output, edge sizes and
 * every border, padding, stride and dilation; integer filters on 8-bit input
 * must agree bit for bit. Every kernel variant (CLCONV_KERNEL=naive, tiled,
 * separable, local, fft, and the host's own choice) and both transfer modes
 * (CLCONV_ZERO_COPY) are run; also banding, the fault switches and the
 * fallback through clconv_process_file.
 * Exits 77 (skipped) without a device, unless CLCONV_REQUIRE_DEVICE=1.
 */
#define _POSIX_C_SOURCE 200809L
#include "clconv.h"
#include "core/core.h" /* the case generator */
#include "cl/cl.h"     /* the device's tuning table (tuned_shapes) */

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stb_image_write.h>

#define SKIP 77
/* Past this many failing cases, only count them. */
#define MAX_REPORTS 10

static uint64_t rng;
/* CLCONV_TEST_REDUCED=1: a tenth of the random cases (for Oclgrind, which
 * simulates every work-item); every variant, border mode, band, stride and
 * dilation case of the fixed lists still runs. */
static int reduced;
/* CLCONV_TEST_NO_BUILD_FAULTS=1: leave out the deliberately broken kernel
 * builds, which Oclgrind's --check-api rightly reports as API errors. */
static int no_build_faults;
#define SCALE(n) (reduced ? ((n) + 9) / 10 : (n))
static int failures, cases_run, cases_exact, cases_refused;

/* One line per finished section, with its wall time: Oclgrind runs are
 * long, and their logs should say where the time went. */
/* CLCONV_TEST_VARIANTS=auto,tiled,...: only these variants' loops (all by
 * default), to look at one of them on a slow implementation. */
static int variant_selected(const char *v)
{
    const char *sel = getenv("CLCONV_TEST_VARIANTS"), *p;
    const char *name = v ? v : "auto";
    const size_t n = strlen(name);
    if (!sel || !*sel) return 1;
    for (p = sel; (p = strstr(p, name)) != NULL; p += n)
        if ((p == sel || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return 1;
    return 0;
}

static time_t section_last;
static void section_start(void) { section_last = time(NULL); }
static void section(const char *name)
{
    const time_t now = time(NULL);
    printf("test_device: %s done (%d cases so far, %ld s)\n", name, cases_run,
           (long)(now - section_last));
    fflush(stdout);
    section_last = now;
}

/* splitmix64: small, seedable, good enough for test inputs. */
/* The generator and the inputs are the library's (host/core/cases.c), the
 * ones clconv --self-test uses. */
static int rnd_int(int lo, int hi) { return clconv__rnd_int(&rng, lo, hi); }
static double rnd_unit(void) { return clconv__rnd_unit(&rng); }

static void fail_msg(const char *fmt, const char *arg)
{
    failures++;
    fprintf(stderr, "FAILED: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
}

/* ------------------------------------------------------------ one case */

typedef struct tcase {
    int w, h, kw, kh;
    clconv_padding padding;
    int pad_width;
    clconv_border border;
    float cval;
    int stride, dilation;
    int int_image;   /* 8-bit integer values, else floats */
    int int_filter;  /* integer taps, else non-integer */
    int rank1;       /* taps an outer product u v^T (the separable path) */
    int taps_global; /* force the __global-taps kernel */
    int band_rows;   /* 0: no cap */
} tcase;

static const char *padding_name(clconv_padding p)
{
    return p == CLCONV_PAD_SAME ? "same" : p == CLCONV_PAD_VALID ? "valid"
                                                                 : "explicit";
}

static void describe(const tcase *c, char *buf, size_t n)
{
    char pad[32];
    if (c->padding == CLCONV_PAD_EXPLICIT)
        snprintf(pad, sizeof pad, "explicit %d", c->pad_width);
    else
        snprintf(pad, sizeof pad, "%s", padding_name(c->padding));
    snprintf(buf, n,
             "image %dx%d (%s), filter %dx%d (%s taps), padding %s, border %s "
             "(cval %g), stride %d, dilation %d, taps %s, band_rows %d, "
             "CLCONV_KERNEL=%s, CLCONV_ZERO_COPY=%s",
             c->w, c->h, c->int_image ? "8-bit" : "float", c->kw, c->kh,
             c->int_filter ? (c->rank1 ? "integer rank-1" : "integer")
                           : (c->rank1 ? "non-integer rank-1" : "non-integer"),
             pad, clconv_border_name(c->border), c->cval, c->stride,
             c->dilation, c->taps_global ? "taps-global" : "default",
             c->band_rows, getenv("CLCONV_KERNEL") ? getenv("CLCONV_KERNEL") : "(unset)",
             getenv("CLCONV_ZERO_COPY") ? getenv("CLCONV_ZERO_COPY") : "(unset)");
}

/* The expected geometry outcome, from DESIGN.md alone: valid and explicit
 * need n + 2*pad >= k_eff on both axes; same always has an output. */
static int expect_output(const tcase *c)
{
    long long pad = c->padding == CLCONV_PAD_EXPLICIT ? c->pad_width : 0;
    long long kew = (long long)c->dilation * (c->kw - 1) + 1;
    long long keh = (long long)c->dilation * (c->kh - 1) + 1;
    if (c->padding == CLCONV_PAD_SAME) return 1;
    return c->w + 2 * pad >= kew && c->h + 2 * pad >= keh;
}

static clconv_filter *random_filter(int kh, int kw, int integer, int rank1)
{
    char err[CLCONV_ERR_MAX] = "";
    clconv_filter *f = clconv__case_filter(&rng, kh, kw, integer, rank1, err);
    if (!f) fprintf(stderr, "filter_create: %s\n", err);
    return f;
}

static void random_image(clconv_plane *p, int integer)
{
    clconv__case_image(&rng, p, integer);
}

/* Bit-exactness holds for integer taps on integer samples whenever every
 * partial sum stays below 2^24 (DESIGN.md §2). Decided from the padded
 * plane, so a non-integer cval correctly rules it out. */
static int exact_expected(const clconv_plane *padded, const clconv_filter *f,
                          int int_image)
{
    size_t i, n = (size_t)padded->width * (size_t)padded->height;
    double maxp = 0, sumk = 0;
    const double *t = clconv_filter_taps(f);
    int k, nt = clconv_filter_width(f) * clconv_filter_height(f);
    if (!int_image || !clconv_filter_is_integer(f)) return 0;
    for (i = 0; i < n; i++) {
        double v = padded->data[i];
        if (v != floor(v)) return 0;
        if (fabs(v) > maxp) maxp = fabs(v);
    }
    for (k = 0; k < nt; k++) sumk += fabs(t[k]);
    return sumk * maxp < 16777216.0;
}

/* Runs clconv_conv_cl_image on img (as floats, then as bytes when it is
 * 8-bit) and checks each result equals `want` bit for bit, from the same
 * kernel, with the border read on the device (but for local). */
static int same_from_source(clconv_cl *cl, const tcase *c, const clconv_plane *img,
                            const clconv_params *prm, const clconv_filter *f,
                            const clconv_geometry *g, const clconv_plane *want,
                            const clconv_cl_timing *want_tm, const char *desc)
{
    clconv_plane got = {0, 0, NULL};
    clconv_image8 img8 = {img->width, img->height, NULL};
    char err[CLCONV_ERR_MAX] = "";
    const size_t n = (size_t)g->out_w * (size_t)g->out_h;
    const size_t npx = (size_t)img->width * (size_t)img->height;
    int ok = 1, pass, passes = 1;
    size_t i;

    if (c->int_image) {
        img8.data = malloc(npx);
        if (!img8.data) {
            fail_msg("setup failed: %s", desc);
            return 0;
        }
        for (i = 0; i < npx; i++) img8.data[i] = (unsigned char)img->data[i];
        passes = 2;
    }
    if (clconv_plane_alloc(&got, g->out_w, g->out_h) != CLCONV_OK) {
        fail_msg("setup failed: %s", desc);
        free(img8.data);
        return 0;
    }
    for (pass = 0; pass < passes && ok; pass++) {
        clconv_cl_timing tm = {0, 0, 0, -1, NULL, NULL, 0, 0};
        clconv_status st;
        /* local (forced only) has no border-reading form: host pad. */
        const int expect_dev = strcmp(want_tm->kernel, "local") != 0;
        long long bad = 0;
        long first = -1;
        for (i = 0; i < n; i++) got.data[i] = NAN;
        clconv_cl_set_band_rows(cl, c->band_rows);
        if (c->taps_global) setenv("CLCONV_FAULT", "taps-global", 1);
        st = clconv_conv_cl_image(cl, pass ? NULL : img, pass ? &img8 : NULL,
                                  prm, f, g, &got, &tm, err);
        if (c->taps_global) unsetenv("CLCONV_FAULT");
        clconv_cl_set_band_rows(cl, 0);
        if (st != CLCONV_OK) {
            failures++;
            fprintf(stderr, "FAILED: %s\n  clconv_conv_cl_image (%s source): %s (%s)\n",
                    desc, pass ? "8-bit" : "float", clconv_status_str(st), err);
            ok = 0;
            break;
        }
        for (i = 0; i < n; i++)
            if (memcmp(&got.data[i], &want->data[i], sizeof(float)) != 0) {
                if (first < 0) first = (long)i;
                bad++;
            }
        if (bad || !tm.pad || strcmp(tm.pad, expect_dev ? "device" : "host") != 0 ||
            strcmp(tm.kernel, want_tm->kernel) != 0) {
            failures++;
            ok = 0;
            if (failures <= MAX_REPORTS) {
                fprintf(stderr, "FAILED: %s\n  from the unpadded %s source: %lld "
                        "pixels differ from the padded path; pad on %s (want %s), "
                        "kernel %s (want %s)\n", desc, pass ? "8-bit" : "float",
                        bad, tm.pad ? tm.pad : "(null)", expect_dev ? "device" : "host",
                        tm.kernel ? tm.kernel : "(null)", want_tm->kernel);
                if (first >= 0)
                    fprintf(stderr, "  first at (x=%ld, y=%ld): padded path %.9g, "
                            "unpadded %.9g\n", first % g->out_w, first / g->out_w,
                            want->data[first], got.data[first]);
            }
        }
    }
    clconv_plane_free(&got);
    free(img8.data);
    return ok;
}

/* Runs one case on random inputs. Returns 1 when it passed.
 * When `keep` is not NULL it receives the device output (caller frees). */
static int run_case(clconv_cl *cl, const tcase *c, clconv_plane *keep,
                    clconv_cl_timing *tm_out)
{
    char desc[512], err[CLCONV_ERR_MAX] = "";
    clconv_plane img = {0, 0, NULL}, padded = {0, 0, NULL}, dev = {0, 0, NULL},
                 ref = {0, 0, NULL}, asum = {0, 0, NULL};
    clconv_filter *f = NULL;
    clconv_params prm;
    clconv_geometry g;
    clconv_verify_result vr;
    clconv_cl_timing tm = {0, 0, 0, -1, NULL, NULL, 0, 0};
    clconv_status st;
    int ok = 0, exact, taps;
    size_t i, n;
    long long bad = 0;
    long first = -1;

    describe(c, desc, sizeof desc);
    cases_run++;
    if (getenv("CLCONV_TEST_VERBOSE")) {
        /* Before the case: a report from Oclgrind then follows its line. */
        printf("case %d: %s\n", cases_run, desc);
        fflush(stdout);
    }
    f = random_filter(c->kh, c->kw, c->int_filter, c->rank1);
    if (!f || clconv_plane_alloc(&img, c->w, c->h) != CLCONV_OK) {
        fail_msg("setup failed: %s", desc);
        goto done;
    }
    random_image(&img, c->int_image);
    clconv_params_init(&prm);
    prm.padding = c->padding;
    prm.pad_width = c->pad_width;
    prm.border = c->border;
    prm.cval = c->cval;
    prm.stride = c->stride;
    prm.dilation = c->dilation;
    st = clconv_geometry_compute(c->w, c->h, clconv_filter_width(f),
                                 clconv_filter_height(f), &prm, &g, err);
    if (!expect_output(c)) {
        if (st != CLCONV_E_GEOMETRY) {
            failures++;
            fprintf(stderr, "FAILED: %s\n  geometry gave status %d (%s), "
                    "expected CLCONV_E_GEOMETRY\n", desc, st, err);
            goto done;
        }
        cases_refused++;
        ok = 1;
        goto done;
    }
    if (st != CLCONV_OK) {
        failures++;
        fprintf(stderr, "FAILED: %s\n  geometry: %s\n", desc, err);
        goto done;
    }
    if (clconv_pad(&img, &g, &prm, &padded, err) != CLCONV_OK ||
        clconv_plane_alloc(&dev, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&ref, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&asum, g.out_w, g.out_h) != CLCONV_OK) {
        failures++;
        fprintf(stderr, "FAILED: %s\n  pad/alloc: %s\n", desc, err);
        goto done;
    }
    n = (size_t)g.out_w * (size_t)g.out_h;
    /* Poison: a pixel the device never writes stays NaN and fails. */
    for (i = 0; i < n; i++) dev.data[i] = NAN;

    clconv_cl_set_band_rows(cl, c->band_rows);
    if (c->taps_global) setenv("CLCONV_FAULT", "taps-global", 1);
    st = clconv_conv_cl(cl, &padded, f, &g, &dev, &tm, err);
    if (c->taps_global) unsetenv("CLCONV_FAULT");
    clconv_cl_set_band_rows(cl, 0);
    if (st != CLCONV_OK) {
        failures++;
        fprintf(stderr, "FAILED: %s\n  clconv_conv_cl: %s (%s)\n", desc,
                clconv_status_str(st), err);
        goto done;
    }
    if (tm.bands < 1) {
        failures++;
        fprintf(stderr, "FAILED: %s\n  timing.bands = %d\n", desc, tm.bands);
        goto done;
    }
    st = clconv_conv_ref(&padded, f, &g, &ref, &asum);
    if (st != CLCONV_OK) {
        failures++;
        fprintf(stderr, "FAILED: %s\n  clconv_conv_ref: %s\n", desc,
                clconv_status_str(st));
        goto done;
    }
    taps = g.kw * g.kh;
    clconv_verify(&dev, &ref, &asum, taps, &vr);
    exact = exact_expected(&padded, f, c->int_image);
    cases_exact += exact;

    /* Our own scan, so the report names the first bad pixel, not the worst,
     * and so a verify that wrongly says 0 is caught too. */
    for (i = 0; i < n; i++) {
        double a = dev.data[i], b = ref.data[i];
        double tol = 4.0 * taps * FLT_EPSILON * asum.data[i] + FLT_MIN;
        int is_bad = exact ? memcmp(&dev.data[i], &ref.data[i], sizeof(float)) != 0
                           : !(fabs(a - b) <= tol);
        if (is_bad) {
            if (first < 0) first = (long)i;
            bad++;
        }
    }
    if (bad == 0 && vr.bad == 0) {
        ok = 1;
    } else {
        failures++;
        if (failures <= MAX_REPORTS) {
            fprintf(stderr, "FAILED: %s\n  geometry: out %dx%d, padded %dx%d, pads "
                    "t%d b%d l%d r%d; %s comparison\n",
                    desc, g.out_w, g.out_h, g.padded_w, g.padded_h, g.pad_top,
                    g.pad_bottom, g.pad_left, g.pad_right,
                    exact ? "bit-exact" : "tolerance");
            if (first >= 0) {
                double tol = 4.0 * taps * FLT_EPSILON * asum.data[first] + FLT_MIN;
                fprintf(stderr, "  first bad pixel (x=%ld, y=%ld): expected %.9g "
                        "(%a), got %.9g (%a), tolerance %.9g%s\n",
                        first % g.out_w, first / g.out_w, ref.data[first],
                        ref.data[first], dev.data[first], dev.data[first],
                        exact ? 0.0 : tol, exact ? " (bit-exact required)" : "");
            }
            fprintf(stderr, "  bad pixels: %lld of %zu (clconv_verify: %lld, "
                    "max abs err %.9g)\n", bad > vr.bad ? bad : vr.bad, n,
                    vr.bad, vr.max_abs_err);
        }
    }
    /* The same call from the unpadded image (border read on the device),
     * from floats and, for 8-bit images, from bytes: bit for bit the padded
     * path's result, with the same bands and taps placement. */
    if (ok && !same_from_source(cl, c, &img, &prm, f, &g, &dev, &tm, desc))
        ok = 0;
    if (keep) {
        *keep = dev;
        dev.data = NULL;
    }
    if (tm_out) *tm_out = tm;
done:
    clconv_filter_destroy(f);
    clconv_plane_free(&img);
    clconv_plane_free(&padded);
    clconv_plane_free(&dev);
    clconv_plane_free(&ref);
    clconv_plane_free(&asum);
    return ok;
}

static tcase base_case(int w, int h, int kw, int kh)
{
    tcase c;
    memset(&c, 0, sizeof c);
    c.w = w;
    c.h = h;
    c.kw = kw;
    c.kh = kh;
    c.padding = CLCONV_PAD_SAME;
    c.border = CLCONV_BORDER_CONSTANT;
    c.stride = 1;
    c.dilation = 1;
    c.int_image = 1;
    c.int_filter = 1;
    return c;
}

/* Runs c as 8-bit/integer, then float/non-integer; under the separable
 * variant with rank-1 taps, so that path is really taken. */
static int rank1_wanted;
static void run_both(clconv_cl *cl, tcase c)
{
    c.rank1 = rank1_wanted;
    c.int_image = c.int_filter = 1;
    run_case(cl, &c, NULL, NULL);
    c.int_image = c.int_filter = 0;
    run_case(cl, &c, NULL, NULL);
}

/* ------------------------------------------------------------ suites */

static void edge_cases(clconv_cl *cl)
{
    static const int sizes[][2] = {{1, 1},   {1, 97}, {89, 1},  {97, 89},
                                   {257, 3}, {3, 257}, {17, 33}, {15, 16},
                                   {16, 16}, {31, 2},  {2, 31}};
    size_t s;
    int b, p;
    tcase c;

    /* Edge sizes under sharpen-sized, even and rectangular filters. */
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        if (reduced && s % 3 != 0) continue; /* 1x1, 97x89, 17x33, 31x2 */
        c = base_case(sizes[s][0], sizes[s][1], 3, 3);
        run_both(cl, c);
        c.kw = 4;
        c.kh = 2;
        c.border = CLCONV_BORDER_REFLECT;
        run_both(cl, c);
        c.kw = 1;
        c.kh = 5;
        c.border = CLCONV_BORDER_WRAP;
        c.stride = 2;
        run_both(cl, c);
        c = base_case(sizes[s][0], sizes[s][1], 1, 1);
        c.padding = CLCONV_PAD_VALID;
        run_both(cl, c);
    }

    /* Every border x every padding, constant with a nonzero cval (integer:
     * still bit-exact; fractional: tolerance). */
    for (b = 0; b <= CLCONV_BORDER_WRAP; b++)
        for (p = 0; p <= CLCONV_PAD_EXPLICIT; p++) {
            c = base_case(rnd_int(5, 40), rnd_int(5, 40), rnd_int(1, 6),
                          rnd_int(1, 6));
            c.border = (clconv_border)b;
            c.padding = (clconv_padding)p;
            c.pad_width = rnd_int(0, 4);
            c.cval = b == CLCONV_BORDER_CONSTANT ? 37.0f : 0.0f;
            run_both(cl, c);
            c.cval = b == CLCONV_BORDER_CONSTANT ? -2.75f : 0.0f;
            c.stride = rnd_int(1, 3);
            c.dilation = rnd_int(1, 3);
            run_both(cl, c);
        }

    /* Explicit pads wider than the image, every border. */
    for (b = 0; b <= CLCONV_BORDER_WRAP; b++) {
        c = base_case(3, 2, 3, 3);
        c.padding = CLCONV_PAD_EXPLICIT;
        c.pad_width = 7;
        c.border = (clconv_border)b;
        c.cval = 5.0f;
        run_both(cl, c);
        c.stride = 2;
        c.dilation = 3;
        c.w = 1;
        c.h = 1;
        run_both(cl, c);
    }

    /* Filters larger than the image under same, every border. */
    for (b = 0; b <= CLCONV_BORDER_WRAP; b++) {
        c = base_case(5, 4, 9, 7);
        c.border = (clconv_border)b;
        run_both(cl, c);
        c = base_case(1, 1, 5, 5);
        c.border = (clconv_border)b;
        run_both(cl, c);
        c = base_case(2, 3, 8, 8);
        c.border = (clconv_border)b;
        c.dilation = 2;
        run_both(cl, c);
    }

    /* Stride x dilation grid. */
    for (p = 1; p <= 3; p++)
        for (b = 1; b <= 3; b++) {
            c = base_case(31, 29, 3, 4);
            c.stride = p;
            c.dilation = b;
            c.border = (clconv_border)((p + b) % 5);
            run_both(cl, c);
            c.padding = CLCONV_PAD_VALID;
            run_both(cl, c);
        }

    /* A 63x63 filter, in __constant and forced to __global. 8-bit input,
     * taps in -4..4: sum|K|*255 <= 3969*4*255 < 2^24, so still bit-exact. */
    c = base_case(41, 37, 63, 63);
    run_both(cl, c);
    if (reduced) return;
    c.taps_global = 1;
    run_both(cl, c);
    c.border = CLCONV_BORDER_SYMMETRIC;
    c.stride = 2;
    run_both(cl, c);

    /* A few larger planes: many work-groups, partial tiles on two edges. */
    c = base_case(301, 211, 5, 5);
    run_both(cl, c);
    c = base_case(127, 259, 8, 3);
    c.border = CLCONV_BORDER_WRAP;
    c.dilation = 2;
    run_both(cl, c);
}

static void random_cases(clconv_cl *cl, int count)
{
    static const int sizes[] = {1, 2, 3, 5, 7, 13, 16, 17, 31, 32, 33, 64, 65, 97};
    int i;
    for (i = 0; i < SCALE(count); i++) {
        tcase c;
        int r;
        memset(&c, 0, sizeof c);
        c.w = rnd_int(0, 2) ? sizes[rnd_int(0, 13)] : rnd_int(1, 80);
        c.h = rnd_int(0, 2) ? sizes[rnd_int(0, 13)] : rnd_int(1, 80);
        c.kw = rnd_int(0, 5) ? rnd_int(1, 7) : rnd_int(8, 15);
        c.kh = rnd_int(0, 5) ? rnd_int(1, 7) : rnd_int(8, 15);
        r = rnd_int(0, 3);
        c.padding = r < 2 ? CLCONV_PAD_SAME : r == 2 ? CLCONV_PAD_VALID
                                                      : CLCONV_PAD_EXPLICIT;
        c.pad_width = rnd_int(0, 3) ? rnd_int(0, 4) : rnd_int(5, 40);
        c.border = (clconv_border)rnd_int(0, 4);
        r = rnd_int(0, 2);
        c.cval = r == 0 ? 0.0f : r == 1 ? (float)rnd_int(-300, 300)
                                        : (float)(rnd_unit() * 100 - 50);
        c.stride = rnd_int(1, 3);
        c.dilation = rnd_int(1, 3);
        c.int_image = rnd_int(0, 1);
        c.int_filter = rnd_int(0, 1);
        c.rank1 = rnd_int(0, 2) < (rank1_wanted ? 2 : 1);
        c.taps_global = rnd_int(0, 4) == 0;
        c.band_rows = rnd_int(0, 5) == 0 ? rnd_int(1, 9) : 0;
        run_case(cl, &c, NULL, NULL);
    }
}

/* Band sizes 1, 2 and 7 must give the unbanded result bit for bit, and
 * really split the work. */
static void banding(clconv_cl *cl)
{
    tcase cs[6];
    static const int rows[] = {1, 2, 7};
    size_t k, r;
    cs[0] = base_case(37, 29, 3, 3);
    cs[1] = base_case(40, 33, 5, 4);
    cs[1].stride = 2;
    cs[1].border = CLCONV_BORDER_REFLECT;
    cs[2] = base_case(23, 31, 3, 5);
    cs[2].dilation = 2;
    cs[2].border = CLCONV_BORDER_WRAP;
    cs[3] = base_case(45, 50, 4, 3);
    cs[3].stride = 2;
    cs[3].dilation = 2;
    cs[3].padding = CLCONV_PAD_VALID;
    cs[3].int_image = cs[3].int_filter = 0;
    cs[4] = base_case(30, 26, 7, 7);
    cs[4].stride = 3;
    cs[4].padding = CLCONV_PAD_EXPLICIT;
    cs[4].pad_width = 2;
    cs[4].border = CLCONV_BORDER_SYMMETRIC;
    cs[4].int_image = 0;
    /* Rank-1 7x7 (49 taps): the separable path by default at stride 1. */
    cs[5] = base_case(39, 35, 7, 7);
    cs[5].rank1 = 1;
    cs[5].border = CLCONV_BORDER_EDGE;
    for (k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        /* The same random inputs for every band size: reseed each run. */
        uint64_t saved = rng;
        clconv_plane base = {0, 0, NULL};
        clconv_cl_timing tm;
        char desc[512];
        describe(&cs[k], desc, sizeof desc);
        if (!run_case(cl, &cs[k], &base, &tm) || !base.data) continue;
        if (tm.bands != 1) {
            failures++;
            fprintf(stderr, "FAILED: %s\n  unbanded run used %d bands\n", desc,
                    tm.bands);
        }
        for (r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            tcase c = cs[k];
            clconv_plane out = {0, 0, NULL};
            int want_bands = (base.height + rows[r] - 1) / rows[r];
            uint64_t after = rng;
            c.band_rows = rows[r];
            rng = saved;
            run_case(cl, &c, &out, &tm);
            rng = after;
            describe(&c, desc, sizeof desc);
            if (!out.data) continue;
            if (tm.bands != want_bands || tm.bands < 2) {
                failures++;
                fprintf(stderr, "FAILED: %s\n  %d bands, expected %d (%d output "
                        "rows)\n", desc, tm.bands, want_bands, base.height);
            }
            if (out.width != base.width || out.height != base.height ||
                memcmp(out.data, base.data,
                       sizeof(float) * (size_t)base.width * (size_t)base.height)) {
                size_t i, n = (size_t)base.width * (size_t)base.height;
                failures++;
                for (i = 0; i < n && out.data[i] == base.data[i]; i++) continue;
                fprintf(stderr, "FAILED: %s\n  banded result differs from "
                        "unbanded at (x=%zu, y=%zu): %.9g (%a) vs %.9g (%a)\n",
                        desc, i % (size_t)base.width, i / (size_t)base.width,
                        out.data[i], out.data[i], base.data[i], base.data[i]);
            }
            clconv_plane_free(&out);
        }
        clconv_plane_free(&base);
    }
}

static void set_env(const char *name, const char *value)
{
    if (value) setenv(name, value, 1);
    else unsetenv(name);
}

/* Runs the same case (same random inputs) with `name` set to a, then to b,
 * and requires the two device results to be identical bit for bit. */
static void compare_env(clconv_cl *cl, const tcase *c, const char *name,
                        const char *a, const char *b)
{
    uint64_t saved = rng;
    clconv_plane pa = {0, 0, NULL}, pb = {0, 0, NULL};
    char desc[512];
    set_env(name, a);
    run_case(cl, c, &pa, NULL);
    rng = saved;
    set_env(name, b);
    run_case(cl, c, &pb, NULL);
    describe(c, desc, sizeof desc);
    unsetenv(name);
    if (pa.data && pb.data) {
        size_t i, n = (size_t)pa.width * (size_t)pa.height;
        for (i = 0; i < n; i++)
            if (memcmp(&pa.data[i], &pb.data[i], sizeof(float))) break;
        if (i < n) {
            failures++;
            fprintf(stderr, "FAILED: %s\n  %s=%s and %s=%s differ at (x=%zu, "
                    "y=%zu): %.9g (%a) vs %.9g (%a)\n", desc, name, a, name, b,
                    i % (size_t)pa.width, i / (size_t)pa.width, pa.data[i],
                    pa.data[i], pb.data[i], pb.data[i]);
        }
    }
    clconv_plane_free(&pa);
    clconv_plane_free(&pb);
}

/* kernels/conv2d.cl promises the tiled and local kernels add in the naive
 * kernel's order (bit-identical results); the transfer mode must not matter
 * either. */
static void consistency(clconv_cl *cl)
{
    int k;
    for (k = 0; k < SCALE(48); k++) {
        tcase c = base_case(rnd_int(1, 70), rnd_int(1, 40), rnd_int(1, 9),
                            rnd_int(1, 9));
        c.dilation = rnd_int(1, 3);
        c.border = (clconv_border)rnd_int(0, 4);
        c.int_image = c.int_filter = 0;
        c.taps_global = k % 3 == 0;
        c.band_rows = k % 5 == 2 ? rnd_int(1, 7) : 0;
        compare_env(cl, &c, "CLCONV_KERNEL", "naive", k % 2 ? "local" : "tiled");
    }
    for (k = 0; k < SCALE(16); k++) {
        tcase c = base_case(rnd_int(1, 70), rnd_int(1, 40), rnd_int(1, 9),
                            rnd_int(1, 9));
        c.stride = rnd_int(1, 3);
        c.dilation = rnd_int(1, 3);
        c.int_image = c.int_filter = 0;
        c.rank1 = k % 2;
        c.band_rows = k % 4 == 1 ? 3 : 0;
        compare_env(cl, &c, "CLCONV_ZERO_COPY", "0", "1");
    }
}

/* CLCONV_KERNEL=local runs the local kernel when its tile fits the device's
 * local memory, and the tiled kernel (never a failure) when it does not: a
 * 31x31 filter with a dilation whose halo alone, ((31-1)*d)^2 floats,
 * exceeds CL_DEVICE_LOCAL_MEM_SIZE whatever the work-group size. Both must
 * still match the reference (bit for bit: integer taps on 8-bit input). */
static void local_fallback(clconv_cl *cl)
{
    const unsigned long long lm = clconv_cl_info(cl)->local_mem;
    const int kw = 31;
    int d = 1, pass;
    while ((unsigned long long)((kw - 1) * d) * (unsigned long long)((kw - 1) * d) *
               sizeof(float) <= lm && d < 1000)
        d++;
    setenv("CLCONV_KERNEL", "local", 1);
    for (pass = 0; pass < 2; pass++) {
        /* pass 0: a 3x3 filter over 75x41, a 4.6 KiB tile that fits the
         * 32 KiB every full-profile device has; pass 1: the halo that does
         * not fit. */
        tcase c = pass == 0 ? base_case(75, 41, 3, 3) : base_case(7, 5, kw, kw);
        const char *want = pass == 0 ? "local" : "tiled";
        clconv_cl_timing tm = {0, 0, 0, 0, NULL, NULL, 0, 0};
        char desc[512];
        if (pass == 1) c.dilation = d;
        describe(&c, desc, sizeof desc);
        if (run_case(cl, &c, NULL, &tm) && (!tm.kernel || strcmp(tm.kernel, want))) {
            failures++;
            fprintf(stderr, "FAILED: %s\n  ran the %s kernel, expected %s (device "
                    "local memory %llu bytes)\n", desc, tm.kernel ? tm.kernel : "(none)",
                    want, lm);
        }
    }
    unsetenv("CLCONV_KERNEL");
}

/* The tile sizes and work-groups a tuning table may name (the -D options
 * of kernels/common.cl and local.cl, docs/kernels.md), each made auto's
 * choice through a one-entry table: every suite case of its class against
 * the reference, from the padded plane and both sources, and a check that
 * the variant really ran. Sizes that are not multiples of any tile, every
 * border, strides (which fall back), filters larger than the image. */
static void tuned_shapes(clconv_cl *cl)
{
    static const clconv__shape shapes[] = {
        {CLCONV__TILED, 8, 4, 64, 1},      {CLCONV__TILED, 16, 2, 64, 1},
        {CLCONV__TILED, 8, 2, 64, 1},      {CLCONV__TILED, 4, 4, 64, 1},
        {CLCONV__TILED, 4, 1, 16, 4},      {CLCONV__TILED, 16, 4, 16, 4},
        {CLCONV__TILED, 16, 4, 256, 1},    {CLCONV__NAIVE, 1, 1, 64, 1},
        {CLCONV__SEPARABLE, 8, 4, 64, 1},  {CLCONV__SEPARABLE, 16, 2, 64, 1},
        {CLCONV__SEPARABLE, 8, 2, 64, 1},  {CLCONV__SEPARABLE, 4, 1, 16, 4},
        {CLCONV__SEPARABLE, 16, 4, 16, 4}, {CLCONV__LOCAL, 2, 1, 16, 16},
        {CLCONV__LOCAL, 1, 1, 32, 8},      {CLCONV__LOCAL, 4, 1, 32, 8}};
    static clconv__tune_table t;
    clconv__tune_table *saved = cl->tune;
    size_t i;
    unsetenv("CLCONV_KERNEL");
    cl->tune = &t;
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const clconv__shape *sh = &shapes[i];
        const char *want = clconv__variant_name(sh->var);
        tcase c = base_case(75, 41, 3, 3);
        clconv_cl_timing tm = {0, 0, 0, 0, NULL, NULL, 0, 0};
        char desc[512];
        memset(&t, 0, sizeof t);
        t.n = 1;
        t.e[0].rank1 = sh->var == CLCONV__SEPARABLE;
        t.e[0].k = 3;
        t.e[0].side = 256;
        t.e[0].s = *sh;
        snprintf(t.e[0].name, sizeof t.e[0].name, "test");
        rank1_wanted = t.e[0].rank1;
        c.rank1 = rank1_wanted;
        describe(&c, desc, sizeof desc);
        if (run_case(cl, &c, NULL, &tm) && (!tm.kernel || strcmp(tm.kernel, want))) {
            failures++;
            fprintf(stderr, "FAILED: %s\n  a table entry for %s vec %d rows %d group "
                    "%dx%d ran the %s kernel\n", desc, want, sh->vec_w, sh->tile_rows,
                    sh->wg_x, sh->wg_y, tm.kernel ? tm.kernel : "(none)");
        }
        if (!reduced) edge_cases(cl);
        random_cases(cl, 40);
    }
    rank1_wanted = 0;
    cl->tune = saved;
    section("tuned tile sizes and work-groups");
}

/* ------------------------------------------------------------ fft */

/* Runs c and requires the kernel `want` ran ("fft", or for cases the FFT
 * path must refuse, anything else: want_fft 0). run_case checks the result
 * (bit-exact where expected) from the padded plane and, through
 * same_from_source, from the float and 8-bit sources with the same kernel. */
static void run_expect(clconv_cl *cl, const tcase *c, int want_fft)
{
    clconv_cl_timing tm = {0, 0, 0, 0, NULL, NULL, 0, 0};
    char desc[512];
    if (!run_case(cl, c, NULL, &tm)) return;
    if (!expect_output(c)) return;
    if (!tm.kernel || (strcmp(tm.kernel, "fft") == 0) != want_fft) {
        describe(c, desc, sizeof desc);
        failures++;
        fprintf(stderr, "FAILED: %s\n  kernel %s, expected %s\n", desc,
                tm.kernel ? tm.kernel : "(null)", want_fft ? "fft" : "not fft");
    }
}

/* Cases that really take the FFT path (by default for a big image, forced
 * for every shape) and must be bit-exact; cases it must refuse even when
 * forced (non-integer taps, fractional values, a cval outside 0..255,
 * stride 2, dilation 2), whose results must still pass. */
static void fft_cases(clconv_cl *cl)
{
    static const int shapes[][4] = {
        /* w, h, kw, kh */
        {64, 48, 21, 21},   {257, 131, 22, 40}, {131, 257, 40, 22},
        {1031, 1, 21, 21},  {1, 1031, 23, 25},  {5, 4, 31, 31},
        {50, 40, 24, 24},   {300, 200, 31, 31}, {140, 90, 63, 63},
        {17, 600, 21, 30},
    };
    const char *saved = getenv("CLCONV_KERNEL");
    char *keep = saved ? strdup(saved) : NULL;
    size_t s;
    int b;
    tcase c;
    /* By default: images big enough for the FFT to pay (700x600, 31x31:
     * one group of 12 blocks against 400M tap-multiplies), not a small one. */
    set_env("CLCONV_KERNEL", NULL);
    if (!reduced) {
        /* GPUs never take it unforced (host/cl/plan.c): the cost model
         * was measured on CPUs. Reduced: the tiled run a GPU makes of this
         * is hours on a simulator. */
        c = base_case(700, 600, 31, 31);
        c.cval = 17.0f;
        run_expect(cl, &c, !clconv_cl_info(cl)->is_gpu);
    }
    c = base_case(64, 48, 21, 21);
    run_expect(cl, &c, 0);
    /* Forced: every shape, border and source (reduced: the shapes with a
     * band, taps in __global, a filter larger than the image). */
    set_env("CLCONV_KERNEL", "fft");
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        if (reduced && s != 0 && s != 4 && s != 5 && s != 7) continue;
        c = base_case(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
        if (reduced) {
            /* The same cases on the smallest block (N = 128: at most 16
             * taps a side), a quarter of the simulated work. */
            c.w = c.w > 150 ? c.w / 2 : c.w;
            c.h = c.h > 150 ? c.h / 2 : c.h;
            c.kw = c.kw > 16 ? 15 : c.kw;
            c.kh = c.kh > 16 ? 13 : c.kh;
        }
        c.border = (clconv_border)(s % 5);
        c.cval = (s % 2) ? 17.0f : 0.0f;
        c.padding = s % 3 == 2 ? CLCONV_PAD_EXPLICIT : CLCONV_PAD_SAME;
        c.pad_width = (int)s * 3;
        c.taps_global = s == 4;
        c.band_rows = s == 7 ? 70 : 0; /* several bands, not block-aligned */
        run_expect(cl, &c, 1);
    }
    for (b = 0; b <= CLCONV_BORDER_WRAP; b++) {
        c = reduced ? base_case(97, 61, 15, 13) : base_case(97, 61, 25, 21);
        c.border = (clconv_border)b;
        c.cval = b == CLCONV_BORDER_CONSTANT ? 255.0f : 0.0f;
        run_expect(cl, &c, 1);
    }
    /* valid padding: no border at all */
    c = reduced ? base_case(60, 50, 15, 13) : base_case(120, 100, 33, 21);
    c.padding = CLCONV_PAD_VALID;
    run_expect(cl, &c, 1);
    /* Forced, but the FFT's rounding would not be exact: the default choice
     * runs and the result passes the tolerance. */
    c = base_case(80, 60, 21, 21);
    c.int_filter = 0;
    run_expect(cl, &c, 0);
    c = base_case(80, 60, 21, 21);
    c.int_image = 0;
    run_expect(cl, &c, 0);
    c = base_case(80, 60, 21, 21);
    c.cval = -3.0f;
    run_expect(cl, &c, 0);
    c = base_case(80, 60, 21, 21);
    c.cval = 2.5f;
    run_expect(cl, &c, 0);
    c = base_case(80, 60, 21, 21);
    c.stride = 2;
    run_expect(cl, &c, 0);
    c = base_case(80, 60, 21, 21);
    c.dilation = 2;
    run_expect(cl, &c, 0);
    /* Small filters: forced fft runs (and is exact), auto does not. */
    c = base_case(40, 30, 3, 3);
    run_expect(cl, &c, 1);
    set_env("CLCONV_KERNEL", NULL);
    run_expect(cl, &c, 0);
    /* Rank-1 filters keep the separable path by default. */
    c = base_case(90, 70, 21, 21);
    c.rank1 = 1;
    run_expect(cl, &c, 0);
    set_env("CLCONV_KERNEL", keep);
    free(keep);
}

/* The FFT program is built on first use: a build failure there is reported
 * with the error's name and log (CLCONV_FAULT=fft-build), and a later call
 * builds it; buffers that do not fit (fft-nomem) fall back to tiled. */
static void fft_faults(void)
{
    char err[CLCONV_ERR_MAX] = "";
    clconv_cl *cl = NULL;
    clconv_filter *f = NULL;
    clconv_plane img = {0, 0, NULL}, padded = {0, 0, NULL}, out = {0, 0, NULL};
    clconv_params prm;
    clconv_geometry g;
    clconv_cl_timing tm;
    clconv_status st;
    double taps[21 * 21];
    int i;

    for (i = 0; i < 21 * 21; i++) taps[i] = rnd_int(-4, 4);
    clconv_params_init(&prm);
    if (clconv_cl_open(-1, -1, &cl, NULL, 0, err) != CLCONV_OK ||
        clconv_filter_create(21, 21, taps, "fft", &f, err) != CLCONV_OK ||
        clconv_plane_alloc(&img, 40, 30) != CLCONV_OK ||
        (random_image(&img, 1), 0) ||
        clconv_geometry_compute(40, 30, 21, 21, &prm, &g, err) != CLCONV_OK ||
        clconv_pad(&img, &g, &prm, &padded, err) != CLCONV_OK ||
        clconv_plane_alloc(&out, g.out_w, g.out_h) != CLCONV_OK) {
        fail_msg("fft faults: setup failed: %s", err);
        goto done;
    }
    clconv_cl_set_kernel(cl, "fft");
    setenv("CLCONV_FAULT", "fft-build", 1);
    st = no_build_faults ? CLCONV_E_OPENCL
                         : clconv_conv_cl(cl, &padded, f, &g, &out, &tm, err);
    unsetenv("CLCONV_FAULT");
    if (!no_build_faults && (st != CLCONV_E_OPENCL || !strstr(err, "CL_BUILD_PROGRAM_FAILURE") ||
                             !strstr(err, "build log"))) {
        failures++;
        fprintf(stderr, "FAILED: fft-build: status %d (want %d), err '%s'\n", st,
                CLCONV_E_OPENCL, err);
    }
    st = clconv_conv_cl(cl, &padded, f, &g, &out, &tm, err);
    if (st != CLCONV_OK || !tm.kernel || strcmp(tm.kernel, "fft") != 0) {
        failures++;
        fprintf(stderr, "FAILED: fft after a failed build: status %d, kernel %s, "
                "err '%s'\n", st, tm.kernel ? tm.kernel : "(null)", err);
    }
    setenv("CLCONV_FAULT", "fft-nomem", 1);
    st = clconv_conv_cl(cl, &padded, f, &g, &out, &tm, err);
    unsetenv("CLCONV_FAULT");
    if (st != CLCONV_OK || !tm.kernel || strcmp(tm.kernel, "tiled") != 0) {
        failures++;
        fprintf(stderr, "FAILED: fft-nomem: status %d, kernel %s (want tiled), "
                "err '%s'\n", st, tm.kernel ? tm.kernel : "(null)", err);
    }
done:
    unsetenv("CLCONV_FAULT");
    clconv_cl_close(cl);
    clconv_filter_destroy(f);
    clconv_plane_free(&img);
    clconv_plane_free(&padded);
    clconv_plane_free(&out);
}

/* CLCONV_FAULT=perturb: one wrong pixel, which clconv_verify must find. */
static void perturb(clconv_cl *cl)
{
    clconv_plane img = {0, 0, NULL}, padded = {0, 0, NULL}, dev = {0, 0, NULL},
                 ref = {0, 0, NULL}, asum = {0, 0, NULL};
    clconv_filter *f = NULL;
    clconv_params prm;
    clconv_geometry g;
    clconv_verify_result vr;
    char err[CLCONV_ERR_MAX] = "";
    int pass;

    clconv_params_init(&prm);
    if (clconv_filter_parse("sharpen", &f, err) != CLCONV_OK ||
        clconv_plane_alloc(&img, 20, 17) != CLCONV_OK ||
        (random_image(&img, 1), 0) ||
        clconv_geometry_compute(20, 17, 3, 3, &prm, &g, err) != CLCONV_OK ||
        clconv_pad(&img, &g, &prm, &padded, err) != CLCONV_OK ||
        clconv_plane_alloc(&dev, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&ref, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&asum, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_conv_ref(&padded, f, &g, &ref, &asum) != CLCONV_OK) {
        fail_msg("perturb: setup failed: %s", err);
        goto done;
    }
    for (pass = 0; pass < 2; pass++) {
        clconv_status st;
        if (pass == 0) setenv("CLCONV_FAULT", "perturb", 1);
        st = clconv_conv_cl(cl, &padded, f, &g, &dev, NULL, err);
        unsetenv("CLCONV_FAULT");
        if (st != CLCONV_OK) {
            fail_msg("perturb: clconv_conv_cl: %s", err);
            goto done;
        }
        clconv_verify(&dev, &ref, &asum, 9, &vr);
        if (pass == 0 && (vr.bad != 1 || vr.worst_x != g.out_w / 2 ||
                          vr.worst_y != g.out_h / 2 || !(vr.max_abs_err >= 1))) {
            failures++;
            fprintf(stderr, "FAILED: CLCONV_FAULT=perturb: verify found %lld "
                    "bad, worst at (%d, %d), max err %g; expected 1 at (%d, %d)\n",
                    vr.bad, vr.worst_x, vr.worst_y, vr.max_abs_err, g.out_w / 2,
                    g.out_h / 2);
        }
        if (pass == 1 && (vr.bad != 0 || vr.max_abs_err != 0)) {
            failures++;
            fprintf(stderr, "FAILED: without the fault, verify found %lld bad "
                    "(max err %g) on a bit-exact case\n", vr.bad, vr.max_abs_err);
        }
    }
    /* Sizes that do not match the geometry are refused, not computed. */
    {
        clconv_plane wrong = {0, 0, NULL};
        if (clconv_plane_alloc(&wrong, g.out_w + 1, g.out_h) == CLCONV_OK &&
            clconv_conv_cl(cl, &padded, f, &g, &wrong, NULL, err) != CLCONV_E_INVALID)
            fail_msg("clconv_conv_cl accepted an output plane of the wrong "
                     "size%s", "");
        clconv_plane_free(&wrong);
    }
done:
    unsetenv("CLCONV_FAULT");
    clconv_filter_destroy(f);
    clconv_plane_free(&img);
    clconv_plane_free(&padded);
    clconv_plane_free(&dev);
    clconv_plane_free(&ref);
    clconv_plane_free(&asum);
}

/* ------------------------------------------------------------ pipeline */

/* The reference result of `input` through the job, mapped to 8 bits, for
 * comparing with what clconv_process_file wrote. */
static int expected_u8(const clconv_job *job, const char *input,
                       unsigned char **out8, int *w, int *h)
{
    clconv_plane img = {0, 0, NULL}, padded = {0, 0, NULL}, out = {0, 0, NULL};
    clconv_geometry g;
    char err[CLCONV_ERR_MAX];
    int ok = 0;
    *out8 = NULL;
    if (clconv_image_load(input, 0, &img, err) != CLCONV_OK ||
        clconv_geometry_compute(img.width, img.height,
                                clconv_filter_width(job->filter),
                                clconv_filter_height(job->filter), &job->params,
                                &g, err) != CLCONV_OK ||
        clconv_pad(&img, &g, &job->params, &padded, err) != CLCONV_OK ||
        clconv_plane_alloc(&out, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_conv_ref(&padded, job->filter, &g, &out, NULL) != CLCONV_OK ||
        !(*out8 = malloc((size_t)g.out_w * (size_t)g.out_h)))
        goto done;
    clconv_plane_to_u8(&out, job->map, *out8, NULL);
    *w = g.out_w;
    *h = g.out_h;
    ok = 1;
done:
    clconv_plane_free(&img);
    clconv_plane_free(&padded);
    clconv_plane_free(&out);
    return ok;
}

static int same_as_file(const char *path, const unsigned char *want, int w,
                        int h)
{
    clconv_plane p = {0, 0, NULL};
    char err[CLCONV_ERR_MAX];
    int i, ok;
    if (clconv_image_load(path, 0, &p, err) != CLCONV_OK) {
        fprintf(stderr, "  cannot load %s: %s\n", path, err);
        return 0;
    }
    ok = p.width == w && p.height == h;
    for (i = 0; ok && i < w * h; i++) ok = p.data[i] == (float)want[i];
    clconv_plane_free(&p);
    return ok;
}

/* clconv_job.wait_device for the pipeline test: gives `cl`, counts calls. */
typedef struct device_gate {
    clconv_cl *cl;
    int calls;
} device_gate;

static clconv_cl *give_device(void *user)
{
    device_gate *g = user;
    g->calls++;
    return g->cl;
}

static void pipeline(const char *dir)
{
    char in[512], out1[512], out2[512], out3[512], err[CLCONV_ERR_MAX];
    unsigned char px[24 * 20], *want = NULL;
    clconv_filter *f = NULL;
    clconv_cl *cl = NULL;
    clconv_job job;
    clconv_report *r = malloc(sizeof *r);
    int i, w = 0, h = 0;
    clconv_status st;

    snprintf(in, sizeof in, "%s/in.png", dir);
    snprintf(out1, sizeof out1, "%s/fallback.png", dir);
    snprintf(out2, sizeof out2, "%s/nofallback.png", dir);
    snprintf(out3, sizeof out3, "%s/device.png", dir);
    for (i = 0; i < 24 * 20; i++) px[i] = (unsigned char)rnd_int(0, 255);
    if (!r || !stbi_write_png(in, 24, 20, 1, px, 24) ||
        clconv_filter_parse("sharpen", &f, err) != CLCONV_OK) {
        fail_msg("pipeline: setup failed (%s)", in);
        goto done;
    }
    /* A fresh device: buffers are created on its first call, where the
     * cl-alloc switch fails them. */
    st = clconv_cl_open(-1, -1, &cl, NULL, 0, err);
    if (st != CLCONV_OK) {
        fail_msg("pipeline: clconv_cl_open: %s", err);
        goto done;
    }
    clconv_job_init(&job);
    job.filter = f;
    job.cl = cl;
    if (!expected_u8(&job, in, &want, &w, &h)) {
        fail_msg("pipeline: reference failed on %s", in);
        goto done;
    }

    setenv("CLCONV_FAULT", "cl-alloc", 1);
    job.fallback = 1;
    st = clconv_process_file(&job, in, out1, r);
    if (st != CLCONV_OK || r->status != CLCONV_OK || !r->fell_back ||
        r->on_device || !strstr(r->note, "CL_MEM_OBJECT_ALLOCATION_FAILURE")) {
        failures++;
        fprintf(stderr, "FAILED: cl-alloc with fallback: status %d, fell_back %d, "
                "on_device %d, note '%s', err '%s'\n", st, r->fell_back,
                r->on_device, r->note, r->err);
    } else if (!same_as_file(out1, want, w, h)) {
        fail_msg("cl-alloc with fallback: %s is not the reference result", out1);
    }
    job.fallback = 0;
    st = clconv_process_file(&job, in, out2, r);
    if (st != CLCONV_E_OPENCL ||
        !strstr(r->err, "CL_MEM_OBJECT_ALLOCATION_FAILURE") || r->fell_back) {
        failures++;
        fprintf(stderr, "FAILED: cl-alloc without fallback: status %d (want %d), "
                "fell_back %d, err '%s'\n", st, CLCONV_E_OPENCL, r->fell_back,
                r->err);
    }
    if (access(out2, F_OK) == 0)
        fail_msg("a failed image left an output file: %s", out2);
    unsetenv("CLCONV_FAULT");

    /* Without the fault the same job runs on the device. */
    st = clconv_process_file(&job, in, out3, r);
    if (st != CLCONV_OK || !r->on_device || r->fell_back || r->note[0]) {
        failures++;
        fprintf(stderr, "FAILED: device run: status %d, on_device %d, fell_back "
                "%d, note '%s', err '%s'\n", st, r->on_device, r->fell_back,
                r->note, r->err);
    } else if (!same_as_file(out3, want, w, h)) {
        fail_msg("device run: %s is not the reference result", out3);
    }
    /* --verify through the pipeline catches the perturbed pixel. */
    job.verify = 1;
    setenv("CLCONV_FAULT", "perturb", 1);
    st = clconv_process_file(&job, in, out3, r);
    unsetenv("CLCONV_FAULT");
    if (st != CLCONV_E_MISMATCH || !r->verified || r->vr.bad != 1) {
        failures++;
        fprintf(stderr, "FAILED: perturb under verify: status %d (want %d), "
                "verified %d, bad %lld\n", st, CLCONV_E_MISMATCH, r->verified,
                r->vr.bad);
    }
    /* A device still opening (wait_device): asked once per image, after
     * the decode; the device it gives computes, NULL means the reference. */
    job.verify = 0;
    job.cl = NULL;
    job.wait_device = give_device;
    for (i = 0; i < 2; i++) {
        device_gate gate = {i == 0 ? cl : NULL, 0};
        job.wait_user = &gate;
        st = clconv_process_file(&job, in, out3, r);
        if (st != CLCONV_OK || gate.calls != 1 || r->on_device != (i == 0)) {
            failures++;
            fprintf(stderr, "FAILED: wait_device giving %s: status %d, asked %d "
                    "times, on_device %d\n", i == 0 ? "the device" : "none", st,
                    gate.calls, r->on_device);
        } else if (!same_as_file(out3, want, w, h)) {
            fail_msg("wait_device: %s is not the reference result", out3);
        }
    }

done:
    unsetenv("CLCONV_FAULT");
    clconv_cl_close(cl);
    clconv_filter_destroy(f);
    free(want);
    free(r);
    remove(in);
    remove(out1);
    remove(out2);
    remove(out3);
}

/* CLCONV_FAULT=cl-build: the open fails with the error's name and the log. */
static void build_failure(void)
{
    char err[CLCONV_ERR_MAX] = "";
    clconv_cl *cl = (clconv_cl *)err; /* must be reset to NULL */
    clconv_status st;
    setenv("CLCONV_FAULT", "cl-build", 1);
    st = clconv_cl_open(-1, -1, &cl, NULL, 0, err);
    unsetenv("CLCONV_FAULT");
    if (st != CLCONV_E_OPENCL || cl != NULL ||
        !strstr(err, "CL_BUILD_PROGRAM_FAILURE") || !strstr(err, "build log")) {
        failures++;
        fprintf(stderr, "FAILED: cl-build: status %d (want %d), handle %s, "
                "err '%s'\n", st, CLCONV_E_OPENCL, cl ? "set" : "NULL", err);
        if (st == CLCONV_OK) clconv_cl_close(cl);
    }
}

int main(void)
{
    const char *s = getenv("CLCONV_TEST_SEED");
    const char *req = getenv("CLCONV_REQUIRE_DEVICE");
    unsigned long long seed;
    char why[256] = "", err[CLCONV_ERR_MAX] = "", dir[] = "/tmp/clconv-dev-XXXXXX";
    clconv_cl *cl = NULL;
    clconv_status st;
    clock_t t0 = clock();
    time_t w0 = time(NULL);

    if (s && *s) {
        char *end;
        seed = strtoull(s, &end, 0);
        if (*end) {
            fprintf(stderr, "CLCONV_TEST_SEED='%s' is not a number\n", s);
            return 2;
        }
    } else {
        seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 20);
    }
    rng = seed;
    section_start();
    no_build_faults = getenv("CLCONV_TEST_NO_BUILD_FAULTS") != NULL;
    reduced = getenv("CLCONV_TEST_REDUCED") && strcmp(getenv("CLCONV_TEST_REDUCED"), "1") == 0;
    printf("test_device: seed %llu (rerun with CLCONV_TEST_SEED=%llu)%s\n", seed,
           seed, reduced ? ", reduced" : "");
    fflush(stdout);
    unsetenv("CLCONV_FAULT");

    st = clconv_cl_open(-1, -1, &cl, why, sizeof why, err);
    if (st == CLCONV_E_NO_DEVICE) {
        if (req && strcmp(req, "1") == 0) {
            fprintf(stderr, "FAILED: no OpenCL device, and CLCONV_REQUIRE_DEVICE=1: "
                    "%s\n", err);
            return 1;
        }
        printf("test_device: skipped: %s\n", err);
        return SKIP;
    }
    if (st != CLCONV_OK) {
        fprintf(stderr, "FAILED: clconv_cl_open: %s\n", err);
        return 1;
    }
    {
        const clconv_device_info *di = clconv_cl_info(cl);
        const char *caps = getenv("CLCONV_DEVICE_LIMITS");
        printf("test_device: %s (%s, %s) on %s: %s; local memory %llu, constant %llu, "
               "max allocation %llu bytes\n", di->name, di->type, di->cl_version,
               di->platform_name, why, di->local_mem, di->const_mem, di->max_alloc);
        /* The test hook must really shrink what the library sees. */
        if (caps && strcmp(caps, "gpu") == 0 &&
            (di->local_mem > 32768 || di->const_mem > 65536 || di->max_alloc > (128u << 20))) {
            failures++;
            fprintf(stderr, "FAILED: CLCONV_DEVICE_LIMITS=gpu left local %llu, constant "
                    "%llu, max allocation %llu\n", di->local_mem, di->const_mem,
                    di->max_alloc);
        }
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        clconv_cl_close(cl);
        return 1;
    }

    {
        static const char *const variants[] = {NULL, "naive", "tiled",
                                               "separable", "local", "fft"};
        size_t v;
        for (v = 0; v < sizeof variants / sizeof variants[0]; v++) {
            if (!variant_selected(variants[v])) continue;
            /* Reduced: fft_cases below covers the FFT path (every border,
             * bands, sources); forced onto every edge case it is the
             * slowest part of a simulated device. */
            if (reduced && variants[v] && strcmp(variants[v], "fft") == 0) continue;
            set_env("CLCONV_KERNEL", variants[v]);
            rank1_wanted = variants[v] && strcmp(variants[v], "separable") == 0;
            edge_cases(cl);
            random_cases(cl, 250);
            banding(cl);
            section(variants[v] ? variants[v] : "auto");
        }
        /* The copying transfer path (zero-copy is the default on CPUs;
         * devices without host-unified memory, Oclgrind's, always copy). */
        setenv("CLCONV_ZERO_COPY", "0", 1);
        for (v = 0; v < sizeof variants / sizeof variants[0] && !reduced; v++) {
            if (!variant_selected(variants[v])) continue;
            set_env("CLCONV_KERNEL", variants[v]);
            rank1_wanted = variants[v] && strcmp(variants[v], "separable") == 0;
            random_cases(cl, 40);
            banding(cl);
        }
        section("copying transfers");
        unsetenv("CLCONV_ZERO_COPY");
        unsetenv("CLCONV_KERNEL");
        rank1_wanted = 0;
    }
    consistency(cl);
    section("consistency");
    if (variant_selected("tuned")) tuned_shapes(cl);
    local_fallback(cl);
    fft_cases(cl);
    section("fft path");
    perturb(cl);
    clconv_cl_close(cl);
    pipeline(dir);
    if (!no_build_faults) build_failure();
    fft_faults();
    section("pipeline and faults");
    rmdir(dir);

    printf("test_device: %d cases (%d bit-exact, %d refused by geometry as "
           "expected), %d failures, %.1f s CPU, ~%ld s wall; seed %llu\n",
           cases_run, cases_exact, cases_refused, failures,
           (double)(clock() - t0) / CLOCKS_PER_SEC, (long)(time(NULL) - w0),
           seed);
    return failures ? 1 : 0;
}
