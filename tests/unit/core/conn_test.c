/* conn_test.c - connections on a hand-built worker over socketpairs:
 * buffering, back-pressure, graceful and abrupt closes, counters; and the
 * runtime's service registry. No root needed. */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/runtime.h"
#include "core/vs.h"

/* One worker, one VS, run on the test's own thread. */
struct fixture {
	struct coop c;
	struct coop_worker w;
	struct coop_vs vs;
	struct coop_vs *vsp; /* c.vs */
	struct coop_vs_cfg cfg;
	struct coop_vs_wstats ws;
};

static int closes;      /* on_close calls */
static size_t reads;    /* bytes seen by on_read */

static void count_close(struct coop_conn *conn)
{
	(void)conn;
	closes++;
}

static void count_read(struct coop_conn *conn, const void *data, size_t len)
{
	(void)conn;
	(void)data;
	reads += len;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->w.coop = &f->c;
	f->w.loop = ev_loop_new(EVFLAG_AUTO);
	f->c.workers = &f->w;
	f->c.n_workers = 1;
	snprintf(f->cfg.name, sizeof(f->cfg.name), "t1");
	f->vs.coop = &f->c;
	f->vs.cfg = &f->cfg;
	f->vs.wstats = &f->ws;
	f->vs.n_workers = 1;
	f->vs.state = COOP_VS_UP;
	f->vsp = &f->vs;
	f->c.vs = &f->vsp;
	f->c.n_vs = 1;
	assert_int_equal(coop_conn_vs_sync(&f->c), 0);
	closes = 0;
	reads = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	coop_conn_close_all(&f->w);
	coop_conn_vs_free(&f->c);
	ev_loop_destroy(f->w.loop);
	free(f);
	return 0;
}

/* Run the worker loop until nothing is pending or n iterations. */
static void spin(struct fixture *f, int n)
{
	while (n-- > 0)
		ev_run(f->w.loop, EVRUN_NOWAIT);
}

static struct coop_conn *accept_pair(struct fixture *f, const struct coop_service *svc, int *peer)
{
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	struct coop_conn *conn;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	conn = coop_conn_new(&f->w, &f->vs, svc, sv[0], false);
	assert_non_null(conn);
	/* as the listener does */
	atomic_fetch_add(&f->ws.accepted, 1);
	coop_conn_accepted(conn, (struct sockaddr *)&ss, sizeof(sa_family_t));
	*peer = sv[1];
	return conn;
}

static size_t drain(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += n;
	return got;
}

