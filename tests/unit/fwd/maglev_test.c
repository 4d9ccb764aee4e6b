/* maglev_test.c - Maglev table: size checks, balance, disruption, weights, drain, order independence, golden table, mod-N mode, publication. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/fwd/fwd_test_util.h"

#define N_BIG 1000
#define M_BIG 65537u
/* Collateral bounds: the measured averages over the 20 seeded sets (add
 * 0.575 %, remove 1 % 2.340 %) plus a little margin; see test_disruption. */
#define COLL_ADD_MAX 0.0060
#define COLL_RM_MAX 0.0245

/* Build from s; M below 100 x N is allowed here so the paper's N = 1,000,
 * M = 65,537 experiments can be reproduced. */
static struct coop_fwd_maglev *build(const struct tu_set *s, uint32_t m, enum coop_fwd_mode mode)
{
	struct coop_fwd_maglev_config cfg = { .m = m, .mode = mode, .allow_small = true };
	struct coop_fwd_maglev *t = NULL;
	char err[256] = "";
	int ret = coop_fwd_maglev_build(&cfg, s->b, s->n, &t, err, sizeof(err));

	if (ret)
		fail_msg("build: %s", err);
	return t;
}

static const uint32_t *entries(const struct coop_fwd_maglev *t, uint32_t *m)
{
	const uint32_t *e = coop_fwd_maglev_entries(t, m);

	assert_non_null(e);
	return e;
}

