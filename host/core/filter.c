/* filter.c — filters: the presets of DESIGN.md §2 and issue 13 (scharr-*,
 * prewitt-*, laplacian, laplacian8), parametric box/gaussian/log,
 * text matrices from @FILE or inline specs, with every malformed input
 * refused before any image is read.
 * It must not read images or know about devices.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Taps above this magnitude are refused: 255 * 1e30 * 255^2 taps stays
 * below FLT_MAX, so no finite 8-bit input can overflow a float sum. */
#define TAP_LIMIT 1e30
/* A filter file larger than this cannot be a sane 255x255 matrix. */
#define FILTER_FILE_MAX (4 << 20)

typedef struct preset {
    const char *name;
    const char *help;
    int k;
    double div;
    double taps[9];
} preset;

static const preset presets[] = {
    {"identity", "leaves the image as it is", 3, 1, {0, 0, 0, 0, 1, 0, 0, 0, 0}},
    {"sharpen", "sharpens edges", 3, 1, {0, -1, 0, -1, 5, -1, 0, -1, 0}},
    {"blur", "3x3 binomial blur (/16)", 3, 16, {1, 2, 1, 2, 4, 2, 1, 2, 1}},
    {"outline", "edges in every direction", 3, 1,
     {-1, -1, -1, -1, 8, -1, -1, -1, -1}},
    {"emboss", "relief lit from the top left", 3, 1,
     {-2, -1, 0, -1, 1, 1, 0, 1, 2}},
    {"sobel-left", "horizontal gradient, bright where the left is brighter", 3, 1,
     {1, 0, -1, 2, 0, -2, 1, 0, -1}},
    {"sobel-right", "horizontal gradient, bright where the right is brighter", 3, 1,
     {-1, 0, 1, -2, 0, 2, -1, 0, 1}},
    {"sobel-top", "vertical gradient, bright where the top is brighter", 3, 1,
     {1, 2, 1, 0, 0, 0, -1, -2, -1}},
    {"sobel-bottom", "vertical gradient, bright where the bottom is brighter", 3, 1,
     {-1, -2, -1, 0, 0, 0, 1, 2, 1}},
    /* Scharr and Prewitt mirror sobel-*: "-right" and "-bottom" are
     * OpenCV's Scharr(dx=1) and Scharr(dy=1) as correlation. */
    {"scharr-left", "Scharr horizontal gradient, bright where the left is brighter",
     3, 1, {3, 0, -3, 10, 0, -10, 3, 0, -3}},
    {"scharr-right", "Scharr horizontal gradient, bright where the right is "
     "brighter (cv2.Scharr dx=1)", 3, 1, {-3, 0, 3, -10, 0, 10, -3, 0, 3}},
    {"scharr-top", "Scharr vertical gradient, bright where the top is brighter",
     3, 1, {3, 10, 3, 0, 0, 0, -3, -10, -3}},
    {"scharr-bottom", "Scharr vertical gradient, bright where the bottom is "
     "brighter (cv2.Scharr dy=1)", 3, 1, {-3, -10, -3, 0, 0, 0, 3, 10, 3}},
    {"prewitt-left", "Prewitt horizontal gradient, bright where the left is "
     "brighter", 3, 1, {1, 0, -1, 1, 0, -1, 1, 0, -1}},
    {"prewitt-right", "Prewitt horizontal gradient, bright where the right is "
     "brighter", 3, 1, {-1, 0, 1, -1, 0, 1, -1, 0, 1}},
    {"prewitt-top", "Prewitt vertical gradient, bright where the top is brighter",
     3, 1, {1, 1, 1, 0, 0, 0, -1, -1, -1}},
    {"prewitt-bottom", "Prewitt vertical gradient, bright where the bottom is "
     "brighter", 3, 1, {-1, -1, -1, 0, 0, 0, 1, 1, 1}},
    /* OpenCV's sign: cv2.Laplacian(ksize=1) is this 4-neighbour kernel;
     * laplacian8 is its 8-neighbour form (outline is its negative). */
    {"laplacian", "4-neighbour Laplacian, as cv2.Laplacian(ksize=1)", 3, 1,
     {0, 1, 0, 1, -4, 1, 0, 1, 0}},
    {"laplacian8", "8-neighbour Laplacian (the negative of outline)", 3, 1,
     {1, 1, 1, 1, -8, 1, 1, 1, 1}},
};
#define NPRESETS ((int)(sizeof presets / sizeof presets[0]))

