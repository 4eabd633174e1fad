#!/bin/sh
# hv-img end to end: every command on images it makes, checked by their output and, when
# qemu-img is installed, by qemu-img.
set -eu
HV_IMG="${top_builddir:-.}/cli/hv-img"
T=$(mktemp -d "${TMPDIR:-/tmp}/hvkit-hv-img-XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { grep -q -- "$1" out || { cat out >&2; fail "expected '$1'"; }; }

"$HV_IMG" create -o type=dynamic,block_size=1M d.vhdx 64M
"$HV_IMG" info d.vhdx >out
expect "virtual size: 64 MiB (67108864 bytes)"
expect "vhd type: dynamic"
expect "cluster_size: 1048576"
"$HV_IMG" info --output json d.vhdx >out
expect '"virtual-size": 67108864'
expect '"vhd-type": "dynamic"'
if command -v python3 >/dev/null; then python3 -m json.tool out >/dev/null || fail "info json"; fi
"$HV_IMG" create d.vhdx 1M 2>out && fail "create over an existing file"
"$HV_IMG" create -o block_size=3M x.vhdx 1G 2>out && fail "block size 3M accepted"
expect "invalid parameters"
"$HV_IMG" create -o type=fixed,logical_sector_size=4096 f.vhdx 8M
"$HV_IMG" info f.vhdx >out
expect "logical sector size: 4096"
expect "blocks allocated: 4 of 4"

# raw -> vhdx -> raw, sparse
head -c 3145728 /dev/urandom >r.raw
truncate -s 32M r.raw
dd if=/dev/urandom of=r.raw bs=1M seek=20 count=2 conv=notrunc 2>/dev/null
"$HV_IMG" convert -O vhdx -o block_size=2M r.raw c.vhdx
"$HV_IMG" info c.vhdx >out
expect "blocks allocated: 3 of 16"
"$HV_IMG" convert c.vhdx back.raw
cmp r.raw back.raw || fail "raw -> vhdx -> raw differs"
"$HV_IMG" map c.vhdx >out
expect "^0x0 *0x400000 *0x400000 *c.vhdx"
"$HV_IMG" map --output json c.vhdx >out
expect '"start": 20971520, "length": 2097152, "depth": 0, "present": true'

# data runs across convert's 4 MiB chunks and across blocks, a hole at the end, a file
# without holes: the same bytes back, and the holes stay holes
truncate -s 16M runs.raw
dd if=/dev/urandom of=runs.raw bs=512K seek=7 count=3 conv=notrunc 2>/dev/null
dd if=/dev/urandom of=runs.raw bs=512K seek=23 count=2 conv=notrunc 2>/dev/null
"$HV_IMG" convert -O vhdx -o block_size=1M runs.raw runs.vhdx
"$HV_IMG" convert runs.vhdx runs2.raw
cmp runs.raw runs2.raw || fail "runs across chunks differ"
test "$(du -k runs2.raw | cut -f1)" -lt 8192 || fail "holes of runs.vhdx written out"
head -c 9437184 /dev/urandom >dense.raw
"$HV_IMG" convert -O vhdx -o block_size=2M dense.raw dense.vhdx
"$HV_IMG" convert dense.vhdx dense2.raw
cmp dense.raw dense2.raw || fail "a file without holes differs"

# onto tmpfs, where a second thread copies some runs through a mapping of the output: many
# runs (jobs for both threads), a tail that is not a whole page
S=""
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && S=$(mktemp -d /dev/shm/hvkit-hv-img-XXXXXX); then
	trap 'rm -rf "$T" "$S"' EXIT
	truncate -s 40M many.raw
	for i in 0 3 4 5 9 12 17 18 30 39; do
		dd if=/dev/urandom of=many.raw bs=1M seek=$i count=1 conv=notrunc 2>/dev/null
	done
	head -c 5120 /dev/urandom >>many.raw
	for m in always never ""; do
		rm -f "$S"/*
		HVKIT_MAPCOPY=$m "$HV_IMG" convert -O vhdx -o block_size=2M many.raw "$S/m.vhdx"
		HVKIT_MAPCOPY=$m "$HV_IMG" convert "$S/m.vhdx" "$S/m.raw"
		cmp many.raw "$S/m.raw" || fail "tmpfs ($m): raw -> vhdx -> raw differs"
		test "$(du -k "$S/m.raw" | cut -f1)" -le 10260 || fail "tmpfs ($m): holes written out"
		"$HV_IMG" info "$S/m.vhdx" >out
		expect "blocks allocated: 10 of 21"
		HVKIT_MAPCOPY=$m "$HV_IMG" convert runs.vhdx "$S/runs.raw"
		cmp runs.raw "$S/runs.raw" || fail "tmpfs ($m): runs differ"
	done
else
	echo "/dev/shm is not a tmpfs: the tmpfs part is skipped"
fi

# differencing, flatten, merge
"$HV_IMG" create -b c.vhdx child.avhdx
"$HV_IMG" info child.avhdx >out
expect "vhd type: differencing"
expect "parent locator: relative_path = .\\\\c.vhdx"
"$HV_IMG" convert child.avhdx flat.raw
cmp r.raw flat.raw || fail "child reads differently from its parent"
"$HV_IMG" convert -O vhdx child.avhdx flat.vhdx
"$HV_IMG" merge child.avhdx >out
test ! -e child.avhdx || fail "merged child left behind"
"$HV_IMG" merge c.vhdx 2>out && fail "merge of a disk without parent"
expect "not a differencing image"

# check, resize, compact
"$HV_IMG" check c.vhdx >out
expect "No errors were found"
"$HV_IMG" resize c.vhdx +1G >out
"$HV_IMG" info c.vhdx >out
expect "(1107296256 bytes)"
"$HV_IMG" resize c.vhdx 16M 2>out && fail "shrink over data"
expect "cannot shrink"
"$HV_IMG" resize c.vhdx 32M
"$HV_IMG" compact c.vhdx >out
expect "0 blocks released"
"$HV_IMG" convert c.vhdx back2.raw
cmp r.raw back2.raw || fail "resize changed the data"

# an output another program holds locked (a pool's golden image, say) is never overwritten:
# this shell holds it on fd 9, a file description of its own
cp r.raw held.raw
exec 9<held.raw
flock -s 9
"$HV_IMG" convert d.vhdx held.raw 2>out && fail "convert -O raw over a locked file"
expect "held.raw is in use by another program"
"$HV_IMG" convert -O vhdx d.vhdx held.raw 2>out && fail "convert -O vhdx over a locked file"
expect "held.raw is in use by another program"
cmp r.raw held.raw || fail "a locked output was changed"
exec 9<&-
"$HV_IMG" convert d.vhdx held.raw
test "$(stat -c %s held.raw)" -eq 67108864 || fail "an unlocked output not overwritten"

# damaged input: a clear message, exit 1, no crash
printf 'XXXX' | dd of=c.vhdx bs=1 seek=0 conv=notrunc 2>/dev/null
"$HV_IMG" info c.vhdx 2>out && fail "info of a damaged file"
expect "not a VHDX file"
"$HV_IMG" check c.vhdx >out 2>&1 && fail "check of a damaged file"
"$HV_IMG" bogus 2>out && fail "unknown command"
expect "unknown command"

if command -v qemu-img >/dev/null; then
	qemu-img check -q flat.vhdx || fail "qemu-img check flat.vhdx"
	qemu-img compare -q flat.vhdx r.raw || fail "qemu-img compare flat.vhdx"
	qemu-img check -q d.vhdx || fail "qemu-img check d.vhdx"
else
	echo "qemu-img not installed: interop part skipped"
fi
echo "hv-img: all commands behave"
