#!/bin/bash
# check_completion.sh CLCONV SCRIPT — the bash completion offers every
# option --help lists (each one completed from its first letters) and the
# preset names for -f.
set -euo pipefail
clconv=$1 script=$2
# shellcheck disable=SC1090
source "$script"
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _clconv || true; }
bad=0 n=0
for opt in $("$clconv" --help | grep -oE '(^|[ ,])--[a-zA-Z0-9][a-zA-Z0-9-]*' | tr -d ' ,' | sort -u); do
    n=$((n + 1))
    complete_words "$clconv" "${opt:0:4}"
    grep -qx -- "$opt" <<<"$(printf '%s\n' "${COMPREPLY[@]}")" || { echo "FAIL: ${opt:0:4} does not offer $opt"; bad=1; }
done
complete_words "$clconv" -f sh
[ "${COMPREPLY[*]}" = sharpen ] || { echo "FAIL: -f sh offers '${COMPREPLY[*]}'"; bad=1; }
complete_words "$clconv" --border re
[ "${COMPREPLY[*]}" = reflect ] || { echo "FAIL: --border re offers '${COMPREPLY[*]}'"; bad=1; }
[ "$n" -ge 20 ] || { echo "FAIL: only $n options in --help"; exit 1; }
[ "$bad" = 0 ] && echo "ok: the $n long options and the presets complete"
exit "$bad"
