/* tiff.c — the TIFF codec, through libtiff: reads 8/16-bit integer
 * (unsigned, or signed as their values) and 32-bit float samples, gray,
 * gray+alpha, RGB and RGBA (gray mode: alpha ignored, RGB to gray by
 * Pillow's luma, 16-bit in 64-bit integers; --color: every channel kept),
 * 8-bit palette colour, contiguous or planar, strips or tiles, every
 * compression the linked libtiff decodes, one page of a multi-page stack
 * at a time; writes gray, gray+alpha, RGB and RGBA at 8/16-bit and float32,
 * deflate, BigTIFF when the file could pass 4 GiB, as one file or page by
 * page into an open stack file (clconv__tiff_out). Everything else is
 * refused in one line that says what the file holds. Every page's header
 * is checked (page count and directory loops from the raw bytes, pixel
 * limit, strip and tile tables against the file size) before any pixel
 * buffer is allocated.
 * libtiff never prints: its errors and warnings go to per-file handlers
 * and the first error into the message. It must not know about devices or
 * the CLI, and must not print.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <pthread.h>
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

/* ---- libtiff's I/O and messages, in memory ---- */

typedef struct mem {
    unsigned char *buf;         /* the file (reading) or what is written */
    size_t len, cap, pos;
    int writable, failed;
    int fd;                     /* >= 0: a file (a stack being written) */
    long long fault_after;      /* test switch: fail past this many bytes
                                   (-1: never) */
    const char *name;           /* the file's, which libtiff's messages
                                   may start with */
    char why[256];              /* libtiff's first error */
} mem;

static tmsize_t mem_read(thandle_t h, void *d, tmsize_t n)
{
    mem *m = h;
    size_t k = m->pos < m->len ? m->len - m->pos : 0;
    if (n < 0) return -1;
    if ((size_t)n < k) k = (size_t)n;
    memcpy(d, m->buf + m->pos, k);
    m->pos += k;
    return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *d, tmsize_t n)
{
    mem *m = h;
    if (!m->writable || n < 0 || m->failed) return -1;
    if (m->pos + (size_t)n > m->cap) {
        size_t c = m->cap ? m->cap : 65536;
        unsigned char *b;
        while (c < m->pos + (size_t)n) c *= 2;
        if (!(b = realloc(m->buf, c))) {
            m->failed = 1;
            return -1;
        }
        m->buf = b;
        m->cap = c;
    }
    if (m->pos > m->len) memset(m->buf + m->len, 0, m->pos - m->len);
    memcpy(m->buf + m->pos, d, (size_t)n);
    m->pos += (size_t)n;
    if (m->pos > m->len) m->len = m->pos;
    return n;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
    mem *m = h;
    unsigned long long base = whence == SEEK_CUR ? m->pos
                              : whence == SEEK_END ? m->len : 0;
    const long long d = (long long)off;  /* SEEK_CUR/END may go back */
    unsigned long long to = whence == SEEK_SET ? (unsigned long long)off
                            : base + (unsigned long long)d;
    if (to > (unsigned long long)SIZE_MAX / 2) return (toff_t)-1;
    m->pos = (size_t)to;
    return (toff_t)to;
}

static int mem_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t mem_size(thandle_t h)
{
    return ((mem *)h)->len;
}

static int mem_map(thandle_t h, void **base, toff_t *size)
{
    mem *m = h;
    if (m->writable) return 0;
    *base = m->buf;
    *size = m->len;
    return 1;
}

static void mem_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h, (void)base, (void)size;
}

/* ---- the same through a file descriptor, for stacks written page by
 * page (libtiff reads back what it wrote to link the directories) ---- */

static tmsize_t fd_read(thandle_t h, void *d, tmsize_t n)
{
    mem *m = h;
    ssize_t r;
    if (n < 0) return -1;
    do r = read(m->fd, d, (size_t)n);
    while (r < 0 && errno == EINTR);
    return (tmsize_t)r;
}

static tmsize_t fd_write(thandle_t h, void *d, tmsize_t n)
{
    mem *m = h;
    size_t done = 0;
    if (n < 0 || m->failed) return -1;
    if (m->fault_after >= 0 && (long long)(m->len + (size_t)n) > m->fault_after) {
        m->failed = ENOSPC;
        return -1;
    }
    while (done < (size_t)n) {
        ssize_t r = write(m->fd, (char *)d + done, (size_t)n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            m->failed = r < 0 ? errno : EIO;
            return -1;
        }
        done += (size_t)r;
    }
    m->len += done;
    return n;
}

static toff_t fd_seek(thandle_t h, toff_t off, int whence)
{
    const off_t r = lseek(((mem *)h)->fd, (off_t)off, whence);
    return r < 0 ? (toff_t)-1 : (toff_t)r;
}

static toff_t fd_size(thandle_t h)
{
    struct stat sb;
    return fstat(((mem *)h)->fd, &sb) == 0 ? (toff_t)sb.st_size : 0;
}

