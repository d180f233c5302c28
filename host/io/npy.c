/* npy.c — NumPy's .npy format: read 2-D arrays (C or Fortran order) of
 * float32/float64 and the 8/16/32-bit integers, either byte order, as float
 * planes, their values as they are, and under --color (H, W, 3|4) arrays as
 * one plane per channel; write the raw float32 result ('<f4', shape (H, W),
 * or (H, W, C) in colour), for people who want exact values. The header dict is
 * parsed as the Python literal it is (numpy's own keys only), never by
 * substring. One row of the format table (formats.c).
 * It must not open files: load.c and save.c own them.
 */
#include "io/io.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Headers past this are refused (numpy's own reader stops at 10000). */
#define NPY_MAX_HEADER ((size_t)1 << 20)
/* Integers above this are not all exact in float32. */
#define F32_EXACT 16777216.0

/* The parsed header dict. */
typedef struct npy_hdr {
    char descr[48];   /* the dtype string, or the text of a non-string */
    int descr_str;    /* descr was a string (not a list or a tuple) */
    int fortran;
    long long shape[8];
    int ndim;
    int seen;         /* bit 0 descr, 1 fortran_order, 2 shape */
} npy_hdr;

typedef struct npy_in {
    const char *s;
    size_t n, i;
    char why[160];    /* what was wrong, for the message */
} npy_in;

static void skip_ws(npy_in *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                           p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int eat(npy_in *p, char c)
{
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return 1;
    }
    return 0;
}

/* A '...' or "..." string without escapes into out (cap bytes). */
static int str_lit(npy_in *p, char *out, size_t cap)
{
    char q;
    size_t k = 0;
    skip_ws(p);
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"')) return 0;
    q = p->s[p->i++];
    while (p->i < p->n && p->s[p->i] != q) {
        if (p->s[p->i] == '\\' || (unsigned char)p->s[p->i] < 32) return 0;
        if (k + 1 < cap) out[k++] = p->s[p->i];
        p->i++;
    }
    if (p->i >= p->n) return 0;
    p->i++;
    out[k] = '\0';
    return 1;
}

/* A tuple of non-negative integers ("(3, 4)", "(3,)", "()", "(3L, 4L)"). */
static int shape_lit(npy_in *p, npy_hdr *h)
{
    if (!eat(p, '(')) return 0;
    h->ndim = 0;
    for (;;) {
        unsigned long long v = 0;
        int digits = 0;
        if (eat(p, ')')) return 1;
        skip_ws(p);
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
            if (v > (1ULL << 62)) return 0; /* far past any real size */
            v = v * 10 + (unsigned)(p->s[p->i++] - '0');
            digits++;
        }
        if (!digits) return 0;
        if (p->i < p->n && p->s[p->i] == 'L') p->i++;
        if (h->ndim == 8) return 0;
        h->shape[h->ndim++] = (long long)v;
        if (eat(p, ')')) return 1;
        if (!eat(p, ',')) return 0;
    }
}

/* A value that is neither a string nor a tuple of sizes: a list or tuple
 * (structured or sub-array dtypes); its text is kept for the message. */
static int other_lit(npy_in *p, char *out, size_t cap)
{
    size_t start, depth = 0;
    skip_ws(p);
    start = p->i;
    for (; p->i < p->n; p->i++) {
        char c = p->s[p->i];
        if (c == '[' || c == '(' || c == '{') depth++;
        else if (c == ']' || c == ')' || c == '}') {
            if (depth == 0) break;
            if (--depth == 0) { p->i++; break; }
        } else if (c == ',' && depth == 0) break;
    }
    if (p->i == start || depth) return 0;
    snprintf(out, cap, "%.*s%s", (int)(p->i - start > cap - 4 ? cap - 4 : p->i - start),
             p->s + start, p->i - start > cap - 4 ? "..." : "");
    return 1;
}

