#!/usr/bin/python3
"""test_color.py CLCONV — --color and --alpha (DESIGN.md §6, issue 13).

Checked against numpy on Pillow's own planes (convert("RGB") / "RGBA"),
on the CPU reference (--device cpu) and on the default device with
--verify (full), which must agree bit for bit for integer filters:
- every channel of an RGB(A) PNG filtered like a gray image: every border
  mode, same/valid/explicit padding, stride and dilation; .npy out is
  float32 (H, W, C); PNG/BMP/TGA out are RGB(A) 8-bit, clamped and
  rounded; JPEG out is RGB;
- --alpha keep: alpha unchanged bit for bit with same padding and stride
  1, and the sample under the window's centre with stride 2 / valid;
  --alpha filter: alpha filtered like a colour channel; --alpha drop: RGB;
- a palette PNG is expanded; a gray input stays one channel;
- a 16-bit RGB PNG through identity comes out a 16-bit RGB PNG with the
  same samples; a colour .npy (H, W, 3) in gives (H, W, 3) out;
- gray mode (no --color) still gives the 2-D luma result.
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import testenv

CLCONV, SEED = testenv.start("test_color.py")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

rng = np.random.default_rng(SEED)
WORK = tempfile.mkdtemp(prefix="clconv-color-")
check = testenv.Checks("test_color.py")
DEVICES = ["cpu", "auto"]


def run(*args):
    p = subprocess.run([CLCONV, *map(str, args)], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stderr


def path(name):
    return os.path.join(WORK, name)


def geometry(n, k, s, d, padding):
    """(before, after, out) of DESIGN §2 for one axis."""
    keff = d * (k - 1) + 1
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + keff - n, 0)
        return total // 2, total - total // 2, out
    if padding == "valid":
        return 0, 0, (n - keff) // s + 1
    p = int(padding)
    return p, p, (n + 2 * p - keff) // s + 1


def padded(plane, k, s, d, padding, border, cval=0.0):
    kh, kw = k.shape
    t, b, oh = geometry(plane.shape[0], kh, s, d, padding)
    l, r, ow = geometry(plane.shape[1], kw, s, d, padding)
    kw_args = {"constant_values": cval} if border == "constant" else {}
    return np.pad(plane.astype(np.float64), ((t, b), (l, r)), mode=border,
                  **kw_args), oh, ow


def correlate(plane, k, s=1, d=1, padding="same", border="constant"):
    """DESIGN §2 in double, rounded once to float32."""
    p, oh, ow = padded(plane, k, s, d, padding, border)
    out = np.zeros((oh, ow))
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out += k[i, j] * p[i * d:i * d + (oh - 1) * s + 1:s,
                               j * d:j * d + (ow - 1) * s + 1:s]
    return out.astype(np.float32)


def centre(plane, k, s=1, d=1, padding="same", border="constant"):
    """--alpha keep: the padded sample under each window's centre."""
    p, oh, ow = padded(plane, k, s, d, padding, border)
    oy, ox = d * (k.shape[0] - 1) // 2, d * (k.shape[1] - 1) // 2
    return p[oy:oy + (oh - 1) * s + 1:s, ox:ox + (ow - 1) * s + 1:s].astype(np.float32)


def to8(v):
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float)
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], float)
RECT = np.array([[1, 2], [3, -4], [0, 1]], float)  # even width, rectangular


def npy_color(name):
    a = np.load(path(name))
    return a


# ---- RGB: every channel, every border, stride, dilation, padding ----
rgb = rng.integers(0, 256, (21, 30, 3), dtype=np.uint8)
Image.fromarray(rgb, "RGB").save(path("rgb.png"))
planes = np.asarray(Image.open(path("rgb.png")).convert("RGB")).astype(np.float64)
cases = [(b, 1, 1, "same", "sharpen", SHARPEN)
         for b in ("constant", "edge", "reflect", "symmetric", "wrap")]
cases += [("reflect", 2, 1, "same", "emboss", EMBOSS),
          ("wrap", 1, 2, "same", "emboss", EMBOSS),
          ("edge", 2, 2, "valid", "sharpen", SHARPEN),
          ("symmetric", 3, 1, "2", "1,2;3,-4;0,1", RECT)]
