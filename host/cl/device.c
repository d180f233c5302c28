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

/* The kernel `k`'s twin for a slot: the same entry point of the same
 * program, a kernel object of its own (arguments are per object). */
static clconv_status twin(cl_kernel k, cl_kernel *out, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_program prog = NULL;
    char name[128];
    cl_int e;
    CL_TRY(err, clGetKernelInfo(k, CL_KERNEL_PROGRAM, sizeof prog, &prog, NULL));
    CL_TRY(err, clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL));
    name[sizeof name - 1] = '\0';
    *out = clCreateKernel(prog, name, &e);
    CL_CHECK(err, e, "clCreateKernel");
cleanup:
    return st;
}

/* The slots: one with one queue where zero-copy wraps host memory or
 * CLCONV_PIPELINE=0, else CLCONV__MAX_INFLIGHT with an upload, a compute and
 * a read-back queue each. */
static clconv_status open_slots(clconv_cl *cl, char *err)
{
    const char *pipe = getenv("CLCONV_PIPELINE");
    const char *stage = getenv("CLCONV_STAGING");
    clconv_status st = CLCONV_OK;
    int n, i, j;
    cl_int e;
    cl->zc = clconv__zero_copy(cl);
    cl->pipelined = !cl->zc && !(pipe && strcmp(pipe, "0") == 0);
    /* Pinned staging pays where a DMA engine moves the bytes; a CPU
     * device's own threads copy from any host memory, so there it would
     * only add a copy (bench/RESULTS.md, "Transfer pipeline"). */
    cl->staged = cl->pipelined && (stage ? strcmp(stage, "0") != 0
                                         : strcmp(cl->info.type, "CPU") != 0);
    /* Oclgrind (21.10) runs kernels in the thread that waits for them and
     * aborts when two threads do at once: one image at a time there, its
     * bands still pipelined. */
    cl->nslots = cl->pipelined && !strstr(cl->info.platform_name, "Oclgrind")
                     ? CLCONV__MAX_INFLIGHT : 1;
    for (n = 0; n < cl->nslots; n++) {
        clconv__slot *s = &cl->slot[n];
        for (i = 0; i < (cl->pipelined ? CLCONV__QUEUES : 1); i++) {
            s->q[i] = clCreateCommandQueue(cl->ctx, cl->dev, CL_QUEUE_PROFILING_ENABLE, &e);
            CL_CHECK(err, e, "clCreateCommandQueue");
        }
        for (; i < CLCONV__QUEUES; i++) s->q[i] = s->q[0];
        for (i = 0; i < CLCONV__VARIANTS; i++)
            for (j = 0; j < CLCONV__SLOTS; j++)
                if (cl->k[i][j]) {
                    st = twin(cl->k[i][j], &s->k[i][j], err);
                    if (st != CLCONV_OK) goto cleanup;
                }
    }
cleanup:
    return st;
}

clconv__slot *clconv__slot_get(clconv_cl *cl, int all, double *wait_ms)
{
    const double t = clconv__now_ms();
    clconv__slot *got = NULL;
    int i, busy;
    if (pthread_mutex_lock(&cl->lock) != 0) return NULL;
    for (;;) {
        for (i = busy = 0; i < cl->nslots; i++) busy += cl->slot[i].busy;
        if (all ? busy == 0 : busy < cl->nslots) break;
        pthread_cond_wait(&cl->slot_free, &cl->lock);
    }
    for (i = 0; i < cl->nslots; i++)
        if (!cl->slot[i].busy && (all || !got)) {
            cl->slot[i].busy = 1;
            if (!got) got = &cl->slot[i];
        }
    pthread_mutex_unlock(&cl->lock);
    if (wait_ms) *wait_ms += clconv__now_ms() - t;
    return got;
}

void clconv__slot_put(clconv_cl *cl, clconv__slot *s, int all)
{
    int i;
    if (!s) return;
    pthread_mutex_lock(&cl->lock);
    for (i = 0; i < cl->nslots; i++)
        if (all || &cl->slot[i] == s) cl->slot[i].busy = 0;
    pthread_cond_broadcast(&cl->slot_free);
    pthread_mutex_unlock(&cl->lock);
}

