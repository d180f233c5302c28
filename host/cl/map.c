/* map.c — the device map (DESIGN §6, issue 14 item 2): a band's float
 * results mapped to 8 or 16 bits on the device by kernels/map.cl, exactly
 * as host/core/plane.c maps them, so that only the mapped samples come
 * down (a quarter of float32's bytes at 8 bits, half at 16), with the NaN
 * and clipped counts added up from per-group partial counts; normalize's
 * min and max reduced on the device first (one band only: see
 * clconv__map_begin); the spot check's float samples gathered per band.
 * The band loop (bands.c) calls clconv__map_begin once and
 * clconv__map_band instead of its float read-back; the public entry point
 * clconv_conv_cl_image_mapped is here too.
 * It must not choose a variant or size a band (plan.c, conv.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "cl/cl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_U8, K_U16, K_MINMAX, K_GATHER };

/* Samples per work-item of a map group: a group takes lx * MAP_ITEMS
 * consecutive samples, so its partial counts are few (2 uints per 16K
 * samples at 256 items a group). */
#define MAP_ITEMS 64

void clconv__map_release(clconv_cl *cl)
{
    cl_mem *m[] = {&cl->map_out, &cl->map_part, &cl->map_idx, &cl->map_vals};
    size_t i;
    for (i = 0; i < sizeof cl->map_k / sizeof cl->map_k[0]; i++) {
        if (cl->map_k[i]) clReleaseKernel(cl->map_k[i]);
        cl->map_k[i] = NULL;
    }
    for (i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (*m[i]) clReleaseMemObject(*m[i]);
        *m[i] = NULL;
    }
    if (cl->map_prog) clReleaseProgram(cl->map_prog);
    cl->map_prog = NULL;
    cl->map_built = 0;
}

/* Whether the device has cl_khr_fp64 (double precision). */
static int has_fp64(clconv_cl *cl)
{
    char ext[8192];
    size_t n = 0;
    if (clGetDeviceInfo(cl->dev, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, &n) != CL_SUCCESS)
        return 0;
    ext[n < sizeof ext ? n : sizeof ext - 1] = '\0';
    return strstr(ext, "cl_khr_fp64") != NULL;
}

/* Builds map.cl once per device (lock held). A failure is remembered
 * (map_fail) and declines the device map from then on. */
static void build(clconv_cl *cl)
{
    static const char *const files[] = {"map.cl"};
    char err[CLCONV_ERR_MAX];
    clconv_status st;
    if (cl->map_built) return;
    cl->map_fp64 = has_fp64(cl) && !clconv__fault("map-no-fp64");
    st = clconv__build_program(cl, files, 1, cl->map_fp64 ? "-DMAP_FP64" : "",
                               clconv__fault("map-build") ? "__kernel void broken(" : NULL,
                               &cl->map_prog, err);
    if (st == CLCONV_OK) {
        const clconv__kernel_ref ks[] = {
            {"map_u8", &cl->map_k[K_U8]},
            {"map_u16", &cl->map_k[K_U16]},
            {"map_minmax", &cl->map_k[K_MINMAX]},
            {"map_gather", &cl->map_k[K_GATHER]},
        };
        st = clconv__create_kernels(cl->map_prog, ks, sizeof ks / sizeof ks[0], err);
    }
    if (st != CLCONV_OK) {
        clconv__map_release(cl);
        snprintf(cl->map_fail, sizeof cl->map_fail, "the map kernels did not build: %.120s", err);
        cl->map_built = -1;
        return;
    }
    cl->map_built = 1;
}

static void decline(clconv__map_run *mr, const char *why)
{
    mr->active = 0;
    snprintf(mr->m->why, sizeof mr->m->why, "%s", why);
}

