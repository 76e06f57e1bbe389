"""Packaging for the tensorcache Python package.

Deliberately a plain setup.py with no pyproject.toml: pip then builds with the setuptools that is
already installed (Debian's python3-setuptools) instead of creating an isolated build
environment, which would try to download setuptools from PyPI. So this installs offline:

    /usr/bin/python3 -m pip install --break-system-packages ./python

(see README.md for the venv variant and why Debian 12 needs --break-system-packages).
"""

import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "tensorcache", "__init__.py")) as f:
    VERSION = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)
with open(os.path.join(HERE, "README.md")) as f:
    LONG = f.read()

setup(
    name="tensorcache",
    version=VERSION,
    description="One cache file per dataset, mapped read-only and sliced without copying "
                "(NumPy reader; PyTorch and TensorFlow adapters)",
    long_description=LONG,
    long_description_content_type="text/markdown",
    license="MIT",
    packages=["tensorcache"],
    python_requires=">=3.9",
    # NumPy is the only requirement of the reader. It is not listed in install_requires so that
    # pip never tries to fetch it: on Debian it comes from python3-numpy (apt), and pip would
    # otherwise consider reinstalling it from PyPI. torch, tqdm and tensorflow are optional.
    install_requires=[],
    extras_require={"torch": ["torch"], "progress": ["tqdm"], "tensorflow": ["tensorflow"]},
    classifiers=["Programming Language :: Python :: 3", "Operating System :: POSIX :: Linux"],
)
