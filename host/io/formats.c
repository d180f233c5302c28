/* formats.c — the format table: every image format clconv knows, with its
 * extensions, magic bytes, decoder, encoder and what it holds. The decoder
 * (load.c), the encoder (save.c), clconv_format_supported, the CLI's checks
 * and its --help all read this one table, so a new format is one codec file
 * and one row here (docs/layers.md has the recipe).
 * It must not decode or encode: the codecs do.
 */
#include "io/io.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const clconv__format clconv__formats[] = {
    {"PNG", "png", "\x89PNG\r\n\x1a\n", 8, clconv__decode_png,
     clconv__encode_png, 1, "8- or 16-bit gray out (--depth); reads gray, RGB, alpha, "
     "palette, 16-bit (full depth)", CLCONV__D8 | CLCONV__D16, NULL},
    {"JPEG", "jpg|jpeg", "\xFF\xD8\xFF", 3, clconv__decode_jpeg,
     clconv__encode_jpeg, 1, "8-bit gray out (--quality); reads gray and color",
     CLCONV__D8, NULL},
    {"BMP", "bmp", "BM", 2, clconv__decode_stb, clconv__encode_bmp, 1,
     "8-bit gray out; reads gray and color", CLCONV__D8, NULL},
    {"TGA", "tga", "", 0, clconv__decode_stb, clconv__encode_tga, 1,
     "8-bit gray out; reads gray and color", CLCONV__D8, NULL},
    {"GIF", "gif", "GIF8", 4, clconv__decode_stb, NULL, 0,
     "read only: the first frame", 0, NULL},
    {"PNM", "pgm|pnm|pbm|ppm", "P", 1, clconv__decode_pnm, clconv__encode_pnm, 1,
     "8- or 16-bit gray PGM out (.pgm, .pnm; --depth); reads PBM, PGM and PPM, "
     "plain and raw, 16-bit at full depth", CLCONV__D8 | CLCONV__D16, "pgm|pnm"},
    {"NPY", "npy", "\x93NUMPY", 6, clconv__decode_npy, clconv__encode_npy, 0,
     "float32 out, the raw result; reads 2-D float and 8-32-bit integers",
     CLCONV__DF, NULL},
    /* "II", the byte order clconv writes; the sniffer also takes "MM" and
     * checks the version (42, or 43 for BigTIFF) that follows. */
    {"TIFF", "tif|tiff", "II", 2, clconv__decode_tiff, clconv__encode_tiff, 1,
     "8-, 16-bit or float32 gray or colour out, deflate, every page of a stack "
     "(--depth); reads 8/16-bit and float32 gray, RGB and RGBA, multi-page stacks",
     CLCONV__D8 | CLCONV__D16 | CLCONV__DF,
     NULL},
    {"WebP", "", "RIFF", 4, NULL, NULL, 0, "refused", 0, NULL},
    {NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, 0, NULL}};

/* "II" or "MM", then 42 (TIFF) or 43 (BigTIFF) in that byte order. */
static int is_tiff(const unsigned char *b, size_t n)
{
    if (n < 8) return 0;
    if (b[0] == 'I' && b[1] == 'I') return b[3] == 0 && (b[2] == 42 || b[2] == 43);
    if (b[0] == 'M' && b[1] == 'M') return b[2] == 0 && (b[3] == 42 || b[3] == 43);
    return 0;
}

const clconv__format *clconv__format_sniff(const unsigned char *b, size_t n)
{
    const clconv__format *f;
    for (f = clconv__formats; f->name; f++) {
        if (strcmp(f->name, "TIFF") == 0) {
            if (is_tiff(b, n)) return f;
            continue;
        }
        if (f->magic_len == 0 || n < f->magic_len ||
            memcmp(b, f->magic, f->magic_len) != 0)
            continue;
        /* The magic's fine print: GIF87a/GIF89a, RIFF....WEBP, P1..P6. */
        if (strcmp(f->name, "GIF") == 0 &&
            !(n >= 6 && (b[4] == '7' || b[4] == '9') && b[5] == 'a'))
            continue;
        if (strcmp(f->name, "WebP") == 0 && !(n >= 12 && memcmp(b + 8, "WEBP", 4) == 0))
            continue;
        if (strcmp(f->name, "PNM") == 0 && !(n >= 2 && b[1] >= '1' && b[1] <= '6'))
            continue;
        return f;
    }
    return NULL;
}

