/* report.c — what a run tells its user: one line per failure or fallback
 * on stderr, the progress line (on a terminal), the streaming JSON report
 * on stdout, the summary, and the exit status from the counts.
 * It must not decide what a run does, only say what it did.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void json_image(run_state *s, const clconv_report *r);

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

void cli_on_log(const char *line, void *user)
{
    (void)user;
    fprintf(stderr, "clconv: %s\n", line);
}

void cli_on_report(const clconv_report *r, void *user)
{
    run_state *s = user;
    int loud = !s->quiet;
    if (r->status == CLCONV_OK || r->status == CLCONV_E_MISMATCH) s->done++;
    if (r->status == CLCONV_E_MISMATCH) s->mismatched++;
    else if (r->status != CLCONV_OK) s->failed++;
    if ((r->note[0] && loud) || r->status != CLCONV_OK || (r->verified && loud) ||
        (r->nan_count > 0 && loud))
        clear_progress(s);
    if (r->note[0] && loud) fprintf(stderr, "clconv: %s\n", r->note);
    if (r->status != CLCONV_OK) fprintf(stderr, "clconv: %s\n", r->err);
    if (r->verified && r->status != CLCONV_E_MISMATCH && loud)
        fprintf(stderr, "clconv: %s: verify ok (%s vs CPU reference): max abs "
                "error %.9g at (%d, %d), 0 pixels over tolerance\n", r->input,
                r->on_device ? "device" : "reference", r->vr.max_abs_err,
                r->vr.worst_x, r->vr.worst_y);
    if (r->verified && r->status == CLCONV_E_MISMATCH)
        fprintf(stderr, "clconv: %s: verify: max abs error %.9g\n", r->input,
                r->vr.max_abs_err);
    if (r->nan_count > 0 && loud)
        fprintf(stderr, "clconv: %s: %lld NaN pixel%s written as 0\n", r->input,
                r->nan_count, r->nan_count == 1 ? "" : "s");
    s->nans += r->nan_count;
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
    printf(", \"verify\": ");
    json_num(r->verify_ms);
    printf(", \"encode\": ");
    json_num(r->encode_ms);
    printf("}, \"nan_pixels\": %lld", r->nan_count);
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
    fflush(stdout);
}

static void json_end(const run_state *s)
{
    printf("\n], \"done\": %d, \"failed\": %d, \"mismatched\": %d}\n",
           s->done - s->mismatched, s->failed, s->mismatched);
}

void cli_report_begin(run_state *s, const clconv_filter *f, const cli_inputs *in)
{
    int i;
    s->progress = !s->quiet && s->total > 1 && isatty(STDERR_FILENO);
    s->t0 = now_s();
    if (!s->json) return;
    json_begin(s, f);
    for (i = 0; i < in->n; i++) {
        if (!s->dropped[i]) continue;
        printf("%s\n  {\"input\": ", s->json_n++ ? "," : "");
        cli_json_str(in->v[i].path);
        printf(", \"output\": null, \"status\": \"failed\", \"error\": ");
        cli_json_str(s->dropped[i]);
        printf("}");
    }
}

int cli_report_end(run_state *s, int n, int interrupted)
{
    if (s->json) json_end(s);
    show_progress(s, 1);
    if (interrupted) {
        fprintf(stderr, "clconv: interrupted: %d done, %d failed, %d not started\n",
                s->done, s->failed, n - s->done - s->failed);
        return EXIT_INTERRUPTED;
    }
    if ((n > 1 || s->skipped) && !s->quiet)
        fprintf(stderr, "clconv: %d done, %d failed%s, %d skipped (%.1f s)\n",
                s->done - s->mismatched, s->failed + s->mismatched,
                s->mismatched ? " (verification)" : "", s->skipped, now_s() - s->t0);
    if (n > 1 && s->nans > 0 && !s->quiet)
        fprintf(stderr, "clconv: %lld NaN pixel%s written as 0 in all\n", s->nans,
                s->nans == 1 ? "" : "s");
    return s->mismatched ? EXIT_MISMATCH : s->failed ? EXIT_SOME_FAILED : EXIT_DONE;
}
