/* resolver_bench.c - per-VS resolver figures: lookups per second through N
 * resolvers each in its own namespace (own channel, own scope) against one
 * shared resolver doing the same lookups, alternating in one run; and the
 * latency of a cache hit and of a lookup that goes to the server.
 *
 * usage: resolver_bench rate NSPREFIX N SERVER LOOKUPS CONC ROUNDS
 *          per round prints "pervs RATE CPU" then "shared RATE CPU"
 *          (lookups/s, client CPU microseconds per lookup);
 *          namespaces NSPREFIX-0 .. NSPREFIX-(N-1) must reach SERVER;
 *          CONC lookups in flight per VS (N x CONC for the shared one)
 *        resolver_bench latency NS SERVER ITER ROUNDS
 *          per round prints "hit NS_PER_LOOKUP" and "miss US_PER_LOOKUP" */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/netns.h"
#include "resolver/coop_resolver.h"

/* One lookup stream: keeps one lookup in flight on one resolver. */
struct stream {
	struct load *load;	 /* the run it belongs to */
	struct coop_resolver *r; /* resolver it uses */
};

/* A timed run of lookups. */
struct load {
	struct ev_loop *loop;  /* the one loop driving every resolver */
	unsigned long target;  /* lookups to complete */
	unsigned long started; /* lookups started */
	unsigned long done;    /* callbacks received */
	unsigned long failed;  /* of which failed */
	unsigned seq;	       /* varies the names asked */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) this process used so far. */
static double cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int ns_socket(void *ctx, int domain, int type, int protocol)
{
	return coop_netns_socket(*(int *)ctx, domain, type, protocol);
}

static void lookup_cb(int status, const struct coop_resolver_result *res, unsigned info, void *arg);

static void start_one(struct stream *s)
{
	struct load *l = s->load;
	char name[64];
	int ret;

	snprintf(name, sizeof(name), "q%u.bench.test", l->seq++);
	l->started++;
	ret = coop_resolver_resolve(s->r, l->loop, name, AF_INET, COOP_RESOLVER_F_NOCACHE,
				    lookup_cb, s, NULL);
	if (ret < 0) {
		fprintf(stderr, "resolver_bench: %s\n", coop_resolver_strerror(ret));
		exit(1);
	}
}

static void lookup_cb(int status, const struct coop_resolver_result *res, unsigned info, void *arg)
{
	struct stream *s = arg;
	struct load *l = s->load;

	(void)res;
	(void)info;
	l->done++;
	if (status)
		l->failed++;
	if (l->started < l->target)
		start_one(s);
	else if (l->done == l->target)
		ev_break(l->loop, EVBREAK_ALL);
}

/* Run target lookups over streams: lookups per second, and the client's
 * CPU microseconds per lookup in *cpu_us. */
static double run(struct ev_loop *loop, struct stream *st, size_t n, unsigned long target,
		  double *cpu_us)
{
	struct load l = {.loop = loop, .target = target};
	double t0, c0;
	size_t i;

	for (i = 0; i < n; i++)
		st[i].load = &l;
	t0 = now();
	c0 = cpu();
	for (i = 0; i < n && l.started < target; i++)
		start_one(&st[i]);
	ev_run(loop, 0);
	if (l.failed) {
		fprintf(stderr, "resolver_bench: %lu of %lu lookups failed\n", l.failed, l.done);
		exit(1);
	}
	*cpu_us = (cpu() - c0) * 1e6 / target;
	return target / (now() - t0);
}

static struct coop_resolver *make(const char *name, const char *server, unsigned cache, int *nsfd)
{
	struct coop_resolver_conf c;
	struct coop_resolver *r;
	char err[256], buf[16];

	coop_resolver_conf_init(&c);
	snprintf(buf, sizeof(buf), "%u", cache);
	if (coop_resolver_conf_set(&c, "dns", server, err, sizeof(err)) < 0 ||
	    coop_resolver_conf_set(&c, "dns_cache", buf, err, sizeof(err)) < 0 ||
	    coop_resolver_new(name, &c, ns_socket, nsfd, 1, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "resolver_bench: %s\n", err);
		exit(1);
	}
	return r;
}

