/* listener.c - the worker side of a VS's listeners: accept in batches and
 * hand each connection to the listener's service on the same worker. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/runtime.h"
#include "vs/vs.h"

/* Accepts per readiness event before yielding to other watchers. */
#define ACCEPTS_PER_WAKE 64

static void listener_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct coop_listener *li = (struct coop_listener *)((char *)io -
							    offsetof(struct coop_listener, io));
	struct coop_worker *w = coop_worker_self();
	int i;

	(void)loop;
	(void)revents;
	for (i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct coop_conn *conn;
		int fd;

		fd = accept4(li->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				coop_warn("vs '%s': accept on port %u: %m", li->vs->cfg->name,
					  li->cfg->port);
			return;
		}
		conn = coop_conn_new(w, li->vs, li->svc, fd, false);
		if (!conn) {
			coop_warn("vs '%s': out of memory, dropping a connection",
				  li->vs->cfg->name);
			close(fd);
			continue;
		}
		coop_stat_add(&li->vs->wstats[w->id].accepted, 1);
		coop_conn_accepted(conn, (struct sockaddr *)&ss, sl);
	}
}

void coop_vs_listeners_start(struct coop_vs *vs, struct coop_worker *w)
{
	size_t i;

	for (i = 0; i < vs->n_listeners; i++) {
		struct coop_listener *li = &vs->listeners[i];

		if (li->worker != w->id)
			continue;
		ev_io_init(&li->io, listener_cb, li->fd, EV_READ);
		ev_io_start(w->loop, &li->io);
	}
}

void coop_vs_listeners_stop(struct coop_vs *vs, struct coop_worker *w)
{
	size_t i;

	for (i = 0; i < vs->n_listeners; i++)
		if (vs->listeners[i].worker == w->id)
			ev_io_stop(w->loop, &vs->listeners[i].io);
}
