/* tune.c — clconv --tune: kernel choices measured on the user's own device.
 * The tuner times every kernel variant with its tile sizes (-D options) and
 * work-groups over a grid of filters and image sizes, checks each candidate
 * against the CPU reference first, and keeps each point's winner in a table
 * per platform, device and driver in the cache directory (cache.c's, with
 * its ownership checks and atomic writes). At open the table is loaded;
 * `auto` then takes its nearest entry (clconv__tune_choose). A damaged or
 * foreign table is ignored with one warning. docs/kernels.md has the format.
 * It must not choose a variant by itself (plan.c) nor launch kernels
 * (registry.c): it runs whole calls through clconv_conv_cl_image.
 */
#define _POSIX_C_SOURCE 200809L
#include "cl/cl.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLE_MAGIC "clconv tuning table 1"
#define TABLE_MAX ((size_t)1 << 20)
#define FNV0 0xcbf29ce484222325ULL
#define DIR_WHAT "tuning table directory"
#define DIR_THEN "the built-in kernel choices are used"

/* ------------------------------------------------------------ the key */

/* Copies s into out with line breaks made spaces: every key field is one
 * line of the table. */
static void one_line(char *out, size_t n, const char *s)
{
    size_t i;
    snprintf(out, n, "%s", s);
    for (i = 0; out[i]; i++)
        if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
}

/* The key lines of device d's table: what the table is valid for. */
static void table_key(const clconv_device_info *d, char *key, size_t n)
{
    char pl[256], dev[256], ven[256], drv[128], ver[128];
    one_line(pl, sizeof pl, d->platform_name);
    one_line(dev, sizeof dev, d->name);
    one_line(ven, sizeof ven, d->vendor);
    one_line(drv, sizeof drv, d->driver_version);
    one_line(ver, sizeof ver, d->cl_version);
    snprintf(key, n,
             "platform %s\ndevice %s\nvendor %s\ndriver %s\ndevice-version %s\n"
             "clconv %s\n", pl, dev, ven, drv, ver, CLCONV_VERSION);
}

/* The table's directory (opened) and file name for d; -1 when there is no
 * usable cache directory. */
static int table_file(const clconv_device_info *d, char *dir, size_t dn, char name[40])
{
    char key[1536];
    table_key(d, key, sizeof key);
    snprintf(name, 40, "tune-%016llx.txt", clconv__fnv64(FNV0, key, strlen(key)));
    return clconv__cache_dir(dir, dn, DIR_WHAT, DIR_THEN);
}

/* ------------------------------------------------------------ the format */

/* Parses one "entry" line into e; 0 on bad syntax or values. */
static int parse_entry(const char *line, clconv__tune_entry *e)
{
    char cls[8], var[16], end[16];
    int n = 0;
    memset(e, 0, sizeof *e);
    if (sscanf(line, "entry %7s %d %d %15s %d %d %d %d %lf %lf %15s%n", cls, &e->k,
               &e->side, var, &e->s.vec_w, &e->s.tile_rows, &e->s.wg_x, &e->s.wg_y,
               &e->ms, &e->default_ms, end, &n) != 11 ||
        line[n] != '\0' || strcmp(end, "verified") != 0)
        return 0;
    if (strcmp(cls, "sq") == 0) e->rank1 = 0;
    else if (strcmp(cls, "r1") == 0) e->rank1 = 1;
    else return 0;
    e->s.var = clconv__variant_of(var);
    if (e->s.var < 0 || !clconv__shape_valid(&e->s) || e->k < 1 ||
        e->k > CLCONV_FILTER_MAX || e->side < 1 || e->side > 65536 ||
        !(e->ms >= 0) || !(e->default_ms >= 0))
        return 0;
    snprintf(e->name, sizeof e->name, "%s%d@%d", e->rank1 ? "r1-" : "sq", e->k, e->side);
    return 1;
}

/* Parses a table's text against the device's key; 0 with `why` set when
 * it is damaged or foreign. */
