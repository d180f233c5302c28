/* io.h — what the codecs of host/io/ share, not installed: the gray (or,
 * for --color, multi-channel) destination every decoder writes into, the format table (formats.c) that
 * names each format's extensions, magic bytes, decoder, encoder and what it
 * holds, and the codec entry points. Uses host/core/ only (docs/layers.md).
 * Nothing here may know about devices or the CLI.
 */
#ifndef CLCONV_IO_H
#define CLCONV_IO_H

#include "core/core.h"

#include <stddef.h>

/* Where a decoder puts its gray image: as floats (f) or as bytes (b);
 * exactly one is set. */
typedef struct clconv__gray {
    clconv_plane *f;
    clconv_image8 *b;
    clconv_image *c;    /* set: keep the channels (--color) instead of luma;
                           f and b are then unused */
} clconv__gray;

/* Allocates the destination for a w x h image (CLCONV_E_NOMEM, ...). */
clconv_status clconv__gray_alloc(clconv__gray *g, int w, int h);
void clconv__gray_free(clconv__gray *g);

/* Stores row y of gray from w pixels of `comp` 8-bit channels: the channel
 * itself for gray (1, 2), Pillow's L = (19595 R + 38470 G + 7471 B + 32768)
 * >> 16 for colour (3, 4). */
void clconv__gray_row(clconv__gray *g, int y, const unsigned char *px,
                      int comp);

/* For a colour destination (g->c): allocates CLCONV_MAX_CHANNELS planes of
 * w x h (load.c keeps the ones a decoder fills), and the 16-bit decoders'
 * way in: pixel i of `comp` samples at full depth. */
clconv_status clconv__color_alloc(clconv__gray *g, int w, int h);
void clconv__color_px16(clconv__gray *g, size_t i, const unsigned *s, int comp);

/* What a decoder is handed: the whole file in memory, the name for
 * messages, the pixel limit (0: none), and where to put the image. A .npy
 * file and a 16-bit image (PNG, PNM) always decode into `npy` (floats, at
 * full depth: DESIGN §6), every other image into `out`. */
typedef struct clconv__decode_args {
    const unsigned char *buf;
    size_t len;
    const char *name;
    long long max_pixels;
    clconv__gray *out;
    clconv_plane *npy;
    int page;                   /* a multi-page file's page to read (TIFF);
                                   -1: refuse a stack (the one-image API) */
} clconv__decode_args;

typedef clconv_status (*clconv__decode_fn)(const clconv__decode_args *a,
                                           const char *kind, char *err);

/* Encoders write through `fn` (a sink that records write failures and
 * the test fault switch) like stbi_write_*_to_func; they return 0 when the
 * encoder itself fails. Integer formats get the mapped samples: `u8` at
 * depth 8, `u16` at depth 16 (the other NULL); float formats the plane
 * `p`, which always gives the size. */
typedef void (*clconv__write_fn)(void *ctx, void *data, int size);
typedef struct clconv__encode_args {
    clconv__write_fn fn;
    void *ctx;
    const clconv_plane *p;
    const unsigned char *u8;
    int quality;
    const uint16_t *u16;
    int depth;                  /* 8, 16 or CLCONV_DEPTH_FLOAT */
    int channels;               /* 0 or 1: gray; 2..4: u8, u16 and fc hold
                                   that many samples a pixel, interleaved */
    const float *fc;            /* float samples, interleaved (channels > 1) */
    void *stack;                /* set: a page of this open stack file
                                   (clconv__tiff_out), not a file */
} clconv__encode_args;
typedef int (*clconv__encode_fn)(const clconv__encode_args *a);

/* One row of the format table. */
typedef struct clconv__format {
    const char *name;           /* "PNG": what messages call it */
    const char *exts;           /* extensions it is written and walked
                                   under, '|'-separated, the first the
                                   canonical one: "jpg|jpeg" */
    const char *magic;          /* the bytes a file of it starts with */
    size_t magic_len;           /* 0: no magic (TGA); the name decides */
    clconv__decode_fn decode;   /* NULL: recognised but refused */
    clconv__encode_fn encode;   /* NULL: read only */
    int u8_out;                 /* the encoder takes mapped integer gray */
    const char *holds;          /* what it holds, for --help and docs */
    unsigned depths;            /* CLCONV__D8 | CLCONV__D16 | CLCONV__DF:
                                   the depths its encoder writes */
    const char *wexts;          /* extensions it is written under, when
                                   fewer than exts (NULL: exts) */
} clconv__format;

