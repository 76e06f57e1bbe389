"""Shared bits of the examples: making `tensorcache` importable from a source checkout, an output
directory, peak memory, and whether TensorFlow is there."""

import argparse
import importlib.util
import os
import resource
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if importlib.util.find_spec("tensorcache") is None:  # not installed, no PYTHONPATH=python:
    sys.path.insert(0, os.path.join(HERE, "..", "python"))  # run from a source checkout


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", help="directory for the cache file (default: a temporary directory, "
                   "removed at the end)")
    return p


class OutDir:
    def __init__(self, out):
        self.keep = out is not None
        self.path = out if out else tempfile.mkdtemp(prefix="tensorcache-example-")
        os.makedirs(self.path, exist_ok=True)

    def __call__(self, name):
        return os.path.join(self.path, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tensorflow_or_none():
    """TensorFlow if importable; otherwise None, after saying so."""
    try:
        import tensorflow as tf
        return tf
    except ImportError:
        print("TensorFlow is not installed: the TensorFlow step falls back to NumPy "
              "(tensorcache.open + one gather per batch, the same reads tf_data.dataset makes).")
        return None
