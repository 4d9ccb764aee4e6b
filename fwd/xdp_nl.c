/* xdp_nl.c - next hops of the XDP forwarder: route, link and neighbour of every node's cluster address over netlink (libnl caches kept current on the control loop), written into the data path's node map. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "base/log.h"
#include "core/runtime.h"
#include "fwd/xdp_priv.h"

/* Re-resolve this long after a route or link change (changes come in
 * bursts), and every REFRESH seconds regardless, which also re-probes
 * neighbours that went stale: the data path's own packets never confirm
 * them to the kernel. */
#define SETTLE 0.02
#define REFRESH 10.0
#define PROBE_GAP 1.0
/* A neighbour with one of these states has a usable link-layer address. */
#define NUD_USABLE (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)

static struct coop_fwd_xdp *of_io(ev_io *w)
{
	return (struct coop_fwd_xdp *)((char *)w - offsetof(struct coop_fwd_xdp, nl_io));
}

static struct nl_addr *nl_addr_of(const struct coop_addr *a)
{
	return a->family == AF_INET ? nl_addr_build(AF_INET, &a->v4, 4) :
				      nl_addr_build(AF_INET6, &a->v6, 16);
}

static bool coop_addr_of(const struct nl_addr *na, struct coop_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (nl_addr_get_family(na) == AF_INET && nl_addr_get_len(na) == 4) {
		out->family = AF_INET;
		memcpy(&out->v4, nl_addr_get_binary_addr(na), 4);
		return true;
	}
	if (nl_addr_get_family(na) == AF_INET6 && nl_addr_get_len(na) == 16) {
		out->family = AF_INET6;
		memcpy(&out->v6, nl_addr_get_binary_addr(na), 16);
		return true;
	}
	return false;
}

uint32_t coop_fwd_xdp_link_mtu(struct coop_fwd_xdp *x, int ifindex)
{
	struct rtnl_link *l = x->links ? rtnl_link_get(x->links, ifindex) : NULL;
	uint32_t mtu = 0;

	if (l) {
		mtu = rtnl_link_get_mtu(l);
		rtnl_link_put(l);
	}
	return mtu;
}

/* Ask the kernel to resolve (or re-confirm) a neighbour: NTF_USE, what
 * `ip neigh replace ADDR dev DEV use` sends. It creates the entry when
 * missing and probes it, without sending any packet of ours. */
static void neigh_probe(struct coop_fwd_xdp *x, int ifindex, struct nl_addr *dst)
{
	struct rtnl_neigh *ne = rtnl_neigh_alloc();
	int ret;

	if (!ne)
		return;
	rtnl_neigh_set_ifindex(ne, ifindex);
	rtnl_neigh_set_dst(ne, dst);
	rtnl_neigh_set_flags(ne, NTF_USE);
	ret = rtnl_neigh_add(x->nl, ne, NLM_F_CREATE | NLM_F_REPLACE);
	if (ret < 0)
		coop_debug("forwarder: neighbour probe on ifindex %d: %s", ifindex, nl_geterror(ret));
	rtnl_neigh_put(ne);
}

/* Egress of a route's output link: the XDP interface itself (XDP_TX,
 * egress 0), a VLAN on it (XDP_TX with a tag), or another link
 * (XDP_REDIRECT). Fills n->egress, n->vlan, n->smac. */
static bool egress_of(struct coop_fwd_xdp *x, struct xdp_node *n, int oif)
{
	struct rtnl_link *l = rtnl_link_get(x->links, oif);
	struct nl_addr *mac;
	bool ok = false;

	if (!l) {
		snprintf(n->why, sizeof(n->why), "output link %d unknown", oif);
		return false;
	}
	mac = rtnl_link_get_addr(l);
	if (!mac || nl_addr_get_len(mac) != 6) {
		snprintf(n->why, sizeof(n->why), "output link %s has no Ethernet address",
			 rtnl_link_get_name(l));
		goto out_put;
	}
	memcpy(n->smac, nl_addr_get_binary_addr(mac), 6);
	n->vlan = 0;
	n->egress = oif == x->ifindex ? 0 : (uint32_t)oif;
	if (rtnl_link_is_vlan(l) && rtnl_link_get_link(l) > 0) {
		/* XDP cannot send through a VLAN device: push the tag and
		 * leave by its lower link */
		int lower = rtnl_link_get_link(l);

		n->vlan = (uint16_t)rtnl_link_vlan_get_id(l);
		n->egress = lower == x->ifindex ? 0 : (uint32_t)lower;
	}
	ok = true;
out_put:
	rtnl_link_put(l);
	return ok;
}

