/* iso_netns.c - the netns isolation backend: a VS lives in its own network
 * namespace, with its interface, addresses and default routes. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/netns.h"
#include "core/nl.h"
#include "vs/vs.h"

/* Index of the loopback device in every namespace (reserved by the kernel). */
#define LOOPBACK_IFINDEX 1

/* An address up() added, and the link it went on. */
struct iso_addr {
	struct coop_prefix p; /* the address (copied: the config may be replaced) */
	int ifindex;          /* link inside the VS namespace */
};

/* A default route up() added. */
struct iso_route {
	struct coop_addr gw; /* its gateway (copied, like the addresses) */
	int ifindex;         /* the output link it was pinned to, 0 = none */
};

/* Everything up() created, so that down() undoes exactly that and nothing
 * else. Owned by the control thread; hangs off vs->iso_priv while up. */
struct iso_netns {
	struct coop_netns *ns;      /* namespace reference (owned or attached) */
	char ifname[IF_NAMESIZE];   /* the VS interface, "" = none */
	int ifindex;                /* its index inside the namespace, 0 = none */
	bool moved;                 /* up() moved it in from the default namespace */
	bool was_up;                /* ...where it was up before the move */
	bool set_up;                /* up() set IFF_UP on it */
	struct iso_addr *addrs;     /* addresses up() added, in order */
	size_t n_addrs;
	struct iso_route routes[2]; /* default routes up() added (v4, v6) */
	size_t n_routes;
};

/* down() failures have no caller to report to; log them rather than leave
 * kernel state behind silently. */
#define warn(vs, fmt, ...) coop_warn("vs '%s': " fmt, (vs)->cfg->name, __VA_ARGS__)

/* Fill err with "vs 'NAME': WHAT: strerror(-rc) (kernel text)", return rc. */
static int __attribute__((format(printf, 6, 7)))
fail(const struct coop_vs *vs, struct coop_nl *nl, int rc, char *err, size_t errlen,
     const char *fmt, ...)
{
	const char *ext = nl ? coop_nl_errmsg(nl) : "";
	char what[192];
	va_list ap;

	if (!err || !errlen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "vs '%s': %s: %s%s%s%s", vs->cfg->name, what, strerror(-rc),
		 *ext ? " (" : "", ext, *ext ? ")" : "");
	return rc;
}

static const char *addr_str(const struct coop_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, &a->v4, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

static const char *prefix_str(const struct coop_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", addr_str(&p->addr, a, sizeof(a)), p->len);
	return buf;
}

/* An IPv6 link-local gateway is only meaningful with an output link. */
static int gw_ifindex(const struct iso_netns *st, const struct coop_addr *gw)
{
	if (gw->family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&gw->v6))
		return st->ifindex;
	return 0;
}

/* A namespace coop created and nobody else uses takes its addresses and
 * routes with it: deleting them one by one would be wasted work. */
static bool doomed(const struct iso_netns *st)
{
	return st->ns->owned && st->ns->refs == 1;
}

/* Undo what st records, newest first. nl is a socket in the VS namespace
 * (NULL if none could be opened: then only the namespace reference goes). */
static void undo(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl)
{
	struct coop_nl *def = NULL;
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;
	int rc;

	if (!nl)
		goto put;
	if (!doomed(st)) {
		for (i = st->n_routes; i-- > 0;) {
			const struct iso_route *r = &st->routes[i];

			rc = coop_nl_route_default_del(nl, &r->gw, r->ifindex);
			if (rc < 0)
				warn(vs, "cannot delete its default route via %s: %s",
				     addr_str(&r->gw, buf, sizeof(buf)), strerror(-rc));
		}
		for (i = st->n_addrs; i-- > 0;) {
			rc = coop_nl_addr_del(nl, st->addrs[i].ifindex, &st->addrs[i].p);
			if (rc < 0)
				warn(vs, "cannot delete address %s: %s",
				     prefix_str(&st->addrs[i].p, buf, sizeof(buf)), strerror(-rc));
		}
		/* A moved link goes down on its way out anyway. */
		if (st->set_up && !st->moved &&
		    (rc = coop_nl_link_set_up(nl, st->ifindex, false)) < 0)
			warn(vs, "cannot set %s down: %s", st->ifname, strerror(-rc));
	}
	st->n_routes = 0;
	st->n_addrs = 0;
	if (st->moved) {
		/* Back where the user left it, before the namespace can take a
		 * veth down with it; moving it also flushes our addresses. */
		rc = coop_nl_link_move(nl, st->ifindex, coop_netns_default_fd());
		if (rc < 0) {
			warn(vs, "cannot move %s back to the default namespace: %s", st->ifname,
			     strerror(-rc));
		} else if (st->was_up) {
			struct coop_nl_link link;

			rc = coop_nl_open(coop_netns_default_fd(), &def);
			if (rc == 0)
				rc = coop_nl_link_get(def, 0, st->ifname, &link);
			if (rc == 0)
				rc = coop_nl_link_set_up(def, link.ifindex, true);
			if (rc < 0)
				warn(vs, "cannot set %s up again: %s", st->ifname, strerror(-rc));
			coop_nl_close(def);
		}
		st->moved = false;
	}
put:
	coop_netns_put(st->ns);
	st->ns = NULL;
}

