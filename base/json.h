/* json.h - inside libcoop: the JSON writer's state (so it can be embedded
 * and reused) and a small JSON reader that parses a document into a tree,
 * used by coopctl and the tests. The writer's API is public in
 * base/coop_json.h. */
#ifndef COOP_BASE_JSON_H
#define COOP_BASE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/coop_json.h"

/* One open object or array of a writer. */
struct coop_json_level {
	bool object;    /* an object (else an array) */
	bool has_items; /* a member was written: the next needs a comma */
	bool has_key;   /* object: a key was written, its value is due */
};

/* The writer. Owned by whoever created it; one thread at a time. */
struct coop_json {
	char *buf;    /* the document, NUL-terminated when cap > 0 */
	size_t len;   /* bytes written, without the NUL */
	size_t cap;   /* allocated bytes of buf */
	int err;      /* first error (0, -ENOMEM, -EINVAL); sticky */
	unsigned depth; /* open objects/arrays */
	bool done;    /* a whole top-level value was written */
	struct coop_json_level level[COOP_JSON_DEPTH_MAX]; /* open containers */
};

/* Set up an embedded writer (no allocation until the first write). */
void coop_json_init(struct coop_json *j);
/* Forget the document and any error, keeping the buffer for reuse. */
void coop_json_reset(struct coop_json *j);
/* Release an embedded writer's buffer. */
void coop_json_fini(struct coop_json *j);
/* 0 when the writer holds exactly one complete value; else the sticky
 * error, or -EINVAL when nothing or an unfinished value was written. */
int coop_json_check(const struct coop_json *j);

/* --- reader ------------------------------------------------------------------ */

enum coop_json_type {
	COOP_JSON_NULL,
	COOP_JSON_BOOL,
	COOP_JSON_NUMBER,
	COOP_JSON_STRING,
	COOP_JSON_ARRAY,
	COOP_JSON_OBJECT,
};

/* A parsed value. A tree owns all of its nodes and strings; free the root
 * with coop_json_value_free(). */
struct coop_json_value {
	enum coop_json_type type;       /* kind of value */
	char *key;                      /* member name in an object, else NULL */
	size_t key_len;                 /* its length (it may hold \u0000) */
	bool b;                         /* BOOL: the value */
	char *str;                      /* STRING: decoded UTF-8; NUMBER: the literal as written; NUL-terminated */
	size_t len;                     /* length of str */
	double num;                     /* NUMBER: nearest double */
	bool is_uint;                   /* NUMBER: a non-negative integer that fits u64 */
	uint64_t u64;                   /* NUMBER: exact value when is_uint */
	struct coop_json_value *items;  /* ARRAY/OBJECT: elements or members, in order */
	size_t n_items;                 /* how many */
};

/* Parse text[0..len) as exactly one JSON document (RFC 8259: UTF-8, no
 * trailing garbage other than whitespace, nesting at most
 * COOP_JSON_DEPTH_MAX). On success *out is a new tree. On failure returns
 * -EINVAL (malformed, with "offset N: problem" in err) or -ENOMEM. */
int coop_json_parse(const char *text, size_t len, struct coop_json_value **out, char *err,
		    size_t errlen);
/* Free a tree returned by coop_json_parse (NULL is fine). */
void coop_json_value_free(struct coop_json_value *v);
/* The first member named key of an object, or NULL (also when v is not an
 * object or is NULL). */
const struct coop_json_value *coop_json_value_get(const struct coop_json_value *v,
						  const char *key);
/* Element i of an array or object, or NULL when out of range or not a
 * container. */
const struct coop_json_value *coop_json_value_at(const struct coop_json_value *v, size_t i);

#endif
