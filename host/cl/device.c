/* device.c — OpenCL platforms and devices: listing, choosing (a GPU, else
 * any device), opening a context and queue with the registry's program
 * built once per device (registry.c), closing. Every OpenCL error is
 * reported by its name.
 * It must not name kernels or entry points (registry.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "cl/cl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The work-group limits and __constant arguments of cl's device; under
 * CLCONV_DEVICE_LIMITS=gpu, every limit capped to the smallest a GPU of the
 * OpenCL 1.2 full profile may report (32 KiB local, 64 KiB constant and 8
 * constant arguments, 128 MiB per allocation, 256 work-items a group), so
 * the fallbacks for small devices run on a CPU implementation too. */
static void query_limits(clconv_cl *cl)
{
    const char *cap = getenv("CLCONV_DEVICE_LIMITS");
    size_t wg = 0, items[3] = {0, 0, 0};
    cl_uint ca = 0, dims = 0;
    int i;
    if (clGetDeviceInfo(cl->dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) ==
        CL_SUCCESS)
        cl->max_wg = wg;
    if (clGetDeviceInfo(cl->dev, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, sizeof dims, &dims,
                        NULL) == CL_SUCCESS && dims >= 3 &&
        clGetDeviceInfo(cl->dev, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof items, items,
                        NULL) == CL_SUCCESS)
        for (i = 0; i < 3; i++) cl->max_items[i] = items[i];
    if (clGetDeviceInfo(cl->dev, CL_DEVICE_MAX_CONSTANT_ARGS, sizeof ca, &ca, NULL) ==
        CL_SUCCESS)
        cl->max_const_args = ca;
    if (!cap || strcmp(cap, "gpu") != 0) return;
#define CAP(v, m) if ((v) == 0 || (v) > (m)) (v) = (m)
    CAP(cl->info.local_mem, 32ULL << 10);
    CAP(cl->info.const_mem, 64ULL << 10);
    CAP(cl->info.max_alloc, 128ULL << 20);
    CAP(cl->info.global_mem, 512ULL << 20);
    CAP(cl->max_wg, 256);
    CAP(cl->max_items[0], 256);
    CAP(cl->max_items[1], 256);
    CAP(cl->max_items[2], 64);
    CAP(cl->max_const_args, 8);
#undef CAP
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
                                  char err[CLCONV_ERR_MAX])
{
    cl_platform_id *pl = NULL;
    cl_device_id *dv = NULL;
    clconv_status st = enumerate(&pl, &dv, out, count, err);
    free(pl);
    free(dv);
    return st;
}

void clconv_devices_free(clconv_device_info *list)
{
    free(list);
}

clconv_status clconv_cl_open(int platform, int device, clconv_cl **out,
                             char *why, size_t why_len, char err[CLCONV_ERR_MAX])
{
    clconv_status st = CLCONV_OK;
    cl_platform_id *pl = NULL;
    cl_device_id *dv = NULL;
    clconv_device_info *info = NULL;
    clconv_cl *cl = NULL;
    int count = 0, i, pick = -1;
    cl_int e;
    cl_context_properties props[3];
    char why_buf[600];

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
    query_limits(cl);
    if (pthread_mutex_init(&cl->lock, NULL) != 0) {
        free(cl);
        cl = NULL;
        clconv__err(err, "cannot create a mutex");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    /* Test switch CLCONV_FAULT=cl-open=PART: a device whose "platform:
     * device" names hold PART cannot be opened (auto tries the next one). */
    snprintf(why_buf, sizeof why_buf, "%s: %s", cl->info.platform_name, cl->info.name);
    if (clconv__fault_on("cl-open", why_buf)) {
        clconv__err(err, "clCreateContext failed: CL_OUT_OF_RESOURCES (-5) "
                    "[CLCONV_FAULT=cl-open]");
        st = CLCONV_E_OPENCL;
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
    st = clconv__registry_build(cl, err);
    if (st != CLCONV_OK) goto cleanup;
    clconv__tune_load(cl);
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
    int i, j;
    if (!cl) return;
    if (cl->in_buf) clReleaseMemObject(cl->in_buf);
    if (cl->out_buf) clReleaseMemObject(cl->out_buf);
    for (i = 0; i < CLCONV__VARIANTS; i++)
        for (j = 0; j < CLCONV__SLOTS; j++)
            if (cl->k[i][j]) clReleaseKernel(cl->k[i][j]);
    if (cl->tmp_buf) clReleaseMemObject(cl->tmp_buf);
    clconv__fft_release(cl);
    clconv__registry_release_alt(cl);
    clconv__tune_release(cl);
    clconv__map_release(cl);
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
    /* A lock that cannot be taken is a broken handle; its next call fails. */
    if (pthread_mutex_lock(&cl->lock) != 0) return;
    cl->band_rows = rows > 0 ? rows : 0;
    pthread_mutex_unlock(&cl->lock);
}

clconv__limits clconv__limits_of(const clconv_cl *cl)
{
    clconv__limits l;
    l.max_alloc = cl->info.max_alloc;
    l.global_mem = cl->info.global_mem;
    l.local_mem = cl->info.local_mem;
    l.const_mem = cl->info.const_mem;
    l.band_rows = cl->band_rows;
    l.is_gpu = cl->info.is_gpu;
    return l;
}

int clconv__cl_failed(clconv_cl *cl)
{
    int n;
    pthread_mutex_lock(&cl->lock);
    n = ++cl->failures;
    pthread_mutex_unlock(&cl->lock);
    return n == CLCONV__RETIRE_AFTER;
}

void clconv__cl_retire(clconv_cl *cl)
{
    pthread_mutex_lock(&cl->lock);
    if (cl->failures < CLCONV__RETIRE_AFTER) cl->failures = CLCONV__RETIRE_AFTER;
    pthread_mutex_unlock(&cl->lock);
}

int clconv__cl_retired(clconv_cl *cl)
{
    int n;
    pthread_mutex_lock(&cl->lock);
    n = cl->failures;
    pthread_mutex_unlock(&cl->lock);
    return n >= CLCONV__RETIRE_AFTER;
}
