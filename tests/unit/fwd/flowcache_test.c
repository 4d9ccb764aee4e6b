/* flowcache_test.c - flow cache: survival across removal and addition, SYN to a drained backend, UDP expiry, flood cap, LRU, counters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/fwd/fwd_test_util.h"

#define NFLOWS 20000
#define SEC 1000000000ull

static struct coop_fwd_maglev *build(const struct tu_set *s)
{
	struct coop_fwd_maglev *t = NULL;
	char err[256] = "";

	if (coop_fwd_maglev_build(NULL, s->b, s->n, &t, err, sizeof(err)))
		fail_msg("build: %s", err);
	return t;
}

static struct coop_fwd_flowcache *cache(uint32_t cap, uint64_t idle, uint32_t rate, uint32_t burst)
{
	struct coop_fwd_flowcache_config cfg = {
		.capacity = cap, .idle_ns = idle, .insert_rate = rate, .insert_burst = burst
	};
	struct coop_fwd_flowcache *fc = NULL;
	char err[256] = "";

	if (coop_fwd_flowcache_new(&cfg, &fc, err, sizeof(err)))
		fail_msg("flow cache: %s", err);
	return fc;
}

/* Ten backends 198.18.0.1..10:2049, ids 0..9 (id 10 is the added one). */
static void ten(struct tu_set *s, int with_added)
{
	uint32_t i;

	s->n = 0;
	for (i = 0; i < 10u + (with_added ? 1 : 0); i++)
		tu_add(s, 0xc6120001u + i, 2049, i, 1);
}

/*
 * Established flows survive a backend removal (all but the removed
 * backend's own flows) and an addition (all of them), where Maglev alone
 * would move some: the point of the cache.
 */
static void test_survival(void **state)
{
	static struct coop_fwd_tuple flows[NFLOWS];
	static uint32_t owner[NFLOWS];
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t1, *t_rm, *t_add;
	struct coop_fwd_flowcache *fc = cache(NFLOWS * 2, 30 * SEC, 0, 0);
	struct coop_fwd_flowcache_stats st;
	uint64_t rng = 21, now = 10 * SEC;
	uint32_t i, kept = 0, on_removed = 0, maglev_moved = 0, add_moved = 0;

	(void)state;
	ten(s, 0);
	t1 = build(s);
	memmove(&s->b[3], &s->b[4], 6 * sizeof(s->b[0])); /* remove id 3 */
	s->n = 9;
	t_rm = build(s);
	ten(s, 1);
	t_add = build(s);

	for (i = 0; i < NFLOWS; i++) {
		tu_random_flow(&flows[i], COOP_FWD_PROTO_TCP, &rng);
		owner[i] = coop_fwd_flowcache_select(fc, t1, &flows[i], COOP_FWD_PKT_SYN, now);
		assert_int_equal(owner[i], coop_fwd_maglev_lookup(t1, coop_fwd_hash(&flows[i])));
		assert_int_equal(coop_fwd_flowcache_select(fc, t1, &flows[i], 0, now), owner[i]);
	}
	/* removal of backend 3 */
	for (i = 0; i < NFLOWS; i++) {
		uint32_t b = coop_fwd_flowcache_select(fc, t_rm, &flows[i], 0, now + 1);
		uint32_t plain = coop_fwd_maglev_lookup(t_rm, coop_fwd_hash(&flows[i]));

		if (owner[i] == 3) {
			on_removed++;
			assert_int_equal(b, plain);
			continue;
		}
		kept += b == owner[i];
		maglev_moved += plain != owner[i];
	}
	print_message("removal: %u/%u surviving-owner flows kept (Maglev alone would move %u); %u on the removed backend re-homed\n",
		      kept, NFLOWS - on_removed, maglev_moved, on_removed);
	assert_int_equal(kept, NFLOWS - on_removed);
	assert_true(on_removed > NFLOWS / 20);
	assert_true(maglev_moved > 0);
	coop_fwd_flowcache_stats_get(fc, &st);
	assert_int_equal(st.gone, on_removed);

	/* addition of backend 10, from the original table's flows */
	coop_fwd_flowcache_free(fc);
	fc = cache(NFLOWS * 2, 30 * SEC, 0, 0);
	for (i = 0; i < NFLOWS; i++)
		coop_fwd_flowcache_select(fc, t1, &flows[i], COOP_FWD_PKT_SYN, now);
	kept = 0;
	for (i = 0; i < NFLOWS; i++) {
		kept += coop_fwd_flowcache_select(fc, t_add, &flows[i], 0, now + 1) == owner[i];
		add_moved += coop_fwd_maglev_lookup(t_add, coop_fwd_hash(&flows[i])) != owner[i];
	}
	print_message("addition: %u/%u flows kept (Maglev alone would move %u)\n", kept, NFLOWS,
		      add_moved);
	assert_int_equal(kept, NFLOWS);
	assert_true(add_moved > NFLOWS / 20);
	/* new flows do reach the new backend */
	for (i = 0, add_moved = 0; i < 2000; i++) {
		struct coop_fwd_tuple t;

		tu_random_flow(&t, COOP_FWD_PROTO_TCP, &rng);
		add_moved += coop_fwd_flowcache_select(fc, t_add, &t, COOP_FWD_PKT_SYN, now + 2) == 10;
	}
	assert_true(add_moved > 100);
	coop_fwd_flowcache_stats_get(fc, &st);
	assert_int_equal(st.hits, NFLOWS);
	assert_int_equal(st.misses, NFLOWS + 2000);
	assert_int_equal(st.entries, NFLOWS + 2000);
	coop_fwd_flowcache_free(fc);
	coop_fwd_maglev_free(t1);
	coop_fwd_maglev_free(t_rm);
	coop_fwd_maglev_free(t_add);
	free(s);
}

