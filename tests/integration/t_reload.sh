#!/usr/bin/env bash
# Live reconfiguration (coopctl reload, SIGHUP) with traffic running: four
# VSes serve the whole time - two netns VSes, each with its own veth into a
# client namespace, and two pbr VSes sharing a namespace behind two routers
# - while reload_conns holds TCP echo connections to all four and checks
# every byte and every gap between echoes, and a background loop sends UDP
# echo and rpcinfo (UDP portmap) requests to each. Reloads then add VSes
# (they answer), remove them (draining, then exactly their kernel state is
# released), add and remove addresses, listeners and a gateway in place,
# change a VS's DNS servers (the new dnsmasq answers), refuse bad files
# (nothing changes), fail half-way on one VS (a pbr VS whose link refuses
# IPv6, a netns VS whose link left its namespace: it is rolled back, the
# others are applied); after each, the untouched VSes' connections saw no
# error and no gap over 100 ms and `show vs` matches the file. Then 50
# reloads in a row (RSS and fds stay put), `vs drain` / `vs resume`, a pbr
# VS whose link was deleted (refused, then removed), and a stop that
# leaves nothing behind.
#
#   c1 --- v1 n1 198.18.1.1 (+ 2001:db8:1::1)    c2 --- v2 n2 198.18.2.1
#   c3 --- v3 n3 198.18.3.1 (added, removed)     c4 --- v4 n4 198.18.4.1
#   C --(RA)-- S: pa 198.18.10.5 @xa, pc 198.18.12.5 @xa (added, removed)
#   C --(RB)-- S: pb 198.18.11.5 @xb
#              S: pd 198.18.13.5 @xd (a veth pair inside S, deleted later)
. "$(dirname "$0")/lib.sh"

REC=/run/coop/netns
SOCK="$T/admin.sock"
GAP_MAX=100 # ms: the longest pause an untouched VS's connection may see
DRAIN_MS=3000
T_START=$SECONDS

for cmd in jq socat rpcinfo dnsmasq; do
	command -v "$cmd" >/dev/null || fail "$cmd not installed"
done
cc -O2 -Wall -o "$T/reload_conns" "$top/tests/integration/reload_conns.c" ||
	fail "cannot build tests/integration/reload_conns.c"

# Also what a coopd that crashed leaves: its record log and the pbr sysctl
# record it made (files that appeared in /run/coop while it ran).
reload_cleanup() {
	local f new=""
	[ -s "${T_RUN_NEW:-}" ] && new=$(cat "$T_RUN_NEW")
	cleanup
	for f in $new; do rm -f "/run/coop/$f"; done
	[ -n "${COOPD_PID:-}" ] && rm -f "$REC/coopd.$COOPD_PID".*
	return 0
}
trap reload_cleanup EXIT

ctl() { "$COOPCTL" -s "$SOCK" "$@"; }
elapsed() { echo "$((SECONDS - T_START)) s"; }

# --- topology -------------------------------------------------------------------
client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64
client_ns "$P-c2" "${P}v2" 198.18.2.2/24 2001:db8:2::2/64
client_ns "$P-c3" "${P}v3" 198.18.3.2/24 2001:db8:3::2/64
client_ns "$P-c4" "${P}v4" 198.18.4.2/24 2001:db8:4::2/64
two_routers
nsx "$RA" ip addr add 198.18.12.1/24 dev ra0
nsx "$C" ip route add 198.18.10.0/24 via 198.18.20.1
nsx "$C" ip route add 198.18.12.0/24 via 198.18.20.1
nsx "$C" ip route add 198.18.11.0/24 via 198.18.21.1
# pd's link: a veth pair with both ends in S, deleted in the half-way test
ip link add "${P}xd" netns "$S" type veth peer name "${P}xe" netns "$S" || fail "veth xd"
nsx "$S" ip link set "${P}xd" up
nsx "$S" ip link set "${P}xe" up

# Two DNS servers in c1 answering every corp.test name differently: n1
# starts with the first and is moved to the second.
dnsmasq_in() { # dnsmasq_in PORT ANSWER LOG
	nsenter --net="/run/netns/$P-c1" dnsmasq --keep-in-foreground --user=root --no-resolv --no-hosts \
		--pid-file= --port "$1" --listen-address=198.18.1.2 --bind-interfaces --local-ttl=60 \
		--local=/corp.test/ --address="/corp.test/$2" --log-queries --log-facility="$3" \
		</dev/null >/dev/null 2>>"$T/dnsmasq.err" &
	PIDS+=($!)
}
dnsmasq_in 53 198.18.50.1 "$T/q1.log"
dnsmasq_in 5353 198.18.50.2 "$T/q2.log"
for _ in $(seq 50); do
	nsx "$P-c1" dig +short +time=1 @198.18.1.2 x.corp.test 2>/dev/null | grep -q . &&
		nsx "$P-c1" dig +short +time=1 -p 5353 @198.18.1.2 x.corp.test 2>/dev/null | grep -q . && break
	sleep 0.1
done
[ "$(nsx "$P-c1" dig +short -p 5353 @198.18.1.2 x.corp.test)" = 198.18.50.2 ] || fail "dnsmasq setup"

# --- the configuration: one set of variables per VS; the file and what
# `show vs` must show are both made from them ----------------------------------
L="tcp:7 echo, udp:7 echo, tcp:8 whoami, udp:8 whoami, tcp:111 portmap, udp:111 portmap"
declare -A ISO NSN IFN ADDR GW LISTEN DNS EXTRA
ISO=([n1]=netns [n2]=netns [n3]=netns [n4]=netns [pa]=pbr [pb]=pbr [pc]=pbr [pd]=pbr)
NSN=([n1]="$P-n1" [n2]="$P-n2" [n3]="$P-n3" [n4]="$P-n4" [pa]="$S" [pb]="$S" [pc]="$S" [pd]="$S")
IFN=([n1]="${P}v1" [n2]="${P}v2" [n3]="${P}v3" [n4]="${P}v4" [pa]="${P}xa" [pb]="${P}xb"
	[pc]="${P}xa" [pd]="${P}xd")
