/* save.c — writing results: the output depth resolved (--depth, the
 * input's, what the format holds), the plane mapped to 8 or 16 bits where
 * the format wants integers (clipped pixels counted; --color: each channel
 * mapped, counts summed, samples interleaved), handed to the
 * format's encoder (formats.c), and the atomic writer: a temporary file in the output's directory (named by files.c),
 * created with the mode open(2) would give, flushed to the disk, and renamed
 * into place only when everything was written, then the directory flushed;
 * so a failure or a crash never leaves a partial file under the output's
 * name.
 * It must not overwrite the target before the whole file is written, touch
 * the process umask, or replace a file it was told to keep.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct sink {
    FILE *fp;
    int failed;
    int fault_after; /* test switch: fail once this many bytes went out */
    long long written;
    void *stack;     /* set: encoders add a page to this open stack file */
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

/* The extension of a path's last component ("" when it has none). */
static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return "";
    return dot + 1;
}

/* Encodes p as format f into the sink at depth d: mapped to 8 or 16 bits
 * first for the integer formats, NaNs counted for the float ones. */
/* Whether f's encoder takes interleaved channels (encode_args.channels);
 * a codec added later writes gray until it says it does. */
static int holds_color(const clconv__format *f)
{
    static const char *const names[] = {"PNG", "JPEG", "BMP", "TGA", "PNM", "NPY", "TIFF"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(f->name, names[i]) == 0) return 1;
    return 0;
}

/* The channels of o->color that format f holds: all of them, less the
 * alpha for JPEG and PNM (RGB only). */
static int channels_for(const clconv__format *f, const clconv_image *c)
{
    if (strcmp(f->name, "JPEG") == 0 || strcmp(f->name, "PNM") == 0)
        return c->channels >= 3 ? 3 : 1;
    return c->channels;
}

/* --color: every channel mapped (or, for float, copied) and interleaved,
 * pixel by pixel, into one buffer for the encoder; the counts summed. */
static clconv_status encode_color(const clconv__format *f, sink *s, const char *path,
                                  const clconv__save_opts *o, clconv_depth d, char *err)
{
    const clconv_image *c = o->color;
    const int nc = channels_for(f, c);
    const size_t n = (size_t)c->width * (size_t)c->height;
    const size_t es = d == CLCONV_DEPTH_FLOAT ? 4u : d == 16 ? 2u : 1u;
    clconv__encode_args a = {sink_write, s, &c->planes[0], NULL, o->quality, NULL,
                             (int)d, nc, NULL, s->stack};
    unsigned char *all = malloc(n * (size_t)nc * es), *one = malloc(n * es);
    size_t i;
    int k, r;
    if (o->channels) *o->channels = nc;
    if (!all || !one) {
        free(all);
        free(one);
        clconv__err(err, "%s: out of memory", path);
        return CLCONV_E_NOMEM;
    }
    for (k = 0; k < nc; k++) {
        const clconv_plane *p = &c->planes[k];
        long long nans = 0, clipped = 0;
        const clconv_map map = o->alpha_clamp && k == c->channels - 1 ? CLCONV_MAP_CLAMP
                                                                      : o->map;
        if (d == CLCONV_DEPTH_FLOAT) {
            for (i = 0; i < n; i++) {
                nans += isnan(p->data[i]) != 0;
                memcpy(all + (i * (size_t)nc + (size_t)k) * 4, &p->data[i], 4);
            }
        } else {
            clconv__plane_map(p, map, (int)d, d == 16 ? NULL : one,
                              d == 16 ? (uint16_t *)(void *)one : NULL, &nans, &clipped);
            for (i = 0; i < n; i++)
                memcpy(all + (i * (size_t)nc + (size_t)k) * es, one + i * es, es);
        }
        if (o->nan_count) *o->nan_count += nans;
        if (o->clipped) *o->clipped += clipped;
    }
    free(one);
    if (d == CLCONV_DEPTH_FLOAT) a.fc = (const float *)(void *)all;
    else if (d == 16) a.u16 = (const uint16_t *)(void *)all;
    else a.u8 = all;
    r = f->encode(&a);
    free(all);
    if (!r && !s->failed) {
        clconv__err(err, "%s: the encoder failed (%dx%d too large for the "
                    "format?)", path, c->width, c->height);
        return CLCONV_E_IO;
    }
    return CLCONV_OK;
}

