#!/usr/bin/env bash
# bench/xdp/run.sh - XDP forwarder figures (make bench builds them): ns per packet under test_run, packets per second on veth against the kernel's forwarding; records them in bench/RESULTS.md.
set -eu
cd "$(dirname "$0")/../.."
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
live_rounds=${XDP_BENCH_LIVE_ROUNDS:-7}
frames=${XDP_BENCH_FRAMES:-4000000}
tmp=$(mktemp -d)
ns=ct$$-xb
cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# 1. ns per packet: the program and its calibration, same run
"$bin" ns "$rounds" 2000 | tee "$tmp/ns.txt"

# 2. packets per second. One namespace: veth gA-fA carries the generated
# traffic to the forwarder (fA) and, with XDP, the encapsulated packets
# back; the kernel forwards out of fB to gB. Sinks on gA and gB count.
# Interface names are unique and short enough for the NAPI thread's name.
gA=x$$gA fA=x$$fA gB=x$$gB fB=x$$fB
ip netns add "$ns"
# no IPv6: its neighbour discovery would reach the sinks too
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
ip netns exec "$ns" "$bin" live "$gA" "$fA" "$fB" "$gB" "$live_rounds" "$frames" | tee "$tmp/live.txt"

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
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
# Was the XDP figure the forwarder's limit or the generator's? The
# forwarder's CPU was saturated when its NAPI thread ran nearly all along.
two() { val "$tmp/live.txt" "layout=two " "$1"; }
verdict=$(awk -v busy="$(two xdp_busy)" -v r="$(two ratio)" -v x="$(two xdp_mpps)" -v g="$(two reflect_mpps)" 'BEGIN {
	if (busy >= 90)
		s = sprintf("The XDP figure is the forwarder'"'"'s own limit: its CPU was busy %d%% of the run while the generator offered more (the reflector got %.2f Mpps through).", busy, g)
	else
		s = sprintf("The XDP figure is generator-bound: the forwarder'"'"'s CPU was busy only %d%% of the run; %.2f Mpps is what the generator delivered.", busy, x)
	s = s sprintf(" Goal >= 3x: %s (%.2fx).", r >= 3 ? "met" : "not met", r)
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
	echo "### Forwarded packets per second on veth"
	echo
	echo "Generator: test_run's live-frames mode (xdp_bench_gen, XDP_TX) sends $(val "$tmp/live.txt" '^live' frames) 128-byte frames of"
	echo "one cached TCP flow from veth gA to fA, the forwarder's veth. **XDP**: coop_xdp on fA encapsulates (GUE) and"
	echo "transmits back to gA. **Kernel**: xdp_pass on fA, then the kernel's IPv4 forwarding (route, neighbour, TTL) out"
	echo "of fB to gB. **Reflector**: XDP_TX on fA, frame unchanged, back to gA. Counting XDP sinks on gA and gB drop"
	echo "what arrives; Mpps = packets counted there / time from the first frame sent to the last one counted. Each run"
	echo "is checked: every packet that reached coop_xdp was encapsulated (no other verdict counter moved) and all of"
	echo "them reached the sink; everything the kernel forwarded reached its sink (no drop on fB); the sinks ran on the"
	echo "CPU the layout says. Medians of $(val "$tmp/live.txt" "layout=two " rounds) rounds, each: XDP, kernel, reflector with two CPUs, then the same"
	echo "with one CPU."
	echo
	echo "**Two CPUs** (the headline): the generator runs on CPU $(val "$tmp/live.txt" '^live' gen_cpu); fA's NAPI runs in its own kernel"
	echo "thread (threaded NAPI) pinned to CPU $(val "$tmp/live.txt" '^live' fwd_cpu), so that CPU does the forwarder's work only: veth receive,"
	echo "the XDP program or the kernel's stack, and the transmission. The sinks' NAPI stays in the softirq of the CPU that"
	echo "schedules it, the forwarder's, so that CPU also pays the sinks' receive and drop (where a NIC driver would"
	echo "pay transmit completions): the same for both paths, and cheaper here than waking sink threads on the"
	echo "generator's CPU, which cost the forwarder about half its time and lost packets. **Forwarder CPU** is the"
	echo "CPU time of fA's NAPI thread (the scheduler's account) per packet counted, and its share of the run's time."
	echo
	echo "| path | Mpps end to end | forwarder CPU, ns/packet | forwarder CPU busy |"
	echo "|---|---|---|---|"
	echo "| XDP forwarder (encapsulate + XDP_TX) | $(val "$tmp/live.txt" "layout=two " xdp_mpps) | $(val "$tmp/live.txt" "layout=two " xdp_cpu_ns) | $(val "$tmp/live.txt" "layout=two " xdp_busy)% |"
	echo "| kernel IPv4 forwarding | $(val "$tmp/live.txt" "layout=two " kernel_mpps) | $(val "$tmp/live.txt" "layout=two " kernel_cpu_ns) | $(val "$tmp/live.txt" "layout=two " kernel_busy)% |"
	echo "| reflector: generator ceiling | $(val "$tmp/live.txt" "layout=two " reflect_mpps) (generator sent $(val "$tmp/live.txt" "layout=two " gen_mpps)) | $(val "$tmp/live.txt" "layout=two " reflect_cpu_ns) | $(val "$tmp/live.txt" "layout=two " reflect_busy)% |"
	echo "| **XDP / kernel** | **$(val "$tmp/live.txt" "layout=two " ratio)x** | $(awk -v a="$(val "$tmp/live.txt" "layout=two " kernel_cpu_ns)" -v b="$(val "$tmp/live.txt" "layout=two " xdp_cpu_ns)" 'BEGIN { printf "%.2fx", a / b }') | - |"
	echo
	echo "$verdict"
	echo
	echo "**One CPU**: veth's default, NAPI in the softirq of the CPU that scheduled it, so generator, forwarder and"
	echo "sinks all share the generator's CPU; **forwarding alone** is the time per packet above the reflector's."
	echo
	echo "| path | Mpps end to end | forwarding alone, ns/packet |"
	echo "|---|---|---|"
	echo "| XDP forwarder (encapsulate + XDP_TX) | $(val "$tmp/live.txt" "layout=one " xdp_mpps) | $(val "$tmp/live.txt" "layout=one " xdp_fwd_ns) |"
	echo "| kernel IPv4 forwarding | $(val "$tmp/live.txt" "layout=one " kernel_mpps) | $(val "$tmp/live.txt" "layout=one " kernel_fwd_ns) |"
	echo "| reflector: generator, veth, sink | $(val "$tmp/live.txt" "layout=one " reflect_mpps) | - |"
	echo "| **XDP / kernel** | $(val "$tmp/live.txt" "layout=one " ratio)x | $(val "$tmp/live.txt" "layout=one " fwd_ratio)x |"
} >"$tmp/section.md"

. bench/lib.sh
bench_record xdp <"$tmp/section.md"