const char *clconv_preset_name(int i)
{
    if (i >= 0 && i < NPRESETS) return presets[i].name;
    if (i == NPRESETS) return "box:N";
    if (i == NPRESETS + 1) return "gaussian:N[:SIGMA]";
    if (i == NPRESETS + 2) return "log:N[:SIGMA]";
    return NULL;
}

const char *clconv_preset_help(int i)
{
    if (i >= 0 && i < NPRESETS) return presets[i].help;
    if (i == NPRESETS) return "NxN mean, each tap 1/N^2 (e.g. box:5)";
    if (i == NPRESETS + 1)
        return "NxN Gaussian, sum 1, taps as OpenCV's getGaussianKernel: "
               "without SIGMA its fixed tables for odd N <= 9, else SIGMA "
               "0.3*((N-1)/2-1)+0.8 (e.g. gaussian:5, gaussian:9:2.5)";
    if (i == NPRESETS + 2)
        return "NxN Laplacian of Gaussian, sum 0, as MATLAB's fspecial('log'): "
               "g=exp(-r^2/(2 SIGMA^2)) over its sum, "
               "g*(r^2-2 SIGMA^2)/SIGMA^4, minus its mean; odd N >= 3, SIGMA "
               "default 0.3*((N-1)/2-1)+0.8 as gaussian:N (e.g. log:5, log:9:1.4)";
    return NULL;
}

clconv_status clconv_filter_create(int kh, int kw, const double *taps,
                                   const char *name, clconv_filter **out,
                                   char err[CLCONV_ERR_MAX])
{
    clconv_filter *f;
    size_t n;
    int i;
    *out = NULL;
    if (kh < 1 || kw < 1 || kh > CLCONV_FILTER_MAX || kw > CLCONV_FILTER_MAX) {
        clconv__err(err, "filter %s: %dx%d is not between 1x1 and %dx%d",
                    name ? name : "", kw, kh, CLCONV_FILTER_MAX,
                    CLCONV_FILTER_MAX);
        return CLCONV_E_FILTER;
    }
    n = (size_t)kh * (size_t)kw;
    for (i = 0; i < (int)n; i++) {
        if (!isfinite(taps[i]) || fabs(taps[i]) > TAP_LIMIT) {
            clconv__err(err, "filter %s: tap %d (row %d) is %g: taps must be "
                        "finite and at most 1e30 in magnitude", name ? name : "",
                        i % kw + 1, i / kw + 1, taps[i]);
            return CLCONV_E_FILTER;
        }
    }
    f = calloc(1, sizeof *f);
    if (!f || !(f->taps = malloc(n * sizeof(double)))) {
        free(f);
        clconv__err(err, "filter: out of memory");
        return CLCONV_E_NOMEM;
    }
    memcpy(f->taps, taps, n * sizeof(double));
    f->kh = kh;
    f->kw = kw;
    snprintf(f->name, sizeof f->name, "%s", name ? name : "custom");
    *out = f;
    return CLCONV_OK;
}

void clconv_filter_destroy(clconv_filter *f)
{
    if (!f) return;
    free(f->taps);
    free(f);
}

int clconv_filter_width(const clconv_filter *f) { return f->kw; }
int clconv_filter_height(const clconv_filter *f) { return f->kh; }
const double *clconv_filter_taps(const clconv_filter *f) { return f->taps; }
const char *clconv_filter_name(const clconv_filter *f) { return f->name; }

int clconv_filter_is_integer(const clconv_filter *f)
{
    int i;
    for (i = 0; i < f->kh * f->kw; i++)
        if (f->taps[i] != floor(f->taps[i]) || fabs(f->taps[i]) > 16777216.0)
            return 0;
    return 1;
}

