/* png.c — PNG: clconv's own decoder for the common PNGs: 8-bit,
 * non-interlaced gray, RGB, gray+alpha and RGBA. zlib inflates (several
 * times faster than stb's own inflate, which made PNG decoding the CLI's
 * largest fixed cost), rows are unfiltered in place in a buffer of many rows
 * and handed to clconv__gray_row one at a time, so no full-size RGB(A)
 * image is ever held. Anything else (palette, 1/2/4-bit, Adam7, tRNS,
 * PLTE, unknown critical chunks, IDATs split by other chunks, CgBI) is "not
 * mine" and goes to stb as before, which also gives stb's own messages for
 * what it refuses; 16-bit PNGs go to stb's 16-bit decode, at full depth
 * into floats (DESIGN §6). Before stb sees a file, one cut inside a chunk
 * is refused here, naming the chunk, and one that only lacks IEND gets it
 * (stb refuses those; Pillow and the fast path read them).
 *
 * Stricter than stb where the brief asks: the CRCs of IHDR and of every
 * IDAT are checked, data inflating past the image is refused (a zlib bomb)
 * and so is a stream that ends before the last row, or a file that ends
 * inside an IDAT chunk. Data after IEND is ignored, as stb and Pillow do;
 * so is a missing IEND, and an adler32 trailer missing from whole chunks
 * once every row is there (stb never reads it; the stream is inflated raw).
 *
 * clconv__png_fast is one long function on purpose: a decoder's state
 * machine, where the chunk walk, the zlib stream and the row unfilter share
 * their state at every step; the fuzzers cover it as it stands.
 * The encoder writes 8-bit gray (and --color's gray+alpha, RGB, RGBA)
 * through stb and 16-bit ones itself, colour types 0, 4, 2 and 6 (zlib,
 * Up-filtered rows deflated one by one into 64 KiB IDAT chunks).
 * It must not open files: load.c and save.c own them.
 */
#include "io/io.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <stb_image_write.h>

_Thread_local int clconv__png_fast_off;

#define TYPE(a, b, c, d)                                                      \
    ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |        \
     (uint32_t)(d))
#define T_IHDR TYPE('I', 'H', 'D', 'R')
#define T_IDAT TYPE('I', 'D', 'A', 'T')
#define T_IEND TYPE('I', 'E', 'N', 'D')

/* Bytes inflated per batch: zlib works best with a large output buffer,
 * and 256 KiB of rows still sit in L2 while they are unfiltered. */
#define BATCH_BYTES ((size_t)256 << 10)
/* Deflate expands at most 1032:1 (a 258-byte match in two 1-bit codes). */
#define MAX_RATIO 1032

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static int crc_ok(const unsigned char *type_and_data, size_t n,
                  const unsigned char *crc)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* Let the fuzzer reach inflate and the unfilters without forging CRCs. */
    (void)type_and_data;
    (void)n;
    (void)crc;
    return 1;
#else
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) { /* crc32 takes a uInt length */
        uInt part = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, type_and_data, part);
        type_and_data += part;
        n -= part;
    }
    return (uint32_t)c == be32(crc);
#endif
}

/* ------------------------------------------------------------ unfiltering */

/* Each undoes one filter type on a row of n bytes, in place; p is the row
 * above, already unfiltered (zeros above the first row). Written with a
 * constant bpp per colour type so the compiler specialises each. */
static inline void sub_row(unsigned char *c, size_t n, size_t bpp)
{
    size_t i;
    for (i = bpp; i < n; i++) c[i] = (unsigned char)(c[i] + c[i - bpp]);
}

static inline void up_row(unsigned char *restrict c,
                          const unsigned char *restrict p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) c[i] = (unsigned char)(c[i] + p[i]);
}

static inline void avg_row(unsigned char *restrict c,
                           const unsigned char *restrict p, size_t n,
                           size_t bpp)
{
    size_t i;
    for (i = 0; i < bpp && i < n; i++) c[i] = (unsigned char)(c[i] + (p[i] >> 1));
    for (; i < n; i++)
        c[i] = (unsigned char)(c[i] + ((c[i - bpp] + p[i]) >> 1));
}

