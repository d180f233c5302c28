#!/usr/bin/python3
"""test_python.py CLCONV — the Python package (python/clconv, ctypes over
libclconv.so; CLCONV_LIBRARY names the library, PYTHONPATH the package)
against an independent numpy reference on random inputs from a printed
seed: every dtype, border, padding, stride, dilation, even and flipped
filters, filters larger than the image, on the CPU reference and on the
OpenCL device; the errors, files, devices, presets, self-test, threads and
the GIL released during compute."""
import os
import sys
import tempfile
import threading
import time

import testenv

CLCONV, SEED = testenv.start("test_python.py")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import clconv  # noqa: E402

check = testenv.Checks("test_python.py")
rng = np.random.default_rng(SEED)
FLT_EPS = np.finfo(np.float32).eps
FLT_MIN = np.finfo(np.float32).tiny
BORDERS = ("constant", "edge", "reflect", "symmetric", "wrap")


def reference(img, K, padding, border, cval, stride, dil):
    """numpy.pad + a loop over the taps in float64, rounded once."""
    kh, kw = K.shape
    eh, ew = (kh - 1) * dil + 1, (kw - 1) * dil + 1
    h, w = img.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        ph = max((oh - 1) * stride + eh - h, 0)
        pw = max((ow - 1) * stride + ew - w, 0)
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    elif padding == "valid":
        pads = ((0, 0), (0, 0))
    else:
        pads = ((padding, padding), (padding, padding))
    x = img.astype(np.float64)
    if border == "constant":
        P = np.pad(x, pads, mode="constant", constant_values=np.float32(cval))
    else:
        P = np.pad(x, pads, mode=border)
    oh = (P.shape[0] - eh) // stride + 1
    ow = (P.shape[1] - ew) // stride + 1
    if oh < 1 or ow < 1:
        return None, None
    acc = np.zeros((oh, ow))
    asum = np.zeros((oh, ow))
    for i in range(kh):
        for j in range(kw):
            win = P[i * dil:i * dil + (oh - 1) * stride + 1:stride,
                    j * dil:j * dil + (ow - 1) * stride + 1:stride]
            acc += K[i, j] * win
            asum += np.abs(K[i, j] * win)
    return acc.astype(np.float32), asum


def random_case():
    dtype = rng.choice(["uint8", "uint16", "float32", "float64"])
    h, w = (int(v) for v in rng.choice([1, 2, 3, 7, 13, 31, 64, 97], 2))
    if dtype == "uint8":
        img = rng.integers(0, 256, (h, w)).astype(np.uint8)
    elif dtype == "uint16":
        img = rng.integers(0, 65536, (h, w)).astype(np.uint16)
    else:
        img = (rng.standard_normal((h, w)) * 100).astype(dtype)
    kh, kw = (int(v) for v in rng.integers(1, 8, 2))
    integer = bool(rng.integers(0, 2))
    K = rng.integers(-4, 5, (kh, kw)).astype(np.float64) if integer \
        else rng.standard_normal((kh, kw))
    padding = ["same", "valid", int(rng.integers(0, 4))][int(rng.integers(0, 3))]
    opts = dict(padding=padding,
                border=str(rng.choice(BORDERS)),
                cval=float(rng.choice([0.0, 7.5, -3.0])),
                stride=int(rng.choice([1, 1, 2, 3])),
                dilation=int(rng.choice([1, 1, 2])),
                flip=bool(rng.integers(0, 2)))
    return img, K, integer, opts


