/* coop_fwd.h - forwarder core, build side: backend keys, Maglev table build and lookup. */
#ifndef COOP_FWD_H
#define COOP_FWD_H

/*
 * The lookup side (flow hash, slot, key/value layouts and flow-cache rules
 * shared with XDP) is coop_fwd_lookup.h, included here. docs/forwarder.md
 * describes the algorithms; docs/xdp.md the data path that uses them.
 *
 * The per-flow state (flow cache, fragment table) lives in the XDP data
 * path's maps, not here; the userspace reference model of it that tests and
 * benchmarks use (fwd/model/) is not part of the library.
 *
 * Threads: a Maglev table is immutable once built, so any number of threads
 * may read it; building touches nothing shared.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coop_fwd_lookup.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest backend key, in bytes. */
#define COOP_FWD_KEY_MAX 64
/* Largest table size accepted (16,777,213 is the largest prime below 2^24);
 * bigger tables no longer fit the caches that make lookups cheap. */
#define COOP_FWD_M_MAX 16777213u
/* Largest weight. Shares are exact to one entry per backend, so ratios far
 * beyond this leave light backends a handful of entries: use drain (0). */
#define COOP_FWD_WEIGHT_MAX 10000u

/* --- backends and tables ---------------------------------------------------- */

/* How a table maps a flow hash to a backend. */
enum coop_fwd_mode {
	COOP_FWD_MODE_MAGLEV, /* Maglev lookup table of M entries */
	COOP_FWD_MODE_ECMP,   /* hash mod N over the active backends (comparison) */
};

/* One backend (a node, or address + port) as given to the build. */
struct coop_fwd_backend {
	/* Stable identity: the same bytes on every node, e.g. from
	 * coop_fwd_backend_key_addr() or a node name. Backends are ordered by
	 * key (memcmp, then length) and the permutation is derived from it, so
	 * the input order never matters. 1..COOP_FWD_KEY_MAX bytes, unique. */
	const void *key;
	/* Length of key in bytes. */
	size_t keylen;
	/* What table lookups return for this backend: unique, below
	 * COOP_FWD_ID_MAX (the data path indexes its node maps with it). */
	uint32_t id;
	/* Relative frequency of turns when filling the table: weight 2 gets
	 * twice the entries of weight 1. 0 = draining: no entries, but known,
	 * so cached established flows stay. At most COOP_FWD_WEIGHT_MAX. */
	uint32_t weight;
};

/* Table parameters. */
struct coop_fwd_maglev_config {
	/* Maglev mode: table size, a prime >= 100 x the number of backends and
	 * <= COOP_FWD_M_MAX; 0 means COOP_FWD_M_DEFAULT. Ignored in ECMP mode. */
	uint32_t m;
	/* Maglev, or mod-N for comparison. */
	enum coop_fwd_mode mode;
	/* Skip the M >= 100 x N rule (M must still be prime). Only for
	 * experiments that reproduce the paper's N = 1,000, M = 65,537 figures;
	 * configuration never sets it, since below 100 entries per backend the
	 * shares of the hash space differ by more than 1 %. */
	bool allow_small;
};

/* An immutable built table. Opaque. */
struct coop_fwd_maglev;

/* Canonical key for an address + port backend: family byte (4 or 6), the
 * address (4 or 16 bytes, network order), the port (network order). Node
 * names are used as keys verbatim; they cannot collide with these since
 * names are printable. family is AF_INET or AF_INET6, addr a struct in_addr
 * or in6_addr, port in host order. Returns the key length (7 or 19) or
 * -EINVAL (family) / -ENOSPC (len too small). Any thread. */
int coop_fwd_backend_key_addr(void *buf, size_t len, int family, const void *addr, uint16_t port);

/* Is m an acceptable table size for n backends? Returns 0, or -EINVAL with
 * a message suggesting the next good prime in err. Any thread. */
int coop_fwd_maglev_check_size(uint32_t m, size_t n, char *err, size_t errlen);

/* Smallest prime >= x (x <= COOP_FWD_M_MAX), 0 if there is none in range. */
uint32_t coop_fwd_prime_next(uint32_t x);

/* Build a table from n backends (cfg NULL: Maglev, default size). The
 * backends array and keys are only read during the call. On success *out
 * owns the new table (free with coop_fwd_maglev_free). Returns 0, -EINVAL (bad size, key, id, weight,
 * duplicate key or id; message in err) or -ENOMEM. Any thread: it touches
 * nothing shared, so a build never disturbs lookups in the current table. */
int coop_fwd_maglev_build(const struct coop_fwd_maglev_config *cfg,
			  const struct coop_fwd_backend *backends, size_t n,
			  struct coop_fwd_maglev **out, char *err, size_t errlen);

/* Free a table. NULL is ignored. */
void coop_fwd_maglev_free(struct coop_fwd_maglev *t);

/* Backend id owning a flow hash (coop_fwd_hash()), or COOP_FWD_NO_BACKEND
 * when no backend is active. */
uint32_t coop_fwd_maglev_lookup(const struct coop_fwd_maglev *t, uint32_t hash);

/* COOP_FWD_STATE_ACTIVE / _DRAINING / _ABSENT of a backend id in t. */
uint32_t coop_fwd_maglev_state(const struct coop_fwd_maglev *t, uint32_t id);

/* Mode the table was built in. */
enum coop_fwd_mode coop_fwd_maglev_mode(const struct coop_fwd_maglev *t);

/* Maglev mode: the M entries (backend ids, or COOP_FWD_NO_BACKEND when no
 * backend is active), to copy into the data path's array map; *m receives
 * M. ECMP mode: NULL and *m = 0. Valid as long as t. */
const uint32_t *coop_fwd_maglev_entries(const struct coop_fwd_maglev *t, uint32_t *m);

/* The active backends' ids in key order (the ECMP list); *n receives their
 * number. Valid as long as t. */
const uint32_t *coop_fwd_maglev_active(const struct coop_fwd_maglev *t, uint32_t *n);

/* MurmurHash3_x86_32 of len bytes: what coop_fwd_hash() computes over the
 * tuple's byte string, and what derives a backend's permutation from its
 * key (seeds COOP_FWD_SEED_OFFSET / _SKIP). */
uint32_t coop_fwd_hash_bytes(const void *data, size_t len, uint32_t seed);

#ifdef __cplusplus
}
#endif
#endif
