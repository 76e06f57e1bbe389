#!/usr/bin/python3
"""report.py - turns the benchmark records into bench/results/latest.{md,csv,png}.

    report.py RAW.csv OUTDIR        (run.py calls it; it can also re-render an old latest-raw.csv)

Every figure is the median over repeats, with the min-max range. Every ratio is tensorcache's
value divided by its comparator's value *from the same repeat* (the two ran back to back, in
alternating order), and the ratio column shows the median and min-max of those paired ratios.
A target is checked against the median ratio (or the median value, for absolute targets); a miss
says by how much. Rows that could not run say why.
"""

import csv
import math
import os
import statistics
import sys
from collections import OrderedDict, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_report  # noqa: E402


# ---- loading ---------------------------------------------------------------------------------
def load(path):
    meas = defaultdict(dict)     # (bench, case, impl) -> {rep: value}
    units = {}
    info = OrderedDict()
    skips = []
    with open(path) as fh:
        for row in csv.reader(fh):
            if not row:
                continue
            if row[0] == "m" and len(row) == 7:
                key = (row[1], row[2], row[3])
                meas[key][int(row[4])] = float(row[5])
                units[key] = row[6]
            elif row[0] == "i" and len(row) >= 3:
                info[row[1]] = ",".join(row[2:])
            elif row[0] == "s" and len(row) >= 4:
                skips.append((row[1], row[2], ",".join(row[3:])))
    return meas, units, info, skips


def med_range(vals):
    vals = list(vals)
    return statistics.median(vals), min(vals), max(vals)


# ---- the rows of the table ------------------------------------------------------------------
class Row:
    """One line of the table: `cur` measured beside `base` (or alone), maybe against a target.

    target: (op, value, on) with op ">=" or "<=", on "ratio" or "value"."""

    def __init__(self, section, label, cur, base=None, target=None, note=None, key=None):
        self.section, self.label, self.cur, self.base = section, label, cur, base
        self.target, self.note, self.key = target, note, key or label


def cases_of(meas, bench):
    seen = []
    for (b, c, _i) in meas:
        if b == bench and c not in seen:
            seen.append(c)
    return seen


def has(meas, key):
    return key in meas and meas[key]