static int fd_map(thandle_t h, void **base, toff_t *size)
{
    (void)h, (void)base, (void)size;
    return 0;
}

static int on_error(TIFF *t, void *user, const char *module, const char *fmt,
                    va_list ap)
{
    mem *m = user;
    size_t i, k;
    (void)t, (void)module;
    if (!m || m->why[0]) return 1;
    vsnprintf(m->why, sizeof m->why, fmt, ap);
    /* "name: why" names the file twice in our line: keep "why". */
    k = m->name ? strlen(m->name) : 0;
    if (k && strncmp(m->why, m->name, k) == 0 && m->why[k] == ':' && m->why[k + 1] == ' ')
        memmove(m->why, m->why + k + 2, strlen(m->why + k + 2) + 1);
    for (i = 0; m->why[i]; i++)
        if (m->why[i] == '\n' || m->why[i] == '\r') m->why[i] = ' ';
    return 1;
}

static int on_warning(TIFF *t, void *user, const char *module, const char *fmt,
                      va_list ap)
{
    (void)t, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

/* Clears libtiff's process-wide handlers, which print to stderr. */
static void quiet(void)
{
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
}

/* Opens m through libtiff with our handlers; NULL with m->why set. */
static TIFF *open_mem(mem *m, const char *name, const char *mode)
{
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    TIFF *t;
    /* Nothing libtiff says without a file handle may reach stderr. */
    pthread_once(&quiet_once, quiet);
    if (!o) {
        snprintf(m->why, sizeof m->why, "out of memory");
        return NULL;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, m);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, m);
    if (m->fd >= 0)
        t = TIFFClientOpenExt(name, mode, (thandle_t)m, fd_read, fd_write, fd_seek,
                              mem_close, fd_size, fd_map, mem_unmap, o);
    else
        t = TIFFClientOpenExt(name, mode, (thandle_t)m, mem_read, mem_write, mem_seek,
                              mem_close, mem_size, mem_map, mem_unmap, o);
    TIFFOpenOptionsFree(o);
    if (!t && !m->why[0]) snprintf(m->why, sizeof m->why, "not a TIFF file");
    return t;
}

/* ---- reading ---- */

/* What the first page holds. */
typedef struct layout {
    uint32_t w, h;
    uint16_t spp, bps, fmt, photo, planar, compr;
    int tiled, palette;
    unsigned char lut[256];     /* a palette's gray, by Pillow's luma */
    unsigned char pal[3][256];  /* and its colours (--color) */
    uint32_t tw, th, rps;
    size_t bytes;               /* bytes a sample */
} layout;

/* An n-byte unsigned integer of the file's byte order. */
static uint64_t get_u(const unsigned char *b, int le, int n)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < n; i++) v = (v << 8) | b[le ? n - 1 - i : i];
    return v;
}

/* Where directory `off` says the next one lies (*next), 0 when the
 * directory does not fit in the file. */
static int ifd_next(const unsigned char *b, size_t n, int le, int big, uint64_t off,
                    uint64_t *next)
{
    const int osz = big ? 8 : 4, csz = big ? 8 : 2, esz = big ? 20 : 12;
    uint64_t cnt, at;
    if (off > n || n - off < (uint64_t)csz) return 0;
    cnt = get_u(b + off, le, csz);
    if (cnt > (n - off - csz) / esz) return 0;
    at = off + csz + cnt * esz;
    if (n - at < (uint64_t)osz) return 0;
    *next = get_u(b + at, le, osz);
    return 1;
}

/* Walks the chain of directories in the raw bytes without allocating:
 * returns how many pages it holds, stopping once it passes `cap` (so a
 * million pages cost cap steps); *want_off receives the offset of page
 * `want` (0: none), *looped whether the chain comes back on itself
 * (Floyd's two pointers: found within twice the loop's length, no memory). */
/* walk_pages, and *broken: the chain ends in a directory that does not
 * fit in the file (a page lost, not the end of the stack). */
static long walk_chain(const unsigned char *b, size_t n, long cap, long want,
                       uint64_t *want_off, int *looped, int *broken)
{
    const int le = n >= 1 && b[0] == 'I', big = n >= 4 && get_u(b + 2, le, 2) == 43;
    uint64_t off, slow;
    long pages = 0;
    *looped = *broken = 0;
    if (want_off) *want_off = 0;
    if (n < (size_t)(big ? 16 : 8)) return 0;
    off = slow = get_u(b + (big ? 8 : 4), le, big ? 8 : 4);
    while (off != 0 && pages <= cap) {
        uint64_t next;
        if (!ifd_next(b, n, le, big, off, &next)) {
            *broken = 1;
            break;
        }
        if (pages == want && want_off) *want_off = off;
        pages++;
        off = next;
        if (pages % 2 == 0 && !ifd_next(b, n, le, big, slow, &slow)) break;
        if (off != 0 && off == slow) {
            *looped = 1;
            break;
        }
    }
    return pages;
}

