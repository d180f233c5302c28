/* cl.h — the OpenCL layer's shared state, not installed: the device handle
 * behind clconv_cl, the kernel registry's types, the band loop every variant
 * runs through, buffers and transfers, program builds and their cache, and
 * the CL_TRY macro that turns every failed OpenCL call into a message with
 * the error's name. Uses host/core/ only (docs/layers.md).
 * Nothing here may print, exit, or include io/, pipeline/ or cli/.
 */
#ifndef CLCONV_CL_H
#define CLCONV_CL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001 /* cl_khr_icd: no platform */
#endif
#include <pthread.h>

#include "cl/plan.h"

/* A registry entry's kernel objects, one per form: the taps in __constant
 * or __global memory, reading a host-padded band or the unpadded source
 * (float or 8-bit) through the border maps; AUX is a second pass (the
 * separable column pass). An entry point the variant lacks is NULL. */
enum {
    CLCONV__PAD_CONST,
    CLCONV__PAD_GLOBAL,
    CLCONV__SRC_F32_CONST,
    CLCONV__SRC_F32_GLOBAL,
    CLCONV__SRC_U8_CONST,
    CLCONV__SRC_U8_GLOBAL,
    CLCONV__AUX,
    CLCONV__SLOTS
};

/* Programs kept for tile sizes other than the built-in ones (tuned or
 * being tuned), per slot: the oldest is replaced when all are taken. */
#define CLCONV__ALT_PROGS 8

/* Pinned host memory for transfers (CL_MEM_ALLOC_HOST_PTR), mapped once
 * and kept mapped: what uploads are copied into and read-backs land in,
 * reused from image to image and grown when one needs more. */
typedef struct clconv__stage {
    cl_mem buf;
    void *map;
    size_t cap;
} clconv__stage;

/* The command queues of a slot: uploads, kernels, read-backs. */
enum { CLCONV__Q_UP, CLCONV__Q_COMPUTE, CLCONV__Q_DOWN, CLCONV__QUEUES };

/* Images in flight per device, at most (docs/pipeline.md). */
#define CLCONV__MAX_INFLIGHT 2

/* One image in flight on a device: its own queues, kernel objects (their
 * arguments are per call), device buffers and pinned staging. A call holds
 * one slot (clconv__slot_get) for its whole run; the device lock guards
 * only the assignment. Where zero-copy wraps host memory, or the pipeline
 * is off (CLCONV_PIPELINE=0), a device has one slot and one queue. */
typedef struct clconv__slot {
    cl_command_queue q[CLCONV__QUEUES]; /* all one queue when not pipelined */
    cl_kernel k[CLCONV__VARIANTS][CLCONV__SLOTS];
    /* Band buffers, kept between calls and grown when an image needs more:
     * [0] and [1] take turns when bands overlap. */
    cl_mem in_buf[2], out_buf[2];
    size_t in_cap[2], out_cap[2];
    cl_mem tmp_buf;         /* the separable path's row-pass plane */
    size_t tmp_cap;
    clconv__stage up[2], down[2];
    int busy;               /* held by a call (under the device lock) */
    /* The programs built for tile sizes other than the built-in ones, on
     * first use (registry.c): the slot's own, so that no other call can
     * replace one a call is running. */
    struct clconv_alt_prog {
        int var, vec_w, tile_rows; /* var 0: unused */
        cl_program program;
        cl_kernel k[CLCONV__SLOTS];
        unsigned long long used;   /* last use, for replacement */
    } alt[CLCONV__ALT_PROGS];
    unsigned long long alt_clock;
    /* The device map's (map.c): kernel objects of the slot's own, made from
     * cl->map_prog on the slot's first mapped call (map_u8, map_u16,
     * map_minmax, map_gather), and per turn of band buffers its mapped
     * samples, partial counts, probe offsets and probe values. */
    cl_kernel map_k[4];
    cl_mem map_out[2], map_part[2], map_idx[2], map_vals[2];
    size_t map_out_cap[2], map_part_cap[2], map_idx_cap[2], map_vals_cap[2];
} clconv__slot;

