"""XXH3-64 checksums and LZ4 block decoding for the NumPy reader.

The Python standard library has neither. The reader uses, in this order:

- XXH3-64: the ``xxhash`` module (Debian: python3-xxhash) when it is importable, otherwise
  ``XXH3_64bits`` from the system's libxxhash (Debian: libxxhash0, which libtensorcache itself
  links against) through ctypes.
- LZ4: ``LZ4_decompress_safe`` from the system's liblz4 (Debian: liblz4-1, also a dependency of
  libtensorcache) through ctypes: exactly the call the C reader makes, so both readers accept
  and reject the same blocks. Only LZ4-compressed fields need it.

Nothing here needs libtensorcache: the reader is NumPy + the standard library (+ ctypes to two
system libraries that are present wherever libtensorcache is).
"""

import ctypes
import ctypes.util

import numpy as np

from ._errors import NativeLibraryError

XXH3_EMPTY = 0x2D06800538D394C2  # XXH3-64 of zero bytes (FORMAT.md section 2)
LZ4_MAX_INPUT_SIZE = 0x7E000000


def _load_cdll(names, what, package):
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            errors.append(str(e))
    found = ctypes.util.find_library(what)
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError as e:
            errors.append(str(e))
    raise NativeLibraryError(
        "the tensorcache reader needs lib%s (Debian package %s) and could not load it: %s"
        % (what, package, "; ".join(errors)))


def _address(buf):
    """(address, keepalive) of a read-only or writable buffer, without copying it."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    return arr.ctypes.data, arr


class _XXH3:
    """XXH3_64bits with seed 0, over any object supporting the buffer protocol."""

    def __init__(self):
        self.backend = None
        self._fn = None
        try:
            import xxhash  # python3-xxhash
            self._fn = xxhash.xxh3_64_intdigest
            self.backend = "xxhash module %s" % getattr(xxhash, "VERSION", "")
        except (ImportError, AttributeError):
            lib = _load_cdll(("libxxhash.so.0", "libxxhash.so"), "xxhash", "libxxhash0")
            fn = lib.XXH3_64bits
            fn.restype = ctypes.c_uint64
            fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
            self._c = fn
            self.backend = "ctypes libxxhash"

    def __call__(self, buf):
        if self._fn is not None:
            return self._fn(buf)
        mv = memoryview(buf)
        if mv.nbytes == 0:
            return self._c(None, 0)
        addr, keep = _address(mv)
        h = self._c(addr, mv.nbytes)
        del keep
        return h


class _LZ4:
    def __init__(self):
        lib = _load_cdll(("liblz4.so.1", "liblz4.so"), "lz4", "liblz4-1")
        fn = lib.LZ4_decompress_safe
        fn.restype = ctypes.c_int
        fn.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)
        self._dec = fn
        self.backend = "ctypes liblz4"

    def decompress_into(self, src, dst):
        """LZ4_decompress_safe(src, dst, len(src), len(dst)); returns its result (< 0: error).

        `dst` must be a writable C-contiguous uint8 ndarray."""
        mv = memoryview(src)
        saddr, keep = _address(mv) if mv.nbytes else (None, None)
        got = self._dec(saddr, dst.ctypes.data if dst.size else None, mv.nbytes, dst.size)
        del keep
        return got


def compress_bound(raw):
    """LZ4_compressBound: the largest size a block of `raw` bytes can compress to."""
    return 0 if raw > LZ4_MAX_INPUT_SIZE else raw + raw // 255 + 16


_xxh3 = None
_lz4 = None


def xxh3(buf):
    """XXH3-64 (seed 0) of the bytes of `buf`."""
    global _xxh3
    if _xxh3 is None:
        _xxh3 = _XXH3()
    return _xxh3(buf)


def lz4():
    global _lz4
    if _lz4 is None:
        _lz4 = _LZ4()
    return _lz4


def backends():
    """Which implementations the reader uses, e.g. for bug reports."""
    out = {"xxh3": None, "lz4": None}
    try:
        xxh3(b"")
        out["xxh3"] = _xxh3.backend
    except NativeLibraryError as e:
        out["xxh3"] = "unavailable (%s)" % e.message
    try:
        out["lz4"] = lz4().backend
    except NativeLibraryError as e:
        out["lz4"] = "unavailable (%s)" % e.message
    return out
