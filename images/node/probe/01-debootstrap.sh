#!/bin/sh
set -e
ROOT=${1:-/tmp/farmprobe/root}
rm -rf "$ROOT"
start=$(date +%s.%N)
debootstrap --arch=i386 --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian
end=$(date +%s.%N)
echo "DEBOOTSTRAP_SECONDS $(echo "$end - $start" | bc)"
du -sh "$ROOT"
