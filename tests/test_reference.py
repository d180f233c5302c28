#!/usr/bin/python3
"""test_reference.py CLCONV — clconv's numbers against an independent Python
reference (DESIGN.md §2), on the CPU path and, when one is listed, on the
OpenCL device.

The expectation is computed the way the seed did: Pillow convert('L'),
numpy.pad with the border mode, then a loop over the taps summing
K[i][j] * P[y*s + i*d][x*s + j*d] in float64, cast once to float32. The
geometry (valid / TensorFlow SAME / explicit N) is computed here from the
design, not read from clconv. Integer filters on 8-bit input must match bit
for bit; any other filter within 4*taps*FLT_EPSILON*sum|K*P| + FLT_MIN.

The seed is printed; set CLCONV_TEST_SEED to repeat a run.
"""
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import testenv

CLCONV, SEED = testenv.start("test_reference.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402
rng = np.random.default_rng(SEED)

FLT_EPS = float(np.finfo(np.float32).eps)
FLT_MIN = float(np.finfo(np.float32).tiny)
BORDERS = ["constant", "edge", "reflect", "symmetric", "wrap"]

PRESETS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "blur": (np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16.0).tolist(),
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "sobel-left": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    "sobel-right": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-top": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
    "sobel-bottom": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
}


# ------------------------------------------------------------------ reference

def axis_geometry(n, k, s, d, padding):
    """(before, after, out) for one axis, from DESIGN.md §2."""
    keff = d * (k - 1) + 1
    if padding == "valid":
        before = after = 0
    elif padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + keff - n, 0)
        before = total // 2
        after = total - before
        return before, after, out
    else:
        before = after = int(padding)
    npad = n + before + after
    out = (npad - keff) // s + 1 if npad >= keff else 0
    return before, after, out


def reference(gray, K, stride, dil, padding, border, cval):
    """float32 expectation and the per-pixel sum |K*P| (float64)."""
    kh, kw = K.shape
    h, w = gray.shape
    t, b, oh = axis_geometry(h, kh, stride, dil, padding)
    l, r, ow = axis_geometry(w, kw, stride, dil, padding)
    if oh < 1 or ow < 1:
        return None, None
    img = gray.astype(np.float64)
    if border == "constant":
        P = np.pad(img, ((t, b), (l, r)), mode="constant",
                   constant_values=float(np.float32(cval)))
    else:
        P = np.pad(img, ((t, b), (l, r)), mode=border)
    acc = np.zeros((oh, ow), np.float64)
    asum = np.zeros((oh, ow), np.float64)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dil, j * dil
            win = P[y0:y0 + (oh - 1) * stride + 1:stride,
                    x0:x0 + (ow - 1) * stride + 1:stride]
            acc += K[i, j] * win
            asum += np.abs(K[i, j] * win)
    return acc.astype(np.float32), asum


# OpenCV's getGaussianKernel without sigma: fixed tables for odd n <= 9.
SMALL_GAUSSIAN = {1: [1.0], 3: [0.25, 0.5, 0.25],
                  5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
                  7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375,
                      0.03125],
                  9: [v / 256 for v in (4, 13, 30, 51, 60, 51, 30, 13, 4)]}


