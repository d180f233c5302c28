/* selftest.c — clconv_self_test: for a user who must trust a driver before a
 * long batch. Every kernel variant of the registry, from a host-padded plane
 * and with the border read on the device (float and 8-bit sources), on a
 * few fixed cases drawn from the test suite's generator (host/core/cases.c),
 * each compared with the CPU reference: bit for bit for integer cases,
 * within DESIGN.md's tolerance otherwise; and the device map (8/16-bit
 * results mapped on the device) against the host's mapping.
 * It must not print: each path's result goes to the caller's callback.
 */
#include "core/core.h"
#include "cl/cl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fixed case: sizes, filter and geometry; the inputs come from the seed. */
typedef struct st_case {
    int w, h, kw, kh;
    clconv_padding padding;
    int pad_width;
    clconv_border border;
    float cval;
    int stride, dilation, band_rows, integer, rank1;
} st_case;

/* The source a path reads: a host-padded plane (clconv_conv_cl), or the
 * image with the border filled on the device, as floats or bytes. */
enum { SRC_PADDED, SRC_FLOAT, SRC_U8, SRC_KINDS };
static const char *const src_names[SRC_KINDS] = {
    "host-padded plane", "border on the device, float source",
    "border on the device, 8-bit source"};

/* The cases every path runs: several bands, a 1x1 image, even and
 * rectangular filters, every border mode, a non-integer filter (float
 * sources), and the variant's own shape (separable: rank 1; fft: a filter
 * big enough for its blocks; naive: stride and dilation). */
static int cases_for(int var, int src, st_case *cs)
{
    int n = 0, big = var == CLCONV__FFT;
    const int k = big ? 15 : 5;
    const st_case base = {61, 47, k, k, CLCONV_PAD_SAME, 0, CLCONV_BORDER_REFLECT, 0,
                          1, 1, 0, 1, var == CLCONV__SEPARABLE};
    cs[n] = base;
    n++;
    cs[n] = base;
    cs[n].w = 33;
    cs[n].h = 29;
    cs[n].kw = big ? 14 : 4;
    cs[n].kh = big ? 11 : 3;
    cs[n].padding = CLCONV_PAD_EXPLICIT;
    cs[n].pad_width = 2;
    cs[n].border = CLCONV_BORDER_CONSTANT;
    cs[n].cval = 9;
    cs[n].band_rows = 5;
    n++;
    cs[n] = base;
    cs[n].w = cs[n].h = 1;
    cs[n].border = CLCONV_BORDER_WRAP;
    n++;
    cs[n] = base;
    cs[n].w = 40;
    cs[n].h = 23;
    cs[n].border = CLCONV_BORDER_SYMMETRIC;
    cs[n].band_rows = 4;
    n++;
    cs[n] = base;
    cs[n].border = CLCONV_BORDER_EDGE;
    n++;
    if (var == CLCONV__NAIVE) {
        cs[n] = base;
        cs[n].w = 29;
        cs[n].h = 31;
        cs[n].stride = 2;
        cs[n].dilation = 2;
        n++;
    }
    if (src != SRC_U8 && var != CLCONV__FFT) {
        cs[n] = base;
        cs[n].integer = 0;
        n++;
    }
    return n;
}

/* Runs one case on the path; adds its comparison to *line. */
/* Adds one case to its line: its bad pixels and, when it is the worst so
 * far, where; a failed call (st) counts as a bad case with its message. */
static void tally(clconv_self_test_line *line, const clconv_verify_result *vr,
                  clconv_status st)
{
    if (st != CLCONV_OK) {
        if (!line->err[0]) snprintf(line->err, sizeof line->err, "%s", clconv_status_str(st));
        line->bad++;
        line->cases++;
        return;
    }
    line->bad += vr->bad;
    if (vr->worst_x >= 0 && (line->worst_x < 0 || vr->max_abs_err > line->max_abs_err)) {
        line->max_abs_err = vr->max_abs_err;
        line->worst_x = vr->worst_x;
        line->worst_y = vr->worst_y;
        line->worst_dev = vr->worst_dev;
        line->worst_ref = vr->worst_ref;
    }
    line->cases++;
}

