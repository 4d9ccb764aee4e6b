/* json.c - JSON writer (a builder with sticky errors and safe escaping)
 * and a small strict reader that parses one document into a tree. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

/* --- UTF-8 ------------------------------------------------------------------ */

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes available), or 0
 * when the bytes there are not one: overlong forms, surrogates (U+D800..
 * U+DFFF) and code points above U+10FFFF are refused, per RFC 3629.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

/* --- writer ----------------------------------------------------------------- */

void coop_json_init(struct coop_json *j)
{
	memset(j, 0, sizeof(*j));
}

void coop_json_reset(struct coop_json *j)
{
	j->len = 0;
	if (j->cap)
		j->buf[0] = '\0';
	j->err = 0;
	j->depth = 0;
	j->done = false;
}

void coop_json_fini(struct coop_json *j)
{
	free(j->buf);
	coop_json_init(j);
}

struct coop_json *coop_json_new(void)
{
	struct coop_json *j = malloc(sizeof(*j));

	if (j)
		coop_json_init(j);
	return j;
}

void coop_json_free(struct coop_json *j)
{
	if (!j)
		return;
	free(j->buf);
	free(j);
}

const char *coop_json_text(const struct coop_json *j, size_t *len)
{
	if (len)
		*len = j->len;
	return j->cap ? j->buf : "";
}

int coop_json_error(const struct coop_json *j)
{
	return j->err;
}

int coop_json_check(const struct coop_json *j)
{
	if (j->err)
		return j->err;
	return j->done ? 0 : -EINVAL;
}

static void fail(struct coop_json *j, int err)
{
	if (!j->err)
		j->err = err;
}

/* Make room for n more bytes plus the NUL. */
static bool reserve(struct coop_json *j, size_t n)
{
	size_t cap;
	char *p;

	if (j->err)
		return false;
	if (j->len + n + 1 <= j->cap)
		return true;
	if (n > SIZE_MAX / 4 - j->len) {
		fail(j, -ENOMEM);
		return false;
	}
	cap = j->cap ? j->cap : 256;
	while (cap < j->len + n + 1)
		cap *= 2;
	p = realloc(j->buf, cap);
	if (!p) {
		fail(j, -ENOMEM);
		return false;
	}
	j->buf = p;
	j->cap = cap;
	return true;
}

static void put(struct coop_json *j, const char *s, size_t n)
{
	if (!reserve(j, n))
		return;
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void putc1(struct coop_json *j, char ch)
{
	put(j, &ch, 1);
}

/* Writes the comma a value needs, or records misuse. False: write nothing. */
static bool value_begin(struct coop_json *j)
{
	struct coop_json_level *l;

	if (j->err)
		return false;
	if (j->depth == 0) {
		if (j->done) {
			fail(j, -EINVAL); /* a second top-level value */
			return false;
		}
		return true;
	}
	l = &j->level[j->depth - 1];
	if (l->object) {
		if (!l->has_key) {
			fail(j, -EINVAL); /* object member without a key */
			return false;
		}
		l->has_key = false;
		return true;
	}
	if (l->has_items)
		putc1(j, ',');
	l->has_items = true;
	return !j->err;
}

/* A scalar completed: at top level the document is then whole. */
static void value_end(struct coop_json *j)
{
	if (!j->err && j->depth == 0)
		j->done = true;
}

/* Quote and escape s; see coop_admin.h for the rules. */
static void put_string(struct coop_json *j, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run;

	putc1(j, '"');
	while (i < n && !j->err) {
		/* Copy the longest run that needs no escaping in one go. */
		run = 0;
		while (i + run < n) {
			unsigned char c = p[i + run];
			size_t ul;

			if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f)
				break;
			if (c < 0x80) {
				run++;
				continue;
			}
			ul = utf8_len(p + i + run, n - i - run);
			if (!ul)
				break;
			run += ul;
		}
		if (run) {
			put(j, s + i, run);
			i += run;
			continue;
		}
		switch (p[i]) {
		case '"': put(j, "\\\"", 2); break;
		case '\\': put(j, "\\\\", 2); break;
		case '\b': put(j, "\\b", 2); break;
		case '\f': put(j, "\\f", 2); break;
		case '\n': put(j, "\\n", 2); break;
		case '\r': put(j, "\\r", 2); break;
		case '\t': put(j, "\\t", 2); break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f) {
				char u[6] = { '\\', 'u', '0', '0', hex[p[i] >> 4], hex[p[i] & 15] };

				put(j, u, sizeof(u));
			} else {
				/* Not UTF-8: one replacement character per bad byte,
				 * written as an escape so the output stays ASCII-safe. */
				put(j, "\\ufffd", 6);
			}
			break;
		}
		i++;
	}
	putc1(j, '"');
}

