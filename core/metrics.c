/* metrics.c - Prometheus text exposition over HTTP on the control loop: the
 * core's samples and every module's metrics hook, rendered from the
 * counters with core/prom.h and kept 100 ms (docs/admin.md, "Metrics"). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "base/log.h"
#include "base/util.h"
#include "core/metrics.h"
#include "core/module.h"
#include "core/prom.h"
#include "core/runtime.h"
#include "core/vs.h"

#define CLIENTS_MAX 32        /* scrapers served at once; more are refused */
#define REQUEST_MAX 4096      /* bytes of request head read */
#define CLIENT_TIMEOUT 5.0    /* seconds a client may take, request to last byte */
#define ACCEPT_PAUSE 0.1      /* seconds accepting rests after EMFILE and the like */
/* Seconds a rendering is served before the next scrape makes a new one:
 * a scrape storm costs at most ten renderings a second of the control
 * loop, whatever the number of VSes. */
#define RENDER_TTL 0.1

/* --- state -------------------------------------------------------------------------- */

struct metrics_client;

/* The metrics server (c->metrics). Control thread only. */
struct coop_metrics {
	struct coop *c;                  /* runtime served */
	int fd;                          /* listening socket */
	ev_io accept_w;                  /* readable: a scraper connects */
	ev_timer accept_pause;           /* accept() failed for lack of resources */
	struct metrics_client *clients;  /* being served */
	unsigned n_clients;
	char where[64];                  /* ADDRESS:PORT, for the log */
	struct coop_mbuf text;           /* the last rendering, served until RENDER_TTL */
	ev_tstamp rendered;              /* when it was made (ev_now) */
	uint64_t renders;                /* renderings so far */
	uint64_t scrapes;                /* GET and HEAD /metrics answered so far */
	bool warned;                     /* a refused family was logged */
};

/* One scraper being served: read its request head, write the response. */
struct metrics_client {
	struct coop_metrics *m;             /* server it came to */
	int fd;                             /* its connection */
	ev_io rio, wio;                     /* readable (request), writable (response) */
	ev_timer timer;                     /* CLIENT_TIMEOUT from connecting */
	char in[REQUEST_MAX];               /* request head so far */
	size_t in_len;                      /* bytes of it */
	struct coop_mbuf out;               /* response */
	size_t off;                         /* bytes of it written */
	struct metrics_client *prev, *next; /* m->clients links */
};

/* --- rendering ---------------------------------------------------------------------- */

/* The core's own samples: the runtime, every VS's TCP counters and state,
 * connections open per worker, and the metrics server's own counters. */
