/* udp_rr.c - UDP request/reply rate through many VSes sharing one port:
 * the coop demux against one bound socket per VS address and against one
 * shared socket with setsockopt(SO_MARK) before every reply (the paper's
 * approach). One binary: `server MODE` in the VS namespace, `client` in the
 * client namespace (bench/udp/run.sh builds both and alternates modes). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/runtime.h"
#include "vs/udp.h"
#include "vs/udp_table.h"
#include "core/vs.h"

#define MAX_VS 1024
#define BATCH  32
#define SLOT   2048

/* Bench VS i: address BASE.(i+1) (i < 250), mark i+1. */
static struct in_addr vs_addr(const char *base, unsigned i)
{
	char buf[32];
	struct in_addr a;

	snprintf(buf, sizeof(buf), "%s.%u", base, i + 1);
	inet_pton(AF_INET, buf, &a);
	return a;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* --- mode demux: the library's demux with hand-built PBR-style VSes ----------- */

/* A VS as the demux sees it, with the mark its backend would set. */
struct bvs {
	struct coop_vs vs;	       /* the VS */
	struct coop_vs_cfg cfg;	       /* its configuration */
	struct coop_prefix addr;       /* its one address */
	struct coop_listen_cfg listen; /* udp:PORT echo */
	uint32_t mark;		       /* its SO_MARK */
};

static int bsock(struct coop_vs *vs, int domain, int type, int protocol)
{
	struct bvs *b = (struct bvs *)vs;
	int fd = socket(domain, type | SOCK_CLOEXEC, protocol);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &b->mark, sizeof(b->mark)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static const struct coop_iso_ops biso = {.name = "bench", .socket = bsock};

static void echo_dgram(struct coop_dgram *dg, const void *data, size_t len)
{
	coop_dgram_reply(dg, data, len);
}

static void echo_read(struct coop_conn *conn, const void *data, size_t len)
{
	(void)conn;
	(void)data;
	(void)len;
}

static const struct coop_service echo_svc = {
    .name = "echo", .on_read = echo_read, .on_datagram = echo_dgram};

static void serve_demux(const char *base, unsigned n, uint16_t port)
{
	static const struct coop_service *svcs[] = {&echo_svc};
	static struct coop coop = {.services = svcs, .n_services = 1};
	struct coop_worker w = {.id = 0};
	struct coop_udp *u;
	char err[256];
	unsigned i;

	w.loop = ev_default_loop(0);
	if (coop_udp_new(1, &u) < 0)
		die("coop_udp_new");
	for (i = 0; i < n; i++) {
		struct bvs *b = calloc(1, sizeof(*b));

		snprintf(b->cfg.name, sizeof(b->cfg.name), "vs%u", i);
		b->addr.addr.family = AF_INET;
		b->addr.addr.v4 = vs_addr(base, i);
		b->addr.len = 32;
		b->cfg.addrs = &b->addr;
		b->cfg.n_addrs = 1;
		b->listen.proto = IPPROTO_UDP;
		b->listen.port = port;
		snprintf(b->listen.service, sizeof(b->listen.service), "echo");
		b->cfg.listens = &b->listen;
		b->cfg.n_listens = 1;
		b->vs.coop = &coop;
		b->vs.cfg = &b->cfg;
		b->vs.iso = &biso;
		b->vs.n_workers = 1;
		b->mark = i + 1;
		if (coop_udp_vs_add(u, &b->vs, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			exit(1);
		}
	}
	coop_udp_worker_start(u, &w);
	printf("ready\n");
	fflush(stdout);
	ev_run(w.loop, 0);
}

/* --- receive scratch shared by the two baselines --------------------------------- */

struct rx {
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in name[BATCH];
	char ctl[BATCH][64];
	char buf[BATCH][SLOT];
};

static struct rx rx;

static int rx_batch(int fd)
{
	unsigned i;

	for (i = 0; i < BATCH; i++) {
		rx.iov[i].iov_base = rx.buf[i];
		rx.iov[i].iov_len = SLOT;
		rx.m[i].msg_hdr.msg_name = &rx.name[i];
		rx.m[i].msg_hdr.msg_namelen = sizeof(rx.name[i]);
		rx.m[i].msg_hdr.msg_iov = &rx.iov[i];
		rx.m[i].msg_hdr.msg_iovlen = 1;
		rx.m[i].msg_hdr.msg_control = rx.ctl[i];
		rx.m[i].msg_hdr.msg_controllen = sizeof(rx.ctl[i]);
		rx.m[i].msg_hdr.msg_flags = 0;
	}
	return recvmmsg(fd, rx.m, BATCH, MSG_DONTWAIT, NULL);
}

/* --- mode bound: one socket per VS address, marked once ----------------------------- */

struct bsock {
	int fd;	  /* bound to the VS address, SO_MARK set once */
	ev_io io; /* readable */
};

static void bound_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct bsock *s = (struct bsock *)((char *)io - offsetof(struct bsock, io));
	int n, i, r;

	(void)loop;
	(void)revents;
	for (r = 0; r < 4; r++) {
		n = rx_batch(s->fd);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++) {
			/* Reply in place: same buffer, same name. */
			rx.iov[i].iov_len = rx.m[i].msg_len;
			rx.m[i].msg_hdr.msg_control = NULL;
			rx.m[i].msg_hdr.msg_controllen = 0;
		}
		sendmmsg(s->fd, rx.m, n, MSG_DONTWAIT);
		if (n < BATCH)
			return;
	}
}

static void serve_bound(const char *base, unsigned n, uint16_t port)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct bsock *s = calloc(n, sizeof(*s));
	unsigned i;