static void test_size_checks(void **state)
{
	struct coop_fwd_maglev_config cfg = { .m = 65536 };
	struct coop_fwd_maglev *t = NULL;
	struct tu_set *s = malloc(sizeof(*s));
	uint64_t rng = 1;
	char err[256];

	(void)state;
	tu_random_set(s, 10, &rng);
	assert_int_equal(coop_fwd_maglev_build(&cfg, s->b, s->n, &t, err, sizeof(err)), -EINVAL);
	assert_null(t);
	assert_non_null(strstr(err, "not prime"));
	assert_non_null(strstr(err, "65537"));

	tu_random_set(s, 1000, &rng);
	cfg.m = 65537;
	assert_int_equal(coop_fwd_maglev_build(&cfg, s->b, s->n, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too small for 1000 backends"));
	assert_non_null(strstr(err, "100003"));
	assert_int_equal(coop_fwd_maglev_check_size(100003, 1000, err, sizeof(err)), 0);
	assert_int_equal(coop_fwd_maglev_check_size(99991, 1000, err, sizeof(err)), -EINVAL);
	assert_int_equal(coop_fwd_maglev_check_size(1, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(coop_fwd_maglev_check_size(COOP_FWD_M_MAX, 1, err, sizeof(err)), 0);
	assert_int_equal(coop_fwd_prime_next(65536), 65537);
	assert_int_equal(coop_fwd_prime_next(655360), 655373);

	/* duplicate key, duplicate id, bad id, bad weight */
	tu_random_set(s, 3, &rng);
	s->b[2].key = s->b[0].key;
	s->b[2].keylen = s->b[0].keylen;
	assert_int_equal(coop_fwd_maglev_build(NULL, s->b, s->n, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "same key"));
	tu_random_set(s, 3, &rng);
	s->b[2].id = 0;
	assert_int_equal(coop_fwd_maglev_build(NULL, s->b, s->n, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "used twice"));
	s->b[2].id = COOP_FWD_ID_MAX;
	assert_int_equal(coop_fwd_maglev_build(NULL, s->b, s->n, &t, err, sizeof(err)), -EINVAL);
	s->b[2].id = 2;
	s->b[2].weight = COOP_FWD_WEIGHT_MAX + 1;
	assert_int_equal(coop_fwd_maglev_build(NULL, s->b, s->n, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "weight"));
	s->b[2].weight = 1;
	assert_int_equal(coop_fwd_maglev_build(NULL, s->b, s->n, &t, err, sizeof(err)), 0);
	coop_fwd_maglev_free(t);
	free(s);
}

static void count_entries(const struct coop_fwd_maglev *t, uint32_t *cnt, size_t nid)
{
	uint32_t m, i;
	const uint32_t *e = entries(t, &m);

	memset(cnt, 0, nid * sizeof(*cnt));
	for (i = 0; i < m; i++) {
		assert_true(e[i] < nid);
		cnt[e[i]]++;
	}
}

static void test_balance(void **state)
{
	struct tu_set *s = malloc(sizeof(*s));
	static uint32_t cnt[N_BIG];
	struct coop_fwd_maglev *t;
	uint64_t rng = 2;
	uint32_t max = 0, min = UINT32_MAX, i;
	double avg = (double)M_BIG / N_BIG;

	(void)state;
	tu_random_set(s, N_BIG, &rng);
	t = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
	count_entries(t, cnt, N_BIG);
	for (i = 0; i < N_BIG; i++) {
		max = cnt[i] > max ? cnt[i] : max;
		min = cnt[i] < min ? cnt[i] : min;
	}
	print_message("balance N=1000 M=65537: min %u max %u avg %.3f max/avg %.4f\n", min, max, avg,
		      max / avg);
	assert_true(max / avg <= 1.01);
	assert_true(min > 0);
	coop_fwd_maglev_free(t);
	free(s);
}

/* Copy of s without the backends whose id is marked in drop[]. */
static void subset(struct tu_set *out, const struct tu_set *s, const uint8_t *drop)
{
	size_t i;

	out->n = 0;
	for (i = 0; i < s->n; i++) {
		if (drop[s->b[i].id])
			continue;
		memcpy(out->keys[out->n], s->keys[i], COOP_FWD_KEY_MAX);
		out->b[out->n] = s->b[i];
		out->b[out->n].key = out->keys[out->n];
		out->n++;
	}
}

/*
 * Disruption, averaged over 20 random sets of 1,000 backends at M = 65,537.
 * Adding one backend must move about 1/1001 of the entries (to it) plus
 * collateral; removing 1 % must move about 1 % plus collateral. Collateral
 * (an entry moving between two backends that both stayed) is what Maglev
 * trades for balance; the bounds COLL_*_MAX are the measured averages
 * with a small margin, so a regression in the permutation or the turn
 * order shows. Measured: add moves 0.675 % (0.575 % collateral), removing
 * 1 % moves 3.339 % (2.340 % collateral).
 */
static void test_disruption(void **state)
{
	struct tu_set *s = malloc(sizeof(*s)), *x = malloc(sizeof(*x));
	double add_moved = 0, add_coll = 0, rm_moved = 0, rm_coll = 0;
	double add_max = 0, rm_max = 0;
	uint64_t rng = 3;
	int round, rounds = 20;
	static uint8_t drop[N_BIG + 1];

	(void)state;
	for (round = 0; round < rounds; round++) {
		struct coop_fwd_maglev *t0, *t1, *t2;
		const uint32_t *e0, *e1, *e2;
		uint32_t m, i, moved = 0, coll = 0, removed = 0;

		tu_random_set(s, N_BIG + 1, &rng); /* the last one is the added backend */
		s->n = N_BIG;
		t0 = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
		s->n = N_BIG + 1;
		t1 = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
		s->n = N_BIG;
		e0 = entries(t0, &m);
		e1 = entries(t1, &m);
		for (i = 0; i < m; i++) {
			if (e0[i] == e1[i])
				continue;
			moved++;
			if (e1[i] != N_BIG)
				coll++;
		}
		add_moved += (double)moved / m;
		add_coll += (double)coll / m;
		add_max = (double)coll / m > add_max ? (double)coll / m : add_max;

		memset(drop, 0, sizeof(drop));
		while (removed < N_BIG / 100) {
			uint32_t id = (uint32_t)(tu_rand(&rng) % N_BIG);

			removed += !drop[id];
			drop[id] = 1;
		}
		subset(x, s, drop);
		t2 = build(x, M_BIG, COOP_FWD_MODE_MAGLEV);
		e2 = entries(t2, &m);
		moved = coll = 0;
		for (i = 0; i < m; i++) {
			if (e0[i] == e2[i])
				continue;
			moved++;
			if (!drop[e0[i]])
				coll++;
			assert_false(drop[e2[i]]);
		}
		rm_moved += (double)moved / m;
		rm_coll += (double)coll / m;
		rm_max = (double)coll / m > rm_max ? (double)coll / m : rm_max;
		coop_fwd_maglev_free(t0);
		coop_fwd_maglev_free(t1);
		coop_fwd_maglev_free(t2);
	}
	add_moved /= rounds;
	add_coll /= rounds;
	rm_moved /= rounds;
	rm_coll /= rounds;
	print_message("add 1 to 1000: moved %.3f%% (collateral %.3f%%, worst set %.3f%%)\n",
		      100 * add_moved, 100 * add_coll, 100 * add_max);
	print_message("remove 10 of 1000: moved %.3f%% (collateral %.3f%%, worst set %.3f%%)\n",
		      100 * rm_moved, 100 * rm_coll, 100 * rm_max);
	assert_true(add_moved <= 0.007);
	assert_true(rm_moved <= 0.035);
	/* the entries of the new backend and of the removed ones must move */
	assert_true(add_moved >= 1.0 / 1001 * 0.9);
	assert_true(rm_moved >= 0.01 * 0.9);
	assert_true(add_coll <= COLL_ADD_MAX);
	assert_true(rm_coll <= COLL_RM_MAX);
	free(s);
	free(x);
}

static void test_weights(void **state)
{
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t;
	uint32_t cnt[300], cls[3] = { 0 }, nb[3] = { 0 };
	double r2, r4, a1, a2, a4;
	uint64_t rng = 4;
	size_t i;

	(void)state;
	/* three backends, 1:2:4 */
	tu_random_set(s, 3, &rng);
	s->b[0].weight = 1;
	s->b[1].weight = 2;
	s->b[2].weight = 4;
	t = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
	count_entries(t, cnt, 3);
	r2 = (double)cnt[1] / cnt[0];
	r4 = (double)cnt[2] / cnt[0];
	print_message("weights 1:2:4 -> %u %u %u (%.4f %.4f)\n", cnt[0], cnt[1], cnt[2], r2, r4);
	assert_true(r2 >= 2 * 0.99 && r2 <= 2 * 1.01);
	assert_true(r4 >= 4 * 0.99 && r4 <= 4 * 1.01);
	coop_fwd_maglev_free(t);

	/* 300 backends cycling 1, 2, 4: per weight class, entries per backend */
	tu_random_set(s, 300, &rng);
	for (i = 0; i < s->n; i++)
		s->b[i].weight = 1u << (i % 3);
	t = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
	count_entries(t, cnt, 300);
	for (i = 0; i < 300; i++) {
		cls[i % 3] += cnt[i];
		nb[i % 3]++;
	}
	a1 = (double)cls[0] / nb[0];
	a2 = (double)cls[1] / nb[1];
	a4 = (double)cls[2] / nb[2];
	print_message("300 backends 1:2:4 per backend: %.2f %.2f %.2f\n", a1, a2, a4);
	assert_true(a2 / a1 >= 1.98 && a2 / a1 <= 2.02);
	assert_true(a4 / a1 >= 3.96 && a4 / a1 <= 4.04);
	coop_fwd_maglev_free(t);

	/* skewed: one backend at the maximum weight among 999 of weight 1
	 * gets its share, and the build does not crawl pass by pass */
	{
		static uint32_t c[N_BIG];
		double share, want = (double)COOP_FWD_WEIGHT_MAX / (COOP_FWD_WEIGHT_MAX + 999);

		tu_random_set(s, N_BIG, &rng);
		s->b[500].weight = COOP_FWD_WEIGHT_MAX;
		t = build(s, 100003, COOP_FWD_MODE_MAGLEV);
		count_entries(t, c, N_BIG);
		share = c[500] / 100003.0;
		print_message("skewed 10000:1 x 999: heavy share %.5f (want %.5f)\n", share, want);
		assert_true(share > want * 0.99 && share < want * 1.01);
		for (i = 0; i < N_BIG; i++)
			assert_true(i == 500 || (c[i] >= 9 && c[i] <= 10));
		coop_fwd_maglev_free(t);
	}
	free(s);
}

/* Weight 0: no entries, state draining, and the same table as without it. */
static void test_drain(void **state)
{
	struct tu_set *s = malloc(sizeof(*s)), *x = malloc(sizeof(*x));
	struct coop_fwd_maglev *t, *u;
	static uint8_t drop[32];
	const uint32_t *e, *f, *act;
	uint32_t m, m2, i, na;

	(void)state;
	uint64_t rng = 5;
	tu_random_set(s, 20, &rng);
	s->b[7].weight = 0;
	t = build(s, 4001, COOP_FWD_MODE_MAGLEV);
	e = entries(t, &m);
	for (i = 0; i < m; i++)
		assert_int_not_equal(e[i], 7);
	assert_int_equal(coop_fwd_maglev_state(t, 7), COOP_FWD_STATE_DRAINING);
	assert_int_equal(coop_fwd_maglev_state(t, 6), COOP_FWD_STATE_ACTIVE);
	assert_int_equal(coop_fwd_maglev_state(t, 20), COOP_FWD_STATE_ABSENT);
	assert_int_equal(coop_fwd_maglev_state(t, 60000), COOP_FWD_STATE_ABSENT);
	act = coop_fwd_maglev_active(t, &na);
	assert_int_equal(na, 19);
	for (i = 0; i < na; i++)
		assert_int_not_equal(act[i], 7);

	memset(drop, 0, sizeof(drop));
	drop[7] = 1;
	subset(x, s, drop);
	u = build(x, 4001, COOP_FWD_MODE_MAGLEV);
	f = entries(u, &m2);
	assert_int_equal(m, m2);
	assert_memory_equal(e, f, m * sizeof(*e));
	coop_fwd_maglev_free(u);
	coop_fwd_maglev_free(t);

	/* everything drained: no backend, but the table is valid */
	for (i = 0; i < s->n; i++)
		s->b[i].weight = 0;
	t = build(s, 4001, COOP_FWD_MODE_MAGLEV);
	assert_int_equal(coop_fwd_maglev_lookup(t, 12345), COOP_FWD_NO_BACKEND);
	assert_int_equal(coop_fwd_maglev_state(t, 3), COOP_FWD_STATE_DRAINING);
	coop_fwd_maglev_free(t);
	t = build(s, 4001, COOP_FWD_MODE_ECMP);
	assert_int_equal(coop_fwd_maglev_lookup(t, 12345), COOP_FWD_NO_BACKEND);
	coop_fwd_maglev_free(t);
	free(s);
	free(x);
}

static void shuffle(struct tu_set *s, uint64_t *rng)
{
	size_t i;

	for (i = s->n - 1; i > 0; i--) {
		size_t j = (size_t)(tu_rand(rng) % (i + 1));
		struct coop_fwd_backend tb = s->b[i];

		s->b[i] = s->b[j];
		s->b[j] = tb;
	}
}

/* Any input order, same table: the permutation is a function of the key
 * and the turn order is key order. Keys stay valid since only the backend
 * records move. */
static void test_order_independence(void **state)
{
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t, *u;
	const uint32_t *e, *f;
	uint64_t rng = 6;
	uint32_t m, i;
	int round;

	(void)state;
	tu_random_set(s, 500, &rng);
	for (i = 0; i < s->n; i++)
		s->b[i].weight = 1 + i % 5;
	t = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
	e = entries(t, &m);
	for (round = 0; round < 5; round++) {
		shuffle(s, &rng);
		u = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
		f = entries(u, &m);
		assert_memory_equal(e, f, m * sizeof(*e));
		coop_fwd_maglev_free(u);
	}
	coop_fwd_maglev_free(t);
	free(s);
}

/* Checksum of a table, independent of host byte order. */
static uint32_t table_checksum(const struct coop_fwd_maglev *t)
{
	uint32_t m, i, h = 0;
	const uint32_t *e = entries(t, &m);

	for (i = 0; i < m; i++) {
		uint8_t le[4] = { (uint8_t)e[i], (uint8_t)(e[i] >> 8), (uint8_t)(e[i] >> 16),
				  (uint8_t)(e[i] >> 24) };

		h = coop_fwd_hash_bytes(le, 4, h);
	}
	return h;
}

/*
 * Golden tables: five named nodes, M = 503, unweighted and weighted. Any
 * change to the hash, the seeds, the permutation, the order or the turn
 * scheme changes these checksums, and with them the owner of every flow in
 * a cluster mixing versions: such a change must be deliberate.
 */
#define GOLDEN_PLAIN 0x02d106feu
#define GOLDEN_WEIGHTED 0x1f83896cu

static void test_golden(void **state)
{
	static const char *names[] = { "node-c", "node-a", "node-e", "node-b", "node-d" };
	static const uint32_t w[] = { 1, 2, 4, 0, 1 };
	struct coop_fwd_backend b[5];
	struct coop_fwd_maglev_config cfg = { .m = 503 };
	struct coop_fwd_maglev *t, *u;
	uint32_t c1, c2, m;
	const uint32_t *e;
	char err[256];
	int i;

	(void)state;
	for (i = 0; i < 5; i++) {
		b[i].key = names[i];
		b[i].keylen = strlen(names[i]);
		b[i].id = (uint32_t)i + 10;
		b[i].weight = 1;
	}
	assert_int_equal(coop_fwd_maglev_build(&cfg, b, 5, &t, err, sizeof(err)), 0);
	assert_int_equal(coop_fwd_maglev_build(&cfg, b, 5, &u, err, sizeof(err)), 0);
	e = entries(t, &m);
	assert_memory_equal(e, entries(u, &m), m * sizeof(*e));
	print_message("first entries: %u %u %u %u %u %u\n", e[0], e[1], e[2], e[3], e[4], e[5]);
	c1 = table_checksum(t);
	coop_fwd_maglev_free(t);
	coop_fwd_maglev_free(u);
	for (i = 0; i < 5; i++)
		b[i].weight = w[i];
	assert_int_equal(coop_fwd_maglev_build(&cfg, b, 5, &t, err, sizeof(err)), 0);
	c2 = table_checksum(t);
	coop_fwd_maglev_free(t);
	print_message("golden checksums: plain 0x%08x weighted 0x%08x\n", c1, c2);
	assert_int_equal(c1, GOLDEN_PLAIN);
	assert_int_equal(c2, GOLDEN_WEIGHTED);
}

/* The ECMP comparison mode: hash mod N over the key-ordered active set,
 * and what that costs on a change, next to Maglev. */
static void test_ecmp_mode(void **state)
{
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *e0, *e1, *g0, *g1;
	const uint32_t *act;
	uint32_t m, na, i, emoved = 0, gmoved = 0, samples = 200000;
	uint64_t rng = 7;

	(void)state;
	tu_random_set(s, N_BIG + 1, &rng);
	s->n = N_BIG;
	e0 = build(s, 0, COOP_FWD_MODE_ECMP);
	g0 = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
	s->n = N_BIG + 1;
	e1 = build(s, 0, COOP_FWD_MODE_ECMP);
	g1 = build(s, M_BIG, COOP_FWD_MODE_MAGLEV);
	assert_int_equal(coop_fwd_maglev_mode(e0), COOP_FWD_MODE_ECMP);
	assert_null(coop_fwd_maglev_entries(e0, &m));
	assert_int_equal(m, 0);
	act = coop_fwd_maglev_active(e0, &na);
	assert_int_equal(na, N_BIG);
	for (i = 0; i < samples; i++) {
		uint32_t h = (uint32_t)tu_rand(&rng);

		assert_int_equal(coop_fwd_maglev_lookup(e0, h), act[h % na]);
		emoved += coop_fwd_maglev_lookup(e0, h) != coop_fwd_maglev_lookup(e1, h);
		gmoved += coop_fwd_maglev_lookup(g0, h) != coop_fwd_maglev_lookup(g1, h);
	}
	print_message("add 1 to 1000, flows moved: mod-N %.2f%%, Maglev %.3f%%\n",
		      100.0 * emoved / samples, 100.0 * gmoved / samples);
	/* mod N moves all but ~1/(N+1) of the flows; Maglev about 1/(N+1) */
	assert_true(emoved > samples * 0.98);
	assert_true(gmoved < samples * 0.007);
	/* the active list is in key order: a sorted key set's ids */
	for (i = 1; i < na; i++) {
		const struct coop_fwd_backend *a = &s->b[act[i - 1]], *b = &s->b[act[i]];
		size_t l = a->keylen < b->keylen ? a->keylen : b->keylen;
		int c = memcmp(a->key, b->key, l);

		assert_true(c < 0 || (c == 0 && a->keylen < b->keylen));
	}
	coop_fwd_maglev_free(e0);
	coop_fwd_maglev_free(e1);
	coop_fwd_maglev_free(g0);
	coop_fwd_maglev_free(g1);
	free(s);
}

/* Table k: five backends with ids 5k .. 5k+4. */
static struct coop_fwd_maglev *gen_table(uint32_t k)
{
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t;
	uint32_t i;

	s->n = 0;
	for (i = 0; i < 5; i++)
		tu_add(s, 0xc6120000u + k * 5 + i, 80, k * 5 + i, 1);
	t = build(s, 503, COOP_FWD_MODE_MAGLEV);
	free(s);
	return t;
}

static void test_publish_pinning(void **state)
{
	struct coop_fwd_service *svc = coop_fwd_service_new(2);
	struct coop_fwd_maglev *t1 = gen_table(1), *t2 = gen_table(2);

	(void)state;
	assert_non_null(svc);
	assert_null(coop_fwd_service_new(0));
	assert_null(coop_fwd_service_enter(svc, 0));
	coop_fwd_service_leave(svc, 0);
	coop_fwd_service_publish(svc, t1);
	assert_ptr_equal(coop_fwd_service_enter(svc, 0), t1);
	coop_fwd_service_publish(svc, t2);
	/* reader 0 still holds t1: it must survive */
	assert_int_equal(coop_fwd_service_reclaim(svc), 1);
	assert_int_equal(coop_fwd_maglev_lookup(t1, 99) / 5, 1);
	assert_ptr_equal(coop_fwd_service_enter(svc, 1), t2);
	coop_fwd_service_leave(svc, 0);
	assert_int_equal(coop_fwd_service_reclaim(svc), 0);
	coop_fwd_service_leave(svc, 1);
	coop_fwd_service_free(svc);
}

struct reader_arg {
	struct coop_fwd_service *svc; /* shared service */
	_Atomic int stop;             /* set by the main thread */
	_Atomic uint64_t enters;      /* tables seen */
	uint32_t generations;         /* distinct tables seen */
	int bad;                      /* inconsistent lookups seen */
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	uint64_t rng = 8;
	uint32_t last = 0;

	while (!a->stop) {
		const struct coop_fwd_maglev *t = coop_fwd_service_enter(a->svc, 0);
		uint32_t first, k;
		int i;

		if (t) {
			first = coop_fwd_maglev_lookup(t, (uint32_t)tu_rand(&rng)) / 5;
			/* generations only move forward; one table is one generation */
			if (first < last)
				a->bad++;
			a->generations += first != last;
			last = first;
			for (i = 0; i < 64; i++) {
				k = coop_fwd_maglev_lookup(t, (uint32_t)tu_rand(&rng)) / 5;
				if (k != first)
					a->bad++;
			}
			a->enters++;
		}
		coop_fwd_service_leave(a->svc, 0);
	}
	return NULL;
}

/* A reader thread looks up continuously while 2,000 tables are published. */
static void test_publish_concurrent(void **state)
{
	struct reader_arg a = { .svc = coop_fwd_service_new(1) };
	pthread_t th;
	uint32_t k;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, reader, &a), 0);
	/* at least 2,000 tables, and on until the reader has entered 1,000
	 * times (a slow or serialising host, e.g. valgrind) */
	for (k = 1; k <= 2000 || (a.enters < 1000 && k < 13000); k++) {
		coop_fwd_service_publish(a.svc, gen_table(k));
		if (k % 16 == 0)
			sched_yield();
	}
	a.stop = 1;
	pthread_join(th, NULL);
	print_message("reader: %llu enters, %u tables seen, during %u publishes\n",
		      (unsigned long long)a.enters, a.generations, k - 1);
	assert_int_equal(a.bad, 0);
	assert_true(a.enters >= 1000);
	assert_true(a.generations >= 2);
	assert_int_equal(coop_fwd_service_reclaim(a.svc), 0);
	coop_fwd_service_free(a.svc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_checks),
		cmocka_unit_test(test_balance),
		cmocka_unit_test(test_disruption),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_order_independence),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_ecmp_mode),
		cmocka_unit_test(test_publish_pinning),
		cmocka_unit_test(test_publish_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
