/* json_test.c - the JSON writer (escaping, nesting, misuse, numbers) and
 * reader (valid documents, malformed input, limits), and round trips. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"

/* The writer's document, checked complete. */
static const char *doc(struct coop_json *j)
{
	assert_int_equal(coop_json_check(j), 0);
	return coop_json_text(j, NULL);
}

static void string_doc(struct coop_json *j, const char *s, size_t n)
{
	coop_json_reset(j);
	coop_json_string_len(j, s, n);
}

static void test_escape_specials(void **state)
{
	struct coop_json j;

	(void)state;
	coop_json_init(&j);
	string_doc(&j, "a\"b\\c/d", 7);
	assert_string_equal(doc(&j), "\"a\\\"b\\\\c/d\"");
	string_doc(&j, "\b\f\n\r\t", 5);
	assert_string_equal(doc(&j), "\"\\b\\f\\n\\r\\t\"");
	string_doc(&j, "\x01\x1f\x7f", 3);
	assert_string_equal(doc(&j), "\"\\u0001\\u001f\\u007f\"");
	/* An embedded NUL is data, not the end. */
	string_doc(&j, "a\0b", 3);
	assert_string_equal(doc(&j), "\"a\\u0000b\"");
	string_doc(&j, "", 0);
	assert_string_equal(doc(&j), "\"\"");
	coop_json_fini(&j);
}

