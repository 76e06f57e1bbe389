"""Batches for the framework adapters: the ONE place tf_data, keras_data and jax_data get them.

A :class:`Batcher` knows a cache, the fields to produce, the batch size and the epoch order, and
turns "batch b of epoch e" into ``{name: ndarray}``. Every adapter is a thin wrapper that moves
those arrays into its framework, so the sample order, the dtype handling and the error messages
are the same in TensorFlow, Keras and JAX.

Hot path. A fixed-shape field is gathered by libtensorcache's ``tc_gather`` through ctypes,
which releases the GIL for the whole copy (ctypes.CDLL does), so several tf.data map threads or
PyDataset workers copy in parallel. Without the native library the NumPy gather is used
(``np.take`` releases the GIL for its copy loop too, but not for its setup). The destination is
64-byte aligned so that JAX and DLPack consumers take it without another copy.

Order. With ``shuffle=True`` epoch e visits the C batch engine's permutation
(``tensorcache.shuffle_index(p, N, seed, e)`` for p = 0..N-1, computed here for all p at once by
:func:`engine_order`), so an epoch's order depends only on (seed, epoch): reproducible, every
sample once per epoch, the same in every framework and in ``tensorcache.Loader``. ``seed=None``
draws one seed per Batcher.

Data: ``gather(indices)`` (random access: tf.data's parallel map calls and Keras' PyDataset ask
for batch b of epoch e) and ``epoch(e)`` (in order, a couple of batches gathered ahead in
threads: jax_data). Each batch is gathered straight into a buffer the framework then owns, so
JAX takes it without another copy. tensorcache.Loader (the C engine) yields the same batches
(test_batching checks it) but into a ring it reuses: handing those to a framework would cost one
more copy per batch, and for tf.data one consumer thread was measured 2-3x slower than parallel
tc_gather calls.

Variable-shape fields need a choice (``variable=``): "padded" pads each batch to its largest
sample with ``pad_value``; "ragged" gives a list of arrays (tf_data makes a tf.RaggedTensor of
it). Without a choice, batching such a field raises WrongKindError naming field and samples.
"""

import itertools
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import reader
from ._errors import Error, InvalidArgumentError, WrongKindError

VARIABLE_CHOICES = ("padded", "ragged")
_ALIGN = 64
_SHUFFLE_ROUNDS = 6


def _mix64(x):
    """splitmix64's finalizer of x + golden ratio (mix64 in lib/loader.c), on uint64 arrays."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def engine_order(n, seed, epoch):
    """[tc_shuffle_index(p, n, seed, epoch) for p in range(n)] as an int64 array, vectorised:
    the keyed 6-round Feistel network with cycle-walking that include/tensorcache.h defines
    (test_batching checks it against the C function)."""
    if n <= 1:
        return np.zeros(n, np.int64)
    bits = 2
    while bits < 64 and (1 << bits) < n:
        bits += 2
    half = np.uint64(bits // 2)
    mask = np.uint64((1 << (bits // 2)) - 1)
    with np.errstate(over="ignore"):
        base = _mix64(_mix64(np.uint64(seed)) + np.uint64(epoch))
        keys = [_mix64(base + np.uint64(r)) for r in range(_SHUFFLE_ROUNDS)]
    out = np.arange(n, dtype=np.uint64)
    todo = np.arange(n)
    while len(todo):
        x = out[todo]
        left, right = x >> half, x & mask
        for k in keys:
            left, right = right, left ^ (_mix64(right ^ k) & mask)
        out[todo] = (left << half) | right
        todo = todo[out[todo] >= np.uint64(n)]
    return out.astype(np.int64)


def open_source(source):
    """A Cache for a path or an open Cache (returned as is)."""
    return source if isinstance(source, reader.Cache) else reader.open(source)


def aligned_empty(shape, dtype, align=_ALIGN):
    """An uninitialised C-contiguous array whose data starts on an `align`-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + align, np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def with_bfloat16(a, f):
    """bf16 bits (NumPy 'V2') viewed as ml_dtypes.bfloat16, the type Keras and JAX take; other
    arrays unchanged. No copy."""
    if f.dtype_name == "bf16" and isinstance(a, np.ndarray):
        import ml_dtypes
        return a.view(ml_dtypes.bfloat16)
    return a


class _NativeGather:
    """tc_gather through ctypes (GIL released during the copy), one C handle per process."""

    def __init__(self, path):
        self.path = path
        self._reader = None
        self._pid = None

    def available(self):
        try:
            self._get()
        except Error:
            return False
        return True

    def _get(self):
        if self._reader is None or self._pid != os.getpid():
            from . import _native
            self._reader = _native.CReader(self.path)
            self._pid = os.getpid()
        return self._reader

    def __call__(self, field, idx, out):
        import ctypes
        from . import _native
        r = self._get()
        idx = np.ascontiguousarray(idx, dtype=np.uint64)
        err = _native.tc_error()
        rc = r._L.tc_gather(r._c, field.number, idx.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)),
                            len(idx), out.ctypes.data if out.nbytes else None, out.nbytes,
                            ctypes.byref(err))
        if rc:
            _native.raise_error(err, rc)
        return out

    def __getstate__(self):
        return {"path": self.path, "_reader": None, "_pid": None}


