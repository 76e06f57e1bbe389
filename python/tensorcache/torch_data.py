"""PyTorch adapter: a map-style Dataset over a cache, and a fast batch path for DataLoader.

    from tensorcache.torch_data import CacheDataset
    ds = CacheDataset("train.tc", fields=("image", "label"))
    image, label = ds[0]                  # tensors viewing the mapping: no copy
    for image, label in ds.loader(batch_size=256, shuffle=True, num_workers=2):
        ...                               # one gather per field per batch

Zero copy, and writable. PyTorch has no read-only tensors: ``torch.from_numpy`` on a read-only
array warns, and a write to such a tensor would crash the process (the page is mapped
PROT_READ). The dataset therefore maps the file *privately* (copy-on-write, see
tensorcache.open(copy_on_write=True)): tensors view the page cache without a copy, a write only
ever changes a private copy of the page touched, the file never changes, and there is no
warning. (Should the kernel refuse such a mapping, the dataset falls back to a read-only mapping
and copies each sample: correct, just not zero-copy.)

DataLoader workers. The dataset pickles as its path and options only, never as arrays, and each
process (each worker, after fork or spawn) maps the file itself on first use. Mapped file pages
live in the page cache and are shared by all processes; nothing is copied per worker, so the
well-known "DataLoader worker memory grows with the dataset" problem (Python objects whose
reference counts are touched, copy-on-write page by page in every worker) does not arise.

The engine. ``TorchLoader`` draws batches from the C batch engine (tensorcache.Loader: C threads
fill a ring of reusable buffers ahead of the consumer) and yields tensors; it takes the engine's
own seeded shuffle, or any torch Sampler / BatchSampler (DistributedSampler included)::

    from tensorcache.torch_data import TorchLoader
    for image, label in TorchLoader("train.tc", batch_size=256, shuffle=True, seed=0):
        ...                               # tensors valid until the next batch (copy=True: owned)

Fast batches. ``ds[list_of_indices]`` returns a whole batch with ONE NumPy gather per field.
``ds.loader(...)`` builds a DataLoader that hands the dataset whole index lists (a BatchSampler
with ``batch_size=None``), so no per-sample ``__getitem__`` calls and no collate step.

dtypes: every cache dtype has its native tensor dtype (PyTorch 2.x): uint16/uint32/uint64 arrive
as torch.uint16/uint32/uint64 (shared with the mapping, not widened), bf16 as torch.bfloat16.
"""

import errno
import os
import warnings

import numpy as np
import torch
import torch.utils.data as tud

from . import reader
from ._errors import RangeError, TCIOError

__all__ = ["CacheDataset", "TorchLoader", "to_tensor"]

def to_tensor(a, copy=False):
    """A tensor for an ndarray (or NumPy scalar) from a cache, sharing memory with it (a
    read-only array is copied: PyTorch has no read-only tensors)."""
    a = np.asarray(a)
    if copy or not a.flags.writeable:
        a = a.copy()
    if a.dtype == np.dtype("V2"):  # bf16 bits
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


# dtypes whose tensors share memory with a NumPy array of the same dtype (no widening).
_SHARED_OK = {np.dtype(k): v for k, v in {
    "|b1": torch.bool, "|u1": torch.uint8, "|i1": torch.int8, "<i2": torch.int16,
    "<i4": torch.int32, "<i8": torch.int64, "<f2": torch.float16, "<f4": torch.float32,
    "<f8": torch.float64, "<u2": torch.uint16, "<u4": torch.uint32,
    "<u8": torch.uint64}.items()}


def _gather_shared(field, idx):
    """In a DataLoader worker: gather straight into shared memory, as default_collate does.

    A tensor returned from a worker is moved into shared memory to cross the process boundary,
    which copies it; gathering into a tensor whose storage is shared already saves that copy."""
    shape = (len(idx),) + tuple(field.shape)
    numel = int(np.prod(shape, dtype=np.int64))
    proto = torch.empty(0, dtype=_SHARED_OK[field.dtype])
    out = proto.new(proto.storage()._new_shared(numel)).resize_(*shape)
    field.gather(idx, out=out.numpy())
    return out


