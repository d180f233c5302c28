#!/usr/bin/env bash
# pipe_ab.sh — the transfer pipeline against the serial path, several times:
# RUNS runs of `clconv-bench --batch` (each already interleaving the two paths
# rep by rep), then per output kind the median over the runs of the
# per-run gain (serial wall / pipelined wall) and of the busy shares, so one
# burst of load on a shared machine moves one run, not the figure.
#   bash bench/pipe_ab.sh [BENCH] [SIZE] [BATCH] [JOBS] [RUNS] [REPS]
# defaults: build/bench/clconv-bench 4096 8 2 5 3. Extra clconv-bench options
# in $BENCH_OPTS (e.g. "--device 1:0"). Run it with CLCONV_ZERO_COPY=0 on a
# device that shares memory with the host (PoCL), else both paths are one.
set -euo pipefail
bench=${1:-build/bench/clconv-bench}
size=${2:-4096}
batch=${3:-8}
jobs=${4:-2}
runs=${5:-5}
reps=${6:-3}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "pipe_ab: $bench --batch $batch --jobs $jobs --sizes $size --filters 3 --reps $reps" \
     "--warmup 1 ${BENCH_OPTS:-}, $runs runs, CLCONV_ZERO_COPY=${CLCONV_ZERO_COPY:-unset}," \
     "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$runs"); do
    # shellcheck disable=SC2086
    "$bench" --batch "$batch" --jobs "$jobs" --sizes "$size" --filters 3 --reps "$reps" \
        --warmup 1 ${BENCH_OPTS:-} | grep -E '^ *[0-9]+x[0-9]+ ' | tee -a "$tmp"
done
echo "pipe_ab: load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
# Columns: image filter output path wall img/s up k down stage wait queue busy% [gain]
awk '
function med(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    o = $3; b = $13; sub(/%/, "", b)
    if ($4 == "serial") { ns[o]++; sb[o, ns[o]] = b; sw[o, ns[o]] = $5 }
    else { g = $14; sub(/x/, "", g); np[o]++; pb[o, np[o]] = b; pg[o, np[o]] = g; pw[o, np[o]] = $5 }
}
END {
    printf "%-6s %5s %12s %12s %10s %10s %12s\n", "output", "runs", "serial_ms", "pipelined_ms", "serial_bz", "piped_bz", "gain(median)"
    for (o in np) {
        n = np[o]
        for (i = 1; i <= n; i++) { x[i] = sw[o, i] } s = med(x, n)
        for (i = 1; i <= n; i++) { x[i] = pw[o, i] } p = med(x, n)
        for (i = 1; i <= n; i++) { x[i] = sb[o, i] } bs = med(x, n)
        for (i = 1; i <= n; i++) { x[i] = pb[o, i] } bp = med(x, n)
        for (i = 1; i <= n; i++) { x[i] = pg[o, i] } gm = med(x, n)
        lo = x[1]; hi = x[n]
        printf "%-6s %5d %12.1f %12.1f %9.1f%% %9.1f%% %6.2fx (%.2f-%.2f)\n", o, n, s, p, bs, bp, gm, lo, hi
    }
}' "$tmp"
