/* image.c — decoding files into Pillow-exact gray planes, resizing, mapping
 * float results to 8 bits and writing outputs atomically (temp file + rename).
 * stb_image decodes, stb_image_write encodes; .npy is read and written here.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE) */
#include "clconv_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

/* Input files above this size are refused before reading (a 16k x 16k
 * uncompressed RGBA BMP is 1 GiB). */
#define MAX_FILE_BYTES (2LL << 30)
/* Planes at least this large are placed on huge pages (see plane_alloc). */
#define HUGE_PLANE ((size_t)8 << 20)

clconv_status clconv_plane_alloc(clconv_plane *p, int width, int height)
{
    size_t n;
    p->width = p->height = 0;
    p->data = NULL;
    if (width < 1 || height < 1) return CLCONV_E_INVALID;
    if (!clconv__mul_ok((size_t)width, (size_t)height, sizeof(float), &n))
        return CLCONV_E_TOO_LARGE;
    if (n >= HUGE_PLANE) {
        /* A fresh plane is written once right away (decode, pad, result):
         * with 4 KiB pages that is a page fault per 1024 floats, most of the
         * time of a host pass over a big image. Ask for 2 MiB pages where
         * the kernel gives them on request (transparent huge pages). */
        void *mem = NULL;
        if (posix_memalign(&mem, (size_t)2 << 20, n) != 0) mem = NULL;
#ifdef MADV_HUGEPAGE
        if (mem) (void)madvise(mem, n, MADV_HUGEPAGE);
#endif
        p->data = mem;
    } else {
        p->data = malloc(n);
    }
    if (!p->data) return CLCONV_E_NOMEM;
    p->width = width;
    p->height = height;
    return CLCONV_OK;
}

void clconv_plane_free(clconv_plane *p)
{
    if (!p) return;
    free(p->data);
    p->data = NULL;
    p->width = p->height = 0;
}

void clconv_image8_free(clconv_image8 *p)
{
    if (!p) return;
    free(p->data);
    p->data = NULL;
    p->width = p->height = 0;
}

clconv_status clconv__gray_alloc(clconv__gray *g, int w, int h)
{
    size_t n;
    if (g->f) return clconv_plane_alloc(g->f, w, h);
    g->b->width = g->b->height = 0;
    if (w < 1 || h < 1) return CLCONV_E_INVALID;
    if (!clconv__mul_ok((size_t)w, (size_t)h, 1, &n)) return CLCONV_E_TOO_LARGE;
    g->b->data = malloc(n);
    if (!g->b->data) return CLCONV_E_NOMEM;
    g->b->width = w;
    g->b->height = h;
    return CLCONV_OK;
}

void clconv__gray_free(clconv__gray *g)
{
    if (g->f) clconv_plane_free(g->f);
    if (g->b) clconv_image8_free(g->b);
}

void clconv__gray_row(clconv__gray *g, int y, const unsigned char *px, int comp)
{
    const size_t w = g->f ? (size_t)g->f->width : (size_t)g->b->width;
    size_t x;
    if (g->b) {
        unsigned char *o = g->b->data + (size_t)y * w;
        if (comp >= 3) {
            /* Pillow's L24: ITU-R 601-2 luma in 16-bit fixed point. */
            for (x = 0; x < w; x++, px += comp)
                o[x] = (unsigned char)((19595u * px[0] + 38470u * px[1] +
                                        7471u * px[2] + 0x8000u) >> 16);
        } else {
            for (x = 0; x < w; x++, px += comp) o[x] = px[0];
        }
    } else {
        float *o = g->f->data + (size_t)y * w;
        if (comp >= 3) {
            for (x = 0; x < w; x++, px += comp)
                o[x] = (float)((19595u * px[0] + 38470u * px[1] +
                                7471u * px[2] + 0x8000u) >> 16);
        } else {
            for (x = 0; x < w; x++, px += comp) o[x] = (float)px[0];
        }
    }
}

/* ------------------------------------------------------------ reading */

