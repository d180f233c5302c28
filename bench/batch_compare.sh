#!/usr/bin/env bash
# Batch benchmark (issue 5): N generated 1024x768 JPEGs -> grayscale, sharpen
# -> PNG, timed for clconv, ImageMagick mogrify, a libvips CLI loop and an
# OpenCV Python script, in one run on the same files; then where clconv's
# time goes (decode, pad, compute, encode) from its --json report.
# Usage: bench/batch_compare.sh [path/to/clconv] [N=500] [REPEATS=3]
# Installs its tools from Debian (apt-get; run as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CLCONV=$(realpath "${1:-$here/../build/clconv}")
N=${2:-500}
REPEATS=${3:-3}
PY=/usr/bin/python3

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq bc imagemagick libvips-tools python3-opencv python3-numpy python3-pil >/dev/null
fi

work=$(mktemp -d /tmp/clconv-batch-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in"

# Inputs: the sample scene at 1024x768 with a different shift, noise and
# quality per file, so no two files are alike.
$PY - "$work/in" "$N" "$here/../images/shapes.png" <<'EOF'
import sys, numpy as np
from PIL import Image
out, n, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = np.asarray(Image.open(src).convert("RGB").resize((1024, 768)), dtype=np.int16)
rng = np.random.default_rng(5)
for i in range(n):
    a = np.roll(base, (i * 7) % 768, axis=0) + rng.integers(-6, 7, base.shape)
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(f"{out}/img{i:04d}.jpg", quality=85 + i % 10)
EOF

cat > "$work/sharpen.mat" <<'EOF'
3 3 1 0
0 -1 0
-1 5 -1
0 -1 0
EOF
cat > "$work/cv_batch.py" <<'EOF'
import sys, glob, os, cv2, numpy as np
cv2.setNumThreads(os.cpu_count())
k = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
for p in sorted(glob.glob(sys.argv[1] + "/*.jpg")):
    g = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(os.path.join(sys.argv[2], os.path.basename(p)[:-4] + ".png"),
                cv2.filter2D(g, -1, k, borderType=cv2.BORDER_CONSTANT))
EOF

ncpu=$(nproc)
vips_loop() {  # one vips process pair per image, $ncpu at a time
    ls "$work/in"/*.jpg | xargs -P "$ncpu" -I{} sh -c \
        'b=$(basename {} .jpg); vips colourspace {} "$0/$b.v" b-w && vips conv "$0/$b.v" "$0/$b.png" "$1" && rm "$0/$b.v"' \
        "$work/out" "$work/sharpen.mat"
}
declare -A CMDS=(
  [clconv]="\"$CLCONV\" -f sharpen -q -o \"$work/out/\" \"$work/in\""
  [clconv-cpu]="\"$CLCONV\" -f sharpen -q --device cpu -o \"$work/out/\" \"$work/in\""
  [magick-mogrify]="mogrify -path \"$work/out\" -format png -colorspace gray -morphology Convolve '3x3: 0,-1,0 -1,5,-1 0,-1,0' \"$work/in\"/*.jpg"
  [vips-loop]="vips_loop"
  [opencv-py]="$PY \"$work/cv_batch.py\" \"$work/in\" \"$work/out\""
)
ORDER="clconv clconv-cpu magick-mogrify vips-loop opencv-py"

declare -A BEST
for r in $(seq "$REPEATS"); do
    for t in $ORDER; do
        rm -rf "$work/out"; mkdir -p "$work/out"
        s=$(date +%s.%N)
        eval "${CMDS[$t]}" >/dev/null 2>&1 || { echo "$t failed" >&2; continue; }
        e=$(date +%s.%N)
        n_out=$(ls "$work/out" | grep -c '\.png$' || true)
        [ "$n_out" = "$N" ] || echo "$t wrote $n_out of $N outputs" >&2
        BEST[$t]="${BEST[$t]:-} $(echo "$e - $s" | bc -l)"
    done
done

echo "batch: $N JPEGs 1024x768 -> gray -> sharpen 3x3 -> PNG; $(nproc) CPUs; median of $REPEATS runs"
printf "%-16s %10s %10s %10s\n" tool "time s" "images/s" "vs clconv"
med() { echo "$@" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
ref=$(med ${BEST[clconv]})
for t in $ORDER; do
    [ -n "${BEST[$t]:-}" ] || { printf "%-16s %10s\n" "$t" failed; continue; }
    m=$(med ${BEST[$t]})
    printf "%-16s %10.2f %10.1f %9.2fx\n" "$t" "$m" "$(echo "$N / $m" | bc -l)" "$(echo "$m / $ref" | bc -l)"
done

# Where clconv's time goes: per-image stage times summed over the batch
# (worker threads overlap, so the sum exceeds the wall time).
rm -rf "$work/out"; mkdir -p "$work/out"
"$CLCONV" -f sharpen -q --json -o "$work/out/" "$work/in" > "$work/report.json"
$PY - "$work/report.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
tot = {}
for im in d["images"]:
    for k, v in im["ms"].items():
        tot[k] = tot.get(k, 0) + (v or 0)
n = len(d["images"])
print(f"clconv stages, mean ms per image over {n} images (device {d['device']}):")
for k in ("decode", "pad", "compute", "kernel", "upload", "download", "encode"):
    print(f"  {k:9s} {tot.get(k, 0) / n:8.2f}")
EOF
