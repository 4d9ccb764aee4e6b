/* metrics.c - Prometheus text exposition over HTTP on the control loop: `show stats` and `show fwd` flattened into samples (docs/admin.md, "Metrics"). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/config.h"
#include "base/log.h"
#include "base/util.h"
#include "core/metrics.h"
#include "core/module.h"
#include "core/runtime.h"

#define CLIENTS_MAX 32        /* scrapers served at once; more are refused */
#define REQUEST_MAX 4096      /* bytes of request head read */
#define CLIENT_TIMEOUT 5.0    /* seconds a client may take, request to last byte */
#define ACCEPT_PAUSE 0.1      /* seconds accepting rests after EMFILE and the like */

/* --- text buffer ----------------------------------------------------------------- */

void coop_mbuf_free(struct coop_mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void put(struct coop_mbuf *b, const char *s, size_t n)
{
	if (b->error)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->error = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct coop_mbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) putf(struct coop_mbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* --- flattening -------------------------------------------------------------------- */

/* One sample: its name, its labels ("" or {k="v",...}), its value. */
struct sample {
	char *name;
	char *labels;
	char value[32];
	size_t seq; /* order of appearance: kept within a name */
};

struct flat {
	struct sample *s;
	size_t n, cap;
	int error;
};

/* s + "_" + key (or key alone when s is empty), as a metric name. */
static char *name_join(const char *s, const char *key, size_t klen)
{
	size_t n = strlen(s), i;
	char *r = malloc(n + klen + 2);

	if (!r)
		return NULL;
	memcpy(r, s, n);
	if (n)
		r[n++] = '_';
	for (i = 0; i < klen; i++) {
		char ch = key[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
			  (ch >= '0' && ch <= '9' && n + i > 0);

		r[n + i] = ok ? ch : '_';
	}
	r[n + klen] = '\0';
	return r;
}

/* labels with key="value" added; the value escaped as the format says. */
static char *label_add(const char *labels, const char *key, const char *val, size_t vlen)
{
	struct coop_mbuf b = { 0 };
	char *k = name_join("", key, strlen(key));
	size_t i;

	if (!k)
		return NULL;
	puts_(&b, labels);
	if (b.len)
		b.len--; /* drop the '}' */
	else
		puts_(&b, "{");
	if (b.len > 1)
		puts_(&b, ",");
	puts_(&b, k);
	puts_(&b, "=\"");
	for (i = 0; i < vlen; i++) {
		if (val[i] == '\\' || val[i] == '"')
			put(&b, "\\", 1);
		if (val[i] == '\n')
			puts_(&b, "\\n");
		else
			put(&b, &val[i], 1);
	}
	puts_(&b, "\"}");
	free(k);
	if (b.error) {
		coop_mbuf_free(&b);
		return NULL;
	}
	return b.p;
}

static void emit(struct flat *f, const char *name, const char *labels, const char *value)
{
	struct sample *s;

	if (f->error)
		return;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		struct sample *ns = realloc(f->s, cap * sizeof(*ns));

		if (!ns) {
			f->error = -ENOMEM;
			return;
		}
		f->s = ns;
		f->cap = cap;
	}
	s = &f->s[f->n];
	s->name = strdup(name);
	s->labels = strdup(labels);
	if (!s->name || !s->labels) {
		free(s->name);
		free(s->labels);
		f->error = -ENOMEM;
		return;
	}
	snprintf(s->value, sizeof(s->value), "%s", value);
	s->seq = f->n++;
}

static void walk(struct flat *f, const struct coop_json_value *v, const char *name,
		 const char *labels, const char *arraykey)
{
	size_t i;

	if (f->error)
		return;
	switch (v->type) {
	case COOP_JSON_NUMBER:
		if (v->len < 32)
			emit(f, name, labels, v->str);
		break;
	case COOP_JSON_BOOL:
		emit(f, name, labels, v->b ? "1" : "0");
		break;
	case COOP_JSON_OBJECT:
		for (i = 0; i < v->n_items; i++) {
			const struct coop_json_value *m = &v->items[i];
			char *n;

			/* an element's name is its label, not a sample */
			if (arraykey && m->key_len == 4 && !memcmp(m->key, "name", 4))
				continue;
			n = name_join(name, m->key, m->key_len);
			if (!n) {
				f->error = -ENOMEM;
				return;
			}
			walk(f, m, n, labels, NULL);
			free(n);
		}
		break;
	case COOP_JSON_ARRAY: {
		/* the label is named after the array: vs="nas1", nodes="n2" */
		const char *key = strrchr(name, '_') ? strrchr(name, '_') + 1 : name;

		for (i = 0; i < v->n_items; i++) {
			const struct coop_json_value *e = &v->items[i];
			const struct coop_json_value *nm = coop_json_value_get(e, "name");
			char idx[24], *l;

			snprintf(idx, sizeof(idx), "%zu", i);
			if (nm && nm->type == COOP_JSON_STRING)
				l = label_add(labels, key, nm->str, nm->len);
			else
				l = label_add(labels, e->type == COOP_JSON_OBJECT ? key : "index", idx,
					      strlen(idx));
			if (!l) {
				f->error = -ENOMEM;
				return;
			}
			walk(f, e, name, l, key);
			free(l);
		}
		break;
	}
	default:
		break; /* strings and nulls carry no number */
	}
}

static int sample_cmp(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

int coop_metrics_flatten(const struct coop_json_value *v, const char *prefix,
			 struct coop_mbuf *b)
{
	struct flat f = { 0 };
	size_t i;

	walk(&f, v, prefix, "", NULL);
	if (!f.error) {
		qsort(f.s, f.n, sizeof(*f.s), sample_cmp);
		for (i = 0; i < f.n; i++) {
			if (!i || strcmp(f.s[i].name, f.s[i - 1].name)) {
				puts_(b, "# TYPE ");
				puts_(b, f.s[i].name);
				puts_(b, " untyped\n");
			}
			puts_(b, f.s[i].name);
			puts_(b, f.s[i].labels);
			puts_(b, " ");
			puts_(b, f.s[i].value);
			puts_(b, "\n");
		}
	}
	for (i = 0; i < f.n; i++) {
		free(f.s[i].name);
		free(f.s[i].labels);
	}
	free(f.s);
	return f.error ? f.error : b->error;
}

/* One admin command's reply, flattened under prefix. -ENOENT when the
 * command is not there (no forwarder). */
static int flatten_cmd(struct coop *c, const char *cmd, const char *prefix, struct coop_mbuf *b)
{
	struct coop_json_value *v = NULL;
	struct coop_json reply;
	char line[64], err[128];
	const char *text;
	size_t len;
	int ret;

	coop_json_init(&reply);
	snprintf(line, sizeof(line), "%s", cmd);
	ret = coop_admin_exec(c, line, &reply);
	text = coop_json_text(&reply, &len);
	if (ret == 0 && (ret = coop_json_parse(text, len, &v, err, sizeof(err))) == 0) {
		const struct coop_json_value *ok = coop_json_value_get(v, "ok");

		if (ok && ok->type == COOP_JSON_BOOL && !ok->b)
			ret = -ENOENT;
		else
			ret = coop_metrics_flatten(v, prefix, b);
	}
	coop_json_value_free(v);
	coop_json_fini(&reply);
	return ret;
}

int coop_metrics_text(struct coop *c, struct coop_mbuf *b)
{
	int ret = flatten_cmd(c, "show stats", "coop", b);

	if (ret == 0 && coop_module_priv(c, COOP_MOD_FWD))
		ret = flatten_cmd(c, "show fwd", "coop_fwd", b);
	return ret;
}

/* --- HTTP -------------------------------------------------------------------------- */

struct metrics_client;

struct coop_metrics {
	struct coop *c;
	int fd;                          /* listening socket */
	ev_io accept_w;                  /* readable: a scraper connects */
	ev_timer accept_pause;           /* accept() failed for lack of resources */
	struct metrics_client *clients;  /* being served */
	unsigned n_clients;
	char where[64];                  /* ADDRESS:PORT, for the log */
};

struct metrics_client {
	struct coop_metrics *m;
	int fd;
	ev_io rio, wio;
	ev_timer timer;
	char in[REQUEST_MAX];  /* request head so far */
	size_t in_len;
	struct coop_mbuf out;  /* response */
	size_t off;            /* bytes of it written */
	struct metrics_client *prev, *next;
};


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

	putf(&cl->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n",
	     status, type, body->len);
	if (!head)
		put(&cl->out, body->p ? body->p : "", body->len);
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

	puts_(&body, text);
	respond(cl, status, "text/plain; charset=utf-8", &body, head);
	coop_mbuf_free(&body);
}

/* A complete request head is in cl->in: answer it. */
static void handle(struct metrics_client *cl)
{
	char method[16], target[256], version[16];
	struct coop_mbuf body = { 0 };
	bool head;
	char *q;
	int ret;

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
	ret = coop_metrics_text(cl->m->c, &body);
	if (ret < 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "metrics unavailable: %s\n", strerror(-ret));
		coop_mbuf_free(&body);
		respond_text(cl, "500 Internal Server Error", msg, head);
		return;
	}
	respond(cl, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &body, head);
	coop_mbuf_free(&body);
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
	free(m);
	c->metrics = NULL;
}
