/* runtime.c - the coop runtime: configuration, bring-up, the control loop,
 * worker threads with their own libev loops, and orderly shutdown. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/netns.h"
#include "core/runtime.h"
#include "fwd/xdp_ctl.h"
#include "vs/udp.h"
#include "vs/vs.h"

static __thread struct coop_worker *self;

struct coop_worker *coop_worker_self(void)
{
	return self;
}

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	coop_info("signal %d: shutting down", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void released_cb(struct ev_loop *loop, ev_async *a, int revents);

struct coop *coop_new(void)
{
	struct coop *c;

	if (coop_netns_init() < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = ev_default_loop(EVFLAG_AUTO);
	if (!c->loop) {
		free(c);
		return NULL;
	}
	ev_async_init(&c->stop_async, stop_cb);
	ev_async_start(c->loop, &c->stop_async);
	ev_signal_init(&c->sigint, signal_cb, SIGINT);
	ev_signal_init(&c->sigterm, signal_cb, SIGTERM);
	ev_async_init(&c->released, released_cb);
	ev_async_start(c->loop, &c->released);
	c->ns_watch_fd = -1;
	return c;
}

static bool service_name_ok(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (!n || n >= COOP_SERVICE_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_' || name[i] == '-'))
			return false;
	return true;
}

int coop_service_register(struct coop *c, const struct coop_service *svc)
{
	const struct coop_service **s;

	if (!svc || !service_name_ok(svc->name) || (!svc->on_read && !svc->on_datagram))
		return -EINVAL;
	if (coop_service_find(c, svc->name))
		return -EEXIST;
	s = realloc(c->services, (c->n_services + 1) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	c->services = s;
	c->services[c->n_services++] = svc;
	return 0;
}

const struct coop_service *coop_service_find(const struct coop *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_services; i++)
		if (!strcmp(c->services[i]->name, name))
			return c->services[i];
	return NULL;
}

static void free_vses(struct coop *c)
{
	size_t i;

	for (i = 0; i < c->n_vs; i++)
		coop_vs_free(c->vs[i]);
	free(c->vs);
	c->vs = NULL;
	c->n_vs = 0;
}

/* What the runtime needs of a loaded configuration beyond the file's own
 * rules: every listener names a registered service, a supported proto. */
static int check_runtime(const struct coop *c, const struct coop_config *cfg, char *err,
			 size_t errlen)
{
	size_t i, l;

	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *v = &cfg->vs[i];

		for (l = 0; l < v->n_listens; l++) {
			const struct coop_listen_cfg *lc = &v->listens[l];
			const struct coop_service *svc = coop_service_find(c, lc->service);
			bool udp = lc->proto == IPPROTO_UDP;

			if (svc && (udp ? !svc->on_datagram : !svc->on_read)) {
				snprintf(err, errlen,
					 "%s: [vs %s] listen: %s:%u %s: the service does not speak %s",
					 cfg->path, v->name, udp ? "udp" : "tcp", lc->port, lc->service,
					 udp ? "UDP (no datagram handler)" : "TCP");
				return -EINVAL;
			}
			if (!svc) {
				char names[256] = "none";
				size_t k, off = 0;

				for (k = 0; k < c->n_services && off < sizeof(names); k++)
					off += snprintf(names + off, sizeof(names) - off, "%s%s",
							k ? ", " : "", c->services[k]->name);
				snprintf(err, errlen,
					 "%s: [vs %s] listen: unknown service '%s' (registered: %s)",
					 cfg->path, v->name, lc->service, names);
				return -ENOENT;
			}
		}
	}
	return 0;
}

