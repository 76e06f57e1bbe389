#!/usr/bin/env python3
"""frameworks.py - issue 9's measures in `make bench` (bench/README.md, "Frameworks"):

- conversion from a PyTorch Dataset of NCHW uint8 tensors (real Fashion-MNIST samples, and the
  20000 distinct 224x224x3 images of the epoch table, made on the fly): the seed's manual recipe
  (iterate a DataLoader, .numpy(), np.concatenate, transpose to NHWC, from_tensor_slices) vs
  tensorcache.pack_torch(layout={"image": "NCHW->NHWC"}): time and peak RSS;
- a Keras epoch (a small model on Fashion-MNIST) fed by tensorcache.tf_data.dataset vs
  from_tensor_slices on an in-memory array vs from_generator over the torch DataLoader, and the
  same three pipelines iterated alone (batches/s);
- JAX batches: tensorcache.jax_data.batches vs np.asarray fancy indexing + jnp.asarray.

    frameworks.py --dir DIR --out RAW.csv --build BUILD [--quick] [--repeats R]
    frameworks.py --child WHAT ...          (one measurement in a fresh process)

Each measurement runs in its own process; peak RSS is resource.getrusage(RUSAGE_SELF) there.
"""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import epochs  # noqa: E402  (the datasets, the records, the child runner)

BATCH = epochs.BATCH


def _rss_now_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- conversion --------------------------------------------------------------------------------
def torch_source(spec):
    """A map-style torch Dataset of (CHW uint8 tensor, label): Fashion-MNIST from memory, the
    224x224x3 set generated per sample (distinct samples, no dataset-sized memory)."""
    import torch
    import torch.utils.data as tud

    class Source(tud.Dataset):
        def __init__(self):
            self.arrays = epochs.all_arrays(spec) if spec["name"] == "fmnist" else None

        def __len__(self):
            return spec["n"]

        def __getitem__(self, i):
            if self.arrays is not None:
                x, y = self.arrays[0][i], int(self.arrays[1][i])
            else:
                rng = np.random.default_rng([7, i])
                x = np.frombuffer(rng.bytes(epochs.sample_bytes(spec)), np.uint8).reshape(
                    spec["shape"])
                y = i % 1000
            return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), y
    return Source()


def child_convert(args):
    import torch.utils.data as tud
    spec = epochs.dataset_spec(args.dataset, args.quick)
    src = torch_source(spec)
    path = os.path.join(args.dir, "conv-%s.tc" % args.dataset)
    if args.child == "convert-pack_torch":   # imports are not part of the conversion
        import tensorcache
    else:
        import tensorflow as tf
    base = _rss_now_mb()
    t0 = time.perf_counter()
    if args.child == "convert-pack_torch":
        tensorcache.pack_torch(src, path, field_names=["image", "label"],
                               layout={"image": "NCHW->NHWC"}, batch_size=BATCH,
                               num_workers=args.workers, progress=False)
        size = os.path.getsize(path)
        os.unlink(path)
    else:
        xs, ys = [], []
        for x, y in tud.DataLoader(src, batch_size=BATCH, num_workers=args.workers):
            xs.append(x.numpy())
            ys.append(y.numpy())
        images = np.concatenate(xs).transpose(0, 2, 3, 1)   # NCHW -> NHWC
        labels = np.concatenate(ys)
        del xs, ys
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        size = 0
        assert len(ds) == spec["n"]
    t = time.perf_counter() - t0
    print(json.dumps({"seconds": t, "peak_mb": _peak_mb(), "base_mb": base, "size": size}))


