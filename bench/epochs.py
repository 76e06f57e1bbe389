#!/usr/bin/env python3
"""epochs.py - the epoch table of `make bench`: tensorcache and its peers, each writing the same
data with its own writer and reading it with its own loader, beside the hardware limits
(bench/README.md, "Epoch table").

    epochs.py --dir DIR --out RAW.csv --build BUILD [--quick] [--repeats R]
              [--bench-python PY] [--only-peers a,b]            (the driver)
    epochs.py --child PEER --dataset NAME --phase write|read --dir DIR [--quick] ...
                                                                 (one peer, one process)

Every peer runs in its own process (its own interpreter: the project venv, or the bench venv
for the peers that conflict with it), once to write and once to read, so that peak RSS
(resource.getrusage in that process; its DataLoader workers, if any, as RUSAGE_CHILDREN) belongs
to that peer alone. The child prints one JSON line; the driver turns it into records:
    m,ep.MEASURE,DATASET,PEER,REPEAT,VALUE,UNIT    s,ep,DATASET,REASON    i,KEY,VALUE
Cold epochs: the peer's files are evicted with posix_fadvise(POSIX_FADV_DONTNEED) right before
the loader is made; the child checks with mincore that under 1% of their pages are resident
(the table shows the fraction) and counts what the kernel read from storage for it through
/proc/self/io read_bytes (which includes DataLoader workers once they are joined at the end of
the epoch: the kernel adds a reaped child's I/O to its parent's): read amplification = bytes read from storage / bytes delivered.
"""

import argparse
import gc
import gzip
import json
import mmap
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

SELF = os.path.abspath(__file__)
HERE = os.path.dirname(SELF)
ROOT = os.path.dirname(HERE)
BATCH = 256
CHUNK = 1024        # samples per chunk the writers receive from the source
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
# Repeats of an epoch stop once they have taken this long (at least one runs; the table says
# how many each median has): keeps `make bench` within its time on slow peers.
EPOCH_BUDGET_S = 10.0
# The num_workers choice is made on the first TRIAL_SAMPLES of a hot shuffled epoch.
TRIAL_SAMPLES = 4096


# ---- the datasets: the same bytes for every peer, streamed in chunks ---------------------------
def dataset_spec(name, quick):
    if name == "fmnist":
        return {"name": name, "n": 10000 if quick else 60000, "shape": (28, 28, 1)}
    return {"name": name, "n": 512 if quick else 20000, "shape": (224, 224, 3)}


def sample_bytes(spec):
    return int(np.prod(spec["shape"]))


def _fmnist_arrays():
    def idx(name, hdr):
        with gzip.open(os.path.join(FMNIST_DIR, name), "rb") as fh:
            return np.frombuffer(fh.read(), np.uint8, offset=hdr)
    images = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1)
    labels = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return images, labels


def chunks(spec):
    """(images, labels) in chunks of CHUNK samples: Fashion-MNIST's real samples, or distinct
    seeded random 224x224x3 images (every sample different; chunk k is the same on every call)."""
    n = spec["n"]
    if spec["name"] == "fmnist":
        images, labels = _fmnist_arrays()
        for i in range(0, n, CHUNK):
            j = min(n, i + CHUNK)
            yield images[i:j], labels[i:j]
        return
    sb = sample_bytes(spec)
    for i in range(0, n, CHUNK):
        m = min(CHUNK, n - i)
        rng = np.random.default_rng([42, i])
        yield (np.frombuffer(rng.bytes(m * sb), np.uint8).reshape((m,) + spec["shape"]),
               (np.arange(i, i + m) % 1000).astype(np.int64))


def all_arrays(spec):
    xs, ys = zip(*chunks(spec))
    return np.concatenate(xs), np.concatenate(ys)


# ---- page cache --------------------------------------------------------------------------------
def data_files(d):
    out = []
    for root, _dirs, names in os.walk(d):
        for name in names:
            p = os.path.join(root, name)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return sorted(out)


def disk_bytes(d):
    return sum(os.stat(p).st_blocks * 512 for p in data_files(d))


