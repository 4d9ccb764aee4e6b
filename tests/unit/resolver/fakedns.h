/* fakedns.h - an in-process DNS server for the resolver's unit tests: UDP
 * and TCP on 127.0.0.1, its own thread and libev loop, answers from a rule
 * table (records, CNAME, NXDOMAIN/NODATA with or without SOA, SERVFAIL,
 * REFUSED, silence, truncation over UDP), and a log of every question with
 * its transport. Test-only. */
#ifndef COOP_TEST_FAKEDNS_H
#define COOP_TEST_FAKEDNS_H

#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resolver/resolver_priv.h"
#include "tests/unit/resolver/dnsmsg.h"

enum fake_act {
	FAKE_ANSWER,   /* records below */
	FAKE_NXDOMAIN, /* rcode 3 */
	FAKE_NODATA,   /* rcode 0, no answer */
	FAKE_SERVFAIL, /* rcode 2 */
	FAKE_REFUSED,  /* rcode 5 */
	FAKE_DROP,     /* no reply at all */
};

/* Extra record kinds a rule can answer with. */
enum fake_custom { FAKE_PLAIN, FAKE_SRV, FAKE_PTR };

/* How to answer one (name, type). */
struct fake_rule {
	char name[128];	   /* question name (case-insensitive) */
	uint16_t type;	   /* question type */
	enum fake_act act; /* what to do */
	char addrs[4][48]; /* A or AAAA rdata, by the type */
	int n_addrs;
	int n_big;		 /* this many A records more (198.19.x.y): truncation */
	char cname[128];	 /* answer with NAME CNAME cname first */
	uint32_t ttl;		 /* of the records (and the SOA minimum) */
	bool soa;		 /* negative answers carry an SOA */
	enum fake_custom custom; /* SRV or PTR records */
};

/* One question the server saw. */
struct fake_log {
	char name[256]; /* as asked */
	uint16_t type;	/* QTYPE */
	bool tcp;	/* over TCP */
};

struct fake_conn {
	struct fake_server *s;	 /* server */
	ev_io io;		 /* readable */
	unsigned char buf[4096]; /* partial message */
	size_t len;
	struct fake_conn *next; /* server's list */
};

struct fake_server {
	int udp, tcp;	      /* sockets */
	uint16_t port;	      /* both on 127.0.0.1:port */
	struct ev_loop *loop; /* own loop */
	pthread_t thread;     /* running it */
	ev_io uio, tio;	      /* readable / acceptable */
	ev_async stop;	      /* breaks the loop */
	pthread_mutex_t lock; /* rules and log */
	struct fake_rule rules[32];
	int n_rules;
	struct fake_log log[512];
	int n_log;
	struct fake_conn *conns; /* TCP connections */
};

static inline struct fake_rule *fake_rule(struct fake_server *s, const char *name, uint16_t type,
					  enum fake_act act)
{
	struct fake_rule *r;

