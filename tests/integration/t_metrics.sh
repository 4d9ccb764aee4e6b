#!/usr/bin/env bash
# Metrics over HTTP (metrics_listen): curl scrapes GET /metrics while a VS
# serves TCP and UDP clients and resolves a name; the samples are
# well-formed Prometheus text (one HELP and TYPE per family, counters
# ending in _total) and agree with coopctl; a scrape storm shares
# renderings; other paths, methods and garbage get clear errors; a client
# that never finishes its request is dropped without holding up a scrape;
# the listener goes away with coopd. Then a coopd with a forwarder: the
# data-path counters and the table's share per node as show fwd has them.
. "$(dirname "$0")/lib.sh"

port=$((20000 + $$ % 20000))
url="http://127.0.0.1:$port/metrics"
client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64

printf '198.18.1.77 files.test\n' >"$T/hosts"
cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock
metrics_listen = 127.0.0.1:$port

[vs nas1]
namespace = $P-nas1
interface = ${P}v1
addresses = 198.18.1.1/24, 2001:db8:1::1/64
listen = tcp:7 echo, udp:7 echo
dns = 198.18.1.2
hosts_file = $T/hosts
INI

"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected"
# metrics_listen where VS clients reach it: refused, saying why, unless
# metrics_public says it is meant
for where in "0.0.0.0:$port" "[::]:$port" "198.18.1.1:$port"; do
	sed "s|^metrics_listen = .*|metrics_listen = $where|" "$T/coop.ini" >"$T/public.ini"
	out=$("$COOPD" --check -c "$T/public.ini" 2>&1) && fail "metrics_listen = $where accepted"
	echo "$out" | grep -q "\[global\] metrics_listen: .*\(is a wildcard\|is an address of vs 'nas1'\).*metrics_public = yes" ||
		fail "metrics_listen = $where: $out"
	sed -i "s|^metrics_listen = .*|&\nmetrics_public = yes|" "$T/public.ini"
	"$COOPD" --check -c "$T/public.ini" >/dev/null 2>&1 || fail "metrics_listen = $where refused with metrics_public = yes"
done
ok "metrics_listen on 0.0.0.0, :: or a VS's address refused with the reason; metrics_public = yes allows it"
start_coopd "$T/coop.ini"
grep -q "metrics on http://127.0.0.1:$port/metrics" "$T/coopd.log" || fail "the log does not say where metrics are"

for i in 1 2 3; do
	echo "hello $i" >"$T/in"
	[ "$(tcp "$P-c1" 198.18.1.1 7 "$T/in")" = "hello $i" ] || fail "tcp echo $i"
done
[ "$(udp "$P-c1" 198.18.1.1 7 ping)" = ping ] || fail "udp echo"
"$COOPCTL" -s "$T/admin.sock" resolve nas1 files.test >/dev/null || fail "resolve files.test"

