#!/bin/sh
# nospace.sh - out of space: a write that hits a file-size limit (RLIMIT_FSIZE) or a full file
# system (ENOSPC) fails with TC_ERR_NO_SPACE and a clear message, leaves the target
# byte-identical and leaves no temporary file behind.
#
#   sh tests/crash/nospace.sh CWRITER SHIM.so WORKDIR
#
# Each case runs twice: with O_TMPFILE, and with the named-temporary fallback (the shim's
# TC_NO_TMPFILE=1). Two sizes fail at two different stages: the "big" cache (variant 2, ~2.7 MB)
# while samples are appended (a spill file outgrows the limit), the "medium" one (variant 3,
# ~330 KB; its largest spill file is ~270 KB) in tc_writer_finish, when the spilled regions are
# copied into the output; "no-target" writes the medium cache where no target exists (none may
# appear).
#   RLIMIT_FSIZE: `ulimit -f` in a subshell with SIGXFSZ ignored (`trap '' XFSZ`), so the
#                 writer gets EFBIG instead of being killed; 512-byte blocks (POSIX sh).
#   ENOSPC:       a 512 KiB tmpfs mounted on a scratch directory (needs root; otherwise the
#                 case is skipped with the reason printed).
# Ends with "nospace: N passed, M failed".
set -u
CW=$1
SHIM=$2
WORK=$3
pass=0
fail=0
skip=0

ok() { pass=$((pass + 1)); echo "  ok: $*"; }
bad() { fail=$((fail + 1)); echo "  FAIL: $*"; }

# check DIR OLD RC ERRFILE STAGE WHAT: exit status 28, the message names NO_SPACE at STAGE,
# the target is unchanged, nothing else is in DIR.
check() {
    dir=$1 old=$2 rc=$3 err=$4 stage=$5 what=$6
    msg=$(sed -n 's/^cwriter: //p' "$err" | head -n 1)
    if [ "$rc" != 28 ]; then
        bad "$what: writer exit status $rc, expected 28 (TC_ERR_NO_SPACE): $msg"
    elif ! printf '%s\n' "$msg" | grep -q "^$stage: NO_SPACE: "; then
        bad "$what: expected '$stage: NO_SPACE: ...', got: $msg"
    elif [ "$old" = none ] && [ -e "$dir/data.tc" ]; then
        bad "$what: a target appeared"
    elif [ "$old" != none ] && ! cmp -s "$dir/data.tc" "$old"; then
        bad "$what: the target was modified"
    elif [ -n "$(ls -A "$dir" | grep -v '^data\.tc$')" ]; then
        bad "$what: left behind: $(ls -A "$dir" | grep -v '^data\.tc$' | tr '\n' ' ')"
    else
        ok "$what: $msg"
    fi
}

mkdir -p "$WORK"
base=$(mktemp -d "$WORK/nospace.XXXXXX") || exit 2
trap 'for m in "$base"/enospc-*; do umount "$m" 2>/dev/null; done; rm -rf "$base"' EXIT
"$CW" "$base/old.tc" 0 || { echo "nospace: cannot write the old cache"; exit 2; }

for mode in O_TMPFILE named; do
    if [ $mode = named ]; then pre="env LD_PRELOAD=$SHIM TC_NO_TMPFILE=1"; else pre=""; fi
    for size in big medium no-target; do
        if [ $size = big ]; then variant=2 stage=append old=$base/old.tc; fi
        if [ $size = medium ]; then variant=3 stage=finish old=$base/old.tc; fi
        if [ $size = no-target ]; then variant=3 stage=finish old=none; fi

        # RLIMIT_FSIZE: 600 blocks of 512 bytes = 300 KiB, between the medium cache's largest
        # spill file and its final size.
        d=$base/fsize-$mode-$size
        mkdir "$d" && if [ "$old" != none ]; then cp "$old" "$d/data.tc"; fi
        (trap '' XFSZ; ulimit -f 600 && exec $pre "$CW" "$d/data.tc" $variant) 2>"$base/err"
        check "$d" "$old" $? "$base/err" $stage "RLIMIT_FSIZE, $mode, $size"

        # ENOSPC on a 512 KiB tmpfs.
        d=$base/enospc-$mode-$size
        mkdir "$d"
        if mount -t tmpfs -o size=512k tmpfs "$d" 2>"$base/merr"; then
            if [ "$old" != none ]; then cp "$old" "$d/data.tc"; fi
            $pre "$CW" "$d/data.tc" $variant 2>"$base/err"
            check "$d" "$old" $? "$base/err" $stage "ENOSPC (512 KiB tmpfs), $mode, $size"
            umount "$d"
        else
            skip=$((skip + 1))
            echo "  skipped: ENOSPC, $mode, $size: cannot mount a tmpfs here: $(cat "$base/merr")"
        fi
    done
done

echo "nospace: $pass passed, $fail failed$([ $skip -gt 0 ] && echo ", $skip skipped")"
[ $fail -eq 0 ]
