/* pnm.c — Netpbm PBM, PGM and PPM, plain (P1-P3) and raw (P4-P6): clconv's
 * own reader (stb reads only raw PGM/PPM, and reduces 16-bit samples to
 * their high byte). Every header number is checked for overflow before use;
 * a maxval below 255 is scaled to 0..255 as Pillow scales it
 * (round(v / maxval * 255), ties to even); a maxval above 255 is 16-bit
 * data, decoded at full depth into floats, each sample the number it
 * stores (DESIGN §6: never rescaled), colour by the luma formula in 64-bit
 * integers (or, under --color, each channel kept). Data shorter than the
 * header says is refused, never filled. The writer makes raw PGMs (P5),
 * and for --color raw PPMs (P6), 8-bit or 16-bit big-endian.
 * One row of the format table (formats.c).
 * It must not open files: load.c and save.c own them.
 */
#include "io/io.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pnm {
    const unsigned char *b;
    size_t n, i;
    int type;          /* 1..6 */
    int comp;          /* 1 gray, 3 RGB */
    long long w, h;
    unsigned maxval;   /* 1 for PBM */
    char why[160];
} pnm;

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

/* Skips whitespace and '#' comments (to the end of the line). */
static void skip(pnm *p)
{
    while (p->i < p->n) {
        if (p->b[p->i] == '#') {
            while (p->i < p->n && p->b[p->i] != '\n' && p->b[p->i] != '\r') p->i++;
        } else if (is_ws(p->b[p->i])) {
            p->i++;
        } else {
            break;
        }
    }
}

/* A decimal number of the header, saturated far above any valid value;
 * 0: none there (p->why says why). */
static int header_num(pnm *p, const char *what, unsigned long long *v)
{
    int digits = 0;
    *v = 0;
    skip(p);
    while (p->i < p->n && p->b[p->i] >= '0' && p->b[p->i] <= '9') {
        if (*v < (1ULL << 40)) *v = *v * 10 + (unsigned)(p->b[p->i] - '0');
        p->i++;
        digits++;
    }
    if (!digits || (p->i < p->n && !is_ws(p->b[p->i]) && p->b[p->i] != '#')) {
        snprintf(p->why, sizeof p->why, p->i >= p->n && !digits
                 ? "truncated PNM (the header ends before its %s)"
                 : "corrupt PNM (its %s is not a number)", what);
        return 0;
    }
    return 1;
}

static int read_header(pnm *p)
{
    unsigned long long w, h, m = 1;
    p->type = p->b[1] - '0';
    p->comp = (p->type == 3 || p->type == 6) ? 3 : 1;
    p->i = 2;
    if (!header_num(p, "width", &w) || !header_num(p, "height", &h)) return 0;
    if (p->type != 1 && p->type != 4 && !header_num(p, "maxval", &m)) return 0;
    if (w < 1 || h < 1) {
        snprintf(p->why, sizeof p->why, "image has no pixels (%llux%llu)", w, h);
        return 0;
    }
    if (w > INT32_MAX || h > INT32_MAX) {
        snprintf(p->why, sizeof p->why, "corrupt PNM: %s too large (%llu)",
                 w > INT32_MAX ? "width" : "height", w > INT32_MAX ? w : h);
        return 0;
    }
    if (m < 1 || m > 65535) {
        snprintf(p->why, sizeof p->why, "corrupt PNM: maxval %llu is not in "
                 "1..65535", m);
        return 0;
    }
    p->w = (long long)w;
    p->h = (long long)h;
    p->maxval = (unsigned)m;
    /* Raw data starts after exactly one whitespace byte. */
    if (p->type >= 4) {
        if (p->i >= p->n) {
            snprintf(p->why, sizeof p->why, "truncated PNM (no pixel data)");
            return 0;
        }
        p->i++;
    }
    return 1;
}

/* The next plain sample into *v. PBM's are single '0'/'1' characters,
 * whitespace optional. */
