/* nl.c - rtnetlink helpers over libnl-route-3: one socket per namespace, no
 * caches, the kernel's own errno and extended-ack text on failure. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/netns.h"
#include "base/nl.h"

struct coop_nl {
	struct nl_sock *sk; /* libnl socket, bound to one namespace */
	int kerr;           /* errno of the kernel's last NLMSG_ERROR, 0 if none */
	char ext[128];      /* extended-ack text of that error, "" if none */
};

/* libnl folds kernel errnos into a few NLE_ codes; this is only reached for
 * libnl's own failures (memory, bad arguments, short messages), since the
 * kernel's errno is taken from the error message itself. */
static int nle_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_SUCCESS: return 0;
	case NLE_INTR: return -EINTR;
	case NLE_BAD_SOCK: return -EBADF;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_EXIST: return -EEXIST;
	case NLE_INVAL: return -EINVAL;
	case NLE_RANGE: return -ERANGE;
	case NLE_MSGSIZE: return -EMSGSIZE;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NOATTR: return -ENODATA;
	case NLE_MISSING_ATTR: return -EINVAL;
	case NLE_AF_MISMATCH: return -EINVAL;
	case NLE_SEQ_MISMATCH: return -EPROTO;
	case NLE_MSG_OVERFLOW: return -EOVERFLOW;
	case NLE_MSG_TRUNC: return -EMSGSIZE;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_SRCRT_NOSUPPORT: return -EOPNOTSUPP;
	case NLE_MSG_TOOSHORT: return -EPROTO;
	case NLE_MSGTYPE_NOSUPPORT: return -EOPNOTSUPP;
	case NLE_OBJ_MISMATCH: return -EINVAL;
	case NLE_NOCACHE: return -ENOENT;
	case NLE_BUSY: return -EBUSY;
	case NLE_PROTO_MISMATCH: return -EPROTONOSUPPORT;
	case NLE_NOACCESS: return -EACCES;
	case NLE_PERM: return -EPERM;
	case NLE_PKTLOC_FILE: return -ENOENT;
	case NLE_PARSE_ERR: return -EINVAL;
	case NLE_NODEV: return -ENODEV;
	case NLE_IMMUTABLE: return -EPERM;
	case NLE_DUMP_INTR: return -EAGAIN;
	case NLE_ATTRSIZE: return -EINVAL;
	default: return -EIO;
	}
}

/* Copy NLMSGERR_ATTR_MSG out of an error message, if the kernel sent one. */
static void extack_read(struct coop_nl *nl, const struct nlmsgerr *e)
{
	const struct nlmsghdr *h = (const void *)((const char *)e - NLMSG_HDRLEN);
	size_t off = sizeof(*e), total = h->nlmsg_len - NLMSG_HDRLEN;
	struct nlattr *a;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	/* Uncapped errors echo the whole request before the TLVs. */
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	off = NLMSG_ALIGN(off);
	if (off >= total)
		return;
	a = nla_find((struct nlattr *)((char *)e + off), total - off, NLMSGERR_ATTR_MSG);
	if (!a || nla_len(a) <= 0)
		return;
	nla_strlcpy(nl->ext, a, sizeof(nl->ext));
}

/* Keep the kernel's errno: libnl would map EEXIST, ENODEV, ENETUNREACH...
 * onto a handful of its own codes and lose what the operator needs. */
static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct coop_nl *nl = arg;

	(void)who;
	nl->kerr = -e->error;
	extack_read(nl, e);
	return NL_STOP;
}

static void request_begin(struct coop_nl *nl)
{
	nl->kerr = 0;
	nl->ext[0] = '\0';
}

/* Result of a libnl call made after request_begin(). */
static int request_result(struct coop_nl *nl, int rc)
{
	if (rc >= 0)
		return 0;
	if (nl->kerr > 0)
		return -nl->kerr;
	return nle_errno(rc);
}

/* Send msg (freed here) and wait for the kernel's acknowledgement. */
static int request(struct coop_nl *nl, struct nl_msg *msg)
{
	int rc;

	request_begin(nl);
	rc = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (rc < 0)
		return nle_errno(rc);
	return request_result(nl, nl_wait_for_ack(nl->sk));
}