static inline void paeth_row(unsigned char *restrict c,
                             const unsigned char *restrict p, size_t n,
                             size_t bpp)
{
    size_t i;
    for (i = 0; i < bpp && i < n; i++) c[i] = (unsigned char)(c[i] + p[i]);
    for (; i < n; i++) {
        int a = c[i - bpp], b = p[i], cc = p[i - bpp];
        int pa = abs(b - cc), pb = abs(a - cc), pc = abs(a + b - 2 * cc);
        int pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : cc);
        c[i] = (unsigned char)(c[i] + pred);
    }
}

static inline int unfilter(int f, unsigned char *restrict c,
                           const unsigned char *restrict p, size_t n,
                           size_t bpp)
{
    switch (f) {
    case 0: return 1;
    case 1: sub_row(c, n, bpp); return 1;
    case 2: up_row(c, p, n); return 1;
    case 3: avg_row(c, p, n, bpp); return 1;
    case 4: paeth_row(c, p, n, bpp); return 1;
    default: return 0;
    }
}

static int unfilter_bpp(int f, unsigned char *c, const unsigned char *p,
                        size_t n, int bpp)
{
    switch (bpp) {
    case 1: return unfilter(f, c, p, n, 1);
    case 2: return unfilter(f, c, p, n, 2);
    case 3: return unfilter(f, c, p, n, 3);
    default: return unfilter(f, c, p, n, 4);
    }
}

/* ------------------------------------------------------------ decoding */