static void container_begin(struct coop_json *j, bool object)
{
	struct coop_json_level *l;

	if (!value_begin(j))
		return;
	if (j->depth >= COOP_JSON_DEPTH_MAX) {
		fail(j, -EINVAL);
		return;
	}
	putc1(j, object ? '{' : '[');
	if (j->err)
		return;
	l = &j->level[j->depth++];
	l->object = object;
	l->has_items = false;
	l->has_key = false;
}

static void container_end(struct coop_json *j, bool object)
{
	struct coop_json_level *l;

	if (j->err)
		return;
	if (j->depth == 0) {
		fail(j, -EINVAL);
		return;
	}
	l = &j->level[j->depth - 1];
	if (l->object != object || l->has_key) {
		fail(j, -EINVAL);
		return;
	}
	putc1(j, object ? '}' : ']');
	if (j->err)
		return;
	j->depth--;
	value_end(j);
}

void coop_json_object_begin(struct coop_json *j)
{
	container_begin(j, true);
}

void coop_json_object_end(struct coop_json *j)
{
	container_end(j, true);
}

void coop_json_array_begin(struct coop_json *j)
{
	container_begin(j, false);
}

void coop_json_array_end(struct coop_json *j)
{
	container_end(j, false);
}

void coop_json_key(struct coop_json *j, const char *key)
{
	struct coop_json_level *l;

	if (j->err)
		return;
	if (j->depth == 0 || !key) {
		fail(j, -EINVAL);
		return;
	}
	l = &j->level[j->depth - 1];
	if (!l->object || l->has_key) {
		fail(j, -EINVAL);
		return;
	}
	if (l->has_items)
		putc1(j, ',');
	l->has_items = true;
	put_string(j, key, strlen(key));
	putc1(j, ':');
	l->has_key = true;
}

void coop_json_string_len(struct coop_json *j, const char *s, size_t len)
{
	if (!s) {
		coop_json_null(j);
		return;
	}
	if (!value_begin(j))
		return;
	put_string(j, s, len);
	value_end(j);
}

void coop_json_string(struct coop_json *j, const char *s)
{
	coop_json_string_len(j, s, s ? strlen(s) : 0);
}

void coop_json_stringf(struct coop_json *j, const char *fmt, ...)
{
	char small[256], *s = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		fail(j, -EINVAL);
		return;
	}
	if ((size_t)n >= sizeof(small)) {
		s = malloc((size_t)n + 1);
		if (!s) {
			fail(j, -ENOMEM);
			return;
		}
		va_start(ap, fmt);
		vsnprintf(s, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	coop_json_string_len(j, s, (size_t)n);
	if (s != small)
		free(s);
}

/* A number or literal, written verbatim. */
static void put_raw_value(struct coop_json *j, const char *s, size_t n)
{
	if (!value_begin(j))
		return;
	put(j, s, n);
	value_end(j);
}

void coop_json_u64(struct coop_json *j, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);

	put_raw_value(j, b, (size_t)n);
}

void coop_json_i64(struct coop_json *j, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRId64, v);

	put_raw_value(j, b, (size_t)n);
}

void coop_json_double(struct coop_json *j, double v)
{
	char b[40], *comma;
	int n;

	if (!isfinite(v)) {
		coop_json_null(j);
		return;
	}
	/* 17 significant digits round-trip every double. */
	n = snprintf(b, sizeof(b), "%.17g", v);
	/* A locale with a decimal comma must not leak into JSON. */
	comma = strchr(b, ',');
	if (comma)
		*comma = '.';
	put_raw_value(j, b, (size_t)n);
}

void coop_json_bool(struct coop_json *j, bool v)
{
	if (v)
		put_raw_value(j, "true", 4);
	else
		put_raw_value(j, "false", 5);
}

void coop_json_null(struct coop_json *j)
{
	put_raw_value(j, "null", 4);
}

void coop_json_kv_string(struct coop_json *j, const char *key, const char *s)
{
	coop_json_key(j, key);
	coop_json_string(j, s);
}

void coop_json_kv_u64(struct coop_json *j, const char *key, uint64_t v)
{
	coop_json_key(j, key);
	coop_json_u64(j, v);
}

void coop_json_kv_i64(struct coop_json *j, const char *key, int64_t v)
{
	coop_json_key(j, key);
	coop_json_i64(j, v);
}

void coop_json_kv_bool(struct coop_json *j, const char *key, bool v)
{
	coop_json_key(j, key);
	coop_json_bool(j, v);
}

/* --- reader ----------------------------------------------------------------- */

/* Parser state over the input text. */
struct parser {
	const char *start; /* beginning of the text, for offsets in messages */
	const char *p;     /* next byte */
	const char *end;   /* one past the last byte */
	unsigned depth;    /* open containers */
	char *err;         /* caller's message buffer */
	size_t errlen;     /* its size */
};