static long walk_pages(const unsigned char *b, size_t n, long cap, long want,
                       uint64_t *want_off, int *looped)
{
    int broken;
    return walk_chain(b, n, cap, want, want_off, looped, &broken);
}

static const char *sample_name(const layout *l)
{
    switch (l->fmt) {
    case SAMPLEFORMAT_UINT: return "unsigned integers";
    case SAMPLEFORMAT_INT: return "signed integers";
    case SAMPLEFORMAT_IEEEFP: return "floats";
    case SAMPLEFORMAT_COMPLEXINT: return "complex integers";
    case SAMPLEFORMAT_COMPLEXIEEEFP: return "complex floats";
    default: return "untyped samples";
    }
}

static const char *photo_name(uint16_t p)
{
    switch (p) {
    case PHOTOMETRIC_MINISWHITE: return "white-is-zero gray";
    case PHOTOMETRIC_MINISBLACK: return "gray";
    case PHOTOMETRIC_RGB: return "RGB";
    case PHOTOMETRIC_PALETTE: return "palette color";
    case PHOTOMETRIC_MASK: return "transparency mask";
    case PHOTOMETRIC_SEPARATED: return "CMYK";
    case PHOTOMETRIC_YCBCR: return "YCbCr";
    case PHOTOMETRIC_CIELAB: case PHOTOMETRIC_ICCLAB: case PHOTOMETRIC_ITULAB:
        return "CIE L*a*b*";
    case PHOTOMETRIC_LOGL: case PHOTOMETRIC_LOGLUV: return "LogLuv";
    default: return "unknown photometric";
    }
}

/* Nonzero when clconv reads what l describes. */
static int supported(const layout *l)
{
    const int gray = l->photo == PHOTOMETRIC_MINISBLACK && (l->spp == 1 || l->spp == 2);
    const int rgb = (l->photo == PHOTOMETRIC_RGB ||
                     (l->photo == PHOTOMETRIC_YCBCR && l->compr == COMPRESSION_JPEG)) &&
                    (l->spp == 3 || l->spp == 4);
    const int ints = (l->fmt == SAMPLEFORMAT_UINT || l->fmt == SAMPLEFORMAT_INT) &&
                     (l->bps == 8 || l->bps == 16);
    const int flt = l->fmt == SAMPLEFORMAT_IEEEFP && l->bps == 32;
    if (l->photo == PHOTOMETRIC_PALETTE)
        return l->spp == 1 && l->bps == 8 && l->fmt == SAMPLEFORMAT_UINT;
    return (gray || rgb) && (ints || flt);
}

static int read_layout(TIFF *t, layout *l)
{
    memset(l, 0, sizeof *l);
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &l->w) ||
        !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &l->h) ||
        !TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &l->photo))
        return 0;
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &l->spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &l->bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &l->fmt);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &l->planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &l->compr);
    l->tiled = TIFFIsTiled(t);
    if (l->tiled) {
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &l->tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &l->th);
    } else {
        TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &l->rps);
        if (l->rps == 0 || l->rps > l->h) l->rps = l->h;
    }
    l->bytes = l->bps / 8;
    return 1;
}

/* The strip or tile tables: every chunk inside the file, and no more
 * chunks than the file has bytes. */
static int chunks_sane(TIFF *t, size_t len, char *why, size_t wn)
{
    const uint32_t n = TIFFIsTiled(t) ? TIFFNumberOfTiles(t) : TIFFNumberOfStrips(t);
    uint32_t i;
    if ((uint64_t)n > len) {
        snprintf(why, wn, "%lu %s in a %zu-byte file", (unsigned long)n,
                 TIFFIsTiled(t) ? "tiles" : "strips", len);
        return 0;
    }
    for (i = 0; i < n; i++) {
        const uint64_t off = TIFFGetStrileOffset(t, i);
        const uint64_t cnt = TIFFGetStrileByteCount(t, i);
        if (off > len || cnt > len - off) {
            snprintf(why, wn, "%s %lu lies beyond the end of the file",
                     TIFFIsTiled(t) ? "tile" : "strip", (unsigned long)i);
            return 0;
        }
    }
    return 1;
}

/* Bytes of one row of the raw buffer: all samples (contiguous) or one
 * plane's (planar), which then lie plane after plane. */
static size_t raw_row(const layout *l)
{
    return (size_t)l->w * l->bytes * (l->planar == PLANARCONFIG_SEPARATE ? 1u : l->spp);
}

static int read_strips(TIFF *t, const layout *l, unsigned char *raw)
{
    const uint32_t n = TIFFNumberOfStrips(t);
    const uint32_t per = (l->h + l->rps - 1) / l->rps;
    const size_t rb = raw_row(l), plane = rb * l->h;
    uint32_t s;
    for (s = 0; s < n; s++) {
        const uint32_t p = s / per, row = (s % per) * l->rps;
        const uint32_t rows = l->h - row < l->rps ? l->h - row : l->rps;
        const tmsize_t want = (tmsize_t)(rows * rb);
        if (p >= (l->planar == PLANARCONFIG_SEPARATE ? l->spp : 1u)) break;
        if (TIFFReadEncodedStrip(t, s, raw + p * plane + row * rb, want) != want)
            return 0;
    }
    return 1;
}