for dev in DEVICES:
    for border, s, d, padding, spec, k in cases:
        what = f"{dev} {spec} {border} stride {s} dilation {d} padding {padding}"
        rc, err = run("--color", "-f", spec, "--border", border, "--stride", s,
                      "--dilation", d, "--padding", padding, "--device", dev,
                      "--verify", path("rgb.png"), "-o", path("o.npy"))
        check(rc == 0, f"{what}: exit {rc}: {err.strip()}")
        if rc != 0:
            continue
        got = np.load(path("o.npy"))
        want = np.stack([correlate(planes[..., c], k, s, d, padding, border)
                         for c in range(3)], axis=-1)
        check(got.dtype == np.float32 and got.shape == want.shape,
              f"{what}: .npy {got.dtype} {got.shape}, want float32 {want.shape}")
        check(got.shape == want.shape and np.array_equal(got, want),
              f"{what}: channels differ from numpy")

# 8-bit outputs: RGB, rounded and clamped per channel.
want = to8(np.stack([correlate(planes[..., c], SHARPEN) for c in range(3)], -1))
for ext in ("png", "bmp", "tga"):
    for dev in DEVICES:
        rc, err = run("--color", "-f", "sharpen", "--device", dev, path("rgb.png"),
                      "-o", path("o." + ext))
        check(rc == 0, f"{ext} {dev}: exit {rc}: {err.strip()}")
        if rc == 0:
            im = Image.open(path("o." + ext))
            check(im.mode == "RGB" and np.array_equal(np.asarray(im), want),
                  f"{ext} {dev}: mode {im.mode}, or samples differ from numpy")
yy, xx = np.mgrid[0:32, 0:40]
smooth = np.stack([xx * 6, yy * 7, 255 - xx * 3], -1).astype(np.uint8)
Image.fromarray(smooth, "RGB").save(path("smooth.png"))
rc, err = run("--color", "-f", "identity", path("smooth.png"), "-o", path("o.jpg"))
check(rc == 0 and Image.open(path("o.jpg")).mode == "RGB",
      f"jpg: an RGB JPEG: exit {rc} {err.strip()}")
if rc == 0:
    diff = np.abs(np.asarray(Image.open(path("o.jpg"))).astype(int) - smooth.astype(int))
    check(diff.mean() < 3, f"jpg: RGB JPEG far from its input (mean diff {diff.mean()})")
rc, err = run("--color", "-f", "identity", path("rgb.png"), "-o", path("o.pgm"))
check(rc != 0 and "o.pgm" in err and not os.path.exists(path("o.pgm")),
      f"colour into .pgm: refused naming the file: exit {rc} {err.strip()}")


# ---- every colour decoder gives Pillow's convert("RGB") planes ----
photo = np.clip(np.stack([xx * 6 + yy, yy * 7, 255 - xx * 3], -1) +
                rng.integers(0, 40, (32, 40, 3)), 0, 255).astype(np.uint8)
for name, kw in (("q.jpg", {"quality": 90}), ("q.bmp", {}), ("q.tga", {}),
                 ("q.gif", {}), ("q.ppm", {})):
    Image.fromarray(photo, "RGB").save(path(name), **kw)
with open(path("q3.ppm"), "w") as f:  # plain P3
    f.write("P3\n40 32\n255\n" + " ".join(str(v) for v in photo.reshape(-1)) + "\n")
for name in ("q.jpg", "q.bmp", "q.tga", "q.gif", "q.ppm", "q3.ppm"):
    rc, err = run("--color", "--alpha", "drop", "-f", "identity", "--device", "cpu",
                  path(name), "-o", path("q.npy"))
    want = np.asarray(Image.open(path(name)).convert("RGB")).astype(np.float32)
    got = np.load(path("q.npy")) if rc == 0 else None
    check(got is not None and got.shape == want.shape and np.array_equal(got, want),
          f"{name} under --color: Pillow's RGB planes: exit {rc} {err.strip()}")

