/* cases.c — the test cases' random inputs, from a seed: filters (integer or
 * not, rank 1 or not) and images (8-bit values or floats at several
 * scales). tests/test_device.c and clconv_self_test draw their cases from
 * here, so the self-test a user runs exercises what the suite does.
 * It must not run anything: it only makes inputs.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>

uint64_t clconv__rnd64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int clconv__rnd_int(uint64_t *s, int lo, int hi)
{
    return lo + (int)(clconv__rnd64(s) % (uint64_t)(hi - lo + 1));
}

double clconv__rnd_unit(uint64_t *s)
{
    return (double)(clconv__rnd64(s) >> 11) * 0x1p-53;
}

clconv_filter *clconv__case_filter(uint64_t *s, int kh, int kw, int integer, int rank1,
                                   char *err)
{
    double *t = malloc(sizeof(double) * (size_t)kh * (size_t)kw);
    double u[CLCONV_FILTER_MAX], v[CLCONV_FILTER_MAX];
    clconv_filter *f = NULL;
    int i, j, n = kh * kw;
    if (!t) return NULL;
    if (rank1) {
        /* K = u v^T, exactly in double; u[0], v[0] nonzero so K is not 0. */
        for (i = 0; i < kh; i++)
            u[i] = integer ? clconv__rnd_int(s, -3, 3) : clconv__rnd_unit(s) * 2 - 1;
        for (j = 0; j < kw; j++)
            v[j] = integer ? clconv__rnd_int(s, -3, 3) : (clconv__rnd_unit(s) * 2 - 1) * 0.5;
        if (u[0] == 0) u[0] = 1;
        if (v[0] == 0) v[0] = integer ? -2 : 0.375;
        if (!integer && v[0] == floor(v[0])) v[0] += 0.25;
        for (i = 0; i < kh; i++)
            for (j = 0; j < kw; j++) t[i * kw + j] = u[i] * v[j];
    } else {
        for (i = 0; i < n; i++) {
            if (integer) t[i] = clconv__rnd_int(s, -4, 4);
            else
                t[i] = (clconv__rnd_unit(s) * 2 - 1) *
                       (clconv__rnd_int(s, 0, 3) == 0 ? 10.0 : 1.0);
        }
        if (!integer && t[0] == floor(t[0])) t[0] += 0.5; /* truly non-integer */
    }
    clconv_filter_create(kh, kw, t, "random", &f, err);
    free(t);
    return f;
}

void clconv__case_image(uint64_t *s, clconv_plane *p, int integer)
{
    size_t i, n = (size_t)p->width * (size_t)p->height;
    double scale = clconv__rnd_int(s, 0, 3) == 0 ? 1e-3
                   : clconv__rnd_int(s, 0, 1) ? 1.0 : 300.0;
    for (i = 0; i < n; i++)
        p->data[i] = integer ? (float)clconv__rnd_int(s, 0, 255)
                             : (float)((clconv__rnd_unit(s) * 2 - 0.5) * scale);
}
