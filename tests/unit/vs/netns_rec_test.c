/* netns_rec_test.c - the netns VS records (vs/netns_rec.c): text round
 * trip and corrupt records; the per-process log (several records and "gone"
 * lines in one file, a truncated last entry ignored, a corrupt entry named
 * by file and line, adoption from a dead owner's log, the own log removed
 * with its last record, a running owner's namespace refused, appended
 * entries of other logs seen); the store's lock; the owner's liveness by
 * pid + start time. Files go to a private temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vs/netns_rec.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/coop-rec-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void sample(struct coop_netns_rec *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->ns, sizeof(r->ns), "nas1");
	r->pid = 4242;
	r->start = 123456789ULL;
	r->ns_ino = 4026532999ULL;
	r->created = true;
	snprintf(r->ifname, sizeof(r->ifname), "veth1");
	r->moved = true;
	r->was_up = true;
	r->set_up = true;
	r->addrs = calloc(2, sizeof(*r->addrs));
	assert_int_equal(coop_prefix_parse("198.18.1.1/24", true, &r->addrs[0]), 0);
	snprintf(r->addrs[0].ifname, IF_NAMESIZE, "veth1");
	assert_int_equal(coop_prefix_parse("2001:db8:1::1/64", true, &r->addrs[1]), 0);
	snprintf(r->addrs[1].ifname, IF_NAMESIZE, "lo");
	r->n_addrs = 2;
	assert_int_equal(coop_addr_parse("198.18.1.2", &r->routes[0].gw), 0);
	assert_int_equal(coop_addr_parse("fe80::1", &r->routes[1].gw), 0);
	snprintf(r->routes[1].ifname, IF_NAMESIZE, "veth1");
	r->n_routes = 2;
}

static void assert_same(const struct coop_netns_rec *a, const struct coop_netns_rec *b)
{
	size_t i;

	assert_string_equal(a->ns, b->ns);
	assert_int_equal(a->pid, b->pid);
	assert_true(a->start == b->start);
	assert_true(a->ns_ino == b->ns_ino);
	assert_int_equal(a->created, b->created);
	assert_string_equal(a->ifname, b->ifname);
	assert_int_equal(a->moved, b->moved);
	assert_int_equal(a->was_up, b->was_up);
	assert_int_equal(a->set_up, b->set_up);
	assert_int_equal(a->n_addrs, b->n_addrs);
	for (i = 0; i < a->n_addrs; i++) {
		assert_true(coop_addr_equal(&a->addrs[i].addr, &b->addrs[i].addr));
		assert_int_equal(a->addrs[i].len, b->addrs[i].len);
		assert_string_equal(a->addrs[i].ifname, b->addrs[i].ifname);
	}
	assert_int_equal(a->n_routes, b->n_routes);
	for (i = 0; i < a->n_routes; i++) {
		assert_true(coop_addr_equal(&a->routes[i].gw, &b->routes[i].gw));
		assert_string_equal(a->routes[i].ifname, b->routes[i].ifname);
	}
}

/* The text of sample() as the record of ns by owner pid/start. */
static int rec_text(const char *ns, long pid, unsigned long long start, char *buf, size_t len)
{
	struct coop_netns_rec r;
	int n;

	sample(&r);
	snprintf(r.ns, sizeof(r.ns), "%s", ns);
	r.pid = pid;
	r.start = start;
	n = coop_netns_rec_format(&r, buf, len);
	assert_true(n > 0);
	coop_netns_rec_free(&r);
	return n;
}

/* A process that exited: a dead owner. */
static void dead_owner(long *pid, unsigned long long *start)
{
	pid_t child = fork();

	if (child == 0)
		_exit(0);
	assert_int_equal(coop_netns_rec_proc_start(child, start), 0);
	waitpid(child, NULL, 0);
	*pid = child;
}

