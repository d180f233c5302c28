/* test_plan.c — the device path's decisions (host/cl/plan.c) checked
 * without a device: the memory budget, which kernel variant a call takes
 * (auto and forced), the separable factors, when the FFT path may run, and
 * band sizes against every limit they must respect. Expected values are
 * worked out by hand from the rules in plan.c's comments.
 */
#include "clconv.h"
#include "cl/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

static void check_(int ok, const char *what, int line)
{
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "test_plan.c:%d: FAILED: %s\n", line, what);
    }
}
#define CHECK(c) check_((c) != 0, #c, __LINE__)

static void check_int_(long long got, long long want, const char *what, int line)
{
    checks++;
    if (got != want) {
        failures++;
        fprintf(stderr, "test_plan.c:%d: FAILED: %s = %lld, expected %lld\n", line,
                what, got, want);
    }
}
#define CHECK_INT(got, want) check_int_((got), (want), #got, __LINE__)

static clconv_filter *spec(const char *s)
{
    clconv_filter *f = NULL;
    if (clconv_filter_parse(s, &f, NULL) != CLCONV_OK) {
        fprintf(stderr, "test_plan.c: cannot parse %s\n", s);
        exit(1);
    }
    return f;
}

static clconv_filter *taps(int kh, int kw, const double *t)
{
    clconv_filter *f = NULL;
    if (clconv_filter_create(kh, kw, t, "test", &f, NULL) != CLCONV_OK) exit(1);
    return f;
}

static clconv_geometry geom(int w, int h, const clconv_filter *f, int stride, int dil)
{
    clconv_params p;
    clconv_geometry g;
    clconv_params_init(&p);
    p.stride = stride;
    p.dilation = dil;
    if (clconv_geometry_compute(w, h, clconv_filter_width(f), clconv_filter_height(f),
                                &p, &g, NULL) != CLCONV_OK)
        exit(1);
    return g;
}

/* A device with room for everything, or with the limits given. */
static clconv__limits big(void)
{
    clconv__limits l = {1ULL << 32, 1ULL << 34, 2ULL << 20, 64 << 10, 0, 0};
    return l;
}

static void test_budget(void)
{
    clconv__limits l = {0, 0, 0, 0, 0, 0};
    unsigned long long ma, b;
    clconv__budget(&l, &ma, &b);
    CHECK_INT((long long)ma, 1LL << 27); /* unknown max alloc: 128 MiB */
    CHECK_INT((long long)b, 1LL << 27);  /* unknown global: one allocation */
    l.max_alloc = 1000;
    l.global_mem = 3000;
    clconv__budget(&l, &ma, &b);
    CHECK_INT((long long)ma, 1000);
    CHECK_INT((long long)b, 1500); /* half the global memory */
}

static void test_names(void)
{
    int v;
    for (v = 0; v < CLCONV__VARIANTS; v++) CHECK_INT(clconv__variant_of(clconv__variant_name(v)), v);
    CHECK(clconv__variant_name(CLCONV__VARIANTS) == NULL);
    CHECK_INT(clconv__variant_of("auto"), -1);
    CHECK_INT(clconv__variant_of("FFT"), -1);
    CHECK_INT(clconv__variant_of(NULL), -1);
    CHECK_INT(clconv__variant_of("tiled"), CLCONV__TILED);
}

