/* udp_demux_test.c - the UDP demultiplexer with real sockets in a private
 * network namespace (unshare; it vanishes with the process): dispatch by
 * destination over IPv4 and IPv6, replies from the address the client sent
 * to, per-packet marks checked through policy routing, the counters, address
 * conflicts, wildcard VSes, removal, the per-VS reply rate, echo and whoami
 * refusing service ports, and 1,000 VSes on one port with churn. Hand-built VS
 * objects stand in for the runtime. Needs root (skips otherwise). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/runtime.h"
#include "vs/udp.h"
#include "core/vs.h"
#include "tests/unit/root_util.h"

#define CLIENT4 "198.18.0.200"
#define CLIENT6 "2001:db8::200"

/* A VS built by hand, as vs.c would from a [vs NAME] section. */
struct tvs {
	struct coop_vs vs;		   /* what the demux sees */
	struct coop_vs_cfg cfg;		   /* its configuration */
	struct coop_prefix addrs[4];	   /* cfg.addrs storage */
	struct coop_listen_cfg listens[2]; /* cfg.listens storage */
	uint32_t mark;			   /* SO_MARK its sockets get (the pbr way) */
};

static struct coop coop;	 /* runtime stand-in: the services */
static struct coop_udp *u;	 /* demux under test */
static struct ev_loop *loop;	 /* both workers' loop */
static struct coop_worker wk[2]; /* worker stand-ins */
static unsigned n_wk;		 /* workers of u */
static struct tvs *tv[1200];	 /* VSes of the current test */
static size_t n_tv;
static bool wk_started; /* workers watch their sockets */
static bool rules_set;	/* test_mark_per_packet changed the rules */

/* --- services --------------------------------------------------------------------- */

/* "tag": answers "VSNAME|payload". */
static void tag_dgram(struct coop_dgram *dg, const void *data, size_t len)
{
	const char *name = coop_vs_name(coop_dgram_vs(dg));
	struct iovec iov[3] = {
	    {(void *)name, strlen(name)},
	    {"|", 1},
	    {(void *)data, len},
	};

	assert_int_equal(coop_dgram_replyv(dg, iov, 3), 0);
}

/* "drop": refuses everything. */
static void drop_dgram(struct coop_dgram *dg, const void *data, size_t len)
{
	(void)data;
	(void)len;
	coop_dgram_drop(dg);
	coop_dgram_drop(dg); /* counted once */
}

/* "send": answers with an unsolicited datagram from the VS's udp:port
 * socket, and checks the refusals of coop_udp_sendto. */
static void send_dgram(struct coop_dgram *dg, const void *data, size_t len)
{
	socklen_t pl, ll;
	const struct sockaddr *peer = coop_dgram_peer(dg, &pl);
	const struct sockaddr_in *local = (const void *)coop_dgram_local(dg, &ll);
	struct coop_vs *vs = coop_dgram_vs(dg);
	unsigned w = coop_dgram_worker(dg);

	(void)data;
	(void)len;
	assert_int_equal(coop_udp_sendto(u, w, vs, 1, peer, pl, "x", 1), -ENOENT);
	assert_int_equal(coop_udp_sendto(u, w, vs, ntohs(local->sin_port), peer, 4, "x", 1),
			 -EINVAL);
	assert_int_equal(
	    coop_udp_sendto(u, w, vs, ntohs(local->sin_port), peer, pl, "unsolicited", 11), 0);
}

/* "big": answers with one byte more than a UDP/IPv4 datagram can hold
 * (refused), then with the payload as it is. */
static void big_dgram(struct coop_dgram *dg, const void *data, size_t len)
{
	static char huge[65508];

	assert_int_equal(coop_dgram_reply(dg, huge, sizeof(huge)), -EMSGSIZE);
	assert_int_equal(coop_dgram_reply(dg, data, len), 0);
}

/* A TCP-only service: not usable on udp listeners. */
static void tcp_read(struct coop_conn *conn, const void *data, size_t len)
{
	(void)conn;
	(void)data;
	(void)len;
}

static const struct coop_service svc_tag = {
    .name = "tag", .on_read = tcp_read, .on_datagram = tag_dgram};
static const struct coop_service svc_drop = {
    .name = "drop", .on_read = tcp_read, .on_datagram = drop_dgram};
