/* stb_impl.c — compiles Debian's stb headers (libstb-dev) into clconv with
 * the configuration it needs, instead of linking libstb.so's defaults:
 * only the documented input formats are decodable (JPEG goes to
 * libjpeg-turbo instead, see codecs.c; less decoder code facing
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

/* Every stb allocation is zeroed, so a decoder that leaves part of its
 * output or tables unwritten (stb 2.27's PNM and TGA readers on a short
 * file, its JPEG reader on a scan naming an undefined Huffman table) yields
 * zeros, never what the heap held before (another image's pixels); and
 * capped per decode by clconv__stbi_cap, which image.c sets from the
 * header's size, so a PNG whose zlib stream inflates far past its IHDR
 * size (a 1 MB file declaring 1x1 pixels inflates to 1 GiB in stb) fails
 * as out of memory instead. */
#include "clconv_internal.h"
_Thread_local size_t clconv__stbi_cap;
_Thread_local int clconv__stbi_capped;
static void *clconv__stbi_malloc(size_t n)
{
    if (clconv__stbi_cap && n > clconv__stbi_cap) {
        clconv__stbi_capped = 1;
        return NULL;
    }
    return calloc(1, n ? n : 1);
}
static void *clconv__stbi_realloc(void *p, size_t n)
{
    if (clconv__stbi_cap && n > clconv__stbi_cap) {
        clconv__stbi_capped = 1;
        return NULL;
    }
    return realloc(p, n);
}
#define STBI_MALLOC(n) clconv__stbi_malloc(n)
#define STBI_REALLOC(p, n) clconv__stbi_realloc(p, n)
#define STBI_FREE(p) free(p)

#define STBI_ONLY_PNG
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