# ---- RGBA: the three alpha modes ----
rgba = rng.integers(0, 256, (19, 26, 4), dtype=np.uint8)
Image.fromarray(rgba, "RGBA").save(path("rgba.png"))
pa = np.asarray(Image.open(path("rgba.png")).convert("RGBA")).astype(np.float64)
for dev in DEVICES:
    for s, padding, border in ((1, "same", "constant"), (2, "valid", "reflect"),
                               (2, "same", "edge"), (1, "1", "wrap")):
        what = f"RGBA {dev} stride {s} {padding} {border}"
        for mode in ("keep", "filter", "drop"):
            rc, err = run("--color", "--alpha", mode, "-f", "emboss", "--stride", s,
                          "--padding", padding, "--border", border, "--device", dev,
                          "--verify", path("rgba.png"), "-o", path("a.npy"))
            check(rc == 0, f"{what} --alpha {mode}: exit {rc}: {err.strip()}")
            if rc != 0:
                continue
            got = np.load(path("a.npy"))
            colour = [correlate(pa[..., c], EMBOSS, s, 1, padding, border)
                      for c in range(3)]
            if mode == "keep":
                alpha = [centre(pa[..., 3], EMBOSS, s, 1, padding, border)]
            elif mode == "filter":
                alpha = [correlate(pa[..., 3], EMBOSS, s, 1, padding, border)]
            else:
                alpha = []
            want = np.stack(colour + alpha, axis=-1)
            check(got.shape == want.shape and np.array_equal(got, want),
                  f"{what} --alpha {mode}: shape {got.shape} want {want.shape}, "
                  "or values differ")
            if mode == "keep" and s == 1 and padding == "same":
                check(got.shape == want.shape and np.array_equal(got[..., 3], pa[..., 3]),
                      f"{what}: alpha not unchanged bit for bit")
    for mode, want_mode in (("keep", "RGBA"), ("drop", "RGB")):
        rc, err = run("--color", "--alpha", mode, "-f", "sharpen", "--map", "normalize",
                      "--device", dev, path("rgba.png"), "-o", path("a.png"))
        im = Image.open(path("a.png")) if rc == 0 else None
        check(im is not None and im.mode == want_mode,
              f"RGBA {dev} --alpha {mode} into PNG: {want_mode} wanted: exit {rc} "
              f"{err.strip()} {im.mode if im else ''}")
        if im is not None and mode == "keep":
            check(np.array_equal(np.asarray(im)[..., 3], rgba[..., 3]),
                  f"RGBA {dev}: kept alpha changed by --map normalize")

# ---- palette expanded; gray stays gray; gray+alpha keeps two ----
pal = Image.fromarray(rgb, "RGB").quantize(16)
pal.save(path("pal.png"))
pp = np.asarray(pal.convert("RGB")).astype(np.float64)
rc, err = run("--color", "-f", "sharpen", path("pal.png"), "-o", path("p.npy"))
want = np.stack([correlate(pp[..., c], SHARPEN) for c in range(3)], -1)
check(rc == 0 and np.array_equal(np.load(path("p.npy")), want),
      f"palette PNG: expanded to RGB and filtered: exit {rc} {err.strip()}")
gray = rng.integers(0, 256, (17, 22), dtype=np.uint8)
Image.fromarray(gray, "L").save(path("gray.png"))
rc, err = run("--color", "-f", "sharpen", path("gray.png"), "-o", path("g.npy"))
check(rc == 0 and np.array_equal(np.load(path("g.npy")),
                                  correlate(gray.astype(float), SHARPEN)),
      f"gray input under --color: one channel, as gray mode: exit {rc} {err.strip()}")

# ---- 16-bit RGB PNG in and out, unchanged through identity ----


