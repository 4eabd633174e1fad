#!/bin/bash
# Synthetic SCSI through hvguest against libvhdx directly, on the same image, in one run:
# random 4 KiB read and write IOPS and sequential 64 KiB MB/s, medians of RUNS.
#
#   bench/storvsc-bench.sh [-n RUNS] [-s SECONDS] [-m MIB] [-d DIR] [BUILDDIR]
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
#
# Host path: tests/hvcore/storvsc-hostbench drives the real controller with a simulated
# guest (no KVM, no emulator) at queue depth 1, 4 KiB random reads and writes on the same
# image, against libvhdx direct in the same process, turn about (its own direct numbers give
# host/direct; the direct column is vhdx-io's). Whether requests can be done inline (the
# fast path) depends on the file system: tmpfs refuses RWF_NOWAIT, so on /dev/shm requests
# are inline only while the host has no swap (libvhdx's tmpfs rule), else every one goes
# through the I/O thread; -d DIR puts the image elsewhere (a disk file system whose page
# cache holds it).
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

declare -a g_rr g_rw g_sr g_sw h_lat d_rr d_rw d_sr d_sw inl
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
	inl+=("$(printf '%s\n' "$out" | sed -n 's/^disk 0:0 .*reads=\([0-9]*\) writes=\([0-9]*\).* inline=\([0-9]*\).*/\3 \1 \2/p' |
		awk '{ print $2 + $3 ? 100 * $1 / ($2 + $3) : 0 }')")
done
# The host path: its own medians over RUNS runs (each 20000 requests per load).
hb=$("$hostbench" -n "$runs" -c 20000 -i "$D/io.vhdx" | tail -n 1)
for kv in $hb; do
	case $kv in
	host_read=*) h_rr=${kv#*=} ;;
	direct_read=*) hd_rr=${kv#*=} ;;
	host_write=*) h_rw=${kv#*=} ;;
	direct_write=*) hd_rw=${kv#*=} ;;
	lat_ns=*) h_plat=${kv#*=} ;;
	inline=*) h_inl=${kv#*=} ;;
	esac
done
m() { printf '%s\n' "$@" | median; }
echo "synthetic SCSI (hvguest, queue depth 1) against libvhdx direct, ${mib} MiB dynamic VHDX in ${D%/*},"
echo "median of $runs runs, ${secs} s per guest load (guest in KVM's instruction emulator)"
awk -v grr="$(m "${g_rr[@]}")" -v grw="$(m "${g_rw[@]}")" -v gsr="$(m "${g_sr[@]}")" \
	-v gsw="$(m "${g_sw[@]}")" -v lat="$(m "${h_lat[@]}")" -v drr="$(m "${d_rr[@]}")" \
	-v drw="$(m "${d_rw[@]}")" -v dsr="$(m "${d_sr[@]}")" -v dsw="$(m "${d_sw[@]}")" \
	-v hrr="$h_rr" -v hrw="$h_rw" -v hdrr="$hd_rr" -v hdrw="$hd_rw" -v hlat="$h_plat" \
	-v hinl="$h_inl" -v ginl="$(m "${inl[@]}")" 'BEGIN {
	h = lat > 0 ? 1e9 / lat : 0
	printf "                       guest        host path        direct    guest/direct  host/direct\n"
	printf "  random 4 KiB read  %8.0f IOPS %8.0f IOPS %8.0f IOPS  %6.1f %%      %6.1f %%\n", grr, hrr, drr, grr * 100 / drr, hrr * 100 / hdrr
	printf "  random 4 KiB write %8.0f IOPS %8.0f IOPS %8.0f IOPS  %6.1f %%      %6.1f %%\n", grw, hrw, drw, grw * 100 / drw, hrw * 100 / hdrw
	printf "  sequential read    %8.1f MB/s          -     %8.1f MB/s  %6.1f %%\n", gsr / 1024, dsr / 1024, gsr * 100 / dsr
	printf "  sequential write   %8.1f MB/s          -     %8.1f MB/s  %6.1f %%\n", gsw / 1024, dsw / 1024, gsw * 100 / dsw
	printf "  host share: %.1f us per request (mean over all four loads, 64 KiB ones included),\n", lat / 1000
	printf "  i.e. %.0f requests/s, %.1f %% of direct random 4 KiB read IOPS (target: 70 %%);\n", h, h * 100 / drr
	printf "  %.0f %% of the guest'"'"'s requests done inline (fast path)\n", ginl
	printf "  host path: storvsc-hostbench (simulated guest, no KVM), host/direct against its own\n"
	printf "  direct run on the same image (%.0f read, %.0f write IOPS); controller latency %.2f us,\n", hdrr, hdrw, hlat / 1000
	printf "  %.0f %% of its requests done inline\n", hinl
}'