static const struct coop_service svc_send = {
    .name = "send", .on_read = tcp_read, .on_datagram = send_dgram};
static const struct coop_service svc_big = {
    .name = "big", .on_read = tcp_read, .on_datagram = big_dgram};
static const struct coop_service svc_tcp = {.name = "tcponly", .on_read = tcp_read};
static const struct coop_service *services[] = {
    &svc_tag, &svc_drop, &svc_send, &svc_big, &svc_tcp, &coop_service_echo, &coop_service_whoami};

/* --- hand-built VSes ------------------------------------------------------------------ */

static int tsock(struct coop_vs *vs, int domain, int type, int protocol)
{
	struct tvs *t = (struct tvs *)vs;
	int fd = socket(domain, type | SOCK_CLOEXEC, protocol);

	if (fd < 0)
		return -errno;
	if (t->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &t->mark, sizeof(t->mark)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static const struct coop_iso_ops tiso = {.name = "test", .socket = tsock};

/* A VS named name with the comma-separated addresses addrs ("" = none),
 * listening on udp:port with service svc. */
static struct tvs *mkvs(const char *name, const char *addrs, uint16_t port, const char *svc,
			uint32_t mark)
{
	struct tvs *t = calloc(1, sizeof(*t));
	char buf[256], *tok, *save = NULL;

	assert_non_null(t);
	snprintf(t->cfg.name, sizeof(t->cfg.name), "%s", name);
	snprintf(buf, sizeof(buf), "%s", addrs);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		assert_true(t->cfg.n_addrs < 4);
		assert_int_equal(coop_prefix_parse(tok, false, &t->addrs[t->cfg.n_addrs]), 0);
		t->cfg.n_addrs++;
	}
	t->cfg.addrs = t->addrs;
	t->listens[0].proto = IPPROTO_TCP; /* ignored by the demux */
	t->listens[0].port = port;
	snprintf(t->listens[0].service, sizeof(t->listens[0].service), "tag");
	t->listens[1].proto = IPPROTO_UDP;
	t->listens[1].port = port;
	snprintf(t->listens[1].service, sizeof(t->listens[1].service), "%s", svc);
	t->cfg.listens = t->listens;
	t->cfg.n_listens = 2;
	t->vs.coop = &coop;
	t->vs.cfg = &t->cfg;
	t->vs.iso = &tiso;
	t->vs.n_workers = n_wk;
	t->mark = mark;
	tv[n_tv++] = t;
	return t;
}

static void workers_start(void)
{
	unsigned i;

	for (i = 0; i < n_wk; i++)
		coop_udp_worker_start(u, &wk[i]);
	wk_started = true;
}

static void workers_stop(void)
{
	unsigned i;

	for (i = 0; i < n_wk; i++)
		coop_udp_worker_stop(u, &wk[i]);
	wk_started = false;
}

static void add(struct tvs *t)
{
	char err[256] = "";

	assert_int_equal(coop_udp_vs_add(u, &t->vs, err, sizeof(err)), 0);
}

/* --- a client ------------------------------------------------------------------------- */

static int client(int family)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		inet_pton(AF_INET, CLIENT4, &s->sin_addr);
		sl = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		inet_pton(AF_INET6, CLIENT6, &s->sin6_addr);
		sl = sizeof(*s);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
	return fd;
}

static void send_to(int fd, const char *addr, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, addr, &s->sin6_addr), 1);
		sl = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, addr, &s->sin_addr), 1);
		sl = sizeof(*s);
	}
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl), (ssize_t)len);
}

/* Run the loop until a datagram reaches fd or ms pass. Returns its length
 * (and its source as "addr:port" in from), or -1. */
static ssize_t recv_reply(int fd, char *buf, size_t cap, char *from, size_t fromlen, int ms)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;
	int i;

	for (i = 0; i < ms; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		if (poll(&p, 1, 1) == 1)
			break;
	}
	if (i == ms)
		return -1;
	n = recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
	if (n < 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(from, fromlen, "%s:%u", a, ntohs(s->sin_port));
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(from, fromlen, "[%s]:%u", a, ntohs(s->sin6_port));
	}
	return n;
}