/* Nonzero when `ext` is one of the '|'-separated names of `list`. */
static int ext_in(const char *ext, const char *list)
{
    const size_t n = strlen(ext);
    while (*list) {
        const size_t m = strcspn(list, "|");
        if (m == n && n > 0 && strncasecmp(list, ext, n) == 0) return 1;
        list += m;
        if (*list == '|') list++;
    }
    return 0;
}

const clconv__format *clconv__format_by_name(const char *path, int writable)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    const clconv__format *f;
    if (!dot || (slash && dot < slash)) return NULL;
    for (f = clconv__formats; f->name; f++)
        if ((writable ? f->encode != NULL : f->decode != NULL) &&
            ext_in(dot + 1, writable && f->wexts ? f->wexts : f->exts))
            return f;
    return NULL;
}

int clconv_format_supported(const char *path)
{
    return clconv__format_by_name(path, 1) != NULL;
}

/* The bit of the depth mask a depth stands for (0: none). */
static unsigned depth_bit(clconv_depth d)
{
    return d == CLCONV_DEPTH_8 ? CLCONV__D8 : d == CLCONV_DEPTH_16 ? CLCONV__D16
           : d == CLCONV_DEPTH_FLOAT ? CLCONV__DF : 0u;
}

clconv_depth clconv__format_depth(const clconv__format *f, clconv_depth want,
                                  clconv_depth in_depth)
{
    if (!f || !f->encode) return CLCONV_DEPTH_AUTO;
    if (want != CLCONV_DEPTH_AUTO)
        return (f->depths & depth_bit(want)) ? want : CLCONV_DEPTH_AUTO;
    if (f->depths & depth_bit(in_depth)) return in_depth;
    /* The nearest the format holds: a float format for any input; an
     * integer one takes 8 bits for a float input (values used as they
     * are, never rescaled, and 8 is what such outputs always were), and
     * 8 for a 16-bit input only where 16 is not held. */
    if (f->depths & CLCONV__DF) return CLCONV_DEPTH_FLOAT;
    if (f->depths & CLCONV__D8) return CLCONV_DEPTH_8;
    return CLCONV_DEPTH_16;
}

clconv_depth clconv_format_depth(const char *path, clconv_depth want,
                                 clconv_depth in_depth)
{
    return clconv__format_depth(clconv__format_by_name(path, 1), want, in_depth);
}

void clconv__format_names(char *buf, size_t n, int writable, const char *prefix,
                          const char *sep, const char *last)
{
    const clconv__format *f, *g;
    size_t used = 0;
    if (n == 0) return;
    buf[0] = '\0';
    for (f = clconv__formats; f->name; f++) {
        const char *word = writable ? f->exts : f->name;
        const size_t wl = writable ? strcspn(word, "|") : strlen(f->name);
        int more = 0;
        if (writable ? !f->encode : !f->decode) continue;
        for (g = f + 1; g->name; g++)
            if (writable ? g->encode != NULL : g->decode != NULL) more = 1;
        if (used > 0 && used + 1 < n)
            used += (size_t)snprintf(buf + used, n - used, "%s", more ? sep : last);
        if (used + 1 < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%.*s", prefix,
                                     (int)wl, word);
        if (used >= n) used = n - 1;
    }
}

int clconv__format_holds_pages(const clconv__format *f)
{
    return f && strcmp(f->name, "TIFF") == 0;
}
