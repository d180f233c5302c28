/* process.c — one image through the library, file to file: decode (io/),
 * luma (or, with --color, each channel in turn), resize, device (cl/) or
 * reference (core/), verify, --scale and --offset, map to the output depth (the input's under --depth auto), atomic
 * write; a failure is that image's report, never the process's. Every
 * plane it allocates is held to max_pixels first, and a result that failed
 * verification is written under a marked name (NAME.mismatch), never
 * where a resume would take it for done. The pool that runs it over many
 * images is pool.c.
 * It must not print, exit or overwrite an input.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "cl/cl.h" /* device retirement */
#include "io/io.h" /* the writer, and which file a path names */

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Filters with fewer taps than this get 8-bit images as bytes. */
#define U8_MAX_TAPS 100

void clconv_job_init(clconv_job *job)
{
    memset(job, 0, sizeof *job);
    clconv_params_init(&job->params);
    job->map = CLCONV_MAP_CLAMP;
    job->quality = 95;
    job->max_pixels = 1LL << 28;
    job->verify = CLCONV_VERIFY_SAMPLE;
    job->depth = CLCONV_DEPTH_AUTO;
    job->scale = 1.0;
    job->max_pages = CLCONV__MAX_PAGES;
}

/* An input read once (a stack is decoded page by page from it): its
 * bytes, the page to decode, and the name messages give it ("x.tif", or
 * "x.tif (page 3)" past a stack's first page). */
typedef struct source {
    const unsigned char *buf;
    size_t len;
    int page;
    const char *name;
} source;

/* Appends src to dst (cap bytes), truncating; returns the new length. */
static size_t append(char *dst, size_t len, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (len + 1 >= cap) return len;
    if (n > cap - 1 - len) n = cap - 1 - len;
    memcpy(dst + len, src, n);
    dst[len + n] = '\0';
    return len + n;
}

/* Writes "<input>: <message>" into r->err; messages that already start with
 * the file name (the decoder's) are kept as they are. */
static clconv_status fail(clconv_report *r, clconv_status st, const char *msg)
{
    size_t len = 0;
    r->err[0] = '\0';
    if (strncmp(msg, r->input, strlen(r->input)) != 0) {
        len = append(r->err, len, sizeof r->err, r->input);
        len = append(r->err, len, sizeof r->err, ": ");
    }
    append(r->err, len, sizeof r->err, msg);
    r->status = st;
    return st;
}

/* Refuses an output that names the input, and a --side-by-side that names
 * the input or the output: by device and inode, whatever the spelling
 * (./name, a link, a hard link). keep[0] and keep[1] receive the input's and
 * the output's keys, for the writer's last look before its rename. */
static clconv_status check_paths(const clconv_job *job, const char *input,
                                 const char *output, clconv__path_key *keep,
                                 clconv_report *r)
{
    const char *sbs = job->side_by_side;
    char msg[CLCONV_ERR_MAX];
    if (clconv__path_key_of(input, &keep[0]) != 0 || clconv__path_key_of(output, &keep[1]) != 0)
        return fail(r, CLCONV_E_NOMEM, "out of memory");
    if (clconv__path_key_cmp(&keep[0], &keep[1]) == 0)
        snprintf(msg, sizeof msg, "refusing to overwrite the input with the output %s",
                 output);
    else if (sbs && clconv__same_path(input, sbs))
        snprintf(msg, sizeof msg, "refusing to overwrite the input with --side-by-side "
                 "%s", sbs);
    else if (sbs && clconv__same_path(output, sbs))
        snprintf(msg, sizeof msg, "--side-by-side %s is the output %s itself", sbs, output);
    else
        return CLCONV_OK;
    return fail(r, CLCONV_E_INVALID, msg);
}

/* Holds a w x h plane (`what`) to the job's max_pixels before it is made. */
static clconv_status within_limit(const clconv_job *job, long long w, long long h,
                                  const char *what, clconv_report *r)
{
    char msg[256];
    if (job->max_pixels <= 0 || w * h <= job->max_pixels) return CLCONV_OK;
    snprintf(msg, sizeof msg, "%s %lldx%lld is %lld pixels, over the limit of %lld "
             "(--max-pixels)", what, w, h, w * h, job->max_pixels);
    return fail(r, CLCONV_E_TOO_LARGE, msg);
}

/* One channel of --side-by-side: input | mapped output, 8 pixels apart on
 * a black ground, into `both` (allocated here). */
static clconv_status side_plane(const clconv_plane *in, const clconv_plane *out,
                                clconv_map map, clconv_plane *both)
{
    const int gap = 8;
    const long long w = (long long)in->width + gap + out->width;
    const int h = in->height > out->height ? in->height : out->height;
    unsigned char *u8;
    int y, x;
    clconv_status st = w > 1 << 20 ? CLCONV_E_TOO_LARGE
                                   : clconv_plane_alloc(both, (int)w, h);
    if (st != CLCONV_OK) return st;
    if (!(u8 = malloc((size_t)out->width * (size_t)out->height))) {
        clconv_plane_free(both);
        return CLCONV_E_NOMEM;
    }
    memset(both->data, 0, (size_t)w * (size_t)h * sizeof(float));
    clconv_plane_to_u8(out, map, u8, NULL);
    for (y = 0; y < in->height; y++)
        memcpy(both->data + (size_t)y * (size_t)w,
               in->data + (size_t)y * in->width, (size_t)in->width * sizeof(float));
    for (y = 0; y < out->height; y++)
        for (x = 0; x < out->width; x++)
            both->data[(size_t)y * (size_t)w + (size_t)in->width + gap + x] =
                u8[(size_t)y * out->width + x];
    free(u8);
    return CLCONV_OK;
}

/* The input and the mapped output next to each other, written as a PNG
 * (the seed's plot_two_images): gray planes, or with --color every
 * output channel beside the input's (`cin`, `cout` set). */
static clconv_status side_by_side(const clconv_plane *in, const clconv_plane *out,
                                  const clconv_image *cin, const clconv_image *cout,
                                  clconv_map map, const char *path, const char *format_of,
                                  const clconv__path_key *keep, int nkeep, char *err)
{
    clconv_image both;
    const int n = cout ? cout->channels : 1;
    clconv_status st = CLCONV_OK;
    int k;
    memset(&both, 0, sizeof both);
    for (k = 0; k < n && st == CLCONV_OK; k++)
        st = side_plane(cout ? &cin->planes[k < cin->channels ? k : cin->channels - 1] : in,
                        cout ? &cout->planes[k] : out, map, &both.planes[k]);
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot make the side-by-side image: %s", path,
                    clconv_status_str(st));
    } else {
        const clconv__save_opts o = {CLCONV_MAP_CLAMP, 95, CLCONV_DEPTH_AUTO, CLCONV_DEPTH_8,
                                     NULL, NULL, NULL, &both, 0, NULL, NULL, 0, 0, 0};
        both.width = both.planes[0].width;
        both.height = both.planes[0].height;
        both.channels = n;
        both.depth = CLCONV_DEPTH_8;
        st = clconv__image_save_opts(path, format_of, keep, nkeep, &both.planes[0], &o, err);
    }
    clconv_image_free(&both);
    return st;
}