static int open_ns(const char *prefix, unsigned i)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s-%u", prefix, i);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static int cmd_rate(char **argv)
{
	const char *prefix = argv[0], *server = argv[2];
	unsigned n = (unsigned)atoi(argv[1]), conc = (unsigned)atoi(argv[4]);
	unsigned long lookups = strtoul(argv[3], NULL, 10);
	int rounds = atoi(argv[5]), k;
	struct ev_loop *loop = ev_default_loop(0);
	struct coop_resolver **per, *shared;
	struct stream *sp, *ss;
	double rate, us;
	int *fds;
	unsigned i, c;

	fds = calloc(n, sizeof(*fds));
	per = calloc(n, sizeof(*per));
	sp = calloc((size_t)n * conc, sizeof(*sp));
	ss = calloc((size_t)n * conc, sizeof(*ss));
	for (i = 0; i < n; i++) {
		char name[32];

		fds[i] = open_ns(prefix, i);
		snprintf(name, sizeof(name), "vs%u", i);
		per[i] = make(name, server, 0, &fds[i]);
	}
	shared = make("shared", server, 0, &fds[0]);
	for (i = 0; i < n; i++) {
		for (c = 0; c < conc; c++) {
			sp[i * conc + c].r = per[i];
			ss[i * conc + c].r = shared;
		}
	}
	/* Warm-up: every channel opens its socket. */
	run(loop, sp, (size_t)n * conc, (unsigned long)n * conc * 2, &us);
	run(loop, ss, (size_t)n * conc, (unsigned long)n * conc * 2, &us);
	for (k = 0; k < rounds; k++) {
		rate = run(loop, sp, (size_t)n * conc, lookups, &us);
		printf("pervs %.0f %.2f\n", rate, us);
		rate = run(loop, ss, (size_t)n * conc, lookups, &us);
		printf("shared %.0f %.2f\n", rate, us);
		fflush(stdout);
	}
	for (i = 0; i < n; i++) {
		coop_resolver_free(per[i]);
		close(fds[i]);
	}
	coop_resolver_free(shared);
	free(fds);
	free(per);
	free(sp);
	free(ss);
	return 0;
}

static void count_cb(int status, const struct coop_resolver_result *res, unsigned info, void *arg)
{
	unsigned long *hits = arg;

	(void)res;
	if (status == 0 && (info & COOP_RESOLVER_I_CACHED))
		(*hits)++;
}

static void break_cb(int status, const struct coop_resolver_result *res, unsigned info, void *arg)
{
	(void)res;
	(void)info;
	if (status) {
		fprintf(stderr, "resolver_bench: %s\n", coop_resolver_strerror(status));
		exit(1);
	}
	ev_break(arg, EVBREAK_ALL);
}

static int cmd_latency(char **argv)
{
	int fd = open_ns(argv[0], 0);
	unsigned long iter = strtoul(argv[2], NULL, 10), hits, i;
	int rounds = atoi(argv[3]), k;
	struct ev_loop *loop = ev_default_loop(0);
	struct coop_resolver *r = make("latency", argv[1], 1024, &fd);
	double t0;

	/* Fill the cache once; the answer must be cacheable (TTL > 0). */
	coop_resolver_resolve(r, loop, "hit.bench.test", AF_INET, 0, break_cb, loop, NULL);
	ev_run(loop, 0);
	hits = 0;
	coop_resolver_resolve(r, loop, "hit.bench.test", AF_INET, 0, count_cb, &hits, NULL);
	if (hits != 1) {
		fprintf(stderr, "resolver_bench: the server's answer was not cached (TTL 0?)\n");
		return 1;
	}
	for (k = 0; k < rounds; k++) {
		hits = 0;
		t0 = now();
		for (i = 0; i < iter; i++)
			coop_resolver_resolve(r, loop, "hit.bench.test", AF_INET, 0, count_cb,
					      &hits, NULL);
		printf("hit %.1f\n", (now() - t0) * 1e9 / iter);
		if (hits != iter) {
			fprintf(stderr, "resolver_bench: %lu of %lu lookups were cache hits\n",
				hits, iter);
			return 1;
		}
		t0 = now();
		for (i = 0; i < 1000; i++) {
			coop_resolver_resolve(r, loop, "miss.bench.test", AF_INET,
					      COOP_RESOLVER_F_NOCACHE, break_cb, loop, NULL);
			ev_run(loop, 0);
		}
		printf("miss %.1f\n", (now() - t0) * 1e6 / 1000);
		fflush(stdout);
	}
	coop_resolver_free(r);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (coop_netns_init() < 0) {
		fprintf(stderr, "resolver_bench: cannot open the default namespace\n");
		return 1;
	}
	if (argc == 8 && !strcmp(argv[1], "rate"))
		return cmd_rate(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "latency"))
		return cmd_latency(argv + 2);
	fprintf(stderr, "usage: resolver_bench rate NSPREFIX N SERVER LOOKUPS CONC ROUNDS\n"
			"       resolver_bench latency NSPREFIX SERVER ITER ROUNDS\n");
	return 2;
}
