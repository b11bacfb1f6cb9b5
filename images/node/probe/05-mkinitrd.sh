#!/bin/sh
# Tiny initramfs: static busybox + the 14 modules needed for virtio disk, ext4 and virtio-net. No udev.
set -e
ROOT=${1:-/tmp/farmprobe/root}
OUT=${2:-/tmp/farmprobe/out}
KVER=$(ls "$ROOT/usr/lib/modules" | head -1)
W=$ROOT/tmp/initrd-work; rm -rf "$W"
mkdir -p "$W/bin" "$W/dev" "$W/proc" "$W/sys" "$W/newroot" "$W/lib/modules"
cp "$ROOT/bin/busybox" "$W/bin/busybox"
for a in sh mount umount insmod switch_root mkdir sleep cat echo; do ln -s busybox "$W/bin/$a"; done
n=0
for m in virtio_pci virtio_blk ext4 virtio_net; do
  chroot "$ROOT" modprobe -S "$KVER" --show-depends $m | awk '$1=="insmod"{print $2}'
done | awk '!seen[$0]++' | while read -r path; do
  n=$((n+1)); f=$(printf '%02d-%s' $n "$(basename "$path")")
  cp "$ROOT$path" "$W/lib/modules/$f"
done
cat > "$W/init" <<'I'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /lib/modules/*.ko; do insmod "$m" 2>/dev/null; done
root=/dev/vda
for a in $(cat /proc/cmdline); do case "$a" in root=*) root=${a#root=};; esac; done
i=0; while [ ! -b "$root" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
mount -t ext4 -o rw,noatime "$root" /newroot || { echo "initrd: cannot mount $root"; exec sh; }
umount /proc /sys; mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /sbin/farm-init
I
chmod 755 "$W/init"
# the host has no cpio; the chroot has it (initramfs-tools depends on it)
chroot "$ROOT" sh -c 'cd /tmp/initrd-work && find . | cpio -o -H newc --quiet' | gzip -1 > "$OUT/initrd-tiny.img"
rm -rf "$W"  # keep the chroot clean
ls -la "$OUT/initrd-tiny.img"
