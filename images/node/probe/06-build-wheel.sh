#!/bin/sh
# Build an i386 wheel of hv inside a separate builder chroot (copy of the node root + gcc/python3-dev).
set -e
ROOT=${1:-/tmp/farmprobe/root}
B=/tmp/farmprobe/build-root
SRC=/work/main
t0=$(date +%s.%N)
[ -d "$B" ] || cp -a "$ROOT" "$B"  # cache: delete build-root to redo
t1=$(date +%s.%N)
printf '#!/bin/sh\nexit 101\n' > "$B/usr/sbin/policy-rc.d"; chmod +x "$B/usr/sbin/policy-rc.d"
DEBIAN_FRONTEND=noninteractive chroot "$B" apt-get install -y -q --no-install-recommends gcc libc6-dev python3-dev python3-venv >/dev/null
t2=$(date +%s.%N)
mkdir -p "$B/tmp/src"
tar -C "$SRC" --exclude=.git --exclude=build --exclude='*.egg-info' --exclude=__pycache__ --exclude=.tox --exclude=.venv -cf - . | tar -C "$B/tmp/src" -xf -
chroot "$B" python3 -m venv /opt/buildvenv
# no network in the chroot for pip (PyPI goes through a TLS proxy whose CA is only on the host): host downloads, chroot installs offline
rm -rf "$B/tmp/wh"; cp -r /tmp/farmprobe/wheelhouse-build "$B/tmp/wh"
chroot "$B" /opt/buildvenv/bin/pip -q install --no-index --find-links /tmp/wh setuptools wheel
linux32 chroot "$B" sh -c 'cd /tmp/src && rm -rf build && CFLAGS=-Wno-error=type-limits /opt/buildvenv/bin/pip wheel --no-index --no-deps --no-build-isolation -w /tmp/wheels . 2>&1 | tail -3'
t3=$(date +%s.%N)
mkdir -p /tmp/farmprobe/wheels; cp "$B"/tmp/wheels/*.whl /tmp/farmprobe/wheels/
echo "COPY_ROOT $(echo "$t1-$t0"|bc) APT_GCC $(echo "$t2-$t1"|bc) WHEEL $(echo "$t3-$t2"|bc)"
ls -la /tmp/farmprobe/wheels