/* "<path>.mismatch", malloc'd. */
static char *marked_name(const char *path)
{
    size_t n = strlen(path) + sizeof ".mismatch";
    char *m = malloc(n);
    if (m) snprintf(m, n, "%s.mismatch", path);
    return m;
}

/* Writes the output, then --side-by-side; when `marked` (the result failed
 * verification) as NAME.mismatch each, in the output's format, so that the
 * wrong result can be looked at but no resume takes it for a finished one
 * and no directory walk takes it for an image. keep: the input's key and
 * the output's. */
static clconv_status write_outputs(const clconv_job *job, const char *output, int marked,
                                   const clconv_plane *img, const clconv_plane *out,
                                   const clconv_image *cin, const clconv_image *color,
                                   const clconv_cl_mapped *dm, clconv__stack *stack,
                                   const clconv__path_key *keep, clconv_report *r, char *err)
{
    const char *sbs = job->side_by_side;
    char *dst = marked ? marked_name(output) : NULL;
    char *sdst = marked && sbs ? marked_name(sbs) : NULL;
    clconv__path_key two[2];
    clconv_depth written = CLCONV_DEPTH_AUTO;
    clconv_status st = CLCONV_OK;
    if ((marked && !dst) || (marked && sbs && !sdst)) {
        clconv__err(err, "%s: out of memory", output);
        st = CLCONV_E_NOMEM;
    }
    if (st == CLCONV_OK) {
        /* The input's depth decides under --depth auto (DESIGN §6). */
        const clconv__save_opts o = {job->map, job->quality, (clconv_depth)job->depth,
                                     (clconv_depth)r->in_depth, &r->nan_count,
                                     &r->clipped, &written, color,
                                     color && color->channels % 2 == 0 &&
                                         job->alpha == CLCONV_ALPHA_KEEP,
                                     color ? &r->out_channels : NULL,
                                     dm ? dm->data : NULL, dm ? dm->bits : 0,
                                     dm ? dm->nan_count : 0, dm ? dm->clipped : 0};
        /* A page of a stack file goes into it whatever the check said: the
         * whole file is named as a mismatch at the end. */
        st = stack ? clconv__stack_add(stack, out, &o, err)
                   : clconv__image_save_opts(dst ? dst : output, output, keep, 1, out, &o, err);
        r->out_depth = written;
    }
    if (st == CLCONV_OK && sbs) {
        /* Nor may it replace the output just written. */
        two[0] = keep[0];
        if (clconv__path_key_of(dst ? dst : output, &two[1]) != 0) {
            clconv__err(err, "%s: out of memory", sbs);
            st = CLCONV_E_NOMEM;
        } else {
            st = side_by_side(img, out, cin, color, job->map, sdst ? sdst : sbs, sbs, two,
                              2, err);
            clconv__path_key_free(&two[1]);
        }
    }
    free(dst);
    free(sdst);
    return st;
}

/* Whether 8-bit images go to the device as bytes: a quarter of the
 * upload, no float pass. Not for big filters: each tap of the byte kernels
 * converts what it loads, which costs more than the float pass saves once
 * the kernel dominates (bench/RESULTS.md: even at 9x9, 10% slower at 15x15
 * on PoCL). */
static int bytes_for_device(const clconv_job *job)
{
    return (job->cl || job->wait_device) &&
           clconv_filter_width(job->filter) * clconv_filter_height(job->filter) <
               U8_MAX_TAPS;
}

/* Nonzero when every value of p is a whole number. */
static int whole_numbers(const clconv_plane *p)
{
    const size_t n = (size_t)p->width * (size_t)p->height;
    size_t i;
    for (i = 0; i < n; i++)
        if (p->data[i] != floorf(p->data[i])) return 0;
    return 1;
}

/* --resize as Pillow's Image.resize: an 8-bit image on its bytes (mode
 * "L"), a .npy (or any plane with a fraction) as mode "F", the integer
 * samples of a 16-bit image as mode "I" (docs/numbers.md). Bytes stay
 * bytes only where the device takes them. */
static clconv_status resize_input(const clconv_job *job, int npy, clconv_image8 *img8,
                                  clconv_plane *img, char *err)
{
    const int w = job->resize_w, h = job->resize_h;
    clconv_image8 t8 = {0, 0, NULL};
    clconv_plane t = {0, 0, NULL};
    clconv_status st = CLCONV_OK;
    if (img8->data) {
        if (img8->width != w || img8->height != h) {
            st = clconv_image8_resize(img8, w, h, job->resize_filter, &t8, err);
            if (st != CLCONV_OK) return st;
            clconv_image8_free(img8);
            *img8 = t8;
        }
        if (bytes_for_device(job)) return CLCONV_OK;
        st = clconv__plane_from_u8(img8, img, err);
        clconv_image8_free(img8);
        return st;
    }
    if (img->width == w && img->height == h) return CLCONV_OK;
    st = clconv_plane_resize_filter(img, w, h, job->resize_filter,
                                    !npy && whole_numbers(img), &t, err);
    if (st != CLCONV_OK) return st;
    clconv_plane_free(img);
    *img = t;
    return CLCONV_OK;
}

/* Decodes the input (8-bit images as bytes where the device takes them,
 * and for --resize) and resizes it for --resize; the input's size goes
 * into r. */
static clconv_status decode_input(const clconv_job *job, const source *in,
                                  clconv_image8 *img8, clconv_plane *img,
                                  clconv_report *r, char *err)
{
    const int resize = job->resize_w > 0 && job->resize_h > 0;
    clconv_depth depth = CLCONV_DEPTH_8;
    clconv_status st;
    /* The reference, --verify and --side-by-side take floats; the depth
     * tells a .npy (float: Pillow's mode F for --resize) from the rest. */
    st = clconv__load_depth_mem(in->buf, in->len, in->name, in->page, job->max_pixels,
                                resize || bytes_for_device(job) ? img8 : NULL, img,
                                &depth, err);
    if (st != CLCONV_OK) return st;
    r->in_depth = depth;
    r->in_w = img8->data ? img8->width : img->width;
    r->in_h = img8->data ? img8->height : img->height;
    return resize ? resize_input(job, depth == CLCONV_DEPTH_FLOAT, img8, img, err)
                  : CLCONV_OK;
}

/* --verify: the reference on the padded plane, compared with out into
 * r->vr. On failure *msg says why. */
static clconv_status verify(const clconv_job *job, const clconv_plane *padded,
                            const clconv_geometry *g, const clconv_plane *out,
                            clconv_report *r, const char **msg)
{
    clconv_plane ref = {0, 0, NULL}, asum = {0, 0, NULL};
    clconv_status st = CLCONV_OK;
    if (clconv_plane_alloc(&ref, g->out_w, g->out_h) != CLCONV_OK ||
        clconv_plane_alloc(&asum, g->out_w, g->out_h) != CLCONV_OK) {
        *msg = "out of memory for --verify";
        st = CLCONV_E_NOMEM;
    } else {
        st = clconv_conv_ref(padded, job->filter, g, &ref, &asum);
        *msg = clconv_status_str(st);
    }
    if (st == CLCONV_OK) {
        clconv_verify(out, &ref, &asum, g->kw * g->kh, &r->vr);
        r->verified = 1;
    }
    clconv_plane_free(&ref);
    clconv_plane_free(&asum);
    return st;
}

