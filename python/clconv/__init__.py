"""clconv — 2-D image convolution (correlation) on OpenCL devices, checked
against a CPU reference; NumPy in, NumPy out, over libclconv.so (ctypes).

    import numpy as np, clconv
    out = clconv.correlate(img, np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]))
    out = clconv.correlate(img, clconv.presets["sharpen"], border="reflect",
                           stride=2, device="cpu")

Every library call runs with the GIL released (ctypes does that), so
threads compute in parallel; calls on one device are serialised by the
library. Errors raise clconv.Error subclasses carrying the library's
one-line message.
"""
import atexit
import ctypes
import ctypes.util
import os
import threading

import numpy as np

__version__ = "0.3.0"
__all__ = ["correlate", "load", "save", "devices", "presets", "self_test",
           "Error", "InvalidError", "MemoryError_", "IOError_", "DecodeError",
           "TooLargeError", "FilterError", "GeometryError", "OpenCLError",
           "NoDeviceError", "MismatchError", "library_path"]


# ------------------------------------------------------------------ errors

class Error(Exception):
    """A libclconv failure; str() is the library's one-line message and
    .status its clconv_status number."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


class InvalidError(Error, ValueError):
    pass


class MemoryError_(Error, MemoryError):
    pass


class IOError_(Error, OSError):
    pass


class DecodeError(Error, ValueError):
    pass


class TooLargeError(Error, ValueError):
    pass


class FilterError(Error, ValueError):
    pass


class GeometryError(Error, ValueError):
    pass


class OpenCLError(Error, RuntimeError):
    pass


class NoDeviceError(Error, LookupError):
    pass


class MismatchError(Error, ArithmeticError):
    """The device result differs from the CPU reference (verify=True)."""


_BY_STATUS = {1: InvalidError, 2: MemoryError_, 3: IOError_, 4: DecodeError,
              5: TooLargeError, 6: FilterError, 7: GeometryError,
              8: OpenCLError, 9: NoDeviceError, 10: MismatchError}


# ------------------------------------------------------------------ the library

def _find_library():
    path = os.environ.get("CLCONV_LIBRARY")
    if path:
        return path
    return ctypes.util.find_library("clconv") or "libclconv.so.0"


try:
    library_path = _find_library()
    _lib = ctypes.CDLL(library_path)
except OSError as e:  # pragma: no cover - depends on the machine
    raise ImportError(
        f"clconv: cannot load libclconv ({e}); install it (cmake --install "
        "build && ldconfig) or set CLCONV_LIBRARY to libclconv.so.0") from None

ERR_MAX = 4096          # CLCONV_ERR_MAX
_c_int, _c_ll, _c_double, _c_float = (ctypes.c_int, ctypes.c_longlong,
                                      ctypes.c_double, ctypes.c_float)


class _Plane(ctypes.Structure):
    _fields_ = [("width", _c_int), ("height", _c_int),
                ("data", ctypes.POINTER(_c_float))]


class _Image8(ctypes.Structure):
    _fields_ = [("width", _c_int), ("height", _c_int),
                ("data", ctypes.POINTER(ctypes.c_ubyte))]


class _Params(ctypes.Structure):
    _fields_ = [("padding", _c_int), ("pad_width", _c_int), ("border", _c_int),
                ("cval", _c_float), ("stride", _c_int), ("dilation", _c_int)]


class _Geometry(ctypes.Structure):
    _fields_ = [(n, _c_int) for n in (
        "in_w", "in_h", "kw", "kh", "stride", "dilation", "pad_top",
        "pad_bottom", "pad_left", "pad_right", "padded_w", "padded_h",
        "out_w", "out_h")]


class _VerifyResult(ctypes.Structure):
    _fields_ = [("bad", _c_ll), ("max_abs_err", _c_double),
                ("worst_x", _c_int), ("worst_y", _c_int),
                ("worst_dev", _c_float), ("worst_ref", _c_float),
                ("worst_tol", _c_double)]


class _DeviceInfo(ctypes.Structure):
    _fields_ = [("platform", _c_int), ("device", _c_int),
                ("name", ctypes.c_char * 256), ("vendor", ctypes.c_char * 256),
                ("platform_name", ctypes.c_char * 256),
                ("driver_version", ctypes.c_char * 128),
                ("cl_version", ctypes.c_char * 128), ("is_gpu", _c_int),
                ("type", ctypes.c_char * 16),
                ("global_mem", ctypes.c_ulonglong),
                ("max_alloc", ctypes.c_ulonglong),
                ("local_mem", ctypes.c_ulonglong),
                ("const_mem", ctypes.c_ulonglong),
                ("compute_units", ctypes.c_uint)]


class _SelfTestLine(ctypes.Structure):
    _fields_ = [("path", ctypes.c_char_p), ("ran", ctypes.c_char_p),
                ("passed", _c_int), ("cases", _c_int), ("bad", _c_ll),
                ("max_abs_err", _c_double), ("worst_x", _c_int),
                ("worst_y", _c_int), ("worst_dev", _c_float),
                ("worst_ref", _c_float), ("err", ctypes.c_char * ERR_MAX)]


_P = ctypes.POINTER
_SELF_TEST_FN = ctypes.CFUNCTYPE(None, _P(_SelfTestLine), ctypes.c_void_p)


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_status_str = _fn("clconv_status_str", ctypes.c_char_p, _c_int)
_plane_free = _fn("clconv_plane_free", None, _P(_Plane))
_image_load = _fn("clconv_image_load", _c_int, ctypes.c_char_p, _c_ll,
                  _P(_Plane), ctypes.c_char_p)
_image_save = _fn("clconv_image_save", _c_int, ctypes.c_char_p, _P(_Plane),
                  _c_int, _c_int, _P(_c_ll), ctypes.c_char_p)
_filter_parse = _fn("clconv_filter_parse", _c_int, ctypes.c_char_p,
                    _P(ctypes.c_void_p), ctypes.c_char_p)
_filter_create = _fn("clconv_filter_create", _c_int, _c_int, _c_int,
                     _P(_c_double), ctypes.c_char_p, _P(ctypes.c_void_p),
                     ctypes.c_char_p)
_filter_destroy = _fn("clconv_filter_destroy", None, ctypes.c_void_p)
_filter_flip = _fn("clconv_filter_flip", _c_int, ctypes.c_void_p,
                   _P(ctypes.c_void_p), ctypes.c_char_p)
_filter_w = _fn("clconv_filter_width", _c_int, ctypes.c_void_p)
_filter_h = _fn("clconv_filter_height", _c_int, ctypes.c_void_p)
_filter_taps = _fn("clconv_filter_taps", _P(_c_double), ctypes.c_void_p)
_preset_name = _fn("clconv_preset_name", ctypes.c_char_p, _c_int)
_preset_help = _fn("clconv_preset_help", ctypes.c_char_p, _c_int)
_params_init = _fn("clconv_params_init", None, _P(_Params))
_border_parse = _fn("clconv_border_parse", _c_int, ctypes.c_char_p)
_geometry = _fn("clconv_geometry_compute", _c_int, _c_int, _c_int, _c_int,
                _c_int, _P(_Params), _P(_Geometry), ctypes.c_char_p)
_pad = _fn("clconv_pad", _c_int, _P(_Plane), _P(_Geometry), _P(_Params),
           _P(_Plane), ctypes.c_char_p)
_conv_ref = _fn("clconv_conv_ref", _c_int, _P(_Plane), ctypes.c_void_p,
                _P(_Geometry), _P(_Plane), _P(_Plane))
_verify = _fn("clconv_verify", None, _P(_Plane), _P(_Plane), _P(_Plane),
              _c_int, _P(_VerifyResult))
_devices_list = _fn("clconv_devices_list", _c_int, _P(_P(_DeviceInfo)),
                    _P(_c_int), ctypes.c_char_p)
_cl_open = _fn("clconv_cl_open", _c_int, _c_int, _c_int, _P(ctypes.c_void_p),
               ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p)
_cl_close = _fn("clconv_cl_close", None, ctypes.c_void_p)
_cl_info = _fn("clconv_cl_info", _P(_DeviceInfo), ctypes.c_void_p)
_conv_cl_image = _fn("clconv_conv_cl_image", _c_int, ctypes.c_void_p,
                     _P(_Plane), _P(_Image8), _P(_Params), ctypes.c_void_p,
                     _P(_Geometry), _P(_Plane), ctypes.c_void_p,
                     ctypes.c_char_p)
_self_test = _fn("clconv_self_test", _c_int, ctypes.c_void_p, _SELF_TEST_FN,
                 ctypes.c_void_p)
_devices_free = _fn("clconv_devices_free", None, _P(_DeviceInfo))


def _check(status, err=None):
    if status != 0:
        msg = err.value.decode("utf-8", "replace") if err is not None and \
            err.value else _status_str(status).decode()
        raise _BY_STATUS.get(status, Error)(msg, status)


def _err():
    return ctypes.create_string_buffer(ERR_MAX)


# ------------------------------------------------------------------ planes

def _as_plane(a):
    """A float32 C-contiguous copy (or view) of a 2-D array and its plane;
    the array must stay alive while the plane is used."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    return a, _Plane(a.shape[1], a.shape[0],
                     a.ctypes.data_as(_P(_c_float)))


