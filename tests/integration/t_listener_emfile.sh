#!/usr/bin/env bash
# A listener of a VS whose process is out of descriptors must not spin:
# with coopd's descriptor limit lowered under it and a connection waiting
# that it cannot accept, its workers rest (a pause, then a retry) instead
# of waking for the same connection again and again; once descriptors are
# free the waiting connection is served.
. "$(dirname "$0")/lib.sh"

client_ns "$P-c" "${P}v" 198.18.60.2/24 2001:db8:60::2/64
cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs e1]
namespace = $P-e1
interface = ${P}v
addresses = 198.18.60.1/24
listen = tcp:7 echo
INI
start_coopd "$T/coop.ini"
[ "$(echo hi | nsx "$P-c" socat -T 2 - TCP:198.18.60.1:7)" = hi ] || fail "echo does not answer"

# cpu PID : user + system clock ticks of the process so far
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
nfd=$(ls "/proc/$COOPD_PID/fd" | wc -l)
hard=$(prlimit --pid "$COOPD_PID" --nofile --noheadings --output HARD)
# Room for exactly two more descriptors: the first connections take them.
prlimit --pid "$COOPD_PID" --nofile=$((nfd + 2)):"$hard" || fail "prlimit"
for i in 1 2 3 4; do
	nsx "$P-c" socat -T 30 TCP:198.18.60.1:7 EXEC:'sleep 30' 2>/dev/null &
	PIDS+=("$!")
done
sleep 0.5
t0=$(cpu "$COOPD_PID")
sleep 2
used=$(( $(cpu "$COOPD_PID") - t0 ))
tick=$(getconf CLK_TCK)
# A spinning worker burns about a CPU second per second.
[ "$used" -lt $((tick / 4)) ] || fail "out of descriptors: coopd used $used ticks ($tick/s) of CPU in 2 s: its listeners spin"
pauses=$("$COOPCTL" -s "$T/admin.sock" --json show vs e1 | jq -r .accept_pauses)
[ "$pauses" -gt 0 ] || fail "no accept pause counted ($pauses)"
grep -q "pausing this listener" "$T/coopd.log" || fail "the pause is not logged"
ok "out of descriptors with connections waiting: $used ticks of CPU in 2 s, $pauses pauses"

prlimit --pid "$COOPD_PID" --nofile="$hard":"$hard" || fail "prlimit back"
out=$(echo back | nsx "$P-c" socat -T 3 - TCP:198.18.60.1:7)
[ "$out" = back ] || fail "descriptors free again: a new connection is not served ('$out')"
ok "descriptors free again: waiting and new connections are served"
stop_coopd
ok "clean stop"