def build_rows(meas):
    R = epoch_report.rows(Row)(meas)
    C = "C library (libtensorcache)"
    # open vs N
    open_cases = sorted(cases_of(meas, "c.open"), key=lambda c: float(c.split("=")[1]))
    for c in open_cases:
        R.append(Row(C, "open, %s" % c, ("c.open", c, "tensorcache"),
                     ("c.open", c, "open+pread+mmap")))
    if len(open_cases) >= 2:
        R.append(Row(C, "open time does not grow with N: %s vs %s" % (open_cases[-1], open_cases[0]),
                     ("c.open", open_cases[-1], "tensorcache"), ("c.open", open_cases[0], "tensorcache"),
                     ("<=", 1.5, "ratio"), key="open_growth"))
    for c in cases_of(meas, "c.view"):
        for impl in ("tc_span_at", "tc_sample"):
            R.append(Row(C, "single-sample view, %s" % c, ("c.view", c, impl),
                         ("c.view", c, "raw-pointer"), ("<=", 1.2, "ratio"), key="view_" + impl))
    pf = "tc_prefetch + tc_gather"
    hand = "MADV_WILLNEED per sample + memcpy"
    for c in cases_of(meas, "c.gather"):
        R.append(Row(C, "random batch gather, %s" % c, ("c.gather", c, "tc_gather"),
                     ("c.gather", c, "memcpy"), (">=", 0.9, "ratio")))
        if has(meas, ("c.gather_prefetch", c, pf)):
            R.append(Row(C, "random batch gather, tc_prefetch first (resident: its cost), %s" % c,
                         ("c.gather_prefetch", c, pf), ("c.gather_prefetch", c, "tc_gather"),
                         key="prefetch_hot"))
        if has(meas, ("c.prefetch", c, "tc_prefetch")):
            R.append(Row(C, "tc_prefetch call per batch of 256, resident, %s" % c,
                         ("c.prefetch", c, "tc_prefetch")))
        byhand = c + "/by-hand"
        if has(meas, ("c.gather_prefetch", byhand, pf)):
            R.append(Row(C, "(reference) tc_prefetch first vs the same advice by hand, %s" % byhand,
                         ("c.gather_prefetch", byhand, pf), ("c.gather_prefetch", byhand, hand)))
    for c in cases_of(meas, "c.gather_cold"):
        R.append(Row(C, "random batch gather, %s" % c, ("c.gather_cold", c, "tc_gather"),
                     ("c.gather_cold", c, "memcpy")))
        if has(meas, ("c.gather_cold", c, pf)):
            R.append(Row(C, "random batch gather, tc_prefetch first, %s" % c,
                         ("c.gather_cold", c, pf), ("c.gather_cold", c, "tc_gather"),
                         key="prefetch_cold"))
        if has(meas, ("c.prefetch", c, "tc_prefetch")):
            R.append(Row(C, "tc_prefetch call per batch of 256 (issuing the reads), %s" % c,
                         ("c.prefetch", c, "tc_prefetch")))
        for ref in ("pread(2) per sample", "MADV_WILLNEED per sample + memcpy"):
            if has(meas, ("c.gather_cold", c, ref)):
                R.append(Row(C, "(reference) random batch gather, %s: %s" % (c, ref),
                             ("c.gather_cold", c, "tc_gather"), ("c.gather_cold", c, ref)))
        ref = ("c.gather_cold", c, hand)
        if has(meas, ("c.gather_cold", c, pf)) and has(meas, ref):
            R.append(Row(C, "(reference) tc_prefetch first vs the same advice by hand, %s" % c,
                         ("c.gather_cold", c, pf), ref))
    for c in cases_of(meas, "c.scan"):
        R.append(Row(C, "sequential scan, %s" % c, ("c.scan", c, "tensorcache"),
                     ("c.scan", c, "raw-mmap"), (">=", 0.9, "ratio")))
        if has(meas, ("c.scan", c, "read(2) 8 MiB")):
            R.append(Row(C, "sequential scan vs reading the file, %s" % c,
                         ("c.scan", c, "tensorcache"), ("c.scan", c, "read(2) 8 MiB")))
        if has(meas, ("c.scan", c, "raw-mmap+MADV_SEQUENTIAL")):
            R.append(Row(C, "(reference) MADV_SEQUENTIAL on a raw mapping, %s" % c,
                         ("c.scan", c, "raw-mmap+MADV_SEQUENTIAL"), ("c.scan", c, "raw-mmap")))
        if has(meas, ("c.scan", c, "tensorcache+TC_ADVICE_SEQUENTIAL")):
            R.append(Row(C, "(reference) tc_advise(SEQUENTIAL), %s" % c,
                         ("c.scan", c, "tensorcache+TC_ADVICE_SEQUENTIAL"), ("c.scan", c, "tensorcache")))
    for c in cases_of(meas, "c.pack"):
        R.append(Row(C, "pack, %s" % c, ("c.pack", c, "tensorcache"), ("c.pack", c, "write+fsync"),
                     (">=", 0.8, "ratio")))
    for c in cases_of(meas, "c.lz4"):
        R.append(Row(C, "LZ4 decode (one core), %s" % c, ("c.lz4", c, "tc_gather"),
                     ("c.lz4", c, "LZ4_decompress_safe"), (">=", 2.0, "value")))
    for c in cases_of(meas, "c.verify"):
        R.append(Row(C, "verify, %s" % c, ("c.verify", c, "tc_verify"),
                     ("c.verify", c, "XXH3_64bits")))
    for c in cases_of(meas, "c.warm"):
        R.append(Row(C, "tensorcache warm, %s" % c, ("c.warm", c, "tensorcache warm"),
                     ("c.warm", c, "cat FILE >/dev/null")))
    for c in cases_of(meas, "c.warm_resident"):
        R.append(Row(C, "resident after warm (mincore), %s" % c,
                     ("c.warm_resident", c, "tensorcache warm"), None, (">=", 99.9, "value")))

    P = "Python micro-benchmarks (project venv)"
    for c in cases_of(meas, "py.view"):
        tc = ("py.view", c, "tensorcache")
        R.append(Row(P, "single view, %s: vs np.memmap" % c, tc, ("py.view", c, "np.memmap (.npy)"),
                     ("<=", 0.5, "ratio"), key="py_view_memmap"))
        R.append(Row(P, "single view, %s: vs in-memory ndarray" % c, tc,
                     ("py.view", c, "ndarray (in memory)")))
        R.append(Row(P, "single view, %s: cache[i] (all fields, dict) vs np.memmap" % c,
                     ("py.view", c, "tensorcache cache[i]"), ("py.view", c, "np.memmap (.npy)")))
        for peer in ("h5py (chunked)", "LMDB (key per sample)"):
            if has(meas, ("py.view", c, peer)):
                R.append(Row(P, "single sample, %s: vs %s" % (c, peer), tc, ("py.view", c, peer)))
    for c in cases_of(meas, "py.gather"):
        tc = ("py.gather", c, "tensorcache")
        if "/hot/" in c:
            R.append(Row(P, "random batch gather, %s: vs in-memory ndarray" % c, tc,
                         ("py.gather", c, "ndarray (in memory)"), (">=", 0.9, "ratio"),
                         key="py_gather_ndarray"))
        for peer in ("np.memmap (.npy)", "h5py (chunked)", "LMDB (key per sample)"):
            if has(meas, ("py.gather", c, peer)):
                R.append(Row(P, "random batch gather, %s: vs %s" % (c, peer), tc,
                             ("py.gather", c, peer)))
        ref = ("py.gather", c, "ndarray np.take(out=) mode=raise")
        if has(meas, ref):
            R.append(Row(P, "(reference) in-memory np.take(out=) with the default mode='raise', %s" % c,
                         ref, ("py.gather", c, "ndarray (in memory)")))
    for c in cases_of(meas, "py.pss"):
        R.append(Row(P, "total PSS of K readers (x one copy), %s" % c,
                     ("py.pss", c, "tensorcache (K mappings)"), ("py.pss", c, "np.load (K copies)"),
                     ("<=", 1.05, "value"), key="pss"))
    return R


