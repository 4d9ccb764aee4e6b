#!/usr/bin/env bash
# A namespace that exists is attached, not owned: coop adds its address and
# listener, and at stop removes exactly those, leaving the namespace and the
# state it did not create.
. "$(dirname "$0")/lib.sh"

ip netns add "$P-pre" || fail "ip netns add"
nsx "$P-pre" ip link set lo up
nsx "$P-pre" ip addr add 198.18.4.9/32 dev lo
client_ns "$P-c1" "${P}v1" 198.18.4.2/24 2001:db8:4::2/64
cat >"$T/coop.ini" <<INI
[global]
workers = 1
admin_socket = $T/admin.sock

[vs attached]
namespace = $P-pre
interface = ${P}v1
addresses = 198.18.4.1/24
gateway = 198.18.4.2
listen = tcp:8 whoami
INI
start_coopd "$T/coop.ini"
[ "$(tcp "$P-c1" 198.18.4.1 8)" = attached ] || fail "whoami through attached namespace"
ok "attached namespace serves"
stop_coopd
ip netns list | grep -q "^$P-pre" || fail "attached namespace was deleted"
nsx "$P-pre" ip -o addr show dev lo | grep -q 198.18.4.9/32 || fail "foreign address removed"
nsx "$P-pre" ip -o addr | grep -q 198.18.4.1 && fail "coop's address left behind"
nsx "$P-pre" ip route show default | grep -q . && fail "coop's route left behind"
ip link show "${P}v1" >/dev/null 2>&1 || fail "veth not moved back"
ok "stop removed only coop's state; namespace and foreign address kept"
