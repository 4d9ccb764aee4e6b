/* metrics_test.c - the Prometheus text writer (families grouped under one
 * # HELP and # TYPE whatever the write order, labels and escaping, values,
 * what it refuses) and /metrics rendered from a hand-built runtime: the
 * core's samples, then each module's hook in order, the built-in modules
 * with nothing started, and a module that declares a bad family. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "core/prom.h"
#include "core/runtime.h"
#include "core/vs.h"
#include "runtime/rt.h"
#include "vs/udp.h"

/* The text of p, which must finish with status want. */
static char *finish(struct coop_prom *p, int want, char *err, size_t errlen)
{
	struct coop_mbuf b = { 0 };

	assert_int_equal(coop_prom_finish(p, &b, err, errlen), want);
	coop_prom_free(p);
	return b.p ? b.p : strdup("");
}

/* Samples written family by family or interleaved come out grouped, the
 * families in the order first declared; a family without samples is left
 * out; declaring a name again gives the same family (first help kept). */
static void test_grouping(void **state)
{
	struct coop_prom *p = coop_prom_new();
	struct coop_prom_family *a, *b, *empty;
	char err[160] = "", *t;

	(void)state;
	a = coop_prom_family(p, "t_accepted_total", COOP_PROM_COUNTER, "connections accepted");
	b = coop_prom_family(p, "t_active", COOP_PROM_GAUGE, "connections open");
	empty = coop_prom_family(p, "t_never", COOP_PROM_GAUGE, "no samples");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(empty);
	coop_prom_u64(a, 12, "vs", "nas1", NULL);
	coop_prom_u64(b, 2, "vs", "nas1", NULL);
	coop_prom_u64(a, UINT64_MAX, "vs", "nas2", NULL);
	coop_prom_u64(b, 0, "vs", "nas2", NULL);
	assert_ptr_equal(coop_prom_family(p, "t_accepted_total", COOP_PROM_COUNTER, "other"), a);
	coop_prom_u64(coop_prom_family(p, "t_accepted_total", COOP_PROM_COUNTER, NULL), 1, "vs",
		      "nas3", "worker", "0", NULL);
	coop_prom_u64(coop_prom_family(p, "t_workers", COOP_PROM_GAUGE, NULL), 2, NULL);
	t = finish(p, 0, err, sizeof(err));
	assert_string_equal(t, "# HELP t_accepted_total connections accepted\n"
			       "# TYPE t_accepted_total counter\n"
			       "t_accepted_total{vs=\"nas1\"} 12\n"
			       "t_accepted_total{vs=\"nas2\"} 18446744073709551615\n"
			       "t_accepted_total{vs=\"nas3\",worker=\"0\"} 1\n"
			       "# HELP t_active connections open\n"
			       "# TYPE t_active gauge\n"
			       "t_active{vs=\"nas1\"} 2\n"
			       "t_active{vs=\"nas2\"} 0\n"
			       "# HELP t_workers \n"
			       "# TYPE t_workers gauge\n"
			       "t_workers 2\n");
	assert_string_equal(err, "");
	free(t);
}

/* Label values escape backslash, double quote and line feed; help text
 * backslash and line feed; other bytes (UTF-8) pass as they are. */
static void test_escaping(void **state)
{
	struct coop_prom *p = coop_prom_new();
	struct coop_prom_family *f;
	char *t;

	(void)state;
	f = coop_prom_family(p, "t:odd_name", COOP_PROM_GAUGE, "a \\ b\nc \"d\"");
	coop_prom_u64(f, 1, "vs", "n\"1\\\n", "x", "\xc3\xa9", "e", "", NULL);
	t = finish(p, 0, NULL, 0);
	assert_string_equal(t, "# HELP t:odd_name a \\\\ b\\nc \"d\"\n"
			       "# TYPE t:odd_name gauge\n"
			       "t:odd_name{vs=\"n\\\"1\\\\\\n\",x=\"\xc3\xa9\",e=\"\"} 1\n");
	free(t);
}

/* Floating-point values: shortest exact spelling, and the format's NaN and
 * infinities. */
