"""DLPack export of cache views: ``torch.from_dlpack``, ``jax.dlpack.from_dlpack`` and
``tf.experimental.dlpack.from_dlpack`` take a field, a sample or a range without copying.

    v = cache.dlpack("image")            # the whole field; cache.dlpack("image", 5) one sample
    t = torch.from_dlpack(v)             # zero copy, marked read-only (DLPack 1.0)
    j = jax.dlpack.from_dlpack(v)        # JAX asks for DLPack 0.x: a copy (see below)
    x = tf.experimental.dlpack.from_dlpack(v.__dlpack__())

A view of a read-only mapping can only be shared with a consumer that understands DLPack 1.0's
read-only flag: it asks with ``max_version >= (1, 0)`` (PyTorch 2.x does). A consumer that asks
for an older DLPack (JAX 0.10, TensorFlow's capsule API) gets a private copy, or BufferError with
the reason when it passes ``copy=False``. A cache opened with ``copy_on_write=True`` has
writable views: every consumer gets them without a copy (a write changes a private page, never
the file). A view not 64-byte aligned (a sample inside a field whose stride is not a multiple of
64) is always copied, to an aligned buffer: TensorFlow aborts the process on less. bf16 travels as DLPack's bfloat16 through PyTorch (NumPy cannot export it); without
PyTorch it raises BufferError.
"""

import numpy as np

_CPU = (1, 0)  # (kDLCPU, device 0)
_ALIGN = 64    # TensorFlow aborts the process on less (EIGEN_MAX_ALIGN_BYTES); JAX copies


def _aligned_copy(a):
    from ._batching import aligned_empty
    out = aligned_empty(a.shape, a.dtype)
    out[...] = a
    return out


class DLPackView:
    """A cache view (ndarray) with the DLPack protocol. ``what`` says which field and samples
    it holds, for error messages; ``array`` is the view itself."""

    def __init__(self, array, dtype_name, what):
        self.array = array
        self.dtype_name = dtype_name
        self.what = what

    def __repr__(self):
        return "<DLPackView %s %s %s>" % (self.what, self.dtype_name, self.array.shape)

    @property
    def shape(self):
        return self.array.shape

    def __array__(self, dtype=None, copy=None):
        a = self.array
        return a if dtype is None else a.astype(dtype)

    def __dlpack_device__(self):
        return _CPU

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if dl_device is not None and tuple(dl_device) != _CPU:
            raise BufferError("%s: tensorcache views live in CPU memory; device %r was asked"
                              % (self.what, tuple(dl_device)))
        a = self.array
        why = self._no_share(a, max_version)
        if why and copy is False:
            raise BufferError("%s: %s; allow a copy (copy=None or True)" % (self.what, why))
        if why or copy:
            a = _aligned_copy(a)
        if self.dtype_name == "bf16":
            return self._bf16(a, max_version)
        kw = {} if max_version is None else {"max_version": max_version}
        return a.__dlpack__(stream=stream, **kw)

    @staticmethod
    def _no_share(a, max_version):
        """Why the view itself cannot be handed over (None when it can)."""
        if not a.flags.writeable and (max_version is None or tuple(max_version) < (1, 0)):
            return ("the view is read-only and the consumer asked for DLPack %s, which cannot "
                    "mark it read-only (use a DLPack 1.0 consumer, or open the cache with "
                    "copy_on_write=True)" % ("0.x" if max_version is None
                                             else "%d.%d" % tuple(max_version)))
        if a.ctypes.data % _ALIGN:
            return ("the view starts at an address that is not %d-byte aligned, which "
                    "consumers such as TensorFlow require" % _ALIGN)
        return None

    def _bf16(self, a, max_version):
        try:
            import torch
        except ImportError:
            raise BufferError("%s: bf16 is exported through PyTorch (NumPy has no bfloat16), "
                              "which is not installed" % self.what) from None
        if not a.flags.writeable:
            a = _aligned_copy(a)   # torch tensors cannot be read-only
        t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        kw = {} if max_version is None else {"max_version": max_version}
        return t.__dlpack__(**kw)
