/* cmds.c - the runtime's admin commands: show vs, show stats (each module
 * adds its members), reload, vs drain, vs resume. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/admin.h"
#include "base/json.h"
#include "runtime/rt.h"

static const char *vs_isolation(const struct coop_vs *vs)
{
	return vs->iso->name;
}

/* The namespace the VS's sockets live in; "" means coopd's own. */
static const char *vs_namespace(const struct coop_vs *vs)
{
	return vs->iso->namespace ? vs->iso->namespace(vs) : "";
}

static const char *vs_state(const struct coop_vs *vs)
{
	return coop_vs_state_name(vs->state);
}

/* Every module's members of a VS object. */
static void put_mods(struct coop_json *out, const struct coop_vs *vs, bool detail)
{
	const struct coop *c = vs->coop;
	size_t i;

	for (i = 0; i < c->n_mods; i++)
		if (c->mods[i]->vs_json && coop_rt_mod_for(c->mods[i], vs))
			c->mods[i]->vs_json(vs, out, detail);
}

static void put_addr(struct coop_json *out, const struct coop_addr *a, int len)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family, a->family == AF_INET6 ? (const void *)&a->v6 : (const void *)&a->v4,
		       buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "?");
	if (len >= 0)
		coop_json_stringf(out, "%s/%d", buf, len);
	else
		coop_json_string(out, buf);
}

static void put_addresses(struct coop_json *out, const struct coop_vs_cfg *cfg)
{
	size_t i;

	coop_json_key(out, "addresses");
	coop_json_array_begin(out);
	for (i = 0; i < cfg->n_addrs; i++)
		put_addr(out, &cfg->addrs[i].addr, cfg->addrs[i].len);
	coop_json_array_end(out);
}

static void put_listeners(struct coop_json *out, const struct coop_vs_cfg *cfg)
{
	size_t i;

	coop_json_key(out, "listeners");
	coop_json_array_begin(out);
	for (i = 0; i < cfg->n_listens; i++) {
		const struct coop_listen_cfg *l = &cfg->listens[i];

		coop_json_stringf(out, "%s:%u %s", l->proto == IPPROTO_UDP ? "udp" : "tcp",
				  (unsigned)l->port, l->service);
	}
	coop_json_array_end(out);
}

static void put_counters(struct coop_json *out, const char *key, const struct coop_vs_stats *st,
			 const struct coop_conn_limit_stats *ls)
{
	coop_json_key(out, key);
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "accepted", st->accepted);
	coop_json_kv_u64(out, "active", st->active);
	coop_json_kv_u64(out, "outbound", st->outbound);
	coop_json_kv_u64(out, "bytes_in", st->bytes_in);
	coop_json_kv_u64(out, "bytes_out", st->bytes_out);
	coop_json_kv_u64(out, "refused", ls->refused_vs + ls->refused_global);
	coop_json_kv_u64(out, "closed_out_max", ls->closed_out_max);
	coop_json_kv_u64(out, "closed_idle", ls->closed_idle);
	coop_json_object_end(out);
}

/* The connection limits the VS works under, and what they refused. */
static void put_limits(struct coop_json *out, const struct coop_vs *vs,
		       const struct coop_conn_limit_stats *ls)
{
	const struct coop_vs_cfg *cfg = vs->cfg;

	coop_json_key(out, "limits");
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "max_connections", cfg->max_connections);
	coop_json_kv_u64(out, "global_max_connections", coop_conn_global_max(vs->coop));
	coop_json_kv_u64(out, "idle_timeout_ms", cfg->idle_timeout_ms);
	coop_json_kv_u64(out, "out_high", cfg->out_high);
	coop_json_kv_u64(out, "out_max", cfg->out_max);
	coop_json_kv_u64(out, "refused_vs", ls->refused_vs);
	coop_json_kv_u64(out, "refused_global", ls->refused_global);
	coop_json_object_end(out);
}

