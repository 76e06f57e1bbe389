"""Test helpers: an independent, pure-Python tensorcache file builder and a patcher.

``build()`` writes files from FORMAT.md alone (no libtensorcache), so both readers can be checked
against a second writer. ``Patch`` opens any file's bytes, changes one FORMAT.md field, and
recomputes exactly the checksums asked for, so that a damaged file reaches the validation step it
is meant to test.
"""

import ctypes
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

from tensorcache import _codecs
from tensorcache import _format as F

HEADER = struct.Struct("<8sHHIQQIIQQQQQQ32sQ")
FIELD = struct.Struct("<64sHBBBBH8s8QIIQQQQQQQQ40s")
H_OFF = {"magic": 0, "version_major": 8, "version_minor": 10, "header_size": 12, "file_size": 16,
         "num_samples": 24, "num_fields": 32, "flags": 36, "ft_offset": 40, "ft_size": 48,
         "meta_offset": 56, "meta_size": 64, "ft_checksum": 72, "meta_checksum": 80,
         "reserved": 88, "header_checksum": 120}
H_FMT = {"version_major": "<H", "version_minor": "<H", "header_size": "<I", "num_fields": "<I",
         "flags": "<I"}
F_OFF = {"name": 0, "name_len": 64, "dtype": 66, "rank": 67, "kind": 68, "codec": 69,
         "reserved0": 70, "layout": 72, "shape": 80, "flags": 144, "reserved1": 148,
         "stride": 152, "data_offset": 160, "data_size": 168, "data_checksum": 176,
         "index_offset": 184, "index_size": 192, "index_checksum": 200, "block_samples": 208,
         "reserved2": 216}
F_FMT = {"name_len": "<H", "dtype": "<B", "rank": "<B", "kind": "<B", "codec": "<B",
         "reserved0": "<H", "flags": "<I", "reserved1": "<I"}
CODE_OF = {np.dtype(v[2]).str: k for k, v in F.DTYPES.items()}


def xxh3(b):
    return _codecs.xxh3(bytes(b))


def _align(x, a):
    return (x + a - 1) // a * a


_lz4c = None


def lz4_compress(raw):
    """LZ4_compress_default through the system liblz4 (what the C writer uses)."""
    global _lz4c
    if _lz4c is None:
        lib = ctypes.CDLL("liblz4.so.1")
        lib.LZ4_compress_default.restype = ctypes.c_int
        lib.LZ4_compress_default.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                             ctypes.c_int)
        _lz4c = lib
    bound = _codecs.compress_bound(len(raw))
    dst = ctypes.create_string_buffer(bound)
    n = _lz4c.LZ4_compress_default(bytes(raw), dst, len(raw), bound)
    assert n > 0
    return dst.raw[:n]


class FieldSpec:
    """One field to build: its entry values and the bytes of its data and index regions."""

    def __init__(self, name, dtype_code, shape, kind=0, codec=0, layout="", stride=0,
                 data=b"", index=b"", block_samples=0):
        self.name = name.encode() if isinstance(name, str) else name
        self.dtype = dtype_code
        self.shape = tuple(shape)
        self.kind, self.codec, self.layout = kind, codec, layout
        self.stride, self.data, self.index, self.block_samples = stride, data, index, block_samples


def fixed(name, arr, layout="", align=1):
    """A fixed-shape field from an (N, *shape) array; `align` pads the stride."""
    arr = np.ascontiguousarray(arr)
    n = arr.shape[0]
    sb = arr.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64))
    stride = _align(sb, align) if sb else 0
    if stride == sb:
        data = arr.tobytes()
    else:
        buf = np.zeros((n, stride), np.uint8)
        buf[:, :sb] = arr.reshape(n, -1).view(np.uint8).reshape(n, sb)
        data = buf.tobytes()
    return FieldSpec(name, CODE_OF[arr.dtype.str], arr.shape[1:], layout=layout, stride=stride,
                     data=bytes(data))


def variable(name, arrays, shape):
    """A variable-shape field; `shape` has None where dimensions vary."""
    data = bytearray()
    index = bytearray()
    dt = arrays[0].dtype
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=dt)
        off = _align(len(data), 64)
        data += b"\0" * (off - len(data))
        index += struct.pack("<QQ", off, a.nbytes) + struct.pack("<%dQ" % a.ndim, *a.shape)
        data += a.tobytes()
    data += b"\0" * (_align(len(data), 64) - len(data))
    full = tuple(F.VARIABLE if s is None else s for s in shape)
    return FieldSpec(name, CODE_OF[dt.str], full, kind=1, data=bytes(data), index=bytes(index))


def lz4(name, arr, block_samples, layout="", gap=0):
    """An LZ4-compressed fixed-shape field, `block_samples` samples per block, with `gap` zero
    bytes after each block (allowed by FORMAT.md section 7; the C writer packs blocks)."""
    arr = np.ascontiguousarray(arr)
    n = arr.shape[0]
    data = bytearray()
    index = bytearray()
    for b in range(0, n, block_samples):
        comp = lz4_compress(arr[b:b + block_samples].tobytes())
        index += struct.pack("<QQQ", len(data), len(comp), xxh3(comp))
        data += comp + b"\0" * gap
    return FieldSpec(name, CODE_OF[arr.dtype.str], arr.shape[1:], codec=1, layout=layout,
                     data=bytes(data), index=bytes(index), block_samples=block_samples)


