"""One small cache for the framework adapter tests (TF, Keras, JAX, DLPack), with the source
arrays it was written from, so each test compares what a framework sees with the source bytes.

Sample i is recognisable in every field: y[i] == i."""

import unittest

import numpy as np

import tensorcache

from . import tcfile

N = 50


def source():
    x = (np.arange(N * 4 * 4 * 2, dtype=np.float32) * 0.5).reshape(N, 4, 4, 2)
    return {
        "x": x,                                                      # f32 NHWC
        "y": np.arange(N, dtype=np.int32),                           # the sample number
        "h": (np.arange(N, dtype=np.uint16) + 0x3F00).view("V2"),    # bf16 bits
        "u": (np.arange(N * 3, dtype=np.uint16) * 1000).reshape(N, 3),
        "q": np.arange(N, dtype=np.uint64) + np.uint64((1 << 64) - 100),
        "v": [np.full((i % 4 + 1,), i, np.uint8) for i in range(N)],  # variable shape
    }


def write(path):
    s = source()
    with tensorcache.Writer(path) as w:
        w.add_field("x", "f32", (4, 4, 2), layout="NHWC")
        w.add_field("y", "i32", ())
        w.add_field("h", "bf16", ())
        w.add_field("u", "u16", (3,))
        w.add_field("q", "u64", ())
        w.add_field("v", "u8", (None,))
        w.append_batch([s[k] for k in ("x", "y", "h", "u", "q", "v")])
    return s


def corrupt_var_index(src, dst, sample=7):
    """A copy of `src` whose field 'v' index entry `sample` points past the data region (the
    checksums are left alone: the reader must catch it from the entry itself)."""
    with open(src, "rb") as f:
        data = bytearray(f.read())
    with tensorcache.open(src) as c:
        f = c.field("v")
        entry = f.index_offset + sample * 8 * (2 + f.rank)
    data[entry:entry + 8] = (1 << 40).to_bytes(8, "little")
    with open(dst, "wb") as f:
        f.write(bytes(data))
    return dst


def check_epoch(test, ys, n=N):
    """Every sample exactly once."""
    test.assertEqual(sorted(int(y) for y in ys), list(range(n)))


class CacheTest(unittest.TestCase):
    """A test class with this module's cache written once: cls.path, cls.src, cls.tmp."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()
        cls.path = cls.tmp("fw.tc")
        cls.src = write(cls.path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
