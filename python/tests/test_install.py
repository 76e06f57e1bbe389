"""`pip install ./python` gives a wheel carrying its own libtensorcache: in a fresh venv (no
system site-packages, no LD_LIBRARY_PATH, no TENSORCACHE_LIB, no make install) the package
writes and reads caches; without the native library the NumPy reader still works."""

import os
import shutil
import subprocess
import sys
import unittest

from . import tcfile

PKG_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
REPO = os.path.dirname(PKG_ROOT)

WRITE_READ = """
import sys, numpy as np, tensorcache as tc
from tensorcache import _native
tc.pack(sys.argv[1], [np.arange(4, dtype=np.int16) * i for i in range(3)], progress=False)
c = tc.open(sys.argv[1], verify=True)
print(_native.lib().path)
print(tc.__file__)
print(int(c['data'][2, 3]))
"""

READ_ONLY = """
import sys, tensorcache as tc
print(int(tc.open(sys.argv[1], verify=True)['data'][2, 1]))
"""


def _run(cmd, env, cwd, timeout=300):
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if r.returncode:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode, r.stdout))
    return r.stdout


class WheelTest(unittest.TestCase):
    def test_wheel_in_fresh_venv(self):
        tmp = tcfile.TempDir()
        try:
            # pip builds in the source tree: build a copy (python/ beside lib/ and include/)
            src = tmp("src")
            shutil.copytree(os.path.join(PKG_ROOT, "tensorcache"),
                            os.path.join(src, "python", "tensorcache"),
                            ignore=shutil.ignore_patterns("__pycache__", "*.so"))
            for name in ("setup.py", "README.md"):
                shutil.copy(os.path.join(PKG_ROOT, name), os.path.join(src, "python"))
            for d in ("lib", "include"):
                shutil.copytree(os.path.join(REPO, d), os.path.join(src, d))
            env = {k: v for k, v in os.environ.items()
                   if k not in ("TENSORCACHE_LIB", "TC_BUILD", "PYTHONPATH", "LD_LIBRARY_PATH")}
            dist = tmp("dist")
            _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                  "--no-build-isolation", "-w", dist, os.path.join(src, "python")], env, tmp.path)
            wheels = [w for w in os.listdir(dist) if w.endswith(".whl")]
            self.assertEqual(len(wheels), 1, wheels)
            self.assertNotIn("none-any", wheels[0])  # a platform wheel: it carries the library

            venv = tmp("venv")
            base = getattr(sys, "_base_executable", sys.executable)
            _run([base, "-m", "venv", venv], env, tmp.path)
            py = os.path.join(venv, "bin", "python")
            # numpy from pip's configured sources and cache, pinned like the project venv
            _run([py, "-m", "pip", "install", "-q", "-c", os.path.join(REPO, "requirements",
                 "lock.txt"), "numpy", os.path.join(dist, wheels[0])], env, tmp.path)

            cache = tmp("x.tc")
            lib, where, value = _run([py, "-c", WRITE_READ, cache], env, tmp.path).split()
            self.assertTrue(lib.startswith(venv), lib)          # the wheel's own library
            self.assertIn("_libtensorcache", lib)
            self.assertTrue(where.startswith(venv), where)
            self.assertEqual(value, "6")

            os.remove(lib)  # the NumPy reader needs no native library
            self.assertEqual(_run([py, "-c", READ_ONLY, cache], env, tmp.path).strip(), "2")
        finally:
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
