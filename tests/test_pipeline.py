"""test_pipeline.py — the transfer pipeline of devices without host-unified
memory (docs/pipeline.md): batches under -j 2 and -j 3, many images of awkward
sizes, forced small bands, every border mode, strides, dilations, even and
rectangular filters, the padded and border-on-device paths and the FFT, run
with CLCONV_ZERO_COPY=0 (the pipeline: several images in flight, three queues;
with CLCONV_STAGING=1 through pinned staging, which CPU devices skip by
default) and with CLCONV_PIPELINE=0 (the serial path), and compared
bit for bit with the same batch with zero-copy (host memory wrapped: no
transfers at all) and with the CPU reference (exactly for integer filters on
8-bit images, within DESIGN.md's tolerance otherwise).

usage: test_pipeline.py CLCONV [--reduced]
  --reduced: a few images and two configurations (for Oclgrind, slow);
  CLCONV_TEST_DEVICE picks the device (default opencl), CLCONV_TEST_WRAPPER a
  command to run clconv under (Oclgrind; there CLCONV_ZERO_COPY=1 changes
  nothing, the device has no host memory, so every run is pipelined). Exits 77
  without an OpenCL device unless CLCONV_REQUIRE_DEVICE=1."""
import json
import os
import subprocess
import sys
import tempfile

import testenv

CLCONV, SEED = testenv.start("test_pipeline")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REDUCED = "--reduced" in sys.argv[2:]
DEVICE = os.environ.get("CLCONV_TEST_DEVICE", "opencl")
check = testenv.Checks("test_pipeline")
rng = np.random.default_rng(SEED)


RUNS = 0


def run(args, env=None):
    e = dict(os.environ)
    for k in ("CLCONV_ZERO_COPY", "CLCONV_PIPELINE", "CLCONV_STAGING", "CLCONV_BAND_ROWS",
              "CLCONV_HOST_PAD", "CLCONV_KERNEL"):
        e.pop(k, None)
    e.update(env or {})
    # CLCONV_TEST_WRAPPER: a command line to run clconv under (Oclgrind),
    # "%n" in it numbered per run (its --log file). Any report fails.
    global RUNS
    RUNS += 1
    wrap = [w.replace("%n", str(RUNS)) for w in os.environ.get("CLCONV_TEST_WRAPPER", "").split()]
    p = subprocess.run(wrap + [CLCONV] + args, capture_output=True, text=True, env=e,
                       timeout=1200)
    if wrap:
        logs = [w.split("=", 1)[-1] for i, w in enumerate(wrap)
                if w.startswith("--log=")] + [wrap[i + 1] for i, w in enumerate(wrap[:-1])
                                              if w == "--log"]
        reports = [ln for ln in p.stderr.splitlines() if ln.startswith("Oclgrind - ")]
        for lg in logs:
            if os.path.exists(lg) and os.path.getsize(lg):
                reports.append(open(lg).read(4000))
        check(not reports, f"{' '.join(args[:4])}...: the wrapper reported: {reports[:3]}")
    return p.returncode, p.stdout, p.stderr


rc, so, _ = run(["--list-devices"])
if "opencl:" not in so:
    print("skipped: no OpenCL device")
    sys.exit(1 if os.environ.get("CLCONV_REQUIRE_DEVICE") == "1" else 77)

# Awkward sizes: 1x1, a row, a column, primes, one larger than many bands,
# filters larger than the image; 8-bit PNGs and float .npy inputs.
SIZES = [(1, 1), (1, 37), (29, 1), (2, 3), (7, 5), (13, 97), (61, 17), (101, 89),
         (127, 131), (251, 67), (67, 199), (311, 173)]
if REDUCED:
    SIZES = [(1, 1), (13, 17), (7, 29), (37, 11), (61, 43)]
