#!/usr/bin/env bash
# The demo behind `make run` (examples/demo.sh on etc/demo.ini), run as a
# user would, in the background: every one of its four VSes (two netns, two
# pbr sharing a namespace) answers whoami over TCP (and the pbr ones over
# UDP, from their own address); a netns and two pbr VSes' portmappers each
# list their own registrations; the same name resolves differently per VS;
# coop's pbr state is in the demo's shared namespace, not the machine's.
# Stopped by SIGINT to coopd (what Ctrl-C does), then by SIGTERM to the
# script: each time no namespace, link, dnsmasq or admin socket is left. A
# second demo started meanwhile refuses without disturbing the first.
#
# The demo's names are fixed (coop-demo-*, coopdemo*, /run/coop/demo.sock):
# the test refuses to run, and touches nothing, while a demo is up.
. "$(dirname "$0")/lib.sh"

DEMO="$top/examples/demo.sh"
SOCK=/run/coop/demo.sock
CL=coop-demo-client
SH=coop-demo-shared
DEMO_PID=  # the demo script this test started, while it runs
DEMO_COOPD= # its coopd
DNS_PIDS=  # its dnsmasqs
started=no # whether this test started a demo (and may clean up after it)

# leftovers: what of a demo exists, one item a line
leftovers() {
	local pid
	ip netns list | awk '{print $1}' | grep '^coop-demo-' | sed 's/^/namespace /'
	ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^coopdemo' | sed 's/^/link /'
	[ -e "$SOCK" ] && echo "socket $SOCK"
	for pid in $DNS_PIDS $DEMO_COOPD; do
		kill -0 "$pid" 2>/dev/null && echo "process $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
	done
	return 0
}

demo_cleanup() {
	local pid ns
	if [ "$started" = yes ]; then
		for pid in $DEMO_PID $DEMO_COOPD; do
			kill -TERM "$pid" 2>/dev/null
			for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null
		done
		for pid in $DNS_PIDS; do kill -KILL "$pid" 2>/dev/null; done
		for ns in $CL $SH coop-demo-nas1 coop-demo-nas2; do
			[ -e "/run/netns/$ns" ] && ip netns del "$ns"
		done
		for l in coopdemo1 coopdemo2; do
			ip link show "$l" >/dev/null 2>&1 && ip link del "$l"
		done
		rm -f "$SOCK"
	fi
	cleanup
}
trap demo_cleanup EXIT

for t in dnsmasq rpcinfo socat jq flock; do
	command -v "$t" >/dev/null || fail "$t is not installed (tools/install-deps.sh)"
done
if [ ! -x "$COOPD" ] || [ ! -x "$COOPCTL" ]; then
	fail "build first (make all)"
fi

# --- refuse to run beside a demo -----------------------------------------------
if "$COOPCTL" -s "$SOCK" help >/dev/null 2>&1; then
	fail "a demo (or a coopd on $SOCK) is running; stop it first: this test uses the same names"
fi
if [ -e /run/coop/demo.lock ] && ! flock -n /run/coop/demo.lock true; then
	fail "a demo script is running (it holds /run/coop/demo.lock); stop it first"
fi
left=$(leftovers)
[ -z "$left" ] || fail "a demo is running or left these behind; remove them first: $(tr '\n' ' ' <<<"$left")"

# start_demo : run examples/demo.sh in the background, as `make run` does,
# and wait until it has printed its help (coopd is up).
start_demo() {
	started=yes
	: >"$T/coopd.log"
	bash "$DEMO" >"$T/coopd.log" 2>&1 &
	DEMO_PID=$!
	for _ in $(seq 200); do
		grep -q '^Ctrl-C stops coopd' "$T/coopd.log" && break
		kill -0 "$DEMO_PID" 2>/dev/null || fail "the demo exited during start-up"
		sleep 0.05
	done
	grep -q '^Ctrl-C stops coopd' "$T/coopd.log" || fail "the demo did not come up in 10 s"
	"$COOPCTL" -s "$SOCK" help >/dev/null || fail "the demo's admin socket does not answer"
	DEMO_COOPD=$(pgrep -P "$DEMO_PID" -x coopd)
	[ -n "$DEMO_COOPD" ] || fail "no coopd under the demo script"
	grep -q "coopd pid $DEMO_COOPD" "$T/coopd.log" || fail "the demo names another coopd pid"
	DNS_PIDS=$(ip netns pids "$CL" | while read -r p; do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = dnsmasq ] && echo "$p"
	done | tr '\n' ' ')
	[ "$(wc -w <<<"$DNS_PIDS")" -eq 4 ] || fail "expected 4 dnsmasqs in $CL, found: $DNS_PIDS"
}

# stop_demo HOW : stop the demo (sigint-coopd: what Ctrl-C does; sigterm-script)
# and check that it exits 0 and leaves nothing behind.
stop_demo() {
	local rc
	case $1 in
	sigint-coopd) kill -INT "$DEMO_COOPD" ;;
	sigterm-script) kill -TERM "$DEMO_PID" ;;
	esac
	for _ in $(seq 200); do
		kill -0 "$DEMO_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$DEMO_PID" 2>/dev/null && fail "$1: the demo did not stop within 10 s"
	wait "$DEMO_PID"
	rc=$?
	[ "$rc" -eq 0 ] || fail "$1: the demo exited with status $rc"
	grep -q 'stopped; all kernel state coop created is removed' "$T/coopd.log" ||
		fail "$1: coopd did not stop cleanly"
	left=$(leftovers)
	[ -z "$left" ] || fail "$1: left behind: $(tr '\n' ' ' <<<"$left")"
	started=no
	DEMO_PID='' DEMO_COOPD='' DNS_PIDS=''
}