/* Route to n's cluster address: output link and the neighbour to ask. */
static bool route_of(struct coop_fwd_xdp *x, struct xdp_node *n, struct nl_addr *dst)
{
	struct rtnl_route *r = NULL;
	struct rtnl_nexthop *nh;
	struct nl_addr *gw;
	char a[INET6_ADDRSTRLEN];
	bool ok = false;
	int ret;

	n->oif = 0;
	ret = rtnl_route_lookup(x->nl, dst, &r);
	if (ret < 0) {
		snprintf(n->why, sizeof(n->why), "no route to %s: %s",
			 coop_addr_str(&n->addr, a, sizeof(a)), nl_geterror(ret));
		return false;
	}
	if (rtnl_route_get_type(r) != RTN_UNICAST) {
		snprintf(n->why, sizeof(n->why), "%s is not reached by a unicast route (type %u)",
			 coop_addr_str(&n->addr, a, sizeof(a)), rtnl_route_get_type(r));
		goto out_put;
	}
	nh = rtnl_route_get_nnexthops(r) > 0 ? rtnl_route_nexthop_n(r, 0) : NULL;
	if (!nh || rtnl_route_nh_get_ifindex(nh) <= 0) {
		snprintf(n->why, sizeof(n->why), "route to %s has no output link",
			 coop_addr_str(&n->addr, a, sizeof(a)));
		goto out_put;
	}
	n->oif = rtnl_route_nh_get_ifindex(nh);
	gw = rtnl_route_nh_get_gateway(nh);
	n->via = n->addr;
	if (gw && !coop_addr_of(gw, &n->via)) {
		snprintf(n->why, sizeof(n->why), "route to %s has a gateway of another family",
			 coop_addr_str(&n->addr, a, sizeof(a)));
		goto out_put;
	}
	ok = true;
out_put:
	rtnl_route_put(r);
	return ok;
}

bool coop_fwd_xdp_self_local(struct coop_fwd_xdp *x, const struct xdp_node *self)
{
	struct nl_addr *dst = nl_addr_of(&self->addr);
	struct rtnl_route *r = NULL;
	bool local;

	if (!dst)
		return true; /* cannot tell: no warning */
	local = rtnl_route_lookup(x->nl, dst, &r) < 0 || rtnl_route_get_type(r) == RTN_LOCAL;
	if (r)
		rtnl_route_put(r);
	nl_addr_put(dst);
	return local;
}

