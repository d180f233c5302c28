/* fuzz_image.c — libFuzzer harness for the image path: bytes -> decode ->
 * Pillow luma -> (resize) -> geometry -> pad -> reference correlation ->
 * 8-bit mapping. Parameters come from the last bytes of the input, so the
 * file's magic stays at the front where the decoders look for it.
 *
 * Besides crashes (ASan/UBSan), it checks the contract: a failure leaves an
 * empty plane and a message, a decoded gray image holds whole numbers in
 * 0..255 (0..65535 for 16-bit PNG and PNM: full depth), the padded
 * plane holds the image in its middle, and for pads that fit the plain
 * mirror/periodic formulas the borders are exactly numpy.pad's.
 *
 * A PNG that clconv's own decoder (host/io/png.c) reads is decoded by
 * stb too: when both succeed the planes must be identical.
 *
 * A TIFF goes through the stack path too (process.c's way in): its pages
 * counted and every header checked (clconv__file_pages), then the first
 * pages decoded one by one, gray and with the channels kept (--color):
 * a decoded page has 1 to 4 channels of its own size within the limit.
 *
 * With CLCONV_FUZZ_DIGEST set in the environment it also prints, per input,
 * the status and a hash of the decoded plane on stdout: determinism.cmake
 * replays the corpus twice with the allocator filling fresh memory with
 * different bytes and compares, which turns a decoder that reads
 * uninitialised memory into a deterministic failure.
 */
#include "clconv.h"
#include "io/io.h" /* clconv__png_fast_off */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PIXELS (1LL << 22)   /* keeps one input well under -rss_limit_mb */
#define MAX_PADDED (1LL << 24)   /* floats in the padded plane we still pad */

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "fuzz_image: check failed: %s (line %d)\n", #c,   \
                    __LINE__);                                                \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* FNV-1a over the plane's size and bits. */
