"""Run as a script by test_keras.py, one Keras backend per process (KERAS_BACKEND is fixed when
keras is imported): a PyDataset over the cache gives the source values in a seeded, per-epoch
order and trains a small model with Model.fit. Prints "OK <backend>"."""

import sys

import numpy as np


def main(path):
    import keras
    import tensorcache
    from tensorcache.keras_data import CacheDataset
    from tests import fwdata

    src = fwdata.source()
    ds = CacheDataset(path, x=["x", "h"], y="y", batch_size=16, shuffle=True, seed=5)
    assert len(ds) == 4
    seen = []
    for e in range(2):
        ys = []
        for i in range(len(ds)):
            (x, h), y = ds[i]
            np.testing.assert_array_equal(x, src["x"][y])
            assert h.dtype.name == "bfloat16", h.dtype
            np.testing.assert_array_equal(h.view(np.uint16), src["h"].view(np.uint16)[y])
            ys.extend(y.tolist())
        fwdata.check_epoch(_T(), ys)
        seen.append(ys)
        ds.on_epoch_end()
    assert seen[0] != seen[1]
    again = CacheDataset(path, x="x", y="y", batch_size=16, shuffle=True, seed=5)
    assert np.concatenate([again[i][1] for i in range(4)]).tolist() == seen[0]

    train = CacheDataset(path, x="x", y="y", batch_size=10, shuffle=True, seed=0)
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(50, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    hist = model.fit(train, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and len(hist.history["loss"]) == 2

    padded = CacheDataset(path, x="v", batch_size=8, variable="padded")
    assert padded[0][0].shape == (8, 4)
    for bad, exc, words in ((dict(x="nope"), tensorcache.NotFoundError, ["nope"]),
                            (dict(x="v"), tensorcache.WrongKindError, ["'v'", "sample 0"])):
        try:
            CacheDataset(path, batch_size=4, **bad)
        except exc as e:
            assert all(w in str(e) for w in words), str(e)
        else:
            raise AssertionError("no error for %r" % bad)
    print("OK", keras.backend.backend())


class _T:
    def assertEqual(self, a, b):
        assert a == b, (a, b)


if __name__ == "__main__":
    main(sys.argv[1])
