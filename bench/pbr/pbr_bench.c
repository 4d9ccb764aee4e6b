/* pbr_bench.c - tools for the pbr benchmark: program N pbr VSes with coop
 * and write the same objects as iproute2 batches, clear them, pick the VSes
 * with the typical and the longest rule walk, and send unconnected marked
 * UDP from a VS as fast as possible.
 *
 * usage: pbr_bench start NS N [dual] [SCRIPT4 SCRIPT6]
 *          the runtime's path: write an INI with N pbr VSes on link v0 of
 *          namespace NS (no listeners), coop_configure, then time
 *          coop_start (read the namespace, assign, program everything);
 *          write coop's objects as ip batches when SCRIPT4/6 are given;
 *          stop and time the removal. Prints "start_ms stop_ms objects"
 *        pbr_bench program NS N [dual]
 *          program the same N VSes through the namespace API and leave the
 *          state in place (for the UDP runs); print "ms"
 *        pbr_bench naive N FILE
 *          write, as an ip batch for link v0, the same N IPv4 VSes (same
 *          marks, tables, routes) in the naive layout: two rules per VS,
 *          `from ADDR lookup T` and `fwmark M lookup T`, one after the other
 *        pbr_bench clear NS
 *          remove every coop-tagged rule and route from NS (whoever added
 *          them) and coop's nftables table
 *        pbr_bench pick N
 *          print "median_vs worst_vs median_rules worst_rules": VS indices
 *          whose packets walk the median and the largest number of rules
 *        pbr_bench udp NS N VS SECONDS
 *          from VS (index) of an N-VS layout, send 16-byte datagrams to
 *          198.18.100.1:9 through an unconnected socket carrying the VS's
 *          mark; print "packets_per_second"
 *        pbr_bench pair NS_A N_A VS_A NS_B N_B VS_B SECONDS
 *          the same from two VSes at once, alternating bursts of BURST
 *          datagrams between them (A,B,B,A,...) and timing each burst with
 *          the thread's CPU clock, so that load from other processes on a
 *          shared machine cancels out; print "rate_a rate_b ratio" (rates
 *          per CPU second, ratio = median over burst pairs of b / a)
 *
 * VS i has 198.18.(16 + i / 64).(i % 64 * 4 + 1)/30 (gateway + 1) and, with
 * dual, 2001:db8:10:i::1/64 (gateway ::2). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/coop.h"
#include "base/netns.h"
#include "vs/pbr.h"

#define LINK "v0"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void vs_v4(size_t i, int host, char *buf, size_t len)
{
	snprintf(buf, len, "198.18.%zu.%zu", 16 + i / 64, i % 64 * 4 + (size_t)host);
}

/* Configuration sections of N VSes, as the INI loader would make them. */
static struct coop_vs_cfg *make_cfgs(const char *ns, size_t n, bool dual)
{
	struct coop_vs_cfg *cfgs = calloc(n, sizeof(*cfgs));
	char a[64];
	size_t i;

	if (!cfgs)
		return NULL;
	for (i = 0; i < n; i++) {
		struct coop_vs_cfg *c = &cfgs[i];

		snprintf(c->name, sizeof(c->name), "vs%zu", i);
		snprintf(c->netns, sizeof(c->netns), "%s", ns);
		snprintf(c->ifname, sizeof(c->ifname), "%s", LINK);
		c->isolation = COOP_ISO_PBR;
		c->addrs = calloc(2, sizeof(*c->addrs));
		if (!c->addrs)
			return NULL;
		vs_v4(i, 1, a, sizeof(a));
		strcat(a, "/30");
		coop_prefix_parse(a, true, &c->addrs[c->n_addrs++]);
		vs_v4(i, 2, a, sizeof(a));
		coop_addr_parse(a, &c->gw4);
		c->has_gw4 = true;
		if (dual) {
			snprintf(a, sizeof(a), "2001:db8:10:%zx::1/64", i);
			coop_prefix_parse(a, true, &c->addrs[c->n_addrs++]);
			snprintf(a, sizeof(a), "2001:db8:10:%zx::2", i);
			coop_addr_parse(a, &c->gw6);
			c->has_gw6 = true;
		}
	}
	return cfgs;
}

