#!/bin/sh
# hvkit on a fresh Debian 12 machine, in one command:
#   ./setup.sh demo   install what hvkit needs, build it, start a private hvd, define a VM, boot
#                     it (the built-in guest), show its console and Get-VM
#   ./setup.sh test   install what hvkit needs, build it, run the whole test suite (make check)
# Packages are installed with apt-get (as root, or through sudo).
set -eu

DEPS="build-essential autoconf automake pkg-config libedit-dev libxml2-dev libssh-dev
libncurses-dev libcmocka-dev linux-libc-dev clang qemu-utils bzip2 gzip openssh-server
openssh-client libvhdi-utils tmux"

top=$(cd "$(dirname "$0")" && pwd)
build="$top/build"

need_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_deps() {
	missing=""
	for p in $DEPS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "setup.sh: installing$missing"
		need_root apt-get update
		need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
	fi
}

build() {
	cd "$top"
	[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
	mkdir -p "$build"
	cd "$build"
	[ -f Makefile ] || "$top/configure"
	make -j"$(nproc)"
}

demo() {
	run="$build/demo"
	mkdir -p "$run"
	sock="$run/hvd.sock"
	if ! "$build/cli/hvctl" -H "unix://$sock" -c 'Get-VMHost' >/dev/null 2>&1; then
		"$build/daemon/hvd" --socket "$sock" --state-dir "$run/state"
	fi
	hvctl() { "$build/cli/hvctl" -H "unix://$sock" "$@"; }
	hvctl -c 'Get-VM -Name demo1' >/dev/null 2>&1 ||
		hvctl -c 'New-VM -Name demo1 -MemoryStartupBytes 256MB -ProcessorCount 2 | Out-Null'
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		echo "== Start-VM demo1 (the built-in guest; its kernel code runs in KVM's emulator here)"
		hvctl -c 'if ((Get-VM demo1).State -eq "Off") { Start-VM demo1 }'
		log="$run/state/vms/$(hvctl -c '(Get-VM demo1).Id')/console.log"
		i=0
		while [ $i -lt 300 ] && ! grep -q 'hvguest: vmbus' "$log" 2>/dev/null; do
			sleep 0.2
			i=$((i + 1))
		done
		echo "== its serial console ($log)"
		cat "$log"
	else
		echo "== /dev/kvm cannot be used here: demo1 is defined but not started"
	fi
	echo
	echo "== Get-VM"
	hvctl -c 'Get-VM'
	echo
	echo "== Get-VM demo1 | Format-List Name,State,ProcessorCount,MemoryAssigned,Uptime,Status"
	hvctl -c 'Get-VM demo1 | Format-List Name,State,ProcessorCount,MemoryAssigned,Uptime,Status'
	if [ "$(hvctl -c '(Get-VM demo1).State')" = Running ]; then
		sleep 2 # a heartbeat or two
		echo "== Get-VMIntegrationService demo1; Get-VMBusChannel demo1"
		hvctl -c 'Get-VMIntegrationService demo1; Get-VMBusChannel demo1'
	fi
	echo
	echo "hvd is running with its state in $run/state. Talk to it with:"
	echo "  $build/cli/hvctl -H unix://$sock"
	echo "Stop the VM with: $build/cli/hvctl -H unix://$sock -c 'Stop-VM demo1'"
	echo "Stop hvd with: kill \$(head -1 $run/state/hvd.lock)"
}

case "${1:-}" in
demo) install_deps; build; demo ;;
test) install_deps; build; cd "$build" && { make check || { tail -n 60 test-suite.log; exit 1; }; } ;;
*) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
