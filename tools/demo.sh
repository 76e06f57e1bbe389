#!/bin/sh
# tools/demo.sh - what `make demo-c` runs: packs Fashion-MNIST (gzipped IDX) into two caches,
# describes and verifies them, then reads every sample back through libtensorcache and compares
# it byte for byte with the IDX payload.
#
#   BUILD=/abs/build FMNIST=/usr/share/datasets/fashion-mnist sh tools/demo.sh
set -eu

BUILD=${BUILD:-build}
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
TC=$BUILD/tensorcache
CHECK=$BUILD/tc-demo-check
OUT=$BUILD/demo
CLASSES='T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot'

die() {
    echo "demo: FAILED: $*" >&2
    exit 1
}

step() {
    printf '\n== %s\n' "$*"
}

for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
         t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    [ -f "$FMNIST/$f" ] || die "$FMNIST/$f is missing (Debian package dataset-fashion-mnist; make deps)"
done
[ -x "$TC" ] && [ -x "$CHECK" ] || die "$TC or $CHECK is missing (make all)"
mkdir -p "$OUT"

for split in train test; do
    prefix=$split
    [ "$split" = test ] && prefix=t10k
    cache=$OUT/fashion-mnist-$split.tc
    images=$FMNIST/$prefix-images-idx3-ubyte.gz
    labels=$FMNIST/$prefix-labels-idx1-ubyte.gz

    step "pack Fashion-MNIST $split -> $cache"
    echo "\$ tensorcache pack --class-names '...' $cache image=$(basename "$images") label=$(basename "$labels")"
    "$TC" pack --class-names "$CLASSES" "$cache" "image=$images" "label=$labels" ||
        die "pack $split"

    step "info $cache"
    "$TC" info "$cache" || die "info $split"

    step "verify $cache (structure, every checksum, padding)"
    "$TC" verify "$cache" || die "verify $split"

    step "read back every sample and compare with the IDX payload"
    "$CHECK" "$cache" "image=$images" "label=$labels" || die "tc-demo-check $split"
done

printf '\ndemo: OK - both caches verified, every sample identical to its IDX source\n'
