#!/usr/bin/python3
"""test_tiff.py CLCONV — TIFF through libtiff, gray mode (DESIGN.md §6,
issue 13). Skipped (77) without tifffile (Debian python3-tifffile).

Checked against tifffile's arrays (and Pillow's for what only Pillow
writes), with --device cpu, -f identity, out.npy:
- reading: gray, gray+alpha, RGB, RGBA; 8/16-bit unsigned, 8/16-bit signed
  (as their values), float32; contiguous and planar; strips and tiles;
  none, deflate (with predictor), LZMA (tifffile), LZW, PackBits, JPEG
  (Pillow); little- and big-endian; BigTIFF; 8-bit palette colour as
  Pillow's convert("L") (the 16-bit map's high byte, then luma). RGB is Pillow's luma
  (19595 R + 38470 G + 7471 B + 32768) >> 16, in 64-bit integers for
  16-bit samples; float RGB the same weights unrounded; alpha ignored.
- libtiff never prints: a file with a tag libtiff warns about reads with
  nothing on stderr.
- writing: .tif/.tiff/.TIF, --depth auto keeps the input's depth (8, 16,
  float: 16-bit and float TIFF in, identity, the same samples out), deflate
  compressed (tifffile's page.compression), --depth 8/16/float, the fault
  switch leaves no file; BigTIFF exactly when the size bound passes the
  limit (4 GiB less 1 MiB, scaled to 64 KiB by CLCONV_FAULT=tiff-64k).
- refused, exit 1, one stderr line naming the file and what it holds,
  nothing written: 1-bit, CMYK, 16-bit palette,
  complex, 64-bit float, 32-bit integers, truncated data.
- bombs, refused from the header before any allocation (under a 1 GiB
  address-space limit, in seconds): 100000x100000, a huge strip count, a
  million pages (over --max-pages), a directory loop. Stacks themselves:
  test_tiff_stack.py.
"""
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time

import testenv

CLCONV, SEED = testenv.start("test_tiff.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402

try:
    import tifffile
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (Debian python3-tifffile)")
    sys.exit(77)

rng = np.random.default_rng(SEED)
WORK = tempfile.mkdtemp(prefix="clconv-tiff-")
check = testenv.Checks("test_tiff.py")


def path(name):
    return os.path.join(WORK, name)


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


# An ASan build reserves terabytes of address space for its shadow, so an
# RLIMIT_AS would stop it at start: there, ASan's own cap on one allocation
# (1 GiB, as the fuzz replay uses) is the bound a bomb must not get past.
ASAN = "libasan" in subprocess.run(["ldd", CLCONV], capture_output=True,
                                   text=True).stdout


def run(*args, env=None, limit=False):
    cmd = [CLCONV, "-q", "--device", "cpu"] + [str(a) for a in args]
    e = dict(os.environ, **(env or {}))
    if limit and ASAN:
        e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") +
                             ":max_allocation_size_mb=1024").lstrip(":")
    return cmd, subprocess.run(cmd, capture_output=True, text=True, env=e,
                               preexec_fn=limit_memory if limit and not ASAN
                               else None, timeout=120)


def decoded(name, what, *extra):
    """clconv's plane of a TIFF (identity into .npy), or None."""
    out = path(name + ".npy")
    cmd, p = run("-f", "identity", path(name), "-o", out, *extra)
    check(p.returncode == 0 and p.stderr == "",
          f"{what}: exit {p.returncode}, stderr {p.stderr.strip()!r}\n  "
          f"cmd: {' '.join(cmd)}")
    return np.load(out) if p.returncode == 0 else None


def luma(a):
    """Pillow's L of RGB samples (last axis), 64-bit integers or floats."""
    if a.dtype.kind == "f":
        a = a.astype(np.float64)
        return ((19595 * a[..., 0] + 38470 * a[..., 1] + 7471 * a[..., 2]) /
                65536).astype(np.float32)
    a = a.astype(np.int64)
    return ((19595 * a[..., 0] + 38470 * a[..., 1] + 7471 * a[..., 2] + 32768)
            >> 16).astype(np.float32)


def expected(a, spp):
    """The gray plane of an (H, W[, C]) array: gray as it is, RGB by luma."""
    if spp == 1:
        return a.astype(np.float32)
    if spp == 2:
        return a[..., 0].astype(np.float32)
    return luma(a)