static clconv_status read_file(const char *path, unsigned char **buf,
                               size_t *len, char *err)
{
    clconv_status st = CLCONV_OK;
    FILE *fp = NULL;
    struct stat sb;
    unsigned char *b = NULL;
    size_t got = 0;

    *buf = NULL;
    *len = 0;
    fp = fopen(path, "rb");
    if (!fp) {
        clconv__err(err, "%s: cannot open: %s", path, strerror(errno));
        return CLCONV_E_IO;
    }
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        clconv__err(err, "%s: not a regular file", path);
        st = CLCONV_E_IO;
        goto cleanup;
    }
    if ((long long)sb.st_size > MAX_FILE_BYTES) {
        clconv__err(err, "%s: file too large (%lld bytes)", path,
                    (long long)sb.st_size);
        st = CLCONV_E_TOO_LARGE;
        goto cleanup;
    }
    b = malloc((size_t)sb.st_size + 1);
    if (!b) {
        clconv__err(err, "%s: out of memory reading the file", path);
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    got = fread(b, 1, (size_t)sb.st_size, fp);
    if (ferror(fp) || got != (size_t)sb.st_size) {
        clconv__err(err, "%s: read error: %s", path,
                    ferror(fp) ? strerror(errno) : "file changed while read");
        st = CLCONV_E_IO;
        goto cleanup;
    }
    *buf = b;
    *len = got;
    b = NULL;
cleanup:
    free(b);
    if (fp) fclose(fp);
    return st;
}

clconv_status clconv_image_load(const char *path, long long max_pixels,
                                clconv_plane *out, char *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    clconv_status st;

    out->data = NULL;
    out->width = out->height = 0;
    st = read_file(path, &buf, &len, err);
    if (st == CLCONV_OK)
        st = clconv_image_load_memory(buf, len, path, max_pixels, out, err);
    free(buf);
    return st;
}

/* What kind of file the first bytes announce, for messages stb cannot give. */
static const char *sniff(const unsigned char *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "JPEG";
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "GIF";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0))
        return "TIFF";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return "WebP";
    if (n >= 6 && memcmp(b, "\x93NUMPY", 6) == 0) return "NPY";
    if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') return "PNM";
    return NULL;
}

/* Decoders fill missing data with gray instead of failing; a JPEG
 * whose last scan (SOS) is not followed by an end-of-image marker is cut. */
static int jpeg_truncated(const unsigned char *b, size_t n)
{
    size_t i, last_sos = 0, last_eoi = 0;
    for (i = 2; i + 1 < n; i++) {
        if (b[i] != 0xFF) continue;
        if (b[i + 1] == 0xDA) last_sos = i;
        else if (b[i + 1] == 0xD9) last_eoi = i;
    }
    return last_sos == 0 || last_eoi < last_sos;
}

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

static clconv_status load_npy(const unsigned char *b, size_t n,
                              const char *name, long long max_pixels,
                              clconv_plane *out, char *err);

