#!/usr/bin/env bash
# Connection limits with real clients: a VS's max_connections and the
# [global] one refuse the next connection at accept (closed at once,
# counted in show vs and the metrics); a reload raising them applies at
# once without rebuilding the VS (its open connections stay); idle_timeout
# closes a connection that says nothing, not one that talks; a flood of
# pipelined portmap DUMPs from clients that never read their replies is
# closed at out_max instead of piling replies up in coopd, while a client
# that pipelines and reads gets every reply.
#
#   c1 --- v1 lim  198.18.41.1  echo, max_connections 3 (then 4)
#   c2 --- v2 g    198.18.42.1  echo, portmap (defaults)
#   c3 --- v3 idle 198.18.43.1  echo, idle_timeout 500 ms
#   c4 --- v4 pm   198.18.44.1  portmap, out_high 4 KiB, out_max 64 KiB (small, so
#                               that every flooding connection reaches it)
#   [global] max_connections 5 (then 100)
. "$(dirname "$0")/lib.sh"

for cmd in jq socat curl rpcinfo; do
	command -v "$cmd" >/dev/null || fail "$cmd not installed"
done
SOCK="$T/admin.sock"
port=$((20000 + $$ % 20000))
ctl() { "$COOPCTL" -s "$SOCK" "$@"; }
vsj() { ctl --json show vs "$1" | jq -r "$2"; }
sample() { curl -s "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

# dumpflood ADDR PORT CONNS CALLS MODE SECONDS: rpcbind v4 DUMP calls over
# TCP (record marked, pipelined). flood: CONNS connections each send CALLS
# calls (as many as the sockets take), never read, and stay open SECONDS;
# read: one connection sends CALLS calls and reads every reply.
cat >"$T/dumpflood.c" <<'C'
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void call(uint8_t *p, uint32_t xid)
{
	uint32_t w[11] = { 0x80000000u | 40, xid, 0, 2, 100000, 4, 4, 0, 0, 0, 0 };
	int i;

	for (i = 0; i < 11; i++)
		w[i] = htonl(w[i]);
	memcpy(p, w, 44);
}

static int dial(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, addr, &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(2);
	}
	return fd;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int conns = atoi(argv[3]), calls = atoi(argv[4]), secs = atoi(argv[6]);
	size_t len = (size_t)calls * 44, off[64] = { 0 };
	uint8_t *buf = malloc(len);
	int fd[64], i, k;
	time_t end;

	alarm(secs + 20);
	for (i = 0; i < calls; i++)
		call(buf + 44 * i, i + 1);
	if (!strcmp(argv[5], "read")) {
		static uint8_t rep[1 << 20];
		uint32_t hdr;
		size_t bytes = 0;

		fd[0] = dial(argv[1], atoi(argv[2]));
		if (write(fd[0], buf, len) != (ssize_t)len)
			return 1;
		for (i = 0; i < calls; i++) {
			if (read_full(fd[0], &hdr, 4) < 0)
				break;
			hdr = ntohl(hdr) & 0x7fffffffu;
			if (hdr > sizeof(rep) || read_full(fd[0], rep, hdr) < 0)
				break;
			bytes += hdr;
		}
		printf("%d replies, %zu bytes\n", i, bytes);
		return i == calls ? 0 : 1;
	}
	for (k = 0; k < conns && k < 64; k++) {
		fd[k] = dial(argv[1], atoi(argv[2]));
		fcntl(fd[k], F_SETFL, O_NONBLOCK);
	}
	end = time(NULL) + secs;
	while (time(NULL) < end) {
		for (k = 0; k < conns; k++) {
			ssize_t n;

			if (off[k] >= len)
				continue;
			n = send(fd[k], buf + off[k], len - off[k], MSG_NOSIGNAL);
			if (n > 0)
				off[k] += n;
		}
		usleep(10000);
	}
	for (k = 0; k < conns; k++)
		printf("%zu ", off[k]);
	printf("bytes sent\n");
	return 0;
}
C
cc -O2 -Wall -o "$T/dumpflood" "$T/dumpflood.c" || fail "dumpflood does not build"

client_ns "$P-c1" "${P}v1" 198.18.41.2/24 2001:db8:41::2/64
client_ns "$P-c2" "${P}v2" 198.18.42.2/24 2001:db8:42::2/64
client_ns "$P-c3" "${P}v3" 198.18.43.2/24 2001:db8:43::2/64
client_ns "$P-c4" "${P}v4" 198.18.44.2/24 2001:db8:44::2/64
# forty mappings: a DUMP reply of about 2.5 KB for a 44-byte call
rpcs=$(for i in $(seq 40); do printf '%s:1:tcp:%s, ' $((200000 + i)) $((3000 + i)); done)
rpcs=${rpcs%, }

