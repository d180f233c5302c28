/* example_api.c — using libclconv from C alone, step by step:
 *
 *     example_api INPUT OUTPUT [FILTER]
 *
 * loads INPUT as a gray plane, parses FILTER (default "sharpen"), works out
 * the geometry, pads, correlates on an OpenCL device when there is one (else
 * on the CPU reference) and writes OUTPUT (the extension picks the format).
 * The batch API (clconv_process_file) does all of this in one call; this
 * shows the pieces.
 */
#include "clconv.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    const char *spec = argc > 3 ? argv[3] : "sharpen";
    char err[CLCONV_ERR_MAX], why[256];
    /* Everything starts empty, so one cleanup path can free it all. */
    clconv_plane img = {0, 0, NULL}, padded = {0, 0, NULL}, out = {0, 0, NULL};
    clconv_filter *filter = NULL;
    clconv_cl *cl = NULL;
    clconv_params prm;
    clconv_geometry g;
    clconv_status st;
    long long nans = 0;
    int rc = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: %s INPUT OUTPUT [FILTER]\n", argv[0]);
        return 2;
    }

    /* 1. Decode to a float plane (Pillow's luma for color images). The
     *    second argument caps the pixel count before decoding (0: none). */
    st = clconv_image_load(argv[1], 1LL << 28, &img, err);
    if (st != CLCONV_OK) goto fail;

    /* 2. The filter: a preset, "@file" or an inline "a,b;c,d" matrix. */
    st = clconv_filter_parse(spec, &filter, err);
    if (st != CLCONV_OK) goto fail;

    /* 3. Sizes: defaults are TensorFlow SAME padding, constant 0 border,
     *    stride 1, dilation 1. Change prm's fields for other choices. */
    clconv_params_init(&prm);
    st = clconv_geometry_compute(img.width, img.height,
                                 clconv_filter_width(filter),
                                 clconv_filter_height(filter), &prm, &g, err);
    if (st != CLCONV_OK) goto fail;

    /* 4. Pad on the host; both compute paths read this padded plane. */
    st = clconv_pad(&img, &g, &prm, &padded, err);
    if (st != CLCONV_OK) goto fail;
    st = clconv_plane_alloc(&out, g.out_w, g.out_h);
    if (st != CLCONV_OK) {
        snprintf(err, sizeof err, "cannot allocate the output");
        goto fail;
    }

    /* 5. Compute: an OpenCL device when one opens, else the CPU reference.
     *    (-1, -1) lets the library pick: a GPU first, then any device. */
    st = clconv_cl_open(-1, -1, &cl, why, sizeof why, err);
    if (st == CLCONV_OK) {
        clconv_cl_timing tm;
        printf("OpenCL: %s (%s)\n", clconv_cl_info(cl)->name, why);
        st = clconv_conv_cl(cl, &padded, filter, &g, &out, &tm, err);
        if (st == CLCONV_OK)
            printf("kernel %.3f ms in %d band(s)\n", tm.kernel_ms, tm.bands);
    }
    if (st != CLCONV_OK) {
        /* No device, or it failed: the reference computes the same numbers
         * (abs_sum is only needed for verification, so NULL here). */
        printf("CPU reference (%s)\n", err);
        st = clconv_conv_ref(&padded, filter, &g, &out, NULL);
        if (st != CLCONV_OK) {
            snprintf(err, sizeof err, "reference: %s", clconv_status_str(st));
            goto fail;
        }
    }

    /* 6. Write atomically; 8-bit formats clamp with ties to even. */
    st = clconv_image_save(argv[2], &out, CLCONV_MAP_CLAMP, 95, &nans, err);
    if (st != CLCONV_OK) goto fail;
    printf("%s: %dx%d -> %s: %dx%d with %s\n", argv[1], img.width, img.height,
           argv[2], out.width, out.height, clconv_filter_name(filter));
    rc = 0;
    goto cleanup;

fail:
    fprintf(stderr, "example_api: %s (%s)\n", err, clconv_status_str(st));
cleanup:
    /* Every free/destroy/close accepts NULL and empty planes. */
    clconv_cl_close(cl);
    clconv_filter_destroy(filter);
    clconv_plane_free(&img);
    clconv_plane_free(&padded);
    clconv_plane_free(&out);
    return rc;
}
