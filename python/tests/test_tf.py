"""TensorFlow adapter (tensorcache.tf_data): values equal the source bytes, static shapes and
dtypes, seeded per-epoch shuffles, ragged and padded variable fields, Keras Model.fit, and bad
input raising tensorcache errors that name field and sample."""

import unittest

import numpy as np
import tensorflow as tf

import tensorcache
from tensorcache import tf_data

from . import fwdata


class TFDataTest(fwdata.CacheTest):
    def test_values_dtypes_static_shapes(self):
        ds = tf_data.dataset(self.path, ["x", "y", "h", "u", "q"], batch_size=10)
        spec = ds.element_spec
        self.assertEqual(spec["x"].shape.as_list(), [10, 4, 4, 2])  # 50 % 10 == 0: static
        self.assertEqual({k: spec[k].dtype for k in spec},
                         {"x": tf.float32, "y": tf.int32, "h": tf.bfloat16, "u": tf.uint16,
                          "q": tf.uint64})
        got = {k: [] for k in spec}
        for b in ds:
            for k in spec:
                a = b[k]
                got[k].append(tf.bitcast(a, tf.uint16).numpy() if k == "h" else a.numpy())
        for k in spec:
            want = self.src[k].view(np.uint16) if k == "h" else self.src[k]
            self.assertEqual(np.concatenate(got[k]).tobytes(), want.tobytes(), k)
        partial = tf_data.dataset(self.path, ["x"], batch_size=16)
        self.assertEqual(partial.element_spec["x"].shape.as_list(), [None, 4, 4, 2])
        self.assertEqual(len(partial), 4)
        dropped = tf_data.dataset(self.path, ["x"], batch_size=16, drop_remainder=True)
        self.assertEqual(dropped.element_spec["x"].shape.as_list(), [16, 4, 4, 2])
        self.assertEqual(sum(1 for _ in dropped), 3)

    def test_seeded_shuffle(self):
        def epochs(seed, k=2):
            ds = tf_data.dataset(self.path, ["x", "y"], batch_size=16, shuffle=True, seed=seed)
            out = []
            for _ in range(k):
                ys, xs = [], []
                for b in ds:
                    ys.append(b["y"].numpy())
                    xs.append(b["x"].numpy())
                ys = np.concatenate(ys)
                np.testing.assert_array_equal(np.concatenate(xs), self.src["x"][ys])
                out.append(ys.tolist())
            return out
        a, b = epochs(7), epochs(7)
        self.assertEqual(a, b)                 # same seed, same epochs
        self.assertNotEqual(a[0], a[1])        # reshuffled each epoch
        self.assertNotEqual(a[0], list(range(fwdata.N)))
        for ys in a:
            fwdata.check_epoch(self, ys)
        self.assertNotEqual(epochs(8, 1)[0], a[0])

    def test_variable_ragged_and_padded(self):
        ds = tf_data.dataset(self.path, ["v", "y"], batch_size=8, variable="ragged")
        rows = []
        for b in ds:
            self.assertIsInstance(b["v"], tf.RaggedTensor)
            rows.extend(r.tolist() for r in b["v"].numpy())
        self.assertEqual(rows, [v.tolist() for v in self.src["v"]])
        ds = tf_data.dataset(self.path, ["v"], batch_size=8, variable="padded", pad_value=255)
        b = next(iter(ds))["v"].numpy()
        self.assertEqual(b.shape, (8, 4))
        np.testing.assert_array_equal(b[1], [1, 1, 255, 255])

    def test_keras_fit(self):
        import keras
        ds = tf_data.dataset(self.path, ["x", "y"], batch_size=10, shuffle=True, seed=0,
                             as_dict=False)
        model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(),
                                  keras.layers.Dense(50, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        hist = model.fit(ds, epochs=2, verbose=0)
        self.assertEqual(len(hist.history["loss"]), 2)
        self.assertTrue(np.isfinite(hist.history["loss"]).all())

    def test_no_data_in_graph(self):
        ds = tf_data.dataset(self.path, ["x", "y", "u"], batch_size=10)
        graph = ds._as_serialized_graph().numpy()
        self.assertNotIn(self.src["x"][3].tobytes(), graph)
        self.assertNotIn(self.src["u"].tobytes()[:60], graph)

    def test_bad_input_names_field_and_sample(self):
        with self.assertRaises(tensorcache.NotFoundError) as cm:
            tf_data.dataset(self.path, ["x", "nope"], batch_size=4)
        self.assertIn("nope", str(cm.exception))
        with self.assertRaises(tensorcache.WrongKindError) as cm:
            tf_data.dataset(self.path, ["v"], batch_size=4)
        self.assertIn("'v'", str(cm.exception))
        self.assertIn("sample 0", str(cm.exception))
        bad = fwdata.corrupt_var_index(self.path, self.tmp("bad.tc"), sample=7)
        with self.assertRaises(tensorcache.FormatError) as cm:
            tf_data.dataset(bad, ["v"], batch_size=4, variable="ragged")
        self.assertEqual(cm.exception.code, "INDEX")
        self.assertIn("'v'", str(cm.exception))
        self.assertIn("7", str(cm.exception))
        with self.assertRaises(tensorcache.InvalidArgumentError):
            tf_data.dataset(self.path, ["v"], batch_size=4, variable="stretch")


if __name__ == "__main__":
    unittest.main()