# ---- evaluation -------------------------------------------------------------------------------
def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 10:
        return "%.2f" % v
    if a >= 1:
        return "%.3f" % v
    return "%.3g" % v


def evaluate(row, meas, units):
    cur = meas.get(row.cur) or {}
    base = meas.get(row.base) or {} if row.base else {}
    out = {"cur": None, "base": None, "ratio": None, "verdict": None, "by": None,
           "unit": units.get(row.cur, "")}
    if not cur:
        return out
    out["cur"] = med_range(cur.values())
    if base:
        out["base"] = med_range(base.values())
        pairs = [cur[r] / base[r] for r in cur if r in base and base[r] != 0]
        if pairs:
            out["ratio"] = med_range(pairs)
    if row.target:
        op, val, on = row.target
        x = out["ratio"][0] if on == "ratio" and out["ratio"] else (
            out["cur"][0] if on == "value" else None)
        if x is not None:
            ok = x >= val if op == ">=" else x <= val
            out["verdict"] = "PASS" if ok else "MISS"
            if not ok:
                if op == ">=":
                    out["by"] = "%.0f%% short" % ((1 - x / val) * 100) if val else "short"
                else:
                    out["by"] = ("%.2fx the limit" % (x / val)) if x / val >= 1.5 else \
                        "%.0f%% over" % ((x / val - 1) * 100)
    return out


def target_text(row, unit):
    if not row.target:
        return ""
    op, val, on = row.target
    sym = "≥" if op == ">=" else "≤"
    if on == "ratio":
        return "%s %sx" % (sym, fmt(val))
    return "%s %s %s" % (sym, fmt(val), unit)


