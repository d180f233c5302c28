#!/usr/bin/python3
"""test_device_map.py CLCONV — the device map from the command line (issue 14
item 2, docs/kernels.md "The device map").

On the default OpenCL device, every output written with the device map
(CLCONV_DEVICE_MAP=1) must be byte for byte the file written without it
(CLCONV_DEVICE_MAP=0, the host's mapping), with the same NaN and clipped
counts in --json: 8-bit and float inputs (a .npy with .5 ties, negatives,
values past 255 and 65535, NaN and infinities), every --map, 8- and 16-bit
PNG and PGM, --scale/--offset, both transfer modes (CLCONV_ZERO_COPY),
banded and not; TIFF (8 and 16 bits), JPEG, BMP and TGA too.
Batches under -j 2 with CLCONV_ZERO_COPY=0 (two images in flight on the
device, in bands taking turns; pipelined, staged and serial) are byte for byte
the host-mapped batch's.
Also: it is the default (zero-copy or not); --verify full and
--side-by-side keep the floats; --json's download_bytes is a quarter (a
half) of the float plane's; and the spot check still catches a wrong
device result (CLCONV_FAULT=perturb): exit 3 and NAME.mismatch on an
explicit device, the reference's output under auto.
"""
import json
import os
import subprocess
import sys
import tempfile

import testenv

CLCONV, SEED = testenv.start("test_device_map.py")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

rng = np.random.default_rng(SEED)
WORK = tempfile.mkdtemp(prefix="clconv-dmap-")
check = testenv.Checks("test_device_map.py")


def path(name):
    return os.path.join(WORK, name)


def run(args, env=None, device="opencl"):
    e = dict(os.environ)
    e.pop("CLCONV_DEVICE_MAP", None)
    e.pop("CLCONV_FAULT", None)
    e.update(env or {})
    cmd = [CLCONV, "-q", "--json", "--device", device] + [str(a) for a in args]
    return cmd, subprocess.run(cmd, capture_output=True, text=True, env=e)


def image_report(p):
    try:
        return json.loads(p.stdout)["images"][0]
    except (ValueError, KeyError, IndexError):
        return None


# A device at all?
Image.fromarray(rng.integers(0, 256, (9, 7), dtype=np.uint8)).save(path("probe.png"))
_, p = run(["-f", "sharpen", path("probe.png"), "-o", path("probe-out.png")])
rep = image_report(p)
if p.returncode != 0 or rep is None or rep.get("device") == "cpu":
    if os.environ.get("CLCONV_REQUIRE_DEVICE") == "1":
        print("FAIL: no OpenCL device, and CLCONV_REQUIRE_DEVICE=1:", p.stderr.strip())
        sys.exit(1)
    print("skipped: no OpenCL device:", p.stderr.strip())
    sys.exit(77)

# Inputs: an 8-bit PNG of an awkward size, and a float .npy of awkward values.
W, H = int(rng.integers(60, 140)), int(rng.integers(40, 100))
Image.fromarray(rng.integers(0, 256, (H, W), dtype=np.uint8)).save(path("u8.png"))
f = (rng.random((H, W)) * 600 - 150).astype(np.float32)
special = np.array([0.5, 1.5, 2.5, 254.5, 255.5, 256.5, -0.5, -0.4999999, 65534.5,
                    65535.5, 70000, -3, np.nan, np.inf, -np.inf, -0.0, 1e30],
                   np.float32)
mask = rng.random((H, W)) < 0.3
f[mask] = rng.choice(special, int(mask.sum()))
np.save(path("f.npy"), f)

RANDOM5x4 = ";".join(",".join(f"{v:.3f}" for v in row)
                     for row in rng.random((5, 4)) * 2 - 1)
