"""The examples in examples/ run, and say what they did (and that they fell back to NumPy when
TensorFlow is absent)."""

import importlib.util
import os
import unittest

from . import tcfile

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = os.path.join(REPO, "examples")
FMNIST = "/usr/share/datasets/fashion-mnist"

HAVE_TF = importlib.util.find_spec("tensorflow") is not None


class ExamplesTest(unittest.TestCase):
    def run_example(self, name, *args):
        tmp = tcfile.TempDir()
        try:
            r = tcfile.run_python([os.path.join(EXAMPLES, name), "--out", tmp.path] + list(args),
                                  timeout=300)
            self.assertEqual(r.returncode, 0, "%s failed:\n%s\n%s" % (name, r.stdout, r.stderr))
            self.assertNotIn("MISMATCH", r.stdout)
            if HAVE_TF:
                self.assertIn("TensorFlow:", r.stdout)
            else:
                self.assertIn("falls back to NumPy", r.stdout)
                self.assertIn("NumPy:", r.stdout)
            return r.stdout
        finally:
            tmp.cleanup()

    def test_tabular(self):
        out = self.run_example("tabular_torch_to_tf.py", "--rows", "6000")
        self.assertIn("packed 6000 rows x 32 features", out)
        self.assertIn("cache equals the DataLoader's data: OK", out)

    def test_streamed(self):
        out = self.run_example("streamed_dataset_to_tf.py", "--samples", "1500")
        self.assertIn("streamed 1500 samples", out)
        self.assertIn("stored NHWC: OK", out)

    @unittest.skipUnless(os.path.exists(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")),
                         "Fashion-MNIST is not installed at %s" % FMNIST)
    def test_image_nchw_to_nhwc(self):
        out = self.run_example("image_nchw_to_nhwc.py", "--split", "t10k", "--limit", "4000")
        self.assertIn("(1000, 1, 28, 28) (NCHW)", out)
        self.assertIn("(4000, 28, 28, 1) layout NHWC", out)
        self.assertIn("bit for bit: OK", out)


if __name__ == "__main__":
    unittest.main()
