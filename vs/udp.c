/* udp.c - the UDP demultiplexer: shared wildcard sockets per (namespace,
 * port), batched receive with the destination address, dispatch to the VS
 * owning that address, batched replies from it with the VS's mark on each
 * packet (the paper's "UDP problem", solved without a setsockopt per send). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/coop_admin.h"
#include "base/log.h"
#include "base/util.h"
#include "core/module.h"
#include "core/prom.h"
#include "core/runtime.h"
#include "vs/udp.h"
#include "vs/udp_table.h"
#include "core/vs.h"

#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C /* linux/sockios.h: the namespace of a socket */
#endif

/* Largest UDP payloads: 65535 minus the UDP header, and for IPv4 minus
 * the IP header too (the IPv6 payload length excludes its header). */
#define UDP4_MAX 65507
#define UDP6_MAX 65527
/* Replies queued before a sendmmsg, and the bytes they may hold. */
#define TX_SLOTS 64
#define TX_ARENA (256u * 1024)

#define FAM_V4 0
#define FAM_V6 1

/* Identity of a network namespace: its nsfs inode. */
struct nskey {
	dev_t dev; /* nsfs device */
	ino_t ino; /* namespace inode */
};

/* One VS's datagram counters on one worker (single writer: that worker). */
struct udp_wstats {
	_Atomic uint64_t in;	       /* datagrams handed to the service */
	_Atomic uint64_t out;	       /* datagrams sent */
	_Atomic uint64_t bytes_in;     /* payload received */
	_Atomic uint64_t bytes_out;    /* payload sent */
	_Atomic uint64_t drop_service; /* refused by the service */
	_Atomic uint64_t drop_send;    /* refused by the kernel on send */
	_Atomic uint64_t drop_trunc;   /* did not fit the receive slot */
	_Atomic uint64_t drop_rate;    /* replies over the VS's reply rate */
} __attribute__((aligned(64)));

/* A VS's reply budget, shared by the workers: GCRA, the token bucket in
 * one word. tat is the time (CLOCK_MONOTONIC ns) at which the bucket is
 * full again; a reply may go when that is at most the burst's worth of
 * intervals ahead of now, and moves it one interval on. Its own cache
 * line: every worker's replies for the VS write it. */
struct udp_bucket {
	_Atomic uint64_t tat; /* theoretical arrival time of the next reply */
} __attribute__((aligned(64)));

/* Datagrams owned by nobody, one worker's view (single writer). */
struct udp_gstats {
	_Atomic uint64_t no_vs;	     /* no VS owns the destination */
	_Atomic uint64_t no_pktinfo; /* no destination address came with it */
	_Atomic uint64_t rx_errors;  /* recvmmsg failures */
} __attribute__((aligned(64)));

struct udp_vs;
struct udp_group;
struct coop_udp;

/* One `listen = udp:PORT SERVICE` entry of one VS. Control thread;
 * workers read it while they run. */
struct udp_bind {
	struct udp_vs *uvs;		/* VS it belongs to */
	const struct coop_service *svc; /* service datagrams go to */
	struct udp_group *g;		/* group of (namespace, port); NULL until joined */
	uint16_t port;			/* host order */
};

/* The demux's view of one VS. Control thread; workers read it and write
 * only their own ws[] line. */
struct udp_vs {
	struct coop_vs *vs;	       /* the VS */
	const struct coop_vs_cfg *cfg; /* the section its binds were made for
					* (vs->cfg, or the old one while a
					* reload changes the VS) */
	uint32_t mark;		       /* its sockets' SO_MARK, put on each reply (0 = none) */
	struct nskey ns;	       /* namespace its sockets live in */
	struct udp_bind *binds;	       /* its udp listen entries */
	size_t n_binds;
	struct udp_wstats *ws;	   /* one per worker */
	struct udp_bucket *bucket; /* its reply rate limit */
	atomic_bool lost;	   /* its namespace vanished: serve nothing (set by
				    * the control thread before workers are told) */
	bool released;		   /* every worker let go of it (control thread) */
	struct udp_vs *next;	   /* chain in coop_udp.vht */
};

/* One wildcard socket of a group. Opened and closed by the control thread,
 * watched and read by its worker only. */
struct udp_sock {
	struct coop_udp *u;  /* demux */
	struct udp_group *g; /* group */
	int fd;		     /* bound to the wildcard with SO_REUSEPORT */
	int family;	     /* AF_INET or AF_INET6 */
	unsigned worker;     /* owning worker */
	ev_io io;	     /* readable, on the worker's loop */
};

/* All VSes listening on one port in one namespace share this. Control
 * thread; read-only for the workers while they run. */
struct udp_group {
	struct nskey ns;	   /* the namespace */
	uint16_t port;		   /* host order */
	struct udp_sock *socks[2]; /* per family, one per worker; NULL = none */
	struct coop_udp_table tab; /* destination address -> bind */
	struct udp_bind *wild[2];  /* per family: the VS without addresses, if any */
	struct udp_bind **members; /* binds in the group */
	size_t n_members;
	struct udp_group *next; /* coop_udp.groups list */
};

/* Space for the control messages we send or expect: one pktinfo and one
 * mark, aligned for struct cmsghdr. */
union udp_ctl {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint32_t))];
	struct cmsghdr align; /* alignment only */
};

/* One worker's scratch for receiving and replying. Owned by that worker
 * while it runs; allocated and freed by the control thread. */
struct udp_worker {
	unsigned id;					/* worker index */
	struct mmsghdr rx[COOP_UDP_BATCH];		/* recvmmsg vector */
	struct iovec rxiov[COOP_UDP_BATCH];		/* one slot each */
	struct sockaddr_storage rxname[COOP_UDP_BATCH]; /* senders */
	union udp_ctl rxctl[COOP_UDP_BATCH];		/* their pktinfo */
	uint8_t *rxbuf;					/* COOP_UDP_BATCH slots of COOP_UDP_SLOT */
	struct mmsghdr tx[TX_SLOTS];			/* queued replies */
	struct iovec txiov[TX_SLOTS];			/* their payload in txbuf */
	struct sockaddr_storage txname[TX_SLOTS];	/* their destinations */
	union udp_ctl txctl[TX_SLOTS];			/* their source and mark */
	struct udp_bind *txb[TX_SLOTS];			/* their VS, for the counters */
	unsigned ntx;					/* queued */
	size_t txused;					/* bytes of txbuf used */
	struct udp_sock *txsock;			/* socket the queue goes out by */
	uint8_t *txbuf;					/* TX_ARENA bytes */
	uint64_t now;					/* CLOCK_MONOTONIC ns of the batch */
};

