"""Zero copy, proven: views share memory with the file's mapping, and touching a whole field does
not grow the process's private memory by the field's size (while a real copy does)."""

import gc
import mmap
import unittest

import numpy as np

import tensorcache

from . import tcfile

FIELD_MB = 40


def mapping_of(view):
    """Follows the .base chain of a NumPy view to the object that owns the memory."""
    obj = view
    while True:
        if isinstance(obj, np.ndarray):
            if obj.base is None:
                return obj
            obj = obj.base
        elif isinstance(obj, memoryview):
            obj = obj.obj
        else:
            return obj


def smaps():
    return tcfile.private_memory_kib()


class ZeroCopyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()
        cls.path = cls.tmp("big.tc")
        n = FIELD_MB * 1024 * 1024 // 4096
        cls.n = n
        rng = np.random.default_rng(0)
        with tensorcache.Writer(cls.path) as w:
            w.add_field("x", "u8", (64, 64))
            w.add_field("y", "i32", ())
            for s in range(0, n, 2048):
                k = min(2048, n - s)
                w.append_batch([rng.integers(0, 256, (k, 64, 64), dtype=np.uint8),
                                np.arange(s, s + k, dtype=np.int32)])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_views_share_the_mapping(self):
        with tensorcache.open(self.path) as c:
            whole = c["x"]
            one = c[17]["x"]
            rng_view = c[100:200]["x"]
            mm = mapping_of(whole)
            self.assertIsInstance(mm, mmap.mmap)
            self.assertIs(mapping_of(one), mm)
            self.assertIs(mapping_of(rng_view), mm)
            base = np.frombuffer(mm, np.uint8)
            self.assertTrue(np.shares_memory(whole, base))
            self.assertTrue(np.shares_memory(one, whole))
            f = c.field("x")
            addr0 = base.ctypes.data
            self.assertEqual(whole.ctypes.data - addr0, f.data_offset)
            self.assertEqual(one.ctypes.data - addr0, f.data_offset + 17 * f.stride)
            self.assertEqual(rng_view.ctypes.data - addr0, f.data_offset + 100 * f.stride)
            # a gather is a new array, by design
            self.assertFalse(np.shares_memory(c[[1, 2]]["x"], base))
            del base, whole, one, rng_view, mm

    def test_touching_a_field_costs_no_private_memory(self):
        field_kib = FIELD_MB * 1024
        with tensorcache.open(self.path) as c:
            a = c["x"]
            before = smaps()
            self.assertEqual(int(a.max()), 255)  # reads every byte: every page is faulted in
            self.assertGreater(int(a[:, 0, 0].astype(np.int64).sum()), 0)
            after = smaps()
            grown_rss = after["Rss"] - before["Rss"]
            grown_private = after["Private_Dirty"] - before["Private_Dirty"]
            grown_anon = after.get("Anonymous", 0) - before.get("Anonymous", 0)
            # the pages were really touched ...
            self.assertGreater(grown_rss, field_kib * 0.8, (before, after))
            # ... and none of them is a private copy
            self.assertLess(grown_private, field_kib * 0.1, (before, after))
            self.assertLess(grown_anon, field_kib * 0.1, (before, after))
            # control: the measurement does see a real copy
            before = smaps()
            copy = np.array(a)
            after = smaps()
            self.assertGreater(after["Private_Dirty"] - before["Private_Dirty"], field_kib * 0.8)
            del copy, a
            gc.collect()

    def test_copy_on_write_mapping(self):
        """copy_on_write=True: writable views, still no copy when reading, and a write changes
        only this process's page, never the file."""
        field_kib = FIELD_MB * 1024
        with open(self.path, "rb") as fh:
            original = fh.read()
        with tensorcache.open(self.path, copy_on_write=True) as c:
            a = c["x"]
            self.assertTrue(a.flags.writeable)
            before = smaps()
            self.assertEqual(int(a.max()), 255)
            after = smaps()
            self.assertLess(after["Private_Dirty"] - before["Private_Dirty"], field_kib * 0.1)
            a[5] = 0
            self.assertEqual(int(a[5].max()), 0)
            after2 = smaps()
            grown = after2["Private_Dirty"] - after["Private_Dirty"]
            self.assertGreaterEqual(grown, 4)          # the written page became private ...
            self.assertLess(grown, 64)                  # ... and only that page
            del a
        with open(self.path, "rb") as fh:
            self.assertEqual(fh.read(), original)      # the file never changed
        with tensorcache.open(self.path, verify=True) as c:
            self.assertGreater(int(c["x"][5].max()), 0)


if __name__ == "__main__":
    unittest.main()
