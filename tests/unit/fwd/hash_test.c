/* hash_test.c - flow hash: MurmurHash3 vectors, the documented byte strings, golden values, 3-tuple rule, slots, verdicts, rate cap, keys. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/fwd/fwd_test_util.h"

/* Flow hashes of the tuples in test_golden_flows, recorded when the
 * function (checked against the MurmurHash3 vectors) was fixed. */
#define GOLDEN_V4_TCP 0x462d86e2u
#define GOLDEN_V4_FRAG 0xd0d4e93au
#define GOLDEN_V6_UDP 0xc85cc11fu
#define GOLDEN_V4_ICMP 0x770bd664u

/* Published MurmurHash3_x86_32 test vectors: our function is that one. */
static void test_murmur_vectors(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		uint32_t seed, want;
	} v[] = {
		{ "", 0, 0, 0 },
		{ "", 0, 1, 0x514e28b7u },
		{ "", 0, 0xffffffffu, 0x81f16f39u },
		{ "\0\0\0\0", 4, 0, 0x2362f9deu },
		{ "aaaa", 4, 0x9747b28cu, 0x5a97808au },
		{ "abcd", 4, 0x9747b28cu, 0xf0478627u },
		{ "a", 1, 0x9747b28cu, 0x7fa09ea6u },
		{ "aa", 2, 0x9747b28cu, 0x5d211726u },
		{ "aaa", 3, 0x9747b28cu, 0x283e0130u },
		{ "abc", 3, 0x9747b28cu, 0xc84a62ddu },
		{ "Hello, world!", 13, 0x9747b28cu, 0x24884cbau },
		{ "The quick brown fox jumps over the lazy dog", 43, 0x9747b28cu, 0x2fa826cdu },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t h = coop_fwd_hash_bytes(v[i].s, v[i].len, v[i].seed);

		if (h != v[i].want)
			fail_msg("vector %zu (\"%s\", seed 0x%x): 0x%08x, want 0x%08x", i, v[i].s,
				 v[i].seed, h, v[i].want);
	}
}

/* The byte strings of docs/forwarder.md, built independently of the header. */
static size_t serialize(const struct coop_fwd_tuple *t, bool five, uint8_t *buf)
{
	size_t alen = t->family == COOP_FWD_FAMILY_V6 ? 16 : 4, n = 0;

	memcpy(buf + n, t->src, alen);
	n += alen;
	memcpy(buf + n, t->dst, alen);
	n += alen;
	if (five) {
		memcpy(buf + n, &t->sport, 2);
		memcpy(buf + n + 2, &t->dport, 2);
		n += 4;
	}
	buf[n] = t->proto;
	buf[n + 1] = buf[n + 2] = buf[n + 3] = 0;
	return n + 4;
}

static void random_v6(struct coop_fwd_tuple *t, uint8_t proto, uint64_t *rng)
{
	uint32_t a[4], b[4];
	int i;

	for (i = 0; i < 4; i++) {
		a[i] = (uint32_t)tu_rand(rng);
		b[i] = (uint32_t)tu_rand(rng);
	}
	a[0] = b[0] = htonl(0x20010db8u);
	coop_fwd_tuple_v6(t, a, b, (uint16_t)tu_rand(rng), (uint16_t)tu_rand(rng), proto);
}

static void test_documented_bytes(void **state)
{
	static const uint8_t protos[] = { 6, 17, 1, 47, 58 };
	uint8_t buf[64];
	uint64_t rng = 11;
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		struct coop_fwd_tuple t;
		uint8_t proto = protos[i % 5];
		size_t n;

		if (i & 1)
			random_v6(&t, proto, &rng);
		else
			tu_random_flow(&t, proto, &rng);
		n = serialize(&t, true, buf);
		assert_int_equal(n, t.family == COOP_FWD_FAMILY_V6 ? 40 : 16);
		assert_int_equal(coop_fwd_hash5(&t, COOP_FWD_SEED_FLOW),
				 coop_fwd_hash_bytes(buf, n, COOP_FWD_SEED_FLOW));
		n = serialize(&t, false, buf);
		assert_int_equal(n, t.family == COOP_FWD_FAMILY_V6 ? 36 : 12);
		assert_int_equal(coop_fwd_hash3(&t, COOP_FWD_SEED_FLOW),
				 coop_fwd_hash_bytes(buf, n, COOP_FWD_SEED_FLOW));
		assert_int_equal(coop_fwd_hash(&t), coop_fwd_proto_has_ports(proto)
							    ? coop_fwd_hash5(&t, COOP_FWD_SEED_FLOW)
							    : coop_fwd_hash3(&t, COOP_FWD_SEED_FLOW));
	}
}

