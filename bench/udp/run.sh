#!/usr/bin/env bash
# UDP demux benchmark (issue 4): request/reply datagrams per second through
# N VSes sharing one port in one namespace, PBR-style (each VS has a mark
# whose rule selects the table holding the only route back to the client).
# Three servers take turns in the same run, A,B,C,A,B,C...: coop's demux,
# (a) one socket bound per VS address, (b) one shared socket with
# setsockopt(SO_MARK) before each reply. Server on CPU 0, client on CPU 1.
# Medians; rewrites its section of bench/RESULTS.md.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
bin="$top/$B/bench/udp/udp_rr"
N=${COOP_BENCH_UDP_VS:-100}
RUNS=${COOP_BENCH_RUNS:-5}
SECS=${COOP_BENCH_UDP_SECS:-3}
WINDOW=${COOP_BENCH_UDP_WINDOW:-128}
PORT=5300
P="cu$$"
T=$(mktemp -d)
spid=

cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	ip netns del "$P-s" 2>/dev/null
	ip netns del "$P-c" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

[ -x "$bin" ] || { echo "missing $bin (make bench builds it)" >&2; exit 1; }
[ "$N" -ge 1 ] && [ "$N" -le 250 ] || { echo "COOP_BENCH_UDP_VS must be 1..250" >&2; exit 1; }
. "$top/bench/lib.sh"
ins() { nsenter --net="/run/netns/$P-s" "$@"; }
inc() { nsenter --net="/run/netns/$P-c" "$@"; }

ip netns add "$P-s" && ip netns add "$P-c" || exit 1
ip link add "${P}s" type veth peer name "${P}c" || exit 1
ip link set "${P}s" netns "$P-s"
ip link set "${P}c" netns "$P-c"
ins ip link set lo up
inc ip link set lo up
ins ip link set "${P}s" up
inc ip link set "${P}c" up
ins sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
	"net.ipv4.conf.${P}s.rp_filter=0"
ins ip addr add 198.18.99.1/24 dev "${P}s"
inc ip addr add 198.18.99.2/24 dev "${P}c"
# The client's own address is on a subnet the server reaches only through
# a VS table: an unmarked reply has no route.
inc ip addr add 198.18.98.2/32 dev "${P}c"
inc ip route add 198.18.100.0/24 via 198.18.99.1
{
	for i in $(seq 1 "$N"); do
		echo "addr add 198.18.100.$i/32 dev ${P}s"
		echo "rule add pref $((1000 + i)) fwmark $i lookup $((1000 + i))"
		echo "route add default via 198.18.99.2 dev ${P}s table $((1000 + i))"
	done
} | ins ip -batch - || exit 1

start_server() {
	: >"$T/ready"
	# nsenter itself, not the ins function: a backgrounded function is a
	# subshell, and its pid would not be the server's.
	nsenter --net="/run/netns/$P-s" taskset -c 0 "$bin" server "$1" 198.18.100 "$N" "$PORT" \
		>"$T/ready" 2>"$T/server.err" &
	spid=$!
	for _ in $(seq 100); do
		grep -q ready "$T/ready" && return 0
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.02
	done
	cat "$T/server.err" >&2
	exit 1
}

# cputicks PID : user + system clock ticks the process used so far
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

stop_server() {
	kill "$spid"
	wait "$spid" 2>/dev/null
	spid=
}

echo "UDP request/reply, $N VSes on port $PORT, $RUNS runs x ${SECS}s per mode, window $WINDOW"
for m in demux bound setmark; do : >"$T/$m"; : >"$T/$m.cpu"; done
wrong_total=0
for r in $(seq "$RUNS"); do
	line="  run $r:"
	for m in demux bound setmark; do
		start_server "$m"
		c0=$(cputicks "$spid")
		out=$(inc taskset -c 1 "$bin" client 198.18.100 "$N" "$PORT" 198.18.98.2 "$SECS" "$WINDOW") || exit 1
		c1=$(cputicks "$spid")
		stop_server
		set -- $out
		echo "$1" >>"$T/$m"
		# replies per second of the server's own CPU time (user + system,
		# softirqs it ran included: no IRQ time accounting here)
		awk -v n="$4" -v t=$((c1 - c0)) -v hz="$HZ" \
			'BEGIN {printf "%.0f\n", (t > 0 ? n * hz / t : 0)}' >>"$T/$m.cpu"
		wrong_total=$((wrong_total + $2))
		line="$line $m $1/s $(tail -1 "$T/$m.cpu")/cpu-s"
		[ "$3" -gt 0 ] && line="$line (stalls $3)"
	done
	echo "$line"
done
demux=$(median %.0f <"$T/demux"); bound=$(median %.0f <"$T/bound"); setmark=$(median %.0f <"$T/setmark")
cdemux=$(median %.0f <"$T/demux.cpu"); cbound=$(median %.0f <"$T/bound.cpu"); csetmark=$(median %.0f <"$T/setmark.cpu")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
ra=$(ratio "$demux" "$bound"); rb=$(ratio "$demux" "$setmark")
cra=$(ratio "$cdemux" "$cbound"); crb=$(ratio "$cdemux" "$csetmark")
echo "replies/s: demux $demux, bound $bound (ratio $ra), setmark $setmark (ratio $rb)"
echo "per server CPU second: demux $cdemux, bound $cbound (ratio $cra, goal >= 0.9), setmark $csetmark (ratio $crb, goal >= 2)"
[ "$wrong_total" -eq 0 ] || { echo "replies from a wrong source: $wrong_total" >&2; exit 1; }

section=$(cat <<MD
## UDP demux: many VSes on one port (issue 4)

Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); \`make bench\` (bench/udp/run.sh): $N PBR-style VSes (one mark, rule and table each) share UDP port $PORT in one namespace; a client in another namespace keeps $WINDOW requests of 16 bytes in flight, round-robin over the $N addresses, and checks every reply's source. Server on CPU 0, client on CPU 1, one server thread; medians of $RUNS runs of ${SECS} s, modes alternating. Replies from a wrong address: $wrong_total.

Two figures per server: replies per second as measured, and replies per second of the server process's own CPU time (user + system from /proc/PID/stat; softirq work it triggers is charged to it, the kernel has no IRQ time accounting). On two shared cores the single client thread is itself close to saturation and other jobs compete, so the first is noisy and understates the differences; the second is what each server costs per reply.

| server | replies/s | ÷ | replies per server CPU-second | ÷ | goal |
|---|---|---|---|---|---|
| coop demux: wildcard socket, IP_PKTINFO, hash to VS, sendmmsg with per-packet pktinfo + SO_MARK cmsg | $demux | 1.00 | $cdemux | 1.00 | |
| (a) one socket bound per VS address, SO_MARK set once, recvmmsg/sendmmsg | $bound | $ra | $cbound | $cra | demux ≥ 0.9 × (a) |
| (b) one shared socket, setsockopt(SO_MARK) + sendmsg per reply (the paper's Fig. 1) | $setmark | $rb | $csetmark | $crb | demux ≥ 2 × (b) |

(÷ = coop demux divided by that server.)
MD
)
printf '%s\n' "$section" | bench_record udp "$top/bench/RESULTS.md"
