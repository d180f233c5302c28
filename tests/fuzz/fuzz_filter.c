/* fuzz_filter.c — libFuzzer harness for clconv_filter_parse. The input, cut
 * at its first NUL, is parsed as a spec (presets, box:N, gaussian:N:S, inline
 * matrices); the whole input is also written to a temporary file and parsed
 * as "@FILE", which reaches the text-matrix syntax the inline form cannot
 * spell (newlines, comments, nan/inf, hex floats, binary bytes).
 *
 * Checks: a failure leaves *out NULL and a message; a filter is 1..255 a
 * side with finite taps of magnitude <= 1e30; flip is a 180-degree turn; an
 * inline matrix and the same text in a file give the same taps.
 * Specs starting with '@' are not passed through as they are: the fuzzer
 * would otherwise roam the file system (and could block on a FIFO).
 */
#define _POSIX_C_SOURCE 200809L
#include "clconv.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "fuzz_filter: check failed: %s (line %d)\n", #c,  \
                    __LINE__);                                                \
            abort();                                                          \
        }                                                                     \
    } while (0)

static char tmp_path[4096];
static int tmp_fd = -1;

static void remove_tmp(void)
{
    if (tmp_fd >= 0) {
        close(tmp_fd);
        unlink(tmp_path);
    }
}

static int tmp_open(void)
{
    const char *dir;
    if (tmp_fd >= 0) return 1;
    dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(tmp_path, sizeof tmp_path, "%s/clconv-fuzz-filter-XXXXXX", dir);
    tmp_fd = mkstemp(tmp_path);
    if (tmp_fd < 0) return 0;
    atexit(remove_tmp);
    return 1;
}

static void check_filter(const clconv_filter *f)
{
    int kw = clconv_filter_width(f), kh = clconv_filter_height(f), i;
    const double *t = clconv_filter_taps(f);
    const char *name = clconv_filter_name(f);
    clconv_filter *fl = NULL;
    char err[CLCONV_ERR_MAX];
    int integer = 1;

    CHECK(kw >= 1 && kw <= CLCONV_FILTER_MAX);
    CHECK(kh >= 1 && kh <= CLCONV_FILTER_MAX);
    CHECK(name && memchr(name, '\0', 64));
    for (i = 0; i < kw * kh; i++) {
        CHECK(isfinite(t[i]) && fabs(t[i]) <= 1e30);
        if (t[i] != floor(t[i]) || fabs(t[i]) > 16777216.0) integer = 0;
    }
    CHECK(!clconv_filter_is_integer(f) == !integer);
    CHECK(clconv_filter_flip(f, &fl, err) == CLCONV_OK);
    CHECK(clconv_filter_width(fl) == kw && clconv_filter_height(fl) == kh);
    for (i = 0; i < kw * kh; i++)
        CHECK(clconv_filter_taps(fl)[i] == t[kw * kh - 1 - i]);
    clconv_filter_destroy(fl);
}

static clconv_status parse(const char *spec, clconv_filter **f)
{
    char err[CLCONV_ERR_MAX];
    clconv_status st;
    err[0] = '\0';
    *f = (clconv_filter *)(uintptr_t)1; /* must be overwritten */
    st = clconv_filter_parse(spec, f, err);
    if (st != CLCONV_OK) {
        CHECK(*f == NULL);
        CHECK(err[0] != '\0' && memchr(err, '\0', CLCONV_ERR_MAX));
        CHECK(st == CLCONV_E_FILTER || st == CLCONV_E_NOMEM);
        return st;
    }
    CHECK(*f != NULL);
    check_filter(*f);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    char fspec[4200];
    clconv_filter *fi = NULL, *ff = NULL;
    clconv_status si = CLCONV_E_FILTER, sf;
    int is_matrix;

    CHECK(spec != NULL);
    memcpy(spec, data, size);
    spec[size] = '\0';

    /* The spec as given (inline matrices, presets, parametric). */
    is_matrix = spec[0] && strspn(spec, "0123456789+-.eE,; \t") == strlen(spec);
    if (spec[0] != '@') si = parse(spec, &fi);

    /* The whole input as a filter file. */
    if (tmp_open() && ftruncate(tmp_fd, 0) == 0 &&
        pwrite(tmp_fd, data, size, 0) == (ssize_t)size) {
        snprintf(fspec, sizeof fspec, "@%s", tmp_path);
        sf = parse(fspec, &ff);
        /* An inline matrix is a one-line filter file. */
        if (is_matrix && strlen(spec) == size) {
            CHECK((si == CLCONV_OK) == (sf == CLCONV_OK));
            if (si == CLCONV_OK) {
                int n = clconv_filter_width(fi) * clconv_filter_height(fi);
                CHECK(clconv_filter_width(fi) == clconv_filter_width(ff));
                CHECK(clconv_filter_height(fi) == clconv_filter_height(ff));
                CHECK(memcmp(clconv_filter_taps(fi), clconv_filter_taps(ff),
                             (size_t)n * sizeof(double)) == 0);
            }
        }
    }
    clconv_filter_destroy(fi);
    clconv_filter_destroy(ff);
    free(spec);
    return 0;
}
