#!/usr/bin/env bash
# A portmapper per VS, asked by Debian's rpcinfo (only its client; no
# rpcbind runs): four VSes serve port 111 over UDP and TCP - two netns VSes
# with the SAME address, each reached from its own client namespace, and two
# pbr VSes sharing one namespace (and one UDP socket group), each reached
# through its own router. `rpcinfo -p` (TCP, DUMP) and `rpcinfo -u`/`-t`
# (GETPORT then NULL) from each client see that VS's registrations only.
#
#   c1 --- nas1 198.18.1.1       c2 --- nas2 198.18.1.1
#   C --(RA)-- S: pa 198.18.10.5 ; C --(RB)-- S: pb 198.18.11.5
. "$(dirname "$0")/lib.sh"

client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64
client_ns "$P-c2" "${P}v2" 198.18.1.2/24 2001:db8:1::2/64

S="$P-s" RA="$P-ra" RB="$P-rb" C="$P-c"
bare_ns "$S" "$RA" "$RB" "$C"
veth "$S" "${P}xa" "$RA" ra0
veth "$S" "${P}xb" "$RB" rb0
veth "$RA" ra1 "$C" ca
veth "$RB" rb1 "$C" cb
nsx "$RA" ip addr add 198.18.10.1/24 dev ra0
nsx "$RA" ip addr add 198.18.20.1/24 dev ra1
nsx "$RB" ip addr add 198.18.11.1/24 dev rb0
nsx "$RB" ip addr add 198.18.21.1/24 dev rb1
nsx "$C" ip addr add 198.18.20.2/24 dev ca
nsx "$C" ip addr add 198.18.21.2/24 dev cb
nsx "$C" ip route add 198.18.10.0/24 via 198.18.20.1
nsx "$C" ip route add 198.18.11.0/24 via 198.18.21.1
for r in "$RA" "$RB"; do
	nsx "$r" sysctl -qw net.ipv4.ip_forward=1
done

cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs nas1]
namespace = $P-nas1
interface = ${P}v1
addresses = 198.18.1.1/24, 2001:db8:1::1/64
listen = udp:111 portmap, tcp:111 portmap
rpc = 100003:3:tcp:2049

[vs nas2]
namespace = $P-nas2
interface = ${P}v2
addresses = 198.18.1.1/24, 2001:db8:1::1/64
listen = udp:111 portmap, tcp:111 portmap
rpc = 100005:3:udp:20048, 100021:4:udp:4045

[vs pa]
isolation = pbr
namespace = $S
interface = ${P}xa
addresses = 198.18.10.5/24
gateway = 198.18.10.1
listen = udp:111 portmap, tcp:111 portmap
rpc = 100024:1:udp:662

[vs pb]
isolation = pbr
namespace = $S
interface = ${P}xb
addresses = 198.18.11.5/24
gateway = 198.18.11.1
listen = udp:111 portmap, tcp:111 portmap
rpc = 100003:4:tcp:2049, 100003:4:udp:2049
INI

"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected"
start_coopd "$T/coop.ini"

# dump NS ADDR : rpcinfo -p (TCP), "prog vers proto port" per line, sorted
dump() {
	nsx "$1" timeout 10 rpcinfo -p "$2" >"$T/dump.out" 2>&1 || {
		sed 's/^/  rpcinfo: /' "$T/dump.out" >&2
		return 1
	}
	awk 'NR > 1 {print $1, $2, $3, $4}' "$T/dump.out" | sort
}
# want LINE... : the expected dump, sorted
want() {
	printf '%s\n' "100000 2 tcp 111" "100000 2 udp 111" "$@" | sort
}

check() { # check NS ADDR VS LINE...
	local ns=$1 addr=$2 vs=$3 got exp
	shift 3
	got=$(dump "$ns" "$addr") || fail "$vs: rpcinfo -p $addr failed"
	exp=$(want "$@")
	[ "$got" = "$exp" ] || fail "$vs: rpcinfo -p $addr gave
$got
expected
$exp"
	nsx "$ns" timeout 10 rpcinfo -u "$addr" 100000 2 | grep -q "ready and waiting" ||
		fail "$vs: rpcinfo -u $addr 100000 2"
	nsx "$ns" timeout 10 rpcinfo -t "$addr" 100000 2 | grep -q "ready and waiting" ||
		fail "$vs: rpcinfo -t $addr 100000 2"
}

check "$P-c1" 198.18.1.1 nas1 "100003 3 tcp 2049"
check "$P-c2" 198.18.1.1 nas2 "100005 3 udp 20048" "100021 4 udp 4045"
ok "netns VSes with the same address: each rpcinfo sees its own VS's map (TCP DUMP, UDP and TCP NULL)"
check "$C" 198.18.10.5 pa "100024 1 udp 662"
check "$C" 198.18.11.5 pb "100003 4 tcp 2049" "100003 4 udp 2049"
ok "pbr VSes sharing a namespace and port 111: each rpcinfo sees its own VS's map"

# Version 3 and 4 (rpcbind) are not spoken: PROG_MISMATCH, as rpcinfo says.
out=$(nsx "$P-c1" timeout 10 rpcinfo -u 198.18.1.1 100000 4 2>&1)
echo "$out" | grep -q "low version = 2, high version = 2" ||
	fail "rpcbind v4 on nas1: '$out'"
# GETPORT of a program another VS has: not registered here.
out=$(nsx "$P-c1" timeout 10 rpcinfo -u 198.18.1.1 100005 3 2>&1)
echo "$out" | grep -qi "not available\|not registered" || fail "nas1 knows mountd: '$out'"
ok "other versions get PROG_MISMATCH (2..2); other VSes' programs are unknown"

# The registry and the counters, per VS, through the admin socket.
"$COOPCTL" -s "$T/admin.sock" --json show vs nas2 >"$T/nas2.json" || fail "show vs nas2"
[ "$(jq -r '.rpc.mappings | length' "$T/nas2.json")" = 4 ] || fail "nas2: 4 mappings expected"
[ "$(jq -r '.rpc.mappings[] | select(.program == 100021) | .owner' "$T/nas2.json")" = config ] ||
	fail "nas2: nlockmgr should be owned by the configuration"
calls=$(jq -r '.rpc.counters.calls' "$T/nas2.json")
[ "$calls" -ge 5 ] || fail "nas2: calls=$calls"
[ "$(jq -r '.rpc.counters.success' "$T/nas2.json")" -ge 4 ] || fail "nas2: success"
"$COOPCTL" -s "$T/admin.sock" --json show stats >"$T/stats.json" || fail "show stats"
# nas1, nas2 and the shared pbr namespace: three groups on port 111.
[ "$(jq -r '.udp.groups' "$T/stats.json")" = 3 ] || fail "udp groups: $(jq -r '.udp.groups' "$T/stats.json")"
ok "coopctl: per-VS registry with owners, RPC counters, three groups for four VSes"

stop_coopd
ok "stop: clean exit"
