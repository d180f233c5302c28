/* cl_device.c — OpenCL platforms and devices: listing, choosing (a GPU, else
 * any device), opening a context and queue, and building the embedded
 * kernels once per device. Every OpenCL error is reported by its name.
 */
#define _POSIX_C_SOURCE 200809L
#include "cl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generated at build time from the kernels directory. */
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

static void get_str(cl_device_id d, cl_device_info what, char *buf, size_t n)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, n, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[n - 1] = '\0';
}

static void fill_info(cl_platform_id p, cl_device_id d, int pi, int di,
                      clconv_device_info *in)
{
    cl_device_type t = 0;
    cl_ulong u = 0;
    cl_uint cu = 0;
    memset(in, 0, sizeof *in);
    in->platform = pi;
    in->device = di;
    get_str(d, CL_DEVICE_NAME, in->name, sizeof in->name);
    get_str(d, CL_DEVICE_VENDOR, in->vendor, sizeof in->vendor);
    get_str(d, CL_DRIVER_VERSION, in->driver_version, sizeof in->driver_version);
    get_str(d, CL_DEVICE_VERSION, in->cl_version, sizeof in->cl_version);
    if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof in->platform_name,
                          in->platform_name, NULL) != CL_SUCCESS)
        in->platform_name[0] = '\0';
    in->platform_name[sizeof in->platform_name - 1] = '\0';
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    in->is_gpu = (t & CL_DEVICE_TYPE_GPU) != 0;
    strcpy(in->type, in->is_gpu ? "GPU"
                     : (t & CL_DEVICE_TYPE_CPU) ? "CPU"
                     : (t & CL_DEVICE_TYPE_ACCELERATOR) ? "ACCEL" : "OTHER");
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof u, &u, NULL) == CL_SUCCESS)
        in->global_mem = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof u, &u, NULL) == CL_SUCCESS)
        in->max_alloc = u;
    if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof u, &u, NULL) == CL_SUCCESS)
        in->local_mem = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE, sizeof u, &u, NULL) == CL_SUCCESS)
        in->const_mem = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL) == CL_SUCCESS)
        in->compute_units = cu;
}

/* Every (platform, device) pair, in --list-devices order. No platform or no
 * device gives zero entries, not an error. */
