/* test_resize_unit.c — the resize API below the CLI (host/core/resize.c):
 * small cases worked out by hand from Pillow's definitions, the statuses,
 * and the per-channel call: a channel of an interleaved image, resized in
 * place with a step, equals the same channel resized on its own, for every
 * filter and mode. py_resize compares the numbers with Pillow itself.
 */
#include "clconv.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

static void check_(int ok, const char *what, int line)
{
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "test_resize_unit.c:%d: FAILED: %s\n", line, what);
    }
}
#define CHECK(c) check_((c) != 0, #c, __LINE__)

static const clconv_resize_filter all[] = {
    CLCONV_RESIZE_NEAREST, CLCONV_RESIZE_BOX,     CLCONV_RESIZE_BILINEAR,
    CLCONV_RESIZE_HAMMING, CLCONV_RESIZE_BICUBIC, CLCONV_RESIZE_LANCZOS};
#define NALL (int)(sizeof all / sizeof all[0])

/* By hand: box 2 -> 1 weighs both pixels 1/2 (2^21 in fixed point); the sum
 * starts at one half, so 15.5 rounds up. Mode I rounds halves away from
 * zero, F keeps them. Nearest 4 -> 3 steps 4/3 from 2/3: pixels 0, 2, 3. */
static void hand_worked(void)
{
    char err[CLCONV_ERR_MAX];
    unsigned char b2[2] = {10, 21}, b4[4] = {0, 10, 20, 30};
    clconv_image8 in = {2, 1, b2}, out = {0, 0, NULL};
    float f2[2] = {0, 1}, fn[2] = {0, -1};
    clconv_plane p = {2, 1, f2}, q = {0, 0, NULL};
    int i, ok;

    CHECK(clconv_image8_resize(&in, 1, 1, CLCONV_RESIZE_BOX, &out, err) == CLCONV_OK);
    CHECK(out.width == 1 && out.height == 1 && out.data && out.data[0] == 16);
    clconv_image8_free(&out);
    in = (clconv_image8){4, 1, b4};
    CHECK(clconv_image8_resize(&in, 3, 1, CLCONV_RESIZE_NEAREST, &out, err) == CLCONV_OK);
    CHECK(out.data && out.data[0] == 0 && out.data[1] == 20 && out.data[2] == 30);
    clconv_image8_free(&out);
    CHECK(clconv_plane_resize_filter(&p, 1, 1, CLCONV_RESIZE_BOX, 1, &q, err) == CLCONV_OK);
    CHECK(q.data && q.data[0] == 1.0f);
    clconv_plane_free(&q);
    CHECK(clconv_plane_resize_filter(&p, 1, 1, CLCONV_RESIZE_BOX, 0, &q, err) == CLCONV_OK);
    CHECK(q.data && q.data[0] == 0.5f);
    clconv_plane_free(&q);
    p.data = fn;
    CHECK(clconv_plane_resize_filter(&p, 1, 1, CLCONV_RESIZE_BOX, 1, &q, err) == CLCONV_OK);
    CHECK(q.data && q.data[0] == -1.0f);
    clconv_plane_free(&q);
    /* bilinear 1 -> 3 of one pixel: every weight set is that pixel alone. */
    in = (clconv_image8){1, 1, b2};
    CHECK(clconv_image8_resize(&in, 3, 2, CLCONV_RESIZE_BILINEAR, &out, err) == CLCONV_OK);
    for (ok = out.data != NULL, i = 0; ok && i < 6; i++) ok = out.data[i] == 10;
    CHECK(ok);
    clconv_image8_free(&out);
}

