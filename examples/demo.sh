#!/usr/bin/env bash
# demo.sh - run coopd on etc/demo.ini: four virtual servers, two in
# namespaces of their own (netns) and two sharing one namespace (pbr), each
# with its own gateway, DNS server and RPC registrations. Makes the client
# namespace (every link's far end: the gateways, with a dnsmasq on each),
# the shared namespace of the pbr VSes and the links, says how to reach each
# VS, and removes everything it made when coopd stops.
#
# Stop it with Ctrl-C (coopd gets the terminal's SIGINT and stops), SIGINT
# or SIGTERM to coopd, or SIGTERM/SIGHUP to this script (passed on to
# coopd). It refuses to start while another demo runs: the names are fixed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
coopd="$top/$B/coopd"
coopctl="$top/$B/coopctl"
ini="$top/etc/demo.ini"
sock=/run/coop/demo.sock
lock=/run/coop/demo.lock
client=coop-demo-client # the far end of every link: gateways, DNS servers
shared=coop-demo-shared # the pbr VSes' namespace
# coopd creates and removes these; removed here only if it could not.
vs_namespaces=(coop-demo-nas1 coop-demo-nas2)
coopd_pid=
dns_pids=()

say() { echo "demo: $*" >&2; }
die() {
	say "$*"
	exit 1
}
cx() { nsenter --net="/run/netns/$client" "$@"; }
sx() { nsenter --net="/run/netns/$shared" "$@"; }

[ "$(id -u)" -eq 0 ] || die "run as root (it creates network namespaces)"
for t in "$coopd" "$coopctl"; do
	[ -x "$t" ] || die "$t is missing: build first (make all)"
done
for t in dnsmasq nsenter flock; do
	command -v "$t" >/dev/null || die "$t is missing (tools/install-deps.sh installs it)"
done

# One demo at a time: the lock is held by this shell only (fd 9 is closed
# for everything it starts), so it goes when the script goes, however.
mkdir -p /run/coop
exec 9>>"$lock"
if ! flock -n 9; then
	die "another demo is running (it holds $lock); stop it first"
fi
if "$coopctl" -s "$sock" help >/dev/null 2>&1; then
	die "a coopd answers on $sock (left by an earlier demo?); stop it first"
fi