static void log_file(long pid, unsigned long long start, char *path, size_t len)
{
	assert_int_equal(coop_netns_rec_log_path(dir, pid, start, path, len), 0);
}

static void put(const char *path, const char *mode, const char *text)
{
	FILE *f = fopen(path, mode);

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* Lines of path equal to line. */
static int count(const char *path, const char *line)
{
	char buf[512];
	FILE *f = fopen(path, "r");
	int n = 0;

	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		n += !strcmp(buf, line);
	}
	fclose(f);
	return n;
}

static void expect_ns(const char *ns, long pid)
{
	struct coop_netns_rec r;
	char err[512] = "";

	if (coop_netns_rec_read(dir, ns, &r, err, sizeof(err)) != 0)
		fail_msg("read '%s': %s", ns, err);
	assert_string_equal(r.ns, ns);
	assert_int_equal(r.pid, pid);
	coop_netns_rec_free(&r);
}

static void expect_none(const char *ns)
{
	struct coop_netns_rec r;
	char err[512];

	assert_int_equal(coop_netns_rec_read(dir, ns, &r, err, sizeof(err)), -ENOENT);
}

/* Reading ns fails as corrupt with an error containing each of want. */
static void expect_bad(const char *ns, const char *want1, const char *want2)
{
	struct coop_netns_rec r;
	char err[512] = "";

	assert_int_equal(coop_netns_rec_read(dir, ns, &r, err, sizeof(err)), -EBADMSG);
	coop_netns_rec_free(&r);
	if (!strstr(err, want1) || !strstr(err, want2))
		fail_msg("error '%s' lacks '%s' or '%s'", err, want1, want2);
}

/* This process's records: several in one log with updates and "gone"
 * lines, read back after a restart (reset), the log removed with its last
 * record. */
static void test_own_log(void **state)
{
	struct coop_netns_rec a, me = { .pid = 0 };
	char err[512], path[256];

	(void)state;
	assert_int_equal(coop_netns_rec_set_owner(&me), 0);
	log_file(me.pid, me.start, path, sizeof(path));
	sample(&a);
	a.pid = me.pid;
	a.start = me.start;
	assert_int_equal(coop_netns_rec_write(dir, &a, true, err, sizeof(err)), 0);
	assert_true(exists(path));
	snprintf(a.ns, sizeof(a.ns), "nas2");
	assert_int_equal(coop_netns_rec_write(dir, &a, true, err, sizeof(err)), 0);
	snprintf(a.ns, sizeof(a.ns), "/var/run/x%%y/ns");
	assert_int_equal(coop_netns_rec_write(dir, &a, true, err, sizeof(err)), 0);
	/* an update of nas1 */
	snprintf(a.ns, sizeof(a.ns), "nas1");
	a.n_addrs = 1;
	a.n_routes = 0;
	a.ifname[0] = '\0';
	a.moved = a.was_up = a.set_up = false;
	assert_int_equal(coop_netns_rec_write(dir, &a, false, err, sizeof(err)), 0);
	assert_int_equal(coop_netns_rec_remove(dir, "nas2"), 0);
	assert_int_equal(coop_netns_rec_remove(dir, "nas2"), 0); /* none: 0 */
	assert_int_equal(count(path, "coop-netns 1"), 4);
	assert_int_equal(count(path, "namespace nas1"), 2);
	assert_int_equal(count(path, "gone nas2"), 1);
	/* as a new process reads it */
	coop_netns_rec_reset();
	{
		struct coop_netns_rec b;

		assert_int_equal(coop_netns_rec_read(dir, "nas1", &b, err, sizeof(err)), 0);
		assert_same(&a, &b);
		coop_netns_rec_free(&b);
	}
	expect_none("nas2");
	expect_ns("/var/run/x%y/ns", me.pid);
	assert_int_equal(coop_netns_rec_remove(dir, "nas1"), 0);
	assert_true(exists(path));
	assert_int_equal(count(path, "gone nas1"), 1);
	/* the last record goes with the log */
	assert_int_equal(coop_netns_rec_remove(dir, "/var/run/x%y/ns"), 0);
	assert_false(exists(path));
	expect_none("/var/run/x%y/ns");
	coop_netns_rec_free(&a);
}

