#!/bin/bash
# Issue 10's measurements, side by side in one run:
#   Get-VM through SSH to localhost next to the local socket (hvctl end to end, 20 VMs)
#   Invoke-Command to two hosts next to one (two hvds behind two sshds)
# Medians of RUNS (default 11).  Needs openssh-server; runs sshd on 127.0.0.1 as root.
#   bench/remote.sh [BUILD_DIR] [RUNS]
set -eu
build=$(cd "${1:-build}" && pwd)
runs=${2:-11}
hvd=$build/daemon/hvd hvctl=$build/cli/hvctl
[ -x /usr/sbin/sshd ] || { echo "$0: needs openssh-server" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "$0: runs sshd as root" >&2; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/hvkit-bench-XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for s in a b; do kill "$(head -1 "$dir/$s/state/hvd.lock" 2>/dev/null)" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$dir/user_key"
cp "$dir/user_key.pub" "$dir/authorized_keys"
: > "$dir/known_hosts"
: > "$dir/ssh_config"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for s in a b; do
	p=$(port)
	cat > "$dir/sshd_$s" <<EOT
Port $p
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd_$s.pid
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
EOT
	/usr/sbin/sshd -D -f "$dir/sshd_$s" & pids+=($!)
	echo "[127.0.0.1]:$p $(cut -d' ' -f1,2 "$dir/host_key.pub")" >> "$dir/known_hosts"
	printf 'Host %s\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s/user_key\n  UserKnownHostsFile %s/known_hosts\n' \
		"$s" "$p" "$dir" "$dir" >> "$dir/ssh_config"
	mkdir -p "$dir/$s"
	"$hvd" --socket "$dir/$s/hvd.sock" --state-dir "$dir/$s/state"
	"$hvctl" -H "unix://$dir/$s/hvd.sock" -c 'foreach ($i in 1..20) { New-VM "vm$i" | Out-Null }'
done
sleep 0.5
export HVKIT_SSH_CONFIG=$dir/ssh_config HVKIT_REMOTE_HVCTL=$hvctl
A="ssh://a$dir/a/hvd.sock" B="ssh://b$dir/b/hvd.sock"

. "$(dirname "$0")/lib.sh"
local_t=$(time_cmd "$hvctl" -H "unix://$dir/a/hvd.sock" -c 'Get-VM')
ssh_t=$(time_cmd "$hvctl" -H "$A" -c 'Get-VM')
one=$(time_cmd "$hvctl" -H "unix://$dir/a/hvd.sock" -c "Invoke-Command -ComputerName $A -ScriptBlock { Get-VM }")
two=$(time_cmd "$hvctl" -H "unix://$dir/a/hvd.sock" -c "Invoke-Command -ComputerName $A,$B -ScriptBlock { Get-VM }")
awk -v l="$local_t" -v s="$ssh_t" -v o="$one" -v t="$two" -v n="$runs" 'BEGIN {
	printf "hvctl -c Get-VM (20 VMs), median of %d\n", n
	printf "  local socket         %8.2f ms\n  SSH to localhost     %8.2f ms\n  ratio ssh/local      %8.2f\n", l, s, s / l
	printf "Invoke-Command { Get-VM }, median of %d\n", n
	printf "  one host             %8.2f ms\n  two hosts            %8.2f ms\n  ratio two/one        %8.2f\n", o, t, t / o
}'
