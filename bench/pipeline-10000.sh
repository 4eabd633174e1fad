#!/bin/sh
# Issue 12's targets with 10,000 defined VMs:
#   hvctl -c 'Get-VM | Where-Object State -eq Off | Measure-Object'   under 150 ms
#   hvctl -c '1' (start-up)                                             under 10 ms
# Medians over RUNS runs.  pwsh, the peer, is not packaged for Debian: the ratios printed
# are to the targets.  The filter is evaluated by hvd (one VM.List request, checked in
# hvd's debug log).
#   bench/pipeline-10000.sh [BUILD_DIR] [RUNS] [VMS]
set -eu
build=${1:-build}
runs=${2:-21}
vms=${3:-10000}
hvd="$build/daemon/hvd"
hvctl="$build/cli/hvctl"
dir=$(mktemp -d "${TMPDIR:-/tmp}/hvkit-bench-XXXXXX")
trap 'kill $(head -1 "$dir/state/hvd.lock" 2>/dev/null) 2>/dev/null; rm -rf "$dir"' EXIT

"$hvd" --socket "$dir/hvd.sock" --state-dir "$dir/state" --log-level debug
export HVKIT_HOST="unix://$dir/hvd.sock"

. "$(dirname "$0")/lib.sh"

# Half the VMs get 2 processors, so that a filter has something to drop.
awk -v n="$vms" 'BEGIN { for (i = 0; i < n; i++) printf "New-VM vm%05d -ProcessorCount %d | Out-Null\n", i, 1 + i % 2 }' > "$dir/define.ps1"
t0=$(now_ms)
"$hvctl" -f "$dir/define.ps1"
t1=$(now_ms)
echo "defined $vms VMs in $(echo "$t0 $t1" | awk '{ printf "%.0f ms", $2 - $1 }')"

out=$("$hvctl" -c 'Get-VM | Where-Object State -eq Off | Measure-Object | Select-Object -ExpandProperty Count')
[ "$out" = "$vms" ] || { echo "expected $vms, got $out" >&2; exit 1; }
before=$(grep -c 'call VM.List' "$dir/state/hvd.log" || true)
"$hvctl" -c 'Get-VM | Where-Object ProcessorCount -eq 2 | Measure-Object' > /dev/null
after=$(grep -c 'call VM.List' "$dir/state/hvd.log" || true)
echo "requests for Get-VM | Where-Object ... | Measure-Object: $((after - before))"

m=$(time_cmd "$hvctl" -c 'Get-VM | Where-Object State -eq Off | Measure-Object')
half=$(time_cmd "$hvctl" -c 'Get-VM | Where-Object ProcessorCount -eq 2 | Measure-Object')
block=$(time_cmd "$hvctl" -c 'Get-VM | Where-Object { $_.State -eq "Off" } | Measure-Object')
one=$(time_cmd "$hvctl" -c '1')
echo "Get-VM | Where-Object State -eq Off | Measure-Object, $vms VMs: median $m ms (target 150 ms, ratio $(echo "$m" | awk '{ printf "%.2f", $1 / 150 }'))"
echo "  the same keeping half (filter dropped half in hvd): median $half ms"
echo "  the same with a script block (filtered in hvctl): median $block ms"
echo "hvctl -c '1': median $one ms (target 10 ms, ratio $(echo "$one" | awk '{ printf "%.2f", $1 / 10 }'))"
