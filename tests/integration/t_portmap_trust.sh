#!/usr/bin/env bash
# Who may change a VS's portmapper map: only a privileged process of the
# VS's own host - a loopback source with a reserved port, rpcbind's rule -
# or the application. Checked with real datagrams and connections:
#
# - a SET (version 2 and rpcbind version 4) forged from a client namespace
#   with the VS's own IPv6 address as source (IPv6 lets it in) is refused,
#   counted, and `rpcinfo -p` / `rpcinfo` do not show it;
# - inside the VS's namespace (netns) and in the namespace pbr VSes share,
#   an unprivileged user calling the VS's address from that very address,
#   or from loopback with a port >= 1024, is refused; a reserved port is
#   not enough without loopback; loopback with a reserved port is accepted
#   (IPv4 and IPv6, UDP and TCP);
# - a flood of SETs from a privileged local process fills at most 64
#   network mappings and is then refused (counted), while a reload still
#   adds the configuration's mappings.
. "$(dirname "$0")/lib.sh"

command -v rpcinfo >/dev/null || fail "rpcinfo (Debian package rpcbind) is needed"

# pmapc: one portmap SET or UNSET (version 2, or rpcbind version 4 with
# -v 4) over UDP (or TCP, -s) from SRC:SPORT to DST:DPORT; prints TRUE,
# FALSE or "noreply". -x forges the source (IP_TRANSPARENT: SRC need not
# be ours; no reply is awaited). -n N sends N SETs, program and port
# counting up, and prints how many were TRUE.
cat >"$T/pmapc.c" <<'C'
#include "test_addr.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t msg[512];
static size_t n;

static void w32(uint32_t v)
{
	v = htonl(v);
	memcpy(msg + n, &v, 4);
	n += 4;
}

static void wstr(const char *s)
{
	size_t l = strlen(s);

	w32((uint32_t)l);
	memcpy(msg + n, s, l);
	n += l;
	while (n % 4)
		msg[n++] = 0;
}

int main(int argc, char **argv)
{
	int forge = 0, tcp = 0, vers = 2, count = 1, o, fd, i, yes = 0, one = 1;
	struct sockaddr_storage src, dst;
	socklen_t sl, dl;
	uint8_t rep[512];

	while ((o = getopt(argc, argv, "xsv:n:")) != -1) {
		if (o == 'x')
			forge = 1;
		else if (o == 's')
			tcp = 1;
		else if (o == 'v')
			vers = atoi(optarg);
		else if (o == 'n')
			count = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 9) {
		fprintf(stderr, "usage: pmapc [-x] [-s] [-v 2|4] [-n N] SRC SPORT DST DPORT "
				"set|unset PROG VERS udp|tcp PORT\n");
		return 2;
	}
	char **a = argv + optind;
	int set = !strcmp(a[4], "set"), udp = !strcmp(a[7], "udp");
	uint32_t prog = strtoul(a[5], NULL, 0), pv = strtoul(a[6], NULL, 0);
	int port = atoi(a[8]);

	sl = mkaddr(&src, a[0], atoi(a[1]));
	dl = mkaddr(&dst, a[2], atoi(a[3]));
	for (i = 0; i < count; i++, prog++, port++) {
		fd = socket(src.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
		if (fd < 0)
			return perror("socket"), 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (forge && (src.ss_family == AF_INET
				  ? setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one))
				  : setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))))
			return perror("transparent"), 1;
		if (bind(fd, (struct sockaddr *)&src, sl) < 0)
			return perror("bind"), 1;
		if (connect(fd, (struct sockaddr *)&dst, dl) < 0)
			return perror("connect"), 1;
		n = tcp ? 4 : 0;
		w32(0x5e7000 + i); /* xid */
		w32(0);		   /* CALL */
		w32(2);		   /* rpcvers */
		w32(100000);
		w32(vers);
		w32(set ? 1 : 2);
		w32(0), w32(0), w32(0), w32(0); /* AUTH_NONE, twice */
		if (vers == 2) {
			w32(prog), w32(pv), w32(udp ? 17 : 6), w32(set ? port : 0);
		} else {
			char ua[64], host[INET6_ADDRSTRLEN], netid[8];
			int v6 = dst.ss_family == AF_INET6;

			inet_ntop(dst.ss_family,
				  v6 ? (void *)&((struct sockaddr_in6 *)&dst)->sin6_addr
				     : (void *)&((struct sockaddr_in *)&dst)->sin_addr,
				  host, sizeof(host));
			snprintf(ua, sizeof(ua), "%s.%d.%d", host, port >> 8, port & 255);
			snprintf(netid, sizeof(netid), "%s%s", udp ? "udp" : "tcp", v6 ? "6" : "");
			w32(prog), w32(pv), wstr(netid), wstr(set ? ua : ""), wstr("superuser");
		}
		if (tcp) {
			uint32_t h = htonl(0x80000000u | (uint32_t)(n - 4));

			memcpy(msg, &h, 4);
		}
		if (send(fd, msg, n, 0) != (ssize_t)n)
			return perror("send"), 1;
		if (forge) {
			close(fd);
			continue;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r = poll(&p, 1, 2000) == 1 ? recv(fd, rep, sizeof(rep), 0) : -1;
		size_t off = tcp ? 4 : 0;

		close(fd);
		if (r < (ssize_t)(off + 28)) {
			if (count == 1)
				puts("noreply");
			continue;
		}
		uint32_t res;

		memcpy(&res, rep + off + 24, 4);
		if (count == 1)
			puts(ntohl(res) == 1 ? "TRUE" : "FALSE");
		yes += ntohl(res) == 1;
	}
	if (count > 1)
		printf("%d\n", yes);
	if (forge)
		puts("sent");
	return 0;
}
C
cc -O2 -Wall -D_GNU_SOURCE -I"$top/tests/integration" -o "$T/pmapc" "$T/pmapc.c" || fail "pmapc does not build"