static int parse_table(const char *text, size_t len, const char *key,
                       clconv__tune_table *t, char *why, size_t wn)
{
    const char *sum = NULL, *p, *body;
    char line[512], want[17];
    size_t klen = strlen(key), magic = strlen(TABLE_MAGIC);
    int lineno;
    t->n = 0;
    if (memchr(text, '\0', len)) {
        snprintf(why, wn, "not a text file");
        return 0;
    }
    if (len < magic + 1 || memcmp(text, TABLE_MAGIC "\n", magic + 1) != 0) {
        snprintf(why, wn, "not a clconv tuning table (no '%s' line)", TABLE_MAGIC);
        return 0;
    }
    /* The checksum line is the last: FNV-1a 64 of every byte before it. */
    p = NULL;
    if (text[len - 1] == '\n')
        for (p = text + len - 1; p > text && p[-1] != '\n'; p--) {}
    if (!p || strncmp(p, "checksum ", 9) != 0 || text + len - p != 9 + 16 + 1) {
        snprintf(why, wn, "no checksum line at its end (truncated?)");
        return 0;
    }
    sum = p;
    snprintf(want, sizeof want, "%016llx",
             clconv__fnv64(FNV0, text, (size_t)(sum - text)));
    if (memcmp(sum + 9, want, 16) != 0) {
        snprintf(why, wn, "bad checksum (damaged or edited)");
        return 0;
    }
    body = text + magic + 1;
    if ((size_t)(sum - body) < klen || memcmp(body, key, klen) != 0) {
        /* Name the first key line that differs, the table's and ours. */
        const char *a = body, *b = key, *na, *nb;
        for (;;) {
            na = memchr(a, '\n', (size_t)(sum - a));
            nb = strchr(b, '\n');
            if (!na || !nb || na - a != nb - b || memcmp(a, b, (size_t)(na - a)) != 0)
                break;
            a = na + 1;
            b = nb + 1;
        }
        snprintf(why, wn, "made for another device, driver or clconv (its '%.*s', "
                 "this is '%.*s')", na ? (int)(na - a > 120 ? 120 : na - a) : 0, a,
                 nb ? (int)(nb - b) : 0, b);
        return 0;
    }
    lineno = 1 + 7; /* the magic and the six key lines */
    for (p = body + klen; p < sum; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(sum - p));
        const size_t n = (size_t)(nl - p);
        if (!nl || n >= sizeof line) {
            snprintf(why, wn, "line %d: too long", lineno);
            return 0;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl + 1;
        if (line[0] == '#' || strncmp(line, "budget-s ", 9) == 0 ||
            strncmp(line, "points ", 7) == 0)
            continue;
        if (t->n >= CLCONV__TUNE_MAX || !parse_entry(line, &t->e[t->n])) {
            snprintf(why, wn, "line %d: bad syntax", lineno);
            return 0;
        }
        t->n++;
    }
    return 1;
}

/* The table's text (malloc'd): magic, key, budget and points, entries, and
 * the checksum. */
static char *format_table(const clconv__tune_table *t, const char *key, double budget,
                          int measured, int points, size_t *len)
{
    const size_t cap = 4096 + strlen(key) + (size_t)t->n * 160;
    char *s = malloc(cap);
    size_t at;
    int i;
    if (!s) return NULL;
    at = (size_t)snprintf(s, cap,
                          "%s\n%sbudget-s %.1f\npoints %d of %d\n"
                          "# entry CLASS K SIDE KERNEL VEC_W TILE_ROWS WG_X WG_Y MS "
                          "DEFAULT_MS verified\n",
                          TABLE_MAGIC, key, budget, measured, points);
    for (i = 0; i < t->n && at < cap; i++) {
        const clconv__tune_entry *e = &t->e[i];
        at += (size_t)snprintf(s + at, cap - at,
                               "entry %s %d %d %s %d %d %d %d %.4f %.4f verified\n",
                               e->rank1 ? "r1" : "sq", e->k, e->side,
                               clconv__variant_name(e->s.var), e->s.vec_w,
                               e->s.tile_rows, e->s.wg_x, e->s.wg_y, e->ms,
                               e->default_ms);
    }
    if (at + 32 >= cap) {
        free(s);
        return NULL;
    }
    at += (size_t)snprintf(s + at, cap - at, "checksum %016llx\n",
                           clconv__fnv64(FNV0, s, at));
    *len = at;
    return s;
}

/* Reads and checks device d's table: 1 with *t filled; 0 when there is
 * none (quietly) or it is refused (one warning). */
