/* disrupt.c - flows broken by a backend change (flow cache vs Maglev alone vs mod-N), entries moved vs M, per-backend load; writes plot data. */
#include "bench/fwd/fwd_bench.h"

#define NFLOWS 100000
#define NB 100

/* Owner of every flow under table t, through the cache fc when given. */
static void owners(struct coop_fwd_flowcache *fc, const struct coop_fwd_maglev *t,
		   const struct coop_fwd_tuple *f, uint32_t *out, unsigned int flags)
{
	uint32_t i;

	for (i = 0; i < NFLOWS; i++)
		out[i] = fc ? coop_fwd_flowcache_select(fc, t, &f[i], flags, 1)
			    : coop_fwd_maglev_lookup(t, coop_fwd_hash(&f[i]));
}

/* Broken = established flows whose backend is still there but whose answer
 * changed; the removed backend's own flows are lost in every scheme. */
static uint32_t broken(const uint32_t *before, const uint32_t *after, uint32_t removed)
{
	uint32_t i, n = 0;

	for (i = 0; i < NFLOWS; i++)
		n += before[i] != removed && before[i] != after[i];
	return n;
}

static struct coop_fwd_flowcache *cache(void)
{
	struct coop_fwd_flowcache_config cfg;
	struct coop_fwd_flowcache *fc;
	char err[128];