/* Find or move in the VS interface and bring it up. */
static int link_up(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
		   char *err, size_t errlen)
{
	const char *ifname = vs->cfg->ifname;
	struct coop_nl_link link, outside;
	struct coop_nl *def;
	int rc;

	snprintf(st->ifname, sizeof(st->ifname), "%s", ifname);
	rc = coop_nl_link_get(nl, 0, ifname, &link);
	if (rc == -ENODEV) {
		/* Not inside yet: it must be in the default namespace. */
		rc = coop_nl_open(coop_netns_default_fd(), &def);
		if (rc < 0)
			return fail(vs, NULL, rc, err, errlen, "netlink socket");
		rc = coop_nl_link_get(def, 0, ifname, &outside);
		if (rc < 0) {
			fail(vs, def, rc, err, errlen, "interface %s", ifname);
			coop_nl_close(def);
			return rc;
		}
		rc = coop_nl_link_move(def, outside.ifindex, st->ns->fd);
		if (rc < 0) {
			fail(vs, def, rc, err, errlen, "moving %s into namespace '%s'", ifname,
			     st->ns->name);
			coop_nl_close(def);
			return rc;
		}
		coop_nl_close(def);
		st->moved = true;
		st->was_up = outside.flags & IFF_UP;
		/* The kernel may renumber it inside. */
		rc = coop_nl_link_get(nl, 0, ifname, &link);
	}
	if (rc < 0)
		return fail(vs, nl, rc, err, errlen, "interface %s in namespace '%s'", ifname,
			    st->ns->name);
	st->ifindex = link.ifindex;
	if (!(link.flags & IFF_UP)) {
		rc = coop_nl_link_set_up(nl, link.ifindex, true);
		if (rc < 0)
			return fail(vs, nl, rc, err, errlen, "setting %s up", ifname);
		st->set_up = true;
	}
	return 0;
}

/* Add every configured address, recording each one added. */
static int addrs_add(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
		     char *err, size_t errlen)
{
	const struct coop_vs_cfg *cfg = vs->cfg;
	char buf[INET6_ADDRSTRLEN + 8];
	const char *on;
	size_t i;
	int rc, ifindex;

	if (!cfg->n_addrs)
		return 0;
	st->addrs = calloc(cfg->n_addrs, sizeof(*st->addrs));
	if (!st->addrs)
		return fail(vs, NULL, -ENOMEM, err, errlen, "addresses");
	for (i = 0; i < cfg->n_addrs; i++) {
		const struct coop_prefix *p = &cfg->addrs[i];

		if (p->ifname[0]) {
			struct coop_nl_link link;

			on = p->ifname;
			rc = coop_nl_link_get(nl, 0, p->ifname, &link);
			if (rc < 0)
				return fail(vs, nl, rc, err, errlen, "address %s on %s",
					    prefix_str(p, buf, sizeof(buf)), on);
			ifindex = link.ifindex;
		} else if (st->ifindex) {
			on = st->ifname;
			ifindex = st->ifindex;
		} else {
			on = "lo";
			ifindex = LOOPBACK_IFINDEX;
		}
		rc = coop_nl_addr_add(nl, ifindex, p);
		if (rc < 0)
			return fail(vs, nl, rc, err, errlen, "address %s on %s",
				    prefix_str(p, buf, sizeof(buf)), on);
		st->addrs[st->n_addrs].p = *p;
		st->addrs[st->n_addrs].ifindex = ifindex;
		st->n_addrs++;
	}
	return 0;
}

