/* vs.c - the virtual server object: creation, bring-up (isolation, then
 * listeners), tear-down in reverse, the scope-socket helper and counters. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/runtime.h"
#include "resolver/resolver_vs.h"
#include "vs/rpc.h"
#include "vs/udp.h"
#include "vs/vs.h"

#define LISTEN_BACKLOG 1024

static const struct coop_iso_ops *iso_for(enum coop_isolation iso)
{
	switch (iso) {
	case COOP_ISO_NETNS:
		return &coop_iso_netns;
	case COOP_ISO_PBR:
		return &coop_iso_pbr;
	}
	return NULL;
}

/* Every backend, for the batch hooks. */
static const struct coop_iso_ops *const backends[] = { &coop_iso_netns, &coop_iso_pbr };

int coop_vs_batch_begin(struct coop *c, char *err, size_t errlen)
{
	size_t i;
	int ret;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i]->batch_begin &&
		    (ret = backends[i]->batch_begin(c, err, errlen)) < 0)
			goto err_close;
	return 0;

err_close:
	/* close the batches already open (they hold nothing yet), so that
	 * no backend stays in one, with its locks, after this failure */
	while (i--)
		if (backends[i]->batch_begin && backends[i]->batch_commit)
			backends[i]->batch_commit(c, NULL, 0);
	return ret;
}

int coop_vs_batch_commit(struct coop *c, char *err, size_t errlen)
{
	size_t i;
	int ret = 0, r;

	/* Every backend commits even after one failed: each has VSes
	 * waiting for their state. The first failure is reported. */
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (!backends[i]->batch_commit)
			continue;
		r = backends[i]->batch_commit(c, ret ? NULL : err, ret ? 0 : errlen);
		if (r < 0 && !ret)
			ret = r;
	}
	return ret;
}

int coop_vs_new(struct coop *c, const struct coop_vs_cfg *cfg, struct coop_vs **out,
		char *err, size_t errlen)
{
	struct coop_vs *vs;
	int ret;

	vs = calloc(1, sizeof(*vs));
	if (!vs)
		goto err_nomem;
	vs->coop = c;
	vs->cfg = cfg;
	vs->iso = iso_for(cfg->isolation);
	if (!vs->iso) {
		snprintf(err, errlen, "vs '%s': unknown isolation backend", cfg->name);
		free(vs);
		return -ENOTSUP;
	}
	vs->n_workers = c->n_workers;
	vs->wstats = aligned_alloc(64, sizeof(*vs->wstats) * c->n_workers);
	if (!vs->wstats)
		goto err_free_vs;
	memset(vs->wstats, 0, sizeof(*vs->wstats) * c->n_workers);
	ret = coop_rpc_vs_init(vs, err, errlen);
	if (ret < 0) {
		free(vs->wstats);
		free(vs);
		return ret;
	}
	*out = vs;
	return 0;

err_free_vs:
	free(vs);
err_nomem:
	snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
	return -ENOMEM;
}

void coop_vs_free(struct coop_vs *vs)
{
	if (!vs)
		return;
	coop_rpc_vs_fini(vs);
	free(vs->listeners);
	free(vs->wstats);
	free(vs);
}