static void core_metrics(struct coop *c, struct coop_prom *p)
{
	struct coop_prom_family *workers, *vs_count, *reloads, *state, *acc, *outb, *active, *bin,
		*bout, *wactive, *gmax, *vmax, *refused, *limclosed;
	struct coop_metrics *m = c->metrics;
	unsigned w, max_w = 0;
	size_t i;

	workers = coop_prom_family(p, "coop_workers", COOP_PROM_GAUGE, "worker threads");
	vs_count = coop_prom_family(p, "coop_vs_count", COOP_PROM_GAUGE,
				    "virtual servers in the configuration, in any state");
	reloads = coop_prom_family(p, "coop_reloads_total", COOP_PROM_COUNTER,
				   "reload commands and SIGHUPs received");
	coop_prom_u64(workers, c->n_workers, NULL);
	coop_prom_u64(vs_count, c->n_vs, NULL);
	coop_prom_u64(reloads, c->reloads, NULL);
	if (m) {
		struct coop_prom_family *scrapes, *renders;

		scrapes = coop_prom_family(p, "coop_metrics_scrapes_total", COOP_PROM_COUNTER,
					   "GET and HEAD /metrics answered (as of this rendering)");
		renders = coop_prom_family(p, "coop_metrics_renders_total", COOP_PROM_COUNTER,
					   "times the text was rendered (scrapes within 100 ms "
					   "share one)");
		coop_prom_u64(scrapes, m->scrapes, NULL);
		coop_prom_u64(renders, m->renders, NULL);
	}

	state = coop_prom_family(p, "coop_vs_state", COOP_PROM_GAUGE,
				 "1 for the state the VS is in (up, draining, removing, losing, "
				 "lost, down)");
	acc = coop_prom_family(p, "coop_vs_tcp_accepted_total", COOP_PROM_COUNTER,
			       "TCP connections accepted");
	outb = coop_prom_family(p, "coop_vs_tcp_outbound_total", COOP_PROM_COUNTER,
				"outbound TCP connections opened");
	active = coop_prom_family(p, "coop_vs_tcp_active", COOP_PROM_GAUGE,
				  "TCP connections open now (accepted and outbound)");
	bin = coop_prom_family(p, "coop_vs_tcp_bytes_in_total", COOP_PROM_COUNTER,
			       "TCP payload bytes received");
	bout = coop_prom_family(p, "coop_vs_tcp_bytes_out_total", COOP_PROM_COUNTER,
				"TCP payload bytes sent");
	gmax = coop_prom_family(p, "coop_tcp_max_connections", COOP_PROM_GAUGE,
				"[global] max_connections in effect: TCP connections open at once "
				"in all VSes together");
	coop_prom_u64(gmax, coop_conn_global_max(c), NULL);
	vmax = coop_prom_family(p, "coop_vs_tcp_max_connections", COOP_PROM_GAUGE,
				"the VS's max_connections (0: none of its own)");
	refused = coop_prom_family(p, "coop_vs_tcp_refused_total", COOP_PROM_COUNTER,
				   "TCP connections refused at a max_connections: the VS's (limit "
				   "vs) or [global] (limit global)");
	limclosed = coop_prom_family(p, "coop_vs_tcp_limit_closed_total", COOP_PROM_COUNTER,
				     "TCP connections closed by a limit: unsent output would pass "
				     "out_max (reason out_max), idle_timeout (reason idle)");
	for (i = 0; i < c->n_vs; i++) {
		const struct coop_vs *vs = c->vs[i];
		const char *name = vs->cfg->name;
		struct coop_conn_limit_stats ls;
		struct coop_vs_stats st;

		coop_conn_limit_stats_get(vs, &ls);
		coop_prom_u64(vmax, vs->cfg->max_connections, "vs", name, NULL);
		coop_prom_u64(refused, ls.refused_vs, "vs", name, "limit", "vs", NULL);
		coop_prom_u64(refused, ls.refused_global, "vs", name, "limit", "global", NULL);
		coop_prom_u64(limclosed, ls.closed_out_max, "vs", name, "reason", "out_max", NULL);
		coop_prom_u64(limclosed, ls.closed_idle, "vs", name, "reason", "idle", NULL);
		coop_vs_stats_get(vs, &st);
		coop_prom_u64(state, 1, "vs", name, "state", coop_vs_state_name(vs->state), NULL);
		coop_prom_u64(acc, st.accepted, "vs", name, NULL);
		coop_prom_u64(outb, st.outbound, "vs", name, NULL);
		coop_prom_u64(active, st.active, "vs", name, NULL);
		coop_prom_u64(bin, st.bytes_in, "vs", name, NULL);
		coop_prom_u64(bout, st.bytes_out, "vs", name, NULL);
		if (vs->wstats && vs->n_workers > max_w)
			max_w = vs->n_workers;
	}

	/* How the kernel spread the connections over the workers. A gauge:
	 * a sum over VSes, it drops when a VS goes, as no counter may. */
	wactive = coop_prom_family(p, "coop_worker_tcp_active", COOP_PROM_GAUGE,
				   "TCP connections open now on the worker, all VSes");
	for (w = 0; w < max_w; w++) {
		uint64_t open = 0;
		char id[16];

		for (i = 0; i < c->n_vs; i++) {
			const struct coop_vs *vs = c->vs[i];
			const struct coop_vs_wstats *s;
			uint64_t closed, opened;

			if (!vs->wstats || w >= vs->n_workers)
				continue;
			s = &vs->wstats[w];
			/* closed first: on its single writer it never runs ahead */
			closed = atomic_load_explicit(&s->closed, memory_order_relaxed);
			opened = atomic_load_explicit(&s->accepted, memory_order_relaxed) +
				 atomic_load_explicit(&s->outbound, memory_order_relaxed);
			open += opened > closed ? opened - closed : 0;
		}
		snprintf(id, sizeof(id), "%u", w);
		coop_prom_u64(wactive, open, "worker", id, NULL);
	}
}

