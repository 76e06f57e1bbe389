"""DLPack export of cache views (Cache.dlpack / Field.dlpack): torch.from_dlpack,
jax.dlpack.from_dlpack and tf.experimental.dlpack.from_dlpack see the source bytes; PyTorch
(DLPack 1.0, read-only flag) takes the read-only mapping without a copy; older consumers get a
copy, or a clear BufferError when they refuse copies; copy-on-write views go to all without one."""

import unittest
import warnings

import jax
import numpy as np
import tensorflow as tf
import torch

import tensorcache

from . import fwdata


class DLPackTest(fwdata.CacheTest):
    def test_three_frameworks_same_bytes(self):
        with tensorcache.open(self.path) as c:
            for name in ("x", "u", "q"):
                v = c.dlpack(name)
                self.assertEqual(v.__dlpack_device__(), (1, 0))
                with warnings.catch_warnings():
                    warnings.simplefilter("error")   # no non-writable warning
                    t = torch.from_dlpack(v)
                self.assertEqual(t.data_ptr(), c[name].ctypes.data, name)   # zero copy
                j = jax.dlpack.from_dlpack(c.dlpack(name))
                x = tf.experimental.dlpack.from_dlpack(c.dlpack(name).__dlpack__())
                want = self.src[name].tobytes()
                # JAX without x64 narrows u64 to 32 bits itself (jax_data refuses such fields)
                views = (t, x) if name == "q" else (t, j, x)
                for got in (np.asarray(a) if isinstance(a, jax.Array) else a.numpy()
                            for a in views):
                    self.assertEqual(got.tobytes(), want, name)
            h = c.dlpack("h", slice(0, 10))
            bits = self.src["h"].view(np.uint16)[:10]
            self.assertEqual(torch.from_dlpack(h).view(torch.int16).numpy().view(np.uint16)
                             .tolist(), bits.tolist())
            self.assertEqual(np.asarray(jax.dlpack.from_dlpack(h)).view(np.uint16).tolist(),
                             bits.tolist())
            self.assertEqual(tf.bitcast(tf.experimental.dlpack.from_dlpack(h.__dlpack__()),
                                        tf.uint16).numpy().tolist(), bits.tolist())
            s = c.dlpack("x", 3)
            self.assertEqual(torch.from_dlpack(s).numpy().tobytes(), self.src["x"][3].tobytes())

    def test_read_only_needs_dlpack1_or_a_copy(self):
        with tensorcache.open(self.path) as c:
            v = c.dlpack("x")
            with self.assertRaises(BufferError) as cm:
                v.__dlpack__(copy=False)
            self.assertIn("field 'x'", str(cm.exception))
            self.assertIn("read-only", str(cm.exception))
            v.__dlpack__(max_version=(1, 0), copy=False)   # flagged read-only: fine
            with self.assertRaises(BufferError):
                v.__dlpack__(dl_device=(2, 0))

    def test_copy_on_write_views_shared_with_all(self):
        with tensorcache.open(self.path, copy_on_write=True) as c:
            j = jax.dlpack.from_dlpack(c.dlpack("x"))
            self.assertEqual(j.unsafe_buffer_pointer(), c["x"].ctypes.data)
            x = tf.experimental.dlpack.from_dlpack(c.dlpack("x").__dlpack__(copy=False))
            self.assertEqual(x.numpy().tobytes(), self.src["x"].tobytes())
            # sample 1 of 'u' (6 bytes in) is not 64-byte aligned: copied rather than shared
            with self.assertRaises(BufferError):
                c.dlpack("u", 1).__dlpack__(copy=False)
            self.assertEqual(tf.experimental.dlpack.from_dlpack(c.dlpack("u", 1).__dlpack__())
                             .numpy().tolist(), self.src["u"][1].tolist())


if __name__ == "__main__":
    unittest.main()