static void test_variants(void)
{
    const clconv__limits l = big();
    clconv__limits tight = big();
    float u[CLCONV_FILTER_MAX], v[CLCONV_FILTER_MAX];
    clconv_filter *sharpen = spec("sharpen"), *box7 = spec("box:7"), *sobel = spec("sobel-left");
    clconv_filter *g9 = spec("gaussian:9"), *emboss = spec("emboss");
    clconv_geometry g;
    double big_taps[4] = {20000, 20000, 20000, 20000};
    clconv_filter *huge = taps(2, 2, big_taps);
    int i, j;

    g = geom(50, 40, sharpen, 1, 1);
    CHECK_INT(clconv__choose_variant(&l, -1, sharpen, &g, u, v), CLCONV__TILED);
    CHECK_INT(clconv__choose_variant(&l, CLCONV__NAIVE, sharpen, &g, u, v), CLCONV__NAIVE);
    /* sharpen has rank 2: separable cannot run it, the default stands. */
    CHECK_INT(clconv__choose_variant(&l, CLCONV__SEPARABLE, sharpen, &g, u, v), CLCONV__TILED);
    g = geom(50, 40, sharpen, 2, 1);
    CHECK_INT(clconv__choose_variant(&l, -1, sharpen, &g, u, v), CLCONV__NAIVE);
    CHECK_INT(clconv__choose_variant(&l, CLCONV__TILED, sharpen, &g, u, v), CLCONV__NAIVE);

    /* box:7, 49 taps of rank 1: separable by default, factors exact. */
    g = geom(50, 40, box7, 1, 1);
    CHECK_INT(clconv__choose_variant(&l, -1, box7, &g, u, v), CLCONV__SEPARABLE);
    for (i = 0; i < 7; i++)
        for (j = 0; j < 7; j++)
            CHECK(fabs((double)u[i] * v[j] - 1.0 / 49) < 1e-8);
    /* forced fft is decided apart: the default choice stands beside it. */
    g = geom(50, 40, g9, 1, 1);
    CHECK_INT(clconv__choose_variant(&l, CLCONV__FFT, g9, &g, u, v), CLCONV__SEPARABLE);
    CHECK_INT(clconv__choose_variant(&l, CLCONV__TILED, g9, &g, u, v), CLCONV__TILED);

    /* sobel: 9 taps, too few to pay by default; forced, integer factors
     * whose products are the taps exactly. */
    g = geom(50, 40, sobel, 1, 1);
    CHECK_INT(clconv__choose_variant(&l, -1, sobel, &g, u, v), CLCONV__TILED);
    CHECK_INT(clconv__choose_variant(&l, CLCONV__SEPARABLE, sobel, &g, u, v), CLCONV__SEPARABLE);
    for (i = 0; i < 3; i++)
        for (j = 0; j < 3; j++) {
            CHECK(u[i] == floorf(u[i]) && v[j] == floorf(v[j]));
            CHECK((double)u[i] * v[j] == clconv_filter_taps(sobel)[i * 3 + j]);
        }
    /* Integer factors whose partial sums could pass 2^24 on 8-bit input
     * are refused: 20000 everywhere factors as u = (20000, 20000), v =
     * (1, 1), and 255 * 40000 * 2 > 2^24. */
    CHECK(clconv__factor_rank1(sobel, u, v));
    CHECK(!clconv__factor_rank1(emboss, u, v)); /* rank 2 */
    g = geom(50, 40, huge, 1, 1);
    CHECK_INT(clconv__choose_variant(&l, CLCONV__SEPARABLE, huge, &g, u, v), CLCONV__TILED);

    /* local: only when forced, and only where its tile fits local memory. */
    g = geom(50, 40, sharpen, 1, 1);
    CHECK_INT(clconv__choose_variant(&l, CLCONV__LOCAL, sharpen, &g, u, v), CLCONV__LOCAL);
    /* (16*4 + 2) x (16 + 2) floats = 4752 bytes */
    CHECK_INT((long long)clconv__local_bytes(&g, 16, 16), 4752);
    tight.local_mem = 4751;
    CHECK_INT(clconv__choose_variant(&tight, CLCONV__LOCAL, sharpen, &g, u, v), CLCONV__TILED);
    tight.local_mem = 4752;
    CHECK_INT(clconv__choose_variant(&tight, CLCONV__LOCAL, sharpen, &g, u, v), CLCONV__LOCAL);
    g = geom(50, 40, sharpen, 3, 1);
    CHECK_INT(clconv__choose_variant(&l, CLCONV__LOCAL, sharpen, &g, u, v), CLCONV__NAIVE);

    clconv_filter_destroy(sharpen);
    clconv_filter_destroy(box7);
    clconv_filter_destroy(sobel);
    clconv_filter_destroy(g9);
    clconv_filter_destroy(emboss);
    clconv_filter_destroy(huge);
}