static void test_doubles(void **state)
{
	struct coop_prom *p = coop_prom_new();
	struct coop_prom_family *f = coop_prom_family(p, "t_ratio", COOP_PROM_GAUGE, "h");
	char *t;

	(void)state;
	coop_prom_double(f, 0.5, "k", "a", NULL);
	coop_prom_double(f, 0.1, "k", "b", NULL);
	coop_prom_double(f, 1e300, "k", "c", NULL);
	coop_prom_double(f, -3, "k", "d", NULL);
	coop_prom_double(f, NAN, "k", "e", NULL);
	coop_prom_double(f, INFINITY, "k", "f", NULL);
	coop_prom_double(f, -INFINITY, "k", "g", NULL);
	coop_prom_double(f, 1.0 / 3, "k", "h", NULL);
	t = finish(p, 0, NULL, 0);
	assert_string_equal(t, "# HELP t_ratio h\n# TYPE t_ratio gauge\n"
			       "t_ratio{k=\"a\"} 0.5\n"
			       "t_ratio{k=\"b\"} 0.1\n"
			       "t_ratio{k=\"c\"} 1e+300\n"
			       "t_ratio{k=\"d\"} -3\n"
			       "t_ratio{k=\"e\"} NaN\n"
			       "t_ratio{k=\"f\"} +Inf\n"
			       "t_ratio{k=\"g\"} -Inf\n"
			       "t_ratio{k=\"h\"} 0.33333333333333331\n");
	free(t);
}

/* What the format forbids is refused, the first refusal named, and the
 * rest still written: a counter not ending in _total, a bad metric name,
 * one name as two types, a bad or reserved label name (that sample only).
 * Writing to a refused (NULL) family does nothing. */
static void test_refusals(void **state)
{
	struct coop_prom *p = coop_prom_new();
	struct coop_prom_family *ok;
	char err[160] = "", *t;

	(void)state;
	ok = coop_prom_family(p, "t_good_total", COOP_PROM_COUNTER, "fine");
	assert_null(coop_prom_family(p, "t_packets", COOP_PROM_COUNTER, "no _total"));
	assert_null(coop_prom_family(p, "1t", COOP_PROM_GAUGE, "digit first"));
	assert_null(coop_prom_family(p, "t-x", COOP_PROM_GAUGE, "dash"));
	assert_null(coop_prom_family(p, "", COOP_PROM_GAUGE, "empty"));
	assert_null(coop_prom_family(p, "t_good_total", COOP_PROM_GAUGE, "other type"));
	coop_prom_u64(NULL, 1, "vs", "x", NULL);
	coop_prom_double(NULL, 1, NULL);
	coop_prom_u64(ok, 1, "vs", "a", NULL);
	coop_prom_u64(ok, 2, "v-s", "b", NULL);
	coop_prom_u64(ok, 3, "vs", "c", "__name__", "x", NULL);
	coop_prom_u64(ok, 4, "vs", "d", "0k", "x", NULL);
	coop_prom_u64(ok, 5, "vs", "e", NULL);
	t = finish(p, -EINVAL, err, sizeof(err));
	assert_string_equal(t, "# HELP t_good_total fine\n# TYPE t_good_total counter\n"
			       "t_good_total{vs=\"a\"} 1\n"
			       "t_good_total{vs=\"e\"} 5\n");
	assert_string_equal(err, "counter 't_packets': counter names end in _total");
	free(t);
}

/* A long label value goes through whole. */
static void test_long_value(void **state)
{
	struct coop_prom *p = coop_prom_new();
	char big[3000], *t, *want;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	coop_prom_u64(coop_prom_family(p, "t_g", COOP_PROM_GAUGE, "h"), 7, "k", big, NULL);
	t = finish(p, 0, NULL, 0);
	want = malloc(sizeof(big) + 64);
	snprintf(want, sizeof(big) + 64, "# HELP t_g h\n# TYPE t_g gauge\nt_g{k=\"%s\"} 7\n", big);
	assert_string_equal(t, want);
	free(want);
	free(t);
}

/* --- rendering from a hand-built runtime ---------------------------------------------- */

/* Two workers; nas1 up with connections on both workers, nas2 draining
 * with none. */