static int read_tiles(TIFF *t, const layout *l, unsigned char *raw)
{
    const uint16_t planes = l->planar == PLANARCONFIG_SEPARATE ? l->spp : 1;
    const size_t px = raw_row(l) / l->w, plane = raw_row(l) * l->h;
    const tmsize_t tsize = TIFFTileSize(t);
    unsigned char *tb;
    uint32_t x, y, r;
    uint16_t p;
    if (tsize <= 0 || l->tw == 0 || l->th == 0 ||
        (uint64_t)tsize < (uint64_t)l->tw * l->th * px || !(tb = malloc((size_t)tsize)))
        return 0;
    for (p = 0; p < planes; p++)
        for (y = 0; y < l->h; y += l->th)
            for (x = 0; x < l->w; x += l->tw) {
                const uint32_t cw = l->w - x < l->tw ? l->w - x : l->tw;
                if (TIFFReadTile(t, tb, x, y, 0, p) < 0) {
                    free(tb);
                    return 0;
                }
                for (r = 0; r < l->th && y + r < l->h; r++)
                    memcpy(raw + p * plane + ((size_t)(y + r) * l->w + x) * px,
                           tb + (size_t)r * l->tw * px, cw * px);
            }
    free(tb);
    return 1;
}

/* Sample c of pixel x of row y, as a double. */
static double sample(const layout *l, const unsigned char *raw, size_t x,
                     size_t y, size_t c)
{
    const unsigned char *s = l->planar == PLANARCONFIG_SEPARATE
        ? raw + ((c * l->h + y) * l->w + x) * l->bytes
        : raw + ((y * l->w + x) * l->spp + c) * l->bytes;
    if (l->fmt == SAMPLEFORMAT_IEEEFP) {
        float f;
        memcpy(&f, s, sizeof f);
        return f;
    }
    if (l->bps == 8) return l->fmt == SAMPLEFORMAT_INT ? (double)(int8_t)s[0] : s[0];
    {
        uint16_t u;
        memcpy(&u, s, sizeof u);
        return l->fmt == SAMPLEFORMAT_INT ? (double)(int16_t)u : u;
    }
}

/* Pillow's luma in 64-bit integers, rounded down (signed samples too). */
static float luma_int(double r, double g, double b)
{
    const long long v = 19595LL * (long long)r + 38470LL * (long long)g +
                        7471LL * (long long)b + 32768LL;
    return (float)(v >= 0 ? v / 65536 : -((-v + 65535) / 65536));
}

/* The raw samples into the gray destination: unsigned 8-bit ones as bytes
 * through clconv__gray_row, everything else into floats at full value. */
static clconv_status to_gray(const layout *l, const unsigned char *raw,
                             const clconv__decode_args *a)
{
    const int rgb = l->spp >= 3;
    size_t x, y;
    clconv_status st;
    if (l->bps == 8 && l->fmt == SAMPLEFORMAT_UINT) {
        unsigned char *row = malloc((size_t)l->w * l->spp);
        if (!row) return CLCONV_E_NOMEM;
        if ((st = clconv__gray_alloc(a->out, (int)l->w, (int)l->h)) == CLCONV_OK)
            for (y = 0; y < l->h; y++) {
                for (x = 0; x < (size_t)l->w * l->spp; x++)
                    row[x] = (unsigned char)sample(l, raw, x / l->spp, y, x % l->spp);
                if (l->palette)
                    for (x = 0; x < l->w; x++) row[x] = l->lut[row[x]];
                clconv__gray_row(a->out, (int)y, row, l->spp);
            }
        free(row);
        return st;
    }
    if ((st = clconv_plane_alloc(a->npy, (int)l->w, (int)l->h)) != CLCONV_OK) return st;
    for (y = 0; y < l->h; y++) {
        float *o = a->npy->data + y * l->w;
        for (x = 0; x < l->w; x++) {
            const double v = sample(l, raw, x, y, 0);
            if (!rgb) o[x] = (float)v;
            else if (l->fmt != SAMPLEFORMAT_IEEEFP)
                o[x] = luma_int(v, sample(l, raw, x, y, 1), sample(l, raw, x, y, 2));
            else
                o[x] = (float)((19595.0 * v + 38470.0 * sample(l, raw, x, y, 1) +
                                7471.0 * sample(l, raw, x, y, 2)) / 65536.0);
        }
    }
    return CLCONV_OK;
}

/* The depth a page's samples have: 8/16-bit unsigned as such, signed and
 * float samples as floats (their values). */
static clconv_depth depth_of(const layout *l)
{
    return l->fmt == SAMPLEFORMAT_UINT ? (l->bps == 8 ? CLCONV_DEPTH_8 : CLCONV_DEPTH_16)
                                       : CLCONV_DEPTH_FLOAT;
}