static void test_echo_roundtrip(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int peer;

	accept_pair(f, &coop_service_echo, &peer);
	assert_int_equal(write(peer, "hello", 5), 5);
	spin(f, 4);
	assert_int_equal(drain(peer, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(atomic_load(&f->ws.bytes_in), 5);
	assert_int_equal(atomic_load(&f->ws.bytes_out), 5);
	close(peer);
	spin(f, 4);
	assert_null(f->w.conns);
	assert_int_equal(atomic_load(&f->ws.closed), 1);
}

static void test_whoami_writes_name_and_closes(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int peer;
	ssize_t n;

	accept_pair(f, &coop_service_whoami, &peer);
	spin(f, 4);
	n = drain(peer, buf, sizeof(buf));
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "t1\n", 3);
	assert_null(f->w.conns);
	/* The socket was closed: the peer reads end of file. */
	assert_int_equal(read(peer, buf, sizeof(buf)), 0);
	close(peer);
}

/* The peer shuts down its side with echo output still queued: everything
 * is delivered before the connection closes. */
static void test_half_close_flushes(void **state)
{
	struct fixture *f = *state;
	static char big[3 << 20], back[3 << 20];
	size_t got = 0, sent = 0;
	int peer, i;

	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (char)(i * 7);
	accept_pair(f, &coop_service_echo, &peer);
	for (i = 0; i < 100000 && got < sizeof(big); i++) {
		ssize_t n;

		if (sent < sizeof(big)) {
			n = write(peer, big + sent, sizeof(big) - sent);
			if (n > 0)
				sent += n;
			if (sent == sizeof(big))
				shutdown(peer, SHUT_WR);
		}
		spin(f, 1);
		n = read(peer, back + got, sizeof(back) - got);
		if (n > 0)
			got += n;
	}
	assert_int_equal(got, sizeof(big));
	assert_memory_equal(big, back, sizeof(big));
	spin(f, 4);
	assert_null(f->w.conns);
	close(peer);
}

/* A peer that never reads: reading pauses at the high-water mark instead
 * of buffering without bound. */
static void test_backpressure(void **state)
{
	struct fixture *f = *state;
	static char chunk[65536];
	size_t in_before;
	int peer, i;

	accept_pair(f, &coop_service_echo, &peer);
	for (i = 0; i < 200; i++) {
		if (write(peer, chunk, sizeof(chunk)) < 0 && errno != EAGAIN)
			fail();
		spin(f, 1);
	}
	in_before = atomic_load(&f->ws.bytes_in);
	for (i = 0; i < 50; i++) {
		if (write(peer, chunk, sizeof(chunk)) < 0 && errno != EAGAIN)
			fail();
		spin(f, 1);
	}
	/* Once paused, nothing more is read however long the loop spins. */
	assert_int_equal(atomic_load(&f->ws.bytes_in), in_before);
	assert_true(in_before < 4u << 20);
	close(peer);
	spin(f, 4);
	assert_null(f->w.conns);
}

/* A peer that resets: the connection goes away, on_close runs once. */
static void test_reset_calls_on_close_once(void **state)
{
	static const struct coop_service svc = {
		.name = "count", .on_read = count_read, .on_close = count_close,
	};
	struct fixture *f = *state;
	int peer;

	accept_pair(f, &svc, &peer);
	assert_int_equal(write(peer, "abc", 3), 3);
	spin(f, 2);
	assert_int_equal(reads, 3);
	close(peer);
	spin(f, 4);
	assert_int_equal(closes, 1);
	assert_null(f->w.conns);
}

/* Shutdown closes every connection, calling on_close for each. */
static void test_close_all(void **state)
{
	static const struct coop_service svc = {
		.name = "count", .on_read = count_read, .on_close = count_close,
	};
	struct fixture *f = *state;
	int peers[5], i;

	for (i = 0; i < 5; i++)
		accept_pair(f, &svc, &peers[i]);
	coop_conn_close_all(&f->w);
	assert_int_equal(closes, 5);
	assert_null(f->w.conns);
	for (i = 0; i < 5; i++)
		close(peers[i]);
}

static int write_after_close; /* what coop_conn_write returned after close */

static void close_then_write(struct coop_conn *conn, const void *data, size_t len)
{
	coop_conn_close(conn);
	write_after_close = coop_conn_write(conn, data, len);
}

/* Once closing, writes are refused and the connection goes away. */
static void test_write_after_close_refused(void **state)
{
	static const struct coop_service svc = { .name = "cw", .on_read = close_then_write };
	struct fixture *f = *state;
	char buf[8];
	int peer;

	accept_pair(f, &svc, &peer);
	assert_int_equal(write(peer, "x", 1), 1);
	spin(f, 4);
	assert_int_equal(write_after_close, -EPIPE);
	assert_null(f->w.conns);
	assert_int_equal(read(peer, buf, sizeof(buf)), 0);
	close(peer);
}

/* --- a service whose on_close closes its sibling --------------------------- */

static struct coop_conn *pair[2]; /* two connections of one VS, each the other's sibling */

static void sibling_close(struct coop_conn *conn)
{
	closes++;
	/* The first to go takes the other along (an SMB session's channels,
	 * a proxy's two legs). */
	if (conn == pair[0] && pair[1]) {
		struct coop_conn *other = pair[1];

		pair[1] = NULL;
		coop_conn_close(other);
	} else if (conn == pair[1] && pair[0]) {
		struct coop_conn *other = pair[0];

		pair[0] = NULL;
		coop_conn_close(other);
	}
}

/* The VS's connections are let go of (a VS released): every on_close
 * runs once, whichever connection closes which. Returns 0 when right. */
static int sibling_scenario(struct fixture *f)
{
	static const struct coop_service svc = {
		.name = "sib", .on_read = count_read, .on_close = sibling_close,
	};
	int peers[3];

	pair[0] = accept_pair(f, &svc, &peers[0]);
	pair[1] = accept_pair(f, &svc, &peers[1]);
	/* a connection of another service after them, so the walk goes on */
	accept_pair(f, &coop_service_echo, &peers[2]);
	coop_conn_close_vs(&f->w, &f->vs);
	close(peers[0]);
	close(peers[1]);
	close(peers[2]);
	return closes == 2 && !f->w.conns ? 0 : 1;
}

/* glibc, for the child that runs the scenario: freed memory is filled
 * with 0xa5, and the thread cache of the connections' size is full, so
 * a freed connection is poisoned at once: a walk that reads one follows
 * a pointer 0xa5a5... and crashes instead of silently working. */
static void poison_frees(struct fixture *f)
{
	static const struct coop_service svc = { .name = "probe", .on_read = count_read };
	void *hold[16];
	struct coop_conn *probe;
	size_t sz, i;
	int peer;

	probe = accept_pair(f, &svc, &peer);
	sz = malloc_usable_size(probe);
	coop_conn_close_all(&f->w);
	close(peer);
	atomic_store(&f->ws.accepted, 0);
	atomic_store(&f->ws.closed, 0);
	for (i = 0; i < 16; i++)
		hold[i] = malloc(sz);
	for (i = 0; i < 16; i++)
		free(hold[i]);
	mallopt(M_PERTURB, 0xa5);
}

/* When the service's on_close closes its sibling while coop_conn_close_vs
 * walks the list, the walk must not visit the freed sibling (it used to
 * keep a pointer to it): run in a child with freed memory poisoned, and
 * under valgrind when it is installed. */
static void test_close_vs_sibling(void **state)
{
	struct fixture *f = *state;
	char self[4096], cmd[4200];
	ssize_t n;
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a crash kills the child (cmocka would report it and run
		 * the other tests in the child too) */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		poison_frees(f);
		_exit(sibling_scenario(f));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		print_error("coop_conn_close_vs used a freed connection (signal %d)\n", WTERMSIG(st));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);

	/* the same in this process, for the counters */
	assert_int_equal(sibling_scenario(f), 0);
	assert_int_equal(atomic_load(&f->ws.closed), 3);

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	if (access("/usr/bin/valgrind", X_OK) != 0)
		return;
	snprintf(cmd, sizeof(cmd),
		 "CONN_TEST_SIBLING=1 /usr/bin/valgrind -q --error-exitcode=99 --leak-check=no '%s'",
		 self);
	st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		print_error("under valgrind: %s: status %d\n", cmd, st);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* --- output bounds -------------------------------------------------------- */

static int last_write; /* what the amplifier's last coop_conn_write returned */
static size_t amp_out; /* bytes it queued */

/* 1,000 bytes of reply per byte of request: many pipelined portmap DUMPs. */
static void amplify(struct coop_conn *conn, const void *data, size_t len)
{
	static char reply[1000];
	size_t i;

	(void)data;
	reads += len;
	for (i = 0; i < len; i++) {
		last_write = coop_conn_write(conn, reply, sizeof(reply));
		if (last_write < 0)
			return;
		amp_out += sizeof(reply);
	}
}

/* A peer that asks for much more than it reads: reading stops at out_high,
 * and the write that would take the unsent output past out_max closes the
 * connection, within a single read (it used to be checked only per read,
 * so one read's replies queued without bound). */
static void test_out_max_closes(void **state)
{
	static const struct coop_service svc = {
		.name = "amp", .on_read = amplify, .on_close = count_close,
	};
	struct fixture *f = *state;
	static char req[2000], sink[1 << 20];
	struct coop_conn_limit_stats ls;
	size_t got = 0;
	ssize_t n;
	int peer, i;

	f->cfg.out_high = 4096;
	f->cfg.out_max = 65536;
	last_write = 0;
	amp_out = 0;
	accept_pair(f, &svc, &peer);
	assert_int_equal(write(peer, req, sizeof(req)), (ssize_t)sizeof(req));
	spin(f, 4);
	assert_int_equal(last_write, -ENOBUFS);
	assert_true(amp_out <= 65536);
	assert_null(f->w.conns);
	assert_int_equal(closes, 1);
	coop_conn_limit_stats_get(&f->vs, &ls);
	assert_int_equal(ls.closed_out_max, 1);
	/* the peer gets at most what the socket took before, then the end */
	for (i = 0; i < 100; i++) {
		n = read(peer, sink, sizeof(sink));
		if (n <= 0)
			break;
		got += n;
	}
	assert_true(got <= 65536);
	close(peer);
}

/* coop_conn_write past out_max from outside a callback (a timer of the
 * application): refused, and the connection stays valid until the loop
 * runs, then goes. */
static void test_out_max_outside_callback(void **state)
{
	static const struct coop_service svc = {
		.name = "count", .on_read = count_read, .on_close = count_close,
	};
	struct fixture *f = *state;
	static char big[70000];
	struct coop_conn *conn;
	int peer;

	f->cfg.out_high = 4096;
	f->cfg.out_max = 65536;
	conn = accept_pair(f, &svc, &peer);
	assert_int_equal(coop_conn_write(conn, big, 1000), 0);
	assert_int_equal(coop_conn_write(conn, big, sizeof(big)), -ENOBUFS);
	assert_ptr_equal(coop_conn_vs(conn), &f->vs); /* still there */
	assert_int_equal(closes, 0);
	assert_int_equal(coop_conn_write(conn, "x", 1), -EPIPE);
	spin(f, 4);
	assert_null(f->w.conns);
	assert_int_equal(closes, 1);
	close(peer);
}

/* --- connection limits ------------------------------------------------------ */

static int accepts; /* on_accept calls */

static int count_accept(struct coop_conn *conn)
{
	(void)conn;
	accepts++;
	return 0;
}

/* Over max_connections (the VS's, then the runtime's) an accepted
 * connection is closed at once, its service never sees it, and it is
 * counted; the open ones go on. */
static void test_max_connections(void **state)
{
	static const struct coop_service svc = {
		.name = "count", .on_accept = count_accept, .on_read = count_read,
		.on_close = count_close,
	};
	struct fixture *f = *state;
	struct coop_conn_limit_stats ls;
	int peers[6], i;
	char buf[8];

	accepts = 0;
	f->cfg.max_connections = 2;
	for (i = 0; i < 3; i++)
		accept_pair(f, &svc, &peers[i]);
	assert_int_equal(accepts, 2);
	assert_int_equal(atomic_load(&f->w.n_conns), 2);
	assert_int_equal(read(peers[2], buf, sizeof(buf)), 0); /* closed at once */
	assert_int_equal(read(peers[0], buf, sizeof(buf)), -1); /* open, nothing to read */
	coop_conn_limit_stats_get(&f->vs, &ls);
	assert_int_equal(ls.refused_vs, 1);
	assert_int_equal(ls.refused_global, 0);
	/* the VS's own limit raised (a reload), the runtime's one applies */
	f->cfg.max_connections = 10;
	atomic_store(&f->c.max_conns, 3);
	accept_pair(f, &svc, &peers[3]);
	accept_pair(f, &svc, &peers[4]);
	assert_int_equal(accepts, 3);
	assert_int_equal(read(peers[4], buf, sizeof(buf)), 0);
	coop_conn_limit_stats_get(&f->vs, &ls);
	assert_int_equal(ls.refused_vs, 1);
	assert_int_equal(ls.refused_global, 1);
	assert_int_equal(closes, 0); /* refused ones owe no on_close */
	/* one goes, one more fits */
	close(peers[0]);
	spin(f, 4);
	assert_int_equal(closes, 1);
	accept_pair(f, &svc, &peers[5]);
	assert_int_equal(accepts, 4);
	assert_int_equal(atomic_load(&f->w.n_conns), 3);
	for (i = 1; i < 6; i++)
		close(peers[i]);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* idle_timeout closes a connection without a byte either way, not one
 * that talks; a value changed meanwhile (a reload) is what counts. */
static void test_idle_timeout(void **state)
{
	static const struct coop_service svc = {
		.name = "count", .on_read = count_read, .on_close = count_close,
	};
	struct fixture *f = *state;
	struct coop_conn_limit_stats ls;
	int quiet, talker;
	double t0;
	char buf[8];

	f->cfg.idle_timeout_ms = 200;
	accept_pair(f, &svc, &quiet);
	accept_pair(f, &coop_service_echo, &talker);
	t0 = now_s();
	while (now_s() - t0 < 0.6) {
		assert_int_equal(write(talker, "x", 1), 1);
		ev_run(f->w.loop, EVRUN_ONCE);
		while (read(talker, buf, sizeof(buf)) > 0)
			;
		usleep(20000);
	}
	assert_int_equal(closes, 1);
	assert_int_equal(read(quiet, buf, sizeof(buf)), 0);
	assert_int_equal(atomic_load(&f->w.n_conns), 1);
	coop_conn_limit_stats_get(&f->vs, &ls);
	assert_int_equal(ls.closed_idle, 1);
	close(quiet);
	close(talker);
	spin(f, 4);
	assert_null(f->w.conns);
}

/* --- a graceful stop ---------------------------------------------------------- */

/* A stop with a half-closed peer's replies still queued: they are all
 * delivered, then the end of the stream (closing everything at once, as a
 * stop used to, loses them). */
static void test_stop_flushes_half_closed(void **state)
{
	struct fixture *f = *state;
	static char big[3 << 20], back[3 << 20];
	size_t got = 0, sent = 0;
	int peer, i;
	bool done = false;
	ssize_t n;

	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (char)(i * 13);
	accept_pair(f, &coop_service_echo, &peer);
	/* the peer sends what fits without reading: coopd's replies pile
	 * up to out_high, the rest waits in the sockets */
	for (i = 0; i < 1000 && sent < sizeof(big); i++) {
		n = write(peer, big + sent, sizeof(big) - sent);
		if (n > 0)
			sent += n;
		spin(f, 1);
	}
	assert_true(sent < sizeof(big));
	/* the stop begins; the peer sends the rest, half-closes and reads */
	f->w.stopping = true;
	ev_now_update(f->w.loop);
	f->w.stop_began = ev_now(f->w.loop);
	for (i = 0; i < 200000 && !done; i++) {
		if (sent < sizeof(big)) {
			n = write(peer, big + sent, sizeof(big) - sent);
			if (n > 0)
				sent += n;
			if (sent == sizeof(big))
				shutdown(peer, SHUT_WR);
		}
		done = coop_conn_stop_step(&f->w, false);
		spin(f, 1);
		n = read(peer, back + got, sizeof(back) - got);
		if (n > 0)
			got += n;
	}
	assert_true(done);
	while ((n = read(peer, back + got, sizeof(back) - got)) > 0)
		got += n;
	assert_int_equal(got, sizeof(big));
	assert_memory_equal(big, back, sizeof(big));
	assert_int_equal(n, 0); /* then the end of the stream */
	close(peer);
}

/* A stop with a peer that sent a request and waits, its connection still
 * open: the reply is delivered, then the connection closes; a peer that
 * reads nothing is closed when the grace ends (force). */
static void test_stop_answers_then_closes(void **state)
{
	struct fixture *f = *state;
	int talker, stuck, i;
	char buf[64];
	bool done = false, eof = false;
	size_t got = 0;
	double t0;
	static char flood[1 << 20];
	ssize_t n;

	accept_pair(f, &coop_service_echo, &talker);
	accept_pair(f, &coop_service_echo, &stuck);
	assert_int_equal(write(talker, "ping", 4), 4);
	/* stuck fills both directions and never reads */
	while (write(stuck, flood, sizeof(flood)) > 0 || errno == EINTR)
		spin(f, 1);
	f->w.stopping = true;
	ev_now_update(f->w.loop);
	f->w.stop_began = ev_now(f->w.loop);
	/* talker is quiet once answered, so it closes after a moment */
	t0 = now_s();
	for (i = 0; now_s() - t0 < 2 && !eof; i++) {
		done = coop_conn_stop_step(&f->w, false);
		spin(f, 1);
		n = read(talker, buf + got, sizeof(buf) - got);
		if (n > 0)
			got += n;
		eof = n == 0;
		usleep(5000);
	}
	assert_true(eof);
	assert_int_equal(got, 4);
	assert_memory_equal(buf, "ping", 4);
	for (i = 0; i < 100 && atomic_load(&f->w.n_conns) > 1; i++) {
		done = coop_conn_stop_step(&f->w, false);
		spin(f, 1);
	}
	assert_false(done); /* stuck owes output its peer does not take */
	assert_int_equal(atomic_load(&f->w.n_conns), 1); /* talker went on its own */
	assert_true(coop_conn_stop_step(&f->w, true));
	assert_null(f->w.conns);
	n = read(stuck, buf, sizeof(buf));
	assert_true(n >= 0 || errno == ECONNRESET);
	close(talker);
	close(stuck);
}

/* --- outbound connections into a VS that is letting go ------------------------- */

static int reconnect_ret = 1; /* what on_close's coop_vs_tcp_connect returned */
static struct sockaddr_in upstream;

static void never_called(struct coop_conn *conn, int err, void *arg)
{
	(void)conn;
	(void)err;
	(void)arg;
}

static void reconnect_on_close(struct coop_conn *conn)
{
	static const struct coop_service up = { .name = "up", .on_read = count_read };

	reconnect_ret = coop_vs_tcp_connect(coop_conn_vs(conn), (struct sockaddr *)&upstream,
					    sizeof(upstream), &up, never_called, NULL);
}

static int plain_socket(struct coop_vs *vs, int domain, int type, int protocol)
{
	int fd;

	(void)vs;
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	return fd < 0 ? -errno : fd;
}

struct on_worker {
	struct coop_vs *vs;     /* the VS */
	int peer;               /* the accepted connection's peer */
	int ret;                /* a coop_vs_tcp_connect result */
	bool any;               /* the worker has connections */
};

static void accept_on_worker(struct coop_worker *w, void *arg)
{
	static const struct coop_service svc = {
		.name = "rc", .on_read = count_read, .on_close = reconnect_on_close,
	};
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	struct on_worker *ow = arg;
	struct coop_conn *conn;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	conn = coop_conn_new(w, ow->vs, &svc, sv[0], false);
	atomic_fetch_add(&ow->vs->wstats[w->id].accepted, 1);
	coop_conn_accepted(conn, (struct sockaddr *)&ss, sizeof(sa_family_t));
	ow->peer = sv[1];
}

static void connect_on_worker(struct coop_worker *w, void *arg)
{
	static const struct coop_service up = { .name = "up", .on_read = count_read };
	struct on_worker *ow = arg;

	(void)w;
	ow->ret = coop_vs_tcp_connect(ow->vs, (struct sockaddr *)&upstream, sizeof(upstream), &up,
				      never_called, NULL);
}

/* What runtime/vsctl.c's release does on each worker. */
static void release_on_worker(struct coop_worker *w, void *arg)
{
	struct on_worker *ow = arg;

	coop_conn_close_vs(w, ow->vs);
	ow->any = w->conns != NULL;
}

/* A VS being removed lets go of its connections; a service's on_close
 * that reconnects (a proxy's upstream leg) must be refused, or the new
 * connection would outlive its VS. Up or draining, connects work. */
static void test_outbound_refused_when_released(void **state)
{
	static const struct coop_iso_ops iso = { .name = "plain", .socket = plain_socket };
	struct coop_vs_wstats ws;
	struct coop_vs_cfg cfg = { .name = "rel" };
	struct coop_vs vs = { .cfg = &cfg, .iso = &iso, .wstats = &ws, .n_workers = 1 };
	struct coop_vs *vsp = &vs;
	struct coop c = { .n_workers = 1, .vs = &vsp, .n_vs = 1 };
	struct on_worker ow = { .vs = &vs };
	socklen_t sl = sizeof(upstream);
	char err[128];
	int lfd;

	(void)state;
	memset(&ws, 0, sizeof(ws));
	vs.coop = &c;
	pthread_mutex_init(&c.park.lock, NULL);
	pthread_cond_init(&c.park.cond, NULL);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	upstream = (struct sockaddr_in){ .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(lfd, (struct sockaddr *)&upstream, sizeof(upstream)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&upstream, &sl), 0);
	assert_int_equal(coop_workers_start(&c, err, sizeof(err)), 0);

	vs.state = COOP_VS_UP;
	coop_workers_run(&c, connect_on_worker, &ow);
	assert_int_equal(ow.ret, 0);
	vs.state = COOP_VS_DRAINING;
	coop_workers_run(&c, connect_on_worker, &ow);
	assert_int_equal(ow.ret, 0);
	vs.state = COOP_VS_LOSING;
	coop_workers_run(&c, connect_on_worker, &ow);
	assert_int_equal(ow.ret, -ESHUTDOWN);

	/* a removal: state first, then every worker lets go */
	vs.state = COOP_VS_UP;
	coop_workers_run(&c, accept_on_worker, &ow);
	vs.state = COOP_VS_REMOVING;
	coop_workers_run(&c, release_on_worker, &ow);
	assert_int_equal(reconnect_ret, -ESHUTDOWN);
	assert_false(ow.any);

	coop_workers_stop(&c);
	coop_workers_free(&c);
	close(ow.peer);
	close(lfd);
	pthread_cond_destroy(&c.park.cond);
	pthread_mutex_destroy(&c.park.lock);
}

static void test_service_registry(void **state)
{
	static const struct coop_service bad = { .name = "Bad Name", .on_read = count_read };
	static const struct coop_service noread = { .name = "noread" };
	struct coop *c = coop_new();

	(void)state;
	assert_non_null(c);
	assert_int_equal(coop_service_register(c, &coop_service_echo), 0);
	assert_int_equal(coop_service_register(c, &coop_service_echo), -EEXIST);
	assert_int_equal(coop_service_register(c, &bad), -EINVAL);
	assert_int_equal(coop_service_register(c, &noread), -EINVAL);
	assert_ptr_equal(coop_service_find(c, "echo"), &coop_service_echo);
	assert_null(coop_service_find(c, "whoami"));
	coop_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whoami_writes_name_and_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_calls_on_close_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_after_close_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_vs_sibling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_max_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_max_outside_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_flushes_half_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_answers_then_closes, setup, teardown),
		cmocka_unit_test(test_outbound_refused_when_released),
		cmocka_unit_test(test_service_registry),
	};

	/* test_close_vs_sibling's run under valgrind: the scenario alone */
	if (getenv("CONN_TEST_SIBLING")) {
		void *f = NULL;
		int ret;

		setup(&f);
		ret = sibling_scenario(f);
		teardown(&f);
		return ret;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
