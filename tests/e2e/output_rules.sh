#!/bin/bash
# The output-safety rules of docs/CLI.md ("Output files") as a table, for every subcommand that
# writes a file. Run by tests/e2e/run.sh once as the calling user and, when that is root, once
# more as 'nobody' (setpriv) in a directory that user owns:
#
#   bash output_rules.sh TC WORKDIR INPUT.npy LABEL
#
# Each row: command, what is at OUTPUT beforehand, extra flags, expected exit status, expected
# error name ('-' for none), and what must hold afterwards. Prints `ok`/`FAIL` lines like
# run.sh (which counts them).
set -u
TC=$1
W=$2
INPUT=$3
LABEL=$4

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok    output rules ($LABEL): $1"; }
bad() {
    FAIL=$((FAIL + 1))
    echo "FAIL  output rules ($LABEL): $1: $2"
    sed -n '1,3s/^/        stderr| /p' "$W/stderr"
}

# The table.  cmd     setup        flags  rc  error        afterwards
RULES="
pack    absent       -      0   -            new
pack    regular      -      1   EXISTS       unchanged
pack    regular      -f     0   -            new
pack    symlink      -      1   EXISTS       unchanged
pack    symlink      -f     0   -            link_replaced
pack    dangling     -      1   EXISTS       unchanged
pack    dangling     -f     0   -            new
pack    input        -      1   SAME_FILE    unchanged
pack    input        -f     1   SAME_FILE    unchanged
pack    hardlink     -f     1   SAME_FILE    unchanged
pack    link_input   -f     1   SAME_FILE    unchanged
pack    directory    -f     1   NOT_REGULAR  unchanged
pack    socket       -f     1   NOT_REGULAR  unchanged
pack    fifo         -      0   -            streamed
pack    fifo         -f     0   -            streamed
pack    devnull      -      0   -            unchanged
pack    stdout       -      0   -            stdout
export  absent       -      0   -            new
export  regular      -      1   EXISTS       unchanged
export  regular      -f     0   -            new
export  symlink      -      1   EXISTS       unchanged
export  symlink      -f     0   -            link_replaced
export  input        -f     1   SAME_FILE    unchanged
export  hardlink     -f     1   SAME_FILE    unchanged
export  link_input   -f     1   SAME_FILE    unchanged
export  directory    -f     1   NOT_REGULAR  unchanged
export  socket       -      1   NOT_REGULAR  unchanged
export  fifo         -      0   -            streamed
export  devnull      -f     0   -            unchanged
export  stdout       -      0   -            stdout
export  dev_stdout   -      0   -            stdout
pack    dev_stdout   -      0   -            stdout
"

# References: what a correct pack / export writes.
mkdir -p "$W/ref" || exit 1
cp "$INPUT" "$W/ref/in.npy"
(cd "$W/ref" && "$TC" pack -q pack.out x=in.npy && "$TC" export pack.out x -o export.out) \
    >/dev/null 2>&1 || { echo "FAIL  output rules ($LABEL): cannot make references"; exit 1; }

# What is at PATH: type, link target, content digest (through a link too).
fingerprint() {
    if [ -L "$1" ]; then printf 'link %s ' "$(readlink "$1")"; fi
    stat -L -c '%F %i' "$1" 2>/dev/null || echo absent
    if [ -f "$1" ]; then md5sum <"$1"; fi
}

# setup KIND CASEDIR: prepares OUTPUT (printed) next to the case's inputs.
setup() {
    local d=$2
    case $1 in
    absent) echo "$d/out" ;;
    regular) printf 'precious\n' >"$d/out"; echo "$d/out" ;;
    symlink) printf 'precious\n' >"$d/target"; ln -s target "$d/out"; echo "$d/out" ;;
    dangling) ln -s missing "$d/out"; echo "$d/out" ;;
    input) echo "$d/$SRC" ;;
    hardlink) ln "$d/$SRC" "$d/out"; echo "$d/out" ;;
    link_input) ln -s "$SRC" "$d/out"; echo "$d/out" ;;
    directory) mkdir "$d/out"; echo "$d/out" ;;
    socket) perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Local => $ARGV[0], Listen => 1)' \
                "$d/out"
            echo "$d/out" ;;
    fifo) mkfifo "$d/out"; echo "$d/out" ;;
    devnull) echo /dev/null ;;
    stdout) echo - ;;
    dev_stdout) echo /dev/stdout ;;
    esac
}