/* Decodes into *out; a .npy file always into *npy (floats). */
static clconv_status decode(const unsigned char *buf, size_t len,
                            const char *name, long long max_pixels,
                            clconv__gray *out, clconv_plane *npy, char *err)
{
    clconv_status st = CLCONV_OK;
    unsigned char *px = NULL;
    const char *kind;
    int w = 0, h = 0, comp = 0, y;
    size_t npx;

    if (len == 0) {
        clconv__err(err, "%s: empty file", name);
        return CLCONV_E_DECODE;
    }
    if (len > (size_t)INT32_MAX) {
        clconv__err(err, "%s: file too large", name);
        return CLCONV_E_TOO_LARGE;
    }
    kind = sniff(buf, len);
    if (kind && strcmp(kind, "NPY") == 0)
        return load_npy(buf, len, name, max_pixels, npy, err);
    if (kind && strcmp(kind, "JPEG") == 0) {
        /* libjpeg only warns about a cut file, and fills the rest gray. */
        if (jpeg_truncated(buf, len)) {
            clconv__err(err, "%s: truncated JPEG (no end-of-image marker)", name);
            return CLCONV_E_DECODE;
        }
        return clconv__load_jpeg(buf, len, name, max_pixels, out, err);
    }
    if (kind && (strcmp(kind, "TIFF") == 0 || strcmp(kind, "WebP") == 0)) {
        clconv__err(err, "%s: %s images are not supported (use PNG, JPEG, "
                    "BMP, TGA, GIF, PNM or NPY)", name, kind);
        return CLCONV_E_DECODE;
    }
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
    if (kind && strcmp(kind, "PNG") == 0) {
        /* The common PNGs: zlib's inflate, much faster than stb's. */
        st = clconv__png_fast(buf, len, name, max_pixels, out, err);
        if (st != CLCONV__NOT_MINE) return st;
        st = CLCONV_OK;
    }
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

clconv_status clconv_image_load_memory(const unsigned char *buf, size_t len,
                                       const char *name, long long max_pixels,
                                       clconv_plane *out, char *err)
{
    clconv__gray g = {out, NULL};
    out->data = NULL;
    out->width = out->height = 0;
    return decode(buf, len, name, max_pixels, &g, out, err);
}

clconv_status clconv_image_load8(const char *path, long long max_pixels,
                                 clconv_image8 *out8, clconv_plane *out,
                                 char *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    clconv_status st;
    clconv__gray g = {NULL, out8};

    out->data = NULL;
    out->width = out->height = 0;
    out8->data = NULL;
    out8->width = out8->height = 0;
    st = read_file(path, &buf, &len, err);
    if (st == CLCONV_OK) st = decode(buf, len, path, max_pixels, &g, out, err);
    free(buf);
    return st;
}

/* Counts the numbers of a "(a, b, ...)" tuple. */
static int tuple_items(const char *d)
{
    int items = 0, in_num = 0;
    for (d++; *d && *d != ')'; d++) {
        int digit = *d >= '0' && *d <= '9';
        if (digit && !in_num) items++;
        in_num = digit;
    }
    return items;
}

/* .npy input: version 1/2 headers, 2-D, C order, <f4, <f8 or |u1. */
static clconv_status load_npy(const unsigned char *b, size_t n,
                              const char *name, long long max_pixels,
                              clconv_plane *out, char *err)
{
    size_t hlen, off, i, npx, esz;
    char hdr[1024];
    const char *d, *s;
    long long hh, ww;
    int kind; /* 0 f4, 1 f8, 2 u1 */
    clconv_status st;

    if (n < 10) goto bad;
    if (b[6] == 1) { hlen = b[8] | (size_t)b[9] << 8; off = 10; }
    else if (b[6] == 2 || b[6] == 3) {
        if (n < 12) goto bad;
        hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
               (size_t)b[11] << 24;
        off = 12;
    } else goto bad;
    if (hlen >= sizeof hdr || off + hlen > n) goto bad;
    memcpy(hdr, b + off, hlen);
    hdr[hlen] = 0;
    off += hlen;
    if (strstr(hdr, "'fortran_order': True")) {
        clconv__err(err, "%s: Fortran-order .npy arrays are not supported",
                    name);
        return CLCONV_E_DECODE;
    }
    if (strstr(hdr, "'<f4'")) { kind = 0; esz = 4; }
    else if (strstr(hdr, "'<f8'")) { kind = 1; esz = 8; }
    else if (strstr(hdr, "'|u1'")) { kind = 2; esz = 1; }
    else {
        clconv__err(err, "%s: .npy dtype must be <f4, <f8 or |u1", name);
        return CLCONV_E_DECODE;
    }
    s = strstr(hdr, "'shape':");
    if (!s) goto bad;
    d = strchr(s, '(');
    /* Exactly two numbers in the tuple: "(H, W)" or "(H, W,)". */
    if (!d || sscanf(d, "(%lld, %lld", &hh, &ww) != 2 ||
        !strchr(d, ')') || tuple_items(d) != 2) {
        clconv__err(err, "%s: .npy array must be 2-D (height, width)", name);
        return CLCONV_E_DECODE;
    }
    if (hh < 1 || ww < 1 || hh > INT32_MAX || ww > INT32_MAX) goto bad;
    if (max_pixels > 0 && hh * ww > max_pixels) {
        clconv__err(err, "%s: %lldx%lld is %lld pixels, over the limit of "
                    "%lld (--max-pixels)", name, ww, hh, hh * ww, max_pixels);
        return CLCONV_E_TOO_LARGE;
    }
    if (!clconv__mul_ok((size_t)hh, (size_t)ww, esz, &npx)) goto bad;
    if (off + npx > n) {
        clconv__err(err, "%s: truncated .npy (data shorter than its shape)",
                    name);
        return CLCONV_E_DECODE;
    }
    st = clconv_plane_alloc(out, (int)ww, (int)hh);
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot allocate the plane: %s", name,
                    clconv_status_str(st));
        return st;
    }
    npx = (size_t)hh * (size_t)ww;
    for (i = 0; i < npx; i++) {
        const unsigned char *p = b + off + i * esz;
        if (kind == 0) { float f; memcpy(&f, p, 4); out->data[i] = f; }
        else if (kind == 1) { double v; memcpy(&v, p, 8); out->data[i] = (float)v; }
        else out->data[i] = p[0];
    }
    return CLCONV_OK;
