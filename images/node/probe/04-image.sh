#!/bin/sh
# Build a raw ext4 image from the chroot without any mount; copy kernel+initrd out.
set -e
ROOT=${1:-/tmp/farmprobe/root}
OUT=${2:-/tmp/farmprobe/out}
SIZE=${3:-2G}
mkdir -p "$OUT"
start=$(date +%s.%N)
rm -f "$OUT/node.raw"
truncate -s "$SIZE" "$OUT/node.raw"
mkfs.ext4 -q -F -L farmroot -E root_owner=0:0 -d "$ROOT" "$OUT/node.raw"
cp "$ROOT"/boot/vmlinuz-* "$OUT/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$OUT/initrd.img"
end=$(date +%s.%N)
echo "IMAGE_SECONDS $(echo "$end - $start" | bc)"
ls -la "$OUT"; du -h "$OUT/node.raw"
