#!/usr/bin/env bash
# pbr VSes in one shared namespace, each leaving through its own router:
# accepted connections, outbound connections (coop_vs_tcp_connect) and the
# kernel's RSTs for closed ports are captured on the routers' links with
# the right source, including for a VS with two addresses in two subnets.
# Then SIGKILL and restart (no duplicate, missing or leftover state; a VS
# dropped from the file is cleaned up) and stop (nothing of coop's left, a
# foreign rule and route untouched).
#
#            RA (198.18.10.1) ---- ra1 198.18.20.1 ---\
#   S: xa --/                                          C (198.18.20.2, .21.2)
#      xb --\                                          /
#            RB (198.18.11.1, .12.1) -- rb1 .21.1 ----/
#
#   vs two: 198.18.10.5/24@xa, 198.18.11.5/24@xb, gateway 198.18.10.1 (RA)
#   vs one: 198.18.12.5/24, 2001:db8:12::5/64 on xb, gateways on RB
. "$(dirname "$0")/lib.sh"

# --- the test application: coop with a "dial" service, and a sniffer ------
cat >"$T/pbrapp.c" <<'C'
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/coop.h"

/* dial: the client sends "ADDR PORT\n"; the VS connects there and relays
 * what the upstream says back to the client. */
struct dial { struct coop_conn *client; char line[128]; size_t len; };

static void up_read(struct coop_conn *up, const void *data, size_t len)
{
	struct coop_conn *client = coop_conn_data(up);

	if (client)
		coop_conn_write(client, data, len);
}

static void up_close(struct coop_conn *up)
{
	struct coop_conn *client = coop_conn_data(up);

	if (client) {
		coop_conn_set_data(client, NULL);
		coop_conn_close(client);
	}
}

static const struct coop_service upstream = {
	.name = "upstream", .on_read = up_read, .on_close = up_close,
};

static void connected(struct coop_conn *up, int err, void *arg)
{
	struct coop_conn *client = arg;
	char msg[64];

	if (err) {
		snprintf(msg, sizeof(msg), "error %s\n", strerror(-err));
		coop_conn_write(client, msg, strlen(msg));
		coop_conn_close(client);
		return;
	}
	coop_conn_set_data(up, client);
	coop_conn_set_data(client, up);
}

static void dial_read(struct coop_conn *c, const void *data, size_t len)
{
	struct sockaddr_storage ss;
	char host[64];
	unsigned port;
	socklen_t sl;
	int ret;

	if (coop_conn_data(c))
		return;
	if (sscanf(data, "%63s %u", host, &port) != 2)
		return;
	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, host, &s6->sin6_addr);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, host, &s4->sin_addr);
		sl = sizeof(*s4);
	}
	(void)len;
	ret = coop_vs_tcp_connect(coop_conn_vs(c), (struct sockaddr *)&ss, sl, &upstream,
				  connected, c);
	if (ret < 0) {
		char msg[64];

		snprintf(msg, sizeof(msg), "error %s\n", strerror(-ret));
		coop_conn_write(c, msg, strlen(msg));
		coop_conn_close(c);
	}
}

static void dial_close(struct coop_conn *c)
{
	struct coop_conn *up = coop_conn_data(c);

	if (up) {
		coop_conn_set_data(up, NULL);
		coop_conn_close(up);
	}
}

static const struct coop_service dial = {
	.name = "dial", .on_read = dial_read, .on_close = dial_close,
};

/* sniff IFNAME: one line per IPv4/IPv6 packet on the link, "in" when it
 * arrived (from the shared namespace), "out" when the router sent it:
 * "in|out SRC DST PROTO FLAGS" (TCP flags as letters). */