client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64
# The pbr VSes' namespace, with a router for pa's gateway.
S="$P-s" RA="$P-ra"
bare_ns "$S" "$RA"
veth "$S" "${P}xa" "$RA" ra0
nsx "$RA" ip addr add 198.18.10.1/24 dev ra0

write_ini() { # write_ini EXTRA-RPC-LINE-FOR-nas1
	cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs nas1]
namespace = $P-nas1
interface = ${P}v1
addresses = 198.18.1.1/24, 2001:db8:1::1/64
listen = udp:111 portmap, tcp:111 portmap
rpc = $1

[vs pa]
isolation = pbr
namespace = $S
interface = ${P}xa
addresses = 198.18.10.5/24
gateway = 198.18.10.1
listen = udp:111 portmap, tcp:111 portmap
INI
}
write_ini "100003:3:tcp:2049"
"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected"
start_coopd "$T/coop.ini"

ctl() { "$COOPCTL" -s "$T/admin.sock" "$@"; }
counter() { ctl --json show vs "$1" | jq -r ".rpc.counters.$2"; }
pmapc() { # pmapc NS ARGS... : the answer, one word
	nsx "$1" timeout 20 "$T/pmapc" "${@:2}" 2>&1
}
expect_answer() { # expect_answer WANT WHAT NS ARGS...
	local want=$1 what=$2 got
	shift 2
	got=$(pmapc "$@")
	[ "$got" = "$want" ] || fail "$what: '$got', expected $want"
}
# dumped NS ADDR PROG : PROG is in `rpcinfo -p ADDR` (TCP DUMP, version 2)
dumped() {
	nsx "$1" timeout 10 rpcinfo -p "$2" >"$T/dump.out" 2>&1 || fail "rpcinfo -p $2: $(cat "$T/dump.out")"
	awk 'NR > 1 {print $1}' "$T/dump.out" | grep -qx "$3"
}
# dumped4 NS ADDR PROG : PROG is in `rpcinfo ADDR` (rpcbind version 4 DUMP)
dumped4() {
	nsx "$1" timeout 10 rpcinfo "$2" >"$T/dump.out" 2>&1 || fail "rpcinfo $2: $(cat "$T/dump.out")"
	awk 'NR > 1 {print $1}' "$T/dump.out" | grep -qx "$3"
}

# --- forged from the network ---------------------------------------------------
# The source is nas1's own IPv6 address, the destination too: the old rule
# ("the caller's source is the address it called") took it for local.
refused0=$(counter nas1 set_refused)
calls0=$(counter nas1 calls)
out=$(pmapc "$P-c1" -x 2001:db8:1::1 111 2001:db8:1::1 111 set 200001 1 udp 7001)
[ "$out" = sent ] || fail "forged v2 SET: $out"
out=$(pmapc "$P-c1" -x -v 4 2001:db8:1::1 40111 2001:db8:1::1 111 set 200002 1 udp 7002)
[ "$out" = sent ] || fail "forged v4 SET: $out"
# Both arrived and were answered - the test proves something only then.
for _ in $(seq 50); do
	[ "$(counter nas1 calls)" -ge $((calls0 + 2)) ] && break
	sleep 0.1
done
[ "$(counter nas1 calls)" -ge $((calls0 + 2)) ] || fail "the forged SETs did not reach nas1"
for prog in 200001 200002; do
	dumped "$P-c1" 198.18.1.1 $prog && fail "rpcinfo -p 198.18.1.1 shows the forged $prog"
	dumped4 "$P-c1" 2001:db8:1::1 $prog && fail "rpcinfo 2001:db8:1::1 shows the forged $prog"
done
[ "$(counter nas1 set_refused)" -eq $((refused0 + 2)) ] ||
	fail "forged SETs: set_refused $refused0 -> $(counter nas1 set_refused), expected +2"
dumped "$P-c1" 198.18.1.1 100003 || fail "nas1's own nfs mapping is missing"
ok "SETs forged with the VS's own IPv6 address as source: refused, counted, not in rpcinfo -p / rpcinfo"