struct clconv_cl {
    clconv_device_info info;
    cl_device_id dev;
    cl_context ctx;
    cl_program program;                            /* every registry entry
                                                      with a file, built once */
    cl_kernel k[CLCONV__VARIANTS][CLCONV__SLOTS];  /* by registry entry; each
                                                      slot has its own copies */
    int zc;                 /* clconv__zero_copy, fixed at open */
    int pipelined;          /* transfers overlap kernels (not zc, not
                               CLCONV_PIPELINE=0) */
    int staged;             /* pipelined transfers go through pinned
                               staging (GPUs, accelerators: DMA); CPU
                               devices copy straight from and to the
                               caller's memory. CLCONV_STAGING=0|1 */
    int nslots;             /* images in flight: CLCONV__MAX_INFLIGHT when
                               pipelined, else 1 */
    clconv__slot slot[CLCONV__MAX_INFLIGHT];
    pthread_cond_t slot_free;  /* signalled when a slot is given back */
    /* The device's busy time: the union of its kernels' intervals (device
     * clock, ns), merged as they come; `settled` holds what no later kernel
     * can overlap any more. Under `lock`. */
    struct { cl_ulong t0, t1; } busy[64];
    int nbusy;
    double busy_settled_ms;
    int band_rows;          /* cap on output rows per band, 0: none */
    /* Work-group limits of the device (CL_DEVICE_MAX_WORK_GROUP_SIZE,
     * _MAX_WORK_ITEM_SIZES) and its __constant arguments per kernel. */
    size_t max_wg, max_items[3];
    unsigned int max_const_args;
    int kernel;             /* forced kernel variant, -1: chosen per call */
    pthread_mutex_t lock;   /* slot assignment, settings, counters */
    int failures;           /* failed calls so far (under `lock`) */
    /* The FFT path (fft.c), built on its first use: one program per
     * block side N = 128 << i, with its twiddles and bit-reversal table. */
    struct clconv_fft_prog {
        cl_program program;
        cl_kernel load[2]; /* [uchar source] */
        cl_kernel fwd_y, x_conv, inv_y;
        cl_mem tw, rev;
        int global_cols;   /* built with -DFFT_GLOBAL_SCRATCH */
    } fft[CLCONV_FFT_SIZES];
    cl_mem fft_ext, fft_scratch; /* a band's extended plane, its spectra */
    size_t fft_ext_cap, fft_scratch_cap;
    cl_mem fft_cols;             /* the columns, where local memory is short */
    size_t fft_cols_cap;
    /* The last filter spectrum, kept for the next call with the same taps. */
    cl_mem fft_h;
    double fft_h_max;      /* max |H| over the block's frequencies */
    int fft_h_n, fft_h_kh, fft_h_kw;
    double *fft_h_taps;
    /* Tuning (tune.c, registry.c): the device's table, loaded at open
     * (NULL: none or refused; earlier ones kept in `tune_old` until close,
     * since reports point at their entries' names); the programs built for
     * tile sizes other than the built-in ones are the slots'. */
    clconv__tune_table *tune;
    clconv__tune_table *tune_try;  /* the tuner's candidate, while it runs */
    struct clconv_tune_old {
        clconv__tune_table *t;
        struct clconv_tune_old *next;
    } *tune_old;
    /* The device map (map.c): map.cl built on its first use (under `lock`);
     * each slot makes its own kernel objects from it. */
    cl_program map_prog;
    int map_built;          /* 0: not tried, 1: built, -1: failed */
    int map_fp64;           /* built with double precision */
    char map_fail[160];     /* why the build failed */
};

/* Retirement: a device that fails CLCONV__RETIRE_AFTER calls in a run is
 * retired; clconv__cl_failed counts a failure and returns 1 to the one
 * caller whose failure retires it. Thread-safe. */
#define CLCONV__RETIRE_AFTER 2
int clconv__cl_failed(clconv_cl *cl);
/* Retires cl at once (a wrong result, not just a failed call). */
void clconv__cl_retire(clconv_cl *cl);
int clconv__cl_retired(clconv_cl *cl);

/* The planning view of a device (plan.h). */
clconv__limits clconv__limits_of(const clconv_cl *cl);

/* Takes a free slot of cl (waiting for one), or with `all` every slot (the
 * whole device: the FFT path, and calls too big for a slot's share), and
 * adds the time waited to *wait_ms. NULL when the lock is broken. */
clconv__slot *clconv__slot_get(clconv_cl *cl, int all, double *wait_ms);
void clconv__slot_put(clconv_cl *cl, clconv__slot *s, int all);
/* What one slot may plan with: the device's limits with its global memory
 * shared among the slots (all of it with `all`). */
clconv__limits clconv__limits_slot(const clconv_cl *cl, int all);
/* Adds a kernel's interval to the device's busy time (thread-safe). */
void clconv__busy_add(clconv_cl *cl, cl_event ev);