FILTERS = ["identity", "sobel-left", "blur", RANDOM5x4]
AFFINE = [[], ["--scale", "0.5", "--offset", "128.25"]]
n = 0
for src in ("u8.png", "f.npy"):
    for flt in FILTERS:
        for m in ("clamp", "abs", "normalize"):
            for depth, ext in ((8, "png"), (16, "png"), (8, "pgm"), (16, "pgm")):
                aff = AFFINE[int(rng.integers(0, 2))]
                zc = ["0", None][int(rng.integers(0, 2))]
                # Bands: clamp and abs map band by band, normalize declines.
                bands = ["", "7"][int(rng.integers(0, 2))]
                outs, reps = [], []
                for dm in ("0", "1"):
                    env = {"CLCONV_DEVICE_MAP": dm}
                    if zc is not None:
                        env["CLCONV_ZERO_COPY"] = zc
                    if bands:
                        env["CLCONV_BAND_ROWS"] = bands
                    out = path(f"o{n}-{dm}.{ext}")
                    cmd, p = run(["-f", flt, "--map", m, "--depth", depth] + aff +
                                 [path(src), "-o", out], env)
                    what = f"{' '.join(cmd)} (CLCONV_DEVICE_MAP={dm}, " \
                           f"CLCONV_ZERO_COPY={zc})"
                    check(p.returncode == 0, f"{what}: exit {p.returncode}: {p.stderr}")
                    r = image_report(p)
                    check(r is not None and r["device"] != "cpu",
                          f"{what}: not on the device")
                    reps.append(r or {})
                    outs.append(open(out, "rb").read() if os.path.exists(out) else b"")
                n += 1
                what = f"{src} -f {flt} --map {m} --depth {depth} {' '.join(aff)} .{ext} " \
                       f"(CLCONV_ZERO_COPY={zc}, CLCONV_BAND_ROWS={bands})"
                check(outs[0] == outs[1] and outs[0],
                      f"{what}: the file differs with the device map")
                for key in ("nan_pixels", "clipped"):
                    check(reps[0].get(key) == reps[1].get(key),
                          f"{what}: {key} {reps[0].get(key)} on the host, "
                          f"{reps[1].get(key)} with the device map")
                check(reps[0].get("device_map") is False,
                      f"{what}: CLCONV_DEVICE_MAP=0 still mapped on the device")
                check(reps[1].get("device_map") is (not (bands and m == "normalize")),
                      f"{what}: CLCONV_DEVICE_MAP=1: device_map {reps[1].get('device_map')}")
                check(reps[0].get("download_bytes") == W * H * 4,
                      f"{what}: float download_bytes {reps[0].get('download_bytes')}")
                got = reps[1].get("download_bytes") or 0
                check(bands and m == "normalize" or
                      W * H * depth // 8 <= got < W * H * depth // 8 + 4096,
                      f"{what}: mapped download_bytes {got} for {W}x{H} at {depth} bits")

# The other integer formats: TIFF (8 and 16 bits), JPEG, BMP, TGA.
for ext, depth in (("tif", 8), ("tif", 16), ("jpg", 8), ("bmp", 8), ("tga", 8)):
    files = []
    for dm in ("0", "1"):
        out = path(f"fmt-{dm}-{depth}.{ext}")
        cmd, p = run(["-f", "sobel-left", "--map", "abs", "--depth", depth, path("f.npy"),
                      "-o", out], {"CLCONV_DEVICE_MAP": dm})
        check(p.returncode == 0 and (image_report(p) or {}).get("device_map") is (dm == "1"),
              f"{' '.join(cmd)} (CLCONV_DEVICE_MAP={dm}): exit {p.returncode} {p.stderr}")
        files.append(open(out, "rb").read() if os.path.exists(out) else b"")
    check(files[0] == files[1] and files[0],
          f".{ext} at {depth} bits differs with the device map")

# The default: on, with zero-copy and without; --verify full, --side-by-side
# and float outputs read the floats.
for zc in ("0", None):
    _, p = run(["-f", "sobel-left", path("u8.png"), "-o", path("d1.png")],
               {"CLCONV_ZERO_COPY": zc} if zc else {})
    check((image_report(p) or {}).get("device_map") is True,
          f"CLCONV_ZERO_COPY={zc}: the device map is not the default")
_, p = run(["-f", "sobel-left", "--verify", "full", path("u8.png"), "-o", path("d2.png")],
           {"CLCONV_DEVICE_MAP": "1"})
check((image_report(p) or {}).get("device_map") is False,
      "--verify full still used the device map")
_, p = run(["-f", "sobel-left", "--side-by-side", path("sbs.png"), path("u8.png"), "-o",
            path("d3.png")], {"CLCONV_DEVICE_MAP": "1"})
check((image_report(p) or {}).get("device_map") is False,
      "--side-by-side still used the device map")
_, p = run(["-f", "sobel-left", path("u8.png"), "-o", path("d4.npy")],
           {"CLCONV_DEVICE_MAP": "1"})
check((image_report(p) or {}).get("device_map") is False, ".npy output was mapped")

# The spot check keeps its strength: a wrong float at a sampled pixel
# (CLCONV_FAULT=perturb) is caught on the device map's path too.
env = {"CLCONV_DEVICE_MAP": "1", "CLCONV_FAULT": "perturb"}
out = path("perturbed.png")
cmd, p = run(["-f", "sobel-left", path("u8.png"), "-o", out], env)
check(p.returncode == 3 and os.path.exists(out + ".mismatch") and not os.path.exists(out),
      f"{' '.join(cmd)} with {env}: exit {p.returncode}, expected 3 and a .mismatch "
      f"file: {p.stderr.strip()}")
check("spot check" in p.stderr, f"perturbed: the message does not name the spot check: "
      f"{p.stderr.strip()}")
