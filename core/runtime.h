/* runtime.h - inside libcoop: the coop object, workers, cross-thread calls
 * and connections. What every module may use; embedders use coop.h. */
#ifndef COOP_RUNTIME_H
#define COOP_RUNTIME_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/coop.h"

#include "core/module.h"

struct coop_vs;
struct coop_admin;
struct coop_worker;
struct coop_conn_cursor;

/* A function to run on a worker's thread (see coop_worker_call). */
struct coop_call {
	void (*fn)(struct coop_worker *w, void *arg); /* runs on the worker */
	void *arg;                                    /* its argument */
	struct coop_call *next;                       /* queue link */
};

/* A worker thread. Everything reachable from it (loop, connections,
 * listeners once handed over) belongs to its thread, except the call queue
 * (mutex) and the async watcher (libev makes ev_async_send thread-safe). */
struct coop_worker {
	struct coop *coop;          /* runtime */
	unsigned id;                /* 0 .. n_workers-1 */
	pthread_t thread;           /* its thread */
	bool started;               /* thread was created */
	struct ev_loop *loop;       /* its own loop */
	ev_async wake;              /* kicks the loop to drain calls */
	pthread_mutex_t lock;       /* protects calls */
	struct coop_call *calls;    /* pending calls, LIFO; run in FIFO order */
	struct coop_conn *conns;    /* open connections (doubly linked) */
	_Atomic uint64_t n_conns;   /* how many (its thread writes, anyone reads):
				     * [global] max_connections sums them */
	struct coop_conn_cursor *cursors; /* walks over conns in progress (core/conn.c):
					   * a close moves them past the one it frees */
	bool stopping;              /* shutting down: refuse new connections */
	ev_timer stop_timer;        /* stopping: steps the connections still owing
				     * output towards their close (core/worker.c) */
	ev_tstamp stop_began;       /* when the stop began (connections quiet since
				     * then may close) */
	ev_tstamp stop_deadline;    /* when stop_grace ends: the rest are closed */
};

/* Counters of the connection limits for one VS on one worker: written only
 * by that worker (relaxed atomics), read by the control thread. */
struct coop_conn_wstats {
	_Atomic uint64_t refused_vs;     /* refused at the VS's max_connections */
	_Atomic uint64_t refused_global; /* refused at [global] max_connections */
	_Atomic uint64_t closed_out_max; /* closed: unsent output would pass out_max */
	_Atomic uint64_t closed_idle;    /* closed: idle_timeout passed */
} __attribute__((aligned(64)));

/* A VS's limit counters, one per worker (struct coop conn_vs). They are the
 * core's, not the VS's, so they are kept beside the VS table: made and
 * freed by coop_conn_vs_sync() while the workers are parked. */
struct coop_conn_vs {
	const struct coop_vs *vs;    /* the VS (the sort key: its address) */
	struct coop_conn_wstats *ws; /* n_workers of them; NULL: out of memory, not counted */
};

/* One VS's limit counters summed over its workers. */
struct coop_conn_limit_stats {
	uint64_t refused_vs;     /* accepts refused (and connects failed) at its max_connections */
	uint64_t refused_global; /* ... at [global] max_connections */
	uint64_t closed_out_max; /* closed because unsent output would pass out_max */
	uint64_t closed_idle;    /* closed by idle_timeout */
};

/* Workers held still by the control thread (coop_workers_park): each
 * waits in a call until released, so shared tables may change. */
struct coop_park {
	pthread_mutex_t lock; /* protects the fields below */
	pthread_cond_t cond;  /* parked changed, or released */
	unsigned parked;      /* workers waiting now */
	unsigned done;        /* workers that ran a coop_workers_run call */
	bool hold;            /* workers must wait */
};

/* The runtime. Owned by the control thread; workers read cfg, services and
 * vs (read-only while running). */
struct coop {
	struct coop_config *cfg;          /* validated configuration */
	const struct coop_service **services; /* registered services */
	size_t n_services;
	struct coop_vs **vs;              /* VSes in config order (added ones last) */
	size_t n_vs;
	size_t cap_vs;                    /* entries allocated (base/array.h) */
	struct coop_worker *workers;      /* cfg->global.workers of them */
	unsigned n_workers;
	struct ev_loop *loop;             /* control loop */
	ev_async stop_async;              /* coop_stop() -> control loop */
	ev_signal sigint, sigterm, sigquit; /* shutdown signals */
	ev_signal sighup;                 /* reload */
	ev_signal sigusr1, sigusr2;       /* logged and ignored (their default kills) */
	bool own_signals;                 /* the runtime handles them (default true) */
	struct coop_admin *admin;         /* admin socket (NULL if none) */
	struct coop_metrics *metrics;     /* metrics listener (core/metrics.c), NULL if none */
	const struct coop_module *const *mods; /* modules in hook order (runtime/) */
	size_t n_mods;
	void *priv[COOP_MOD_MAX];         /* each module's runtime state */
	void (*vs_lost)(struct coop_vs *vs, const char *why); /* coop_vs_lose() */
	struct coop_park park;            /* coop_workers_park / coop_workers_run */
	bool started;                     /* coop_start succeeded */
	bool running;                     /* workers run */
	double drain_timeout;             /* [global] drain_timeout, seconds */
	uint64_t reloads;                 /* reload commands and SIGHUPs so far */
	struct coop_conn_vs *conn_vs;     /* every VS's limit counters, sorted by VS
					   * address; changed only while the workers
					   * are parked (coop_conn_vs_sync) */
	size_t n_conn_vs;
	uint64_t conn_vs_hash;            /* FNV-1a of the VS table conn_vs was made for */
	_Atomic uint32_t max_conns;       /* [global] max_connections in effect, auto
					   * resolved (0: no limit); workers read it */
	double stop_grace;                /* [global] stop_grace, seconds, for worker_stop */
};

