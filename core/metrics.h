/* metrics.h - Prometheus metrics of a running coop over HTTP on the control
 * loop ([global] metrics_listen; docs/admin.md, "Metrics"): the core's own
 * samples, then every module's metrics hook (core/module.h), written from
 * the counters with core/prom.h. */
#ifndef COOP_METRICS_H
#define COOP_METRICS_H

#include <stddef.h>

#include "core/prom.h"

struct coop;

/* Append the whole exposition of c to b: the core's families (coop_*,
 * coop_vs_*), then each module's, in hook order. 0; -EINVAL when a
 * family or sample was refused by the writer (b holds the rest, err
 * names the first refused); -ENOMEM (b is not usable). Control thread. */
int coop_metrics_text(struct coop *c, struct coop_mbuf *b, char *err, size_t errlen);

/* Listen on [global] metrics_listen (nothing when unset). 0 or -errno with
 * err filled. Control thread, from coop_start. */
int coop_metrics_open(struct coop *c, char *err, size_t errlen);
/* Stop listening and drop every client. Control thread. */
void coop_metrics_close(struct coop *c);

#endif