static int one_entry(npy_in *p, npy_hdr *h)
{
    char key[32];
    if (!str_lit(p, key, sizeof key)) {
        snprintf(p->why, sizeof p->why, "a key is not a quoted string");
        return 0;
    }
    if (!eat(p, ':')) {
        snprintf(p->why, sizeof p->why, "no ':' after '%s'", key);
        return 0;
    }
    skip_ws(p);
    if (strcmp(key, "descr") == 0 && !(h->seen & 1)) {
        h->seen |= 1;
        if (p->i < p->n && (p->s[p->i] == '\'' || p->s[p->i] == '"')) {
            h->descr_str = 1;
            if (str_lit(p, h->descr, sizeof h->descr)) return 1;
        } else if (other_lit(p, h->descr, sizeof h->descr)) {
            return 1;
        }
        snprintf(p->why, sizeof p->why, "unreadable 'descr'");
        return 0;
    }
    if (strcmp(key, "fortran_order") == 0 && !(h->seen & 2)) {
        h->seen |= 2;
        if (p->n - p->i >= 4 && memcmp(p->s + p->i, "True", 4) == 0) {
            h->fortran = 1;
            p->i += 4;
            return 1;
        }
        if (p->n - p->i >= 5 && memcmp(p->s + p->i, "False", 5) == 0) {
            p->i += 5;
            return 1;
        }
        snprintf(p->why, sizeof p->why, "'fortran_order' is not True or False");
        return 0;
    }
    if (strcmp(key, "shape") == 0 && !(h->seen & 4)) {
        h->seen |= 4;
        if (shape_lit(p, h)) return 1;
        snprintf(p->why, sizeof p->why, "'shape' is not a tuple of sizes");
        return 0;
    }
    /* numpy itself refuses any other key, and a repeated one. */
    snprintf(p->why, sizeof p->why, "%s key '%s'",
             (strcmp(key, "descr") && strcmp(key, "shape") &&
              strcmp(key, "fortran_order")) ? "unexpected" : "repeated", key);
    return 0;
}

/* Parses "{'descr': ..., 'fortran_order': ..., 'shape': (...), }". */
static int parse_header(npy_in *p, npy_hdr *h)
{
    memset(h, 0, sizeof *h);
    if (!eat(p, '{')) {
        snprintf(p->why, sizeof p->why, "the header is not a dict");
        return 0;
    }
    while (!eat(p, '}')) {
        if (!one_entry(p, h)) return 0;
        if (!eat(p, ',')) {
            if (eat(p, '}')) break;
            snprintf(p->why, sizeof p->why, "the header dict is not closed");
            return 0;
        }
    }
    skip_ws(p);
    if (p->i != p->n) {
        snprintf(p->why, sizeof p->why, "text after the header dict");
        return 0;
    }
    if (h->seen != 7) {
        snprintf(p->why, sizeof p->why, "the header lacks '%s'",
                 !(h->seen & 1) ? "descr" : !(h->seen & 2) ? "fortran_order"
                                                             : "shape");
        return 0;
    }
    return 1;
}

/* The dtypes read: '<' '>' '=' or '|' byte order; f4, f8, and u/i of 1, 2
 * or 4 bytes. Returns the element size, 0 for anything else. */
static size_t dtype_of(const npy_hdr *h, char *kind, int *big)
{
    const char *d = h->descr;
    size_t sz;
    if (!h->descr_str || strlen(d) != 3 || !strchr("<>|=", d[0])) return 0;
    if (d[2] < '1' || d[2] > '8') return 0;
    sz = (size_t)(d[2] - '0');
    *kind = d[1];
    *big = d[0] == '>';
    if (d[0] == '|' && sz != 1) return 0;
    if (*kind == 'f') return sz == 4 || sz == 8 ? sz : 0;
    if (*kind == 'u' || *kind == 'i') return sz == 1 || sz == 2 || sz == 4 ? sz : 0;
    return 0;
}

/* One element as a double (every supported dtype fits one exactly). */
static double element(const unsigned char *p, size_t sz, char kind, int big)
{
    uint64_t u = 0;
    size_t k;
    for (k = 0; k < sz; k++)
        u |= (uint64_t)p[big ? sz - 1 - k : k] << (8 * k);
    if (kind == 'f' && sz == 4) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, 4);
        return f;
    }
    if (kind == 'f') {
        double v;
        memcpy(&v, &u, 8);
        return v;
    }
    if (kind == 'i' && (u >> (8 * sz - 1)) & 1) /* sign-extend */
        return (double)(int64_t)(u | ~(uint64_t)0 << (8 * sz - 1));
    return (double)u;
}

/* float32 in this machine's byte order, read as it lies. */
static int native_f32(size_t sz, char kind, int big)
{
    const uint16_t one = 1;
    unsigned char lo;
    memcpy(&lo, &one, 1);
    return sz == 4 && kind == 'f' && big == !lo && sizeof(float) == 4;
}

/* Reads the version and header length; *off becomes the header's start. */
static int preamble(const unsigned char *b, size_t n, size_t *off,
                    size_t *hlen, char *why, size_t wn)
{
    if (n < 10) {
        snprintf(why, wn, "truncated .npy (%zu bytes, no room for a header)", n);
        return 0;
    }
    if (b[6] == 1) {
        *hlen = b[8] | (size_t)b[9] << 8;
        *off = 10;
    } else if ((b[6] == 2 || b[6] == 3) && n >= 12) {
        *hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
                (size_t)b[11] << 24;
        *off = 12;
    } else {
        snprintf(why, wn, b[6] == 2 || b[6] == 3
                              ? "truncated .npy (no room for a header)"
                              : "unknown .npy version %d.%d", b[6], b[7]);
        return 0;
    }
    if (*hlen > NPY_MAX_HEADER) {
        snprintf(why, wn, "corrupt .npy: a header of %zu bytes", *hlen);
        return 0;
    }
    if (*hlen > n - *off) {
        snprintf(why, wn, "truncated .npy (a header of %zu bytes in a file "
                 "of %zu)", *hlen, n);
        return 0;
    }
    return 1;
}

