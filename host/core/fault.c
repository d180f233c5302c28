/* fault.c — the test-only fault switch ($CLCONV_FAULT), which lets the
 * tests make a device allocation, a build, a write or one pixel fail.
 * Compiled into the library only when CMake's CLCONV_FAULT_INJECTION is ON
 * (the tests' build); otherwise clconv__fault_on is always 0, so a stray
 * CLCONV_FAULT=perturb in a user's environment changes nothing. The shared
 * library, the release artifact, is always built without it.
 * It must not print or exit.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

#ifdef CLCONV_FAULT_INJECTION
int clconv__fault_on(const char *what, const char *name)
{
    const char *f = getenv("CLCONV_FAULT");
    size_t wl = strlen(what);
    char tok[256];
    if (!f) return 0;
    while (*f) {
        size_t n = strcspn(f, ", ");
        if (n < sizeof tok) {
            memcpy(tok, f, n);
            tok[n] = '\0';
            if (strcmp(tok, what) == 0) return 1;
            if (strncmp(tok, what, wl) == 0 && tok[wl] == '=' && name &&
                strstr(name, tok + wl + 1))
                return 1;
        }
        f += n;
        f += strspn(f, ", ");
    }
    return 0;
}
#else
int clconv__fault_on(const char *what, const char *name)
{
    (void)what;
    (void)name;
    return 0;
}
#endif
