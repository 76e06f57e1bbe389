#!/usr/bin/python3
"""run.py - the driver behind `make bench`: machine facts, the C benchmarks, the Python
benchmarks, then bench/report.py. See bench/README.md.

    run.py --build BUILD [--dir DIR] [--results DIR] [--size-gb X] [--repeats R] [--quick]
           [--only LIST]

LIST (comma-separated) picks benchmarks: c (all C), py (all Python), or single ones: pack, open,
view, gather, scan, lz4, verify (C); pyview, pygather, pss, warm (Python micro-benchmarks);
epochs (the epoch table: tensorcache, the peers, the limits); frameworks (issue 9's measures).

A full run refuses a tree with uncommitted changes (results must name the commit they came
from) unless BENCH_ALLOW_DIRTY=1, and then says DIRTY in the results. --quick runs are marked
as smoke runs.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

C_BENCHES = ["pack", "open", "view", "gather", "scan", "lz4", "verify"]
PY_BENCHES = {"pyview": "view", "pygather": "gather", "pss": "pss", "warm": "warm"}
STAGES = ["epochs", "frameworks"]


def sh(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              check=True).stdout.decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine_info(bench_dir):
    """CPU, cores, memory, kernel, filesystem: what the figures depend on."""
    facts = {}
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    facts["cpu"] = cpu or platform.processor() or "?"
    facts["cores"] = "%d online" % os.cpu_count()
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        facts["memory"] = "%.1f GiB" % (kb / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    facts["kernel"] = "%s %s" % (platform.system(), platform.release())
    try:
        with open("/etc/os-release") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    facts["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    fs = sh(["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "-T", bench_dir])
    facts["filesystem"] = fs.replace(",", " ") if fs else sh(["stat", "-f", "-c", "%T", bench_dir])
    st = os.statvfs(bench_dir)
    facts["disk_free"] = "%.0f GB" % (st.f_bavail * st.f_frsize / 1e9)
    facts["compiler"] = sh([os.environ.get("CC", "cc"), "--version"]).splitlines()[0:1]
    facts["compiler"] = facts["compiler"][0] if facts["compiler"] else "?"
    facts["python"] = "%s %s" % (sys.executable, platform.python_version())
    rev, dirty = git_state()
    facts["git"] = rev + (" DIRTY (uncommitted changes: not a result to commit)" if dirty else "")
    facts["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    facts["load_start"] = " ".join("%.2f" % x for x in os.getloadavg())
    return facts


def write_info(path, facts):
    with open(path, "a") as fh:
        for k, v in facts.items():
            fh.write("i,%s,%s\n" % (k, str(v).replace(",", ";")))


def git_state():
    """(short commit, dirty?) of the tree the bench runs from; ("unknown", True) outside git."""
    rev = sh(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"])
    if not rev:
        return "unknown", True
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
    return rev, bool(dirty)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--dir")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--size-gb", type=float)
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--bench-python", default="")
    args = ap.parse_args()
    rev, dirty = git_state()
    if dirty and not args.quick and os.environ.get("BENCH_ALLOW_DIRTY") != "1":
        sys.exit("bench: the tree has uncommitted changes; results must come from a commit. "
                 "Commit first (or BENCH_ALLOW_DIRTY=1 to run anyway: the results say DIRTY).")
    build = os.path.abspath(args.build)
    size = args.size_gb if args.size_gb else (0.25 if args.quick else 1.0)
    reps = args.repeats if args.repeats else (3 if args.quick else 5)
    bench_dir = os.path.abspath(args.dir or os.path.join(build, "bench-data"))
    os.makedirs(bench_dir, exist_ok=True)
    os.makedirs(args.results, exist_ok=True)
    free = shutil.disk_usage(bench_dir).free / 1e9
    need = size * 6 + 8  # micro: the set in five formats plus a copy; epochs: 3 GB in two
    if free < need:
        sys.exit("bench: %s has %.0f GB free; %.0f GB are needed for a %.2f GB set "
                 "(lower BENCH_SIZE_GB or set BENCH_DIR)" % (bench_dir, free, need, size))

    only = [x for x in args.only.split(",") if x]
    if args.quick and not only:
        only = ["gather", "scan"] + STAGES   # the smoke run: a little C, then the new tables
    c_only = [b for b in C_BENCHES if not only or "c" in only or b in only]
    # By default only pss and warm of the Python micro-benchmarks: the epoch table measures
    # gathers as loaders use them (pyview, pygather: BENCH_ONLY=py or by name).
    py_only = [v for k, v in PY_BENCHES.items()
               if (not only and k in ("pss", "warm")) or "py" in only or k in only]
    stages = [x for x in STAGES if not only or x in only]

    raw = os.path.join(args.results, "latest-raw.csv.tmp")
    if os.path.exists(raw):
        os.unlink(raw)
    t0 = time.monotonic()
    facts = machine_info(bench_dir)
    facts["size_gb"] = "%g" % size
    facts["repeats"] = str(reps)
    facts["quick"] = "1" if args.quick else "0"
    write_info(raw, facts)
    print("bench: %s, %s, %s, %s" % (facts["cpu"], facts["cores"], facts.get("memory", "?"),
                                     facts["kernel"]), flush=True)
    print("bench: data in %s (%s); synthetic set %.2f GB; %d repeats%s"
          % (bench_dir, facts["filesystem"], size, reps, " (quick)" if args.quick else ""),
          flush=True)

    cold_method = "unavailable"
    failed = []
    if c_only:
        print("bench: C library ...", flush=True)
        cmd = [os.path.join(build, "bench", "bench_c"), "--dir", bench_dir, "--out", raw,
               "--size-gb", str(size), "--repeats", str(reps), "--fmnist", args.fmnist,
               "--only", ",".join(c_only)]
        if args.quick:
            cmd.append("--quick")
        if subprocess.run(cmd).returncode != 0:
            failed.append("bench_c")
    with open(raw) as fh:
        for line in fh:
            if line.startswith("i,cold_method,"):
                cold_method = line.strip().split(",", 2)[2]
    if py_only:
        print("bench: Python ...", flush=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.join(ROOT, "python") + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["TENSORCACHE_LIB"] = os.path.join(build, "libtensorcache.so")
        method = {"posix_fadvise(DONTNEED)": "fadvise", "drop_caches": "drop_caches"}.get(
            cold_method, "")
        if not cold_method or cold_method == "unavailable":
            # bench_c did not run: find out here.
            method = "fadvise"
        warm = os.path.join(build, "bench", "tc-warm")
        cli = os.path.join(build, "tensorcache")
        if os.path.exists(cli) and subprocess.run([cli, "warm", "--help"], stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL).returncode == 0:
            warm = cli + " warm"
        cmd = [sys.executable, os.path.join(HERE, "bench_py.py"), "--dir", bench_dir, "--out", raw,
               "--size-gb", str(size), "--repeats", str(reps), "--only", ",".join(py_only),
               "--fmnist", args.fmnist, "--cold-method", method, "--warm-cmd", warm]
        if args.quick:
            cmd.append("--quick")
        if subprocess.run(cmd, env=env).returncode != 0:
            failed.append("bench_py.py")
    bench_py = args.bench_python if args.bench_python and os.path.exists(args.bench_python) else ""
    env = dict(os.environ)
    for stage in stages:
        print("bench: %s ..." % stage, flush=True)
        cmd = [sys.executable, os.path.join(HERE, stage + ".py"), "--dir", bench_dir, "--out", raw,
               "--build", build, "--repeats", str(1 if args.quick else 3)]
        if stage == "epochs":
            cmd += ["--bench-python", bench_py]
            if args.quick:  # a smoke run: both venvs, the limits, a cold epoch; within ~60 s
                cmd += ["--datasets", "fmnist",
                        "--only-peers", "tensorcache,tensordataset,memmap,lmdb"]
        if args.quick:
            cmd.append("--quick")
        if subprocess.run(cmd, env=env).returncode != 0:
            failed.append(stage + ".py")
    with open(raw, "a") as fh:
        for f in failed:
            fh.write("s,%s,all,failed (see its error output above): its remaining rows are missing\n"
                     % f)
        fh.write("i,duration,%.0f\n" % (time.monotonic() - t0))
        fh.write("i,load_end,%s\n" % " ".join("%.2f" % x for x in os.getloadavg()))
    final_raw = os.path.join(args.results, "latest-raw.csv")
    os.replace(raw, final_raw)
    # The report needs matplotlib for the plots: the bench venv has it, the project venv not.
    render_py = bench_py or sys.executable
    subprocess.run([render_py, os.path.join(HERE, "report.py"), final_raw, args.results])
    print("bench: wrote %s/latest.md, latest.csv, latest.png, latest-raw.csv (%.0f s)"
          % (args.results, time.monotonic() - t0))
    if failed:
        print("bench: FAILED: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
