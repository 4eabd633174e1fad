#!/bin/sh
# hv-img against qemu-img side by side, on tmpfs, median of RUNS (default 5):
#   convert raw -> vhdx (dynamic) and vhdx -> raw of a 2 GiB image, half random data;
#   random 4 KiB writes and reads on an allocated dynamic image, libvhdx against qemu-io.
# Prints each median and the ratio (hvkit / qemu: higher is better for hvkit).
#
#   bench/vhdx-bench.sh [BUILDDIR]     (BUILDDIR holds cli/hv-img and bench/vhdx-io)
set -eu
B=${1:-.}
HV_IMG=$B/cli/hv-img
VHDX_IO=$B/bench/vhdx-io
RUNS=${RUNS:-5}
OPS=${OPS:-20000}
command -v qemu-img >/dev/null || { echo "qemu-img is not installed: nothing to compare"; exit 0; }
D=$(mktemp -d /dev/shm/hvkit-bench-XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$D"' EXIT
cd "$D"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time COMMAND... in seconds
timed() { t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); echo "$t1 - $t0" | bc -l; }

# 2 GiB, 1 MiB stripes alternating random data and holes
truncate -s 2G src.raw
i=0
while [ $i -lt 2048 ]; do
	dd if=/dev/urandom of=src.raw bs=1M seek=$i count=1 conv=notrunc status=none
	i=$((i + 2))
done
qemu-img convert -O vhdx src.raw ref.vhdx

bench_pair() { # name hv-cmd qemu-cmd: run alternately RUNS times each, outputs removed first
	name=$1; hv=$2; qm=$3
	: >h.t
	: >q.t
	# one warm-up run of each, not counted
	rm -f out.*; timed sh -c "$hv" >/dev/null
	rm -f out.*; timed sh -c "$qm" >/dev/null
	for r in $(seq "$RUNS"); do
		rm -f out.*; timed sh -c "$hv" >>h.t
		rm -f out.*; timed sh -c "$qm" >>q.t
	done
	h=$(median <h.t); [ -n "${VERBOSE:-}" ] && echo "  runs: hv-img $(tr "\n" " " <h.t) qemu $(tr "\n" " " <q.t)"
	q=$(median <q.t)
	printf '%-28s hv-img %6.3f s   qemu-img %6.3f s   speed ratio %.2fx\n' "$name" "$h" "$q" \
		"$(echo "$q / $h" | bc -l)"
}
bench_pair "convert raw -> vhdx" "$HV_IMG convert -O vhdx src.raw out.vhdx" \
	"qemu-img convert -O vhdx src.raw out.vhdx"
bench_pair "convert vhdx -> raw" "$HV_IMG convert -O raw ref.vhdx out.raw" \
	"qemu-img convert -O raw ref.vhdx out.raw"

# random 4 KiB I/O on a 1 GiB dynamic image with every block allocated
head -c 1G /dev/urandom >full.raw
qemu-img convert -O vhdx -o block_size=32M full.raw io.vhdx
rm -f full.raw
python3 - "$OPS" >ops.txt <<'PY'
import sys
s = 12345
n = int(sys.argv[1])
for i in range(n):
    s ^= (s << 13) & 0xFFFFFFFFFFFFFFFF; s ^= s >> 7; s ^= (s << 17) & 0xFFFFFFFFFFFFFFFF
    print((s % ((1 << 30) // 4096)) * 4096)
PY
awk '{print "write -P 90 " $1 " 4k"} END {print "flush"}' ops.txt >writes.qio
awk '{print "read " $1 " 4k"}' ops.txt >reads.qio
for kind in write read; do
	: >h.t
	: >q.t
	for r in $(seq "$RUNS"); do
		"$VHDX_IO" $kind io.vhdx "$OPS" 12345 >>h.t
		t=$(timed sh -c "qemu-io io.vhdx <${kind}s.qio")
		echo "$OPS / $t" | bc -l >>q.t
	done
	h=$(median <h.t); [ -n "${VERBOSE:-}" ] && echo "  runs: hv-img $(tr "\n" " " <h.t) qemu $(tr "\n" " " <q.t)"
	q=$(median <q.t)
	printf '%-28s hvkit %8.0f IOPS  qemu-io %8.0f IOPS  ratio %.2fx\n' "random 4 KiB $kind" \
		"$h" "$q" "$(echo "$h / $q" | bc -l)"
done
