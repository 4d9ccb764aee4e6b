/* prom.c - the Prometheus text writer: families kept in declaration order,
 * each with its own buffer of sample lines, joined under their # HELP and
 * # TYPE lines at the end (core/prom.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prom.h"

/* --- text buffer ------------------------------------------------------------------ */

void coop_mbuf_put(struct coop_mbuf *b, const char *s, size_t n)
{
	if (b->error)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->error = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void coop_mbuf_putf(struct coop_mbuf *b, const char *fmt, ...)
{
	char tmp[256], *big;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		coop_mbuf_put(b, tmp, (size_t)n);
		return;
	}
	big = malloc((size_t)n + 1);
	if (!big) {
		b->error = -ENOMEM;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	coop_mbuf_put(b, big, (size_t)n);
	free(big);
}

void coop_mbuf_free(struct coop_mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void puts_(struct coop_mbuf *b, const char *s)
{
	coop_mbuf_put(b, s, strlen(s));
}

/* --- families ----------------------------------------------------------------------- */

struct coop_prom_family {
	struct coop_prom *p;           /* writer it belongs to */
	char *name;                    /* metric name */
	char *help;                    /* one line; escaped when written */
	enum coop_prom_type type;      /* counter or gauge */
	struct coop_mbuf lines;        /* its sample lines so far */
	struct coop_prom_family *next; /* next declared */
};

struct coop_prom {
	struct coop_prom_family *first; /* in declaration order */
	struct coop_prom_family **tail; /* where the next one links */
	int error;                      /* first refusal (-EINVAL) or -ENOMEM */
	bool nomem;                     /* an allocation failed: the text is cut */
	char why[160];                  /* what the first refusal was */
};

struct coop_prom *coop_prom_new(void)
{
	struct coop_prom *p = calloc(1, sizeof(*p));

	if (p)
		p->tail = &p->first;
	return p;
}

void coop_prom_free(struct coop_prom *p)
{
	struct coop_prom_family *f, *next;

	if (!p)
		return;
	for (f = p->first; f; f = next) {
		next = f->next;
		free(f->name);
		free(f->help);
		coop_mbuf_free(&f->lines);
		free(f);
	}
	free(p);
}

static void __attribute__((format(printf, 3, 4))) refuse(struct coop_prom *p, int error,
							   const char *fmt, ...)
{
	va_list ap;

	if (p->error)
		return; /* the first one is the one to fix */
	p->error = error;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

static bool name_ok(const char *s, bool colon)
{
	size_t i;

	if (!*s)
		return false;
	for (i = 0; s[i]; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
		      (colon && ch == ':') || (i > 0 && ch >= '0' && ch <= '9')))
			return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

struct coop_prom_family *coop_prom_family(struct coop_prom *p, const char *name,
					  enum coop_prom_type type, const char *help)
{
	struct coop_prom_family *f;

	if (!p)
		return NULL;
	for (f = p->first; f; f = f->next) {
		if (strcmp(f->name, name))
			continue;
		if (f->type != type) {
			refuse(p, -EINVAL, "metric '%.64s' declared as a counter and as a gauge",
			       name);
			return NULL;
		}
		return f;
	}
	if (!name_ok(name, true)) {
		refuse(p, -EINVAL, "'%.64s' is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", name);
		return NULL;
	}
	if (type == COOP_PROM_COUNTER && !ends_with(name, "_total")) {
		refuse(p, -EINVAL, "counter '%.64s': counter names end in _total", name);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help ? help : ""))) {
		if (f)
			free(f->name);
		free(f);
		p->nomem = true;
		refuse(p, -ENOMEM, "out of memory");
		return NULL;
	}
	f->p = p;
	f->type = type;
	*p->tail = f;
	p->tail = &f->next;
	return f;
}

/* --- samples ------------------------------------------------------------------------ */

/* A label value as the format quotes it: backslash, double quote and line
 * feed escaped. */
static void put_label_value(struct coop_mbuf *b, const char *v)
{
	const char *run = v;

	for (; *v; v++) {
		const char *esc;

		if (*v == '\\')
			esc = "\\\\";
		else if (*v == '"')
			esc = "\\\"";
		else if (*v == '\n')
			esc = "\\n";
		else
			continue;
		coop_mbuf_put(b, run, (size_t)(v - run));
		puts_(b, esc);
		run = v + 1;
	}
	coop_mbuf_put(b, run, (size_t)(v - run));
}

/* NAME{k="v",...} VALUE: labels from ap; false (nothing written) when a
 * label name is bad. */
static bool put_sample(struct coop_prom_family *f, const char *value, va_list ap)
{
	struct coop_mbuf *b = &f->lines;
	size_t start = b->len;
	const char *k, *v;
	bool first = true;

	puts_(b, f->name);
	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		if (!name_ok(k, false) || !strncmp(k, "__", 2)) {
			refuse(f->p, -EINVAL, "metric '%.64s': bad label name '%.32s'", f->name, k);
			goto err_truncate;
		}
		puts_(b, first ? "{" : ",");
		puts_(b, k);
		puts_(b, "=\"");
		put_label_value(b, v ? v : "");
		puts_(b, "\"");
		first = false;
	}
	if (!first)
		puts_(b, "}");
	puts_(b, " ");
	puts_(b, value);
	puts_(b, "\n");
	return true;

err_truncate:
	b->len = start;
	if (b->p)
		b->p[start] = '\0';
	return false;
}

void coop_prom_u64(struct coop_prom_family *f, uint64_t value, ...)
{
	char buf[24];
	va_list ap;

	if (!f)
		return;
	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	va_start(ap, value);
	put_sample(f, buf, ap);
	va_end(ap);
}

/* The shortest of %.15g and %.17g that reads back as v; the format's
 * spellings of NaN and the infinities. */
static void double_str(double v, char *buf, size_t len)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(buf, len, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, len, "%.17g", v);
}

void coop_prom_double(struct coop_prom_family *f, double value, ...)
{
	char buf[40];
	va_list ap;

	if (!f)
		return;
	double_str(value, buf, sizeof(buf));
	va_start(ap, value);
	put_sample(f, buf, ap);
	va_end(ap);
}

/* --- the exposition --------------------------------------------------------------------- */

/* Help text as # HELP carries it: backslash and line feed escaped. */
static void put_help(struct coop_mbuf *b, const char *h)
{
	for (; *h; h++) {
		if (*h == '\\')
			puts_(b, "\\\\");
		else if (*h == '\n')
			puts_(b, "\\n");
		else
			coop_mbuf_put(b, h, 1);
	}
}

int coop_prom_finish(struct coop_prom *p, struct coop_mbuf *out, char *err, size_t errlen)
{
	const struct coop_prom_family *f;
	bool nomem = p->nomem;

	for (f = p->first; f; f = f->next) {
		nomem |= f->lines.error != 0;
		if (!f->lines.len)
			continue;
		puts_(out, "# HELP ");
		puts_(out, f->name);
		puts_(out, " ");
		put_help(out, f->help);
		puts_(out, "\n# TYPE ");
		puts_(out, f->name);
		puts_(out, f->type == COOP_PROM_COUNTER ? " counter\n" : " gauge\n");
		coop_mbuf_put(out, f->lines.p, f->lines.len);
	}
	/* out of memory anywhere: the text is cut, so none of it is served */
	if (nomem || out->error) {
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (p->error && err && errlen)
		snprintf(err, errlen, "%s", p->why);
	return p->error;
}
