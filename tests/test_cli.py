#!/usr/bin/python3
"""test_cli.py CLCONV — the command line's failure behaviour (DESIGN.md §3-§4):
exit codes, one-line 'clconv: FILE: reason' errors, no output or temp file
left behind, the batch going on past a bad image, usage errors, --help,
--version, --json, and the device paths (--verify, fault switches) when
--list-devices lists an OpenCL device.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import testenv

CLCONV, SEED = testenv.start("test_cli.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402

WORK = tempfile.mkdtemp(prefix="clconv-cli-")
FAILS = []
NCHECKS = 0

# Lines clconv may print besides the error when not run with -q.
INFO = re.compile(r"^clconv: (using |\d+ of \d+ images? done)")


def fail(label, msg, p=None, cmd=None):
    text = f"FAIL [{label}] {msg}"
    if cmd:
        text += f"\n  cmd: {' '.join(cmd)}"
    if p is not None:
        text += f"\n  exit {p.returncode}\n  stderr: {p.stderr!r}"
    FAILS.append(text)
    print(text, flush=True)


def run(args, env=None, cwd=WORK):
    e = dict(os.environ)
    e.pop("CLCONV_FAULT", None)
    e.pop("CLCONV_DEVICE", None)
    if env:
        e.update(env)
    cmd = [CLCONV] + [str(a) for a in args]
    return cmd, subprocess.run(cmd, capture_output=True, text=True, env=e,
                               cwd=cwd)


def w(name):
    return os.path.join(WORK, name)


def temp_files(dirs):
    found = []
    for d in dirs:
        if os.path.isdir(d):
            found += glob.glob(os.path.join(d, ".*clconv-tmp-*"))
    return found


def expect_fail(label, args, rc, names=(), absent=(), env=None, contains=(),
                quiet=True):
    """Runs clconv expecting exit `rc` and exactly one error line that starts
    with 'clconv: ' and holds every string of `names` and `contains`; the
    paths in `absent` must not exist afterwards, nor any temp file."""
    global NCHECKS
    NCHECKS += 1
    cmd, p = run((["-q"] if quiet else []) + list(args), env=env)
    if p.returncode != rc:
        fail(label, f"exit {p.returncode}, expected {rc}", p, cmd)
    lines = [l for l in p.stderr.splitlines() if not INFO.match(l)]
    extra_ok = ("Usage: clconv", "Try 'clconv --help'")
    errs = [l for l in lines if not l.startswith(extra_ok)]
    if len(errs) != 1:
        fail(label, f"expected one error line, got {len(errs)}", p, cmd)
    elif not errs[0].startswith("clconv: "):
        fail(label, f"error line does not start with 'clconv: ': {errs[0]!r}",
             p, cmd)
    else:
        for s in list(names) + list(contains):
            if s not in errs[0]:
                fail(label, f"error line does not name {s!r}: {errs[0]!r}", p, cmd)
        if re.search(r"stbi|Traceback|Segmentation", p.stderr):
            fail(label, "raw stb message or crash on stderr", p, cmd)
    if rc != 2 and any(l.startswith(extra_ok) for l in lines):
        fail(label, "usage text printed for a failure that is not a usage "
             "error", p, cmd)
    for a in absent:
        if os.path.lexists(a):
            fail(label, f"{a} exists after the failure", p, cmd)
    tmps = temp_files({WORK} | {os.path.dirname(a) for a in absent})
    if tmps:
        fail(label, f"temporary files left: {tmps}", p, cmd)
        for t in tmps:
            os.unlink(t)
    return p


def expect_ok(label, args, env=None, outputs=()):
    global NCHECKS
    NCHECKS += 1
    cmd, p = run(args, env=env)
    if p.returncode != 0:
        fail(label, "exit status", p, cmd)
    for o in outputs:
        if not os.path.isfile(o):
            fail(label, f"{o} was not written", p, cmd)
    return cmd, p


# ------------------------------------------------------------------ fixtures

def make_fixtures():
    rng = np.random.default_rng(1234)
    rgb = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(w("good.png"))
    Image.fromarray(rgb, "RGB").save(w("good.jpg"), quality=90)
    Image.fromarray(rgb[:, :, 0], "L").save(w("good2.png"))
    Image.fromarray(rgb[:10, :12, 1], "L").save(w("small.png"))
    # A stack whose second page is 1-bit: the whole stack is refused from
    # its headers, before any page is filtered (stacks: test_tiff_stack.py).
    Image.fromarray(rgb, "RGB").save(w("pic.tiff"), save_all=True,
                                     append_images=[Image.fromarray(rgb[:, :, 0] > 99)])
    jpg = open(w("good.jpg"), "rb").read()
    open(w("half.jpg"), "wb").write(jpg[:len(jpg) // 2])
    png = open(w("good.png"), "rb").read()
    open(w("half.png"), "wb").write(png[:len(png) // 2])
    bad = bytearray(png)
    for i in range(60, len(bad), 7):  # keep the signature and IHDR
        bad[i] ^= 0x5A
    open(w("corrupt.png"), "wb").write(bytes(bad))
    open(w("garbage.jpg"), "wb").write(bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))
    open(w("empty.png"), "wb").close()
    open(w("text.png"), "w").write("this is not a PNG image\n")
    open(w("afile"), "w").write("a regular file, not a directory\n")
    filters = {
        "f_empty.txt": "",
        "f_comments.txt": "# only a comment\n\n   \n",
        "f_ragged.txt": "1 2 3\n4 5\n",
        "f_nonnum.txt": "1 2\n3 four\n",
        "f_nan.txt": "1 nan\n2 3\n",
        "f_inf.txt": "1 2\n-inf 3\n",
        "f_wide.txt": " ".join(["1"] * 300) + "\n",
        "f_tall.txt": "1\n" * 300,
        "f_huge.txt": "1e300 1\n1 1\n",
        "f_good.txt": "# a 2x3 filter\n1, 0, -1\n2 0 -2\n",
    }
    for name, text in filters.items():
        open(w(name), "w").write(text)


# ------------------------------------------------------------------ cases

def image_failures():
    cases = [("truncated JPEG", "half.jpg"), ("truncated PNG", "half.png"),
             ("corrupt PNG", "corrupt.png"), ("random bytes .jpg", "garbage.jpg"),
             ("empty file", "empty.png"), ("text named .png", "text.png"),
             ("TIFF stack with a 1-bit page", "pic.tiff"), ("missing file", "nosuch.png")]
    for label, name in cases:
        for ext in ("png", "npy"):
            out = w(f"out_{name}.{ext}")
            expect_fail(label, ["-f", "sharpen", "--device", "cpu", w(name),
                                "-o", out], 1, names=[name], absent=[out])
        # The same through the directory form.
        d = w(f"dir_{name}")
        expect_fail(label + " (dir)", ["-f", "sharpen", "--device", "cpu",
                                       w(name), "-o", d + "/"], 1, names=[name],
                    absent=[os.path.join(d, os.path.splitext(name)[0] + ".png")])


def output_failures():
    out = w("afile/sub.png")
    expect_fail("output parent is a file", ["-f", "sharpen", "--device", "cpu",
                                            w("good.png"), "-o", out], 1,
                names=["afile"], absent=[out])
    d = w("afile/dir") + "/"
    expect_fail("output dir under a file", ["-f", "sharpen", "--device", "cpu",
                                            w("good.png"), w("good2.png"), "-o", d],
                1, names=["afile"], absent=[d])
    for ext in ("png", "jpg", "bmp", "tga", "npy"):
        out = w(f"fault.{ext}")
        expect_fail(f"CLCONV_FAULT=write .{ext}",
                    ["-f", "sharpen", "--device", "cpu", w("good.png"), "-o", out],
                    1, names=[f"fault.{ext}"], absent=[out],
                    env={"CLCONV_FAULT": "write"})
    # The output may not be the input: refused before anything is done
    # (exit 2, like any clash of outputs), the input unchanged.
    before = open(w("good.png"), "rb").read()
    expect_fail("output == input", ["-f", "sharpen", "--device", "cpu",
                                    w("good.png"), "-o", w("good.png")], 2,
                names=["good.png"])
    # ... also when spelt another way.
    expect_fail("output == input (./)", ["-f", "sharpen", "--device", "cpu",
                                        "good.png", "-o", "./good.png"], 2,
                names=["good.png"])
    if open(w("good.png"), "rb").read() != before:
        fail("output == input", "the input file was changed")
        open(w("good.png"), "wb").write(before)
    # An unknown output extension is a usage error.
    expect_fail("unknown output format", ["-f", "sharpen", w("good.png"), "-o",
                                         w("x.gif")], 2, names=["x.gif"],
                absent=[w("x.gif")])


def filter_failures():
    for name, what in (("f_empty.txt", "empty"), ("f_comments.txt", "comments only"),
                       ("f_ragged.txt", "ragged"), ("f_nonnum.txt", "non-numeric"),
                       ("f_nan.txt", "nan"), ("f_inf.txt", "inf"),
                       ("f_wide.txt", "300 columns"), ("f_tall.txt", "300 rows"),
                       ("f_huge.txt", "1e300 tap"), ("f_missing.txt", "missing")):
        out = w(f"filt_{name}.png")
        # Refused before any image is read: a missing input is not reached.
        expect_fail(f"filter file {what}", ["-f", "@" + w(name), w("nosuch.png"),
                                            "-o", out], 2, names=[name],
                    absent=[out])
    # (Repeated separators such as "1,,2" are accepted as one: the design
    # splits numbers "by spaces or commas".)
    for n, spec in enumerate(("1,2;3", "1,2;3,x", "--1", ";", "1e999,1", "1;2,3")):
        out = w(f"inline{n}.png")
        expect_fail(f"inline {spec!r}", ["-f", spec, w("good.png"), "-o", out],
                    2, absent=[out])
    expect_fail("unknown preset", ["-f", "sharpenn", w("good.png"), "-o",
                                   w("preset.png")], 2, names=["sharpenn"],
                absent=[w("preset.png")])
    for spec in ("box:0", "box:x", "box:3:2", "gaussian:5:-1", "gaussian:5:nan",
                 "gaussian:", "gaussian:1000"):
        out = w(f"param_{spec.replace(':', '_')}.png")
        expect_fail(f"bad parametric {spec}", ["-f", spec, w("good.png"), "-o",
                                               out], 2, names=[spec], absent=[out])


def usage_failures():
    g = w("good.png")
    o = w("usage.png")
    for opt, val in (("--stride", "0"), ("--stride", "x"), ("--dilation", "0"),
                     ("--padding", "-1"), ("--padding", "bogus"),
                     ("--border", "mirror"), ("--cval", "nan"), ("--map", "log"),
                     ("--resize", "10"), ("--resize", "0x5"), ("--quality", "0"),
                     ("--format", "gif"), ("--device", "gpu"), ("-j", "0")):
        expect_fail(f"{opt} {val}", ["-f", "sharpen", opt, val, g, "-o", o], 2,
                    names=[val], absent=[o])
    p = expect_fail("unknown option", ["-f", "sharpen", "--frobnicate", g, "-o", o],
                    2, names=["--frobnicate"], absent=[o])
    if "Try 'clconv --help'" not in p.stderr:
        fail("unknown option", "stderr lacks \"Try 'clconv --help'\"", p)
    expect_fail("no filter", [g, "-o", o], 2, absent=[o])
    expect_fail("no input", ["-f", "sharpen", "-o", o], 2)
    expect_fail("no output", ["-f", "sharpen", g], 2)
    # Each limit is named in its message: --stride 2147483647 is over it.
    for opt in ("--stride", "--dilation"):
        expect_fail(f"{opt} over the limit", ["-f", "sharpen", opt, "2147483647",
                                             g, "-o", o], 2,
                    contains=["2147483647", "1048576"], absent=[o])
    # An empty path is refused, not read before its first byte.
    expect_fail("-o ''", ["-f", "sharpen", g, "-o", ""], 2, contains=["empty"])
    expect_fail("--side-by-side ''", ["-f", "sharpen", "--side-by-side", "", g,
                                      "-o", o], 2, contains=["empty"], absent=[o])
    # A huge token is shown cut with its length, in a short line, wherever
    # it comes from (an option value, an inline filter, a parametric N).
    big = "9" * 5000
    for label, args in (("--jobs", ["-f", "sharpen", "-j", big, g, "-o", o]),
                        ("inline", ["-f", "1," + big, g, "-o", o]),
                        ("inline token", ["-f", "1,2;" + "1" * 4000 + "x", g, "-o", o]),
                        ("gaussian:N", ["-f", "gaussian:" + big, g, "-o", o]),
                        ("unknown", ["-f", "q" * 5000, g, "-o", o]),
                        ("--shard", ["-f", "sharpen", "--shard", big, g, "-o", o])):
        p = expect_fail(f"5000-byte token, {label}", args, 2, absent=[o])
        longest = max((len(l) for l in p.stderr.splitlines()), default=0)
        if longest > 300 or "bytes)" not in p.stderr:
            fail(f"5000-byte token, {label}",
                 f"longest line {longest} bytes, want a cut token and its length", p)
    # CLCONV_KERNEL is checked as --kernel is: a misspelt one is refused,
    # not silently auto; a right one works.
    expect_fail("CLCONV_KERNEL=FFT", ["-f", "sharpen", g, "-o", o], 2,
                names=["CLCONV_KERNEL", "FFT"], absent=[o],
                env={"CLCONV_KERNEL": "FFT"})
    expect_fail("--kernel FFT", ["-f", "sharpen", "--kernel", "FFT", g, "-o", o],
                2, names=["FFT"], absent=[o])
    expect_ok("CLCONV_KERNEL=naive", ["-q", "-f", "sharpen", g, "-o", o],
              env={"CLCONV_KERNEL": "naive"}, outputs=[o])
    os.remove(o)
    expect_fail("CLCONV_VERIFY_SEED=abc", ["-f", "sharpen", g, "-o", o], 2,
                names=["CLCONV_VERIFY_SEED", "abc"], absent=[o],
                env={"CLCONV_VERIFY_SEED": "abc"})
    # Filter larger than the image under valid padding: exit 1, both sizes.
    expect_fail("filter > image, valid", ["-f", "box:15", "--padding", "valid",
                                          "--device", "cpu", w("small.png"), "-o",
                                          w("big.png")], 1,
                names=["small.png"], contains=["15x15", "12x10"],
                absent=[w("big.png")])
    # The same filter under same padding works.
    expect_ok("filter > image, same", ["-q", "-f", "box:15", "--device", "cpu",
                                       w("small.png"), "-o", w("big.png")],
              outputs=[w("big.png")])


def batch_cases():
    d = w("batch") + "/"
    ins = [w("good.png"), w("half.jpg"), w("good2.png"), w("text.png"), w("small.png")]
    global NCHECKS
    NCHECKS += 1
    cmd, p = run(["-q", "-f", "blur", "--device", "cpu", "--format", "npy"] + ins
                 + ["-o", d])
    errs = p.stderr.splitlines()
    if p.returncode != 1 or len(errs) != 2 or not all(
            l.startswith("clconv: ") for l in errs) or "half.jpg" not in errs[0] \
            or "text.png" not in errs[1]:
        fail("batch", "expected exit 1 and one error line for each of half.jpg "
             "and text.png", p, cmd)
    for bad in ("half.npy", "text.npy"):
        if os.path.lexists(d + bad):
            fail("batch", f"{d + bad} exists for a bad input", p, cmd)
    for name, h, wd in (("good", 40, 50), ("good2", 40, 50), ("small", 10, 12)):
        path = d + name + ".npy"
        if not os.path.isfile(path):
            fail("batch", f"{path} missing: a bad input cost the good ones", p, cmd)
        elif np.load(path).shape != (h, wd):
            fail("batch", f"{path} has shape {np.load(path).shape}", p, cmd)
    if temp_files([d]):
        fail("batch", f"temp files left: {temp_files([d])}")

    # Two inputs with the same base name must not silently share one output:
    # the run is refused before any image is done (exit 2), both named.
    d2 = w("collide") + "/"
    expect_fail("same base name", ["--json", "-f", "sharpen", "--device", "cpu",
                                   w("good.png"), w("good.jpg"), "-o", d2], 2,
                names=["good.png", "good.jpg"], absent=[d2 + "good.png"])


def info_cases():
    global NCHECKS
    NCHECKS += 1
    cmd, p = run(["--help"])
    if p.returncode != 0 or p.stderr:
        fail("--help", "exit status or stderr", p, cmd)
    for sec in ("Usage: clconv", "Filter:", "Geometry:", "Output:", "Device:"):
        if sec not in p.stdout:
            fail("--help", f"stdout lacks {sec!r}", p, cmd)
    for opt, default in (("--padding", "(same)"), ("--border", "(constant)"),
                         ("--cval", "(0)"), ("--stride", "(1)"),
                         ("--map", "(clamp)"), ("--device", "(auto")):
        if opt not in p.stdout or default not in p.stdout:
            fail("--help", f"{opt} or its default {default} missing", p, cmd)
    for opt in ("--flip", "--dilation", "--resize", "--format", "--verify",
                "--json", "--list-devices", "--list-filters", "--version"):
        if opt not in p.stdout:
            fail("--help", f"{opt} is not described", p, cmd)
    cmd, p = run(["-h"])
    if p.returncode != 0 or "Geometry:" not in p.stdout:
        fail("-h", "not the help", p, cmd)

    NCHECKS += 1
    for v in ("--version", "-V"):
        cmd, p = run([v])
        lines = p.stdout.splitlines()
        if p.returncode != 0 or len(lines) != 1 or not re.match(
                r"^clconv \d+\.\d+\.\d+", lines[0]) or p.stderr:
            fail(v, f"expected one line 'clconv X.Y.Z', got {p.stdout!r}", p, cmd)

    NCHECKS += 1
    cmd, p = run(["--list-filters"])
    for name in ("identity", "sharpen", "blur", "outline", "emboss", "sobel-left",
                 "sobel-right", "sobel-top", "sobel-bottom", "box:", "gaussian:"):
        if name not in p.stdout:
            fail("--list-filters", f"{name} missing", p, cmd)


def json_cases(device):
    global NCHECKS
    NCHECKS += 1
    d = w(f"json_{device}") + "/"
    ins = [w("good.png"), w("small.png"), w("half.png")]
    cmd, p = run(["--json", "-f", "sharpen", "--device", device] + ins + ["-o", d])
    label = f"--json --device {device}"
    if p.returncode != 1:
        fail(label, "expected exit 1 (one bad input)", p, cmd)
    try:
        rep = json.loads(p.stdout)
    except ValueError as e:
        fail(label, f"stdout is not JSON: {e}: {p.stdout[:300]!r}", p, cmd)
        return
    imgs = rep.get("images")
    if not isinstance(imgs, list) or len(imgs) != 3:
        fail(label, f"'images' is not a list of 3: {imgs!r}")
        return
    by_in = {i.get("input"): i for i in imgs}
    want = {w("good.png"): ("ok", [50, 40]), w("small.png"): ("ok", [12, 10]),
            w("half.png"): ("failed", None)}
    for inp, (status, size) in want.items():
        r = by_in.get(inp)
        if r is None:
            fail(label, f"no entry for {inp}")
            continue
        if r.get("status") != status:
            fail(label, f"{inp}: status {r.get('status')}, expected {status}")
        if size is not None:
            if r.get("size") != size or r.get("out_size") != size:
                fail(label, f"{inp}: size {r.get('size')} out_size "
                     f"{r.get('out_size')}, expected {size} (W, H)")
            if not isinstance(r.get("device"), str) or not r["device"]:
                fail(label, f"{inp}: no device")
            if device == "cpu" and r.get("device") != "cpu":
                fail(label, f"{inp}: device {r.get('device')!r} under --device cpu")
            ms = r.get("ms")
            if not isinstance(ms, dict) or not all(
                    isinstance(ms.get(k), (int, float)) and ms[k] >= 0
                    for k in ("decode", "compute", "encode")):
                fail(label, f"{inp}: times missing or negative: {ms!r}")
        elif "half.png" not in str(r.get("error", "")):
            fail(label, f"{inp}: the error does not name the file: {r!r}")


def device_cases(dev):
    global NCHECKS
    g = w("good.png")
    # --verify passes on the device.
    NCHECKS += 1
    for f in ("sharpen", "blur", "gaussian:5:1.3", "@" + w("f_good.txt")):
        cmd, p = run(["--device", "opencl", "--verify", "-f", f, g, "-o",
                      w("v.png")])
        if p.returncode != 0 or "max abs error" not in p.stderr:
            fail(f"--verify {f}", "expected exit 0 and 'max abs error'", p, cmd)
        # An exact result names no position (it said "at (-1, -1)").
        if "max abs error 0," in p.stderr and " at (" in p.stderr:
            fail(f"--verify {f}", "an exact result printed a position", p, cmd)
    NCHECKS += 1
    cmd, p = run(["--device", "cpu", "--verify", "-f", "sharpen", g, "-o", w("v0.png")])
    if p.returncode != 0 or "max abs error 0, 0 pixels" not in p.stderr or "(-1" in p.stderr:
        fail("--verify on the reference", "expected 'max abs error 0, 0 pixels' and no "
             "position", p, cmd)
    # A corrupted device pixel is caught.
    NCHECKS += 1
    cmd, p = run(["--device", "opencl", "--verify", "-f", "sharpen", g, "-o",
                  w("v2.png")], env={"CLCONV_FAULT": "perturb"})
    if p.returncode != 3:
        fail("CLCONV_FAULT=perturb --verify", "expected exit 3", p, cmd)
    # Allocation failure: auto falls back to the CPU and still writes the
    # image (the same one the CPU path writes); opencl fails naming the error.
    NCHECKS += 1
    ref = w("alloc_ref.npy")
    run(["-q", "--device", "cpu", "-f", "sharpen", g, "-o", ref])
    out = w("alloc_auto.npy")
    cmd, p = run(["--device", "auto", "-f", "sharpen", g, "-o", out],
                 env={"CLCONV_FAULT": "cl-alloc"})
    if p.returncode != 0 or not os.path.isfile(out):
        fail("cl-alloc auto", "expected exit 0 and the image", p, cmd)
    else:
        if not re.search(r"fell back|fall(ing)? back|fallback|CPU reference",
                         p.stderr, re.I):
            fail("cl-alloc auto", "stderr does not say it fell back", p, cmd)
        if not np.array_equal(np.load(out), np.load(ref)):
            fail("cl-alloc auto", "the fallback result differs from --device cpu")
    cmd, p = run(["--json", "-q", "--device", "auto", "-f", "sharpen", g, "-o",
                  w("alloc_auto2.png")], env={"CLCONV_FAULT": "cl-alloc"})
    try:
        r = json.loads(p.stdout)["images"][0]
        if r.get("fell_back") is not True or r.get("status") != "ok":
            fail("cl-alloc auto --json", f"fell_back/status: {r!r}", p, cmd)
    except (ValueError, KeyError, IndexError) as e:
        fail("cl-alloc auto --json", f"bad JSON: {e}", p, cmd)
    expect_fail("cl-alloc opencl", ["--device", "opencl", "-f", "sharpen", g,
                                    "-o", w("alloc_cl.png")], 1,
                names=["good.png"], contains=["CL_MEM_OBJECT_ALLOCATION_FAILURE"],
                absent=[w("alloc_cl.png")], env={"CLCONV_FAULT": "cl-alloc"})
    # A kernel that does not build: auto still produces the image; opencl
    # fails with the error's name. (The build log may follow the line.)
    NCHECKS += 1
    out = w("build_auto.png")
    cmd, p = run(["-q", "--device", "auto", "-f", "sharpen", g, "-o", out],
                 env={"CLCONV_FAULT": "cl-build"})
    if p.returncode != 0 or not os.path.isfile(out):
        fail("cl-build auto", "expected exit 0 and the image", p, cmd)
    out = w("build_cl.png")
    cmd, p = run(["-q", "--device", "opencl", "-f", "sharpen", g, "-o", out],
                 env={"CLCONV_FAULT": "cl-build"})
    first = [l for l in p.stderr.splitlines() if l.startswith("clconv: ")]
    if p.returncode != 1 or os.path.exists(out) or not first or \
            "CL_BUILD_PROGRAM_FAILURE" not in first[0]:
        fail("cl-build opencl", "expected exit 1, no output, an error line "
             "naming CL_BUILD_PROGRAM_FAILURE", p, cmd)
    # A device that does not exist is a usage error; CLCONV_DEVICE too.
    expect_fail("opencl:9:9", ["--device", "opencl:9:9", "-f", "sharpen", g,
                               "-o", w("nodev.png")], 2, names=["9:9"],
                absent=[w("nodev.png")])
    expect_fail("CLCONV_DEVICE=opencl:9:9", ["-f", "sharpen", g, "-o",
                                             w("nodev.png")], 2, names=["9:9"],
                absent=[w("nodev.png")], env={"CLCONV_DEVICE": "opencl:9:9"})
    json_cases("opencl")
    border_on_device()
    binary_cache()


def binary_cache():
    """Built kernels are kept in CLCONV_CACHE_DIR: the first run writes one
    file, the next ones use it untouched; a damaged or cut file is rebuilt,
    never trusted; 'off' and an unusable directory only cost speed."""
    global NCHECKS
    NCHECKS += 1
    cache = w("cache")
    os.mkdir(cache)
    g = w("good.png")
    args = ["-q", "--device", "opencl", "-f", "sharpen", g, "-o"]
    cmd, p = run(args + [w("c0.npy")], env={"CLCONV_CACHE_DIR": cache})
    files = glob.glob(os.path.join(cache, "*.bin"))
    if p.returncode != 0 or len(files) != 1 or os.listdir(cache) != [os.path.basename(files[0])]:
        fail("binary cache: first run", f"expected exit 0 and one .bin file, got {os.listdir(cache)}", p, cmd)
        return
    f = files[0]
    good = open(f, "rb").read()
    if not good.startswith(b"CLCONVPB"):
        fail("binary cache", "the file does not start with its magic")
    st0 = os.stat(f)
    ref = np.load(w("c0.npy"))

    def again(label, name, env, want_rewrite):
        cmd, p = run(args + [w(name)], env=env)
        if p.returncode != 0 or not np.array_equal(np.load(w(name)), ref):
            fail(f"binary cache: {label}", "expected exit 0 and the same result", p, cmd)
            return
        if want_rewrite is None:
            return
        st = os.stat(f)
        rewritten = (st.st_ino, st.st_mtime_ns) != (st0.st_ino, st0.st_mtime_ns)
        if rewritten != want_rewrite:
            fail(f"binary cache: {label}", "the file was rewritten" if rewritten
                 else "the file was not rewritten")
        data = open(f, "rb").read()
        if want_rewrite and (not data.startswith(b"CLCONVPB") or
                             int.from_bytes(data[8:16], "little") != len(data) - 24):
            fail(f"binary cache: {label}", "the rebuilt file is not a whole cache file")

    env = {"CLCONV_CACHE_DIR": cache}
    again("second run", "c1.npy", env, False)
    bad = bytearray(good)
    for i in range(len(bad) // 2, len(bad) // 2 + 64):
        bad[i] ^= 0xA5
    open(f, "wb").write(bytes(bad))
    st0 = os.stat(f)
    again("damaged file", "c2.npy", env, True)
    open(f, "wb").write(good[:100])
    st0 = os.stat(f)
    again("cut file", "c3.npy", env, True)
    again("CLCONV_CACHE_DIR=off", "c4.npy", {"CLCONV_CACHE_DIR": "off"}, None)
    again("cache dir is a file", "c5.npy", {"CLCONV_CACHE_DIR": w("afile")}, None)


def border_on_device():
    """The device reads the border itself (8-bit images go up as bytes, .npy
    as floats): for every border mode, stride and filter shape the result
    equals the CPU reference's bit for bit and --json says the border was
    filled on the device, also for the separable kernel."""
    global NCHECKS
    NCHECKS += 1
    rng = np.random.default_rng(SEED)
    a = rng.integers(0, 256, size=(37, 61), dtype=np.uint8)
    Image.fromarray(a, "L").save(w("bd.png"))
    np.save(w("bd.npy"), (a.astype(np.float32) - 100.5) * 0.37)
    cases = [
        ("sharpen", []), ("outline", ["--stride", "2"]), ("box:4", []),
        ("@" + w("f_good.txt"), ["--dilation", "3"]), ("sharpen", ["--padding", "5"]),
        ("emboss", ["--padding", "valid"]), ("sobel-top", ["--cval", "7.25"]),
    ]
    for border in ("constant", "edge", "reflect", "symmetric", "wrap"):
        for f, extra in cases:
            for src in ("bd.png", "bd.npy"):
                args = ["-q", "-f", f, "--border", border] + extra + [w(src)]
                ref = w("bd_ref.npy")
                cmd0, p0 = run(args + ["--device", "cpu", "-o", ref])
                cmd, p = run(args + ["--device", "opencl", "--json", "--verify",
                                     "-o", w("bd_dev.npy")])
                label = f"device border {border} {f} {extra} {src}"
                if p0.returncode != 0 or p.returncode != 0:
                    fail(label, "expected exit 0 on both paths", p if p.returncode else p0,
                         cmd if p.returncode else cmd0)
                    continue
                r = json.loads(p.stdout)["images"][0]
                if r.get("border") != "device":
                    fail(label, f"border filled on {r.get('border')!r}, expected device",
                         p, cmd)
                # 8-bit input: exact sums on both paths; .npy floats: --verify
                if src == "bd.png":
                    if not np.array_equal(np.load(ref), np.load(w("bd_dev.npy"))):
                        fail(label, "the device result differs from --device cpu")
    # The separable kernel's row pass reads the border on the device too.
    cmd, p = run(["-q", "-f", "gaussian:7", "--border", "reflect", "--device",
                  "opencl", "--json", "--verify", w("bd.png"), "-o", w("bd_sep.npy")])
    try:
        r = json.loads(p.stdout)["images"][0]
        if p.returncode != 0 or r.get("kernel") != "separable" or r.get("border") != "device":
            fail("gaussian:7 border", f"expected separable, device border: {r!r}", p, cmd)
    except (ValueError, KeyError, IndexError) as e:
        fail("gaussian:7 border", f"bad JSON: {e}", p, cmd)


def main():
    t0 = time.time()
    make_fixtures()
    cmd, p = run(["--list-devices"])
    if p.returncode != 0:
        fail("--list-devices", "exit status", p, cmd)
    devs = [l.split()[0] for l in p.stdout.splitlines() if l.startswith("opencl:")]
    image_failures()
    output_failures()
    filter_failures()
    usage_failures()
    batch_cases()
    info_cases()
    json_cases("cpu")
    if devs:
        device_cases(devs[0])
    else:
        print("no OpenCL device listed: device cases skipped")
        # Without a device, --device opencl cannot succeed.
        cmd, p = run(["-q", "--device", "opencl", "-f", "sharpen", w("good.png"),
                      "-o", w("nodev.png")])
        if p.returncode not in (1, 2) or os.path.exists(w("nodev.png")):
            fail("--device opencl without a device", "expected exit 1 or 2", p, cmd)
    print(f"{NCHECKS} checks, {len(FAILS)} failure(s), {time.time() - t0:.1f} s")
    if FAILS:
        print(f"files kept in {WORK}")
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
