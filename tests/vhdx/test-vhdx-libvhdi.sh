#!/bin/sh
# Images hvkit writes read the same through libvhdi (vhdiinfo, vhdimount): fixed, dynamic,
# 4096-byte logical sectors, and a differencing chain flattened by hvkit.  Skips without
# libvhdi-utils or FUSE.
#
# Differencing disks themselves are only checked with vhdiinfo: libvhdi 20210425 (Debian 12)
# reads sectors that a child's sector bitmap marks present from the parent, for Hyper-V's own
# checkpoint disk in ../shared/testdata as much as for ours, so vhdimount of a chain is not a
# reference.
set -eu
HV_IMG="${top_builddir:-.}/cli/hv-img"
for p in vhdiinfo vhdimount; do
	command -v $p >/dev/null || { echo "skipped: $p is not installed (libvhdi-utils, fuse)"; exit 77; }
done
[ -c /dev/fuse ] || { echo "skipped: no /dev/fuse"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/hvkit-libvhdi-XXXXXX")
unmount() { fusermount -u "$1" 2>/dev/null || umount "$1" 2>/dev/null; }
cleanup() { unmount "$T/mnt" || true; rm -rf "$T"; }
trap cleanup EXIT
cd "$T"
mkdir mnt
fail() { echo "FAIL: $*" >&2; exit 1; }

head -c 5M /dev/urandom >r.raw
truncate -s 40M r.raw
dd if=/dev/urandom of=r.raw bs=64K seek=400 count=3 conv=notrunc status=none

check() { # image raw
	vhdiinfo "$1" >info || fail "vhdiinfo $1"
	vhdimount "$1" mnt >/dev/null || fail "vhdimount $1"
	cmp mnt/vhdi1 "$2" || { unmount mnt; fail "libvhdi reads $1 differently"; }
	unmount mnt || fail "cannot unmount the vhdimount of $1"
}

"$HV_IMG" convert -O vhdx -o type=fixed,block_size=8M r.raw fixed.vhdx
check fixed.vhdx r.raw
grep -q "Disk type.*Fixed" info || fail "vhdiinfo: not fixed"
"$HV_IMG" convert -O vhdx -o block_size=1M r.raw dyn.vhdx
check dyn.vhdx r.raw
"$HV_IMG" convert -O vhdx -o logical_sector_size=4096 r.raw d4k.vhdx
check d4k.vhdx r.raw
grep -q "Bytes per sector.*4096" info || fail "vhdiinfo: not 4096-byte sectors"

# a child: its own sectors over the parent's
"$HV_IMG" create -b dyn.vhdx child.avhdx
"${top_builddir:-.}/bench/vhdx-io" write child.avhdx 200 7 >/dev/null
vhdiinfo child.avhdx >info || fail "vhdiinfo child.avhdx"
grep -q "Disk type.*Differential" info || fail "vhdiinfo: not differencing"
grep -q "Parent identifier" info || fail "vhdiinfo: no parent identifier"
"$HV_IMG" convert -O raw child.avhdx child.raw
"$HV_IMG" convert -O vhdx child.avhdx flat.vhdx
check flat.vhdx child.raw
echo "libvhdi reads every image hvkit wrote byte for byte"