def cell(mr, unit=""):
    if not mr:
        return "-"
    m, lo, hi = mr
    u = (" " + unit) if unit else ""
    return "%s%s (%s–%s)" % (fmt(m), u, fmt(lo), fmt(hi))


# ---- outputs ---------------------------------------------------------------------------------
MACHINE_KEYS = [("cpu", "CPU"), ("cores", "cores"), ("memory", "memory"), ("kernel", "kernel"),
                ("os", "OS"), ("filesystem", "filesystem (bench dir)"), ("disk_free", "disk free"),
                ("compiler", "compiler"), ("python", "python"), ("numpy", "numpy"),
                ("torch", "torch"), ("peer_h5py", "h5py"), ("peer_lmdb", "lmdb"),
                ("tc_version", "libtensorcache"), ("git", "git commit"), ("date", "date"),
                ("load_start", "load average at start"), ("load_end", "load average at end"), ("cold_method", "cold cache method"),
                ("size_gb", "synthetic set size (GB)"), ("repeats", "repeats"),
                ("c_synth_samples", "C synthetic samples (224x224x3)"),
                ("py_synth_samples", "Python synthetic samples (224x224x3)"),
                ("conv_samples", "conversion set samples"), ("lz4_ratio", "LZ4 compressed/raw (Fashion-MNIST)"),
                ("duration", "wall time of the run (s)")]

EXPLAIN = {
    "view_tc_sample": "tc_sample() is an out-of-line call that checks the field and the index and "
                      "fills a complete dlpack-style view (data, dtype, ndim, shape, strides, "
                      "nbytes), a struct of about 180 bytes: a few ns, against a multiply-add of "
                      "well under 1 ns. No opaque-handle call can meet 1.2x of that; the inline "
                      "tc_span_at() is the API for hot loops, and it meets the target.",
    "py_gather_ndarray": "into-buffer: Field.gather(idx, out=buf) calls np.take(..., out=buf) "
                         "with NumPy's default mode='raise', which copies through a temporary "
                         "array whenever `out` is given; the reference row shows the same cost on "
                         "a plain in-memory array. The reader has already validated the indices, "
                         "so mode='clip' is safe and removes the extra copy. new-array on small "
                         "samples: the remaining few per cent are Field.gather's per-call "
                         "checks (a few microseconds against a ~20 microsecond gather).",
    "open_growth": "Open validates the header and field table only (O(fields)); growth with N "
                   "would mean per-sample work at open.",
    "pss": "Mapped file pages are shared: K readers' PSS adds up to one copy of the data.",
}
EXPLAIN.update(epoch_report.EXPLAIN)


EXPLAIN_TITLE = {
    "view_tc_sample": "tc_sample",
    "py_gather_ndarray": "Python batch gather",
    "ep_memcpy": "epoch vs memcpy",
    "ep_pread": "cold epoch vs parallel pread",
    "ep_tds": "epoch vs TensorDataset",
    "ep_peer": "epoch vs peers",
    "ep_amp": "read amplification",
    "open_growth": "open",
    "pss": "PSS",
}