static int read_table(const clconv_device_info *d, clconv__tune_table *t, char *path,
                      size_t pn)
{
    char dir[3072], name[40], shown[3200], why[3400], key[1536];
    unsigned char *data = NULL;
    size_t len = 0;
    int dfd, fd, ok = 0;
    dfd = table_file(d, dir, sizeof dir, name);
    if (dfd < 0) return 0;
    snprintf(shown, sizeof shown, "tuning table %s/%s", dir, name);
    if (path) snprintf(path, pn, "%s/%s", dir, name);
    fd = clconv__open_file(dfd, name, shown, 1, why, sizeof why);
    if (fd < 0) {
        if (errno != ENOENT) clconv__cache_warn("%s; %s", why, DIR_THEN);
    } else {
        table_key(d, key, sizeof key);
        if (!clconv__read_fd(fd, TABLE_MAX, &data, &len))
            clconv__cache_warn("%s: unreadable or larger than %zu bytes, ignored; %s "
                               "until the next clconv --tune", shown, TABLE_MAX, DIR_THEN);
        else if (!parse_table((const char *)data, len, key, t, why, sizeof why))
            clconv__cache_warn("%s: %s, ignored; %s until the next clconv --tune", shown,
                               why, DIR_THEN);
        else
            ok = 1;
        close(fd);
    }
    free(data);
    close(dfd);
    return ok;
}

int clconv_device_tuned(const clconv_device_info *d, int *entries, char *path,
                        size_t path_len)
{
    clconv__tune_table *t = malloc(sizeof *t);
    int ok;
    if (!t) return 0;
    ok = read_table(d, t, path, path_len);
    if (entries) *entries = ok ? t->n : 0;
    free(t);
    return ok;
}

void clconv__tune_load(clconv_cl *cl)
{
    const char *off = getenv("CLCONV_TUNE_TABLE");
    clconv__tune_table *t;
    /* CLCONV_TUNE_TABLE=off: the built-in choices (comparisons, tests). */
    if (off && strcmp(off, "off") == 0) return;
    t = malloc(sizeof *t);
    if (t && read_table(&cl->info, t, NULL, 0)) {
        cl->tune = t;
        return;
    }
    free(t);
}

void clconv__tune_release(clconv_cl *cl)
{
    free(cl->tune);
    cl->tune = NULL;
    while (cl->tune_old) {
        struct clconv_tune_old *o = cl->tune_old;
        cl->tune_old = o->next;
        free(o->t);
        free(o);
    }
}

/* ------------------------------------------------------------ the choice */

static _Thread_local const char *last_entry;

void clconv__tune_note(const char *entry) { last_entry = entry; }

const char *clconv__tune_last(void) { return last_entry; }

int clconv__tune_choose(const clconv_cl *cl, const clconv__limits *lim,
                        const clconv_filter *f, const clconv_geometry *g,
                        clconv__choice *ch)
{
    const clconv__tune_table *t = cl->tune_try ? cl->tune_try : cl->tune;
    const clconv__tune_entry *e;
    float u[CLCONV_FILTER_MAX], v[CLCONV_FILTER_MAX];
    memset(ch, 0, sizeof *ch);
    ch->forced = cl->tune_try ? -1 : clconv__forced_variant(cl->kernel);
    if (ch->forced >= 0 || !t) {
        if (ch->forced >= 0) clconv__shape_default(ch->forced, &ch->shape);
        return ch->forced;
    }
    e = clconv__tune_lookup(t, clconv__factor_rank1(f, u, v), g->kw, g->kh, g->out_w,
                            g->out_h);
    /* A local tile that does not fit this call's filter: the built-in choice. */
    if (!e || (e->s.var == CLCONV__LOCAL &&
               clconv__local_bytes_r(g, (size_t)e->s.wg_x, (size_t)e->s.wg_y,
                                     e->s.vec_w) > lim->local_mem))
        return -1;
    ch->forced = e->s.var;
    ch->shape = e->s;
    ch->entry = e->name;
    return ch->forced;
}

void clconv__tune_settle(const clconv__choice *ch, int var, clconv__shape *shape,
                         const char **entry)
{
    if (ch->forced == var && ch->shape.var == var) {
        *shape = ch->shape;
        *entry = ch->entry;
    } else {
        clconv__shape_default(var, shape);
        *entry = NULL;
    }
}

/* ------------------------------------------------------------ the tuner */

