"""The NumPy reader's API on files from the C writer and from the independent Python builder."""

import json
import pickle
import unittest

import numpy as np

import tensorcache
from tensorcache import _format as F

from . import tcfile

ALL_DTYPES = ["bool", "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f16", "bf16", "f32",
              "f64"]


def random_array(rng, dtype, shape):
    dt = F.DTYPES[F.DTYPE_BY_NAME[dtype]][2]
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    raw = rng.integers(0, 256, tuple(shape) + (dt.itemsize,), dtype=np.uint8)
    a = raw.view(dt).reshape(shape)
    if dt.kind == "f":  # keep NaN payloads out of equality checks
        a = np.where(np.isfinite(a), a, 0).astype(dt)
    return a


class ReaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()
        cls.rng = np.random.default_rng(1)
        n = 37
        cls.n = n
        cls.images = cls.rng.integers(0, 256, (n, 5, 4, 3), dtype=np.uint8)
        cls.labels = np.arange(n, dtype=np.int64) * 7 - 100
        cls.seqs = [cls.rng.standard_normal((int(k), 2)).astype(np.float32)
                    for k in cls.rng.integers(0, 9, n)]
        cls.path = cls.tmp("basic.tc")
        with tensorcache.Writer(cls.path, metadata={"classes": ["a", "b"], "n": n}) as w:
            w.add_field("image", "u8", (5, 4, 3), layout="NHWC")
            w.add_field("label", "i64", ())
            w.add_field("seq", "f32", (None, 2))
            w.append_batch({"image": cls.images, "label": cls.labels, "seq": cls.seqs})

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_description(self):
        with tensorcache.open(self.path) as c:
            self.assertEqual(len(c), self.n)
            self.assertEqual(c.field_names, ["image", "label", "seq"])
            img, lab, seq = c.fields
            self.assertEqual((img.dtype, img.shape, img.layout, img.variable, img.codec),
                             (np.dtype(np.uint8), (5, 4, 3), "NHWC", False, "none"))
            self.assertEqual((lab.dtype, lab.shape, lab.rank, lab.layout),
                             (np.dtype("<i8"), (), 0, ""))
            self.assertEqual((seq.dtype_name, seq.shape, seq.variable, seq.kind),
                             ("f32", (None, 2), True, "variable"))
            self.assertEqual(img.sample_bytes, 60)
            self.assertEqual(img.stride, 60)
            self.assertEqual(c.metadata["classes"], ["a", "b"])
            self.assertEqual(c.metadata["n"], self.n)
            self.assertIn("tensorcache", json.loads(c.metadata_bytes))
            self.assertEqual(c.version, (1, 0))
            self.assertIn("image", c)
            self.assertNotIn("nope", c)
            self.assertIn("Field('image', u8, (5, 4, 3), layout='NHWC')", repr(c))

    def test_whole_field_views(self):
        with tensorcache.open(self.path) as c:
            a = c["image"]
            self.assertIs(type(a), np.ndarray)  # not np.memmap
            self.assertEqual(a.shape, (self.n, 5, 4, 3))
            self.assertFalse(a.flags.writeable)
            np.testing.assert_array_equal(a, self.images)
            np.testing.assert_array_equal(c["label"], self.labels)
            np.testing.assert_array_equal(c.array("label"), self.labels)
            with self.assertRaises(ValueError):
                a[0, 0, 0, 0] = 1

    def test_sample_and_negative_index(self):
        with tensorcache.open(self.path) as c:
            for i in (0, 5, self.n - 1, -1, -self.n):
                s = c[i]
                np.testing.assert_array_equal(s["image"], self.images[i])
                self.assertEqual(s["label"], self.labels[i])
                np.testing.assert_array_equal(s["seq"], self.seqs[i])
            self.assertEqual(c.sample(3, fields="label"), {"label": self.labels[3]})
            self.assertEqual(list(c)[4]["label"], self.labels[4])

    def test_out_of_range_and_bad_keys(self):
        with tensorcache.open(self.path) as c:
            for i in (self.n, -self.n - 1, 10 ** 30):
                with self.assertRaises(tensorcache.RangeError) as cm:
                    c[i]
                self.assertEqual(cm.exception.code, "RANGE")
                self.assertIsInstance(cm.exception, IndexError)
            with self.assertRaises(tensorcache.RangeError):
                c[[0, self.n]]
            with self.assertRaises(TypeError):
                c[1.5]
            with self.assertRaises(TypeError):
                c[True]
            with self.assertRaises(tensorcache.NotFoundError) as cm:
                c["nope"]
            self.assertEqual(cm.exception.code, "NOT_FOUND")
            self.assertIsInstance(cm.exception, KeyError)
            with self.assertRaises(tensorcache.WrongKindError) as cm:
                c.field("seq").array
            self.assertEqual(cm.exception.code, "WRONG_KIND")

    def test_gather(self):
        idx = np.array([5, 0, 36, 5, -1])
        with tensorcache.open(self.path) as c:
            b = c[idx]
            np.testing.assert_array_equal(b["image"], self.images[idx])
            np.testing.assert_array_equal(b["label"], self.labels[idx])
            self.assertEqual(len(b["seq"]), 5)
            for got, i in zip(b["seq"], idx):
                np.testing.assert_array_equal(got, self.seqs[i])
            np.testing.assert_array_equal(c.gather("image", [3, 1, 4]), self.images[[3, 1, 4]])
            self.assertEqual(c.gather([], fields=["image"])["image"].shape, (0, 5, 4, 3))
            out = np.empty((3,), np.int64)
            c.field("label").gather([1, 2, 3], out=out)
            np.testing.assert_array_equal(out, self.labels[1:4])
            sl = c[3:9:2]
            np.testing.assert_array_equal(sl["image"], self.images[3:9:2])
            self.assertTrue(np.shares_memory(sl["image"], c["image"]))
            self.assertEqual(len(sl["seq"]), 3)

    def test_variable_field(self):
        with tensorcache.open(self.path) as c:
            f = c["seq"]
            self.assertIsInstance(f, tensorcache.Field)
            self.assertEqual(len(f), self.n)
            for i in range(self.n):
                self.assertEqual(f.sample_shape(i), self.seqs[i].shape)
                v = f[i]
                self.assertFalse(v.flags.writeable)
                np.testing.assert_array_equal(v, self.seqs[i])
            idx = f.index
            self.assertEqual(idx.dtype.names, ("offset", "nbytes", "shape"))
            self.assertEqual([tuple(s) for s in idx["shape"]], [s.shape for s in self.seqs])
            self.assertTrue(all(o % 64 == 0 for o in idx["offset"]))
            for got, want in zip(f.read_all(), self.seqs):
                np.testing.assert_array_equal(got, want)

    def test_memmap_alternative(self):
        with tensorcache.open(self.path) as c:
            m = c.field("image").memmap()
            self.assertIsInstance(m, np.memmap)
            np.testing.assert_array_equal(m, self.images)
            # FORMAT.md section 5, literally:
            f = c.field("image")
            m2 = np.memmap(self.path, dtype=f.dtype, mode="r", offset=f.data_offset,
                           shape=(len(c),) + f.shape)
            np.testing.assert_array_equal(m2, self.images)
            del m, m2

    def test_pickle_reopens_by_path(self):
        with tensorcache.open(self.path) as c:
            blob = pickle.dumps(c)
            self.assertLess(len(blob), 500)  # the path, never the data
            c2 = pickle.loads(blob)
            np.testing.assert_array_equal(c2["image"], self.images)
            c2.close()

    def test_every_dtype_and_rank(self):
        rng = np.random.default_rng(7)
        for dtype in ALL_DTYPES:
            for shape in [(), (3,), (2, 3), (1, 2, 1, 2, 1, 2, 1, 2)]:
                with self.subTest(dtype=dtype, shape=shape):
                    arr = random_array(rng, dtype, (11,) + shape)
                    p = self.tmp("dt-%s-%d.tc" % (dtype, len(shape)))
                    with tensorcache.Writer(p) as w:
                        w.add_field("x", dtype, shape)
                        w.append_batch([arr])
                    with tensorcache.open(p, verify=True) as c:
                        got = c["x"]
                        self.assertEqual(got.dtype, F.DTYPES[F.DTYPE_BY_NAME[dtype]][2])
                        self.assertEqual(got.shape, arr.shape)
                        self.assertEqual(got.tobytes(), arr.tobytes())
                        self.assertEqual(np.asarray(c[4]["x"]).tobytes(), arr[4].tobytes())

    def test_bf16_is_opaque_two_bytes(self):
        bits = np.array([0x3F80, 0xC000, 0x0000], np.uint16)  # 1.0, -2.0, 0.0 in bf16
        p = self.tmp("bf16.tc")
        with tensorcache.Writer(p) as w:
            w.add_field("w", "bf16", ())
            w.append_batch([bits.view("V2")])
        with tensorcache.open(p) as c:
            self.assertEqual(c["w"].dtype, np.dtype("V2"))
            np.testing.assert_array_equal(c["w"].view("<u2"), bits)

    def test_empty_and_single(self):
        p0, p1 = self.tmp("n0.tc"), self.tmp("n1.tc")
        with tensorcache.Writer(p0) as w:
            w.add_field("x", "f32", (4,))
            w.add_field("v", "u8", (None,))
        with tensorcache.Writer(p1) as w:
            w.add_field("x", "f32", (4,))
            w.append_batch([np.ones((1, 4), np.float32)])
        with tensorcache.open(p0, verify=True) as c:
            self.assertEqual(len(c), 0)
            self.assertEqual(c["x"].shape, (0, 4))
            self.assertEqual(c["v"].read_all(), [])
            self.assertEqual(list(c), [])
            with self.assertRaises(tensorcache.RangeError):
                c[0]
        with tensorcache.open(p1, verify=True) as c:
            np.testing.assert_array_equal(c[0]["x"], np.ones(4, np.float32))

    def test_padded_stride(self):
        arr = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
        p = self.tmp("align.tc")
        with tensorcache.Writer(p) as w:
            w.add_field("x", "f32", (3,), align=64)
            w.append_batch([arr])
        with tensorcache.open(p, verify=True) as c:
            f = c.field("x")
            self.assertEqual((f.sample_bytes, f.stride), (12, 64))
            self.assertEqual(c["x"].strides, (64, 4))
            np.testing.assert_array_equal(c["x"], arr)
            np.testing.assert_array_equal(c[[9, 0]]["x"], arr[[9, 0]])
            np.testing.assert_array_equal(f.memmap(), arr)

    def test_compressed_fields(self):
        rng = np.random.default_rng(3)
        arr = (rng.integers(0, 4, (1000, 6, 5)) * 50).astype(np.uint8)  # compressible
        p = self.tmp("lz4.tc")
        with tensorcache.Writer(p) as w:
            w.add_field("x", "u8", (6, 5), codec="lz4", block_bytes=3000)
            w.add_field("y", "i16", ())
            w.append_batch([arr, np.arange(1000, dtype=np.int16)])
        with tensorcache.open(p, verify=True) as c:
            f = c["x"]
            self.assertIsInstance(f, tensorcache.Field)
            self.assertTrue(f.compressed)
            self.assertEqual(f.block_samples, 100)
            with self.assertRaises(tensorcache.WrongKindError):
                f.array
            for i in (0, 99, 100, 999, -1):
                got = f[i]
                self.assertTrue(got.flags.writeable)  # a decoded copy, the caller's to keep
                np.testing.assert_array_equal(got, arr[i])
            idx = rng.permutation(1000)[:300]
            np.testing.assert_array_equal(f[idx], arr[idx])
            np.testing.assert_array_equal(c[idx]["x"], arr[idx])
            np.testing.assert_array_equal(f.read_all(), arr)
            np.testing.assert_array_equal(f[10:20], arr[10:20])

    def test_python_built_files(self):
        """Files from the independent builder (tcfile.build) read back identically."""
        rng = np.random.default_rng(5)
        a = rng.standard_normal((9, 2, 3)).astype(np.float64)
        v = [np.arange(k * 3, dtype=np.int32).reshape(k, 3) for k in (0, 1, 5, 2, 0, 7, 1, 1, 3)]
        z = np.repeat(np.arange(9, dtype=np.uint16), 40).reshape(9, 40)
        data = tcfile.build([tcfile.fixed("a", a, layout="NHW", align=128),
                             tcfile.variable("v", v, (None, 3)),
                             tcfile.lz4("z", z, block_samples=4)], 9,
                            metadata=b"not json \xc3\xa9", version_minor=3)
        p = tcfile.write(self.tmp("pybuilt.tc"), data)
        with tensorcache.open(p, verify=True) as c:
            np.testing.assert_array_equal(c["a"], a)
            self.assertEqual(c.field("a").stride, 128)
            for i in range(9):
                np.testing.assert_array_equal(c["v"][i], v[i])
            np.testing.assert_array_equal(c["z"].read_all(), z)
            self.assertIsNone(c.metadata)  # not JSON: handed out as bytes
            self.assertEqual(c.metadata_bytes, "not json é".encode())
            self.assertEqual(c.version, (1, 3))

    def test_open_errors(self):
        with self.assertRaises(tensorcache.TCIOError) as cm:
            tensorcache.open(self.tmp("does-not-exist.tc"))
        self.assertEqual(cm.exception.code, "IO")
        self.assertIsInstance(cm.exception, OSError)
        self.assertEqual(cm.exception.errno, 2)
        with self.assertRaises(tensorcache.InvalidArgumentError) as cm:
            tensorcache.open(self.tmp.path)
        self.assertEqual(cm.exception.code, "INVALID_ARG")

    def test_backends_reported(self):
        b = tensorcache.backends()
        self.assertIn(b["xxh3"], ("ctypes libxxhash",) + tuple(
            x for x in [b["xxh3"]] if x.startswith("xxhash module")))
        self.assertEqual(b["lz4"], "ctypes liblz4")


if __name__ == "__main__":
    unittest.main()
