"""PyTorch: pack_torch round trips bit-exact on Fashion-MNIST (NCHW -> NHWC included), and the
Dataset adapter is zero-copy, warning-free and exact through a DataLoader with 2 workers."""

import gzip
import os
import pickle
import struct
import unittest
import warnings

import numpy as np

try:
    import torch
    import torch.utils.data as tud
    from tensorcache.torch_data import CacheDataset, to_tensor
except ImportError as e:  # pragma: no cover - python3-torch is a project dependency
    torch = None
    _why = str(e)

import tensorcache

from . import tcfile

FMNIST = "/usr/share/datasets/fashion-mnist"


def load_idx(path):
    """An IDX file (gzipped) as a writable ndarray: gzip + NumPy, nothing else."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


if torch is not None:
    class FashionMNIST(tud.Dataset):
        """What a torchvision-style dataset yields: (C, H, W) image tensors and int labels."""

        def __init__(self, split, as_float=False, with_index=False):
            self.images = load_idx(os.path.join(FMNIST, "%s-images-idx3-ubyte.gz" % split))
            self.labels = load_idx(os.path.join(FMNIST, "%s-labels-idx1-ubyte.gz" % split))
            self.as_float = as_float
            self.with_index = with_index

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            img = torch.from_numpy(self.images[i]).unsqueeze(0)  # NCHW sample: (1, 28, 28)
            if self.as_float:
                img = img.float() / 255
            if self.with_index:
                return {"image": img, "label": int(self.labels[i]), "index": i}
            return img, int(self.labels[i])


def private_dirty_kib():
    return tcfile.private_memory_kib()["Private_Dirty"]


_WORKER_BASE = {}


def worker_baseline(worker_id):
    """worker_init_fn: the worker's private memory before it reads anything."""
    _WORKER_BASE["kib"] = private_dirty_kib()


def worker_memory(batch):
    """batch_transform run inside the DataLoader worker: reports how much its private memory
    grew since worker_baseline()."""
    info = tud.get_worker_info()
    wid = info.id if info is not None else -1
    return batch + (torch.tensor([wid, private_dirty_kib() - _WORKER_BASE.get("kib", 0)]),)


