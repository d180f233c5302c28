/* clconv.h — the only public header of libclconv: 2-D convolution (correlation)
 * of grayscale images (and, channel by channel, colour ones) on OpenCL
 * devices, with a CPU reference path that is both the fallback and the
 * oracle the device is verified against.
 *
 * Conventions, for every function below:
 *  - Every call returns a clconv_status; CLCONV_OK is 0. clconv_status_str()
 *    gives fixed text for a status; functions that take an `err` buffer
 *    (declared `char err[CLCONV_ERR_MAX]`: give them that many bytes) write a
 *    one-line detailed message there, NUL ended.
 *  - Planes are row-major, top-left pixel first, with no padding between rows:
 *    the stride of a plane is its width, in elements.
 *  - Whatever the library allocates, the caller frees with the matching
 *    _free/_destroy function; every one of them accepts NULL.
 *  - The library never exits and never writes to stdout or stderr; messages go
 *    to the caller through `err` buffers and the optional log callback.
 *  - Threads: every function is safe to call from several threads at once
 *    on different objects, and on the same object when it only reads it
 *    (a filter, a plane, a geometry are read-only once made). What a
 *    function allows on one shared object beyond that, in particular on one
 *    clconv_cl, its comment says ("Thread-safe on one ..."); where it says
 *    nothing about a shared object it is being written, so do not share it.
 *  - The test fault switch CLCONV_FAULT exists only in builds configured
 *    with -DCLCONV_FAULT_INJECTION=ON (the test suite's); libclconv.so and
 *    the default build ignore it.
 */
#ifndef CLCONV_H
#define CLCONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is compiled with hidden visibility; what this header
 * declares is its interface, so it is visible (libclconv.so exports
 * exactly the clconv_ functions below). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define CLCONV_VERSION "0.3.0"
#define CLCONV_ERR_MAX 4096

typedef enum clconv_status {
    CLCONV_OK = 0,
    CLCONV_E_INVALID,   /* a bad argument or option value */
    CLCONV_E_NOMEM,     /* host allocation failed */
    CLCONV_E_IO,        /* a file could not be read or written */
    CLCONV_E_DECODE,    /* not a supported or not a valid image */
    CLCONV_E_TOO_LARGE, /* sizes overflow, or exceed --max-pixels */
    CLCONV_E_FILTER,    /* a filter spec or filter file is unusable */
    CLCONV_E_GEOMETRY,  /* the output would be empty (filter larger than image) */
    CLCONV_E_OPENCL,    /* an OpenCL call failed; the message names the error */
    CLCONV_E_NO_DEVICE, /* the requested OpenCL device does not exist */
    CLCONV_E_MISMATCH   /* verification found pixels over tolerance */
} clconv_status;

/* Fixed English text for a status ("out of memory", ...). Never NULL. */
const char *clconv_status_str(clconv_status s);

/* Warnings the library goes on after (a kernel cache it refused as unsafe,
 * ...): one line each, without a "clconv: " prefix or a newline, passed to
 * fn, which may be called from any thread (so fn must be thread-safe).
 * Process-wide; NULL (the default) drops them. Not thread-safe itself: set
 * it before other threads call the library. */
typedef void (*clconv_log_fn)(const char *line, void *user);
void clconv_set_log(clconv_log_fn fn, void *user);

/* ---------------------------------------------------------------- planes */

/* A float32 plane. `data` holds width*height floats, row-major, owned by
 * whoever created the plane (free with clconv_plane_free). */
typedef struct clconv_plane {
    int width;
    int height;
    float *data;
} clconv_plane;

/* Allocates a width x height plane, uninitialised. Checks the size for
 * overflow. Returns CLCONV_E_INVALID for sizes < 1, CLCONV_E_TOO_LARGE or
 * CLCONV_E_NOMEM. */
clconv_status clconv_plane_alloc(clconv_plane *p, int width, int height);
/* Frees p->data and zeroes *p. Accepts NULL and an already freed plane. */
void clconv_plane_free(clconv_plane *p);

/* ---------------------------------------------------------------- images */

/* An 8-bit gray image (row-major, width bytes a row), as decoded before it
 * becomes a float plane. */
typedef struct clconv_image8 {
    int width;
    int height;
    unsigned char *data;
} clconv_image8;

void clconv_image8_free(clconv_image8 *p);

/* Loads an image file and turns it into a gray plane exactly as Pillow's
 * convert("L"): L = (19595 R + 38470 G + 7471 B + 32768) >> 16, alpha ignored,
 * gray inputs keep their gray. Also reads .npy float32/float64/uint8 2-D
 * arrays as they are. `max_pixels` (0: no limit) is checked against the
 * header before any pixel is decoded. On failure `err` says why, naming
 * `path`. */
clconv_status clconv_image_load(const char *path, long long max_pixels,
                                clconv_plane *out, char err[CLCONV_ERR_MAX]);