out = path("perturbed-auto.png")
cmd, p = run(["-f", "sobel-left", path("u8.png"), "-o", out], env, device="auto")
_, q = run(["-f", "sobel-left", path("u8.png"), "-o", path("cpu.png")], device="cpu")
check(p.returncode == 0 and os.path.exists(out) and
      open(out, "rb").read() == open(path("cpu.png"), "rb").read(),
      f"{' '.join(cmd)} with {env}: exit {p.returncode}, the output is not the "
      f"reference's: {p.stderr.strip()}")

# Two images in flight on one device (the transfer pipeline: CLCONV_ZERO_COPY=0,
# -j 2, two slots), each in several bands that take turns: every mapped file of
# the batch byte for byte the host's mapping of the same batch
# (CLCONV_DEVICE_MAP=0). Map buffers or kernels shared between the slots, or
# between a slot's two turns of band buffers, give another image's or band's
# samples. Pipelined, through pinned staging, and the serial path.
BATCH = []
for i in range(12):
    bw, bh = [(1, 1), (1, 37), (53, 1), (97, 61), (160, 131), (211, 149)][i % 6]
    if i >= 6:
        bw, bh = int(rng.integers(90, 230)), int(rng.integers(70, 170))
    if i % 3 == 2:
        a = (rng.random((bh, bw)) * 700 - 200).astype(np.float32)
        a[rng.random((bh, bw)) < 0.05] = np.nan
        np.save(path(f"b{i:02d}.npy"), a)
        BATCH.append(path(f"b{i:02d}.npy"))
    else:
        Image.fromarray(rng.integers(0, 256, (bh, bw), dtype=np.uint8)).save(
            path(f"b{i:02d}.png"))
        BATCH.append(path(f"b{i:02d}.png"))
BATCH_CASES = [
    (["-f", RANDOM5x4, "--map", "clamp", "--depth", "8"], "png", "5"),
    (["-f", "sobel-left", "--map", "abs", "--depth", "16", "--border", "reflect"], "pgm", "3"),
    (["-f", "sharpen", "--map", "clamp", "--depth", "16", "--scale", "0.5", "--offset",
      "128.25"], "png", "7"),
    (["-f", "gaussian:5", "--map", "normalize", "--depth", "8", "--stride", "2"], "pgm", ""),
]
MODES = [("pipelined", {"CLCONV_ZERO_COPY": "0"}),
         ("staged", {"CLCONV_ZERO_COPY": "0", "CLCONV_STAGING": "1"}),
         ("serial", {"CLCONV_ZERO_COPY": "0", "CLCONV_PIPELINE": "0"})]
nb = 0
for ci, (opts, ext, bands) in enumerate(BATCH_CASES):
    for label, menv in MODES:
        files, reps = [], []
        for dm in ("0", "1"):
            env = dict(menv, CLCONV_DEVICE_MAP=dm)
            if bands:
                env["CLCONV_BAND_ROWS"] = bands
            out = path(f"batch-{ci}-{label}-{dm}")
            cmd, p = run(opts + ["-j", "2", "--format", ext, "-o", out + "/"] + BATCH, env)
            what = f"{' '.join(cmd[:12])}... ({label}, CLCONV_DEVICE_MAP={dm}, " \
                   f"CLCONV_BAND_ROWS={bands})"
            check(p.returncode == 0, f"{what}: exit {p.returncode}: {p.stderr.strip()[-400:]}")
            try:
                ims = {im["input"]: im for im in json.loads(p.stdout)["images"]}
            except (ValueError, KeyError, TypeError):
                ims = {}
            got = {}
            for b in BATCH:
                o = os.path.join(out, os.path.splitext(os.path.basename(b))[0] + "." + ext)
                got[b] = open(o, "rb").read() if os.path.exists(o) else b""
                im = ims.get(b, {})
                check(im.get("device") not in (None, "cpu"),
                      f"{what}: {b} not on the device ({im.get('error')})")
                if dm == "1":
                    check(im.get("device_map") is True,
                          f"{what}: {b}: device_map {im.get('device_map')}")
            files.append(got)
            reps.append(ims)
        for b in BATCH:
            nb += 1
            check(files[0][b] and files[0][b] == files[1][b],
                  f"batch case {ci} ({' '.join(opts)}, .{ext}, {label}, "
                  f"CLCONV_BAND_ROWS={bands}): {os.path.basename(b)} differs with the device "
                  f"map under -j 2")
            for key in ("nan_pixels", "clipped"):
                a, c = reps[0].get(b, {}).get(key), reps[1].get(b, {}).get(key)
                check(a == c, f"batch case {ci} {label}: {os.path.basename(b)}: {key} {a} on "
                      f"the host, {c} with the device map")

print(f"test_device_map.py: {n} outputs compared, {W}x{H}; {nb} batch outputs under -j 2")
check.finish()