def random_samples(dtype, shape):
    if dtype == "float32":
        return (rng.standard_normal(shape) * 1000).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def same(got, want, what):
    ok = got is not None and got.shape == want.shape and \
        np.array_equal(got, want)
    detail = "" if got is None or got.shape != want.shape else \
        f" (max diff {np.nanmax(np.abs(got - want))})"
    check(ok, f"{what}: plane differs from tifffile's{detail}")


# ------------------------------------------------------------------ reading

def read_matrix():
    h, w = int(rng.integers(20, 70)), int(rng.integers(20, 70))
    n = 0
    for spp, photo in ((1, "minisblack"), (2, "minisblack"), (3, "rgb"),
                       (4, "rgb")):
        for dtype in ("uint8", "uint16", "float32", "int8", "int16"):
            for planar in (("contig", "separate") if spp > 1 else ("contig",)):
                for tiled in (False, True):
                    for comp in (None, "zlib", "lzma"):
                        if (tiled or planar == "separate") and comp == "lzma":
                            continue
                        shape = (h, w) if spp == 1 else (h, w, spp)
                        a = random_samples(dtype, shape)
                        data = np.moveaxis(a, -1, 0) if planar == "separate" else a
                        name = f"m{n}.tif"
                        n += 1
                        kw = dict(photometric=photo, planarconfig=planar,
                                  compression=comp,
                                  byteorder=">" if n % 3 == 0 else "<",
                                  bigtiff=n % 5 == 0)
                        if spp == 2:
                            kw["extrasamples"] = [2]
                        if spp == 4:
                            kw["extrasamples"] = [2]
                        if tiled:
                            kw["tile"] = (16, 32)
                        else:
                            kw["rowsperstrip"] = int(rng.integers(1, h + 1))
                        if comp == "zlib" and dtype != "float32":
                            kw["predictor"] = True
                        tifffile.imwrite(path(name), data, **kw)
                        what = (f"{name}: {spp} samples {dtype} {planar} "
                                f"{'tiles' if tiled else 'strips'} {comp} {kw['byteorder']}"
                                f"{' BigTIFF' if kw['bigtiff'] else ''}")
                        back = tifffile.imread(path(name))
                        if planar == "separate":
                            back = np.moveaxis(back, 0, -1)
                        check(np.array_equal(back, a), f"{what}: tifffile round trip")
                        same(decoded(name, what), expected(back, spp), what)


def read_pillow():
    """Compressions tifffile writes only with imagecodecs: Pillow's libtiff."""
    h, w = 33, 47
    rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    cases = [("L", rgb[..., 0]), ("RGB", rgb), ("RGBA", rgba)]
    for comp in ("tiff_lzw", "packbits", "tiff_adobe_deflate", "jpeg"):
        for mode, a in cases:
            if comp == "jpeg" and mode == "RGBA":
                continue
            name = f"pil-{comp}-{mode}.tif"
            Image.fromarray(a, mode).save(path(name), compression=comp)
            want = np.asarray(Image.open(path(name)).convert("L"), np.float32)
            same(decoded(name, f"{name} (Pillow)"), want, f"{name} (Pillow)")
    # 16-bit and float through Pillow's LZW.
    i16 = rng.integers(0, 65536, size=(h, w), dtype=np.uint16)
    Image.fromarray(i16, "I;16").save(path("pil16.tif"), compression="tiff_lzw")
    same(decoded("pil16.tif", "16-bit LZW"), i16.astype(np.float32), "16-bit LZW")
    f = rng.standard_normal((h, w)).astype(np.float32)
    Image.fromarray(f, "F").save(path("pilf.tif"), compression="tiff_lzw")
    same(decoded("pilf.tif", "float LZW"), f, "float LZW")


def palettes():
    """8-bit palette colour: Pillow's gray (its map's high byte, then luma)."""
    rgb = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).quantize(200).save(path("pal.tif"))
    Image.fromarray(rgb).quantize(64).save(path("pal-lzw.tif"),
                                           compression="tiff_lzw")
    for name in ("pal.tif", "pal-lzw.tif"):
        want = np.asarray(Image.open(path(name)).convert("L"), np.float32)
        same(decoded(name, f"{name} (Pillow palette)"), want, name)
    # A map whose entries are not multiples of 257: the high byte counts.
    idx = rng.integers(0, 256, size=(20, 30), dtype=np.uint8)
    cmap = rng.integers(0, 65536, size=(3, 256), dtype=np.uint16)
    tifffile.imwrite(path("pal-map.tif"), idx, photometric="palette",
                     colormap=cmap)
    want = luma(np.moveaxis((cmap >> 8).astype(np.int64), 0, -1)[idx])
    same(decoded("pal-map.tif", "tifffile palette"), want, "tifffile palette")