static void statuses(void)
{
    char err[CLCONV_ERR_MAX] = "";
    unsigned char b[4] = {1, 2, 3, 4};
    clconv_image8 in = {2, 2, b}, out = {7, 7, NULL};
    clconv_plane p = {0, 0, NULL};
    float f[4] = {1, 2, 3, 4};
    clconv_plane pin = {2, 2, f};

    CHECK(clconv_image8_resize(&in, 0, 3, CLCONV_RESIZE_BICUBIC, &out, err) ==
          CLCONV_E_INVALID);
    CHECK(out.data == NULL && out.width == 0 && strstr(err, "0x3") != NULL);
    CHECK(clconv_plane_resize_filter(&pin, 3, -1, CLCONV_RESIZE_BOX, 0, &p, err) ==
          CLCONV_E_INVALID);
    CHECK(p.data == NULL);
    CHECK(clconv_image8_resize(&in, 3, 3, (clconv_resize_filter)99, &out, err) ==
          CLCONV_E_INVALID);
    CHECK(out.data == NULL && strstr(err, "filter") != NULL);
    CHECK(strcmp(clconv_resize_filter_name(CLCONV_RESIZE_BICUBIC), "bicubic") == 0);
    CHECK(strcmp(clconv_resize_filter_name(CLCONV_RESIZE_LANCZOS), "lanczos") == 0);
    CHECK(clconv_resize_filter_name((clconv_resize_filter)NALL) == NULL);
    CHECK(clconv_resize_filter_name((clconv_resize_filter)-1) == NULL);
}

/* A channel of an interleaved 3-channel image with a step of 3 equals the
 * channel alone, every filter, down, up and mixed, bytes and floats. */
static void per_channel(void)
{
    enum { W = 23, H = 17, C = 3 };
    static const int sizes[][2] = {{7, 5}, {41, 30}, {50, 4}, {1, 1}, {23, 9}};
    unsigned char rgb[W * H * C], plane[W * H], o3[60 * 40 * C], o1[60 * 40];
    float frgb[W * H * C], fplane[W * H], f3[60 * 40 * C], f1[60 * 40];
    char err[CLCONV_ERR_MAX];
    unsigned s = 12345;
    int i, f, z, c, mode, ok;

    for (i = 0; i < W * H * C; i++) {
        s = s * 1103515245u + 12345u;
        rgb[i] = (unsigned char)(s >> 16);
        frgb[i] = (float)(s >> 16 & 0xffff) - 20000.0f;
    }
    for (f = 0; f < NALL; f++)
        for (z = 0; z < (int)(sizeof sizes / sizeof sizes[0]); z++) {
            const int ow = sizes[z][0], oh = sizes[z][1];
            CHECK(clconv__resize_u8(rgb + 1, W, H, C, o3 + 1, ow, oh, C, all[f], err) ==
                  CLCONV_OK);
            for (c = 0; c < C; c++) {
                for (i = 0; i < W * H; i++) plane[i] = rgb[i * C + c];
                CHECK(clconv__resize_u8(rgb + c, W, H, C, o3 + c, ow, oh, C, all[f], err) ==
                      CLCONV_OK);
                CHECK(clconv__resize_u8(plane, W, H, 1, o1, ow, oh, 1, all[f], err) ==
                      CLCONV_OK);
                for (ok = 1, i = 0; i < ow * oh; i++) ok &= o3[i * C + c] == o1[i];
                CHECK(ok);
                for (mode = 0; mode < 2; mode++) {
                    for (i = 0; i < W * H; i++) fplane[i] = frgb[i * C + c];
                    CHECK(clconv__resize_f(frgb + c, W, H, C, f3 + c, ow, oh, C, all[f], mode,
                                           err) == CLCONV_OK);
                    CHECK(clconv__resize_f(fplane, W, H, 1, f1, ow, oh, 1, all[f], mode,
                                           err) == CLCONV_OK);
                    for (ok = 1, i = 0; i < ow * oh; i++)
                        ok &= memcmp(&f3[i * C + c], &f1[i], sizeof(float)) == 0;
                    CHECK(ok);
                }
            }
        }
}

int main(void)
{
    hand_worked();
    statuses();
    per_channel();
    printf("test_resize_unit: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
