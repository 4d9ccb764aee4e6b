/* lru.c - bounded hash table with exact LRU eviction, the storage of the reference model's flow cache and fragment table. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "fwd/model/model_priv.h"

static uint32_t lru_secret(void)
{
	uint32_t s;
	struct timespec ts;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	/* no entropy yet (early boot): a clock value still differs per run */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 0x9e3779b9u;
}

int coop_fwd_lru_init(struct coop_fwd_lru *l, uint32_t cap)
{
	uint32_t nb = 1;

	memset(l, 0, sizeof(*l));
	if (cap == 0 || cap > (1u << 26))
		return -EINVAL;
	while (nb < cap)
		nb <<= 1;
	l->e = malloc((size_t)cap * sizeof(*l->e));
	if (!l->e)
		return -ENOMEM;
	l->bucket = malloc((size_t)nb * sizeof(*l->bucket));
	if (!l->bucket) {
		free(l->e);
		l->e = NULL;
		return -ENOMEM;
	}
	memset(l->bucket, 0xff, (size_t)nb * sizeof(*l->bucket));
	l->mask = nb - 1;
	l->cap = cap;
	l->head = COOP_FWD_LRU_NIL;
	l->tail = COOP_FWD_LRU_NIL;
	l->secret = lru_secret();
	return 0;
}

void coop_fwd_lru_fini(struct coop_fwd_lru *l)
{
	free(l->e);
	free(l->bucket);
	l->e = NULL;
	l->bucket = NULL;
}

/* Take entry i out of its bucket chain. */
static void chain_unlink(struct coop_fwd_lru *l, uint32_t i)
{
	uint32_t *p = &l->bucket[coop_fwd_lru_bucket(l, l->e[i].hash)];

	while (*p != i)
		p = &l->e[*p].hnext;
	*p = l->e[i].hnext;
}

struct coop_fwd_lru_entry *coop_fwd_lru_insert(struct coop_fwd_lru *l, const void *key,
					       uint32_t hash, bool *evicted)
{
	struct coop_fwd_lru_entry *e;
	uint32_t i, b;

	*evicted = false;
	if (l->used < l->cap) {
		i = l->used++;
	} else {
		/* reuse the least recently used entry in place */
		i = l->tail;
		chain_unlink(l, i);
		l->tail = l->e[i].prev;
		if (l->tail != COOP_FWD_LRU_NIL)
			l->e[l->tail].next = COOP_FWD_LRU_NIL;
		else
			l->head = COOP_FWD_LRU_NIL;
		*evicted = true;
	}
	e = &l->e[i];
	memcpy(e->key, key, COOP_FWD_LRU_KEYLEN);
	e->hash = hash;
	e->value = COOP_FWD_NO_BACKEND;
	e->time_ns = 0;
	e->pad = 0;
	b = coop_fwd_lru_bucket(l, hash);
	e->hnext = l->bucket[b];
	l->bucket[b] = i;
	e->prev = COOP_FWD_LRU_NIL;
	e->next = l->head;
	if (l->head != COOP_FWD_LRU_NIL)
		l->e[l->head].prev = i;
	else
		l->tail = i;
	l->head = i;
	return e;
}