bool coop_fwd_xdp_node_resolve(struct coop_fwd_xdp *x, struct xdp_node *n)
{
	struct xdp_node old = *n;
	struct nl_addr *dst = NULL, *via = NULL, *ll;
	struct rtnl_neigh *ne = NULL;
	char a[INET6_ADDRSTRLEN], v[INET6_ADDRSTRLEN];
	int state = 0;
	int ret;

	if (n->self)
		return true; /* its flows pass up locally: no next hop */
	n->resolved = false;
	n->why[0] = '\0';
	dst = nl_addr_of(&n->addr);
	if (!dst) {
		snprintf(n->why, sizeof(n->why), "out of memory");
		goto out_write;
	}
	if (!route_of(x, n, dst) || !egress_of(x, n, n->oif))
		goto out_write;
	via = nl_addr_of(&n->via);
	if (!via) {
		snprintf(n->why, sizeof(n->why), "out of memory");
		goto out_write;
	}
	ne = rtnl_neigh_get(x->neighs, n->oif, via);
	ll = ne ? rtnl_neigh_get_lladdr(ne) : NULL;
	state = ne ? rtnl_neigh_get_state(ne) : 0;
	if (ll && nl_addr_get_len(ll) == 6 && (state & NUD_USABLE)) {
		memcpy(n->dmac, nl_addr_get_binary_addr(ll), 6);
		n->resolved = true;
	} else {
		char st[64];

		snprintf(n->why, sizeof(n->why), "neighbour %s: %s, probing",
			 coop_addr_str(&n->via, v, sizeof(v)),
			 ne ? rtnl_neigh_state2str(state, st, sizeof(st)) : "unknown");
	}
	/* unknown, failed or stale: have the kernel (re)confirm it; at most
	 * once a second, since the probe's own notifications lead back here */
	if (!n->resolved || (state & NUD_STALE)) {
		double since = ev_now(x->coop->loop) - n->probed;

		if (since >= PROBE_GAP) {
			n->probed = ev_now(x->coop->loop);
			neigh_probe(x, n->oif, via);
		} else if (!n->resolved && x->mngr && !ev_is_active(&x->retry)) {
			/* paced: come back when the probe is due, rather
			 * than wait for the next refresh */
			ev_timer_set(&x->retry, PROBE_GAP - since, 0.);
			ev_timer_start(x->coop->loop, &x->retry);
		}
	}
out_write:
	if (ne)
		rtnl_neigh_put(ne);
	nl_addr_put(via);
	nl_addr_put(dst);
	if (old.resolved == n->resolved && old.egress == n->egress && old.vlan == n->vlan &&
	    !memcmp(old.dmac, n->dmac, 6) && !memcmp(old.smac, n->smac, 6))
		return n->resolved;
	ret = coop_fwd_xdp_node_write(x, n, n->weight ? COOP_FWD_STATE_ACTIVE : COOP_FWD_STATE_DRAINING);
	if (ret < 0)
		coop_warn("forwarder: node %s: cannot update its next hop: %s", n->name, strerror(-ret));
	else if (n->resolved)
		coop_info("forwarder: node %s (%s) via %s, %02x:%02x:%02x:%02x:%02x:%02x on ifindex %d%s",
			  n->name, coop_addr_str(&n->addr, a, sizeof(a)),
			  coop_addr_str(&n->via, v, sizeof(v)), n->dmac[0], n->dmac[1], n->dmac[2],
			  n->dmac[3], n->dmac[4], n->dmac[5], n->oif,
			  n->egress ? " (redirect)" : "");
	else if (old.resolved)
		coop_warn("forwarder: node %s unreachable: %s", n->name, n->why);
	if (n->resolved && !old.resolved)
		coop_fwd_xdp_publish_retry(x);
	return n->resolved;
}

static void resolve_all(struct coop_fwd_xdp *x)
{
	size_t i;

	x->resolutions++;
	for (i = 0; i < x->n_nodes; i++)
		coop_fwd_xdp_node_resolve(x, &x->nodes[i]);
}

static void settle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct coop_fwd_xdp *x = (struct coop_fwd_xdp *)((char *)w - offsetof(struct coop_fwd_xdp, settle));

	(void)loop;
	(void)revents;
	resolve_all(x);
}

static void refresh_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct coop_fwd_xdp *x = (struct coop_fwd_xdp *)((char *)w - offsetof(struct coop_fwd_xdp, refresh));

	(void)loop;
	(void)revents;
	resolve_all(x);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct coop_fwd_xdp *x = (struct coop_fwd_xdp *)((char *)w - offsetof(struct coop_fwd_xdp, retry));

	(void)loop;
	(void)revents;
	resolve_all(x);
}

static void settle_soon(struct coop_fwd_xdp *x)
{
	if (!ev_is_active(&x->settle))
		ev_timer_start(x->coop->loop, &x->settle);
}

/* A cache changed. Neighbours: re-read only the nodes that use that one
 * (a busy segment changes neighbours all the time); links and routes:
 * everything may have moved, re-resolve all shortly. */
