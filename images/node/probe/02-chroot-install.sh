#!/bin/sh
# Install kernel, sshd, python, init into the i386 chroot. No mounts needed.
set -e
ROOT=${1:-/tmp/farmprobe/root}
start=$(date +%s.%N)
# never start daemons inside the chroot
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod +x "$ROOT/usr/sbin/policy-rc.d"
chroot "$ROOT" apt-get update -q
DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get install -y -q --no-install-recommends \
  linux-image-686 openssh-server python3 python3-venv systemd-sysv udev iproute2 kmod
chroot "$ROOT" apt-get clean
rm -f "$ROOT/usr/sbin/policy-rc.d"
end=$(date +%s.%N)
echo "CHROOT_INSTALL_SECONDS $(echo "$end - $start" | bc)"
du -sh "$ROOT"