/* Add a default route via gw, recording it. */
static int route_add(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
		     const struct coop_addr *gw, char *err, size_t errlen)
{
	struct iso_route *r = &st->routes[st->n_routes];
	char buf[INET6_ADDRSTRLEN];
	int rc;

	r->gw = *gw;
	r->ifindex = gw_ifindex(st, gw);
	rc = coop_nl_route_default_add(nl, gw, r->ifindex);
	if (rc < 0)
		return fail(vs, nl, rc, err, errlen, "default route via %s",
			    addr_str(gw, buf, sizeof(buf)));
	st->n_routes++;
	return 0;
}

static int routes_add(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
		      char *err, size_t errlen)
{
	int rc = 0;

	if (vs->cfg->has_gw4)
		rc = route_add(vs, st, nl, &vs->cfg->gw4, err, errlen);
	if (rc == 0 && vs->cfg->has_gw6)
		rc = route_add(vs, st, nl, &vs->cfg->gw6, err, errlen);
	return rc;
}

static int netns_up(struct coop_vs *vs, char *err, size_t errlen)
{
	const struct coop_vs_cfg *cfg = vs->cfg;
	const char *name = cfg->netns[0] ? cfg->netns : cfg->name;
	struct coop_nl *nl = NULL;
	struct iso_netns *st;
	char nserr[256];
	int rc;

	if (vs->iso_priv)
		return fail(vs, NULL, -EALREADY, err, errlen, "isolation");
	st = calloc(1, sizeof(*st));
	if (!st)
		return fail(vs, NULL, -ENOMEM, err, errlen, "isolation");
	rc = coop_netns_get(name, true, &st->ns, nserr, sizeof(nserr));
	if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "vs '%s': %s", cfg->name, nserr);
		goto err_free;
	}
	/* One socket inside for everything below: requests on it act in the
	 * VS namespace without the thread leaving the default one. */
	rc = coop_nl_open(st->ns->fd, &nl);
	if (rc < 0) {
		fail(vs, NULL, rc, err, errlen, "netlink socket in namespace '%s'", name);
		goto err_undo;
	}
	if (cfg->ifname[0]) {
		rc = link_up(vs, st, nl, err, errlen);
		if (rc < 0)
			goto err_undo;
	}
	rc = addrs_add(vs, st, nl, err, errlen);
	if (rc < 0)
		goto err_undo;
	rc = routes_add(vs, st, nl, err, errlen);
	if (rc < 0)
		goto err_undo;
	coop_nl_close(nl);
	vs->iso_priv = st;
	return 0;

err_undo:
	undo(vs, st, nl);
	coop_nl_close(nl);
err_free:
	free(st->addrs);
	free(st);
	return rc;
}

static void netns_down(struct coop_vs *vs)
{
	struct iso_netns *st = vs->iso_priv;
	struct coop_nl *nl = NULL;
	int rc;

	if (!st)
		return;
	/* Tearing down a namespace of our own with nothing to move out needs
	 * no netlink at all: that is the common case at shutdown. */
	if (st->moved || !doomed(st)) {
		rc = coop_nl_open(st->ns->fd, &nl);
		if (rc < 0) {
			warn(vs, "netlink socket in namespace '%s': %s; its state stays",
			     st->ns->name, strerror(-rc));
			nl = NULL;
		}
	}
	undo(vs, st, nl);
	coop_nl_close(nl);
	free(st->addrs);
	free(st);
	vs->iso_priv = NULL;
}

static int netns_socket(struct coop_vs *vs, int domain, int type, int protocol)
{
	const struct iso_netns *st = vs->iso_priv;

	if (!st)
		return -ENETDOWN;
	return coop_netns_socket(st->ns->fd, domain, type, protocol);
}

const struct coop_iso_ops coop_iso_netns = {
	.name = "netns",
	.up = netns_up,
	.down = netns_down,
	.socket = netns_socket,
};
