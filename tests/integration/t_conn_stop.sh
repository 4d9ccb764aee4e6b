#!/usr/bin/env bash
# A graceful stop: a client sends a request whose reply is large (16 MB to
# echo), shuts down its sending side and reads; coopd gets SIGTERM right
# then, with megabytes of the reply still owed, and the client still
# receives all of it, byte for byte, then a clean end of stream. Meanwhile
# a client that never reads what it asked for cannot hold the stop past
# stop_grace, and idle connections do not hold it at all. With
# stop_grace = 0 the stop closes at once (the reply is cut).
. "$(dirname "$0")/lib.sh"

for cmd in socat; do
	command -v "$cmd" >/dev/null || fail "$cmd not installed"
done
SIZE=$((16 << 20))

# halfclose ADDR PORT BYTES MARK: send BYTES of a pattern to an echo
# server, shut down the sending side, create MARK, read until the end of
# the stream; exit 0 when every byte came back in order and the stream
# ended cleanly. The reader takes its time (about 64 MB/s), so the reply
# is still owed when the stop comes.
cat >"$T/halfclose.c" <<'C'
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd;
static size_t size;
static const char *mark;

static unsigned char at(size_t i)
{
	return (unsigned char)(i * 2654435761u >> 13);
}

static void *writer(void *arg)
{
	static unsigned char buf[1 << 16];
	size_t off = 0, i, n;
	ssize_t w;

	(void)arg;
	while (off < size) {
		n = size - off < sizeof(buf) ? size - off : sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = at(off + i);
		for (i = 0; i < n; i += (size_t)w) {
			w = send(fd, buf + i, n - i, MSG_NOSIGNAL);
			if (w < 0) {
				perror("send");
				exit(3);
			}
		}
		off += n;
	}
	shutdown(fd, SHUT_WR);
	close(open(mark, O_CREAT | O_WRONLY, 0600));
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static unsigned char buf[1 << 16];
	size_t got = 0, i;
	pthread_t t;
	ssize_t n;

	(void)argc;
	alarm(30);
	sa.sin_port = htons(atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	size = strtoul(argv[3], NULL, 10);
	mark = argv[4];
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		return 2;
	}
	pthread_create(&t, NULL, writer, NULL);
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != at(got + i)) {
				printf("byte %zu differs\n", got + i);
				return 1;
			}
		got += n;
		usleep(1000);
	}
	printf("%zu of %zu bytes back, %s\n", got, size,
	       n == 0 ? "then the end of the stream" : strerror(errno));
	return got == size && n == 0 ? 0 : 1;
}
C
cc -O2 -Wall -pthread -o "$T/halfclose" "$T/halfclose.c" || fail "halfclose does not build"

client_ns "$P-c1" "${P}v1" 198.18.45.2/24 2001:db8:45::2/64
config() { # config STOP_GRACE_MS
	cat <<INI
[global]
workers = 2
admin_socket = $T/admin.sock
stop_grace = $1

[vs st]
namespace = $P-st
interface = ${P}v1
addresses = 198.18.45.1/24
listen = tcp:7 echo
# the client that never reads must still have its reply queued when the
# stop comes, not be closed for out_max before it
out_max = 268435456
INI
}

# bgns NS CMD... : CMD in namespace NS in the background; $! is CMD itself
bgns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@" &
}

# run_stop GRACE : start coopd, idle clients and a client that never reads,
# then the half-closing client; SIGTERM once it has shut down its side.
# Leaves the client's status in $rc, its report in $T/hc.out and the
# stop's duration in $stop_ms.
run_stop() {
	local mark="$T/halfclosed.$1" pid i
	config "$1" >"$T/coop.ini"
	start_coopd "$T/coop.ini"
	for i in 1 2 3; do
		bgns "$P-c1" timeout 20 socat -u TCP:198.18.45.1:7 /dev/null 2>/dev/null
		PIDS+=("$!")
	done
	# asks for 64 MB back and reads none of it: more than the kernel's
	# buffers hold, so coopd has the rest queued when the stop comes
	head -c $((64 << 20)) /dev/zero >"$T/zeros"
	bgns "$P-c1" timeout 20 socat -u "$T/zeros" TCP:198.18.45.1:7 2>/dev/null
	PIDS+=("$!")
	bgns "$P-c1" "$T/halfclose" 198.18.45.1 7 "$SIZE" "$mark" >"$T/hc.out"
	pid=$!
	PIDS+=("$pid")
	for i in $(seq 400); do
		[ -e "$mark" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	[ -e "$mark" ] || fail "the client did not get to shut down its side: $(cat "$T/hc.out")"
	# the non-reader has sent more than kernel buffers take back (with a
	# grace period only: without one the stop must come at once)
	for i in $(seq 100); do
		[ "$1" -gt 0 ] || break
		in=$("$COOPCTL" -s "$T/admin.sock" --json show vs st 2>/dev/null | jq -r .counters.bytes_in)
		[ "${in:-0}" -gt $((40 << 20)) ] && break
		sleep 0.05
	done
	t0=$(date +%s%N)
	stop_coopd
	stop_ms=$((($(date +%s%N) - t0) / 1000000))
	wait "$pid"
	rc=$?
}

run_stop 2000
[ "$rc" -eq 0 ] || fail "stop_grace 2000: the half-closed client lost its reply: $(cat "$T/hc.out")"
[ "$stop_ms" -lt 4500 ] || fail "the stop took $stop_ms ms with stop_grace 2000"
grep -q "stop_grace over: closing" "$T/coopd.log" ||
	fail "the client that never reads was not closed by stop_grace"
ok "SIGTERM right after the half-close: $(cat "$T/hc.out"); the stop took $stop_ms ms (a client that reads nothing closed at stop_grace)"
ip netns list | grep -q "^$P-st" && fail "namespace left behind"

# The same with stop_grace = 0: closed at once, the reply is cut (what a
# stop did before it had a grace period).
run_stop 0
[ "$rc" -ne 0 ] || fail "stop_grace 0: the whole reply came back (the test did not stop coopd in time)"
[ "$stop_ms" -lt 2000 ] || fail "the stop took $stop_ms ms with stop_grace 0"
ok "stop_grace 0 closes at once ($stop_ms ms): $(cat "$T/hc.out")"
