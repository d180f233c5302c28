#!/usr/bin/python3
"""test_depth.py CLCONV — output depth, --scale/--offset and clipped counts
(DESIGN.md §6, issue 13, gray mode).

Checked against Pillow and numpy, on the CPU path and on the default device
(--device auto: the first OpenCL device when there is one):
- 16-bit PNG and PGM in, identity, --depth auto: the same samples out, bit
  for bit, in a 16-bit file (PNG bit depth 16 gray; PGM P5 maxval 65535);
  a 12-bit camera frame survives; 8-bit PGM out.
- --depth 8 of a 16-bit input is clamped and the clipped pixels counted;
  --depth 16 of an 8-bit input keeps the values (never rescaled);
  --map normalize --depth 16 spans 0..65535.
- --scale S --offset O: clip(round_half_even(float32(S*v + O))) with v the
  numpy correlation; .npy gets float32(S*v + O); --verify compares raw.
- usage errors (exit 2, one line naming the format) for depths a format
  cannot hold and for non-finite --scale/--offset.
- "clipped" per image and in total in --json equals numpy's count; the
  stderr summary of a batch, and a one-image run's own line, say it.
- clconv's read of 16-bit gray, RGB and RGBA PNGs (written by OpenCV and by
  Pillow) equals cv2.imread(IMREAD_UNCHANGED) (BGR(A) reordered) and, for
  gray, Pillow's I;16; gray mode's luma of 16-bit RGB is Pillow's formula
  in 64-bit integers on OpenCV's samples.
"""
import ctypes
import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import testenv

CLCONV, SEED = testenv.start("test_depth.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402

rng = np.random.default_rng(SEED)
WORK = tempfile.mkdtemp(prefix="clconv-depth-")
check = testenv.Checks("test_depth.py")

SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float64)
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float64)


def path(name):
    return os.path.join(WORK, name)


def run(*args, device="cpu", quiet=True):
    cmd = [CLCONV] + (["-q"] if quiet else []) + ["--device", device] + \
        [str(a) for a in args]
    return cmd, subprocess.run(cmd, capture_output=True, text=True)


def ok(what, *args, device="cpu", quiet=True):
    cmd, p = run(*args, device=device, quiet=quiet)
    check(p.returncode == 0, f"{what} [{device}]: exit {p.returncode}\n  cmd: "
          f"{' '.join(cmd)}\n  stderr: {p.stderr.strip()}")
    return p if p.returncode == 0 else None