struct fixture {
	struct coop c;
	struct coop_vs vs[2];
	struct coop_vs *vsp[2];
	struct coop_vs_cfg cfg[2];
	struct coop_vs_wstats ws[2][2];
};

static void fixture_init(struct fixture *f)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->c.n_workers = 2;
	f->c.reloads = 3;
	for (i = 0; i < 2; i++) {
		snprintf(f->cfg[i].name, sizeof(f->cfg[i].name), "nas%zu", i + 1);
		f->vs[i].coop = &f->c;
		f->vs[i].cfg = &f->cfg[i];
		f->vs[i].wstats = f->ws[i];
		f->vs[i].n_workers = 2;
		f->vsp[i] = &f->vs[i];
	}
	f->vs[0].state = COOP_VS_UP;
	f->vs[1].state = COOP_VS_DRAINING;
	/* nas1: worker 0 accepted 5 (3 closed) and opened 1; worker 1
	 * accepted 2 (2 closed) */
	f->ws[0][0].accepted = 5;
	f->ws[0][0].outbound = 1;
	f->ws[0][0].closed = 3;
	f->ws[0][0].bytes_in = 100;
	f->ws[0][0].bytes_out = 40;
	f->ws[0][1].accepted = 2;
	f->ws[0][1].closed = 2;
	f->ws[0][1].bytes_in = 11;
	f->ws[0][1].bytes_out = 2;
	f->c.vs = f->vsp;
	f->c.n_vs = 2;
	/* the connection limits: nas1 has its own max_connections, refused
	 * 3 + 1 there and 1 at the runtime's, closed 2 at out_max and 1 + 2
	 * idle */
	f->c.max_conns = 100;
	f->cfg[0].max_connections = 10;
	assert_int_equal(coop_conn_vs_sync(&f->c), 0);
	assert_int_equal(f->c.n_conn_vs, 2);
	for (i = 0; i < 2; i++) {
		struct coop_conn_wstats *ws = f->c.conn_vs[i].ws;

		if (f->c.conn_vs[i].vs != &f->vs[0])
			continue;
		ws[0].refused_vs = 3;
		ws[1].refused_vs = 1;
		ws[1].refused_global = 1;
		ws[0].closed_out_max = 2;
		ws[0].closed_idle = 1;
		ws[1].closed_idle = 2;
	}
}

static void fixture_done(struct fixture *f)
{
	coop_conn_vs_free(&f->c);
}

static void mod_a_metrics(struct coop *c, struct coop_prom *p)
{
	struct coop_prom_family *f = coop_prom_family(p, "coop_vs_a_hits_total", COOP_PROM_COUNTER,
						      "module a's hits");
	size_t i;

	for (i = 0; i < c->n_vs; i++)
		coop_prom_u64(f, 10 + i, "vs", c->vs[i]->cfg->name, NULL);
}

static void mod_b_metrics(struct coop *c, struct coop_prom *p)
{
	(void)c;
	/* adds to a family of module a's (same name and type): one group */
	coop_prom_u64(coop_prom_family(p, "coop_vs_a_hits_total", COOP_PROM_COUNTER, "ignored"), 99,
		      "vs", "other", NULL);
	coop_prom_u64(coop_prom_family(p, "coop_b_level", COOP_PROM_GAUGE, "module b's level"), 4,
		      NULL);
}

static void mod_bad_metrics(struct coop *c, struct coop_prom *p)
{
	(void)c;
	coop_prom_u64(coop_prom_family(p, "coop_bad_count", COOP_PROM_COUNTER, "no _total"), 1,
		      NULL);
}

static const struct coop_module mod_a = { .name = "a", .metrics = mod_a_metrics };
static const struct coop_module mod_none = { .name = "none" };
static const struct coop_module mod_b = { .name = "b", .metrics = mod_b_metrics };
static const struct coop_module mod_bad = { .name = "bad", .metrics = mod_bad_metrics };