def _plane_to_array(p):
    """Copies a library-owned plane into a new array and frees it."""
    try:
        if not p.data or p.width < 1 or p.height < 1:
            return np.zeros((0, 0), np.float32)
        return np.ctypeslib.as_array(p.data, shape=(p.height, p.width)).copy()
    finally:
        _plane_free(ctypes.byref(p))


class _Filter:
    """A libclconv filter made from a 2-D array or a spec string."""

    def __init__(self, kernel, flip):
        self.ptr = ctypes.c_void_p()
        err = _err()
        if isinstance(kernel, str):
            _check(_filter_parse(kernel.encode(), ctypes.byref(self.ptr), err),
                   err)
        else:
            k = np.asarray(kernel, dtype=np.float64)
            if k.ndim != 2 or k.size == 0:
                raise InvalidError(f"kernel: a non-empty 2-D array is needed, "
                                   f"not shape {k.shape}", 1)
            k = np.ascontiguousarray(k)
            _check(_filter_create(k.shape[0], k.shape[1],
                                  k.ctypes.data_as(_P(_c_double)), b"array",
                                  ctypes.byref(self.ptr), err), err)
        if flip:
            flipped = ctypes.c_void_p()
            st = _filter_flip(self.ptr, ctypes.byref(flipped), err)
            _filter_destroy(self.ptr)
            self.ptr = flipped
            _check(st, err)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _filter_destroy(self.ptr)
        self.ptr = None

    @property
    def shape(self):
        return _filter_h(self.ptr), _filter_w(self.ptr)

    def taps(self):
        h, w = self.shape
        return np.ctypeslib.as_array(_filter_taps(self.ptr),
                                     shape=(h, w)).copy()


