/* frag.c - reference model of the data path's fragment table: later fragments follow their datagram's first fragment (Maglev section 4.3). */
#include <errno.h>
#include <stdlib.h>

#include "fwd/bpf/coop_xdp.h"
#include "fwd/model/model_priv.h"

/* Owned by one thread. */
struct coop_fwd_fragtable {
	struct coop_fwd_lru lru;             /* datagrams: frag key -> backend, first-fragment time */
	uint64_t timeout_ns;                 /* lifetime from the first fragment */
	struct coop_fwd_fragtable_stats st;  /* counters */
};

void coop_fwd_fragtable_config_default(struct coop_fwd_fragtable_config *cfg)
{
	cfg->capacity = COOP_XDP_FRAGS_DEFAULT;
	cfg->timeout_ns = COOP_FWD_FRAG_TIMEOUT_NS_DEFAULT;
}

int coop_fwd_fragtable_new(const struct coop_fwd_fragtable_config *cfg,
			   struct coop_fwd_fragtable **out, char *err, size_t errlen)
{
	struct coop_fwd_fragtable_config def;
	struct coop_fwd_fragtable *ft;
	int ret;

	*out = NULL;
	if (!cfg) {
		coop_fwd_fragtable_config_default(&def);
		cfg = &def;
	}
	if (cfg->capacity == 0 || cfg->capacity > (1u << 26)) {
		coop_fwd_errf(err, errlen, "fragment table capacity %u out of range 1..%u",
			      cfg->capacity, 1u << 26);
		return -EINVAL;
	}
	if (cfg->timeout_ns == 0) {
		coop_fwd_errf(err, errlen, "fragment table timeout must be above zero");
		return -EINVAL;
	}
	ft = calloc(1, sizeof(*ft));
	if (!ft)
		return -ENOMEM;
	ret = coop_fwd_lru_init(&ft->lru, cfg->capacity);
	if (ret) {
		free(ft);
		return ret;
	}
	ft->timeout_ns = cfg->timeout_ns;
	*out = ft;
	return 0;
}

void coop_fwd_fragtable_free(struct coop_fwd_fragtable *ft)
{
	if (!ft)
		return;
	coop_fwd_lru_fini(&ft->lru);
	free(ft);
}

static uint32_t frag_key_hash(const struct coop_fwd_frag_key *k)
{
	return coop_fwd_hash_bytes(k, sizeof(*k), COOP_FWD_SEED_FLOW);
}

void coop_fwd_fragtable_note(struct coop_fwd_fragtable *ft, const struct coop_fwd_frag_key *k,
			     uint32_t backend, uint64_t now_ns)
{
	uint32_t hash = frag_key_hash(k);
	struct coop_fwd_lru_entry *e = coop_fwd_lru_find(&ft->lru, k, hash);
	bool evicted = false;

	/* a repeated first fragment (retransmission, duplicate) refreshes */
	if (!e)
		e = coop_fwd_lru_insert(&ft->lru, k, hash, &evicted);
	else
		coop_fwd_lru_touch(&ft->lru, e);
	e->value = backend;
	e->time_ns = now_ns;
	ft->st.notes++;
	if (evicted)
		ft->st.evictions++;
}

int coop_fwd_fragtable_lookup(struct coop_fwd_fragtable *ft, const struct coop_fwd_frag_key *k,
			      uint64_t now_ns, uint32_t *backend)
{
	struct coop_fwd_lru_entry *e = coop_fwd_lru_find(&ft->lru, k, frag_key_hash(k));

	/* no touch: eviction order stays first-fragment order, oldest first */
	if (!e || (now_ns > e->time_ns && now_ns - e->time_ns > ft->timeout_ns)) {
		ft->st.misses++;
		return -ENOENT;
	}
	ft->st.hits++;
	*backend = e->value;
	return 0;
}

uint32_t coop_fwd_fragtable_select(struct coop_fwd_fragtable *ft, struct coop_fwd_flowcache *fc,
				   const struct coop_fwd_maglev *table, const struct coop_fwd_tuple *t,
				   uint32_t id, bool first, uint64_t now_ns)
{
	struct coop_fwd_frag_key k;
	uint32_t b;

	coop_fwd_frag_key_make(&k, t, id);
	if (first) {
		b = coop_fwd_flowcache_select(fc, table, t, 0, now_ns);
		if (b != COOP_FWD_NO_BACKEND)
			coop_fwd_fragtable_note(ft, &k, b, now_ns);
		return b;
	}
	if (coop_fwd_fragtable_lookup(ft, &k, now_ns, &b))
		return COOP_FWD_NO_BACKEND;
	return b;
}

void coop_fwd_fragtable_stats_get(const struct coop_fwd_fragtable *ft,
				  struct coop_fwd_fragtable_stats *out)
{
	*out = ft->st;
	out->entries = ft->lru.used;
}
