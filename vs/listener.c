/* listener.c - the TCP listeners module: one SO_REUSEPORT socket per
 * `listen = tcp:` entry x VS address x worker, opened in the VS's scope;
 * each worker accepts on its own and hands connections to the listener's
 * service. A reload adds and removes single listeners; a drain closes all
 * of a VS's and a resume opens them again. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "core/module.h"
#include "core/runtime.h"
#include "core/vs.h"

#define LISTEN_BACKLOG 1024
/* Accepts per readiness event before yielding to other watchers. */
#define ACCEPTS_PER_WAKE 64
/* Seconds a listener rests when the process is out of descriptors or
 * memory: the pending connection stays queued, and a readable listener
 * would otherwise wake its worker in a loop that accepts nothing. */
#define ACCEPT_PAUSE 0.1

/* A listening socket of a VS on one worker. Created and closed by the
 * control thread; its watcher belongs to its worker, started and stopped
 * only on that worker's thread. */
struct coop_listener {
	struct coop_vs *vs;             /* owner VS */
	struct coop_listen_cfg lc;      /* its listen = entry (a copy) */
	struct coop_addr addr;          /* bound address (family only: wildcard) */
	const struct coop_service *svc; /* service it hands connections to */
	int fd;                         /* listening socket */
	unsigned worker;                /* index of the owning worker */
	ev_io io;                       /* readable -> accept, on the worker loop */
	ev_timer pause;                 /* resumes io after a resource shortage */
	uint64_t paused;                /* how often it had to rest (its worker writes) */
	struct coop_listener *next;     /* vs->listeners, or a batch being changed */
};

static void listener_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct coop_listener *li = container_of(io, struct coop_listener, io);
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
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				uint64_t n = __atomic_add_fetch(&li->paused, 1, __ATOMIC_RELAXED);

				if (n == 1 || !(n & 1023))
					coop_warn("vs '%s': accept on port %u: %m; pausing this listener %.1f s (%llu times so far)",
						  li->vs->cfg->name, li->lc.port, ACCEPT_PAUSE,
						  (unsigned long long)n);
				ev_io_stop(loop, &li->io);
				ev_timer_set(&li->pause, ACCEPT_PAUSE, 0.);
				ev_timer_start(loop, &li->pause);
				return;
			}
			if (errno != EAGAIN)
				coop_warn("vs '%s': accept on port %u: %m", li->vs->cfg->name,
					  li->lc.port);
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

static void fill_sockaddr(const struct coop_addr *a, uint16_t port, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr = a->v4;
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = a->v6;
		*len = sizeof(*sin6);
	}
}

/* One listening socket in the VS scope on addr:port. fd or -errno. */
static int listen_socket(struct coop_vs *vs, const struct coop_addr *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, fd;

	fd = coop_vs_socket(vs, addr->family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto err_close;
	/* Freebind: an address added a moment ago may not be usable yet
	 * (e.g. IPv6 still tentative on a link coop did not configure). */
	if (addr->family == AF_INET6) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)) < 0)
			goto err_close;
	} else if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0) {
		goto err_close;
	}
	fill_sockaddr(addr, port, &ss, &sl);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, LISTEN_BACKLOG) < 0)
		goto err_close;
	return fd;

err_close:
	one = -errno;
	close(fd);
	return one;
}

static void list_free(struct coop_listener *l)
{
	struct coop_listener *next;

	for (; l; l = next) {
		next = l->next;
		if (l->fd >= 0)
			close(l->fd);
		free(l);
	}
}

static size_t list_len(const struct coop_listener *l)
{
	size_t n = 0;

	for (; l; l = l->next)
		n++;
	return n;
}

/* Bind addresses of a section: its own addresses, or the wildcards when it
 * has none (an attached namespace that carries its own addresses). */
static size_t bind_addrs(const struct coop_vs_cfg *cfg, size_t i, struct coop_addr *out)
{
	size_t n = cfg->n_addrs ? cfg->n_addrs : 2;

	if (i >= n)
		return n;
	if (cfg->n_addrs) {
		*out = cfg->addrs[i].addr;
	} else {
		memset(out, 0, sizeof(*out));
		out->family = i ? AF_INET6 : AF_INET;
	}
	return n;
}

