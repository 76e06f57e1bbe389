#!/usr/bin/env python3
"""bench_py.py - the Python half of `make bench` (bench/README.md explains every row).

    bench_py.py --dir DIR --out FILE [--size-gb X] [--repeats R] [--quick] [--only LIST]
                [--cold-method M] [--warm-cmd CMD]

Appends one CSV record per measurement and repeat to FILE (the format bench_c writes):
    m,BENCH,CASE,IMPL,REPEAT,VALUE,UNIT     a measurement
    i,KEY,VALUE                             a fact about the run
    s,BENCH,CASE,REASON                     a row that could not be measured, and why

Datasets: Fashion-MNIST (60000 x 28x28x1 uint8, from the Debian package) and a synthetic set of
224x224x3 uint8 images (--size-gb). Each is written as a tensorcache file, a .npy, an HDF5 file
(chunked, one sample per chunk: h5py's advice for random per-sample reads) and an LMDB
environment (one key per sample), so every reader reads the same bytes.

Runs in the project venv with PYTHONPATH pointing at python/ and TENSORCACHE_LIB at the built
libtensorcache.so. Child processes (conversion memory, shared-memory readers) are this same
script with a --child-* option, so each starts clean.
"""

import argparse
import gc
import gzip
import mmap
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

import epochs  # bench/epochs.py: eviction

SELF = os.path.abspath(__file__)
BATCH = 256
IMG224 = (224, 224, 3)


# ---- records ---------------------------------------------------------------------------------
class Rec:
    def __init__(self, path):
        self.f = open(path, "a")

    def m(self, bench, case, impl, rep, value, unit):
        self.f.write("m,%s,%s,%s,%d,%.9g,%s\n" % (bench, case, impl, rep, value, unit))
        self.f.flush()

    def i(self, key, value):
        self.f.write("i,%s,%s\n" % (key, str(value).replace("\n", " ").replace(",", ";")))
        self.f.flush()

    def s(self, bench, case, reason):
        self.f.write("s,%s,%s,%s\n" % (bench, case, reason.replace(",", ";")))
        self.f.flush()


def progress(msg):
    sys.stderr.write("  [py] %s\n" % msg)
    sys.stderr.flush()


def now():
    return time.perf_counter()


def rotated(items, r):
    """The same items, started at a different one each repeat (no fixed first-run advantage)."""
    k = r % len(items)
    return items[k:] + items[:k]


# ---- page cache --------------------------------------------------------------------------------
def _files(paths):
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                yield os.path.join(p, name)
        elif os.path.exists(p):
            yield p


