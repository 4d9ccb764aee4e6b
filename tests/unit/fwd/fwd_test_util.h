/* fwd_test_util.h - helpers shared by the forwarder unit tests: seeded PRNG, backend sets, random flows. */
#ifndef COOP_FWD_TEST_UTIL_H
#define COOP_FWD_TEST_UTIL_H

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd/coop_fwd.h"
#include "fwd/model/fwd_model.h" /* the reference model: flow cache, fragment table, publication */

/* splitmix64: reproducible sequences, so a failure can be replayed. */
static inline uint64_t tu_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A set of backends with address+port keys; storage for the keys. */
struct tu_set {
	struct coop_fwd_backend b[2048]; /* backends */
	uint8_t keys[2048][COOP_FWD_KEY_MAX]; /* key bytes of b[i] */
	size_t n;                        /* used */
};

/* Append a backend keyed 198.18.x.y:port with id and weight. */
static inline void tu_add(struct tu_set *s, uint32_t addr_host, uint16_t port, uint32_t id,
			  uint32_t weight)
{
	uint32_t a = htonl(addr_host);
	int len = coop_fwd_backend_key_addr(s->keys[s->n], COOP_FWD_KEY_MAX, AF_INET, &a, port);

	s->b[s->n].key = s->keys[s->n];
	s->b[s->n].keylen = (size_t)len;
	s->b[s->n].id = id;
	s->b[s->n].weight = weight;
	s->n++;
}

/* n distinct random backends in 198.18.0.0/15, ids 0..n-1, weight 1. */
static inline void tu_random_set(struct tu_set *s, size_t n, uint64_t *rng)
{
	size_t i, j;

	s->n = 0;
	while (s->n < n) {
		uint32_t a = 0xc6120000u | (uint32_t)(tu_rand(rng) & 0x1ffff);
		uint16_t port = (uint16_t)(1024 + tu_rand(rng) % 60000);
		int dup = 0;

		tu_add(s, a, port, (uint32_t)s->n, 1);
		for (j = 0, i = s->n - 1; j < i; j++)
			if (s->b[j].keylen == s->b[i].keylen && !memcmp(s->keys[j], s->keys[i], s->b[i].keylen))
				dup = 1;
		if (dup)
			s->n--;
	}
}

/* A random IPv4 TCP or UDP client flow to a VIP in 198.19.0.0/16. */
static inline void tu_random_flow(struct coop_fwd_tuple *t, uint8_t proto, uint64_t *rng)
{
	uint64_t r = tu_rand(rng);

	coop_fwd_tuple_v4(t, htonl(0xc6120000u | (uint32_t)(r & 0x1ffff)),
			  htonl(0xc6130000u | (uint32_t)((r >> 17) & 0xff)),
			  htons((uint16_t)(r >> 32)), htons((uint16_t)(80 + ((r >> 48) & 3))), proto);
}

#endif