def build(fields, n, metadata=b"", version_minor=0):
    """The bytes of a valid file: header, data regions (4096-aligned), index regions,
    field table, metadata, in that order."""
    pos = F.HEADER_SIZE
    placed = []
    for f in fields:
        doff = _align(pos, 4096) if f.data else 0
        if f.data:
            pos = doff + len(f.data)
        placed.append([doff, 0])
    for f, p in zip(fields, placed):
        if f.index:
            p[1] = _align(pos, 64)
            pos = p[1] + len(f.index)
    ft_off = _align(pos, 64)
    pos = ft_off + 256 * len(fields)
    meta_off = _align(pos, 8) if metadata else 0
    size = meta_off + len(metadata) if metadata else pos
    out = bytearray(size)
    ft = bytearray()
    for f, (doff, ioff) in zip(fields, placed):
        out[doff:doff + len(f.data)] = f.data
        out[ioff:ioff + len(f.index)] = f.index
        shape = list(f.shape) + [0] * (8 - len(f.shape))
        ft += FIELD.pack(f.name.ljust(64, b"\0"), len(f.name), f.dtype, len(f.shape), f.kind,
                         f.codec, 0, f.layout.encode().ljust(8, b"\0"), *shape, 0, 0, f.stride,
                         doff, len(f.data), xxh3(f.data), ioff, len(f.index), xxh3(f.index),
                         f.block_samples, b"\0" * 40)
    out[ft_off:ft_off + len(ft)] = ft
    out[meta_off:meta_off + len(metadata)] = metadata
    hdr = HEADER.pack(F.MAGIC, 1, version_minor, 128, size, n, len(fields), 0, ft_off, len(ft),
                      meta_off, len(metadata), xxh3(ft), xxh3(metadata), b"\0" * 32, 0)
    out[:128] = hdr
    out[120:128] = struct.pack("<Q", xxh3(out[:120]))
    return bytes(out)


class Patch:
    """Mutable bytes of a file with FORMAT.md-aware setters and checksum repair."""

    def __init__(self, data):
        self.b = bytearray(data)

    @classmethod
    def load(cls, path):
        with open(path, "rb") as f:
            return cls(f.read())

    def hget(self, name):
        fmt = H_FMT.get(name, "<Q")
        return struct.unpack_from(fmt, self.b, H_OFF[name])[0]

    def hset(self, name, value):
        struct.pack_into(H_FMT.get(name, "<Q"), self.b, H_OFF[name], value)
        return self

    def fe(self, k):
        return self.hget("ft_offset") + 256 * k

    def fget(self, k, name, d=0):
        fmt = F_FMT.get(name, "<Q")
        return struct.unpack_from(fmt, self.b, self.fe(k) + F_OFF[name] + 8 * d)[0]

    def fset(self, k, name, value, d=0):
        off = self.fe(k) + F_OFF[name]
        if name in ("name", "layout", "reserved2"):
            width = {"name": 64, "layout": 8, "reserved2": 40}[name]
            self.b[off:off + width] = bytes(value).ljust(width, b"\0")
        else:
            struct.pack_into(F_FMT.get(name, "<Q"), self.b, off + 8 * d, value)
        return self

    def field_region(self, k, which="data"):
        off, size = self.fget(k, which + "_offset"), self.fget(k, which + "_size")
        return off, size

    def reseal(self, regions=False):
        """Recomputes field table, metadata and header checksums (and every region checksum
        when `regions`)."""
        ft_off, ft_size = self.hget("ft_offset"), self.hget("ft_size")
        if regions:
            for k in range(self.hget("num_fields")):
                for which in ("data", "index"):
                    off, size = self.field_region(k, which)
                    self.fset(k, which + "_checksum", xxh3(self.b[off:off + size]))
        self.hset("ft_checksum", xxh3(self.b[ft_off:ft_off + ft_size]))
        m_off, m_size = self.hget("meta_offset"), self.hget("meta_size")
        self.hset("meta_checksum", xxh3(self.b[m_off:m_off + m_size]))
        self.reseal_header()
        return self

    def reseal_header(self):
        self.b[120:128] = struct.pack("<Q", xxh3(self.b[:120]))
        return self

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.b)
        return path


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def tc_build_dir():
    """The build directory holding libtensorcache.so and the tensorcache command."""
    d = os.environ.get("TC_BUILD")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "build"))


def private_memory_kib():
    """(Private_Dirty + Anonymous-ish) of this process in KiB, from /proc/self/smaps_rollup:
    what a copy of data would cost. Private_Clean is left out on purpose: file pages mapped by
    this process alone count as Private_Clean although they are page cache, not a copy."""
    vals = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                vals[parts[0][:-1]] = int(parts[1])
    return vals


def run_python(args, env_extra=None, timeout=120, cwd=None):
    """Runs /usr/bin/python3 (sys.executable) with the package importable."""
    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    if env_extra:
        env.update(env_extra)
    return subprocess.run([sys.executable] + list(args), env=env, cwd=cwd, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class TempDir:
    """A temporary directory for one test class (setUpClass / tearDownClass)."""

    def __init__(self):
        self._d = tempfile.TemporaryDirectory(prefix="tcpy-")
        self.path = self._d.name

    def __call__(self, name):
        return os.path.join(self.path, name)

    def cleanup(self):
        self._d.cleanup()
