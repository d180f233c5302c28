/* buffers.c — device memory: the band buffers kept between calls and
 * grown on demand, host memory wrapped for zero-copy devices, small
 * read-only copies (taps, maps), the read-back of a band, event timings,
 * work-group sizes within the device's limits.
 * It must not decide what goes in a band (plan.c, bands.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "cl/cl.h"

#include <stdlib.h>
#include <string.h>

int clconv__zero_copy(const clconv_cl *cl)
{
    cl_bool unified = CL_FALSE;
    const char *env = getenv("CLCONV_ZERO_COPY");
    if (env && strcmp(env, "0") == 0) return 0;
    if (clGetDeviceInfo(cl->dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified,
                        &unified, NULL) != CL_SUCCESS)
        return 0;
    return unified == CL_TRUE;
}

double clconv__event_ms(cl_event ev)
{
    cl_ulong a = 0, b = 0;
    if (!ev) return 0;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) != CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) != CL_SUCCESS)
        return 0;
    return b > a ? (double)(b - a) * 1e-6 : 0;
}

double clconv__event_wait_ms(cl_event ev)
{
    cl_ulong a = 0, b = 0;
    if (!ev) return 0;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_QUEUED, sizeof a, &a, NULL) != CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof b, &b, NULL) != CL_SUCCESS)
        return 0;
    return b > a ? (double)(b - a) * 1e-6 : 0;
}

clconv_status clconv__ensure_buf(clconv_cl *cl, cl_mem *buf, size_t *cap,
                                 size_t need, cl_mem_flags flags, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e = CL_SUCCESS;
    if (*buf && *cap >= need) return CLCONV_OK;
    if (*buf) clReleaseMemObject(*buf);
    *buf = NULL;
    *cap = 0;
    if (clconv__fault("cl-alloc")) {
        e = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    } else {
        *buf = clCreateBuffer(cl->ctx, flags, need, NULL, &e);
    }
    CL_CHECK(err, e, "clCreateBuffer");
    *cap = need;
cleanup:
    return st;
}

clconv_status clconv__wrap_host(clconv_cl *cl, cl_mem *buf, cl_mem_flags flags,
                                size_t bytes, void *host, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e = CL_SUCCESS;
    if (clconv__fault("cl-alloc"))
        e = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    else
        *buf = clCreateBuffer(cl->ctx, flags | CL_MEM_USE_HOST_PTR, bytes, host, &e);
    CL_CHECK(err, e, "clCreateBuffer");
cleanup:
    return st;
}

clconv_status clconv__copy_buf(clconv_cl *cl, cl_mem *buf, size_t bytes,
                               const void *host, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e = CL_SUCCESS;
    *buf = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes,
                          (void *)host, &e);
    CL_CHECK(err, e, "clCreateBuffer");
cleanup:
    return st;
}

clconv_status clconv__read_back(clconv_cl *cl, cl_command_queue q, int zc,
                                cl_mem out_b, float *host_out, size_t out_bytes,
                                cl_event *ev_read, cl_event *ev_unmap, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e;
    if (zc) {
        /* Mapping the wrapped output makes the host copy current (a no-op
         * where the device wrote host memory in place). */
        void *m = clEnqueueMapBuffer(q, out_b, CL_TRUE, CL_MAP_READ, 0,
                                     out_bytes, 0, NULL, ev_read, &e);
        CL_CHECK(err, e, "clEnqueueMapBuffer");
        CL_TRY(err, clEnqueueUnmapMemObject(q, out_b, m, 0, NULL, ev_unmap));
        CL_TRY(err, clWaitForEvents(1, ev_unmap));
        if (m != (void *)host_out) memcpy(host_out, m, out_bytes);
    } else {
        CL_TRY(err, clEnqueueReadBuffer(q, out_b, CL_TRUE, 0, out_bytes,
                                        host_out, 0, NULL, ev_read));
    }
cleanup:
    (void)cl;
    return st;
}

clconv_status clconv__stage_ensure(clconv_cl *cl, cl_command_queue q,
                                   clconv__stage *st_, size_t need, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e = CL_SUCCESS;
    if (st_->buf && st_->cap >= need) return CLCONV_OK;
    clconv__stage_release(q, st_);
    if (clconv__fault("cl-alloc"))
        e = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    else
        st_->buf = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR,
                                  need, NULL, &e);
    CL_CHECK(err, e, "clCreateBuffer");
    /* Mapped once, for good: the pointer is what transfers copy from and to
     * (pinned memory the driver moves by DMA, without a copy of its own). */
    st_->map = clEnqueueMapBuffer(q, st_->buf, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                  need, 0, NULL, NULL, &e);
    CL_CHECK(err, e, "clEnqueueMapBuffer");
    st_->cap = need;
cleanup:
    if (st != CLCONV_OK) clconv__stage_release(q, st_);
    return st;
}

void clconv__stage_release(cl_command_queue q, clconv__stage *st)
{
    if (st->buf && st->map && q) {
        cl_event ev = NULL;
        if (clEnqueueUnmapMemObject(q, st->buf, st->map, 0, NULL, &ev) == CL_SUCCESS) {
            clWaitForEvents(1, &ev);
            clReleaseEvent(ev);
        }
    }
    if (st->buf) clReleaseMemObject(st->buf);
    st->buf = NULL;
    st->map = NULL;
    st->cap = 0;
}

void clconv__slot_trim(clconv_cl *cl, clconv__slot *s)
{
    int i;
    (void)cl;
    for (i = 0; i < 2; i++) {
        clconv__stage_release(s->q[CLCONV__Q_UP], &s->up[i]);
        clconv__stage_release(s->q[CLCONV__Q_UP], &s->down[i]);
        if (s->in_buf[i]) clReleaseMemObject(s->in_buf[i]);
        if (s->out_buf[i]) clReleaseMemObject(s->out_buf[i]);
        s->in_buf[i] = s->out_buf[i] = NULL;
        s->in_cap[i] = s->out_cap[i] = 0;
    }
    if (s->tmp_buf) clReleaseMemObject(s->tmp_buf);
    s->tmp_buf = NULL;
    s->tmp_cap = 0;
    clconv__map_release_slot(s, 0); /* its buffers; the kernels stay */
}

size_t clconv__round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

clconv_status clconv__group_size(clconv_cl *cl, cl_kernel k, size_t want_x,
                                 size_t want_y, size_t *lx, size_t *ly, char *err)
{
    clconv_status st = CLCONV_OK;
    size_t kwg = 0;
    *lx = want_x;
    *ly = want_y;
    CL_TRY(err, clGetKernelWorkGroupInfo(k, cl->dev, CL_KERNEL_WORK_GROUP_SIZE,
                                         sizeof kwg, &kwg, NULL));
    if (cl->max_wg && cl->max_wg < kwg) kwg = cl->max_wg;
    if (kwg < 1) kwg = 1;
    while (*lx > 1 && cl->max_items[0] && *lx > cl->max_items[0]) *lx /= 2;
    while (*ly > 1 && cl->max_items[1] && *ly > cl->max_items[1]) *ly /= 2;
    while (*lx * *ly > kwg && (*lx > 1 || *ly > 1)) {
        if ((*ly >= *lx && *ly > 1) || *lx == 1) *ly /= 2; else *lx /= 2;
    }
cleanup:
    return st;
}
