#!/usr/bin/python3
"""test_presets.py CLCONV — the presets of issue 13 (scharr-*, prewitt-*,
laplacian, laplacian8, log:N[:SIGMA]) through the command line, on the CPU
reference path and on the default device, against independent references:

- the matrices written out here from their textbook and OpenCV definitions,
  correlated with numpy over numpy.pad (bit for bit on 8-bit input, .npy
  output, and 8-bit PNG output under every --map);
- OpenCV itself: cv2.Scharr (dx, dy) and cv2.Laplacian(ksize=1) on float32
  data (exact on integer values, within the design's tolerance on others);
- log:N[:SIGMA] rebuilt here as MATLAB's fspecial('log') builds it;
- --list-filters shows every one with its matrix, and bad specs are refused
  in one line, exit 2, nothing written.

The seed is printed; set CLCONV_TEST_SEED to repeat a run.
"""
import os
import subprocess
import tempfile

import testenv

CLCONV, SEED = testenv.start("test_presets.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402

rng = np.random.default_rng(SEED)
check = testenv.Checks("test_presets.py")
FLT_EPS = float(np.finfo(np.float32).eps)
FLT_MIN = float(np.finfo(np.float32).tiny)
BORDERS = ["constant", "edge", "reflect", "symmetric", "wrap"]
DEVICES = {"cpu": ["--device", "cpu"], "default": []}

# Written out from their definitions, not read from clconv. "-right" and
# "-bottom" are bright where that side is brighter, as sobel-*; scharr-right
# and scharr-bottom are what cv2.Scharr(dx=1) / (dy=1) correlate with.
FIXED = {
    "scharr-left": [[3, 0, -3], [10, 0, -10], [3, 0, -3]],
    "scharr-right": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
    "scharr-top": [[3, 10, 3], [0, 0, 0], [-3, -10, -3]],
    "scharr-bottom": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
    "prewitt-left": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "prewitt-right": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt-top": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    "prewitt-bottom": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "laplacian8": [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
}


def log_kernel(n, sigma=None):
    """MATLAB's fspecial('log', n, sigma), step for step; without sigma,
    gaussian:N's default 0.3*((n-1)/2-1)+0.8."""
    if sigma is None:
        sigma = 0.3 * ((n - 1) * 0.5 - 1) + 0.8
    c = (n - 1) // 2
    y, x = np.mgrid[-c:c + 1, -c:c + 1].astype(np.float64)
    s2 = sigma * sigma
    h = np.exp(-(x * x + y * y) / (2 * s2))
    h[h < np.finfo(np.float64).eps * h.max()] = 0
    h = h / h.sum()
    h1 = h * (x * x + y * y - 2 * s2) / (s2 * s2)
    return h1 - h1.sum() / h1.size


def correlate(img, K, border, cval=0.0):
    """(float32 result, float64 sum |K*P|): SAME padding, stride 1."""
    K = np.asarray(K, np.float64)
    kh, kw = K.shape
    H, W = img.shape
    kw_ = {"constant_values": cval} if border == "constant" else {}
    P = np.pad(img.astype(np.float64), ((kh // 2, kh // 2), (kw // 2, kw // 2)),
               mode=border, **kw_)
    out = np.zeros((H, W))
    asum = np.zeros((H, W))
    for i in range(kh):
        for j in range(kw):
            out += K[i, j] * P[i:i + H, j:j + W]
            asum += abs(K[i, j] * P[i:i + H, j:j + W])
    return out.astype(np.float32), asum


def map8(v, mode):
    """DESIGN.md §2's mapping of a float32 result to 8 bits."""
    v = v.astype(np.float64)
    if mode == "abs":
        v = np.abs(v)
    elif mode == "normalize":
        lo, hi = v.min(), v.max()
        v = (v - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(v)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def run(args):
    return subprocess.run([CLCONV, "-q"] + args, capture_output=True,
                          text=True, timeout=300)


def first_bad(got, want, tol):
    """A line naming the first pixel off by more than tol, and the count."""
    bad = ~(np.abs(got.astype(np.float64) - want) <= tol)
    if not bad.any():
        return ""
    y, x = np.argwhere(bad)[0]
    return (f"first bad ({x}, {y}): expected {float(want[y, x]):.9g}, got "
            f"{float(got[y, x]):.9g}, tol {float(np.broadcast_to(tol, bad.shape)[y, x]):.3g}; "
            f"{int(bad.sum())} bad")


def filter_files(tmp, spec, dev, inputs, ext, extra):
    """Runs one batch into a fresh directory; returns {name: path} or None."""
    out = tempfile.mkdtemp(dir=tmp)
    r = run(DEVICES[dev] + ["-f", spec, "--format", ext, "-o", out + "/"]
            + extra + inputs)
    check(r.returncode == 0,
          f"{spec} {dev} {' '.join(extra)}: exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode != 0:
        return None
    return {p: os.path.join(out, os.path.splitext(os.path.basename(p))[0]
                            + "." + ext) for p in inputs}


def test_fixed(tmp, images):
    """Every fixed preset, both paths, a random border: .npy bit for bit,
    and PNG under a random --map bit for bit."""
    for name, K in FIXED.items():
        for dev in DEVICES:
            border = BORDERS[rng.integers(len(BORDERS))]
            cval = float(rng.integers(0, 256)) if border == "constant" else 0.0
            mode = ["clamp", "abs", "normalize"][rng.integers(3)]
            geo = ["--border", border, "--cval", f"{cval:g}"]
            npys = filter_files(tmp, name, dev, list(images), "npy", geo)
            pngs = filter_files(tmp, name, dev, list(images), "png",
                                geo + ["--map", mode])
            for path, img in images.items():
                want, _ = correlate(img, K, border, cval)
                what = f"{name} {dev} --border {border} on {img.shape}"
                if npys:
                    got = np.load(npys[path])
                    check(got.dtype == np.float32 and got.shape == img.shape
                          and np.array_equal(got, want),
                          f"{what} .npy not bit-exact: "
                          f"{first_bad(got, want, 0) if got.shape == want.shape else got.shape}")
                if pngs:
                    got = np.asarray(Image.open(pngs[path]))
                    check(np.array_equal(got, map8(want, mode)),
                          f"{what} --map {mode} PNG differs: "
                          f"{first_bad(got, map8(want, mode), 0)}")


def test_log(tmp, images):
    """log:N[:SIGMA] against MATLAB's construction, within the tolerance
    4*taps*FLT_EPSILON*sum|K*P| + FLT_MIN."""
    for spec, n, sigma in [("log:3", 3, None), ("log:5", 5, None),
                           ("log:7:1.4", 7, 1.4), ("log:9:0.8", 9, 0.8),
                           ("log:5:0.5", 5, 0.5), ("log:15", 15, None),
                           ("log:31:4", 31, 4.0)]:
        K = log_kernel(n, sigma)
        check(abs(K.sum()) < 1e-12, f"reference {spec} sums to {K.sum()}")
        for dev in DEVICES:
            border = BORDERS[rng.integers(len(BORDERS))]
            npys = filter_files(tmp, spec, dev, list(images), "npy",
                                ["--border", border])
            for path, img in (images.items() if npys else []):
                want, asum = correlate(img, K, border)
                got = np.load(npys[path])
                tol = 4 * n * n * FLT_EPS * asum + FLT_MIN
                check(got.shape == want.shape and not first_bad(got, want, tol),
                      f"{spec} {dev} --border {border} on {img.shape}: "
                      f"{first_bad(got, want, tol) if got.shape == want.shape else got.shape}")


CV_BORDERS = {"reflect": "BORDER_REFLECT_101", "symmetric": "BORDER_REFLECT",
              "edge": "BORDER_REPLICATE", "constant": "BORDER_CONSTANT"}


def test_opencv(tmp):
    """scharr-* against cv2.Scharr, laplacian against cv2.Laplacian(ksize=1),
    on float32 .npy data: integer values exactly, others in tolerance."""
    try:
        import cv2
    except ImportError:
        print("note: no cv2; OpenCV comparisons not run")
        return
    ints = rng.integers(0, 256, (29, 41)).astype(np.float32)
    floats = rng.uniform(-1000, 1000, (33, 27)).astype(np.float32)
    inputs = {}
    for label, arr in (("ints", ints), ("floats", floats)):
        inputs[label] = os.path.join(tmp, f"cv-{label}.npy")
        np.save(inputs[label], arr)
    f32 = cv2.CV_32F
    cases = {  # preset: OpenCV's result for (image, border)
        "scharr-right": lambda a, b: cv2.Scharr(a, f32, 1, 0, borderType=b),
        "scharr-bottom": lambda a, b: cv2.Scharr(a, f32, 0, 1, borderType=b),
        "scharr-left": lambda a, b: -cv2.Scharr(a, f32, 1, 0, borderType=b),
        "scharr-top": lambda a, b: -cv2.Scharr(a, f32, 0, 1, borderType=b),
        "laplacian": lambda a, b: cv2.Laplacian(a, f32, ksize=1, borderType=b),
    }
    for name, cv in cases.items():
        for dev in DEVICES:
            border = list(CV_BORDERS)[rng.integers(len(CV_BORDERS))]
            npys = filter_files(tmp, name, dev, list(inputs.values()), "npy",
                                ["--border", border])
            if not npys:
                continue
            for label, arr in (("ints", ints), ("floats", floats)):
                want = cv(arr, getattr(cv2, CV_BORDERS[border]))
                got = np.load(npys[inputs[label]])
                _, asum = correlate(arr, FIXED[name], border)
                tol = 0 if label == "ints" else 4 * 9 * FLT_EPS * asum + FLT_MIN
                check(got.shape == want.shape and not first_bad(got, want, tol),
                      f"{name} {dev} --border {border} vs OpenCV on {label}: "
                      f"{first_bad(got, want, tol) if got.shape == want.shape else got.shape}")


def test_list_filters():
    """--list-filters: each fixed preset's line, then its matrix; log:N[:SIGMA]
    with its rule and the matrix of its example log:5."""
    r = subprocess.run([CLCONV, "--list-filters"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, f"--list-filters exit {r.returncode}")
    lines = r.stdout.splitlines()
    heads = {ln.split()[0]: i for i, ln in enumerate(lines)
             if ln and not ln[0].isspace()}

    def matrix(at, rows):
        try:
            return np.array([[float(v) for v in ln.split()]
                             for ln in lines[at:at + rows]])
        except ValueError:
            return None

    for name, K in FIXED.items():
        i = heads.get(name)
        check(i is not None, f"--list-filters does not list {name}")
        if i is not None:
            m = matrix(i + 1, 3)
            check(m is not None and np.array_equal(m, np.array(K, float)),
                  f"--list-filters {name}: matrix {m} is not {K}")
    i = heads.get("log:N[:SIGMA]")
    check(i is not None, "--list-filters does not list log:N[:SIGMA]")
    if i is not None:
        check("fspecial" in lines[i] and "odd" in lines[i] and "log:5" in lines[i],
              f"log's rule: {lines[i]}")
        check("e.g. log:5" in lines[i + 1], f"log's example: {lines[i + 1]}")
        m = matrix(i + 2, 5)
        check(m is not None and m.shape == (5, 5)
              and np.allclose(m, log_kernel(5), rtol=1e-4, atol=1e-7),
              f"--list-filters log:5 matrix {m}")


def test_bad_specs(tmp, png):
    """Refused before any image is read: exit 2, one line naming the spec
    and the cause, no output."""
    for spec, says in [("log:4", "odd"), ("log:1", "odd"), ("log:257", "255"),
                       ("log:3:0", "SIGMA"), ("log:3:abc", "SIGMA"),
                       ("log:3:1e-20", "too small"), ("log:3:1e200", "too large"),
                       ("log:5:1:2", "SIGMA"), ("scharr", "unknown filter"),
                       ("prewitt-up", "unknown filter")]:
        out = os.path.join(tmp, "bad.png")
        r = run(["--device", "cpu", "-f", spec, png, "-o", out])
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 2 and len(lines) >= 1 and spec in lines[0]
              and says in lines[0] and not os.path.exists(out),
              f"-f {spec}: exit {r.returncode}, stderr {r.stderr!r}")
        check(not any("usage" in ln.lower() or "Try" in ln for ln in lines[:1]),
              f"-f {spec}: the first line is not the error: {lines[:1]}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        images = {}
        for k, (h, w) in enumerate([(23, 37), (41, 64), (1, 7), (9, 2)]):
            img = rng.integers(0, 256, (h, w), dtype=np.uint8)
            path = os.path.join(tmp, f"in{k}.png")
            Image.fromarray(img, "L").save(path)
            images[path] = img
        test_list_filters()
        test_bad_specs(tmp, next(iter(images)))
        test_fixed(tmp, images)
        test_log(tmp, images)
        test_opencv(tmp)
    check.finish()


main()
