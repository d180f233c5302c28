/* cache.c — built program binaries kept on disk, so that opening a device
 * does not compile the kernels again. Even with the driver's own cache a
 * build from source preprocesses and hashes the whole source: on PoCL that
 * is about 45 ms of every process start, against 4 ms from a binary.
 *
 * Where: $CLCONV_CACHE_DIR, else $XDG_CACHE_HOME/clconv, else
 * $HOME/.cache/clconv; CLCONV_CACHE_DIR=off turns the cache off.
 * A file's name is a hash of everything its binary depends on: the source,
 * the build options, the device, its driver and platform versions, and
 * clconv's version. Its content is a header (magic, payload size, a hash of
 * the payload) and the binary, which is checked before a driver sees it.
 * Anything wrong (no file, short, altered, refused by the driver) means a
 * build from source, whose binary then replaces the file; files are written
 * to a temporary name and renamed, so concurrent processes never read half
 * a file. Nothing here is an error the caller sees.
 * It must not trust a file it did not check, nor fail a build.
 */
#define _POSIX_C_SOURCE 200809L
#include "cl/cl.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "CLCONVPB"
#define HEADER 24 /* magic 8, payload size 8, payload hash 8 */
#define MAX_BINARY ((size_t)256 << 20)

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
    return fnv(h, s, strlen(s) + 1);
}

static void put64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The cache directory (created), or 0 when there is none. */
static int cache_dir(char *dir, size_t n)
{
    const char *env = getenv("CLCONV_CACHE_DIR"), *base;
    int len;
    if (env && (!*env || strcmp(env, "off") == 0)) return 0;
    if (env) {
        len = snprintf(dir, n, "%s", env);
    } else if ((base = getenv("XDG_CACHE_HOME")) && *base) {
        len = snprintf(dir, n, "%s/clconv", base);
    } else if ((base = getenv("HOME")) && *base) {
        len = snprintf(dir, n, "%s/.cache", base);
        if (len > 0 && (size_t)len < n) (void)mkdir(dir, 0700);
        len = snprintf(dir, n, "%s/.cache/clconv", base);
    } else {
        return 0;
    }
    if (len <= 0 || (size_t)len >= n) return 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return 0;
    return 1;
}

/* The file for this source, options and device; 0 when there is none. */
static int cache_path(const clconv_cl *cl, const char *src, const char *opts,
                      char *path, size_t n)
{
    char dir[3072], buf[512];
    uint64_t h = 0xcbf29ce484222325ULL;
    cl_platform_id pl = NULL;
    int len;
    if (!cache_dir(dir, sizeof dir)) return 0;
    h = fnv_str(h, CLCONV_VERSION);
    h = fnv_str(h, src);
    h = fnv_str(h, opts);
    h = fnv_str(h, cl->info.name);
    h = fnv_str(h, cl->info.vendor);
    h = fnv_str(h, cl->info.platform_name);
    h = fnv_str(h, cl->info.driver_version);
    h = fnv_str(h, cl->info.cl_version);
    if (clGetDeviceInfo(cl->dev, CL_DEVICE_PLATFORM, sizeof pl, &pl, NULL) == CL_SUCCESS &&
        clGetPlatformInfo(pl, CL_PLATFORM_VERSION, sizeof buf, buf, NULL) == CL_SUCCESS) {
        buf[sizeof buf - 1] = '\0';
        h = fnv_str(h, buf);
    }
    h = fnv(h, &cl->info.is_gpu, sizeof cl->info.is_gpu);
    len = snprintf(path, n, "%s/%016llx.bin", dir, (unsigned long long)h);
    return len > 0 && (size_t)len < n;
}

cl_program clconv__cache_load(clconv_cl *cl, const char *src, const char *opts)
{
    char path[3200];
    unsigned char head[HEADER], *bin = NULL;
    const unsigned char *cbin;
    FILE *fp = NULL;
    size_t size;
    cl_program prog = NULL;
    cl_int e = CL_SUCCESS, bst = CL_SUCCESS;

    if (!cache_path(cl, src, opts, path, sizeof path)) return NULL;
    fp = fopen(path, "rb");
    if (!fp) return NULL;
    if (fread(head, 1, HEADER, fp) != HEADER || memcmp(head, MAGIC, 8) != 0)
        goto fail;
    size = (size_t)get64(head + 8);
    if (size == 0 || size > MAX_BINARY || !(bin = malloc(size)) ||
        fread(bin, 1, size, fp) != size || fgetc(fp) != EOF ||
        fnv(0xcbf29ce484222325ULL, bin, size) != get64(head + 16))
        goto fail;
    cbin = bin;
    prog = clCreateProgramWithBinary(cl->ctx, 1, &cl->dev, &size, &cbin, &bst, &e);
    if (e != CL_SUCCESS || bst != CL_SUCCESS) goto fail;
    if (clBuildProgram(prog, 1, &cl->dev, opts, NULL, NULL) != CL_SUCCESS) goto fail;
    fclose(fp);
    free(bin);
    return prog;
fail:
    if (prog) clReleaseProgram(prog);
    fclose(fp);
    free(bin);
    return NULL;
}

void clconv__cache_store(clconv_cl *cl, cl_program prog, const char *src,
                         const char *opts)
{
    char path[3200], tmp[3300];
    unsigned char head[HEADER], *bin = NULL;
    size_t size = 0;
    FILE *fp;
    int fd, ok;

    if (!cache_path(cl, src, opts, path, sizeof path)) return;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS || size == 0 || size > MAX_BINARY || !(bin = malloc(size)))
        goto done;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) != CL_SUCCESS)
        goto done;
    memcpy(head, MAGIC, 8);
    put64(head + 8, size);
    put64(head + 16, fnv(0xcbf29ce484222325ULL, bin, size));
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) goto done;
    fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        unlink(tmp);
        goto done;
    }
    ok = fwrite(head, 1, HEADER, fp) == HEADER && fwrite(bin, 1, size, fp) == size;
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
done:
    free(bin);
}
