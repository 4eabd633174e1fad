#!/bin/bash
# Time from process start to hvguest's ready line, libhvcore (tests/hvcore/hv-boot) against
# QEMU's microvm booting the very same hvguest as a PVH ELF, side by side on this host.
# Prints the median of each, the ratio, and each process's resident memory at the ready
# line (the guest itself touches only a few pages, so that is nearly all VMM overhead).
#
#   bench/hvguest-bench.sh [-n RUNS] [-c CPUS] [-m MIB] [BUILDDIR]
#
# QEMU is run with -M microvm,x-option-roms=off,rtc=off,pit=off,pic=off,acpi=off, its
# fastest form here; with acpi=off microvm offers no MADT, so hvguest sees one processor
# there: compare CPUS=1 (the default), or read the CPUS>1 rows as "QEMU with acpi=on".
set -eu

runs=7 cpus=1 mib=256
while getopts n:c:m: opt; do
	case $opt in
	n) runs=$OPTARG ;;
	c) cpus=$OPTARG ;;
	m) mib=$OPTARG ;;
	*) echo "usage: $0 [-n RUNS] [-c CPUS] [-m MIB] [BUILDDIR]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=${1:-${top_builddir:-.}}
hvboot=$build/tests/hvcore/hv-boot
guest=$build/hvcore/guest/hvguest
for f in "$hvboot" "$guest"; do
	[ -e "$f" ] || { echo "$0: $f not found: build first (make)" >&2; exit 2; }
done
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || { echo "$0: qemu-system-x86_64 not found (apt-get install qemu-system-x86)" >&2; exit 77; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "$0: /dev/kvm cannot be opened" >&2; exit 77; }

acpi=off
[ "$cpus" -gt 1 ] && acpi=on

us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }

# measure CMD...: prints "MICROSECONDS RSS_KIB" for one run, or "fail".
measure() {
	local t0 t1=0 line rss=0
	t0=$(us)
	coproc RUN { exec "$@" 2>/dev/null; }
	local pid=$RUN_PID
	while IFS= read -r -t 30 line <&"${RUN[0]}"; do
		case $line in
		"hvguest: ready"*)
			t1=$(us)
			rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
			break ;;
		esac
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [ "$t1" -eq 0 ]; then echo fail; else echo "$((t1 - t0)) ${rss:-0}"; fi
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -a hv_t hv_r q_t q_r
for ((i = 0; i < runs; i++)); do
	read -r t r <<<"$(measure "$hvboot" -c "$cpus" -m "$mib" "$guest")"
	[ "$t" != fail ] || { echo "$0: hv-boot run $i did not reach ready" >&2; exit 1; }
	hv_t+=("$t") hv_r+=("$r")
	read -r t r <<<"$(measure "$qemu" -accel kvm \
		-M "microvm,x-option-roms=off,rtc=off,pit=off,pic=off,acpi=$acpi" \
		-m "$mib" -smp "$cpus" -nographic -nodefaults -serial stdio -no-reboot \
		-kernel "$guest")"
	[ "$t" != fail ] || { echo "$0: qemu run $i did not reach ready" >&2; exit 1; }
	q_t+=("$t") q_r+=("$r")
done

hv_med=$(printf '%s\n' "${hv_t[@]}" | median)
q_med=$(printf '%s\n' "${q_t[@]}" | median)
hv_rss=$(printf '%s\n' "${hv_r[@]}" | median)
q_rss=$(printf '%s\n' "${q_r[@]}" | median)
echo "hvguest time to ready, $cpus vCPU(s), $mib MiB, median of $runs runs"
awk -v a="$hv_med" -v b="$q_med" -v ra="$hv_rss" -v rb="$q_rss" 'BEGIN {
	printf "  libhvcore (hv-boot)  %8.2f ms   RSS %6.1f MiB\n", a / 1000, ra / 1024
	printf "  qemu microvm         %8.2f ms   RSS %6.1f MiB\n", b / 1000, rb / 1024
	printf "  ratio hvkit/qemu     %8.3f        RSS %6.3f\n", a / b, ra / rb
}'
