/* fwd_bench.h - helpers of the forwarder benchmarks: clock, medians, random backend sets and flows. */
#ifndef COOP_FWD_BENCH_H
#define COOP_FWD_BENCH_H

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd/coop_fwd.h"
#include "fwd/model/fwd_model.h" /* the reference model: flow cache, fragment table, publication */

static inline uint64_t fb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fb_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline int fb_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline double fb_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), fb_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Backends with address + port keys in 198.18.0.0/15, ids 0..n-1. */
struct fb_set {
	struct coop_fwd_backend *b; /* n backends */
	uint8_t (*keys)[24];        /* their key bytes */
	size_t n;                   /* count */
};

static inline void fb_set_random(struct fb_set *s, size_t n, uint64_t *rng)
{
	size_t i, j;

	s->b = calloc(n, sizeof(*s->b));
	s->keys = calloc(n, sizeof(*s->keys));
	if (!s->b || !s->keys) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (s->n = 0; s->n < n;) {
		uint32_t a = htonl(0xc6120000u | (uint32_t)(fb_rand(rng) & 0x1ffff));
		uint16_t port = (uint16_t)(1024 + fb_rand(rng) % 60000);
		int len = coop_fwd_backend_key_addr(s->keys[s->n], sizeof(s->keys[0]), AF_INET, &a, port);
		int dup = 0;

		for (j = 0; j < s->n; j++)
			dup |= !memcmp(s->keys[j], s->keys[s->n], (size_t)len);
		if (dup)
			continue;
		i = s->n++;
		s->b[i].key = s->keys[i];
		s->b[i].keylen = (size_t)len;
		s->b[i].id = (uint32_t)i;
		s->b[i].weight = 1;
	}
}

static inline void fb_set_free(struct fb_set *s)
{
	free(s->b);
	free(s->keys);
}

static inline struct coop_fwd_maglev *fb_build(const struct coop_fwd_backend *b, size_t n,
					       uint32_t m, enum coop_fwd_mode mode)
{
	struct coop_fwd_maglev_config cfg = { .m = m, .mode = mode, .allow_small = true };
	struct coop_fwd_maglev *t;
	char err[256];

	if (coop_fwd_maglev_build(&cfg, b, n, &t, err, sizeof(err))) {
		fprintf(stderr, "build: %s\n", err);
		exit(1);
	}
	return t;
}

static inline void fb_flow(struct coop_fwd_tuple *t, uint64_t *rng)
{
	uint64_t r = fb_rand(rng);

	coop_fwd_tuple_v4(t, htonl(0xc6120000u | (uint32_t)(r & 0x1ffff)),
			  htonl(0xc6130000u | (uint32_t)((r >> 17) & 0xff)), htons((uint16_t)(r >> 32)),
			  htons(2049), COOP_FWD_PROTO_TCP);
}

#endif