/* Send "ping" to addr:port and expect "VS|ping" from addr:port. */
static void expect_answer(int fd, const char *addr, uint16_t port, const char *vs)
{
	char buf[512], from[96], want_from[96], want[128];
	ssize_t n;

	send_to(fd, addr, port, "ping", 4);
	n = recv_reply(fd, buf, sizeof(buf) - 1, from, sizeof(from), 2000);
	assert_true(n > 0);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "%s|ping", vs);
	assert_string_equal(buf, want);
	snprintf(want_from, sizeof(want_from), strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
	assert_string_equal(from, want_from);
}

/* Send to addr:port and expect silence. */
static void expect_silence(int fd, const char *addr, uint16_t port)
{
	char buf[512], from[96];

	send_to(fd, addr, port, "ping", 4);
	assert_int_equal(recv_reply(fd, buf, sizeof(buf), from, sizeof(from), 200), -1);
}

/* --- fixtures ------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	if (sh("ip link set lo up && ip addr add " CLIENT4 "/32 dev lo && "
	       "ip -6 addr add " CLIENT6 "/128 dev lo nodad") != 0)
		return -1;
	if (sh("for i in $(seq 1 9); do ip addr add 198.18.0.$i/32 dev lo || exit 1; "
	       "ip -6 addr add 2001:db8::$i/128 dev lo nodad || exit 1; done") != 0)
		return -1;
	/* Every address of 198.18.128.0/17 is local (AnyIP): room for
	 * thousands of VS addresses without adding each. */
	if (sh("ip route add local 198.18.128.0/17 dev lo") != 0)
		return -1;
	coop.services = services;
	coop.n_services = sizeof(services) / sizeof(services[0]);
	loop = ev_loop_new(EVFLAG_AUTO);
	return loop ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (loop)
		ev_loop_destroy(loop);
	return 0;
}

/* A demux with n workers, both on the test's loop. */
static int setup_n(unsigned n)
{
	unsigned i;

	if (geteuid() != 0)
		return 0;
	n_wk = n;
	for (i = 0; i < n; i++) {
		wk[i].id = i;
		wk[i].loop = loop;
	}
	n_tv = 0;
	return coop_udp_new(n, &u);
}

static int setup1(void **state)
{
	(void)state;
	return setup_n(1);
}

static int setup2(void **state)
{
	(void)state;
	return setup_n(2);
}

static int teardown(void **state)
{
	(void)state;
	if (!u)
		return 0;
	/* An assertion may have left the workers watching. */
	if (wk_started)
		workers_stop();
	if (rules_set) {
		sh("ip rule del pref 10; ip rule add pref 0 lookup local; ip rule del pref 50; "
		   "ip route flush table 100");
		rules_set = false;
	}
	coop_udp_free(u);
	u = NULL;
	while (n_tv)
		free(tv[--n_tv]);
	return 0;
}

#define NEED_ROOT()                                                                                \
	do {                                                                                       \
		if (geteuid() != 0)                                                                \
			skip();                                                                    \
	} while (0)

/* --- tests ------------------------------------------------------------------------------- */

static void test_dispatch(void **state)
{
	struct coop_vs_udp_stats st;
	struct coop_udp_stats gs;
	int c4, c6, i;

	(void)state;
	NEED_ROOT();
	add(mkvs("a", "198.18.0.1,2001:db8::1", 5000, "tag", 0));
	add(mkvs("b", "198.18.0.2/32,2001:db8::2", 5000, "tag", 0));
	add(mkvs("c", "198.18.0.3", 5000, "tag", 0));
	coop_udp_stats(u, &gs);
	assert_int_equal(gs.groups, 1);
	assert_int_equal(gs.sockets, 4); /* 2 workers x 2 families */
	workers_start();
	c4 = client(AF_INET);
	c6 = client(AF_INET6);
	for (i = 0; i < 5; i++) {
		expect_answer(c4, "198.18.0.1", 5000, "a");
		expect_answer(c4, "198.18.0.2", 5000, "b");
		expect_answer(c4, "198.18.0.3", 5000, "c");
		expect_answer(c6, "2001:db8::1", 5000, "a");
		expect_answer(c6, "2001:db8::2", 5000, "b");
	}
	/* c has no IPv6 address: 2001:db8::3 is nobody's. */
	expect_silence(c6, "2001:db8::3", 5000);
	coop_udp_vs_stats(u, &tv[0]->vs, &st);
	assert_int_equal(st.dgrams_in, 10);
	assert_int_equal(st.dgrams_out, 10);
	assert_int_equal(st.bytes_in, 40);
	assert_int_equal(st.bytes_out, 10 * 6);
	coop_udp_vs_stats(u, &tv[2]->vs, &st);
	assert_int_equal(st.dgrams_in, 5);
	coop_udp_stats(u, &gs);
	assert_int_equal(gs.drop_no_vs, 1);
	assert_int_equal(gs.drop_no_pktinfo, 0);
	workers_stop();
	close(c4);
	close(c6);
}

