#!/usr/bin/python3
"""test_tiff_stack.py CLCONV — multi-page TIFF stacks and colour TIFF
(DESIGN.md §6, issue 13). Skipped (77) without tifffile.

Every page of a random stack (mixed sizes, kinds and depths: TIFF allows
them, clconv filters each page as it is) is checked against numpy's
correlation of tifffile's page, on the CPU reference and on the default
device (with --verify full), with outputs poisoned first:
- out.tif: one multi-page TIFF, same page count and order, deflate;
  out.npy / out.png: NAME-PAGE files, zero-padded to the last page's digits;
- every border mode, stride, dilation, an even filter, a filter larger
  than the page, 1x1 and prime-sized pages;
- round trips: a 16-bit stack through identity gives the same samples in a
  16-bit stack; a float stack gives .npy pages exactly;
- --color: RGB(A) stacks per channel; --json reports "pages"; --verify;
  -o DIR batches mixing stacks and single images;
- output clashes count every page file; --skip-existing takes a stack only
  when every page file is finished;
- --max-pages (default 65536) and directory loops refused from the raw
  directory chain, before any allocation (a million pages in seconds under
  a 1 GiB address-space limit); a page clconv cannot read refuses the
  whole stack before any output is written; a failed write leaves nothing;
- BigTIFF exactly when the pages' total passes the limit (scaled to 64 KiB
  by CLCONV_FAULT=tiff-64k), whatever each page's size.
Colour TIFF: RGB and RGBA, 8/16-bit and float, contiguous and planar,
strips and tiles, read with --color channel by channel against tifffile
(palette and JPEG-compressed ones against Pillow's convert("RGB"));
written RGB(A) 8/16-bit and float (photometric RGB, alpha as an extra
sample) and read back by tifffile.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import testenv

CLCONV, SEED = testenv.start("test_tiff_stack.py")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

try:
    import tifffile
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (Debian python3-tifffile)")
    sys.exit(77)

rng = np.random.default_rng(SEED)
WORK = tempfile.mkdtemp(prefix="clconv-stack-")
check = testenv.Checks("test_tiff_stack.py")
ASAN = "libasan" in subprocess.run(["ldd", CLCONV], capture_output=True,
                                   text=True).stdout


def path(name):
    return os.path.join(WORK, name)


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def run(*args, env=None, limit=False, quiet=True):
    cmd = [CLCONV] + (["-q"] if quiet else []) + [str(a) for a in args]
    e = dict(os.environ, **(env or {}))
    if limit and ASAN:
        e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") +
                             ":max_allocation_size_mb=1024").lstrip(":")
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=300,
                       preexec_fn=limit_memory if limit and not ASAN else None)
    return p.returncode, p.stdout, p.stderr, " ".join(cmd)


def poison(*names):
    """Garbage where outputs go: a stale file can never pass for a result."""
    for n in names:
        with open(n, "wb") as f:
            f.write(rng.integers(0, 256, 64, dtype=np.uint8).tobytes())


def geometry(n, k, s, d, padding):
    keff = d * (k - 1) + 1
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + keff - n, 0)
        return total // 2, total - total // 2, out
    return 0, 0, (n - keff) // s + 1


def correlate(plane, k, s=1, d=1, padding="same", border="constant"):
    """DESIGN §2 in double, rounded once to float32."""
    kh, kw = k.shape
    t, b, oh = geometry(plane.shape[0], kh, s, d, padding)
    l, r, ow = geometry(plane.shape[1], kw, s, d, padding)
    p = np.pad(plane.astype(np.float64), ((t, b), (l, r)), mode=border)
    out = np.zeros((oh, ow))
    for i in range(kh):
        for j in range(kw):
            out += k[i, j] * p[i * d:i * d + (oh - 1) * s + 1:s,
                               j * d:j * d + (ow - 1) * s + 1:s]
    return out.astype(np.float32)


def luma(a):
    """Pillow's L of RGB samples (last axis), 64-bit integers or floats."""
    if a.dtype.kind == "f":
        a = a.astype(np.float64)
        return ((19595 * a[..., 0] + 38470 * a[..., 1] + 7471 * a[..., 2]) /
                65536).astype(np.float32)
    a = a.astype(np.int64)
    return ((19595 * a[..., 0] + 38470 * a[..., 1] + 7471 * a[..., 2] + 32768)
            >> 16).astype(np.float32)


