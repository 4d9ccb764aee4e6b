/* conn_test.c - connections on a hand-built worker over socketpairs:
 * buffering, back-pressure, graceful and abrupt closes, counters; and the
 * runtime's service registry. No root needed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/runtime.h"
#include "core/vs.h"

/* One worker, one VS, run on the test's own thread. */
struct fixture {
	struct coop c;
	struct coop_worker w;
	struct coop_vs vs;
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
	closes = 0;
	reads = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	coop_conn_close_all(&f->w);
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
		cmocka_unit_test(test_service_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
