/* encode_gray.c — the two 8-bit gray encoders stb_image_write lacks: its BMP
 * writer always writes 24-bit colour and its JPEG writer always three
 * channels, so a gray result would come back as RGB. BMP here is 8-bit with
 * a gray palette; JPEG is one-component, through libjpeg(-turbo).
 */
#include "clconv_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

static void put_le(unsigned char *p, unsigned v, int n)
{
    int i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int clconv__write_bmp_gray(clconv__write_fn fn, void *ctx, int w, int h,
                           const unsigned char *px)
{
    unsigned char hdr[54 + 1024];
    unsigned char pad[3] = {0, 0, 0};
    const unsigned stride = ((unsigned)w + 3u) & ~3u;
    unsigned long long size = 54ull + 1024ull + (unsigned long long)stride * (unsigned)h;
    int i, y;
    if (w < 1 || h < 1 || size > 0xFFFFFFFFull) return 0;
    memset(hdr, 0, sizeof hdr);
    hdr[0] = 'B';
    hdr[1] = 'M';
    put_le(hdr + 2, (unsigned)size, 4);
    put_le(hdr + 10, 54 + 1024, 4); /* pixel data offset */
    put_le(hdr + 14, 40, 4);        /* BITMAPINFOHEADER */
    put_le(hdr + 18, (unsigned)w, 4);
    put_le(hdr + 22, (unsigned)h, 4); /* positive: bottom-up rows */
    put_le(hdr + 26, 1, 2);
    put_le(hdr + 28, 8, 2);
    put_le(hdr + 34, stride * (unsigned)h, 4);
    put_le(hdr + 46, 256, 4);
    for (i = 0; i < 256; i++) { /* B, G, R, 0 */
        hdr[54 + 4 * i] = hdr[55 + 4 * i] = hdr[56 + 4 * i] = (unsigned char)i;
    }
    fn(ctx, hdr, (int)sizeof hdr);
    for (y = h - 1; y >= 0; y--) {
        fn(ctx, (void *)(px + (size_t)y * (size_t)w), w);
        if (stride > (unsigned)w) fn(ctx, pad, (int)(stride - (unsigned)w));
    }
    return 1;
}

typedef struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
} jerr;

/* A destination that hands each full buffer to the sink: no allocation. */
typedef struct jdest {
    struct jpeg_destination_mgr mgr;
    clconv__write_fn fn;
    void *ctx;
    JOCTET buf[65536];
} jdest;

static void dest_init(j_compress_ptr c)
{
    jdest *d = (jdest *)c->dest;
    d->mgr.next_output_byte = d->buf;
    d->mgr.free_in_buffer = sizeof d->buf;
}

static boolean dest_flush(j_compress_ptr c)
{
    jdest *d = (jdest *)c->dest;
    d->fn(d->ctx, d->buf, (int)sizeof d->buf);
    d->mgr.next_output_byte = d->buf;
    d->mgr.free_in_buffer = sizeof d->buf;
    return TRUE;
}

static void dest_term(j_compress_ptr c)
{
    jdest *d = (jdest *)c->dest;
    size_t n = sizeof d->buf - d->mgr.free_in_buffer;
    if (n) d->fn(d->ctx, d->buf, (int)n);
}

/* libjpeg's default handler calls exit(); the library never exits. */
static void on_jpeg_error(j_common_ptr cinfo)
{
    longjmp(((jerr *)cinfo->err)->jump, 1);
}

int clconv__write_jpeg_gray(clconv__write_fn fn, void *ctx, int w, int h,
                            const unsigned char *px, int quality)
{
    struct jpeg_compress_struct c;
    jerr err;
    jdest *dest;
    int y;

    if (w < 1 || h < 1 || w > 65500 || h > 65500) return 0;
    dest = malloc(sizeof *dest);
    if (!dest) return 0;
    dest->mgr.init_destination = dest_init;
    dest->mgr.empty_output_buffer = dest_flush;
    dest->mgr.term_destination = dest_term;
    dest->fn = fn;
    dest->ctx = ctx;
    c.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = on_jpeg_error;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&c);
        free(dest);
        return 0;
    }
    jpeg_create_compress(&c);
    c.dest = &dest->mgr;
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (y = 0; y < h; y++) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)y * (size_t)w);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(dest);
    return 1;
}
