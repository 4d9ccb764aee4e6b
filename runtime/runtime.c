/* runtime.c - the coop runtime: the built-in modules wired in order,
 * configuration, bring-up, the control loop with its signals (SIGHUP
 * reloads), and orderly shutdown. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/log.h"
#include "base/netns.h"
#include "base/util.h"
#include "core/admin.h"
#include "core/metrics.h"
#include "runtime/rt.h"

static const struct coop_module *const builtin[] = {
	&coop_mod_netns, &coop_mod_pbr,	   &coop_mod_rpc, &coop_mod_resolver,
	&coop_mod_listen, &coop_mod_udp, &coop_mod_fwd,
};

const struct coop_module *const *coop_rt_modules(size_t *n)
{
	*n = COOP_ARRAY_LEN(builtin);
	return builtin;
}

/* --- configuration ------------------------------------------------------------- */

/* Core's tables, then every module's, for the loader. */
static const struct coop_cfg_keytab *const *all_tabs(size_t *n)
{
	static const struct coop_cfg_keytab *tabs[32];
	static size_t n_tabs;
	/* Static data, built on the first call (the control thread's). */
	if (!n_tabs) {
		size_t i, k;

		tabs[n_tabs++] = &coop_cfg_core_tabs[0];
		tabs[n_tabs++] = &coop_cfg_core_tabs[1];
		for (i = 0; i < COOP_ARRAY_LEN(builtin); i++)
			for (k = 0; k < builtin[i]->n_keytabs && n_tabs < COOP_ARRAY_LEN(tabs); k++)
				tabs[n_tabs++] = &builtin[i]->keytabs[k];
	}
	*n = n_tabs;
	return tabs;
}

int coop_config_load_flags(const char *path, unsigned flags, struct coop_config **out,
			   char *err, size_t errlen)
{
	size_t n;
	const struct coop_cfg_keytab *const *tabs = all_tabs(&n);

	return coop_config_parse(path, flags, tabs, n, out, err, errlen);
}

int coop_config_load_again(const char *path, const struct coop_config *prev,
			   struct coop_config **out, char *err, size_t errlen)
{
	size_t n;
	const struct coop_cfg_keytab *const *tabs = all_tabs(&n);

	return coop_config_reparse(path, 0, tabs, n, prev, out, err, errlen);
}

int coop_config_load(const char *path, struct coop_config **out, char *err, size_t errlen)
{
	return coop_config_load_flags(path, 0, out, err, errlen);
}

const struct coop_config_keydoc *coop_config_keydoc_at(size_t i)
{
	size_t n;
	const struct coop_cfg_keytab *const *tabs = all_tabs(&n);

	return coop_cfg_keydoc_at(tabs, n, i);
}

/* The backend's [vs] key table says which name its id stands for. */
const struct coop_iso_ops *coop_rt_iso(const struct coop *c, const struct coop_vs_cfg *cfg)
{
	size_t i, n;
	const struct coop_cfg_keytab *const *tabs = all_tabs(&n);
	const char *want = coop_cfg_iso_name(tabs, n, (int)cfg->isolation);

	for (i = 0; want && i < c->n_mods; i++)
		if (c->mods[i]->iso && !strcmp(c->mods[i]->iso->name, want))
			return c->mods[i]->iso;
	return NULL;
}

/* --- the runtime ------------------------------------------------------------------ */

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

/* A signal whose default would kill coopd without its cleanup, and that
 * means nothing to it. */
static void ignored_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	coop_info("signal %d: ignored (SIGINT, SIGTERM or SIGQUIT stop coopd, SIGHUP reloads)",
		  w->signum);
}

static void sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct coop *c = container_of(w, struct coop, sighup);
	char err[1024];

	(void)loop;
	(void)revents;
	coop_info("SIGHUP: reloading %s", c->cfg->path);
	c->reloads++;
	if (coop_rt_reload(c, NULL, err, sizeof(err)) < 0)
		coop_err("reload: %s", err);
}

