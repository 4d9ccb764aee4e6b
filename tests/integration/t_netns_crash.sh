#!/usr/bin/env bash
# Crash safety of netns VSes: coopd is SIGKILLed and restarted. It adopts
# what the dead run recorded in its log in /run/coop/netns (the namespace it created,
# the veth it moved in, its addresses and routes), serves again without
# duplicating anything, and a clean stop then removes all of it while the
# foreign state of an attached namespace survives. A VS dropped from the file
# between runs is cleaned at the next start. A second coopd naming the same
# namespace refuses and the first keeps serving.
. "$(dirname "$0")/lib.sh"

REC=/run/coop/netns
# logs NS : the record logs that mention namespace NS
logs() {
	grep -lsx -- "namespace $1" "$REC"/coopd.* || true
}
rec_cleanup() {
	cleanup
	rm -f $(logs "$P-own") $(logs "$P-att")
}
trap rec_cleanup EXIT

client_ns "$P-c1" "${P}v1" 198.18.8.2/24 2001:db8:8::2/64
client_ns "$P-c2" "${P}v2" 198.18.9.2/24 2001:db8:9::2/64
ip link set "${P}v1" up # it must come back up, as it was before coopd
# The attached namespace holds foreign state that must survive everything.
ip netns add "$P-att" || fail "ip netns add $P-att"
nsx "$P-att" ip link set lo up
nsx "$P-att" ip addr add 198.18.9.77/32 dev lo

vs_own() {
	cat <<INI
[vs own]
namespace = $P-own
interface = ${P}v1
addresses = 198.18.8.1/24, 2001:db8:8::1/64
gateway = 198.18.8.2, 2001:db8:8::2
listen = tcp:8 whoami

INI
}
vs_att() {
	cat <<INI
[vs att]
namespace = $P-att
interface = ${P}v2
addresses = 198.18.9.1/24
gateway = 198.18.9.2
listen = tcp:8 whoami
INI
}
global() {
	printf '[global]\nworkers = 2\nadmin_socket = %s\n\n' "$1"
}
{ global "$T/admin.sock"; vs_own; vs_att; } >"$T/both.ini"
{ global "$T/admin.sock"; vs_att; } >"$T/att.ini"

# state NS : everything coop might have added, one line per object
state() {
	nsx "$1" ip -o addr show | awk '{print $2, $4}' | sort
	nsx "$1" ip route show default
	nsx "$1" ip -6 route show default | grep -v 'fe80' | sed 's/ pref.*//'
}
serves() {
	[ "$(tcp "$P-c1" 198.18.8.1 8)" = own ] || fail "$1: own does not answer"
	[ "$(tcp "$P-c1" '[2001:db8:8::1]' 8)" = own ] || fail "$1: own does not answer on v6"
	[ "$(tcp "$P-c2" 198.18.9.1 8)" = att ] || fail "$1: att does not answer"
}
kill9() {
	kill -KILL "$COOPD_PID"
	wait "$COOPD_PID" 2>/dev/null
}
count() { # count NS PATTERN : lines of `state NS` matching PATTERN
	state "$1" | grep -c -- "$2"
}

start_coopd "$T/both.ini"
serves "first run"
log1=$REC/coopd.$COOPD_PID.$(awk '{print $22}' "/proc/$COOPD_PID/stat")
[ "$(logs "$P-own")" = "$log1" ] && [ "$(logs "$P-att")" = "$log1" ] ||
	fail "no records in $log1: $(ls "$REC")"
state "$P-own" >"$T/own.1"
state "$P-att" >"$T/att.1"
ok "first run serves; records written"

kill9
ip netns list | grep -q "^$P-own" || fail "SIGKILL: namespace gone (?)"
ok "SIGKILL leaves namespace $P-own, ${P}v1 inside it"

start_coopd "$T/both.ini"
serves "after restart"
state "$P-own" >"$T/own.2"
state "$P-att" >"$T/att.2"
cmp -s "$T/own.1" "$T/own.2" || fail "own: state differs after restart: $(diff "$T/own.1" "$T/own.2")"
cmp -s "$T/att.1" "$T/att.2" || fail "att: state differs after restart: $(diff "$T/att.1" "$T/att.2")"
[ "$(count "$P-own" 198.18.8.1/24)" = 1 ] || fail "own: address duplicated"
[ "$(nsx "$P-own" ip route show default | wc -l)" = 1 ] || fail "own: default route duplicated"
grep -q "adopting namespace '$P-own'" "$T/coopd.log" || fail "no adoption logged"
[ -e "$log1" ] && fail "the dead run's log $log1 is left after the adoption"
ok "restart adopts: serves again, nothing added twice"

# A second coopd on the same namespaces (its own admin socket) refuses.
{ global "$T/admin2.sock"; vs_att; } >"$T/second.ini"
out=$(timeout 10 "$COOPD" -c "$T/second.ini" 2>&1)
rc=$?
[ "$rc" -ne 0 ] || fail "second coopd started on a namespace in use"
echo "$out" | grep -q "namespace '$P-att' is in use by another coopd (pid $COOPD_PID" ||
	fail "second coopd: message '$out'"
serves "after the second coopd refused"
cmp -s "$T/att.1" <(state "$P-att") || fail "second coopd changed $P-att"
ok "second coopd refuses: $(echo "$out" | grep 'in use' | head -1)"

stop_coopd
ip netns list | grep -q "^$P-own" && fail "stop after adoption: $P-own left behind"
ip -o link show "${P}v1" | grep -q 'state UP\|,UP' || fail "${P}v1 not back up in the root namespace"
ip -o addr show dev "${P}v1" | grep -q 198.18 && fail "${P}v1 kept coop's address"
ip link show "${P}v2" >/dev/null 2>&1 || fail "${P}v2 not back in the root namespace"
[ "$(state "$P-att")" = "lo 127.0.0.1/8
lo 198.18.9.77/32
lo ::1/128" ] || fail "attached namespace state: $(state "$P-att")"
[ -n "$(logs "$P-own")$(logs "$P-att")" ] && fail "records left after a clean stop: $(logs "$P-own") $(logs "$P-att")"
ok "clean stop after adoption: created namespace gone, veth back up, foreign state kept"

# Round two: SIGKILL, then a configuration without 'own'.
start_coopd "$T/both.ini"
serves "round two"
kill9
start_coopd "$T/att.ini"
ip netns list | grep -q "^$P-own" && fail "dropped VS: namespace $P-own not cleaned at start"
ip -o link show "${P}v1" | grep -q ',UP' || fail "dropped VS: ${P}v1 not back up"
[ -n "$(logs "$P-own")" ] && fail "dropped VS: record left in $(logs "$P-own")"
grep -q "namespace '$P-own' (left by coopd pid [0-9]*): no VS uses it any more; cleaned up" \
	"$T/coopd.log" || fail "cleaning not logged"
[ "$(tcp "$P-c2" 198.18.9.1 8)" = att ] || fail "att does not answer after the cleaning"
ok "dropped VS cleaned at start: $(grep -o "namespace '$P-own'.*" "$T/coopd.log" | head -1)"
stop_coopd
[ "$(state "$P-att")" = "lo 127.0.0.1/8
lo 198.18.9.77/32
lo ::1/128" ] || fail "attached namespace state at the end: $(state "$P-att")"
ip link show "${P}v2" >/dev/null 2>&1 || fail "${P}v2 not back"
[ -n "$(logs "$P-att")" ] && fail "record left at the end in $(logs "$P-att")"
ok "nothing left"
