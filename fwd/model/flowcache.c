/* flowcache.c - reference model of the data path's flow cache: a per-thread bounded exact-LRU cache in front of the Maglev table (Maglev section 3.3, FreeBSD ECMP flow caching). */
#include <errno.h>
#include <stdlib.h>

#include "fwd/bpf/coop_xdp.h"
#include "fwd/model/model_priv.h"

/* Owned by one thread; no field is shared. */
struct coop_fwd_flowcache {
	struct coop_fwd_lru lru;             /* the flows: tuple -> backend, last packet */
	uint64_t idle_ns;                    /* non-TCP idle timeout, 0 = never */
	uint64_t cost_ns;                    /* insert cost in bucket credit; 0 = no cap */
	uint64_t burst_ns;                   /* bucket depth */
	bool rl_started;                     /* bucket filled at the first insert's clock */
	struct coop_fwd_ratelimit rl;        /* insert cap */
	struct coop_fwd_flowcache_stats st;  /* counters */
};

void coop_fwd_flowcache_config_default(struct coop_fwd_flowcache_config *cfg)
{
	/* the data path's defaults, so the model behaves as coopd's does */
	cfg->capacity = COOP_XDP_FLOWS_DEFAULT;
	cfg->idle_ns = COOP_FWD_FLOW_IDLE_NS_DEFAULT;
	cfg->insert_rate = COOP_FWD_INSERT_RATE_DEFAULT;
	cfg->insert_burst = 0;
}

int coop_fwd_flowcache_new(const struct coop_fwd_flowcache_config *cfg,
			   struct coop_fwd_flowcache **out, char *err, size_t errlen)
{
	struct coop_fwd_flowcache_config def;
	struct coop_fwd_flowcache *fc;
	int ret;

	*out = NULL;
	if (!cfg) {
		coop_fwd_flowcache_config_default(&def);
		cfg = &def;
	}
	if (cfg->capacity == 0 || cfg->capacity > (1u << 26)) {
		coop_fwd_errf(err, errlen, "flow cache capacity %u out of range 1..%u",
			      cfg->capacity, 1u << 26);
		return -EINVAL;
	}
	if (cfg->insert_rate > 1000000000u) {
		coop_fwd_errf(err, errlen, "flow cache insert rate %u above 10^9 per second",
			      cfg->insert_rate);
		return -EINVAL;
	}
	fc = calloc(1, sizeof(*fc));
	if (!fc)
		return -ENOMEM;
	ret = coop_fwd_lru_init(&fc->lru, cfg->capacity);
	if (ret) {
		free(fc);
		return ret;
	}
	fc->idle_ns = cfg->idle_ns;
	if (cfg->insert_rate) {
		fc->cost_ns = 1000000000ull / cfg->insert_rate;
		fc->burst_ns = fc->cost_ns * (cfg->insert_burst ? cfg->insert_burst : cfg->insert_rate);
	}
	*out = fc;
	return 0;
}

void coop_fwd_flowcache_free(struct coop_fwd_flowcache *fc)
{
	if (!fc)
		return;
	coop_fwd_lru_fini(&fc->lru);
	free(fc);
}

/* May a new flow be cached now? */
static bool insert_allowed(struct coop_fwd_flowcache *fc, uint64_t now_ns)
{
	if (!fc->cost_ns)
		return true;
	if (!fc->rl_started) {
		coop_fwd_ratelimit_init(&fc->rl, now_ns, fc->burst_ns);
		fc->rl_started = true;
	}
	return coop_fwd_ratelimit_take(&fc->rl, now_ns, fc->cost_ns, fc->burst_ns);
}

uint32_t coop_fwd_flowcache_select(struct coop_fwd_flowcache *fc, const struct coop_fwd_maglev *table,
				   const struct coop_fwd_tuple *t, unsigned int flags, uint64_t now_ns)
{
	uint32_t hash = coop_fwd_hash(t);
	struct coop_fwd_lru_entry *e = coop_fwd_lru_find(&fc->lru, t, hash);
	uint32_t b;
	bool evicted;

	if (e) {
		struct coop_fwd_flow f = { .backend = e->value, .atime_ns = e->time_ns };
		int syn = (flags & COOP_FWD_PKT_SYN) && t->proto == COOP_FWD_PROTO_TCP;
		int v = coop_fwd_flow_verdict(&f, t->proto, syn,
					      coop_fwd_maglev_state_of(table, e->value), now_ns,
					      fc->idle_ns);

		if (v == COOP_FWD_FLOW_USE) {
			fc->st.hits++;
			e->time_ns = now_ns;
			coop_fwd_lru_touch(&fc->lru, e);
			return e->value;
		}
		if (v == COOP_FWD_FLOW_GONE)
			fc->st.gone++;
		else if (v == COOP_FWD_FLOW_DRAINED)
			fc->st.drained++;
		else
			fc->st.expired++;
		fc->st.misses++;
		/* overwrite in place: no insert, so the cap does not apply */
		b = coop_fwd_maglev_lookup(table, hash);
		if (b != COOP_FWD_NO_BACKEND) {
			e->value = b;
			e->time_ns = now_ns;
			coop_fwd_lru_touch(&fc->lru, e);
		}
		return b;
	}
	fc->st.misses++;
	b = coop_fwd_maglev_lookup(table, hash);
	if (b == COOP_FWD_NO_BACKEND)
		return b;
	if (!insert_allowed(fc, now_ns)) {
		fc->st.capped++;
		return b;
	}
	e = coop_fwd_lru_insert(&fc->lru, t, hash, &evicted);
	e->value = b;
	e->time_ns = now_ns;
	fc->st.inserts++;
	if (evicted)
		fc->st.evictions++;
	return b;
}

int coop_fwd_flowcache_peek(const struct coop_fwd_flowcache *fc, const struct coop_fwd_tuple *t,
			    uint32_t *backend)
{
	const struct coop_fwd_lru_entry *e = coop_fwd_lru_find(&fc->lru, t, coop_fwd_hash(t));

	if (!e)
		return -ENOENT;
	*backend = e->value;
	return 0;
}

void coop_fwd_flowcache_stats_get(const struct coop_fwd_flowcache *fc,
				  struct coop_fwd_flowcache_stats *out)
{
	*out = fc->st;
	out->entries = fc->lru.used;
}