/* The demux of one runtime (see udp.h for who may touch what when). */
struct coop_udp {
	unsigned n_workers;	  /* workers of the runtime */
	atomic_uint started;	  /* workers watching their sockets now */
	struct udp_group *groups; /* every group */
	size_t n_groups;	  /* their number */
	size_t n_socks;		  /* their sockets */
	struct udp_vs **vht;	  /* VS -> udp_vs, chained; vht_mask + 1 buckets */
	size_t vht_mask;
	size_t n_vs;	       /* VSes with udp listeners */
	struct udp_worker **w; /* per worker scratch; NULL until a group exists */
	struct udp_gstats *gs; /* per worker counters */
	uint64_t rate_ns;      /* replies per VS: one per rate_ns (0: no limit) */
	uint64_t burst_ns;     /* ... and burst_ns / rate_ns at once */
};

/* What a service's on_datagram gets: lives on the receiving worker's stack
 * for the duration of the callback. */
struct coop_dgram {
	struct udp_worker *uw;		     /* receiving worker's scratch */
	struct udp_sock *s;		     /* socket it came in by */
	struct udp_bind *b;		     /* VS and service it went to */
	const struct sockaddr_storage *peer; /* sender */
	socklen_t peerlen;
	struct sockaddr_storage local; /* destination address and port */
	socklen_t locallen;
	int ifindex;  /* arrival interface */
	bool dropped; /* coop_dgram_drop was called */
};

static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t ld(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline int fam_index(int family)
{
	return family == AF_INET6 ? FAM_V6 : FAM_V4;
}

/* --- addresses ------------------------------------------------------------ */

static void addr_key(const struct coop_addr *a, uint8_t key[16])
{
	memset(key, 0, 16);
	if (a->family == AF_INET)
		memcpy(key, &a->v4, 4);
	else
		memcpy(key, &a->v6, 16);
}

/* --- VS lookup ------------------------------------------------------------ */

static size_t vs_bucket(const struct coop_udp *u, const struct coop_vs *vs)
{
	return (size_t)(((uintptr_t)vs >> 4) * 0x9E3779B97F4A7C15ull >> 20) & u->vht_mask;
}

static struct udp_vs *vs_find(const struct coop_udp *u, const struct coop_vs *vs)
{
	struct udp_vs *uvs;

	if (!u || !u->vht)
		return NULL;
	for (uvs = u->vht[vs_bucket(u, vs)]; uvs; uvs = uvs->next)
		if (uvs->vs == vs)
			return uvs;
	return NULL;
}

static int vs_insert(struct coop_udp *u, struct udp_vs *uvs)
{
	size_t b;

	if (!u->vht || u->n_vs + 1 > u->vht_mask + 1) {
		size_t size = u->vht ? (u->vht_mask + 1) * 2 : 64, i;
		struct udp_vs **old = u->vht, *p, *next;
		size_t old_size = old ? u->vht_mask + 1 : 0;

		u->vht = calloc(size, sizeof(*u->vht));
		if (!u->vht) {
			u->vht = old;
			return -ENOMEM;
		}
		u->vht_mask = size - 1;
		for (i = 0; i < old_size; i++) {
			for (p = old[i]; p; p = next) {
				next = p->next;
				b = vs_bucket(u, p->vs);
				p->next = u->vht[b];
				u->vht[b] = p;
			}
		}
		free(old);
	}
	b = vs_bucket(u, uvs->vs);
	uvs->next = u->vht[b];
	u->vht[b] = uvs;
	u->n_vs++;
	return 0;
}

static void vs_unlink(struct coop_udp *u, struct udp_vs *uvs)
{
	struct udp_vs **pp;

	for (pp = &u->vht[vs_bucket(u, uvs->vs)]; *pp; pp = &(*pp)->next) {
		if (*pp == uvs) {
			*pp = uvs->next;
			u->n_vs--;
			return;
		}
	}
}

/* --- control messages ------------------------------------------------------ */

/* Fill ctl with the source address (pktinfo) and, when mark is not 0, an
 * SO_MARK for this one packet. Returns the control length. */
static size_t ctl_fill(union udp_ctl *ctl, int family, const void *src, int ifindex, uint32_t mark)
{
	struct cmsghdr *cm = (struct cmsghdr *)ctl->buf;
	size_t used;

	memset(ctl, 0, sizeof(*ctl));
	if (family == AF_INET) {
		struct in_pktinfo pi;

		memset(&pi, 0, sizeof(pi));
		/* ifindex 0: the route (the VS's table, by mark) picks the
		 * way out; spec_dst only fixes the source. */
		memcpy(&pi.ipi_spec_dst, src, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		used = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi;

		memset(&pi, 0, sizeof(pi));
		memcpy(&pi.ipi6_addr, src, 16);
		/* A link-local source only means something with its link. */
		if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
			pi.ipi6_ifindex = ifindex;
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		used = CMSG_SPACE(sizeof(pi));
	}
	if (mark) {
		cm = (struct cmsghdr *)(ctl->buf + used);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SO_MARK;
		cm->cmsg_len = CMSG_LEN(sizeof(mark));
		memcpy(CMSG_DATA(cm), &mark, sizeof(mark));
		used += CMSG_SPACE(sizeof(mark));
	}
	return used;
}

/* The destination address and arrival interface of a received datagram. */
static bool ctl_dst(struct msghdr *mh, int family, uint8_t addr[16], int *ifindex)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (family == AF_INET && cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memset(addr, 0, 16);
			/* ipi_addr is the header's destination; spec_dst
			 * would be the route's idea of our address. */
			memcpy(addr, &pi.ipi_addr, 4);
			*ifindex = pi.ipi_ifindex;
			return true;
		}
		if (family == AF_INET6 && cm->cmsg_level == IPPROTO_IPV6 &&
		    cm->cmsg_type == IPV6_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memcpy(addr, &pi.ipi6_addr, 16);
			*ifindex = (int)pi.ipi6_ifindex;
			return true;
		}
	}
	return false;
}

/* --- the reply rate ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* May the VS send one more reply at time now? A forged source makes any
 * answering service a reflector, and two of them a loop: the budget
 * bounds what one VS sends that way, whoever the sources claim to be. */
static bool reply_allowed(const struct coop_udp *u, struct udp_vs *uvs, uint64_t now)
{
	uint64_t tat, next;

	if (!u->rate_ns)
		return true;
	tat = atomic_load_explicit(&uvs->bucket->tat, memory_order_relaxed);
	do {
		next = (tat > now ? tat : now) + u->rate_ns;
		if (next - now > u->burst_ns)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	    &uvs->bucket->tat, &tat, next, memory_order_relaxed, memory_order_relaxed));
	return true;
}

void coop_udp_reply_limit(struct coop_udp *u, uint32_t rate, uint32_t burst)
{
	if (!rate) {
		u->rate_ns = u->burst_ns = 0;
		return;
	}
	u->rate_ns = 1000000000u / rate;
	if (!u->rate_ns)
		u->rate_ns = 1;
	u->burst_ns = u->rate_ns * (burst ? burst : 1);
}

/* --- sending ---------------------------------------------------------------- */