clconv_status clconv__png_fast(const unsigned char *buf, size_t len,
                               const char *name, long long max_pixels,
                               clconv__gray *out, char *err)
{
    clconv_status st = CLCONV_OK;
    uint32_t w, h;
    int ctype, comp, y = 0, zstarted = 0, stream_end = 0, hdr_got = 0;
    unsigned char hdr[2];
    size_t off, rowbytes, stride, raw, idat_total = 0, nrows, bufsize;
    size_t fill = 0, produced = 0;
    int in_idat = 0, idat_done = 0, have_idat = 0, idat_cut = 0;
    unsigned char *rows = NULL, *prev = NULL;
    z_stream zs;

    /* CLCONV_FAULT=png-stb: the tests' way to decode with stb instead. */
    if (clconv__png_fast_off || clconv__fault_on("png-stb", name))
        return CLCONV__NOT_MINE;
    /* Signature and IHDR: 8 + 4 + 4 + 13 + 4 bytes. */
    if (len < 33 || memcmp(buf, "\x89PNG\r\n\x1a\n", 8) != 0 ||
        be32(buf + 8) != 13 || be32(buf + 12) != T_IHDR)
        return CLCONV__NOT_MINE;
    w = be32(buf + 16);
    h = be32(buf + 20);
    ctype = buf[25];
    /* Invalid fields are stb's to report, as before; so are the kinds
     * this path does not decode. */
    if (w < 1 || h < 1 || w > INT32_MAX || h > INT32_MAX || buf[24] != 8 ||
        (ctype != 0 && ctype != 2 && ctype != 4 && ctype != 6) || buf[26] != 0 ||
        buf[27] != 0 || buf[28] != 0)
        return CLCONV__NOT_MINE;
    comp = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 4 ? 2 : 4;
    /* decode() checked this from the same header; kept for other callers. */
    if (max_pixels > 0 && (long long)w * h > max_pixels) {
        clconv__err(err, "%s: %ux%u is %lld pixels, over the limit of %lld "
                    "(--max-pixels)", name, (unsigned)w, (unsigned)h,
                    (long long)w * h, max_pixels);
        return CLCONV_E_TOO_LARGE;
    }
    if (!clconv__mul_ok(w, (size_t)comp, 1, &rowbytes) ||
        rowbytes > SIZE_MAX - 1 ||
        !clconv__mul_ok(rowbytes + 1, h, 1, &raw)) {
        clconv__err(err, "%s: %ux%u is too large", name, (unsigned)w,
                    (unsigned)h);
        return CLCONV_E_TOO_LARGE;
    }
    stride = rowbytes + 1;

    /* First pass over the chunk headers only: anything this path leaves to
     * stb is found before any work, and the IDAT total bounds what the
     * data can inflate to. */
    for (off = 33; len - off >= 8;) {
        uint32_t n = be32(buf + off), t = be32(buf + off + 4);
        size_t left = len - off - 8; /* after the length and type */
        if (t == T_IDAT) {
            if (idat_done) return CLCONV__NOT_MINE; /* IDATs not in one run */
            in_idat = have_idat = 1;
            idat_total += n < left ? n : left;
        } else {
            if (in_idat) idat_done = 1;
            if (t == T_IEND) break;
            /* Critical (first letter upper case): IHDR again, PLTE, CgBI,
             * unknown ones; and tRNS, which stb checks. */
            if (!(t & (1u << 29)) || t == TYPE('t', 'R', 'N', 'S'))
                return CLCONV__NOT_MINE;
        }
        if (left < 4 || n > left - 4) break; /* cut: found again below */
        off += 12 + (size_t)n;
    }
    if (!have_idat) return CLCONV__NOT_MINE;
    if (!crc_ok(buf + 12, 17, buf + 29)) {
        clconv__err(err, "%s: corrupt or truncated PNG (bad CRC in IHDR)", name);
        return CLCONV_E_DECODE;
    }
    if (raw > 1024 && (raw - 1024) / MAX_RATIO > idat_total) {
        /* A tiny file claiming a huge size fails before the allocation. */
        clconv__err(err, "%s: truncated PNG (%zu bytes of image data cannot "
                    "hold %ux%u pixels)", name, idat_total, (unsigned)w,
                    (unsigned)h);
        return CLCONV_E_DECODE;
    }

    nrows = BATCH_BYTES / stride;
    if (nrows < 1) nrows = 1;
    if (nrows > h) nrows = h;
    bufsize = nrows * stride;
    rows = malloc(bufsize);
    prev = calloc(1, rowbytes);
    memset(&zs, 0, sizeof zs);
    if (!rows || !prev) {
        st = CLCONV_E_NOMEM;
        clconv__err(err, "%s: out of memory decoding %ux%u", name,
                    (unsigned)w, (unsigned)h);
        goto fail;
    }
    st = clconv__gray_alloc(out, (int)w, (int)h);
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot allocate a %ux%u image: %s", name,
                    (unsigned)w, (unsigned)h, clconv_status_str(st));
        goto fail;
    }
    /* Raw deflate: the 2-byte zlib header is checked here (it may be split
     * over IDATs), and the adler32 trailer is neither computed nor needed. */
    if (inflateInit2(&zs, -15) != Z_OK) {
        st = CLCONV_E_NOMEM;
        clconv__err(err, "%s: out of memory decoding %ux%u", name,
                    (unsigned)w, (unsigned)h);
        goto fail;
    }
    zstarted = 1;

    for (off = 33; len - off >= 8 && !stream_end;) {
        uint32_t n = be32(buf + off), t = be32(buf + off + 4);
        const unsigned char *data = buf + off + 8;
        size_t avail = len - off - 8;
        int whole = avail >= 4 && n <= avail - 4;
        if (t == T_IEND || (t != T_IDAT && have_idat == 2)) break;
        if (t != T_IDAT) {
            if (!whole) break;
            off += 12 + (size_t)n;
            continue;
        }
        have_idat = 2;
        idat_cut = !whole;
        if (whole) {
            avail = n;
            if (!crc_ok(buf + off + 4, (size_t)n + 4, data + n)) {
                clconv__err(err, "%s: corrupt or truncated PNG (bad CRC in "
                            "IDAT)", name);
                st = CLCONV_E_DECODE;
                goto fail;
            }
        }
        while (hdr_got < 2 && avail > 0) {
            hdr[hdr_got++] = *data++;
            avail--;
            if (hdr_got == 2) {
                const char *why = NULL;
                if ((hdr[0] * 256u + hdr[1]) % 31 != 0) why = "bad zlib header";
                else if (hdr[1] & 32) why = "no preset dict";
                else if ((hdr[0] & 15) != 8 || (hdr[0] >> 4) > 7)
                    why = "bad compression";
                if (why) {
                    clconv__err(err, "%s: corrupt or truncated PNG (%s)", name,
                                why);
                    st = CLCONV_E_DECODE;
                    goto fail;
                }
            }
        }
        zs.next_in = (Bytef *)(uintptr_t)data;
        while (hdr_got == 2) {
            size_t room, pos = 0;
            int ret;
            /* zlib counts in uInt: feed a huge IDAT in parts. */
            if (zs.avail_in == 0 && avail > 0) {
                zs.avail_in = avail > (1u << 30) ? (1u << 30) : (uInt)avail;
                avail -= zs.avail_in;
            }
            /* At most one byte past the image, to see that it is there. */
            room = bufsize - fill;
            if (room > raw - produced + 1) room = raw - produced + 1;
            if (room > (1u << 30)) room = 1u << 30;
            zs.next_out = rows + fill;
            zs.avail_out = (uInt)room;
            ret = inflate(&zs, Z_NO_FLUSH);
            if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
                if (ret == Z_MEM_ERROR) {
                    st = CLCONV_E_NOMEM;
                    clconv__err(err, "%s: out of memory decoding %ux%u", name,
                                (unsigned)w, (unsigned)h);
                } else {
                    st = CLCONV_E_DECODE;
                    clconv__err(err, "%s: corrupt or truncated PNG (%s)", name,
                                zs.msg ? zs.msg : "bad deflate data");
                }
                goto fail;
            }
            produced += room - zs.avail_out;
            fill += room - zs.avail_out;
            if (produced > raw) {
                clconv__err(err, "%s: corrupt PNG: its data expands past what "
                            "a %ux%u image needs (a decompression bomb?)",
                            name, (unsigned)w, (unsigned)h);
                st = CLCONV_E_DECODE;
                goto fail;
            }
            /* Unfilter the complete rows in place; the row above is the
             * previous one in the buffer or, for the first, `prev`. */
            while (fill - pos >= stride) {
                unsigned char *r = rows + pos;
                const unsigned char *above = pos ? r - stride + 1 : prev;
                if (!unfilter_bpp(r[0], r + 1, above, rowbytes, comp)) {
                    clconv__err(err, "%s: corrupt PNG (invalid filter type %d "
                                "in row %d of %u)", name, r[0], y + 1,
                                (unsigned)h);
                    st = CLCONV_E_DECODE;
                    goto fail;
                }
                clconv__gray_row(out, y++, r + 1, comp);
                pos += stride;
            }
            if (pos) {
                memcpy(prev, rows + pos - stride + 1, rowbytes);
                memmove(rows, rows + pos, fill - pos);
                fill -= pos;
            }
            if (ret == Z_STREAM_END) {
                stream_end = 1;
                break;
            }
            /* All input taken and all output out: wants the next IDAT. */
            if (ret == Z_BUF_ERROR ||
                (zs.avail_in == 0 && avail == 0 && zs.avail_out != 0))
                break;
        }
        if (!whole) break;
        off += 12 + (size_t)n;
    }
    if ((uint32_t)y < h) {
        clconv__err(err, "%s: truncated PNG (the image data ends in row %d "
                    "of %u)", name, y + 1, (unsigned)h);
        st = CLCONV_E_DECODE;
        goto fail;
    }
    /* Every row came out of a stream the file cuts: its last bytes (the
     * end of the final block, the checksum) are still missing. */
    if (idat_cut) {
        clconv__err(err, "%s: truncated PNG (the file ends inside its IDAT "
                    "chunk)", name);
        st = CLCONV_E_DECODE;
        goto fail;
    }
    inflateEnd(&zs);
    free(rows);
    free(prev);
    return CLCONV_OK;
