/* load.c — reading image files into Pillow-exact gray planes: the file
 * read whole (size-checked first), its format found in the format table
 * (formats.c) and decoded by that format's codec into a gray destination
 * (floats, or bytes for the device's 8-bit path; .npy and 16-bit images
 * always floats, at full depth).
 * It must not know any format's internals: each codec does.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Input files above this size are refused before reading (a 16k x 16k
 * uncompressed RGBA BMP is 1 GiB). */
#define MAX_FILE_BYTES (2LL << 30)

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

/* Decodes into *out; a .npy file always into *npy (floats). The format
 * table (formats.c) names the decoder from the first bytes; files that
 * announce nothing go to stb, which knows TGA by its structure. */
static clconv_status decode(const unsigned char *buf, size_t len,
                            const char *name, long long max_pixels,
                            clconv__gray *out, clconv_plane *npy, char *err)
{
    const clconv__decode_args a = {buf, len, name, max_pixels, out, npy};
    const clconv__format *f;

    if (len == 0) {
        clconv__err(err, "%s: empty file", name);
        return CLCONV_E_DECODE;
    }
    if (len > (size_t)INT32_MAX) {
        clconv__err(err, "%s: file too large", name);
        return CLCONV_E_TOO_LARGE;
    }
    f = clconv__format_sniff(buf, len);
    if (!f) return clconv__decode_stb(&a, NULL, err);
    if (!f->decode) {
        char names[128];
        clconv__format_names(names, sizeof names, 0, "", ", ", " or ");
        clconv__err(err, "%s: %s images are not supported (use %s)", name,
                    f->name, names);
        return CLCONV_E_DECODE;
    }
    return f->decode(&a, f->name, err);
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
