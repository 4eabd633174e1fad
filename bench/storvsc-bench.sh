#!/bin/bash
# Synthetic SCSI through hvguest against libvhdx directly, on the same image, in one run:
# random 4 KiB read and write IOPS and sequential 64 KiB MB/s, medians of RUNS.
#
#   bench/storvsc-bench.sh [-n RUNS] [-s SECONDS] [-m MIB] [BUILDDIR]
#
# Guest: hv-boot attaches the image at SCSI 0:0 and hvguest.diskbench=SECONDS runs each
# of the four loads for SECONDS at queue depth 1 (hvcore/guest/storage.c). Direct:
# bench/vhdx-io does the same loads (same kind of offsets) through libvhdx in this process.
# The image is a dynamic VHDX, every block allocated (converted from random data), on tmpfs
# when /dev/shm is there.
#
# On hosts like these the guest runs in KVM's instruction emulator (DESIGN.md): every guest
# instruction costs about 0.5 us, a request is a few thousand of them (build the SRB, the
# GPA-direct packet, ring copies, an HvSignalEvent exit, the interrupt), so guest IOPS
# measure the emulator. The third column is the host's share alone: 1 / the mean latency
# the controller itself reports per request (from taking it off the ring to putting the
# completion in, libvhdx I/O included; hv-boot -r prints it), i.e. the IOPS the synthetic
# path would allow if the guest cost nothing (a mean over the four loads, so it is
# pessimistic for 4 KiB requests).
set -eu

runs=3 secs=2 mib=256
while getopts n:s:m: opt; do
	case $opt in
	n) runs=$OPTARG ;;
	s) secs=$OPTARG ;;
	m) mib=$OPTARG ;;
	*) echo "usage: $0 [-n RUNS] [-s SECONDS] [-m MIB] [BUILDDIR]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=${1:-${top_builddir:-.}}
hvboot=$build/tests/hvcore/hv-boot
guest=$build/hvcore/guest/hvguest
vio=$build/bench/vhdx-io
img=$build/cli/hv-img
for f in "$hvboot" "$guest" "$vio" "$img"; do
	[ -e "$f" ] || { echo "$0: $f not found: build first (make)" >&2; exit 2; }
done
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "$0: /dev/kvm cannot be opened" >&2; exit 77; }
D=$(mktemp -d /dev/shm/hvkit-storvsc-XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$D"' EXIT
head -c "${mib}M" /dev/urandom >"$D/full.raw"
"$img" convert -O vhdx "$D/full.raw" "$D/io.vhdx" >/dev/null
rm -f "$D/full.raw"

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -a g_rr g_rw g_sr g_sw h_lat d_rr d_rw d_sr d_sw
for ((i = 0; i < runs; i++)); do
	out=$("$hvboot" -r -m 128 -d "0:0:$D/io.vhdx" -a "hvguest.diskbench=$secs" "$guest" 2>&1) || true
	line=$(printf '%s\n' "$out" | grep 'hvguest: diskbench randread') ||
		{ echo "$0: no diskbench line:" >&2; echo "$out" >&2; exit 1; }
	read -r rr rw sr sw <<<"$(printf '%s\n' "$line" | sed 's/[a-z_]*=//g; s/hvguest: diskbench//')"
	g_rr+=("$rr") g_rw+=("$rw") g_sr+=("$sr") g_sw+=("$sw")
	h_lat+=("$(printf '%s\n' "$out" | sed -n 's/^disk 0:0 .*lat_mean_ns=\([0-9]*\).*/\1/p')")
	n=$((rr * secs + 200))
	d_rr+=("$("$vio" read "$D/io.vhdx" "$n" $((i + 1)))")
	d_rw+=("$("$vio" write "$D/io.vhdx" "$n" $((i + 1)))")
	d_sr+=("$("$vio" seqread "$D/io.vhdx" $((sr * secs / 64 + 100)) 0)")
	d_sw+=("$("$vio" seqwrite "$D/io.vhdx" $((sr * secs / 64 + 100)) 0)")
done
m() { printf '%s\n' "$@" | median; }
echo "synthetic SCSI (hvguest, queue depth 1) against libvhdx direct, ${mib} MiB dynamic VHDX,"
echo "median of $runs runs, ${secs} s per guest load (guest in KVM's instruction emulator)"
awk -v grr="$(m "${g_rr[@]}")" -v grw="$(m "${g_rw[@]}")" -v gsr="$(m "${g_sr[@]}")" \
	-v gsw="$(m "${g_sw[@]}")" -v lat="$(m "${h_lat[@]}")" -v drr="$(m "${d_rr[@]}")" \
	-v drw="$(m "${d_rw[@]}")" -v dsr="$(m "${d_sr[@]}")" -v dsw="$(m "${d_sw[@]}")" 'BEGIN {
	h = lat > 0 ? 1e9 / lat : 0
	printf "                       guest        direct    guest/direct\n"
	printf "  random 4 KiB read  %8.0f IOPS %8.0f IOPS  %6.1f %%\n", grr, drr, grr * 100 / drr
	printf "  random 4 KiB write %8.0f IOPS %8.0f IOPS  %6.1f %%\n", grw, drw, grw * 100 / drw
	printf "  sequential read    %8.1f MB/s %8.1f MB/s  %6.1f %%\n", gsr / 1024, dsr / 1024, gsr * 100 / dsr
	printf "  sequential write   %8.1f MB/s %8.1f MB/s  %6.1f %%\n", gsw / 1024, dsw / 1024, gsw * 100 / dsw
	printf "  host share: %.1f us per request (mean over all four loads, 64 KiB ones included),\n", lat / 1000
	printf "  i.e. %.0f requests/s, %.1f %% of direct random 4 KiB read IOPS (target: 70 %%)\n", h, h * 100 / drr
}'
