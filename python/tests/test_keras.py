"""Keras 3 PyDataset over a cache (tensorcache.keras_data) on the TensorFlow, JAX and PyTorch
backends: each backend in its own process (keras_check.py), since KERAS_BACKEND is fixed when
keras is imported."""

import os
import unittest

from . import fwdata, tcfile

HERE = os.path.dirname(os.path.abspath(__file__))


class KerasBackendsTest(fwdata.CacheTest):
    def check(self, backend):
        r = tcfile.run_python(["-m", "tests.keras_check", self.path],
                              env_extra={"KERAS_BACKEND": backend}, timeout=300,
                              cwd=os.path.dirname(HERE))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-3000:])
        self.assertIn("OK %s" % backend, r.stdout)

    def test_tensorflow_backend(self):
        self.check("tensorflow")

    def test_jax_backend(self):
        self.check("jax")

    def test_torch_backend(self):
        self.check("torch")


if __name__ == "__main__":
    unittest.main()