clconv_status clconv__map_begin(clconv__map_run *mr, clconv_cl *cl,
                                const clconv_geometry *g, long long rows_per_band,
                                int zc, char *err)
{
    clconv_cl_mapped *m = mr->m;
    (void)err;
    mr->active = 0;
    mr->zc = zc;
    mr->out_w = g->out_w;
    mr->out_h = g->out_h;
    mr->rng = m->probe_seed ^ 0x9e3779b97f4a7c15ULL;
    build(cl);
    if (cl->map_built < 0)
        decline(mr, cl->map_fail);
    else if ((m->affine || m->map == CLCONV_MAP_NORMALIZE) && !cl->map_fp64)
        decline(mr, m->affine ? "--scale/--offset needs double precision (cl_khr_fp64), "
                                "which the device lacks"
                              : "normalize needs double precision (cl_khr_fp64), which "
                                "the device lacks");
    else if (m->map == CLCONV_MAP_NORMALIZE && rows_per_band < g->out_h)
        decline(mr, "normalize over several bands (the whole image's min and max "
                    "come before any band is mapped)");
    else if ((unsigned long long)rows_per_band * (unsigned long long)g->out_w >= 1ULL << 31)
        decline(mr, "a band of 2^31 samples or more");
    else
        mr->active = 1;
    return CLCONV_OK;
}

/* Adds an event's time to *ms and releases it. */
static void take(cl_event *ev, double *ms)
{
    if (!*ev) return;
    *ms += clconv__event_ms(*ev);
    clReleaseEvent(*ev);
    *ev = NULL;
}

/* The affine arguments, from index a (fp64 builds only). */
static clconv_status affine_args(cl_kernel k, cl_uint a, const clconv_cl_mapped *m,
                                 char *err)
{
    clconv_status st = CLCONV_OK;
    const cl_int on = m->affine != 0;
    const cl_double s = m->scale, o = m->offset;
    CL_TRY(err, clSetKernelArg(k, a, sizeof on, &on));
    CL_TRY(err, clSetKernelArg(k, a + 1, sizeof s, &s));
    CL_TRY(err, clSetKernelArg(k, a + 2, sizeof o, &o));
cleanup:
    return st;
}

/* Normalize's first pass over the band's n samples: lo and hi of the
 * finite ones into m, and the scale the host's map would use. */
static clconv_status minmax(clconv__map_run *mr, clconv_cl *cl, cl_mem in, cl_uint n,
                            cl_uint chunk, size_t groups, size_t lx, double *nscale,
                            clconv_cl_timing *tm, char *err)
{
    clconv_cl_mapped *m = mr->m;
    cl_kernel k = cl->map_k[K_MINMAX];
    const size_t gsz = groups * lx;
    cl_event ev[2] = {NULL, NULL};
    clconv_status st = CLCONV_OK;
    float *mm = malloc(groups * 2 * sizeof(float));
    double lo = INFINITY, hi = -INFINITY;
    size_t i;
    if (!mm) {
        clconv__err(err, "out of memory");
        return CLCONV_E_NOMEM;
    }
    CL_TRY(err, clSetKernelArg(k, 0, sizeof(cl_mem), &in));
    CL_TRY(err, clSetKernelArg(k, 1, sizeof n, &n));
    CL_TRY(err, clSetKernelArg(k, 2, sizeof chunk, &chunk));
    st = affine_args(k, 3, m, err);
    if (st != CLCONV_OK) goto cleanup;
    CL_TRY(err, clSetKernelArg(k, 6, sizeof(cl_mem), &cl->map_part));
    CL_TRY(err, clSetKernelArg(k, 7, 2 * lx * sizeof(float), NULL));
    CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &gsz, &lx, 0, NULL, &ev[0]));
    CL_TRY(err, clEnqueueReadBuffer(cl->queue, cl->map_part, CL_TRUE, 0,
                                    groups * 2 * sizeof(float), mm, 0, NULL, &ev[1]));
    for (i = 0; i < groups; i++) {
        if (mm[2 * i] < lo) lo = mm[2 * i];
        if (mm[2 * i + 1] > hi) hi = mm[2 * i + 1];
    }
    m->lo = (float)lo;
    m->hi = (float)hi;
    /* As host/core/plane.c: max / (hi - lo) in double, 0 when flat. */
    *nscale = hi > lo ? (m->bits == 16 ? 65535.0 : 255.0) / (hi - lo) : 0.0;
    m->bytes_down += groups * 2 * sizeof(float);
cleanup:
    take(&ev[0], &tm->kernel_ms);
    take(&ev[1], &tm->download_ms);
    free(mm);
    return st;
}

