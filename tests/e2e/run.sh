#!/bin/sh
# End-to-end tests of the tensorcache command and tc-demo-check.
#
#   BUILD=/abs/build PYTHON=/usr/bin/python3 sh tests/e2e/run.sh
#
# Every test asserts exact exit codes, error names (`tensorcache: error: NAME: ...`) and byte
# equality (cmp) with references written by NumPy (tests/e2e/helpers.py). Prints one line per
# test and finishes with `e2e: N passed, M failed`; exits non-zero on any failure.

# `make test-e2e` runs this with sh; the tests use bash features.
if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
PYTHON=${PYTHON:-/usr/bin/python3}
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
TC=$BUILD/tensorcache
CHECK=$BUILD/tc-demo-check
T=$BUILD/tmp-e2e
G=$T/in   # generated inputs and NumPy references
O=$T/out  # caches and exports of passing tests
B=$T/bad  # target directory of failing packs: must stay free of outputs and temporaries
PASS=0
FAIL=0
MOUNTED=""

cleanup() {
    if [ -n "$MOUNTED" ]; then umount "$MOUNTED" 2>/dev/null; fi
}
trap cleanup EXIT

umount "$T/ro" 2>/dev/null # left mounted by an interrupted run
rm -rf "$T"
mkdir -p "$G" "$O" "$B" || exit 1

for bin in "$TC" "$CHECK"; do
    if [ ! -x "$bin" ]; then
        echo "e2e: $bin is missing (run make all)"
        echo "e2e: 0 passed, 1 failed"
        exit 1
    fi
done
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
    echo "e2e: $PYTHON cannot import numpy"
    echo "e2e: 0 passed, 1 failed"
    exit 1
fi

ok() {
    PASS=$((PASS + 1))
    echo "ok    $1"
}

bad() { # NAME REASON
    FAIL=$((FAIL + 1))
    echo "FAIL  $1: $2"
    if [ -s "$T/stderr" ]; then sed -n '1,4s/^/        stderr| /p' "$T/stderr"; fi
}

skip() {
    echo "skip  $1: $2"
}

# run CMD...: runs it, stdout/stderr to files, exit status in RC. A sanitizer report (make
# sanitize) turns any outcome into a failure: ASan and LSan exit with 1, which an expected
# error exit would otherwise hide.
run() {
    "$@" >"$T/stdout" 2>"$T/stderr"
    RC=$?
    if grep -q -e 'Sanitizer' -e 'runtime error:' "$T/stderr"; then
        echo "        sanitizer report from: $*"
        RC=99
    fi
}

# expect_ok NAME CMD...
expect_ok() {
    local name=$1
    shift
    run "$@"
    if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "exit $RC, expected 0"; fi
}

# check_err NAME RC ERRNAME: the last command exited RC with `tensorcache: error: ERRNAME:`.
check_err() {
    local name=$1 want=$2 ename=$3
    if [ "$RC" -ne "$want" ]; then
        bad "$name" "exit $RC, expected $want"
        return 1
    fi
    if ! grep -q "^\(tensorcache\|tc-demo-check\): error: $ename: " "$T/stderr"; then
        bad "$name" "stderr lacks 'error: $ename:'"
        return 1
    fi
    return 0
}

# expect_err NAME RC ERRNAME CMD...
expect_err() {
    local name=$1 want=$2 ename=$3
    shift 3
    run "$@"
    if check_err "$name" "$want" "$ename"; then ok "$name"; fi
}

# no_leftovers DIR: no temporary of the writer or of export in DIR.
no_leftovers() {
    ! ls -A "$1" | grep -q -e 'tctmp' -e '\.tmp\.'
}

# expect_pack_fail NAME RC ERRNAME PACK-ARGS...: packs into $B/out.tc and expects failure,
# no output and no temporary file.
expect_pack_fail() {
    local name=$1 want=$2 ename=$3
    shift 3
    run "$TC" pack "$B/out.tc" "$@"
    check_err "$name" "$want" "$ename" || return
    if [ -e "$B/out.tc" ]; then
        bad "$name" "output $B/out.tc exists after a failure"
        rm -f "$B/out.tc"
    elif ! no_leftovers "$B"; then
        bad "$name" "temporary file left in $B: $(ls -A "$B" | tr '\n' ' ')"
    else
        ok "$name"
    fi
}