def warnings_silent():
    """A private tag libtiff warns about: read, nothing printed."""
    a = rng.integers(0, 256, size=(20, 30), dtype=np.uint8)
    tifffile.imwrite(path("warn.tif"), a,
                     extratags=[(65000, "s", 0, "hello", True),
                                (65001, "I", 1, 7, True)])
    same(decoded("warn.tif", "unknown tags"), a.astype(np.float32), "unknown tags")


# ------------------------------------------------------------------ writing

def page0(name):
    with tifffile.TiffFile(path(name)) as t:
        return t.pages[0], len(t.pages), t.pages[0].asarray()


def round_trips():
    h, w = 41, 59
    a16 = rng.integers(0, 65536, size=(h, w), dtype=np.uint16)
    a8 = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    af = (rng.standard_normal((h, w)) * 1e4).astype(np.float32)
    af[0, 0], af[1, 1] = np.float32(1e-42), np.float32(-0.0)  # subnormal, -0
    for name, a, dt in (("in16.tif", a16, np.uint16), ("in8.tif", a8, np.uint8),
                        ("inf.tif", af, np.float32)):
        tifffile.imwrite(path(name), a)
        for ext in ("tif", "tiff", "TIF"):
            out = path(f"out-{name}.{ext}")
            cmd, p = run("-f", "identity", path(name), "-o", out)
            what = f"{name} -> .{ext} (--depth auto)"
            check(p.returncode == 0 and p.stderr == "",
                  f"{what}: exit {p.returncode} {p.stderr.strip()!r}")
            if p.returncode != 0:
                continue
            pg, npages, got = page0(f"out-{name}.{ext}")
            check(npages == 1 and got.dtype == dt and np.array_equal(got, a),
                  f"{what}: {npages} pages of {got.dtype}, equal "
                  f"{got.dtype == dt and np.array_equal(got, a)}")
            check(int(pg.compression) == 8,
                  f"{what}: compression {pg.compression!r}, not deflate")
            check(pg.photometric == 1 and pg.samplesperpixel == 1,
                  f"{what}: not one gray sample")
    same(decoded("inf.tif", "float TIFF -> .npy"), af, "float TIFF -> .npy")
    # --depth chooses, from any input.
    for depth, dt in (("8", np.uint8), ("16", np.uint16), ("float", np.float32)):
        out = path(f"d{depth}.tif")
        cmd, p = run("-f", "identity", "--depth", depth, path("in8.tif"), "-o", out)
        check(p.returncode == 0, f"--depth {depth}: exit {p.returncode} {p.stderr!r}")
        if p.returncode == 0:
            got = tifffile.imread(out)
            check(got.dtype == dt and np.array_equal(got, a8.astype(dt)),
                  f"--depth {depth}: {got.dtype}")
    # A filter's result: float TIFF equals the .npy of the same run.
    cmd, p = run("-f", "sharpen", path("in16.tif"), "-o", path("sh.npy"))
    cmd, q = run("-f", "sharpen", "--depth", "float", path("in16.tif"),
                 "-o", path("sh.tif"))
    check(p.returncode == 0 and q.returncode == 0 and
          np.array_equal(np.load(path("sh.npy")), tifffile.imread(path("sh.tif"))),
          "sharpen: float TIFF differs from .npy")
    # Directory output with --format tif.
    os.makedirs(path("dirout"), exist_ok=True)
    cmd, p = run("-f", "identity", "--format", "tif", path("in8.tif"),
                 "-o", path("dirout") + "/")
    check(p.returncode == 0 and os.path.exists(path("dirout/in8.tif")),
          f"--format tif: exit {p.returncode} {p.stderr!r}")
    # BigTIFF past the limit: the test build's CLCONV_FAULT=tiff-64k scales
    # 4 GiB less 1 MiB down to 64 KiB less 16 bytes. 8-bit gray: the bound
    # is raw + raw // 1000 + 88 per strip + 4096.
    for side, big in ((240, False), (250, True), (300, True)):
        a = rng.integers(0, 256, size=(side, side), dtype=np.uint8)
        tifffile.imwrite(path(f"b{side}.tif"), a)
        out = path(f"big{side}.tif")
        raw = side * side
        bound = raw + raw // 1000 + 88 * (side // max(1, (256 << 10) // side) + 1) + 4096
        check((bound > 65536 - 16) == big, f"bound {bound} for {side}x{side}")
        cmd, p = run("-f", "identity", path(f"b{side}.tif"), "-o", out,
                     env={"CLCONV_FAULT": "tiff-64k"})
        check(p.returncode == 0, f"tiff-64k {side}: exit {p.returncode} {p.stderr!r}")
        if p.returncode == 0:
            with tifffile.TiffFile(out) as t:
                check(t.is_bigtiff == big and np.array_equal(t.asarray(), a),
                      f"{side}x{side} under tiff-64k: BigTIFF {t.is_bigtiff}, "
                      f"want {big}")
            same(decoded(f"big{side}.tif", "BigTIFF read back"),
                 a.astype(np.float32), "BigTIFF read back")
        os.unlink(out) if os.path.exists(out) else None
        cmd, p = run("-f", "identity", path(f"b{side}.tif"), "-o", out)
        check(p.returncode == 0, f"{side}x{side}: exit {p.returncode} {p.stderr!r}")
        if p.returncode == 0:
            with tifffile.TiffFile(out) as t:
                check(not t.is_bigtiff, f"{side}x{side}: BigTIFF without the switch")
    # NaN: kept in a float TIFF and said so; written as 0 in an 8-bit one.
    an = af.copy()
    an[2, 3] = np.nan
    tifffile.imwrite(path("nan.tif"), an)
    for depth, kept in (("auto", True), ("8", False)):
        out = path(f"nan-{depth}.tif")
        cmd = [CLCONV, "--device", "cpu", "-f", "identity", "--depth", depth,
               path("nan.tif"), "-o", out]
        p = subprocess.run(cmd, capture_output=True, text=True)
        word = "kept as NaN" if kept else "written as 0"
        check(p.returncode == 0 and word in p.stderr,
              f"NaN into --depth {depth} TIFF: exit {p.returncode}, stderr "
              f"{p.stderr!r} should say {word!r}")
        if p.returncode == 0:
            got = tifffile.imread(out)
            check(bool(np.isnan(got[2, 3])) == kept,
                  f"NaN into --depth {depth} TIFF: pixel is {got[2, 3]}")
    # The fault switch: the write fails, nothing is left.
    out = path("fault.tif")
    cmd, p = run("-f", "identity", path("in8.tif"), "-o", out,
                 env={"CLCONV_FAULT": "write"})
    check(p.returncode == 1 and not os.path.exists(out) and
          len(p.stderr.strip().splitlines()) == 1 and "fault.tif" in p.stderr,
          f"CLCONV_FAULT=write .tif: exit {p.returncode} {p.stderr!r}")


