"""pack / pack_batches / Writer: round trips, layout conversion, streaming memory, and bad samples
that must leave no output file."""

import contextlib
import importlib.util
import io
import os
import sys
import unittest
from unittest import mock

import numpy as np

import tensorcache
from tensorcache import _native

from . import tcfile


class WriterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_dict_samples(self):
        rng = np.random.default_rng(0)
        imgs = rng.integers(0, 256, (130, 3, 8, 6), dtype=np.uint8)
        p = self.tmp("dict.tc")
        s = tensorcache.pack(p, ({"image": imgs[i], "label": i % 10, "w": float(i)}
                                 for i in range(130)),
                             layout={"image": "NCHW->NHWC"}, batch_size=32, progress=False)
        self.assertEqual((s.num_samples, s.path), (130, p))
        self.assertEqual(s.file_size, os.path.getsize(p))
        with tensorcache.open(p, verify=True) as c:
            self.assertEqual(c.field_names, ["image", "label", "w"])
            np.testing.assert_array_equal(c["image"], imgs.transpose(0, 2, 3, 1))
            self.assertEqual(c.field("image").layout, "NHWC")
            self.assertEqual(c["label"].dtype, np.int64)
            np.testing.assert_array_equal(c["label"], np.arange(130) % 10)
            self.assertEqual(c["w"].dtype, np.float64)
            self.assertEqual(c.metadata["conversions"], {"image": "NCHW->NHWC"})
            self.assertTrue(c.metadata["tensorcache"]["writer"].startswith("tensorcache-python"))

    def test_tuple_and_single_samples(self):
        p = self.tmp("tuple.tc")
        tensorcache.pack(p, [(np.float32(i), np.arange(3) + i) for i in range(5)],
                         field_names=("x", "y"), progress=False)
        with tensorcache.open(p) as c:
            self.assertEqual(c.field_names, ["x", "y"])
            np.testing.assert_array_equal(c["y"][4], [4, 5, 6])
        p2 = self.tmp("default-names.tc")
        tensorcache.pack(p2, [(1, 2.0)] * 3, progress=False)
        with tensorcache.open(p2) as c:
            self.assertEqual(c.field_names, ["f0", "f1"])
        p3 = self.tmp("single.tc")
        tensorcache.pack(p3, (np.full((2, 2), i, np.int16) for i in range(4)), progress=False)
        with tensorcache.open(p3) as c:
            self.assertEqual(c.field_names, ["data"])
            self.assertEqual(c["data"].shape, (4, 2, 2))

    def test_general_layout_conversion(self):
        vol = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.int32).reshape(2, 3, 4, 5, 6)  # N C D H W
        p = self.tmp("ncdhw.tc")
        tensorcache.pack(p, ({"v": v} for v in vol), layout={"v": "NCDHW->NDHWC"}, progress=False)
        with tensorcache.open(p) as c:
            np.testing.assert_array_equal(c["v"], vol.transpose(0, 2, 3, 4, 1))
            self.assertEqual(c.field("v").layout, "NDHWC")

    def test_variable_compress_align(self):
        rng = np.random.default_rng(1)
        toks = [rng.integers(0, 100, (int(k), 3)).astype(np.int64) for k in rng.integers(0, 20, 90)]
        dense = np.zeros((90, 100), np.float32)
        dense[:, ::7] = 1
        p = self.tmp("varlz4.tc")
        tensorcache.pack(p, ({"tok": t, "d": d, "i": np.int8(j)}
                             for j, (t, d) in enumerate(zip(toks, dense))),
                         shapes={"tok": (None, 3)}, compress=["d"], align={"i": 8},
                         batch_size=16, progress=False)
        with tensorcache.open(p, verify=True) as c:
            self.assertEqual(c.field("tok").shape, (None, 3))
            for i in range(90):
                np.testing.assert_array_equal(c["tok"][i], toks[i])
            self.assertTrue(c.field("d").compressed)
            np.testing.assert_array_equal(c["d"].read_all(), dense)
            self.assertEqual(c.field("i").stride, 8)
            np.testing.assert_array_equal(c["i"], np.arange(90, dtype=np.int8))

    def test_pack_batches(self):
        x = np.arange(100 * 2 * 2 * 3, dtype=np.float32).reshape(100, 3, 2, 2)
        p = self.tmp("batches.tc")
        batches = ({"x": x[s:s + 30], "y": np.arange(s, min(s + 30, 100)),
                    "v": [np.ones(i % 4, np.uint8) * i for i in range(s, min(s + 30, 100))]}
                   for s in range(0, 100, 30))
        s = tensorcache.pack_batches(p, batches, layout={"x": "NCHW->NHWC"}, variable=["v"],
                                     progress=False)
        self.assertEqual(s.num_samples, 100)
        with tensorcache.open(p, verify=True) as c:
            np.testing.assert_array_equal(c["x"], x.transpose(0, 2, 3, 1))
            np.testing.assert_array_equal(c["y"], np.arange(100))
            np.testing.assert_array_equal(c["v"][99], np.ones(3, np.uint8) * 99)

    def test_low_level_writer(self):
        p = self.tmp("low.tc")
        with tensorcache.Writer(p, metadata={"a": 1}) as w:
            w.add_field("x", np.float32, (2,))
            w.add_field("s", "u16", (None,))
            w.append({"x": [1, 2], "s": np.array([5], np.uint16)})
            w.append([np.array([3, 4], np.float32), np.zeros(0, np.uint16)])
            self.assertEqual(w.count, 2)
        with tensorcache.open(p, verify=True) as c:
            np.testing.assert_array_equal(c["x"], [[1, 2], [3, 4]])
            self.assertEqual(c["s"][1].shape, (0,))
            self.assertEqual(c.metadata["a"], 1)
        w = tensorcache.Writer(self.tmp("twice.tc"))
        w.add_field("x", "u8", ())
        w.finish()
        with self.assertRaises(ValueError):
            w.finish()

    def test_progress_tqdm_and_plain(self):
        samples = [np.zeros(4, np.uint8)] * 10
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            tensorcache.pack(self.tmp("prog1.tc"), samples, progress=True)
        out = err.getvalue()
        self.assertIn("wrote", out)
        if importlib.util.find_spec("tqdm") is not None:
            self.assertIn("10/10", out)  # the bar, with the known total
        err = io.StringIO()
        with mock.patch.dict(sys.modules, {"tqdm": None}), contextlib.redirect_stderr(err):
            tensorcache.pack(self.tmp("prog2.tc"), iter(samples), progress=True)
        self.assertRegex(err.getvalue(), r"tensorcache: wrote .*prog2\.tc: 10 samples")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            tensorcache.pack(self.tmp("prog3.tc"), samples, progress=False)
        self.assertEqual(err.getvalue(), "")

    def test_streaming_memory_is_o_batch(self):
        """256 MB through pack() in a fresh process: peak RSS grows by a few MB, not 256."""
        script = r"""
import resource, sys, numpy as np, tensorcache
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
base = peak()
def samples():
    for i in range(4096):
        yield {"x": np.full((256, 256), i % 251, np.uint8), "y": i}
s = tensorcache.pack(sys.argv[1], samples(), batch_size=64, progress=False)
print(s.num_samples, s.payload_bytes, peak() - base)
"""
        p = self.tmp("stream.tc")
        r = tcfile.run_python(["-c", script, p])
        self.assertEqual(r.returncode, 0, r.stderr)
        n, nbytes, grown_mb = map(int, r.stdout.split())
        self.assertEqual(n, 4096)
        self.assertGreaterEqual(nbytes, 256 << 20)
        self.assertLess(grown_mb, 48, "peak RSS grew by %d MB for a 256 MB dataset" % grown_mb)
        with tensorcache.open(p) as c:
            self.assertEqual(int(c["x"][4095, 0, 0]), 4095 % 251)
        os.unlink(p)

    def test_missing_library_message(self):
        saved = _native._lib
        try:
            _native._lib = None
            with mock.patch.object(_native, "_candidates", lambda: iter(["/nonexistent/x.so"])):
                with self.assertRaises(tensorcache.NativeLibraryError) as cm:
                    tensorcache.Writer(self.tmp("nolib.tc"))
            msg = str(cm.exception)
            self.assertIn("make", msg)
            self.assertIn("TENSORCACHE_LIB", msg)
            self.assertIn("/nonexistent/x.so", msg)
            self.assertFalse(os.path.exists(self.tmp("nolib.tc")))
        finally:
            _native._lib = saved