# wellformed M : every line of file M is a HELP or TYPE comment or
# NAME{LABELS} VALUE; each name in one group, under one HELP and one
# TYPE, its samples right after them; counters end in _total.
wellformed() {
	local m=$1 bad
	bad=$(grep -Ev '^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$|^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge)$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (-?[0-9][0-9.eE+-]*|NaN|[+-]Inf)$' "$m" | head -3)
	[ -z "$bad" ] || fail "not Prometheus text: $bad"
	bad=$(awk '
		/^# HELP / { if (help[$3]++) { print "two HELP for " $3; exit } want = $3; next }
		/^# TYPE / { if ($3 != want || type[$3]++) { print "TYPE out of place: " $3; exit }
			     if ($4 == "counter" && $3 !~ /_total$/) { print "counter " $3; exit }
			     next }
		{ n = $1; sub(/\{.*/, "", n); if (n != want) { print "sample out of its group: " $1; exit } }
	' "$m")
	[ -z "$bad" ] || fail "$bad"
}

curl -s -D "$T/h" -o "$T/m" "$url" || fail "curl $url"
head -1 "$T/h" | grep -q '^HTTP/1.1 200' || fail "status: $(head -1 "$T/h")"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/h" || fail "content type: $(grep -i content-type "$T/h")"
wellformed "$T/m"
sample() { awk -v n="$1" '$1 == n { print $2 }' "${2:-$T/m}"; }
want() { # want SAMPLE VALUE [FILE]
	[ "$(sample "$1" "${3:-}")" = "$2" ] || fail "$1: '$(sample "$1" "${3:-}")', want $2"
}
want 'coop_vs_tcp_accepted_total{vs="nas1"}' 3
want 'coop_vs_tcp_active{vs="nas1"}' 0
want 'coop_vs_state{vs="nas1",state="up"}' 1
want 'coop_vs_tcp_refused_total{vs="nas1",limit="vs"}' 0
want 'coop_vs_tcp_limit_closed_total{vs="nas1",reason="out_max"}' 0
want 'coop_vs_tcp_max_connections{vs="nas1"}' 0
want coop_tcp_max_connections "$(jq .max_connections <("$COOPCTL" -s "$T/admin.sock" --json show stats))"
want coop_workers 2
want coop_vs_count 1
want coop_reloads_total 0
"$COOPCTL" -s "$T/admin.sock" --json show stats >"$T/stats.json" || fail "show stats"
for k in bytes_in bytes_out outbound; do
	want "coop_vs_tcp_${k}_total{vs=\"nas1\"}" "$(jq ".vs[0].counters.$k" "$T/stats.json")"
done
for k in dgrams_in dgrams_out bytes_in bytes_out; do
	want "coop_vs_udp_${k}_total{vs=\"nas1\"}" "$(jq ".vs[0].udp.$k" "$T/stats.json")"
done
want 'coop_vs_udp_dgrams_in_total{vs="nas1"}' 1
want 'coop_vs_udp_drops_total{vs="nas1",reason="service"}' 0
want 'coop_udp_drops_total{reason="no_vs"}' "$(jq .udp.drops.no_vs "$T/stats.json")"
want coop_udp_sockets "$(jq .udp.sockets "$T/stats.json")"
want 'coop_vs_resolver_queries_total{vs="nas1"}' 1
want 'coop_vs_resolver_answers_total{vs="nas1"}' 1
want 'coop_vs_resolver_upstream_total{vs="nas1"}' 0
ok "GET /metrics: $(grep -vc '^#' "$T/m") samples in $(grep -c '^# TYPE' "$T/m") families, each under one HELP and TYPE; nas1's 3 connections, bytes, datagrams and lookups as coopctl shows them"

# a reload shows at the next rendering (at most 100 ms later)
"$COOPCTL" -s "$T/admin.sock" reload >/dev/null || fail "reload"
sleep 0.2
curl -s -o "$T/m" "$url" || fail "curl after reload"
want coop_reloads_total 1
r1=$(sample coop_metrics_renders_total)
s1=$(sample coop_metrics_scrapes_total)
# a scrape storm: 40 scrapes back to back share renderings (one per 100 ms)
t0=$(date +%s%N)
args=()
for i in $(seq 40); do args+=(-o /dev/null "$url"); done
curl -s "${args[@]}" || fail "40 scrapes"
ms=$((($(date +%s%N) - t0) / 1000000))
sleep 0.2
curl -s -o "$T/m" "$url" || fail "curl after the storm"
wellformed "$T/m"
r2=$(sample coop_metrics_renders_total)
s2=$(sample coop_metrics_scrapes_total)
[ $((s2 - s1)) -eq 41 ] || fail "scrapes went from $s1 to $s2, want +41"
[ $((r2 - r1)) -le $((ms / 100 + 2)) ] ||
	fail "40 scrapes in $ms ms made $((r2 - r1)) renderings, want at most $((ms / 100 + 2))"
ok "reloads counted; 40 scrapes in $ms ms made $((r2 - r1 - 1)) renderings (cache of 100 ms)"

[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 404 ] || fail "/ is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")" = 405 ] || fail "POST is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$url")" = 200 ] || fail "HEAD is not 200"
printf 'garbage\r\n\r\n' | timeout 5 socat -t 2 - "TCP:127.0.0.1:$port" >"$T/g" || true
head -1 "$T/g" | grep -q '^HTTP/1.1 400' || fail "garbage: $(head -1 "$T/g")"
ok "other paths 404, other methods 405, HEAD 200, garbage 400"

# a client that connects and never finishes: a scrape still answers now,
# and the idle one is dropped after its 5 seconds
exec 7<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.1\r\n' >&7
curl -s -m 3 -o /dev/null "$url" || fail "a scrape waited for an unfinished request"
t0=$(date +%s)
timeout 10 cat <&7 >/dev/null
[ $(($(date +%s) - t0)) -le 7 ] || fail "the unfinished request was kept over 7 s"
exec 7>&-
ok "an unfinished request does not hold up a scrape and is dropped after 5 s"

stop_coopd
curl -s -m 2 -o /dev/null "$url" && fail "metrics still answer after coopd stopped"
ok "stop: clean exit, the listener is gone"
# nas1's link is back in the root namespace: remove it with its client now
# (listing a veth whose peer's namespace is being torn down is noisy)
ip link del "${P}v1" 2>/dev/null || true