static int plain_sample(pnm *p, unsigned *v, size_t k, size_t total)
{
    unsigned long long x = 0;
    int digits = 0;
    skip(p);
    if (p->i >= p->n) {
        snprintf(p->why, sizeof p->why, "truncated PNM (the data ends at "
                 "sample %zu of %zu)", k, total);
        return 0;
    }
    if (p->type == 1) {
        if (p->b[p->i] != '0' && p->b[p->i] != '1') goto bad;
        *v = p->b[p->i++] == '1';
        return 1;
    }
    while (p->i < p->n && p->b[p->i] >= '0' && p->b[p->i] <= '9') {
        if (x <= 65535) x = x * 10 + (unsigned)(p->b[p->i] - '0');
        p->i++;
        digits++;
    }
    if (!digits || (p->i < p->n && !is_ws(p->b[p->i]) && p->b[p->i] != '#'))
        goto bad;
    if (x > p->maxval) {
        snprintf(p->why, sizeof p->why, "corrupt PNM: sample %zu is %llu, "
                 "above its maxval %u", k, x, p->maxval);
        return 0;
    }
    *v = (unsigned)x;
    return 1;
bad:
    snprintf(p->why, sizeof p->why, "corrupt PNM: sample %zu is not a number",
             k);
    return 0;
}

/* Sample k (of a row of n) of a raw row; PBM bit 1 is black. */
static unsigned raw_sample(const pnm *p, const unsigned char *row, size_t k)
{
    unsigned v;
    if (p->type == 4) return (row[k / 8] >> (7 - k % 8)) & 1;
    if (p->maxval > 255) v = (unsigned)row[2 * k] << 8 | row[2 * k + 1];
    else v = row[k];
    /* Pillow clamps raw samples above maxval; they are never wrapped. */
    return v > p->maxval ? p->maxval : v;
}

/* The bytes one raw row takes. */
static size_t raw_row_bytes(const pnm *p)
{
    if (p->type == 4) return ((size_t)p->w + 7) / 8;
    return (size_t)p->w * (size_t)p->comp * (p->maxval > 255 ? 2u : 1u);
}

/* Puts row y of samples s (w * comp of them) in the destination: 8-bit
 * scaled as Pillow scales a maxval below 255, 16-bit as they are. */
static void put_row(const pnm *p, const clconv__decode_args *a, int y,
                    const unsigned *s, unsigned char *u8)
{
    const size_t n = (size_t)p->w * (size_t)p->comp;
    size_t k;
    if (p->maxval > 255 && a->out->c) {
        for (k = 0; k < (size_t)p->w; k++, s += p->comp)
            clconv__color_px16(a->out, (size_t)y * (size_t)p->w + k, s, p->comp);
        return;
    }
    if (p->maxval > 255) {
        float *o = a->npy->data + (size_t)y * (size_t)p->w;
        for (k = 0; k < (size_t)p->w; k++, s += p->comp)
            o[k] = p->comp == 1 ? (float)s[0] : (float)(
                (19595ULL * s[0] + 38470ULL * s[1] + 7471ULL * s[2] + 32768ULL) >> 16);
        return;
    }
    for (k = 0; k < n; k++) {
        if (p->type == 1 || p->type == 4) u8[k] = s[k] ? 0 : 255;
        else if (p->maxval == 255) u8[k] = (unsigned char)s[k];
        else {
            /* Python's round(v / maxval * 255): the same doubles, ties to even. */
            double v = nearbyint((double)s[k] / (double)p->maxval * 255.0);
            u8[k] = (unsigned char)(v > 255.0 ? 255.0 : v);
        }
    }
    clconv__gray_row(a->out, y, u8, p->comp);
}

static clconv_status alloc_dest(const pnm *p, const clconv__decode_args *a)
{
    if (p->maxval > 255 && !a->out->c)
        return clconv_plane_alloc(a->npy, (int)p->w, (int)p->h);
    return clconv__gray_alloc(a->out, (int)p->w, (int)p->h);
}

static void free_dest(const pnm *p, const clconv__decode_args *a)
{
    if (p->maxval > 255 && !a->out->c) clconv_plane_free(a->npy);
    else clconv__gray_free(a->out);
}

