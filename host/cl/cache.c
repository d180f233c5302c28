/* cache.c — built program binaries kept on disk, so that opening a device
 * does not compile the kernels again. Even with the driver's own cache a
 * build from source preprocesses and hashes the whole source: on PoCL that
 * is about 45 ms of every process start, against 4 ms from a binary.
 *
 * Where: $CLCONV_CACHE_DIR, else $XDG_CACHE_HOME/clconv, else
 * $HOME/.cache/clconv; CLCONV_CACHE_DIR=off turns the cache off. The
 * directory and every entry must be ours (owned by the effective user, not
 * writable by group or others, not reached through a final symlink, an
 * entry a regular file): a PoCL binary is native code, so whoever can write
 * the cache runs code as us. Anything else is refused with one warning
 * (clconv__log) and the build goes on from source without the cache.
 *
 * The key is everything a binary depends on: clconv's version, the source,
 * the build options, the device, its driver, device and platform versions,
 * and the identity of the ICD library that is loaded (path, size, mtime).
 * A file's name is a hash of the key; its content is a header (magic,
 * payload size, a hash of the payload) and the payload: the whole key, the
 * kernel names and the binary. A file is used only when its hash, its key
 * and its kernels all match; anything wrong (short, altered, another
 * entry's file, refused by the driver) means a build from source, whose
 * binary then replaces the file. Files are written under a temporary name
 * (0600) and renamed, so concurrent processes never read half a file.
 * It must not trust a file it did not check, nor fail a build, nor touch a
 * file that is not its own.
 */
#define _GNU_SOURCE /* dladdr */
#include "cl/cl.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "CLCONVPB"
#define HEADER 24 /* magic 8, payload size 8, payload hash 8 */
#define MAX_BINARY ((size_t)256 << 20)
#define MAX_KEY ((size_t)16 << 20)
#define FNV0 0xcbf29ce484222325ULL

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

unsigned long long clconv__fnv64(unsigned long long h, const void *data, size_t n)
{
    return fnv(h, data, n);
}

static void put64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Who besides the owner may write a file of this mode. */
static const char *writers(mode_t m)
{
    return (m & 022) == 022 ? "its group and others" : (m & 020) ? "its group" : "others";
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ------------------------------------------------------------ warnings */

/* One warning per distinct text per process: a refused directory would
 * otherwise be reported for every program built. */
void clconv__cache_warn(const char *fmt, ...)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t seen[32];
    static int nseen;
    char line[CLCONV_ERR_MAX];
    uint64_t h;
    int i, dup = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    h = fnv(FNV0, line, strlen(line));
    pthread_mutex_lock(&mu);
    for (i = 0; i < nseen; i++) dup |= seen[i] == h;
    if (!dup && nseen < 32) seen[nseen++] = h;
    pthread_mutex_unlock(&mu);
    if (!dup) clconv__log("%s", line);
}

/* ------------------------------------------------------------ files */

int clconv__open_file(int dfd, const char *name, const char *shown, int owned,
                      char *why, size_t why_len)
{
    struct stat st;
    int fd, fl, e;
    why[0] = '\0';
    /* O_NONBLOCK: a FIFO must not block the open; O_NOFOLLOW: the name
     * itself must be the file, not a link to one elsewhere. */
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        if (e == ELOOP)
            snprintf(why, why_len, "%s: a symbolic link, refused", shown);
        else
            snprintf(why, why_len, "%s: cannot open: %s", shown, strerror(e));
        errno = e;
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_len, "%s: cannot read: %s", shown, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "%s: not a regular file%s, refused", shown,
                 S_ISFIFO(st.st_mode)  ? " (a FIFO)"
                 : S_ISDIR(st.st_mode) ? " (a directory)"
                                       : "");
    } else if (owned && st.st_uid != geteuid()) {
        snprintf(why, why_len, "%s: owned by uid %ld, not by us (uid %ld), refused",
                 shown, (long)st.st_uid, (long)geteuid());
    } else if (owned && (st.st_mode & 022)) {
        snprintf(why, why_len, "%s: writable by %s (mode %03o), refused", shown,
                 writers(st.st_mode), (unsigned)(st.st_mode & 0777));
    } else if ((fl = fcntl(fd, F_GETFL)) == -1 ||
               fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
        snprintf(why, why_len, "%s: cannot read: %s", shown, strerror(errno));
    } else {
        return fd;
    }
    close(fd);
    errno = EINVAL;
    return -1;
}

