#!/usr/bin/python3
"""gaussian_vs_opencv.py CLCONV — how clconv's gaussian:N (no SIGMA) compares
with OpenCV's: the taps against cv2.getGaussianKernel(N, 0), the float
result against cv2.filter2D on the float image (the same taps give the same
numbers), and the 8-bit result against cv2.GaussianBlur(img, (N, N), 0),
whose 8-bit path works in fixed point. Needs Debian's python3-opencv.
The figures are in docs/numbers.md."""
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
from PIL import Image

clconv = sys.argv[1]
rng = np.random.default_rng(int(os.environ.get("SEED", "5")))
img = rng.integers(0, 256, (97, 131), dtype=np.uint8)
d = tempfile.mkdtemp()
Image.fromarray(img).save(os.path.join(d, "i.png"))
print(f"OpenCV {cv2.__version__}, a {img.shape[1]}x{img.shape[0]} noise image")
print("N   max|tap diff|  float vs filter2D  8-bit vs GaussianBlur (pixels off)")
for n in (1, 3, 5, 7, 9, 11, 15, 21):
    for ext in ("png", "npy"):
        subprocess.run([clconv, "-q", "-f", f"gaussian:{n}", "--border", "reflect",
                        "--device", "cpu", os.path.join(d, "i.png"), "-o",
                        os.path.join(d, f"o.{ext}")], check=True)
    o8 = np.array(Image.open(os.path.join(d, "o.png"))).astype(int)
    of = np.load(os.path.join(d, "o.npy"))
    g = cv2.getGaussianKernel(n, 0)
    k = np.outer(g, g)
    cf = cv2.filter2D(img.astype(np.float32), -1, k,
                      borderType=cv2.BORDER_REFLECT_101)
    c8 = cv2.GaussianBlur(img, (n, n), 0).astype(int)
    # clconv's own taps, read back through a delta image
    delta = np.zeros((2 * n + 1, 2 * n + 1), np.float32)
    delta[n, n] = 1
    np.save(os.path.join(d, "delta.npy"), delta)
    subprocess.run([clconv, "-q", "-f", f"gaussian:{n}", "--device", "cpu",
                    os.path.join(d, "delta.npy"), "-o", os.path.join(d, "t.npy")],
                   check=True)
    taps = np.load(os.path.join(d, "t.npy"))[n - n // 2:n + n // 2 + 1,
                                             n - n // 2:n + n // 2 + 1]
    print(f"{n:<3} {np.abs(taps[::-1, ::-1] - k).max():<14.3g} "
          f"{np.abs(of - cf).max():<18.3g} {np.abs(o8 - c8).max()} "
          f"({int((o8 != c8).sum())} of {o8.size})")
