#!/usr/bin/env python3
"""Inputs that are not plain files, and stopping: pipes, FIFOs and /dev/stdin
read up to the byte limit; a FIFO with no writer interrupted by SIGINT or
SIGTERM (exit 130), a second signal ending the run at once; -r past symlink
loops and unreadable directories, never into the output directory; -0 lists
and blank lines; a closed stdout under --json; the JSON summary's skipped and
interrupted, and usage errors in JSON; file names escaped on stderr.
argv[1] is the clconv binary."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import testenv

CLCONV, SEED = testenv.start("test_inputs.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402

rng = np.random.default_rng(SEED)
check = testenv.Checks("test_inputs.py")
CPU = ["--device", "cpu"]


def run(*args, stdin=None, env=None, timeout=60, **kw):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([CLCONV, *args], input=stdin, capture_output=True, env=e,
                       timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def image(path, w=37, h=23):
    Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(path)
    with open(path, "rb") as f:
        return f.read()


def feed(fifo, data, delay=0.3):
    """Writes data into a FIFO from a thread, after a delay (open blocks
    until clconv opens its end)."""
    def go():
        time.sleep(delay)
        try:
            with open(fifo, "wb") as f:
                f.write(data)
        except BrokenPipeError:
            pass
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def load_json(text):
    """The report, or {} when stdout holds none (a check then fails)."""
    try:
        return json.loads(text)
    except ValueError:
        return {}


def files_below(d):
    if not os.path.isdir(d):
        return None
    return sorted(os.path.relpath(os.path.join(r, f), d)
                  for r, _, fs in os.walk(d) for f in fs)


def decodes(p):
    try:
        with Image.open(p) as im:
            im.load()
        return True
    except Exception:  # noqa: BLE001 (any failure is a partial file)
        return False


def signalled(args, sigs, first_after=1.0, gap=0.0, timeout=10.0):
    """Starts clconv, sends the signals, returns (rc, stderr, seconds from
    the last signal to the exit)."""
    p = subprocess.Popen([CLCONV, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    time.sleep(first_after)
    for i, s in enumerate(sigs):
        if i:
            time.sleep(gap)
        p.send_signal(s)
    t = time.monotonic()
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, err.decode("utf-8", "replace"), out, timeout
    return p.returncode, err.decode("utf-8", "replace"), out, time.monotonic() - t


def pipes_and_fifos(tmp):
    src = os.path.join(tmp, "a.png")
    data = image(src)
    ref = os.path.join(tmp, "ref.png")
    rc, _, err = run("-f", "sharpen", src, "-o", ref, *CPU)
    check(rc == 0, f"regular-file run exit {rc}: {err}")
    refb = open(ref, "rb").read()

    # A FIFO written by another thread, as bash's <(cat a.png) is.
    fifo = os.path.join(tmp, "in.fifo")
    os.mkfifo(fifo)
    out = os.path.join(tmp, "fifo.png")
    t = feed(fifo, data)
    rc, _, err = run("-f", "sharpen", fifo, "-o", out, *CPU)
    t.join(5)
    check(rc == 0 and os.path.exists(out) and open(out, "rb").read() == refb,
          f"FIFO input: exit {rc}, output differs from the regular file's: {err}")

    # /dev/stdin as an input (a pipe), and a real process substitution.
    out = os.path.join(tmp, "stdin.png")
    rc, _, err = run("-f", "sharpen", "/dev/stdin", "-o", out, *CPU, stdin=data)
    check(rc == 0 and os.path.exists(out) and open(out, "rb").read() == refb,
          f"/dev/stdin input: exit {rc}: {err}")
    out = os.path.join(tmp, "subst.png")
    p = subprocess.run(["bash", "-c", f'"$0" -f sharpen <(cat "$1") -o "$2" --device cpu',
                        CLCONV, src, out], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and os.path.exists(out) and open(out, "rb").read() == refb,
          f"<(cat a.png): exit {p.returncode}: {p.stderr}")

    # The byte limit holds while a pipe is read (no size to check first).
    out = os.path.join(tmp, "big.png")
    t = feed(fifo, data + b"\0" * 5000)
    rc, _, err = run("-f", "sharpen", fifo, "-o", out, *CPU,
                     env={"CLCONV_MAX_FILE_BYTES": str(len(data) + 100)})
    t.join(5)
    check(rc == 1 and "too large" in err and err.count("\n") == 1 and fifo in err
          and not os.path.exists(out),
          f"a FIFO over CLCONV_MAX_FILE_BYTES: exit {rc}, want 1, one 'too large' line: {err}")
    rc, _, err = run("-f", "sharpen", "/dev/stdin", "-o", out, *CPU, stdin=data,
                     env={"CLCONV_MAX_FILE_BYTES": str(len(data) - 1)})
    check(rc == 1 and "too large" in err and not os.path.exists(out),
          f"a pipe over the limit: exit {rc}: {err}")
    # The same limit for regular files; a directory fails in one line.
    rc, _, err = run("-f", "sharpen", src, "-o", out, *CPU,
                     env={"CLCONV_MAX_FILE_BYTES": str(len(data) - 1)})
    check(rc == 1 and "too large" in err, f"regular file over the limit: exit {rc}: {err}")
    d = os.path.join(tmp, "adir.png")
    os.mkdir(d)
    with open(os.path.join(tmp, "dirs.lst"), "w") as f:
        f.write(f"{d}\n{src}\n")
    o = os.path.join(tmp, "o1")
    rc, _, err = run("-f", "sharpen", "--inputs-from", os.path.join(tmp, "dirs.lst"),
                     "-o", o + "/", *CPU)
    check(rc == 1 and files_below(o) == ["a.png"] and len(err.splitlines()) == 2
          and d in err, f"a directory in a list: exit {rc}, want 1 and one line: {err}")

    # A FIFO nobody writes: SIGINT or SIGTERM ends the run, 130, nothing left.
    for sig in (signal.SIGINT, signal.SIGTERM):
        outd = os.path.join(tmp, f"wait-{int(sig)}")
        os.mkdir(outd)
        out = os.path.join(outd, "o.png")
        rc, err, so, dt = signalled(["-f", "sharpen", fifo, "-o", out, *CPU, "--json"], [sig])
        check(rc == 130 and dt < 3, f"FIFO without writer, {sig.name}: exit {rc} after "
              f"{dt:.1f} s, want 130 within 3 s: {err}")
        check(os.listdir(outd) == [], f"{sig.name}: left {os.listdir(outd)}")
        check("interrupted" in err, f"{sig.name}: no 'interrupted' line: {err}")
        try:
            rep = load_json(so)
            check(rep.get("interrupted") is True, f"--json after {sig.name}: {rep}")
        except ValueError:
            check(False, f"--json after {sig.name} is not JSON: {so[:200]!r}")


def slow_filter(tmp):
    """A 61x61 filter of random integers: the reference path takes about a
    second per megapixel with it (no FFT, no separable shortcut)."""
    k = os.path.join(tmp, "k61.txt")
    with open(k, "w") as f:
        for row in rng.integers(-3, 4, (61, 61)):
            f.write(" ".join(str(v) for v in row) + "\n")
    return k


def fifos_in_parallel(tmp):
    # Two workers, each waiting on a FIFO nobody writes: one signal reaches
    # one thread only, yet both must give up.
    fifos = [os.path.join(tmp, f"f{i}.png") for i in range(2)]
    for f in fifos:
        os.mkfifo(f)
    out = os.path.join(tmp, "par-out")
    rc, err, _, dt = signalled(["-f", "sharpen", *fifos, "-o", out + "/", "-j", "2", *CPU],
                               [signal.SIGINT])
    check(rc == 130 and dt < 3 and "2 not started" in err,
          f"two FIFOs, -j 2, SIGINT: exit {rc} after {dt:.1f} s: {err}")
    check(not files_below(out), f"two FIFOs: left {files_below(out)}")


def second_signal(tmp):
    # One image that takes seconds: the first SIGINT lets it finish, a
    # second signal ends the process at once.
    src = os.path.join(tmp, "slow.png")
    image(src, 3600, 3600)
    k = slow_filter(tmp)
    outd = os.path.join(tmp, "slow-out")
    os.mkdir(outd)
    args = ["-f", "@" + k, src, "-o", os.path.join(outd, "o.png"), *CPU]
    rc, err, _, dt = signalled(args, [signal.SIGINT, signal.SIGTERM],
                               first_after=1.0, gap=0.3, timeout=60)
    check(rc == 130 and dt < 2.0, f"two signals: exit {rc} {dt:.2f} s after the second, "
          f"want 130 at once: {err}")
    check(not os.path.exists(os.path.join(outd, "o.png")), "two signals left an output")


def long_batch(tmp):
    src = os.path.join(tmp, "many")
    os.mkdir(src)
    image(os.path.join(src, "i000.png"), 500, 400)
    for i in range(1, 60):
        shutil.copy(os.path.join(src, "i000.png"), os.path.join(src, f"i{i:03d}.png"))
    out = os.path.join(tmp, "many-out")
    rc, err, _, _ = signalled(["-f", "@" + slow_filter(tmp), src, "-o", out + "/", "-j", "2", *CPU],
                              [signal.SIGINT], first_after=0.8, timeout=60)
    got = files_below(out) if os.path.isdir(out) else []
    check(rc == 130, f"long batch SIGINT exit {rc}: {err}")
    check(len(got) < 60, f"long batch: all {len(got)} done before the signal")
    check(all(g.endswith(".png") and not g.startswith(".") for g in got),
          f"temp files left: {got}")
    check(all(decodes(os.path.join(out, g)) for g in got), "a partial output after SIGINT")
    check("not started" in err, f"no summary: {err}")


def walks(tmp):
    tree = os.path.join(tmp, "tree")
    for d in ("a", "b/c"):
        os.makedirs(os.path.join(tree, d))
    for p in ("top.png", "a/x.png", "b/c/y.png"):
        image(os.path.join(tree, p))
    os.symlink("..", os.path.join(tree, "a", "up"))      # a directory loop
    os.symlink("self", os.path.join(tree, "self"))      # a link to itself
    out = os.path.join(tmp, "walk-out")
    rc, so, err = run("-f", "sharpen", "-r", tree, "-o", out + "/", *CPU, "--json")
    check(rc == 1, f"-r with symlink loops: exit {rc}, want 1: {err}")
    check(files_below(out) == ["a/x.png", "b/c/y.png", "top.png"],
          f"-r with loops did {files_below(out) if os.path.isdir(out) else None}")
    lines = [ln for ln in err.splitlines() if "loop" in ln]
    check(len(lines) == 2 and all("/up" in ln or "/self" in ln for ln in lines),
          f"each loop one line naming it: {err}")
    rep = load_json(so)
    check(rep.get("failed") == 2 and rep.get("done") == 3, f"JSON counts after loops: {rep}")

    # An unreadable directory: root reads any, so run as nobody.
    if os.getuid() == 0:
        nob = os.path.join(tmp, "nobody")
        os.makedirs(os.path.join(nob, "tree", "shut"))
        os.makedirs(os.path.join(nob, "tree", "open"))
        image(os.path.join(nob, "tree", "open", "o.png"))
        image(os.path.join(nob, "tree", "shut", "s.png"))
        for r, ds, fs in os.walk(nob):
            os.chmod(r, 0o777)
            for f in fs:
                os.chmod(os.path.join(r, f), 0o644)
        os.chmod(os.path.join(nob, "tree", "shut"), 0)
        for d in (tmp, os.path.dirname(tmp)):
            os.chmod(d, os.stat(d).st_mode | 0o011)
        probes = [subprocess.run(cmd, capture_output=True, preexec_fn=lambda: os.setuid(65534))
                  for cmd in ([CLCONV, "--version"],
                              ["cat", os.path.join(nob, "tree", "open", "o.png")])]
        if any(p.returncode != 0 for p in probes):
            print("skipped: the unreadable-directory case (uid 65534 cannot run clconv "
                  "or reach the test directory)")
        else:
            o = os.path.join(nob, "out")
            rc, _, err = run("-f", "sharpen", "-r", os.path.join(nob, "tree"), "-o", o + "/",
                             *CPU, preexec_fn=lambda: os.setuid(65534))
            check(rc == 1 and files_below(o) == ["open/o.png"] and "shut" in err
                  and "Permission denied" in err,
                  f"unreadable directory: exit {rc}, outputs "
                  f"{files_below(o) if os.path.isdir(o) else None}: {err}")
    else:
        d = os.path.join(tmp, "shut-tree")
        os.makedirs(os.path.join(d, "shut"))
        image(os.path.join(d, "ok.png"))
        os.chmod(os.path.join(d, "shut"), 0)
        o = os.path.join(tmp, "shut-out")
        rc, _, err = run("-f", "sharpen", "-r", d, "-o", o + "/", *CPU)
        os.chmod(os.path.join(d, "shut"), 0o755)
        check(rc == 1 and files_below(o) == ["ok.png"], f"unreadable directory: {rc} {err}")

    # The output tree inside the input tree is never an input: a rerun with
    # --skip-existing makes nothing new, also through a symlinked -o.
    for case in ("inside", "link"):
        photos = os.path.join(tmp, "photos-" + case)
        os.makedirs(os.path.join(photos, "sub"))
        image(os.path.join(photos, "p1.png"))
        image(os.path.join(photos, "sub", "p2.png"))
        o = os.path.join(photos, "out") + "/"
        if case == "link":
            os.makedirs(os.path.join(photos, "res"))
            o = os.path.join(tmp, "res-link")
            os.symlink(os.path.join(photos, "res"), o)
            o += "/"
        first = None
        for n in range(2):
            rc, so, err = run("-f", "sharpen", "-r", photos, "-o", o, *CPU,
                              "--skip-existing", "--json")
            rep = load_json(so)
            below = files_below(o)
            if n == 0:
                first = below
                check(rc == 0 and below == ["p1.png", "sub/p2.png"],
                      f"first run into {o}: exit {rc}, {below}: {err}")
            else:
                check(rc == 0 and below == first and rep.get("done") == 0 and
                      rep.get("skipped") == 2 and rep.get("images") == [],
                      f"rerun into {o}: exit {rc}, {below}, {rep}: {err}")


def lists(tmp):
    d = os.path.join(tmp, "listed")
    os.mkdir(d)
    names = [" lead.png", "trail .png", "#hash.png", "new\nline.png"]
    for n in names:
        image(os.path.join(d, n))
    with open(os.path.join(tmp, "nul.lst"), "wb") as f:
        f.write(b"\0".join(os.path.join(d, n).encode() for n in names) + b"\0")
    o = os.path.join(tmp, "nul-out")
    rc, _, err = run("-f", "sharpen", "-0", "--inputs-from", os.path.join(tmp, "nul.lst"),
                     "-o", o + "/", *CPU)
    want = sorted(os.path.splitext(n)[0] + ".png" for n in names)
    check(rc == 0 and files_below(o) == want,
          f"-0 list: exit {rc}, {files_below(o) if os.path.isdir(o) else None}: {err}")
    o = os.path.join(tmp, "nul-stdin")
    rc, _, err = run("-f", "sharpen", "--null", "-", "-o", o + "/", *CPU,
                     stdin=b"\0".join(os.path.join(d, n).encode() for n in names[:2]))
    check(rc == 0 and files_below(o) == [" lead.png", "trail .png"],
          f"-0 on stdin: exit {rc}: {err}")
    # Lines of blanks in a newline list are spacers, not names.
    a, b = os.path.join(d, "a.png"), os.path.join(d, "b.png")
    image(a)
    image(b)
    with open(os.path.join(tmp, "nl.lst"), "w") as f:
        f.write(f"{a}\n   \n\t\n# note\n \t \r\n{b}\n\n")
    o = os.path.join(tmp, "nl-out")
    rc, _, err = run("-f", "sharpen", "--inputs-from", os.path.join(tmp, "nl.lst"),
                     "-o", o + "/", *CPU)
    check(rc == 0 and files_below(o) == ["a.png", "b.png"],
          f"blank lines in a list: exit {rc}: {err}")


def closed_stdout(tmp):
    d = os.path.join(tmp, "pipe-in")
    os.mkdir(d)
    for i in range(4):
        image(os.path.join(d, f"q{i}.png"))
    o = os.path.join(tmp, "pipe-out")
    r, w = os.pipe()
    os.close(r)  # the reader is gone before clconv writes (--json | head -c0)
    p = subprocess.run([CLCONV, "-f", "sharpen", d, "-o", o + "/", *CPU, "--json"],
                       stdout=w, stderr=subprocess.PIPE, timeout=60)
    os.close(w)
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 1, f"--json into a closed pipe: exit {p.returncode}, want 1: {err}")
    check(files_below(o) == [f"q{i}.png" for i in range(4)],
          f"closed stdout: outputs {files_below(o) if os.path.isdir(o) else None}")
    check(len([ln for ln in err.splitlines() if "stdout" in ln]) == 1,
          f"closed stdout: want one line about it: {err}")


def json_fields(tmp):
    d = os.path.join(tmp, "js")
    os.mkdir(d)
    for i in range(3):
        image(os.path.join(d, f"j{i}.png"))
    o = os.path.join(tmp, "js-out") + "/"
    rc, so, err = run("-f", "sharpen", d, "-o", o, *CPU, "--json")
    rep = load_json(so)
    check(rc == 0 and rep.get("skipped") == 0 and rep.get("interrupted") is False,
          f"--json skipped/interrupted: {rep}")
    os.remove(os.path.join(o, "j1.png"))
    rc, so, err = run("-f", "sharpen", d, "-o", o, *CPU, "--json", "--skip-existing")
    rep = load_json(so)
    check(rc == 0 and rep.get("skipped") == 2 and rep.get("done") == 1,
          f"--json after --skip-existing: {rep}")
    for args in (["--json", "-f", "sharpen", "--stride", "zero", "x.png", "-o", "y.png"],
                 ["-f", "no-such-filter", "x.png", "-o", "y.png", "--json"],
                 ["--json", "x.png", "-o", "y.png"],
                 ["--json", "-f", "sharpen", "x.png", "-o", "y.xyz"]):
        rc, so, err = run(*args)
        try:
            rep = load_json(so)
        except ValueError:
            rep = None
        check(rc == 2 and isinstance(rep, dict) and rep.get("exit") == 2 and
              isinstance(rep.get("error"), str) and rep["error"] and rep["error"] in err,
              f"usage error under --json {args}: exit {rc}, stdout {so!r}")


def escaped_names(tmp):
    d = os.path.join(tmp, "esc")
    os.mkdir(d)
    bad = ["a\nclconv: forged.png", "\x1b[31mred.png", "back\\slash\x7f.png"]
    for n in bad:
        with open(os.path.join(d, n), "wb") as f:
            f.write(b"not an image")
    o = os.path.join(tmp, "esc-out") + "/"
    rc, _, err = run("-f", "sharpen", d, "-o", o, *CPU)
    lines = err.splitlines()
    check(rc == 1, f"bad images: exit {rc}")
    check("\x1b" not in err and "\x7f" not in err, f"a raw control byte on stderr: {err!r}")
    check(not any(ln.startswith("clconv: forged") for ln in lines),
          f"a forged line on stderr: {err!r}")
    check(len(lines) == len(bad) + 1 and all(ln.startswith("clconv: ") for ln in lines),
          f"one line per message: {err!r}")
    check(any("a\\nclconv: forged.png" in ln for ln in lines) and
          any("\\x1b[31mred.png" in ln for ln in lines) and
          any("back\\\\slash\\x7f.png" in ln for ln in lines),
          f"names escaped as \\n, \\xNN, \\\\: {err!r}")
    # --json keeps the raw names (JSON escapes them itself).
    rc, so, _ = run("-f", "sharpen", d, "-o", o, *CPU, "--json")
    rep = load_json(so)
    check(sorted(os.path.basename(i["input"]) for i in rep.get("images", [])) == sorted(bad),
          f"--json names: {rep}")


with tempfile.TemporaryDirectory() as tmp:
    for part in (pipes_and_fifos, fifos_in_parallel, second_signal, long_batch, walks, lists,
                 closed_stdout, json_fields, escaped_names):
        sub = os.path.join(tmp, part.__name__)
        os.mkdir(sub)
        print(f"-- {part.__name__}", flush=True)
        part(sub)
    check.finish()
