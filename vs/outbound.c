/* outbound.c - TCP connections opened from inside a VS: a socket in the VS
 * scope, bound to the VS's own address, connected without blocking. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/runtime.h"
#include "core/vs.h"

/* True when dst (the address of a sockaddr of p's family) lies in p. */
static bool prefix_holds(const struct coop_prefix *p, const struct sockaddr *dst)
{
	const uint8_t *a = (const uint8_t *)&p->addr.v4, *b;
	unsigned full = p->len / 8, rem = p->len % 8;

	b = dst->sa_family == AF_INET ?
		    (const uint8_t *)&((const struct sockaddr_in *)dst)->sin_addr :
		    (const uint8_t *)&((const struct sockaddr_in6 *)dst)->sin6_addr;
	if (memcmp(a, b, full))
		return false;
	return !rem || !((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rem)));
}

/* The VS address to connect from: the one whose subnet holds dst (the
 * longest such prefix), else the first of dst's family, else NULL. A VS
 * with addresses in several subnets (pbr: each with its connected route
 * and source in the VS table) then talks to each subnet from its own
 * address there, and to the rest of the world from its first one. */
static const struct coop_addr *source_addr(const struct coop_vs *vs, const struct sockaddr *dst)
{
	const struct coop_prefix *first = NULL, *best = NULL;
	size_t i;

	for (i = 0; i < vs->cfg->n_addrs; i++) {
		const struct coop_prefix *p = &vs->cfg->addrs[i];

		if (p->addr.family != dst->sa_family)
			continue;
		if (!first)
			first = p;
		if (prefix_holds(p, dst) && (!best || p->len > best->len))
			best = p;
	}
	if (best)
		return &best->addr;
	return first ? &first->addr : NULL;
}

/* May vs get a new connection? Only while it is up or draining: a VS
 * being removed or lost is letting go of its connections on every worker
 * (coop_conn_close_vs), and one opened meanwhile (a service's on_close
 * reconnecting, say) would outlive it. The control thread writes the state
 * before it asks the workers to let go, so they see it by then. */
static bool vs_open(const struct coop_vs *vs)
{
	enum coop_vs_state st = __atomic_load_n(&vs->state, __ATOMIC_RELAXED);

	return st == COOP_VS_UP || st == COOP_VS_DRAINING;
}

int coop_vs_tcp_connect(struct coop_vs *vs, const struct sockaddr *dst, socklen_t dstlen,
			const struct coop_service *svc, coop_connect_cb cb, void *arg)
{
	struct coop_worker *w = coop_worker_self();
	const struct coop_addr *src;
	struct sockaddr_storage ss;
	struct coop_conn *conn;
	int fd, ret;

	if (!w)
		return -EPERM;
	if (!dst || !svc || !svc->on_read || !cb ||
	    (dst->sa_family == AF_INET && dstlen < sizeof(struct sockaddr_in)) ||
	    (dst->sa_family == AF_INET6 && dstlen < sizeof(struct sockaddr_in6)) ||
	    (dst->sa_family != AF_INET && dst->sa_family != AF_INET6))
		return -EINVAL;
	if (!vs_open(vs) || w->stopping)
		return -ESHUTDOWN;
	ret = coop_conn_admit(vs, w);
	if (ret < 0)
		return ret;
	fd = coop_vs_socket(vs, dst->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	src = source_addr(vs, dst);
	if (src) {
		memset(&ss, 0, sizeof(ss));
		if (src->family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			sin->sin_family = AF_INET;
			sin->sin_addr = src->v4;
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr = src->v6;
		}
		if (bind(fd, (struct sockaddr *)&ss, src->family == AF_INET ?
			 sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0)
			goto err_close;
	}
	if (connect(fd, dst, dstlen) < 0 && errno != EINPROGRESS)
		goto err_close;
	conn = coop_conn_new(w, vs, svc, fd, true);
	if (!conn) {
		errno = ENOMEM;
		goto err_close;
	}
	coop_stat_add(&vs->wstats[w->id].outbound, 1);
	coop_conn_connecting(conn, dst, dstlen, cb, arg);
	return 0;

err_close:
	ret = -errno;
	close(fd);
	return ret;
}
