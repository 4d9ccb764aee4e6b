/* resolver_test.c - the resolver API against an in-process DNS server:
 * nothing read from the host's configuration, sockets from the given
 * function (non-blocking, close-on-exec), A+AAAA, search list and ndots,
 * CNAME, SRV/PTR, negative answers and caching, UDP truncation -> TCP,
 * deadlines, cancellation, reconfiguration, hosts file, threads. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ares.h>
#include <cmocka.h>

#include "resolver/resolver_priv.h"
#include "tests/unit/resolver/fakedns.h"

/* --- what the process opens: the host's resolver files must stay shut ---- */

static pthread_mutex_t opened_lock = PTHREAD_MUTEX_INITIALIZER;
static char opened[64][256]; /* paths opened through fopen */
static int n_opened;

static void note_open(const char *path)
{
	pthread_mutex_lock(&opened_lock);
	if (n_opened < 64)
		snprintf(opened[n_opened++], sizeof(opened[0]), "%s", path);
	pthread_mutex_unlock(&opened_lock);
}

static bool was_opened(const char *path)
{
	bool yes = false;

	pthread_mutex_lock(&opened_lock);
	for (int i = 0; i < n_opened; i++)
		yes |= !strcmp(opened[i], path);
	pthread_mutex_unlock(&opened_lock);
	return yes;
}

/* Interposed: c-ares reads resolv.conf, hosts, nsswitch.conf and
 * host.conf with fopen. */
FILE *fopen(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);

	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
	note_open(path);
	return real(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);

	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen64");
	note_open(path);
	return real(path, mode);
}

/* --- harness ------------------------------------------------------------------ */

static struct fake_server *srv, *srv2;
static struct ev_loop *loop;

/* Sockets the resolver asked for. */
static struct {
	pthread_mutex_t lock;
	int calls;	/* sockets made */
	int bad_flags;	/* made without NONBLOCK|CLOEXEC, or not so after */
	pthread_t last; /* thread of the last one */
} socks = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int test_socket(void *ctx, int domain, int type, int protocol)
{
	int fd = socket(domain, type, protocol);

	(void)ctx;
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&socks.lock);
	socks.calls++;
	if (!(type & SOCK_NONBLOCK) || !(type & SOCK_CLOEXEC) ||
	    !(fcntl(fd, F_GETFL) & O_NONBLOCK) || !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
		socks.bad_flags++;
	socks.last = pthread_self();
	pthread_mutex_unlock(&socks.lock);
	return fd;
}

/* What a callback received. */
struct outcome {
	int calls;				/* times called */
	int status;				/* last status */
	const struct coop_resolver_result *res; /* held copy */
	unsigned info;				/* COOP_RESOLVER_I_* */
	pthread_t thread;			/* where it ran */
};

static void cb(int status, const struct coop_resolver_result *res, unsigned info, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->status = status;
	o->res = res ? coop_resolver_result_hold(res) : NULL;
	o->info = info;
	o->thread = pthread_self();
}