/* Does cfg want a tcp listener lc on addr? */
static bool wanted(const struct coop_vs_cfg *cfg, const struct coop_listen_cfg *lc,
		   const struct coop_addr *addr)
{
	struct coop_addr a;
	size_t i, l;

	for (l = 0; l < cfg->n_listens; l++) {
		if (!coop_listen_equal(&cfg->listens[l], lc))
			continue;
		for (i = 0; i < bind_addrs(cfg, i, &a); i++)
			if (coop_addr_equal(&a, addr))
				return true;
	}
	return false;
}

/* Open every listener of cfg that have does not hold (all of them when
 * have is NULL), for every worker, into *out. 0, or -errno with err filled
 * and nothing opened. */
static int open_missing(struct coop_vs *vs, const struct coop_vs_cfg *cfg,
			const struct coop_vs_cfg *have, struct coop_listener **out, char *err,
			size_t errlen)
{
	struct coop_listener *list = NULL;
	char abuf[INET6_ADDRSTRLEN];
	struct coop_addr a;
	size_t l, i;
	unsigned w;

	for (l = 0; l < cfg->n_listens; l++) {
		const struct coop_listen_cfg *lc = &cfg->listens[l];
		const struct coop_service *svc = coop_service_find(vs->coop, lc->service);

		if (lc->proto != IPPROTO_TCP)
			continue; /* udp: entries share sockets, see vs/udp.c */
		for (i = 0; i < bind_addrs(cfg, i, &a); i++) {
			if (have && wanted(have, lc, &a))
				continue;
			for (w = 0; w < vs->n_workers; w++) {
				struct coop_listener *li = calloc(1, sizeof(*li));
				int fd;

				if (!li) {
					snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
					list_free(list);
					return -ENOMEM;
				}
				fd = listen_socket(vs, &a, lc->port);
				if (fd < 0) {
					snprintf(err, errlen, "vs '%s': listen tcp:%u on %s: %s",
						 cfg->name, lc->port,
						 coop_addr_str(&a, abuf, sizeof(abuf)), strerror(-fd));
					free(li);
					list_free(list);
					return fd;
				}
				*li = (struct coop_listener){ .vs = vs, .lc = *lc, .addr = a,
							      .svc = svc, .fd = fd, .worker = w,
							      .next = list };
				list = li;
			}
		}
	}
	*out = list;
	return 0;
}

/* --- the worker side -------------------------------------------------------- */

static void pause_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct coop_listener *li = container_of(t, struct coop_listener, pause);

	(void)revents;
	ev_io_start(loop, &li->io);
}

static void start_one(struct coop_worker *w, struct coop_listener *li)
{
	if (ev_is_active(&li->io) || ev_is_active(&li->pause))
		return;
	ev_timer_init(&li->pause, pause_cb, ACCEPT_PAUSE, 0.);
	ev_io_init(&li->io, listener_cb, li->fd, EV_READ);
	ev_io_start(w->loop, &li->io);
}

/* coop_workers_run: worker w starts (or stops) its listeners of a list. */
static void start_list(struct coop_worker *w, void *arg)
{
	struct coop_listener *li;

	for (li = arg; li; li = li->next)
		if (li->worker == w->id)
			start_one(w, li);
}

static void stop_list(struct coop_worker *w, void *arg)
{
	struct coop_listener *li;

	for (li = arg; li; li = li->next) {
		if (li->worker != w->id)
			continue;
		ev_io_stop(w->loop, &li->io);
		ev_timer_stop(w->loop, &li->pause);
	}
}

/* Stop a list of listeners on their workers, then close and free them. */
static void retire(struct coop *c, struct coop_listener *list)
{
	if (!list)
		return;
	coop_workers_run(c, stop_list, list);
	list_free(list);
}

/* --- the module ---------------------------------------------------------------- */

static int listen_vs_add(struct coop_vs *vs, char *err, size_t errlen)
{
	struct coop_listener *list;
	int ret;

	ret = open_missing(vs, vs->cfg, NULL, &list, err, errlen);
	if (ret < 0)
		return ret;
	vs->listeners = list;
	vs->n_listeners = list_len(list);
	return 0;
}

