"""Packaging for the tensorcache Python package.

    pip install ./python                                  # from a tensorcache source checkout
    pip install --no-build-isolation --no-deps ./python   # offline, with the venv's setuptools

The wheel carries its own libtensorcache, compiled here from ../lib/*.c (the same sources and
flags as the Makefile's build/libtensorcache.so) and linked against the system's liblz4 and
libxxhash (Debian: liblz4-dev libxxhash-dev). It lands beside the Python files as
tensorcache/_libtensorcache<EXT_SUFFIX>.so and is loaded with ctypes (_native.py), so `import
tensorcache` can write caches with no LD_LIBRARY_PATH, no `make install`, no sudo. It is built as
a setuptools Extension only to get a platform wheel and the compiler driver; it has no Python
entry point (PyInit_*) and is never imported as a module.

The build needs the C sources next to this directory, so build from a checkout (pip builds local
directories in place). Set TENSORCACHE_NO_NATIVE=1 to build a pure-Python wheel (the NumPy reader
only; writing then looks for a libtensorcache elsewhere, see _native.py).
"""

import glob
import os
import re

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
with open(os.path.join(HERE, "tensorcache", "__init__.py")) as f:
    VERSION = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)
with open(os.path.join(HERE, "README.md")) as f:
    LONG = f.read()


def native_library():
    """The Extension compiling lib/*.c into tensorcache/_libtensorcache*.so (or [] when
    TENSORCACHE_NO_NATIVE is set)."""
    if os.environ.get("TENSORCACHE_NO_NATIVE"):
        return []
    sources = sorted(glob.glob(os.path.join(ROOT, "lib", "*.c")))
    if not sources:
        raise SystemExit("tensorcache: no C sources in %s/lib: build the wheel from a tensorcache "
                         "source checkout (or set TENSORCACHE_NO_NATIVE=1 for the reader only)"
                         % ROOT)
    return [Extension(
        "tensorcache._libtensorcache", sources=sources,
        include_dirs=[os.path.join(ROOT, "include"), os.path.join(ROOT, "lib")],
        define_macros=[("_GNU_SOURCE", None), ("_FILE_OFFSET_BITS", "64")],
        extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra"],
        libraries=["lz4", "xxhash"])]


setup(
    name="tensorcache",
    version=VERSION,
    description="One cache file per dataset, mapped read-only and sliced without copying "
                "(NumPy reader; PyTorch, TensorFlow/Keras and JAX adapters)",
    long_description=LONG,
    long_description_content_type="text/markdown",
    license="MIT",
    packages=["tensorcache"],
    ext_modules=native_library(),
    python_requires=">=3.9",
    install_requires=["numpy>=1.21"],
    extras_require={"torch": ["torch"], "progress": ["tqdm"], "tensorflow": ["tensorflow"],
                    "jax": ["jax", "grain"], "keras": ["keras>=3"]},
    classifiers=["Programming Language :: Python :: 3", "Operating System :: POSIX :: Linux"],
)
