"""pack()/pack_torch() with the writer in a thread of its own and (pack_torch) whole batches
stacked in DataLoader workers: the same samples as the plain path, errors named by sample, no
output file after a failure, and sources that reuse their buffers still packed correctly."""

import os
import tempfile
import unittest

import numpy as np
import torch
import torch.utils.data as tud

import tensorcache
from tensorcache import SampleMismatchError


class Images(tud.Dataset):
    """(C, H, W) float images, int labels, variable-length token lists; optionally one sample
    with a different dtype or a different structure."""

    def __init__(self, n, bad_dtype_at=None, bad_keys_at=None):
        self.n, self.bad_dtype_at, self.bad_keys_at = n, bad_dtype_at, bad_keys_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        img = torch.rand(3, 4, 5, generator=g)
        if i == self.bad_dtype_at:
            img = img.double()
        s = {"image": img, "label": i * 7, "tokens": torch.arange(i % 5, dtype=torch.int32) + i}
        if i == self.bad_keys_at:
            del s["label"]
        return s


def _expected(i):
    g = torch.Generator().manual_seed(i)
    img = torch.rand(3, 4, 5, generator=g).numpy().transpose(1, 2, 0)
    return img, i * 7, np.arange(i % 5, dtype=np.int32) + i


class PackOverlapTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, path, n):
        with tensorcache.open(path) as c:
            self.assertEqual(len(c), n)
            for i in range(n):
                img, label, tokens = _expected(i)
                np.testing.assert_array_equal(c["image"][i], img)
                self.assertEqual(int(c["label"][i]), label)
                np.testing.assert_array_equal(c.field("tokens").sample(i), tokens)

    def test_workers_equal_plain(self):
        for workers in (0, 2):
            for batch_size in (1, 7, 64):
                path = os.path.join(self.tmp.name, "w%d-b%d.tc" % (workers, batch_size))
                s = tensorcache.pack_torch(Images(53), path, num_workers=workers,
                                           batch_size=batch_size, variable=("tokens",),
                                           layout={"image": "NCHW->NHWC"}, progress=False)
                self.assertEqual(s.num_samples, 53)
                self.check(path, 53)

    def test_worker_errors_name_the_sample(self):
        for kw, where in (({"bad_dtype_at": 30}, "30"), ({"bad_keys_at": 9}, "9")):
            path = os.path.join(self.tmp.name, "bad.tc")
            with self.assertRaises(SampleMismatchError) as cm:
                tensorcache.pack_torch(Images(40, **kw), path, num_workers=2, batch_size=8,
                                       variable=("tokens",), progress=False)
            self.assertIn(where, str(cm.exception))
            self.assertFalse(os.path.exists(path))

    def test_pack_source_reusing_its_buffers(self):
        """The writer thread writes batch k while batch k+1 is converted: samples are copied
        into the packer's own buffers first, so a source that reuses one array is safe."""
        buf = np.zeros((6,), np.float32)
        var = np.zeros((9,), np.int16)

        def samples():
            for i in range(300):
                buf[:] = i
                var[:] = -i
                yield {"x": buf, "v": var[: i % 9]}
        path = os.path.join(self.tmp.name, "reuse.tc")
        tensorcache.pack(path, samples(), variable=("v",), batch_size=16, progress=False)
        with tensorcache.open(path) as c:
            for i in range(300):
                np.testing.assert_array_equal(c["x"][i], np.full(6, i, np.float32))
                np.testing.assert_array_equal(c.field("v").sample(i),
                                              np.full(i % 9, -i, np.int16))

    def test_pack_batches_reusing_its_buffer(self):
        buf = np.zeros((10, 3), np.uint8)

        def batches():
            for k in range(20):
                buf[:] = k
                yield {"x": buf}
        path = os.path.join(self.tmp.name, "reuse-b.tc")
        tensorcache.pack_batches(path, batches(), progress=False)
        with tensorcache.open(path) as c:
            np.testing.assert_array_equal(c["x"][:, 0], np.repeat(np.arange(20), 10))

    def test_source_failure_leaves_no_file(self):
        def samples():
            for i in range(100):
                if i == 70:
                    raise RuntimeError("source broke")
                yield {"x": np.full(4, i, np.int64)}
        path = os.path.join(self.tmp.name, "broken.tc")
        with self.assertRaises(RuntimeError):
            tensorcache.pack(path, samples(), batch_size=8, progress=False)
        self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()
