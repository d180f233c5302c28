/* load.c — reading image files into Pillow-exact gray planes (or, for
 * --color, one plane per channel: clconv_image_load_color): the file
 * read whole (a regular file size-checked first, a pipe or FIFO read in an
 * interruptible loop up to the same limit), its format found in the format table
 * (formats.c) and decoded by that format's codec into a gray destination
 * (floats, or bytes for the device's 8-bit path; .npy and 16-bit images
 * always floats, at full depth), with the depth the file stored when asked.
 * It must not know any format's internals: each codec does.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

/* Input files above this size are refused before reading (a 16k x 16k
 * uncompressed RGBA BMP is 1 GiB). */
#define MAX_FILE_BYTES (2LL << 30)

clconv_status clconv__color_alloc(clconv__gray *g, int w, int h)
{
    clconv_image *c = g->c;
    clconv_status st = CLCONV_OK;
    int k;
    c->width = c->height = c->channels = 0;
    for (k = 0; k < CLCONV_MAX_CHANNELS && st == CLCONV_OK; k++)
        st = clconv_plane_alloc(&c->planes[k], w, h);
    if (st != CLCONV_OK) {
        clconv_image_free(c);
        return st;
    }
    c->width = w;
    c->height = h;
    return CLCONV_OK;
}

void clconv__color_px16(clconv__gray *g, size_t i, const unsigned *s, int comp)
{
    int k;
    g->c->channels = comp;
    g->c->depth = CLCONV_DEPTH_16;
    for (k = 0; k < comp; k++) g->c->planes[k].data[i] = (float)s[k];
}

void clconv_image_free(clconv_image *img)
{
    int k;
    if (!img) return;
    for (k = 0; k < CLCONV_MAX_CHANNELS; k++) clconv_plane_free(&img->planes[k]);
    img->width = img->height = img->channels = 0;
}

clconv_status clconv__gray_alloc(clconv__gray *g, int w, int h)
{
    size_t n;
    if (g->c) return clconv__color_alloc(g, w, h);
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
    if (g->c) clconv_image_free(g->c);
    if (g->f) clconv_plane_free(g->f);
    if (g->b) clconv_image8_free(g->b);
}

void clconv__gray_row(clconv__gray *g, int y, const unsigned char *px, int comp)
{
    const size_t w = g->c ? 0 : g->f ? (size_t)g->f->width : (size_t)g->b->width;
    size_t x;
    if (g->c) {
        /* --color: every channel as it is (8 bits). */
        const size_t w8 = (size_t)g->c->width, at = (size_t)y * w8;
        int k;
        g->c->channels = comp;
        g->c->depth = CLCONV_DEPTH_8;
        for (k = 0; k < comp; k++) {
            float *o = g->c->planes[k].data + at;
            for (x = 0; x < w8; x++) o[x] = (float)px[x * (size_t)comp + (size_t)k];
        }
        return;
    }
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

/* The stop flag of the batch this thread works for (pool.c sets it), and
 * whether the last read_file on this thread gave up because it was set. */
static _Thread_local volatile int *io_stop;
static _Thread_local int io_interrupted;

void clconv__io_set_stop(volatile int *stop)
{
    io_stop = stop;
}

int clconv__io_interrupted(void)
{
    return io_interrupted;
}

/* The byte limit: CLCONV_MAX_FILE_BYTES when set to a smaller positive
 * number (so that tests can prove it while a pipe is read), else 2 GiB. */
static long long max_file_bytes(void)
{
    const char *e = getenv("CLCONV_MAX_FILE_BYTES");
    char *end;
    long long v;
    if (!e || !*e) return MAX_FILE_BYTES;
    errno = 0;
    v = strtoll(e, &end, 10);
    return !*end && !errno && v > 0 && v < MAX_FILE_BYTES ? v : MAX_FILE_BYTES;
}

/* Reads a pipe, FIFO or character device to its end, in a loop that never
 * trusts a size. A FIFO whose writer has not come yet is waited for (what
 * a shell's <(...) needs), in poll()s of 100 ms that look at the stop flag:
 * a signal never leaves a thread blocked in open() or read(). */
static clconv_status read_stream(int fd, const char *path, long long limit,
                                 unsigned char **buf, size_t *len, char *err)
{
    size_t cap = 65536, got = 0;
    unsigned char *b = malloc(cap);
    if (!b) {
        clconv__err(err, "%s: out of memory reading the file", path);
        return CLCONV_E_NOMEM;
    }
    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        ssize_t r;
        int ready;
        if (io_stop && *io_stop) {
            clconv__err(err, "%s: interrupted while waiting for data", path);
            io_interrupted = 1;
            free(b);
            return CLCONV_E_IO;
        }
        /* Linux reports POLLHUP on a FIFO only once a writer has come and
         * gone; before that a read would say EOF, so read only after poll. */
        ready = poll(&pf, 1, 100);
        if (ready < 0 && errno != EINTR) {
            clconv__err(err, "%s: read error: %s", path, strerror(errno));
            free(b);
            return CLCONV_E_IO;
        }
        if (ready <= 0) continue;
        if (got == cap) {
            size_t ncap = (long long)cap * 2 > limit + 1 ? (size_t)limit + 1 : cap * 2;
            unsigned char *g = realloc(b, ncap);
            if (!g) {
                free(b);
                clconv__err(err, "%s: out of memory reading the file", path);
                return CLCONV_E_NOMEM;
            }
            b = g;
            cap = ncap;
        }
        r = read(fd, b + got, cap - got);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) {
            clconv__err(err, "%s: read error: %s", path, strerror(errno));
            free(b);
            return CLCONV_E_IO;
        }
        if (r == 0) break;
        got += (size_t)r;
        if ((long long)got > limit) {
            clconv__err(err, "%s: file too large (more than %lld bytes)", path, limit);
            free(b);
            return CLCONV_E_TOO_LARGE;
        }
    }
    /* A byte to spare after the data, as for regular files. */
    if (got == cap) {
        unsigned char *g = realloc(b, got + 1);
        if (!g) {
            free(b);
            clconv__err(err, "%s: out of memory reading the file", path);
            return CLCONV_E_NOMEM;
        }
        b = g;
    }
    *buf = b;
    *len = got;
    return CLCONV_OK;
}

