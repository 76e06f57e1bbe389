#!/usr/bin/python3
"""A tabular PyTorch DataLoader (features + labels) -> TensorFlow, through one cache file.

The classic way: loop over the DataLoader, `.numpy()` every batch, `np.concatenate` all of it in
RAM, then `tf.data.Dataset.from_tensor_slices((X, y))`, which copies the arrays into the graph
(and fails beyond 2 GB). With tensorcache the DataLoader is streamed into a file once, and
tf.data reads batches from the mapped file: nothing is concatenated, nothing is embedded.
"""

import time

import _common  # noqa: F401 - makes tensorcache importable from a source checkout

import numpy as np
import torch
import torch.utils.data as tud

import tensorcache


def make_loader(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, generator=g)
    y = (x @ w > 0).long()                      # a learnable rule
    return tud.DataLoader(tud.TensorDataset(x, y), batch_size=512, shuffle=False), x, y


def numpy_epoch(path, batch_size):
    """What the tf.data pipeline does, in NumPy: shuffled batches, one gather per field."""
    with tensorcache.open(path) as c:
        x_all, y_all = c["features"], c["label"]   # views of the mapping, no copy
        order = np.random.default_rng(0).permutation(len(c))
        # a few steps of logistic regression, to show the batches are usable as they come
        w = np.zeros(x_all.shape[1], np.float32)
        for s in range(0, len(order), batch_size):
            b = c[order[s:s + batch_size]]          # {"features": (B, d), "label": (B,)}
            p = 1 / (1 + np.exp(-(b["features"] @ w)))
            w -= 0.5 * b["features"].T @ (p - b["label"]) / len(p)
        acc = float((((x_all @ w) > 0) == (y_all == 1)).mean())
        return acc


def tf_epoch(tf, path, batch_size):
    from tensorcache.tf_data import dataset
    ds = dataset(path, batch_size=batch_size, shuffle=True, seed=0, as_dict=False)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(ds, epochs=1, verbose=0)
    return float(hist.history["accuracy"][-1])


def main():
    ap = _common.parser(__doc__.splitlines()[1])
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--features", type=int, default=32)
    args = ap.parse_args()
    loader, x, y = make_loader(args.rows, args.features)
    with _common.OutDir(args.out) as out:
        path = out("tabular.tc")
        t0 = time.monotonic()
        s = tensorcache.pack_torch(loader, path, field_names=("features", "label"),
                                   metadata={"source": "tabular DataLoader example"})
        print("packed %d rows x %d features from a DataLoader into %s (%.1f MB) in %.2f s"
              % (s.num_samples, args.features, path, s.file_size / 1e6, time.monotonic() - t0))
        with tensorcache.open(path, verify=True) as c:
            print("cache: %r" % c)
            ok = (np.array_equal(c["features"], x.numpy())
                  and np.array_equal(c["label"], y.numpy()))
            print("cache equals the DataLoader's data: %s" % ("OK" if ok else "MISMATCH"))
        tf = _common.tensorflow_or_none()
        if tf is not None:
            acc = tf_epoch(tf, path, 256)
            print("TensorFlow: one epoch of a Keras model on tf.data from the cache, "
                  "accuracy %.3f" % acc)
        else:
            acc = numpy_epoch(path, 256)
            print("NumPy: one epoch of logistic regression on shuffled batches from the cache, "
                  "accuracy %.3f" % acc)
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
