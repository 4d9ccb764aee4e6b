#!/usr/bin/env bash
# Crash safety across reloads: a reload adds an address (and a gateway) to a
# netns VS and an address to a pbr VS; coopd is then SIGKILLed. A restart
# on the reloaded file adopts what the reload built without adding it
# twice; a restart on the file from before the reload removes exactly what
# the reload had added; a clean stop then leaves nothing.
. "$(dirname "$0")/lib.sh"

REC=/run/coop/netns
logs() { grep -lsx -- "namespace $1" "$REC"/coopd.* || true; }
rec_cleanup() {
	cleanup
	rm -f $(logs "$P-n1")
}
trap rec_cleanup EXIT

client_ns "$P-c1" "${P}v1" 198.18.30.2/24 2001:db8:30::2/64
nsx "$P-c1" ip addr add 198.18.30.3/24 dev "${P}v1c"
two_routers
nsx "$C" ip route add 198.18.10.0/24 via 198.18.20.1
nsx "$C" ip route add 198.18.11.0/24 via 198.18.21.1

conf() { # conf EXTRA_N1_ADDR EXTRA_PA_ADDR
	cat <<INI
[global]
workers = 2
admin_socket = $T/admin.sock
drain_timeout = 200

[vs n1]
namespace = $P-n1
interface = ${P}v1
addresses = 198.18.30.1/24$1
gateway = 198.18.30.2
listen = tcp:8 whoami

[vs pa]
isolation = pbr
namespace = $P-s
addresses = 198.18.10.5/24@${P}xa$2
gateway = 198.18.10.1
listen = tcp:8 whoami
INI
}
conf "" "" >"$T/before.ini"
conf ", 198.18.30.11/24" ", 198.18.10.6/24@${P}xa" >"$T/after.ini"
cp "$T/before.ini" "$T/coop.ini"

n1_addrs() { nsx "$P-n1" ip -o -4 addr show | awk '{print $4}' | grep 198.18 | sort | tr '\n' ' '; }
pa_addrs() { nsx "$S" ip -o -4 addr show dev "${P}xa" | awk '{print $4}' | sort | tr '\n' ' '; }
kill9() { kill -KILL "$COOPD_PID"; wait "$COOPD_PID" 2>/dev/null; }

start_coopd "$T/coop.ini"
[ "$(tcp "$P-c1" 198.18.30.1 8)" = n1 ] || fail "n1 does not answer"
[ "$(tcp "$C" 198.18.10.5 8)" = pa ] || fail "pa does not answer"

cp "$T/after.ini" "$T/coop.ini"
"$COOPCTL" -s "$T/admin.sock" --json reload >"$T/r" || fail "reload: $(cat "$T/r")"
[ "$(jq -r '.changed | map(.name) | sort | join(" ")' "$T/r")" = "n1 pa" ] ||
	fail "reload: $(cat "$T/r")"
[ "$(tcp "$P-c1" 198.18.30.11 8)" = n1 ] || fail "n1 does not answer on its new address"
[ "$(tcp "$C" 198.18.10.6 8)" = pa ] || fail "pa does not answer on its new address"
grep -q 198.18.30.11/24 $(logs "$P-n1") || fail "n1's record does not claim the new address"
ok "reload added 198.18.30.11 to n1 and 198.18.10.6 to pa; n1's record claims it"

kill9
start_coopd "$T/coop.ini"
[ "$(n1_addrs)" = "198.18.30.1/24 198.18.30.11/24 " ] || fail "adopted n1: addresses '$(n1_addrs)'"
[ "$(pa_addrs)" = "198.18.10.5/24 198.18.10.6/24 " ] || fail "adopted pa: addresses '$(pa_addrs)'"
[ "$(tcp "$P-c1" 198.18.30.11 8)" = n1 ] || fail "restart: n1's new address does not answer"
[ "$(tcp "$C" 198.18.10.6 8)" = pa ] || fail "restart: pa's new address does not answer"
grep -q "adopting namespace '$P-n1'" "$T/coopd.log" || fail "no adoption logged"
ok "SIGKILL after the reload, restart on the same file: adopted, nothing twice"

kill9
cp "$T/before.ini" "$T/coop.ini"
start_coopd "$T/coop.ini"
[ "$(n1_addrs)" = "198.18.30.1/24 " ] || fail "n1 after a restart on the old file: '$(n1_addrs)'"
[ "$(pa_addrs)" = "198.18.10.5/24 " ] || fail "pa after a restart on the old file: '$(pa_addrs)'"
[ "$(tcp "$P-c1" 198.18.30.1 8)" = n1 ] || fail "n1 does not answer"
ok "SIGKILL, restart on the file from before the reload: the reload's addresses removed"

# A reload that removes an address, then SIGKILL: the record no longer
# claims it, and the restart leaves the namespace as the file says.
cp "$T/after.ini" "$T/coop.ini"
"$COOPCTL" -s "$T/admin.sock" reload >/dev/null || fail "reload back to after.ini"
cp "$T/before.ini" "$T/coop.ini"
"$COOPCTL" -s "$T/admin.sock" reload >/dev/null || fail "reload to before.ini"
[ "$(n1_addrs)" = "198.18.30.1/24 " ] || fail "n1 after the reload removing 198.18.30.11: '$(n1_addrs)'"
kill9
start_coopd "$T/coop.ini"
[ "$(n1_addrs)" = "198.18.30.1/24 " ] || fail "n1: '$(n1_addrs)'"
stop_coopd
ip netns list | grep -q "^$P-n1" && fail "stop: $P-n1 left behind"
[ -n "$(logs "$P-n1")" ] && fail "records left after a clean stop"
nsx "$S" ip rule | grep -q 'lookup 1[0-9][0-9][0-9][0-9][0-9]' && fail "pbr rules left in $S"
[ "$(pa_addrs)" = "" ] || fail "pbr addresses left in $S: $(pa_addrs)"
ok "reload removing an address, SIGKILL, restart, stop: nothing left"
