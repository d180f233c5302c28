/* plan.h — the device path's decisions, made before any OpenCL call and
 * from numbers alone, so they are unit-tested without a device
 * (tests/test_plan.c): the memory budget, which kernel variant a call
 * takes, whether the FFT path may, and how many output rows go in a band.
 * The variants themselves are rows of the kernel registry (registry.c).
 * Nothing here may need a device.
 */
#ifndef CLCONV_CL_PLAN_H
#define CLCONV_CL_PLAN_H

#include "core/core.h"

/* What planning reads of a device: its limits (clconv_device_info) and
 * the cap on rows per band (clconv_cl_set_band_rows, 0: none). */
typedef struct clconv__limits {
    unsigned long long max_alloc, global_mem, local_mem, const_mem;
    int band_rows;
    int is_gpu;
} clconv__limits;

/* The kernel variants, in registry order. */
typedef enum clconv__variant {
    CLCONV__NAIVE,
    CLCONV__TILED,
    CLCONV__SEPARABLE,
    CLCONV__LOCAL,
    CLCONV__FFT,
    CLCONV__VARIANTS
} clconv__variant;

/* Outputs per work-item of the tiled and separable kernels, along x and y,
 * and along x of the local kernel: build options -DVEC_W, -DTILE_ROWS,
 * -DLOCAL_R. */
#define CLCONV_VEC_W 16
#define CLCONV_TILE_ROWS 4
#define CLCONV_LOCAL_R 4

/* A kernel variant with its tunables (the tuner's candidates and a tuning
 * table's winners): outputs per work-item (tiled, separable: -DVEC_W and
 * -DTILE_ROWS; local: -DLOCAL_R in vec_w, tile_rows 1; others 1 x 1) and
 * the work-group asked for. The defaults are the registry's row. */
typedef struct clconv__shape {
    int var;
    int vec_w, tile_rows;
    int wg_x, wg_y;
} clconv__shape;

/* The built-in shape of variant v. */
void clconv__shape_default(int v, clconv__shape *s);
/* Whether s is its variant's built-in shape (then the main program runs). */
int clconv__shape_is_default(const clconv__shape *s);
/* Whether the kernels accept s's tile sizes (VEC_W 4, 8, 16; TILE_ROWS and
 * LOCAL_R 1, 2, 4) and its work-group is 1..1024 items. */
int clconv__shape_valid(const clconv__shape *s);

/* One entry of a tuning table (docs/kernels.md): a grid point (the filter
 * class, rank 1 or not, its side k, the image's side) and the shape that
 * won there, with its time and the built-in choice's. */
#define CLCONV__TUNE_MAX 256
typedef struct clconv__tune_entry {
    int rank1, k, side;
    clconv__shape s;
    double ms, default_ms;
    char name[32];        /* "sq5@1024", "r1-9@256": what --json shows */
} clconv__tune_entry;

typedef struct clconv__tune_table {
    int n;
    clconv__tune_entry e[CLCONV__TUNE_MAX];
} clconv__tune_table;

/* The entry of t nearest to a call (the filter's class; then its side,
 * sqrt(kw * kh), and the output's pixels, on a log scale, the filter
 * weighing twice); NULL when t has none of that class. */
const clconv__tune_entry *clconv__tune_lookup(const clconv__tune_table *t, int rank1,
                                              int kw, int kh, int out_w, int out_h);

/* FFT block sides: 128, 256, 512. */
#define CLCONV_FFT_SIZES 3

/* The largest single allocation, and what one call may take of the
 * device's global memory in all (half of it: the rest is left to other
 * programs and the driver; max_alloc where the device does not say). */
void clconv__budget(const clconv__limits *lim, unsigned long long *max_alloc,
                    unsigned long long *budget);

/* A kernel name ("tiled") to its variant; -1 for "auto" and anything
 * unknown. */
int clconv__variant_of(const char *name);
/* The name of variant v (the registry's), NULL past the last. */
const char *clconv__variant_name(int v);
/* The variant forced by clconv_cl_set_kernel (`set`, -1: none), else by
 * CLCONV_KERNEL=naive|tiled|separable|local|fft; -1: the host chooses. */
int clconv__forced_variant(int set);

/* Factors K = u v^T into u (kh) and v (kw) when the filter has rank 1 and
 * the factors keep DESIGN.md's promises (plan.c says which); 0 otherwise. */
int clconv__factor_rank1(const clconv_filter *f, float *u, float *v);

/* The local kernel's __local tile for an lx x ly work-group, in bytes. */
unsigned long long clconv__local_bytes(const clconv_geometry *g, size_t lx,
                                       size_t ly);

/* The same for a local work-item of r outputs along x (-DLOCAL_R). */
unsigned long long clconv__local_bytes_r(const clconv_geometry *g, size_t lx,
                                         size_t ly, int r);

/* The variant for this call, FFT aside (clconv__fft_wanted): separable
 * (factors into fu, fv) for rank-1 filters when forced or big enough,
 * local only when forced and its tile fits, tiled for stride 1, else
 * naive. */
int clconv__choose_variant(const clconv__limits *lim, int forced,
                           const clconv_filter *f, const clconv_geometry *g,
                           float *fu, float *fv);

/* Whether to try the FFT path, given the variant chosen: forced, for any
 * case it computes exactly; by default, for such cases with enough taps to
 * pay. The values must be checked too (clconv__fft_values_ok). */
int clconv__fft_wanted(const clconv__limits *lim, int forced,
                       const clconv_filter *f, const clconv_geometry *g,
                       int var);
/* Whether the FFT path may run for this filter and geometry, values aside
 * (`forced`: also when it would not pay). It runs on every device: where
 * its block's columns do not fit local memory (clconv__fft_local_ok), they
 * live in global memory. Unforced, GPUs never take it: the cost model was
 * measured on CPU implementations only (docs/kernels.md). */
int clconv__fft_filter_ok(const clconv__limits *lim, const clconv_filter *f,
                          const clconv_geometry *g, int forced);
/* Every value an integer in 0..255: what the FFT's rounding needs. */
int clconv__fft_values_ok(const float *v, size_t n);
/* The accuracy gate on max|H| (or a bound of it). */
int clconv__fft_gate_ok(double mag);
/* The FFT block side index (N = 128 << i) for the geometry's filter. */
int clconv__fft_block_index(const clconv_geometry *g);
/* Scratch bytes per group of 16 FFT blocks of side n: the spectra, and the
 * columns' own space when they live in global memory. */
unsigned long long clconv__fft_group_bytes(int n);
unsigned long long clconv__fft_column_bytes(int n);
/* Whether a work-item's columns for block side n fit local memory. */
int clconv__fft_local_ok(const clconv__limits *lim, int n);

/* Output rows per band. The padded path (a host-padded band with its halo
 * goes up per band; `sep`: the separable row pass's plane too): at least 1
 * unless one row does not fit, then 0. */
long long clconv__band_rows_padded(const clconv__limits *lim,
                                   const clconv_geometry *g, int sep);
/* The border-on-device path (the whole source of src_bytes on the device,
 * the maps beside it): 0 when it cannot run, and the caller pads on the
 * host. *left receives the budget left beside the source and maps. */
long long clconv__band_rows_src(const clconv__limits *lim,
                                const clconv_geometry *g,
                                unsigned long long src_bytes, int sep,
                                unsigned long long *left);
/* The FFT path, source of src_bytes on the device: whole block rows, 0
 * when not even one fits (then the caller takes another variant). */
long long clconv__band_rows_fft(const clconv__limits *lim,
                                const clconv_geometry *g,
                                unsigned long long src_bytes);

#endif
