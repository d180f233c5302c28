/* test_device_map.c — the device map (clconv_conv_cl_image_mapped,
 * kernels/map.cl) against the host's mapping (clconv_plane_to_u8 / _u16,
 * host/core/plane.c), bit for bit: for every case the same call runs twice
 * on the device, once bringing the floats down and once mapped, and the
 * mapped samples, the NaN and clipped counts, normalize's min and max and
 * the probes' floats must equal what the host makes of those floats.
 * Fresh random inputs from a printed seed (CLCONV_TEST_SEED repeats one),
 * with values placed on .5 ties (near 0, 255 and 65535), negative, past
 * the range, NaN, +-inf and -0; outputs poisoned first; every map, 8 and 16
 * bits, --scale/--offset, every kernel variant, every border mode,
 * strides, dilations, even and image-sized filters, 1x1 and prime sizes,
 * forced small bands (clamp/abs map band by band; normalize declines),
 * both transfer modes, and a device without double precision (the fault
 * switch map-no-fp64: clamp and abs still map, the rest declines).
 * CLCONV_TEST_REDUCED=1: fewer random cases (Oclgrind).
 * Exits 77 (skipped) without a device, unless CLCONV_REQUIRE_DEVICE=1.
 */
#define _POSIX_C_SOURCE 200809L
#include "clconv.h"
#include "core/core.h" /* the case generator, the host map and affine step */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SKIP 77
static uint64_t rng;
static int failures, cases, mapped_cases, declined_cases, reduced;
static int build_fault; /* the map kernels are broken (CLCONV_FAULT=map-build) */

static int rnd(int lo, int hi) { return clconv__rnd_int(&rng, lo, hi); }

typedef struct mcase {
    int w, h, kw, kh;
    clconv_padding padding;
    clconv_border border;
    int stride, dilation;
    int u8src;       /* the image goes up as bytes */
    int integer;     /* integer taps and samples 0..255 (the FFT's cases) */
    int identity;    /* a 1x1 filter of tap 1: the output is the image */
    int band_rows;
    int bits;
    clconv_map map;
    int affine;
    double scale, offset;
} mcase;

static const char *map_name(clconv_map m)
{
    return m == CLCONV_MAP_ABS ? "abs" : m == CLCONV_MAP_NORMALIZE ? "normalize" : "clamp";
}

static void describe(const mcase *c, char *buf, size_t n)
{
    snprintf(buf, n, "image %dx%d (%s), filter %dx%d%s, padding %s, border %s, stride %d, "
             "dilation %d, band_rows %d, %d-bit %s%s (scale %.17g offset %.17g), "
             "CLCONV_KERNEL=%s, CLCONV_ZERO_COPY=%s", c->w, c->h,
             c->u8src ? "bytes" : c->integer ? "integer floats" : "floats", c->kh, c->kw,
             c->identity ? " identity" : c->integer ? " integer" : "",
             c->padding == CLCONV_PAD_SAME ? "same" : "valid", clconv_border_name(c->border),
             c->stride, c->dilation, c->band_rows, c->bits, map_name(c->map),
             c->affine ? " affine" : "", c->scale, c->offset,
             getenv("CLCONV_KERNEL") ? getenv("CLCONV_KERNEL") : "(unset)",
             getenv("CLCONV_ZERO_COPY") ? getenv("CLCONV_ZERO_COPY") : "(unset)");
}

static void fail(const mcase *c, const char *what)
{
    char d[1024];
    failures++;
    describe(c, d, sizeof d);
    if (failures <= 20) fprintf(stderr, "FAILED: %s: %s\n", what, d);
}

/* A value the mapping must get right: .5 ties around 0, 255 and 65535,
 * negatives, values past the range, NaN, infinities, -0, huge. */
static float awkward(void)
{
    switch (rnd(0, 11)) {
    case 0: return (float)rnd(-3, 258) + 0.5f;
    case 1: return (float)rnd(65530, 65538) + 0.5f;
    case 2: return (float)rnd(-300, -1) * 0.75f;
    case 3: return (float)rnd(256, 70000);
    case 4: return NAN;
    case 5: return INFINITY;
    case 6: return -INFINITY;
    case 7: return -0.0f;
    case 8: return 1e30f;
    case 9: return -0.4999999f;
    case 10: return 254.5f;
    default: return 255.49998f;
    }
}

