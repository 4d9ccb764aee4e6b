/* coop_fwd.h - forwarder core, build side: Maglev tables, atomic publication, flow cache, fragment table. */
#ifndef COOP_FWD_H
#define COOP_FWD_H

/*
 * The lookup side (flow hash, slot, key/value layouts shared with XDP) is
 * coop_fwd_lookup.h, included here. docs/forwarder.md describes the
 * algorithms and the contract with the data path.
 *
 * Threads: a Maglev table is immutable once built, so any number of threads
 * may read it. A service (publication point) is written by one thread (the
 * control thread) and read by up to max_readers threads. A flow cache and a
 * fragment table belong to one thread each (a worker; per-CPU maps in XDP)
 * and take no lock.
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
 * owns the new table (free with coop_fwd_maglev_free or hand it to
 * coop_fwd_service_publish). Returns 0, -EINVAL (bad size, key, id, weight,
 * duplicate key or id; message in err) or -ENOMEM. Any thread: it touches
 * nothing shared, so a build never disturbs lookups in the current table. */
int coop_fwd_maglev_build(const struct coop_fwd_maglev_config *cfg,
			  const struct coop_fwd_backend *backends, size_t n,
			  struct coop_fwd_maglev **out, char *err, size_t errlen);

/* Free a table that was never published (published ones are freed by their
 * service). NULL is ignored. */
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

/* --- publication ------------------------------------------------------------- */

/*
 * The current table of one service (a VIP, or the node set), swapped by one
 * atomic pointer exchange. Readers announce the table they use in a hazard
 * slot of their own, so a retired table is freed only once no reader holds
 * it; readers never wait and never see a half-built table. Opaque.
 */
struct coop_fwd_service;

/* New service with no table (lookups through it give COOP_FWD_NO_BACKEND
 * until the first publish) and max_readers reader slots (1..1024). NULL on
 * ENOMEM or bad max_readers. Control thread. */
struct coop_fwd_service *coop_fwd_service_new(unsigned int max_readers);

/* Free the service, its current and retired tables. No reader may be inside
 * enter/leave. NULL is ignored. Control thread. */
void coop_fwd_service_free(struct coop_fwd_service *svc);

/* Make t the current table in one atomic step (ownership passes to svc);
 * the previous one is retired and freed as soon as no reader holds it.
 * Control thread (a single writer). */
void coop_fwd_service_publish(struct coop_fwd_service *svc, struct coop_fwd_maglev *t);

/* Free retired tables that no reader holds. Returns how many are still
 * held. publish calls it; call it again later (e.g. from a timer) to free
 * tables readers held then. Control thread. */
size_t coop_fwd_service_reclaim(struct coop_fwd_service *svc);

/* Reader side: pin and return the current table (NULL before the first
 * publish); it stays valid until coop_fwd_service_leave with the same slot.
 * slot is the caller's own, 0..max_readers-1 (e.g. the worker index); one
 * thread per slot. Enter once per batch of packets, not per packet: it
 * costs one full memory barrier. Lock-free; never blocks. */
const struct coop_fwd_maglev *coop_fwd_service_enter(struct coop_fwd_service *svc,
						     unsigned int slot);

/* Unpin the table entered with slot. */
void coop_fwd_service_leave(struct coop_fwd_service *svc, unsigned int slot);

/* --- flow cache (one per thread) -------------------------------------------- */

/* Flow-cache parameters; coop_fwd_flowcache_config_default() fills them. */
struct coop_fwd_flowcache_config {
	/* Maximum number of flows; the least recently used one is evicted to
	 * make room. 1..2^26. Default 65536. */
	uint32_t capacity;
	/* Idle timeout of non-TCP entries (UDP, ICMP, ...), ns; 0 = never.
	 * TCP entries live until evicted. Default 30 s. */
	uint64_t idle_ns;
	/* New entries per second at most (token bucket); 0 = unlimited. A
	 * packet refused by the cap still gets the table's answer, it is only
	 * not cached, so a SYN flood cannot evict established flows. Default
	 * 100,000. */
	uint32_t insert_rate;
	/* Bucket depth in inserts; 0 = insert_rate (one second's worth). */
	uint32_t insert_burst;
};

/* Counters of a flow cache (monotonic, except entries). */
struct coop_fwd_flowcache_stats {
	uint64_t hits;      /* lookups answered by a valid cached entry */
	uint64_t misses;    /* lookups that took the table's answer */
	uint64_t inserts;   /* entries created */
	uint64_t evictions; /* LRU entries dropped to make room */
	uint64_t gone;      /* cached backend removed: entry replaced */
	uint64_t drained;   /* SYN to a draining backend: entry replaced */
	uint64_t expired;   /* idle non-TCP entry: entry replaced */
	uint64_t capped;    /* inserts refused by the rate cap */
	uint64_t entries;   /* flows cached now */
};

/* A per-thread bounded LRU flow cache. Opaque. */
struct coop_fwd_flowcache;

