#!/bin/sh
# Builds what a Linux partition test boots: Debian's cloud kernel and a busybox initramfs
# whose /init loads Linux's own VMBus drivers (hv_vmbus, hv_utils), prints what it found on
# the serial console, and waits for the host to shut it down through the shutdown service
# (or powers off after a minute).
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

mkdir -p root/bin root/sbin root/proc root/sys root/dev root/lib
cp bb/bin/busybox root/bin/busybox
for applet in sh mount cat echo poweroff sleep insmod ls wc grep; do ln -s busybox "root/bin/$applet"; done
ln -s ../bin/busybox root/sbin/poweroff # what hv_utils' orderly shutdown runs
# Linux's VMBus drivers, as the cloud kernel ships them (compressed or not).
for m in hv_vmbus hv_utils; do
	f=$(find kernel/lib/modules -name "$m.ko*" | head -n 1)
	[ -n "$f" ] || { echo "make-initramfs: $m is not in $kernel_pkg" >&2; exit 1; }
	case $f in
	*.xz) xz -dc "$f" > "root/lib/$m.ko" ;;
	*.zst) zstd -dqc "$f" > "root/lib/$m.ko" ;;
	*) cp "$f" "root/lib/$m.ko" ;;
	esac
done
cat > root/init <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
cpus=$(grep -c ^processor /proc/cpuinfo)
mem=$(grep MemTotal /proc/meminfo)
echo "linux: init reached cpus=$cpus $mem"
insmod /lib/hv_vmbus.ko && insmod /lib/hv_utils.ko
sleep 2
echo "linux: vmbus devices=$(ls /sys/bus/vmbus/devices 2>/dev/null | wc -l)"
sleep 60
poweroff -f
INIT
chmod +x root/init
(cd root && find . | ../bb/bin/busybox cpio -o -H newc 2>/dev/null) | gzip -9 > "$out/initrd.gz"
echo "make-initramfs: $out/vmlinuz ($kernel_pkg) and $out/initrd.gz"
