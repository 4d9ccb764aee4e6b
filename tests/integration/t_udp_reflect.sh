#!/usr/bin/env bash
# UDP services must not be turned into reflectors or loops by forged
# sources. Two pbr VSes share one namespace and its echo ports (udp:7 and
# udp:7777, one socket group each):
#
# - one datagram forged from a client namespace with pa's address and echo
#   port as source, sent to pb's echo port (IPv6: the kernel takes a packet
#   from one of its own addresses), would have pb and pa echo each other
#   forever; pb drops it (a service's port: reserved, or the port echo
#   listens on), so the counters stay put over the next second;
# - a datagram from port 7 to echo or whoami gets no answer and counts as
#   dropped by the service;
# - a flood well above the VS's reply rate (5,000/s, bursts of 1,000) is cut
#   to that rate: the client sees what the rate allows, the rest is counted
#   (udp.drops.rate, and in /metrics).
#
#   S: xa pa 198.18.10.5, 2001:db8:10::5 -- RA -- C
#      xb pb 198.18.11.5, 2001:db8:11::5 -- RB -- C
. "$(dirname "$0")/lib.sh"

# udpflood: COUNT datagrams "ping" from SRC:SPORT to DST:DPORT at RATE a
# second, reading replies all along and for WAIT_MS of quiet after; prints
# "replies=R send_ms=S last_ms=L" (L: first send to last reply). -x forges
# the source (IP_TRANSPARENT: SRC need not be ours).
cat >"$T/udpflood.c" <<'C'
#include "test_addr.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int forge = argc > 1 && !strcmp(argv[1], "-x"), fd, one = 1, big = 8 << 20;
	struct sockaddr_storage src, dst;
	uint64_t t0, t_send, t_last, quiet, due;
	long count, rate, sent = 0, replies = 0;
	char buf[2048];
	socklen_t sl, dl;

	argv += forge;
	argc -= forge;
	if (argc != 8) {
		fprintf(stderr, "usage: udpflood [-x] SRC SPORT DST DPORT COUNT RATE WAIT_MS\n");
		return 2;
	}
	sl = mkaddr(&src, argv[1], atoi(argv[2]));
	dl = mkaddr(&dst, argv[3], atoi(argv[4]));
	count = atol(argv[5]);
	rate = atol(argv[6]);
	quiet = (uint64_t)atol(argv[7]) * 1000000u;
	fd = socket(src.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return perror("socket"), 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (forge && (src.ss_family == AF_INET
			  ? setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one))
			  : setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))))
		return perror("transparent"), 1;
	if (bind(fd, (struct sockaddr *)&src, sl) < 0)
		return perror("bind"), 1;
	t0 = t_send = t_last = now_ns();
	for (;;) {
		uint64_t t = now_ns();
		struct pollfd p = {.fd = fd, .events = POLLIN};

		due = sent < count ? (uint64_t)((t - t0) * (double)rate / 1e9) + 1 : 0;
		while (sent < count && (uint64_t)sent < due) {
			if (sendto(fd, "ping", 4, 0, (struct sockaddr *)&dst, dl) < 0)
				break; /* a full buffer: the next round goes on */
			sent++;
			t_send = now_ns();
		}
		while (recv(fd, buf, sizeof(buf), 0) > 0) {
			replies++;
			t_last = now_ns();
		}
		if (sent == count && now_ns() - (t_last > t_send ? t_last : t_send) > quiet)
			break;
		poll(&p, 1, 1);
	}
	printf("replies=%ld send_ms=%llu last_ms=%llu\n", replies,
	       (unsigned long long)((t_send - t0) / 1000000),
	       (unsigned long long)((t_last > t0 ? t_last - t0 : 0) / 1000000));
	return 0;
}
C
cc -O2 -Wall -D_GNU_SOURCE -I"$top/tests/integration" -o "$T/udpflood" "$T/udpflood.c" || fail "udpflood does not build"

two_routers
nsx "$RA" ip -6 addr add 2001:db8:10::1/64 dev ra0 nodad
nsx "$RA" ip -6 addr add 2001:db8:20::1/64 dev ra1 nodad
nsx "$RB" ip -6 addr add 2001:db8:11::1/64 dev rb0 nodad
nsx "$RB" ip -6 addr add 2001:db8:21::1/64 dev rb1 nodad
nsx "$C" ip -6 addr add 2001:db8:20::2/64 dev ca nodad
nsx "$C" ip -6 addr add 2001:db8:21::2/64 dev cb nodad
nsx "$C" ip route add 198.18.10.0/24 via 198.18.20.1
nsx "$C" ip route add 198.18.11.0/24 via 198.18.21.1
nsx "$C" ip -6 route add 2001:db8:10::/64 via 2001:db8:20::1
nsx "$C" ip -6 route add 2001:db8:11::/64 via 2001:db8:21::1

mport=$((20000 + ($$ + 7) % 20000))
cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock
metrics_listen = 127.0.0.1:$mport

[vs pa]
isolation = pbr
namespace = $S
interface = ${P}xa
addresses = 198.18.10.5/24, 2001:db8:10::5/64
gateway = 198.18.10.1, 2001:db8:10::1
listen = udp:7 echo, udp:8 whoami, udp:7777 echo

[vs pb]
isolation = pbr
namespace = $S
interface = ${P}xb
addresses = 198.18.11.5/24, 2001:db8:11::5/64
gateway = 198.18.11.1, 2001:db8:11::1
listen = udp:7 echo, udp:8 whoami, udp:7777 echo
INI
"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected"
start_coopd "$T/coop.ini"