static const char core_text[] =
	"# HELP coop_workers worker threads\n"
	"# TYPE coop_workers gauge\n"
	"coop_workers 2\n"
	"# HELP coop_vs_count virtual servers in the configuration, in any state\n"
	"# TYPE coop_vs_count gauge\n"
	"coop_vs_count 2\n"
	"# HELP coop_reloads_total reload commands and SIGHUPs received\n"
	"# TYPE coop_reloads_total counter\n"
	"coop_reloads_total 3\n"
	"# HELP coop_vs_state 1 for the state the VS is in (up, draining, removing, losing, lost, "
	"down)\n"
	"# TYPE coop_vs_state gauge\n"
	"coop_vs_state{vs=\"nas1\",state=\"up\"} 1\n"
	"coop_vs_state{vs=\"nas2\",state=\"draining\"} 1\n"
	"# HELP coop_vs_tcp_accepted_total TCP connections accepted\n"
	"# TYPE coop_vs_tcp_accepted_total counter\n"
	"coop_vs_tcp_accepted_total{vs=\"nas1\"} 7\n"
	"coop_vs_tcp_accepted_total{vs=\"nas2\"} 0\n"
	"# HELP coop_vs_tcp_outbound_total outbound TCP connections opened\n"
	"# TYPE coop_vs_tcp_outbound_total counter\n"
	"coop_vs_tcp_outbound_total{vs=\"nas1\"} 1\n"
	"coop_vs_tcp_outbound_total{vs=\"nas2\"} 0\n"
	"# HELP coop_vs_tcp_active TCP connections open now (accepted and outbound)\n"
	"# TYPE coop_vs_tcp_active gauge\n"
	"coop_vs_tcp_active{vs=\"nas1\"} 3\n"
	"coop_vs_tcp_active{vs=\"nas2\"} 0\n"
	"# HELP coop_vs_tcp_bytes_in_total TCP payload bytes received\n"
	"# TYPE coop_vs_tcp_bytes_in_total counter\n"
	"coop_vs_tcp_bytes_in_total{vs=\"nas1\"} 111\n"
	"coop_vs_tcp_bytes_in_total{vs=\"nas2\"} 0\n"
	"# HELP coop_vs_tcp_bytes_out_total TCP payload bytes sent\n"
	"# TYPE coop_vs_tcp_bytes_out_total counter\n"
	"coop_vs_tcp_bytes_out_total{vs=\"nas1\"} 42\n"
	"coop_vs_tcp_bytes_out_total{vs=\"nas2\"} 0\n"
	"# HELP coop_tcp_max_connections [global] max_connections in effect: TCP connections "
	"open at once in all VSes together\n"
	"# TYPE coop_tcp_max_connections gauge\n"
	"coop_tcp_max_connections 100\n"
	"# HELP coop_vs_tcp_max_connections the VS's max_connections (0: none of its own)\n"
	"# TYPE coop_vs_tcp_max_connections gauge\n"
	"coop_vs_tcp_max_connections{vs=\"nas1\"} 10\n"
	"coop_vs_tcp_max_connections{vs=\"nas2\"} 0\n"
	"# HELP coop_vs_tcp_refused_total TCP connections refused at a max_connections: the "
	"VS's (limit vs) or [global] (limit global)\n"
	"# TYPE coop_vs_tcp_refused_total counter\n"
	"coop_vs_tcp_refused_total{vs=\"nas1\",limit=\"vs\"} 4\n"
	"coop_vs_tcp_refused_total{vs=\"nas1\",limit=\"global\"} 1\n"
	"coop_vs_tcp_refused_total{vs=\"nas2\",limit=\"vs\"} 0\n"
	"coop_vs_tcp_refused_total{vs=\"nas2\",limit=\"global\"} 0\n"
	"# HELP coop_vs_tcp_limit_closed_total TCP connections closed by a limit: unsent output "
	"would pass out_max (reason out_max), idle_timeout (reason idle)\n"
	"# TYPE coop_vs_tcp_limit_closed_total counter\n"
	"coop_vs_tcp_limit_closed_total{vs=\"nas1\",reason=\"out_max\"} 2\n"
	"coop_vs_tcp_limit_closed_total{vs=\"nas1\",reason=\"idle\"} 3\n"
	"coop_vs_tcp_limit_closed_total{vs=\"nas2\",reason=\"out_max\"} 0\n"
	"coop_vs_tcp_limit_closed_total{vs=\"nas2\",reason=\"idle\"} 0\n"
	"# HELP coop_worker_tcp_active TCP connections open now on the worker, all VSes\n"
	"# TYPE coop_worker_tcp_active gauge\n"
	"coop_worker_tcp_active{worker=\"0\"} 3\n"
	"coop_worker_tcp_active{worker=\"1\"} 0\n";