int coop_configure(struct coop *c, const char *path, char *err, size_t errlen)
{
	struct coop_config *cfg;
	size_t i;
	int ret;

	if (c->started) {
		snprintf(err, errlen, "coop is running: reconfiguration is not available");
		return -EBUSY;
	}
	ret = coop_config_load(path, &cfg, err, errlen);
	if (ret < 0)
		return ret;
	ret = check_runtime(c, cfg, err, errlen);
	if (ret < 0)
		goto err_free_cfg;
	free_vses(c);
	coop_config_free(c->cfg);
	c->cfg = cfg;
	c->n_workers = cfg->global.workers;
	c->vs = calloc(cfg->n_vs ? cfg->n_vs : 1, sizeof(*c->vs));
	if (!c->vs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < cfg->n_vs; i++) {
		ret = coop_vs_new(c, &cfg->vs[i], &c->vs[i], err, errlen);
		if (ret < 0) {
			free_vses(c);
			return ret;
		}
		c->n_vs++;
	}
	return 0;

err_free_cfg:
	coop_config_free(cfg);
	return ret;
}

unsigned coop_workers(const struct coop *c)
{
	return c->n_workers;
}

size_t coop_vs_count(const struct coop *c)
{
	return c->n_vs;
}

struct coop_vs *coop_vs_at(const struct coop *c, size_t i)
{
	return i < c->n_vs ? c->vs[i] : NULL;
}

struct coop_vs *coop_vs_find(const struct coop *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_vs; i++)
		if (!strcmp(c->vs[i]->cfg->name, name))
			return c->vs[i];
	return NULL;
}

/* --- workers ------------------------------------------------------------- */

int coop_worker_call(struct coop_worker *w, void (*fn)(struct coop_worker *, void *), void *arg)
{
	struct coop_call *call = malloc(sizeof(*call));

	if (!call)
		return -ENOMEM;
	call->fn = fn;
	call->arg = arg;
	pthread_mutex_lock(&w->lock);
	call->next = w->calls;
	w->calls = call;
	pthread_mutex_unlock(&w->lock);
	ev_async_send(w->loop, &w->wake);
	return 0;
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct coop_worker *w = (struct coop_worker *)((char *)a - offsetof(struct coop_worker, wake));
	struct coop_call *list, *rev = NULL, *next;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&w->lock);
	list = w->calls;
	w->calls = NULL;
	pthread_mutex_unlock(&w->lock);
	for (; list; list = next) { /* LIFO -> FIFO */
		next = list->next;
		list->next = rev;
		rev = list;
	}
	for (; rev; rev = next) {
		next = rev->next;
		rev->fn(w, rev->arg);
		free(rev);
	}
}

static void *worker_main(void *arg)
{
	struct coop_worker *w = arg;
	size_t i;

	self = w;
	for (i = 0; i < w->coop->n_vs; i++)
		coop_vs_listeners_start(w->coop->vs[i], w);
	if (w->coop->udp)
		coop_udp_worker_start(w->coop->udp, w);
	ev_run(w->loop, 0);
	self = NULL;
	return NULL;
}

/* Runs on the worker: stop accepting, close connections, leave the loop. */
static void worker_stop(struct coop_worker *w, void *arg)
{
	size_t i;

	(void)arg;
	w->stopping = true;
	for (i = 0; i < w->coop->n_vs; i++)
		coop_vs_listeners_stop(w->coop->vs[i], w);
	if (w->coop->udp)
		coop_udp_worker_stop(w->coop->udp, w);
	coop_conn_close_all(w);
	ev_break(w->loop, EVBREAK_ALL);
}

static void workers_stop(struct coop *c)
{
	unsigned i;

	for (i = 0; i < c->n_workers; i++) {
		struct coop_worker *w = &c->workers[i];

		if (!w->started)
			continue;
		while (coop_worker_call(w, worker_stop, NULL) < 0)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		pthread_join(w->thread, NULL);
		w->started = false;
	}
}