ctl() { "$COOPCTL" -s "$SOCK" "$@"; }

# --- first run ------------------------------------------------------------------
start_demo
ok "demo up: coopd $DEMO_COOPD, 4 dnsmasqs in $CL"

for i in 1 2 3 4; do
	got=$(tcp "$CL" 198.18.$i.1 8)
	[ "$got" = nas$i ] || fail "whoami on 198.18.$i.1 (tcp): '$got', want nas$i"
done
[ "$(tcp "$CL" '[2001:db8:3::1]' 8)" = nas3 ] || fail "whoami on [2001:db8:3::1]"
for i in 3 4; do
	got=$(udp "$CL" 198.18.$i.1 8 x)
	[ "$got" = nas$i ] || fail "whoami on 198.18.$i.1 (udp): '$got'"
	[ "$(udp_from)" = 198.18.$i.1:8 ] || fail "udp reply of nas$i came from '$(udp_from)'"
done
ok "whoami over TCP from nas1..nas4 (and nas3 over IPv6); the pbr VSes over UDP from their own address"

# rpcinfo -p ADDR : the VS's portmap, one "PROG VERS PROTO PORT" a line
maps() { nsx "$CL" timeout 10 rpcinfo -p "$1" | awk 'NR > 1 {print $1, $2, $3, $4}' | sort; }
m1=$(maps 198.18.1.1) || fail "rpcinfo -p 198.18.1.1"
m3=$(maps 198.18.3.1) || fail "rpcinfo -p 198.18.3.1"
m4=$(maps 198.18.4.1) || fail "rpcinfo -p 198.18.4.1"
pm=""
for v in 2 3 4; do pm+="100000 $v tcp 111"$'\n'"100000 $v udp 111"$'\n'; done
pm=${pm%$'\n'}
[ "$m1" = "$(sort <<<"$pm"$'\n100003 3 tcp 2049\n100005 3 udp 20048')" ] || fail "nas1's map: $m1"
[ "$m3" = "$(sort <<<"$pm"$'\n100003 4 tcp 2049\n100227 3 tcp 2049')" ] || fail "nas3's map: $m3"
[ "$m4" = "$(sort <<<"$pm"$'\n100011 1 udp 875\n100024 1 udp 662')" ] || fail "nas4's map: $m4"
ok "rpcinfo -p: nas1 (netns), nas3 and nas4 (pbr, one namespace, one port) each list only their own"

for i in 1 2 3 4; do
	r=$(ctl --json resolve nas$i files) || fail "resolve nas$i files: $r"
	[ "$(jq -r .answered <<<"$r")" = files.demo.test ] || fail "nas$i: $r"
	[ "$(jq -r '.addresses | sort | join(" ")' <<<"$r")" = "198.18.$i.10 2001:db8:$i::10" ] ||
		fail "nas$i resolved files to $(jq -c .addresses <<<"$r")"
	[ "$(jq -r .source <<<"$r")" = dns ] || fail "nas$i: not from its DNS server: $r"
done
out=$(ctl resolve nas3 nas4-only 2>&1) && fail "nas3 resolved nas4's name: $out"
ctl resolve nas4 nas4-only >/dev/null || fail "nas4 does not resolve its own nas4-only"
ok "coopctl resolve: files.demo.test is 198.18.N.10 for each nasN, from its own server"

js=$(ctl --json show vs nas3) || fail "show vs nas3"
[ "$(jq -r '.isolation + " " + .namespace' <<<"$js")" = "pbr $SH" ] || fail "show vs nas3: $js"
table=$(jq -r .table <<<"$js")
nsx "$SH" ip route show table "$table" | grep -q 'default via 198.18.3.254 dev coopdemo3' ||
	fail "nas3's table $table has no default route via its gateway"
ip rule show | grep -qw "lookup $table" && fail "the machine's namespace has a rule for nas3's table"
[ -z "$(ip route show table "$table" 2>/dev/null)" ] || fail "the machine's namespace has nas3's table"
[ "$(nsx "$SH" sysctl -n net.ipv4.fwmark_reflect)" = 1 ] || fail "fwmark_reflect not set in $SH"
ok "pbr state (table $table, rules, sysctls) in $SH only"

stop_demo sigint-coopd
ok "SIGINT to coopd (Ctrl-C): demo exited 0; no coop-demo-* namespace, coopdemo* link, dnsmasq or socket left"

# --- second run: a second demo refuses; SIGTERM to the script ---------------------
start_demo
out=$(timeout 20 bash "$DEMO" 2>&1) && fail "a second demo started: $out"
grep -q 'another demo is running' <<<"$out" || fail "second demo: $out"
[ "$(tcp "$CL" 198.18.4.1 8)" = nas4 ] || fail "the first demo was disturbed by the second"
[ "$(ip netns list | grep -c '^coop-demo-')" -eq 4 ] || fail "namespaces changed: $(ip netns list)"
ok "a second demo refuses ('another demo is running') and leaves the first alone"

stop_demo sigterm-script
ok "SIGTERM to the demo script: passed to coopd, exited 0, nothing left"
