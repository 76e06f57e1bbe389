"""The NumPy reader: zero-copy views over one read-only mapping of a tensorcache file.

Needs only NumPy and the standard library (plus ctypes to the system's libxxhash for checksums
and liblz4 for compressed fields; see _codecs.py). It validates a file exactly as the C reader
does (FORMAT.md section 9, same order, same error names), then maps the whole file once and hands
out plain ``numpy.ndarray`` views of it: no copy, no ``np.memmap`` subclass (indexing a memmap
is several times slower than indexing a plain ndarray).

Closing. ``Cache.close()`` (or leaving a ``with`` block) closes the cache: every later access
through the cache or its Field objects raises ``ValueError``. Arrays handed out before stay
valid and keep their values: the mapping is released when the last of them is garbage
collected (a NumPy view holds a reference to the mapping; unmapping it under a live view would
make the view's next access crash the process, which Python code must never do). A closed
cache with no live views releases its mapping at once. ``Cache.mapping_released`` tells which.
"""

import json
import mmap
import operator
import os
import stat
import weakref

import numpy as np

from . import _codecs
from . import _format as F
from ._errors import (FormatError, InvalidArgumentError, NotFoundError, RangeError, TCIOError,
                      WrongKindError)

__all__ = ["open", "Cache", "Field"]

_U64 = np.dtype("<u8")
_U64_MAX = np.uint64(F.U64_MAX)
_VERIFY_CHUNK = 1 << 20  # index entries checked per vectorised step


def open(path, verify=False, copy_on_write=False, check_blocks=False):  # noqa: A001
    """Opens and validates a tensorcache file; returns a :class:`Cache`.

    Checking levels (as the C library's open flags, include/tensorcache.h):
    default: the header, field table and metadata against their checksums, every field entry
        (cost independent of N); on access, the index entries a sample needs, and an LZ4 block
        must decode to exactly its size.
    check_blocks: also check every LZ4 block read against its own XXH3-64 checksum before
        decoding it (one hash over the compressed bytes: a few percent of the decode).
    verify: also check every index entry, every region and LZ4 block checksum, the padding and
        every LZ4 block (FORMAT.md "full validation"; reads the whole file).
    copy_on_write: map the file privately (MAP_PRIVATE) so that views are *writable*: a write
        changes only this process's copy of the touched page, never the file. Reading costs the
        same as the default read-only mapping. The PyTorch adapter uses this because PyTorch
        has no read-only tensors.
    """
    return Cache(path, verify=verify, copy_on_write=copy_on_write, check_blocks=check_blocks)


# MAP_NORESERVE keeps a private (copy-on-write) mapping of a file larger than RAM + swap from
# being refused by the kernel's overcommit heuristic: pages are only ever read, or copied one at a
# time when written. Linux's generic value; architectures with another value simply go without.
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if (
    os.uname().sysname == "Linux" and os.uname().machine in (
        "x86_64", "aarch64", "arm64", "riscv64", "s390x", "loongarch64")) else 0)


def _map(fd, size, copy_on_write):
    if not copy_on_write:
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    return mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE | _MAP_NORESERVE,
                     prot=mmap.PROT_READ | mmap.PROT_WRITE)


def _pread_full(fd, n, off):
    out = bytearray()
    while len(out) < n:
        try:
            chunk = os.pread(fd, n - len(out), off + len(out))
        except OSError as e:
            raise TCIOError("IO", "read of %d bytes at offset %d failed: %s"
                            % (n, off, e.strerror), e.errno) from None
        if not chunk:
            raise FormatError("TRUNCATED", "unexpected end of file at offset %d (file shrank?)"
                              % (off + len(out)))
        out += chunk
    return bytes(out)


def _as_index(i, n):
    """A Python int in 0..n-1 from an int-like (negative counts from the end)."""
    if isinstance(i, (bool, np.bool_)):
        raise TypeError("sample index must be an integer, not bool")
    try:
        j = operator.index(i)
    except TypeError:
        raise TypeError("sample index must be an integer, not %r" % (type(i).__name__,)) from None
    if j < 0:
        j += n
    if j < 0 or j >= n:
        raise RangeError("RANGE", "sample %d out of range (N = %d)" % (int(i), n))
    return j