def gaussian(n, sigma=None):
    if sigma is None and n in SMALL_GAUSSIAN:
        g = np.array(SMALL_GAUSSIAN[n])
        return np.outer(g, g)
    if sigma is None:
        sigma = 0.3 * ((n - 1) * 0.5 - 1) + 0.8
    x = np.arange(n, dtype=np.float64) - (n - 1) * 0.5
    g = np.exp(-x * x / (2 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g)


# ------------------------------------------------------------------ cases

class Case:
    """One clconv invocation: one filter and one set of options, 1..3 images."""

    def __init__(self, label, spec, K, exact_filter, stride=1, dil=1,
                 padding="same", border="constant", cval=0.0, flip=False,
                 filter_text=None):
        self.label = label
        self.spec = spec
        self.K = np.asarray(K, dtype=np.float64)
        self.exact_filter = exact_filter
        self.stride, self.dil = stride, dil
        self.padding, self.border, self.cval = padding, border, cval
        self.flip = flip
        self.filter_text = filter_text
        self.images = []  # (path, gray uint8)

    def applied(self):
        return self.K[::-1, ::-1] if self.flip else self.K

    def args(self):
        a = ["-q", "-f", self.spec, "--padding", str(self.padding),
             "--border", self.border, "--stride", str(self.stride),
             "--dilation", str(self.dil)]
        if self.border == "constant":
            a.append(f"--cval={self.cval!r}")
        if self.flip:
            a.append("--flip")
        return a

    def describe(self):
        return (f"[{self.label}] -f {self.spec} K={self.K.shape[0]}x"
                f"{self.K.shape[1]} {' '.join(self.args()[3:])}")


def fmt_num(v):
    """A number as text that strtod reads back to the same double."""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def rand_filter(kh, kw, integer):
    if integer:
        K = rng.integers(-9, 10, size=(kh, kw)).astype(np.float64)
    else:
        K = rng.uniform(-2.0, 2.0, size=(kh, kw))
        # some taps with few digits, some with 17
        short = rng.random((kh, kw)) < 0.5
        K[short] = np.round(K[short], 2)
    if not K.any():
        K[0, 0] = 1.0
    return K


def filter_file_text(K):
    seps = [" ", ",", ", ", "\t", "  "]
    lines = ["# random filter written by test_reference.py"]
    for row in K:
        sep = seps[int(rng.integers(len(seps)))]
        line = sep.join(fmt_num(v) for v in row)
        if rng.random() < 0.3:
            line += "   # row comment"
        lines.append(line)
    if rng.random() < 0.3:
        lines.append("")
    return "\n".join(lines) + "\n"


def inline_spec(K):
    return ";".join(",".join(fmt_num(v) for v in row) for row in K)


WORK = tempfile.mkdtemp(prefix="clconv-ref-")
CASES = []


def add_case(case, sizes):
    """Registers a case with images of the given (h, w) sizes."""
    idx = len(CASES)
    if case.filter_text is not None:
        fpath = os.path.join(WORK, f"f{idx:04d}.txt")
        with open(fpath, "w") as fh:
            fh.write(case.filter_text)
        case.spec = "@" + fpath
    for n, (h, w) in enumerate(sizes):
        path = os.path.join(WORK, f"c{idx:04d}_{n}.png")
        kind = rng.integers(3)
        if kind == 0:
            arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            Image.fromarray(arr, "RGB").save(path)
        elif kind == 1:
            arr = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
            Image.fromarray(arr, "L").save(path)
        else:  # a smoother image: gradients plus noise
            yy, xx = np.mgrid[0:h, 0:w]
            arr = (yy * 7 + xx * 13 + rng.integers(0, 40, size=(h, w))) % 256
            Image.fromarray(arr.astype(np.uint8), "L").save(path)
        gray = np.asarray(Image.open(path).convert("L"))
        assert gray.shape == (h, w)
        case.images.append((path, gray))
    CASES.append(case)


def fit_sizes(K, stride, dil, padding, count, lo=1, hi=20):
    """Random image sizes for which the geometry is not empty."""
    kh, kw = K.shape
    sizes = []
    while len(sizes) < count:
        h, w = (int(v) for v in rng.integers(lo, hi + 1, size=2))
        if (axis_geometry(h, kh, stride, dil, padding)[2] >= 1 and
                axis_geometry(w, kw, stride, dil, padding)[2] >= 1):
            sizes.append((h, w))
        else:
            lo = min(lo + 1, hi)
    return sizes


def random_spec_case(label, K, integer, **kw):
    """Passes K as @file (mostly) or as an inline matrix."""
    if rng.random() < 0.8:
        return Case(label, None, K, integer, filter_text=filter_file_text(K), **kw)
    return Case(label, inline_spec(K), K, integer, **kw)


def build_cases():
    # 1. every border (constant twice: cval 0 and a nonzero one) x odd/even
    #    filter x stride 1..3 x dilation 1..3 x padding valid/same/explicit.
    borders = [("constant", 0.0), ("constant", None), ("edge", 0.0),
               ("reflect", 0.0), ("symmetric", 0.0), ("wrap", 0.0)]
    for border, cval in borders:
        for parity in ("odd", "even"):
            for stride in (1, 2, 3):
                for dil in (1, 2, 3):
                    for padding in ("valid", "same", "explicit"):
                        sizes_k = [1, 3, 5] if parity == "odd" else [2, 4]
                        kh = int(rng.choice(sizes_k))
                        kw = kh if rng.random() < 0.5 else int(rng.choice(sizes_k))
                        integer = rng.random() < 0.6
                        K = rand_filter(kh, kw, integer)
                        cv = cval
                        if cv is None:  # nonzero: integer or not
                            cv = float(rng.choice([37.0, 255.0, -12.5, 300.25, 1000.0]))
                        exact = integer and float(cv).is_integer()
                        if padding == "explicit":
                            # widths larger than the image now and then
                            pw = int(rng.integers(0, 4)) if rng.random() < 0.6 \
                                else int(rng.integers(8, 30))
                            pad = str(pw)
                        else:
                            pad = padding
                        lo, hi = (1, 6) if pad not in ("same", "valid") and int(pad) >= 8 else (1, 20)
                        c = random_spec_case(f"grid {border} {parity}", K, exact,
                                             stride=stride, dil=dil, padding=pad,
                                             border=border, cval=cv)
                        add_case(c, fit_sizes(K, stride, dil, pad,
                                              int(rng.integers(1, 3)), lo, hi))

    # 2. rectangular, 1x1, 1xN, Nx1 and prime sizes, under random options.
    shapes = [(1, 1), (1, 2), (1, 7), (9, 1), (2, 1), (3, 7), (7, 3), (5, 2),
              (2, 6), (11, 13), (13, 5), (7, 7), (2, 3)]
    for kh, kw in shapes:
        integer = rng.random() < 0.5
        K = rand_filter(kh, kw, integer)
        border = str(rng.choice(BORDERS))
        stride, dil = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        pad = str(rng.choice(["same", "valid", str(int(rng.integers(0, 6)))]))
        c = random_spec_case(f"shape {kh}x{kw}", K, integer, stride=stride,
                             dil=dil, padding=pad, border=border)
        add_case(c, fit_sizes(K, stride, dil, pad, 2, 1, 28))

    # 3. filters larger than the image under same padding, every border.
    for border in BORDERS:
        kh, kw = int(rng.integers(5, 12)), int(rng.integers(5, 12))
        integer = rng.random() < 0.5
        K = rand_filter(kh, kw, integer)
        stride, dil = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        c = random_spec_case(f"filter > image {border}", K, integer,
                             stride=stride, dil=dil, padding="same",
                             border=border, cval=float(rng.integers(0, 256)))
        add_case(c, [(int(rng.integers(1, 4)), int(rng.integers(1, 5))),
                     (int(rng.integers(2, 5)), 1)])

    # 4. --flip: true convolution = K rotated by 180 degrees.
    for n in range(6):
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(2, 6))
        integer = n % 2 == 0
        K = rand_filter(kh, kw, integer)
        border = str(rng.choice(BORDERS))
        stride, dil = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        c = random_spec_case("flip", K, integer, stride=stride, dil=dil,
                             border=border, flip=True)
        add_case(c, fit_sizes(K, stride, dil, "same", 2, 3, 20))
    add_case(Case("flip emboss", "emboss", PRESETS["emboss"], True,
                  border="edge", flip=True), [(9, 11)])

    # 5. every preset by name.
    for name, M in PRESETS.items():
        border = str(rng.choice(BORDERS))
        add_case(Case(f"preset {name}", name, M, name != "blur", border=border),
                 fit_sizes(np.zeros((3, 3)), 1, 1, "same", 2, 1, 24))
    add_case(Case("preset sharpen valid", "sharpen", PRESETS["sharpen"], True,
                  padding="valid"), [(5, 6), (3, 3)])

    # 6. box:N, gaussian:N and gaussian:N:SIGMA.
    for n in (1, 2, 3, 4, 5, 8):
        add_case(Case(f"box:{n}", f"box:{n}", np.full((n, n), 1.0 / (n * n)),
                      n == 1, border=str(rng.choice(BORDERS))),
                 fit_sizes(np.zeros((n, n)), 1, 1, "same", 2, 1, 24))
    for n in (1, 2, 3, 5, 6, 7, 9):
        add_case(Case(f"gaussian:{n}", f"gaussian:{n}", gaussian(n), False,
                      border=str(rng.choice(BORDERS))),
                 fit_sizes(np.zeros((n, n)), 1, 1, "same", 2, 1, 24))
    for n, sigma in ((3, 0.5), (5, 1.5), (4, 2.25), (7, 0.8), (1, 3.0)):
        sig = f"{sigma:g}"
        add_case(Case(f"gaussian:{n}:{sig}", f"gaussian:{n}:{sig}",
                      gaussian(n, float(sig)), False,
                      border=str(rng.choice(BORDERS))),
                 fit_sizes(np.zeros((n, n)), 1, 1, "same", 2, 1, 24))

    # 7. inline matrices "a,b;c,d".
    for kh, kw, integer in ((2, 2, True), (1, 3, True), (3, 2, False),
                            (4, 4, False), (3, 3, True)):
        K = rand_filter(kh, kw, integer)
        add_case(Case("inline", inline_spec(K), K, integer,
                      border=str(rng.choice(BORDERS))),
                 fit_sizes(K, 1, 1, "same", 2, 1, 20))
    add_case(Case("inline spaces", "1 2; -3 4", [[1, 2], [-3, 4]], True),
             [(6, 7)])
    add_case(Case("inline exponent", "1e0,-2.5E-1;+.5,0", [[1, -0.25], [0.5, 0]],
                  False, border="reflect"), [(6, 7)])


