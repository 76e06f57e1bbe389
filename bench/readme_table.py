"""Prints the rows of bench/results/latest.csv that carry a target, as the compact Markdown table
shown in the top-level README (every row with its median, the comparator, the paired ratio, the
target and the verdict).  Usage: python3 bench/readme_table.py [bench/results/latest.csv]"""
import csv
import sys


def fmt(x):
    v = float(x)
    return "%.3g" % v if abs(v) < 100 else "%.0f" % v


def main(path):
    print("| measurement | tensorcache | comparator | ratio | target | verdict |")
    print("|---|---|---|---|---|---|")
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if not r["target"]:
                continue
            verdict = r["verdict"] + (" (%s)" % r["miss_by"] if r["miss_by"] else "")
            comp = "%s: %s %s" % (r["comparator"], fmt(r["comparator_median"]), r["unit"]) \
                if r["comparator_median"] else "-"
            ratio = fmt(r["ratio_median"]) + "x" if r["ratio_median"] else "-"
            print("| %s [%s] | %s %s | %s | %s | %s | %s |" % (
                r["measurement"], r["impl"], fmt(r["median"]), r["unit"], comp, ratio,
                r["target"], verdict))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.csv")