def png16(name, a):
    """A 16-bit RGB PNG (colour type 2), rows unfiltered."""
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return (struct.pack(">I", len(d)) + t + d +
                struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF))
    with open(path(name), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2,
                                                                    0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def read_png16(name):
    """(colour type, bit depth, samples (H, W, C)) of a non-interlaced PNG."""
    b = open(path(name), "rb").read()
    pos, idat, hdr = 8, b"", None
    while pos < len(b):
        n, = struct.unpack(">I", b[pos:pos + 4])
        t, d = b[pos + 4:pos + 8], b[pos + 8:pos + 8 + n]
        if t == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", d)
        elif t == b"IDAT":
            idat += d
        pos += 12 + n
    w, h, depth, ctype = hdr[0], hdr[1], hdr[2], hdr[3]
    nc = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    bpp = nc * depth // 8
    stride = w * bpp
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            c = prev[x - bpp] if x >= bpp else 0
            u = prev[x]
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + u) & 255
            elif f == 3:
                line[x] = (line[x] + (a + u) // 2) & 255
            elif f == 4:
                p = a + u - c
                pa_, pb, pc = abs(p - a), abs(p - u), abs(p - c)
                line[x] = (line[x] + (a if pa_ <= pb and pa_ <= pc else u if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    dt = ">u2" if depth == 16 else "u1"
    return ctype, depth, np.frombuffer(b"".join(rows), dtype=dt).reshape(h, w, nc)


rgb16 = rng.integers(0, 65536, (13, 18, 3), dtype=np.uint16)
png16("rgb16.png", rgb16)
for dev in DEVICES:
    rc, err = run("--color", "-f", "identity", "--device", dev, "--verify",
                  path("rgb16.png"), "-o", path("o16.png"))
    check(rc == 0, f"16-bit RGB {dev}: exit {rc}: {err.strip()}")
    if rc == 0:
        ctype, depth, got = read_png16("o16.png")
        check(ctype == 2 and depth == 16 and np.array_equal(got, rgb16),
              f"16-bit RGB {dev}: colour type {ctype}, depth {depth}, or samples changed")
    rc, err = run("--color", "-f", "sharpen", "--device", dev, "--verify",
                  path("rgb16.png"), "-o", path("o16.npy"))
    want = np.stack([correlate(rgb16[..., c].astype(float), SHARPEN) for c in range(3)], -1)
    check(rc == 0 and np.array_equal(np.load(path("o16.npy")), want),
          f"16-bit RGB {dev} sharpen to .npy: full-depth channels: exit {rc} {err.strip()}")

# ---- colour .npy in and out ----
fl = rng.uniform(-2, 2, (15, 20, 3)).astype(np.float32)
np.save(path("c.npy"), fl)
for dev in DEVICES:
    rc, err = run("--color", "-f", "sharpen", "--device", dev, "--verify",
                  path("c.npy"), "-o", path("co.npy"))
    check(rc == 0, f"colour .npy {dev}: exit {rc}: {err.strip()}")
    if rc == 0 and dev == "cpu":
        want = np.stack([correlate(fl[..., c], SHARPEN) for c in range(3)], -1)
        check(np.array_equal(np.load(path("co.npy")), want),
              "colour .npy on the reference: differs from numpy")
    elif rc == 0:
        got = np.load(path("co.npy"))
        check(got.shape == (15, 20, 3), f"colour .npy on the device: shape {got.shape}")


# ---- --resize per channel, as Pillow resizes mode RGB ----
for filt in ("bicubic", "lanczos", "nearest"):
    rc, err = run("--color", "--resize", "17x11", "--resize-filter", filt, "-f",
                  "identity", "--device", "cpu", path("rgb.png"), "-o", path("r.npy"))
    res = getattr(Image.Resampling, filt.upper())
    want = np.asarray(Image.open(path("rgb.png")).convert("RGB").resize((17, 11), res))
    check(rc == 0 and np.array_equal(np.load(path("r.npy")), want.astype(np.float32)),
          f"--resize 17x11 {filt} in colour: Pillow's RGB resize: exit {rc} {err.strip()}")

# RGBA and LA: Pillow premultiplies by alpha around the resize (not for
# nearest); transparent and opaque rows included.
ra = rng.integers(0, 256, (37, 41, 4), dtype=np.uint8)
ra[:5, :, 3], ra[5:9, :, 3] = 0, 255
Image.fromarray(ra, "RGBA").save(path("ra.png"))
Image.fromarray(ra[..., [0, 3]].copy(), "LA").save(path("la.png"))
for name in ("ra.png", "la.png"):
    for filt, size in (("bicubic", (13, 9)), ("bilinear", (60, 50)), ("nearest", (13, 9))):
        rc, err = run("--color", "--resize", f"{size[0]}x{size[1]}", "--resize-filter", filt,
                      "-f", "identity", "--device", "cpu", path(name), "-o", path("r.npy"))
        want = np.asarray(Image.open(path(name)).resize(
            size, getattr(Image.Resampling, filt.upper()))).astype(np.float32)
        got = np.load(path("r.npy")) if rc == 0 else None
        check(got is not None and got.shape == want.shape and np.array_equal(got, want),
              f"--resize {size} {filt} of {name}: Pillow's (premultiplied) resize: "
              f"exit {rc} {err.strip()}")

# ---- clipped counts summed over the channels; channels in --json ----
import json  # noqa: E402
p = subprocess.run([CLCONV, "--color", "-f", "sharpen", "--json", "--device", "cpu",
                    path("rgba.png"), "-o", path("j.png")], capture_output=True, text=True)
try:
    img = json.loads(p.stdout)["images"][0]
except (ValueError, KeyError, IndexError):
    img = {}
ref = np.stack([correlate(pa[..., c], SHARPEN) for c in range(3)], -1)
clipped = int(np.sum((np.rint(ref) < 0) | (np.rint(ref) > 255)))
check(img.get("clipped") == clipped and img.get("channels") == [4, 4],
      f"--json: clipped {img.get('clipped')} (numpy: {clipped} over the RGB channels), "
      f"channels {img.get('channels')} (want [4, 4])")

p = subprocess.run([CLCONV, "--color", "-f", "sharpen", "--json", "--device", "cpu",
                    path("rgba.png"), "-o", path("j.jpg")], capture_output=True, text=True)
try:
    img = json.loads(p.stdout)["images"][0]
except (ValueError, KeyError, IndexError):
    img = {}
check(img.get("channels") == [4, 3] and Image.open(path("j.jpg")).mode == "RGB",
      f"RGBA into JPEG: alpha dropped, --json channels [4, 3]: {img.get('channels')}")

# ---- RGBA into BMP and TGA keep alpha; PPM (P6) out; 16-bit PPM in ----
for ext in ("bmp", "tga"):
    rc, err = run("--color", "-f", "identity", path("rgba.png"), "-o", path("k." + ext))
    im = Image.open(path("k." + ext)) if rc == 0 else None
    check(im is not None and im.mode == "RGBA" and np.array_equal(np.asarray(im), rgba),
          f"RGBA identity into .{ext}: the same RGBA: exit {rc} {err.strip()}")
rc, err = run("--color", "-f", "sharpen", path("rgb.png"), "-o", path("o.pnm"))
im = Image.open(path("o.pnm")) if rc == 0 else None
want = to8(np.stack([correlate(planes[..., c], SHARPEN) for c in range(3)], -1))
check(im is not None and im.mode == "RGB" and np.array_equal(np.asarray(im), want),
      f"colour into .pnm: a P6 PPM with the filtered channels: exit {rc} {err.strip()}")
ppm16 = rng.integers(0, 65536, (9, 12, 3), dtype=np.uint16)
with open(path("in16.ppm"), "wb") as f:
    f.write(b"P6\n12 9\n65535\n" + ppm16.astype(">u2").tobytes())
rc, err = run("--color", "-f", "identity", path("in16.ppm"), "-o", path("p16.png"))
if rc == 0:
    ctype, depth, got = read_png16("p16.png")
check(rc == 0 and ctype == 2 and depth == 16 and np.array_equal(got, ppm16),
      f"16-bit PPM in, identity: the same 16-bit RGB out: exit {rc} {err.strip()}")
rc, err = run("--color", "-f", "identity", "--depth", "16", path("rgba.png"),
              "-o", path("d16.png"))
if rc == 0:
    ctype, depth, got = read_png16("d16.png")
check(rc == 0 and ctype == 6 and depth == 16 and np.array_equal(got, rgba),
      f"--depth 16 of 8-bit RGBA: a 16-bit RGBA PNG, values kept: exit {rc} {err.strip()}")

# ---- the library: clconv_image_load_color / clconv_image_save_color ----
import ctypes  # noqa: E402
import glob  # noqa: E402
libs = sorted(glob.glob(os.path.join(os.path.dirname(CLCONV), "libclconv.so*")))
if libs:
    lib = ctypes.CDLL(libs[0])

    class Plane(ctypes.Structure):
        _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int),
                    ("data", ctypes.POINTER(ctypes.c_float))]

    class ColorImage(ctypes.Structure):
        _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int),
                    ("channels", ctypes.c_int), ("depth", ctypes.c_int),
                    ("planes", Plane * 4)]
    check(hasattr(lib, "clconv_image_load_color") and hasattr(lib, "clconv_image_save_color"),
          "libclconv.so exports clconv_image_load_color and clconv_image_save_color")
    if hasattr(lib, "clconv_image_load_color"):
        im, err = ColorImage(), ctypes.create_string_buffer(4096)
        st = lib.clconv_image_load_color(path("rgba.png").encode(), ctypes.c_longlong(0),
                                         ctypes.byref(im), err)
        ok = st == 0 and (im.width, im.height, im.channels, im.depth) == (26, 19, 4, 8)
        if ok:
            for c in range(4):
                v = np.ctypeslib.as_array(im.planes[c].data, (19 * 26,)).reshape(19, 26)
                ok = ok and np.array_equal(v, rgba[..., c].astype(np.float32))
        check(ok, f"clconv_image_load_color: RGBA as 4 planes: status {st} {err.value}")
        st = lib.clconv_image_save_color(path("lib.png").encode(), ctypes.byref(im), 0, 0, 95,
                                         None, None, err)
        check(st == 0 and np.array_equal(np.asarray(Image.open(path("lib.png"))), rgba),
              f"clconv_image_save_color: the same RGBA PNG: status {st} {err.value}")
        lib.clconv_image_free(ctypes.byref(im))


