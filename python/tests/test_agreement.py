"""The C reader (libtensorcache through ctypes) and the NumPy reader agree on the same files:
values, shapes, dtypes, layout, metadata, and every field table entry."""

import json
import os
import subprocess
import unittest

import numpy as np

import tensorcache
from tensorcache import _format as F
from tensorcache import _native

from . import tcfile

FMNIST = "/usr/share/datasets/fashion-mnist"


def compare(test, path, max_samples=None):
    """Asserts that both readers see the same file at `path`."""
    with _native.CReader(path) as c, tensorcache.open(path) as p:
        test.assertEqual(c.num_samples, len(p))
        test.assertEqual(c.file_size, p.file_size)
        test.assertEqual(c.format_version, p.version[0] * 100 + p.version[1])
        test.assertEqual(c.version, p.version)
        test.assertEqual(c.metadata(), p.metadata_bytes)
        try:
            want_meta = json.loads(c.metadata().decode()) if c.metadata() else {}
        except ValueError:
            want_meta = None
        test.assertEqual(p.metadata, want_meta)
        test.assertEqual([f["name"] for f in c.fields], p.field_names)
        n = len(p)
        sel = range(n) if max_samples is None or n <= max_samples else \
            sorted(set(np.linspace(0, n - 1, max_samples).astype(int).tolist()))
        for k, (cf, pf) in enumerate(zip(c.fields, p.fields)):
            test.assertEqual(cf["dtype"], pf.dtype_code)
            test.assertEqual(F.DTYPES[cf["dtype"]][2], pf.dtype)
            test.assertEqual(cf["itemsize"], pf.itemsize)
            test.assertEqual(cf["rank"], pf.rank)
            test.assertEqual(tuple(cf["shape"]), pf.shape)
            test.assertEqual(cf["variable"], pf.variable)
            test.assertEqual(cf["codec"], 1 if pf.compressed else 0)
            test.assertEqual(cf["layout"], pf.layout)
            for key in ("sample_bytes", "stride", "block_samples", "data_offset", "data_size",
                        "data_checksum", "index_offset", "index_size", "index_checksum"):
                test.assertEqual(cf[key], getattr(pf, key), key)
            for i in sel:
                want = c.read_sample(k, i)
                got = np.asarray(pf.sample(i))
                test.assertEqual(got.shape, want.shape)
                test.assertEqual(got.dtype, want.dtype)
                test.assertEqual(got.tobytes(), want.tobytes())
            if not pf.variable and n:
                idx = np.array(list(sel)[::-1], np.uint64)
                test.assertEqual(c.gather(k, idx).tobytes(), pf.gather(idx.astype(np.int64))
                                 .tobytes())
                if not pf.compressed:
                    test.assertEqual(c.gather(k, np.arange(n, dtype=np.uint64)).tobytes(),
                                     np.ascontiguousarray(pf.array).tobytes())


class AgreementTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_python_writer_files(self):
        rng = np.random.default_rng(2)
        p = self.tmp("mixed.tc")
        samples = [{"img": rng.integers(0, 255, (3, 6, 5), dtype=np.uint8),
                    "vec": rng.standard_normal(4).astype(np.float16),
                    "tok": rng.integers(-9, 9, int(rng.integers(0, 12))).astype(np.int32),
                    "flag": bool(i % 3), "y": np.uint16(i)} for i in range(300)]
        tensorcache.pack(p, samples, layout={"img": "NCHW->NHWC"}, variable=["tok"],
                         compress=["vec"], block_bytes=64, align={"y": 16},
                         metadata={"source": {"img": "synthetic"}}, batch_size=64,
                         progress=False)
        compare(self, p)
        with tensorcache.open(p) as c:
            self.assertEqual(c.field("img").layout, "NHWC")
            self.assertEqual(c.metadata["conversions"], {"img": "NCHW->NHWC"})
            self.assertEqual(c.field("y").stride, 16)

    def test_independent_builder_files(self):
        rng = np.random.default_rng(4)
        fields = [tcfile.fixed("f64", rng.standard_normal((17, 3)), align=32),
                  tcfile.fixed("b", rng.integers(0, 2, (17, 2, 2)).astype(bool)),
                  tcfile.variable("v", [np.ones((k, 2, 1), np.uint64) * k for k in range(17)],
                                  (None, 2, 1)),
                  tcfile.lz4("z", np.tile(np.arange(17, dtype=np.int8)[:, None], 50), 3,
                             layout="NC")]
        p = tcfile.write(self.tmp("built.tc"), tcfile.build(fields, 17, b'{"a": [1, 2]}', 2))
        compare(self, p)

    def test_empty_cache(self):
        p = self.tmp("empty.tc")
        with tensorcache.Writer(p) as w:
            w.add_field("x", "f32", (2, 2))
            w.add_field("v", "u8", (None,))
            w.add_field("z", "u8", (9,), codec="lz4")
        compare(self, p)

    def test_zero_size_samples(self):
        p = self.tmp("zero-size.tc")
        with tensorcache.Writer(p) as w:
            w.add_field("e", "f32", (0, 3))
            w.add_field("z", "u8", (0,), codec="lz4")
            w.add_field("v", "i8", (None, 2))
            w.add_field("s", "u8", ())
            w.append_batch([np.zeros((5, 0, 3), np.float32), np.zeros((5, 0), np.uint8),
                            [np.zeros((0, 2), np.int8)] * 5, np.arange(5, dtype=np.uint8)])
        compare(self, p)
        with tensorcache.open(p, verify=True) as c:
            self.assertEqual(c["e"].shape, (5, 0, 3))
            self.assertEqual(c[[1, 2]]["e"].shape, (2, 0, 3))
            self.assertEqual(c["z"].read_all().shape, (5, 0))
            self.assertEqual(c["v"][4].shape, (0, 2))

    def command(self):
        exe = os.path.join(tcfile.tc_build_dir(), "tensorcache")
        if not os.path.exists(exe):
            self.skipTest("the tensorcache command is not built (%s)" % exe)
        return exe

    def test_npy_nchw_lz4_via_command(self):
        """The command's NCHW conversion, LZ4 and alignment read the same in both readers, and
        match what pack() stores for the same data."""
        exe = self.command()
        rng = np.random.default_rng(9)
        x = rng.standard_normal((301, 3, 5, 4)).astype(np.float32)
        y = rng.integers(0, 10, 301).astype(np.int16)
        np.save(self.tmp("x.npy"), x)
        np.save(self.tmp("y.npy"), y)
        p = self.tmp("cli-npy.tc")
        r = subprocess.run([exe, "pack", "-q", "--from-layout", "x=NCHW", "--compress", "x=lz4",
                            "--block-size", "x=4K", "--align", "y=64", p,
                            "x=" + self.tmp("x.npy"), "y=" + self.tmp("y.npy")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        compare(self, p)
        q = self.tmp("py-npy.tc")
        tensorcache.pack_batches(q, [{"x": x, "y": y}], layout={"x": "NCHW->NHWC"},
                                 progress=False)
        with tensorcache.open(p, verify=True) as c, tensorcache.open(q) as d:
            self.assertTrue(c.field("x").compressed)
            self.assertEqual(c.field("x").layout, "NHWC")
            self.assertEqual(c.field("y").stride, 64)
            self.assertEqual(c["x"].read_all().tobytes(), d["x"].tobytes())
            np.testing.assert_array_equal(c["y"], d["y"])

    def test_fashion_mnist_via_command(self):
        exe = self.command()
        if not os.path.exists(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")):
            self.skipTest("Fashion-MNIST is not installed at %s" % FMNIST)
        p = self.tmp("fmnist-cli.tc")
        r = subprocess.run([exe, "pack", p,
                            "image=%s/t10k-images-idx3-ubyte.gz" % FMNIST,
                            "label=%s/t10k-labels-idx1-ubyte.gz" % FMNIST],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        compare(self, p, max_samples=500)
        with tensorcache.open(p, verify=True) as c:
            self.assertEqual(c["image"].shape, (10000, 28, 28, 1))
            self.assertEqual(c.field("image").layout, "NHWC")


if __name__ == "__main__":
    unittest.main()
