/* vs.h - virtual servers inside libcoop: the VS object, its lifecycle and
 * the isolation backend interface (netns now, pbr next).
 *
 * A struct coop_vs is created, brought up and torn down by the control
 * thread. While the runtime runs, its fields are read-only except the
 * per-worker stats, each written only by its worker. */
#ifndef COOP_VS_H
#define COOP_VS_H

#include <ev.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/config.h"
#include "core/coop.h"

struct coop_vs;
struct coop_worker;
struct coop_rpc_reg;

/* An isolation backend. Every operation is given the VS; backend state
 * hangs off vs->iso_priv. */
struct coop_iso_ops {
	const char *name; /* "netns", "pbr": the isolation = value */
	/* Create or attach the VS's kernel state (namespace, links,
	 * addresses, routes, rules). On failure undo whatever was done and
	 * return -errno with a message in err. Control thread. */
	int (*up)(struct coop_vs *vs, char *err, size_t errlen);
	/* Undo exactly what up() created, nothing else. Control thread. */
	void (*down)(struct coop_vs *vs);
	/* A socket in the VS's scope: fd or -errno. Any thread. */
	int (*socket)(struct coop_vs *vs, int domain, int type, int protocol);
	/* Optional (NULL = none). Open a batch around many up()/down()
	 * calls: until batch_commit, the backend may only record them, so
	 * that state shared by many VSes (pbr: one rule tree per namespace)
	 * is computed and sent once. May read the kernel, changes nothing;
	 * -errno with err filled stops coop_start before any VS is up. A
	 * second begin while a batch is open does nothing. Control thread. */
	int (*batch_begin)(struct coop *c, char *err, size_t errlen);
	/* Optional. Apply what up()/down() recorded since batch_begin. On
	 * failure the VSes that were coming up are left without kernel state
	 * (down() still has to be called for them) and -errno comes back with
	 * err filled (err may be NULL). Control thread. */
	int (*batch_commit)(struct coop *c, char *err, size_t errlen);
};

extern const struct coop_iso_ops coop_iso_netns;
extern const struct coop_iso_ops coop_iso_pbr;

/* Open / commit a batch on every backend that has one (see the hooks
 * above); coop_start and shutdown bring VSes up and down inside one.
 * Control thread. */
int coop_vs_batch_begin(struct coop *c, char *err, size_t errlen);
int coop_vs_batch_commit(struct coop *c, char *err, size_t errlen);

/* Lifecycle, control thread only. */
/* Allocate a VS for cfg (no kernel state). 0 or -errno with err filled. */
int coop_vs_new(struct coop *c, const struct coop_vs_cfg *cfg, struct coop_vs **out,
		char *err, size_t errlen);
/* Isolation up, then one listener per listen entry x bind address x worker.
 * On failure everything done is undone. 0 or -errno with err filled. */
int coop_vs_up(struct coop_vs *vs, char *err, size_t errlen);
/* Close listeners (workers must no longer watch them), then isolation down. */
void coop_vs_down(struct coop_vs *vs);
void coop_vs_free(struct coop_vs *vs);

/* The VS's namespace was deleted outside coop (`ip netns del`): stop
 * serving it. Every worker closes the VS's listeners watchers and
 * connections; then its kernel state is released and it becomes LOST.
 * Control thread. */
void coop_vs_lose(struct coop_vs *vs, const char *why);
/* Finish losing vs once every worker let go (no-op before). Control thread. */
void coop_vs_released(struct coop_vs *vs);

/* Worker side (vs/listener.c): start/stop watching worker w's listeners
 * of vs. Worker thread only. */
void coop_vs_listeners_start(struct coop_vs *vs, struct coop_worker *w);
void coop_vs_listeners_stop(struct coop_vs *vs, struct coop_worker *w);

/* Counters of one VS on one worker: written only by that worker (relaxed
 * atomics, single writer), read by anyone. One cache line each. */
struct coop_vs_wstats {
	_Atomic uint64_t accepted;  /* connections accepted */
	_Atomic uint64_t outbound;  /* outbound connections opened */
	_Atomic uint64_t closed;    /* connections closed (both kinds) */
	_Atomic uint64_t bytes_in;  /* payload received */
	_Atomic uint64_t bytes_out; /* payload sent */
} __attribute__((aligned(64)));

/* A listening socket of a VS on one worker. Owned by that worker once the
 * worker runs; created and closed by the control thread outside that. */
struct coop_listener {
	struct coop_vs *vs;                /* owner VS */
	const struct coop_listen_cfg *cfg; /* its listen = entry */
	const struct coop_service *svc;    /* service it hands connections to */
	int fd;                            /* listening socket */
	unsigned worker;                   /* index of the owning worker */
	ev_io io;                          /* readable -> accept, on the worker loop */
};

enum coop_vs_state {
	COOP_VS_DOWN,  /* nothing in the kernel */
	COOP_VS_UP,    /* kernel state and listeners in place */
	COOP_VS_LOSING, /* its namespace vanished: workers are letting go */
	COOP_VS_LOST,   /* its namespace vanished: listeners, connections and
			 * kernel state released; it serves nothing */
};

struct coop_vs {
	struct coop *coop;                /* runtime it belongs to */
	const struct coop_vs_cfg *cfg;    /* its [vs NAME] section */
	const struct coop_iso_ops *iso;   /* isolation backend */
	void *iso_priv;                   /* backend state */
	enum coop_vs_state state;         /* lifecycle */
	struct coop_listener *listeners;  /* n_listeners = listens x addrs x workers */
	size_t n_listeners;
	struct coop_vs_wstats *wstats;    /* one per worker */
	unsigned n_workers;
	_Atomic unsigned releasing;       /* workers still letting go (LOSING) */
	char lost_why[128];               /* why it was lost (LOST), for admin */
	struct coop_rpc_reg *rpc;         /* its portmapper registry (vs/rpc.c);
					   * mutex inside, any thread */
	struct coop_resolver *resolver;   /* its resolver (resolver/vs_resolver.c),
					   * from up to down; any thread, each
					   * with its own channel */
};

/* Bump a single-writer counter (relaxed; only the owning worker writes). */
static inline void coop_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

#endif
