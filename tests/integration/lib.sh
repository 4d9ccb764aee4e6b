# lib.sh - shared helpers for coop's integration tests (sourced).
#
# Every namespace and link a test makes is named "$P-..." with P unique to
# the test process; cleanup (on EXIT, also on failure) kills the processes
# the test started, by pid, and removes every namespace and link with the
# prefix.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${B:-build}
COOPD="$top/$B/coopd"
COOPCTL="$top/$B/coopctl"
P="ct$$"
T=$(mktemp -d "/tmp/coop-$P.XXXXXX")
PIDS=()

cleanup() {
	local pid ns l
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
		ip netns del "$ns" 2>/dev/null
	done
	for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$P"); do
		ip link del "$l" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$T/coopd.log" ] && sed 's/^/  coopd: /' "$T/coopd.log" | tail -20 >&2
	exit 1
}

ok() {
	echo "  ok: $*"
}

# nsx NS CMD... : run CMD inside namespace NS (nsenter is faster than ip netns exec)
nsx() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# client_ns NAME VETH_PEER ADDR4/LEN ADDR6/LEN : make a client namespace
# holding one end of a veth pair; the other end (VETH_PEER) stays in the
# root namespace for coopd to move into a VS.
client_ns() {
	local ns=$1 peer=$2 a4=$3 a6=$4
	ip netns add "$ns" || fail "ip netns add $ns"
	ip link add "$peer" type veth peer name "${peer}c" || fail "veth $peer"
	ip link set "${peer}c" netns "$ns"
	nsx "$ns" ip link set lo up
	nsx "$ns" ip link set "${peer}c" up
	nsx "$ns" ip addr add "$a4" dev "${peer}c"
	nsx "$ns" ip -6 addr add "$a6" dev "${peer}c" nodad
}

# bare_ns NS... : namespaces with lo up and reverse-path filtering off (the
# tests route asymmetrically on purpose).
bare_ns() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns" || fail "ip netns add $ns"
		nsx "$ns" ip link set lo up
		nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done
}

# veth NS1 IF1 NS2 IF2 : a veth pair between two namespaces, both ends up.
veth() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || fail "veth $2"
	nsx "$1" ip link set "$2" up
	nsx "$3" ip link set "$4" up
}

# two_routers : the pbr tests' topology. S (the VSes' shared namespace)
# reaches client namespace C through two routers:
#   S xa --- ra0 198.18.10.1  RA  ra1 198.18.20.1 --- ca 198.18.20.2  C
#   S xb --- rb0 198.18.11.1  RB  rb1 198.18.21.1 --- cb 198.18.21.2  C
# Sets S RA RB C; both routers forward (v4, v6). Routes are the test's.
two_routers() {
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
	nsx "$RA" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	nsx "$RB" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# build_app NAME : compile $T/NAME.c, an application embedding libcoop,
# against the built libcoop.a, linked the way the Makefile links coopd.
build_app() {
	local ldlibs
	[ -f "$top/$B/libcoop.a" ] || fail "build first: make B=$B"
	ldlibs=$(sed -n 's/^LDLIBS *:= *//p' "$top/Makefile")
	# a sanitized build (B=build-address-undefined) links its sanitizers too
	case "$B" in build-*) ldlibs="$ldlibs -fsanitize=$(echo "${B#build-}" | tr - ,)" ;; esac
	# shellcheck disable=SC2086
	cc -std=gnu11 -D_GNU_SOURCE -Wall -Werror -I"$top" -I"$top/base" -o "$T/$1" "$T/$1.c" \
		"$top/$B/libcoop.a" $ldlibs || fail "test application $1 does not build"
}

# start_coopd CONFIG : start coopd in the background and wait until its
# admin socket answers.
start_coopd() {
	local cfg=$1 sock
	sock=$(awk -F'= *' '/^admin_socket/ {print $2}' "$cfg" | awk '{print $1}')
	"$COOPD" -c "$cfg" >"$T/coopd.log" 2>&1 &
	COOPD_PID=$!
	PIDS+=("$COOPD_PID")
	for _ in $(seq 100); do
		if [ -S "$sock" ] && "$COOPCTL" -s "$sock" help >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$COOPD_PID" 2>/dev/null || fail "coopd exited during start-up"
		sleep 0.05
	done
	fail "coopd did not open its admin socket"
}

# stop_coopd : SIGTERM and wait for a clean exit (status 0).
stop_coopd() {
	local rc
	kill -TERM "$COOPD_PID"
	for _ in $(seq 100); do
		kill -0 "$COOPD_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$COOPD_PID" 2>/dev/null && fail "coopd did not stop on SIGTERM"
	wait "$COOPD_PID"
	rc=$?
	[ "$rc" -eq 0 ] || fail "coopd exited with status $rc"
}

# tcp NS HOST PORT [INPUT-FILE] : a real TCP client (socat) from namespace NS
tcp() {
	local ns=$1 host=$2 port=$3 input=${4:-/dev/null}
	nsx "$ns" timeout 10 socat -t 5 - "TCP:$host:$port,connect-timeout=3" <"$input"
}

# udp NS HOST PORT MESSAGE : send one datagram from namespace NS (socat)
# and print the reply, if one comes within a second. The sender of the
# reply is left for udp_from.
udp() {
	local ns=$1 host=$2 port=$3 msg=$4
	printf '%s' "$msg" | nsx "$ns" timeout 5 socat -d -d -t 1 - "UDP-SENDTO:$host:$port" \
		2>"$T/udp.log"
}

# udp_from : "ADDR:PORT" the last udp reply came from, as socat prints it
# (IPv6 in full: [2001:0db8:...]:7), or nothing when none came.
udp_from() {
	sed -n 's/.* received packet with [0-9]* bytes from AF=[0-9]* \(.*\)$/\1/p' "$T/udp.log" |
		head -1
}

# sockname HOST PORT : HOST ("198.18.1.1" or "[2001:db8::1]") and PORT the
# way socat prints a peer, to compare with udp_from.
sockname() {
	local h=${1#[} p=$2 out="" i
	h=${h%]}
	if [[ $h != *:* ]]; then
		echo "$h:$p"
		return
	fi
	local head=${h%%::*} tail= n
	[[ $h == *::* ]] && tail=${h#*::}
	local -a a=() b=()
	[ -n "$head" ] && IFS=: read -ra a <<<"$head"
	[ -n "$tail" ] && IFS=: read -ra b <<<"$tail"
	n=$((8 - ${#a[@]} - ${#b[@]}))
	for i in "${a[@]}"; do out+=$(printf '%04x:' "0x$i"); done
	for ((i = 0; i < n; i++)); do out+="0000:"; done
	for i in "${b[@]}"; do out+=$(printf '%04x:' "0x$i"); done
	echo "[${out%:}]:$p"
}
