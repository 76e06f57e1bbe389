"""Decoding and validating the header and field table (docs/FORMAT.md sections 2-9).

This mirrors lib/format.c check for check and in the same order, so that the NumPy reader and
the C reader reject exactly the same files with exactly the same error code (the first failure
wins). Everything here costs O(F); per-sample index checks live in reader.py.
"""

import struct

import numpy as np

from . import _codecs
from ._errors import FormatError

MAGIC = b"\x89TCACHE\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
HEADER_SIZE = 128
FIELD_ENTRY_SIZE = 256
DATA_ALIGN = 4096
INDEX_ALIGN = 64
SAMPLE_ALIGN = 64
META_ALIGN = 8
MAX_METADATA = 64 << 20
MAX_FIELDS = 1024
MAX_RANK = 8
MAX_NAME = 64
MAX_LAYOUT = 8
LZ4_ENTRY_SIZE = 24
LZ4_MAX_RAW = 2113929216
U64_MAX = (1 << 64) - 1
VARIABLE = U64_MAX
KIND_FIXED = 0
KIND_VARIABLE = 1
CODEC_NONE = 0
CODEC_LZ4 = 1

# code -> (name, itemsize, numpy dtype). bf16 has no NumPy type: it is exposed as 2-byte
# opaque items ('V2'); view it as '<u2' for the raw bits, or use the torch adapter
# (torch.bfloat16).
DTYPES = {
    1: ("bool", 1, np.dtype("|b1")),
    2: ("u8", 1, np.dtype("|u1")),
    3: ("i8", 1, np.dtype("|i1")),
    4: ("u16", 2, np.dtype("<u2")),
    5: ("i16", 2, np.dtype("<i2")),
    6: ("u32", 4, np.dtype("<u4")),
    7: ("i32", 4, np.dtype("<i4")),
    8: ("u64", 8, np.dtype("<u8")),
    9: ("i64", 8, np.dtype("<i8")),
    10: ("f16", 2, np.dtype("<f2")),
    11: ("bf16", 2, np.dtype("V2")),
    12: ("f32", 4, np.dtype("<f4")),
    13: ("f64", 8, np.dtype("<f8")),
}
DTYPE_BY_NAME = {v[0]: k for k, v in DTYPES.items()}
BF16 = 11

_HEADER = struct.Struct("<8sHHIQQIIQQQQQQ32sQ")
_FIELD = struct.Struct("<64sHBBBBH8s8QIIQQQQQQQQ40s")
assert _HEADER.size == HEADER_SIZE and _FIELD.size == FIELD_ENTRY_SIZE


def fail(code, message):
    raise FormatError(code, message)


def mul_checked(a, b):
    """a*b, or None when it overflows 64 bits (the C library's tc_mul)."""
    r = a * b
    return r if r <= U64_MAX else None


def add_checked(a, b):
    r = a + b
    return r if r <= U64_MAX else None


def shape_bytes(shape, itemsize):
    """itemsize * prod(shape), or None on 64-bit overflow (tc__shape_bytes)."""
    n = itemsize
    for d in shape:
        n = mul_checked(n, d)
        if n is None:
            return None
    return n


def utf8_valid(b):
    """Strict UTF-8, the same set as tc__utf8_valid (Python's codec rejects overlong forms,
    surrogates and code points above U+10FFFF)."""
    try:
        b.decode("utf-8", "strict")
        return True
    except UnicodeDecodeError:
        return False


class Header:
    __slots__ = ("version_major", "version_minor", "file_size", "num_samples", "num_fields",
                 "ft_offset", "ft_size", "meta_offset", "meta_size", "ft_checksum",
                 "meta_checksum")


def _check_in_file(off, size, file_size, what):
    end = add_checked(off, size)
    if end is None:
        fail("REGION_BOUNDS", "%s: offset %d + size %d overflows" % (what, off, size))
    if end > file_size:
        fail("REGION_BOUNDS", "%s: region ends at %d, past file size %d" % (what, end, file_size))