/* The spot check's pixels: the four corners, both rows at every band seam
 * (at both ends and two random columns), and SAMPLE_POINTS drawn from the
 * seed; every pixel of a small output. Returns how many went into xs, ys
 * (capacity SAMPLE_CAP). */
#define SAMPLE_POINTS 256
#define SAMPLE_CAP (SAMPLE_POINTS + 4 + 64 * 8)
static int sample_points(const clconv_geometry *g, int band_rows, uint64_t seed,
                         int *xs, int *ys)
{
    const int w = g->out_w, h = g->out_h;
    int n = 0, b, k;
    if ((long long)w * h <= SAMPLE_POINTS + 4) {
        for (b = 0; b < h; b++)
            for (k = 0; k < w; k++, n++) {
                xs[n] = k;
                ys[n] = b;
            }
        return n;
    }
#define PUT(x, y) (xs[n] = (x), ys[n] = (y), n++)
    PUT(0, 0);
    PUT(w - 1, 0);
    PUT(0, h - 1);
    PUT(w - 1, h - 1);
    for (b = band_rows; band_rows > 0 && b < h && n + 8 <= SAMPLE_CAP - SAMPLE_POINTS; b += band_rows) {
        PUT(0, b - 1);
        PUT(w - 1, b - 1);
        PUT(0, b);
        PUT(w - 1, b);
        PUT(clconv__rnd_int(&seed, 0, w - 1), b - 1);
        PUT(clconv__rnd_int(&seed, 0, w - 1), b - 1);
        PUT(clconv__rnd_int(&seed, 0, w - 1), b);
        PUT(clconv__rnd_int(&seed, 0, w - 1), b);
    }
    for (k = 0; k < SAMPLE_POINTS; k++)
        PUT(clconv__rnd_int(&seed, 0, w - 1), clconv__rnd_int(&seed, 0, h - 1));
#undef PUT
    return n;
}

/* The spot check's seed: the job's, mixed with the file name (FNV-1a). */
static uint64_t spot_seed(const clconv_job *job, const char *input)
{
    uint64_t seed = job->verify_seed ^ 0xcbf29ce484222325ULL;
    const char *c;
    for (c = input; *c; c++) seed = (seed ^ (unsigned char)*c) * 0x100000001b3ULL;
    return seed;
}

/* The default check of a device result: the reference at a few hundred
 * pixels (sample_points) from the unpadded image, into r->sr. Returns 0
 * when they pass (or when the maps cannot be made: nothing is claimed). */
static int spot_check_failed(const clconv_job *job, const char *input,
                             const clconv_plane *img, const clconv_image8 *img8,
                             const clconv_geometry *g, const clconv_plane *out,
                             clconv_report *r)
{
    int xs[SAMPLE_CAP], ys[SAMPLE_CAP], n;
    int *rmap = clconv__axis_map(g->in_h, g->pad_top, g->pad_bottom, job->params.border);
    int *cmap = clconv__axis_map(g->in_w, g->pad_left, g->pad_right, job->params.border);
    uint64_t seed = spot_seed(job, input);
    if (rmap && cmap) {
        n = sample_points(g, r->cl_timing.band_rows, seed, xs, ys);
        clconv__verify_points(out, img8->data ? NULL : img->data, img8->data,
                              img8->data ? img8->width : img->width, rmap, cmap,
                              job->params.cval, job->filter, g, xs, ys, n, &r->sr);
        r->sampled = 1;
        r->sample_points = n;
    }
    free(rmap);
    free(cmap);
    return r->sampled && r->sr.bad > 0;
}

/* The device map (docs/kernels.md, "The device map"): the output depth
 * (8 or 16) the device maps this image's result to, 0 for none. Only on
 * the gray path, for an 8- or 16-bit output, and not where the whole float
 * result is read anyway (--verify full, --side-by-side). On every device
 * by default: without host-unified memory it saves 3/4 (1/2) of the
 * read-back; on zero-copy CPU devices (PoCL) it measures even with the
 * host's branch-free map (comp+enc 0.96-0.97 on a quiet machine,
 * bench/RESULTS.md, "The device map"), so one path serves every device.
 * CLCONV_DEVICE_MAP=0 turns it off. */
static int device_map_bits(const clconv_job *job, clconv_cl *cl, const char *output,
                           int in_depth)
{
    const char *env = getenv("CLCONV_DEVICE_MAP");
    clconv_depth d;
    if (!cl || job->color || job->verify == CLCONV_VERIFY_FULL || job->side_by_side)
        return 0;
    if (env && strcmp(env, "0") == 0) return 0;
    d = clconv_format_depth(output, (clconv_depth)job->depth,
                            in_depth ? (clconv_depth)in_depth : CLCONV_DEPTH_8);
    return d == CLCONV_DEPTH_8 || d == CLCONV_DEPTH_16 ? (int)d : 0;
}

/* The host's mapping of one device float v (before --scale/--offset), as
 * the device must have mapped it: a plane of v alone, or for normalize of
 * the device's min, max and v (their min and max are the device's when v
 * lies between them, as it must). */
static unsigned host_mapped(const clconv_job *job, const clconv_cl_mapped *dm, float v)
{
    float vals[3];
    clconv_plane p = {1, 1, vals};
    unsigned char b = 0;
    uint16_t u = 0;
    if (job->affine) v = (float)(job->scale * (double)v + job->offset);
    vals[0] = v;
    if (dm->map == CLCONV_MAP_NORMALIZE) {
        vals[0] = dm->lo;
        vals[1] = dm->hi;
        vals[2] = v;
        p.width = 3;
    }
    if (dm->bits == 16) {
        uint16_t w[3];
        clconv__plane_map(&p, dm->map, 16, NULL, w, NULL, NULL);
        u = w[p.width - 1];
        return u;
    } else {
        unsigned char w[3];
        clconv__plane_map(&p, dm->map, 8, w, NULL, NULL, NULL);
        b = w[p.width - 1];
        return b;
    }
}

/* The spot check of a result the device mapped: its floats at the probes
 * (the caller's points and the band seams) against the reference, as
 * spot_check_failed does, and each probe's mapped sample against the
 * host's mapping of its float, exactly (a wrong map kernel counts as over
 * tolerance, its sample and the host's shown as device and reference). */
