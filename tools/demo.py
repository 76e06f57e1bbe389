"""`make demo`: one Fashion-MNIST cache file, made in PyTorch, read by TensorFlow/Keras, JAX and
PyTorch.

  (a) a PyTorch Dataset yielding NCHW float tensors is packed with pack_torch (NCHW -> NHWC);
  (b) Keras on TensorFlow trains a small CNN from that file and reports test accuracy (>= 0.85);
  (c) a JAX training loop and a PyTorch DataLoader read the file in two processes at the same
      time; their resident cache pages are summed from /proc/PID/smaps (Rss and PSS);
  (d) the manual recipe (iterate a DataLoader, .numpy(), concatenate, permute to NHWC,
      from_tensor_slices) runs on the same data; its time and peak RSS are printed beside
      tensorcache's (pack_torch + one tf.data epoch).

Each step runs in its own process (`demo.py ROLE ...`), so peak RSS is per recipe and the
frameworks do not share an interpreter. Usage: python tools/demo.py [OUT_DIR [FMNIST_DIR]].
"""

import gzip
import json
import os
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FMNIST = "/usr/share/datasets/fashion-mnist"
BATCH = 256
N_TRAIN = 60000
MIN_ACCURACY = 0.85
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow",
         "PYTHONWARNINGS": "ignore"}


# ---- the PyTorch side: a Dataset as a PyTorch user has it ----------------------------------
def read_idx(path, header):
    with gzip.open(path, "rb") as f:
        return f.read()[header:]


