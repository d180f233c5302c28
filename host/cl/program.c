/* program.c — OpenCL programs: the kernel sources (embedded at build time,
 * or read from $CLCONV_KERNEL_DIR for kernel work, regular files only:
 * never through a symlink, never blocking on a FIFO), common.cl joined before
 * each program's files, builds with the whole log kept on failure, the
 * binary cache consulted first (cache.c), kernel creation, and OpenCL
 * errors by name.
 * It must not know which kernels a program holds (registry.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "cl/cl.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Generated at build time from the kernels directory (cmake/embed.cmake):
 * clconv_kernel_files[], each file's name, bytes and size. */
#include "clconv_kernels.h"

const char *clconv__cl_errname(cl_int e)
{
    switch (e) {
#define N(x) case x: return #x;
    N(CL_SUCCESS) N(CL_DEVICE_NOT_FOUND) N(CL_DEVICE_NOT_AVAILABLE)
    N(CL_COMPILER_NOT_AVAILABLE) N(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    N(CL_OUT_OF_RESOURCES) N(CL_OUT_OF_HOST_MEMORY)
    N(CL_PROFILING_INFO_NOT_AVAILABLE) N(CL_MEM_COPY_OVERLAP)
    N(CL_IMAGE_FORMAT_MISMATCH) N(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    N(CL_BUILD_PROGRAM_FAILURE) N(CL_MAP_FAILURE)
    N(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    N(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    N(CL_COMPILE_PROGRAM_FAILURE) N(CL_LINKER_NOT_AVAILABLE)
    N(CL_LINK_PROGRAM_FAILURE) N(CL_DEVICE_PARTITION_FAILED)
    N(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) N(CL_INVALID_VALUE)
    N(CL_INVALID_DEVICE_TYPE) N(CL_INVALID_PLATFORM) N(CL_INVALID_DEVICE)
    N(CL_INVALID_CONTEXT) N(CL_INVALID_QUEUE_PROPERTIES)
    N(CL_INVALID_COMMAND_QUEUE) N(CL_INVALID_HOST_PTR)
    N(CL_INVALID_MEM_OBJECT) N(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    N(CL_INVALID_IMAGE_SIZE) N(CL_INVALID_SAMPLER) N(CL_INVALID_BINARY)
    N(CL_INVALID_BUILD_OPTIONS) N(CL_INVALID_PROGRAM)
    N(CL_INVALID_PROGRAM_EXECUTABLE) N(CL_INVALID_KERNEL_NAME)
    N(CL_INVALID_KERNEL_DEFINITION) N(CL_INVALID_KERNEL)
    N(CL_INVALID_ARG_INDEX) N(CL_INVALID_ARG_VALUE) N(CL_INVALID_ARG_SIZE)
    N(CL_INVALID_KERNEL_ARGS) N(CL_INVALID_WORK_DIMENSION)
    N(CL_INVALID_WORK_GROUP_SIZE) N(CL_INVALID_WORK_ITEM_SIZE)
    N(CL_INVALID_GLOBAL_OFFSET) N(CL_INVALID_EVENT_WAIT_LIST)
    N(CL_INVALID_EVENT) N(CL_INVALID_OPERATION) N(CL_INVALID_GL_OBJECT)
    N(CL_INVALID_BUFFER_SIZE) N(CL_INVALID_MIP_LEVEL)
    N(CL_INVALID_GLOBAL_WORK_SIZE) N(CL_INVALID_PROPERTY)
    N(CL_INVALID_IMAGE_DESCRIPTOR) N(CL_INVALID_COMPILER_OPTIONS)
    N(CL_INVALID_LINKER_OPTIONS) N(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef N
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}

clconv_status clconv__cl_fail(char *err, cl_int e, const char *call,
                              const char *func, int line)
{
    char name[64];
    /* Keep only the function name of the call text, not its arguments. */
    size_t n = strcspn(call, "(");
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, call, n);
    name[n] = '\0';
    clconv__err(err, "%s failed: %s (%d) [%s:%d]", name,
                clconv__cl_errname(e), (int)e, func, line);
    return CLCONV_E_OPENCL;
}

int clconv__fault(const char *what)
{
    return clconv__fault_on(what, NULL);
}

/* kernels/<file> from $CLCONV_KERNEL_DIR (malloc'd, NUL ended). Opened as
 * a regular file only: a FIFO there would block the process for ever, a
 * symlink is refused like the cache's (cache.c, clconv__open_file). */
static clconv_status kernel_file(const char *dir, const char *file, char **src, char *err)
{
    char path[4096], why[4200];
    unsigned char *data = NULL;
    size_t len = 0;
    int fd, ok;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    fd = clconv__open_file(AT_FDCWD, path, path, 0, why, sizeof why);
    if (fd < 0) {
        clconv__err(err, "%s (CLCONV_KERNEL_DIR)", why);
        return CLCONV_E_IO;
    }
    ok = clconv__read_fd(fd, (size_t)64 << 20, &data, &len);
    close(fd);
    if (!ok) {
        clconv__err(err, "%s: cannot read the kernel source (CLCONV_KERNEL_DIR)", path);
        return CLCONV_E_IO;
    }
    *src = (char *)data;
    return CLCONV_OK;
}

/* The source of kernels/<file>: embedded, or from $CLCONV_KERNEL_DIR for
 * kernel work. */
static clconv_status kernel_source(const char *file, char **src, char *err)
{
    const char *dir = getenv("CLCONV_KERNEL_DIR");
    const unsigned char *emb;
    size_t emb_len;
    int i;
    *src = NULL;
    if (dir && *dir) return kernel_file(dir, file, src, err);
    for (i = 0; clconv_kernel_files[i].name; i++)
        if (strcmp(clconv_kernel_files[i].name, file) == 0) break;
    if (!clconv_kernel_files[i].name) {
        clconv__err(err, "%s: no such embedded kernel source", file);
        return CLCONV_E_INVALID;
    }
    emb = clconv_kernel_files[i].data;
    emb_len = clconv_kernel_files[i].size;
    *src = malloc(emb_len);
    if (!*src) return CLCONV_E_NOMEM;
    memcpy(*src, emb, emb_len);
    return CLCONV_OK;
}

/* common.cl and then each of `files`, joined into one source (malloc'd). */
static clconv_status program_source(const char *const *files, int n, char **out,
                                    char *err)
{
    char *all = NULL, *part = NULL;
    size_t len = 0;
    int i;
    clconv_status st = CLCONV_OK;
    *out = NULL;
    for (i = -1; i < n && st == CLCONV_OK; i++) {
        size_t pl;
        char *grow;
        st = kernel_source(i < 0 ? "common.cl" : files[i], &part, err);
        if (st != CLCONV_OK) break;
        pl = strlen(part);
        grow = realloc(all, len + pl + 2);
        if (!grow) {
            clconv__err(err, "out of memory");
            st = CLCONV_E_NOMEM;
            break;
        }
        all = grow;
        memcpy(all + len, part, pl);
        all[len + pl] = '\n';
        len += pl + 1;
        all[len] = '\0';
        free(part);
        part = NULL;
    }
    free(part);
    if (st != CLCONV_OK) {
        free(all);
        return st;
    }
    *out = all;
    return CLCONV_OK;
}

clconv_status clconv__build_program(clconv_cl *cl, const char *const *files,
                                    int nfiles, const char *opts,
                                    const char *broken, cl_program *out,
                                    char *err)
{
    clconv_status st = CLCONV_OK;
    char *src = NULL;
    const char *srcp;
    cl_int e;

    *out = NULL;
    st = program_source(files, nfiles, &src, err);
    if (st != CLCONV_OK) return st;
    srcp = broken ? broken : src;
    /* A binary built before for this source and device (cl_cache.c). */
    *out = clconv__cache_load(cl, srcp, opts);
    if (*out) goto cleanup;
    *out = clCreateProgramWithSource(cl->ctx, 1, &srcp, NULL, &e);
    if (e != CL_SUCCESS) {
        st = clconv__cl_fail(err, e, "clCreateProgramWithSource", __func__, __LINE__);
        goto cleanup;
    }
    /* No -cl-fast-relaxed-math: verification assumes IEEE float. */
    e = clBuildProgram(*out, 1, &cl->dev, opts, NULL, NULL);
    if (e != CL_SUCCESS) {
        size_t n = 0, used;
        char *log = NULL;
        st = clconv__cl_fail(err, e, "clBuildProgram", __func__, __LINE__);
        clGetProgramBuildInfo(*out, cl->dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
        used = strlen(err);
        if (n > 1 && (log = malloc(n + 1)) != NULL &&
            clGetProgramBuildInfo(*out, cl->dev, CL_PROGRAM_BUILD_LOG, n,
                                  log, NULL) == CL_SUCCESS) {
            size_t i;
            log[n] = '\0';
            /* The whole log, kept on the error's one line: newlines become
             * " | " so a batch's messages stay one line per file. */
            for (i = 0; log[i]; i++)
                if (log[i] == '\r') log[i] = ' ';
            used += (size_t)snprintf(err + used, CLCONV_ERR_MAX - used, "; build log: ");
            for (i = 0; log[i] && used + 4 < CLCONV_ERR_MAX; i++) {
                if (log[i] == '\n') {
                    if (log[i + 1] == '\0') break;
                    memcpy(err + used, " | ", 3);
                    used += 3;
                } else {
                    err[used++] = log[i];
                }
            }
            err[used] = '\0';
        }
        free(log);
        goto cleanup;
    }
    clconv__cache_store(cl, *out, srcp, opts);
cleanup:
    free(src);
    if (st != CLCONV_OK && *out) {
        clReleaseProgram(*out);
        *out = NULL;
    }
    return st;
}

clconv_status clconv__create_kernels(cl_program prog, const clconv__kernel_ref *ks,
                                     size_t n, char *err)
{
    size_t i;
    cl_int e;
    for (i = 0; i < n; i++) {
        *ks[i].k = clCreateKernel(prog, ks[i].name, &e);
        if (e != CL_SUCCESS) {
            char call[96];
            snprintf(call, sizeof call, "clCreateKernel(%s)", ks[i].name);
            return clconv__cl_fail(err, e, call, __func__, __LINE__);
        }
    }
    return CLCONV_OK;
}