#define CLCONV__D8 1u
#define CLCONV__D16 2u
#define CLCONV__DF 4u

/* The depth format f writes for `want` after an input of `in_depth`
 * (clconv_format_depth's rules); CLCONV_DEPTH_AUTO when it cannot. */
clconv_depth clconv__format_depth(const clconv__format *f, clconv_depth want,
                                  clconv_depth in_depth);

/* read_file (load.c) waits on a pipe or FIFO only while *stop is 0: the
 * pool sets this per worker thread (NULL: no flag). interrupted() says
 * whether the thread's last read gave up because the flag was set. */
void clconv__io_set_stop(volatile int *stop);
int clconv__io_interrupted(void);

/* The table, ending with a row whose name is NULL. */
extern const clconv__format clconv__formats[];

/* The format a file's first bytes announce; NULL for none. */
const clconv__format *clconv__format_sniff(const unsigned char *b, size_t n);
/* The format an output or input file name's extension names (any case);
 * NULL for none. `writable`: only formats with an encoder. */
const clconv__format *clconv__format_by_name(const char *path, int writable);

/* Joins the table's names into buf: format names of the readable formats
 * (writable = 0), or the canonical extensions of the writable ones, each
 * after `prefix`, split by `sep` and `last` before the final one:
 * ("", ", ", " or ") gives "PNG, JPEG, ... or NPY". */
void clconv__format_names(char *buf, size_t n, int writable, const char *prefix,
                          const char *sep, const char *last);

/* The codecs, one file each (png.c, jpeg.c, npy.c, pnm.c, stb_formats.c,
 * bmp.c). */
clconv_status clconv__decode_png(const clconv__decode_args *a, const char *kind,
                                 char *err);
clconv_status clconv__decode_jpeg(const clconv__decode_args *a, const char *kind,
                                  char *err);
clconv_status clconv__decode_npy(const clconv__decode_args *a, const char *kind,
                                 char *err);
/* PBM, PGM and PPM, plain and raw (pnm.c): 16-bit ones into `npy`. */
clconv_status clconv__decode_pnm(const clconv__decode_args *a, const char *kind,
                                 char *err);
/* BMP, TGA and GIF, by stb_image, and PNGs png.c leaves to stb:
 * _check reads and checks the header (sizes, limits, truncated raw data)
 * into *w, *h; _pixels decodes after it; _decode_stb does both. */
clconv_status clconv__decode_stb(const clconv__decode_args *a, const char *kind,
                                 char *err);
clconv_status clconv__stb_check(const clconv__decode_args *a, const char *kind,
                                int *w, int *h, char *err);
clconv_status clconv__stb_pixels(const clconv__decode_args *a, const char *kind,
                                 int w, int h, char *err);
/* 16-bit PNGs by stb at full depth into `npy` (stb_formats.c). */
clconv_status clconv__stb_pixels16(const clconv__decode_args *a, int w, int h,
                                   char *err);
int clconv__encode_png(const clconv__encode_args *a);
int clconv__encode_jpeg(const clconv__encode_args *a);
int clconv__encode_bmp(const clconv__encode_args *a);
int clconv__encode_tga(const clconv__encode_args *a);
int clconv__encode_npy(const clconv__encode_args *a);
/* 8- or 16-bit PGM, P5 (pnm.c). */
int clconv__encode_pnm(const clconv__encode_args *a);
/* TIFF through libtiff (tiff.c): the first page of a single-page file,
 * 8-bit unsigned into `out`, 16-bit, signed and float samples into `npy`;
 * written gray 8/16-bit or float32, deflate, BigTIFF past 4 GiB. */
clconv_status clconv__decode_tiff(const clconv__decode_args *a, const char *kind,
                                  char *err);
int clconv__encode_tiff(const clconv__encode_args *a);

/* ---- multi-page stacks (DESIGN §6) ---- */

/* The default page limit of one file (clconv_job's max_pages). */
#define CLCONV__MAX_PAGES 65536L

