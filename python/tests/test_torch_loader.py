"""tensorcache.torch_data.TorchLoader: tensors from the C engine, in the order of the engine's
shuffle or of any torch Sampler / BatchSampler (DistributedSampler included), exact resume."""

import os
import tempfile
import unittest
import warnings

import numpy as np
import torch
import torch.utils.data as tud

import tensorcache
from tensorcache.torch_data import CacheDataset, TorchLoader

N = 97


class TorchLoaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.tmp.name, "t.tc")
        rng = np.random.default_rng(3)
        cls.x = rng.random((N, 3, 2), dtype=np.float32)
        cls.y = np.arange(N, dtype=np.int64)
        cls.u16 = (np.arange(N, dtype=np.uint16) * 600)
        tensorcache.pack_batches(cls.path, [{"x": cls.x, "y": cls.y, "u16": cls.u16}])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def epoch(self, loader):
        order = []
        for x, y, u in loader:
            self.assertIsInstance(x, torch.Tensor)
            self.assertEqual(x.dtype, torch.float32)
            self.assertEqual(u.dtype, torch.uint16)  # native, as to_tensor gives it
            idx = y.numpy()
            np.testing.assert_array_equal(x.numpy(), self.x[idx])
            np.testing.assert_array_equal(u.numpy(), self.u16[idx])
            order += [int(i) for i in idx]
        return order

    def test_engine_shuffle(self):
        with TorchLoader(self.path, batch_size=10, shuffle=True, seed=4) as ld:
            order = self.epoch(ld)
            self.assertEqual(sorted(order), list(range(N)))
            self.assertEqual(order, [tensorcache.shuffle_index(p, N, 4, 0) for p in range(N)])
            self.assertEqual(len(ld), 10)

    def test_distributed_sampler(self):
        seen = []
        for rank in (0, 1):
            s = tud.DistributedSampler(range(N), num_replicas=2, rank=rank, shuffle=True, seed=1)
            with TorchLoader(self.path, batch_size=8, sampler=s) as ld:
                for epoch in (0, 1):
                    ld.set_epoch(epoch)
                    got = self.epoch(ld)
                    self.assertEqual(got, list(iter(s)))  # exactly the sampler's order
                    if epoch == 0:
                        seen += got
                self.assertEqual(len(ld), -(-len(s) // 8))
        self.assertEqual(sorted(set(seen)), list(range(N)))  # the two ranks cover every sample

    def test_batch_sampler(self):
        bs = tud.BatchSampler(tud.SequentialSampler(range(N)), batch_size=12, drop_last=False)
        with TorchLoader(self.path, batch_sampler=bs) as ld:
            sizes = [len(y) for _, y, _ in ld]
            self.assertEqual(sizes, [len(b) for b in bs])
            self.assertEqual(self.epoch(ld), list(range(N)))

        class Uneven(tud.Sampler):
            def __iter__(self):
                return iter([[1, 2], [3], [4, 5]])

            def __len__(self):
                return 3
        with self.assertRaises(ValueError):
            TorchLoader(self.path, batch_sampler=Uneven())

    def test_resume_with_sampler(self):
        s = tud.DistributedSampler(range(N), num_replicas=2, rank=1, shuffle=True, seed=9)
        s.set_epoch(3)
        want = list(iter(s))
        ld = TorchLoader(self.path, batch_size=5, sampler=s)
        ld.set_epoch(3)
        it = iter(ld)
        got = []
        for _ in range(4):
            got += [int(i) for i in next(it)[1]]
        state = ld.state_dict()
        ld.close()
        again = TorchLoader(self.path, batch_size=5, sampler=s)
        again.load_state_dict(state)
        got += self.epoch(again)
        self.assertEqual(got, want)
        again.close()

    def test_dataset_source_dict_copy_and_pin(self):
        ds = CacheDataset(self.path, fields=("y", "x"), as_dict=True)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            ld = TorchLoader(ds, batch_size=16, copy=True, pin_memory=True)
        held = list(ld)  # owned tensors survive the ring's reuse
        ys = torch.cat([b["y"] for b in held]).numpy()
        self.assertEqual(list(ys), list(range(N)))
        np.testing.assert_array_equal(torch.cat([b["x"] for b in held]).numpy(), self.x)
        ld.close()
        with ds.engine_loader(batch_size=30, shuffle=True, seed=2) as eng:
            ys = [int(i) for b in eng for i in b["y"]]
        self.assertEqual(ys, [tensorcache.shuffle_index(p, N, 2, 0) for p in range(N)])
        # the dataset itself is still a DataLoader dataset
        batch = next(iter(tud.DataLoader(ds, batch_size=4)))
        self.assertEqual(list(batch["y"].numpy()), [0, 1, 2, 3])

    def test_shares_ring_without_copy(self):
        with TorchLoader(self.path, fields=("x",), batch_size=4, prefetch=2,
                         num_threads=1) as ld:
            ptrs = {x.data_ptr() for (x,) in ld}
        self.assertEqual(len(ptrs), 2)


if __name__ == "__main__":
    unittest.main()