clconv__limits clconv__limits_slot(const clconv_cl *cl, int all)
{
    clconv__limits l = clconv__limits_of(cl);
    if (!all && cl->nslots > 1) {
        /* clconv__budget's share of global memory, split among the slots
         * (a device that does not say keeps max_alloc as its budget). */
        if (l.global_mem) l.global_mem /= (unsigned long long)cl->nslots;
    }
    return l;
}

void clconv__busy_add(clconv_cl *cl, cl_event ev)
{
    cl_ulong a = 0, b = 0;
    int i, j;
    if (!ev ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) != CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) != CL_SUCCESS ||
        b <= a)
        return;
    pthread_mutex_lock(&cl->lock);
    /* Kept sorted by start and disjoint: insert, then merge neighbours. */
    for (i = cl->nbusy; i > 0 && cl->busy[i - 1].t0 > a; i--) {}
    if (cl->nbusy == (int)(sizeof cl->busy / sizeof cl->busy[0])) {
        /* Full: the oldest interval is settled (kernels of the images in
         * flight now start far later). */
        cl->busy_settled_ms += (double)(cl->busy[0].t1 - cl->busy[0].t0) * 1e-6;
        memmove(&cl->busy[0], &cl->busy[1], (size_t)(cl->nbusy - 1) * sizeof cl->busy[0]);
        cl->nbusy--;
        if (i > 0) i--;
    }
    memmove(&cl->busy[i + 1], &cl->busy[i], (size_t)(cl->nbusy - i) * sizeof cl->busy[0]);
    cl->busy[i].t0 = a;
    cl->busy[i].t1 = b;
    cl->nbusy++;
    for (j = 0, i = 1; i < cl->nbusy; i++) {
        if (cl->busy[i].t0 <= cl->busy[j].t1) {
            if (cl->busy[i].t1 > cl->busy[j].t1) cl->busy[j].t1 = cl->busy[i].t1;
        } else {
            cl->busy[++j] = cl->busy[i];
        }
    }
    cl->nbusy = cl->nbusy ? j + 1 : 0;
    pthread_mutex_unlock(&cl->lock);
}

double clconv_cl_busy_ms(clconv_cl *cl)
{
    double ms;
    int i;
    pthread_mutex_lock(&cl->lock);
    ms = cl->busy_settled_ms;
    for (i = 0; i < cl->nbusy; i++) ms += (double)(cl->busy[i].t1 - cl->busy[i].t0) * 1e-6;
    pthread_mutex_unlock(&cl->lock);
    return ms;
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
    if (pthread_cond_init(&cl->slot_free, NULL) != 0) {
        pthread_mutex_destroy(&cl->lock);
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
    st = clconv__registry_build(cl, err);
    if (st != CLCONV_OK) goto cleanup;
    st = open_slots(cl, err);
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
    int i, j, n;
    if (!cl) return;
    for (n = 0; n < CLCONV__MAX_INFLIGHT; n++) {
        clconv__slot *s = &cl->slot[n];
        for (i = 0; i < 2; i++) {
            clconv__stage_release(s->q[CLCONV__Q_UP], &s->up[i]);
            clconv__stage_release(s->q[CLCONV__Q_UP], &s->down[i]);
            if (s->in_buf[i]) clReleaseMemObject(s->in_buf[i]);
            if (s->out_buf[i]) clReleaseMemObject(s->out_buf[i]);
        }
        if (s->tmp_buf) clReleaseMemObject(s->tmp_buf);
        for (i = 0; i < CLCONV__VARIANTS; i++)
            for (j = 0; j < CLCONV__SLOTS; j++)
                if (s->k[i][j]) clReleaseKernel(s->k[i][j]);
        clconv__registry_release_alt(s);
        clconv__map_release_slot(s, 1);
        for (i = 0; i < CLCONV__QUEUES; i++)
            if (s->q[i] && (i == 0 || s->q[i] != s->q[0])) clReleaseCommandQueue(s->q[i]);
    }
    for (i = 0; i < CLCONV__VARIANTS; i++)
        for (j = 0; j < CLCONV__SLOTS; j++)
            if (cl->k[i][j]) clReleaseKernel(cl->k[i][j]);
    clconv__fft_release(cl);
    clconv__tune_release(cl);
    clconv__map_release(cl);
    if (cl->program) clReleaseProgram(cl->program);
    if (cl->ctx) clReleaseContext(cl->ctx);
    pthread_cond_destroy(&cl->slot_free);
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