/* Reads a whole input: a regular file in one read of its size; a pipe,
 * FIFO or character device (/dev/stdin, <(...)) by read_stream. */
static clconv_status read_file(const char *path, unsigned char **buf,
                               size_t *len, char *err)
{
    clconv_status st = CLCONV_OK;
    long long limit = max_file_bytes();
    struct stat sb;
    unsigned char *b = NULL;
    size_t got = 0;
    int fd;

    *buf = NULL;
    *len = 0;
    io_interrupted = 0;
    /* O_NONBLOCK: opening a FIFO with no writer must not block. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        clconv__err(err, "%s: cannot open: %s", path, strerror(errno));
        return CLCONV_E_IO;
    }
    if (fstat(fd, &sb) != 0) {
        clconv__err(err, "%s: cannot open: %s", path, strerror(errno));
        st = CLCONV_E_IO;
        goto cleanup;
    }
    if (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode) || S_ISSOCK(sb.st_mode)) {
        st = read_stream(fd, path, limit, buf, len, err);
        goto cleanup;
    }
    if (!S_ISREG(sb.st_mode)) {
        clconv__err(err, "%s: %s", path, S_ISDIR(sb.st_mode) ? "is a directory"
                                                          : "not a file clconv can read");
        st = CLCONV_E_IO;
        goto cleanup;
    }
    if ((long long)sb.st_size > limit) {
        clconv__err(err, "%s: file too large (%lld bytes, the limit is %lld)", path,
                    (long long)sb.st_size, limit);
        st = CLCONV_E_TOO_LARGE;
        goto cleanup;
    }
    b = malloc((size_t)sb.st_size + 1);
    if (!b) {
        clconv__err(err, "%s: out of memory reading the file", path);
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, b + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            clconv__err(err, "%s: read error: %s", path,
                        r < 0 ? strerror(errno) : "file changed while read");
            st = CLCONV_E_IO;
            goto cleanup;
        }
        got += (size_t)r;
    }
    *buf = b;
    *len = got;
    b = NULL;
cleanup:
    free(b);
    close(fd);
    return st;
}

clconv_status clconv_image_load(const char *path, long long max_pixels,
                                clconv_plane *out, char err[CLCONV_ERR_MAX])
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
                            const char *name, int page, long long max_pixels,
                            clconv__gray *out, clconv_plane *npy, char *err)
{
    const clconv__decode_args a = {buf, len, name, max_pixels, out, npy, page};
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
                                       clconv_plane *out, char err[CLCONV_ERR_MAX])
{
    clconv__gray g = {out, NULL, NULL};
    out->data = NULL;
    out->width = out->height = 0;
    return decode(buf, len, name, -1, max_pixels, &g, out, err);
}

clconv_status clconv__read_file(const char *path, unsigned char **buf, size_t *len,
                                char *err)
{
    return read_file(path, buf, len, err);
}

clconv_status clconv__file_pages(const unsigned char *buf, size_t len, const char *name,
                                 long long max_pages, long long max_pixels,
                                 void (*each)(void *ctx, const clconv__page_info *p),
                                 void *ctx, long *pages, char *err)
{
    const clconv__format *f = clconv__format_sniff(buf, len);
    *pages = 1;
    if (!f || strcmp(f->name, "TIFF") != 0) return CLCONV_OK;
    return clconv__tiff_pages(buf, len, name, max_pages, max_pixels, each, ctx, pages,
                              err);
}

clconv_status clconv__load_depth_mem(const unsigned char *buf, size_t len, const char *name,
                                     int page, long long max_pixels, clconv_image8 *out8,
                                     clconv_plane *out, clconv_depth *depth, char *err)
{
    clconv_image8 own = {0, 0, NULL};
    clconv_image8 *b = out8 ? out8 : &own;
    clconv__gray g = {NULL, b, NULL};
    clconv_status st;

    out->data = NULL;
    out->width = out->height = 0;
    b->data = NULL;
    b->width = b->height = 0;
    clconv__decoded_depth = CLCONV_DEPTH_AUTO;
    st = decode(buf, len, name, page, max_pixels, &g, out, err);
    /* A codec that holds several depths (TIFF) says which it read; else
     * bytes come from an 8-bit image, floats from a 16-bit one or a .npy
     * file, which its magic tells apart (the file is read once). */
    if (st == CLCONV_OK && depth && clconv__decoded_depth != CLCONV_DEPTH_AUTO)
        *depth = clconv__decoded_depth;
    else if (st == CLCONV_OK && depth) {
        const clconv__format *f = b->data ? NULL : clconv__format_sniff(buf, len);
        *depth = b->data ? CLCONV_DEPTH_8
                 : f && strcmp(f->name, "NPY") == 0 ? CLCONV_DEPTH_FLOAT : CLCONV_DEPTH_16;
    }
    if (st == CLCONV_OK && own.data) {
        st = clconv__plane_from_u8(&own, out, err);
        clconv_image8_free(&own);
    }
    return st;
}