/* What a page holds, from its header: size, the channels --color reads
 * (a palette: 3) and the depth of its samples. */
typedef struct clconv__page_info {
    int w, h, channels;
    clconv_depth depth;
} clconv__page_info;

/* How many pages a file holds (1 for every format but TIFF): a TIFF's
 * directory chain walked in the raw bytes (a loop, or more than max_pages
 * (0: no limit), refused before anything is allocated), then every page's
 * header checked as its decode would (what it holds, max_pixels, the strip
 * tables), each handed to `each` (may be NULL). */
clconv_status clconv__file_pages(const unsigned char *buf, size_t len, const char *name,
                                 long long max_pages, long long max_pixels,
                                 void (*each)(void *ctx, const clconv__page_info *p),
                                 void *ctx, long *pages, char *err);
clconv_status clconv__tiff_pages(const unsigned char *buf, size_t len, const char *name,
                                 long long max_pages, long long max_pixels,
                                 void (*each)(void *ctx, const clconv__page_info *p),
                                 void *ctx, long *pages, char *err);
/* The pages of the file at `path`, cheaply (its first bytes, and for a
 * TIFF the directory chain read in place), for naming outputs before any
 * image is read: 1 for anything else or anything unreadable, at most
 * max_pages + 1. */
long clconv__path_pages(const char *path, long long max_pages);
/* Whether format f writes several pages into one file (TIFF). */
int clconv__format_holds_pages(const clconv__format *f);
/* "out-07.png" for page 7 of 12 of "out.png": the page number before the
 * extension, zero-padded to the digits of the last page (pages - 1);
 * malloc'd. */
char *clconv__page_name(const char *path, long page, long pages);
/* BigTIFF's rule (clconv__encode_tiff's) for raw bytes in that many strips. */
int clconv__tiff_needs_big(unsigned long long raw, unsigned long long strips);
/* A TIFF written page by page into an open descriptor (O_RDWR). */
typedef struct clconv__tiff_out clconv__tiff_out;
clconv__tiff_out *clconv__tiff_out_open(int fd, int big, long long fault_after,
                                        char *why, size_t n);
int clconv__tiff_out_close(clconv__tiff_out *o, int *err_no, char *why, size_t n);
/* The errno of the stack file's first failed write (0: none). */
int clconv__tiff_out_errno(const clconv__tiff_out *o);

/* Reading a file once, then decoding it page by page (load.c): the file
 * whole (clconv_image_load's limits), and clconv_image_load_depth and
 * clconv_image_load_color on its bytes, for page `page` (-1: refuse a
 * stack). */
clconv_status clconv__read_file(const char *path, unsigned char **buf, size_t *len,
                                char *err);
clconv_status clconv__load_depth_mem(const unsigned char *buf, size_t len, const char *name,
                                     int page, long long max_pixels, clconv_image8 *out8,
                                     clconv_plane *out, clconv_depth *depth, char *err);
clconv_status clconv__load_color_mem(const unsigned char *buf, size_t len, const char *name,
                                     int page, long long max_pixels, clconv_image *out,
                                     char *err);
/* The depth the last decode on this thread found in the file, for decoders
 * that hold several (tiff.c sets it; AUTO: the caller's rule decides). */
extern _Thread_local clconv_depth clconv__decoded_depth;

/* Decodes an 8-bit non-interlaced gray, RGB, gray+alpha or RGBA PNG with
 * zlib (png.c); returns CLCONV__NOT_MINE, having touched nothing, for every
 * other PNG, which stb decodes. On failure `out` is empty and err holds one
 * line naming the file. */
#define CLCONV__NOT_MINE ((clconv_status)100)
clconv_status clconv__png_fast(const unsigned char *buf, size_t len,
                               const char *name, long long max_pixels,
                               clconv__gray *out, char *err);
/* ---- files.c: paths, directories and the writer's temporary files ---- */

/* Which directory entry a path names: an existing file or directory by its
 * device and inode (symbolic links followed, so two spellings, a link and a
 * hard link of one file all agree), else the nearest existing directory
 * above it with the rest of the path, spelt without "." components
 * ("out/./x.png" and "out/x.png" agree before either exists). */
