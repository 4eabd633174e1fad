#!/bin/bash
# Checkpoint and restore times for 256 MiB and 1 GiB partitions, next to the time `dd` takes
# to write that much to the same disk (the physical limit) in the same run, and next to QEMU
# saving and loading the same guest (migration to a file: what virsh save does; savevm
# itself needs a qcow2 disk) where qemu-system-x86_64 is installed. Medians of RUNS.
#
#   bench/checkpoint-bench.sh [-n RUNS] [-d DIR] [BUILDDIR]
#
# Rows, per size:
#   dd             dd if=/dev/zero bs=1M conv=fsync of that many bytes
#   core full      hv_partition_save of a partition whose every page above 32 MiB the host
#                  filled with incompressible bytes (the worst case), fsync included
#   core idle      the same for hvguest as it is (it touches a few pages: holes elsewhere)
#   restore        hv_partition_restore (state, memory mapped lazily) / to vCPUs running /
#                  to the guest's next counter line (its 100 ms tick)
#   hvd            Checkpoint-VM of a running VM and Restore-VMCheckpoint back to it, end
#                  to end through hvctl (pause, save, resume; turn off, new worker, restore)
#   qemu           migrate "exec:cat > file" (max-bandwidth unlimited) + fsync, and a new QEMU
#                  with -incoming "exec:cat file" until its monitor says running (process start
#                  included, as the hvd restore includes starting a worker)
# Targets (issue 7): checkpoint within 2x dd; restore to running under 100 ms.
set -eu

runs=5 dir=${TMPDIR:-/var/tmp}
while getopts n:d: opt; do
	case $opt in
	n) runs=$OPTARG ;;
	d) dir=$OPTARG ;;
	*) echo "usage: $0 [-n RUNS] [-d DIR] [BUILDDIR]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=${1:-${top_builddir:-.}}
core=$build/bench/ckpt-core
guest=$build/hvcore/guest/hvguest
hvd=$build/daemon/hvd
hvctl=$build/cli/hvctl
for f in "$core" "$guest" "$hvd" "$hvctl"; do
	[ -e "$f" ] || { echo "$0: $f not found: build first (make; make bench/ckpt-core)" >&2; exit 2; }
done
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "$0: /dev/kvm cannot be opened" >&2; exit 77; }
qemu=$(command -v qemu-system-x86_64 || true)