static int mapped_check_failed(const clconv_job *job, const clconv_plane *img,
                               const clconv_image8 *img8, const clconv_geometry *g,
                               const clconv_cl_mapped *dm, clconv_report *r)
{
    int *rmap = clconv__axis_map(g->in_h, g->pad_top, g->pad_bottom, job->params.border);
    int *cmap = clconv__axis_map(g->in_w, g->pad_left, g->pad_right, job->params.border);
    int k;
    if (rmap && cmap) {
        clconv__verify_values(NULL, dm->probe_v, img8->data ? NULL : img->data, img8->data,
                              img8->data ? img8->width : img->width, rmap, cmap,
                              job->params.cval, job->filter, g, dm->probe_x, dm->probe_y,
                              dm->nprobe, &r->sr);
        r->sampled = 1;
        r->sample_points = dm->nprobe;
        for (k = 0; k < dm->nprobe; k++) {
            const size_t at = (size_t)dm->probe_y[k] * (size_t)g->out_w + (size_t)dm->probe_x[k];
            const unsigned got = dm->bits == 16 ? ((const uint16_t *)dm->data)[at]
                                                : ((const unsigned char *)dm->data)[at];
            const unsigned want = host_mapped(job, dm, dm->probe_v[k]);
            if (got != want) {
                const double e = got > want ? got - want : want - got;
                if (e > r->sr.max_abs_err || r->sr.bad == 0) {
                    r->sr.max_abs_err = e > r->sr.max_abs_err ? e : r->sr.max_abs_err;
                    r->sr.worst_x = dm->probe_x[k];
                    r->sr.worst_y = dm->probe_y[k];
                    r->sr.worst_dev = (float)got;
                    r->sr.worst_ref = (float)want;
                    r->sr.worst_tol = 0;
                }
                r->sr.bad++;
            }
        }
    }
    free(rmap);
    free(cmap);
    return r->sampled && r->sr.bad > 0;
}

/* --color: " in channel R" (G, B, A for RGB(A); the index for gray and
 * gray+alpha), where a check's worst pixel lies; "" for gray mode. */
static void channel_words(int k, int nc, char *buf, size_t n)
{
    static const char *const rgba = "RGBA";
    if (k < 0) buf[0] = '\0';
    else if (nc >= 3 && k < 4) snprintf(buf, n, " in channel %c", rgba[k]);
    else snprintf(buf, n, " in channel %d", k);
}

/* "spot check: N of M sampled pixels over tolerance, worst at ..." */
static void spot_message(const clconv_job *job, const clconv_report *r, const char *where,
                         char *buf, size_t n)
{
    snprintf(buf, n, "spot check%s: %lld of %d sampled pixels over tolerance, worst at "
             "(%d, %d): device %.9g, reference %.9g, tolerance %.3g (--verify sample, "
             "seed %llu)", where, r->sr.bad, r->sample_points, r->sr.worst_x, r->sr.worst_y,
             r->sr.worst_dev, r->sr.worst_ref, r->sr.worst_tol, job->verify_seed);
}

/* A wrong spot check under fallback: the device is not trusted again this
 * run, and the image is redone by the reference; r->note says so, with
 * `checked`'s worst pixel. */
static void retire_wrong_device(const clconv_job *job, const char *input,
                                const clconv_report *checked, const char *where,
                                clconv_cl *cl, clconv_report *r)
{
    char msg[CLCONV_ERR_MAX];
    size_t len = append(r->note, 0, sizeof r->note, input);
    spot_message(job, checked, where, msg, sizeof msg);
    len = append(r->note, len, sizeof r->note, ": ");
    len = append(r->note, len, sizeof r->note, msg);
    len = append(r->note, len, sizeof r->note, "; OpenCL device ");
    len = append(r->note, len, sizeof r->note, clconv_cl_info(cl)->name);
    append(r->note, len, sizeof r->note,
           " retired for the rest of the run; redone on the CPU reference");
    clconv__cl_retire(cl);
    r->fell_back = 1;
}

/* An OpenCL failure under fallback: "<input>: OpenCL failed (<err>); using
 * the CPU reference" in r->note, counted against the device (the gray and
 * the colour path alike): the failure that retires it says so, once. */
static void note_cl_failed(const char *input, const char *err, clconv_cl *cl,
                           clconv_report *r)
{
    size_t len = append(r->note, 0, sizeof r->note, input);
    len = append(r->note, len, sizeof r->note, ": OpenCL failed (");
    len = append(r->note, len, sizeof r->note, err);
    r->fell_back = 1;
    len = append(r->note, len, sizeof r->note, "); using the CPU reference");
    if (clconv__cl_failed(cl)) {
        /* The one message: its other images go to the next path. */
        len = append(r->note, len, sizeof r->note, "; OpenCL device ");
        len = append(r->note, len, sizeof r->note, clconv_cl_info(cl)->name);
        append(r->note, len, sizeof r->note, " retired for the rest of the run "
               "after 2 failures");
    }
}

/* Why the result is wrong (the spot check's or --verify's worst pixel),
 * and where it went instead of `output`. */
static void mismatch_message(const clconv_job *job, const clconv_report *r,
                             int on_device, const char *spot_where, const char *verify_where,
                             const char *output, char *buf, size_t n)
{
    size_t len;
    if (r->sampled && r->sr.bad > 0 && on_device)
        spot_message(job, r, spot_where, buf, n);
    else
        snprintf(buf, n, "verification failed%s: %lld pixel%s over tolerance, worst at "
                 "(%d, %d): device %.9g, reference %.9g, tolerance %.3g", verify_where,
                 r->vr.bad,
                 r->vr.bad == 1 ? "" : "s", r->vr.worst_x, r->vr.worst_y,
                 r->vr.worst_dev, r->vr.worst_ref, r->vr.worst_tol);
    len = strlen(buf);
    snprintf(buf + len, n - len, "; written as %s.mismatch, not as %s", output, output);
}

/* The device to compute on: `cl`, unless it was retired after failures,
 * then the first device of the run that is not (NULL: the reference). */
static clconv_cl *usable_device(const clconv_job *job, clconv_cl *cl)
{
    int i;
    if (!clconv__cl_retired(cl)) return cl;
    for (i = 0; i < job->ndevices; i++)
        if (job->devices[i] && !clconv__cl_retired(job->devices[i])) return job->devices[i];
    return NULL;
}

/* ---- --color: the channels one by one through the gray path's steps ---- */

/* Pillow's RGBA <-> RGBa (LA <-> La) of Convert.c, which Image.resize
 * goes through for every filter but nearest: the colour channels of 8-bit
 * samples multiplied by alpha (MULDIV255), and back (255 * v / alpha,
 * clipped; alpha 0 and 255 left as they are). */
static void premultiply(clconv_image *c, int back)
{
    const size_t n = (size_t)c->width * (size_t)c->height;
    const float *a = c->planes[c->channels - 1].data;
    size_t i;
    int k;
    for (k = 0; k < c->channels - 1; k++) {
        float *v = c->planes[k].data;
        for (i = 0; i < n; i++) {
            const unsigned al = (unsigned)a[i], x = (unsigned)v[i];
            unsigned t;
            if (!back) {
                t = x * al + 128;
                v[i] = (float)(((t >> 8) + t) >> 8);
            } else if (al != 0 && al != 255) {
                t = 255 * x / al;
                v[i] = (float)(t > 255 ? 255 : t);
            }
        }
    }
}

/* --resize on every channel, as Pillow resizes mode RGB(A) (8-bit: its
 * bytes, mode "L" per channel, RGBA premultiplied by alpha as Pillow
 * does), I;16 (mode "I") and float (mode "F"). */
