#!/usr/bin/env bash
# Per-VS resolvers, pbr: two VSes share one namespace and name the SAME DNS
# server address, 198.18.99.53. Only their marks and routing tables tell
# where it is: behind pa's gateway (router RA) or behind pb's (router RB),
# each router running its own dnsmasq on that address and answering the
# SAME name with DIFFERENT addresses. The main table has no route there at
# all, so an unmarked socket could not even send. Checked through the admin
# command and through a service on a worker thread (the test application's
# "lookup" service, whose callback must run on the worker that asked), over
# UDP and TCP (a truncated answer), with a server that stops answering; the
# routers' query logs show each question coming from its VS's address.
#
#   S (shared): xa 198.18.10.5/24 (pa) --- RA ra0 198.18.10.1, lo 198.18.99.53
#               xb 198.18.11.5/24 (pb) --- RB rb0 198.18.11.1, lo 198.18.99.53
. "$(dirname "$0")/lib.sh"

command -v dnsmasq >/dev/null || fail "dnsmasq not installed (dnsmasq-base)"

# --- the application: coop with a service that resolves on its worker -------
cat >"$T/resapp.c" <<'C'
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/coop.h"
#include "resolver/coop_resolver.h"

/* lookup: the client sends "NAME\n"; the VS resolves it (IPv4) and answers
 * "ADDR... thread=same|other" or "error MESSAGE". */
struct lookup {
	char line[256];                /* the name being received */
	size_t len;
	pthread_t asked_on;            /* thread of on_read */
	struct coop_resolver_query *q; /* while it runs */
	int done;                      /* the callback ran */
};

static void answered(int status, const struct coop_resolver_result *res, unsigned info, void *arg)
{
	struct coop_conn *conn = arg;
	struct lookup *l = coop_conn_data(conn);
	char out[1024], a[64];
	size_t o = 0, i;

	(void)info;
	l->done = 1;
	l->q = NULL;
	if (status) {
		o = (size_t)snprintf(out, sizeof(out), "error %s", coop_resolver_strerror(status));
	} else {
		for (i = 0; i < res->n_addrs && o < 900; i++)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s ",
					      coop_resolver_addr_str(&res->addrs[i], a, sizeof(a)));
		o += (size_t)snprintf(out + o, sizeof(out) - o, "thread=%s",
				      pthread_equal(pthread_self(), l->asked_on) ? "same" : "other");
	}
	out[o++] = '\n';
	coop_conn_write(conn, out, o);
	coop_conn_close(conn);
}

static int lookup_accept(struct coop_conn *conn)
{
	struct lookup *l = calloc(1, sizeof(*l));

	if (!l)
		return -1;
	coop_conn_set_data(conn, l);
	return 0;
}

static void lookup_read(struct coop_conn *conn, const void *data, size_t len)
{
	struct lookup *l = coop_conn_data(conn);
	const char *nl;
	int ret;

	if (l->done || l->q || l->len + len >= sizeof(l->line))
		return;
	memcpy(l->line + l->len, data, len);
	l->len += len;
	l->line[l->len] = '\0';
	nl = strchr(l->line, '\n');
	if (!nl)
		return;
	l->line[nl - l->line] = '\0';
	l->asked_on = pthread_self();
	/* NULL loop: this worker's own; the answer comes back here. */
	ret = coop_resolver_resolve(coop_vs_resolver(coop_conn_vs(conn)), NULL, l->line, AF_INET,
				    COOP_RESOLVER_F_NOCACHE, answered, conn, &l->q);
	if (ret < 0)
		answered(ret, NULL, 0, conn);
}

static void lookup_close(struct coop_conn *conn)
{
	struct lookup *l = coop_conn_data(conn);

	if (l && l->q)
		coop_resolver_cancel(l->q);
	free(l);
}

static const struct coop_service lookup_svc = {
	.name = "lookup", .on_accept = lookup_accept, .on_read = lookup_read,
	.on_close = lookup_close,
};