static void tx_flush(struct udp_worker *uw)
{
	struct udp_sock *s = uw->txsock;
	unsigned off = 0, j;
	int r;

	while (off < uw->ntx) {
		r = sendmmsg(s->fd, uw->tx + off, uw->ntx - off, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS) {
				/* Socket buffer full: UDP may lose, the
				 * worker may not wait. */
				for (j = off; j < uw->ntx; j++)
					stat_add(&uw->txb[j]->uvs->ws[uw->id].drop_send, 1);
				break;
			}
			/* sendmmsg reports the error of the first unsent
			 * message: drop that one, carry on with the rest. */
			stat_add(&uw->txb[off]->uvs->ws[uw->id].drop_send, 1);
			off++;
			continue;
		}
		for (j = off; j < off + (unsigned)r; j++) {
			struct udp_wstats *ws = &uw->txb[j]->uvs->ws[uw->id];

			stat_add(&ws->out, 1);
			stat_add(&ws->bytes_out, uw->tx[j].msg_len);
		}
		off += r;
	}
	uw->ntx = 0;
	uw->txused = 0;
	uw->txsock = NULL;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

int coop_dgram_replyv(struct coop_dgram *dg, const struct iovec *iov, int iovcnt)
{
	struct udp_worker *uw = dg ? dg->uw : NULL;
	size_t len, max;
	unsigned k;
	uint8_t *p;
	int i;

	if (!uw || iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	len = iov_total(iov, iovcnt);
	max = dg->s->family == AF_INET ? UDP4_MAX : UDP6_MAX;
	if (len > max)
		return -EMSGSIZE;
	if (!reply_allowed(dg->s->u, dg->b->uvs, uw->now)) {
		stat_add(&dg->b->uvs->ws[uw->id].drop_rate, 1);
		return 0;
	}
	if (uw->ntx && (uw->txsock != dg->s || uw->ntx == TX_SLOTS || uw->txused + len > TX_ARENA))
		tx_flush(uw);
	k = uw->ntx;
	p = uw->txbuf + uw->txused;
	for (i = 0; i < iovcnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	uw->txiov[k].iov_base = uw->txbuf + uw->txused;
	uw->txiov[k].iov_len = len;
	memcpy(&uw->txname[k], dg->peer, dg->peerlen);
	memset(&uw->tx[k], 0, sizeof(uw->tx[k]));
	uw->tx[k].msg_hdr.msg_name = &uw->txname[k];
	uw->tx[k].msg_hdr.msg_namelen = dg->peerlen;
	uw->tx[k].msg_hdr.msg_iov = &uw->txiov[k];
	uw->tx[k].msg_hdr.msg_iovlen = 1;
	uw->tx[k].msg_hdr.msg_control = uw->txctl[k].buf;
	uw->tx[k].msg_hdr.msg_controllen =
	    ctl_fill(&uw->txctl[k], dg->s->family,
		     dg->s->family == AF_INET
			 ? (const void *)&((struct sockaddr_in *)&dg->local)->sin_addr
			 : (const void *)&((struct sockaddr_in6 *)&dg->local)->sin6_addr,
		     dg->ifindex, dg->b->uvs->mark);
	uw->txb[k] = dg->b;
	uw->txsock = dg->s;
	uw->txused += (len + 7) & ~(size_t)7;
	uw->ntx++;
	return 0;
}

int coop_dgram_reply(struct coop_dgram *dg, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return coop_dgram_replyv(dg, &iov, 1);
}

void coop_dgram_drop(struct coop_dgram *dg)
{
	if (!dg || dg->dropped)
		return;
	dg->dropped = true;
	stat_add(&dg->b->uvs->ws[dg->uw->id].drop_service, 1);
}

struct coop_vs *coop_dgram_vs(const struct coop_dgram *dg)
{
	return dg->b->uvs->vs;
}

void *coop_dgram_service_data(const struct coop_dgram *dg)
{
	return dg->b->svc->data;
}

const struct sockaddr *coop_dgram_peer(const struct coop_dgram *dg, socklen_t *len)
{
	if (len)
		*len = dg->peerlen;
	return (const struct sockaddr *)dg->peer;
}

const struct sockaddr *coop_dgram_local(const struct coop_dgram *dg, socklen_t *len)
{
	if (len)
		*len = dg->locallen;
	return (const struct sockaddr *)&dg->local;
}

unsigned coop_dgram_worker(const struct coop_dgram *dg)
{
	return dg->uw->id;
}

bool coop_dgram_from_service(const struct coop_dgram *dg)
{
	const struct sockaddr *peer = (const struct sockaddr *)dg->peer;
	uint16_t port;

	if (peer->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
	else
		port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
	return port < 1024 || port == dg->s->g->port;
}

/* --- receiving ---------------------------------------------------------------- */

static void rx_prepare(struct udp_worker *uw, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct msghdr *mh = &uw->rx[i].msg_hdr;

		mh->msg_name = &uw->rxname[i];
		mh->msg_namelen = sizeof(uw->rxname[i]);
		mh->msg_iov = &uw->rxiov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = uw->rxctl[i].buf;
		mh->msg_controllen = sizeof(uw->rxctl[i].buf);
		mh->msg_flags = 0;
		uw->rxiov[i].iov_base = uw->rxbuf + (size_t)i * COOP_UDP_SLOT;
		uw->rxiov[i].iov_len = COOP_UDP_SLOT;
	}
}

static void local_addr(struct coop_dgram *dg, int family, const uint8_t addr[16], uint16_t port)
{
	memset(&dg->local, 0, sizeof(dg->local));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&dg->local;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, 4);
		dg->locallen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&dg->local;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, 16);
		if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr))
			sin6->sin6_scope_id = dg->ifindex;
		dg->locallen = sizeof(*sin6);
	}
}

/* Hand datagram i of the batch to the VS owning its destination. */
static void dispatch(struct coop_udp *u, struct udp_worker *uw, struct udp_sock *s, unsigned i)
{
	struct msghdr *mh = &uw->rx[i].msg_hdr;
	size_t len = uw->rx[i].msg_len;
	struct coop_dgram dg;
	struct udp_wstats *ws;
	uint8_t addr[16];
	int fi = fam_index(s->family);

	dg.ifindex = 0;
	if (!ctl_dst(mh, s->family, addr, &dg.ifindex)) {
		stat_add(&u->gs[uw->id].no_pktinfo, 1);
		return;
	}
	dg.b = coop_udp_table_find(&s->g->tab, s->family, addr);
	if (!dg.b)
		dg.b = s->g->wild[fi];
	if (!dg.b || atomic_load_explicit(&dg.b->uvs->lost, memory_order_relaxed)) {
		stat_add(&u->gs[uw->id].no_vs, 1);
		return;
	}
	ws = &dg.b->uvs->ws[uw->id];
	if (mh->msg_flags & MSG_TRUNC) {
		stat_add(&ws->drop_trunc, 1);
		return;
	}
	dg.uw = uw;
	dg.s = s;
	dg.peer = &uw->rxname[i];
	dg.peerlen = mh->msg_namelen;
	dg.dropped = false;
	local_addr(&dg, s->family, addr, s->g->port);
	stat_add(&ws->in, 1);
	stat_add(&ws->bytes_in, len);
	dg.b->svc->on_datagram(&dg, uw->rxiov[i].iov_base, len);
}

