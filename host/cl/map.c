/* map.c — the device map (DESIGN §6, issue 14 item 2): a band's float
 * results mapped to 8 or 16 bits on the device by kernels/map.cl, exactly
 * as host/core/plane.c maps them, so that only the mapped samples come
 * down (a quarter of float32's bytes at 8 bits, half at 16), with the NaN
 * and clipped counts added up from per-group partial counts; normalize's
 * min and max reduced on the device first (one band only: see
 * clconv__map_begin); the spot check's float samples gathered per band.
 * The band loop (bands.c) calls clconv__map_begin once, and per band
 * clconv__map_band instead of its float read-back and clconv__map_land
 * where it would wait for it: on a pipelined device the mapped read-back
 * of band i overlaps band i+1's kernels as the float one did. Everything a
 * call enqueues is its slot's: kernel objects, buffers (one set per turn of
 * band buffers), queues. The public entry point
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
enum { T_MINMAX, T_MAP, T_GATHER };   /* clconv__map_turn.k */
enum { R_SAMPLES, R_COUNTS, R_PROBES }; /* clconv__map_turn.rd */

/* Samples per work-item of a map group: a group takes lx * MAP_ITEMS
 * consecutive samples, so its partial counts are few (2 uints per 16K
 * samples at 256 items a group). */
#define MAP_ITEMS 64

void clconv__map_release_slot(clconv__slot *s, int kernels)
{
    size_t i;
    int t;
    for (t = 0; t < 2; t++) {
        cl_mem *m[] = {&s->map_out[t], &s->map_part[t], &s->map_idx[t], &s->map_vals[t]};
        size_t *c[] = {&s->map_out_cap[t], &s->map_part_cap[t], &s->map_idx_cap[t],
                       &s->map_vals_cap[t]};
        for (i = 0; i < sizeof m / sizeof m[0]; i++) {
            if (*m[i]) clReleaseMemObject(*m[i]);
            *m[i] = NULL;
            *c[i] = 0;
        }
    }
    if (kernels)
        for (i = 0; i < sizeof s->map_k / sizeof s->map_k[0]; i++) {
            if (s->map_k[i]) clReleaseKernel(s->map_k[i]);
            s->map_k[i] = NULL;
        }
}