def gray_of(page):
    """The gray plane clconv filters for a tifffile page array."""
    return luma(page) if page.ndim == 3 else page.astype(np.float32)


def samples(dtype, shape):
    if dtype == "float32":
        return (rng.standard_normal(shape) * 300).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(0, info.max, size=shape, endpoint=True, dtype=dtype)


def write_stack(name, pages, **kw):
    """A multi-page TIFF, one tifffile page each (sizes and kinds may mix)."""
    with tifffile.TiffWriter(path(name)) as t:
        for a in pages:
            t.write(a, photometric="rgb" if a.ndim == 3 else "minisblack",
                    **kw)


def equal(got, want, what, exact=True):
    ok = got is not None and got.shape == want.shape and (
        np.array_equal(got, want) if exact else
        np.allclose(got, want, rtol=1e-5, atol=1e-3))
    diff = "" if got is None or got.shape != want.shape else \
        f" (max diff {np.nanmax(np.abs(got.astype(np.float64) - want)) if got.size else 0})"
    check(ok, f"{what}: {None if got is None else got.shape} vs {want.shape}{diff}")


KERNELS = {
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float),
    "outline": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], float),
}


# ------------------------------------------------------------ gray stacks

def gray_stacks():
    """Random stacks, mixed sizes and kinds, every geometry, both paths."""
    sizes = [(1, 1), (7, 13), (23, 17), (2, 3), (31, 29)]
    kinds = ["uint8", "uint16", "float32", "rgb8", "rgb16"]
    pages = []
    for (h, w), kind in zip(sizes, rng.permutation(kinds)):
        if kind.startswith("rgb"):
            pages.append(samples("uint8" if kind == "rgb8" else "uint16", (h, w, 3)))
        else:
            pages.append(samples(kind, (h, w)))
    write_stack("mixed.tif", pages, compression="zlib")
    cases = [
        ("sharpen", KERNELS["sharpen"], [], 1, 1, "same", "constant"),
        ("@even", rng.integers(-4, 5, (2, 4)).astype(float),
         ["--border", "reflect", "--stride", "2"], 2, 1, "same", "reflect"),
        ("@big", rng.integers(-3, 4, (9, 5)).astype(float),
         ["--border", "wrap", "--dilation", "2"], 1, 2, "same", "wrap"),
        ("outline", KERNELS["outline"], ["--border", "edge"], 1, 1, "same", "edge"),
        ("sharpen", KERNELS["sharpen"], ["--border", "symmetric", "--stride", "3"],
         3, 1, "same", "symmetric"),
    ]
    for n, (spec, k, extra, s, d, padding, border) in enumerate(cases):
        if spec.startswith("@"):
            fname = path(f"k{n}.txt")
            np.savetxt(fname, k, fmt="%d")
            spec = "@" + fname
        for device in ("cpu", "auto"):
            base = path(f"g{n}-{device}.npy")
            names = [path(f"g{n}-{device}-{i}.npy") for i in range(len(pages))]
            poison(*names)
            verify = ["--verify"] if device != "cpu" else []
            rc, _, err, cmd = run("-f", spec, *extra, "--device", device, *verify,
                                  path("mixed.tif"), "-o", base)
            check(rc == 0, f"gray stack case {n} on {device}: exit {rc} {err.strip()}\n"
                  f"  cmd: {cmd}")
            check(not os.path.exists(base), f"case {n}: {base} written for a stack")
            for i, a in enumerate(pages):
                got = np.load(names[i]) if rc == 0 else None
                # tifffile's page, as clconv's gray plane
                ref = gray_of(tifffile.imread(path("mixed.tif"), key=i))
                equal(got, correlate(ref, k, s, d, padding, border),
                      f"gray stack case {n} on {device}, page {i} ({a.dtype} {a.shape})",
                      exact=a.dtype != np.float32)
        # The same stack into one multi-page float TIFF.
        out = path(f"g{n}.tif")
        poison(out)
        rc, _, err, cmd = run("-f", spec, *extra, "--device", "auto", "--depth", "float",
                              path("mixed.tif"), "-o", out)
        check(rc == 0, f"case {n} into a float stack: exit {rc} {err.strip()}")
        if rc == 0:
            with tifffile.TiffFile(out) as t:
                check(len(t.pages) == len(pages) and
                      all(p.compression == 8 or p.compression == 32946 for p in t.pages),
                      f"case {n}: {len(t.pages)} pages, compression "
                      f"{[int(p.compression) for p in t.pages]}")
                for i, p in enumerate(t.pages[:len(pages)]):
                    ref = gray_of(tifffile.imread(path("mixed.tif"), key=i))
                    equal(p.asarray(), correlate(ref, k, s, d, padding, border),
                          f"case {n} float TIFF page {i}", exact=pages[i].dtype != np.float32)


