/* conn.c - TCP connections on a worker: buffered writes with bounded
 * output, reads handed to the service, graceful and abrupt closes, idle
 * timeouts, the connection limits, a stop that lets connections finish,
 * outbound connects. */
#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/log.h"
#include "base/util.h"
#include "core/runtime.h"
#include "core/vs.h"

/* Bytes read per read(2) and reads per wake-up before yielding the loop. */
#define READ_CHUNK 65536
#define READS_PER_WAKE 16
/* An idle timer sleeps at most this long, so that a reload's new
 * idle_timeout reaches open connections within it. */
#define IDLE_RECHECK 60.0
/* [global] max_connections = auto: this share of RLIMIT_NOFILE, leaving
 * descriptors for listeners, resolver and UDP sockets, the admin socket. */
/* Stopping: a connection whose peer keeps it open is closed once it has
 * sent nothing and been sent nothing for this long (requests in flight
 * when the stop began get their answers). */
#define STOP_QUIET 0.25
#define AUTO_NUM 7
#define AUTO_DEN 8
#define CONNS_MAX 10000000u

/* Owned by the worker in conn->w; never touched by another thread. */
struct coop_conn {
	struct coop_worker *w;          /* owning worker */
	struct coop_vs *vs;             /* VS it belongs to */
	const struct coop_service *svc; /* service handling it */
	int fd;                         /* the socket */
	ev_io io;                       /* read/write readiness on w->loop */
	ev_timer idle;                  /* idle_timeout; also a deferred close */
	ev_tstamp last_io;              /* when a byte last went either way */
	char *out;                      /* queued output */
	size_t out_off, out_len, out_cap; /* unsent = out[out_off .. out_len) */
	bool connecting;                /* outbound connect in progress */
	bool closing;                   /* close once output is flushed */
	bool aborted;                   /* closing with its output thrown away */
	bool read_eof;                  /* peer shut down its side */
	bool paused;                    /* reading stopped: output over out_high */
	bool fin_sent;                  /* stopping: our side is shut down, waiting
					 * for the peer to acknowledge it all */
	bool accepted;                  /* on_accept ran: on_close is owed */
	unsigned in_cb;                 /* nesting of service callbacks */
	coop_connect_cb connect_cb;     /* outbound completion callback */
	void *connect_arg;              /* its argument */
	void *data;                     /* application data */
	struct sockaddr_storage peer;   /* remote address */
	struct sockaddr_storage local;  /* local address */
	socklen_t peer_len, local_len;  /* their lengths */
	struct coop_conn *prev, *next;  /* w->conns list */
};

/* A walk over w->conns that calls back into services, which may close any
 * connection: conn_destroy moves every cursor off the one it frees. */
struct coop_conn_cursor {
	struct coop_conn *next;       /* the connection the walk visits next */
	struct coop_conn_cursor *up;  /* an enclosing walk */
};

static void stat_inc(_Atomic uint64_t *c)
{
	coop_stat_add(c, 1);
}

static void stat_dec(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - 1,
			      memory_order_relaxed);
}

/* --- the limits' counters --------------------------------------------------------- */

static int vs_ent_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct coop_conn_vs *)a)->vs;
	uintptr_t y = (uintptr_t)((const struct coop_conn_vs *)b)->vs;

	return x < y ? -1 : x > y;
}

static struct coop_conn_vs *vs_ent(const struct coop *c, const struct coop_vs *vs)
{
	struct coop_conn_vs key = { .vs = vs };

	if (!c->conn_vs)
		return NULL;
	return bsearch(&key, c->conn_vs, c->n_conn_vs, sizeof(key), vs_ent_cmp);
}

/* vs's counters on worker w, or NULL when it has none. */
static struct coop_conn_wstats *limit_ws(const struct coop_vs *vs, const struct coop_worker *w)
{
	struct coop_conn_vs *e = vs_ent(vs->coop, vs);

	return e && e->ws && w->id < vs->coop->n_workers ? &e->ws[w->id] : NULL;
}

static uint64_t vs_table_hash(const struct coop *c)
{
	uint64_t h = coop_fnv64(COOP_FNV64_INIT, &c->n_vs, sizeof(c->n_vs));

	return c->n_vs ? coop_fnv64(h, c->vs, c->n_vs * sizeof(*c->vs)) : h;
}

