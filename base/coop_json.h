/* coop_json.h - public API of libcoop's JSON writer: what admin command
 * handlers answer with (core/coop_admin.h) and what coop writes its
 * replies with. */
#ifndef COOP_JSON_H
#define COOP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- JSON writer ------------------------------------------------------------
 *
 * A builder that appends one JSON document to a growable buffer. Commas,
 * quoting and string escaping are its business: strings are written as
 * UTF-8 with control characters, quotes and backslashes escaped, and any
 * byte that is not part of valid UTF-8 replaced by U+FFFD, so any C string
 * can be given to it. Calls never fail individually: the first error
 * (out of memory, or misuse such as a value in an object without a key, a
 * mismatched end, a second top-level value, nesting deeper than
 * COOP_JSON_DEPTH_MAX) is remembered, every later call does nothing, and
 * coop_json_error() reports it. A writer belongs to one thread at a time.
 */
struct coop_json;

/* Deepest nesting of objects and arrays the writer (and reader) accepts. */
#define COOP_JSON_DEPTH_MAX 64

/* A new empty writer, or NULL on ENOMEM. Free it with coop_json_free().
 * Command handlers do not need this: the admin socket gives them one. */
struct coop_json *coop_json_new(void);
void coop_json_free(struct coop_json *j);

/* The document written so far (NUL-terminated, valid until the next write
 * or free); *len gets its length when len is not NULL. */
const char *coop_json_text(const struct coop_json *j, size_t *len);

/* 0, or the first error: -ENOMEM, or -EINVAL for misuse. */
int coop_json_error(const struct coop_json *j);

void coop_json_object_begin(struct coop_json *j);
void coop_json_object_end(struct coop_json *j);
void coop_json_array_begin(struct coop_json *j);
void coop_json_array_end(struct coop_json *j);

/* The name of the next member of the enclosing object; a value (or an
 * object/array begin) must follow. */
void coop_json_key(struct coop_json *j, const char *key);

/* Values: in an array, or after coop_json_key() in an object, or as the
 * single top-level value. A NULL string is written as null. Non-finite
 * doubles are written as null (JSON has no NaN or infinity). */
void coop_json_string(struct coop_json *j, const char *s);
void coop_json_string_len(struct coop_json *j, const char *s, size_t len);
void coop_json_stringf(struct coop_json *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void coop_json_u64(struct coop_json *j, uint64_t v);
void coop_json_i64(struct coop_json *j, int64_t v);
void coop_json_double(struct coop_json *j, double v);
void coop_json_bool(struct coop_json *j, bool v);
void coop_json_null(struct coop_json *j);

/* Shorthands for coop_json_key() followed by one value. */
void coop_json_kv_string(struct coop_json *j, const char *key, const char *s);
void coop_json_kv_u64(struct coop_json *j, const char *key, uint64_t v);
void coop_json_kv_i64(struct coop_json *j, const char *key, int64_t v);
void coop_json_kv_bool(struct coop_json *j, const char *key, bool v);

#ifdef __cplusplus
}
#endif
#endif
