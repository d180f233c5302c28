#!/usr/bin/python3
"""color_compare.py CLCONV [SIZE] [RUNS] [BATCH] — what --color costs,
against OpenCV on the same data, in one interleaved run: a SIZE² RGB float32
image (.npy (H, W, 3)) and its gray plane, filtered by 3x3 and 9x9 integer
filters (sharpen, and a dense 9x9), by clconv on its default device (the
"compute" time of --json: upload, kernels, download, all channels) and by
cv2.filter2D on the same arrays in this process (one call, all channels),
medians of RUNS rounds. Prints a table for bench/RESULTS.md. Needs
python3-opencv.

Each clconv round is one process filtering BATCH copies of the image (-j 1,
one at a time), as a batch user runs it: the first image of a process is
reported apart ("cold"), since it pays for the process's first touch of
fresh memory (on a VM, the host backing new guest pages: clear_page in
perf, up to 10x the kernel's time), which OpenCV in this warm Python
process does not pay; the steady figure is the median of the others."""
import json
import shutil
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

clconv = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
cv2.setNumThreads(os.cpu_count())
rng = np.random.default_rng(7)
rgb = rng.integers(0, 256, (size, size, 3)).astype(np.float32)
gray = np.ascontiguousarray(rgb[:, :, 1])
d = tempfile.mkdtemp(prefix="clconv-color-")
np.save(os.path.join(d, "rgb.npy"), rgb)
np.save(os.path.join(d, "gray.npy"), gray)
k9 = rng.integers(-3, 4, (9, 9)).astype(np.float64)
with open(os.path.join(d, "k9.txt"), "w") as f:
    f.write("\n".join(" ".join(str(int(v)) for v in row) for row in k9))
sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
filters = {"3x3": ("sharpen", sharpen), "9x9": ("@" + os.path.join(d, "k9.txt"),
                                                k9.astype(np.float32))}


batch = int(sys.argv[4]) if len(sys.argv) > 4 else 4
for name in ("rgb", "gray"):
    for i in range(batch):
        os.link(os.path.join(d, name + ".npy"), os.path.join(d, f"{name}-{i}.npy"))


def clconv_ms(spec, name, color):
    """(cold ms, steady ms: median of the batch's later images, device)."""
    cmd = [clconv, "-q", "--json", "--verify=off", "-j", "1", "-f", spec]
    cmd += [os.path.join(d, f"{name}-{i}.npy") for i in range(batch)]
    cmd += ["--format", "npy", "-o", os.path.join(d, "out") + os.sep]
    if color:
        cmd.insert(1, "--color")
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    ims = json.loads(p.stdout)["images"]
    ms = [im["ms"]["compute"] for im in ims]
    return ms[0], statistics.median(ms[1:]) if len(ms) > 1 else ms[0], ims[0].get("device")


def cv_ms(a, k):
    t = time.perf_counter()
    cv2.filter2D(a, -1, k, borderType=cv2.BORDER_CONSTANT)
    return (time.perf_counter() - t) * 1e3


times = {}
device = None
for r in range(runs + 1):  # round 0 warms up (builds, caches)
    for fname, (spec, k) in filters.items():
        for kind, arr in (("gray", gray), ("rgb", rgb)):
            cold, ms, device = clconv_ms(spec, kind, kind == "rgb")
            c = cv_ms(arr, k)
            if r:
                times.setdefault((fname, kind, "clconv"), []).append(ms)
                times.setdefault((fname, kind, "cold"), []).append(cold)
                times.setdefault((fname, kind, "cv2"), []).append(c)
print(f"{size}x{size}, float32, medians of {runs} interleaved rounds, clconv "
      f"steady = median of images 2..{batch} of a batch process (cold = its first); clconv on "
      f"{device}; OpenCV {cv2.__version__} with {os.cpu_count()} threads; "
      f"load {os.getloadavg()[0]:.2f}")
print("| filter | clconv gray ms | clconv RGB ms | RGB/gray | cv2 gray ms | "
      "cv2 RGB ms | cv2/clconv, RGB | cold gray ms | cold RGB ms |")
print("|---|---|---|---|---|---|---|---|---|")
for fname in filters:
    m = {key[1:]: statistics.median(v) for key, v in times.items() if key[0] == fname}
    print(f"| {fname} | {m[('gray', 'clconv')]:.1f} | {m[('rgb', 'clconv')]:.1f} | "
          f"{m[('rgb', 'clconv')] / m[('gray', 'clconv')]:.2f} | "
          f"{m[('gray', 'cv2')]:.1f} | {m[('rgb', 'cv2')]:.1f} | "
          f"{m[('rgb', 'cv2')] / m[('rgb', 'clconv')]:.2f} | "
          f"{m[('gray', 'cold')]:.1f} | {m[('rgb', 'cold')]:.1f} |")
shutil.rmtree(d)