/* Same, from memory; `name` is used in messages only. */
clconv_status clconv_image_load_memory(const unsigned char *buf, size_t len,
                                       const char *name, long long max_pixels,
                                       clconv_plane *out, char err[CLCONV_ERR_MAX]);

/* Same, but an 8-bit image comes back as bytes in *out8, leaving *out
 * empty, so it can go to clconv_conv_cl_image without a float pass; a .npy
 * file or a 16-bit PNG or PNM (full depth, 0..65535) comes back in *out as
 * floats, leaving *out8 empty. */
clconv_status clconv_image_load8(const char *path, long long max_pixels,
                                 clconv_image8 *out8, clconv_plane *out,
                                 char err[CLCONV_ERR_MAX]);

/* The filters of --resize: Pillow's Image.Resampling, by the same names
 * and with the same numbers (docs/numbers.md); bicubic, the default, as in
 * Pillow. */
typedef enum clconv_resize_filter {
    CLCONV_RESIZE_BICUBIC = 0,
    CLCONV_RESIZE_NEAREST,
    CLCONV_RESIZE_BOX,
    CLCONV_RESIZE_BILINEAR,
    CLCONV_RESIZE_HAMMING,
    CLCONV_RESIZE_LANCZOS
} clconv_resize_filter;

/* The filter's name ("bicubic", ...), NULL for a value that is none. */
const char *clconv_resize_filter_name(clconv_resize_filter f);

/* Resizes an 8-bit gray image to width x height exactly as Pillow 9.4's
 * Image.resize((width, height), filter) does on mode "L" (fixed point,
 * each pass clipped to 0..255). Allocates `out` (free it with
 * clconv_image8_free). Returns CLCONV_E_INVALID for sizes < 1, or
 * CLCONV_E_NOMEM / CLCONV_E_TOO_LARGE, with `err` set. */
clconv_status clconv_image8_resize(const clconv_image8 *in, int width, int height,
                                   clconv_resize_filter filter, clconv_image8 *out,
                                   char err[CLCONV_ERR_MAX]);

/* Resizes a float plane to width x height as Pillow 9.4's Image.resize
 * does on mode "F" (integer = 0: sums in double, float32 between the two
 * passes) or, for a plane of integer samples such as a 16-bit image's, on
 * mode "I" (integer != 0: each pass rounded half away from zero; exact
 * while the values stay below 2^24). Allocates `out`. Statuses as
 * clconv_image8_resize. */
clconv_status clconv_plane_resize_filter(const clconv_plane *in, int width, int height,
                                         clconv_resize_filter filter, int integer,
                                         clconv_plane *out, char err[CLCONV_ERR_MAX]);

/* clconv_plane_resize_filter with bicubic on mode "F": Pillow's default. */
clconv_status clconv_plane_resize(const clconv_plane *in, int width, int height,
                                  clconv_plane *out, char err[CLCONV_ERR_MAX]);

typedef enum clconv_map {
    CLCONV_MAP_CLAMP = 0, /* round half to even, clamp to 0..255 (0..65535
                             at 16 bits) (default) */
    CLCONV_MAP_ABS,       /* |v|, then as clamp */
    CLCONV_MAP_NORMALIZE  /* min..max of the finite values to the full range */
} clconv_map;

/* Maps a float plane to 8 bits. `out8` holds width*height bytes, allocated by
 * the caller. NaN maps to 0; *nan_count (may be NULL) receives their count. */
void clconv_plane_to_u8(const clconv_plane *p, clconv_map map,
                        unsigned char *out8, long long *nan_count);

/* Nonzero when `path` ends in an extension clconv_image_save can write
 * (.png .jpg .jpeg .bmp .tga .pgm .pnm .npy, any case). */
int clconv_format_supported(const char *path);

/* Writes a plane to `path`; the extension picks the format: .png .jpg/.jpeg
 * .bmp .tga .pgm/.pnm (8-bit gray, mapped with `map`) or .npy (raw float32,
 * shape (H, W)); clconv_image_save_depth below writes 16 bits too. The file is written to a temporary file in the same directory,
 * flushed to the disk and renamed into place (the directory flushed after),
 * so a failure never leaves a partial file. A new file gets the mode
 * open(2) gives under the umask; a replaced file keeps its permission bits.
 * `quality` is the JPEG quality (1..100). */
clconv_status clconv_image_save(const char *path, const clconv_plane *p,
                                clconv_map map, int quality,
                                long long *nan_count, char err[CLCONV_ERR_MAX]);

/* Sample depths: of what a file stores, and of what is written. */
typedef enum clconv_depth {
    CLCONV_DEPTH_AUTO = 0,   /* the input's, where the output format holds it */
    CLCONV_DEPTH_8 = 8,
    CLCONV_DEPTH_16 = 16,
    CLCONV_DEPTH_FLOAT = 32  /* float32, unmapped */
} clconv_depth;

