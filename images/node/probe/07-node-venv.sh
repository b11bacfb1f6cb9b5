#!/bin/sh
# Pre-build the node venv inside the node chroot (natively, i386) from host-downloaded wheels. Offline.
set -e
ROOT=${1:-/tmp/farmprobe/root}
rm -rf "$ROOT/opt/farm" "$ROOT/tmp/wh"; mkdir -p "$ROOT/tmp/wh"
cp /tmp/farmprobe/wheelhouse/*.whl /tmp/farmprobe/wheels/*.whl "$ROOT/tmp/wh/"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin linux32 chroot "$ROOT" python3 -m venv /opt/farm
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin linux32 chroot "$ROOT" /opt/farm/bin/pip install -q --no-index --find-links /tmp/wh hv pytest pytest-xdist
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin linux32 chroot "$ROOT" /opt/farm/bin/python -c 'import hv._native, xdist, execnet; print("venv ok")'
rm -rf "$ROOT/tmp/wh"