static void sock_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct udp_sock *s = container_of(io, struct udp_sock, io);
	struct coop_udp *u = s->u;
	struct udp_worker *uw = u->w[s->worker];
	unsigned b, i;
	int n;

	(void)loop;
	(void)revents;
	for (b = 0; b < COOP_UDP_BATCHES_PER_WAKE; b++) {
		rx_prepare(uw, COOP_UDP_BATCH);
		n = recvmmsg(s->fd, uw->rx, COOP_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				stat_add(&u->gs[uw->id].rx_errors, 1);
			return;
		}
		/* One clock read per batch: the reply budget's time. */
		uw->now = now_ns();
		for (i = 0; i < (unsigned)n; i++)
			dispatch(u, uw, s, i);
		if (uw->ntx)
			tx_flush(uw);
		if (n < COOP_UDP_BATCH)
			return;
	}
}

/* --- groups ------------------------------------------------------------------- */

static void socks_close(struct coop_udp *u, struct udp_group *g, int fi)
{
	unsigned w;

	if (!g->socks[fi])
		return;
	for (w = 0; w < u->n_workers; w++)
		if (g->socks[fi][w].fd >= 0)
			close(g->socks[fi][w].fd);
	free(g->socks[fi]);
	g->socks[fi] = NULL;
	u->n_socks -= u->n_workers;
}

/* A wildcard socket on port, in vs's namespace, receiving destination
 * addresses. fd or -errno. */
static int sock_open(struct coop_vs *vs, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sl, ml = sizeof(uint32_t);
	uint32_t mark = 0;
	int one = 1, fd, ret;

	fd = coop_vs_socket(vs, family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	/* Replies carry their own VS's mark; the shared socket has none, so
	 * a VS without a mark in the same namespace is not given another's. */
	if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &ml) == 0 && mark) {
		mark = 0;
		if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
			goto err_close;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto err_close;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
			goto err_close;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
			goto err_close;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sl = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		goto err_close;
	return fd;

err_close:
	ret = -errno;
	close(fd);
	return ret;
}

/* One socket per worker of family fi for group g, made through vs. */
static int socks_open(struct coop_udp *u, struct udp_group *g, int fi, struct coop_vs *vs,
		      char *err, size_t errlen)
{
	int family = fi == FAM_V6 ? AF_INET6 : AF_INET;
	unsigned w;
	int fd;

	g->socks[fi] = calloc(u->n_workers, sizeof(*g->socks[fi]));
	if (!g->socks[fi]) {
		snprintf(err, errlen, "vs '%s': out of memory", vs->cfg->name);
		return -ENOMEM;
	}
	for (w = 0; w < u->n_workers; w++)
		g->socks[fi][w].fd = -1;
	u->n_socks += u->n_workers;
	for (w = 0; w < u->n_workers; w++) {
		struct udp_sock *s = &g->socks[fi][w];

		fd = sock_open(vs, family, g->port);
		if (fd < 0) {
			snprintf(err, errlen, "vs '%s': listen udp:%u (%s wildcard): %s%s",
				 vs->cfg->name, g->port, family == AF_INET ? "IPv4" : "IPv6",
				 strerror(-fd),
				 fd == -EADDRINUSE
				     ? " (another process holds the port in this namespace)"
				     : "");
			socks_close(u, g, fi);
			return fd;
		}
		s->u = u;
		s->g = g;
		s->fd = fd;
		s->family = family;
		s->worker = w;
	}
	return 0;
}

static struct udp_group *group_find(const struct coop_udp *u, const struct nskey *ns, uint16_t port)
{
	struct udp_group *g;

	for (g = u->groups; g; g = g->next)
		if (g->port == port && g->ns.ino == ns->ino && g->ns.dev == ns->dev)
			return g;
	return NULL;
}

static void group_free(struct coop_udp *u, struct udp_group *g)
{
	struct udp_group **pp;
	size_t i;

	for (pp = &u->groups; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			u->n_groups--;
			break;
		}
	}
	socks_close(u, g, FAM_V4);
	socks_close(u, g, FAM_V6);
	coop_udp_table_clear(&g->tab);
	for (i = 0; i < g->n_members; i++)
		g->members[i]->g = NULL;
	free(g->members);
	free(g);
}

/* Worker scratch is made when the first group appears, on the control
 * thread, so that starting a worker cannot fail. */
static int workers_alloc(struct coop_udp *u)
{
	unsigned w;

	if (u->w)
		return 0;
	u->w = calloc(u->n_workers, sizeof(*u->w));
	if (!u->w)
		return -ENOMEM;
	for (w = 0; w < u->n_workers; w++) {
		struct udp_worker *uw = calloc(1, sizeof(*uw));

		if (!uw)
			goto err_free;
		u->w[w] = uw;
		uw->id = w;
		/* Large and mostly untouched: the kernel commits only the
		 * pages datagrams actually fill. */
		uw->rxbuf = malloc((size_t)COOP_UDP_BATCH * COOP_UDP_SLOT);
		uw->txbuf = malloc(TX_ARENA);
		if (!uw->rxbuf || !uw->txbuf)
			goto err_free;
	}
	return 0;

err_free:
	for (w = 0; w < u->n_workers; w++) {
		if (u->w[w]) {
			free(u->w[w]->rxbuf);
			free(u->w[w]->txbuf);
			free(u->w[w]);
		}
	}
	free(u->w);
	u->w = NULL;
	return -ENOMEM;
}

/* --- binds ---------------------------------------------------------------------- */

static int member_add(struct udp_group *g, struct udp_bind *b)
{
	struct udp_bind **m = realloc(g->members, (g->n_members + 1) * sizeof(*m));

	if (!m)
		return -ENOMEM;
	g->members = m;
	g->members[g->n_members++] = b;
	return 0;
}

static void member_del(struct udp_group *g, struct udp_bind *b)
{
	size_t i;

	for (i = 0; i < g->n_members; i++) {
		if (g->members[i] == b) {
			g->members[i] = g->members[--g->n_members];
			return;
		}
	}
}

static void bind_release_addrs(struct udp_bind *b)
{
	const struct coop_vs_cfg *cfg = b->uvs->cfg;
	struct udp_group *g = b->g;
	uint8_t key[16];
	size_t i;

	for (i = 0; i < cfg->n_addrs; i++) {
		addr_key(&cfg->addrs[i].addr, key);
		coop_udp_table_remove(&g->tab, cfg->addrs[i].addr.family, key, b);
	}
	for (i = 0; i < 2; i++)
		if (g->wild[i] == b)
			g->wild[i] = NULL;
}

static void bind_leave(struct coop_udp *u, struct udp_bind *b)
{
	struct udp_group *g = b->g;

	if (!g)
		return;
	bind_release_addrs(b);
	b->g = NULL;
	member_del(g, b);
	if (!g->n_members)
		group_free(u, g);
}

