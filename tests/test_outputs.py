#!/usr/bin/env python3
"""What clconv writes, and where: no output (-o, a directory's, --side-by-side)
may be an input or another output, however spelt (./name, a symlink, a hard
link, a directory that is the input's); verification failures are written
under NAME.mismatch and --skip-existing takes only finished outputs;
--max-pixels bounds every plane; modes follow the umask in every thread; the
temporary files of a killed clconv are cleaned; output directories are made
like mkdir -p, also by 32 processes at once. argv[1] is the clconv binary.
Each case checks what the user owns is intact (sha256) and the exit status."""
import glob
import hashlib
import os
import socket
import subprocess
import tempfile
import time

import testenv

CLCONV, SEED = testenv.start("test_outputs.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402

rng = np.random.default_rng(SEED)
check = testenv.Checks("test_outputs.py")


def run(*args, cwd=None, env=None, umask=None):
    e = dict(os.environ)
    e.pop("CLCONV_FAULT", None)
    e.pop("CLCONV_DEVICE", None)
    e.update(env or {})
    pre = (lambda: os.umask(umask)) if umask is not None else None
    p = subprocess.run([CLCONV, *map(str, args)], capture_output=True, text=True,
                       env=e, cwd=cwd, preexec_fn=pre)
    return p.returncode, p.stderr


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def gray(path, w=80, h=60):
    Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(path)
    return path


def errors(err):
    return [l for l in err.splitlines() if not l.startswith("clconv: using ")]


def opencl_ok(tmp):
    src = gray(os.path.join(tmp, "probe.png"), 8, 8)
    rc, _ = run("-q", "-f", "identity", "--device", "opencl", src, "-o",
                os.path.join(tmp, "probe-out.png"))
    return rc == 0


def refused(what, args, cwd, keep, gone=(), contains=()):
    """Exit 2 before anything is done: one error line naming the clash, every
    file of `keep` byte for byte as it was, no file of `gone` made."""
    before = {k: sha(os.path.join(cwd, k)) for k in keep}
    rc, err = run("-q", "--device", "cpu", *args, cwd=cwd)
    lines = errors(err)
    check(rc == 2, f"{what}: exit {rc}, want 2: {err}")
    check(len(lines) >= 1 and all(c in lines[0] for c in contains),
          f"{what}: the error does not name {contains}: {err}")
    for k, h in before.items():
        check(sha(os.path.join(cwd, k)) == h, f"{what}: {k} was changed")
    for g in gone:
        check(not os.path.exists(os.path.join(cwd, g)), f"{what}: {g} was written")


def clashes(tmp):
    d = os.path.join(tmp, "clash")
    os.makedirs(d)
    gray(os.path.join(d, "x.png"))
    os.symlink("x.png", os.path.join(d, "link.png"))
    os.link(os.path.join(d, "x.png"), os.path.join(d, "hard.png"))
    keep = ["x.png", "link.png", "hard.png"]
    for name in ("x.png", "./x.png", "link.png", "hard.png", "../clash/x.png"):
        refused(f"-o {name}", ["-f", "sharpen", "x.png", "-o", name], d, keep,
                contains=("x.png", name))
        refused(f"--side-by-side {name}", ["-f", "sharpen", "x.png", "-o", "o.png",
                                           "--side-by-side", name], d, keep,
                gone=["o.png"], contains=(name, "x.png"))
    # --side-by-side may not be the output either, however spelt.
    for sbs in ("o.png", "./o.png", "sub/../o.png"):
        os.makedirs(os.path.join(d, "sub"), exist_ok=True)
        refused(f"--side-by-side {sbs} = -o o.png", ["-f", "sharpen", "x.png", "-o", "o.png",
                                                     "--side-by-side", sbs], d, keep,
                gone=["o.png"], contains=(sbs, "x.png"))
    # An existing output that --side-by-side reaches through a link.
    gray(os.path.join(d, "old.png"))
    os.symlink("old.png", os.path.join(d, "old-link.png"))
    refused("--side-by-side a link to -o", ["-f", "sharpen", "x.png", "-o", "old.png",
                                            "--side-by-side", "old-link.png"], d,
            keep + ["old.png"])
    # A directory output that is the input's own directory.
    refused("-o ./ --format png", ["-f", "sharpen", "x.png", "-o", "./", "--format", "png"],
            d, keep, contains=("x.png",))
    os.symlink(".", os.path.join(d, "here"))
    refused("-o here/ (a link to .)", ["-f", "sharpen", "x.png", "-o", "here/"], d, keep)
    # Another input's output that is an input: x.jpg -> ./x.png.
    Image.open(os.path.join(d, "x.png")).save(os.path.join(d, "x.jpg"))
    refused("x.jpg's output is the input x.png", ["-f", "sharpen", "x.jpg", "x.png", "-o", "./"],
            d, keep + ["x.jpg"], contains=("x.jpg", "x.png"))
    # Two inputs, one output name: refused (not renamed), in every shard too.
    e = os.path.join(tmp, "clash2")
    os.makedirs(e)
    gray(os.path.join(e, "a.png"))
    Image.open(os.path.join(e, "a.png")).save(os.path.join(e, "a.bmp"))
    refused("a.png and a.bmp into out/", ["-f", "sharpen", "a.png", "a.bmp", "-o", "out/"],
            e, ["a.png", "a.bmp"], gone=["out/a.png"], contains=("a.png", "a.bmp"))
    for i in (0, 1):
        refused(f"a.png and a.bmp in shards {i}/2", ["-f", "sharpen", "a.png", "a.bmp", "-o",
                                                    "out/", "--shard", f"{i}/2"],
                e, ["a.png", "a.bmp"], gone=["out/a.png"], contains=("a.png", "a.bmp"))
    # Not a clash: distinct outputs next to the inputs.
    rc, err = run("-q", "--device", "cpu", "-f", "sharpen", "x.png", "-o", "y.png",
                  "--side-by-side", "z.png", cwd=d)
    check(rc == 0 and os.path.exists(os.path.join(d, "z.png")), f"-o y.png --side-by-side z.png: "
          f"exit {rc}: {err}")


def nonfinite_verify(tmp, have_cl):
    """A device float sum that overflows where the reference's double sum
    does not: +-inf against +-3e38 is a mismatch, not 'verify ok'."""
    if not have_cl:
        print("skipped: no OpenCL device for the --verify overflow case")
        return
    for sign in (1, -1):
        src = os.path.join(tmp, f"big{sign}.npy")
        np.save(src, np.full((6, 9), sign * 3e38, np.float32))
        out = os.path.join(tmp, f"big{sign}-out.npy")
        rc, err = run("-q", "-f", "1,1,-1", "--padding", "valid", "--device", "opencl",
                      "--verify", src, "-o", out)
        check(rc == 3 and "verification failed" in err,
              f"--verify of {sign * 3e38:g} * (1, 1, -1): exit {rc}, want 3: {err}")
        check(not os.path.exists(out), f"a mismatched {out} was kept under its name")


def mismatch_and_resume(tmp, have_cl):
    d = os.path.join(tmp, "mis")
    os.makedirs(d)
    src = gray(os.path.join(d, "in.png"), 12, 12)
    cases = [("--verify", "full", "o.png"), ("--verify=sample", "sample", "s.npy")]
    if have_cl:
        for opt, name, out in cases:
            outp = os.path.join(d, out)
            rc, err = run("-q", "-f", "sharpen", "--device", "opencl", opt, src, "-o", outp,
                          env={"CLCONV_FAULT": "perturb"})
            check(rc == 3, f"{name}: perturbed result, exit {rc}, want 3: {err}")
            check(not os.path.exists(outp), f"{name}: the wrong result is under its name")
            check(os.path.exists(outp + ".mismatch") and outp + ".mismatch" in err,
                  f"{name}: no {outp}.mismatch, or not named: {err}")
            if out.endswith(".npy") and os.path.exists(outp + ".mismatch"):
                check(np.load(outp + ".mismatch").shape == (12, 12), "mismatch .npy unreadable")
            rc, err = run("-q", "-f", "sharpen", "--device", "cpu", "--skip-existing", src,
                          "-o", outp)
            check(rc == 0 and os.path.exists(outp), f"{name}: resume did not redo it: {rc} {err}")
    else:
        print("skipped: no OpenCL device for the .mismatch cases")
    # --skip-existing takes only non-empty regular files of the right format.
    ins, out = os.path.join(tmp, "skip-in"), os.path.join(tmp, "skip-out")
    os.makedirs(ins)
    os.makedirs(out)
    for n in "abcde":
        gray(os.path.join(ins, n + ".png"), 10, 8)
    open(os.path.join(out, "a.png"), "wb").close()                      # empty
    os.makedirs(os.path.join(out, "b.png"))                              # a directory
    Image.open(os.path.join(ins, "c.png")).save(os.path.join(out, "c.png"), "JPEG")
    gray(os.path.join(out, "d.png"), 10, 8)                              # finished
    os.utime(os.path.join(out, "d.png"), (1000, 1000))
    with open(os.path.join(out, "e.png"), "wb") as f:                    # a stub
        f.write(b"\x89PN")
    d_sha = sha(os.path.join(out, "d.png"))
    rc, err = run("-f", "sharpen", "--device", "cpu", "--skip-existing", ins, "-o", out + "/")
    lines = errors(err)
    check(rc == 1, f"--skip-existing with a directory in an output's place: exit {rc}, want 1")
    check(any("b.png" in l and "directory" in l for l in lines), f"b.png/ not named: {err}")
    check("1 skipped" in err, f"only d.png should be skipped: {err}")
    check(sha(os.path.join(out, "d.png")) == d_sha and
          os.stat(os.path.join(out, "d.png")).st_mtime == 1000, "the finished d.png was redone")
    for n in "ace":
        p = os.path.join(out, n + ".png")
        with open(p, "rb") as f:
            head = f.read(8)
        check(head == b"\x89PNG\r\n\x1a\n", f"{n}.png was skipped, not redone ({head!r})")
    check(os.path.isdir(os.path.join(out, "b.png")), "the directory b.png was touched")
    for fmt, stub, good in (("tga", b"\0" * 5, None), ("npy", b"not numpy", None)):
        o2 = os.path.join(tmp, "skip-" + fmt)
        os.makedirs(o2)
        with open(os.path.join(o2, "a." + fmt), "wb") as f:
            f.write(stub)
        rc, err = run("-q", "-f", "sharpen", "--device", "cpu", "--skip-existing", "--format",
                      fmt, os.path.join(ins, "a.png"), "-o", o2 + "/")
        check(rc == 0 and os.path.getsize(os.path.join(o2, "a." + fmt)) > 18,
              f"--skip-existing took a {len(stub)}-byte stub for a finished .{fmt}: {rc} {err}")


def limits(tmp):
    d = os.path.join(tmp, "lim")
    os.makedirs(d)
    src = gray(os.path.join(d, "in.png"))  # 80x60
    out = os.path.join(d, "out.npy")
    for args in (["--resize", "16385x16385"],
                 ["--resize", "200x100", "--max-pixels", "10000"]):
        rc, err = run("-q", "-f", "sharpen", "--device", "cpu", *args, src, "-o", out)
        check(rc == 2 and "--resize" in err and "--max-pixels" in err,
              f"{args}: exit {rc}, want 2 naming --resize: {err}")
        check(not os.path.exists(out), f"{args}: an output was written")
    for args, what in ((["--padding", "5000", "--max-pixels", "1000000"], "padded plane"),
                       (["--dilation", "2000", "--max-pixels", "1000000"], "padded plane"),
                       (["--padding", "30", "--max-pixels", "10000"], "padded plane")):
        rc, err = run("-q", "-f", "sharpen", "--device", "cpu", *args, src, "-o", out)
        lines = errors(err)
        check(rc == 1 and len(lines) == 1 and "in.png" in lines[0] and what in lines[0]
              and "--max-pixels" in lines[0], f"{args}: exit {rc}, want 1 naming the {what}: {err}")
        check(not os.path.exists(out), f"{args}: an output was written")
    # Legit sizes under a tight limit still work.
    for args in (["--padding", "10", "--max-pixels", "8000"],
                 ["--padding", "valid", "--max-pixels", "4800"],
                 ["--resize", "100x80", "--padding", "valid", "--max-pixels", "8000"]):
        rc, err = run("-q", "-f", "sharpen", "--device", "cpu", *args, src, "-o", out)
        check(rc == 0 and os.path.exists(out), f"{args}: exit {rc}, want 0: {err}")
        if os.path.exists(out):
            os.remove(out)


def modes(tmp):
    ins = os.path.join(tmp, "mode-in")
    os.makedirs(ins)
    for i in range(16):
        gray(os.path.join(ins, f"m{i:02d}.png"), 40, 30)
    for mask, want in ((0o077, 0o600), (0o022, 0o644), (0o027, 0o640)):
        out = os.path.join(tmp, f"mode-out-{mask:03o}")
        rc, err = run("-q", "-f", "sharpen", "--device", "cpu", "-j", "4", ins, "-o", out + "/",
                      umask=mask)
        got = {f: os.stat(os.path.join(out, f)).st_mode & 0o777 for f in os.listdir(out)}
        check(rc == 0 and len(got) == 16, f"umask {mask:03o}: exit {rc}: {err}")
        bad = {f: oct(m) for f, m in got.items() if m != want}
        check(not bad, f"umask {mask:03o}: want {want:o}, got {bad}")
        check(os.stat(out).st_mode & 0o777 == 0o777 & ~mask,
              f"umask {mask:03o}: output directory mode {os.stat(out).st_mode & 0o777:o}")
    # A replaced output keeps its permission bits (as a tool rewriting it would).
    out = os.path.join(tmp, "mode-keep.png")
    gray(out)
    os.chmod(out, 0o640)
    rc, err = run("-q", "-f", "sharpen", "--device", "cpu", os.path.join(ins, "m00.png"), "-o",
                  out, umask=0o022)
    check(rc == 0 and os.stat(out).st_mode & 0o777 == 0o640 and Image.open(out).size == (40, 30),
          f"a replaced 0640 output: exit {rc}, mode {os.stat(out).st_mode & 0o777:o}")


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def stale_temps(tmp):
    d = os.path.join(tmp, "stale")
    os.makedirs(d)
    src = gray(os.path.join(tmp, "st.png"), 10, 10)
    host = socket.gethostname().split(".")[0]
    dead = dead_pid()
    old = time.time() - 3 * 86400
    names = {
        f".x.png.clconv-tmp-{host}-{dead}-abcdef": False,      # ours, writer gone
        f".x.png.clconv-tmp-{host}-{os.getpid()}-abcdef": True,  # writer alive
        f".y.png.clconv-tmp-elsewhere-{dead}-abcdef": True,    # another host's, recent
        f".z.png.clconv-tmp-elsewhere-{dead}-qwerty": False,   # another host's, 3 days old
        ".clconv-tmp-a1b2c3": True,                           # older naming, recent
        ".clconv-tmp-old123": False,                          # older naming, 3 days old
        "notes.clconv-tmp.txt": True,                         # the user's
        f"x.png.clconv-tmp-{host}-{dead}-abcdef": True,        # not hidden: not ours
        f".x.png.clconv-tmp-{host}-{dead}-abc": True,          # not our pattern
    }
    for n in names:
        with open(os.path.join(d, n), "w") as f:
            f.write("keep me")
        if "elsewhere" in n and "qwerty" in n or n == ".clconv-tmp-old123":
            os.utime(os.path.join(d, n), (old, old))
    os.makedirs(os.path.join(d, f".w.png.clconv-tmp-{host}-{dead}-dirdir"))  # a directory
    rc, err = run("-q", "-f", "sharpen", "--device", "cpu", src, "-o", os.path.join(d, "st.png"))
    check(rc == 0, f"run into a directory with stale temps: exit {rc}: {err}")
    for n, kept in names.items():
        check(os.path.exists(os.path.join(d, n)) == kept,
              f"{n}: {'removed' if kept else 'left behind'}")
    check(os.path.isdir(os.path.join(d, f".w.png.clconv-tmp-{host}-{dead}-dirdir")),
          "a directory of temp-like name was removed")
    # The writer's own temp file: hidden, ours, gone after the run.
    check(not [n for n in os.listdir(d) if n.startswith(".st.png.clconv-tmp-")],
          "the run left its own temp file")
    # fsync: the file before its rename, the directory after (strace, if usable).
    trace = os.path.join(tmp, "strace.txt")
    try:
        p = subprocess.run(["strace", "-f", "-o", trace, "-e", "trace=fsync,rename,renameat,"
                            "renameat2", CLCONV, "-q", "-f", "sharpen", "--device", "cpu", src,
                            "-o", os.path.join(d, "st2.png")], capture_output=True, text=True)
        lines = open(trace).read().splitlines() if p.returncode == 0 else []
    except OSError:
        lines = []
    if not lines:
        print("skipped: strace not usable here; the fsync order is not observed")
        return
    ren = [i for i, l in enumerate(lines) if "rename" in l and "st2.png" in l]
    syncs = [i for i, l in enumerate(lines) if "fsync(" in l and "= 0" in l]
    check(len(ren) == 1 and any(i < ren[0] for i in syncs) and any(i > ren[0] for i in syncs),
          f"want fsync, rename, fsync; strace says: {lines}")


def mkdir_p(tmp):
    ins = os.path.join(tmp, "par-in")
    os.makedirs(ins)
    for i in range(64):
        gray(os.path.join(ins, f"p{i:02d}.png"), 16, 12)
    # The README's parallel pattern: shards started at once into a new
    # directory (and one below missing parents).
    for out in (os.path.join(tmp, "par-out") + "/", os.path.join(tmp, "par-out2", "a", "b") + "/"):
        procs = [subprocess.Popen([CLCONV, "-q", "-j", "1", "--device", "cpu", "-f", "blur", ins,
                                   "-o", out, "--shard", f"{i}/32"], stderr=subprocess.PIPE,
                                  text=True) for i in range(32)]
        res = [(p.wait(), p.stderr.read()) for p in procs]
        for p in procs:
            p.stderr.close()
        bad = [(i, rc, e) for i, (rc, e) in enumerate(res) if rc != 0]
        check(not bad, f"32 shards at once into a new {out}: {len(bad)} failed: {bad[:3]}")
        check(len(glob.glob(out + "*.png")) == 64, f"{len(glob.glob(out + '*.png'))} of 64 outputs")
    one = os.path.join(tmp, "par-in", "p00.png")
    rc, err = run("-q", "--device", "cpu", "-f", "blur", one, "-o", "new/sub/", cwd=tmp)
    check(rc == 0 and os.path.exists(os.path.join(tmp, "new", "sub", "p00.png")),
          f"-o new/sub/: exit {rc}: {err}")
    # A file where a directory should be: that is an error naming it.
    open(os.path.join(tmp, "afile"), "w").close()
    rc, err = run("-q", "--device", "cpu", "-f", "blur", one, "-o", "afile/sub/", cwd=tmp)
    check(rc == 1 and "afile" in err and len(errors(err)) == 1, f"-o afile/sub/: exit {rc}: {err}")


def main():
    with tempfile.TemporaryDirectory(prefix="clconv-outputs-") as tmp:
        have_cl = opencl_ok(tmp)
        clashes(tmp)
        nonfinite_verify(tmp, have_cl)
        mismatch_and_resume(tmp, have_cl)
        limits(tmp)
        modes(tmp)
        stale_temps(tmp)
        mkdir_p(tmp)
    check.finish()


main()