/* --color: the raw samples into the colour destination, every channel at
 * its value (gray: one, gray+alpha: two, RGB(A): three or four; a palette
 * expanded to RGB as Pillow's convert("RGB") does: the map's high byte). */
static clconv_status to_color(const layout *l, const unsigned char *raw,
                              const clconv__decode_args *a)
{
    clconv_image *c = a->out->c;
    const int nc = l->palette ? 3 : l->spp;
    size_t x, y;
    int k;
    clconv_status st = clconv__color_alloc(a->out, (int)l->w, (int)l->h);
    if (st != CLCONV_OK) return st;
    c->channels = nc;
    c->depth = depth_of(l);
    for (y = 0; y < l->h; y++)
        for (x = 0; x < l->w; x++) {
            const size_t i = y * l->w + x;
            if (l->palette) {
                const unsigned v = (unsigned)sample(l, raw, x, y, 0);
                for (k = 0; k < 3; k++) c->planes[k].data[i] = l->pal[k][v];
            } else {
                for (k = 0; k < nc; k++)
                    c->planes[k].data[i] = (float)sample(l, raw, x, y, (size_t)k);
            }
        }
    return CLCONV_OK;
}

_Thread_local clconv_depth clconv__decoded_depth;

/* An 8-bit palette's gray levels: each colour as Pillow takes it (the
 * 16-bit map's high byte, c / 256), then its luma. */
static int palette_lut(TIFF *t, layout *l)
{
    uint16_t *r, *g, *b;
    unsigned i;
    if (!TIFFGetField(t, TIFFTAG_COLORMAP, &r, &g, &b)) return 0;
    for (i = 0; i < 256; i++) {
        l->lut[i] = (unsigned char)((19595u * (r[i] >> 8) + 38470u * (g[i] >> 8) +
                                     7471u * (b[i] >> 8) + 0x8000u) >> 16);
        l->pal[0][i] = (unsigned char)(r[i] >> 8);
        l->pal[1][i] = (unsigned char)(g[i] >> 8);
        l->pal[2][i] = (unsigned char)(b[i] >> 8);
    }
    l->palette = 1;
    return 1;
}

/* Checks the first page against what clconv reads and the limits; 0 with
 * err set (and *st) when it is refused. */
static int check_page(TIFF *t, layout *l, const clconv__decode_args *a, mem *m,
                      clconv_status *st, char *err)
{
    char why[160];
    if (!read_layout(t, l)) {
        clconv__err(err, "%s: not a readable TIFF: %s", a->name,
                    m->why[0] ? m->why : "no size or photometric tag");
        return 0;
    }
    if (!supported(l)) {
        clconv__err(err, "%s: TIFF with %u sample%s per pixel of %u-bit %s (%s) is "
                    "not supported (clconv reads 8/16-bit integer and 32-bit float "
                    "gray, RGB and RGBA)", a->name, l->spp, l->spp == 1 ? "" : "s",
                    l->bps, sample_name(l), photo_name(l->photo));
        return 0;
    }
    if (l->w == 0 || l->h == 0 || l->w > INT32_MAX || l->h > INT32_MAX) {
        clconv__err(err, "%s: a TIFF of %ux%u pixels cannot be read", a->name,
                    l->w, l->h);
        *st = l->w && l->h ? CLCONV_E_TOO_LARGE : CLCONV_E_DECODE;
        return 0;
    }
    if (a->max_pixels > 0 && (long long)l->w * l->h > a->max_pixels) {
        clconv__err(err, "%s: %ux%u is %lld pixels, over the limit of %lld "
                    "(--max-pixels)", a->name, l->w, l->h, (long long)l->w * l->h,
                    a->max_pixels);
        *st = CLCONV_E_TOO_LARGE;
        return 0;
    }
    if (!chunks_sane(t, a->len, why, sizeof why)) {
        clconv__err(err, "%s: broken TIFF: %s", a->name, why);
        return 0;
    }
    if (l->photo == PHOTOMETRIC_YCBCR)
        TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    if (l->photo == PHOTOMETRIC_PALETTE && !palette_lut(t, l)) {
        clconv__err(err, "%s: broken TIFF: a palette image without its colour map",
                    a->name);
        return 0;
    }
    return 1;
}

/* Reads the checked first page into the destination. */
static clconv_status read_page(TIFF *t, const layout *l, const clconv__decode_args *a,
                               mem *m, char *err)
{
    unsigned char *raw;
    size_t n;
    clconv_status st;
    const size_t planes = l->planar == PLANARCONFIG_SEPARATE ? l->spp : 1u;
    if (!clconv__mul_ok(raw_row(l), l->h, planes, &n) ||
        !clconv__mul_ok((size_t)l->w * l->h, sizeof(float), 2, &n) ||
        !(raw = calloc(raw_row(l) * l->h, planes))) {
        clconv__err(err, "%s: cannot allocate a %ux%u image: %s", a->name, l->w,
                    l->h, clconv_status_str(CLCONV_E_NOMEM));
        return CLCONV_E_NOMEM;
    }
    if (!(l->tiled ? read_tiles(t, l, raw) : read_strips(t, l, raw))) {
        clconv__err(err, "%s: cannot decode the TIFF's pixels: %s", a->name,
                    m->why[0] ? m->why : "short or broken data");
        free(raw);
        return CLCONV_E_DECODE;
    }
    st = a->out->c ? to_color(l, raw, a) : to_gray(l, raw, a);
    free(raw);
    if (st != CLCONV_OK)
        clconv__err(err, "%s: cannot allocate a %ux%u image: %s", a->name, l->w,
                    l->h, clconv_status_str(st));
    else
        clconv__decoded_depth = depth_of(l);
    return st;
}