static clconv_status enumerate(cl_platform_id **pl_out, cl_device_id **dv_out,
                               clconv_device_info **info_out, int *count,
                               char *err)
{
    clconv_status st = CLCONV_OK;
    cl_uint np = 0, p, total = 0;
    cl_platform_id *pl = NULL;
    cl_device_id *dv = NULL;
    clconv_device_info *info = NULL;
    cl_int e;

    *count = 0;
    *pl_out = NULL;
    *dv_out = NULL;
    *info_out = NULL;
    e = clGetPlatformIDs(0, NULL, &np);
    if (e == CL_PLATFORM_NOT_FOUND_KHR || np == 0) return CLCONV_OK;
    if (e != CL_SUCCESS) return clconv__cl_fail(err, e, "clGetPlatformIDs", __func__, __LINE__);
    pl = calloc(np, sizeof *pl);
    if (!pl) return CLCONV_E_NOMEM;
    e = clGetPlatformIDs(np, pl, NULL);
    if (e != CL_SUCCESS) {
        st = clconv__cl_fail(err, e, "clGetPlatformIDs", __func__, __LINE__);
        goto cleanup;
    }
    for (p = 0; p < np; p++) {
        cl_uint nd = 0, d;
        cl_device_id *ids;
        void *grow;
        e = clGetDeviceIDs(pl[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (e != CL_SUCCESS || nd == 0) continue; /* CL_DEVICE_NOT_FOUND: none */
        grow = realloc(dv, (total + nd) * sizeof *dv);
        if (!grow) { st = CLCONV_E_NOMEM; goto cleanup; }
        dv = grow;
        grow = realloc(info, (total + nd) * sizeof *info);
        if (!grow) { st = CLCONV_E_NOMEM; goto cleanup; }
        info = grow;
        ids = dv + total;
        if (clGetDeviceIDs(pl[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL) != CL_SUCCESS)
            continue;
        for (d = 0; d < nd; d++)
            fill_info(pl[p], ids[d], (int)p, (int)d, &info[total + d]);
        total += nd;
    }
    *count = (int)total;
    *pl_out = pl;
    *dv_out = dv;
    *info_out = info;
    pl = NULL;
    dv = NULL;
    info = NULL;
cleanup:
    if (st == CLCONV_E_NOMEM) clconv__err(err, "out of memory listing devices");
    free(pl);
    free(dv);
    free(info);
    return st;
}

clconv_status clconv_devices_list(clconv_device_info **out, int *count,
                                  char *err)
{
    cl_platform_id *pl = NULL;
    cl_device_id *dv = NULL;
    clconv_status st = enumerate(&pl, &dv, out, count, err);
    free(pl);
    free(dv);
    return st;
}

/* The source of kernels/<file>: embedded, or from $CLCONV_KERNEL_DIR for
 * kernel work. */
static clconv_status kernel_source(const char *file, char **src, char *err)
{
    const char *dir = getenv("CLCONV_KERNEL_DIR");
    const unsigned char *emb;
    size_t emb_len;
    *src = NULL;
    if (dir && *dir) {
        char path[4096];
        FILE *fp;
        long n;
        snprintf(path, sizeof path, "%s/%s", dir, file);
        fp = fopen(path, "rb");
        if (!fp) {
            clconv__err(err, "%s: cannot open the kernel source (CLCONV_KERNEL_DIR)", path);
            return CLCONV_E_IO;
        }
        if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
            fseek(fp, 0, SEEK_SET) != 0 || !(*src = malloc((size_t)n + 1)) ||
            fread(*src, 1, (size_t)n, fp) != (size_t)n) {
            fclose(fp);
            free(*src);
            *src = NULL;
            clconv__err(err, "%s: cannot read the kernel source", path);
            return CLCONV_E_IO;
        }
        fclose(fp);
        (*src)[n] = '\0';
        return CLCONV_OK;
    }
    if (strcmp(file, "fft.cl") == 0) {
        emb = clconv_kernel_fft_cl;
        emb_len = sizeof clconv_kernel_fft_cl;
    } else {
        emb = clconv_kernel_conv2d_cl;
        emb_len = sizeof clconv_kernel_conv2d_cl;
    }
    *src = malloc(emb_len);
    if (!*src) return CLCONV_E_NOMEM;
    memcpy(*src, emb, emb_len);
    return CLCONV_OK;
}

clconv_status clconv__build_program(clconv_cl *cl, const char *file,
                                    const char *opts, const char *broken,
                                    cl_program *out, char *err)
{
    clconv_status st = CLCONV_OK;
    char *src = NULL;
    const char *srcp;
    cl_int e;

    *out = NULL;
    st = kernel_source(file, &src, err);
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

static clconv_status build(clconv_cl *cl, char *err)
{
    clconv_status st = CLCONV_OK;
    char opts[64];
    /* A test switch: a syntax error the compiler must report with its log. */
    const char *broken = "__kernel void conv2d_const( { this is not C }\n";

    snprintf(opts, sizeof opts, "-DVEC_W=%d -DTILE_ROWS=%d -DLOCAL_R=%d",
             CLCONV_VEC_W, CLCONV_TILE_ROWS, CLCONV_LOCAL_R);
    st = clconv__build_program(cl, "conv2d.cl", opts,
                               clconv__fault("cl-build") ? broken : NULL,
                               &cl->program, err);
    if (st != CLCONV_OK) return st;
    {
        /* Every entry point of kernels/conv2d.cl and where it goes. */
        const clconv__kernel_ref ks[] = {
            {"conv2d_const", &cl->k_const},
            {"conv2d_global", &cl->k_global},
            {"conv2d_tiled_const", &cl->k_tiled_const},
            {"conv2d_tiled_global", &cl->k_tiled_global},
            {"sep_rows", &cl->k_sep_rows},
            {"sep_cols", &cl->k_sep_cols},
            {"conv2d_src_f32_const", &cl->k_src[0][0][0]},
            {"conv2d_src_f32_global", &cl->k_src[0][0][1]},
            {"conv2d_src_u8_const", &cl->k_src[0][1][0]},
            {"conv2d_src_u8_global", &cl->k_src[0][1][1]},
            {"conv2d_tiled_src_f32_const", &cl->k_src[1][0][0]},
            {"conv2d_tiled_src_f32_global", &cl->k_src[1][0][1]},
            {"conv2d_tiled_src_u8_const", &cl->k_src[1][1][0]},
            {"conv2d_tiled_src_u8_global", &cl->k_src[1][1][1]},
            {"sep_rows_src_f32", &cl->k_sep_rows_src[0]},
            {"sep_rows_src_u8", &cl->k_sep_rows_src[1]},
            {"conv2d_local_const", &cl->k_local_const},
            {"conv2d_local_global", &cl->k_local_global},
        };
        st = clconv__create_kernels(cl->program, ks, sizeof ks / sizeof ks[0], err);
    }
    return st;
}

clconv_status clconv_cl_open(int platform, int device, clconv_cl **out,
                             char *why, size_t why_len, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_platform_id *pl = NULL;
    cl_device_id *dv = NULL;
    clconv_device_info *info = NULL;
    clconv_cl *cl = NULL;
    int count = 0, i, pick = -1;
    cl_int e;
    cl_context_properties props[3];

    *out = NULL;
    if (why && why_len) why[0] = '\0';
    st = enumerate(&pl, &dv, &info, &count, err);
    if (st != CLCONV_OK) goto cleanup;
    if (platform < 0) {
        for (i = 0; i < count && pick < 0; i++)
            if (info[i].is_gpu) pick = i;
        if (pick >= 0) {
            if (why) snprintf(why, why_len, "the first GPU");
        } else if (count > 0) {
            pick = 0;
            if (why) snprintf(why, why_len, "no GPU found, the first OpenCL device");
        }
        if (pick < 0) {
            clconv__err(err, "no OpenCL device found (no platform or no device)");
            st = CLCONV_E_NO_DEVICE;
            goto cleanup;
        }
    } else {
        for (i = 0; i < count; i++)
            if (info[i].platform == platform && (device < 0 ? info[i].device == 0
                                                            : info[i].device == device))
                pick = i;
        if (pick < 0) {
            clconv__err(err, "no OpenCL device %d:%d (%d device%s found; see "
                        "--list-devices)", platform, device < 0 ? 0 : device,
                        count, count == 1 ? "" : "s");
            st = CLCONV_E_NO_DEVICE;
            goto cleanup;
        }
        if (why) snprintf(why, why_len, "requested");
    }
    cl = calloc(1, sizeof *cl);
    if (!cl) {
        clconv__err(err, "out of memory");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    cl->info = info[pick];
    cl->kernel = -1;
    cl->dev = dv[pick];
    if (pthread_mutex_init(&cl->lock, NULL) != 0) {
        free(cl);
        cl = NULL;
        clconv__err(err, "cannot create a mutex");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    props[0] = CL_CONTEXT_PLATFORM;
    props[1] = (cl_context_properties)pl[info[pick].platform];
    props[2] = 0;
    cl->ctx = clCreateContext(props, 1, &cl->dev, NULL, NULL, &e);
    if (e != CL_SUCCESS) {
        st = clconv__cl_fail(err, e, "clCreateContext", __func__, __LINE__);
        goto cleanup;
    }
    cl->queue = clCreateCommandQueue(cl->ctx, cl->dev, CL_QUEUE_PROFILING_ENABLE, &e);
    if (e != CL_SUCCESS) {
        st = clconv__cl_fail(err, e, "clCreateCommandQueue", __func__, __LINE__);
        goto cleanup;
    }
    st = build(cl, err);
    if (st != CLCONV_OK) goto cleanup;
    {
        const char *b = getenv("CLCONV_BAND_ROWS");
        if (b) cl->band_rows = atoi(b);
    }
    *out = cl;
    cl = NULL;
cleanup:
    clconv_cl_close(cl);
    free(pl);
    free(dv);
    free(info);
    return st;
}

void clconv_cl_close(clconv_cl *cl)
{
    if (!cl) return;
    if (cl->in_buf) clReleaseMemObject(cl->in_buf);
    if (cl->out_buf) clReleaseMemObject(cl->out_buf);
    if (cl->k_const) clReleaseKernel(cl->k_const);
    if (cl->k_global) clReleaseKernel(cl->k_global);
    if (cl->k_tiled_const) clReleaseKernel(cl->k_tiled_const);
    if (cl->k_tiled_global) clReleaseKernel(cl->k_tiled_global);
    if (cl->k_sep_rows) clReleaseKernel(cl->k_sep_rows);
    if (cl->k_sep_cols) clReleaseKernel(cl->k_sep_cols);
    {
        cl_kernel *k = &cl->k_src[0][0][0];
        size_t n;
        for (n = 0; n < sizeof cl->k_src / sizeof *k; n++)
            if (k[n]) clReleaseKernel(k[n]);
        for (n = 0; n < 2; n++)
            if (cl->k_sep_rows_src[n]) clReleaseKernel(cl->k_sep_rows_src[n]);
    }
    if (cl->k_local_const) clReleaseKernel(cl->k_local_const);
    if (cl->k_local_global) clReleaseKernel(cl->k_local_global);
    if (cl->tmp_buf) clReleaseMemObject(cl->tmp_buf);
    clconv__fft_release(cl);
    if (cl->program) clReleaseProgram(cl->program);
    if (cl->queue) clReleaseCommandQueue(cl->queue);
    if (cl->ctx) clReleaseContext(cl->ctx);
    pthread_mutex_destroy(&cl->lock);
    free(cl);
}

const clconv_device_info *clconv_cl_info(const clconv_cl *cl)
{
    return &cl->info;
}

void clconv_cl_set_band_rows(clconv_cl *cl, int rows)
{
    cl->band_rows = rows > 0 ? rows : 0;
}
