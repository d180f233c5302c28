/* bands.c — the one band loop every kernel variant runs through, FFT
 * included: the output in horizontal bands that fit the device, each
 * band's input brought up (the padded path's rows with their halo, wrapped
 * or copied) or already there (the source), the variant's launch, the
 * read-back (or, with the device map, map.c's mapping and its read-back),
 * and the timing from the events.
 * It must not choose a variant or size a band (plan.c) or know any kernel's
 * arguments (registry.c).
 */
#include "cl/cl.h"

enum { EV_UP, EV_K0, EV_READ = EV_K0 + 4, EV_UNMAP, EV_N };

static void release_events(cl_event ev[EV_N])
{
    int i;
    for (i = 0; i < EV_N; i++) {
        if (ev[i]) clReleaseEvent(ev[i]);
        ev[i] = NULL;
    }
}

clconv_status clconv__run_bands(clconv__band_run *run, float *out,
                                clconv_cl_timing *tm, char *err)
{
    clconv_cl *cl = run->cl;
    const clconv_geometry *g = run->g;
    const size_t ow = (size_t)g->out_w, pw = (size_t)g->padded_w;
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    const int zc = run->zc, padded = run->padded != NULL;
    cl_event ev[EV_N] = {NULL};
    clconv__band b = {0, 0, NULL, NULL};
    clconv_status st = CLCONV_OK;
    long long r0;
    int i;

    ev[EV_UP] = run->upload;
    run->upload = NULL;
    tm->band_rows = (int)run->rows_per_band;
    /* The device map (map.c): whether these bands come down mapped. */
    if (run->map && (st = clconv__map_begin(run->map, cl, g, run->rows_per_band, zc,
                                            err)) != CLCONV_OK)
        goto cleanup;
    for (r0 = 0; r0 < g->out_h; r0 += run->rows_per_band) {
        const int rows = (int)(g->out_h - r0 < run->rows_per_band ? g->out_h - r0
                                                                  : run->rows_per_band);
        const size_t out_bytes = (size_t)rows * ow * sizeof(float);
        float *host_out = out + (size_t)r0 * ow;
        b.r0 = (int)r0;
        b.rows = rows;
        if (padded) {
            const size_t in_bytes = (size_t)((rows - 1) * g->stride + keff) * pw * sizeof(float);
            float *host_in = (float *)run->padded + (size_t)r0 * g->stride * pw;
            if (zc) {
                st = clconv__wrap_host(cl, &b.in, CL_MEM_READ_ONLY, in_bytes, host_in, err);
                if (st != CLCONV_OK) goto cleanup;
            } else {
                b.in = cl->in_buf;
                CL_TRY(err, clEnqueueWriteBuffer(cl->queue, b.in, CL_FALSE, 0, in_bytes,
                                                 host_in, 0, NULL, &ev[EV_UP]));
            }
        } else {
            b.in = run->in;
        }
        if (zc) {
            /* (The device map's kernels read it.) */
            st = clconv__wrap_host(cl, &b.out, run->map ? CL_MEM_READ_WRITE : CL_MEM_WRITE_ONLY,
                                   out_bytes, host_out, err);
            if (st != CLCONV_OK) goto cleanup;
        } else {
            b.out = cl->out_buf;
        }
        st = run->launch(run->user, &b, &ev[EV_K0], err);
        if (st != CLCONV_OK) goto cleanup;
        if (run->map && run->map->active) /* mapped on the device: its samples */
            st = clconv__map_band(run->map, cl, &b, tm, err);
        else
            st = clconv__read_back(cl, zc, b.out, host_out, out_bytes, &ev[EV_READ],
                                   &ev[EV_UNMAP], err);
        if (st != CLCONV_OK) goto cleanup;
        tm->upload_ms += clconv__event_ms(ev[EV_UP]);
        for (i = 0; i < 4; i++) tm->kernel_ms += clconv__event_ms(ev[EV_K0 + i]);
        tm->download_ms += clconv__event_ms(ev[EV_READ]) + clconv__event_ms(ev[EV_UNMAP]);
        tm->bands++;
        release_events(ev);
        if (zc) {
            if (padded) clReleaseMemObject(b.in);
            clReleaseMemObject(b.out);
        }
        b.in = b.out = NULL;
    }
cleanup:
    if (st != CLCONV_OK) clFinish(cl->queue);
    release_events(ev);
    if (zc) {
        if (padded && b.in) clReleaseMemObject(b.in);
        if (b.out) clReleaseMemObject(b.out);
    }
    return st;
}