int coop_metrics_text(struct coop *c, struct coop_mbuf *b, char *err, size_t errlen)
{
	const struct coop_module *const *mods;
	struct coop_prom *p = coop_prom_new();
	size_t i, n;
	int ret;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	core_metrics(c, p);
	mods = coop_modules(c, &n);
	for (i = 0; i < n; i++)
		if (mods[i]->metrics)
			mods[i]->metrics(c, p);
	ret = coop_prom_finish(p, b, err, errlen);
	coop_prom_free(p);
	return ret;
}

/* The text to serve now: the last rendering when it is younger than
 * RENDER_TTL, else a new one. NULL when none can be made (err says why). */
static const struct coop_mbuf *current_text(struct coop_metrics *m, char *err, size_t errlen)
{
	ev_tstamp now = ev_now(m->c->loop);
	struct coop_mbuf b = { 0 };
	int ret;

	if (m->text.p && now - m->rendered < RENDER_TTL && now >= m->rendered)
		return &m->text;
	m->renders++;
	ret = coop_metrics_text(m->c, &b, err, errlen);
	if (ret == -EINVAL) {
		/* a module declared something the format refuses: the rest
		 * is still good. Said once, not at every rendering. */
		if (!m->warned)
			coop_warn("metrics: %s (left out)", err);
		m->warned = true;
	} else if (ret < 0) {
		coop_mbuf_free(&b);
		return NULL;
	}
	coop_mbuf_free(&m->text);
	m->text = b;
	m->rendered = now;
	return &m->text;
}

/* --- HTTP -------------------------------------------------------------------------- */

static void client_free(struct metrics_client *cl)
{
	struct coop_metrics *m = cl->m;
	struct ev_loop *loop = m->c->loop;

	ev_io_stop(loop, &cl->rio);
	ev_io_stop(loop, &cl->wio);
	ev_timer_stop(loop, &cl->timer);
	close(cl->fd);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		m->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	m->n_clients--;
	coop_mbuf_free(&cl->out);
	free(cl);
}

static void client_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	client_free(container_of(w, struct metrics_client, timer));
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics_client *cl = container_of(w, struct metrics_client, wio);
	ssize_t n;

	(void)loop;
	(void)revents;
	while (cl->off < cl->out.len) {
		n = send(cl->fd, cl->out.p + cl->off, cl->out.len - cl->off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			client_free(cl);
			return;
		}
		cl->off += (size_t)n;
	}
	shutdown(cl->fd, SHUT_WR);
	client_free(cl);
}

/* The response: status line, headers, body (not for HEAD). */
static void respond(struct metrics_client *cl, const char *status, const char *type,
		    const struct coop_mbuf *body, bool head)
{
	struct ev_loop *loop = cl->m->c->loop;

	coop_mbuf_putf(&cl->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n",
	     status, type, body->len);
	if (!head)
		coop_mbuf_put(&cl->out, body->p ? body->p : "", body->len);
	if (cl->out.error) {
		client_free(cl);
		return;
	}
	ev_io_stop(loop, &cl->rio);
	ev_io_start(loop, &cl->wio);
}

static void respond_text(struct metrics_client *cl, const char *status, const char *text,
			 bool head)
{
	struct coop_mbuf body = { 0 };

	coop_mbuf_put(&body, text, strlen(text));
	respond(cl, status, "text/plain; charset=utf-8", &body, head);
	coop_mbuf_free(&body);
}

