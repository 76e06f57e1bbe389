"""JAX adapter: a Grain random-access source, and batches as jax.Array.

    from tensorcache.jax_data import GrainSource, batches
    for batch in batches("train.tc", batch_size=128, shuffle=True, seed=0, epoch=e):
        state = train_step(state, batch["image"], batch["label"])       # jax.Array

    import grain.python as grain
    loader = grain.DataLoader(data_source=GrainSource("train.tc"),
                              sampler=grain.IndexSampler(n, shuffle=True, seed=0, num_epochs=1),
                              operations=[grain.Batch(128)], worker_count=2)

``batches`` takes each batch from tensorcache's Batcher (_batching.py: the order and data the
TensorFlow and Keras adapters and tensorcache.Loader see), gathered by libtensorcache into a fresh
64-byte-aligned buffer (two batches ahead, in threads, without the GIL), and hands that buffer
to JAX through DLPack: on CPU the jax.Array uses it in place, so
the only copy is the gather itself (a view of the mapped file cannot be handed over: JAX asks for
DLPack < 1.0, which has no read-only flag). ``device=`` puts batches on another device instead
(one transfer).

JAX without ``jax_enable_x64`` has no 64-bit types and would silently narrow them: a u64, i64 or
f64 field then raises InvalidArgumentError naming the field (enable x64, or cast when packing).
bf16 fields arrive as jnp.bfloat16. Variable-shape fields: ``variable="padded"`` (dense, padded
with ``pad_value``) or ``variable="ragged"`` (a list of jax.Array per batch).

``GrainSource(path, fields=None)``: ``len()``, ``source[i]`` -> {name: ndarray} (sample i,
copied out of the mapping so Grain may batch, transform or send it to another process), and it
pickles as its path: each Grain worker process maps the file itself, and the page cache holds
one copy for all of them.
"""

import os

import numpy as np

from . import _batching, reader
from ._errors import InvalidArgumentError

__all__ = ["GrainSource", "batches", "check_dtypes"]

_WIDE = ("u64", "i64", "f64")


def check_dtypes(fields):
    """InvalidArgumentError naming the first field whose dtype this JAX cannot hold."""
    import jax
    if jax.config.jax_enable_x64:
        return
    for f in fields:
        if f.dtype_name in _WIDE:
            raise InvalidArgumentError(
                "INVALID_ARG", "field '%s' is %s, which JAX holds only with jax_enable_x64 "
                "(it would narrow it to 32 bits from sample 0 on): set "
                "jax.config.update('jax_enable_x64', True), or pick other fields"
                % (f.name, f.dtype_name))


def _to_jax(a, f, device):
    import jax
    if isinstance(a, list):
        return [_to_jax(s, f, device) for s in a]
    a = _batching.with_bfloat16(a, f)
    if device is not None:
        return jax.device_put(a, device)
    if f.dtype_name == "bf16" or a.dtype == np.bool_ or not a.flags.writeable:
        return jax.numpy.asarray(a)   # NumPy cannot export these through DLPack (a ragged
                                      # sample is a read-only view of the file: copied)
    return jax.dlpack.from_dlpack(a)  # in place: a fresh, aligned, writable buffer


def batches(path, batch_size, shuffle=False, seed=None, fields=None, drop_last=False, epoch=0,
            variable=None, pad_value=0, device=None):
    """Yields one epoch of batches {name: jax.Array} (epoch `epoch` of the seeded order)."""
    b = _batching.Batcher(path, fields, batch_size, shuffle=shuffle, seed=seed,
                          drop_last=drop_last, variable=variable, pad_value=pad_value)
    check_dtypes(b.fields)
    for batch in b.epoch(epoch):
        yield {f.name: _to_jax(batch[f.name], f, device) for f in b.fields}


class GrainSource:
    """A Grain random-access data source over a cache (see module doc)."""

    def __init__(self, path, fields=None):
        self.path = os.fspath(path)
        self._cache = None
        self._pid = None
        c = self._get()
        self.fields = list(c.field_names if fields is None else fields)
        for n in self.fields:
            c.field(n)   # NotFoundError naming the field, now
        self._len = len(c)

    def _get(self):
        if self._cache is None or self._pid != os.getpid():
            self._cache = reader.open(self.path)
            self._pid = os.getpid()
        return self._cache

    def __len__(self):
        return self._len

    def __getitem__(self, i):
        c = self._get()
        out = {}
        for n in self.fields:
            f = c.field(n)
            a = np.array(f.sample(i))   # a copy: Grain owns and may ship what we return
            out[n] = _batching.with_bfloat16(a, f)
        return out

    def __getstate__(self):
        return {"path": self.path, "fields": self.fields, "_len": self._len,
                "_cache": None, "_pid": None}

    def __repr__(self):
        return "GrainSource(%r, fields=%r)" % (self.path, self.fields)
