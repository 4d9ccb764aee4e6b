#!/usr/bin/env bash
# pbr benchmarks (issue 3), both as ratios measured in the same run,
# alternating A,B,A,B... with medians:
#  1. programming N pbr VSes (addresses, tables, routes, the rule tree,
#     ingress marks, sysctls): coop_start from an INI vs `ip -batch`
#     installing the very objects coop installed (addresses, routes, rules
#     written out by coop in its own order);
#  2. unconnected marked UDP sends from a VS with N pbr VSes configured vs
#     with 1, for the VS whose packets walk the median number of rules and
#     for the worst one; the naive layout (two rules per VS) for reference.
# Rewrites its section of bench/RESULTS.md.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
bin="$top/$B/bench/pbr/pbr_bench"
N=${COOP_BENCH_VS:-1000}
RUNS=${COOP_BENCH_RUNS:-7}
SECS=${COOP_BENCH_SECS:-1}
P="cb$$"
T=$(mktemp -d)

cleanup() {
	local ns
	# coop's state in the UDP namespaces (left there on purpose), so that
	# its sysctl record in /run/coop goes too.
	for ns in "$P-one" "$P-many"; do
		[ -e "/run/netns/$ns" ] && "$bin" clear "$ns" 2>/dev/null
	done
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do ip netns del "$ns"; done
	rm -rf "$T"
}
trap cleanup EXIT

[ -x "$bin" ] || { echo "build first: make B=$B bench" >&2; exit 1; }
. "$top/bench/lib.sh"
nsx() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# mkns NAME [SINK] : a namespace with link v0; its peer v0p sits in SINK
# (up, forwarding off: it drops what it receives without answering) or, with
# no SINK, in the same namespace.
mkns() {
	local ns=$1 sink=${2:-$1}
	ip netns add "$ns"
	[ "$sink" = "$ns" ] || ip netns add "$sink"
	ip link add v0 netns "$ns" type veth peer name v0p netns "$sink"
	nsx "$ns" ip link set lo up
	nsx "$sink" ip link set lo up
	nsx "$sink" ip link set v0p up
	nsx "$ns" ip link set v0 up
}

# --- 1. programming -------------------------------------------------------------
echo "programming $N dual-stack pbr VSes: coop_start vs ip -batch of the same objects, $RUNS runs each"
mkns "$P-prog"
# clear: remove every coop-tagged rule and route, and every address on v0
# (iproute2 cannot tag addresses).
clear_prog() {
	"$bin" clear "$P-prog" 2>/dev/null || exit 1
	nsx "$P-prog" ip addr flush dev v0 scope global
}
# A first round writes coop's objects out for iproute2 (not counted).
"$bin" start "$P-prog" "$N" dual "$T/batch4" "$T/batch6" >"$T/warm" 2>"$T/log" || { cat "$T/log"; exit 1; }
objects=$(awk '{print $3}' "$T/warm")
: >"$T/coop"; : >"$T/stop"; : >"$T/ip"
for r in $(seq "$RUNS"); do
	"$bin" start "$P-prog" "$N" dual >"$T/out" 2>"$T/log" || { cat "$T/log"; exit 1; }
	awk '{print $1}' "$T/out" >>"$T/coop"
	awk '{print $2}' "$T/out" >>"$T/stop"
	t0=$(date +%s%N)
	nsx "$P-prog" ip -batch "$T/batch4" && nsx "$P-prog" ip -6 -batch "$T/batch6" || exit 1
	t1=$(date +%s%N)
	echo "$(( (t1 - t0) / 100000 ))" | awk '{printf "%.1f\n", $1 / 10}' >>"$T/ip"
	clear_prog
	printf '  run %d: coop %s ms (stop %s ms), ip -batch %s ms\n' "$r" "$(tail -1 "$T/coop")" \
		"$(tail -1 "$T/stop")" "$(tail -1 "$T/ip")"
done
coop_ms=$(median <"$T/coop"); stop_ms=$(median <"$T/stop"); ip_ms=$(median <"$T/ip")
ratio_prog=$(awk -v a="$coop_ms" -v b="$ip_ms" 'BEGIN {printf "%.2f", a / b}')
lines4=$(wc -l <"$T/batch4"); lines6=$(wc -l <"$T/batch6")
n_rules=$(( $(grep -c '^rule' "$T/batch4") + lines6 ))
echo "coop $coop_ms ms, ip -batch $ip_ms ms, ratio $ratio_prog ($objects objects, $n_rules rules)"
ip netns del "$P-prog"