void clconv__map_release(clconv_cl *cl)
{
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

/* Builds map.cl once per device (cl->lock held). A failure is remembered
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
    if (st != CLCONV_OK) {
        clconv__map_release(cl);
        snprintf(cl->map_fail, sizeof cl->map_fail, "the map kernels did not build: %.120s", err);
        cl->map_built = -1;
        return;
    }
    cl->map_built = 1;
}

/* The slot's own map kernels, made on its first mapped call (the call
 * holds the slot: no other thread touches them). */
static clconv_status slot_kernels(clconv_cl *cl, clconv__slot *s, char *err)
{
    clconv_status st;
    const clconv__kernel_ref ks[] = {
        {"map_u8", &s->map_k[K_U8]},
        {"map_u16", &s->map_k[K_U16]},
        {"map_minmax", &s->map_k[K_MINMAX]},
        {"map_gather", &s->map_k[K_GATHER]},
    };
    if (s->map_k[K_GATHER]) return CLCONV_OK;
    st = clconv__create_kernels(cl->map_prog, ks, sizeof ks / sizeof ks[0], err);
    if (st != CLCONV_OK) clconv__map_release_slot(s, 1);
    return st;
}

static void decline(clconv__map_run *mr, const char *why)
{
    mr->active = 0;
    snprintf(mr->m->why, sizeof mr->m->why, "%.159s", why);
}

static void release_event(cl_event *ev)
{
    if (*ev) clReleaseEvent(*ev);
    *ev = NULL;
}

/* Releases a turn's events and zero-copy wrap (its host arrays stay). */
static void turn_clear(clconv__map_turn *T)
{
    int i;
    release_event(&T->up);
    release_event(&T->unmap);
    for (i = 0; i < 3; i++) {
        release_event(&T->k[i]);
        release_event(&T->rd[i]);
    }
    if (T->wrap) clReleaseMemObject(T->wrap);
    T->wrap = NULL;
    T->pending = 0;
}

void clconv__map_end(clconv__map_run *mr)
{
    int t;
    for (t = 0; t < 2; t++) {
        clconv__map_turn *T = &mr->turn[t];
        turn_clear(T);
        free(T->cnt);
        free(T->idx);
        free(T->pslot);
        free(T->vals);
        T->cnt = T->idx = NULL;
        T->pslot = NULL;
        T->vals = NULL;
    }
}

clconv_status clconv__map_begin(clconv__map_run *mr, clconv_cl *cl, clconv__slot *slot,
                                const clconv_geometry *g, long long rows_per_band,
                                char *err)
{
    clconv_cl_mapped *m = mr->m;
    clconv_status st = CLCONV_OK;
    char why[CLCONV_ERR_MAX];
    int built, fp64, t;
    clconv__map_end(mr); /* a run before this one (none in practice) */
    mr->active = 0;
    mr->zc = cl->zc;
    mr->out_w = g->out_w;
    mr->out_h = g->out_h;
    mr->rng = m->probe_seed ^ 0x9e3779b97f4a7c15ULL;
    mr->cl = cl;
    mr->slot = slot;
    mr->ncaller = m->nprobe;
    if (pthread_mutex_lock(&cl->lock) != 0) {
        clconv__err(err, "cannot lock the device");
        return CLCONV_E_INVALID;
    }
    build(cl);
    built = cl->map_built;
    fp64 = cl->map_fp64;
    snprintf(why, sizeof why, "%s", cl->map_fail);
    pthread_mutex_unlock(&cl->lock);
    if (built < 0) {
        decline(mr, why);
        return CLCONV_OK;
    }
    if ((m->affine || m->map == CLCONV_MAP_NORMALIZE) && !fp64) {
        decline(mr, m->affine ? "--scale/--offset needs double precision (cl_khr_fp64), "
                                "which the device lacks"
                              : "normalize needs double precision (cl_khr_fp64), which "
                                "the device lacks");
        return CLCONV_OK;
    }
    if (m->map == CLCONV_MAP_NORMALIZE && rows_per_band < g->out_h) {
        decline(mr, "normalize over several bands (the whole image's min and max "
                    "come before any band is mapped)");
        return CLCONV_OK;
    }
    if ((unsigned long long)rows_per_band * (unsigned long long)g->out_w >= 1ULL << 31) {
        decline(mr, "a band of 2^31 samples or more");
        return CLCONV_OK;
    }
    if (slot_kernels(cl, slot, why) != CLCONV_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "the map kernels could not be made: %.110s", why);
        decline(mr, msg);
        return CLCONV_OK;
    }
    {
        /* One group size for the map and min/max passes, within both
         * kernels' limits. */
        size_t lx = 256, lm = 256, ly = 1;
        st = clconv__group_size(cl, slot->map_k[m->bits == 16 ? K_U16 : K_U8], 256, 1, &lx,
                                &ly, err);
        if (st == CLCONV_OK)
            st = clconv__group_size(cl, slot->map_k[K_MINMAX], 256, 1, &lm, &ly, err);
        if (st != CLCONV_OK) return st;
        mr->lx = lm < lx ? lm : lx;
    }
    {
        const unsigned long long n =
            (unsigned long long)(rows_per_band < g->out_h ? rows_per_band : g->out_h) *
            (unsigned long long)g->out_w;
        const unsigned long long chunk = (unsigned long long)mr->lx * MAP_ITEMS;
        mr->groups_cap = (size_t)((n + chunk - 1) / chunk);
    }
    /* The caller's probes, and a band's seam probes: 4 on each edge row. */
    mr->probe_room = mr->ncaller + 8;
    for (t = 0; t < 2; t++) {
        clconv__map_turn *T = &mr->turn[t];
        T->cnt = malloc((mr->groups_cap > 0 ? mr->groups_cap : 1) * 2 * sizeof *T->cnt);
        T->idx = malloc((size_t)mr->probe_room * sizeof *T->idx);
        T->pslot = malloc((size_t)mr->probe_room * sizeof *T->pslot);
        T->vals = malloc((size_t)mr->probe_room * sizeof *T->vals);
        if (!T->cnt || !T->idx || !T->pslot || !T->vals) {
            clconv__map_end(mr);
            clconv__err(err, "out of memory");
            return CLCONV_E_NOMEM;
        }
    }
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

/* A map kernel's event: its time, its interval in the device's busy time. */
static void take_kernel(clconv_cl *cl, cl_event *ev, clconv_cl_timing *tm)
{
    if (!*ev) return;
    clconv__busy_add(cl, *ev);
    take(ev, &tm->kernel_ms);
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

/* Normalize's first pass over the band's n samples, on qc after the band's
 * kernels: lo and hi of the finite ones into m, and the scale the host's
 * map would use. Waits for its result (normalize maps one band only). */
static clconv_status minmax(clconv__map_run *mr, int t, cl_command_queue qc, cl_mem in,
                            cl_uint n, cl_uint chunk, size_t groups, double *nscale,
                            clconv_cl_timing *tm, char *err)
{
    clconv_cl_mapped *m = mr->m;
    clconv__slot *s = mr->slot;
    cl_kernel k = s->map_k[K_MINMAX];
    const size_t lx = mr->lx, gsz = groups * lx;
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
    CL_TRY(err, clSetKernelArg(k, 6, sizeof(cl_mem), &s->map_part[t]));
    CL_TRY(err, clSetKernelArg(k, 7, 2 * lx * sizeof(float), NULL));
    CL_TRY(err, clEnqueueNDRangeKernel(qc, k, 1, NULL, &gsz, &lx, 0, NULL, &ev[0]));
    CL_TRY(err, clEnqueueReadBuffer(qc, s->map_part[t], CL_TRUE, 0,
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
    take_kernel(mr->cl, &ev[0], tm);
    take(&ev[1], &tm->download_ms);
    free(mm);
    return st;
}

/* The caller's probes in rows [r0, r0 + rows), and the seam probes of this
 * band (its first row unless it is the image's, its last unless likewise),
 * appended to m's arrays: their band offsets into idx, their places in m's
 * arrays into pslot. Returns how many (at most mr->probe_room). */
static int band_probes(clconv__map_run *mr, int r0, int rows, cl_uint *idx, int *pslot)
{
    clconv_cl_mapped *m = mr->m;
    const int w = mr->out_w;
    int k, n = 0, e;
    for (k = 0; k < mr->ncaller; k++)
        if (m->probe_y[k] >= r0 && m->probe_y[k] < r0 + rows) {
            idx[n] = (cl_uint)((m->probe_y[k] - r0) * w + m->probe_x[k]);
            pslot[n++] = k;
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
            pslot[n++] = m->nprobe++;
        }
    }
    return n;
}

clconv_status clconv__map_band(clconv__map_run *mr, int t, const clconv__band *b,
                               cl_command_queue qc, cl_command_queue qd, void *stage,
                               clconv_cl_timing *tm, char *err)
{
    clconv_cl *cl = mr->cl;
    clconv__slot *s = mr->slot;
    clconv_cl_mapped *m = mr->m;
    clconv__map_turn *T = &mr->turn[t];
    const size_t es = m->bits == 16 ? 2 : 1;
    const cl_uint n = (cl_uint)((size_t)b->rows * (size_t)mr->out_w);
    const size_t lx = mr->lx;
    const cl_uint chunk = (cl_uint)(lx * MAP_ITEMS);
    const size_t groups = (n + chunk - 1) / chunk, gsz = groups * lx;
    cl_kernel k = s->map_k[m->bits == 16 ? K_U16 : K_U8];
    unsigned char *host = (unsigned char *)m->data + (size_t)b->r0 * (size_t)mr->out_w * es;
    clconv_status st = CLCONV_OK;
    cl_mem dst = NULL;
    cl_int mode = m->map == CLCONV_MAP_ABS ? 1 : m->map == CLCONV_MAP_NORMALIZE ? 2 : 0;
    double nscale = 0.0;
    cl_uint a, np;

    if (T->pending || groups > mr->groups_cap) {
        clconv__err(err, "device map: turn %d reused before it landed", t);
        return CLCONV_E_INVALID;
    }
    T->host = host;
    T->bytes = n * es;
    T->groups = groups;
    T->nprobe = 0;
    st = clconv__ensure_buf(cl, &s->map_part[t], &s->map_part_cap[t],
                            groups * 2 * sizeof(cl_uint), CL_MEM_READ_WRITE, err);
    if (st != CLCONV_OK) goto cleanup;
    if (mr->zc) {
        st = clconv__wrap_host(cl, &T->wrap, CL_MEM_WRITE_ONLY, T->bytes, host, err);
        dst = T->wrap;
    } else {
        st = clconv__ensure_buf(cl, &s->map_out[t], &s->map_out_cap[t], T->bytes,
                                CL_MEM_WRITE_ONLY, err);
        dst = s->map_out[t];
    }
    if (st != CLCONV_OK) goto cleanup;
    if (mode == 2) {
        st = minmax(mr, t, qc, b->out, n, chunk, groups, &nscale, tm, err);
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
    CL_TRY(err, clSetKernelArg(k, a, sizeof(cl_mem), &s->map_part[t]));
    CL_TRY(err, clSetKernelArg(k, a + 1, 2 * lx * sizeof(cl_uint), NULL));
    /* On the in-order compute queue, after the band's kernels. */
    CL_TRY(err, clEnqueueNDRangeKernel(qc, k, 1, NULL, &gsz, &lx, 0, NULL, &T->k[T_MAP]));
    /* The spot check's floats of this band, gathered before the band's
     * float buffer takes the next band of this turn. */
    np = (cl_uint)band_probes(mr, b->r0, b->rows, T->idx, T->pslot);
    T->nprobe = np;
    if (np > 0) {
        cl_kernel kg = s->map_k[K_GATHER];
        const size_t gn = np;
        st = clconv__ensure_buf(cl, &s->map_idx[t], &s->map_idx_cap[t], np * sizeof *T->idx,
                                CL_MEM_READ_ONLY, err);
        if (st == CLCONV_OK)
            st = clconv__ensure_buf(cl, &s->map_vals[t], &s->map_vals_cap[t],
                                    np * sizeof *T->vals, CL_MEM_WRITE_ONLY, err);
        if (st != CLCONV_OK) goto cleanup;
        CL_TRY(err, clEnqueueWriteBuffer(qc, s->map_idx[t], CL_FALSE, 0, np * sizeof *T->idx,
                                         T->idx, 0, NULL, &T->up));
        CL_TRY(err, clSetKernelArg(kg, 0, sizeof(cl_mem), &b->out));
        CL_TRY(err, clSetKernelArg(kg, 1, sizeof(cl_mem), &s->map_idx[t]));
        CL_TRY(err, clSetKernelArg(kg, 2, sizeof np, &np));
        CL_TRY(err, clSetKernelArg(kg, 3, sizeof(cl_mem), &s->map_vals[t]));
        CL_TRY(err, clEnqueueNDRangeKernel(qc, kg, 1, NULL, &gn, NULL, 0, NULL,
                                           &T->k[T_GATHER]));
    }
    CL_TRY(err, clFlush(qc));
    /* The reads, on the read-back queue, each after the kernel that wrote
     * what it reads; zero-copy maps the wrapped rows when it lands. */
    if (!mr->zc)
        CL_TRY(err, clEnqueueReadBuffer(qd, dst, CL_FALSE, 0, T->bytes, stage ? stage : host,
                                        1, &T->k[T_MAP], &T->rd[R_SAMPLES]));
    CL_TRY(err, clEnqueueReadBuffer(qd, s->map_part[t], CL_FALSE, 0,
                                    groups * 2 * sizeof *T->cnt, T->cnt, 1, &T->k[T_MAP],
                                    &T->rd[R_COUNTS]));
    if (np > 0)
        CL_TRY(err, clEnqueueReadBuffer(qd, s->map_vals[t], CL_FALSE, 0, np * sizeof *T->vals,
                                        T->vals, 1, &T->k[T_GATHER], &T->rd[R_PROBES]));
    CL_TRY(err, clFlush(qd));
    T->pending = 1;
cleanup:
    /* A failure: the caller drains the slot's queues, then
     * clconv__map_end releases the turn. */
    return st;
}

clconv_status clconv__map_land(clconv__map_run *mr, int t, const void *stage,
                               clconv_cl_timing *tm, char *err)
{
    clconv_cl *cl = mr->cl;
    clconv_cl_mapped *m = mr->m;
    clconv__map_turn *T = &mr->turn[t];
    clconv_status st = CLCONV_OK;
    cl_event wait[3];
    cl_uint nw = 0, i;
    double t0;
    if (!T->pending) return CLCONV_OK;
    for (i = 0; i < 3; i++)
        if (T->rd[i]) wait[nw++] = T->rd[i];
    if (nw) CL_TRY(err, clWaitForEvents(nw, wait));
    if (mr->zc) {
        /* Mapping the wrapped rows makes the host's copy current (a no-op
         * where the device wrote host memory in place). The one queue
         * holds the map kernel before it. */
        cl_command_queue q = mr->slot->q[CLCONV__Q_DOWN];
        cl_int e;
        void *p = clEnqueueMapBuffer(q, T->wrap, CL_TRUE, CL_MAP_READ, 0, T->bytes, 1,
                                     &T->k[T_MAP], &T->rd[R_SAMPLES], &e);
        CL_CHECK(err, e, "clEnqueueMapBuffer");
        if (p != (void *)T->host) memcpy(T->host, p, T->bytes);
        CL_TRY(err, clEnqueueUnmapMemObject(q, T->wrap, p, 0, NULL, &T->unmap));
        CL_TRY(err, clWaitForEvents(1, &T->unmap));
    } else if (stage) {
        t0 = clconv__now_ms();
        memcpy(T->host, stage, T->bytes);
        tm->stage_ms += clconv__now_ms() - t0;
    }
    for (i = 0; i < T->groups; i++) {
        m->nan_count += T->cnt[2 * i];
        m->clipped += T->cnt[2 * i + 1];
    }
    for (i = 0; i < T->nprobe; i++) m->probe_v[T->pslot[i]] = T->vals[i];
    m->bytes_down += T->bytes + T->groups * 2 * sizeof *T->cnt + T->nprobe * sizeof *T->vals;
    take(&T->up, &tm->upload_ms);
    for (i = 0; i < 3; i++) {
        take_kernel(cl, &T->k[i], tm);
        take(&T->rd[i], &tm->download_ms);
    }
    take(&T->unmap, &tm->download_ms);
cleanup:
    turn_clear(T);
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
    clconv__map_end(&mr);
    m->mapped = st == CLCONV_OK && mr.active;
    if (m->mapped) m->why[0] = '\0';
    return st;
}