/* The largest work-group up to want_x x want_y that kernel k may run on
 * this device: within CL_KERNEL_WORK_GROUP_SIZE, the device's work-group
 * size and its work-item sizes per dimension. */
clconv_status clconv__group_size(clconv_cl *cl, cl_kernel k, size_t want_x,
                                 size_t want_y, size_t *lx, size_t *ly, char *err);

/* ------------------------------------------------------------ errors */

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

/* ------------------------------------------------------------ programs */

/* Builds common.cl followed by kernels/<files[i]> (embedded, or from
 * $CLCONV_KERNEL_DIR) with `opts` into *out, from the binary cache when it
 * holds this build; `broken`, when not NULL, is compiled instead (the fault
 * switches). A failure names the OpenCL error and carries the build log. */
clconv_status clconv__build_program(clconv_cl *cl, const char *const *files,
                                    int nfiles, const char *opts,
                                    const char *broken, cl_program *out,
                                    char *err);

/* A kernel entry point's name and where its kernel object goes. */
typedef struct clconv__kernel_ref {
    const char *name;
    cl_kernel *k;
} clconv__kernel_ref;

/* Creates every kernel of `ks` from prog; on failure err names the entry
 * point and the OpenCL error (the caller releases what was created). */
clconv_status clconv__create_kernels(cl_program prog, const clconv__kernel_ref *ks,
                                     size_t n, char *err);

/* Builds the registry's program and creates its kernels (registry.c). */
clconv_status clconv__registry_build(clconv_cl *cl, char *err);

/* The program built from `src` with `opts` for cl's device, from the binary
 * cache (cache.c); NULL when there is none, it is refused (not ours, a
 * symlink, a FIFO: one warning through clconv__log) or it does not hold
 * this very build (its key, hash or kernels differ; such an entry of ours
 * is removed). */
cl_program clconv__cache_load(clconv_cl *cl, const char *src, const char *opts);
/* Keeps a successfully built program's binary for clconv__cache_load;
 * failures are silent (the cache is an optimisation). */
void clconv__cache_store(clconv_cl *cl, cl_program prog, const char *src,
                         const char *opts);

/* What a cached binary depends on besides its source and options: the
 * device, its driver, and the ICD library that implements it (the file the
 * dynamic loader mapped, its size and mtime), so a driver upgrade that keeps
 * its version strings still misses the cache. */
typedef struct clconv__cache_id {
    char device[256], vendor[256], platform[256];
    char driver_version[128], device_version[128], platform_version[512];
    int is_gpu;
    char icd_path[1024];
    long long icd_size, icd_mtime_ns;
} clconv__cache_id;
void clconv__cache_identify(const clconv_cl *cl, clconv__cache_id *id);
/* The whole key of a build (malloc'd, *len bytes and a NUL): every field of id,
 * clconv's version, the options and the source. Stored in the entry and
 * compared byte for byte on load. */
char *clconv__cache_key(const clconv__cache_id *id, const char *src, const char *opts,
                        size_t *len);
/* The entry's file name for a key: 16 hex digits of its hash and ".bin". */
void clconv__cache_name(const char *key, size_t len, char name[32]);

/* Opens `name` under the directory dfd (or AT_FDCWD) for reading without
 * following a final symlink and without blocking on a FIFO, and returns
 * the descriptor only for a regular file; with `owned`, only for one owned
 * by the effective user that group and others cannot write. Else -1, with
 * why = "<shown>: <cause>" and errno ENOENT when the file does not exist. */
int clconv__open_file(int dfd, const char *name, const char *shown, int owned,
                      char *why, size_t why_len);
/* Reads all of fd (at most max bytes) into *out (malloc'd, NUL ended);
 * 0 when it is larger or a read fails. */
int clconv__read_fd(int fd, size_t max, unsigned char **out, size_t *len);

/* ------------------------------------------------------------ buffers */

/* (Re)creates *buf when it is smaller than `need` bytes. */
clconv_status clconv__ensure_buf(clconv_cl *cl, cl_mem *buf, size_t *cap,
                                 size_t need, cl_mem_flags flags, char *err);
/* A read-only or write-only buffer over host memory, for zero-copy bands. */
clconv_status clconv__wrap_host(clconv_cl *cl, cl_mem *buf, cl_mem_flags flags,
                                size_t bytes, void *host, char *err);