static int sniff(const char *ifname)
{
	int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = (int)if_nametoindex(ifname) };
	unsigned char buf[2048];

	if (fd < 0 || !sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("sniff");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], fl_s[8] = "";
		const unsigned char *l4;
		int proto;

		const char *dir = from.sll_pkttype == PACKET_OUTGOING ? "out" : "in";

		if (n <= 0)
			continue;
		if (ntohs(from.sll_protocol) == ETH_P_IP && n >= 20) {
			const struct iphdr *ip = (const void *)buf;

			inet_ntop(AF_INET, &ip->saddr, s, sizeof(s));
			inet_ntop(AF_INET, &ip->daddr, d, sizeof(d));
			proto = ip->protocol;
			l4 = buf + ip->ihl * 4;
		} else if (ntohs(from.sll_protocol) == ETH_P_IPV6 && n >= 40) {
			const struct ip6_hdr *ip6 = (const void *)buf;

			inet_ntop(AF_INET6, &ip6->ip6_src, s, sizeof(s));
			inet_ntop(AF_INET6, &ip6->ip6_dst, d, sizeof(d));
			proto = ip6->ip6_nxt;
			l4 = buf + 40;
		} else {
			continue;
		}
		if (proto == IPPROTO_TCP && l4 + 14 <= buf + n) {
			const struct tcphdr *t = (const void *)l4;
			char *f = fl_s;

			if (t->syn) *f++ = 'S';
			if (t->ack) *f++ = 'A';
			if (t->rst) *f++ = 'R';
			if (t->fin) *f++ = 'F';
			*f = '\0';
			printf("%s %s %s tcp %s\n", dir, s, d, fl_s);
		} else {
			printf("%s %s %s %d\n", dir, s, d, proto);
		}
	}
}

/* nft-table: exit 0 if coop's nftables table exists in this namespace. */
static int nft_table(void)
{
	struct {
		struct nlmsghdr h;
		struct nfgenmsg g;
		struct nlattr a;
		char name[12];
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		       .nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, .nlmsg_seq = 1 },
		.g = { .nfgen_family = 1 /* inet */, .version = NFNETLINK_V0 },
		.a = { .nla_len = NLA_HDRLEN + 9, .nla_type = NFTA_TABLE_NAME },
		.name = "coop_pbr",
	};
	char buf[8192];
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
	ssize_t n;

	if (fd < 0 || send(fd, &req, sizeof(req), 0) < 0)
		return 2;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		struct nlmsghdr *h = (void *)buf;

		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n))
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error ? 1 : 0;
	}
	return 2;
}

int main(int argc, char **argv)
{
	char err[512];
	struct coop *c;

	if (argc == 3 && !strcmp(argv[1], "sniff"))
		return sniff(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "nft-table"))
		return nft_table();
	if (argc != 3 || strcmp(argv[1], "-c"))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	c = coop_new();
	if (!c || coop_service_register(c, &coop_service_whoami) < 0 ||
	    coop_service_register(c, &coop_service_echo) < 0 ||
	    coop_service_register(c, &dial) < 0)
		return 1;
	if (coop_configure(c, argv[2], err, sizeof(err)) < 0 ||
	    coop_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "pbrapp: %s\n", err);
		return 1;
	}
	coop_run(c);
	coop_free(c);
	return 0;
}
C
build_app pbrapp
COOPD="$T/pbrapp"

# --- topology -----------------------------------------------------------------
two_routers
nsx "$RA" ip route add 198.18.21.0/24 via 198.18.20.2
nsx "$RB" ip addr add 198.18.12.1/24 dev rb0
nsx "$RB" ip route add 198.18.20.0/24 via 198.18.21.2
nsx "$RB" ip -6 addr add 2001:db8:12::1/64 dev rb0 nodad
nsx "$RB" ip -6 addr add 2001:db8:21::1/64 dev rb1 nodad
nsx "$C" ip -6 addr add 2001:db8:21::2/64 dev cb nodad
nsx "$C" ip route add 198.18.10.0/24 via 198.18.20.1
nsx "$C" ip route add 198.18.11.0/24 via 198.18.21.1
nsx "$C" ip route add 198.18.12.0/24 via 198.18.21.1
nsx "$C" ip -6 route add 2001:db8:12::/64 via 2001:db8:21::1
# The host's own address on the shared link, and a foreign rule and route:
# coop must never touch them. (With no address of its own on the link, the
# kernel would drop the route when coop removes the link's last IPv4
# address; coop warns about that case.) The shared namespace has no default
# route: anything a VS sent by the main table would fail.
nsx "$S" ip addr add 198.18.10.250/24 dev "${P}xa" noprefixroute
nsx "$S" ip rule add pref 20100 fwmark 0x77 lookup 777
nsx "$S" ip route add 198.18.99.0/24 via 198.18.10.1 dev "${P}xa" onlink table 777

config() { # config FILE with_one
	cat >"$1" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs two]
isolation = pbr
namespace = $S
addresses = 198.18.10.5/24@${P}xa, 198.18.11.5/24@${P}xb
gateway = 198.18.10.1
listen = tcp:8 whoami, tcp:9000 dial
INI
	[ "$2" = yes ] && cat >>"$1" <<INI

