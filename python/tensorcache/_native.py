"""ctypes binding to libtensorcache (include/tensorcache.h): the writer, and the C reader.

The Python package has ONE writer implementation: the C library's streaming writer, driven
through ctypes (writer.py). The C reader is bound too, so that tests (and curious users) can
compare both readers on the same file.

Where the library is looked for, in order (_candidates(), the one place that decides):
  1. $TENSORCACHE_LIB (a path to libtensorcache.so);
  2. $TC_BUILD/libtensorcache.so (a build directory);
  3. the copy the wheel carries: tensorcache/_libtensorcache<EXT_SUFFIX> (setup.py builds it);
  4. the build tree this package sits in: <repo>/build/libtensorcache.so;
  5. the dynamic linker's search path and the usual install prefixes (/usr/local/lib, /usr/lib,
     ...), which is where `make install` puts it.
"""

import ctypes
import ctypes.util
import importlib.machinery
import os

import numpy as np

from ._errors import ERROR_CODES, NativeLibraryError, error_from_code

# The libtensorcache versions (major, minor) whose header this package mirrors: the ctypes
# structs below, the error codes of _errors.py and the dtype table of _format.py. lib() refuses
# any other version, and any library whose struct sizes, error codes or dtypes differ
# (check_library); python/tests/test_header.py compares all of it with include/tensorcache.h.
KNOWN_VERSIONS = ((0, 1),)

TC_MAX_RANK = 8
TC_DIM_VARIABLE = (1 << 64) - 1
TC_OPEN_VERIFY = 1
TC_OPEN_NO_MMAP = 2
TC_WRITE_OVERWRITE = 1
_SONAMES = ("libtensorcache.so",) + tuple("libtensorcache.so.%d.%d" % v for v in KNOWN_VERSIONS)


class tc_error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("sys_errno", ctypes.c_int),
                ("message", ctypes.c_char * 320)]


class tc_field_info(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("itemsize", ctypes.c_size_t),
                ("rank", ctypes.c_uint32), ("shape", ctypes.c_uint64 * TC_MAX_RANK),
                ("variable", ctypes.c_int), ("codec", ctypes.c_int),
                ("layout", ctypes.c_char * 9), ("flags", ctypes.c_uint32),
                ("sample_bytes", ctypes.c_uint64), ("stride", ctypes.c_uint64),
                ("block_samples", ctypes.c_uint64),
                ("data_offset", ctypes.c_uint64), ("data_size", ctypes.c_uint64),
                ("data_checksum", ctypes.c_uint64),
                ("index_offset", ctypes.c_uint64), ("index_size", ctypes.c_uint64),
                ("index_checksum", ctypes.c_uint64)]


class tc_view(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_uint32),
                ("shape", ctypes.c_uint64 * (TC_MAX_RANK + 1)),
                ("strides", ctypes.c_int64 * (TC_MAX_RANK + 1)),
                ("nbytes", ctypes.c_uint64), ("readonly", ctypes.c_int)]


class tc_field_spec(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_uint32),
                ("shape", ctypes.c_uint64 * TC_MAX_RANK), ("layout", ctypes.c_char_p),
                ("codec", ctypes.c_int), ("align", ctypes.c_uint64),
                ("block_bytes", ctypes.c_uint64)]


class tc_value(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("nbytes", ctypes.c_uint64),
                ("shape", ctypes.POINTER(ctypes.c_uint64))]


def _candidates():
    env = os.environ.get("TENSORCACHE_LIB")
    if env:
        yield env
    build = os.environ.get("TC_BUILD")
    if build:
        yield os.path.join(build, "libtensorcache.so")
    here = os.path.dirname(os.path.abspath(__file__))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        packaged = os.path.join(here, "_libtensorcache" + suffix)
        if os.path.exists(packaged):
            yield packaged
    yield os.path.join(here, "..", "..", "build", "libtensorcache.so")
    for name in _SONAMES:
        yield name  # the dynamic linker's search path
    found = ctypes.util.find_library("tensorcache")
    if found:
        yield found
    for prefix in ("/usr/local/lib", "/usr/local/lib64", "/usr/lib", "/usr/lib64",
                   "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"):
        yield os.path.join(prefix, "libtensorcache.so")