def parse_header(b, real_size):
    """Section 9 steps 1-3 up to (not including) the field table and metadata checksums."""
    (magic, vmaj, vmin, hsize, file_size, nsamples, nfields, flags, ft_off, ft_size, meta_off,
     meta_size, ft_sum, meta_sum, reserved, hsum) = _HEADER.unpack_from(b, 0)
    if magic != MAGIC:
        fail("BAD_MAGIC", "bad magic: not a tensorcache file")
    if vmaj != FORMAT_MAJOR:
        fail("VERSION", "expected format version %d.x, found %d.%d" % (FORMAT_MAJOR, vmaj, vmin))
    if hsize != HEADER_SIZE:
        fail("HEADER", "header_size is %d, expected %d" % (hsize, HEADER_SIZE))
    got = _codecs.xxh3(bytes(b[:120]))
    if got != hsum:
        fail("CHECKSUM", "header checksum mismatch: stored %016x, computed %016x" % (hsum, got))
    if flags != 0 or any(reserved):
        fail("RESERVED", "header flags or reserved bytes are not zero")
    if real_size < file_size:
        fail("TRUNCATED", "file is %d bytes, header records %d" % (real_size, file_size))
    if real_size > file_size:
        fail("SIZE_MISMATCH", "file is %d bytes, larger than the %d the header records"
             % (real_size, file_size))
    if nfields < 1 or nfields > MAX_FIELDS:
        fail("FIELD_COUNT", "num_fields is %d, must be 1..%d" % (nfields, MAX_FIELDS))
    if ft_size != nfields * FIELD_ENTRY_SIZE:
        fail("HEADER", "field_table_size is %d, expected %d fields x %d"
             % (ft_size, nfields, FIELD_ENTRY_SIZE))
    if meta_size > MAX_METADATA:
        fail("METADATA", "metadata_size %d exceeds the %d-byte limit" % (meta_size, MAX_METADATA))
    _check_in_file(ft_off, ft_size, file_size, "field table")
    _check_in_file(meta_off, meta_size, file_size, "metadata")
    if ft_off % INDEX_ALIGN:
        fail("ALIGNMENT", "field table offset %d is not a multiple of %d" % (ft_off, INDEX_ALIGN))
    if meta_off % META_ALIGN or (meta_size == 0 and meta_off != 0):
        fail("ALIGNMENT", "metadata offset %d is misaligned" % meta_off)
    h = Header()
    h.version_major, h.version_minor = vmaj, vmin
    h.file_size, h.num_samples, h.num_fields = file_size, nsamples, nfields
    h.ft_offset, h.ft_size, h.meta_offset, h.meta_size = ft_off, ft_size, meta_off, meta_size
    h.ft_checksum, h.meta_checksum = ft_sum, meta_sum
    return h


def check_field_table_checksum(h, ft):
    if _codecs.xxh3(ft) != h.ft_checksum:
        fail("CHECKSUM", "field table checksum mismatch")


def check_metadata(h, meta):
    if h.meta_size == 0:
        if h.meta_checksum != _codecs.XXH3_EMPTY:
            fail("CHECKSUM", "metadata checksum mismatch")
        return
    if _codecs.xxh3(meta) != h.meta_checksum:
        fail("CHECKSUM", "metadata checksum mismatch")
    if not utf8_valid(bytes(meta)):
        fail("METADATA", "metadata is not valid UTF-8")


class Entry:
    """A validated field table entry plus what is derived from it (tc_field_entry)."""
    __slots__ = ("name", "name_bytes", "dtype", "rank", "kind", "codec", "layout", "shape",
                 "flags", "stride", "data_offset", "data_size", "data_checksum", "index_offset",
                 "index_size", "index_checksum", "block_samples", "itemsize", "sample_bytes",
                 "entry_size", "nblocks")


def check_layout_tag(tag, rank):
    """tc__check_layout_tag: True when `tag` (bytes, zero-padded) is valid for `rank`."""
    n = tag.find(b"\0")
    if n < 0:
        n = len(tag)
    if any(tag[n:]):
        return False
    if n == 0:
        return True
    if n != rank + 1:
        return False
    return all(0x41 <= c <= 0x5A for c in tag[:n])