def resident_fraction(files):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    page = os.sysconf("SC_PAGE_SIZE")
    total = inside = 0
    for p in files:
        size = os.path.getsize(p)
        if size == 0:
            continue
        fd = os.open(p, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            if addr in (None, ctypes.c_void_p(-1).value):
                raise OSError(ctypes.get_errno(), "mmap " + p)
            n = (size + page - 1) // page
            vec = (ctypes.c_ubyte * n)()
            rc = libc.mincore(addr, size, vec)
            libc.munmap(addr, size)
            if rc != 0:
                raise OSError(ctypes.get_errno(), "mincore " + p)
            inside += sum(v & 1 for v in bytes(vec))
            total += n
        finally:
            os.close(fd)
    return inside / total if total else 0.0


def evict(files):
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def make_hot(files):
    for p in files:
        with open(p, "rb", buffering=0) as fh:
            while fh.read(8 << 20):
                pass


def io_read_bytes():
    """Bytes this process made the kernel read from storage, its threads and its reaped children
    (DataLoader workers) included: the kernel adds a reaped child's I/O to its parent's."""
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    raise OSError("no read_bytes in /proc/self/io")


# ---- peers: each writes with its own writer and reads with its own loader -----------------------
class Peer:
    """name, venv ("project" or "bench"), delivers ("copy", or what it hands over), settings
    (its loader settings, shown in the table), in_memory (no file: cold is not applicable).
    write(spec, d) writes from chunks(spec); loader(spec, d, shuffle, seed, cold, knob) returns an
    iterable of batches, each yielding its sample count through count(batch); knobs() lists the
    settings tried on hot epochs (the best is kept and named; cold uses it)."""
    venv = "project"
    imports = ()          # imported before anything is timed
    delivers = "copy"
    in_memory = False
    exact_shuffle = True

    def knobs(self):
        return [None]

    def count(self, batch):
        return len(batch[1])


class TensorcacheLoader(Peer):
    name = "tensorcache"
    imports = ("tensorcache",)

    def __init__(self):
        import tensorcache
        self.tc = tensorcache
        self.native = hasattr(tensorcache, "Loader")
        if self.native:
            self.delivers = "copy (into a reused ring of batch buffers; the batch is a view of it)"
            self.settings = "tensorcache.Loader, C threads; cold: pread=True"
        else:
            self.delivers = "copy (a new array per batch)"
            self.settings = "CacheDataset.loader(num_workers=0) (tensorcache.Loader not on main yet)"

    def write(self, spec, d):
        self.tc.pack_batches(os.path.join(d, "data.tc"), chunks(spec),
                             field_names=["image", "label"], layout={"image": "NHWC"},
                             progress=False)

    def loader(self, spec, d, shuffle, seed, cold, knob):
        path = os.path.join(d, "data.tc")
        if self.native:
            return self.tc.Loader(path, fields=["image", "label"], batch_size=BATCH,
                                  shuffle=shuffle, seed=seed, pread=cold)
        from tensorcache.torch_data import CacheDataset
        import torch
        g = torch.Generator()
        g.manual_seed(seed)
        return CacheDataset(path, fields=("image", "label")).loader(
            batch_size=BATCH, shuffle=shuffle, num_workers=0, generator=g)

    def count(self, batch):
        return len(batch["label"]) if isinstance(batch, dict) else len(batch[1])


class TensorcacheTorch(Peer):
    """The same engine handing torch tensors (what a PyTorch training loop iterates)."""
    imports = ("tensorcache.torch_data",)
    name = "tensorcache TorchLoader (torch tensors)"
    delivers = "copy (into a reused ring of batch buffers; tensors share it)"
    settings = "tensorcache.torch_data.TorchLoader, C threads; cold: pread=True"

    def write(self, spec, d):
        TensorcacheLoader().write(spec, d)

    def loader(self, spec, d, shuffle, seed, cold, knob):
        from tensorcache.torch_data import TorchLoader
        return TorchLoader(os.path.join(d, "data.tc"), batch_size=BATCH, shuffle=shuffle,
                           seed=seed, fields=["image", "label"], pread=cold)


class WorkersPeer(Peer):
    """A loader with worker processes: the best of 0 and 2 workers (2 cores here)."""

    def knobs(self):
        return [0, 2]


class TorchLoaderPeer(WorkersPeer):
    """The default torch DataLoader."""
    imports = ("torch", "torch.utils.data")

    def _dl(self, ds, shuffle, seed, workers):
        import torch
        import torch.utils.data as tud
        g = torch.Generator()
        g.manual_seed(seed)
        return tud.DataLoader(ds, batch_size=BATCH, shuffle=shuffle, num_workers=workers,
                              generator=g)


class TensorDatasetPeer(TorchLoaderPeer):
    name = "torch DataLoader + TensorDataset"
    in_memory = True
    settings = "default DataLoader over an in-memory TensorDataset; best of num_workers 0/2/4"

    def knobs(self):
        return [0, 2, 4]

    def write(self, spec, d):
        import torch
        x, y = all_arrays(spec)
        self.data = (torch.from_numpy(x.copy()), torch.from_numpy(y.copy()))

    def loader(self, spec, d, shuffle, seed, cold, knob):
        import torch.utils.data as tud
        if not hasattr(self, "data"):
            self.write(spec, d)
        return self._dl(tud.TensorDataset(*self.data), shuffle, seed, knob)


class MemmapDataset:
    """A map-style Dataset over two .npy files opened with np.load(mmap_mode="r") lazily in each
    worker (the usual recipe); __getitem__ copies the sample out of the mapping."""

    def __init__(self, d):
        self.d = d
        self.x = None
        self.n = len(np.load(os.path.join(d, "label.npy"), mmap_mode="r"))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import torch
        if self.x is None:
            self.x = np.load(os.path.join(self.d, "image.npy"), mmap_mode="r")
            self.y = np.load(os.path.join(self.d, "label.npy"), mmap_mode="r")
        return torch.from_numpy(np.array(self.x[i])), int(self.y[i])


class MemmapPeer(TorchLoaderPeer):
    name = "torch DataLoader + np.memmap"
    settings = "default DataLoader over a Dataset of np.load(mmap_mode='r'); best of num_workers 0/2"

    def write(self, spec, d):
        n = spec["n"]
        x = np.lib.format.open_memmap(os.path.join(d, "image.npy"), "w+", np.uint8,
                                      (n,) + spec["shape"])
        y = np.lib.format.open_memmap(os.path.join(d, "label.npy"), "w+", np.int64, (n,))
        i = 0
        for xs, ys in chunks(spec):
            x[i:i + len(xs)] = xs
            y[i:i + len(ys)] = ys
            i += len(xs)
        x.flush()
        y.flush()
        del x, y

    def loader(self, spec, d, shuffle, seed, cold, knob):
        return self._dl(MemmapDataset(d), shuffle, seed, knob)


def _stub_torchvision():
    """MosaicML Streaming's package __init__ imports its vision datasets, which import
    torchvision; PyPI's torchvision does not import beside this torch build (issue 9). The bench
    venv has no torchvision, and this stand-in gives streaming.vision the two names it imports
    at module level. MDS reading and writing never use them."""
    import importlib.machinery
    import types
    mods = {}
    for name in ("torchvision", "torchvision.datasets", "torchvision.transforms",
                 "torchvision.transforms.functional"):
        m = types.ModuleType(name)
        m.__spec__ = importlib.machinery.ModuleSpec(name, None)
        mods[name] = m

    class VisionDataset:
        pass
    mods["torchvision.datasets"].VisionDataset = VisionDataset
    mods["torchvision.datasets"].CIFAR10 = VisionDataset
    mods["torchvision.transforms.functional"].to_tensor = None
    sys.modules.update(mods)


class StreamingPeer(WorkersPeer):
    imports = ("streaming",)
    name = "MosaicML Streaming (MDS local)"
    venv = "bench"
    settings = ("MDSWriter (no compression) -> StreamingDataset(local=..., batch_size=256) + "
                "StreamingDataLoader; best of num_workers 0/2")

    def write(self, spec, d):
        _stub_torchvision()
        from streaming import MDSWriter
        shape = ",".join(str(s) for s in spec["shape"])
        cols = {"image": "ndarray:uint8:" + shape, "label": "int64"}
        with MDSWriter(out=os.path.join(d, "mds"), columns=cols, size_limit=1 << 26) as w:
            for xs, ys in chunks(spec):
                for x, y in zip(xs, ys):
                    w.write({"image": x, "label": np.int64(y)})

    def loader(self, spec, d, shuffle, seed, cold, knob):
        _stub_torchvision()
        from streaming import StreamingDataLoader, StreamingDataset
        from streaming.base.util import clean_stale_shared_memory
        clean_stale_shared_memory()
        ds = StreamingDataset(local=os.path.join(d, "mds"), shuffle=shuffle, shuffle_seed=seed,
                              batch_size=BATCH)
        return StreamingDataLoader(ds, batch_size=BATCH, num_workers=knob)

    def count(self, batch):
        return len(batch["label"])


class WebDatasetPeer(WorkersPeer):
    imports = ("webdataset",)
    name = "WebDataset"
    venv = "bench"
    exact_shuffle = False
    settings = ("ShardWriter tar shards (raw bytes + cls) -> WebDataset(shardshuffle) "
                ".shuffle(1000) .batched(256) in WebLoader; best of num_workers 0/2")

    def write(self, spec, d):
        import webdataset as wds
        per_shard = max(1, spec["n"] // 8)  # 8 shards: several per worker
        with wds.ShardWriter(os.path.join(d, "shard-%06d.tar"), maxcount=per_shard,
                             verbose=0) as w:
            k = 0
            for xs, ys in chunks(spec):
                for x, y in zip(xs, ys):
                    w.write({"__key__": "%09d" % k, "image.raw": x.tobytes(), "cls": int(y)})
                    k += 1

    def loader(self, spec, d, shuffle, seed, cold, knob):
        import webdataset as wds
        urls = sorted(p for p in data_files(d) if p.endswith(".tar"))
        shape = spec["shape"]

        def decode(s):
            return (np.frombuffer(s["image.raw"], np.uint8).reshape(shape),
                    int(s["cls"]))
        ds = wds.WebDataset(urls, shardshuffle=len(urls) if shuffle else False, seed=seed,
                            empty_check=False)
        if shuffle:
            ds = ds.shuffle(1000)
        ds = ds.map(decode).batched(BATCH, partial=True)
        return wds.WebLoader(ds, batch_size=None, num_workers=knob)


class LitDataPeer(WorkersPeer):
    imports = ("litdata",)
    name = "LitData"
    venv = "bench"
    settings = ("litdata.optimize(chunk_bytes=64MB) -> StreamingDataset(shuffle) + "
                "StreamingDataLoader; best of num_workers 0/2")

    def write(self, spec, d):
        import litdata
        litdata.optimize(fn=_litdata_samples, inputs=[(spec["name"], spec["n"], k)
                                                       for k in range(0, spec["n"], CHUNK)],
                         output_dir=os.path.join(d, "lit"), chunk_bytes="64MB", num_workers=1,
                         mode="overwrite")

    def loader(self, spec, d, shuffle, seed, cold, knob):
        import litdata
        ds = litdata.StreamingDataset(os.path.join(d, "lit"), shuffle=shuffle, seed=seed)
        return litdata.StreamingDataLoader(ds, batch_size=BATCH, num_workers=knob)

    def count(self, batch):
        return len(batch["label"])


def _litdata_samples(item):
    name, n, k = item
    spec = dataset_spec("fmnist" if name == "fmnist" else "image224", False)
    spec["n"] = n
    for i, (xs, ys) in enumerate(chunks(spec)):
        if i * CHUNK == k:
            for x, y in zip(xs, ys):
                yield {"image": np.ascontiguousarray(x), "label": int(y)}
            return


class TFRecordPeer(Peer):
    imports = ("tensorflow",)
    name = "tf.data over TFRecord"
    exact_shuffle = False
    settings = ("8 TFRecord shards of tf.train.Example; interleave(num_parallel_calls=AUTOTUNE) "
                ".shuffle(4096) .batch(256) .map(parse_example+decode_raw, AUTOTUNE) .prefetch")

    def write(self, spec, d):
        import tensorflow as tf
        n = spec["n"]
        per = -(-n // 8)
        writers = [tf.io.TFRecordWriter(os.path.join(d, "part-%02d.tfrecord" % s))
                   for s in range(8)]
        k = 0
        for xs, ys in chunks(spec):
            for x, y in zip(xs, ys):
                ex = tf.train.Example(features=tf.train.Features(feature={
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[x.tobytes()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y)]))}))
                writers[k // per].write(ex.SerializeToString())
                k += 1
        for w in writers:
            w.close()

    def loader(self, spec, d, shuffle, seed, cold, knob):
        import tensorflow as tf
        files = sorted(p for p in data_files(d) if p.endswith(".tfrecord"))
        shape = spec["shape"]
        desc = {"image": tf.io.FixedLenFeature([], tf.string),
                "label": tf.io.FixedLenFeature([], tf.int64)}

        def parse(batch):
            ex = tf.io.parse_example(batch, desc)
            img = tf.reshape(tf.io.decode_raw(ex["image"], tf.uint8), (-1,) + shape)
            return img, ex["label"]
        ds = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            ds = ds.shuffle(len(files), seed=seed)
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=len(files),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
        if shuffle:
            ds = ds.shuffle(4096, seed=seed)
        return (ds.batch(BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE))

    def count(self, batch):
        return int(batch[1].shape[0])


class GrainPeer(Peer):
    imports = ("grain",)
    name = "Grain over ArrayRecord"
    settings = ("ArrayRecordWriter('group_size:1', default compression) -> MapDataset.source(ArrayRecordDataSource) "
                ".shuffle(seed) .map(parse) .to_iter_dataset(ReadOptions(num_threads=16)) "
                ".batch(256)")

    def write(self, spec, d):
        from array_record.python.array_record_module import ArrayRecordWriter
        w = ArrayRecordWriter(os.path.join(d, "data.array_record"), "group_size:1")
        for xs, ys in chunks(spec):
            for x, y in zip(xs, ys):
                w.write(x.tobytes() + np.int64(y).tobytes())
        w.close()

    def loader(self, spec, d, shuffle, seed, cold, knob):
        import grain
        shape = spec["shape"]
        sb = sample_bytes(spec)

        def parse(rec):
            return {"image": np.frombuffer(rec, np.uint8, sb).reshape(shape),
                    "label": np.frombuffer(rec, np.int64, 1, sb)[0]}
        src = grain.sources.ArrayRecordDataSource([os.path.join(d, "data.array_record")])
        ds = grain.MapDataset.source(src)
        if shuffle:
            ds = ds.shuffle(seed=seed)
        ds = ds.map(parse).to_iter_dataset(grain.ReadOptions(num_threads=16,
                                                             prefetch_buffer_size=512))
        return ds.batch(BATCH)

    def count(self, batch):
        return len(batch["label"])


class H5Peer(Peer):
    imports = ("h5py",)
    name = "h5py (HDF5)"
    settings = ("one dataset, chunks of one sample (h5py's advice for random access); "
                "sequential: ds[i:i+256]; shuffled: one read per sample into the batch")

    def write(self, spec, d):
        import h5py
        n = spec["n"]
        with h5py.File(os.path.join(d, "data.h5"), "w") as fh:
            x = fh.create_dataset("image", (n,) + spec["shape"], np.uint8,
                                  chunks=(1,) + spec["shape"])
            y = fh.create_dataset("label", (n,), np.int64)
            i = 0
            for xs, ys in chunks(spec):
                x[i:i + len(xs)] = xs
                y[i:i + len(ys)] = ys
                i += len(xs)

    def loader(self, spec, d, shuffle, seed, cold, knob):
        import h5py
        fh = h5py.File(os.path.join(d, "data.h5"), "r")
        x, y = fh["image"], fh["label"][:]
        n = spec["n"]
        order = np.random.default_rng(seed).permutation(n) if shuffle else None

        def gen():
            try:
                for i in range(0, n, BATCH):
                    if order is None:
                        yield x[i:i + BATCH], y[i:i + BATCH]
                        continue
                    idx = order[i:i + BATCH]
                    out = np.empty((len(idx),) + spec["shape"], np.uint8)
                    for k, j in enumerate(idx.tolist()):
                        x.read_direct(out, np.s_[j], np.s_[k])
                    yield out, y[idx]
            finally:
                fh.close()
        return gen()


class LmdbPeer(Peer):
    imports = ("lmdb",)
    name = "LMDB"
    venv = "bench"
    settings = ("one key per sample (big-endian index, append=True); one read transaction per "
                "batch, buffers=True, copied into the batch; readahead off when shuffled")

    def write(self, spec, d):
        import lmdb
        sb = sample_bytes(spec)
        env = lmdb.open(os.path.join(d, "lmdb"), map_size=int(spec["n"] * (sb + 4096) * 1.5
                                                                 + (64 << 20)))
        k = 0
        for xs, ys in chunks(spec):
            with env.begin(write=True) as txn:
                for x, y in zip(xs, ys):
                    txn.put(k.to_bytes(8, "big"), x.tobytes() + np.int64(y).tobytes(),
                            append=True)
                    k += 1
        env.sync()
        env.close()

    def loader(self, spec, d, shuffle, seed, cold, knob):
        import lmdb
        env = lmdb.open(os.path.join(d, "lmdb"), readonly=True, lock=False,
                        readahead=not shuffle)
        n, sb = spec["n"], sample_bytes(spec)
        order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)

        def gen():
            try:
                for i in range(0, n, BATCH):
                    idx = order[i:i + BATCH].tolist()
                    xs = np.empty((len(idx), sb), np.uint8)
                    ys = np.empty(len(idx), np.int64)
                    with env.begin(buffers=True) as txn:
                        for k, j in enumerate(idx):
                            v = np.frombuffer(txn.get(j.to_bytes(8, "big")), np.uint8)
                            xs[k] = v[:sb]
                            ys[k] = v[sb:].view(np.int64)[0]
                    yield xs.reshape((len(idx),) + spec["shape"]), ys
            finally:
                env.close()
        return gen()


