/* status.c — status text, error buffers, overflow-checked sizes, the clock
 * and the warning hook (clconv_set_log): the small pieces every other file
 * leans on (the test fault switch is fault.c).
 * It must not print or exit: messages go to the caller's buffer or hook.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *clconv_status_str(clconv_status s)
{
    switch (s) {
    case CLCONV_OK: return "success";
    case CLCONV_E_INVALID: return "invalid argument";
    case CLCONV_E_NOMEM: return "out of memory";
    case CLCONV_E_IO: return "input/output error";
    case CLCONV_E_DECODE: return "not a supported or valid image";
    case CLCONV_E_TOO_LARGE: return "too large";
    case CLCONV_E_FILTER: return "bad filter";
    case CLCONV_E_GEOMETRY: return "filter larger than the image";
    case CLCONV_E_OPENCL: return "OpenCL failure";
    case CLCONV_E_NO_DEVICE: return "no such OpenCL device";
    case CLCONV_E_MISMATCH: return "verification mismatch";
    }
    return "unknown status";
}

void clconv__err(char *err, const char *fmt, ...)
{
    va_list ap;
    if (!err) return;
    va_start(ap, fmt);
    vsnprintf(err, CLCONV_ERR_MAX, fmt, ap);
    va_end(ap);
}

const char *clconv__shown(char buf[CLCONV__SHOWN_MAX], const char *s, long len)
{
    size_t n = len < 0 ? strlen(s) : (size_t)len, k;
    for (k = 0; k < n && k < CLCONV__SHOWN_HEAD; k++)
        buf[k] = (s[k] >= 0x20 && s[k] < 0x7F) ? s[k] : '?';
    buf[k] = '\0';
    if (n > CLCONV__SHOWN_HEAD)
        snprintf(buf + k, CLCONV__SHOWN_MAX - k, "... (%zu bytes)", n);
    return buf;
}

static clconv_log_fn log_fn;
static void *log_user;

void clconv_set_log(clconv_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void clconv__log(const char *fmt, ...)
{
    char line[CLCONV_ERR_MAX];
    va_list ap;
    clconv_log_fn fn = log_fn;
    if (!fn) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(line, log_user);
}

int clconv__mul_ok(size_t a, size_t b, size_t c, size_t *out)
{
    if (a == 0 || b == 0 || c == 0) return 0;
    if (a > SIZE_MAX / b) return 0;
    if (a * b > SIZE_MAX / c) return 0;
    *out = a * b * c;
    return 1;
}

double clconv__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
