/* metrics.h - Prometheus text exposition of coop's counters: the admin protocol's `show stats` and `show fwd` flattened, served over HTTP on the control loop ([global] metrics_listen; docs/admin.md, "Metrics"). */
#ifndef COOP_METRICS_H
#define COOP_METRICS_H

#include <stddef.h>

#include "base/json.h"

struct coop;

/* A growable text buffer. */
struct coop_mbuf {
	char *p;    /* text, NUL-terminated when len > 0 */
	size_t len; /* bytes used */
	size_t cap; /* bytes allocated */
	int error;  /* -ENOMEM once an append failed (the text is then cut) */
};

void coop_mbuf_free(struct coop_mbuf *b);

/*
 * Append the numbers of tree v to b as Prometheus samples named
 * prefix_path_to_leaf (characters outside [A-Za-z0-9_] become '_').
 * Booleans count as 0 and 1, strings are left out. An array of objects
 * becomes a label named after the array's key: the element's "name"
 * member as its value, else its index. Samples are grouped by name, each
 * group after a "# TYPE NAME untyped" line, as the format requires.
 * 0 or -ENOMEM.
 */
int coop_metrics_flatten(const struct coop_json_value *v, const char *prefix,
			 struct coop_mbuf *b);

/* The whole exposition of a running c: `show stats` as coop_*, and with a
 * forwarder `show fwd` as coop_fwd_*. 0 or -errno. Control thread. */
int coop_metrics_text(struct coop *c, struct coop_mbuf *b);

/* Listen on [global] metrics_listen (nothing when unset). 0 or -errno with
 * err filled. Control thread, from coop_start. */
int coop_metrics_open(struct coop *c, char *err, size_t errlen);
/* Stop listening and drop every client. Control thread. */
void coop_metrics_close(struct coop *c);

#endif