@unittest.skipIf(torch is None, "torch is not importable")
@unittest.skipUnless(os.path.exists(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")),
                     "Fashion-MNIST is not installed at %s (Debian: dataset-fashion-mnist)"
                     % FMNIST)

class _FailingDataset(tud.Dataset if torch is not None else object):
    """Raises a tensorcache error for every item (as a damaged cache would)."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        raise tensorcache.FormatError("CHECKSUM", "field 'x': block 2 (samples 6..) checksum "
                                      "mismatch")

class TorchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()
        cls.train = FashionMNIST("train")
        cls.train_path = cls.tmp("fmnist-train.tc")
        # a map-style Dataset of NCHW uint8 tensors, stored NHWC
        cls.summary = tensorcache.pack_torch(cls.train, cls.train_path,
                                             field_names=("image", "label"),
                                             layout={"image": "NCHW->NHWC"},
                                             metadata={"source": {"image": "train-images"}},
                                             batch_size=1000, progress=False)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_pack_torch_dataset_bit_exact(self):
        self.assertEqual(self.summary.num_samples, 60000)
        with tensorcache.open(self.train_path, verify=True) as c:
            img = c["image"]
            self.assertEqual(img.shape, (60000, 28, 28, 1))
            self.assertEqual(img.dtype, np.uint8)
            self.assertEqual(img.tobytes(), self.train.images.tobytes())
            np.testing.assert_array_equal(c["label"], self.train.labels)
            self.assertEqual(c.field("image").layout, "NHWC")
            self.assertEqual(c.metadata["conversions"], {"image": "NCHW->NHWC"})
            self.assertEqual(c.metadata["source"], {"image": "train-images"})

    def test_pack_torch_dataloader_float_nchw_to_nhwc(self):
        """float32 NCHW batches from a DataLoader arrive NHWC, bit for bit."""
        test = FashionMNIST("t10k", as_float=True)
        loader = tud.DataLoader(test, batch_size=512, shuffle=False)
        p = self.tmp("fmnist-test-f32.tc")
        s = tensorcache.pack_torch(loader, p, field_names=("image", "label"),
                                   layout={"image": "NCHW->NHWC"}, progress=False)
        self.assertEqual(s.num_samples, 10000)
        want = (torch.from_numpy(test.images).float() / 255).numpy()[..., None]
        with tensorcache.open(p, verify=True) as c:
            self.assertEqual(c["image"].shape, (10000, 28, 28, 1))
            self.assertEqual(c["image"].dtype, np.float32)
            self.assertEqual(c["image"].tobytes(), want.tobytes())
            np.testing.assert_array_equal(c["label"], test.labels)

    def test_pack_torch_with_workers(self):
        test = FashionMNIST("t10k")
        p = self.tmp("fmnist-test-workers.tc")
        tensorcache.pack_torch(test, p, field_names=("image", "label"),
                               layout={"image": "NCHW->NHWC"}, num_workers=2, batch_size=700,
                               progress=False)
        with tensorcache.open(p, verify=True) as c:
            self.assertEqual(c["image"].tobytes(), test.images.tobytes())
            np.testing.assert_array_equal(c["label"], test.labels)

    def test_worker_error_keeps_its_type(self):
        # A tensorcache error raised in a DataLoader worker reaches the caller with its class
        # and code (PyTorch re-raises it as exc_type(text), which the error class accepts).
        loader = tud.DataLoader(_FailingDataset(), batch_size=2, num_workers=1)
        with self.assertRaises(tensorcache.FormatError) as cm:
            next(iter(loader))
        self.assertEqual(cm.exception.code, "CHECKSUM")
        self.assertIn("block 2 (samples 6..) checksum mismatch", str(cm.exception))
        e = tensorcache.TCIOError("Caught TCIOError.\ntensorcache._errors.TCIOError: NO_SPACE: x")
        self.assertEqual((e.code, type(e)), ("NO_SPACE", tensorcache.TCIOError))

    def test_dataset_zero_copy_no_warning(self):
        ds = CacheDataset(self.train_path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img, label = ds[123]
            batch_img, batch_lab = ds[[5, 7, 9]]
        self.assertEqual([str(w.message) for w in caught], [])
        self.assertEqual((img.shape, img.dtype), ((28, 28, 1), torch.uint8))
        self.assertEqual(label.dtype, torch.int64)
        self.assertEqual(int(label), int(self.train.labels[123]))
        np.testing.assert_array_equal(img.numpy()[..., 0], self.train.images[123])
        # the tensor's memory IS the mapping: same address as the reader's view
        view = ds.cache["image"][123]
        self.assertEqual(img.data_ptr(), view.ctypes.data)
        self.assertEqual(batch_img.shape, (3, 28, 28, 1))
        np.testing.assert_array_equal(batch_lab.numpy(), self.train.labels[[5, 7, 9]])
        # writing to a tensor touches only this process's copy of that page, never the file
        img.zero_()
        self.assertEqual(int(ds[123][0].sum()), 0)
        tensorcache.verify(self.train_path)
        with tensorcache.open(self.train_path) as c:
            np.testing.assert_array_equal(c["image"][123][..., 0], self.train.images[123])

    def test_dataset_pickles_as_path(self):
        ds = CacheDataset(self.train_path, fields=["label"], as_dict=True)
        ds[0]
        blob = pickle.dumps(ds)
        self.assertLess(len(blob), 1024)
        ds2 = pickle.loads(blob)
        self.assertEqual(int(ds2[59999]["label"]), int(self.train.labels[59999]))

    def test_dataloader_two_workers_exact(self):
        ds = CacheDataset(self.train_path)
        loader = tud.DataLoader(ds, batch_size=1000, shuffle=False, num_workers=2)
        imgs, labs = [], []
        for img, lab in loader:
            imgs.append(img.numpy())
            labs.append(lab.numpy())
        got = np.concatenate(imgs)
        self.assertEqual(got.shape, (60000, 28, 28, 1))
        self.assertEqual(got.tobytes(), self.train.images.tobytes())
        np.testing.assert_array_equal(np.concatenate(labs), self.train.labels)

    def test_batch_loader_two_workers_shuffled(self):
        test = FashionMNIST("t10k", with_index=True)
        p = self.tmp("fmnist-test-index.tc")
        tensorcache.pack_torch(test, p, layout={"image": "NCHW->NHWC"}, progress=False)
        ds = CacheDataset(p, as_dict=True)
        g = torch.Generator().manual_seed(0)
        seen = []
        for batch in ds.loader(batch_size=512, shuffle=True, num_workers=2, generator=g):
            idx = batch["index"].numpy()
            seen.append(idx)
            self.assertEqual(batch["image"].numpy().tobytes(),
                             test.images[idx][..., None].tobytes())
            np.testing.assert_array_equal(batch["label"].numpy(), test.labels[idx])
        order = np.concatenate(seen)
        self.assertEqual(sorted(order.tolist()), list(range(10000)))  # every sample once
        self.assertNotEqual(order.tolist(), list(range(10000)))       # and shuffled

    def test_index_batch_sampler_matches_torch_batching(self):
        from tensorcache.torch_data import IndexBatchSampler
        for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (0, 4, False), (5, 8, True)]:
            ours = [b.tolist() for b in IndexBatchSampler(n, bs, drop_last=drop)]
            ref = list(tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop))
            self.assertEqual(ours, ref, (n, bs, drop))
            self.assertEqual(len(IndexBatchSampler(n, bs, drop_last=drop)), len(ref))
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        shuffled = np.concatenate(list(IndexBatchSampler(100, 7, shuffle=True, generator=g1)))
        self.assertEqual(shuffled.tolist(), torch.randperm(100, generator=g2).tolist())

    def test_workers_do_not_copy_the_data(self):
        """Each worker reads half of a 47 MB field; its private memory does not grow by that."""
        ds = CacheDataset(self.train_path, batch_transform=worker_memory)
        grown = {}
        for img, lab, mem in ds.loader(batch_size=1000, num_workers=2,
                                       worker_init_fn=worker_baseline):
            grown[int(mem[0])] = int(mem[1])
        self.assertEqual(sorted(grown), [0, 1])
        half_field_kib = 60000 * 784 // 1024 // 2
        for wid, kib in grown.items():
            # a worker holding a copy of its half grows by >= 23 MB (one of the whole field: 47 MB);
            # measured here: ~5 MB of interpreter pages touched after fork
            self.assertLess(kib, half_field_kib // 2, "worker %d grew by %d KiB" % (wid, kib))

    def test_native_dtypes_zero_copy_no_warning(self):
        p = self.tmp("dtypes.tc")
        bits = np.array([0x3F80, 0x4040], np.uint16)  # bf16 1.0 and 3.0
        with tensorcache.Writer(p) as w:
            w.add_field("h", "bf16", ())
            w.add_field("u", "u16", (2,))
            w.add_field("q", "u32", ())
            w.add_field("z", "u64", ())
            w.append_batch([bits.view("V2"), np.array([[1, 65535], [2, 3]], np.uint16),
                            np.array([7, 4294967295], np.uint32),
                            np.array([1, (1 << 64) - 1], np.uint64)])
        ds = CacheDataset(p)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a "non-writable tensor" warning fails the test
            h, u, q, z = ds[1]
            hb, ub, qb, zb = ds[[0, 1]]
        self.assertEqual(h.dtype, torch.bfloat16)
        self.assertEqual(float(h), 3.0)
        self.assertEqual((u.dtype, u.tolist()), (torch.uint16, [2, 3]))
        self.assertEqual((q.dtype, int(q)), (torch.uint32, 4294967295))
        self.assertEqual(z.dtype, torch.uint64)
        self.assertEqual(z.view(torch.int64).item(), -1)  # all 64 bits kept
        # zero copy: the tensor's memory is the mapped sample's
        self.assertEqual(u.data_ptr(), ds.cache.field("u").sample(1).ctypes.data)
        self.assertEqual(hb.tolist(), [1.0, 3.0])
        self.assertEqual(ub.tolist(), [[1, 65535], [2, 3]])
        self.assertEqual((qb.dtype, zb.dtype), (torch.uint32, torch.uint64))
        # and back: a bf16 tensor packs as bf16
        p2 = self.tmp("bf16-back.tc")
        tensorcache.pack(p2, [{"h": torch.tensor([1.0, 3.0], dtype=torch.bfloat16)}],
                         progress=False)
        with tensorcache.open(p2) as c:
            self.assertEqual(c.field("h").dtype_name, "bf16")
            np.testing.assert_array_equal(c["h"][0].view("<u2"), bits)
        self.assertEqual(to_tensor(np.array(5, np.uint8)).item(), 5)
        self.assertEqual(to_tensor(np.array([1 << 63], np.uint64)).dtype, torch.uint64)


if __name__ == "__main__":
    unittest.main()