# ---- --side-by-side in colour; --alpha without --color ----
rc, err = run("--color", "-f", "sharpen", "--device", "cpu", path("rgb.png"), "-o",
              path("s.png"), "--side-by-side", path("sbs.png"))
im = Image.open(path("sbs.png")) if rc == 0 else None
want = to8(np.stack([correlate(planes[..., c], SHARPEN) for c in range(3)], -1))
check(im is not None and im.mode == "RGB" and im.size == (30 + 8 + 30, 21) and
      np.array_equal(np.asarray(im)[:, :30], rgb) and
      np.array_equal(np.asarray(im)[:, 38:], want),
      f"--side-by-side under --color: RGB input | RGB output: exit {rc} {err.strip()}")
for mode in ("filter", "drop"):
    rc, err = run("--alpha", mode, "-f", "sharpen", path("rgba.png"), "-o", path("x.png"))
    check(rc == 2 and "--alpha" in err and "--color" in err and len(err.strip().splitlines()) <= 3
          and not os.path.exists(path("x.png")),
          f"--alpha {mode} without --color: a usage error: exit {rc} {err.strip()}")


# ---- a wrong device result in one channel (CLCONV_FAULT=perturb) ----
small = rng.integers(0, 256, (12, 15, 3), dtype=np.uint8)
Image.fromarray(small, "RGB").save(path("small.png"))
env = dict(os.environ, CLCONV_FAULT="perturb")
env.pop("CLCONV_DEVICE", None)
p = subprocess.run([CLCONV, "--color", "-f", "sharpen", "--device", "opencl",
                    path("small.png"), "-o", path("m.png")], capture_output=True, text=True,
                   env=env)
