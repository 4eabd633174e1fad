#!/bin/bash
# Synthetic SCSI from a guest against libvhdx directly, on the same image, in one run:
# random 4 KiB read and write IOPS (queue depth 1 and 8) and sequential 64 KiB MB/s, medians
# of RUNS, with the guest/direct ratio (target: 70 %).
#
#   bench/storvsc-bench.sh [-n RUNS] [-s SECONDS] [-m MIB] [-d DIR] [BUILDDIR]
#
# Guest: hv-boot attaches the image at SCSI 0:0 and hvguest.udiskbench=SECONDS runs each load
# for SECONDS (hvcore/guest/storage.c) in a real KVM partition: hvguest's storage client in
# user mode, which runs natively even on the nested kvm_pvm hosts whose KVM emulates guest
# kernel code (DESIGN.md), polling its completions as a polled-mode driver does, against
# the controller with its ring polling on (vsp-storvsc.c). hvguest.diskbench, the same loads
# in kernel mode with interrupts, would time the instruction emulator on such hosts.
# Direct: bench/vhdx-io does the same loads (same kind of offsets) through libvhdx in one
# thread, one request at a time (a deeper queue gains nothing there: page-cache copies are
# synchronous). The guest side uses two threads: the vCPU and the controller's I/O thread.
# The image is a dynamic VHDX, every block allocated (converted from random data), on tmpfs
# when /dev/shm is there; -d DIR puts it elsewhere (a disk file system whose page cache
# holds it).
#
# Host path: tests/hvcore/storvsc-hostbench drives the real controller from a simulated guest
# without KVM, signalled (each request served by the thread that signals) and polled.
set -eu

runs=3 secs=2 mib=256 dir=
while getopts n:s:m:d: opt; do
	case $opt in
	n) runs=$OPTARG ;;
	s) secs=$OPTARG ;;
	m) mib=$OPTARG ;;
	d) dir=$OPTARG ;;
	*) echo "usage: $0 [-n RUNS] [-s SECONDS] [-m MIB] [-d DIR] [BUILDDIR]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=${1:-${top_builddir:-.}}
hvboot=$build/tests/hvcore/hv-boot
guest=$build/hvcore/guest/hvguest
vio=$build/bench/vhdx-io
img=$build/cli/hv-img
hostbench=$build/tests/hvcore/storvsc-hostbench
for f in "$hvboot" "$guest" "$vio" "$img" "$hostbench"; do
	[ -e "$f" ] || { echo "$0: $f not found: build first (make)" >&2; exit 2; }
done
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "$0: /dev/kvm cannot be opened" >&2; exit 77; }
if [ -n "$dir" ]; then
	D=$(mktemp -d "$dir/hvkit-storvsc-XXXXXX")
else
	D=$(mktemp -d /dev/shm/hvkit-storvsc-XXXXXX 2>/dev/null || mktemp -d)
fi
trap 'rm -rf "$D"' EXIT
head -c "${mib}M" /dev/urandom >"$D/full.raw"
"$img" convert -O vhdx "$D/full.raw" "$D/io.vhdx" >/dev/null
rm -f "$D/full.raw"

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m() { printf '%s\n' "$@" | median; }

