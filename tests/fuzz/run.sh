#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS FUZZER... - run each libFuzzer binary over its
# seeds (tests/fuzz/corpus/NAME) and then for SECONDS more, growing a work
# corpus under the build directory; fails on the first crash, leak or
# sanitizer report, and names the input that caused it.
set -u
cd "$(dirname "$0")/../.."
secs=$1
shift
fail=0
for bin in "$@"; do
	name=$(basename "$bin" _fuzz)
	seeds=tests/fuzz/corpus/$name
	work=$(dirname "$bin")/corpus/$name
	arts=$(dirname "$bin")/artifacts/$name/
	mkdir -p "$work" "$arts"
	log=$(dirname "$bin")/$name.log
	# every seed, then fuzzing from seeds and what earlier runs found
	if ! "$bin" -runs=0 "$seeds" >"$log" 2>&1 ||
		! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix="$arts" -print_final_stats=1 "$work" "$seeds" >>"$log" 2>&1; then
		echo "fuzz: $name FAILED; input: $(ls -t "$arts" 2>/dev/null | head -1 | sed "s|^|$arts|"); log: $log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5
		fail=1
		continue
	fi
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	echo "fuzz: $name ok: $(ls "$seeds" | wc -l) seeds, ${execs:-0} runs in ${secs}s, $cov"
done
exit $fail