static void put_vs_brief(struct coop_json *out, const struct coop_vs *vs)
{
	struct coop_conn_limit_stats ls;
	struct coop_vs_stats st;

	coop_vs_stats_get(vs, &st);
	coop_conn_limit_stats_get(vs, &ls);
	coop_json_object_begin(out);
	coop_json_kv_string(out, "name", vs->cfg->name);
	coop_json_kv_string(out, "isolation", vs_isolation(vs));
	coop_json_kv_string(out, "namespace", vs_namespace(vs));
	put_addresses(out, vs->cfg);
	put_listeners(out, vs->cfg);
	coop_json_kv_string(out, "state", vs_state(vs));
	put_counters(out, "counters", &st, &ls);
	coop_json_object_end(out);
}

static void put_vs_detail(struct coop_json *out, const struct coop_vs *vs)
{
	const struct coop_vs_cfg *cfg = vs->cfg;
	struct coop_conn_limit_stats ls;
	struct coop_vs_stats st;
	unsigned w;

	coop_vs_stats_get(vs, &st);
	coop_conn_limit_stats_get(vs, &ls);
	coop_json_object_begin(out);
	coop_json_kv_string(out, "name", cfg->name);
	coop_json_kv_string(out, "isolation", vs_isolation(vs));
	coop_json_kv_string(out, "namespace", vs_namespace(vs));
	coop_json_kv_string(out, "interface", cfg->ifname);
	put_addresses(out, cfg);
	coop_json_key(out, "gateways");
	coop_json_array_begin(out);
	if (cfg->has_gw4)
		put_addr(out, &cfg->gw4, -1);
	if (cfg->has_gw6)
		put_addr(out, &cfg->gw6, -1);
	coop_json_array_end(out);
	put_listeners(out, cfg);
	coop_json_kv_string(out, "state", vs_state(vs));
	if (vs->lost_why[0])
		coop_json_kv_string(out, "why", vs->lost_why);
	put_counters(out, "counters", &st, &ls);
	put_limits(out, vs, &ls);
	put_mods(out, vs, true);
	coop_json_key(out, "workers");
	coop_json_array_begin(out);
	for (w = 0; vs->wstats && w < vs->n_workers; w++) {
		const struct coop_vs_wstats *s = &vs->wstats[w];
		uint64_t acc, outb, closed, open;

		/* closed first: it never runs ahead of the other two on its
		 * single writer, so the difference does not wrap. */
		closed = atomic_load_explicit(&s->closed, memory_order_relaxed);
		acc = atomic_load_explicit(&s->accepted, memory_order_relaxed);
		outb = atomic_load_explicit(&s->outbound, memory_order_relaxed);
		open = acc + outb > closed ? acc + outb - closed : 0;
		coop_json_object_begin(out);
		coop_json_kv_u64(out, "worker", w);
		coop_json_kv_u64(out, "accepted", acc);
		coop_json_kv_u64(out, "active", open);
		coop_json_kv_u64(out, "outbound", outb);
		coop_json_kv_u64(out, "closed", closed);
		coop_json_kv_u64(out, "bytes_in",
				 atomic_load_explicit(&s->bytes_in, memory_order_relaxed));
		coop_json_kv_u64(out, "bytes_out",
				 atomic_load_explicit(&s->bytes_out, memory_order_relaxed));
		coop_json_object_end(out);
	}
	coop_json_array_end(out);
	coop_json_object_end(out);
}

static int cmd_show_vs(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		       size_t errlen)
{
	size_t i;

	if (argc == 1) {
		for (i = 0; i < c->n_vs; i++) {
			if (!strcmp(c->vs[i]->cfg->name, argv[0])) {
				put_vs_detail(out, c->vs[i]);
				return 0;
			}
		}
		snprintf(err, errlen, "no virtual server named '%.*s'", COOP_NAME_MAX, argv[0]);
		return -ENOENT;
	}
	coop_json_object_begin(out);
	coop_json_key(out, "vs");
	coop_json_array_begin(out);
	for (i = 0; i < c->n_vs; i++)
		put_vs_brief(out, c->vs[i]);
	coop_json_array_end(out);
	coop_json_object_end(out);
	return 0;
}

