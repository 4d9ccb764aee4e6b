/* fwd_priv.h - forwarder core internals shared by the fwd/ sources and the reference model (fwd/model/): the built table's layout, permutations, messages. */
#ifndef COOP_FWD_PRIV_H
#define COOP_FWD_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fwd/coop_fwd.h"

_Static_assert(sizeof(struct coop_fwd_flow) == 16, "flow value layout");
_Static_assert(sizeof(struct coop_fwd_frag_val) == 16, "frag value layout");

/* A built table; immutable after coop_fwd_maglev_build returns, so any
 * thread may read it (its owner frees it). */
struct coop_fwd_maglev {
	/* The reference model's publication point (fwd/model/service.c)
	 * chains the tables it retired here; written only by its publisher. */
	struct coop_fwd_maglev *retired_next;
	enum coop_fwd_mode mode;              /* Maglev or ECMP */
	uint32_t m;                           /* entries (Maglev mode), 0 in ECMP mode */
	uint32_t nactive;                     /* backends with weight > 0 */
	uint32_t nstate;                      /* ids below this have a state byte */
	uint32_t *entries;                    /* m backend ids */
	uint32_t *active;                     /* nactive ids in key order */
	uint8_t *state;                       /* nstate COOP_FWD_STATE_* bytes, by id */
};

static inline uint32_t coop_fwd_maglev_state_of(const struct coop_fwd_maglev *t, uint32_t id)
{
	return t && id < t->nstate ? t->state[id] : COOP_FWD_STATE_ABSENT;
}

/* Permutation of a backend key in a table of m: first slot and step. */
void coop_fwd_maglev_perm(const void *key, size_t keylen, uint32_t m, uint32_t *offset,
			  uint32_t *skip);

/* Messages for the err buffers of the fwd/ sources. */
void coop_fwd_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