def fashion_mnist_torch(fmnist, split):
    """A map-style torch Dataset yielding (image (1, 28, 28) float32 in [0, 1], label int64):
    NCHW, the way torchvision's ToTensor() delivers images."""
    import numpy as np
    import torch

    prefix = "train" if split == "train" else "t10k"
    images = np.frombuffer(read_idx(os.path.join(fmnist, prefix + "-images-idx3-ubyte.gz"), 16),
                           np.uint8).reshape(-1, 28, 28)
    labels = np.frombuffer(read_idx(os.path.join(fmnist, prefix + "-labels-idx1-ubyte.gz"), 8),
                           np.uint8)

    class FashionMNIST(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            image = torch.from_numpy(images[i].astype(np.float32) / 255.0).unsqueeze(0)
            return image, torch.tensor(int(labels[i]), dtype=torch.int64)

    return FashionMNIST()


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mib():
    """Current RSS (after the imports: the frameworks' own share of the peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def report(**kw):
    print("RESULT " + json.dumps(kw), flush=True)


# ---- roles (each runs in its own process) ----------------------------------------------------
def role_tensorcache(out, fmnist):
    """(a) + tensorcache's half of (d): pack_torch both splits (a DataLoader over the NCHW
    Dataset, as the manual recipe iterates it), then one shuffled tf.data epoch."""
    import tensorcache
    import tensorflow as tf  # noqa: F401 - imported before timing, like the manual recipe
    import torch.utils.data as tud
    from tensorcache import tf_data

    base = rss_mib()
    t0 = time.perf_counter()
    for split in ("train", "test"):
        path = os.path.join(out, "fashion-mnist-%s.tc" % split)
        if os.path.exists(path):
            os.remove(path)
        loader = tud.DataLoader(fashion_mnist_torch(fmnist, split), batch_size=BATCH)
        tensorcache.pack_torch(loader, path,
                               field_names=("image", "label"), layout={"image": "NCHW->NHWC"},
                               progress=False)
    t_pack = time.perf_counter() - t0
    ds = tf_data.dataset(os.path.join(out, "fashion-mnist-train.tc"), ("image", "label"),
                         batch_size=BATCH, shuffle=True, seed=0, as_dict=False)
    n = sum(int(x.shape[0]) for x, _ in ds)
    report(seconds=time.perf_counter() - t0, pack_seconds=t_pack, samples=n,
           peak_rss_mib=peak_rss_mib(), import_rss_mib=base)


def role_manual(out, fmnist):
    """The manual recipe: DataLoader -> .numpy() -> concatenate -> permute -> from_tensor_slices."""
    import numpy as np
    import tensorflow as tf
    import torch.utils.data as tud

    base = rss_mib()
    t0 = time.perf_counter()
    loader = tud.DataLoader(fashion_mnist_torch(fmnist, "train"), batch_size=BATCH)
    xs, ys = [], []
    for x, y in loader:
        xs.append(x.numpy())
        ys.append(y.numpy())
    x = np.concatenate(xs)                 # (N, 1, 28, 28) NCHW
    y = np.concatenate(ys)
    del xs, ys
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))   # NHWC for TensorFlow
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(BATCH)
          .prefetch(tf.data.AUTOTUNE))
    n = sum(int(b.shape[0]) for b, _ in ds)
    report(seconds=time.perf_counter() - t0, samples=n, peak_rss_mib=peak_rss_mib(),
           import_rss_mib=base)


def role_keras(out, fmnist):
    """(b): a small CNN trained by Keras on TensorFlow straight from the file."""
    import keras
    from tensorcache import tf_data

    keras.utils.set_random_seed(0)
    train = tf_data.dataset(os.path.join(out, "fashion-mnist-train.tc"), ("image", "label"),
                            batch_size=128, shuffle=True, seed=0, as_dict=False)
    test = tf_data.dataset(os.path.join(out, "fashion-mnist-test.tc"), ("image", "label"),
                           batch_size=1000, as_dict=False)
    print("tf.data element_spec:", train.element_spec, flush=True)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(train, epochs=3, verbose=2)
    _, acc = model.evaluate(test, verbose=0)
    report(accuracy=float(acc), seconds=time.perf_counter() - t0)


def _wait_for_parent():
    print("READY", flush=True)
    sys.stdin.readline()


def role_jax(out, fmnist):
    """(c), JAX side: softmax regression trained for one epoch of jax_data batches; waits for
    the parent at the last batch, while the file is mapped."""
    import jax
    import jax.numpy as jnp
    from tensorcache import jax_data

    jax.config.update("jax_enable_x64", True)  # labels are int64, as PyTorch made them

    def loss(params, x, y):
        logits = x.reshape(x.shape[0], -1) @ params["w"] + params["b"]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])

    @jax.jit
    def step(params, x, y):
        g = jax.grad(loss)(params, x, y)
        return jax.tree_util.tree_map(lambda p, d: p - 0.1 * d, params, g)

    params = {"w": jnp.zeros((784, 10), jnp.float32), "b": jnp.zeros(10, jnp.float32)}
    n, losses = 0, []
    for b in jax_data.batches(os.path.join(out, "fashion-mnist-train.tc"), BATCH, shuffle=True,
                              seed=1):
        x, y = b["image"], b["label"].astype(jnp.int32)
        losses.append(float(loss(params, x, y)))
        params = step(params, x, y)
        n += y.shape[0]
        if n == N_TRAIN:   # still reading: the file is mapped while the parent looks
            report(samples=n, loss=sum(losses[-50:]) / len(losses[-50:]))
            _wait_for_parent()


def role_torch(out, fmnist):
    """(c), PyTorch side: one epoch of a DataLoader over the same file (a linear model)."""
    import torch
    from tensorcache.torch_data import CacheDataset

    ds = CacheDataset(os.path.join(out, "fashion-mnist-train.tc"), fields=("image", "label"))
    model = torch.nn.Linear(784, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    n, losses = 0, []
    for x, y in ds.loader(batch_size=BATCH, shuffle=True):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x.reshape(len(x), -1)), y.long())
        loss.backward()
        opt.step()
        losses.append(float(loss))
        n += len(y)
        if n == N_TRAIN:
            report(samples=n, loss=sum(losses[-50:]) / len(losses[-50:]))
            _wait_for_parent()


ROLES = {"tensorcache": role_tensorcache, "manual": role_manual, "keras": role_keras,
         "jax": role_jax, "torch": role_torch}


# ---- the orchestrator ----------------------------------------------------------------------
def _env():
    env = dict(os.environ)
    env.update(QUIET)
    return env


def run_role(role, out, fmnist):
    """Runs a role to completion; returns its RESULT dict (its other output is shown)."""
    p = subprocess.run([sys.executable, __file__, role, out, fmnist], env=_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        else:
            print("   " + line)
    if p.returncode or result is None:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit("demo: FAILED: step %r exited with %d" % (role, p.returncode))
    return result


_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def cache_pages_kib(pid, path):
    """(Rss, Pss) in KiB of every mapping of `path` in process `pid` (/proc/PID/smaps)."""
    rss = pss = 0
    current = False
    real = os.path.realpath(path)
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if _MAPPING.match(line):   # a mapping's header: "start-end perms offset dev inode [path]"
                current = len(parts) >= 6 and os.path.realpath(" ".join(parts[5:])) == real
            elif current and parts[0] == "Rss:":
                rss += int(parts[1])
            elif current and parts[0] == "Pss:":
                pss += int(parts[1])
    return rss, pss


def concurrent_readers(out, fmnist):
    """(c): the JAX and torch roles at the same time; their cache pages while both are alive."""
    path = os.path.join(out, "fashion-mnist-train.tc")
    procs = {r: subprocess.Popen([sys.executable, __file__, r, out, fmnist], env=_env(),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
             for r in ("jax", "torch")}
    results = {}
    try:
        for r, p in procs.items():
            for line in p.stdout:
                if line.startswith("RESULT "):
                    results[r] = json.loads(line[7:])
                elif line.startswith("READY"):
                    break
            else:
                sys.stderr.write(p.stderr.read()[-4000:])
                raise SystemExit("demo: FAILED: the %s reader exited early" % r)
        pages = {r: cache_pages_kib(p.pid, path) for r, p in procs.items()}
    finally:
        for p in procs.values():
            try:
                p.stdin.write("\n")
                p.stdin.close()
            except OSError:
                pass
            p.wait()
    return results, pages


def main(argv):
    out = os.path.abspath(argv[1]) if len(argv) > 1 else os.path.abspath("build/demo")
    fmnist = argv[2] if len(argv) > 2 else FMNIST
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()

    print("\n== (a) PyTorch Dataset (NCHW float32) -> pack_torch -> one cache file (NHWC)")
    tc = run_role("tensorcache", out, fmnist)
    train = os.path.join(out, "fashion-mnist-train.tc")
    import tensorcache
    with tensorcache.open(train) as c:
        print("   %s: %d samples, %.1f MiB, fields %s" % (
            os.path.relpath(train), len(c), c.file_size / 2**20, c.fields))
        print("   conversions recorded in the file:", c.metadata.get("conversions"))
    print("   packed train+test in %.1f s" % tc["pack_seconds"])

    print("\n== (b) Keras on TensorFlow trains a small CNN from the file")
    k = run_role("keras", out, fmnist)
    print("   test accuracy %.4f after 3 epochs (%.0f s)" % (k["accuracy"], k["seconds"]))
    if k["accuracy"] < MIN_ACCURACY:
        raise SystemExit("demo: FAILED: test accuracy %.4f < %.2f" % (k["accuracy"],
                                                                       MIN_ACCURACY))

    print("\n== (c) JAX training and a PyTorch DataLoader read the same file at the same time")
    results, pages = concurrent_readers(out, fmnist)
    for r in ("jax", "torch"):
        print("   %-5s: %d samples read, loss %.3f (mean of the last 50 batches); cache pages "
              "resident: Rss %.1f MiB, Pss %.1f MiB" % (r, results[r]["samples"], results[r]["loss"],
                               pages[r][0] / 1024, pages[r][1] / 1024))
    size = os.path.getsize(train) / 2**20
    rss = sum(p[0] for p in pages.values()) / 1024
    pss = sum(p[1] for p in pages.values()) / 1024
    print("   both processes together: Rss %.1f MiB (each counts the shared pages), PSS %.1f MiB"
          " of memory actually used = %.2f x one copy of the %.1f MiB file" % (
              rss, pss, pss / size, size))

    print("\n== (d) the manual recipe on the same data vs tensorcache")
    m = run_role("manual", out, fmnist)
    rows = (("manual: DataLoader, .numpy(), concatenate, permute, from_tensor_slices", m),
            ("tensorcache: pack_torch, then tf_data.dataset", tc))
    print("   %-72s %7s %10s %12s" % ("one epoch of shuffled batches in tf.data, from the NCHW "
                                      "Dataset", "time", "peak RSS", "of which data"))
    for label, r in rows:
        print("   %-72s %6.1fs %6.0f MiB %8.0f MiB" % (
            label, r["seconds"], r["peak_rss_mib"], r["peak_rss_mib"] - r["import_rss_mib"]))
    print("   (\"of which data\": the peak minus the RSS right after importing torch and "
          "TensorFlow; tensorcache's\n    includes the file's pages mapped while reading, "
          "which the page cache shares with every other reader)")

    print("\ndemo: OK - one file, written from PyTorch, read by TensorFlow/Keras, JAX and "
          "PyTorch (%.0f s)" % (time.perf_counter() - start))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ROLES:
        ROLES[sys.argv[1]](sys.argv[2], sys.argv[3])
    else:
        main(sys.argv)