clconv_status clconv_filter_flip(const clconv_filter *f, clconv_filter **out,
                                 char err[CLCONV_ERR_MAX])
{
    clconv_status st;
    int i, n = f->kh * f->kw;
    char name[80];
    double *t = malloc((size_t)n * sizeof(double));
    if (!t) {
        clconv__err(err, "filter: out of memory");
        return CLCONV_E_NOMEM;
    }
    for (i = 0; i < n; i++) t[i] = f->taps[n - 1 - i];
    snprintf(name, sizeof name, "%s", f->name);
    st = clconv_filter_create(f->kh, f->kw, t, name, out, err);
    free(t);
    return st;
}

/* Parses a positive integer that fills the whole string. */
static int parse_int(const char *s, const char *end, long *v)
{
    char *e;
    errno = 0;
    if (s == end) return 0;
    *v = strtol(s, &e, 10);
    return errno == 0 && e == end;
}

/* OpenCV's getGaussianKernel(n, sigma <= 0) does not use its formula for
 * small odd n: it takes fixed tables (binomial-like, multiples of 1/256, so
 * exact in float and summing to exactly 1). Its documentation gives those
 * up to n = 7; the OpenCV 4 of Debian 12 (4.6) also has one for n = 9,
 * [4 13 30 51 60 51 30 13 4] / 256, measured with
 * bench/gaussian_vs_opencv.py. */
static double small_gaussian(long n, int i)
{
    static const double t1[] = {1.0};
    static const double t3[] = {0.25, 0.5, 0.25};
    static const double t5[] = {0.0625, 0.25, 0.375, 0.25, 0.0625};
    static const double t7[] = {0.03125, 0.109375, 0.21875, 0.28125,
                                0.21875, 0.109375, 0.03125};
    static const double t9[] = {4, 13, 30, 51, 60, 51, 30, 13, 4};
    if (n == 9) return t9[i] / 256;
    return (n == 1 ? t1 : n == 3 ? t3 : n == 5 ? t5 : t7)[i];
}

/* N and the optional SIGMA of "box:N", "gaussian:N[:SIGMA]" or
 * "log:N[:SIGMA]". *sigma stays 0 when SIGMA is not given. log needs an
 * odd N of at least 3: a Laplacian is centred on a tap, and log:1 is 0. */