static void test_fft(void)
{
    const clconv__limits l = big();
    clconv__limits small = big();
    double *t = calloc(31 * 31, sizeof *t);
    clconv_filter *one, *frac, *box31 = spec("box:31"), *sharpen = spec("sharpen");
    clconv_geometry g;
    const float ok_vals[] = {0, 1, 254, 255}, nan_val[] = {NAN};
    const float bad_vals[][1] = {{256}, {-1}, {0.5f}};
    int i;
    t[15 * 31 + 15] = 1;
    t[0] = -3;
    one = taps(31, 31, t);
    t[0] = 0.5;
    frac = taps(31, 31, t);

    /* 31x31: N = 256, V = 226 outputs a block side. At 300x200 the one
     * group of 16 blocks (180e6) costs more than tiled (60000 * 961):
     * forced only. At 2000x2000, 81 blocks in 6 groups beat 4e6 * 961. */
    g = geom(300, 200, one, 1, 1);
    CHECK(clconv__fft_filter_ok(&l, one, &g, 1));
    CHECK(!clconv__fft_filter_ok(&l, one, &g, 0));
    CHECK(clconv__fft_wanted(&l, CLCONV__FFT, one, &g, CLCONV__TILED));
    CHECK(!clconv__fft_wanted(&l, -1, one, &g, CLCONV__TILED));
    g = geom(2000, 2000, one, 1, 1);
    CHECK(clconv__fft_filter_ok(&l, one, &g, 0));
    CHECK(clconv__fft_wanted(&l, -1, one, &g, CLCONV__TILED));
    /* another variant forced, or the separable default: no FFT */
    CHECK(!clconv__fft_wanted(&l, CLCONV__TILED, one, &g, CLCONV__TILED));
    CHECK(!clconv__fft_wanted(&l, -1, one, &g, CLCONV__SEPARABLE));
    CHECK(!clconv__fft_filter_ok(&l, frac, &g, 1));  /* not integer */
    CHECK(!clconv__fft_filter_ok(&l, box31, &g, 1)); /* not integer either */
    g = geom(300, 200, one, 2, 1);
    CHECK(!clconv__fft_filter_ok(&l, one, &g, 1)); /* stride */
    g = geom(300, 200, one, 1, 2);
    CHECK(!clconv__fft_filter_ok(&l, one, &g, 1)); /* dilation */
    g = geom(300, 200, sharpen, 1, 1);
    CHECK(clconv__fft_filter_ok(&l, sharpen, &g, 1));  /* forced: exact, so allowed */
    CHECK(!clconv__fft_filter_ok(&l, sharpen, &g, 0)); /* 9 taps never pay */
    /* Local memory decides only where the columns live: 16 columns of 129
     * complex float16 at N = 256 is 264,192 bytes; with less (a GPU's 32
     * KiB) they go to global memory and the path still runs. */
    g = geom(300, 200, one, 1, 1);
    small.local_mem = 264191;
    CHECK(!clconv__fft_local_ok(&small, 256));
    CHECK(clconv__fft_filter_ok(&small, one, &g, 1));
    small.local_mem = 264192;
    CHECK(clconv__fft_local_ok(&small, 256));
    small.local_mem = 32 << 10;
    CHECK(!clconv__fft_local_ok(&small, 128));
    CHECK_INT((long long)clconv__fft_column_bytes(256), 16 * 264192LL);
    /* Unforced, GPUs never take it (the cost model is a CPU's). */
    g = geom(2000, 2000, one, 1, 1);
    small = big();
    small.is_gpu = 1;
    CHECK(!clconv__fft_filter_ok(&small, one, &g, 0));
    CHECK(clconv__fft_filter_ok(&small, one, &g, 1));
    g = geom(300, 200, one, 1, 1);
    /* The gate: 5 * 255 * max|H| * FLT_EPSILON <= 0.125. */
    CHECK(clconv__fft_gate_ok(800));
    CHECK(!clconv__fft_gate_ok(900));
    CHECK_INT(clconv__fft_block_index(&g), 1); /* 31 taps: N = 256 >= 8 * 31 */
    CHECK(clconv__fft_values_ok(ok_vals, 4));
    for (i = 0; i < 3; i++) CHECK(!clconv__fft_values_ok(bad_vals[i], 1));
    CHECK(!clconv__fft_values_ok(nan_val, 1));
    free(t);
    clconv_filter_destroy(one);
    clconv_filter_destroy(frac);
    clconv_filter_destroy(box31);
    clconv_filter_destroy(sharpen);
}

/* Band sizes: all rows when everything fits, the cap when one is set, and
 * within every allocation and the budget when they bind. */
