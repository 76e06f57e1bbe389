"""Output safety in Python (docs/CLI.md, "Output files"): the same policy as the CLI, through the
library's tc_writer_create_ex. Table-driven like tests/e2e/output_rules.sh: what is at the path
beforehand, whether overwrite=True, the expected error code (None: success), what must hold after.
"""

import os
import socket
import threading
import unittest

import numpy as np

import tensorcache
from tensorcache import _errors

from . import tcfile

SAMPLES = [{"x": np.arange(4, dtype=np.int32) + i} for i in range(6)]


def fingerprint(p):
    """Type, link target and content of what is at p (through a link too)."""
    parts = []
    if os.path.islink(p):
        parts.append(("link", os.readlink(p)))
    try:
        st = os.stat(p)
        parts.append((st.st_mode >> 12, st.st_ino))
        if os.path.isfile(p):
            with open(p, "rb") as f:
                parts.append(f.read())
    except FileNotFoundError:
        parts.append("absent")
    return parts


def setup(kind, d):
    """Prepares the output path of one case; returns (path, inputs)."""
    out, src = os.path.join(d, "out"), os.path.join(d, "in.bin")
    with open(src, "wb") as f:
        f.write(b"input bytes")
    if kind == "regular":
        with open(out, "wb") as f:
            f.write(b"precious")
    elif kind == "symlink":
        with open(os.path.join(d, "target"), "wb") as f:
            f.write(b"precious")
        os.symlink("target", out)
    elif kind == "input":
        out = src
    elif kind == "hardlink":
        os.link(src, out)
    elif kind == "link_input":
        os.symlink("in.bin", out)
    elif kind == "directory":
        os.mkdir(out)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(out)
        s.close()
    return out, [src]


# kind, overwrite, expected code, afterwards
RULES = [
    ("absent", False, None, "new"),
    ("regular", False, "EXISTS", "unchanged"),
    ("regular", True, None, "new"),
    ("symlink", False, "EXISTS", "unchanged"),
    ("symlink", True, None, "link_replaced"),
    ("input", False, "SAME_FILE", "unchanged"),
    ("input", True, "SAME_FILE", "unchanged"),
    ("hardlink", True, "SAME_FILE", "unchanged"),
    ("link_input", True, "SAME_FILE", "unchanged"),
    ("directory", True, "NOT_REGULAR", "unchanged"),
    ("socket", True, "NOT_REGULAR", "unchanged"),
]


class OutputRulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()
        ref = cls.tmp("ref.tc")
        tensorcache.pack(ref, SAMPLES, progress=False)
        with open(ref, "rb") as f:
            cls.ref = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_rules_table(self):
        for n, (kind, overwrite, code, after) in enumerate(RULES):
            with self.subTest(kind=kind, overwrite=overwrite):
                d = self.tmp("case%d" % n)
                os.mkdir(d)
                out, inputs = setup(kind, d)
                before, in_before = fingerprint(out), fingerprint(inputs[0])
                target_before = fingerprint(os.path.join(d, "target"))
                if code is None:
                    tensorcache.pack(out, SAMPLES, progress=False, overwrite=overwrite,
                                     inputs=inputs)
                else:
                    with self.assertRaises(tensorcache.Error) as cm:
                        tensorcache.pack(out, SAMPLES, progress=False, overwrite=overwrite,
                                         inputs=inputs)
                    self.assertEqual(cm.exception.code, code)
                    self.assertEqual(cm.exception.number, _errors.ERROR_CODES[code])
                    self.assertIsInstance(cm.exception, OSError)
                    if code == "EXISTS":
                        self.assertIsInstance(cm.exception, FileExistsError)
                self.assertEqual(fingerprint(inputs[0]), in_before)
                if after == "unchanged":
                    self.assertEqual(fingerprint(out), before)
                else:
                    self.assertFalse(os.path.islink(out))
                    with open(out, "rb") as f:
                        self.assertEqual(f.read(), self.ref)
                if after == "link_replaced":
                    self.assertEqual(fingerprint(os.path.join(d, "target")), target_before)
                self.assertEqual([e for e in os.listdir(d) if "tctmp" in e], [])

    def test_fifo_is_streamed_into(self):
        p = self.tmp("fifo")
        os.mkfifo(p)
        got = []

        def read_fifo():
            with open(p, "rb") as f:
                got.append(f.read())

        t = threading.Thread(target=read_fifo)
        t.start()
        tensorcache.pack(p, SAMPLES, progress=False)
        t.join(30)
        self.assertTrue(os.path.exists(p) and not os.path.isfile(p))  # still the FIFO
        self.assertEqual(got, [self.ref])

    def test_repacking_an_open_cache_onto_itself_is_refused(self):
        p = self.tmp("self.tc")
        tensorcache.pack(p, SAMPLES, progress=False)
        with open(p, "rb") as f:
            old = f.read()
        with tensorcache.open(p) as c:
            with self.assertRaises(tensorcache.OutputRefusedError) as cm:
                tensorcache.pack(p, c, progress=False, overwrite=True)
            self.assertEqual(cm.exception.code, "SAME_FILE")
        with open(p, "rb") as f:
            self.assertEqual(f.read(), old)

    def test_memmap_input_is_protected(self):
        p = self.tmp("mm.npy")
        np.save(p, np.arange(24, dtype=np.int32).reshape(6, 4))
        with open(p, "rb") as f:
            old = f.read()
        mm = np.load(p, mmap_mode="r")
        with self.assertRaises(tensorcache.OutputRefusedError) as cm:
            tensorcache.pack_batches(p, [{"x": mm[0:3]}, {"x": mm[3:6]}], progress=False,
                                     overwrite=True)
        self.assertEqual(cm.exception.code, "SAME_FILE")
        del mm
        with open(p, "rb") as f:
            self.assertEqual(f.read(), old)

    def test_error_codes_match_the_library(self):
        from tensorcache import _native
        L = _native.lib()
        for name, num in _errors.ERROR_CODES.items():
            self.assertEqual(L.tc_error_name(num).decode(), name)


if __name__ == "__main__":
    unittest.main()