static void run_one(clconv_cl *cl, int src, const st_case *c, uint64_t *seed,
                    clconv_self_test_line *line)
{
    clconv_plane img = {0, 0, NULL}, padded = {0, 0, NULL}, dev = {0, 0, NULL};
    clconv_plane ref = {0, 0, NULL}, asum = {0, 0, NULL};
    clconv_image8 img8 = {0, 0, NULL};
    clconv_filter *f = clconv__case_filter(seed, c->kh, c->kw, c->integer, c->rank1,
                                           line->err);
    clconv_cl_timing tm;
    clconv_verify_result vr;
    clconv_params prm;
    clconv_geometry g;
    clconv_status st = CLCONV_E_NOMEM;
    size_t i, n;

    clconv_params_init(&prm);
    prm.padding = c->padding;
    prm.pad_width = c->pad_width;
    prm.border = c->border;
    prm.cval = c->cval;
    prm.stride = c->stride;
    prm.dilation = c->dilation;
    if (!f || clconv_plane_alloc(&img, c->w, c->h) != CLCONV_OK) goto done;
    clconv__case_image(seed, &img, c->integer || src == SRC_U8);
    st = clconv_geometry_compute(c->w, c->h, c->kw, c->kh, &prm, &g, line->err);
    if (st != CLCONV_OK || (st = clconv_pad(&img, &g, &prm, &padded, line->err)) != CLCONV_OK)
        goto done;
    st = CLCONV_E_NOMEM;
    if (clconv_plane_alloc(&dev, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&ref, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&asum, g.out_w, g.out_h) != CLCONV_OK)
        goto done;
    n = (size_t)g.out_w * (size_t)g.out_h;
    for (i = 0; i < n; i++) dev.data[i] = NAN; /* a pixel never written fails */
    if (src == SRC_U8) {
        img8.width = c->w;
        img8.height = c->h;
        img8.data = malloc((size_t)c->w * (size_t)c->h);
        if (!img8.data) goto done;
        for (i = 0; i < (size_t)c->w * (size_t)c->h; i++)
            img8.data[i] = (unsigned char)img.data[i];
    }
    clconv_cl_set_band_rows(cl, c->band_rows);
    if (src == SRC_PADDED)
        st = clconv_conv_cl(cl, &padded, f, &g, &dev, &tm, line->err);
    else
        st = clconv_conv_cl_image(cl, src == SRC_U8 ? NULL : &img,
                                  src == SRC_U8 ? &img8 : NULL, &prm, f, &g, &dev, &tm,
                                  line->err);
    clconv_cl_set_band_rows(cl, 0);
    if (st != CLCONV_OK) goto done;
    line->ran = tm.kernel;
    st = clconv_conv_ref(&padded, f, &g, &ref, &asum);
    if (st != CLCONV_OK) goto done;
    clconv_verify(&dev, &ref, &asum, c->kw * c->kh, &vr);
    if (c->integer) {
        /* Integer taps on 8-bit values: exact, so any difference is bad. */
        vr.bad = 0;
        for (i = 0; i < n; i++)
            if (!(dev.data[i] == ref.data[i])) vr.bad++;
    }
    tally(line, &vr, CLCONV_OK);
    goto freed;
done:
    tally(line, &vr, st);
freed:
    clconv_filter_destroy(f);
    clconv_image8_free(&img8);
    clconv_plane_free(&img);
    clconv_plane_free(&padded);
    clconv_plane_free(&dev);
    clconv_plane_free(&ref);
    clconv_plane_free(&asum);
}

/* The device map's path (clconv_conv_cl_image_mapped): the default
 * kernel's floats checked against the reference as above, then mapped on
 * the device (8 and 16 bits, every map, with and without --scale/--offset,
 * banded and not) and compared with the host's mapping of those floats,
 * sample for sample and count for count. A request the device declines
 * (no double precision, normalize over bands) brings the floats down and
 * is not a failure. */
