#!/usr/bin/env bash
# Foundation benchmarks: bring-up of 1,000 netns VSes (create and attach)
# against the bare kernel and HAProxy, and the echo request/response rate
# through a netns VS against the same service in the root namespace.
# Runs A,B,A,B... and reports medians; rewrites its section of
# bench/RESULTS.md.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
bin="$top/$B/bench/foundation"
N=${COOP_BENCH_VS:-1000}
RUNS=${COOP_BENCH_RUNS:-5}
P="cb$$"
T=$(mktemp -d)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	"$bin/bringup" rmns "$N" "$P-a" 2>/dev/null
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P"); do ip netns del "$ns"; done
	ip link del "${P}e" 2>/dev/null
	ip link del "${P}r" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

. "$top/bench/lib.sh"

echo "bring-up of $N netns VSes, $RUNS runs each"
: >"$T/create" ; : >"$T/kernel" ; : >"$T/attach" ; : >"$T/haproxy"; : >"$T/rss"; : >"$T/rss_attach"
for r in $(seq "$RUNS"); do
	"$bin/bringup" coop create "$N" "$P-c" 2 >"$T/out" || exit 1
	awk '{print $1}' "$T/out" >>"$T/create"; awk '{print $2}' "$T/out" >>"$T/rss"
	"$bin/bringup" kernel "$N" "$P-k" >>"$T/kernel" || exit 1
	"$bin/bringup" mkns "$N" "$P-a" || exit 1
	"$bin/bringup" coop attach "$N" "$P-a" 2 >"$T/out" || exit 1
	awk '{print $1}' "$T/out" >>"$T/attach"; awk '{print $2}' "$T/out" >>"$T/rss_attach"
	# HAProxy opening one listener in each of the same existing namespaces
	# (-D returns once every listener is bound). coop also adds an address
	# per VS; HAProxy binds the wildcard.
	{
		printf 'global\n  maxconn 4000\n  pidfile %s/haproxy.pid\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n' "$T"
		for i in $(seq 0 $((N - 1))); do
			printf 'frontend f%d\n  bind 0.0.0.0:7 namespace %s-a-%d\n' "$i" "$P" "$i"
		done
	} >"$T/haproxy.cfg"
	t0=$(date +%s%N)
	haproxy -q -D -f "$T/haproxy.cfg" 2>"$T/haproxy.err" || { cat "$T/haproxy.err"; exit 1; }
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 100000 )) | awk '{printf "%.1f\n", $1 / 10}' >>"$T/haproxy"
	kill "$(cat "$T/haproxy.pid")" 2>/dev/null
	sleep 0.3
	"$bin/bringup" rmns "$N" "$P-a"
	printf '  run %d: create %s ms (kernel %s), attach %s ms (haproxy %s)\n' "$r" \
		"$(tail -1 "$T/create")" "$(tail -1 "$T/kernel")" "$(tail -1 "$T/attach")" "$(tail -1 "$T/haproxy")"
done
create=$(median %.2f <"$T/create"); kernel=$(median %.2f <"$T/kernel")
attach=$(median %.2f <"$T/attach"); hap=$(median %.2f <"$T/haproxy")
rss=$(median %.2f <"$T/rss"); rssa=$(median %.2f <"$T/rss_attach")
echo "create: $create ms (kernel alone $kernel ms), attach: $attach ms (haproxy $hap ms), RSS/VS $rss kB"

# Echo request/response: the same coopd serves one VS in its own namespace
# and one in the root namespace (attached by path), each reached from one
# client namespace over its own veth pair.
echo "echo request/response, netns VS vs root-namespace VS"
ip netns add "$P-cl"
nsenter --net="/run/netns/$P-cl" ip link set lo up
for x in e r; do
	ip link add "${P}$x" type veth peer name "${P}${x}c"
	ip link set "${P}${x}c" netns "$P-cl"
	nsenter --net="/run/netns/$P-cl" ip link set "${P}${x}c" up
done
nsenter --net="/run/netns/$P-cl" ip addr add 198.18.5.2/24 dev "${P}ec"
nsenter --net="/run/netns/$P-cl" ip addr add 198.18.6.2/24 dev "${P}rc"
cat >"$T/echo.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs ns]
namespace = $P-vs
interface = ${P}e
addresses = 198.18.5.1/24
listen = tcp:7 echo

[vs root]
namespace = /proc/self/ns/net
interface = ${P}r
addresses = 198.18.6.1/24
listen = tcp:7 echo
INI
"$top/$B/coopd" -c "$T/echo.ini" >"$T/coopd.log" 2>&1 &
pids+=($!)
sleep 1
: >"$T/rr_ns"; : >"$T/rr_root"
for r in $(seq "$RUNS"); do
	nsenter --net="/run/netns/$P-cl" "$bin/echo_rr" 198.18.5.1 7 32 3 >>"$T/rr_ns" || { cat "$T/coopd.log"; exit 1; }
	nsenter --net="/run/netns/$P-cl" "$bin/echo_rr" 198.18.6.1 7 32 3 >>"$T/rr_root" || exit 1
	printf '  run %d: netns %s/s, root %s/s\n' "$r" "$(tail -1 "$T/rr_ns")" "$(tail -1 "$T/rr_root")"
done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}"
rr_ns=$(median %.2f <"$T/rr_ns"); rr_root=$(median %.2f <"$T/rr_root")
ratio_rr=$(awk -v a="$rr_ns" -v b="$rr_root" 'BEGIN {printf "%.3f", a / b}')
ratio_create=$(awk -v a="$create" -v b="$kernel" 'BEGIN {printf "%.2f", a / b}')
ratio_attach=$(awk -v a="$attach" -v b="$hap" 'BEGIN {printf "%.2f", a / b}')
echo "echo: netns $rr_ns/s, root $rr_root/s, ratio $ratio_rr"

section=$(cat <<MD
## Foundation: bring-up and echo (issue 2)

Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); \`make bench\` (bench/foundation/run.sh), medians of $RUNS runs, alternating.

| figure | coop | alternative, same run | ratio | goal |
|---|---|---|---|---|
| bring-up, $N netns VSes created (INI to all listening; 2 workers = 2 listeners/VS) | $create ms | bare kernel, 1 listener/ns: $kernel ms | $ratio_create | ≤ 1500 ms |
| bring-up, $N existing namespaces attached (coop adds an address each) | $attach ms | HAProxy 2.6 \`bind ... namespace\`, wildcard: $hap ms | $ratio_attach | ≤ 150 ms |
| daemon RSS per VS (created / attached) | $rss kB / $rssa kB | | | ≤ 8 kB |
| echo request/response, 64 B, 32 connections | netns VS: $rr_ns /s | same coopd, root-namespace VS: $rr_root /s | $ratio_rr | ≥ 0.97 |
MD
)
printf '%s\n' "$section" | bench_record foundation "$top/bench/RESULTS.md"