int coop_vs_socket(struct coop_vs *vs, int domain, int type, int protocol)
{
	return vs->iso->socket(vs, domain, type, protocol);
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

static void close_listeners(struct coop_vs *vs)
{
	size_t i;

	for (i = 0; i < vs->n_listeners; i++)
		if (vs->listeners[i].fd >= 0)
			close(vs->listeners[i].fd);
	free(vs->listeners);
	vs->listeners = NULL;
	vs->n_listeners = 0;
}

/* Bind addresses of a VS: its own addresses, or the wildcards when it has
 * none (an attached namespace that carries its own addresses). */
static size_t bind_addrs(const struct coop_vs *vs, const struct coop_addr **list,
			 struct coop_addr wild[2])
{
	size_t i;

	if (!vs->cfg->n_addrs) {
		memset(wild, 0, 2 * sizeof(*wild));
		wild[0].family = AF_INET;
		wild[1].family = AF_INET6;
		list[0] = &wild[0];
		list[1] = &wild[1];
		return 2;
	}
	for (i = 0; i < vs->cfg->n_addrs; i++)
		list[i] = &vs->cfg->addrs[i].addr;
	return vs->cfg->n_addrs;
}

static int open_listeners(struct coop_vs *vs, char *err, size_t errlen)
{
	const struct coop_vs_cfg *cfg = vs->cfg;
	size_t n_addrs = cfg->n_addrs ? cfg->n_addrs : 2;
	const struct coop_addr **addrs;
	struct coop_addr wild[2];
	size_t l, a, k = 0;
	unsigned w;
	char abuf[INET6_ADDRSTRLEN];

	addrs = calloc(n_addrs, sizeof(*addrs));
	vs->listeners = calloc(cfg->n_listens * n_addrs * vs->n_workers, sizeof(*vs->listeners));
	if (!addrs || !vs->listeners) {
		free(addrs);
		snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
		return -ENOMEM;
	}
	n_addrs = bind_addrs(vs, addrs, wild);
	for (l = 0; l < cfg->n_listens; l++) {
		const struct coop_listen_cfg *lc = &cfg->listens[l];
		const struct coop_service *svc = coop_service_find(vs->coop, lc->service);

		if (lc->proto != IPPROTO_TCP)
			continue; /* udp: entries share sockets, see vs/udp.c */
		for (a = 0; a < n_addrs; a++) {
			for (w = 0; w < vs->n_workers; w++) {
				struct coop_listener *li = &vs->listeners[k];
				int fd = listen_socket(vs, addrs[a], lc->port);

				if (fd < 0) {
					snprintf(err, errlen, "vs '%s': listen tcp:%u on %s: %s",
						 cfg->name, lc->port,
						 coop_addr_str(addrs[a], abuf, sizeof(abuf)),
						 strerror(-fd));
					free(addrs);
					close_listeners(vs);
					return fd;
				}
				li->vs = vs;
				li->cfg = lc;
				li->svc = svc;
				li->fd = fd;
				li->worker = w;
				vs->n_listeners = ++k;
			}
		}
	}
	free(addrs);
	return 0;
}

int coop_vs_up(struct coop_vs *vs, char *err, size_t errlen)
{
	int ret;

	ret = vs->iso->up(vs, err, errlen);
	if (ret < 0)
		return ret;
	ret = coop_vs_resolver_up(vs, err, errlen);
	if (ret < 0) {
		vs->iso->down(vs);
		return ret;
	}
	ret = open_listeners(vs, err, errlen);
	if (ret < 0) {
		coop_vs_resolver_down(vs);
		vs->iso->down(vs);
		return ret;
	}
	ret = coop_udp_vs_add(vs->coop->udp, vs, err, errlen);
	if (ret < 0) {
		close_listeners(vs);
		coop_vs_resolver_down(vs);
		vs->iso->down(vs);
		return ret;
	}
	vs->state = COOP_VS_UP;
	return 0;
}

/* On each worker: let go of a lost VS; the last one tells the control
 * thread, which releases the kernel state (coop_vs_released). */
static void release_on_worker(struct coop_worker *w, void *arg)
{
	struct coop_vs *vs = arg;

	coop_vs_listeners_stop(vs, w);
	coop_udp_vs_release_worker(vs->coop->udp, vs, w);
	coop_conn_close_vs(w, vs);
	/* After the connections: their on_close may cancel lookups. */
	coop_vs_resolver_release(vs, w->loop);
	if (atomic_fetch_sub(&vs->releasing, 1) == 1)
		ev_async_send(vs->coop->loop, &vs->coop->released);
}

void coop_vs_lose(struct coop_vs *vs, const char *why)
{
	unsigned i;

	if (vs->state != COOP_VS_UP)
		return;
	coop_err("vs '%s': %s; it stops serving", vs->cfg->name, why);
	snprintf(vs->lost_why, sizeof(vs->lost_why), "%s", why);
	vs->state = COOP_VS_LOSING;
	coop_udp_vs_lose(vs->coop->udp, vs);
	coop_vs_resolver_shutdown(vs);
	atomic_store(&vs->releasing, vs->n_workers);
	for (i = 0; i < vs->n_workers; i++)
		while (coop_worker_call(&vs->coop->workers[i], release_on_worker, vs) < 0)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

/* Control thread: every worker let go of vs; release the rest. */
void coop_vs_released(struct coop_vs *vs)
{
	if (vs->state != COOP_VS_LOSING || atomic_load(&vs->releasing))
		return;
	coop_udp_vs_released(vs->coop->udp, vs);
	close_listeners(vs);
	coop_vs_resolver_down(vs);
	vs->iso->down(vs);
	vs->state = COOP_VS_LOST;
	coop_info("vs '%s': released", vs->cfg->name);
}

void coop_vs_down(struct coop_vs *vs)
{
	if (vs->state == COOP_VS_LOSING) {
		/* Workers have stopped (shutdown): finish the release. */
		atomic_store(&vs->releasing, 0);
		coop_vs_released(vs);
	}
	if (vs->state != COOP_VS_UP)
		return;
	coop_udp_vs_del(vs->coop->udp, vs);
	close_listeners(vs);
	coop_vs_resolver_down(vs);
	vs->iso->down(vs);
	vs->state = COOP_VS_DOWN;
}

const char *coop_vs_name(const struct coop_vs *vs)
{
	return vs->cfg->name;
}

void coop_vs_stats_get(const struct coop_vs *vs, struct coop_vs_stats *out)
{
	uint64_t closed = 0;
	unsigned w;

	memset(out, 0, sizeof(*out));
	for (w = 0; w < vs->n_workers; w++) {
		const struct coop_vs_wstats *s = &vs->wstats[w];

		out->accepted += atomic_load_explicit(&s->accepted, memory_order_relaxed);
		out->outbound += atomic_load_explicit(&s->outbound, memory_order_relaxed);
		closed += atomic_load_explicit(&s->closed, memory_order_relaxed);
		out->bytes_in += atomic_load_explicit(&s->bytes_in, memory_order_relaxed);
		out->bytes_out += atomic_load_explicit(&s->bytes_out, memory_order_relaxed);
	}
	/* Each counter is read once, so a close may be seen before its
	 * accept on another worker's line: clamp rather than wrap. */
	out->active = out->accepted + out->outbound > closed ? out->accepted + out->outbound - closed : 0;
}