class Batcher:
    """Batches of a cache as {name: ndarray}; see the module docstring.

    source: path or open Cache. fields: names (default all). batch_size: samples per batch.
    shuffle/seed: epoch order. drop_last: drop a last partial batch. variable: None, "padded"
    or "ragged" (variable-shape fields). pad_value: fill for "padded". native: use tc_gather
    when libtensorcache is available (True) or the NumPy gather only (False).
    """

    def __init__(self, source, fields=None, batch_size=1, shuffle=False, seed=None,
                 drop_last=False, variable=None, pad_value=0, native=True):
        self.cache = open_source(source)
        self.path = self.cache.path
        names = list(self.cache.field_names if fields is None else
                     ([fields] if isinstance(fields, str) else fields))
        self.fields = [self.cache.field(n) for n in names]  # NotFoundError names the field
        self.names = names
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise InvalidArgumentError("INVALID_ARG", "batch_size must be >= 1, not %r"
                                       % (batch_size,))
        if variable not in (None,) + VARIABLE_CHOICES:
            raise InvalidArgumentError("INVALID_ARG", "variable must be None, 'padded' or "
                                       "'ragged', not %r" % (variable,))
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.seed = int(np.random.SeedSequence().entropy % (1 << 63)) if seed is None else int(seed)
        self.variable, self.pad_value = variable, pad_value
        self._orders = {}
        self.n = len(self.cache)
        for f in self.fields:
            self._check_field(f)
        self._native = _NativeGather(self.path) if native else None
        if self._native is not None and not self._native.available():
            self._native = None

    def _check_field(self, f):
        """Up-front checks, so that a bad field fails here with its name, not in a framework's
        worker thread: variable shapes need a choice, and their index must be sound."""
        if f.variable:
            if self.variable is None:
                shapes = [f.sample_shape(i) for i in range(min(self.n, 2))]
                raise WrongKindError(
                    "WRONG_KIND", "field '%s' has variable-shape samples (%s): batching needs "
                    "variable='padded' or variable='ragged'" % (f.name, ", ".join(
                        "sample %d: %s" % (i, s) for i, s in enumerate(shapes)) or "no samples"))
            self.cache._verify_var_index(f)   # INDEX error naming field and sample
        elif f.compressed:
            self.cache._verify_block_index(f)

    # ---- order -------------------------------------------------------------------------------
    def __len__(self):
        """Batches per epoch."""
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def order(self, epoch=0):
        """The sample order of `epoch` (int64 array of N sample numbers): the C engine's.
        The last two epochs' orders are kept (batch_indices asks once per batch)."""
        epoch = int(epoch)
        cached = self._orders.get(epoch)
        if cached is None:
            cached = (engine_order(self.n, self.seed, epoch) if self.shuffle
                      else np.arange(self.n, dtype=np.int64))
            self._orders = {k: v for k, v in self._orders.items() if k == epoch - 1}
            self._orders[epoch] = cached
        return cached

    def batch_indices(self, epoch, b, order=None):
        """Sample numbers of batch b of `epoch` (pass `order` to avoid recomputing it)."""
        if b < 0 or b >= len(self):
            raise IndexError("batch %d out of range (%d batches)" % (b, len(self)))
        order = self.order(epoch) if order is None else order
        return order[b * self.batch_size:(b + 1) * self.batch_size]

    def epoch(self, epoch=0, prefetch=2):
        """The batches of one epoch, in order, as {name: ndarray} (or list for ragged). The next
        `prefetch` batches are gathered ahead in threads (tc_gather runs without the GIL)."""
        order = self.order(epoch)
        todo = iter(range(len(self)))
        with ThreadPoolExecutor(max(1, prefetch)) as pool:
            ahead = deque(pool.submit(self.gather, self.batch_indices(epoch, b, order))
                          for b in itertools.islice(todo, max(1, prefetch)))
            while ahead:
                batch = ahead.popleft().result()
                for b in itertools.islice(todo, 1):
                    ahead.append(pool.submit(self.gather, self.batch_indices(epoch, b, order)))
                yield batch

    # ---- data --------------------------------------------------------------------------------
    def batch_shape(self, f, static=True):
        """Shape of field f's batches: None for the batch axis when a last batch may be partial,
        None for a variable dimension."""
        lead = self.batch_size if (self.drop_last or self.n % self.batch_size == 0) else None
        return (lead,) + tuple(f.shape)

    def gather(self, idx):
        """{name: batch} for sample numbers idx."""
        idx = np.asarray(idx, dtype=np.int64)
        return {f.name: self._gather_field(f, idx) for f in self.fields}

    def _gather_field(self, f, idx):
        if f.variable:
            samples = [f.sample(i) for i in idx.tolist()]
            return samples if self.variable == "ragged" else self._pad(f, samples)
        out = aligned_empty((len(idx),) + tuple(f.shape), f.dtype)
        if self._native is not None:
            return self._native(f, idx, out)
        return f.gather(idx, out=out)

    def _pad(self, f, samples):
        top = tuple(max(s.shape[k] for s in samples) if samples else 0 for k in range(f.rank))
        out = aligned_empty((len(samples),) + top, f.dtype)
        out[...] = np.asarray(self.pad_value).astype(f.dtype) if f.dtype_name != "bf16" else 0
        for k, s in enumerate(samples):
            out[(k,) + tuple(slice(0, d) for d in s.shape)] = s
        return out

    def __getstate__(self):
        state = self.__dict__.copy()
        state["cache"] = None  # the path travels, never the mapping
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.cache = reader.open(self.path)
        self.fields = [self.cache.field(n) for n in self.names]
