# fwd_cluster.sh - the XDP forwarder cluster scenario, sourced after lib.sh
# by t_fwd_cluster.sh (200 connections) and bench/cluster/run.sh (1,000).
#
#   client ns ---- router ns ==ECMP==> n1, n2, n3 (each: coopd with the
#   198.18.0.2     198.18.0.1          forwarder on its uplink, a VS serving
#                  198.18.1X.1         VIP 198.18.100.1 with echo and whoami)
#
# A router with a multipath route for the VIP spreads client flows over the
# nodes; whichever node receives a flow finds its owner (flow cache, then
# Maglev table) and delivers locally or tunnels it (GUE) to the owner,
# which answers the client directly.
#
# The router hashes with fib_multipath_hash_policy=3 over the 5-tuple
# (fib_multipath_hash_fields 0x37: addresses, protocol, ports). Policy 1
# names the same fields, but for a forwarded skb that already carries an L4
# hash it uses that hash instead; over veth every packet still carries its
# client socket's random txhash, so the router would spread flows by a
# number no header shows (`ip route get` could not predict it, and a TCP
# retransmission timeout, which picks a new txhash, would move a flow). A
# router fed from a wire hashes the headers: policy 3 with these fields.

export LC_ALL=C # sort, join and comm agree on one order
VIP=198.18.100.1
CLIENT=198.18.0.2
VIP6=2001:db8:100::1
CLIENT6=2001:db8::2
FWC_NODES="n1 198.18.11.2, n2 198.18.12.2, n3 198.18.13.2"

# fail, with the three coopds' last log lines as well
eval "lib_$(declare -f fail)"
fail() {
	local i
	for i in 1 2 3; do
		[ -f "$T/n$i.log" ] && tail -8 "$T/n$i.log" | sed "s/^/  n$i: /" >&2
	done
	lib_fail "$@"
}

# fwc_setup : client helper, namespaces, links, router, three coopds.
fwc_setup() {
	local i
	cc -O2 -Wall -o "$T/fwd_conns" "$top/tests/integration/fwd_conns.c" -lbpf ||
		fail "cannot build tests/integration/fwd_conns.c"
	for ns in r c n1 n2 n3; do
		ip netns add "$P-$ns" || fail "ip netns add $P-$ns"
		nsx "$P-$ns" ip link set lo up
	done
	ip link add "${P}c" type veth peer name "${P}cr" || fail "veth ${P}c"
	ip link set "${P}c" netns "$P-c"
	ip link set "${P}cr" netns "$P-r"
	nsx "$P-c" ip addr add "$CLIENT/24" dev "${P}c"
	nsx "$P-c" ip -6 addr add "$CLIENT6/64" dev "${P}c" nodad
	nsx "$P-c" ip link set "${P}c" up
	nsx "$P-c" ip route add default via 198.18.0.1
	nsx "$P-c" ip -6 route add default via 2001:db8::1
	nsx "$P-r" ip addr add 198.18.0.1/24 dev "${P}cr"
	nsx "$P-r" ip -6 addr add 2001:db8::1/64 dev "${P}cr" nodad
	nsx "$P-r" ip link set "${P}cr" up
	# Segments leave the client with their checksums filled in: a node's
	# XDP program tunnels them as they are.
	nsx "$P-c" "$T/fwd_conns" tx-csum-off "${P}c" || fail "tx checksum offload off"
	for i in 1 2 3; do
		ip link add "${P}u$i" type veth peer name "${P}r$i" || fail "veth ${P}u$i"
		ip link set "${P}u$i" netns "$P-n$i"
		ip link set "${P}r$i" netns "$P-r"
		nsx "$P-n$i" ip addr add "198.18.1$i.2/24" dev "${P}u$i"
		nsx "$P-n$i" ip -6 addr add "2001:db8:1$i::2/64" dev "${P}u$i" nodad
		nsx "$P-n$i" ip link set "${P}u$i" up
		nsx "$P-n$i" ip route add default via "198.18.1$i.1"
		nsx "$P-n$i" ip -6 route add default via "2001:db8:1$i::1"
		# the VIPs are local on every node: flows it owns are accepted
		nsx "$P-n$i" ip addr add "$VIP/32" dev lo
		nsx "$P-n$i" ip -6 addr add "$VIP6/128" dev lo nodad
		nsx "$P-r" ip addr add "198.18.1$i.1/24" dev "${P}r$i"
		nsx "$P-r" ip -6 addr add "2001:db8:1$i::1/64" dev "${P}r$i" nodad
		nsx "$P-r" ip link set "${P}r$i" up
		# XDP_TX out of a veth needs an XDP program on its peer
		nsx "$P-r" "$T/fwd_conns" xdp-pass "${P}r$i" || fail "xdp pass on ${P}r$i"
	done
	nsx "$P-r" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=3 \
		net.ipv4.fib_multipath_hash_fields=0x37 net.ipv6.conf.all.forwarding=1 \
		net.ipv6.fib_multipath_hash_policy=3 net.ipv6.fib_multipath_hash_fields=0x37 ||
		fail "router sysctls"
	fwc_route 1 2 3
	for i in 1 2 3; do
		fwc_coopd "$i"
	done
	fwc_wait_resolved
	fwc_modes
	fwc_neigh
}

