/* maglev.c - Maglev lookup-table build (Eisenbud et al., NSDI 2016, section 3.4) with weights, plus the mod-N comparison mode. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fwd/fwd_priv.h"

void coop_fwd_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint32_t coop_fwd_hash_bytes(const void *data, size_t len, uint32_t seed)
{
	const uint8_t *p = data;
	uint32_t h = seed, k = 0;
	size_t i;

	for (i = 0; i + 4 <= len; i += 4)
		h = coop_fwd_hash_word(h, (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
						  (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24);
	switch (len & 3) {
	case 3:
		k ^= (uint32_t)p[i + 2] << 16;
		__attribute__((fallthrough));
	case 2:
		k ^= (uint32_t)p[i + 1] << 8;
		__attribute__((fallthrough));
	case 1:
		k ^= p[i];
		k *= 0xcc9e2d51u;
		k = coop_fwd_rotl32(k, 15);
		k *= 0x1b873593u;
		h ^= k;
	}
	return coop_fwd_hash_final(h, (uint32_t)len);
}

int coop_fwd_backend_key_addr(void *buf, size_t len, int family, const void *addr, uint16_t port)
{
	uint8_t *k = buf;
	size_t alen;

	if (family == AF_INET)
		alen = 4;
	else if (family == AF_INET6)
		alen = 16;
	else
		return -EINVAL;
	if (len < alen + 3)
		return -ENOSPC;
	k[0] = family == AF_INET ? COOP_FWD_FAMILY_V4 : COOP_FWD_FAMILY_V6;
	memcpy(k + 1, addr, alen);
	k[alen + 1] = (uint8_t)(port >> 8);
	k[alen + 2] = (uint8_t)port;
	return (int)(alen + 3);
}

static bool is_prime(uint32_t x)
{
	uint32_t d;

	if (x < 4)
		return x >= 2;
	if (x % 2 == 0 || x % 3 == 0)
		return false;
	for (d = 5; (uint64_t)d * d <= x; d += 6)
		if (x % d == 0 || x % (d + 2) == 0)
			return false;
	return true;
}

uint32_t coop_fwd_prime_next(uint32_t x)
{
	for (; x <= COOP_FWD_M_MAX; x++)
		if (is_prime(x))
			return x;
	return 0;
}

int coop_fwd_maglev_check_size(uint32_t m, size_t n, char *err, size_t errlen)
{
	uint64_t need = (uint64_t)n * 100;
	uint32_t next;

	if (m < 2 || m > COOP_FWD_M_MAX) {
		coop_fwd_errf(err, errlen, "table size %u out of range: use a prime from 2 to %u", m,
			      COOP_FWD_M_MAX);
		return -EINVAL;
	}
	if (need > COOP_FWD_M_MAX) {
		coop_fwd_errf(err, errlen,
			      "%zu backends need a table of at least %llu entries, above the limit %u",
			      n, (unsigned long long)need, COOP_FWD_M_MAX);
		return -EINVAL;
	}
	if (!is_prime(m)) {
		next = coop_fwd_prime_next(m);
		coop_fwd_errf(err, errlen, "table size %u is not prime (next prime: %u)", m, next);
		return -EINVAL;
	}
	if (m < need) {
		next = coop_fwd_prime_next((uint32_t)need);
		coop_fwd_errf(err, errlen,
			      "table size %u is too small for %zu backends: Maglev needs at least 100 entries per backend, %llu (next prime: %u)",
			      m, n, (unsigned long long)need, next);
		return -EINVAL;
	}
	return 0;
}

/* Backend order: key bytes, then length (a prefix sorts first). */
static int key_cmp(const void *a, const void *b, void *arg)
{
	const struct coop_fwd_backend *v = arg;
	const struct coop_fwd_backend *x = &v[*(const uint32_t *)a];
	const struct coop_fwd_backend *y = &v[*(const uint32_t *)b];
	size_t l = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, l);

	if (c)
		return c;
	return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* Check every backend and sort their indices by key into order[]. */
