/* model_priv.h - inside the forwarder's reference model (fwd/model/): the bounded LRU hash behind its flow cache and fragment table. */
#ifndef COOP_FWD_MODEL_PRIV_H
#define COOP_FWD_MODEL_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fwd/fwd_priv.h"
#include "fwd/model/fwd_model.h"

/* Both keys are 40 bytes; the LRU stores them as five words. */
#define COOP_FWD_LRU_KEYLEN 40
#define COOP_FWD_LRU_NIL 0xffffffffu

_Static_assert(sizeof(struct coop_fwd_tuple) == COOP_FWD_LRU_KEYLEN, "tuple is a 40-byte key");
_Static_assert(sizeof(struct coop_fwd_frag_key) == COOP_FWD_LRU_KEYLEN, "frag key is 40 bytes");

/* One cached item. 72 bytes; owned by its coop_fwd_lru. */
struct coop_fwd_lru_entry {
	uint64_t key[5];  /* the 40-byte key, compared word by word */
	uint64_t time_ns; /* flows: last packet; fragments: first fragment */
	uint32_t value;   /* backend id */
	uint32_t hash;    /* caller's hash of key; kept to unlink without rehashing */
	uint32_t hnext;   /* next entry in the same bucket, or NIL */
	uint32_t prev;    /* neighbour towards the most recently used end, or NIL */
	uint32_t next;    /* neighbour towards the least recently used end, or NIL */
	uint32_t pad;     /* unused; keeps the size a multiple of 8 */
};

/*
 * Fixed-capacity hash table with exact LRU order: entries in one array,
 * chained buckets and a doubly linked recency list by index (no pointers,
 * no allocation after init). Owned by one thread.
 */
struct coop_fwd_lru {
	struct coop_fwd_lru_entry *e; /* cap entries; the first used are live */
	uint32_t *bucket;             /* mask + 1 chain heads */
	uint32_t mask;                /* bucket count - 1 (a power of two >= cap) */
	uint32_t cap;                 /* capacity */
	uint32_t used;                /* live entries */
	uint32_t head;                /* most recently used, or NIL */
	uint32_t tail;                /* least recently used (next victim), or NIL */
	uint32_t secret;              /* random per table: chains cannot be aimed at */
};

int coop_fwd_lru_init(struct coop_fwd_lru *l, uint32_t cap);
void coop_fwd_lru_fini(struct coop_fwd_lru *l);
/* Make a new MRU entry for key (evicting the LRU one when full; *evicted
 * tells). The caller fills value and time_ns. */
struct coop_fwd_lru_entry *coop_fwd_lru_insert(struct coop_fwd_lru *l, const void *key,
					       uint32_t hash, bool *evicted);

/* The public hash is fixed and documented, so a client can search for
 * colliding flows; mixing it with a per-table secret stops those from
 * landing in one chain. */
static inline uint32_t coop_fwd_lru_bucket(const struct coop_fwd_lru *l, uint32_t hash)
{
	return coop_fwd_hash_final(hash ^ l->secret, 0) & l->mask;
}

static inline bool coop_fwd_lru_key_eq(const uint64_t *a, const void *key)
{
	uint64_t b[5];

	memcpy(b, key, sizeof(b));
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
}

static inline struct coop_fwd_lru_entry *coop_fwd_lru_find(const struct coop_fwd_lru *l,
							   const void *key, uint32_t hash)
{
	uint32_t i = l->bucket[coop_fwd_lru_bucket(l, hash)];

	while (i != COOP_FWD_LRU_NIL) {
		struct coop_fwd_lru_entry *e = &l->e[i];

		if (e->hash == hash && coop_fwd_lru_key_eq(e->key, key))
			return e;
		i = e->hnext;
	}
	return NULL;
}

/* Move e to the most recently used end. */
static inline void coop_fwd_lru_touch(struct coop_fwd_lru *l, struct coop_fwd_lru_entry *e)
{
	uint32_t i = (uint32_t)(e - l->e);

	if (l->head == i)
		return;
	/* unlink: e is not the head, so prev exists */
	l->e[e->prev].next = e->next;
	if (e->next != COOP_FWD_LRU_NIL)
		l->e[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = COOP_FWD_LRU_NIL;
	e->next = l->head;
	l->e[l->head].prev = i;
	l->head = i;
}

#endif
