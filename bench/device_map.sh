#!/usr/bin/env bash
# device_map.sh — the device map (issue 14 item 2) against the float
# download and the host's mapping, interleaved: every round runs the CLI on
# one SIZE² 8-bit image with CLCONV_DEVICE_MAP=0 (floats come down, the
# host maps) and =1 (the device maps, bytes come down), for each output
# format, first with CLCONV_ZERO_COPY=0 (PoCL behaving like a discrete GPU:
# copies instead of zero-copy), then with zero-copy (what PoCL does by
# default). Prints, per case, the medians over rounds of the bytes read back
# (--json download_bytes), the device call ("compute": upload, kernels,
# read-back, and with the device map its map kernels), the read-back alone,
# the encode (where the host maps), compute + encode, and the process's wall
# time; then device map / host map for each.
# Usage: bench/device_map.sh CLCONV [SIZE] [ROUNDS] [FILTER] [FORMATS]
# Environment: DEVICE (--device, default opencl: the first OpenCL device),
# ZERO_COPY (the CLCONV_ZERO_COPY settings to run, default "0 1"; on a
# device without host-unified memory both behave the same).
set -euo pipefail
device=${DEVICE:-opencl}
zcs=${ZERO_COPY:-0 1}
clconv=$1
size=${2:-4096}
rounds=${3:-7}
filter=${4:-sharpen}
formats=${5:-pgm,png}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/in.pgm" "$size" <<'PY'
import sys, numpy as np
n = int(sys.argv[2])
img = np.random.default_rng(1).integers(0, 256, (n, n), dtype=np.uint8)
with open(sys.argv[1], "wb") as f:
    f.write(b"P5\n%d %d\n255\n" % (n, n))
    f.write(img.tobytes())
PY
# One warm-up each, so the kernel builds are cached.
for dm in 0 1; do
  CLCONV_ZERO_COPY=0 CLCONV_DEVICE_MAP=$dm "$clconv" -q --device "$device" -f "$filter" \
    "$work/in.pgm" -o "$work/warm.pgm" > /dev/null
done
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $clconv -q --json --device $device -f $filter in.pgm (${size}x${size}, 8-bit) -o out.EXT"
for r in $(seq "$rounds"); do
  for zc in $zcs; do
    for fmt in ${formats//,/ }; do
      for dm in 0 1; do
        t0=$(date +%s%N)
        CLCONV_ZERO_COPY=$zc CLCONV_DEVICE_MAP=$dm "$clconv" -q --json --device "$device" \
          -f "$filter" "$work/in.pgm" -o "$work/out.$fmt" > "$work/j"
        t1=$(date +%s%N)
        /usr/bin/python3 - "$work/j" "$r" "$zc" "$fmt" "$dm" "$(( (t1 - t0) / 1000 ))" \
          >> "$work/rows" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["images"][0]
ms = j["ms"]
assert j["device_map"] == (sys.argv[5] == "1"), "device_map is not what was asked"
print(*sys.argv[2:6], j["download_bytes"], ms["compute"], ms["download"], ms["encode"],
      int(sys.argv[6]) / 1000.0)
PY
      done
    done
  done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$work/rows" <<'PY'
import sys, statistics as st, collections
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, zc, fmt, dm, b, comp, down, enc, wall = line.split()
    d[(zc, fmt, dm)].append((int(b), float(comp), float(down), float(enc),
                             float(comp) + float(enc), float(wall)))
names = ["bytes", "compute", "download", "encode", "comp+enc", "wall"]
print("# medians over rounds; ms but bytes")
print("zero_copy fmt map        " + " ".join(f"{n:>10}" for n in names))
for zc in ("0", "1"):
    for fmt in sorted({k[1] for k in d}):
        med = {}
        for dm in ("0", "1"):
            rows = d.get((zc, fmt, dm))
            if not rows:
                continue
            med[dm] = [st.median(x[i] for x in rows) for i in range(len(names))]
            label = "device" if dm == "1" else "host  "
            print(f"{'on ' if zc == '1' else 'off'}       {fmt:3} {label}     " +
                  " ".join(f"{v:10.1f}" if i else f"{int(v):10d}"
                           for i, v in enumerate(med[dm])))
        if len(med) == 2:
            print(f"{'on ' if zc == '1' else 'off'}       {fmt:3} device/host" +
                  " ".join(f"{(a / b if b else float('nan')):10.3f}"
                           for a, b in zip(med["1"], med["0"])))
PY