config() { # config GLOBAL_MAX LIM_MAX
	cat <<INI
[global]
workers = 2
admin_socket = $SOCK
metrics_listen = 127.0.0.1:$port
max_connections = $1

[vs lim]
namespace = $P-lim
interface = ${P}v1
addresses = 198.18.41.1/24
listen = tcp:7 echo
max_connections = $2

[vs g]
namespace = $P-g
interface = ${P}v2
addresses = 198.18.42.1/24
listen = tcp:7 echo, tcp:111 portmap
rpc = $rpcs

[vs idle]
namespace = $P-idle
interface = ${P}v3
addresses = 198.18.43.1/24
listen = tcp:7 echo
idle_timeout = 500

[vs pm]
namespace = $P-pm
interface = ${P}v4
addresses = 198.18.44.1/24
listen = tcp:111 portmap
rpc = $rpcs
out_high = 4096
out_max = 65536
INI
}
config 5 3 >"$T/coop.ini"
"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected: $("$COOPD" --check -c "$T/coop.ini" 2>&1)"
start_coopd "$T/coop.ini"

# bgns NS CMD... : CMD in namespace NS in the background; $! is CMD itself
# (nsenter execs it), so killing $! ends it
bgns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@" &
}
# hold NS ADDR : a connection that sends nothing and reads until coopd ends it
held=()
hold() {
	bgns "$1" timeout 30 socat -u "TCP:$2:7" /dev/null 2>/dev/null
	PIDS+=("$!")
	held+=("$!")
}
# wait_active VS N : until VS has N connections open (at most 5 s)
wait_active() {
	local i
	for i in $(seq 100); do
		[ "$(vsj "$1" .counters.active)" = "$2" ] && return 0
		sleep 0.05
	done
	fail "vs $1: $(vsj "$1" .counters.active) connections open, want $2"
}
echo hello >"$T/hello"

# --- max_connections, the VS's and the runtime's ------------------------------------
for i in 1 2 3; do hold "$P-c1" 198.18.41.1; done
wait_active lim 3
t0=$(date +%s%N)
[ -z "$(tcp "$P-c1" 198.18.41.1 7 "$T/hello")" ] || fail "a 4th connection to lim was served"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 2000 ] || fail "the refused connection took $ms ms to end"
[ "$(vsj lim .counters.refused)" = 1 ] || fail "lim: refused $(vsj lim .counters.refused), want 1"
[ "$(vsj lim .limits.refused_vs)" = 1 ] || fail "lim: refused_vs $(vsj lim .limits.refused_vs)"
[ "$(vsj lim .limits.max_connections)" = 3 ] || fail "lim: limits.max_connections"
wait_active lim 3
ok "lim: 3 connections open, the 4th closed at once ($ms ms) and counted"

hold "$P-c2" 198.18.42.1
hold "$P-c2" 198.18.42.1
wait_active g 2
[ -z "$(tcp "$P-c2" 198.18.42.1 7 "$T/hello")" ] || fail "a 6th connection in all was served"
[ "$(vsj g .limits.refused_global)" = 1 ] || fail "g: refused_global $(vsj g .limits.refused_global)"
[ "$(vsj g .limits.global_max_connections)" = 5 ] || fail "g: global_max_connections"
[ "$(ctl --json show stats | jq .counters.refused)" = 2 ] || fail "show stats: refused"
[ "$(sample 'coop_vs_tcp_refused_total{vs="lim",limit="vs"}')" = 1 ] || fail "metrics: lim refused"
[ "$(sample 'coop_vs_tcp_refused_total{vs="g",limit="global"}')" = 1 ] || fail "metrics: g refused"
[ "$(sample coop_tcp_max_connections)" = 5 ] || fail "metrics: coop_tcp_max_connections"
[ "$(sample 'coop_vs_tcp_max_connections{vs="lim"}')" = 3 ] || fail "metrics: lim's max"
ok "[global] max_connections 5: the 6th connection (of g) refused; show vs, show stats and metrics count both"

