# Shared by the benchmarks (sourced): timing in milliseconds, medians.
#   time_cmd CMD...   runs CMD $runs times (output dropped), prints the median in ms

now_ms() { date +%s%N | awk '{ printf "%.3f", $1 / 1e6 }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
time_cmd() {
	k=0
	while [ "$k" -lt "$runs" ]; do
		a=$(now_ms)
		"$@" > /dev/null
		b=$(now_ms)
		echo "$a $b" | awk '{ printf "%.3f\n", $2 - $1 }'
		k=$((k + 1))
	done | median
}