static clconv_status encode(const clconv__format *f, sink *s, const char *path,
                            const clconv_plane *p, const clconv__save_opts *o,
                            clconv_depth d, char *err)
{
    if (o->channels) *o->channels = 1;
    if (o->color && o->color->channels > 1) return encode_color(f, s, path, o, d, err);
    if (o->color) p = &o->color->planes[0];
    {
    clconv__encode_args a = {sink_write, s, p, NULL, o->quality, NULL, (int)d, 1, NULL,
                             s->stack};
    void *mapped = NULL;
    int r;
    if (o->mapped) {
        if ((int)d != o->mapped_bits) {
            clconv__err(err, "%s: the samples were mapped to %d bits, the output is %d-bit",
                        path, o->mapped_bits, (int)d);
            return CLCONV_E_INVALID;
        }
        if (d == 16) a.u16 = o->mapped;
        else a.u8 = o->mapped;
        if (o->nan_count) *o->nan_count = o->mapped_nans;
        if (o->clipped) *o->clipped = o->mapped_clipped;
    } else if (d != CLCONV_DEPTH_FLOAT) {
        mapped = malloc((size_t)p->width * (size_t)p->height * (d == 16 ? 2u : 1u));
        if (!mapped) {
            clconv__err(err, "%s: out of memory", path);
            return CLCONV_E_NOMEM;
        }
        clconv__plane_map(p, o->map, (int)d, d == 16 ? NULL : mapped,
                          d == 16 ? mapped : NULL, o->nan_count, o->clipped);
        if (d == 16) a.u16 = mapped;
        else a.u8 = mapped;
    } else if (o->nan_count) {
        long long nans = 0;
        size_t i, n = (size_t)p->width * (size_t)p->height;
        for (i = 0; i < n; i++) nans += isnan(p->data[i]) != 0;
        *o->nan_count = nans;
    }
    r = f->encode(&a);
    free(mapped);
    if (!r && !s->failed) {
        clconv__err(err, "%s: the encoder failed (%dx%d too large for the "
                    "format?)", path, p->width, p->height);
        return CLCONV_E_IO;
    }
    return CLCONV_OK;
    }
}

/* A seed for temp names that differs between threads and calls. */
static unsigned long long name_seed(void)
{
    static _Thread_local unsigned long long calls;
    struct timespec ts;
    int here;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((unsigned long long)ts.tv_nsec << 20) ^ (unsigned long long)ts.tv_sec ^
           ((unsigned long long)(size_t)&here << 7) ^ (++calls * 0x9e3779b97f4a7c15ULL);
}

/* Creates the temporary file next to path. The mode is the one a plain
 * open(path, O_CREAT, 0666) gives, applied by the kernel from the umask of
 * the moment, so no thread reads or changes the umask; a file that is being
 * replaced keeps its permission bits, as when a tool rewrites it in place.
 * Returns the descriptor (-1 with errno set) and the name in *tmp. */
