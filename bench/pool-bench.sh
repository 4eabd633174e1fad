#!/bin/bash
# Pools (issue 11), side by side with QEMU in one run:
#   start: all 20 members of a pool over one golden VHDX, from `Start-VM pool-*` to the last
#          one's "hvguest: ready" line, against 20 QEMU processes (microvm, the same hvguest,
#          each with a qcow2 overlay over one golden qcow2 on virtio-blk) started at once, to
#          their last ready line. Target: hvkit at most half QEMU's time.
#   memory: each member's process memory beyond the guest RAM it touched (RSS minus the
#          resident part of the guest RAM mapping), median of 5 members in the first round,
#          hv-worker against QEMU.
#   reset: Reset-VMPoolMember of a running member of the idle pool (turned off, a fresh
#          differencing disk, started again): until the call returns, and until the guest's
#          ready line (also printed: the call right after the pool's boot, while the 20 guests
#          still negotiate their services in the emulator); QEMU's
#          nearest equivalent is kill, a new overlay (qemu-img create) and a new process to
#          its ready line. Target: under 100 ms.
# Medians of RUNS rounds (default 5); the golden image is a 256 MiB dynamic VHDX, half data.
#
#   bench/pool-bench.sh [BUILD_DIR] [RUNS] [MEMBERS]
set -eu
build=${1:-build}
runs=${2:-5}
n=${3:-20}
msample=5 # members whose memory is read
hvd=$build/daemon/hvd hvctl=$build/cli/hvctl guest=$build/hvcore/guest/hvguest img=$build/cli/hv-img
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || { echo "$0: qemu-system-x86_64 not found (apt-get install qemu-system-x86)" >&2; exit 77; }
command -v qemu-img >/dev/null || { echo "$0: qemu-img not found (apt-get install qemu-utils)" >&2; exit 77; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "$0: /dev/kvm cannot be opened" >&2; exit 77; }
. "$(dirname "$0")/lib.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/hvkit-pool-bench-XXXXXX")
declare -a qpids=()
cleanup() {
	"$hvctl" -c "Get-VM | Where-Object State -ne Off | Stop-VM -TurnOff" >/dev/null 2>&1 || true
	kill "${qpids[@]}" 2>/dev/null || true
	kill "$(head -1 "$dir/state/hvd.lock" 2>/dev/null)" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
export HVKIT_HOST="unix://$dir/hvd.sock"
"$hvd" --socket "$dir/hvd.sock" --state-dir "$dir/state"

# The golden image: 256 MiB, every other MiB random data.
for ((i = 0; i < 128; i++)); do
	head -c 1M /dev/urandom
	head -c 1M /dev/zero
done > "$dir/golden.raw"
"$img" convert -O vhdx "$dir/golden.raw" "$dir/golden.vhdx"
qemu-img convert -O qcow2 "$dir/golden.raw" "$dir/golden.qcow2"
rm -f "$dir/golden.raw"
"$hvctl" -c "New-VMPool -Name pool -ParentPath $dir/golden.vhdx -Count $n -MemoryStartupBytes 64MB | Out-Null"
logs=()
for id in $("$hvctl" -c '(Get-VMPool pool).Members | ForEach-Object { $_.VMId }'); do
	logs+=("$dir/state/vms/$id/console.log")
done

us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }
# Process memory beyond its resident guest RAM (the one 64 MiB mapping), KiB.
overhead() {
	local pid=$1 line big=0 a b g=0
	while IFS= read -r line; do
		if [[ $line =~ ^([0-9a-f]+)-([0-9a-f]+)\  ]]; then
			a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]}
			big=$(( (16#$b - 16#$a) == 67108864 ))
		elif ((big)) && [[ $line =~ ^Rss:\ +([0-9]+) ]]; then
			g=$((g + BASH_REMATCH[1]))
			big=0
		fi
	done < "/proc/$pid/smaps"
	echo $(($(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") - g))
}
# Waits until every file given has a ready line, polling every 2 ms without starting a
# process (a grep and a sleep per poll would take the CPU the guests are booting on).
mkfifo "$dir/tick"
exec 9<>"$dir/tick"
has_ready() {
	local line
	[ -e "$1" ] || return 1
	while IFS= read -r line; do
		[[ $line == "hvguest: ready"* ]] && return 0
	done < "$1"
	return 1
}
wait_ready() {
	local f
	for f in "$@"; do
		until has_ready "$f"; do read -r -t 0.002 -u 9 || true; done
	done
}
# Waits until every member has finished booting (hvguest lists its disk last) and is idle.
wait_booted() {
	local f line done
	for f in "$@"; do
		until
			done=0
			while IFS= read -r line; do
				[[ $line == "hvguest: disk "* ]] && done=1
			done < "$f"
			((done))
		do read -r -t 0.01 -u 9 || true; done
	done
}

qemu_start() { # overlay log
	"$qemu" -accel kvm -M microvm,x-option-roms=off,rtc=off,pit=off,pic=off,acpi=off \
		-m 64M -smp 1 -nographic -nodefaults -no-reboot -kernel "$guest" \
		-drive "file=$1,if=none,id=d0,format=qcow2" -device virtio-blk-device,drive=d0 \
		-serial "file:$2" >/dev/null 2>&1 &
	qpids+=($!)
}

declare -a hs qs hm qm hr hrr qr hb
for ((r = 0; r < runs; r++)); do
	# hvkit: the pool's members
	for f in "${logs[@]}"; do : > "$f"; done
	t0=$(us)
	"$hvctl" -c 'Start-VM pool-*'
	wait_ready "${logs[@]}"
	t1=$(us)
	hs+=($((t1 - t0)))
	# memory: in the first round, of the first few members (reading a QEMU's smaps takes
	# seconds of kernel time here)
	if ((r == 0)); then
		for pid in $("$hvctl" -c '(Get-VM pool-*).WorkerProcessId' | head -n "$msample"); do
			hm+=($(overhead "$pid"))
		done
	fi
	# reset of a running member, a different one each round: as soon as the pool has booted
	# (its services still negotiating), and once it is idle
	wait_booted "${logs[@]}"
	for phase in busy idle; do
		[ "$phase" = idle ] && sleep 1
		k=0; [ "$phase" = idle ] && k=1
		m=$(((2 * r + k) % n + 1))
		log=${logs[$((m - 1))]}
		: > "$log"
		t0=$(us)
		"$hvctl" -c "Reset-VMPoolMember pool-$m"
		t1=$(us)
		wait_ready "$log"
		t2=$(us)
		if [ "$phase" = busy ]; then
			hb+=($((t1 - t0)))
		else
			hr+=($((t1 - t0))) hrr+=($((t2 - t0)))
		fi
	done
	"$hvctl" -c 'Stop-VM pool-* -TurnOff'

	# QEMU: overlays over the golden qcow2, all started at once
	qpids=()
	for ((i = 1; i <= n; i++)); do
		rm -f "$dir/q$i.qcow2" "$dir/q$i.log"
		qemu-img create -q -f qcow2 -b "$dir/golden.qcow2" -F qcow2 "$dir/q$i.qcow2"
	done
	qlogs=()
	t0=$(us)
	for ((i = 1; i <= n; i++)); do
		qemu_start "$dir/q$i.qcow2" "$dir/q$i.log"
		qlogs+=("$dir/q$i.log")
	done
	wait_ready "${qlogs[@]}"
	t1=$(us)
	qs+=($((t1 - t0)))
	if ((r == 0)); then
		for pid in "${qpids[@]:0:$msample}"; do
			qm+=($(overhead "$pid"))
		done
	fi
	# QEMU's reset: kill, a fresh overlay, a new process
	t0=$(us)
	kill "${qpids[0]}"
	wait "${qpids[0]}" 2>/dev/null || true
	rm -f "$dir/q1.qcow2" "$dir/q1.log"
	qemu-img create -q -f qcow2 -b "$dir/golden.qcow2" -F qcow2 "$dir/q1.qcow2"
	qemu_start "$dir/q1.qcow2" "$dir/q1.log"
	wait_ready "$dir/q1.log"
	t1=$(us)
	qr+=($((t1 - t0)))
	kill "${qpids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	qpids=()
done

med() { printf '%s\n' "$@" | median; }
awk -v hs="$(med "${hs[@]}")" -v qs="$(med "${qs[@]}")" -v hm="$(med "${hm[@]}")" -v qm="$(med "${qm[@]}")" \
	-v hr="$(med "${hr[@]}")" -v hrr="$(med "${hrr[@]}")" -v hb="$(med "${hb[@]}")" -v qr="$(med "${qr[@]}")" -v n="$n" -v runs="$runs" 'BEGIN {
	printf "pool of %d hvguest members (64 MiB, 1 vCPU) over one 256 MiB golden image, medians of %d rounds\n", n, runs
	printf "start all %d to their ready lines\n", n
	printf "  hvkit (Start-VM pool-*)         %9.1f ms\n", hs / 1000
	printf "  qemu (qcow2 overlays, at once)  %9.1f ms\n", qs / 1000
	printf "  ratio hvkit/qemu                %9.3f  (target <= 0.5)\n", hs / qs
	printf "process memory beyond the guest RAM it touched, per member (median of 5)\n"
	printf "  hv-worker  %7.2f MiB\n  qemu       %7.2f MiB\n", hm / 1024, qm / 1024
	printf "reset of a running member (the pool idle; right after its boot: %.1f ms)\n", hb / 1000
	printf "  Reset-VMPoolMember returns      %9.1f ms  (target < 100)\n", hr / 1000
	printf "  ... to its ready line           %9.1f ms\n", hrr / 1000
	printf "  qemu kill + overlay + ready     %9.1f ms\n", qr / 1000
}'