[vs one]
isolation = pbr
namespace = $S
interface = ${P}xb
addresses = 198.18.12.5/24, 2001:db8:12::5/64
gateway = 198.18.12.1, 2001:db8:12::1
listen = tcp:8 whoami, tcp:9000 dial
INI
	return 0
}
config "$T/pbr.ini" yes

# --- captures -------------------------------------------------------------------
# capture NAME CMD... : run CMD while both routers capture what reaches them
# from the shared namespace; leaves $T/NAME.ra and $T/NAME.rb.
capture() {
	local name=$1 pa pb
	shift
	# nsenter itself, not the nsx function: $! must be the sniffer (nsenter
	# execs it) for kill and the cleanup to reach it.
	nsenter --net="/run/netns/$RA" "$T/pbrapp" sniff ra0 >"$T/$name.ra" 2>&1 &
	pa=$!
	PIDS+=("$pa")
	nsenter --net="/run/netns/$RB" "$T/pbrapp" sniff rb0 >"$T/$name.rb" 2>&1 &
	pb=$!
	PIDS+=("$pb")
	sleep 0.3
	"$@" >"$T/$name.out" 2>&1
	sleep 0.3
	kill "$pa" "$pb"
	wait "$pa" "$pb" 2>/dev/null
	return 0
}
# seen NAME ROUTER PATTERN : the router saw a packet matching PATTERN
seen() { grep -Eq "$3" "$T/$1.$2"; }

start_coopd "$T/pbr.ini"

# Accepted connections: each answer leaves through the VS's gateway with the
# address the client connected to as its source.
capture acc11 tcp "$C" 198.18.11.5 8
[ "$(cat "$T/acc11.out")" = two ] || fail "whoami on 198.18.11.5: '$(cat "$T/acc11.out")'"
seen acc11 ra '^in 198\.18\.11\.5 198\.18\.21\.2 tcp SA' || fail "SYN-ACK of 198.18.11.5 not seen at RA"
seen acc11 rb '^in 198\.18\.11\.5 ' && fail "198.18.11.5 answered through RB (not its gateway)"
seen acc11 rb '^out 198\.18\.21\.2 198\.18\.11\.5 tcp S$' || fail "the SYN did not arrive through RB"
ok "two-subnet VS: a connection in through RB to 198.18.11.5 is answered through its gateway RA from 198.18.11.5"

capture acc10 tcp "$C" 198.18.10.5 8
[ "$(cat "$T/acc10.out")" = two ] || fail "whoami on 198.18.10.5"
seen acc10 ra '^in 198\.18\.10\.5 198\.18\.20\.2 tcp SA' || fail "SYN-ACK of 198.18.10.5 not seen at RA"
ok "two-subnet VS: 198.18.10.5 answers through RA from 198.18.10.5"

capture acc12 tcp "$C" 198.18.12.5 8
[ "$(cat "$T/acc12.out")" = one ] || fail "whoami on 198.18.12.5: '$(cat "$T/acc12.out")'"
seen acc12 rb '^in 198\.18\.12\.5 198\.18\.21\.2 tcp SA' || fail "SYN-ACK of 198.18.12.5 not seen at RB"
seen acc12 ra '^in 198\.18\.12\.5 ' && fail "198.18.12.5 answered through RA"
ok "VS one: answered through its gateway RB from 198.18.12.5"

capture acc6 tcp "$C" "[2001:db8:12::5]" 8
[ "$(cat "$T/acc6.out")" = one ] || fail "whoami on 2001:db8:12::5: '$(cat "$T/acc6.out")'"
seen acc6 rb '^in 2001:db8:12::5 2001:db8:21::2 tcp SA' || fail "IPv6 SYN-ACK not seen at RB"
ok "VS one over IPv6: answered through RB from 2001:db8:12::5"

# Outbound: from inside each VS to a server in C that reports the source it
# saw. The server listens on both of C's addresses.
nsenter --net="/run/netns/$C" socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
PIDS+=($!)
nsenter --net="/run/netns/$C" socat TCP6-LISTEN:7000,ipv6only=1,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
PIDS+=($!)
sleep 0.3
# dial NS VS_ADDR TARGET PORT : ask the VS's dial service to connect to
# TARGET:PORT; keep the request side open until the answer is relayed (a
# half-close would end the relay before the upstream speaks).
dial() {
	(echo "$3 $4"; sleep 2) | nsx "$1" timeout 10 socat -t 3 - "TCP:$2:9000,connect-timeout=3"
}
capture out2 dial "$C" 198.18.10.5 198.18.21.2 7000
[ "$(cat "$T/out2.out")" = 198.18.10.5 ] || fail "outbound from two: server saw '$(cat "$T/out2.out")'"
seen out2 ra '^in 198\.18\.10\.5 198\.18\.21\.2 tcp S$' || fail "outbound SYN of two not seen at RA"
seen out2 rb '^in 198\.18\.10\.5 ' && fail "outbound of two went through RB"
ok "outbound from two (coop_vs_tcp_connect) leaves through RA from 198.18.10.5"