static int connect_here(void *arg)
{
	struct nl_sock *sk = arg;

	return nle_errno(nl_connect(sk, NETLINK_ROUTE));
}

int coop_nl_open(int nsfd, struct coop_nl **out)
{
	struct coop_nl *nl;
	int one = 1, rc, fd;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		rc = -ENOMEM;
		goto err_free;
	}
	if (nsfd < 0)
		rc = connect_here(nl->sk);
	else
		rc = coop_netns_run(nsfd, connect_here, nl->sk);
	if (rc < 0)
		goto err_sock;
	rc = nle_errno(nl_socket_modify_err_cb(nl->sk, NL_CB_CUSTOM, on_error, nl));
	if (rc < 0)
		goto err_sock;
	/* Ask for the kernel's reason in words, and not for a copy of each
	 * failed request; both are best effort (old kernels lack them). */
	fd = nl_socket_get_fd(nl->sk);
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	*out = nl;
	return 0;

err_sock:
	nl_socket_free(nl->sk);
err_free:
	free(nl);
	return rc;
}

void coop_nl_close(struct coop_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk); /* closes the fd too */
	free(nl);
}

const char *coop_nl_errmsg(const struct coop_nl *nl)
{
	return nl->ext;
}

int coop_nl_link_get(struct coop_nl *nl, int ifindex, const char *name,
		     struct coop_nl_link *out)
{
	struct rtnl_link *link = NULL;
	int rc;

	if ((ifindex <= 0 && !name) || (name && strlen(name) >= IF_NAMESIZE))
		return -EINVAL;
	request_begin(nl);
	/* One RTM_GETLINK for one link: no cache of every link. */
	rc = request_result(nl, rtnl_link_get_kernel(nl->sk, ifindex, name, &link));
	if (rc < 0)
		return rc == -ENOENT ? -ENODEV : rc;
	out->ifindex = rtnl_link_get_ifindex(link);
	out->flags = rtnl_link_get_flags(link);
	snprintf(out->name, sizeof(out->name), "%s",
		 rtnl_link_get_name(link) ? rtnl_link_get_name(link) : "");
	rtnl_link_put(link);
	return 0;
}

/* Send an RTM_NEWLINK change for link ifindex; chg holds the changes. */
static int link_change(struct coop_nl *nl, int ifindex, struct rtnl_link *chg)
{
	struct rtnl_link *orig;
	struct nl_msg *msg;
	int rc;

	orig = rtnl_link_alloc();
	if (!orig)
		return -ENOMEM;
	/* Only the index matters: the change carries a flag mask, so the
	 * kernel leaves the other flags as they are. */
	rtnl_link_set_ifindex(orig, ifindex);
	rc = nle_errno(rtnl_link_build_change_request(orig, chg, 0, &msg));
	rtnl_link_put(orig);
	if (rc < 0)
		return rc;
	return request(nl, msg);
}

int coop_nl_link_set_up(struct coop_nl *nl, int ifindex, bool up)
{
	struct rtnl_link *chg;
	int rc;

	chg = rtnl_link_alloc();
	if (!chg)
		return -ENOMEM;
	if (up)
		rtnl_link_set_flags(chg, IFF_UP);
	else
		rtnl_link_unset_flags(chg, IFF_UP);
	rc = link_change(nl, ifindex, chg);
	rtnl_link_put(chg);
	return rc;
}

int coop_nl_link_move(struct coop_nl *nl, int ifindex, int nsfd)
{
	struct rtnl_link *chg;
	int rc;

	chg = rtnl_link_alloc();
	if (!chg)
		return -ENOMEM;
	rtnl_link_set_ns_fd(chg, nsfd);
	rc = link_change(nl, ifindex, chg);
	rtnl_link_put(chg);
	return rc;
}

/* An nl_addr for a (possibly all-zero, zero-length) coop address. */
static struct nl_addr *addr_build(const struct coop_addr *a, bool empty)
{
	size_t len = a->family == AF_INET ? sizeof(a->v4) : sizeof(a->v6);

