#!/usr/bin/env bash
# Run every integration test (tests/integration/t_*.sh), or the ones named
# (run.sh t_portmap.sh ...); one summary line.
# Needs root: the tests build real network namespaces.
set -u
cd "$(dirname "$0")"
if [ "$(id -u)" -ne 0 ]; then
	echo "integration tests need root (network namespaces)" >&2
	exit 1
fi
pass=0 fail=0 failed=()
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(t_*.sh)
for t in "${tests[@]}"; do
	t=$(basename "$t")
	echo "== $t"
	if bash "$t"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed+=("$t")
	fi
done
left=$(ip netns list | awk '{print $1}' | grep '^ct[0-9]' || true)
if [ -n "$left" ]; then
	echo "FAILED: namespaces left behind: $left"
	fail=$((fail + 1))
fi
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