	coop_fwd_flowcache_config_default(&cfg);
	cfg.capacity = NFLOWS * 2;
	cfg.insert_rate = 0;
	if (coop_fwd_flowcache_new(&cfg, &fc, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return fc;
}

/* Remove backend 0 and, separately, add one: flows broken per scheme. */
static void flows_broken(void)
{
	static struct coop_fwd_tuple f[NFLOWS];
	static uint32_t before[NFLOWS], after[NFLOWS];
	struct fb_set s;
	uint64_t rng = 99;
	const char *scheme[3] = { "flowcache", "maglev", "modn" };
	uint32_t i, res[2][3];
	int k, ev;

	fb_set_random(&s, NB + 1, &rng);
	for (i = 0; i < NFLOWS; i++)
		fb_flow(&f[i], &rng);
	for (ev = 0; ev < 2; ev++) {
		for (k = 0; k < 3; k++) {
			enum coop_fwd_mode mode = k == 2 ? COOP_FWD_MODE_ECMP : COOP_FWD_MODE_MAGLEV;
			struct coop_fwd_flowcache *fc = k == 0 ? cache() : NULL;
			struct coop_fwd_maglev *t0 = fb_build(s.b, NB, COOP_FWD_M_DEFAULT, mode);
			/* event 0 removes backend 0 (the first of the array, id 0);
			 * event 1 adds backend NB */
			struct coop_fwd_maglev *t1 =
				ev == 0 ? fb_build(s.b + 1, NB - 1, COOP_FWD_M_DEFAULT, mode)
					: fb_build(s.b, NB + 1, COOP_FWD_M_DEFAULT, mode);

			owners(fc, t0, f, before, COOP_FWD_PKT_SYN);
			owners(fc, t1, f, after, 0);
			res[ev][k] = broken(before, after, ev == 0 ? 0 : UINT32_MAX);
			coop_fwd_flowcache_free(fc);
			coop_fwd_maglev_free(t0);
			coop_fwd_maglev_free(t1);
		}
	}
	for (ev = 0; ev < 2; ev++)
		for (k = 0; k < 3; k++)
			printf("broken event=%s scheme=%s flows=%u per1000=%.2f\n",
			       ev == 0 ? "remove" : "add", scheme[k], res[ev][k],
			       1000.0 * res[ev][k] / NFLOWS);
	fb_set_free(&s);
}

/* Fraction of entries moved when adding one backend to 1,000 and when
 * removing 10, averaged over 5 sets, for a range of prime M. */
static void moved_vs_m(FILE *out)
{
	static const uint32_t ms[] = { 5003, 10007, 20011, 40009, 65537, 100003, 200003, 400009, 655373 };
	static uint8_t drop[1001];
	size_t mi;

	fprintf(out, "# M add_moved_pct remove_moved_pct add_ideal_pct remove_ideal_pct\n");
	for (mi = 0; mi < sizeof(ms) / sizeof(ms[0]); mi++) {
		double add = 0, rm = 0;
		uint64_t rng = 500 + mi;
		int set;

		for (set = 0; set < 5; set++) {
			struct coop_fwd_backend *sub = malloc(1000 * sizeof(*sub));
			struct coop_fwd_maglev *t0, *t1, *t2;
			const uint32_t *e0, *e1, *e2;
			uint32_t m = ms[mi], i, n = 0, mv1 = 0, mv2 = 0, removed = 0;
			struct fb_set s;

			fb_set_random(&s, 1001, &rng);
			t0 = fb_build(s.b, 1000, m, COOP_FWD_MODE_MAGLEV);
			t1 = fb_build(s.b, 1001, m, COOP_FWD_MODE_MAGLEV);
			memset(drop, 0, sizeof(drop));
			while (removed < 10) {
				uint32_t id = (uint32_t)(fb_rand(&rng) % 1000);

				removed += !drop[id];
				drop[id] = 1;
			}
			for (i = 0; i < 1000; i++)
				if (!drop[i])
					sub[n++] = s.b[i];
			t2 = fb_build(sub, n, m, COOP_FWD_MODE_MAGLEV);
			e0 = coop_fwd_maglev_entries(t0, &m);
			e1 = coop_fwd_maglev_entries(t1, &m);
			e2 = coop_fwd_maglev_entries(t2, &m);
			for (i = 0; i < m; i++) {
				mv1 += e0[i] != e1[i];
				mv2 += e0[i] != e2[i];
			}
			add += (double)mv1 / m;
			rm += (double)mv2 / m;
			coop_fwd_maglev_free(t0);
			coop_fwd_maglev_free(t1);
			coop_fwd_maglev_free(t2);
			free(sub);
			fb_set_free(&s);
		}
		fprintf(out, "%u %.4f %.4f %.4f %.4f\n", ms[mi], 100 * add / 5, 100 * rm / 5,
			100.0 / 1001, 1.0);
		printf("moved m=%u add_pct=%.3f remove1pct_pct=%.3f\n", ms[mi], 100 * add / 5,
		       100 * rm / 5);
	}
}

/* Load per backend relative to the average: table entries at two M, and
 * 1,000,000 flows through the M = 65,537 table. Histogram in 0.005 bins. */
static void load_hist(FILE *out)
{
	static uint32_t cnt[3][1000];
	static uint32_t hist[3][401];
	uint32_t ms[2] = { 65537, 655373 }, m, i, k;
	struct fb_set s;
	uint64_t rng = 321;
	double avg[3];

	fb_set_random(&s, 1000, &rng);
	for (k = 0; k < 2; k++) {
		struct coop_fwd_maglev *t = fb_build(s.b, 1000, ms[k], COOP_FWD_MODE_MAGLEV);
		const uint32_t *e = coop_fwd_maglev_entries(t, &m);

		for (i = 0; i < m; i++)
			cnt[k][e[i]]++;
		avg[k] = m / 1000.0;
		if (k == 0) {
			for (i = 0; i < 1000000; i++) {
				struct coop_fwd_tuple f;

				fb_flow(&f, &rng);
				cnt[2][coop_fwd_maglev_lookup(t, coop_fwd_hash(&f))]++;
			}
			avg[2] = 1000.0;
		}
		coop_fwd_maglev_free(t);
	}
	for (k = 0; k < 3; k++) {
		double mx = 0;

		for (i = 0; i < 1000; i++) {
			double rel = cnt[k][i] / avg[k];
			int bin = (int)((rel - 0.0) / 0.005 + 0.5);

			if (bin > 400)
				bin = 400;
			hist[k][bin]++;
			mx = rel > mx ? rel : mx;
		}
		printf("load series=%s max_over_avg=%.4f\n",
		       k == 0 ? "entries_m65537" : k == 1 ? "entries_m655373" : "flows_1m_m65537", mx);
	}
	fprintf(out, "# load/avg backends(entries M=65537) backends(entries M=655373) backends(1M flows, M=65537)\n");
	for (i = 120; i <= 280; i++)
		fprintf(out, "%.3f %u %u %u\n", i * 0.005, hist[0][i], hist[1][i], hist[2][i]);
	fb_set_free(&s);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	char path[4096];
	FILE *f;

	flows_broken();
	snprintf(path, sizeof(path), "%s/moved_vs_m.dat", dir);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return 1;
	}
	moved_vs_m(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/load_hist.dat", dir);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return 1;
	}
	load_hist(f);
	fclose(f);
	return 0;
}
