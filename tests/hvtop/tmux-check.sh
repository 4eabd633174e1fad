#!/bin/sh
# hvtop in a real terminal: tmux at 80x24 against a private hvd.  Checks that the table lists
# the VMs with their states, that s starts the selected VM and T then y turns it off (as hvctl
# sees it afterwards), that the status line shows the hvctl command, the help and the
# detail view (with the running VM's VMBus channels and their rates), the heartbeat column,
# and that a resize redraws at the new size.  Skipped (77) without tmux, and
# the start/stop part without a usable /dev/kvm.
set -u

top=${top_builddir:-.}
hvd=$top/daemon/hvd
hvctl=$top/cli/hvctl
hvtop=$top/cli/hvtop

command -v tmux >/dev/null 2>&1 || { echo "SKIP: tmux is not installed"; exit 77; }
[ -x "$hvtop" ] || { echo "FAIL: no $hvtop (run from the build folder)"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/hvtop-tmux-XXXXXX")
sock=$dir/hvd.sock
tm="tmux -L hvtop-check-$$ -f /dev/null"
status=1

cleanup() {
	$tm kill-server >/dev/null 2>&1
	"$hvctl" -H "unix://$sock" -c 'Get-VM | Stop-VM -TurnOff' >/dev/null 2>&1
	[ -f "$dir/state/hvd.lock" ] && kill "$(cat "$dir/state/hvd.lock")" 2>/dev/null
	sleep 0.3
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*"
	echo "--- screen:"
	cat "$dir/screen" 2>/dev/null
	exit 1
}

capture() {
	$tm capture-pane -p -t check >"$dir/screen"
}

# Waits up to $2 tenths of a second for the screen to contain $1.
wait_screen() {
	i=0
	while [ "$i" -lt "$2" ]; do
		capture
		grep -q -- "$1" "$dir/screen" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

vm_state() {
	"$hvctl" -H "unix://$sock" -c "(Get-VM $1).State"
}

"$hvd" --socket "$sock" --state-dir "$dir/state" || fail "hvd did not start"
"$hvctl" -H "unix://$sock" -c 'New-VM alpha -MemoryStartupBytes 32MB; New-VM beta -MemoryStartupBytes 32MB; New-VM gamma -MemoryStartupBytes 32MB' >/dev/null ||
	fail "hvctl could not define the VMs"

$tm new-session -d -s check -x 80 -y 24 "env TERM=screen-256color LANG=C.UTF-8 $hvtop -H unix://$sock -d 0.5" ||
	fail "tmux did not start"
wait_screen 'gamma' 50 || fail "the table did not show up"
for vm in alpha beta gamma; do
	grep -q "^$vm  *Off " "$dir/screen" || fail "$vm is not listed as Off"
done
grep -q 'VMs: 3  running: 0' "$dir/screen" || fail "the title has not the counts"
[ "$(wc -l <"$dir/screen")" -eq 24 ] || fail "the screen is not 24 lines"

# Down to beta, details, back.
$tm send-keys -t check Down Enter
wait_screen 'MemoryStartup  *32 MB' 30 || fail "Enter did not show beta's details"
grep -q '^ beta ' "$dir/screen" || fail "the detail view is not beta's"
$tm send-keys -t check Escape
wait_screen 'Name  *State  *CPU%' 30 || fail "Esc did not come back to the table"
$tm send-keys -t check '?'
wait_screen 'packets/s sparkline' 30 || fail "? did not show the help"
$tm send-keys -t check x

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	$tm send-keys -t check s
	wait_screen "hvctl -c 'Start-VM beta'" 30 || fail "s did not show the hvctl command"
	wait_screen '^beta  *Running ' 600 || fail "beta did not show Running"
	[ "$(vm_state beta)" = Running ] || fail "hvctl does not see beta Running"
	# Three running partitions: the table shows each Running.
	"$hvctl" -H "unix://$sock" -c 'Start-VM alpha, gamma' >/dev/null || fail "hvctl could not start alpha and gamma"
	wait_screen 'running: 3' 600 || fail "the title does not count three running VMs"
	for vm in alpha beta gamma; do
		grep -q "^$vm  *Running " "$dir/screen" || fail "$vm is not listed as Running"
	done
	# The detail view: processors and the VMBus channels, with the heartbeat's traffic moving.
	$tm send-keys -t check Enter
	wait_screen 'Heartbeat  *Open  *[1-9][0-9]*/[1-9]' 600 || fail "the detail view shows no moving heartbeat channel"
	grep -q 'vCPU% 0:' "$dir/screen" || fail "the detail view shows no per-vCPU usage"
	grep -q 'Key-Value Pair Exchange' "$dir/screen" || fail "the detail view does not list every channel"
	$tm send-keys -t check Escape
	wait_screen '^beta  *Running .* OK ' 300 || fail "the table does not show beta's heartbeat OK"
	# C takes a checkpoint: hvctl sees it, and the Ckpt column counts it.
	$tm send-keys -t check C
	wait_screen "Checkpoint-VM beta'  (done)" 600 || fail "C did not checkpoint beta"
	[ "$("$hvctl" -H "unix://$sock" -c '(Get-VMCheckpoint -VMName beta).Count')" = 1 ] ||
		fail "hvctl does not see beta's checkpoint"
	wait_screen '^beta  *Running .* OK  *1 ' 50 || fail "the Ckpt column does not count beta's checkpoint"
	$tm send-keys -t check y  # y with no question pending does nothing
	$tm send-keys -t check T
	wait_screen 'Turn off beta at once' 30 || fail "T did not ask first"
	$tm send-keys -t check y
	wait_screen "Stop-VM beta -TurnOff'  (done)" 300 || fail "the turn-off did not finish"
	[ "$(vm_state beta)" = Off ] || fail "hvctl does not see beta Off"
	wait_screen 'beta is Off' 30 || fail "the events pane did not show beta Off"
	"$hvctl" -H "unix://$sock" -c 'Stop-VM alpha, gamma -TurnOff' >/dev/null
else
	echo "SKIP (start/stop part): /dev/kvm cannot be opened here"
fi

# Resize: a redraw at the new size, nothing left over from the old one.
$tm resize-window -t check -x 100 -y 30
sleep 0.5
capture
[ "$(wc -l <"$dir/screen")" -eq 30 ] || fail "the screen is not 30 lines after the resize"
head -n 1 "$dir/screen" | grep -q '^ hvtop ' || fail "no title after the resize"
grep -q '^ Events' "$dir/screen" || fail "no events pane after the resize"
grep -q '^?Help' "$dir/screen" || fail "no key bar after the resize"
$tm resize-window -t check -x 80 -y 24
sleep 0.5
capture
[ "$(grep -c '^alpha ' "$dir/screen")" -eq 1 ] || fail "alpha is not listed once after resizing back"

$tm send-keys -t check q
sleep 0.5
$tm has-session -t check 2>/dev/null && fail "q did not quit"
echo "PASS: hvtop in tmux"
status=0
exit $status