/* A log mostly made of superseded entries is written anew with the
 * current ones alone. */
static void test_compact(void **state)
{
	struct coop_netns_rec a, me = { .pid = 0 };
	char err[512], path[256];
	struct stat sb;
	int i;

	(void)state;
	assert_int_equal(coop_netns_rec_set_owner(&me), 0);
	log_file(me.pid, me.start, path, sizeof(path));
	sample(&a);
	a.pid = me.pid;
	a.start = me.start;
	snprintf(a.ns, sizeof(a.ns), "other");
	assert_int_equal(coop_netns_rec_write(dir, &a, true, err, sizeof(err)), 0);
	snprintf(a.ns, sizeof(a.ns), "churn");
	for (i = 0; i < 1000; i++) {
		a.ns_ino = (unsigned long long)i;
		assert_int_equal(coop_netns_rec_write(dir, &a, false, err, sizeof(err)), 0);
	}
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size < 2 * 65536); /* 1,001 records would be ~300 KB */
	coop_netns_rec_reset();
	{
		struct coop_netns_rec b;

		assert_int_equal(coop_netns_rec_read(dir, "churn", &b, err, sizeof(err)), 0);
		assert_same(&a, &b);
		coop_netns_rec_free(&b);
	}
	expect_ns("other", me.pid);
	assert_int_equal(coop_netns_rec_remove(dir, "churn"), 0);
	assert_int_equal(coop_netns_rec_remove(dir, "other"), 0);
	assert_false(exists(path));
	coop_netns_rec_free(&a);
}

/* A dead owner's log: a truncated last entry is ignored, whole entries
 * before it are current; removing the last one removes the log. */
static void test_torn_tail(void **state)
{
	char path[256], good[1024], text[4096];
	unsigned long long start;
	long pid;
	int n;

	(void)state;
	dead_owner(&pid, &start);
	log_file(pid, start, path, sizeof(path));
	rec_text("t1", pid, start, text, sizeof(text));
	n = rec_text("t2", pid, start, good, sizeof(good));
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "%.*s", n - 4, good);
	put(path, "w", text); /* t2 lacks its "end" */
	coop_netns_rec_reset();
	expect_ns("t1", pid);
	expect_none("t2");
	/* cut inside a line, even inside "end" */
	rec_text("t1", pid, start, text, sizeof(text));
	rec_text("t3", pid, start, text + strlen(text), sizeof(text) - strlen(text));
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "%.*s", n - 2, good);
	put(path, "w", text);
	coop_netns_rec_reset();
	expect_ns("t1", pid);
	expect_ns("t3", pid);
	expect_none("t2");
	/* a "gone" line replaces the torn tail, not after it */
	assert_int_equal(coop_netns_rec_remove(dir, "t1"), 0);
	assert_int_equal(count(path, "namespace t2"), 0);
	assert_int_equal(count(path, "gone t1"), 1);
	coop_netns_rec_reset();
	expect_none("t1");
	expect_ns("t3", pid);
	/* its owner is dead and nothing else is current: the log goes */
	assert_int_equal(coop_netns_rec_remove(dir, "t3"), 0);
	assert_false(exists(path));
	expect_none("t3");
	/* what it left rewriting its log goes too */
	snprintf(path, sizeof(path), "%s/.coopd.%ld.%llu.new", dir, pid, start);
	put(path, "w", text);
	coop_netns_rec_reset();
	expect_none("t1");
	assert_false(exists(path));
}

/* Corrupt entries: named by file and line; entries after them and of
 * other namespaces stay readable; a later entry supersedes a corrupt one. */
