#!/usr/bin/env bash
# Metrics over HTTP (metrics_listen): curl scrapes GET /metrics while a VS
# serves clients; the samples are well-formed Prometheus text and agree
# with coopctl; other paths, methods and garbage get clear errors; a
# client that never finishes its request is dropped without holding up a
# scrape; the listener goes away with coopd.
. "$(dirname "$0")/lib.sh"

port=$((20000 + $$ % 20000))
url="http://127.0.0.1:$port/metrics"
client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64

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
INI

"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected"
start_coopd "$T/coop.ini"
grep -q "metrics on http://127.0.0.1:$port/metrics" "$T/coopd.log" || fail "the log does not say where metrics are"

for i in 1 2 3; do
	echo "hello $i" >"$T/in"
	[ "$(tcp "$P-c1" 198.18.1.1 7 "$T/in")" = "hello $i" ] || fail "tcp echo $i"
done
[ "$(udp "$P-c1" 198.18.1.1 7 ping)" = ping ] || fail "udp echo"

curl -s -D "$T/h" -o "$T/m" "$url" || fail "curl $url"
head -1 "$T/h" | grep -q '^HTTP/1.1 200' || fail "status: $(head -1 "$T/h")"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/h" || fail "content type: $(grep -i content-type "$T/h")"
# every line a TYPE comment or NAME{LABELS} VALUE, each name in one group
bad=$(grep -Ev '^# TYPE [a-zA-Z_][a-zA-Z0-9_]* untyped$|^[a-zA-Z_][a-zA-Z0-9_]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? -?[0-9][0-9.eE+-]*$' "$T/m" | head -3)
[ -z "$bad" ] || fail "not Prometheus text: $bad"
[ "$(grep -c '^# TYPE' "$T/m")" -eq "$(grep -v '^#' "$T/m" | sed 's/[{ ].*//' | sort -u | wc -l)" ] ||
	fail "a metric name appears in more than one group"
sample() { awk -v n="$1" '$1 == n { print $2 }' "$T/m"; }
[ "$(sample 'coop_vs_counters_accepted{vs="nas1"}')" = 3 ] ||
	fail "accepted of nas1: '$(sample 'coop_vs_counters_accepted{vs="nas1"}')', want 3"
[ "$(sample coop_workers)" = 2 ] || fail "coop_workers: '$(sample coop_workers)'"
"$COOPCTL" -s "$T/admin.sock" --json show stats >"$T/stats.json" || fail "show stats"
[ "$(sample coop_counters_bytes_in)" = "$(jq .counters.bytes_in "$T/stats.json")" ] ||
	fail "bytes_in: metrics $(sample coop_counters_bytes_in), coopctl $(jq .counters.bytes_in "$T/stats.json")"
grep -q '^coop_vs_udp_[a-z_]*{vs="nas1"} ' "$T/m" || fail "no UDP counters of nas1"
ok "GET /metrics: $(grep -vc '^#' "$T/m") samples in $(grep -c '^# TYPE' "$T/m") groups, Prometheus text; nas1's 3 connections, bytes as coopctl shows them"

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
