#!/bin/sh
# hvguest must run in KVM's instruction emulator (DESIGN.md, Guests on these machines): no
# instruction the emulator lacks may appear in it, whatever the compiler decides. The one
# int3 is hvguest.crash=int3, there on purpose.
guest=${HVGUEST:-${top_builddir:-.}/hvcore/guest/hvguest}
command -v objdump >/dev/null 2>&1 || { echo "SKIP: objdump not found (binutils)"; exit 77; }
[ -f "$guest" ] || { echo "FAIL: $guest not found"; exit 1; }
insns=$(objdump -d --no-show-raw-insn "$guest" | awk -F'\t' 'NF >= 2 { print $2 }')
bad=$(printf '%s\n' "$insns" |
	grep -E '^(popcnt|cmpxchg16b|xsave|xrstor|clac|stac|fwait|wait|endbr|rdrand|rdseed)|%[xyz]mm' |
	sort | uniq -c)
if [ -n "$bad" ]; then
	echo "FAIL: hvguest uses instructions the emulator cannot run:"
	echo "$bad"
	exit 1
fi
n=$(printf '%s\n' "$insns" | grep -c '^int3')
if [ "$n" != 1 ]; then
	echo "FAIL: expected the one deliberate int3, found $n"
	exit 1
fi
echo "PASS: $(printf '%s\n' "$insns" | wc -l) instructions, none the emulator lacks"
