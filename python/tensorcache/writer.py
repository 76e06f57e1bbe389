"""Writing caches: the C library's streaming writer, driven through ctypes.

There is one writer implementation (lib/writer.c); this module only turns Python samples into
its calls, one ``tc_writer_append_batch`` per batch (not per sample). Memory stays O(batch): a
batch is buffered, handed to C, and dropped; the C writer streams it to disk.

pack() and pack_torch() overlap the work: while the C writer copies, compresses and writes one
batch in a thread of its own (ctypes releases the GIL), Python converts the next one into a second
set of buffers; pack_torch(num_workers > 0) has its worker processes stack whole batches.

Nothing appears at `path` until every sample has been written and checked: any error (a sample
whose dtype or shape differs from the first one, an exception raised by the data source, Ctrl-C)
aborts the writer and leaves no output file (and an existing file at `path` untouched).

Outputs follow the library's policy (docs/CLI.md, "Output files"): an existing `path` is
replaced only with ``overwrite=True`` (OutputExistsError otherwise; a symbolic link is replaced
itself, never its target); `path` is never one of the inputs (OutputRefusedError, SAME_FILE,
whatever `overwrite` says): the paths in ``inputs=``, a tensorcache the samples come from, and
the files behind np.memmap arrays of the first sample; a directory, socket or block device is
never replaced (NOT_REGULAR), and an existing FIFO or character device is written into.
"""

import ctypes
import json
import os
import queue
import sys
import threading
import time
from collections import namedtuple

import numpy as np

from . import _format as F
from . import _native
from ._errors import InvalidArgumentError, SampleMismatchError
from ._native import TC_DIM_VARIABLE, TC_MAX_RANK, tc_error, tc_field_spec, tc_value

__all__ = ["Writer", "pack", "pack_batches", "pack_torch", "PackSummary"]

PackSummary = namedtuple("PackSummary", "path num_samples payload_bytes file_size seconds")

_NP_TO_CODE = {v[2].str: k for k, v in F.DTYPES.items()}  # '|V2' is bf16


def dtype_code(dt):
    """tensorcache dtype code of a NumPy dtype ('V2' means bf16); None if unsupported."""
    dt = np.dtype(dt)
    if dt.byteorder == ">":
        dt = dt.newbyteorder("<")
    return _NP_TO_CODE.get(dt.str)


def _parse_codec(codec):
    if codec in (None, 0, "none", False):
        return 0
    if codec in (1, "lz4", True):
        return 1
    raise InvalidArgumentError("CODEC", "unknown codec %r (use 'none' or 'lz4')" % (codec,))