def round_trips():
    a16 = samples("uint16", (6, 19, 27))
    tifffile.imwrite(path("s16.tif"), a16, photometric="minisblack")
    poison(path("r16.tif"))
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", path("s16.tif"), "-o",
                        path("r16.tif"))
    if rc == 0:
        with tifffile.TiffFile(path("r16.tif")) as t:
            got = np.stack([p.asarray() for p in t.pages])
            check(len(t.pages) == 6 and got.dtype == np.uint16 and np.array_equal(got, a16),
                  f"16-bit stack round trip: {len(t.pages)} pages of {got.dtype}")
    else:
        check(False, f"16-bit stack round trip: exit {rc} {err.strip()}")
    # the same on the device, into 16-bit PNG pages
    names = [path(f"r16-{i}.png") for i in range(6)]
    poison(*names)
    rc, _, err, _ = run("-f", "identity", "--device", "auto", path("s16.tif"), "-o",
                        path("r16.png"))
    check(rc == 0 and all(np.array_equal(tifffile.imread(path("s16.tif"), key=i),
                                         np.asarray(Image.open(n)).astype(np.uint16))
                          for i, n in enumerate(names)),
          f"16-bit stack into 16-bit PNG pages: exit {rc} {err.strip()}")
    f32 = samples("float32", (4, 11, 8))
    f32[1, 2, 3] = np.float32(1e-38)
    f32[2, 0, 0] = np.float32(3.4e38)
    tifffile.imwrite(path("f32.tif"), f32, photometric="minisblack")
    names = [path(f"f32o-{i}.npy") for i in range(4)]
    poison(*names)
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", path("f32.tif"), "-o",
                        path("f32o.npy"))
    check(rc == 0 and all(np.array_equal(np.load(n), f32[i]) and np.load(n).dtype ==
                          np.float32 for i, n in enumerate(names)),
          f"float stack into .npy pages exactly: exit {rc} {err.strip()}")
    # 12 pages: -00 .. -11, in page order
    a8 = samples("uint8", (12, 5, 6))
    tifffile.imwrite(path("p12.tif"), a8, photometric="minisblack")
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", path("p12.tif"), "-o",
                        path("p12.npy"))
    names = [path(f"p12-{i:02d}.npy") for i in range(12)]
    check(rc == 0 and all(os.path.exists(n) and np.array_equal(np.load(n), a8[i])
                          for i, n in enumerate(names)) and
          not os.path.exists(path("p12-0.npy")),
          f"12 pages: p12-00.npy .. p12-11.npy in order: exit {rc} {err.strip()}")
    return a8