# roundtrip NAME SOURCE REFERENCE [PACK-OPTIONS...]: pack x=SOURCE, verify, export x, cmp.
roundtrip() {
    local name=$1 src=$2 ref=$3
    shift 3
    local cache=$O/$name.tc out=$O/$name.npy
    run "$TC" pack -q "$@" "$cache" "x=$src"
    if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"; return; fi
    run "$TC" verify "$cache"
    if [ "$RC" -ne 0 ]; then bad "$name" "verify exit $RC"; return; fi
    run "$TC" export "$cache" x -o "$out"
    if [ "$RC" -ne 0 ]; then bad "$name" "export exit $RC"; return; fi
    if cmp -s "$out" "$ref"; then ok "$name"; else bad "$name" "$out differs from $ref"; fi
}

# export_cmp NAME CACHE FIELD REFERENCE
export_cmp() {
    local name=$1 cache=$2 field=$3 ref=$4 out=$O/$1.$3.npy
    run "$TC" export "$cache" "$field" -o "$out"
    if [ "$RC" -ne 0 ]; then bad "$name" "export $field exit $RC"; return 1; fi
    if ! cmp -s "$out" "$ref"; then bad "$name" "field $field: $out differs from $ref"; return 1; fi
    return 0
}

py() {
    "$PYTHON" "$HERE/helpers.py" "$@" >"$T/stdout" 2>"$T/stderr"
    RC=$?
}

t_start=$(date +%s)
py gen "$G"
if [ "$RC" -ne 0 ]; then
    cat "$T/stderr"
    echo "e2e: 0 passed, 1 failed"
    exit 1
fi

# ---- help, version, usage errors (exit 2) -----------------------------------------------------
expect_ok "help pack via 'help'" "$TC" help pack
for c in "" pack info verify export warm; do
    run "$TC" $c --help
    if [ "$RC" -eq 0 ] && grep -q '^usage: tensorcache' "$T/stdout"; then ok "help ${c:-main}"
    else bad "help ${c:-main}" "exit $RC or no usage text"; fi
done
name="every --help synopsis and option agrees with docs/CLI.md"
if "$PYTHON" "$HERE/cli_doc.py" "$TC" "$ROOT/docs/CLI.md" >"$T/stdout" 2>&1; then ok "$name"
else bad "$name" "$(cat "$T/stdout")"; fi
run "$TC" --version
if [ "$RC" -eq 0 ] && grep -q '^tensorcache [0-9]' "$T/stdout"; then ok "version"
else bad "version" "exit $RC"; fi

expect_err "usage: no command" 2 USAGE "$TC"
expect_err "usage: unknown command" 2 USAGE "$TC" frobnicate
expect_err "usage: pack without arguments" 2 USAGE "$TC" pack
expect_pack_fail "usage: pack without sources" 2 USAGE
expect_err "usage: OUTPUT forgotten" 2 USAGE "$TC" pack "x=$G/n10.npy" "y=$G/n10.npy"
expect_pack_fail "usage: unknown option" 2 USAGE --bogus "x=$G/n10.npy"
expect_pack_fail "usage: option missing its value" 2 USAGE "x=$G/n10.npy" --dtype
expect_pack_fail "usage: NAME=SOURCE without =" 2 USAGE "$G/n10.npy"
expect_pack_fail "usage: empty field name" 2 USAGE "=$G/n10.npy"
expect_pack_fail "usage: bad --compress" 2 USAGE --compress zstd "x=$G/n10.npy"
expect_pack_fail "usage: --align not a power of two" 2 USAGE --align 3 "x=$G/n10.npy"
expect_pack_fail "usage: bad --from-layout" 2 USAGE --from-layout CHWN "x=$G/n10.npy"
expect_pack_fail "usage: bad --dtype" 2 USAGE --dtype f33 "x=raw:$G/raw_f32.bin"
expect_pack_fail "usage: per-field option for unknown field" 2 USAGE --compress nosuch=lz4 "x=$G/n10.npy"
expect_pack_fail "usage: raw: without --dtype" 2 USAGE "x=raw:$G/raw_f32.bin"
expect_err "usage: export without -o" 2 USAGE "$TC" export "$O/none.tc" x
expect_err "usage: info without FILE" 2 USAGE "$TC" info
expect_err "usage: verify without FILE" 2 USAGE "$TC" verify
expect_err "usage: info unknown option" 2 USAGE "$TC" info --fast "$O/none.tc"

# ---- .npy round trips: byte-identical exports -------------------------------------------------
for dt in bool u8 i8 u16 i16 u32 i32 u64 i64 f16 f32 f64; do
    roundtrip "npy $dt" "$G/rt_$dt.npy" "$G/rt_$dt.npy"