static void print_digest(clconv_status st, const clconv_plane *p)
{
    unsigned long long h = 1469598103934665603ULL;
    const unsigned char *b = (const unsigned char *)p->data;
    size_t i, n = p->data ? (size_t)p->width * (size_t)p->height * 4 : 0;
    for (i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    printf("status %d %dx%d %016llx\n", (int)st, p->width, p->height, h);
}

static void check_err(const char *err)
{
    CHECK(memchr(err, '\0', CLCONV_ERR_MAX) != NULL);
    CHECK(err[0] != '\0');
}

/* Where numpy.pad takes padded index i from, when the pad is at most one
 * period wide (the plain formulas hold there). -1: the constant. */
static long long plain_src(long long i, long long n, long long before,
                           clconv_border b)
{
    long long s = i - before;
    if (s >= 0 && s < n) return s;
    switch (b) {
    case CLCONV_BORDER_CONSTANT: return -1;
    case CLCONV_BORDER_EDGE: return s < 0 ? 0 : n - 1;
    case CLCONV_BORDER_REFLECT:
        if (n == 1) return 0;
        return s < 0 ? -s : 2 * (n - 1) - s;
    case CLCONV_BORDER_SYMMETRIC: return s < 0 ? -s - 1 : 2 * n - 1 - s;
    case CLCONV_BORDER_WRAP: return s < 0 ? s + n : s - n;
    }
    return -2;
}

static int plain_ok(long long n, long long pad, clconv_border b)
{
    if (b == CLCONV_BORDER_REFLECT) return n == 1 || pad <= n - 1;
    if (b == CLCONV_BORDER_SYMMETRIC || b == CLCONV_BORDER_WRAP) return pad <= n;
    return 1;
}

static void check_pad(const clconv_plane *in, const clconv_plane *pd,
                      const clconv_geometry *g, const clconv_params *prm)
{
    int y, x;
    int plain = plain_ok(in->height, g->pad_top, prm->border) &&
                plain_ok(in->height, g->pad_bottom, prm->border) &&
                plain_ok(in->width, g->pad_left, prm->border) &&
                plain_ok(in->width, g->pad_right, prm->border);
    CHECK(pd->width == g->padded_w && pd->height == g->padded_h);
    for (y = 0; y < in->height; y++)
        CHECK(memcmp(pd->data + (size_t)(y + g->pad_top) * pd->width +
                         g->pad_left,
                     in->data + (size_t)y * in->width,
                     (size_t)in->width * sizeof(float)) == 0);
    if (!plain) return;
    for (y = 0; y < pd->height; y++) {
        long long sy = plain_src(y, in->height, g->pad_top, prm->border);
        for (x = 0; x < pd->width; x++) {
            long long sx = plain_src(x, in->width, g->pad_left, prm->border);
            float want = (sy < 0 || sx < 0)
                             ? prm->cval
                             : in->data[(size_t)sy * in->width + (size_t)sx];
            float got = pd->data[(size_t)y * pd->width + x];
            CHECK(sy >= -1 && sx >= -1);
            CHECK(memcmp(&want, &got, sizeof got) == 0 ||
                  (isnan(want) && isnan(got)));
        }
    }
}

/* The stack path of a TIFF: pages and headers, then up to 4 pages, gray
 * and colour. Digests (CLCONV_FUZZ_DIGEST) cover every page decoded. */
#define FUZZ_PAGES 4
static void stack_pages(const uint8_t *data, size_t size, int digest)
{
    char err[CLCONV_ERR_MAX];
    long pages = 0, k;
    clconv_status st;
    err[0] = '\0';
    st = clconv__file_pages(data, size, "fuzz.img", 64, MAX_PIXELS, NULL, NULL, &pages,
                            err);
    if (st != CLCONV_OK) {
        check_err(err);
        return;
    }
    CHECK(pages >= 1 && pages <= 64);
    for (k = 0; k < pages && k < FUZZ_PAGES; k++) {
        clconv_image c;
        clconv_plane gp = {0, 0, NULL};
        clconv_depth d = CLCONV_DEPTH_AUTO;
        int ch;
        err[0] = '\0';
        st = clconv__load_color_mem(data, size, "fuzz.img", (int)k, MAX_PIXELS, &c, err);
        if (st != CLCONV_OK) {
            check_err(err);
            CHECK(c.channels == 0 && c.planes[0].data == NULL);
        } else {
            CHECK(c.channels >= 1 && c.channels <= CLCONV_MAX_CHANNELS);
            CHECK((long long)c.width * c.height <= MAX_PIXELS);
            for (ch = 0; ch < c.channels; ch++) {
                CHECK(c.planes[ch].data && c.planes[ch].width == c.width &&
                      c.planes[ch].height == c.height);
                if (digest) print_digest(st, &c.planes[ch]);
            }
            clconv_image_free(&c);
        }
        err[0] = '\0';
        st = clconv__load_depth_mem(data, size, "fuzz.img", (int)k, MAX_PIXELS, NULL, &gp,
                                    &d, err);
        if (digest) print_digest(st, &gp);
        if (st != CLCONV_OK) {
            check_err(err);
            CHECK(gp.data == NULL);
        } else {
            CHECK(gp.data && d != CLCONV_DEPTH_AUTO);
        }
        clconv_plane_free(&gp);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clconv_plane img = {0, 0, NULL}, rs = {0, 0, NULL}, pd = {0, 0, NULL};
    clconv_plane out = {0, 0, NULL}, asum = {0, 0, NULL};
    const clconv_plane *src;
    clconv_params prm;
    clconv_geometry g;
    clconv_filter *f = NULL;
    clconv_status st;
    unsigned char *u8 = NULL;
    char err[CLCONV_ERR_MAX];
    uint8_t p[6] = {0, 0, 0, 0, 0, 0};
    double taps[16];
    size_t i, n;
    int kw, kh, is_npy, deep;
    long long nans = -1;
    static int digest = -1;

    if (digest < 0) digest = getenv("CLCONV_FUZZ_DIGEST") != NULL;
    if (size >= 4 && (memcmp(data, "II", 2) == 0 || memcmp(data, "MM", 2) == 0))
        stack_pages(data, size, digest);
    err[0] = '\0';
    st = clconv_image_load_memory(data, size, "fuzz.img", MAX_PIXELS, &img, err);
    if (digest) print_digest(st, &img);
    if (st != CLCONV_OK) {
        CHECK(img.data == NULL && img.width == 0 && img.height == 0);
        check_err(err);
        return 0;
    }
    CHECK(img.data && img.width >= 1 && img.height >= 1);
    if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) {
        clconv_plane alt = {0, 0, NULL};
        char err2[CLCONV_ERR_MAX];
        clconv__png_fast_off = 1;
        st = clconv_image_load_memory(data, size, "fuzz.img", MAX_PIXELS, &alt,
                                      err2);
        clconv__png_fast_off = 0;
        if (st == CLCONV_OK) {
            CHECK(alt.width == img.width && alt.height == img.height);
            CHECK(memcmp(alt.data, img.data, (size_t)img.width *
                         (size_t)img.height * sizeof(float)) == 0);
        }
        clconv_plane_free(&alt);
    }
    CHECK((long long)img.width * img.height <= MAX_PIXELS);
    /* .npy and TIFF hold any float (TIFF: float32 and signed samples). */
    is_npy = (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) ||
             (size >= 4 && (memcmp(data, "II", 2) == 0 || memcmp(data, "MM", 2) == 0));
    deep = (size > 24 && data[0] == 0x89 && data[24] == 16) ||
           (size >= 2 && data[0] == 'P');
    n = (size_t)img.width * (size_t)img.height;
    if (!is_npy)
        for (i = 0; i < n; i++)
            CHECK(img.data[i] >= 0.0f && img.data[i] <= (deep ? 65535.0f : 255.0f) &&
                  img.data[i] == floorf(img.data[i]));

    /* Parameters from the last six bytes (fewer for tiny inputs). */
    for (i = 0; i < 6 && i < size; i++) p[i] = data[size - 1 - i];
    clconv_params_init(&prm);
    prm.border = (clconv_border)(p[0] % 5);
    prm.padding = (clconv_padding)((p[0] / 5) % 3);
    prm.pad_width = p[1] % 40;
    prm.stride = 1 + (p[2] & 3);
    prm.dilation = 1 + ((p[2] >> 2) & 3);
    prm.cval = (float)(p[5] % 7) - 3.0f;
    kw = 1 + ((p[2] >> 4) & 3);
    kh = 1 + ((p[2] >> 6) & 3);
    if (p[3] & 1) kw = kh = 3; /* the common case, half of the time */

    src = &img;
    if ((p[3] & 0x0e) == 0x0e) {
        /* Resize to a small size now and then. */
        st = clconv_plane_resize(&img, 1 + p[4] % 17, 1 + (p[4] >> 4) % 13, &rs,
                                 err);
        CHECK(st == CLCONV_OK);
        src = &rs;
    }

    st = clconv_geometry_compute(src->width, src->height, kw, kh, &prm, &g, err);
    if (st != CLCONV_OK) {
        CHECK(st == CLCONV_E_GEOMETRY);
        check_err(err);
        goto done;
    }
    CHECK(g.padded_w == src->width + g.pad_left + g.pad_right);
    CHECK(g.padded_h == src->height + g.pad_top + g.pad_bottom);
    CHECK(g.out_w >= 1 && g.out_h >= 1);
    CHECK((long long)(g.out_w - 1) * g.stride + (long long)(kw - 1) * g.dilation <
          g.padded_w);
    CHECK((long long)(g.out_h - 1) * g.stride + (long long)(kh - 1) * g.dilation <
          g.padded_h);
    if ((long long)g.padded_w * g.padded_h > MAX_PADDED) goto done;

    st = clconv_pad(src, &g, &prm, &pd, err);
    CHECK(st == CLCONV_OK);
    check_pad(src, &pd, &g, &prm);

    for (i = 0; i < (size_t)(kw * kh); i++)
        taps[i] = (double)((int)((p[4] + i * 37) % 9) - 4) * 0.25;
    st = clconv_filter_create(kh, kw, taps, "fuzz", &f, err);
    CHECK(st == CLCONV_OK);
    CHECK(clconv_plane_alloc(&out, g.out_w, g.out_h) == CLCONV_OK);
    CHECK(clconv_plane_alloc(&asum, g.out_w, g.out_h) == CLCONV_OK);
    st = clconv_conv_ref(&pd, f, &g, &out, (p[3] & 0x10) ? &asum : NULL);
    CHECK(st == CLCONV_OK);

    u8 = malloc((size_t)g.out_w * (size_t)g.out_h);
    CHECK(u8 != NULL);
    clconv_plane_to_u8(&out, (clconv_map)(p[5] % 3), u8, &nans);
    CHECK(nans >= 0 && nans <= (long long)g.out_w * g.out_h);
    if (!is_npy) CHECK(nans == 0);

done:
    free(u8);
    clconv_filter_destroy(f);
    clconv_plane_free(&asum);
    clconv_plane_free(&out);
    clconv_plane_free(&pd);
    clconv_plane_free(&rs);
    clconv_plane_free(&img);
    return 0;
}