	for (i = 0; i < n; i++) {
		struct sockaddr_in sin = {
		    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = vs_addr(base, i)};
		uint32_t mark = i + 1;

		s[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (s[i].fd < 0 ||
		    setsockopt(s[i].fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0 ||
		    bind(s[i].fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			die("bound socket");
		ev_io_init(&s[i].io, bound_cb, s[i].fd, EV_READ);
		ev_io_start(loop, &s[i].io);
	}
	printf("ready\n");
	fflush(stdout);
	ev_run(loop, 0);
}

/* --- mode setmark: one wildcard socket, setsockopt(SO_MARK) per reply ------------- */

struct shared {
	int fd;			   /* wildcard, IP_PKTINFO */
	ev_io io;		   /* readable */
	struct coop_udp_table tab; /* address -> VS index + 1 (as a pointer) */
};

static void setmark_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct shared *sh = (struct shared *)((char *)io - offsetof(struct shared, io));
	int n, i, r;

	(void)loop;
	(void)revents;
	for (r = 0; r < 4; r++) {
		n = rx_batch(sh->fd);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++) {
			struct msghdr *mh = &rx.m[i].msg_hdr;
			struct cmsghdr *cm;
			struct in_pktinfo pi;
			uint8_t key[16] = {0};
			uint32_t mark;
			uintptr_t v;

			for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
				if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO)
					break;
			if (!cm)
				continue;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memcpy(key, &pi.ipi_addr, 4);
			v = (uintptr_t)coop_udp_table_find(&sh->tab, AF_INET, key);
			if (!v)
				continue;
			mark = (uint32_t)v;
			/* The paper's Figure 1: mark the socket, then send. */
			setsockopt(sh->fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			pi.ipi_addr.s_addr = 0;
			cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			mh->msg_controllen = CMSG_SPACE(sizeof(pi));
			rx.iov[i].iov_len = rx.m[i].msg_len;
			sendmsg(sh->fd, mh, MSG_DONTWAIT);
		}
		if (n < BATCH)
			return;
	}
}

static void serve_setmark(const char *base, unsigned n, uint16_t port)
{
	struct ev_loop *loop = ev_default_loop(0);
	static struct shared sh;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct udp_bind *cur;
	int one = 1;
	unsigned i;

	sh.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (sh.fd < 0 || setsockopt(sh.fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
	    bind(sh.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("shared socket");
	for (i = 0; i < n; i++) {
		struct in_addr a = vs_addr(base, i);
		uint8_t key[16] = {0};

		memcpy(key, &a, 4);
		if (coop_udp_table_insert(&sh.tab, AF_INET, key,
					  (struct udp_bind *)(uintptr_t)(i + 1), &cur) < 0)
			die("table");
	}
	ev_io_init(&sh.io, setmark_cb, sh.fd, EV_READ);
	ev_io_start(loop, &sh.io);
	printf("ready\n");
	fflush(stdout);
	ev_run(loop, 0);
}

/* --- client ------------------------------------------------------------------------------ */

/* Keep window requests in flight, spread over the n VS addresses; count
 * replies whose source is the address the request went to. Prints
 * "replies/s wrong lost-windows total": the rate after a warm-up, and
 * every good reply of the whole run, which bench/udp/run.sh divides by the
 * server's CPU time (on two cores this client is itself near saturation,
 * and the machine is shared). */
static void client(const char *base, unsigned n, uint16_t port, const char *src, double secs,
		   unsigned window)
{
	static struct mmsghdr tx[BATCH];
	static struct iovec txiov[BATCH];
	static struct sockaddr_in dst[MAX_VS];
	static uint32_t txbuf[BATCH][4];
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct pollfd p;
	uint64_t ok = 0, wrong = 0, resets = 0, ok0 = 0;
	unsigned inflight = 0, next = 0, epoch = 0, i;
	int rcvbuf = 4 << 20;
	double t0, tw, t;
	int fd, k;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	inet_pton(AF_INET, src, &sin.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("client socket");
	/* The client must not be where replies are lost. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	for (i = 0; i < n; i++) {
		dst[i].sin_family = AF_INET;
		dst[i].sin_port = htons(port);
		dst[i].sin_addr = vs_addr(base, i);
	}
	p.fd = fd;
	p.events = POLLIN;
	t0 = now();
	tw = t0 + 0.5; /* warm-up */
	for (;;) {
		while (inflight < window) {
			unsigned m = window - inflight < BATCH ? window - inflight : BATCH;

			for (i = 0; i < m; i++) {
				unsigned v = next++ % n;

				txbuf[i][0] = v;
				txbuf[i][1] = epoch;
				txiov[i].iov_base = txbuf[i];
				txiov[i].iov_len = sizeof(txbuf[i]);
				memset(&tx[i], 0, sizeof(tx[i]));
				tx[i].msg_hdr.msg_name = &dst[v];
				tx[i].msg_hdr.msg_namelen = sizeof(dst[v]);
				tx[i].msg_hdr.msg_iov = &txiov[i];
				tx[i].msg_hdr.msg_iovlen = 1;
			}
			k = sendmmsg(fd, tx, m, 0);
			if (k <= 0)
				break;
			inflight += k;
		}
		if (poll(&p, 1, 50) == 0) {
			/* Replies lost: start a new window. Late replies of the
			 * old one still count, but no longer free a place in
			 * the window, which would overfill it. */
			inflight = 0;
			epoch++;
			resets++;
			continue;
		}
		k = rx_batch(fd);
		for (i = 0; k > 0 && i < (unsigned)k; i++) {
			uint32_t v, e;

			memcpy(&v, rx.buf[i], 4);
			memcpy(&e, rx.buf[i] + 4, 4);
			if (v < n && rx.name[i].sin_addr.s_addr == dst[v].sin_addr.s_addr)
				ok++;
			else
				wrong++;
			if (e == epoch && inflight)
				inflight--;
		}
		t = now();
		if (tw && t >= tw) {
			ok0 = ok;
			tw = 0;
			t0 = t;
		}
		if (!tw && t - t0 >= secs)
			break;
	}
	printf("%.0f %lu %lu %lu\n", (double)(ok - ok0) / (now() - t0), (unsigned long)wrong,
	       (unsigned long)resets, (unsigned long)ok);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 6 && !strcmp(argv[1], "server")) {
		const char *mode = argv[2], *base = argv[3];
		unsigned n = (unsigned)atoi(argv[4]);
		uint16_t port = (uint16_t)atoi(argv[5]);

		if (!n || n > 250)
			goto usage;
		if (!strcmp(mode, "demux"))
			serve_demux(base, n, port);
		else if (!strcmp(mode, "bound"))
			serve_bound(base, n, port);
		else if (!strcmp(mode, "setmark"))
			serve_setmark(base, n, port);
		else
			goto usage;
		return 0;
	}
	if (argc == 8 && !strcmp(argv[1], "client")) {
		unsigned n = (unsigned)atoi(argv[3]);

		if (!n || n > 250)
			goto usage;
		client(argv[2], n, (uint16_t)atoi(argv[4]), argv[5], atof(argv[6]),
		       (unsigned)atoi(argv[7]));
		return 0;
	}
usage:
	fprintf(stderr, "usage: udp_rr server demux|bound|setmark BASE24 NVS PORT\n"
			"       udp_rr client BASE24 NVS PORT SRC SECONDS WINDOW\n"
			"  BASE24: first three octets of the VS addresses (BASE.1 .. BASE.NVS)\n");
	return 2;
}
