#!/usr/bin/python3
"""test_formats.py CLCONV — input decoding and grayscale (DESIGN.md §2
"Grayscale"), output formats, --map and --resize.

Every lossless input format must give exactly Pillow's convert('L'); a JPEG
is compared within a measured bound (stb's decoder is not libjpeg). The --map
modes are checked on PNG output against numpy applied to the .npy result of
the same options. The seed is printed; CLCONV_TEST_SEED repeats a run.
"""
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import testenv

CLCONV, SEED = testenv.start("test_formats.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402
rng = np.random.default_rng(SEED)
WORK = tempfile.mkdtemp(prefix="clconv-fmt-")
FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL " + msg, flush=True)


# The luma checks run on the CPU path (images decoded to floats) and, when
# an OpenCL device exists, again on it (8-bit images decoded to bytes and
# sent up as bytes): both decoders must give Pillow's values.
DEVICE = "cpu"


def clconv(*args, env=None):
    cmd = [CLCONV, "-q", "--device", DEVICE] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(os.environ, **env) if env else None)
    return cmd, p


def run_ok(what, *args, env=None):
    cmd, p = clconv(*args, env=env)
    if p.returncode != 0:
        fail(f"{what}: exit {p.returncode}\n  cmd: {' '.join(cmd)}\n"
             f"  stderr: {p.stderr.strip()}")
        return False
    return True


def first_diff(a, b):
    ys, xs = np.nonzero(a != b)
    y, x = int(ys[0]), int(xs[0])
    return (f"first difference at (x={x}, y={y}): expected {b[y, x]!r}, got "
            f"{a[y, x]!r}; {len(ys)} of {a.size} differ")