class SeedRecipePeer(Peer):
    """The hand migration from the seed (shared/reference): iterate a torch DataLoader,
    .numpy(), concatenate in RAM, tf.data.Dataset.from_tensor_slices."""
    name = "seed recipe (DataLoader -> numpy -> from_tensor_slices)"
    imports = ("torch", "tensorflow")
    in_memory = True
    settings = ("conversion: iterate DataLoader(TensorDataset), .numpy(), np.concatenate; "
                "epoch: from_tensor_slices .shuffle(n) .batch(256) .prefetch")

    def write(self, spec, d):
        import tensorflow as tf
        import torch
        import torch.utils.data as tud
        src = tud.TensorDataset(*(torch.from_numpy(a.copy()) for a in all_arrays(spec)))
        xs, ys = [], []
        for x, y in tud.DataLoader(src, batch_size=BATCH):
            xs.append(x.numpy())
            ys.append(y.numpy())
        self.ds = tf.data.Dataset.from_tensor_slices((np.concatenate(xs), np.concatenate(ys)))

    def loader(self, spec, d, shuffle, seed, cold, knob):
        import tensorflow as tf
        if not hasattr(self, "ds"):
            self.write(spec, d)
        ds = self.ds.shuffle(spec["n"], seed=seed) if shuffle else self.ds
        return ds.batch(BATCH).prefetch(tf.data.AUTOTUNE)

    def count(self, batch):
        return int(batch[1].shape[0])