ADDR=([n1]="198.18.1.1/24, 2001:db8:1::1/64" [n2]="198.18.2.1/24" [n3]="198.18.3.1/24"
	[n4]="198.18.4.1/24" [pa]="198.18.10.5/24" [pb]="198.18.11.5/24" [pc]="198.18.12.5/24"
	[pd]="198.18.13.5/24")
GW=([n1]="198.18.1.2, 2001:db8:1::2" [n3]="198.18.3.2" [pa]="198.18.10.1" [pb]="198.18.11.1"
	[pc]="198.18.12.1")
LISTEN=([n1]="$L" [n2]="$L" [n3]="$L" [n4]="tcp:8 whoami" [pa]="$L" [pb]="$L" [pc]="$L"
	[pd]="tcp:8 whoami")
DNS=([n1]="198.18.1.2")
VSES=(n1 n2 pa pb pd n4) # the VSes of the file, in its order
GLOBAL_EXTRA=""

section() {
	local v=$1
	echo "[vs $v]"
	[ "${ISO[$v]}" = pbr ] && echo "isolation = pbr"
	echo "namespace = ${NSN[$v]}"
	echo "interface = ${IFN[$v]}"
	echo "addresses = ${ADDR[$v]}"
	[ -n "${GW[$v]:-}" ] && echo "gateway = ${GW[$v]}"
	[ -n "${LISTEN[$v]:-}" ] && echo "listen = ${LISTEN[$v]}"
	[ -n "${DNS[$v]:-}" ] && echo "dns = ${DNS[$v]}"
	[ -n "${EXTRA[$v]:-}" ] && echo "${EXTRA[$v]}"
	echo
}
# write_config : $T/coop.ini from the variables (replaced in one rename)
write_config() {
	local v
	{
		printf '[global]\nworkers = 2\nadmin_socket = %s\ndrain_timeout = %s\n%s\n' \
			"$SOCK" "$DRAIN_MS" "$GLOBAL_EXTRA"
		for v in "${VSES[@]}"; do section "$v"; done
	} >"$T/coop.ini.new"
	mv "$T/coop.ini.new" "$T/coop.ini"
}
has_vs() { [[ " ${VSES[*]} " == *" $1 "* ]]; }
add_vs() { has_vs "$1" || VSES+=("$1"); }
del_vs() {
	local v out=()
	for v in "${VSES[@]}"; do [ "$v" = "$1" ] || out+=("$v"); done
	VSES=("${out[@]}")
}

# list SEP "a, b" : the comma list sorted, joined with SEP
list() { tr ',' '\n' <<<"$2" | sed 's/^ *//; s/ *$//' | grep . | LC_ALL=C sort | paste -sd"$1"; }
# want / have : "NAME|ADDRESSES|LISTENERS" per VS, from the variables and
# from `show vs` (VSes being removed left out)
want() {
	local v
	for v in "${VSES[@]}"; do
		printf '%s|%s|%s|up\n' "$v" "$(list ' ' "${ADDR[$v]}")" "$(list ';' "${LISTEN[$v]:-}")"
	done | LC_ALL=C sort
}
have() {
	ctl --json show vs >"$T/show.json" || fail "show vs: $(cat "$T/show.json")"
	jq -r '.vs[] | select(.state != "removing") |
		"\(.name)|\(.addresses | sort | join(" "))|\(.listeners | sort | join(";"))|\(.state)"' \
		"$T/show.json" | LC_ALL=C sort
}
check_show() { # check_show STEP
	local w h
	w=$(want)
	h=$(have)
	[ "$w" = "$h" ] || fail "$1: show vs does not match the file:
$(diff <(echo "$w") <(echo "$h") | sed 's/^/    /')"
}

# The reply of a reload. reload_ok STEP "ADDED" "REMOVED" "CHANGED": the
# names (space-separated) in each array; every other VS of the file must
# be in "kept", "rebuilt" must be empty, every "changed" entry says what.
reload_ok() {
	local step=$1 added=$2 removed=$3 changed=$4 v kept=() got
	ctl --json reload >"$T/reply" 2>&1 || fail "$step: reload failed: $(cat "$T/reply")"
	jq -e 'type == "object" and (.error | not)' "$T/reply" >/dev/null ||
		fail "$step: reply is not a result: $(cat "$T/reply")"
	for v in "${VSES[@]}"; do
		[[ " $added $changed " == *" $v "* ]] || kept+=("$v")
	done
	for f in "added:$added" "removed:$removed" "kept:${kept[*]}" "rebuilt:"; do
		got=$(jq -r ".${f%%:*} | if type == \"array\" then map(tostring) | sort | join(\" \") else \"NOT AN ARRAY\" end" "$T/reply")
		[ "$got" = "$(list ' ' "$(tr ' ' ',' <<<"${f#*:}")")" ] ||
			fail "$step: reply .${f%%:*} is '$got', expected '${f#*:}': $(cat "$T/reply")"
	done
	got=$(jq -r '.changed | if type == "array" then map(.name) | sort | join(" ") else "NOT AN ARRAY" end' "$T/reply")
	[ "$got" = "$(list ' ' "$(tr ' ' ',' <<<"$changed")")" ] ||
		fail "$step: reply .changed names '$got', expected '$changed': $(cat "$T/reply")"
	jq -e '[.changed[] | (.what | type == "string" and length > 0)] | all' "$T/reply" >/dev/null ||
		fail "$step: a changed entry without 'what': $(cat "$T/reply")"
}
# reload_err STEP TEXT... : the reload is refused (coopctl exits 1, the
# reply is {"error": ...}) with a message containing every TEXT
reload_err() {
	local step=$1 rc msg t
	shift
	ctl --json reload >"$T/reply" 2>"$T/reply.err"
	rc=$?
	[ "$rc" -eq 1 ] || fail "$step: coopctl reload exited $rc, expected 1: $(cat "$T/reply" "$T/reply.err")"
	jq -e 'type == "object" and keys == ["error"]' "$T/reply" >/dev/null ||
		fail "$step: reply is not {\"error\":...}: $(cat "$T/reply")"
	msg=$(jq -r .error "$T/reply")
	for t in "$@"; do
		grep -qF -- "$t" <<<"$msg" || fail "$step: error does not name '$t': $msg"
	done
	ERR_MSG=$msg
}