/* Golden flow hashes: a changed value moves flows between nodes of a
 * cluster running mixed versions, so it must never change by accident. */
static void test_golden_flows(void **state)
{
	struct coop_fwd_tuple t;
	uint32_t a6[4] = { htonl(0x20010db8u), 0, 0, htonl(1) };
	uint32_t b6[4] = { htonl(0x20010db8u), 0, 0, htonl(0x80) };
	uint32_t h1, h2, h3, h4;

	(void)state;
	coop_fwd_tuple_v4(&t, htonl(0xc6120001u), htonl(0xc6130001u), htons(40000), htons(2049),
			  COOP_FWD_PROTO_TCP);
	h1 = coop_fwd_hash(&t);
	h2 = coop_fwd_frag_hash(&t);
	coop_fwd_tuple_v6(&t, a6, b6, htons(53000), htons(53), COOP_FWD_PROTO_UDP);
	h3 = coop_fwd_hash(&t);
	coop_fwd_tuple_v4(&t, htonl(0xc6120001u), htonl(0xc6130001u), 0, 0, 1);
	h4 = coop_fwd_hash(&t);
	print_message("golden flows: 0x%08x 0x%08x 0x%08x 0x%08x\n", h1, h2, h3, h4);
	assert_int_equal(h1, GOLDEN_V4_TCP);
	assert_int_equal(h2, GOLDEN_V4_FRAG);
	assert_int_equal(h3, GOLDEN_V6_UDP);
	assert_int_equal(h4, GOLDEN_V4_ICMP);
}

/* Non-port protocols and fragments: ports never matter. */
static void test_three_tuple(void **state)
{
	struct coop_fwd_tuple a, b;
	uint64_t rng = 12;
	int i, differ = 0;

	(void)state;
	coop_fwd_tuple_v4(&a, htonl(0xc6120001u), htonl(0xc6130001u), htons(1), htons(2), 47);
	assert_int_equal(a.sport, 0);
	assert_int_equal(a.dport, 0);
	coop_fwd_tuple_v4(&b, htonl(0xc6120001u), htonl(0xc6130001u), htons(3), htons(4), 47);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(coop_fwd_hash(&a), coop_fwd_hash(&b));

	for (i = 0; i < 1000; i++) {
		struct coop_fwd_tuple first, later;

		tu_random_flow(&first, COOP_FWD_PROTO_UDP, &rng);
		/* a later fragment: same addresses and protocol, no ports */
		coop_fwd_tuple_v4(&later, first.src[0], first.dst[0], 0, 0, COOP_FWD_PROTO_UDP);
		assert_int_equal(coop_fwd_frag_hash(&first), coop_fwd_frag_hash(&later));
		differ += coop_fwd_hash(&first) != coop_fwd_frag_hash(&first);
	}
	/* the 5-tuple hash of the first fragment is a different function */
	assert_true(differ > 990);
}

static void test_slots(void **state)
{
	static uint32_t cnt[101];
	uint64_t rng = 13;
	uint32_t i, m = 101, n = 1010000;

	(void)state;
	assert_int_equal(coop_fwd_maglev_slot(0, 65537), 0);
	assert_int_equal(coop_fwd_maglev_slot(0xffffffffu, 65537), 65536);
	assert_int_equal(coop_fwd_maglev_slot(0x80000000u, 2), 1);
	for (i = 0; i < n; i++) {
		struct coop_fwd_tuple t;
		uint32_t s;

		tu_random_flow(&t, COOP_FWD_PROTO_TCP, &rng);
		s = coop_fwd_maglev_slot(coop_fwd_hash(&t), m);
		assert_true(s < m);
		cnt[s]++;
	}
	/* expected 10,000 per slot; sigma 100 */
	for (i = 0; i < m; i++)
		assert_true(cnt[i] > 9500 && cnt[i] < 10500);
	assert_int_equal(coop_fwd_ecmp_index(17, 5), 2);
	assert_int_equal(coop_fwd_ecmp_index(17, 0), 0);
	{
		uint32_t tab[3] = { 7, 8, 9 };

		assert_int_equal(coop_fwd_maglev_pick(tab, 3, 0xffffffffu), 9);
		assert_int_equal(coop_fwd_maglev_pick(tab, 0, 5), COOP_FWD_NO_BACKEND);
	}
}