/* As clconv_image_load8, and *depth (may be NULL) receives the depth the
 * file stores: 8, 16 (16-bit PNG and PNM, values 0..65535) or FLOAT (.npy).
 * out8 may be NULL: then every image comes back as floats in *out. */
clconv_status clconv_image_load_depth(const char *path, long long max_pixels,
                                      clconv_image8 *out8, clconv_plane *out,
                                      clconv_depth *depth, char err[CLCONV_ERR_MAX]);

/* Maps a float plane to 16 bits as clconv_plane_to_u8 does to 8 (clamp
 * to 0..65535, abs, normalize to 0..65535). *clipped (may be NULL)
 * receives how many pixels the clamp changed: rounded below 0 or above the
 * maximum (never with normalize). */
void clconv_plane_to_u16(const clconv_plane *p, clconv_map map, uint16_t *out16,
                         long long *nan_count, long long *clipped);

/* The depth `path`'s format writes for `want` when the input stored
 * `in_depth`: `want` itself when the format holds it, and for AUTO the
 * input's depth where the format holds it, else the nearest it holds
 * (an 8- or 16-bit format takes 8 for a float input, so its values are
 * never silently rescaled). Returns CLCONV_DEPTH_AUTO (0) when the format
 * is unknown or cannot hold `want` (16 into JPEG, 8 into .npy, ...). */
clconv_depth clconv_format_depth(const char *path, clconv_depth want,
                                 clconv_depth in_depth);

/* clconv_image_save at a depth: `depth` as clconv_format_depth resolves it
 * (with an 8-bit input for AUTO); CLCONV_E_INVALID, naming the format,
 * when the format cannot hold it. *clipped (may be NULL): pixels the
 * mapping clamped. */
clconv_status clconv_image_save_depth(const char *path, const clconv_plane *p,
                                      clconv_map map, clconv_depth depth, int quality,
                                      long long *nan_count, long long *clipped,
                                      char err[CLCONV_ERR_MAX]);

/* A multi-channel image (--color, DESIGN §6): one float plane per channel,
 * all of one size. channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (alpha
 * last); depth: the clconv_depth the file stored (8, 16 or FLOAT). Planes
 * past `channels` are empty. Free with clconv_image_free. */
#define CLCONV_MAX_CHANNELS 4
typedef struct clconv_image {
    int width, height, channels;
    int depth;
    clconv_plane planes[CLCONV_MAX_CHANNELS];
} clconv_image;

void clconv_image_free(clconv_image *img);

/* Loads an image keeping its channels: RGB(A) as 3 (4) planes (palette
 * expanded, 16-bit kept at full depth), gray and gray+alpha as 1 (2), a
 * .npy of shape (H, W) as 1 and (H, W, 3|4) as 3 (4) planes. Errors as
 * clconv_image_load. */
clconv_status clconv_image_load_color(const char *path, long long max_pixels,
                                      clconv_image *out, char err[CLCONV_ERR_MAX]);

/* Writes a multi-channel image: .png (gray, gray+alpha, RGB, RGBA; 8 or
 * 16 bits), .bmp/.tga (8-bit RGB(A)), .jpg (8-bit RGB: alpha dropped),
 * .ppm/.pnm (P6, RGB: alpha dropped; 8 or 16 bits), .npy (float32 of shape
 * (H, W, C); (H, W) for one channel). Every channel is mapped with `map`;
 * *nan_count and *clipped (may be NULL) are summed over the channels.
 * Depth, atomic writing and errors as clconv_image_save_depth. */
clconv_status clconv_image_save_color(const char *path, const clconv_image *img,
                                      clconv_map map, clconv_depth depth, int quality,
                                      long long *nan_count, long long *clipped,
                                      char err[CLCONV_ERR_MAX]);

/* ---------------------------------------------------------------- filters */

typedef struct clconv_filter clconv_filter;

/* Parses a filter spec: a preset name ("sharpen", "box:5", "gaussian:7:1.5"),
 * "@FILE" (a text matrix: one row a line, numbers split by spaces or commas,
 * '#' starts a comment) or an inline matrix ("0,-1,0;-1,5,-1;0,-1,0").
 * Refuses empty, ragged, non-numeric, NaN/Inf, |tap| > 1e30 and filters over
 * CLCONV_FILTER_MAX taps a side. Allocates *out (free: clconv_filter_destroy). */
#define CLCONV_FILTER_MAX 255
clconv_status clconv_filter_parse(const char *spec, clconv_filter **out,
                                  char err[CLCONV_ERR_MAX]);
/* Makes a filter from kh x kw row-major taps (copied). */
clconv_status clconv_filter_create(int kh, int kw, const double *taps,
                                   const char *name, clconv_filter **out,
                                   char err[CLCONV_ERR_MAX]);
void clconv_filter_destroy(clconv_filter *f);
int clconv_filter_width(const clconv_filter *f);
int clconv_filter_height(const clconv_filter *f);
/* Row-major taps, kh*kw doubles, owned by the filter. */
const double *clconv_filter_taps(const clconv_filter *f);
const char *clconv_filter_name(const clconv_filter *f);
/* Nonzero when every tap is an integer (such filters are bit-exact on 8-bit
 * input, see DESIGN.md). */