static void test_corrupt_entry(void **state)
{
	char path[256], text[4096], want[300];
	unsigned long long start;
	long pid;
	size_t o;

	(void)state;
	dead_owner(&pid, &start);
	log_file(pid, start, path, sizeof(path));
	o = (size_t)rec_text("c1", pid, start, text, sizeof(text));	   /* lines 1-14 */
	o += (size_t)snprintf(text + o, sizeof(text) - o,
			      "coop-netns 1\nowner %ld %llu\nnamespace c2\n" /* 15-17 */
			      "addr lo 198.18.1.300/24\nend\n",		     /* 18 */
			      pid, start);
	rec_text("c3", pid, start, text + o, sizeof(text) - o);
	put(path, "w", text);
	coop_netns_rec_reset();
	snprintf(want, sizeof(want), "%s is corrupt: line 18: addr", path);
	expect_bad("c2", want, "198.18.1.300");
	expect_ns("c1", pid);
	expect_ns("c3", pid);
	/* a record owned by another process inside this log */
	put(path, "a", "coop-netns 1\nowner 1 1\nnamespace c4\nend\n");
	coop_netns_rec_reset();
	expect_bad("c4", "is corrupt: line 34", "in the log of another");
	/* a later whole record of c2 supersedes the corrupt one */
	rec_text("c2", pid, start, text, sizeof(text));
	put(path, "a", text);
	coop_netns_rec_reset();
	expect_ns("c2", pid);
	/* a line that is no entry: what the log records before it cannot be
	 * trusted (it may have been a "gone"), what follows can */
	put(path, "a", "hello\n");
	rec_text("c5", pid, start, text, sizeof(text));
	put(path, "a", text);
	coop_netns_rec_reset();
	snprintf(want, sizeof(want), "%s is corrupt: line 52: 'hello'", path);
	expect_bad("c1", want, "line 1)");
	expect_ns("c5", pid);
	/* such a log is never removed; clean up by hand */
	assert_int_equal(unlink(path), 0);
	coop_netns_rec_reset();
	expect_none("c1");
}

/* A dead owner's records, written by a real (forked) process: adopting
 * one marks it gone in the dead log, adopting the last removes the log. */