/* Running workers start the new VS's listeners; workers that start later
 * find them through worker_start. */
static void listen_vs_publish(struct coop_vs *vs)
{
	coop_workers_run(vs->coop, start_list, vs->listeners);
}

static int listen_vs_change(struct coop_vs *vs, const struct coop_vs_cfg *old,
			    const struct coop_vs_cfg *new, struct coop_change_note *note, char *err,
			    size_t errlen)
{
	struct coop_listener *add = NULL, *gone = NULL, **pp, *li;
	char abuf[INET6_ADDRSTRLEN];
	int ret;

	if (vs->state == COOP_VS_DRAINING)
		return 0; /* closed: a resume opens what new wants */
	ret = open_missing(vs, new, old, &add, err, errlen);
	if (ret < 0)
		return ret;
	for (pp = &vs->listeners; (li = *pp);) {
		if (wanted(new, &li->lc, &li->addr)) {
			pp = &li->next;
			continue;
		}
		*pp = li->next;
		li->next = gone;
		gone = li;
		if (li->worker == 0)
			coop_change_note_add(note, "listener tcp:%u on %s removed", li->lc.port,
					     coop_addr_str(&li->addr, abuf, sizeof(abuf)));
	}
	for (li = add; li; li = li->next)
		if (li->worker == 0)
			coop_change_note_add(note, "listener tcp:%u on %s added", li->lc.port,
					     coop_addr_str(&li->addr, abuf, sizeof(abuf)));
	coop_workers_run(vs->coop, start_list, add);
	retire(vs->coop, gone);
	if (add) {
		for (li = add; li->next; li = li->next)
			;
		li->next = vs->listeners;
		vs->listeners = add;
	}
	vs->n_listeners = list_len(vs->listeners);
	return 0;
}

static void listen_vs_drain(struct coop_vs *vs)
{
	struct coop_listener *list = vs->listeners;

	vs->listeners = NULL;
	vs->n_listeners = 0;
	retire(vs->coop, list);
}

static int listen_vs_resume(struct coop_vs *vs, char *err, size_t errlen)
{
	int ret = listen_vs_add(vs, err, errlen);

	if (ret == 0)
		listen_vs_publish(vs);
	return ret;
}

static void listen_vs_release_worker(struct coop_vs *vs, struct coop_worker *w)
{
	stop_list(w, vs->listeners);
}

static void listen_vs_remove(struct coop_vs *vs)
{
	/* Workers no longer watch them (released, or stopped). */
	list_free(vs->listeners);
	vs->listeners = NULL;
	vs->n_listeners = 0;
}

static void listen_worker_start(struct coop *c, struct coop_worker *w)
{
	size_t i;

	for (i = 0; i < c->n_vs; i++)
		if (c->vs[i]->state == COOP_VS_UP)
			start_list(w, c->vs[i]->listeners);
}

static void listen_worker_stop(struct coop *c, struct coop_worker *w)
{
	size_t i;

	for (i = 0; i < c->n_vs; i++)
		stop_list(w, c->vs[i]->listeners);
}

static void listen_vs_json(const struct coop_vs *vs, struct coop_json *out, bool detail)
{
	const struct coop_listener *li;
	uint64_t paused = 0;

	if (!detail)
		return;
	for (li = vs->listeners; li; li = li->next)
		paused += __atomic_load_n(&li->paused, __ATOMIC_RELAXED);
	coop_json_kv_u64(out, "sockets", vs->n_listeners);
	/* accepts put off because the process ran out of descriptors */
	coop_json_kv_u64(out, "accept_pauses", paused);
}

const struct coop_module coop_mod_listen = {
	.id = COOP_MOD_LISTEN,
	.name = "listen",
	.vs_add = listen_vs_add,
	.vs_publish = listen_vs_publish,
	.vs_change = listen_vs_change,
	.vs_drain = listen_vs_drain,
	.vs_resume = listen_vs_resume,
	.vs_release_worker = listen_vs_release_worker,
	.vs_remove = listen_vs_remove,
	.worker_start = listen_worker_start,
	.worker_stop = listen_worker_stop,
	.vs_json = listen_vs_json,
};
