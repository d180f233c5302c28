/* save.c — writing results: the plane mapped to 8 bits where the format
 * wants bytes, handed to the format's encoder (formats.c), and the atomic
 * writer: a temporary file in the output's directory, renamed into place
 * only when everything was written, so a failure never leaves a partial
 * file.
 * It must not overwrite the target before the whole file is written.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct sink {
    FILE *fp;
    int failed;
    int fault_after; /* test switch: fail once this many bytes went out */
    long long written;
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

static mode_t file_mode(void)
{
    /* Outputs get the permissions a plain open(2) would give them. */
    static mode_t mode;
    static int done;
    if (!done) {
        mode_t m = umask(022);
        umask(m);
        mode = 0666 & ~m;
        done = 1;
    }
    return mode;
}

/* The extension of a path's last component ("" when it has none). */
static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return "";
    return dot + 1;
}

/* Encodes p as format f into the sink: mapped to 8 bits first for the
 * formats that take bytes, NaNs counted for the float ones. */
static clconv_status encode(const clconv__format *f, sink *s, const char *path,
                            const clconv_plane *p, clconv_map map, int quality,
                            long long *nan_count, char *err)
{
    clconv__encode_args a = {sink_write, s, p, NULL, quality};
    unsigned char *u8 = NULL;
    int r;
    if (f->u8_out) {
        u8 = malloc((size_t)p->width * (size_t)p->height);
        if (!u8) {
            clconv__err(err, "%s: out of memory", path);
            return CLCONV_E_NOMEM;
        }
        clconv_plane_to_u8(p, map, u8, nan_count);
        a.u8 = u8;
    } else if (nan_count) {
        long long nans = 0;
        size_t i, n = (size_t)p->width * (size_t)p->height;
        for (i = 0; i < n; i++) nans += isnan(p->data[i]) != 0;
        *nan_count = nans;
    }
    r = f->encode(&a);
    free(u8);
    if (!r && !s->failed) {
        clconv__err(err, "%s: the encoder failed (%dx%d too large for the "
                    "format?)", path, p->width, p->height);
        return CLCONV_E_IO;
    }
    return CLCONV_OK;
}

clconv_status clconv_image_save(const char *path, const clconv_plane *p,
                                clconv_map map, int quality,
                                long long *nan_count, char *err)
{
    clconv_status st = CLCONV_OK;
    const clconv__format *f = clconv__format_by_name(path, 1);
    const char *slash = strrchr(path, '/');
    char *tmp = NULL;
    sink s = {NULL, 0, -1, 0};
    int fd = -1, ok = 0;
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;

    if (nan_count) *nan_count = 0;
    if (!f) {
        char exts[128];
        clconv__format_names(exts, sizeof exts, 1, ".", ", ", " or ");
        clconv__err(err, "%s: unknown output format '.%s' (use %s)", path,
                    ext_of(path), exts);
        return CLCONV_E_INVALID;
    }
    if (clconv__fault_on("write", path)) s.fault_after = 100;
    tmp = malloc(dirlen + 32);
    if (!tmp) {
        clconv__err(err, "%s: out of memory", path);
        return CLCONV_E_NOMEM;
    }
    memcpy(tmp, path, dirlen);
    strcpy(tmp + dirlen, ".clconv-tmp-XXXXXX");
    fd = mkstemp(tmp);
    if (fd < 0) {
        clconv__err(err, "%s: cannot create the output: %s", path,
                    strerror(errno));
        free(tmp);
        return CLCONV_E_IO;
    }
    (void)fchmod(fd, file_mode());
    s.fp = fdopen(fd, "wb");
    if (!s.fp) {
        close(fd);
        clconv__err(err, "%s: cannot write: %s", path, strerror(errno));
        st = CLCONV_E_IO;
        goto cleanup;
    }
    st = encode(f, &s, path, p, map, quality, nan_count, err);
    if (st != CLCONV_OK) goto cleanup;
    if (fflush(s.fp) != 0 && !s.failed) s.failed = errno;
    if (s.failed) {
        clconv__err(err, "%s: write failed: %s", path, strerror(s.failed));
        st = CLCONV_E_IO;
        goto cleanup;
    }
    ok = 1;
cleanup:
    if (s.fp && fclose(s.fp) != 0 && ok) {
        clconv__err(err, "%s: write failed: %s", path, strerror(errno));
        st = CLCONV_E_IO;
        ok = 0;
    }
    if (ok && rename(tmp, path) != 0) {
        clconv__err(err, "%s: cannot rename the output into place: %s", path,
                    strerror(errno));
        st = CLCONV_E_IO;
        ok = 0;
    }
    if (!ok) unlink(tmp);
    free(tmp);
    return st;
}
