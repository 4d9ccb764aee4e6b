/* udp.h - inside libcoop: the UDP demultiplexer. Per (network namespace,
 * port) one group of SO_REUSEPORT sockets bound to the wildcard, one per
 * worker and address family; each datagram goes to the VS owning its
 * destination address. The public side is vs/coop_udp.h.
 *
 * Threads: the demux object, its groups and their address tables are built
 * and changed by the control thread while no worker watches them (before
 * coop_udp_worker_start, after coop_udp_worker_stop); while workers run
 * they are read-only. Each socket, its watcher and each worker's scratch
 * buffers belong to one worker. Counters are per worker, single writer. */
#ifndef COOP_VS_UDP_H
#define COOP_VS_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vs/coop_udp.h"

struct coop_udp;
struct coop_vs;
struct coop_worker;
struct coop_json;

/* Datagrams taken per recvmmsg call, and calls per readiness event before
 * the worker gives its other watchers a turn. */
#define COOP_UDP_BATCH		  32
#define COOP_UDP_BATCHES_PER_WAKE 4
/* Receive slot per datagram: the largest UDP payload fits whole. */
#define COOP_UDP_SLOT 65536
/* Replies per second each VS may send (coop_dgram_reply), and how many at
 * once: far above what an honest client of one VS asks of echo, whoami or
 * the portmapper, low enough that a VS answering forged sources (or two
 * VSes driven into a loop) is a small reflector. Replies over it are
 * dropped and counted (drop_rate). */
#define COOP_UDP_REPLY_RATE  5000
#define COOP_UDP_REPLY_BURST 1000

/* A new, empty demux for n_workers workers. 0 or -ENOMEM. Control thread. */
int coop_udp_new(unsigned n_workers, struct coop_udp **out);
/* Close every socket and free the demux (workers stopped). NULL is fine. */
void coop_udp_free(struct coop_udp *u);
/* Replies per second per VS, and the burst (coop_udp_new sets
 * COOP_UDP_REPLY_RATE, COOP_UDP_REPLY_BURST; rate 0: no limit). Control
 * thread, workers stopped (tests and benchmarks). */
void coop_udp_reply_limit(struct coop_udp *u, uint32_t rate, uint32_t burst);

/* Serve the VS's `listen = udp:` entries: find its namespace and mark
 * (from a probe socket made by the VS's backend), join or create the
 * group of each port, and claim the VS's addresses in it (a VS without
 * addresses claims every address of the family in its namespace that no
 * other VS owns). Nothing to do, 0, without udp listeners. On failure
 * nothing is left behind and -errno is returned with err filled
 * (-EADDRINUSE: another VS of the same namespace owns an address on that
 * port, or another process holds the port; -EBUSY: workers are running;
 * -EINVAL: the service has no on_datagram). Control thread. */
int coop_udp_vs_add(struct coop_udp *u, struct coop_vs *vs, char *err, size_t errlen);
/* Give back everything coop_udp_vs_add claimed; a group left without VSes
 * closes its sockets. Workers must be stopped. Control thread. */
void coop_udp_vs_del(struct coop_udp *u, struct coop_vs *vs);

/* A VS's namespace vanished (vs.c coop_vs_lose): from now on its datagrams
 * are dropped (counted as no_vs). Control thread, before the workers are
 * told. */
void coop_udp_vs_lose(struct coop_udp *u, struct coop_vs *vs);
/* On worker w, letting go of a lost VS: stop watching the sockets of each
 * of its groups whose members are all lost. Worker thread w only. */
void coop_udp_vs_release_worker(struct coop_udp *u, struct coop_vs *vs, struct coop_worker *w);
/* Every worker let go of the lost VS: close each of its groups whose
 * members are all released. Its counters stay readable. Control thread. */
void coop_udp_vs_released(struct coop_udp *u, struct coop_vs *vs);

/* Start / stop watching worker w's sockets of every group, on w's loop.
 * Worker thread w only. The buffers were made with the first group, so
 * starting cannot fail; replies queued in a batch leave when it ends. */
void coop_udp_worker_start(struct coop_udp *u, struct coop_worker *w);
void coop_udp_worker_stop(struct coop_udp *u, struct coop_worker *w);

/* Counters of one VS (zeros when it has no udp listener) and of the demux.
 * Any thread. */
void coop_udp_vs_stats(const struct coop_udp *u, const struct coop_vs *vs,
		       struct coop_vs_udp_stats *out);
void coop_udp_stats(const struct coop_udp *u, struct coop_udp_stats *out);

/* Send from the VS's udp:port socket of worker `worker` (see
 * coop_vs_udp_sendto in coop_udp.h for the rules). */
int coop_udp_sendto(struct coop_udp *u, unsigned worker, struct coop_vs *vs, uint16_t port,
		    const struct sockaddr *dst, socklen_t dstlen, const void *buf, size_t len);

/* The VS's mark as the demux puts it on replies (0 = none), or 0 when the
 * VS has no udp listener. Any thread. */
uint32_t coop_udp_vs_mark(const struct coop_udp *u, const struct coop_vs *vs);

/* Write the VS's UDP counters as the members "udp": {...} of the object
 * being written (admin `show vs`), and the runtime's as "udp": {...}
 * (admin `show stats`). Control thread. */
void coop_udp_vs_json(const struct coop_udp *u, const struct coop_vs *vs, struct coop_json *out);
void coop_udp_json(const struct coop_udp *u, struct coop_json *out);

#endif