static void test_no_vs_then_wildcard(void **state)
{
	struct coop_udp_stats gs;
	char err[256] = "";
	int c4, c6;

	(void)state;
	NEED_ROOT();
	add(mkvs("a", "198.18.0.1", 5001, "tag", 0));
	workers_start();
	c4 = client(AF_INET);
	c6 = client(AF_INET6);
	expect_silence(c4, "198.18.0.9", 5001);
	coop_udp_stats(u, &gs);
	assert_int_equal(gs.drop_no_vs, 1);
	/* Changes only while workers are stopped. */
	assert_int_equal(coop_udp_vs_add(u, &mkvs("w", "", 5001, "tag", 0)->vs, err, sizeof(err)),
			 -EBUSY);
	workers_stop();
	add(tv[1]);
	/* A second VS without addresses in the same namespace and port. */
	assert_int_equal(coop_udp_vs_add(u, &mkvs("w2", "", 5001, "tag", 0)->vs, err, sizeof(err)),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "'w'"));
	workers_start();
	expect_answer(c4, "198.18.0.9", 5001, "w");
	expect_answer(c4, "198.18.0.1", 5001, "a");
	expect_answer(c6, "2001:db8::9", 5001, "w");
	workers_stop();
	close(c4);
	close(c6);
}

static void test_conflicts(void **state)
{
	struct coop_udp_stats gs;
	char err[256] = "";
	int c4;

	(void)state;
	NEED_ROOT();
	add(mkvs("a", "198.18.0.1,198.18.0.2", 5002, "tag", 0));
	/* Same address, same namespace, same port: refused, naming a. */
	assert_int_equal(coop_udp_vs_add(u,
					 &mkvs("dup", "198.18.0.3,198.18.0.2", 5002, "tag", 0)->vs,
					 err, sizeof(err)),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "198.18.0.2"));
	assert_non_null(strstr(err, "'a'"));
	/* A service without on_datagram. */
	assert_int_equal(
	    coop_udp_vs_add(u, &mkvs("t", "198.18.0.4", 5002, "tcponly", 0)->vs, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "datagram"));
	coop_udp_stats(u, &gs);
	assert_int_equal(gs.groups, 1);
	/* The same address on another port is another group. */
	add(mkvs("other", "198.18.0.2", 5003, "tag", 0));
	coop_udp_stats(u, &gs);
	assert_int_equal(gs.groups, 2);
	workers_start();
	c4 = client(AF_INET);
	expect_answer(c4, "198.18.0.2", 5002, "a");
	expect_answer(c4, "198.18.0.2", 5003, "other");
	/* The refused VS left nothing: its first address is nobody's. */
	expect_silence(c4, "198.18.0.3", 5002);
	workers_stop();
	close(c4);
}

/* Another process holding the port: a clear error, nothing left behind. */
static void test_port_taken(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5004)};
	struct coop_udp_stats gs;
	char err[256] = "";
	int fd;

	(void)state;
	NEED_ROOT();
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(
	    coop_udp_vs_add(u, &mkvs("a", "198.18.0.1", 5004, "tag", 0)->vs, err, sizeof(err)),
	    -EADDRINUSE);
	assert_non_null(strstr(err, "another process"));
	coop_udp_stats(u, &gs);
	assert_int_equal(gs.groups, 0);
	assert_int_equal(gs.sockets, 0);
	close(fd);
}