/* A read-only buffer holding a copy of `bytes` of host memory. */
clconv_status clconv__copy_buf(clconv_cl *cl, cl_mem *buf, size_t bytes,
                               const void *host, char *err);
/* Nonzero when the device reads host memory directly (CPU devices,
 * integrated GPUs): then bands are wrapped, not copied. CLCONV_ZERO_COPY=0
 * turns this off. */
int clconv__zero_copy(const clconv_cl *cl);
/* Brings out_b's out_bytes to host_out on queue q: maps it (zc, a wrapped
 * host buffer; events ev_read, ev_unmap) or reads it (ev_read). Blocks. */
clconv_status clconv__read_back(clconv_cl *cl, cl_command_queue q, int zc,
                                cl_mem out_b, float *host_out, size_t out_bytes,
                                cl_event *ev_read, cl_event *ev_unmap, char *err);
/* Grows the pinned staging buffer st to `need` bytes, mapped on queue q. */
clconv_status clconv__stage_ensure(clconv_cl *cl, cl_command_queue q,
                                   clconv__stage *st, size_t need, char *err);
void clconv__stage_release(cl_command_queue q, clconv__stage *st);
/* Frees slot s's band buffers and staging: after a call that held the
 * whole device, so a slot's buffers keep to a slot's share. */
void clconv__slot_trim(clconv_cl *cl, clconv__slot *s);
double clconv__event_ms(cl_event ev);
/* COMMAND_START - COMMAND_QUEUED of ev: how long it waited, in ms. */
double clconv__event_wait_ms(cl_event ev);
size_t clconv__round_up(size_t n, size_t m);

/* ------------------------------------------------------------ bands */

/* One band of a call: its first output row, its rows, its buffers (the
 * input: the band's padded rows, or the whole source on the device), and
 * the queue its kernels go on (the slot's compute queue: what they wait
 * for is already on it). */
typedef struct clconv__band {
    int r0, rows;
    cl_mem in, out;
    cl_command_queue queue;
} clconv__band;

/* A variant's launch for one band: sets the band's arguments and enqueues
 * its kernels on b->queue, their events in ev[0..3] (unused ones left
 * NULL). */
typedef clconv_status (*clconv__launch_fn)(void *user, const clconv__band *b,
                                           cl_event ev[4], char *err);

/* What the band loop runs. */
typedef struct clconv__band_run {
    clconv_cl *cl;
    clconv__slot *slot;     /* the slot the call holds */
    const clconv_geometry *g;
    long long rows_per_band;
    int depth;              /* band buffers taking turns: 2 lets band i+1's
                               upload and band i-1's read-back overlap band
                               i's kernels (pipelined devices), else 1 */
    /* The padded path: the host-padded plane, uploaded band by band with
     * its halo. NULL: the source path, `src` (src_bytes) goes up whole
     * first and every band reads it. */
    const float *padded;
    const void *src;
    size_t src_bytes;
    clconv__launch_fn launch;
    void *user;
    struct clconv__map_run *map; /* NULL, or map the bands on the device
                                    (map.c) and read back only that */
} clconv__band_run;

/* The one band loop (bands.c): for each band of rows_per_band output rows,
 * its input and output buffers (the slot's, grown as needed, or host memory
 * wrapped where zero-copy), the variant's launch, the read-back into out
 * (g's out_w wide), and the timing (added to *tm). On a pipelined device
 * uploads, kernels and read-backs go on the slot's three queues, chained by
 * events, through pinned staging; the host waits only for read-backs.
 * The band output buffers are CL_MEM_READ_WRITE: the device map (run->map)
 * reads what the kernels wrote there. */
clconv_status clconv__run_bands(clconv__band_run *run, float *out,
                                clconv_cl_timing *tm, char *err);

/* ------------------------------------------------------------ the device map */

/* One band's device map in flight (map.c): its events, where its samples
 * go, and the host's copies of its partial counts and probes. */
typedef struct clconv__map_turn {
    int pending;             /* enqueued, not landed yet */
    cl_event up, k[3], rd[3], unmap; /* k: minmax, map, gather; rd: samples,
                                        counts, probe values */
    unsigned char *host;     /* the band's rows of m->data */
    size_t bytes;
    cl_mem wrap;             /* zero-copy: host rows wrapped */
    cl_uint *cnt;            /* NaN and clipped per group */
    size_t groups;
    cl_uint *idx;            /* the band's probes: offsets, */
    int *pslot;              /* their places in m's arrays, */
    float *vals;             /* their floats */
    cl_uint nprobe;
} clconv__map_turn;

