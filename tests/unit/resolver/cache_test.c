/* cache_test.c - the per-VS answer cache: TTL expiry, LRU bound, negative
 * entries, case-insensitive keys, generations, resize, and two threads. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "resolver/resolver_priv.h"

/* A result with one A record 198.18.0.<last>, named name. */
static struct res_result *make(const char *name, unsigned last)
{
	struct coop_resolver_rr rr;
	struct res_rrset s;

	res_rrset_init(&s);
	memset(&rr, 0, sizeof(rr));
	rr.name = res_arena_strdup(&s.arena, name);
	rr.type = COOP_DNS_A;
	rr.rclass = 1;
	rr.ttl = 60;
	rr.addr.family = AF_INET;
	rr.addr.v4.s_addr = htonl(0xc6120000u | last);
	assert_int_equal(res_rrset_push(&s, &rr), 0);
	return res_result_build(name, 0, COOP_RESOLVER_SRC_DNS, &s, NULL);
}

static unsigned last_octet(const struct res_result *r)
{
	return ntohl(r->pub.addrs[0].v4.s_addr) & 0xff;
}

static void test_ttl_expiry(void **state)
{
	struct res_cache *c = res_cache_new(16);
	struct res_result *r = make("a.test", 1), *got;
	int st;

	(void)state;
	res_cache_reset(c, 1, 16);
	res_cache_put(c, 1, 1, "a.test", 0, r, 10, 1000);
	assert_true(res_cache_get(c, 1, "A.TEST", 1000 + 9999, &st, &got));
	assert_int_equal(st, 0);
	assert_int_equal(last_octet(got), 1);
	res_result_release(got);
	/* At the TTL's end it is gone, and dropped. */
	assert_false(res_cache_get(c, 1, "a.test", 1000 + 10000, &st, &got));
	assert_int_equal(res_cache_count(c), 0);
	/* Another kind is another key. */
	res_cache_put(c, 1, 1, "a.test", 0, r, 10, 0);
	assert_false(res_cache_get(c, 28, "a.test", 0, &st, &got));
	/* TTL 0 is never stored. */
	res_cache_put(c, 1, 28, "a.test", 0, r, 0, 0);
	assert_false(res_cache_get(c, 28, "a.test", 0, &st, &got));
	res_result_release(r);
	res_cache_free(c);
}

static void test_negative(void **state)
{
	struct res_cache *c = res_cache_new(4);
	struct res_result *got = (void *)1;
	int st = 0;

	(void)state;
	res_cache_reset(c, 1, 4);
	res_cache_put(c, 1, 1, "nope.test", -ENOENT, NULL, 30, 0);
	assert_true(res_cache_get(c, 1, "nope.test", 29999, &st, &got));
	assert_int_equal(st, -ENOENT);
	assert_null(got);
	res_cache_free(c);
}

static void test_lru_bound(void **state)
{
	struct res_cache *c = res_cache_new(3);
	struct res_result *got;
	char name[32];
	int st, i;

	(void)state;
	res_cache_reset(c, 1, 3);
	for (i = 0; i < 3; i++) {
		struct res_result *r;

		snprintf(name, sizeof(name), "h%d.test", i);
		r = make(name, (unsigned)i);
		res_cache_put(c, 1, 1, name, 0, r, 100, 0);
		res_result_release(r); /* the cache holds its own reference */
	}
	/* Touch h0: h1 is now the least recently used. */
	assert_true(res_cache_get(c, 1, "h0.test", 1, &st, &got));
	res_result_release(got);
	{
		struct res_result *r = make("h3.test", 3);

		res_cache_put(c, 1, 1, "h3.test", 0, r, 100, 1);
		res_result_release(r);
	}
	assert_int_equal(res_cache_count(c), 3);
	assert_false(res_cache_get(c, 1, "h1.test", 2, &st, &got));
	assert_true(res_cache_get(c, 1, "h0.test", 2, &st, &got));
	res_result_release(got);
	assert_true(res_cache_get(c, 1, "h3.test", 2, &st, &got));
	assert_int_equal(last_octet(got), 3);
	res_result_release(got);
	/* Replacing a key keeps one entry. */
	{
		struct res_result *r = make("h3.test", 33);

		res_cache_put(c, 1, 1, "H3.test", 0, r, 100, 3);
		res_result_release(r);
	}
	assert_int_equal(res_cache_count(c), 3);
	assert_true(res_cache_get(c, 1, "h3.test", 4, &st, &got));
	assert_int_equal(last_octet(got), 33);
	res_result_release(got);
	res_cache_free(c);
}

static void test_generation(void **state)
{
	struct res_cache *c = res_cache_new(8);
	struct res_result *r = make("g.test", 7), *got;
	int st;

	(void)state;
	res_cache_reset(c, 1, 8);
	res_cache_put(c, 1, 1, "g.test", 0, r, 100, 0);
	res_cache_reset(c, 2, 8);
	assert_false(res_cache_get(c, 1, "g.test", 1, &st, &got));
	/* An answer to the old settings arriving late is refused. */
	res_cache_put(c, 1, 1, "g.test", 0, r, 100, 0);
	assert_false(res_cache_get(c, 1, "g.test", 1, &st, &got));
	res_cache_put(c, 2, 1, "g.test", 0, r, 100, 0);
	assert_true(res_cache_get(c, 1, "g.test", 1, &st, &got));
	res_result_release(got);
	/* Shrink to nothing: stores nothing. */
	res_cache_reset(c, 3, 0);
	res_cache_put(c, 3, 1, "g.test", 0, r, 100, 0);
	assert_false(res_cache_get(c, 1, "g.test", 1, &st, &got));
	/* Grow: many entries fit again. */
	res_cache_reset(c, 4, 5000);
	for (int i = 0; i < 5000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "n%d.test", i);
		res_cache_put(c, 4, 1, name, 0, r, 100, 0);
	}
	assert_int_equal(res_cache_count(c), 5000);
	assert_true(res_cache_get(c, 1, "n4321.test", 1, &st, &got));
	res_result_release(got);
	res_result_release(r);
	res_cache_free(c);
}

struct worker_arg {
	struct res_cache *c; /* shared cache */
	int id;		     /* thread number */
	unsigned hits;	     /* lookups that found their own entry */
	unsigned wrong;	     /* lookups that found someone else's */
};

static void *hammer(void *p)
{
	struct worker_arg *a = p;
	struct res_result *got;
	char name[32];
	int st, i;

	for (i = 0; i < 20000; i++) {
		struct res_result *r;

		snprintf(name, sizeof(name), "t%d-%d.test", a->id, i % 50);
		if (res_cache_get(a->c, 1, name, 1, &st, &got)) {
			if (last_octet(got) == (unsigned)(i % 50))
				a->hits++;
			else
				a->wrong++;
			res_result_release(got);
			continue;
		}
		r = make(name, (unsigned)(i % 50));
		res_cache_put(a->c, 1, 1, name, 0, r, 100, 0);
		res_result_release(r);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct res_cache *c = res_cache_new(64);
	struct worker_arg a[2] = {{c, 0, 0, 0}, {c, 1, 0, 0}};
	pthread_t t[2];

	(void)state;
	res_cache_reset(c, 1, 64);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hammer, &a[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* 100 names over a 64-entry cache: many hits, never a wrong one,
	 * never more than the bound. */
	assert_true(a[0].hits > 1000 && a[1].hits > 1000);
	assert_int_equal(a[0].wrong + a[1].wrong, 0);
	assert_true(res_cache_count(c) <= 64);
	res_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ttl_expiry), cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_lru_bound),  cmocka_unit_test(test_generation),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
