#!/usr/bin/env bash
# Clients that reset their connection, connect and send nothing, or vanish
# mid-transfer never disturb other connections; shutdown with connections
# open is clean.
. "$(dirname "$0")/lib.sh"

client_ns "$P-c1" "${P}v1" 198.18.3.2/24 2001:db8:3::2/64
cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs edge]
namespace = $P-edge
interface = ${P}v1
addresses = 198.18.3.1/24, 2001:db8:3::1/64
listen = tcp:7 echo, tcp:8 whoami
INI
start_coopd "$T/coop.ini"

# A long echo conversation runs while the abuse goes on.
head -c 4000000 /dev/urandom >"$T/payload"
( nsx "$P-c1" timeout 30 socat -t 5 -b 4096 - TCP:198.18.3.1:7 <"$T/payload" >"$T/echoed" ) &
conv=$!
PIDS+=("$conv")

# 20 idle connections that send nothing and stay open.
for i in $(seq 20); do
	nsx "$P-c1" timeout 20 socat -u TCP:198.18.3.1:7 /dev/null </dev/null >/dev/null 2>&1 &
	PIDS+=("$!")
done
# 50 connections reset right after connecting (SO_LINGER 0), and 50 that
# send data and vanish without reading the reply.
for i in $(seq 50); do
	nsx "$P-c1" timeout 5 socat -u /dev/null TCP:198.18.3.1:7,so-linger=0 2>/dev/null
	head -c 200000 /dev/urandom | nsx "$P-c1" timeout 5 socat -t 0 -u - TCP:198.18.3.1:7,so-linger=0 2>/dev/null
done
[ "$(tcp "$P-c1" 198.18.3.1 8)" = edge ] || fail "whoami after abuse"
wait "$conv" || fail "echo conversation failed during abuse"
cmp -s "$T/payload" "$T/echoed" || fail "echo conversation data differs"
ok "4 MB echo conversation intact while 120 clients misbehaved"

"$COOPCTL" -s "$T/admin.sock" --json show vs edge >"$T/edge.json" || fail "show vs edge"
active=$(jq -r '.counters.active' "$T/edge.json")
[ "$active" -le 21 ] || fail "active=$active: reset connections were not reaped"
ok "reset connections reaped (active=$active)"

stop_coopd
ip netns list | grep -q "^$P-edge" && fail "namespace left behind"
ok "shutdown with idle connections open is clean"