/* A complete request head is in cl->in: answer it. */
static void handle(struct metrics_client *cl)
{
	char method[16], target[256], version[16];
	const struct coop_mbuf *text;
	char err[160];
	bool head;
	char *q;

	if (sscanf(cl->in, "%15s %255s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7)) {
		respond_text(cl, "400 Bad Request", "a request line 'GET /metrics HTTP/1.1' was expected\n",
			     false);
		return;
	}
	head = !strcmp(method, "HEAD");
	if (!head && strcmp(method, "GET")) {
		respond_text(cl, "405 Method Not Allowed", "GET or HEAD /metrics\n", false);
		return;
	}
	q = strchr(target, '?');
	if (q)
		*q = '\0';
	if (strcmp(target, "/metrics")) {
		respond_text(cl, "404 Not Found", "coop serves /metrics\n", head);
		return;
	}
	text = current_text(cl->m, err, sizeof(err));
	if (!text) {
		char msg[200];

		snprintf(msg, sizeof(msg), "metrics unavailable: %s\n", err);
		respond_text(cl, "500 Internal Server Error", msg, head);
		return;
	}
	cl->m->scrapes++;
	respond(cl, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text, head);
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics_client *cl = container_of(w, struct metrics_client, rio);
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - 1 - cl->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		client_free(cl);
		return;
	}
	cl->in_len += (size_t)n;
	cl->in[cl->in_len] = '\0';
	if (strstr(cl->in, "\r\n\r\n") || strstr(cl->in, "\n\n")) {
		handle(cl);
		return;
	}
	if (cl->in_len == sizeof(cl->in) - 1)
		respond_text(cl, "431 Request Header Fields Too Large",
			     "request head over 4 KiB\n", false);
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct coop_metrics *m = container_of(w, struct coop_metrics, accept_pause);

	(void)revents;
	ev_io_start(loop, &m->accept_w);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct coop_metrics *m = container_of(w, struct coop_metrics, accept_w);
	struct metrics_client *cl;
	int fd;

	(void)revents;
	fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* the pending connection stays: rest, then try again */
			ev_io_stop(loop, &m->accept_w);
			ev_timer_set(&m->accept_pause, ACCEPT_PAUSE, 0.);
			ev_timer_start(loop, &m->accept_pause);
		}
		return;
	}
	if (m->n_clients >= CLIENTS_MAX || !(cl = calloc(1, sizeof(*cl)))) {
		close(fd);
		return;
	}
	cl->m = m;
	cl->fd = fd;
	cl->next = m->clients;
	if (m->clients)
		m->clients->prev = cl;
	m->clients = cl;
	m->n_clients++;
	ev_io_init(&cl->rio, client_read_cb, fd, EV_READ);
	ev_io_init(&cl->wio, client_write_cb, fd, EV_WRITE);
	ev_timer_init(&cl->timer, client_timer_cb, CLIENT_TIMEOUT, 0.);
	ev_io_start(loop, &cl->rio);
	ev_timer_start(loop, &cl->timer);
}

int coop_metrics_open(struct coop *c, char *err, size_t errlen)
{
	const struct coop_global_cfg *g;
	struct sockaddr_storage ss = { 0 };
	struct coop_metrics *m;
	socklen_t sl;
	char buf[INET6_ADDRSTRLEN];
	int fd, one = 1, ret;

	if (!c->cfg || !c->cfg->global.metrics_port)
		return 0;
	g = &c->cfg->global;
	if (g->metrics_addr.family == AF_INET) {
		struct sockaddr_in *sa = (struct sockaddr_in *)&ss;

		sa->sin_family = AF_INET;
		sa->sin_addr = g->metrics_addr.v4;
		sa->sin_port = htons(g->metrics_port);
		sl = sizeof(*sa);
	} else {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;

		sa->sin6_family = AF_INET6;
		sa->sin6_addr = g->metrics_addr.v6;
		sa->sin6_port = htons(g->metrics_port);
		sl = sizeof(*sa);
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "metrics: out of memory");
		return -ENOMEM;
	}
	snprintf(m->where, sizeof(m->where), g->metrics_addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 coop_addr_str(&g->metrics_addr, buf, sizeof(buf)), g->metrics_port);
	fd = socket(g->metrics_addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
		ret = -errno;
		snprintf(err, errlen, "metrics_listen %s: %s", m->where, strerror(-ret));
		if (fd >= 0)
			close(fd);
		free(m);
		return ret;
	}
	m->c = c;
	m->fd = fd;
	ev_io_init(&m->accept_w, accept_cb, fd, EV_READ);
	ev_timer_init(&m->accept_pause, accept_pause_cb, ACCEPT_PAUSE, 0.);
	ev_io_start(c->loop, &m->accept_w);
	c->metrics = m;
	coop_info("metrics on http://%s/metrics", m->where);
	return 0;
}

void coop_metrics_close(struct coop *c)
{
	struct coop_metrics *m = c->metrics;

	if (!m)
		return;
	while (m->clients)
		client_free(m->clients);
	ev_io_stop(c->loop, &m->accept_w);
	ev_timer_stop(c->loop, &m->accept_pause);
	close(m->fd);
	coop_mbuf_free(&m->text);
	free(m);
	c->metrics = NULL;
}
