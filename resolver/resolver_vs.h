/* resolver_vs.h - the resolver inside libcoop: parsers for the config
 * loader's [vs NAME] key table, the VS lifecycle hooks, and what the admin
 * commands show. Embedders use resolver/coop_resolver.h. */
#ifndef COOP_RESOLVER_VS_H
#define COOP_RESOLVER_VS_H

#include <stddef.h>

#include "resolver/coop_resolver.h"

struct coop;
struct coop_json;
struct coop_vs;
struct ev_loop;

/* Key parsers of the module's [vs NAME] key table (obj is the struct
 * coop_vs_cfg being loaded). 0, or -errno with the problem in why.
 * Control thread. */
int coop_resolver_cfg_parse_dns(void *obj, const char *val, char *why, size_t whylen);
int coop_resolver_cfg_parse_search(void *obj, const char *val, char *why, size_t whylen);
int coop_resolver_cfg_parse_ndots(void *obj, const char *val, char *why, size_t whylen);
int coop_resolver_cfg_parse_timeout(void *obj, const char *val, char *why, size_t whylen);
int coop_resolver_cfg_parse_attempts(void *obj, const char *val, char *why, size_t whylen);
int coop_resolver_cfg_parse_cache(void *obj, const char *val, char *why, size_t whylen);
int coop_resolver_cfg_parse_hosts(void *obj, const char *val, char *why, size_t whylen);

/* VS lifecycle (the module's hooks), control thread unless said otherwise. */
/* Create vs->resolver from vs->cfg->dns (sockets through coop_vs_socket;
 * one slot per worker, one for the control loop, one spare), after the
 * isolation is up. 0 or -errno with err filled. */
int coop_vs_resolver_up(struct coop_vs *vs, char *err, size_t errlen);
/* The VS is being lost: refuse new lookups. */
void coop_vs_resolver_shutdown(struct coop_vs *vs);
/* On worker thread loop's thread: let go of the VS's channel there. */
void coop_vs_resolver_release(struct coop_vs *vs, struct ev_loop *loop);
/* Free vs->resolver. No worker may still use it: workers stopped, or each
 * released its channel. */
void coop_vs_resolver_down(struct coop_vs *vs);

/* For `show vs NAME`, `show vs` and `show stats`: write the member
 * "resolver" of a VS object (enabled, servers, search, counters; or
 * enabled false and why), and add its counters to *sum. */
void coop_vs_resolver_json(struct coop_json *out, const struct coop_vs *vs,
			   struct coop_resolver_stats *sum);
/* Write the member "resolver" holding the totals. */
void coop_resolver_json_totals(struct coop_json *out, const struct coop_resolver_stats *sum);

#endif
