# bench/lib.sh - shared by the bench/NAME/run.sh scripts (sourced, not run).

# median [FMT]: the median of the numbers on stdin, one per line; for an
# even count the mean of the middle two, printed with FMT (default %.1f).
median() {
	sort -n | awk -v fmt="${1:-%.1f}" '{ a[NR] = $1 }
		END { if (NR % 2) print a[(NR + 1) / 2]; else printf fmt "\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# bench_record NAME [FILE]: replace the section between <!-- NAME:begin -->
# and <!-- NAME:end --> of bench/RESULTS.md (or FILE) with stdin, or append
# it; the other sections belong to the other benchmarks.
bench_record() {
	local name=$1 res=${2:-bench/RESULTS.md} body
	body=$(mktemp)
	{ echo "<!-- $name:begin -->"; cat; echo "<!-- $name:end -->"; } >"$body"
	[ -f "$res" ] || printf '# coop benchmark results\n\nWritten by `make bench`; each section by its bench/NAME/run.sh.\n' >"$res"
	if grep -q "^<!-- $name:begin -->" "$res" && grep -q "^<!-- $name:end -->" "$res"; then
		awk -v sec="$body" -v b="<!-- $name:begin -->" -v e="<!-- $name:end -->" '
			$0 == b { while ((getline l < sec) > 0) print l; skip = 1; next }
			$0 == e { skip = 0; next }
			!skip { print }' "$res" >"$res.new"
	else
		{ cat "$res"; echo; cat "$body"; } >"$res.new"
	fi
	mv "$res.new" "$res"
	rm -f "$body"
	echo "recorded in $res ($name)"
}
