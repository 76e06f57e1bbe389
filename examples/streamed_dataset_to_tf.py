#!/usr/bin/python3
"""A streamed PyTorch dataset too large to concatenate in RAM -> TensorFlow, in constant memory.

The classic way needs the whole dataset in memory at least once (`np.concatenate` of every batch)
before `from_tensor_slices`, or falls back to `from_generator`, which re-runs the Python producer
for every epoch. Here an IterableDataset produces samples on the fly; `tensorcache.pack_torch`
streams them to disk batch by batch (memory stays O(batch)), and every later epoch, in any
process or framework, reads the mapped file.

Default size: 40000 samples of 3x64x64 float32 = 1.97 GB. `--samples` changes it.
"""

import time

import _common  # noqa: F401 - makes tensorcache importable from a source checkout

import numpy as np
import torch
import torch.utils.data as tud

import tensorcache

SHAPE = (3, 64, 64)


def make_sample(i):
    """Sample i, reproducibly: a CHW float image and a label."""
    g = np.random.default_rng(i)
    img = g.standard_normal(SHAPE, dtype=np.float32)
    return torch.from_numpy(img), i % 100


class Stream(tud.IterableDataset):
    """Produces samples one at a time (think: decoding a video, crawling shards, ...)."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        for i in range(self.n):
            yield make_sample(i)


def numpy_epoch(path, batch_size):
    with tensorcache.open(path) as c:
        order = np.random.default_rng(1).permutation(len(c))
        total = 0.0
        for s in range(0, len(order), batch_size):
            b = c[order[s:s + batch_size]]
            total += float(b["image"].sum(dtype=np.float64))
        return total


def tf_epoch(tf, path, batch_size):
    from tensorcache.tf_data import dataset
    total = 0.0
    for b in dataset(path, batch_size=batch_size, shuffle=True, seed=1):
        total += float(tf.reduce_sum(tf.cast(b["image"], tf.float64)))
    return total


def main():
    ap = _common.parser(__doc__.splitlines()[1])
    ap.add_argument("--samples", type=int, default=40000)
    args = ap.parse_args()
    n = args.samples
    nbytes = n * int(np.prod(SHAPE)) * 4
    with _common.OutDir(args.out) as out:
        path = out("streamed.tc")
        base = _common.peak_rss_mb()
        t0 = time.monotonic()
        s = tensorcache.pack_torch(Stream(n), path, field_names=("image", "label"),
                                   layout={"image": "NCHW->NHWC"}, batch_size=128)
        grown = _common.peak_rss_mb() - base
        print("streamed %d samples (%.2f GB of images) into %s in %.1f s; peak RSS grew by "
              "%.0f MB: memory is O(batch), not O(dataset)"
              % (s.num_samples, nbytes / 1e9, path, time.monotonic() - t0, grown))
        with tensorcache.open(path) as c:
            print("cache: %r" % c)
            ok = True
            for i in sorted({0, n // 2, n - 1}):
                img, label = make_sample(i)
                ok &= np.array_equal(c["image"][i], img.numpy().transpose(1, 2, 0))
                ok &= int(c["label"][i]) == label
            print("samples 0, N/2, N-1 equal the producer's, stored NHWC: %s"
                  % ("OK" if ok else "MISMATCH"))
        tf = _common.tensorflow_or_none()
        t0 = time.monotonic()
        if tf is not None:
            total = tf_epoch(tf, path, 256)
            print("TensorFlow: one shuffled epoch through tf.data in %.1f s (sum %.1f)"
                  % (time.monotonic() - t0, total))
        else:
            total = numpy_epoch(path, 256)
            print("NumPy: one shuffled epoch of batch gathers in %.1f s (sum %.1f)"
                  % (time.monotonic() - t0, total))
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