# ------------------------------------------------------------------ refusals

def refused(name, words, what, limit=False, seconds=None):
    out = path(name + ".out.png")
    t0 = time.monotonic()
    cmd, p = run("-f", "identity", path(name), "-o", out, limit=limit)
    took = time.monotonic() - t0
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 1, f"{what}: exit {p.returncode}, not 1")
    check(len(lines) == 1 and name in p.stderr and
          all(wd.lower() in p.stderr.lower() for wd in words),
          f"{what}: stderr {p.stderr!r} should be one line naming {name} and {words}")
    check(not os.path.exists(out), f"{what}: {out} was written")
    if seconds is not None:
        check(took < seconds, f"{what}: took {took:.1f} s")


def refusals():
    g = rng.integers(0, 256, size=(24, 32), dtype=np.uint8)
    # Stacks are filtered page by page (test_tiff_stack.py); a Pillow-made
    # 2-page file gives two page files here.
    Image.fromarray(g).save(path("pages2.tif"), save_all=True,
                            append_images=[Image.fromarray(255 - g)])
    cmd, p = run("-f", "identity", path("pages2.tif"), "-o", path("pages2.npy"))
    check(p.returncode == 0 and np.array_equal(np.load(path("pages2-0.npy")), g) and
          np.array_equal(np.load(path("pages2-1.npy")), 255 - g),
          f"2-page TIFF (Pillow): both pages: exit {p.returncode} {p.stderr.strip()}")
    Image.fromarray(g > 128).save(path("bits.tif"))
    refused("bits.tif", ["1-bit"], "1-bit TIFF")
    Image.fromarray(rng.integers(0, 256, (24, 32, 4), dtype=np.uint8), "CMYK") \
        .save(path("cmyk.tif"))
    refused("cmyk.tif", ["CMYK", "4 samples"], "CMYK TIFF")
    cmap = rng.integers(0, 65536, size=(3, 65536), dtype=np.uint16)
    tifffile.imwrite(path("pal16.tif"), g.astype(np.uint16) * 200,
                     photometric="palette", colormap=cmap)
    refused("pal16.tif", ["16-bit unsigned integers", "palette"], "16-bit palette")
    tifffile.imwrite(path("cplx.tif"), (g + 1j * g).astype(np.complex64))
    refused("cplx.tif", ["complex"], "complex TIFF")
    tifffile.imwrite(path("f64.tif"), g.astype(np.float64))
    refused("f64.tif", ["64-bit floats"], "float64 TIFF")
    tifffile.imwrite(path("i32.tif"), np.stack([g, g], -1).astype(np.int32),
                     photometric="minisblack", planarconfig="contig",
                     extrasamples=[0])
    refused("i32.tif", ["2 samples", "32-bit signed integers"], "int32 TIFF")
    tifffile.imwrite(path("whole.tif"), rng.integers(0, 65536, (200, 300),
                                                     dtype=np.uint16))
    data = open(path("whole.tif"), "rb").read()
    open(path("trunc.tif"), "wb").write(data[:len(data) // 2])
    refused("trunc.tif", ["TIFF"], "truncated TIFF")


def ifd(entries, next_off=0):
    """A classic little-endian IFD: (tag, type, count, value) entries."""
    b = struct.pack("<H", len(entries))
    for tag, typ, count, value in sorted(entries):
        b += struct.pack("<HHII", tag, typ, count, value)
    return b + struct.pack("<I", next_off)


def bombs():
    # 100000 x 100000 gray, one strip claiming 4 GB: refused from the header.
    head = struct.pack("<2sHI", b"II", 42, 8)
    tags = [(256, 4, 1, 100000), (257, 4, 1, 100000), (258, 3, 1, 8),
            (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, 200), (277, 3, 1, 1),
            (278, 4, 1, 100000), (279, 4, 1, 4000000000)]
    open(path("huge.tif"), "wb").write(head + ifd(tags) + bytes(300))
    refused("huge.tif", ["100000x100000", "limit"], "100000x100000 TIFF",
            limit=True, seconds=10)
    cmd, p = run("-f", "identity", "--max-pixels", str(10 ** 11), path("huge.tif"),
                 "-o", path("huge.npy"), limit=True)
    check(p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and
          "huge.tif" in p.stderr and ("end of the file" in p.stderr or
                                   "strips in a" in p.stderr),
          f"100000x100000 within --max-pixels: exit {p.returncode} {p.stderr!r}")
    # 2^28 strips claimed for a 64x64 image in a tiny file.
    tags = [(256, 4, 1, 64), (257, 4, 1, 64), (258, 3, 1, 8), (259, 3, 1, 1),
            (262, 3, 1, 1), (273, 4, 1 << 28, 8), (277, 3, 1, 1), (278, 4, 1, 1),
            (279, 4, 1 << 28, 8)]
    open(path("strips.tif"), "wb").write(head + ifd(tags) + bytes(64))
    refused("strips.tif", ["strips.tif"], "2^28 strips", limit=True, seconds=10)
    # A million pages (6-byte directories), and a directory that loops.
    n = 10 ** 6
    b = bytearray(head)
    for i in range(n):
        b += struct.pack("<HI", 0, len(b) + 6 if i < n - 1 else 0)
    open(path("million.tif"), "wb").write(bytes(b))
    refused("million.tif", ["pages", "--max-pages"], "a million pages",
            limit=True, seconds=10)
    tags = [(256, 4, 1, 8), (257, 4, 1, 8), (258, 3, 1, 8), (259, 3, 1, 1),
            (262, 3, 1, 1), (273, 4, 1, 200), (277, 3, 1, 1), (278, 4, 1, 8),
            (279, 4, 1, 64)]
    open(path("loop.tif"), "wb").write(head + ifd(tags, 8) + bytes(300))
    refused("loop.tif", ["pages"], "directory loop", limit=True, seconds=10)


read_matrix()
read_pillow()
palettes()
warnings_silent()
round_trips()
refusals()
bombs()
check.finish()