# --- 2. per-packet cost -----------------------------------------------------------
echo "unconnected marked UDP sends: $N pbr VSes vs 1, $RUNS runs of ${SECS}s each"
read -r med worst med_rules worst_rules < <("$bin" pick "$N")
mkns "$P-one" "$P-one-s"
mkns "$P-many" "$P-many-s"
mkns "$P-naive" "$P-naive-s"
"$bin" program "$P-one" 1 >/dev/null 2>"$T/log" || { cat "$T/log"; exit 1; }
"$bin" program "$P-many" "$N" >/dev/null 2>"$T/log" || { cat "$T/log"; exit 1; }
"$bin" naive "$N" "$T/naive"
nsx "$P-naive" ip link set v0 up
nsx "$P-naive" ip -batch "$T/naive" || exit 1
# The sinks answer ARP for the gateways of the VSes that send.
gw() { echo "198.18.$(( 16 + $1 / 64 )).$(( $1 % 64 * 4 + 2 ))/30"; }
nsx "$P-one-s" ip addr add "$(gw 0)" dev v0p
for i in "$med" "$worst"; do
	nsx "$P-many-s" ip addr add "$(gw "$i")" dev v0p 2>/dev/null
	nsx "$P-naive-s" ip addr add "$(gw "$i")" dev v0p 2>/dev/null
done
# One process alternates bursts between the 1-VS and the N-VS socket and
# times them with its CPU clock: load from elsewhere on a shared machine
# hits both alike. Each run gives the median ratio over its burst pairs.
: >"$T/pmed"; : >"$T/pworst"; : >"$T/pnaive"
for r in $(seq "$RUNS"); do
	taskset -c 1 "$bin" pair "$P-one" 1 0 "$P-many" "$N" "$med" "$SECS" >>"$T/pmed" || exit 1
	taskset -c 1 "$bin" pair "$P-one" 1 0 "$P-many" "$N" "$worst" "$SECS" >>"$T/pworst" || exit 1
	taskset -c 1 "$bin" pair "$P-one" 1 0 "$P-naive" "$N" "$med" "$SECS" >>"$T/pnaive" || exit 1
	printf '  run %d: 1 VS %s/s vs %d VSes median VS %s/s (%s), worst VS %s/s (%s); naive %s/s (%s)\n' \
		"$r" "$(tail -1 "$T/pmed" | cut -d' ' -f1)" "$N" \
		"$(tail -1 "$T/pmed" | cut -d' ' -f2)" "$(tail -1 "$T/pmed" | cut -d' ' -f3)" \
		"$(tail -1 "$T/pworst" | cut -d' ' -f2)" "$(tail -1 "$T/pworst" | cut -d' ' -f3)" \
		"$(tail -1 "$T/pnaive" | cut -d' ' -f2)" "$(tail -1 "$T/pnaive" | cut -d' ' -f3)"
done
u1=$(cut -d' ' -f1 "$T/pmed" | median); umed=$(cut -d' ' -f2 "$T/pmed" | median)
uworst=$(cut -d' ' -f2 "$T/pworst" | median); unaive=$(cut -d' ' -f2 "$T/pnaive" | median)
r_med=$(cut -d' ' -f3 "$T/pmed" | median); r_worst=$(cut -d' ' -f3 "$T/pworst" | median)
r_naive=$(cut -d' ' -f3 "$T/pnaive" | median)
# A wall-clock cross-check, alternating processes as well.
: >"$T/w1"; : >"$T/wmed"
for r in $(seq 3); do
	taskset -c 1 "$bin" udp "$P-one" 1 0 "$SECS" >>"$T/w1" || exit 1
	taskset -c 1 "$bin" udp "$P-many" "$N" "$med" "$SECS" >>"$T/wmed" || exit 1
done
w1=$(median <"$T/w1"); wmed=$(median <"$T/wmed")
r_wall=$(awk -v a="$wmed" -v b="$w1" 'BEGIN {printf "%.2f", a / b}')
echo "1 VS $u1/s; $N VSes: median VS $umed/s ($r_med), worst VS $uworst/s ($r_worst); naive $unaive/s ($r_naive); wall clock: $w1/s vs $wmed/s ($r_wall)"

section=$(cat <<MD
## PBR isolation at scale (issue 3)

Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); \`make bench\` (bench/pbr/run.sh), medians of $RUNS runs, alternating.

| figure | coop | alternative, same run | ratio | goal |
|---|---|---|---|---|
| programming $N dual-stack pbr VSes: $objects objects ($((N * 2)) addresses, $((N * 4)) routes in $N tables, $n_rules rules) plus the ingress map and sysctls | coop_start from INI: $coop_ms ms (stop: $stop_ms ms) | \`ip -batch\` of the same addresses, routes and rules, in coop's order: $ip_ms ms | $ratio_prog | ≤ 1.0 |
| unconnected marked UDP sends (16 B) per CPU second from a VS, $N pbr VSes configured vs 1 (the VS whose packets walk the median number of rules: $med_rules); bursts of 2,000 alternating in one process, median of burst ratios | $umed /s | 1 VS configured: $u1 /s | $r_med | ≥ 0.8 |
| the same, VS with the longest walk ($worst_rules rules) | $uworst /s | 1 VS configured: $u1 /s | $r_worst | |
| for reference: naive layout, two rules per VS (\`from ADDR\`, \`fwmark M\`), same median VS | $unaive /s | 1 VS configured: $u1 /s | $r_naive | |
| cross-check, wall clock, whole-second runs alternating (noisy on a shared machine) | $wmed /s | $w1 /s | $r_wall | |
MD
)
printf '%s\n' "$section" | bench_record pbr "$top/bench/RESULTS.md"