/* The grid: filter sides, image sides. */
static const int KS[] = {3, 5, 7, 9, 15, 31, 63};
static const int SIDES[] = {256, 1024, 2048};
#define NK ((int)(sizeof KS / sizeof KS[0]))
#define NSIDES ((int)(sizeof SIDES / sizeof SIDES[0]))
#define NPOINTS (NK * NSIDES * 2)
/* The verification image: not a multiple of any tile, smaller than the
 * largest filters. */
#define VW 67
#define VH 41
/* Spot-checked pixels of each timed output (corners among them). */
#define SPOTS 256
/* A candidate predicted this many times slower than the best so far is not
 * run: it cannot win. */
#define HOPELESS 4.0

/* A candidate: a shape and the time per unit of work it took last
 * (ms per output pixel and tap; < 0: not measured yet). */
typedef struct cand {
    clconv__shape s;
    double rate;
    int min_k;  /* run only from this filter side on */
} cand;

#define C(v, a, b, x, y, k) {{v, a, b, x, y}, -1, k}
static const cand SQ[] = {
    C(CLCONV__TILED, 16, 4, 64, 1, 1),  C(CLCONV__TILED, 8, 4, 64, 1, 1),
    C(CLCONV__TILED, 16, 2, 64, 1, 1),  C(CLCONV__TILED, 8, 2, 64, 1, 1),
    C(CLCONV__TILED, 4, 4, 64, 1, 1),   C(CLCONV__TILED, 16, 4, 16, 4, 1),
    C(CLCONV__TILED, 16, 4, 256, 1, 1), C(CLCONV__NAIVE, 1, 1, 16, 16, 1),
    C(CLCONV__NAIVE, 1, 1, 64, 1, 1),   C(CLCONV__LOCAL, 4, 1, 16, 16, 1),
    C(CLCONV__LOCAL, 2, 1, 16, 16, 1),  C(CLCONV__LOCAL, 4, 1, 32, 8, 1),
    C(CLCONV__FFT, 16, 1, 16, 1, 9),
};
static const cand R1[] = {
    C(CLCONV__SEPARABLE, 16, 4, 64, 1, 1), C(CLCONV__SEPARABLE, 8, 4, 64, 1, 1),
    C(CLCONV__SEPARABLE, 16, 2, 64, 1, 1), C(CLCONV__SEPARABLE, 8, 2, 64, 1, 1),
    C(CLCONV__SEPARABLE, 16, 4, 16, 4, 1), C(CLCONV__TILED, 16, 4, 64, 1, 1),
    C(CLCONV__FFT, 16, 1, 16, 1, 9),
};
#undef C

typedef struct point {
    int rank1, k, side;
    double work;
} point;

static int by_work(const void *a, const void *b)
{
    const double x = ((const point *)a)->work, y = ((const point *)b)->work;
    return x < y ? -1 : x > y;
}

/* Work units of a point for a variant: output pixels times taps (times 2k
 * for the separable passes; pixels alone for the FFT). */
static double units(const point *p, int var)
{
    const double px = (double)p->side * p->side;
    if (var == CLCONV__FFT) return px;
    if (var == CLCONV__SEPARABLE) return px * 2.0 * p->k;
    return px * p->k * p->k;
}

/* One point's inputs: its filter, the verification image and its
 * reference, the timed image and its border maps. */
typedef struct inputs {
    clconv_filter *f;
    clconv_params prm;
    clconv_geometry gv, gt;
    clconv_image8 v8, t8;
    clconv_plane vref, vout, tout;
    int *rmap, *cmap;
} inputs;

static void free_inputs(inputs *in)
{
    clconv_filter_destroy(in->f);
    free(in->v8.data);
    free(in->t8.data);
    clconv_plane_free(&in->vref);
    clconv_plane_free(&in->vout);
    clconv_plane_free(&in->tout);
    free(in->rmap);
    free(in->cmap);
    memset(in, 0, sizeof *in);
}

/* Draws a point's inputs from *seed and computes the verification image's
 * reference. Border modes turn with the point, so each is verified. */
