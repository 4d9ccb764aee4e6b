/* pbr_tree_test.c - the rule tree, walked the way the kernel walks FIB
 * rules: every VS mark reaches its table, coop marks nobody holds are
 * unreachable, other traffic passes after two rules, gotos only jump
 * forwards, and the per-packet cost grows with the logarithm of the number
 * of VSes, not linearly. Pure: no root, no kernel. */
#include <errno.h>
#include <linux/fib_rules.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "vs/pbr.h"

/* Deterministic pseudo-random numbers (xorshift32). */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* n unique random marks in p's range, each with its own table. */
static struct coop_pbr_leaf *leaves_random(const struct coop_pbr_params *p, size_t n,
					   uint32_t seed)
{
	struct coop_pbr_leaf *l = calloc(n + 1, sizeof(*l));
	uint64_t size = (uint64_t)p->mark_hi - p->mark_lo + 1;
	size_t i, j;

	assert_non_null(l);
	for (i = 0; i < n; i++) {
		bool dup;

		do {
			l[i].mark = p->mark_lo + (uint32_t)(rnd(&seed) % size);
			dup = false;
			for (j = 0; j < i; j++)
				dup |= l[j].mark == l[i].mark;
		} while (dup);
		l[i].table = 100000 + (uint32_t)i;
	}
	return l;
}

static bool is_leaf(const struct coop_pbr_leaf *l, size_t n, uint32_t mark)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (l[i].mark == mark)
			return true;
	return false;
}

/* Build, check the structural rules, and walk every leaf. Returns the
 * largest number of rules a leaf's packets visit; *mean gets the mean. */
static unsigned check_tree(const struct coop_pbr_params *p, const struct coop_pbr_leaf *l,
			   size_t n, double *mean)
{
	struct coop_pbr_rule *r;
	size_t n_rules, i;
	unsigned worst = 0, visited;
	uint64_t sum = 0;
	uint32_t table, probe;
	char err[256];

	assert_int_equal(coop_pbr_tree_build(p, AF_INET, l, n, &r, &n_rules, err, sizeof(err)), 0);
	for (i = 0; i < n_rules; i++) {
		/* An action is always set (FR_ACT_UNSPEC breaks routing), the
		 * walk order is by preference, every goto jumps forwards. */
		assert_true(r[i].action == FR_ACT_TO_TBL || r[i].action == FR_ACT_GOTO ||
			    r[i].action == FR_ACT_NOP || r[i].action == FR_ACT_UNREACHABLE);
		assert_in_range(r[i].pref, p->priority, COOP_PBR_PRIORITY_MAX);
		if (i)
			assert_true(r[i].pref >= r[i - 1].pref);
		if (r[i].action == FR_ACT_GOTO)
			assert_true(r[i].target > r[i].pref);
		if (r[i].action == FR_ACT_TO_TBL)
			assert_true(r[i].table != 0 && r[i].mask == 0xffffffffu);
		assert_int_equal(r[i].family, AF_INET);
	}
	/* About 1.5 rules per VS: one lookup each plus the tree's gotos, and
	 * two per aligned block of the mark range (one for a default range). */
	assert_true(n_rules <= n + n / 2 + 8 + 2 * 62);
	if (!(p->mark_lo & (p->mark_hi - p->mark_lo)) &&
	    !((p->mark_hi - p->mark_lo + 1) & (p->mark_hi - p->mark_lo)))
		assert_true(n_rules <= n + n / 2 + 8);
	for (i = 0; i < n; i++) {
		assert_int_equal(coop_pbr_tree_eval(r, n_rules, l[i].mark, &table, &visited),
				 COOP_PBR_TABLE);
		assert_int_equal(table, l[i].table);
		sum += visited;
		if (visited > worst)
			worst = visited;
	}
	/* Unmarked and foreign-marked traffic: the entry rule(s) and the
	 * anchor; one entry rule when the range is an aligned block. */
	assert_int_equal(coop_pbr_tree_eval(r, n_rules, 0, &table, &visited), COOP_PBR_PASS);
	assert_true(visited <= 2 + 62);
	if (r[1].pref != r[0].pref)
		assert_true(visited <= 2);
	if (p->mark_hi < 0xffffffffu) {
		assert_int_equal(coop_pbr_tree_eval(r, n_rules, p->mark_hi + 1, &table, &visited),
				 COOP_PBR_PASS);
		assert_true(visited <= 2 + 2 * 32);
	}
	/* coop marks nobody holds never reach the main table. */
	for (probe = p->mark_lo; probe <= p->mark_hi && probe < p->mark_lo + 5000; probe += 7)
		if (!is_leaf(l, n, probe))
			assert_int_equal(coop_pbr_tree_eval(r, n_rules, probe, &table, &visited),
					 COOP_PBR_UNREACHABLE);
	free(r);
	*mean = n ? (double)sum / n : 0;
	return worst;
}