# columns of the udiskbench line, in its order
keys=(randread_iops randwrite_iops seqread_kib_s seqwrite_kib_s qd8_randread_iops qd8_randwrite_iops)
declare -a g0 g1 g2 g3 g4 g5 d_rr d_rw d_sr d_sw sig
for ((i = 0; i < runs; i++)); do
	out=$("$hvboot" -r -m 128 -d "0:0:$D/io.vhdx" -a "hvguest.udiskbench=$secs" "$guest" 2>&1) || true
	line=$(printf '%s\n' "$out" | grep 'hvguest: udiskbench randread') ||
		{ echo "$0: no udiskbench line:" >&2; echo "$out" >&2; exit 1; }
	for k in 0 1 2 3 4 5; do
		v=$(printf '%s\n' "$line" | sed -n "s/.* ${keys[$k]}=\([0-9]*\).*/\1/p")
		eval "g$k+=(\"$v\")"
	done
	# VM exits per request: hv-boot's exit count against the disk's requests
	sig+=("$(printf '%s\n' "$out" | awk '
		/^hv-boot: vcpu [0-9]+: exits/ { e += $5 }
		/^disk 0:0 / { for (i = 1; i <= NF; i++) if ($i ~ /^(reads|writes)=/) { split($i, a, "="); n += a[2] } }
		END { printf "%.4f\n", n ? e / n : 0 }')")
	rr=${g0[-1]} sr=${g2[-1]}
	d_rr+=("$("$vio" read "$D/io.vhdx" $((rr * secs + 200)) $((i + 1)))")
	d_rw+=("$("$vio" write "$D/io.vhdx" $((rr * secs + 200)) $((i + 1)))")
	d_sr+=("$("$vio" seqread "$D/io.vhdx" $((sr * secs / 64 + 100)) 0)")
	d_sw+=("$("$vio" seqwrite "$D/io.vhdx" $((sr * secs / 64 + 100)) 0)")
done
hb=$("$hostbench" -n "$runs" -c 20000 -i "$D/io.vhdx" | tail -n 1)
for kv in $hb; do
	case $kv in
	host_read=*) h_rr=${kv#*=} ;;
	host_write=*) h_rw=${kv#*=} ;;
	poll_read=*) p_rr=${kv#*=} ;;
	poll_write=*) p_rw=${kv#*=} ;;
	direct_read=*) hd_rr=${kv#*=} ;;
	direct_write=*) hd_rw=${kv#*=} ;;
	esac
done
echo "synthetic SCSI (hvguest in user mode, polling; a real KVM partition) against libvhdx"
echo "direct (one thread), ${mib} MiB dynamic VHDX in ${D%/*}, median of $runs runs, ${secs} s per load"
awk -v rr="$(m "${g0[@]}")" -v rw="$(m "${g1[@]}")" -v sr="$(m "${g2[@]}")" -v sw="$(m "${g3[@]}")" \
	-v qr="$(m "${g4[@]}")" -v qw="$(m "${g5[@]}")" -v drr="$(m "${d_rr[@]}")" \
	-v drw="$(m "${d_rw[@]}")" -v dsr="$(m "${d_sr[@]}")" -v dsw="$(m "${d_sw[@]}")" \
	-v sig="$(m "${sig[@]}")" -v hrr="$h_rr" -v hrw="$h_rw" -v prr="$p_rr" -v prw="$p_rw" \
	-v hdrr="$hd_rr" -v hdrw="$hd_rw" 'BEGIN {
	printf "                                  guest          direct   guest/direct\n"
	printf "  random 4 KiB read,  QD 1  %8.0f IOPS  %8.0f IOPS   %6.1f %%\n", rr, drr, rr * 100 / drr
	printf "  random 4 KiB write, QD 1  %8.0f IOPS  %8.0f IOPS   %6.1f %%\n", rw, drw, rw * 100 / drw
	printf "  random 4 KiB read,  QD 8  %8.0f IOPS  %8.0f IOPS   %6.1f %%\n", qr, drr, qr * 100 / drr
	printf "  random 4 KiB write, QD 8  %8.0f IOPS  %8.0f IOPS   %6.1f %%\n", qw, drw, qw * 100 / drw
	printf "  sequential 64 KiB read    %8.1f MB/s  %8.1f MB/s   %6.1f %%\n", sr / 1024, dsr / 1024, sr * 100 / dsr
	printf "  sequential 64 KiB write   %8.1f MB/s  %8.1f MB/s   %6.1f %%\n", sw / 1024, dsw / 1024, sw * 100 / dsw
	printf "  VM exits per request: %.4f (ring polling: the guest does not signal while the host polls)\n", sig
	printf "  host path without KVM (storvsc-hostbench, simulated guest, QD 1): signalled %.1f %% /\n", hrr * 100 / hdrr
	printf "  %.1f %% of its direct read / write IOPS, polled %.1f %% / %.1f %%\n", hrw * 100 / hdrw, prr * 100 / hdrr, prw * 100 / hdrw
}'