def _shape_fail(e, what):
    fail("SHAPE", "field '%s': %s" % (e.name, what))


def _check_sizes(e, n):
    if e.kind == KIND_FIXED:
        e.sample_bytes = shape_bytes(e.shape[:e.rank], e.itemsize)
        if e.sample_bytes is None:
            fail("OVERFLOW", "field '%s': sample size overflows 64 bits" % e.name)
    if e.kind == KIND_FIXED and e.codec == CODEC_NONE:
        if e.stride < e.sample_bytes:
            _shape_fail(e, "stride is smaller than the sample size")
        total = mul_checked(n, e.stride)
        if total is None:
            fail("OVERFLOW", "field '%s': N x stride overflows 64 bits" % e.name)
        if e.data_size != total:
            _shape_fail(e, "data_size %d != N x stride = %d" % (e.data_size, total))
        if e.index_offset or e.index_size or e.block_samples:
            _shape_fail(e, "fixed-shape field has index or block fields set")
    elif e.kind == KIND_VARIABLE:
        e.entry_size = 16 + 8 * e.rank
        if e.stride or e.block_samples:
            _shape_fail(e, "variable-shape field has stride or block_samples set")
        total = mul_checked(n, e.entry_size)
        if total is None:
            fail("OVERFLOW", "field '%s': index size overflows 64 bits" % e.name)
        if e.index_size != total:
            _shape_fail(e, "index_size %d != N x %d" % (e.index_size, e.entry_size))
    else:  # fixed + lz4
        e.entry_size = LZ4_ENTRY_SIZE
        if e.stride:
            _shape_fail(e, "compressed field has a stride")
        if e.block_samples == 0:
            fail("CODEC", "field '%s': block_samples is 0" % e.name)
        e.nblocks = n // e.block_samples + (n % e.block_samples != 0)
        raw = mul_checked(min(e.block_samples, n), e.sample_bytes)
        if raw is None or raw > LZ4_MAX_RAW:
            fail("CODEC", "field '%s': an LZ4 block would exceed %d bytes" % (e.name, LZ4_MAX_RAW))
        total = mul_checked(e.nblocks, LZ4_ENTRY_SIZE)
        if total is None:
            fail("OVERFLOW", "field '%s': block index size overflows" % e.name)
        if e.index_size != total:
            _shape_fail(e, "index_size %d != %d blocks x %d"
                        % (e.index_size, e.nblocks, LZ4_ENTRY_SIZE))


def _check_field_regions(e, file_size):
    _check_in_file(e.data_offset, e.data_size, file_size, "field '%s': data region" % e.name)
    _check_in_file(e.index_offset, e.index_size, file_size, "field '%s': index region" % e.name)
    if e.data_offset % DATA_ALIGN or (e.data_size == 0 and e.data_offset != 0):
        fail("ALIGNMENT", "field '%s': data offset %d is not a multiple of %d"
             % (e.name, e.data_offset, DATA_ALIGN))
    if e.index_offset % INDEX_ALIGN or (e.index_size == 0 and e.index_offset != 0):
        fail("ALIGNMENT", "field '%s': index offset %d is not a multiple of %d"
             % (e.name, e.index_offset, INDEX_ALIGN))


