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
	bool stopping;              /* shutting down: refuse new connections */
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
	struct coop_vs **vs;              /* VSes in config order */
	size_t n_vs;
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
	ev_async released;                /* a worker let go of a VS being released */
	void (*released_cb)(struct coop *c); /* what the runtime does then */
	void (*vs_lost)(struct coop_vs *vs, const char *why); /* coop_vs_lose() */
	struct coop_park park;            /* coop_workers_park / coop_workers_run */
	bool started;                     /* coop_start succeeded */
	bool running;                     /* workers run */
	double drain_timeout;             /* [global] drain_timeout, seconds */
	uint64_t reloads;                 /* reload commands and SIGHUPs so far */
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
 * its thread first; stop them (worker_stop, close every connection, leave
 * the loop) and join; free them. Control thread. */
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
/* Close every connection of worker w (shutdown). */
void coop_conn_close_all(struct coop_worker *w);
/* Close worker w's connections that belong to vs. */
void coop_conn_close_vs(struct coop_worker *w, const struct coop_vs *vs);

#endif