def observations(rows, evals):
    """Same-run findings without a target, stated only when the data shows them."""
    out = []
    by = {(r.cur, r.base): e for r, e in zip(rows, evals)}
    by_cur = {}
    for r, e in zip(rows, evals):
        by_cur.setdefault(r.cur, e)
    for (cur, base), e in by.items():
        if not base or not e["ratio"]:
            continue
        if cur[0] == "c.gather_cold" and cur[2] == "tc_gather" and \
                base[2].startswith("MADV_WILLNEED") and e["ratio"][0] < 0.5:
            have_pf = ("c.gather_cold", cur[1], "tc_prefetch + tc_gather") in by_cur
            out.append("Cold random batches (%s): tc_gather reads at %s GB/s, like any reader "
                       "that faults pages in one at a time; advising MADV_WILLNEED over every "
                       "sample of the batch first, then copying, reached %s GB/s in the same run "
                       "(%.1fx): all the batch's reads are queued at once. %s"
                       % (cur[1], fmt(e["cur"][0]), fmt(e["base"][0]), 1 / e["ratio"][0],
                          "tc_prefetch does this for users (its row above)." if have_pf else
                          "A prefetch step in tc_gather (or a tc_prefetch call for the next "
                          "batch) would bring that to users."))
        if cur[0] == "c.gather_cold" and cur[2] == "tc_prefetch + tc_gather" and \
                base[2] == "tc_gather":
            x = e["ratio"][0]
            verdict = ("%.1fx faster" % x) if x >= 1.1 else \
                ("%.2fx, i.e. slower" % x) if x <= 0.9 else ("%.2fx, no gain" % x)
            out.append("tc_prefetch on cold random batches (%s): prefetching the whole batch, "
                       "then gathering it, ran at %s GB/s against %s GB/s for tc_gather alone in "
                       "the same repeats (%s). Prefetching the *next* batch while the current "
                       "one is in use could also overlap the reads with the work; this run does "
                       "not measure that."
                       % (cur[1], fmt(e["cur"][0]), fmt(e["base"][0]), verdict))
        if cur[0] == "c.gather_prefetch" and cur[2] == "tc_prefetch + tc_gather" and \
                base[2] == "tc_gather":
            pc = by_cur.get(("c.prefetch", cur[1], "tc_prefetch"))
            out.append("tc_prefetch on resident pages (%s): prefetch + gather ran at %.0f%% of "
                       "tc_gather's throughput%s: the price of one madvise per sample when "
                       "nothing needs reading." % (
                           cur[1], 100 * e["ratio"][0],
                           " (%s µs per batch of 256 in tc_prefetch)" % fmt(pc["cur"][0])
                           if pc and pc["cur"] else ""))
        if cur[2] == "raw-mmap+MADV_SEQUENTIAL" and e["ratio"][0] < 0.7:
            out.append("Cold scan (%s): MADV_SEQUENTIAL on a fresh mapping ran at %.0f%% of the "
                       "kernel's default readahead here; do not recommend it (nor "
                       "tc_advise(TC_ADVICE_SEQUENTIAL)) for cold scans on this kernel."
                       % (cur[1], 100 * e["ratio"][0]))
        if cur[0] == "py.gather" and "/cold/" in cur[1] and base[2] == "h5py (chunked)" and \
                e["ratio"][0] < 0.9:
            out.append("Cold random batches in Python (%s): h5py, reading each chunk with "
                       "pread, was %.1fx faster than the mapping, which faults pages in one "
                       "read-around window at a time." % (cur[1], 1 / e["ratio"][0]))
    return out


def machine_lines(info):
    lines = []
    for k, label in MACHINE_KEYS:
        if k in info:
            lines.append("- %s: %s" % (label, info[k]))
    return lines