/* Join (or create) the group of b's port in the VS's namespace, open the
 * families it needs, claim its addresses. Nothing is left on failure. */
static int bind_join(struct coop_udp *u, struct udp_bind *b, char *err, size_t errlen)
{
	struct coop_vs *vs = b->uvs->vs;
	const struct coop_vs_cfg *cfg = b->uvs->cfg;
	struct udp_group *g = group_find(u, &b->uvs->ns, b->port);
	bool need[2] = {false, false}, opened[2] = {false, false};
	char abuf[INET6_ADDRSTRLEN];
	struct udp_bind *owner;
	uint8_t key[16];
	size_t i;
	int fi, ret;

	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g) {
			snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
			return -ENOMEM;
		}
		g->ns = b->uvs->ns;
		g->port = b->port;
		g->next = u->groups;
		u->groups = g;
		u->n_groups++;
	}
	if (member_add(g, b) < 0) {
		if (!g->n_members)
			group_free(u, g);
		snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
		return -ENOMEM;
	}
	b->g = g;
	if (cfg->n_addrs) {
		for (i = 0; i < cfg->n_addrs; i++)
			need[fam_index(cfg->addrs[i].addr.family)] = true;
	} else {
		need[FAM_V4] = need[FAM_V6] = true;
	}
	for (fi = 0; fi < 2; fi++) {
		if (!need[fi] || g->socks[fi])
			continue;
		ret = socks_open(u, g, fi, vs, err, errlen);
		/* A namespace without IPv6 still serves a VS that did not ask
		 * for it by address. */
		if (ret == -EAFNOSUPPORT && fi == FAM_V6 && !cfg->n_addrs)
			continue;
		if (ret < 0)
			goto err_close;
		opened[fi] = true;
	}
	if (!cfg->n_addrs) {
		for (fi = 0; fi < 2; fi++) {
			if (g->wild[fi]) {
				snprintf(err, errlen,
					 "vs '%s': listen udp:%u: vs '%s' already takes every "
					 "address of this namespace on that port",
					 cfg->name, b->port, g->wild[fi]->uvs->vs->cfg->name);
				ret = -EADDRINUSE;
				goto err_release;
			}
		}
		g->wild[FAM_V4] = b;
		g->wild[FAM_V6] = b;
		return 0;
	}
	for (i = 0; i < cfg->n_addrs; i++) {
		const struct coop_addr *a = &cfg->addrs[i].addr;

		addr_key(a, key);
		ret = coop_udp_table_insert(&g->tab, a->family, key, b, &owner);
		if (ret == -EEXIST && owner == b)
			continue; /* the same address listed twice */
		if (ret == -EEXIST) {
			snprintf(err, errlen,
				 "vs '%s': listen udp:%u: address %s is already served by vs '%s' "
				 "in the same namespace",
				 cfg->name, b->port, coop_addr_str(a, abuf, sizeof(abuf)),
				 owner->uvs->vs->cfg->name);
			ret = -EADDRINUSE;
			goto err_release;
		}
		if (ret < 0) {
			snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
			goto err_release;
		}
	}
	return 0;

err_release:
	bind_release_addrs(b);
err_close:
	for (fi = 0; fi < 2; fi++)
		if (opened[fi])
			socks_close(u, g, fi);
	b->g = NULL;
	member_del(g, b);
	if (!g->n_members)
		group_free(u, g);
	return ret;
}

/* The VS's namespace and mark, read off a socket its backend makes: the
 * demux needs no knowledge of backends. */
static int vs_probe(struct coop_vs *vs, struct udp_vs *uvs, char *err, size_t errlen)
{
	socklen_t ml = sizeof(uvs->mark);
	struct stat st;
	int fd, nsfd, ret = 0;

	fd = coop_vs_socket(vs, AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		snprintf(err, errlen, "vs '%s': udp: cannot make a socket: %s", vs->cfg->name,
			 strerror(-fd));
		return fd;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_MARK, &uvs->mark, &ml) < 0)
		uvs->mark = 0;
	nsfd = ioctl(fd, SIOCGSKNS);
	if (nsfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "vs '%s': udp: cannot find the socket's namespace: %s",
			 vs->cfg->name, strerror(errno));
		goto out_close;
	}
	if (fstat(nsfd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "vs '%s': udp: %s", vs->cfg->name, strerror(errno));
	} else {
		uvs->ns.dev = st.st_dev;
		uvs->ns.ino = st.st_ino;
	}
	close(nsfd);
out_close:
	close(fd);
	return ret;
}

/* --- public (internal) API ------------------------------------------------------ */

int coop_udp_new(unsigned n_workers, struct coop_udp **out)
{
	struct coop_udp *u;

	if (!n_workers)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->n_workers = n_workers;
	u->gs = aligned_alloc(64, sizeof(*u->gs) * n_workers);
	if (!u->gs) {
		free(u);
		return -ENOMEM;
	}
	memset(u->gs, 0, sizeof(*u->gs) * n_workers);
	coop_udp_reply_limit(u, COOP_UDP_REPLY_RATE, COOP_UDP_REPLY_BURST);
	*out = u;
	return 0;
}

static void uvs_free(struct udp_vs *uvs)
{
	free(uvs->bucket);
	free(uvs->binds);
	free(uvs->ws);
	free(uvs);
}

static size_t udp_listens(const struct coop_vs_cfg *cfg)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->n_listens; i++)
		if (cfg->listens[i].proto == IPPROTO_UDP)
			n++;
	return n;
}