done
roundtrip "npy N=0 (0,4)" "$G/n0.npy" "$G/n0.npy"
roundtrip "npy N=0 1-D" "$G/n0_1d.npy" "$G/n0_1d.npy"
roundtrip "npy N=1 (1,3,3,3)" "$G/n1.npy" "$G/n1.npy"
roundtrip "npy N=1 1-D" "$G/single.npy" "$G/single.npy"
roundtrip "npy 1-D (rank 0 per sample)" "$G/r0.npy" "$G/r0.npy"
roundtrip "npy dims of 1 (5,1,1,1)" "$G/ones.npy" "$G/ones.npy"
roundtrip "npy dims of 1 (4,1)" "$G/ones2.npy" "$G/ones2.npy"
roundtrip "npy prime dims (11,13,7,3)" "$G/prime.npy" "$G/prime.npy"
roundtrip "npy rank 6" "$G/rank5.npy" "$G/rank5.npy"
roundtrip "npy rank 9 (8 per sample)" "$G/rank8.npy" "$G/rank8.npy"
roundtrip "npy empty samples (5,0)" "$G/empty_sample.npy" "$G/empty_sample.npy"
roundtrip "npy 3-D -> (N,H,W,1)" "$G/img3d.npy" "$G/img3d_nhwc_ref.npy"
roundtrip "npy 3-D with --layout none" "$G/img3d.npy" "$G/img3d.npy" --layout none
roundtrip "npy header version 2.0" "$G/v2.npy" "$G/v_ref.npy"
roundtrip "npy header version 3.0" "$G/v3.npy" "$G/v_ref.npy"
roundtrip "npy Python 2 header (3L, 2L)" "$G/py2.npy" "$G/py2_ref.npy"
roundtrip "npy Fortran order 4-D" "$G/fortran4.npy" "$G/fortran4_ref.npy"
roundtrip "npy Fortran order big-endian 2-D" "$G/fortran2be.npy" "$G/fortran2be_ref.npy"
for be in i4 f8 u2 f2 i8; do
    roundtrip "npy big-endian >$be" "$G/be_$be.npy" "$G/be_${be}_ref.npy"
done
roundtrip "npy gzipped" "$G/gz.npy.gz" "$G/gz_ref.npy"
roundtrip "npy list of files (concatenated)" "$G/cat_a.npy,$G/cat_b.npy" "$G/cat_ref.npy"
roundtrip "npy forced with npy: prefix" "npy:$G/rt_f32.npy" "$G/rt_f32.npy"
for tb in 08 09 0b 0c 0d 0e; do
    roundtrip "idx type 0x$tb" "$G/idx_$tb-ubyte" "$G/idx_${tb}_ref.npy"
done
roundtrip "idx gzipped labels" "$G/idx1-ubyte.gz" "$G/idx1_ref.npy"
roundtrip "raw with raw: prefix" "raw:$G/raw_f32.bin" "$G/raw_ref.npy" --dtype f32 --shape 3,4,2
roundtrip "raw by --dtype (undetected content)" "$G/raw_f32.bin" "$G/raw_ref.npy" --dtype x=float32 --shape x=3,4,2
name="raw bf16 exports as '<u2' with a note"
roundtrip "$name" "raw:$G/rt_u16.bin" "$G/rt_u16.npy" --dtype bf16 --shape 5
if grep -q "note: bf16" "$T/stderr"; then ok "$name: note printed"; else bad "$name: note printed" "no note"; fi

# several fields in one cache
name="several fields in one cache"
run "$TC" pack -q "$O/multi.tc" "a=$G/mf_a.npy" "b=$G/mf_b.npy" "c=$G/mf_c.npy"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
elif export_cmp multi "$O/multi.tc" a "$G/mf_a.npy" && export_cmp multi "$O/multi.tc" b "$G/mf_b.npy" &&
    export_cmp multi "$O/multi.tc" c "$G/mf_c.npy"; then ok "$name"; fi

# NCHW -> NHWC, per field (y stays as it is)
name="--from-layout x=NCHW"
run "$TC" pack -q --from-layout x=NCHW "$O/nchw.tc" "x=$G/nchw.npy" "y=$G/nchw_y.npy"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
elif export_cmp nchw "$O/nchw.tc" x "$G/nchw_ref.npy" && export_cmp nchw "$O/nchw.tc" y "$G/nchw_y.npy"; then
    run "$TC" info --json "$O/nchw.tc"
    cp "$T/stdout" "$O/nchw.json"
    py json-check "$O/nchw.json" nchw
    if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "info --json check failed"; fi
