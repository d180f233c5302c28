/* conv.c — the device path's two entry points: clconv_conv_cl (a host-padded
 * plane, uploaded in bands with their halo) and clconv_conv_cl_image (the
 * unpadded image read through the border maps, 8-bit images as bytes). Each
 * plans the call (plan.c), tries the FFT where it applies (fft.c), sets up
 * the variant's buffers and entry points (registry.c) and hands the bands
 * to the one band loop (bands.c).
 * It must not set kernel arguments (registry.c) or loop over bands itself
 * (bands.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "cl/cl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

clconv_status clconv_cl_set_kernel(clconv_cl *cl, const char *name)
{
    int v = clconv__variant_of(name);
    if (v < 0 && strcmp(name, "auto") != 0) return CLCONV_E_INVALID;
    if (pthread_mutex_lock(&cl->lock) != 0) return CLCONV_E_OPENCL;
    cl->kernel = v;
    pthread_mutex_unlock(&cl->lock);
    return CLCONV_OK;
}

/* Test switch CLCONV_FAULT=perturb: one wrong pixel, which --verify must
 * catch. */
static void perturb(clconv_plane *out, clconv__map_run *mr)
{
    if (clconv__fault("perturb")) {
        float *v = out->data + (size_t)(out->height / 2) * out->width + out->width / 2;
        /* Mapped on the device: the float the spot check reads instead. */
        if (mr && mr->active && mr->m->nprobe > 0) v = &mr->m->probe_v[0];
        *v += fabsf(*v) + 1.0f;
    }
}

/* The call's taps and entry points for variant var: the separable factors
 * fu, fv as two buffers, else the taps as float32 in __constant memory
 * when they fit it (cached on every GPU) or __global; the separable row
 * pass's plane of tmp_rows rows. */
static clconv_status setup_call(clconv__call *c, int var, int u8,
                                const clconv_filter *f, const float *fu,
                                const float *fv, long long tmp_rows, char *err)
{
    clconv_cl *cl = c->cl;
    const clconv_geometry *g = c->g;
    clconv_status st = CLCONV_OK;
    float *ft = NULL;
    int in_const = 1;
    if (var == CLCONV__SEPARABLE) {
        st = clconv__copy_buf(cl, &c->taps, (size_t)g->kw * sizeof(float), fv, err);
        if (st == CLCONV_OK)
            st = clconv__copy_buf(cl, &c->taps_u, (size_t)g->kh * sizeof(float), fu, err);
        if (st == CLCONV_OK)
            st = clconv__ensure_buf(cl, &c->slot->tmp_buf, &c->slot->tmp_cap,
                                    (size_t)tmp_rows * (size_t)g->out_w * sizeof(float),
                                    CL_MEM_READ_WRITE, err);
    } else {
        const size_t n = (size_t)f->kw * (size_t)f->kh, bytes = n * sizeof(float);
        size_t i;
        in_const = bytes <= cl->info.const_mem && cl->max_const_args >= 1 &&
                   !clconv__fault("taps-global");
        ft = malloc(bytes);
        if (!ft) {
            clconv__err(err, "out of memory");
            return CLCONV_E_NOMEM;
        }
        for (i = 0; i < n; i++) ft[i] = (float)f->taps[i];
        st = clconv__copy_buf(cl, &c->taps, bytes, ft, err);
    }
    free(ft);
    if (st == CLCONV_OK) st = clconv__registry_pick(c, var, u8, in_const, err);
    return st;
}

static void release_call(clconv__call *c)
{
    cl_mem *m[] = {&c->taps, &c->taps_u, &c->rmap, &c->cmap, &c->frame};
    size_t i;
    for (i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (*m[i]) clReleaseMemObject(*m[i]);
        *m[i] = NULL;
    }
}

/* Runs the call's bands of `rows` output rows through the variant's launch
 * (run's input side set by the caller); names the kernel in tm. */
static clconv_status run_call(clconv__band_run *run, clconv__call *c, long long rows,
                              clconv_plane *out, clconv_cl_timing *tm,
                              clconv__map_run *mr, char *err)
{
    clconv_status st;
    run->map = mr;
    run->cl = c->cl;
    run->g = c->g;
    run->rows_per_band = rows;
    run->launch = clconv__registry[c->var].launch;
    run->user = c;
    st = clconv__run_bands(run, out->data, tm, err);
    if (st == CLCONV_OK) {
        tm->kernel = clconv__registry[c->var].name;
        clconv__tune_note(c->tuned);
        perturb(out, mr);
    }
    return st;
}

