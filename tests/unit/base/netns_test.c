/* netns_test.c - the namespace layer (default fd, enter/return, sockets in a
 * namespace, create/attach/put, names) and the rtnetlink helpers. Tests that
 * need namespaces skip unless root; they use "ct<pid>-" names and remove
 * them in teardown even when an assertion failed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/netns.h"
#include "base/nl.h"
#include "tests/unit/root_util.h"

/* "ct<pid>-": every namespace and link this test makes starts with it. */
static char prefix[14];

static void name_of(char *buf, size_t len, const char *suffix)
{
	snprintf(buf, len, "%s%s", prefix, suffix);
}

static ino_t fd_ino(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

/* The namespace the calling thread is in now. */
static ino_t self_ino(void)
{
	struct stat st;

	assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
	return st.st_ino;
}

/* Namespace of socket fd, via SIOCGSKNS. */
static ino_t sock_ns_ino(int fd)
{
	int nsfd = ioctl(fd, SIOCGSKNS);
	ino_t ino;

	assert_true(nsfd >= 0);
	ino = fd_ino(nsfd);
	close(nsfd);
	return ino;
}

static bool need_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("not root: namespace test skipped\n");
	return false;
}

/* Remove every /run/netns/ct<pid>-* and link ct<pid>-* left by a test. */
static int cleanup(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	netns_remove_prefixed(prefix);
	sh("ip link del %sv0 2>/dev/null", prefix);
	return 0;
}