int coop_conn_vs_sync(struct coop *c)
{
	uint64_t h = vs_table_hash(c);
	struct coop_conn_vs *tab, *old;
	size_t i, n_ws = c->n_workers ? c->n_workers : 1;
	int ret = 0;

	if (c->conn_vs && h == c->conn_vs_hash)
		return 0;
	tab = calloc(c->n_vs + 1, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (i = 0; i < c->n_vs; i++) {
		tab[i].vs = c->vs[i];
		old = vs_ent(c, c->vs[i]);
		if (old && old->ws) {
			tab[i].ws = old->ws;
			old->ws = NULL;
			continue;
		}
		tab[i].ws = aligned_alloc(64, n_ws * sizeof(*tab[i].ws));
		if (!tab[i].ws) {
			ret = -ENOMEM;
			continue;
		}
		memset(tab[i].ws, 0, n_ws * sizeof(*tab[i].ws));
	}
	qsort(tab, c->n_vs, sizeof(*tab), vs_ent_cmp);
	coop_conn_vs_free(c);
	c->conn_vs = tab;
	c->n_conn_vs = c->n_vs;
	c->conn_vs_hash = ret ? 0 : h; /* after a failure, try again next time */
	return ret;
}

void coop_conn_vs_free(struct coop *c)
{
	size_t i;

	for (i = 0; c->conn_vs && i < c->n_conn_vs; i++)
		free(c->conn_vs[i].ws);
	free(c->conn_vs);
	c->conn_vs = NULL;
	c->n_conn_vs = 0;
}

void coop_conn_limit_stats_get(const struct coop_vs *vs, struct coop_conn_limit_stats *out)
{
	const struct coop_conn_vs *e = vs_ent(vs->coop, vs);
	unsigned w;

	memset(out, 0, sizeof(*out));
	for (w = 0; e && e->ws && w < (vs->coop->n_workers ? vs->coop->n_workers : 1); w++) {
		const struct coop_conn_wstats *s = &e->ws[w];

		out->refused_vs += atomic_load_explicit(&s->refused_vs, memory_order_relaxed);
		out->refused_global += atomic_load_explicit(&s->refused_global, memory_order_relaxed);
		out->closed_out_max += atomic_load_explicit(&s->closed_out_max, memory_order_relaxed);
		out->closed_idle += atomic_load_explicit(&s->closed_idle, memory_order_relaxed);
	}
}

/* --- [global] limits ------------------------------------------------------------- */

void coop_conn_global_apply(struct coop *c)
{
	uint32_t max = 0;

	if (!c->cfg)
		return;
	max = c->cfg->global.max_connections;
	if (!max) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
		    rl.rlim_cur / AUTO_DEN * AUTO_NUM > CONNS_MAX)
			max = CONNS_MAX;
		else
			max = (uint32_t)(rl.rlim_cur / AUTO_DEN * AUTO_NUM);
		if (!max)
			max = 1;
	}
	atomic_store_explicit(&c->max_conns, max, memory_order_relaxed);
}

uint32_t coop_conn_global_max(const struct coop *c)
{
	return atomic_load_explicit(&((struct coop *)c)->max_conns, memory_order_relaxed);
}

/* --- one connection ------------------------------------------------------------ */

static size_t out_high(const struct coop_conn *conn)
{
	uint32_t v = conn->vs->cfg->out_high;

	return v ? v : COOP_CONN_OUT_HIGH;
}

static size_t out_max(const struct coop_conn *conn)
{
	uint32_t v = conn->vs->cfg->out_max;

	return v ? v : COOP_CONN_OUT_MAX;
}

static size_t pending(const struct coop_conn *conn)
{
	return conn->out_len - conn->out_off;
}

/* Reading stops at out_high and resumes at a quarter of it, so a slow
 * reader does not flip the watcher at every segment. */
static void pause_update(struct coop_conn *conn)
{
	size_t p = pending(conn), high = out_high(conn);

	if (p >= high)
		conn->paused = true;
	else if (p <= high / 4)
		conn->paused = false;
}

/* Close without sending what is queued (errors, limits). */
static void conn_abort(struct coop_conn *conn)
{
	conn->closing = true;
	conn->aborted = true;
	conn->out_off = conn->out_len = 0;
}