static void workers_free(struct coop *c)
{
	unsigned i;

	if (!c->workers)
		return;
	for (i = 0; i < c->n_workers; i++) {
		struct coop_worker *w = &c->workers[i];

		while (w->calls) {
			struct coop_call *next = w->calls->next;

			free(w->calls);
			w->calls = next;
		}
		if (w->loop)
			ev_loop_destroy(w->loop);
		pthread_mutex_destroy(&w->lock);
	}
	free(c->workers);
	c->workers = NULL;
}

static int workers_start(struct coop *c, char *err, size_t errlen)
{
	sigset_t all, old;
	unsigned i;
	int ret;

	c->workers = calloc(c->n_workers, sizeof(*c->workers));
	if (!c->workers) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < c->n_workers; i++) {
		struct coop_worker *w = &c->workers[i];

		w->coop = c;
		w->id = i;
		pthread_mutex_init(&w->lock, NULL);
		w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
		if (!w->loop) {
			snprintf(err, errlen, "worker %u: cannot create an event loop", i);
			return -ENOMEM;
		}
		ev_async_init(&w->wake, wake_cb);
		ev_async_start(w->loop, &w->wake);
	}
	/* Workers inherit a mask with every signal blocked: signals are the
	 * control thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < c->n_workers; i++) {
		ret = pthread_create(&c->workers[i].thread, NULL, worker_main, &c->workers[i]);
		if (ret) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "worker %u: %s", i, strerror(ret));
			return -ret;
		}
		c->workers[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/* --- namespaces deleted under coop ------------------------------------------ */

/* A VS whose namespace file goes away (`ip netns del NAME`) would go on
 * serving in a namespace nobody can see or enter any more: the operator
 * asked for the tenant to be gone, so the VS stops serving. */
static void ns_watch_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct coop *c = (struct coop *)((char *)io - offsetof(struct coop, ns_watch));
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	size_t i;

	(void)loop;
	(void)revents;
	while ((n = read(c->ns_watch_fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (!ev->len)
				continue;
			for (i = 0; i < c->n_vs; i++) {
				struct coop_vs *vs = c->vs[i];

				if (vs->state == COOP_VS_UP && vs->cfg->isolation == COOP_ISO_NETNS &&
				    !strcmp(vs->cfg->netns, ev->name))
					coop_vs_lose(vs, "its namespace was deleted outside coop");
			}
		}
	}
}

static void released_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct coop *c = (struct coop *)((char *)a - offsetof(struct coop, released));
	size_t i;

	(void)loop;
	(void)revents;
	for (i = 0; i < c->n_vs; i++)
		coop_vs_released(c->vs[i]);
}

static void ns_watch_start(struct coop *c)
{
	c->ns_watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (c->ns_watch_fd < 0)
		goto err_warn;
	if (inotify_add_watch(c->ns_watch_fd, COOP_NETNS_DIR, IN_DELETE | IN_MOVED_FROM) < 0) {
		close(c->ns_watch_fd);
		c->ns_watch_fd = -1;
		goto err_warn;
	}
	ev_io_init(&c->ns_watch, ns_watch_cb, c->ns_watch_fd, EV_READ);
	ev_io_start(c->loop, &c->ns_watch);
	return;

err_warn:
	coop_warn("cannot watch %s (%m): namespaces deleted under coop go unnoticed",
		  COOP_NETNS_DIR);
}

static void ns_watch_stop(struct coop *c)
{
	if (c->ns_watch_fd < 0)
		return;
	ev_io_stop(c->loop, &c->ns_watch);
	close(c->ns_watch_fd);
	c->ns_watch_fd = -1;
}

/* --- lifecycle ----------------------------------------------------------- */

/* Enough descriptors for listeners x workers x VSes plus namespaces. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void vses_down(struct coop *c, size_t n)
{
	char err[512];

	/* One batch: a pbr namespace loses all its VSes in one reconciliation
	 * instead of one per VS. Opening it reads nothing new here. */
	if (coop_vs_batch_begin(c, err, sizeof(err)) < 0)
		coop_warn("%s", err);
	while (n--)
		coop_vs_down(c->vs[n]);
	if (coop_vs_batch_commit(c, err, sizeof(err)) < 0)
		coop_warn("%s", err);
}

