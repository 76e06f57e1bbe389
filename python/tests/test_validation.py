"""Bad files: the NumPy reader and the C reader reject exactly the same files with exactly the
same error name (FORMAT.md section 9), on the shared corpus tests/bad/ and on files made here."""

import glob
import os
import re
import struct
import unittest

import numpy as np

import tensorcache
from tensorcache import _native

from . import tcfile
from .tcfile import Patch

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(REPO, "tests", "bad")
NAME_RE = re.compile(r"^\d{3}-[a-z0-9-]+\.((?:verify-)?[A-Z_]+)\.tc$")
U64_MAX = (1 << 64) - 1


def py_verdict(path, verify):
    try:
        tensorcache.open(path, verify=verify).close()
        return None
    except tensorcache.Error as e:
        return e.code


def expected_verdicts(tag):
    """(default open, verify) outcome a corpus name states."""
    if tag == "OK":
        return (None, None)
    if tag.startswith("verify-"):
        return (None, tag[len("verify-"):])
    return (tag, tag)


class CorpusTest(unittest.TestCase):
    def test_corpus(self):
        files = sorted(glob.glob(os.path.join(CORPUS, "*.tc")))
        if not files:
            self.skipTest("no corpus at %s" % CORPUS)
        self.assertGreaterEqual(len(files), 30)
        for path in files:
            name = os.path.basename(path)
            with self.subTest(file=name):
                m = NAME_RE.match(name)
                self.assertIsNotNone(m, "corpus file name does not follow the pattern")
                want = expected_verdicts(m.group(1))
                py = (py_verdict(path, False), py_verdict(path, True))
                c = (_native.c_open_error(path), _native.c_open_error(path, verify=True))
                self.assertEqual(py, want, "Python reader")
                self.assertEqual(c, want, "C reader")
                if want[0] is None and want[1] is not None:
                    # Cache.verify() after a default open reports the same.
                    with tensorcache.open(path) as cache:
                        with self.assertRaises(tensorcache.FormatError) as cm:
                            cache.verify()
                        self.assertEqual(cm.exception.code, want[1])

    def test_block_checksum_levels(self):
        """A wrong LZ4 block checksum with everything else re-sealed (tests/bad/100, 101): a
        default open reads what decodes, check_blocks=True refuses exactly block 2 (samples
        6..8) in both readers, verification finds it."""
        for number in ("100", "101"):
            path, = glob.glob(os.path.join(CORPUS, number + "-lz4-block-*.tc"))
            with self.subTest(file=os.path.basename(path)):
                with tensorcache.open(path, check_blocks=True) as cache:
                    f = cache["packed"]
                    for i in range(len(cache)):
                        if 6 <= i < 9:
                            with self.assertRaises(tensorcache.FormatError) as cm:
                                f.sample(i)
                            self.assertEqual(cm.exception.code, "CHECKSUM")
                            self.assertIn("block 2", str(cm.exception))
                        else:
                            f.sample(i)
                    with self.assertRaises(tensorcache.FormatError) as cm:
                        f.gather(np.array([0, 7]))
                    self.assertEqual(cm.exception.code, "CHECKSUM")
                self.assertEqual(_native.c_open_error(path, verify=True), "CHECKSUM")
        with tensorcache.open(os.path.join(CORPUS, "100-lz4-block-checksum-wrong-resealed."
                                           "verify-CHECKSUM.tc")) as cache:
            cache["packed"].sample(7)  # default level: the block decodes, no checksum asked

    def test_exception_shape(self):
        files = sorted(glob.glob(os.path.join(CORPUS, "*.CHECKSUM.tc")))
        if not files:
            self.skipTest("no corpus at %s" % CORPUS)
        with self.assertRaises(tensorcache.FormatError) as cm:
            tensorcache.open(files[0])
        e = cm.exception
        self.assertEqual((e.code, e.number), ("CHECKSUM", 20))
        self.assertIsInstance(e, ValueError)
        self.assertTrue(str(e).startswith("CHECKSUM: "))