# ------------------------------------------------------------------ run

def list_devices():
    p = subprocess.run([CLCONV, "--list-devices"], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"FAIL: clconv --list-devices exited {p.returncode}: {p.stderr}")
        return None
    return [l.split()[0] for l in p.stdout.splitlines() if l.startswith("opencl:")]


def run_case(idx, case, device):
    out = os.path.join(WORK, f"out-{device.replace(':', '_')}-{idx:04d}") + "/"
    cmd = [CLCONV] + case.args() + ["--device", device, "--format", "npy",
                                    "-o", out] + [p for p, _ in case.images]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return cmd, p, out


def check(case, device, cmd, proc, outdir):
    """Returns the number of failures for this case on this device."""
    fails = 0
    if proc.returncode != 0:
        print(f"FAIL {case.describe()} on {device}: exit {proc.returncode}\n"
              f"  cmd: {' '.join(cmd)}\n  stderr: {proc.stderr.strip()}")
        return 1
    for path, gray in case.images:
        ref, asum = reference(gray, case.applied(), case.stride, case.dil,
                              case.padding, case.border, case.cval)
        name = os.path.splitext(os.path.basename(path))[0] + ".npy"
        where = f"{case.describe()} image {gray.shape[1]}x{gray.shape[0]} on {device}"
        try:
            got = np.load(os.path.join(outdir, name))
        except Exception as e:
            print(f"FAIL {where}: cannot load the output: {e}")
            fails += 1
            continue
        if got.dtype != np.float32 or got.shape != ref.shape:
            print(f"FAIL {where}: output {got.dtype} {got.shape}, expected "
                  f"float32 {ref.shape}")
            fails += 1
            continue
        taps = case.K.size
        tol = 4 * taps * FLT_EPS * asum + FLT_MIN
        if case.exact_filter:
            bad = got != ref
            kind = "bit-exact"
        else:
            bad = ~(np.abs(got.astype(np.float64) - ref.astype(np.float64)) <= tol)
            kind = "tolerance"
        if bad.any():
            ys, xs = np.nonzero(bad)
            y, x = int(ys[0]), int(xs[0])
            print(f"FAIL {where} ({kind}): first bad pixel (x={x}, y={y}) "
                  f"expected {ref[y, x]:.9g} got {got[y, x]:.9g} tolerance "
                  f"{(0.0 if case.exact_filter else tol[y, x]):.9g}; "
                  f"{int(bad.sum())} of {bad.size} pixels bad\n"
                  f"  input {path}\n  cmd: {' '.join(cmd)}")
            fails += 1
    return fails


def main():
    t0 = time.time()
    devices = list_devices()
    if devices is None:
        return 1
    targets = ["cpu"] + (["opencl"] if devices else [])
    if not devices:
        print("no OpenCL device listed: checking the CPU path only")
    build_cases()
    nimg = sum(len(c.images) for c in CASES)
    print(f"{len(CASES)} cases, {nimg} images, devices {targets}", flush=True)

    jobs = [(i, c, d) for d in targets for i, c in enumerate(CASES)]
    with ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(lambda a: run_case(*a), jobs))
    fails = 0
    checked = 0
    for (i, c, d), (cmd, p, out) in zip(jobs, results):
        fails += check(c, d, cmd, p, out)
        checked += len(c.images)
    dt = time.time() - t0
    print(f"{checked} image results checked, {fails} failure(s), {dt:.1f} s")
    if fails:
        print(f"inputs kept in {WORK}; seed {SEED}")
        return 1
    subprocess.run(["rm", "-rf", WORK])
    return 0


if __name__ == "__main__":
    sys.exit(main())