def write_md(path, rows, evals, info, skips):
    L = ["# tensorcache benchmark results", ""]
    L.append("Generated by `make bench` from commit **%s** (bench/README.md explains how to run "
             "it and how to read this table)." % info.get("git", "unknown"))
    if info.get("quick") == "1":
        L += ["", "**BENCH_QUICK=1 smoke run: small sets, few repeats. Not figures to quote.**"]
    L += ["", "## Machine", ""] + machine_lines(info)
    L += ["", "## How to read this table", "",
          "Each figure is the median over repeats, with the min–max range in parentheses. "
          "*Ratio* is tensorcache's value divided by the comparator's value measured in the "
          "same repeat (back to back, alternating order); its median and min–max are over those "
          "paired ratios. For times (ns, µs) lower is better; for throughputs (GB/s, samples/s) "
          "higher is better; PSS is total proportional set size divided by the bytes of one "
          "copy of the data. A target is checked against the median; a MISS says by how much.",
          ""]
    ep = epoch_report.table(*_reload(info))
    if ep:
        L += ["", "## Epoch table: every loader on the same data, same batch size", "",
              "Medians over repeats; each loader ran in its own processes (peak RSS is "
              "getrusage's in those processes). *hot*: the files in the page cache; *cold*: "
              "evicted by posix_fadvise(DONTNEED) just before the loader was made, checked with "
              "mincore (last column: fraction of pages still resident). Read amplification: "
              "/proc/self/io read_bytes during the cold epoch / bytes delivered. Plot: "
              "latest-epochs.png."] + ep
    section = None
    for row, ev in zip(rows, evals):
        if row.section != section:
            section = row.section
            L += ["", "## " + section, "",
                  "| measurement | tensorcache | comparator | ratio | target | verdict |",
                  "|---|---|---|---|---|---|"]
        comp = ""
        if row.base:
            comp = "%s: %s" % (row.base[2] if row.base[1] == row.cur[1] else
                               "%s %s" % (row.base[1], row.base[2]), cell(ev["base"], ev["unit"]))
        name = row.cur[2]
        label = "%s [%s]" % (row.label, name)
        if ev["cur"] is None:
            verdict = "not measured"
        elif ev["verdict"] == "MISS":
            verdict = "**MISS** (%s)" % ev["by"]
        else:
            verdict = ev["verdict"] or ""
        ratio = cell(ev["ratio"], "x").replace(" x (", "x (") if ev["ratio"] else "-"
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            label, cell(ev["cur"], ev["unit"]), comp or "-", ratio,
            target_text(row, ev["unit"]), verdict))
    misses = [(r, e) for r, e in zip(rows, evals) if e["verdict"] == "MISS"]
    L += ["", "## Targets missed", ""]
    if not misses:
        L.append("None.")
    explained = set()
    for r, e in misses:
        x = e["ratio"][0] if r.target[2] == "ratio" else e["cur"][0]
        L.append("- %s [%s]: %s against a target of %s (%s)." % (
            r.label, r.cur[2], fmt(x) + ("x" if r.target[2] == "ratio" else " " + e["unit"]),
            target_text(r, e["unit"]), e["by"]))
    for r, e in misses:
        if r.key in EXPLAIN and r.key not in explained:
            explained.add(r.key)
            L += ["", "*%s*: %s" % (EXPLAIN_TITLE.get(r.key, r.key), EXPLAIN[r.key])]
    obs = observations(rows, evals)
    if obs:
        L += ["", "## Observations", ""] + ["- " + o for o in obs]
    if skips:
        L += ["", "## Not measured", ""]
        seen = set()
        for b, c, why in skips:
            if (b, c, why) not in seen:
                seen.add((b, c, why))
                L.append("- %s %s: %s" % (b, c, why))
    L.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(L))
    return "\n".join(L)


def write_csv(path, rows, evals):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "measurement", "impl", "unit", "median", "min", "max",
                    "comparator", "comparator_median", "comparator_min", "comparator_max",
                    "ratio_median", "ratio_min", "ratio_max", "target", "verdict", "miss_by"])
        for r, e in zip(rows, evals):
            if e["cur"] is None:
                continue
            b = e["base"] or (None, None, None)
            q = e["ratio"] or (None, None, None)
            comp = ("%s %s" % (r.base[1], r.base[2])) if r.base else ""
            w.writerow([r.section, r.label, r.cur[2], e["unit"]] + ["%.6g" % v for v in e["cur"]]
                       + [comp] + ["" if v is None else "%.6g" % v for v in b]
                       + ["" if v is None else "%.6g" % v for v in q]
                       + [target_text(r, e["unit"]), e["verdict"] or "", e["by"] or ""])