def rand_rgb(h, w):
    """Noise on top of gradients, so both smooth and sharp areas occur."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(yy * 9 + xx * 3) % 256, (xx * 11) % 256,
                     (yy * 5 + xx * 7) % 256], axis=-1)
    noise = rng.integers(-40, 41, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def identity_npy(path, name, env=None):
    """Runs -f identity to .npy; returns the float32 array or None."""
    out = os.path.join(WORK, name + ".npy")
    if not run_ok(f"{name}: decode {path}", "-f", "identity", path, "-o", out,
                  env=env):
        return None
    a = np.load(out)
    if a.dtype != np.float32 or a.ndim != 2:
        fail(f"{name}: .npy output is {a.dtype} {a.shape}, expected float32 2-D")
        return None
    return a


# ------------------------------------------------------------------ inputs

def make_inputs():
    """(name, path) of lossless images in every colour type Pillow writes."""
    h, w = int(rng.integers(17, 40)), int(rng.integers(17, 40))
    rgb = rand_rgb(h, w)
    alpha = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    L = Image.fromarray(rgb, "RGB").convert("L")
    RGB = Image.fromarray(rgb, "RGB")
    RGBA = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    LA = Image.merge("LA", (L, Image.fromarray(alpha, "L")))
    P = RGB.quantize(colors=int(rng.integers(16, 200)))
    one = L.point(lambda v: 255 if v > 127 else 0).convert("1")
    Ptr = P.copy()
    Ptr.info["transparency"] = int(rng.integers(0, 16))
    items = []

    def save(name, img, ext, **kw):
        path = os.path.join(WORK, f"in_{name}.{ext}")
        img.save(path, **kw)
        items.append((name, path))

    save("png_L", L, "png")
    save("png_LA", LA, "png")
    save("png_RGB", RGB, "png")
    save("png_RGBA", RGBA, "png")
    save("png_P", P, "png")
    save("png_P_trns", Ptr, "png", transparency=Ptr.info["transparency"])
    save("png_1bit", one, "png")
    save("png_L_interlaced", L, "png", optimize=False)
    save("bmp_RGB", RGB, "bmp")
    save("bmp_L", L, "bmp")
    save("bmp_P", P, "bmp")
    save("bmp_1bit", one, "bmp")
    save("tga_L", L, "tga")
    save("tga_RGB", RGB, "tga")
    save("tga_RGBA", RGBA, "tga")
    save("tga_RGB_rle", RGB, "tga", compression="tga_rle")
    save("pgm", L, "pgm")
    save("ppm", RGB, "ppm")
    # GIF: an animation of two frames; only the first counts.
    frame2 = Image.fromarray(255 - rgb, "RGB").quantize(colors=64)
    path = os.path.join(WORK, "in_gif_anim.gif")
    P.save(path, save_all=True, append_images=[frame2], duration=100, loop=0)
    items.append(("gif_anim", path))
    save("gif_L", L, "gif")
    return items


def check_lossless_inputs():
    for name, path in make_inputs():
        with Image.open(path) as im:
            im.seek(0)
            want = np.asarray(im.convert("L")).astype(np.float32)
            mode = im.mode
        got = identity_npy(path, name)
        if got is None:
            continue
        if got.shape != want.shape:
            fail(f"{name} ({mode}): shape {got.shape}, Pillow {want.shape}")
        elif not np.array_equal(got, want):
            fail(f"{name} ({mode}) {path}: gray differs from Pillow convert('L'): "
                 + first_diff(got, want))


def check_jpeg_inputs():
    # clconv decodes JPEG with libjpeg-turbo and libjpeg's default settings
    # (islow IDCT, fancy upsampling), as Pillow does, so the luma must be
    # Pillow's to the bit: baseline 4:4:4, 4:2:2, 4:2:0, progressive, gray.
    for name, mode, kw in (("jpg_RGB", "RGB", dict(quality=90)),
                           ("jpg_RGB_q75_420", "RGB", dict(quality=75, subsampling=2)),
                           ("jpg_RGB_422", "RGB", dict(quality=85, subsampling=1)),
                           ("jpg_RGB_444", "RGB", dict(quality=95, subsampling=0)),
                           ("jpg_RGB_prog", "RGB", dict(quality=80, progressive=True)),
                           ("jpg_L", "L", dict(quality=95))):
        h, w = int(rng.integers(20, 64)), int(rng.integers(20, 64))
        img = Image.fromarray(rand_rgb(h, w), "RGB")
        if mode == "L":
            img = img.convert("L")
        path = os.path.join(WORK, f"in_{name}.jpg")
        img.save(path, **kw)
        want = np.asarray(Image.open(path).convert("L")).astype(np.float32)
        got = identity_npy(path, name)
        if got is None:
            continue
        if got.shape != want.shape or not np.array_equal(got, want):
            fail(f"{name}: JPEG luma differs from Pillow's: "
                 + (first_diff(got, want) if got.shape == want.shape
                    else f"shape {got.shape} vs {want.shape}"))


def check_npy_inputs():
    h, w = int(rng.integers(5, 30)), int(rng.integers(5, 30))
    f32 = (rng.standard_normal((h, w)) * 1000).astype(np.float32)
    f32[0, 0] = 1e-30   # a tiny value
    f32[-1, -1] = -3.4e38 / 1e10
    cases = [("npy_f32", f32, f32),
             ("npy_f64", rng.standard_normal((h, w)) * 77.7, None),
             ("npy_u8", rng.integers(0, 256, size=(h, w), dtype=np.uint8), None)]
    for name, arr, want in cases:
        if want is None:
            want = arr.astype(np.float32)
        path = os.path.join(WORK, f"in_{name}.npy")
        np.save(path, arr)
        got = identity_npy(path, name)
        if got is None:
            continue
        if got.shape != want.shape or not np.array_equal(got, want):
            fail(f"{name}: identity did not pass the array through exactly: "
                 + (first_diff(got, want) if got.shape == want.shape
                    else f"shape {got.shape} vs {want.shape}"))
    # A Fortran-order array: read correctly or refused, never transposed.
    arr = np.asfortranarray(f32)
    path = os.path.join(WORK, "in_npy_fortran.npy")
    np.save(path, arr)
    out = os.path.join(WORK, "npy_fortran.npy")
    cmd, p = clconv("-f", "identity", path, "-o", out)
    if p.returncode == 0:
        got = np.load(out)
        if got.shape != f32.shape or not np.array_equal(got, f32):
            fail(f"npy_fortran: a Fortran-order .npy was accepted but read "
                 f"wrongly (shape {got.shape}, want {f32.shape})\n  cmd: "
                 + " ".join(cmd))
    elif p.returncode != 1 or not p.stderr.startswith("clconv: "):
        fail(f"npy_fortran: exit {p.returncode}, stderr {p.stderr!r}")


# ------------------------------------------------------------------ outputs

def map_clamp(v):
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def map_normalize(v):
    """(v - min) / (max - min) * 255, rounded; returns (u8, near-tie mask)."""
    v = v.astype(np.float64)
    lo, hi = v.min(), v.max()
    if hi <= lo:
        return np.zeros(v.shape, np.uint8), np.zeros(v.shape, bool)
    t = (v - lo) / (hi - lo) * 255.0
    tie = np.abs(t - np.floor(t) - 0.5) < 1e-9
    return np.clip(np.rint(t), 0, 255).astype(np.uint8), tie


def run_pair(name, spec, path, fmt="png", extra=()):
    """The .npy result and the 8-bit output of the same options."""
    npy = os.path.join(WORK, f"{name}.npy")
    out = os.path.join(WORK, f"{name}.{fmt}")
    if not run_ok(f"{name} npy", "-f", spec, *extra, path, "-o", npy):
        return None, None
    if not run_ok(f"{name} {fmt}", "-f", spec, *extra, path, "-o", out):
        return None, None
    with Image.open(out) as im:
        im.load()
        raw = np.load(npy)
        if im.size != (raw.shape[1], raw.shape[0]):
            fail(f"{name}: {fmt} is {im.size}, the .npy {raw.shape[::-1]}")
            return None, None
        if im.mode != "L":
            fail(f"{name}: {out} reads in Pillow as mode {im.mode}, expected "
                 f"an 8-bit gray image (mode L)")
            if im.mode == "RGB":  # still check the values: R = G = B?
                a = np.asarray(im).astype(int)
                if (a.max(axis=2) - a.min(axis=2)).max() > (8 if fmt == "jpg" else 0):
                    fail(f"{name}: {out} is not even gray: channels differ")
            im = im.convert("L")
        return raw, np.asarray(im)


def check_outputs():
    h, w = int(rng.integers(20, 50)), int(rng.integers(20, 50))
    src = os.path.join(WORK, "src.png")
    noise = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    Image.fromarray(noise, "RGB").save(src)
    # Values below 0, above 255 and on .5 ties (odd centre * 2.5).
    spec = "0,-1,0;-1,2.5,-1;0,-1,0"

    # .npy: float32 (H, W), C order.
    raw = np.load(os.path.join(WORK, "o_npy.npy")) if run_ok(
        "npy out", "-f", spec, src, "-o", os.path.join(WORK, "o_npy.npy")) else None
    if raw is not None:
        hdr = open(os.path.join(WORK, "o_npy.npy"), "rb").read(128)
        if raw.dtype != np.dtype("<f4") or raw.shape != (h, w) or b"'fortran_order': False" not in hdr:
            fail(f"npy out: {raw.dtype} {raw.shape} (header {hdr[:80]!r}), "
                 f"expected <f4 ({h}, {w}) C order")
        ties = np.abs(raw - np.floor(raw) - 0.5) == 0
        if not ties.any() or not (raw < 0).any() or not (raw > 255).any():
            print("note: the random image gave no tie / negative / >255 value")

    # Lossless 8-bit formats, default map clamp: exact.
    for fmt in ("png", "bmp", "tga"):
        raw, img = run_pair(f"o_{fmt}", spec, src, fmt)
        if raw is None:
            continue
        want = map_clamp(raw)
        if not np.array_equal(img, want):
            fail(f"{fmt} out (clamp): " + first_diff(img, want))

    # JPEG: lossy; quality 95 on this noisy image stays within a few levels.
    raw, img = run_pair("o_jpg", spec, src, "jpg")
    if raw is not None:
        d = np.abs(img.astype(np.float64) - map_clamp(raw))
        print(f"jpg out: mean |diff| {d.mean():.2f}, max {d.max():.0f} (q 95)")
        if d.mean() > 3:
            fail(f"jpg out: mean |diff| {d.mean():.2f} from the clamped result")
    # .jpeg is a JPEG too; --quality changes the file.
    small = os.path.join(WORK, "o_q10.jpeg")
    big = os.path.join(WORK, "o_q100.jpeg")
    if run_ok("jpeg q10", "-f", "identity", "--quality", "10", src, "-o", small) and \
            run_ok("jpeg q100", "-f", "identity", "--quality", "100", src, "-o", big):
        with Image.open(small) as a, Image.open(big) as b:
            if a.format != "JPEG" or a.size != (w, h):
                fail(f".jpeg out: {a.format} {a.mode} {a.size}")
        if not os.path.getsize(small) < os.path.getsize(big):
            fail("--quality 10 did not give a smaller JPEG than --quality 100")

    # --map clamp / abs / normalize on PNG, exact against numpy.
    for mode in ("clamp", "abs", "normalize"):
        raw, img = run_pair(f"map_{mode}", spec, src, "png", ("--map", mode))
        if raw is None:
            continue
        if mode == "clamp":
            want, tie = map_clamp(raw), np.zeros(raw.shape, bool)
        elif mode == "abs":
            want, tie = map_clamp(np.abs(raw)), np.zeros(raw.shape, bool)
        else:
            want, tie = map_normalize(raw)
        bad = (img != want) & ~tie
        if bad.any():
            fail(f"--map {mode}: " + first_diff(np.where(bad, img, want), want)
                 + f" (raw value {raw[np.nonzero(bad)][0]:.9g})")
    # Explicit half-way values: 0.5 * v for v = 0..255 has every tie.
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rp = os.path.join(WORK, "ramp.png")
    Image.fromarray(ramp, "L").save(rp)
    raw, img = run_pair("map_ties", "0.5", rp, "png")
    if raw is not None:
        want = np.clip(np.rint(ramp / 2.0), 0, 255).astype(np.uint8)
        if not np.array_equal(img, want):
            fail("clamp rounding is not half to even: " + first_diff(img, want))
    raw, img = run_pair("map_neg", "-1.5", rp, "png", ("--map", "abs"))
    if raw is not None:
        want = map_clamp(np.abs(ramp * -1.5))
        if not np.array_equal(img, want):
            fail("--map abs on negative values: " + first_diff(img, want))
    # A flat image normalises to 0 everywhere.
    flat = os.path.join(WORK, "flat.png")
    Image.fromarray(np.full((9, 13), 200, np.uint8), "L").save(flat)
    raw, img = run_pair("map_flat", "identity", flat, "png",
                        ("--map", "normalize", "--border", "edge"))
    if raw is not None and (img != 0).any():
        fail(f"--map normalize of a flat image: values {np.unique(img)}, expected all 0")
    # Normalize stretches min..max to exactly 0..255.
    raw, img = run_pair("map_norm_range", "identity", rp, "png",
                        ("--map", "normalize", "--border", "edge"))
    if raw is not None and not np.array_equal(img, ramp):
        fail("--map normalize of a 0..255 ramp is not the ramp: "
             + first_diff(img, ramp))


def check_resize():
    src = os.path.join(WORK, "rs_src.png")
    Image.fromarray(rand_rgb(24, 31), "RGB").save(src)
    const = os.path.join(WORK, "rs_const.png")
    c = int(rng.integers(1, 255))
    Image.fromarray(np.full((20, 26), c, np.uint8), "L").save(const)
    for W, H in ((13, 7), (64, 50), (31, 24), (1, 1), (100, 3), (5, 40)):
        out = os.path.join(WORK, f"rs_{W}x{H}.png")
        if run_ok(f"resize {W}x{H}", "-f", "identity", "--resize", f"{W}x{H}",
                  src, "-o", out):
            with Image.open(out) as im:
                if im.size != (W, H) or im.mode != "L":
                    fail(f"--resize {W}x{H}: output {im.size} mode {im.mode}")
        npy = os.path.join(WORK, f"rsc_{W}x{H}.npy")
        if run_ok(f"resize const {W}x{H}", "-f", "identity", "--border", "edge",
                  "--resize", f"{W}x{H}", const, "-o", npy):
            a = np.load(npy)
            if a.shape != (H, W):
                fail(f"--resize {W}x{H} of a constant image: shape {a.shape}")
            elif np.abs(a - c).max() > 1e-3:
                fail(f"--resize {W}x{H} of a constant {c} image is not constant: "
                     f"min {a.min():.9g} max {a.max():.9g}")
        png = os.path.join(WORK, f"rsc_{W}x{H}.png")
        if run_ok(f"resize const png {W}x{H}", "-f", "identity", "--border",
                  "edge", "--resize", f"{W}x{H}", const, "-o", png):
            a = np.asarray(Image.open(png))
            if a.shape != (H, W) or (a != c).any():
                fail(f"--resize {W}x{H} of a constant {c} image: PNG values "
                     f"{np.unique(a)[:8]}, shape {a.shape}")


# ------------------------------------------------------------------ PNG fast path

# 8-bit non-interlaced gray, RGB, gray+alpha and RGBA PNGs are decoded by
# clconv's own zlib-based path (host/png_fast.c); the rest by stb.
# CLCONV_FAULT=png-stb sends every PNG to stb, so both can be compared.
STB = {"CLCONV_FAULT": "png-stb"}


def png_chunk(t, d):
    return (struct.pack(">I", len(d)) + t + d +
            struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF))


def png_filter(a, bpp, ftypes):
    """Rows of a (h, rowbytes) uint8 array, each filtered with its type."""
    out, prev = [], np.zeros(a.shape[1], np.int32)
    for y in range(a.shape[0]):
        cur = a[y].astype(np.int32)
        left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]])
        ul = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        f = int(ftypes[y])
        if f == 0:
            pred = 0
        elif f == 1:
            pred = left
        elif f == 2:
            pred = prev
        elif f == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - ul
            pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - ul)
            pred = np.where((pa <= pb) & (pa <= pc), left,
                            np.where(pb <= pc, prev, ul))
        out.append(bytes([f]) + ((cur - pred) & 255).astype(np.uint8).tobytes())
        prev = cur
    return b"".join(out)


def png_bytes(px, ctype, ftypes, splits=(), wbits=15, level=6, raw_extra=b"",
              extra_chunks=b"", tail=b""):
    """A PNG of px (h, w[, c]) uint8 written here: filter type per row,
    the zlib stream cut into IDATs of the sizes in `splits` (0 gives an
    empty IDAT; the rest goes in one more), ancillary chunks before IDAT."""
    h, w = px.shape[:2]
    bpp = 1 if px.ndim == 2 else px.shape[2]
    raw = png_filter(px.reshape(h, w * bpp), bpp, ftypes) + raw_extra
    co = zlib.compressobj(level, zlib.DEFLATED, wbits)
    z = co.compress(raw) + co.flush()
    idats, pos = b"", 0
    for n in splits:
        idats += png_chunk(b"IDAT", z[pos:pos + n])
        pos += n
    idats += png_chunk(b"IDAT", z[pos:])
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra_chunks +
            idats + png_chunk(b"IEND", b"") + tail)


def fast_png_cases():
    """(name, bytes) of PNGs the fast path decodes."""
    cases = []
    kinds = ((0, 1, "L"), (2, 3, "RGB"), (4, 2, "LA"), (6, 4, "RGBA"))
    for ctype, c, mode in kinds:
        for w in (1, 2, 3, 31, 257, 1031):
            h = int(rng.integers(5, 12)) if w > 300 else int(rng.integers(5, 24))
            px = rand_rgb(h, w) if c >= 3 else rand_rgb(h, w)[:, :, 0]
            if c == 2:
                px = np.dstack([px, rng.integers(0, 256, (h, w), dtype=np.uint8)])
            elif c == 4:
                px = np.dstack([px, rng.integers(0, 256, (h, w), dtype=np.uint8)])
            # Every filter type, in order then at random; the zlib stream
            # split at odd places (inside its header too), with empty IDATs.
            ft = np.concatenate([np.arange(5), rng.integers(0, 5, h)])[:h]
            if h > 5 and w == 31:
                ft[:] = 4 if c != 1 else 3  # all Paeth / all Average
            splits = [int(v) for v in rng.choice([0, 1, 2, 3, 7, 64, 333], 5)]
            if w == 3:
                splits = [1] + splits
            cases.append((f"fast_{mode}_w{w}", png_bytes(px, ctype, ft, splits)))
    # One row wider than a 256 KiB inflate batch, a tiny zlib window,
    # ancillary chunks, bytes after IEND.
    px = rng.integers(0, 256, (3, 70001, 4), dtype=np.uint8)
    cases.append(("fast_RGBA_70001", png_bytes(px, 6, [4, 1, 3], [1, 70000])))
    px = rand_rgb(40, 61)
    cases.append(("fast_RGB_wbits9", png_bytes(px, 2, rng.integers(0, 5, 40), (),
                                               wbits=9, level=9)))
    txt = png_chunk(b"tEXt", b"Comment\0hello") + png_chunk(b"gAMA", b"\0\0\xb1\x8f")
    cases.append(("fast_L_chunks_tail", png_bytes(
        px[:, :, 1], 0, rng.integers(0, 5, 40), (5,), extra_chunks=txt,
        tail=b"trailing junk after IEND")))
    # Pillow's own writer (adaptive filters, 64 KiB IDATs), large enough for
    # several batches and IDATs.
    big = rand_rgb(400, 700)
    for mode in ("L", "RGB", "RGBA", "LA"):
        img = Image.fromarray(big, "RGB").convert(mode)
        b = io.BytesIO()
        img.save(b, "PNG", compress_level=int(rng.integers(0, 10)))
        cases.append((f"fast_pil_{mode}", b.getvalue()))
    return cases


def check_png_fast_path():
    for name, data in fast_png_cases():
        path = os.path.join(WORK, f"in_{name}.png")
        with open(path, "wb") as f:
            f.write(data)
        with Image.open(path) as im:
            want = np.asarray(im.convert("L")).astype(np.float32)
        got = identity_npy(path, name)
        stb = identity_npy(path, name + "_stb", env=STB)
        for what, a in (("fast path", got), ("stb", stb)):
            if a is None:
                continue
            if a.shape != want.shape or not np.array_equal(a, want):
                fail(f"{name} {path} ({what}): gray differs from Pillow: "
                     + (first_diff(a, want) if a.shape == want.shape
                        else f"shape {a.shape} vs {want.shape}"))


def check_png_fast_failures():
    """Broken PNGs of the fast path's kinds: exit 1, one line naming the
    file, no output left."""
    px = rand_rgb(30, 41)
    ft = rng.integers(0, 5, 30)
    good = png_bytes(px, 2, ft, (100, 50))
    idat1 = good.index(b"IDAT")
    bad_crc = bytearray(good)
    bad_crc[idat1 + 20] ^= 0x10
    bad_ihdr = bytearray(good)
    bad_ihdr[29] ^= 1  # the IHDR CRC
    raw = bytearray(png_filter(px.reshape(30, -1), 3, ft))
    raw[7 * (41 * 3 + 1)] = 5  # row 8's filter byte
    z = zlib.compress(bytes(raw))
    head = good[:33]
    bad_filter = head + png_chunk(b"IDAT", z) + png_chunk(b"IEND", b"")
    # A zlib bomb: a 64x64 header whose data inflates to 64 MiB.
    co = zlib.compressobj(9)
    zb = b"".join(co.compress(bytes(1 << 20)) for _ in range(64)) + co.flush()
    bomb = (b"\x89PNG\r\n\x1a\n" +
            png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0)) +
            png_chunk(b"IDAT", zb) + png_chunk(b"IEND", b""))

    def claims(w, h):
        return (b"\x89PNG\r\n\x1a\n" +
                png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                png_chunk(b"IDAT", zlib.compress(bytes(5000))) +
                png_chunk(b"IEND", b""))
    sig_ihdr = good[:33]
    not_first = (sig_ihdr[:8] + png_chunk(b"tEXt", b"a\0b") + sig_ihdr[8:] +
                 good[33:])
    cases = [
        ("bad_crc_idat", bytes(bad_crc), "bad CRC in IDAT"),
        ("bad_crc_ihdr", bytes(bad_ihdr), "bad CRC in IHDR"),
        ("cut_mid_idat", good[:idat1 + 60], "truncated"),
        ("cut_after_idat", good[:-12], None),  # decoded: see below
        ("extra_data", png_bytes(px, 2, ft, (3,), raw_extra=b"\0" * 9), "bomb"),
        ("bomb", bomb, "decompression bomb"),
        ("claims_16000x16000", claims(16000, 16000), "truncated"),
        ("claims_20000x20000", claims(20000, 20000), None),
        ("bad_filter", bad_filter, "invalid filter"),
        ("ihdr_not_first", not_first, "corrupt or truncated PNG"),
    ]
    for name, data, want in cases:
        path = os.path.join(WORK, f"bad_{name}.png")
        with open(path, "wb") as f:
            f.write(data)
        if name == "cut_after_idat":
            # Every row is there, only IEND is missing: decoded, like Pillow.
            got = identity_npy(path, name)
            with Image.open(path) as im:
                wantpx = np.asarray(im.convert("L")).astype(np.float32)
            if got is not None and not np.array_equal(got, wantpx):
                fail(f"{name}: gray differs from Pillow")
            continue
        out = os.path.join(WORK, f"bad_{name}_out.png")
        t = time.time()
        cmd, p = clconv("-f", "identity", path, "-o", out)
        dt = time.time() - t
        lines = p.stderr.strip().splitlines()
        if p.returncode != 1 or len(lines) != 1 or \
                not lines[0].startswith(f"clconv: {path}: ") or \
                (want and want not in lines[0]):
            fail(f"PNG {name}: exit {p.returncode}, stderr {p.stderr!r} "
                 f"(want exit 1 and one line naming the file"
                 + (f" with {want!r})" if want else ")"))
        if os.path.exists(out):
            fail(f"PNG {name}: output {out} left behind")
        if dt > 5:
            fail(f"PNG {name}: took {dt:.1f} s to refuse")


# ------------------------------------------------------------------ depth, PNM

def run_file(name, data, ext, env=None):
    """Writes data to in_NAME.EXT and decodes it with -f identity to .npy:
    (float32 array or None, exit status, stderr)."""
    path = os.path.join(WORK, f"in_{name}.{ext}")
    with open(path, "wb") as f:
        f.write(data)
    out = os.path.join(WORK, f"{name}.npy")
    if os.path.exists(out):
        os.remove(out)
    cmd, p = clconv("-f", "identity", path, "-o", out, env=env)
    a = np.load(out) if p.returncode == 0 and os.path.exists(out) else None
    return a, p.returncode, p.stderr.strip(), path


def expect_array(name, data, ext, want, env=None):
    got, rc, err, path = run_file(name, data, ext, env=env)
    want = np.asarray(want, dtype=np.float64)
    if got is None:
        fail(f"{name} ({DEVICE}): exit {rc}: {err}")
    elif got.shape != want.shape or not np.array_equal(got.astype(np.float64), want):
        fail(f"{name} ({DEVICE}) {path}: " + (
            first_diff(got.astype(np.float64), want) if got.shape == want.shape
            else f"shape {got.shape} vs {want.shape}"))


def expect_refused(name, data, ext, want=None, env=None):
    """Exit 1, one line naming the file, a reason that is not empty."""
    got, rc, err, path = run_file(name, data, ext, env=env)
    lines = err.splitlines()
    ok = rc == 1 and len(lines) == 1 and lines[0].startswith(f"clconv: {path}: ")
    reason = lines[0][len(f"clconv: {path}: "):] if ok else ""
    if ok and (len(reason) < 8 or re.search(
            r"(PNG|JPEG|GIF|BMP|TGA|PNM|NPY|image) \(\s*\)", reason)):
        ok = False
    if not ok or (want and want not in reason):
        fail(f"{name}: exit {rc}, stderr {err!r} (want exit 1, one line naming "
             f"the file with a reason" + (f" containing {want!r})" if want else ")"))
    return reason


def luma16(rgb):
    """Pillow's L formula on 16-bit samples, in 64-bit integers."""
    r = rgb.astype(np.uint64)
    return ((19595 * r[..., 0] + 38470 * r[..., 1] + 7471 * r[..., 2] + 32768)
            >> 16).astype(np.float64)