static void outcome_clear(struct outcome *o)
{
	if (o->res)
		coop_resolver_result_release(o->res);
	memset(o, 0, sizeof(*o));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

/* Run l until o has been called (or secs passed). */
static void wait_for(struct ev_loop *l, struct outcome *o, double secs)
{
	double end = now_s() + secs;
	ev_timer tick;

	ev_timer_init(&tick, tick_cb, 0.005, 0.005);
	ev_timer_start(l, &tick);
	while (!o->calls && now_s() < end)
		ev_run(l, EVRUN_ONCE);
	ev_timer_stop(l, &tick);
}

/* Run l for secs. */
static void spin(struct ev_loop *l, double secs)
{
	struct outcome never = {0};

	wait_for(l, &never, secs);
}

static char err[512];

/* A resolver on srv (and optionally more keys: "key=value;key=value"). */
static struct coop_resolver *mk(const char *keys, unsigned slots)
{
	struct coop_resolver_conf c;
	struct coop_resolver *r = NULL;
	char dns[64], buf[1024], *save = NULL, *kv;

	coop_resolver_conf_init(&c);
	snprintf(dns, sizeof(dns), "127.0.0.1:%u", srv->port);
	assert_int_equal(coop_resolver_conf_set(&c, "dns", dns, err, sizeof(err)), 0);
	snprintf(buf, sizeof(buf), "%s", keys ? keys : "");
	for (kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');

		*eq = '\0';
		assert_int_equal(coop_resolver_conf_set(&c, kv, eq + 1, err, sizeof(err)), 0);
	}
	assert_int_equal(coop_resolver_new("t", &c, test_socket, NULL, slots, &r, err, sizeof(err)),
			 0);
	return r;
}

/* Resolve and wait; returns the status. */
static int resolve(struct coop_resolver *r, const char *name, int family, unsigned flags,
		   struct outcome *o)
{
	int ret;

	outcome_clear(o);
	ret = coop_resolver_resolve(r, loop, name, family, flags, cb, o, NULL);
	assert_int_equal(ret, 0);
	wait_for(loop, o, 5);
	assert_int_equal(o->calls, 1);
	return o->status;
}

static int query(struct coop_resolver *r, const char *name, uint16_t type, struct outcome *o)
{
	outcome_clear(o);
	assert_int_equal(coop_resolver_query(r, loop, name, type, 0, cb, o, NULL), 0);
	wait_for(loop, o, 5);
	assert_int_equal(o->calls, 1);
	return o->status;
}

static int setup(void **state)
{
	(void)state;
	fake_reset(srv);
	fake_reset(srv2);
	return 0;
}

/* --- tests -------------------------------------------------------------------- */

static void test_no_host_config(void **state)
{
	struct coop_resolver *r;
	struct outcome o = {0};
	ares_channel plain;

	(void)state;
	/* Positive control: a default c-ares channel does read the host's
	 * resolv.conf, through the fopen we watch. */
	n_opened = 0;
	assert_int_equal(ares_init(&plain), ARES_SUCCESS);
	ares_destroy(plain);
	assert_true(was_opened("/etc/resolv.conf"));

	/* Ours reads nothing of the host, and the environment changes
	 * nothing (a search domain or options from it would show in the
	 * questions asked). */
	setenv("LOCALDOMAIN", "evil.test", 1);
	setenv("RES_OPTIONS", "ndots:9 attempts:5 timeout:30 rotate", 1);
	setenv("HOSTALIASES", "/nonexistent/aliases", 1);
	n_opened = 0;
	r = mk(NULL, 1);
	fake_addr(fake_rule(srv, "files", COOP_DNS_A, FAKE_ANSWER), "198.18.0.7");
	assert_int_equal(resolve(r, "files", AF_INET, 0, &o), 0);
	assert_int_equal(fake_count(srv, NULL, 0, -1), 1);
	assert_int_equal(fake_count(srv, "files", COOP_DNS_A, 0), 1);
	assert_false(was_opened("/etc/resolv.conf"));
	assert_false(was_opened("/etc/hosts"));
	assert_false(was_opened("/etc/nsswitch.conf"));
	assert_false(was_opened("/etc/host.conf"));
	assert_false(was_opened("/etc/svc.conf"));
	assert_false(was_opened("/nonexistent/aliases"));
	/* A name in the host's /etc/hosts is not known to a VS. */
	assert_int_equal(resolve(r, "localhost", AF_INET, 0, &o), -ENOENT);
	assert_int_equal(fake_count(srv, "localhost", 0, -1), 1);
	unsetenv("LOCALDOMAIN");
	unsetenv("RES_OPTIONS");
	unsetenv("HOSTALIASES");
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_sockets_and_both_families(void **state)
{
	struct coop_resolver *r;
	struct outcome o = {0};
	char a[64];
	int before;

	(void)state;
	r = mk(NULL, 1);
	fake_addr(fake_rule(srv, "nas.corp.test", COOP_DNS_A, FAKE_ANSWER), "198.18.1.1");
	fake_addr(fake_rule(srv, "nas.corp.test", COOP_DNS_AAAA, FAKE_ANSWER), "2001:db8::1");
	before = socks.calls;
	assert_int_equal(resolve(r, "nas.corp.test", AF_UNSPEC, 0, &o), 0);
	assert_true(socks.calls > before);
	assert_int_equal(socks.bad_flags, 0);
	assert_int_equal(o.res->n_addrs, 2);
	assert_int_equal(o.res->addrs[0].family, AF_INET6); /* IPv6 first */
	assert_string_equal(coop_resolver_addr_str(&o.res->addrs[1], a, sizeof(a)), "198.18.1.1");
	assert_int_equal(o.res->source, COOP_RESOLVER_SRC_DNS);
	assert_int_equal(o.res->type, 0);
	assert_int_equal(o.res->ttl, 300);
	assert_int_equal(o.info, 0);
	assert_int_equal(fake_count(srv, "nas.corp.test", 0, 0), 2);

	/* V4FIRST reorders (and is its own cache key: asked again). */
	assert_int_equal(resolve(r, "nas.corp.test", AF_UNSPEC, COOP_RESOLVER_F_V4FIRST, &o), 0);
	assert_int_equal(o.res->addrs[0].family, AF_INET);
	/* One family asks one question. */
	assert_int_equal(resolve(r, "nas.corp.test", AF_INET6, 0, &o), 0);
	assert_int_equal(o.res->n_addrs, 1);
	assert_int_equal(fake_count(srv, "nas.corp.test", COOP_DNS_AAAA, -1), 3);
	assert_int_equal(fake_count(srv, "nas.corp.test", COOP_DNS_A, -1), 2);
	/* The UDP socket stays open between lookups (STAYOPEN). */
	before = socks.calls;
	assert_int_equal(resolve(r, "nas.corp.test", AF_INET, COOP_RESOLVER_F_NOCACHE, &o), 0);
	assert_int_equal(socks.calls, before);
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_search_and_ndots(void **state)
{
	struct coop_resolver *r;
	struct outcome o = {0};
	char name[256];

	(void)state;
	r = mk("search=a.test b.test", 1);
	fake_addr(fake_rule(srv, "host.b.test", COOP_DNS_A, FAKE_ANSWER), "198.18.2.2");
	fake_rule(srv, "host.b.test", COOP_DNS_AAAA, FAKE_NODATA);
	fake_addr(fake_rule(srv, "x.y", COOP_DNS_A, FAKE_ANSWER), "198.18.2.3");

	/* No dot (< ndots 1): the search list first, then the name itself;
	 * the first that exists wins. */
	assert_int_equal(resolve(r, "host", AF_UNSPEC, 0, &o), 0);
	assert_string_equal(o.res->name, "host.b.test");
	assert_int_equal(o.res->n_addrs, 1);
	assert_int_equal(fake_count(srv, "host.a.test", 0, -1), 2);
	assert_int_equal(fake_count(srv, "host.b.test", 0, -1), 2);
	assert_int_equal(fake_count(srv, "host", 0, -1), 0);

	/* Enough dots: as given first. */
	fake_reset(srv);
	fake_addr(fake_rule(srv, "x.y", COOP_DNS_A, FAKE_ANSWER), "198.18.2.3");
	assert_int_equal(resolve(r, "x.y", AF_INET, 0, &o), 0);
	fake_logged(srv, 0, name, sizeof(name));
	assert_string_equal(name, "x.y");
	assert_int_equal(fake_count(srv, NULL, 0, -1), 1);

	/* Nowhere: every candidate, then NXDOMAIN. */
	fake_reset(srv);
	assert_int_equal(resolve(r, "nope", AF_INET, 0, &o), -ENOENT);
	fake_logged(srv, 0, name, sizeof(name));
	assert_string_equal(name, "nope.a.test");
	fake_logged(srv, 2, name, sizeof(name));
	assert_string_equal(name, "nope");
	assert_int_equal(fake_count(srv, NULL, 0, -1), 3);

	/* An absolute name and NOSEARCH: the name only. */
	fake_reset(srv);
	assert_int_equal(resolve(r, "abs.", AF_INET, 0, &o), -ENOENT);
	assert_int_equal(resolve(r, "plain", AF_INET, COOP_RESOLVER_F_NOSEARCH, &o), -ENOENT);
	assert_int_equal(fake_count(srv, NULL, 0, -1), 2);
	assert_int_equal(fake_count(srv, "abs", 0, -1), 1);
	assert_int_equal(fake_count(srv, "plain", 0, -1), 1);
	coop_resolver_free(r);

	/* ndots 2: one dot is not enough to go first. */
	fake_reset(srv);
	r = mk("search=a.test;ndots=2", 1);
	assert_int_equal(resolve(r, "x.y", AF_INET, 0, &o), -ENOENT);
	fake_logged(srv, 0, name, sizeof(name));
	assert_string_equal(name, "x.y.a.test");
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_cname_srv_ptr(void **state)
{
	struct coop_resolver *r;
	struct outcome o = {0};
	struct fake_rule *rule;

	(void)state;
	r = mk(NULL, 1);
	rule = fake_rule(srv, "alias.corp.test", COOP_DNS_A, FAKE_ANSWER);
	snprintf(rule->cname, sizeof(rule->cname), "real.corp.test");
	fake_addr(rule, "198.18.3.3");
	fake_rule(srv, "alias.corp.test", COOP_DNS_AAAA, FAKE_NODATA);
	fake_rule(srv, "_ldap._tcp.corp.test", COOP_DNS_SRV, FAKE_ANSWER)->custom = FAKE_SRV;
	fake_rule(srv, "9.9.18.198.in-addr.arpa", COOP_DNS_PTR, FAKE_ANSWER)->custom = FAKE_PTR;

	assert_int_equal(resolve(r, "alias.corp.test", AF_UNSPEC, 0, &o), 0);
	assert_string_equal(o.res->name, "alias.corp.test");
	assert_string_equal(o.res->canonical, "real.corp.test");
	assert_int_equal(o.res->n_addrs, 1);

	assert_int_equal(query(r, "_ldap._tcp.corp.test", COOP_DNS_SRV, &o), 0);
	assert_int_equal(o.res->type, COOP_DNS_SRV);
	assert_int_equal(o.res->n_rrs, 2);
	assert_int_equal(o.res->n_addrs, 0);
	assert_string_equal(o.res->rrs[0].srv.target, "dc1.corp.test");
	assert_int_equal(o.res->rrs[1].srv.priority, 10);
	assert_int_equal(o.res->rrs[1].srv.port, 389);

	assert_int_equal(query(r, "9.9.18.198.in-addr.arpa", COOP_DNS_PTR, &o), 0);
	assert_string_equal(o.res->rrs[0].target, "host9.corp.test");
	/* A type the name does not have. */
	assert_int_equal(query(r, "alias.corp.test", COOP_DNS_MX, &o), -ENOENT);
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_negative_and_cache(void **state)
{
	struct coop_resolver_stats st;
	struct coop_resolver *r;
	struct outcome o = {0};

	(void)state;
	r = mk(NULL, 1);
	fake_addr(fake_rule(srv, "c.corp.test", COOP_DNS_A, FAKE_ANSWER), "198.18.4.4");
	fake_rule(srv, "gone.corp.test", COOP_DNS_A, FAKE_NXDOMAIN)->soa = true;
	fake_rule(srv, "nosoa.corp.test", COOP_DNS_A, FAKE_NXDOMAIN);
	fake_rule(srv, "empty.corp.test", COOP_DNS_A, FAKE_NODATA)->soa = true;

	/* Answered, then from the cache (TTL 300 s)... */
	assert_int_equal(resolve(r, "c.corp.test", AF_INET, 0, &o), 0);
	assert_int_equal(resolve(r, "C.CORP.TEST", AF_INET, 0, &o), 0);
	assert_true(o.info & COOP_RESOLVER_I_CACHED);
	assert_int_equal(o.res->n_addrs, 1);
	assert_int_equal(fake_count(srv, "c.corp.test", 0, -1), 1);
	/* ...not used by NOCACHE lookups. */
	assert_int_equal(resolve(r, "c.corp.test", AF_INET, COOP_RESOLVER_F_NOCACHE, &o), 0);
	assert_int_equal(o.info, 0);
	assert_int_equal(fake_count(srv, "c.corp.test", 0, -1), 2);

	/* Negative answers with an SOA are cached for its minimum (300). */
	assert_int_equal(resolve(r, "gone.corp.test", AF_INET, 0, &o), -ENOENT);
	assert_int_equal(resolve(r, "gone.corp.test", AF_INET, 0, &o), -ENOENT);
	assert_true(o.info & COOP_RESOLVER_I_CACHED);
	assert_null(o.res);
	assert_int_equal(fake_count(srv, "gone.corp.test", 0, -1), 1);
	assert_int_equal(resolve(r, "empty.corp.test", AF_INET, 0, &o), -ENODATA);
	assert_int_equal(resolve(r, "empty.corp.test", AF_INET, 0, &o), -ENODATA);
	assert_int_equal(fake_count(srv, "empty.corp.test", 0, -1), 1);
	/* Without an SOA there is no TTL to honour: not cached. */
	assert_int_equal(resolve(r, "nosoa.corp.test", AF_INET, 0, &o), -ENOENT);
	assert_int_equal(resolve(r, "nosoa.corp.test", AF_INET, 0, &o), -ENOENT);
	assert_int_equal(fake_count(srv, "nosoa.corp.test", 0, -1), 2);

	coop_resolver_stats_get(r, &st);
	assert_int_equal(st.queries, 9);
	assert_int_equal(st.answers, 3);
	assert_int_equal(st.negative, 6);
	assert_int_equal(st.cache_hits, 3);
	assert_int_equal(st.upstream, 6);
	assert_int_equal(st.cache_entries, 3);
	coop_resolver_cache_flush(r);
	coop_resolver_stats_get(r, &st);
	assert_int_equal(st.cache_entries, 0);
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_ttl_expiry(void **state)
{
	struct coop_resolver *r;
	struct outcome o = {0};

	(void)state;
	r = mk(NULL, 1);
	struct fake_rule *rule = fake_rule(srv, "short.corp.test", COOP_DNS_A, FAKE_ANSWER);

	fake_addr(rule, "198.18.4.5");
	rule->ttl = 1;
	assert_int_equal(resolve(r, "short.corp.test", AF_INET, 0, &o), 0);
	assert_int_equal(o.res->ttl, 1);
	assert_int_equal(resolve(r, "short.corp.test", AF_INET, 0, &o), 0);
	assert_true(o.info & COOP_RESOLVER_I_CACHED);
	usleep(1100 * 1000);
	assert_int_equal(resolve(r, "short.corp.test", AF_INET, 0, &o), 0);
	assert_int_equal(o.info, 0);
	assert_int_equal(fake_count(srv, "short.corp.test", 0, -1), 2);
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_truncated_over_tcp(void **state)
{
	struct coop_resolver *r;
	struct outcome o = {0};
	int before;

	(void)state;
	r = mk(NULL, 1);
	fake_rule(srv, "big.corp.test", COOP_DNS_A, FAKE_ANSWER)->n_big = 200;
	assert_int_equal(resolve(r, "big.corp.test", AF_INET, 0, &o), 0);
	assert_int_equal(o.res->n_addrs, 200);
	assert_int_equal(fake_count(srv, "big.corp.test", 0, 0), 1);
	assert_int_equal(fake_count(srv, "big.corp.test", 0, 1), 1);
	assert_int_equal(socks.bad_flags, 0);
	/* Once idle, the channel that needed TCP goes (a server's TCP slots
	 * are few); the next question gets a fresh one, over UDP. */
	before = socks.calls;
	fake_addr(fake_rule(srv, "small.corp.test", COOP_DNS_A, FAKE_ANSWER), "198.18.4.6");
	assert_int_equal(resolve(r, "small.corp.test", AF_INET, 0, &o), 0);
	assert_int_equal(fake_count(srv, "small.corp.test", 0, 0), 1);
	assert_int_equal(socks.calls, before + 1);
	/* ...and that one stays. */
	assert_int_equal(resolve(r, "small.corp.test", AF_INET, COOP_RESOLVER_F_NOCACHE, &o), 0);
	assert_int_equal(socks.calls, before + 1);
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_deadline(void **state)
{
	struct coop_resolver_stats st;
	struct coop_resolver *r;
	struct outcome o = {0}, good = {0};
	double t0, took;

	(void)state;
	r = mk("dns_timeout=100;dns_attempts=2", 1);
	fake_rule(srv, "dead.corp.test", COOP_DNS_A, FAKE_DROP);
	fake_addr(fake_rule(srv, "alive.corp.test", COOP_DNS_A, FAKE_ANSWER), "198.18.5.5");
	t0 = now_s();
	assert_int_equal(coop_resolver_resolve(r, loop, "dead.corp.test", AF_INET, 0, cb, &o, NULL),
			 0);
	/* While one lookup hangs, others go through. */
	assert_int_equal(resolve(r, "alive.corp.test", AF_INET, 0, &good), 0);
	assert_int_equal(o.calls, 0);
	wait_for(loop, &o, 5);
	took = now_s() - t0;
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, -ETIMEDOUT);
	/* 100 ms x 2 attempts x 1 server, with scheduling slack. */
	assert_true(took >= 0.18 && took < 0.6);
	assert_true(fake_count(srv, "dead.corp.test", 0, -1) >= 2);
	coop_resolver_stats_get(r, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.answers, 1);
	spin(loop, 0.5); /* c-ares's own retries end; nothing else is called */
	assert_int_equal(o.calls, 1);
	outcome_clear(&o);
	outcome_clear(&good);
	coop_resolver_free(r);
}

static void test_cancel(void **state)
{
	struct coop_resolver_query *q = NULL;
	struct coop_resolver_stats st;
	struct coop_resolver *r;
	struct outcome o = {0};

	(void)state;
	r = mk("dns_timeout=100;dns_attempts=1", 1);
	fake_rule(srv, "dead.corp.test", COOP_DNS_A, FAKE_DROP);
	assert_int_equal(coop_resolver_resolve(r, loop, "dead.corp.test", AF_INET, 0, cb, &o, &q),
			 0);
	assert_non_null(q);
	coop_resolver_cancel(q);
	spin(loop, 0.4);
	assert_int_equal(o.calls, 0);
	coop_resolver_stats_get(r, &st);
	assert_int_equal(st.cancelled, 1);
	assert_int_equal(st.timeouts, 0);

	/* Freeing a resolver with a lookup in flight calls nothing and
	 * leaves no watcher on the loop: with none, ev_run returns at once
	 * (a forgotten timer would hold it for 100 ms, then fire into freed
	 * memory). */
	{
		double t0;

		assert_int_equal(
		    coop_resolver_resolve(r, loop, "dead.corp.test", AF_INET, 0, cb, &o, &q), 0);
		assert_non_null(q);
		coop_resolver_free(r);
		t0 = now_s();
		ev_run(loop, 0);
		assert_true(now_s() - t0 < 0.05);
		assert_int_equal(o.calls, 0);
	}
}

static void test_reconfigure(void **state)
{
	struct coop_resolver_conf c;
	struct coop_resolver_stats st;
	struct coop_resolver *r;
	struct outcome o = {0}, old = {0};
	char dns[64], a[64];

	(void)state;
	r = mk("dns_timeout=200;dns_attempts=1", 1);
	fake_addr(fake_rule(srv, "same.corp.test", COOP_DNS_A, FAKE_ANSWER), "198.18.6.1");
	fake_rule(srv, "slow.corp.test", COOP_DNS_A, FAKE_DROP);
	fake_addr(fake_rule(srv2, "same.corp.test", COOP_DNS_A, FAKE_ANSWER), "198.18.6.2");
	assert_int_equal(resolve(r, "same.corp.test", AF_INET, 0, &o), 0);
	assert_string_equal(coop_resolver_addr_str(&o.res->addrs[0], a, sizeof(a)), "198.18.6.1");
	/* A lookup in flight when the settings change finishes on the old ones. */
	assert_int_equal(
	    coop_resolver_resolve(r, loop, "slow.corp.test", AF_INET, 0, cb, &old, NULL), 0);

	coop_resolver_conf_get(r, &c);
	snprintf(dns, sizeof(dns), "127.0.0.1:%u", srv2->port);
	assert_int_equal(coop_resolver_conf_set(&c, "dns", dns, err, sizeof(err)), 0);
	assert_int_equal(coop_resolver_configure(r, &c, err, sizeof(err)), 0);
	/* The cache went with the old settings; the new server answers. */
	assert_int_equal(resolve(r, "same.corp.test", AF_INET, 0, &o), 0);
	assert_int_equal(o.info, 0);
	assert_string_equal(coop_resolver_addr_str(&o.res->addrs[0], a, sizeof(a)), "198.18.6.2");
	assert_int_equal(fake_count(srv2, "same.corp.test", 0, -1), 1);
	assert_int_equal(fake_count(srv2, "slow.corp.test", 0, -1), 0);
	wait_for(loop, &old, 3);
	assert_int_equal(old.status, -ETIMEDOUT);
	spin(loop, 0.05); /* the old channel is reaped */
	coop_resolver_stats_get(r, &st);
	assert_int_equal(st.generation, 2);

	/* A bad configuration leaves the current one. */
	assert_int_equal(
	    coop_resolver_conf_set(&c, "hosts_file", "/nonexistent/hosts", err, sizeof(err)), 0);
	assert_int_equal(coop_resolver_configure(r, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "vs 't': hosts_file /nonexistent/hosts"));
	assert_int_equal(resolve(r, "same.corp.test", AF_INET, 0, &o), 0);
	outcome_clear(&o);
	outcome_clear(&old);
	coop_resolver_free(r);
}

static void test_no_servers(void **state)
{
	struct coop_resolver_conf c;
	struct coop_resolver_stats st;
	struct coop_resolver *r = NULL;
	struct outcome o = {0};
	char dns[64];

	(void)state;
	coop_resolver_conf_init(&c);
	assert_int_equal(coop_resolver_new("none", &c, test_socket, NULL, 1, &r, err, sizeof(err)),
			 0);
	assert_false(coop_resolver_enabled(r));
	assert_int_equal(coop_resolver_resolve(r, loop, "a.test", AF_UNSPEC, 0, cb, &o, NULL),
			 -ENOTSUP);
	assert_int_equal(coop_resolver_resolve(r, loop, "198.18.0.1", AF_UNSPEC, 0, cb, &o, NULL),
			 -ENOTSUP);
	assert_int_equal(o.calls, 0);
	coop_resolver_stats_get(r, &st);
	assert_int_equal(st.failures, 2);
	/* Given servers later, it resolves. */
	snprintf(dns, sizeof(dns), "127.0.0.1:%u", srv->port);
	assert_int_equal(coop_resolver_conf_set(&c, "dns", dns, err, sizeof(err)), 0);
	assert_int_equal(coop_resolver_configure(r, &c, err, sizeof(err)), 0);
	assert_true(coop_resolver_enabled(r));
	fake_addr(fake_rule(srv, "a.test", COOP_DNS_A, FAKE_ANSWER), "198.18.0.9");
	assert_int_equal(resolve(r, "a.test", AF_INET, 0, &o), 0);
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_hosts_and_literals(void **state)
{
	struct coop_resolver *r;
	struct outcome o = {0};
	char path[] = "/tmp/coop-res-hosts.XXXXXX", keys[128], a[64];
	const char *text = "198.18.7.10 files.corp.test files\n2001:db8:7::10 files.corp.test\n";
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(keys, sizeof(keys), "hosts_file=%s", path);
	r = mk(keys, 1);
	fake_addr(fake_rule(srv, "files", COOP_DNS_AAAA, FAKE_ANSWER), "2001:db8::99");

	assert_int_equal(resolve(r, "files", AF_UNSPEC, 0, &o), 0);
	assert_int_equal(o.res->source, COOP_RESOLVER_SRC_HOSTS);
	assert_string_equal(o.res->canonical, "files.corp.test");
	assert_int_equal(o.res->n_addrs, 1);
	assert_int_equal(resolve(r, "FILES.corp.test.", AF_UNSPEC, 0, &o), 0);
	assert_int_equal(o.res->n_addrs, 2);
	assert_int_equal(o.res->addrs[0].family, AF_INET6);
	/* Family missing from the file: the DNS is asked. */
	assert_int_equal(resolve(r, "files", AF_INET6, 0, &o), 0);
	assert_int_equal(o.res->source, COOP_RESOLVER_SRC_DNS);
	assert_string_equal(coop_resolver_addr_str(&o.res->addrs[0], a, sizeof(a)), "2001:db8::99");
	/* Reverse from the file. */
	assert_int_equal(query(r, "10.7.18.198.in-addr.arpa", COOP_DNS_PTR, &o), 0);
	assert_int_equal(o.res->source, COOP_RESOLVER_SRC_HOSTS);
	assert_string_equal(o.res->rrs[0].target, "files.corp.test");
	/* NOHOSTS skips it. */
	assert_int_equal(resolve(r, "files.corp.test", AF_INET, COOP_RESOLVER_F_NOHOSTS, &o),
			 -ENOENT);
	assert_int_equal(fake_count(srv, "files.corp.test", 0, -1), 1);
	assert_int_equal(fake_count(srv, NULL, 0, -1), 2);

	/* Literal addresses answer themselves, at once. */
	outcome_clear(&o);
	assert_int_equal(coop_resolver_resolve(r, loop, "198.18.9.9", AF_UNSPEC, 0, cb, &o, NULL),
			 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.res->source, COOP_RESOLVER_SRC_LITERAL);
	assert_int_equal(resolve(r, "2001:db8::5", AF_INET, 0, &o), -ENODATA);
	assert_int_equal(fake_count(srv, NULL, 0, -1), 2);
	unlink(path);
	outcome_clear(&o);
	coop_resolver_free(r);
}

static void test_servfail_next_server(void **state)
{
	struct coop_resolver_conf c;
	struct coop_resolver *r = NULL;
	struct outcome o = {0};
	char dns[128], a[64];

	(void)state;
	coop_resolver_conf_init(&c);
	snprintf(dns, sizeof(dns), "127.0.0.1:%u, 127.0.0.1:%u", srv->port, srv2->port);
	assert_int_equal(coop_resolver_conf_set(&c, "dns", dns, err, sizeof(err)), 0);
	assert_int_equal(coop_resolver_new("t", &c, test_socket, NULL, 1, &r, err, sizeof(err)), 0);
	fake_rule(srv, "sf.corp.test", COOP_DNS_A, FAKE_SERVFAIL);
	fake_addr(fake_rule(srv2, "sf.corp.test", COOP_DNS_A, FAKE_ANSWER), "198.18.8.8");
	fake_rule(srv, "ref.corp.test", COOP_DNS_A, FAKE_REFUSED);
	fake_rule(srv2, "ref.corp.test", COOP_DNS_A, FAKE_REFUSED);
	assert_int_equal(resolve(r, "sf.corp.test", AF_INET, 0, &o), 0);
	assert_string_equal(coop_resolver_addr_str(&o.res->addrs[0], a, sizeof(a)), "198.18.8.8");
	assert_int_equal(resolve(r, "ref.corp.test", AF_INET, 0, &o), -ECONNREFUSED);
	outcome_clear(&o);
	coop_resolver_free(r);
}

/* A second thread with its own loop, resolving through the same resolver. */
struct thread_arg {
	struct coop_resolver *r; /* shared */
	struct outcome o;	 /* its result */
	struct ev_loop *loop;	 /* its loop: must outlive the resolver */
	pthread_t self;		 /* its id */
	int socks_here;		 /* sockets made on this thread */
};

static void *thread_main(void *p)
{
	struct thread_arg *t = p;
	struct ev_loop *l = ev_loop_new(EVFLAG_AUTO);
	int before;

	t->loop = l;
	t->self = pthread_self();
	pthread_mutex_lock(&socks.lock);
	before = socks.calls;
	pthread_mutex_unlock(&socks.lock);
	if (coop_resolver_resolve(t->r, l, "t.corp.test", AF_INET, COOP_RESOLVER_F_NOCACHE, cb,
				  &t->o, NULL) == 0)
		wait_for(l, &t->o, 5);
	pthread_mutex_lock(&socks.lock);
	if (pthread_equal(socks.last, t->self))
		t->socks_here = socks.calls - before;
	pthread_mutex_unlock(&socks.lock);
	return NULL;
}

static void test_threads(void **state)
{
	struct thread_arg t = {0};
	struct coop_resolver *r;
	struct outcome o = {0};
	pthread_t th;

	(void)state;
	r = mk(NULL, 2);
	fake_addr(fake_rule(srv, "t.corp.test", COOP_DNS_A, FAKE_ANSWER), "198.18.9.1");
	assert_int_equal(resolve(r, "t.corp.test", AF_INET, COOP_RESOLVER_F_NOCACHE, &o), 0);
	assert_true(pthread_equal(o.thread, pthread_self()));
	t.r = r;
	pthread_create(&th, NULL, thread_main, &t);
	pthread_join(th, NULL);
	/* Its callback ran on its own thread, through a channel (and
	 * socket) of its own. */
	assert_int_equal(t.o.calls, 1);
	assert_int_equal(t.o.status, 0);
	assert_true(pthread_equal(t.o.thread, t.self));
	assert_true(t.socks_here >= 1);
	/* Both slots taken: a third loop is refused. */
	{
		struct ev_loop *l3 = ev_loop_new(EVFLAG_AUTO);

		assert_int_equal(
		    coop_resolver_resolve(r, l3, "t.corp.test", AF_INET, 0, cb, &o, NULL), -ENOSPC);
		ev_loop_destroy(l3);
	}
	/* Bad arguments. */
	assert_int_equal(coop_resolver_resolve(r, NULL, "t.corp.test", AF_INET, 0, cb, &o, NULL),
			 -EPERM);
	assert_int_equal(coop_resolver_resolve(r, loop, "bad name", AF_INET, 0, cb, &o, NULL),
			 -EINVAL);
	assert_int_equal(coop_resolver_resolve(r, loop, "a.test", AF_PACKET, 0, cb, &o, NULL),
			 -EINVAL);
	assert_int_equal(coop_resolver_query(r, loop, "a.test", 0, 0, cb, &o, NULL), -EINVAL);
	assert_int_equal(coop_resolver_resolve(r, loop, "a.test", AF_INET, 0x100, cb, &o, NULL),
			 -EINVAL);
	outcome_clear(&o);
	outcome_clear(&t.o);
	/* As coop_vs_down after the workers stopped: the thread is gone, its
	 * loop not yet. */
	coop_resolver_free(r);
	ev_loop_destroy(t.loop);
}

static int group_setup(void **state)
{
	(void)state;
	srv = fake_start();
	srv2 = fake_start();
	loop = ev_loop_new(EVFLAG_AUTO);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	fake_stop(srv);
	fake_stop(srv2);
	ev_loop_destroy(loop);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_no_host_config, setup),
	    cmocka_unit_test_setup(test_sockets_and_both_families, setup),
	    cmocka_unit_test_setup(test_search_and_ndots, setup),
	    cmocka_unit_test_setup(test_cname_srv_ptr, setup),
	    cmocka_unit_test_setup(test_negative_and_cache, setup),
	    cmocka_unit_test_setup(test_ttl_expiry, setup),
	    cmocka_unit_test_setup(test_truncated_over_tcp, setup),
	    cmocka_unit_test_setup(test_deadline, setup),
	    cmocka_unit_test_setup(test_cancel, setup),
	    cmocka_unit_test_setup(test_reconfigure, setup),
	    cmocka_unit_test_setup(test_no_servers, setup),
	    cmocka_unit_test_setup(test_hosts_and_literals, setup),
	    cmocka_unit_test_setup(test_servfail_next_server, setup),
	    cmocka_unit_test_setup(test_threads, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