/* The FFT path on a plane with identity maps (clconv_conv_cl). */
static clconv_status fft_on_plane(clconv_cl *cl, clconv__slot *slot,
                                  const clconv_plane *plane,
                                  const clconv_filter *f, const clconv_geometry *g,
                                  clconv_plane *out, clconv_cl_timing *tm,
                                  clconv__map_run *mr, char *err)
{
    clconv__fft_src s;
    int *rmap = malloc((size_t)g->padded_h * sizeof(int));
    int *cmap = malloc((size_t)g->padded_w * sizeof(int));
    clconv_status st;
    int i;
    if (!rmap || !cmap) {
        free(rmap);
        free(cmap);
        clconv__err(err, "out of memory");
        return CLCONV_E_NOMEM;
    }
    for (i = 0; i < g->padded_h; i++) rmap[i] = i;
    for (i = 0; i < g->padded_w; i++) cmap[i] = i;
    s.data = plane->data;
    s.u8 = 0;
    s.sw = plane->width;
    s.sh = plane->height;
    s.rmap = rmap;
    s.cmap = cmap;
    s.c_lo = 0;
    s.c_hi = plane->width;
    s.cval = 0.0f;
    st = clconv__fft_run(cl, slot, &s, f, g, out, tm, mr, err);
    free(rmap);
    free(cmap);
    return st;
}

/* clconv__tune_choose under the device's lock (the forced variant and the
 * tuning table are the device's, set by other threads). */
static int choose_locked(clconv_cl *cl, const clconv__limits *lim,
                         const clconv_filter *f, const clconv_geometry *g,
                         clconv__choice *ch)
{
    int forced;
    pthread_mutex_lock(&cl->lock);
    forced = clconv__tune_choose(cl, lim, f, g, ch);
    pthread_mutex_unlock(&cl->lock);
    return forced;
}

/* Band rows of the padded path for a slot's share of the device (the whole
 * device with *all, set when a slot's share is too small), and the band
 * buffers that take turns (*depth: 2 where bands overlap). */
static long long plan_padded(clconv_cl *cl, const clconv_geometry *g, int sep,
                             int *all, int *depth)
{
    clconv__limits lim = clconv__limits_slot(cl, 0);
    long long rows = clconv__band_rows_padded(&lim, g, sep);
    *all = 0;
    *depth = 1;
    if (rows < 1 && cl->nslots > 1) {
        lim = clconv__limits_slot(cl, 1);
        rows = clconv__band_rows_padded(&lim, g, sep);
        *all = 1;
    }
    if (rows >= 1 && rows < g->out_h && cl->pipelined && lim.global_mem) {
        /* Two turns of band buffers within the same budget. */
        clconv__limits half = lim;
        long long r2;
        half.global_mem /= 2;
        r2 = clconv__band_rows_padded(&half, g, sep);
        if (r2 >= 1) {
            rows = r2;
            *depth = 2;
        }
    }
    return rows;
}