if "no OpenCL" not in p.stderr and p.returncode != 2:
    check(p.returncode == 3 and os.path.exists(path("m.png.mismatch")) and
          not os.path.exists(path("m.png")) and "spot check" in p.stderr,
          f"perturbed channel, explicit device: exit 3, m.png.mismatch: {p.returncode} "
          f"{p.stderr.strip()}")
    p = subprocess.run([CLCONV, "--color", "-f", "sharpen", path("small.png"), "-o",
                        path("m.npy")], capture_output=True, text=True, env=env)
    want = np.stack([correlate(small[..., c].astype(float), SHARPEN) for c in range(3)], -1)
    check(p.returncode == 0 and np.array_equal(np.load(path("m.npy")), want),
          f"perturbed channel under auto: redone on the reference, numpy's result: "
          f"{p.returncode} {p.stderr.strip()}")

# Fortran order, RGBA, integer dtypes; (H, W, 3) without --color is refused.
f4 = np.asfortranarray(rng.integers(0, 1000, (11, 14, 4)).astype(">i4"))
np.save(path("f4.npy"), f4)
rc, err = run("--color", "--alpha", "filter", "-f", "emboss", "--device", "cpu",
              path("f4.npy"), "-o", path("f4o.npy"))
want = np.stack([correlate(f4[..., c].astype(float), EMBOSS) for c in range(4)], -1)
check(rc == 0 and np.array_equal(np.load(path("f4o.npy")), want),
      f"Fortran-order big-endian int32 (H, W, 4) .npy: 4 channels: exit {rc} {err.strip()}")