def pil_array(data):
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.mode, np.asarray(im)


def pnm_plain(magic, w, h, maxval, samples, per_line=7):
    head = f"{magic}\n# a comment\n{w} {h}\n" + ("" if maxval is None else f"{maxval}\n")
    s = [str(int(v)) for v in np.asarray(samples).ravel()]
    body = "\n".join(" ".join(s[i:i + per_line]) for i in range(0, len(s), per_line))
    return (head + body + "\n").encode()


def pnm_raw(magic, w, h, maxval, samples):
    a = np.asarray(samples)
    data = a.astype(">u2").tobytes() if maxval > 255 else a.astype(np.uint8).tobytes()
    return f"{magic}\n{w} {h}\n{maxval}\n".encode() + data


def check_pnm():
    # The example: maxval 65535, bytes 12 34 are 4660, not 52.
    expect_array("pnm_16_1234", b"P5\n1 1\n65535\n\x12\x34", "pgm", [[0x1234]])
    h, w = int(rng.integers(3, 20)), int(rng.integers(3, 20))
    g16 = rng.integers(0, 65536, (h, w))
    c16 = rng.integers(0, 65536, (h, w, 3))
    # 16-bit at full depth: Pillow's own values where it keeps them (maxval
    # 65535 gray: mode I), the samples as stored elsewhere (DESIGN §6: a
    # maxval of 1000 is not rescaled to 65535 as Pillow rescales it).
    for magic, fn in (("P5", pnm_raw), ("P2", pnm_plain)):
        data = fn(magic, w, h, 65535, g16)
        mode, pil = pil_array(data)
        if not np.array_equal(pil, g16):
            fail(f"test setup: Pillow reads {magic} 16-bit as {mode} {pil.ravel()[:4]}")
        expect_array(f"pnm_{magic}_65535", data, "pgm", pil)
        small = g16 % 1001
        expect_array(f"pnm_{magic}_1000", fn(magic, w, h, 1000, small), "pgm", small)
    for magic, fn in (("P6", pnm_raw), ("P3", pnm_plain)):
        for maxval in (65535, 4095):
            c = c16 % (maxval + 1)
            expect_array(f"pnm_{magic}_{maxval}", fn(magic, w, h, maxval, c), "ppm",
                         luma16(c))
    # 8-bit with every maxval kind, plain and raw: Pillow's convert('L').
    for maxval in (1, 15, 100, 254, 255):
        g = rng.integers(0, maxval + 1, (h, w))
        c = rng.integers(0, maxval + 1, (h, w, 3))
        for magic, fn, arr, ext in (("P5", pnm_raw, g, "pgm"), ("P2", pnm_plain, g, "pgm"),
                                    ("P6", pnm_raw, c, "ppm"), ("P3", pnm_plain, c, "ppm")):
            data = fn(magic, w, h, maxval, arr)
            with Image.open(io.BytesIO(data)) as im:
                want = np.asarray(im.convert("L"))
            expect_array(f"pnm_{magic}_{maxval}", data, ext, want)
    # Raw samples above maxval: clamped as Pillow clamps them.
    data = b"P5\n3 1\n100\n\x00\x32\xc8"
    with Image.open(io.BytesIO(data)) as im:
        expect_array("pnm_over_maxval", data, "pgm", np.asarray(im.convert("L")))
    # PBM, plain and raw: 1 is black.
    bits = rng.integers(0, 2, (h, w))
    plain = pnm_plain("P1", w, h, None, bits)
    packed = f"P1\n{w} {h}\n".encode() + b"\n".join(
        "".join(str(v) for v in row).encode() for row in bits)
    raw = f"P4\n{w} {h}\n".encode() + np.packbits(bits.astype(np.uint8), axis=1).tobytes()
    for name, data in (("pbm_plain", plain), ("pbm_packed", packed), ("pbm_raw", raw)):
        with Image.open(io.BytesIO(data)) as im:
            want = np.asarray(im.convert("L"))
        if not np.array_equal(want, np.where(bits == 1, 0, 255)):
            fail(f"test setup: Pillow reads {name} differently")
        expect_array(name, data, "pbm", want)
    # Header numbers past their range are refused, never wrapped.
    for name, data, want in (
            ("pnm_w_2e32p1", b"P5\n4294967297 1\n255\n\x07", "width too large"),
            ("pnm_h_2e32p1", b"P5\n1 4294967297\n255\n\x07", "height too large"),
            ("pnm_w_huge", b"P2\n99999999999999999999999 1\n255\n7\n", "width too large"),
            ("pnm_w_2e31", b"P6\n2147483648 1\n255\n\x07\x07\x07", "width too large"),
            ("pnm_maxval_65536", b"P5\n1 1\n65536\n\x00\x07", "maxval 65536"),
            ("pnm_maxval_2e32", b"P5\n1 1\n4294967296\n\x00\x07", "maxval"),
            ("pnm_maxval_0", b"P5\n1 1\n0\n\x00", "maxval 0"),
            ("pnm_w_0", b"P5\n0 1\n255\n", "no pixels"),
            ("pnm_ascii_over", b"P2\n2 1\n100\n5 101\n", "above its maxval"),
            ("pnm_ascii_junk", b"P2\n2 1\n255\n5 x\n", "not a number")):
        expect_refused(name, data, "pgm", want)


