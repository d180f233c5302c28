/* cl_internal.h — the OpenCL state behind clconv_cl and the CL_TRY macro that
 * turns every failed OpenCL call into a message with the error's name.
 */
#ifndef CLCONV_CL_INTERNAL_H
#define CLCONV_CL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001 /* cl_khr_icd: no platform */
#endif
#include <pthread.h>

#include "clconv_internal.h"

/* Outputs per work-item of the tiled and separable kernels, along x and y;
 * passed to the kernel build as -DVEC_W and -DTILE_ROWS. */
#define CLCONV_VEC_W 16
#define CLCONV_TILE_ROWS 4
/* Outputs along x per work-item of the local kernel (-DLOCAL_R). */
#define CLCONV_LOCAL_R 4

struct clconv_cl {
    clconv_device_info info;
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue queue;
    cl_program program;
    cl_kernel k_const, k_global;             /* naive: taps __constant | __global */
    cl_kernel k_tiled_const, k_tiled_global; /* tiled, the same two */
    cl_kernel k_sep_rows, k_sep_cols;        /* separable: row pass, column pass */
    /* Border read on the device: [naive | tiled][float | uchar source]
     * [taps __constant | __global]. */
    cl_kernel k_src[2][2][2];
    cl_kernel k_sep_rows_src[2];             /* separable row pass, [uchar] */
    cl_kernel k_local_const, k_local_global; /* local: __local tile, taps as naive */
    /* Band buffers, kept between calls and grown when an image needs more. */
    cl_mem in_buf, out_buf;
    size_t in_cap, out_cap;
    cl_mem tmp_buf;         /* the separable path's row-pass plane */
    size_t tmp_cap;
    int band_rows;          /* cap on output rows per band, 0: none */
    int kernel;             /* forced kernel variant, -1: chosen per call */
    pthread_mutex_t lock;   /* one call at a time on this device */
};

/* The program built from `src` with `opts` for cl's device, from the binary
 * cache (cl_cache.c); NULL when there is none or it is unusable. */
cl_program clconv__cache_load(clconv_cl *cl, const char *src, const char *opts);
/* Keeps a successfully built program's binary for clconv__cache_load;
 * failures are silent (the cache is an optimisation). */
void clconv__cache_store(clconv_cl *cl, cl_program prog, const char *src,
                         const char *opts);

/* "CL_OUT_OF_RESOURCES" for -5, and so on. */
const char *clconv__cl_errname(cl_int e);

/* Records a failed call in err: the call, the error's name, where. */
clconv_status clconv__cl_fail(char *err, cl_int e, const char *call,
                              const char *func, int line);

/* Test-only fault switches, read from $CLCONV_FAULT (a list of words):
 * "cl-alloc" fails buffer creation, "cl-build" breaks the kernel source,
 * "perturb" corrupts one device output pixel, "write" fails output writes. */
int clconv__fault(const char *what);

#define CL_TRY(err, call)                                                    \
    do {                                                                     \
        cl_int e_ = (call);                                                  \
        if (e_ != CL_SUCCESS) {                                              \
            st = clconv__cl_fail((err), e_, #call, __func__, __LINE__);      \
            goto cleanup;                                                    \
        }                                                                    \
    } while (0)

/* For calls that return an object and report through an error argument:
 * `e` holds the error, `call` names the call in the message. */
#define CL_CHECK(err, e, call)                                               \
    do {                                                                     \
        if ((e) != CL_SUCCESS) {                                             \
            st = clconv__cl_fail((err), (e), (call), __func__, __LINE__);    \
            goto cleanup;                                                    \
        }                                                                    \
    } while (0)

#endif