# --- local users of a netns VS's namespace ----------------------------------------
N="$P-nas1"
expect_answer FALSE "source = the address called, unprivileged port" \
	"$N" 198.18.1.1 40000 198.18.1.1 111 set 200003 1 udp 7003
expect_answer FALSE "source = the address called, reserved port" \
	"$N" 198.18.1.1 700 198.18.1.1 111 set 200003 1 udp 7003
expect_answer FALSE "IPv6 source = the address called, reserved port" \
	"$N" 2001:db8:1::1 700 2001:db8:1::1 111 set 200003 1 udp 7003
expect_answer FALSE "loopback, unprivileged port" \
	"$N" 127.0.0.1 40001 198.18.1.1 111 set 200003 1 udp 7003
expect_answer FALSE "::1, unprivileged port (rpcbind v4)" \
	"$N" -v 4 ::1 40001 2001:db8:1::1 111 set 200003 1 udp 7003
expect_answer FALSE "loopback, unprivileged port, TCP" \
	"$N" -s 127.0.0.1 40002 198.18.1.1 111 set 200003 1 udp 7003
dumped "$P-c1" 198.18.1.1 200003 && fail "an unprivileged SET got into the map"
expect_answer TRUE "loopback, reserved port" \
	"$N" 127.0.0.1 701 198.18.1.1 111 set 200003 1 udp 7003
dumped "$P-c1" 198.18.1.1 200003 || fail "the privileged SET is not in rpcinfo -p"
expect_answer TRUE "::1, reserved port (rpcbind v4)" \
	"$N" -v 4 ::1 702 2001:db8:1::1 111 set 200004 1 tcp 7004
dumped4 "$P-c1" 2001:db8:1::1 200004 || fail "the privileged v4 SET is not in rpcinfo"
# UNSET: the same rule, over TCP this time.
expect_answer FALSE "UNSET from loopback, unprivileged port, TCP" \
	"$N" -s 127.0.0.1 40003 198.18.1.1 111 unset 200003 1 udp 0
expect_answer TRUE "UNSET from loopback, reserved port, TCP" \
	"$N" -s 127.0.0.1 703 198.18.1.1 111 unset 200003 1 udp 0
dumped "$P-c1" 198.18.1.1 200003 && fail "200003 still mapped after the privileged UNSET"
ok "netns VS: only loopback with a reserved port may SET/UNSET (v2 and v4, UDP and TCP, IPv4 and IPv6)"

# --- local users of the pbr VSes' shared namespace -----------------------------------
expect_answer FALSE "pbr: source = the address called" \
	"$S" 198.18.10.5 40000 198.18.10.5 111 set 200005 1 udp 7005
expect_answer FALSE "pbr: loopback, unprivileged port" \
	"$S" 127.0.0.1 40004 198.18.10.5 111 set 200005 1 udp 7005
expect_answer TRUE "pbr: loopback, reserved port" \
	"$S" 127.0.0.1 704 198.18.10.5 111 set 200005 1 udp 7005
nsx "$S" timeout 10 rpcinfo -p 198.18.10.5 | awk '{print $1}' | grep -qx 200005 ||
	fail "pa: the privileged SET is not in rpcinfo -p"
[ "$(counter pa set_refused)" -eq 2 ] || fail "pa: set_refused $(counter pa set_refused), expected 2"
ok "pbr VS in a shared namespace: a local user cannot register, a privileged process can"

# --- the network's share of the map ------------------------------------------------------
remote() { ctl --json show vs nas1 | jq '[.rpc.mappings[] | select(.owner == "remote")] | length'; }
have=$(remote) # 200004 over tcp
yes=$(pmapc "$N" -n 70 127.0.0.1 705 198.18.1.1 111 set 300000 1 udp 20000)
[ "$yes" -eq $((64 - have)) ] || fail "flood of 70 SETs: $yes accepted, expected $((64 - have))"
[ "$(remote)" -eq 64 ] || fail "remote mappings: $(remote), expected 64"
[ "$(counter nas1 set_full)" -eq $((70 - yes)) ] ||
	fail "set_full $(counter nas1 set_full), expected $((70 - yes))"
expect_answer FALSE "a SET past the network's share" \
	"$N" 127.0.0.1 706 198.18.1.1 111 set 400000 1 udp 9000
# The configuration still gets its mappings (a reload adds one).
write_ini "100003:3:tcp:2049, 100005:3:udp:20048"
ctl reload >"$T/reload.out" 2>&1 || fail "reload: $(cat "$T/reload.out")"
dumped "$P-c1" 198.18.1.1 100005 || fail "the configuration's new mapping is missing after the flood"
[ "$(remote)" -eq 64 ] || fail "the reload changed the remote mappings: $(remote)"
ok "a flood of privileged SETs stops at 64 network mappings (refusals counted); the configuration's still go in"

stop_coopd
ok "stop: clean exit"