ctl() { "$COOPCTL" -s "$T/admin.sock" "$@"; }
ucount() { ctl --json show vs "$1" | jq -r ".udp.$2"; }
# traffic : pa's and pb's datagrams in and out, one line
traffic() {
	echo "pa $(ucount pa dgrams_in)/$(ucount pa dgrams_out) pb $(ucount pb dgrams_in)/$(ucount pb dgrams_out)"
}
flood() { nsx "$C" timeout 30 "$T/udpflood" "$@"; }
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# Both VSes answer an honest client, on both ports and families.
for a in 198.18.10.5 198.18.11.5 '[2001:db8:10::5]' '[2001:db8:11::5]'; do
	for port in 7 7777; do
		[ "$(udp "$C" "$a" $port hello)" = hello ] || fail "echo $a:$port does not answer"
	done
done
[ "$(udp "$C" 198.18.10.5 8 x)" = pa ] || fail "whoami pa"

# --- one forged datagram, two echo VSes ----------------------------------------
for port in 7 7777; do
	before=$(traffic)
	sd0=$(ucount pb drops.service)
	out=$(flood -x 2001:db8:10::5 $port 2001:db8:11::5 $port 1 1 100) ||
		fail "forged datagram to port $port: $out"
	sleep 1
	at1=$(traffic)
	sleep 1
	at2=$(traffic)
	[ "$at1" = "$at2" ] ||
		fail "port $port: a forged datagram started an exchange: $before, then $at1, then $at2"
	[ "$(ucount pb drops.service)" -eq $((sd0 + 1)) ] ||
		fail "port $port: pb did not drop the forged datagram ($before -> $at2)"
	# pb took it in, answered nothing, and pa never heard of it.
	set -- $before
	b_pa=$2 b_pb=$4
	set -- $at2
	[ "$2" = "$b_pa" ] || fail "port $port: pa's traffic moved: $b_pa -> $2"
	[ "${4#*/}" = "${b_pb#*/}" ] || fail "port $port: pb answered: $b_pb -> $4"
done
ok "a datagram forged from pa's echo port to pb's (ports 7 and 7777): dropped by pb, no exchange, counters still after 1 s"

# --- from a service's port to echo and whoami --------------------------------------------
sd0=$(ucount pa drops.service)
out=$(flood 198.18.20.2 7 198.18.10.5 7 1 1 500)
[ "$(field "$out" replies)" = 0 ] || fail "echo answered port 7: $out"
out=$(flood 198.18.20.2 7 198.18.10.5 8 1 1 500)
[ "$(field "$out" replies)" = 0 ] || fail "whoami answered port 7: $out"
out=$(flood 2001:db8:20::2 19 2001:db8:10::5 7777 1 1 500)
[ "$(field "$out" replies)" = 0 ] || fail "echo on 7777 answered port 19 (chargen): $out"
[ "$(ucount pa drops.service)" -eq $((sd0 + 3)) ] ||
	fail "pa drops.service $sd0 -> $(ucount pa drops.service), expected +3"
out=$(flood 198.18.20.2 40007 198.18.10.5 7 1 1 500)
[ "$(field "$out" replies)" = 1 ] || fail "echo did not answer an unprivileged port: $out"
ok "datagrams from port 7 (echo, whoami) and 19 (echo on 7777) dropped and counted as the service's"

# --- a flood above the reply rate ----------------------------------------------------------
RATE=5000 BURST=1000 N=15000
in0=$(ucount pa dgrams_in)
out0=$(ucount pa dgrams_out)
r0=$(ucount pa drops.rate)
out=$(flood 198.18.20.2 40008 198.18.10.5 7777 $N 15000 300)
replies=$(field "$out" replies)
send_ms=$(field "$out" send_ms)
last_ms=$(field "$out" last_ms)
din=$(($(ucount pa dgrams_in) - in0))
dout=$(($(ucount pa dgrams_out) - out0))
drate=$(($(ucount pa drops.rate) - r0))
# At most a burst and the rate over the time replies came (5% and a few
# replies of slack for clock edges); at least 80% of what the rate allows
# over the sending time (coop must cut to the rate, not below it).
max=$((BURST + RATE * last_ms / 1000 * 105 / 100 + 10))
min=$(((BURST + RATE * send_ms / 1000) * 80 / 100))
[ "$replies" -le "$max" ] || fail "flood: $replies replies in $last_ms ms, the rate allows $max ($out)"
[ "$replies" -ge "$min" ] || fail "flood: only $replies replies in $send_ms ms, expected >= $min ($out)"
[ "$dout" -eq "$replies" ] || fail "flood: pa sent $dout, the client got $replies"
[ "$drate" -gt 0 ] && [ "$drate" -ge $((din - max)) ] ||
	fail "flood: $din in, only $drate replies dropped for the rate ($out)"
[ $((dout + drate)) -eq "$din" ] || fail "flood: $din in, $dout out, $drate dropped for the rate"
curl -s -m 5 "http://127.0.0.1:$mport/metrics" >"$T/metrics" || fail "curl /metrics"
grep -q "^coop_vs_udp_drops_total{vs=\"pa\",reason=\"rate\"} $((r0 + drate))\$" "$T/metrics" ||
	fail "metrics: no rate drops for pa: $(grep 'coop_vs_udp_drops_total{vs="pa"' "$T/metrics")"
# pb has a budget of its own.
[ "$(udp "$C" 198.18.11.5 7777 still)" = still ] || fail "pb stopped answering during pa's flood"
ok "a flood of $N datagrams at 15,000/s: $replies replies in $last_ms ms (rate $RATE/s, burst $BURST), $drate counted as rate drops"

stop_coopd
ok "stop: clean exit"
