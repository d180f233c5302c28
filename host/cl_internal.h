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

/* FFT block sides: 128, 256, 512. */
#define CLCONV_FFT_SIZES 3

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
    /* The FFT path (conv_fft.c), built on its first use: one program per
     * block side N = 128 << i, with its twiddles and bit-reversal table. */
    struct clconv_fft_prog {
        cl_program program;
        cl_kernel load[2]; /* [uchar source] */
        cl_kernel fwd_y, x_conv, inv_y;
        cl_mem tw, rev;
    } fft[CLCONV_FFT_SIZES];
    cl_mem fft_ext, fft_scratch; /* a band's extended plane, its spectra */
    size_t fft_ext_cap, fft_scratch_cap;
    /* The last filter spectrum, kept for the next call with the same taps. */
    cl_mem fft_h;
    double fft_h_max;      /* max |H| over the block's frequencies */
    int fft_h_n, fft_h_kh, fft_h_kw;
    double *fft_h_taps;
};

/* The program built from `src` with `opts` for cl's device, from the binary
 * cache (cl_cache.c); NULL when there is none or it is unusable. */
cl_program clconv__cache_load(clconv_cl *cl, const char *src, const char *opts);
/* Keeps a successfully built program's binary for clconv__cache_load;
 * failures are silent (the cache is an optimisation). */
void clconv__cache_store(clconv_cl *cl, cl_program prog, const char *src,
                         const char *opts);

/* A kernel entry point's name and where its kernel object goes. */
typedef struct clconv__kernel_ref {
    const char *name;
    cl_kernel *k;
} clconv__kernel_ref;

/* Creates every kernel of `ks` from prog; on failure err names the entry
 * point and the OpenCL error (the caller releases what was created). */
clconv_status clconv__create_kernels(cl_program prog, const clconv__kernel_ref *ks,
                                     size_t n, char *err);

/* "CL_OUT_OF_RESOURCES" for -5, and so on. */
const char *clconv__cl_errname(cl_int e);

/* Records a failed call in err: the call, the error's name, where. */
clconv_status clconv__cl_fail(char *err, cl_int e, const char *call,
                              const char *func, int line);

/* Test-only fault switches, read from $CLCONV_FAULT (a list of words):
 * "cl-alloc" fails buffer creation, "cl-build" breaks the kernel source,
 * "perturb" corrupts one device output pixel, "write" fails output writes. */
int clconv__fault(const char *what);

/* Builds kernels/<file> (embedded, or from $CLCONV_KERNEL_DIR) with `opts`
 * into *out; `broken`, when not NULL, is compiled instead (the fault
 * switches). A failure names the OpenCL error and carries the build log. */
clconv_status clconv__build_program(clconv_cl *cl, const char *file,
                                    const char *opts, const char *broken,
                                    cl_program *out, char *err);

/* Shared by conv_cl.c and conv_fft.c. */
clconv_status clconv__ensure_buf(clconv_cl *cl, cl_mem *buf, size_t *cap,
                                 size_t need, cl_mem_flags flags, char *err);
clconv_status clconv__wrap_host(clconv_cl *cl, cl_mem *buf, cl_mem_flags flags,
                                size_t bytes, void *host, char *err);
int clconv__zero_copy(const clconv_cl *cl);
/* Brings out_b's out_bytes to host_out: maps it (zc, a wrapped host
 * buffer; events ev_read, ev_unmap) or reads it (ev_read). Blocks. */
clconv_status clconv__read_back(clconv_cl *cl, int zc, cl_mem out_b,
                                float *host_out, size_t out_bytes,
                                cl_event *ev_read, cl_event *ev_unmap, char *err);
double clconv__event_ms(cl_event ev);

/* What the FFT path reads: a source of sw x sh floats or bytes, seen through
 * the border maps as the geometry's padded plane (the padded entry point
 * passes the padded plane itself with identity maps). */
typedef struct clconv__fft_src {
    const void *data;
    int u8;              /* bytes, else floats */
    int sw, sh;
    const int *rmap;     /* padded_h entries: source row, -1: cval */
    const int *cmap;     /* padded_w entries: source column, -1: cval */
    int c_lo, c_hi;      /* padded columns that map to c - c_lo */
    float cval;
} clconv__fft_src;

/* Whether the FFT path may run for this filter and geometry, values aside:
 * integer taps within the accuracy gate, stride and dilation 1, a block that
 * fits the device's local memory; `forced`: the caller asked for it, else
 * also enough taps to pay. */
int clconv__fft_filter_ok(const clconv_cl *cl, const clconv_filter *f,
                          const clconv_geometry *g, int forced);

/* Runs the FFT path (lock held). CLCONV_E_TOO_LARGE, with nothing done, when
 * it declines (its buffers do not fit the device, or the filter's spectrum
 * fails the accuracy gate): the caller falls back to the default choice. */
clconv_status clconv__fft_run(clconv_cl *cl, const clconv__fft_src *src,
                              const clconv_filter *f, const clconv_geometry *g,
                              clconv_plane *out, clconv_cl_timing *tm, char *err);

/* Releases the FFT path's programs and buffers (clconv_cl_close). */
void clconv__fft_release(clconv_cl *cl);

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