static void test_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 4, 5, 17, 100, 1000, 4000 };
	struct coop_pbr_params p;
	size_t k;

	(void)state;
	coop_pbr_params_default(&p);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct coop_pbr_leaf *l = leaves_random(&p, sizes[k], 0x1234567u + (uint32_t)k);
		double mean;
		unsigned worst = check_tree(&p, l, sizes[k], &mean);

		print_message("%5zu VSes: rules walked per packet: mean %.1f, worst %u\n", sizes[k],
			      mean, worst);
		free(l);
	}
}

/* The point of the tree: a packet of a VS walks a number of rules that
 * grows like log(n). A linear layout walks n/2 on average; FIB rules cost
 * about 10 ns each here, so 1,000 VSes must stay near the cost of one. */
static void test_cost_is_logarithmic(void **state)
{
	struct coop_pbr_params p;
	struct coop_pbr_leaf *l;
	double mean1, mean1000, mean4000;
	unsigned worst1, worst1000, worst4000;

	(void)state;
	coop_pbr_params_default(&p);
	l = leaves_random(&p, 1, 7);
	worst1 = check_tree(&p, l, 1, &mean1);
	free(l);
	l = leaves_random(&p, 1000, 7);
	worst1000 = check_tree(&p, l, 1000, &mean1000);
	free(l);
	l = leaves_random(&p, 4000, 7);
	worst4000 = check_tree(&p, l, 4000, &mean4000);
	free(l);
	assert_true(worst1 <= 2);
	assert_true(mean1000 <= 16.0 && worst1000 <= 24);
	assert_true(mean4000 <= 20.0 && worst4000 <= 30);
	/* Four times the VSes: one more level, not four times the rules. */
	assert_true(mean4000 - mean1000 <= 4.0);
}

/* A range that is not one aligned block: several entry rules, and neither
 * unmarked traffic nor marks just outside the range are caught. */
static void test_unaligned_range(void **state)
{
	struct coop_pbr_params p;
	struct coop_pbr_leaf *l;
	struct coop_pbr_rule *r;
	size_t n_rules;
	uint32_t table;
	unsigned visited;
	double mean;
	char err[256];

	(void)state;
	coop_pbr_params_default(&p);
	p.mark_lo = 1000;
	p.mark_hi = 1999;
	l = leaves_random(&p, 300, 99);
	check_tree(&p, l, 300, &mean);
	assert_int_equal(coop_pbr_tree_build(&p, AF_INET6, l, 300, &r, &n_rules, err, sizeof(err)),
			 0);
	assert_int_equal(coop_pbr_tree_eval(r, n_rules, 999, &table, &visited), COOP_PBR_PASS);
	assert_int_equal(coop_pbr_tree_eval(r, n_rules, 2000, &table, &visited), COOP_PBR_PASS);
	assert_int_equal(coop_pbr_tree_eval(r, n_rules, 0, &table, &visited), COOP_PBR_PASS);
	assert_int_equal(r[0].family, AF_INET6);
	free(r);
	free(l);
	/* Every mark of a tiny range taken. */
	p.mark_lo = 1;
	p.mark_hi = 64;
	l = calloc(64, sizeof(*l));
	for (table = 0; table < 64; table++)
		l[table] = (struct coop_pbr_leaf){ .mark = 64 - table, .table = 500 + table };
	check_tree(&p, l, 64, &mean);
	free(l);
}

static void test_out_of_priorities(void **state)
{
	struct coop_pbr_params p;
	struct coop_pbr_leaf *l;
	struct coop_pbr_rule *r = NULL;
	size_t n_rules;
	char err[256];

	(void)state;
	coop_pbr_params_default(&p);
	p.priority = 32700;
	l = leaves_random(&p, 1000, 5);
	assert_int_equal(coop_pbr_tree_build(&p, AF_INET, l, 1000, &r, &n_rules, err, sizeof(err)),
			 -ENOSPC);
	assert_non_null(strstr(err, "lower pbr_priority"));
	assert_null(r);
	free(l);
}

/* The same input gives the same rules in the same order: what makes a
 * restart find every rule of its previous run in place. */
static void test_deterministic(void **state)
{
	struct coop_pbr_params p;
	struct coop_pbr_leaf *l, *rev;
	struct coop_pbr_rule *a, *b;
	size_t na, nb, i;
	char err[256];

	(void)state;
	coop_pbr_params_default(&p);
	l = leaves_random(&p, 500, 3);
	rev = calloc(500, sizeof(*rev));
	for (i = 0; i < 500; i++)
		rev[i] = l[499 - i];
	assert_int_equal(coop_pbr_tree_build(&p, AF_INET, l, 500, &a, &na, err, sizeof(err)), 0);
	assert_int_equal(coop_pbr_tree_build(&p, AF_INET, rev, 500, &b, &nb, err, sizeof(err)), 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof(*a));
	free(a);
	free(b);
	free(l);
	free(rev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_cost_is_logarithmic),
		cmocka_unit_test(test_unaligned_range),
		cmocka_unit_test(test_out_of_priorities),
		cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