static int create_temp(const char *path, char **tmp, int rdwr)
{
    struct stat sb;
    const int keep = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    int fd = -1, tries;
    for (tries = 0; tries < 64 && fd < 0; tries++) {
        free(*tmp);
        if (!(*tmp = clconv__temp_name(path, name_seed()))) {
            errno = ENOMEM;
            return -1;
        }
        fd = open(*tmp, (rdwr ? O_RDWR : O_WRONLY) | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd >= 0 && keep) (void)fchmod(fd, sb.st_mode & 0777);
    return fd;
}

/* Flushes the directory that holds path, so the rename survives a crash.
 * File systems that cannot flush a directory are not an error. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : strdup(".");
    int fd, rc = 0;
    if (!dir) return 0;
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno == EIO) rc = -1;
        close(fd);
    }
    free(dir);
    return rc;
}

/* Right before the rename: nothing to keep may sit at the destination,
 * and no directory. Returns 0, or the status with err set. */
static clconv_status check_target(const char *path, const clconv__path_key *keep,
                                  int nkeep, char *err)
{
    struct stat sb;
    int i;
    if (stat(path, &sb) != 0) return CLCONV_OK;
    if (S_ISDIR(sb.st_mode)) {
        clconv__err(err, "%s: cannot write the output: it is a directory", path);
        return CLCONV_E_IO;
    }
    for (i = 0; i < nkeep; i++)
        if (keep[i].exists && keep[i].dev == (unsigned long long)sb.st_dev &&
            keep[i].ino == (unsigned long long)sb.st_ino) {
            clconv__err(err, "%s: refusing to replace it: it is now an input", path);
            return CLCONV_E_INVALID;
        }
    return CLCONV_OK;
}

/* Writes the encoded plane into the open temp file and flushes it to the
 * disk; closes s->fp. */
static clconv_status write_temp(const clconv__format *f, sink *s, const char *path,
                                const clconv_plane *p, const clconv__save_opts *o,
                                clconv_depth d, char *err)
{
    clconv_status st = encode(f, s, path, p, o, d, err);
    if (st == CLCONV_OK) {
        if (fflush(s->fp) != 0 && !s->failed) s->failed = errno;
        if (!s->failed && fsync(fileno(s->fp)) != 0) s->failed = errno;
        if (s->failed) {
            clconv__err(err, "%s: write failed: %s", path, strerror(s->failed));
            st = CLCONV_E_IO;
        }
    }
    if (fclose(s->fp) != 0 && st == CLCONV_OK) {
        clconv__err(err, "%s: write failed: %s", path, strerror(errno));
        st = CLCONV_E_IO;
    }
    s->fp = NULL;
    return st;
}

/* "8-bit", "16-bit" or "float" */
static const char *depth_name(clconv_depth d)
{
    return d == CLCONV_DEPTH_8 ? "8-bit" : d == CLCONV_DEPTH_16 ? "16-bit" : "float";
}

/* The depth format f writes o's image at (*d), or why it cannot. */
static clconv_status resolve(const clconv__format *f, const char *path,
                             const char *format_of, const clconv__save_opts *o,
                             clconv_depth *d, char *err)
{
    if (!f) {
        char exts[128];
        clconv__format_names(exts, sizeof exts, 1, ".", ", ", " or ");
        clconv__err(err, "%s: unknown output format '.%s' (use %s)", path,
                    ext_of(format_of ? format_of : path), exts);
        return CLCONV_E_INVALID;
    }
    *d = clconv__format_depth(f, o->depth, o->in_depth ? o->in_depth : CLCONV_DEPTH_8);
    if (*d == CLCONV_DEPTH_AUTO) {
        clconv__err(err, "%s: %s cannot hold %s samples (--depth)", path, f->name,
                    depth_name(o->depth));
        return CLCONV_E_INVALID;
    }
    if (o->color && o->color->channels > 1 && !holds_color(f)) {
        clconv__err(err, "%s: %s output holds gray only, not a colour image (--color)",
                    path, f->name);
        return CLCONV_E_INVALID;
    }
    if (o->color && o->color->channels > 2 && strcmp(f->name, "PNM") == 0 &&
        strcasecmp(ext_of(format_of ? format_of : path), "pgm") == 0) {
        clconv__err(err, "%s: PGM holds gray only; write a colour image as .pnm "
                    "(PPM) or .png", path);
        return CLCONV_E_INVALID;
    }
    return CLCONV_OK;
}

/* The end of a write into temp file `tmp`: renamed onto `dest` when st is
 * CLCONV_OK and nothing to keep took its place, else removed; then the
 * directory flushed. Frees tmp. */
static clconv_status finish(clconv_status st, char *tmp, const char *dest,
                            const clconv__path_key *keep, int nkeep, char *err)
{
    if (st == CLCONV_OK) st = check_target(dest, keep, nkeep, err);
    if (st == CLCONV_OK && rename(tmp, dest) != 0) {
        clconv__err(err, "%s: cannot rename the output into place: %s", dest,
                    strerror(errno));
        st = CLCONV_E_IO;
    }
    if (st != CLCONV_OK) unlink(tmp);
    else if (sync_dir(dest) != 0) {
        clconv__err(err, "%s: written, but its directory could not be flushed to "
                    "the disk: %s", dest, strerror(EIO));
        st = CLCONV_E_IO;
    }
    free(tmp);
    return st;
}

clconv_status clconv__image_save_opts(const char *path, const char *format_of,
                                      const clconv__path_key *keep, int nkeep,
                                      const clconv_plane *p,
                                      const clconv__save_opts *o, char *err)
{
    clconv_status st;
    const clconv__format *f = clconv__format_by_name(format_of ? format_of : path, 1);
    clconv_depth d;
    char *tmp = NULL;
    sink s = {NULL, 0, -1, 0, NULL};
    int fd;

    if (o->nan_count) *o->nan_count = 0;
    if (o->clipped) *o->clipped = 0;
    if ((st = resolve(f, path, format_of, o, &d, err)) != CLCONV_OK) return st;
    if (o->written) *o->written = d;
    if ((st = check_target(path, NULL, 0, err)) != CLCONV_OK) return st;
    if (clconv__fault_on("write", path)) s.fault_after = 100;
    fd = create_temp(path, &tmp, 0);
    if (fd < 0) {
        const int e = errno;
        clconv__err(err, "%s: cannot create the output: %s", path, strerror(e));
        free(tmp);
        return e == ENOMEM ? CLCONV_E_NOMEM : CLCONV_E_IO;
    }
    s.fp = fdopen(fd, "wb");
    if (!s.fp) {
        clconv__err(err, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        st = CLCONV_E_IO;
    } else
        st = write_temp(f, &s, path, p, o, d, err);
    return finish(st, tmp, path, keep, nkeep, err);
}

/* ---- a multi-page file, written page by page (DESIGN §6: stacks) ---- */

struct clconv__stack {
    char *path, *tmp;
    const clconv__format *f;
    int fd;
    sink s;
    clconv__tiff_out *out;
};

clconv_status clconv__stack_open(const char *path, int big, clconv__stack **w, char *err)
{
    clconv__stack *k = calloc(1, sizeof *k);
    char why[256];
    clconv_status st;
    *w = NULL;
    if (!k || !(k->path = strdup(path))) {
        free(k);
        clconv__err(err, "%s: out of memory", path);
        return CLCONV_E_NOMEM;
    }
    k->f = clconv__format_by_name(path, 1);
    k->s.fault_after = -1;
    if (!clconv__format_holds_pages(k->f)) {
        clconv__err(err, "%s: this format holds one image, not a stack", path);
        st = CLCONV_E_INVALID;
    } else if ((st = check_target(path, NULL, 0, err)) == CLCONV_OK &&
               (k->fd = create_temp(path, &k->tmp, 1)) < 0) {
        const int e = errno;
        clconv__err(err, "%s: cannot create the output: %s", path, strerror(e));
        st = e == ENOMEM ? CLCONV_E_NOMEM : CLCONV_E_IO;
    } else if (st == CLCONV_OK &&
               !(k->out = clconv__tiff_out_open(k->fd, big,
                                                clconv__fault_on("write", path) ? 100 : -1,
                                                why, sizeof why))) {
        clconv__err(err, "%s: cannot write a TIFF: %s", path, why);
        st = CLCONV_E_IO;
    }
    if (st != CLCONV_OK) {
        if (k->tmp) {
            close(k->fd);
            unlink(k->tmp);
        }
        free(k->tmp);
        free(k->path);
        free(k);
        return st;
    }
    k->s.stack = k->out;
    *w = k;
    return CLCONV_OK;
}

clconv_status clconv__stack_add(clconv__stack *w, const clconv_plane *p,
                                const clconv__save_opts *o, char *err)
{
    clconv_depth d;
    clconv_status st;
    if (o->nan_count) *o->nan_count = 0;
    if (o->clipped) *o->clipped = 0;
    if ((st = resolve(w->f, w->path, NULL, o, &d, err)) != CLCONV_OK) return st;
    if (o->written) *o->written = d;
    st = encode(w->f, &w->s, w->path, p, o, d, err);
    if (clconv__tiff_out_errno(w->out) != 0) {
        /* The file's write failed (disk full), not the encoder. */
        clconv__err(err, "%s: write failed: %s", w->path,
                    strerror(clconv__tiff_out_errno(w->out)));
        st = CLCONV_E_IO;
    }
    return st;
}

clconv_status clconv__stack_close(clconv__stack *w, const char *dest,
                                  const clconv__path_key *keep, int nkeep, int commit,
                                  char *err)
{
    char why[256];
    int e = 0;
    clconv_status st = CLCONV_OK;
    if (!w) return CLCONV_OK;
    if (!clconv__tiff_out_close(w->out, &e, why, sizeof why) && commit) {
        if (e) clconv__err(err, "%s: write failed: %s", w->path, strerror(e));
        else clconv__err(err, "%s: the TIFF encoder failed: %s", w->path, why);
        st = CLCONV_E_IO;
    }
    if (st == CLCONV_OK && commit && fsync(w->fd) != 0) {
        clconv__err(err, "%s: write failed: %s", w->path, strerror(errno));
        st = CLCONV_E_IO;
    }
    if (close(w->fd) != 0 && st == CLCONV_OK && commit) {
        clconv__err(err, "%s: write failed: %s", w->path, strerror(errno));
        st = CLCONV_E_IO;
    }
    if (!commit) {
        unlink(w->tmp);
        free(w->tmp);
    } else {
        st = finish(st, w->tmp, dest, keep, nkeep, err);
    }
    free(w->path);
    free(w);
    return st;
}

clconv_status clconv__image_save(const char *path, const char *format_of,
                                 const clconv__path_key *keep, int nkeep,
                                 const clconv_plane *p, clconv_map map, int quality,
                                 long long *nan_count, char *err)
{
    const clconv__save_opts o = {map, quality, CLCONV_DEPTH_AUTO, CLCONV_DEPTH_8,
                                 nan_count, NULL, NULL, NULL, 0, NULL, NULL, 0, 0, 0};
    return clconv__image_save_opts(path, format_of, keep, nkeep, p, &o, err);
}

clconv_status clconv_image_save(const char *path, const clconv_plane *p,
                                clconv_map map, int quality,
                                long long *nan_count, char err[CLCONV_ERR_MAX])
{
    return clconv__image_save(path, NULL, NULL, 0, p, map, quality, nan_count, err);
}

clconv_status clconv_image_save_depth(const char *path, const clconv_plane *p,
                                      clconv_map map, clconv_depth depth, int quality,
                                      long long *nan_count, long long *clipped,
                                      char err[CLCONV_ERR_MAX])
{
    const clconv__save_opts o = {map, quality, depth, CLCONV_DEPTH_8, nan_count,
                                 clipped, NULL, NULL, 0, NULL, NULL, 0, 0, 0};
    return clconv__image_save_opts(path, NULL, NULL, 0, p, &o, err);
}

clconv_status clconv_image_save_color(const char *path, const clconv_image *img,
                                      clconv_map map, clconv_depth depth, int quality,
                                      long long *nan_count, long long *clipped,
                                      char err[CLCONV_ERR_MAX])
{
    const clconv__save_opts o = {map, quality, depth,
                                 img->depth ? (clconv_depth)img->depth : CLCONV_DEPTH_8,
                                 nan_count, clipped, NULL, img, 0, NULL, NULL, 0, 0, 0};
    if (img->channels < 1 || img->channels > CLCONV_MAX_CHANNELS) {
        clconv__err(err, "%s: an image of %d channels cannot be written", path,
                    img->channels);
        return CLCONV_E_INVALID;
    }
    return clconv__image_save_opts(path, NULL, NULL, 0, &img->planes[0], &o, err);
}