def resident_fraction(paths):
    """Fraction of the pages of `paths` in the page cache (mincore through ctypes)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    page = os.sysconf("SC_PAGE_SIZE")
    total = inside = 0
    for p in _files(paths):
        size = os.path.getsize(p)
        if size == 0:
            continue
        with open(p, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), size, prot=mmap.PROT_READ)
        try:
            addr = np.frombuffer(mm, np.uint8).ctypes.data
            n = (size + page - 1) // page
            vec = (ctypes.c_ubyte * n)()
            if libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
            inside += sum(v & 1 for v in bytes(vec))
            total += n
        finally:
            del addr
            gc.collect()
            mm.close()
    return inside / total if total else 0.0


def evict(paths, method):
    """Drops `paths` from the page cache. Nothing may still map them."""
    if method == "drop_caches":
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("1\n")
    else:
        epochs.evict(list(_files(paths)))
    return resident_fraction(paths) < 0.01


def make_hot(paths):
    for p in _files(paths):
        with open(p, "rb", buffering=0) as fh:
            while fh.read(8 << 20):
                pass


# ---- datasets ----------------------------------------------------------------------------------
def load_fmnist(d):
    def idx(name, hdr):
        with gzip.open(os.path.join(d, name), "rb") as fh:
            raw = fh.read()
        return np.frombuffer(raw, np.uint8, offset=hdr)
    images = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1).copy()  # writable
    labels = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return images, labels


def make_synth(size_gb, seed=42):
    n = max(64, int(size_gb * 1e9 // np.prod(IMG224)))
    rng = np.random.default_rng(seed)
    images = np.empty((n,) + IMG224, np.uint8)
    flat = images.reshape(n, -1)
    step = 256
    for i in range(0, n, step):  # in slices: rng.bytes of GBs at once doubles peak memory
        m = min(step, n - i)
        flat[i:i + m] = np.frombuffer(rng.bytes(m * flat.shape[1]), np.uint8).reshape(m, -1)
    labels = (np.arange(n) % 1000).astype(np.int64)
    return images, labels


def lmdb_key(i):
    return struct.pack(">Q", i)


def build_files(name, images, labels, d, peers):
    """Writes the dataset in every format; returns {format: path}."""
    import tensorcache
    paths = {"tc": os.path.join(d, name + ".tc"), "npy": os.path.join(d, name + "-image.npy"),
             "npy_label": os.path.join(d, name + "-label.npy")}
    n = len(images)
    tensorcache.pack_batches(
        paths["tc"], ((images[i:i + 4096], labels[i:i + 4096]) for i in range(0, n, 4096)),
        field_names=["image", "label"], layout={"image": "NHWC"}, progress=False)
    np.save(paths["npy"], images)
    np.save(paths["npy_label"], labels)
    if "h5py" in peers:
        import h5py
        paths["h5"] = os.path.join(d, name + ".h5")
        with h5py.File(paths["h5"], "w") as fh:
            # One sample per chunk: h5py's guidance for reading single samples at random.
            ds = fh.create_dataset("image", shape=images.shape, dtype=np.uint8,
                                   chunks=(1,) + images.shape[1:])
            for i in range(0, n, 4096):
                ds[i:i + 4096] = images[i:i + 4096]
            fh.create_dataset("label", data=labels)
    if "lmdb" in peers:
        import lmdb
        paths["lmdb"] = os.path.join(d, name + ".lmdb")
        shutil.rmtree(paths["lmdb"], ignore_errors=True)
        sb = images[0].nbytes
        env = lmdb.open(paths["lmdb"], map_size=int(n * (sb + 4096) * 1.5 + (64 << 20)),
                        subdir=True, lock=True)
        for i in range(0, n, 4096):  # a few large write transactions; keys in order: append
            with env.begin(write=True) as txn:
                for j in range(i, min(n, i + 4096)):
                    txn.put(lmdb_key(j), images[j].tobytes(), append=True)
        env.sync()
        env.close()
    return paths


# ---- readers: one object per way of reading, opened/closed so cold runs start fresh -----------
def prefault(a):
    """Touches one byte of every page of the array's buffer: the mapping is then populated, as
    it is in a process that has been reading for a while (the steady state of training)."""
    flat = a.reshape(-1).view(np.uint8)
    return int(flat[::4096].sum())


class Reader:
    """Interface: open(), view(i), gather(idx, out) -> out, close(), files (for eviction),
    populate() (map every page: the steady state of a long-running reader)."""
    files = ()

    def open(self):
        pass

    def populate(self):
        pass

    def close(self):
        pass


class InMemory(Reader):
    name = "ndarray (in memory)"

    def __init__(self, images):
        self.images = images

    def view(self, i):
        return self.images[i]

    def take(self, idx):
        return self.images[idx]

    def gather(self, idx, out):
        # The fastest NumPy way into a buffer: mode="clip" (indices are known to be valid)
        # avoids the temporary that mode="raise" makes when `out` is given.
        return np.take(self.images, idx, axis=0, out=out, mode="clip")


class InMemoryRaise(InMemory):
    """Reference: np.take into a buffer with NumPy's default mode="raise", which copies through
    a temporary whenever `out` is given (so that a bad index leaves `out` untouched)."""
    name = "ndarray np.take(out=) mode=raise"

    def gather(self, idx, out):
        return np.take(self.images, idx, axis=0, out=out)


class TensorCacheReader(Reader):
    name = "tensorcache"

    def __init__(self, path):
        self.path = path
        self.files = (path,)

    def open(self):
        import tensorcache
        self.c = tensorcache.open(self.path)
        self.a = self.c["image"]          # a plain ndarray viewing the mapping
        self.f = self.c.field("image")

    def populate(self):
        prefault(self.a)

    def view(self, i):
        return self.a[i]

    def take(self, idx):
        return self.f.gather(idx)

    def gather(self, idx, out):
        return self.f.gather(idx, out=out)

    def close(self):
        self.a = self.f = None
        self.c.close()
        self.c = None
        gc.collect()


class TensorCacheSample(TensorCacheReader):
    """cache[i]: every field of sample i as a dict (the generic per-sample API)."""
    name = "tensorcache cache[i]"

    def view(self, i):
        return self.c[i]


class Memmap(Reader):
    name = "np.memmap (.npy)"

    def __init__(self, path):
        self.path = path
        self.files = (path,)

    def open(self):
        self.mm = np.load(self.path, mmap_mode="r")

    def populate(self):
        prefault(self.mm)

    def view(self, i):
        return self.mm[i]

    def take(self, idx):
        return self.mm[idx]

    def gather(self, idx, out):
        return np.take(self.mm, idx, axis=0, out=out, mode="clip")

    def close(self):
        mm = getattr(self.mm, "_mmap", None)
        self.mm = None
        gc.collect()
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass


class H5(Reader):
    name = "h5py (chunked)"

    def __init__(self, path):
        self.path = path
        self.files = (path,)

    def open(self):
        import h5py
        self.fh = h5py.File(self.path, "r")
        self.ds = self.fh["image"]

    def view(self, i):
        return self.ds[i]

    def gather(self, idx, out):
        # One read per sample. h5py's fancy indexing (a sorted index list) gives the same
        # bytes but measured ~400x slower here (h5py's docs warn about its performance).
        ds = self.ds
        for k, i in enumerate(idx.tolist()):
            out[k] = ds[i]
        return out

    def close(self):
        self.ds = None
        self.fh.close()


class Lmdb(Reader):
    name = "LMDB (key per sample)"

    def __init__(self, path, shape):
        self.path = path
        self.shape = shape
        self.files = (path,)

    def open(self):
        import lmdb
        self.env = lmdb.open(self.path, readonly=True, lock=False, readahead=False,
                             subdir=True)

    def view(self, i):
        with self.env.begin(buffers=True) as txn:
            return np.frombuffer(txn.get(lmdb_key(i)), np.uint8).reshape(self.shape).copy()

    def views(self, idx):
        """Per-sample reads inside one read transaction (py-lmdb's advice: reuse txns; with
        buffers=True the value is a zero-copy buffer valid inside the transaction)."""
        shape = self.shape
        with self.env.begin(buffers=True) as txn:
            get = txn.get
            for i in idx.tolist():
                np.frombuffer(get(lmdb_key(i)), np.uint8).reshape(shape)

    def gather(self, idx, out):
        flat = out.reshape(len(idx), -1)
        with self.env.begin(buffers=True) as txn:
            get = txn.get
            for k, i in enumerate(idx.tolist()):
                flat[k] = np.frombuffer(get(lmdb_key(i)), np.uint8)
        return out

    def close(self):
        self.env.close()


# ---- 1. single view and random batch gather ---------------------------------------------------
def bench_view(rec, ds_name, readers, n, reps, quick):
    """ns per single-sample access; each repeat is the median of 5 timed slices."""
    rng = np.random.default_rng(7)
    for r in range(reps):
        for rd in rotated(readers, r):
            slow = isinstance(rd, (H5, Lmdb, TensorCacheSample))
            m = (400 if quick else 2000) if slow else (10000 if quick else 40000)
            rd.open()
            try:
                times = []
                for _ in range(5):
                    idx = rng.integers(0, n, m)
                    if isinstance(rd, Lmdb):
                        t0 = now()
                        rd.views(idx)
                        times.append(now() - t0)
                        continue
                    idx = idx.tolist()
                    view = rd.view
                    for i in idx[:100]:  # warm the code path and the touched pages
                        view(i)
                    t0 = now()
                    for i in idx:
                        view(i)
                    times.append(now() - t0)
            finally:
                rd.close()
            rec.m("py.view", ds_name, rd.name, r, statistics.median(times) / m * 1e9, "ns")


def _timed_units(fn, batches, per_unit):
    """GB-independent timing helper: seconds per unit of `per_unit` batches."""
    out = []
    for u in range(0, len(batches) - per_unit + 1, per_unit):
        t0 = now()
        for b in batches[u:u + per_unit]:
            fn(b)
        out.append(now() - t0)
    return out


def bench_gather(rec, ds_name, readers, n, sb, shape, reps, quick, cold_method):
    """Random batches of BATCH distinct samples (as a shuffling sampler draws them).

    into-buffer: every reader fills the same preallocated batch buffer (the DataLoader-style
    path; peers included). new-array: the indexing idiom, `array[idx]`, which allocates the
    batch (tensorcache's Field.gather(idx), ndarray and np.memmap fancy indexing).
    Hot: the file is in the page cache and each reader's mapping populated (a long-running
    reader's steady state); figures are the median of timed units of >= 8 MB. Cold: the file was
    evicted and the reader opened afresh; one pass over under 10% of the set (so nearly every
    access is a first one), timed as a whole."""
    rng = np.random.default_rng(11)
    out = np.empty((BATCH,) + shape, np.uint8)
    out.fill(1)
    target_bytes = (64 << 20) if quick else (512 << 20)
    nb = max(8, target_bytes // (BATCH * sb))
    per_unit = max(1, (8 << 20) // (BATCH * sb))
    variants = [("into-buffer", readers + [InMemoryRaise(readers[0].images)]),
                ("new-array", [rd for rd in readers if hasattr(rd, "take")])]
    for cold in (False, True):
        state = "cold" if cold else "hot"
        if cold and not cold_method:
            rec.s("py.gather", "%s/b%d/cold" % (ds_name, BATCH),
                  "the page cache cannot be dropped here")
            continue
        if not cold:
            for rd in readers:
                make_hot(rd.files)
        for vname, vreaders in variants[:1] if cold else variants:
            if cold:
                vreaders = [rd for rd in vreaders if not isinstance(rd, InMemory)]
            case = "%s/b%d/%s/%s" % (ds_name, BATCH, state, vname)
            for r in range(reps):
                for rd in rotated(vreaders, r):
                    if cold and isinstance(rd, InMemory):
                        continue
                    slow = isinstance(rd, H5)
                    nbr = max(2 * per_unit, nb // 16) if slow else nb
                    if cold:
                        nbr = max(1, n // (10 * BATCH))
                    batches = [rng.choice(n, BATCH, replace=False) for _ in range(nbr)]
                    if cold and not evict(rd.files, cold_method):
                        rec.s("py.gather", case, "could not evict %s" % rd.name)
                        continue
                    fn = (lambda b, rd=rd: rd.gather(b, out)) if vname == "into-buffer" else rd.take
                    rd.open()
                    try:
                        if not cold:
                            rd.populate()
                        if cold:
                            t0 = now()
                            for b in batches:
                                fn(b)
                            gbs = nbr * BATCH * sb / (now() - t0) / 1e9
                        else:
                            fn(batches[0])
                            units = _timed_units(fn, batches, per_unit)
                            gbs = per_unit * BATCH * sb / statistics.median(units) / 1e9
                    finally:
                        rd.close()
                    rec.m("py.gather", case, rd.name, r, gbs, "GB/s")


# ---- 4. shared memory: K readers, total PSS -------------------------------------------------------
def _pss(pid):
    with open("/proc/%d/smaps_rollup" % pid) as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no Pss in smaps_rollup of %d" % pid)


def child_reader(mode, path, label_path):
    """Phase 1: set up, report ready. Phase 2: touch the whole dataset, report. Then wait."""
    import tensorcache
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    total = 0
    if mode == "cache":
        c = tensorcache.open(path)
        for f in c.fields:  # one byte of every page of every field
            flat = f.array.reshape(-1).view(np.uint8) if f.array.ndim else f.array
            total += int(flat[::4096].sum()) if len(flat) else 0
            total += int(flat[-1]) if len(flat) else 0
    else:
        images = np.load(path)  # an in-process copy: the usual np.load
        labels = np.load(label_path)
        total += int(images.reshape(-1)[::4096].sum()) + int(labels.sum())
    sys.stdout.write("touched %d\n" % total)
    sys.stdout.flush()
    sys.stdin.readline()


def bench_pss(rec, tc_path, npy_path, label_path, data_bytes, reps):
    env = dict(os.environ)
    for r in range(reps):
        for k in (1, 2, 4):
            for mode in rotated(["cache", "copies"], r):
                procs = [subprocess.Popen([sys.executable, SELF, "--child-reader", mode,
                                           tc_path if mode == "cache" else npy_path, label_path],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
                         for _ in range(k)]
                try:
                    for p in procs:
                        p.stdout.readline()
                    before = sum(_pss(p.pid) for p in procs)
                    for p in procs:
                        p.stdin.write(b"go\n")
                        p.stdin.flush()
                    for p in procs:
                        line = p.stdout.readline()
                        if not line.startswith(b"touched"):
                            raise RuntimeError("reader failed")
                    after = sum(_pss(p.pid) for p in procs)
                finally:
                    for p in procs:
                        try:
                            p.stdin.write(b"exit\n")
                            p.stdin.close()
                        except OSError:
                            pass
                        p.wait()
                name = "tensorcache (K mappings)" if mode == "cache" else "np.load (K copies)"
                rec.m("py.pss", "image224/K=%d" % k, name, r, (after - before) / data_bytes,
                      "x one copy")


# ---- 5. tensorcache warm ------------------------------------------------------------------------
def bench_warm(rec, warm_cmd, path, reps, cold_method):
    if not cold_method:
        rec.s("c.warm", "image224/cold", "the page cache cannot be dropped here")
        return
    size = os.path.getsize(path)
    for r in range(min(reps, 3)):
        for impl in rotated(["warm", "cat"], r):
            if not evict([path], cold_method):
                rec.s("c.warm", "image224/cold", "could not evict the file")
                return
            t0 = now()
            if impl == "warm":
                p = subprocess.run(warm_cmd + [path], stdout=subprocess.PIPE, check=True)
            else:
                with open(os.devnull, "wb") as null:
                    subprocess.run(["cat", path], stdout=null, check=True)
            t = now() - t0
            name = "tensorcache warm" if impl == "warm" else "cat FILE >/dev/null"
            rec.m("c.warm", "image224/cold", name, r, size / t / 1e9, "GB/s")
            if impl == "warm":
                out = p.stdout.decode()
                pct = float(out.split("% resident")[0].rsplit(" ", 1)[-1])
                rec.m("c.warm_resident", "image224", "tensorcache warm", r, pct, "%")


# ---- main ------------------------------------------------------------------------------------
def peers_available(rec):
    peers = {}
    for mod in ("h5py", "lmdb"):
        try:
            m = __import__(mod)
            peers[mod] = getattr(m, "__version__", "?")
            rec.i("peer_" + mod, peers[mod])
        except ImportError:
            rec.i("peer_" + mod, "not in the project venv (the epoch table measures it, "
                  "from the bench venv)")
            progress("%s is not in the project venv: its micro rows are skipped" % mod)
    return peers


def wanted(only, name):
    return not only or name in only.split(",")


def run_dataset(rec, args, name, images, labels, peers):
    d = args.dir
    reps = args.repeats
    progress("%s: writing .tc, .npy%s" % (name, "".join(", " + p for p in sorted(peers))))
    t0 = now()
    paths = build_files(name, images, labels, d, peers)
    progress("%s: files written in %.1f s" % (name, now() - t0))
    shape = images.shape[1:]
    sb = int(np.prod(shape))
    readers = [InMemory(images), TensorCacheReader(paths["tc"]), Memmap(paths["npy"])]
    if "h5" in paths:
        readers.append(H5(paths["h5"]))
    if "lmdb" in paths:
        readers.append(Lmdb(paths["lmdb"], shape))
    missing = [p for p in ("h5py", "lmdb") if p not in peers]
    for p in missing:
        rec.s("py.gather", name, "%s not installed" % p)
    if wanted(args.only, "view"):
        progress("%s: single-sample view" % name)
        bench_view(rec, name, readers[:2] + [TensorCacheSample(paths["tc"])] + readers[2:],
                   len(images), reps, args.quick)
    if wanted(args.only, "gather"):
        progress("%s: random batch gather (hot%s)" % (name, ", cold" if args.cold_method else ""))
        bench_gather(rec, name, readers, len(images), sb, shape, reps, args.quick,
                     args.cold_method)
    return paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir")
    ap.add_argument("--out")
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--cold-method", default="")
    ap.add_argument("--warm-cmd", default="")
    ap.add_argument("--child-reader", nargs=3)
    args = ap.parse_args()
    if args.child_reader:
        return child_reader(*args.child_reader)

    rec = Rec(args.out)
    os.makedirs(args.dir, exist_ok=True)
    if args.cold_method == "unavailable":
        args.cold_method = ""
    import torch
    import tensorcache
    rec.i("numpy", np.__version__)
    rec.i("torch", torch.__version__)
    rec.i("tensorcache_py", tensorcache.__version__)
    peers = peers_available(rec)

    if os.path.exists(os.path.join(args.fmnist, "train-images-idx3-ubyte.gz")):
        images, labels = load_fmnist(args.fmnist)
        paths = run_dataset(rec, args, "fmnist", images, labels, peers)
        for p in paths.values():
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
        del images, labels
    else:
        rec.s("py.view", "fmnist", "Fashion-MNIST not found in %s" % args.fmnist)

    progress("synthetic set: generating %.2f GB of 224x224x3 images" % args.size_gb)
    images, labels = make_synth(args.size_gb)
    rec.i("py_synth_samples", len(images))
    rec.i("py_synth_bytes", images.nbytes)
    paths = run_dataset(rec, args, "image224", images, labels, peers)
    del images
    gc.collect()
    data_bytes = os.path.getsize(paths["npy"]) - 128 + os.path.getsize(paths["npy_label"]) - 128
    if wanted(args.only, "pss"):
        progress("shared memory: K = 1, 2, 4 readers, PSS")
        make_hot([paths["tc"], paths["npy"], paths["npy_label"]])
        bench_pss(rec, paths["tc"], paths["npy"], paths["npy_label"], data_bytes,
                  min(args.repeats, 3))
    if wanted(args.only, "warm") and args.warm_cmd:
        progress("tensorcache warm vs cat")
        bench_warm(rec, args.warm_cmd.split(), paths["tc"], args.repeats, args.cold_method)
    for p in paths.values():
        shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