static void test_default_fd(void **state)
{
	int fd;

	(void)state;
	assert_int_equal(coop_netns_init(), 0);
	fd = coop_netns_default_fd();
	assert_true(fd >= 0);
	/* A second init keeps the first fd. */
	assert_int_equal(coop_netns_init(), 0);
	assert_int_equal(coop_netns_default_fd(), fd);
	assert_int_equal(fd_ino(fd), self_ino());
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = { "", "a/b", ".", "..", "x/" };
	struct coop_netns *ns = NULL;
	char err[256], longname[80];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(coop_netns_get(bad[i], true, &ns, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "invalid name: Invalid argument"));
		assert_false(coop_netns_exists(bad[i]));
	}
	assert_null(ns);
	/* An absolute path is attached, never created. */
	assert_int_equal(coop_netns_get("/nonexistent/ns", true, &ns, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/ns does not exist"));
	assert_null(ns);
	memset(longname, 'n', 64);
	longname[64] = '\0';
	assert_int_equal(coop_netns_get(longname, true, &ns, err, sizeof(err)), -ENAMETOOLONG);
	assert_null(ns);
	assert_false(coop_netns_exists(longname));
	/* Messages fit whatever buffer they are given. */
	assert_int_equal(coop_netns_get("a/b", true, &ns, err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
}

static void test_create_and_put(void **state)
{
	struct coop_netns *ns, *again;
	char name[64], path[128], err[256];

	(void)state;
	if (!need_root())
		return;
	name_of(name, sizeof(name), "own");
	snprintf(path, sizeof(path), "%s/%s", COOP_NETNS_DIR, name);
	assert_false(coop_netns_exists(name));
	assert_int_equal(coop_netns_get(name, false, &ns, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "does not exist"));

	assert_int_equal(coop_netns_get(name, true, &ns, err, sizeof(err)), 0);
	assert_true(ns->owned);
	assert_int_equal(ns->refs, 1);
	assert_string_equal(ns->name, name);
	assert_true(coop_netns_exists(name));
	assert_true(fcntl(ns->fd, F_GETFD) & FD_CLOEXEC);
	assert_int_not_equal(fd_ino(ns->fd), fd_ino(coop_netns_default_fd()));
	/* The file is the namespace: iproute2 sees it. */
	assert_int_equal(sh("ip netns list | grep -qw %s", name), 0);
	assert_int_equal(self_ino(), fd_ino(coop_netns_default_fd()));

	assert_int_equal(coop_netns_get(name, true, &again, err, sizeof(err)), 0);
	assert_ptr_equal(again, ns);
	assert_int_equal(ns->refs, 2);
	coop_netns_put(again);
	assert_true(coop_netns_exists(name));
	coop_netns_put(ns);
	assert_false(coop_netns_exists(name));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_attach_leaves_it(void **state)
{
	struct coop_netns *ns;
	char name[64], err[256];

	(void)state;
	if (!need_root())
		return;
	name_of(name, sizeof(name), "att");
	assert_int_equal(sh("ip netns add %s", name), 0);
	assert_int_equal(coop_netns_get(name, false, &ns, err, sizeof(err)), 0);
	assert_false(ns->owned);
	coop_netns_put(ns);
	assert_true(coop_netns_exists(name));
	/* create=true on an existing one attaches too. */
	assert_int_equal(coop_netns_get(name, true, &ns, err, sizeof(err)), 0);
	assert_false(ns->owned);
	coop_netns_put(ns);
	assert_true(coop_netns_exists(name));
	/* By absolute path: the same namespace, attached, never owned. */
	{
		char path[128];
		struct stat a, b;

		snprintf(path, sizeof(path), "/run/netns/%s", name);
		assert_int_equal(coop_netns_get(path, true, &ns, err, sizeof(err)), 0);
		assert_false(ns->owned);
		assert_int_equal(stat(path, &a), 0);
		assert_int_equal(fstat(ns->fd, &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
		coop_netns_put(ns);
		assert_true(coop_netns_exists(name));
	}
	assert_int_equal(sh("ip netns del %s", name), 0);
}

static void test_foreign_file_refused(void **state)
{
	struct coop_netns *ns = NULL;
	char name[64], path[128], err[256];
	int fd;

	(void)state;
	if (!need_root())
		return;
	name_of(name, sizeof(name), "file");
	snprintf(path, sizeof(path), "%s/%s", COOP_NETNS_DIR, name);
	mkdir(COOP_NETNS_DIR, 0755);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_false(coop_netns_exists(name));
	assert_int_equal(coop_netns_get(name, true, &ns, err, sizeof(err)), -EEXIST);
	assert_null(ns);
	assert_non_null(strstr(err, "is not a network namespace"));
	/* Not ours: still there. */
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
}

/* A namespace deleted and re-created by someone else under the same name is
 * theirs: our last put must not remove it. */
static void test_put_spares_replacement(void **state)
{
	struct coop_netns *ns;
	char name[64], err[256];

	(void)state;
	if (!need_root())
		return;
	name_of(name, sizeof(name), "repl");
	assert_int_equal(coop_netns_get(name, true, &ns, err, sizeof(err)), 0);
	assert_true(ns->owned);
	assert_int_equal(sh("ip netns del %s && ip netns add %s", name, name), 0);
	coop_netns_put(ns);
	assert_true(coop_netns_exists(name));
	assert_int_equal(sh("ip netns del %s", name), 0);
}

struct probe {
	ino_t inside;  /* namespace seen by fn */
	int calls;     /* times fn ran */
};

static int probe_fn(void *arg)
{
	struct probe *p = arg;

	p->inside = self_ino();
	p->calls++;
	return 42;
}

static void test_run_returns(void **state)
{
	struct coop_netns *ns;
	struct probe p = { 0, 0 };
	char name[64], err[256];
	ino_t def = fd_ino(coop_netns_default_fd());
	int fd;

	(void)state;
	if (!need_root())
		return;
	/* Fast path: the default namespace. */
	assert_int_equal(coop_netns_run(coop_netns_default_fd(), probe_fn, &p), 42);
	assert_int_equal(p.inside, def);

	name_of(name, sizeof(name), "run");
	assert_int_equal(coop_netns_get(name, true, &ns, err, sizeof(err)), 0);
	assert_int_equal(coop_netns_run(ns->fd, probe_fn, &p), 42);
	assert_int_equal(p.calls, 2);
	assert_int_equal(p.inside, fd_ino(ns->fd));
	assert_int_equal(self_ino(), def);

	/* Entering something that is not a namespace fails before fn. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(coop_netns_run(fd, probe_fn, &p), -EINVAL);
	assert_int_equal(coop_netns_socket(fd, AF_INET, SOCK_STREAM, 0), -EINVAL);
	close(fd);
	assert_int_equal(p.calls, 2);
	assert_int_equal(self_ino(), def);
	coop_netns_put(ns);
}

struct nest {
	int inner;      /* namespace to make a socket in from inside */
	ino_t outer;    /* namespace fn runs in */
	ino_t sock;     /* the inner socket's namespace */
	ino_t sock_def; /* namespace of a socket made for the default one */
	ino_t run;      /* namespace a nested coop_netns_run ran in */
	ino_t after;    /* namespace fn is in after both */
};

static int nest_fn(void *arg)
{
	struct probe p = { 0, 0 };
	struct nest *n = arg;
	int fd, rc;

	fd = coop_netns_socket(n->inner, AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return fd;
	n->sock = sock_ns_ino(fd);
	close(fd);
	fd = coop_netns_socket(coop_netns_default_fd(), AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return fd;
	n->sock_def = sock_ns_ino(fd);
	close(fd);
	rc = coop_netns_run(n->inner, probe_fn, &p);
	if (rc != 42)
		return -1;
	n->run = p.inside;
	n->after = self_ino();
	return 7;
}

static int create_inside(void *arg)
{
	struct nest *n = arg;
	struct coop_netns *ns;
	char name[64], err[256];
	int rc;

	name_of(name, sizeof(name), "nc");
	rc = coop_netns_get(name, true, &ns, err, sizeof(err));
	if (rc < 0)
		return rc;
	n->after = self_ino();
	coop_netns_put(ns);
	return 0;
}

/* A helper called from inside another returns to the outer namespace, not
 * to the default one. */
static void test_run_nested(void **state)
{
	struct coop_netns *a, *b;
	struct nest n = { 0 };
	char name[64], err[256];
	ino_t def = fd_ino(coop_netns_default_fd());

	(void)state;
	if (!need_root())
		return;
	name_of(name, sizeof(name), "na");
	assert_int_equal(coop_netns_get(name, true, &a, err, sizeof(err)), 0);
	name_of(name, sizeof(name), "nb");
	assert_int_equal(coop_netns_get(name, true, &b, err, sizeof(err)), 0);
	n.inner = b->fd;
	assert_int_equal(coop_netns_run(a->fd, nest_fn, &n), 7);
	assert_int_equal(n.sock, fd_ino(b->fd));
	assert_int_equal(n.sock_def, def);
	assert_int_equal(n.run, fd_ino(b->fd));
	assert_int_equal(n.after, fd_ino(a->fd));
	assert_int_equal(self_ino(), def);
	/* Creating a namespace from inside another one returns there too. */
	coop_netns_put(b);
	n.inner = -1;
	assert_int_equal(coop_netns_run(a->fd, create_inside, &n), 0);
	assert_int_equal(n.after, fd_ino(a->fd));
	assert_int_equal(self_ino(), def);
	coop_netns_put(a);
}

static void test_socket_inside(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct coop_netns *ns;
	struct ifreq ifr = { 0 };
	char name[64], err[256];
	ino_t def = fd_ino(coop_netns_default_fd());
	int fd;

	(void)state;
	if (!need_root())
		return;
	name_of(name, sizeof(name), "sock");
	assert_int_equal(coop_netns_get(name, true, &ns, err, sizeof(err)), 0);
	fd = coop_netns_socket(ns->fd, AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(sock_ns_ino(fd), fd_ino(ns->fd));
	assert_int_equal(self_ino(), def);
	/* lo came up with the namespace (asked through a socket in there). */
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	assert_true(ifr.ifr_flags & IFF_UP);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	close(fd);

	fd = coop_netns_socket(coop_netns_default_fd(), AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(sock_ns_ino(fd), def);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	assert_int_equal(coop_netns_socket(ns->fd, 12345, SOCK_STREAM, 0), -EAFNOSUPPORT);
	assert_int_equal(self_ino(), def);
	coop_netns_put(ns);
}

struct thread_job {
	int nsfd;       /* namespace to make the socket in */
	ino_t before;   /* the thread's namespace before */
	ino_t after;    /* ...and after the call */
	ino_t sock;     /* the socket's namespace */
};

static void *thread_main(void *arg)
{
	struct thread_job *job = arg;
	int fd;

	job->before = self_ino();
	fd = coop_netns_socket(job->nsfd, AF_INET, SOCK_STREAM, 0);
	if (fd >= 0) {
		job->sock = sock_ns_ino(fd);
		close(fd);
	}
	job->after = self_ino();
	return NULL;
}

/* setns is per thread: a worker thread goes in and comes back by itself,
 * and the main thread never moves. */
static void test_socket_from_thread(void **state)
{
	struct coop_netns *ns;
	struct thread_job job = { 0 };
	char name[64], err[256];
	ino_t def = fd_ino(coop_netns_default_fd());
	pthread_t t;

	(void)state;
	if (!need_root())
		return;
	name_of(name, sizeof(name), "thr");
	assert_int_equal(coop_netns_get(name, true, &ns, err, sizeof(err)), 0);
	job.nsfd = ns->fd;
	assert_int_equal(pthread_create(&t, NULL, thread_main, &job), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(job.before, def);
	assert_int_equal(job.sock, fd_ino(ns->fd));
	assert_int_equal(job.after, def);
	assert_int_equal(self_ino(), def);
	coop_netns_put(ns);
}

static void test_many_namespaces(void **state)
{
	struct coop_netns *ns[40];
	char name[64], err[256];
	int i;

	(void)state;
	if (!need_root())
		return;
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "%sm%d", prefix, i);
		assert_int_equal(coop_netns_get(name, true, &ns[i], err, sizeof(err)), 0);
	}
	/* The registry finds each by name. */
	for (i = 0; i < 40; i++) {
		struct coop_netns *again;

		snprintf(name, sizeof(name), "%sm%d", prefix, i);
		assert_int_equal(coop_netns_get(name, false, &again, err, sizeof(err)), 0);
		assert_ptr_equal(again, ns[i]);
		coop_netns_put(again);
	}
	for (i = 0; i < 40; i++) {
		coop_netns_put(ns[i]);
		snprintf(name, sizeof(name), "%sm%d", prefix, i);
		assert_false(coop_netns_exists(name));
	}
}

/* The rtnetlink helpers: lookups, flags, addresses, routes, moves, and the
 * kernel's errno (not libnl's) on failure. */
static void test_nl_helpers(void **state)
{
	struct coop_prefix p4 = { .addr.family = AF_INET, .len = 24 };
	struct coop_prefix p6 = { .addr.family = AF_INET6, .len = 64 };
	struct coop_addr gw = { .family = AF_INET };
	struct coop_nl_link link, lo;
	struct coop_netns *ns;
	struct coop_nl *nl, *def;
	char name[64], veth[IF_NAMESIZE], err[256];

	(void)state;
	if (!need_root())
		return;
	name_of(name, sizeof(name), "nl");
	name_of(veth, sizeof(veth), "v0");
	assert_int_equal(coop_netns_get(name, true, &ns, err, sizeof(err)), 0);
	assert_int_equal(coop_nl_open(ns->fd, &nl), 0);
	assert_int_equal(coop_nl_open(coop_netns_default_fd(), &def), 0);

	assert_int_equal(coop_nl_link_get(nl, 0, "lo", &lo), 0);
	assert_int_equal(lo.ifindex, 1);
	assert_true(lo.flags & IFF_UP);
	assert_int_equal(coop_nl_link_get(nl, 1, NULL, &link), 0);
	assert_string_equal(link.name, "lo");
	assert_int_equal(coop_nl_link_get(nl, 0, "nosuchlink0", &link), -ENODEV);
	assert_int_equal(coop_nl_link_get(nl, 4242, NULL, &link), -ENODEV);
	assert_int_equal(coop_nl_link_get(nl, 0, NULL, &link), -EINVAL);

	/* Addresses: add, duplicate, delete, delete again. */
	inet_pton(AF_INET, "198.18.0.1", &p4.addr.v4);
	inet_pton(AF_INET6, "2001:db8::1", &p6.addr.v6);
	assert_int_equal(coop_nl_addr_add(nl, 1, &p4), 0);
	assert_int_equal(coop_nl_addr_add(nl, 1, &p4), -EEXIST);
	assert_int_equal(coop_nl_addr_add(nl, 1, &p6), 0);
	assert_int_equal(sh("ip -n %s -o addr show dev lo | grep -q 'inet 198.18.0.1/24'", name), 0);
	/* NODAD: not tentative, usable at once. */
	assert_int_equal(sh("ip -n %s -o addr show dev lo | grep '2001:db8::1/64' | grep -qv tentative",
			    name), 0);
	assert_int_equal(coop_nl_addr_del(nl, 1, &p4), 0);
	assert_int_equal(coop_nl_addr_del(nl, 1, &p4), -EADDRNOTAVAIL);
	assert_int_equal(coop_nl_addr_del(nl, 1, &p6), 0);
	assert_int_not_equal(sh("ip -n %s -o addr show dev lo | grep -q 198.18.0.1", name), 0);

	/* An unreachable gateway: the kernel's errno and its words. */
	inet_pton(AF_INET, "198.18.77.1", &gw.v4);
	assert_int_equal(coop_nl_route_default_add(nl, &gw, 0), -ENETUNREACH);
	assert_true(strlen(coop_nl_errmsg(nl)) > 0);

	/* A link: move in, up, down, move out. */
	assert_int_equal(sh("ip link add %s type veth peer name %sv1", veth, prefix), 0);
	assert_int_equal(coop_nl_link_get(def, 0, veth, &link), 0);
	assert_false(link.flags & IFF_UP);
	assert_int_equal(coop_nl_link_move(def, link.ifindex, ns->fd), 0);
	assert_int_equal(coop_nl_link_get(def, 0, veth, &link), -ENODEV);
	assert_int_equal(coop_nl_link_get(nl, 0, veth, &link), 0);
	assert_int_equal(coop_nl_link_set_up(nl, link.ifindex, true), 0);
	assert_int_equal(coop_nl_link_get(nl, link.ifindex, NULL, &link), 0);
	assert_true(link.flags & IFF_UP);
	assert_int_equal(coop_nl_link_set_up(nl, link.ifindex, false), 0);
	assert_int_equal(coop_nl_link_get(nl, link.ifindex, NULL, &link), 0);
	assert_false(link.flags & IFF_UP);
	assert_int_equal(coop_nl_link_move(nl, link.ifindex, coop_netns_default_fd()), 0);
	assert_int_equal(coop_nl_link_get(def, 0, veth, &link), 0);
	assert_int_equal(coop_nl_link_move(nl, 4242, coop_netns_default_fd()), -ENODEV);

	coop_nl_close(def);
	coop_nl_close(nl);
	coop_netns_put(ns);
	assert_int_equal(sh("ip link del %s", veth), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_fd),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test_teardown(test_create_and_put, cleanup),
		cmocka_unit_test_teardown(test_attach_leaves_it, cleanup),
		cmocka_unit_test_teardown(test_foreign_file_refused, cleanup),
		cmocka_unit_test_teardown(test_put_spares_replacement, cleanup),
		cmocka_unit_test_teardown(test_run_returns, cleanup),
		cmocka_unit_test_teardown(test_run_nested, cleanup),
		cmocka_unit_test_teardown(test_socket_inside, cleanup),
		cmocka_unit_test_teardown(test_socket_from_thread, cleanup),
		cmocka_unit_test_teardown(test_many_namespaces, cleanup),
		cmocka_unit_test_teardown(test_nl_helpers, cleanup),
	};

	snprintf(prefix, sizeof(prefix), "ct%d-", (int)getpid());
	/* Before any thread: the default namespace is this one. */
	if (coop_netns_init() < 0) {
		fprintf(stderr, "coop_netns_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, cleanup);
}
