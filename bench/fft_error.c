/* fft_error.c — the evidence behind the FFT path's accuracy gate
 * (host/conv_fft.c): the FFT result before rounding (CLCONV_FAULT=fft-raw)
 * against the exact one (the tiled kernel: integer taps on 8-bit values are
 * summed exactly), on every pixel, for integer filters scaled so that
 * A = 255 * max|H| * FLT_EPSILON takes a chosen value (H: the filter's DFT on
 * the block's N x N grid, as the path uses it). Prints, per case, the max
 * error and its ratio to A; rounding is exact while the error stays below
 * 0.5. Inputs include a "tone": the 8-bit cosine at the frequency where |H|
 * peaks, the image that makes the output (and the error) largest.
 *
 * Usage: clconv-fft-error [--size S] [--est E] [--k LIST]
 *   --est E: scale the taps so that 5 * A is about E (the gate: 5 A <= 0.125)
 */
#define _POSIX_C_SOURCE 200809L
#include "clconv.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static unsigned long long rng = 88172645463325252ULL;
static unsigned next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static const char *const kinds[] = {"dense", "random", "spike", "positive", "checker"};
static const char *const inputs[] = {"random", "binary", "white", "patches", "checker", "tone"};

static int block_n(int k)
{
    return 8 * k <= 128 ? 128 : 8 * k <= 256 ? 256 : 512;
}

/* max over the n x n grid of |DFT(K)|, and where (rows 0..n/2 suffice: K is
 * real). */
static double max_h(const double *t, int kh, int kw, int n, int *au, int *av)
{
    double *R = malloc(sizeof(double) * 2 * (size_t)kh * n), best = -1;
    int i, j, u, v;
    for (i = 0; i < kh; i++)
        for (v = 0; v < n; v++) {
            double re = 0, im = 0;
            for (j = 0; j < kw; j++) {
                const double a = 2 * M_PI * (double)((v * j) % n) / n;
                re += t[i * kw + j] * cos(a);
                im -= t[i * kw + j] * sin(a);
            }
            R[2 * ((size_t)i * n + v)] = re;
            R[2 * ((size_t)i * n + v) + 1] = im;
        }
    for (u = 0; u <= n / 2; u++)
        for (v = 0; v < n; v++) {
            double re = 0, im = 0, m;
            for (i = 0; i < kh; i++) {
                const double a = 2 * M_PI * (double)((u * i) % n) / n;
                const double c = cos(a), sn = -sin(a);
                const double x = R[2 * ((size_t)i * n + v)], y = R[2 * ((size_t)i * n + v) + 1];
                re += x * c - y * sn;
                im += x * sn + y * c;
            }
            m = sqrt(re * re + im * im);
            if (m > best) {
                best = m;
                *au = u;
                *av = v;
            }
        }
    free(R);
    return best;
}

/* Integer taps of kind `kind`, scaled (a common integer factor, or a spike
 * size) so max|H| is about `target`. */
static void make_filter(double *t, int kh, int kw, int kind, double target)
{
    int u_, v_;
    int i, j, n = kh * kw;
    double s = 0, sc;
    for (i = 0; i < kh; i++)
        for (j = 0; j < kw; j++) {
            double v;
            switch (kind) {
            case 0: v = (double)((i * 5 + j * 3 + (i * j) % 7) % 7 - 3); break; /* bench */
            case 1: v = (double)((int)(next_u32() % 9) - 4); break;
            case 2: v = (double)((int)(next_u32() % 3) - 1); break; /* + spike below */
            case 3: v = (double)(1 + next_u32() % 3); break;
            default: v = ((i + j) & 1) ? 1.0 : -1.0; break; /* checker taps */
            }
            t[i * kw + j] = v;
        }
    if (kind == 2) {
        for (i = 0; i < n; i++) s += fabs(t[i]);
        t[(kh / 2) * kw + kw / 2] = floor(target - s > 1 ? target - s : 1);
        return;
    }
    s = max_h(t, kh, kw, block_n(kh > kw ? kh : kw), &u_, &v_);
    sc = floor(target / s);
    if (sc < 1) sc = 1;
    for (i = 0; i < n; i++) t[i] *= sc;
}

static void make_image(clconv_image8 *im, int input, int n, int tu, int tv)
{
    int x, y;
    for (y = 0; y < im->height; y++)
        for (x = 0; x < im->width; x++) {
            unsigned v;
            switch (input) {
            case 0: v = next_u32() & 255; break;
            case 1: v = (next_u32() & 1) ? 255 : 0; break;
            case 2: v = 255; break;
            case 3: v = (((x >> 7) + (y >> 7)) % 3 == 0) ? 0 : next_u32() & 255; break;
            case 4: v = ((x + y) & 1) ? 255 : 0; break;
            default:
                v = (unsigned)lrint(127.5 + 127.5 * cos(2 * M_PI * ((double)tu * y + (double)tv * x) / n));
                break;
            }
            im->data[(size_t)y * im->width + x] = (unsigned char)v;
        }
}