/* Decodes every row once the header is read and the destination made. */
static int decode_rows(pnm *p, const clconv__decode_args *a, unsigned *s,
                       unsigned char *u8)
{
    const size_t n = (size_t)p->w * (size_t)p->comp;
    const size_t total = n * (size_t)p->h, rb = raw_row_bytes(p);
    size_t k;
    int y;
    if (p->type >= 4) {
        size_t need;
        if (!clconv__mul_ok(rb, (size_t)p->h, 1, &need) || p->n - p->i < need) {
            snprintf(p->why, sizeof p->why, "truncated PNM (the pixel data is "
                     "shorter than its %lldx%lld header says)", p->w, p->h);
            return 0;
        }
    }
    for (y = 0; y < (int)p->h; y++) {
        if (p->type >= 4) {
            const unsigned char *row = p->b + p->i + (size_t)y * rb;
            for (k = 0; k < n; k++) s[k] = raw_sample(p, row, k);
        } else {
            for (k = 0; k < n; k++)
                if (!plain_sample(p, &s[k], (size_t)y * n + k + 1, total)) return 0;
        }
        put_row(p, a, y, s, u8);
    }
    return 1;
}

clconv_status clconv__decode_pnm(const clconv__decode_args *a, const char *kind,
                                 char *err)
{
    pnm p;
    unsigned *s = NULL;
    unsigned char *u8 = NULL;
    size_t n, bytes;
    clconv_status st = CLCONV_E_DECODE;

    (void)kind;
    memset(&p, 0, sizeof p);
    p.b = a->buf;
    p.n = a->len;
    if (p.n < 2 || p.b[0] != 'P' || p.b[1] < '1' || p.b[1] > '6') {
        clconv__err(err, "%s: not a PNM file", a->name);
        return CLCONV_E_DECODE;
    }
    if (!read_header(&p)) goto fail;
    if (a->max_pixels > 0 && p.w * p.h > a->max_pixels) {
        clconv__err(err, "%s: %lldx%lld is %lld pixels, over the limit of %lld "
                    "(--max-pixels)", a->name, p.w, p.h, p.w * p.h,
                    a->max_pixels);
        return CLCONV_E_TOO_LARGE;
    }
    if (!clconv__mul_ok((size_t)p.w, (size_t)p.h, 4 * sizeof(float), &bytes) ||
        !clconv__mul_ok((size_t)p.w, (size_t)p.comp, sizeof *s, &bytes)) {
        clconv__err(err, "%s: %lldx%lld is too large", a->name, p.w, p.h);
        return CLCONV_E_TOO_LARGE;
    }
    n = (size_t)p.w * (size_t)p.comp;
    s = malloc(n * sizeof *s);
    u8 = malloc(n);
    st = (s && u8) ? alloc_dest(&p, a) : CLCONV_E_NOMEM;
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot allocate a %lldx%lld image: %s", a->name,
                    p.w, p.h, clconv_status_str(st));
        goto cleanup;
    }
    if (!decode_rows(&p, a, s, u8)) {
        free_dest(&p, a);
        st = CLCONV_E_DECODE;
        goto fail;
    }
    goto cleanup;
fail:
    clconv__err(err, "%s: %s", a->name, p.why);
cleanup:
    free(s);
    free(u8);
    return st;
}

/* A raw PGM (P5): maxval 255 with a byte a sample, or 65535 with two,
 * most significant first, as Netpbm defines it. */
int clconv__encode_pnm(const clconv__encode_args *a)
{
    /* --color: P6 with the three channels interleaved, as PPM lays them. */
    const size_t nc = a->channels == 3 ? 3 : 1;
    const size_t w = (size_t)a->p->width * nc, h = (size_t)a->p->height;
    unsigned char *row;
    char head[64];
    size_t x, y;
    const int n = snprintf(head, sizeof head, "P%c\n%zu %zu\n%u\n", nc == 3 ? '6' : '5',
                           w / nc, h, a->u16 ? 65535u : 255u);
    if (a->u16 ? w > (size_t)INT32_MAX / 2 : w > (size_t)INT32_MAX) return 0;
    a->fn(a->ctx, head, n);
    if (!a->u16) {
        for (y = 0; y < h; y++) a->fn(a->ctx, (void *)(a->u8 + y * w), (int)w);
        return 1;
    }
    if (!(row = malloc(2 * w))) return 0;
    for (y = 0; y < h; y++) {
        const uint16_t *s = a->u16 + y * w;
        for (x = 0; x < w; x++) {
            row[2 * x] = (unsigned char)(s[x] >> 8);
            row[2 * x + 1] = (unsigned char)(s[x] & 255);
        }
        a->fn(a->ctx, row, (int)(2 * w));
    }
    free(row);
    return 1;
}
