#!/usr/bin/python3
"""test_cache.py CLCONV — the kernel binary cache is trusted only as far as it
is checked (docs/kernels.md, "Kernel cache"): an entry is used only for its
own key (an intact entry copied over another entry's name, or a damaged one,
is rebuilt and the result is the no-cache result bit for bit); a cache
directory or entry that is a symlink, not ours, or writable by others is
refused with one warning and not written; a FIFO in the cache or in
CLCONV_KERNEL_DIR is refused at once instead of blocking; and the key holds
the ICD library's identity, so touching the driver library rebuilds.
Needs an OpenCL device (else exit 77); the ownership cases need root.
"""
import ctypes
import glob
import itertools
import os
import shutil
import stat
import subprocess
import tempfile

import testenv

CLCONV, SEED = testenv.start("test_cache.py")
import numpy as np  # noqa: E402 (after testenv's check)
from PIL import Image  # noqa: E402

check = testenv.Checks("test_cache.py")
WORK = tempfile.mkdtemp(prefix="clconv-cache-")
TIMEOUT = 60


def w(*names):
    return os.path.join(WORK, *names)


def run(args, cache, env=None):
    """Runs clconv with CLCONV_CACHE_DIR=cache (None: off); a run that does
    not end in TIMEOUT seconds is a failure (returncode None)."""
    e = dict(os.environ)
    for k in ("CLCONV_FAULT", "CLCONV_DEVICE", "CLCONV_KERNEL_DIR", "CLCONV_KERNEL"):
        e.pop(k, None)
    e["CLCONV_CACHE_DIR"] = cache if cache else "off"
    for k, v in (env or {}).items():   # None: unset
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    try:
        return subprocess.run([CLCONV] + [str(a) for a in args], capture_output=True,
                              text=True, env=e, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as t:
        return subprocess.CompletedProcess(t.cmd, None, "", f"timed out after {TIMEOUT} s")


def has_device():
    p = run(["--list-devices"], None)
    return p.returncode == 0 and "0:0" in p.stdout


if not has_device():
    print("skipped: no OpenCL device")
    raise SystemExit(77)

rng = np.random.default_rng(SEED)
Image.fromarray(rng.integers(0, 256, size=(97, 131), dtype=np.uint8), "L").save(w("in.png"))
# Integer filters whose FFT programs differ in their block side (128, 256,
# 512): the main program and three FFT programs give four cache entries.
JOBS = [("main", ["-f", "sharpen"])]
for k in (5, 20, 40):
    rows = [" ".join(str(int(v)) for v in rng.integers(-3, 4, size=k)) for _ in range(k)]
    open(w(f"k{k}.txt"), "w").write("\n".join(rows) + "\n")
    JOBS.append((f"fft{k}", ["--kernel", "fft", "-f", "@" + w(f"k{k}.txt")]))


def job_args(job, out):
    return ["-q", "--device", "opencl"] + job[1] + [w("in.png"), "-o", out]


REF = {}
for job in JOBS:
    p = run(job_args(job, w(f"ref-{job[0]}.npy")), None)
    check(p.returncode == 0, f"no-cache run {job[0]}: exit {p.returncode} {p.stderr!r}")
    REF[job[0]] = np.load(w(f"ref-{job[0]}.npy")) if p.returncode == 0 else None


def all_exact(cache, label, env=None, stderr_ok=None):
    """Every job with this cache gives exit 0 and the no-cache output bit for
    bit; returns the runs' stderr."""
    errs = ""
    for job in JOBS:
        out = w(f"out-{job[0]}.npy")
        if os.path.exists(out):
            os.remove(out)
        p = run(job_args(job, out), cache, env)
        errs += p.stderr
        ok = p.returncode == 0 and os.path.exists(out)
        got = np.load(out) if ok else None
        check(ok and REF[job[0]] is not None and got.shape == REF[job[0]].shape and
              got.tobytes() == REF[job[0]].tobytes(),
              f"{label}: {job[0]} exits {p.returncode} with the no-cache result "
              f"bit for bit ({p.stderr.strip()!r})")
    return errs


def entries(cache):
    return sorted(glob.glob(os.path.join(cache, "*.bin")))


def snapshot(cache):
    return {f: (os.stat(f).st_ino, os.stat(f).st_mtime_ns, open(f, "rb").read())
            for f in entries(cache)}


def fresh_cache(name):
    d = w(name)
    os.mkdir(d, 0o700)
    os.chmod(d, 0o700)
    all_exact(d, f"{name}: first runs")
    check(all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in entries(d)),
          f"{name}: entries are written 0600")
    return d