fail:
    if (zstarted) inflateEnd(&zs);
    free(rows);
    free(prev);
    clconv__gray_free(out);
    return st;
}

/* A PNG cut short, for the decoders that would say something vaguer: the
 * file ends before its first IDAT, or (idat_too) inside an IDAT chunk.
 * Writes the message and returns 1; 0 when the chunks up to the end of
 * the image data are whole (what follows is the decoders' to judge). */
static int png_cut(const clconv__decode_args *a, int idat_too, char *err)
{
    const unsigned char *b = a->buf;
    const size_t n = a->len;
    size_t off = 8;
    int seen_idat = 0, i;
    char name[5] = "????";
    while (n - off >= 8) {
        const uint32_t len = be32(b + off), t = be32(b + off + 4);
        if (t == T_IEND) return 0;
        if (len > n - off - 8 || n - off - 8 - len < 4) { /* data or CRC cut */
            if (t == T_IDAT ? !idat_too : seen_idat) return 0;
            for (i = 0; i < 4; i++) {
                const unsigned char c = b[off + 4 + (size_t)i];
                name[i] = (char)(((c | 32) >= 'a' && (c | 32) <= 'z') ? c : '?');
            }
            clconv__err(err, "%s: truncated PNG (the file ends inside its %s "
                        "chunk)", a->name, name);
            return 1;
        }
        if (t == T_IDAT) seen_idat = 1;
        else if (seen_idat) return 0;
        off += 12 + (size_t)len;
    }
    if (seen_idat) return 0;
    clconv__err(err, "%s: truncated PNG (the file ends before its image data)",
                a->name);
    return 1;
}

