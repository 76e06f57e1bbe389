"""Run as a script by test_jax.py: a Grain DataLoader with 2 worker processes over GrainSource
reads every sample exactly once with the source values. Prints "OK"."""

import sys

import numpy as np


def main(path):
    from absl import flags
    import grain.python as grain
    from tensorcache.jax_data import GrainSource
    from tests import fwdata

    if not flags.FLAGS.is_parsed():   # Grain's workers read absl flags
        flags.FLAGS.mark_as_parsed()
    src = fwdata.source()
    source = GrainSource(path, fields=["x", "y", "h"])
    loader = grain.DataLoader(
        data_source=source,
        sampler=grain.IndexSampler(len(source), shuffle=True, seed=3, num_epochs=1),
        operations=[grain.Batch(8)], worker_count=2)
    ys = []
    for b in loader:
        np.testing.assert_array_equal(b["x"], src["x"][b["y"]])
        np.testing.assert_array_equal(b["h"].view(np.uint16), src["h"].view(np.uint16)[b["y"]])
        ys.extend(b["y"].tolist())
    assert sorted(ys) == list(range(fwdata.N)), ys
    assert ys != list(range(fwdata.N))
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1])