static int perr(struct parser *ps, const char *what)
{
	snprintf(ps->err, ps->errlen, "offset %zu: %s", (size_t)(ps->p - ps->start), what);
	return -EINVAL;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits after "\u"; -1 when they are not. */
static long hex4(const char *s, const char *end)
{
	long v = 0;
	int i, h;

	if (end - s < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		h = hexval(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t utf8_put(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One escape after the backslash at ps->p; decoded bytes go to *o. */
static int parse_escape(struct parser *ps, char **o)
{
	long hi, lo;

	ps->p++; /* the backslash */
	if (ps->p >= ps->end)
		return perr(ps, "unterminated string");
	switch (*ps->p) {
	case '"': *(*o)++ = '"'; break;
	case '\\': *(*o)++ = '\\'; break;
	case '/': *(*o)++ = '/'; break;
	case 'b': *(*o)++ = '\b'; break;
	case 'f': *(*o)++ = '\f'; break;
	case 'n': *(*o)++ = '\n'; break;
	case 'r': *(*o)++ = '\r'; break;
	case 't': *(*o)++ = '\t'; break;
	case 'u':
		hi = hex4(ps->p + 1, ps->end);
		if (hi < 0)
			return perr(ps, "bad \\u escape: four hex digits expected");
		ps->p += 4;
		if (hi >= 0xdc00 && hi <= 0xdfff)
			return perr(ps, "bad \\u escape: lone low surrogate");
		if (hi >= 0xd800 && hi <= 0xdbff) {
			if (ps->end - ps->p < 7 || ps->p[1] != '\\' || ps->p[2] != 'u')
				return perr(ps, "bad \\u escape: high surrogate without its low half");
			lo = hex4(ps->p + 3, ps->end);
			if (lo < 0xdc00 || lo > 0xdfff)
				return perr(ps, "bad \\u escape: high surrogate without its low half");
			ps->p += 6;
			hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
		}
		*o += utf8_put(*o, (unsigned long)hi);
		break;
	default:
		return perr(ps, "bad escape in string");
	}
	ps->p++;
	return 0;
}

/* A string at ps->p (the opening quote); decoded into a new buffer. */
static int parse_string(struct parser *ps, char **out, size_t *outlen)
{
	const char *q;
	char *buf, *o;
	size_t ul;
	int ret;

	ps->p++;
	/* Decoded text is never longer than its source, so one scan for the
	 * closing quote sizes the buffer. */
	for (q = ps->p; q < ps->end && *q != '"'; q++)
		if (*q == '\\' && q + 1 < ps->end)
			q++;
	if (q >= ps->end)
		return perr(ps, "unterminated string");
	buf = malloc((size_t)(q - ps->p) + 1);
	if (!buf)
		return -ENOMEM;
	o = buf;
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '\\') {
			ret = parse_escape(ps, &o);
			if (ret < 0)
				goto err_free;
			continue;
		}
		if (c < 0x20) {
			ret = perr(ps, "control character in string");
			goto err_free;
		}
		ul = utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
		if (!ul) {
			ret = perr(ps, "invalid UTF-8 in string");
			goto err_free;
		}
		memcpy(o, ps->p, ul);
		o += ul;
		ps->p += ul;
	}
	ps->p++; /* closing quote */
	*o = '\0';
	*out = buf;
	*outlen = (size_t)(o - buf);
	return 0;

err_free:
	free(buf);
	return ret;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *ps, struct coop_json_value *v)
{
	const char *s = ps->p, *p = ps->p, *e = ps->end;
	bool integral = true, neg = false;
	uint64_t u = 0;
	bool fits = true;

	if (p < e && *p == '-') {
		neg = true;
		p++;
	}
	if (p >= e || !is_digit(*p))
		return perr(ps, "bad number");
	if (*p == '0') {
		p++;
		if (p < e && is_digit(*p))
			return perr(ps, "bad number: leading zero");
	} else {
		while (p < e && is_digit(*p)) {
			unsigned d = (unsigned)(*p - '0');

			if (u > (UINT64_MAX - d) / 10)
				fits = false;
			else
				u = u * 10 + d;
			p++;
		}
	}
	if (p < e && *p == '.') {
		integral = false;
		p++;
		if (p >= e || !is_digit(*p)) {
			ps->p = p;
			return perr(ps, "bad number: digit expected after '.'");
		}
		while (p < e && is_digit(*p))
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		integral = false;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || !is_digit(*p)) {
			ps->p = p;
			return perr(ps, "bad number: digit expected in exponent");
		}
		while (p < e && is_digit(*p))
			p++;
	}
	v->type = COOP_JSON_NUMBER;
	v->len = (size_t)(p - s);
	v->str = malloc(v->len + 1);
	if (!v->str)
		return -ENOMEM;
	memcpy(v->str, s, v->len);
	v->str[v->len] = '\0';
	v->num = strtod(v->str, NULL);
	v->is_uint = integral && fits && (!neg || u == 0);
	v->u64 = v->is_uint ? u : 0;
	ps->p = p;
	return 0;
}

static int parse_value(struct parser *ps, struct coop_json_value *v);

/* Append a zeroed element to a container being parsed. */
static struct coop_json_value *add_item(struct coop_json_value *v, size_t *cap)
{
	struct coop_json_value *items;

	if (v->n_items == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;

		items = realloc(v->items, ncap * sizeof(*items));
		if (!items)
			return NULL;
		v->items = items;
		*cap = ncap;
	}
	items = &v->items[v->n_items++];
	memset(items, 0, sizeof(*items));
	return items;
}

static int parse_container(struct parser *ps, struct coop_json_value *v, bool object)
{
	char close = object ? '}' : ']';
	struct coop_json_value *item;
	size_t cap = 0;
	int ret;

	if (ps->depth >= COOP_JSON_DEPTH_MAX)
		return perr(ps, "nested too deeply");
	ps->depth++;
	v->type = object ? COOP_JSON_OBJECT : COOP_JSON_ARRAY;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		item = add_item(v, &cap);
		if (!item)
			return -ENOMEM;
		skip_ws(ps);
		if (object) {
			if (ps->p >= ps->end || *ps->p != '"')
				return perr(ps, "member name expected");
			ret = parse_string(ps, &item->key, &item->key_len);
			if (ret < 0)
				return ret;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return perr(ps, "':' expected");
			ps->p++;
		}
		ret = parse_value(ps, item);
		if (ret < 0)
			return ret;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return perr(ps, object ? "unterminated object" : "unterminated array");
		if (*ps->p == close)
			break;
		if (*ps->p != ',')
			return perr(ps, object ? "',' or '}' expected" : "',' or ']' expected");
		ps->p++;
	}
	ps->p++;
	ps->depth--;
	return 0;
}

static int parse_literal(struct parser *ps, const char *word, size_t n)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return perr(ps, "unexpected character");
	ps->p += n;
	return 0;
}

