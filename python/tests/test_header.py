"""The C header is the one source of truth: everything the Python package mirrors by hand must
agree with include/tensorcache.h, lib/internal.h and the built library.

Python keeps its own copies because the NumPy-only reader must work without libtensorcache:
_errors.ERROR_CODES, _format's dtype table, format constants and struct layouts, and the
ctypes structs of _native.py and loader.py. This test parses the C sources and asks the library
itself; a change on one side only fails here with the name of what differs. (At import,
_native.check_library() refuses a library that disagrees on version, struct sizes, error
codes or dtypes.)
"""

import ctypes
import os
import re
import struct
import unittest

import numpy as np

from tensorcache import _errors, _format as F, _native, loader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def source(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


HEADER = source("include/tensorcache.h")
INTERNAL = source("lib/internal.h")


def x_list(text, macro):
    """The X(...) entries of `#define macro(X)` as lists of argument strings."""
    body = text[text.index("#define %s(X)" % macro):]
    entries, lines = [], body.split("\n")
    for line in lines:
        entries += re.findall(r"X\(([^)]*)\)", line)
        if not line.rstrip().endswith("\\"):
            break
    return [[a.strip().strip('"') for a in e.split(",")] for e in entries]


def define(text, name):
    m = re.search(r"^#define %s[ \t]+([^/\n]+)" % name, text, re.M)
    return m.group(1).strip() if m else None


def c_int(s):
    s = s.strip("()").rstrip("u")
    if "<<" in s:
        a, b = s.split("<<")
        return int(a.strip().rstrip("u")) << int(b)
    return int(s, 0)


def enum_values(text, prefix):
    """NAME -> value of the `PREFIX_... = N` enumerators in `text`, in order."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"\b(%s\w+) = (\d+)" % prefix, text)}


def struct_offsets(fmt):
    """Offsets of the items of a struct format; a repeat count of a numeric code ('8Q') is one
    item, as is a string ('64s')."""
    offsets, prefix = [], fmt[0]
    for count, code in re.findall(r"(\d*)([a-zA-Z])", fmt[1:]):
        offsets.append(struct.calcsize(prefix))
        prefix += count + code
    return offsets


class HeaderAgreement(unittest.TestCase):
    """Python's tables against the text of the C headers."""

    def test_error_codes(self):
        want = {e[0]: int(e[1]) for e in x_list(HEADER, "TC_ERROR_LIST")}
        self.assertEqual(_errors.ERROR_CODES, want,
                         "python/tensorcache/_errors.py ERROR_CODES differs from TC_ERROR_LIST")

    def test_dtypes(self):
        want = {int(code): (text, int(size), np.dtype(npy).str)
                for _, code, size, text, npy in x_list(HEADER, "TC_DTYPE_LIST")}
        got = {code: (name, size, dt.str) for code, (name, size, dt) in F.DTYPES.items()}
        self.assertEqual(got, want, "python/tensorcache/_format.py DTYPES differs from "
                                    "TC_DTYPE_LIST")

    def test_adapters_know_every_dtype(self):
        from tensorcache import tf_data
        missing = [name for name, _, _ in F.DTYPES.values() if name not in tf_data._TF_DTYPES]
        self.assertEqual(missing, [], "tf_data._TF_DTYPES lacks these dtypes "
                                      "(docs/HACKING.md, 'Adding a dtype')")

    def test_limits_and_flags(self):
        pairs = [("TC_MAX_RANK", F.MAX_RANK), ("TC_MAX_RANK", _native.TC_MAX_RANK),
                 ("TC_MAX_NAME", F.MAX_NAME), ("TC_MAX_LAYOUT", F.MAX_LAYOUT),
                 ("TC_MAX_FIELDS", F.MAX_FIELDS), ("TC_FORMAT_MAJOR", F.FORMAT_MAJOR),
                 ("TC_FORMAT_MINOR", F.FORMAT_MINOR), ("TC_OPEN_VERIFY", _native.TC_OPEN_VERIFY),
                 ("TC_OPEN_NO_MMAP", _native.TC_OPEN_NO_MMAP)]
        for name, ours in pairs:
            self.assertEqual(ours, c_int(define(HEADER, name)), name)
        self.assertEqual(define(HEADER, "TC_DIM_VARIABLE"), "UINT64_MAX")
        self.assertEqual(_native.TC_DIM_VARIABLE, F.VARIABLE)
        self.assertEqual(F.VARIABLE, 2 ** 64 - 1)
        self.assertIn("TC_CODEC_NONE = %d, TC_CODEC_LZ4 = %d" % (F.CODEC_NONE, F.CODEC_LZ4),
                      HEADER)
        major, minor = (int(define(HEADER, "TC_VERSION_" + p)) for p in ("MAJOR", "MINOR"))
        self.assertIn((major, minor), _native.KNOWN_VERSIONS,
                      "the header's version is not one _native.KNOWN_VERSIONS knows")

    def test_format_constants(self):
        """The NumPy reader's validation tables against lib/internal.h."""
        pairs = [("TC_HEADER_SIZE", F.HEADER_SIZE), ("TC_FIELD_ENTRY_SIZE", F.FIELD_ENTRY_SIZE),
                 ("TC_DATA_ALIGN", F.DATA_ALIGN), ("TC_INDEX_ALIGN", F.INDEX_ALIGN),
                 ("TC_SAMPLE_ALIGN", F.SAMPLE_ALIGN), ("TC_META_ALIGN", F.META_ALIGN),
                 ("TC_MAX_METADATA", F.MAX_METADATA), ("TC_LZ4_ENTRY_SIZE", F.LZ4_ENTRY_SIZE),
                 ("TC_LZ4_MAX_RAW", F.LZ4_MAX_RAW), ("TC_KIND_FIXED", F.KIND_FIXED),
                 ("TC_KIND_VARIABLE", F.KIND_VARIABLE)]
        for name, ours in pairs:
            self.assertEqual(ours, c_int(define(INTERNAL, name)), name)
        magic = define(INTERNAL, "TC_MAGIC").strip('"')
        self.assertEqual(F.MAGIC, magic.encode().decode("unicode_escape").encode("latin-1"))

    def test_record_layouts(self):
        """_format's struct formats put every header and field-table member at the offset
        lib/internal.h gives it (H_* and F_*, in declaration order)."""
        for fmt, prefix in ((F._HEADER.format, "H_"), (F._FIELD.format, "F_")):
            c = [v for k, v in enum_values(INTERNAL, prefix).items() if k not in ("H_RESERVED_SIZE", "F_RES2_SIZE")]
            self.assertEqual(struct_offsets(fmt), c, "%s offsets vs lib/internal.h" % prefix)


class LibraryAgreement(unittest.TestCase):
    """Python's tables against the library that is actually loaded."""

    @classmethod
    def setUpClass(cls):
        cls.L = _native.lib()
        loader._lib()  # declares (and checks) the loader structs

    def test_struct_sizes(self):
        for cls_ in (_native.tc_error, _native.tc_field_info, _native.tc_view,
                     _native.tc_field_spec, _native.tc_value, loader.tc_order,
                     loader.tc_loader_options, loader.tc_batch_field, loader.tc_batch):
            self.assertEqual(ctypes.sizeof(cls_), self.L.tc_type_size(cls_.__name__.encode()),
                             cls_.__name__)
        self.assertEqual(self.L.tc_type_size(b"tc_nonsense"), 0)

    def test_error_names(self):
        lib_codes = {}
        for code in range(256):
            name = self.L.tc_error_name(code).decode()
            if name != "UNKNOWN":
                lib_codes[name] = code
        self.assertEqual(lib_codes, _errors.ERROR_CODES)

    def test_dtype_table(self):
        lib_table = {}
        for code in range(256):
            name = self.L.tc_dtype_name(code)
            if name is not None:
                lib_table[code] = (name.decode(), self.L.tc_dtype_size(code),
                                   self.L.tc_dtype_numpy(code).decode())
        self.assertEqual(lib_table, {c: (n, s, d.str) for c, (n, s, d) in F.DTYPES.items()})

    def test_check_library_refuses_a_mismatch(self):
        """check_library() itself: a table that disagrees makes it refuse the library."""
        _native.check_library(self.L, self.L.path)
        saved = dict(_errors.ERROR_CODES)
        try:
            _errors.ERROR_CODES["CHECKSUM"] = 99
            with self.assertRaisesRegex(_errors.NativeLibraryError, "error code 20 is CHECKSUM"):
                _native.check_library(self.L, self.L.path)
        finally:
            _errors.ERROR_CODES.clear()
            _errors.ERROR_CODES.update(saved)
        saved_versions = _native.KNOWN_VERSIONS
        try:
            _native.KNOWN_VERSIONS = ((9, 9),)
            with self.assertRaisesRegex(_errors.NativeLibraryError,
                                        r"is version 0\.1\.\d+; .* needs libtensorcache 9\.9\.x"):
                _native.check_library(self.L, self.L.path)
        finally:
            _native.KNOWN_VERSIONS = saved_versions


if __name__ == "__main__":
    unittest.main()