/* Worker running the calling thread, or NULL on a non-worker thread. */
struct coop_worker *coop_worker_self(void);

/* Queue fn(w, arg) to run on worker w's thread. Any thread. 0 or -errno. */
int coop_worker_call(struct coop_worker *w, void (*fn)(struct coop_worker *, void *), void *arg);

/* Run fn(w, arg) on every running worker and return once all have run it.
 * Calls queued earlier on a worker run first, so after it returns no
 * worker is inside a callback that started before. Does nothing when the
 * workers are not running. Control thread. */
void coop_workers_run(struct coop *c, void (*fn)(struct coop_worker *, void *), void *arg);
/* Hold every running worker still (each waits inside a call) and return
 * once all wait: until coop_workers_unpark, the control thread may change
 * anything workers read. Keep it short: their traffic waits meanwhile.
 * Control thread. */
void coop_workers_park(struct coop *c);
void coop_workers_unpark(struct coop *c);
/* Create and start the workers, running each module's worker_start on
 * its thread first; stop them (worker_stop, then the connections get
 * [global] stop_grace to flush what they owe, then the loop ends) and join
 * them, every worker's grace at the same time; free them. Control thread. */
int coop_workers_start(struct coop *c, char *err, size_t errlen);
void coop_workers_stop(struct coop *c);
void coop_workers_free(struct coop *c);

/* Look up a registered service by name, or NULL. */
const struct coop_service *coop_service_find(const struct coop *c, const char *name);

/* Connections (core/conn.c), worker thread only. */
/* Take ownership of an accepted or connecting fd on worker w. */
struct coop_conn *coop_conn_new(struct coop_worker *w, struct coop_vs *vs,
				const struct coop_service *svc, int fd, bool outbound);
/* An accepted connection is ready: record the peer, call on_accept, read. */
void coop_conn_accepted(struct coop_conn *conn, const struct sockaddr *peer, socklen_t plen);
/* An outbound connection was started (connect returned EINPROGRESS or 0). */
void coop_conn_connecting(struct coop_conn *conn, const struct sockaddr *peer, socklen_t plen,
			  coop_connect_cb cb, void *arg);
/* Close every connection of worker w at once (shutdown without grace). */
void coop_conn_close_all(struct coop_worker *w);
/* Close worker w's connections that belong to vs. A service's on_close may
 * close other connections (of vs or not) meanwhile. */
void coop_conn_close_vs(struct coop_worker *w, const struct coop_vs *vs);
/* A graceful stop (w->stopping and w->stop_began set, listeners stopped),
 * one step: connections are served on; one whose peer shut down its side,
 * or that has been quiet for a moment, sends what it owes, shuts down its
 * sending side and is closed once the peer acknowledged it all; force
 * closes the rest as they are. Returns true when w has no connection
 * left. Call it until then (core/worker.c polls it). */
bool coop_conn_stop_step(struct coop_worker *w, bool force);
/* May worker w open one more connection for vs (coop_vs_tcp_connect)? 0, or
 * -EMFILE when vs or the runtime has max_connections open (counted). */
int coop_conn_admit(struct coop_vs *vs, struct coop_worker *w);

/* Connection limits, control thread. */
/* Give every VS of c->vs its limit counters (kept for VSes that had them,
 * freed for VSes gone). Workers parked or not running. 0 or -ENOMEM (the
 * VSes without counters then count nothing). */
int coop_conn_vs_sync(struct coop *c);
/* Free every VS's limit counters (workers stopped). */
void coop_conn_vs_free(struct coop *c);
/* vs's limit counters, summed over the workers (zeros when it has none). */
void coop_conn_limit_stats_get(const struct coop_vs *vs, struct coop_conn_limit_stats *out);
/* Take [global] max_connections from c->cfg (auto: 7/8 of RLIMIT_NOFILE)
 * into the value workers read (they never read c->cfg, which a reload
 * replaces): at start, and by the reload that changed c->cfg. Control
 * thread. */
void coop_conn_global_apply(struct coop *c);
/* [global] max_connections in effect (0: none). Any thread. */
uint32_t coop_conn_global_max(const struct coop *c);

#endif
