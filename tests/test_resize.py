#!/usr/bin/python3
"""test_resize.py CLCONV — --resize WxH and --resize-filter are Pillow's
Image.resize, bit for bit (docs/numbers.md, "Resize").

Random images from the printed seed, every filter, awkward sizes (down, up,
wider and shorter, 1xN, Nx1, 1x1, primes, non-integer ratios, factors over
100): `-f identity --resize WxH ... -o X.npy` must equal, array for array,
  8-bit gray PNG   Image.open(p).convert("L").resize((W, H), filter)
  RGB PNG          the same (clconv's luma, then the resize)
  16-bit gray PNG  Image.open(p).convert("I").resize(...)   (mode "I"),
   and PGM
  float32 .npy     Image.fromarray(a).resize(...)           (mode "F")
on the CPU path, and on the default device for part of them (the resize
runs on the host: the device must see the same pixels). The tutorial's
pipeline, --resize 224x224 then sharpen or outline, equals numpy's
correlation of Pillow's resized image exactly. CLCONV_TEST_SEED repeats a run.
"""
import os
import shutil
import subprocess
import tempfile

import testenv

CLCONV, SEED = testenv.start("test_resize.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402

check = testenv.Checks("test_resize.py")
rng = np.random.default_rng(SEED)
WORK = tempfile.mkdtemp(prefix="clconv-resize-")
R = Image.Resampling
FILTERS = {"nearest": R.NEAREST, "box": R.BOX, "bilinear": R.BILINEAR,
           "hamming": R.HAMMING, "bicubic": R.BICUBIC, "lanczos": R.LANCZOS}


def run(*args):
    p = subprocess.run([CLCONV, "-q"] + [str(a) for a in args],
                       capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


def diff(got, want):
    """'' when equal, else where and by how much they differ."""
    if got.shape != want.shape:
        return f"shape {got.shape}, Pillow's {want.shape}"
    bad = got != want
    if not bad.any():
        return ""
    ys, xs = np.nonzero(bad)
    y, x = int(ys[0]), int(xs[0])
    return (f"{len(ys)} of {got.size} pixels differ, max "
            f"{np.abs(got.astype(np.float64) - want).max():.9g}; first (x={x}, "
            f"y={y}): got {got[y, x]!r}, Pillow {want[y, x]!r}")


def make_sources():
    """name -> (file, Pillow image of the plane clconv filters)."""
    src = {}

    def gray(name, h, w):
        a = rng.integers(0, 256, (h, w), dtype=np.uint8)
        # Some smooth areas too, where rounding decides more pixels.
        a[: h // 2] = (np.arange(w) * 255 // max(w - 1, 1)).astype(np.uint8)
        p = os.path.join(WORK, name + ".png")
        Image.fromarray(a, "L").save(p)
        src[name] = (p, Image.open(p).convert("L"))

    gray("g97x61", 61, 97)
    gray("g1000x3", 3, 1000)
    gray("g3x1000", 1000, 3)
    gray("g1x1", 1, 1)
    rgb = rng.integers(0, 256, (83, 60, 3), dtype=np.uint8)
    p = os.path.join(WORK, "rgb60x83.png")
    Image.fromarray(rgb, "RGB").save(p)
    src["rgb60x83"] = (p, Image.open(p).convert("L"))
    # 16-bit: the full range, and a 12-bit camera's.
    for name, top, (h, w) in (("i53x71", 65536, (71, 53)), ("i12bit", 4096, (40, 67))):
        a = rng.integers(0, top, (h, w)).astype(np.uint16)
        p = os.path.join(WORK, name + ".png")
        Image.fromarray(a).save(p)
        src[name] = (p, Image.open(p).convert("I"))
    a = rng.integers(0, 65536, (33, 19)).astype(">u2")  # a 16-bit PGM: "I" too
    p = os.path.join(WORK, "pgm19x33.pgm")
    with open(p, "wb") as f:
        f.write(b"P5\n19 33\n65535\n" + a.tobytes())
    src["pgm19x33"] = (p, Image.open(p).convert("I"))
    a = (rng.standard_normal((38, 45)) * 300 + 20).astype(np.float32)
    p = os.path.join(WORK, "f45x38.npy")
    np.save(p, a)
    src["f45x38"] = (p, Image.fromarray(a))
    a = rng.integers(0, 256, (29, 31)).astype(np.float32)  # whole numbers, still "F"
    p = os.path.join(WORK, "fint31x29.npy")
    np.save(p, a)
    src["fint31x29"] = (p, Image.fromarray(a))
    return src


SRC = make_sources()
SIZES = [(30, 20), (224, 224), (150, 10), (1, 37), (41, 1), (1, 1), (89, 67),
         (70, 45), (7, 500), (500, 7), (13, 1009)]


def pillow(name, w, h, filt):
    return np.asarray(SRC[name][1].resize((w, h), FILTERS[filt]))


def batch(device, w, h, filt, names, tag):
    """One clconv run over `names` into a directory of .npy files."""
    out = os.path.join(WORK, f"out-{tag}-{device}-{filt}-{w}x{h}")
    args = ["--device", device, "-f", "identity", "--resize", f"{w}x{h}"]
    if filt != "default":
        args += ["--resize-filter", filt]
    rc, err = run(*args, "--format", "npy", *[SRC[n][0] for n in names], "-o", out + "/")
    what = f"--device {device} --resize {w}x{h} " + (
        "(default filter)" if filt == "default" else f"--resize-filter {filt}")
    check(rc == 0, f"{what}: exit {rc}: {err}")
    if rc != 0:
        return
    for n in names:
        got = np.load(os.path.join(out, os.path.splitext(os.path.basename(SRC[n][0]))[0]
                                   + ".npy"))
        want = pillow(n, w, h, "bicubic" if filt == "default" else filt)
        d = diff(got, want.astype(np.float32))
        check(d == "", f"{n} {what}: not Pillow's mode {SRC[n][1].mode} resize: {d}")
    shutil.rmtree(out, ignore_errors=True)


def check_cpu():
    for w, h in SIZES:
        for filt in FILTERS:
            batch("cpu", w, h, filt, list(SRC), "all")
    # Pillow's default is bicubic, and so is clconv's.
    batch("cpu", 224, 224, "default", list(SRC), "all")
    # The same size: Pillow copies.
    for n in ("g97x61", "i53x71", "f45x38"):
        w, h = SRC[n][1].size
        batch("cpu", w, h, "lanczos", [n], "same")


def check_device():
    """The default device (an OpenCL one where there is one): the resize is
    the host's, so the pixels the device filters are Pillow's too."""
    for w, h in ((224, 224), (31, 97), (1, 5)):
        for filt in FILTERS:
            batch("auto", w, h, filt, ["g97x61", "rgb60x83", "i53x71", "f45x38"], "dev")


def correlate(a, k):
    """numpy: 'same' correlation with a zero border (the seed's)."""
    kh, kw = k.shape
    p = np.pad(a.astype(np.float64), ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros(a.shape, np.float64)
    for i in range(kh):
        for j in range(kw):
            out += k[i, j] * p[i:i + a.shape[0], j:j + a.shape[1]]
    return out


def check_tutorial():
    """The tutorial: Image.open(p).convert("L").resize((224, 224)), then
    sharpen or outline: exact, as .npy and as the clamped PNG."""
    kernels = {"sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
               "outline": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])}
    for name in ("rgb60x83", "g97x61"):
        resized = pillow(name, 224, 224, "bicubic")
        for spec, k in kernels.items():
            want = correlate(resized, k)
            for device in ("cpu", "auto"):
                for ext in ("npy", "png"):
                    out = os.path.join(WORK, f"tut-{name}-{spec}-{device}.{ext}")
                    rc, err = run("--device", device, "-f", spec, "--resize", "224x224",
                                  SRC[name][0], "-o", out)
                    check(rc == 0, f"tutorial {spec} on {device}: exit {rc}: {err}")
                    if rc != 0:
                        continue
                    if ext == "npy":
                        d = diff(np.load(out), want.astype(np.float32))
                    else:
                        d = diff(np.asarray(Image.open(out)),
                                 np.clip(want, 0, 255).astype(np.uint8))
                    check(d == "", f"tutorial {name} --resize 224x224 -f {spec} "
                                   f"--device {device} .{ext}: not numpy on Pillow's "
                                   f"resize: {d}")


def check_usage():
    out = os.path.join(WORK, "bad.png")
    for bad in ("cubic", "BICUBIC", "", "lanczos3"):
        rc, err = run("-f", "identity", "--resize", "10x10", "--resize-filter", bad,
                      SRC["g97x61"][0], "-o", out)
        first = err.splitlines()[0] if err else ""
        check(rc == 2 and "--resize-filter" in first and f"'{bad}'" in first
              and "lanczos" in first and not os.path.exists(out),
              f"--resize-filter '{bad}': exit {rc}, want 2 and a line naming the "
              f"option, the value and the filters: {err!r}")
    rc, err = run("--help")
    check(rc == 0, f"--help: exit {rc}")
    p = subprocess.run([CLCONV, "--help"], capture_output=True, text=True)
    check("--resize-filter" in p.stdout and "lanczos" in p.stdout,
          "--help does not list --resize-filter and its filters")


check_usage()
check_cpu()
check_tutorial()
check_device()
shutil.rmtree(WORK, ignore_errors=True)
check.finish()