def _as_indices(idx, n):
    """An int64 array of sample numbers from an index array/list (negative from the end)."""
    a = np.asarray(idx)
    if a.dtype == np.bool_ or (a.size and a.dtype.kind not in "iu"):
        raise TypeError("sample indices must be integers, not %s" % a.dtype)
    if a.ndim != 1:
        a = a.reshape(-1)
    if a.dtype.kind == "u":
        if a.size and a.max() >= n:
            raise RangeError("RANGE", "sample %d out of range (N = %d)" % (int(a.max()), n))
        return a.astype(np.int64)
    a = a.astype(np.int64, copy=False)
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if hi >= n or lo < -n:
            bad = hi if hi >= n else lo
            raise RangeError("RANGE", "sample %d out of range (N = %d)" % (bad, n))
        if lo < 0:
            a = np.where(a < 0, a + n, a)
    return a


class Field:
    """One field of a cache: its description, and access to its samples.

    Attributes: name, dtype (numpy.dtype; 'V2' for bf16), dtype_name ("u8", "f32", "bf16"...),
    shape (per-sample shape; None where a variable field's dimension varies), rank, layout
    ("NHWC" or ""), variable (bool), compressed (bool), codec ("none"/"lz4"), itemsize,
    sample_bytes (fixed fields), stride, block_samples, and the raw region offsets/sizes.

    ``field[i]`` is sample i (a view for uncompressed fields, a fresh array for compressed
    ones), ``field[a:b]`` a range, ``field[index_array]`` a gather (a new array for fixed-shape
    fields, a list of views for variable-shape ones).
    """

    def __init__(self, cache, number, e):
        self._cache = cache
        self._e = e
        self.number = number
        self.name = e.name
        self.dtype_code = e.dtype
        self.dtype_name = F.DTYPES[e.dtype][0]
        self.dtype = F.DTYPES[e.dtype][2]
        self.itemsize = e.itemsize
        self.rank = e.rank
        self.variable = e.kind == F.KIND_VARIABLE
        self.compressed = e.codec == F.CODEC_LZ4
        self.codec = "lz4" if self.compressed else "none"
        self.kind = "variable" if self.variable else "fixed"
        self.shape = tuple(None if s == F.VARIABLE else s for s in e.shape[:e.rank])
        self.layout = e.layout
        self.sample_bytes = e.sample_bytes
        self.stride = e.stride
        self.block_samples = e.block_samples
        self.data_offset, self.data_size, self.data_checksum = (
            e.data_offset, e.data_size, e.data_checksum)
        self.index_offset, self.index_size, self.index_checksum = (
            e.index_offset, e.index_size, e.index_checksum)
        self._n = cache.num_samples
        self._array = None   # whole-field view (fixed, uncompressed)
        self._index = None   # uint64 (N, 2+R) or (NB, 3) view of the index region
        self._block = None   # (block number, decoded read-only block) - LZ4 only

    def __repr__(self):
        shape = tuple("?" if s is None else s for s in self.shape)
        extra = (", layout=%r" % self.layout if self.layout else "") + (
            ", lz4" if self.compressed else "")
        return "Field(%r, %s, %s%s%s)" % (self.name, self.dtype_name, shape,
                                         ", variable" if self.variable else "", extra)

    def __len__(self):
        return self._n

    # ---- raw access ----------------------------------------------------------------------
    def _u8(self):
        return self._cache._bytes()

    def _index_rows(self):
        if self._index is None:
            e = self._e
            cols = 3 if self.compressed else 2 + e.rank
            nrows = e.index_size // (8 * cols)
            raw = self._u8()[e.index_offset:e.index_offset + e.index_size]
            self._index = raw.view(_U64).reshape(nrows, cols)
        return self._index

    @property
    def array(self):
        """The whole field as ONE read-only ndarray of shape (N, *shape) viewing the mapping.

        Fixed-shape uncompressed fields only (WrongKindError otherwise: a variable field has no
        common shape, a compressed one no bytes to view; use ``read_all()`` for a decoded copy).
        """
        if self._array is None:
            self._cache._check_open()
            if self.variable or self.compressed:
                raise WrongKindError(
                    "WRONG_KIND", "field '%s' is %s: no whole-field view (index it per sample, "
                    "or read_all() for a decoded copy)"
                    % (self.name, "variable-shape" if self.variable else "LZ4-compressed"))
            self._array = self._make_array()
        return self._array

    def _make_array(self):
        e = self._e
        shape = (self._n,) + self.shape
        u8 = self._u8()
        if e.stride == e.sample_bytes:
            raw = u8[e.data_offset:e.data_offset + e.data_size]
            return raw.view(self.dtype).reshape(shape)
        inner = []
        s = self.itemsize
        for d in reversed(self.shape):
            inner.insert(0, s)
            s *= d
        return np.ndarray(shape, self.dtype, buffer=u8, offset=e.data_offset,
                          strides=(e.stride,) + tuple(inner))

    def memmap(self):
        """The whole field as an ``np.memmap`` (fixed-shape uncompressed fields), for code that
        wants the memmap subclass; FORMAT.md section 5 shows the same call."""
        a = self.array  # validates kind, open state
        e = self._e
        if self._n == 0:
            return a
        rec = np.dtype({"names": ["v"], "formats": [(self.dtype, self.shape)],
                        "offsets": [0], "itemsize": e.stride})
        mode = "c" if self._cache.copy_on_write else "r"
        m = np.memmap(self._cache.path, dtype=rec, mode=mode, offset=e.data_offset,
                      shape=(self._n,))
        return m["v"]

    # ---- per-sample checks (FORMAT.md sections 6 and 7) ----------------------------------
    def _var_entry(self, i):
        """Entry i of a variable field, checked against the field and entry i-1 (exactly as
        the C reader's check_var_entry); returns (offset, nbytes, shape)."""
        rows = self._index_rows()
        cur = rows[i].tolist()
        prev = rows[i - 1].tolist() if i > 0 else None
        _check_var_entry(self._e, i, cur, prev)
        return cur[0], cur[1], tuple(cur[2:])

    def _block_entry(self, b):
        rows = self._index_rows()
        cur = rows[b].tolist()
        prev = None
        if b > 0:
            prev = rows[b - 1].tolist()
            _check_block_entry(self._e, self._n, b - 1, prev, None)
        _check_block_entry(self._e, self._n, b, cur, prev)
        return cur

    def _decode_block(self, b):
        """Decodes LZ4 block b (checked first) into a new read-only uint8 array."""
        cached = self._block
        if cached is not None and cached[0] == b:
            return cached[1]
        e = self._e
        off, csize, checksum = self._block_entry(b)
        raw = _block_raw_size(e, self._n, b)
        src = self._u8()[e.data_offset + off:e.data_offset + off + csize]
        if self._cache.check_blocks:
            _check_block_checksum(e, b, src, checksum)
        dst = np.empty(raw, np.uint8)
        got = _codecs.lz4().decompress_into(src, dst)
        if got < 0 or got != raw:
            first = b * e.block_samples
            raise FormatError("CORRUPT_BLOCK", "field '%s': block %d (samples %d..%d) does not "
                              "decode to %d bytes" % (e.name, b, first,
                                                      first + raw // max(e.sample_bytes, 1), raw))
        dst.flags.writeable = False
        self._block = (b, dst)
        return dst

    def _compressed_sample(self, i):
        e = self._e
        b, j = divmod(i, e.block_samples)
        block = self._decode_block(b)
        sb = e.sample_bytes
        return block[j * sb:(j + 1) * sb].view(self.dtype).reshape(self.shape).copy()

    # ---- sample access -------------------------------------------------------------------
    def sample(self, i):
        """Sample i: a read-only view for uncompressed fields (fixed or variable), a new array
        for compressed ones. Rank-0 fields give a NumPy scalar."""
        self._cache._check_open()
        return self._sample(_as_index(i, self._n))

    def _sample(self, i):
        """sample() for a checked index on an open cache."""
        if self.compressed:
            out = self._compressed_sample(i)
            return out[()] if self.rank == 0 else out
        if not self.variable:
            return self.array[i]
        off, nbytes, shape = self._var_entry(i)
        start = self._e.data_offset + off
        return self._u8()[start:start + nbytes].view(self.dtype).reshape(shape)

    def sample_shape(self, i):
        """Shape of sample i (cheap; checks the index entry of variable fields)."""
        self._cache._check_open()
        i = _as_index(i, self._n)
        if self.variable:
            return self._var_entry(i)[2]
        return self.shape

    def gather(self, idx, out=None):
        """Samples idx (array of ints): fixed-shape fields give ONE new array (n, *shape)
        (optionally written into `out`); variable-shape fields give a list of views."""
        self._cache._check_open()
        return self._gather(_as_indices(idx, self._n), out)

    def _gather(self, idx, out=None):
        """gather() for checked int64 indices on an open cache."""
        if self.variable:
            return [self._sample(i) for i in idx.tolist()]
        if not self.compressed:
            if out is None:
                return self.array[idx]
            # mode="clip": idx is already checked, and NumPy's default mode="raise" copies
            # through a temporary whenever `out` is given (measured 5 GB/s vs 24 GB/s).
            return np.take(self.array, idx, axis=0, out=out, mode="clip")
        if out is None:
            out = np.empty((len(idx),) + self.shape, self.dtype)
        elif not out.flags.c_contiguous or out.dtype != self.dtype:
            raise InvalidArgumentError("INVALID_ARG", "out must be a C-contiguous %s array"
                                       % self.dtype)
        if len(idx):
            blocks = idx // self._e.block_samples
            order = np.argsort(blocks, kind="stable")
            sb = self._e.sample_bytes
            flat = out.reshape(len(idx), -1).view(np.uint8) if sb else None
            bsorted = blocks[order]
            starts = np.flatnonzero(np.r_[True, bsorted[1:] != bsorted[:-1]])
            ends = np.r_[starts[1:], len(order)]
            for s, t in zip(starts.tolist(), ends.tolist()):
                b = int(bsorted[s])
                block = self._decode_block(b).reshape(-1, sb) if sb else None
                if block is not None:
                    pos = order[s:t]
                    flat[pos] = block[idx[pos] - b * self._e.block_samples]
        return out

    def dlpack(self, key=None):
        """A DLPackView (``__dlpack__``/``__dlpack_device__``) of the whole field (key None), of
        sample `key` (an int) or of range `key` (a slice); fixed-shape uncompressed fields for
        the whole field and ranges. See _dlpack.py for read-only and copy rules."""
        from ._dlpack import DLPackView
        if key is None:
            a, what = self.array, "field '%s'" % self.name
        elif isinstance(key, slice):
            a, what = self.array[key], "field '%s' samples %s" % (self.name, key)
        else:
            a, what = np.asarray(self.sample(key)), "field '%s' sample %d" % (self.name, key)
        return DLPackView(a, self.dtype_name, what)

    def read_all(self):
        """The whole field as a new array (fixed-shape) or list of views (variable-shape)."""
        return self.gather(np.arange(self._n))

    def __getitem__(self, key):
        if isinstance(key, slice):
            if not self.variable and not self.compressed:
                self._cache._check_open()
                return self.array[key]
            return self.gather(np.arange(self._n)[key])
        if isinstance(key, (list, tuple, np.ndarray)):
            return self.gather(key)
        return self.sample(key)

    def __iter__(self):
        for i in range(self._n):
            yield self.sample(i)

    @property
    def index(self):
        """Variable-shape fields: the index region as a read-only structured array with fields
        offset, nbytes, shape (FORMAT.md section 6). Entries are NOT checked here."""
        self._cache._check_open()
        if not self.variable:
            raise WrongKindError("WRONG_KIND", "field '%s' has no per-sample index" % self.name)
        dt = np.dtype([("offset", "<u8"), ("nbytes", "<u8"), ("shape", "<u8", (self.rank,))])
        return self._index_rows().reshape(-1).view(dt)

    def _release(self):
        self._array = None
        self._index = None
        self._block = None


def _check_block_checksum(e, b, src, checksum):
    """An LZ4 block's compressed bytes against its index entry's checksum (FORMAT.md 7)."""
    if _codecs.xxh3(src) != checksum:
        raise FormatError("CHECKSUM", "field '%s': block %d (samples %d..) checksum mismatch"
                          % (e.name, b, b * e.block_samples))


# ---- deferred / full index checks: one scalar checker (the truth) and vectorised filters ----

def _index_fail(e, i, what):
    raise FormatError("INDEX", "field '%s': index entry of sample %d: %s" % (e.name, i, what))


def _check_var_entry(e, i, cur, prev):
    """check_var_entry of lib/reader.c on Python ints: cur/prev are [offset, nbytes, *shape]."""
    off, nbytes, shape = cur[0], cur[1], cur[2:]
    for d in range(e.rank):
        if shape[d] == F.VARIABLE:
            _index_fail(e, i, "dimension is the VARIABLE marker")
        if e.shape[d] != F.VARIABLE and shape[d] != e.shape[d]:
            _index_fail(e, i, "shape differs from the field's fixed dimensions")
    nb = F.shape_bytes(shape, e.itemsize)
    if nb is None:
        raise FormatError("OVERFLOW", "field '%s': sample %d: shape product overflows 64 bits"
                          % (e.name, i))
    if nb != nbytes:
        _index_fail(e, i, "nbytes differs from the shape's size")
    if off % F.SAMPLE_ALIGN:
        _index_fail(e, i, "offset is not a multiple of 64")
    end = F.add_checked(off, nbytes)
    if end is None or end > e.data_size:
        _index_fail(e, i, "sample extends past the data region")
    if prev is not None:
        prev_end = F.add_checked(prev[0], prev[1])
        if prev_end is None or prev_end > off:
            _index_fail(e, i, "sample overlaps or precedes the previous sample")


def _block_raw_size(e, n, b):
    first = b * e.block_samples
    return min(n - first, e.block_samples) * e.sample_bytes


def _check_block_entry(e, n, b, cur, prev):
    """check_block_entry of lib/reader.c: cur/prev are [offset, csize, checksum]."""
    off, csize = cur[0], cur[1]
    bound = _codecs.compress_bound(_block_raw_size(e, n, b))
    end = F.add_checked(off, csize)
    if csize < 1 or csize > bound or end is None or end > e.data_size:
        raise FormatError("INDEX", "field '%s': block %d (samples %d..): offset %d size %d is "
                          "invalid" % (e.name, b, b * e.block_samples, off, csize))
    if prev is not None and prev[0] + prev[1] > off:
        raise FormatError("INDEX", "field '%s': block %d overlaps block %d" % (e.name, b, b - 1))


def _mul_overflows(prod, s):
    """(prod * s wrapped, overflowed mask) for uint64 arrays."""
    safe = np.maximum(s, np.uint64(1))
    ovf = (s != 0) & (prod > _U64_MAX // safe)
    return prod * s, ovf


def _var_bad_rows(e, rows, prev_last):
    """Mask of entries that _check_var_entry would reject (rows: uint64 (n, 2+R); prev_last:
    the entry before rows[0] or None)."""
    off, nb, sh = rows[:, 0], rows[:, 1], rows[:, 2:]
    bad = np.zeros(len(rows), bool)
    prod = np.full(len(rows), e.itemsize, np.uint64)
    ovf = np.zeros(len(rows), bool)
    for d in range(e.rank):
        s = sh[:, d]
        bad |= s == _U64_MAX
        if e.shape[d] != F.VARIABLE:
            bad |= s != np.uint64(e.shape[d])
        prod, o = _mul_overflows(prod, s)
        ovf |= o
    bad |= ovf | (prod != nb)
    bad |= (off % np.uint64(F.SAMPLE_ALIGN)) != 0
    end = off + nb
    bad |= (end < off) | (end > np.uint64(e.data_size))
    if prev_last is not None:
        poff = np.concatenate([np.array([prev_last[0]], np.uint64), off[:-1]])
        pnb = np.concatenate([np.array([prev_last[1]], np.uint64), nb[:-1]])
    else:
        poff, pnb = off[:-1], nb[:-1]
    pend = poff + pnb
    pbad = (pend < poff) | (pend > off[len(off) - len(poff):])
    bad[len(off) - len(poff):] |= pbad
    return bad


def _block_bad_rows(e, n, rows, first_block, prev_last):
    off, cs = rows[:, 0], rows[:, 1]
    b = np.arange(first_block, first_block + len(rows), dtype=np.uint64)
    count = np.minimum(np.uint64(n) - b * np.uint64(e.block_samples), np.uint64(e.block_samples))
    raw = count * np.uint64(e.sample_bytes)   # <= LZ4_MAX_RAW, checked at open
    bound = raw + raw // np.uint64(255) + np.uint64(16)
    end = off + cs
    bad = (cs < 1) | (cs > bound) | (end < off) | (end > np.uint64(e.data_size))
    if prev_last is not None:
        poff = np.concatenate([np.array([prev_last[0]], np.uint64), off[:-1]])
        pcs = np.concatenate([np.array([prev_last[1]], np.uint64), cs[:-1]])
    else:
        poff, pcs = off[:-1], cs[:-1]
    k = len(off) - len(poff)
    # prev entries already passed their own checks, so prev end cannot overflow
    bad[k:] |= (poff + pcs) > off[k:]
    return bad


def _padding_fail(e, where):
    raise FormatError("PADDING", "field '%s': padding inside the data region (near sample/block "
                      "%d) is not zero" % (e.name, where))


_GAP_SMALL = 64


def _nonzero_gaps(u8, base, starts, ends):
    """Index of the first gap [base+starts[i], base+ends[i]) holding a non-zero byte, or None.
    Gaps of up to 64 bytes (alignment padding) are checked with one gather; longer ones, which
    a writer of this project never makes, one by one."""
    lengths = ends - starts
    small = lengths <= _GAP_SMALL
    first = None
    si = np.flatnonzero(small & (lengths > 0))
    cols = np.arange(_GAP_SMALL, dtype=np.uint64)
    for a in range(0, len(si), 1 << 16):  # 64K gaps at a time: 32 MB of positions
        sub = si[a:a + (1 << 16)]
        mask = cols[None, :] < lengths[sub, None]
        pos = np.where(mask, starts[sub, None] + cols[None, :], 0).astype(np.int64) + base
        hit = np.flatnonzero(((u8[pos] != 0) & mask).any(axis=1))
        if len(hit):
            first = int(sub[hit[0]])
            break
    for i in np.flatnonzero(~small).tolist():
        if first is not None and i > first:
            break
        if u8[base + int(starts[i]):base + int(ends[i])].any():
            first = i if first is None else min(first, i)
            break
    return first


class Cache:
    """An open tensorcache file. See :func:`open`.

    ``len(cache)`` is N; ``cache.fields`` lists Field objects in declaration order;
    ``cache["image"]`` is the whole fixed-shape field as one read-only array viewing the
    mapping (a Field object for variable-shape or compressed fields); ``cache[i]`` is
    ``{name: sample i}``; ``cache[index_array]`` gathers a batch (one gather per field);
    ``cache[a:b]`` gives range views.
    """

    def __init__(self, path, verify=False, copy_on_write=False, check_blocks=False):
        self.path = os.fspath(path)
        self.check_blocks = bool(check_blocks)
        self.copy_on_write = bool(copy_on_write)
        self._closed = True
        self._mm = None
        self._mm_ref = lambda: None
        self._u8_arr = None
        fd = self._open_fd()
        try:
            self._load(fd)
            try:
                self._mm = _map(fd, self.file_size, self.copy_on_write)
            except OSError as e:
                raise TCIOError("IO", "cannot map %d bytes of '%s': %s"
                                % (self.file_size, self.path, e.strerror), e.errno) from None
        finally:
            os.close(fd)
        self._mm_ref = weakref.ref(self._mm)
        self._u8_arr = np.frombuffer(self._mm, dtype=np.uint8)
        self._closed = False
        self.fields = [Field(self, k, e) for k, e in enumerate(self._entries)]
        self._by_name = {f.name: f for f in self.fields}
        if verify:
            try:
                self.verify()
            except BaseException:
                self.close()
                raise

    def _open_fd(self):
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            raise TCIOError("IO", "cannot open '%s': %s" % (self.path, e.strerror),
                            e.errno) from None
        try:
            st = os.fstat(fd)
        except OSError as e:
            os.close(fd)
            raise TCIOError("IO", "cannot stat '%s': %s" % (self.path, e.strerror),
                            e.errno) from None
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise InvalidArgumentError("INVALID_ARG", "'%s' is not a regular file" % self.path)
        self._real_size = st.st_size
        return fd

    def _load(self, fd):
        """Section 9, steps 1-6, on bytes read with pread (nothing is mapped yet)."""
        if self._real_size < F.HEADER_SIZE:
            raise FormatError("TRUNCATED", "file is %d bytes, smaller than the %d-byte header"
                              % (self._real_size, F.HEADER_SIZE))
        h = F.parse_header(_pread_full(fd, F.HEADER_SIZE, 0), self._real_size)
        ft = _pread_full(fd, h.ft_size, h.ft_offset)
        F.check_field_table_checksum(h, ft)
        meta = _pread_full(fd, h.meta_size, h.meta_offset) if h.meta_size else b""
        F.check_metadata(h, meta)
        self._entries = F.parse_fields(h, ft)
        self._h = h
        self.num_samples = h.num_samples
        self.file_size = h.file_size
        self.version = (h.version_major, h.version_minor)
        self.metadata_bytes = meta

    # ---- lifetime ----------------------------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise ValueError("I/O operation on a closed tensorcache (%s)" % self.path)

    def _bytes(self):
        self._check_open()
        return self._u8_arr

    @property
    def closed(self):
        return self._closed

    @property
    def mapping_released(self):
        """True once the file's mapping is unmapped (after close() with no live views)."""
        m = self._mm_ref()
        return m is None or m.closed

    def _try_unmap(self):
        try:
            self._mm.close()
        except BufferError:
            return False  # views are alive: they keep the mapping until they are collected
        self._mm = None
        return True

    def close(self):
        """Closes the cache. Views handed out earlier stay valid: the mapping is unmapped when
        the last one is garbage collected (now, if there are none)."""
        if self._closed:
            return
        self._closed = True
        for f in getattr(self, "fields", ()):
            f._release()
        self._u8_arr = None
        if self._mm is not None and not self._try_unmap():
            # Let the views own the mapping: dropping our reference means the mmap object is
            # deallocated (and munmapped) together with the last view.
            self._mm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __reduce__(self):
        # Pickling (e.g. to a spawned DataLoader worker) sends the path, never the data: the
        # other process maps the same file.
        return (open, (self.path, False, self.copy_on_write))

    def __repr__(self):
        state = "closed" if self._closed else "%d samples" % self.num_samples
        return "<tensorcache.Cache %r: %s, fields %s>" % (
            self.path, state, ", ".join(repr(f) for f in getattr(self, "fields", ())))

    # ---- description -------------------------------------------------------------------------
    def __len__(self):
        return self.num_samples

    @property
    def field_names(self):
        return [f.name for f in self.fields]

    def keys(self):
        return self.field_names

    def __contains__(self, name):
        return name in self._by_name

    def field(self, name):
        """The Field object called `name` (NotFoundError, a KeyError, otherwise)."""
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise NotFoundError("NOT_FOUND", "no field named %r (fields: %s)"
                                % (name, ", ".join(self.field_names))) from None

    @property
    def metadata(self):
        """The metadata parsed as JSON ({} when the file has none, None when it is not JSON;
        the raw bytes are always in ``metadata_bytes``)."""
        if not self.metadata_bytes:
            return {}
        try:
            return json.loads(self.metadata_bytes.decode("utf-8"))
        except ValueError:
            return None

    # ---- access ------------------------------------------------------------------------------
    def array(self, name):
        """Whole fixed-shape uncompressed field `name` as one read-only view (N, *shape)."""
        return self.field(name).array

    def dlpack(self, name, key=None):
        """``field(name).dlpack(key)``: a view for torch/jax/tf ``from_dlpack``."""
        return self.field(name).dlpack(key)

    def sample(self, i, fields=None):
        """{name: sample i} for all fields (or the listed ones)."""
        self._check_open()
        i = _as_index(i, self.num_samples)
        return {f.name: f._sample(i) for f in self._select(fields)}

    def gather(self, idx, fields=None):
        """{name: batch}: ONE gather per fixed-shape field (a new (n, *shape) array), a list of
        views per variable-shape field. ``gather("image", idx)`` gathers one field and returns
        its batch alone."""
        self._check_open()
        if isinstance(idx, str):
            return self.field(idx).gather(fields)
        idx = _as_indices(idx, self.num_samples)
        return {f.name: f._gather(idx) for f in self._select(fields)}

    def _select(self, fields):
        if fields is None:
            return self.fields
        if isinstance(fields, str):
            fields = [fields]
        return [self.field(n) for n in fields]

    def __getitem__(self, key):
        if isinstance(key, str):
            f = self.field(key)
            self._check_open()
            return f if (f.variable or f.compressed) else f.array
        if isinstance(key, slice):
            self._check_open()
            return {f.name: f[key] for f in self.fields}
        if isinstance(key, (list, tuple, np.ndarray)):
            return self.gather(key)
        return self.sample(key)

    def __iter__(self):
        for i in range(self.num_samples):
            yield self.sample(i)

    # ---- full validation ---------------------------------------------------------------------
    def verify(self):
        """FORMAT.md "full validation", in the C library's order: every index entry [INDEX],
        every region checksum and every LZ4 block checksum [CHECKSUM], zero padding between
        regions, then inside each
        field's data region [PADDING], every LZ4 block decodes [CORRUPT_BLOCK]. Raises
        FormatError on the first problem; returns None."""
        self._check_open()
        for f in self.fields:
            if f.variable:
                self._verify_var_index(f)
            elif f.compressed:
                self._verify_block_index(f)
        u8 = self._u8_arr
        for f in self.fields:
            e = f._e
            got = _codecs.xxh3(u8[e.data_offset:e.data_offset + e.data_size])
            if got != e.data_checksum:
                raise FormatError("CHECKSUM", "field '%s': data region (bytes %d..%d) checksum "
                                  "mismatch: stored %016x, computed %016x"
                                  % (e.name, e.data_offset, e.data_offset + e.data_size,
                                     e.data_checksum, got))
            got = _codecs.xxh3(u8[e.index_offset:e.index_offset + e.index_size])
            if got != e.index_checksum:
                raise FormatError("CHECKSUM", "field '%s': index region (bytes %d..%d) checksum "
                                  "mismatch: stored %016x, computed %016x"
                                  % (e.name, e.index_offset, e.index_offset + e.index_size,
                                     e.index_checksum, got))
            if f.compressed:  # every block's own checksum, even when the region's matches
                rows = f._index_rows()
                for b in range(e.nblocks):
                    off, csize, checksum = (int(v) for v in rows[b])
                    start = e.data_offset + off  # entries were checked by _verify_block_index
                    _check_block_checksum(e, b, u8[start:start + csize], checksum)
        self._verify_padding()
        for f in self.fields:
            self._verify_field_padding(f)
        for f in self.fields:
            if f.compressed:
                for b in range(f._e.nblocks):
                    f._block = None
                    f._decode_block(b)
                f._block = None

    def _verify_var_index(self, f):
        rows = f._index_rows()
        n = len(rows)
        for s in range(0, n, _VERIFY_CHUNK):
            chunk = rows[s:s + _VERIFY_CHUNK]
            prev = rows[s - 1] if s else None
            bad = np.flatnonzero(_var_bad_rows(f._e, chunk, prev))
            if len(bad):
                i = s + int(bad[0])
                f._var_entry(i)  # raises with the exact code and message
                raise AssertionError("vectorised and scalar index checks disagree at %d" % i)

    def _verify_block_index(self, f):
        rows = f._index_rows()
        n = len(rows)
        for s in range(0, n, _VERIFY_CHUNK):
            chunk = rows[s:s + _VERIFY_CHUNK]
            prev = rows[s - 1] if s else None
            bad = np.flatnonzero(_block_bad_rows(f._e, self.num_samples, chunk, s, prev))
            if len(bad):
                b = s + int(bad[0])
                cur = rows[b].tolist()
                _check_block_entry(f._e, self.num_samples, b, cur,
                                   rows[b - 1].tolist() if b else None)
                raise AssertionError("vectorised and scalar block checks disagree at %d" % b)

    def _verify_field_padding(self, f):
        """Zero bytes inside a field's data region (verify_field_padding in lib/reader.c): the
        bytes between sample_bytes and stride of every fixed-shape sample, and the gaps before
        each variable sample / LZ4 block and after the last one. Runs after the index checks,
        so entries are in order and in bounds."""
        e = f._e
        u8 = self._u8_arr
        base, n = e.data_offset, self.num_samples
        if not f.variable and not f.compressed:
            if e.stride == e.sample_bytes:
                return
            pad = e.stride - e.sample_bytes
            for s in range(0, n, _VERIFY_CHUNK):
                k = min(_VERIFY_CHUNK, n - s)
                view = np.ndarray((k, pad), np.uint8, buffer=u8,
                                  offset=base + s * e.stride + e.sample_bytes,
                                  strides=(e.stride, 1))
                bad = np.flatnonzero(view.any(axis=1))
                if len(bad):
                    _padding_fail(e, s + int(bad[0]))
            return
        rows = f._index_rows()
        count = len(rows)
        prev_end = np.uint64(0)
        for s in range(0, count, _VERIFY_CHUNK):
            chunk = rows[s:s + _VERIFY_CHUNK]
            off, ln = chunk[:, 0], chunk[:, 1]
            starts = np.concatenate([[prev_end], off[:-1] + ln[:-1]]).astype(np.uint64)
            bad = _nonzero_gaps(u8, base, starts, off)
            if bad is not None:
                _padding_fail(e, s + bad)
            prev_end = off[-1] + ln[-1]
        end = e.data_size
        if int(prev_end) < end and u8[base + int(prev_end):base + end].any():
            _padding_fail(e, count)

    def _verify_padding(self):
        h = self._h
        spans = [(0, F.HEADER_SIZE), (h.ft_offset, h.ft_offset + h.ft_size),
                 (h.meta_offset, h.meta_offset + h.meta_size)]
        for e in self._entries:
            spans.append((e.data_offset, e.data_offset + e.data_size))
            spans.append((e.index_offset, e.index_offset + e.index_size))
        spans.sort(key=lambda s: s[0])
        pos = 0
        gaps = []
        for off, end in spans:
            if off > pos:
                gaps.append((pos, off))
            pos = max(pos, end)
        gaps.append((pos, h.file_size))
        u8 = self._u8_arr
        for start, end in gaps:
            for s in range(start, end, 1 << 24):
                chunk = u8[s:min(end, s + (1 << 24))]
                if chunk.any():
                    at = s + int(np.flatnonzero(chunk)[0])
                    raise FormatError("PADDING", "padding byte at offset %d is not zero" % at)