/* Opens the file and goes to page `page` (found by walk_pages at `off`). */
static TIFF *open_page(mem *m, const clconv__decode_args *a, long page, uint64_t off,
                       char *err)
{
    TIFF *t;
    memset(m, 0, sizeof *m);
    m->buf = (unsigned char *)a->buf;
    m->len = a->len;
    m->name = a->name;
    m->fd = -1;
    if (!(t = open_mem(m, a->name, "r"))) {
        clconv__err(err, "%s: not a readable TIFF: %s", a->name, m->why);
        return NULL;
    }
    if (page > 0 && !TIFFSetSubDirectory(t, off)) {
        clconv__err(err, "%s: page %ld is not readable: %s", a->name, page,
                    m->why[0] ? m->why : "a broken directory");
        TIFFClose(t);
        return NULL;
    }
    return t;
}

/* Refuses a chain of directories that loops, or that holds more than
 * max_pages (0: no limit) pages; CLCONV_OK, or the status
 * with err set. */
static clconv_status pages_ok(const clconv__decode_args *a, long long max_pages, long *pages,
                    char *err)
{
    const long cap = max_pages > 0 && max_pages < LONG_MAX ? (long)max_pages : LONG_MAX - 1;
    int looped, broken;
    *pages = walk_chain(a->buf, a->len, cap, -1, NULL, &looped, &broken);
    if (broken && *pages > 0 && *pages <= cap) {
        /* A page would be lost without a word. */
        clconv__err(err, "%s: broken TIFF: the directory of page %ld lies beyond the "
                    "end of the file", a->name, *pages);
        return CLCONV_E_DECODE;
    }
    if (*pages < 1) *pages = 1; /* the decoder says what is wrong */
    if (looped) {
        clconv__err(err, "%s: broken TIFF: its directories loop back on themselves "
                    "after %ld pages", a->name, *pages);
        return CLCONV_E_DECODE;
    }
    if (*pages > cap) {
        clconv__err(err, "%s: more than %ld pages, over the limit of %ld pages "
                    "(--max-pages)", a->name, cap, cap);
        return CLCONV_E_TOO_LARGE;
    }
    return CLCONV_OK;
}

clconv_status clconv__decode_tiff(const clconv__decode_args *a, const char *kind,
                                  char *err)
{
    mem m;
    layout l;
    TIFF *t;
    long pages;
    uint64_t off = 0;
    int looped;
    clconv_status st = CLCONV_E_DECODE;
    (void)kind;
    if (a->page < 0) {
        /* The one-image API: a stack is refused rather than cut to a page. */
        pages = walk_pages(a->buf, a->len, CLCONV__MAX_PAGES, -1, NULL, &looped);
        if (pages > 1 || looped) {
            clconv__err(err, "%s: %s%ld pages: a multi-page TIFF stack (clconv_process_file "
                        "and the command line filter every page)", a->name,
                        pages > CLCONV__MAX_PAGES || looped ? "at least " : "", pages);
            return CLCONV_E_DECODE;
        }
    } else if (a->page > 0) {
        walk_pages(a->buf, a->len, a->page, a->page, &off, &looped);
        if (off == 0) {
            clconv__err(err, "%s: the TIFF has no page %d", a->name, a->page);
            return CLCONV_E_DECODE;
        }
    }
    if (!(t = open_page(&m, a, a->page, off, err))) return CLCONV_E_DECODE;
    if (check_page(t, &l, a, &m, &st, err)) st = read_page(t, &l, a, &m, err);
    TIFFClose(t);
    return st;
}

