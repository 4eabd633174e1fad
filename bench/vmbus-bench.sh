#!/bin/bash
# VMBus round-trip latency and ring throughput with hvguest on the loopback channel, with
# the host's channel statistics on and off (vmbus_no_stats) in one run, alternating, medians.
#
#   bench/vmbus-bench.sh [-n RUNS] [-k PACKETS] [BUILDDIR]
#
# hvguest.vmbusbench=K does K round trips of a 64-byte packet (guest -> host -> guest, one
# HvSignalEvent and one SynIC interrupt each) and then streams K 1 KiB packets one way; it
# times both with the partition reference counter. On hosts like these the guest runs in
# KVM's instruction emulator (DESIGN.md), so these numbers measure the emulator as much as
# the VMM: compare them with each other (statistics on against off), not with hardware.
# The second table is the host's share alone (tests/hvcore/vmbus-hostbench: the same host
# code driven by a simulated guest, no KVM, no emulator): the cost of statistics shows there.
set -eu

runs=5 k=400
while getopts n:k: opt; do
	case $opt in
	n) runs=$OPTARG ;;
	k) k=$OPTARG ;;
	*) echo "usage: $0 [-n RUNS] [-k PACKETS] [BUILDDIR]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=${1:-${top_builddir:-.}}
hvboot=$build/tests/hvcore/hv-boot
hostbench=$build/tests/hvcore/vmbus-hostbench
guest=$build/hvcore/guest/hvguest
for f in "$hvboot" "$guest" "$hostbench"; do
	[ -e "$f" ] || { echo "$0: $f not found: build first (make)" >&2; exit 2; }
done
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "$0: /dev/kvm cannot be opened" >&2; exit 77; }

# one FLAGS...: prints "RTT_NS KIB_S HOST_MS" of one run (HOST_MS: the whole process).
one() {
	local out t0 t1
	t0=$(date +%s%N)
	out=$("$hvboot" -E "$@" -a "hvguest.vmbusbench=$k" "$guest" 2>/dev/null) || true
	t1=$(date +%s%N)
	case $out in
	*"vmbusbench n=$k "*) ;;
	*) echo "$0: no vmbusbench line from hv-boot $*" >&2; echo "$out" >&2; exit 1 ;;
	esac
	printf '%s\n' "$out" | awk -v ms="$(( (t1 - t0) / 1000000 ))" '/vmbusbench/ {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print v["rtt_ns"], v["stream_kib_s"], ms }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -a on_rtt on_kib off_rtt off_kib
for ((i = 0; i < runs; i++)); do
	read -r r s _ <<<"$(one)"
	on_rtt+=("$r") on_kib+=("$s")
	read -r r s _ <<<"$(one -S)"
	off_rtt+=("$r") off_kib+=("$s")
done
a=$(printf '%s\n' "${on_rtt[@]}" | median)
b=$(printf '%s\n' "${off_rtt[@]}" | median)
c=$(printf '%s\n' "${on_kib[@]}" | median)
d=$(printf '%s\n' "${off_kib[@]}" | median)
echo "VMBus loopback, hvguest.vmbusbench=$k, median of $runs runs each (guest in KVM's emulator)"
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {
	printf "                      round trip (64 B)   stream (1 KiB packets)\n"
	printf "  statistics on       %10.1f us       %10.0f KiB/s\n", a / 1000, c
	printf "  statistics off      %10.1f us       %10.0f KiB/s\n", b / 1000, d
	printf "  cost of statistics  %+9.2f %%          %+9.2f %%\n", (a - b) * 100 / b, (d - c) * 100 / d
}'

read -r a b c d <<<"$("$hostbench" -n 200 -b 5000 | sed 's/[a-z_]*=//g')"
echo "host's share per packet (vmbus-hostbench: statistics on and off take turns, 200 batches"
echo "of 5000 packets each, median batch)"
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {
	printf "                      round trip (64 B)   stream (1 KiB packets)\n"
	printf "  statistics on       %10.1f ns       %10.1f ns\n", a, c
	printf "  statistics off      %10.1f ns       %10.1f ns\n", b, d
	printf "  cost of statistics  %+9.2f %%          %+9.2f %%\n", (a - b) * 100 / b, (c - d) * 100 / d
}'
