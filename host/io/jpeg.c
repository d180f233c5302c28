/* jpeg.c — JPEG through libjpeg-turbo, the decoder Pillow itself uses, so a
 * JPEG's luma is Pillow's to the bit (stb's IDCT and upsampling differ by a
 * level here and there), and one-component JPEG writing (stb writes
 * 3-channel JPEGs), RGB for --color. One row of the format table (formats.c).
 * It must not open files: load.c and save.c own them.
 */
#include "io/io.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
} jerr;

/* A destination that hands each full buffer to the sink: no allocation. */
typedef struct jdest {
    struct jpeg_destination_mgr mgr;
    clconv__write_fn fn;
    void *ctx;
    JOCTET buf[65536];
} jdest;

static void dest_init(j_compress_ptr c)
{
    jdest *d = (jdest *)c->dest;
    d->mgr.next_output_byte = d->buf;
    d->mgr.free_in_buffer = sizeof d->buf;
}

static boolean dest_flush(j_compress_ptr c)
{
    jdest *d = (jdest *)c->dest;
    d->fn(d->ctx, d->buf, (int)sizeof d->buf);
    d->mgr.next_output_byte = d->buf;
    d->mgr.free_in_buffer = sizeof d->buf;
    return TRUE;
}

static void dest_term(j_compress_ptr c)
{
    jdest *d = (jdest *)c->dest;
    size_t n = sizeof d->buf - d->mgr.free_in_buffer;
    if (n) d->fn(d->ctx, d->buf, (int)n);
}

/* libjpeg's default handler calls exit(); the library never exits. */
static void on_jpeg_error(j_common_ptr cinfo)
{
    longjmp(((jerr *)cinfo->err)->jump, 1);
}

static int write_jpeg_gray(clconv__write_fn fn, void *ctx, int w, int h,
                           const unsigned char *px, int quality, int nc)
{
    struct jpeg_compress_struct c;
    jerr err;
    jdest *dest;
    int y;

    if (w < 1 || h < 1 || w > 65500 || h > 65500) return 0;
    dest = malloc(sizeof *dest);
    if (!dest) return 0;
    dest->mgr.init_destination = dest_init;
    dest->mgr.empty_output_buffer = dest_flush;
    dest->mgr.term_destination = dest_term;
    dest->fn = fn;
    dest->ctx = ctx;
    c.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = on_jpeg_error;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&c);
        free(dest);
        return 0;
    }
    jpeg_create_compress(&c);
    c.dest = &dest->mgr;
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = nc;
    c.in_color_space = nc == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (y = 0; y < h; y++) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)y * (size_t)w * (size_t)nc);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(dest);
    return 1;
}

/* libjpeg only warns about missing data and fills the rest gray; those
 * warnings are errors here: the file ending (JWRN_JPEG_EOF), and a marker
 * where entropy data should be (JWRN_HIT_MARKER: a scan cut short). The
 * other warnings let pass, as Pillow lets them. Data after the end-of-image
 * marker is never read, so a JPEG with something appended (a phone's
 * "motion photo" carries a video there) decodes as Pillow decodes it. */
static void on_jpeg_message(j_common_ptr cinfo, int level)
{
    if (level == -1 && (cinfo->err->msg_code == JWRN_JPEG_EOF ||
                        cinfo->err->msg_code == JWRN_HIT_MARKER))
        longjmp(((jerr *)cinfo->err)->jump, 1);
}

static clconv_status load_jpeg(const unsigned char *buf, size_t len,
                               const char *name, long long max_pixels,
                               clconv__gray *out, char *err)
{
    struct jpeg_decompress_struct d;
    jerr je;
    unsigned char *volatile row = NULL;
    volatile clconv_status st = CLCONV_E_DECODE;
    volatile int have_msg = 0; /* err already says why */
    int w, h, y, nc;

    d.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = on_jpeg_error;
    je.mgr.emit_message = on_jpeg_message;
    if (setjmp(je.jump)) {
        char msg[JMSG_LENGTH_MAX];
        (*d.err->format_message)((j_common_ptr)&d, msg);
        if (!have_msg && d.err->msg_code == JWRN_JPEG_EOF)
            clconv__err(err, "%s: truncated JPEG (premature end of the file)",
                        name);
        else if (!have_msg)
            clconv__err(err, "%s: corrupt or truncated JPEG (%s)", name, msg);
        jpeg_destroy_decompress(&d);
        free(row);
        clconv__gray_free(out);
        return st;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, buf, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    w = (int)d.image_width;
    h = (int)d.image_height;
    if (w < 1 || h < 1) {
        clconv__err(err, "%s: image has no pixels (%dx%d)", name, w, h);
        jpeg_destroy_decompress(&d);
        return CLCONV_E_DECODE;
    }
    if (max_pixels > 0 && (long long)w * h > max_pixels) {
        clconv__err(err, "%s: %dx%d is %lld pixels, over the limit of %lld "
                    "(--max-pixels)", name, w, h, (long long)w * h, max_pixels);
        jpeg_destroy_decompress(&d);
        return CLCONV_E_TOO_LARGE;
    }
    if (d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK) {
        clconv__err(err, "%s: CMYK JPEGs are not supported", name);
        jpeg_destroy_decompress(&d);
        return CLCONV_E_DECODE;
    }
    /* Pillow's settings: libjpeg's defaults (islow IDCT, fancy upsampling),
     * RGB out, or the gray plane itself for one-component files. */
    d.out_color_space = d.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&d);
    nc = d.output_components;
    st = clconv__gray_alloc(out, w, h);
    if (st != CLCONV_OK) {
        clconv__err(err, "%s: cannot allocate a %dx%d image: %s", name, w, h,
                    clconv_status_str(st));
        jpeg_destroy_decompress(&d);
        return st;
    }
    st = CLCONV_E_DECODE;
    row = malloc((size_t)w * (size_t)nc);
    if (!row) {
        st = CLCONV_E_NOMEM;
        have_msg = 1;
        clconv__err(err, "%s: out of memory", name);
        longjmp(je.jump, 1);
    }
    for (y = 0; y < h; y++) {
        JSAMPROW r = row;
        if (jpeg_read_scanlines(&d, &r, 1) != 1) {
            clconv__err(err, "%s: truncated JPEG (row %d of %d)", name, y, h);
            have_msg = 1;
            longjmp(je.jump, 1);
        }
        clconv__gray_row(out, y, row, nc);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(row);
    return CLCONV_OK;
}

clconv_status clconv__decode_jpeg(const clconv__decode_args *a, const char *kind,
                                  char *err)
{
    (void)kind;
    return load_jpeg(a->buf, a->len, a->name, a->max_pixels, a->out, err);
}

int clconv__encode_jpeg(const clconv__encode_args *a)
{
    return write_jpeg_gray(a->fn, a->ctx, a->p->width, a->p->height, a->u8,
                           a->quality, a->channels == 3 ? 3 : 1);
}