static int vs_add_cfg(struct coop_udp *u, struct coop_vs *vs, const struct coop_vs_cfg *cfg,
		      char *err, size_t errlen)
{
	size_t n = udp_listens(cfg), i, k = 0, j;
	struct udp_vs *uvs;
	int ret;

	if (!n)
		return 0;
	if (!u) {
		snprintf(err, errlen, "vs '%s': udp listeners need a runtime with a UDP demux",
			 cfg->name);
		return -EINVAL;
	}
	if (atomic_load(&u->started)) {
		snprintf(err, errlen, "vs '%s': udp listeners cannot change while workers run",
			 cfg->name);
		return -EBUSY;
	}
	if (vs_find(u, vs)) {
		snprintf(err, errlen, "vs '%s': udp listeners already open", cfg->name);
		return -EEXIST;
	}
	uvs = calloc(1, sizeof(*uvs));
	if (!uvs)
		goto err_nomem;
	uvs->vs = vs;
	uvs->cfg = cfg;
	uvs->binds = calloc(n, sizeof(*uvs->binds));
	uvs->ws = aligned_alloc(64, sizeof(*uvs->ws) * u->n_workers);
	uvs->bucket = aligned_alloc(64, sizeof(*uvs->bucket));
	if (!uvs->binds || !uvs->ws || !uvs->bucket) {
		uvs_free(uvs);
		goto err_nomem;
	}
	memset(uvs->ws, 0, sizeof(*uvs->ws) * u->n_workers);
	memset(uvs->bucket, 0, sizeof(*uvs->bucket));
	ret = vs_probe(vs, uvs, err, errlen);
	if (ret < 0)
		goto err_free;
	ret = workers_alloc(u);
	if (ret < 0) {
		snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
		goto err_free;
	}
	for (i = 0; i < cfg->n_listens; i++) {
		const struct coop_listen_cfg *lc = &cfg->listens[i];
		struct udp_bind *b = &uvs->binds[k];

		if (lc->proto != IPPROTO_UDP)
			continue;
		b->uvs = uvs;
		b->port = lc->port;
		b->svc = coop_service_find(vs->coop, lc->service);
		if (!b->svc || !b->svc->on_datagram) {
			snprintf(err, errlen, "vs '%s': listen udp:%u %s: %s", cfg->name, lc->port,
				 lc->service,
				 b->svc ? "the service has no datagram handler"
					: "unknown service");
			ret = -EINVAL;
			goto err_leave;
		}
		for (j = 0; j < k; j++) {
			if (uvs->binds[j].port == lc->port) {
				snprintf(err, errlen, "vs '%s': listen udp:%u is given twice",
					 cfg->name, lc->port);
				ret = -EINVAL;
				goto err_leave;
			}
		}
		ret = bind_join(u, b, err, errlen);
		if (ret < 0)
			goto err_leave;
		uvs->n_binds = ++k;
	}
	ret = vs_insert(u, uvs);
	if (ret < 0) {
		snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
		goto err_leave;
	}
	return 0;

err_leave:
	while (k--)
		bind_leave(u, &uvs->binds[k]);
err_free:
	uvs_free(uvs);
	return ret;
err_nomem:
	snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
	return -ENOMEM;
}

int coop_udp_vs_add(struct coop_udp *u, struct coop_vs *vs, char *err, size_t errlen)
{
	return vs_add_cfg(u, vs, vs->cfg, err, errlen);
}

void coop_udp_vs_del(struct coop_udp *u, struct coop_vs *vs)
{
	struct udp_vs *uvs = vs_find(u, vs);
	size_t k;

	if (!uvs)
		return;
	for (k = uvs->n_binds; k-- > 0;)
		bind_leave(u, &uvs->binds[k]);
	vs_unlink(u, uvs);
	uvs_free(uvs);
}

void coop_udp_free(struct coop_udp *u)
{
	size_t i;
	unsigned w;

	if (!u)
		return;
	for (i = 0; u->vht && i <= u->vht_mask; i++) {
		while (u->vht[i])
			coop_udp_vs_del(u, u->vht[i]->vs);
	}
	while (u->groups) /* only reachable if a bind leaked; close anyway */
		group_free(u, u->groups);
	for (w = 0; u->w && w < u->n_workers; w++) {
		free(u->w[w]->rxbuf);
		free(u->w[w]->txbuf);
		free(u->w[w]);
	}
	free(u->w);
	free(u->vht);
	free(u->gs);
	free(u);
}

void coop_udp_worker_start(struct coop_udp *u, struct coop_worker *w)
{
	struct udp_group *g;
	int fi;

	atomic_fetch_add(&u->started, 1);
	for (g = u->groups; g; g = g->next) {
		for (fi = 0; fi < 2; fi++) {
			struct udp_sock *s;

			if (!g->socks[fi])
				continue;
			s = &g->socks[fi][w->id];
			ev_io_init(&s->io, sock_cb, s->fd, EV_READ);
			ev_io_start(w->loop, &s->io);
		}
	}
}

void coop_udp_worker_stop(struct coop_udp *u, struct coop_worker *w)
{
	struct udp_group *g;
	int fi;

	for (g = u->groups; g; g = g->next)
		for (fi = 0; fi < 2; fi++)
			if (g->socks[fi])
				ev_io_stop(w->loop, &g->socks[fi][w->id].io);
	atomic_fetch_sub(&u->started, 1);
}

void coop_udp_vs_lose(struct coop_udp *u, struct coop_vs *vs)
{
	struct udp_vs *uvs = vs_find(u, vs);

	if (uvs)
		atomic_store(&uvs->lost, true);
}

static bool group_all(const struct udp_group *g, bool released)
{
	size_t i;

	for (i = 0; i < g->n_members; i++) {
		const struct udp_vs *m = g->members[i]->uvs;

		if (released ? !m->released : !atomic_load(&m->lost))
			return false;
	}
	return true;
}

void coop_udp_vs_release_worker(struct coop_udp *u, struct coop_vs *vs, struct coop_worker *w)
{
	struct udp_vs *uvs = vs_find(u, vs);
	size_t k;
	int fi;

	for (k = 0; uvs && k < uvs->n_binds; k++) {
		struct udp_group *g = uvs->binds[k].g;

		/* A group still serving another VS keeps its sockets; the
		 * lost VS's datagrams are dropped by dispatch. */
		if (!g || !group_all(g, false))
			continue;
		for (fi = 0; fi < 2; fi++)
			if (g->socks[fi])
				ev_io_stop(w->loop, &g->socks[fi][w->id].io);
	}
}

void coop_udp_vs_released(struct coop_udp *u, struct coop_vs *vs)
{
	struct udp_vs *uvs = vs_find(u, vs);
	size_t k;

	if (!uvs)
		return;
	uvs->released = true;
	/* Once every member of a group is released, every worker has run
	 * the release of the last one to be lost, with all members' flags
	 * already set: none watches the group any more. */
	for (k = 0; k < uvs->n_binds; k++) {
		struct udp_group *g = uvs->binds[k].g;

		if (g && group_all(g, true))
			group_free(u, g);
	}
}

int coop_udp_sendto(struct coop_udp *u, unsigned worker, struct coop_vs *vs, uint16_t port,
		    const struct sockaddr *dst, socklen_t dstlen, const void *buf, size_t len)
{
	struct udp_vs *uvs = vs_find(u, vs);
	struct udp_bind *b = NULL;
	struct udp_worker *uw;
	struct udp_sock *s;
	struct msghdr mh;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union udp_ctl ctl;
	size_t i, max;
	int family, fi;

	if (!uvs)
		return -ENOENT;
	if (worker >= u->n_workers || !dst)
		return -EINVAL;
	for (i = 0; i < uvs->n_binds; i++)
		if (uvs->binds[i].port == port)
			b = &uvs->binds[i];
	if (!b || !b->g || atomic_load(&uvs->lost))
		return -ENOENT;
	family = dst->sa_family;
	if ((family == AF_INET && dstlen < sizeof(struct sockaddr_in)) ||
	    (family == AF_INET6 && dstlen < sizeof(struct sockaddr_in6)) ||
	    (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	max = family == AF_INET ? UDP4_MAX : UDP6_MAX;
	if (len > max)
		return -EMSGSIZE;
	fi = fam_index(family);
	if (!b->g->socks[fi])
		return -EAFNOSUPPORT;
	s = &b->g->socks[fi][worker];
	uw = u->w[worker];
	/* Keep the order of what this worker already queued on the socket. */
	if (uw->ntx && uw->txsock == s)
		tx_flush(uw);
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)dst;
	mh.msg_namelen = dstlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	for (i = 0; i < vs->cfg->n_addrs; i++) {
		const struct coop_addr *a = &vs->cfg->addrs[i].addr;

		if (a->family == family) {
			mh.msg_control = ctl.buf;
			mh.msg_controllen = ctl_fill(&ctl, family, &a->v4, 0, uvs->mark);
			break;
		}
	}
	if (!mh.msg_control && uvs->mark) {
		struct cmsghdr *cm = (struct cmsghdr *)ctl.buf;

		memset(&ctl, 0, sizeof(ctl));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SO_MARK;
		cm->cmsg_len = CMSG_LEN(sizeof(uvs->mark));
		memcpy(CMSG_DATA(cm), &uvs->mark, sizeof(uvs->mark));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(uvs->mark));
	}
	while (sendmsg(s->fd, &mh, MSG_DONTWAIT) < 0) {
		if (errno == EINTR)
			continue;
		stat_add(&uvs->ws[worker].drop_send, 1);
		return -errno;
	}
	stat_add(&uvs->ws[worker].out, 1);
	stat_add(&uvs->ws[worker].bytes_out, len);
	return 0;
}

