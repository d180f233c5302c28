/* stb_formats.c — BMP, TGA, GIF and PNM through stb_image (and the PNGs
 * png.c leaves to stb): the header checked before any pixel is decoded
 * (sizes, --max-pixels, raw pixel data shorter than the header says, which
 * stb would fill from the heap), then stb's decode under an allocation cap,
 * and the gray rows. TGA output is stb_image_write's.
 * It must not open files: load.c and save.c own them.
 */
#include "io/io.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <stb_image.h>
#include <stb_image_write.h>

static unsigned le16(const unsigned char *p) { return (unsigned)p[1] << 8 | p[0]; }
static unsigned long be32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
           (unsigned long)p[2] << 8 | p[3];
}

/* The size a header claims, read directly, for messages about images stb
 * refuses to look at. Returns 0 when the header is too short to say. */
static int header_dims(const unsigned char *b, size_t n, const char *kind,
                       long long *w, long long *h)
{
    if (strcmp(kind, "PNG") == 0 && n >= 24 && memcmp(b + 12, "IHDR", 4) == 0) {
        *w = (long long)be32(b + 16);
        *h = (long long)be32(b + 20);
        return 1;
    }
    if (strcmp(kind, "GIF") == 0 && n >= 10) {
        *w = le16(b + 6);
        *h = le16(b + 8);
        return 1;
    }
    if (strcmp(kind, "BMP") == 0 && n >= 26) {
        long long hv = (long long)(int32_t)(le16(b + 22) | (unsigned long)le16(b + 24) << 16);
        *w = (long long)(int32_t)(le16(b + 18) | (unsigned long)le16(b + 20) << 16);
        *h = hv < 0 ? -hv : hv;
        return 1;
    }
    return 0;
}

/* Skips whitespace and '#' comments of a PNM header; returns the new index. */
static size_t pnm_skip(const unsigned char *b, size_t n, size_t i)
{
    while (i < n) {
        if (b[i] == '#') {
            while (i < n && b[i] != '\n') i++;
        } else if (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' ||
                   b[i] == '\f' || b[i] == '\v') {
            i++;
        } else {
            break;
        }
    }
    return i;
}

static size_t pnm_int(const unsigned char *b, size_t n, size_t *i)
{
    size_t v = 0;
    *i = pnm_skip(b, n, *i);
    while (*i < n && b[*i] >= '0' && b[*i] <= '9' && v < ((size_t)1 << 40))
        v = v * 10 + (size_t)(b[(*i)++] - '0');
    return v;
}

/* stb reads uncompressed PNM, TGA and BMP pixel data without checking that
 * the file holds all of it, and gives back whatever the buffer held. The
 * header says how many bytes must follow; fewer is a truncated file. */
static int raw_truncated(const unsigned char *b, size_t n, const char *kind,
                         long long w, long long h)
{
    size_t off, need;
    if (w < 1 || h < 1) return 0;
    if (strcmp(kind, "PNM") == 0 && (b[1] == '5' || b[1] == '6')) {
        size_t i = 2, maxv;
        (void)pnm_int(b, n, &i);
        (void)pnm_int(b, n, &i);
        maxv = pnm_int(b, n, &i);
        off = i + 1; /* exactly one whitespace byte before the data */
        need = (size_t)w * (size_t)h * (b[1] == '6' ? 3 : 1) * (maxv > 255 ? 2 : 1);
        return off > n || n - off < need;
    }
    if (strcmp(kind, "TGA") == 0 && n >= 18 && b[2] >= 1 && b[2] <= 3) {
        size_t cmap = b[1] == 1 ? (size_t)le16(b + 5) * ((b[7] + 7u) / 8u) : 0;
        off = 18 + (size_t)b[0] + cmap;
        need = (size_t)w * (size_t)h * ((b[16] + 7u) / 8u);
        return off > n || n - off < need;
    }
    if (strcmp(kind, "BMP") == 0 && n >= 34 && le16(b + 14) >= 40 &&
        le16(b + 30) == 0 && le16(b + 32) == 0) { /* BI_RGB: no compression */
        size_t bpp = le16(b + 28);
        off = le16(b + 10) | (size_t)le16(b + 12) << 16;
        need = ((size_t)w * bpp + 31) / 32 * 4 * (size_t)h;
        return bpp > 0 && (off > n || n - off < need);
    }
    return 0;
}