/* clconv_conv_cl, with the device map `mr` (NULL: none). */
static clconv_status conv_padded(clconv_cl *cl, const clconv_plane *padded,
                                 const clconv_filter *f, const clconv_geometry *g,
                                 clconv_plane *out, clconv_cl_timing *timing,
                                 clconv__map_run *mr, char *err)
{
    const clconv__limits lim = clconv__limits_of(cl);
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    const size_t pw = (size_t)g->padded_w;
    float fu[CLCONV_FILTER_MAX], fv[CLCONV_FILTER_MAX];
    clconv__call c;
    clconv__band_run run;
    clconv_cl_timing tm = {0, 0, 0, 0, NULL, NULL, 0, 0, 0, 0, 0};
    clconv_status st = CLCONV_OK;
    clconv__slot *slot = NULL;
    clconv__choice ch;
    long long rows;
    int forced, var, all = 0, depth = 1;

    if (padded->width != g->padded_w || padded->height != g->padded_h ||
        out->width != g->out_w || out->height != g->out_h || f->kw != g->kw ||
        f->kh != g->kh) {
        clconv__err(err, "plane sizes do not match the geometry");
        return CLCONV_E_INVALID;
    }
    memset(&c, 0, sizeof c);
    c.cl = cl;
    c.g = g;
    clconv__tune_note(NULL);
    forced = choose_locked(cl, &lim, f, g, &ch);
    var = clconv__choose_variant(&lim, forced, f, g, fu, fv);
    clconv__tune_settle(&ch, var, &c.shape, &c.tuned);
    if (clconv__fft_wanted(&lim, forced, f, g, var) &&
        clconv__fft_values_ok(padded->data, pw * (size_t)g->padded_h)) {
        /* The FFT's buffers are the device's: it takes the whole device. */
        double waited = 0;
        slot = clconv__slot_get(cl, 1, &waited);
        if (!slot) goto no_lock;
        st = fft_on_plane(cl, slot, padded, f, g, out, &tm, mr, err);
        clconv__slot_put(cl, slot, 1);
        slot = NULL;
        tm.wait_ms += waited;
        if (st != CLCONV_E_TOO_LARGE) {
            if (st == CLCONV_OK) perturb(out, mr);
            clconv__tune_settle(&ch, CLCONV__FFT, &c.shape, &c.tuned);
            clconv__tune_note(c.tuned);
            goto cleanup;
        }
        st = CLCONV_OK; /* does not fit: the default choice */
        memset(&tm, 0, sizeof tm);
        tm.wait_ms = waited;
    }
    rows = plan_padded(cl, g, var == CLCONV__SEPARABLE, &all, &depth);
    if (rows < 1) {
        clconv__err(err, "one row of the %dx%d padded image with its halo does "
                    "not fit the device (max allocation %llu bytes)",
                    g->padded_w, g->padded_h, cl->info.max_alloc);
        st = CLCONV_E_TOO_LARGE;
        goto cleanup;
    }
    slot = clconv__slot_get(cl, all, &tm.wait_ms);
    if (!slot) goto no_lock;
    c.slot = slot;
    st = setup_call(&c, var, 0, f, fu, fv, (rows - 1) * g->stride + keff, err);
    if (st != CLCONV_OK) goto cleanup;
    memset(&run, 0, sizeof run);
    run.slot = slot;
    run.depth = depth;
    run.padded = padded->data;
    st = run_call(&run, &c, rows, out, &tm, mr, err);
    goto cleanup;
no_lock:
    clconv__err(err, "cannot lock the device");
    st = CLCONV_E_INVALID;
cleanup:
    release_call(&c);
    if (slot && all) clconv__slot_trim(cl, slot);
    clconv__slot_put(cl, slot, all);
    if (timing) *timing = tm;
    return st;
}

clconv_status clconv_conv_cl(clconv_cl *cl, const clconv_plane *padded,
                             const clconv_filter *f, const clconv_geometry *g,
                             clconv_plane *out, clconv_cl_timing *timing,
                             char err[CLCONV_ERR_MAX])
{
    return conv_padded(cl, padded, f, g, out, timing, NULL, err);
}

/* clconv_conv_cl_image when the border cannot be read on the device: pad
 * on the host (8-bit sources become floats first) and run the padded path. */
static clconv_status pad_on_host(clconv_cl *cl, const clconv_plane *in,
                                 const clconv_image8 *in8,
                                 const clconv_params *prm,
                                 const clconv_filter *f,
                                 const clconv_geometry *g, clconv_plane *out,
                                 clconv_cl_timing *timing, clconv__map_run *mr, char *err)
{
    clconv_plane tmp = {0, 0, NULL}, padded = {0, 0, NULL};
    clconv_cl_timing tm = {0, 0, 0, 0, NULL, NULL, 0, 0, 0, 0, 0};
    clconv_status st = CLCONV_OK;
    const double t = clconv__now_ms();
    double pad_ms;
    if (in8) {
        st = clconv__plane_from_u8(in8, &tmp, err);
        if (st != CLCONV_OK) return st;
        in = &tmp;
    }
    st = clconv_pad(in, g, prm, &padded, err);
    clconv_plane_free(&tmp);
    if (st != CLCONV_OK) return st;
    pad_ms = clconv__now_ms() - t;
    st = conv_padded(cl, &padded, f, g, out, &tm, mr, err);
    clconv_plane_free(&padded);
    tm.pad = "host";
    tm.pad_ms = pad_ms;
    if (timing) *timing = tm;
    return st;
}

