/* metrics_test.c - the Prometheus flattening of admin replies: names, labels from named and unnamed array elements, escaping, grouping by name, what is left out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "core/metrics.h"

static char *flatten(const char *json, const char *prefix)
{
	struct coop_json_value *v = NULL;
	struct coop_mbuf b = { 0 };
	char err[128];

	if (coop_json_parse(json, strlen(json), &v, err, sizeof(err)))
		fail_msg("test JSON: %s", err);
	assert_int_equal(coop_metrics_flatten(v, prefix, &b), 0);
	coop_json_value_free(v);
	return b.p ? b.p : strdup("");
}

/* A reply shaped like `show stats`: totals, per-VS objects named by
 * "name", nested counters, booleans, strings. */
static void test_stats_shape(void **state)
{
	char *t = flatten("{\"workers\":2,\"vs\":[{\"name\":\"nas1\",\"counters\":{\"accepted\":12,"
			  "\"bytes_in\":3},\"up\":true,\"state\":\"up\"},{\"name\":\"nas2\","
			  "\"counters\":{\"accepted\":0,\"bytes_in\":18446744073709551615},"
			  "\"up\":false}],\"counters\":{\"accepted\":12}}",
			  "coop");

	(void)state;
	assert_string_equal(t, "# TYPE coop_counters_accepted untyped\n"
			       "coop_counters_accepted 12\n"
			       "# TYPE coop_vs_counters_accepted untyped\n"
			       "coop_vs_counters_accepted{vs=\"nas1\"} 12\n"
			       "coop_vs_counters_accepted{vs=\"nas2\"} 0\n"
			       "# TYPE coop_vs_counters_bytes_in untyped\n"
			       "coop_vs_counters_bytes_in{vs=\"nas1\"} 3\n"
			       "coop_vs_counters_bytes_in{vs=\"nas2\"} 18446744073709551615\n"
			       "# TYPE coop_vs_up untyped\n"
			       "coop_vs_up{vs=\"nas1\"} 1\n"
			       "coop_vs_up{vs=\"nas2\"} 0\n"
			       "# TYPE coop_workers untyped\n"
			       "coop_workers 2\n");
	free(t);
}

/* Unnamed elements get their index; arrays of numbers an index label;
 * nested named arrays add a second label; odd characters and quotes in
 * names and label values are made safe. */
static void test_labels(void **state)
{
	char *t = flatten("{\"nodes\":[{\"name\":\"n\\\"1\\\\\\n\",\"weight\":1,\"mac\":\"x\"},"
			  "{\"weight\":2}],\"proc\":[5,6],\"a-b.c\":[{\"name\":\"x\",\"vips\":"
			  "[{\"name\":\"v\",\"hits\":7}]}],\"n\":null}",
			  "coop_fwd");

	(void)state;
	assert_string_equal(t, "# TYPE coop_fwd_a_b_c_vips_hits untyped\n"
			       "coop_fwd_a_b_c_vips_hits{c=\"x\",vips=\"v\"} 7\n"
			       "# TYPE coop_fwd_nodes_weight untyped\n"
			       "coop_fwd_nodes_weight{nodes=\"n\\\"1\\\\\\n\"} 1\n"
			       "coop_fwd_nodes_weight{nodes=\"1\"} 2\n"
			       "# TYPE coop_fwd_proc untyped\n"
			       "coop_fwd_proc{index=\"0\"} 5\n"
			       "coop_fwd_proc{index=\"1\"} 6\n");
	free(t);
}

/* Nothing numeric: nothing at all. */
static void test_empty(void **state)
{
	char *t = flatten("{\"name\":\"x\",\"s\":\"y\",\"z\":null,\"a\":[]}", "coop");

	(void)state;
	assert_string_equal(t, "");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_shape),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