PEERS = {
    "tensorcache": TensorcacheLoader,
    "tensorcache-torch": TensorcacheTorch,
    "tensordataset": TensorDatasetPeer,
    "memmap": MemmapPeer,
    "streaming": StreamingPeer,
    "webdataset": WebDatasetPeer,
    "litdata": LitDataPeer,
    "tfrecord": TFRecordPeer,
    "grain": GrainPeer,
    "h5py": H5Peer,
    "lmdb": LmdbPeer,
    "seed": SeedRecipePeer,
}
# Class attributes the driver needs without importing a peer's packages.
PEER_FACTS = {k: {"name": c.name, "venv": c.venv, "in_memory": c.in_memory,
                  "exact_shuffle": c.exact_shuffle} for k, c in PEERS.items()}


# ---- the child: one peer, one dataset, one phase ---------------------------------------------------
def peak_rss():
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return self_mb, kids_mb


def run_epoch(peer, spec, d, shuffle, seed, cold, knob, limit=None):
    """One epoch (or its first `limit` samples, at least); returns seconds, residency before,
    bytes read from storage."""
    files = data_files(d)
    resident = None
    if cold:
        evict(files)
        resident = resident_fraction(files)
    gc.collect()
    rb0 = io_read_bytes()
    t0 = time.perf_counter()
    loader = peer.loader(spec, d, shuffle, seed, cold, knob)
    seen = 0
    for batch in loader:
        seen += peer.count(batch)
        if limit is not None and seen >= limit:
            break
    t = time.perf_counter() - t0
    rb = io_read_bytes() - rb0
    del loader
    gc.collect()
    if limit is None and seen != spec["n"]:
        raise RuntimeError("epoch delivered %d of %d samples" % (seen, spec["n"]))
    return t, resident, rb