/* Where a PNG without IEND ends its last whole chunk after the image data
 * (0: it has IEND, or no whole IDAT). stb refuses such a file; Pillow and
 * the fast path read it. */
static size_t png_end_without_iend(const unsigned char *b, size_t n)
{
    size_t off = 8;
    int seen_idat = 0;
    while (n - off >= 12) {
        const uint32_t len = be32(b + off), t = be32(b + off + 4);
        if (t == T_IEND) return 0;
        if (len > n - off - 12) break;
        seen_idat |= t == T_IDAT;
        off += 12 + (size_t)len;
    }
    return seen_idat ? off : 0;
}

/* The stb decodes (8-bit, or 16-bit at full depth), given IEND when the
 * file lacks it, so that every decoder reads what Pillow reads. */
static clconv_status stb_decode(const clconv__decode_args *a, const char *kind,
                                int w, int h, char *err)
{
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D',
                                           0xAE, 0x42, 0x60, 0x82};
    const size_t end = png_end_without_iend(a->buf, a->len);
    clconv__decode_args b = *a;
    unsigned char *copy = NULL;
    clconv_status st;
    if (end) {
        copy = malloc(end + sizeof iend);
        if (!copy) {
            clconv__err(err, "%s: out of memory", a->name);
            return CLCONV_E_NOMEM;
        }
        memcpy(copy, a->buf, end);
        memcpy(copy + end, iend, sizeof iend);
        b.buf = copy;
        b.len = end + sizeof iend;
    }
    st = b.len > 24 && b.buf[24] == 16 ? clconv__stb_pixels16(&b, w, h, err)
                         : clconv__stb_pixels(&b, kind, w, h, err);
    free(copy);
    return st;
}

clconv_status clconv__decode_png(const clconv__decode_args *a, const char *kind,
                                 char *err)
{
    int w = 0, h = 0;
    clconv_status st = clconv__stb_check(a, kind, &w, &h, err);
    if (st == CLCONV_E_DECODE && png_cut(a, 0, err)) return st;
    if (st != CLCONV_OK) return st;
    /* 16-bit goes to stb at full depth (stb's 8-bit decode keeps the high
     * byte); the common PNGs to zlib's inflate, much faster than stb's. */
    if (a->len > 24 && a->buf[24] != 16) {
        st = clconv__png_fast(a->buf, a->len, a->name, a->max_pixels, a->out,
                              err);
        if (st != CLCONV__NOT_MINE) return st;
    }
    if (png_cut(a, 1, err)) return CLCONV_E_DECODE;
    return stb_decode(a, kind, w, h, err);
}

/* Appends a chunk (length, type, data, CRC of type and data) to the sink. */
static void put_chunk(const clconv__encode_args *a, const char *type,
                      const unsigned char *data, size_t n)
{
    unsigned char head[8], tail[4];
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    put_be32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    a->fn(a->ctx, head, 8);
    if (n) a->fn(a->ctx, (void *)data, (int)n);
    crc = crc32(crc, data, (uInt)n);
    put_be32(tail, (uint32_t)crc);
    a->fn(a->ctx, tail, 4);
}

