/* pbr_alloc_test.c - marks and tables for pbr VSes: inside their ranges,
 * unique, independent of configuration order, stable when VSes are added,
 * explicit values kept, foreign and kernel tables avoided, full ranges and
 * bad [global] values refused with a message. Pure: no root, no kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vs/pbr.h"

#define N 1000

static char names[N][16];

static struct coop_pbr_params defaults(void)
{
	struct coop_pbr_params p;

	coop_pbr_params_default(&p);
	return p;
}

static void fill(struct coop_pbr_slot *s, size_t n)
{
	size_t i;

	memset(s, 0, n * sizeof(*s));
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "nas%zu", i);
		s[i].name = names[i];
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void assert_unique(const struct coop_pbr_slot *s, size_t n, bool tables)
{
	uint32_t *v = malloc(n * sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = tables ? s[i].table : s[i].mark;
	qsort(v, n, sizeof(*v), cmp_u32);
	for (i = 1; i < n; i++)
		assert_true(v[i] != v[i - 1]);
	free(v);
}

static void test_in_range_and_unique(void **state)
{
	struct coop_pbr_params p = defaults();
	static struct coop_pbr_slot s[N];
	char err[256];
	size_t i;

	(void)state;
	fill(s, N);
	assert_int_equal(coop_pbr_alloc(&p, s, N, NULL, 0, err, sizeof(err)), 0);
	for (i = 0; i < N; i++) {
		assert_in_range(s[i].mark, p.mark_lo, p.mark_hi);
		assert_in_range(s[i].table, p.table_lo, p.table_hi);
	}
	assert_unique(s, N, false);
	assert_unique(s, N, true);
}

/* File order must not matter: the same names get the same values when the
 * sections are listed backwards. */
static void test_order_independent(void **state)
{
	struct coop_pbr_params p = defaults();
	static struct coop_pbr_slot a[N], b[N];
	char err[256];
	size_t i;

	(void)state;
	fill(a, N);
	for (i = 0; i < N; i++)
		b[i] = a[N - 1 - i];
	assert_int_equal(coop_pbr_alloc(&p, a, N, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(coop_pbr_alloc(&p, b, N, NULL, 0, err, sizeof(err)), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(a[i].mark, b[N - 1 - i].mark);
		assert_int_equal(a[i].table, b[N - 1 - i].table);
	}
}

/* Adding VSes keeps the others' values, unless a newcomer took the exact
 * value an old one hashed to (rare in a range 65 times larger). */
static void test_stable_when_growing(void **state)
{
	struct coop_pbr_params p = defaults();
	static struct coop_pbr_slot small[N / 2], big[N];
	size_t i, moved = 0;
	char err[256];

	(void)state;
	fill(big, N);
	memcpy(small, big, sizeof(small));
	assert_int_equal(coop_pbr_alloc(&p, small, N / 2, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(coop_pbr_alloc(&p, big, N, NULL, 0, err, sizeof(err)), 0);
	for (i = 0; i < N / 2; i++)
		moved += small[i].mark != big[i].mark;
	assert_true(moved <= 10);
}

static void test_explicit_and_busy(void **state)
{
	struct coop_pbr_params p = defaults();
	struct coop_pbr_slot s[64];
	uint32_t busy[32];
	char err[256];
	size_t i;

	(void)state;
	/* A narrow table range, half of it used by foreign state. */
	p.table_lo = 1000;
	p.table_hi = 1063;
	for (i = 0; i < 32; i++)
		busy[i] = 1000 + 2 * (uint32_t)i;
	fill(s, 31);
	s[0].want_mark = 0x10005;
	s[1].want_table = 1001;
	assert_int_equal(coop_pbr_alloc(&p, s, 31, busy, 32, err, sizeof(err)), 0);
	assert_int_equal(s[0].mark, 0x10005);
	assert_int_equal(s[1].table, 1001);
	for (i = 0; i < 31; i++)
		assert_int_equal(s[i].table % 2, 1); /* every even table is busy */
	assert_unique(s, 31, true);
	/* One more than the free tables: refused, naming the VS. */
	fill(s, 33);
	assert_int_equal(coop_pbr_alloc(&p, s, 33, busy, 32, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "no free table left in pbr_tables 1000-1063"));
}

static void test_kernel_tables_skipped(void **state)
{
	struct coop_pbr_params p = defaults();
	struct coop_pbr_slot s[4];
	char err[256];
	size_t i;

	(void)state;
	p.table_lo = 250;
	p.table_hi = 256;
	fill(s, 4);
	assert_int_equal(coop_pbr_alloc(&p, s, 4, NULL, 0, err, sizeof(err)), 0);
	for (i = 0; i < 4; i++)
		assert_true(s[i].table == 250 || s[i].table == 251 || s[i].table == 252 ||
			    s[i].table == 256);
	fill(s, 1);
	s[0].want_table = 254;
	assert_int_equal(coop_pbr_alloc(&p, s, 1, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "table 254 is one of the kernel's"));
}

static void test_out_of_range(void **state)
{
	struct coop_pbr_params p = defaults();
	struct coop_pbr_slot s[2];
	char err[256];

	(void)state;
	fill(s, 2);
	s[1].want_mark = 5;
	assert_int_equal(coop_pbr_alloc(&p, s, 2, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vs 'nas1': mark 0x5 is outside pbr_marks 0x10000-0x1ffff");
	fill(s, 2);
	s[0].want_table = 7;
	assert_int_equal(coop_pbr_alloc(&p, s, 2, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vs 'nas0': table 7 is outside pbr_tables 65536-131071");
	/* A range with room for exactly the VSes: every value used once. */
	p.mark_lo = 10;
	p.mark_hi = 11;
	fill(s, 2);
	assert_int_equal(coop_pbr_alloc(&p, s, 2, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(s[0].mark + s[1].mark, 21);
}

static void test_params_check(void **state)
{
	struct coop_pbr_params p = defaults();
	char err[256];

	(void)state;
	assert_int_equal(coop_pbr_params_check(&p, err, sizeof(err)), 0);
	p.mark_lo = 0;
	assert_int_equal(coop_pbr_params_check(&p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pbr_marks"));
	p = defaults();
	p.table_lo = 253;
	p.table_hi = 255;
	assert_int_equal(coop_pbr_params_check(&p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "only the kernel's tables"));
	p = defaults();
	p.protocol = 4;
	assert_int_equal(coop_pbr_params_check(&p, err, sizeof(err)), -EINVAL);
	p = defaults();
	p.priority = 32764;
	assert_int_equal(coop_pbr_params_check(&p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pbr_priority"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_range_and_unique),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_stable_when_growing),
		cmocka_unit_test(test_explicit_and_busy),
		cmocka_unit_test(test_kernel_tables_skipped),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_params_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
