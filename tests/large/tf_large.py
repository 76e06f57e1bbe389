"""make test-large: tf_data.dataset over a cache larger than 2 GiB (where from_tensor_slices of
the same data would hit the 2 GB graph-constant limit). Every sample is read once through a
shuffled tf.data epoch and compared with the bytes written; the dataset's serialized graph stays
tiny (no data in it).

    python tests/large/tf_large.py DIR       (needs ~2.2 GB of disk in DIR)
"""

import os
import sys

import numpy as np

SAMPLE = 1 << 20        # 1 MiB per sample
N = 2100                # 2.05 GiB in field 'x'
CHUNK = 50


def pattern(i):
    """Sample i's bytes: its number in the first 8 bytes, then a byte depending on i."""
    a = np.full(SAMPLE, (i * 7) % 251, np.uint8)
    a[:8] = np.frombuffer(np.int64(i).tobytes(), np.uint8)
    return a


def main(directory):
    import tensorcache
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "tf-large.tc")
    if os.path.exists(path):
        os.remove(path)
    try:
        with tensorcache.Writer(path) as w:
            w.add_field("x", "u8", (SAMPLE,))
            w.add_field("i", "i64", ())
            for s in range(0, N, CHUNK):
                ids = np.arange(s, min(N, s + CHUNK))
                w.append_batch([np.stack([pattern(int(i)) for i in ids]), ids.astype(np.int64)])
        size = os.path.getsize(path)
        assert size > 2 * 2**30, size

        import tensorflow as tf  # noqa: F401
        from tensorcache import tf_data
        ds = tf_data.dataset(path, ("x", "i"), batch_size=32, shuffle=True, seed=0)
        graph = len(ds._as_serialized_graph().numpy())
        assert graph < 1 << 20, "serialized dataset graph is %d bytes" % graph
        seen = []
        for b in ds:
            x, ids = b["x"].numpy(), b["i"].numpy()
            assert (x[:, :8].copy().view(np.int64)[:, 0] == ids).all()
            for row, i in zip(x, ids.tolist()):
                assert (row[8:] == (i * 7) % 251).all(), "sample %d differs" % i
            seen.extend(ids.tolist())
        assert sorted(seen) == list(range(N)) and seen != list(range(N))
        print("tf_data over a %.2f GiB cache: %d samples, each once, bytes equal; dataset "
              "graph %d bytes: 1 passed" % (size / 2**30, N, graph))
    finally:
        if os.path.exists(path):
            os.remove(path)


if __name__ == "__main__":
    main(sys.argv[1])
