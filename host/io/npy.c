/* npy.c — NumPy's .npy format: read 2-D <f4, <f8 and |u1 arrays in C order
 * as float planes, write the raw float32 result ('<f4', shape (H, W)), for
 * people who want exact values. One row of the format table (formats.c).
 * It must not open files: load.c and save.c own them.
 */
#include "io/io.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
clconv_status clconv__decode_npy(const clconv__decode_args *a, const char *kind,
                                 char *err)
{
    const unsigned char *b = a->buf;
    const size_t n = a->len;
    const char *name = a->name;
    const long long max_pixels = a->max_pixels;
    clconv_plane *out = a->npy;
    size_t hlen, off, i, npx, esz;
    char hdr[1024];
    const char *d, *s;
    long long hh, ww;
    int dt; /* 0 f4, 1 f8, 2 u1 */
    clconv_status st;

    (void)kind;
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
    if (strstr(hdr, "'<f4'")) { dt = 0; esz = 4; }
    else if (strstr(hdr, "'<f8'")) { dt = 1; esz = 8; }
    else if (strstr(hdr, "'|u1'")) { dt = 2; esz = 1; }
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
        if (dt == 0) { float f; memcpy(&f, p, 4); out->data[i] = f; }
        else if (dt == 1) { double v; memcpy(&v, p, 8); out->data[i] = (float)v; }
        else out->data[i] = p[0];
    }
    return CLCONV_OK;
bad:
    clconv__err(err, "%s: corrupt or truncated NPY header", name);
    return CLCONV_E_DECODE;
}

int clconv__encode_npy(const clconv__encode_args *a)
{
    const clconv_plane *p = a->p;
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
    a->fn(a->ctx, pre, 10);
    a->fn(a->ctx, hdr, hlen);
    /* x86 and ARM are little-endian; '<f4' is the bytes as they lie. */
    for (row = 0; row < (size_t)p->height; row++)
        a->fn(a->ctx, p->data + row * (size_t)p->width,
              (int)((size_t)p->width * sizeof(float)));
    return 1;
}
