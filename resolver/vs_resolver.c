/* vs_resolver.c - the resolver as part of a VS: its config keys, creation at
 * bring-up with sockets from coop_vs_socket(), release when the VS goes, the
 * admin command `resolve VS NAME [TYPE]` (answered later, on the control
 * loop) and the counters `show vs` and `show stats` print. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/coop_admin.h"
#include "base/json.h"
#include "base/util.h"
#include "core/runtime.h"
#include "resolver/resolver_vs.h"
#include "core/module.h"
#include "core/prom.h"
#include "core/vs.h"

/* Slots beyond the workers': the control loop (admin) and one spare for
 * an embedder's own thread. */
#define EXTRA_SLOTS 2

/* --- config keys ------------------------------------------------------------ */

static int parse_key(void *obj, const char *key, const char *val, char *why, size_t whylen)
{
	struct coop_vs_cfg *vs = obj;

	/* made with the section's first resolver key: a VS without one
	 * carries no settings (6 kB) of its own */
	if (!vs->dns) {
		vs->dns = malloc(sizeof(*vs->dns));
		if (!vs->dns) {
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		coop_resolver_conf_init(vs->dns);
		vs->dns_len = sizeof(*vs->dns);
	}
	return coop_resolver_conf_set(vs->dns, key, val, why, whylen);
}

int coop_resolver_cfg_parse_dns(void *obj, const char *val, char *why, size_t whylen)
{
	return parse_key(obj, "dns", val, why, whylen);
}

int coop_resolver_cfg_parse_search(void *obj, const char *val, char *why, size_t whylen)
{
	return parse_key(obj, "search", val, why, whylen);
}

int coop_resolver_cfg_parse_ndots(void *obj, const char *val, char *why, size_t whylen)
{
	return parse_key(obj, "ndots", val, why, whylen);
}

int coop_resolver_cfg_parse_timeout(void *obj, const char *val, char *why, size_t whylen)
{
	return parse_key(obj, "dns_timeout", val, why, whylen);
}

int coop_resolver_cfg_parse_attempts(void *obj, const char *val, char *why, size_t whylen)
{
	return parse_key(obj, "dns_attempts", val, why, whylen);
}

int coop_resolver_cfg_parse_cache(void *obj, const char *val, char *why, size_t whylen)
{
	return parse_key(obj, "dns_cache", val, why, whylen);
}

int coop_resolver_cfg_parse_hosts(void *obj, const char *val, char *why, size_t whylen)
{
	return parse_key(obj, "hosts_file", val, why, whylen);
}

/* --- lifecycle ------------------------------------------------------------------ */

static int vs_socket(void *ctx, int domain, int type, int protocol)
{
	return coop_vs_socket(ctx, domain, type, protocol);
}

int coop_vs_resolver_up(struct coop_vs *vs, char *err, size_t errlen)
{
	return coop_resolver_new(vs->cfg->name,
				 vs->cfg->dns ? vs->cfg->dns : coop_resolver_conf_defaults(), vs_socket,
				 vs, vs->coop->n_workers + EXTRA_SLOTS, &vs->resolver, err, errlen);
}

void coop_vs_resolver_shutdown(struct coop_vs *vs)
{
	if (vs->resolver)
		coop_resolver_shutdown(vs->resolver);
}

void coop_vs_resolver_release(struct coop_vs *vs, struct ev_loop *loop)
{
	if (vs->resolver)
		coop_resolver_release_loop(vs->resolver, loop);
}

void coop_vs_resolver_down(struct coop_vs *vs)
{
	if (!vs->resolver)
		return;
	/* Lookups of the control loop (admin `resolve`) are told, here on
	 * their own thread; the workers' channels are gone or unused. */
	coop_resolver_shutdown(vs->resolver);
	coop_resolver_release_loop(vs->resolver, vs->coop->loop);
	coop_resolver_free(vs->resolver);
	vs->resolver = NULL;
}

struct coop_resolver *coop_vs_resolver(struct coop_vs *vs)
{
	return vs->resolver;
}

/* --- show ------------------------------------------------------------------------- */

static void put_counters(struct coop_json *out, const struct coop_resolver_stats *st)
{
	coop_json_key(out, "counters");
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "queries", st->queries);
	coop_json_kv_u64(out, "answers", st->answers);
	coop_json_kv_u64(out, "negative", st->negative);
	coop_json_kv_u64(out, "cache_hits", st->cache_hits);
	coop_json_kv_u64(out, "timeouts", st->timeouts);
	coop_json_kv_u64(out, "failures", st->failures);
	coop_json_kv_u64(out, "cancelled", st->cancelled);
	coop_json_kv_u64(out, "upstream", st->upstream);
	coop_json_object_end(out);
}

