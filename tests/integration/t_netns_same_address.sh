#!/usr/bin/env bash
# Two netns VSes with the SAME addresses, each reached from its own client
# namespace over a veth: whoami proves who answered, echo carries data over
# IPv4 and IPv6, coopctl reports both with counters, and stopping coopd
# leaves nothing of coop's behind (the veths go back to the root namespace).
. "$(dirname "$0")/lib.sh"

client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64
client_ns "$P-c2" "${P}v2" 198.18.1.2/24 2001:db8:1::2/64

cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs nas1]
isolation = netns
namespace = $P-nas1
interface = ${P}v1
addresses = 198.18.1.1/24, 2001:db8:1::1/64
gateway = 198.18.1.2, 2001:db8:1::2
listen = tcp:7 echo, tcp:8 whoami

[vs nas2]
namespace = $P-nas2
interface = ${P}v2
addresses = 198.18.1.1/24, 2001:db8:1::1/64
listen = tcp:7 echo, tcp:8 whoami
INI

"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected"
start_coopd "$T/coop.ini"

# Kernel state: each namespace exists, holds its veth, addresses and route.
for i in 1 2; do
	ip netns list | grep -q "^$P-nas$i" || fail "namespace $P-nas$i missing"
	nsx "$P-nas$i" ip -o addr show dev "${P}v$i" | grep -q '198.18.1.1/24' ||
		fail "nas$i: 198.18.1.1/24 not on ${P}v$i"
	nsx "$P-nas$i" ip -o -6 addr show dev "${P}v$i" | grep -q '2001:db8:1::1/64' ||
		fail "nas$i: 2001:db8:1::1/64 not on ${P}v$i"
	nsx "$P-nas$i" ip -o link show lo | grep -q 'UP' || fail "nas$i: lo not up"
done
nsx "$P-nas1" ip route show default | grep -q 'via 198.18.1.2' || fail "nas1: no v4 default route"
nsx "$P-nas1" ip -6 route show default | grep -q 'via 2001:db8:1::2' || fail "nas1: no v6 default route"
nsx "$P-nas2" ip route show default | grep -q . && fail "nas2: unexpected default route"
ok "namespaces, links, addresses and routes in place"

# whoami: the same address answers with a different VS from each client.
[ "$(tcp "$P-c1" 198.18.1.1 8)" = nas1 ] || fail "c1 -> 198.18.1.1:8 is not nas1"
[ "$(tcp "$P-c2" 198.18.1.1 8)" = nas2 ] || fail "c2 -> 198.18.1.1:8 is not nas2"
[ "$(tcp "$P-c1" '[2001:db8:1::1]' 8)" = nas1 ] || fail "c1 v6 whoami is not nas1"
[ "$(tcp "$P-c2" '[2001:db8:1::1]' 8)" = nas2 ] || fail "c2 v6 whoami is not nas2"
ok "whoami: each VS answers for itself, v4 and v6"

# echo: 1 MB each way, v4 and v6, both VSes.
head -c 1000000 /dev/urandom >"$T/payload"
for i in 1 2; do
	for host in 198.18.1.1 '[2001:db8:1::1]'; do
		tcp "$P-c$i" "$host" 7 "$T/payload" >"$T/echoed" || fail "echo c$i $host"
		cmp -s "$T/payload" "$T/echoed" || fail "echo c$i $host: data differs"
	done
done
ok "echo: 1 MB round trips over v4 and v6 on both VSes"

# coopctl: both VSes with their counters.
"$COOPCTL" -s "$T/admin.sock" --json show vs >"$T/show.json" || fail "coopctl show vs"
for v in nas1 nas2; do
	acc=$(jq -r ".vs[] | select(.name==\"$v\") | .counters.accepted" "$T/show.json")
	bin=$(jq -r ".vs[] | select(.name==\"$v\") | .counters.bytes_in" "$T/show.json")
	bout=$(jq -r ".vs[] | select(.name==\"$v\") | .counters.bytes_out" "$T/show.json")
	[ "$acc" = 4 ] || fail "$v: accepted=$acc, expected 4"
	[ "$bin" = 2000000 ] || fail "$v: bytes_in=$bin, expected 2000000"
	[ "$bout" -ge 2000000 ] || fail "$v: bytes_out=$bout, expected >= 2000000"
done
"$COOPCTL" -s "$T/admin.sock" show vs | grep -q nas2 || fail "coopctl table lacks nas2"
ok "coopctl show vs reports both VSes with their counters"

stop_coopd
for i in 1 2; do
	ip netns list | grep -q "^$P-nas$i" && fail "namespace $P-nas$i left behind"
	ip link show "${P}v$i" >/dev/null 2>&1 || fail "veth ${P}v$i did not come back to the root namespace"
	ip -o addr show dev "${P}v$i" | grep -q 198.18 && fail "${P}v$i still has coop's address"
done
[ -e "$T/admin.sock" ] && fail "admin socket file left behind"
ok "stop: namespaces removed, veths back, admin socket gone"