rc, err = run("-f", "emboss", path("c.npy"), "-o", path("no.npy"))
check(rc == 1 and "c.npy" in err and "--color" in err,
      f"(H, W, 3) .npy without --color: refused, pointing at --color: {rc} {err.strip()}")

# ---- gray mode unchanged: luma, 2-D ----
rc, err = run("-f", "sharpen", path("rgb.png"), "-o", path("l.npy"))
luma = np.asarray(Image.open(path("rgb.png")).convert("L")).astype(float)
check(rc == 0 and np.array_equal(np.load(path("l.npy")), correlate(luma, SHARPEN)),
      f"gray mode: RGB in without --color is still the luma result: exit {rc}")


# ---- a colour --verify failure names its channel (CLCONV_FAULT=perturb) ----
# perturb adds |v| + 1 to each channel's centre pixel on the device: with
# flat channels R=10, G=200, B=50 (sharpen keeps a flat image) the worst is G.
flat = np.zeros((9, 11, 3), np.uint8)
flat[..., 0], flat[..., 1], flat[..., 2] = 10, 200, 50
Image.fromarray(flat, "RGB").save(path("flat.png"))
for mode, words in (("--verify=full", "verification failed in channel G"),
                    ("--verify=sample", "spot check in channel G")):
    p = subprocess.run([CLCONV, "--color", "-f", "sharpen", "--device", "opencl", mode,
                        path("flat.png"), "-o", path("flat-out.png")], capture_output=True,
                       text=True, env=env)
    if "no OpenCL" in p.stderr:
        print("channel names: no OpenCL device, not checked")
        break
    check(p.returncode == 3 and words in p.stderr,
          f"{mode}: the message names channel G ({words!r}): exit {p.returncode} "
          f"{p.stderr.strip()}")

# ---- --color's OpenCL failures retire the device as gray mode's do ----
# (CLCONV_FAULT=cl-alloc fails every device allocation: under auto the first
# two images fall back with a note each, the second retires the device with
# one message, and the rest go straight to the reference.)
for i in range(6):
    Image.fromarray(rng.integers(0, 256, (10 + i, 13, 3), dtype=np.uint8), "RGB") \
        .save(path(f"ret{i}.png"))
env_alloc = dict(os.environ, CLCONV_FAULT="cl-alloc")
env_alloc.pop("CLCONV_DEVICE", None)
p = subprocess.run([CLCONV, "--color", "-f", "sharpen", "-j", "1", "--json", "--format",
                    "npy", *[path(f"ret{i}.png") for i in range(6)], "-o", path("ret") + "/"],
                   capture_output=True, text=True, env=env_alloc)
if "no OpenCL device" in p.stderr or "using the CPU reference path (" in p.stderr:
    print("colour retirement: no OpenCL device, not checked")
else:
    import json
    check(p.returncode == 0 and p.stderr.count("OpenCL failed") == 2 and
          p.stderr.count("retired for the rest of the run") == 1,
          f"--color retirement: 2 failures, 1 retirement: exit {p.returncode} "
          f"{p.stderr.count('OpenCL failed')} failures, "
          f"{p.stderr.count('retired for the rest')} retirements")
    imgs = json.loads(p.stdout)["images"] if p.returncode == 0 else []
    check(sum(1 for im in imgs if im["device"] == "cpu" and not im["fell_back"]) == 4,
          "--color retirement: the 4 images after it went straight to the reference")
    for i in range(6):
        a = np.asarray(Image.open(path(f"ret{i}.png")))
        want = np.stack([correlate(a[..., c], SHARPEN) for c in range(3)], -1)
        got = np.load(path(f"ret/ret{i}.npy")) if p.returncode == 0 else None
        check(got is not None and np.array_equal(got, want),
              f"--color retirement: ret{i} equals numpy's result")

shutil.rmtree(WORK, ignore_errors=True)
check.finish()
