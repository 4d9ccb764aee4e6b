#!/usr/bin/env bash
# Hostile input to the per-VS portmapper and the UDP demux: datagrams too
# short to be RPC, replies sent to the server, cut call headers, wrong RPC
# version, unknown program and procedure, short arguments, bursts of random
# bytes; over TCP, records in several fragments, garbage records with good
# framing, cut records, an announced 2 GB record and endless empty
# fragments. Every error RFC 5531 answers is answered (checked byte by
# byte), everything else is counted, and the VS keeps serving.
. "$(dirname "$0")/lib.sh"

client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64

cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs nas1]
namespace = $P-nas1
interface = ${P}v1
addresses = 198.18.1.1/24, 2001:db8:1::1/64
listen = udp:111 portmap, tcp:111 portmap, udp:7 echo
INI
start_coopd "$T/coop.ini"

# bin FILE HEX... : write the bytes given in hex (spaces ignored) to FILE
bin() {
	local f=$1
	shift
	printf '%b' "$(echo "$*" | tr -d ' ' | sed 's/../\\x&/g')" >"$f"
}
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# dgram FILE : send FILE as one datagram to nas1 udp:111; the reply, if
# one comes within half a second, goes to $T/reply
dgram() {
	nsx "$P-c1" timeout 5 socat -t 0.5 -b 65536 - UDP-SENDTO:198.18.1.1:111 <"$1" >"$T/reply" ||
		fail "socat could not send $1"
}
# expect WHAT HEX... : the last reply is exactly these bytes
expect() {
	local what=$1 want
	shift
	want=$(echo "$*" | tr -d ' ')
	[ "$(hexof "$T/reply")" = "$want" ] || fail "$what: expected $want, got '$(hexof "$T/reply")'"
}
# tcprec FILE : send FILE over one TCP connection to nas1 tcp:111; what came
# back goes to $T/reply
tcprec() {
	nsx "$P-c1" timeout 10 socat -t 2 - TCP:198.18.1.1:111,connect-timeout=3 <"$1" >"$T/reply"
}
rpc() { "$COOPCTL" -s "$T/admin.sock" --json show vs nas1 | jq -r ".rpc.counters.$1"; }
alive() { kill -0 "$COOPD_PID" 2>/dev/null || fail "coopd died: $*"; }

NULL_ARGS="00000000 00000002 000186a0 00000002" # CALL, rpcvers 2, prog 100000, vers 2
AUTH="00000000 00000000 00000000 00000000"     # AUTH_NONE credential and verifier
ACCEPTED="00000001 00000000 00000000 00000000" # REPLY, MSG_ACCEPTED, AUTH_NONE verifier

# --- UDP: errors that get an answer ------------------------------------------
bin "$T/m" 0a0b0c01 00000000 00000003 000186a0 00000002 00000000 $AUTH
dgram "$T/m"
expect "rpcvers 3 (RPC_MISMATCH 2..2)" 0a0b0c01 00000001 00000001 00000000 00000002 00000002
bin "$T/m" 0a0b0c02 00000000 00000002 000186a3 00000003 00000000 $AUTH
dgram "$T/m"
expect "program 100003 (PROG_UNAVAIL)" 0a0b0c02 $ACCEPTED 00000001
bin "$T/m" 0a0b0c03 $NULL_ARGS 00000009 $AUTH
dgram "$T/m"
expect "procedure 9 (PROC_UNAVAIL)" 0a0b0c03 $ACCEPTED 00000003
bin "$T/m" 0a0b0c04 $NULL_ARGS 00000003 $AUTH 000186a3 00000003
dgram "$T/m"
expect "GETPORT with half a mapping (GARBAGE_ARGS)" 0a0b0c04 $ACCEPTED 00000004
bin "$T/m" 0a0b0c05 00000000 00000002 000186a0 00000005 00000000 $AUTH
dgram "$T/m"
expect "version 5 (PROG_MISMATCH 2..4)" 0a0b0c05 $ACCEPTED 00000002 00000002 00000004
bin "$T/m" 0a0b0c06 $NULL_ARGS 00000000 00000006 00000000 00000000 00000000
dgram "$T/m"
expect "RPCSEC_GSS credential (AUTH_ERROR, AUTH_REJECTEDCRED)" 0a0b0c06 00000001 00000001 \
	00000001 00000002
bin "$T/m" 0a0b0c07 $NULL_ARGS 00000000 $AUTH
dgram "$T/m"
expect "NULL" 0a0b0c07 $ACCEPTED 00000000
ok "RPC_MISMATCH, PROG_UNAVAIL, PROC_UNAVAIL, GARBAGE_ARGS, PROG_MISMATCH, AUTH_ERROR: answered byte for byte"
alive "after error replies"

