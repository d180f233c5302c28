#!/usr/bin/env python3
"""Batch behaviour of the clconv CLI: directory walks, list files and stdin,
shards that are disjoint and cover the set, --skip-existing, output name
collisions, --side-by-side, --device all, and a clean stop on SIGINT.
argv[1] is the clconv binary."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import testenv

CLCONV, SEED = testenv.start("test_batch.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402
rng = np.random.default_rng(SEED)
failures = []
checks = [0]


def check(cond, what):
    checks[0] += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args, stdin=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([CLCONV, *args], input=stdin, capture_output=True, text=True, env=e)
    return p.returncode, p.stdout, p.stderr


def make_tree(root, n, size=(24, 17)):
    paths = []
    for i in range(n):
        sub = os.path.join(root, "a" if i % 3 == 0 else "b/c" if i % 3 == 1 else "")
        os.makedirs(sub, exist_ok=True)
        p = os.path.join(sub, f"img{i:03d}.png")
        Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)).save(p)
        paths.append(p)
    return sorted(paths)


with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "in")
    paths = make_tree(src, 23)
    rels = sorted(os.path.relpath(p, src) for p in paths)

    # -r keeps relative paths below the output directory; without -r only the top.
    out = os.path.join(tmp, "out-r")
    rc, _, err = run("-f", "sharpen", "-r", src, "-o", out, "-q", "--device", "cpu")
    check(rc == 0, f"-r batch exit {rc}: {err}")
    got = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs)
    check(got == rels, f"-r outputs {got[:5]}... != inputs {rels[:5]}...")
    out = os.path.join(tmp, "out-flat")
    rc, _, err = run("-f", "sharpen", src, "-o", out, "-q", "--device", "cpu")
    top = sorted(r for r in rels if "/" not in r)
    got = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check(rc == 0 and got == top, f"non-recursive walk gave {got}, want {top}")

    # Paths on stdin and from a list file.
    out = os.path.join(tmp, "out-stdin")
    rc, _, err = run("-f", "blur", "-", "-o", out + "/", "-q", "--device", "cpu",
                     stdin="\n".join(paths[:5]) + "\n")
    check(rc == 0 and len(os.listdir(out)) == 5, f"stdin list: rc {rc}, {err}")
    lst = os.path.join(tmp, "list.txt")
    with open(lst, "w") as f:
        f.write("# a comment\n" + "\n".join(paths[5:9]) + "\n")
    out = os.path.join(tmp, "out-list")
    rc, _, err = run("-f", "blur", "--inputs-from", lst, "-o", out, "-q", "--device", "cpu")
    check(rc == 0 and len(os.listdir(out)) == 4, f"--inputs-from: rc {rc}, {err}")

    # Shards: disjoint, covering, deterministic; auto from Slurm variables.
    seen = []
    for n in (1, 3, 4):
        parts = []
        for i in range(n):
            rc, so, err = run("-f", "identity", "-r", src, "-o", os.path.join(tmp, f"sh{n}-{i}"),
                              "--shard", f"{i}/{n}", "--json", "-q", "--device", "cpu")
            check(rc == 0, f"shard {i}/{n}: rc {rc} {err}")
            parts.append({im["input"] for im in json.loads(so)["images"]})
        union = set().union(*parts)
        check(union == set(paths), f"shards of {n} miss {sorted(set(paths) - union)[:3]}")
        check(sum(len(p) for p in parts) == len(paths), f"shards of {n} overlap")
        check(max(len(p) for p in parts) - min(len(p) for p in parts) <= 1,
              f"shards of {n} unbalanced: {[len(p) for p in parts]}")
        seen.append(parts)
    rc, so, err = run("-f", "identity", "-r", src, "-o", os.path.join(tmp, "shauto"), "--shard", "auto",
                      "--json", "-q", "--device", "cpu",
                      env={"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4",
                           "SLURM_ARRAY_TASK_MIN": "1"})
    check(rc == 0 and {im["input"] for im in json.loads(so)["images"]} == seen[2][2],
          f"--shard auto (Slurm 3 of 1..4) is not shard 2/4: rc {rc} {err}")
    rc, _, err = run("-f", "identity", src, "-o", os.path.join(tmp, "x"), "--shard", "4/4")
    check(rc == 2, f"--shard 4/4 should be a usage error, got {rc}")
    rc, _, err = run("-f", "identity", src, "-o", os.path.join(tmp, "x"), "--shard", "auto",
                     env={"SLURM_ARRAY_TASK_ID": "", "SLURM_ARRAY_TASK_COUNT": ""})
    check(rc == 2, f"--shard auto without a scheduler should be exit 2, got {rc}")

    # --skip-existing leaves finished outputs alone and does the rest.
    out = os.path.join(tmp, "out-skip")
    rc, _, _ = run("-f", "sharpen", paths[0], paths[1], "-o", out, "-q", "--device", "cpu")
    first = os.path.join(out, os.path.basename(paths[0]))
    os.utime(first, (1000, 1000))
    rc, _, err = run("-f", "sharpen", *paths[:4], "-o", out, "--skip-existing", "--device", "cpu")
    check(rc == 0 and len(os.listdir(out)) == 4, f"--skip-existing: rc {rc}, {sorted(os.listdir(out))}")
    check(os.stat(first).st_mtime == 1000, "--skip-existing rewrote a finished output")
    check("2 skipped" in err, f"--skip-existing summary does not say 2 skipped: {err}")

    # Two inputs that would write one output: refused before anything is done.
    a = os.path.join(tmp, "col", "x.png")
    os.makedirs(os.path.dirname(a))
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(a)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(a[:-3] + "bmp")
    rc, _, err = run("-f", "identity", a, a[:-3] + "bmp", "-o", os.path.join(tmp, "colout"), "--device", "cpu")
    check(rc == 2 and "also the output of" in err and not os.path.exists(os.path.join(tmp, "colout", "x.png")),
          f"collision: rc {rc}: {err}")

    # --side-by-side: input | 8 px | output in one PNG.
    sbs = os.path.join(tmp, "sbs.png")
    rc, _, err = run("-f", "box:3", "--padding", "valid", paths[0], "-o", os.path.join(tmp, "o.png"),
                     "--side-by-side", sbs, "-q", "--device", "cpu")
    im = np.asarray(Image.open(sbs)) if rc == 0 else None
    check(im is not None and im.shape == (17, 24 + 8 + 22), f"side-by-side: rc {rc} shape "
          f"{None if im is None else im.shape}: {err}")
    if im is not None:
        check(np.array_equal(im[:, :24], np.asarray(Image.open(paths[0]))), "side-by-side left half is not the input")
        check(np.array_equal(im[:15, 32:], np.asarray(Image.open(os.path.join(tmp, "o.png")))),
              "side-by-side right half is not the output")

    # --device all: every usable device (or the CPU) and the same numbers.
    outa, outc = os.path.join(tmp, "all"), os.path.join(tmp, "cpu")
    rc1, _, e1 = run("-f", "outline", *paths[:6], "-o", outa, "--format", "npy", "--device", "all", "-q")
    rc2, _, e2 = run("-f", "outline", *paths[:6], "-o", outc, "--format", "npy", "--device", "cpu", "-q")
    check(rc1 == 0 and rc2 == 0, f"--device all rc {rc1}: {e1}")
    for f in sorted(os.listdir(outc)):
        check(np.array_equal(np.load(os.path.join(outa, f)), np.load(os.path.join(outc, f))),
              f"--device all differs from cpu on {f}")

    # A zlib bomb: a 1x1 PNG whose data inflates to 1 GiB is refused early,
    # without the memory it asks for.
    import struct
    import zlib
    bomb = os.path.join(tmp, "zbomb.png")
    co, chunks = zlib.compressobj(9), []
    for _ in range(1024):
        chunks.append(co.compress(bytes(1 << 20)))
    data = b"".join(chunks) + co.flush()
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(bomb, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    p = subprocess.run(["/usr/bin/time", "-f", "maxrss %M", CLCONV, "-f", "identity", bomb,
                        "-o", os.path.join(tmp, "zb.png"), "--device", "cpu"],
                       capture_output=True, text=True) if os.path.exists("/usr/bin/time") else \
        subprocess.run([CLCONV, "-f", "identity", bomb, "-o", os.path.join(tmp, "zb.png"),
                        "--device", "cpu"], capture_output=True, text=True)
    check(p.returncode == 1 and "decompression bomb" in p.stderr, f"zlib bomb: rc {p.returncode}: {p.stderr}")
    rss = [int(l.split()[1]) for l in p.stderr.splitlines() if l.startswith("maxrss")]
    check(not rss or rss[0] < 200 * 1024, f"zlib bomb peak RSS {rss} KB")

    # Extreme shapes work on every path: 1x100000 and 100000x1.
    for shape in ((1, 100000), (100000, 1)):
        f = os.path.join(tmp, f"line{shape[0]}x{shape[1]}.png")
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(f)
        res = {}
        for dev in ("cpu", "auto"):
            o = f[:-4] + f"-{dev}.npy"
            rc, _, err = run("-f", "sharpen", f, "-o", o, "--device", dev, "--verify", "-q")
            check(rc == 0, f"{shape} on {dev}: rc {rc}: {err}")
            res[dev] = np.load(o) if rc == 0 else None
        check(res["cpu"] is not None and res["cpu"].shape == shape and
              res["auto"] is not None and np.array_equal(res["cpu"], res["auto"]),
              f"{shape}: device and reference differ or wrong shape")

    # --kernel forces the device variant, and the report says which ran; all
    # give the same numbers (gaussian:9 is rank 1, so separable applies).
    if "opencl:" in run("--list-devices")[1]:
        res = {}
        for k, want in (("auto", "separable"), ("naive", "naive"), ("tiled", "tiled"),
                        ("separable", "separable"), ("local", "local")):
            o = os.path.join(tmp, f"kern-{k}.npy")
            rc, so, err = run("-f", "gaussian:9", "--kernel", k, paths[4], "-o", o,
                              "--device", "opencl", "--json", "-q", "--verify")
            im = json.loads(so)["images"][0] if rc == 0 else {}
            check(rc == 0 and im.get("kernel") == want, f"--kernel {k}: rc {rc}, ran {im.get('kernel')}: {err}")
        rc, _, _ = run("-f", "sharpen", "--kernel", "bogus", paths[4], "-o", os.path.join(tmp, "k.png"))
        check(rc == 2, f"--kernel bogus should be a usage error, got {rc}")
        # fft: an integer 21x21 filter on an 8-bit image takes it and is
        # bit-exact (--verify, and equal to the reference's .npy); the
        # non-integer gaussian falls back to the default (separable).
        kf = os.path.join(tmp, "int21.txt")
        taps = rng.integers(-4, 5, (21, 21))
        with open(kf, "w") as fh:
            fh.write("\n".join(" ".join(str(int(t)) for t in row) for row in taps) + "\n")
        got = {}
        for k, dev, want in (("fft", "opencl", "fft"), ("auto", "cpu", None)):
            o = os.path.join(tmp, f"fft-{k}-{dev}.npy")
            rc, so, err = run("-f", "@" + kf, "--kernel", k, "--border", "reflect", paths[4],
                              "-o", o, "--device", dev, "--json", "-q", "--verify")
            im = json.loads(so)["images"][0] if rc == 0 else {}
            check(rc == 0 and (want is None or im.get("kernel") == want),
                  f"--kernel {k} on {dev}: rc {rc}, ran {im.get('kernel')}: {err}")
            got[dev] = np.load(o) if rc == 0 else None
        check(got["opencl"] is not None and got["cpu"] is not None and
              np.array_equal(got["opencl"], got["cpu"]), "--kernel fft: not the reference's bits")
        rc, so, err = run("-f", "gaussian:9", "--kernel", "fft", paths[4], "-o",
                          os.path.join(tmp, "fft-gauss.npy"), "--device", "opencl", "--json",
                          "-q", "--verify")
        im = json.loads(so)["images"][0] if rc == 0 else {}
        check(rc == 0 and im.get("kernel") == "separable",
              f"--kernel fft, gaussian:9: rc {rc}, ran {im.get('kernel')} (want separable): {err}")

    # Banding forced through the environment gives the same bits as one band.
    f = paths[3]
    outs = []
    for band in ("", "1", "4"):
        o = os.path.join(tmp, f"band{band or 'none'}.npy")
        rc, so, err = run("-f", "gaussian:5", "--stride", "2", "--dilation", "2", f, "-o", o,
                          "--device", "auto", "-q", "--json",
                          env={"CLCONV_BAND_ROWS": band} if band else {})
        check(rc == 0, f"CLCONV_BAND_ROWS={band}: rc {rc}: {err}")
        im = json.loads(so)["images"][0] if rc == 0 else {}
        if im.get("device") != "cpu" and band:
            want = -(-((17 + 1) // 2) // int(band))
            check(im.get("bands") == want, f"CLCONV_BAND_ROWS={band}: {im.get('bands')} bands, want {want}")
        outs.append(np.load(o) if rc == 0 else None)
    check(all(o is not None and np.array_equal(o, outs[0]) for o in outs),
          "banded results differ from the unbanded one")

    # A write failure (disk full) on one file of a batch costs only that file.
    out = os.path.join(tmp, "out-full")
    victim = os.path.splitext(os.path.basename(paths[2]))[0]
    rc, _, err = run("-f", "sharpen", *paths[:6], "-o", out, "--device", "cpu",
                     env={"CLCONV_FAULT": f"write={victim}"})
    names = sorted(os.listdir(out))
    check(rc == 1 and len(names) == 5 and victim + ".png" not in names,
          f"write fault on {victim}: rc {rc}, outputs {names}")
    check(any(victim in l and "No space left" in l for l in err.splitlines()),
          f"write fault message does not name {victim} and the cause: {err}")

    # An input deleted while the batch runs: that one fails, the rest are done.
    gone_dir = os.path.join(tmp, "gone")
    gpaths = make_tree(gone_dir, 12, size=(700, 500))
    out = os.path.join(tmp, "out-gone")
    p = subprocess.Popen([CLCONV, "-f", "gaussian:9", "-o", out, "-j", "1", "--device", "cpu", *gpaths],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while p.poll() is None and not (os.path.isdir(out) and os.listdir(out)):
        time.sleep(0.005)
    os.remove(gpaths[-1])
    so, se = p.communicate(timeout=60)
    done = sorted(os.listdir(out))
    check(p.returncode == 1 and len(done) == 11, f"deleted input: rc {p.returncode}, {len(done)} outputs: {se}")
    check(f"clconv: {gpaths[-1]}: cannot open" in se, f"deleted input not named: {se}")

    # Progress goes to stderr only when it is a terminal (script(1) gives it
    # one), never into a pipe, and -q silences it.
    import shutil
    import shlex
    if shutil.which("script"):
        cmd = " ".join(shlex.quote(a) for a in
                       [CLCONV, "-f", "sharpen", "--device", "cpu", *paths[:3], "-o",
                        os.path.join(tmp, "out-prog")])
        p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True)
        check(p.returncode == 0 and "3/3 images" in p.stdout and "/s" in p.stdout,
              f"no progress on a terminal: {p.stdout!r}")
        p = subprocess.run(["script", "-qec", cmd + " -q", "/dev/null"], capture_output=True, text=True)
        check(p.returncode == 0 and "images," not in p.stdout, f"progress despite -q: {p.stdout!r}")
    rc, _, err = run("-f", "sharpen", "--device", "cpu", *paths[:3], "-o", os.path.join(tmp, "out-prog2"))
    check(rc == 0 and "images," not in err, f"progress written to a pipe: {err!r}")

    # SIGINT: finished outputs stay whole, nothing partial, exit 130, a summary.
    big = os.path.join(tmp, "big")
    bpaths = make_tree(big, 40, size=(700, 500))
    out = os.path.join(tmp, "out-int")
    p = subprocess.Popen([CLCONV, "-f", "gaussian:9", "-r", big, "-o", out, "-j", "1", "--device", "cpu"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline and not (os.path.isdir(out) and
                                          sum(len(fs) for _, _, fs in os.walk(out)) >= 2):
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    so, se = p.communicate(timeout=60)
    written = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs]
    check(p.returncode == 130, f"SIGINT exit {p.returncode}, want 130: {se}")
    check("interrupted" in se, f"no summary after SIGINT: {se}")
    check(0 < len(written) < len(bpaths), f"SIGINT left {len(written)} of {len(bpaths)} outputs")
    for w in written:
        check(".clconv-tmp-" not in os.path.basename(w), f"temp file left: {w}")
        try:
            with Image.open(w) as im:
                im.load()
                check(im.size == (700, 500), f"{w} has size {im.size}")
        except Exception as ex:  # a partial file would not decode
            check(False, f"{w} is not a whole image: {ex}")

# A device that keeps failing is retired after its second failure, with one
# message: the rest of the batch goes straight to the next path (here the CPU
# reference) without trying it again, and every output is still exact.
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "in")
    rpaths = make_tree(src, 7)
    rc, _, err = run("-f", "sharpen", "-r", src, "-o", os.path.join(tmp, "ref"), "-q",
                     "--device", "cpu", "--format", "npy")
    rc, so, err = run("-f", "sharpen", "-r", src, "-o", os.path.join(tmp, "dev"), "-j", "1",
                      "--format", "npy", "--json", env={"CLCONV_FAULT": "cl-alloc"})
    if "no OpenCL device" in err or "using the CPU reference path (" in err:
        print("retirement: no OpenCL device, not checked")
    else:
        check(rc == 0, f"retirement: exit {rc}: {err}")
        check(err.count("OpenCL failed") == 2, f"retirement: {err.count('OpenCL failed')} "
              f"device failures reported, want 2: {err}")
        check(err.count("retired for the rest of the run") == 1,
              f"retirement: the retiring message {err.count('retired for the rest')} times")
        imgs = json.loads(so)["images"]
        check(sum(1 for i in imgs if i["device"] == "cpu" and not i["fell_back"]) == 5,
              "retirement: the 5 images after it went straight to the reference")
        for rel in sorted(os.path.relpath(p, src) for p in rpaths):
            n = rel[:-4] + ".npy"
            a, b = os.path.join(tmp, "ref", n), os.path.join(tmp, "dev", n)
            check(os.path.exists(b) and open(a, "rb").read() == open(b, "rb").read(),
                  f"retirement: {n} equals the reference")

# The default spot check (--verify sample): a wrong device pixel is caught
# where --verify=off lets it through; under auto the device is retired and
# the image redone exactly; band seams are always among the sampled pixels.
with tempfile.TemporaryDirectory() as tmp:
    small = os.path.join(tmp, "small.png")  # 16x12: every pixel is sampled
    Image.fromarray(rng.integers(0, 256, (12, 16), dtype=np.uint8)).save(small)
    big = os.path.join(tmp, "big.png")
    Image.fromarray(rng.integers(0, 256, (80, 100), dtype=np.uint8)).save(big)
    o = lambda n: os.path.join(tmp, n)  # noqa: E731
    rc, _, err = run("-f", "sharpen", small, "-o", o("ref.npy"), "-q", "--device", "cpu")
    devs = run("--list-devices")[1]
    if "opencl:" not in devs:
        print("spot check: no OpenCL device, not checked")
    else:
        rc, _, err = run("-q", "-f", "sharpen", "--device", "opencl", small, "-o", o("x.png"),
                         env={"CLCONV_FAULT": "perturb"})
        check(rc == 3 and "spot check" in err and err.count("\n") == 1,
              f"spot check, explicit device: exit {rc}, {err!r}")
        rc, _, err = run("-q", "-f", "sharpen", "--device", "opencl", "--verify=off", small,
                         "-o", o("y.png"), env={"CLCONV_FAULT": "perturb"})
        check(rc == 0, f"--verify=off lets the perturbed pixel through: exit {rc}")
        rc, so, err = run("-f", "sharpen", "--json", small, "-o", o("auto.npy"),
                          env={"CLCONV_FAULT": "perturb"})
        check(rc == 0 and "retired for the rest of the run" in err,
              f"spot check under auto: exit {rc}, {err!r}")
        check(open(o("auto.npy"), "rb").read() == open(o("ref.npy"), "rb").read(),
              "spot check under auto: the image redone exactly")
        img = json.loads(so)["images"][0]
        check(img["sample"]["ok"] is False and img["fell_back"] and img["device"] == "cpu",
              f"spot check under auto, --json: {img}")
        rc, so, err = run("-q", "-f", "sharpen", "--json", "--device", "opencl", big, "-o",
                          o("bigout.png"), env={"CLCONV_BAND_ROWS": "5"})
        img = json.loads(so)["images"][0]
        # 4 corners, 8 pixels on each of the 15 seams of 80 rows in bands of 5, 256 drawn
        check(rc == 0 and img["bands"] == 16 and img["sample"] == {**img["sample"], "ok": True, "points": 4 + 8 * 15 + 256},
              f"spot check: corners, seams and the drawn pixels: {img}")
        check(json.loads(so)["verify"] == "sample", "--json names the verify mode")

print(f"{len(failures)} of {checks[0]} checks failed" if failures else f"all {checks[0]} batch checks passed")
sys.exit(1 if failures else 0)