/* Deflates `n` bytes of `in` into the stream, writing an IDAT chunk each
 * time the output buffer fills (and the rest when `flush` is Z_FINISH).
 * Returns 0 on a zlib failure. */
static int deflate_idat(const clconv__encode_args *a, z_stream *z, unsigned char *in,
                        size_t n, unsigned char *out, size_t cap, int flush)
{
    int r;
    z->next_in = in;
    z->avail_in = (uInt)n;
    do {
        z->next_out = out;
        z->avail_out = (uInt)cap;
        r = deflate(z, flush);
        if (r == Z_STREAM_ERROR) return 0;
        if (cap - z->avail_out > 0) put_chunk(a, "IDAT", out, cap - z->avail_out);
    } while (z->avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
    return 1;
}

/* A 16-bit PNG (colour type 0, or 4, 2, 6 for 2, 3, 4 interleaved
 * channels; bit depth 16, samples big-endian):
 * rows filtered with Up (smooth images deflate far better) and deflated
 * one at a time into IDAT chunks of IDAT_BYTES, so memory stays at a row
 * and a chunk whatever the size. stb writes only 8-bit PNGs. Returns 0 on
 * an image too wide for PNG or when memory runs out. */
#define IDAT_BYTES ((size_t)1 << 16)
static int encode_png16(const clconv__encode_args *a)
{
    const size_t nc = a->channels > 1 ? (size_t)a->channels : 1;
    const size_t w = (size_t)a->p->width, h = (size_t)a->p->height;
    const size_t row = 1 + 2 * w * nc;
    static const unsigned char ctype[5] = {0, 0, 4, 2, 6}; /* by channels */
    unsigned char ihdr[13], *r = NULL, *out = NULL;
    z_stream z;
    size_t x, y;
    int ok = 0;
    if (w * nc > 0x3fffffff || h > 0x7fffffff) return 0;
    memset(&z, 0, sizeof z);
    /* Level 1, run-length: what the 8-bit writer uses (docs/formats.md). */
    if (deflateInit2(&z, 1, Z_DEFLATED, 15, 8, Z_RLE) != Z_OK) return 0;
    r = malloc(row);
    out = malloc(IDAT_BYTES);
    if (!r || !out) goto cleanup;
    put_be32(ihdr, (uint32_t)w);
    put_be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 16; /* bit depth */
    ihdr[9] = ctype[nc]; /* gray, gray+alpha, RGB, RGBA */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filters, no Adam7 */
    a->fn(a->ctx, (void *)"\x89PNG\r\n\x1a\n", 8);
    put_chunk(a, "IHDR", ihdr, 13);
    for (y = 0; y < h; y++) {
        const uint16_t *s = a->u16 + y * w * nc, *up = y ? s - w * nc : NULL;
        r[0] = y ? 2 : 0; /* Up, from the second row on */
        for (x = 0; x < w * nc; x++) {
            /* Up works on bytes: each byte minus the same byte above. */
            const unsigned v = s[x], u = up ? up[x] : 0;
            r[1 + 2 * x] = (unsigned char)((v >> 8) - (u >> 8));
            r[2 + 2 * x] = (unsigned char)((v & 255) - (u & 255));
        }
        if (!deflate_idat(a, &z, r, row, out, IDAT_BYTES, Z_NO_FLUSH)) goto cleanup;
    }
    if (!deflate_idat(a, &z, NULL, 0, out, IDAT_BYTES, Z_FINISH)) goto cleanup;
    put_chunk(a, "IEND", NULL, 0);
    ok = 1;
cleanup:
    deflateEnd(&z);
    free(r);
    free(out);
    return ok;
}

int clconv__encode_png(const clconv__encode_args *a)
{
    const int w = a->p->width, h = a->p->height;
    if (a->u16) return encode_png16(a);
    const int nc = a->channels > 1 ? a->channels : 1;
    return stbi_write_png_to_func(a->fn, a->ctx, w, h, nc, a->u8, w * nc);
}