fi
name="tc-demo-check --from-layout NCHW"
run "$CHECK" --from-layout NCHW "$O/nchw.tc" "x=$G/nchw.npy"
if [ "$RC" -eq 0 ] && grep -q "field x: 6/6 samples identical" "$T/stdout"; then ok "$name"; else bad "$name" "exit $RC"; fi
roundtrip "--from-layout NCHW (global)" "$G/nchw.npy" "$G/nchw_ref.npy" --from-layout NCHW
expect_pack_fail "--from-layout x=NCHW on a 2-D field" 1 SHAPE --from-layout x=NCHW "x=$G/n2d.npy"

# CIFAR
name="cifar10 batches concatenated (prefix)"
run "$TC" pack -q "$O/c10.tc" "image=cifar10:$G/c10_b1.bin,$G/c10_b2.bin"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
elif export_cmp c10 "$O/c10.tc" image "$G/c10cat_img_ref.npy" &&
    export_cmp c10 "$O/c10.tc" image_label "$G/c10cat_lab0_ref.npy"; then
    run "$TC" info --json "$O/c10.tc"
    cp "$T/stdout" "$O/c10.json"
    py json-check "$O/c10.json" cifar10
    if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "info --json check failed"; fi
fi
name="cifar10 detected by content, field names chosen"
run "$TC" pack -q "$O/c10h.tc" "img,lab=$G/c10_b1.bin"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
elif export_cmp c10h "$O/c10h.tc" img "$G/c10_img_ref.npy" &&
    export_cmp c10h "$O/c10h.tc" lab "$G/c10_lab0_ref.npy"; then ok "$name"; fi
name="cifar10 gzipped"
run "$TC" pack -q "$O/c10gz.tc" "image=cifar10:$G/c10_b1.bin.gz"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
elif export_cmp c10gz "$O/c10gz.tc" image "$G/c10_img_ref.npy" &&
    export_cmp c10gz "$O/c10gz.tc" image_label "$G/c10_lab0_ref.npy"; then ok "$name"; fi
name="cifar100 detected by content"
run "$TC" pack -q "$O/c100.tc" "image=$G/c100.bin"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
elif export_cmp c100 "$O/c100.tc" image "$G/c100_img_ref.npy" &&
    export_cmp c100 "$O/c100.tc" image_coarse_label "$G/c100_lab0_ref.npy" &&
    export_cmp c100 "$O/c100.tc" image_fine_label "$G/c100_lab1_ref.npy"; then ok "$name"; fi
name="tc-demo-check cifar10"
run "$CHECK" "$O/c10.tc" "image=cifar10:$G/c10_b1.bin,$G/c10_b2.bin"
if [ "$RC" -eq 0 ] && grep -q "field image: 8/8 samples identical" "$T/stdout" &&
    grep -q "field image_label: 8/8 samples identical" "$T/stdout"; then ok "$name"
else bad "$name" "exit $RC"; fi
expect_pack_fail "cifar10 label out of range" 1 SOURCE_FORMAT "image=cifar10:$G/c10_badlabel.bin"
expect_pack_fail "cifar100 prefix on a cifar10 size" 1 SOURCE_FORMAT "image=cifar100:$G/c10_b1.bin"

# LZ4 and --align
name="lz4 fields round trip"
run "$TC" pack -q --compress t=lz4 --block-size 4K "$O/lz4.tc" "t=$G/lz_tile.npy" "r=$G/lz_rand.npy"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
elif ! "$TC" verify "$O/lz4.tc" >/dev/null 2>"$T/stderr"; then bad "$name" "verify failed"
elif export_cmp lz4 "$O/lz4.tc" t "$G/lz_tile.npy" && export_cmp lz4 "$O/lz4.tc" r "$G/lz_rand.npy"; then
    run "$TC" info --json "$O/lz4.tc"
    cp "$T/stdout" "$O/lz4.json"
    py json-check "$O/lz4.json" lz4
    if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "info --json check failed"; fi