clconv_status clconv__tiff_pages(const unsigned char *buf, size_t len, const char *name,
                                 long long max_pages, long long max_pixels,
                                 void (*each)(void *ctx, const clconv__page_info *p),
                                 void *ctx, long *pages, char *err)
{
    clconv__gray none = {NULL, NULL, NULL};
    const clconv__decode_args a = {buf, len, name, max_pixels, &none, NULL, 0};
    mem m;
    TIFF *t;
    long k;
    clconv_status st = CLCONV_OK;
    if ((st = pages_ok(&a, max_pages, pages, err)) != CLCONV_OK) return st;
    if (*pages <= 1 && !each) return CLCONV_OK;
    if (!(t = open_page(&m, &a, 0, 0, err))) return CLCONV_E_DECODE;
    /* Every page's header, each by its offset, before any pixel is read
     * (the chain was walked whole by pages_ok: no loop, none past the end). */
    const int le = buf[0] == 'I', big = get_u(buf + 2, le, 2) == 43;
    uint64_t off = get_u(buf + (big ? 8 : 4), le, big ? 8 : 4);
    for (k = 0; k < *pages && st == CLCONV_OK; k++) {
        layout l;
        char label[CLCONV_ERR_MAX];
        clconv__decode_args pa = a;
        snprintf(label, sizeof label, "%s (page %ld)", name, k);
        pa.name = k ? label : name;
        m.why[0] = '\0';
        if (k > 0) {
            if (!ifd_next(buf, len, le, big, off, &off) || off == 0 ||
                !TIFFSetSubDirectory(t, off)) {
                clconv__err(err, "%s: not a readable TIFF directory: %s", pa.name,
                            m.why[0] ? m.why : "broken");
                st = CLCONV_E_DECODE;
                break;
            }
        }
        st = CLCONV_E_DECODE;
        if (!check_page(t, &l, &pa, &m, &st, err)) break;
        st = CLCONV_OK;
        if (each) {
            const clconv__page_info info = {(int)l.w, (int)l.h, l.palette ? 3 : l.spp,
                                            depth_of(&l)};
            each(ctx, &info);
        }
    }
    TIFFClose(t);
    return st;
}

/* ---- writing ---- */

/* Rows a strip: about 256 KiB of samples. */
static uint32_t strip_rows(size_t row_bytes)
{
    const size_t r = (256u << 10) / (row_bytes ? row_bytes : 1);
    return r < 1 ? 1 : r > 65536 ? 65536 : (uint32_t)r;
}

/* Deflate's worst case grows data a little; with the tables and the
 * directory, a file whose bound passes 4 GiB less 1 MiB is a BigTIFF. The
 * test build's CLCONV_FAULT=tiff-64k scales that limit down to 64 KiB less
 * 16 bytes, so the tests see the choice made on small files. */
static int needs_big(size_t raw, size_t strips)
{
    const unsigned long long limit =
        clconv__fault_on("tiff-64k", NULL) ? 1ULL << 16 : 1ULL << 32;
    const unsigned long long bound =
        (unsigned long long)raw + raw / 1000 + strips * (64ULL + 24ULL) + 4096ULL;
    return bound > limit - limit / 4096;
}

int clconv__tiff_needs_big(unsigned long long raw, unsigned long long strips)
{
    return needs_big((size_t)raw, (size_t)strips);
}

/* Samples a pixel: 1 for gray, else the encoder's channels. */
static size_t nchan(const clconv__encode_args *a)
{
    return a->channels > 1 ? (size_t)a->channels : 1u;
}

static int write_strips(TIFF *t, const clconv__encode_args *a, size_t rb,
                        uint32_t rps)
{
    const size_t h = (size_t)a->p->height;
    const unsigned char *data = a->depth == CLCONV_DEPTH_FLOAT
        ? (nchan(a) > 1 ? (const unsigned char *)a->fc : (const unsigned char *)a->p->data)
        : a->u16 ? (const unsigned char *)a->u16 : a->u8;
    size_t y;
    for (y = 0; y < h; y += rps) {
        const size_t rows = h - y < rps ? h - y : rps;
        if (TIFFWriteEncodedStrip(t, (uint32_t)(y / rps), (void *)(data + y * rb),
                                  (tmsize_t)(rows * rb)) < 0)
            return 0;
    }
    return 1;
}

/* Gray, gray+alpha, RGB or RGBA (the alpha unassociated, as PNG's). */
static void set_fields(TIFF *t, const clconv__encode_args *a, uint32_t rps)
{
    const int flt = a->depth == CLCONV_DEPTH_FLOAT;
    const uint16_t nc = (uint16_t)nchan(a);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)a->p->width);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)a->p->height);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, nc);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)(flt ? 32 : a->u16 ? 16 : 8));
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT,
                 (uint16_t)(flt ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT));
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC,
                 (uint16_t)(nc >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK));
    if (nc == 2 || nc == 4) {
        const uint16_t extra = EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, (uint16_t)1, &extra);
    }
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, (uint16_t)PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, (uint16_t)COMPRESSION_ADOBE_DEFLATE);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rps);
}

/* Bytes of one row of a's samples (0 when it overflows). */
static size_t row_bytes(const clconv__encode_args *a)
{
    const size_t es = a->depth == CLCONV_DEPTH_FLOAT ? 4u : a->u16 ? 2u : 1u;
    const size_t w = (size_t)a->p->width;
    return w && w <= SIZE_MAX / 16 ? w * es * nchan(a) : 0;
}

/* One page into an open file: its directory, its strips, written. */
static int write_page(TIFF *t, const clconv__encode_args *a)
{
    const size_t rb = row_bytes(a);
    const uint32_t rps = strip_rows(rb);
    int ok;
    set_fields(t, a, rps);
    ok = write_strips(t, a, rb, rps);
    return TIFFWriteDirectory(t) && ok;
}