struct coop *coop_new(void)
{
	struct coop *c;
	size_t n;

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
	c->mods = coop_rt_modules(&n);
	c->n_mods = n;
	pthread_mutex_init(&c->park.lock, NULL);
	pthread_cond_init(&c->park.cond, NULL);
	ev_async_init(&c->stop_async, stop_cb);
	ev_async_start(c->loop, &c->stop_async);
	ev_signal_init(&c->sigint, signal_cb, SIGINT);
	ev_signal_init(&c->sigterm, signal_cb, SIGTERM);
	ev_signal_init(&c->sigquit, signal_cb, SIGQUIT);
	ev_signal_init(&c->sighup, sighup_cb, SIGHUP);
	ev_signal_init(&c->sigusr1, ignored_cb, SIGUSR1);
	ev_signal_init(&c->sigusr2, ignored_cb, SIGUSR2);
	c->own_signals = true;
	c->vs_lost = coop_rt_vs_lose;
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
		coop_rt_vs_destroy(c->vs[i]);
	free(c->vs);
	c->vs = NULL;
	c->n_vs = c->cap_vs = 0;
}

int coop_rt_check(const struct coop *c, const struct coop_config *cfg, char *err, size_t errlen)
{
	size_t i, l;

	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *v = &cfg->vs[i];

		if (!coop_rt_iso(c, v)) {
			snprintf(err, errlen, "%s: [vs %s] isolation: no such backend", cfg->path,
				 v->name);
			return -ENOTSUP;
		}
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
		snprintf(err, errlen, "coop is running: use coop_reload (admin: reload)");
		return -EBUSY;
	}
	ret = coop_config_load(path, &cfg, err, errlen);
	if (ret < 0)
		return ret;
	ret = coop_rt_check(c, cfg, err, errlen);
	if (ret < 0) {
		coop_config_free(cfg);
		return ret;
	}
	free_vses(c);
	coop_config_free(c->cfg);
	c->cfg = cfg;
	c->n_workers = cfg->global.workers;
	c->drain_timeout = cfg->global.drain_timeout_ms / 1000.0;
	c->cap_vs = cfg->n_vs ? cfg->n_vs : 1;
	c->vs = calloc(c->cap_vs, sizeof(*c->vs));
	if (!c->vs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < cfg->n_vs; i++) {
		ret = coop_rt_vs_make(c, &cfg->vs[i], &c->vs[i], err, errlen);
		if (ret < 0) {
			free_vses(c);
			return ret;
		}
		c->n_vs++;
	}
	return 0;
}

unsigned coop_workers(const struct coop *c)
{
	return c->n_workers;
}

/* --- lifecycle ------------------------------------------------------------------- */

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
	if (coop_rt_batch_begin(c, err, sizeof(err)) < 0)
		coop_warn("%s", err);
	while (n--)
		coop_rt_vs_down(c->vs[n]);
	if (coop_rt_batch_commit(c, err, sizeof(err)) < 0)
		coop_warn("%s", err);
}

static void mods_stop(struct coop *c, size_t n)
{
	while (n--)
		if (c->mods[n]->stop)
			c->mods[n]->stop(c);
}

static void mods_unrun(struct coop *c, size_t n)
{
	while (n--)
		if (c->mods[n]->unrun)
			c->mods[n]->unrun(c);
}

static int register_cmds(struct coop *c, char *err, size_t errlen)
{
	size_t i, k;
	int ret;

	for (i = 0; i < coop_rt_n_cmds; i++)
		if ((ret = coop_admin_register(c, &coop_rt_cmds[i])) < 0 && ret != -EEXIST)
			goto err_cmd;
	for (i = 0; i < c->n_mods; i++)
		for (k = 0; k < c->mods[i]->n_cmds; k++)
			if ((ret = coop_admin_register(c, &c->mods[i]->cmds[k])) < 0 &&
			    ret != -EEXIST)
				goto err_cmd;
	return 0;

err_cmd:
	snprintf(err, errlen, "cannot register an admin command: %s", strerror(-ret));
	return ret;
}

static ev_signal *signals_of(struct coop *c, size_t i)
{
	ev_signal *const all[] = { &c->sigint, &c->sigterm, &c->sigquit,
				   &c->sighup, &c->sigusr1, &c->sigusr2 };

	return i < COOP_ARRAY_LEN(all) ? all[i] : NULL;
}

static void signals_start(struct coop *c)
{
	ev_signal *w;
	size_t i;

	for (i = 0; (w = signals_of(c, i)); i++)
		ev_signal_start(c->loop, w);
}

/* Stop the watchers; after a clean stop (ignore) a late stop signal (an
 * operator's second Ctrl-C) has nothing left to stop and must not turn a
 * clean exit into a death by signal. */
