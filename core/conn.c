/* conn.c - TCP connections on a worker: buffered writes, reads handed to the
 * service, graceful and abrupt closes, outbound connects. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "base/log.h"
#include "core/runtime.h"
#include "core/vs.h"

/* Stop reading while more than this is queued for the peer, resume below
 * the low mark: a slow reader must not make us buffer without bound. */
#define OUT_HIGH (1u << 20)
#define OUT_LOW (256u << 10)
/* Bytes read per read(2) and reads per wake-up before yielding the loop. */
#define READ_CHUNK 65536
#define READS_PER_WAKE 16

/* Owned by the worker in conn->w; never touched by another thread. */
struct coop_conn {
	struct coop_worker *w;          /* owning worker */
	struct coop_vs *vs;             /* VS it belongs to */
	const struct coop_service *svc; /* service handling it */
	int fd;                         /* the socket */
	ev_io io;                       /* read/write readiness on w->loop */
	char *out;                      /* queued output */
	size_t out_off, out_len, out_cap; /* unsent = out[out_off .. out_len) */
	bool connecting;                /* outbound connect in progress */
	bool closing;                   /* close once output is flushed */
	bool read_eof;                  /* peer shut down its side */
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

static void conn_destroy(struct coop_conn *conn)
{
	struct coop_worker *w = conn->w;

	ev_io_stop(w->loop, &conn->io);
	if (conn->accepted && conn->svc->on_close) {
		conn->in_cb++;
		conn->svc->on_close(conn);
	}
	close(conn->fd);
	coop_stat_add(&conn->vs->wstats[w->id].closed, 1);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		w->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	free(conn->out);
	free(conn);
}

/* Arm the watcher for what the connection is waiting for. */
static void conn_update_events(struct coop_conn *conn)
{
	int ev = 0;
	size_t pending = conn->out_len - conn->out_off;

	if (conn->connecting || pending)
		ev |= EV_WRITE;
	if (!conn->connecting && !conn->read_eof && !conn->closing && pending < OUT_HIGH)
		ev |= EV_READ;
	if (ev == (conn->io.events & (EV_READ | EV_WRITE)) && ev_is_active(&conn->io))
		return;
	ev_io_stop(conn->w->loop, &conn->io);
	if (ev) {
		ev_io_set(&conn->io, conn->fd, ev);
		ev_io_start(conn->w->loop, &conn->io);
	}
}

/* After a callback or an I/O step: free the connection if it is done.
 * Returns true when it was freed. */
static bool conn_settle(struct coop_conn *conn)
{
	if (conn->in_cb)
		return false;
	if ((conn->closing || conn->read_eof) && conn->out_off == conn->out_len) {
		conn_destroy(conn);
		return true;
	}
	conn_update_events(conn);
	return false;
}

/* Send queued output. 0, or -errno when the connection broke. */
static int conn_flush(struct coop_conn *conn)
{
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
	}
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
				conn->closing = true, conn->out_off = conn->out_len = 0;
			return;
		}
		coop_stat_add(&conn->vs->wstats[conn->w->id].bytes_in, n);
		conn->in_cb++;
		conn->svc->on_read(conn, buf, n);
		conn->in_cb--;
		if (conn->closing || (size_t)n < sizeof(buf) ||
		    conn->out_len - conn->out_off >= OUT_HIGH)
			return;
	}
}

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
		coop_connect_cb cb = conn->connect_cb;
		void *arg = conn->connect_arg;

		conn_destroy(conn);
		cb(NULL, -soerr, arg);
		return;
	}
	conn->local_len = sizeof(conn->local);
	getsockname(conn->fd, (struct sockaddr *)&conn->local, &conn->local_len);
	conn->in_cb++;
	conn->accepted = true;
	if (conn->svc->on_accept && conn->svc->on_accept(conn) < 0)
		conn->closing = true, conn->out_off = conn->out_len = 0;
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
	ev_io_init(&conn->io, conn_io_cb, fd, 0);
	return conn;
}

/* Accepted connection: record addresses, call on_accept, start reading. */
void coop_conn_accepted(struct coop_conn *conn, const struct sockaddr *peer, socklen_t plen)
{
	memcpy(&conn->peer, peer, plen);
	conn->peer_len = plen;
	conn->local_len = sizeof(conn->local);
	getsockname(conn->fd, (struct sockaddr *)&conn->local, &conn->local_len);
	conn->accepted = true;
	conn->in_cb++;
	if (conn->svc->on_accept && conn->svc->on_accept(conn) < 0)
		conn->closing = true, conn->out_off = conn->out_len = 0;
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
	size_t need;

	if (conn->closing)
		return -EPIPE;
	if (!len)
		return 0;
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
	struct coop_conn *conn = w->conns, *next;

	for (; conn; conn = next) {
		next = conn->next;
		if (conn->vs == vs)
			conn_destroy(conn);
	}
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
