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

two_routers
nsx "$C" ip route add 198.18.10.0/24 via 198.18.20.1
nsx "$C" ip route add 198.18.11.0/24 via 198.18.21.1

cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs nas1]
namespace = $P-nas1
interface = ${P}v1
addresses = 198.18.1.1/24, 2001:db8:1::1/64, 198.18.1.3/24
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
	printf '%s\n' "100000 2 tcp 111" "100000 2 udp 111" "100000 3 tcp 111" "100000 3 udp 111" \
		"100000 4 tcp 111" "100000 4 udp 111" "$@" | sort
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

# Versions 2 to 4 are spoken; version 5 gets PROG_MISMATCH 2..4.
out=$(nsx "$P-c1" timeout 10 rpcinfo -u 198.18.1.1 100000 5 2>&1)
echo "$out" | grep -q "low version = 2, high version = 4" ||
	fail "portmap v5 on nas1: '$out'"
# GETPORT of a program another VS has: not registered here.
out=$(nsx "$P-c1" timeout 10 rpcinfo -u 198.18.1.1 100005 3 2>&1)
echo "$out" | grep -qi "not available\|not registered" || fail "nas1 knows mountd: '$out'"
ok "version 5 gets PROG_MISMATCH (2..4); other VSes' programs are unknown"


# --- rpcbind versions 3 and 4 (universal addresses, netids, IPv6) -----------
# rpcq NS ARGS... : rpcinfo ARGS in NS, output in $T/rpcq.out; fails loudly
rpcq() {
	local ns=$1
	shift
	nsx "$ns" timeout 10 rpcinfo "$@" >"$T/rpcq.out" 2>&1 || {
		sed 's/^/  rpcinfo: /' "$T/rpcq.out" >&2
		fail "rpcinfo $* (in $ns)"
	}
}
# has LINE... : each "field field ..." appears as the start of an output line
# (whitespace squeezed)
has() {
	local l
	for l in "$@"; do
		awk '{$1 = $1; print}' "$T/rpcq.out" | grep -qF -- "$l" || {
			sed 's/^/  got: /' "$T/rpcq.out" >&2
			fail "expected '$l'"
		}
	done
}
hasnt() {
	if grep -qF -- "$1" "$T/rpcq.out"; then
		sed 's/^/  got: /' "$T/rpcq.out" >&2
		fail "unexpected '$1'"
	fi
}

# rpcinfo ADDR (no -p): rpcbind v4 DUMP, netids and universal addresses of
# the VS's own addresses, owners.
rpcq "$P-c1" 198.18.1.1
has "100000 4 tcp 198.18.1.1.0.111 portmapper superuser" \
	"100000 2 udp6 2001:db8:1::1.0.111 portmapper superuser" \
	"100003 3 tcp 198.18.1.1.8.1 nfs superuser" "100003 3 tcp6 2001:db8:1::1.8.1 nfs superuser"
hasnt 100005
rpcq "$P-c2" 198.18.1.1
has "100005 3 udp 198.18.1.1.78.80" "100021 4 udp6 2001:db8:1::1.15.205"
hasnt "100003"
rpcq "$C" 198.18.10.5
has "100024 1 udp 198.18.10.5.2.150 status superuser" "100000 3 tcp 198.18.10.5.0.111"
hasnt "100003"
hasnt "198.18.11.5"
rpcq "$C" 198.18.11.5
has "100003 4 tcp 198.18.11.5.8.1 nfs" "100003 4 udp 198.18.11.5.8.1 nfs"
hasnt "100024"
ok "rpcinfo ADDR (rpcbind v4 DUMP): each VS's own map, with netids, uaddrs and owners"

# The same over IPv6, to a netns VS's IPv6 address.
rpcq "$P-c1" 2001:db8:1::1
has "100003 3 tcp6 2001:db8:1::1.8.1 nfs" "100000 4 udp6 2001:db8:1::1.0.111"
hasnt 100005
rpcq "$P-c2" 2001:db8:1::1
has "100021 4 udp6 2001:db8:1::1.15.205 nlockmgr"
hasnt 100003
for t in "udp6 4" "tcp6 3" "udp6 2" "tcp6 4"; do
	set -- $t
	rpcq "$P-c1" -T "$1" 2001:db8:1::1 100000 "$2"
	has "program 100000 version $2 ready and waiting"
done
ok "over IPv6: rpcinfo 2001:db8:1::1 and rpcinfo -T udp6/tcp6 ... 100000 2/3/4"

# IPv4 with an explicit transport and version; a universal address given
# directly (-a); GETADDRLIST (-l), the concise DUMP (-s), GETSTAT (-m).
for t in "udp 3" "udp 4" "tcp 3" "tcp 4"; do
	set -- $t
	rpcq "$C" -T "$1" 198.18.11.5 100000 "$2"
	has "program 100000 version $2 ready and waiting"
done
rpcq "$P-c1" -a 198.18.1.1.0.111 -T udp 100000 4
has "program 100000 version 4 ready and waiting"
rpcq "$P-c1" -a 2001:db8:1::1.0.111 -T tcp6 100000 3
has "program 100000 version 3 ready and waiting"
rpcq "$P-c2" -l 198.18.1.1 100021 4
has "100021 4 inet/udp/clts 198.18.1.1.15.205"
rpcq "$P-c1" -l 2001:db8:1::1 100003 3
has "100003 3 inet6/tcp/cots_ord 2001:db8:1::1.8.1"
rpcq "$C" -s 198.18.10.5
has "100024 1 udp status superuser" "100000 4,3,2 tcp,udp portmapper superuser"
rpcq "$C" -m 198.18.11.5
has "PORTMAP (version 2) statistics" "RPCBIND (version 3) statistics" "RPCBIND (version 4) statistics"
ok "rpcinfo -T udp/tcp ADDR 100000 3/4, -a UADDR, -l (GETADDRLIST), -s, -m (GETSTAT)"

# A VS with two IPv4 addresses: universal addresses carry the one the
# request came to, over TCP (DUMP) and UDP (GETADDRLIST).
rpcq "$P-c1" 198.18.1.3
has "100003 3 tcp 198.18.1.3.8.1 nfs" "100000 4 udp 198.18.1.3.0.111"
hasnt "198.18.1.1."
rpcq "$P-c1" -l 198.18.1.3 100003 3
has "100003 3 inet/tcp/cots_ord 198.18.1.3.8.1"
hasnt "198.18.1.1."
ok "second address: uaddrs name the address the request came to (TCP DUMP, UDP GETADDRLIST)"

# The registry and the counters, per VS, through the admin socket.
"$COOPCTL" -s "$T/admin.sock" --json show vs nas2 >"$T/nas2.json" || fail "show vs nas2"
[ "$(jq -r '.rpc.mappings | length' "$T/nas2.json")" = 8 ] || fail "nas2: 8 mappings expected"
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
