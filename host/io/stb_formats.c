/* stb_formats.c — BMP, TGA and GIF through stb_image (and the PNGs png.c
 * leaves to stb, 16-bit ones at full depth): the header checked before any
 * pixel is decoded (sizes, --max-pixels, data shorter than the header
 * says, which stb would fill with zeros or the background: raw pixels, TGA
 * runs, a GIF frame's blocks), then stb's decode under an allocation cap,
 * and the gray rows (or, under --color, the channels: palette expanded,
 * a GIF as RGBA); stb's reasons only when they say something. TGA output
 * is stb_image_write's.
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

/* Walks a GIF sub-block chain from *off past its empty terminator; 0 when
 * the file ends inside it. */
static int gif_blocks(const unsigned char *b, size_t n, size_t *off)
{
    for (;;) {
        size_t len;
        if (*off >= n) return 0;
        len = b[(*off)++];
        if (len == 0) return 1;
        if (n - *off < len) return 0;
        *off += len;
    }
}

/* stb fills a GIF frame whose data is cut with the background and says
 * nothing (Pillow refuses it). The first frame's blocks must all be there:
 * extensions, the image descriptor, its colour table and LZW data. */
static int gif_truncated(const unsigned char *b, size_t n)
{
    size_t off = 13;
    if (n < 13) return 1;
    if (b[10] & 0x80) off += (size_t)3 << ((b[10] & 7) + 1);
    for (;;) {
        if (off >= n) return 1;
        if (b[off] == 0x21) { /* extension: label, then sub-blocks */
            off += 2;
            if (!gif_blocks(b, n, &off)) return 1;
        } else if (b[off] == 0x2C) { /* image descriptor */
            unsigned f;
            if (n - off < 10) return 1;
            f = b[off + 9];
            off += 10;
            if (f & 0x80) off += (size_t)3 << ((f & 7) + 1);
            off += 1; /* LZW minimum code size */
            return off > n || !gif_blocks(b, n, &off);
        } else {
            return 0; /* the trailer or junk: stb says what it is */
        }
    }
}

/* TGA run-length data (types 9-11): its packets must cover every pixel;
 * stb fills what is missing. */
static int tga_rle_truncated(const unsigned char *b, size_t n, long long w,
                             long long h)
{
    const size_t cmap = b[1] == 1 ? (size_t)le16(b + 5) * ((b[7] + 7u) / 8u) : 0;
    const size_t px = (b[16] + 7u) / 8u;
    size_t off = 18 + (size_t)b[0] + cmap;
    unsigned long long left = (unsigned long long)w * (unsigned long long)h;
    while (left > 0) {
        size_t cnt, len;
        if (off >= n) return 1;
        cnt = (size_t)(b[off] & 127) + 1;
        len = (b[off] & 128) ? px : px * cnt;
        if (n - off - 1 < len) return 1;
        off += 1 + len;
        left -= cnt < left ? cnt : left;
    }
    return 0;
}

/* stb reads uncompressed TGA and BMP pixel data without checking that the
 * file holds all of it, and gives back whatever the buffer held; it fills
 * a cut GIF frame or TGA run-length data too. The header says how much
 * must follow: NULL when it is all there, else what is missing. */
static const char *truncated(const unsigned char *b, size_t n, const char *kind,
                             long long w, long long h)
{
    static const char *const short_data =
        "the pixel data is shorter than its header says";
    size_t off, need;
    if (w < 1 || h < 1) return NULL;
    if (strcmp(kind, "GIF") == 0 && gif_truncated(b, n))
        return "the first frame's data ends before its last block";
    if (strcmp(kind, "TGA") == 0 && n >= 18 && b[2] >= 9 && b[2] <= 11 &&
        tga_rle_truncated(b, n, w, h))
        return "its run-length data ends before the last pixel";
    if (strcmp(kind, "TGA") == 0 && n >= 18 && b[2] >= 1 && b[2] <= 3) {
        size_t cmap = b[1] == 1 ? (size_t)le16(b + 5) * ((b[7] + 7u) / 8u) : 0;
        off = 18 + (size_t)b[0] + cmap;
        need = (size_t)w * (size_t)h * ((b[16] + 7u) / 8u);
        return off > n || n - off < need ? short_data : NULL;
    }
    if (strcmp(kind, "BMP") == 0 && n >= 34 && le16(b + 14) >= 40 &&
        (le16(b + 30) == 0 || le16(b + 30) == 3 || le16(b + 30) == 6) &&
        le16(b + 32) == 0) { /* BI_RGB, BI_(ALPHA)BITFIELDS: uncompressed */
        size_t bpp = le16(b + 28);
        off = le16(b + 10) | (size_t)le16(b + 12) << 16;
        need = ((size_t)w * bpp + 31) / 32 * 4 * (size_t)h;
        return bpp > 0 && (off > n || n - off < need) ? short_data : NULL;
    }
    return NULL;
}