static void conn_destroy(struct coop_conn *conn)
{
	struct coop_worker *w = conn->w;
	struct coop_conn_cursor *cur;

	ev_io_stop(w->loop, &conn->io);
	ev_timer_stop(w->loop, &conn->idle);
	if (conn->accepted && conn->svc->on_close) {
		conn->in_cb++;
		conn->accepted = false;
		conn->svc->on_close(conn);
	}
	close(conn->fd);
	coop_stat_add(&conn->vs->wstats[w->id].closed, 1);
	for (cur = w->cursors; cur; cur = cur->up)
		if (cur->next == conn)
			cur->next = conn->next;
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		w->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	stat_dec(&w->n_conns);
	free(conn->out);
	free(conn);
}

/* Arm the watcher for what the connection is waiting for. */
static void conn_update_events(struct coop_conn *conn)
{
	int ev = 0;

	pause_update(conn);
	if (conn->connecting || pending(conn))
		ev |= EV_WRITE;
	if (!conn->connecting && !conn->read_eof && !conn->closing && !conn->paused)
		ev |= EV_READ;
	if (ev == (conn->io.events & (EV_READ | EV_WRITE)) && ev_is_active(&conn->io))
		return;
	ev_io_stop(conn->w->loop, &conn->io);
	if (ev) {
		ev_io_set(&conn->io, conn->fd, ev);
		ev_io_start(conn->w->loop, &conn->io);
	}
}

/* Has the peer acknowledged everything we sent (TCP: unsent and unacked
 * bytes, our FIN included; a Unix socket: bytes the peer has not read)? */
static bool conn_delivered(const struct coop_conn *conn)
{
	int n = 0;

	return ioctl(conn->fd, SIOCOUTQ, &n) < 0 || n <= 0;
}

/* After a callback or an I/O step: free the connection if it is done.
 * Returns true when it was freed. */
static bool conn_settle(struct coop_conn *conn)
{
	if (conn->in_cb)
		return false;
	if ((conn->closing || conn->read_eof) && conn->out_off == conn->out_len) {
		/* A stopping coopd goes on to take its VSes' links and
		 * namespaces down: what the kernel still holds for the peer
		 * would be lost, so wait until the peer has it all. */
		if (conn->w->stopping && !conn->aborted && !conn_delivered(conn)) {
			if (!conn->fin_sent && shutdown(conn->fd, SHUT_WR) < 0) {
				conn_destroy(conn);
				return true;
			}
			conn->fin_sent = true;
			ev_io_stop(conn->w->loop, &conn->io);
			return false;
		}
		conn_destroy(conn);
		return true;
	}
	conn_update_events(conn);
	return false;
}

/* Send queued output. 0, or -errno when the connection broke. */
static int conn_flush(struct coop_conn *conn)
{
	bool sent = false;

	while (conn->out_off < conn->out_len) {
		ssize_t n = send(conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		coop_stat_add(&conn->vs->wstats[conn->w->id].bytes_out, n);
		conn->out_off += n;
		sent = true;
	}
	if (sent)
		conn->last_io = ev_now(conn->w->loop);
	if (conn->out_off == conn->out_len)
		conn->out_off = conn->out_len = 0;
	return 0;
}

static void conn_readable(struct coop_conn *conn)
{
	char buf[READ_CHUNK];
	int i;

	for (i = 0; i < READS_PER_WAKE; i++) {
		ssize_t n = recv(conn->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0) {
			conn->read_eof = true;
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_abort(conn);
			return;
		}
		conn->last_io = ev_now(conn->w->loop);
		coop_stat_add(&conn->vs->wstats[conn->w->id].bytes_in, n);
		conn->in_cb++;
		conn->svc->on_read(conn, buf, n);
		conn->in_cb--;
		pause_update(conn);
		if (conn->closing || conn->paused || (size_t)n < sizeof(buf))
			return;
	}
}

/* --- idle timeout, and deferred closes -------------------------------------------- */

static void idle_arm(struct coop_conn *conn, ev_tstamp after)
{
	struct ev_loop *loop = conn->w->loop;

	ev_timer_stop(loop, &conn->idle);
	ev_timer_set(&conn->idle, after, 0.);
	ev_timer_start(loop, &conn->idle);
}

/* The next look at the connection's idleness: when it would time out, at
 * most IDLE_RECHECK away. */
static void idle_next(struct coop_conn *conn)
{
	uint32_t ms = conn->vs->cfg->idle_timeout_ms;
	ev_tstamp left = IDLE_RECHECK;

	if (ms) {
		left = conn->last_io + ms / 1000.0 - ev_now(conn->w->loop);
		if (left > IDLE_RECHECK)
			left = IDLE_RECHECK;
		if (left < 0.)
			left = 0.;
	}
	idle_arm(conn, left);
}

/* An outbound connection ends before it connected: its callback says so. */
static void conn_fail_connect(struct coop_conn *conn, int err)
{
	coop_connect_cb cb = conn->connect_cb;
	void *arg = conn->connect_arg;

	conn_destroy(conn);
	if (cb)
		cb(NULL, err, arg);
}

static void idle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct coop_conn *conn = container_of(t, struct coop_conn, idle);
	uint32_t ms = conn->vs->cfg->idle_timeout_ms;

	(void)revents;
	/* a close decided outside the loop (coop_conn_write past out_max) */
	if (conn->closing && !pending(conn)) {
		if (conn->connecting)
			conn_fail_connect(conn, -ENOBUFS);
		else
			conn_settle(conn);
		return;
	}
	if (conn->connecting || conn->w->stopping) {
		idle_arm(conn, IDLE_RECHECK);
		return;
	}
	if (ms && ev_now(loop) - conn->last_io >= ms / 1000.0) {
		struct coop_conn_wstats *ls = limit_ws(conn->vs, conn->w);

		if (ls)
			stat_inc(&ls->closed_idle);
		conn_abort(conn);
		conn_settle(conn);
		return;
	}
	idle_next(conn);
}