static void signals_stop(struct coop *c, bool ignore)
{
	ev_signal *w;
	size_t i;

	for (i = 0; (w = signals_of(c, i)); i++) {
		if (!ev_is_active(w))
			continue;
		ev_signal_stop(c->loop, w);
		if (ignore)
			signal(w->signum, SIG_IGN);
	}
}

int coop_own_signals(struct coop *c, int own)
{
	if (c->started)
		return -EBUSY;
	c->own_signals = own != 0;
	return 0;
}

int coop_reload(struct coop *c, char *err, size_t errlen)
{
	c->reloads++;
	return coop_rt_reload(c, NULL, err, errlen);
}

int coop_start(struct coop *c, char *err, size_t errlen)
{
	size_t i, m = 0, r = 0;
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
	/* Signals from here on: one that comes during the bring-up waits in
	 * the loop (not running yet), so a SIGTERM then stops coopd cleanly
	 * right after instead of killing it half-way. */
	if (c->own_signals)
		signals_start(c);
	/* The admin socket first: a second coopd on the same file stops here
	 * ("another coopd is running") before touching any kernel state. */
	ret = coop_admin_open(c, err, errlen);
	if (ret < 0) {
		signals_stop(c, false);
		return ret;
	}
	ret = register_cmds(c, err, errlen);
	if (ret < 0)
		goto err_admin;
	ret = coop_metrics_open(c, err, errlen);
	if (ret < 0)
		goto err_admin;
	for (m = 0; m < c->n_mods; m++)
		if (c->mods[m]->start && (ret = c->mods[m]->start(c, err, errlen)) < 0)
			goto err_mods;
	/* Backends with shared state (pbr) record the ups and program the
	 * kernel once at the commit; begin only reads, so its refusals (a
	 * table a foreign rule uses) leave everything untouched. */
	ret = coop_rt_batch_begin(c, err, errlen);
	if (ret < 0)
		goto err_mods;
	for (i = 0; i < c->n_vs; i++) {
		ret = coop_rt_vs_up(c->vs[i], false, err, errlen);
		if (ret < 0) {
			coop_rt_batch_commit(c, NULL, 0);
			goto err_down;
		}
	}
	ret = coop_rt_batch_commit(c, err, errlen);
	if (ret < 0)
		goto err_down;
	ret = coop_workers_start(c, err, errlen);
	if (ret < 0)
		goto err_workers;
	/* after the VSes: flows this node owns pass up to their listeners */
	for (r = 0; r < c->n_mods; r++)
		if (c->mods[r]->run && (ret = c->mods[r]->run(c, err, errlen)) < 0)
			goto err_run;
	c->started = true;
	coop_info("%zu virtual servers up, %u workers", c->n_vs, c->n_workers);
	return 0;

err_run:
	mods_unrun(c, r);
err_workers:
	coop_workers_stop(c);
	coop_workers_free(c);
err_down:
	vses_down(c, i);
err_mods:
	mods_stop(c, m);
	coop_metrics_close(c);
err_admin:
	coop_admin_close(c);
	signals_stop(c, false);
	return ret;
}

static void shutdown_all(struct coop *c)
{
	size_t i;

	/* The signal watchers stay until the end: a second SIGTERM (an
	 * impatient operator, systemd's timeout) then only marks a signal
	 * the stopped loop never reads, instead of killing the cleanup. */
	mods_unrun(c, c->n_mods);
	coop_workers_stop(c);
	coop_metrics_close(c);
	coop_admin_close(c);
	for (i = 0; i < c->n_vs; i++)
		if (ev_is_active(&c->vs[i]->drain_timer))
			ev_timer_stop(c->loop, &c->vs[i]->drain_timer);
	vses_down(c, c->n_vs);
	mods_stop(c, c->n_mods);
	coop_workers_free(c);
	signals_stop(c, true);
	c->started = false;
}

int coop_run(struct coop *c)
{
	if (!c->started)
		return -EINVAL;
	ev_run(c->loop, 0);
	shutdown_all(c);
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
	if (c->started)
		shutdown_all(c);
	coop_admin_free(c);
	free_vses(c);
	coop_config_free(c->cfg);
	free(c->services);
	ev_async_stop(c->loop, &c->stop_async);
	pthread_cond_destroy(&c->park.cond);
	pthread_mutex_destroy(&c->park.lock);
	free(c);
}