static clconv_status make_inputs(const point *p, int border, uint64_t *seed, inputs *in,
                                 char *err)
{
    clconv_plane vf = {0, 0, NULL}, vpad = {0, 0, NULL};
    float u[CLCONV_FILTER_MAX], v[CLCONV_FILTER_MAX];
    clconv_status st;
    size_t i, n;
    int tries;
    memset(in, 0, sizeof *in);
    /* A "square" filter must not factor (else auto takes it as rank 1). */
    for (tries = 0; tries < 8; tries++) {
        clconv_filter_destroy(in->f);
        in->f = clconv__case_filter(seed, p->k, p->k, 1, p->rank1, err);
        if (!in->f) return CLCONV_E_NOMEM;
        if (clconv__factor_rank1(in->f, u, v) == p->rank1) break;
    }
    in->prm.padding = CLCONV_PAD_SAME;
    in->prm.border = (clconv_border)border;
    in->prm.cval = 7.0f;
    in->prm.stride = 1;
    in->prm.dilation = 1;
    st = clconv_geometry_compute(VW, VH, p->k, p->k, &in->prm, &in->gv, err);
    if (st == CLCONV_OK)
        st = clconv_geometry_compute(p->side, p->side, p->k, p->k, &in->prm, &in->gt, err);
    if (st != CLCONV_OK) return st;
    in->v8.width = VW;
    in->v8.height = VH;
    in->t8.width = in->t8.height = p->side;
    n = (size_t)p->side * (size_t)p->side;
    in->v8.data = malloc(VW * VH);
    in->t8.data = malloc(n);
    in->rmap = clconv__axis_map(p->side, in->gt.pad_top, in->gt.pad_bottom, in->prm.border);
    in->cmap = clconv__axis_map(p->side, in->gt.pad_left, in->gt.pad_right, in->prm.border);
    if (!in->v8.data || !in->t8.data || !in->rmap || !in->cmap) goto nomem;
    for (i = 0; i < VW * VH; i++) in->v8.data[i] = (unsigned char)clconv__rnd_int(seed, 0, 255);
    for (i = 0; i < n; i++) in->t8.data[i] = (unsigned char)clconv__rnd_int(seed, 0, 255);
    if (clconv_plane_alloc(&in->vref, in->gv.out_w, in->gv.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&in->vout, in->gv.out_w, in->gv.out_h) != CLCONV_OK ||
        clconv_plane_alloc(&in->tout, in->gt.out_w, in->gt.out_h) != CLCONV_OK)
        goto nomem;
    st = clconv__plane_from_u8(&in->v8, &vf, err);
    if (st == CLCONV_OK) st = clconv_pad(&vf, &in->gv, &in->prm, &vpad, err);
    if (st == CLCONV_OK) st = clconv_conv_ref(&vpad, in->f, &in->gv, &in->vref, NULL);
    clconv_plane_free(&vf);
    clconv_plane_free(&vpad);
    return st;
nomem:
    clconv__err(err, "out of memory");
    return CLCONV_E_NOMEM;
}

/* Runs the call with candidate c as the only table entry (c NULL: auto's
 * own choice, no table); *kernel is the variant that ran, *ms the call's
 * wall time. The output is poisoned first. */
static clconv_status run_with(clconv_cl *cl, clconv__tune_table *one, const cand *c,
                              const point *p, const clconv_image8 *img,
                              const clconv_geometry *g, const clconv_params *prm,
                              const clconv_filter *f, clconv_plane *out,
                              const char **kernel, double *ms, char *err)
{
    clconv_cl_timing tm;
    clconv_status st;
    double t0;
    size_t i, n = (size_t)out->width * (size_t)out->height;
    for (i = 0; i < n; i++) out->data[i] = NAN;
    memset(&one->e[0], 0, sizeof one->e[0]);
    one->n = 0;
    if (c) {
        one->n = 1;
        one->e[0].rank1 = p->rank1;
        one->e[0].k = p->k;
        one->e[0].side = p->side;
        one->e[0].s = c->s;
        snprintf(one->e[0].name, sizeof one->e[0].name, "candidate");
    }
    cl->tune_try = one;
    memset(&tm, 0, sizeof tm);
    t0 = clconv__now_ms();
    st = clconv_conv_cl_image(cl, NULL, img, prm, f, g, out, &tm, err);
    *ms = clconv__now_ms() - t0;
    cl->tune_try = NULL;
    *kernel = st == CLCONV_OK ? tm.kernel : NULL;
    return st;
}

/* Whether out equals the reference bit for bit (integer taps, 8-bit input:
 * DESIGN.md §2 requires it of every variant). */
static int exact(const clconv_plane *out, const clconv_plane *ref)
{
    size_t i, n = (size_t)out->width * (size_t)out->height;
    for (i = 0; i < n; i++)
        if (out->data[i] != ref->data[i]) return 0;
    return 1;
}