int coop_vs_udp_sendto(struct coop_vs *vs, uint16_t port, const struct sockaddr *dst,
		       socklen_t dstlen, const void *buf, size_t len)
{
	struct coop_worker *w = coop_worker_self();

	/* The calling worker's socket: a worker's sockets and counters are
	 * its own. */
	struct coop_udp *u = coop_module_priv(vs->coop, COOP_MOD_UDP);

	if (!w || w->coop != vs->coop || !u)
		return -EINVAL;
	return coop_udp_sendto(u, w->id, vs, port, dst, dstlen, buf, len);
}

void coop_vs_udp_stats_get(const struct coop_vs *vs, struct coop_vs_udp_stats *out)
{
	coop_udp_vs_stats(coop_module_priv(vs->coop, COOP_MOD_UDP), vs, out);
}

void coop_udp_stats_get(const struct coop *c, struct coop_udp_stats *out)
{
	coop_udp_stats(coop_module_priv(c, COOP_MOD_UDP), out);
}

uint32_t coop_udp_vs_mark(const struct coop_udp *u, const struct coop_vs *vs)
{
	const struct udp_vs *uvs = vs_find(u, vs);

	return uvs ? uvs->mark : 0;
}

void coop_udp_vs_stats(const struct coop_udp *u, const struct coop_vs *vs,
		       struct coop_vs_udp_stats *out)
{
	const struct udp_vs *uvs = vs_find(u, vs);
	unsigned w;

	memset(out, 0, sizeof(*out));
	if (!uvs)
		return;
	for (w = 0; w < u->n_workers; w++) {
		const struct udp_wstats *s = &uvs->ws[w];

		out->dgrams_in += ld(&s->in);
		out->dgrams_out += ld(&s->out);
		out->bytes_in += ld(&s->bytes_in);
		out->bytes_out += ld(&s->bytes_out);
		out->drop_service += ld(&s->drop_service);
		out->drop_send += ld(&s->drop_send);
		out->drop_trunc += ld(&s->drop_trunc);
		out->drop_rate += ld(&s->drop_rate);
	}
}

void coop_udp_stats(const struct coop_udp *u, struct coop_udp_stats *out)
{
	unsigned w;

	memset(out, 0, sizeof(*out));
	if (!u)
		return;
	for (w = 0; w < u->n_workers; w++) {
		out->drop_no_vs += ld(&u->gs[w].no_vs);
		out->drop_no_pktinfo += ld(&u->gs[w].no_pktinfo);
		out->rx_errors += ld(&u->gs[w].rx_errors);
	}
	out->groups = u->n_groups;
	out->sockets = u->n_socks;
}

void coop_udp_vs_json(const struct coop_udp *u, const struct coop_vs *vs, struct coop_json *out)
{
	struct coop_vs_udp_stats st;

	coop_udp_vs_stats(u, vs, &st);
	coop_json_key(out, "udp");
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "dgrams_in", st.dgrams_in);
	coop_json_kv_u64(out, "dgrams_out", st.dgrams_out);
	coop_json_kv_u64(out, "bytes_in", st.bytes_in);
	coop_json_kv_u64(out, "bytes_out", st.bytes_out);
	coop_json_key(out, "drops");
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "service", st.drop_service);
	coop_json_kv_u64(out, "send", st.drop_send);
	coop_json_kv_u64(out, "truncated", st.drop_trunc);
	coop_json_kv_u64(out, "rate", st.drop_rate);
	coop_json_object_end(out);
	coop_json_object_end(out);
}

void coop_udp_json(const struct coop_udp *u, struct coop_json *out)
{
	struct coop_udp_stats st;

	coop_udp_stats(u, &st);
	coop_json_key(out, "udp");
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "groups", st.groups);
	coop_json_kv_u64(out, "sockets", st.sockets);
	coop_json_key(out, "drops");
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "no_vs", st.drop_no_vs);
	coop_json_kv_u64(out, "no_pktinfo", st.drop_no_pktinfo);
	coop_json_kv_u64(out, "rx_errors", st.rx_errors);
	coop_json_object_end(out);
	coop_json_object_end(out);
}

/* --- the module ------------------------------------------------------------------ */

static struct coop_udp *udp_of(const struct coop *c)
{
	return coop_module_priv(c, COOP_MOD_UDP);
}

static void worker_pause(struct coop_worker *w, void *arg)
{
	coop_udp_worker_stop(arg, w);
}

static void worker_resume(struct coop_worker *w, void *arg)
{
	coop_udp_worker_start(arg, w);
}

/* With workers running, the tables change only while every worker has
 * stopped watching the demux's sockets (datagrams wait in the kernel) and
 * stands parked (no service is inside coop_vs_udp_sendto). */
static void live_begin(struct coop *c)
{
	coop_workers_run(c, worker_pause, udp_of(c));
	coop_workers_park(c);
}

static void live_end(struct coop *c)
{
	coop_workers_unpark(c);
	coop_workers_run(c, worker_resume, udp_of(c));
}

static int udp_start(struct coop *c, char *err, size_t errlen)
{
	struct coop_udp *u;
	int ret = coop_udp_new(c->n_workers, &u);

	if (ret < 0) {
		snprintf(err, errlen, "udp: out of memory");
		return ret;
	}
	coop_module_set_priv(c, COOP_MOD_UDP, u);
	return 0;
}

static void udp_stop(struct coop *c)
{
	coop_udp_free(udp_of(c));
	coop_module_set_priv(c, COOP_MOD_UDP, NULL);
}

static int udp_vs_add(struct coop_vs *vs, char *err, size_t errlen)
{
	struct coop *c = vs->coop;
	int ret;

	if (!udp_listens(vs->cfg))
		return 0;
	live_begin(c);
	ret = coop_udp_vs_add(udp_of(c), vs, err, errlen);
	live_end(c);
	return ret;
}