/* Drain: established flows stay; a SYN (new connection on a reused tuple)
 * takes the new table's answer; nothing new lands on the drained one. */
static void test_syn_to_drained(void **state)
{
	static struct coop_fwd_tuple flows[NFLOWS];
	static uint32_t owner[NFLOWS];
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t1, *t2;
	struct coop_fwd_flowcache *fc = cache(NFLOWS * 2, 30 * SEC, 0, 0);
	struct coop_fwd_flowcache_stats st;
	uint64_t rng = 22, now = SEC;
	uint32_t i, on5 = 0;

	(void)state;
	ten(s, 0);
	t1 = build(s);
	s->b[5].weight = 0;
	t2 = build(s);
	for (i = 0; i < NFLOWS; i++) {
		tu_random_flow(&flows[i], COOP_FWD_PROTO_TCP, &rng);
		owner[i] = coop_fwd_flowcache_select(fc, t1, &flows[i], COOP_FWD_PKT_SYN, now);
	}
	for (i = 0; i < NFLOWS; i++)
		assert_int_equal(coop_fwd_flowcache_select(fc, t2, &flows[i], 0, now), owner[i]);
	for (i = 0; i < NFLOWS; i++) {
		uint32_t b = coop_fwd_flowcache_select(fc, t2, &flows[i], COOP_FWD_PKT_SYN, now);

		assert_int_not_equal(b, 5);
		if (owner[i] == 5) {
			on5++;
			assert_int_equal(b, coop_fwd_maglev_lookup(t2, coop_fwd_hash(&flows[i])));
		} else {
			assert_int_equal(b, owner[i]); /* a retransmitted SYN stays put */
		}
	}
	coop_fwd_flowcache_stats_get(fc, &st);
	assert_true(on5 > NFLOWS / 20);
	assert_int_equal(st.drained, on5);
	/* the SYN's answer is cached: the connection's next segments follow */
	for (i = 0; i < NFLOWS; i++)
		assert_int_not_equal(coop_fwd_flowcache_select(fc, t2, &flows[i], 0, now), 5);
	coop_fwd_flowcache_free(fc);
	coop_fwd_maglev_free(t1);
	coop_fwd_maglev_free(t2);
	free(s);
}