static int backends_check(const struct coop_fwd_backend *b, size_t n, uint32_t *order,
			  char *err, size_t errlen)
{
	uint8_t *seen;
	size_t i;

	if (n > COOP_FWD_ID_MAX) {
		coop_fwd_errf(err, errlen, "%zu backends: at most %u", n, COOP_FWD_ID_MAX);
		return -EINVAL;
	}
	seen = calloc(COOP_FWD_ID_MAX / 8, 1);
	if (!seen)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!b[i].key || b[i].keylen == 0 || b[i].keylen > COOP_FWD_KEY_MAX) {
			coop_fwd_errf(err, errlen, "backend %zu: key must be 1 to %d bytes", i,
				      COOP_FWD_KEY_MAX);
			goto err_free_seen;
		}
		if (b[i].id >= COOP_FWD_ID_MAX) {
			coop_fwd_errf(err, errlen, "backend %zu: id %u is not below %u", i, b[i].id,
				      COOP_FWD_ID_MAX);
			goto err_free_seen;
		}
		if (seen[b[i].id / 8] & (1u << (b[i].id % 8))) {
			coop_fwd_errf(err, errlen, "backend %zu: id %u used twice", i, b[i].id);
			goto err_free_seen;
		}
		seen[b[i].id / 8] |= (uint8_t)(1u << (b[i].id % 8));
		if (b[i].weight > COOP_FWD_WEIGHT_MAX) {
			coop_fwd_errf(err, errlen, "backend %zu: weight %u above the maximum %u", i,
				      b[i].weight, COOP_FWD_WEIGHT_MAX);
			goto err_free_seen;
		}
		order[i] = (uint32_t)i;
	}
	free(seen);
	qsort_r(order, n, sizeof(*order), key_cmp, (void *)b);
	for (i = 1; i < n; i++) {
		if (key_cmp(&order[i - 1], &order[i], (void *)b) == 0) {
			coop_fwd_errf(err, errlen, "backends %u and %u have the same key",
				      order[i - 1], order[i]);
			return -EINVAL;
		}
	}
	return 0;

err_free_seen:
	free(seen);
	return -EINVAL;
}

void coop_fwd_maglev_perm(const void *key, size_t keylen, uint32_t m, uint32_t *offset,
			  uint32_t *skip)
{
	*offset = coop_fwd_hash_bytes(key, keylen, COOP_FWD_SEED_OFFSET) % m;
	*skip = m > 1 ? coop_fwd_hash_bytes(key, keylen, COOP_FWD_SEED_SKIP) % (m - 1) + 1 : 1;
}

/* Per active backend state of the fill, kept small so the turn loop over
 * 1,000 backends stays in L1. */
struct turn {
	uint32_t pos;    /* next candidate slot of this backend's permutation */
	uint32_t skip;   /* permutation step, 1..m-1 */
	uint32_t id;     /* value written into the slots it wins */
	uint32_t weight; /* relative turn frequency, 1..COOP_FWD_WEIGHT_MAX */
	uint32_t turns;  /* turns taken so far (weighted fill) */
	uint32_t pad;    /* unused; 8-byte multiple */
};

/* One turn of backend t: walk its permutation to the first free slot and
 * take it. The walk is incremental (add skip, subtract m on overflow: no
 * multiply, no modulo) and free slots are a bitmap (m / 8 bytes, L1/L2
 * resident) rather than a probe of the entries array. */
static inline void take_turn(struct turn *t, uint32_t *entries, uint32_t m, uint64_t *filled)
{
	uint32_t pos = t->pos, skip = t->skip;

	while (filled[pos >> 6] & (1ull << (pos & 63))) {
		pos += skip;
		if (pos >= m)
			pos -= m;
	}
	filled[pos >> 6] |= 1ull << (pos & 63);
	entries[pos] = t->id;
	pos += skip;
	if (pos >= m)
		pos -= m;
	t->pos = pos;
}