/* The image: random (integer 0..255 for bytes and FFT cases), and for
 * float sources every fourth sample one of the awkward values, or on 16
 * bits scaled into 0..65535's range. */
static void make_image(const mcase *c, clconv_plane *p, clconv_image8 *p8)
{
    size_t i, n = (size_t)c->w * (size_t)c->h;
    clconv__case_image(&rng, p, c->integer || c->u8src);
    if (c->u8src) {
        for (i = 0; i < n; i++) p8->data[i] = (unsigned char)p->data[i];
        return;
    }
    if (c->integer) return;
    for (i = 0; i < n; i++) {
        if (c->bits == 16 && rnd(0, 1)) p->data[i] *= 217.0f;
        if (rnd(0, 3) == 0) p->data[i] = awkward();
    }
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

/* One case: the floats, then the mapped call, compared. */
static void run_case(clconv_cl *cl, const mcase *c, int no_fp64)
{
    char err[CLCONV_ERR_MAX] = "";
    clconv_plane img = {0, 0, NULL}, f32 = {0, 0, NULL}, out2 = {0, 0, NULL}, host = {0, 0, NULL};
    clconv_image8 img8 = {0, 0, NULL};
    clconv_filter *f = NULL;
    clconv_params prm;
    clconv_geometry g;
    clconv_cl_mapped m;
    clconv_cl_timing tm, tm2;
    void *want = NULL, *got = NULL;
    int px[300], py[300];
    float pv[300];
    long long nans = 0, clipped = 0;
    size_t i, n, es = c->bits == 16 ? 2 : 1;
    int k, declined_expected, ncaller;

    cases++;
    clconv_params_init(&prm);
    prm.padding = c->padding;
    prm.border = c->border;
    prm.stride = c->stride;
    prm.dilation = c->dilation;
    prm.cval = c->integer || c->u8src ? (float)rnd(0, 255) : (float)rnd(-50, 300) + 0.5f;
    if (clconv_geometry_compute(c->w, c->h, c->kw, c->kh, &prm, &g, err) != CLCONV_OK) {
        cases--;
        return; /* valid padding past the image: nothing to map */
    }
    if (c->identity) {
        const double one = 1.0;
        clconv_filter_create(1, 1, &one, "identity", &f, err);
    } else {
        f = clconv__case_filter(&rng, c->kh, c->kw, c->integer, 0, err);
    }
    if (!f || clconv_plane_alloc(&img, c->w, c->h) != CLCONV_OK ||
        clconv_plane_alloc(&f32, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&out2, g.out_w, g.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&host, g.out_w, g.out_h) != CLCONV_OK) {
        fail(c, "allocation");
        goto done;
    }
    if (c->u8src) {
        img8.width = c->w;
        img8.height = c->h;
        img8.data = malloc(n = (size_t)c->w * (size_t)c->h);
        if (!img8.data) { fail(c, "allocation"); goto done; }
    }
    make_image(c, &img, &img8);
    n = (size_t)g.out_w * (size_t)g.out_h;
    want = malloc(n * es);
    got = malloc(n * es);
    if (!want || !got) { fail(c, "allocation"); goto done; }
    for (i = 0; i < n; i++) f32.data[i] = out2.data[i] = NAN;
    memset(got, 0xA5, n * es);
    clconv_cl_set_band_rows(cl, c->band_rows);

    if (clconv_conv_cl_image(cl, c->u8src ? NULL : &img, c->u8src ? &img8 : NULL, &prm, f, &g,
                             &f32, &tm, err) != CLCONV_OK) {
        fail(c, err);
        goto done;
    }
    memset(&m, 0, sizeof m);
    m.bits = c->bits;
    m.map = c->map;
    m.affine = c->affine;
    m.scale = c->scale;
    m.offset = c->offset;
    m.data = got;
    m.probe_x = px;
    m.probe_y = py;
    m.probe_v = pv;
    m.probe_cap = 300;
    m.nprobe = rnd(0, 20);
    m.probe_seed = clconv__rnd64(&rng);
    for (k = 0; k < m.nprobe; k++) {
        px[k] = rnd(0, g.out_w - 1);
        py[k] = rnd(0, g.out_h - 1);
    }
    for (k = 0; k < 300; k++) pv[k] = NAN;
    ncaller = m.nprobe;
    if (clconv_conv_cl_image_mapped(cl, c->u8src ? NULL : &img, c->u8src ? &img8 : NULL,
                                    &prm, f, &g, &out2, &m, &tm2, err) != CLCONV_OK) {
        fail(c, err);
        goto done;
    }
    declined_expected = build_fault ||
                        ((c->affine || c->map == CLCONV_MAP_NORMALIZE) && no_fp64) ||
                        (c->map == CLCONV_MAP_NORMALIZE && tm2.bands > 1);
    if (m.mapped == declined_expected) {
        char msg[256];
        snprintf(msg, sizeof msg, "mapped %d with %d bands (why: '%s')", m.mapped, tm2.bands,
                 m.why);
        fail(c, msg);
        goto done;
    }
    if (!m.mapped) {
        /* Declined: the floats came down as without the map. */
        declined_cases++;
        for (i = 0; i < n; i++)
            if (!same_bits(f32.data[i], out2.data[i])) {
                fail(c, "declined, but the floats differ from clconv_conv_cl_image's");
                break;
            }
        if (!m.why[0] || (build_fault && !strstr(m.why, "did not build")))
            fail(c, "declined without the reason");
        goto done;
    }
    mapped_cases++;
    /* The host's mapping of the device's floats: the reference. */
    memcpy(host.data, f32.data, n * sizeof(float));
    if (c->affine) clconv__plane_affine(&host, c->scale, c->offset);
    clconv__plane_map(&host, c->map, c->bits, c->bits == 8 ? want : NULL,
                      c->bits == 16 ? want : NULL, &nans, &clipped);
    if (memcmp(want, got, n * es) != 0) {
        char msg[256];
        for (i = 0; i < n; i++)
            if (memcmp((char *)want + i * es, (char *)got + i * es, es) != 0) break;
        snprintf(msg, sizeof msg, "sample (%d, %d): device %u, host %u (float %.9g)",
                 (int)(i % (size_t)g.out_w), (int)(i / (size_t)g.out_w),
                 es == 2 ? ((uint16_t *)got)[i] : ((unsigned char *)got)[i],
                 es == 2 ? ((uint16_t *)want)[i] : ((unsigned char *)want)[i], host.data[i]);
        fail(c, msg);
    }
    if (nans != m.nan_count || clipped != m.clipped) {
        char msg[160];
        snprintf(msg, sizeof msg, "counts: device %lld NaN %lld clipped, host %lld %lld",
                 m.nan_count, m.clipped, nans, clipped);
        fail(c, msg);
    }
    if (c->map == CLCONV_MAP_NORMALIZE) {
        float lo = INFINITY, hi = -INFINITY;
        for (i = 0; i < n; i++)
            if (isfinite(host.data[i])) {
                if (host.data[i] < lo) lo = host.data[i];
                if (host.data[i] > hi) hi = host.data[i];
            }
        if (lo != m.lo || hi != m.hi) fail(c, "normalize's min or max");
    }
    /* Probes: the caller's kept, the seams' on band edges, every value the
     * float the device computed there. */
    if (m.nprobe < 0 || m.nprobe > 300) fail(c, "probe count");
    for (k = 0; k < m.nprobe && k < 300; k++) {
        if (px[k] < 0 || px[k] >= g.out_w || py[k] < 0 || py[k] >= g.out_h) {
            fail(c, "a probe outside the output");
            break;
        }
        if (!same_bits(pv[k], f32.data[(size_t)py[k] * g.out_w + px[k]])) {
            fail(c, "a probe's float differs from the device's float there");
            break;
        }
    }
    if (tm2.bands > 1 && m.nprobe == 0) fail(c, "no seam probes with several bands");
    for (k = 0; k < m.nprobe; k++)
        if (k >= ncaller && tm2.band_rows > 0 && py[k] % tm2.band_rows != 0 &&
            py[k] % tm2.band_rows != tm2.band_rows - 1) {
            fail(c, "a seam probe off the band edges");
            break;
        }
    if (m.bytes_down < n * es || m.bytes_down >= n * sizeof(float) + 4096 * 8)
        fail(c, "bytes_down");
done:
    clconv_cl_set_band_rows(cl, 0);
    clconv_filter_destroy(f);
    clconv_plane_free(&img);
    clconv_plane_free(&f32);
    clconv_plane_free(&out2);
    clconv_plane_free(&host);
    clconv_image8_free(&img8);
    free(want);
    free(got);
}

static const clconv_map maps[] = {CLCONV_MAP_CLAMP, CLCONV_MAP_ABS, CLCONV_MAP_NORMALIZE};

static void set_mapping(mcase *c)
{
    static const double scales[] = {0.5, -0.25, 3.7, 1e-3, 257.0, 1.0};
    static const double offsets[] = {0.0, 128.0, -0.5, 0.25, 32768.5};
    c->bits = rnd(0, 1) ? 16 : 8;
    c->map = maps[rnd(0, 2)];
    c->affine = rnd(0, 2) == 0;
    c->scale = c->affine ? scales[rnd(0, 5)] : 1.0;
    c->offset = c->affine ? offsets[rnd(0, 4)] : 0.0;
}

static mcase base(int w, int h, int kw, int kh)
{
    mcase c;
    memset(&c, 0, sizeof c);
    c.w = w;
    c.h = h;
    c.kw = kw;
    c.kh = kh;
    c.padding = CLCONV_PAD_SAME;
    c.border = CLCONV_BORDER_CONSTANT;
    c.stride = c.dilation = 1;
    return c;
}

/* Every map, depth and affine step on the awkward values (identity
 * filter), then the fixed awkward geometries, then random cases. */
static void all_cases(clconv_cl *cl, int no_fp64, int random_count)
{
    static const int sizes[][2] = {{1, 1}, {2, 3}, {7, 13}, {31, 1}, {1, 29}, {64, 64},
                                   {97, 61}, {5, 3}};
    size_t s;
    int mi, bits, aff, b, k;
    for (mi = 0; mi < 3; mi++)
        for (bits = 8; bits <= 16; bits += 8)
            for (aff = 0; aff < 2; aff++) {
                mcase c = base(rnd(40, 130), rnd(20, 90), 1, 1);
                c.identity = 1;
                c.bits = bits;
                c.map = maps[mi];
                c.affine = aff;
                c.scale = aff ? 0.5 : 1.0;
                c.offset = aff ? 0.25 : 0.0;
                run_case(cl, &c, no_fp64);
                c.band_rows = rnd(1, 7); /* band by band (normalize declines) */
                run_case(cl, &c, no_fp64);
            }
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (b = 0; b < 5; b++) {
            mcase c = base(sizes[s][0], sizes[s][1], rnd(1, 5), rnd(1, 5));
            c.border = (clconv_border)b;
            if (rnd(0, 2) == 0) c.kw = c.kh = 9; /* larger than most of these images */
            if (rnd(0, 3) == 0) c.stride = rnd(2, 3);
            else if (rnd(0, 3) == 0) c.dilation = 2;
            if (rnd(0, 4) == 0) c.padding = CLCONV_PAD_VALID;
            c.u8src = rnd(0, 2) == 0;
            c.band_rows = rnd(0, 1) ? 0 : rnd(1, 4);
            set_mapping(&c);
            run_case(cl, &c, no_fp64);
        }
    for (k = 0; k < random_count; k++) {
        mcase c = base(rnd(1, 150), rnd(1, 120), rnd(1, 7), rnd(1, 7));
        c.border = (clconv_border)rnd(0, 4);
        c.u8src = rnd(0, 2) == 0;
        c.integer = !c.u8src && rnd(0, 3) == 0;
        c.stride = rnd(0, 3) == 0 ? rnd(2, 3) : 1;
        c.dilation = c.stride == 1 && rnd(0, 3) == 0 ? 2 : 1;
        c.band_rows = rnd(0, 2) == 0 ? rnd(1, 9) : 0;
        set_mapping(&c);
        run_case(cl, &c, no_fp64);
    }
}

/* The FFT path (forced; integer taps and samples) maps through the same
 * band loop. */
static void fft_cases(clconv_cl *cl, int no_fp64)
{
    int k;
    setenv("CLCONV_KERNEL", "fft", 1);
    for (k = 0; k < (reduced ? 3 : 8); k++) {
        mcase c = base(rnd(20, 300), rnd(20, 200), rnd(3, 9), rnd(3, 9));
        c.integer = 1;
        c.u8src = rnd(0, 1);
        c.border = (clconv_border)rnd(0, 4);
        c.band_rows = rnd(0, 1) ? 0 : rnd(1, 40);
        set_mapping(&c);
        run_case(cl, &c, no_fp64);
    }
    unsetenv("CLCONV_KERNEL");
}

static clconv_cl *open_device(const char *req)
{
    char why[256] = "", err[CLCONV_ERR_MAX] = "";
    clconv_cl *cl = NULL;
    clconv_status st = clconv_cl_open(-1, -1, &cl, why, sizeof why, err);
    if (st == CLCONV_E_NO_DEVICE) {
        if (req && strcmp(req, "1") == 0) {
            fprintf(stderr, "FAILED: no OpenCL device, and CLCONV_REQUIRE_DEVICE=1: %s\n", err);
            exit(1);
        }
        printf("test_device_map: skipped: %s\n", err);
        exit(SKIP);
    }
    if (st != CLCONV_OK) {
        fprintf(stderr, "FAILED: clconv_cl_open: %s\n", err);
        exit(1);
    }
    return cl;
}

/* A bad request is refused, naming the problem. */
static void bad_requests(clconv_cl *cl)
{
    char err[CLCONV_ERR_MAX] = "";
    unsigned char data[16];
    clconv_plane img = {0, 0, NULL}, out = {0, 0, NULL};
    clconv_params prm;
    clconv_geometry g;
    clconv_filter *f = NULL;
    clconv_cl_mapped m;
    int px[1] = {4}, py[1] = {0};
    float pv[1];
    clconv_params_init(&prm);
    clconv_plane_alloc(&img, 4, 4);
    clconv_plane_alloc(&out, 4, 4);
    memset(img.data, 0, 16 * sizeof(float));
    clconv_filter_parse("sharpen", &f, err);
    clconv_geometry_compute(4, 4, 3, 3, &prm, &g, err);
    memset(&m, 0, sizeof m);
    m.bits = 12;
    m.data = data;
    if (clconv_conv_cl_image_mapped(cl, &img, NULL, &prm, f, &g, &out, &m, NULL, err) !=
        CLCONV_E_INVALID) {
        failures++;
        fprintf(stderr, "FAILED: 12 bits were not refused\n");
    }
    m.bits = 8;
    m.probe_x = px;
    m.probe_y = py;
    m.probe_v = pv;
    m.probe_cap = m.nprobe = 1;
    if (clconv_conv_cl_image_mapped(cl, &img, NULL, &prm, f, &g, &out, &m, NULL, err) !=
            CLCONV_E_INVALID || !strstr(err, "outside")) {
        failures++;
        fprintf(stderr, "FAILED: a probe outside the output was not refused (%s)\n", err);
    }
    clconv_filter_destroy(f);
    clconv_plane_free(&img);
    clconv_plane_free(&out);
}

int main(void)
{
    static const char *const variants[] = {NULL, "naive", "tiled", "separable", "local"};
    const char *s = getenv("CLCONV_TEST_SEED");
    const char *req = getenv("CLCONV_REQUIRE_DEVICE");
    unsigned long long seed;
    clconv_cl *cl;
    size_t v;
    int zc;

    seed = s && *s ? strtoull(s, NULL, 0)
                   : (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 20);
    rng = seed;
    reduced = getenv("CLCONV_TEST_REDUCED") && strcmp(getenv("CLCONV_TEST_REDUCED"), "1") == 0;
    printf("test_device_map: seed %llu (rerun with CLCONV_TEST_SEED=%llu)%s\n", seed, seed,
           reduced ? ", reduced" : "");
    fflush(stdout);
    unsetenv("CLCONV_FAULT");
    unsetenv("CLCONV_KERNEL");
    cl = open_device(req);
    printf("test_device_map: %s on %s\n", clconv_cl_info(cl)->name,
           clconv_cl_info(cl)->platform_name);
    bad_requests(cl);
    for (zc = 0; zc < 2; zc++) {
        char keep_buf[64];
        const char *keep = getenv("CLCONV_ZERO_COPY");
        if (keep) {
            snprintf(keep_buf, sizeof keep_buf, "%s", keep);
            keep = keep_buf;
        }
        if (zc) {
            /* The transfer mode is the handle's, fixed at open: copies
             * instead of wrapping host memory, so the transfer pipeline
             * (slots, three queues, bands in turns) where the device would
             * have shared memory. */
            setenv("CLCONV_ZERO_COPY", "0", 1);
            clconv_cl_close(cl);
            cl = open_device(req);
        }
        for (v = 0; v < sizeof variants / sizeof variants[0]; v++) {
            if (variants[v]) setenv("CLCONV_KERNEL", variants[v], 1);
            else unsetenv("CLCONV_KERNEL");
            all_cases(cl, 0, reduced ? 4 : (v == 0 ? 60 : 20));
            if (reduced && zc) break; /* the copying path once on a slow device */
        }
        unsetenv("CLCONV_KERNEL");
        fft_cases(cl, 0);
        if (zc) {
            if (keep) setenv("CLCONV_ZERO_COPY", keep, 1);
            else unsetenv("CLCONV_ZERO_COPY");
        }
        printf("test_device_map: zero-copy %s done: %d cases, %d mapped, %d declined\n",
               zc ? "off" : "default", cases, mapped_cases, declined_cases);
        fflush(stdout);
    }
    clconv_cl_close(cl);

    /* A device without double precision: clamp and abs still map (float
     * only), --scale/--offset and normalize decline. */
    setenv("CLCONV_FAULT", "map-no-fp64", 1);
    cl = open_device(req);
    {
        const int before = declined_cases;
        all_cases(cl, 1, reduced ? 4 : 30);
        if (declined_cases == before) {
            failures++;
            fprintf(stderr, "FAILED: nothing declined without double precision\n");
        }
    }
    clconv_cl_close(cl);
    unsetenv("CLCONV_FAULT");

    /* Map kernels that do not build: every request declines, saying why,
     * and the floats come down (left out under Oclgrind's --check-api, which
     * rightly calls a failed build an API error). */
    if (!getenv("CLCONV_TEST_NO_BUILD_FAULTS")) {
        const int before = mapped_cases, dbefore = declined_cases;
        setenv("CLCONV_FAULT", "map-build", 1);
        setenv("CLCONV_CACHE_DIR", "off", 1);
        cl = open_device(req);
        build_fault = 1;
        all_cases(cl, 1, 2);
        build_fault = 0;
        clconv_cl_close(cl);
        unsetenv("CLCONV_FAULT");
        unsetenv("CLCONV_CACHE_DIR");
        if (mapped_cases != before || declined_cases == dbefore) {
            failures++;
            fprintf(stderr, "FAILED: with map kernels that do not build, %d cases mapped\n",
                    mapped_cases - before);
        }
    }

    printf("test_device_map: %d cases, %d mapped, %d declined as expected, %d failures; "
           "seed %llu\n", cases, mapped_cases, declined_cases, failures, seed);
    return failures ? 1 : 0;
}