# ---- Keras epoch and pipelines -------------------------------------------------------------------
def _pipelines(spec, path):
    """name -> a function making the tf.data.Dataset of (image, label) batches."""
    import tensorflow as tf
    import torch
    import torch.utils.data as tud
    import tensorcache.tf_data as tfd
    images, labels = epochs.all_arrays(spec)

    def tc():
        try:
            ds = tfd.dataset(path, fields=("image", "label"), batch_size=BATCH, shuffle=True,
                             seed=0, as_dict=False)
        except TypeError:
            ds = tfd.dataset(path, fields=("image", "label"), batch_size=BATCH, shuffle=True,
                             seed=0)
            ds = ds.map(lambda d: (d["image"], d["label"]))
        return ds

    def slices():
        return (tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(labels), seed=0)
                .batch(BATCH).prefetch(tf.data.AUTOTUNE))

    def generator():
        tds = tud.TensorDataset(torch.from_numpy(images.copy()), torch.from_numpy(labels))

        def gen():
            for x, y in tud.DataLoader(tds, batch_size=BATCH, shuffle=True):
                yield x.numpy(), y.numpy()
        sig = (tf.TensorSpec((None,) + spec["shape"], tf.uint8), tf.TensorSpec((None,), tf.int64))
        return tf.data.Dataset.from_generator(gen, output_signature=sig).prefetch(
            tf.data.AUTOTUNE)
    return {"tensorcache.tf_data.dataset": tc, "from_tensor_slices (in memory)": slices,
            "from_generator over the torch DataLoader": generator}