_lib = None


def _declare(lib):
    P = ctypes.POINTER
    vp, u32, u64, ci, sz = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int, ctypes.c_size_t
    err = P(tc_error)
    sigs = {
        "tc_version_number": (ctypes.c_uint, []),
        "tc_version_string": (ctypes.c_char_p, []),
        "tc_type_size": (sz, [ctypes.c_char_p]),
        "tc_dtype_size": (sz, [ci]),
        "tc_dtype_name": (ctypes.c_char_p, [ci]),
        "tc_dtype_numpy": (ctypes.c_char_p, [ci]),
        "tc_strerror": (ctypes.c_char_p, [ci]),
        "tc_error_name": (ctypes.c_char_p, [ci]),
        "tc_open": (ci, [P(vp), ctypes.c_char_p, ctypes.c_uint, err]),
        "tc_close": (None, [vp]),
        "tc_num_samples": (u64, [vp]),
        "tc_num_fields": (u32, [vp]),
        "tc_file_size": (u64, [vp]),
        "tc_format_version": (ctypes.c_uint, [vp]),
        "tc_file_format": (None, [vp, P(ctypes.c_uint), P(ctypes.c_uint)]),
        "tc_version": (None, [P(ctypes.c_uint), P(ctypes.c_uint), P(ctypes.c_uint)]),
        "tc_describe_field": (ci, [vp, u32, P(tc_field_info), err]),
        "tc_find_field": (ci, [vp, ctypes.c_char_p, P(u32), err]),
        "tc_metadata": (ci, [vp, P(vp), P(sz), err]),
        "tc_sample": (ci, [vp, u32, u64, P(tc_view), err]),
        "tc_range": (ci, [vp, u32, u64, u64, P(tc_view), err]),
        "tc_sample_nbytes": (ci, [vp, u32, u64, P(u64), P(u64), err]),
        "tc_read_sample": (ci, [vp, u32, u64, vp, sz, P(u64), err]),
        "tc_gather": (ci, [vp, u32, P(u64), sz, vp, sz, err]),
        "tc_verify": (ci, [vp, err]),
        "tc_writer_create": (ci, [P(vp), ctypes.c_char_p, err]),
        "tc_writer_create_ex": (ci, [P(vp), ctypes.c_char_p, ctypes.c_uint,
                                     P(ctypes.c_char_p), sz, err]),
        "tc_writer_add_field": (ci, [vp, P(tc_field_spec), err]),
        "tc_writer_set_metadata": (ci, [vp, ctypes.c_char_p, sz, err]),
        "tc_writer_append": (ci, [vp, P(tc_value), err]),
        "tc_writer_append_batch": (ci, [vp, u64, P(tc_value), err]),
        "tc_writer_count": (u64, [vp]),
        "tc_writer_bytes": (u64, [vp]),
        "tc_writer_finish": (ci, [vp, err]),
        "tc_writer_abort": (None, [vp]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


def lib():
    """The loaded libtensorcache (NativeLibraryError with build instructions when missing)."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    for cand in _candidates():
        if os.sep in cand and not os.path.exists(cand):
            tried.append(cand)
            continue
        try:
            handle = ctypes.CDLL(cand)
            _declare(handle)
        except (OSError, AttributeError) as e:
            tried.append("%s (%s)" % (cand, e))
            continue
        check_library(handle, cand)  # a library that disagrees is refused, not skipped
        _lib = handle
        _lib.path = cand
        return _lib
    raise NativeLibraryError(
        "libtensorcache.so is needed for writing and was not found. Build it with `make` in the "
        "tensorcache source tree (it creates build/libtensorcache.so; needs gcc, liblz4-dev, "
        "libxxhash-dev, zlib1g-dev: `make deps` installs them), install it with `make install`, "
        "or point TENSORCACHE_LIB at the .so. Looked for: %s" % "; ".join(tried))


def version():
    return lib().tc_version_string().decode()


def _wanted():
    return " or ".join("%d.%d.x" % v for v in KNOWN_VERSIONS)


def check_structs(L, path, classes):
    """Refuses `L` unless every ctypes struct in `classes` has the library's size."""
    for cls in classes:
        theirs = L.tc_type_size(cls.__name__.encode())
        if theirs != ctypes.sizeof(cls):
            raise NativeLibraryError(
                "libtensorcache %s at %s: struct %s is %d bytes there, %d in this tensorcache "
                "package (which wants libtensorcache %s); rebuild or reinstall them together"
                % (L.tc_version_string().decode(), path, cls.__name__, theirs,
                   ctypes.sizeof(cls), _wanted()))


def _disagree(L, path, what):
    raise NativeLibraryError(
        "libtensorcache %s at %s disagrees with this tensorcache package (which wants "
        "libtensorcache %s): %s; rebuild or reinstall them together"
        % (L.tc_version_string().decode(), path, _wanted(), what))


def check_library(L, path):
    """The checks at import: the version is one this package knows, and the library's structs,
    error codes and dtypes are the ones this package mirrors. NativeLibraryError otherwise."""
    n = L.tc_version_number()
    found = (n // 10000, n // 100 % 100)
    if found not in KNOWN_VERSIONS:
        raise NativeLibraryError(
            "libtensorcache at %s is version %s; this tensorcache package (%s) needs "
            "libtensorcache %s" % (path, L.tc_version_string().decode(), _package_version(),
                                   _wanted()))
    check_structs(L, path, (tc_error, tc_field_info, tc_view, tc_field_spec, tc_value))
    for code in range(256):
        name = L.tc_error_name(code).decode()
        if name != "UNKNOWN" and ERROR_CODES.get(name) != code:
            _disagree(L, path, "error code %d is %s there, %s here"
                      % (code, name, {v: k for k, v in ERROR_CODES.items()}.get(code)))
    for name, code in ERROR_CODES.items():
        if L.tc_error_name(code).decode() != name:
            _disagree(L, path, "error %s (%d) is unknown there" % (name, code))
    from ._format import DTYPES
    for code in range(256):
        name = L.tc_dtype_name(code)
        ours = DTYPES.get(code)
        theirs = None if name is None else (name.decode(), L.tc_dtype_size(code),
                                            L.tc_dtype_numpy(code).decode())
        ours = None if ours is None else (ours[0], ours[1], ours[2].str)
        if theirs != ours:
            _disagree(L, path, "dtype %d is %s there, %s here" % (code, theirs, ours))


def _package_version():
    from . import __version__
    return __version__


def raise_error(err, rc):
    """Raises the Python exception for C error code `rc` with the message in `err`."""
    msg = err.message.decode("utf-8", "replace") or lib().tc_strerror(rc).decode()
    raise error_from_code(int(rc), msg, err.sys_errno)


class CReader:
    """The C reader (tc_open and friends), for comparing both readers on one file."""

    def __init__(self, path, verify=False, no_mmap=False):
        L = lib()
        self._L = L
        self._c = ctypes.c_void_p()
        err = tc_error()
        flags = (TC_OPEN_VERIFY if verify else 0) | (TC_OPEN_NO_MMAP if no_mmap else 0)
        rc = L.tc_open(ctypes.byref(self._c), os.fsencode(path), flags, ctypes.byref(err))
        if rc:
            raise_error(err, rc)
        self.num_samples = L.tc_num_samples(self._c)
        self.num_fields = L.tc_num_fields(self._c)
        self.file_size = L.tc_file_size(self._c)
        self.format_version = L.tc_format_version(self._c)  # deprecated: major*100 + minor
        vmaj, vmin = ctypes.c_uint(), ctypes.c_uint()
        L.tc_file_format(self._c, ctypes.byref(vmaj), ctypes.byref(vmin))
        self.version = (vmaj.value, vmin.value)
        self.fields = []
        for k in range(self.num_fields):
            info = tc_field_info()
            rc = L.tc_describe_field(self._c, k, ctypes.byref(info), ctypes.byref(err))
            if rc:
                raise_error(err, rc)
            self.fields.append(_info_dict(info))

    def metadata(self):
        p, n = ctypes.c_void_p(), ctypes.c_size_t()
        err = tc_error()
        rc = self._L.tc_metadata(self._c, ctypes.byref(p), ctypes.byref(n), ctypes.byref(err))
        if rc:
            raise_error(err, rc)
        return ctypes.string_at(p, n.value) if n.value else b""

    def read_sample(self, field, i):
        """Sample i of field number `field` copied out with tc_read_sample, as an ndarray."""
        from ._format import DTYPES
        L = self._L
        err = tc_error()
        nb = ctypes.c_uint64()
        shape = (ctypes.c_uint64 * TC_MAX_RANK)()
        rc = L.tc_sample_nbytes(self._c, field, i, ctypes.byref(nb), shape, ctypes.byref(err))
        if rc:
            raise_error(err, rc)
        f = self.fields[field]
        out = np.empty(nb.value, np.uint8)
        rc = L.tc_read_sample(self._c, field, i, out.ctypes.data if nb.value else None,
                              nb.value, None, ctypes.byref(err))
        if rc:
            raise_error(err, rc)
        dt = DTYPES[f["dtype"]][2]
        return out.view(dt).reshape(tuple(shape[:f["rank"]]))

    def view_sample(self, field, i):
        """tc_sample: (address, shape, strides, nbytes) of the zero-copy view."""
        v = tc_view()
        err = tc_error()
        rc = self._L.tc_sample(self._c, field, i, ctypes.byref(v), ctypes.byref(err))
        if rc:
            raise_error(err, rc)
        return v.data, tuple(v.shape[:v.ndim]), tuple(v.strides[:v.ndim]), v.nbytes

    def gather(self, field, idx):
        from ._format import DTYPES
        f = self.fields[field]
        idx = np.ascontiguousarray(idx, dtype=np.uint64)
        out = np.empty(len(idx) * f["sample_bytes"], np.uint8)
        err = tc_error()
        rc = self._L.tc_gather(self._c, field,
                               idx.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)), len(idx),
                               out.ctypes.data if out.size else None, out.size, ctypes.byref(err))
        if rc:
            raise_error(err, rc)
        return out.view(DTYPES[f["dtype"]][2]).reshape((len(idx),) + tuple(f["shape"]))

    def verify(self):
        err = tc_error()
        rc = self._L.tc_verify(self._c, ctypes.byref(err))
        if rc:
            raise_error(err, rc)

    def close(self):
        if self._c:
            self._L.tc_close(self._c)
            self._c = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _info_dict(info):
    rank = info.rank
    return {
        "name": info.name.decode("utf-8"), "dtype": info.dtype, "itemsize": info.itemsize,
        "rank": rank, "shape": [None if s == TC_DIM_VARIABLE else s for s in info.shape[:rank]],
        "variable": bool(info.variable), "codec": info.codec,
        "layout": info.layout.decode("ascii"), "flags": info.flags,
        "sample_bytes": info.sample_bytes, "stride": info.stride,
        "block_samples": info.block_samples, "data_offset": info.data_offset,
        "data_size": info.data_size, "data_checksum": info.data_checksum,
        "index_offset": info.index_offset, "index_size": info.index_size,
        "index_checksum": info.index_checksum,
    }


def c_open_error(path, verify=False):
    """The C reader's verdict on `path`: None if it opens, else the error name ("CHECKSUM")."""
    L = lib()
    c = ctypes.c_void_p()
    err = tc_error()
    rc = L.tc_open(ctypes.byref(c), os.fsencode(path), TC_OPEN_VERIFY if verify else 0,
                   ctypes.byref(err))
    if rc == 0:
        L.tc_close(c)
        return None
    return L.tc_error_name(rc).decode()