fi
expect_ok "export --no-mmap of an lz4 field" "$TC" export --no-mmap "$O/lz4.tc" t -o "$O/lz4_nommap.npy"
if cmp -s "$O/lz4_nommap.npy" "$G/lz_tile.npy"; then ok "export --no-mmap output identical"
else bad "export --no-mmap output identical" "differs"; fi
run "$TC" info "$O/lz4.tc"
if [ "$RC" -eq 0 ] && grep -q '^  codec:        lz4, 64 samples per block, ratio ' "$T/stdout" &&
    grep -q '^  layout:       (none)' "$T/stdout"; then ok "info text: codec and ratio"
else bad "info text: codec and ratio" "exit $RC"; fi
name="tc-demo-check on lz4 fields"
run "$CHECK" "$O/lz4.tc" "t=$G/lz_tile.npy" "r=$G/lz_rand.npy"
if [ "$RC" -eq 0 ] && grep -q "field t: 2000/2000 samples identical" "$T/stdout" &&
    grep -q "field r: 2000/2000 samples identical" "$T/stdout"; then ok "$name"; else bad "$name" "exit $RC"; fi
roundtrip "lz4 every field, random data" "$G/lz_rand.npy" "$G/lz_rand.npy" --compress lz4
roundtrip "lz4 N=0" "$G/n0.npy" "$G/n0.npy" --compress lz4
name="--align 64"
run "$TC" pack -q --align 64 "$O/align.tc" "a=$G/align.npy"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
elif ! "$TC" verify "$O/align.tc" >/dev/null 2>"$T/stderr"; then bad "$name" "verify failed"
elif export_cmp align "$O/align.tc" a "$G/align.npy"; then
    run "$TC" info --json "$O/align.tc"
    cp "$T/stdout" "$O/align.json"
    py json-check "$O/align.json" align
    if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "info --json check failed"; fi
fi

# info --json escapes names; --meta-json members merge into (and override) the metadata
name="info --json: escaped names, --meta-json, --class-names"
printf '{"user": {"k": [1, 2, "three"]}, "classes": ["from-json"]}\n' >"$T/meta.json"
run "$TC" pack -q --meta-json "$T/meta.json" --class-names 'a,b' "$O/weird.tc" "we\"ird\\nameé=$G/n10.npy"
if [ "$RC" -ne 0 ]; then bad "$name" "pack exit $RC"
else
    run "$TC" info --json "$O/weird.tc"
    cp "$T/stdout" "$O/weird.json"
    py json-check "$O/weird.json" weird
    if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "info --json check failed"; fi
fi
expect_pack_fail "--meta-json not JSON" 1 METADATA --meta-json "$G/n10.npy" "x=$G/n10.npy"

# variable-shape field: export refuses it
name="export of a variable-shape field"
san=""
if nm "$BUILD/libtensorcache.a" 2>/dev/null | grep -q __asan_init; then san="-fsanitize=address,undefined"; fi
if cc -std=c11 $san -I"$ROOT/include" -o "$T/mkvar" "$HERE/mkvar.c" "$BUILD/libtensorcache.a" \
    -llz4 -lxxhash -lz 2>"$T/stderr" && "$T/mkvar" "$O/var.tc" 2>"$T/stderr"; then
    run "$TC" export "$O/var.tc" tokens -o "$O/var.npy"
    if check_err "$name" 1 WRONG_KIND; then
        if [ -e "$O/var.npy" ] || ! no_leftovers "$O"; then bad "$name" "output or temporary left"
        else ok "$name"; fi
    fi
    roundtrip_out=$O/var_id.npy
    expect_ok "export of the fixed field next to it" "$TC" export "$O/var.tc" id -o "$roundtrip_out"
else
    bad "$name" "cannot build or run the mkvar helper"
fi
expect_err "export of a missing field" 1 NOT_FOUND "$TC" export "$O/multi.tc" nosuch -o "$O/nosuch.npy"
expect_err "export into a missing directory" 1 IO "$TC" export "$O/multi.tc" a -o "$T/no/such/dir/a.npy"
if no_leftovers "$O" && [ ! -e "$O/nosuch.npy" ]; then ok "no export leftovers"; else bad "no export leftovers" "$(ls -A "$O" | grep tmp)"; fi

