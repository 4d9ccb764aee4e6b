#!/usr/bin/env bash
# `ip netns del` of a VS's namespace while coopd runs: that VS stops
# serving (connections closed, listeners gone, its veth back in the root
# namespace) and reports "lost", while another VS is not disturbed.
. "$(dirname "$0")/lib.sh"

client_ns "$P-c1" "${P}v1" 198.18.7.2/24 2001:db8:7::2/64
client_ns "$P-c2" "${P}v2" 198.18.7.2/24 2001:db8:7::2/64
cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs doomed]
namespace = $P-doomed
interface = ${P}v1
addresses = 198.18.7.1/24
listen = tcp:7 echo, tcp:8 whoami

[vs survivor]
namespace = $P-survivor
interface = ${P}v2
addresses = 198.18.7.1/24
listen = tcp:7 echo, tcp:8 whoami
INI
start_coopd "$T/coop.ini"
[ "$(tcp "$P-c1" 198.18.7.1 8)" = doomed ] || fail "doomed does not answer"

# A connection to each VS stays open across the deletion.
head -c 3000000 /dev/urandom >"$T/payload"
( nsx "$P-c2" timeout 30 socat -t 5 -b 2048 - TCP:198.18.7.1:7 <"$T/payload" >"$T/echoed" ) &
conv=$!
PIDS+=("$conv")
nsx "$P-c1" timeout 20 socat -u TCP:198.18.7.1:7 /dev/null </dev/null >/dev/null 2>&1 &
held=$!
PIDS+=("$held")
sleep 0.3

ip netns del "$P-doomed"
for _ in $(seq 50); do
	state=$("$COOPCTL" -s "$T/admin.sock" --json show vs doomed | jq -r .state)
	[ "$state" = lost ] && break
	sleep 0.1
done
[ "$state" = lost ] || fail "doomed: state '$state', expected lost"
ok "deleting the namespace makes the VS lost"

for _ in $(seq 50); do kill -0 "$held" 2>/dev/null || break; sleep 0.1; done
kill -0 "$held" 2>/dev/null && fail "connection to the lost VS still open"
ip link show "${P}v1" >/dev/null 2>&1 || fail "veth of the lost VS did not come back"
nsx "$P-c1" timeout 3 socat -u /dev/null TCP:198.18.7.1:8,connect-timeout=1 2>/dev/null &&
	fail "lost VS still accepts connections"
ok "its connections closed, its veth back in the root namespace, nothing listens"

wait "$conv" || fail "survivor's echo conversation broke"
cmp -s "$T/payload" "$T/echoed" || fail "survivor's echo data differs"
[ "$(tcp "$P-c2" 198.18.7.1 8)" = survivor ] || fail "survivor does not answer"
ok "the other VS kept serving"
stop_coopd
ip netns list | grep -q "^$P-survivor" && fail "survivor namespace left behind"
ok "clean stop"