def correlate(img, k):
    """The seed's correlation, 'same' padding with zeros, in double."""
    kh, kw = k.shape
    pad = np.pad(img.astype(np.float64), ((kh // 2, kh - 1 - kh // 2),
                                          (kw // 2, kw - 1 - kw // 2)))
    out = np.zeros(img.shape, np.float64)
    for i in range(kh):
        for j in range(kw):
            out += k[i, j] * pad[i:i + img.shape[0], j:j + img.shape[1]]
    return out.astype(np.float32)


def mapped(v, bits):
    """clamp: round half to even, clip to 0..2^bits-1; and the clipped count."""
    r = np.rint(np.asarray(v, np.float64))
    hi = 2 ** bits - 1
    return np.clip(r, 0, hi), int(np.count_nonzero((r < 0) | (r > hi)))


def png_header(p):
    """(bit depth, colour type) of a PNG's IHDR."""
    with open(p, "rb") as f:
        b = f.read(33)
    if b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
        return None
    return b[24], b[25]


def write_pgm16(p, a):
    with open(p, "wb") as f:
        f.write(b"P5\n%d %d\n65535\n" % (a.shape[1], a.shape[0]))
        f.write(a.astype(">u2").tobytes())


def read_pgm(p):
    """A raw PGM as (maxval, array), parsed here, not by Pillow."""
    with open(p, "rb") as f:
        b = f.read()
    m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", b)
    if not m:
        return None, None
    w, h, maxval = (int(x) for x in m.groups())
    dt = ">u2" if maxval > 255 else "u1"
    a = np.frombuffer(b[m.end():], dt)
    if a.size != w * h:
        return maxval, None
    return maxval, a.reshape(h, w).astype(np.int64)


def load16(p):
    """A 16-bit PNG through Pillow as the numbers it stores."""
    im = Image.open(p)
    return np.array(im).astype(np.int64), im.mode


def same(a, b):
    return a is not None and b is not None and a.shape == b.shape and \
        bool(np.array_equal(a, b))


def json_of(p):
    try:
        return json.loads(p.stdout)
    except (ValueError, AttributeError):
        return None


def size():
    return int(rng.integers(5, 60)), int(rng.integers(5, 60))


# ------------------------------------------------------------ round trips

def round_trips(dev):
    w, h = size()
    a = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    a[0, 0], a[-1, -1] = 0, 65535
    Image.fromarray(a).save(path("in16.png"))
    write_pgm16(path("in16.pgm"), a)
    for src in ("in16.png", "in16.pgm"):
        for dst in ("o16.png", "o16.pgm", "o16.pnm"):
            out = path(f"{dev}-{src}-{dst}")
            if not ok(f"{src} -> {dst}", "-f", "identity", path(src), "-o", out,
                      device=dev):
                continue
            if dst.endswith(".png"):
                check(png_header(out) == (16, 0), f"{src} -> {dst} [{dev}]: "
                      f"IHDR {png_header(out)}, want 16-bit gray")
                got, mode = load16(out)
                check(mode.startswith("I"), f"{dst}: Pillow mode {mode}")
            else:
                maxval, got = read_pgm(out)
                check(maxval == 65535, f"{src} -> {dst} [{dev}]: maxval {maxval}")
            check(same(got, a.astype(np.int64)), f"{src} -> {dst} [{dev}]: "
                  "samples differ from the input's (16-bit round trip)")
    # Big enough for several IDAT chunks (random samples do not deflate).
    big = rng.integers(0, 65536, (251, 317), dtype=np.uint16)
    Image.fromarray(big).save(path("big16.png"))
    out = path(f"{dev}-big.png")
    if ok("big 16-bit", "-f", "identity", path("big16.png"), "-o", out, device=dev):
        with open(out, "rb") as f:
            nidat = f.read().count(b"IDAT")
        check(nidat > 1 and same(load16(out)[0], big.astype(np.int64)),
              f"big 16-bit PNG [{dev}]: {nidat} IDAT chunks or samples differ")
    # A 12-bit camera frame in a 16-bit PNG keeps its numbers.
    cam = rng.integers(0, 4096, (h, w), dtype=np.uint16)
    cam[0, 0] = 4095
    Image.fromarray(cam).save(path("cam12.png"))
    out = path(f"{dev}-cam.png")
    if ok("12-bit frame", "-f", "identity", path("cam12.png"), "-o", out, device=dev):
        got, _ = load16(out)
        check(same(got, cam.astype(np.int64)), f"12-bit frame [{dev}]: values lost")
        check(png_header(out) == (16, 0), f"12-bit frame [{dev}]: not a 16-bit PNG")
    # 8-bit in, 8-bit PGM (and .pnm) out.
    b = rng.integers(0, 256, (h, w), dtype=np.uint8)
    Image.fromarray(b).save(path("in8.png"))
    for dst in ("o8.pgm", "o8.pnm"):
        out = path(f"{dev}-{dst}")
        if ok(f"8-bit -> {dst}", "-f", "identity", path("in8.png"), "-o", out,
              device=dev):
            maxval, got = read_pgm(out)
            check(maxval == 255 and same(got, b.astype(np.int64)),
                  f"8-bit -> {dst} [{dev}]: maxval {maxval} or samples differ")
            check(same(np.array(Image.open(out)).astype(np.int64), b.astype(np.int64)),
                  f"8-bit -> {dst} [{dev}]: Pillow reads other values")


# ------------------------------------------------------------ depth changes

def depth_changes(dev):
    w, h = size()
    a = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    Image.fromarray(a).save(path("d16.png"))
    # --depth 8 of a 16-bit input: clamped, counted.
    out = path(f"{dev}-d8.png")
    p = ok("--depth 8 of 16-bit", "-f", "identity", "--depth", "8", "--json",
           path("d16.png"), "-o", out, device=dev)
    if p:
        want, nclip = mapped(a, 8)
        im = Image.open(out)
        check(im.mode == "L" and same(np.array(im).astype(np.int64), want.astype(np.int64)),
              f"--depth 8 of 16-bit [{dev}]: not clip(v, 0, 255) in an 8-bit PNG")
        j = json_of(p)
        got = j and j["images"][0].get("clipped")
        check(got == nclip, f"--depth 8 of 16-bit [{dev}]: json clipped {got}, "
              f"numpy {nclip}")
        check(j and j.get("clipped") == nclip, f"--depth 8 [{dev}]: total clipped")
    # --depth auto into an 8-bit-only format: the nearest (8), clamped.
    out = path(f"{dev}-d16.bmp")
    if ok("16-bit -> bmp", "-f", "identity", path("d16.png"), "-o", out, device=dev):
        check(same(np.array(Image.open(out).convert("L")).astype(np.int64),
                   mapped(a, 8)[0].astype(np.int64)),
              f"16-bit -> .bmp auto [{dev}]: not clamped to 8 bits")
    # --depth 16 of an 8-bit input: values kept, not rescaled.
    b = rng.integers(0, 256, (h, w), dtype=np.uint8)
    Image.fromarray(b).save(path("d8.png"))
    out = path(f"{dev}-up16.png")
    if ok("--depth 16 of 8-bit", "-f", "identity", "--depth", "16", path("d8.png"),
          "-o", out, device=dev):
        got, _ = load16(out)
        check(png_header(out) == (16, 0) and same(got, b.astype(np.int64)),
              f"--depth 16 of 8-bit [{dev}]: values not kept as they are")
    # Sharpen at 16 bits: negatives clipped to 0, counted; the rest exact.
    ref = correlate(b, SHARPEN)
    out = path(f"{dev}-sharp16.pgm")
    p = ok("sharpen --depth 16", "-f", "sharpen", "--depth", "16", "--json",
           path("d8.png"), "-o", out, device=dev)
    if p:
        want, nclip = mapped(ref, 16)
        maxval, got = read_pgm(out)
        check(maxval == 65535 and same(got, want.astype(np.int64)),
              f"sharpen --depth 16 .pgm [{dev}]: differs from numpy")
        j = json_of(p)
        check(j and j["images"][0].get("clipped") == nclip,
              f"sharpen --depth 16 [{dev}]: clipped {j and j['images'][0].get('clipped')}"
              f", numpy {nclip}")
    # normalize onto the full 16-bit range.
    out = path(f"{dev}-norm16.png")
    if ok("normalize 16", "-f", "sobel-left", "--map", "normalize", "--depth", "16",
          path("d8.png"), "-o", out, device=dev):
        v = correlate(b, SOBEL).astype(np.float64)
        lo, hi = v.min(), v.max()
        want = np.rint((v - lo) * (65535.0 / (hi - lo))) if hi > lo else np.zeros_like(v)
        got, _ = load16(out)
        check(same(got, want.astype(np.int64)), f"normalize --depth 16 [{dev}]: "
              "differs from numpy's min..max -> 0..65535")
    # A float input keeps its float in .npy and takes 8 bits in a PNG.
    f32 = (rng.standard_normal((h, w)) * 200).astype(np.float32)
    np.save(path("f.npy"), f32)
    out = path(f"{dev}-f.png")
    p = ok("float -> png", "-f", "identity", "--json", path("f.npy"), "-o", out,
           device=dev)
    if p:
        want, nclip = mapped(f32, 8)
        check(Image.open(out).mode == "L" and
              same(np.array(Image.open(out)).astype(np.int64), want.astype(np.int64)),
              f"float .npy -> png [{dev}]: not clamped to 8 bits")
        j = json_of(p)
        check(j and j["images"][0].get("clipped") == nclip and
              j["images"][0].get("in_depth") == "float" and
              j["images"][0].get("out_depth") == 8,
              f"float .npy -> png [{dev}]: json {j and j['images'][0]}")


# ------------------------------------------------------------ scale, offset

def scale_offset(dev):
    w, h = size()
    b = rng.integers(0, 256, (h, w), dtype=np.uint8)
    Image.fromarray(b).save(path("s8.png"))
    v = correlate(b, SOBEL)
    cases = [(1.0, 128.0), (0.5, 128.0), (-1.5, 3.25),
             (float(rng.uniform(-3, 3)), float(rng.uniform(-200, 200)))]
    for s, o in cases:
        t = np.float32(s * v.astype(np.float64) + o)
        for depth, ext in ((8, "png"), (16, "pgm")):
            out = path(f"{dev}-so-{s}-{o}.{depth}.{ext}")
            p = ok(f"--scale {s} --offset {o}", "-f", "sobel-left", "--scale", repr(s),
                   "--offset", repr(o), "--depth", str(depth), "--json",
                   path("s8.png"), "-o", out, device=dev)
            if not p:
                continue
            want, nclip = mapped(t, depth)
            got = (np.array(Image.open(out)).astype(np.int64) if ext == "png"
                   else read_pgm(out)[1])
            check(same(got, want.astype(np.int64)), f"--scale {s} --offset {o} "
                  f"--depth {depth} [{dev}]: differs from clip(rint(S*v+O))")
            j = json_of(p)
            check(j and j["images"][0].get("clipped") == nclip,
                  f"--scale {s} --offset {o} [{dev}]: clipped "
                  f"{j and j['images'][0].get('clipped')}, numpy {nclip}")
        out = path(f"{dev}-so-{s}-{o}.npy")
        if ok("--scale into .npy", "-f", "sobel-left", "--scale", repr(s), "--offset",
              repr(o), path("s8.png"), "-o", out, device=dev):
            check(same(np.load(out), t), f"--scale {s} --offset {o} .npy [{dev}]: "
                  "not float32(S*v+O)")
    # --verify compares the raw results: a scale does not make a mismatch.
    ok("--verify with --scale", "-f", "sobel-left", "--scale", "3", "--offset", "128",
       "--verify", path("s8.png"), "-o", path(f"{dev}-ver.png"), device=dev)
    # --offset 128 makes Sobel's negative half visible: fewer pixels at 0.
    plain, off = path(f"{dev}-plain.png"), path(f"{dev}-off.png")
    if ok("sobel plain", "-f", "sobel-left", path("s8.png"), "-o", plain, device=dev) \
            and ok("sobel --offset 128", "-f", "sobel-left", "--offset", "128",
                   path("s8.png"), "-o", off, device=dev):
        check(same(np.array(Image.open(off)).astype(np.int64),
                   mapped(v.astype(np.float64) + 128, 8)[0].astype(np.int64)),
              f"--offset 128 [{dev}]: not clip(rint(v + 128))")


# ------------------------------------------------------------ totals, stderr

def totals(dev):
    imgs, want_total = [], 0
    os.makedirs(path(f"{dev}-batch-in"), exist_ok=True)
    for i in range(3):
        w, h = size()
        b = rng.integers(0, 256, (h, w), dtype=np.uint8)
        name = path(f"{dev}-batch-in/b{i}.png")
        Image.fromarray(b).save(name)
        n = mapped(correlate(b, SHARPEN), 8)[1]
        imgs.append((name, n))
        want_total += n
    outdir = path(f"{dev}-batch-out") + "/"
    p = ok("batch --json", "-f", "sharpen", "--json", *[n for n, _ in imgs], "-o",
           outdir, device=dev)
    j = json_of(p) if p else None
    if j:
        per = {os.path.basename(r["input"]): r.get("clipped") for r in j["images"]}
        for name, n in imgs:
            check(per.get(os.path.basename(name)) == n, f"batch [{dev}]: "
                  f"{os.path.basename(name)} clipped {per.get(os.path.basename(name))}, "
                  f"numpy {n}")
        check(j.get("clipped") == want_total, f"batch [{dev}]: total clipped "
              f"{j.get('clipped')}, numpy {want_total}")
    shutil.rmtree(outdir, ignore_errors=True)
    cmd, p = run("-f", "sharpen", *[n for n, _ in imgs], "-o", outdir, device=dev,
                 quiet=False)
    summary = [l for l in p.stderr.splitlines() if re.match(r"clconv: 3 done", l)]
    check(p.returncode == 0 and len(summary) == 1 and
          f", {want_total} pixels clipped (" in summary[0],
          f"stderr summary [{dev}]: no '{want_total} pixels clipped': {p.stderr!r}")
    # One image: its own line says it.
    name, n = imgs[0]
    cmd, p = run("-f", "sharpen", name, "-o", path(f"{dev}-one.png"), device=dev,
                 quiet=False)
    check(p.returncode == 0 and any(
        l.startswith("clconv: ") and name in l and f": {n} pixel" in l and "clipped" in l
        for l in p.stderr.splitlines()) or n == 0,
        f"stderr [{dev}]: no clipped line for the one image {name}: {p.stderr!r}")
    cmd, p = run("-f", "identity", name, "-o", path(f"{dev}-none.png"), device=dev,
                 quiet=False)
    check("clipped" not in p.stderr, f"stderr [{dev}]: clipped said with none: "
          f"{p.stderr!r}")


# ------------------------------------------------------------ usage errors

def usage_errors():
    b = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    Image.fromarray(b).save(path("u8.png"))
    bad = [(["--depth", "16"], "u.jpg", "JPEG"), (["--depth", "16"], "u.bmp", "BMP"),
           (["--depth", "16"], "u.tga", "TGA"), (["--depth", "float"], "u.png", "PNG"),
           (["--depth", "float"], "u.pgm", "PNM"), (["--depth", "8"], "u.npy", "NPY"),
           (["--depth", "16"], "u.npy", "NPY"), (["--depth", "12"], "u.png", "12"),
           (["--depth", ""], "u.png", "--depth"),
           (["--scale", "nan"], "u.png", "nan"), (["--scale", "inf"], "u.png", "inf"),
           (["--scale", "2x"], "u.png", "2x"), (["--offset", "1e999"], "u.png", "1e999"),
           (["--offset", ""], "u.png", "--offset"), (["--scale", "-inf"], "u.png", "-inf")]
    for opts, out, name in bad:
        cmd, p = run("-f", "identity", *opts, path("u8.png"), "-o", path(out))
        errs = [l for l in p.stderr.splitlines()
                if not l.startswith(("Usage: clconv", "Try 'clconv --help'"))]
        check(p.returncode == 2, f"{opts} {out}: exit {p.returncode}, want 2")
        check(len(errs) == 1 and errs[0].startswith("clconv: ") and name in errs[0],
              f"{opts} {out}: want one error line naming {name!r}: {p.stderr!r}")
        check(not os.path.exists(path(out)), f"{opts} {out}: an output was written")
    # A directory output checks --format's format.
    cmd, p = run("-f", "identity", "--depth", "16", "--format", "jpg", path("u8.png"),
                 path("u8.png"), "-o", path("udir") + "/")
    check(p.returncode == 2 and "JPEG" in p.stderr, f"--depth 16 --format jpg: "
          f"exit {p.returncode}: {p.stderr!r}")
    # .pbm and .ppm are read, never written (a PGM under their name would lie).
    for ext in ("ppm", "pbm"):
        cmd, p = run("-f", "identity", path("u8.png"), "-o", path(f"u.{ext}"))
        check(p.returncode == 2 and not os.path.exists(path(f"u.{ext}")),
              f".{ext} output: exit {p.returncode}, want 2")


# ------------------------------------------------------------ the library API

class Plane(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int),
                ("data", ctypes.POINTER(ctypes.c_float))]


def library_api():
    """clconv_plane_to_u16, clconv_image_save_depth, clconv_format_depth and
    clconv_image_load_depth through libclconv.so next to the binary (the
    build directory's); skipped where there is none (an installed binary)."""
    libs = sorted(glob.glob(os.path.join(os.path.dirname(CLCONV), "libclconv.so*")))
    if not libs:
        print("no libclconv.so next to the binary: library checks skipped")
        return
    lib = ctypes.CDLL(libs[0])
    check(all(hasattr(lib, f) for f in ("clconv_plane_to_u16", "clconv_image_save_depth",
                                        "clconv_format_depth", "clconv_image_load_depth")),
          "libclconv.so lacks the depth functions")
    if not hasattr(lib, "clconv_image_save_depth"):
        return
    v = np.concatenate([rng.uniform(-3e5, 3e5, 200), [0.5, 1.5, 2.5, -0.5, -0.6,
                        65534.5, 65535.4, 65535.6, np.inf, -np.inf, np.nan]])
    v = v.astype(np.float32).reshape(1, -1)
    pl = Plane(v.shape[1], 1, v.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
    out = np.zeros(v.shape, np.uint16)
    nans, clipped = ctypes.c_longlong(-1), ctypes.c_longlong(-1)
    lib.clconv_plane_to_u16(ctypes.byref(pl), 0, out.ctypes.data_as(
        ctypes.POINTER(ctypes.c_uint16)), ctypes.byref(nans), ctypes.byref(clipped))
    fin = np.nan_to_num(v.astype(np.float64), nan=0.0)
    want, nclip = mapped(fin, 16)
    check(same(out.astype(np.int64), want.astype(np.int64)),
          "clconv_plane_to_u16: not rint + clip to 0..65535")
    check(nans.value == 1 and clipped.value == nclip,
          f"clconv_plane_to_u16: nan {nans.value}, clipped {clipped.value} (numpy {nclip})")
    err = ctypes.create_string_buffer(4096)
    for name, depth, st in (("lib.png", 16, 0), ("lib.pgm", 16, 0), ("lib.jpg", 16, 1),
                            ("lib.npy", 8, 1), ("lib.png", 32, 1)):
        clipped.value = -1
        r = lib.clconv_image_save_depth(path(name).encode(), ctypes.byref(pl), 0, depth,
                                        95, None, ctypes.byref(clipped), err)
        check(r == st, f"clconv_image_save_depth {name} --depth {depth}: status {r}, "
              f"want {st}: {err.value!r}")
        if st:
            check(b"cannot hold" in err.value, f"save_depth {name}: {err.value!r}")
            continue
        got = load16(path(name))[0] if name.endswith(".png") else read_pgm(path(name))[1]
        check(same(got, want.astype(np.int64)) and clipped.value == nclip,
              f"clconv_image_save_depth {name}: samples or clipped {clipped.value}")
    check(lib.clconv_format_depth(b"x.png", 0, 16) == 16 and
          lib.clconv_format_depth(b"x.jpg", 0, 16) == 8 and
          lib.clconv_format_depth(b"x.jpg", 16, 8) == 0 and
          lib.clconv_format_depth(b"x.npy", 0, 16) == 32 and
          lib.clconv_format_depth(b"x.pgm", 0, 32) == 8,
          "clconv_format_depth: auto or a refused depth resolved wrongly")
    a = rng.integers(0, 65536, (7, 9), dtype=np.uint16)
    Image.fromarray(a).save(path("lib16.png"))
    for src, want_depth in (("lib16.png", 16), ("lib.pgm", 16), ("u8.png", 8),
                            ("f.npy", 32)):
        fp, depth = Plane(), ctypes.c_int(-1)
        r = lib.clconv_image_load_depth(path(src).encode(), ctypes.c_longlong(0), None,
                                        ctypes.byref(fp), ctypes.byref(depth), err)
        check(r == 0 and depth.value == want_depth and fp.width > 0,
              f"clconv_image_load_depth {src}: status {r}, depth {depth.value}")
        if r == 0:
            lib.clconv_plane_free(ctypes.byref(fp))


def devices():
    devs = ["cpu"]
    p = subprocess.run([CLCONV, "--list-devices"], capture_output=True, text=True)
    if p.returncode == 0 and re.search(r"^opencl:\d+:\d+", p.stdout, re.M):
        devs.append("auto")
    else:
        print("no OpenCL device: the default device is the CPU path")
    return devs


# ------------------------------------------------------------ OpenCV's reading

def opencv_reads(dev):
    """16-bit PNG samples as cv2.imread(IMREAD_UNCHANGED) has them."""
    try:
        import cv2
    except ImportError:
        print("no cv2: the OpenCV comparison is not checked")
        return
    w, h = size()
    g = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    g[0, 0], g[-1, -1] = 0, 65535
    cv2.imwrite(path("cv-g16.png"), g)
    Image.fromarray(g).save(path("pil-g16.png"))
    for name in ("cv-g16.png", "pil-g16.png"):
        want = cv2.imread(path(name), cv2.IMREAD_UNCHANGED)
        pil = np.array(Image.open(path(name)))
        # Pillow 9 opens a 16-bit gray PNG as "I" (its I;16 samples widened)
        check(want.dtype == np.uint16 and Image.open(path(name)).mode.startswith("I") and
              np.array_equal(want, pil), f"{name}: OpenCV and Pillow's I;16 agree")
        out = path(f"{dev}-{name}.npy")
        if ok(f"{name} read", "-f", "identity", path(name), "-o", out, device=dev):
            got = np.load(out)
            check(same(got, want.astype(np.float32)) and same(got, pil.astype(np.float32)),
                  f"16-bit gray PNG {name} [{dev}]: clconv's samples differ from "
                  "cv2.IMREAD_UNCHANGED's / Pillow's I;16")
    for ch in (3, 4):
        rgb = rng.integers(0, 65536, (h, w, ch), dtype=np.uint16)
        rgb[0, 0] = 65535
        # OpenCV holds BGR(A): what it writes as RGB(A) is the reverse.
        cv2.imwrite(path(f"cv-c{ch}.png"), rgb[..., [2, 1, 0, 3][:ch]])
        back = cv2.imread(path(f"cv-c{ch}.png"), cv2.IMREAD_UNCHANGED)
        want = back[..., [2, 1, 0, 3][:ch]]
        check(back.dtype == np.uint16 and np.array_equal(want, rgb),
              f"OpenCV's 16-bit {ch}-channel PNG round trip")
        out = path(f"{dev}-cv-c{ch}.npy")
        if ok(f"16-bit {ch}-channel PNG --color", "--color", "--alpha", "filter", "-f",
              "identity", path(f"cv-c{ch}.png"), "-o", out, device=dev):
            check(same(np.load(out), want.astype(np.float32)),
                  f"16-bit {ch}-channel PNG --color [{dev}]: clconv's channels differ "
                  "from cv2.IMREAD_UNCHANGED's (BGR reordered)")
        out = path(f"{dev}-cv-c{ch}-gray.npy")
        if ok(f"16-bit {ch}-channel PNG gray", "-f", "identity", path(f"cv-c{ch}.png"),
              "-o", out, device=dev):
            a = want.astype(np.int64)
            luma = (19595 * a[..., 0] + 38470 * a[..., 1] + 7471 * a[..., 2] + 32768) >> 16
            check(same(np.load(out), luma.astype(np.float32)),
                  f"16-bit {ch}-channel PNG gray mode [{dev}]: not Pillow's luma of "
                  "OpenCV's samples")


try:
    usage_errors()
    for d in devices():
        round_trips(d)
        depth_changes(d)
        scale_offset(d)
        totals(d)
        opencv_reads(d)
    library_api()
finally:
    shutil.rmtree(WORK, ignore_errors=True)
check.finish()