/* The spot check of a timed output: the corners and random pixels. */
static int spot_ok(const inputs *in, uint64_t *seed)
{
    int xs[SPOTS], ys[SPOTS], i;
    const int w = in->gt.out_w, h = in->gt.out_h;
    clconv_verify_result r;
    for (i = 0; i < SPOTS; i++) {
        xs[i] = i < 4 ? (i & 1) * (w - 1) : clconv__rnd_int(seed, 0, w - 1);
        ys[i] = i < 4 ? (i >> 1) * (h - 1) : clconv__rnd_int(seed, 0, h - 1);
    }
    clconv__verify_points(&in->tout, NULL, in->t8.data, in->gt.in_w, in->rmap, in->cmap,
                          in->prm.cval, in->f, &in->gt, xs, ys, SPOTS, &r);
    return r.bad == 0;
}

/* The tuner's running state. */
typedef struct tuner {
    clconv_cl *cl;
    clconv__tune_table *one;
    double deadline, build_ms;
    clconv_tune_result *r;
    uint64_t seed;
    int out_of_time;
    cand sq[sizeof SQ / sizeof SQ[0]], r1[sizeof R1 / sizeof R1[0]];
} tuner;

/* Whether candidate c's tile sizes need a program not built yet. */
static int needs_build(const clconv_cl *cl, const cand *c)
{
    int i;
    if (!c || c->s.var == CLCONV__NAIVE || c->s.var == CLCONV__FFT) return 0;
    if ((int)clconv__registry[c->s.var].vw == c->s.vec_w &&
        (int)clconv__registry[c->s.var].vh == c->s.tile_rows)
        return 0;
    for (i = 0; i < CLCONV__ALT_PROGS; i++)
        if (cl->alt[i].program && cl->alt[i].var == c->s.var &&
            cl->alt[i].vec_w == c->s.vec_w && cl->alt[i].tile_rows == c->s.tile_rows)
            return 0;
    return 1;
}

/* Times one candidate (c NULL: auto's own choice) at point p: verified on
 * the small image against the reference, then timed on the point's image
 * (the best of up to 3 runs, the first spot-checked). *ms < 0 when it was
 * not timed; *kernel the variant that ran. Sets T->out_of_time instead of
 * starting what the budget cannot hold. */
static void try_cand(tuner *T, cand *c, const point *p, inputs *in, double best,
                     double *ms, const char **kernel)
{
    char err[CLCONV_ERR_MAX];
    const char *k = NULL;
    const int build = needs_build(T->cl, c);
    const char *want = c ? clconv__variant_name(c->s.var) : NULL;
    double t, t1, pred;
    int reps;
    clconv_status st;
    *ms = -1;
    *kernel = NULL;
    if (c && c->min_k > p->k) return;
    pred = c && c->rate >= 0 ? c->rate * units(p, c->s.var) : -1;
    if (pred >= 0 && best >= 0 && pred > HOPELESS * best) {
        T->r->skipped++;
        return;
    }
    if (clconv__now_ms() + (build ? T->build_ms : 0) + (pred > 0 ? 2 * pred : 0) >
        T->deadline) {
        T->out_of_time = 1;
        return;
    }
    t = clconv__now_ms();
    st = run_with(T->cl, T->one, c, p, &in->v8, &in->gv, &in->prm, in->f, &in->vout, &k,
                  &t1, err);
    if (build && st == CLCONV_OK) T->build_ms = fmax(T->build_ms, clconv__now_ms() - t);
    if (st != CLCONV_OK || !exact(&in->vout, &in->vref)) {
        T->r->refused++; /* wrong or failed: never kept */
        return;
    }
    if (c && strcmp(k, want) != 0) {
        T->r->skipped++; /* it does not run this point (fell back) */
        return;
    }
    if (pred < 0) {
        /* Scaled from the small image, run again warm (the first run may
         * have built a program or set the device up): an overestimate,
         * since its fixed costs scale too. */
        if (run_with(T->cl, T->one, c, p, &in->v8, &in->gv, &in->prm, in->f, &in->vout,
                     &k, &t1, err) != CLCONV_OK) {
            T->r->refused++;
            return;
        }
        pred = t1 * ((double)p->side * p->side) / (VW * VH);
    }
    if (clconv__now_ms() + pred > T->deadline) {
        T->out_of_time = 1;
        return;
    }
    for (reps = 0; reps < 3; reps++) {
        st = run_with(T->cl, T->one, c, p, &in->t8, &in->gt, &in->prm, in->f, &in->tout,
                      &k, &t, err);
        if (st != CLCONV_OK || (c && strcmp(k, want) != 0) ||
            (reps == 0 && !spot_ok(in, &T->seed))) {
            T->r->refused++;
            *ms = -1;
            return;
        }
        if (*ms < 0 || t < *ms) *ms = t;
        if (clconv__now_ms() + *ms > T->deadline) break;
    }
    if (c) c->rate = *ms / units(p, c->s.var);
    *kernel = k;
    T->r->timed++;
}