# --- UDP: what cannot be answered is dropped and counted ---------------------------
bin "$T/m" 0a0b0c
dgram "$T/m"
[ -s "$T/reply" ] && fail "3 bytes answered"
bin "$T/m" 0a0b0c08 00000001 00000000
dgram "$T/m"
[ -s "$T/reply" ] && fail "a REPLY answered"
bin "$T/m" 0a0b0c09 $NULL_ARGS 00000000 00000000 00000010 0000
dgram "$T/m"
[ -s "$T/reply" ] && fail "a cut header answered"
[ "$(rpc drop_short)" = 1 ] || fail "drop_short $(rpc drop_short), expected 1"
[ "$(rpc drop_nocall)" = 1 ] || fail "drop_nocall $(rpc drop_nocall), expected 1"
[ "$(rpc drop_header)" = 1 ] || fail "drop_header $(rpc drop_header), expected 1"
ok "short, non-call and cut datagrams: no reply, each counted"

# Random bytes: 300 datagrams of 100 bytes and 200 of 7, in bursts small
# enough for the socket buffer, and one of 60,000.
for i in $(seq 10); do
	head -c 3000 /dev/urandom >"$T/r100"
	head -c 140 /dev/urandom >"$T/r7"
	nsx "$P-c1" socat -u -b 100 "FILE:$T/r100" UDP-SENDTO:198.18.1.1:111 || fail "burst"
	nsx "$P-c1" socat -u -b 7 "FILE:$T/r7" UDP-SENDTO:198.18.1.1:111 || fail "burst"
done
head -c 60000 /dev/urandom >"$T/r60k"
nsx "$P-c1" socat -u -b 65536 "FILE:$T/r60k" UDP-SENDTO:198.18.1.1:111 || fail "big"
sleep 0.5
alive "after random datagrams"
"$COOPCTL" -s "$T/admin.sock" --json show vs nas1 >"$T/vs.json"
in=$(jq -r '.udp.dgrams_in' "$T/vs.json")
[ "$in" -ge 500 ] || fail "dgrams_in=$in after 500+ random datagrams"
# Every datagram either got an answer or was counted as refused.
out=$(jq -r '.udp.dgrams_out' "$T/vs.json")
refused=$(jq -r '.udp.drops.service' "$T/vs.json")
[ $((out + refused)) -eq "$in" ] || fail "in=$in but out=$out + refused=$refused"
drops=$(jq -r '.rpc.counters | .drop_short + .drop_nocall + .drop_header' "$T/vs.json")
[ "$drops" -eq "$refused" ] || fail "rpc drops $drops != udp service drops $refused"
nsx "$P-c1" timeout 10 rpcinfo -u 198.18.1.1 100000 2 | grep -q "ready and waiting" ||
	fail "portmap over UDP does not answer after the garbage"
[ "$(udp "$P-c1" 198.18.1.1 7 still-here)" = still-here ] || fail "echo stopped"
ok "random datagrams: every one answered or counted ($in in, $out out, $refused refused); service continues"

# --- TCP: record marking --------------------------------------------------------------
# A NULL call split in two fragments, then a REPLY (well framed garbage),
# then a NULL call in one: two answers, the garbage counted, one stream.
bin "$T/m" 00000014 0a0b0c10 $NULL_ARGS \
	80000014 00000000 $AUTH \
	8000000c 0a0b0c11 00000001 00000000 \
	80000028 0a0b0c12 $NULL_ARGS 00000000 $AUTH
nc0=$(rpc drop_nocall)
tcprec "$T/m"
expect "fragmented call + garbage record + call" 80000018 0a0b0c10 $ACCEPTED 00000000 \
	80000018 0a0b0c12 $ACCEPTED 00000000
[ "$(rpc drop_nocall)" = $((nc0 + 1)) ] || fail "the garbage record was not counted"
ok "TCP: a call in two fragments and one after a garbage record answered on the same stream"

# An announced 2 GB record: refused at its header, connection closed.
r0=$(rpc drop_record)
bin "$T/m" 7fffffff 0a0b0c13
tcprec "$T/m"
[ -s "$T/reply" ] && fail "2 GB record answered"
# Endless empty fragments: the headers count toward the 4 KiB bound.
head -c 8192 /dev/zero >"$T/zeros"
tcprec "$T/zeros"
[ -s "$T/reply" ] && fail "empty fragments answered"
# A record cut short by the client: nothing to answer, nothing to count.
bin "$T/m" 80000028 0a0b0c14 $NULL_ARGS
tcprec "$T/m"
[ -s "$T/reply" ] && fail "a cut record answered"
[ "$(rpc drop_record)" = $((r0 + 2)) ] || fail "drop_record $(rpc drop_record), expected $((r0 + 2))"
alive "after TCP garbage"
nsx "$P-c1" timeout 10 rpcinfo -p 198.18.1.1 | grep -q portmapper || fail "rpcinfo -p after garbage"
ok "TCP: oversized and endless records closed and counted, cut records harmless, service continues"

stop_coopd
ok "stop: clean exit"
