#!/usr/bin/python3
"""make_corpus.py — writes the seed corpus of the fuzz harnesses into
tests/fuzz/corpus/{image,filter}/seed-*: tiny images of every format and
colour type stb_image reads, truncated and corrupt ones, and decompression
bombs (huge sizes in a tiny header) that the loader must refuse before it
allocates; filter specs of every form. Deterministic; crashers found by
run.sh (crash-*, timeout-*, oom-*, leak-*) and hand-made reproducers of the
bugs they led to (repro-*) live beside the seeds and are never touched here.
Needs Debian's python3 with Pillow and numpy.
    usage: tests/fuzz/make_corpus.py
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
IMG = os.path.join(HERE, "corpus", "image")
FLT = os.path.join(HERE, "corpus", "filter")
LIMIT = 4096


def put(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < LIMIT, (name, len(data))
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def pil(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def rgb(w, h, seed=1):
    r = np.random.default_rng(seed)
    return Image.fromarray(r.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def chunk(t, data):
    return (struct.pack(">I", len(data)) + t + data +
            struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF))


def png(w, h, depth, ctype, raw, interlace=0, extra=b""):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def png_idats(w, h, ctype, raw, splits, tail=True):
    """An 8-bit PNG whose zlib stream is cut into IDATs of the sizes in
    `splits` (0: an empty IDAT) and one more; without IEND if not tail."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    z, out, pos = zlib.compress(raw, 9), b"", 0
    for n in splits + [len(raw) * 2]:
        out += chunk(b"IDAT", z[pos:pos + n])
        pos += n
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + out +
            (chunk(b"IEND", b"") if tail else b""))


def fast_rows(w, h, bpp, filters, seed=3):
    """Rows of random bytes, each after its filter type byte."""
    r = np.random.default_rng(seed)
    return b"".join(bytes([filters[y % len(filters)]]) +
                    r.integers(0, 256, w * bpp, dtype=np.uint8).tobytes()
                    for y in range(h))


