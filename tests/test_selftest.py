#!/usr/bin/env python3
"""clconv --self-test: every kernel path of the device passes on a good
driver (exit 0, a PASS line per path, every variant of the registry
present), and a wrong device result is caught (CLCONV_FAULT=perturb: FAIL
lines with the worst pixel, exit 3) where --verify off would not see it;
--json says the same; --device cpu is a usage error. Needs an OpenCL device
(exit 77 without one unless CLCONV_REQUIRE_DEVICE=1). argv[1]: clconv."""
import json
import os
import subprocess
import sys

import testenv

CLCONV, SEED = testenv.start("test_selftest.py")
check = testenv.Checks("test_selftest.py")
VARIANTS = ["naive", "tiled", "separable", "local", "fft"]


def run(args, fault=None):
    env = dict(os.environ)
    env.pop("CLCONV_FAULT", None)
    env.pop("CLCONV_KERNEL", None)
    if fault:
        env["CLCONV_FAULT"] = fault
    return subprocess.run([CLCONV] + args, capture_output=True, text=True, env=env,
                          timeout=300)


devices = run(["--list-devices"]).stdout
if "opencl:" not in devices:
    if os.environ.get("CLCONV_REQUIRE_DEVICE") == "1":
        print("FAIL: no OpenCL device, and CLCONV_REQUIRE_DEVICE=1")
        sys.exit(1)
    print("skipped: no OpenCL device")
    sys.exit(77)

good = run(["--self-test"])
lines = [l for l in good.stdout.splitlines() if l[:6] in ("PASS  ", "FAIL  ")]
check(good.returncode == 0, f"self-test exit {good.returncode}, want 0:\n{good.stdout}{good.stderr}")
check(lines and all(l.startswith("PASS  ") for l in lines), "every path PASS")
for v in VARIANTS:
    check(any(l.startswith(f"PASS  {v}, ") for l in lines), f"a PASS line for {v}")
    check(any(l.startswith(f"PASS  {v}, host-padded plane") and f"(ran {v})" in l
              for l in lines) or v == "local", f"{v} ran its own kernel on the padded path")
check(any("8-bit source" in l for l in lines), "the 8-bit source paths are checked")
check("all paths passed" in good.stdout, "the summary line")

# A wrong pixel from the device: every path fails, exit 3.
bad = run(["--self-test"], fault="perturb")
fails = [l for l in bad.stdout.splitlines() if l.startswith("FAIL  ")]
check(bad.returncode == 3, f"perturbed self-test exit {bad.returncode}, want 3")
check(len(fails) == len(lines), f"{len(fails)} FAIL lines, want {len(lines)}")
check(all("worst at (" in l and "device" in l and "reference" in l for l in fails),
      "FAIL lines name the worst pixel and both values")

js = run(["--self-test", "--json"])
try:
    doc = json.loads(js.stdout)
    paths = doc["self_test"][0]["paths"]
    check(doc["passed"] is True and js.returncode == 0, "--json: passed, exit 0")
    check(len(paths) == len(lines) and all(p["ok"] and p["bad_pixels"] == 0 for p in paths),
          "--json: one entry per path, all ok")
    check({p["path"].split(",")[0] for p in paths
           if not p["path"].startswith("device map")} == set(VARIANTS),
          "--json: every variant")
    # The device map (issue 14 item 2): its own path, mapped on the device.
    check(any(p["path"].startswith("device map") and p["ok"] for p in paths),
          "--json: the device map's path")
except (ValueError, KeyError, IndexError) as e:
    check(False, f"--json output: {e}: {js.stdout[:300]}")
js_bad = run(["--self-test", "--json"], fault="perturb")
try:
    doc = json.loads(js_bad.stdout)
    check(doc["passed"] is False and js_bad.returncode == 3, "--json under perturb: failed, exit 3")
except ValueError as e:
    check(False, f"--json under perturb: {e}")

cpu = run(["--self-test", "--device", "cpu"])
check(cpu.returncode == 2 and "--self-test" in cpu.stderr and cpu.stderr.count("\n") == 1,
      f"--device cpu: exit {cpu.returncode}, stderr {cpu.stderr!r}")

check.finish()