static int by_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The winner w against the built-in choice once more, interleaved (each
 * CONFIRM times, alternating, so both see the same load): one candidate's
 * lucky run on a busy machine must not replace the built-in choice. The
 * winner stays only when its median is at least 3% below the built-in
 * one's; else the entry records the built-in variant and shape. Skipped
 * (the winner kept) when the budget cannot hold it. */
#define CONFIRM 3
static void confirm(tuner *T, const cand *w, const point *p, inputs *in,
                    clconv__tune_entry *e)
{
    double a[CONFIRM], b[CONFIRM];
    const char *k = NULL, *kd = NULL;
    char err[CLCONV_ERR_MAX];
    int i;
    if (clconv__now_ms() + CONFIRM * (e->ms + e->default_ms) > T->deadline) return;
    for (i = 0; i < CONFIRM; i++) {
        if (run_with(T->cl, T->one, NULL, p, &in->t8, &in->gt, &in->prm, in->f,
                     &in->tout, &kd, &a[i], err) != CLCONV_OK ||
            run_with(T->cl, T->one, w, p, &in->t8, &in->gt, &in->prm, in->f, &in->tout,
                     &k, &b[i], err) != CLCONV_OK)
            return;
    }
    qsort(a, CONFIRM, sizeof a[0], by_double);
    qsort(b, CONFIRM, sizeof b[0], by_double);
    if (b[CONFIRM / 2] < 0.97 * a[CONFIRM / 2]) {
        e->ms = b[CONFIRM / 2];
        e->default_ms = a[CONFIRM / 2];
    } else {
        clconv__shape_default(clconv__variant_of(kd), &e->s);
        e->ms = e->default_ms = a[CONFIRM / 2];
    }
}

/* Measures point p into entry e; 0 when the budget ran out first (e not
 * complete). */
static int tune_point(tuner *T, const point *p, int border, clconv__tune_entry *e,
                      char *line, size_t ln)
{
    cand *cs = p->rank1 ? T->r1 : T->sq;
    const int nc = p->rank1 ? (int)(sizeof T->r1 / sizeof T->r1[0])
                            : (int)(sizeof T->sq / sizeof T->sq[0]);
    char err[CLCONV_ERR_MAX];
    const char *k;
    double ms, best = -1;
    inputs in;
    int i, win = -1;
    if (make_inputs(p, border, &T->seed, &in, err) != CLCONV_OK) {
        free_inputs(&in);
        return 0;
    }
    memset(e, 0, sizeof *e);
    e->rank1 = p->rank1;
    e->k = p->k;
    e->side = p->side;
    /* The built-in choice first: the time to beat, and the table's record
     * of what tuning gains. */
    try_cand(T, NULL, p, &in, -1, &ms, &k);
    if (ms >= 0) {
        e->default_ms = best = e->ms = ms;
        clconv__shape_default(clconv__variant_of(k), &e->s);
    }
    for (i = 0; i < nc && !T->out_of_time && best >= 0; i++) {
        try_cand(T, &cs[i], p, &in, best, &ms, &k);
        if (ms >= 0 && ms < best) {
            best = e->ms = ms;
            e->s = cs[i].s;
            win = i;
        }
    }
    if (win >= 0) confirm(T, &cs[win], p, &in, e);
    free_inputs(&in);
    /* A point the budget cut short keeps the best measured so far: the
     * built-in choice was measured first, so it is never worse. */
    if (best < 0) return 0;
    snprintf(e->name, sizeof e->name, "%s%d@%d", p->rank1 ? "r1-" : "sq", p->k, p->side);
    snprintf(line, ln, "%s: %s vec %d rows %d group %dx%d, %.3f ms (built-in %.3f ms)",
             e->name, clconv__variant_name(e->s.var), e->s.vec_w, e->s.tile_rows,
             e->s.wg_x, e->s.wg_y, e->ms, e->default_ms);
    return 1;
}

