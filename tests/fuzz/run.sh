#!/bin/sh
# run.sh - run the libFuzzer targets (called by `make fuzz` and `make test-fuzz`).
#
#   FUZZ_DIR=build/fuzz sh tests/fuzz/run.sh SECONDS keep|build
#
# For each target (fuzz_open, fuzz_roundtrip):
#  1. regression: every input saved in tests/fuzz/crashes/<target>/ is run once and must pass
#     within 20 s;
#  2. fuzzing for SECONDS, starting from the committed seeds (tests/fuzz/corpus/<target>/, the
#     saved crashes once they all pass and, for fuzz_open, tests/bad/); new coverage goes to
#     $FUZZ_DIR/corpus-<target>/, which persists between runs.
# A crashing input is written to tests/fuzz/crashes/<target>/ ("keep", for `make fuzz`: commit it
# as a regression input once fixed) or to $FUZZ_DIR/artifacts-<target>/ ("build", for `make test`).
# Ends with "fuzz: N passed, M failed".
set -u
secs=$1
mode=$2
dir=${FUZZ_DIR:?FUZZ_DIR is not set}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export UBSAN_OPTIONS
pass=0
fail=0
execs_total=0

for t in open roundtrip; do
    bin=$dir/fuzz_$t
    crashes=tests/fuzz/crashes/$t
    # 1. regression inputs
    regress_failed=0
    if [ -d "$crashes" ]; then
        for f in "$crashes"/*; do
            [ -f "$f" ] || continue
            if "$bin" -timeout=20 "$f" >"$dir/regress-$t.log" 2>&1; then
                pass=$((pass + 1))
            else
                fail=$((fail + 1))
                regress_failed=1
                echo "fuzz_$t: FAIL: regression input $f:"
                grep -E 'ERROR|runtime error|invariant|SUMMARY|fuzz_roundtrip:|ALARM' "$dir/regress-$t.log" | head -n 5
            fi
        done
    fi
    # 2. fuzzing
    work=$dir/corpus-$t
    if [ "$mode" = keep ]; then art=$crashes; else art=$dir/artifacts-$t; fi
    mkdir -p "$work" "$art"
    seeds="tests/fuzz/corpus/$t"
    # the saved crashes are seeds too, unless one still fails (it would end the run at once)
    [ $regress_failed = 0 ] && [ -n "$(ls -A "$crashes" 2>/dev/null)" ] && seeds="$seeds $crashes"
    [ "$t" = open ] && [ -d tests/bad ] && seeds="$seeds tests/bad"
    log=$dir/fuzz-$t.log
    # shellcheck disable=SC2086 # $seeds is a list of directories
    "$bin" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" $seeds >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    execs=${execs:-0}
    execs_total=$((execs_total + execs))
    ncorp=$(ls "$work" | wc -l)
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        echo "fuzz_$t: $execs executions in $secs s, no crash (corpus: $ncorp inputs in $work)"
    else
        fail=$((fail + 1))
        echo "fuzz_$t: FAIL after $execs executions (exit status $rc); the report:"
        grep -E -A12 '^==[0-9]+==ERROR|runtime error|invariant violated|fuzz_roundtrip:' "$log" | head -n 30
        grep 'Test unit written to' "$log"
        echo "fuzz_$t: full log in $log"
    fi
done
echo "fuzz: $pass passed, $fail failed ($execs_total executions)"
[ $fail -eq 0 ]
