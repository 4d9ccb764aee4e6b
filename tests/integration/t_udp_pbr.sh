#!/usr/bin/env bash
# UDP through the demux, pbr VSes sharing one namespace and one port: every
# reply comes from the address the client sent to, and leaves through the
# VS's own gateway. Requests reach each VS through the OTHER VS's router,
# and each router refuses to forward anything from the other VS's subnet,
# so a reply that followed the request's path, the main table or the wrong
# mark never arrives.
#
#            RA (198.18.10.1) ---- ra1 198.18.20.1 ---\
#   S: xa --/                                          C (198.18.20.2, .21.2)
#      xb --\                                          /
#            RB (198.18.11.1) ---- rb1 198.18.21.1 ---/
#
#   vs pa: 198.18.10.5/24 + 198.18.12.5/24 on xa, gateway 198.18.10.1 (RA)
#   vs pb: 198.18.11.5/24 + 2001:db8:11::5/64 on xb, gateways on RB
#   C reaches pa's subnets through RB, pb's through RA.
. "$(dirname "$0")/lib.sh"

# The daemon under test: coop with echo, whoami and "notify", which answers
# a datagram "PORT" with an unsolicited one (coop_vs_udp_sendto) from the
# VS's udp:9 socket to the sender's address, port PORT.
cat >"$T/udpapp.c" <<'C'
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/coop.h"
#include "vs/coop_udp.h"

static void notify(struct coop_dgram *dg, const void *data, size_t len)
{
	struct sockaddr_storage to;
	socklen_t tl;
	char msg[96], num[8];
	struct coop_vs *vs = coop_dgram_vs(dg);
	const struct sockaddr *peer = coop_dgram_peer(dg, &tl);
	struct coop_vs_udp_stats st;
	int ret;

	snprintf(num, sizeof(num), "%.*s", (int)(len < 7 ? len : 7), (const char *)data);
	memcpy(&to, peer, tl);
	if (to.ss_family == AF_INET)
		((struct sockaddr_in *)&to)->sin_port = htons((unsigned short)atoi(num));
	else
		((struct sockaddr_in6 *)&to)->sin6_port = htons((unsigned short)atoi(num));
	coop_vs_udp_stats_get(vs, &st);
	snprintf(msg, sizeof(msg), "hello from %s after %llu", coop_vs_name(vs),
		 (unsigned long long)st.dgrams_in);
	ret = coop_vs_udp_sendto(vs, 9, (struct sockaddr *)&to, tl, msg, strlen(msg));
	if (ret < 0)
		coop_dgram_drop(dg);
}

static const struct coop_service notify_svc = { .name = "notify", .on_datagram = notify };

int main(int argc, char **argv)
{
	char err[512];
	struct coop *c;

	if (argc != 3 || strcmp(argv[1], "-c"))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	c = coop_new();
	if (!c || coop_service_register(c, &coop_service_whoami) < 0 ||
	    coop_service_register(c, &coop_service_echo) < 0 ||
	    coop_service_register(c, &notify_svc) < 0)
		return 1;
	if (coop_configure(c, argv[2], err, sizeof(err)) < 0 ||
	    coop_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "udpapp: %s\n", err);
		return 1;
	}
	coop_run(c);
	coop_free(c);
	return 0;
}
C
build_app udpapp
COOPD="$T/udpapp"

two_routers
nsx "$RA" ip addr add 198.18.12.1/24 dev ra0
nsx "$RA" ip route add 198.18.21.0/24 via 198.18.20.2
nsx "$RA" ip route add 198.18.11.0/24 via 198.18.10.5
nsx "$RB" ip route add 198.18.20.0/24 via 198.18.21.2
nsx "$RB" ip route add 198.18.10.0/24 via 198.18.11.5
nsx "$RB" ip route add 198.18.12.0/24 via 198.18.11.5
# IPv6: S has an address of its own (no VS's) on xa, as RA's next hop.
nsx "$S" ip -6 addr add 2001:db8:10::2/64 dev "${P}xa" nodad
nsx "$RA" ip -6 addr add 2001:db8:10::1/64 dev ra0 nodad
nsx "$RA" ip -6 addr add 2001:db8:20::1/64 dev ra1 nodad
nsx "$RA" ip -6 route add 2001:db8:11::/64 via 2001:db8:10::2
nsx "$RB" ip -6 addr add 2001:db8:11::1/64 dev rb0 nodad
nsx "$RB" ip -6 addr add 2001:db8:21::1/64 dev rb1 nodad
nsx "$RB" ip -6 route add 2001:db8:20::/64 via 2001:db8:21::2
nsx "$C" ip -6 addr add 2001:db8:20::2/64 dev ca nodad
nsx "$C" ip -6 addr add 2001:db8:21::2/64 dev cb nodad
# Requests go the "wrong" way round...
nsx "$C" ip route add 198.18.10.0/24 via 198.18.21.1
nsx "$C" ip route add 198.18.12.0/24 via 198.18.21.1
nsx "$C" ip route add 198.18.11.0/24 via 198.18.20.1
nsx "$C" ip -6 route add 2001:db8:11::/64 via 2001:db8:20::1
# ...and each router refuses to carry the other VS's replies.
nsx "$RB" ip rule add pref 100 from 198.18.10.0/24 iif rb0 prohibit
nsx "$RB" ip rule add pref 101 from 198.18.12.0/24 iif rb0 prohibit
nsx "$RA" ip rule add pref 100 from 198.18.11.0/24 iif ra0 prohibit
nsx "$RA" ip -6 rule add pref 100 from 2001:db8:11::/64 iif ra0 prohibit

cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs pa]
isolation = pbr
namespace = $S
interface = ${P}xa
addresses = 198.18.10.5/24, 198.18.12.5/24
gateway = 198.18.10.1
listen = udp:7 echo, udp:8 whoami, udp:9 notify

[vs pb]
isolation = pbr
namespace = $S
interface = ${P}xb
addresses = 198.18.11.5/24, 2001:db8:11::5/64
gateway = 198.18.11.1, 2001:db8:11::1
listen = udp:7 echo, udp:8 whoami
INI

start_coopd "$T/coop.ini"

# whoami: one namespace, one port, each address answered by its VS.
[ "$(udp "$C" 198.18.10.5 8 x)" = pa ] || fail "198.18.10.5 udp:8 is not pa"
[ "$(udp "$C" 198.18.12.5 8 x)" = pa ] || fail "198.18.12.5 udp:8 is not pa"
[ "$(udp "$C" 198.18.11.5 8 x)" = pb ] || fail "198.18.11.5 udp:8 is not pb"
[ "$(udp "$C" '[2001:db8:11::5]' 8 x)" = pb ] || fail "2001:db8:11::5 udp:8 is not pb"
ok "whoami: pbr VSes sharing a namespace and a port each answer for themselves"

# echo: from the address the client sent to, through the VS's gateway (the
# only router that carries it back).
for dst in 198.18.10.5 198.18.12.5 198.18.11.5 '[2001:db8:11::5]'; do
	for i in 1 2 3; do
		got=$(udp "$C" "$dst" 7 "ping-$i-$dst")
		[ "$got" = "ping-$i-$dst" ] || fail "echo via $dst: got '$got'"
		[ "$(udp_from)" = "$(sockname "$dst" 7)" ] ||
			fail "echo via $dst: reply came from $(udp_from)"
	done
done
ok "echo: every reply from the address sent to, back through the VS's own gateway"

# Unsolicited: called on its second address, pa sends from its first,
# through its gateway too; the message carries pa's datagram count so far
# (2 whoami + 6 echo + this one).
nsx "$C" timeout 5 socat -d -d -u UDP-RECVFROM:9999 - >"$T/notify.out" 2>"$T/notify.log" &
rpid=$!
PIDS+=("$rpid")
sleep 0.3
printf 9999 | nsx "$C" socat -u - UDP-SENDTO:198.18.12.5:9 || fail "send to notify"
wait "$rpid"
grep -q "^hello from pa after 9$" "$T/notify.out" || fail "notify: got '$(cat "$T/notify.out")'"
grep -q "received packet with .* from AF=2 198.18.10.5:9$" "$T/notify.log" ||
	fail "notify: not from 198.18.10.5:9: $(grep received "$T/notify.log")"
ok "coop_vs_udp_sendto: from the VS's first address and its udp:9 port, through its gateway"

# The way back is the VS's mark: the shared namespace has no default route,
# and the routers' refusals are counted where the kernel saw them.
nsx "$S" ip route show default | grep -q . && fail "the shared namespace has a default route"
"$COOPCTL" -s "$T/admin.sock" --json show vs pa >"$T/pa.json" || fail "show vs pa"
"$COOPCTL" -s "$T/admin.sock" --json show vs pb >"$T/pb.json" || fail "show vs pb"
[ "$(jq -r '.udp.dgrams_in' "$T/pa.json")" -eq 9 ] || fail "pa dgrams_in"
[ "$(jq -r '.udp.dgrams_out' "$T/pa.json")" -eq 9 ] || fail "pa dgrams_out (8 replies + 1 sendto)"
[ "$(jq -r '.udp.dgrams_in' "$T/pb.json")" -eq 8 ] || fail "pb dgrams_in"
[ "$(jq -r '.udp.drops.send' "$T/pb.json")" -eq 0 ] || fail "pb send drops"
"$COOPCTL" -s "$T/admin.sock" --json show stats >"$T/stats.json" || fail "show stats"
[ "$(jq -r '.udp.groups' "$T/stats.json")" -eq 3 ] || fail "groups: expected 3 (one namespace x 3 ports)"
ok "counters: both VSes in the same groups"

stop_coopd
ok "stop: clean exit"
