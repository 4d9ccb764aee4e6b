#!/usr/bin/env bash
# bench/xdp/run.sh - XDP forwarder figures (make bench builds them): ns per packet under test_run, packets per second on veth against the kernel's forwarding; records them in bench/RESULTS.md.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
B=${B:-build}
bin=$B/bench/xdp/xdp_bench
for f in "$bin" "$B/fwd/bpf/coop_xdp.bpf.o" "$B/fwd/bpf/xdp_pass.bpf.o" "$B/fwd/bpf/xdp_bench.bpf.o"; do
	if [ ! -e "$f" ]; then
		echo "bench/xdp: $f is missing: run 'make bench' (or make B=$B $f)" >&2
		exit 1
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "bench/xdp: needs root (BPF programs, a network namespace); skipped" >&2
	exit 0
fi
rounds=${XDP_BENCH_ROUNDS:-9}
loop_rounds=${XDP_BENCH_LOOP_ROUNDS:-7}
inflight=${XDP_BENCH_INFLIGHT:-192}
loop_ms=${XDP_BENCH_LOOP_MS:-1000}
tmp=$(mktemp -d)
ns=ct$$-xb
cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# 1. ns per packet: the program and its calibration, same run
"$bin" ns "$rounds" 2000 | tee "$tmp/ns.txt"

# 1b. optionally against an earlier build, in the same session and the
# same processes (these machines' speed moves by more than the figures do
# between recordings, even between two processes run one after the other):
# XDP_BENCH_BASE is a directory holding that build's fwd/bpf/coop_xdp.bpf.o
# (built from its own coop_xdp.h), XDP_BENCH_BASE_NAME what to call it.
# xdp_bench ab alternates the two within every round; the program loaded
# first runs slower there (by about 10 % with the same object twice), so
# each of XDP_BENCH_AB pairs of runs loads one build first, then the other,
# and the ratio is the geometric mean of the two orders' medians.
base=${XDP_BENCH_BASE:-}
if [ -n "$base" ]; then
	[ -e "$base/fwd/bpf/coop_xdp.bpf.o" ] ||
		{ echo "bench/xdp: XDP_BENCH_BASE: $base/fwd/bpf/coop_xdp.bpf.o is missing" >&2; exit 1; }
	for _ in $(seq "${XDP_BENCH_AB:-3}"); do
		"$bin" ab "$base/fwd/bpf/coop_xdp.bpf.o" 9 | sed 's/^/this-first /' | tee -a "$tmp/ab.txt"
		"$bin" ab "$base/fwd/bpf/coop_xdp.bpf.o" 9 other-first | sed 's/^/other-first /' |
			tee -a "$tmp/ab.txt"
	done
fi

# 2. packets per second. One namespace: veth gA-fA carries the frames to
# the forwarder (fA) and, with XDP, the encapsulated packets back; the
# kernel forwards out of fB to gB. Bouncers on gA and gB send every frame
# in again (xdp_bench loop). Interface names are unique and short enough
# for the NAPI thread's name.
gA=x$$gA fA=x$$fA gB=x$$gB fB=x$$fB
ip netns add "$ns"
# no IPv6: its neighbour discovery would enter the loop too
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$ns" link add "$gA" type veth peer name "$fA"
ip -n "$ns" link add "$gB" type veth peer name "$fB"
for l in lo "$gA" "$fA" "$gB" "$fB"; do ip -n "$ns" link set "$l" up; done
ip -n "$ns" addr add 198.18.1.1/24 dev "$fA"
ip -n "$ns" addr add 198.18.2.1/24 dev "$fB"
ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 "net.ipv4.conf.$fA.rp_filter=0"
gbmac=$(ip -n "$ns" link show "$gB" | awk '/link\/ether/ { print $2 }')
ip -n "$ns" neigh add 198.18.2.2 lladdr "$gbmac" dev "$fB" nud permanent
ip -n "$ns" route add 198.19.0.1/32 via 198.18.2.2 dev "$fB"
ip netns exec "$ns" "$bin" loop "$gA" "$fA" "$fB" "$gB" "$loop_rounds" "$inflight" "$loop_ms" | tee "$tmp/loop.txt"

