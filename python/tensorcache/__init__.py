"""tensorcache: one cache file per dataset, channels-last, mapped read-only, sliced without copying.

Reading needs NumPy and the standard library only::

    import tensorcache
    with tensorcache.open("fmnist.tc") as c:
        images = c["image"]          # (N, 28, 28, 1) uint8, a view of the mapping: no copy
        labels = c["label"]
        batch = c[[3, 1, 4, 1, 5]]   # {"image": (5, 28, 28, 1), "label": (5,)}: one gather

Writing goes through libtensorcache (ctypes): :func:`pack`, :func:`pack_batches`,
:func:`pack_torch`. Adapters: :mod:`tensorcache.torch_data` (PyTorch Dataset/DataLoader),
:mod:`tensorcache.tf_data` (tf.data), :mod:`tensorcache.keras_data` (Keras 3 PyDataset, any
backend), :mod:`tensorcache.jax_data` (jax.Array batches, Grain source); ``cache.dlpack(name)``
hands views to any DLPack consumer. The file format is docs/FORMAT.md.
"""

from ._errors import (ERROR_CODES, Error, FormatError, InvalidArgumentError, NativeLibraryError,
                      NotFoundError, OutputExistsError, OutputRefusedError, RangeError,
                      SampleMismatchError, TCIOError, WrongKindError)
from .reader import Cache, Field, open
from ._codecs import backends

__version__ = "0.1.0"


def verify(path):
    """Full validation of the file at `path` (every checksum, index entry, block, padding).
    Raises FormatError with the C library's error code; returns None when the file is sound."""
    with open(path, verify=True):
        pass


def __getattr__(name):
    # The writer needs libtensorcache; import it lazily so that the reader works without it.
    if name in ("pack", "pack_batches", "pack_torch", "Writer"):
        from . import writer
        return getattr(writer, name)
    if name in ("Loader", "shuffle_index"):  # the C batch engine (libtensorcache)
        from . import loader
        return getattr(loader, name)
    raise AttributeError("module 'tensorcache' has no attribute %r" % name)


__all__ = ["open", "verify", "Cache", "Field", "pack", "pack_batches", "pack_torch", "Writer",
           "Loader", "shuffle_index",
           "Error", "FormatError", "TCIOError", "NotFoundError", "RangeError", "WrongKindError",
           "SampleMismatchError", "InvalidArgumentError", "NativeLibraryError", "ERROR_CODES",
           "OutputExistsError", "OutputRefusedError",
           "backends", "__version__"]