static char *render(struct coop *c, int want, char *err, size_t errlen)
{
	struct coop_mbuf b = { 0 };

	assert_int_equal(coop_metrics_text(c, &b, err, errlen), want);
	return b.p ? b.p : strdup("");
}

/* The core's samples straight from the per-worker counters, then the
 * modules' in hook order (a module without a hook adds nothing; one that
 * writes to another's family joins its group). */
static void test_render(void **state)
{
	const struct coop_module *mods[] = { &mod_a, &mod_none, &mod_b };
	struct fixture f;
	char err[160], *t, want[8192];

	(void)state;
	fixture_init(&f);
	f.c.mods = mods;
	f.c.n_mods = 3;
	t = render(&f.c, 0, err, sizeof(err));
	snprintf(want, sizeof(want),
		 "%s"
		 "# HELP coop_vs_a_hits_total module a's hits\n"
		 "# TYPE coop_vs_a_hits_total counter\n"
		 "coop_vs_a_hits_total{vs=\"nas1\"} 10\n"
		 "coop_vs_a_hits_total{vs=\"nas2\"} 11\n"
		 "coop_vs_a_hits_total{vs=\"other\"} 99\n"
		 "# HELP coop_b_level module b's level\n"
		 "# TYPE coop_b_level gauge\n"
		 "coop_b_level 4\n",
		 core_text);
	assert_string_equal(t, want);
	free(t);
	fixture_done(&f);
}

/* A module declaring what the format refuses loses that family only; the
 * rendering says which. */
static void test_render_bad_module(void **state)
{
	const struct coop_module *mods[] = { &mod_bad, &mod_b };
	struct fixture f;
	char err[160], *t;

	(void)state;
	fixture_init(&f);
	f.c.mods = mods;
	f.c.n_mods = 2;
	t = render(&f.c, -EINVAL, err, sizeof(err));
	assert_string_equal(err, "counter 'coop_bad_count': counter names end in _total");
	assert_non_null(strstr(t, "coop_b_level 4\n"));
	assert_non_null(strstr(t, "coop_vs_tcp_accepted_total{vs=\"nas1\"} 7\n"));
	assert_null(strstr(t, "coop_bad"));
	free(t);
	fixture_done(&f);
}

/* Every built-in module's hook with nothing started (no demux, resolver
 * or forwarder) adds nothing; with an empty UDP demux, its totals. */
static void test_render_builtin(void **state)
{
	const struct coop_module *const *mods;
	struct coop_udp *u;
	struct fixture f;
	char err[160], *t;
	size_t n;

	(void)state;
	fixture_init(&f);
	mods = coop_rt_modules(&n);
	f.c.mods = mods;
	f.c.n_mods = n;
	t = render(&f.c, 0, err, sizeof(err));
	assert_string_equal(t, core_text);
	free(t);

	assert_int_equal(coop_udp_new(2, &u), 0);
	f.c.priv[COOP_MOD_UDP] = u;
	t = render(&f.c, 0, err, sizeof(err));
	assert_non_null(strstr(t, "# TYPE coop_udp_drops_total counter\n"
				  "coop_udp_drops_total{reason=\"no_vs\"} 0\n"
				  "coop_udp_drops_total{reason=\"no_pktinfo\"} 0\n"));
	assert_non_null(strstr(t, "coop_udp_rx_errors_total 0\n"));
	assert_non_null(strstr(t, "coop_udp_groups 0\n"));
	assert_non_null(strstr(t, "coop_udp_sockets 0\n"));
	/* no VS has a udp listener: no per-VS UDP samples */
	assert_null(strstr(t, "coop_vs_udp_"));
	assert_int_equal(strncmp(t, core_text, strlen(core_text)), 0);
	free(t);
	coop_udp_free(u);
	fixture_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grouping),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_bad_module),
		cmocka_unit_test(test_render_builtin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