static clconv_status resize_color(const clconv_job *job, clconv_image *c, char *err)
{
    const int pre = c->depth == CLCONV_DEPTH_8 && c->channels % 2 == 0 &&
                    job->resize_filter != CLCONV_RESIZE_NEAREST;
    int k;
    if (pre) premultiply(c, 0);
    for (k = 0; k < c->channels; k++) {
        clconv_image8 b = {0, 0, NULL};
        clconv_plane t = {0, 0, NULL};
        clconv_status st = CLCONV_OK;
        if (c->depth == CLCONV_DEPTH_8) {
            clconv_image8 t8 = {0, 0, NULL};
            const size_t n = (size_t)c->width * (size_t)c->height;
            size_t i;
            if (!(b.data = malloc(n))) return CLCONV_E_NOMEM;
            b.width = c->width;
            b.height = c->height;
            for (i = 0; i < n; i++) b.data[i] = (unsigned char)c->planes[k].data[i];
            st = clconv_image8_resize(&b, job->resize_w, job->resize_h,
                                      job->resize_filter, &t8, err);
            if (st == CLCONV_OK) st = clconv__plane_from_u8(&t8, &t, err);
            clconv_image8_free(&t8);
            clconv_image8_free(&b);
        } else {
            st = clconv_plane_resize_filter(&c->planes[k], job->resize_w, job->resize_h,
                                            job->resize_filter,
                                            c->depth != CLCONV_DEPTH_FLOAT &&
                                                whole_numbers(&c->planes[k]),
                                            &t, err);
        }
        if (st != CLCONV_OK) return st;
        clconv_plane_free(&c->planes[k]);
        c->planes[k] = t;
    }
    c->width = job->resize_w;
    c->height = job->resize_h;
    if (pre) premultiply(c, 1);
    return CLCONV_OK;
}

/* --alpha keep: the alpha plane through the geometry without filtering:
 * each output pixel is the padded sample under the centre of its window
 * (row y*stride + dilation*(kh-1)/2, likewise for columns; the centre tap
 * for odd sizes), so same padding with stride 1 gives the input back. */
static clconv_status alpha_keep(const clconv_job *job, const clconv_plane *in,
                                const clconv_geometry *g, clconv_plane *out, char *err)
{
    clconv_plane padded = {0, 0, NULL};
    const int oy = g->dilation * (g->kh - 1) / 2, ox = g->dilation * (g->kw - 1) / 2;
    int y, x;
    clconv_status st = clconv_pad(in, g, &job->params, &padded, err);
    if (st != CLCONV_OK) return st;
    for (y = 0; y < g->out_h; y++)
        for (x = 0; x < g->out_w; x++)
            out->data[(size_t)y * (size_t)g->out_w + (size_t)x] =
                padded.data[(size_t)(y * g->stride + oy) * (size_t)g->padded_w +
                            (size_t)(x * g->stride + ox)];
    clconv_plane_free(&padded);
    return CLCONV_OK;
}

/* Keeps in *acc the worse of two check results, the counts summed. */
static void worse_of(clconv_verify_result *acc, const clconv_verify_result *v)
{
    const long long bad = acc->bad + v->bad;
    if (v->max_abs_err > acc->max_abs_err || acc->worst_x < 0) *acc = *v;
    acc->bad = bad;
}

/* One colour channel as clconv_process_file does a gray image: the device
 * (spot-checked, falling back to the reference as the job says) or the
 * reference, then --verify full. *dev says whether the device did it.
 * in8: the same channel as bytes for the device (data NULL: none). */
static clconv_status color_channel(const clconv_job *job, clconv_cl *cl, const char *input,
                                   const clconv_plane *in, const clconv_image8 *in8,
                                   const clconv_geometry *g, clconv_plane *out,
                                   clconv_report *r, int *dev, int k, int nc, int worst[2],
                                   char *err)
{
    clconv_plane padded = {0, 0, NULL};
    clconv_report one;
    clconv_status st = CLCONV_OK;
    char where[32];
    channel_words(k, nc, where, sizeof where);
    memset(&one, 0, sizeof one);
    one.vr.worst_x = one.sr.worst_x = -1;
    *dev = 0;
    if (cl) {
        const clconv_cl_timing sum = r->cl_timing;
        st = clconv_conv_cl_image(cl, in8->data ? NULL : in, in8->data ? in8 : NULL,
                                  &job->params, job->filter, g, out, &r->cl_timing, err);
        r->tuned = clconv__tune_last();
        /* The report's times are the channels' sums. */
        r->cl_timing.upload_ms += sum.upload_ms;
        r->cl_timing.kernel_ms += sum.kernel_ms;
        r->cl_timing.download_ms += sum.download_ms;
        r->cl_timing.pad_ms += sum.pad_ms;
        r->cl_timing.stage_ms += sum.stage_ms;
        r->cl_timing.wait_ms += sum.wait_ms;
        r->cl_timing.queue_ms += sum.queue_ms;
        if (st == CLCONV_OK) {
            *dev = 1;
            one.cl_timing = r->cl_timing;
            if (job->verify == CLCONV_VERIFY_SAMPLE &&
                spot_check_failed(job, input, in, in8, g, out, &one) && job->fallback) {
                retire_wrong_device(job, input, &one, where, cl, r);
                *dev = 0;
            }
        } else if (job->fallback) {
            note_cl_failed(input, err, cl, r);
        } else {
            return st;
        }
    }
    if (!*dev || job->verify == CLCONV_VERIFY_FULL) {
        st = clconv_pad(in, g, &job->params, &padded, err);
        if (st == CLCONV_OK && !*dev) st = clconv_conv_ref(&padded, job->filter, g, out, NULL);
        if (st == CLCONV_OK && job->verify == CLCONV_VERIFY_FULL) {
            const char *msg = NULL;
            st = verify(job, &padded, g, out, &one, &msg);
            if (st != CLCONV_OK) clconv__err(err, "%s", msg);
        }
        clconv_plane_free(&padded);
    }
    /* worst[]: the channel whose result worse_of keeps (spot, full). */
    if (one.sampled && *dev) {
        r->sampled = 1;
        r->sample_points += one.sample_points;
        if (one.sr.max_abs_err > r->sr.max_abs_err || r->sr.worst_x < 0) worst[0] = k;
        worse_of(&r->sr, &one.sr);
    }
    if (one.verified) {
        r->verified = 1;
        if (one.vr.max_abs_err > r->vr.max_abs_err || r->vr.worst_x < 0) worst[1] = k;
        worse_of(&r->vr, &one.vr);
    }
    return st;
}

/* An 8-bit channel as bytes, for the device's byte path (a quarter of the
 * upload, as gray images get). */
static clconv_status channel_bytes(const clconv_plane *p, clconv_image8 *b)
{
    const size_t n = (size_t)p->width * (size_t)p->height;
    size_t i;
    if (!(b->data = malloc(n))) return CLCONV_E_NOMEM;
    b->width = p->width;
    b->height = p->height;
    for (i = 0; i < n; i++) b->data[i] = (unsigned char)p->data[i];
    return CLCONV_OK;
}

/* Decodes with the channels kept, resizes, and sizes the output. */
static clconv_status color_decode(const clconv_job *job, const source *src, clconv_image *in,
                                  clconv_geometry *g, clconv_report *r, char *err)
{
    clconv_status st = clconv__load_color_mem(src->buf, src->len, src->name, src->page,
                                              job->max_pixels, in, err);
    if (st != CLCONV_OK) return st;
    r->in_depth = in->depth;
    r->in_channels = in->channels;
    r->in_w = in->width;
    r->in_h = in->height;
    if (job->resize_w > 0 && job->resize_h > 0 &&
        (in->width != job->resize_w || in->height != job->resize_h) &&
        (st = resize_color(job, in, err)) != CLCONV_OK)
        return st;
    return clconv_geometry_compute(in->width, in->height, clconv_filter_width(job->filter),
                                   clconv_filter_height(job->filter), &job->params, g, err);
}