tmp = tempfile.mkdtemp(prefix="clconv-pipe-")
inputs = []
for i, (w, h) in enumerate(SIZES):
    if i % 3 == 2:
        p = os.path.join(tmp, f"in{i:02d}.npy")
        np.save(p, (rng.random((h, w), dtype=np.float32) * 300 - 20).astype(np.float32))
    else:
        p = os.path.join(tmp, f"in{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(p)
    inputs.append(p)


def filter_file(name, kh, kw, integer):
    taps = rng.integers(-4, 5, (kh, kw)) if integer else rng.normal(0, 1, (kh, kw))
    taps[kh // 2, kw // 2] = 3 if integer else taps[kh // 2, kw // 2]
    p = os.path.join(tmp, name)
    with open(p, "w") as fh:
        for row in taps:
            fh.write(" ".join(repr(float(t)) if not integer else str(int(t)) for t in row) + "\n")
    return p, integer


# (name, options, env beyond the pipeline's, integer filter)
f_even = filter_file("even4x6.txt", 4, 6, True)
f_big = filter_file("big9x7.txt", 9, 7, False)
f_tall = filter_file("tall11x1.txt", 11, 1, True)
f_fft = filter_file("fft21.txt", 21, 21, True)
CONFIGS = [
    ("sharpen", ["-f", "sharpen"], {}, True),
    ("even-reflect-s2", ["-f", "@" + f_even[0], "--border", "reflect", "--stride", "2"], {}, True),
    ("big-wrap-d2", ["-f", "@" + f_big[0], "--border", "wrap", "--dilation", "2"], {}, False),
    ("tall-edge", ["-f", "@" + f_tall[0], "--border", "edge"], {}, True),
    ("gauss-sym-s3", ["-f", "gaussian:7", "--border", "symmetric", "--stride", "3"], {}, False),
    ("box-const", ["-f", "box:9", "--border", "constant", "--cval", "17.5", "--padding", "same"],
     {}, False),
    ("hostpad-sobel", ["-f", "sobel-left", "--border", "reflect"], {"CLCONV_HOST_PAD": "1"}, True),
    ("hostpad-even-d3", ["-f", "@" + f_even[0], "--dilation", "3", "--border", "wrap"],
     {"CLCONV_HOST_PAD": "1"}, True),
    ("separable", ["-f", "gaussian:9", "--kernel", "separable", "--border", "edge"], {}, False),
    ("naive-s2", ["-f", "outline", "--kernel", "naive", "--stride", "2"], {}, True),
    ("fft", ["-f", "@" + f_fft[0], "--kernel", "fft", "--border", "reflect"], {}, True),
]
if REDUCED:
    CONFIGS = [CONFIGS[1], CONFIGS[2], CONFIGS[7]]
BANDS = ["1", "3"] if not REDUCED else ["2"]


def batch(cfg, jobs, band, env_extra, device):
    """Runs one batch; returns {input: float32 array} and the JSON report."""
    name, opts, env, _ = cfg
    out = os.path.join(tmp, f"out-{name}-{jobs}-{band}-{abs(hash(tuple(env_extra.items())))}-"
                       f"{device.replace(':', '_')}")
    e = dict(env)
    e.update(env_extra)
    if band:
        e["CLCONV_BAND_ROWS"] = band
    args = opts + ["-j", str(jobs), "--device", device, "--format", "npy", "--json", "-q",
                   "--verify=off", "-o", out + "/"] + inputs
    rc, so, err = run(args, e)
    try:
        rep = json.loads(so) if so.strip() else {}
    except ValueError as ex:
        check(False, f"{name} -j {jobs}: the JSON report does not parse ({ex}; rc {rc}): "
              f"{err[-300:]}")
        rep = {}
    got = {}
    for p in inputs:
        o = os.path.join(out, os.path.splitext(os.path.basename(p))[0] + ".npy")
        got[p] = np.load(o) if os.path.exists(o) else None
    return rc, rep, got, err


# Taps and sum|K| of each configuration's filter (the presets through
# --list-filters' numbers would do too; these are the ones used above).
def taps_of(spec):
    if spec.startswith("@"):
        k = np.loadtxt(spec[1:], ndmin=2)
        return k.size, float(np.abs(k).sum())
    n = int(spec.split(":")[1]) if ":" in spec else 3
    return n * n, 16.0 if spec in ("sharpen", "outline", "sobel-left") else 1.0


kinfo = {c[0]: taps_of(c[1][1]) for c in CONFIGS}
absmax = {}
for p in inputs:
    a = np.load(p) if p.endswith(".npy") else np.asarray(Image.open(p))
    absmax[p] = float(np.abs(a).max())


def same_bits(a, b):
    return a is not None and b is not None and a.shape == b.shape and \
        np.array_equal(a.view(np.uint32), b.view(np.uint32))


for cfg in CONFIGS:
    name, _, _, integer = cfg
    rc, rep_ref, ref, err = batch(cfg, 2, "", {}, "cpu")
    check(rc == 0, f"{name}: reference batch: rc {rc}: {err}")
    rc, rep_zc, zc, err = batch(cfg, 2, "", {"CLCONV_ZERO_COPY": "1"}, DEVICE)
    check(rc == 0, f"{name}: zero-copy batch: rc {rc}: {err}")
    for jobs in ((2, 3) if not REDUCED else (3,)):
        for band in BANDS:
            for label, env in (("pipelined", {"CLCONV_ZERO_COPY": "0"}),
                               ("staged", {"CLCONV_ZERO_COPY": "0", "CLCONV_STAGING": "1"}),
                               ("serial", {"CLCONV_ZERO_COPY": "0", "CLCONV_PIPELINE": "0"})):
                if REDUCED and label != "pipelined":
                    continue
                what = f"{name} -j {jobs} CLCONV_BAND_ROWS={band} {label}"
                rc, rep, got, err = batch(cfg, jobs, band, env, DEVICE)
                check(rc == 0, f"{what}: rc {rc}: {err}")
                ims = {im["input"]: im for im in rep.get("images", [])}
                for p in inputs:
                    im = ims.get(p, {})
                    check(im.get("device") not in (None, "cpu"),
                          f"{what}: {p} not on the device ({im.get('device')}, "
                          f"{im.get('error')})")
                    g, z, r = got[p], zc[p], ref[p]
                    check(same_bits(g, z), f"{what}: {p}: not the zero-copy run's bits")
                    if g is None or r is None or g.shape != r.shape:
                        check(False, f"{what}: {p}: shape {None if g is None else g.shape} "
                              f"vs reference {None if r is None else r.shape}")
                        continue
                    if integer and p.endswith(".png"):
                        bad = np.argwhere(g != r)
                        check(bad.size == 0, f"{what}: {p}: {len(bad)} pixels differ from the "
                              f"reference, first {tuple(bad[0][::-1]) if bad.size else None}")
                    else:
                        # DESIGN.md's tolerance with sum|K P| bounded by
                        # sum|K| * max|P| (the cval included).
                        tol = 4 * kinfo[name][0] * np.finfo(np.float32).eps * \
                            kinfo[name][1] * max(absmax[p], 17.5) + np.finfo(np.float32).tiny
                        bad = np.argwhere(np.abs(g.astype(np.float64) - r) > tol)
                        check(bad.size == 0, f"{what}: {p}: {len(bad)} pixels off the "
                              f"reference, first (x, y) = {tuple(bad[0][::-1]) if bad.size else None}")
                # Bands were forced: the larger images went in several.
                big = [ims.get(p, {}).get("bands", 0) for p, (w, h) in zip(inputs, SIZES) if h > 20]
                check(all(b > 1 for b in big), f"{what}: bands {big}, want several each")
                # The per-stage times and the batch's busy share are reported.
                ms = [ims.get(p, {}).get("ms", {}) for p in inputs]
                check(all(all(k in m for k in ("upload", "kernel", "download", "stage",
                                                 "wait", "queue")) for m in ms),
                      f"{what}: per-stage times missing")
                busy = rep.get("device_busy", {})
                check(0 < busy.get("share", -1) <= 1.0 + 1e-9 and
                      busy.get("busy_ms", 0) <= busy.get("wall_ms", 0) + 1e-6,
                      f"{what}: device_busy {busy}")
                if label == "staged":
                    # The transfers went through pinned staging.
                    check(sum(m.get("stage", 0) for m in ms) > 0,
                          f"{what}: no staging time reported")

check.finish()
