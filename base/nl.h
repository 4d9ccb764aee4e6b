/* nl.h - small rtnetlink helpers over libnl-route-3: links, addresses and
 * default routes, one request and its acknowledgement at a time.
 *
 * A struct coop_nl is a NETLINK_ROUTE socket bound to one network namespace
 * for its whole life (the namespace is fixed when the socket is created), so
 * every request on it acts in that namespace whatever the calling thread's
 * namespace is. It is used by one thread at a time (normally the control
 * thread). Every function returns 0 (or a non-negative value where said) or
 * a negative errno: the kernel's own errno when the kernel refused, libnl's
 * codes translated otherwise. libnl types never cross this header. */
#ifndef COOP_BASE_NL_H
#define COOP_BASE_NL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/addr.h"

/* An rtnetlink socket in one namespace. Opaque. */
struct coop_nl;

/* What coop needs to know about a link. */
struct coop_nl_link {
	int ifindex;             /* index inside the socket's namespace */
	unsigned flags;          /* IFF_* (IFF_UP, ...) */
	char name[IF_NAMESIZE];  /* current name */
};

/* Open an rtnetlink socket inside namespace nsfd (nsfd < 0: the calling
 * thread's current namespace; no setns when the thread is already in nsfd).
 * On success *out is the new socket; close it with coop_nl_close. */
int coop_nl_open(int nsfd, struct coop_nl **out);
void coop_nl_close(struct coop_nl *nl);

/* The kernel's extended-ack text for the last failed request ("" if it gave
 * none), e.g. "Nexthop has invalid gateway". Valid until the next request. */
const char *coop_nl_errmsg(const struct coop_nl *nl);

/* Look a link up by name (ifindex 0) or by index (name NULL) without
 * filling any cache. -ENODEV when there is no such link. */
int coop_nl_link_get(struct coop_nl *nl, int ifindex, const char *name,
		     struct coop_nl_link *out);

/* Set (up) or clear (!up) IFF_UP on link ifindex. */
int coop_nl_link_set_up(struct coop_nl *nl, int ifindex, bool up);

/* Move link ifindex out of nl's namespace into namespace nsfd. The link
 * keeps its name; its index may change in the new namespace (the kernel
 * renumbers on collision), so look it up again there by name. */
int coop_nl_link_move(struct coop_nl *nl, int ifindex, int nsfd);

/* Add (failing with -EEXIST if present) or delete an address on link
 * ifindex. IPv6 addresses are added with IFA_F_NODAD so that they can be
 * bound at once. p->ifname is ignored: the caller resolved it to ifindex. */
int coop_nl_addr_add(struct coop_nl *nl, int ifindex, const struct coop_prefix *p);
int coop_nl_addr_del(struct coop_nl *nl, int ifindex, const struct coop_prefix *p);

/* Add (failing with -EEXIST if one is present) or delete the default route
 * of gw's family in the main table via gateway gw. ifindex > 0 pins the
 * output link (needed for an IPv6 link-local gateway), 0 lets the kernel
 * find it from the connected routes. */
int coop_nl_route_default_add(struct coop_nl *nl, const struct coop_addr *gw, int ifindex);
int coop_nl_route_default_del(struct coop_nl *nl, const struct coop_addr *gw, int ifindex);

#endif