/* UDP entries expire after the idle timeout; TCP ones do not. */
static void test_udp_expiry(void **state)
{
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t1, *t2;
	struct coop_fwd_flowcache *fc = cache(1024, SEC, 0, 0);
	struct coop_fwd_flowcache_stats st;
	struct coop_fwd_tuple u, tcp;
	uint64_t rng = 23, t0 = 100 * SEC;
	uint32_t bu, bt;

	(void)state;
	ten(s, 0);
	t1 = build(s);
	ten(s, 1);
	t2 = build(s);
	/* flows whose owner changes between t1 and t2 */
	do
		tu_random_flow(&u, COOP_FWD_PROTO_UDP, &rng);
	while (coop_fwd_maglev_lookup(t1, coop_fwd_hash(&u)) ==
	       coop_fwd_maglev_lookup(t2, coop_fwd_hash(&u)));
	do
		tu_random_flow(&tcp, COOP_FWD_PROTO_TCP, &rng);
	while (coop_fwd_maglev_lookup(t1, coop_fwd_hash(&tcp)) ==
	       coop_fwd_maglev_lookup(t2, coop_fwd_hash(&tcp)));
	bu = coop_fwd_flowcache_select(fc, t1, &u, 0, t0);
	bt = coop_fwd_flowcache_select(fc, t1, &tcp, COOP_FWD_PKT_SYN, t0);
	/* packets within the timeout keep refreshing the entry */
	assert_int_equal(coop_fwd_flowcache_select(fc, t2, &u, 0, t0 + SEC / 2), bu);
	assert_int_equal(coop_fwd_flowcache_select(fc, t2, &u, 0, t0 + SEC / 2 + SEC), bu);
	/* silent for longer than the timeout: expired, new answer */
	assert_int_equal(coop_fwd_flowcache_select(fc, t2, &u, 0, t0 + 3 * SEC),
			 coop_fwd_maglev_lookup(t2, coop_fwd_hash(&u)));
	assert_int_equal(coop_fwd_flowcache_select(fc, t2, &tcp, 0, t0 + 3600 * SEC), bt);
	coop_fwd_flowcache_stats_get(fc, &st);
	assert_int_equal(st.expired, 1);
	coop_fwd_flowcache_free(fc);
	coop_fwd_maglev_free(t1);
	coop_fwd_maglev_free(t2);
	free(s);
}

/* A SYN flood far above the insert cap does not evict established flows
 * that keep sending; without the cap the same flood flushes them. */
static void flood(bool capped, uint32_t *survivors, struct coop_fwd_flowcache_stats *st)
{
	static struct coop_fwd_tuple est[5000];
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t;
	struct coop_fwd_flowcache *fc = cache(10000, 30 * SEC, capped ? 1000 : 0, 1000);
	uint64_t rng = 24, t0 = 50 * SEC, now;
	uint32_t i, j, b;

	*survivors = 0;
	ten(s, 0);
	t = build(s);
	/* 5,000 established flows, set up over 5 s (within the cap) */
	for (i = 0; i < 5000; i++) {
		tu_random_flow(&est[i], COOP_FWD_PROTO_TCP, &rng);
		coop_fwd_flowcache_select(fc, t, &est[i], COOP_FWD_PKT_SYN, t0 + i * (SEC / 1000));
	}
	/* 2 s of flood, 500,000 SYNs per second; the established flows send
	 * a segment every 0.5 s */
	t0 += 5 * SEC;
	for (i = 0; i < 1000000; i++) {
		struct coop_fwd_tuple syn;

		now = t0 + i * 2000ull;
		tu_random_flow(&syn, COOP_FWD_PROTO_TCP, &rng);
		syn.src[0] ^= htonl(0x00010000u); /* outside the established range */
		coop_fwd_flowcache_select(fc, t, &syn, COOP_FWD_PKT_SYN, now);
		if (i % 250000 != 249999)
			continue;
		/* was each established flow still cached when it sent again? */
		for (j = 0; j < 5000; j++) {
			*survivors += coop_fwd_flowcache_peek(fc, &est[j], &b) == 0;
			coop_fwd_flowcache_select(fc, t, &est[j], 0, now);
		}
	}
	coop_fwd_flowcache_stats_get(fc, st);
	coop_fwd_flowcache_free(fc);
	coop_fwd_maglev_free(t);
	free(s);
}

static void test_flood_cap(void **state)
{
	struct coop_fwd_flowcache_stats st;
	uint32_t survivors;

	(void)state;
	flood(true, &survivors, &st);
	print_message("capped flood: %u/20000 established-flow segments found their entry, %llu inserts, %llu capped, %llu evictions\n",
		      survivors, (unsigned long long)st.inserts, (unsigned long long)st.capped,
		      (unsigned long long)st.evictions);
	assert_int_equal(survivors, 20000);
	/* 5,000 established + at most burst + 2 s x 1,000/s flood inserts */
	assert_true(st.inserts <= 5000 + 1000 + 2000 + 1);
	assert_true(st.capped >= 1000000 - 3001);
	assert_int_equal(st.evictions, 0);
	flood(false, &survivors, &st);
	print_message("uncapped flood: %u/20000 established-flow segments found their entry, %llu evictions\n",
		      survivors,
		      (unsigned long long)st.evictions);
	assert_true(survivors < 1000);
	assert_true(st.evictions > 900000);
}

