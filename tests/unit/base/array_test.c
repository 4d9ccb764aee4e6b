/* array_test.c - the growth rule: room for what is asked, doubling, the
 * elements kept, a failed growth leaving the array as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "base/array.h"

static void test_grow(void **state)
{
	int *v = NULL;
	size_t cap = 0, i;

	(void)state;
	assert_int_equal(COOP_ARRAY_GROW(v, cap, 1, 4), 0);
	assert_int_equal(cap, 4);
	for (i = 0; i < 4; i++)
		v[i] = (int)i;
	assert_int_equal(COOP_ARRAY_GROW(v, cap, 4, 4), 0); /* fits: nothing moves */
	assert_int_equal(cap, 4);
	assert_int_equal(COOP_ARRAY_GROW(v, cap, 5, 4), 0);
	assert_int_equal(cap, 8);
	assert_int_equal(COOP_ARRAY_GROW(v, cap, 100, 4), 0);
	assert_int_equal(cap, 128);
	for (i = 0; i < 4; i++)
		assert_int_equal(v[i], (int)i);
	free(v);
}

static void test_too_big(void **state)
{
	char *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(COOP_ARRAY_GROW(v, cap, 2, 2), 0);
	v[0] = 'x';
	assert_int_equal(coop_array_grow((void **)&v, &cap, SIZE_MAX, 16, 2), -ENOMEM);
	assert_int_equal(cap, 2);
	assert_int_equal(v[0], 'x');
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_too_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
