/* registry.c — the kernel registry: one row per kernel variant (its name,
 * kernels/ files, build options, what it runs, its outputs per work-item
 * and work-group, its entry points and its launch), the main program built
 * from the rows, and the launches that set each variant's arguments for
 * one band. docs/layers.md has the recipe for a new variant.
 * It must not choose a variant for a call (plan.c) or read results back
 * (bands.c).
 */
#include "cl/cl.h"

#include <stdio.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define TILE_OPTS "-DVEC_W=" STR(CLCONV_VEC_W) " -DTILE_ROWS=" STR(CLCONV_TILE_ROWS)

/* One kernel argument: its size and where its value is. */
typedef struct karg {
    size_t size;
    const void *value;
} karg;

static clconv_status set_args(cl_kernel k, const karg *a, cl_uint n, char *err)
{
    clconv_status st = CLCONV_OK;
    cl_uint i;
    for (i = 0; i < n; i++)
        CL_TRY(err, clSetKernelArg(k, i, a[i].size, a[i].value));
cleanup:
    return st;
}

/* naive, tiled and local: one kernel over the band (direct.cl, border.cl,
 * local.cl say the arguments). */
static clconv_status launch_direct(void *user, const clconv__band *b,
                                   cl_event ev[4], char *err)
{
    const clconv__call *c = user;
    const clconv__kernel_desc *d = &clconv__registry[c->var];
    const clconv_geometry *g = c->g;
    const size_t ow = (size_t)g->out_w;
    const size_t vw = (size_t)c->shape.vec_w, vh = (size_t)c->shape.tile_rows;
    const size_t gsz[2] = {clconv__round_up((ow + vw - 1) / vw, c->lx),
                           clconv__round_up(((size_t)b->rows + vh - 1) / vh, c->ly)};
    const size_t lsz[2] = {c->lx, c->ly};
    const int prow0 = b->r0 * g->stride;
    const int *fa = c->frame_args;
    clconv_status st = CLCONV_OK;
    if (!c->src) {
        const karg ka[] = {
            {sizeof(cl_mem), &b->in}, {sizeof(cl_mem), &b->out},
            {sizeof(cl_mem), &c->taps}, {sizeof(int), &g->padded_w},
            {sizeof(int), &g->out_w}, {sizeof(int), &b->rows},
            {sizeof(int), &g->kw}, {sizeof(int), &g->kh},
            {sizeof(int), &g->stride}, {sizeof(int), &g->dilation}};
        st = set_args(c->k, ka, sizeof ka / sizeof ka[0], err);
        if (st != CLCONV_OK) goto cleanup;
        if (d->local_tile)
            CL_TRY(err, clSetKernelArg(c->k, 10,
                                       (size_t)clconv__local_bytes_r(g, c->lx, c->ly,
                                                                     c->shape.vec_w),
                                       NULL));
    } else {
        const karg ka[] = {
            {sizeof(cl_mem), &b->in}, {sizeof(cl_mem), &b->out},
            {sizeof(cl_mem), &c->taps}, {sizeof(cl_mem), &c->rmap},
            {sizeof(cl_mem), &c->cmap}, {sizeof(int), &c->sw},
            {sizeof(int), &g->out_w}, {sizeof(int), &b->rows},
            {sizeof(int), &g->kw}, {sizeof(int), &g->kh},
            {sizeof(int), &g->stride}, {sizeof(int), &g->dilation},
            {sizeof(int), &prow0}, {sizeof(int), &c->r_lo},
            {sizeof(int), &c->r_hi}, {sizeof(int), &c->c_lo},
            {sizeof(int), &c->c_hi}, {sizeof(float), &c->cval},
            /* tiled_src only: the border strips */
            {sizeof(cl_mem), &c->frame}, {sizeof(int), &fa[0]},
            {sizeof(int), &fa[1]}, {sizeof(int), &fa[2]},
            {sizeof(int), &fa[3]}, {sizeof(int), &fa[4]},
            {sizeof(int), &fa[5]}, {sizeof(int), &fa[6]},
            {sizeof(int), &fa[7]}};
        st = set_args(c->k, ka, c->frame ? 27 : 18, err);
        if (st != CLCONV_OK) goto cleanup;
    }
    CL_TRY(err, clEnqueueNDRangeKernel(c->cl->queue, c->k, 2, NULL, gsz, lsz, 0,
                                       NULL, &ev[0]));
cleanup:
    return st;
}