int main(int argc, char **argv)
{
	char err[512];
	struct coop *c;

	if (argc != 3 || strcmp(argv[1], "-c"))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	c = coop_new();
	if (!c || coop_service_register(c, &lookup_svc) < 0)
		return 1;
	if (coop_configure(c, argv[2], err, sizeof(err)) < 0 ||
	    coop_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "resapp: %s\n", err);
		return 1;
	}
	coop_run(c);
	coop_free(c);
	return 0;
}
C
build_app resapp
COOPD="$T/resapp"

# --- the network ---------------------------------------------------------------
S="$P-s" RA="$P-ra" RB="$P-rb"
bare_ns "$S" "$RA" "$RB"
veth "$S" "${P}xa" "$RA" ra0
veth "$S" "${P}xb" "$RB" rb0
nsx "$RA" ip addr add 198.18.10.1/24 dev ra0
nsx "$RB" ip addr add 198.18.11.1/24 dev rb0
# The same server address behind both routers.
nsx "$RA" ip addr add 198.18.99.53/32 dev lo
nsx "$RB" ip addr add 198.18.99.53/32 dev lo
nsx "$S" ip route show | grep -q . && fail "the shared namespace has routes before coop starts"

for i in $(seq 1 200); do echo "198.19.$((i / 250)).$((i % 250 + 1)) big.corp.test"; done >"$T/big.hosts"
# dnsmasq_in NS ANSWER LOG: pid in DPID. --keep-in-foreground (not
# --no-daemon): TCP questions are served by a forked child, whose pid in
# the log tells them from UDP ones.
dnsmasq_in() {
	nsenter --net="/run/netns/$1" dnsmasq --keep-in-foreground --user=root --no-resolv --no-hosts \
		--pid-file= --port 53 --listen-address=198.18.99.53 --bind-interfaces --local-ttl=60 \
		--local=/corp.test/ --address="/files.corp.test/$2" --addn-hosts="$T/big.hosts" \
		--log-queries --log-facility="$3" </dev/null >/dev/null 2>>"$T/dnsmasq.err" &
	DPID=$!
	PIDS+=("$DPID")
}
dnsmasq_in "$RA" 198.18.50.1 "$T/qa.log"
da=$DPID
dnsmasq_in "$RB" 198.18.50.2 "$T/qb.log"
db=$DPID
for _ in $(seq 50); do
	nsx "$RA" dig +short +time=1 @198.18.99.53 files.corp.test 2>/dev/null | grep -q . &&
		nsx "$RB" dig +short +time=1 @198.18.99.53 files.corp.test 2>/dev/null | grep -q . && break
	sleep 0.1
done
[ "$(nsx "$RA" dig +short @198.18.99.53 files.corp.test)" = 198.18.50.1 ] || fail "dnsmasq A setup"
[ "$(nsx "$RB" dig +short @198.18.99.53 files.corp.test)" = 198.18.50.2 ] || fail "dnsmasq B setup"

cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs pa]
isolation = pbr
namespace = $S
interface = ${P}xa
addresses = 198.18.10.5/24
gateway = 198.18.10.1
listen = tcp:5300 lookup
dns = 198.18.99.53

[vs pb]
isolation = pbr
namespace = $S
interface = ${P}xb
addresses = 198.18.11.5/24
gateway = 198.18.11.1
listen = tcp:5300 lookup
dns = 198.18.99.53
dns_timeout = 300
dns_attempts = 2
INI

start_coopd "$T/coop.ini"
ctl() { "$COOPCTL" -s "$T/admin.sock" "$@"; }
resolve() { ctl --json resolve "$@"; }
# ask NS ADDR NAME: the lookup service's answer. shut-none: a half-close
# would end the connection (and cancel its lookup) before the answer.
ask() { echo "$3" | nsx "$1" timeout 10 socat -t 5 - "TCP:$2:5300,shut-none"; }
nsx "$S" ip route get 198.18.99.53 >/dev/null 2>&1 && fail "198.18.99.53 is reachable without a mark"