static void run_map(clconv_cl *cl, int k, uint64_t *seed, clconv_self_test_line *line)
{
    const int bits = k % 2 ? 16 : 8, affine = (k / 2) % 2, band_rows = k % 4 == 3 ? 7 : 0;
    const clconv_map map = (clconv_map)((k / 4) % 3);
    clconv_plane img = {0, 0, NULL}, padded = {0, 0, NULL}, dev = {0, 0, NULL};
    clconv_plane ref = {0, 0, NULL}, asum = {0, 0, NULL}, tmp = {0, 0, NULL};
    clconv_filter *f = clconv__case_filter(seed, 5, 5, 0, 0, line->err);
    unsigned char *got = NULL, *want = NULL;
    clconv_cl_mapped m;
    clconv_verify_result vr;
    clconv_params prm;
    clconv_geometry g;
    clconv_status st = CLCONV_E_NOMEM;
    long long nans = 0, clipped = 0;
    size_t i, n;

    clconv_params_init(&prm);
    prm.border = CLCONV_BORDER_REFLECT;
    if (!f || clconv_plane_alloc(&img, 53, 41) != CLCONV_OK) goto done;
    clconv__case_image(seed, &img, 0);
    for (i = 0; i < 53 * 41; i += 7) img.data[i] = (float)(i % 600) - 150.0f + 0.5f;
    st = clconv_geometry_compute(53, 41, 5, 5, &prm, &g, line->err);
    if (st != CLCONV_OK || (st = clconv_pad(&img, &g, &prm, &padded, line->err)) != CLCONV_OK)
        goto done;
    st = CLCONV_E_NOMEM;
    n = (size_t)g.out_w * (size_t)g.out_h;
    if (clconv_plane_alloc(&dev, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&tmp, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&ref, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&asum, g.out_w, g.out_h) != CLCONV_OK ||
        !(got = malloc(n * 2)) || !(want = malloc(n * 2)))
        goto done;
    for (i = 0; i < n; i++) dev.data[i] = NAN;
    memset(got, 0xA5, n * 2);
    clconv_cl_set_band_rows(cl, band_rows);
    st = clconv_conv_cl_image(cl, &img, NULL, &prm, f, &g, &dev, NULL, line->err);
    memset(&m, 0, sizeof m);
    m.bits = bits;
    m.map = map;
    m.affine = affine;
    m.scale = 0.5;
    m.offset = 128.25;
    m.data = got;
    if (st == CLCONV_OK)
        st = clconv_conv_cl_image_mapped(cl, &img, NULL, &prm, f, &g, &tmp, &m, NULL, line->err);
    clconv_cl_set_band_rows(cl, 0);
    if (st != CLCONV_OK) goto done;
    if (m.mapped) line->ran = "device map";
    else if (!line->ran[0]) line->ran = "host map (the device declined)";
    if ((st = clconv_conv_ref(&padded, f, &g, &ref, &asum)) != CLCONV_OK) goto done;
    clconv_verify(&dev, &ref, &asum, 25, &vr);
    if (m.mapped) {
        /* The host's mapping of the same floats, exactly. */
        memcpy(tmp.data, dev.data, n * sizeof(float));
        if (affine) clconv__plane_affine(&tmp, m.scale, m.offset);
        clconv__plane_map(&tmp, map, bits, bits == 8 ? want : NULL,
                          bits == 16 ? (uint16_t *)(void *)want : NULL, &nans, &clipped);
        for (i = 0; i < n; i++)
            if (memcmp(got + i * (size_t)(bits / 8), want + i * (size_t)(bits / 8),
                       (size_t)(bits / 8)) != 0)
                vr.bad++;
        if (nans != m.nan_count || clipped != m.clipped) vr.bad++;
    }
    tally(line, &vr, CLCONV_OK);
    goto freed;
done:
    tally(line, &vr, st);
freed:
    clconv_filter_destroy(f);
    clconv_plane_free(&img);
    clconv_plane_free(&padded);
    clconv_plane_free(&dev);
    clconv_plane_free(&tmp);
    clconv_plane_free(&ref);
    clconv_plane_free(&asum);
    free(got);
    free(want);
}

clconv_status clconv_self_test(clconv_cl *cl, clconv_self_test_fn fn, void *user)
{
    static char names[CLCONV__VARIANTS][SRC_KINDS][96];
    clconv_self_test_line line;
    st_case cs[8];
    clconv_status st = CLCONV_OK;
    int var, src, n, i;

    for (var = 0; var < CLCONV__VARIANTS; var++)
        for (src = 0; src < SRC_KINDS; src++) {
            const clconv__kernel_desc *d = &clconv__registry[var];
            uint64_t seed = 0x5e1f7e57u + (uint64_t)(var * SRC_KINDS + src);
            /* A variant with no border-reading form (local) pads on the
             * host for every source: its one path is the padded one. */
            if (src != SRC_PADDED && d->files && !d->entry[CLCONV__SRC_F32_CONST]) continue;
            memset(&line, 0, sizeof line);
            snprintf(names[var][src], sizeof names[var][src], "%s, %s",
                     clconv__variant_name(var), src_names[src]);
            line.path = names[var][src];
            line.ran = "";
            line.worst_x = line.worst_y = -1;
            clconv_cl_set_kernel(cl, clconv__variant_name(var));
            n = cases_for(var, src, cs);
            for (i = 0; i < n; i++) run_one(cl, src, &cs[i], &seed, &line);
            line.passed = line.bad == 0;
            if (!line.passed) st = CLCONV_E_MISMATCH;
            if (fn) fn(&line, user);
        }
    clconv_cl_set_kernel(cl, "auto");
    {
        uint64_t seed = 0x5e1f7e57u + 1000;
        memset(&line, 0, sizeof line);
        line.path = "device map: 8 and 16 bits, every map, --scale/--offset, bands";
        line.ran = "";
        line.worst_x = line.worst_y = -1;
        for (i = 0; i < 12; i++) run_map(cl, i, &seed, &line);
        line.passed = line.bad == 0;
        if (!line.passed) st = CLCONV_E_MISMATCH;
        if (fn) fn(&line, user);
    }
    return st;
}