def compare(label, got, img, K, integer, opts):
    Kapplied = K[::-1, ::-1] if opts["flip"] else K
    ref, asum = reference(img.astype(np.float32), Kapplied, opts["padding"],
                          opts["border"], opts["cval"], opts["stride"],
                          opts["dilation"])
    check(got.dtype == np.float32 and got.shape == ref.shape,
          f"{label}: {got.dtype} {got.shape}, want float32 {ref.shape}")
    if got.shape != ref.shape:
        return
    if integer and img.dtype in (np.uint8, np.uint16) and \
            np.abs(K).sum() * 65535 < 2 ** 24:
        check(np.array_equal(got, ref), f"{label}: not bit-exact, max diff "
              f"{np.abs(got - ref).max()}")
    else:
        tol = 4 * K.size * FLT_EPS * asum + FLT_MIN
        bad = ~(np.abs(got.astype(np.float64) - ref) <= tol)
        check(not bad.any(), f"{label}: {int(bad.sum())} pixels over tolerance")


def main():
    devs = clconv.devices()
    targets = ["cpu"] + (["opencl"] if devs else [])
    print(f"library {clconv.library_path}; devices: "
          f"{[d['name'] for d in devs]}; targets {targets}")
    # 1. random cases, both paths, expected failures where the filter is
    #    larger than the image under valid padding
    n = 0
    while n < 160:
        img, K, integer, opts = random_case()
        Kapplied = K[::-1, ::-1] if opts["flip"] else K
        ref, _ = reference(img.astype(np.float32), Kapplied, opts["padding"],
                           opts["border"], opts["cval"], opts["stride"],
                           opts["dilation"])
        for dev in targets:
            label = (f"case {n} {img.dtype} {img.shape} K{K.shape} {opts} "
                     f"on {dev}")
            try:
                got = clconv.correlate(img, K, device=dev, **opts)
            except clconv.GeometryError as e:
                check(ref is None, f"{label}: GeometryError {e}")
                continue
            check(ref is not None, f"{label}: no GeometryError")
            if ref is not None:
                compare(label, got, img, K, integer, opts)
        n += 1
    # 2. presets and spec strings; verify=True on the device
    img = rng.integers(0, 256, (41, 53)).astype(np.uint8)
    for name, K in clconv.presets.items():
        for dev in targets:
            got = clconv.correlate(img, name, device=dev, verify=True)
            compare(f"preset {name} on {dev}", got, img, K, True,
                    dict(padding="same", border="constant", cval=0.0,
                         stride=1, dilation=1, flip=False))
    check(set(clconv.presets) >= {"sharpen", "blur", "outline", "identity"},
          f"presets: {sorted(clconv.presets)}")
    # 2b. colour: (H, W, C) filtered channel by channel, each as a gray
    #     plane; C = 1..4, every dtype, on both paths
    for n in range(12):
        img, K, integer, opts = random_case()
        c = int(rng.integers(1, 5))
        h, w = img.shape
        col = np.stack([img] + [rng.permutation(img.ravel()).reshape(h, w)
                                for _ in range(c - 1)], axis=2)
        for dev in targets:
            label = f"colour case {n} {col.dtype} {col.shape} K{K.shape} {opts} on {dev}"
            try:
                got = clconv.correlate(col, K, device=dev, **opts)
            except clconv.GeometryError:
                continue
            check(got.ndim == 3 and got.shape[2] == c,
                  f"{label}: shape {got.shape}, want (H', W', {c})")
            if got.ndim == 3 and got.shape[2] == c:
                for k in range(c):
                    compare(f"{label} channel {k}", np.ascontiguousarray(got[:, :, k]),
                            np.ascontiguousarray(col[:, :, k]), K, integer, opts)
    # 3. errors carry the library's one-line message
    for label, call, exc, text in (
            ("bad spec", lambda: clconv.correlate(img, "sharpenn"),
             clconv.FilterError, "sharpenn"),
            ("NaN tap", lambda: clconv.correlate(img, [[1, float("nan")]]),
             clconv.FilterError, "finite"),
            ("bad border", lambda: clconv.correlate(img, "blur", border="x"),
             clconv.InvalidError, "border"),
            ("5-channel image", lambda: clconv.correlate(np.zeros((2, 2, 5)), "blur"),
             clconv.InvalidError, "2-D"),
            ("4-D image", lambda: clconv.correlate(np.zeros((2, 2, 3, 1)), "blur"),
             clconv.InvalidError, "2-D"),
            ("int32 image", lambda: clconv.correlate(img.astype(np.int32), "blur"),
             clconv.InvalidError, "int32"),
            ("bad device", lambda: clconv.correlate(img, "blur", device="gpu"),
             clconv.InvalidError, "gpu"),
            ("no such device", lambda: clconv.correlate(img, "blur",
                                                        device="opencl:99:0"),
             clconv.NoDeviceError, ""),
            ("missing file", lambda: clconv.load("/nonexistent/x.png"),
             clconv.IOError_, "/nonexistent/x.png")):
        try:
            call()
            check(False, f"{label}: no exception")
        except exc as e:
            msg = str(e)
            check(text in msg and "\n" not in msg and isinstance(e, clconv.Error),
                  f"{label}: message {msg!r}")
        except Exception as e:  # noqa: BLE001
            check(False, f"{label}: {type(e).__name__} {e}")
    # 4. files: .npy round trip; PNG equals Pillow's reading; a text file
    #    named .png is a DecodeError naming it
    d = tempfile.mkdtemp(prefix="clconv-py-")
    a = (rng.standard_normal((17, 23)) * 50).astype(np.float32)
    clconv.save(os.path.join(d, "a.npy"), a)
    check(np.array_equal(clconv.load(os.path.join(d, "a.npy")), a), "npy round trip")
    clconv.save(os.path.join(d, "a.png"), a, map="abs")
    pil = np.array(Image.open(os.path.join(d, "a.png"))).astype(np.float32)
    check(np.array_equal(clconv.load(os.path.join(d, "a.png")), pil),
          "png load equals Pillow")
    check(np.array_equal(pil, np.clip(np.round(np.abs(a)), 0, 255)),
          "save map=abs rounds |v| half to even and clamps")
    with open(os.path.join(d, "t.png"), "w") as f:
        f.write("not an image")
    try:
        clconv.load(os.path.join(d, "t.png"))
        check(False, "text .png: no exception")
    except clconv.DecodeError as e:
        check("t.png" in str(e), f"text .png: {e}")
    # 5. threads: the same results as one at a time
    big = rng.integers(0, 256, (300, 257)).astype(np.uint8)
    want = {dev: clconv.correlate(big, "outline", device=dev) for dev in targets}
    results, errors = [], []

    def work(dev):
        try:
            for _ in range(4):
                results.append((dev, clconv.correlate(big, "outline", device=dev)))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=work, args=(targets[i % len(targets)],))
          for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, f"threads: {errors}")
    check(len(results) == 32 and all(np.array_equal(r, want[dev])
                                     for dev, r in results),
          "threads: results differ from the serial ones")
    # 6. the GIL is released during compute: the main thread runs while a
    #    long CPU-reference correlation is in the library
    huge = rng.standard_normal((1500, 1500)).astype(np.float32)
    done = threading.Event()
    t = threading.Thread(target=lambda: (clconv.correlate(huge, np.ones((15, 15)),
                                                         device="cpu"),
                                         done.set()))
    t0 = time.time()
    t.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0)
    t.join()
    print(f"GIL: {ticks} main-thread ticks during a {time.time() - t0:.2f} s call")
    check(ticks > 100, f"GIL held during compute: {ticks} ticks")
    # 7. devices() agrees with the CLI; self_test on the device
    import subprocess
    lst = subprocess.run([CLCONV, "--list-devices"], capture_output=True,
                         text=True).stdout
    check(len(devs) == sum(l.startswith("opencl:") for l in lst.splitlines()),
          f"devices(): {len(devs)} vs --list-devices:\n{lst}")
    if devs:
        lines = clconv.self_test("opencl")
        check(lines and all(ln["passed"] for ln in lines),
              f"self_test: {[ln for ln in lines if not ln['passed']]}")
    check.finish()


if __name__ == "__main__":
    main()
