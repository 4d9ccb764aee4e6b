#!/usr/bin/env bash
# Cluster benchmark: TCP connections broken per 1,000 when a node leaves and
# when it comes back, three coopd nodes with the XDP forwarder behind an
# ECMP router. The scenario is the integration test's
# (tests/integration/fwd_cluster.sh) with 1,000 held connections; every run
# also asserts that exactly the predicted connections broke. Medians of
# RUNS runs; rewrites the cluster section of bench/RESULTS.md.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
export B=${B:-build}
N=${COOP_BENCH_CONNS:-1000}
RUNS=${COOP_BENCH_RUNS:-5}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

. "$top/bench/lib.sh"
per1000() { awk -v a="$1" -v n="$2" 'BEGIN {printf "%.1f\n", a * 1000 / n}'; }

echo "cluster: $N connections, $RUNS runs"
for r in $(seq "$RUNS"); do
	# each run in its own shell: lib.sh's names and cleanup trap are per process
	bash -c '
		. "$0/tests/integration/lib.sh"
		. "$0/tests/integration/fwd_cluster.sh"
		fwc_setup
		fwc_scenario "$1"
		echo "figures $FWC_REMOVE_LOST $FWC_REMOVE_COLL $FWC_REMOVE_NOCACHE $FWC_REMOVE_NOFWD" \
			"$FWC_ADD_COLL $FWC_ADD_NOCACHE $FWC_ADD_NOFWD"
	' "$top" "$N" >"$T/run" 2>&1 || { cat "$T/run"; exit 1; }
	f=$(awk '$1 == "figures"' "$T/run")
	[ -n "$f" ] || { cat "$T/run"; exit 1; }
	read -r _ rl rc rnc rnf ac anc anf <<<"$f"
	for k in rl rc rnc rnf ac anc anf; do
		per1000 "${!k}" "$N" >>"$T/$k"
	done
	printf '  run %d: removal: %s lost with the node + %s collateral (table alone %s, router alone %s); addition: %s (table alone %s, router alone %s)\n' \
		"$r" "$rl" "$rc" "$rnc" "$rnf" "$ac" "$anc" "$anf"
done
for k in rl rc rnc rnf ac anc anf; do
	eval "m_$k=\$(median <\"\$T/\$k\")"
done
m_rt=$(awk -v a="$m_rl" -v b="$m_rc" 'BEGIN {printf "%.1f", a + b}')

section=$(cat <<MD
## XDP forwarder cluster: connections broken by node-set changes (issue 7)

Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); \`make bench\` (bench/cluster/run.sh), medians of $RUNS runs.

Three nodes (n1, n2, n3), each a coopd with the XDP forwarder on its uplink
(Maglev table of 65,537 entries, flow cache) and a VS serving the VIP with
echo, behind a router namespace with an ECMP route for the VIP (5-tuple
hash). A client holds $N TCP connections to the VIP; then n3 is removed
(from the router's route and from every node's forwarder with
\`coopctl fwd node remove n3\`), data is exchanged on every connection,
the client reopens what broke, n3 is added back, and data is exchanged
again. In every run the connections that broke are exactly those that
\`fwd lookup\` on the live maps predicted (the run fails otherwise).
Figures per 1,000 open connections:

| change | broken with coop's forwarder | table alone (no flow cache) | router alone (no forwarder) |
|---|---|---|---|
| remove n3: connections n3 held (lost with it) | $m_rl | | |
| remove n3: collateral (owner still in the set) | $m_rc | $(awk -v a="$m_rnc" -v b="$m_rl" 'BEGIN {printf "%.1f", a - b}') | |
| remove n3: total | $m_rt | $m_rnc | $m_rnf |
| add n3 back: collateral | $m_ac | $m_anc | $m_anf |

"Table alone": connections whose owner in the new Maglev table differs
from the node holding them (what a forwarder without a flow cache breaks).
"Router alone": connections the router now sends to another node (what
breaks when each node serves what it receives). The connections open
during the addition are the removal's survivors plus the ones reopened
while n3 was out, so none of them was placed on n3 before.

Removal: Maglev hands the removed node's entries to the others and leaves
theirs in place, so only n3's own connections break. Addition: n3 takes
back a third of the table; a connection breaks only when the router now
sends it to a node that never saw it (no flow-cache entry there) and the
new table names another node than the one holding it. The flow cache
halves the table's disruption; the other half would need state shared
between nodes, which this design has none of.
MD
)
printf '%s\n' "$section" | bench_record cluster "$top/bench/RESULTS.md"
echo "removal: $m_rt per 1,000 ($m_rl lost with n3, $m_rc collateral); addition: $m_ac per 1,000"