int coop_start(struct coop *c, char *err, size_t errlen)
{
	size_t i;
	int ret;

	if (!c->cfg) {
		snprintf(err, errlen, "no configuration loaded");
		return -EINVAL;
	}
	if (c->started) {
		snprintf(err, errlen, "already started");
		return -EBUSY;
	}
	raise_nofile();
	/* The admin socket first: a second coopd on the same file stops here
	 * ("another coopd is running") before touching any kernel state. */
	ret = coop_admin_open(c, err, errlen);
	if (ret < 0)
		return ret;
	ret = coop_metrics_open(c, err, errlen);
	if (ret < 0) {
		coop_admin_close(c);
		return ret;
	}
	ret = coop_udp_new(c->n_workers, &c->udp);
	if (ret < 0) {
		snprintf(err, errlen, "out of memory");
		coop_metrics_close(c);
		coop_admin_close(c);
		return ret;
	}
	/* Backends with shared state (pbr) record the ups and program the
	 * kernel once at the commit; begin only reads, so its refusals (a
	 * table a foreign rule uses) leave everything untouched. */
	ret = coop_vs_batch_begin(c, err, errlen);
	if (ret < 0) {
		coop_udp_free(c->udp);
		c->udp = NULL;
		coop_metrics_close(c);
		coop_admin_close(c);
		return ret;
	}
	for (i = 0; i < c->n_vs; i++) {
		ret = coop_vs_up(c->vs[i], err, errlen);
		if (ret < 0)
			goto err_down;
	}
	ret = coop_vs_batch_commit(c, err, errlen);
	if (ret < 0)
		goto err_down;
	ret = workers_start(c, err, errlen);
	if (ret < 0)
		goto err_workers;
	/* after the VSes: flows this node owns pass up to their listeners */
	ret = coop_fwd_xdp_start(c, err, errlen);
	if (ret < 0)
		goto err_workers;
	ev_signal_start(c->loop, &c->sigint);
	ev_signal_start(c->loop, &c->sigterm);
	ns_watch_start(c);
	c->started = true;
	coop_info("%zu virtual servers up, %u workers", c->n_vs, c->n_workers);
	return 0;

err_workers:
	workers_stop(c);
	workers_free(c);
err_down:
	vses_down(c, i);
	coop_udp_free(c->udp);
	c->udp = NULL;
	coop_metrics_close(c);
	coop_admin_close(c);
	return ret;
}

int coop_run(struct coop *c)
{
	if (!c->started)
		return -EINVAL;
	ev_run(c->loop, 0);
	ev_signal_stop(c->loop, &c->sigint);
	ev_signal_stop(c->loop, &c->sigterm);
	coop_fwd_xdp_stop(c);
	ns_watch_stop(c);
	workers_stop(c);
	coop_metrics_close(c);
	coop_admin_close(c);
	vses_down(c, c->n_vs);
	coop_udp_free(c->udp);
	c->udp = NULL;
	workers_free(c);
	c->started = false;
	coop_info("stopped; all kernel state coop created is removed");
	return 0;
}

void coop_stop(struct coop *c)
{
	ev_async_send(c->loop, &c->stop_async);
}

void coop_free(struct coop *c)
{
	if (!c)
		return;
	if (c->started) {
		coop_fwd_xdp_stop(c);
		ns_watch_stop(c);
		workers_stop(c);
		coop_metrics_close(c);
		coop_admin_close(c);
		vses_down(c, c->n_vs);
		coop_udp_free(c->udp);
		c->udp = NULL;
		workers_free(c);
	}
	coop_admin_free(c);
	free_vses(c);
	coop_config_free(c->cfg);
	free(c->services);
	ev_async_stop(c->loop, &c->stop_async);
	ev_async_stop(c->loop, &c->released);
	free(c);
}
