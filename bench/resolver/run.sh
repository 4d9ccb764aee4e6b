#!/usr/bin/env bash
# Resolver benchmarks: lookups per second with N VSes resolving at once,
# each through its own c-ares channel with sockets in its own namespace,
# against one shared channel doing the same lookups (same run, alternating,
# medians); and the latency of a cache hit and of a lookup answered by the
# server. One dnsmasq in a "server" namespace; the VS namespaces reach it
# over veth pairs on a bridge. Rewrites its section of bench/RESULTS.md.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
bin="$top/$B/bench/resolver/resolver_bench"
N=${COOP_BENCH_RES_VS:-100}
RUNS=${COOP_BENCH_RUNS:-9}
LOOKUPS=${COOP_BENCH_RES_LOOKUPS:-30000}
CONC=${COOP_BENCH_RES_CONC:-1}
P="cr$$"
T=$(mktemp -d)
dnsmasq_pid=

cleanup() {
	[ -n "$dnsmasq_pid" ] && kill "$dnsmasq_pid" 2>/dev/null
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do ip netns del "$ns"; done
	rm -rf "$T"
}
trap cleanup EXIT

. "$top/bench/lib.sh"

[ -x "$bin" ] || { echo "build $bin first (make bench)" >&2; exit 1; }
command -v dnsmasq >/dev/null || { echo "dnsmasq missing (dnsmasq-base)" >&2; exit 1; }

# Topology, in one ip -batch: server namespace with a bridge, N VS
# namespaces each with a veth into the bridge, 198.18.0.0/16.
ip netns add "$P-srv"
ip -n "$P-srv" link set lo up
ip -n "$P-srv" link add br0 type bridge
ip -n "$P-srv" addr add 198.18.0.1/16 dev br0
ip -n "$P-srv" link set br0 up
{
	for i in $(seq 0 $((N - 1))); do
		echo "netns add $P-$i"
	done
} | ip -batch - || exit 1
{
	for i in $(seq 0 $((N - 1))); do
		echo "link add v$i netns $P-$i type veth peer name p$i netns $P-srv"
	done
} | ip -batch - || exit 1
{
	for i in $(seq 0 $((N - 1))); do
		echo "link set p$i master br0 up"
	done
} | ip -n "$P-srv" -batch - || exit 1
for i in $(seq 0 $((N - 1))); do
	printf 'link set lo up\nlink set v%d up\naddr add 198.18.%d.%d/16 dev v%d\n' \
		"$i" $((1 + i / 250)) $((1 + i % 250)) "$i" | ip -n "$P-$i" -batch - || exit 1
done

nsenter --net="/run/netns/$P-srv" dnsmasq --no-daemon --no-resolv --no-hosts \
	--keep-in-foreground --port 53 --listen-address=198.18.0.1 --bind-interfaces \
	--address=/bench.test/198.18.200.1 --local-ttl=300 --cache-size=0 --pid-file= \
	--log-facility="$T/dnsmasq.log" 2>"$T/dnsmasq.err" &
dnsmasq_pid=$!
for _ in $(seq 50); do
	nsenter --net="/run/netns/$P-0" dig +short +time=1 +tries=1 @198.18.0.1 x.bench.test 2>/dev/null |
		grep -q 198.18.200.1 && break
	sleep 0.1
done
nsenter --net="/run/netns/$P-$((N - 1))" dig +short +time=1 +tries=1 @198.18.0.1 x.bench.test |
	grep -q 198.18.200.1 || { echo "dnsmasq not reachable from the VS namespaces" >&2; cat "$T/dnsmasq.err" >&2; exit 1; }

