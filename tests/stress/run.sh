#!/usr/bin/env bash
# Stress run (not CI): N small images, one in 25 of them bad (truncated,
# text, empty, TIFF), through --device all; reports wall time, exit status,
# failures, peak RSS and the file descriptors open at exit, for 1,000 and
# for N images, so growth with the batch size shows.
# Usage: tests/stress/run.sh path/to/clconv [N=10000]
set -euo pipefail
CLCONV=$(realpath "${1:?usage: run.sh path/to/clconv [N]}")
N=${2:-10000}
work=$(mktemp -d /tmp/clconv-stress.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/in" "$N" <<'PY'
import os, sys, io, numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
rng = np.random.default_rng(10000)
for i in range(n):
    p = os.path.join(out, f"{i // 1000:02d}", f"img{i:05d}")
    os.makedirs(os.path.dirname(p), exist_ok=True)
    a = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    kind = i % 25
    if kind == 7:   # truncated JPEG
        b = io.BytesIO(); Image.fromarray(a).save(b, "JPEG"); open(p + ".jpg", "wb").write(b.getvalue()[:300])
    elif kind == 14:  # text named .png
        open(p + ".png", "w").write("not an image\n")
    elif kind == 21:  # empty
        open(p + ".png", "wb").close()
    elif kind == 24:  # TIFF renamed
        b = io.BytesIO(); Image.fromarray(a).save(b, "TIFF"); open(p + ".bmp", "wb").write(b.getvalue())
    elif i % 2:
        Image.fromarray(a).save(p + ".jpg", quality=90)
    else:
        Image.fromarray(a).save(p + ".png")
PY
run() {  # $1 = how many images (a list file of the first $1)
    find "$work/in" -type f | sort > "$work/all"
    sed -n "1,${1}p" "$work/all" > "$work/list-$1"
    rm -rf "$work/out"
    local s e rc
    s=$(date +%s.%N)
    set +e
    CLCONV_DEBUG_FDS=1 /usr/bin/time -f "peak RSS %M KB" "$CLCONV" -f sharpen --device all \
        --inputs-from "$work/list-$1" -o "$work/out/" -q > /dev/null 2> "$work/err-$1"
    rc=$?
    set -e
    e=$(date +%s.%N)
    printf "%6d images: exit %d, %.1f s, %d failed (one line each), %d outputs, %s, %s\n" "$1" "$rc" \
        "$(echo "$e - $s" | bc -l)" "$(grep -v 'file descriptors' "$work/err-$1" | grep -c '^clconv: ' || true)" \
        "$(find "$work/out" -type f | wc -l)" "$(grep -o 'peak RSS [0-9]* KB' "$work/err-$1")" \
        "$(grep -o '[0-9]* file descriptors open at exit' "$work/err-$1")"
    if find "$work/out" -name '.*clconv-tmp-*' | grep -q .; then echo "temp files left!"; exit 1; fi
}
run 1000
run "$N"
