"""TensorFlow adapter. TensorFlow cannot be installed on the project's machines: the pipeline tests
skip with the reason; the parts that need no TensorFlow (output signature, in-graph gather
function) are tested everywhere."""

import unittest

import numpy as np

import tensorcache
from tensorcache import tf_data

from . import tcfile

try:
    import tensorflow as tf
    _TF_REASON = None
except ImportError as e:
    tf = None
    _TF_REASON = "tensorflow is not importable (%s); the tf.data pipeline is untested here" % e


class TFDataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()
        cls.path = cls.tmp("tf.tc")
        cls.x = np.arange(50 * 4 * 4 * 2, dtype=np.float32).reshape(50, 4, 4, 2)
        cls.y = (np.arange(50) % 3).astype(np.int64)
        cls.h = (np.arange(50, dtype=np.uint16) + 0x3F00).view("V2")
        with tensorcache.Writer(cls.path) as w:
            w.add_field("x", "f32", (4, 4, 2), layout="NHWC")
            w.add_field("y", "i64", ())
            w.add_field("h", "bf16", ())
            w.add_field("v", "u8", (None,))
            w.append_batch([cls.x, cls.y, cls.h, [np.ones(i % 3, np.uint8) for i in range(50)]])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_signature(self):
        sig = tf_data.signature(self.path, ["x", "y", "h"])
        self.assertEqual(sig, {"x": ((4, 4, 2), "float32"), "y": ((), "int64"),
                               "h": ((), "bfloat16")})
        sig = tf_data.signature(self.path, ["x", "y"], batch_size=8)
        self.assertEqual(sig["x"], ((None, 4, 4, 2), "float32"))
        sig = tf_data.signature(self.path, ["y"], batch_size=8, drop_remainder=True)
        self.assertEqual(sig["y"], ((8,), "int64"))
        self.assertEqual(tf_data.signature(self.path, ["v"])["v"], ((None,), "uint8"))
        with self.assertRaises(tensorcache.WrongKindError):
            tf_data.signature(self.path, ["v"], batch_size=4)

    def test_gather_function(self):
        g = tf_data.make_gather(self.path, ["x", "y", "h"])
        x, y, h = g(np.array([4, 0, 49]))
        np.testing.assert_array_equal(x, self.x[[4, 0, 49]])
        np.testing.assert_array_equal(y, self.y[[4, 0, 49]])
        self.assertEqual(h.dtype, np.uint16)  # bf16 bits travel as uint16, bitcast in-graph
        np.testing.assert_array_equal(h, self.h[[4, 0, 49]].view(np.uint16))
        x1, y1, h1 = g(np.int64(7))
        np.testing.assert_array_equal(x1, self.x[7])
        self.assertEqual(y1.shape, ())
        self.assertTrue(x1.flags.writeable and x1.flags.c_contiguous)

    @unittest.skipIf(tf is None, _TF_REASON)
    def test_batched_shuffled_pipeline(self):  # pragma: no cover - needs TensorFlow
        ds = tf_data.dataset(self.path, fields=["x", "y"], batch_size=16, shuffle=True, seed=1)
        self.assertEqual(ds.element_spec["x"].shape.as_list(), [None, 4, 4, 2])
        seen = []
        for b in ds:
            xb, yb = b["x"].numpy(), b["y"].numpy()
            idx = (xb[:, 0, 0, 0] // 32).astype(int)
            np.testing.assert_array_equal(xb, self.x[idx])
            np.testing.assert_array_equal(yb, self.y[idx])
            seen.extend(idx.tolist())
        self.assertEqual(sorted(seen), list(range(50)))

    @unittest.skipIf(tf is None, _TF_REASON)
    def test_single_samples_and_bf16(self):  # pragma: no cover - needs TensorFlow
        ds = tf_data.dataset(self.path, fields=["h", "v"], as_dict=False)
        for i, (h, v) in enumerate(ds):
            self.assertEqual(h.dtype, tf.bfloat16)
            self.assertEqual(v.shape[0], i % 3)


if __name__ == "__main__":
    unittest.main()