echo "lookups/s: $N VSes, each its own channel in its own namespace, vs one shared channel ($RUNS rounds of $LOOKUPS, $CONC in flight per VS)"
# UDP datagrams the kernel dropped for a full receive buffer, in every
# namespace of the run: a lookup whose answer was dropped waits for its
# retry timeout, which measures buffer sizes rather than resolvers.
drops() {
	local ns sum=0 n
	for ns in "$P-srv" $(seq -f "$P-%g" 0 $((N - 1))); do
		n=$(ip netns exec "$ns" awk '/^Udp:/ {if (h) {print $6; exit} h=1}' /proc/net/snmp)
		sum=$((sum + n))
	done
	echo "$sum"
}
d0=$(drops)
"$bin" rate "$P" "$N" 198.18.0.1 "$LOOKUPS" "$CONC" "$RUNS" >"$T/rate" || exit 1
dropped=$(( $(drops) - d0 ))
[ "$dropped" -eq 0 ] || echo "warning: $dropped UDP datagrams dropped (receive buffers full); lower COOP_BENCH_RES_CONC" >&2
awk '{printf "  %s %s/s, %s us CPU/lookup\n", $1, $2, $3}' "$T/rate"
pervs=$(awk '$1 == "pervs" {print $2}' "$T/rate" | median)
shared=$(awk '$1 == "shared" {print $2}' "$T/rate" | median)
# Back-to-back pairs share the machine's load of the moment: the median of
# the per-round ratios is steadier than the ratio of the medians.
ratio=$(awk '$1 == "pervs" {a = $2} $1 == "shared" {printf "%.3f\n", a / $2}' "$T/rate" | median)
ratio_med=$(awk -v a="$pervs" -v b="$shared" 'BEGIN {printf "%.3f", a / b}')
cpu_pervs=$(awk '$1 == "pervs" {print $3}' "$T/rate" | median)
cpu_shared=$(awk '$1 == "shared" {print $3}' "$T/rate" | median)
cpu_ratio=$(awk -v a="$cpu_pervs" -v b="$cpu_shared" 'BEGIN {printf "%.3f", a / b}')
echo "per-VS $pervs/s, shared $shared/s (ratio of medians $ratio_med), median per-round ratio $ratio; client CPU per lookup $cpu_pervs us vs $cpu_shared us"

echo "latency: cache hit and server round trip, $RUNS rounds"
"$bin" latency "$P" 198.18.0.1 1000000 "$RUNS" >"$T/lat" || exit 1
hit=$(awk '$1 == "hit" {print $2}' "$T/lat" | median)
miss=$(awk '$1 == "miss" {print $2}' "$T/lat" | median)
echo "cache hit $hit ns, server round trip $miss us"

section=$(cat <<MD
## Per-VS resolvers (issue 5)

Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); \`make bench\` (bench/resolver/run.sh), medians of $RUNS rounds, alternating in one process on one thread and loop. One dnsmasq ($(dnsmasq --version | awk 'NR==1 {print $3}'), \`--cache-size=0\`) in its own namespace; $N VS namespaces reach it over veth pairs on a bridge. Lookups are A lookups of distinct names with the cache bypassed (\`COOP_RESOLVER_F_NOCACHE\`), $CONC in flight per VS; UDP datagrams dropped for full receive buffers during the runs: $dropped (with more in flight, drops and 2 s retries dominate both sides and measure socket buffers, not resolvers).

| figure | coop | alternative, same run | ratio | goal |
|---|---|---|---|---|
| lookups/s, $N VSes resolving at once, each its own channel and namespace | $pervs /s | one shared channel in one namespace, same lookups and concurrency ($((N * CONC)) in flight): $shared /s | $ratio (median of per-round ratios; of medians: $ratio_med) | ≥ 0.9 |
| client CPU per lookup (user + system), same runs | $cpu_pervs µs | shared channel: $cpu_shared µs | $cpu_ratio | |
| cache hit (\`coop_resolver_resolve\` to callback, answered before it returns) | $hit ns | | | |
| lookup answered by the server, one at a time (through the VS namespace) | $miss µs | | | |
MD
)
printf '%s\n' "$section" | bench_record resolver "$top/bench/RESULTS.md"