# fwc_mac_of I NODE : the next-hop MAC node I uses for NODE.
fwc_mac_of() {
	adm "$1" show fwd | jq -r --arg n "$2" '.nodes[] | select(.name == $n) | .mac // "none"'
}

# fwc_neigh : n1's node map follows its neighbour table: a changed MAC
# within a moment, a deleted neighbour probed and resolved again.
fwc_neigh() {
	local real fake=02:00:5e:00:53:01
	real=$(fwc_mac_of 1 n2)
	nsx "$P-n1" ip neigh replace 198.18.11.1 dev "${P}u1" lladdr "$fake" ||
		fail "ip neigh replace"
	for _ in $(seq 40); do
		[ "$(fwc_mac_of 1 n2)" = "$fake" ] && [ "$(fwc_mac_of 1 n3)" = "$fake" ] && break
		sleep 0.05
	done
	[ "$(fwc_mac_of 1 n3)" = "$fake" ] || fail "n1 did not follow a next-hop MAC change"
	nsx "$P-n1" ip neigh del 198.18.11.1 dev "${P}u1" || fail "ip neigh del"
	for _ in $(seq 60); do
		[ "$(fwc_mac_of 1 n2)" = "$real" ] && [ "$(fwc_mac_of 1 n3)" = "$real" ] && break
		sleep 0.05
	done
	[ "$(fwc_mac_of 1 n3)" = "$real" ] ||
		fail "n1 did not resolve its deleted next hop again: $(adm 1 show fwd | jq -c .nodes)"
	ok "n1's node map follows its neighbour table: a changed next-hop MAC, a deleted one probed and resolved again"
}

# fwc_route I... : the router's multipath routes for the VIPs over nodes I...
fwc_route() {
	local i hops=() hops6=()
	for i in "$@"; do
		hops+=(nexthop via "198.18.1$i.2")
		hops6+=(nexthop via "2001:db8:1$i::2")
	done
	nsx "$P-r" ip route replace "$VIP/32" "${hops[@]}" || fail "ECMP route over $*"
	nsx "$P-r" ip -6 route replace "$VIP6/128" "${hops6[@]}" || fail "IPv6 ECMP route over $*"
}

# fwc_coopd I : coopd on node I, inside its namespace. n3 runs the program
# in generic (skb) mode, the fallback for drivers without XDP: a cluster
# may mix both.
fwc_coopd() {
	local i=$1
	fwc_ini "$i" "$FWC_NODES"
	# nsenter itself, not the nsx function: $! must be coopd (nsenter
	# execs it), not a subshell that a SIGTERM would kill instead
	nsenter --net="/run/netns/$P-n$i" "$COOPD" -c "$T/n$i.ini" >"$T/n$i.log" 2>&1 &
	FWC_PID[$i]=$!
	PIDS+=("$!")
	for _ in $(seq 100); do
		"$COOPCTL" -s "$T/n$i.sock" help >/dev/null 2>&1 && return 0
		kill -0 "${FWC_PID[$i]}" 2>/dev/null || { cat "$T/n$i.log" >&2; fail "coopd n$i exited"; }
		sleep 0.05
	done
	fail "coopd n$i did not open its admin socket"
}

# fwc_ini I NODES [LINE] : node I's configuration file with nodes = NODES
# (and LINE added to [forwarder]); coopd reads it at start and on reload.
fwc_ini() {
	local i=$1 nodes=$2 extra=${3:-} mode=auto
	[ "$i" = 3 ] && mode=generic
	cat >"$T/n$i.ini" <<INI
[global]
workers = 2
admin_socket = $T/n$i.sock

[vs n$i]
namespace = $P-n$i
listen = tcp:7 echo, tcp:80 whoami

[forwarder]
interface = ${P}u$i
vips = $VIP:7/tcp, $VIP:80/tcp, [$VIP6]:7/tcp, [$VIP6]:80/tcp
nodes = $nodes
self = n$i
xdp_mode = $mode
$extra
INI
}

# fwc_modes : n1 and n2 attached in native mode, n3 in generic mode.
fwc_modes() {
	local i want
	for i in 1 2 3; do
		want=native
		[ "$i" = 3 ] && want=generic
		[ "$(adm "$i" show fwd | jq -r .mode)" = "$want" ] || fail "n$i: not in $want mode"
	done
	grep -q "attached to ${P}u3 in generic mode" "$T/n3.log" || fail "n3's log does not say generic mode"
	ok "n1 and n2 forward in native XDP, n3 in generic mode (said in its log)"
}

# adm I CMD... : one admin command on node I, JSON reply on stdout.
adm() {
	local i=$1
	shift
	"$COOPCTL" -s "$T/n$i.sock" --json "$@"
}

# fwc_wait_resolved : every node knows the next hop to every other node.
fwc_wait_resolved() {
	local i
	for i in 1 2 3; do
		for _ in $(seq 100); do
			[ "$(adm "$i" show fwd | jq '[.nodes[] | select(.self | not) | .resolved] | all')" = true ] &&
				break
			sleep 0.05
		done
		[ "$(adm "$i" show fwd | jq '[.nodes[] | select(.self | not) | .resolved] | all')" = true ] ||
			fail "node n$i: next hops unresolved: $(adm "$i" show fwd | jq -c .nodes)"
	done
}

# fwc_client : the connection-holding client, as a coprocess.
fwc_client() {
	coproc CL { exec nsenter --net="/run/netns/$P-c" "$T/fwd_conns" 2>"$T/client.err"; }
	PIDS+=("$CL_PID")
}