# --- the connections: reload_conns as a coprocess --------------------------------
BASE=(n1 n1v6 n2 pa pb)
start_conns() {
	coproc RC { exec "$T/reload_conns" -g 50 "n1,$P-c1,198.18.1.1,7,3" "n1v6,$P-c1,2001:db8:1::1,7,2" \
		"n2,$P-c2,198.18.2.1,7,3" "pa,$C,198.18.10.5,7,3" "pb,$C,198.18.11.5,7,3" \
		2>"$T/conns.err"; }
	RC_P=$RC_PID
	PIDS+=("$RC_P")
	# our own copies: bash closes the coprocess's descriptors when it exits,
	# maybe before its summary is read
	exec {RC_IN}>&"${RC[1]}" {RC_OUT}<&"${RC[0]}"
	rc_read >"$T/ready" || fail "reload_conns did not start: $(cat "$T/conns.err")"
	grep -q '^ready ok=14 fail=0$' "$T/ready" || fail "connections: $(cat "$T/ready" "$T/conns.err")"
}
# rc_read : one reply block of reload_conns (without "end")
rc_read() {
	local line
	while read -r -t 20 -u "$RC_OUT" line; do
		[ "$line" = end ] && return 0
		echo "$line"
	done
	return 1
}
# rc CMD : a reload_conns command, its reply in $T/rc.out (not in a
# pipeline: a subshell has no coprocess descriptors)
rc() {
	echo "$*" >&"$RC_IN"
	rc_read >"$T/rc.out" || fail "reload_conns: no answer to '$*': $(cat "$T/conns.err")"
}
field() { # field LABEL KEY : from the last stats in $T/rc.out
	awk -v l="$1" -v k="$2" '$1 == l { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$T/rc.out"
}
declare -A BYTES
# conns_check STEP [LABEL...] : every held connection of the base VSes is
# open and saw no error since the last check, and moved data; the LABELs
# named (the untouched VSes) also saw no gap over GAP_MAX.
conns_check() {
	local step=$1 l b
	shift
	[ $((SECONDS - T_START)) -lt 300 ] || fail "$step: the test has run for $(elapsed), over its 300 s"
	rc stats
	for l in "${BASE[@]}"; do
		[ "$(field "$l" werrors)" = 0 ] || fail "$step: connections to $l saw errors: $(grep "^$l " "$T/rc.out"); $(tail -3 "$T/conns.err")"
		[ "$(field "$l" open)" = "$(field "$l" conns)" ] || fail "$step: connections to $l closed: $(grep "^$l " "$T/rc.out")"
		b=$(field "$l" bytes)
		[ "$b" -gt "${BYTES[$l]:-0}" ] || fail "$step: no data moved on $l's connections"
		BYTES[$l]=$b
	done
	for l in "$@"; do
		[ "$(field "$l" wgap)" -le "$GAP_MAX" ] ||
			fail "$step: untouched VS $l: a gap of $(field "$l" wgap) ms between echoes (at most $GAP_MAX; the client itself stalled $(field "$l" cstall) ms); the latest gaps:
$(grep 'without an echo\|did not run' "$T/conns.err" | tail -6)"
	done
}
gaps() { # the window's gaps, for the ok lines
	awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^wgap=/) { sub("wgap=", "", $i); if ($i > m) m = $i } } END { print m + 0 }' "$T/rc.out"
}

# --- UDP echo and rpcinfo (UDP portmap) to the four VSes, in the background ------
udp_loop() {
	local end=$((SECONDS + 300)) t m got
	while [ "$SECONDS" -lt "$end" ]; do
		for t in "n1 $P-c1 198.18.1.1" "n2 $P-c2 198.18.2.1" "pa $C 198.18.10.5" "pb $C 198.18.11.5"; do
			set -- $t
			m="u$RANDOM$RANDOM"
			got=$("$T/reload_conns" udp "$2" "$3" 7 "$m" 1000 2>&1)
			if [ "$got" = "$m" ]; then echo "ok $1 udp"; else echo "FAIL $1 udp $(date +%T.%N): '$got'"; fi
			got=$(nsenter --net="/run/netns/$2" timeout 5 rpcinfo -u "$3" 100000 2 2>&1)
			if grep -q "ready and waiting" <<<"$got"; then echo "ok $1 rpc"; else echo "FAIL $1 rpc $(date +%T.%N): $got"; fi
		done >>"$T/udp.out"
		sleep 0.3
	done
}
UDP_SEEN=0
# udp_check STEP [SKIP...] : a whole round since the last check, and no
# failure of a VS not in SKIP
udp_check() {
	local step=$1 n v
	shift
	for _ in $(seq 100); do
		tail -n +$((UDP_SEEN + 1)) "$T/udp.out" >"$T/udp.win"
		for v in n1 n2 pa pb; do
			[[ " $* " == *" $v "* ]] && continue
			if ! grep -q " $v udp" "$T/udp.win" || ! grep -q " $v rpc" "$T/udp.win"; then
				sleep 0.1
				continue 2
			fi
		done
		break
	done
	n=$(wc -l <"$T/udp.out")
	sed -n "$((UDP_SEEN + 1)),${n}p" "$T/udp.out" >"$T/udp.win"
	UDP_SEEN=$n
	for v in n1 n2 pa pb; do
		[[ " $* " == *" $v "* ]] && continue
		grep -q "^FAIL $v " "$T/udp.win" && fail "$step: UDP to $v failed: $(grep "^FAIL $v " "$T/udp.win" | head -2)"
		grep -q "^ok $v udp" "$T/udp.win" && grep -q "^ok $v rpc" "$T/udp.win" ||
			fail "$step: no UDP echo / rpcinfo answer from $v"
	done
}