static void test_escape_utf8(void **state)
{
	struct coop_json j;

	(void)state;
	coop_json_init(&j);
	/* Valid multi-byte sequences pass through unchanged. */
	string_doc(&j, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
	assert_string_equal(doc(&j), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* A lone continuation byte, a truncated sequence, an overlong '/',
	 * a UTF-16 surrogate and a code point above U+10FFFF are replaced. */
	string_doc(&j, "a\x80z", 3);
	assert_string_equal(doc(&j), "\"a\\ufffdz\"");
	string_doc(&j, "\xe2\x82", 2);
	assert_string_equal(doc(&j), "\"\\ufffd\\ufffd\"");
	string_doc(&j, "\xc0\xaf", 2);
	assert_string_equal(doc(&j), "\"\\ufffd\\ufffd\"");
	string_doc(&j, "\xed\xa0\x80", 3);
	assert_string_equal(doc(&j), "\"\\ufffd\\ufffd\\ufffd\"");
	string_doc(&j, "\xf4\x90\x80\x80", 4);
	assert_string_equal(doc(&j), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	string_doc(&j, "\xff", 1);
	assert_string_equal(doc(&j), "\"\\ufffd\"");
	coop_json_fini(&j);
}

static void test_nesting_and_commas(void **state)
{
	struct coop_json j;

	(void)state;
	coop_json_init(&j);
	coop_json_object_begin(&j);
	coop_json_kv_string(&j, "name", "nas1");
	coop_json_key(&j, "addrs");
	coop_json_array_begin(&j);
	coop_json_string(&j, "198.18.1.5/24");
	coop_json_string(&j, "2001:db8::5/64");
	coop_json_array_end(&j);
	coop_json_key(&j, "empty");
	coop_json_object_begin(&j);
	coop_json_object_end(&j);
	coop_json_key(&j, "list");
	coop_json_array_begin(&j);
	coop_json_array_begin(&j);
	coop_json_array_end(&j);
	coop_json_null(&j);
	coop_json_bool(&j, true);
	coop_json_bool(&j, false);
	coop_json_object_begin(&j);
	coop_json_kv_u64(&j, "n", 1);
	coop_json_kv_bool(&j, "up", false);
	coop_json_object_end(&j);
	coop_json_array_end(&j);
	coop_json_key(&j, "s");
	coop_json_string(&j, NULL);
	coop_json_key(&j, "f");
	coop_json_stringf(&j, "%s:%u", "tcp", 445u);
	coop_json_object_end(&j);
	assert_string_equal(doc(&j),
			    "{\"name\":\"nas1\",\"addrs\":[\"198.18.1.5/24\",\"2001:db8::5/64\"],"
			    "\"empty\":{},\"list\":[[],null,true,false,{\"n\":1,\"up\":false}],"
			    "\"s\":null,\"f\":\"tcp:445\"}");
	coop_json_fini(&j);
}

static void test_numbers(void **state)
{
	struct coop_json j;

	(void)state;
	coop_json_init(&j);
	coop_json_array_begin(&j);
	coop_json_u64(&j, 0);
	coop_json_u64(&j, UINT64_MAX);
	coop_json_i64(&j, INT64_MIN);
	coop_json_i64(&j, -1);
	coop_json_double(&j, 0.5);
	coop_json_double(&j, INFINITY);
	coop_json_double(&j, NAN);
	coop_json_array_end(&j);
	assert_string_equal(doc(&j), "[0,18446744073709551615,-9223372036854775808,-1,0.5,null,null]");
	coop_json_fini(&j);
}

static void test_long_stringf(void **state)
{
	struct coop_json j;
	char big[1000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	coop_json_init(&j);
	coop_json_stringf(&j, "<%s>", big);
	assert_int_equal(strlen(doc(&j)), sizeof(big) - 1 + 4);
	coop_json_fini(&j);
}

static void test_misuse(void **state)
{
	struct coop_json *j = coop_json_new();

	(void)state;
	assert_non_null(j);
	/* Value in an object without a key. */
	coop_json_object_begin(j);
	coop_json_u64(j, 1);
	assert_int_equal(coop_json_error(j), -EINVAL);
	/* Errors are sticky: later calls change nothing. */
	coop_json_object_end(j);
	assert_int_equal(coop_json_check(j), -EINVAL);
	assert_string_equal(coop_json_text(j, NULL), "{");

	coop_json_reset(j);
	coop_json_key(j, "k"); /* key outside an object */
	assert_int_equal(coop_json_error(j), -EINVAL);

	coop_json_reset(j);
	coop_json_array_begin(j);
	coop_json_object_end(j); /* mismatched end */
	assert_int_equal(coop_json_error(j), -EINVAL);

	coop_json_reset(j);
	coop_json_object_begin(j);
	coop_json_key(j, "a");
	coop_json_key(j, "b"); /* two keys in a row */
	assert_int_equal(coop_json_error(j), -EINVAL);

	coop_json_reset(j);
	coop_json_object_begin(j);
	coop_json_key(j, "a");
	coop_json_object_end(j); /* key without value */
	assert_int_equal(coop_json_error(j), -EINVAL);

	coop_json_reset(j);
	coop_json_u64(j, 1);
	coop_json_u64(j, 2); /* second top-level value */
	assert_int_equal(coop_json_error(j), -EINVAL);

	coop_json_reset(j);
	coop_json_array_end(j); /* end with nothing open */
	assert_int_equal(coop_json_error(j), -EINVAL);

	coop_json_reset(j);
	coop_json_array_begin(j); /* unfinished */
	assert_int_equal(coop_json_error(j), 0);
	assert_int_equal(coop_json_check(j), -EINVAL);

	coop_json_reset(j);
	assert_int_equal(coop_json_check(j), -EINVAL); /* nothing written */
	assert_string_equal(coop_json_text(j, NULL), "");
	coop_json_free(j);
}

static void test_writer_depth_limit(void **state)
{
	struct coop_json j;
	int i;

	(void)state;
	coop_json_init(&j);
	for (i = 0; i < COOP_JSON_DEPTH_MAX; i++)
		coop_json_array_begin(&j);
	assert_int_equal(coop_json_error(&j), 0);
	for (i = 0; i < COOP_JSON_DEPTH_MAX; i++)
		coop_json_array_end(&j);
	assert_int_equal(coop_json_check(&j), 0);
	coop_json_reset(&j);
	for (i = 0; i <= COOP_JSON_DEPTH_MAX; i++)
		coop_json_array_begin(&j);
	assert_int_equal(coop_json_error(&j), -EINVAL);
	coop_json_fini(&j);
}

/* --- reader ---------------------------------------------------------------- */

static struct coop_json_value *parse_ok(const char *text)
{
	struct coop_json_value *v = NULL;
	char err[128] = "";
	int ret = coop_json_parse(text, strlen(text), &v, err, sizeof(err));

	if (ret)
		fail_msg("parse of '%s' failed: %s", text, err);
	assert_non_null(v);
	return v;
}

static void parse_bad(const char *text, size_t len, const char *why)
{
	struct coop_json_value *v = (struct coop_json_value *)1;
	char err[128] = "";
	int ret = coop_json_parse(text, len, &v, err, sizeof(err));

	if (ret != -EINVAL)
		fail_msg("'%.*s' parsed (%d), expected failure: %s", (int)len, text, ret, why);
	assert_null(v);
	assert_true(strncmp(err, "offset ", 7) == 0);
}

static void test_parse_valid(void **state)
{
	struct coop_json_value *v;
	const struct coop_json_value *x, *y;

	(void)state;
	v = parse_ok(" {\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"d\"},"
		     " \"big\": 18446744073709551615, \"over\": 18446744073709551616,"
		     " \"neg\": -0, \"e\": \"\\u00e9\\ud83d\\ude00\\/\\n\", \"z\": \"a\\u0000b\"} \n");
	assert_int_equal(v->type, COOP_JSON_OBJECT);
	assert_int_equal(v->n_items, 7);
	x = coop_json_value_get(v, "a");
	assert_non_null(x);
	assert_int_equal(x->type, COOP_JSON_ARRAY);
	assert_int_equal(x->n_items, 5);
	y = coop_json_value_at(x, 0);
	assert_true(y->type == COOP_JSON_NUMBER && y->is_uint && y->u64 == 1);
	y = coop_json_value_at(x, 1);
	assert_true(y->type == COOP_JSON_NUMBER && !y->is_uint && y->num == -2500.0);
	assert_string_equal(y->str, "-2.5e3");
	assert_true(coop_json_value_at(x, 2)->type == COOP_JSON_BOOL && coop_json_value_at(x, 2)->b);
	assert_true(coop_json_value_at(x, 3)->type == COOP_JSON_BOOL && !coop_json_value_at(x, 3)->b);
	assert_int_equal(coop_json_value_at(x, 4)->type, COOP_JSON_NULL);
	assert_null(coop_json_value_at(x, 5));
	y = coop_json_value_get(coop_json_value_get(v, "b"), "c");
	assert_string_equal(y->str, "d");
	y = coop_json_value_get(v, "big");
	assert_true(y->is_uint && y->u64 == UINT64_MAX);
	y = coop_json_value_get(v, "over");
	assert_false(y->is_uint);
	assert_string_equal(y->str, "18446744073709551616");
	y = coop_json_value_get(v, "neg");
	assert_true(y->is_uint && y->u64 == 0);
	y = coop_json_value_get(v, "e");
	assert_string_equal(y->str, "\xc3\xa9\xf0\x9f\x98\x80/\n");
	y = coop_json_value_get(v, "z");
	assert_int_equal(y->len, 3);
	assert_memory_equal(y->str, "a\0b", 3);
	assert_null(coop_json_value_get(v, "missing"));
	assert_null(coop_json_value_get(x, "a")); /* not an object */
	coop_json_value_free(v);

	v = parse_ok("\"\xe2\x82\xac\"");
	assert_string_equal(v->str, "\xe2\x82\xac");
	coop_json_value_free(v);
	v = parse_ok("[]");
	assert_int_equal(v->n_items, 0);
	coop_json_value_free(v);
	v = parse_ok("-0.0e-1");
	assert_int_equal(v->type, COOP_JSON_NUMBER);
	coop_json_value_free(v);
}

static void test_parse_malformed(void **state)
{
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
		{ "", "empty" },
		{ "   ", "only whitespace" },
		{ "{", "truncated object" },
		{ "{\"a\"", "truncated after key" },
		{ "{\"a\":", "truncated after colon" },
		{ "{\"a\":1", "truncated after value" },
		{ "{\"a\":1,", "truncated after comma" },
		{ "[1,2", "truncated array" },
		{ "\"abc", "unterminated string" },
		{ "\"abc\\", "backslash at the end" },
		{ "{\"a\":1,}", "trailing comma in object" },
		{ "[1,]", "trailing comma in array" },
		{ "[1 2]", "missing comma" },
		{ "{a:1}", "unquoted key" },
		{ "{\"a\" 1}", "missing colon" },
		{ "{1:2}", "number as key" },
		{ "tru", "truncated literal" },
		{ "nul", "truncated null" },
		{ "True", "wrong case literal" },
		{ "01", "leading zero" },
		{ "1.", "no digit after point" },
		{ ".5", "no digit before point" },
		{ "1e", "empty exponent" },
		{ "1e+", "empty signed exponent" },
		{ "-", "bare minus" },
		{ "+1", "plus sign" },
		{ "NaN", "NaN" },
		{ "0x10", "hex number" },
		{ "\"\\x41\"", "bad escape" },
		{ "\"\\u12\"", "short \\u escape" },
		{ "\"\\u12G4\"", "non-hex \\u escape" },
		{ "\"\\ud800\"", "lone high surrogate" },
		{ "\"\\ud800\\u0041\"", "high surrogate with a non-surrogate" },
		{ "\"\\udc00\"", "lone low surrogate" },
		{ "\"a\tb\"", "raw control character" },
		{ "\"\xff\"", "invalid UTF-8" },
		{ "\"\xc0\xaf\"", "overlong UTF-8" },
		{ "\"\xed\xa0\x80\"", "UTF-8 surrogate" },
		{ "\"\xe2\x82\"", "truncated UTF-8" },
		{ "{} {}", "two documents" },
		{ "[1] x", "trailing garbage" },
		{ "]", "stray close" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_bad(bad[i].text, strlen(bad[i].text), bad[i].why);
	/* A NUL byte inside the text is not whitespace. */
	parse_bad("[1]\0", 4, "NUL after document");
	parse_bad("\"a\0b\"", 5, "raw NUL in string");
}

static void test_parse_depth_limit(void **state)
{
	char text[2 * (COOP_JSON_DEPTH_MAX + 1) + 1];
	struct coop_json_value *v;
	char err[128];
	int n;

	(void)state;
	/* Exactly the limit parses. */
	for (n = 0; n < COOP_JSON_DEPTH_MAX; n++) {
		text[n] = '[';
		text[COOP_JSON_DEPTH_MAX + n] = ']';
	}
	v = NULL;
	assert_int_equal(coop_json_parse(text, 2 * COOP_JSON_DEPTH_MAX, &v, err, sizeof(err)), 0);
	coop_json_value_free(v);
	/* One more is refused, not a stack overflow. */
	for (n = 0; n <= COOP_JSON_DEPTH_MAX; n++) {
		text[n] = '[';
		text[COOP_JSON_DEPTH_MAX + 1 + n] = ']';
	}
	parse_bad(text, 2 * (COOP_JSON_DEPTH_MAX + 1), "one level too deep");
	assert_int_equal(coop_json_parse(text, 2 * (COOP_JSON_DEPTH_MAX + 1), &v, err,
					 sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nested too deeply"));
}

/* Every prefix of a valid document is malformed, and parsing it must fail
 * cleanly (no read past the given length: run under valgrind/ASan). */
static void test_parse_every_prefix(void **state)
{
	static const char full[] =
		"{\"vs\":[{\"name\":\"n\\u00e9\",\"n\":[1.5e2,-3,true,null],\"s\":\"\\ud83d\\ude00\"}]}";
	struct coop_json_value *v;
	char err[128];
	size_t n;

	(void)state;
	for (n = 0; n < sizeof(full) - 1; n++) {
		char *copy = malloc(n ? n : 1);

		assert_non_null(copy);
		memcpy(copy, full, n);
		v = NULL;
		assert_int_equal(coop_json_parse(copy, n, &v, err, sizeof(err)), -EINVAL);
		assert_null(v);
		free(copy);
	}
	v = parse_ok(full);
	coop_json_value_free(v);
}

/* Write a document with awkward strings, parse it back, compare. */
static void test_round_trip(void **state)
{
	static const char *strs[] = {
		"plain", "quote\" back\\slash", "ctl\x01\x1f\x7f", "tab\tnl\ncr\r",
		"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", "",
	};
	struct coop_json_value *v;
	const struct coop_json_value *a;
	struct coop_json j;
	const char *text;
	char err[128];
	size_t i, len;

	(void)state;
	coop_json_init(&j);
	coop_json_object_begin(&j);
	coop_json_key(&j, "strs");
	coop_json_array_begin(&j);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		coop_json_string(&j, strs[i]);
	coop_json_array_end(&j);
	coop_json_kv_u64(&j, "max", UINT64_MAX);
	coop_json_kv_i64(&j, "min", INT64_MIN);
	coop_json_key(&j, "pi");
	coop_json_double(&j, 3.141592653589793);
	coop_json_key(&j, "key \"with\" quotes\n");
	coop_json_string_len(&j, "bad\xff", 4);
	coop_json_object_end(&j);
	text = coop_json_text(&j, &len);
	assert_int_equal(coop_json_check(&j), 0);
	assert_int_equal(coop_json_parse(text, len, &v, err, sizeof(err)), 0);

	a = coop_json_value_get(v, "strs");
	assert_int_equal(a->n_items, sizeof(strs) / sizeof(strs[0]));
	for (i = 0; i < a->n_items; i++) {
		assert_int_equal(a->items[i].type, COOP_JSON_STRING);
		assert_string_equal(a->items[i].str, strs[i]);
	}
	assert_true(coop_json_value_get(v, "max")->is_uint);
	assert_true(coop_json_value_get(v, "max")->u64 == UINT64_MAX);
	assert_string_equal(coop_json_value_get(v, "min")->str, "-9223372036854775808");
	assert_true(coop_json_value_get(v, "pi")->num == 3.141592653589793);
	assert_string_equal(coop_json_value_get(v, "key \"with\" quotes\n")->str, "bad\xef\xbf\xbd");
	coop_json_value_free(v);
	coop_json_fini(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_specials),
		cmocka_unit_test(test_escape_utf8),
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_long_stringf),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_writer_depth_limit),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_depth_limit),
		cmocka_unit_test(test_parse_every_prefix),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