# ------------------------------------------------------------ colour

def color_tiffs():
    """RGB(A) TIFF read per channel, every layout; colour TIFF written."""
    h, w = int(rng.integers(9, 40)), int(rng.integers(9, 40))
    n = 0
    for spp in (3, 4):
        for dtype in ("uint8", "uint16", "float32"):
            for planar in ("contig", "separate"):
                for tile in (None, (16, 16)):
                    a = samples(dtype, (h, w, spp))
                    data = np.moveaxis(a, -1, 0) if planar == "separate" else a
                    kw = {"extrasamples": [2]} if spp == 4 else {}
                    tifffile.imwrite(path(f"c{n}.tif"), data, photometric="rgb",
                                     planarconfig=planar, tile=tile, compression="zlib",
                                     **kw)
                    ref = tifffile.imread(path(f"c{n}.tif"))
                    ref = np.moveaxis(ref, 0, -1) if planar == "separate" else ref
                    what = f"colour TIFF {spp} ch {dtype} {planar} {'tiles' if tile else 'strips'}"
                    poison(path(f"c{n}.npy"))
                    rc, _, err, cmd = run("--color", "--alpha", "filter", "-f", "identity",
                                          "--device", "cpu", path(f"c{n}.tif"), "-o",
                                          path(f"c{n}.npy"))
                    got = np.load(path(f"c{n}.npy")) if rc == 0 else None
                    check(rc == 0, f"{what}: exit {rc} {err.strip()}")
                    equal(got, ref.astype(np.float32), f"{what}: identity")
                    for device in ("cpu", "auto"):
                        poison(path(f"c{n}s.npy"))
                        rc, _, err, _ = run("--color", "-f", "sharpen", "--device", device,
                                            *(["--verify"] if device != "cpu" else []),
                                            path(f"c{n}.tif"), "-o", path(f"c{n}s.npy"))
                        got = np.load(path(f"c{n}s.npy")) if rc == 0 else None
                        want = np.stack([correlate(ref[..., c], KERNELS["sharpen"])
                                         for c in range(3)] +
                                        ([ref[..., 3].astype(np.float32)] if spp == 4
                                         else []), -1)
                        equal(got, want, f"{what}: sharpen per channel on {device}, "
                              "alpha kept", exact=dtype != "float32")
                    n += 1
    # Pillow-written palette and JPEG (YCbCr) TIFF: Pillow's convert("RGB").
    a = (rng.integers(0, 256, (h, w, 3)) // 32 * 32).astype(np.uint8)
    Image.fromarray(a).quantize(30).save(path("pal.tif"))
    Image.fromarray(a).save(path("jpg.tif"), compression="jpeg")
    for name in ("pal", "jpg"):
        poison(path(f"{name}.npy"))
        rc, _, err, _ = run("--color", "-f", "identity", "--device", "cpu",
                            path(f"{name}.tif"), "-o", path(f"{name}.npy"))
        want = np.asarray(Image.open(path(f"{name}.tif")).convert("RGB")).astype(np.float32)
        equal(np.load(path(f"{name}.npy")) if rc == 0 else None, want,
              f"{name} TIFF under --color: Pillow's convert('RGB') ({err.strip()})")
    # Written: RGB(A) 8/16-bit and float, read back by tifffile.
    for spp in (3, 4):
        for dtype, depth in (("uint8", "8"), ("uint16", "16"), ("float32", "float")):
            a = samples("uint8" if dtype == "uint8" else "uint16", (h, w, spp))
            tifffile.imwrite(path("cin.tif"), a, photometric="rgb",
                             **({"extrasamples": [2]} if spp == 4 else {}))
            out = path(f"cout-{spp}-{depth}.tif")
            poison(out)
            rc, _, err, _ = run("--color", "-f", "sharpen", "--depth", depth, "--device",
                                "cpu", path("cin.tif"), "-o", out)
            want = np.stack([correlate(a[..., c], KERNELS["sharpen"]) for c in range(3)] +
                            ([a[..., 3].astype(np.float32)] if spp == 4 else []), -1)
            if depth != "float":
                top = 255 if depth == "8" else 65535
                want = np.clip(np.rint(want), 0, top).astype(dtype)
            what = f"colour TIFF out, {spp} channels, --depth {depth}"
            if rc != 0:
                check(False, f"{what}: exit {rc} {err.strip()}")
                continue
            with tifffile.TiffFile(out) as t:
                p = t.pages[0]
                check(p.photometric == 2 and p.samplesperpixel == spp and
                      p.compression in (8, 32946) and
                      (spp == 3 or tuple(p.extrasamples) == (2,)),
                      f"{what}: photometric {p.photometric}, {p.samplesperpixel} samples, "
                      f"extrasamples {p.extrasamples}")
                equal(p.asarray(), want, what)
    # A stack of RGB pages under --color into one RGB TIFF stack.
    pages = [samples("uint8", (int(rng.integers(1, 20)), int(rng.integers(1, 20)), 3))
             for _ in range(4)]
    write_stack("cstack.tif", pages)
    poison(path("cstack-out.tif"))
    rc, out, err, _ = run("--color", "-f", "sharpen", "--json", path("cstack.tif"), "-o",
                          path("cstack-out.tif"))
    check(rc == 0 and json.loads(out)["images"][0]["pages"] == 4,
          f"colour stack: exit {rc}, --json pages {out[:0]}{err.strip()}")
    if rc == 0:
        with tifffile.TiffFile(path("cstack-out.tif")) as t:
            check(len(t.pages) == 4, f"colour stack: {len(t.pages)} pages")
            for i, p in enumerate(t.pages):
                want = np.stack([correlate(pages[i][..., c], KERNELS["sharpen"])
                                 for c in range(3)], -1)
                equal(p.asarray(), np.clip(np.rint(want), 0, 255).astype(np.uint8),
                      f"colour stack page {i}")


# ------------------------------------------------------------ the CLI

def cli(a8):
    # --json and --verify report the pages
    rc, out, err, _ = run("-f", "sharpen", "--verify", "--json", "--device", "auto",
                          path("p12.tif"), "-o", path("v.tif"))
    rep = json.loads(out)["images"][0] if rc == 0 else {}
    check(rc == 0 and rep.get("pages") == 12 and rep.get("size") == [6, 5],
          f"--json --verify on a 12-page stack: exit {rc} pages {rep.get('pages')} "
          f"{err.strip()}")
    # -o DIR: a stack and a single image side by side
    d = path("batch")
    tifffile.imwrite(path("one.tif"), a8[0], photometric="minisblack")
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", "--format", "npy",
                        path("p12.tif"), path("one.tif"), path("s16.tif"), "-o", d + "/")
    got = sorted(os.listdir(d)) if os.path.isdir(d) else []
    want = sorted(["one.npy"] + [f"p12-{i:02d}.npy" for i in range(12)] +
                  [f"s16-{i}.npy" for i in range(6)])
    check(rc == 0 and got == want, f"-o DIR with stacks: exit {rc}, {got} {err.strip()}")
    # A page file that is another input's output: a clash, nothing done.
    os.makedirs(path("cl"), exist_ok=True)
    tifffile.imwrite(path("cl/x.tif"), a8[:3], photometric="minisblack")
    tifffile.imwrite(path("cl/x-1.tif"), a8[0], photometric="minisblack")
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", "--format", "png",
                        path("cl/x.tif"), path("cl/x-1.tif"), "-o", path("clo") + "/")
    check(rc == 2 and "x-1.png" in err and not os.path.exists(path("clo/x-0.png")),
          f"a page file clashing with another output: exit {rc} {err.strip()}")
    # A page file that is the input itself (a TIFF stack named q-1.png).
    os.rename(path("cl/x.tif"), path("cl/q-1.png"))
    before = open(path("cl/q-1.png"), "rb").read()
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", path("cl/q-1.png"), "-o",
                        path("cl/q.png"))
    check(rc == 2 and "q-1.png" in err and open(path("cl/q-1.png"), "rb").read() == before
          and not os.path.exists(path("cl/q-0.png")),
          f"a page file that is the input: refused, input intact: exit {rc} {err.strip()}")
    # --skip-existing: all page files finished -> skipped; one missing -> redone
    out = path("sk.png")
    rc, _, err, _ = run("-f", "sharpen", "--device", "cpu", path("s16.tif"), "-o", out)
    check(rc == 0 and all(os.path.exists(path(f"sk-{i}.png")) for i in range(6)),
          f"a 6-page stack into sk-0.png .. sk-5.png: exit {rc} {err.strip()}")
    if rc != 0:
        return
    mtimes = {i: os.stat(path(f"sk-{i}.png")).st_mtime_ns for i in range(6)}
    time.sleep(0.02)
    rc, _, err, _ = run("-f", "sharpen", "--device", "cpu", "--skip-existing",
                        path("s16.tif"), "-o", out, quiet=False)
    check(rc == 0 and "1 skipped" in err and
          all(os.stat(path(f"sk-{i}.png")).st_mtime_ns == mtimes[i] for i in range(6)),
          f"--skip-existing, every page file there: skipped: exit {rc} {err.strip()}")
    os.unlink(path("sk-4.png"))
    open(path("sk-2.png"), "wb").close()  # an empty stub is not finished
    rc, _, err, _ = run("-f", "sharpen", "--device", "cpu", "--skip-existing",
                        path("s16.tif"), "-o", out, quiet=False)
    check(rc == 0 and "0 skipped" not in err.replace("1 done", "") and
          os.path.exists(path("sk-4.png")) and os.path.getsize(path("sk-2.png")) > 0,
          f"--skip-existing, a page file missing: the stack redone: exit {rc} {err.strip()}")
    # --max-pages
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", "--max-pages", "11",
                        path("p12.tif"), "-o", path("mp.tif"))
    check(rc == 1 and "p12.tif" in err and "--max-pages" in err and
          len(err.strip().splitlines()) == 1 and not os.path.exists(path("mp.tif")),
          f"--max-pages 11 on 12 pages: refused: exit {rc} {err.strip()}")
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", "--max-pages", "12",
                        path("p12.tif"), "-o", path("mp.tif"))
    check(rc == 0 and os.path.exists(path("mp.tif")),
          f"--max-pages 12 on 12 pages: done: exit {rc} {err.strip()}")
    rc, _, err, _ = run("-f", "identity", "--max-pages", "0", path("p12.tif"), "-o",
                        path("mp.tif"))
    check(rc == 2, f"--max-pages 0: a usage error: exit {rc}")
    # Pages whose device result is wrong (CLCONV_FAULT=perturb: one pixel of
    # every device result; --verify full finds each): the stack file is
    # written whole as NAME.mismatch, exit 3; page files each as
    # NAME-K.ext.mismatch.
    env = {"CLCONV_FAULT": "perturb", "CLCONV_DEVICE": ""}
    rc, _, err, _ = run("-f", "sharpen", "--device", "opencl", "--verify", path("s16.tif"),
                        "-o", path("mm.tif"), env=env)
    if "no OpenCL" in err:
        print("mismatch in a stack: no OpenCL device, not checked")
    else:
        ok = rc == 3 and not os.path.exists(path("mm.tif")) and \
            os.path.exists(path("mm.tif.mismatch")) and "verification failed" in err
        if ok:
            with tifffile.TiffFile(path("mm.tif.mismatch")) as t:
                ok = len(t.pages) == 6
        check(ok, f"a wrong page into a stack file: mm.tif.mismatch, 6 pages, exit 3: "
              f"{rc} {err.strip()}")
        rc, _, err, _ = run("-f", "sharpen", "--device", "opencl", "--verify",
                            path("s16.tif"), "-o", path("mm.png"), env=env)
        check(rc == 3 and all(os.path.exists(path(f"mm-{i}.png.mismatch")) and
                              not os.path.exists(path(f"mm-{i}.png")) for i in range(6)),
              f"wrong pages into page files: mm-K.png.mismatch each, exit 3: {rc} "
              f"{err.strip()}")
    # --side-by-side takes one image
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", "--side-by-side",
                        path("sbs.png"), path("p12.tif"), "-o", path("sb.tif"))
    check(rc == 1 and "stack" in err and not os.path.exists(path("sb.tif")) and
          not os.path.exists(path("sbs.png")),
          f"--side-by-side on a stack: refused: exit {rc} {err.strip()}")