/* --- limits ---------------------------------------------------------------------- */

/* Connections of vs open now, over every worker. */
static uint64_t vs_open(const struct coop_vs *vs)
{
	uint64_t opened = 0, closed = 0;
	unsigned w;

	for (w = 0; w < vs->n_workers; w++) {
		const struct coop_vs_wstats *s = &vs->wstats[w];

		/* closed first: it never runs ahead of the others on its writer */
		closed += atomic_load_explicit(&s->closed, memory_order_relaxed);
		opened += atomic_load_explicit(&s->accepted, memory_order_relaxed) +
			  atomic_load_explicit(&s->outbound, memory_order_relaxed);
	}
	return opened > closed ? opened - closed : 0;
}

static uint64_t all_open(const struct coop *c)
{
	uint64_t n = 0;
	unsigned w;

	for (w = 0; c->workers && w < c->n_workers; w++)
		n += atomic_load_explicit(&c->workers[w].n_conns, memory_order_relaxed);
	return n;
}

/* Would vs be over a limit with `more` connections besides those open?
 * Counts and logs a refusal. 0 or -EMFILE. Workers add their counts up
 * without a lock: connections arriving on several workers at the same
 * instant may pass a limit by at most the number of workers less one. */
static int over_limit(struct coop_vs *vs, struct coop_worker *w, unsigned more)
{
	uint32_t vmax = vs->cfg->max_connections, gmax = coop_conn_global_max(vs->coop);
	struct coop_conn_wstats *ls;
	_Atomic uint64_t *ctr;
	uint64_t n;
	bool global;

	if (vmax && vs_open(vs) + more > vmax)
		global = false;
	else if (gmax && all_open(vs->coop) + more > gmax)
		global = true;
	else
		return 0;
	ls = limit_ws(vs, w);
	if (ls) {
		ctr = global ? &ls->refused_global : &ls->refused_vs;
		stat_inc(ctr);
		n = atomic_load_explicit(ctr, memory_order_relaxed);
		if (n == 1 || !(n & 1023))
			coop_warn("vs '%s': %s max_connections (%u) reached: refusing connections "
				  "(%llu so far on worker %u)", vs->cfg->name,
				  global ? "[global]" : "its", global ? gmax : vmax,
				  (unsigned long long)n, w->id);
	}
	return -EMFILE;
}

int coop_conn_admit(struct coop_vs *vs, struct coop_worker *w)
{
	return over_limit(vs, w, 1);
}

/* --- the loop's callbacks ------------------------------------------------------ */