/* clconv_process_file under --color (DESIGN §6): every colour channel
 * (and the alpha under --alpha filter) filtered like a gray image; the
 * alpha kept (centre sample) or dropped; one multi-channel output. */
static clconv_status process_color(const clconv_job *job, const source *src,
                                   const char *output, clconv__stack *stack,
                                   clconv__path_key *keep, clconv_report *r)
{
    const char *input = r->input;
    clconv_image in, out;
    clconv_geometry g;
    clconv_cl *cl = job->cl;
    char err[CLCONV_ERR_MAX];
    clconv_status st;
    double t = clconv__now_ms();
    int k, alpha, all_dev = 1, marked, worst[2] = {-1, -1};
    char spot_where[32], verify_where[32];

    memset(&out, 0, sizeof out);
    r->vr.worst_x = r->sr.worst_x = -1;
    err[0] = '\0';
    st = color_decode(job, src, &in, &g, r, err);
    if (st != CLCONV_OK) goto failed;
    r->decode_ms = clconv__now_ms() - t;
    r->out_w = g.out_w;
    r->out_h = g.out_h;
    st = within_limit(job, g.padded_w, g.padded_h, "the padded plane", r);
    if (st == CLCONV_OK) st = within_limit(job, g.out_w, g.out_h, "the output", r);
    if (st != CLCONV_OK) goto cleanup;
    alpha = in.channels % 2 == 0; /* gray+alpha, RGBA: alpha last */
    out.width = g.out_w;
    out.height = g.out_h;
    out.depth = in.depth;
    out.channels = alpha && job->alpha == CLCONV_ALPHA_DROP ? in.channels - 1 : in.channels;
    if (!cl && job->wait_device) cl = job->wait_device(job->wait_user);
    if (cl && job->fallback) cl = usable_device(job, cl);
    t = clconv__now_ms();
    for (k = 0; k < out.channels && st == CLCONV_OK; k++) {
        int dev = 0;
        st = clconv_plane_alloc(&out.planes[k], g.out_w, g.out_h);
        if (st != CLCONV_OK) clconv__err(err, "cannot allocate the output plane");
        else if (alpha && k == in.channels - 1 && job->alpha == CLCONV_ALPHA_KEEP)
            st = alpha_keep(job, &in.planes[k], &g, &out.planes[k], err);
        else {
            clconv_image8 b = {0, 0, NULL};
            if (in.depth == CLCONV_DEPTH_8 && cl && bytes_for_device(job) &&
                (st = channel_bytes(&in.planes[k], &b)) != CLCONV_OK)
                clconv__err(err, "out of memory for a channel's bytes");
            if (st == CLCONV_OK)
                st = color_channel(job, r->fell_back && job->fallback ? NULL : cl, input,
                                   &in.planes[k], &b, &g, &out.planes[k], r, &dev, k,
                                   in.channels, worst, err);
            clconv_image8_free(&b);
            all_dev &= dev;
            if (st == CLCONV_OK && job->affine)
                clconv__plane_affine(&out.planes[k], job->scale, job->offset);
        }
    }
    if (st != CLCONV_OK) goto failed;
    r->on_device = cl && all_dev && !r->fell_back;
    r->compute_ms = clconv__now_ms() - t;
    r->pad_ms = r->cl_timing.pad_ms;
    marked = (r->sampled && r->sr.bad > 0 && r->on_device) || (r->verified && r->vr.bad > 0);
    t = clconv__now_ms();
    st = write_outputs(job, output, marked, &in.planes[0], &out.planes[0], &in, &out, NULL,
                       stack,
                       keep, r, err);
    if (st != CLCONV_OK) goto failed;
    r->encode_ms = clconv__now_ms() - t;
    if (marked) {
        channel_words(worst[0], in.channels, spot_where, sizeof spot_where);
        channel_words(worst[1], in.channels, verify_where, sizeof verify_where);
        mismatch_message(job, r, r->on_device, spot_where, verify_where, output, err,
                         sizeof err);
        st = fail(r, CLCONV_E_MISMATCH, err);
    }
    goto cleanup;
failed:
    fail(r, st, err);
cleanup:
    clconv_image_free(&in);
    clconv_image_free(&out);
    r->status = st;
    return st;
}

/* One gray image (a page of a stack: src->page), decoded from src's bytes,
 * into `output` or a page of `stack`. r->input names it in messages. */