/* stb's reason for its last failure, or `fallback` when it has none that
 * means anything: stale, empty, "unknown image type" after a format's own
 * test passed, or an unknown chunk's type made of the zeros stb reads past
 * the end of a cut file. */
static const char *stb_reason(const char *fallback)
{
    const char *r = stbi_failure_reason();
    size_t i;
    if (!r || strlen(r) < 4 || strcmp(r, "unknown image type") == 0)
        return fallback;
    for (i = 0; r[i]; i++)
        if ((unsigned char)r[i] < 32 || (unsigned char)r[i] > 126) return fallback;
    if (strstr(r, "PNG chunk not known")) {
        for (i = 0; i < 4; i++)
            if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= 'A' && r[i] <= 'Z')))
                return fallback;
    }
    return r;
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
    clconv__stbi_reset();
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
                        stb_reason("unreadable header"));
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
        const char *cut = k ? truncated(buf, len, k, w, h) : NULL;
        if (cut) {
            clconv__err(err, "%s: truncated %s (%dx%d: %s)", name, k, w, h, cut);
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
    clconv__stbi_reset();
    px = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, 0);
    clconv__stbi_cap = 0;
    if (!px && clconv__stbi_capped) {
        clconv__err(err, "%s: corrupt %s: its data expands far past what a "
                    "%dx%d image needs (a decompression bomb?)", name,
                    kind ? kind : "image", w, h);
        return CLCONV_E_DECODE;
    }
    if (!px) {
        const char *why = stb_reason("the data is corrupt or cut short");
        if (strcmp(why, "outofmem") == 0) {
            clconv__err(err, "%s: out of memory decoding %dx%d", name, w, h);
            return CLCONV_E_NOMEM;
        }
        clconv__err(err, "%s: corrupt or truncated %s (%s)", name,
                    kind ? kind : "image", why);
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

/* 16-bit PNGs: stb's 16-bit decode into the float plane `npy`, each
 * sample the number it stores; colour by Pillow's luma formula on 16-bit
 * samples, in 64-bit integers (DESIGN §6). */
clconv_status clconv__stb_pixels16(const clconv__decode_args *a, int w, int h,
                                   char *err)
{
    clconv_status st;
    stbi_us *px;
    size_t i, n;
    int comp = 0;

    clconv__stbi_cap = (size_t)w * (size_t)h * 8 + (size_t)h * 2 + a->len +
                       ((size_t)16 << 20);
    clconv__stbi_capped = 0;
    clconv__stbi_reset();
    px = stbi_load_16_from_memory(a->buf, (int)a->len, &w, &h, &comp, 0);
    clconv__stbi_cap = 0;
    if (!px) {
        if (clconv__stbi_capped)
            clconv__err(err, "%s: corrupt PNG: its data expands far past what "
                        "a %dx%d image needs (a decompression bomb?)", a->name,
                        w, h);
        else
            clconv__err(err, "%s: corrupt or truncated PNG (%s)", a->name,
                        stb_reason("the data is corrupt or cut short"));
        return CLCONV_E_DECODE;
    }
    st = a->out->c ? clconv__color_alloc(a->out, w, h) : clconv_plane_alloc(a->npy, w, h);
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot allocate a %dx%d image: %s", a->name, w, h,
                    clconv_status_str(st));
        stbi_image_free(px);
        return st;
    }
    n = (size_t)w * (size_t)h;
    for (i = 0; i < n && a->out->c; i++) {
        const stbi_us *p = px + i * (size_t)comp;
        unsigned s4[4] = {0, 0, 0, 0};
        int k;
        for (k = 0; k < comp && k < 4; k++) s4[k] = p[k];
        clconv__color_px16(a->out, i, s4, comp);
    }
    for (i = 0; i < n && !a->out->c; i++) {
        const stbi_us *p = px + i * (size_t)comp;
        a->npy->data[i] = comp < 3 ? (float)p[0] : (float)(
            (19595ULL * p[0] + 38470ULL * p[1] + 7471ULL * p[2] + 32768ULL) >> 16);
    }
    stbi_image_free(px);
    return CLCONV_OK;
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
    return stbi_write_tga_to_func(a->fn, a->ctx, a->p->width, a->p->height,
                                  a->channels > 1 ? a->channels : 1, a->u8);
}