/* Outbound connect finished (writable): report and start serving. */
static void conn_connected(struct coop_conn *conn)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr == EINPROGRESS || soerr == EALREADY)
		return;
	conn->connecting = false;
	if (soerr) {
		conn_fail_connect(conn, -soerr);
		return;
	}
	conn->local_len = sizeof(conn->local);
	getsockname(conn->fd, (struct sockaddr *)&conn->local, &conn->local_len);
	conn->last_io = ev_now(conn->w->loop);
	idle_next(conn);
	conn->in_cb++;
	conn->accepted = true;
	if (conn->svc->on_accept && conn->svc->on_accept(conn) < 0)
		conn_abort(conn);
	conn->connect_cb(conn->closing ? NULL : conn, conn->closing ? -ECONNABORTED : 0,
			 conn->connect_arg);
	conn->in_cb--;
	conn_settle(conn);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct coop_conn *conn = container_of(io, struct coop_conn, io);

	(void)loop;
	if (conn->connecting) {
		conn_connected(conn);
		return;
	}
	if (revents & EV_WRITE) {
		if (conn_flush(conn) < 0) {
			conn_destroy(conn);
			return;
		}
	}
	if ((revents & EV_READ) && !conn->closing)
		conn_readable(conn);
	/* Output queued during on_read goes out at once when the socket has
	 * room, saving a loop iteration per request/response. */
	if (conn->out_len && conn_flush(conn) < 0) {
		conn_destroy(conn);
		return;
	}
	conn_settle(conn);
}

/* --- the API ------------------------------------------------------------------- */

struct coop_conn *coop_conn_new(struct coop_worker *w, struct coop_vs *vs,
				const struct coop_service *svc, int fd, bool outbound)
{
	struct coop_conn *conn = calloc(1, sizeof(*conn));

	if (!conn)
		return NULL;
	conn->w = w;
	conn->vs = vs;
	conn->svc = svc;
	conn->fd = fd;
	conn->connecting = outbound;
	conn->next = w->conns;
	if (w->conns)
		w->conns->prev = conn;
	w->conns = conn;
	stat_inc(&w->n_conns);
	ev_io_init(&conn->io, conn_io_cb, fd, 0);
	ev_timer_init(&conn->idle, idle_cb, IDLE_RECHECK, 0.);
	return conn;
}

/* Accepted connection: over a limit it is closed at once (no on_accept);
 * else record addresses, call on_accept, start reading. */
void coop_conn_accepted(struct coop_conn *conn, const struct sockaddr *peer, socklen_t plen)
{
	if (conn->w->stopping || over_limit(conn->vs, conn->w, 0) < 0) {
		conn_destroy(conn);
		return;
	}
	memcpy(&conn->peer, peer, plen);
	conn->peer_len = plen;
	conn->local_len = sizeof(conn->local);
	getsockname(conn->fd, (struct sockaddr *)&conn->local, &conn->local_len);
	conn->last_io = ev_now(conn->w->loop);
	idle_next(conn);
	conn->accepted = true;
	conn->in_cb++;
	if (conn->svc->on_accept && conn->svc->on_accept(conn) < 0)
		conn_abort(conn);
	conn->in_cb--;
	if (conn->out_len && conn_flush(conn) < 0) {
		conn_destroy(conn);
		return;
	}
	conn_settle(conn);
}

/* Outbound connection: start waiting for the connect to finish. */
void coop_conn_connecting(struct coop_conn *conn, const struct sockaddr *peer, socklen_t plen,
			  coop_connect_cb cb, void *arg)
{
	memcpy(&conn->peer, peer, plen);
	conn->peer_len = plen;
	conn->connect_cb = cb;
	conn->connect_arg = arg;
	conn_update_events(conn);
}

