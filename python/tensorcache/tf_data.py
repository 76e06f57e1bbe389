"""TensorFlow adapter: a tf.data.Dataset that reads a cache, without embedding it in the graph.

    from tensorcache.tf_data import dataset
    ds = dataset("train.tc", batch_size=256, shuffle=True, seed=0)   # {"image": ..., "label": ...}
    model.fit(ds, epochs=...)

``tf.data.Dataset.from_tensor_slices(big_numpy_array)`` copies the data into the graph as a
constant (and fails past 2 GB); ``from_generator`` runs one Python call per sample. This builder
starts from ``tf.data.Dataset.range(N)`` (only sample numbers flow through the pipeline),
shuffles and batches those numbers, and turns each batch of numbers into tensors with ONE
``tf.numpy_function`` call that gathers from the mapped file (one NumPy gather per field). The
graph holds no data, so there is no size limit, and the output signature (dtypes and static
shapes) comes from the cache's field table.

TensorFlow is not installable on the project's build machines; this module is kept thin and its
tests skip when ``tensorflow`` is not importable. :func:`signature` and :func:`make_gather` need
no TensorFlow and are tested everywhere.

Variable-shape fields are produced one sample at a time (batch_size=None); batch them yourself
with ``ds.padded_batch(...)`` or ``ds.ragged_batch(...)``.
"""

import numpy as np

from . import reader
from ._errors import WrongKindError

__all__ = ["dataset", "signature", "make_gather"]

# tensorcache dtype name -> TensorFlow dtype name (bf16 travels as uint16 bits, then bitcast)
_TF_DTYPES = {"bool": "bool", "u8": "uint8", "i8": "int8", "u16": "uint16", "i16": "int16",
              "u32": "uint32", "i32": "int32", "u64": "uint64", "i64": "int64",
              "f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64"}


def _open(source):
    return source if isinstance(source, reader.Cache) else reader.open(source)


def signature(source, fields=None, batch_size=None, drop_remainder=False):
    """{name: (shape, tf dtype name)} of what :func:`dataset` yields; shape entries are None
    where unknown (a variable dimension, or the batch axis of a last partial batch)."""
    c = _open(source)
    names = list(fields) if fields is not None else c.field_names
    out = {}
    for n in names:
        f = c.field(n)
        shape = tuple(f.shape)
        if batch_size is not None:
            if f.variable:
                raise WrongKindError("WRONG_KIND", "field '%s' has variable shapes: use "
                                     "batch_size=None and ds.padded_batch()" % n)
            shape = (batch_size if drop_remainder else None,) + shape
        out[n] = (shape, _TF_DTYPES[f.dtype_name])
    return out


def make_gather(source, fields):
    """The NumPy function run inside the graph: sample numbers -> one array per field (bf16 as
    uint16 bits). A batch of numbers gives batched arrays; a scalar number gives one sample."""
    c = _open(source)
    flds = [c.field(n) for n in fields]

    def gather(idx):
        idx = np.asarray(idx)
        out = []
        for f in flds:
            if idx.ndim == 0:
                a = np.array(f.sample(int(idx)), order="C")  # a copy: TF owns what we return
            else:
                a = np.asarray(f.gather(idx), order="C")    # a gather is already a new array
            if f.dtype_name == "bf16":
                a = a.view(np.uint16)
            out.append(a)
        return out

    return gather


def dataset(source, fields=None, batch_size=None, shuffle=False, seed=None,
            reshuffle_each_iteration=True, drop_remainder=False, as_dict=True, prefetch=True):
    """A tf.data.Dataset over a cache file (path or open Cache).

    fields: names to produce (default all). batch_size: None for single samples. shuffle: the
    sample order, reshuffled each epoch (seeded by `seed`); the shuffle buffer holds only sample
    numbers (8 bytes each). as_dict: yield {name: tensor} (else a tuple in `fields` order).
    """
    import tensorflow as tf

    c = _open(source)
    names = list(fields) if fields is not None else c.field_names
    sig = signature(c, names, batch_size, drop_remainder)
    gather = make_gather(c, names)
    tout = [tf.uint16 if sig[n][1] == "bfloat16" else tf.as_dtype(sig[n][1]) for n in names]

    ds = tf.data.Dataset.range(len(c))
    if shuffle:
        ds = ds.shuffle(max(len(c), 1), seed=seed,
                        reshuffle_each_iteration=reshuffle_each_iteration)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def load(idx):
        arrays = tf.numpy_function(gather, [idx], tout, stateful=False)
        out = []
        for n, a in zip(names, arrays):
            if sig[n][1] == "bfloat16":
                a = tf.bitcast(a, tf.bfloat16)
            a.set_shape(sig[n][0])
            out.append(a)
        return dict(zip(names, out)) if as_dict else tuple(out)

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds
