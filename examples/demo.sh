#!/usr/bin/env bash
# demo.sh - run coopd in the foreground on etc/demo.ini: make a client
# namespace wired to each VS by a veth pair, say how to reach the VSes,
# and remove everything when coopd stops (Ctrl-C).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
coopd="$top/$B/coopd"
coopctl="$top/$B/coopctl"
client=coop-demo-client

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }

cleanup() {
	ip netns del "$client" 2>/dev/null
	ip link del coopdemo1 2>/dev/null
	ip link del coopdemo2 2>/dev/null
}
cleanup
trap cleanup EXIT

ip netns add "$client"
nsenter --net=/run/netns/$client ip link set lo up
for i in 1 2; do
	ip link add coopdemo$i type veth peer name coopdemo${i}c
	ip link set coopdemo${i}c netns "$client"
	nsenter --net=/run/netns/$client ip link set coopdemo${i}c up
	nsenter --net=/run/netns/$client ip addr add 198.18.$i.254/24 dev coopdemo${i}c
done
nsenter --net=/run/netns/$client ip -6 addr add 2001:db8:1::fe/64 dev coopdemo1c nodad
nsenter --net=/run/netns/$client ip -6 addr add 2001:db8:2::fe/64 dev coopdemo2c nodad

"$coopd" --check -c "$top/etc/demo.ini" || exit 1
cat <<MSG

coop demo: two virtual servers, each in its own network namespace
  nas1  198.18.1.1, 2001:db8:1::1  (namespace coop-demo-nas1)
  nas2  198.18.2.1, 2001:db8:2::1  (namespace coop-demo-nas2)
  each serves echo and whoami on tcp:7/8 and udp:7/8, and its own ONC RPC
  portmapper on udp:111 and tcp:111; the client namespace is $client.

Try, in another terminal (as root):
  nsenter --net=/run/netns/$client socat - TCP:198.18.1.1:8          # -> nas1
  nsenter --net=/run/netns/$client socat - TCP:198.18.2.1:8          # -> nas2
  nsenter --net=/run/netns/$client socat - TCP:[2001:db8:1::1]:7     # echo over IPv6
  echo hi | nsenter --net=/run/netns/$client socat - UDP:198.18.2.1:8 # -> nas2 over UDP
  nsenter --net=/run/netns/$client rpcinfo -p 198.18.1.1             # nas1's RPC map
  nsenter --net=/run/netns/$client rpcinfo -p 198.18.2.1             # nas2's
  $coopctl -s /run/coop/demo.sock show vs
  $coopctl -s /run/coop/demo.sock --json show stats
  ip netns list

Ctrl-C stops coopd and removes the namespaces, links and addresses.

MSG
# coopd gets the terminal's SIGINT itself; the shell waits, then cleans up.
trap '' INT
"$coopd" -c "$top/etc/demo.ini"
rc=$?
trap - INT
exit $rc