# ------------------------------------------------------------------ devices

_devices_lock = threading.Lock()
_open = {}          # (platform, device) -> clconv_cl* (c_void_p)


def _parse_device(device):
    """'auto' | 'cpu' | 'opencl' | 'opencl:P' | 'opencl:P:D' ->
    (kind, platform, device)."""
    if device in ("auto", "cpu"):
        return device, -1, -1
    if isinstance(device, str) and device.split(":")[0] == "opencl":
        parts = device.split(":")[1:]
        try:
            nums = [int(x) for x in parts]
        except ValueError:
            nums = None
        if nums is not None and len(nums) <= 2 and all(n >= 0 for n in nums):
            p = nums[0] if nums else -1
            d = nums[1] if len(nums) > 1 else (0 if nums else -1)
            return "opencl", p, d
    raise InvalidError(f"device: {device!r} is not auto, cpu or "
                       "opencl[:P[:D]]", 1)


def _device(platform, device):
    """The open handle for (platform, device), opened once per process."""
    with _devices_lock:
        h = _open.get((platform, device))
        if h is None:
            h = ctypes.c_void_p()
            err = _err()
            why = ctypes.create_string_buffer(256)
            _check(_cl_open(platform, device, ctypes.byref(h), why, 256, err),
                   err)
            _open[(platform, device)] = h
        return h


@atexit.register
def _close_all():
    with _devices_lock:
        for h in _open.values():
            _cl_close(h)
        _open.clear()


def devices():
    """Every OpenCL device as a dict (platform, device, name, vendor,
    platform_name, driver_version, cl_version, type, is_gpu, global_mem,
    max_alloc, local_mem, const_mem, compute_units); [] without OpenCL."""
    arr = _P(_DeviceInfo)()
    n = _c_int(0)
    err = _err()
    _check(_devices_list(ctypes.byref(arr), ctypes.byref(n), err), err)
    out = []
    try:
        for i in range(n.value):
            d = arr[i]
            out.append({f: (getattr(d, f).decode("utf-8", "replace")
                            if isinstance(getattr(d, f), bytes)
                            else getattr(d, f)) for f, _ in d._fields_})
    finally:
        _devices_free(arr)
    return out


# ------------------------------------------------------------------ compute

_PADDING = {"same": 0, "valid": 1}