# key=value field of the first line matching a pattern
val() {
	awk -v pat="$2" -v key="$3" '$0 ~ pat {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) { print kv[2]; exit } }
	}' "$1"
}
row() {
	local c=$1
	echo "| $2 | $(val "$tmp/ns.txt" "case=$c " net_ns) | $(val "$tmp/ns.txt" "case=$c " warm_ns) | $(val "$tmp/ns.txt" "case=$c " warm_calib_ns) | $(val "$tmp/ns.txt" "case=$c " cold_net_ns) | $3 |"
}
# ab FIELD ORDER CASE FMT: median (FMT) over the A/B runs of one order
# ("this-first", "other-first", or "any") of a field of a case
ab() {
	local order=$2
	[ "$order" = any ] && order='[a-z-]*'
	grep "^$order ab case=$3 " "$tmp/ab.txt" | sed "s/.* $1=\([0-9.]*\).*/\1/" | median "$4"
}
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
one() { val "$tmp/loop.txt" "layout=one " "$1"; }
two() { val "$tmp/loop.txt" "layout=two " "$1"; }
# Was the XDP figure the forwarder's limit, not the loop's? Its CPU was
# saturated when its NAPI thread ran nearly all along.
verdict=$(awk -v busy="$(two xdp_busy)" -v kbusy="$(two kernel_busy)" -v r="$(two ratio)" -v f="$(one fwd_ratio)" -v e="$(one ratio)" 'BEGIN {
	if (busy >= 90 && kbusy >= 90)
		s = sprintf("Both figures are the forwarder'"'"'s own limit: its CPU was busy %d%% (XDP) and %d%% (kernel) of the run.", busy, kbusy)
	else
		s = sprintf("Not both figures are the forwarder'"'"'s limit: its CPU was busy only %d%% (XDP) and %d%% (kernel) of the run.", busy, kbusy)
	m = r >= 3 ? "met" : "not met"
	s = s sprintf(" Goal >= 3x: %s (%.2fx).", m, r)
	print s
}')

{
	echo "## XDP forwarder (fwd/bpf/coop_xdp.bpf.c)"
	echo
	echo "Recorded $(date -u '+%Y-%m-%d %H:%M UTC') by \`make bench\` (bench/xdp/run.sh) on Linux $(uname -r), $(nproc) CPUs, ${cpu}."
	echo
	echo "### ns per packet under bpf_prog_test_run"
	echo
	echo "128-byte TCP/IPv4 frames; 4 nodes, Maglev table M = 65,537. **Warm**: one test_run of"
	echo "$(val "$tmp/ns.txt" "case=cached_local " runs) repetitions (262,144 for new flows), in front of the program a replayer"
	echo "(fwd/bpf/xdp_bench.bpf.c) that restores the frame before every repetition (test_run does not: an encapsulated"
	echo "packet would take another path the next time) and tail-calls it; the calibration row is the same replayer in front of"
	echo "xdp_pass.bpf.o, so **net** = program - calibration. **Cold**: one run per test_run call, 2,000 calls, median, minus"
	echo "xdp_pass measured the same way (caches cooled by the syscall each time). Medians of $(val "$tmp/ns.txt" '^calib' rounds)"
	echo "rounds alternating program and calibration. Every measured run was checked: verdict, the encapsulated bytes, and"
	echo "the counters (e.g. +N tx_encap and +N flow_hit for N runs). test_run's own cost per repetition (xdp_pass, no"
	echo "replayer): $(val "$tmp/ns.txt" '^calib' plain_pass_ns) ns."
	echo
	echo "| path | net ns | warm ns | calibration ns | cold net ns | goal |"
	echo "|---|---|---|---|---|---|"
	row cached_local "cached TCP flow, owned here (XDP_PASS)" "-"
	row cached_encap "cached TCP flow, encapsulated to another node (GUE, XDP_TX)" "<= 100"
	row new_flow_syn "new flow (SYN): table, insert with LRU eviction, encapsulation" "<= 250"
	row non_vip "non-VIP packet (XDP_PASS)" "-"
	echo
	echo "The calibration column is the machine's own speed at the time: compare net figures of two"
	echo "recordings only as far as their calibrations agree."
	if [ -n "$base" ]; then
		echo
		echo "**Against ${XDP_BENCH_BASE_NAME:-an earlier build}, same session**: \`xdp_bench ab\` loads both programs"
		echo "and measures them alternately within every round (warm, as above, each against the same calibration"
		echo "run), 9 rounds a run, ${XDP_BENCH_AB:-3} runs with each build loaded first (the first loaded runs about 10 % slower"
		echo "here whatever it is). Net ns: medians over all runs; ratio: geometric mean of the two orders' median"
		echo "per-round ratios."
		echo
		echo "| path | this build, net ns | ${XDP_BENCH_BASE_NAME:-earlier build}, net ns | this / earlier |"
		echo "|---|---|---|---|"
		for c in cached_local cached_encap new_flow_syn non_vip; do
			echo "| $c | $(ab this_ns any "$c" %.1f) | $(ab other_ns any "$c" %.1f) | $(awk \
				-v a="$(ab ratio this-first "$c" %.3f)" -v b="$(ab ratio other-first "$c" %.3f)" \
				'BEGIN { printf "%.3f", sqrt(a * b) }') |"
		done
	fi
	echo
	echo "### Forwarded packets per second on veth"
	echo
	echo "A closed loop of veths in one namespace: $(val "$tmp/loop.txt" '^loop' inflight) copies of a 128-byte frame of one cached TCP flow"
	echo "circulate from veth gA to fA, the forwarder's veth, and back. **XDP**: coop_xdp on fA encapsulates (GUE) and"
	echo "transmits back to gA. **Kernel**: xdp_pass on fA, then the kernel's IPv4 forwarding (route, neighbour, TTL) out"
	echo "of fB to gB. **Reflector**: XDP_TX on fA, frame unchanged, back to gA. Where the frames come back, a bouncer"
	echo "(xdp_bench_bounce on gA and gB) restores the original headers and sends the frame in again (from gB, redirected"
	echo "to gA). Mpps = frames the bouncers sent in, per second, over $(val "$tmp/loop.txt" '^loop' ms) ms after a 200 ms settling time. Each run"
	echo "is checked: when stopped, every frame put in comes back (none lost); every packet that reached coop_xdp was"
	echo "encapsulated (no other verdict counter moved), exactly once per trip; nothing dropped on fB; the bounces ran"
	echo "on the CPU the layout says. Medians of $(one rounds) rounds, each: XDP, kernel, reflector with two CPUs, then"
	echo "the same with one CPU; ratios are per round."
	echo
	echo "**Two CPUs** (the headline): every veth's NAPI in a kernel thread; fA's pinned to CPU $(val "$tmp/loop.txt" '^loop' fwd_cpu), so that CPU does the"
	echo "forwarder's work only (veth receive, the XDP program or the kernel's stack, the transmission), as on a node"
	echo "receiving from a wire; the bouncers' threads pinned to CPU $(val "$tmp/loop.txt" '^loop' bounce_cpu). **Forwarder CPU** is the CPU time of"
	echo "fA's NAPI thread (the scheduler's account) per frame, and its share of the run's time. A transmission that"
	echo "finds the bouncer's thread asleep wakes it across CPUs (paid by the forwarder): XDP_TX hands over a NAPI poll's"
	echo "batch at once, the kernel's veth transmission each packet as it goes, hence **bouncer wake-ups** per 1,000 frames."
	echo
	echo "| path | Mpps through the loop | forwarder CPU, ns/packet | forwarder CPU busy | bouncer wake-ups per 1,000 |"
	echo "|---|---|---|---|---|"
	echo "| XDP forwarder (encapsulate + XDP_TX) | $(two xdp_mpps) | $(two xdp_cpu_ns) | $(two xdp_busy)% | $(two xdp_wakes) |"
	echo "| kernel IPv4 forwarding | $(two kernel_mpps) | $(two kernel_cpu_ns) | $(two kernel_busy)% | $(two kernel_wakes) |"
	echo "| reflector: the loop without forwarding | $(two reflect_mpps) | $(two reflect_cpu_ns) | $(two reflect_busy)% | $(two reflect_wakes) |"
	echo "| **XDP / kernel** | **$(two ratio)x** (rounds: $(two ratio_min)x to $(two ratio_max)x) | $(awk -v a="$(two kernel_cpu_ns)" -v b="$(two xdp_cpu_ns)" 'BEGIN { printf "%.2fx", a / b }') | - | - |"
	echo
	echo "$verdict The kernel's figure in this layout moves most from run to run on these virtual machines, with"
	echo "its wake-ups of the bouncer's CPU."
	echo
	echo "**One CPU**: veth's default, NAPI in the softirq of the CPU that scheduled it, so the whole loop (bouncers,"
	echo "veths, forwarder) runs on CPU $(val "$tmp/loop.txt" '^loop' bounce_cpu), with no hand-off between CPUs. **Forwarding alone** is the time per"
	echo "packet above the reflector's: the forwarder's work less veth receive and XDP_TX, which the reflector pays too."
	echo "End to end, the loop's own cost (the reflector row, $(awk -v r="$(one reflect_mpps)" 'BEGIN { printf "%.0f", 1000 / r }') ns per frame) is paid by every path on the"
	echo "same CPU, so that ratio stays below the forwarding one: $(one ratio)x end to end$(awk -v e="$(one ratio)" 'BEGIN { if (e < 3) printf ", below 3x" }'), $(one fwd_ratio)x for the forwarding."
	echo
	echo "| path | Mpps through the loop | forwarding alone, ns/packet |"
	echo "|---|---|---|"
	echo "| XDP forwarder (encapsulate + XDP_TX) | $(one xdp_mpps) | $(one xdp_fwd_ns) |"
	echo "| kernel IPv4 forwarding | $(one kernel_mpps) | $(one kernel_fwd_ns) |"
	echo "| reflector: veths and bouncer alone | $(one reflect_mpps) | - |"
	echo "| **XDP / kernel** | $(one ratio)x (rounds: $(one ratio_min)x to $(one ratio_max)x) | $(one fwd_ratio)x |"
} >"$tmp/section.md"

bench_record xdp <"$tmp/section.md"