class BadSampleTest(unittest.TestCase):
    """Every bad input: a clear error with the C error name, and NO output file (an existing
    file at the path is left as it was, and no temporary is left in the directory)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assert_no_output(self, exc_type, code, samples, batches=False, **kw):
        d = tcfile.TempDir()
        try:
            fresh = d("fresh.tc")
            existing = d("existing.tc")
            with open(existing, "wb") as f:
                f.write(b"previous contents")
            for target in (fresh, existing):
                before = sorted(os.listdir(d.path))
                fn = tensorcache.pack_batches if batches else tensorcache.pack
                with self.assertRaises(exc_type) as cm:
                    # overwrite=True: a failure must leave the target alone even when replacing
                    # it was allowed
                    fn(target, samples() if callable(samples) else samples, progress=False,
                       overwrite=True, **kw)
                if code is not None:
                    self.assertEqual(cm.exception.code, code, str(cm.exception))
                self.assertEqual(sorted(os.listdir(d.path)), before)
                self.assertFalse(os.path.exists(fresh))
                with open(existing, "rb") as f:
                    self.assertEqual(f.read(), b"previous contents")
            return cm.exception
        finally:
            d.cleanup()

    def test_dtype_change_mid_stream(self):
        def samples():
            for i in range(500):  # well past the first flushed batch
                yield {"x": np.zeros(3, np.float32 if i < 300 else np.float64), "y": i}
        e = self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH", samples,
                                  batch_size=64)
        self.assertIn("sample 300", str(e))
        self.assertIn("float64", str(e))

    def test_shape_change(self):
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH",
                              lambda: ({"x": np.zeros((2, 2 + (i == 7)))} for i in range(10)))

    def test_fields_change(self):
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH",
                              [{"x": 1, "y": 2}, {"x": 1}])
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH",
                              [{"x": 1}, {"x": 1, "z": 2}])
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH",
                              [(1, 2), (1, 2, 3)])
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH",
                              [(1, 2), {"f0": 1, "f1": 2}])

    def test_variable_fixed_dim_mismatch(self):
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH",
                              [{"t": np.zeros((2, 3))}, {"t": np.zeros((5, 4))}],
                              shapes={"t": (None, 3)})

    def test_source_raises(self):
        def samples():
            for i in range(1000):
                if i == 700:
                    raise RuntimeError("source broke")
                yield np.zeros(10)
        self.assert_no_output(RuntimeError, None, samples, batch_size=100)

    def test_interrupted(self):
        def samples():
            yield np.zeros(10)
            raise KeyboardInterrupt
        self.assert_no_output(KeyboardInterrupt, None, samples)

    def test_bad_declarations(self):
        self.assert_no_output(tensorcache.InvalidArgumentError, "DTYPE",
                              [np.zeros(2, np.complex64)])
        self.assert_no_output(tensorcache.InvalidArgumentError, "LAYOUT",
                              [np.zeros((1, 2, 2))], layout={"data": "NCHW->NHW"})
        self.assert_no_output(tensorcache.Error, "LAYOUT", [np.zeros((2,))],
                              layout={"data": "NHWC"})
        self.assert_no_output(tensorcache.Error, "NAME", [{"": 1}])
        self.assert_no_output(tensorcache.Error, "NAME", [{"x" * 65: 1}])
        self.assert_no_output(tensorcache.InvalidArgumentError, "FIELD_COUNT", [])
        self.assert_no_output(tensorcache.InvalidArgumentError, "NAME", [(1, 2)],
                              field_names=["a"])

    def test_unknown_field_names_in_options(self):
        # every per-field option rejects a name that is no field, as the CLI's [FIELD=] does
        sample = [{"image": np.zeros((2, 2, 3), np.uint8), "label": 1}]
        for kw in ({"layout": {"imgae": "NHWC"}}, {"compress": {"imgae": "lz4"}},
                   {"compress": ["imgae"]}, {"shapes": {"lable": ()}}, {"variable": ["imgae"]},
                   {"align": {"imgae": 64}}, {"block_bytes": {"imgae": 4096}}):
            with self.subTest(**{k: str(v) for k, v in kw.items()}):
                e = self.assert_no_output(tensorcache.InvalidArgumentError, "NAME", sample, **kw)
                self.assertIn("no field", str(e))
                e = self.assert_no_output(tensorcache.InvalidArgumentError, "NAME",
                                          [{"image": np.zeros((1, 2, 2, 3), np.uint8),
                                            "label": np.ones(1)}], batches=True, **kw)

    def test_bad_batches(self):
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH",
                              [{"x": np.zeros((4, 2)), "y": np.zeros(3)}], batches=True)
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH",
                              [{"x": np.zeros((4, 2))}, {"x": np.zeros((4, 3))}], batches=True)

    def test_bool_values_checked_by_c(self):
        bad = np.array([0, 2], np.uint8).view(bool)  # a "bool" byte that is not 0/1
        self.assert_no_output(tensorcache.SampleMismatchError, "SAMPLE_MISMATCH", [bad])


if __name__ == "__main__":
    unittest.main()
