#!/usr/bin/env bash
# UDP on shared ports through the demux, netns VSes: two VSes with the SAME
# addresses each answer their own client (whoami, echo, IPv4 and IPv6); a
# VS with two addresses answers each from the address the client sent to
# (checked on the client side); a datagram for an address of the namespace
# that the VS does not own is counted and dropped; coopctl shows the
# counters; a VS whose namespace is deleted releases its sockets.
. "$(dirname "$0")/lib.sh"

client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64
client_ns "$P-c2" "${P}v2" 198.18.1.2/24 2001:db8:1::2/64

cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs nas1]
namespace = $P-nas1
interface = ${P}v1
addresses = 198.18.1.1/24, 198.18.1.3/24, 2001:db8:1::1/64, 2001:db8:1::3/64
listen = udp:7 echo, udp:8 whoami, tcp:8 whoami

[vs nas2]
namespace = $P-nas2
interface = ${P}v2
addresses = 198.18.1.1/24, 2001:db8:1::1/64
listen = udp:7 echo, udp:8 whoami
INI

"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected"
start_coopd "$T/coop.ini"

# whoami over UDP: the same address answers with a different VS per client.
[ "$(udp "$P-c1" 198.18.1.1 8 x)" = nas1 ] || fail "c1 -> 198.18.1.1 udp:8 is not nas1"
[ "$(udp "$P-c2" 198.18.1.1 8 x)" = nas2 ] || fail "c2 -> 198.18.1.1 udp:8 is not nas2"
[ "$(udp "$P-c1" '[2001:db8:1::1]' 8 x)" = nas1 ] || fail "c1 v6 udp whoami is not nas1"
[ "$(udp "$P-c2" '[2001:db8:1::1]' 8 x)" = nas2 ] || fail "c2 v6 udp whoami is not nas2"
# ...and TCP whoami on the same port number still works next to it.
[ "$(tcp "$P-c1" 198.18.1.1 8)" = nas1 ] || fail "c1 tcp:8 whoami is not nas1"
ok "whoami over UDP: each VS answers for itself, v4 and v6, next to tcp:8"

# echo: each reply comes back from exactly the address the client sent to.
for dst in 198.18.1.1 198.18.1.3 '[2001:db8:1::1]' '[2001:db8:1::3]'; do
	for i in 1 2 3; do
		got=$(udp "$P-c1" "$dst" 7 "ping-$i-$dst")
		[ "$got" = "ping-$i-$dst" ] || fail "echo via $dst: got '$got'"
		from=$(udp_from)
		[ "$from" = "$(sockname "$dst" 7)" ] || fail "echo via $dst: reply came from $from"
	done
done
ok "echo over UDP: every reply from the address the client sent to (v4 and v6, two addresses)"

# A datagram for an address of nas1's namespace that nas1 does not own.
nsx "$P-nas1" ip addr add 198.18.1.9/24 dev "${P}v1" || fail "extra address"
before=$("$COOPCTL" -s "$T/admin.sock" --json show stats | jq -r '.udp.drops.no_vs')
got=$(udp "$P-c1" 198.18.1.9 7 lost)
[ -z "$got" ] || fail "198.18.1.9 answered: '$got'"
after=$("$COOPCTL" -s "$T/admin.sock" --json show stats | jq -r '.udp.drops.no_vs')
[ "$after" -eq $((before + 1)) ] || fail "no_vs drops: $before -> $after, expected +1"
nsx "$P-nas1" ip addr del 198.18.1.9/24 dev "${P}v1"
ok "a datagram for an address no VS owns is dropped and counted"

# Counters per VS.
"$COOPCTL" -s "$T/admin.sock" --json show vs nas1 >"$T/nas1.json" || fail "show vs nas1"
in1=$(jq -r '.udp.dgrams_in' "$T/nas1.json")
out1=$(jq -r '.udp.dgrams_out' "$T/nas1.json")
[ "$in1" -eq 14 ] || fail "nas1 dgrams_in=$in1, expected 14"
[ "$out1" -eq 14 ] || fail "nas1 dgrams_out=$out1, expected 14"
"$COOPCTL" -s "$T/admin.sock" --json show vs nas2 >"$T/nas2.json" || fail "show vs nas2"
[ "$(jq -r '.udp.dgrams_in' "$T/nas2.json")" -eq 2 ] || fail "nas2 dgrams_in"
[ "$(jq -r '.udp.drops.send' "$T/nas1.json")" -eq 0 ] || fail "nas1 send drops"
"$COOPCTL" -s "$T/admin.sock" --json show stats >"$T/stats.json" || fail "show stats"
[ "$(jq -r '.udp.groups' "$T/stats.json")" -eq 4 ] || fail "groups: expected 4 (2 namespaces x 2 ports)"
ok "coopctl: per-VS datagram counters and the demux's groups"

# nas2's namespace deleted behind coop's back: its groups stop being
# watched and close (the zombie namespace is not kept alive by them); nas1
# goes on.
[ "$(jq -r '.udp.sockets' "$T/stats.json")" -eq 16 ] || fail "sockets: expected 16 (4 groups x 2 workers x 2 families)"
ip netns del "$P-nas2"
for _ in $(seq 50); do
	state=$("$COOPCTL" -s "$T/admin.sock" --json show vs nas2 | jq -r .state)
	[ "$state" = lost ] && break
	sleep 0.1
done
[ "$state" = lost ] || fail "nas2: state '$state', expected lost"
"$COOPCTL" -s "$T/admin.sock" --json show stats >"$T/stats.json" || fail "show stats"
[ "$(jq -r '.udp.groups' "$T/stats.json")" -eq 2 ] || fail "groups after losing nas2: $(jq -r '.udp.groups' "$T/stats.json")"
[ "$(jq -r '.udp.sockets' "$T/stats.json")" -eq 8 ] || fail "sockets after losing nas2"
[ "$(udp "$P-c1" 198.18.1.1 8 x)" = nas1 ] || fail "nas1 stopped answering"
ok "a VS whose namespace vanished releases its UDP groups; the other keeps serving"

stop_coopd
ok "stop: clean exit"