int clconv__read_fd(int fd, size_t max, unsigned char **out, size_t *len)
{
    struct stat st;
    unsigned char *buf;
    size_t n, got = 0;
    *out = NULL;
    *len = 0;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || (unsigned long long)st.st_size > max)
        return 0;
    n = (size_t)st.st_size;
    if (!(buf = malloc(n + 1))) return 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got != n) {
        free(buf);
        return 0;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 1;
}

int clconv__cache_dir(char *dir, size_t n, const char *what, const char *then)
{
    const char *env = getenv("CLCONV_CACHE_DIR"), *base;
    struct stat st;
    int len, fd;
    if (env && (!*env || strcmp(env, "off") == 0)) return -1;
    if (env) {
        len = snprintf(dir, n, "%s", env);
    } else if ((base = getenv("XDG_CACHE_HOME")) && *base) {
        len = snprintf(dir, n, "%s/clconv", base);
    } else if ((base = getenv("HOME")) && *base) {
        len = snprintf(dir, n, "%s/.cache", base);
        if (len > 0 && (size_t)len < n) (void)mkdir(dir, 0700);
        len = snprintf(dir, n, "%s/.cache/clconv", base);
    } else {
        return -1;
    }
    if (len <= 0 || (size_t)len >= n) return -1;
    /* mkdir's 0700 can only be narrowed by the umask, never widened. */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
            clconv__cache_warn("%s %s: a symbolic link, refused; %s", what, dir, then);
        else if (e == ENOTDIR)
            clconv__cache_warn("%s %s: not a directory; %s", what, dir, then);
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        clconv__cache_warn("%s %s: owned by uid %ld, not by us (uid %ld), refused; %s", what, dir,
             (long)st.st_uid, (long)geteuid(), then);
    } else if (st.st_mode & 022) {
        clconv__cache_warn("%s %s: writable by %s (mode %03o), refused; %s", what, dir,
             writers(st.st_mode), (unsigned)(st.st_mode & 0777), then);
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

/* ------------------------------------------------------------ the key */

/* Nonzero when pl lists the extension `ext` (a whole word). */
static int has_ext(cl_platform_id pl, const char *ext)
{
    char buf[4096], *p;
    size_t n = strlen(ext);
    if (clGetPlatformInfo(pl, CL_PLATFORM_EXTENSIONS, sizeof buf, buf, NULL) != CL_SUCCESS)
        return 0;
    buf[sizeof buf - 1] = '\0';
    for (p = buf; (p = strstr(p, ext)) != NULL; p += n)
        if ((p == buf || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
    return 0;
}

/* The ICD library that implements platform pl, as the file the dynamic
 * loader mapped (dladdr): the one holding the platform's own
 * clIcdGetPlatformIDsKHR (every ICD exports it); where the platform does
 * not hand that out, the one holding the platform's clGetPlatformInfo from
 * its dispatch table (cl_khr_icd: every object starts with a pointer to
 * it); else the OpenCL library clconv is linked with. */
static void icd_identity(cl_platform_id pl, clconv__cache_id *id)
{
    void *f = pl ? clGetExtensionFunctionAddressForPlatform(pl, "clIcdGetPlatformIDsKHR")
                 : NULL;
    Dl_info di, loader;
    struct stat st;
    const int own = dladdr((void *)(uintptr_t)&clGetPlatformInfo, &loader) != 0;
    if (!f || !dladdr(f, &di) || (own && di.dli_fbase == loader.dli_fbase)) {
        f = NULL;
        if (pl && has_ext(pl, "cl_khr_icd")) {
            void *const *dispatch = *(void *const *const *)pl;
            f = dispatch ? dispatch[1] : NULL; /* clGetPlatformInfo */
        }
        if (!f || !dladdr(f, &di)) {
            if (!own) return;
            di = loader;
        }
    }
    if (!di.dli_fname) return;
    snprintf(id->icd_path, sizeof id->icd_path, "%s", di.dli_fname);
    if (stat(di.dli_fname, &st) != 0) return;
    id->icd_size = (long long)st.st_size;
    id->icd_mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

void clconv__cache_identify(const clconv_cl *cl, clconv__cache_id *id)
{
    cl_platform_id pl = NULL;
    memset(id, 0, sizeof *id);
    snprintf(id->device, sizeof id->device, "%s", cl->info.name);
    snprintf(id->vendor, sizeof id->vendor, "%s", cl->info.vendor);
    snprintf(id->platform, sizeof id->platform, "%s", cl->info.platform_name);
    snprintf(id->driver_version, sizeof id->driver_version, "%s", cl->info.driver_version);
    snprintf(id->device_version, sizeof id->device_version, "%s", cl->info.cl_version);
    id->is_gpu = cl->info.is_gpu;
    if (clGetDeviceInfo(cl->dev, CL_DEVICE_PLATFORM, sizeof pl, &pl, NULL) != CL_SUCCESS)
        pl = NULL;
    if (pl && clGetPlatformInfo(pl, CL_PLATFORM_VERSION, sizeof id->platform_version,
                                id->platform_version, NULL) != CL_SUCCESS)
        id->platform_version[0] = '\0';
    id->platform_version[sizeof id->platform_version - 1] = '\0';
    icd_identity(pl, id);
}

/* Appends "tag LEN:TEXT\n": lengths keep fields from running together. */
static size_t field(char *out, size_t at, const char *tag, const char *text, size_t len)
{
    int n = sprintf(out + at, "%s %zu:", tag, len);
    memcpy(out + at + (size_t)n, text, len);
    at += (size_t)n + len;
    out[at++] = '\n';
    return at;
}

char *clconv__cache_key(const clconv__cache_id *id, const char *src, const char *opts,
                        size_t *len)
{
    const char *tags[] = {"clconv", "device", "vendor", "platform", "platform-version",
                          "driver-version", "device-version", "icd-path", "options",
                          "source"};
    const char *vals[10];
    char nums[128];
    size_t cap = 256 + strlen(src) + strlen(opts), at = 0;
    char *key;
    int i;
    vals[0] = CLCONV_VERSION;
    vals[1] = id->device;
    vals[2] = id->vendor;
    vals[3] = id->platform;
    vals[4] = id->platform_version;
    vals[5] = id->driver_version;
    vals[6] = id->device_version;
    vals[7] = id->icd_path;
    vals[8] = opts;
    vals[9] = src;
    for (i = 0; i < 10; i++) cap += 32 + strlen(tags[i]) + strlen(vals[i]);
    if (!(key = malloc(cap))) return NULL;
    at = (size_t)sprintf(key, "clconv binary cache 2\n");
    for (i = 0; i < 10; i++) {
        if (i == 9) {
            snprintf(nums, sizeof nums, "%d %lld %lld", id->is_gpu, id->icd_size,
                     id->icd_mtime_ns);
            at = field(key, at, "gpu icd-size icd-mtime-ns", nums, strlen(nums));
        }
        at = field(key, at, tags[i], vals[i], strlen(vals[i]));
    }
    key[at] = '\0';
    *len = at;
    return key;
}

void clconv__cache_name(const char *key, size_t len, char name[32])
{
    snprintf(name, 32, "%016llx.bin", (unsigned long long)fnv(FNV0, key, len));
}

/* ------------------------------------------------------------ load */

/* Where one lookup stands: the directory, the entry's name, its key. */
typedef struct lookup {
    int dfd;
    char dir[3072], name[32], shown[3200];
    char *key;
    size_t key_len;
} lookup;

static int lookup_open(const clconv_cl *cl, const char *src, const char *opts, lookup *l)
{
    clconv__cache_id id;
    l->key = NULL;
    l->dfd = clconv__cache_dir(l->dir, sizeof l->dir, "kernel cache",
                               "building without the cache");
    if (l->dfd < 0) return 0;
    clconv__cache_identify(cl, &id);
    l->key = clconv__cache_key(&id, src, opts, &l->key_len);
    if (!l->key) {
        close(l->dfd);
        return 0;
    }
    clconv__cache_name(l->key, l->key_len, l->name);
    snprintf(l->shown, sizeof l->shown, "kernel cache %s/%s", l->dir, l->name);
    return 1;
}

static void lookup_close(lookup *l)
{
    if (l->dfd >= 0) close(l->dfd);
    free(l->key);
}

/* The program's kernel names ("a;b;c", malloc'd), or NULL. */
static char *kernel_names(cl_program prog, size_t *len)
{
    size_t n = 0;
    char *s;
    if (clGetProgramInfo(prog, CL_PROGRAM_KERNEL_NAMES, 0, NULL, &n) != CL_SUCCESS ||
        n == 0 || !(s = malloc(n + 1)))
        return NULL;
    if (clGetProgramInfo(prog, CL_PROGRAM_KERNEL_NAMES, n, s, NULL) != CL_SUCCESS) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    *len = strlen(s);
    return s;
}

/* Nonzero when every kernel of prog can be created, and its names are
 * `names`: a binary that builds but lacks an entry point is not used. */
static int kernels_ok(cl_program prog, const unsigned char *names, size_t names_len)
{
    size_t n = 0;
    char *have = kernel_names(prog, &n);
    cl_uint nk = 0, i;
    cl_kernel *ks = NULL;
    int ok = have && n == names_len && memcmp(have, names, n) == 0 &&
             clCreateKernelsInProgram(prog, 0, NULL, &nk) == CL_SUCCESS && nk > 0 &&
             (ks = calloc(nk, sizeof *ks)) != NULL &&
             clCreateKernelsInProgram(prog, nk, ks, NULL) == CL_SUCCESS;
    for (i = 0; ks && i < nk; i++)
        if (ks[i]) clReleaseKernel(ks[i]);
    free(ks);
    free(have);
    return ok;
}

/* The program from an entry's bytes, or NULL when they are cut or damaged,
 * hold another build (their key differs), or the driver refuses them. */
static cl_program from_entry(clconv_cl *cl, const lookup *l, const char *opts,
                             const unsigned char *d, size_t len)
{
    const unsigned char *pay = d + HEADER, *names, *bin;
    size_t plen, klen, nlen, blen;
    cl_program prog;
    cl_int e = CL_SUCCESS, bst = CL_SUCCESS;
    if (len < HEADER + 16 || memcmp(d, MAGIC, 8) != 0 || get64(d + 8) != len - HEADER)
        return NULL;
    plen = len - HEADER;
    if (fnv(FNV0, pay, plen) != get64(d + 16)) return NULL;
    klen = (size_t)get64(pay);
    if (klen > plen - 16) return NULL;
    if (klen != l->key_len || memcmp(pay + 8, l->key, klen) != 0) return NULL;
    nlen = (size_t)get64(pay + 8 + klen);
    if (nlen > plen - 16 - klen) return NULL;
    names = pay + 16 + klen;
    bin = names + nlen;
    blen = plen - 16 - klen - nlen;
    if (blen == 0) return NULL;
    prog = clCreateProgramWithBinary(cl->ctx, 1, &cl->dev, &blen, &bin, &bst, &e);
    if (e != CL_SUCCESS || bst != CL_SUCCESS) {
        if (prog && e == CL_SUCCESS) clReleaseProgram(prog);
        return NULL;
    }
    if (clBuildProgram(prog, 1, &cl->dev, opts, NULL, NULL) != CL_SUCCESS ||
        !kernels_ok(prog, names, nlen)) {
        clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

/* Removes a bad entry of ours, unless it was replaced since we read it. */
static void discard(const lookup *l, int fd)
{
    struct stat a, b;
    if (fstat(fd, &a) == 0 && fstatat(l->dfd, l->name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        (void)unlinkat(l->dfd, l->name, 0);
}

cl_program clconv__cache_load(clconv_cl *cl, const char *src, const char *opts)
{
    lookup l;
    unsigned char *data = NULL;
    size_t len = 0;
    char why[3400];
    cl_program prog = NULL;
    int fd;

    if (!lookup_open(cl, src, opts, &l)) return NULL;
    fd = clconv__open_file(l.dfd, l.name, l.shown, 1, why, sizeof why);
    if (fd < 0) {
        if (errno != ENOENT) clconv__cache_warn("%s; building without the cache", why);
    } else {
        if (clconv__read_fd(fd, HEADER + MAX_KEY + MAX_BINARY, &data, &len))
            prog = from_entry(cl, &l, opts, data, len);
        /* Ours and bad: removed here, rewritten after the build. */
        if (!prog) discard(&l, fd);
        close(fd);
    }
    free(data);
    lookup_close(&l);
    return prog;
}

/* ------------------------------------------------------------ store */

/* Writes all of buf; 0 on any failure. */
static int write_all(int fd, const unsigned char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        buf += w;
        n -= (size_t)w;
    }
    return 1;
}

/* The entry's bytes for prog (malloc'd), or NULL. */
static unsigned char *make_entry(cl_program prog, const lookup *l, size_t *len)
{
    size_t bsize = 0, nlen = 0, plen;
    char *names = kernel_names(prog, &nlen);
    unsigned char *d = NULL, *bin;
    if (!names ||
        clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bsize, &bsize, NULL) !=
            CL_SUCCESS || bsize == 0 || bsize > MAX_BINARY)
        goto done;
    plen = 16 + l->key_len + nlen + bsize;
    if (!(d = malloc(HEADER + plen))) goto done;
    put64(d + HEADER, l->key_len);
    memcpy(d + HEADER + 8, l->key, l->key_len);
    put64(d + HEADER + 8 + l->key_len, nlen);
    memcpy(d + HEADER + 16 + l->key_len, names, nlen);
    bin = d + HEADER + 16 + l->key_len + nlen;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) != CL_SUCCESS) {
        free(d);
        d = NULL;
        goto done;
    }
    memcpy(d, MAGIC, 8);
    put64(d + 8, plen);
    put64(d + 16, fnv(FNV0, d + HEADER, plen));
    *len = HEADER + plen;
done:
    free(names);
    return d;
}

int clconv__cache_write(int dfd, const char *name, const void *data, size_t len)
{
    static atomic_uint counter;
    char tmp[96];
    int fd = -1, ok, tries;
    struct timespec ts;
    struct stat st;
    /* Only a free name or a regular file of ours may be replaced. */
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
            ? !S_ISREG(st.st_mode) || st.st_uid != geteuid()
            : errno != ENOENT)
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (tries = 0; tries < 16 && fd < 0; tries++) {
        snprintf(tmp, sizeof tmp, ".%.40s.%ld.%lx.%u", name, (long)getpid(),
                 (unsigned long)ts.tv_nsec, atomic_fetch_add(&counter, 1u));
        /* 0600 whatever the umask: fchmod below, not a umask change. */
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) return 0;
    ok = fchmod(fd, 0600) == 0 && write_all(fd, data, len);
    ok = (close(fd) == 0) && ok;
    if (!ok || renameat(dfd, tmp, dfd, name) != 0) {
        (void)unlinkat(dfd, tmp, 0);
        return 0;
    }
    return 1;
}

void clconv__cache_store(clconv_cl *cl, cl_program prog, const char *src,
                         const char *opts)
{
    lookup l;
    unsigned char *d = NULL;
    size_t len = 0;

    if (!lookup_open(cl, src, opts, &l)) return;
    if ((d = make_entry(prog, &l, &len)) != NULL)
        (void)clconv__cache_write(l.dfd, l.name, d, len);
    free(d);
    lookup_close(&l);
}