static void test_remove(void **state)
{
	struct coop_udp_stats gs;
	int c4;

	(void)state;
	NEED_ROOT();
	add(mkvs("a", "198.18.0.1", 5005, "tag", 0));
	add(mkvs("b", "198.18.0.2", 5005, "tag", 0));
	coop_udp_vs_del(u, &tv[1]->vs);
	workers_start();
	c4 = client(AF_INET);
	expect_answer(c4, "198.18.0.1", 5005, "a");
	expect_silence(c4, "198.18.0.2", 5005);
	workers_stop();
	coop_udp_vs_del(u, &tv[0]->vs);
	coop_udp_vs_del(u, &tv[0]->vs); /* twice: nothing */
	coop_udp_stats(u, &gs);
	assert_int_equal(gs.groups, 0);
	assert_int_equal(gs.sockets, 0);
	/* The port is free again. */
	add(mkvs("c", "198.18.0.2", 5005, "tag", 0));
	workers_start();
	expect_answer(c4, "198.18.0.2", 5005, "c");
	workers_stop();
	close(c4);
}

/* Policy routing makes the mark visible: mark 7 looks up table 100, which
 * first cannot reach the client, then can. The unmarked VS's replies in the
 * same batch are unaffected (the shared socket itself has no mark). */
static void test_mark_per_packet(void **state)
{
	struct coop_vs_udp_stats sm, sp;
	char buf[64], from[96];
	int c4, got = 0;

	(void)state;
	NEED_ROOT();
	assert_int_equal(sh("ip rule add pref 50 lookup local && ip rule del pref 0 && "
			    "ip rule add pref 10 fwmark 7 lookup 100 && "
			    "ip route add unreachable " CLIENT4 "/32 table 100"),
			 0);
	rules_set = true;
	/* The marked VS first: it creates the group's socket. */
	add(mkvs("m", "198.18.0.4", 5006, "tag", 7));
	add(mkvs("p", "198.18.0.5", 5006, "tag", 0));
	assert_int_equal(coop_udp_vs_mark(u, &tv[0]->vs), 7);
	assert_int_equal(coop_udp_vs_mark(u, &tv[1]->vs), 0);
	workers_start();
	c4 = client(AF_INET);
	/* One burst, so the three share a receive batch and a sendmmsg. */
	send_to(c4, "198.18.0.5", 5006, "1", 1);
	send_to(c4, "198.18.0.4", 5006, "2", 1);
	send_to(c4, "198.18.0.5", 5006, "3", 1);
	while (recv_reply(c4, buf, sizeof(buf), from, sizeof(from), 300) > 0) {
		assert_string_equal(from, "198.18.0.5:5006");
		got++;
	}
	assert_int_equal(got, 2);
	coop_udp_vs_stats(u, &tv[0]->vs, &sm);
	coop_udp_vs_stats(u, &tv[1]->vs, &sp);
	assert_int_equal(sm.dgrams_in, 1);
	assert_int_equal(sm.drop_send, 1);
	assert_int_equal(sm.dgrams_out, 0);
	assert_int_equal(sp.dgrams_out, 2);
	assert_int_equal(sp.drop_send, 0);
	/* Table 100 reaches the client now: the marked VS answers. */
	assert_int_equal(sh("ip route replace local " CLIENT4 "/32 dev lo table 100"), 0);
	expect_answer(c4, "198.18.0.4", 5006, "m");
	workers_stop();
	close(c4);
}

static void test_drop_sendto_big(void **state)
{
	struct coop_vs_udp_stats st;
	char buf[65536], from[96];
	static char payload[60000];
	ssize_t n;
	int c4;

	(void)state;
	NEED_ROOT();
	add(mkvs("d", "198.18.0.1", 5007, "drop", 0));
	add(mkvs("s", "198.18.0.6,198.18.0.2", 5007, "send", 0));
	add(mkvs("g", "198.18.0.3", 5007, "big", 0));
	workers_start();
	c4 = client(AF_INET);
	expect_silence(c4, "198.18.0.1", 5007);
	coop_udp_vs_stats(u, &tv[0]->vs, &st);
	assert_int_equal(st.drop_service, 1);
	assert_int_equal(st.dgrams_in, 1);
	/* sendto leaves from the VS's first address, whichever was called. */
	send_to(c4, "198.18.0.2", 5007, "hi", 2);
	n = recv_reply(c4, buf, sizeof(buf), from, sizeof(from), 2000);
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "unsolicited", 11);
	assert_string_equal(from, "198.18.0.6:5007");
	/* A 60,000-byte datagram goes through whole. */
	memset(payload, 'z', sizeof(payload));
	send_to(c4, "198.18.0.3", 5007, payload, sizeof(payload));
	n = recv_reply(c4, buf, sizeof(buf), from, sizeof(from), 2000);
	assert_int_equal(n, sizeof(payload));
	assert_memory_equal(buf, payload, sizeof(payload));
	coop_udp_vs_stats(u, &tv[2]->vs, &st);
	assert_int_equal(st.bytes_in, sizeof(payload));
	assert_int_equal(st.bytes_out, sizeof(payload));
	workers_stop();
	close(c4);
}