def one_line_naming(err, path, label):
    lines = [l for l in err.splitlines() if path in l]
    check(len(lines) >= 1 and all(l.startswith("clconv: ") for l in lines) and
          len(set(lines)) == 1,
          f"{label}: one warning line naming {path} (stderr {err!r})")


# --- 1. An entry is bound to its key: moved, damaged, cut or empty entries
# are rebuilt, and the next run uses the good entry it wrote.
cache = fresh_cache("cache")
good = snapshot(cache)
check(len(good) == len(JOBS), f"one entry per program: {len(good)} for {len(JOBS)}")
for a, b in itertools.permutations(sorted(good), 2):
    for f, (_, _, data) in good.items():
        open(f, "wb").write(data)
    shutil.copyfile(a, b)
    label = f"{os.path.basename(a)} copied over {os.path.basename(b)}"
    all_exact(cache, label)
    check(open(b, "rb").read() != good[a][2], f"{label}: the entry was rebuilt")
for f, (_, _, data) in good.items():
    open(f, "wb").write(data)

for name, damage in [("a flipped byte", lambda d: d[:len(d) // 2] + bytes([d[len(d) // 2] ^ 1]) +
                      d[len(d) // 2 + 1:]),
                     ("a flipped key byte", lambda d: d[:40] + bytes([d[40] ^ 1]) + d[41:]),
                     ("cut", lambda d: d[:len(d) // 3]),
                     ("0 bytes", lambda d: b"")]:
    for f in sorted(good):
        open(f, "wb").write(damage(good[f][2]))
    all_exact(cache, f"every entry {name}")
    after = snapshot(cache)
    check(sorted(after) == sorted(good) and
          all(after[f][2] != damage(good[f][2]) for f in after),
          f"every entry {name}: each was rewritten")
    all_exact(cache, f"every entry {name}: next run")
    check(snapshot(cache) == after, f"every entry {name}: the next run uses the rebuilt "
          "entries untouched")

# --- 2. Ownership and permissions: refused, warned once, never written.
target = w("elsewhere")
os.mkdir(target, 0o700)
os.symlink(target, w("link"))
err = all_exact(w("link"), "cache dir is a symlink")
check(os.listdir(target) == [], f"cache dir is a symlink: nothing written through it "
      f"({os.listdir(target)})")
one_line_naming(err, w("link"), "cache dir is a symlink")

for mode in (0o777, 0o770, 0o722):
    d = w(f"open{mode:o}")
    os.mkdir(d)
    os.chmod(d, mode)
    err = all_exact(d, f"cache dir mode {mode:o}")
    check(os.listdir(d) == [], f"cache dir mode {mode:o}: not written ({os.listdir(d)})")
    one_line_naming(err, d, f"cache dir mode {mode:o}")

# An entry that is writable by others, or a symlink to a good entry: not
# loaded. Each is made from another program's entry, so using it would be
# wrong; a refused entry of ours is replaced by a good one.
donor = sorted(good)[0]
for label, make in [("an entry of mode 0666", lambda f: (shutil.copyfile(donor, f),
                                                        os.chmod(f, 0o666))),
                    ("an entry that is a symlink", lambda f: os.symlink(w("away.bin"), f))]:
    d = fresh_cache("c-" + label.split()[-1])
    shutil.copyfile(donor, w("away.bin"))
    victim = entries(d)[1]
    os.remove(victim)
    make(victim)
    err = all_exact(d, label)
    one_line_naming(err, victim, label)
    check(open(w("away.bin"), "rb").read() == open(donor, "rb").read(),
          f"{label}: the link's target is untouched")

if os.geteuid() == 0:
    d = fresh_cache("foreign-dir")
    os.chown(d, 65534, 65534)
    before = snapshot(d)
    for f in before:
        os.remove(f)
    err = all_exact(d, "cache dir owned by uid 65534")
    check(os.listdir(d) == [], "cache dir owned by uid 65534: not written")
    one_line_naming(err, d, "cache dir owned by uid 65534")

    d = fresh_cache("foreign-entry")
    victim = entries(d)[1]
    shutil.copyfile(donor, victim)
    os.chown(victim, 65534, 65534)
    before = open(victim, "rb").read()
    err = all_exact(d, "an entry owned by uid 65534")
    one_line_naming(err, victim, "an entry owned by uid 65534")
    st = os.stat(victim)
    check(st.st_uid == 65534 and open(victim, "rb").read() == before,
          "an entry owned by uid 65534: left as it was")
else:
    print("test_cache.py: not root, the ownership cases are skipped")

# --- 3. FIFOs: refused at once, never waited on.
d = fresh_cache("fifo")
victim = entries(d)[0]
os.remove(victim)
os.mkfifo(victim, 0o600)
err = all_exact(d, "a FIFO in the cache")
one_line_naming(err, victim, "a FIFO in the cache")
check(stat.S_ISFIFO(os.stat(victim).st_mode), "a FIFO in the cache: left as it was")

kdir = w("kernels")
os.mkdir(kdir)
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kernels")
for f in glob.glob(os.path.join(src, "*.cl")):
    shutil.copy(f, kdir)
for name in ("common.cl", "direct.cl"):
    os.remove(os.path.join(kdir, name))
    os.mkfifo(os.path.join(kdir, name), 0o600)
    p = run(["--device", "opencl", "-f", "sharpen", w("in.png"), "-o", w("kd.png")], None,
            {"CLCONV_KERNEL_DIR": kdir})
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 1 and not os.path.exists(w("kd.png")) and
          len([l for l in lines if name in l]) == 1 and
          all(l.startswith("clconv: ") for l in lines),
          f"a FIFO {name} in CLCONV_KERNEL_DIR: exit 1 in one line naming it, no "
          f"output (exit {p.returncode}, stderr {p.stderr!r})")
    p = run(["-f", "sharpen", w("in.png"), "-o", w("kd.npy")], None,
            {"CLCONV_KERNEL_DIR": kdir})
    check(p.returncode == 0 and os.path.exists(w("kd.npy")) and
          np.load(w("kd.npy")).tobytes() == REF["main"].tobytes() and name in p.stderr,
          f"a FIFO {name} in CLCONV_KERNEL_DIR under auto: the CPU result, the file "
          f"named (exit {p.returncode}, stderr {p.stderr!r})")
    os.remove(os.path.join(kdir, name))
    shutil.copy(os.path.join(src, name), kdir)

# --- 4. The key holds the ICD library's identity: a copy of the driver
# library loaded through OCL_ICD_VENDORS, then touched, is a new key.


def pocl_library():
    for icd in sorted(glob.glob("/etc/OpenCL/vendors/*.icd")):
        name = open(icd).read().strip()
        if "pocl" not in name:
            continue
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        for line in open("/proc/self/maps"):
            path = line.split()[-1]
            if path.startswith("/") and os.path.basename(path) == os.path.basename(name):
                return path
    return None


lib = pocl_library()
if lib is None:
    print("test_cache.py: no PoCL ICD under /etc/OpenCL/vendors, the ICD case is skipped")
else:
    vend = w("vendors")
    os.mkdir(vend)
    # PoCL finds its device drivers in pocl/ beside it and its headers in
    # ../../share/pocl: the copy gets both as links to the real ones.
    libdir = w("icd", "lib", "arch")
    os.makedirs(libdir)
    copy = os.path.join(libdir, os.path.basename(lib))
    shutil.copy2(lib, copy)
    real = os.path.dirname(lib)
    os.symlink(os.path.join(real, "pocl"), os.path.join(libdir, "pocl"))
    os.makedirs(w("icd", "share"))
    os.symlink(os.path.normpath(os.path.join(real, "..", "..", "share", "pocl")),
               w("icd", "share", "pocl"))
    open(os.path.join(vend, "pocl.icd"), "w").write(copy + "\n")
    # The copy alone: not another runtime named by OCL_ICD_FILENAMES (CI's
    # Intel pass sets it), whose device auto could take instead.
    env = {"OCL_ICD_VENDORS": vend, "OCL_ICD_FILENAMES": None}
    d = w("icd-cache")
    os.mkdir(d, 0o700)
    all_exact(d, "the ICD library's copy", env)
    first = set(entries(d))
    all_exact(d, "the ICD library's copy, again", env)
    check(set(entries(d)) == first, "the same ICD library: no new entry")
    st = os.stat(copy)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    all_exact(d, "the ICD library touched", env)
    new = set(entries(d)) - first
    check(len(first) == len(JOBS) and len(new) == len(JOBS),
          f"the ICD library touched: a new entry for every program ({len(first)} before, "
          f"{len(new)} new)")

shutil.rmtree(WORK, ignore_errors=True)
check.finish()
