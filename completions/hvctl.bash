# bash completion for hvctl.  The words come from `hvctl __complete LINE`, which reads
# hvctl's cmdlet table (cmdlets, parameters, values) and asks hvd for VM names.
_hvctl() {
	local cur prev i host=() script quote words w
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		-H|--host) host=(-H "${COMP_WORDS[i+1]}") ;;
		esac
	done
	case "$prev" in
	-o|--output) COMPREPLY=($(compgen -W "table list json jsonl csv" -- "$cur")); return ;;
	-f|--file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-H|--host) COMPREPLY=($(compgen -W "unix:// ssh://" -- "$cur")); return ;;
	-c|--command)
		# Inside the script: complete its last word, keep the rest as typed.
		quote=${cur%%[!\'\"]*}
		script=${cur#"$quote"}
		w=${script##*[[:space:]|;(\{]}
		mapfile -t words < <(hvctl "${host[@]}" __complete "$script" 2>/dev/null)
		COMPREPLY=()
		for i in "${words[@]}"; do
			COMPREPLY+=("$quote${script%"$w"}$i")
		done
		compopt -o nospace 2>/dev/null
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "-H --host -c --command -f --file -o --output --bridge --socket --help --version" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _hvctl hvctl
