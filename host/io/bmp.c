/* bmp.c — 8-bit gray BMP writing with a gray palette (stb writes 24-bit
 * BMPs, which --color's RGB(A) takes); reading is stb's (stb_formats.c). One row of the format table.
 * It must not open files: save.c owns the writer.
 */
#include "io/io.h"

#include <string.h>

#include <stb_image_write.h>

static void put_le(unsigned char *p, unsigned v, int n)
{
    int i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int clconv__encode_bmp(const clconv__encode_args *a)
{
    const clconv__write_fn fn = a->fn;
    void *const ctx = a->ctx;
    const int w = a->p->width, h = a->p->height;
    const unsigned char *px = a->u8;
    unsigned char hdr[54 + 1024];
    unsigned char pad[3] = {0, 0, 0};
    const unsigned stride = ((unsigned)w + 3u) & ~3u;
    unsigned long long size = 54ull + 1024ull + (unsigned long long)stride * (unsigned)h;
    int i, y;
    if (a->channels > 1)
        return stbi_write_bmp_to_func(fn, ctx, w, h, a->channels, px);
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