bad:
    clconv__err(err, "%s: corrupt or truncated NPY header", name);
    return CLCONV_E_DECODE;
}

/* ------------------------------------------------------------ resize */

clconv_status clconv_plane_resize(const clconv_plane *in, int width, int height,
                                  clconv_plane *out, char *err)
{
    clconv_status st = clconv_plane_alloc(out, width, height);
    if (st != CLCONV_OK) {
        clconv__err(err, "cannot allocate a %dx%d plane for --resize: %s",
                    width, height, clconv_status_str(st));
        return st;
    }
    if (!stbir_resize_float(in->data, in->width, in->height, 0, out->data,
                            width, height, 0, 1)) {
        clconv_plane_free(out);
        clconv__err(err, "resize to %dx%d failed", width, height);
        return CLCONV_E_NOMEM;
    }
    return CLCONV_OK;
}

/* ------------------------------------------------------------ mapping */

static unsigned char to_u8(double v)
{
    /* rint: round half to even in the default rounding mode. */
    v = rint(v);
    if (v <= 0) return 0;
    if (v >= 255) return 255;
    return (unsigned char)v;
}

void clconv_plane_to_u8(const clconv_plane *p, clconv_map map,
                        unsigned char *out8, long long *nan_count)
{
    size_t i, n = (size_t)p->width * (size_t)p->height;
    long long nans = 0;
    double lo = INFINITY, hi = -INFINITY, scale = 0;

    if (map == CLCONV_MAP_NORMALIZE) {
        for (i = 0; i < n; i++) {
            float v = p->data[i];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (hi > lo) scale = 255.0 / (hi - lo);
    }
    for (i = 0; i < n; i++) {
        double v = p->data[i];
        if (isnan(v)) {
            nans++;
            out8[i] = 0;
            continue;
        }
        switch (map) {
        case CLCONV_MAP_ABS: out8[i] = to_u8(fabs(v)); break;
        case CLCONV_MAP_NORMALIZE:
            out8[i] = scale > 0 ? to_u8((v - lo) * scale) : 0;
            break;
        default: out8[i] = to_u8(v); break;
        }
    }
    if (nan_count) *nan_count = nans;
}

/* ------------------------------------------------------------ writing */

typedef struct sink {
    FILE *fp;
    int failed;
    int fault_after; /* test switch: fail once this many bytes went out */
    long long written;
} sink;

static void sink_write(void *ctx, void *data, int size)
{
    sink *s = ctx;
    if (s->failed || size <= 0) return;
    if (s->fault_after >= 0 && s->written + size > s->fault_after) {
        /* Write part of it for real, so the temp file is not empty. */
        size_t part = (size_t)(s->fault_after - s->written);
        if (part) fwrite(data, 1, part, s->fp);
        errno = ENOSPC;
        s->failed = errno;
        return;
    }
    if (fwrite(data, 1, (size_t)size, s->fp) != (size_t)size)
        s->failed = errno ? errno : EIO;
    s->written += size;
}

static int write_npy(sink *s, const clconv_plane *p)
{
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr,
                     "{'descr': '<f4', 'fortran_order': False, "
                     "'shape': (%d, %d), }", p->height, p->width);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    int hlen = n + pad + 1;
    size_t row;
    pre[8] = (unsigned char)(hlen & 0xFF);
    pre[9] = (unsigned char)(hlen >> 8);
    memset(hdr + n, ' ', (size_t)pad);
    hdr[n + pad] = '\n';
    sink_write(s, pre, 10);
    sink_write(s, hdr, hlen);
    /* x86 and ARM are little-endian; '<f4' is the bytes as they lie. */
    for (row = 0; row < (size_t)p->height && !s->failed; row++)
        sink_write(s, p->data + row * (size_t)p->width,
                   (int)((size_t)p->width * sizeof(float)));
    return !s->failed;
}

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return "";
    return dot + 1;
}

