/* conv_cl.c — the device path: uploads the host-padded plane in horizontal
 * bands (each with the halo of rows its filter reads), runs one work-item per
 * output pixel and reads the band back. Buffers are kept between calls.
 */
#define _POSIX_C_SOURCE 200809L
#include "cl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Of the device's global memory, the share one band may take: the rest is
 * left to other programs and to the driver. */
#define MEM_SHARE 0.5

static double event_ms(cl_event ev)
{
    cl_ulong a = 0, b = 0;
    if (!ev) return 0;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) != CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) != CL_SUCCESS)
        return 0;
    return b > a ? (double)(b - a) * 1e-6 : 0;
}

/* (Re)creates *buf when it is smaller than `need` bytes. */
static clconv_status ensure_buf(clconv_cl *cl, cl_mem *buf, size_t *cap,
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
    CL_TRY(err, e);
    *cap = need;
cleanup:
    return st;
}

/* The largest number of output rows per band that fits the device. */
static long long band_rows(const clconv_cl *cl, const clconv_geometry *g)
{
    const unsigned long long row_in = (unsigned long long)g->padded_w * sizeof(float);
    const unsigned long long row_out = (unsigned long long)g->out_w * sizeof(float);
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    unsigned long long max_alloc = cl->info.max_alloc ? cl->info.max_alloc : (1ULL << 27);
    unsigned long long budget = cl->info.global_mem
                                    ? (unsigned long long)(cl->info.global_mem * MEM_SHARE)
                                    : max_alloc;
    long long b = g->out_h, lim;
    if (cl->band_rows > 0 && cl->band_rows < b) b = cl->band_rows;
    /* Input rows for b output rows: (b - 1) * stride + keff. */
    lim = (long long)(max_alloc / row_in) - keff;
    lim = lim < 0 ? 0 : lim / g->stride + 1;
    if (lim < b) b = lim;
    lim = (long long)(max_alloc / row_out);
    if (lim < b) b = lim;
    /* Both buffers together within the budget. */
    while (b > 1 && ((unsigned long long)((b - 1) * g->stride + keff) * row_in +
                     (unsigned long long)b * row_out) > budget)
        b = b / 2;
    return b;
}