/* A stack written page by page into a file (libtiff reads back and seeks:
 * the descriptor is open for both). */
struct clconv__tiff_out {
    mem m;
    TIFF *t;
};

clconv__tiff_out *clconv__tiff_out_open(int fd, int big, long long fault_after,
                                        char *why, size_t n)
{
    clconv__tiff_out *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    o->m.fd = fd;
    o->m.writable = 1;
    o->m.fault_after = fault_after;
    if (!(o->t = open_mem(&o->m, "clconv", big ? "w8" : "w"))) {
        snprintf(why, n, "%s", o->m.why);
        free(o);
        return NULL;
    }
    return o;
}

int clconv__tiff_out_errno(const clconv__tiff_out *o)
{
    return o ? o->m.failed : 0;
}

/* Closes the file's TIFF; 0 when a page or the close failed (*err_no: the
 * write's errno, 0 when libtiff itself failed; why: libtiff's words). */
int clconv__tiff_out_close(clconv__tiff_out *o, int *err_no, char *why, size_t n)
{
    int ok;
    if (!o) return 0;
    TIFFClose(o->t);
    ok = !o->m.failed && !o->m.why[0];
    *err_no = o->m.failed;
    snprintf(why, n, "%s", o->m.why[0] ? o->m.why : "libtiff failed");
    free(o);
    return ok;
}

/* A TIFF: gray or colour, 8- or 16-bit unsigned or float32, deflate, in
 * strips; a page of an open stack (a->stack), or a file of its own made in
 * memory (libtiff seeks back) and handed to the sink at the end. */
int clconv__encode_tiff(const clconv__encode_args *a)
{
    const size_t w = (size_t)a->p->width, h = (size_t)a->p->height;
    const size_t rb = row_bytes(a);
    const uint32_t rps = strip_rows(rb);
    mem m;
    TIFF *t;
    size_t off;
    int ok;
    if (w == 0 || h == 0 || w > UINT32_MAX || h > UINT32_MAX || rb == 0) return 0;
    if (a->stack) {
        clconv__tiff_out *o = a->stack;
        return write_page(o->t, a) && !o->m.failed;
    }
    memset(&m, 0, sizeof m);
    m.writable = 1;
    m.fd = -1;
    t = open_mem(&m, "clconv", needs_big(rb * h, h / rps + 1) ? "w8" : "w");
    if (!t) return 0;
    ok = write_page(t, a);
    TIFFClose(t);
    ok = ok && !m.failed;
    for (off = 0; ok && off < m.len; off += 1u << 30) {
        const size_t k = m.len - off < (1u << 30) ? m.len - off : (1u << 30);
        a->fn(a->ctx, m.buf + off, (int)k);
    }
    free(m.buf);
    return ok;
}

/* ---- page counts from a path, read in place ---- */

/* n bytes at off of the file as an unsigned integer; 0 past its end. */
static int pread_u(int fd, uint64_t size, uint64_t off, int le, int n, uint64_t *v)
{
    unsigned char b[8];
    if (off > size || size - off < (uint64_t)n ||
        pread(fd, b, (size_t)n, (off_t)off) != (ssize_t)n)
        return 0;
    *v = get_u(b, le, n);
    return 1;
}

static int pread_next(int fd, uint64_t size, int le, int big, uint64_t off, uint64_t *next)
{
    const int osz = big ? 8 : 4, csz = big ? 8 : 2, esz = big ? 20 : 12;
    uint64_t cnt;
    if (!pread_u(fd, size, off, le, csz, &cnt) || cnt > size / esz) return 0;
    return pread_u(fd, size, off + csz + cnt * esz, le, osz, next);
}

long clconv__path_pages(const char *path, long long max_pages)
{
    const long cap = max_pages > 0 && max_pages < LONG_MAX ? (long)max_pages : LONG_MAX - 1;
    unsigned char head[16];
    struct stat sb;
    uint64_t off, slow;
    long pages = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), le, big;
    /* Only a regular file can be read twice (a pipe is read once, later). */
    if (fd < 0) return 1;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 16 ||
        pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head ||
        clconv__format_sniff(head, sizeof head) == NULL ||
        strcmp(clconv__format_sniff(head, sizeof head)->name, "TIFF") != 0) {
        close(fd);
        return 1;
    }
    le = head[0] == 'I';
    big = get_u(head + 2, le, 2) == 43;
    off = slow = get_u(head + (big ? 8 : 4), le, big ? 8 : 4);
    while (off != 0 && pages <= cap) {
        uint64_t next;
        if (!pread_next(fd, (uint64_t)sb.st_size, le, big, off, &next)) break;
        pages++;
        off = next;
        if (pages % 2 == 0 &&
            !pread_next(fd, (uint64_t)sb.st_size, le, big, slow, &slow))
            break;
        if (off != 0 && off == slow) break;
    }
    close(fd);
    return pages < 1 ? 1 : pages;
}
