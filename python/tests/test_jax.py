"""JAX adapter (tensorcache.jax_data): batches of jax.Array equal to the source bytes, handed
over without a copy, seeded shuffles, 64-bit fields refused without x64, and a Grain DataLoader
with worker processes over GrainSource."""

import os
import pickle
import unittest

import jax
import numpy as np

import tensorcache
from tensorcache import _batching, jax_data

from . import fwdata, tcfile

HERE = os.path.dirname(os.path.abspath(__file__))


class JaxTest(fwdata.CacheTest):
    def test_values_and_dtypes(self):
        got = {"x": [], "y": [], "h": [], "u": []}
        for b in jax_data.batches(self.path, 16, fields=list(got)):
            for k in got:
                self.assertIsInstance(b[k], jax.Array)
                got[k].append(np.asarray(b[k]))
        self.assertEqual(got["h"][0].dtype.name, "bfloat16")
        self.assertEqual(got["u"][0].dtype, np.uint16)
        for k in got:
            want = self.src[k].view(np.uint16) if k == "h" else self.src[k]
            a = np.concatenate(got[k])
            self.assertEqual((a.view(np.uint16) if k == "h" else a).tobytes(), want.tobytes())

    def test_no_extra_copy(self):
        b = _batching.Batcher(self.path, ["x"], 16)
        a = b.gather(np.arange(16))["x"]
        self.assertEqual(a.ctypes.data % 64, 0)
        j = jax_data._to_jax(a, b.fields[0], None)
        self.assertEqual(j.unsafe_buffer_pointer(), a.ctypes.data)  # JAX uses the gather buffer

    def test_seeded_shuffle(self):
        def ys(seed, epoch):
            return np.concatenate([np.asarray(b["y"]) for b in jax_data.batches(
                self.path, 16, shuffle=True, seed=seed, fields=["y"], epoch=epoch)]).tolist()
        e0, e1 = ys(4, 0), ys(4, 1)
        self.assertEqual(e0, ys(4, 0))
        self.assertNotEqual(e0, e1)
        fwdata.check_epoch(self, e0)
        fwdata.check_epoch(self, e1)

    def test_variable_fields(self):
        b = next(jax_data.batches(self.path, 8, fields=["v"], variable="padded"))
        self.assertEqual(b["v"].shape, (8, 4))
        np.testing.assert_array_equal(np.asarray(b["v"][2]), [2, 2, 2, 0])
        b = next(jax_data.batches(self.path, 8, fields=["v"], variable="ragged"))
        self.assertEqual([np.asarray(a).tolist() for a in b["v"]],
                         [v.tolist() for v in self.src["v"][:8]])

    def test_bad_input(self):
        self.assertFalse(jax.config.jax_enable_x64)
        with self.assertRaises(tensorcache.InvalidArgumentError) as cm:
            next(jax_data.batches(self.path, 8, fields=["y", "q"]))
        self.assertIn("'q'", str(cm.exception))
        self.assertIn("jax_enable_x64", str(cm.exception))
        with self.assertRaises(tensorcache.NotFoundError):
            next(jax_data.batches(self.path, 8, fields=["nope"]))
        with self.assertRaises(tensorcache.WrongKindError) as cm:
            next(jax_data.batches(self.path, 8, fields=["v"]))
        self.assertIn("'v'", str(cm.exception))
        bad = fwdata.corrupt_var_index(self.path, self.tmp("bad.tc"), sample=7)
        with self.assertRaises(tensorcache.FormatError) as cm:
            next(jax_data.batches(bad, 8, fields=["v"], variable="padded"))
        self.assertEqual(cm.exception.code, "INDEX")
        self.assertIn("'v'", str(cm.exception))
        with self.assertRaises(tensorcache.FormatError) as cm:
            jax_data.GrainSource(bad, ["v"])[7]
        self.assertIn("7", str(cm.exception))

    def test_grain_source(self):
        s = jax_data.GrainSource(self.path, ["x", "y"])
        self.assertEqual(len(s), fwdata.N)
        s2 = pickle.loads(pickle.dumps(s))
        self.assertLess(len(pickle.dumps(s)), 1000)   # the path, not the data
        np.testing.assert_array_equal(s2[5]["x"], self.src["x"][5])
        r = tcfile.run_python(["-m", "tests.grain_check", self.path], timeout=300,
                              cwd=os.path.dirname(HERE))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-3000:])
        self.assertIn("OK", r.stdout)


if __name__ == "__main__":
    unittest.main()
