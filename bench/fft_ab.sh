#!/usr/bin/env bash
# fft_ab.sh — FFT path against tiled, kernel time, interleaved A/B: every
# round runs each filter size with --variant fft then --variant tiled, so
# both see the same machine load; prints every round's medians (of --reps)
# and the median over rounds. The "random" filter kind passes the FFT
# path's accuracy gate at every size (dense stops near 31x31).
# Usage: bench/fft_ab.sh [BENCH] [SIZES] [FILTERS] [ROUNDS] [REPS]
set -euo pipefail
bench=${1:-build/bench/clconv-bench}
sizes=${2:-1024,4096}
filters=${3:-15,19,21,23,31,63}
rounds=${4:-3}
reps=${5:-3}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  for s in ${sizes//,/ }; do
    for k in ${filters//,/ }; do
      for v in fft tiled; do
        "$bench" --sizes "$s" --filters "$k" --kind random --variant "$v" --no-e2e \
          --reps "$reps" --warmup 1 --csv | grep -v '^#' | tail -n +2 |
          awk -F, -v r="$r" -v v="$v" '{print r, $1, $3, v, $6, $NF}' >> "$tmp"
      done
    done
  done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# round size k variant kernel_ms ran"
cat "$tmp"
echo "# size k fft_ms tiled_ms tiled/fft (medians over rounds)"
python3 - "$tmp" <<'PY'
import sys, statistics as st, collections
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, s, k, v, ms, ran = line.split()
    d[(int(s), int(k), v)].append(float(ms))
for (s, k) in sorted({(s, k) for (s, k, v) in d}):
    f, t = st.median(d[(s, k, "fft")]), st.median(d[(s, k, "tiled")])
    print(f"{s} {k}x{k} {f:.1f} {t:.1f} {t / f:.2f}")
PY