# ---- bad inputs: exit 1, the error name, no output, no temporary -----------------------------
expect_pack_fail "empty source" 1 SOURCE_FORMAT "x=$G/empty.bin"
expect_pack_fail "npy bad magic" 1 SOURCE_FORMAT "x=$G/badmagic.npy"
expect_pack_fail "npy bad header dict" 1 SOURCE_FORMAT "x=$G/baddict.npy"
expect_pack_fail "npy shape (12) is not a tuple" 1 SOURCE_FORMAT "x=$G/badtuple.npy"
expect_pack_fail "npy truncated data" 1 SOURCE_FORMAT "x=$G/trunc.npy"
if grep -q "truncated: expected 48 bytes of data, found 40" "$T/stderr"; then ok "npy truncated message"
else bad "npy truncated message" "$(cat "$T/stderr")"; fi
expect_pack_fail "npy trailing bytes" 1 SOURCE_FORMAT "x=$G/trailing.npy"
expect_pack_fail "npy unsupported dtype complex64" 1 SOURCE_UNSUPPORTED "x=$G/complex.npy"
expect_pack_fail "npy unsupported dtype unicode" 1 SOURCE_UNSUPPORTED "x=$G/unicode.npy"
expect_pack_fail "npy unsupported dtype float128" 1 SOURCE_UNSUPPORTED "x=$G/f128.npy"
expect_pack_fail "npy unsupported structured dtype" 1 SOURCE_UNSUPPORTED "x=$G/struct.npy"
expect_pack_fail "npy unsupported version 9.0" 1 SOURCE_UNSUPPORTED "x=$G/version9.npy"
expect_pack_fail "npy 10-D (9 per sample)" 1 SOURCE_UNSUPPORTED "x=$G/rank9.npy"
expect_pack_fail "npy Fortran order inside gzip" 1 SOURCE_UNSUPPORTED "x=$G/fortran.npy.gz"
expect_pack_fail "npy: prefix on an IDX file" 1 SOURCE_FORMAT "x=npy:$G/idx_08-ubyte"
expect_pack_fail "idx bad magic" 1 SOURCE_FORMAT "x=$G/idx_badmagic-ubyte"
expect_pack_fail "idx size mismatch (short)" 1 SOURCE_FORMAT "x=$G/idx_short-ubyte"
expect_pack_fail "idx size mismatch (long)" 1 SOURCE_FORMAT "x=$G/idx_long-ubyte"
expect_pack_fail "gzip corrupt" 1 SOURCE_FORMAT "x=$G/corrupt.npy.gz"
expect_pack_fail "gzip truncated" 1 SOURCE_FORMAT "x=$G/truncgz.npy.gz"
expect_pack_fail "gzip without its trailer" 1 SOURCE_FORMAT "x=$G/truncgz_tail.npy.gz"
# A gzip file is whole members and nothing after them (gzread would ignore trailing bytes).
{ cat "$G/gz.npy.gz"; printf 'trailing garbage'; } >"$G/trailgz.npy.gz"
expect_pack_fail "gzip with trailing garbage" 1 SOURCE_FORMAT "x=$G/trailgz.npy.gz"
if grep -q "trailing data after the end of the gzip stream" "$T/stderr"; then
    ok "gzip with trailing garbage: says so"
else bad "gzip with trailing garbage: says so" "$(cat "$T/stderr")"; fi
{ cat "$G/gz.npy.gz"; printf '\0\0\0\0'; } >"$G/trailzero.npy.gz"
expect_pack_fail "gzip with trailing zero bytes" 1 SOURCE_FORMAT "x=$G/trailzero.npy.gz"
{ head -c 100 "$G/gz_ref.npy" | gzip -c; tail -c +101 "$G/gz_ref.npy" | gzip -c; } >"$G/members.npy.gz"
roundtrip gzip-two-members "$G/members.npy.gz" "$G/gz_ref.npy"
expect_pack_fail "raw size not a multiple" 1 SOURCE_FORMAT --dtype f32 --shape 3,4,2 "x=raw:$G/raw_bad.bin"
expect_pack_fail "unrecognised content" 1 SOURCE_UNSUPPORTED "x=$G/raw_bad.bin"
expect_pack_fail "missing source file" 1 IO "x=$G/does-not-exist.npy"
expect_pack_fail "files of one field disagree" 1 SAMPLE_MISMATCH "x=$G/cat_a.npy,$G/cat_c.npy"
expect_pack_fail "duplicate field names" 1 DUPLICATE_NAME "x=$G/n10.npy" "x=$G/n10.npy"
expect_pack_fail "mismatched N" 1 COUNT_MISMATCH "a=$G/n10.npy" "b=$G/n9.npy"
if grep -q "9 samples" "$T/stderr" && grep -q "10" "$T/stderr"; then ok "mismatched N names both counts"
else bad "mismatched N names both counts" "$(cat "$T/stderr")"; fi
expect_pack_fail "bool bytes other than 0/1" 1 SAMPLE_MISMATCH --dtype bool "x=raw:$G/n10.npy"