static clconv_status parse_params(const char *spec, long *n, double *sigma,
                                  char *err)
{
    const char *c1 = strchr(spec, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    const char *nend = c2 ? c2 : spec + strlen(spec);
    int lap = strncmp(spec, "log:", 4) == 0;
    char sh[CLCONV__SHOWN_MAX];

    *sigma = 0;
    if (!parse_int(c1 + 1, nend, n) || *n < 1 || *n > CLCONV_FILTER_MAX ||
        (lap && (*n < 3 || *n % 2 == 0))) {
        clconv__err(err, "filter '%s': N must be an%s integer from %d to %d%s",
                    clconv__shown(sh, spec, -1), lap ? " odd" : "", lap ? 3 : 1,
                    CLCONV_FILTER_MAX,
                    lap ? " (a Laplacian of Gaussian needs a centre tap)" : "");
        return CLCONV_E_FILTER;
    }
    if (c2) {
        char *e;
        if (strncmp(spec, "box:", 4) == 0) {
            clconv__err(err, "filter '%s': box takes one parameter (box:N)",
                        clconv__shown(sh, spec, -1));
            return CLCONV_E_FILTER;
        }
        errno = 0;
        *sigma = strtod(c2 + 1, &e);
        if (errno || e == c2 + 1 || *e || !(*sigma > 0) || !isfinite(*sigma)) {
            clconv__err(err, "filter '%s': SIGMA must be a positive number",
                        clconv__shown(sh, spec, -1));
            return CLCONV_E_FILTER;
        }
    }
    return CLCONV_OK;
}

/* box:N and gaussian:N[:SIGMA]: the outer product of a 1-D kernel. */
static clconv_status separable(const char *spec, long n, double sigma,
                               clconv_filter **out, char *err)
{
    int gauss = strncmp(spec, "gaussian:", 9) == 0, table = sigma == 0;
    char sh[CLCONV__SHOWN_MAX];
    double *t = NULL, *g = NULL, sum = 0;
    int i, j;
    clconv_status st;

    if (gauss && table) sigma = 0.3 * ((n - 1) * 0.5 - 1) + 0.8; /* OpenCV's */
    t = malloc((size_t)n * (size_t)n * sizeof(double));
    g = malloc((size_t)n * sizeof(double));
    if (!t || !g) {
        free(t);
        free(g);
        clconv__err(err, "filter: out of memory");
        return CLCONV_E_NOMEM;
    }
    for (i = 0; i < n; i++) {
        double x = i - (n - 1) * 0.5;
        g[i] = gauss ? exp(-x * x / (2 * sigma * sigma)) : 1.0;
        if (gauss && table && n % 2 && n <= 9) g[i] = small_gaussian(n, i);
        sum += g[i];
    }
    if (!(sum > 0) || !isfinite(sum)) {
        /* Every tap underflowed: exp(-x^2 / 2 sigma^2) is 0 for all x. */
        free(t);
        free(g);
        clconv__err(err, "filter '%s': SIGMA %g is too small for %ld taps "
                    "(every tap would be 0)", clconv__shown(sh, spec, -1), sigma, n);
        return CLCONV_E_FILTER;
    }
    for (i = 0; i < n; i++) g[i] /= sum;
    /* Outer product of the normalised 1-D kernel: the 2-D one sums to 1 and
     * is exactly rank 1, so the separable path computes the same taps. */
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) t[i * n + j] = g[i] * g[j];
    st = clconv_filter_create((int)n, (int)n, t, spec, out, err);
    free(t);
    free(g);
    return st;
}

/* log:N[:SIGMA], MATLAB's fspecial('log', N, SIGMA) step for step: the
 * Gaussian exp(-r^2 / 2s^2) at integer offsets from the centre, taps below
 * DBL_EPSILON times the largest set to 0, normalised to sum 1; times
 * (r^2 - 2s^2) / s^4 (the analytic Laplacian's factor); then its mean
 * subtracted, so the filter sums to 0 (a flat image gives 0). Its sign is
 * the Laplacian's (centre negative), as the laplacian preset's. */
static clconv_status log_filter(const char *spec, long n, double sigma,
                                clconv_filter **out, char *err)
{
    double s2, sum = 0, mean = 0, *t;
    long i, nn = n * n, c = (n - 1) / 2;
    int bad = 0;
    char sh[CLCONV__SHOWN_MAX];
    clconv_status st;

    if (sigma == 0) sigma = 0.3 * ((n - 1) * 0.5 - 1) + 0.8; /* gaussian:N's */
    s2 = sigma * sigma;
    if (!(t = malloc((size_t)nn * sizeof(double)))) {
        clconv__err(err, "filter: out of memory");
        return CLCONV_E_NOMEM;
    }
    for (i = 0; i < nn; i++) {
        double x = (double)(i % n - c), y = (double)(i / n - c);
        t[i] = exp(-(x * x + y * y) / (2 * s2));
    }
    /* The centre is the largest tap: exp(0) = 1. */
    for (i = 0; i < nn; i++) {
        if (t[i] < DBL_EPSILON) t[i] = 0;
        sum += t[i];
    }
    for (i = 0; i < nn; i++) {
        double x = (double)(i % n - c), y = (double)(i / n - c);
        t[i] = t[i] / sum * (x * x + y * y - 2 * s2) / (s2 * s2);
        mean += t[i];
    }
    mean /= (double)nn;
    for (i = 0; i < nn; i++) {
        t[i] -= mean;
        if (!isfinite(t[i]) || fabs(t[i]) > TAP_LIMIT) bad = 1;
    }
    /* A tiny SIGMA makes the centre -2/SIGMA^2 huge; a huge one makes
     * SIGMA^4 overflow (NaN) or every tap underflow to 0. */
    if (bad || t[c * n + c] == 0) {
        free(t);
        clconv__err(err, "filter '%s': SIGMA %g is too %s for %ld taps (the "
                    "taps would be %s)", clconv__shown(sh, spec, -1), sigma,
                    sigma < 1 ? "small" : "large", n,
                    sigma < 1 ? "beyond 1e30" : "0 or not finite");
        return CLCONV_E_FILTER;
    }
    st = clconv_filter_create((int)n, (int)n, t, spec, out, err);
    free(t);
    return st;
}

