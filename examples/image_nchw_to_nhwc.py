#!/usr/bin/python3
"""An image DataLoader with NCHW tensors -> TensorFlow, arriving NHWC (Fashion-MNIST).

PyTorch image pipelines produce channels-first (N, C, H, W) tensors; TensorFlow/Keras expects
channels-last (N, H, W, C). The classic conversion permutes every batch by hand and is easy to get
wrong. Here `pack_torch(..., layout={"image": "NCHW->NHWC"})` converts while streaming, records
the layout tag "NHWC" and the conversion in the file, and every reader gets NHWC.
"""

import gzip
import os
import struct
import time

import _common  # noqa: F401 - makes tensorcache importable from a source checkout

import numpy as np
import torch
import torch.utils.data as tud

import tensorcache

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


class FashionMNIST(tud.Dataset):
    """Like torchvision's FashionMNIST with ToTensor(): (1, 28, 28) float32 in [0, 1]."""

    def __init__(self, root, split, limit=None):
        self.images = load_idx(os.path.join(root, "%s-images-idx3-ubyte.gz" % split))[:limit]
        self.labels = load_idx(os.path.join(root, "%s-labels-idx1-ubyte.gz" % split))[:limit]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i]).unsqueeze(0).float() / 255, int(self.labels[i])


def main():
    ap = _common.parser(__doc__.splitlines()[1])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory with the gzipped IDX files (Debian: dataset-fashion-mnist)")
    ap.add_argument("--split", default="train", choices=("train", "t10k"))
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images")
    args = ap.parse_args()
    ds = FashionMNIST(args.data, args.split, args.limit)
    loader = tud.DataLoader(ds, batch_size=1000, shuffle=False, num_workers=2)
    first_nchw = next(iter(loader))[0]
    print("the DataLoader yields %s batches: %s (NCHW)" % (first_nchw.dtype,
                                                           tuple(first_nchw.shape)))
    with _common.OutDir(args.out) as out:
        path = out("fashion-mnist-%s.tc" % args.split)
        t0 = time.monotonic()
        s = tensorcache.pack_torch(loader, path, field_names=("image", "label"),
                                   layout={"image": "NCHW->NHWC"},
                                   metadata={"classes": CLASSES,
                                             "source": {"image": "%s-images-idx3-ubyte.gz"
                                                        % args.split}})
        print("packed %d images in %.2f s into %s (%.1f MB)"
              % (s.num_samples, time.monotonic() - t0, path, s.file_size / 1e6))
        with tensorcache.open(path, verify=True) as c:
            f = c.field("image")
            print("stored: image %s %s layout %s; metadata conversions %s"
                  % (f.dtype, (len(c),) + f.shape, f.layout, c.metadata["conversions"]))
            want = first_nchw.numpy().transpose(0, 2, 3, 1)  # the permute done by hand, once
            ok = c["image"][:len(want)].tobytes() == want.tobytes()
            print("first batch equals the DataLoader's batch permuted to NHWC, bit for bit: %s"
                  % ("OK" if ok else "MISMATCH"))
        tf = _common.tensorflow_or_none()
        if tf is not None:
            from tensorcache.tf_data import dataset
            tds = dataset(path, batch_size=256, shuffle=True, seed=0, as_dict=False)
            conv = tf.keras.layers.Conv2D(8, 3, data_format="channels_last")
            images, labels = next(iter(tds))
            print("TensorFlow: tf.data batch %s %s -> Conv2D(channels_last) -> %s"
                  % (images.dtype.name, tuple(images.shape), tuple(conv(images).shape)))
        else:
            with tensorcache.open(path) as c:
                idx = np.random.default_rng(0).permutation(len(c))[:256]
                b = c[idx]
                print("NumPy: shuffled batch image %s %s (NHWC), labels e.g. %s"
                      % (b["image"].dtype, b["image"].shape,
                         [CLASSES[k] for k in b["label"][:3]]))
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