name="failed pack leaves an existing target unchanged"
printf 'previous contents\n' >"$B/exists.tc"
cp "$B/exists.tc" "$T/exists.orig"
run "$TC" pack --force "$B/exists.tc" "b=$G/corrupt.npy.gz" # fails while streaming
if check_err "$name" 1 SOURCE_FORMAT; then
    if cmp -s "$B/exists.tc" "$T/exists.orig" && no_leftovers "$B"; then ok "$name"
    else bad "$name" "target changed or temporary left"; fi
fi
rm -f "$B/exists.tc"

name="output directory missing"
run "$TC" pack "$T/no/such/dir/out.tc" "x=$G/n10.npy"
if check_err "$name" 1 IO; then
    if [ -e "$T/no" ]; then bad "$name" "something was created"; else ok "$name"; fi
fi

name="file-size limit (SIGXFSZ ignored, NO_SPACE)"
run bash -c 'ulimit -f 64 && exec "$0" pack "$1" "x=$2"' "$TC" "$B/out.tc" "$G/lz_tile.npy"
if check_err "$name" 1 NO_SPACE; then
    if [ -e "$B/out.tc" ] || ! no_leftovers "$B"; then bad "$name" "output or temporary left"
    else ok "$name"; fi
fi

name="output directory read-only"
ro=$T/ro
mkdir -p "$ro"
how=""
if mount -t tmpfs -o ro,size=64k tmpfs "$ro" 2>/dev/null; then
    MOUNTED=$ro
    how="read-only tmpfs"
    run "$TC" pack "$ro/out.tc" "x=$G/n10.npy"
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
    chmod 555 "$ro"
    chmod o+rx "$T" "$G"
    how="as nobody, directory mode 555"
    run setpriv --reuid=65534 --regid=65534 --clear-groups "$TC" pack "$ro/out.tc" "x=$G/n10.npy"
fi
if [ -z "$how" ]; then
    skip "$name" "neither mount nor setpriv works here"
elif check_err "$name ($how)" 1 IO; then
    if [ -e "$ro/out.tc" ] || [ -n "$(ls -A "$ro")" ]; then bad "$name ($how)" "something was created"
    else ok "$name ($how)"; fi
fi
if [ -n "$MOUNTED" ]; then umount "$MOUNTED" && MOUNTED=""; fi

# ---- verify and info on damaged caches --------------------------------------------------------
name="verify detects a flipped payload byte"
cp "$O/multi.tc" "$T/corrupt.tc"
run "$TC" info --json "$T/corrupt.tc"
cp "$T/stdout" "$T/corrupt.json"
py field-offset "$T/corrupt.json" a
off=$(cat "$T/stdout")
py flip "$T/corrupt.tc" $((off + 10))
expect_err "$name" 1 CHECKSUM "$TC" verify "$T/corrupt.tc"
expect_ok "info still opens it (no checksums on open)" "$TC" info "$T/corrupt.tc"
expect_err "verify --no-mmap detects it too" 1 CHECKSUM "$TC" verify --no-mmap "$T/corrupt.tc"
expect_err "info on a .npy file" 1 BAD_MAGIC "$TC" info "$G/n10.npy"
head -c 1000 "$O/multi.tc" >"$T/short.tc"
expect_err "info on a truncated cache" 1 TRUNCATED "$TC" info "$T/short.tc"
expect_err "verify on a missing file" 1 IO "$TC" verify "$T/nothing.tc"

# ---- the published file's mode follows the umask, like any file the user creates ------------
name="published cache mode honours the umask (077 -> 600)"
rm -f "$O/umask.tc"
(umask 077; "$TC" pack -q "$O/umask.tc" "x=$G/n10.npy") 2>"$T/stderr"
mode=$(stat -c %a "$O/umask.tc" 2>/dev/null)
if [ "$mode" = 600 ]; then ok "$name"; else bad "$name" "mode '$mode'"; fi