clconv_status clconv__stb_check(const clconv__decode_args *a, const char *kind,
                                int *wp, int *hp, char *err)
{
    const unsigned char *buf = a->buf;
    const size_t len = a->len;
    const char *name = a->name;
    const long long max_pixels = a->max_pixels;
    int w = 0, h = 0, comp = 0;
    size_t npx;

    /* The header alone gives the size: refuse bombs before decoding. */
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
        long long hw = 0, hh = 0;
        /* stb refuses sizes past its own limits with another format's
         * reason; say what the header really claims. */
        if (kind && header_dims(buf, len, kind, &hw, &hh) && hw > 0 && hh > 0 &&
            hw <= INT32_MAX && hh <= INT32_MAX && (hw * hh > (1LL << 28) || (max_pixels > 0 && hw * hh > max_pixels))) {
            if (max_pixels > 0 && hw * hh > max_pixels)
                clconv__err(err, "%s: %lldx%lld is %lld pixels, over the limit "
                            "of %lld (--max-pixels)", name, hw, hh, hw * hh,
                            max_pixels);
            else
                clconv__err(err, "%s: %lldx%lld %s is too large to decode", name,
                            hw, hh, kind);
            return CLCONV_E_TOO_LARGE;
        }
        if (kind)
            clconv__err(err, "%s: corrupt or truncated %s (%s)", name, kind,
                        stbi_failure_reason() ? stbi_failure_reason()
                                              : "unreadable header");
        else
            clconv__err(err, "%s: not a supported image (unknown format)",
                        name);
        return CLCONV_E_DECODE;
    }
    /* stb_image gives a top-down BMP's height as negative. */
    if (kind && strcmp(kind, "BMP") == 0 && h < 0 && h != INT_MIN) h = -h;
    if (w < 1 || h < 1) {
        clconv__err(err, "%s: image has no pixels (%dx%d)", name, w, h);
        return CLCONV_E_DECODE;
    }
    if (max_pixels > 0 && (long long)w * h > max_pixels) {
        clconv__err(err, "%s: %dx%d is %lld pixels, over the limit of %lld "
                    "(--max-pixels)", name, w, h, (long long)w * h, max_pixels);
        return CLCONV_E_TOO_LARGE;
    }
    {
        /* TGA has no magic number: a file stb reads that announces nothing
         * else and is named .tga is taken as one. */
        const char *dot = strrchr(name, '.');
        const char *k = kind ? kind
                        : (dot && strcasecmp(dot, ".tga") == 0) ? "TGA" : NULL;
        if (k && raw_truncated(buf, len, k, w, h)) {
            clconv__err(err, "%s: truncated %s (the pixel data is shorter than "
                        "its %dx%d header says)", name, k, w, h);
            return CLCONV_E_DECODE;
        }
    }
    if (!clconv__mul_ok((size_t)w, (size_t)h, 4 * sizeof(float), &npx)) {
        clconv__err(err, "%s: %dx%d is too large", name, w, h);
        return CLCONV_E_TOO_LARGE;
    }
    *wp = w;
    *hp = h;
    return CLCONV_OK;
}

clconv_status clconv__stb_pixels(const clconv__decode_args *a, const char *kind,
                                 int w, int h, char *err)
{
    const unsigned char *buf = a->buf;
    const size_t len = a->len;
    const char *name = a->name;
    clconv__gray *out = a->out;
    clconv_status st = CLCONV_OK;
    unsigned char *px = NULL;
    int comp = 0, y;

    /* No decoder needs more than 8 bytes a pixel (16-bit RGBA) plus the
     * file and some slack in one block. */
    clconv__stbi_cap = (size_t)w * (size_t)h * 8 + (size_t)h * 2 + len +
                       ((size_t)16 << 20);
    clconv__stbi_capped = 0;
    px = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, 0);
    clconv__stbi_cap = 0;
    if (!px && clconv__stbi_capped) {
        clconv__err(err, "%s: corrupt %s: its data expands far past what a "
                    "%dx%d image needs (a decompression bomb?)", name,
                    kind ? kind : "image", w, h);
        return CLCONV_E_DECODE;
    }
    if (!px) {
        const char *why = stbi_failure_reason();
        if (why && strcmp(why, "outofmem") == 0) {
            clconv__err(err, "%s: out of memory decoding %dx%d", name, w, h);
            return CLCONV_E_NOMEM;
        }
        clconv__err(err, "%s: corrupt or truncated %s (%s)", name,
                    kind ? kind : "image", why ? why : "decode failed");
        return CLCONV_E_DECODE;
    }
    st = clconv__gray_alloc(out, w, h);
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot allocate a %dx%d image: %s", name, w, h,
                    clconv_status_str(st));
        goto cleanup;
    }
    for (y = 0; y < h; y++)
        clconv__gray_row(out, y, px + (size_t)y * (size_t)w * (size_t)comp, comp);
cleanup:
    stbi_image_free(px);
    return st;
}

clconv_status clconv__decode_stb(const clconv__decode_args *a, const char *kind,
                                 char *err)
{
    int w = 0, h = 0;
    clconv_status st = clconv__stb_check(a, kind, &w, &h, err);
    return st == CLCONV_OK ? clconv__stb_pixels(a, kind, w, h, err) : st;
}

int clconv__encode_tga(const clconv__encode_args *a)
{
    return stbi_write_tga_to_func(a->fn, a->ctx, a->p->width, a->p->height, 1,
                                  a->u8);
}