int clconv_filter_is_integer(const clconv_filter *f);
/* A new filter rotated by 180 degrees (true convolution). */
clconv_status clconv_filter_flip(const clconv_filter *f, clconv_filter **out,
                                 char err[CLCONV_ERR_MAX]);

/* Preset list for --list-filters: the i-th preset's name and description, or
 * NULL past the end. Parametric presets are listed with an example. */
const char *clconv_preset_name(int i);
const char *clconv_preset_help(int i);

/* ---------------------------------------------------------------- geometry */

typedef enum clconv_padding {
    CLCONV_PAD_SAME = 0, /* TensorFlow SAME (default) */
    CLCONV_PAD_VALID,    /* no padding */
    CLCONV_PAD_EXPLICIT  /* pad_width on every side, then valid */
} clconv_padding;

typedef enum clconv_border { /* names and meaning of numpy.pad modes */
    CLCONV_BORDER_CONSTANT = 0,
    CLCONV_BORDER_EDGE,
    CLCONV_BORDER_REFLECT,
    CLCONV_BORDER_SYMMETRIC,
    CLCONV_BORDER_WRAP
} clconv_border;

typedef struct clconv_params {
    clconv_padding padding;
    int pad_width;        /* for CLCONV_PAD_EXPLICIT, >= 0 */
    clconv_border border;
    float cval;           /* value of the constant border */
    int stride;           /* >= 1 */
    int dilation;         /* >= 1 */
} clconv_params;

/* Fills the defaults: same, constant 0, stride 1, dilation 1. */
void clconv_params_init(clconv_params *p);
const char *clconv_border_name(clconv_border b);
/* Parses a border name; returns -1 when unknown. */
int clconv_border_parse(const char *s);

/* Everything a run needs to know about sizes. The padded plane is
 * (in_h + pad_top + pad_bottom) x (in_w + pad_left + pad_right); output pixel
 * (y, x) reads padded rows y*stride + i*dilation, i < kh, and columns
 * x*stride + j*dilation, j < kw. */
typedef struct clconv_geometry {
    int in_w, in_h;
    int kw, kh;
    int stride, dilation;
    int pad_top, pad_bottom, pad_left, pad_right;
    int padded_w, padded_h;
    int out_w, out_h;
} clconv_geometry;

/* Computes the geometry. Returns CLCONV_E_GEOMETRY when the output would be
 * empty (err names both sizes), CLCONV_E_TOO_LARGE on overflow. */
clconv_status clconv_geometry_compute(int in_w, int in_h, int kw, int kh,
                                      const clconv_params *prm,
                                      clconv_geometry *g, char err[CLCONV_ERR_MAX]);

/* Pads `in` into a new plane `out` of the geometry's padded size with the
 * border mode of `prm` (numpy.pad semantics, any width). */
clconv_status clconv_pad(const clconv_plane *in, const clconv_geometry *g,
                         const clconv_params *prm, clconv_plane *out,
                         char err[CLCONV_ERR_MAX]);

/* ---------------------------------------------------------------- compute */

/* The CPU reference: correlates the padded plane with the filter, summing
 * in double and rounding once to float32. `out` must be allocated with the
 * geometry's output size. When `abs_sum` is not NULL it receives, per output
 * pixel, sum |K * P| (the scale of the verification tolerance). */
clconv_status clconv_conv_ref(const clconv_plane *padded,
                              const clconv_filter *f, const clconv_geometry *g,
                              clconv_plane *out, clconv_plane *abs_sum);

/* Verification of a device result against the reference: a finite pixel
 * passes when |dev - ref| <= 4 * taps * FLT_EPSILON * abs_sum + FLT_MIN (in
 * double; an abs_sum past FLT_MAX counts as FLT_MAX, so the tolerance is
 * never infinite). NaN matches only NaN, an infinity only the same
 * infinity: a non-finite value against a finite one is a mismatch. */
typedef struct clconv_verify_result {
    long long bad;       /* pixels over tolerance */
    double max_abs_err;  /* over all pixels */
    int worst_x, worst_y;/* the pixel with the largest error, -1 when none */
    float worst_dev, worst_ref;
    double worst_tol;
} clconv_verify_result;

void clconv_verify(const clconv_plane *dev, const clconv_plane *ref,
                   const clconv_plane *abs_sum, int taps,
                   clconv_verify_result *r);

/* ---------------------------------------------------------------- OpenCL */

typedef struct clconv_device_info {
    int platform, device;   /* indices as --list-devices numbers them */
    char name[256], vendor[256], platform_name[256];
    char driver_version[128], cl_version[128];
    int is_gpu;
    char type[16];          /* "GPU", "CPU", "ACCEL", "OTHER" */
    unsigned long long global_mem, max_alloc, local_mem, const_mem;
    unsigned int compute_units;
} clconv_device_info;