def child_keras(args):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    spec = epochs.dataset_spec("fmnist", args.quick)
    path = os.path.join(args.dir, "fw-fmnist.tc")
    make = _pipelines(spec, path)[args.pipeline]
    out = {"pipeline_bps": [], "keras_epoch_s": []}
    nb = -(-spec["n"] // BATCH)
    for _ in range(args.repeats):
        ds = make()
        t0 = time.perf_counter()
        k = sum(1 for _ in ds)
        out["pipeline_bps"].append(k / (time.perf_counter() - t0))
        if k != nb:
            raise RuntimeError("pipeline gave %d batches, expected %d" % (k, nb))
    model = keras.Sequential([keras.Input(spec["shape"]), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            out["keras_epoch_s"].append(time.perf_counter() - self.t0)
    # The first epoch traces and compiles; the rest are the steady state.
    model.fit(make(), epochs=1 + args.repeats, verbose=0, callbacks=[Timer()])
    out["keras_epoch_s"] = out["keras_epoch_s"][1:]
    print(json.dumps(out))


def child_jax(args):
    import jax
    import jax.numpy as jnp
    spec = epochs.dataset_spec(args.dataset, args.quick)
    path = os.path.join(args.dir, "fw-%s.tc" % args.dataset)
    out = []
    if args.pipeline == "tensorcache.jax_data.batches":
        import tensorcache.jax_data as jd
        for r in range(args.repeats):
            t0 = time.perf_counter()
            k = 0
            for b in jd.batches(path, BATCH, shuffle=True, seed=r, fields=["image", "label"]):
                jax.block_until_ready(b["image"])
                k += 1
            out.append(k / (time.perf_counter() - t0))
    else:
        images, labels = epochs.all_arrays(spec)
        for r in range(args.repeats):
            perm = np.random.default_rng(r).permutation(len(labels))
            t0 = time.perf_counter()
            k = 0
            for i in range(0, len(perm), BATCH):
                idx = perm[i:i + BATCH]
                b = {"image": jnp.asarray(np.asarray(images[idx])),
                     "label": jnp.asarray(labels[idx])}
                jax.block_until_ready(b["image"])
                k += 1
            out.append(k / (time.perf_counter() - t0))
    print(json.dumps({"bps": out, "peak_mb": _peak_mb()}))


# ---- driver ---------------------------------------------------------------------------------------
def driver(args):
    rec = epochs.Rec(args.out)
    env = dict(os.environ)
    build = os.path.abspath(args.build)
    env["PYTHONPATH"] = os.path.join(os.path.dirname(HERE), "python") + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["TENSORCACHE_LIB"] = os.path.join(build, "libtensorcache.so")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    timeout = 180 if args.quick else 900
    py = sys.executable
    me = os.path.abspath(__file__)

    def run(argv):
        try:
            p = subprocess.run([py, me] + argv + ["--dir", args.dir, "--repeats",
                                                  str(args.repeats)]
                               + (["--quick"] if args.quick else []), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, "did not finish within %d s" % timeout
        if p.returncode != 0:
            lines = [ln for ln in p.stderr.decode(errors="replace").splitlines() if ln.strip()]
            return None, "failed: " + (lines[-1] if lines else "exit %d" % p.returncode)[:300]
        return json.loads(p.stdout.decode().strip().splitlines()[-1]), None

    os.makedirs(args.dir, exist_ok=True)
    # Quick (a smoke run): Fashion-MNIST only, no Keras (each TensorFlow start costs seconds).
    datasets = ("fmnist",) if args.quick else ("fmnist", "image224")
    # 1. conversion: seed recipe vs pack_torch, both datasets, in alternating order.
    for name in datasets:
        for r in range(1 if args.quick else 2):
            whats = ["convert-pack_torch", "convert-seed"]
            for what in (whats if r % 2 == 0 else whats[::-1]):
                epochs.progress("frameworks: %s %s" % (what, name))
                res, why = run(["--child", what, "--dataset", name, "--workers", "0"])
                impl = "tensorcache.pack_torch" if what.endswith("pack_torch") else \
                    "seed recipe (DataLoader -> numpy -> concatenate -> from_tensor_slices)"
                if res is None:
                    rec.s("fw.convert", name, "%s: %s" % (impl, why))
                    continue
                rec.m("fw.convert_s", name, impl, r, res["seconds"], "s")
                rec.m("fw.convert_rss", name, impl, r, res["peak_mb"], "MB")
    # 2. Keras and 3. JAX read a cache of each dataset.
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
    os.environ["TENSORCACHE_LIB"] = env["TENSORCACHE_LIB"]
    import tensorcache
    for name in datasets:
        spec = epochs.dataset_spec(name, args.quick)
        tensorcache.pack_batches(os.path.join(args.dir, "fw-%s.tc" % name), epochs.chunks(spec),
                                 field_names=["image", "label"], layout={"image": "NHWC"},
                                 progress=False)
    for pipe in () if args.quick else ("tensorcache.tf_data.dataset",
                                       "from_tensor_slices (in memory)",
                                       "from_generator over the torch DataLoader"):
        epochs.progress("frameworks: Keras epoch, %s" % pipe)
        res, why = run(["--child", "keras", "--pipeline", pipe])
        if res is None:
            rec.s("fw.keras", "fmnist", "%s: %s" % (pipe, why))
            continue
        for k, v in enumerate(res["pipeline_bps"]):
            rec.m("fw.pipeline", "fmnist", pipe, k, v, "batches/s")
        for k, v in enumerate(res["keras_epoch_s"]):
            rec.m("fw.keras_epoch", "fmnist", pipe, k, v, "s")
    for name in datasets:
        for pipe in ("tensorcache.jax_data.batches", "np.asarray fancy indexing + jnp.asarray"):
            epochs.progress("frameworks: JAX batches, %s, %s" % (name, pipe))
            res, why = run(["--child", "jax", "--pipeline", pipe, "--dataset", name])
            if res is None:
                rec.s("fw.jax", name, "%s: %s" % (pipe, why))
                continue
            for k, v in enumerate(res["bps"]):
                rec.m("fw.jax", name, pipe, k, v, "batches/s")
        os.unlink(os.path.join(args.dir, "fw-%s.tc" % name))
    return 0


def main():
    ap = epochs.common_args()
    ap.add_argument("--child")
    ap.add_argument("--dataset", default="fmnist")
    ap.add_argument("--pipeline")
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    if args.child and args.child.startswith("convert"):
        return child_convert(args)
    if args.child == "keras":
        return child_keras(args)
    if args.child == "jax":
        return child_jax(args)
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
