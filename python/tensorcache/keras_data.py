"""Keras 3 adapter: a ``keras.utils.PyDataset`` over a cache, for any Keras backend.

    from tensorcache.keras_data import CacheDataset
    train = CacheDataset("train.tc", x="image", y="label", batch_size=128, shuffle=True, seed=0)
    model.fit(train, epochs=3)          # KERAS_BACKEND=tensorflow, jax or torch

Each item is one batch from tensorcache's Batcher (_batching.py, the same order and data as
tf_data and jax_data): NumPy arrays gathered by libtensorcache with the GIL released, which
Keras hands to its backend. ``workers=N`` (threads; Keras' PyDataset option) gathers N batches
in parallel. The order is reshuffled after every epoch (``on_epoch_end``): epoch e visits the
permutation seeded by (seed, e).

x / y: a field name, a list of names (a list of arrays) or None (y only). bf16 fields arrive as
``ml_dtypes.bfloat16`` arrays (Keras' own bfloat16 type). Variable-shape fields need
``variable="padded"`` (Keras batches are dense). Errors are tensorcache errors naming the field.
"""

import keras

from . import _batching
from ._errors import WrongKindError

__all__ = ["CacheDataset"]


def _names(spec):
    if spec is None:
        return []
    return [spec] if isinstance(spec, str) else list(spec)


class CacheDataset(keras.utils.PyDataset):
    """Batches (x, y) or (x,) of a cache for ``Model.fit``/``evaluate``/``predict``.

    path: cache file. x, y: field names (see module doc). batch_size, shuffle, seed,
    drop_last: as in Batcher. variable: None or "padded"; pad_value. Other keyword arguments
    (workers, use_multiprocessing, max_queue_size) go to keras.utils.PyDataset.
    """

    def __init__(self, path, x, y=None, batch_size=32, shuffle=False, seed=None,
                 drop_last=False, variable=None, pad_value=0, **kwargs):
        super().__init__(**kwargs)
        if variable == "ragged":
            raise WrongKindError("WRONG_KIND", "Keras batches are dense: use variable='padded'")
        self.x_names, self.y_names = _names(x), _names(y)
        self._x_single, self._y_single = isinstance(x, str), isinstance(y, str)
        self._b = _batching.Batcher(path, self.x_names + self.y_names, batch_size,
                                    shuffle=shuffle, seed=seed, drop_last=drop_last,
                                    variable=variable, pad_value=pad_value)
        self.epoch = 0
        self._order = self._b.order(0)

    @property
    def num_batches(self):
        return len(self._b)

    def __len__(self):
        return len(self._b)

    def __getitem__(self, i):
        if i < 0:
            i += len(self)
        batch = self._b.gather(self._b.batch_indices(self.epoch, i, self._order))
        by_name = {f.name: _batching.with_bfloat16(batch[f.name], f) for f in self._b.fields}
        x = [by_name[n] for n in self.x_names]
        x = x[0] if self._x_single else x
        if not self.y_names:
            return (x,)
        y = [by_name[n] for n in self.y_names]
        return x, (y[0] if self._y_single else y)

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._b.order(self.epoch)

    def order(self, epoch=None):
        """The sample order of `epoch` (default: the current one)."""
        return self._b.order(self.epoch if epoch is None else epoch)
