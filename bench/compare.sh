#!/usr/bin/env bash
# compare.sh — times clconv against OpenCV, scipy, libvips and ImageMagick on
# one 4096x4096 8-bit gray input, in one run, for 3x3 .. 15x15 filters, and
# prints one table (medians) with each tool's ratio to clconv.
#
# Usage: bench/compare.sh [--no-install] [--build DIR] [--reps N] [--size N]
#                         [--filters "3 5 9 15"] [--out DIR]
#   --no-install   skip apt-get (the Debian packages are already there)
#   --build DIR    the CMake build directory holding clconv and
#                  bench/clconv-bench (build-bench)
#   --reps N       timed runs per tool and filter, median reported (5)
#   --out DIR      where the input, filters, outputs and results.csv go
#                  (/tmp/clconv-compare)
#
# The filter is the same for every tool: an integer N x N matrix of rank > 1
# (taps -3..3, the "dense" filter of clconv-bench), so no tool can take a
# separable shortcut. What each time includes is printed under the table.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build-bench
reps=5
size=4096
filters="3 5 9 15"
out=/tmp/clconv-compare
install=1
while [ $# -gt 0 ]; do
    case $1 in
    --no-install) install=0 ;;
    --build) build=$(cd "$2" && pwd); shift ;;
    --reps) reps=$2; shift ;;
    --size) size=$2; shift ;;
    --filters) filters=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

if [ "$install" = 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-opencv python3-scipy libvips-tools imagemagick >/dev/null
fi

# Debian's python3 (python3-opencv and python3-scipy live there), and the
# real ImageMagick: a stand-in `convert` may come earlier on PATH.
py=/usr/bin/python3
im=/usr/bin/convert
for t in "$py" "$im" /usr/bin/vips "$build/clconv" "$build/bench/clconv-bench"; do
    [ -x "$t" ] || { echo "compare.sh: $t is missing (build first, or drop --no-install)" >&2; exit 1; }
done
mkdir -p "$out"
# OpenCV takes only GPUs for its OpenCL path unless told otherwise; on a
# machine with PoCL alone that would leave the UMat row empty.
export OPENCV_OPENCL_DEVICE=${OPENCV_OPENCL_DEVICE-:CPU:}

exec "$py" - "$build" "$out" "$reps" "$size" "$filters" "$im" <<'PY'
import csv, os, platform, statistics, subprocess, sys, time
import numpy as np

build, out, reps, size, filters, im = sys.argv[1:7]
reps, size = int(reps), int(size)
ks = [int(k) for k in filters.split()]
clconv = os.path.join(build, "clconv")
bench = os.path.join(build, "bench", "clconv-bench")

import cv2, scipy, scipy.ndimage

def med(f, n=reps, warm=1):
    """Median wall time of f() in ms over n runs after `warm` untimed runs."""
    for _ in range(warm):
        f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)

def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def dense(n):
    """The clconv-bench "dense" filter: integer taps -3..3, rank > 1."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return ((i * 5 + j * 3 + (i * j) % 7) % 7 - 3).astype(np.float32)

# One input for every tool: smooth structure plus noise, 8-bit gray PNG.
rng = np.random.default_rng(4)
y, x = np.mgrid[0:size, 0:size].astype(np.float32)
img8 = np.clip(128 + 60 * np.sin(x / 97.0) * np.cos(y / 61.0)
               + rng.normal(0, 20, (size, size)), 0, 255).astype(np.uint8)
src = os.path.join(out, "input.png")
cv2.imwrite(src, img8)
img8 = cv2.imread(src, cv2.IMREAD_GRAYSCALE)
f32 = img8.astype(np.float32)

ocl_dev = "unavailable"
if cv2.ocl.haveOpenCL():
    cv2.ocl.setUseOpenCL(True)
    if cv2.ocl.useOpenCL():
        ocl_dev = cv2.ocl.Device.getDefault().name()

print(f"# compare.sh, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {platform.node()}, "
      f"{os.cpu_count()} CPUs; input {src} ({size}x{size} 8-bit gray PNG); "
      f"median of {reps} runs after 1 warm-up")
print(f"# OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), UMat/OpenCL device: "
      f"{ocl_dev} (OPENCV_OPENCL_DEVICE={os.environ.get('OPENCV_OPENCL_DEVICE', '')}); scipy {scipy.__version__}; "
      + subprocess.run(["vips", "--version"], capture_output=True, text=True).stdout.strip()
      + "; " + subprocess.run([im, "-version"], capture_output=True, text=True).stdout.split("\n")[0])

# No-op runs of the CLI tools: decode + encode (+ start-up) with no filtering.
v_out, m_out, c_out = (os.path.join(out, n) for n in ("out.v", "out.pgm", "out.npy"))
noop = {
    "clconv CLI": med(lambda: run([clconv, "-q", "-f", "1", src, "-o", c_out])),
    "vips conv": med(lambda: run(["vips", "copy", src, v_out])),
    "ImageMagick": med(lambda: run([im, src, "-depth", "16", m_out])),
}

rows = []
for n in ks:
    k = dense(n)
    kfile = os.path.join(out, f"k{n}.txt")
    np.savetxt(kfile, k, fmt="%d")
    vmat = os.path.join(out, f"k{n}.mat")
    with open(vmat, "w") as fp:
        fp.write(f"{n} {n} 1 0\n")
        for r in k:
            fp.write(" ".join(str(int(v)) for v in r) + "\n")
    imk = f"{n}x{n}:" + ",".join(str(int(v)) for v in k.ravel())

    # clconv in memory: pad + device + result in host memory, from the bench
    # (the image decoded once, before timing); also its kernel-only median.
    b = subprocess.run([bench, "--input", src, "--filter", "@" + kfile, "--reps", str(reps),
                        "--warmup", "1", "--csv"], check=True, capture_output=True, text=True)
    rec = [l for l in b.stdout.splitlines() if l and not l.startswith("#")]
    hdr, val = rec[0].split(","), rec[1].split(",")
    bres = dict(zip(hdr, val))
    t = {"clconv e2e": float(bres["devpad_e2e_ms"]),
         "clconv e2e, 8-bit in": float(bres["u8_e2e_ms"]),
         "clconv e2e, host pad": float(bres["e2e_ms"]),
         "clconv kernel": float(bres["kernel_ms"])}

    t["clconv CLI"] = med(lambda: run([clconv, "-q", "-f", "@" + kfile, src, "-o", c_out]))
    t["cv2.filter2D f32"] = med(lambda: cv2.filter2D(f32, -1, k, borderType=cv2.BORDER_CONSTANT))
    t["cv2.filter2D u8->f32"] = med(
        lambda: cv2.filter2D(img8, cv2.CV_32F, k, borderType=cv2.BORDER_CONSTANT))
    if ocl_dev != "unavailable":
        um = cv2.UMat(f32)
        t["cv2 UMat (OpenCL)"] = med(
            lambda: cv2.filter2D(um, -1, k, borderType=cv2.BORDER_CONSTANT).get())
    t["scipy correlate"] = med(
        lambda: scipy.ndimage.correlate(f32, k, mode="constant", cval=0.0), n=max(3, reps // 2))
    t["vips conv"] = med(lambda: run(["vips", "conv", src, v_out, vmat, "--precision", "float"]))
    t["ImageMagick"] = med(lambda: run([im, src, "-morphology", "Convolve", imk,
                                        "-depth", "16", m_out]))
    rows.append((n, t))

# The table: in-memory tools against clconv in memory, CLI tools against the
# clconv CLI. Ratio = tool time / clconv time (> 1: clconv is faster).
cli = {"clconv CLI", "vips conv", "ImageMagick"}
tools = [k for k in rows[0][1] if k not in ("clconv e2e",)]
print()
print("| tool | " + " | ".join(f"{n}x{n} ms (ratio)" for n, _ in rows) + " |")
print("|---|" + "---|" * len(rows))
print("| clconv in-memory e2e, float in | " + " | ".join(f"{t['clconv e2e']:.1f} (1.00)" for _, t in rows) + " |")
for name in tools:
    cells = []
    for n, t in rows:
        if name not in t:
            cells.append("n/a")
            continue
        # 8-bit input against clconv's 8-bit path, the rest against float in.
        base = (t["clconv CLI"] if name in cli else
                t["clconv e2e, 8-bit in"] if name in ("cv2.filter2D u8->f32", "clconv e2e, 8-bit in")
                else t["clconv e2e"])
        cells.append(f"{t[name]:.1f} ({t[name] / base:.2f})")
    print(f"| {name} | " + " | ".join(cells) + " |")
print("| no-op: " + ", ".join(f"{k} {v:.1f} ms" for k, v in noop.items()) + " |" + " |" * (len(rows) - 1))
print("""
Ratios: tool time / clconv time; in-memory rows against "clconv in-memory
e2e, float in" (cv2 u8->f32 against "clconv e2e, 8-bit in"), CLI rows
(clconv CLI, vips conv, ImageMagick) against "clconv CLI".
- clconv in-memory e2e, float in: clconv-bench --input: clconv_conv_cl_image
  from the float32 plane, the border read on the device (constant border),
  PoCL zero-copy, float32 result in host memory, allocated per run.
  "8-bit in": the same from the 8-bit image (what the CLI does for filters
  under 100 taps). "host pad": the path before the border moved to the
  device (host pad + device). "clconv kernel" is the host-padded tiled
  kernel alone (events).
- clconv CLI: the whole process: start-up, OpenCL platform and program set-up
  (the kernel binary from clconv's cache after the warm-up), PNG decode to
  bytes, device (border on the device), .npy write (64 MiB float32).
- cv2.filter2D f32: float32 in memory -> float32, BORDER_CONSTANT, OpenCV's own
  threads. u8->f32: the 8-bit image in, float32 out (ddepth CV_32F).
- cv2 UMat (OpenCL): filter2D on a UMat already on the device, plus .get() of
  the result; on this machine OpenCV's OpenCL device is PoCL too.
- scipy correlate: scipy.ndimage.correlate, float32, mode constant, one thread.
- vips conv: the CLI: PNG decode + conv --precision float + .v write (float).
- ImageMagick: convert -morphology Convolve (Q16, results clamped to 0..65535,
  as its non-HDRI build does) + PNG decode + 16-bit PGM write.
- no-op: the same CLIs doing no filtering (clconv: a 1x1 filter "1"; vips copy;
  convert to PGM): what start-up, decode and encode cost alone.""")

with open(os.path.join(out, "results.csv"), "w", newline="") as fp:
    w = csv.writer(fp)
    w.writerow(["filter", "tool", "ms"])
    for n, t in rows:
        for name, v in t.items():
            w.writerow([f"{n}x{n}", name, f"{v:.3f}"])
    for name, v in noop.items():
        w.writerow(["noop", name, f"{v:.3f}"])
PY