/* The border strips the tiled_src kernel reads instead of the source where a
 * block's window leaves the image (kernels/conv2d.cl says which): padded
 * values, floats, built on the host through the same maps. A few strips of
 * (VEC_W + halo) columns or (TILE_ROWS + halo) rows: about 1 MB at 4096²
 * for 5x5, against the 64 MB padded plane. */
typedef struct frame {
    float *data;
    size_t n;                 /* floats */
    int fw, top_h, bot_y, bot_off, left_w, left_off, right_x, right_off;
} frame;

static void fill_strip(float *dst, int r0, int r1, int c0, int c1,
                       const int *rmap, const int *cmap, const float *f32,
                       const unsigned char *u8, int sw, float cval)
{
    int r, c;
    for (r = r0; r < r1; r++) {
        const int sr = rmap[r];
        for (c = c0; c < c1; c++, dst++) {
            const int sc = cmap[c];
            if (sr < 0 || sc < 0)
                *dst = cval;
            else
                *dst = f32 ? f32[(size_t)sr * sw + sc] : (float)u8[(size_t)sr * sw + sc];
        }
    }
}

static int build_frame(frame *fr, const clconv_geometry *g, const clconv__shape *s,
                       const int *rmap, const int *cmap, int r_lo, int r_hi, int c_lo,
                       int c_hi, const float *f32, const unsigned char *u8, int sw,
                       float cval)
{
    const int ph = g->padded_h, pw = g->padded_w;
    const int hr = s->tile_rows - 1 + (g->kh - 1) * g->dilation;
    const int hc = s->vec_w - 1 + (g->kw - 1) * g->dilation;
    size_t top, bot, left, right;
    fr->fw = pw;
    fr->top_h = r_lo > 0 ? (r_lo + hr < ph ? r_lo + hr : ph) : 0;
    fr->bot_y = r_hi < ph ? (r_hi - hr > 0 ? r_hi - hr : 0) : ph;
    fr->left_w = c_lo > 0 ? (c_lo + hc < pw ? c_lo + hc : pw) : 0;
    fr->right_x = c_hi < pw ? (c_hi - hc > 0 ? c_hi - hc : 0) : pw;
    top = (size_t)fr->top_h * pw;
    bot = (size_t)(ph - fr->bot_y) * pw;
    left = (size_t)ph * fr->left_w;
    right = (size_t)ph * (pw - fr->right_x);
    fr->bot_off = (int)top;
    fr->left_off = (int)(top + bot);
    fr->right_off = (int)(top + bot + left);
    fr->n = top + bot + left + right;
    if (fr->n > (size_t)INT32_MAX) return 0;
    fr->data = malloc((fr->n ? fr->n : 1) * sizeof(float));
    if (!fr->data) return 0;
    fill_strip(fr->data, 0, fr->top_h, 0, pw, rmap, cmap, f32, u8, sw, cval);
    fill_strip(fr->data + fr->bot_off, fr->bot_y, ph, 0, pw, rmap, cmap, f32, u8, sw, cval);
    fill_strip(fr->data + fr->left_off, 0, ph, 0, fr->left_w, rmap, cmap, f32, u8, sw, cval);
    fill_strip(fr->data + fr->right_off, 0, ph, fr->right_x, pw, rmap, cmap, f32, u8, sw, cval);
    return 1;
}

/* The FFT path for clconv_conv_cl_image, when it applies to these values:
 * every padded value an integer in 0..255 (8-bit sources are, float ones
 * are checked; so is a constant border's cval where there is a border).
 * CLCONV_E_TOO_LARGE when it declines. Lock held. */
static clconv_status fft_on_image(clconv_cl *cl, clconv__slot *slot,
                                  const clconv_plane *in,
                                  const clconv_image8 *in8,
                                  const clconv_params *prm, const int *rmap,
                                  const int *cmap, int c_lo, int c_hi,
                                  const clconv_filter *f, const clconv_geometry *g,
                                  clconv_plane *out, clconv_cl_timing *tm,
                                  clconv__map_run *mr, char *err)
{
    const int padded_any = g->pad_top || g->pad_bottom || g->pad_left || g->pad_right;
    clconv__fft_src fs;
    if ((!in8 && !clconv__fft_values_ok(in->data, (size_t)g->in_w * (size_t)g->in_h)) ||
        (prm->border == CLCONV_BORDER_CONSTANT && padded_any &&
         !clconv__fft_values_ok(&prm->cval, 1)))
        return CLCONV_E_TOO_LARGE;
    fs.data = in8 ? (const void *)in8->data : (const void *)in->data;
    fs.u8 = in8 != NULL;
    fs.sw = g->in_w;
    fs.sh = g->in_h;
    fs.rmap = rmap;
    fs.cmap = cmap;
    fs.c_lo = c_lo;
    fs.c_hi = c_hi;
    fs.cval = prm->cval;
    return clconv__fft_run(cl, slot, &fs, f, g, out, tm, mr, err);
}