void coop_vs_resolver_json(struct coop_json *out, const struct coop_vs *vs,
			   struct coop_resolver_stats *sum)
{
	struct coop_resolver_conf conf;
	struct coop_resolver_stats st;
	char buf[COOP_RESOLVER_SERVERS_MAX * 56];
	unsigned i;

	coop_json_key(out, "resolver");
	coop_json_object_begin(out);
	if (!vs->resolver || !coop_resolver_enabled(vs->resolver)) {
		coop_json_kv_bool(out, "enabled", false);
		coop_json_kv_string(
		    out, "why", vs->resolver ? "no dns = servers configured" : "the VS is not up");
		coop_json_object_end(out);
		return;
	}
	coop_resolver_conf_get(vs->resolver, &conf);
	coop_resolver_stats_get(vs->resolver, &st);
	coop_json_kv_bool(out, "enabled", true);
	coop_json_kv_string(out, "servers",
			    coop_resolver_conf_servers_str(&conf, buf, sizeof(buf)));
	coop_json_key(out, "search");
	coop_json_array_begin(out);
	for (i = 0; i < conf.n_search; i++)
		coop_json_string(out, conf.search[i]);
	coop_json_array_end(out);
	coop_json_kv_u64(out, "ndots", conf.ndots);
	coop_json_kv_u64(out, "timeout_ms", conf.timeout_ms);
	coop_json_kv_u64(out, "attempts", conf.attempts);
	coop_json_kv_string(out, "hosts_file", conf.hosts_file);
	coop_json_kv_u64(out, "cache_size", conf.cache_size);
	coop_json_kv_u64(out, "cache_entries", st.cache_entries);
	coop_json_kv_u64(out, "generation", st.generation);
	put_counters(out, &st);
	coop_json_object_end(out);
	if (sum) {
		sum->queries += st.queries;
		sum->answers += st.answers;
		sum->negative += st.negative;
		sum->cache_hits += st.cache_hits;
		sum->timeouts += st.timeouts;
		sum->failures += st.failures;
		sum->cancelled += st.cancelled;
		sum->upstream += st.upstream;
		sum->cache_entries += st.cache_entries;
	}
}

void coop_resolver_json_totals(struct coop_json *out, const struct coop_resolver_stats *sum)
{
	coop_json_key(out, "resolver");
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "cache_entries", sum->cache_entries);
	put_counters(out, sum);
	coop_json_object_end(out);
}

/* --- resolve VS NAME [TYPE] ---------------------------------------------------------- */