# Into its second subnet, the two-subnet VS connects from its address
# there, straight out of that link (the connected route of its table).
nsenter --net="/run/netns/$RB" socat TCP-LISTEN:7000,bind=198.18.11.1,fork,reuseaddr \
	SYSTEM:'echo $SOCAT_PEERADDR' &
PIDS+=($!)
sleep 0.2
capture out2b dial "$C" 198.18.10.5 198.18.11.1 7000
[ "$(cat "$T/out2b.out")" = 198.18.11.5 ] || fail "two into 198.18.11.0/24: server saw '$(cat "$T/out2b.out")'"
seen out2b rb '^in 198\.18\.11\.5 198\.18\.11\.1 tcp S$' || fail "two's SYN into its second subnet not on xb"
ok "two-subnet VS connects into 198.18.11.0/24 from 198.18.11.5, straight out of its link there"

capture out1 dial "$C" 198.18.12.5 198.18.20.2 7000
[ "$(cat "$T/out1.out")" = 198.18.12.5 ] || fail "outbound from one: server saw '$(cat "$T/out1.out")'"
seen out1 rb '^in 198\.18\.12\.5 198\.18\.20\.2 tcp S$' || fail "outbound SYN of one not seen at RB"
seen out1 ra '^in 198\.18\.12\.5 ' && fail "outbound of one went through RA"
ok "outbound from one leaves through RB from 198.18.12.5"

capture out6 dial "$C" 198.18.12.5 2001:db8:21::2 7000
grep -Eq '2001:db8:12::5|2001:0db8:0012:0000:0000:0000:0000:0005' "$T/out6.out" || fail "IPv6 outbound from one: server saw '$(cat "$T/out6.out")'"
seen out6 rb '^in 2001:db8:12::5 2001:db8:21::2 tcp S$' || fail "IPv6 outbound SYN not seen at RB"
ok "IPv6 outbound from one leaves through RB from 2001:db8:12::5"

# RSTs the kernel sends for closed ports: marked on the way in by
# destination, reflected, routed by the VS table.
rst() { # rst NAME HOST
	capture "$1" tcp "$C" "$2" 4444
	grep -qi refused "$T/$1.out" || fail "$2:4444 was not refused: $(cat "$T/$1.out")"
}
rst rst11 198.18.11.5
seen rst11 ra '^in 198\.18\.11\.5 198\.18\.21\.2 tcp A?R' ||
	fail "RST from 198.18.11.5 not seen at RA"
seen rst11 rb '^in 198\.18\.11\.5 ' && fail "RST from 198.18.11.5 went through RB"
rst rst12 198.18.12.5
seen rst12 rb '^in 198\.18\.12\.5 198\.18\.21\.2 tcp A?R' || fail "RST from 198.18.12.5 not seen at RB"
seen rst12 ra '^in 198\.18\.12\.5 ' && fail "RST from 198.18.12.5 went through RA"
rst rst6 "[2001:db8:12::5]"
seen rst6 rb '^in 2001:db8:12::5 2001:db8:21::2 tcp A?R' || fail "IPv6 RST not seen at RB"
ok "RSTs for closed ports leave through each VS's gateway with its own source (v4, v6, both subnets)"

# The admin socket reports what each VS got, and the kernel agrees.
json=$("$COOPCTL" -s "$T/admin.sock" --json show vs one) || fail "coopctl show vs one"
mark=$(echo "$json" | grep -o '"mark": *[0-9]*' | grep -o '[0-9]*$')
table=$(echo "$json" | grep -o '"table": *[0-9]*' | grep -o '[0-9]*$')
echo "$json" | grep -q '"isolation": *"pbr"' || fail "isolation not reported: $json"
[ "${mark:-0}" -gt 0 ] && [ "${table:-0}" -gt 0 ] || fail "mark/table not reported: $json"
nsx "$S" ip rule show | grep -q "fwmark $(printf '%#x' "$mark") lookup $table proto 246" ||
	fail "no rule for mark $mark -> table $table"