static void test_adopt(void **state)
{
	struct coop_netns_rec a, me = { .pid = 0 };
	char path[256], err[512];
	unsigned long long start;
	pid_t child;
	int status;

	(void)state;
	expect_none("d1"); /* the index is loaded before the child writes */
	child = fork();
	if (child == 0) {
		sample(&a);
		coop_netns_rec_set_owner(&a);
		snprintf(a.ns, sizeof(a.ns), "d1");
		if (coop_netns_rec_write(dir, &a, true, err, sizeof(err)) < 0)
			_exit(1);
		snprintf(a.ns, sizeof(a.ns), "d2");
		_exit(coop_netns_rec_write(dir, &a, true, err, sizeof(err)) < 0 ? 2 : 0);
	}
	assert_int_equal(coop_netns_rec_proc_start(child, &start), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(status, 0);
	log_file(child, start, path, sizeof(path));
	assert_true(exists(path));
	/* seen without a reset: appended since the load */
	expect_ns("d1", child);
	expect_ns("d2", child);
	sample(&a);
	assert_int_equal(coop_netns_rec_set_owner(&me), 0);
	a.pid = me.pid;
	a.start = me.start;
	snprintf(a.ns, sizeof(a.ns), "d1");
	/* excl: a record is there, dead or not */
	assert_int_equal(coop_netns_rec_write(dir, &a, true, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, path));
	assert_int_equal(coop_netns_rec_write(dir, &a, false, err, sizeof(err)), 0);
	expect_ns("d1", me.pid);
	assert_true(exists(path));
	assert_int_equal(count(path, "gone d1"), 1);
	snprintf(a.ns, sizeof(a.ns), "d2");
	assert_int_equal(coop_netns_rec_write(dir, &a, false, err, sizeof(err)), 0);
	assert_false(exists(path));
	/* after a restart, this process's entries are the current ones */
	coop_netns_rec_reset();
	expect_ns("d1", me.pid);
	expect_ns("d2", me.pid);
	assert_int_equal(coop_netns_rec_remove(dir, "d1"), 0);
	assert_int_equal(coop_netns_rec_remove(dir, "d2"), 0);
	log_file(me.pid, me.start, path, sizeof(path));
	assert_false(exists(path));
	coop_netns_rec_free(&a);
}

/* A running owner's log (pid 1 stands for another coopd): its namespaces
 * cannot be claimed or removed, and what it appends after the load is seen
 * before the next claim. */
static void test_live_other(void **state)
{
	struct coop_netns_rec a, me = { .pid = 0 };
	char path[256], text[1024], err[512];
	unsigned long long start;
	char **names;
	size_t n, i;
	bool held = false, late = false;

	(void)state;
	assert_int_equal(coop_netns_rec_proc_start(1, &start), 0);
	log_file(1, start, path, sizeof(path));
	rec_text("held", 1, start, text, sizeof(text));
	put(path, "w", text);
	coop_netns_rec_reset();
	{
		struct coop_netns_rec r;

		assert_int_equal(coop_netns_rec_read(dir, "held", &r, err, sizeof(err)), 0);
		assert_true(coop_netns_rec_owner_alive(&r));
		assert_false(coop_netns_rec_owner_self(&r));
		coop_netns_rec_free(&r);
	}
	sample(&a);
	assert_int_equal(coop_netns_rec_set_owner(&me), 0);
	a.pid = me.pid;
	a.start = me.start;
	snprintf(a.ns, sizeof(a.ns), "held");
	assert_int_equal(coop_netns_rec_write(dir, &a, true, err, sizeof(err)), -EEXIST);
	assert_int_equal(coop_netns_rec_write(dir, &a, false, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "whose coopd runs"));
	assert_int_equal(coop_netns_rec_remove(dir, "held"), 0);
	expect_ns("held", 1);
	assert_int_equal(count(path, "gone held"), 0);
	/* the other coopd claims "late" after this process loaded the index */
	rec_text("late", 1, start, text, sizeof(text));
	put(path, "a", text);
	snprintf(a.ns, sizeof(a.ns), "late");
	assert_int_equal(coop_netns_rec_write(dir, &a, true, err, sizeof(err)), -EEXIST);
	assert_int_equal(coop_netns_rec_list(dir, &names, &n, err, sizeof(err)), 0);
	for (i = 0; i < n; i++) {
		held |= !strcmp(names[i], "held");
		late |= !strcmp(names[i], "late");
	}
	assert_int_equal(n, 2);
	assert_true(held && late);
	coop_netns_rec_list_free(names, n);
	/* a running owner's log is not removed on its behalf */
	coop_netns_rec_reset();
	expect_ns("late", 1);
	assert_true(exists(path));
	assert_int_equal(unlink(path), 0);
	coop_netns_rec_reset();
	expect_none("held");
	coop_netns_rec_free(&a);
}

/* The lock: held from the outermost begin to its end, against any other
 * open file description (another process). */
static void test_lock(void **state)
{
	char path[256], err[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/.lock", dir);
	assert_int_equal(coop_netns_rec_begin(dir, err, sizeof(err)), 0);
	assert_int_equal(coop_netns_rec_begin(dir, err, sizeof(err)), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	coop_netns_rec_end();
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1); /* still nested */
	coop_netns_rec_end();
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
}

/* Corrupt record texts: why names the line. */
static void expect_corrupt(const char *text, const char *want)
{
	struct coop_netns_rec r;
	char why[256] = "";

	assert_int_equal(coop_netns_rec_parse(text, strlen(text), &r, why, sizeof(why)), -EBADMSG);
	coop_netns_rec_free(&r);
	if (!strstr(why, want))
		fail_msg("error '%s' lacks '%s'", why, want);
}

static void test_text(void **state)
{
	struct coop_netns_rec a, b;
	char good[1024], cut[1024], why[256];
	int n;

	(void)state;
	sample(&a);
	n = coop_netns_rec_format(&a, good, sizeof(good));
	assert_true(n > 0);
	assert_int_equal(coop_netns_rec_parse(good, (size_t)n, &b, why, sizeof(why)), 0);
	assert_same(&a, &b);
	coop_netns_rec_free(&b);
	assert_int_equal(coop_netns_rec_format(&a, good, 40), -ENOSPC);
	coop_netns_rec_free(&a);

	expect_corrupt("", "empty");
	expect_corrupt("hello\n", "not a coop netns record");
	snprintf(cut, sizeof(cut), "%.*s", n - 4, good);
	expect_corrupt(cut, "truncated");
	snprintf(cut, sizeof(cut), "%.*s", n / 2, good);
	expect_corrupt(cut, "truncated");
	expect_corrupt("coop-netns 1\nowner 1 2\nnamespace bad\nend\nmore\n", "after 'end'");
	expect_corrupt("coop-netns 1\nowner x 2\nnamespace bad\nend\n", "line 2: owner");
	expect_corrupt("coop-netns 1\nowner 1 2\nend\n", "no 'namespace' line");
	expect_corrupt("coop-netns 1\nnamespace bad\nend\n", "no 'owner' line");
	expect_corrupt("coop-netns 1\nowner 1 2\nnamespace bad\ncreated 2\nend\n", "created '2'");
	expect_corrupt("coop-netns 1\nowner 1 2\nnamespace bad\naddr lo 198.18.1.300/24\nend\n",
		       "line 4: addr");
	expect_corrupt("coop-netns 1\nowner 1 2\nnamespace bad\nroute nowhere -\nend\n", "route");
	expect_corrupt("coop-netns 1\nowner 1 2\nnamespace bad\ncolour blue\nend\n",
		       "unknown key 'colour'");
	expect_corrupt("coop-netns 1\nowner 1 2\nnamespace bad\nmoved 1\nend\n",
		       "without an interface");
	expect_corrupt("coop-netns 1\nowner 1 2\nnamespace a/b\nend\n", "bad namespace");
}

static void test_owner(void **state)
{
	struct coop_netns_rec r = { .pid = 0 };
	unsigned long long start;
	pid_t child;

	(void)state;
	assert_int_equal(coop_netns_rec_set_owner(&r), 0);
	assert_int_equal(r.pid, getpid());
	assert_true(r.start > 0);
	assert_true(coop_netns_rec_owner_self(&r));
	assert_true(coop_netns_rec_owner_alive(&r));
	/* the same pid with another start time: a reused pid, not the owner */
	r.start++;
	assert_false(coop_netns_rec_owner_alive(&r));
	assert_false(coop_netns_rec_owner_self(&r));
	/* a process that exited */
	child = fork();
	if (child == 0)
		_exit(0);
	assert_int_equal(coop_netns_rec_proc_start(child, &start), 0);
	waitpid(child, NULL, 0);
	r.pid = child;
	r.start = start;
	assert_false(coop_netns_rec_owner_alive(&r));
	assert_int_equal(coop_netns_rec_proc_start(child, &start), -ESRCH);
	/* pid 1 runs, with its own start time */
	assert_int_equal(coop_netns_rec_proc_start(1, &start), 0);
	r.pid = 1;
	r.start = start;
	assert_true(coop_netns_rec_owner_alive(&r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),	      cmocka_unit_test(test_own_log),
		cmocka_unit_test(test_torn_tail),     cmocka_unit_test(test_corrupt_entry),
		cmocka_unit_test(test_adopt),	      cmocka_unit_test(test_live_other),
		cmocka_unit_test(test_lock),	      cmocka_unit_test(test_owner),
		cmocka_unit_test(test_compact),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