int clconv_format_supported(const char *path)
{
    const char *e = ext_of(path);
    return !strcasecmp(e, "png") || !strcasecmp(e, "jpg") ||
           !strcasecmp(e, "jpeg") || !strcasecmp(e, "bmp") ||
           !strcasecmp(e, "tga") || !strcasecmp(e, "npy");
}

static mode_t file_mode(void)
{
    /* Outputs get the permissions a plain open(2) would give them. */
    static mode_t mode;
    static int done;
    if (!done) {
        mode_t m = umask(022);
        umask(m);
        mode = 0666 & ~m;
        done = 1;
    }
    return mode;
}

clconv_status clconv_image_save(const char *path, const clconv_plane *p,
                                clconv_map map, int quality,
                                long long *nan_count, char *err)
{
    clconv_status st = CLCONV_OK;
    const char *e = ext_of(path);
    const char *slash = strrchr(path, '/');
    char *tmp = NULL;
    unsigned char *u8 = NULL;
    sink s = {NULL, 0, -1, 0};
    int fd = -1, ok = 0;
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;

    if (nan_count) *nan_count = 0;
    if (!clconv_format_supported(path)) {
        clconv__err(err, "%s: unknown output format '.%s' (use .png, .jpg, "
                    ".bmp, .tga or .npy)", path, e);
        return CLCONV_E_INVALID;
    }
    if (clconv__fault_on("write", path)) s.fault_after = 100;
    tmp = malloc(dirlen + 32);
    if (!tmp) {
        clconv__err(err, "%s: out of memory", path);
        return CLCONV_E_NOMEM;
    }
    memcpy(tmp, path, dirlen);
    strcpy(tmp + dirlen, ".clconv-tmp-XXXXXX");
    fd = mkstemp(tmp);
    if (fd < 0) {
        clconv__err(err, "%s: cannot create the output: %s", path,
                    strerror(errno));
        free(tmp);
        return CLCONV_E_IO;
    }
    (void)fchmod(fd, file_mode());
    s.fp = fdopen(fd, "wb");
    if (!s.fp) {
        close(fd);
        clconv__err(err, "%s: cannot write: %s", path, strerror(errno));
        st = CLCONV_E_IO;
        goto cleanup;
    }
    if (!strcasecmp(e, "npy")) {
        long long nans = 0;
        size_t i, n = (size_t)p->width * (size_t)p->height;
        for (i = 0; i < n; i++) nans += isnan(p->data[i]) != 0;
        if (nan_count) *nan_count = nans;
        write_npy(&s, p);
    } else {
        int w = p->width, h = p->height, r = 0;
        u8 = malloc((size_t)w * (size_t)h);
        if (!u8) {
            clconv__err(err, "%s: out of memory", path);
            st = CLCONV_E_NOMEM;
            goto cleanup;
        }
        clconv_plane_to_u8(p, map, u8, nan_count);
        if (!strcasecmp(e, "png"))
            r = stbi_write_png_to_func(sink_write, &s, w, h, 1, u8, w);
        else if (!strcasecmp(e, "bmp"))
            r = clconv__write_bmp_gray(sink_write, &s, w, h, u8);
        else if (!strcasecmp(e, "tga"))
            r = stbi_write_tga_to_func(sink_write, &s, w, h, 1, u8);
        else
            r = clconv__write_jpeg_gray(sink_write, &s, w, h, u8, quality);
        if (!r && !s.failed) {
            clconv__err(err, "%s: the encoder failed (%dx%d too large for the "
                        "format?)", path, w, h);
            st = CLCONV_E_IO;
            goto cleanup;
        }
    }
    if (fflush(s.fp) != 0 && !s.failed) s.failed = errno;
    if (s.failed) {
        clconv__err(err, "%s: write failed: %s", path, strerror(s.failed));
        st = CLCONV_E_IO;
        goto cleanup;
    }
    ok = 1;
cleanup:
    if (s.fp && fclose(s.fp) != 0 && ok) {
        clconv__err(err, "%s: write failed: %s", path, strerror(errno));
        st = CLCONV_E_IO;
        ok = 0;
    }
    if (ok && rename(tmp, path) != 0) {
        clconv__err(err, "%s: cannot rename the output into place: %s", path,
                    strerror(errno));
        st = CLCONV_E_IO;
        ok = 0;
    }
    if (!ok) unlink(tmp);
    free(tmp);
    free(u8);
    return st;
}
