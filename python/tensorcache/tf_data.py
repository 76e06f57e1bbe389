"""TensorFlow adapter: a tf.data.Dataset of batches read from a cache, never embedded in the graph.

    from tensorcache.tf_data import dataset
    ds = dataset("train.tc", batch_size=256, shuffle=True, seed=0)   # {"image": ..., "label": ...}
    model.fit(dataset("train.tc", ("image", "label"), batch_size=256, as_dict=False), epochs=3)

``from_tensor_slices(big_array)`` copies the data into the graph as a constant (and fails past
2 GB); ``from_generator`` runs Python per element under the GIL. Here only batch NUMBERS flow
through the pipeline: ``range(batches)`` is mapped, in parallel and in deterministic order,
through one ``tf.numpy_function`` per batch that asks tensorcache's Batcher (_batching.py) for
the batch: libtensorcache's ``tc_gather`` copies each fixed-shape field out of the mapped file
with the GIL released (ctypes), so TensorFlow's map threads copy in parallel. Chosen by measuring
one shuffled Fashion-MNIST epoch (float32, batch 256) on the 2-core machine, all variants in
one run: this design ~730 batches/s; ``from_generator`` over tensorcache.Loader (the C
engine's threads, one consumer) ~210-350; ``from_tensor_slices`` of the array in memory ~110
(bench/ has the figures from a quiet machine). The graph holds no data (a 2+ GiB cache works:
``make test-large``). Output dtypes are the cache's (bf16 as tf.bfloat16, uint16/32/64 as
such), batch shapes static where the cache knows them (the batch axis is static when every
batch is full: ``drop_remainder=True`` or N divisible by the batch size).

Shuffling: epoch e's order is the C engine's permutation for (seed, e) (tensorcache.shuffle_index,
the order tensorcache.Loader uses), reshuffled each time the dataset is iterated again (each
Keras epoch); the same seed gives the same epochs.

Variable-shape fields: ``variable="ragged"`` gives tf.RaggedTensor batches (ragged in the
variable dimensions), ``variable="padded"`` dense batches padded to each batch's largest sample
with ``pad_value``; without a choice, dataset() raises WrongKindError naming the field.
Errors: a bad field name, a variable field without a choice or a damaged index raise a
tensorcache error when dataset() is called; an error found while iterating (e.g. a corrupt LZ4
block) surfaces as TensorFlow's error carrying tensorcache's message (code, field, samples).
"""

import itertools

import numpy as np

from . import _batching

__all__ = ["dataset", "signature"]

# tensorcache dtype name -> TensorFlow dtype name (bf16 travels as uint16 bits, then bitcast)
_TF_DTYPES = {"bool": "bool", "u8": "uint8", "i8": "int8", "u16": "uint16", "i16": "int16",
              "u32": "uint32", "i32": "int32", "u64": "uint64", "i64": "int64",
              "f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64"}


def signature(batcher):
    """{name: (shape, tf dtype name)} of the batches of a Batcher; None marks an unknown dim."""
    return {f.name: (batcher.batch_shape(f), _TF_DTYPES[f.dtype_name]) for f in batcher.fields}


def _bits(a, f):
    """bf16 crosses numpy_function as uint16 bits (NumPy has no bfloat16)."""
    return a.view(np.uint16) if f.dtype_name == "bf16" else a


def _ragged_parts(samples, f):
    """A list of variable-shape samples -> [flat values, row lengths of each ragged level]."""
    rank = f.rank
    last_var = max(k for k, s in enumerate(f.shape) if s is None)
    inner = tuple(f.shape[last_var + 1:])
    lengths = []
    for level in range(last_var + 1):
        # level k: each row of dims 0..k-1 of every sample holds shape[k] rows
        lengths.append(np.array([s.shape[level] for s in samples
                                 for _ in range(int(np.prod(s.shape[:level], dtype=np.int64)))],
                                np.int64))
    values = (np.concatenate([np.ascontiguousarray(s).reshape((-1,) + inner) for s in samples])
              if samples else np.empty((0,) + inner, f.dtype))
    assert rank >= 1
    return [_bits(values, f)] + lengths


def dataset(source, fields=None, batch_size=32, shuffle=False, seed=None, drop_remainder=False,
            variable=None, pad_value=0, as_dict=True, prefetch=True, num_parallel_calls=None):
    """A tf.data.Dataset of batches over a cache file (path or open Cache).

    fields: names to produce (default all). shuffle/seed: per-epoch order (see module doc).
    drop_remainder: drop a last partial batch (makes the batch axis static). variable: None,
    "ragged" or "padded" for variable-shape fields; pad_value fills padding. as_dict: yield
    {name: tensor}, else a tuple in `fields` order (e.g. (image, label) for Model.fit).
    num_parallel_calls: map parallelism (default tf.data.AUTOTUNE).
    """
    import tensorflow as tf

    b = _batching.Batcher(source, fields, batch_size, shuffle=shuffle, seed=seed,
                          drop_last=drop_remainder, variable=variable, pad_value=pad_value)
    sig = signature(b)
    ragged = {f.name for f in b.fields if f.variable and variable == "ragged"}
    tout = []
    for f in b.fields:
        dt = tf.uint16 if f.dtype_name == "bf16" else tf.as_dtype(sig[f.name][1])
        levels = max(k for k, s in enumerate(f.shape) if s is None) + 1 if f.name in ragged else 0
        tout.extend([dt] + [tf.int64] * levels)

    epochs = itertools.count()

    def gather(epoch, number):
        out = []
        for f, a in zip(b.fields, b.gather(b.batch_indices(int(epoch), int(number))).values()):
            out.extend(_ragged_parts(a, f) if f.name in ragged else [_bits(a, f)])
        return out

    def load(epoch, number):
        flat = tf.numpy_function(gather, [epoch, number], tout, stateful=False)
        out, k = [], 0
        for f in b.fields:
            shape, _ = sig[f.name]
            if f.name in ragged:
                levels = max(j for j, s in enumerate(f.shape) if s is None) + 1
                values, lengths = flat[k], flat[k + 1:k + 1 + levels]
                k += 1 + levels
                values.set_shape((None,) + shape[levels + 1:])
                if f.dtype_name == "bf16":
                    values = tf.bitcast(values, tf.bfloat16)
                t = tf.RaggedTensor.from_nested_row_lengths(values, list(lengths), validate=False)
            else:
                t = flat[k]
                k += 1
                if f.dtype_name == "bf16":
                    t = tf.bitcast(t, tf.bfloat16)
                t.set_shape(shape)
            out.append(t)
        return dict(zip(b.names, out)) if as_dict else tuple(out)

    # One element per iteration (the epoch number, from Python: re-run for every new iterator),
    # then that epoch's batch numbers: the order changes per epoch and only numbers flow.
    nb = len(b)
    ds = tf.data.Dataset.from_generator(lambda: iter([next(epochs)]),
                                        output_signature=tf.TensorSpec((), tf.int64))
    ds = ds.flat_map(lambda e: tf.data.Dataset.range(nb).map(lambda i: (e, i)))
    ds = ds.apply(tf.data.experimental.assert_cardinality(nb))
    par = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
    ds = ds.map(load, num_parallel_calls=par, deterministic=True)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds
