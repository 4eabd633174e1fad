#!/bin/bash
# Dynamic memory: how long the host takes to reclaim 512 MiB from an idle hvguest (whose free
# memory was dirtied by an earlier load) and to give it back, medians over ROUNDS (default 5),
# and the worker-side resident memory around the first reclaim. On nested kvm_pvm hosts the
# guest's share runs in KVM's instruction emulator.
# Usage: bench/balloon-bench.sh [BUILDDIR] [ROUNDS]
set -e
build=${1:-.}
rounds=${2:-5}
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm cannot be opened"
	exit 0
fi
"$build/bench/balloon-core" "$build/hvcore/guest/hvguest" "$rounds"