# remove_all: everything the demo makes, whatever got made. Also run first,
# for what a demo killed with SIGKILL left behind (the lock says no other
# demo runs).
remove_all() {
	local pid ns i
	if [ -n "$coopd_pid" ] && kill -0 "$coopd_pid" 2>/dev/null; then
		kill -TERM "$coopd_pid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$coopd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$coopd_pid" 2>/dev/null
		wait "$coopd_pid" 2>/dev/null
	fi
	for pid in "${dns_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${dns_pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	dns_pids=()
	# Whatever still runs inside the demo's namespaces was started by an
	# earlier demo that was killed (its dnsmasqs): the namespaces are the
	# demo's own.
	for ns in "$client" "$shared"; do
		[ -e "/run/netns/$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -TERM "$pid" 2>/dev/null
		done
	done
	for ns in "$client" "$shared" "${vs_namespaces[@]}"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null
	done
	# The netns VSes' links, if coopd did not take them (or gave them back).
	for i in 1 2; do
		ip link show coopdemo$i >/dev/null 2>&1 && ip link del coopdemo$i 2>/dev/null
	done
	rm -f "$sock"
	return 0
}

on_exit() {
	local rc=$?
	trap '' INT TERM HUP
	remove_all
	if [ -e "/run/netns/$client" ] || [ -e "/run/netns/$shared" ]; then
		say "could not remove every namespace: see ip netns list"
	fi
	exit "$rc"
}

remove_all
trap on_exit EXIT
# Until coopd runs, a signal just ends the script (and on_exit cleans up).
trap 'exit 130' INT
trap 'exit 143' TERM HUP

set -e
# The client namespace holds the far end of every link: the address there
# is the VS's gateway and its DNS server.
ip netns add "$client"
cx ip link set lo up
# The shared namespace of the pbr VSes. coop sets its sysctls, nftables
# table, rules and routes in here, never in the machine's namespace.
ip netns add "$shared"
sx ip link set lo up

# nas1, nas2 (netns): coopdemoN stays here for coopd to move into the VS's
# namespace; coopdemoNc goes to the client.
for i in 1 2; do
	ip link add coopdemo$i type veth peer name coopdemo${i}c netns "$client"
done
# nas3, nas4 (pbr): coopdemoN in the shared namespace, where the VS's
# addresses go (ADDR/LEN@coopdemoN); coopdemoNc in the client.
for i in 3 4; do
	ip link add coopdemo$i netns "$shared" type veth peer name coopdemo${i}c netns "$client"
done
for i in 1 2 3 4; do
	cx ip link set coopdemo${i}c up
	cx ip addr add 198.18.$i.254/24 dev coopdemo${i}c
done
cx ip -6 addr add 2001:db8:1::fe/64 dev coopdemo1c nodad
cx ip -6 addr add 2001:db8:2::fe/64 dev coopdemo2c nodad
cx ip -6 addr add 2001:db8:3::fe/64 dev coopdemo3c nodad

# A DNS server per VS, on its gateway address: the same names, different
# answers (files.demo.test is 198.18.N.10 and 2001:db8:N::10 for nasN).
for i in 1 2 3 4; do
	nsenter --net="/run/netns/$client" dnsmasq --keep-in-foreground --user=root \
		--no-resolv --no-hosts --pid-file= --listen-address=198.18.$i.254 \
		--bind-interfaces --local=/demo.test/ --local-ttl=60 \
		--address=/files.demo.test/198.18.$i.10 \
		--address=/files.demo.test/2001:db8:$i::10 \
		--address=/nas$i-only.demo.test/198.18.$i.11 \
		--log-facility=- </dev/null >/dev/null 2>&1 9>&- &
	dns_pids+=($!)
done
for i in 1 2 3 4; do
	for _ in $(seq 50); do
		cx ss -Hlnu "src 198.18.$i.254:53" 2>/dev/null | grep -q . && break
		kill -0 "${dns_pids[$((i - 1))]}" 2>/dev/null || die "dnsmasq on 198.18.$i.254 exited"
		sleep 0.1
	done
done

"$coopd" --check -c "$ini" 9>&-
set +e

# coopd runs in the background so that this shell can pass SIGTERM on; it
# is in the terminal's process group, so Ctrl-C reaches it directly (its
# own signal handlers replace the ignored SIGINT it inherits).
trap '' INT
trap '[ -n "$coopd_pid" ] && kill -TERM "$coopd_pid" 2>/dev/null' TERM HUP
"$coopd" -c "$ini" 9>&- &
coopd_pid=$!
for _ in $(seq 100); do
	"$coopctl" -s "$sock" help >/dev/null 2>&1 && break
	kill -0 "$coopd_pid" 2>/dev/null || break
	sleep 0.1
done
if ! "$coopctl" -s "$sock" help >/dev/null 2>&1; then
	wait "$coopd_pid"
	die "coopd did not start (status $?)"
fi

c="nsenter --net=/run/netns/$client"
ctl="$coopctl -s $sock"
cat <<MSG

coop demo (coopd pid $coopd_pid): four virtual servers in one process
  nas1  198.18.1.1, 2001:db8:1::1  netns: namespace coop-demo-nas1
  nas2  198.18.2.1, 2001:db8:2::1  netns: namespace coop-demo-nas2
  nas3  198.18.3.1, 2001:db8:3::1  pbr: in $shared, link coopdemo3
  nas4  198.18.4.1                 pbr: in $shared, link coopdemo4
  Each serves echo (7) and whoami (8) over TCP and UDP and its own ONC RPC
  portmapper (111, TCP and UDP). Its gateway, 198.18.N.254 (nas1, nas3 also
  2001:db8:N::fe), is in the client namespace $client, with a
  dnsmasq on it: the VS's own DNS server (search demo.test).

Try, in another terminal (as root):
  $c socat - TCP:198.18.1.1:8          # -> nas1
  $c socat - TCP:198.18.2.1:8          # -> nas2
  $c socat - TCP:198.18.3.1:8          # -> nas3
  $c socat - TCP:198.18.4.1:8          # -> nas4
  $c socat - TCP:[2001:db8:3::1]:7     # echo over IPv6 (type, Ctrl-D)
  echo hi | $c socat - UDP:198.18.4.1:8   # -> nas4 over UDP
  $c rpcinfo -p 198.18.1.1             # nas1: nfs 3, mountd 3
  $c rpcinfo -p 198.18.2.1             # nas2: nlockmgr 4
  $c rpcinfo -p 198.18.3.1             # nas3: nfs 4, nfs_acl 3
  $c rpcinfo -p 198.18.4.1             # nas4: status 1, rquotad 1
  $ctl show vs                 # all four
  $ctl show vs nas3            # pbr: its mark and table
  $ctl resolve nas1 files      # files.demo.test: 198.18.1.10, 2001:db8:1::10
  $ctl resolve nas3 files      # the same name: 198.18.3.10, 2001:db8:3::10
  $ctl --json show stats
  nsenter --net=/run/netns/$shared ip rule       # the pbr VSes' rule tree
  nsenter --net=/run/netns/$shared ip route show table all proto 246
  ip netns list

Ctrl-C stops coopd; then the namespaces, links and DNS servers go too.

MSG

# Wait for coopd; a trapped SIGTERM interrupts wait (and is passed on), so
# wait again until coopd has really gone.
while :; do
	wait "$coopd_pid"
	rc=$?
	kill -0 "$coopd_pid" 2>/dev/null || break
done
coopd_pid=
[ "$rc" -eq 0 ] || say "coopd exited with status $rc"
exit "$rc"
