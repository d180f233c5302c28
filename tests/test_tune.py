#!/usr/bin/env python3
"""clconv --tune (issue 14, part 3; docs/kernels.md "Tuning table"):
- a small tune on the default device finishes within its budget (wall time
  <= budget + a margin: a functional limit, not a speed test), writes one
  table in the cache directory with the device's key, every entry verified
  and a valid checksum, and --list-devices says the device is tuned;
- auto then follows the table, and the image is unchanged bit for bit;
- a rigged table (written here, valid checksum) changes auto's choice, as
  --json's kernel and tuned fields show, also to tile sizes other than the
  built-in ones, with the same output;
- a damaged (checksum), foreign (another device's key), ill-formed
  (bad syntax, truncated) table is refused with one warning naming the file
  and the cause; the result is the untuned one; the next --tune rebuilds it;
- bad --budget values and --tune --device cpu are usage errors.
Needs an OpenCL device (exit 77 without one unless CLCONV_REQUIRE_DEVICE=1).
argv[1]: clconv. CLCONV_TUNE_BUDGET sets the small tune's budget (10 s)."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import testenv

CLCONV, SEED = testenv.start("test_tune.py")
check = testenv.Checks("test_tune.py")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

BUDGET = float(os.environ.get("CLCONV_TUNE_BUDGET", "10"))
MARGIN = 3.0  # process exit, closing the device, a loaded machine
rng = np.random.default_rng(SEED)
FNV0 = 0xcbf29ce484222325


def fnv(data):
    h = FNV0
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def with_checksum(body):
    """body (bytes, lines ending in newlines) with its checksum line."""
    return body + b"checksum %016x\n" % fnv(body)


tmp = tempfile.mkdtemp(prefix="clconv-tune-")
cache = os.path.join(tmp, "cache")
os.mkdir(cache, 0o700)
ENV = dict(os.environ, CLCONV_CACHE_DIR=cache)
for v in ("CLCONV_FAULT", "CLCONV_KERNEL", "CLCONV_TUNE_TABLE", "CLCONV_HOST_PAD"):
    ENV.pop(v, None)


def run(args, timeout=600, **kw):
    return subprocess.run([CLCONV] + args, capture_output=True, text=True,
                          env=dict(ENV, **kw), timeout=timeout)


devices = run(["--list-devices"]).stdout
if "opencl:" not in devices:
    if os.environ.get("CLCONV_REQUIRE_DEVICE") == "1":
        print("FAIL: no OpenCL device, and CLCONV_REQUIRE_DEVICE=1")
        sys.exit(1)
    print("skipped: no OpenCL device")
    sys.exit(77)

# The image: a prime-sized 8-bit gray image, a 3x3 integer filter that does
# not factor (so the "sq" entries apply; results are exact integers).
h, w = 211, 307
img = os.path.join(tmp, "in.png")
Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(img)
while True:
    K = rng.integers(-4, 5, (3, 3))
    if np.linalg.matrix_rank(K) > 1:
        break
spec = ";".join(",".join(str(int(v)) for v in row) for row in K)


def filt(tag, **kw):
    """Runs the filter; returns (report of the image or None, output array,
    stderr)."""
    out = os.path.join(tmp, f"out-{tag}.npy")
    p = run(["-f", spec, img, "-o", out, "--json", "-q", "--border", "reflect"], **kw)
    try:
        rep = json.loads(p.stdout)["images"][0]
    except (ValueError, KeyError, IndexError):
        rep = None
    arr = np.load(out) if p.returncode == 0 and os.path.exists(out) else None
    return rep, arr, p.stderr


def table_lines(stderr):
    return [l for l in stderr.splitlines() if "tuning table" in l]


# --- untuned: the built-in choice, "default" --------------------------------
base, base_out, err = filt("base")
check(base is not None and base.get("tuned") == "default",
      f"untuned: --json tuned is 'default' ({base}, {err})")
check(base is not None and base.get("kernel") == "tiled",
      f"untuned: auto takes tiled for 3x3 ({base and base.get('kernel')})")
check(base_out is not None, "untuned: an output")
check(not table_lines(err), f"untuned: no tuning-table message ({err!r})")
check("not tuned" in run(["--list-devices"]).stdout, "--list-devices: not tuned yet")

# --- a small tune ----------------------------------------------------------
t0 = time.monotonic()
p = run(["--tune", "--budget", str(BUDGET), "--json"])
wall = time.monotonic() - t0
print(f"--tune --budget {BUDGET}: {wall:.2f} s wall")
check(p.returncode == 0, f"--tune exit {p.returncode}: {p.stderr}")
check(wall <= BUDGET + MARGIN, f"--tune took {wall:.2f} s, budget {BUDGET} s + {MARGIN}")
try:
    doc = json.loads(p.stdout)["tune"][0]
except (ValueError, KeyError, IndexError):
    doc = {}
check(doc.get("ok") is True and doc.get("points", 0) > 0, f"--tune --json: {p.stdout}")
tables = glob.glob(os.path.join(cache, "tune-*.txt"))
check(len(tables) == 1, f"one table in the cache directory ({tables})")
table = tables[0] if tables else None
check(doc.get("table") == table, f"--json names the table ({doc.get('table')})")
text = open(table, "rb").read() if table else b""
lines = text.decode(errors="replace").splitlines()
check(lines[:1] == ["clconv tuning table 1"], "the table's first line")
dev_line = [l for l in devices.splitlines() if l.startswith("opencl:")][0]
dev_name = dev_line.split("  ", 2)[2]
check(f"device {dev_name}" in lines, f"the table's key names the device '{dev_name}'")
check(any(l.startswith("driver ") for l in lines) and any(l.startswith("platform ")
                                                          for l in lines),
      "the key has the platform and the driver")
entries = [l for l in lines if l.startswith("entry ")]
check(len(entries) >= 1 and len(entries) == doc.get("measured"),
      f"{len(entries)} entries, --json measured {doc.get('measured')}")
check(all(l.endswith(" verified") and len(l.split()) == 12 for l in entries),
      "every entry verified")
check(lines and lines[-1] == "checksum %016x" % fnv(text[:text.rfind(b"checksum ")]),
      "the checksum line holds the table's FNV-1a")
check(os.stat(table).st_mode & 0o777 == 0o600 if table else False, "the table is 0600")
lst = run(["--list-devices"]).stdout
check(f"tuned: {len(entries)} table entr" in lst and table in lst,
      f"--list-devices says tuned, with the table ({lst})")

tuned, tuned_out, err = filt("tuned")
check(tuned is not None and tuned.get("tuned", "").startswith("sq"),
      f"tuned: an 'sq' entry chose the kernel ({tuned})")
check(tuned_out is not None and base_out is not None
      and np.array_equal(tuned_out, base_out), "tuned: the output is unchanged")
check(not table_lines(err), f"tuned: no message ({err!r})")
off, _, _ = filt("off", CLCONV_TUNE_TABLE="off")
check(off is not None and off.get("tuned") == "default", "CLCONV_TUNE_TABLE=off: default")

# --- rigged tables: auto follows them ----------------------------------------
key = b"".join(l.encode() + b"\n" for l in lines[:7])  # the magic and the key
RIGS = [("naive", "entry sq 3 256 naive 1 1 16 16 0.1000 0.2000 verified", "naive"),
        ("tiled-8x2", "entry sq 3 256 tiled 8 2 32 2 0.1000 0.2000 verified", "tiled"),
        ("tiled-4x1", "entry sq 5 1024 tiled 4 1 64 1 0.1000 0.2000 verified", "tiled"),
        ("local", "entry sq 3 256 local 2 1 16 8 0.1000 0.2000 verified", "local")]
for tag, entry, want in RIGS:
    body = key + b"budget-s 1.0\npoints 1 of 1\n" + entry.encode() + b"\n"
    # A rank-1 entry nearer to the call must not be taken for a square filter.
    body += b"entry r1 3 256 separable 16 4 64 1 0.1000 0.2000 verified\n"
    open(table, "wb").write(with_checksum(body))
    rep, out, err = filt(tag)
    name = entry.split()[1] + entry.split()[2] + "@" + entry.split()[3]
    check(rep is not None and rep.get("kernel") == want and rep.get("tuned") == name,
          f"rigged {tag}: kernel {rep and rep.get('kernel')}, tuned "
          f"{rep and rep.get('tuned')}; want {want}, {name} ({err})")
    check(out is not None and base_out is not None and np.array_equal(out, base_out),
          f"rigged {tag}: the output is unchanged bit for bit")
    check(not table_lines(err), f"rigged {tag}: no message ({err!r})")

# --- refused tables: one message, the built-in choice ---------------------------
good_body = key + b"budget-s 1.0\npoints 1 of 1\n" + \
    b"entry sq 3 256 naive 1 1 16 16 0.1000 0.2000 verified\n"
foreign = good_body.replace(f"device {dev_name}\n".encode(), b"device another GPU\n")
BAD = [("checksum", with_checksum(good_body).replace(b"naive 1 1 16 16", b"naive 1 1 16 8"),
        "checksum"),
       ("foreign", with_checksum(foreign), "another device"),
       ("syntax", with_checksum(good_body.replace(b"naive", b"warp")), "bad syntax"),
       ("truncated", with_checksum(good_body)[:-10], "checksum"),
       ("binary", b"\x00\x01garbage", "not a text file")]
for tag, data, cause in BAD:
    open(table, "wb").write(data)
    rep, out, err = filt(f"bad-{tag}")
    msgs = table_lines(err)
    check(len(msgs) == 1 and table in msgs[0] and cause in msgs[0] and "ignored" in msgs[0],
          f"{tag} table: one message naming the file and '{cause}' ({err!r})")
    check(rep is not None and rep.get("kernel") == base.get("kernel")
          and rep.get("tuned") == "default", f"{tag} table: the built-in choice ({rep})")
    check(out is not None and base_out is not None and np.array_equal(out, base_out),
          f"{tag} table: the output is unchanged")
    lst = run(["--list-devices"])
    check("not tuned" in lst.stdout and len(table_lines(lst.stderr)) == 1,
          f"{tag} table: --list-devices says not tuned, one message")

# The next --tune rebuilds the refused table.
p = run(["--tune", "--budget", "4", "-q"])
text = open(table, "rb").read()
check(p.returncode == 0 and text.startswith(b"clconv tuning table 1\n")
      and text.endswith(b"checksum %016x\n" % fnv(text[:text.rfind(b"checksum ")])),
      f"--tune rebuilt the damaged table ({p.returncode}, {p.stderr})")
check("tuned:" in run(["--list-devices"]).stdout, "--list-devices: tuned again")

# --- usage --------------------------------------------------------------------
for args in (["--tune", "--budget", "0"], ["--tune", "--budget", "x"],
             ["--tune", "--budget", "nan"], ["--budget", "5", "-f", "blur", img, "-o",
                                             os.path.join(tmp, "u.png")],
             ["--tune", "--device", "cpu"]):
    p = run(args)
    check(p.returncode == 2 and p.stderr.count("\n") >= 1,
          f"{' '.join(args)}: exit {p.returncode}, want 2 ({p.stderr!r})")

# No cache directory to keep the table in: one line, exit 1, nothing written.
p = run(["--tune", "--budget", "3"], CLCONV_CACHE_DIR="off")
msgs = [l for l in p.stderr.splitlines() if "cannot tune" in l]
check(p.returncode == 1 and len(msgs) == 1 and "CLCONV_CACHE_DIR=off" in msgs[0],
      f"--tune with the cache off: exit {p.returncode}, one line ({p.stderr!r})")

check.finish()