nsx "$S" ip -6 rule show | grep -q "fwmark $(printf '%#x' "$mark") lookup $table proto 246" ||
	fail "no IPv6 rule for one"
ok "coopctl show vs one: isolation pbr, mark $(printf '%#x' "$mark"), table $table, as in the kernel's rules"

# --- crash safety -----------------------------------------------------------------
# state: everything coop-tagged in S, one line per object, sorted
state() {
	{
		nsx "$S" ip -4 rule show | grep 'proto 246' | sed 's/^/rule4 /'
		nsx "$S" ip -6 rule show | grep 'proto 246' | sed 's/^/rule6 /'
		nsx "$S" ip -4 route show table all proto 246 | sed 's/^/route4 /'
		nsx "$S" ip -6 route show table all proto 246 | sed 's/^/route6 /'
		nsx "$S" ip -o addr show | awk '$4 ~ /^198\.18\.1[012]\.5\/|^2001:db8:12::5\// {print "addr", $2, $4}'
	} | sort
}
before=$(state)
[ "$(echo "$before" | grep -c '^addr')" -eq 4 ] || fail "expected 4 VS addresses: $before"
echo "$before" | grep -q '^route4 default via 198.18.10.1 ' || fail "no default route of two: $before"
nsx "$S" "$T/pbrapp" nft-table || fail "coop's nftables table is missing"
[ "$(nsx "$S" sysctl -n net.ipv4.fwmark_reflect)" = 1 ] || fail "fwmark_reflect not set"

kill -KILL "$COOPD_PID"
wait "$COOPD_PID" 2>/dev/null
[ "$(state)" = "$before" ] || fail "state changed by SIGKILL alone"
start_coopd "$T/pbr.ini"
after=$(state)
[ "$after" = "$before" ] || fail "after restart: $(diff <(echo "$before") <(echo "$after"))"
[ "$(echo "$after" | sort | uniq -d)" = "" ] || fail "duplicates after restart"
grep -Eq 'kept [0-9]+, 0 added, 0 removed|[0-9]+ kernel objects kept, 0 added, 0 removed' "$T/coopd.log" ||
	fail "restart did not adopt the leftovers as they were: $(grep 'pbr namespace' "$T/coopd.log")"
capture rst12b tcp "$C" 198.18.12.5 4444
seen rst12b rb '^in 198\.18\.12\.5 198\.18\.21\.2 tcp A?R' || fail "after restart: RST not through RB"
[ "$(tcp "$C" 198.18.11.5 8)" = two ] || fail "after restart: two does not answer"
ok "SIGKILL + restart: every rule, route and address adopted, none duplicated or missing; traffic as before"

kill -KILL "$COOPD_PID"
wait "$COOPD_PID" 2>/dev/null
config "$T/two.ini" no
start_coopd "$T/two.ini"
now=$(state)
echo "$now" | grep -Eq '198\.18\.12\.5|2001:db8:12::' && fail "leftovers of the dropped VS one remain: $now"
# No IPv6 VS left: the IPv6 tree keeps only its entry, the unreachable
# catch-all (a v4-only VS's IPv6 socket must not reach the main table) and
# the anchor.
echo "$now" | grep -q '^rule6.*lookup' && fail "IPv6 lookup rules left with no IPv6 VS: $now"
[ "$(echo "$now" | grep -c '^rule6')" -eq 3 ] || fail "IPv6 rules: $now"
[ "$(echo "$now" | grep -c '^addr')" -eq 2 ] || fail "two's addresses: $now"
[ "$(tcp "$C" 198.18.11.5 8)" = two ] || fail "two does not answer after the change"
ok "SIGKILL + restart without VS one: its leftovers removed, two's state adopted"

stop_coopd
[ -z "$(state)" ] || fail "coop state left after stop: $(state)"
nsx "$S" "$T/pbrapp" nft-table && fail "nftables table left after stop"
[ "$(nsx "$S" sysctl -n net.ipv4.fwmark_reflect)" = 0 ] || fail "fwmark_reflect not restored"
nsx "$S" ip rule show | grep -q '20100:.*fwmark 0x77 lookup 777' || fail "foreign rule removed"
nsx "$S" ip route show table 777 | grep -q 198.18.99.0/24 || fail "foreign route removed"
ok "stop: no rule, route, address, nftables table or sysctl of coop's left; foreign rule and route intact"