/* Lists every OpenCL device. No platform or no device is not an error: it
 * gives *count = 0. *out is allocated: free it with clconv_devices_free.
 * When the ICD loader itself fails, `err` explains and *count is 0.
 * Thread-safe. */
clconv_status clconv_devices_list(clconv_device_info **out, int *count,
                                  char err[CLCONV_ERR_MAX]);
void clconv_devices_free(clconv_device_info *list);

typedef struct clconv_cl clconv_cl;

/* Opens an OpenCL device for work: context, queue and the program built once.
 * platform/device = -1/-1 picks automatically (a GPU, else any device);
 * *why (may be NULL) receives a short reason for the choice. Kernels are the
 * ones embedded at build time, or read from the directory named by the
 * environment variable CLCONV_KERNEL_DIR. Returns CLCONV_E_NO_DEVICE when no
 * such device exists, CLCONV_E_OPENCL when it cannot be opened (err holds the
 * OpenCL error's name and, for a build failure, the build log). Thread-safe
 * (each call opens its own handle). clconv_cl_close frees the handle: not
 * while another thread uses it. clconv_cl_info's result lives as long as the
 * handle; thread-safe. */
clconv_status clconv_cl_open(int platform, int device, clconv_cl **out,
                             char *why, size_t why_len, char err[CLCONV_ERR_MAX]);
void clconv_cl_close(clconv_cl *cl);
const clconv_device_info *clconv_cl_info(const clconv_cl *cl);

/* Caps the rows of the output computed per device band (0: no cap beyond the
 * device's memory). The result does not depend on the band size.
 * Thread-safe on one clconv_cl (taken under its lock): calls that start
 * after it use the new cap. */
void clconv_cl_set_band_rows(clconv_cl *cl, int rows);

/* Forces a kernel: "naive" (one work-item per pixel), "tiled" (a block of
 * outputs per work-item, bit-identical to naive), "separable" (row pass +
 * column pass, for rank-1 filters; others fall back to the default), "local"
 * (a work-group stages its input tile in __local memory, bit-identical to
 * naive; stride 1, and tiled instead when the tile does not fit the device's
 * local memory; auto never picks it), "fft" (overlap-save FFT rounded to
 * integers, only where that is exact: integer taps, values in 0..255, stride
 * and dilation 1, the accuracy gate of host/conv_fft.c; others fall back to
 * the default), or "auto" (the default: tiled for stride 1, separable for
 * rank-1 filters of 36 taps or more, fft for other filters the FFT may take
 * with enough taps (host/conv_fft.c's FFT_MIN_TAPS), naive for strides).
 * CLCONV_E_INVALID for other names. Thread-safe on one clconv_cl (taken
 * under its lock): calls that start after it use the new choice. */
clconv_status clconv_cl_set_kernel(clconv_cl *cl, const char *name);

/* What clconv_cl_tune did. */
typedef struct clconv_tune_result {
    int points;        /* grid points planned (filter side x class x image) */
    int measured;      /* points measured: the table's entries */
    int timed;         /* candidates verified against the reference and timed */
    int refused;       /* candidates that computed a wrong result or failed
                          (never kept) */
    int skipped;       /* candidates that cannot run a point, or whose
                          predicted time was far behind the best */
    int complete;      /* every point measured within the budget */
    double seconds;    /* wall time of the call */
    char path[1024];   /* the table's file ("" when it could not be written) */
} clconv_tune_result;

/* Progress of clconv_cl_tune: one line of text per grid point. */
typedef void (*clconv_tune_fn)(const char *line, void *user);

/* Tunes the device (clconv --tune): over a grid of filter sides (3 to 63,
 * square and rank 1) and image sides, times the kernel variants with their
 * tile sizes and work-groups, each first checked against the CPU
 * reference on a small image (bit for bit: the tuner's filters have integer
 * taps) and spot-checked on the timed one, and keeps each point's fastest
 * in a table per platform, device and driver in the cache directory, which
 * `auto` then follows (docs/kernels.md). Stops within budget_s seconds
 * (> 0), keeping the points measured so far. fn (may be NULL) receives a
 * line per point. Replaces the device's table, also for this handle.
 * CLCONV_E_INVALID for a bad budget; CLCONV_E_IO when no table can be written
 * (no usable cache directory; err says why). Not thread-safe on one
 * clconv_cl: no other call may use the handle meanwhile. */
clconv_status clconv_cl_tune(clconv_cl *cl, double budget_s, clconv_tune_fn fn,
                             void *user, clconv_tune_result *r,
                             char err[CLCONV_ERR_MAX]);

/* Whether device d has a tuning table auto follows: 1 (its entries in
 * *entries, its file in path, either may be NULL), else 0 (none, or one
 * that is damaged or made for another device: one warning through the
 * log hook). Thread-safe. */