static clconv_status parametric(const char *spec, clconv_filter **out,
                                char *err)
{
    long n;
    double sigma;
    clconv_status st = parse_params(spec, &n, &sigma, err);
    if (st != CLCONV_OK) return st;
    if (strncmp(spec, "log:", 4) == 0) return log_filter(spec, n, sigma, out, err);
    return separable(spec, n, sigma, out, err);
}

/* Parses a text matrix: rows split by newlines or ';', numbers by spaces,
 * tabs or commas, '#' to the end of a line is a comment. `what` names the
 * source in messages. */
static clconv_status parse_matrix(const char *text, const char *what,
                                  const char *name, clconv_filter **out,
                                  char *err)
{
    double *t = NULL;
    size_t cap = 0, n = 0;
    int rows = 0, cols = -1, cur = 0, line = 1, in_comment = 0, comma = 0;
    const char *p = text;
    clconv_status st = CLCONV_OK;

    *out = NULL;
    for (;;) {
        char c = *p;
        if (c == '\0' || c == '\n' || c == ';') {
            if (cur > 0) {
                if (cols < 0) cols = cur;
                else if (cur != cols) {
                    clconv__err(err, "%s: ragged matrix: row %d has %d numbers, "
                                "row 1 has %d", what, rows + 1, cur, cols);
                    st = CLCONV_E_FILTER;
                    goto cleanup;
                }
                rows++;
                if (rows > CLCONV_FILTER_MAX) {
                    clconv__err(err, "%s: more than %d rows", what,
                                CLCONV_FILTER_MAX);
                    st = CLCONV_E_FILTER;
                    goto cleanup;
                }
            }
            cur = 0;
            in_comment = 0;
            comma = 0;
            if (c == '\n') line++;
            if (c == '\0') break;
            p++;
            continue;
        }
        if (c == ',' && !in_comment) {
            /* "1,,2" is a missing number, not one separator. */
            if (comma) {
                clconv__err(err, "%s: line %d: empty field between commas", what,
                            line);
                st = CLCONV_E_FILTER;
                goto cleanup;
            }
            comma = 1;
            p++;
            continue;
        }
        if (in_comment || c == ' ' || c == '\t' || c == '\r') {
            p++;
            continue;
        }
        if (c == '#') {
            in_comment = 1;
            p++;
            continue;
        }
        {
            char *e;
            double v;
            errno = 0;
            v = strtod(p, &e);
            if (e == p || (*e && !strchr(" \t,;\r\n#", *e))) {
                const char *tok_end = p;
                while (*tok_end && !strchr(" \t,;\r\n#", *tok_end)) tok_end++;
                char sh[CLCONV__SHOWN_MAX];
                clconv__err(err, "%s: line %d: '%s' is not a number", what,
                            line, clconv__shown(sh, p, tok_end - p));
                st = CLCONV_E_FILTER;
                goto cleanup;
            }
            if (!isfinite(v)) {
                char sh[CLCONV__SHOWN_MAX];
                clconv__err(err, "%s: line %d: '%s' is not finite (NaN and "
                            "Inf are refused)", what, line,
                            clconv__shown(sh, p, e - p));
                st = CLCONV_E_FILTER;
                goto cleanup;
            }
            if (++cur > CLCONV_FILTER_MAX) {
                clconv__err(err, "%s: line %d: more than %d numbers", what,
                            line, CLCONV_FILTER_MAX);
                st = CLCONV_E_FILTER;
                goto cleanup;
            }
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                double *nt = realloc(t, ncap * sizeof(double));
                if (!nt) {
                    clconv__err(err, "%s: out of memory", what);
                    st = CLCONV_E_NOMEM;
                    goto cleanup;
                }
                t = nt;
                cap = ncap;
            }
            t[n++] = v;
            comma = 0;
            p = e;
        }
    }
    if (rows == 0) {
        clconv__err(err, "%s: empty filter (no numbers)", what);
        st = CLCONV_E_FILTER;
        goto cleanup;
    }
    st = clconv_filter_create(rows, cols, t, name, out, err);
    if (st != CLCONV_OK) {
        /* Prefix the source: filter_create names only the filter. */
        char tmp[CLCONV_ERR_MAX];
        snprintf(tmp, sizeof tmp, "%s", err ? err : "");
        clconv__err(err, "%s: %s", what, tmp);
    }