/* Any value at ps->p (after whitespace); fills v, which starts zeroed. */
static int parse_value(struct parser *ps, struct coop_json_value *v)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return perr(ps, "value expected, end of input found");
	switch (*ps->p) {
	case '{':
		return parse_container(ps, v, true);
	case '[':
		return parse_container(ps, v, false);
	case '"':
		v->type = COOP_JSON_STRING;
		return parse_string(ps, &v->str, &v->len);
	case 't':
		v->type = COOP_JSON_BOOL;
		v->b = true;
		return parse_literal(ps, "true", 4);
	case 'f':
		v->type = COOP_JSON_BOOL;
		return parse_literal(ps, "false", 5);
	case 'n':
		v->type = COOP_JSON_NULL;
		return parse_literal(ps, "null", 4);
	default:
		if (*ps->p == '-' || is_digit(*ps->p))
			return parse_number(ps, v);
		return perr(ps, "unexpected character");
	}
}

/* Free what v owns, not v itself. */
static void value_clear(struct coop_json_value *v)
{
	size_t i;

	for (i = 0; i < v->n_items; i++)
		value_clear(&v->items[i]);
	free(v->items);
	free(v->key);
	free(v->str);
}

void coop_json_value_free(struct coop_json_value *v)
{
	if (!v)
		return;
	value_clear(v);
	free(v);
}

int coop_json_parse(const char *text, size_t len, struct coop_json_value **out, char *err,
		    size_t errlen)
{
	struct parser ps = {
		.start = text, .p = text, .end = text + len, .err = err, .errlen = errlen,
	};
	struct coop_json_value *v;
	int ret;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = parse_value(&ps, v);
	if (ret == 0) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			ret = perr(&ps, "trailing characters after the document");
	}
	if (ret < 0) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		coop_json_value_free(v);
		return ret;
	}
	*out = v;
	return 0;
}

const struct coop_json_value *coop_json_value_get(const struct coop_json_value *v,
						  const char *key)
{
	size_t i, n;

	if (!v || v->type != COOP_JSON_OBJECT || !key)
		return NULL;
	n = strlen(key);
	for (i = 0; i < v->n_items; i++)
		if (v->items[i].key_len == n && !memcmp(v->items[i].key, key, n))
			return &v->items[i];
	return NULL;
}

const struct coop_json_value *coop_json_value_at(const struct coop_json_value *v, size_t i)
{
	if (!v || (v->type != COOP_JSON_ARRAY && v->type != COOP_JSON_OBJECT) || i >= v->n_items)
		return NULL;
	return &v->items[i];
}
