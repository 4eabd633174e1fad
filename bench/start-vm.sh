#!/bin/bash
# Issue 4's targets, side by side with QEMU booting the same built-in guest:
#   Start-VM (through hvd and hv-worker) to the guest's ready line: at most half QEMU's time
#   worker memory beyond the guest RAM it touched: under 4 MiB
# QEMU: qemu-system-x86_64 -accel kvm -M microvm,... -kernel hvguest (its fastest form here),
# timed from its start to the same line.  Medians of RUNS (default 7).
#   bench/start-vm.sh [BUILD_DIR] [RUNS]
set -eu
build=${1:-build}
runs=${2:-7}
hvd=$build/daemon/hvd hvctl=$build/cli/hvctl guest=$build/hvcore/guest/hvguest
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || { echo "$0: qemu-system-x86_64 not found (apt-get install qemu-system-x86)" >&2; exit 77; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "$0: /dev/kvm cannot be opened" >&2; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/hvkit-bench-XXXXXX")
trap '"$hvctl" -c "Get-VM | Where-Object State -ne Off | Stop-VM -TurnOff" >/dev/null 2>&1; kill $(head -1 "$dir/state/hvd.lock" 2>/dev/null) 2>/dev/null; rm -rf "$dir"' EXIT
"$hvd" --socket "$dir/hvd.sock" --state-dir "$dir/state"
export HVKIT_HOST="unix://$dir/hvd.sock"
"$hvctl" -c 'New-VM b -MemoryStartupBytes 256MB -ProcessorCount 1 | Out-Null'
log="$dir/state/vms/$("$hvctl" -c '(Get-VM b).Id')/console.log"

us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }
. "$(dirname "$0")/lib.sh"
# Resident KiB of a process, and of its mapping of the guest's 256 MiB.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
guest_rss() {
	local line big=0 a b
	while IFS= read -r line; do
		if [[ $line =~ ^([0-9a-f]+)-([0-9a-f]+)\  ]]; then
			a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]}
			big=$(( (16#$b - 16#$a) == 268435456 ))
		elif ((big)) && [[ $line =~ ^Rss:\ +([0-9]+) ]]; then
			echo "${BASH_REMATCH[1]}"
			return
		fi
	done < "/proc/$1/smaps"
	echo 0
}

declare -a ht hr qt qr
for ((i = 0; i < runs; i++)); do
	: > "$log"
	t0=$(us)
	"$hvctl" -c 'Start-VM b'
	while ! grep -q 'hvguest: ready' "$log"; do sleep 0.001; done
	t1=$(us)
	pid=$("$hvctl" -c '(Get-VM b).WorkerProcessId')
	ht+=($((t1 - t0)))
	hr+=($(($(rss "$pid") - $(guest_rss "$pid"))))
	"$hvctl" -c 'Stop-VM b -TurnOff'

	t0=$(us)
	coproc Q { exec "$qemu" -accel kvm -M microvm,x-option-roms=off,rtc=off,pit=off,pic=off,acpi=off \
		-m 256M -smp 1 -nographic -nodefaults -serial stdio -no-reboot -kernel "$guest" 2>/dev/null; }
	qpid=$Q_PID
	while IFS= read -r -t 60 line <&"${Q[0]}"; do
		case $line in "hvguest: ready"*) break ;; esac
	done
	t1=$(us)
	qt+=($((t1 - t0)))
	qr+=($(($(rss "$qpid") - $(guest_rss "$qpid"))))
	kill "$qpid"; wait "$qpid" 2>/dev/null || true
done
h=$(printf '%s\n' "${ht[@]}" | median) q=$(printf '%s\n' "${qt[@]}" | median)
hm=$(printf '%s\n' "${hr[@]}" | median) qm=$(printf '%s\n' "${qr[@]}" | median)
awk -v h="$h" -v q="$q" -v hm="$hm" -v qm="$qm" -v n="$runs" 'BEGIN {
	printf "time to the ready line, 1 vCPU, 256 MiB, median of %d\n", n
	printf "  Start-VM via hvd + hv-worker  %8.2f ms\n", h / 1000
	printf "  qemu microvm                  %8.2f ms\n", q / 1000
	printf "  ratio hvkit/qemu              %8.3f  (target <= 0.5)\n", h / q
	printf "process memory beyond the guest RAM it touched, median\n"
	printf "  hv-worker  %6.2f MiB (target < 4)\n  qemu       %6.2f MiB\n  ratio      %6.3f\n", hm / 1024, qm / 1024, hm / qm
}'