/* separable: the row pass into cl->tmp_buf, then the column pass
 * (separable.cl). */
static clconv_status launch_separable(void *user, const clconv__band *b,
                                      cl_event ev[4], char *err)
{
    const clconv__call *c = user;
    const clconv_geometry *g = c->g;
    const size_t ow = (size_t)g->out_w;
    const size_t vw = (size_t)c->shape.vec_w, vh = (size_t)c->shape.tile_rows;
    const int in_rows = b->rows - 1 + g->dilation * (g->kh - 1) + 1;
    const int prow0 = b->r0 * g->stride;
    const size_t gr[2] = {clconv__round_up((ow + vw - 1) / vw, c->lx),
                          clconv__round_up((size_t)in_rows, c->ly)};
    const size_t lr[2] = {c->lx, c->ly};
    const size_t gc[2] = {clconv__round_up((ow + vw - 1) / vw, c->lx2),
                          clconv__round_up(((size_t)b->rows + vh - 1) / vh, c->ly2)};
    const size_t lc[2] = {c->lx2, c->ly2};
    cl_mem tmp = c->cl->tmp_buf;
    clconv_status st = CLCONV_OK;
    if (!c->src) {
        const karg ka[] = {
            {sizeof(cl_mem), &b->in}, {sizeof(cl_mem), &tmp},
            {sizeof(cl_mem), &c->taps}, {sizeof(int), &g->padded_w},
            {sizeof(int), &g->out_w}, {sizeof(int), &in_rows},
            {sizeof(int), &g->kw}, {sizeof(int), &g->dilation}};
        st = set_args(c->k, ka, sizeof ka / sizeof ka[0], err);
    } else {
        const karg ka[] = {
            {sizeof(cl_mem), &b->in}, {sizeof(cl_mem), &tmp},
            {sizeof(cl_mem), &c->taps}, {sizeof(cl_mem), &c->rmap},
            {sizeof(cl_mem), &c->cmap}, {sizeof(int), &c->sw},
            {sizeof(int), &g->out_w}, {sizeof(int), &in_rows},
            {sizeof(int), &g->kw}, {sizeof(int), &g->dilation},
            {sizeof(int), &prow0}, {sizeof(int), &c->c_lo},
            {sizeof(int), &c->c_hi}, {sizeof(float), &c->cval}};
        st = set_args(c->k, ka, sizeof ka / sizeof ka[0], err);
    }
    if (st != CLCONV_OK) goto cleanup;
    CL_TRY(err, clEnqueueNDRangeKernel(c->cl->queue, c->k, 2, NULL, gr, lr, 0,
                                       NULL, &ev[0]));
    {
        const karg ka[] = {
            {sizeof(cl_mem), &tmp}, {sizeof(cl_mem), &b->out},
            {sizeof(cl_mem), &c->taps_u}, {sizeof(int), &g->out_w},
            {sizeof(int), &b->rows}, {sizeof(int), &g->kh},
            {sizeof(int), &g->dilation}};
        st = set_args(c->k2, ka, sizeof ka / sizeof ka[0], err);
        if (st != CLCONV_OK) goto cleanup;
    }
    CL_TRY(err, clEnqueueNDRangeKernel(c->cl->queue, c->k2, 2, NULL, gc, lc, 0,
                                       NULL, &ev[1]));
cleanup:
    return st;
}

/* Columns: name, files, options, stride 1 only, __local tile, rank 1 only,
 * outputs per work-item (x, y), work-group wanted (x, y), entry points,
 * launch. Work-groups: 16 x 16 pixels for naive and local; a row of 64
 * blocks (1024 pixels) for the vector kernels, which on PoCL streams each
 * input row further before the next group starts (bench/RESULTS.md). The
 * default choice among them is plan.c's (auto never takes local). */