# ---- warm -----------------------------------------------------------------------------------
expect_err "warm: usage without FILE" 2 USAGE "$TC" warm
expect_err "warm: not a cache" 1 BAD_MAGIC "$TC" warm "$G/n10.npy"
name="warm: loads a cache and reports it fully resident"
run "$TC" warm "$O/multi.tc"
if [ "$RC" -eq 0 ] && grep -q "100.0% resident" "$T/stdout"; then ok "$name"
else bad "$name" "exit $RC: $(head -c 200 "$T/stdout")"; fi
name="warm --status reports residency without loading"
run "$TC" warm --status "$O/multi.tc"
if [ "$RC" -eq 0 ] && grep -q "% resident" "$T/stdout"; then ok "$name"
else bad "$name" "exit $RC: $(head -c 200 "$T/stdout")"; fi

# ---- tc-demo-check detects differences --------------------------------------------------------
name="tc-demo-check reports a differing sample"
cp "$G/n10.npy" "$T/n10_changed.npy"
py flip "$T/n10_changed.npy" $((128 + 4 * 3))
run "$TC" pack -q "$O/n10.tc" "x=$G/n10.npy"
run "$CHECK" "$O/n10.tc" "x=$T/n10_changed.npy"
if [ "$RC" -eq 1 ] && grep -q "field x: 9/10 samples identical" "$T/stdout"; then ok "$name"
else bad "$name" "exit $RC: $(head -c 200 "$T/stdout")"; fi

# ---- Fashion-MNIST end to end -----------------------------------------------------------------
if [ -f "$FMNIST/train-images-idx3-ubyte.gz" ]; then
    name="fashion-mnist train: pack"
    fm=$O/fmnist-train.tc
    run "$TC" pack "$fm" --class-names 'T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot' \
        "image=$FMNIST/train-images-idx3-ubyte.gz" "label=$FMNIST/train-labels-idx1-ubyte.gz"
    if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "exit $RC"; fi
    expect_ok "fashion-mnist train: verify" "$TC" verify "$fm"
    name="fashion-mnist train: info --json"
    run "$TC" info --json "$fm"
    cp "$T/stdout" "$O/fmnist.json"
    py json-check "$O/fmnist.json" fmnist
    if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "check failed"; fi
    name="fashion-mnist train: tc-demo-check equals the IDX payload"
    run "$CHECK" "$fm" "image=$FMNIST/train-images-idx3-ubyte.gz" "label=$FMNIST/train-labels-idx1-ubyte.gz"
    if [ "$RC" -eq 0 ] && grep -q "field image: 60000/60000 samples identical" "$T/stdout" &&
        grep -q "field label: 60000/60000 samples identical" "$T/stdout"; then ok "$name"
    else bad "$name" "exit $RC"; fi
    name="fashion-mnist train: export equals IDX reshaped (N,28,28,1)"
    if run "$TC" export "$fm" image -o "$O/fm_image.npy" && [ "$RC" -eq 0 ] &&
        run "$TC" export "$fm" label -o "$O/fm_label.npy" && [ "$RC" -eq 0 ]; then
        py fmnist "$O/fm_image.npy" "$O/fm_label.npy" "$FMNIST/train-images-idx3-ubyte.gz" \
            "$FMNIST/train-labels-idx1-ubyte.gz"
        if [ "$RC" -eq 0 ]; then ok "$name"; else bad "$name" "numpy comparison failed"; fi
    else
        bad "$name" "export exit $RC"
    fi
    rm -f "$O/fm_image.npy"
else
    skip "fashion-mnist" "$FMNIST not installed (make deps)"
fi

# Output safety (docs/CLI.md, "Output files"): the rules table, as this user and, when root,
# as 'nobody' in a directory of its own (tests/e2e/output_rules.sh).
output_rules() { # LABEL [PREFIX...]
    local label=$1 dir
    shift
    dir=$(mktemp -d /tmp/tc-output-rules.XXXXXX) || return
    [ $# -gt 0 ] && chown 65534:65534 "$dir"
    chmod 755 "$dir"
    local log
    log=$("$@" bash "$HERE/output_rules.sh" "$TC" "$dir" "$G/n10.npy" "$label" 2>&1)
    echo "$log" | grep -v ' passed, .* failed$'
    PASS=$((PASS + $(grep -c '^ok' <<<"$log")))
    FAIL=$((FAIL + $(grep -c '^FAIL' <<<"$log")))
    rm -rf "$dir"
}
output_rules "$(id -un)"
if [ "$(id -u)" = 0 ] && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
    output_rules nobody setpriv --reuid=65534 --regid=65534 --clear-groups
else
    skip "output rules (nobody)" "not root, or setpriv cannot change user"
fi

t_end=$(date +%s)
echo "e2e: (took $((t_end - t_start)) s)"
echo "e2e: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
