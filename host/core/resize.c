/* resize.c — --resize: a plane resized with stb_image_resize on float data
 * (Mitchell filter when shrinking, Catmull-Rom when enlarging, clamped
 * edges). stb's implementation is compiled in core/stb_resize.c.
 * It must not know about files or devices.
 */
#include "core/core.h"

#include <stb_image_resize.h>

clconv_status clconv_plane_resize(const clconv_plane *in, int width, int height,
                                  clconv_plane *out, char err[CLCONV_ERR_MAX])
{
    clconv_status st = clconv_plane_alloc(out, width, height);
    if (st != CLCONV_OK) {
        clconv__err(err, "cannot allocate a %dx%d plane for --resize: %s",
                    width, height, clconv_status_str(st));
        return st;
    }
    if (!stbir_resize_float(in->data, in->width, in->height, 0, out->data,
                            width, height, 0, 1)) {
        clconv_plane_free(out);
        clconv__err(err, "resize to %dx%d failed", width, height);
        return CLCONV_E_NOMEM;
    }
    return CLCONV_OK;
}