const clconv__kernel_desc clconv__registry[CLCONV__VARIANTS] = {
    {"naive", "direct.cl border.cl", TILE_OPTS, 0, 0, 0, 1, 1, 16, 16,
     {"conv2d_const", "conv2d_global", "conv2d_src_f32_const",
      "conv2d_src_f32_global", "conv2d_src_u8_const", "conv2d_src_u8_global", NULL},
     launch_direct},
    {"tiled", "direct.cl border.cl", TILE_OPTS, 1, 0, 0, CLCONV_VEC_W,
     CLCONV_TILE_ROWS, 64, 1,
     {"conv2d_tiled_const", "conv2d_tiled_global", "conv2d_tiled_src_f32_const",
      "conv2d_tiled_src_f32_global", "conv2d_tiled_src_u8_const",
      "conv2d_tiled_src_u8_global", NULL},
     launch_direct},
    {"separable", "separable.cl", TILE_OPTS, 1, 0, 1, CLCONV_VEC_W,
     CLCONV_TILE_ROWS, 64, 1,
     {"sep_rows", NULL, "sep_rows_src_f32", NULL, "sep_rows_src_u8", NULL, "sep_cols"},
     launch_separable},
    {"local", "local.cl", "-DLOCAL_R=" STR(CLCONV_LOCAL_R), 1, 1, 0,
     CLCONV_LOCAL_R, 1, 16, 16,
     {"conv2d_local_const", "conv2d_local_global", NULL, NULL, NULL, NULL, NULL},
     launch_direct},
    /* Built apart, on first use, one program per block side (fft.c). */
    {"fft", NULL, NULL, 1, 0, 0, 16, 1, 16, 1,
     {NULL, NULL, NULL, NULL, NULL, NULL, NULL}, NULL},
};

/* Appends each space-separated word of `words` to list (n entries so far,
 * up to max) unless it is there already. */
static int add_words(const char **list, size_t *len, char buf[][64], int n,
                     int max, const char *words)
{
    while (words && *words && n < max) {
        const size_t w = strcspn(words, " ");
        int i, seen = 0;
        if (w > 0 && w < 64) {
            for (i = 0; i < n; i++)
                if (strlen(list[i]) == w && strncmp(list[i], words, w) == 0) seen = 1;
            if (!seen) {
                memcpy(buf[n], words, w);
                buf[n][w] = '\0';
                list[n] = buf[n];
                len[n] = w;
                n++;
            }
        }
        words += w;
        words += strspn(words, " ");
    }
    return n;
}

clconv_status clconv__registry_build(clconv_cl *cl, char *err)
{
    enum { MAXW = 32 };
    char fbuf[MAXW][64], obuf[MAXW][64], opts[512] = "";
    const char *files[MAXW], *optw[MAXW];
    size_t flen[MAXW], olen[MAXW], used = 0;
    clconv__kernel_ref ks[CLCONV__VARIANTS * CLCONV__SLOTS];
    /* A test switch: a syntax error the compiler must report with its log. */
    const char *broken = "__kernel void conv2d_const( { this is not C }\n";
    int nf = 0, no = 0, i, j, nk = 0;
    clconv_status st;

    for (i = 0; i < CLCONV__VARIANTS; i++) {
        if (!clconv__registry[i].files) continue;
        nf = add_words(files, flen, fbuf, nf, MAXW, clconv__registry[i].files);
        no = add_words(optw, olen, obuf, no, MAXW, clconv__registry[i].options);
    }
    for (i = 0; i < no; i++)
        used += (size_t)snprintf(opts + used, sizeof opts - used, "%s%s",
                                 i ? " " : "", optw[i]);
    st = clconv__build_program(cl, files, nf, opts,
                               clconv__fault("cl-build") ? broken : NULL,
                               &cl->program, err);
    if (st != CLCONV_OK) return st;
    for (i = 0; i < CLCONV__VARIANTS; i++)
        for (j = 0; j < CLCONV__SLOTS; j++)
            if (clconv__registry[i].files && clconv__registry[i].entry[j]) {
                ks[nk].name = clconv__registry[i].entry[j];
                ks[nk++].k = &cl->k[i][j];
            }
    return clconv__create_kernels(cl->program, ks, (size_t)nk, err);
}

/* The kernels of variant var built with shape s's tile sizes: the main
 * program's for the built-in ones, else a program of the variant's files
 * alone built with s's -D options (docs/kernels.md), kept in cl->alt. */