/* One call's device map (map.c): the caller's request, what the bands add
 * up, and the band turns in flight (one per turn of band buffers). */
typedef struct clconv__map_run {
    clconv_cl_mapped *m;
    int active;              /* these bands are mapped (clconv__map_begin) */
    int zc;
    int out_w, out_h;
    uint64_t rng;            /* the seam probes' columns */
    clconv_cl *cl;
    clconv__slot *slot;      /* whose kernels and buffers the map uses */
    size_t lx;               /* the map kernels' work-group */
    size_t groups_cap;       /* groups of a full band */
    int ncaller;             /* the caller's probes (m->nprobe at first) */
    int probe_room;          /* probes a band may have */
    clconv__map_turn turn[2];
} clconv__map_run;

/* Before the first band (the call holds `slot`): decides whether the bands
 * are mapped (mr->active), building map.cl on first use (under cl->lock)
 * and the slot's map kernels on the slot's first mapped call; a decline
 * sets m->why and leaves the float read-back to the loop. */
clconv_status clconv__map_begin(clconv__map_run *mr, clconv_cl *cl, clconv__slot *slot,
                                const clconv_geometry *g, long long rows_per_band,
                                char *err);
/* Instead of the band's float read-back, for turn `t` of the band
 * buffers: enqueues the map kernels reading b->out on qc (after the band's
 * kernels: qc is in order) and the reads of the mapped samples, partial
 * counts and probe floats on qd, chained to the kernels by events; the
 * samples land in `stage` (pinned staging, at least the band's mapped
 * bytes) when not NULL, else straight in m->data's rows. Does not wait,
 * except for normalize (one band only), whose min and max come back before
 * the map kernel is set. */
clconv_status clconv__map_band(clconv__map_run *mr, int t, const clconv__band *b,
                               cl_command_queue qc, cl_command_queue qd, void *stage,
                               clconv_cl_timing *tm, char *err);
/* Waits for turn t's reads, copies its samples out of `stage` (as given to
 * clconv__map_band), adds its counts and probe floats to m, and its times
 * to *tm. Nothing when the turn is not pending. */
clconv_status clconv__map_land(clconv__map_run *mr, int t, const void *stage,
                               clconv_cl_timing *tm, char *err);
/* After the bands (or a failure, once the slot's queues are drained):
 * releases what is left of the turns. */
void clconv__map_end(clconv__map_run *mr);
/* Releases map.cl (clconv_cl_close), and a slot's map kernels and buffers
 * (clconv_cl_close; the buffers also in clconv__slot_trim). */
void clconv__map_release(clconv_cl *cl);
void clconv__map_release_slot(clconv__slot *s, int kernels);
/* clconv_conv_cl_image with an optional device map (conv.c). */
clconv_status clconv__conv_image(clconv_cl *cl, const clconv_plane *in,
                                 const clconv_image8 *in8, const clconv_params *prm,
                                 const clconv_filter *f, const clconv_geometry *g,
                                 clconv_plane *out, clconv_cl_timing *timing,
                                 clconv__map_run *mr, char *err);

/* ------------------------------------------------------------ registry */

/* Everything a variant's launch reads, set once per call (conv.c). */
typedef struct clconv__call {
    clconv_cl *cl;
    clconv__slot *slot;      /* its kernel objects, tmp_buf */
    int var;                 /* the registry entry */
    const clconv_geometry *g;
    int src;                 /* reads the unpadded source through the maps */
    int sw;                  /* the source's width (src) */
    cl_mem taps, taps_u;     /* the taps (separable: the row factor v), the
                                separable column factor u */
    cl_mem rmap, cmap;       /* the border maps (src) */
    cl_mem frame;            /* tiled src: the border strips, and their */
    int frame_args[8];       /* fw, top_h, bot_y, bot_off, left_w, left_off,
                                right_x, right_off (conv.c) */
    int r_lo, r_hi, c_lo, c_hi;
    float cval;
    cl_kernel k, k2;         /* the entry points of the call, and */
    size_t lx, ly, lx2, ly2; /* their work-groups */
    clconv__shape shape;     /* tiles and work-group (clconv__tune_choose;
                                all zero: the registry's) */
    const char *tuned;       /* the table entry that chose it, NULL: none */
} clconv__call;