# uprobe NS ADDR PORT MESSAGE : one datagram, the reply (reload_conns udp)
uprobe() {
	local a=${2#[}
	"$T/reload_conns" udp "$1" "${a%]}" "$3" "$4" 1000 2>/dev/null
}
# serves NS ADDR VS : whoami over TCP and UDP, UDP echo, rpcinfo -p (TCP)
serves() {
	local ns=$1 a=$2 vs=$3 got
	got=$(tcp "$ns" "$a" 8)
	[ "$got" = "$vs" ] || fail "tcp whoami on $a: '$got', expected $vs"
	got=$(uprobe "$ns" "$a" 8 x)
	[ "$got" = "$vs" ] || fail "udp whoami on $a: '$got', expected $vs"
	[ "$(uprobe "$ns" "$a" 7 "echo-$a")" = "echo-$a" ] || fail "udp echo on $a"
	# rpcinfo -p speaks IPv4 only
	[[ $a == *:* ]] && return 0
	nsx "$ns" timeout 10 rpcinfo -p "$a" 2>&1 | grep -q '100000 *4 *tcp *111' ||
		fail "rpcinfo -p $a (for $vs)"
}
serves_base() {
	serves "$P-c1" 198.18.1.1 n1
	serves "$P-c1" '[2001:db8:1::1]' n1
	serves "$P-c2" 198.18.2.1 n2
	serves "$C" 198.18.10.5 pa
	serves "$C" 198.18.11.5 pb
}
# no_tcp NS ADDR PORT : a new TCP connection fails (refused or no answer)
no_tcp() {
	nsx "$1" timeout 4 socat -t 1 - "TCP:$2:$3,connect-timeout=1" </dev/null >/dev/null 2>&1 &&
		fail "a connection to $2:$3 from $1 succeeded"
	return 0
}

# Kernel state.
ns_state() { # ns_state NS : addresses and routes
	nsx "$1" ip -o addr show | awk '{print $2, $4}' | sort
	nsx "$1" ip route show table all | grep -v '^local\|^broadcast\|^multicast\|fe80' | sort
	nsx "$1" ip -6 route show table all | grep -v '^local\|^multicast\|^anycast\|fe80\|^ff00' | sed 's/ pref.*//' | sort
}
pbr_state() { # coop-tagged rules, routes and addresses in S
	{
		nsx "$S" ip -4 rule show | grep 'proto 246' | sed 's/^/rule4 /'
		nsx "$S" ip -6 rule show | grep 'proto 246' | sed 's/^/rule6 /'
		nsx "$S" ip -4 route show table all proto 246 | sed 's/^/route4 /'
		nsx "$S" ip -6 route show table all proto 246 | sed 's/^/route6 /'
		nsx "$S" ip -o addr show | awk '$4 ~ /^198\.18\.|^2001:db8:/ {print "addr", $2, $4}'
	} | sort
}
vs_pbr() { # vs_pbr VS : the rules and routes of a pbr VS's table
	local t
	t=$(vs_field "$1" .table)
	nsx "$S" ip -4 rule show | grep "lookup $t "
	nsx "$S" ip -6 rule show | grep "lookup $t "
	nsx "$S" ip -4 route show table "$t"
	nsx "$S" ip -6 route show table "$t" 2>/dev/null
}
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
# recorded NS : this coopd's record log (append-only: a record, then maybe
# a "gone NS" line) holds a live record of NS
recorded() {
	awk -v ns="$1" '$0 == "namespace " ns { r = 1 } $0 == "gone " ns { r = 0 } END { exit !r }' \
		"$REC"/coopd."$COOPD_PID".* 2>/dev/null
}
# gone VS MAX_MS : wait until VS is no longer in show vs
gone() {
	for _ in $(seq $(($2 / 20))); do
		ctl --json show vs | jq -e --arg v "$1" 'any(.vs[]; .name == $v)' >/dev/null || return 0
		sleep 0.02
	done
	fail "$1 still in show vs after $2 ms: $(ctl --json show vs | jq -c --arg v "$1" '.vs[] | select(.name == $v) | {state, counters}')"
}
vs_field() { ctl --json show vs "$1" | jq -r "$2"; }
min_fds() {
	local n m=999999
	for _ in 1 2 3; do
		sleep 0.1
		n=$(ls "/proc/$COOPD_PID/fd" | wc -l)
		[ "$n" -lt "$m" ] && m=$n
	done
	echo "$m"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$COOPD_PID/status"; }

# ================================================================================
ls /run/coop 2>/dev/null | sort >"$T/run.before"
write_config
"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "initial config rejected"
start_coopd "$T/coop.ini"
RECFILE=$REC/coopd.$COOPD_PID.$(awk '{print $22}' "/proc/$COOPD_PID/stat")
[ -f "$RECFILE" ] || fail "no netns record $RECFILE"
ls /run/coop 2>/dev/null | sort >"$T/run.during"
T_RUN_NEW=$T/run.new
comm -13 "$T/run.before" "$T/run.during" | grep '^pbr-sysctl-' >"$T_RUN_NEW"
check_show "start"
serves_base
start_conns
udp_loop &
PIDS+=($!)
sleep 0.5
conns_check "start" "${BASE[@]}"
udp_check "start"
pbr0=$(pbr_state)
n1_0=$(ns_state "$P-n1")
n2_0=$(ns_state "$P-n2")
[ "$(tcp "$P-c4" 198.18.4.1 8)" = n4 ] || fail "start: n4 does not answer"
ok "start: n1 n2 n4 (netns) pa pb pd (pbr) serve; 14 held echo connections, UDP echo and rpcinfo running"

# --- (a) add a netns VS and a pbr VS -------------------------------------------
add_vs n3
add_vs pc
write_config
reload_ok "add" "n3 pc" "" ""
check_show "add"
serves "$P-c3" 198.18.3.1 n3
serves "$C" 198.18.12.5 pc
ns_exists "$P-n3" || fail "add: namespace $P-n3 not created"
recorded "$P-n3" || fail "add: $P-n3 not in the record $RECFILE"
pc_table=$(vs_field pc .table)
[ "${pc_table:-0}" -gt 0 ] 2>/dev/null || fail "add: show vs pc has no table"
nsx "$S" ip rule show | grep -q "lookup $pc_table proto 246" || fail "add: no rule for pc's table $pc_table"
nsx "$S" ip route show table "$pc_table" | grep -q "default via 198.18.12.1" || fail "add: no default route in table $pc_table"
rc open n3 "$P-c3" 198.18.3.1 7 3
grep -q '^opened n3 ok=3 fail=0$' "$T/rc.out" || fail "add: connections to n3: $(cat "$T/rc.out")"
rc open pc "$C" 198.18.12.5 7 3
grep -q '^opened pc ok=3 fail=0$' "$T/rc.out" || fail "add: connections to pc: $(cat "$T/rc.out")"
sleep 0.3
conns_check "add" "${BASE[@]}"
for l in n3 pc; do
	[ "$(field "$l" errors)" = 0 ] && [ "$(field "$l" open)" = 3 ] && [ "$(field "$l" bytes)" -gt 0 ] ||
		fail "add: connections to $l: $(grep "^$l " "$T/rc.out")"
done
udp_check "add"
[ "$(ns_state "$P-n1")" = "$n1_0" ] && [ "$(ns_state "$P-n2")" = "$n2_0" ] ||
	fail "add: the kernel state of n1 or n2 changed"
ok "(a) reload adds n3 (netns, namespace created and recorded) and pc (pbr, table $pc_table): both answer; the others untouched (gaps <= $(gaps) ms)"

# --- (b) remove them: n3 with its connections closed first, pc draining ----------
rc close n3
rc expect pc
sleep 0.1
del_vs n3
del_vs pc
write_config
t_rm=$(date +%s%N)
reload_ok "remove" "" "n3 pc" ""
[ "$(vs_field pc .state 2>/dev/null)" = removing ] ||
	fail "remove: pc (3 connections) is not 'removing' in show vs: $(ctl --json show vs | jq -c '.vs[] | {name, state}')"
ctl --json show vs | jq -e '.vs[] | select(.name == "pc") | .counters.active == 3' >/dev/null ||
	fail "remove: pc's active connections: $(ctl --json show vs | jq -c '.vs[] | select(.name == "pc") | .counters')"
no_tcp "$C" 198.18.12.5 8
check_show "remove (draining)"
gone n3 1500
n3_ms=$((($(date +%s%N) - t_rm) / 1000000))
[ "$n3_ms" -lt $((DRAIN_MS - 500)) ] || fail "remove: n3 (no connections) took $n3_ms ms to go, drain_timeout is $DRAIN_MS"
sleep 0.3
rc stats
[ "$(field pc open)" = 3 ] && [ "$(field pc errors)" = 0 ] ||
	fail "remove: pc's connections did not go on while it drains: $(grep '^pc ' "$T/rc.out")"
pc_bytes=$(field pc bytes)
sleep 0.3
rc stats
[ "$(field pc bytes)" -gt "$pc_bytes" ] || fail "remove: no echo on pc's connections while it drains"
gone pc $((DRAIN_MS + 3000))
pc_ms=$((($(date +%s%N) - t_rm) / 1000000))
[ "$pc_ms" -ge $((DRAIN_MS - 200)) ] || fail "remove: pc went after $pc_ms ms, before drain_timeout ($DRAIN_MS)"
rc stats
[ "$(field pc open)" = 0 ] && [ "$(field pc closed)" = 3 ] || fail "remove: pc's connections after the drain: $(grep '^pc ' "$T/rc.out")"
ns_exists "$P-n3" && fail "remove: namespace $P-n3 left"
ip link show "${P}v3" >/dev/null 2>&1 || fail "remove: ${P}v3 not back in the root namespace"
recorded "$P-n3" && fail "remove: $P-n3 still in the record $RECFILE"
recorded "$P-n1" || fail "remove: n1's namespace dropped from the record"
nsx "$S" ip -o addr show | grep -q '198\.18\.12\.5' && fail "remove: pc's address left in $S"
nsx "$S" ip rule show | grep -q "lookup $pc_table " && fail "remove: pc's rule left: $(nsx "$S" ip rule show | grep "lookup $pc_table ")"
[ -z "$(nsx "$S" ip route show table "$pc_table" 2>/dev/null)" ] || fail "remove: routes left in table $pc_table"
[ -z "$(nsx "$S" ip -6 route show table "$pc_table" 2>/dev/null)" ] || fail "remove: IPv6 routes left in table $pc_table"
# coopd's own sockets (the kernel may still hold orphans finishing their close)
nsx "$S" ss -Htanup | grep "pid=$COOPD_PID," | grep -q '198\.18\.12\.5' &&
	fail "remove: coopd's sockets on 198.18.12.5 left: $(nsx "$S" ss -Htanup | grep "pid=$COOPD_PID," | grep '198\.18\.12\.5')"
[ "$(pbr_state)" = "$pbr0" ] || fail "remove: coop's pbr state is not what it was before the add:
$(diff <(echo "$pbr0") <(pbr_state) | sed 's/^/    /')"
[ "$(ns_state "$P-n1")" = "$n1_0" ] && [ "$(ns_state "$P-n2")" = "$n2_0" ] ||
	fail "remove: the kernel state of n1 or n2 changed"
check_show "remove"
serves_base
conns_check "remove" "${BASE[@]}"
udp_check "remove"
ok "(b) reload removes n3 (gone after ${n3_ms} ms, connections closed first) and pc (draining: 'removing', refuses new connections, its 3 echo on, closed at $pc_ms ms >= drain_timeout $DRAIN_MS); namespace, record, address, rule, table, sockets released, the rest exactly as before"

# --- (c) an address added and removed on a netns VS and on a pbr VS -------------
ADDR[n1]="198.18.1.1/24, 2001:db8:1::1/64, 198.18.1.11/24"
ADDR[pb]="198.18.11.5/24, 198.18.11.6/24"
write_config
reload_ok "address add" "" "" "n1 pb"
what=$(jq -c '.changed' "$T/reply")
check_show "address add"
nsx "$P-n1" ip -o addr show | grep -q ' 198\.18\.1\.11/24 ' || fail "address add: 198.18.1.11/24 not in $P-n1"
nsx "$S" ip -o addr show dev "${P}xb" | grep -q ' 198\.18\.11\.6/24 ' || fail "address add: 198.18.11.6/24 not on xb"
serves "$P-c1" 198.18.1.11 n1
serves "$C" 198.18.11.6 pb
conns_check "address add" n2 pa
udp_check "address add"
ok "(c) address add: n1 answers on 198.18.1.11, pb on 198.18.11.6 (ip addr shows them); their connections and the others' went on (gaps <= $(gaps) ms); $what"

ADDR[n1]="198.18.1.1/24, 2001:db8:1::1/64"
ADDR[pb]="198.18.11.5/24"
write_config
reload_ok "address remove" "" "" "n1 pb"
check_show "address remove"
nsx "$P-n1" ip -o addr show | grep -q '198\.18\.1\.11/' && fail "address remove: 198.18.1.11 still in $P-n1"
nsx "$S" ip -o addr show | grep -q '198\.18\.11\.6/' && fail "address remove: 198.18.11.6 still in $S"
no_tcp "$P-c1" 198.18.1.11 8
no_tcp "$C" 198.18.11.6 8
[ "$(ns_state "$P-n1")" = "$n1_0" ] || fail "address remove: n1's kernel state is not as before:
$(diff <(echo "$n1_0") <(ns_state "$P-n1"))"
[ "$(pbr_state)" = "$pbr0" ] || fail "address remove: pbr state not as before:
$(diff <(echo "$pbr0") <(pbr_state))"
serves_base
conns_check "address remove" n2 pa
udp_check "address remove"
ok "(c) address remove: 198.18.1.11 and 198.18.11.6 gone from ip addr and stop answering; kernel state as before"

# --- (d) a listener added (reload) and removed (SIGHUP); a gateway -----------
LISTEN[n2]="$L, tcp:9 whoami, udp:9 echo"
write_config
reload_ok "listener add" "" "" "n2"
check_show "listener add"
[ "$(tcp "$P-c2" 198.18.2.1 9)" = n2 ] || fail "listener add: tcp:9 whoami does not answer"
[ "$(uprobe "$P-c2" 198.18.2.1 9 nine)" = nine ] || fail "listener add: udp:9 echo does not answer"
conns_check "listener add" n1 n1v6 pa pb
udp_check "listener add"
ok "(d) listeners tcp:9 whoami and udp:9 echo added to n2: they answer; $(jq -c .changed "$T/reply")"

LISTEN[n2]="$L"
write_config
kill -HUP "$COOPD_PID"
for _ in $(seq 100); do [ "$(want)" = "$(have)" ] && break; sleep 0.05; done
check_show "SIGHUP listener remove"
no_tcp "$P-c2" 198.18.2.1 9
[ -z "$(uprobe "$P-c2" 198.18.2.1 9 nine)" ] || fail "listener remove: udp:9 still answers"
[ "$(ns_state "$P-n2")" = "$n2_0" ] || fail "SIGHUP: n2's kernel state not as before"
serves_base
conns_check "SIGHUP listener remove" n1 n1v6 pa pb
udp_check "SIGHUP listener remove"
ok "(d) SIGHUP: the listeners removed again, tcp:9 refused, udp:9 silent"

GW[n2]="198.18.2.2"
write_config
reload_ok "gateway add" "" "" "n2"
nsx "$P-n2" ip route show default | grep -q 'via 198.18.2.2' || fail "gateway add: no default route in $P-n2"
conns_check "gateway add" n1 n1v6 pa pb
GW[n2]=""
write_config
reload_ok "gateway remove" "" "" "n2"
nsx "$P-n2" ip route show default | grep -q . && fail "gateway remove: default route left in $P-n2"
[ "$(ns_state "$P-n2")" = "$n2_0" ] || fail "gateway remove: n2's kernel state not as before"
check_show "gateway"
serves_base
conns_check "gateway remove" n1 n1v6 pa pb
udp_check "gateway"
ok "(d) gateway 198.18.2.2 added to n2 and removed in place: its connections went on"

# --- (e) DNS servers changed ------------------------------------------------------
r=$(ctl --json resolve n1 before.corp.test) || fail "resolve before: $r"
[ "$(jq -r '.addresses | join(" ")' <<<"$r")" = 198.18.50.1 ] || fail "resolve before: $r"
DNS[n1]="198.18.1.2:5353"
write_config
reload_ok "dns" "" "" "n1"
check_show "dns"
[ "$(vs_field n1 .resolver.servers)" = "198.18.1.2:5353" ] ||
	fail "dns: show vs n1 resolver servers: $(ctl --json show vs n1 | jq -c .resolver)"
r=$(ctl --json resolve n1 after.corp.test) || fail "resolve after: $r"
[ "$(jq -r '.addresses | join(" ")' <<<"$r")" = 198.18.50.2 ] || fail "dns: n1 still asks the old server: $r"
grep -q 'query\[A\] after.corp.test from 198.18.1.1$' "$T/q2.log" || fail "dns: the new server did not see n1's question"
grep -q 'after.corp.test' "$T/q1.log" && fail "dns: the old server was asked after the change"
conns_check "dns" n2 pa pb
udp_check "dns"
ok "(e) dns changed on n1: show vs says 198.18.1.2:5353, resolve answers from the new dnsmasq (198.18.50.2)"

# --- (f) files with errors change nothing -----------------------------------------
ctl --json show vs | jq -S 'del(.vs[].counters)' >"$T/show.before"
pbr1=$(pbr_state)
n1_1=$(ns_state "$P-n1")
good_vses=("${VSES[@]}")
add_vs n3
ADDR[n2]="198.18.2.300/24"
write_config
reload_err "bad value" "coop.ini" "[vs n2]" "addresses"
msg1=$ERR_MSG
ADDR[n2]="198.18.2.1/24"
EXTRA[pa]="this line has no equals sign"
write_config
reload_err "syntax error" "coop.ini" "[vs pa]" "line"
msg2=$ERR_MSG
EXTRA[pa]=""
EXTRA[pb]="colour = blue"
write_config
reload_err "unknown key" "coop.ini" "[vs pb]" "colour"
msg3=$ERR_MSG
kill -HUP "$COOPD_PID"
sleep 0.5
kill -0 "$COOPD_PID" || fail "coopd died of a SIGHUP with a bad file"
grep -q "reload.*\[vs pb\] colour" "$T/coopd.log" || fail "SIGHUP with a bad file: no error in the log"
ctl --json show vs | jq -S 'del(.vs[].counters)' >"$T/show.after"
cmp -s "$T/show.before" "$T/show.after" || fail "a bad file changed show vs:
$(diff "$T/show.before" "$T/show.after")"
ns_exists "$P-n3" && fail "a bad file created n3's namespace"
[ "$(pbr_state)" = "$pbr1" ] && [ "$(ns_state "$P-n1")" = "$n1_1" ] || fail "a bad file changed the kernel"
EXTRA[pb]=""
VSES=("${good_vses[@]}")
write_config
reload_ok "after errors" "" "" ""
check_show "after errors"
conns_check "errors" "${BASE[@]}"
udp_check "errors"
ok "(f) bad files refused, nothing changed (show vs identical): '$msg1' / '$msg2' / '$msg3'"

# --- (g) a change that fails half-way -----------------------------------------
# pb gets an IPv4 and an IPv6 address, and IPv6 is off on its link: the
# kernel refuses the second; in the same file n2 gains a listener and pa an
# address. pb must be back to its old configuration and serving, the others
# applied.
nsx "$S" sysctl -qw "net.ipv6.conf.${P}xb.disable_ipv6=1"
ADDR[pb]="198.18.11.5/24, 198.18.11.7/24, 2001:db8:11::7/64"
LISTEN[n2]="$L, tcp:9 whoami"
ADDR[pa]="198.18.10.5/24, 198.18.10.6/24"
write_config
reload_err "half-way" "pb"
msg=$ERR_MSG
ADDR[pb]="198.18.11.5/24" # what must be running
check_show "half-way"
nsx "$S" ip -o addr show | grep -q '198\.18\.11\.7/\|2001:db8:11::7/' &&
	fail "half-way: pb's new addresses not rolled back: $(nsx "$S" ip -o addr show dev "${P}xb")"
serves "$C" 198.18.11.5 pb
[ "$(tcp "$P-c2" 198.18.2.1 9)" = n2 ] || fail "half-way: n2's new listener not applied"
serves "$C" 198.18.10.6 pa
conns_check "half-way" n1 n1v6
udp_check "half-way"
ok "(g) half-way failure on pb refused with '$msg'; pb rolled back and serving, n2 and pa applied"

# The same file once IPv6 is back: only pb changes now.
nsx "$S" sysctl -qw "net.ipv6.conf.${P}xb.disable_ipv6=0"
ADDR[pb]="198.18.11.5/24, 198.18.11.7/24, 2001:db8:11::7/64"
write_config
reload_ok "half-way retried" "" "" "pb"
check_show "half-way retried"
[ "$(tcp "$C" 198.18.11.7 8)" = pb ] || fail "retry: pb does not answer on 198.18.11.7"
ADDR[pb]="198.18.11.5/24"
ADDR[pa]="198.18.10.5/24"
LISTEN[n2]="$L"
write_config
reload_ok "half-way undone" "" "" "n2 pa pb"
check_show "half-way undone"
conns_check "half-way undone" n1 n1v6
ok "(g) the same file with IPv6 back: only pb changed (kept: the rest)"

# Its interface vanishes from its namespace: n4's veth is moved out of
# it (back to coopd's namespace, where the file's check still finds it),
# and the same reload adds an address to n4 and a listener to n2.
ip -n "$P-n4" link set "${P}v4" netns "$$" || fail "cannot move ${P}v4 out of $P-n4"
ADDR[n4]="198.18.4.1/24, 198.18.4.11/24"
LISTEN[n2]="$L, tcp:9 whoami"
write_config
reload_err "interface gone" "n4"
msg=$ERR_MSG
ADDR[n4]="198.18.4.1/24"
check_show "interface gone"
[ "$(tcp "$P-c2" 198.18.2.1 9)" = n2 ] || fail "interface gone: n2's new listener not applied"
conns_check "interface gone" n1 n1v6 pa pb
udp_check "interface gone"
ok "(g) n4's interface gone from its namespace, an address added: refused with '$msg'; n4 rolled back, n2's listener applied"

del_vs n4
LISTEN[n2]="$L"
write_config
reload_ok "n4 removed" "" "n4" "n2"
gone n4 3000
check_show "n4 removed"
ns_exists "$P-n4" && fail "n4 removed: namespace $P-n4 left"
recorded "$P-n4" && fail "n4 removed: still in the record"
pbr2=$(pbr_state)
conns_check "n4 removed" n1 n1v6 pa pb
ok "n4 removed after its link went"

# --- 50 reloads in a row, adding and removing n3 and pc ------------------------------
cycle() { # cycle I : reload I (odd: add, even: remove)
	if [ $(($1 % 2)) -eq 1 ]; then
		add_vs n3
		add_vs pc
		write_config
		reload_ok "reload $1 (add)" "n3 pc" "" ""
	else
		del_vs n3
		del_vs pc
		write_config
		reload_ok "reload $1 (remove)" "" "n3 pc" ""
		gone n3 3000
		gone pc 3000
	fi
}
for i in 1 2 3 4; do cycle "$i"; done
fd0=$(min_fds)
rss0=$(rss_kb)
t0=$SECONDS
for i in $(seq 1 50); do cycle "$i"; done
fd1=$(min_fds)
rss1=$(rss_kb)
check_show "50 reloads"
[ "$(pbr_state)" = "$pbr2" ] || fail "50 reloads: pbr state differs:
$(diff <(echo "$pbr2") <(pbr_state))"
ns_exists "$P-n3" && fail "50 reloads: $P-n3 left"
[ "$fd1" -le $((fd0 + 3)) ] || fail "50 reloads: coopd's fds went from $fd0 to $fd1"
[ "$rss1" -le $((rss0 + rss0 / 20 + 512)) ] || fail "50 reloads: coopd's RSS went from $rss0 kB to $rss1 kB"
serves_base
conns_check "50 reloads" "${BASE[@]}"
udp_check "50 reloads"
ok "50 reloads in $((SECONDS - t0)) s (n3 and pc added and removed): fds $fd0 -> $fd1, RSS $rss0 -> $rss1 kB; the four VSes untouched (gaps <= $(gaps) ms)"

# --- vs drain / vs resume ----------------------------------------------------------
ctl --json vs drain n2 >"$T/drain" || fail "vs drain n2: $(cat "$T/drain")"
[ "$(vs_field n2 .state)" = draining ] || fail "drain: n2's state is $(vs_field n2 .state)"
[ "$(vs_field n2 .counters.active)" = 3 ] || fail "drain: n2's active connections: $(vs_field n2 .counters.active), expected 3"
no_tcp "$P-c2" 198.18.2.1 8
no_tcp "$P-c2" 198.18.2.1 7
sleep 0.3
conns_check "drain" n1 n1v6 pa pb
[ "$(field n2 wgap)" -le "$GAP_MAX" ] || fail "drain: n2's connections paused $(field n2 wgap) ms"
udp_check "drain" n2
ctl --json show vs | jq -e '.vs[] | select(.name == "n2") | .state == "draining"' >/dev/null ||
	fail "drain: show vs (list) does not say draining"
ctl --json vs resume n2 >"$T/resume" || fail "vs resume n2: $(cat "$T/resume")"
[ "$(vs_field n2 .state)" = up ] || fail "resume: n2's state is $(vs_field n2 .state)"
serves "$P-c2" 198.18.2.1 n2
conns_check "resume" "${BASE[@]}"
udp_check "resume" n2
ok "vs drain n2: 'draining', new connections refused, its 3 held ones echo on; vs resume: accepts again"

# --- a pbr VS's link deleted: the file's check refuses it (nothing changes);
# then pd is removed, and the namespace it shared still takes changes -------
pa_1=$(vs_pbr pa)
pb_1=$(vs_pbr pb)
nsx "$S" ip link del "${P}xd"
ADDR[pd]="198.18.13.5/24, 198.18.13.6/24"
write_config
ctl --json show vs | jq -S 'del(.vs[].counters)' >"$T/show.before"
reload_err "link deleted" "coop.ini" "[vs pd]" "interface" "${P}xd"
msg=$ERR_MSG
ctl --json show vs | jq -S 'del(.vs[].counters)' >"$T/show.after"
cmp -s "$T/show.before" "$T/show.after" || fail "link deleted: a refused file changed show vs"
ADDR[pd]="198.18.13.5/24"
ok "pd's link deleted: the file is refused ('$msg'), nothing changed"

del_vs pd
write_config
reload_ok "pd removed" "" "pd" ""
gone pd 3000
check_show "pd removed"
add_vs pc
write_config
reload_ok "pc after pd" "pc" "" ""
check_show "pc after pd"
serves "$C" 198.18.12.5 pc
del_vs pc
write_config
reload_ok "pc removed again" "" "pc" ""
gone pc 3000
[ "$(vs_pbr pa)" = "$pa_1" ] && [ "$(vs_pbr pb)" = "$pb_1" ] ||
	fail "pd removed: the rules or routes of pa or pb changed"
serves_base
conns_check "pd removed" "${BASE[@]}"
ok "pd removed after its link vanished; the shared namespace still takes a VS added and removed"

# --- the end ----------------------------------------------------------------------
echo quit >&"$RC_IN"
rc_read >"$T/summary" || fail "reload_conns: no summary"
wait "$RC_P"
rc_status=$?
grep '^total' "$T/summary" >"$T/total"
[ "$rc_status" -eq 0 ] || fail "reload_conns exited $rc_status: $(cat "$T/summary" "$T/conns.err")"
grep -q ' errors=0 ' "$T/total" || fail "reload_conns: $(cat "$T/total")"
ok "reload_conns: $(cat "$T/total") (the closed ones: n3's by the client, pc's at the drain timeout)"

stop_coopd
for ns in "$P-n1" "$P-n2" "$P-n3" "$P-n4"; do
	ns_exists "$ns" && fail "stop: namespace $ns left"
done
for l in "${P}v1" "${P}v2" "${P}v3" "${P}v4"; do
	ip link show "$l" >/dev/null 2>&1 || fail "stop: $l not back in the root namespace"
	ip -o addr show dev "$l" | grep -q 198.18 && fail "stop: $l kept an address"
done
[ -n "$(pbr_state)" ] && fail "stop: coop's state left in $S: $(pbr_state)"
ls "$REC"/coopd."$COOPD_PID".* >/dev/null 2>&1 && fail "stop: record left: $(ls "$REC"/coopd."$COOPD_PID".*)"
for f in $(comm -13 "$T/run.before" "$T/run.during"); do
	[ -e "/run/coop/$f" ] && fail "stop: /run/coop/$f (made by this coopd) left"
done
ok "stop: clean exit, namespaces, addresses, rules, routes and records gone ($(elapsed) in all)"