/* One `resolve` waiting for its answer on the control loop. */
struct admin_lookup {
	struct coop_admin_defer *defer;		/* the client's reply, once deferred */
	struct coop_resolver_query *q;		/* the lookup while it runs */
	char vs[COOP_NAME_MAX];			/* VS name, for the reply */
	char name[COOP_RESOLVER_NAME_MAX];	/* name asked */
	uint16_t type;				/* 0 = addresses */
	struct timespec t0;			/* when it started */
	bool done;				/* the callback ran */
	int status;				/* its status */
	const struct coop_resolver_result *res; /* held answer */
	unsigned info;				/* COOP_RESOLVER_I_* */
	double ms;				/* how long it took */
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static const char *source_str(const struct admin_lookup *l)
{
	if (l->info & COOP_RESOLVER_I_CACHED)
		return "cache";
	switch (l->res->source) {
	case COOP_RESOLVER_SRC_HOSTS:
		return "hosts_file";
	case COOP_RESOLVER_SRC_LITERAL:
		return "literal";
	default:
		return "dns";
	}
}

/* The record's data in zone-file text. */
static void rr_text(const struct coop_resolver_rr *rr, char *buf, size_t len)
{
	size_t i, o;

	switch (rr->type) {
	case COOP_DNS_A:
	case COOP_DNS_AAAA:
		coop_resolver_addr_str(&rr->addr, buf, len);
		return;
	case COOP_DNS_NS:
	case COOP_DNS_CNAME:
	case COOP_DNS_PTR:
		snprintf(buf, len, "%s", rr->target);
		return;
	case COOP_DNS_MX:
		snprintf(buf, len, "%u %s", rr->mx.preference, rr->mx.exchange);
		return;
	case COOP_DNS_SRV:
		snprintf(buf, len, "%u %u %u %s", rr->srv.priority, rr->srv.weight, rr->srv.port,
			 rr->srv.target);
		return;
	case COOP_DNS_SOA:
		snprintf(buf, len, "%s %s %u %u %u %u %u", rr->soa.mname, rr->soa.rname,
			 rr->soa.serial, rr->soa.refresh, rr->soa.retry, rr->soa.expire,
			 rr->soa.minimum);
		return;
	case COOP_DNS_TXT:
		snprintf(buf, len, "%.*s", (int)rr->txt.len, rr->txt.text);
		return;
	default:
		/* RFC 3597 unknown-type syntax. */
		o = (size_t)snprintf(buf, len, "\\# %zu ", rr->rdlen);
		for (i = 0; i < rr->rdlen && o + 3 < len; i++)
			o += (size_t)snprintf(buf + o, len - o, "%02x", rr->rdata[i]);
		return;
	}
}

/* The reply of a finished lookup: 0 with out written, or -errno with err. */
static int lookup_reply(const struct admin_lookup *l, struct coop_json *out, char *err,
			size_t errlen)
{
	char text[1024], tbuf[16];
	size_t i;

	if (l->status < 0) {
		snprintf(err, errlen, "vs '%s': %s: %s", l->vs, l->name,
			 coop_resolver_strerror(l->status));
		return l->status;
	}
	coop_json_object_begin(out);
	coop_json_kv_string(out, "vs", l->vs);
	coop_json_kv_string(out, "name", l->name);
	coop_json_kv_string(out, "type",
			    l->type ? coop_resolver_type_str(l->type, tbuf, sizeof(tbuf))
				    : "addresses");
	coop_json_kv_string(out, "answered", l->res->name);
	coop_json_kv_string(out, "canonical", l->res->canonical);
	coop_json_kv_string(out, "source", source_str(l));
	coop_json_kv_u64(out, "ttl", l->res->ttl);
	coop_json_key(out, "time_ms");
	coop_json_double(out, l->ms);
	if (!l->type) {
		coop_json_key(out, "addresses");
		coop_json_array_begin(out);
		for (i = 0; i < l->res->n_addrs; i++)
			coop_json_string(
			    out, coop_resolver_addr_str(&l->res->addrs[i], text, sizeof(text)));
		coop_json_array_end(out);
	}
	coop_json_key(out, "records");
	coop_json_array_begin(out);
	for (i = 0; i < l->res->n_rrs; i++) {
		const struct coop_resolver_rr *rr = &l->res->rrs[i];

		coop_json_object_begin(out);
		coop_json_kv_string(out, "name", rr->name);
		coop_json_kv_string(out, "type",
				    coop_resolver_type_str(rr->type, tbuf, sizeof(tbuf)));
		coop_json_kv_u64(out, "ttl", rr->ttl);
		rr_text(rr, text, sizeof(text));
		coop_json_kv_string(out, "data", text);
		coop_json_object_end(out);
	}
	coop_json_array_end(out);
	coop_json_object_end(out);
	return 0;
}

static void lookup_free(struct admin_lookup *l)
{
	if (l->res)
		coop_resolver_result_release(l->res);
	free(l);
}

static void lookup_cb(int status, const struct coop_resolver_result *res, unsigned info, void *arg)
{
	struct admin_lookup *l = arg;
	struct coop_json *j;
	char err[512];
	int ret;

	l->done = true;
	l->q = NULL;
	l->status = status;
	l->res = res ? coop_resolver_result_hold(res) : NULL;
	l->info = info;
	l->ms = ms_since(&l->t0);
	if (!l->defer)
		return; /* answered inside the handler: it replies */
	j = coop_json_new();
	err[0] = '\0';
	ret = j ? lookup_reply(l, j, err, sizeof(err)) : -ENOMEM;
	coop_admin_defer_done(l->defer, ret, j, err);
	coop_json_free(j);
	lookup_free(l);
}

/* The client went away first. */
static void lookup_cancel(void *arg)
{
	struct admin_lookup *l = arg;

	if (l->q)
		coop_resolver_cancel(l->q);
	lookup_free(l);
}

static int cmd_resolve(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		       size_t errlen)
{
	struct coop_vs *vs = coop_vs_find(c, argv[0]);
	struct admin_lookup *l;
	int ret, type = 0;

	if (!vs) {
		snprintf(err, errlen, "no virtual server named '%.*s'", COOP_NAME_MAX, argv[0]);
		return -ENOENT;
	}
	if (!vs->resolver) {
		snprintf(err, errlen, "vs '%s' is not up", vs->cfg->name);
		return -ENOTCONN;
	}
	if (!coop_resolver_enabled(vs->resolver)) {
		snprintf(err, errlen, "vs '%s' has no resolver: it has no dns = servers",
			 vs->cfg->name);
		return -ENOTSUP;
	}
	if (argc > 2) {
		type = coop_resolver_type_parse(argv[2]);
		if (type < 0) {
			snprintf(err, errlen,
				 "'%.32s' is not a record type (A, AAAA, SRV, PTR, MX, TXT, ... or "
				 "TYPEnnn)",
				 argv[2]);
			return -EINVAL;
		}
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	snprintf(l->vs, sizeof(l->vs), "%s", vs->cfg->name);
	snprintf(l->name, sizeof(l->name), "%.*s", COOP_RESOLVER_NAME_MAX - 1, argv[1]);
	l->type = (uint16_t)type;
	clock_gettime(CLOCK_MONOTONIC, &l->t0);
	/* On the control loop: this thread's channel of the VS. */
	if (type)
		ret = coop_resolver_query(vs->resolver, c->loop, argv[1], (uint16_t)type, 0,
					  lookup_cb, l, &l->q);
	else
		ret = coop_resolver_resolve(vs->resolver, c->loop, argv[1], AF_UNSPEC, 0, lookup_cb,
					    l, &l->q);
	if (ret < 0) {
		snprintf(err, errlen, "vs '%s': %.200s: %s", vs->cfg->name, argv[1],
			 coop_resolver_strerror(ret));
		lookup_free(l);
		return ret;
	}
	if (l->done) {
		ret = lookup_reply(l, out, err, errlen);
		lookup_free(l);
		return ret;
	}
	l->defer = coop_admin_defer(c, lookup_cancel, l);
	if (!l->defer) {
		coop_resolver_cancel(l->q);
		lookup_free(l);
		snprintf(err, errlen, "resolve answers later and needs an admin socket client");
		return -EOPNOTSUPP;
	}
	return 0;
}

static const struct coop_admin_cmd cmds[] = {
    {"resolve", "VS NAME [TYPE]",
     "look NAME up through the VS's own resolver, from inside its scope (its servers, "
     "search list and hosts file; addresses by default, or records of TYPE: A, AAAA, SRV, "
     "PTR, MX, TXT, ...)",
     cmd_resolve, NULL},
};


/* --- the module --------------------------------------------------------------------- */

/* The resolver's [vs NAME] keys (docs/resolver.md). */
static const struct coop_cfg_key vs_keys[] = {
	{ { "vs", "dns", "ADDR[:PORT][, ...]; IPv6 as ADDR or [ADDR]:PORT; at most 8",
	    "none: the VS has no resolver",
	    "The VS's DNS servers, tried in order, asked from inside the VS (its namespace "
	    "or its mark). Without dns the VS has no resolver; it never falls back to the "
	    "host's resolv.conf or hosts file, nor to another VS's servers." },
	  .parse = coop_resolver_cfg_parse_dns },
	{ { "vs", "search", "DOMAIN[, ...]: at most 6", "none",
	    "Search list for names with fewer than ndots dots, as resolv.conf(5) describes. "
	    "Needs dns." },
	  .parse = coop_resolver_cfg_parse_search },
	{ { "vs", "ndots", "0..15", "1",
	    "A name with at least this many dots is tried as given before the search list. "
	    "Needs dns." },
	  .parse = coop_resolver_cfg_parse_ndots },
	{ { "vs", "dns_timeout", "milliseconds, 10..30000", "2000",
	    "Wait for one attempt. A lookup without an answer fails after dns_timeout x "
	    "dns_attempts x (number of servers). Needs dns." },
	  .parse = coop_resolver_cfg_parse_timeout },
	{ { "vs", "dns_attempts", "1..5", "2", "Attempts per server. Needs dns." },
	  .parse = coop_resolver_cfg_parse_attempts },
	{ { "vs", "dns_cache", "entries, 0..1000000", "1024",
	    "Answers the VS keeps, each until its TTL ends (negative ones for their SOA's "
	    "minimum), least recently used first out; 0 turns the cache off. Needs dns." },
	  .parse = coop_resolver_cfg_parse_cache },
	{ { "vs", "hosts_file", "absolute path", "none",
	    "The VS's own hosts file (ADDRESS NAME [ALIAS...] lines), consulted before the "
	    "DNS for addresses and reverse lookups. The host's /etc/hosts is never read. "
	    "Needs dns." },
	  .parse = coop_resolver_cfg_parse_hosts },
};

/* A VS's settings as a whole: the hosts file is read when links are. */
static int check_vs(const void *obj, bool links, const char **key, char *why, size_t whylen)
{
	const struct coop_vs_cfg *vs = obj;

	return vs->dns ? coop_resolver_conf_check(vs->dns, links, key, why, whylen) : 0;
}

static const struct coop_cfg_keytab keytabs[] = {
	{ .section = "vs", .keys = vs_keys, .n = sizeof(vs_keys) / sizeof(vs_keys[0]),
	  .check = check_vs },
};

static bool same_dns(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b)
{
	if (!a->dns || !b->dns)
		return !a->dns && !b->dns;
	return a->dns_len == b->dns_len && !memcmp(a->dns, b->dns, a->dns_len);
}

static void release_on(struct coop_worker *w, void *arg)
{
	coop_resolver_release_loop(arg, w->loop);
}

/* New settings: a new channel set takes over at once; lookups still
 * running on the old one end with ECANCELED. */
static int resolver_vs_change(struct coop_vs *vs, const struct coop_vs_cfg *old,
			      const struct coop_vs_cfg *new, struct coop_change_note *note, char *err,
			      size_t errlen)
{
	struct coop_resolver *was = vs->resolver, *now;
	int ret;

	(void)old;
	if (same_dns(old, new))
		return 0;
	ret = coop_resolver_new(new->name, new->dns ? new->dns : coop_resolver_conf_defaults(),
				vs_socket, vs, vs->coop->n_workers + EXTRA_SLOTS, &now, err, errlen);
	if (ret < 0)
		return ret;
	coop_workers_park(vs->coop);
	vs->resolver = now;
	coop_workers_unpark(vs->coop);
	if (was) {
		coop_resolver_shutdown(was);
		coop_workers_run(vs->coop, release_on, was);
		coop_resolver_release_loop(was, vs->coop->loop);
		coop_resolver_free(was);
	}
	coop_change_note_add(note, "resolver settings changed");
	return 0;
}

static void resolver_vs_lose(struct coop_vs *vs)
{
	coop_vs_resolver_shutdown(vs);
}

static void resolver_vs_release_worker(struct coop_vs *vs, struct coop_worker *w)
{
	coop_vs_resolver_release(vs, w->loop);
}

static void resolver_vs_json(const struct coop_vs *vs, struct coop_json *out, bool detail)
{
	(void)detail;
	coop_vs_resolver_json(out, vs, NULL);
}

static void resolver_stats_json(struct coop *c, struct coop_json *out)
{
	struct coop_resolver_stats sum = { 0 };
	struct coop_json *scratch = coop_json_new();
	size_t i;

	/* the per-VS objects are written by vs_json; here only the sums */
	for (i = 0; scratch && i < c->n_vs; i++)
		coop_vs_resolver_json(scratch, c->vs[i], &sum);
	coop_json_free(scratch);
	coop_resolver_json_totals(out, &sum);
}

/* /metrics: the counters of each VS with a resolver, one family each. */
static const struct {
	const char *name; /* metric name */
	const char *help; /* its # HELP */
	size_t off;       /* the counter in struct coop_resolver_stats */
	bool gauge;       /* a value now, not a count */
} metric_tab[] = {
	{ "coop_vs_resolver_queries_total", "resolver lookups started",
	  offsetof(struct coop_resolver_stats, queries), false },
	{ "coop_vs_resolver_answers_total",
	  "resolver lookups answered with records (DNS, hosts file or cache)",
	  offsetof(struct coop_resolver_stats, answers), false },
	{ "coop_vs_resolver_negative_total",
	  "resolver lookups answered \"no such name\" or \"no such record\"",
	  offsetof(struct coop_resolver_stats, negative), false },
	{ "coop_vs_resolver_cache_hits_total", "resolver lookups answered from the cache",
	  offsetof(struct coop_resolver_stats, cache_hits), false },
	{ "coop_vs_resolver_timeouts_total", "resolver lookups that got no answer in time",
	  offsetof(struct coop_resolver_stats, timeouts), false },
	{ "coop_vs_resolver_failures_total",
	  "resolver lookups failed otherwise (server failure, refused, bad answer, no memory)",
	  offsetof(struct coop_resolver_stats, failures), false },
	{ "coop_vs_resolver_cancelled_total", "resolver lookups cancelled by their caller",
	  offsetof(struct coop_resolver_stats, cancelled), false },
	{ "coop_vs_resolver_upstream_total",
	  "DNS questions sent to the VS's servers (each candidate name, each type)",
	  offsetof(struct coop_resolver_stats, upstream), false },
	{ "coop_vs_resolver_cache_entries", "entries in the VS's resolver cache now",
	  offsetof(struct coop_resolver_stats, cache_entries), true },
};

static void resolver_metrics(struct coop *c, struct coop_prom *p)
{
	struct coop_prom_family *fam[COOP_ARRAY_LEN(metric_tab)];
	struct coop_resolver_stats st;
	size_t i, k;

	for (k = 0; k < COOP_ARRAY_LEN(metric_tab); k++)
		fam[k] = coop_prom_family(p, metric_tab[k].name,
					  metric_tab[k].gauge ? COOP_PROM_GAUGE : COOP_PROM_COUNTER,
					  metric_tab[k].help);
	for (i = 0; i < c->n_vs; i++) {
		const struct coop_vs *vs = c->vs[i];

		if (!vs->resolver || !coop_resolver_enabled(vs->resolver))
			continue;
		coop_resolver_stats_get(vs->resolver, &st);
		for (k = 0; k < COOP_ARRAY_LEN(metric_tab); k++) {
			const char *at = (const char *)&st + metric_tab[k].off;

			coop_prom_u64(fam[k], *(const uint64_t *)at, "vs", vs->cfg->name, NULL);
		}
	}
}

const struct coop_module coop_mod_resolver = {
	.id = COOP_MOD_RESOLVER,
	.name = "resolver",
	.keytabs = keytabs,
	.n_keytabs = 1,
	.cmds = cmds,
	.n_cmds = sizeof(cmds) / sizeof(cmds[0]),
	.vs_add = coop_vs_resolver_up,
	.vs_change = resolver_vs_change,
	.vs_lose = resolver_vs_lose,
	.vs_release_worker = resolver_vs_release_worker,
	.vs_remove = coop_vs_resolver_down,
	.vs_json = resolver_vs_json,
	.stats_json = resolver_stats_json,
	.metrics = resolver_metrics,
};
