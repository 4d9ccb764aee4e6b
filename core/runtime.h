/* runtime.h - inside the runtime: the coop object, workers, cross-thread
 * calls. For libcoop's own modules; embedders use coop.h. */
#ifndef COOP_RUNTIME_H
#define COOP_RUNTIME_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/coop.h"

struct coop_vs;
struct coop_admin;
struct coop_udp;
struct coop_fwd_xdp;
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
	ev_signal sigint, sigterm;        /* shutdown signals */
	struct coop_admin *admin;         /* admin socket (NULL if none) */
	struct coop_metrics *metrics;     /* metrics listener (core/metrics.c), NULL if none */
	struct coop_udp *udp;             /* UDP demux (vs/udp.c), from coop_start */
	struct coop_fwd_xdp *fwd;         /* XDP forwarder (fwd/xdp_ctl.c), NULL if none */
	int ns_watch_fd;                  /* inotify on /run/netns, -1 if none */
	ev_io ns_watch;                   /* its watcher on the control loop */
	ev_async released;                /* a worker let go of a lost VS */
	bool started;                     /* coop_start succeeded */
};

/* Worker running the calling thread, or NULL on a non-worker thread. */
struct coop_worker *coop_worker_self(void);

/* Queue fn(w, arg) to run on worker w's thread. Any thread. 0 or -errno. */
int coop_worker_call(struct coop_worker *w, void (*fn)(struct coop_worker *, void *), void *arg);

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