class CacheDataset(tud.Dataset):
    """Map-style Dataset over a tensorcache file.

    fields: names to return, in this order (default: all, in declaration order).
    as_dict: return {name: tensor} instead of a tuple.
    transform: applied to each single sample (tuple or dict) from ``ds[i]``.
    batch_transform: applied to each batch from ``ds[index_list]`` / ``ds.loader()``.
    """

    def __init__(self, path, fields=None, as_dict=False, transform=None, batch_transform=None):
        self.path = os.fspath(path)
        self.as_dict = as_dict
        self.transform = transform
        self.batch_transform = batch_transform
        self._cache = None
        self._pid = None
        self._copy = False
        c = self._get_cache()  # validates now, in the constructing process
        self.field_names = list(fields) if fields is not None else c.field_names
        for n in self.field_names:
            c.field(n)  # NotFoundError early
        self._len = len(c)

    # ---- per-process mapping --------------------------------------------------------------
    def _get_cache(self):
        pid = os.getpid()
        if self._cache is None or self._pid != pid:
            try:
                self._cache = reader.open(self.path, copy_on_write=True)
                self._copy = False
            except TCIOError as e:
                if e.sys_errno != errno.ENOMEM:
                    raise
                self._cache = reader.open(self.path)
                self._copy = True
            self._pid = pid
        return self._cache

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = None  # a worker maps the file itself: no arrays are ever pickled
        state["_pid"] = None
        return state

    def __len__(self):
        return self._len

    @property
    def cache(self):
        """This process's open Cache."""
        return self._get_cache()

    # ---- access ----------------------------------------------------------------------------
    def _pack(self, values, transform):
        out = dict(zip(self.field_names, values)) if self.as_dict else tuple(values)
        return transform(out) if transform is not None else out

    def __getitem__(self, key):
        if isinstance(key, (list, tuple, np.ndarray)) or (
                isinstance(key, torch.Tensor) and key.dim() > 0):
            return self.batch(key)
        c = self._get_cache()
        i = int(key)
        if i < -self._len or i >= self._len:
            raise RangeError("RANGE", "sample %d out of range (N = %d)" % (i, self._len))
        values = []
        for n in self.field_names:
            v = c.field(n).sample(i)
            values.append(to_tensor(v, copy=self._copy))
        return self._pack(values, self.transform)

    def batch(self, indices):
        """A whole batch: one gather per field (a tensor (n, *shape) for fixed-shape fields, a
        list of tensors for variable-shape ones)."""
        if isinstance(indices, torch.Tensor):
            indices = indices.numpy()
        c = self._get_cache()
        idx = np.asarray(indices, dtype=np.int64)
        values = []
        in_worker = tud.get_worker_info() is not None
        for n in self.field_names:
            f = c.field(n)
            if f.variable:
                values.append([to_tensor(a, copy=self._copy) for a in f.gather(idx)])
            elif in_worker and _SHARED_OK.get(f.dtype) is not None:
                values.append(_gather_shared(f, idx))
            else:
                values.append(to_tensor(f.gather(idx)))  # fresh: shared with the tensor
        return self._pack(values, self.batch_transform)

    def loader(self, batch_size, shuffle=False, drop_last=False, num_workers=0, generator=None,
               **kwargs):
        """A DataLoader that fetches whole batches (one gather per field per batch).

        Extra keyword arguments go to DataLoader (pin_memory, persistent_workers,
        prefetch_factor, worker_init_fn, multiprocessing_context, ...)."""
        batches = IndexBatchSampler(self._len, batch_size, shuffle=shuffle, drop_last=drop_last,
                                    generator=generator)
        return tud.DataLoader(self, sampler=batches, batch_size=None, num_workers=num_workers,
                              **kwargs)


    def engine_loader(self, batch_size, **kwargs):
        """A TorchLoader (the C batch engine) over this dataset's file, fields and as_dict;
        keyword arguments as TorchLoader's (shuffle, seed, sampler, pin_memory, copy, ...)."""
        return TorchLoader(self, batch_size=batch_size, **kwargs)


