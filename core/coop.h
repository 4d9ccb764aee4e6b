/* coop.h - public API of libcoop: runtime, virtual servers, services, connections. */
#ifndef COOP_H
#define COOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "coop_log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A runtime: one control thread (the caller of coop_run) plus worker
 * threads, each with its own libev loop. Opaque. */
struct coop;
/* A virtual server: addresses, an isolation scope, listeners, stats. Opaque;
 * lives from coop_start until coop_run returns. */
struct coop_vs;
/* A TCP connection, owned by the worker thread that accepted or opened it.
 * Opaque; valid until its service's on_close callback returns. */
struct coop_conn;
/* One received UDP datagram (vs/coop_udp.h). Opaque; valid only during
 * the on_datagram call it is passed to. */
struct coop_dgram;

/*
 * A service: what a `listen = tcp:PORT NAME` entry hands connections to, and
 * a `listen = udp:PORT NAME` entry datagrams. Every callback runs on the
 * worker thread that owns the connection or received the datagram. A
 * service needs on_read for tcp listeners, on_datagram for udp ones.
 */
struct coop_service {
	/* Name used in configuration; [a-z0-9_-], at most 31 bytes. */
	const char *name;
	/* A connection was accepted (or an outbound one connected). Return 0 to
	 * keep it, a negative errno to close it at once. May be NULL. */
	int (*on_accept)(struct coop_conn *conn);
	/* Bytes arrived. The buffer is valid only during the call. */
	void (*on_read)(struct coop_conn *conn, const void *data, size_t len);
	/* The connection is going away (peer closed, error, shutdown). Called
	 * once; free per-connection data here. May be NULL. */
	void (*on_close)(struct coop_conn *conn);
	/* A datagram arrived for one of the VS's addresses on a udp listener;
	 * the buffer is valid only during the call. Reply with
	 * coop_dgram_reply() (vs/coop_udp.h). May be NULL (no udp use). */
	void (*on_datagram)(struct coop_dgram *dg, const void *data, size_t len);
	/* Application pointer, returned by coop_conn_service_data() and
	 * coop_dgram_service_data(). */
	void *data;
};

/* Per-VS counters, summed over workers. */
struct coop_vs_stats {
	uint64_t accepted;  /* TCP connections accepted */
	uint64_t active;    /* TCP connections open now (accepted + outbound) */
	uint64_t outbound;  /* outbound TCP connections opened */
	uint64_t bytes_in;  /* TCP payload bytes received */
	uint64_t bytes_out; /* TCP payload bytes sent */
};

/* --- runtime (control thread) ------------------------------------------ */

/* Allocate an empty runtime. Returns NULL on ENOMEM. Call before any thread
 * other than the caller exists: it caches the caller's network namespace as
 * the default one. */
struct coop *coop_new(void);

/* Register a service under svc->name. svc must outlive the runtime.
 * Returns 0, -EEXIST for a duplicate name or -EINVAL for a bad name or a
 * service with neither on_read nor on_datagram. Control thread, before
 * coop_configure. */
int coop_service_register(struct coop *c, const struct coop_service *svc);

/* Parse and validate the INI file at path as a whole: syntax, keys, values,
 * services named by listeners, interfaces that must exist. Changes no kernel
 * state. Returns 0 or -errno with a message naming file, section and key in
 * err. Control thread. */
int coop_configure(struct coop *c, const char *path, char *err, size_t errlen);

/* Bring every VS up (namespaces, links, addresses, routes, listeners) and
 * start the workers. On failure everything already done is undone and
 * -errno is returned with a message in err. Control thread. */
int coop_start(struct coop *c, char *err, size_t errlen);

/* Run the control loop (admin socket, signals) until coop_stop() or
 * SIGINT/SIGTERM, then stop the workers, close every connection and
 * listener and undo all kernel state coop created. Returns 0. */
int coop_run(struct coop *c);

/* Ask coop_run to return. Any thread; async-signal-safe. */
void coop_stop(struct coop *c);

/* Whether the runtime handles the process's signals (the default): SIGINT,
 * SIGTERM and SIGQUIT stop it (a second one during the stop is ignored,
 * so the cleanup always finishes), SIGHUP reloads the configuration,
 * SIGUSR1/SIGUSR2 are logged and ignored. An application that owns its
 * signals passes 0 and calls coop_stop() (and coop_reload()) itself.
 * Control thread, before coop_start: 0, or -EBUSY once started. */
