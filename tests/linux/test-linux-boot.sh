#!/bin/sh
# Boots Debian's cloud kernel with a busybox initramfs in an hvkit partition, through hvd,
# and waits for its init's line on the serial console.  Needs hardware-backed KVM: on a
# nested KVM that emulates guest kernel code (kvm_pvm) a stock kernel never reaches init,
# so the test is skipped there with that reason (DESIGN.md, Guests on these machines).
set -eu
if [ -d /sys/module/kvm_pvm ]; then
	echo "SKIP: Linux needs hardware-backed KVM; this host's KVM is kvm_pvm (nested, guest kernel code runs in KVM's instruction emulator)"
	exit 77
fi
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm cannot be opened"
	exit 77
fi
command -v apt-get >/dev/null || { echo "SKIP: needs apt-get to fetch Debian's kernel"; exit 77; }
b=${top_builddir:-.}
dir=$(mktemp -d "${TMPDIR:-/tmp}/hvkit-linux-XXXXXX")
trap 'kill $(head -1 "$dir/state/hvd.lock" 2>/dev/null) 2>/dev/null; pkill -f "hv-worker --dir $dir" 2>/dev/null; rm -rf "$dir"' EXIT
sh "${top_srcdir:-.}/tests/linux/make-initramfs.sh" "$dir/img" || { echo "SKIP: cannot fetch Debian's kernel"; exit 77; }
"$b/daemon/hvd" --socket "$dir/hvd.sock" --state-dir "$dir/state"
export HVKIT_HOST="unix://$dir/hvd.sock"
"$b/cli/hvctl" -c "New-VM linux -ProcessorCount 2 -MemoryStartupBytes 512MB | Out-Null
Set-VMFirmware linux -KernelPath $dir/img/vmlinuz -InitrdPath $dir/img/initrd.gz -KernelCommandLine 'console=ttyS0 panic=-1 quiet'
Start-VM linux"
log="$dir/state/vms/$("$b/cli/hvctl" -c '(Get-VM linux).Id')/console.log"
i=0
while [ $i -lt 1200 ] && ! grep -q 'linux: init reached cpus=2' "$log"; do sleep 0.1; i=$((i + 1)); done
grep 'linux: init reached cpus=2' "$log" || { echo "FAIL: no init line"; tail -20 "$log"; exit 1; }
# Linux's own hv_vmbus and hv_utils against our VMBus host: the integration services answer
# and a graceful Stop-VM goes through the shutdown service.
i=0
while [ $i -lt 300 ] && ! grep -q 'linux: vmbus devices=' "$log"; do sleep 0.1; i=$((i + 1)); done
grep -q 'linux: vmbus devices=[4-9]' "$log" || { echo "FAIL: hv_vmbus did not find the channels"; tail -20 "$log"; exit 1; }
i=0
while [ $i -lt 100 ] && [ "$("$b/cli/hvctl" -c '(Get-VMIntegrationService linux -Name Heartbeat).PrimaryStatusDescription')" != OK ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$("$b/cli/hvctl" -c '(Get-VMIntegrationService linux | Where-Object PrimaryStatusDescription -eq OK).Count')" = 4 ] ||
	{ echo "FAIL: hv_utils did not answer every service"; "$b/cli/hvctl" -c 'Get-VMIntegrationService linux'; exit 1; }
"$b/cli/hvctl" -c 'Stop-VM linux'
[ "$("$b/cli/hvctl" -c '(Get-VM linux).State')" = Off ] || { echo "FAIL: Stop-VM did not shut Linux down"; exit 1; }
echo "PASS: Linux booted, loaded hv_vmbus and hv_utils against hvkit's VMBus, and shut down through it"
