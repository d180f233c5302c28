#!/usr/bin/env bash
# verify_cost.sh — what the default spot check (--verify sample) costs end to
# end: the CLI on one image, default against --verify=off, interleaved, and
# the medians of the wall times. Usage: bench/verify_cost.sh CLCONV [SIDE] [ROUNDS]
set -euo pipefail
clconv=${1:?usage: verify_cost.sh CLCONV [SIDE] [ROUNDS]}
side=${2:-4096}
rounds=${3:-9}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/in.png" "$side" <<'PY'
import sys, numpy as np
from PIL import Image
n = int(sys.argv[2])
Image.fromarray(np.random.default_rng(1).integers(0, 256, (n, n), dtype=np.uint8)).save(sys.argv[1])
PY
for r in $(seq "$rounds"); do
  for mode in sample off; do
    s=$(date +%s%N)
    "$clconv" -q -f sharpen --verify="$mode" "$tmp/in.png" -o "$tmp/out-$mode.png"
    e=$(date +%s%N)
    echo "$mode $(( (e - s) / 1000 ))" >> "$tmp/times"
  done
done
python3 - "$tmp/times" <<'PY'
import sys, statistics as st
t = {}
for line in open(sys.argv[1]):
    m, us = line.split()
    t.setdefault(m, []).append(int(us) / 1000)
s, o = st.median(t["sample"]), st.median(t["off"])
print(f"median wall ms: sample {s:.1f}, off {o:.1f}, sample/off {s / o:.4f} ({len(t['off'])} runs each)")
PY