def refusals_and_bombs():
    import struct
    # A page clconv cannot read (complex) in the middle: nothing written.
    g = samples("uint8", (9, 10))
    with tifffile.TiffWriter(path("badpage.tif")) as t:
        t.write(g, photometric="minisblack")
        t.write(g, photometric="minisblack")
        t.write((g + 1j * g).astype(np.complex64))
        t.write(g, photometric="minisblack")
    for out in ("bad.tif", "bad.png"):
        rc, _, err, _ = run("-f", "identity", "--device", "cpu", path("badpage.tif"),
                            "-o", path(out))
        left = [f for f in os.listdir(WORK) if f.startswith("bad") and f != "badpage.tif"]
        check(rc == 1 and "page 2" in err and "complex" in err and not left and
              len(err.strip().splitlines()) == 1,
              f"a complex page 2 into {out}: refused before any output: exit {rc} "
              f"{err.strip()} {left}")
    # A failed write leaves no stack file and no temporary file.
    os.makedirs(path("wf"), exist_ok=True)
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", path("s16.tif"), "-o",
                        path("wf/w.tif"), env={"CLCONV_FAULT": "write"})
    check(rc == 1 and os.listdir(path("wf")) == [] and "w.tif" in err and
          "write failed" in err and len(err.strip().splitlines()) == 1,
          f"a write failure: exit 1, nothing left: {rc} {os.listdir(path('wf'))} "
          f"{err.strip()}")
    # A million pages and a loop: refused from the raw chain, quickly.
    head = struct.pack("<2sHI", b"II", 42, 8)
    n = 10 ** 6
    b = bytearray(head)
    for i in range(n):
        b += struct.pack("<HI", 0, len(b) + 6 if i < n - 1 else 0)
    open(path("million.tif"), "wb").write(bytes(b))
    t0 = time.monotonic()
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", path("million.tif"), "-o",
                        path("million.png"), limit=True)
    check(rc == 1 and "million.tif" in err and "65536" in err and "--max-pages" in err
          and time.monotonic() - t0 < 10 and not os.path.exists(path("million-0.png")),
          f"a million pages: refused by the default limit: exit {rc} {err.strip()}")
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", "--max-pages", str(10 ** 7),
                        path("million.tif"), "-o", path("million.png"), limit=True)
    check(rc == 1 and "million.tif" in err and len(err.strip().splitlines()) == 1 and
          not os.path.exists(path("million-0000000.png")),
          f"a million empty pages within --max-pages: refused (page 0 unreadable): "
          f"exit {rc} {err.strip()}")
    # page 0 fine, page 1 points back at page 0: a loop
    g = samples("uint8", (4, 4))
    tifffile.imwrite(path("two.tif"), np.stack([g, g]), photometric="minisblack")
    data = bytearray(open(path("two.tif"), "rb").read())
    first = struct.unpack("<I", data[4:8])[0]
    cnt = struct.unpack("<H", data[first:first + 2])[0]
    second = struct.unpack("<I", data[first + 2 + 12 * cnt:first + 6 + 12 * cnt])[0]
    cnt2 = struct.unpack("<H", data[second:second + 2])[0]
    data[second + 2 + 12 * cnt2:second + 6 + 12 * cnt2] = struct.pack("<I", first)
    open(path("loop.tif"), "wb").write(bytes(data))
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", "--max-pages", str(10 ** 9),
                        path("loop.tif"), "-o", path("loop.tif.png"), limit=True)
    check(rc == 1 and "loop" in err and "loop.tif" in err,
          f"a directory loop: refused: exit {rc} {err.strip()}")
    # page 1's link pointing past the end: a page would be lost; refused
    data[second + 2 + 12 * cnt2:second + 6 + 12 * cnt2] = struct.pack("<I", len(data) + 64)
    open(path("lost.tif"), "wb").write(bytes(data))
    rc, _, err, _ = run("-f", "identity", "--device", "cpu", path("lost.tif"), "-o",
                        path("lost.png"))
    check(rc == 1 and "lost.tif" in err and "page 2" in err and "beyond" in err and
          not os.path.exists(path("lost-0.png")) and not os.path.exists(path("lost.png")),
          f"a directory past the end of the file: refused: exit {rc} {err.strip()}")