clconv_status clconv_cl_tune(clconv_cl *cl, double budget_s, clconv_tune_fn fn,
                             void *user, clconv_tune_result *r,
                             char err[CLCONV_ERR_MAX])
{
    const double t0 = clconv__now_ms();
    clconv__tune_table *t = NULL, *one = NULL;
    point pts[NPOINTS];
    tuner T;
    char dir[3072], name[40], key[1536], line[256], *text = NULL;
    size_t len = 0;
    int i, j, n = 0, dfd = -1;
    clconv_status st = CLCONV_OK;

    memset(r, 0, sizeof *r);
    if (!(budget_s > 0) || budget_s > 1e6) {
        clconv__err(err, "the tuning budget must be a number of seconds above 0");
        return CLCONV_E_INVALID;
    }
    dir[0] = '\0';
    dfd = table_file(&cl->info, dir, sizeof dir, name);
    if (dfd < 0) {
        const char *env = getenv("CLCONV_CACHE_DIR");
        if (env && (!*env || strcmp(env, "off") == 0))
            clconv__err(err, "no directory to keep the tuning table in: the cache "
                        "directory is off (CLCONV_CACHE_DIR=%s)", env);
        else
            clconv__err(err, "no directory to keep the tuning table in: the cache "
                        "directory %.1000s cannot be made or is refused (see the warning "
                        "above; CLCONV_CACHE_DIR picks another)", dir[0] ? dir : "(none: "
                        "no HOME)");
        return CLCONV_E_IO;
    }
    t = calloc(1, sizeof *t);
    one = calloc(1, sizeof *one);
    if (!t || !one) {
        clconv__err(err, "out of memory");
        st = CLCONV_E_NOMEM;
        goto cleanup;
    }
    for (i = 0; i < NSIDES; i++)
        for (j = 0; j < NK * 2; j++) {
            point *p = &pts[n++];
            p->rank1 = j % 2;
            p->k = KS[j / 2];
            p->side = SIDES[i];
            p->work = (double)p->side * p->side * p->k * p->k * (p->rank1 ? 1.01 : 1);
        }
    qsort(pts, (size_t)n, sizeof pts[0], by_work);
    memset(&T, 0, sizeof T);
    T.cl = cl;
    T.one = one;
    T.r = r;
    T.seed = 0x636c636f6e76ULL; /* fixed: tables are comparable run to run */
    T.build_ms = 2500;          /* until a build is measured (PoCL, cold) */
    /* What is left for writing the table. */
    T.deadline = t0 + budget_s * 1000.0 - fmin(250.0, budget_s * 50.0);
    memcpy(T.sq, SQ, sizeof SQ);
    memcpy(T.r1, R1, sizeof R1);
    r->points = n;
    for (i = 0; i < n && !T.out_of_time; i++) {
        if (!tune_point(&T, &pts[i], i % 5, &t->e[t->n], line, sizeof line)) break;
        t->n++;
        if (fn) fn(line, user);
    }
    r->measured = t->n;
    r->complete = t->n == n;
    table_key(&cl->info, key, sizeof key);
    text = format_table(t, key, budget_s, t->n, n, &len);
    if (!text || !clconv__cache_write(dfd, name, text, len)) {
        clconv__err(err, "cannot write the tuning table %s/%s", dir, name);
        st = CLCONV_E_IO;
        goto cleanup;
    }
    snprintf(r->path, sizeof r->path, "%.960s/%.40s", dir, name);
    /* This handle follows the new table at once; the old one stays until
     * close (reports may point at its entries' names). */
    if (cl->tune) {
        struct clconv_tune_old *o = malloc(sizeof *o);
        if (o) {
            o->t = cl->tune;
            o->next = cl->tune_old;
            cl->tune_old = o;
            cl->tune = NULL;
        }
    }
    if (!cl->tune) {
        cl->tune = t;
        t = NULL;
    }
cleanup:
    if (dfd >= 0) close(dfd);
    free(text);
    free(t);
    free(one);
    r->seconds = (clconv__now_ms() - t0) / 1000.0;
    return st;
}