def png16_bytes(px, ctype, interlace=0):
    """A 16-bit PNG of px (h, w[, c]) samples, filter 0."""
    h, w = px.shape[:2]
    rows = px.reshape(h, -1).astype(">u2")
    raw = b"".join(b"\0" + r.tobytes() for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def check_png16():
    h, w = int(rng.integers(3, 30)), int(rng.integers(3, 30))
    g = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    # Pillow's I;16 (what OpenCV's IMREAD_UNCHANGED gives too).
    b = io.BytesIO()
    Image.fromarray(g, "I;16").save(b, "PNG")
    mode, pil = pil_array(b.getvalue())
    if not np.array_equal(pil, g):
        fail(f"test setup: Pillow reads its 16-bit PNG as {mode}")
    expect_array("png16_pil_I16", b.getvalue(), "png", pil)
    expect_array("png16_gray", png16_bytes(g, 0), "png", g)
    ga = np.dstack([g, rng.integers(0, 65536, (h, w))])
    expect_array("png16_gray_alpha", png16_bytes(ga, 4), "png", g)
    c = rng.integers(0, 65536, (h, w, 3))
    expect_array("png16_rgb", png16_bytes(c, 2), "png", luma16(c))
    ca = np.dstack([c, rng.integers(0, 65536, (h, w))])
    expect_array("png16_rgba", png16_bytes(ca, 6), "png", luma16(c))
    # Values that the high byte alone would lose: 12-bit camera data.
    cam = rng.integers(0, 4096, (h, w))
    expect_array("png16_12bit", png16_bytes(cam, 0), "png", cam)


# ------------------------------------------------------------------ truncation

def truncation_cases():
    """(name, ext, bytes, where the pixel data ends): a valid file of every
    format and decoder path; any cut before that end must be refused."""
    h, w = 23, 29
    rgb = rand_rgb(h, w)
    RGB, L = Image.fromarray(rgb, "RGB"), Image.fromarray(rgb, "RGB").convert("L")
    cases = []

    def add(name, ext, data, end=None):
        cases.append((name, ext, data, len(data) if end is None else end))

    def pil_bytes(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()

    def png_end(d):  # the end of the last IDAT's data (its CRC is not pixels)
        i = d.rindex(b"IDAT")
        return i + 4 + struct.unpack(">I", d[i - 4:i])[0]

    def last_token(d):  # a plain PNM cut inside its last number still parses
        return d.rstrip().rindex(b" ") + 1

    for name, img in (("png_fast_rgb", RGB), ("png_fast_L", L),
                      ("png_stb_palette", RGB.quantize(64))):
        d = pil_bytes(img, "PNG")
        add(name, "png", d, png_end(d))
    d = png16_bytes(rng.integers(0, 65536, (h, w, 3)), 2)
    add("png16", "png", d, png_end(d))
    for name, kw in (("jpeg", dict(quality=90)), ("jpeg_prog", dict(progressive=True)),
                     ("jpeg_gray", dict())):
        d = pil_bytes(L if name == "jpeg_gray" else RGB, "JPEG", **kw)
        add(name, "jpg", d, len(d) - 2)
    for name, img in (("bmp24", RGB), ("bmp8", L), ("bmp_pal", RGB.quantize(16)),
                      ("bmp32", Image.fromarray(np.dstack([rgb, rgb[..., 0]]), "RGBA"))):
        add(name, "bmp", pil_bytes(img, "BMP"))
    for name, img, kw in (("tga_raw", RGB, {}), ("tga_gray", L, {}),
                          ("tga_rle", RGB, dict(compression="tga_rle"))):
        d = pil_bytes(img, "TGA", **kw)
        add(name, "tga", d, len(d) - 26)  # Pillow's TGA 2.0 footer
    d = pil_bytes(RGB.quantize(200), "GIF")
    add("gif", "gif", d, len(d) - 1)  # the trailer byte
    g8 = np.asarray(L)
    add("pnm_p5", "pgm", pnm_raw("P5", w, h, 255, g8))
    add("pnm_p6", "ppm", pnm_raw("P6", w, h, 255, rgb))
    add("pnm_p5_16", "pgm", pnm_raw("P5", w, h, 65535, g8.astype(int) * 257))
    d = pnm_plain("P2", w, h, 255, g8)
    add("pnm_p2", "pgm", d, last_token(d))
    d = pnm_plain("P3", w, h, 255, rgb)
    add("pnm_p3", "ppm", d, last_token(d))
    d = pnm_plain("P1", w, h, None, g8 > 127)
    add("pnm_p1", "pbm", d, len(d) - 1)
    b = io.BytesIO()
    np.save(b, g8.astype(np.float32))
    add("npy", "npy", b.getvalue())
    return cases


def check_truncation():
    """Every format refuses a file cut anywhere before the end of its pixel
    data, in one line naming the file (Pillow refuses them too); none is
    filled in silently."""
    for name, ext, data, end in truncation_cases():
        got, rc, err, path = run_file(f"whole_{name}", data, ext)
        if got is None:
            fail(f"truncation {name}: the whole file fails: {err}")
            continue
        cuts = sorted(set([1, 5, 20, end // 4, end // 2, end * 3 // 4, end * 9 // 10,
                           end - 5, end - 1]))
        for cut in cuts:
            if 0 < cut < end:
                expect_refused(f"cut_{name}_{cut}", data[:cut], ext)


def check_png_reasons():
    """PNGs cut at every 3rd byte and just before IEND, through stb (a
    palette PNG, a 16-bit one) and the fast path: each either decodes to
    Pillow's pixels (every row there, only IEND missing) or is refused with
    a reason that says something: never 'corrupt or truncated PNG ()'."""
    pal = Image.fromarray(rand_rgb(20, 30), "RGB").quantize(32)
    b = io.BytesIO()
    pal.save(b, "PNG")
    g16 = png16_bytes(rng.integers(0, 65536, (9, 11)), 0)
    b2 = io.BytesIO()
    Image.fromarray(rand_rgb(20, 30), "RGB").save(b2, "PNG")
    for kind, d in (("pal", b.getvalue()), ("g16", g16), ("fast", b2.getvalue())):
        for cut in sorted(set(range(9, len(d), 3)) | {len(d) - 12, len(d) - 8}):
            part = d[:cut]
            try:
                with Image.open(io.BytesIO(part)) as im:
                    im.load()
                    want = np.asarray(im if im.mode in ("I", "I;16") else im.convert("L"))
            except Exception:
                want = None
            got, rc, err, path = run_file(f"{kind}_cut_{cut}", part, "png")
            if rc == 0 and want is not None and got is not None and \
                    np.array_equal(got, want.astype(np.float32)):
                continue
            if rc == 0:
                fail(f"{kind}_cut_{cut}: decoded, but Pillow " +
                     ("refuses it" if want is None else "reads other pixels"))
                continue
            reason = expect_refused(f"{kind}_cut_{cut}", part, "png")
            if reason and not all(32 <= ord(ch) < 127 for ch in reason):
                fail(f"{kind}_cut_{cut}: reason has unprintable bytes: {reason!r}")
    # An unknown critical chunk whose type is not letters.
    d = b.getvalue()
    odd = (d[:33] + png_chunk(b"\0\0IE", b"") + d[33:])
    expect_refused("png_chunk_nul", odd, "png")


def check_motion_photo():
    """A JPEG followed by other data holding FF D8 ... FF DA (a phone's
    motion photo carries a video after the image) is the JPEG Pillow reads."""
    for kw in (dict(quality=85), dict(progressive=True)):
        b = io.BytesIO()
        Image.fromarray(rand_rgb(31, 45), "RGB").save(b, "JPEG", **kw)
        jpg = b.getvalue()
        tail = (b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom" + b"\xff\xd8\xff\xe0\0\x10JFIF\0" +
                bytes(rng.integers(0, 256, 300, dtype=np.uint8)) + b"\xff\xda\0\x08" +
                bytes(rng.integers(0, 256, 200, dtype=np.uint8)) + b"\xff\xd9" +
                b"\xff\xda\0\x0c" + bytes(64))
        data = jpg + tail
        mode, _ = pil_array(data)
        with Image.open(io.BytesIO(data)) as im:
            want = np.asarray(im.convert("L"))
        expect_array(f"motion_photo_{'prog' if kw.get('progressive') else 'base'}",
                     data, "jpg", want)


# ------------------------------------------------------------------ .npy headers

def npy_raw(header, data=b"", version=1):
    pre = b"\x93NUMPY" + bytes([version, 0])
    n = 10 if version == 1 else 12
    hdr = header.encode()
    hdr += b" " * ((64 - (n + len(hdr) + 1) % 64) % 64) + b"\n"
    return pre + struct.pack("<H" if version == 1 else "<I", len(hdr)) + hdr + data


def check_npy_dtypes():
    """numpy-written files of every dtype clconv reads give their values
    exactly; the rest are refused, naming the dtype; never misread."""
    h, w = int(rng.integers(2, 12)), int(rng.integers(2, 12))
    base = rng.integers(-30000, 30000, (h, w))
    for dt in ("<f4", ">f4", "<f8", ">f8", "|u1", "|i1", "<u2", ">u2", "<i2",
               ">i2", "<i4", ">i4", "<u4", ">u4"):
        a = base.astype(np.float64) / 7 if dt[1] == "f" else base
        if dt[1] == "u":
            a = np.abs(base) % (256 if dt[2] == "1" else 65536)
        if dt[2] == "1" and dt[1] == "i":
            a = base % 256 - 128
        arr = np.asarray(a).astype(dt)
        for order in ("C", "F"):
            b = io.BytesIO()
            np.save(b, np.asarray(arr, order=order))
            expect_array(f"npy_{dt[1:]}_{'be' if dt[0] == '>' else 'le'}_{order}",
                         b.getvalue(), "npy", arr.astype(np.float32))
    for dt in ("<i8", "<f2", "|b1", "<c8", "<U3", "|S2"):
        b = io.BytesIO()
        np.save(b, np.zeros((2, 3), dtype=dt))
        expect_refused(f"npy_refuse_{dt[1:]}", b.getvalue(), "npy", dt)
    # An integer float32 cannot hold exactly is refused, not rounded.
    b = io.BytesIO()
    np.save(b, np.array([[1, 2**24 + 1]], dtype="<i4"))
    expect_refused("npy_i4_inexact", b.getvalue(), "npy", "not exact")
    # Other spellings of a valid header: double quotes, no trailing comma,
    # keys in another order, version 2 and 3.
    a = base.astype("<f4")
    for name, hdr, v in (
            ("dq", '{"descr": "<f4", "fortran_order": False, "shape": (%d, %d)}', 1),
            ("order", "{'shape': (%d, %d), 'fortran_order': False, 'descr': '<f4',}", 2),
            ("v3", "{'descr':'<f4','fortran_order':False,'shape':(%d,%d)}", 3)):
        expect_array(f"npy_hdr_{name}", npy_raw(hdr % (h, w), a.tobytes(), v), "npy", a)


def check_npy_hostile():
    """Headers a substring parser misread: each is refused in one line."""
    h, w = 3, 4
    i4 = (np.arange(12).reshape(3, 4) * 1000 + 7).astype("<i4")
    body = i4.tobytes()
    cases = [
        ("i4_f4_key", "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), "
                      "'x': '<f4'}", "unexpected key"),
        ("f4_in_field", "{'descr': [('<f4', '<i4')], 'fortran_order': False, "
                        "'shape': (3, 4), }", "not supported"),
        ("structured", "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': "
                       "False, 'shape': (3, 2), }", "[('a', '<f4')"),
        ("subarray", "{'descr': ('<f4', (2,)), 'fortran_order': False, "
                     "'shape': (3, 2), }", "not supported"),
        ("shape_1d", "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", "(3,)"),
        ("shape_3d", "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3, 4), }",
         "(2, 3, 4)"),
        ("shape_0d", "{'descr': '<i4', 'fortran_order': False, 'shape': (), }", "2-D"),
        ("shape_zero", "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 4), }",
         "no pixels"),
        ("no_shape", "{'descr': '<i4', 'fortran_order': False, }", "shape"),
        ("no_descr", "{'fortran_order': False, 'shape': (3, 4), }", "descr"),
        ("dup_key", "{'descr': '<i4', 'descr': '<f4', 'fortran_order': False, "
                    "'shape': (3, 4), }", "repeated"),
        ("not_dict", "['descr', '<f4']", "corrupt .npy header"),
        ("fortran_maybe", "{'descr': '<i4', 'fortran_order': Maybe, 'shape': (3, 4)}",
         "fortran_order"),
        ("shape_overflow", "{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (4294967297, 4294967297), }", None),
        ("shape_neg", "{'descr': '<i4', 'fortran_order': False, 'shape': (-3, 4), }",
         "shape"),
    ]
    for name, hdr, want in cases:
        expect_refused(f"npy_{name}", npy_raw(hdr, body), "npy", want)
    # A header length beyond the file, and data shorter than the shape.
    good = npy_raw("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), }", body)
    expect_refused("npy_hlen_past_end", good[:8] + struct.pack("<H", 60000) + good[10:],
                   "npy", "truncated")
    expect_refused("npy_data_short", good[:-3], "npy", "truncated")
    # The same body with its true header is read as its values.
    expect_array("npy_i4_ok", good, "npy", i4)


# ------------------------------------------------------------------ NaN message

def check_nan_message():
    """A NaN is written as 0 in 8-bit outputs but kept in a .npy: the
    message says which happened."""
    a = np.ones((4, 5), np.float32)
    a[1, 2] = np.nan
    src = os.path.join(WORK, "nan_in.npy")
    np.save(src, a)
    for ext, want, wrong in (("npy", "kept as NaN", "written as 0"),
                             ("png", "written as 0", "kept as NaN")):
        out = os.path.join(WORK, f"nan_out.{ext}")
        p = subprocess.run([CLCONV, "--device", "cpu", "-f", "identity", src,
                            "-o", out], capture_output=True, text=True)
        if p.returncode != 0 or want not in p.stderr or wrong in p.stderr:
            fail(f"NaN to .{ext}: exit {p.returncode}, stderr {p.stderr!r} "
                 f"(want {want!r})")
    if os.path.exists(os.path.join(WORK, "nan_out.npy")) and \
            not np.isnan(np.load(os.path.join(WORK, "nan_out.npy"))).any():
        fail("NaN to .npy: the output does not keep the NaN")
    src2 = os.path.join(WORK, "nan_in2.npy")
    np.save(src2, a)
    d = os.path.join(WORK, "nan_dir") + "/"
    p = subprocess.run([CLCONV, "--device", "cpu", "-f", "identity", "--format",
                        "npy", src, src2, "-o", d], capture_output=True, text=True)
    if p.returncode != 0 or "written as 0" in p.stderr or \
            not re.search(r"\d+ NaN pixels kept as NaN in all", p.stderr):
        fail(f"NaN summary for .npy outputs: exit {p.returncode}, {p.stderr!r}")


def have_device():
    p = subprocess.run([CLCONV, "--list-devices"], capture_output=True, text=True)
    return p.returncode == 0 and "0:0" in p.stdout


def main():
    global DEVICE
    t0 = time.time()
    for DEVICE in (["cpu", "opencl"] if have_device() else ["cpu"]):
        check_lossless_inputs()
        check_jpeg_inputs()
        check_png_fast_path()
        check_pnm()
        check_png16()
    DEVICE = "cpu"
    check_truncation()
    check_png_reasons()
    check_motion_photo()
    check_npy_dtypes()
    check_npy_hostile()
    check_nan_message()
    check_png_fast_failures()
    check_npy_inputs()
    check_outputs()
    check_resize()
    print(f"{len(FAILS)} failure(s), {time.time() - t0:.1f} s")
    if FAILS:
        print(f"files kept in {WORK}; seed {SEED}")
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