# --- a reload raises both: applied at once, nothing rebuilt --------------------------
config 100 4 >"$T/coop.ini"
ctl --json reload >"$T/reload.json" || fail "reload: $(cat "$T/reload.json")"
jq -e '(.changed | map(.name)) == ["lim"] and (.rebuilt | length) == 0' "$T/reload.json" >/dev/null ||
	fail "reload: $(cat "$T/reload.json")"
[ "$(tcp "$P-c1" 198.18.41.1 7 "$T/hello")" = hello ] || fail "lim: a 4th connection refused after the reload"
[ "$(tcp "$P-c2" 198.18.42.1 7 "$T/hello")" = hello ] || fail "g: refused after [global] max_connections 100"
[ "$(vsj lim .limits.max_connections)" = 4 ] || fail "lim: limits.max_connections after the reload"
[ "$(vsj lim .limits.global_max_connections)" = 100 ] || fail "global_max_connections after the reload"
wait_active lim 3
[ "$(vsj lim .counters.refused)" = 1 ] || fail "lim: refusals after the reload"
ok "reload: max_connections 4 and [global] 100 apply at once; lim changed in place, its 3 connections kept"
for pid in "${held[@]}"; do kill "$pid" 2>/dev/null; done
wait_active lim 0
wait_active g 0

# --- idle_timeout ---------------------------------------------------------------------
bgns "$P-c3" timeout 10 socat -u TCP:198.18.43.1:7 /dev/null 2>/dev/null
quiet=$!
PIDS+=("$quiet")
t0=$(date +%s%N)
(for i in $(seq 8); do echo "line $i"; sleep 0.25; done) |
	nsx "$P-c3" timeout 10 socat -t 1 - TCP:198.18.43.1:7 >"$T/talk" || fail "talker"
wait "$quiet"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(wc -l <"$T/talk")" = 8 ] || fail "the talker got $(wc -l <"$T/talk") of 8 lines back"
[ "$ms" -lt 5000 ] || fail "the quiet connection lasted $ms ms"
[ "$(vsj idle .counters.closed_idle)" = 1 ] || fail "idle: closed_idle $(vsj idle .counters.closed_idle)"
[ "$(vsj idle .limits.idle_timeout_ms)" = 500 ] || fail "idle: limits.idle_timeout_ms"
[ "$(sample 'coop_vs_tcp_limit_closed_total{vs="idle",reason="idle"}')" = 1 ] || fail "metrics: idle"
ok "idle_timeout 500 ms: the quiet connection closed, the talker (a line every 250 ms, 2 s) served"

# --- out_max: a DUMP flood that never reads ------------------------------------------
rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$COOPD_PID/status")
bgns "$P-c4" "$T/dumpflood" 198.18.44.1 111 4 3000 flood 4 >"$T/flood.out"
flood=$!
PIDS+=("$flood")
sleep 1
nsx "$P-c4" timeout 5 rpcinfo -p 198.18.44.1 >"$T/rpcinfo" || fail "rpcinfo during the flood"
grep -q 200040 "$T/rpcinfo" || fail "rpcinfo: $(head -3 "$T/rpcinfo")"
for i in $(seq 60); do
	[ "$(vsj pm .counters.closed_out_max)" = 4 ] && [ "$(vsj pm .counters.active)" = 0 ] && break
	sleep 0.05
done
[ "$(vsj pm .counters.closed_out_max)" = 4 ] ||
	fail "pm: $(vsj pm .counters.closed_out_max) flooding connections closed at out_max, want 4 ($(vsj pm .counters.active) open)"
[ "$(vsj pm .counters.active)" = 0 ] || fail "pm: $(vsj pm .counters.active) connections still open"
rss1=$(awk '/^VmRSS/ {print $2}' "/proc/$COOPD_PID/status")
[ "$(sample 'coop_vs_tcp_limit_closed_total{vs="pm",reason="out_max"}')" = 4 ] || fail "metrics: out_max"
wait "$flood" || fail "dumpflood: $(cat "$T/flood.out")"
ok "4 clients pipelining 3,000 DUMPs each without reading: closed at out_max 64 KiB (rpcinfo served meanwhile; RSS ${rss0} -> ${rss1} kB)"

nsx "$P-c2" "$T/dumpflood" 198.18.42.1 111 1 100 read 0 >"$T/read.out" ||
	fail "a pipelining client that reads: $(cat "$T/read.out")"
[ "$(vsj g .counters.closed_out_max)" = 0 ] || fail "g: a reading client was closed at out_max"
ok "a client pipelining 100 DUMPs and reading: $(cat "$T/read.out") (default out_max)"

stop_coopd
ok "stop: clean exit"
