/* bands.c — the one band loop every kernel variant runs through, FFT
 * included: the output in horizontal bands that fit the device, each
 * band's input brought up (the padded path's rows with their halo, wrapped
 * or copied) or already there (the source, brought up first), the
 * variant's launch, the read-back, and the timing from the events.
 * On a pipelined device (no host-unified memory: docs/pipeline.md) the
 * transfers go through pinned staging on the slot's upload and read-back
 * queues, chained to the kernels by events, so that band i+1 goes up and
 * band i-1 comes down while band i computes; the host waits only for
 * read-backs. Elsewhere one queue, as the serial path always was.
 * With the device map (run->map, map.c) a band's float result is mapped to
 * 8 or 16 bits on the slot's compute queue and only the samples come down,
 * in place of the float read-back and overlapping the same way.
 * It must not choose a variant or size a band (plan.c) or know any kernel's
 * arguments (registry.c).
 */
#include "cl/cl.h"

#include <string.h>

enum { EV_UP, EV_K0, EV_READ = EV_K0 + 4, EV_UNMAP, EV_N };

static void release_events(cl_event *ev, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        if (ev[i]) clReleaseEvent(ev[i]);
        ev[i] = NULL;
    }
}

/* The kernels' share of a band's timing: their time, their wait in the
 * queue, and their intervals in the device's busy time. */
static void count_kernels(clconv_cl *cl, cl_event *k, clconv_cl_timing *tm)
{
    int i;
    tm->queue_ms += clconv__event_wait_ms(k[0]);
    for (i = 0; i < 4; i++) {
        tm->kernel_ms += clconv__event_ms(k[i]);
        clconv__busy_add(cl, k[i]);
    }
}

/* Input bytes of a band of `rows` output rows on the padded path. */
static size_t band_in_bytes(const clconv_geometry *g, long long rows)
{
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    return (size_t)((rows - 1) * g->stride + keff) * (size_t)g->padded_w * sizeof(float);
}

/* Zero-copy devices (host memory wrapped), and the serial path
 * (CLCONV_PIPELINE=0): one queue, each band's read-back waited for before
 * the next band starts. */
