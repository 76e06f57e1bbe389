"""tensorcache.Loader: batches from the C engine (tc_loader in include/tensorcache.h).

A pool of C threads fills a ring of reusable, 64-byte-aligned batch buffers a few batches ahead;
Python only wraps each ready buffer in NumPy arrays (no copy). ctypes releases the GIL while the
engine works, so other Python threads (a training step, a framework's own pipeline) keep running.

Validity of a yielded batch (the rule): the arrays of a batch view the engine's ring buffer and
stay valid until the NEXT batch is requested from the iterator (or the loader is closed, or a new
iteration starts); their memory is then refilled with a later batch. Keep a batch longer by
copying it (``np.array(a)``, ``torch.from_numpy(a).clone()``) or pass ``copy=True``, which yields
fresh arrays that you own. Arrays keep the engine's memory allocated (they are never dangling),
but after ``close()`` they must not be used.
"""

import ctypes
import os
import random

import numpy as np

from . import _native
from ._errors import ERROR_CODES, InvalidArgumentError, error_from_code
from ._format import DTYPES
from ._native import tc_error

TC_ORDER_SEQUENTIAL, TC_ORDER_SHUFFLE, TC_ORDER_INDICES = 0, 1, 2
TC_ERR_TIMEOUT = ERROR_CODES["TIMEOUT"]
_POLL_MS = 100  # how often a waiting iterator returns to Python (Ctrl-C is seen within this)

_u64p = ctypes.POINTER(ctypes.c_uint64)


class tc_order(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("seed", ctypes.c_uint64), ("epoch", ctypes.c_uint64),
                ("indices", _u64p), ("num_indices", ctypes.c_uint64),
                ("drop_last", ctypes.c_int), ("start", ctypes.c_uint64)]


class tc_loader_options(ctypes.Structure):
    _fields_ = [("fields", ctypes.POINTER(ctypes.c_uint32)), ("num_fields", ctypes.c_uint32),
                ("batch_size", ctypes.c_uint64), ("num_threads", ctypes.c_uint32),
                ("prefetch", ctypes.c_uint32), ("flags", ctypes.c_uint)]


class tc_batch_field(ctypes.Structure):
    _fields_ = [("field", ctypes.c_uint32), ("dtype", ctypes.c_int), ("rank", ctypes.c_uint32),
                ("variable", ctypes.c_int), ("data", ctypes.c_void_p),
                ("nbytes", ctypes.c_uint64), ("sample_bytes", ctypes.c_uint64),
                ("shape", _u64p), ("offsets", _u64p), ("shapes", _u64p)]


class tc_batch(ctypes.Structure):
    _fields_ = [("position", ctypes.c_uint64), ("size", ctypes.c_uint64), ("samples", _u64p),
                ("num_fields", ctypes.c_uint32), ("fields", ctypes.POINTER(tc_batch_field)),
                ("status", ctypes.c_int), ("error_field", ctypes.c_uint32),
                ("error_sample", ctypes.c_uint64), ("error", tc_error)]


_declared = None