static clconv_status process_gray(const clconv_job *job, const source *src,
                                  const char *output, clconv__stack *stack,
                                  clconv__path_key *keep, clconv_report *r)
{
    const char *input = r->input;
    clconv_status st;
    clconv_plane img = {0, 0, NULL}, padded = {0, 0, NULL}, out = {0, 0, NULL};
    clconv_image8 img8 = {0, 0, NULL};
    clconv_cl *cl = job->cl;
    clconv_geometry g;
    char err[CLCONV_ERR_MAX];
    clconv_cl_mapped dm;
    int probe_x[SAMPLE_CAP], probe_y[SAMPLE_CAP];
    float probe_v[SAMPLE_CAP];
    double t;
    int done_on_device = 0, marked;

    memset(&dm, 0, sizeof dm);
    err[0] = '\0';
    t = clconv__now_ms();
    st = decode_input(job, src, &img8, &img, r, err);
    if (st != CLCONV_OK) { fail(r, st, err); goto cleanup; }
    r->decode_ms = clconv__now_ms() - t;

    t = clconv__now_ms();
    st = clconv_geometry_compute(img8.data ? img8.width : img.width,
                                 img8.data ? img8.height : img.height,
                                 clconv_filter_width(job->filter),
                                 clconv_filter_height(job->filter),
                                 &job->params, &g, err);
    if (st != CLCONV_OK) { fail(r, st, err); goto cleanup; }
    r->out_w = g.out_w;
    r->out_h = g.out_h;
    st = within_limit(job, g.padded_w, g.padded_h, "the padded plane", r);
    if (st == CLCONV_OK) st = within_limit(job, g.out_w, g.out_h, "the output", r);
    if (st != CLCONV_OK) goto cleanup;
    st = clconv_plane_alloc(&out, g.out_w, g.out_h);
    if (st != CLCONV_OK) {
        fail(r, st, "cannot allocate the output plane");
        goto cleanup;
    }
    r->pad_ms = clconv__now_ms() - t;

    if (!cl && job->wait_device) cl = job->wait_device(job->wait_user);
    if (cl && job->fallback) cl = usable_device(job, cl);
    t = clconv__now_ms();
    /* (Not for a page of a stack: the stack writer maps its planes.) */
    if (cl && !stack && (dm.bits = device_map_bits(job, cl, output, r->in_depth)) != 0 &&
        !(dm.data = malloc((size_t)g.out_w * (size_t)g.out_h * (size_t)(dm.bits / 8))))
        dm.bits = 0; /* no room: the floats come down */
    if (cl) {
        /* The device fills the border itself (clconv_conv_cl_image), and
         * maps the result to the output's depth where it may (dm.bits). */
        if (dm.bits) {
            dm.map = job->map;
            dm.affine = job->affine;
            dm.scale = job->scale;
            dm.offset = job->offset;
            dm.probe_x = probe_x;
            dm.probe_y = probe_y;
            dm.probe_v = probe_v;
            dm.probe_seed = spot_seed(job, input);
            if (job->verify == CLCONV_VERIFY_SAMPLE) {
                dm.probe_cap = SAMPLE_CAP;
                dm.nprobe = sample_points(&g, 0, dm.probe_seed, probe_x, probe_y);
            }
            st = clconv_conv_cl_image_mapped(cl, img8.data ? NULL : &img,
                                             img8.data ? &img8 : NULL, &job->params,
                                             job->filter, &g, &out, &dm, &r->cl_timing, err);
        } else {
            st = clconv_conv_cl_image(cl, img8.data ? NULL : &img,
                                      img8.data ? &img8 : NULL, &job->params,
                                      job->filter, &g, &out, &r->cl_timing, err);
        }
        r->tuned = clconv__tune_last();
        if (st == CLCONV_OK) {
            done_on_device = 1;
            r->device_map = dm.bits && dm.mapped;
            r->download_bytes = r->device_map ? dm.bytes_down
                                              : (unsigned long long)g.out_w * g.out_h * sizeof(float);
            r->pad_ms += r->cl_timing.pad_ms;
            const double tv = clconv__now_ms();
            const int wrong = job->verify == CLCONV_VERIFY_SAMPLE &&
                              (r->device_map
                                   ? mapped_check_failed(job, &img, &img8, &g, &dm, r)
                                   : spot_check_failed(job, input, &img, &img8, &g, &out, r));
            r->verify_ms = clconv__now_ms() - tv;
            if (wrong && job->fallback) {
                retire_wrong_device(job, input, r, "", cl, r);
                done_on_device = 0;
                r->device_map = 0; /* the reference's floats are mapped on the host */
            }
        } else if (job->fallback) {
            note_cl_failed(input, err, cl, r);
        } else {
            fail(r, st, err);
            goto cleanup;
        }
    }
    r->on_device = done_on_device;
    r->compute_ms = clconv__now_ms() - t;
    if (!done_on_device || job->verify == CLCONV_VERIFY_FULL || job->side_by_side) {
        /* The host-padded float plane: the reference's input. */
        t = clconv__now_ms();
        if (img8.data) {
            st = clconv__plane_from_u8(&img8, &img, err);
            if (st != CLCONV_OK) { fail(r, st, err); goto cleanup; }
        }
        if (!done_on_device || job->verify == CLCONV_VERIFY_FULL) {
            st = clconv_pad(&img, &g, &job->params, &padded, err);
            if (st != CLCONV_OK) { fail(r, st, err); goto cleanup; }
        }
        r->pad_ms += clconv__now_ms() - t;
    }
    if (!done_on_device) {
        t = clconv__now_ms();
        st = clconv_conv_ref(&padded, job->filter, &g, &out, NULL);
        if (st != CLCONV_OK) { fail(r, st, clconv_status_str(st)); goto cleanup; }
        r->compute_ms += clconv__now_ms() - t;
    }

    if (job->verify == CLCONV_VERIFY_FULL) {
        const char *msg = NULL;
        t = clconv__now_ms();
        st = verify(job, &padded, &g, &out, r, &msg);
        if (st != CLCONV_OK) { fail(r, st, msg); goto cleanup; }
        r->verify_ms = clconv__now_ms() - t;
    }
    clconv_plane_free(&padded);
    /* --scale/--offset: either path's result, after --verify, before the map. */
    /* (The device map applied it on the device.) */
    if (job->affine && !r->device_map) clconv__plane_affine(&out, job->scale, job->offset);

    /* An explicit device's wrong spot check, or --verify full's mismatch. */
    marked = (r->sampled && r->sr.bad > 0 && done_on_device) || (r->verified && r->vr.bad > 0);
    t = clconv__now_ms();
    st = write_outputs(job, output, marked, &img, &out, NULL, NULL,
                       r->device_map ? &dm : NULL, stack, keep, r, err);
    if (st != CLCONV_OK) { fail(r, st, err); goto cleanup; }
    r->encode_ms = clconv__now_ms() - t;
    if (marked) {
        mismatch_message(job, r, done_on_device, "", "", output, err, sizeof err);
        st = fail(r, CLCONV_E_MISMATCH, err);
    }
cleanup:
    free(dm.data);
    clconv_image8_free(&img8);
    clconv_plane_free(&img);
    clconv_plane_free(&padded);
    clconv_plane_free(&out);
    r->status = st;
    return st;
}

/* ---- stacks: every page of a multi-page TIFF (DESIGN §6) ---- */

/* Adds page report p to the input's report r: the first page's sizes,
 * depths and channels; counts and times summed; the worse checks; the
 * first note. */
static void merge_page(clconv_report *r, const clconv_report *p, int first)
{
    if (first) {
        r->in_w = p->in_w;
        r->in_h = p->in_h;
        r->out_w = p->out_w;
        r->out_h = p->out_h;
        r->in_depth = p->in_depth;
        r->out_depth = p->out_depth;
        r->in_channels = p->in_channels;
        r->out_channels = p->out_channels;
        r->on_device = p->on_device;
        r->cl_timing = p->cl_timing;
    } else {
        r->on_device &= p->on_device;
        r->cl_timing.upload_ms += p->cl_timing.upload_ms;
        r->cl_timing.kernel_ms += p->cl_timing.kernel_ms;
        r->cl_timing.download_ms += p->cl_timing.download_ms;
        r->cl_timing.pad_ms += p->cl_timing.pad_ms;
        if (p->cl_timing.bands > r->cl_timing.bands) r->cl_timing.bands = p->cl_timing.bands;
        if (!r->cl_timing.kernel) r->cl_timing.kernel = p->cl_timing.kernel;
        if (!r->cl_timing.pad) r->cl_timing.pad = p->cl_timing.pad;
    }
    r->fell_back |= p->fell_back;
    r->decode_ms += p->decode_ms;
    r->pad_ms += p->pad_ms;
    r->compute_ms += p->compute_ms;
    r->verify_ms += p->verify_ms;
    r->encode_ms += p->encode_ms;
    r->nan_count += p->nan_count;
    r->clipped += p->clipped;
    if (p->verified) {
        r->verified = 1;
        worse_of(&r->vr, &p->vr);
    }
    if (p->sampled) {
        r->sampled = 1;
        r->sample_points += p->sample_points;
        worse_of(&r->sr, &p->sr);
    }
    if (!r->note[0] && p->note[0]) memcpy(r->note, p->note, sizeof r->note);
}

/* The BigTIFF choice of a stack file: every page's output at its written
 * depth, from the headers (clconv__tiff_needs_big's rule). */
typedef struct stack_size {
    const clconv_job *job;
    const clconv__format *f;
    unsigned long long bytes, strips;
} stack_size;