clconv_status clconv_conv_cl(clconv_cl *cl, const clconv_plane *padded,
                             const clconv_filter *f, const clconv_geometry *g,
                             clconv_plane *out, clconv_cl_timing *timing,
                             char *err)
{
    clconv_status st = CLCONV_OK;
    const int ntaps = g->kw * g->kh;
    const size_t taps_bytes = (size_t)ntaps * sizeof(float);
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    float *ftaps = NULL;
    cl_mem taps = NULL;
    cl_kernel k;
    cl_event ev[3] = {NULL, NULL, NULL};
    cl_int e;
    long long rows_per_band, r0;
    size_t lx = 16, ly = 16, kwg = 0;
    clconv_cl_timing tm = {0, 0, 0, 0};
    int i, locked = 0;

    if (padded->width != g->padded_w || padded->height != g->padded_h ||
        out->width != g->out_w || out->height != g->out_h || f->kw != g->kw ||
        f->kh != g->kh) {
        clconv__err(err, "plane sizes do not match the geometry");
        return CLCONV_E_INVALID;
    }
    if (pthread_mutex_lock(&cl->lock) != 0) {
        clconv__err(err, "cannot lock the device");
        return CLCONV_E_INVALID;
    }
    locked = 1;
    rows_per_band = band_rows(cl, g);
    if (rows_per_band < 1) {
        clconv__err(err, "one row of the %dx%d padded image with its halo does "
                    "not fit the device (max allocation %llu bytes)",
                    g->padded_w, g->padded_h, cl->info.max_alloc);
        st = CLCONV_E_TOO_LARGE;
        goto cleanup;
    }
    ftaps = malloc(taps_bytes);
    if (!ftaps) {
        clconv__err(err, "out of memory");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    for (i = 0; i < ntaps; i++) ftaps[i] = (float)f->taps[i];
    /* Taps in __constant when they fit (cached on every GPU); __global else. */
    k = (taps_bytes <= cl->info.const_mem && !clconv__fault("taps-global"))
            ? cl->k_const : cl->k_global;
    taps = clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                          taps_bytes, ftaps, &e);
    CL_TRY(err, e);
    st = ensure_buf(cl, &cl->in_buf, &cl->in_cap,
                    (size_t)((rows_per_band - 1) * g->stride + keff) *
                        (size_t)g->padded_w * sizeof(float),
                    CL_MEM_READ_ONLY, err);
    if (st != CLCONV_OK) goto cleanup;
    st = ensure_buf(cl, &cl->out_buf, &cl->out_cap,
                    (size_t)rows_per_band * (size_t)g->out_w * sizeof(float),
                    CL_MEM_WRITE_ONLY, err);
    if (st != CLCONV_OK) goto cleanup;

    CL_TRY(err, clGetKernelWorkGroupInfo(k, cl->dev, CL_KERNEL_WORK_GROUP_SIZE,
                                         sizeof kwg, &kwg, NULL));
    while (lx * ly > kwg && lx > 1) {
        if (ly >= lx) ly /= 2; else lx /= 2;
    }
    CL_TRY(err, clSetKernelArg(k, 0, sizeof(cl_mem), &cl->in_buf));
    CL_TRY(err, clSetKernelArg(k, 1, sizeof(cl_mem), &cl->out_buf));
    CL_TRY(err, clSetKernelArg(k, 2, sizeof(cl_mem), &taps));
    CL_TRY(err, clSetKernelArg(k, 3, sizeof(int), &g->padded_w));
    CL_TRY(err, clSetKernelArg(k, 4, sizeof(int), &g->out_w));
    CL_TRY(err, clSetKernelArg(k, 6, sizeof(int), &g->kw));
    CL_TRY(err, clSetKernelArg(k, 7, sizeof(int), &g->kh));
    CL_TRY(err, clSetKernelArg(k, 8, sizeof(int), &g->stride));
    CL_TRY(err, clSetKernelArg(k, 9, sizeof(int), &g->dilation));

    for (r0 = 0; r0 < g->out_h; r0 += rows_per_band) {
        const int rows = (int)(g->out_h - r0 < rows_per_band ? g->out_h - r0
                                                              : rows_per_band);
        const size_t in_rows = (size_t)(rows - 1) * g->stride + (size_t)keff;
        const size_t gsz[2] = {(g->out_w + lx - 1) / lx * lx,
                               (rows + ly - 1) / ly * ly};
        const size_t lsz[2] = {lx, ly};
        CL_TRY(err, clEnqueueWriteBuffer(
                        cl->queue, cl->in_buf, CL_FALSE, 0,
                        in_rows * (size_t)g->padded_w * sizeof(float),
                        padded->data + (size_t)r0 * g->stride * (size_t)g->padded_w,
                        0, NULL, &ev[0]));
        CL_TRY(err, clSetKernelArg(k, 5, sizeof(int), &rows));
        CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 2, NULL, gsz, lsz, 0,
                                           NULL, &ev[1]));
        CL_TRY(err, clEnqueueReadBuffer(
                        cl->queue, cl->out_buf, CL_TRUE, 0,
                        (size_t)rows * (size_t)g->out_w * sizeof(float),
                        out->data + (size_t)r0 * (size_t)g->out_w, 0, NULL,
                        &ev[2]));
        tm.upload_ms += event_ms(ev[0]);
        tm.kernel_ms += event_ms(ev[1]);
        tm.download_ms += event_ms(ev[2]);
        tm.bands++;
        for (i = 0; i < 3; i++) {
            clReleaseEvent(ev[i]);
            ev[i] = NULL;
        }
    }
    if (clconv__fault("perturb")) {
        /* Test switch: one wrong pixel, which --verify must catch. */
        float *v = out->data + (size_t)(g->out_h / 2) * g->out_w + g->out_w / 2;
        *v += fabsf(*v) + 1.0f;
    }
cleanup:
    for (i = 0; i < 3; i++)
        if (ev[i]) clReleaseEvent(ev[i]);
    if (st != CLCONV_OK) clFinish(cl->queue);
    if (taps) clReleaseMemObject(taps);
    if (locked) pthread_mutex_unlock(&cl->lock);
    free(ftaps);
    if (timing) *timing = tm;
    return st;
}