# 1. Admin (control thread): the same server address, two servers, two answers.
r=$(resolve pa files.corp.test) || fail "pa: $r"
[ "$(jq -r '.addresses | join(" ")' <<<"$r")" = 198.18.50.1 ] || fail "pa got $r"
r=$(resolve pb files.corp.test) || fail "pb: $r"
[ "$(jq -r '.addresses | join(" ")' <<<"$r")" = 198.18.50.2 ] || fail "pb got $r"
grep -q 'query\[A\] files.corp.test from 198.18.10.5$' "$T/qa.log" || fail "RA did not see pa's question from 198.18.10.5"
grep -q 'query\[A\] files.corp.test from 198.18.11.5$' "$T/qb.log" || fail "RB did not see pb's question from 198.18.11.5"
grep -q '198.18.11.5' "$T/qa.log" && fail "RA saw a question of pb"
grep -q '198.18.10.5' "$T/qb.log" && fail "RB saw a question of pa"
ok "admin resolve: one server address, each VS reached its own router's server with its own source"

# 2. A service on a worker thread, through coop_vs_resolver() with its own
# worker loop: answer per VS, callback on the thread that asked.
for i in 1 2 3 4; do
	a=$(ask "$RA" 198.18.10.5 files.corp.test)
	[ "$a" = "198.18.50.1 thread=same" ] || fail "pa lookup service: '$a'"
	b=$(ask "$RB" 198.18.11.5 files.corp.test)
	[ "$b" = "198.18.50.2 thread=same" ] || fail "pb lookup service: '$b'"
done
[ "$(grep -c 'query\[A\] files.corp.test from 198.18.10.5$' "$T/qa.log")" -ge 5 ] || fail "RA log: the service's questions are missing"
ok "worker threads: the lookup service gets each VS's answer, callback on the asking worker"

# 3. TCP after a truncated answer, with the mark too (else no route at all).
r=$(resolve pa big.corp.test A) || fail "big pa: $r"
[ "$(jq '.records | length' <<<"$r")" = 200 ] || fail "big pa: $r"
r=$(resolve pb big.corp.test A) || fail "big pb: $r"
[ "$(jq '.records | length' <<<"$r")" = 200 ] || fail "big pb: $r"
grep 'query\[A\] big.corp.test from 198.18.10.5$' "$T/qa.log" | grep -vq "dnsmasq\[$da\]" || fail "RA: no TCP question from pa"
grep 'query\[A\] big.corp.test from 198.18.11.5$' "$T/qb.log" | grep -vq "dnsmasq\[$db\]" || fail "RB: no TCP question from pb"
ok "truncated answer: 200 records over TCP through each VS's router"

# 4. RB's server stops answering: pb times out in its 600 ms, pa goes on
# (admin and worker), and pb resolves again once it is back.
kill -STOP "$db"
t0=$(date +%s%N)
resolve pb stalled.corp.test >"$T/stalled.out" 2>&1 &
stalled=$!
a=$(ask "$RA" 198.18.10.5 files.corp.test)
[ "$a" = "198.18.50.1 thread=same" ] || fail "pa stopped resolving while pb waits: '$a'"
r=$(resolve pa files.corp.test) || fail "pa while pb waits: $r"
b=$(ask "$RB" 198.18.11.5 other.corp.test)
[ "$b" = "error no answer from the DNS servers (timed out)" ] || fail "pb service with its server stopped: '$b'"
wait "$stalled" && fail "pb resolved with its server stopped"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "timed out" "$T/stalled.out" || fail "pb: $(cat "$T/stalled.out")"
[ "$ms" -lt 1500 ] || fail "pb took $ms ms to time out (600 configured)"
kill -CONT "$db"
r=$(resolve pb files.corp.test) || fail "pb after its server came back: $r"
s=$(ctl --json show vs pb)
jq -e '.resolver.counters.timeouts == 2' <<<"$s" >/dev/null || fail "pb counters: $(jq -c .resolver.counters <<<"$s")"
ok "dead server: pb timed out (admin in $ms ms, and the worker's lookup) while pa kept resolving"

stop_coopd
ok "stopped cleanly"