/* The caller's probes in rows [r0, r0 + rows), and the seam probes of this
 * band (its first row unless it is the image's, its last unless likewise),
 * appended to m's arrays: their band offsets into idx, their slots into
 * slot. Returns how many. */
static int band_probes(clconv__map_run *mr, int r0, int rows, cl_uint *idx, int *slot,
                       int ncaller)
{
    clconv_cl_mapped *m = mr->m;
    const int w = mr->out_w;
    int k, n = 0, e;
    for (k = 0; k < ncaller; k++)
        if (m->probe_y[k] >= r0 && m->probe_y[k] < r0 + rows) {
            idx[n] = (cl_uint)((m->probe_y[k] - r0) * w + m->probe_x[k]);
            slot[n++] = k;
        }
    for (e = 0; e < 2; e++) {
        const int y = e == 0 ? r0 : r0 + rows - 1;
        if ((e == 0 && r0 == 0) || (e == 1 && r0 + rows >= mr->out_h)) continue;
        if (e == 1 && rows == 1 && r0 > 0) continue; /* the same row again */
        for (k = 0; k < 4 && m->nprobe < m->probe_cap; k++) {
            const int x = k == 0 ? 0 : k == 1 ? w - 1 : clconv__rnd_int(&mr->rng, 0, w - 1);
            m->probe_x[m->nprobe] = x;
            m->probe_y[m->nprobe] = y;
            idx[n] = (cl_uint)((y - r0) * w + x);
            slot[n++] = m->nprobe++;
        }
    }
    return n;
}

/* The band's probes: gathered on the device, read back into m->probe_v. */
static clconv_status gather(clconv__map_run *mr, clconv_cl *cl, const clconv__band *b,
                            int ncaller, clconv_cl_timing *tm, char *err)
{
    clconv_cl_mapped *m = mr->m;
    const int cap = m->probe_cap > 0 ? m->probe_cap : 0;
    cl_uint *idx = malloc((size_t)(cap + 8) * sizeof *idx);
    int *slot = malloc((size_t)(cap + 8) * sizeof *slot);
    float *vals = malloc((size_t)(cap + 8) * sizeof *vals);
    cl_kernel k = cl->map_k[K_GATHER];
    cl_event ev[3] = {NULL, NULL, NULL};
    clconv_status st = CLCONV_OK;
    cl_uint n;
    int i;
    if (!idx || !slot || !vals) {
        clconv__err(err, "out of memory");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    n = (cl_uint)band_probes(mr, b->r0, b->rows, idx, slot, ncaller);
    if (n == 0) goto cleanup;
    st = clconv__ensure_buf(cl, &cl->map_idx, &cl->map_idx_cap, n * sizeof *idx,
                            CL_MEM_READ_ONLY, err);
    if (st == CLCONV_OK)
        st = clconv__ensure_buf(cl, &cl->map_vals, &cl->map_vals_cap, n * sizeof *vals,
                                CL_MEM_WRITE_ONLY, err);
    if (st != CLCONV_OK) goto cleanup;
    {
        const size_t gsz = n;
        CL_TRY(err, clEnqueueWriteBuffer(cl->queue, cl->map_idx, CL_FALSE, 0, n * sizeof *idx,
                                         idx, 0, NULL, &ev[0]));
        CL_TRY(err, clSetKernelArg(k, 0, sizeof(cl_mem), &b->out));
        CL_TRY(err, clSetKernelArg(k, 1, sizeof(cl_mem), &cl->map_idx));
        CL_TRY(err, clSetKernelArg(k, 2, sizeof n, &n));
        CL_TRY(err, clSetKernelArg(k, 3, sizeof(cl_mem), &cl->map_vals));
        CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &gsz, NULL, 0, NULL, &ev[1]));
        CL_TRY(err, clEnqueueReadBuffer(cl->queue, cl->map_vals, CL_TRUE, 0, n * sizeof *vals,
                                        vals, 0, NULL, &ev[2]));
    }
    for (i = 0; i < (int)n; i++) m->probe_v[slot[i]] = vals[i];
    m->bytes_down += n * sizeof *vals;