def adam7_gray8(w, h, px):
    """Interlaced 8-bit gray rows, filter 0 (Pillow cannot write Adam7)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
              (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    out = b""
    for x0, y0, dx, dy in passes:
        xs = range(x0, w, dx)
        if not len(xs):
            continue
        for y in range(y0, h, dy):
            out += b"\0" + bytes(px[y][x] for x in xs)
    return out


def npy(arr, version=1, header=None):
    if header is None:
        header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (
            arr.dtype.str, arr.shape)
    pre = b"\x93NUMPY" + bytes([version, 0])
    n = 10 if version == 1 else 12
    pad = (64 - (n + len(header) + 1) % 64) % 64
    hdr = header.encode() + b" " * pad + b"\n"
    pre += struct.pack("<H" if version == 1 else "<I", len(hdr))
    # (version 3.0 is 2.0 with a UTF-8 header)
    return pre + hdr + (arr.tobytes() if arr is not None else b"")


def bmp_topdown(img):
    """A top-down BMP (negative height): rows stored first to last."""
    b = bytearray(pil(img, "BMP"))
    off, w, h = struct.unpack("<I", b[10:14])[0], img.width, img.height
    stride = (w * (len(img.getbands()) * 8) + 31) // 32 * 4
    rows = [bytes(b[off + i * stride:off + (i + 1) * stride]) for i in range(h)]
    b[off:off + stride * h] = b"".join(reversed(rows))
    b[22:26] = struct.pack("<i", -h)
    return bytes(b)


def jpeg_with_size(base, w, h):
    """Patches the size in the SOF marker of a JPEG."""
    b = bytearray(base)
    i = 2
    while i < len(b):
        m = b[i + 1]
        ln = struct.unpack(">H", b[i + 2:i + 4])[0]
        if m in (0xC0, 0xC1, 0xC2):
            b[i + 5:i + 9] = struct.pack(">HH", h, w)
            return bytes(b)
        i += 2 + ln
    raise ValueError("no SOF")


def images():
    os.makedirs(IMG, exist_ok=True)
    c = rgb(7, 5)
    g = c.convert("L")
    put(IMG, "png-gray.png", pil(g, "PNG"))
    put(IMG, "png-gray16.png", pil(Image.fromarray(
        (np.arange(35, dtype=np.uint16).reshape(5, 7) * 1800), "I;16"), "PNG"))
    put(IMG, "png-rgb.png", pil(c, "PNG"))
    put(IMG, "png-rgba.png", pil(c.convert("RGBA"), "PNG"))
    put(IMG, "png-la.png", pil(c.convert("LA"), "PNG"))
    put(IMG, "png-pal.png", pil(c.convert("P"), "PNG"))
    put(IMG, "png-pal-trns.png", pil(c.convert("P"), "PNG", transparency=3))
    put(IMG, "png-1bit.png", pil(g.convert("1"), "PNG"))
    put(IMG, "png-rgb16.png", png(3, 2, 16, 2, b"".join(
        b"\0" + bytes(range(y * 18, y * 18 + 18)) for y in range(2))))
    put(IMG, "png-adam7.png", png(9, 9, 8, 0, adam7_gray8(
        9, 9, [[(x * 29 + y * 7) & 255 for x in range(9)] for y in range(9)]),
        interlace=1))
    put(IMG, "png-1x1.png", png(1, 1, 8, 0, b"\0\x80"))
    # clconv's own PNG path (host/io/png.c): 8-bit gray, RGB, GA and RGBA
    # with every filter type, IDATs split anywhere (inside the zlib header
    # too), and the broken files it must refuse.
    every = [0, 1, 2, 3, 4]
    put(IMG, "png-fast-gray.png", png_idats(6, 5, 0, fast_rows(6, 5, 1, every), [1, 0, 5]))
    put(IMG, "png-fast-rgb.png", png_idats(5, 6, 2, fast_rows(5, 6, 3, every[::-1]), [2, 9]))
    put(IMG, "png-fast-la.png", png_idats(3, 5, 4, fast_rows(3, 5, 2, every), [7]))
    put(IMG, "png-fast-rgba.png", png_idats(4, 5, 6, fast_rows(4, 5, 4, [4, 3, 4, 1, 2]), [3, 3, 3]))
    put(IMG, "png-fast-w1-paeth.png", png_idats(1, 7, 0, fast_rows(1, 7, 1, [4]), []))
    put(IMG, "png-fast-noiend.png", png_idats(5, 4, 2, fast_rows(5, 4, 3, every), [4], tail=False))
    put(IMG, "bad-png-fast-filter5.png", png_idats(5, 4, 0, fast_rows(5, 4, 1, [1, 5]), []))
    put(IMG, "bad-png-fast-extra.png", png_idats(5, 4, 6, fast_rows(5, 4, 4, every) + b"\0" * 7, []))
    put(IMG, "bad-png-fast-cut.png", png_idats(9, 9, 2, fast_rows(9, 9, 3, every), [20, 20])[:80])
    put(IMG, "jpeg-baseline.jpg", pil(rgb(16, 16), "JPEG", quality=80))
    put(IMG, "jpeg-progressive.jpg",
        pil(rgb(16, 16), "JPEG", quality=80, progressive=True))
    put(IMG, "jpeg-gray.jpg", pil(g, "JPEG"))
    put(IMG, "jpeg-444.jpg", pil(rgb(9, 7), "JPEG", subsampling=0))
    put(IMG, "bmp-24.bmp", pil(c, "BMP"))
    put(IMG, "bmp-8pal.bmp", pil(c.convert("P"), "BMP"))
    put(IMG, "bmp-gray.bmp", pil(g, "BMP"))
    put(IMG, "bmp-1bit.bmp", pil(g.convert("1"), "BMP"))
    put(IMG, "bmp-32.bmp", pil(c.convert("RGBA"), "BMP"))
    put(IMG, "bmp-topdown.bmp", bmp_topdown(g))
    put(IMG, "tga-rgb.tga", pil(c, "TGA"))
    put(IMG, "tga-rle.tga", pil(c, "TGA", compression="tga_rle"))
    put(IMG, "tga-gray.tga", pil(g, "TGA"))
    put(IMG, "gif.gif", pil(c.convert("P"), "GIF"))
    f2 = rgb(7, 5, seed=2).convert("P")
    put(IMG, "gif-anim.gif", pil(c.convert("P"), "GIF", save_all=True,
                                  append_images=[f2], duration=10, loop=0))
    put(IMG, "pgm-p5.pgm", pil(g, "PPM"))
    put(IMG, "ppm-p6.ppm", pil(c, "PPM"))
    put(IMG, "pgm-16bit.pgm", b"P5\n3 2\n65535\n" + bytes(range(12)))
    put(IMG, "pgm-comment.pgm", b"P5\n# a comment\n2 2\n255\n\x00\x40\x80\xff")
    put(IMG, "hdr.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 3\n" +
        bytes([128, 64, 32, 129] * 6))
    a = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5
    put(IMG, "npy-f4.npy", npy(a))
    put(IMG, "npy-f8.npy", npy(a.astype(np.float64)))
    put(IMG, "npy-u1.npy", npy(np.arange(6, dtype=np.uint8).reshape(2, 3)))
    put(IMG, "npy-v2.npy", npy(a, version=2))
    put(IMG, "npy-nan-inf.npy", npy(np.array(
        [[np.nan, np.inf], [-np.inf, 1e38]], dtype=np.float32)))
    put(IMG, "npy-fortran.npy", npy(a, header="{'descr': '<f4', "
        "'fortran_order': True, 'shape': (3, 4), }"))
    put(IMG, "npy-3d.npy", npy(np.zeros((2, 2, 2), np.float32)))
    put(IMG, "npy-1d.npy", npy(np.zeros(4, np.float32)))
    put(IMG, "npy-i4.npy", npy(np.zeros((2, 2), np.int32)))
    put(IMG, "npy-short.npy", npy(a)[:-5])
    put(IMG, "npy-shape-last.npy", npy(a, header="{'descr': '<f4', "
        "'fortran_order': False, 'shape': (3, 4)}"))
    put(IMG, "npy-shape-first.npy", npy(a, header="{'shape': (3, 4), "
        "'descr': '<f4', 'fortran_order': False}"))
    # Truncated and corrupt.
    p = pil(c, "PNG")
    put(IMG, "bad-png-cut.png", p[:len(p) // 2])
    put(IMG, "bad-png-crc.png", p[:40] + bytes([p[40] ^ 0xFF]) + p[41:])
    j = pil(rgb(16, 16), "JPEG")
    put(IMG, "bad-jpeg-noeoi.jpg", j[:-2])
    put(IMG, "bad-jpeg-cut.jpg", j[:len(j) * 2 // 3])
    gf = pil(c.convert("P"), "GIF")
    put(IMG, "bad-gif-cut.gif", gf[:len(gf) - 8])
    bm = pil(c, "BMP")
    put(IMG, "bad-bmp-cut.bmp", bm[:60])
    # Cut in half: stb fills the missing pixels instead of failing.
    t = Image.fromarray((np.arange(32 * 24) % 251).astype(np.uint8)
                        .reshape(24, 32))
    for fmt, ext, im in (("PPM", "pgm", t), ("TGA", "tga", t.convert("RGB")),
                         ("GIF", "gif", t), ("BMP", "bmp", t)):
        d = pil(im, fmt)
        put(IMG, "bad-half." + ext, d[:len(d) // 2])
    put(IMG, "bad-empty", b"")
    put(IMG, "bad-text.txt", b"hello, not an image\n")
    put(IMG, "bad-tiff.tif", pil(g, "TIFF")[:200])
    put(IMG, "bad-webp", b"RIFF\x10\0\0\0WEBPVP8 ")
    put(IMG, "bad-pnm-header.pgm", b"P5\n-3 2\n255\n\0\0\0\0\0\0")
    put(IMG, "bad-png-zero.png", png(0, 3, 8, 0, b"\0\0\0"))
    # Bombs: a tiny header announcing a huge image.
    put(IMG, "bomb-png-20k.png", png(20000, 20000, 8, 0, b"\0" * 64))
    put(IMG, "bomb-png-16m.png", png(1 << 24, 1 << 24, 8, 6, b"\0" * 16))
    put(IMG, "bomb-png-wide.png", png((1 << 24), 2, 8, 0, b"\0" * 16))
    put(IMG, "bomb-png-zlib.png", png(1, 1, 8, 0, b"\0" * (3 << 20)))
    put(IMG, "bomb-jpeg-65k.jpg", jpeg_with_size(j, 65500, 65500))
    put(IMG, "bomb-jpeg-prog.jpg", jpeg_with_size(
        pil(rgb(16, 16), "JPEG", progressive=True), 65500, 65500))
    bm = bytearray(pil(c, "BMP"))
    bm[18:26] = struct.pack("<ii", 60000, -60000)
    put(IMG, "bomb-bmp.bmp", bytes(bm))
    gf = bytearray(pil(c.convert("P"), "GIF"))
    gf[6:10] = struct.pack("<HH", 65535, 65535)
    put(IMG, "bomb-gif.gif", bytes(gf))
    put(IMG, "bomb-pgm.pgm", b"P5\n100000 100000\n255\n\0\0\0\0")
    put(IMG, "bomb-ppm.ppm", b"P6 16777216 16777216 255\n\0\0\0")
    tg = bytearray(pil(c, "TGA"))
    tg[12:16] = struct.pack("<HH", 65535, 65535)
    put(IMG, "bomb-tga.tga", bytes(tg))
    put(IMG, "bomb-hdr.hdr",
        b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 16000000 +X 16000000\n\0\0\0\0")
    put(IMG, "bomb-npy.npy", npy(None, header="{'descr': '<f4', "
        "'fortran_order': False, 'shape': (100000, 100000), }"))
    put(IMG, "bomb-npy-overflow.npy", npy(None, header="{'descr': '<f8', "
        "'fortran_order': False, 'shape': (2147483647, 2147483647), }"))
    depth_and_plain()
    hostile_npy()
    tiffs()


def depth_and_plain():
    """16-bit PNG and PNM at full depth, plain PNM, PBM, header overflow,
    truncated GIF/TGA data, a motion-photo JPEG (issue 12)."""
    r = np.random.default_rng(12)
    g16 = r.integers(0, 65536, (5, 6), dtype=np.uint16)
    put(IMG, "png-gray16-full.png", pil(Image.fromarray(g16, "I;16"), "PNG"))
    rows16 = lambda a: b"".join(b"\0" + row.astype(">u2").tobytes()
                                for row in a.reshape(a.shape[0], -1))
    put(IMG, "png-rgb16-full.png", png(4, 3, 16, 2, rows16(
        r.integers(0, 65536, (3, 4, 3)))))
    put(IMG, "png-ga16.png", png(3, 3, 16, 4, rows16(r.integers(0, 65536, (3, 3, 2)))))
    put(IMG, "png-gray16-adam7.png", png(2, 2, 16, 0, b"\0\x12\x34" + b"\0\x56\x78" +
        b"\0\x9a\xbc" + b"\0\xde\xf0", interlace=1))
    put(IMG, "pgm-16-1234.pgm", b"P5\n1 1\n65535\n\x12\x34")
    put(IMG, "pgm-16-1000.pgm", b"P5\n2 2\n1000\n\x03\xe8\x00\x01\x01\x00\x04\x00")
    put(IMG, "ppm-16.ppm", b"P6\n2 1\n65535\n" + bytes(range(12)))
    put(IMG, "pgm-maxval15.pgm", b"P5\n3 1\n15\n\x00\x07\x0f")
    put(IMG, "ppm-maxval100.ppm", b"P6\n2 1\n100\n\x00\x32\x64\x10\x20\x30")
    put(IMG, "pgm-p2.pgm", b"P2\n# plain\n3 2\n255\n0 128 255\n1 2 3\n")
    put(IMG, "pgm-p2-16.pgm", b"P2\n2 1\n65535\n0 65535\n")
    put(IMG, "ppm-p3.ppm", b"P3\n2 1\n255\n255 0 0 0 0 255\n")
    put(IMG, "ppm-p3-15.ppm", b"P3 1 1 15 15 7 0")
    put(IMG, "pbm-p1.pbm", b"P1\n3 2\n0 1 0\n101\n")
    put(IMG, "pbm-p4.pbm", b"P4\n10 2\n\xa5\x40\x5a\x80")
    put(IMG, "bad-pnm-w2e32p1.pgm", b"P5\n4294967297 1\n255\n\x07")
    put(IMG, "bad-pnm-h-huge.pgm", b"P2\n1 99999999999999999999999\n255\n7\n")
    put(IMG, "bad-pnm-maxval65536.pgm", b"P5\n1 1\n65536\n\x00\x07")
    put(IMG, "bad-pnm-p2-cut.pgm", b"P2\n3 2\n255\n0 128 255\n1 2")
    put(IMG, "bad-pnm-p2-over.pgm", b"P2\n2 1\n100\n5 101\n")
    put(IMG, "bad-pnm-p4-cut.pbm", b"P4\n10 2\n\xa5\x40\x5a")
    put(IMG, "bad-pnm-16-cut.pgm", b"P5\n2 2\n65535\n" + bytes(7))
    c = rgb(12, 9, seed=5)
    gf = pil(c.quantize(64), "GIF")
    for k in (20, 2, 1):
        put(IMG, "bad-gif-blocks-%d.gif" % k, gf[:len(gf) - k])
    tg = pil(c, "TGA", compression="tga_rle")
    put(IMG, "bad-tga-rle-cut.tga", tg[:len(tg) - 26 - 9])
    j = pil(rgb(16, 16, seed=6), "JPEG", quality=85)
    put(IMG, "jpeg-motion-photo.jpg", j + b"\0\0\0\x18ftypmp42" + b"\xff\xd8\xff\xe0\0\x10" +
        bytes(40) + b"\xff\xda\0\x08" + bytes(30) + b"\xff\xd9\xff\xda")
    put(IMG, "bad-jpeg-cut-in-scan.jpg", j[:len(j) - 40])


def hostile_npy():
    """Headers a substring parser misread (issue 12)."""
    i4 = (np.arange(12).reshape(3, 4) * 1000 + 7).astype("<i4")
    for name, header in (
            ("i4-f4-key", "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), 'x': '<f4'}"),
            ("f4-field", "{'descr': [('<f4', '<i4')], 'fortran_order': False, 'shape': (3, 4), }"),
            ("structured", "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (3, 2), }"),
            ("subarray", "{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (3, 2), }"),
            ("dup-key", "{'descr': '<i4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"),
            ("shape-neg", "{'descr': '<i4', 'fortran_order': False, 'shape': (-3, 4), }"),
            ("shape-0d", "{'descr': '<i4', 'fortran_order': False, 'shape': (), }"),
            ("shape-big", "{'descr': '<i4', 'fortran_order': False, 'shape': (4294967297, 4294967297), }"),
            ("not-dict", "['descr', '<f4']"),
            ("unclosed", "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4"),
            ("dq-noc", '{"descr": "<i4", "fortran_order": False, "shape": (3, 4)}')):
        put(IMG, "npy-hostile-" + name + ".npy", npy(i4, header=header))
    put(IMG, "npy-be-f4.npy", npy(np.arange(6, dtype=">f4").reshape(2, 3)))
    put(IMG, "npy-i2.npy", npy(np.arange(-3, 3, dtype="<i2").reshape(2, 3)))
    put(IMG, "npy-u2-fortran.npy", npy(np.arange(6, dtype="<u2").reshape(2, 3),
        header="{'descr': '<u2', 'fortran_order': True, 'shape': (2, 3), }"))
    put(IMG, "npy-i4-inexact.npy", npy(np.array([[1, 2**24 + 1]], dtype="<i4")))
    put(IMG, "npy-v3.npy", npy(np.ones((2, 2), np.float32), version=3))
    b = bytearray(npy(i4))
    b[8:10] = struct.pack("<H", 60000)
    put(IMG, "npy-hlen-past-end.npy", bytes(b))


FILTERS = {
    "identity": "identity", "sharpen": "sharpen", "blur": "blur",
    "outline": "outline", "emboss": "emboss", "sobel-left": "sobel-left",
    "sobel-right": "sobel-right", "sobel-top": "sobel-top",
    "sobel-bottom": "sobel-bottom", "box5": "box:5", "box1": "box:1",
    "box255": "box:255", "gauss7": "gaussian:7:1.5", "gauss9": "gaussian:9",
    "gauss2": "gaussian:2", "inline-sharpen": "0,-1,0;-1,5,-1;0,-1,0",
    "inline-spaces": "1 2 3; 4 5 6", "inline-1x1": "7",
    "inline-exp": "1e-3,+.5E2,-0.25;1e30,-1e30,0", "inline-row": "1,2,3,4,5",
    "inline-col": "1;2;3;4", "inline-tabs": "1\t2;\t3 4",
    "file-comments": "# a comment\n1 2 1\n2 4 2 # middle\n1 2 1\n",
    "file-crlf": "1,0,-1\r\n2,0,-2\r\n1,0,-1\r\n",
    "file-hex": "0x10 0x1p-2\n1 2\n",
    "bad-empty": "", "bad-semis": ";;;", "bad-ragged": "1,2;3",
    "bad-nan": "1 nan\n2 3\n", "bad-inf": "1e400", "bad-infinity": "infinity",
    "bad-big-tap": "1e31", "bad-word": "1 x 2", "bad-box0": "box:0",
    "bad-box256": "box:256", "bad-box-sigma": "box:3:1",
    "bad-gauss-sigma0": "gaussian:3:0", "bad-gauss-neg": "gaussian:3:-1",
    "bad-gauss-tiny": "gaussian:3:1e-300",
    "bad-gauss-even-small": "gaussian:4:0.01",
    "bad-newline-unknown": "foo\nbar", "bad-gauss-nosize": "gaussian:",
    "bad-gauss-junk": "gaussian:5:1.5x", "bad-box-space": "box: 5",
    "bad-unknown": "sharpen2", "bad-commas": "1,,2;;3,4",
    "bad-256-cols": ",".join(["1"] * 256),
    "bad-256-rows": "\n".join(["1"] * 256),
    "ok-255-cols": ",".join(["0"] * 255),
    "bad-binary": "1 2\0 3\n", "bad-at": "@", "bad-dangling-e": "1e",
    "bad-sign": "+-1",
}


def tiff(w, h, bps, spp, photo, fmt=1, planar=1, tile=None, data=None,
         bo="<", comp=1, extra=(), next_off=0):
    """A one-directory classic TIFF built by hand (Pillow cannot write planar,
    tiled, signed or big-endian ones): the pixel chunks (`data`, a list of
    byte strings: strips, or tiles when `tile` = (tw, th)) after the header,
    then the directory. `extra`: more (tag, type, count, value) entries."""
    n = len(data)
    head = struct.pack(bo + "2sHI", b"II" if bo == "<" else b"MM", 42, 0)
    body, offs = b"", []
    for d in data:
        offs.append(8 + len(body))
        body += d
    arr_at = 8 + len(body)
    arrays = struct.pack(bo + "%dI" % n, *offs) + \
        struct.pack(bo + "%dI" % n, *[len(d) for d in data])
    bps_at = arr_at + len(arrays)
    arrays += struct.pack(bo + "%dH" % max(spp, 2), *([bps] * max(spp, 2)))
    ifd_at = 8 + len(body) + len(arrays)
    where = lambda k: (arr_at + 4 * k * n) if n > 1 else \
        struct.unpack(bo + "I", arrays[4 * k * n:4 * k * n + 4])[0]
    e = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, spp, bps if spp == 1 else bps_at),
         (259, 3, 1, comp), (262, 3, 1, photo), (277, 3, 1, spp),
         (284, 3, 1, planar), (339, 3, 1, fmt)] + list(extra)
    if tile:
        e += [(322, 4, 1, tile[0]), (323, 4, 1, tile[1]), (324, 4, n, where(0)),
              (325, 4, n, where(1))]
    else:
        e += [(273, 4, n, where(0)), (278, 4, 1, -(-h // n) if planar == 1
                                         else -(-h * spp // n)),
              (279, 4, n, where(1))]
    ifd = struct.pack(bo + "H", len(e))
    for tag, typ, count, value in sorted(e):
        v = struct.pack(bo + "HH", bps, bps) if tag == 258 and count == 2 else \
            struct.pack(bo + ("H" if typ == 3 and count == 1 else "I"), value)
        ifd += struct.pack(bo + "HHI", tag, typ, count) + v.ljust(4, b"\0")
    ifd += struct.pack(bo + "I", next_off)
    head = head[:4] + struct.pack(bo + "I", ifd_at)
    return head + body + arrays + ifd


def tiffs():
    """TIFF seeds (issue 13): every layout tiff.c reads, what it refuses,
    truncated ones and header bombs."""
    r = np.random.default_rng(13)
    b = lambda k: r.integers(0, 256, k, dtype=np.uint8).tobytes()
    g = Image.fromarray(r.integers(0, 256, (12, 16), dtype=np.uint8))
    put(IMG, "tiff-gray8.tif", pil(g, "TIFF"))
    put(IMG, "tiff-rgb-lzw.tif", pil(rgb(16, 12), "TIFF", compression="tiff_lzw"))
    put(IMG, "tiff-rgba-deflate.tif", pil(rgb(16, 12).convert("RGBA"), "TIFF",
                                          compression="tiff_adobe_deflate"))
    put(IMG, "tiff-rgb-jpeg.tif", pil(rgb(16, 16), "TIFF", compression="jpeg"))
    put(IMG, "tiff-packbits.tif", pil(g, "TIFF", compression="packbits"))
    put(IMG, "tiff-16.tif", tiff(8, 6, 16, 1, 1, data=[b(48), b(48)]))
    put(IMG, "tiff-16-be.tif", tiff(8, 6, 16, 1, 1, data=[b(96)], bo=">"))
    put(IMG, "tiff-s16.tif", tiff(8, 6, 16, 1, 1, fmt=2, data=[b(96)]))
    put(IMG, "tiff-s8.tif", tiff(8, 6, 8, 1, 1, fmt=2, data=[b(48)]))
    put(IMG, "tiff-float.tif", tiff(8, 6, 32, 1, 1, fmt=3, data=[
        np.linspace(-2, 2, 48).astype("<f4").tobytes()]))
    put(IMG, "tiff-float-nan.tif", tiff(4, 2, 32, 1, 1, fmt=3, data=[
        np.array([np.nan, np.inf, -np.inf, 0, 1e-42, -0.0, 1, 2], "<f4").tobytes()]))
    put(IMG, "tiff-rgb16-planar.tif", tiff(8, 6, 16, 3, 2, planar=2,
                                           data=[b(96), b(96), b(96)]))
    put(IMG, "tiff-rgbf-planar.tif", tiff(4, 4, 32, 3, 2, fmt=3, planar=2, data=[
        np.linspace(0, 1, 16).astype("<f4").tobytes()] * 3))
    put(IMG, "tiff-tiled.tif", tiff(20, 20, 8, 1, 1, tile=(16, 16),
                                    data=[b(256) for _ in range(4)]))
    put(IMG, "tiff-tiled-rgb.tif", tiff(17, 17, 8, 3, 2, tile=(16, 16),
                                        data=[b(768) for _ in range(4)]))
    put(IMG, "tiff-tiled-planar.tif", tiff(17, 9, 16, 3, 2, planar=2,
                                           tile=(16, 16),
                                           data=[b(512) for _ in range(6)]))
    put(IMG, "tiff-deflate16.tif", tiff(8, 6, 16, 1, 1, comp=8,
                                        data=[zlib.compress(b(96))]))
    put(IMG, "tiff-graya.tif", tiff(8, 6, 8, 2, 1, data=[b(96)],
                                    extra=[(338, 3, 1, 2)]))
    # Refused: two pages, 1-bit, CMYK, complex, float64, int32.
    one = tiff(8, 6, 8, 1, 1, data=[b(48)])
    put(IMG, "tiff-bad-2pages.tif", one[:-4] + struct.pack("<I", 8 + 48))
    put(IMG, "tiff-bad-1bit.tif", pil(g.convert("1"), "TIFF"))
    put(IMG, "tiff-bad-cmyk.tif", pil(rgb(8, 6).convert("CMYK"), "TIFF"))
    put(IMG, "tiff-palette.tif", pil(rgb(16, 12).quantize(40), "TIFF"))
    put(IMG, "tiff-bad-complex.tif", tiff(4, 2, 64, 1, 1, fmt=6, data=[b(64)]))
    put(IMG, "tiff-bad-f64.tif", tiff(4, 2, 64, 1, 1, fmt=3, data=[b(64)]))
    put(IMG, "tiff-bad-i32.tif", tiff(4, 2, 32, 2, 1, fmt=2, data=[b(64)]))
    # Truncated data, strips past the end, a cut header.
    t = pil(g, "TIFF", compression="tiff_lzw")
    put(IMG, "tiff-bad-cut.tif", t[:len(t) // 2])
    put(IMG, "tiff-bad-header.tif", t[:10])
    put(IMG, "tiff-bad-short-strip.tif", tiff(8, 6, 16, 1, 1, data=[b(20)]))
    put(IMG, "tiff-bad-deflate.tif", tiff(8, 6, 16, 1, 1, comp=8,
                                          data=[zlib.compress(b(96))[:30]]))
    # Bombs: huge sizes, a huge strip count, many pages, a directory loop.
    put(IMG, "bomb-tiff-100k.tif", tiff(100000, 100000, 8, 1, 1, data=[b(16)]))
    put(IMG, "bomb-tiff-4g.tif", tiff(65536, 65536, 32, 4, 2, fmt=3, data=[b(16)]))
    put(IMG, "bomb-tiff-tiles.tif", tiff(1 << 20, 1 << 20, 8, 1, 1, tile=(16, 16),
                                         data=[b(16)]))
    e = [(256, 4, 1, 64), (257, 4, 1, 64), (258, 3, 1, 8), (259, 3, 1, 1),
         (262, 3, 1, 1), (273, 4, 1 << 28, 8), (277, 3, 1, 1), (278, 4, 1, 1),
         (279, 4, 1 << 28, 8)]
    put(IMG, "bomb-tiff-strips.tif", struct.pack("<2sHIH", b"II", 42, 8, len(e)) +
        b"".join(struct.pack("<HHII", *x) for x in e) + bytes(68))
    pages = bytearray(struct.pack("<2sHI", b"II", 42, 8))
    for i in range(500):
        pages += struct.pack("<HI", 0, len(pages) + 6 if i < 499 else 0)
    put(IMG, "bomb-tiff-500pages.tif", bytes(pages))
    put(IMG, "bomb-tiff-loop.tif", one[:-4] + struct.pack("<I", one.index(
        struct.pack("<H", 11), 8 + 48)))
    stacks()


def stacks():
    """Multi-page stacks and colour TIFF (issue 13's leftovers): pages of
    mixed sizes and kinds (gray 8-bit, RGB, 16-bit, float), a colour page
    with alpha, and a stack whose third page clconv refuses."""
    r = np.random.default_rng(131)
    g = Image.fromarray(r.integers(0, 256, (7, 9), dtype=np.uint8))
    c = Image.fromarray(r.integers(0, 256, (5, 4, 3), dtype=np.uint8), "RGB")
    w16 = Image.fromarray(r.integers(0, 65536, (3, 5), dtype=np.uint16), "I;16")
    f = Image.fromarray(r.standard_normal((4, 6)).astype(np.float32), "F")
    put(IMG, "tiff-stack-mixed.tif", pil(g, "TIFF", save_all=True,
                                         append_images=[c, w16, f]))
    rgba = Image.fromarray(r.integers(0, 256, (6, 5, 4), dtype=np.uint8), "RGBA")
    put(IMG, "tiff-stack-rgba.tif", pil(rgba, "TIFF", save_all=True,
                                        append_images=[rgba.rotate(90, expand=True)],
                                        compression="tiff_adobe_deflate"))
    put(IMG, "tiff-stack-bad-page.tif", pil(g, "TIFF", save_all=True,
                                            append_images=[c, g.convert("1")]))


def filters():
    os.makedirs(FLT, exist_ok=True)
    for k, v in FILTERS.items():
        put(FLT, k, v)


if __name__ == "__main__":
    images()
    filters()
