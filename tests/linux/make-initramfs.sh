#!/bin/sh
# Builds what a Linux partition test boots: Debian's cloud kernel and a busybox initramfs
# whose /init prints one line on the serial console and powers off.
#   tests/linux/make-initramfs.sh OUTDIR    ->  OUTDIR/vmlinuz, OUTDIR/initrd.gz
# Needs apt-get (Debian's archive) and dpkg-deb; fetches linux-image-cloud-amd64's kernel and
# busybox-static with `apt-get download` (no root needed, nothing installed).
set -eu
out=${1:?usage: make-initramfs.sh OUTDIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kernel_pkg" ] || { echo "make-initramfs: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
apt-get download -q "$kernel_pkg" busybox-static >/dev/null
dpkg-deb -x linux-image-*.deb kernel
dpkg-deb -x busybox-static_*.deb bb
cp kernel/boot/vmlinuz-* "$out/vmlinuz"

mkdir -p root/bin root/proc root/sys root/dev
cp bb/bin/busybox root/bin/busybox
for applet in sh mount cat echo poweroff sleep; do ln -s busybox "root/bin/$applet"; done
cat > root/init <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
cpus=$(grep -c ^processor /proc/cpuinfo)
mem=$(grep MemTotal /proc/meminfo)
echo "linux: init reached cpus=$cpus $mem"
poweroff -f
INIT
chmod +x root/init
(cd root && find . | ../bb/bin/busybox cpio -o -H newc 2>/dev/null) | gzip -9 > "$out/initrd.gz"
echo "make-initramfs: $out/vmlinuz ($kernel_pkg) and $out/initrd.gz"
