/* prom.h - a writer of the Prometheus text exposition format (0.0.4): the
 * core and every module's `metrics` hook (core/module.h) declare metric
 * families and write samples straight from their counters; the writer
 * groups each family's samples under one # HELP and one # TYPE line,
 * whatever order they were written in.
 *
 * One writer belongs to one thread (the control thread, for /metrics). */
#ifndef COOP_CORE_PROM_H
#define COOP_CORE_PROM_H

#include <stddef.h>
#include <stdint.h>

/* A growable text buffer. */
struct coop_mbuf {
	char *p;    /* text, NUL-terminated when len > 0 */
	size_t len; /* bytes used */
	size_t cap; /* bytes allocated */
	int error;  /* -ENOMEM once an append failed (the text is then cut) */
};

/* Append n bytes of s; a formatted string (any length). On ENOMEM b->error
 * is set and later appends do nothing. */
void coop_mbuf_put(struct coop_mbuf *b, const char *s, size_t n);
void coop_mbuf_putf(struct coop_mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Free the text; b is empty again. */
void coop_mbuf_free(struct coop_mbuf *b);

enum coop_prom_type {
	COOP_PROM_COUNTER, /* only goes up (until coopd restarts); name ends in _total */
	COOP_PROM_GAUGE,   /* a value now: goes up and down */
};

struct coop_prom;
struct coop_prom_family;

/* A new, empty writer, or NULL on ENOMEM. */
struct coop_prom *coop_prom_new(void);
/* Free the writer and every family it holds (NULL is fine). */
void coop_prom_free(struct coop_prom *p);

/*
 * The family called name, declared now or by an earlier call with the
 * same name and type (its first help stays). Names are
 * [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's ends in "_total". Returns NULL
 * (and the writer remembers why, see coop_prom_finish) for a bad name, a
 * name declared before with another type, or ENOMEM. The family belongs
 * to p; writing samples to NULL does nothing, so callers need not check.
 */
struct coop_prom_family *coop_prom_family(struct coop_prom *p, const char *name,
					  enum coop_prom_type type, const char *help);

/*
 * One sample of family f: its value, then its labels as pairs of strings
 * (name, value, name, value, ...) ending with NULL. Label names are
 * [a-zA-Z_][a-zA-Z0-9_]* and must not start with "__"; values are any
 * text (escaped here). A sample with a bad label name is left out and
 * remembered as an error. Samples of a family keep the order they were
 * written in.
 */
void coop_prom_u64(struct coop_prom_family *f, uint64_t value, ...)
	__attribute__((sentinel));
void coop_prom_double(struct coop_prom_family *f, double value, ...)
	__attribute__((sentinel));

/*
 * Append the exposition to out: the families in the order they were
 * first declared, each with its # HELP, # TYPE and samples; a family
 * without samples is left out. Returns 0; -EINVAL when a declaration or
 * sample was refused (out holds everything else; err says what was
 * refused first); -ENOMEM (out is not usable).
 */
int coop_prom_finish(struct coop_prom *p, struct coop_mbuf *out, char *err, size_t errlen);

#endif