work=$(mktemp -d "$dir/ckpt-bench.XXXXXX")
hvd_pid=
cleanup() {
	[ -z "$hvd_pid" ] || kill "$hvd_pid" 2>/dev/null || true
	pkill -f "hv-worker --dir $work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }
ms_since() { echo "$(( ($(us) - $1) ))" | awk '{ printf "%.2f", $1 / 1000 }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

# QEMU: save (migrate to a file, bandwidth unlimited, then fsync) and load (-incoming, until
# its monitor says running), timed inside one python process so that polling costs nothing.
qemu_save_load() { # MIB -> "save_ms load_ms"
	python3 - "$qemu" "$guest" "$1" "$work" <<'EOF'
import os, socket, subprocess, sys, time
qemu, guest, mib, work = sys.argv[1:5]
st, sock = work + "/q.state", work + "/q.sock"
base = [qemu, "-accel", "kvm", "-M", "microvm,x-option-roms=off,rtc=off,pit=off,pic=off,acpi=off",
        "-m", mib, "-nographic", "-nodefaults", "-serial", "null", "-no-reboot", "-kernel", guest,
        "-monitor", "unix:%s,server=on,wait=off" % sock]
def monitor():
    for _ in range(5000):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            break
        except OSError:
            time.sleep(0.001)
    s.settimeout(30)
    return s
def cmd(s, line=None):
    if line is not None:
        s.sendall(line.encode() + b"\n")
    buf = b""
    while not buf.endswith(b"(qemu) "):
        buf += s.recv(65536)
    return buf.decode(errors="replace")
for f in (st, sock):
    if os.path.exists(f):
        os.unlink(f)
q = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
s = monitor()
cmd(s)
time.sleep(0.3)
cmd(s, "migrate_set_parameter max-bandwidth 100G")
t0 = time.monotonic()
cmd(s, 'migrate "exec:cat > %s"' % st)
while "Migration status: completed" not in cmd(s, "info migrate"):
    pass
fd = os.open(st, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
save = (time.monotonic() - t0) * 1000
q.kill()
q.wait()
os.unlink(sock)
t0 = time.monotonic()
q = subprocess.Popen(base + ["-incoming", "exec:cat " + st], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
s = monitor()
cmd(s)
while "VM status: running" not in cmd(s, "info status"):
    pass
load = (time.monotonic() - t0) * 1000
q.kill()
q.wait()
print("%.2f %.2f" % (save, load))
EOF
}

start_hvd() {
	"$hvd" --socket "$work/hvd.sock" --state-dir "$work/state" --foreground --log-level warning \
		>"$work/hvd.out" 2>&1 &
	hvd_pid=$!
	for _ in $(seq 200); do [ -S "$work/hvd.sock" ] && return; sleep 0.02; done
	echo "$0: hvd did not start" >&2; exit 1
}
H() { "$hvctl" -H "unix://$work/hvd.sock" -c "$1"; }

echo "checkpoint-bench: $runs runs each, files in $work ($(df -h "$work" | awk 'NR == 2 { print $1 }'))"
start_hvd
for mib in 256 1024; do
	dd_t=() full=() idle=() rst=() run=() line=() hs=() hr=() qs=() ql=()
	H "New-VM -Name b$mib -MemoryStartupBytes ${mib}MB | Out-Null; Set-VMFirmware b$mib -KernelCommandLine 'hvguest.counter=1' | Out-Null; Start-VM b$mib | Out-Null"
	H "Checkpoint-VM b$mib -SnapshotName base | Out-Null"
	for i in $(seq "$runs"); do
		t0=$(us)
		dd if=/dev/zero of="$work/dd.img" bs=1M count="$mib" conv=fsync status=none
		dd_t+=("$(ms_since "$t0")")
		rm -f "$work/dd.img"
		out=$("$core" -m "$mib" -f "$guest" "$work/core.state")
		full+=("$(echo "$out" | field save_ms)")
		rst+=("$(echo "$out" | field restore_ms)")
		run+=("$(echo "$out" | field running_ms)")
		line+=("$(echo "$out" | field first_line_ms)")
		out=$("$core" -m "$mib" "$guest" "$work/core.state")
		idle+=("$(echo "$out" | field save_ms)")
		rm -f "$work/core.state"
		t0=$(us)
		H "Checkpoint-VM b$mib -SnapshotName run$i | Out-Null"
		hs+=("$(ms_since "$t0")")
		t0=$(us)
		H "Restore-VMCheckpoint -VMName b$mib -Name base | Out-Null"
		hr+=("$(ms_since "$t0")")
		H "Remove-VMCheckpoint -VMName b$mib -Name run$i | Out-Null"
		if [ -n "$qemu" ]; then
			read -r s l <<<"$(qemu_save_load "$mib")"
			qs+=("$s") ql+=("$l")
		fi
	done
	H "Stop-VM b$mib -TurnOff | Out-Null; Remove-VMCheckpoint -VMName b$mib -Name base | Out-Null; Remove-VM b$mib -Force | Out-Null"
	m() { printf '%s\n' "$@" | median; }
	d=$(m "${dd_t[@]}") f=$(m "${full[@]}") i=$(m "${idle[@]}") h=$(m "${hs[@]}")
	echo
	echo "$mib MiB partition (medians, ms):"
	printf "  dd %d MiB, fsync              %9.2f\n" "$mib" "$d"
	printf "  checkpoint, memory full        %9.2f   %5.2fx dd   (target <= 2x)\n" "$f" "$(echo "$f $d" | awk '{ print $1 / $2 }')"
	printf "  checkpoint, hvguest as is      %9.2f   %5.2fx dd\n" "$i" "$(echo "$i $d" | awk '{ print $1 / $2 }')"
	printf "  Checkpoint-VM through hvd      %9.2f   %5.2fx dd\n" "$h" "$(echo "$h $d" | awk '{ print $1 / $2 }')"
	printf "  restore (state + mapping)      %9.3f\n" "$(m "${rst[@]}")"
	printf "  restore to vCPUs running       %9.3f   (target < 100)\n" "$(m "${run[@]}")"
	printf "  restore to next counter line   %9.1f   (the guest's 100 ms tick)\n" "$(m "${line[@]}")"
	printf "  Restore-VMCheckpoint via hvd   %9.2f   (turn off, new worker, restore)\n" "$(m "${hr[@]}")"
	if [ -n "$qemu" ]; then
		printf "  qemu save (migrate to file)    %9.2f   hvkit/qemu %5.2f (hvguest as is)\n" "$(m "${qs[@]}")" \
			"$(echo "$h $(m "${qs[@]}")" | awk '{ print $1 / $2 }')"
		printf "  qemu load (-incoming, running) %9.2f   hvkit/qemu %5.2f\n" "$(m "${ql[@]}")" \
			"$(echo "$(m "${hr[@]}") $(m "${ql[@]}")" | awk '{ print $1 / $2 }')"
	else
		echo "  qemu: qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
	fi
done