/* What the demux keeps of a section: its udp entries and its addresses. */
static bool udp_same(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b)
{
	size_t i, j;

	if (!coop_vs_cfg_addrs_equal(a, b) || udp_listens(a) != udp_listens(b))
		return false;
	for (i = j = 0; i < a->n_listens; i++) {
		if (a->listens[i].proto != IPPROTO_UDP)
			continue;
		while (j < b->n_listens && b->listens[j].proto != IPPROTO_UDP)
			j++;
		if (j == b->n_listens || !coop_listen_equal(&a->listens[i], &b->listens[j++]))
			return false;
	}
	return true;
}

static int udp_vs_change(struct coop_vs *vs, const struct coop_vs_cfg *old,
			 const struct coop_vs_cfg *new, struct coop_change_note *note, char *err,
			 size_t errlen)
{
	struct coop *c = vs->coop;
	struct coop_udp *u = udp_of(c);
	char again[256];
	int ret = 0;

	if (udp_same(old, new)) {
		/* same binds: they now belong to the VS's new section (the
		 * old one is freed after the reload) */
		struct udp_vs *uvs = vs_find(u, vs);

		if (uvs)
			uvs->cfg = new;
		return 0;
	}
	live_begin(c);
	coop_udp_vs_del(u, vs);
	if (udp_listens(new))
		ret = vs_add_cfg(u, vs, new, err, errlen);
	if (ret < 0 && udp_listens(old) && vs_add_cfg(u, vs, old, again, sizeof(again)) < 0)
		coop_warn("vs '%s': udp: cannot restore the old listeners: %s", old->name, again);
	live_end(c);
	if (ret == 0)
		coop_change_note_add(note, "udp listeners updated");
	return ret;
}

static void udp_vs_lose(struct coop_vs *vs)
{
	coop_udp_vs_lose(udp_of(vs->coop), vs);
}

static void udp_vs_release_worker(struct coop_vs *vs, struct coop_worker *w)
{
	coop_udp_vs_release_worker(udp_of(vs->coop), vs, w);
}

static void udp_vs_remove(struct coop_vs *vs)
{
	struct coop *c = vs->coop;
	struct coop_udp *u = udp_of(c);

	if (!vs_find(u, vs))
		return;
	live_begin(c);
	coop_udp_vs_del(u, vs);
	live_end(c);
}

static void udp_worker_start(struct coop *c, struct coop_worker *w)
{
	coop_udp_worker_start(udp_of(c), w);
}

static void udp_worker_stop(struct coop *c, struct coop_worker *w)
{
	coop_udp_worker_stop(udp_of(c), w);
}

static void udp_vs_json(const struct coop_vs *vs, struct coop_json *out, bool detail)
{
	(void)detail;
	coop_udp_vs_json(udp_of(vs->coop), vs, out);
}

static void udp_stats_json(struct coop *c, struct coop_json *out)
{
	coop_udp_json(udp_of(c), out);
}

/* /metrics: each VS's datagram counters (the VSes with udp listeners) and
 * the demux's own, from the per-worker counters. */
static void udp_metrics(struct coop *c, struct coop_prom *p)
{
	struct coop_prom_family *din, *dout, *bin, *bout, *vdrops, *drops;
	const struct coop_udp *u = udp_of(c);
	struct coop_vs_udp_stats vst;
	struct coop_udp_stats st;
	size_t i;

	if (!u)
		return;
	din = coop_prom_family(p, "coop_vs_udp_dgrams_in_total", COOP_PROM_COUNTER,
			       "UDP datagrams handed to the VS's services");
	dout = coop_prom_family(p, "coop_vs_udp_dgrams_out_total", COOP_PROM_COUNTER,
				"UDP datagrams sent from the VS (replies and sendto)");
	bin = coop_prom_family(p, "coop_vs_udp_bytes_in_total", COOP_PROM_COUNTER,
			       "UDP payload bytes received by the VS");
	bout = coop_prom_family(p, "coop_vs_udp_bytes_out_total", COOP_PROM_COUNTER,
				"UDP payload bytes sent from the VS");
	vdrops = coop_prom_family(p, "coop_vs_udp_drops_total", COOP_PROM_COUNTER,
				  "UDP datagrams of the VS dropped: refused by the service, "
				  "refused by the kernel on send, truncated on receive, "
				  "replies over the VS's reply rate");
	for (i = 0; i < c->n_vs; i++) {
		const struct coop_vs *vs = c->vs[i];
		const char *name = vs->cfg->name;

		if (!vs_find(u, vs))
			continue;
		coop_udp_vs_stats(u, vs, &vst);
		coop_prom_u64(din, vst.dgrams_in, "vs", name, NULL);
		coop_prom_u64(dout, vst.dgrams_out, "vs", name, NULL);
		coop_prom_u64(bin, vst.bytes_in, "vs", name, NULL);
		coop_prom_u64(bout, vst.bytes_out, "vs", name, NULL);
		coop_prom_u64(vdrops, vst.drop_service, "vs", name, "reason", "service", NULL);
		coop_prom_u64(vdrops, vst.drop_send, "vs", name, "reason", "send", NULL);
		coop_prom_u64(vdrops, vst.drop_trunc, "vs", name, "reason", "truncated", NULL);
		coop_prom_u64(vdrops, vst.drop_rate, "vs", name, "reason", "rate", NULL);
	}

	coop_udp_stats(u, &st);
	drops = coop_prom_family(p, "coop_udp_drops_total", COOP_PROM_COUNTER,
				 "UDP datagrams no VS could take: no VS owns the destination "
				 "address, no destination address came with it");
	coop_prom_u64(drops, st.drop_no_vs, "reason", "no_vs", NULL);
	coop_prom_u64(drops, st.drop_no_pktinfo, "reason", "no_pktinfo", NULL);
	coop_prom_u64(coop_prom_family(p, "coop_udp_rx_errors_total", COOP_PROM_COUNTER,
				       "UDP receive calls that failed (other than EAGAIN)"),
		      st.rx_errors, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_udp_groups", COOP_PROM_GAUGE,
				       "shared (namespace, port) UDP socket groups"),
		      st.groups, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_udp_sockets", COOP_PROM_GAUGE,
				       "UDP sockets of the groups (one per worker and family)"),
		      st.sockets, NULL);
}

const struct coop_module coop_mod_udp = {
	.id = COOP_MOD_UDP,
	.name = "udp",
	.start = udp_start,
	.stop = udp_stop,
	.vs_add = udp_vs_add,
	.vs_change = udp_vs_change,
	.vs_lose = udp_vs_lose,
	.vs_release_worker = udp_vs_release_worker,
	.vs_remove = udp_vs_remove,
	.worker_start = udp_worker_start,
	.worker_stop = udp_worker_stop,
	.vs_json = udp_vs_json,
	.stats_json = udp_stats_json,
	.metrics = udp_metrics,
};