/* Packet flags for coop_fwd_flowcache_select. */
#define COOP_FWD_PKT_SYN 0x1u /* TCP SYN without ACK: a new connection */

void coop_fwd_flowcache_config_default(struct coop_fwd_flowcache_config *cfg);

/* New empty cache (cfg NULL: defaults). Returns 0 and *out, -EINVAL with a
 * message, or -ENOMEM. The owning thread is the one that uses it. */
int coop_fwd_flowcache_new(const struct coop_fwd_flowcache_config *cfg,
			   struct coop_fwd_flowcache **out, char *err, size_t errlen);

void coop_fwd_flowcache_free(struct coop_fwd_flowcache *fc);

/*
 * The backend for a packet of flow t (ports zero for non-port protocols, as
 * coop_fwd_tuple_v4/v6 make them) at time now_ns (CLOCK_MONOTONIC): the
 * cached backend when coop_fwd_flow_verdict() allows it, else the table's
 * answer, which is then cached (within the insert cap). table is the
 * current table (NULL: nothing active, e.g. before the first publish).
 * flags: COOP_FWD_PKT_*. Returns a backend id or COOP_FWD_NO_BACKEND.
 * Owning thread.
 */
uint32_t coop_fwd_flowcache_select(struct coop_fwd_flowcache *fc, const struct coop_fwd_maglev *table,
				   const struct coop_fwd_tuple *t, unsigned int flags, uint64_t now_ns);

/* Cached backend of t without touching LRU order or counters: 0 and
 * *backend, or -ENOENT. Owning thread. */
int coop_fwd_flowcache_peek(const struct coop_fwd_flowcache *fc, const struct coop_fwd_tuple *t,
			    uint32_t *backend);

void coop_fwd_flowcache_stats_get(const struct coop_fwd_flowcache *fc,
				  struct coop_fwd_flowcache_stats *out);

/* --- fragment table (one per thread) ----------------------------------------- */

/*
 * Fragments (Maglev section 4.3) take two steps. Every node steers every
 * fragment by the 3-tuple (coop_fwd_frag_hash) to one "fragment owner", so
 * all fragments of a datagram meet. There, the first fragment (offset 0,
 * ports present) gets the ordinary 5-tuple decision, which the fragment
 * table remembers under (src, dst, proto, IP ID) for the later fragments.
 */

struct coop_fwd_fragtable_config {
	/* Maximum datagrams remembered; oldest evicted first. Default 8192. */
	uint32_t capacity;
	/* Entry lifetime from the first fragment, ns. Default 30 s (Linux's
	 * ipfrag_time). */
	uint64_t timeout_ns;
};

/* Counters of a fragment table. */
struct coop_fwd_fragtable_stats {
	uint64_t notes;     /* first fragments recorded */
	uint64_t hits;      /* later fragments that found their datagram */
	uint64_t misses;    /* later fragments that did not (first not seen yet, or expired) */
	uint64_t evictions; /* entries dropped to make room */
	uint64_t entries;   /* datagrams remembered now */
};

/* A per-thread bounded fragment table. Opaque. */
struct coop_fwd_fragtable;

void coop_fwd_fragtable_config_default(struct coop_fwd_fragtable_config *cfg);

int coop_fwd_fragtable_new(const struct coop_fwd_fragtable_config *cfg,
			   struct coop_fwd_fragtable **out, char *err, size_t errlen);

void coop_fwd_fragtable_free(struct coop_fwd_fragtable *ft);

/* Remember that datagram k goes to backend (its first fragment's decision). */
void coop_fwd_fragtable_note(struct coop_fwd_fragtable *ft, const struct coop_fwd_frag_key *k,
			     uint32_t backend, uint64_t now_ns);

/* Backend remembered for datagram k: 0 and *backend, or -ENOENT. */
int coop_fwd_fragtable_lookup(struct coop_fwd_fragtable *ft, const struct coop_fwd_frag_key *k,
			      uint64_t now_ns, uint32_t *backend);

/*
 * At the fragment owner: the backend of a fragment of the datagram with IP ID
 * id. first: the fragment at offset 0, t holding its ports; the decision is
 * the flow cache's (so it agrees with the flow's unfragmented packets) and
 * is recorded. Later fragments: t's ports are ignored; returns the recorded
 * backend, or COOP_FWD_NO_BACKEND when the first fragment has not been seen
 * (the data path then delivers locally or drops). Owning thread.
 */
uint32_t coop_fwd_fragtable_select(struct coop_fwd_fragtable *ft, struct coop_fwd_flowcache *fc,
				   const struct coop_fwd_maglev *table, const struct coop_fwd_tuple *t,
				   uint32_t id, bool first, uint64_t now_ns);

void coop_fwd_fragtable_stats_get(const struct coop_fwd_fragtable *ft,
				  struct coop_fwd_fragtable_stats *out);

#ifdef __cplusplus
}
#endif
#endif