def _params(padding, border, cval, stride, dilation):
    prm = _Params()
    _params_init(ctypes.byref(prm))
    if isinstance(padding, str):
        if padding not in _PADDING:
            raise InvalidError(f"padding: {padding!r} is not 'same', 'valid' "
                               "or a width", 1)
        prm.padding = _PADDING[padding]
    else:
        if int(padding) != padding or padding < 0:
            raise InvalidError(f"padding: {padding!r} is not a width >= 0", 1)
        prm.padding, prm.pad_width = 2, int(padding)
    b = _border_parse(str(border).encode())
    if b < 0:
        raise InvalidError(f"border: {border!r} is not constant, edge, "
                           "reflect, symmetric or wrap", 1)
    prm.border = b
    if not np.isfinite(cval):
        raise InvalidError(f"cval: {cval!r} is not finite", 1)
    prm.cval = float(cval)
    for name, v in (("stride", stride), ("dilation", dilation)):
        if int(v) != v or not 1 <= v <= 1 << 20:
            raise InvalidError(f"{name}: {v!r} is not a whole number from 1 "
                               "to 1048576", 1)
    prm.stride, prm.dilation = int(stride), int(dilation)
    return prm


def _reference(plane, filt, g, prm, want_abs):
    err = _err()
    padded = _Plane()
    _check(_pad(ctypes.byref(plane), ctypes.byref(g), ctypes.byref(prm),
                ctypes.byref(padded), err), err)
    try:
        out = np.empty((g.out_h, g.out_w), np.float32)
        asum = np.empty_like(out) if want_abs else None
        op = _Plane(g.out_w, g.out_h, out.ctypes.data_as(_P(_c_float)))
        ap = _Plane(g.out_w, g.out_h, asum.ctypes.data_as(_P(_c_float))) \
            if want_abs else None
        _check(_conv_ref(ctypes.byref(padded), filt.ptr, ctypes.byref(g),
                         ctypes.byref(op), ctypes.byref(ap) if ap else None))
        return out, asum
    finally:
        _plane_free(ctypes.byref(padded))


def _on_device(h, img, plane, filt, g, prm):
    err = _err()
    out = np.empty((g.out_h, g.out_w), np.float32)
    op = _Plane(g.out_w, g.out_h, out.ctypes.data_as(_P(_c_float)))
    if img.dtype == np.uint8:
        # 8-bit images go up as bytes (a quarter of the transfer).
        i8 = _Image8(img.shape[1], img.shape[0],
                     img.ctypes.data_as(_P(ctypes.c_ubyte)))
        st = _conv_cl_image(h, None, ctypes.byref(i8), ctypes.byref(prm),
                            filt.ptr, ctypes.byref(g), ctypes.byref(op), None,
                            err)
    else:
        st = _conv_cl_image(h, ctypes.byref(plane), None, ctypes.byref(prm),
                            filt.ptr, ctypes.byref(g), ctypes.byref(op), None,
                            err)
    _check(st, err)
    return out


def correlate(image, kernel, *, padding="same", border="constant", cval=0,
              stride=1, dilation=1, flip=False, device="auto", verify=False):
    """Correlates a 2-D image (uint8, uint16, float32 or float64) with a
    kernel (a 2-D array of taps, or a preset/filter spec such as "sharpen",
    "gaussian:5") and returns the float32 result, exactly as the clconv
    command line computes it (DESIGN.md §2): padding "same" (TensorFlow
    SAME), "valid" or a width; border as numpy.pad's modes; flip=True for a
    true convolution. device: "auto" (an OpenCL GPU, else any OpenCL
    device, else the CPU reference; a device failure falls back to the
    reference), "cpu", "opencl" or "opencl:P[:D]". verify=True also runs
    the CPU reference and raises MismatchError when the device differs by
    more than DESIGN.md's tolerance.

    A colour image, shape (H, W, C) with C = 1..4 as numpy and Pillow hold
    them, is filtered channel by channel, as the command line's --color
    does with --alpha filter (every channel, alpha included, with the same
    filter and geometry), and comes back as float32 (H', W', C)."""
    img = np.asarray(image)
    if img.ndim == 3 and 1 <= img.shape[2] <= 4:
        planes = [correlate(img[:, :, k], kernel, padding=padding, border=border,
                            cval=cval, stride=stride, dilation=dilation, flip=flip,
                            device=device, verify=verify)
                  for k in range(img.shape[2])]
        return np.stack(planes, axis=2)
    if img.ndim != 2:
        raise InvalidError(f"image: a 2-D array or an (H, W, C) array with "
                           f"C = 1..4 is needed, not shape {img.shape}", 1)
    if img.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise InvalidError(f"image: dtype {img.dtype} is not uint8, uint16, "
                           "float32 or float64", 1)
    if img.dtype == np.uint8:
        img = np.ascontiguousarray(img)
    kind, pl, dv = _parse_device(device)
    prm = _params(padding, border, cval, stride, dilation)
    arr, plane = _as_plane(img)
    with _Filter(kernel, flip) as filt:
        kh, kw = filt.shape
        g = _Geometry()
        err = _err()
        _check(_geometry(img.shape[1], img.shape[0], kw, kh, ctypes.byref(prm),
                         ctypes.byref(g), err), err)
        out = None
        if kind != "cpu":
            try:
                out = _on_device(_device(pl, dv), img, plane, filt, g, prm)
            except (OpenCLError, NoDeviceError):
                if kind != "auto":
                    raise
        if out is None:
            return _reference(plane, filt, g, prm, False)[0]
        if verify:
            ref, asum = _reference(plane, filt, g, prm, True)
            r = _VerifyResult()
            dp = _Plane(g.out_w, g.out_h, out.ctypes.data_as(_P(_c_float)))
            rp = _Plane(g.out_w, g.out_h, ref.ctypes.data_as(_P(_c_float)))
            ap = _Plane(g.out_w, g.out_h, asum.ctypes.data_as(_P(_c_float)))
            _verify(ctypes.byref(dp), ctypes.byref(rp), ctypes.byref(ap),
                    kh * kw, ctypes.byref(r))
            if r.bad:
                raise MismatchError(
                    f"verify: {r.bad} pixels over tolerance, max error "
                    f"{r.max_abs_err:.6g} at (x={r.worst_x}, y={r.worst_y}): "
                    f"device {r.worst_dev:.9g}, reference {r.worst_ref:.9g}",
                    10)
        del arr
        return out