int clconv_device_tuned(const clconv_device_info *d, int *entries, char *path,
                        size_t path_len);

/* Timing of the last clconv_conv_cl call, in milliseconds. */
typedef struct clconv_cl_timing {
    double upload_ms, kernel_ms, download_ms;
    int bands;
    const char *kernel;     /* the variant that ran: "naive", "tiled", ... */
    const char *pad;        /* where the border was filled: "device", "host";
                               NULL for clconv_conv_cl (the caller padded) */
    double pad_ms;          /* host padding done inside the call, if any */
    int band_rows;          /* output rows per band (the last may be fewer) */
    /* Where a device without host-unified memory spent the call's time
     * besides upload_ms, kernel_ms and download_ms (docs/pipeline.md): */
    double stage_ms;        /* host copies into and out of pinned staging */
    double wait_ms;         /* waiting for a free slot of the device (another
                               image held it) */
    double queue_ms;        /* the kernels' time queued before they started
                               (waiting for an upload, a buffer, the device) */
} clconv_cl_timing;

/* The device's busy time since clconv_cl_open, in milliseconds: the union
 * of the intervals its kernels ran (overlapping kernels of images in flight
 * count once). Over a batch, its growth over the batch's wall time is the
 * share of time the device computed. Thread-safe. */
double clconv_cl_busy_ms(clconv_cl *cl);

/* The device path: same contract as clconv_conv_ref (without abs_sum), the
 * padded plane uploaded in horizontal bands with their halo when it does not
 * fit one allocation. Sums in float32. Thread-safe on one clconv_cl: on a
 * device without host-unified memory two calls run at once (their transfers
 * overlapping each other's kernels, docs/pipeline.md), further calls wait for
 * one to finish; elsewhere calls run one at a time. */
clconv_status clconv_conv_cl(clconv_cl *cl, const clconv_plane *padded,
                             const clconv_filter *f, const clconv_geometry *g,
                             clconv_plane *out, clconv_cl_timing *timing,
                             char err[CLCONV_ERR_MAX]);

/* The device path from the unpadded image: the device reads the border
 * through index maps built with numpy.pad's algorithm (prm's border and
 * cval), so the host writes no padded plane, and an 8-bit image goes up as
 * bytes, a quarter of float32's. Pass exactly one of `in` (float) and `in8`
 * (8-bit), of the geometry's in_w x in_h. The result is bit for bit that of
 * clconv_pad followed by clconv_conv_cl. When the device cannot hold the
 * whole source at once, or the filter takes the separable kernel, the call
 * pads on the host itself and runs clconv_conv_cl; timing->pad says which
 * happened. Thread-safe on one clconv_cl, as clconv_conv_cl. */
clconv_status clconv_conv_cl_image(clconv_cl *cl, const clconv_plane *in,
                                   const clconv_image8 *in8,
                                   const clconv_params *prm,
                                   const clconv_filter *f,
                                   const clconv_geometry *g, clconv_plane *out,
                                   clconv_cl_timing *timing, char err[CLCONV_ERR_MAX]);

/* The device map (DESIGN §6, docs/kernels.md "The device map"): asks
 * clconv_conv_cl_image_mapped to map the result to 8 or 16 bits on the
 * device, exactly as clconv_plane_to_u8 / clconv_plane_to_u16 do on the
 * host (after clconv's --scale/--offset step when `affine`), so that only
 * the mapped samples come down: a quarter (half) of float32's bytes. The
 * caller fills the fields marked "in" and owns every buffer. */
typedef struct clconv_cl_mapped {
    /* in */
    int bits;                /* 8 or 16 */
    clconv_map map;
    int affine;              /* nonzero: v = (float)(scale * v + offset), in
                                double, before the map */
    double scale, offset;
    void *data;              /* out_w * out_h samples, row-major: unsigned
                                char (8) or uint16_t (16), caller-allocated */
    /* in/out, optional (probe_cap 0: none): the device's float results
     * (before the affine step) at points of the output, for a spot check.
     * The caller's first nprobe points (x < out_w, y < out_h) are kept;
     * the call appends, up to probe_cap, points on the first and last row
     * of every band at a seam (columns 0, out_w - 1 and two drawn from
     * probe_seed), and sets nprobe to the total. */
    int *probe_x, *probe_y;
    float *probe_v;
    int nprobe, probe_cap;
    unsigned long long probe_seed;
    /* out */
    int mapped;              /* 1: data holds the result and the counts
                                below are set; 0: the device declined (why
                                says why) and `out` holds the float result
                                as clconv_conv_cl_image gives it */
    long long nan_count, clipped; /* as clconv_plane_to_u16 counts them */
    float lo, hi;            /* normalize: the finite min and max (after
                                the affine step) */
    unsigned long long bytes_down; /* result bytes read back: the samples,
                                the partial counts, min/max and probes */
    char why[160];
} clconv_cl_mapped;