/* The shape as height and width; why says what is wrong with it. */
static int shape_2d(const npy_hdr *h, long long *hh, long long *ww, int color,
                    int *cc, char *why, size_t wn)
{
    char txt[96];
    size_t k = 0;
    int d;
    k += (size_t)snprintf(txt, sizeof txt, "(");
    for (d = 0; d < h->ndim && k < sizeof txt - 24; d++)
        k += (size_t)snprintf(txt + k, sizeof txt - k, "%s%lld%s", d ? ", " : "",
                              h->shape[d], h->ndim == 1 ? "," : "");
    snprintf(txt + k, sizeof txt - k, ")");
    if (h->ndim == 3 && (h->shape[2] == 3 || h->shape[2] == 4) && color) {
        *hh = h->shape[0];
        *ww = h->shape[1];
        *cc = (int)h->shape[2];
        return *hh >= 1 && *ww >= 1 && *hh <= INT32_MAX && *ww <= INT32_MAX
                   ? 1 : (snprintf(why, wn, ".npy shape %s is empty or too large", txt), 0);
    }
    if (h->ndim == 3 && (h->shape[2] == 3 || h->shape[2] == 4)) {
        snprintf(why, wn, ".npy shape %s is a color image (H, W, C); without "
                 "--color only 2-D (height, width) arrays are read", txt);
        return 0;
    }
    if (h->ndim != 2) {
        snprintf(why, wn, ".npy array must be 2-D (height, width), not shape %s",
                 txt);
        return 0;
    }
    *hh = h->shape[0];
    *ww = h->shape[1];
    if (*hh < 1 || *ww < 1) {
        snprintf(why, wn, ".npy shape %s has no pixels", txt);
        return 0;
    }
    if (*hh > INT32_MAX || *ww > INT32_MAX) {
        snprintf(why, wn, ".npy shape %s is too large", txt);
        return 0;
    }
    return 1;
}

/* Fills the plane from the data; fails on an integer float32 cannot hold. */
static int fill_plane(clconv_plane *out, const unsigned char *data, size_t sz,
                      char kind, int big, int fortran, char *why, size_t wn)
{
    const size_t H = (size_t)out->height, W = (size_t)out->width, n = H * W;
    size_t i;
    if (native_f32(sz, kind, big) && !fortran) {
        /* What numpy and clconv write: the bytes are the plane. */
        memcpy(out->data, data, n * sizeof(float));
        return 1;
    }
    for (i = 0; i < n; i++) {
        const double v = element(data + i * sz, sz, kind, big);
        const size_t y = fortran ? i % H : i / W, x = fortran ? i / H : i % W;
        if (kind != 'f' && (v > F32_EXACT || v < -F32_EXACT)) {
            snprintf(why, wn, "value %.0f at (x=%zu, y=%zu) is not exact in "
                     "float32, the type clconv computes in", v, x, y);
            return 0;
        }
        out->data[y * W + x] = (float)v;
    }
    return 1;
}

/* --color: a (H, W, C) array, C = 3 or 4, as C planes (last axis the
 * channel; Fortran order has the first axis fastest). */