# ------------------------------------------------------------------ files

def load(path, max_pixels=0):
    """Reads an image file as the command line does (gray, Pillow's luma;
    .npy as stored) into a float32 array."""
    p = _Plane()
    err = _err()
    _check(_image_load(os.fsencode(path), int(max_pixels), ctypes.byref(p),
                       err), err)
    return _plane_to_array(p)


_MAPS = {"clamp": 0, "abs": 1, "normalize": 2}


def save(path, array, *, map="clamp", quality=95):
    """Writes a 2-D array; the extension picks the format (.png, .jpg, .bmp,
    .tga: 8-bit, mapped by `map`; .npy: float32). Atomic: a failure leaves
    no partial file. Returns the number of NaN pixels written as 0."""
    if map not in _MAPS:
        raise InvalidError(f"map: {map!r} is not clamp, abs or normalize", 1)
    a = np.asarray(array)
    if a.ndim != 2:
        raise InvalidError(f"array: a 2-D array is needed, not shape "
                           f"{a.shape}", 1)
    arr, plane = _as_plane(a)
    nans = _c_ll(0)
    err = _err()
    _check(_image_save(os.fsencode(path), ctypes.byref(plane), _MAPS[map],
                       int(quality), ctypes.byref(nans), err), err)
    del arr
    return nans.value


# ------------------------------------------------------------------ presets

def _presets():
    out = {}
    i = 0
    while True:
        name = _preset_name(i)
        if name is None:
            break
        name = name.decode()
        if ":" not in name:      # the parametric ones are listed as a form
            with _Filter(name, False) as f:
                out[name] = f.taps()
        i += 1
    return out


presets = _presets()
"""The fixed presets as float64 arrays ("sharpen", "blur", ...); the
parametric ones ("box:N", "gaussian:N[:SIGMA]", "log:N[:SIGMA]") are spec
strings that correlate() takes as the kernel."""


def self_test(device="auto"):
    """Runs the library's self-test on an OpenCL device: every kernel path
    against the CPU reference. Returns a list of dicts (path, ran, passed,
    cases, bad, max_abs_err, err); raises MismatchError when one failed,
    NoDeviceError without a device."""
    kind, pl, dv = _parse_device(device)
    if kind == "cpu":
        raise InvalidError("self_test: the CPU reference needs no test", 1)
    h = _device(pl, dv)
    lines = []

    def collect(line, _user):
        ln = line.contents
        lines.append({"path": ln.path.decode(), "ran": ln.ran.decode(),
                      "passed": bool(ln.passed), "cases": ln.cases,
                      "bad": ln.bad, "max_abs_err": ln.max_abs_err,
                      "err": ln.err.decode("utf-8", "replace")})

    st = _self_test(h, _SELF_TEST_FN(collect), None)
    if st == 10:
        bad = [ln["path"] for ln in lines if not ln["passed"]]
        raise MismatchError("self-test failed: " + "; ".join(bad), st)
    _check(st)
    return lines