/* clconv_conv_cl_image, with the result mapped on the device as `m` asks.
 * `out` is allocated by the caller as for clconv_conv_cl_image: it holds
 * the float result when m->mapped is 0 and is scratch otherwise. The
 * device declines (m->mapped = 0, m->why set, status CLCONV_OK) when it
 * lacks cl_khr_fp64 and the affine step or normalize needs double
 * precision, when normalize would run over several bands (the min and max
 * of the whole image are needed before any band is mapped), or when its
 * map kernels cannot be built. CLCONV_E_INVALID for a bad `m` (bits, map,
 * data NULL, a probe outside the output). Thread-safe as
 * clconv_conv_cl_image. */
clconv_status clconv_conv_cl_image_mapped(clconv_cl *cl, const clconv_plane *in,
                                          const clconv_image8 *in8,
                                          const clconv_params *prm,
                                          const clconv_filter *f,
                                          const clconv_geometry *g, clconv_plane *out,
                                          clconv_cl_mapped *m, clconv_cl_timing *timing,
                                          char err[CLCONV_ERR_MAX]);

/* ---------------------------------------------------------------- self-test */

/* One kernel path of a device, checked by clconv_self_test. */
typedef struct clconv_self_test_line {
    const char *path;      /* "tiled, border on the device, 8-bit source" */
    const char *ran;       /* the kernel that ran ("tiled" when the device
                              cannot run the one asked for) */
    int passed;
    int cases;             /* device-vs-reference cases of this path */
    long long bad;         /* pixels over tolerance, over all its cases */
    double max_abs_err;
    int worst_x, worst_y;  /* in the case with the largest error */
    float worst_dev, worst_ref;
    char err[CLCONV_ERR_MAX]; /* an OpenCL failure, "" when none */
} clconv_self_test_line;

typedef void (*clconv_self_test_fn)(const clconv_self_test_line *line, void *user);

/* Checks every kernel path the device can take (each variant, from a
 * host-padded plane and with the border read on the device, float and
 * 8-bit sources, banded and not) against the CPU reference on fixed inputs
 * from the test suite's case generator: integer cases must agree bit for
 * bit, the others within DESIGN.md's tolerance. Calls fn once per path.
 * Returns CLCONV_OK when every path passed, else CLCONV_E_MISMATCH (an
 * OpenCL failure counts as a failed path). Takes about a second. Leaves the
 * device's kernel choice and band cap as it found them (auto, none). It
 * sets both while it runs, so no other thread may use the same clconv_cl
 * meanwhile. */
clconv_status clconv_self_test(clconv_cl *cl, clconv_self_test_fn fn, void *user);

/* ---------------------------------------------------------------- pipeline */

/* What to do to every image of a run. */
typedef struct clconv_job {
    const clconv_filter *filter; /* as applied: flip it first for --flip */
    clconv_params params;
    int resize_w, resize_h;      /* 0: keep the size */
    clconv_map map;
    int quality;                 /* JPEG quality, 1..100 */
    long long max_pixels;        /* 0: no limit */
    int verify;                  /* CLCONV_VERIFY_OFF, _FULL (1: the
                                    reference on every pixel) or _SAMPLE */
    unsigned long long verify_seed; /* picks the spot check's pixels */
    clconv_cl *cl;               /* NULL: the CPU reference path */
    int fallback;                /* on a device failure, use the reference */
    const char *side_by_side;    /* also write input | output into this PNG */
    /* Optional, for a device still being opened: when `cl` is NULL (and no
     * `devices`), an image is decoded first and then wait_device(wait_user)
     * gives the device to compute on (NULL: the reference path). Lets the
     * first images decode while the OpenCL platform starts. */
    clconv_cl *(*wait_device)(void *user);
    void *wait_user;
    /* clconv_batch_run only: */
    clconv_cl *const *devices;   /* spread the images over these (ndevices > 0;
                                    then `cl` is ignored) */
    int ndevices;
    volatile int *stop;          /* when *stop != 0, take no new image */
    /* Output depth and the affine step (DESIGN §6), appended: */
    int depth;                   /* a clconv_depth: CLCONV_DEPTH_AUTO (0) keeps
                                    the input's depth where the format holds it */
    int affine;                  /* nonzero: out = scale * v + offset before
                                    the mapping (and in .npy), after --verify */
    double scale, offset;
    clconv_resize_filter resize_filter; /* --resize's filter (bicubic) */
    /* --color and --alpha (DESIGN §6), appended: */
    int color;                   /* nonzero: filter RGB(A) channel by channel
                                    instead of taking luma */
    int alpha;                   /* a clconv_alpha: what --color does with alpha */
    /* Multi-page TIFF stacks (DESIGN §6), appended: */
    long long max_pages;         /* refuse files of more pages (65536);
                                    0: no limit */
} clconv_job;

/* --alpha: the alpha channel carried through the geometry unfiltered (the
 * sample under the window's centre: with same padding and stride 1 it is
 * unchanged bit for bit), filtered like a colour channel, or dropped. */
