#!/bin/bash
# check_manpage.sh CLCONV MANPAGE HELP2MAN — the manual page lists every
# option that `clconv --help` lists (long and short names), and man(1) can
# render it. Exit 77 (skipped) when CMake found no help2man (HELP2MAN empty
# or NOTFOUND), 1 when it did and the page is missing.
set -euo pipefail
clconv=$1 page=$2 h2m=${3:-}
case $h2m in ""|*NOTFOUND) echo "skipped: no help2man, no manual page (Debian: help2man)"; exit 77 ;; esac
[ -f "$page" ] || { echo "FAIL: $page was not made"; exit 1; }
# roff writes '-' as '\-'
text=$(sed 's/\\-/-/g' "$page")
missing=0 n=0
for opt in $("$clconv" --help | grep -oE '(^|[ ,])--?[a-zA-Z0-9][a-zA-Z0-9-]*' |
             tr -d ' ,' | sort -u); do
    n=$((n + 1))
    grep -qF -- "$opt" <<<"$text" || { echo "FAIL: $opt is in --help, not in $page"; missing=1; }
done
[ "$n" -ge 20 ] || { echo "FAIL: only $n options found in --help"; exit 1; }
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$page" 2>&1 | grep -- "--stride" >/dev/null ||
        { echo "FAIL: man -l $page does not render the options"; exit 1; }
fi
[ "$missing" = 0 ] && echo "ok: the $n options of --help are all in $page"
exit "$missing"