/* A client socket of family AF_INET bound to CLIENT4:port (SO_REUSEPORT:
 * the port may be one the demux holds on the wildcard). */
static int client_port(uint16_t port)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	inet_pton(AF_INET, CLIENT4, &s.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&s, sizeof(s)), 0);
	return fd;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Send n datagrams to addr:port at once, then count the replies that come
 * within ms of quiet. *busy_ms, when given: how long the sending and the
 * replies took (the quiet at the end not counted). */
static int burst_timed(int fd, const char *addr, uint16_t port, int n, int ms, uint64_t *busy_ms)
{
	char buf[512], from[96];
	uint64_t t0 = mono_ms(), t1 = t0;
	int i, got = 0;

	for (i = 0; i < n; i++)
		send_to(fd, addr, port, "ping", 4);
	while (recv_reply(fd, buf, sizeof(buf), from, sizeof(from), ms) > 0) {
		got++;
		t1 = mono_ms();
	}
	if (busy_ms)
		*busy_ms = t1 - t0;
	return got;
}

static int burst(int fd, const char *addr, uint16_t port, int n, int ms)
{
	return burst_timed(fd, addr, port, n, ms, NULL);
}

/* Each VS may send COOP_UDP_REPLY_RATE replies a second, a burst at once;
 * the rest are dropped and counted. Another VS of the group has its own
 * budget. Here 100/s, 10 at once, so that the test's own time hardly adds
 * any. */
static void test_reply_rate(void **state)
{
	struct coop_vs_udp_stats st;
	uint64_t busy;
	int c4, got;

	(void)state;
	NEED_ROOT();
	coop_udp_reply_limit(u, 100, 10);
	add(mkvs("a", "198.18.0.1", 5010, "tag", 0));
	add(mkvs("b", "198.18.0.2", 5010, "tag", 0));
	workers_start();
	c4 = client(AF_INET);
	/* The burst, and one more for every 10 ms the test itself took (a
	 * loaded machine may stop it between two receive batches). */
	got = burst_timed(c4, "198.18.0.1", 5010, 60, 150, &busy);
	assert_true(got >= 10 && (uint64_t)got <= 11 + busy / 10);
	coop_udp_vs_stats(u, &tv[0]->vs, &st);
	assert_int_equal(st.dgrams_in, 60);
	assert_int_equal(st.dgrams_out, (uint64_t)got);
	assert_int_equal(st.drop_rate, 60 - (uint64_t)got);
	assert_int_equal(st.drop_service + st.drop_send, 0);
	/* b was quiet: its whole burst. */
	assert_int_equal(burst(c4, "198.18.0.2", 5010, 10, 150), 10);
	/* Half a second on, a's bucket is full again - but only a burst's
	 * worth, not the 50 replies of the time. */
	usleep(500000);
	got = burst_timed(c4, "198.18.0.1", 5010, 60, 150, &busy);
	assert_true(got >= 10 && (uint64_t)got <= 11 + busy / 10);
	workers_stop();
	/* No limit. */
	coop_udp_reply_limit(u, 0, 0);
	workers_start();
	assert_int_equal(burst(c4, "198.18.0.1", 5010, 60, 150), 60);
	workers_stop();
	close(c4);
}

/* echo and whoami answer nothing from a reserved port or from the port
 * they listen on: that is how another service, or another VS's echo,
 * would speak to them when a forged source sets them talking. */
