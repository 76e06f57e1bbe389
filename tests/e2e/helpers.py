"""Input generation and NumPy-side checks for tests/e2e/run.sh.

    helpers.py gen DIR                 write every input file and every NumPy reference
    helpers.py fmnist EXPORT_IMG EXPORT_LBL IMAGES_GZ LABELS_GZ
    helpers.py json-check INFO_JSON CHECK   (CHECK names one of the checks below)
    helpers.py flip FILE OFFSET        flip one byte of FILE at OFFSET
    helpers.py field-offset INFO_JSON FIELD

Every reference file is written with np.save (format 1.0), so the exported .npy files of the
command must be byte-identical to them.
"""
import gzip
import json
import os
import struct
import sys

import numpy as np

RNG = np.random.default_rng(20240607)

DTYPES = [
    ("bool", "|b1"), ("u8", "|u1"), ("i8", "|i1"), ("u16", "<u2"), ("i16", "<i2"),
    ("u32", "<u4"), ("i32", "<i4"), ("u64", "<u8"), ("i64", "<i8"), ("f16", "<f2"),
    ("f32", "<f4"), ("f64", "<f8"),
]


def rand(shape, dtype):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return RNG.random(shape) > 0.5
    if dt.kind in "ui":
        info = np.iinfo(dt)
        native = dt.newbyteorder("=")
        return RNG.integers(info.min, info.max, size=shape, dtype=native, endpoint=True).astype(dt)
    a = RNG.standard_normal(shape).astype(dt)
    flat = a.reshape(-1)
    special = [np.nan, np.inf, -np.inf, -0.0]
    for i, v in enumerate(special[: flat.size]):
        flat[i * 7 % max(flat.size, 1)] = v
    return a


def save(d, name, a):
    np.save(os.path.join(d, name), a, allow_pickle=False)


