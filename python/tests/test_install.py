"""The package installs offline with pip and works from the installed copy."""

import os
import shutil
import subprocess
import sys
import unittest

import numpy as np

import tensorcache

from . import tcfile

PKG_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


class InstallTest(unittest.TestCase):
    def test_pip_install_offline(self):
        tmp = tcfile.TempDir()
        try:
            # pip builds in the source tree (build/, *.egg-info): work on a copy
            src = tmp("src")
            os.makedirs(src)
            shutil.copytree(os.path.join(PKG_ROOT, "tensorcache"),
                            os.path.join(src, "tensorcache"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            for name in ("setup.py", "README.md"):
                shutil.copy(os.path.join(PKG_ROOT, name), src)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
            env["PIP_NO_INDEX"] = "1"  # no network, no local wheel directory: offline for real
            target = tmp("target")
            r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                                "--disable-pip-version-check", "--target", target, src],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertTrue(os.path.exists(os.path.join(target, "tensorcache", "reader.py")))
            cache = tmp("x.tc")
            tensorcache.pack(cache, [np.arange(4, dtype=np.int16) * i for i in range(3)],
                             progress=False)
            env["PYTHONPATH"] = target
            script = ("import sys, tensorcache as tc; c = tc.open(sys.argv[1], verify=True); "
                      "print(tc.__file__); print(int(c['data'][2, 3]))")
            r = subprocess.run([sys.executable, "-c", script, cache], env=env, cwd=tmp.path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            where, value = r.stdout.split()
            self.assertTrue(where.startswith(target), where)
            self.assertEqual(value, "6")
        finally:
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