def child(args):
    import importlib
    spec = dataset_spec(args.dataset, args.quick)
    peer = PEERS[args.child]()
    if peer.imports == ("streaming",):
        _stub_torchvision()
    for m in peer.imports:
        importlib.import_module(m)
    d = args.dir
    out = {"settings": peer.settings, "delivers": peer.delivers}
    if args.phase == "write":
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        t0 = time.perf_counter()
        peer.write(spec, d)
        for p in data_files(d):  # durable, as tensorcache's writer is: compare like with like
            fd = os.open(p, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        out["convert_s"] = time.perf_counter() - t0
        out["disk_bytes"] = disk_bytes(d)
        out["rss_mb"], out["rss_children_mb"] = peak_rss()
        print(json.dumps(out))
        return 0
    delivered = spec["n"] * (sample_bytes(spec) + 8)
    out["delivered_bytes"] = delivered
    if args.phase == "cold":
        # A fresh process: nothing maps the files, so the eviction can drop every page.
        knob = json.loads(args.knob)
        out["cold_shuf"] = []
        for r in range(args.cold_repeats):
            t, res, rb = run_epoch(peer, spec, d, True, 200 + r, True, knob)
            out["cold_shuf"].append({"sps": spec["n"] / t, "resident": res, "read_bytes": rb})
            if sum(spec["n"] / e["sps"] for e in out["cold_shuf"]) > EPOCH_BUDGET_S:
                break
    else:
        if not peer.in_memory:
            make_hot(data_files(d))
        # Hot: the part of a shuffled epoch per knob (the best is kept), then the repeats.
        knobs = peer.knobs()
        best = knobs[0]
        if len(knobs) > 1 and not args.quick:
            trials = [(run_epoch(peer, spec, d, True, 1, False, k, TRIAL_SAMPLES)[0], k)
                      for k in knobs]
            best = min(trials, key=lambda tk: tk[0])[1]
        out["knob"] = best
        for mode, shuffle in (("hot_seq", False), ("hot_shuf", True)):
            out[mode] = []
            spent = 0.0
            for r in range(args.repeats):
                t = run_epoch(peer, spec, d, shuffle, 100 + r, False, best)[0]
                out[mode].append(spec["n"] / t)
                spent += t
                if spent > EPOCH_BUDGET_S:
                    break
    out["rss_mb"], out["rss_children_mb"] = peak_rss()
    print(json.dumps(out))
    return 0


# ---- the driver ---------------------------------------------------------------------------------
class Rec:
    def __init__(self, path):
        self.f = open(path, "a")

    def m(self, bench, case, impl, rep, value, unit):
        self.f.write("m,%s,%s,%s,%d,%.9g,%s\n" % (bench, case, impl.replace(",", ";"), rep,
                                                   value, unit))
        self.f.flush()

    def i(self, key, value):
        self.f.write("i,%s,%s\n" % (key, str(value).replace("\n", " ").replace(",", ";")))
        self.f.flush()

    def s(self, bench, case, reason):
        self.f.write("s,%s,%s,%s\n" % (bench, case, reason.replace("\n", " ").replace(",", ";")))
        self.f.flush()


def progress(msg):
    sys.stderr.write("  [epochs] %s\n" % msg)
    sys.stderr.flush()


def _run_child(py, argv, env, timeout):
    """Runs a child; returns (dict, None) or (None, reason)."""
    try:
        p = subprocess.run([py, SELF] + argv, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "did not finish within %d s" % timeout
    except OSError as e:
        return None, "could not start %s: %s" % (py, e)
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.decode(errors="replace").splitlines() if ln.strip()]
        return None, "failed: %s" % (lines[-1] if lines else "exit %d" % p.returncode)[:300]
    try:
        return json.loads(p.stdout.decode().strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, "printed no result"


def limits(rec, build, spec, tc_path, reps, quick):
    """memcpy of the same bytes (hot) and the best parallel pread (cold) on the tensorcache file."""
    exe = os.path.join(build, "bench", "limits")
    name = spec["name"]
    for order in ("seq", "shuf"):
        p = subprocess.run([exe, "memcpy", tc_path, "image", order, str(BATCH), "7", str(reps)],
                           stdout=subprocess.PIPE, check=True)
        for r, line in enumerate(p.stdout.decode().splitlines()):
            kv = dict(f.split("=") for f in line.split())
            rec.m("ep.limit_memcpy_" + order, name, "memcpy", r, float(kv["samples_per_s"]),
                  "samples/s")
    best = None
    for threads in ((1, 16) if quick else (1, 4, 16, 64)):
        p = subprocess.run([exe, "pread", tc_path, "image", "shuf", str(BATCH), "7",
                            str(threads)], stdout=subprocess.PIPE, check=True)
        kv = dict(f.split("=") for f in p.stdout.decode().split())
        sps = float(kv["samples_per_s"])
        rec.m("ep.limit_pread_threads", name, "pread %d threads" % threads, 0, sps, "samples/s")
        if best is None or sps > best[0]:
            best = (sps, threads, kv)
    rec.m("ep.limit_pread", name, "parallel pread", 0, best[0], "samples/s")
    rec.m("ep.limit_pread_amp", name, "parallel pread", 0,
          float(best[2]["read_bytes"]) / (spec["n"] * sample_bytes(spec)), "x")
    rec.m("ep.limit_pread_resident", name, "parallel pread", 0,
          float(best[2]["resident_before"]), "fraction")
    rec.i("ep_limit_pread_threads_" + name, best[1])


def driver(args):
    rec = Rec(args.out)
    build = os.path.abspath(args.build)
    pythons = {"project": sys.executable, "bench": args.bench_python}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["TENSORCACHE_LIB"] = os.path.join(build, "libtensorcache.so")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    reps = args.repeats
    cold_reps = 1 if args.quick else 2
    timeout = 120 if args.quick else 900
    only = [p for p in args.only_peers.split(",") if p] or list(PEERS)
    rec.i("ep_batch", BATCH)
    for name in args.datasets.split(","):
        spec = dataset_spec(name, args.quick)
        if name == "fmnist" and not os.path.exists(os.path.join(FMNIST_DIR,
                                                                "train-images-idx3-ubyte.gz")):
            rec.s("ep", name, "Fashion-MNIST not found in %s (Debian dataset-fashion-mnist)"
                  % FMNIST_DIR)
            continue
        rec.i("ep_samples_" + name, spec["n"])
        for key in only:
            facts = PEER_FACTS[key]
            peer = facts["name"]
            py = pythons[facts["venv"]]
            if not py or not os.path.exists(py):
                rec.s("ep", "%s/%s" % (name, peer),
                      "not installed: the bench venv is missing (run make bench-deps)")
                continue
            d = os.path.join(args.dir, "ep-%s-%s" % (name, key))
            common = ["--child", key, "--dataset", name, "--dir", d, "--repeats", str(reps),
                      "--cold-repeats", str(cold_reps)] + (["--quick"] if args.quick else [])
            progress("%s: %s: writing" % (name, peer))
            w, why = _run_child(py, common + ["--phase", "write"], env, timeout)
            if w is None:
                rec.s("ep", "%s/%s" % (name, peer), "writer " + why)
                shutil.rmtree(d, ignore_errors=True)
                continue
            rec.i("ep_settings_%s" % peer, w["settings"])
            rec.i("ep_delivers_%s" % peer, w["delivers"])
            rec.m("ep.convert_s", name, peer, 0, w["convert_s"], "s")
            rec.m("ep.convert_rss", name, peer, 0, w["rss_mb"], "MB")
            if not facts["in_memory"]:
                rec.m("ep.disk", name, peer, 0, w["disk_bytes"] / 1e6, "MB")
            if key == "tensorcache":
                progress("%s: limits (memcpy hot, parallel pread cold)" % name)
                limits(rec, build, spec, os.path.join(d, "data.tc"), reps, args.quick)
            progress("%s: %s: reading" % (name, peer))
            r, why = _run_child(py, common + ["--phase", "read"], env, timeout)
            if r is None:
                shutil.rmtree(d, ignore_errors=True)
                rec.s("ep", "%s/%s" % (name, peer), "loader " + why)
                continue
            if r.get("knob") is not None:
                rec.i("ep_knob_%s_%s" % (name, peer), "num_workers=%s" % r["knob"])
            for mode in ("hot_seq", "hot_shuf"):
                for k, v in enumerate(r[mode]):
                    rec.m("ep." + mode, name, peer, k, v, "samples/s")
            rss = [r["rss_mb"]]
            workers = [r["rss_children_mb"]]
            if not facts["in_memory"]:  # in RAM: no cold epoch, no size on disk
                c, why = _run_child(py, common + ["--phase", "cold", "--knob",
                                                  json.dumps(r.get("knob"))], env, timeout)
                if c is None:
                    rec.s("ep", "%s/%s" % (name, peer), "cold epoch " + why)
                else:
                    rss.append(c["rss_mb"])
                    workers.append(c["rss_children_mb"])
                    for k, e in enumerate(c["cold_shuf"]):
                        rec.m("ep.cold_shuf", name, peer, k, e["sps"], "samples/s")
                        rec.m("ep.cold_resident", name, peer, k, e["resident"], "fraction")
                        rec.m("ep.read_amp", name, peer, k,
                              e["read_bytes"] / c["delivered_bytes"], "x")
            shutil.rmtree(d, ignore_errors=True)
            rec.m("ep.rss", name, peer, 0, max(rss), "MB")
            rec.m("ep.rss_workers", name, peer, 0, max(workers), "MB")
    return 0


def common_args():
    """The options every bench stage driver shares (epochs.py, frameworks.py)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--out")
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    return ap


def main():
    ap = common_args()
    ap.add_argument("--cold-repeats", type=int, default=2)
    ap.add_argument("--bench-python", default="")
    ap.add_argument("--only-peers", default="")
    ap.add_argument("--datasets", default="fmnist,image224")
    ap.add_argument("--child")
    ap.add_argument("--dataset")
    ap.add_argument("--phase")
    ap.add_argument("--knob", default="null")
    args = ap.parse_args()
    if args.child:
        return child(args)
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