/*
 * Weighted turn order. Conceptually the fill makes passes over the
 * backends in key order; each pass adds a backend's weight to its credit
 * and, when the credit reaches wmax, the backend takes a turn and pays
 * wmax. Credit starts at 0, so backend i's j-th turn falls in pass
 * ceil(j * wmax / w_i). A heap ordered by (pass, key index) yields exactly
 * that sequence without visiting backends that have no turn in a pass:
 * O(m log n) however skewed the weights.
 */
struct hturn {
	uint64_t pass; /* pass of this backend's next turn */
	uint32_t idx;  /* index in key order: breaks ties within a pass */
	uint32_t pad;  /* unused */
};

static inline bool hturn_before(const struct hturn *a, const struct hturn *b)
{
	return a->pass < b->pass || (a->pass == b->pass && a->idx < b->idx);
}

static void heap_down(struct hturn *h, uint32_t n, uint32_t i)
{
	struct hturn x = h[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && hturn_before(&h[c + 1], &h[c]))
			c++;
		if (!hturn_before(&h[c], &x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

static uint64_t next_pass(const struct turn *t, uint32_t wmax)
{
	uint64_t need = (uint64_t)(t->turns + 1) * wmax;

	return (need + t->weight - 1) / t->weight;
}

static int fill_weighted(uint32_t *entries, uint32_t m, struct turn *tv, uint32_t na,
			 uint32_t wmax, uint64_t *filled)
{
	struct hturn *h = malloc(na * sizeof(*h));
	uint32_t i, done;

	if (!h)
		return -ENOMEM;
	for (i = 0; i < na; i++) {
		h[i].pass = next_pass(&tv[i], wmax);
		h[i].idx = i;
		h[i].pad = 0;
	}
	for (i = na / 2; i-- > 0;)
		heap_down(h, na, i);
	for (done = 0; done < m; done++) {
		struct turn *t = &tv[h[0].idx];

		take_turn(t, entries, m, filled);
		t->turns++;
		h[0].pass = next_pass(t, wmax);
		heap_down(h, na, 0);
	}
	free(h);
	return 0;
}

/*
 * The Maglev population loop: backends take turns in key order until every
 * slot is taken. Same result as the paper's pseudo-code (the benchmark
 * checks it against that loop), but see take_turn() for the probe, and
 * weighted sets go through fill_weighted(). With equal weights every
 * backend takes a turn in every pass, which is this plain loop.
 */
static int fill(uint32_t *entries, uint32_t m, struct turn *tv, uint32_t na, uint32_t wmax,
		uint64_t *filled)
{
	uint32_t i, done = 0;

	for (i = 0; i < na; i++)
		if (tv[i].weight != wmax)
			return fill_weighted(entries, m, tv, na, wmax, filled);
	for (;;) {
		for (i = 0; i < na; i++) {
			take_turn(&tv[i], entries, m, filled);
			if (++done == m)
				return 0;
		}
	}
}

static int table_fill(struct coop_fwd_maglev *t, const struct coop_fwd_backend *b,
		      const uint32_t *order, size_t n)
{
	struct turn *tv;
	uint64_t *filled;
	uint32_t i, na = 0, wmax = 0;
	int ret;

	if (t->nactive == 0) {
		for (i = 0; i < t->m; i++)
			t->entries[i] = COOP_FWD_NO_BACKEND;
		return 0;
	}
	tv = malloc(t->nactive * sizeof(*tv));
	if (!tv)
		return -ENOMEM;
	filled = calloc((t->m + 63) / 64, sizeof(*filled));
	if (!filled) {
		free(tv);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct coop_fwd_backend *x = &b[order[i]];

		if (x->weight == 0)
			continue;
		coop_fwd_maglev_perm(x->key, x->keylen, t->m, &tv[na].pos, &tv[na].skip);
		tv[na].id = x->id;
		tv[na].weight = x->weight;
		tv[na].turns = 0;
		tv[na].pad = 0;
		if (x->weight > wmax)
			wmax = x->weight;
		na++;
	}
	ret = fill(t->entries, t->m, tv, na, wmax, filled);
	free(filled);
	free(tv);
	return ret;
}

int coop_fwd_maglev_build(const struct coop_fwd_maglev_config *cfg,
			  const struct coop_fwd_backend *backends, size_t n,
			  struct coop_fwd_maglev **out, char *err, size_t errlen)
{
	enum coop_fwd_mode mode = cfg ? cfg->mode : COOP_FWD_MODE_MAGLEV;
	uint32_t m = cfg && cfg->m ? cfg->m : COOP_FWD_M_DEFAULT;
	struct coop_fwd_maglev *t;
	uint32_t *order = NULL;
	uint32_t maxid = 0;
	size_t i;
	int ret;

	*out = NULL;
	if (mode != COOP_FWD_MODE_MAGLEV && mode != COOP_FWD_MODE_ECMP) {
		coop_fwd_errf(err, errlen, "unknown table mode %d", (int)mode);
		return -EINVAL;
	}
	if (mode == COOP_FWD_MODE_MAGLEV) {
		ret = coop_fwd_maglev_check_size(m, cfg && cfg->allow_small ? 0 : n, err, errlen);
		if (ret)
			return ret;
	}
	if (n && !backends) {
		coop_fwd_errf(err, errlen, "%zu backends but no array", n);
		return -EINVAL;
	}
	if (n) {
		order = malloc(n * sizeof(*order));
		if (!order)
			return -ENOMEM;
		ret = backends_check(backends, n, order, err, errlen);
		if (ret)
			goto err_free_order;
	}
	ret = -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto err_free_order;
	t->mode = mode;
	t->m = mode == COOP_FWD_MODE_MAGLEV ? m : 0;
	for (i = 0; i < n; i++) {
		if (backends[i].id > maxid)
			maxid = backends[i].id;
		if (backends[i].weight)
			t->nactive++;
	}
	t->nstate = n ? maxid + 1 : 0;
	t->state = calloc(t->nstate ? t->nstate : 1, 1);
	t->active = malloc((t->nactive ? t->nactive : 1) * sizeof(*t->active));
	t->entries = malloc((t->m ? t->m : 1) * sizeof(*t->entries));
	if (!t->state || !t->active || !t->entries)
		goto err_free_table;
	t->nactive = 0;
	for (i = 0; i < n; i++) {
		const struct coop_fwd_backend *x = &backends[order[i]];

		t->state[x->id] = x->weight ? COOP_FWD_STATE_ACTIVE : COOP_FWD_STATE_DRAINING;
		if (x->weight)
			t->active[t->nactive++] = x->id;
	}
	if (t->m) {
		ret = table_fill(t, backends, order, n);
		if (ret)
			goto err_free_table;
	}
	free(order);
	*out = t;
	return 0;

err_free_table:
	coop_fwd_maglev_free(t);
err_free_order:
	free(order);
	return ret;
}

void coop_fwd_maglev_free(struct coop_fwd_maglev *t)
{
	if (!t)
		return;
	free(t->entries);
	free(t->active);
	free(t->state);
	free(t);
}

uint32_t coop_fwd_maglev_lookup(const struct coop_fwd_maglev *t, uint32_t hash)
{
	if (!t)
		return COOP_FWD_NO_BACKEND;
	if (t->mode == COOP_FWD_MODE_ECMP)
		return t->nactive ? t->active[coop_fwd_ecmp_index(hash, t->nactive)]
				  : COOP_FWD_NO_BACKEND;
	return coop_fwd_maglev_pick(t->entries, t->m, hash);
}

uint32_t coop_fwd_maglev_state(const struct coop_fwd_maglev *t, uint32_t id)
{
	return coop_fwd_maglev_state_of(t, id);
}

enum coop_fwd_mode coop_fwd_maglev_mode(const struct coop_fwd_maglev *t)
{
	return t->mode;
}

const uint32_t *coop_fwd_maglev_entries(const struct coop_fwd_maglev *t, uint32_t *m)
{
	*m = t->m;
	return t->m ? t->entries : NULL;
}

const uint32_t *coop_fwd_maglev_active(const struct coop_fwd_maglev *t, uint32_t *n)
{
	*n = t->nactive;
	return t->active;
}