static void test_service_ports(void **state)
{
	struct coop_vs_udp_stats st;
	int c4, c7, csame;

	(void)state;
	NEED_ROOT();
	add(mkvs("e", "198.18.0.1", 5011, "echo", 0));
	add(mkvs("w", "198.18.0.2", 5011, "whoami", 0));
	workers_start();
	c4 = client(AF_INET);
	c7 = client_port(7);
	csame = client_port(5011);
	assert_int_equal(burst(c4, "198.18.0.1", 5011, 1, 200), 1);
	assert_int_equal(burst(c4, "198.18.0.2", 5011, 1, 200), 1);
	assert_int_equal(burst(c7, "198.18.0.1", 5011, 1, 200), 0);
	assert_int_equal(burst(c7, "198.18.0.2", 5011, 1, 200), 0);
	assert_int_equal(burst(csame, "198.18.0.1", 5011, 1, 200), 0);
	assert_int_equal(burst(csame, "198.18.0.2", 5011, 1, 200), 0);
	coop_udp_vs_stats(u, &tv[0]->vs, &st);
	assert_int_equal(st.dgrams_in, 3);
	assert_int_equal(st.dgrams_out, 1);
	assert_int_equal(st.drop_service, 2);
	coop_udp_vs_stats(u, &tv[1]->vs, &st);
	assert_int_equal(st.drop_service, 2);
	workers_stop();
	close(c4);
	close(c7);
	close(csame);
}

/* Address of churn VS i (1..CHURN). */
#define CHURN 1000
static void churn_addr(int i, char *buf, size_t len)
{
	snprintf(buf, len, "198.18.%d.%d", 128 + i / 256, i % 256);
}

/* Every present VS answers its own address (checked from the reply), every
 * absent one's datagram is counted as owned by nobody. */
static void churn_check(int c4, const bool *present)
{
	struct coop_udp_stats gs0, gs;
	char a[32], buf[64], from[96], want[64];
	int i, j, expect, got;
	ssize_t n;

	coop_udp_stats(u, &gs0);
	for (i = 1; i <= CHURN; i += 100) {
		expect = 0;
		for (j = i; j < i + 100 && j <= CHURN; j++) {
			churn_addr(j, a, sizeof(a));
			send_to(c4, a, 5009, a, strlen(a));
			expect += present[j];
		}
		for (got = 0; got < expect; got++) {
			n = recv_reply(c4, buf, sizeof(buf) - 1, from, sizeof(from), 2000);
			assert_true(n > 0);
			buf[n] = '\0';
			/* "tNNN|ADDR" from ADDR:5009, and tNNN owns ADDR */
			j = atoi(buf + 1);
			assert_true(j >= 1 && j <= CHURN && present[j]);
			churn_addr(j, a, sizeof(a));
			snprintf(want, sizeof(want), "t%d|%s", j, a);
			assert_string_equal(buf, want);
			snprintf(want, sizeof(want), "%s:5009", a);
			assert_string_equal(from, want);
		}
	}
	expect = 0;
	for (j = 1; j <= CHURN; j++)
		expect += !present[j];
	for (i = 0; i < 2000; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		coop_udp_stats(u, &gs);
		if (gs.drop_no_vs - gs0.drop_no_vs >= (uint64_t)expect)
			break;
		usleep(1000);
	}
	assert_int_equal(gs.drop_no_vs - gs0.drop_no_vs, expect);
}

/* 1,000 VSes; half removed in random order, some added back into the
 * holes: the address table stays exact through growth and deletion. */
static void test_table_churn(void **state)
{
	static bool present[CHURN + 1];
	struct tvs *t[CHURN + 1];
	char a[32], name[16];
	int c4, i, k;

	(void)state;
	NEED_ROOT();
	for (i = 1; i <= CHURN; i++) {
		churn_addr(i, a, sizeof(a));
		snprintf(name, sizeof(name), "t%d", i);
		t[i] = mkvs(name, a, 5009, "tag", 0);
		add(t[i]);
		present[i] = true;
	}
	c4 = client(AF_INET);
	workers_start();
	churn_check(c4, present);
	workers_stop();
	srand(4);
	for (k = 0; k < CHURN / 2;) {
		i = 1 + rand() % CHURN;
		if (!present[i])
			continue;
		coop_udp_vs_del(u, &t[i]->vs);
		present[i] = false;
		k++;
	}
	workers_start();
	churn_check(c4, present);
	workers_stop();
	for (i = 1; i <= CHURN; i += 3) {
		if (present[i])
			continue;
		add(t[i]);
		present[i] = true;
	}
	workers_start();
	churn_check(c4, present);
	workers_stop();
	close(c4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dispatch, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_no_vs_then_wildcard, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_conflicts, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_port_taken, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_mark_per_packet, setup1, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_sendto_big, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_rate, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_service_ports, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_table_churn, setup1, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