int coop_conn_write(struct coop_conn *conn, const void *buf, size_t len)
{
	size_t need, max = out_max(conn);

	if (conn->closing)
		return -EPIPE;
	if (!len)
		return 0;
	/* (pending may be over max when a reload lowered out_max) */
	if (pending(conn) >= max || len > max - pending(conn)) {
		/* The peer is not reading what it asked for: holding more
		 * would let one connection take any amount of memory. */
		struct coop_conn_wstats *ls = limit_ws(conn->vs, conn->w);

		if (ls) {
			uint64_t n;

			stat_inc(&ls->closed_out_max);
			n = atomic_load_explicit(&ls->closed_out_max, memory_order_relaxed);
			if (n == 1 || !(n & 1023))
				coop_warn("vs '%s': a connection's unsent output would pass out_max "
					  "(%zu bytes): closed (%llu so far on worker %u)",
					  conn->vs->cfg->name, max, (unsigned long long)n,
					  conn->w->id);
		}
		conn_abort(conn);
		/* Outside the service's callbacks the close waits for the
		 * loop, so the caller's pointer stays good until it returns. */
		if (!conn->in_cb)
			idle_arm(conn, 0.);
		return -ENOBUFS;
	}
	need = conn->out_len + len;
	if (need > conn->out_cap) {
		size_t cap = conn->out_cap ? conn->out_cap : 4096;
		char *p;

		if (conn->out_off) {
			memmove(conn->out, conn->out + conn->out_off, conn->out_len - conn->out_off);
			conn->out_len -= conn->out_off;
			conn->out_off = 0;
			need = conn->out_len + len;
		}
		while (cap < need)
			cap *= 2;
		if (cap != conn->out_cap) {
			p = realloc(conn->out, cap);
			if (!p)
				return -ENOMEM;
			conn->out = p;
			conn->out_cap = cap;
		}
	}
	memcpy(conn->out + conn->out_len, buf, len);
	conn->out_len += len;
	if (!conn->in_cb)
		conn_settle(conn);
	return 0;
}

void coop_conn_close(struct coop_conn *conn)
{
	conn->closing = true;
	if (!conn->in_cb)
		conn_settle(conn);
}

void coop_conn_close_all(struct coop_worker *w)
{
	while (w->conns)
		conn_destroy(w->conns);
}

void coop_conn_close_vs(struct coop_worker *w, const struct coop_vs *vs)
{
	struct coop_conn_cursor cur = { .up = w->cursors };
	struct coop_conn *conn;

	/* on_close may close any other connection, the next one included */
	w->cursors = &cur;
	for (conn = w->conns; conn; conn = cur.next) {
		cur.next = conn->next;
		if (conn->vs == vs)
			conn_destroy(conn);
	}
	w->cursors = cur.up;
}

/* One connection of a stopping worker, one step towards its close. It is
 * served as usual meanwhile (its peer's requests read and answered); one
 * whose peer shut down its side closes once its replies are delivered,
 * one whose peer keeps it open once it has been quiet for STOP_QUIET with
 * nothing left to send. */
static void stop_one(struct coop_conn *conn, bool force)
{
	struct ev_loop *loop = conn->w->loop;
	ev_tstamp quiet_since;

	if (force || conn->connecting) {
		conn_destroy(conn);
		return;
	}
	if (conn->in_cb)
		return;
	quiet_since = conn->last_io > conn->w->stop_began ? conn->last_io : conn->w->stop_began;
	if (!conn->closing && !conn->read_eof && !pending(conn) &&
	    ev_now(loop) - quiet_since >= STOP_QUIET)
		conn->closing = true;
	if (conn->out_len && conn_flush(conn) < 0) {
		conn_destroy(conn);
		return;
	}
	conn_settle(conn);
}

bool coop_conn_stop_step(struct coop_worker *w, bool force)
{
	struct coop_conn_cursor cur = { .up = w->cursors };
	struct coop_conn *conn;

	w->cursors = &cur;
	for (conn = w->conns; conn; conn = cur.next) {
		cur.next = conn->next;
		stop_one(conn, force);
	}
	w->cursors = cur.up;
	return !w->conns;
}

struct coop_vs *coop_conn_vs(const struct coop_conn *conn)
{
	return conn->vs;
}

void *coop_conn_service_data(const struct coop_conn *conn)
{
	return conn->svc->data;
}

void *coop_conn_data(const struct coop_conn *conn)
{
	return conn->data;
}

void coop_conn_set_data(struct coop_conn *conn, void *data)
{
	conn->data = data;
}

const struct sockaddr *coop_conn_peer(const struct coop_conn *conn, socklen_t *len)
{
	if (len)
		*len = conn->peer_len;
	return (const struct sockaddr *)&conn->peer;
}

const struct sockaddr *coop_conn_local(const struct coop_conn *conn, socklen_t *len)
{
	if (len)
		*len = conn->local_len;
	return (const struct sockaddr *)&conn->local;
}

unsigned coop_conn_worker(const struct coop_conn *conn)
{
	return conn->w->id;
}
