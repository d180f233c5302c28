/* stb_impl.c — compiles Debian's stb headers (libstb-dev) into clconv with
 * the configuration it needs, instead of linking libstb.so's defaults:
 * only the documented input formats are decodable (PNM is pnm.c's) (JPEG goes to
 * libjpeg-turbo instead, see jpeg.c; less decoder code facing
 * hostile files, and that code is under the sanitizers and the fuzzers with
 * ours), and PNG deflate goes through zlib (several times faster than stb's
 * own deflate, and smaller).
 * Nothing of ours belongs in it but stb's configuration (and the reset
 * of stb's failure reason, which only this file can reach).
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Level 1 with the run-length strategy (what OpenCV's PNG writer uses by
 * default): on stb's filtered rows it is both faster and smaller than the
 * default strategy (a 1024x768 photo: 6.7 ms, 314 KB against 8.0 ms, 356 KB),
 * since after filtering runs of equal bytes matter more than far matches. */
static unsigned char *clconv__deflate(unsigned char *data, int len,
                                      int *out_len, int quality)
{
    z_stream z;
    uLong cap = compressBound((uLong)len);
    unsigned char *out = malloc(cap);
    (void)quality;
    if (!out) return NULL;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15, 8, Z_RLE) != Z_OK) {
        free(out);
        return NULL;
    }
    z.next_in = data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&z);
        free(out);
        return NULL;
    }
    *out_len = (int)z.total_out;
    deflateEnd(&z);
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
#include "io/io.h"
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
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#define STBIW_ZLIB_COMPRESS clconv__deflate
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

/* Forgets stb's last failure reason (it outlives the call that set it), so
 * a message never carries another file's reason. */
void clconv__stbi_reset(void)
{
    stbi__g_failure_reason = NULL;
}