class Writer:
    """Low-level writer: declare fields, append samples or batches, then finish().

    Used as a context manager it finishes on success and aborts on an exception::

        with Writer("out.tc", metadata={"source": "..."}) as w:
            w.add_field("image", "u8", (28, 28, 1), layout="NHWC")
            w.add_field("label", "u8", ())
            w.append_batch({"image": images, "label": labels})
    """

    def __init__(self, path, metadata=None, overwrite=False, inputs=()):
        self._L = _native.lib()
        self.path = os.fspath(path)
        self._w = ctypes.c_void_p()
        self.fields = []  # dicts: name, code, dtype, shape, variable
        err = tc_error()
        paths = [os.fsencode(p) for p in inputs]
        c_inputs = (ctypes.c_char_p * max(1, len(paths)))(*paths)
        flags = _native.TC_WRITE_OVERWRITE if overwrite else 0
        rc = self._L.tc_writer_create_ex(ctypes.byref(self._w), os.fsencode(self.path), flags,
                                         c_inputs, len(paths), ctypes.byref(err))
        if rc:
            self._w = ctypes.c_void_p()
            _native.raise_error(err, rc)
        # FORMAT.md section 8: writers of this project record at least who wrote the file.
        self.set_metadata({} if metadata is None else metadata)

    # ---- declaring ---------------------------------------------------------------------------
    def add_field(self, name, dtype, shape, layout="", codec="none", align=0, block_bytes=0):
        """Declares a field. dtype: a tensorcache name ("u8", "bf16"...) or a NumPy dtype.
        shape: per-sample shape; None marks a dimension that varies (a variable-shape field)."""
        self._check_live()
        code = F.DTYPE_BY_NAME.get(dtype) if isinstance(dtype, str) else None
        if code is None:
            code = dtype_code(dtype)
        if code is None:
            raise InvalidArgumentError("DTYPE", "field '%s': dtype %r is not supported "
                                       "(supported: %s)" % (name, dtype,
                                                            ", ".join(F.DTYPE_BY_NAME)))
        shape = tuple(shape)
        if len(shape) > TC_MAX_RANK:
            raise InvalidArgumentError("SHAPE", "field '%s': rank %d exceeds %d"
                                       % (name, len(shape), TC_MAX_RANK))
        spec = tc_field_spec()
        spec.name = name.encode("utf-8")
        spec.dtype = code
        spec.rank = len(shape)
        for d, s in enumerate(shape):
            spec.shape[d] = TC_DIM_VARIABLE if s is None else int(s)
        spec.layout = (layout or "").encode("ascii", "replace")
        spec.codec = _parse_codec(codec)
        spec.align = int(align or 0)
        spec.block_bytes = int(block_bytes or 0)
        err = tc_error()
        rc = self._L.tc_writer_add_field(self._w, ctypes.byref(spec), ctypes.byref(err))
        if rc:
            _native.raise_error(err, rc)
        self.fields.append({"name": name, "code": code, "dtype": F.DTYPES[code][2],
                            "shape": shape, "variable": any(s is None for s in shape)})

    def set_metadata(self, metadata):
        """Metadata: a dict (written as a JSON object, with {"tensorcache": {"writer": ...}}
        added), any other JSON-serialisable object, or str/bytes written verbatim (UTF-8)."""
        self._check_live()
        if isinstance(metadata, (bytes, bytearray)):
            blob = bytes(metadata)
        elif isinstance(metadata, str):
            blob = metadata.encode("utf-8")
        else:
            if isinstance(metadata, dict):
                metadata = merge_metadata({"tensorcache": {"writer": writer_id()}}, metadata)
            blob = json.dumps(metadata, ensure_ascii=False, sort_keys=False).encode("utf-8")
        err = tc_error()
        rc = self._L.tc_writer_set_metadata(self._w, blob, len(blob), ctypes.byref(err))
        if rc:
            _native.raise_error(err, rc)

    # ---- appending ---------------------------------------------------------------------------
    def _values(self, data, n):
        """tc_value[] for a batch of n samples; returns (array, keepalive)."""
        if isinstance(data, dict):
            missing = [f["name"] for f in self.fields if f["name"] not in data]
            extra = [k for k in data if k not in {f["name"] for f in self.fields}]
            if missing or extra:
                raise SampleMismatchError("SAMPLE_MISMATCH", "batch fields differ from the "
                                          "declared ones (missing %s, unexpected %s)"
                                          % (missing, extra))
            data = [data[f["name"]] for f in self.fields]
        if len(data) != len(self.fields):
            raise SampleMismatchError("SAMPLE_MISMATCH", "got %d values for %d fields"
                                      % (len(data), len(self.fields)))
        vals = (tc_value * len(self.fields))()
        keep = []
        for k, (f, v) in enumerate(zip(self.fields, data)):
            if f["variable"]:
                if len(v) != n:
                    raise SampleMismatchError("SAMPLE_MISMATCH", "field '%s': %d values for a "
                                              "batch of %d" % (f["name"], len(v), n))
                per = (tc_value * max(n, 1))()
                for i, a in enumerate(v):
                    a = self._checked_array(f, a, None)
                    shape = (ctypes.c_uint64 * max(a.ndim, 1))(*a.shape)
                    keep.extend((a, shape))
                    per[i].data = a.ctypes.data if a.nbytes else None
                    per[i].nbytes = a.nbytes
                    per[i].shape = ctypes.cast(shape, ctypes.POINTER(ctypes.c_uint64))
                keep.append(per)
                vals[k].data = ctypes.cast(per, ctypes.c_void_p)
                vals[k].nbytes = 0
            else:
                a = self._checked_array(f, v, n)
                keep.append(a)
                vals[k].data = a.ctypes.data if a.nbytes else None
                vals[k].nbytes = a.nbytes
        return vals, keep

    def _checked_array(self, f, v, n):
        a = self._as_array(f, v)
        if a.dtype != f["dtype"]:
            if dtype_code(a.dtype) == f["code"]:  # same type, other byte order
                a = a.astype(f["dtype"])
            else:
                raise SampleMismatchError("SAMPLE_MISMATCH", "field '%s': dtype %s differs from "
                                          "the declared %s" % (f["name"], a.dtype, f["dtype"]))
        if n is not None:
            if a.shape != (n,) + f["shape"]:
                raise SampleMismatchError("SAMPLE_MISMATCH", "field '%s': batch shape %s, "
                                          "expected %s" % (f["name"], a.shape,
                                                           (n,) + f["shape"]))
        elif a.ndim != len(f["shape"]) or any(
                s is not None and s != t for s, t in zip(f["shape"], a.shape)):
            raise SampleMismatchError("SAMPLE_MISMATCH", "field '%s': shape %s does not fit "
                                      "the declared %s" % (f["name"], a.shape, f["shape"]))
        return np.ascontiguousarray(a)

    def append_batch(self, data, n=None):
        """Appends n samples in ONE C call. data: dict name -> array (n, *shape), or a list in
        declaration order; a variable-shape field takes a list of n arrays."""
        self._check_live()
        if n is None:
            first = next(iter(data.values())) if isinstance(data, dict) else data[0]
            n = len(first)
        vals, keep = self._values(data, n)
        err = tc_error()
        rc = self._L.tc_writer_append_batch(self._w, n, vals, ctypes.byref(err))
        del keep
        if rc:
            _native.raise_error(err, rc)

    def append(self, sample):
        """Appends one sample (dict or list of per-sample arrays)."""
        byname = {f["name"]: f for f in self.fields}

        def one(f, v):
            if f is None:  # an unknown key: let _values report it
                return v
            return [v] if f["variable"] else self._as_array(f, v)[None]

        if isinstance(sample, dict):
            batch = {k: one(byname.get(k), v) for k, v in sample.items()}
        else:
            batch = [one(f, v) for f, v in zip(self.fields, sample)]
            batch += list(sample[len(self.fields):])
        self.append_batch(batch, 1)

    @staticmethod
    def _as_array(f, v):
        # Arrays (and tensors) must already have the declared dtype; plain Python lists and
        # scalars take it.
        if isinstance(v, (list, tuple, int, float, bool)) and f["code"] != F.BF16:
            return np.asarray(v, dtype=f["dtype"])
        return _to_numpy(v)

    @property
    def count(self):
        return self._L.tc_writer_count(self._w) if self._w else 0

    @property
    def payload_bytes(self):
        return self._L.tc_writer_bytes(self._w) if self._w else 0

    # ---- ending ------------------------------------------------------------------------------
    def finish(self):
        """Lays out, checksums, fsyncs and atomically publishes the file."""
        self._check_live()
        w, self._w = self._w, ctypes.c_void_p()
        err = tc_error()
        rc = self._L.tc_writer_finish(w, ctypes.byref(err))
        if rc:
            _native.raise_error(err, rc)

    def abort(self):
        """Discards everything; `path` is left untouched. Safe to call twice."""
        if self._w:
            w, self._w = self._w, ctypes.c_void_p()
            self._L.tc_writer_abort(w)

    def _check_live(self):
        if not self._w:
            raise ValueError("writer for '%s' is already finished or aborted" % self.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and self._w:
            self.finish()
        else:
            self.abort()

    def __del__(self):
        try:
            self.abort()
        except Exception:
            pass


# ---- turning samples into arrays ---------------------------------------------------------------

def _to_numpy(v):
    """An ndarray for a sample value: torch tensors without a copy where possible (bf16 as
    2-byte 'V2' items), NumPy arrays as they are, Python scalars and lists via np.asarray."""
    mod = type(v).__module__
    if mod.startswith("torch") and hasattr(v, "detach"):
        import torch
        t = v.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view("V2")
        return t.numpy()
    a = np.asarray(v)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return a


def _parse_layout(name, spec, rank):
    """(tag, permutation of the per-sample axes or None, conversion string or None)."""
    if not spec:
        return "", None, None
    if "->" not in spec:
        return spec, None, None
    src, dst = (s.strip() for s in spec.split("->", 1))
    if (sorted(src) != sorted(dst) or len(set(src)) != len(src) or src[:1] != dst[:1]
            or len(src) != rank + 1):
        raise InvalidArgumentError(
            "LAYOUT", "field '%s': conversion %r needs two orderings of the same %d distinct "
            "axis letters (the sample axis first in both), e.g. 'NCHW->NHWC'"
            % (name, spec, rank + 1))
    perm = tuple(src.index(c) - 1 for c in dst[1:])
    return dst, perm, "%s->%s" % (src, dst)


class _Progress:
    """tqdm when it is installed, otherwise a plain line to stderr every few seconds."""

    def __init__(self, enabled, total, path, stream=None):
        self.enabled = bool(enabled) if enabled is not None else sys.stderr.isatty()
        self.total = total
        self.path = path
        self.stream = stream or sys.stderr
        self.bar = None
        self.last = time.monotonic()
        self.n = 0
        if self.enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit="sample", desc="tensorcache",
                                file=self.stream, dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def update(self, k, nbytes):
        self.n += k
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(k)
        elif time.monotonic() - self.last >= 2.0:
            self.last = time.monotonic()
            self.stream.write("tensorcache: %s %d%s samples, %.1f MB\n" % (
                self.path, self.n, "/%d" % self.total if self.total else "", nbytes / 1e6))
            self.stream.flush()

    def close(self, nbytes, ok):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        self.stream.write("tensorcache: %s %s: %d samples, %.1f MB\n"
                          % ("wrote" if ok else "aborted", self.path, self.n, nbytes / 1e6))
        self.stream.flush()


class _Appender:
    """Runs Writer.append_batch in a thread of its own, one batch behind the caller: ctypes
    releases the GIL, so the C writer copies, compresses and writes batch k while Python
    prepares batch k+1. The caller must not touch a submitted batch's arrays until `done` has
    been called for it. The first failure is raised by the next submit() or by close()."""

    def __init__(self, writer):
        self.writer = writer
        self.q = queue.Queue(maxsize=1)
        self.error = None
        self.bytes = 0
        self.thread = threading.Thread(target=self._run, name="tensorcache-writer", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            data, n, done = item
            if self.error is None:
                try:
                    self.writer.append_batch(data, n)
                except BaseException as e:  # handed to the caller's thread
                    self.error = e
            if done is not None:
                done()
            self.q.task_done()

    def submit(self, data, n, done=None):
        if self.error is not None:
            raise self.error
        self.bytes += sum(sum(a.nbytes for a in d) if isinstance(d, list) else d.nbytes
                          for d in data)
        self.q.put((data, n, done))

    def wait(self):
        """Waits until every submitted batch is written; raises the first failure."""
        self.q.join()
        if self.error is not None:
            raise self.error

    def close(self):
        """Waits for every submitted batch, ends the thread; raises the first failure."""
        if self.thread is not None:
            self.q.put(None)
            self.thread.join()
            self.thread = None
        if self.error is not None:
            raise self.error


class _Packer:
    """Declares fields from the first sample/batch, checks every later one against them, and
    feeds the C writer one batch at a time."""

    def __init__(self, path, field_names, layout, shapes, variable, compress, align, block_bytes,
                 metadata, batch_size, progress, total, overwrite=False, inputs=()):
        self.path = os.fspath(path)
        self.overwrite = overwrite
        self.inputs = list(inputs)
        self.field_names = list(field_names) if field_names is not None else None
        self.layout = layout or {}
        self.shapes = shapes or {}
        self.variable = set(variable or ())
        self.compress = compress or ()
        self.align = align
        self.block_bytes = block_bytes
        self.user_metadata = metadata
        self.batch_size = max(1, int(batch_size))
        self.progress = _Progress(progress, total, self.path)
        self.writer = None
        self.names = None
        self.kind = None   # "dict" or "seq" or "single"
        self.fields = []   # per field: name, dtype, in_shape, perm, var
        self.buf = None
        self.appender = None
        self.free = queue.Queue()  # buffer sets not in use by the appender
        self.fill = 0
        self.count = 0
        self.t0 = time.monotonic()

    # ---- structure of samples ----
    def _split(self, sample, where):
        """List of field values in declaration order from a dict / tuple / single value."""
        if isinstance(sample, dict):
            kind, keys = "dict", list(sample.keys())
        elif isinstance(sample, (tuple, list)):
            kind, keys = "seq", len(sample)
        else:
            kind, keys = "single", 1
        if self.kind is None:
            self.kind = kind
            if kind == "dict":
                for k in keys:
                    if not isinstance(k, str):
                        raise InvalidArgumentError("NAME", "field names must be str, got %r" % (k,))
                self.names = keys if self.field_names is None else self.field_names
                if self.field_names is not None and set(self.field_names) != set(keys):
                    raise InvalidArgumentError("NAME", "field_names %s do not match the sample's "
                                               "keys %s" % (self.field_names, keys))
            else:
                n = keys
                if self.field_names is not None:
                    if len(self.field_names) != n:
                        raise InvalidArgumentError("NAME", "%d field_names for samples of %d "
                                                   "values" % (len(self.field_names), n))
                    self.names = self.field_names
                else:
                    self.names = ["data"] if kind == "single" else ["f%d" % k for k in range(n)]
        if kind != self.kind:
            raise SampleMismatchError("SAMPLE_MISMATCH", "%s is a %s, the first one was a %s"
                                      % (where, kind, self.kind))
        if kind == "dict":
            if set(sample.keys()) != set(self.names):
                raise SampleMismatchError("SAMPLE_MISMATCH", "%s has fields %s, the first one had "
                                          "%s" % (where, sorted(sample), sorted(self.names)))
            return [sample[k] for k in self.names]
        if kind == "single":
            return [sample]
        if len(sample) != len(self.names):
            raise SampleMismatchError("SAMPLE_MISMATCH", "%s has %d values, the first one had %d"
                                      % (where, len(sample), len(self.names)))
        return list(sample)

    def _check_option_names(self):
        """Every field name an option mentions must be a field (as the CLI's [FIELD=] options):
        a typo must not silently leave a field uncompressed or unconverted."""
        named = {"layout": self.layout, "shapes": self.shapes, "align": self.align,
                 "block_bytes": self.block_bytes, "compress": self.compress,
                 "variable": self.variable}
        for opt, value in named.items():
            if isinstance(value, dict) or (opt in ("compress", "variable") and isinstance(
                    value, (list, tuple, set, frozenset))):
                unknown = [k for k in value if k not in self.names]
                if unknown:
                    raise InvalidArgumentError("NAME", "%s= names no field %s (fields: %s)" % (
                        opt, ", ".join(repr(k) for k in unknown), ", ".join(self.names)))

    def _option(self, opt, k, name, default=None):
        if isinstance(opt, dict):
            return opt.get(name, default)
        if isinstance(opt, (list, tuple)):
            return opt[k] if k < len(opt) else default
        return opt if opt is not None else default

    def _declare(self, first_values):
        """Fields from the first sample's per-sample arrays."""
        self._check_option_names()
        self.writer = Writer(self.path, overwrite=self.overwrite,
                             inputs=self.inputs + _memmap_paths(first_values))
        conversions = {}
        for k, (name, a) in enumerate(zip(self.names, first_values)):
            code = dtype_code(a.dtype)
            if code is None:
                raise InvalidArgumentError("DTYPE", "field '%s': dtype %s is not supported "
                                           "(supported: %s)" % (name, a.dtype,
                                                                ", ".join(F.DTYPE_BY_NAME)))
            tag, perm, conv = _parse_layout(name, self._option(self.layout, k, name), a.ndim)
            shape = tuple(a.shape[p] for p in perm) if perm else tuple(a.shape)
            declared = self._option(self.shapes, k, name)
            var = name in self.variable or declared is not None and None in tuple(declared)
            if declared is not None:
                declared = tuple(declared)
                if len(declared) != len(shape) or any(
                        d is not None and d != s for d, s in zip(declared, shape)):
                    raise SampleMismatchError("SAMPLE_MISMATCH", "field '%s': the first sample's "
                                              "shape %s does not fit shapes=%s"
                                              % (name, shape, declared))
                decl_shape = declared
            elif var:
                if not shape:
                    raise InvalidArgumentError("SHAPE", "field '%s': a variable-shape field needs "
                                               "rank >= 1" % name)
                decl_shape = (None,) * len(shape)
            else:
                decl_shape = shape
            if conv:
                conversions[name] = conv
            if isinstance(self.compress, (list, tuple, set, frozenset)):
                codec = "lz4" if name in self.compress else "none"
            else:
                codec = self._option(self.compress, k, name, "none")
            self.writer.add_field(name, a.dtype, decl_shape, layout=tag, codec=codec,
                                  align=self._option(self.align, k, name, 0) or 0,
                                  block_bytes=self._option(self.block_bytes, k, name, 0) or 0)
            self.fields.append({"name": name, "dtype": a.dtype, "in_shape": tuple(a.shape),
                                "shape": shape, "perm": perm, "var": var,
                                "decl": decl_shape})
        self.writer.set_metadata(self._metadata(conversions))
        self.appender = _Appender(self.writer)
        for _ in range(2):  # one set filled here while the other one is written
            self.free.put(self._buffer_set())
        self.buf, self.var_buf = self.free.get()

    def _buffer_set(self):
        return ([None if f["var"] else np.empty((self.batch_size,) + f["shape"], f["dtype"])
                 for f in self.fields], [[] if f["var"] else None for f in self.fields])

    def _metadata(self, conversions):
        base = {"conversions": conversions} if conversions else {}
        user = self.user_metadata
        if user is None:
            return base
        if isinstance(user, (str, bytes, bytearray)):
            return user  # verbatim: the caller owns the whole blob
        if not isinstance(user, dict):
            raise InvalidArgumentError("METADATA", "metadata must be a dict, str or bytes")
        return merge_metadata(base, user)

    def _check(self, f, a, where, batch_n=None):
        if a.dtype != f["dtype"]:
            raise SampleMismatchError("SAMPLE_MISMATCH", "%s, field '%s': dtype %s differs from "
                                      "%s of the first sample" % (where, f["name"], a.dtype,
                                                                   f["dtype"]))
        shape = a.shape if batch_n is None else a.shape[1:]
        if batch_n is not None and (a.ndim == 0 or a.shape[0] != batch_n):
            raise SampleMismatchError("SAMPLE_MISMATCH", "%s, field '%s': %s values for a batch "
                                      "of %d" % (where, f["name"], a.shape[:1], batch_n))
        if f["var"]:
            ok = len(shape) == len(f["in_shape"])
            if ok and f["perm"]:
                shape = tuple(shape[p] for p in f["perm"])
            if not ok or any(d is not None and d != s for d, s in zip(f["decl"], shape)):
                raise SampleMismatchError("SAMPLE_MISMATCH", "%s, field '%s': shape %s does not "
                                          "fit %s" % (where, f["name"], a.shape, f["decl"]))
        elif shape != f["in_shape"]:
            raise SampleMismatchError("SAMPLE_MISMATCH", "%s, field '%s': shape %s differs from "
                                      "%s of the first sample" % (where, f["name"], shape,
                                                                  f["in_shape"]))

    # ---- samples ----
    def add_sample(self, sample):
        where = "sample %d" % (self.count + self.fill)
        values = [_to_numpy(v) for v in self._split(sample, where)]
        if self.writer is None:
            self._declare(values)
        for k, (f, a) in enumerate(zip(self.fields, values)):
            self._check(f, a, where)
        for k, (f, a) in enumerate(zip(self.fields, values)):
            if f["perm"]:
                a = a.transpose(f["perm"])
            if f["var"]:
                self.var_buf[k].append(np.array(a, order="C"))  # a copy: written later
            else:
                self.buf[k][self.fill] = a
        self.fill += 1
        if self.fill == self.batch_size:
            self._flush()

    def _flush(self):
        if not self.fill:
            return
        n = self.fill
        data = [self.var_buf[k] if f["var"] else self.buf[k][:n]
                for k, f in enumerate(self.fields)]
        bufs = (self.buf, self.var_buf)

        def done():
            for vb in bufs[1]:
                if vb is not None:
                    vb.clear()
            self.free.put(bufs)

        self.appender.submit(data, n, done)
        self.buf, self.var_buf = self.free.get()
        self.fill = 0
        self.count += n
        self.progress.update(n, self.appender.bytes)

    # ---- batches ----
    def add_batch(self, batch, owned=False):
        """owned: the batch's arrays are the packer's to keep (fresh arrays nobody else writes
        to), so they can be written in the background; otherwise they are written before
        add_batch returns (a caller may reuse its buffers)."""
        where = "batch at sample %d" % self.count
        values = self._split(batch, where)
        if not values:
            return
        firstvals = [v if isinstance(v, (list, tuple)) else _to_numpy(v) for v in values]
        lens = {len(v) if isinstance(v, (list, tuple)) else (v.shape[0] if v.ndim else -1)
                for v in firstvals}
        if len(lens) != 1 or -1 in lens:
            raise SampleMismatchError("SAMPLE_MISMATCH", "%s: fields have different batch "
                                      "sizes %s" % (where, sorted(lens)))
        n = lens.pop()
        if n == 0:
            return
        if self.writer is None:
            self._declare([_to_numpy(v[0]) if isinstance(v, (list, tuple)) else v[0]
                           for v in firstvals])
        data = []
        for f, v in zip(self.fields, firstvals):
            if f["var"] or isinstance(v, (list, tuple)):
                items = [_to_numpy(x) for x in v]
                for j, a in enumerate(items):  # per-sample values: name the sample
                    self._check(f, a, "sample %d" % (self.count + j))
                items = [np.ascontiguousarray(a.transpose(f["perm"]) if f["perm"] else a)
                         for a in items]
                if f["var"]:
                    data.append(items)
                    continue
                v = np.stack(items) if items else v
            self._check(f, v, where, batch_n=n)
            if f["perm"]:
                v = v.transpose((0,) + tuple(p + 1 for p in f["perm"]))
            data.append(np.ascontiguousarray(v))
        self.appender.submit(data, n)
        if not owned:
            self.appender.wait()
        self.count += n
        self.progress.update(n, self.appender.bytes)


    def finish(self):
        if self.writer is None:
            raise InvalidArgumentError("FIELD_COUNT", "no samples: the fields (names, dtypes, "
                                       "shapes) are taken from the first sample, so an empty "
                                       "source cannot be packed; use Writer for N = 0")
        self._flush()
        self.appender.close()
        nbytes = self.writer.payload_bytes
        self.writer.finish()
        self.progress.close(nbytes, True)
        return PackSummary(self.path, self.count, nbytes, os.path.getsize(self.path),
                           time.monotonic() - self.t0)

    def abort(self):
        if self.appender is not None:
            try:
                self.appender.close()
            except BaseException:
                pass  # the first failure is already on its way up
        if self.writer is not None:
            nbytes = self.writer.payload_bytes
            self.writer.abort()
            self.progress.close(nbytes, False)


def writer_id():
    """"tensorcache-python 0.1.0 (libtensorcache 0.1.0)": recorded in every file's metadata."""
    from . import __version__
    return "tensorcache-python %s (libtensorcache %s)" % (__version__, _native.version())


def merge_metadata(base, user):
    """`user` over `base`; dict values one level deep are merged rather than replaced."""
    out = dict(base)
    for k, v in user.items():
        if isinstance(out.get(k), dict) and isinstance(v, dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def _memmap_paths(values):
    """The files behind np.memmap arrays among `values` (or their bases)."""
    paths = []
    for v in values:
        while isinstance(v, np.ndarray):
            if isinstance(v, np.memmap) and getattr(v, "filename", None):
                paths.append(v.filename)
                break
            v = v.base
    return paths


def _input_paths(samples, inputs):
    """What the output must not be: `inputs`, plus the file of a tensorcache being repacked."""
    paths = [os.fspath(p) for p in (inputs or ())]
    cache = getattr(samples, "_cache", samples)  # a Field, or a Cache
    if hasattr(cache, "path") and hasattr(cache, "fields") and hasattr(cache, "num_samples"):
        paths.append(os.fspath(cache.path))
    return paths


def _run(packer, items, add):
    try:
        for item in items:
            add(item)
        return packer.finish()
    except BaseException:
        packer.abort()
        raise


_PACK_DOC = """
    field_names: names for tuple/list samples (default "f0", "f1", ...; dict samples use their
        keys; a single array is called "data").
    layout: {name: tag}: "NHWC" records the tag; "NCHW->NHWC" (any two orderings of the same
        letters, sample axis first) converts each sample and records the destination tag, plus
        {"conversions": {name: "NCHW->NHWC"}} in the metadata.
    shapes: {name: shape} with None for dimensions that vary (makes a variable-shape field);
        variable: names of fields whose every dimension varies.
    compress: names of fixed-shape fields to store LZ4-compressed; block_bytes: their target
        uncompressed block size. align: {name: A} or one int: pad each sample's stride to A.
    metadata: dict merged into the JSON metadata the writer records (or str/bytes verbatim).
    overwrite: replace an existing `path` (default: OutputExistsError); never an input.
    inputs: paths of files the samples are read from, which `path` must not be (SAME_FILE).
    batch_size: samples per C call (memory is O(batch_size)).
    progress: True (tqdm if installed, else a line every 2 s), False, or None (when stderr is a
        terminal).%s
    Returns a PackSummary(path, num_samples, payload_bytes, file_size, seconds).
    Dtype and shape of every field come from the first sample; any later sample that differs
    raises SampleMismatchError and no file is written."""
_TOTAL_DOC = " total: sample count for the progress bar."


def pack(path, samples, field_names=None, layout=None, shapes=None, variable=(), compress=(),
         align=None, block_bytes=None, metadata=None, batch_size=256, progress=None, total=None,
         overwrite=False, inputs=()):
    packer = _Packer(path, field_names, layout, shapes, variable, compress, align, block_bytes,
                     metadata, batch_size, progress,
                     total if total is not None else _len_or_none(samples),
                     overwrite=overwrite, inputs=_input_paths(samples, inputs))
    return _run(packer, samples, packer.add_sample)


pack.__doc__ = """Packs an iterable of samples (dicts or tuples of arrays/tensors/scalars) into
    the cache file `path`, streaming: memory stays O(batch_size).
    """ + _PACK_DOC % _TOTAL_DOC


def pack_batches(path, batches, field_names=None, layout=None, shapes=None, variable=(),
                 compress=(), align=None, block_bytes=None, metadata=None, progress=None,
                 total=None, overwrite=False, inputs=()):
    packer = _Packer(path, field_names, layout, shapes, variable, compress, align, block_bytes,
                     metadata, 1, progress, total, overwrite=overwrite,
                     inputs=_input_paths(batches, inputs))
    return _run(packer, batches, packer.add_batch)


pack_batches.__doc__ = """Packs an iterable of BATCHES (dicts or tuples of arrays with a leading
    batch axis, e.g. what a PyTorch DataLoader yields): one C call per batch. A variable-shape
    field takes a list of per-sample arrays.
    """ + _PACK_DOC % _TOTAL_DOC


def _len_or_none(obj):
    try:
        return len(obj)
    except TypeError:
        return None


class _Samples(list):
    """A worker's batch that could not be stacked (its samples differ in structure): packed
    sample by sample, so that errors read as they do without workers."""


def _stack_column(values):
    """One field of a batch: one array (n, ...) when every sample has the same dtype and shape,
    else the list of per-sample arrays (a variable-shape field)."""
    arrs = [_to_numpy(v) for v in values]
    a0 = arrs[0]
    if any(a.shape != a0.shape or a.dtype != a0.dtype for a in arrs):
        return arrs
    shape = (len(arrs),) + a0.shape
    shared = _shared_batch(shape, a0.dtype)
    out = shared.numpy() if shared is not None else np.empty(shape, a0.dtype)
    for i, a in enumerate(arrs):
        out[i] = a
    return shared if shared is not None else out


# dtypes a torch tensor shares with NumPy as they are (no widening, no reinterpretation)
_SHM_DTYPES = ("|b1", "|u1", "|i1", "<i2", "<i4", "<i8", "<f2", "<f4", "<f8")


def _shared_batch(shape, dtype):
    """In a DataLoader worker: an empty tensor in shared memory, so that the batch reaches the
    main process without being pickled through a pipe (the main process maps the same pages and
    the C writer reads them from there). None elsewhere, or for dtypes torch does not share."""
    import torch.utils.data as tud
    if tud.get_worker_info() is None or np.dtype(dtype).str not in _SHM_DTYPES:
        return None
    import torch
    proto = torch.from_numpy(np.empty(0, dtype))
    nbytes = int(np.prod(shape, dtype=np.int64)) * proto.element_size()
    return proto.set_(torch.UntypedStorage._new_shared(max(nbytes, 1)), 0, shape)


def _stack_collate(samples):
    """collate_fn of pack_torch's DataLoader workers: the whole batch as one NumPy array per
    field, made in the worker. A batch then crosses to the main process as a few large arrays
    instead of one shared-memory tensor per sample and field, and the main process only checks
    it and hands it to the C writer."""
    if not samples:
        return _Samples(samples)
    first = samples[0]
    if isinstance(first, dict):
        keys = list(first)
        if any(not isinstance(s, dict) or list(s) != keys for s in samples):
            return _Samples(samples)
        return {k: _stack_column([s[k] for s in samples]) for k in keys}
    if isinstance(first, (tuple, list)):
        if any(not isinstance(s, (tuple, list)) or len(s) != len(first) for s in samples):
            return _Samples(samples)
        return tuple(_stack_column([s[j] for s in samples]) for j in range(len(first)))
    if any(isinstance(s, (dict, tuple, list)) for s in samples):
        return _Samples(samples)
    col = _stack_column(samples)
    return col if isinstance(col, np.ndarray) else _Samples(samples)


def pack_torch(dataset_or_dataloader, path, field_names=None, layout=None, batch_size=256,
               num_workers=0, shapes=None, variable=(), compress=(), align=None,
               block_bytes=None, metadata=None, progress=None, overwrite=False, inputs=()):
    """Packs a PyTorch Dataset (map-style or iterable) or DataLoader into `path`, streaming.

    A DataLoader is iterated as it is (its batches go to the writer one C call each). A Dataset
    is read in order, `batch_size` samples at a time (through a DataLoader with `num_workers`
    worker processes when num_workers > 0). Tensors are converted without copies where possible;
    layout={"image": "NCHW->NHWC"} stores channels-first image tensors channels-last.
    """
    import torch.utils.data as tud
    obj = dataset_or_dataloader
    common = dict(field_names=field_names, layout=layout, shapes=shapes, variable=variable,
                  compress=compress, align=align, block_bytes=block_bytes, metadata=metadata,
                  progress=progress, overwrite=overwrite, inputs=inputs)
    if isinstance(obj, tud.DataLoader):
        total = _len_or_none(obj.dataset)
        if obj.batch_size is None and obj.batch_sampler is None:
            return pack(path, obj, batch_size=batch_size, total=total, **common)
        return pack_batches(path, obj, total=total, **common)
    total = _len_or_none(obj)
    if num_workers and num_workers > 0:
        loader = tud.DataLoader(obj, batch_size=batch_size, shuffle=False,
                                num_workers=num_workers, collate_fn=_stack_collate)
        packer = _Packer(path, batch_size=batch_size, total=total, **common)

        def add(batch):
            if isinstance(batch, _Samples):
                for s in batch:
                    packer.add_sample(s)
            else:
                packer._flush()  # samples of an earlier unstackable batch go first
                packer.add_batch(batch, owned=True)
        return _run(packer, loader, add)
    elif isinstance(obj, tud.IterableDataset) or total is None:
        samples = iter(obj)
    else:
        samples = (obj[i] for i in range(total))
    return pack(path, samples, batch_size=batch_size, total=total, **common)


pack_torch.__doc__ += _PACK_DOC % ""  # the total comes from the dataset