static void change_cb(struct nl_cache *cache, struct nl_object *obj, int action, void *arg)
{
	struct coop_fwd_xdp *x = arg;
	struct coop_addr dst;
	size_t i;

	(void)action;
	if (cache != x->neighs) {
		settle_soon(x);
		return;
	}
	if (!rtnl_neigh_get_dst((struct rtnl_neigh *)obj) ||
	    !coop_addr_of(rtnl_neigh_get_dst((struct rtnl_neigh *)obj), &dst))
		return;
	for (i = 0; i < x->n_nodes; i++) {
		struct xdp_node *n = &x->nodes[i];

		if (!n->self && n->oif == rtnl_neigh_get_ifindex((struct rtnl_neigh *)obj) &&
		    n->via.family == dst.family &&
		    !memcmp(&n->via.v6, &dst.v6, dst.family == AF_INET ? 4 : 16))
			coop_fwd_xdp_node_resolve(x, n);
	}
}

static void nl_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct coop_fwd_xdp *x = of_io(w);
	int ret;

	(void)loop;
	(void)revents;
	ret = nl_cache_mngr_data_ready(x->mngr);
	if (ret >= 0)
		return;
	/* lost notifications (socket buffer overrun): start over from dumps */
	coop_warn("forwarder: netlink notifications lost (%s): reloading neighbours and links",
		  nl_geterror(ret));
	if (nl_cache_refill(x->nl, x->neighs) < 0 || nl_cache_refill(x->nl, x->links) < 0)
		coop_warn("forwarder: cannot reload the netlink caches");
	settle_soon(x);
}

int coop_fwd_xdp_nl_start(struct coop_fwd_xdp *x, char *err, size_t errlen)
{
	int ret;

	ev_timer_init(&x->settle, settle_cb, SETTLE, 0.);
	ev_timer_init(&x->refresh, refresh_cb, REFRESH, REFRESH);
	ev_timer_init(&x->retry, retry_cb, PROBE_GAP, 0.);
	x->nl = nl_socket_alloc();
	if (!x->nl) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = nl_connect(x->nl, NETLINK_ROUTE);
	if (ret < 0)
		goto err_nl;
	/* our own socket, to give it a large receive buffer: a burst of
	 * neighbour or route changes must not overrun it */
	x->nl_mngr = nl_socket_alloc();
	if (!x->nl_mngr) {
		ret = -NLE_NOMEM;
		goto err_nl;
	}
	ret = nl_cache_mngr_alloc(x->nl_mngr, NETLINK_ROUTE, 0, &x->mngr);
	if (ret < 0)
		goto err_nl;
	nl_socket_set_buffer_size(x->nl_mngr, 1 << 20, 0);
	if ((ret = nl_cache_mngr_add(x->mngr, "route/link", change_cb, x, &x->links)) < 0 ||
	    (ret = nl_cache_mngr_add(x->mngr, "route/neigh", change_cb, x, &x->neighs)) < 0 ||
	    (ret = nl_cache_mngr_add(x->mngr, "route/route", change_cb, x, &x->routes)) < 0)
		goto err_nl;
	ev_io_init(&x->nl_io, nl_io_cb, nl_cache_mngr_get_fd(x->mngr), EV_READ);
	ev_io_start(x->coop->loop, &x->nl_io);
	ev_timer_start(x->coop->loop, &x->refresh);
	return 0;

err_nl:
	snprintf(err, errlen, "forwarder: netlink: %s", nl_geterror(ret));
	coop_fwd_xdp_nl_stop(x);
	return -EIO;
}

void coop_fwd_xdp_nl_stop(struct coop_fwd_xdp *x)
{
	if (!x->coop)
		return;
	ev_io_stop(x->coop->loop, &x->nl_io);
	ev_timer_stop(x->coop->loop, &x->settle);
	ev_timer_stop(x->coop->loop, &x->refresh);
	ev_timer_stop(x->coop->loop, &x->retry);
	if (x->mngr)
		nl_cache_mngr_free(x->mngr); /* frees its caches, closes nl_mngr */
	x->mngr = NULL;
	if (x->nl_mngr)
		nl_socket_free(x->nl_mngr);
	x->nl_mngr = NULL;
	x->neighs = x->links = x->routes = NULL;
	if (x->nl)
		nl_socket_free(x->nl);
	x->nl = NULL;
}
