#!/bin/sh
# Configure the chroot as a farm node: key, network, sshd, small initrd, fast init.
set -e
ROOT=${1:-/tmp/farmprobe/root}
KEYS=/tmp/farmprobe/keys
start=$(date +%s.%N)
mkdir -p "$KEYS"
[ -f "$KEYS/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C farm -f "$KEYS/id_ed25519"
install -d -m 700 "$ROOT/root/.ssh"
install -m 600 "$KEYS/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"
# per-farm host key (replace the ones made by the package), and a known_hosts line for the controller
rm -f "$ROOT"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C farm-node -f "$ROOT/etc/ssh/ssh_host_ed25519_key"
echo "[127.0.0.1]:* $(cut -d' ' -f1,2 "$ROOT/etc/ssh/ssh_host_ed25519_key.pub")" > "$KEYS/known_hosts"
cat > "$ROOT/etc/ssh/sshd_config.d/farm.conf" <<'C'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 100
MaxSessions 100
C
echo farmnode > "$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 farmnode\n' > "$ROOT/etc/hosts"
printf '/dev/vda / ext4 rw,noatime 0 0\n' > "$ROOT/etc/fstab"
printf 'nameserver 10.0.2.3\n' > "$ROOT/etc/resolv.conf"
# systemd-networkd: QEMU user-mode net always hands out 10.0.2.15; static avoids the DHCP round trip
mkdir -p "$ROOT/etc/systemd/network"
cat > "$ROOT/etc/systemd/network/10-qemu.network" <<'C'
[Match]
Name=en* eth*
[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
C
echo virtio_net > "$ROOT/etc/modules-load.d/farm.conf"
chroot "$ROOT" systemctl enable systemd-networkd.service
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
         systemd-networkd-wait-online.service getty@tty1.service ; do
  chroot "$ROOT" systemctl mask "$u" >/dev/null 2>&1 || true
done
# minimal alternative init (boot with init=/sbin/farm-init)
cat > "$ROOT/sbin/farm-init" <<'C'
#!/bin/sh
# PID 1 for a disposable farm node: mounts, network, sshd; nothing else.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run/sshd /tmp
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/sshd
mount -o remount,rw,noatime /
hostname farmnode
modprobe virtio_net
ip link set lo up
ip link set eth0 up 2>/dev/null || ip link set "$(ls /sys/class/net | grep -v lo | head -1)" up
dev=$(ls /sys/class/net | grep -v '^lo$' | head -1)
ip addr add 10.0.2.15/24 dev "$dev"
ip route add default via 10.0.2.2
/usr/sbin/sshd -E /run/sshd.log
echo "farm-init: sshd started" > /dev/console
# reap zombies forever; poweroff on SIGTERM/SIGUSR2
trap 'sync; echo o > /proc/sysrq-trigger' TERM USR2
while :; do wait; sleep 1; done
C
chmod 755 "$ROOT/sbin/farm-init"
# small initrd: only what is needed to mount /dev/vda
sed -i 's/^MODULES=.*/MODULES=list/' "$ROOT/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n' > "$ROOT/etc/initramfs-tools/modules"
chroot "$ROOT" update-initramfs -u -k all
end=$(date +%s.%N)
echo "CONFIGURE_SECONDS $(echo "$end - $start" | bc)"
ls -la "$ROOT/boot"