static void add_page_size(void *ctx, const clconv__page_info *p)
{
    stack_size *z = ctx;
    const clconv_job *job = z->job;
    const int resize = job->resize_w > 0 && job->resize_h > 0;
    clconv_geometry g;
    char err[CLCONV_ERR_MAX];
    const clconv_depth d = clconv__format_depth(z->f, (clconv_depth)job->depth, p->depth);
    const unsigned long long es = d == CLCONV_DEPTH_FLOAT ? 4 : d == CLCONV_DEPTH_16 ? 2 : 1;
    const unsigned long long nc = job->color ? (unsigned long long)p->channels : 1;
    if (clconv_geometry_compute(resize ? job->resize_w : p->w, resize ? job->resize_h : p->h,
                                clconv_filter_width(job->filter),
                                clconv_filter_height(job->filter), &job->params, &g,
                                err) != CLCONV_OK)
        return; /* that page fails by itself later */
    {
        /* The encoder's strips (about 256 KiB each), and two more a page
         * for its directory. */
        const unsigned long long rb = (unsigned long long)g.out_w * es * nc;
        const unsigned long long rps = rb >= (256u << 10) ? 1 : (256u << 10) / rb;
        z->bytes += rb * (unsigned long long)g.out_h;
        z->strips += (unsigned long long)g.out_h / rps + 3;
    }
}

/* Runs page k of the stack into `output` (a page file) or `stack`; its
 * report merged into r. */
static clconv_status run_page(const clconv_job *job, source *src, long k,
                              const char *output, clconv__stack *stack,
                              clconv__path_key *keep, clconv_report *r)
{
    clconv_report pr;
    char label[CLCONV_ERR_MAX];
    clconv_status st;
    memset(&pr, 0, sizeof pr);
    snprintf(label, sizeof label, "%s (page %ld)", r->input, k);
    pr.input = k ? label : r->input;
    pr.output = output;
    pr.vr.worst_x = pr.sr.worst_x = -1;
    src->page = (int)k;
    src->name = pr.input;
    st = job->color ? process_color(job, src, output, stack, keep, &pr)
                    : process_gray(job, src, output, stack, keep, &pr);
    merge_page(r, &pr, k == 0);
    if (st != CLCONV_OK && r->status == CLCONV_OK) {
        memcpy(r->err, pr.err, sizeof r->err);
        r->status = st;
    }
    return st;
}

/* Every page of a stack of `pages`: into one multi-page file when the
 * output's format holds pages (written as NAME.mismatch when a page failed
 * its check), else into NAME-PAGE.ext files. A page that fails stops the
 * stack (a stack file is then not written); a mismatch does not. */
static clconv_status process_stack(const clconv_job *job, source *src, long pages,
                                   const char *output, clconv__path_key *keep,
                                   clconv_report *r)
{
    const clconv__format *f = clconv__format_by_name(output, 1);
    char err[CLCONV_ERR_MAX];
    clconv_status st = CLCONV_OK;
    long k;
    int mismatched = 0;
    r->vr.worst_x = r->sr.worst_x = -1;
    if (job->side_by_side) {
        snprintf(err, sizeof err, "--side-by-side takes one image, not a stack of %ld "
                 "pages", pages);
        return fail(r, CLCONV_E_INVALID, err);
    }
    if (clconv__format_holds_pages(f)) {
        stack_size z = {job, f, 0, 0};
        clconv__stack *w = NULL;
        long n;
        char *dst;
        err[0] = '\0';
        st = clconv__file_pages(src->buf, src->len, r->input, 0, job->max_pixels,
                                add_page_size, &z, &n, err);
        if (st == CLCONV_OK)
            st = clconv__stack_open(output, clconv__tiff_needs_big(z.bytes, z.strips), &w,
                                    err);
        if (st != CLCONV_OK) return fail(r, st, err);
        for (k = 0; k < pages; k++) {
            const clconv_status ps = run_page(job, src, k, output, w, keep, r);
            if (ps == CLCONV_E_MISMATCH) mismatched = 1;
            else if (ps != CLCONV_OK) break;
        }
        st = r->status;
        dst = mismatched ? marked_name(output) : NULL;
        err[0] = '\0';
        if (mismatched && !dst) {
            clconv__stack_close(w, output, keep, 1, 0, err);
            return fail(r, CLCONV_E_NOMEM, "out of memory");
        }
        {
            const clconv_status cs = clconv__stack_close(
                w, dst ? dst : output, keep, 1,
                st == CLCONV_OK || st == CLCONV_E_MISMATCH, err);
            if (cs != CLCONV_OK && st == CLCONV_OK) st = fail(r, cs, err);
        }
        free(dst);
        return r->status = st;
    }
    for (k = 0; k < pages; k++) {
        char *name = clconv__page_name(output, k, pages);
        clconv__path_key pk[2] = {keep[0], {0, 0, NULL, 0}};
        clconv_status ps;
        if (!name || clconv__path_key_of(name, &pk[1]) != 0) {
            free(name);
            return fail(r, CLCONV_E_NOMEM, "out of memory");
        }
        if (clconv__path_key_cmp(&pk[0], &pk[1]) == 0) {
            snprintf(err, sizeof err, "refusing to overwrite the input with the output %s",
                     name);
            ps = fail(r, CLCONV_E_INVALID, err);
        } else {
            ps = run_page(job, src, k, name, NULL, pk, r);
        }
        clconv__path_key_free(&pk[1]);
        free(name);
        if (ps != CLCONV_OK && ps != CLCONV_E_MISMATCH) break;
    }
    return r->status;
}

clconv_status clconv_process_file(const clconv_job *job, const char *input,
                                  const char *output, clconv_report *r)
{
    clconv__path_key keep[2] = {{0, 0, NULL, 0}, {0, 0, NULL, 0}};
    unsigned char *buf = NULL;
    size_t len = 0;
    long pages = 1;
    char err[CLCONV_ERR_MAX];
    clconv_status st;
    double t = clconv__now_ms();

    memset(r, 0, sizeof *r);
    r->input = input;
    r->output = output;
    r->pages = 1;
    err[0] = '\0';
    st = check_paths(job, input, output, keep, r);
    if (st != CLCONV_OK) goto cleanup;
    if (job->resize_w > 0 && job->resize_h > 0) {
        st = within_limit(job, job->resize_w, job->resize_h, "the --resize target", r);
        if (st != CLCONV_OK) goto cleanup;
    }
    /* The file is read once; a stack's pages are counted and their headers
     * checked (page limit, pixel limit) before any page is decoded. */
    st = clconv__read_file(input, &buf, &len, err);
    if (st == CLCONV_OK)
        st = clconv__file_pages(buf, len, input, job->max_pages, job->max_pixels, NULL,
                                NULL, &pages, err);
    if (st != CLCONV_OK) {
        fail(r, st, err);
        goto cleanup;
    }
    {
        source src = {buf, len, 0, input};
        const double read_ms = clconv__now_ms() - t;
        r->pages = (int)pages;
        if (pages > 1)
            st = process_stack(job, &src, pages, output, keep, r);
        else if (job->color)
            st = process_color(job, &src, output, NULL, keep, r);
        else
            st = process_gray(job, &src, output, NULL, keep, r);
        r->decode_ms += read_ms;
    }
cleanup:
    free(buf);
    clconv__path_key_free(&keep[0]);
    clconv__path_key_free(&keep[1]);
    r->status = st;
    return st;
}
