#!/usr/bin/env bash
# ab.sh — two clconv-bench binaries (say, before and after a change)
# interleaved: every round runs each filter size with A then B, so both see
# the same machine load. Prints each round's medians (of --reps) and, per
# case, the median over rounds of the kernel time, the end-to-end time from
# an 8-bit source (u8_e2e: what the CLI does) and B/A.
# Usage: bench/ab.sh A_BENCH B_BENCH [SIZE] [FILTERS] [ROUNDS] [REPS]
set -euo pipefail
a=$1
b=$2
size=${3:-4096}
filters=${4:-3,9}
rounds=${5:-5}
reps=${6:-5}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  for k in ${filters//,/ }; do
    for side in A B; do
      bin=$a
      [ "$side" = B ] && bin=$b
      "$bin" --sizes "$size" --filters "$k" --reps "$reps" --warmup 1 --csv |
        grep -v '^#' | tail -n +2 |
        awk -F, -v r="$r" -v s="$side" '{print r, $1, $3, s, $6, $22, $NF}' >> "$tmp"
    done
  done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# round size k side kernel_ms u8_e2e_ms ran"
cat "$tmp"
echo "# size k A_kernel B_kernel B/A  A_u8_e2e B_u8_e2e B/A (medians over rounds)"
python3 - "$tmp" <<'PY'
import sys, statistics as st, collections
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, s, k, side, kms, e2e, ran = line.split()
    d[(int(s), int(k), side)].append((float(kms), float(e2e)))
for (s, k) in sorted({(s, k) for (s, k, side) in d}):
    ak = st.median(x[0] for x in d[(s, k, "A")]); bk = st.median(x[0] for x in d[(s, k, "B")])
    ae = st.median(x[1] for x in d[(s, k, "A")]); be = st.median(x[1] for x in d[(s, k, "B")])
    print(f"{s} {k}x{k}  {ak:.2f} {bk:.2f} {bk / ak:.3f}   {ae:.2f} {be:.2f} {be / ae:.3f}")
PY