# run_cmd CMD OUT FLAGS: the subcommand under test; stdout to $W/stdout, through a pipe for
# /dev/stdout (so that it resolves to a FIFO).
run_cmd() {
    local f=() out=$2
    [ "$3" != - ] && f=("$3")
    if [ "$1" = pack ]; then set -- pack -q "${f[@]}" "$out" "x=$IN"
    else set -- export "${f[@]}" "$CACHE" x -o "$out"; fi
    if [ "$out" = /dev/stdout ]; then
        "$TC" "$@" 2>"$W/stderr" | cat >"$W/stdout"
        RC=${PIPESTATUS[0]}
    else
        "$TC" "$@" >"$W/stdout" 2>"$W/stderr"
        RC=$?
    fi
}

n=0
while read -r cmd kind flags rc code after; do
    [ -z "$cmd" ] && continue
    n=$((n + 1))
    name="$cmd $flags onto $kind -> ${code/-/ok}"
    d="$W/case$n"
    mkdir "$d"
    cp "$W/ref/in.npy" "$d/in.npy"
    if [ "$cmd" = pack ]; then SRC=in.npy; else cp "$W/ref/pack.out" "$d/src.tc"; SRC=src.tc; fi
    IN=$d/in.npy
    CACHE=$d/src.tc
    out=$(setup "$kind" "$d")
    before=$(fingerprint "$out")
    inputs_before=$(fingerprint "$d/$SRC")
    target_before=$(fingerprint "$d/target")
    reader=""
    if [ "$kind" = fifo ]; then
        timeout 60 cat "$out" >"$W/streamed" &
        reader=$!
    fi
    run_cmd "$cmd" "$out" "$flags"
    if [ -n "$reader" ]; then
        [ "$RC" = 0 ] || kill "$reader" 2>/dev/null
        wait "$reader"
    fi
    want=$W/ref/$cmd.out
    why=""
    [ "$RC" = "$rc" ] || why="exit status $RC, expected $rc"
    if [ -z "$why" ] && [ "$code" != - ] && ! grep -q "^tensorcache: error: $code: " "$W/stderr"; then
        why="no '$code' error"
    fi
    if [ -z "$why" ] && [ "$(fingerprint "$d/$SRC")" != "$inputs_before" ]; then
        why="the input changed"
    fi
    if [ -z "$why" ]; then
        case $after in
        unchanged) [ "$(fingerprint "$out")" = "$before" ] || why="OUTPUT changed" ;;
        new) { [ -f "$out" ] && [ ! -L "$out" ] && cmp -s "$out" "$want"; } || why="OUTPUT is not the expected file" ;;
        link_replaced)
            { [ -f "$out" ] && [ ! -L "$out" ] && cmp -s "$out" "$want"; } || why="the link was not replaced by the output"
            [ "$(fingerprint "$d/target")" = "$target_before" ] || why="the link's target changed" ;;
        streamed)
            [ "$(fingerprint "$out")" = "$before" ] || why="the FIFO was replaced"
            cmp -s "$W/streamed" "$want" || why="the FIFO did not receive the output" ;;
        stdout) cmp -s "$W/stdout" "$want" || why="standard output is not the output" ;;
        esac
    fi
    if [ -z "$why" ] && ls -A "$d" | grep -q tctmp; then why="a temporary was left behind"; fi
    if [ -z "$why" ]; then ok "$name"; else bad "$name" "$why"; fi
done <<<"$RULES"
echo "output rules ($LABEL): $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