static int cmd_show_stats(struct coop *c, int argc, char **argv, struct coop_json *out,
			  char *err, size_t errlen)
{
	struct coop_conn_limit_stats lsum = { 0 }, ls;
	struct coop_vs_stats sum = { 0 }, st;
	size_t i;

	(void)argc;
	(void)argv;
	(void)err;
	(void)errlen;
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "workers", c->n_workers);
	coop_json_kv_u64(out, "vs_count", c->n_vs);
	coop_json_kv_u64(out, "max_connections", coop_conn_global_max(c));
	coop_json_key(out, "vs");
	coop_json_array_begin(out);
	for (i = 0; i < c->n_vs; i++) {
		coop_vs_stats_get(c->vs[i], &st);
		sum.accepted += st.accepted;
		sum.active += st.active;
		sum.outbound += st.outbound;
		sum.bytes_in += st.bytes_in;
		sum.bytes_out += st.bytes_out;
		coop_conn_limit_stats_get(c->vs[i], &ls);
		lsum.refused_vs += ls.refused_vs;
		lsum.refused_global += ls.refused_global;
		lsum.closed_out_max += ls.closed_out_max;
		lsum.closed_idle += ls.closed_idle;
		coop_json_object_begin(out);
		coop_json_kv_string(out, "name", c->vs[i]->cfg->name);
		coop_json_kv_string(out, "state", vs_state(c->vs[i]));
		put_counters(out, "counters", &st, &ls);
		put_mods(out, c->vs[i], false);
		coop_json_object_end(out);
	}
	coop_json_array_end(out);
	put_counters(out, "counters", &sum, &lsum);
	for (i = 0; i < c->n_mods; i++)
		if (c->mods[i]->stats_json)
			c->mods[i]->stats_json(c, out);
	coop_json_kv_u64(out, "reloads", c->reloads);
	coop_json_object_end(out);
	return 0;
}


static int cmd_reload(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		      size_t errlen)
{
	(void)argc;
	(void)argv;
	c->reloads++;
	return coop_rt_reload(c, out, err, errlen);
}

static struct coop_vs *vs_named(struct coop *c, const char *name, char *err, size_t errlen)
{
	struct coop_vs *vs = coop_vs_find(c, name);

	if (!vs)
		snprintf(err, errlen, "no virtual server named '%.*s'", COOP_NAME_MAX, name);
	return vs;
}

static void put_state(struct coop_json *out, const struct coop_vs *vs)
{
	struct coop_vs_stats st;

	coop_vs_stats_get(vs, &st);
	coop_json_object_begin(out);
	coop_json_kv_string(out, "name", vs->cfg->name);
	coop_json_kv_string(out, "state", vs_state(vs));
	coop_json_kv_u64(out, "active", st.active);
	coop_json_object_end(out);
}

static int cmd_vs_drain(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
			size_t errlen)
{
	struct coop_vs *vs = vs_named(c, argv[0], err, errlen);
	int ret;

	(void)argc;
	if (!vs)
		return -ENOENT;
	ret = coop_rt_vs_drain(vs, err, errlen);
	if (ret == 0)
		put_state(out, vs);
	return ret;
}

static int cmd_vs_resume(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
			 size_t errlen)
{
	struct coop_vs *vs = vs_named(c, argv[0], err, errlen);
	int ret;

	(void)argc;
	if (!vs)
		return -ENOENT;
	ret = coop_rt_vs_resume(vs, err, errlen);
	if (ret == 0)
		put_state(out, vs);
	return ret;
}

const struct coop_admin_cmd coop_rt_cmds[] = {
	{ "show vs", "[NAME]",
	  "list virtual servers with addresses, state and counters; with NAME, one in detail "
	  "with per-worker counters",
	  cmd_show_vs, NULL },
	{ "show stats", NULL, "runtime totals: workers, virtual servers, summed and per-VS counters",
	  cmd_show_stats, NULL },
	{ "reload", NULL,
	  "re-read the configuration file: validate it whole, then add, change and remove VSes "
	  "(others untouched); says what was added, changed, rebuilt, removed and kept",
	  cmd_reload, NULL },
	{ "vs drain", "NAME", "stop accepting connections on a VS; the open ones go on", cmd_vs_drain,
	  NULL },
	{ "vs resume", "NAME", "accept connections on a drained VS again", cmd_vs_resume, NULL },
};

const size_t coop_rt_n_cmds = sizeof(coop_rt_cmds) / sizeof(coop_rt_cmds[0]);