cleanup:
    free(t);
    return st;
}

static clconv_status from_file(const char *path, clconv_filter **out,
                               char *err)
{
    FILE *fp = fopen(path, "rb");
    struct stat sb;
    char *text = NULL, what[4200];
    size_t got;
    clconv_status st;
    const char *base = strrchr(path, '/');

    snprintf(what, sizeof what, "%s", path);
    if (!fp) {
        clconv__err(err, "%s: cannot open the filter file: %s", path,
                    strerror(errno));
        return CLCONV_E_FILTER;
    }
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_size > FILTER_FILE_MAX) {
        fclose(fp);
        clconv__err(err, "%s: filter file is not a regular file of at most "
                    "%d bytes", path, FILTER_FILE_MAX);
        return CLCONV_E_FILTER;
    }
    text = malloc((size_t)sb.st_size + 1);
    if (!text) {
        fclose(fp);
        clconv__err(err, "%s: out of memory", path);
        return CLCONV_E_NOMEM;
    }
    got = fread(text, 1, (size_t)sb.st_size, fp);
    fclose(fp);
    text[got] = '\0';
    if (memchr(text, '\0', got)) {
        free(text);
        clconv__err(err, "%s: filter file is binary, not a text matrix", path);
        return CLCONV_E_FILTER;
    }
    st = parse_matrix(text, what, base ? base + 1 : path, out, err);
    free(text);
    return st;
}

clconv_status clconv_filter_parse(const char *spec, clconv_filter **out,
                                  char err[CLCONV_ERR_MAX])
{
    int i;
    *out = NULL;
    if (!spec || !*spec) {
        clconv__err(err, "empty filter spec");
        return CLCONV_E_FILTER;
    }
    if (spec[0] == '@') return from_file(spec + 1, out, err);
    for (i = 0; i < NPRESETS; i++) {
        if (strcmp(spec, presets[i].name) == 0) {
            double t[9];
            int j;
            for (j = 0; j < 9; j++) t[j] = presets[i].taps[j] / presets[i].div;
            return clconv_filter_create(3, 3, t, spec, out, err);
        }
    }
    if (strncmp(spec, "box:", 4) == 0 || strncmp(spec, "gaussian:", 9) == 0 ||
        strncmp(spec, "log:", 4) == 0)
        return parametric(spec, out, err);
    if (strspn(spec, "0123456789+-.eE,; \t") == strlen(spec)) {
        char what[CLCONV__SHOWN_MAX + 32], sh[CLCONV__SHOWN_MAX];
        snprintf(what, sizeof what, "inline filter '%s'",
                 clconv__shown(sh, spec, -1));
        return parse_matrix(spec, what, "inline", out, err);
    }
    {
        /* Quote the spec on one line, whatever bytes it holds. */
        char sh[CLCONV__SHOWN_MAX];
        clconv__err(err, "unknown filter '%s' (see --list-filters; a file "
                    "needs '@', a matrix looks like \"0,-1,0;-1,5,-1;0,-1,0\")",
                    clconv__shown(sh, spec, -1));
    }
    return CLCONV_E_FILTER;
}