def parse_field(buf, k, h):
    """tc__parse_field: decodes and checks field table entry k (section 9 step 4)."""
    (name, name_len, dtype, rank, kind, codec, res0, layout, s0, s1, s2, s3, s4, s5, s6, s7,
     flags, res1, stride, data_off, data_size, data_sum, index_off, index_size, index_sum,
     block_samples, res2) = _FIELD.unpack_from(buf, k * FIELD_ENTRY_SIZE)
    e = Entry()
    e.name_bytes = name[:name_len] if name_len <= MAX_NAME else name
    e.name = e.name_bytes.decode("utf-8", "replace")  # for messages until validated
    e.dtype, e.rank, e.kind, e.codec = dtype, rank, kind, codec
    e.shape = (s0, s1, s2, s3, s4, s5, s6, s7)
    e.flags, e.stride = flags, stride
    e.data_offset, e.data_size, e.data_checksum = data_off, data_size, data_sum
    e.index_offset, e.index_size, e.index_checksum = index_off, index_size, index_sum
    e.block_samples = block_samples
    e.itemsize = DTYPES[dtype][1] if dtype in DTYPES else 0
    e.sample_bytes = 0
    e.entry_size = 0
    e.nblocks = 0

    # name [NAME]
    if name_len < 1 or name_len > MAX_NAME:
        fail("NAME", "field %d: name length %d is not 1..%d" % (k, name_len, MAX_NAME))
    if b"\0" in e.name_bytes:
        fail("NAME", "field %d: name contains a NUL byte" % k)
    if not utf8_valid(e.name_bytes):
        fail("NAME", "field %d: name is not valid UTF-8" % k)
    if any(name[name_len:]):
        fail("NAME", "field '%s': name padding is not zero" % e.name)
    e.name = e.name_bytes.decode("utf-8")
    # dtype, codec
    if e.itemsize == 0:
        fail("DTYPE", "field '%s': unknown dtype code %d" % (e.name, dtype))
    if codec > CODEC_LZ4:
        fail("CODEC", "field '%s': unknown codec %d" % (e.name, codec))
    if codec == CODEC_LZ4 and kind != KIND_FIXED:
        fail("CODEC", "field '%s': LZ4 is only valid for fixed-shape fields" % e.name)
    # kind, rank, shape [SHAPE]
    if kind > KIND_VARIABLE:
        _shape_fail(e, "unknown kind %d" % kind)
    if rank > MAX_RANK:
        _shape_fail(e, "rank %d exceeds %d" % (rank, MAX_RANK))
    for d in range(rank, MAX_RANK):
        if e.shape[d]:
            _shape_fail(e, "shape[%d] beyond rank %d is not zero" % (d, rank))
    nvar = sum(1 for d in range(rank) if e.shape[d] == VARIABLE)
    if kind == KIND_FIXED and nvar:
        _shape_fail(e, "fixed-shape field has a variable dimension")
    if kind == KIND_VARIABLE and nvar == 0:
        _shape_fail(e, "variable-shape field has no variable dimension")
    # reserved [RESERVED]
    if flags or res0 or res1 or any(res2):
        fail("RESERVED", "field '%s': flags or reserved bytes are not zero" % e.name)
    # layout [LAYOUT]
    if not check_layout_tag(layout, rank):
        fail("LAYOUT", "field '%s': layout tag must be empty or %d letters A-Z" % (e.name, rank + 1))
    e.layout = layout.rstrip(b"\0").decode("ascii")
    _check_sizes(e, h.num_samples)
    _check_field_regions(e, h.file_size)
    return e


def check_unique_names(entries):
    seen = {}
    for k, e in enumerate(entries):
        if e.name_bytes in seen:
            fail("DUPLICATE_NAME", "fields %d and %d are both named '%s'"
                 % (seen[e.name_bytes], k, e.name))
        seen[e.name_bytes] = k


def check_regions(h, entries):
    """Section 9 step 6: no two non-empty regions overlap."""
    r = [(0, HEADER_SIZE), (h.ft_offset, h.ft_size)]
    if h.meta_size:
        r.append((h.meta_offset, h.meta_size))
    for e in entries:
        if e.data_size:
            r.append((e.data_offset, e.data_size))
        if e.index_size:
            r.append((e.index_offset, e.index_size))
    r.sort(key=lambda x: x[0])
    for (a_off, a_size), (b_off, b_size) in zip(r, r[1:]):
        if a_off + a_size > b_off:
            fail("OVERLAP", "region [%d, %d) overlaps region [%d, %d)"
                 % (a_off, a_off + a_size, b_off, b_off + b_size))


def parse_fields(h, ft):
    entries = [parse_field(ft, k, h) for k in range(h.num_fields)]
    check_unique_names(entries)
    check_regions(h, entries)
    return entries