clconv_status clconv_image_load_depth(const char *path, long long max_pixels,
                                      clconv_image8 *out8, clconv_plane *out,
                                      clconv_depth *depth, char err[CLCONV_ERR_MAX])
{
    unsigned char *buf = NULL;
    size_t len = 0;
    clconv_status st = read_file(path, &buf, &len, err);
    out->data = NULL;
    out->width = out->height = 0;
    if (out8) {
        out8->data = NULL;
        out8->width = out8->height = 0;
    }
    if (st == CLCONV_OK)
        st = clconv__load_depth_mem(buf, len, path, -1, max_pixels, out8, out, depth, err);
    free(buf);
    return st;
}

clconv_status clconv_image_load8(const char *path, long long max_pixels,
                                 clconv_image8 *out8, clconv_plane *out,
                                 char err[CLCONV_ERR_MAX])
{
    return clconv_image_load_depth(path, max_pixels, out8, out, NULL, err);
}

/* A .npy or 16-bit decoder that put a gray plane into `npy` (no colour
 * support of its own, or a 2-D array): that plane as the one channel. */
static void adopt_gray(clconv_image *c, clconv_plane *npy, int depth)
{
    clconv_image_free(c);
    c->planes[0] = *npy;
    npy->data = NULL;
    c->width = npy->width;
    c->height = npy->height;
    c->channels = 1;
    c->depth = depth;
}

/* The formats whose decoders fill a colour destination (clconv__gray's c);
 * any other (a codec added later) is read as gray, one channel, rather
 * than handed a destination it does not know. */
static int keeps_color(const unsigned char *buf, size_t len)
{
    static const char *const names[] = {"PNG", "JPEG", "BMP", "TGA", "GIF", "PNM", "NPY",
                                        "TIFF"};
    const clconv__format *f = clconv__format_sniff(buf, len);
    size_t i;
    if (!f) return 1; /* stb's (TGA) */
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(f->name, names[i]) == 0) return 1;
    return 0;
}

clconv_status clconv__load_color_mem(const unsigned char *buf, size_t len, const char *name,
                                     int page, long long max_pixels, clconv_image *out,
                                     char *err)
{
    clconv_plane npy = {0, 0, NULL};
    clconv_image8 b8 = {0, 0, NULL};
    clconv__gray g = {NULL, NULL, out};
    clconv_status st = CLCONV_OK;
    int k;

    memset(out, 0, sizeof *out);
    if (!keeps_color(buf, len)) {
        g.c = NULL; /* as gray: bytes, or floats in npy (16-bit) */
        g.b = &b8;
    }
    st = decode(buf, len, name, page, max_pixels, &g, &npy, err);
    if (st == CLCONV_OK && b8.data) {
        st = clconv__plane_from_u8(&b8, &npy, err);
        if (st == CLCONV_OK) adopt_gray(out, &npy, CLCONV_DEPTH_8);
    } else if (st == CLCONV_OK && npy.data) {
        const clconv__format *f = clconv__format_sniff(buf, len);
        adopt_gray(out, &npy, f && strcmp(f->name, "NPY") == 0 ? CLCONV_DEPTH_FLOAT
                                                               : CLCONV_DEPTH_16);
    }
    clconv_plane_free(&npy);
    clconv_image8_free(&b8);
    if (st != CLCONV_OK) {
        clconv_image_free(out);
        return st;
    }
    /* The decoder filled `channels` planes of the CLCONV_MAX_CHANNELS. */
    for (k = out->channels; k < CLCONV_MAX_CHANNELS; k++) clconv_plane_free(&out->planes[k]);
    return CLCONV_OK;
}

clconv_status clconv_image_load_color(const char *path, long long max_pixels,
                                      clconv_image *out, char err[CLCONV_ERR_MAX])
{
    unsigned char *buf = NULL;
    size_t len = 0;
    clconv_status st;

    memset(out, 0, sizeof *out);
    st = read_file(path, &buf, &len, err);
    if (st == CLCONV_OK) st = clconv__load_color_mem(buf, len, path, -1, max_pixels, out, err);
    free(buf);
    return st;
}