	if (empty)
		return nl_addr_build(a->family, NULL, 0);
	return nl_addr_build(a->family, &a->v4, len);
}

static int addr_request(struct coop_nl *nl, int ifindex, const struct coop_prefix *p,
			bool add)
{
	struct rtnl_addr *ra;
	struct nl_addr *local;
	struct nl_msg *msg;
	int rc;

	if (p->addr.family != AF_INET && p->addr.family != AF_INET6)
		return -EAFNOSUPPORT;
	if (ifindex <= 0)
		return -EINVAL;
	ra = rtnl_addr_alloc();
	if (!ra)
		return -ENOMEM;
	local = addr_build(&p->addr, false);
	if (!local) {
		rc = -ENOMEM;
		goto out_addr;
	}
	rtnl_addr_set_ifindex(ra, ifindex);
	rc = nle_errno(rtnl_addr_set_local(ra, local));
	if (rc < 0)
		goto out_local;
	rtnl_addr_set_prefixlen(ra, p->len);
	/* Without NODAD an IPv6 address stays tentative for a second or
	 * more and bind() fails with EADDRNOTAVAIL meanwhile. */
	if (add && p->addr.family == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD);
	if (add)
		rc = rtnl_addr_build_add_request(ra, NLM_F_EXCL, &msg);
	else
		rc = rtnl_addr_build_delete_request(ra, 0, &msg);
	rc = nle_errno(rc);
	if (rc == 0)
		rc = request(nl, msg);
out_local:
	nl_addr_put(local);
out_addr:
	rtnl_addr_put(ra);
	return rc;
}

int coop_nl_addr_add(struct coop_nl *nl, int ifindex, const struct coop_prefix *p)
{
	return addr_request(nl, ifindex, p, true);
}

int coop_nl_addr_del(struct coop_nl *nl, int ifindex, const struct coop_prefix *p)
{
	return addr_request(nl, ifindex, p, false);
}

static int route_request(struct coop_nl *nl, const struct coop_addr *gw, int ifindex,
			 bool add)
{
	struct rtnl_nexthop *nh;
	struct rtnl_route *rt;
	struct nl_addr *dst, *via = NULL;
	struct nl_msg *msg;
	int rc;

	if (gw->family != AF_INET && gw->family != AF_INET6)
		return -EAFNOSUPPORT;
	rt = rtnl_route_alloc();
	if (!rt)
		return -ENOMEM;
	dst = addr_build(gw, true);
	via = addr_build(gw, false);
	nh = rtnl_route_nh_alloc();
	if (!dst || !via || !nh) {
		rc = -ENOMEM;
		goto out;
	}
	rtnl_route_set_family(rt, gw->family);
	rc = nle_errno(rtnl_route_set_dst(rt, dst)); /* zero length: default */
	if (rc < 0)
		goto out;
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	/* The protocol `ip route add` uses; a delete matches on it too, so a
	 * default route some other daemon installed is never removed. */
	rtnl_route_set_protocol(rt, RTPROT_STATIC);
	rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
	rtnl_route_set_type(rt, RTN_UNICAST);
	rtnl_route_nh_set_gateway(nh, via);
	if (ifindex > 0)
		rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(rt, nh); /* the route owns nh from here */
	nh = NULL;
	if (add)
		rc = rtnl_route_build_add_request(rt, NLM_F_EXCL, &msg);
	else
		rc = rtnl_route_build_del_request(rt, 0, &msg);
	rc = nle_errno(rc);
	if (rc == 0)
		rc = request(nl, msg);
out:
	if (nh)
		rtnl_route_nh_free(nh);
	if (via)
		nl_addr_put(via);
	if (dst)
		nl_addr_put(dst);
	rtnl_route_put(rt);
	return rc;
}

int coop_nl_route_default_add(struct coop_nl *nl, const struct coop_addr *gw, int ifindex)
{
	return route_request(nl, gw, ifindex, true);
}

int coop_nl_route_default_del(struct coop_nl *nl, const struct coop_addr *gw, int ifindex)
{
	return route_request(nl, gw, ifindex, false);
}