typedef struct clconv__path_key {
    unsigned long long dev, ino;
    char *rest;  /* malloc'd "/name..." below dev/ino, NULL when it exists */
    int exists;
} clconv__path_key;
/* 0, or -1 when out of memory. Free with clconv__path_key_free. */
int clconv__path_key_of(const char *path, clconv__path_key *k);
void clconv__path_key_free(clconv__path_key *k);
/* A total order; 0 when both keys name one entry. */
int clconv__path_key_cmp(const clconv__path_key *a, const clconv__path_key *b);
/* Nonzero when two paths name one entry (clconv__path_key_of). */
int clconv__same_path(const char *a, const char *b);

/* mkdir -p: every directory of `path` (without its last component when
 * `parents_only`), mode 0777 less the umask. A directory that exists, or
 * that another process makes at the same moment, is success; a file in
 * its place is an error naming it (CLCONV_E_IO). */
clconv_status clconv__make_dirs(const char *path, int parents_only, char *err);

/* The writer's temporary file for `path`, malloc'd: in path's directory,
 * ".<name>.clconv-tmp-<host>-<pid>-<6 letters from seed>". */
char *clconv__temp_name(const char *path, unsigned long long seed);
/* Removes from `dir` the temporary files of that naming (and the older
 * ".clconv-tmp-XXXXXX") whose writer is gone: written on this host by a
 * process that no longer exists, or not modified for a day. Never anything
 * else. Returns how many it removed. */
int clconv__clean_temps(const char *dir);

/* ---- save.c: the atomic writer ---- */

/* clconv_image_save, with more to say: the format is the one `format_of`'s
 * extension names (NULL: path's own), and the destination is refused,
 * right before the rename, when it is then one of the nkeep files of
 * `keep` (an input that took its place by a race, say). */
clconv_status clconv__image_save(const char *path, const char *format_of,
                                 const clconv__path_key *keep, int nkeep,
                                 const clconv_plane *p, clconv_map map, int quality,
                                 long long *nan_count, char *err);

/* How a plane is written: the mapping, the depth (AUTO: in_depth's, by
 * clconv__format_depth), and where the counts go (may be NULL). */
typedef struct clconv__save_opts {
    clconv_map map;
    int quality;
    clconv_depth depth, in_depth;
    long long *nan_count, *clipped;
    clconv_depth *written;      /* receives the depth written */
    const clconv_image *color;  /* set: write these channels, not the plane */
    int alpha_clamp;            /* the last channel is a kept alpha: clamp
                                   it whatever the map */
    int *channels;              /* receives the channels written (may be NULL) */
    /* Gray only: the samples already mapped (by the device map), written as
     * they are when the depth resolves to mapped_bits (else refused), with
     * their counts; the plane then gives the size only. */
    const void *mapped;
    int mapped_bits;
    long long mapped_nans, mapped_clipped;
} clconv__save_opts;

/* clconv__image_save with clconv__save_opts. */
clconv_status clconv__image_save_opts(const char *path, const char *format_of,
                                      const clconv__path_key *keep, int nkeep,
                                      const clconv_plane *p,
                                      const clconv__save_opts *o, char *err);

/* The atomic writer of a multi-page file (save.c): opened on a temporary
 * file next to `path`; each page added is mapped and encoded as
 * clconv__image_save_opts would write it alone; closed by renaming to
 * `dest` (commit) or removing it. */
typedef struct clconv__stack clconv__stack;
clconv_status clconv__stack_open(const char *path, int big, clconv__stack **w, char *err);
clconv_status clconv__stack_add(clconv__stack *w, const clconv_plane *p,
                                const clconv__save_opts *o, char *err);
clconv_status clconv__stack_close(clconv__stack *w, const char *dest,
                                  const clconv__path_key *keep, int nkeep, int commit,
                                  char *err);

/* Nonzero: clconv__png_fast declines every file (tests compare with stb). */
extern _Thread_local int clconv__png_fast_off;

/* Largest single allocation stb may make in this thread (0: no cap), and
 * whether the last decode ran into it (stb_impl.c). */
extern _Thread_local size_t clconv__stbi_cap;
extern _Thread_local int clconv__stbi_capped;
/* Clears stb's last failure reason before a call (stb_impl.c). */
void clconv__stbi_reset(void);

#endif