def bigtiff():
    # Each page well under 64 KiB; the stack's total over it: BigTIFF only
    # when the total passes (CLCONV_FAULT=tiff-64k scales 4 GiB to 64 KiB).
    big = samples("uint16", (5, 64, 64))   # 5 x 8 KiB = 40 KiB at 16 bits
    tifffile.imwrite(path("bt.tif"), big, photometric="minisblack")
    env = {"CLCONV_FAULT": "tiff-64k"}
    for depth, want in (("16", False), ("float", True)):
        out = path(f"bt-{depth}.tif")
        rc, _, err, _ = run("-f", "identity", "--device", "cpu", "--depth", depth,
                            path("bt.tif"), "-o", out, env=env)
        if rc != 0:
            check(False, f"BigTIFF choice at --depth {depth}: exit {rc} {err.strip()}")
            continue
        with tifffile.TiffFile(out) as t:
            got = np.stack([p.asarray() for p in t.pages])
            check(t.is_bigtiff == want and len(t.pages) == 5 and
                  np.array_equal(got, big.astype(got.dtype)),
                  f"stack of 5 pages at --depth {depth}: BigTIFF {t.is_bigtiff}, want {want}")


def library():
    """The one-image calls refuse a stack (no page silently dropped); a
    single page still loads. Through libclconv.so next to the binary."""
    import ctypes
    import glob
    libs = sorted(glob.glob(os.path.join(os.path.dirname(CLCONV), "libclconv.so*")))
    if not libs:
        print("no libclconv.so next to the binary: library checks skipped")
        return

    class Plane(ctypes.Structure):
        _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int),
                    ("data", ctypes.POINTER(ctypes.c_float))]

    lib = ctypes.CDLL(libs[0])
    err = ctypes.create_string_buffer(4096)
    pl = Plane()
    st = lib.clconv_image_load(path("s16.tif").encode(), ctypes.c_longlong(0),
                               ctypes.byref(pl), err)
    check(st != 0 and b"6 pages" in err.value and b"multi-page" in err.value and
          not pl.data, f"clconv_image_load of a 6-page stack: refused: {st} {err.value!r}")
    st = lib.clconv_image_load(path("one.tif").encode(), ctypes.c_longlong(0),
                               ctypes.byref(pl), err)
    check(st == 0 and pl.width == 6 and pl.height == 5,
          f"clconv_image_load of a one-page TIFF: {st} {err.value!r}")
    if st == 0:
        lib.clconv_plane_free(ctypes.byref(pl))


gray_stacks()
a8 = round_trips()
color_tiffs()
cli(a8)
refusals_and_bombs()
bigtiff()
library()
check.finish()