def write_png(path, rows, evals, meas):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (apt-get install python3-matplotlib): no plot"
    fig, axes = plt.subplots(2, 2, figsize=(15, 11))
    # (a) every targeted row: ratio or value against its target
    ax = axes[0][0]
    tr = [(r, e) for r, e in zip(rows, evals) if r.target and e["verdict"]]
    labels, vals, tgts, colors = [], [], [], []
    for r, e in tr:
        x = e["ratio"][0] if r.target[2] == "ratio" else e["cur"][0]
        t = r.target[1]
        labels.append(("%s [%s]" % (r.label, r.cur[2]))[:70])
        vals.append(x / t if r.target[0] == ">=" else t / x)  # > 1 always means "meets it"
        colors.append("tab:green" if e["verdict"] == "PASS" else "tab:red")
        tgts.append(r.target[0])
    y = list(range(len(labels)))
    ax.barh(y, vals, color=colors)
    ax.axvline(1.0, color="k", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=6)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("margin against the target (log; right of 1 = target met)")
    ax.set_title("Targets: green PASS, red MISS")
    # (b) open time vs N
    ax = axes[0][1]
    oc = sorted(cases_of(meas, "c.open"), key=lambda c: float(c.split("=")[1]))
    if oc:
        xs = [float(c.split("=")[1]) for c in oc]
        for impl in ("tensorcache", "open+pread+mmap"):
            ms = [med_range(meas[("c.open", c, impl)].values()) for c in oc]
            ax.errorbar(xs, [m[0] for m in ms], yerr=[[m[0] - m[1] for m in ms],
                                                       [m[2] - m[0] for m in ms]],
                        marker="o", label=impl, capsize=3)
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("samples N")
        ax.set_ylabel("µs per open")
        ax.legend()
    ax.set_title("C: open time vs N (hot page cache)")
    # (c) Python batch gather, hot and cold
    ax = axes[1][0]
    gc_ = cases_of(meas, "py.gather")
    impls = ["ndarray (in memory)", "tensorcache", "np.memmap (.npy)", "h5py (chunked)",
             "LMDB (key per sample)"]
    width = 0.8 / len(impls)
    for k, impl in enumerate(impls):
        hs = []
        for c in gc_:
            v = meas.get(("py.gather", c, impl))
            hs.append(statistics.median(v.values()) if v else 0)
        ax.bar([i + k * width for i in range(len(gc_))], hs, width, label=impl)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(gc_))])
    ax.set_xticklabels([c.replace("/b256/", "\n") for c in gc_], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("GB/s (log)")
    ax.legend(fontsize=7)
    ax.set_title("Python: random batch gather (256 samples)")
    # (d) PSS vs K
    ax = axes[1][1]
    pc = sorted(cases_of(meas, "py.pss"), key=lambda c: int(c.split("=")[1]))
    if pc:
        ks = [int(c.split("=")[1]) for c in pc]
        for impl in ("tensorcache (K mappings)", "np.load (K copies)"):
            ax.plot(ks, [statistics.median(meas[("py.pss", c, impl)].values()) for c in pc],
                    marker="o", label=impl)
        ax.axhline(1.05, color="k", ls="--", lw=1, label="target 1.05")
        ax.set_xticks(ks)
        ax.set_xlabel("K reader processes")
        ax.set_ylabel("total PSS / one copy of the data")
        ax.legend()
    ax.set_title("Shared memory: K processes reading the whole dataset")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


_LOADED = {}


def _reload(info):
    """The records behind `info` (write_md's signature predates the epoch table)."""
    meas, skips = _LOADED[id(info)]
    return meas, info, skips


def render(raw_path, outdir):
    meas, units, info, skips = load(raw_path)
    _LOADED[id(info)] = (meas, skips)
    rows = build_rows(meas)
    evals = [evaluate(r, meas, units) for r in rows]
    text = write_md(os.path.join(outdir, "latest.md"), rows, evals, info, skips)
    write_csv(os.path.join(outdir, "latest.csv"), rows, evals)
    note = write_png(os.path.join(outdir, "latest.png"), rows, evals, meas)
    note2 = epoch_report.plot(os.path.join(outdir, "latest-epochs.png"), meas, info)
    return text, "; ".join(n for n in (note, note2) if n)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: report.py RAW.csv OUTDIR\n")
        return 2
    text, note = render(sys.argv[1], sys.argv[2])
    print(text)
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
