/* udp_table_test.c - the UDP demux's address table against a plain array
 * model: random inserts and removals over small key pools (so probe chains
 * collide and wrap around the end of the table), IPv4 and IPv6 keys that
 * share bytes, owners that must match to remove, growth, clear. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vs/udp_table.h"

#define POOL 32

/* Key k of the pool: even k IPv4 198.18.x.y, odd k IPv6 with the same
 * first four bytes (the family must tell them apart). */
static void key(unsigned k, uint32_t *family, uint8_t a[16])
{
	memset(a, 0, 16);
	a[0] = 198;
	a[1] = 18;
	a[2] = (uint8_t)(k / 2 / 256);
	a[3] = (uint8_t)(k / 2);
	a[4] = (uint8_t)(k / 2 / 65536); /* IPv6 only: IPv4 keys are 4 bytes */
	if (k % 2 == 0)
		a[4] = 0;
	if (k % 2) {
		*family = AF_INET6;
		a[15] = 1;
	} else {
		*family = AF_INET;
	}
}

static struct udp_bind *owner(unsigned k)
{
	return (struct udp_bind *)(uintptr_t)(0x1000 + 16 * k);
}

/* Every key of the pool is where the model says, or absent. */
static void check_all(const struct coop_udp_table *t, struct udp_bind *const *model, unsigned base,
		      size_t pool)
{
	uint8_t a[16];
	uint32_t f;
	size_t k, n = 0;

	for (k = 0; k < pool; k++) {
		key(base + (unsigned)k, &f, a);
		assert_ptr_equal(coop_udp_table_find(t, f, a), model[k]);
		n += model[k] != NULL;
	}
	assert_int_equal(t->n, n);
	if (t->slots)
		assert_true(t->n * 2 <= t->mask + 1);
}

static void test_basic(void **state)
{
	struct coop_udp_table t = {0};
	struct udp_bind *cur = NULL;
	uint8_t a[16];
	uint32_t f;

	(void)state;
	key(0, &f, a);
	assert_null(coop_udp_table_find(&t, f, a));
	coop_udp_table_remove(&t, f, a, owner(0)); /* empty: nothing */
	assert_int_equal(coop_udp_table_insert(&t, f, a, owner(0), &cur), 0);
	assert_int_equal(coop_udp_table_insert(&t, f, a, owner(1), &cur), -EEXIST);
	assert_ptr_equal(cur, owner(0));
	/* Same bytes, other family: another key. */
	assert_null(coop_udp_table_find(&t, AF_INET6, a));
	/* Only the owner removes. */
	coop_udp_table_remove(&t, f, a, owner(1));
	assert_ptr_equal(coop_udp_table_find(&t, f, a), owner(0));
	coop_udp_table_remove(&t, f, a, owner(0));
	assert_null(coop_udp_table_find(&t, f, a));
	assert_int_equal(t.n, 0);
	coop_udp_table_clear(&t);
	assert_null(t.slots);
}

/* Random operations over many small pools, each a random stretch of keys:
 * tables of 16 to 64 slots kept near their most crowded (half full), so
 * clusters often cross the end of the table and deletion must wrap. */
static void test_random_model(void **state)
{
	struct udp_bind *model[POOL];
	struct udp_bind *cur;
	size_t round, pool, i, k;
	unsigned base;
	uint8_t a[16];
	uint32_t f;

	(void)state;
	srand(7);
	for (round = 0; round < 400; round++) {
		struct coop_udp_table t = {0};

		pool = 5 + (size_t)rand() % 28;
		base = (unsigned)rand() % 100000;
		memset(model, 0, sizeof(model));
		for (i = 0; i < 4000; i++) {
			k = (size_t)rand() % pool;
			key(base + k, &f, a);
			/* Inserts outnumber removals 2:1. */
			if (rand() % 3) {
				int ret = coop_udp_table_insert(&t, f, a, owner(k), &cur);

				if (model[k]) {
					assert_int_equal(ret, -EEXIST);
					assert_ptr_equal(cur, model[k]);
				} else {
					assert_int_equal(ret, 0);
					model[k] = owner(k);
				}
			} else {
				coop_udp_table_remove(&t, f, a, owner(k));
				model[k] = NULL;
			}
			if (i % 7 == 0)
				check_all(&t, model, base, pool);
		}
		check_all(&t, model, base, pool);
		coop_udp_table_clear(&t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_random_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
