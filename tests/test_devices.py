#!/usr/bin/env python3
"""Two OpenCL implementations at once (CI: PoCL and Intel's runtime): under
--device auto a device that cannot be opened gives way to the next device
before the CPU reference (CLCONV_FAULT=cl-open=PART fails the devices whose
"platform: device" names hold PART), and --device all spreads a batch over
both with outputs identical, byte for byte, to each device alone and to the
CPU reference (integer filters are exact). Exits 77 with fewer than two
devices unless CLCONV_REQUIRE_DEVICES=2. argv[1]: clconv."""
import os
import subprocess
import sys
import tempfile

import testenv

CLCONV, SEED = testenv.start("test_devices.py")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

rng = np.random.default_rng(SEED)
check = testenv.Checks("test_devices.py")


def run(args, fault=None):
    env = dict(os.environ)
    for k in ("CLCONV_FAULT", "CLCONV_KERNEL", "CLCONV_DEVICE"):
        env.pop(k, None)
    if fault:
        env["CLCONV_FAULT"] = fault
    return subprocess.run([CLCONV] + args, capture_output=True, text=True, env=env,
                          timeout=300)


lines = [l for l in run(["--list-devices"]).stdout.splitlines() if l.startswith("opencl:")]
devs = [l.split()[0] for l in lines]
if len(devs) < 2:
    if os.environ.get("CLCONV_REQUIRE_DEVICES") == "2":
        print(f"FAIL: {len(devs)} OpenCL device(s), and CLCONV_REQUIRE_DEVICES=2")
        sys.exit(1)
    print(f"skipped: {len(devs)} OpenCL device(s), two needed")
    sys.exit(77)
plats = run(["--list-devices"]).stdout
print("devices:", devs)

with tempfile.TemporaryDirectory() as tmp:
    ins = []
    for i in range(8):
        h, w = int(rng.integers(1, 90)), int(rng.integers(1, 120))
        p = os.path.join(tmp, f"in{i}.png")
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(p)
        ins.append(p)
    filt = "1,2,-1;0,3,-2;1,-1,4"

    def batch(device, name, fault=None, extra=()):
        out = os.path.join(tmp, name) + "/"
        r = run(["-q", "-f", filt, "--format", "npy", "--device", device, *extra,
                 *ins, "-o", out], fault)
        check(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr}")
        return {os.path.basename(p)[:-4]: open(os.path.join(out, os.path.basename(p)[:-4] + ".npy"), "rb").read()
                for p in ins if os.path.exists(os.path.join(out, os.path.basename(p)[:-4] + ".npy"))}

    ref = batch("cpu", "cpu")
    check(len(ref) == len(ins), "the reference wrote every output")
    for k, d in enumerate(devs[:2]):
        got = batch(d, f"dev{k}")
        check(got == ref, f"{d} alone: outputs identical to the CPU reference")
    got = batch("all", "all")
    check(got == ref, "--device all: outputs identical to single-device runs")

    # auto, the first choice failing: the next device, not the CPU.
    first = lines[0]
    first_plat = None
    for line in plats.splitlines():
        if line.strip().startswith("vendor") and first_plat is None:
            first_plat = line.split("platform ")[1].split(";")[0]
    r = run(["-f", filt, "--format", "npy", ins[0], "-o", os.path.join(tmp, "a.npy")],
            fault=f"cl-open={first_plat}")
    check(r.returncode == 0, f"auto after a failed open: exit {r.returncode}")
    check("the next device after a failure" in r.stderr and "CPU reference" not in r.stderr,
          f"auto moved to the next device: {r.stderr!r}")
    check(open(os.path.join(tmp, "a.npy"), "rb").read() == ref["in0"],
          "the next device's output is exact")
    # Every device failing: the CPU reference, still exit 0.
    r = run(["-f", filt, "--format", "npy", ins[0], "-o", os.path.join(tmp, "b.npy")],
            fault="cl-open=: ")
    check(r.returncode == 0 and "using the CPU reference path" in r.stderr,
          f"no device opens: the reference ({r.returncode}, {r.stderr!r})")
    check(open(os.path.join(tmp, "b.npy"), "rb").read() == ref["in0"], "and its output")

check.finish()
