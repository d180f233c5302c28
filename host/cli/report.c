/* report.c — what a run tells its user: one line per failure or fallback
 * on stderr, the progress line (on a terminal), the streaming JSON report
 * on stdout (stopped with one message when stdout goes away), the summary,
 * and the exit status from the counts. Every message goes through cli_err,
 * which escapes what a file name could forge a line with.
 * It must not decide what a run does, only say what it did.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "io/io.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char last_err[CLI_ERR_MAX];

/* The length of the valid UTF-8 sequence at s (2 to 4), or 0. */
static int utf8_len(const unsigned char *s)
{
    int n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
            : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0, i;
    for (i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    /* C1 controls (U+0080..U+009F: 0x9b is a CSI to some terminals). */
    if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0) return 0;
    return n;
}

void cli_escape(FILE *fp, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (s && *s) {
        int n = *s >= 0x80 ? utf8_len(s) : 1;
        if (*s == '\\') fputs("\\\\", fp);
        else if (*s == '\n') fputs("\\n", fp);
        else if (*s == '\t') fputs("\\t", fp);
        else if (*s < 0x20 || *s == 0x7f || n == 0) fprintf(fp, "\\x%02x", *s);
        else fwrite(s, 1, (size_t)n, fp);
        s += n > 0 ? n : 1;
    }
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_err, sizeof last_err, fmt, ap);
    va_end(ap);
    fputs("clconv: ", stderr);
    cli_escape(stderr, last_err);
    fputc('\n', stderr);
}

