/* outbound_test.c - coop_vs_tcp_connect end to end (root): a VS in its own
 * namespace accepts a client and, from inside the VS, connects to an
 * upstream server in another namespace, which answers with the source
 * address it saw; the client must read the VS's own address. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/coop.h"

static char pfx[32];             /* ct<pid>o: names of everything made here */
static struct sockaddr_in upstream; /* the server the VS connects to */
static char reply[128];          /* what the client read */
static int connect_err = 1;      /* result given to the connect callback */
static struct coop *runtime;     /* for the client thread's coop_stop */

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void cleanup(void)
{
	/* The upstream server, by the pid recorded when it was started. */
	sh("[ -f /tmp/%s.pid ] && kill $(cat /tmp/%s.pid) 2>/dev/null; rm -f /tmp/%s.pid; "
	   "ip netns del %s-up 2>/dev/null; ip netns del %s-vs 2>/dev/null; "
	   "ip link del %sv 2>/dev/null; true", pfx, pfx, pfx, pfx, pfx, pfx);
}

/* The upstream side of a relayed pair: data goes to the client. */
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

static const struct coop_service upstream_svc = {
	.name = "upstream", .on_read = up_read, .on_close = up_close,
};

static void connected(struct coop_conn *up, int err, void *arg)
{
	struct coop_conn *client = arg;

	connect_err = err;
	if (err) {
		coop_conn_write(client, "connect failed\n", 15);
		coop_conn_close(client);
		return;
	}
	coop_conn_set_data(up, client);
	coop_conn_set_data(client, up);
}

/* The service under test: every accepted client is relayed to upstream
 * through a connection opened from inside the VS. */
static int relay_accept(struct coop_conn *client)
{
	return coop_vs_tcp_connect(coop_conn_vs(client), (struct sockaddr *)&upstream,
				   sizeof(upstream), &upstream_svc, connected, client);
}

static void relay_read(struct coop_conn *client, const void *data, size_t len)
{
	(void)client;
	(void)data;
	(void)len;
}

static void relay_close(struct coop_conn *client)
{
	struct coop_conn *up = coop_conn_data(client);

	if (up)
		coop_conn_set_data(up, NULL);
}

static const struct coop_service relay_svc = {
	.name = "relay", .on_accept = relay_accept, .on_read = relay_read,
	.on_close = relay_close,
};

/* Client thread: from the upstream namespace, connect to the VS and read
 * what comes back, then stop the runtime. */
static void *client_main(void *arg)
{
	struct sockaddr_in vs = { .sin_family = AF_INET, .sin_port = htons(9) };
	char path[128];
	size_t got = 0;
	int fd, nsfd, i;
	ssize_t n;

	(void)arg;
	snprintf(path, sizeof(path), "/run/netns/%s-up", pfx);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
		goto out;
	inet_pton(AF_INET, "198.18.9.1", &vs.sin_addr);
	for (i = 0; i < 50; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&vs, sizeof(vs)) == 0)
			break;
		close(fd);
		fd = -1;
		usleep(20000);
	}
	if (fd < 0)
		goto out;
	while (got < sizeof(reply) - 1 && (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
		got += n;
	close(fd);
out:
	coop_stop(runtime);
	return NULL;
}

static void test_outbound_from_vs(void **state)
{
	char ini[] = "/tmp/coop-outbound-XXXXXX", err[512];
	pthread_t client;
	FILE *f;
	int fd;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	snprintf(pfx, sizeof(pfx), "ct%do", (int)getpid());
	cleanup();
	assert_int_equal(sh("ip netns add %s-up && ip link add %sv type veth peer name %svu && "
			    "ip link set %svu netns %s-up && "
			    "nsenter --net=/run/netns/%s-up sh -c 'ip link set lo up; ip link set %svu up; "
			    "ip addr add 198.18.9.2/24 dev %svu'",
			    pfx, pfx, pfx, pfx, pfx, pfx, pfx, pfx), 0);
	/* The upstream server answers with the peer address it saw. */
	assert_int_equal(sh("nsenter --net=/run/netns/%s-up socat TCP-LISTEN:9100,bind=198.18.9.2,"
			    "reuseaddr,fork SYSTEM:'echo $SOCAT_PEERADDR' >/dev/null 2>&1 & echo $! >/tmp/%s.pid",
			    pfx, pfx), 0);
	upstream.sin_family = AF_INET;
	upstream.sin_port = htons(9100);
	inet_pton(AF_INET, "198.18.9.2", &upstream.sin_addr);

	fd = mkstemp(ini);
	f = fdopen(fd, "w");
	fprintf(f, "[global]\nworkers = 2\nadmin_socket = none\n\n"
		   "[vs out]\nnamespace = %s-vs\ninterface = %sv\n"
		   "addresses = 198.18.9.1/24\nlisten = tcp:9 relay\n", pfx, pfx);
	fclose(f);

	runtime = coop_new();
	assert_non_null(runtime);
	assert_int_equal(coop_service_register(runtime, &relay_svc), 0);
	if (coop_configure(runtime, ini, err, sizeof(err)) < 0 ||
	    coop_start(runtime, err, sizeof(err)) < 0) {
		unlink(ini);
		cleanup();
		fail_msg("%s", err);
	}
	unlink(ini);
	usleep(200000); /* let socat listen */
	pthread_create(&client, NULL, client_main, NULL);
	coop_run(runtime);
	pthread_join(client, NULL);
	coop_free(runtime);
	cleanup();
	assert_int_equal(connect_err, 0);
	assert_string_equal(reply, "198.18.9.1\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbound_from_vs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
