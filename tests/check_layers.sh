#!/usr/bin/env bash
# check_layers.sh — the layer rule of host/ (docs/layers.md): a file in a
# layer folder includes only the public header, its own layer and the layers
# below it. core is the ground; io and cl use core; pipeline uses io, cl and
# core; cli uses everything. Prints each upward (or sideways) include and
# exits 1 when there is one.
#   tests/check_layers.sh [HOST_DIR]          check a tree (default: host/)
#   tests/check_layers.sh --self-test         also prove the check can fail
set -u
here=$(cd "$(dirname "$0")" && pwd)

allowed() { # layer -> the layers its files may include
    case "$1" in
        core) echo "core" ;;
        io) echo "core io" ;;
        cl) echo "core cl" ;;
        pipeline) echo "core io cl pipeline" ;;
        cli) echo "core io cl pipeline cli" ;;
        *) echo "" ;;
    esac
}

check() {
    local dir=$1 bad=0 layer f inc target ok
    for layer in core io cl pipeline cli; do
        [ -d "$dir/$layer" ] || { echo "check_layers: $dir/$layer is missing"; bad=1; continue; }
        for f in "$dir/$layer"/*.[ch]; do
            [ -e "$f" ] || continue
            while IFS= read -r inc; do
                target=${inc%%/*}
                [ "$target" = "$inc" ] && continue # clconv.h, a generated header
                ok=0
                for l in $(allowed "$layer"); do [ "$l" = "$target" ] && ok=1; done
                if [ "$ok" = 0 ]; then
                    echo "check_layers: ${f#$dir/} includes \"$inc\": $layer may not use $target"
                    bad=1
                fi
            done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
            if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"\.\./' "$f"; then
                echo "check_layers: ${f#$dir/} includes through ../"
                bad=1
            fi
        done
    done
    # Files straight in host/ other than the public header belong in a layer.
    for f in "$dir"/*.[ch]; do
        [ -e "$f" ] || continue
        [ "$(basename "$f")" = clconv.h ] || { echo "check_layers: ${f#$dir/} is outside the layers"; bad=1; }
    done
    return $bad
}

if [ "${1:-}" = --self-test ]; then
    check "$here/../host" || exit 1
    # The check must catch an upward include: a copy of host/ with one added.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp -r "$here/../host/." "$tmp/"
    printf '#include "pipeline/pipeline.h"\n' >> "$tmp/core/core.h"
    if check "$tmp" > "$tmp/out.txt"; then
        echo "check_layers: self-test: an upward include in core/ went unnoticed"
        exit 1
    fi
    grep -q 'core/core.h includes "pipeline/pipeline.h"' "$tmp/out.txt" || {
        echo "check_layers: self-test: unexpected report:"; cat "$tmp/out.txt"; exit 1; }
    echo "check_layers: host/ keeps the layer rule; the self-test caught an upward include"
    exit 0
fi
check "${1:-$here/../host}" && echo "check_layers: host/ keeps the layer rule"