def _lib():
    """libtensorcache with the loader functions declared (once)."""
    global _declared
    L = _native.lib()
    if _declared is L:
        return L
    P, vp, u64, ci = ctypes.POINTER, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
    err = P(tc_error)
    sigs = {
        "tc_shuffle_index": (u64, [u64, u64, u64, u64]),
        "tc_loader_create": (ci, [P(vp), vp, P(tc_loader_options), P(tc_order), err]),
        "tc_loader_next": (ci, [vp, P(P(tc_batch)), ci, err]),
        "tc_loader_release": (None, [vp]),
        "tc_loader_restart": (ci, [vp, P(tc_order), err]),
        "tc_loader_num_batches": (u64, [vp]),
        "tc_loader_num_threads": (ctypes.c_uint32, [vp]),
        "tc_loader_close": (None, [vp]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(L, name)
        fn.restype, fn.argtypes = res, args
    _native.check_structs(L, L.path, (tc_order, tc_loader_options, tc_batch_field, tc_batch))
    _declared = L
    return L


def shuffle_index(i, n, seed, epoch):
    """Position i of the seeded permutation of range(n) for (seed, epoch): tc_shuffle_index.
    The same on every machine (the definition is in include/tensorcache.h)."""
    return int(_lib().tc_shuffle_index(i, n, seed, epoch))


def _raise(rc, err, names=None, batch=None):
    msg = err.message.decode("utf-8", "replace") or _native.lib().tc_strerror(rc).decode()
    e = error_from_code(int(rc), msg, err.sys_errno)
    if batch is not None:
        e.field = names.get(batch.error_field) if names else batch.error_field
        e.sample = int(batch.error_sample)
    raise e


class _Engine:
    """Owns the C cache handle and the C loader; freed when the last reference goes (arrays
    yielded by the loader hold one through their base)."""

    def __init__(self, path, pread):
        self.L = _lib()
        self.cache = ctypes.c_void_p()
        self.loader = ctypes.c_void_p()
        err = tc_error()
        rc = self.L.tc_open(ctypes.byref(self.cache), os.fsencode(path),
                            _native.TC_OPEN_NO_MMAP if pread else 0, ctypes.byref(err))
        if rc:
            self.cache = ctypes.c_void_p()
            _native.raise_error(err, rc)

    def close(self):
        if self.loader:
            self.L.tc_loader_close(self.loader)
            self.loader = ctypes.c_void_p()
        if self.cache:
            self.L.tc_close(self.cache)
            self.cache = ctypes.c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Loader:
    """Batches of a tensorcache file as dicts of NumPy arrays, filled by C threads.

    Loader(path_or_cache, fields=None, batch_size=1, shuffle=False, seed=None, drop_last=False,
           num_threads=None, prefetch=None, indices=None, copy=False, pread=False)

    - path_or_cache: a path, or an open tensorcache.Cache (its path is opened again by the C
      library; the Python object is not used).
    - fields: names to load (default: every field), in the order of the dict.
    - shuffle/seed: a seeded O(1)-memory permutation (tensorcache.shuffle_index); the same
      (seed, epoch) gives the same order on every machine. seed=None draws a seed once, kept in
      state_dict().
    - indices: an explicit list of sample numbers (each epoch loads exactly these, in this
      order; repeats allowed); not together with shuffle (shuffle them yourself, or use a
      sampler through tensorcache.torch_data.TorchLoader).
    - drop_last: no final batch smaller than batch_size.
    - num_threads/prefetch: engine threads (default: CPUs, or 16 with pread) and ring slots
      (default threads + 2).
    - copy: yield arrays you own instead of views of the ring (see the module docstring).
    - pread: read with pread instead of copying from a mapping (for cold data; a file truncated
      under the loader then gives an I/O error instead of SIGBUS).

    Epochs: iterating runs one epoch; a completed epoch advances the epoch number by one, and
    set_epoch(e) chooses the next one. state_dict() taken between batches and given to
    load_state_dict() makes the next iteration yield exactly the remaining batches.
    A variable-shape field yields a list of per-sample arrays.
    A damaged sample raises FormatError (e.code, e.field, e.sample) from the iteration.
    """

    def __init__(self, path_or_cache, fields=None, batch_size=1, shuffle=False, seed=None,
                 drop_last=False, num_threads=None, prefetch=None, indices=None, copy=False,
                 pread=False):
        path = getattr(path_or_cache, "path", path_or_cache)
        if int(batch_size) < 1:
            raise InvalidArgumentError("INVALID_ARG", "batch_size must be >= 1")
        if shuffle and indices is not None:
            raise InvalidArgumentError("INVALID_ARG", "shuffle and indices exclude each other: "
                                       "pass the indices in the order you want")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed) if seed is not None else random.SystemRandom().getrandbits(63)
        self.drop_last = bool(drop_last)
        self.copy = bool(copy)
        self.epoch = 0
        self._start = 0      # position the next iteration starts at
        self._position = 0   # positions of the current epoch consumed (yielded) so far
        self._gen = 0
        self._engine = _Engine(path, pread)
        L, c = self._engine.L, self._engine.cache
        self.num_samples = int(L.tc_num_samples(c))
        self._describe(fields)
        self._indices = None
        if indices is not None:
            self.set_indices(indices)
        opt = tc_loader_options()
        self._field_nums = (ctypes.c_uint32 * len(self._fields))(*[f[0] for f in self._fields])
        opt.fields, opt.num_fields = self._field_nums, len(self._fields)
        opt.batch_size = self.batch_size
        opt.num_threads = int(num_threads or 0)
        opt.prefetch = int(prefetch or 0)
        err = tc_error()
        self._order_keep = None
        order = self._order(self.epoch, 0)
        rc = L.tc_loader_create(ctypes.byref(self._engine.loader), c, ctypes.byref(opt),
                                ctypes.byref(order), ctypes.byref(err))
        if rc:
            self._engine.loader = ctypes.c_void_p()
            self._engine.close()
            _native.raise_error(err, rc)
        self.num_threads = int(L.tc_loader_num_threads(self._engine.loader))
        self._fresh = True  # the engine already runs epoch 0 from position 0
        self._views = [dict() for _ in self._fields]

    def _describe(self, fields):
        L, c = self._engine.L, self._engine.cache
        infos = []
        for k in range(L.tc_num_fields(c)):
            info = _native.tc_field_info()
            err = _native.tc_error()
            rc = L.tc_describe_field(c, k, ctypes.byref(info), ctypes.byref(err))
            if rc:
                _native.raise_error(err, rc)
            infos.append(_native._info_dict(info))
        by_name = {f["name"]: k for k, f in enumerate(infos)}
        names = list(by_name) if fields is None else [fields] if isinstance(fields, str) else list(fields)
        if not names:
            raise InvalidArgumentError("INVALID_ARG", "fields is empty")
        self._fields = []
        for name in names:
            if name not in by_name:
                raise error_from_code("NOT_FOUND", "no field %r (fields: %s)"
                                      % (name, ", ".join(by_name)))
            f = infos[by_name[name]]
            self._fields.append((by_name[name], name, DTYPES[f["dtype"]][2],
                                 tuple(f["shape"]), f["variable"]))
        self._names = {k: name for k, name, _, _, _ in self._fields}
        self.fields = [f[1] for f in self._fields]

    # ---- order and state ------------------------------------------------------------------
    def _total(self):
        return self.num_samples if self._indices is None else len(self._indices)

    def _order(self, epoch, start):
        o = tc_order()
        o.start = start
        o.drop_last = int(self.drop_last)
        if self._indices is not None:
            o.kind = TC_ORDER_INDICES
            o.indices = self._indices.ctypes.data_as(_u64p)
            o.num_indices = len(self._indices)
        elif self.shuffle:
            o.kind, o.seed, o.epoch = TC_ORDER_SHUFFLE, self.seed, epoch
        return o

    def set_indices(self, indices):
        """The explicit order of the next iterations (e.g. a sampler's indices for one epoch);
        starts the epoch from the top."""
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise InvalidArgumentError("INVALID_ARG", "indices must be a 1-D sequence of ints")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_samples):
            raise error_from_code("RANGE", "indices must lie in 0..%d" % (self.num_samples - 1))
        self._indices = np.ascontiguousarray(idx, dtype=np.uint64)
        self._start = self._position = 0
        self._fresh = False

    def __len__(self):
        """Batches in a full epoch."""
        t = self._total()
        return t // self.batch_size if self.drop_last else -(-t // self.batch_size)

    def set_epoch(self, epoch):
        """The epoch the next iteration runs (its shuffle order); starts it from the top."""
        self.epoch = int(epoch)
        self._start = self._position = 0

    def state_dict(self):
        """Where the iteration stands: the next iteration after load_state_dict() yields exactly
        the batches not yet yielded (same seed, epoch and order)."""
        return {"epoch": self.epoch, "position": self._position,
                "seed": self.seed, "shuffle": self.shuffle, "batch_size": self.batch_size,
                "num_samples": self.num_samples, "drop_last": self.drop_last,
                "num_positions": self._total()}

    def load_state_dict(self, state):
        for key in ("shuffle", "batch_size", "num_samples", "drop_last"):
            if key in state and state[key] != getattr(self, key):
                raise InvalidArgumentError("INVALID_ARG", "state_dict has %s=%r, this loader %r"
                                           % (key, state[key], getattr(self, key)))
        if state.get("num_positions", self._total()) != self._total():
            raise InvalidArgumentError("INVALID_ARG", "state_dict is for %d positions, this "
                                       "loader has %d" % (state["num_positions"], self._total()))
        position = int(state["position"])
        if position < 0 or ("num_positions" in state and position > self._total()):
            raise InvalidArgumentError("INVALID_ARG", "position %d out of range" % position)
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self._start = self._position = position
        self._fresh = False  # the seed may differ from the one the engine started with

    # ---- iteration ------------------------------------------------------------------------
    def __iter__(self):
        e = self._engine
        if not e.loader:
            raise ValueError("the loader is closed")
        self._gen += 1
        gen = self._gen
        epoch, start = self.epoch, self._start
        if not (self._fresh and start == 0 and epoch == 0):
            order = self._order(epoch, start)
            err = tc_error()
            rc = e.L.tc_loader_restart(e.loader, ctypes.byref(order), ctypes.byref(err))
            if rc:
                _native.raise_error(err, rc)
        self._fresh = False
        return self._run(gen, epoch, start)

    def _run(self, gen, epoch, start):
        e = self._engine
        L, loader = e.L, e.loader
        bp = ctypes.POINTER(tc_batch)()
        err = tc_error()
        self._position = start
        while True:
            if self._gen != gen:
                raise RuntimeError("a newer iteration of this Loader was started (or it was "
                                   "closed); this one is over")
            rc = L.tc_loader_next(loader, ctypes.byref(bp), _POLL_MS, ctypes.byref(err))
            if rc == TC_ERR_TIMEOUT:
                continue  # back in Python for a moment: Ctrl-C is raised here
            if rc:
                _raise(rc, err, self._names, bp.contents if bp else None)
            if not bp:
                break
            b = bp.contents
            out = self._wrap(b)
            self._position = b.position + b.size
            yield out
        self.epoch = epoch + 1
        self._start = self._position = 0

    def _wrap(self, b):
        size = b.size
        out = {}
        fields = b.fields
        for j, (_, name, dtype, shape, variable) in enumerate(self._fields):
            f = fields[j]
            if variable:
                out[name] = self._variable(f, size, dtype)
                continue
            arr = self._views[j].get(f.data)
            if arr is None:
                arr = self._new_view(j, f.data, dtype, shape)
            a = arr[:size] if size != self.batch_size else arr
            out[name] = a.copy() if self.copy else a
        return out

    def _new_view(self, j, ptr, dtype, shape):
        nbytes = self.batch_size * int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        raw = (ctypes.c_uint8 * max(nbytes, 1)).from_address(ptr)
        raw._engine = self._engine  # the arrays keep the engine (and its buffers) alive
        arr = np.frombuffer(raw, dtype=np.uint8, count=nbytes).view(dtype)
        arr = arr.reshape((self.batch_size,) + shape)
        views = self._views[j]
        if len(views) > 64:  # buffers are reused: this only grows if they are reallocated
            views.clear()
        views[ptr] = arr
        return arr

    def _variable(self, f, size, dtype):
        rank = f.rank
        if size == 0:
            return []
        offs = np.ctypeslib.as_array(f.offsets, shape=(size + 1,))
        shapes = np.ctypeslib.as_array(f.shapes, shape=(max(size * rank, 1),))
        total = int(offs[size])
        raw = (ctypes.c_uint8 * max(total, 1)).from_address(f.data)
        raw._engine = self._engine
        buf = np.frombuffer(raw, dtype=np.uint8, count=total)
        out = []
        for k in range(size):
            shp = tuple(int(d) for d in shapes[k * rank:(k + 1) * rank])
            a = buf[int(offs[k]):int(offs[k + 1])].view(dtype).reshape(shp)
            out.append(a.copy() if self.copy else a)
        return out

    # ---- lifetime -------------------------------------------------------------------------
    def close(self):
        """Stops the threads (mid-epoch too) and frees the engine. Arrays yielded without
        copy=True must not be used afterwards."""
        self._gen += 1
        self._engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return ("Loader(fields=%s, batch_size=%d, shuffle=%s, seed=%d, epoch=%d, threads=%d)"
                % (self.fields, self.batch_size, self.shuffle, self.seed, self.epoch,
                   getattr(self, "num_threads", 0)))
