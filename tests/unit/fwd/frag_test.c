/* frag_test.c - fragments: one fragment owner per datagram by 3-tuple, later fragments follow the first's 5-tuple decision, bounds and expiry. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/fwd/fwd_test_util.h"

#define SEC 1000000000ull

struct env {
	struct tu_set set;                /* backends (nodes) */
	struct coop_fwd_maglev *t;        /* their table */
	struct coop_fwd_flowcache *fc;    /* flow cache of the fragment owner */
	struct coop_fwd_fragtable *ft;    /* fragment table of the fragment owner */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct coop_fwd_fragtable_config fcfg = { .capacity = 4096, .timeout_ns = 2 * SEC };
	char err[256];
	uint32_t i;

	for (i = 0; i < 8; i++)
		tu_add(&e->set, 0xc6120101u + i, 0, i, 1);
	if (coop_fwd_maglev_build(NULL, e->set.b, e->set.n, &e->t, err, sizeof(err)) ||
	    coop_fwd_flowcache_new(NULL, &e->fc, err, sizeof(err)) ||
	    coop_fwd_fragtable_new(&fcfg, &e->ft, err, sizeof(err)))
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	coop_fwd_fragtable_free(e->ft);
	coop_fwd_flowcache_free(e->fc);
	coop_fwd_maglev_free(e->t);
	free(e);
	return 0;
}

/*
 * Step 1 (every node): all fragments of a datagram, the first with ports
 * and the later ones without, have one 3-tuple hash, hence one fragment
 * owner. Step 2 (the fragment owner): the first fragment's 5-tuple
 * decision, the same as for the flow's unfragmented packets, is replayed
 * for the later fragments, whatever order the datagrams interleave in.
 */
static void test_fragment_mapping(void **state)
{
	struct env *e = *state;
	static struct coop_fwd_tuple first[1000];
	uint64_t rng = 31, now = 100 * SEC;
	uint32_t i, k, spread[8] = { 0 };

	for (i = 0; i < 1000; i++) {
		struct coop_fwd_tuple later;
		uint32_t owner_first, owner_later, b;

		tu_random_flow(&first[i], i % 3 ? COOP_FWD_PROTO_UDP : COOP_FWD_PROTO_TCP, &rng);
		coop_fwd_tuple_v4(&later, first[i].src[0], first[i].dst[0], 0, 0, first[i].proto);
		owner_first = coop_fwd_maglev_lookup(e->t, coop_fwd_frag_hash(&first[i]));
		owner_later = coop_fwd_maglev_lookup(e->t, coop_fwd_frag_hash(&later));
		assert_int_equal(owner_first, owner_later);

		b = coop_fwd_fragtable_select(e->ft, e->fc, e->t, &first[i], i, true, now);
		assert_int_equal(b, coop_fwd_maglev_lookup(e->t, coop_fwd_hash(&first[i])));
		spread[b]++;
	}
	/* later fragments of every datagram, in another order, ports unknown */
	for (k = 0; k < 1000; k++) {
		struct coop_fwd_tuple later;

		i = (k * 617) % 1000;
		coop_fwd_tuple_v4(&later, first[i].src[0], first[i].dst[0], 0, 0, first[i].proto);
		assert_int_equal(coop_fwd_fragtable_select(e->ft, e->fc, e->t, &later, i, false, now + 1),
				 coop_fwd_maglev_lookup(e->t, coop_fwd_hash(&first[i])));
	}
	/* the datagrams did not all go to one backend */
	for (i = 0; i < 8; i++)
		assert_true(spread[i] > 50);
}