def write_raw(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy_bytes(a, version=None):
    import io
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        np.lib.format.write_array(b, a, version=version)
    return b.getvalue()


def npy_with_header(text, data):
    """A version 1.0 .npy file with a hand-written header dict."""
    text = text + " " * (63 - (10 + len(text)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode() + data


def idx_bytes(a, type_byte):
    head = bytes([0, 0, type_byte, a.ndim]) + b"".join(struct.pack(">I", n) for n in a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def cifar_records(n, labels):
    """n records with `labels` label bytes each (CIFAR-10: 1, CIFAR-100: 2)."""
    recs = np.zeros((n, labels + 3072), np.uint8)
    if labels == 1:
        recs[:, 0] = RNG.integers(0, 10, n)
    else:
        recs[:, 0] = RNG.integers(0, 20, n)
        recs[:, 1] = RNG.integers(0, 100, n)
    recs[:, labels:] = RNG.integers(0, 256, (n, 3072))
    return recs


def cifar_refs(d, prefix, recs, labels):
    imgs = recs[:, labels:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    save(d, prefix + "_img_ref.npy", np.ascontiguousarray(imgs))
    for k in range(labels):
        save(d, prefix + "_lab%d_ref.npy" % k, np.ascontiguousarray(recs[:, k]))


def gen(d):
    os.makedirs(d, exist_ok=True)
    # every dtype, one 2-D array each
    for name, descr in DTYPES:
        a = rand((13, 5), descr)
        save(d, "rt_%s.npy" % name, a)
        if name == "u16":  # the same bytes, packed raw as bf16, export as '<u2'
            write_raw(d, "rt_u16.bin", a.tobytes())
    # N = 0, N = 1, rank 0 per sample, dims of 1, prime sizes, rank 5+, empty samples
    save(d, "n0.npy", np.zeros((0, 4), "<f4"))
    save(d, "n0_1d.npy", np.zeros((0,), "|u1"))
    save(d, "n1.npy", rand((1, 3, 3, 3), "<i2"))
    save(d, "r0.npy", rand((17,), "<i8"))
    save(d, "ones.npy", rand((5, 1, 1, 1), "<f4"))
    save(d, "ones2.npy", rand((4, 1), "|u1"))
    save(d, "single.npy", rand((1,), "<f8"))
    save(d, "prime.npy", rand((11, 13, 7, 3), "|u1"))
    save(d, "rank5.npy", rand((3, 2, 3, 1, 2, 5), "<i4"))
    save(d, "rank8.npy", rand((2, 1, 2, 1, 2, 1, 2, 1, 2), "<f8"))
    save(d, "rank9.npy", np.zeros((2,) * 10, "|u1"))
    save(d, "empty_sample.npy", np.zeros((5, 0), "<f4"))
    # 3-D images: stored (N,H,W,1)
    img = rand((6, 7, 9), "|u1")
    save(d, "img3d.npy", img)
    save(d, "img3d_nhwc_ref.npy", img[..., None])
    # several fields
    save(d, "mf_a.npy", rand((10, 4), "<f4"))
    save(d, "mf_b.npy", rand((10,), "<i8"))
    save(d, "mf_c.npy", rand((10, 2, 2, 2), "|u1"))
    # header versions 2.0 and 3.0, and a Python 2 header ("3L")
    a = rand((9, 4), "<f4")
    write_raw(d, "v2.npy", npy_bytes(a, (2, 0)))
    write_raw(d, "v3.npy", npy_bytes(a, (3, 0)))
    save(d, "v_ref.npy", a)
    b = rand((3, 2), "<i4")
    write_raw(d, "py2.npy", npy_with_header(
        "{'descr': '<i4', 'fortran_order': False, 'shape': (3L, 2L), }", b.tobytes()))
    save(d, "py2_ref.npy", b)
    # Fortran order
    f4 = rand((8, 3, 5, 2), "<i4")
    save(d, "fortran4.npy", np.asfortranarray(f4))
    save(d, "fortran4_ref.npy", f4)
    f2 = rand((10, 7), ">f8")
    save(d, "fortran2be.npy", np.asfortranarray(f2))
    save(d, "fortran2be_ref.npy", f2.astype("<f8"))
    with gzip.open(os.path.join(d, "fortran.npy.gz"), "wb") as g:
        g.write(npy_bytes(np.asfortranarray(f4)))
    # big-endian
    for name, descr in [("i4", ">i4"), ("f8", ">f8"), ("u2", ">u2"), ("f2", ">f2"),
                        ("i8", ">i8")]:
        a = rand((6, 5), descr)
        save(d, "be_%s.npy" % name, a)
        save(d, "be_%s_ref.npy" % name, a.astype(a.dtype.newbyteorder("<")))
    # NCHW -> NHWC
    x = rand((6, 3, 4, 5), "<f4")
    save(d, "nchw.npy", x)
    save(d, "nchw_ref.npy", np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    y = rand((6, 2, 3, 4), "<i2")
    save(d, "nchw_y.npy", y)
    # raw
    r = rand((7, 3, 4, 2), "<f4")
    write_raw(d, "raw_f32.bin", r.tobytes())
    save(d, "raw_ref.npy", r)
    write_raw(d, "raw_bad.bin", r.tobytes()[:-5])
    # gzip
    g = rand((12, 3, 2, 2), "<u2")
    save(d, "gz_ref.npy", g)
    with gzip.open(os.path.join(d, "gz.npy.gz"), "wb") as out:
        out.write(npy_bytes(g))
    # lz4: compressible and incompressible
    lz = np.tile(np.arange(64, dtype=np.uint8), (2000, 1)) + (np.arange(2000) % 3)[:, None].astype(np.uint8)
    save(d, "lz_tile.npy", lz)
    save(d, "lz_rand.npy", rand((2000, 17), "<f8"))
    # --align
    save(d, "align.npy", rand((20, 3), "<f4"))
    # IDX of every type
    for tb, descr in [(0x08, "|u1"), (0x09, "|i1"), (0x0B, ">i2"), (0x0C, ">i4"),
                      (0x0D, ">f4"), (0x0E, ">f8")]:
        a = rand((5, 3, 2), descr)  # 3-D: becomes (5,3,2,1)
        write_raw(d, "idx_%02x-ubyte" % tb, idx_bytes(a, tb))
        save(d, "idx_%02x_ref.npy" % tb, a.astype(a.dtype.newbyteorder("<"))[..., None])
    lab = rand((5,), "|u1")
    with gzip.open(os.path.join(d, "idx1-ubyte.gz"), "wb") as out:
        out.write(idx_bytes(lab, 0x08))
    save(d, "idx1_ref.npy", lab)
    # CIFAR
    c10 = cifar_records(5, 1)
    write_raw(d, "c10_b1.bin", c10.tobytes())
    cifar_refs(d, "c10", c10, 1)
    c10b = cifar_records(3, 1)
    write_raw(d, "c10_b2.bin", c10b.tobytes())
    cifar_refs(d, "c10cat", np.concatenate([c10, c10b]), 1)
    with gzip.open(os.path.join(d, "c10_b1.bin.gz"), "wb") as out:
        out.write(c10.tobytes())
    c100 = cifar_records(4, 2)
    write_raw(d, "c100.bin", c100.tobytes())
    cifar_refs(d, "c100", c100, 2)
    bad = c10.copy()
    bad[3, 0] = 12
    write_raw(d, "c10_badlabel.bin", bad.tobytes())
    # bad inputs
    write_raw(d, "empty.bin", b"")
    good = npy_bytes(rand((6, 2), "<f4"))
    write_raw(d, "badmagic.npy", b"\x93NUMPX" + good[6:])
    write_raw(d, "baddict.npy", npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shap': (6, 2), }", good[128:]))
    write_raw(d, "badtuple.npy", npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (12), }", good[128:]))
    write_raw(d, "trunc.npy", good[:-8])
    write_raw(d, "trailing.npy", good + b"\0")
    write_raw(d, "complex.npy", npy_bytes(np.zeros((3, 2), "<c8")))
    write_raw(d, "unicode.npy", npy_bytes(np.array(["ab", "cd"])))
    write_raw(d, "struct.npy", npy_bytes(np.zeros(3, [("a", "<i4"), ("b", "<f4")])))
    write_raw(d, "f128.npy", npy_with_header(
        "{'descr': '<f16', 'fortran_order': False, 'shape': (3, 2), }", bytes(96)))
    write_raw(d, "version9.npy", b"\x93NUMPY\x09\x00" + good[8:])
    write_raw(d, "idx_badmagic-ubyte", bytes([0, 0, 0x07, 1, 0, 0, 0, 2, 1, 2]))
    write_raw(d, "idx_short-ubyte", bytes([0, 0, 0x08, 1, 0, 0, 0, 10]) + bytes(8))
    write_raw(d, "idx_long-ubyte", bytes([0, 0, 0x08, 1, 0, 0, 0, 10]) + bytes(11))
    payload = gzip.compress(npy_bytes(rand((400, 50), "<f4")), 6)
    write_raw(d, "good.npy.gz", payload)
    corrupt = bytearray(payload)
    for i in range(len(corrupt) // 2, len(corrupt) // 2 + 16):
        corrupt[i] ^= 0x5A
    write_raw(d, "corrupt.npy.gz", bytes(corrupt))
    write_raw(d, "truncgz.npy.gz", payload[: len(payload) // 2])
    write_raw(d, "truncgz_tail.npy.gz", payload[:-4])  # only the length trailer missing
    ca, cb = rand((3, 4), "<f4"), rand((5, 4), "<f4")
    save(d, "cat_a.npy", ca)
    save(d, "cat_b.npy", cb)
    save(d, "cat_ref.npy", np.concatenate([ca, cb]))
    save(d, "cat_c.npy", rand((2, 5), "<f4"))
    save(d, "n10.npy", rand((10,), "<i4"))
    save(d, "n9.npy", rand((9,), "<i4"))
    save(d, "n2d.npy", rand((10, 3), "<f4"))


def fmnist(img_npy, lbl_npy, images_gz, labels_gz):
    with gzip.open(images_gz, "rb") as f:
        raw = f.read()
    n, h, w = struct.unpack(">III", raw[4:16])
    want = np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w, 1)
    got = np.load(img_npy)
    assert got.dtype == np.uint8 and got.shape == (n, h, w, 1), (got.dtype, got.shape)
    assert np.array_equal(got, want), "image payload differs"
    with gzip.open(labels_gz, "rb") as f:
        raw = f.read()
    want = np.frombuffer(raw, np.uint8, offset=8)
    got = np.load(lbl_npy)
    assert got.shape == (n,) and np.array_equal(got, want), "label payload differs"
    print("fmnist: %d images and labels equal to the IDX payload" % n)


def json_check(path, check):
    with open(path) as f:
        info = json.load(f)
    fields = {fl["name"]: fl for fl in info["fields"]}
    meta = info["metadata"]
    if check == "fmnist":
        assert info["num_samples"] == 60000
        img = fields["image"]
        assert img["shape"] == [28, 28, 1] and img["layout"] == "NHWC" and img["dtype"] == "u8"
        assert img["numpy"] == "|u1" and img["data"]["offset"] % 4096 == 0
        assert fields["label"]["shape"] == []
        assert meta["conversions"] == {"image": "NHW->NHWC"}
        assert meta["source"]["image"] == "train-images-idx3-ubyte.gz"
        assert len(meta["classes"]) == 10 and meta["classes"][0] == "T-shirt/top"
    elif check == "nchw":
        assert fields["x"]["shape"] == [4, 5, 3] and fields["x"]["layout"] == "NHWC"
        assert fields["y"]["shape"] == [2, 3, 4] and fields["y"]["layout"] is None
        assert meta["conversions"] == {"x": "NCHW->NHWC"}, meta["conversions"]
    elif check == "cifar10":
        assert fields["image"]["shape"] == [32, 32, 3] and fields["image"]["layout"] == "NHWC"
        assert fields["image_label"]["shape"] == [] and fields["image_label"]["dtype"] == "u8"
        assert meta["conversions"]["image"] == "NCHW->NHWC"
        assert meta["source"]["image"] == ["c10_b1.bin", "c10_b2.bin"], meta["source"]
    elif check == "lz4":
        t = fields["t"]
        assert t["codec"] == "lz4" and t["block_samples"] == 64, t
        assert t["compression_ratio"] > 4, t["compression_ratio"]
        assert t["index"]["size"] == 24 * 32 and t["stride"] == 0
        assert fields["r"]["codec"] == "none" and fields["r"]["compression_ratio"] is None
    elif check == "align":
        a = fields["a"]
        assert a["stride"] == 64 and a["sample_bytes"] == 12 and a["data"]["size"] == 64 * 20, a
    elif check == "weird":
        assert 'we"ird\\name\u00e9' in fields, list(fields)
        assert meta["user"] == {"k": [1, 2, "three"]} and meta["classes"] == ["from-json"]
        assert meta["tensorcache"]["writer"].startswith("tensorcache ")
    else:
        raise SystemExit("unknown check " + check)
    print("json-check %s: ok" % check)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def field_offset(path, field):
    with open(path) as f:
        info = json.load(f)
    for fl in info["fields"]:
        if fl["name"] == field:
            print(fl["data"]["offset"])
            return
    raise SystemExit("no field " + field)


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2])
    elif cmd == "fmnist":
        fmnist(*sys.argv[2:6])
    elif cmd == "json-check":
        json_check(sys.argv[2], sys.argv[3])
    elif cmd == "flip":
        flip(sys.argv[2], int(sys.argv[3]))
    elif cmd == "field-offset":
        field_offset(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