cleanup:
    if (st != CLCONV_OK) clFinish(cl->queue);
    take(&ev[0], &tm->upload_ms);
    take(&ev[1], &tm->kernel_ms);
    take(&ev[2], &tm->download_ms);
    free(idx);
    free(slot);
    free(vals);
    return st;
}

/* Brings the band's mapped samples to `host`: read from the device buffer,
 * or, zero-copy, a buffer over host memory mapped and unmapped. */
static clconv_status fetch(clconv__map_run *mr, clconv_cl *cl, cl_mem dev, void *host,
                           size_t bytes, cl_event *ev, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_int e;
    if (mr->zc) {
        void *p = clEnqueueMapBuffer(cl->queue, dev, CL_TRUE, CL_MAP_READ, 0, bytes, 0,
                                     NULL, &ev[0], &e);
        CL_CHECK(err, e, "clEnqueueMapBuffer");
        if (p != host) memcpy(host, p, bytes);
        CL_TRY(err, clEnqueueUnmapMemObject(cl->queue, dev, p, 0, NULL, &ev[1]));
        CL_TRY(err, clWaitForEvents(1, &ev[1]));
    } else {
        CL_TRY(err, clEnqueueReadBuffer(cl->queue, dev, CL_TRUE, 0, bytes, host, 0, NULL,
                                        &ev[0]));
    }
cleanup:
    return st;
}

clconv_status clconv__map_band(clconv__map_run *mr, clconv_cl *cl, const clconv__band *b,
                               clconv_cl_timing *tm, char *err)
{
    clconv_cl_mapped *m = mr->m;
    const size_t es = m->bits == 16 ? 2 : 1;
    const cl_uint n = (cl_uint)((size_t)b->rows * (size_t)mr->out_w);
    const int ncaller = m->nprobe;
    cl_kernel k = cl->map_k[m->bits == 16 ? K_U16 : K_U8];
    unsigned char *host = (unsigned char *)m->data + (size_t)b->r0 * (size_t)mr->out_w * es;
    cl_event ev[4] = {NULL, NULL, NULL, NULL};
    clconv_status st = CLCONV_OK;
    cl_mem dst = NULL;
    cl_uint *cnt = NULL;
    cl_uint chunk;
    cl_int mode = m->map == CLCONV_MAP_ABS ? 1 : m->map == CLCONV_MAP_NORMALIZE ? 2 : 0;
    double nscale = 0.0;
    size_t lx = 256, ly = 1, groups, gsz, i;
    cl_uint a;

    st = clconv__group_size(cl, k, 256, 1, &lx, &ly, err);
    if (st != CLCONV_OK) return st;
    {
        size_t lm = 0;
        st = clconv__group_size(cl, cl->map_k[K_MINMAX], 256, 1, &lm, &ly, err);
        if (st != CLCONV_OK) return st;
        if (lm < lx) lx = lm; /* one group size for both passes */
    }
    chunk = (cl_uint)(lx * MAP_ITEMS);
    groups = (n + chunk - 1) / chunk;
    gsz = groups * lx;
    if (!(cnt = malloc(groups * 2 * sizeof *cnt))) {
        clconv__err(err, "out of memory");
        return CLCONV_E_NOMEM;
    }
    st = clconv__ensure_buf(cl, &cl->map_part, &cl->map_part_cap, groups * 2 * sizeof(cl_uint),
                            CL_MEM_READ_WRITE, err);
    if (st != CLCONV_OK) goto cleanup;
    if (mr->zc) {
        st = clconv__wrap_host(cl, &dst, CL_MEM_WRITE_ONLY, n * es, host, err);
    } else {
        st = clconv__ensure_buf(cl, &cl->map_out, &cl->map_out_cap, n * es,
                                CL_MEM_WRITE_ONLY, err);
        dst = cl->map_out;
    }
    if (st != CLCONV_OK) goto cleanup;
    if (mode == 2) {
        st = minmax(mr, cl, b->out, n, chunk, groups, lx, &nscale, tm, err);
        if (st != CLCONV_OK) goto cleanup;
    }
    CL_TRY(err, clSetKernelArg(k, 0, sizeof(cl_mem), &b->out));
    CL_TRY(err, clSetKernelArg(k, 1, sizeof(cl_mem), &dst));
    CL_TRY(err, clSetKernelArg(k, 2, sizeof n, &n));
    CL_TRY(err, clSetKernelArg(k, 3, sizeof chunk, &chunk));
    CL_TRY(err, clSetKernelArg(k, 4, sizeof mode, &mode));
    a = 5;
    if (cl->map_fp64) {
        const cl_double lo = m->lo;
        st = affine_args(k, 5, m, err);
        if (st != CLCONV_OK) goto cleanup;
        CL_TRY(err, clSetKernelArg(k, 8, sizeof lo, &lo));
        CL_TRY(err, clSetKernelArg(k, 9, sizeof nscale, &nscale));
        a = 10;
    }
    CL_TRY(err, clSetKernelArg(k, a, sizeof(cl_mem), &cl->map_part));
    CL_TRY(err, clSetKernelArg(k, a + 1, 2 * lx * sizeof(cl_uint), NULL));
    CL_TRY(err, clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &gsz, &lx, 0, NULL, &ev[0]));
    st = fetch(mr, cl, dst, host, n * es, &ev[1], err);
    if (st != CLCONV_OK) goto cleanup;
    CL_TRY(err, clEnqueueReadBuffer(cl->queue, cl->map_part, CL_TRUE, 0,
                                    groups * 2 * sizeof *cnt, cnt, 0, NULL, &ev[3]));
    for (i = 0; i < groups; i++) {
        m->nan_count += cnt[2 * i];
        m->clipped += cnt[2 * i + 1];
    }
    m->bytes_down += n * es + groups * 2 * sizeof *cnt;
    st = gather(mr, cl, b, ncaller, tm, err);