# A node with the forwarder (a cluster of one, generic XDP on a veth): its
# data-path counters, table and node as show fwd has them.
VIP=198.18.61.1
fport=$((port + 1))
bare_ns "$P-f" "$P-fc"
veth "$P-f" "${P}f" "$P-fc" "${P}fc"
nsx "$P-f" ip addr add 198.18.60.2/24 dev "${P}f"
nsx "$P-f" ip addr add "$VIP/32" dev lo
nsx "$P-fc" ip addr add 198.18.60.1/24 dev "${P}fc"
nsx "$P-fc" ip route add "$VIP/32" via 198.18.60.2
cat >"$T/fwd.ini" <<INI
[global]
workers = 2
admin_socket = $T/fwd.sock
metrics_listen = 127.0.0.1:$fport

[vs f1]
namespace = $P-f
listen = tcp:7 echo

[forwarder]
interface = ${P}f
vips = $VIP:7/tcp
nodes = f1 198.18.60.2
self = f1
xdp_mode = generic
INI
# nsenter itself: $! must be coopd, which stop_coopd signals
nsenter --net="/run/netns/$P-f" "$COOPD" -c "$T/fwd.ini" >"$T/coopd.log" 2>&1 &
COOPD_PID=$!
PIDS+=("$COOPD_PID")
for _ in $(seq 100); do
	"$COOPCTL" -s "$T/fwd.sock" help >/dev/null 2>&1 && break
	kill -0 "$COOPD_PID" 2>/dev/null || fail "coopd with a forwarder exited"
	sleep 0.05
done
for i in 1 2 3; do
	echo "via the vip $i" >"$T/in"
	[ "$(tcp "$P-fc" "$VIP" 7 "$T/in")" = "via the vip $i" ] || fail "tcp echo to the VIP $i"
done
sleep 0.3 # the last ACKs and FINs pass the program
nsx "$P-f" curl -s -o "$T/fm" "http://127.0.0.1:$fport/metrics" || fail "curl the forwarder's node"
"$COOPCTL" -s "$T/fwd.sock" --json show fwd >"$T/fwd.json" || fail "show fwd"
wellformed "$T/fm"
for c in pass_local drop_no_neigh; do
	want "coop_fwd_packets_total{verdict=\"$c\"}" "$(jq ".counters.$c.packets" "$T/fwd.json")" "$T/fm"
	want "coop_fwd_bytes_total{verdict=\"$c\"}" "$(jq ".counters.$c.bytes" "$T/fwd.json")" "$T/fm"
done
for c in flow_miss flow_insert flow_hit; do
	want "coop_fwd_events_total{event=\"$c\"}" "$(jq ".counters.$c.packets" "$T/fwd.json")" "$T/fm"
done
[ "$(sample 'coop_fwd_packets_total{verdict="pass_local"}' "$T/fm")" -ge 9 ] ||
	fail "pass_local: $(sample 'coop_fwd_packets_total{verdict="pass_local"}' "$T/fm"), want 3 connections' packets"
[ "$(grep -c '^coop_fwd_packets_total{' "$T/fm")" -eq "$(grep -c '^coop_fwd_bytes_total{' "$T/fm")" ] ||
	fail "verdicts with packets and without bytes"
grep -q '^coop_fwd_packets_total{verdict="pass_not_vip"} [0-9]' "$T/fm" || fail "no pass_not_vip"
want 'coop_fwd_node_weight{node="f1"}' 1 "$T/fm"
want 'coop_fwd_node_table_entries{node="f1"}' "$(jq .table.size "$T/fwd.json")" "$T/fm"
want coop_fwd_table_size "$(jq .table.size "$T/fwd.json")" "$T/fm"
want coop_fwd_table_unowned 0 "$T/fm"
want coop_fwd_table_publications_total "$(jq .table.publications "$T/fwd.json")" "$T/fm"
want "coop_fwd_info{interface=\"${P}f\",mode=\"generic\",encap=\"gue\",self=\"f1\",table=\"maglev\"}" 1 "$T/fm"
grep -q '^coop_fwd_node_resolved' "$T/fm" && fail "a next hop for the node itself"
want 'coop_vs_tcp_accepted_total{vs="f1"}' 3 "$T/fm"
ok "forwarder: $(grep -c '^coop_fwd_' "$T/fm") samples; verdicts, events, table and node as show fwd has them"
stop_coopd
ok "stop: clean exit with the forwarder"
