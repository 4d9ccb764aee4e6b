/* fwd_model.h - userspace reference model of the forwarder's per-flow state (publication, flow cache, fragment table), for tests and benchmarks; not part of libcoop. */
#ifndef COOP_FWD_MODEL_H
#define COOP_FWD_MODEL_H

/*
 * What the XDP data path (fwd/bpf/coop_xdp.bpf.c) does to a flow, written
 * as plain userspace code: the same key and value layouts and the same
 * verdict and rate-cap functions (fwd/coop_fwd_lookup.h), over exact LRU
 * tables instead of the kernel's maps. It exists so that tests and
 * benchmarks can state and measure the semantics (which flows survive a
 * node-set change, what a SYN flood evicts) deterministically, without
 * root or a kernel; docs/forwarder.md describes it, docs/xdp.md the real
 * thing and where the two differ.
 *
 * Built into build/libcoop_fwd_model.a and linked only into the unit tests
 * under tests/unit/fwd/ and the benchmarks; never installed. coopd does
 * not use it.
 *
 * Threads: a service (publication point) is written by one thread and read
 * by up to max_readers threads. A flow cache and a fragment table belong
 * to one thread each and take no lock.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd/coop_fwd.h"

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

/* Make t the current table in one atomic step (ownership passes to svc,
 * which frees it: do not coop_fwd_maglev_free it);
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
	 * make room. 1..2^26. Default 65536 (COOP_XDP_FLOWS_DEFAULT, the data
	 * path's default flow_cache_size). */
	uint32_t capacity;
	/* Idle timeout of non-TCP entries (UDP, ICMP, ...), ns; 0 = never.
	 * TCP entries live until evicted. Default
	 * COOP_FWD_FLOW_IDLE_NS_DEFAULT (30 s). */
	uint64_t idle_ns;
	/* New entries per second at most (token bucket); 0 = unlimited. A
	 * packet refused by the cap still gets the table's answer, it is only
	 * not cached, so a SYN flood cannot evict established flows. Default
	 * COOP_FWD_INSERT_RATE_DEFAULT (100,000). */
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
	/* Maximum datagrams remembered; oldest evicted first. Default 8192
	 * (COOP_XDP_FRAGS_DEFAULT, the data path's). */
	uint32_t capacity;
	/* Entry lifetime from the first fragment, ns. Default
	 * COOP_FWD_FRAG_TIMEOUT_NS_DEFAULT (30 s, Linux's ipfrag_time). */
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

#endif
