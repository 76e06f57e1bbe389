"""The batch source shared by tf_data, keras_data and jax_data (tensorcache._batching): its
shuffle order is exactly the C engine's (tc_shuffle_index), its batches are tensorcache.Loader's
byte for byte, and a corrupt LZ4 block met while iterating raises FormatError naming the field
and the samples."""

import unittest

import numpy as np

import tensorcache
from tensorcache import _batching

from . import fwdata


class BatchingTest(fwdata.CacheTest):
    def test_order_is_the_engines(self):
        for n in (1, 2, 3, 10, 50, 1000, 4097):
            for seed, epoch in ((42, 1), (0, 0), ((1 << 63) - 5, 7)):
                want = [tensorcache.shuffle_index(i, n, seed, epoch) for i in range(n)]
                self.assertEqual(_batching.engine_order(n, seed, epoch).tolist(), want)
        self.assertEqual(_batching.engine_order(10, 42, 1).tolist(),
                         [6, 1, 4, 7, 0, 5, 3, 8, 2, 9])  # the header's example

    def test_same_batches_as_the_engine(self):
        for variable in ("padded", "ragged"):
            b = _batching.Batcher(self.path, ["x", "y", "h", "v"], 16, shuffle=True, seed=9,
                                  variable=variable)
            loader = tensorcache.Loader(self.path, ["x", "y", "h", "v"], batch_size=16,
                                        shuffle=True, seed=9)
            for epoch in (0, 1):
                fwdata.check_epoch(self, b.order(epoch))
                loader.set_epoch(epoch)
                got_all = list(b.epoch(epoch))
                self.assertEqual(len(got_all), len(b))
                for got, want in zip(got_all, loader):
                    for name in ("x", "y", "h"):
                        self.assertEqual(got[name].tobytes(), want[name].tobytes())
                        self.assertEqual(got[name].ctypes.data % 64, 0)
                    if variable == "ragged":
                        self.assertEqual([a.tolist() for a in got["v"]],
                                         [a.tolist() for a in want["v"]])
                    else:
                        for row, a in zip(got["v"], want["v"]):
                            self.assertEqual(row[:len(a)].tolist(), a.tolist())
                            self.assertFalse(row[len(a):].any())
            loader.close()

    def test_corrupt_block_names_field_and_samples(self):
        p = self.tmp("lz4.tc")
        x = (np.arange(400 * 64) % 7).astype(np.uint8).reshape(400, 64)
        with tensorcache.Writer(p) as w:
            w.add_field("z", "u8", (64,), codec="lz4", block_bytes=64 * 100)
            w.append_batch([x])
        with tensorcache.open(p) as c:
            f = c.field("z")
            rows = f._index_rows()
            at, size = f.data_offset + int(rows[2][0]), int(rows[2][1])  # block 2: 200..299
        with open(p, "r+b") as fh:   # every byte of the block: it cannot decode to 6400 bytes
            fh.seek(at)
            fh.write(b"\xff" * size)
        b = _batching.Batcher(p, ["z"], 50)
        with self.assertRaises(tensorcache.FormatError) as cm:
            for _ in b.epoch(0):
                pass
        self.assertEqual(cm.exception.code, "CORRUPT_BLOCK")
        self.assertIn("'z'", str(cm.exception))
        self.assertIn("200", str(cm.exception))
        with self.assertRaises(tensorcache.FormatError) as cm:
            b.gather(np.arange(200, 250))
        self.assertEqual(cm.exception.code, "CORRUPT_BLOCK")


if __name__ == "__main__":
    unittest.main()