class IndexBatchSampler(tud.Sampler):
    """Batches of indices as int64 NumPy arrays sliced from one permutation (or arange).

    torch's BatchSampler(RandomSampler) builds a Python list of ints per batch, which costs a
    third of a Fashion-MNIST epoch over a cache; one torch.randperm sliced per batch costs ~1 ms
    per epoch. Yields the same batches RandomSampler/SequentialSampler + BatchSampler would for a
    given permutation. NumPy slices, not tensor slices: a tensor view sent to a worker drags the
    whole permutation's storage into shared memory, and torch 1.13 was seen handing workers
    garbage indices that way; a NumPy slice is pickled by value (2 KB for 256 indices)."""

    def __init__(self, n, batch_size, shuffle=False, drop_last=False, generator=None):
        if int(batch_size) < 1:
            raise ValueError("batch_size must be >= 1")
        self.n, self.batch_size = int(n), int(batch_size)
        self.shuffle, self.drop_last, self.generator = bool(shuffle), bool(drop_last), generator

    def __iter__(self):
        order = (torch.randperm(self.n, generator=self.generator).numpy() if self.shuffle
                 else np.arange(self.n, dtype=np.int64))
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, self.n), self.batch_size):
            yield order[start:start + self.batch_size]

    def __len__(self):
        if self.drop_last:
            return self.n // self.batch_size
        return (self.n + self.batch_size - 1) // self.batch_size