int coop_own_signals(struct coop *c, int own);

/* Re-read the configuration file and apply the difference, as the admin
 * command `reload` and SIGHUP do (docs/admin.md): 0, or -errno with a
 * message in err (nothing changed; or a VS failed and was rolled back
 * while the rest was applied). Control thread, while coop_run runs (from
 * an admin command or a watcher on the control loop). */
int coop_reload(struct coop *c, char *err, size_t errlen);

/* Free a runtime after coop_run returned (or instead of coop_start). */
void coop_free(struct coop *c);

/* Number of worker threads (valid after coop_configure). */
unsigned coop_workers(const struct coop *c);

/* --- virtual servers ----------------------------------------------------- */

/* VS lookup and iteration; control thread, or any thread while running
 * (the VS table does not change between coop_start and coop_run's return). */
size_t coop_vs_count(const struct coop *c);
struct coop_vs *coop_vs_at(const struct coop *c, size_t i);
struct coop_vs *coop_vs_find(const struct coop *c, const char *name);

const char *coop_vs_name(const struct coop_vs *vs);

/* Create a socket in the VS's scope (its namespace, or its mark): the one
 * helper every socket of a VS goes through. SOCK_CLOEXEC is added. Returns
 * the fd or -errno. Any thread. */
int coop_vs_socket(struct coop_vs *vs, int domain, int type, int protocol);

/* Sum the VS's counters over all workers. Any thread. */
void coop_vs_stats_get(const struct coop_vs *vs, struct coop_vs_stats *out);

/* --- connections (worker threads) ---------------------------------------- */

/* Queue bytes for sending (copied). Returns 0 or -errno: -EPIPE once the
 * connection is closing; -ENOBUFS when its unsent output would pass the
 * VS's out_max (docs/config.md): the connection is then closed without
 * sending the rest, on_close follows (from the loop, not before this
 * returns). Reading pauses while more than out_high is unsent. */
int coop_conn_write(struct coop_conn *conn, const void *buf, size_t len);
/* Close after queued output is flushed; on_close follows. */
void coop_conn_close(struct coop_conn *conn);

struct coop_vs *coop_conn_vs(const struct coop_conn *conn);
void *coop_conn_service_data(const struct coop_conn *conn);
void *coop_conn_data(const struct coop_conn *conn);
void coop_conn_set_data(struct coop_conn *conn, void *data);
/* Peer and local addresses (sockaddr_in or sockaddr_in6). */
const struct sockaddr *coop_conn_peer(const struct coop_conn *conn, socklen_t *len);
const struct sockaddr *coop_conn_local(const struct coop_conn *conn, socklen_t *len);
/* Index of the owning worker, 0 .. coop_workers()-1. */
unsigned coop_conn_worker(const struct coop_conn *conn);

/* Called once when an outbound connection completes: err is 0 and conn is
 * live (svc->on_accept was called first), or err is -errno and conn is NULL. */
typedef void (*coop_connect_cb)(struct coop_conn *conn, int err, void *arg);

/* Open a TCP connection from inside the VS (its namespace or mark, source
 * address = the VS's first address of dst's family) to dst. The connection
 * belongs to the calling worker and is served by svc. Must be called on a
 * worker thread (from a service callback). Returns 0 (cb follows) or -errno
 * (cb is not called): -EPERM off a worker thread, -ESHUTDOWN when the VS is
 * neither up nor draining (being removed, lost) or coopd is stopping,
 * -EMFILE when the VS or the runtime has max_connections open. */
int coop_vs_tcp_connect(struct coop_vs *vs, const struct sockaddr *dst, socklen_t dstlen,
			const struct coop_service *svc, coop_connect_cb cb, void *arg);

/* --- example services shipped in libcoop --------------------------------- */

/* "echo" (echoes bytes back) and "whoami" (writes the VS name and a newline,
 * then closes), over tcp and udp listeners (a datagram is answered with the
 * same payload, or with the VS name and a newline). The per-VS portmapper
 * is in vs/coop_rpc.h. Register them with coop_service_register(). */
extern const struct coop_service coop_service_echo;
extern const struct coop_service coop_service_whoami;

#ifdef __cplusplus
}
#endif
#endif
