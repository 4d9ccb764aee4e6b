/* build.c - Maglev table build time, coop's build against the paper's straightforward population loop, same run, alternating. */
#include "bench/fwd/fwd_bench.h"

/*
 * The straightforward implementation, the paper's pseudo-code (Maglev
 * section 3.4, Algorithm 1): permutation[i][j] = (offset + j * skip) mod M
 * computed per probe, entries probed for -1. Same offsets, skips and turn
 * order as coop's build, so the tables must be identical.
 */
static double naive_build(const struct coop_fwd_backend *b, size_t n, uint32_t m, uint32_t *entry)
{
	uint64_t t0 = fb_now_ns();
	uint32_t *offset = malloc(n * sizeof(*offset)), *skip = malloc(n * sizeof(*skip));
	uint32_t *next = calloc(n, sizeof(*next));
	uint32_t filled = 0, i;

	for (i = 0; i < n; i++) {
		offset[i] = coop_fwd_hash_bytes(b[i].key, b[i].keylen, COOP_FWD_SEED_OFFSET) % m;
		skip[i] = coop_fwd_hash_bytes(b[i].key, b[i].keylen, COOP_FWD_SEED_SKIP) % (m - 1) + 1;
	}
	memset(entry, 0xff, (size_t)m * sizeof(*entry));
	for (;;) {
		for (i = 0; i < n; i++) {
			uint32_t c = (uint32_t)((offset[i] + (uint64_t)next[i] * skip[i]) % m);

			while (entry[c] != UINT32_MAX) {
				next[i]++;
				c = (uint32_t)((offset[i] + (uint64_t)next[i] * skip[i]) % m);
			}
			entry[c] = b[i].id;
			next[i]++;
			if (++filled == m)
				goto done;
		}
	}
done:
	free(offset);
	free(skip);
	free(next);
	return (double)(fb_now_ns() - t0) / 1e6;
}

static int key_order(const void *a, const void *b)
{
	const struct coop_fwd_backend *x = a, *y = b;

	/* all keys here are 7-byte IPv4 keys */
	return memcmp(x->key, y->key, x->keylen);
}

static void run(size_t n, uint32_t m, int reps)
{
	struct fb_set s;
	uint64_t rng = 1000 + m;
	double *a = malloc(reps * sizeof(double)), *b = malloc(reps * sizeof(double));
	uint32_t *naive = malloc((size_t)m * sizeof(uint32_t)), mm;
	const uint32_t *mine;
	int r;

	fb_set_random(&s, n, &rng);
	/* the baseline takes turns in input order: give it key order */
	qsort(s.b, s.n, sizeof(s.b[0]), key_order);
	for (r = 0; r < reps; r++) {
		uint64_t t0 = fb_now_ns();
		struct coop_fwd_maglev *t = fb_build(s.b, s.n, m, COOP_FWD_MODE_MAGLEV);

		a[r] = (double)(fb_now_ns() - t0) / 1e6;
		b[r] = naive_build(s.b, s.n, m, naive);
		mine = coop_fwd_maglev_entries(t, &mm);
		if (memcmp(mine, naive, (size_t)m * sizeof(uint32_t))) {
			fprintf(stderr, "build: tables differ from the straightforward build\n");
			exit(1);
		}
		coop_fwd_maglev_free(t);
	}
	{
		double ma = fb_median(a, reps), mb = fb_median(b, reps);

		printf("build n=%zu m=%u coop_ms=%.3f naive_ms=%.3f speedup=%.2f reps=%d identical=yes\n",
		       n, m, ma, mb, mb / ma, reps);
	}
	free(a);
	free(b);
	free(naive);
	fb_set_free(&s);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 15;

	run(1000, 65537, reps);
	run(1000, 655373, reps > 5 ? reps / 2 : reps);
	return 0;
}
