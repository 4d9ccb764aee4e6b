/* lookup.c - ns per packet: hash + Maglev table alone, flow-cache hit (small and large working set), flow-cache miss with insert and eviction. */
#include "bench/fwd/fwd_bench.h"

#define MISS_FLOWS (1u << 21)

static volatile uint32_t sink; /* keeps the lookups from being optimised out */

/* ns per lookup of flows[0..n) repeated to total packets, Maglev only. */
static double run_maglev(const struct coop_fwd_maglev *t, const struct coop_fwd_tuple *f,
			 uint32_t n, uint32_t total)
{
	uint64_t t0 = fb_now_ns();
	uint32_t i, acc = 0;

	for (i = 0; i < total; i++)
		acc += coop_fwd_maglev_lookup(t, coop_fwd_hash(&f[i & (n - 1)]));
	sink = acc;
	return (double)(fb_now_ns() - t0) / total;
}

static double run_cache(struct coop_fwd_flowcache *fc, const struct coop_fwd_maglev *t,
			const struct coop_fwd_tuple *f, uint32_t n, uint32_t total, uint64_t now)
{
	uint64_t t0 = fb_now_ns();
	uint32_t i, acc = 0;

	for (i = 0; i < total; i++)
		acc += coop_fwd_flowcache_select(fc, t, &f[i & (n - 1)], 0, now);
	sink = acc;
	return (double)(fb_now_ns() - t0) / total;
}

static struct coop_fwd_flowcache *cache(uint32_t cap)
{
	struct coop_fwd_flowcache_config cfg;
	struct coop_fwd_flowcache *fc;
	char err[128];

	coop_fwd_flowcache_config_default(&cfg);
	cfg.capacity = cap;
	cfg.insert_rate = 0;
	if (coop_fwd_flowcache_new(&cfg, &fc, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return fc;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 7, r;
	struct coop_fwd_tuple *flows = malloc(MISS_FLOWS * sizeof(*flows));
	double *maglev = malloc(reps * sizeof(double)), *hit_s = malloc(reps * sizeof(double));
	double *hit_l = malloc(reps * sizeof(double)), *miss = malloc(reps * sizeof(double));
	struct coop_fwd_flowcache *small, *large, *full;
	struct coop_fwd_maglev *t;
	struct fb_set s;
	uint64_t rng = 77;
	uint32_t i;

	fb_set_random(&s, 100, &rng);
	t = fb_build(s.b, s.n, COOP_FWD_M_DEFAULT, COOP_FWD_MODE_MAGLEV);
	for (i = 0; i < MISS_FLOWS; i++)
		fb_flow(&flows[i], &rng);
	small = cache(2048);
	large = cache(1u << 17);
	full = cache(1u << 16);
	/* warm: the hit runs find every flow; the miss cache is full */
	run_cache(small, t, flows, 1024, 1024, 1);
	run_cache(large, t, flows, 1u << 16, 1u << 16, 1);
	run_cache(full, t, flows + MISS_FLOWS / 2, 1u << 16, 1u << 16, 1);
	for (r = 0; r < reps; r++) {
		struct coop_fwd_flowcache_stats st;

		maglev[r] = run_maglev(t, flows, 1u << 16, 1u << 22);
		hit_s[r] = run_cache(small, t, flows, 1024, 1u << 22, 2);
		hit_l[r] = run_cache(large, t, flows, 1u << 16, 1u << 22, 2);
		/* every packet a new flow: lookup miss, table, insert, evict */
		miss[r] = run_cache(full, t, flows, MISS_FLOWS, MISS_FLOWS, 2);
		coop_fwd_flowcache_stats_get(full, &st);
		if (st.hits || st.evictions < (uint64_t)(r + 1) * MISS_FLOWS) {
			fprintf(stderr, "lookup: miss run hit the cache\n");
			return 1;
		}
		coop_fwd_flowcache_stats_get(large, &st);
		if (st.misses != 1u << 16) {
			fprintf(stderr, "lookup: hit run missed\n");
			return 1;
		}
	}
	printf("lookup maglev_ns=%.1f hit_1k_ns=%.1f hit_64k_ns=%.1f miss_ns=%.1f reps=%d\n",
	       fb_median(maglev, reps), fb_median(hit_s, reps), fb_median(hit_l, reps),
	       fb_median(miss, reps), reps);
	coop_fwd_flowcache_free(small);
	coop_fwd_flowcache_free(large);
	coop_fwd_flowcache_free(full);
	coop_fwd_maglev_free(t);
	fb_set_free(&s);
	free(flows);
	free(maglev);
	free(hit_s);
	free(hit_l);
	free(miss);
	return 0;
}