cleanup:
    if (st != CLCONV_OK) clFinish(cl->queue);
    take(&ev[0], &tm->kernel_ms);
    for (i = 1; i < 4; i++) take(&ev[i], &tm->download_ms);
    if (mr->zc && dst) clReleaseMemObject(dst);
    free(cnt);
    return st;
}

clconv_status clconv_conv_cl_image_mapped(clconv_cl *cl, const clconv_plane *in,
                                          const clconv_image8 *in8,
                                          const clconv_params *prm,
                                          const clconv_filter *f,
                                          const clconv_geometry *g, clconv_plane *out,
                                          clconv_cl_mapped *m, clconv_cl_timing *timing,
                                          char err[CLCONV_ERR_MAX])
{
    clconv__map_run mr;
    clconv_status st;
    int k;
    if (!m || (m->bits != 8 && m->bits != 16) || !m->data ||
        (m->map != CLCONV_MAP_CLAMP && m->map != CLCONV_MAP_ABS &&
         m->map != CLCONV_MAP_NORMALIZE) ||
        m->nprobe < 0 || m->nprobe > m->probe_cap ||
        (m->probe_cap > 0 && (!m->probe_x || !m->probe_y || !m->probe_v))) {
        clconv__err(err, "a bad device map request (bits %d, map %d)", m ? m->bits : 0,
                    m ? (int)m->map : -1);
        return CLCONV_E_INVALID;
    }
    for (k = 0; k < m->nprobe; k++)
        if (m->probe_x[k] < 0 || m->probe_x[k] >= g->out_w || m->probe_y[k] < 0 ||
            m->probe_y[k] >= g->out_h) {
            clconv__err(err, "probe %d (%d, %d) is outside the %dx%d output", k,
                        m->probe_x[k], m->probe_y[k], g->out_w, g->out_h);
            return CLCONV_E_INVALID;
        }
    m->mapped = 0;
    m->nan_count = m->clipped = 0;
    m->lo = m->hi = 0.0f;
    m->bytes_down = 0;
    snprintf(m->why, sizeof m->why, "the call did not reach the band loop");
    memset(&mr, 0, sizeof mr);
    mr.m = m;
    st = clconv__conv_image(cl, in, in8, prm, f, g, out, timing, &mr, err);
    m->mapped = st == CLCONV_OK && mr.active;
    if (m->mapped) m->why[0] = '\0';
    return st;
}
