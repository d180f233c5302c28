/* stb_impl.c — compiles Debian's stb headers (libstb-dev) into clconv with
 * the configuration it needs, instead of linking libstb.so's defaults:
 * only the documented input formats are decodable (less decoder code facing
 * hostile files, and that code is under the sanitizers and the fuzzers with
 * ours), and PNG deflate goes through zlib (about 4x faster than stb's own
 * deflate at a similar size).
 */
#include <stdlib.h>
#include <zlib.h>

/* Level 1: fastest deflate; for filtered image rows it loses only a few
 * percent of size against level 6 and takes a third of the time. */
static unsigned char *clconv__deflate(unsigned char *data, int len,
                                      int *out_len, int quality)
{
    uLongf n = compressBound((uLong)len);
    unsigned char *out = malloc(n);
    (void)quality;
    if (!out) return NULL;
    if (compress2(out, &n, data, (uLong)len, 1) != Z_OK) {
        free(out);
        return NULL;
    }
    *out_len = (int)n;
    return out;
}

#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#define STBIW_ZLIB_COMPRESS clconv__deflate
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>
