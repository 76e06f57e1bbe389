"""What closing a cache does to views that are still alive (documented in reader.py and
python/README.md): they stay valid; the mapping goes away with the last of them."""

import gc
import unittest

import numpy as np

import tensorcache

from . import tcfile


def mapped(path):
    with open("/proc/self/maps") as f:
        return any(line.rstrip("\n").endswith(path) for line in f)


class CloseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()
        cls.data = np.arange(50 * 8, dtype=np.float64).reshape(50, 8)
        cls.path = cls.tmp("close.tc")
        with tensorcache.Writer(cls.path) as w:
            w.add_field("x", "f64", (8,))
            w.add_field("v", "u8", (None,))
            w.add_field("z", "f64", (8,), codec="lz4")
            w.append_batch([cls.data, [np.full(k, k, np.uint8) for k in range(50)], cls.data])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_close_without_views_unmaps_at_once(self):
        c = tensorcache.open(self.path)
        self.assertTrue(mapped(self.path))
        np.testing.assert_array_equal(c["x"][3], self.data[3])
        c.close()
        self.assertTrue(c.closed)
        self.assertTrue(c.mapping_released)
        self.assertFalse(mapped(self.path))
        c.close()  # twice is fine

    def test_views_outlive_close(self):
        c = tensorcache.open(self.path)
        whole = c["x"]
        row = c[7]["x"]
        var = c["v"][9]
        field = c.field("x")
        c.close()
        # the cache refuses further access ...
        for access in (lambda: c["x"], lambda: c[0], lambda: c[[0, 1]], lambda: field[0],
                       lambda: field.array, lambda: c.verify(), lambda: c.field("v")[3]):
            with self.assertRaises(ValueError):
                access()
        # ... the views still hold the data (no crash, no garbage) ...
        self.assertFalse(c.mapping_released)
        self.assertTrue(mapped(self.path))
        np.testing.assert_array_equal(whole, self.data)
        np.testing.assert_array_equal(row, self.data[7])
        np.testing.assert_array_equal(var, np.full(9, 9, np.uint8))
        # ... and the mapping goes with the last of them
        del whole, row
        gc.collect()
        self.assertFalse(c.mapping_released)
        del var
        gc.collect()
        self.assertTrue(c.mapping_released)
        self.assertFalse(mapped(self.path))

    def test_context_manager(self):
        with tensorcache.open(self.path) as c:
            z = c["z"][4]   # a decoded copy: unrelated to the mapping
            x = c["x"]
        self.assertTrue(c.closed)
        np.testing.assert_array_equal(z, self.data[4])
        np.testing.assert_array_equal(x, self.data)
        del x
        gc.collect()
        self.assertTrue(c.mapping_released)

    def test_garbage_collected_cache(self):
        c = tensorcache.open(self.path)
        view = c["x"]
        del c
        gc.collect()
        np.testing.assert_array_equal(view, self.data)
        self.assertTrue(mapped(self.path))
        del view
        gc.collect()
        self.assertFalse(mapped(self.path))


if __name__ == "__main__":
    unittest.main()