const char *cli_last_err(void)
{
    return last_err;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A clconv_depth as JSON: 8, 16, "float", or null (not known: no output). */
static void json_depth(int d)
{
    if (d == CLCONV_DEPTH_8 || d == CLCONV_DEPTH_16) printf("%d", d);
    else if (d == CLCONV_DEPTH_FLOAT) printf("\"float\"");
    else printf("null");
}

static void json_image(run_state *s, const clconv_report *r);

/* Once stdout fails (its reader went away: EPIPE, SIGPIPE being ignored),
 * the JSON report stops with one message; the batch goes on, since its
 * outputs are what matters, and the run exits 1 (report_lost). */
static void json_flush(run_state *s)
{
    if (fflush(stdout) == 0 && !ferror(stdout)) return;
    cli_err("stdout: the JSON report cannot be written (%s); it stops here, "
            "the images go on", strerror(errno));
    s->json = 0;
    s->report_lost = 1;
}

/* Messages must not land in the middle of the progress line. */
static void clear_progress(const run_state *s)
{
    if (s->progress) fputs("\r\033[K", stderr);
}

static void show_progress(run_state *s, int final)
{
    double t = now_s(), el = t - s->t0, rate;
    int n = s->done + s->failed;
    if (!s->progress || (!final && t - s->last_progress < 0.1)) return;
    s->last_progress = t;
    rate = el > 0 ? n / el : 0;
    fprintf(stderr, "\r\033[Kclconv: %d/%d images, %.1f/s", n, s->total, rate);
    if (rate > 0 && n < s->total)
        fprintf(stderr, ", ETA %.0f s", (s->total - n) / rate);
    if (final) fputc('\n', stderr);
}

/* A float output (.npy, a float TIFF) keeps NaN as it is; integer outputs
 * map it to 0. The depth written decides where it is known (TIFF holds
 * both), else the format. */
static int nan_kept(const clconv_report *r)
{
    const clconv__format *f = r->output ? clconv__format_by_name(r->output, 1) : NULL;
    if (r->out_depth != CLCONV_DEPTH_AUTO) return r->out_depth == CLCONV_DEPTH_FLOAT;
    return f && !f->u8_out;
}

/* The run's NaN count, saying what became of them. */
static void nan_summary(long long zeroed, long long kept)
{
    const long long all = zeroed + kept;
    if (kept == 0)
        fprintf(stderr, "clconv: %lld NaN pixel%s written as 0 in all\n", all,
                all == 1 ? "" : "s");
    else if (zeroed == 0)
        fprintf(stderr, "clconv: %lld NaN pixel%s kept as NaN in all (float "
                "outputs)\n", all, all == 1 ? "" : "s");
    else
        fprintf(stderr, "clconv: %lld NaN pixels in all: %lld written as 0, "
                "%lld kept as NaN in float outputs\n", all, zeroed, kept);
}

void cli_on_log(const char *line, void *user)
{
    (void)user;
    cli_err("%s", line);
}

void cli_on_report(const clconv_report *r, void *user)
{
    run_state *s = user;
    int loud = !s->quiet;
    if (r->status == CLCONV_OK || r->status == CLCONV_E_MISMATCH) s->done++;
    if (r->status == CLCONV_E_MISMATCH) s->mismatched++;
    else if (r->status != CLCONV_OK) s->failed++;
    if ((r->note[0] && loud) || r->status != CLCONV_OK || (r->verified && loud) ||
        ((r->nan_count > 0 || (r->clipped > 0 && s->total <= 1)) && loud))
        clear_progress(s);
    if (r->note[0] && loud) cli_err("%s", r->note);
    if (r->status != CLCONV_OK) cli_err("%s", r->err);
    if (r->verified && r->status != CLCONV_E_MISMATCH && loud) {
        /* Where the largest error is, when there is one: an exact result
         * has no position worth printing. */
        char at[48] = "";
        if (r->vr.max_abs_err > 0 && r->vr.worst_x >= 0)
            snprintf(at, sizeof at, " at (%d, %d)", r->vr.worst_x, r->vr.worst_y);
        cli_err("%s: verify ok (%s vs CPU reference): max abs "
                "error %.9g%s, 0 pixels over tolerance", r->input,
                r->on_device ? "device" : "reference", r->vr.max_abs_err, at);
    }
    if (r->verified && r->status == CLCONV_E_MISMATCH)
        cli_err("%s: verify: max abs error %.9g", r->input,
                r->vr.max_abs_err);
    /* Clipping is routine (sharpen on a photo): one line for a one-image
     * run; a batch says it once, in its summary line (per image: --json). */
    if (r->clipped > 0 && loud && s->total <= 1)
        cli_err("%s: %lld pixel%s clipped to 0..%d (%d-bit output)", r->input, r->clipped, r->clipped == 1 ? "" : "s",
                r->out_depth == CLCONV_DEPTH_16 ? 65535 : 255, (int)r->out_depth);
    s->clipped += r->clipped;
    if (r->nan_count > 0 && loud)
        cli_err("%s: %lld NaN pixel%s %s", r->input, r->nan_count,
                r->nan_count == 1 ? "" : "s",
                nan_kept(r) ? "kept as NaN (a float output)" : "written as 0");
    if (nan_kept(r)) s->nans_kept += r->nan_count;
    else s->nans += r->nan_count;
    if (s->json) json_image(s, r);
    show_progress(s, 0);
}

void cli_json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void json_num(double v)
{
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
}

/* The JSON report streams: the images are written as they finish, so a
 * batch of any size needs no memory for it. */
static void json_begin(const run_state *s, const clconv_filter *f)
{
    printf("{\"version\": \"%s\", \"filter\": ", CLCONV_VERSION);
    cli_json_str(clconv_filter_name(f));
    printf(", \"filter_size\": [%d, %d], \"device\": ", clconv_filter_height(f),
           clconv_filter_width(f));
    cli_json_str(s->device_name);
    printf(", \"verify\": \"%s\", \"verify_seed\": %llu, \"images\": [",
           s->verify == CLCONV_VERIFY_FULL ? "full"
           : s->verify == CLCONV_VERIFY_SAMPLE ? "sample" : "off", s->verify_seed);
}

static void json_image(run_state *s, const clconv_report *r)
{
    printf("%s\n  {\"input\": ", s->json_n++ ? "," : "");
    cli_json_str(r->input);
    printf(", \"output\": ");
    cli_json_str(r->output);
    printf(", \"status\": ");
    cli_json_str(r->status == CLCONV_OK ? "ok" : r->status == CLCONV_E_MISMATCH
                                                  ? "mismatch" : "failed");
    if (r->status != CLCONV_OK) {
        printf(", \"error\": ");
        cli_json_str(r->err);
    }
    printf(", \"size\": [%d, %d], \"out_size\": [%d, %d], \"device\": ",
           r->in_w, r->in_h, r->out_w, r->out_h);
    cli_json_str(r->on_device ? s->device_name : "cpu");
    printf(", \"fell_back\": %s, \"bands\": %d, \"kernel\": ",
           r->fell_back ? "true" : "false", r->cl_timing.bands);
    cli_json_str(r->on_device && r->cl_timing.kernel ? r->cl_timing.kernel : "reference");
    /* Which tuning table entry chose the kernel (docs/kernels.md). */
    printf(", \"tuned\": ");
    if (r->on_device) cli_json_str(r->tuned ? r->tuned : "default");
    else printf("null");
    printf(", \"border\": ");
    cli_json_str(r->on_device && r->cl_timing.pad ? r->cl_timing.pad : "host");
    printf(", \"ms\": {\"decode\": ");
    json_num(r->decode_ms);
    printf(", \"pad\": ");
    json_num(r->pad_ms);
    printf(", \"compute\": ");
    json_num(r->compute_ms);
    printf(", \"kernel\": ");
    json_num(r->cl_timing.kernel_ms);
    printf(", \"upload\": ");
    json_num(r->cl_timing.upload_ms);
    printf(", \"download\": ");
    json_num(r->cl_timing.download_ms);
    printf(", \"stage\": ");
    json_num(r->cl_timing.stage_ms);
    printf(", \"wait\": ");
    json_num(r->cl_timing.wait_ms);
    printf(", \"queue\": ");
    json_num(r->cl_timing.queue_ms);
    printf(", \"verify\": ");
    json_num(r->verify_ms);
    printf(", \"encode\": ");
    json_num(r->encode_ms);
    printf("}, \"nan_pixels\": %lld, \"clipped\": %lld, \"in_depth\": ", r->nan_count,
           r->clipped);
    json_depth(r->in_depth);
    printf(", \"out_depth\": ");
    json_depth(r->out_depth);
    /* --color: the channels in and out (gray: 1 and 1). */
    printf(", \"channels\": [%d, %d]", r->in_channels ? r->in_channels : 1,
           r->out_channels ? r->out_channels : 1);
    /* A multi-page TIFF: every page filtered (the sizes are the first's). */
    printf(", \"pages\": %d", r->pages > 0 ? r->pages : 1);
    /* The device map: mapped on the device, and the result bytes read back. */
    printf(", \"device_map\": %s, \"download_bytes\": %llu", r->device_map ? "true" : "false",
           r->download_bytes);
    if (r->sampled) {
        printf(", \"sample\": {\"ok\": %s, \"points\": %d, \"bad_pixels\": %lld, "
               "\"max_abs_err\": ", r->sr.bad ? "false" : "true", r->sample_points, r->sr.bad);
        json_num(r->sr.max_abs_err);
        printf(", \"worst\": [%d, %d]}", r->sr.worst_x, r->sr.worst_y);
    }
    if (r->verified) {
        printf(", \"verify\": {\"ok\": %s, \"bad_pixels\": %lld, "
               "\"max_abs_err\": ", r->vr.bad ? "false" : "true", r->vr.bad);
        json_num(r->vr.max_abs_err);
        printf(", \"worst\": [%d, %d]}", r->vr.worst_x, r->vr.worst_y);
    }
    printf("}");
    json_flush(s);
}

static void json_end(run_state *s, int interrupted)
{
    printf("\n], \"done\": %d, \"failed\": %d, \"mismatched\": %d, \"skipped\": %d, "
           "\"clipped\": %lld, \"interrupted\": %s", s->done - s->mismatched, s->failed,
           s->mismatched, s->skipped, s->clipped, interrupted ? "true" : "false");
    if (s->ndev > 0) {
        /* The union of the devices' kernel intervals over the batch's wall
         * time (divided among the devices under --device all). */
        printf(", \"device_busy\": {\"busy_ms\": ");
        json_num(s->dev_busy_ms);
        printf(", \"wall_ms\": ");
        json_num(s->dev_wall_ms);
        printf(", \"share\": ");
        json_num(s->dev_wall_ms > 0 ? s->dev_busy_ms / (s->dev_wall_ms * s->ndev) : 0);
        printf("}");
    }
    printf("}\n");
    json_flush(s);
}

/* A JSON record for an input that gets no output (a dropped output, an
 * entry a walk could not take). */
static void json_failed(run_state *s, const char *input, const char *why)
{
    printf("%s\n  {\"input\": ", s->json_n++ ? "," : "");
    cli_json_str(input);
    printf(", \"output\": null, \"status\": \"failed\", \"error\": ");
    cli_json_str(why);
    printf("}");
}

void cli_report_begin(run_state *s, const clconv_filter *f, const cli_inputs *in)
{
    int i;
    s->progress = !s->quiet && s->total > 1 && isatty(STDERR_FILENO);
    s->t0 = now_s();
    s->failed0 = s->failed;
    if (!s->json) return;
    json_begin(s, f);
    for (i = 0; i < in->nbad; i++) json_failed(s, in->bad_path[i], in->bad_msg[i]);
    for (i = 0; i < in->n; i++)
        if (s->dropped && s->dropped[i]) json_failed(s, in->v[i].path, s->dropped[i]);
    json_flush(s);
}

void cli_report_usage_json(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0) {
            printf("{\"error\": ");
            cli_json_str(*last_err ? last_err : "bad usage");
            printf(", \"exit\": %d}\n", EXIT_USAGE);
            return;
        }
}

int cli_report_end(run_state *s, int n, int interrupted)
{
    if (s->json) json_end(s, interrupted);
    show_progress(s, 1);
    if (interrupted) {
        fprintf(stderr, "clconv: interrupted: %d done, %d failed, %d not started\n",
                s->done, s->failed, n - s->done - (s->failed - s->failed0));
        return EXIT_INTERRUPTED;
    }
    if ((n > 1 || s->skipped) && !s->quiet) {
        char clip[64] = "";
        if (n > 1 && s->clipped > 0)
            snprintf(clip, sizeof clip, ", %lld pixel%s clipped", s->clipped,
                     s->clipped == 1 ? "" : "s");
        fprintf(stderr, "clconv: %d done, %d failed%s, %d skipped%s (%.1f s)\n",
                s->done - s->mismatched, s->failed + s->mismatched,
                s->mismatched ? " (verification)" : "", s->skipped, clip,
                now_s() - s->t0);
    }
    if (n > 1 && s->nans + s->nans_kept > 0 && !s->quiet)
        nan_summary(s->nans, s->nans_kept);
    return s->mismatched ? EXIT_MISMATCH
           : s->failed || s->report_lost ? EXIT_SOME_FAILED : EXIT_DONE;
}
