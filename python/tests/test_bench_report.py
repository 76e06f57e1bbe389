"""The benchmark harness's pure functions (bench/report.py, bench/epoch_report.py): ratios,
verdicts, and the epoch table's rows for measured, failed and not-cold loaders. No benchmark
runs here; this only guards the arithmetic and the honesty rules of the report."""

import os
import sys
import tempfile
import unittest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "bench")
sys.path.insert(0, BENCH)

import epoch_report  # noqa: E402
import report  # noqa: E402

RAW = """i,ep_batch,256
i,ep_samples_fmnist,100
i,ep_delivers_tensorcache,copy
i,ep_settings_tensorcache,Loader
m,ep.hot_shuf,fmnist,tensorcache,0,1000,samples/s
m,ep.hot_shuf,fmnist,tensorcache,1,3000,samples/s
m,ep.limit_memcpy_shuf,fmnist,memcpy,0,2000,samples/s
m,ep.limit_memcpy_shuf,fmnist,memcpy,1,2000,samples/s
m,ep.limit_memcpy_seq,fmnist,memcpy,0,4000,samples/s
m,ep.cold_shuf,fmnist,tensorcache,0,50,samples/s
m,ep.cold_resident,fmnist,tensorcache,0,0.5,fraction
m,ep.read_amp,fmnist,tensorcache,0,1.5,x
m,ep.limit_pread,fmnist,parallel pread,0,100,samples/s
m,ep.hot_shuf,fmnist,LMDB,0,500,samples/s
m,ep.hot_shuf,fmnist,LMDB,1,1000,samples/s
s,ep,fmnist/LitData,loader failed: boom
"""


class BenchReportTest(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".csv")
        with os.fdopen(fd, "w") as fh:
            fh.write(RAW)
        self.meas, self.units, self.info, self.skips = report.load(self.path)

    def tearDown(self):
        os.unlink(self.path)

    def row(self, label_part):
        rows = report.build_rows(self.meas)
        hits = [r for r in rows if label_part in r.label]
        self.assertEqual(len(hits), 1, [r.label for r in rows])
        return hits[0], report.evaluate(hits[0], self.meas, self.units)

    def test_ratio_pairs_repeats_and_checks_targets(self):
        r, e = self.row("hot_shuf epoch vs memcpy")
        self.assertEqual(e["ratio"], (1.0, 0.5, 1.5))   # 1000/2000 and 3000/2000
        self.assertEqual(e["verdict"], "PASS")           # median 1.0 >= 0.8
        r, e = self.row("cold shuffled epoch vs best parallel pread")
        self.assertEqual(e["verdict"], "MISS")
        self.assertEqual(e["by"], "38% short")           # 0.5 against 0.8
        r, e = self.row("read amplification")
        self.assertEqual(e["verdict"], "MISS")
        r, e = self.row("hot_shuf epoch vs LMDB")
        self.assertEqual(e["ratio"][0], 2.5)             # (2 + 3) / 2

    def test_table_keeps_failed_peers_and_flags_warm_cold_runs(self):
        text = "\n".join(epoch_report.table(self.meas, self.info, self.skips))
        self.assertIn("| LitData | - | not measured: loader failed: boom", text)
        self.assertIn("**Not cold**", text)
        self.assertIn("limit: memcpy", text)
        self.assertIn("limit: parallel pread", text)
        lines = [ln for ln in text.splitlines() if ln.startswith("| tensorcache")]
        self.assertEqual(len(lines), 1)
        self.assertEqual(lines[0].count("|"), len(epoch_report.COLS) + 3)


if __name__ == "__main__":
    unittest.main()
