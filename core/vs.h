/* vs.h - virtual servers inside libcoop: the VS object every module sees,
 * its states and the isolation backend interface.
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

/* An isolation backend: how a VS's sockets are scoped (its own namespace,
 * or a mark in a shared one). The backend is a module (core/module.h)
 * whose hooks run only for the VSes it isolates; these are the extra
 * operations only a backend has. Backend state per VS hangs off
 * vs->iso_priv, per runtime off coop_module_priv(). */
struct coop_iso_ops {
	const char *name; /* "netns", "pbr": the isolation = value */
	/* A socket in the VS's scope: fd or -errno. Any thread. */
	int (*socket)(struct coop_vs *vs, int domain, int type, int protocol);
	/* The namespace the VS's sockets live in, for show vs ("" = coopd's
	 * own). Any thread. */
	const char *(*namespace)(const struct coop_vs *vs);
};

/* Lifecycle of a VS (control thread). */
enum coop_vs_state {
	COOP_VS_DOWN,     /* nothing in the kernel */
	COOP_VS_UP,       /* kernel state and listeners in place */
	COOP_VS_DRAINING, /* `vs drain`: listeners closed, connections finish */
	COOP_VS_REMOVING, /* left the configuration: draining, then released */
	COOP_VS_LOSING,   /* its namespace vanished: workers are letting go */
	COOP_VS_LOST,     /* its namespace vanished: listeners, connections and
			   * kernel state released; it serves nothing */
};

/* Allocate a VS owning a copy of cfg (no kernel state), scoped by iso.
 * 0 or -errno with err filled. Control thread. */
int coop_vs_new(struct coop *c, const struct coop_vs_cfg *cfg, const struct coop_iso_ops *iso,
		struct coop_vs **out, char *err, size_t errlen);
/* Free a VS that is down, with its configuration copy. */
void coop_vs_free(struct coop_vs *vs);
/* The VS's namespace was deleted outside coop (`ip netns del`): stop
 * serving it and release it (the runtime's vs_lost). Control thread. */
void coop_vs_lose(struct coop_vs *vs, const char *why);
/* "up", "draining", ... for show vs and metrics. */
const char *coop_vs_state_name(enum coop_vs_state st);

/* Counters of one VS on one worker: written only by that worker (relaxed
 * atomics, single writer), read by anyone. One cache line each. */
struct coop_vs_wstats {
	_Atomic uint64_t accepted;  /* connections accepted */
	_Atomic uint64_t outbound;  /* outbound connections opened */
	_Atomic uint64_t closed;    /* connections closed (both kinds) */
	_Atomic uint64_t bytes_in;  /* payload received */
	_Atomic uint64_t bytes_out; /* payload sent */
} __attribute__((aligned(64)));

struct coop_vs {
	struct coop *coop;                /* runtime it belongs to */
	struct coop_vs_cfg *cfg;          /* its own copy of its [vs NAME] section;
					   * replaced (workers parked) when a
					   * reload changes it in place */
	const struct coop_iso_ops *iso;   /* isolation backend */
	void *iso_priv;                   /* backend state */
	enum coop_vs_state state;         /* lifecycle */
	struct coop_listener *listeners;  /* its TCP listening sockets, one per
					   * listen x address x worker (vs/listener.c) */
	size_t n_listeners;               /* how many */
	ev_timer drain_timer;             /* REMOVING/DRAINING: polls the connections left */
	double drain_deadline;            /* REMOVING: when the rest are closed */
	struct coop_vs_cfg *successor;    /* REMOVING for a rebuild: the section to
					   * bring up under the same name once gone */
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