def _base_file(tmp):
    """A valid file with a fixed, a variable and an LZ4 field, from the C writer."""
    rng = np.random.default_rng(11)
    p = tmp("base.tc")
    with tensorcache.Writer(p, metadata={"k": "v"}) as w:
        w.add_field("img", "u8", (4, 4, 1), layout="NHWC")
        w.add_field("seq", "i16", (None, 3))
        w.add_field("z", "f32", (8,), codec="lz4", block_bytes=32 * 5)
        w.append_batch({"img": rng.integers(0, 255, (20, 4, 4, 1), dtype=np.uint8),
                        "seq": [np.full((k % 4, 3), k, np.int16) for k in range(20)],
                        "z": np.repeat(np.arange(20, dtype=np.float32), 8).reshape(20, 8)})
    return p


class GeneratedBadFilesTest(unittest.TestCase):
    """Each case patches one thing in a valid file and resealed what covers it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tcfile.TempDir()
        cls.base = _base_file(cls.tmp)
        cls.orig = Patch.load(cls.base)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def p(self):
        return Patch(self.orig.b)

    def check(self, label, data, want_open, want_verify=None):
        if want_verify is None:
            want_verify = want_open
        path = tcfile.write(self.tmp("case-%s.tc" % label), bytes(data))
        with self.subTest(case=label):
            got = (py_verdict(path, False), py_verdict(path, True))
            c = (_native.c_open_error(path), _native.c_open_error(path, verify=True))
            self.assertEqual(c, (want_open, want_verify), "C reader disagrees with the test")
            self.assertEqual(got, (want_open, want_verify), "Python reader")

    def field_no(self, name):
        for k in range(self.orig.hget("num_fields")):
            n = self.orig.fget(k, "name_len")
            off = self.orig.fe(k)
            if bytes(self.orig.b[off:off + n]) == name.encode():
                return k
        raise KeyError(name)

    def test_header_cases(self):
        P = self.p
        self.check("ok", P().b, None)
        self.check("empty", b"", "TRUNCATED")
        self.check("short", P().b[:100], "TRUNCATED")
        self.check("magic", b"\x88" + P().b[1:], "BAD_MAGIC")
        self.check("major3", P().hset("version_major", 3).reseal_header().b, "VERSION")
        self.check("minor9", P().hset("version_minor", 9).reseal_header().b, None)
        self.check("hsize", P().hset("header_size", 256).reseal_header().b, "HEADER")
        self.check("hsum", P().hset("num_samples", 21).b, "CHECKSUM")
        self.check("flags", P().hset("flags", 4).reseal_header().b, "RESERVED")
        p = P()
        p.b[100] = 1
        self.check("reserved", p.reseal_header().b, "RESERVED")
        self.check("longer", P().b + b"\0", "SIZE_MISMATCH")
        self.check("shorter", P().b[:-1], "TRUNCATED")
        self.check("nf0", P().hset("num_fields", 0).reseal_header().b, "FIELD_COUNT")
        self.check("nf2000", P().hset("num_fields", 2000).reseal_header().b, "FIELD_COUNT")
        self.check("ftsize", P().hset("ft_size", 512).reseal_header().b, "HEADER")
        self.check("metabig", P().hset("meta_size", (64 << 20) + 1).reseal_header().b, "METADATA")
        self.check("ftwrap", P().hset("ft_offset", U64_MAX - 63).reseal_header().b,
                   "REGION_BOUNDS")
        self.check("metapast", P().hset("meta_offset", len(self.orig.b)).reseal_header().b,
                   "REGION_BOUNDS")
        self.check("ftalign", P().hset("ft_offset", self.orig.hget("ft_offset") + 8)
                   .reseal_header().b, "ALIGNMENT")
        self.check("metaalign", P().hset("meta_offset", self.orig.hget("meta_offset") - 4)
                   .reseal_header().b, "ALIGNMENT")
        self.check("emptymeta-offset", P().hset("meta_size", 0).hset("meta_offset", 8).reseal().b,
                   "ALIGNMENT")
        self.check("ftsum", P().hset("ft_checksum", 1).reseal_header().b, "CHECKSUM")
        self.check("metasum", P().hset("meta_checksum", 1).reseal_header().b, "CHECKSUM")
        self.check("emptymeta-sum", P().hset("meta_size", 0).hset("meta_offset", 0)
                   .hset("meta_checksum", 5).reseal_header().b, "CHECKSUM")

    def test_metadata_utf8(self):
        m_off = self.orig.hget("meta_offset")
        for label, bad in [("invalid", b"\xff"), ("surrogate", b"\xed\xa0\x80"),
                           ("overlong", b"\xc0\xaf"), ("cut", b"\xe2\x82"),
                           ("above-max", b"\xf4\x90\x80\x80")]:
            p = self.p()
            p.b[m_off:m_off + len(bad)] = bad
            self.check("meta-" + label, p.reseal().b, "METADATA")
        p = self.p()
        p.b[m_off:m_off + 2] = "é".encode()  # valid UTF-8, no longer JSON: accepted
        self.check("meta-notjson", p.reseal().b, None)

    def test_field_cases(self):
        k = self.field_no("img")
        v = self.field_no("seq")
        z = self.field_no("z")

        def F(field, name, value, d=0, regions=False):
            return self.p().fset(field, name, value, d).reseal(regions).b

        self.check("name0", F(k, "name_len", 0), "NAME")
        self.check("name65", F(k, "name_len", 65), "NAME")
        self.check("name-nul", self.p().fset(k, "name", b"i\0g").reseal().b, "NAME")
        self.check("name-utf8", self.p().fset(k, "name", b"\xffmg").reseal().b, "NAME")
        self.check("name-surrogate", self.p().fset(k, "name", b"\xed\xb0\x80")
                   .fset(k, "name_len", 3).reseal().b, "NAME")
        self.check("name-pad", self.p().fset(k, "name", b"img\0x").reseal().b, "NAME")
        self.check("dtype0", F(k, "dtype", 0), "DTYPE")
        self.check("dtype14", F(k, "dtype", 14), "DTYPE")
        self.check("codec3", F(k, "codec", 3), "CODEC")
        self.check("lz4-var", F(v, "codec", 1), "CODEC")
        self.check("kind2", F(k, "kind", 2), "SHAPE")
        self.check("rank9", F(k, "rank", 9), "SHAPE")
        self.check("beyond-rank", F(k, "shape", 5, d=3), "SHAPE")
        self.check("fixed-var-dim", F(k, "shape", U64_MAX, d=1), "SHAPE")
        self.check("var-no-var-dim", F(v, "shape", 2, d=0), "SHAPE")
        self.check("var-rank0", self.p().fset(v, "rank", 0).fset(v, "shape", 0, d=0)
                   .fset(v, "shape", 0, d=1).reseal().b, "SHAPE")
        self.check("fflags", F(k, "flags", 1), "RESERVED")
        self.check("res0", F(k, "reserved0", 1), "RESERVED")
        self.check("res1", F(k, "reserved1", 1), "RESERVED")
        self.check("res2", F(k, "reserved2", b"\0" * 39 + b"\1"), "RESERVED")
        self.check("layout-lower", F(k, "layout", b"nhwc"), "LAYOUT")
        self.check("layout-short", F(k, "layout", b"NHW"), "LAYOUT")
        self.check("layout-gap", F(k, "layout", b"NHWC\0X"), "LAYOUT")
        self.check("layout-digit", F(k, "layout", b"NHW1"), "LAYOUT")
        self.check("layout-empty", F(k, "layout", b""), None)
        self.check("sample-overflow", F(k, "shape", 1 << 62, d=0), "OVERFLOW")
        self.check("stride-small", F(k, "stride", 15), "SHAPE")
        self.check("n-stride-overflow", self.p().hset("num_samples", 1 << 62).reseal().b,
                   "OVERFLOW")
        self.check("datasize", F(k, "data_size", 16 * 19), "SHAPE")
        self.check("fixed-index", F(k, "block_samples", 1), "SHAPE")
        self.check("var-stride", F(v, "stride", 8), "SHAPE")
        self.check("var-index-size", F(v, "index_size", 32 * 19), "SHAPE")
        self.check("lz4-bs0", F(z, "block_samples", 0), "CODEC")
        self.check("lz4-raw-limit", F(z, "shape", 1 << 30, d=0), "CODEC")
        self.check("lz4-index-size", F(z, "index_size", 24), "SHAPE")
        self.check("lz4-stride", F(z, "stride", 32), "SHAPE")
        self.check("data-past-eof", F(k, "data_offset", len(self.orig.b) // 4096 * 4096 + 4096),
                   "REGION_BOUNDS")
        self.check("data-wraps", F(k, "data_offset", U64_MAX - 4095), "REGION_BOUNDS")
        self.check("index-past-eof", F(v, "index_offset", len(self.orig.b)), "REGION_BOUNDS")
        self.check("data-align", F(k, "data_offset", self.orig.fget(k, "data_offset") + 64),
                   "ALIGNMENT")
        self.check("index-align", F(v, "index_offset", self.orig.fget(v, "index_offset") + 8),
                   "ALIGNMENT")
        self.check("dup-name", self.p().fset(v, "name", b"img").fset(v, "name_len", 3)
                   .reseal().b, "DUPLICATE_NAME")
        self.check("overlap", F(v, "data_offset", self.orig.fget(k, "data_offset")), "OVERLAP")
        self.check("overlap-header", F(k, "data_offset", 0), "OVERLAP")
        self.check("overlap-ft", F(v, "index_offset", self.orig.hget("ft_offset")), "OVERLAP")
        # the first failure wins: field 0's NAME before field 1's DTYPE
        self.check("first-wins", self.p().fset(k, "name_len", 0).fset(v, "dtype", 0).reseal().b,
                   "NAME")

    def test_verify_only_cases(self):
        k = self.field_no("img")
        v = self.field_no("seq")
        off, size = self.orig.field_region(k)
        p = self.p()
        p.b[off + 3] ^= 1
        self.check("payload-flip", p.b, None, "CHECKSUM")
        self.check("data-sum", self.p().fset(k, "data_checksum", 7).reseal().b, None, "CHECKSUM")
        self.check("index-sum", self.p().fset(v, "index_checksum", 7).reseal().b, None,
                   "CHECKSUM")
        self.check("fixed-index-sum", self.p().fset(k, "index_checksum", 0).reseal().b, None,
                   "CHECKSUM")
        p = self.p()
        p.b[200] = 9
        self.check("padding", p.b, None, "PADDING")
        p = self.p()
        p.b[len(p.b) - 1] ^= 0  # no change: still fine
        self.check("unchanged", p.b, None, None)

    # ---- per-sample index entries: deferred at open, checked on access and by verify --------
    def _var_patch(self, i, col, value):
        v = self.field_no("seq")
        ioff = self.orig.fget(v, "index_offset")
        p = self.p()
        struct.pack_into("<Q", p.b, ioff + i * 32 + 8 * col, value)
        return p.reseal(regions=True)

    def _blk_patch(self, b, col, value):
        z = self.field_no("z")
        ioff = self.orig.fget(z, "index_offset")
        p = self.p()
        struct.pack_into("<Q", p.b, ioff + b * 24 + 8 * col, value)
        return p.reseal(regions=True)

    def _blk_shorten(self, e1):
        """Block 1 (entry e1) one byte shorter, with its own checksum and every region
        re-sealed, so that only the dropped byte is wrong."""
        z = self.field_no("z")
        ioff, doff = self.orig.fget(z, "index_offset"), self.orig.fget(z, "data_offset")
        p = self.p()
        start = doff + e1[0]
        struct.pack_into("<QQ", p.b, ioff + 24 + 8, e1[1] - 1,
                         tcfile.xxh3(bytes(p.b[start:start + e1[1] - 1])))
        return p.reseal(regions=True)

    def access_codes(self, path, field, i):
        """(python, C) error names when reading sample i of `field` (None when it reads)."""
        py = c = None
        with tensorcache.open(path) as cache:
            try:
                cache.field(field).sample(i)
            except tensorcache.Error as e:
                py = e.code
        with _native.CReader(path) as r:
            k = [f["name"] for f in r.fields].index(field)
            try:
                r.read_sample(k, i)
            except tensorcache.Error as e:
                c = e.code
            if field != "z":  # tc_sample (zero-copy view) takes the same checks
                try:
                    r.view_sample(k, i)
                except tensorcache.Error as e:
                    self.assertEqual(e.code, c)
        return py, c

    def test_variable_entries(self):
        cases = [  # (label, sample, column, value, code); columns: offset, nbytes, shape0, shape1
            ("off-misaligned", 5, 0, None, "INDEX"),
            ("nbytes", 5, 1, 7, "INDEX"),
            ("past-data", 19, 0, 1 << 20, "INDEX"),
            ("marker", 6, 2, U64_MAX, "INDEX"),
            ("fixed-dim", 6, 3, 4, "INDEX"),
            ("overflow", 6, 2, 1 << 62, "OVERFLOW"),
            ("offset-wraps", 7, 0, U64_MAX - 63, "INDEX"),
        ]
        v = self.field_no("seq")
        ioff = self.orig.fget(v, "index_offset")
        for label, i, col, value, code in cases:
            if value is None:
                value = struct.unpack_from("<Q", self.orig.b, ioff + i * 32)[0] + 8
            data = self._var_patch(i, col, value).b
            self.check("var-" + label, data, None, code)
            path = self.tmp("case-var-%s.tc" % label)
            with self.subTest(access=label):
                self.assertEqual(self.access_codes(path, "seq", i), (code, code))
                self.assertEqual(self.access_codes(path, "seq", i - 1), (None, None))
        # entry 11 starting where entry 10 (12 bytes) starts: entry 11 is the one reported
        prev = struct.unpack_from("<QQ", self.orig.b, ioff + 10 * 32)
        self.assertEqual(prev[1], 12)
        data = self._var_patch(11, 0, prev[0]).b
        self.check("var-overlap", data, None, "INDEX")
        path = self.tmp("case-var-overlap.tc")
        self.assertEqual(self.access_codes(path, "seq", 11), ("INDEX", "INDEX"))
        self.assertEqual(self.access_codes(path, "seq", 10), (None, None))

    def test_block_entries(self):
        z = self.field_no("z")
        nblocks = self.orig.fget(z, "index_size") // 24
        self.assertEqual(nblocks, 4)
        ioff = self.orig.fget(z, "index_offset")
        e1 = struct.unpack_from("<QQQ", self.orig.b, ioff + 24)
        # (label, block, column, value, code, code when reading the NEXT block, which checks
        # its predecessor's own bounds but not the predecessor's overlap with its predecessor)
        cases = [("csize0", 1, 1, 0, "INDEX", "INDEX"),
                 ("csize-huge", 1, 1, 10 ** 6, "INDEX", "INDEX"),
                 ("past-data", 2, 0, 1 << 30, "INDEX", "INDEX"),
                 ("overlap", 2, 0, e1[0], "INDEX", None)]
        for label, b, col, value, code, next_code in cases:
            data = self._blk_patch(b, col, value).b
            self.check("blk-" + label, data, None, code)
            path = self.tmp("case-blk-%s.tc" % label)
            with self.subTest(access=label):
                self.assertEqual(self.access_codes(path, "z", 5 * b), (code, code))
                self.assertEqual(self.access_codes(path, "z", 5 * (b + 1)),
                                 (next_code, next_code))
                self.assertEqual(self.access_codes(path, "z", 0), (None, None))
        # block 1 one byte shorter, everything resealed (its own checksum too): the dropped byte
        # is now a non-zero gap between blocks, which full verification finds before decoding;
        # reading decodes wrongly
        data = self._blk_shorten(e1)
        self.check("blk-truncated", data.b, None, "PADDING")
        self.assertEqual(self.access_codes(self.tmp("case-blk-truncated.tc"), "z", 7),
                         ("CORRUPT_BLOCK", "CORRUPT_BLOCK"))
        # ... and with that byte zeroed, the padding is clean and the decode fails
        doff = self.orig.fget(z, "data_offset")
        p = self._blk_shorten(e1)
        p.b[doff + e1[0] + e1[1] - 1] = 0
        self.check("blk-truncated-zeroed", p.reseal(regions=True).b, None, "CORRUPT_BLOCK")
        self.assertEqual(self.access_codes(self.tmp("case-blk-truncated-zeroed.tc"), "z", 7),
                         ("CORRUPT_BLOCK", "CORRUPT_BLOCK"))
        # a flipped compressed byte with stale checksums: CHECKSUM first under verify
        doff = self.orig.fget(z, "data_offset")
        p = self.p()
        p.b[doff + e1[0] + 2] ^= 0x55
        self.check("blk-flip", p.b, None, "CHECKSUM")

    def test_padding_inside_data_regions(self):
        """Non-zero bytes in stride padding, between variable samples, after the last one and
        between LZ4 blocks: PADDING under full verification (checksums resealed)."""
        rng = np.random.default_rng(8)
        a = rng.integers(1, 255, (10, 3), dtype=np.uint8)
        v = [np.full(k, 7, np.uint8) for k in (5, 0, 70, 1)] + [np.ones(3, np.uint8)] * 6
        z = np.repeat(np.arange(10, dtype=np.uint8), 100).reshape(10, 100)
        base = tcfile.build([tcfile.fixed("a", a, align=8), tcfile.variable("v", v, (None,)),
                             tcfile.lz4("z", z, block_samples=3, gap=2)], 10)
        self.check("pad-clean", base, None, None)

        def poke(field, rel, label, fix=None):
            p = Patch(base)
            off = p.fget(field, "data_offset")
            p.b[off + rel] = 1
            if fix:
                fix(p)
            self.check(label, p.reseal(regions=True).b, None, "PADDING")

        poke(0, 3, "pad-stride-first")             # sample 0: bytes 3..7 are padding
        poke(0, 9 * 8 + 7, "pad-stride-last")
        poke(1, 5, "pad-var-gap")                  # after sample 0 (5 bytes), before 64
        poke(1, 64 + 70, "pad-var-gap-after-long")  # sample 2 starts at 64, 70 bytes long
        last_end = Patch(base).fget(1, "data_size") - 1
        poke(1, last_end, "pad-var-trailing")
        ioff = Patch(base).fget(2, "index_offset")
        e1 = struct.unpack_from("<QQQ", base, ioff + 24)
        poke(2, e1[0] + e1[1] + 1, "pad-lz4-gap")     # the 2-byte gap after block 1
        poke(2, Patch(base).fget(2, "data_size") - 1, "pad-lz4-trailing")
        with tensorcache.open(tcfile.write(self.tmp("pad-ok.tc"), base), verify=True) as c:
            np.testing.assert_array_equal(c["z"].read_all(), z)
            np.testing.assert_array_equal(c["a"], a)

    def test_lz4_index_size_overflow(self):
        data = tcfile.build([tcfile.lz4("z", np.zeros((4, 2), np.uint8), block_samples=1)], 4)
        p = Patch(data).hset("num_samples", 1 << 62)
        self.check("lz4-index-overflow", p.reseal().b, "OVERFLOW")

    def test_big_index_vectorised(self):
        """The vectorised full check finds the same first bad entry among many."""
        n = 3000
        arrays = [np.zeros((i % 5, 1), np.uint8) for i in range(n)]
        data = tcfile.build([tcfile.variable("v", arrays, (None, 1))], n)
        p = Patch(data)
        ioff = p.fget(0, "index_offset")
        for i, col, value in [(2500, 1, 3), (2999, 0, 1)]:
            q = Patch(data)
            struct.pack_into("<Q", q.b, ioff + i * 32 + 8 * col, value)
            self.check("big-%d" % i, q.reseal(regions=True).b, None, "INDEX")
            with tensorcache.open(self.tmp("case-big-%d.tc" % i)) as c:
                with self.assertRaises(tensorcache.FormatError) as cm:
                    c.verify()
                self.assertIn("sample %d" % i, str(cm.exception))


if __name__ == "__main__":
    unittest.main()