typedef enum clconv_alpha {
    CLCONV_ALPHA_KEEP = 0,
    CLCONV_ALPHA_FILTER,
    CLCONV_ALPHA_DROP
} clconv_alpha;

/* How device results are checked against the CPU reference: not at all;
 * every pixel (the reference runs in full); or, the default, a spot check
 * of a few hundred output pixels per image (the corners and the band seams
 * always among them, the rest drawn from verify_seed and the file name),
 * whose failure counts as a device failure. The host path needs none. */
enum { CLCONV_VERIFY_OFF = 0, CLCONV_VERIFY_FULL = 1, CLCONV_VERIFY_SAMPLE = 2 };

/* What happened to one image. Filled by clconv_process_file. The
 * mapping to an integer depth counts NaN (nan_count) and the pixels it
 * clamped (clipped, appended at the end). */
typedef struct clconv_report {
    const char *input, *output;  /* as given, not copied */
    clconv_status status;        /* CLCONV_OK, or why this image failed */
    char err[CLCONV_ERR_MAX];    /* the one-line message when it failed */
    char note[CLCONV_ERR_MAX];   /* a fallback, when one happened */
    int in_w, in_h, out_w, out_h;
    int on_device;               /* computed by OpenCL (not the reference) */
    int fell_back;               /* the device failed; the reference did it */
    double decode_ms, pad_ms, compute_ms, verify_ms, encode_ms;
    clconv_cl_timing cl_timing;
    int verified;                /* verify ran; vr holds its result */
    clconv_verify_result vr;
    long long nan_count;         /* NaN pixels mapped to 0 */
    int sampled;                 /* the spot check ran; sr holds its result */
    int sample_points;           /* how many pixels it checked */
    clconv_verify_result sr;
    /* Appended: */
    long long clipped;           /* pixels the mapping clamped (below 0 or
                                    above the depth's maximum) */
    int in_depth, out_depth;     /* clconv_depth of the input and the output */
    int in_channels, out_channels; /* --color: the image's channels and
                                    those written (JPEG and PNM drop an
                                    alpha) (0: gray, one) */
    const char *tuned;           /* the device's tuning table entry that chose
                                    the kernel ("sq5@1024", docs/kernels.md;
                                    lives as long as the device handle), NULL:
                                    the built-in choice or a forced kernel */
    int pages;                   /* the input's pages: 1, or a TIFF stack's
                                    (every page filtered; sizes, depths and
                                    channels above are the first page's;
                                    counts, times and checks cover all) */
    /* Appended (the device map, clconv_conv_cl_image_mapped): */
    int device_map;              /* the device mapped the result to the
                                    output's depth: only samples came down */
    unsigned long long download_bytes; /* result bytes read back from the
                                    device: the float plane, or the mapped
                                    samples with their counts and probes */
} clconv_report;

/* Initialises a job with the defaults of the CLI. */
void clconv_job_init(clconv_job *job);

/* One image, start to end: decode, luma (job->color: every channel, each
 * through the steps that follow), (resize), pad, compute, (verify),
 * (scale and offset: job->affine), map to the output depth (job->depth;
 * AUTO keeps the input's where the format holds it), write atomically. Never overwrites `input` (nor, with side_by_side,
 * the output). Every plane is held to max_pixels before it is allocated.
 * Returns r->status: CLCONV_E_MISMATCH when verification failed (the output
 * is then written as "<output>.mismatch", so it can be looked at but is never
 * taken for a finished output). A multi-page TIFF (at most max_pages
 * pages) is a stack: every page goes through these steps in turn, into one
 * multi-page TIFF when `output` is a TIFF (written as a whole, or as
 * "<output>.mismatch"), else into "NAME-PAGE.ext" files beside `output`
 * (page numbers zero-padded to the last page's digits); r->pages says how
 * many. Thread-safe: any number of threads may run
 * it at once with one job (its devices serialise their own calls), on
 * different outputs. */
clconv_status clconv_process_file(const clconv_job *job, const char *input,
                                  const char *output, clconv_report *r);

/* Called once per finished image, from one thread at a time, in completion
 * order. */
typedef void (*clconv_report_fn)(const clconv_report *r, void *user);

/* Runs n images on `jobs` worker threads (< 1: one), taking them in order
 * from a shared queue, so at most `jobs` images are in memory at once. Each
 * device (job->cl, or job->devices) is shared by the workers bound to it:
 * its calls are serialised while the others decode and encode; with several
 * devices, worker w uses device w % ndevices, and a faster device simply
 * comes back for more. Returns CLCONV_OK when every image succeeded, else
 * the status of the first failure by input order. Images not started
 * because *job->stop was set are not reported. Thread-safe as
 * clconv_process_file is. */
clconv_status clconv_batch_run(const clconv_job *job, int n,
                               const char *const *inputs,
                               const char *const *outputs, int jobs,
                               clconv_report_fn fn, void *user);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