static void test_bands(void)
{
    clconv__limits l = big();
    clconv_filter *f = spec("box:5");
    clconv_geometry g = geom(1000, 800, f, 1, 1);
    const unsigned long long row_in = 1004 * 4, row_out = 1000 * 4;
    unsigned long long left = 0, ma, b;
    long long r;

    CHECK_INT(clconv__band_rows_padded(&l, &g, 0), 800);
    CHECK_INT(clconv__band_rows_src(&l, &g, 800000, 0, &left), 800);
    CHECK(left > 0);
    l.band_rows = 7;
    CHECK_INT(clconv__band_rows_padded(&l, &g, 0), 7);
    CHECK_INT(clconv__band_rows_src(&l, &g, 800000, 1, &left), 7);
    l.band_rows = 0;

    /* One allocation of 100 input rows: (b - 1) + 5 <= 100. */
    l.max_alloc = 100 * row_in;
    r = clconv__band_rows_padded(&l, &g, 0);
    CHECK_INT(r, 96);
    CHECK((unsigned long long)(r - 1 + 5) * row_in <= l.max_alloc);
    /* A budget that binds: halved until input and output fit together. */
    l = big();
    l.global_mem = 2 * 200 * (row_in + row_out);
    r = clconv__band_rows_padded(&l, &g, 0);
    clconv__budget(&l, &ma, &b);
    CHECK(r >= 1 && (unsigned long long)(r - 1 + 5) * row_in + r * row_out <= b);
    CHECK((unsigned long long)(2 * r - 1 + 5) * row_in + 2 * r * row_out > b);
    /* Not even one row: 0, and the caller says so. */
    l = big();
    l.max_alloc = row_in * 3;
    CHECK_INT(clconv__band_rows_padded(&l, &g, 0), 0);
    /* The source path needs the whole source in one allocation. */
    l = big();
    l.max_alloc = 799999;
    CHECK_INT(clconv__band_rows_src(&l, &g, 800000, 0, &left), 0);
    l.max_alloc = 1ULL << 32;
    l.global_mem = 2 * (800000 + (1004 + 804) * 4 + 10 * row_out);
    CHECK_INT(clconv__band_rows_src(&l, &g, 800000, 0, &left), 10);
    CHECK_INT((long long)left, 10 * (long long)row_out);
    /* separable: the row pass's plane too, rows + 4 beside the output. */
    CHECK_INT(clconv__band_rows_src(&l, &g, 800000, 1, &left), 3);

    /* FFT: whole image when it fits, nothing when one block row does not.
     * With the columns in global memory (32 KiB of local), a budget that
     * holds the local-memory layout's whole image holds fewer rows. */
    l = big();
    r = clconv__band_rows_fft(&l, &g, 800000);
    CHECK(r >= 800);
    l.max_alloc = 1 << 20;
    CHECK_INT(clconv__band_rows_fft(&l, &g, 800000), 0);
    l = big();
    l.global_mem = 14000000ULL; /* a 7 MB budget: 3 block rows, or 1 */
    r = clconv__band_rows_fft(&l, &g, 800000);
    l.local_mem = 32 << 10;
    CHECK(clconv__band_rows_fft(&l, &g, 800000) < r);
    clconv_filter_destroy(f);
}

/* The tuning table's lookup: the filter's class first, then the nearest
 * filter side (weighing twice) and image size on a log scale. */
static void test_tune_lookup(void)
{
    static clconv__tune_table t;
    const clconv__tune_entry *e;
    const int pts[][3] = {{0, 3, 256}, {0, 3, 2048}, {0, 15, 1024}, {1, 9, 1024}};
    clconv__shape s;
    int i;
    memset(&t, 0, sizeof t);
    CHECK(clconv__tune_lookup(NULL, 0, 3, 3, 100, 100) == NULL);
    CHECK(clconv__tune_lookup(&t, 0, 3, 3, 100, 100) == NULL);
    for (i = 0; i < 4; i++) {
        t.e[i].rank1 = pts[i][0];
        t.e[i].k = pts[i][1];
        t.e[i].side = pts[i][2];
    }
    t.n = 4;
    e = clconv__tune_lookup(&t, 0, 3, 3, 300, 200);
    CHECK(e == &t.e[0]);
    e = clconv__tune_lookup(&t, 0, 3, 3, 4000, 3000);
    CHECK(e == &t.e[1]);
    e = clconv__tune_lookup(&t, 0, 11, 13, 1000, 1000); /* side sqrt(143) */
    CHECK(e == &t.e[2]);
    e = clconv__tune_lookup(&t, 1, 3, 3, 64, 64); /* the only rank-1 entry */
    CHECK(e == &t.e[3]);
    /* 5x5 on 256^2: 3@256 (filter 2*0.51, image 0) beats 15@1024 (2*1.1 + 2.8). */
    e = clconv__tune_lookup(&t, 0, 5, 5, 256, 256);
    CHECK(e == &t.e[0]);

    /* Shapes: the kernels' tile sizes only; work-groups up to 1024 items. */
    for (i = 0; i < CLCONV__VARIANTS; i++) {
        clconv__shape_default(i, &s);
        CHECK(clconv__shape_is_default(&s));
        CHECK(clconv__shape_valid(&s));
    }
    s.var = CLCONV__TILED; s.vec_w = 8; s.tile_rows = 2; s.wg_x = 32; s.wg_y = 2;
    CHECK(clconv__shape_valid(&s) && !clconv__shape_is_default(&s));
    s.vec_w = 12;
    CHECK(!clconv__shape_valid(&s));
    s.vec_w = 16; s.tile_rows = 3;
    CHECK(!clconv__shape_valid(&s));
    s.tile_rows = 4; s.wg_x = 2048; s.wg_y = 1;
    CHECK(!clconv__shape_valid(&s));
    s.var = CLCONV__LOCAL; s.vec_w = 2; s.tile_rows = 1; s.wg_x = 16; s.wg_y = 8;
    CHECK(clconv__shape_valid(&s));
    s.tile_rows = 2;
    CHECK(!clconv__shape_valid(&s));
    s.var = CLCONV__FFT; s.vec_w = 8; s.tile_rows = 1;
    CHECK(!clconv__shape_valid(&s));
}

int main(void)
{
    test_budget();
    test_names();
    test_variants();
    test_fft();
    test_bands();
    test_tune_lookup();
    printf("test_plan: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