static clconv_status color_npy(const clconv__decode_args *a, const unsigned char *data,
                               size_t avail, const npy_hdr *h, long long hh,
                               long long ww, int cc, char *err)
{
    char dk = 0;
    int big = 0, k;
    const size_t sz = dtype_of(h, &dk, &big), H = (size_t)hh, W = (size_t)ww;
    size_t need, i, n;
    clconv_status st;
    if (a->max_pixels > 0 && hh * ww > a->max_pixels) {
        clconv__err(err, "%s: %lldx%lld is %lld pixels, over the limit of %lld "
                    "(--max-pixels)", a->name, ww, hh, hh * ww, a->max_pixels);
        return CLCONV_E_TOO_LARGE;
    }
    if (!clconv__mul_ok(H * (size_t)cc, W, sz, &need) || need > avail) {
        clconv__err(err, "%s: truncated .npy (%zu bytes of data, its shape (%lld, %lld, "
                    "%d) needs more)", a->name, avail, hh, ww, cc);
        return CLCONV_E_DECODE;
    }
    st = clconv__color_alloc(a->out, (int)ww, (int)hh);
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot allocate the planes: %s", a->name,
                    clconv_status_str(st));
        return st;
    }
    a->out->c->channels = cc;
    a->out->c->depth = CLCONV_DEPTH_FLOAT;
    n = H * W * (size_t)cc;
    if (native_f32(sz, dk, big) && !h->fortran) {
        /* '<f4' in C order, pixel after pixel: spread the channels out
         * without a division per sample (9x faster at 4096x4096 RGB). */
        float *pl[CLCONV_MAX_CHANNELS];
        for (k = 0; k < cc; k++) pl[k] = a->out->c->planes[k].data;
        for (i = 0; i < H * W; i++)
            for (k = 0; k < cc; k++) memcpy(&pl[k][i], data + (i * (size_t)cc + (size_t)k) * 4, 4);
        return CLCONV_OK;
    }
    for (i = 0; i < n; i++) {
        const double v = element(data + i * sz, sz, dk, big);
        size_t y, x;
        if (h->fortran) {
            y = i % H, x = (i / H) % W, k = (int)(i / (H * W));
        } else {
            y = i / (W * (size_t)cc), x = (i / (size_t)cc) % W, k = (int)(i % (size_t)cc);
        }
        if (dk != 'f' && (v > F32_EXACT || v < -F32_EXACT)) {
            clconv_image_free(a->out->c);
            clconv__err(err, "%s: value %.0f at (x=%zu, y=%zu) is not exact in "
                        "float32, the type clconv computes in", a->name, v, x, y);
            return CLCONV_E_DECODE;
        }
        a->out->c->planes[k].data[y * W + x] = (float)v;
    }
    return CLCONV_OK;
}

clconv_status clconv__decode_npy(const clconv__decode_args *a, const char *kind,
                                 char *err)
{
    const unsigned char *b = a->buf;
    const size_t n = a->len;
    clconv_plane *out = a->npy;
    char why[256], dk = 0;
    size_t off = 0, hlen = 0, sz, need;
    npy_hdr h;
    npy_in p;
    long long hh = 0, ww = 0;
    int big = 0, cc = 1;
    clconv_status st;

    (void)kind;
    if (!preamble(b, n, &off, &hlen, why, sizeof why)) goto bad;
    p.s = (const char *)b + off;
    p.n = hlen;
    p.i = 0;
    p.why[0] = '\0';
    if (!parse_header(&p, &h)) {
        snprintf(why, sizeof why, "corrupt .npy header (%s)", p.why);
        goto bad;
    }
    off += hlen;
    sz = dtype_of(&h, &dk, &big);
    if (!sz) {
        snprintf(why, sizeof why, ".npy dtype %s%s%s is not supported (float32, "
                 "float64, or 8/16/32-bit integers)", h.descr_str ? "'" : "",
                 h.descr, h.descr_str ? "'" : "");
        goto bad;
    }
    if (!shape_2d(&h, &hh, &ww, a->out->c != NULL, &cc, why, sizeof why)) goto bad;
    if (cc > 1) return color_npy(a, b + off, n - off, &h, hh, ww, cc, err);
    if (a->max_pixels > 0 && hh * ww > a->max_pixels) {
        clconv__err(err, "%s: %lldx%lld is %lld pixels, over the limit of "
                    "%lld (--max-pixels)", a->name, ww, hh, hh * ww,
                    a->max_pixels);
        return CLCONV_E_TOO_LARGE;
    }
    if (!clconv__mul_ok((size_t)hh, (size_t)ww, sz, &need)) {
        snprintf(why, sizeof why, ".npy shape (%lld, %lld) is too large", hh, ww);
        goto bad;
    }
    if (need > n - off) {
        snprintf(why, sizeof why, "truncated .npy (%zu bytes of data, its shape "
                 "(%lld, %lld) needs %zu)", n - off, hh, ww, need);
        goto bad;
    }
    st = clconv_plane_alloc(out, (int)ww, (int)hh);
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot allocate the plane: %s", a->name,
                    clconv_status_str(st));
        return st;
    }
    if (!fill_plane(out, b + off, sz, dk, big, h.fortran, why, sizeof why)) {
        clconv_plane_free(out);
        goto bad;
    }
    return CLCONV_OK;
bad:
    clconv__err(err, "%s: %s", a->name, why);
    return CLCONV_E_DECODE;
}

int clconv__encode_npy(const clconv__encode_args *a)
{
    const clconv_plane *p = a->p;
    const int nc = a->channels > 1 && a->fc ? a->channels : 1;
    char hdr[128], dims[16] = "";
    int n;
    if (nc > 1) snprintf(dims, sizeof dims, ", %d", nc);
    n = snprintf(hdr, sizeof hdr,
                 "{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (%d, %d%s), }", p->height, p->width, dims);
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
        a->fn(a->ctx, (void *)((nc > 1 ? a->fc : p->data) + row * (size_t)p->width * (size_t)nc),
              (int)((size_t)p->width * (size_t)nc * sizeof(float)));
    return 1;
}
