#!/usr/bin/env bash
# tune_ab.sh — what `clconv --tune` buys on this device: clconv-bench with
# the device's tuning table ignored (A: CLCONV_TUNE_TABLE=off, the built-in
# choices) and followed (B), interleaved by bench/ab.sh so both see the same
# load. Tune first (clconv --tune); KIND picks the generated filters
# (dense: square, not separable; ones: rank 1).
# Usage: bench/tune_ab.sh [SIZE] [FILTERS] [ROUNDS] [REPS]
#   KIND=ones BUILD=build bench/tune_ab.sh 1024 3,5,15 5 5
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
kind=${KIND:-dense}
bench=$(cd "$build/bench" && pwd)/clconv-bench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nCLCONV_TUNE_TABLE=off exec "%s" --kind %s "$@"\n' "$bench" "$kind" > "$tmp/builtin"
printf '#!/bin/sh\nunset CLCONV_TUNE_TABLE; exec "%s" --kind %s "$@"\n' "$bench" "$kind" > "$tmp/tuned"
chmod +x "$tmp/builtin" "$tmp/tuned"
"$build/clconv" --list-devices | grep -E '^opencl:|tuned' || true
echo "# A = built-in choices, B = the tuning table; kind $kind"
bash bench/ab.sh "$tmp/builtin" "$tmp/tuned" "$@"
