/* coop_udp.h - public API for datagram services: what a service's
 * on_datagram callback is given, how it replies, how a VS sends unsolicited
 * datagrams, and the per-VS UDP counters. See docs/udp.md.
 *
 * A `listen = udp:PORT SERVICE` entry hands every datagram sent to one of
 * the VS's addresses on PORT to SERVICE's on_datagram callback (struct
 * coop_service in coop.h), on the worker thread that received it. Replies
 * leave from the address the client sent to, through the VS's own routing
 * (its namespace, or its mark set on that one packet). */
#ifndef COOP_UDP_H
#define COOP_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Declared here too so this header stands alone (see coop.h). */
struct coop;
struct coop_vs;

/* One received datagram. Opaque; valid only during the on_datagram call
 * it is passed to, on that worker thread. */
struct coop_dgram;

/* The VS the datagram was dispatched to (the owner of its destination). */
struct coop_vs *coop_dgram_vs(const struct coop_dgram *dg);
/* The service's data pointer (struct coop_service.data). */
void *coop_dgram_service_data(const struct coop_dgram *dg);
/* The sender, and the address and port it sent to (sockaddr_in or
 * sockaddr_in6). */
const struct sockaddr *coop_dgram_peer(const struct coop_dgram *dg, socklen_t *len);
const struct sockaddr *coop_dgram_local(const struct coop_dgram *dg, socklen_t *len);
/* Index of the receiving worker, 0 .. coop_workers()-1. */
unsigned coop_dgram_worker(const struct coop_dgram *dg);
/* The datagram comes from a port a service answers from: a reserved one
 * (below 1024) or the very port it was sent to (another VS's instance of
 * the same service). A service that answers anything (echo, whoami) drops
 * these, as inetd's internal services do, so that a forged source cannot
 * set two services talking to each other forever. */
bool coop_dgram_from_service(const struct coop_dgram *dg);

/* Reply to the sender: from the address and port it sent to, with the
 * VS's mark on this packet when the VS has one. The payload is copied;
 * replies are sent together after the current receive batch, so a send
 * failure is counted (drop_send) rather than returned, and so is a reply
 * over the VS's reply rate (drop_rate; see docs/udp.md). Any number of
 * replies may be given. Returns 0, -EMSGSIZE above 65507 bytes (IPv4) or
 * 65527 (IPv6), or -EINVAL outside on_datagram. */
int coop_dgram_reply(struct coop_dgram *dg, const void *buf, size_t len);
/* The same, gathering the payload from iovcnt pieces. */
int coop_dgram_replyv(struct coop_dgram *dg, const struct iovec *iov, int iovcnt);

/* The service found the datagram unusable (malformed, not for it): count
 * it in the VS's drop_service counter. Call at most once per datagram. */
void coop_dgram_drop(struct coop_dgram *dg);

/* Send one datagram from the VS's udp:port listener to dst, unprompted.
 * The source address is the VS's first address of dst's family (the
 * routing decides when the VS has none), the mark the VS's. Sent at once.
 * Worker threads only (the calling worker's socket is used). Returns 0,
 * -ENOENT when the VS has no udp:port listener, -EAFNOSUPPORT when it has
 * no socket of dst's family, -EINVAL on a non-worker thread or a bad dst,
 * -EMSGSIZE, or the -errno of sendmsg. */
int coop_vs_udp_sendto(struct coop_vs *vs, uint16_t port, const struct sockaddr *dst,
		       socklen_t dstlen, const void *buf, size_t len);

/* A VS's datagram counters, summed over workers. */
struct coop_vs_udp_stats {
	uint64_t dgrams_in;    /* datagrams handed to the VS's services */
	uint64_t dgrams_out;   /* datagrams sent (replies and sendto) */
	uint64_t bytes_in;     /* their payload bytes */
	uint64_t bytes_out;    /* payload bytes sent */
	uint64_t drop_service; /* datagrams the service refused (coop_dgram_drop) */
	uint64_t drop_send;    /* replies the kernel refused (no route, buffer full) */
	uint64_t drop_trunc;   /* datagrams larger than the receive buffer */
	uint64_t drop_rate;    /* replies over the VS's reply rate */
};

/* Datagrams no VS could take, per runtime, summed over workers. */
struct coop_udp_stats {
	uint64_t drop_no_vs;	  /* destination address owned by no VS on that port */
	uint64_t drop_no_pktinfo; /* arrived without a destination address (cmsg) */
	uint64_t rx_errors;	  /* receive calls that failed (other than EAGAIN) */
	uint64_t groups;	  /* shared (namespace, port) socket groups */
	uint64_t sockets;	  /* their sockets (one per worker and family) */
};

/* Sum a VS's counters over all workers (zeros without udp listeners).
 * Any thread. */
void coop_vs_udp_stats_get(const struct coop_vs *vs, struct coop_vs_udp_stats *out);
/* Sum the runtime-wide UDP counters. Any thread. */
void coop_udp_stats_get(const struct coop *c, struct coop_udp_stats *out);

#ifdef __cplusplus
}
#endif
#endif