static void test_lru(void **state)
{
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t;
	struct coop_fwd_flowcache *fc = cache(3, 0, 0, 0);
	struct coop_fwd_flowcache_stats st;
	struct coop_fwd_tuple f[5];
	uint64_t rng = 25;
	uint32_t b, i;

	(void)state;
	ten(s, 0);
	t = build(s);
	for (i = 0; i < 5; i++)
		tu_random_flow(&f[i], COOP_FWD_PROTO_TCP, &rng);
	coop_fwd_flowcache_select(fc, t, &f[0], 0, 1);
	coop_fwd_flowcache_select(fc, t, &f[1], 0, 2);
	coop_fwd_flowcache_select(fc, t, &f[2], 0, 3);
	coop_fwd_flowcache_select(fc, t, &f[0], 0, 4); /* f0 most recent, f1 least */
	coop_fwd_flowcache_select(fc, t, &f[3], 0, 5); /* evicts f1 */
	assert_int_equal(coop_fwd_flowcache_peek(fc, &f[1], &b), -ENOENT);
	assert_int_equal(coop_fwd_flowcache_peek(fc, &f[0], &b), 0);
	assert_int_equal(coop_fwd_flowcache_peek(fc, &f[2], &b), 0);
	assert_int_equal(coop_fwd_flowcache_peek(fc, &f[3], &b), 0);
	coop_fwd_flowcache_select(fc, t, &f[4], 0, 6); /* evicts f2 */
	assert_int_equal(coop_fwd_flowcache_peek(fc, &f[2], &b), -ENOENT);
	assert_int_equal(coop_fwd_flowcache_peek(fc, &f[0], &b), 0);
	coop_fwd_flowcache_stats_get(fc, &st);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 5);
	assert_int_equal(st.inserts, 5);
	assert_int_equal(st.entries, 3);
	/* no table: nothing to answer, nothing cached */
	coop_fwd_flowcache_free(fc);
	fc = cache(3, 0, 0, 0);
	assert_int_equal(coop_fwd_flowcache_select(fc, NULL, &f[0], 0, 1), COOP_FWD_NO_BACKEND);
	assert_int_equal(coop_fwd_flowcache_peek(fc, &f[0], &b), -ENOENT);
	coop_fwd_flowcache_free(fc);
	coop_fwd_maglev_free(t);
	free(s);
}

/* Many flows through a bigger cache: the table agrees, chains hold up. */
static void test_churn(void **state)
{
	struct tu_set *s = malloc(sizeof(*s));
	struct coop_fwd_maglev *t;
	struct coop_fwd_flowcache *fc = NULL;
	struct coop_fwd_flowcache_stats st;
	uint64_t rng = 26;
	uint32_t i, b;
	char err[128];

	(void)state;
	assert_int_equal(coop_fwd_flowcache_new(&(struct coop_fwd_flowcache_config){ .capacity = 0 },
						&fc, err, sizeof(err)),
			 -EINVAL);
	assert_null(fc);
	assert_non_null(strstr(err, "capacity"));
	fc = cache(4096, 0, 0, 0);
	ten(s, 0);
	t = build(s);
	for (i = 0; i < 200000; i++) {
		struct coop_fwd_tuple f;

		tu_random_flow(&f, i % 2 ? COOP_FWD_PROTO_TCP : COOP_FWD_PROTO_UDP, &rng);
		b = coop_fwd_flowcache_select(fc, t, &f, 0, i);
		assert_int_equal(b, coop_fwd_maglev_lookup(t, coop_fwd_hash(&f)));
		assert_int_equal(coop_fwd_flowcache_peek(fc, &f, &b), 0);
	}
	coop_fwd_flowcache_stats_get(fc, &st);
	assert_int_equal(st.entries, 4096);
	assert_int_equal(st.evictions, 200000 - 4096);
	coop_fwd_flowcache_free(fc);
	coop_fwd_maglev_free(t);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_survival),
		cmocka_unit_test(test_syn_to_drained),
		cmocka_unit_test(test_udp_expiry),
		cmocka_unit_test(test_flood_cap),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