static clconv_status shape_kernels(clconv_cl *cl, int var, const clconv__shape *s,
                                   cl_kernel **k, char *err)
{
    const clconv__kernel_desc *d = &clconv__registry[var];
    struct clconv_alt_prog *a = NULL;
    char fbuf[8][64], opts[96];
    const char *files[8];
    size_t flen[8];
    clconv__kernel_ref ks[CLCONV__SLOTS];
    int i, nf, nk = 0;
    clconv_status st;
    if ((int)d->vw == s->vec_w && (int)d->vh == s->tile_rows) {
        *k = cl->k[var];
        return CLCONV_OK;
    }
    for (i = 0; i < CLCONV__ALT_PROGS; i++) {
        struct clconv_alt_prog *p = &cl->alt[i];
        if (p->program && p->var == var && p->vec_w == s->vec_w &&
            p->tile_rows == s->tile_rows) {
            p->used = ++cl->alt_clock;
            *k = p->k;
            return CLCONV_OK;
        }
        if (!a || !p->program || (a->program && p->used < a->used)) a = p;
    }
    /* The least recently used slot: calls hold the lock, so none runs it. */
    for (i = 0; i < CLCONV__SLOTS; i++)
        if (a->k[i]) clReleaseKernel(a->k[i]);
    if (a->program) clReleaseProgram(a->program);
    memset(a, 0, sizeof *a);
    if (var == CLCONV__LOCAL)
        snprintf(opts, sizeof opts, "-DLOCAL_R=%d", s->vec_w);
    else
        snprintf(opts, sizeof opts, "-DVEC_W=%d -DTILE_ROWS=%d", s->vec_w, s->tile_rows);
    nf = add_words(files, flen, fbuf, 0, 8, d->files);
    st = clconv__build_program(cl, files, nf, opts, NULL, &a->program, err);
    if (st != CLCONV_OK) return st;
    for (i = 0; i < CLCONV__SLOTS; i++)
        if (d->entry[i]) {
            ks[nk].name = d->entry[i];
            ks[nk++].k = &a->k[i];
        }
    st = clconv__create_kernels(a->program, ks, (size_t)nk, err);
    if (st != CLCONV_OK) {
        for (i = 0; i < CLCONV__SLOTS; i++)
            if (a->k[i]) clReleaseKernel(a->k[i]);
        clReleaseProgram(a->program);
        memset(a, 0, sizeof *a);
        return st;
    }
    a->var = var;
    a->vec_w = s->vec_w;
    a->tile_rows = s->tile_rows;
    a->used = ++cl->alt_clock;
    *k = a->k;
    return CLCONV_OK;
}

void clconv__registry_release_alt(clconv_cl *cl)
{
    int i, j;
    for (i = 0; i < CLCONV__ALT_PROGS; i++) {
        for (j = 0; j < CLCONV__SLOTS; j++)
            if (cl->alt[i].k[j]) clReleaseKernel(cl->alt[i].k[j]);
        if (cl->alt[i].program) clReleaseProgram(cl->alt[i].program);
        memset(&cl->alt[i], 0, sizeof cl->alt[i]);
    }
}

clconv_status clconv__registry_pick(clconv__call *c, int var, int u8,
                                    int in_const, char *err)
{
    const clconv__kernel_desc *d = &clconv__registry[var];
    const int slot = (c->src ? (u8 ? CLCONV__SRC_U8_CONST : CLCONV__SRC_F32_CONST)
                             : CLCONV__PAD_CONST) + !in_const;
    cl_kernel *k = NULL;
    clconv_status st;
    /* A shape for another variant (or none) means the built-in one. */
    if (c->shape.var != var || !clconv__shape_valid(&c->shape))
        clconv__shape_default(var, &c->shape);
    st = shape_kernels(c->cl, var, &c->shape, &k, err);
    if (st != CLCONV_OK) return st;
    c->var = var;
    c->k = k[slot];
    c->k2 = k[CLCONV__AUX];
    if (!c->k) {
        clconv__err(err, "kernel %s has no %s entry point", d->name,
                    c->src ? "border-reading" : "padded");
        return CLCONV_E_INVALID;
    }
    st = clconv__group_size(c->cl, c->k, (size_t)c->shape.wg_x, (size_t)c->shape.wg_y,
                            &c->lx, &c->ly, err);
    if (st == CLCONV_OK && c->k2)
        st = clconv__group_size(c->cl, c->k2, (size_t)c->shape.wg_x,
                                (size_t)c->shape.wg_y, &c->lx2, &c->ly2, err);
    return st;
}
