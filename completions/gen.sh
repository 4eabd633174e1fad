#!/bin/sh
# Writes the bash or zsh completion for hvctl from the cmdlet table, as `hvctl --list-cmdlets`
# prints it (one line a cmdlet: the name, then its parameters).
#   gen.sh bash|zsh HVCTL > OUT
set -eu
shell=$1
table=$("$2" --list-cmdlets)
cmdlets=$(printf '%s\n' "$table" | awk '{ printf "%s ", $1 }')
cases=$(printf '%s\n' "$table" | awk '{ n = tolower($1); $1 = ""; sub(/^ /, ""); printf "\t%s) p=\"%s\" ;;\n", n, $0 }')

if [ "$shell" = bash ]; then
	cat <<EOT
# bash completion for hvctl; generated from its cmdlet table by completions/gen.sh.
_hvctl_params() {
	local p=""
	case "\$(printf '%s' "\$1" | tr '[:upper:]' '[:lower:]')" in
$cases
	esac
	printf '%s' "\$p"
}

_hvctl() {
	local cur prev word last="" w
	cur=\${COMP_WORDS[COMP_CWORD]}
	prev=\${COMP_WORDS[COMP_CWORD-1]}
	case "\$prev" in
	-o|--output) COMPREPLY=(\$(compgen -W "table list json jsonl csv" -- "\$cur")); return ;;
	-f|--file) COMPREPLY=(\$(compgen -f -- "\$cur")); return ;;
	-H|--host) COMPREPLY=(\$(compgen -W "unix:// ssh://" -- "\$cur")); return ;;
	esac
	# Inside a script given to -c: complete its last word as a cmdlet or a parameter.
	word=\${cur#[\\'\\"]}
	word=\${word##*[ |;(\{]}
	for w in \${COMP_LINE%"\$cur"} \$cur; do
		w=\${w#[\\'\\"]}
		case "\$w" in [A-Za-z]*-[A-Za-z]*) last=\$w ;; esac
	done
	if [ "\${word#-}" != "\$word" ] && [ -n "\$last" ] && [ "\$last" != "\$word" ]; then
		COMPREPLY=(\$(compgen -W "\$(_hvctl_params "\$last")" -- "\$word"))
	elif [ "\${cur#-}" != "\$cur" ]; then
		COMPREPLY=(\$(compgen -W "-H --host -c --command -f --file -o --output --bridge --socket --help --version" -- "\$cur"))
	else
		COMPREPLY=(\$(compgen -W "$cmdlets" -- "\$word"))
	fi
}
complete -F _hvctl hvctl
EOT
else
	cat <<EOT
#compdef hvctl
# zsh completion for hvctl; generated from its cmdlet table by completions/gen.sh.
_hvctl() {
	local -a cmdlets params
	local last p w
	cmdlets=($cmdlets)
	if [[ \$words[CURRENT-1] == (-o|--output) ]]; then
		compadd table list json jsonl csv; return
	fi
	for w in \${(z)BUFFER}; do
		w=\${w#[\\'\\"]}
		[[ \$w == [A-Za-z]##-[A-Za-z]## ]] && last=\$w
	done
	if [[ \$PREFIX == -* && -n \$last ]]; then
		case \${(L)last} in
$cases
		esac
		params=(\${=p})
		compadd -a params
	elif [[ \$PREFIX == -* ]]; then
		compadd -- -H --host -c --command -f --file -o --output --bridge --socket --help --version
	else
		compadd -a cmdlets
	fi
}
_hvctl "\$@"
EOT
fi