/* One row of the kernel registry (registry.c): a kernel variant, where its
 * source is, what it runs, and how it is launched. Adding a variant is a
 * kernels/ file, a row here and, for a new argument shape, a launch. */
typedef struct clconv__kernel_desc {
    const char *name;         /* --kernel, CLCONV_KERNEL, reports */
    const char *files;        /* kernels/ files, space-separated, built
                                 after common.cl into the main program;
                                 NULL: built apart (fft.c) */
    const char *options;      /* its -D build options */
    int stride1;              /* runs stride 1 only */
    int local_tile;           /* takes a __local tile as its last argument
                                 (and runs only where it fits) */
    int rank1;                /* rank-1 filters only (the factors must
                                 keep plan.c's promises) */
    size_t vw, vh;            /* outputs per work-item along x and y */
    size_t want_x, want_y;    /* the work-group it asks for */
    const char *entry[CLCONV__SLOTS];
    clconv__launch_fn launch; /* user: the clconv__call */
} clconv__kernel_desc;

extern const clconv__kernel_desc clconv__registry[CLCONV__VARIANTS];

/* Chooses the call's entry points for variant var (c->src, `u8` source,
 * taps `in_const`) and their work-group sizes within the kernels' limits. */
clconv_status clconv__registry_pick(clconv__call *c, int var, int u8,
                                    int in_const, char *err);

/* ------------------------------------------------------------ tuning */

/* What a call runs by the device's tuning table (tune.c). */
typedef struct clconv__choice {
    int forced;            /* for clconv__choose_variant and _fft_wanted */
    clconv__shape shape;   /* the table's shape for `forced` */
    const char *entry;     /* the entry's name, NULL: no entry applies */
} clconv__choice;

/* The choice for a call: the variant forced by the user (clconv_cl_set_kernel,
 * CLCONV_KERNEL) with its built-in shape; else the table's nearest entry
 * for this filter and output, as if forced, when its shape fits the device
 * (local memory); else none (-1: the built-in choice). Returns ch->forced. */
int clconv__tune_choose(const clconv_cl *cl, const clconv__limits *lim,
                        const clconv_filter *f, const clconv_geometry *g,
                        clconv__choice *ch);
/* After clconv__choose_variant gave var: the shape the call runs with (the
 * table's when var is the table's variant, else var's built-in one) and
 * the entry that chose it (NULL when none did). */
void clconv__tune_settle(const clconv__choice *ch, int var, clconv__shape *shape,
                         const char **entry);
/* The entry that chose the kernel of this thread's last device call (NULL:
 * none), for reports (clconv_report.tuned); set by conv.c. */
void clconv__tune_note(const char *entry);
const char *clconv__tune_last(void);
/* Loads the device's table at open (a damaged or foreign one: one warning,
 * none used); frees every table at close. */
void clconv__tune_load(clconv_cl *cl);
void clconv__tune_release(clconv_cl *cl);
/* Releases a slot's alternative tile programs (registry.c). */
void clconv__registry_release_alt(clconv__slot *sl);

/* The cache directory (cache.c), opened, or -1 (none, off, or refused with
 * one warning: "<what> <dir>: <cause>; <then>"); dir receives its path. */
int clconv__cache_dir(char *dir, size_t n, const char *what, const char *then);
/* One warning line through clconv__log, once per distinct text. */
void clconv__cache_warn(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Writes len bytes as `name` under dfd atomically (a 0600 temporary file,
 * renamed), unless name holds something that is not a regular file of
 * ours; 0 on failure. */
int clconv__cache_write(int dfd, const char *name, const void *data, size_t len);
/* FNV-1a 64 of data, continuing from h (0xcbf29ce484222325 to start). */
unsigned long long clconv__fnv64(unsigned long long h, const void *data, size_t n);

/* ------------------------------------------------------------ the FFT */

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

/* Runs the FFT path on slot s, holding the whole device. CLCONV_E_TOO_LARGE, with nothing done, when
 * it declines (its buffers do not fit the device, or the filter's spectrum
 * fails the accuracy gate): the caller falls back to the default choice. */
clconv_status clconv__fft_run(clconv_cl *cl, clconv__slot *s,
                              const clconv__fft_src *src,
                              const clconv_filter *f, const clconv_geometry *g,
                              clconv_plane *out, clconv_cl_timing *tm,
                              clconv__map_run *mr, char *err);

/* Releases the FFT path's programs and buffers (clconv_cl_close). */
void clconv__fft_release(clconv_cl *cl);

#endif
