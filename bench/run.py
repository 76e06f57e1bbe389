#!/usr/bin/python3
"""run.py - the driver behind `make bench`: machine facts, the C benchmarks, the Python
benchmarks, then bench/report.py. See bench/README.md.

    run.py --build BUILD [--dir DIR] [--results DIR] [--size-gb X] [--repeats R] [--quick]
           [--only LIST]

LIST (comma-separated) picks benchmarks: c (all C), py (all Python), or single ones: pack, open,
view, gather, scan, lz4, verify (C); pyview, pygather, epoch, convert, pss, warm (Python).
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
PY_BENCHES = {"pyview": "view", "pygather": "gather", "epoch": "epoch", "convert": "convert",
              "pss": "pss", "warm": "warm"}


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
    rev = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    if rev:
        dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
        facts["git"] = rev + (" (with uncommitted changes)" if dirty else "")
    facts["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    facts["load_start"] = " ".join("%.2f" % x for x in os.getloadavg())
    return facts


def write_info(path, facts):
    with open(path, "a") as fh:
        for k, v in facts.items():
            fh.write("i,%s,%s\n" % (k, str(v).replace(",", ";")))


def ensure_peers():
    """h5py, lmdb, matplotlib from Debian: install when root and missing, else say so."""
    missing = []
    for mod, pkg in (("h5py", "python3-h5py"), ("lmdb", "python3-lmdb"),
                     ("matplotlib", "python3-matplotlib")):
        if subprocess.run([sys.executable, "-c", "import " + mod],
                          stderr=subprocess.DEVNULL).returncode != 0:
            missing.append(pkg)
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing %s (Debian)" % " ".join(missing), flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        ok = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
                            + missing, env=env, stdout=subprocess.DEVNULL).returncode == 0
        if ok:
            return
        print("bench: apt-get install failed", flush=True)
    print("bench: %s missing: those rows are skipped (run: apt-get install %s)"
          % (", ".join(missing), " ".join(missing)), flush=True)


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
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    size = args.size_gb if args.size_gb else (0.25 if args.quick else 2.0)
    reps = args.repeats if args.repeats else (3 if args.quick else 5)
    bench_dir = os.path.abspath(args.dir or os.path.join(build, "bench-data"))
    os.makedirs(bench_dir, exist_ok=True)
    os.makedirs(args.results, exist_ok=True)
    free = shutil.disk_usage(bench_dir).free / 1e9
    need = size * 6 + 1  # the synthetic set in five formats plus a copy, at most
    if free < need:
        sys.exit("bench: %s has %.0f GB free; %.0f GB are needed for a %.2f GB set "
                 "(lower BENCH_SIZE_GB or set BENCH_DIR)" % (bench_dir, free, need, size))

    only = [x for x in args.only.split(",") if x]
    c_only = [b for b in C_BENCHES if not only or "c" in only or b in only]
    py_only = [v for k, v in PY_BENCHES.items() if not only or "py" in only or k in only]

    raw = os.path.join(args.results, "latest-raw.csv.tmp")
    if os.path.exists(raw):
        os.unlink(raw)
    t0 = time.monotonic()
    facts = machine_info(bench_dir)
    facts["size_gb"] = "%g" % size
    facts["repeats"] = str(reps)
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
        ensure_peers()
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
    with open(raw, "a") as fh:
        for f in failed:
            fh.write("s,%s,all,failed (see its error output above): its remaining rows are missing\n"
                     % f)
        fh.write("i,duration,%.0f\n" % (time.monotonic() - t0))
        fh.write("i,load_end,%s\n" % " ".join("%.2f" % x for x in os.getloadavg()))
    final_raw = os.path.join(args.results, "latest-raw.csv")
    os.replace(raw, final_raw)
    sys.path.insert(0, HERE)
    import report
    text, note = report.render(final_raw, args.results)
    print()
    print(text)
    if note:
        print("bench: " + note)
    print("bench: wrote %s/latest.md, latest.csv, latest.png, latest-raw.csv (%.0f s)"
          % (args.results, time.monotonic() - t0))
    if failed:
        print("bench: FAILED: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