# cl CMD : one client command; its reply lines (without "end") on stdout
# (redirect it to a file: in a pipeline's subshell the coprocess is gone).
cl() {
	local line
	echo "$*" >&"${CL[1]}"
	while read -r -t 120 -u "${CL[0]}" line; do
		[ "$line" = end ] && return 0
		echo "$line"
	done
	fail "client: no answer to '$*'"
}

# fwc_lookup I DPORT [CLIENT VIP] < sports : `fwd lookup` of each client
# port on node I (pipelined on one admin connection); "SPORT OWNER TABLE"
# lines: the owner (flow cache, then table) and the table's answer alone.
# The ports must also be in $T/lookup.in.
fwc_lookup() {
	local i=$1 dport=$2 client=${3:-$CLIENT} vip=${4:-$VIP}
	awk -v c="$client" -v v="$vip" -v d="$dport" '{print "fwd lookup " c " " $1 " " v " " d " tcp"}' |
		socat -t 30 - "UNIX-CONNECT:$T/n$i.sock" |
		jq -r '"\(.owner // "none") \(.table // "none")"' >"$T/lookup.out"
	paste -d' ' "$T/lookup.in" "$T/lookup.out"
}

# fwc_lookup_at DPORT < "SPORT NODE" : lookup of each port on the given node.
fwc_lookup_at() {
	local dport=$1 i
	cat >"$T/at"
	for i in 1 2 3; do
		awk -v n="n$i" '$2 == n {print $1}' "$T/at" >"$T/lookup.in"
		[ -s "$T/lookup.in" ] && fwc_lookup "$i" "$dport" <"$T/lookup.in"
	done
	true
}

# fwc_router < sports : which node the router sends each port's flow to
# (to VIP port 7); "SPORT NODE" lines. The ports must also be in
# $T/batch.sports.
fwc_router() {
	awk -v c="$CLIENT" -v v="$VIP" -v r="${P}cr" \
		'{print "route get " v " from " c " iif " r " ipproto tcp sport " $1 " dport 7"}' >"$T/batch"
	nsx "$P-r" ip -batch "$T/batch" | awk '/^[0-9]/ {for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1)}' |
		sed 's/^198\.18\.1\([1-3]\)\.2$/n\1/' >"$T/router.out"
	cut -d' ' -f1 "$T/batch.sports" | paste -d' ' - "$T/router.out"
}

# fwc_owners : "SPORT NODE" for every established echo connection, from
# the sockets themselves (ss inside each node).
fwc_owners() {
	local i
	for i in 1 2 3; do
		nsx "$P-n$i" ss -Htn state established '( sport = :7 )' |
			awk -v n="n$i" '{p = $4; sub(/.*:/, "", p); print p, n}'
	done | sort
}

# fwc_open N : open N more echo connections; all must succeed.
fwc_open() {
	cl open "$VIP" 7 "$1" >"$T/open.out"
	grep -q fail "$T/open.out" && fail "connections failed: $(grep -c fail "$T/open.out") of $1"
	cat "$T/open.out" >>"$T/conns.raw"
}

# fwc_ping OUT : a line on every open connection; "ID SPORT ok|broken" to OUT.
fwc_ping() {
	# not in a pipeline: a subshell has no coprocess descriptors
	cl ping 3000 >"$T/ping.raw"
	awk '{print $2, $3, $4}' "$T/ping.raw" >"$1"
}