int main(int argc, char **argv)
{
    int size = 1024, ks[8] = {15, 31, 63}, nk = 3, i, a, b;
    double est = 0.125, worst = 0;
    char err[CLCONV_ERR_MAX];
    clconv_cl *cl = NULL;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--est") && i + 1 < argc) est = atof(argv[++i]);
        else if (!strcmp(argv[i], "--k") && i + 1 < argc) {
            char *s = argv[++i], *e;
            for (nk = 0; nk < 8 && *s; nk++) {
                ks[nk] = (int)strtol(s, &e, 10);
                s = *e ? e + 1 : e;
            }
        } else {
            fprintf(stderr, "usage: %s [--size S] [--est E] [--k 15,31,63]\n", argv[0]);
            return 2;
        }
    }
    if (clconv_cl_open(-1, -1, &cl, NULL, 0, err) != CLCONV_OK) {
        fprintf(stderr, "clconv_cl_open: %s\n", err);
        return 1;
    }
    printf("size %d, taps scaled to 5 A = %.3g, A = 255 max|H| eps (max|H| ~ %.0f)\n",
           size, est, est / (5 * 255 * FLT_EPSILON));
    printf("%-5s %-9s %-8s %9s %9s %9s %10s %8s %s\n", "k", "filter", "input", "sum|K|",
           "max|H|", "A", "max err", "err/A", "rint exact");
    for (a = 0; a < nk; a++)
        for (b = 0; b < (int)(sizeof kinds / sizeof *kinds); b++) {
            const int k = ks[a];
            double *t = malloc(sizeof(double) * (size_t)k * (size_t)k), sk = 0;
            clconv_filter *f = NULL;
            clconv_params prm;
            clconv_geometry g;
            clconv_image8 im = {size, size, malloc((size_t)size * (size_t)size)};
            clconv_plane o1 = {0, 0, NULL}, o2 = {0, 0, NULL};
            int in, tu = 0, tv = 0;
            double mh;
            make_filter(t, k, k, b, est / (5 * 255 * FLT_EPSILON));
            for (i = 0; i < k * k; i++) sk += fabs(t[i]);
            mh = max_h(t, k, k, block_n(k), &tu, &tv);
            clconv_filter_create(k, k, t, kinds[b], &f, err);
            clconv_params_init(&prm);
            clconv_geometry_compute(size, size, k, k, &prm, &g, err);
            clconv_plane_alloc(&o1, g.out_w, g.out_h);
            clconv_plane_alloc(&o2, g.out_w, g.out_h);
            for (in = 0; in < (int)(sizeof inputs / sizeof *inputs); in++) {
                clconv_cl_timing tm;
                double md = 0;
                long long wrong = 0;
                size_t p, n = (size_t)g.out_w * (size_t)g.out_h;
                make_image(&im, in, block_n(k), tu, tv);
                clconv_cl_set_kernel(cl, "tiled");
                if (clconv_conv_cl_image(cl, NULL, &im, &prm, f, &g, &o1, &tm, err)) {
                    fprintf(stderr, "tiled: %s\n", err);
                    return 1;
                }
                clconv_cl_set_kernel(cl, "fft");
                setenv("CLCONV_FAULT", "fft-raw,fft-nogate", 1);
                if (clconv_conv_cl_image(cl, NULL, &im, &prm, f, &g, &o2, &tm, err)) {
                    fprintf(stderr, "fft: %s\n", err);
                    return 1;
                }
                unsetenv("CLCONV_FAULT");
                for (p = 0; p < n; p++) {
                    const double d = fabs((double)o2.data[p] - o1.data[p]);
                    if (d > md) md = d;
                    if (rintf(o2.data[p]) + 0.0f != o1.data[p]) wrong++;
                }
                const double e = 255 * mh * FLT_EPSILON;
                if (strcmp(tm.kernel, "fft") != 0)
                    printf("%-5d %-9s %-8s %9.0f %9.0f %9.4f   (not taken: %s)\n", k,
                           kinds[b], inputs[in], sk, mh, e, tm.kernel);
                else
                    printf("%-5d %-9s %-8s %9.0f %9.0f %9.4f %10.4g %8.3f %s\n", k,
                           kinds[b], inputs[in], sk, mh, e, md, md / e, wrong ? "NO" : "yes");
                if (strcmp(tm.kernel, "fft") == 0 && md / e > worst) worst = md / e;
                fflush(stdout);
            }
            clconv_filter_destroy(f);
            clconv_plane_free(&o1);
            clconv_plane_free(&o2);
            free(im.data);
            free(t);
        }
    printf("worst err/estimate: %.3f\n", worst);
    clconv_cl_close(cl);
    return 0;
}