static void test_verdict(void **state)
{
	struct coop_fwd_flow f = { .backend = 3, .atime_ns = 1000 };
	uint64_t idle = 500;

	(void)state;
	assert_int_equal(coop_fwd_flow_verdict(&f, 6, 0, COOP_FWD_STATE_ACTIVE, 99999, idle),
			 COOP_FWD_FLOW_USE);
	assert_int_equal(coop_fwd_flow_verdict(&f, 6, 1, COOP_FWD_STATE_ACTIVE, 1001, idle),
			 COOP_FWD_FLOW_USE);
	assert_int_equal(coop_fwd_flow_verdict(&f, 6, 0, COOP_FWD_STATE_DRAINING, 1001, idle),
			 COOP_FWD_FLOW_USE);
	assert_int_equal(coop_fwd_flow_verdict(&f, 6, 1, COOP_FWD_STATE_DRAINING, 1001, idle),
			 COOP_FWD_FLOW_DRAINED);
	assert_int_equal(coop_fwd_flow_verdict(&f, 6, 0, COOP_FWD_STATE_ABSENT, 1001, idle),
			 COOP_FWD_FLOW_GONE);
	assert_int_equal(coop_fwd_flow_verdict(&f, 17, 0, COOP_FWD_STATE_ACTIVE, 1500, idle),
			 COOP_FWD_FLOW_USE);
	assert_int_equal(coop_fwd_flow_verdict(&f, 17, 0, COOP_FWD_STATE_ACTIVE, 1501, idle),
			 COOP_FWD_FLOW_EXPIRED);
	assert_int_equal(coop_fwd_flow_verdict(&f, 17, 0, COOP_FWD_STATE_ACTIVE, 1501, 0),
			 COOP_FWD_FLOW_USE);
	/* a clock behind the entry (another CPU's stamp) is not idleness */
	assert_int_equal(coop_fwd_flow_verdict(&f, 17, 0, COOP_FWD_STATE_ACTIVE, 10, idle),
			 COOP_FWD_FLOW_USE);
}

static void test_ratelimit(void **state)
{
	struct coop_fwd_ratelimit rl;
	uint64_t cost = 1000000, burst = 10 * cost, t0 = 5000000000ull;
	int i, ok = 0;

	(void)state;
	coop_fwd_ratelimit_init(&rl, t0, burst);
	for (i = 0; i < 20; i++)
		ok += coop_fwd_ratelimit_take(&rl, t0, cost, burst);
	assert_int_equal(ok, 10);
	assert_int_equal(coop_fwd_ratelimit_take(&rl, t0 + cost - 1, cost, burst), 0);
	assert_int_equal(coop_fwd_ratelimit_take(&rl, t0 + cost, cost, burst), 1);
	/* an hour idle: the bucket is full again, not overflowed */
	ok = 0;
	for (i = 0; i < 20; i++)
		ok += coop_fwd_ratelimit_take(&rl, t0 + 3600000000000ull, cost, burst);
	assert_int_equal(ok, 10);
	/* a steady second at twice the rate: half get through */
	ok = 0;
	for (i = 0; i < 2000; i++)
		ok += coop_fwd_ratelimit_take(&rl, t0 + 7200000000000ull + (uint64_t)i * cost / 2,
					      cost, burst);
	assert_true(ok >= 1000 && ok <= 1011);
}

static void test_keys(void **state)
{
	uint8_t k[COOP_FWD_KEY_MAX];
	struct in_addr a4 = { htonl(0xc6120005u) };
	struct in6_addr a6;

	(void)state;
	assert_int_equal(coop_fwd_backend_key_addr(k, sizeof(k), AF_INET, &a4, 2049), 7);
	assert_int_equal(k[0], 4);
	assert_int_equal(k[1], 198);
	assert_int_equal(k[4], 5);
	assert_int_equal(k[5], 2049 >> 8);
	assert_int_equal(k[6], 2049 & 0xff);
	inet_pton(AF_INET6, "2001:db8::5", &a6);
	assert_int_equal(coop_fwd_backend_key_addr(k, sizeof(k), AF_INET6, &a6, 80), 19);
	assert_int_equal(k[0], 6);
	assert_int_equal(k[16], 5);
	assert_int_equal(coop_fwd_backend_key_addr(k, 6, AF_INET, &a4, 1), -ENOSPC);
	assert_int_equal(coop_fwd_backend_key_addr(k, sizeof(k), AF_UNIX, &a4, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_murmur_vectors),
		cmocka_unit_test(test_documented_bytes),
		cmocka_unit_test(test_golden_flows),
		cmocka_unit_test(test_three_tuple),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
