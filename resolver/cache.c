/* cache.c - the per-VS answer cache: bounded (least recently used entries
 * go first), every entry dropped when its TTL ends, keyed by lookup kind and
 * lower-cased name, shared by the VS's threads under one mutex. c-ares 1.18
 * has no cache of its own. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/hash.h"
#include "resolver/resolver_priv.h"

/* One cached answer. */
struct cache_entry {
	struct cache_entry *hnext;	 /* next in its hash bucket */
	struct cache_entry *prev, *next; /* LRU list, most recently used first */
	uint64_t hash;			 /* of (kind, name) */
	uint32_t kind;			 /* lookup kind (type, or address flags) */
	int status;			 /* 0, -ENOENT or -ENODATA */
	struct res_result *res;		 /* held answer; NULL when negative */
	uint64_t expires_ms;		 /* monotonic ms at which it dies */
	char name[];			 /* lower-cased name */
};

struct res_cache {
	pthread_mutex_t lock;	      /* everything below */
	struct cache_entry **buckets; /* hash table, nbuckets heads; NULL until the first insert */
	size_t nbuckets;	      /* power of two */
	struct cache_entry *head;     /* most recently used */
	struct cache_entry *tail;     /* least recently used: evicted first */
	size_t count;		      /* entries */
	size_t max;		      /* bound on count (0 = store nothing) */
	uint64_t gen;		      /* settings generation answers must carry */
	uint64_t seed;		      /* hash seed: names can come from outside */
};

static void lower(const char *in, char *out, size_t len)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < len; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
	out[i] = '\0';
}

static uint64_t hash(const struct res_cache *c, uint32_t kind, const char *name)
{
	uint64_t h = coop_fnv64(c->seed ^ COOP_FNV64_INIT, name, strlen(name));

	h ^= kind;
	/* Final avalanche (splitmix64), so low bits index well. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

static size_t buckets_for(size_t max)
{
	size_t n = 16;

	while (n < max && n < ((size_t)1 << 30))
		n <<= 1;
	return n;
}

struct res_cache *res_cache_new(unsigned max)
{
	struct res_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	/* the table is allocated by the first insert: a VS that never
	 * resolves (most VSes of a large configuration) pays nothing */
	c->nbuckets = buckets_for(max);
	if (getrandom(&c->seed, sizeof(c->seed), GRND_NONBLOCK) != sizeof(c->seed))
		c->seed = (uint64_t)(uintptr_t)c ^ res_now_ms();
	c->max = max;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void lru_unlink(struct res_cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct res_cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Unlink e from its bucket and the LRU and free it. Lock held. */
static void drop(struct res_cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	res_result_release(e->res);
	free(e);
	c->count--;
}

static struct cache_entry *find(struct res_cache *c, uint64_t h, uint32_t kind, const char *name)
{
	struct cache_entry *e = c->buckets ? c->buckets[h & (c->nbuckets - 1)] : NULL;

	for (; e; e = e->hnext)
		if (e->hash == h && e->kind == kind && !strcmp(e->name, name))
			return e;
	return NULL;
}

bool res_cache_get(struct res_cache *c, uint32_t kind, const char *name, uint64_t now_ms,
		   int *status, struct res_result **res)
{
	char key[RES_TEXT_NAME_MAX];
	struct cache_entry *e;
	bool hit = false;
	uint64_t h;

	if (!c->max)
		return false;
	lower(name, key, sizeof(key));
	h = hash(c, kind, key);
	pthread_mutex_lock(&c->lock);
	e = find(c, h, kind, key);
	if (e && e->expires_ms <= now_ms) {
		drop(c, e);
		e = NULL;
	}
	if (e) {
		lru_unlink(c, e);
		lru_push(c, e);
		*status = e->status;
		*res = e->res ? res_result_hold(e->res) : NULL;
		hit = true;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void res_cache_put(struct res_cache *c, uint64_t gen, uint32_t kind, const char *name, int status,
		   struct res_result *res, uint32_t ttl, uint64_t now_ms)
{
	char key[RES_TEXT_NAME_MAX];
	struct cache_entry *e, *old;
	size_t n;
	uint64_t h;

	if (!c->max || !ttl)
		return;
	lower(name, key, sizeof(key));
	n = strlen(key) + 1;
	e = malloc(sizeof(*e) + n);
	if (!e)
		return; /* a cache that cannot grow just misses */
	memcpy(e->name, key, n);
	h = hash(c, kind, key);
	e->hash = h;
	e->kind = kind;
	e->status = status;
	e->expires_ms = now_ms + (uint64_t)ttl * 1000u;
	e->prev = e->next = NULL;
	pthread_mutex_lock(&c->lock);
	if (gen != c->gen) {
		/* Answered under settings that have been replaced since. */
		pthread_mutex_unlock(&c->lock);
		free(e);
		return;
	}
	if (!c->buckets && !(c->buckets = calloc(c->nbuckets, sizeof(*c->buckets)))) {
		pthread_mutex_unlock(&c->lock);
		free(e);
		return;
	}
	old = find(c, h, kind, key);
	if (old)
		drop(c, old);
	while (c->count >= c->max && c->tail)
		drop(c, c->tail);
	e->res = res ? res_result_hold(res) : NULL;
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	lru_push(c, e);
	c->count++;
	pthread_mutex_unlock(&c->lock);
}

static void clear(struct res_cache *c)
{
	while (c->tail)
		drop(c, c->tail);
}

void res_cache_reset(struct res_cache *c, uint64_t gen, unsigned max)
{
	size_t nb = buckets_for(max);

	pthread_mutex_lock(&c->lock);
	clear(c);
	if (nb != c->nbuckets) {
		/* empty now: the next insert makes the table at its new size */
		free(c->buckets);
		c->buckets = NULL;
		c->nbuckets = nb;
	}
	c->max = max;
	c->gen = gen;
	pthread_mutex_unlock(&c->lock);
}

size_t res_cache_count(struct res_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void res_cache_free(struct res_cache *c)
{
	if (!c)
		return;
	clear(c);
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