class TorchLoader:
    """Batches of tensors from the C batch engine (tensorcache.Loader), in place of a DataLoader.

    TorchLoader(source, batch_size=1, shuffle=False, seed=None, drop_last=False, sampler=None,
                batch_sampler=None, fields=None, as_dict=False, pin_memory=False, copy=False,
                num_threads=None, prefetch=None, pread=False, batch_transform=None)

    - source: a path, a tensorcache.Cache, or a CacheDataset (its path, fields and as_dict).
    - Order: the engine's seeded shuffle (shuffle/seed; reproducible on every machine), or
      ``sampler`` (any torch Sampler yielding sample numbers: RandomSampler, SubsetRandomSampler,
      DistributedSampler, ...), or ``batch_sampler`` (yielding lists of sample numbers; every
      batch but the last must have the same size, which becomes the batch size). A sampler is
      drawn once per epoch; set_epoch(e) is forwarded to it (DistributedSampler needs it).
    - Tensors share the engine's ring buffers: they stay valid until the next batch is
      requested. copy=True gives tensors you own; pin_memory=True copies each batch into
      page-locked memory (when CUDA is available; otherwise it warns once and does nothing, as
      DataLoader does). dtypes as to_tensor(): native torch.uint16/uint32/uint64 and bfloat16.
    - Yields tuples in field order (dicts with as_dict=True); variable-shape fields are lists of
      tensors. A damaged sample raises tensorcache.FormatError with .field and .sample.
    - state_dict()/load_state_dict() resume mid-epoch exactly (with the engine's shuffle, or
      with a sampler that gives the same order again for the same epoch).
    """

    def __init__(self, source, batch_size=1, shuffle=False, seed=None, drop_last=False,
                 sampler=None, batch_sampler=None, fields=None, as_dict=False, pin_memory=False,
                 copy=False, num_threads=None, prefetch=None, pread=False, batch_transform=None):
        from .loader import Loader
        if isinstance(source, CacheDataset):
            fields = source.field_names if fields is None else fields
            as_dict = source.as_dict
            source = source.path
        if sampler is not None and batch_sampler is not None:
            raise ValueError("sampler and batch_sampler exclude each other")
        if (sampler is not None or batch_sampler is not None) and shuffle:
            raise ValueError("shuffle=True with a sampler: the sampler decides the order")
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.as_dict, self.copy, self.batch_transform = bool(as_dict), bool(copy), batch_transform
        self.pin_memory = bool(pin_memory)
        if self.pin_memory and not torch.cuda.is_available():
            warnings.warn("TorchLoader: pin_memory=True but no accelerator is available; "
                          "batches are not pinned")
            self.pin_memory = False
        if batch_sampler is not None:
            batch_size = self._uniform_batches(self._draw_batches())[0]
            drop_last = False  # the batch sampler already decided
        self._loader = Loader(source, fields=fields, batch_size=batch_size, shuffle=shuffle,
                              seed=seed, drop_last=drop_last, num_threads=num_threads,
                              prefetch=prefetch, pread=pread)
        self.fields = self._loader.fields
        self.batch_size = self._loader.batch_size
        self._sampled_epoch = None

    # ---- samplers --------------------------------------------------------------------------
    def _draw_batches(self):
        return [np.asarray(b, dtype=np.int64).reshape(-1) for b in self.batch_sampler]

    @staticmethod
    def _uniform_batches(batches):
        sizes = [len(b) for b in batches]
        if not sizes:
            return 1, np.empty(0, np.int64)
        size = sizes[0]
        if any(s != size for s in sizes[:-1]) or sizes[-1] > size or size < 1:
            raise ValueError("batch_sampler: every batch but the last must have the same size "
                             "(got sizes %s); the engine cuts fixed-size batches" % sorted(set(sizes)))
        return size, np.concatenate(batches)

    def _prepare_epoch(self):
        """Draws the sampler's order for this epoch (once: a resume keeps it)."""
        if self.sampler is None and self.batch_sampler is None:
            return
        if self._sampled_epoch == self._loader.epoch:
            return
        if self.sampler is not None:
            idx = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        else:
            size, idx = self._uniform_batches(self._draw_batches())
            if size != self.batch_size:
                raise ValueError("batch_sampler changed its batch size from %d to %d"
                                 % (self.batch_size, size))
        state = self._loader.state_dict()
        self._loader.set_indices(idx)
        self._loader._start = self._loader._position = min(state["position"], len(idx))
        self._sampled_epoch = self._loader.epoch

    def set_epoch(self, epoch):
        """The next epoch (its shuffle order); forwarded to the sampler when it has set_epoch."""
        for s in (self.sampler, self.batch_sampler, getattr(self.batch_sampler, "sampler", None)):
            if s is not None and hasattr(s, "set_epoch"):
                s.set_epoch(epoch)
        self._loader.set_epoch(epoch)
        self._sampled_epoch = None

    # ---- iteration -------------------------------------------------------------------------
    def _tensor(self, a):
        t = to_tensor(a, copy=self.copy)
        return t.pin_memory() if self.pin_memory else t

    def __iter__(self):
        self._prepare_epoch()
        for batch in self._loader:
            values = []
            for name in self.fields:
                v = batch[name]
                values.append([self._tensor(a) for a in v] if isinstance(v, list)
                              else self._tensor(v))
            out = dict(zip(self.fields, values)) if self.as_dict else tuple(values)
            yield self.batch_transform(out) if self.batch_transform is not None else out
        self._sampled_epoch = None  # a sampler is drawn again for the next epoch

    def __len__(self):
        if self.sampler is not None:
            n = len(self.sampler)
            return n // self.batch_size if self._loader.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self._loader)

    def state_dict(self):
        return self._loader.state_dict()

    def load_state_dict(self, state):
        if self.sampler is not None or self.batch_sampler is not None:
            # the sampler's order is drawn again (same epoch, same order) in _prepare_epoch
            state = {k: v for k, v in state.items() if k != "num_positions"}
        self._loader.load_state_dict(state)
        self._sampled_epoch = None

    @property
    def epoch(self):
        return self._loader.epoch

    def close(self):
        self._loader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