static clconv_status run_serial(clconv__band_run *run, float *out,
                                clconv_cl_timing *tm, char *err)
{
    clconv_cl *cl = run->cl;
    clconv__slot *s = run->slot;
    cl_command_queue q = s->q[CLCONV__Q_COMPUTE];
    const clconv_geometry *g = run->g;
    const size_t ow = (size_t)g->out_w, pw = (size_t)g->padded_w;
    const int zc = cl->zc, padded = run->padded != NULL;
    const int mapped = run->map && run->map->active;
    cl_event ev[EV_N] = {NULL};
    cl_mem src_b = NULL;
    clconv__band b = {0, 0, NULL, NULL, NULL};
    clconv_status st = CLCONV_OK;
    long long r0;

    b.queue = q;
    if (!zc) {
        st = clconv__ensure_buf(cl, &s->out_buf[0], &s->out_cap[0],
                                (size_t)run->rows_per_band * ow * sizeof(float),
                                CL_MEM_READ_WRITE, err);
        if (st == CLCONV_OK)
            st = clconv__ensure_buf(cl, &s->in_buf[0], &s->in_cap[0],
                                    padded ? band_in_bytes(g, run->rows_per_band)
                                           : run->src_bytes,
                                    CL_MEM_READ_ONLY, err);
        if (st != CLCONV_OK) goto cleanup;
    }
    if (!padded) {
        if (zc) {
            st = clconv__wrap_host(cl, &src_b, CL_MEM_READ_ONLY, run->src_bytes,
                                   (void *)run->src, err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            src_b = s->in_buf[0];
            clRetainMemObject(src_b);
            CL_TRY(err, clEnqueueWriteBuffer(q, src_b, CL_FALSE, 0, run->src_bytes,
                                             run->src, 0, NULL, &ev[EV_UP]));
        }
    }
    tm->band_rows = (int)run->rows_per_band;
    for (r0 = 0; r0 < g->out_h; r0 += run->rows_per_band) {
        const int rows = (int)(g->out_h - r0 < run->rows_per_band ? g->out_h - r0
                                                                  : run->rows_per_band);
        const size_t out_bytes = (size_t)rows * ow * sizeof(float);
        float *host_out = out + (size_t)r0 * ow;
        b.r0 = (int)r0;
        b.rows = rows;
        if (padded) {
            const size_t in_bytes = band_in_bytes(g, rows);
            float *host_in = (float *)run->padded + (size_t)r0 * g->stride * pw;
            if (zc) {
                st = clconv__wrap_host(cl, &b.in, CL_MEM_READ_ONLY, in_bytes, host_in, err);
                if (st != CLCONV_OK) goto cleanup;
            } else {
                b.in = s->in_buf[0];
                CL_TRY(err, clEnqueueWriteBuffer(q, b.in, CL_FALSE, 0, in_bytes,
                                                 host_in, 0, NULL, &ev[EV_UP]));
            }
        } else {
            b.in = src_b;
        }
        if (zc) {
            /* (The device map's kernels read it.) */
            st = clconv__wrap_host(cl, &b.out, mapped ? CL_MEM_READ_WRITE : CL_MEM_WRITE_ONLY,
                                   out_bytes, host_out, err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            b.out = s->out_buf[0];
        }
        st = run->launch(run->user, &b, &ev[EV_K0], err);
        if (st != CLCONV_OK) goto cleanup;
        if (mapped) { /* mapped on the device: its samples, waited for */
            st = clconv__map_band(run->map, 0, &b, q, q, NULL, tm, err);
            if (st == CLCONV_OK) st = clconv__map_land(run->map, 0, NULL, tm, err);
        } else {
            st = clconv__read_back(cl, q, zc, b.out, host_out, out_bytes, &ev[EV_READ],
                                   &ev[EV_UNMAP], err);
        }
        if (st != CLCONV_OK) goto cleanup;
        tm->upload_ms += clconv__event_ms(ev[EV_UP]);
        count_kernels(cl, &ev[EV_K0], tm);
        tm->download_ms += clconv__event_ms(ev[EV_READ]) + clconv__event_ms(ev[EV_UNMAP]);
        tm->bands++;
        release_events(ev, EV_N);
        if (zc) {
            if (padded) clReleaseMemObject(b.in);
            clReleaseMemObject(b.out);
        }
        b.in = b.out = NULL;
    }
cleanup:
    if (st != CLCONV_OK) clFinish(q);
    release_events(ev, EV_N);
    if (zc) {
        if (padded && b.in) clReleaseMemObject(b.in);
        if (b.out) clReleaseMemObject(b.out);
    }
    if (src_b) clReleaseMemObject(src_b);
    return st;
}

/* A band in flight on the pipelined path: its events, and where its
 * result goes (mapped: the device map's turn of the same index). */
typedef struct flight {
    cl_event up, k[4], read;
    float *host_out;
    size_t out_bytes;
    int mapped;
} flight;

/* Waits for band f's read-back (turn t), copies it out of the staging
 * buffer and counts its timing. */
static clconv_status land(clconv_cl *cl, flight *f, int t, const clconv__stage *down,
                          clconv__map_run *map, clconv_cl_timing *tm, char *err)
{
    clconv_status st = CLCONV_OK;
    double t0;
    if (f->mapped) {
        st = clconv__map_land(map, t, cl->staged ? down->map : NULL, tm, err);
        if (st != CLCONV_OK) goto cleanup;
    } else {
        CL_TRY(err, clWaitForEvents(1, &f->read));
    }
    if (cl->staged && !f->mapped) {
        t0 = clconv__now_ms();
        memcpy(f->host_out, down->map, f->out_bytes);
        tm->stage_ms += clconv__now_ms() - t0;
    }
    tm->upload_ms += clconv__event_ms(f->up);
    count_kernels(cl, f->k, tm);
    tm->download_ms += clconv__event_ms(f->read);
    tm->bands++;
cleanup:
    release_events(&f->up, 1);
    release_events(f->k, 4);
    release_events(&f->read, 1);
    f->host_out = NULL;
    return st;
}

/* Devices without host-unified memory: three queues (upload, compute,
 * read-back), run->depth band buffers and staging buffers taking turns. */
static clconv_status run_pipelined(clconv__band_run *run, float *out,
                                   clconv_cl_timing *tm, char *err)
{
    clconv_cl *cl = run->cl;
    clconv__slot *s = run->slot;
    cl_command_queue qu = s->q[CLCONV__Q_UP], qc = s->q[CLCONV__Q_COMPUTE],
                     qd = s->q[CLCONV__Q_DOWN];
    const clconv_geometry *g = run->g;
    const size_t ow = (size_t)g->out_w, pw = (size_t)g->padded_w;
    const int padded = run->padded != NULL, depth = run->depth > 1 ? 2 : 1;
    const int mapped = run->map && run->map->active;
    const size_t out_cap = (size_t)run->rows_per_band * ow * sizeof(float);
    const size_t in_cap = padded ? band_in_bytes(g, run->rows_per_band) : run->src_bytes;
    flight fl[2];
    cl_event src_up = NULL;
    clconv__band b = {0, 0, NULL, NULL, NULL};
    clconv_status st = CLCONV_OK;
    long long r0;
    int i, n, band;
    double t;

    memset(fl, 0, sizeof fl);
    b.queue = qc;
    for (i = 0; i < depth; i++) {
        st = clconv__ensure_buf(cl, &s->out_buf[i], &s->out_cap[i], out_cap,
                                CL_MEM_READ_WRITE, err);
        if (st == CLCONV_OK && cl->staged)
            st = clconv__stage_ensure(cl, qu, &s->down[i], out_cap, err);
        if (st == CLCONV_OK && (padded || i == 0))
            st = clconv__ensure_buf(cl, &s->in_buf[i], &s->in_cap[i], in_cap,
                                    CL_MEM_READ_ONLY, err);
        if (st == CLCONV_OK && (padded || i == 0) && cl->staged)
            st = clconv__stage_ensure(cl, qu, &s->up[i], in_cap, err);
        if (st != CLCONV_OK) goto cleanup;
    }
    if (!padded) {
        /* The whole source, once, before the first band's kernels (the
         * caller's memory stays as it is until the call returns, after
         * every read-back, so it may be read asynchronously). */
        const void *from = run->src;
        if (cl->staged) {
            t = clconv__now_ms();
            memcpy(s->up[0].map, run->src, run->src_bytes);
            tm->stage_ms += clconv__now_ms() - t;
            from = s->up[0].map;
        }
        CL_TRY(err, clEnqueueWriteBuffer(qu, s->in_buf[0], CL_FALSE, 0, run->src_bytes,
                                         from, 0, NULL, &src_up));
        CL_TRY(err, clFlush(qu));
    }
    tm->band_rows = (int)run->rows_per_band;
    for (r0 = 0, band = 0; r0 < g->out_h; r0 += run->rows_per_band, band++) {
        const int k = band % depth;
        const int rows = (int)(g->out_h - r0 < run->rows_per_band ? g->out_h - r0
                                                                  : run->rows_per_band);
        flight *f = &fl[k];
        cl_event wait, last = NULL;
        /* Band `band - depth` used these buffers: it must be down first
         * (its read-back came after its kernels, which came after its
         * upload, so every buffer of turn k is then free). */
        if (f->host_out) {
            st = land(cl, f, k, &s->down[k], run->map, tm, err);
            if (st != CLCONV_OK) goto cleanup;
        }
        f->host_out = out + (size_t)r0 * ow;
        f->out_bytes = (size_t)rows * ow * sizeof(float);
        b.r0 = (int)r0;
        b.rows = rows;
        b.out = s->out_buf[k];
        if (padded) {
            const size_t in_bytes = band_in_bytes(g, rows);
            const float *from = run->padded + (size_t)r0 * g->stride * pw;
            if (cl->staged) {
                t = clconv__now_ms();
                memcpy(s->up[k].map, from, in_bytes);
                tm->stage_ms += clconv__now_ms() - t;
                from = s->up[k].map;
            }
            b.in = s->in_buf[k];
            CL_TRY(err, clEnqueueWriteBuffer(qu, b.in, CL_FALSE, 0, in_bytes, from, 0, NULL,
                                             &f->up));
            CL_TRY(err, clFlush(qu));
            wait = f->up;
        } else {
            b.in = s->in_buf[0];
            wait = src_up;
        }
        /* The kernels wait for their input: a barrier on the in-order
         * compute queue (the launches enqueue with no wait list); the
         * source's bands after the first find it there already. */
        if (padded || band == 0)
            CL_TRY(err, clEnqueueBarrierWithWaitList(qc, 1, &wait, NULL));
        st = run->launch(run->user, &b, f->k, err);
        if (st != CLCONV_OK) goto cleanup;
        for (i = 0; i < 4; i++)
            if (f->k[i]) last = f->k[i];
        if (!last) {
            clconv__err(err, "a launch enqueued no kernel");
            st = CLCONV_E_OPENCL;
            goto cleanup;
        }
        CL_TRY(err, clFlush(qc));
        f->mapped = mapped;
        if (mapped) {
            /* The map kernels after the band's on qc, their reads on qd
             * (into this turn's staging where staged). */
            st = clconv__map_band(run->map, k, &b, qc, qd,
                                  cl->staged ? s->down[k].map : NULL, tm, err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            CL_TRY(err, clEnqueueReadBuffer(qd, b.out, CL_FALSE, 0, f->out_bytes,
                                            cl->staged ? s->down[k].map : (void *)f->host_out,
                                            1, &last, &f->read));
            CL_TRY(err, clFlush(qd));
        }
    }
    /* The last bands, in order. */
    for (n = 0; n < depth; n++) {
        flight *f = &fl[(band + n) % depth];
        if (!f->host_out) continue;
        st = land(cl, f, (band + n) % depth, &s->down[(band + n) % depth], run->map, tm,
                  err);
        if (st != CLCONV_OK) goto cleanup;
    }
    tm->upload_ms += clconv__event_ms(src_up);
cleanup:
    if (st != CLCONV_OK) {
        /* Nothing may still run on these buffers when the slot is given
         * back: drain the slot's queues (failures only). */
        clFinish(qu);
        clFinish(qc);
        clFinish(qd);
        for (i = 0; i < 2; i++) {
            release_events(&fl[i].up, 1);
            release_events(fl[i].k, 4);
            release_events(&fl[i].read, 1);
        }
    }
    release_events(&src_up, 1);
    return st;
}

clconv_status clconv__run_bands(clconv__band_run *run, float *out,
                                clconv_cl_timing *tm, char *err)
{
    clconv_status st;
    /* The device map (map.c): whether these bands come down mapped. */
    if (run->map) {
        st = clconv__map_begin(run->map, run->cl, run->slot, run->g, run->rows_per_band, err);
        if (st != CLCONV_OK) return st;
    }
    st = run->cl->pipelined ? run_pipelined(run, out, tm, err)
                            : run_serial(run, out, tm, err);
    /* Every turn landed, or the slot's queues drained after a failure. */
    if (run->map) clconv__map_end(run->map);
    return st;
}