static void test_unknown_and_expiry(void **state)
{
	struct env *e = *state;
	struct coop_fwd_fragtable_stats st0, st;
	struct coop_fwd_tuple t, later;
	uint64_t rng = 32, now = 500 * SEC;
	uint32_t b;

	coop_fwd_fragtable_stats_get(e->ft, &st0);
	tu_random_flow(&t, COOP_FWD_PROTO_UDP, &rng);
	coop_fwd_tuple_v4(&later, t.src[0], t.dst[0], 0, 0, t.proto);
	/* a later fragment before its first: no answer */
	assert_int_equal(coop_fwd_fragtable_select(e->ft, e->fc, e->t, &later, 7, false, now),
			 COOP_FWD_NO_BACKEND);
	b = coop_fwd_fragtable_select(e->ft, e->fc, e->t, &t, 7, true, now);
	assert_int_equal(coop_fwd_fragtable_select(e->ft, e->fc, e->t, &later, 7, false, now + SEC),
			 b);
	/* another datagram of the same pair (other IP ID) is not this one */
	assert_int_equal(coop_fwd_fragtable_select(e->ft, e->fc, e->t, &later, 8, false, now + SEC),
			 COOP_FWD_NO_BACKEND);
	/* beyond the 2 s lifetime */
	assert_int_equal(coop_fwd_fragtable_select(e->ft, e->fc, e->t, &later, 7, false,
						   now + 3 * SEC),
			 COOP_FWD_NO_BACKEND);
	coop_fwd_fragtable_stats_get(e->ft, &st);
	assert_int_equal(st.notes - st0.notes, 1);
	assert_int_equal(st.hits - st0.hits, 1);
	assert_int_equal(st.misses - st0.misses, 3);
}

/* IPv6: the key carries all 16 bytes and the 32-bit identification. */
static void test_ipv6(void **state)
{
	struct env *e = *state;
	uint32_t s6[4] = { htonl(0x20010db8u), 0, 0, htonl(5) };
	uint32_t d6[4] = { htonl(0x20010db8u), 0, 1, htonl(9) };
	struct coop_fwd_tuple t, later;
	uint32_t b;

	coop_fwd_tuple_v6(&t, s6, d6, htons(700), htons(2049), COOP_FWD_PROTO_UDP);
	coop_fwd_tuple_v6(&later, s6, d6, 0, 0, COOP_FWD_PROTO_UDP);
	assert_int_equal(coop_fwd_frag_hash(&t), coop_fwd_frag_hash(&later));
	b = coop_fwd_fragtable_select(e->ft, e->fc, e->t, &t, 0x80000001u, true, SEC);
	assert_int_equal(coop_fwd_fragtable_select(e->ft, e->fc, e->t, &later, 0x80000001u, false,
						   SEC),
			 b);
	assert_int_equal(coop_fwd_fragtable_select(e->ft, e->fc, e->t, &later, 1, false, SEC),
			 COOP_FWD_NO_BACKEND);
}

/* Bounded: the oldest datagram goes first. */
static void test_bounded(void **state)
{
	struct coop_fwd_fragtable_config cfg = { .capacity = 4, .timeout_ns = SEC };
	struct coop_fwd_fragtable *ft;
	struct coop_fwd_fragtable_stats st;
	struct coop_fwd_frag_key k;
	struct coop_fwd_tuple t;
	uint32_t id, b;
	char err[128];

	(void)state;
	assert_int_equal(coop_fwd_fragtable_new(&(struct coop_fwd_fragtable_config){ .capacity = 4 },
						&ft, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(coop_fwd_fragtable_new(&cfg, &ft, err, sizeof(err)), 0);
	coop_fwd_tuple_v4(&t, htonl(0xc6120001u), htonl(0xc6130001u), 0, 0, COOP_FWD_PROTO_UDP);
	for (id = 1; id <= 6; id++) {
		coop_fwd_frag_key_make(&k, &t, id);
		coop_fwd_fragtable_note(ft, &k, id * 10, id);
	}
	for (id = 1; id <= 6; id++) {
		coop_fwd_frag_key_make(&k, &t, id);
		if (id <= 2) {
			assert_int_equal(coop_fwd_fragtable_lookup(ft, &k, 7, &b), -ENOENT);
		} else {
			assert_int_equal(coop_fwd_fragtable_lookup(ft, &k, 7, &b), 0);
			assert_int_equal(b, id * 10);
		}
	}
	coop_fwd_fragtable_stats_get(ft, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.evictions, 2);
	coop_fwd_fragtable_free(ft);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fragment_mapping),
		cmocka_unit_test(test_unknown_and_expiry),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