	pthread_mutex_lock(&s->lock);
	r = &s->rules[s->n_rules++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->type = type;
	r->act = act;
	r->ttl = 300;
	pthread_mutex_unlock(&s->lock);
	return r;
}

static inline void fake_addr(struct fake_rule *r, const char *a)
{
	snprintf(r->addrs[r->n_addrs++], sizeof(r->addrs[0]), "%s", a);
}

/* Questions logged so far; with name, only those for name (and type if
 * not 0); tcp: -1 any, 0 UDP only, 1 TCP only. */
static inline int fake_count(struct fake_server *s, const char *name, uint16_t type, int tcp)
{
	int i, n = 0;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n_log; i++) {
		if (name && strcasecmp(s->log[i].name, name))
			continue;
		if (type && s->log[i].type != type)
			continue;
		if (tcp >= 0 && s->log[i].tcp != (tcp == 1))
			continue;
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

static inline void fake_reset(struct fake_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->n_rules = 0;
	s->n_log = 0;
	pthread_mutex_unlock(&s->lock);
}

/* The name of the i-th logged question ("" past the end). */
static inline void fake_logged(struct fake_server *s, int i, char *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	snprintf(buf, len, "%s", i < s->n_log ? s->log[i].name : "");
	pthread_mutex_unlock(&s->lock);
}

static inline void fake_answer_records(struct msgb *m, const struct fake_rule *r, unsigned *an)
{
	size_t at;
	int i;

	if (r->cname[0]) {
		at = mb_rr_q(m, COOP_DNS_CNAME, r->ttl);
		mb_name(m, r->cname);
		mb_rr_end(m, at);
		(*an)++;
	}
	for (i = 0; i < r->n_addrs + r->n_big; i++) {
		at =
		    r->cname[0] ? mb_rr(m, r->cname, r->type, r->ttl) : mb_rr_q(m, r->type, r->ttl);
		if (i >= r->n_addrs) {
			int k = i - r->n_addrs;

			mb_u8(m, 198);
			mb_u8(m, 19);
			mb_u8(m, (unsigned)(k / 250));
			mb_u8(m, (unsigned)(k % 250 + 1));
		} else if (r->type == COOP_DNS_AAAA) {
			mb_aaaa(m, r->addrs[i]);
		} else {
			mb_a(m, r->addrs[i]);
		}
		mb_rr_end(m, at);
		(*an)++;
	}
	if (r->custom == FAKE_SRV) {
		at = mb_rr_q(m, COOP_DNS_SRV, r->ttl);
		mb_u16(m, 0);
		mb_u16(m, 100);
		mb_u16(m, 389);
		mb_name(m, "dc1.corp.test");
		mb_rr_end(m, at);
		at = mb_rr_q(m, COOP_DNS_SRV, r->ttl);
		mb_u16(m, 10);
		mb_u16(m, 0);
		mb_u16(m, 389);
		mb_name(m, "dc2.corp.test");
		mb_rr_end(m, at);
		*an += 2;
	} else if (r->custom == FAKE_PTR) {
		at = mb_rr_q(m, COOP_DNS_PTR, r->ttl);
		mb_name(m, "host9.corp.test");
		mb_rr_end(m, at);
		(*an)++;
	}
}

/* The reply to query q (0 bytes: say nothing). */
static inline size_t fake_reply(struct fake_server *s, const unsigned char *q, size_t qlen,
				bool tcp, struct msgb *m)
{
	struct fake_rule rule, *r = NULL;
	char name[RES_TEXT_NAME_MAX];
	size_t off = 12, qend, limit;
	unsigned an = 0, ns = 0, rcode = 0;
	uint16_t type;
	int i;

	if (qlen < 12 || res_dns_name(q, qlen, &off, name, sizeof(name)) < 0 || off + 4 > qlen)
		return 0;
	type = (uint16_t)(q[off] << 8 | q[off + 1]);
	qend = off + 4;
	/* EDNS (an OPT record) raises the UDP limit as c-ares asks. */
	limit = (q[10] << 8 | q[11]) ? 1232 : 512;
	pthread_mutex_lock(&s->lock);
	if (s->n_log < (int)(sizeof(s->log) / sizeof(s->log[0]))) {
		snprintf(s->log[s->n_log].name, sizeof(s->log[0].name), "%.255s", name);
		s->log[s->n_log].type = type;
		s->log[s->n_log].tcp = tcp;
		s->n_log++;
	}
	for (i = 0; i < s->n_rules; i++) {
		if (!strcasecmp(s->rules[i].name, name) && s->rules[i].type == type) {
			rule = s->rules[i];
			r = &rule;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!r) {
		memset(&rule, 0, sizeof(rule));
		rule.act = FAKE_NXDOMAIN;
		r = &rule;
	}
	if (r->act == FAKE_DROP)
		return 0;
	if (r->act == FAKE_NXDOMAIN)
		rcode = 3;
	else if (r->act == FAKE_SERVFAIL)
		rcode = 2;
	else if (r->act == FAKE_REFUSED)
		rcode = 5;
	mb_header(m, (unsigned)(q[0] << 8 | q[1]),
		  0x8000 | 0x400 | (q[2] & 1 ? 0x100 : 0) | 0x80 | rcode, 1, 0, 0, 0);
	mb_bytes(m, q + 12, qend - 12);
	if (r->act == FAKE_ANSWER)
		fake_answer_records(m, r, &an);
	if ((r->act == FAKE_NXDOMAIN || r->act == FAKE_NODATA) && r->soa) {
		size_t at = mb_rr(m, "corp.test", COOP_DNS_SOA, r->ttl);

		mb_soa(m, r->ttl);
		mb_rr_end(m, at);
		ns = 1;
	}
	if (!tcp && m->len > limit) {
		/* Too big for UDP: the question only, with TC set. */
		m->len = qend;
		m->buf[2] |= 0x02;
		an = ns = 0;
	}
	m->buf[6] = (unsigned char)(an >> 8);
	m->buf[7] = (unsigned char)an;
	m->buf[8] = (unsigned char)(ns >> 8);
	m->buf[9] = (unsigned char)ns;
	return m->len;
}

static inline void fake_udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fake_server *s =
	    (struct fake_server *)((char *)w - offsetof(struct fake_server, uio));
	static struct msgb m;
	unsigned char q[4096];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recvfrom(s->udp, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	if (n <= 0)
		return;
	if (fake_reply(s, q, (size_t)n, false, &m))
		sendto(s->udp, m.buf, m.len, 0, (struct sockaddr *)&from, fl);
}

static inline void fake_conn_free(struct fake_conn *c)
{
	struct fake_conn **pp = &c->s->conns;

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	ev_io_stop(c->s->loop, &c->io);
	close(c->io.fd);
	free(c);
}

static inline void fake_tcp_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fake_conn *c = (struct fake_conn *)((char *)w - offsetof(struct fake_conn, io));
	static struct msgb m;
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(w->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n <= 0) {
		fake_conn_free(c);
		return;
	}
	c->len += (size_t)n;
	while (c->len >= 2 && c->len >= 2u + (c->buf[0] << 8 | c->buf[1])) {
		size_t ql = (size_t)(c->buf[0] << 8 | c->buf[1]);
		unsigned char hdr[2];

		if (fake_reply(c->s, c->buf + 2, ql, true, &m)) {
			hdr[0] = (unsigned char)(m.len >> 8);
			hdr[1] = (unsigned char)m.len;
			if (send(w->fd, hdr, 2, MSG_NOSIGNAL) != 2 ||
			    send(w->fd, m.buf, m.len, MSG_NOSIGNAL) != (ssize_t)m.len) {
				fake_conn_free(c);
				return;
			}
		}
		memmove(c->buf, c->buf + 2 + ql, c->len - 2 - ql);
		c->len -= 2 + ql;
	}
}

static inline void fake_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fake_server *s =
	    (struct fake_server *)((char *)w - offsetof(struct fake_server, tio));
	struct fake_conn *c;
	int fd;

	(void)revents;
	fd = accept4(s->tcp, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	c->s = s;
	ev_io_init(&c->io, fake_tcp_read_cb, fd, EV_READ);
	ev_io_start(loop, &c->io);
	c->next = s->conns;
	s->conns = c;
}

static inline void fake_stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static inline void *fake_main(void *p)
{
	struct fake_server *s = p;

	ev_run(s->loop, 0);
	return NULL;
}

/* Start a server on 127.0.0.1 (UDP and TCP on the same free port). */
static inline struct fake_server *fake_start(void)
{
	struct fake_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int one = 1, tries;

	pthread_mutex_init(&s->lock, NULL);
	for (tries = 0; tries < 50; tries++) {
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = 0;
		s->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		bind(s->udp, (struct sockaddr *)&sin, sizeof(sin));
		getsockname(s->udp, (struct sockaddr *)&sin, &sl);
		s->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(s->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s->tcp, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    listen(s->tcp, 16) == 0)
			break;
		close(s->udp);
		close(s->tcp);
	}
	s->port = ntohs(sin.sin_port);
	s->loop = ev_loop_new(EVFLAG_AUTO);
	ev_io_init(&s->uio, fake_udp_cb, s->udp, EV_READ);
	ev_io_start(s->loop, &s->uio);
	ev_io_init(&s->tio, fake_accept_cb, s->tcp, EV_READ);
	ev_io_start(s->loop, &s->tio);
	ev_async_init(&s->stop, fake_stop_cb);
	ev_async_start(s->loop, &s->stop);
	pthread_create(&s->thread, NULL, fake_main, s);
	return s;
}

static inline void fake_stop(struct fake_server *s)
{
	ev_async_send(s->loop, &s->stop);
	pthread_join(s->thread, NULL);
	while (s->conns)
		fake_conn_free(s->conns);
	ev_io_stop(s->loop, &s->uio);
	ev_io_stop(s->loop, &s->tio);
	ev_async_stop(s->loop, &s->stop);
	ev_loop_destroy(s->loop);
	close(s->udp);
	close(s->tcp);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

#endif