# fwc_node_cmd WHAT I CMD : change node I's set: an admin command, whose
# table must be live at once; or "reload NODES": node I's file gets
# nodes = NODES (plus node I itself, which a file must list) and coopd
# re-reads it; the new table must be live too.
fwc_node_cmd() {
	local what=$1 i=$2 cmd=$3 nodes
	if [ "${cmd%% *}" != reload ]; then
		# shellcheck disable=SC2086
		adm "$i" $cmd >"$T/change.json" || fail "$what: node n$i: $(cat "$T/change.json")"
		[ "$(jq .published "$T/change.json")" = true ] || fail "$what: n$i: table not published"
		return 0
	fi
	nodes=${cmd#reload }
	[[ ", $nodes," == *", n$i "* ]] || nodes="$nodes, n$i 198.18.1$i.2"
	fwc_ini "$i" "$nodes"
	adm "$i" reload >"$T/change.json" 2>&1 || fail "$what: node n$i: reload: $(cat "$T/change.json")"
	[ "$(adm "$i" show fwd | jq .table.pending)" = false ] || fail "$what: n$i: table not published"
}

# fwc_change WHAT OPEN "I..." "CMD" GONE : change the node set: the router's
# route over nodes I..., then CMD on every node's forwarder (fwc_node_cmd); predict, from
# the live maps, which of the OPEN connections break; exchange data on all
# of them and compare. Sets FWC_BROKEN, FWC_LOST (connections GONE, the
# removed node, held), FWC_COLLATERAL, and what the table alone
# (FWC_NOCACHE) and the router alone (FWC_NOFWD) would have broken.
fwc_change() {
	local what=$1 before=$2 route=$3 cmd=$4 i
	fwc_owners >"$T/owners.before"
	[ "$(wc -l <"$T/owners.before")" -eq "$before" ] ||
		fail "$what: $before connections open, sockets on the nodes: $(wc -l <"$T/owners.before")"
	cut -d' ' -f1 "$T/owners.before" >"$T/batch.sports"
	fwc_router <"$T/batch.sports" >"$T/arrive.before"
	# shellcheck disable=SC2086
	fwc_route $route
	for i in 1 2 3; do
		fwc_node_cmd "$what" "$i" "$cmd"
	done
	# where each flow arrives now, and what that node will do with it
	fwc_router <"$T/batch.sports" >"$T/arrive"
	fwc_lookup_at 7 <"$T/arrive" | sort >"$T/owner.after"
	[ "$(wc -l <"$T/owner.after")" -eq "$before" ] || fail "$what: lookups missing"
	join "$T/owners.before" "$T/owner.after" | awk '$2 != $3 {print $1}' | sort >"$T/expect"
	# what would have broken without the flow cache (the table alone), and
	# without the forwarder (each node serving what the router sends it)
	FWC_NOCACHE=$(join "$T/owners.before" "$T/owner.after" | awk '$2 != $4' | wc -l)
	FWC_NOFWD=$(join "$T/arrive.before" "$T/arrive" | awk '$2 != $3' | wc -l)
	fwc_ping "$T/ping"
	awk '$3 != "ok" {print $2}' "$T/ping" | sort >"$T/broken"
	FWC_BROKEN=$(wc -l <"$T/broken")
	FWC_LOST=$(join "$T/owners.before" "$T/owner.after" | awk -v s="$5" '$2 == s' | wc -l)
	FWC_COLLATERAL=$((FWC_BROKEN - FWC_LOST))
	if ! cmp -s "$T/expect" "$T/broken"; then
		echo "  predicted but kept working: $(comm -23 "$T/expect" "$T/broken" | head -5 | tr '\n' ' ')" >&2
		echo "  broken but not predicted:   $(comm -13 "$T/expect" "$T/broken" | head -5 | tr '\n' ' ')" >&2
		fail "$what: $(wc -l <"$T/expect") connections predicted to break, $FWC_BROKEN broke"
	fi
	ok "$what: $FWC_BROKEN of $before connections broke, exactly those the live tables predicted ($FWC_LOST lost with their node, $FWC_COLLATERAL collateral)"
	fwc_reap <"$T/broken"
}

# fwc_reap < ports : close the server ends of connections the client gave
# up (the node that held one never heard of it), so they are not counted
# again and a new connection reusing the port is not confused with them.
fwc_reap() {
	local i
	xargs -r -n 50 echo | while read -r ports; do
		filter=$(echo "$ports" | sed 's/\([0-9]*\)/dport = :\1/g; s/ dport/ or dport/g')
		for i in 1 2 3; do
			nsx "$P-n$i" ss -K state established "( sport = :7 ) and ( $filter )" >/dev/null 2>&1
		done
	done
}

# fwc_ipv6 : the IPv6 VIP, tunnelled over the IPv4 cluster addresses: whoami
# names the owner fwd lookup gives, and full-size segments get ICMPv6
# packet too big, then smaller ones (one-shot client: the held connections
# stay IPv4).
fwc_ipv6() {
	local i big=0
	printf 'whoami %s 80 60\nopen %s 7 20\nbulk 20 30000 20000\nquit\n' "$VIP6" "$VIP6" |
		nsenter --net="/run/netns/$P-c" "$T/fwd_conns" >"$T/v6" 2>&1
	grep '^who ' "$T/v6" >"$T/who6"
	[ "$(grep -c ' n[1-3]$' "$T/who6")" -eq 60 ] || fail "IPv6 whoami: $(grep -vc ' n[1-3]$' "$T/who6") of 60 unanswered"
	awk '{print $2}' "$T/who6" >"$T/lookup.in"
	fwc_lookup 1 80 "$CLIENT6" "$VIP6" <"$T/lookup.in" | cut -d' ' -f1,2 >"$T/who6.lookup"
	awk '{print $2, $3}' "$T/who6" | diff - "$T/who6.lookup" >/dev/null ||
		fail "IPv6 whoami answers differ from fwd lookup"
	[ "$(awk '{print $3}' "$T/who6" | sort -u | tr '\n' ' ')" = "n1 n2 n3 " ] ||
		fail "IPv6 whoami: not served by all three nodes"
	[ "$(grep -c '^bulk .* ok$' "$T/v6")" -eq 20 ] || fail "IPv6 bulk: $(grep -c '^bulk .* broken' "$T/v6") of 20 stalled"
	for i in 1 2 3; do
		big=$((big + $(adm "$i" show fwd | jq .counters.tx_icmp6_too_big.packets)))
	done
	[ "$big" -gt 0 ] || fail "no ICMPv6 packet too big for full-size tunnelled IPv6 segments"
	ok "IPv6 VIP over IPv4 tunnels: 60 whoami answers match fwd lookup; 30 kB each way on 20 connections after $big ICMPv6 packet-too-big replies"
}

# fwc_pmtu : a smaller MTU on the way back to the client. The router's
# link to it carries 1,400 bytes while the client still asks for
# 1,460-byte segments (its route to the VIP: mtu 1400, advmss 1460), so
# the owners' full-size replies make the router send "fragmentation
# needed" to the VIP. A router picks a node for those by its own hash,
# which knows nothing of owners; here all of them go to n1 (a rule for
# ICMP to the VIP), which steers each to the owner of the flow it quotes.
# Without that, n2 and n3 would never learn the smaller MTU and their
# connections would stall.
fwc_pmtu() {
	local i before=0 after=0
	for i in 1 2 3; do
		before=$((before + $(adm "$i" show fwd | jq .counters.icmp_vip.packets)))
	done
	nsx "$P-r" sysctl -qw net.ipv4.icmp_ratelimit=0 || fail "router icmp_ratelimit"
	nsx "$P-r" ip route add "$VIP/32" via 198.18.11.2 table 100 || fail "router ICMP table"
	nsx "$P-r" ip rule add pref 100 ipproto icmp to "$VIP/32" lookup 100 || fail "router ICMP rule"
	nsx "$P-r" ip link set "${P}cr" mtu 1400 || fail "router MTU 1400"
	nsx "$P-c" ip route replace "$VIP/32" via 198.18.0.1 mtu lock 1400 advmss 1460 ||
		fail "client route with advmss"
	printf 'open %s 7 30\nbulk 30 30000 20000\nquit\n' "$VIP" |
		nsenter --net="/run/netns/$P-c" "$T/fwd_conns" >"$T/pmtu" 2>&1
	nsx "$P-c" ip route del "$VIP/32" via 198.18.0.1 || fail "client route back"
	nsx "$P-r" ip link set "${P}cr" mtu 1500 || fail "router MTU back"
	nsx "$P-r" ip rule del pref 100 || fail "router ICMP rule back"
	nsx "$P-r" ip route flush table 100
	# the owners forget the smaller path MTU they learnt
	for i in 1 2 3; do
		nsx "$P-n$i" ip route flush cache
	done
	[ "$(grep -c '^bulk .* ok$' "$T/pmtu")" -eq 30 ] ||
		fail "smaller MTU towards the client: $(grep -c '^bulk .* broken' "$T/pmtu") of 30 connections stalled"
	for i in 1 2 3; do
		after=$((after + $(adm "$i" show fwd | jq .counters.icmp_vip.packets)))
	done
	[ "$after" -gt "$before" ] || fail "no ICMP error about a VIP flow was steered"
	ok "MTU 1,400 towards the client, every router ICMP error to n1: 30 kB each way on 30 connections after $((after - before)) ICMP errors steered to the flows' owners"
}

# fwc_spoof : a tunnel packet from the client, which is no node, to n1's
# cluster address and GUE port is dropped, counted, never decapsulated.
fwc_spoof() {
	local port before after
	port=$(adm 1 show fwd | jq .gue_port)
	before=$(adm 1 show fwd | jq .counters.drop_tunnel_peer.packets)
	# GUE version 0, protocol 4 (IPv4), then the start of an inner packet
	for _ in 1 2 3 4 5; do
		printf '\000\004\000\000\105\000\000\024' |
			nsx "$P-c" socat -u - "UDP4-SENDTO:198.18.11.2:$port" ||
			fail "cannot send a GUE packet from the client"
	done
	for _ in $(seq 50); do
		after=$(adm 1 show fwd | jq .counters.drop_tunnel_peer.packets)
		[ "$((after - before))" -ge 5 ] && break
		sleep 0.02
	done
	[ "$((after - before))" -eq 5 ] ||
		fail "GUE from the client: drop_tunnel_peer moved by $((after - before)), want 5"
	ok "5 GUE packets from an address that is no node: dropped by n1 (drop_tunnel_peer +5)"
}

# fwc_gue_payload DST : printf format of a GUE payload (version 0, proto 4)
# carrying an IPv4 UDP datagram from the client to DST port 9, with a
# valid header checksum (what a node's tunnel carries, to any address).
fwc_gue_payload() {
	local dst=$1 a b c d sum w i
	local -a h
	IFS=. read -r a b c d <<<"$CLIENT"
	h=(0x45 0 0 32 0 0 0x40 0 64 17 0 0 "$a" "$b" "$c" "$d")
	IFS=. read -r a b c d <<<"$dst"
	h+=("$a" "$b" "$c" "$d")
	sum=0
	for ((i = 0; i < 20; i += 2)); do
		w=$(((h[i] << 8) | h[i + 1]))
		sum=$((sum + w))
	done
	while ((sum >> 16)); do sum=$(((sum & 0xffff) + (sum >> 16))); done
	sum=$((~sum & 0xffff))
	h[10]=$((sum >> 8)) h[11]=$((sum & 0xff))
	# GUE, the IP header, UDP 40000 -> 9 (length 12, no checksum), "ping"
	printf '\\x00\\x04\\x00\\x00'
	for i in "${h[@]}"; do printf '\\x%02x' "$i"; done
	printf '\\x9c\\x40\\x00\\x09\\x00\\x0c\\x00\\x00ping'
}

# fwc_counter I NAME : data-path counter NAME of node I, in packets.
fwc_counter() {
	adm "$1" show fwd | jq ".counters.$2.packets"
}

# fwc_tunnel WHAT FROM I DST COUNTER : 5 GUE packets from namespace
# $P-FROM (its uplink address is the outer source) to node I's cluster
# address, carrying a datagram to DST; node I's COUNTER must move by 5.
fwc_tunnel() {
	local what=$1 from=$2 i=$3 dst=$4 counter=$5 port before after fmt
	port=$(adm "$i" show fwd | jq .gue_port)
	fmt=$(fwc_gue_payload "$dst")
	before=$(fwc_counter "$i" "$counter")
	for _ in 1 2 3 4 5; do
		# shellcheck disable=SC2059
		printf "$fmt" | nsx "$P-$from" socat -u - "UDP4-SENDTO:198.18.1$i.2:$port" ||
			fail "$what: cannot send a GUE packet from $from"
	done
	for _ in $(seq 50); do
		after=$(fwc_counter "$i" "$counter")
		[ "$((after - before))" -ge 5 ] && break
		sleep 0.02
	done
	[ "$((after - before))" -eq 5 ] ||
		fail "$what: GUE from $from to n$i: $counter moved by $((after - before)), want 5"
}

# fwc_inner : the inner packet of a tunnel must be to a VIP address or to
# the receiving node: n2, a node, reaches n1's VIP and n1 itself, not the
# client nor n2's own address through n1.
fwc_inner() {
	fwc_tunnel "tunnel to the VIP" n2 1 "$VIP" pass_decap
	fwc_tunnel "tunnel to n1 itself" n2 1 198.18.11.2 pass_decap
	fwc_tunnel "tunnel to the client" n2 1 "$CLIENT" drop_tunnel_dst
	fwc_tunnel "tunnel to n2's address" n2 1 198.18.12.2 drop_tunnel_dst
	ok "GUE from n2 to n1: inner packets to the VIP and to n1 decapsulated, to the client and to n2 dropped (drop_tunnel_dst +5 each)"
}

# fwc_untrusted WHAT FROM I... : tunnels from node FROM, which left the set,
# are dropped by nodes I... (drop_tunnel_peer).
fwc_untrusted() {
	local what=$1 from=$2 i
	shift 2
	for i in "$@"; do
		fwc_tunnel "$what" "$from" "$i" "$VIP" drop_tunnel_peer
	done
	ok "$what: GUE from $from's address to the VIP dropped by $(printf 'n%s ' "$@")(drop_tunnel_peer +5 each)"
}

# fwc_flow_cache : show fwd states the flow cache per CPU, sized from the
# online CPUs (the kernel splits it over the possible ones).
fwc_flow_cache() {
	local online possible want
	online=$(getconf _NPROCESSORS_ONLN)
	possible=$(awk -F- '{print ($2 == "" ? $1 : $2) + 1}' /sys/devices/system/cpu/possible)
	want=$(jq -n --argjson s 65536 --argjson o "$online" --argjson p "$possible" \
		'{size: $s, per_cpu: (($s + $o - 1) / $o | floor), cpus_online: $o, cpus_possible: $p}
		 | .entries = .per_cpu * $p')
	[ "$(adm 1 show fwd | jq -c '.flow_cache | del(.evicted)')" = "$(jq -c . <<<"$want")" ] ||
		fail "n1's flow cache: $(adm 1 show fwd | jq -c .flow_cache), want $(jq -c . <<<"$want")"
	ok "flow cache: $(jq -r '"\(.per_cpu) flows per CPU, \(.cpus_online) online of \(.cpus_possible) possible"' <<<"$want") (show fwd)"
}

# fwc_names I : node I's node set as `show fwd` has it, "NAME:ID:WEIGHT" sorted.
fwc_names() {
	adm "$1" show fwd | jq -r '[.nodes[] | "\(.name):\(.id):\(.weight)"] | sort | join(" ")'
}

# fwc_reload N : the node set changed by reloading the files: n3 removed
# from n1's and n2's `nodes` and back, with N connections held, predicted
# as for the admin commands; then a reload that also changes table_size is
# refused and changes nothing; then a file whose section did not change
# leaves a drain done by hand alone, and one whose nodes changed makes the
# running set the file's again.
fwc_reload() {
	local n=$1 i before after msg rc
	fwc_open "$FWC_BROKEN"
	fwc_change "reload without n3" "$n" "1 2" "reload n1 198.18.11.2, n2 198.18.12.2" n3
	for i in 1 2; do
		[ "$(fwc_names "$i")" = "n1:0:1 n2:1:1" ] ||
			fail "reload without n3: n$i's show fwd has $(fwc_names "$i")"
		grep -q 'forwarder: reload: node n3 removed.*table published' "$T/n$i.log" ||
			fail "reload without n3: n$i's log does not say what changed"
	done
	[ "$(adm 1 show fwd | jq '[.nodes[].entries] | add')" = 65537 ] ||
		fail "reload without n3: n1's live table is not shared by n1 and n2"
	ok "reload with n3 gone from the files of n1 and n2: show fwd follows (n1, n2), and the log says what changed"
	fwc_untrusted "reload without n3" n3 1 2
	fwc_open "$FWC_BROKEN"
	fwc_change "reload with n3" "$n" "1 2 3" "reload $FWC_NODES" none
	for i in 1 2; do
		[ "$(fwc_names "$i")" = "n1:0:1 n2:1:1 n3:2:1" ] ||
			fail "reload with n3: n$i's show fwd has $(fwc_names "$i")"
		[ "$(adm "$i" show fwd | jq '.nodes[] | select(.name == "n3") | .entries > 0')" = true ] ||
			fail "reload with n3: n$i's live table gives n3 nothing"
	done
	ok "reload with n3 back in the files: show fwd follows (n3 back with its old id 2, in the live table)"
	fwc_tunnel "reload with n3" n3 1 "$VIP" pass_decap

	# refused: table_size (and nodes) changed; nothing changes
	before=$(adm 1 show fwd | jq -c '{t: .table, n: [.nodes[] | [.name, .id, .weight]]}')
	fwc_ini 1 "n1 198.18.11.2, n2 198.18.12.2" "table_size = 131071"
	adm 1 reload >"$T/reload.err" 2>&1
	rc=$?
	[ "$rc" -ne 0 ] || fail "a reload changing table_size was accepted: $(cat "$T/reload.err")"
	msg=$(cat "$T/reload.err")
	for t in "[forwarder] table_size: changed (65537 -> 131071)" "needs a restart"; do
		grep -qF -- "$t" <<<"$msg" || fail "refused reload: the error does not say '$t': $msg"
	done
	after=$(adm 1 show fwd | jq -c '{t: .table, n: [.nodes[] | [.name, .id, .weight]]}')
	[ "$before" = "$after" ] || fail "refused reload changed the forwarder: $before -> $after"
	ok "a reload that changes table_size is refused ($(jq -r .error <<<"$msg" 2>/dev/null || echo "$msg")) and changes nothing"

	# the running set may differ from the file: unchanged section, no change
	fwc_ini 1 "$FWC_NODES"
	adm 1 fwd node weight n2 0 >/dev/null || fail "fwd node weight n2 0"
	adm 1 reload >"$T/reload.out" 2>&1 || fail "reload of an unchanged file: $(cat "$T/reload.out")"
	[ "$(fwc_names 1)" = "n1:0:1 n2:1:0 n3:2:1" ] ||
		fail "a reload with [forwarder] unchanged undid a drain by hand: $(fwc_names 1)"
	fwc_ini 1 "n1 198.18.11.2, n2 198.18.12.2, n3 198.18.13.2 2"
	adm 1 reload >"$T/reload.out" 2>&1 || fail "reload with n3's weight 2: $(cat "$T/reload.out")"
	[ "$(fwc_names 1)" = "n1:0:1 n2:1:1 n3:2:2" ] ||
		fail "reload with n3's weight 2: n1 runs $(fwc_names 1), not the file's set"
	grep -q 'forwarder: reload: node n2 weight 0 -> 1, node n3 weight 1 -> 2.*against the running set' "$T/n1.log" ||
		fail "reload with n3's weight 2: n1's log does not say what changed: $(grep 'forwarder: reload' "$T/n1.log" | tail -1)"
	ok "the file's set is diffed against the running one: an unchanged section keeps a drain done by hand, a changed one undoes it (n2 1, n3 2)"

	# last, on n1 only (the held connections are done with): a node that
	# moves keeps its id; a node removed while a new one waits for its
	# next hop leaves the live table at once, the new one joins later
	fwc_ini 1 "n1 198.18.11.2, n2 198.18.12.9, n3 198.18.13.2 2"
	adm 1 reload >"$T/reload.out" 2>&1 || fail "reload moving n2: $(cat "$T/reload.out")"
	[ "$(adm 1 show fwd | jq -r '.nodes[] | select(.name == "n2") | "\(.id) \(.address)"')" = "1 198.18.12.9" ] ||
		fail "reload moving n2: n1 has $(adm 1 show fwd | jq -c '.nodes[] | select(.name == "n2")')"
	grep -q 'forwarder: reload: node n2 moved to 198.18.12.9, table published' "$T/n1.log" ||
		fail "reload moving n2: n1's log does not say so"
	fwc_untrusted "reload moving n2 away from 198.18.12.2" n2 1
	fwc_ini 1 "n1 198.18.11.2, n2 198.18.12.9, n4 198.18.11.77"
	adm 1 reload >"$T/reload.out" 2>&1 || fail "reload removing n3, adding n4: $(cat "$T/reload.out")"
	[ "$(adm 1 show fwd | jq -c '[.table.pending, ([.nodes[] | .name] | sort),
		([.nodes[] | select(.name != "n4") | .entries] | add), (.nodes[] | select(.name == "n4") | .entries)]')" = \
		'[true,["n1","n2","n4"],65537,0]' ] ||
		fail "n4 unreachable: n3 should be out of n1's live table and n4 not in it yet: $(adm 1 show fwd | jq -c '[.table, .nodes]')"
	grep -q 'forwarder: reload: node n3 removed, node n4 198.18.11.77 added (id 3, weight 1), table without the waiting nodes published, table waits' "$T/n1.log" ||
		fail "n4 unreachable: n1's log does not say what changed: $(grep 'forwarder: reload' "$T/n1.log" | tail -1)"
	for _ in $(seq 50); do
		[ "$(adm 1 show fwd | jq .table.pending)" = false ] && break
		sleep 0.1
	done
	[ "$(adm 1 show fwd | jq '[.table.pending, (.nodes[] | select(.name == "n4") | .entries > 0)]' | tr -d ' \n')" = '[false,true]' ] ||
		fail "n4 unreachable: the waiting table was not published after 3 s: $(adm 1 show fwd | jq -c .table)"
	ok "reloads on n1: n2 moved to another address keeps its id; n3 removed at once while n4, unreachable, joins the table only after the 3 s wait"
}

# fwc_scenario N : the whole run with N held connections.
fwc_scenario() {
	local n=$1 i nodes
	fwc_client
	: >"$T/conns.raw"

	# whoami: each answer names the node the live tables say owns the flow
	cl whoami "$VIP" 80 60 >"$T/who"
	[ "$(grep -c ' n[1-3]$' "$T/who")" -eq 60 ] || fail "whoami: $(grep -vc ' n[1-3]$' "$T/who") of 60 unanswered"
	awk '{print $2}' "$T/who" >"$T/lookup.in"
	fwc_lookup 1 80 <"$T/lookup.in" | cut -d' ' -f1,2 >"$T/who.lookup"
	awk '{print $2, $3}' "$T/who" | diff - "$T/who.lookup" >/dev/null ||
		fail "whoami answers differ from fwd lookup: $(awk '{print $2, $3}' "$T/who" | diff - "$T/who.lookup" | head -4 | tr '\n' ' ')"
	nodes=$(awk '{print $3}' "$T/who" | sort -u | tr '\n' ' ')
	[ "$nodes" = "n1 n2 n3 " ] || fail "whoami: served by $nodes only"
	ok "60 whoami connections served by n1, n2 and n3, each by the owner fwd lookup names"
	fwc_ipv6
	fwc_spoof
	if [ -n "${FWC_TRUST:-}" ]; then
		fwc_inner
		fwc_flow_cache
	fi

	fwc_open "$n"
	fwc_ping "$T/ping"
	[ "$(grep -c ' ok$' "$T/ping")" -eq "$n" ] || fail "$(grep -vc ' ok$' "$T/ping") of $n connections do not echo"
	fwc_owners >"$T/owners"
	[ "$(wc -l <"$T/owners")" -eq "$n" ] || fail "$n connections, $(wc -l <"$T/owners") sockets on the nodes"
	cut -d' ' -f1 "$T/owners" >"$T/lookup.in"
	fwc_lookup 1 7 <"$T/lookup.in" | cut -d' ' -f1,2 | diff - "$T/owners" >/dev/null ||
		fail "the node holding a connection is not the one fwd lookup names"
	ok "$n connections held: $(awk '{print $2}' "$T/owners" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')each on the node fwd lookup names"

	# full-size segments through a tunnel: ICMP fragmentation needed, then
	# smaller segments; never a black hole
	cl bulk 60 30000 20000 >"$T/bulk"
	[ "$(grep -c ' ok$' "$T/bulk")" -eq 60 ] || fail "bulk: $(grep -vc ' ok$' "$T/bulk") of 60 connections stalled"
	icmp=0
	for i in 1 2 3; do
		icmp=$((icmp + $(adm "$i" show fwd | jq .counters.tx_icmp4_frag_needed.packets)))
	done
	[ "$icmp" -gt 0 ] || fail "no ICMP fragmentation needed was sent for full-size tunnelled segments"
	ok "30 kB each way on 60 connections: $icmp ICMP fragmentation-needed replies, then every byte echoed"
	fwc_pmtu

	# drain: established connections stay where they are, new ones avoid n2
	fwc_change "drain n2" "$n" "1 2 3" "fwd node weight n2 0" none
	cl whoami "$VIP" 80 30 >"$T/who.drain"
	[ "$(grep -c ' n[13]$' "$T/who.drain")" -eq 30 ] ||
		fail "drained n2: new connections served by $(awk '{print $3}' "$T/who.drain" | sort | uniq -c | tr '\n' ' ')"
	ok "drained n2 takes no new connection (30 whoami: n1 and n3 only)"
	fwc_change "undrain n2" "$n" "1 2 3" "fwd node weight n2 1" none

	fwc_change "remove n3" "$n" "1 2" "fwd node remove n3" n3
	[ -n "${FWC_TRUST:-}" ] && fwc_untrusted "fwd node remove n3" n3 1 2
	FWC_REMOVE_LOST=$FWC_LOST FWC_REMOVE_COLL=$FWC_COLLATERAL FWC_REMOVE_N=$n
	FWC_REMOVE_NOCACHE=$FWC_NOCACHE FWC_REMOVE_NOFWD=$FWC_NOFWD

	# back to N open connections, then the node returns
	fwc_open "$FWC_BROKEN"
	fwc_change "add n3" "$n" "1 2 3" "fwd node add n3 198.18.13.2" none
	# back with its old id: cached flows naming it still mean it
	[ "$(adm 1 show fwd | jq '.nodes[] | select(.name == "n3") | .id')" = 2 ] ||
		fail "n3 came back with another id"
	if [ -n "${FWC_TRUST:-}" ]; then
		fwc_tunnel "fwd node add n3" n3 1 "$VIP" pass_decap
		ok "n3 back in the set: its tunnels are decapsulated again"
	fi
	FWC_ADD_COLL=$FWC_COLLATERAL FWC_ADD_N=$n
	FWC_ADD_NOCACHE=$FWC_NOCACHE FWC_ADD_NOFWD=$FWC_NOFWD

	# the same changes by reloading the files (t_fwd_cluster.sh only)
	[ -n "${FWC_RELOAD:-}" ] && fwc_reload "$n"

	echo quit >&"${CL[1]}"
	for i in 1 2 3; do
		kill -TERM "${FWC_PID[$i]}"
	done
	for i in 1 2 3; do
		wait "${FWC_PID[$i]}" || fail "coopd n$i exited with status $?"
		nsx "$P-n$i" ip link show "${P}u$i" | grep -q 'prog/xdp' && fail "n$i: XDP program left on ${P}u$i"
	done
	ok "three coopds stopped cleanly; no XDP program left on the uplinks"
}