clconv_status clconv_conv_cl_image(clconv_cl *cl, const clconv_plane *in,
                                   const clconv_image8 *in8,
                                   const clconv_params *prm,
                                   const clconv_filter *f,
                                   const clconv_geometry *g, clconv_plane *out,
                                   clconv_cl_timing *timing, char err[CLCONV_ERR_MAX])
{
    return clconv__conv_image(cl, in, in8, prm, f, g, out, timing, NULL, err);
}

clconv_status clconv__conv_image(clconv_cl *cl, const clconv_plane *in,
                                 const clconv_image8 *in8, const clconv_params *prm,
                                 const clconv_filter *f, const clconv_geometry *g,
                                 clconv_plane *out, clconv_cl_timing *timing,
                                 clconv__map_run *mr, char *err)
{
    const clconv__limits full = clconv__limits_of(cl);
    clconv__limits lim = clconv__limits_slot(cl, 0);
    const int u8 = in8 != NULL;
    const int sw = u8 ? in8->width : in ? in->width : 0;
    const int sh = u8 ? in8->height : in ? in->height : 0;
    const long long keff = (long long)g->dilation * (g->kh - 1) + 1;
    const void *host_src = u8 ? (const void *)(in8 ? in8->data : NULL)
                              : (const void *)(in ? in->data : NULL);
    unsigned long long src_bytes, left = 0;
    float fu[CLCONV_FILTER_MAX], fv[CLCONV_FILTER_MAX];
    int *rmap = NULL, *cmap = NULL;
    frame fr = {NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    clconv__call c;
    clconv__band_run run;
    clconv_cl_timing tm = {0, 0, 0, 0, NULL, "device", 0, 0, 0, 0, 0};
    clconv_status st = CLCONV_OK;
    clconv__slot *slot = NULL;
    clconv__choice ch;
    clconv__shape shape;
    const char *tuned;
    long long rows;
    int forced, var, all = 0, depth = 1;

    if ((in == NULL) == (in8 == NULL) || sw != g->in_w || sh != g->in_h ||
        out->width != g->out_w || out->height != g->out_h || f->kw != g->kw ||
        f->kh != g->kh) {
        clconv__err(err, "image sizes do not match the geometry");
        return CLCONV_E_INVALID;
    }
    clconv__tune_note(NULL);
    forced = choose_locked(cl, &full, f, g, &ch);
    var = clconv__choose_variant(&full, forced, f, g, fu, fv);
    clconv__tune_settle(&ch, var, &shape, &tuned);
    src_bytes = (unsigned long long)sw * (unsigned long long)sh * (u8 ? 1 : sizeof(float));
    rows = clconv__band_rows_src(&lim, g, src_bytes, var == CLCONV__SEPARABLE, &left);
    if (rows < 1 && cl->nslots > 1) {
        /* Too big for a slot's share: the whole device, one image at a time. */
        lim = full;
        rows = clconv__band_rows_src(&lim, g, src_bytes, var == CLCONV__SEPARABLE, &left);
        all = 1;
    }
    /* A variant without a border-reading form (local), a source that does
     * not fit beside a band, or the test switch: pad on the host. */
    if (!clconv__registry[var].entry[CLCONV__SRC_F32_CONST] || rows < 1 ||
        getenv("CLCONV_HOST_PAD"))
        return pad_on_host(cl, in, in8, prm, f, g, out, timing, mr, err);
    if (cl->pipelined && rows < g->out_h) {
        /* Two turns of output buffers: in the room the memory allows one
         * (band_rows_src without the cap on rows), halved where needed. */
        clconv__limits nocap = lim;
        unsigned long long l2;
        long long m;
        nocap.band_rows = 0;
        m = clconv__band_rows_src(&nocap, g, src_bytes, var == CLCONV__SEPARABLE, &l2);
        if (m >= 2 * rows) {
            depth = 2;
        } else if (m >= 2) {
            rows = m / 2;
            depth = 2;
        }
    }

    memset(&c, 0, sizeof c);
    memset(&run, 0, sizeof run);
    c.cl = cl;
    c.g = g;
    c.src = 1;
    c.sw = sw;
    c.cval = prm->cval;
    c.shape = shape;
    c.tuned = tuned;
    rmap = clconv__axis_map(g->in_h, g->pad_top, g->pad_bottom, prm->border);
    cmap = clconv__axis_map(g->in_w, g->pad_left, g->pad_right, prm->border);
    if (!rmap || !cmap) {
        clconv__err(err, "out of memory");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    /* Rows that map to source rows form one range: all of them, or the
     * image's own under a constant border. Columns [c_lo, c_hi) are the
     * image's own, read straight. */
    c.r_lo = prm->border == CLCONV_BORDER_CONSTANT ? g->pad_top : 0;
    c.r_hi = prm->border == CLCONV_BORDER_CONSTANT ? g->pad_top + g->in_h : g->padded_h;
    c.c_lo = g->pad_left;
    c.c_hi = g->pad_left + g->in_w;
    /* tiled_src's border strips, counted against the device budget too. */
    if (var == CLCONV__TILED &&
        (!build_frame(&fr, g, &shape, rmap, cmap, c.r_lo, c.r_hi, c.c_lo, c.c_hi,
                      u8 ? NULL : in->data, u8 ? in8->data : NULL, sw, prm->cval) ||
         (unsigned long long)fr.n * sizeof(float) > left / 2)) {
        free(rmap);
        free(cmap);
        free(fr.data);
        return pad_on_host(cl, in, in8, prm, f, g, out, timing, mr, err);
    }
    if (clconv__fft_wanted(&full, forced, f, g, var)) {
        /* The FFT's buffers are the device's: it takes the whole device. */
        double waited = 0;
        slot = clconv__slot_get(cl, 1, &waited);
        if (!slot) goto no_lock;
        st = fft_on_image(cl, slot, in, in8, prm, rmap, cmap, c.c_lo, c.c_hi, f, g, out,
                          &tm, mr, err);
        clconv__slot_put(cl, slot, 1);
        slot = NULL;
        tm.wait_ms += waited;
        if (st != CLCONV_E_TOO_LARGE) {
            if (st == CLCONV_OK) perturb(out, mr);
            clconv__tune_settle(&ch, CLCONV__FFT, &shape, &tuned);
            clconv__tune_note(tuned);
            goto cleanup;
        }
        st = CLCONV_OK; /* does not apply or fit: the default choice */
        memset(&tm, 0, sizeof tm);
        tm.pad = "device";
        tm.wait_ms = waited;
    }
    slot = clconv__slot_get(cl, all, &tm.wait_ms);
    if (!slot) goto no_lock;
    c.slot = slot;
    st = setup_call(&c, var, u8, f, fu, fv, rows - 1 + keff, err);
    if (st == CLCONV_OK)
        st = clconv__copy_buf(cl, &c.rmap, (size_t)g->padded_h * sizeof(int), rmap, err);
    if (st == CLCONV_OK)
        st = clconv__copy_buf(cl, &c.cmap, (size_t)g->padded_w * sizeof(int), cmap, err);
    if (st == CLCONV_OK && var == CLCONV__TILED) {
        const int fa[8] = {fr.fw, fr.top_h, fr.bot_y, fr.bot_off, fr.left_w,
                           fr.left_off, fr.right_x, fr.right_off};
        memcpy(c.frame_args, fa, sizeof fa);
        st = clconv__copy_buf(cl, &c.frame, (fr.n ? fr.n : 1) * sizeof(float), fr.data, err);
    }
    if (st != CLCONV_OK) goto cleanup;
    run.slot = slot;
    run.depth = depth;
    run.src = host_src;
    run.src_bytes = (size_t)src_bytes;
    st = run_call(&run, &c, rows, out, &tm, mr, err);
    goto cleanup;
no_lock:
    clconv__err(err, "cannot lock the device");
    st = CLCONV_E_INVALID;
cleanup:
    release_call(&c);
    if (slot && all) clconv__slot_trim(cl, slot);
    clconv__slot_put(cl, slot, all);
    free(rmap);
    free(cmap);
    free(fr.data);
    if (timing) *timing = tm;
    return st;
}