/* The marks and tables coop gives these VSes (no foreign tables). */
static struct coop_pbr_slot *assign(const struct coop_vs_cfg *cfgs, size_t n)
{
	struct coop_pbr_slot *slots = calloc(n, sizeof(*slots));
	struct coop_pbr_params p;
	char err[256];
	size_t i;

	coop_pbr_params_default(&p);
	for (i = 0; slots && i < n; i++)
		slots[i].name = cfgs[i].name;
	if (slots && coop_pbr_alloc(&p, slots, n, NULL, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		free(slots);
		return NULL;
	}
	return slots;
}

/* The INI coopd would read for these VSes. */
static int write_ini(const char *path, const char *ns, size_t n, bool dual)
{
	FILE *f = fopen(path, "w");
	char a[64], g[64];
	size_t i;

	if (!f)
		return -1;
	fprintf(f, "[global]\nworkers = 1\nadmin_socket = none\n");
	for (i = 0; i < n; i++) {
		vs_v4(i, 1, a, sizeof(a));
		vs_v4(i, 2, g, sizeof(g));
		fprintf(f, "\n[vs vs%zu]\nisolation = pbr\nnamespace = %s\ninterface = %s\n", i,
			ns, LINK);
		if (dual)
			fprintf(f, "addresses = %s/30, 2001:db8:10:%zx::1/64\n"
				   "gateway = %s, 2001:db8:10:%zx::2\n", a, i, g, i);
		else
			fprintf(f, "addresses = %s/30\ngateway = %s\n", a, g);
	}
	return fclose(f);
}

static int cmd_start(const char *ns, size_t n, bool dual, const char *s4, const char *s6)
{
	char ini[] = "/tmp/coop-pbr-bench.XXXXXX", err[1024];
	size_t owned;
	struct coop_pbr_params p;
	struct coop_pbr_space *sp;
	double t0, t1, t2;
	struct coop *c;
	int fd;

	fd = mkstemp(ini);
	if (fd < 0)
		return 1;
	close(fd);
	c = coop_new();
	if (!c || write_ini(ini, ns, n, dual) < 0 || coop_configure(c, ini, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", c ? err : "coop_new failed");
		unlink(ini);
		return 1;
	}
	unlink(ini);
	t0 = now_s();
	if (coop_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	t1 = now_s();
	/* What coop put there, read back the way a restarted coopd would. */
	coop_pbr_params_default(&p);
	if (coop_pbr_space_open(ns, &p, &sp, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (s4 && s6) {
		FILE *f4 = fopen(s4, "w"), *f6 = fopen(s6, "w");

		if (!f4 || !f6 || coop_pbr_space_script(sp, f4, f6) < 0) {
			fprintf(stderr, "cannot write %s, %s\n", s4, s6);
			return 1;
		}
		fclose(f4);
		fclose(f6);
	}
	owned = coop_pbr_space_owned(sp);
	coop_pbr_space_close(sp);
	coop_stop(c);
	t2 = now_s();
	coop_run(c);
	printf("%.1f %.1f %zu\n", (t1 - t0) * 1e3, (now_s() - t2) * 1e3, owned);
	coop_free(c);
	return 0;
}

static int cmd_program(const char *ns, size_t n, bool dual, const char *s4, const char *s6)
{
	struct coop_vs_cfg *cfgs = make_cfgs(ns, n, dual);
	struct coop_pbr_slot *slots;
	struct coop_pbr_space *sp;
	struct coop_pbr_params p;
	char err[512];
	double t0, t1;
	size_t i, nb;
	int ret;

	if (!cfgs)
		return 1;
	coop_pbr_params_default(&p);
	t0 = now_s();
	/* What coop_start does for pbr VSes: read the namespace, assign,
	 * join every VS, commit once. */
	ret = coop_pbr_space_open(ns, &p, &sp, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	slots = calloc(n, sizeof(*slots));
	for (i = 0; slots && i < n; i++)
		slots[i].name = cfgs[i].name;
	if (!slots || coop_pbr_alloc(&p, slots, n, coop_pbr_space_busy(sp, &nb), nb, err,
				     sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", slots ? err : "out of memory");
		return 1;
	}
	for (i = 0; i < n; i++)
		if (!coop_pbr_space_join(sp, &cfgs[i], slots[i].mark, slots[i].table))
			return 1;
	ret = coop_pbr_space_commit(sp, err, sizeof(err));
	t1 = now_s();
	if (ret < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%.1f\n", (t1 - t0) * 1e3);
	if (s4 && s6) {
		FILE *f4 = fopen(s4, "w"), *f6 = fopen(s6, "w");

		if (!f4 || !f6 || coop_pbr_space_script(sp, f4, f6) < 0) {
			fprintf(stderr, "cannot write %s, %s\n", s4, s6);
			return 1;
		}
		fclose(f4);
		fclose(f6);
	}
	/* Closing changes nothing in the kernel: the state stays. */
	coop_pbr_space_close(sp);
	return 0;
}

static int cmd_clear(const char *ns)
{
	struct coop_pbr_space *sp;
	struct coop_pbr_params p;
	char err[512];
	int ret;

	coop_pbr_params_default(&p);
	ret = coop_pbr_space_open(ns, &p, &sp, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* A commit with no member removes every coop-tagged object the open
	 * found, including those iproute2 added with coop's protocol. */
	ret = coop_pbr_space_commit(sp, err, sizeof(err));
	coop_pbr_space_close(sp);
	if (ret < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_naive(size_t n, const char *path)
{
	struct coop_vs_cfg *cfgs = make_cfgs("x", n, false);
	struct coop_pbr_slot *slots = cfgs ? assign(cfgs, n) : NULL;
	FILE *f = fopen(path, "w");
	char a[64], g[64], net[64];
	size_t i;

	if (!slots || !f)
		return 1;
	for (i = 0; i < n; i++) {
		vs_v4(i, 1, a, sizeof(a));
		vs_v4(i, 2, g, sizeof(g));
		vs_v4(i, 0, net, sizeof(net));
		fprintf(f, "address add %s/30 dev %s noprefixroute\n", a, LINK);
		fprintf(f, "route add %s/30 dev %s table %u proto 246 scope link src %s\n", net, LINK,
			slots[i].table, a);
		fprintf(f, "route add default via %s dev %s table %u proto 246 src %s\n", g, LINK,
			slots[i].table, a);
		fprintf(f, "rule add pref %zu from %s lookup %u proto 246\n", 1000 + 2 * i, a,
			slots[i].table);
		fprintf(f, "rule add pref %zu fwmark %#x lookup %u proto 246\n", 1001 + 2 * i,
			slots[i].mark, slots[i].table);
	}
	return fclose(f) ? 1 : 0;
}

static int by_cost(const void *a, const void *b)
{
	const unsigned *x = a, *y = b;

	return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

static int cmd_pick(size_t n)
{
	struct coop_vs_cfg *cfgs = make_cfgs("x", n, false);
	struct coop_pbr_slot *slots = cfgs ? assign(cfgs, n) : NULL;
	struct coop_pbr_leaf *leaves = calloc(n, sizeof(*leaves));
	unsigned (*cost)[2] = calloc(n, sizeof(*cost));
	struct coop_pbr_rule *rules;
	struct coop_pbr_params p;
	size_t i, n_rules;
	char err[256];

	if (!slots || !leaves || !cost)
		return 1;
	coop_pbr_params_default(&p);
	for (i = 0; i < n; i++)
		leaves[i] = (struct coop_pbr_leaf){ .mark = slots[i].mark, .table = slots[i].table };
	if (coop_pbr_tree_build(&p, AF_INET, leaves, n, &rules, &n_rules, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (i = 0; i < n; i++) {
		uint32_t table;
		unsigned visited;

		if (coop_pbr_tree_eval(rules, n_rules, slots[i].mark, &table, &visited) !=
			    COOP_PBR_TABLE || table != slots[i].table)
			return 1;
		cost[i][0] = visited;
		cost[i][1] = (unsigned)i;
	}
	qsort(cost, n, sizeof(*cost), by_cost);
	printf("%u %u %u %u\n", cost[n / 2][1], cost[n - 1][1], cost[n / 2][0], cost[n - 1][0]);
	return 0;
}

/* An unconnected UDP socket of VS vs of an n-VS layout in namespace ns,
 * bound to the VS's address and carrying its mark, as coop gives it. */
static int vs_udp_socket(const char *ns, size_t n, size_t vs)
{
	struct coop_vs_cfg *cfgs = make_cfgs(ns, n, false);
	struct coop_pbr_slot *slots = cfgs ? assign(cfgs, n) : NULL;
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct coop_netns *nsr;
	char err[256], a[64];
	int fd;

	if (!slots || vs >= n)
		return -1;
	if (coop_netns_get(ns, false, &nsr, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	fd = coop_netns_socket(nsr->fd, AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_MARK, &slots[vs].mark, sizeof(uint32_t)) < 0) {
		perror("socket");
		return -1;
	}
	vs_v4(vs, 1, a, sizeof(a));
	inet_pton(AF_INET, a, &src.sin_addr);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		perror("bind");
		return -1;
	}
	coop_netns_put(nsr);
	return fd;
}

#define BURST 2000

/* CPU seconds the calling thread spent sending BURST datagrams on fd. */
static double burst(int fd)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	char buf[16] = "coop pbr bench";
	struct timespec t0, t1;
	int k;

	inet_pton(AF_INET, "198.18.100.1", &dst.sin_addr);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (k = 0; k < BURST; k++)
		if (sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
		    errno != ENOBUFS && errno != EAGAIN)
			return -1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static int by_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_pair(char **argv)
{
	int fa = vs_udp_socket(argv[0], strtoul(argv[1], NULL, 0), strtoul(argv[2], NULL, 0));
	int fb = vs_udp_socket(argv[3], strtoul(argv[4], NULL, 0), strtoul(argv[5], NULL, 0));
	double seconds = atof(argv[6]), ta = 0, tb = 0, t0 = now_s(), *ratios;
	size_t rounds = 0, cap = 4096;

	ratios = malloc(cap * sizeof(*ratios));
	if (fa < 0 || fb < 0 || !ratios)
		return 1;
	/* Warm both paths (neighbour entries, route caches of the sinks). */
	burst(fa);
	burst(fb);
	while (now_s() - t0 < seconds && rounds < cap) {
		double a, b;

		if (rounds % 2) {
			b = burst(fb);
			a = burst(fa);
		} else {
			a = burst(fa);
			b = burst(fb);
		}
		if (a <= 0 || b <= 0)
			return 1;
		ta += a;
		tb += b;
		ratios[rounds++] = a / b; /* rate_b / rate_a for the same count */
	}
	qsort(ratios, rounds, sizeof(*ratios), by_double);
	printf("%.0f %.0f %.3f\n", rounds * BURST / ta, rounds * BURST / tb, ratios[rounds / 2]);
	free(ratios);
	return 0;
}

static int cmd_udp(const char *ns, size_t n, size_t vs, double seconds)
{
	int fd = vs_udp_socket(ns, n, vs);
	unsigned long sent = 0;
	double t0, t;

	if (fd < 0)
		return 1;
	t0 = now_s();
	do {
		if (burst(fd) < 0) {
			perror("sendto");
			return 1;
		}
		sent += BURST;
		t = now_s() - t0;
	} while (t < seconds);
	printf("%.0f\n", sent / t);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (coop_netns_init() < 0)
		return 1;
	if (argc >= 4 && !strcmp(argv[1], "start")) {
		bool dual = argc >= 5 && !strcmp(argv[4], "dual");
		int at = dual ? 5 : 4;

		return cmd_start(argv[2], strtoul(argv[3], NULL, 0), dual,
				 argc > at + 1 ? argv[at] : NULL, argc > at + 1 ? argv[at + 1] : NULL);
	}
	if (argc >= 4 && !strcmp(argv[1], "program")) {
		bool dual = argc >= 5 && !strcmp(argv[4], "dual");
		int at = dual ? 5 : 4;

		return cmd_program(argv[2], strtoul(argv[3], NULL, 0), dual,
				   argc > at + 1 ? argv[at] : NULL, argc > at + 1 ? argv[at + 1] : NULL);
	}
	if (argc == 4 && !strcmp(argv[1], "naive"))
		return cmd_naive(strtoul(argv[2], NULL, 0), argv[3]);
	if (argc == 3 && !strcmp(argv[1], "clear"))
		return cmd_clear(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "pick"))
		return cmd_pick(strtoul(argv[2], NULL, 0));
	if (argc == 9 && !strcmp(argv[1], "pair"))
		return cmd_pair(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "udp"))
		return cmd_udp(argv[2], strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0),
			       atof(argv[5]));
	fprintf(stderr, "usage: see the comment at the top of bench/pbr/pbr_bench.c\n");
	return 2;
}
