/* iso_netns.c - the netns isolation backend: a VS lives in its own network
 * namespace, with its interface, addresses and default routes. */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/inotify.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/netns.h"
#include "base/nl.h"
#include "base/util.h"
#include "core/module.h"
#include "core/runtime.h"
#include "vs/netns_config.h"
#include "vs/netns_rec.h"
#include "core/vs.h"

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
	struct iso_route routes[4]; /* default routes up() added (v4, v6;
				     * a record's leftovers may add two) */
	size_t n_routes;
	bool recorded;              /* its record (vs/netns_rec.h) is on disk */
};

/* down() failures have no caller to report to; log them rather than leave
 * kernel state behind silently. */
#define warn(who, fmt, ...) coop_warn("%s: " fmt, (who), __VA_ARGS__)

/* A delete that finds nothing to delete: the state is already gone (a
 * record's claim that a crash left unfulfilled, a link that took its
 * addresses with it). */
static bool gone(int rc)
{
	return rc == -ENOENT || rc == -EADDRNOTAVAIL || rc == -ESRCH || rc == -ENODEV;
}

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
 * (NULL if none could be opened: then only the namespace reference goes).
 * who names the owner in warnings ("vs 'nas1'"). Returns the number of
 * steps that failed (0: nothing of st is left in the kernel). */
static int undo(const char *who, struct iso_netns *st, struct coop_nl *nl)
{
	struct coop_nl *def = NULL;
	char buf[INET6_ADDRSTRLEN + 8];
	int rc, failed = 0;
	size_t i;

	if (!nl) {
		failed = st->moved || !doomed(st);
		goto put;
	}
	if (!doomed(st)) {
		for (i = st->n_routes; i-- > 0;) {
			const struct iso_route *r = &st->routes[i];

			rc = coop_nl_route_default_del(nl, &r->gw, r->ifindex);
			if (rc < 0 && !gone(rc)) {
				warn(who, "cannot delete its default route via %s: %s",
				     addr_str(&r->gw, buf, sizeof(buf)), strerror(-rc));
				failed++;
			}
		}
		for (i = st->n_addrs; i-- > 0;) {
			rc = coop_nl_addr_del(nl, st->addrs[i].ifindex, &st->addrs[i].p);
			if (rc < 0 && !gone(rc)) {
				warn(who, "cannot delete address %s: %s",
				     prefix_str(&st->addrs[i].p, buf, sizeof(buf)), strerror(-rc));
				failed++;
			}
		}
		/* A moved link goes down on its way out anyway. */
		if (st->set_up && !st->moved &&
		    (rc = coop_nl_link_set_up(nl, st->ifindex, false)) < 0 && !gone(rc)) {
			warn(who, "cannot set %s down: %s", st->ifname, strerror(-rc));
			failed++;
		}
	}
	st->n_routes = 0;
	st->n_addrs = 0;
	if (st->moved) {
		/* Back where the user left it, before the namespace can take a
		 * veth down with it; moving it also flushes our addresses. */
		rc = coop_nl_link_move(nl, st->ifindex, coop_netns_default_fd());
		if (rc < 0 && gone(rc)) {
			/* it left the namespace by other means: nothing to give back */
			coop_info("%s: %s is no longer in its namespace; nothing to move back", who,
				  st->ifname);
		} else if (rc < 0) {
			warn(who, "cannot move %s back to the default namespace: %s", st->ifname,
			     strerror(-rc));
			failed++;
		} else if (st->was_up) {
			struct coop_nl_link link;

			rc = coop_nl_open(coop_netns_default_fd(), &def);
			if (rc == 0)
				rc = coop_nl_link_get(def, 0, st->ifname, &link);
			if (rc == 0)
				rc = coop_nl_link_set_up(def, link.ifindex, true);
			if (rc < 0) {
				warn(who, "cannot set %s up again: %s", st->ifname, strerror(-rc));
				failed++;
			}
			coop_nl_close(def);
		}
		st->moved = false;
	}
put:
	coop_netns_put(st->ns);
	st->ns = NULL;
	return failed;
}

/* --- records: what a crashed run left (vs/netns_rec.h) ---------------------- */

/* Fill st (whose ns is set) with the claims of rec that still exist in the
 * namespace, resolving link names through nl; with only, just the items
 * only[] marks (indexes: addrs, then routes; the interface last). */
static int st_from_rec(struct iso_netns *st, const struct coop_netns_rec *rec,
		       struct coop_nl *nl, const bool *only)
{
	struct coop_nl_link link;
	size_t i, k = 0;

	if (rec->n_addrs) {
		st->addrs = calloc(rec->n_addrs, sizeof(*st->addrs));
		if (!st->addrs)
			return -ENOMEM;
	}
	for (i = 0; i < rec->n_addrs; i++) {
		const struct coop_prefix *p = &rec->addrs[i];

		if (only && !only[i])
			continue;
		if (!strcmp(p->ifname, "lo"))
			link.ifindex = LOOPBACK_IFINDEX;
		else if (coop_nl_link_get(nl, 0, p->ifname, &link) < 0)
			continue; /* the link left: its addresses went with it */
		st->addrs[st->n_addrs].p = *p;
		st->addrs[st->n_addrs].p.ifname[0] = '\0';
		st->addrs[st->n_addrs++].ifindex = link.ifindex;
	}
	for (i = 0; i < rec->n_routes; i++) {
		const struct coop_netns_rec_route *r = &rec->routes[i];

		if (only && !only[rec->n_addrs + i])
			continue;
		link.ifindex = 0;
		if (r->ifname[0] && coop_nl_link_get(nl, 0, r->ifname, &link) < 0)
			continue;
		st->routes[k].gw = r->gw;
		st->routes[k++].ifindex = link.ifindex;
	}
	st->n_routes = k;
	if (rec->ifname[0] && (!only || only[rec->n_addrs + rec->n_routes]) &&
	    coop_nl_link_get(nl, 0, rec->ifname, &link) == 0) {
		snprintf(st->ifname, sizeof(st->ifname), "%s", rec->ifname);
		st->ifindex = link.ifindex;
		st->moved = rec->moved;
		st->was_up = rec->was_up;
		st->set_up = rec->set_up;
	}
	return 0;
}

/* Undo the claims of rec (all, or those only[] marks: see st_from_rec) in
 * namespace ns. Takes a reference of its own on ns; when the record says
 * coop created ns and all of it goes (!only), ns is deleted with the last
 * reference. Returns the number of failed steps, or -errno. */
static int undo_rec(const char *who, const char *name, const struct coop_netns_rec *rec,
		    const bool *only)
{
	struct iso_netns st = { .ns = NULL };
	struct coop_nl *nl = NULL;
	char nserr[256];
	int rc;

	rc = coop_netns_get(name, false, &st.ns, nserr, sizeof(nserr));
	if (rc < 0)
		return rc;
	rc = coop_nl_open(st.ns->fd, &nl);
	if (rc == 0)
		rc = st_from_rec(&st, rec, nl, only);
	if (rc < 0) {
		warn(who, "cannot undo its record in namespace '%s': %s", name, strerror(-rc));
		coop_netns_put(st.ns);
		coop_nl_close(nl);
		free(st.addrs);
		return rc;
	}
	rc = undo(who, &st, nl);
	coop_nl_close(nl);
	free(st.addrs);
	return rc;
}

/* Whether a record's owner still runs. A record of this very process is
 * "alive" only while this process holds the namespace (else it is what an
 * earlier coop_start of the same process left). */
static bool owner_alive(const struct coop_netns_rec *rec)
{
	if (coop_netns_rec_owner_self(rec))
		return coop_netns_find(rec->ns) != NULL;
	return coop_netns_rec_owner_alive(rec);
}

/* The namespace a record describes is the one now at its name: the nsfs
 * inode matches (or was not recorded yet: the record was written just
 * before coop created it). */
static bool rec_matches(const struct coop_netns_rec *rec, const struct coop_netns *ns)
{
	struct stat sb;

	if (!rec->ns_ino)
		return true;
	return fstat(ns->fd, &sb) == 0 && (unsigned long long)sb.st_ino == rec->ns_ino;
}

/* Load the record of name for a VS coming up. 0 with *have set when there
 * is one to adopt (its owner is dead) and *exists when a file is there at
 * all; -errno with err filled when the VS must not come up: the owner runs
 * (another coopd uses the namespace) or the record cannot be read. */
static int rec_load(struct coop_vs *vs, const char *name, struct coop_netns_rec *old, bool *have,
		    bool *exists, char *err, size_t errlen)
{
	char rerr[384];
	int rc;

	*have = *exists = false;
	rc = coop_netns_rec_read(COOP_NETNS_REC_DIR, name, old, rerr, sizeof(rerr));
	if (rc == -ENOENT)
		return 0;
	*exists = true;
	if (rc < 0) {
		coop_netns_rec_free(old);
		snprintf(err, errlen,
			 "vs '%s': namespace '%s': %s; coop leaves the namespace alone until the "
			 "entry is removed (check what it names by hand, then append 'gone %s' "
			 "to the file)",
			 vs->cfg->name, name, rerr, name);
		return rc;
	}
	if (owner_alive(old)) {
		coop_netns_rec_log_path(COOP_NETNS_REC_DIR, old->pid, old->start, rerr,
					sizeof(rerr));
		snprintf(err, errlen,
			 "vs '%s': namespace '%s' is in use by another coopd (pid %ld, record %s); "
			 "not touching it",
			 vs->cfg->name, name, old->pid, rerr);
		coop_netns_rec_free(old);
		return -EBUSY;
	}
	*have = true;
	return 0;
}

/* The VS interface as up() found it before acting. */
struct link_plan {
	bool inside;              /* already in the VS namespace */
	struct coop_nl_link link; /* there, or in the default namespace */
};

/* Look the VS interface up: inside the namespace (nl; NULL when coop is
 * about to create it), else in the default namespace. */
static int link_find(struct coop_vs *vs, const char *nsname, struct coop_nl *nl,
		     struct link_plan *lp, char *err, size_t errlen)
{
	const char *ifname = vs->cfg->ifname;
	struct coop_nl *def;
	int rc = -ENODEV;

	if (nl)
		rc = coop_nl_link_get(nl, 0, ifname, &lp->link);
	lp->inside = rc == 0;
	if (rc != -ENODEV)
		return rc == 0 ? 0 :
				 fail(vs, nl, rc, err, errlen, "interface %s in namespace '%s'",
				      ifname, nsname);
	/* Not inside yet: it must be in the default namespace. */
	rc = coop_nl_open(coop_netns_default_fd(), &def);
	if (rc < 0)
		return fail(vs, NULL, rc, err, errlen, "netlink socket");
	rc = coop_nl_link_get(def, 0, ifname, &lp->link);
	if (rc < 0)
		fail(vs, def, rc, err, errlen, "interface %s", ifname);
	coop_nl_close(def);
	return rc;
}

/* Move in the VS interface (unless it is inside already) and bring it up.
 * old: the record being adopted, NULL if none. */
static int link_up(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
		   const struct link_plan *lp, const struct coop_netns_rec *old, char *err,
		   size_t errlen)
{
	const char *ifname = vs->cfg->ifname;
	bool ours = old && !strcmp(old->ifname, ifname);
	struct coop_nl_link link = lp->link;
	struct coop_nl *def;
	int rc;

	snprintf(st->ifname, sizeof(st->ifname), "%s", ifname);
	if (!lp->inside) {
		rc = coop_nl_open(coop_netns_default_fd(), &def);
		if (rc < 0)
			return fail(vs, NULL, rc, err, errlen, "netlink socket");
		rc = coop_nl_link_move(def, lp->link.ifindex, st->ns->fd);
		if (rc < 0) {
			fail(vs, def, rc, err, errlen, "moving %s into namespace '%s'", ifname,
			     st->ns->name);
			coop_nl_close(def);
			return rc;
		}
		coop_nl_close(def);
		st->moved = true;
		st->was_up = lp->link.flags & IFF_UP;
		/* The kernel may renumber it inside. */
		rc = coop_nl_link_get(nl, 0, ifname, &link);
		if (rc < 0)
			return fail(vs, nl, rc, err, errlen, "interface %s in namespace '%s'",
				    ifname, st->ns->name);
	} else if (ours && old->moved) {
		/* Moved in by a coopd that crashed: still ours to move back. */
		st->moved = true;
		st->was_up = old->was_up;
	}
	st->ifindex = link.ifindex;
	if (!(link.flags & IFF_UP)) {
		rc = coop_nl_link_set_up(nl, link.ifindex, true);
		if (rc < 0)
			return fail(vs, nl, rc, err, errlen, "setting %s up", ifname);
		st->set_up = true;
	} else if (ours && old->set_up) {
		st->set_up = true;
	}
	return 0;
}

/* The record claims address p on link. */
static bool claims_addr(const struct coop_netns_rec *r, const char *link,
			const struct coop_prefix *p)
{
	size_t i;

	for (i = 0; r && i < r->n_addrs; i++)
		if (r->addrs[i].len == p->len && coop_addr_equal(&r->addrs[i].addr, &p->addr) &&
		    !strcmp(r->addrs[i].ifname, link))
			return true;
	return false;
}

static bool claims_route(const struct coop_netns_rec *r, const struct coop_addr *gw)
{
	size_t i;

	for (i = 0; r && i < r->n_routes; i++)
		if (coop_addr_equal(&r->routes[i].gw, gw))
			return true;
	return false;
}

/* Name of the link address p of vs goes on. */
static const char *addr_link(const struct coop_vs *vs, const struct coop_prefix *p)
{
	if (p->ifname[0])
		return p->ifname;
	return vs->cfg->ifname[0] ? vs->cfg->ifname : "lo";
}

/* Add every configured address, recording each one added (or adopted: one
 * the record old says a crashed coopd added). */
static int addrs_add(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
		     const struct coop_netns_rec *old, char *err, size_t errlen)
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

		on = addr_link(vs, p);
		if (p->ifname[0]) {
			struct coop_nl_link link;

			rc = coop_nl_link_get(nl, 0, p->ifname, &link);
			if (rc < 0)
				return fail(vs, nl, rc, err, errlen, "address %s on %s",
					    prefix_str(p, buf, sizeof(buf)), on);
			ifindex = link.ifindex;
		} else {
			ifindex = st->ifindex ? st->ifindex : LOOPBACK_IFINDEX;
		}
		rc = coop_nl_addr_add(nl, ifindex, p);
		if (rc == -EEXIST && claims_addr(old, on, p))
			rc = 0;
		if (rc < 0)
			return fail(vs, nl, rc, err, errlen, "address %s on %s",
				    prefix_str(p, buf, sizeof(buf)), on);
		st->addrs[st->n_addrs].p = *p;
		st->addrs[st->n_addrs].ifindex = ifindex;
		st->n_addrs++;
	}
	return 0;
}

/* Add a default route via gw, recording it (or adopting it, as above). */
static int route_add(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
		     const struct coop_addr *gw, const struct coop_netns_rec *old, char *err,
		     size_t errlen)
{
	struct iso_route *r = &st->routes[st->n_routes];
	char buf[INET6_ADDRSTRLEN];
	int rc;

	r->gw = *gw;
	r->ifindex = gw_ifindex(st, gw);
	rc = coop_nl_route_default_add(nl, gw, r->ifindex);
	if (rc == -EEXIST && claims_route(old, gw))
		rc = 0;
	if (rc < 0)
		return fail(vs, nl, rc, err, errlen, "default route via %s",
			    addr_str(gw, buf, sizeof(buf)));
	st->n_routes++;
	return 0;
}

static int routes_add(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
		      const struct coop_netns_rec *old, char *err, size_t errlen)
{
	int rc = 0;

	if (vs->cfg->has_gw4)
		rc = route_add(vs, st, nl, &vs->cfg->gw4, old, err, errlen);
	if (rc == 0 && vs->cfg->has_gw6)
		rc = route_add(vs, st, nl, &vs->cfg->gw6, old, err, errlen);
	return rc;
}

static unsigned long long ns_ino(const struct coop_netns *ns)
{
	struct stat sb;

	return fstat(ns->fd, &sb) == 0 ? (unsigned long long)sb.st_ino : 0;
}

/* The record of what up() is about to do: written before it acts, so that
 * a crash at any point leaves a claim on everything it may have done. */
static int plan_rec(struct coop_vs *vs, const char *name, const struct iso_netns *st,
		    const struct link_plan *lp, const struct coop_netns_rec *old,
		    struct coop_netns_rec *rec)
{
	const struct coop_vs_cfg *cfg = vs->cfg;
	bool ours = old && !strcmp(old->ifname, cfg->ifname);
	struct coop_addr gw6 = cfg->gw6;
	size_t i;
	int rc;

	memset(rec, 0, sizeof(*rec));
	snprintf(rec->ns, sizeof(rec->ns), "%s", name);
	rc = coop_netns_rec_set_owner(rec);
	if (rc < 0)
		return rc;
	rec->ns_ino = st->ns ? ns_ino(st->ns) : 0;
	rec->created = st->ns ? old && old->created : true;
	if (cfg->ifname[0]) {
		snprintf(rec->ifname, sizeof(rec->ifname), "%s", cfg->ifname);
		rec->moved = !lp->inside || (ours && old->moved);
		rec->was_up = !lp->inside ? lp->link.flags & IFF_UP : ours && old->was_up;
		rec->set_up = !lp->inside || !(lp->link.flags & IFF_UP) || (ours && old->set_up);
	}
	if (cfg->n_addrs) {
		rec->addrs = calloc(cfg->n_addrs, sizeof(*rec->addrs));
		if (!rec->addrs)
			return -ENOMEM;
	}
	for (i = 0; i < cfg->n_addrs; i++) {
		rec->addrs[i] = cfg->addrs[i];
		snprintf(rec->addrs[i].ifname, IF_NAMESIZE, "%s", addr_link(vs, &cfg->addrs[i]));
	}
	rec->n_addrs = cfg->n_addrs;
	if (cfg->has_gw4)
		rec->routes[rec->n_routes++].gw = cfg->gw4;
	if (cfg->has_gw6) {
		rec->routes[rec->n_routes].gw = gw6;
		if (IN6_IS_ADDR_LINKLOCAL(&gw6.v6))
			snprintf(rec->routes[rec->n_routes].ifname, IF_NAMESIZE, "%s", cfg->ifname);
		rec->n_routes++;
	}
	return 0;
}

/* Undo what the adopted record old claims and the new plan rec does not
 * (an address dropped from the file while coopd was down, another
 * interface), before the new record replaces old. */
static void undo_leftovers(struct coop_vs *vs, const struct coop_netns_rec *old,
			   const struct coop_netns_rec *rec)
{
	size_t n = old->n_addrs + old->n_routes + 1, i;
	char who[COOP_NAME_MAX + 8];
	bool *only, any = false;

	only = calloc(n, sizeof(*only));
	if (!only)
		return;
	for (i = 0; i < old->n_addrs; i++)
		any |= only[i] = !claims_addr(rec, old->addrs[i].ifname, &old->addrs[i]);
	for (i = 0; i < old->n_routes; i++)
		any |= only[old->n_addrs + i] = !claims_route(rec, &old->routes[i].gw);
	any |= only[n - 1] = old->ifname[0] && strcmp(old->ifname, rec->ifname);
	snprintf(who, sizeof(who), "vs '%s'", vs->cfg->name);
	if (any) {
		coop_info("%s: removing what a crashed coopd added to namespace '%s' that the configuration no longer has",
			  who, old->ns);
		undo_rec(who, old->ns, old, only);
	}
	free(only);
}

static int up_locked(struct coop_vs *vs, char *err, size_t errlen)
{
	const struct coop_vs_cfg *cfg = vs->cfg;
	const char *name = cfg->netns[0] ? cfg->netns : cfg->name;
	struct coop_netns_rec old, rec = { .addrs = NULL }, *adopt = NULL;
	bool have_old, old_file, exists, shared;
	struct link_plan lp = { .inside = false };
	char nserr[256], who[COOP_NAME_MAX + 8];
	struct coop_nl *nl = NULL;
	struct iso_netns *st;
	int rc, failed;

	if (vs->iso_priv)
		return fail(vs, NULL, -EALREADY, err, errlen, "isolation");
	st = calloc(1, sizeof(*st));
	if (!st)
		return fail(vs, NULL, -ENOMEM, err, errlen, "isolation");
	snprintf(who, sizeof(who), "vs '%s'", cfg->name);
	/* Another VS of this process holds the namespace (the library allows
	 * it, coopd's configuration does not): its record is that VS's, and
	 * one record per namespace cannot describe two; this VS goes without. */
	shared = coop_netns_find(name) != NULL;
	/* What a coopd that died left here: refused if it still runs. */
	have_old = old_file = false;
	rc = shared ? 0 : rec_load(vs, name, &old, &have_old, &old_file, err, errlen);
	if (rc < 0)
		goto err_free;
	/* Attaching changes nothing: done before the record. A named
	 * namespace that is missing is created below; a path must exist. */
	rc = coop_netns_get(name, false, &st->ns, nserr, sizeof(nserr));
	exists = rc == 0;
	if (rc < 0 && (rc != -ENOENT || name[0] == '/')) {
		snprintf(err, errlen, "vs '%s': %s", cfg->name, nserr);
		goto err_free_old;
	}
	if (have_old && (!exists || !rec_matches(&old, st->ns))) {
		coop_warn("%s: namespace '%s' is not the one coopd pid %ld recorded (%s); its record is dropped",
			  who, name, old.pid, exists ? "another namespace has the name now" : "it is gone");
		coop_netns_rec_free(&old);
		have_old = false;
	}
	if (have_old) {
		adopt = &old;
		coop_info("%s: adopting namespace '%s' as left by coopd pid %ld (%s)", who, name,
			  old.pid, old.created ? "created by coop" : "attached");
		if (old.created)
			st->ns->owned = true;
	}
	if (exists) {
		rc = coop_nl_open(st->ns->fd, &nl);
		if (rc < 0) {
			fail(vs, NULL, rc, err, errlen, "netlink socket in namespace '%s'", name);
			goto err_undo;
		}
	}
	if (cfg->ifname[0]) {
		rc = link_find(vs, name, nl, &lp, err, errlen);
		if (rc < 0)
			goto err_undo;
	}
	rc = plan_rec(vs, name, st, &lp, adopt, &rec);
	if (rc < 0) {
		fail(vs, NULL, rc, err, errlen, "record of namespace '%s'", name);
		goto err_undo;
	}
	if (adopt)
		undo_leftovers(vs, adopt, &rec);
	/* excl when there was no record: a second coopd racing for the same
	 * namespace finds this one's and stops. */
	rc = shared ? 0 :
		      coop_netns_rec_write(COOP_NETNS_REC_DIR, &rec, !old_file, nserr, sizeof(nserr));
	if (rc < 0) {
		snprintf(err, errlen, "vs '%s': namespace '%s': %s%s", cfg->name, name, nserr,
			 rc == -EEXIST ? " (another coopd is taking it)" : "");
		goto err_undo;
	}
	st->recorded = !shared;
	if (!exists) {
		rc = coop_netns_get(name, true, &st->ns, nserr, sizeof(nserr));
		if (rc < 0) {
			snprintf(err, errlen, "vs '%s': %s", cfg->name, nserr);
			goto err_undo;
		}
		/* One socket inside for everything below: requests on it act
		 * in the VS namespace without the thread leaving the default
		 * one. */
		rc = coop_nl_open(st->ns->fd, &nl);
		if (rc < 0) {
			fail(vs, NULL, rc, err, errlen, "netlink socket in namespace '%s'", name);
			goto err_undo;
		}
	}
	if (cfg->ifname[0]) {
		rc = link_up(vs, st, nl, &lp, adopt, err, errlen);
		if (rc < 0)
			goto err_undo;
	}
	rc = addrs_add(vs, st, nl, adopt, err, errlen);
	if (rc < 0)
		goto err_undo;
	rc = routes_add(vs, st, nl, adopt, err, errlen);
	if (rc < 0)
		goto err_undo;
	if (!exists && st->recorded) {
		/* Now that it exists: which namespace it is, and whether it is
		 * ours after all (someone may have made it a moment ago). */
		rec.ns_ino = ns_ino(st->ns);
		rec.created = st->ns->owned;
		if (coop_netns_rec_write(COOP_NETNS_REC_DIR, &rec, false, nserr, sizeof(nserr)) < 0)
			coop_warn("%s: %s", who, nserr);
	}
	coop_nl_close(nl);
	coop_netns_rec_free(&rec);
	if (adopt)
		coop_netns_rec_free(&old);
	vs->iso_priv = st;
	return 0;

err_undo:
	failed = st->ns ? undo(who, st, nl) : 0;
	/* What the adopted record claims and this run did not get to. */
	if (adopt && st->recorded && !failed) {
		int r = undo_rec(who, name, &old, NULL);

		failed = r > 0 ? r : 0;
	}
	if (st->recorded && !failed)
		coop_netns_rec_remove(COOP_NETNS_REC_DIR, name);
	coop_nl_close(nl);
	coop_netns_rec_free(&rec);
err_free_old:
	if (have_old)
		coop_netns_rec_free(&old);
err_free:
	free(st->addrs);
	free(st);
	return rc;
}

/* The records are read and claimed under the store's lock (held already
 * inside a batch): two coopds cannot both take a namespace. */
static int netns_up(struct coop_vs *vs, char *err, size_t errlen)
{
	char lerr[384];
	int rc;

	rc = coop_netns_rec_begin(COOP_NETNS_REC_DIR, lerr, sizeof(lerr));
	if (rc < 0) {
		snprintf(err, errlen, "vs '%s': %s", vs->cfg->name, lerr);
		return rc;
	}
	rc = up_locked(vs, err, errlen);
	coop_netns_rec_end();
	return rc;
}

static void netns_down(struct coop_vs *vs)
{
	struct iso_netns *st = vs->iso_priv;
	char name[COOP_NAME_MAX], who[COOP_NAME_MAX + 8];
	struct coop_nl *nl = NULL;
	int rc;

	if (!st)
		return;
	snprintf(who, sizeof(who), "vs '%s'", vs->cfg->name);
	snprintf(name, sizeof(name), "%s", st->ns->name);
	/* Tearing down a namespace of our own with nothing to move out needs
	 * no netlink at all: that is the common case at shutdown. */
	if (st->moved || !doomed(st)) {
		rc = coop_nl_open(st->ns->fd, &nl);
		if (rc < 0) {
			warn(who, "netlink socket in namespace '%s': %s; its state stays",
			     st->ns->name, strerror(-rc));
			nl = NULL;
		}
	}
	if (undo(who, st, nl) == 0 && st->recorded) {
		rc = coop_netns_rec_remove(COOP_NETNS_REC_DIR, name);
		if (rc < 0)
			warn(who, "cannot remove its record in %s: %s; the next start finds its state gone and drops it",
			     COOP_NETNS_REC_DIR, strerror(-rc));
	} else if (st->recorded)
		warn(who, "its record in %s stays: the next start adopts what is left",
		     COOP_NETNS_REC_DIR);
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

/* --- records nobody claims (a VS dropped while coopd was down) ------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Undo one orphaned record ns: its owner is dead and no VS of this
 * configuration uses the namespace. */
static void sweep_one(const char *ns)
{
	struct coop_netns_rec rec;
	struct coop_netns *held;
	char rerr[384], who[COOP_NAME_MAX + 48];
	int rc;

	rc = coop_netns_rec_read(COOP_NETNS_REC_DIR, ns, &rec, rerr, sizeof(rerr));
	if (rc < 0) {
		if (rc != -ENOENT)
			coop_warn("%s; left alone (check namespace '%s' by hand, then append 'gone %s' to the file)",
				  rerr, ns, ns);
		if (rc == -EBADMSG)
			coop_netns_rec_free(&rec);
		return;
	}
	if (owner_alive(&rec)) {
		coop_info("namespace '%s': recorded by coopd pid %ld, which runs: left alone", ns,
			  rec.pid);
		goto out;
	}
	snprintf(who, sizeof(who), "namespace '%s' (left by coopd pid %ld)", ns, rec.pid);
	rc = coop_netns_get(ns, false, &held, rerr, sizeof(rerr));
	if (rc == -ENOENT) {
		coop_info("%s: gone already; its record is removed", who);
		coop_netns_rec_remove(COOP_NETNS_REC_DIR, ns);
		goto out;
	}
	if (rc < 0) {
		coop_warn("%s: %s; its record stays", who, rerr);
		goto out;
	}
	if (!rec_matches(&rec, held)) {
		coop_warn("%s: another namespace has the name now; its record is removed, nothing touched",
			  who);
		coop_netns_put(held);
		coop_netns_rec_remove(COOP_NETNS_REC_DIR, ns);
		goto out;
	}
	held->owned = rec.created && ns[0] != '/';
	rc = undo_rec(who, ns, &rec, NULL);
	coop_netns_put(held); /* deletes it when coop created it */
	if (rc == 0) {
		coop_info("%s: no VS uses it any more; cleaned up: %s%s%s%s%zu address(es), %zu route(s)",
			  who, rec.created ? "namespace deleted, " : "",
			  rec.moved ? "interface " : "", rec.moved ? rec.ifname : "",
			  rec.moved ? " moved back, " : "", rec.n_addrs, rec.n_routes);
		coop_netns_rec_remove(COOP_NETNS_REC_DIR, ns);
	} else {
		coop_warn("%s: not all of its state could be removed; its record stays", who);
	}
out:
	coop_netns_rec_free(&rec);
}

const struct coop_iso_ops coop_iso_netns;

/* The netns backend's state in a runtime (its module state). Control
 * thread. */
struct netns_rt {
	struct coop *c;     /* runtime */
	bool batch_open;    /* a batch holds the store's lock (coop_netns_rec_begin) */
	int watch_fd;       /* inotify on /run/netns, -1 if none */
	ev_io watch;        /* its watcher on the control loop */
};

static struct netns_rt *rt_of(const struct coop *c)
{
	return coop_module_priv(c, COOP_MOD_NETNS);
}

/* batch_begin of the netns backend: lock the store until batch_commit, so
 * that the records a start reads and claims are not claimed by another
 * coopd starting at the same time. At start (no VS is up yet), undo the
 * records of namespaces no netns VS of the configuration uses, whose owner
 * is dead; records of namespaces in use are adopted by up(). */
static int netns_batch_begin(struct coop *c, char *err, size_t errlen)
{
	bool starting = true, any = false;
	const char **names;
	char **recs, lerr[384];
	size_t i, n = 0, n_recs;
	int rc;

	struct netns_rt *rt = rt_of(c);

	if (!rt || rt->batch_open)
		return 0;
	for (i = 0; i < c->n_vs; i++) {
		starting &= c->vs[i]->state == COOP_VS_DOWN;
		any |= c->vs[i]->iso == &coop_iso_netns;
	}
	/* No netns VS and no record to sweep: the store is not needed. */
	if (!any && (!starting || access(COOP_NETNS_REC_DIR, F_OK) < 0))
		return 0;
	rc = coop_netns_rec_begin(COOP_NETNS_REC_DIR, lerr, sizeof(lerr));
	if (rc < 0) {
		snprintf(err, errlen, "netns records: %s", lerr);
		return rc;
	}
	rt->batch_open = true;
	if (!starting)
		return 0; /* a shutdown's batch */
	if (coop_netns_rec_list(COOP_NETNS_REC_DIR, &recs, &n_recs, lerr, sizeof(lerr)) < 0) {
		coop_warn("%s; orphaned records are not cleaned", lerr);
		return 0;
	}
	names = calloc(c->n_vs + 1, sizeof(*names));
	if (!names) {
		coop_netns_rec_list_free(recs, n_recs);
		return 0;
	}
	for (i = 0; i < c->n_vs; i++)
		if (c->vs[i]->iso == &coop_iso_netns)
			names[n++] = c->vs[i]->cfg->netns;
	coop_sort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n_recs; i++) {
		const char *key = recs[i];

		if (n && bsearch(&key, names, n, sizeof(*names), cmp_str))
			continue;
		sweep_one(recs[i]);
	}
	free(names);
	coop_netns_rec_list_free(recs, n_recs);
	return 0;
}

static int netns_batch_commit(struct coop *c, char *err, size_t errlen)
{
	struct netns_rt *rt = rt_of(c);

	(void)err;
	(void)errlen;
	if (rt && rt->batch_open) {
		rt->batch_open = false;
		coop_netns_rec_end();
	}
	return 0;
}

static const char *netns_namespace(const struct coop_vs *vs)
{
	return vs->cfg->netns[0] ? vs->cfg->netns : vs->cfg->name;
}

const struct coop_iso_ops coop_iso_netns = {
	.name = "netns",
	.socket = netns_socket,
	.namespace = netns_namespace,
};

/* --- namespaces deleted under coop ------------------------------------------ */

/* A VS whose namespace file goes away (`ip netns del NAME`) would go on
 * serving in a namespace nobody can see or enter any more: the operator
 * asked for the tenant to be gone, so the VS stops serving. */
/* The name still leads to the namespace the VS holds: the event was about
 * an earlier namespace of that name (one coop itself removed when a
 * reload rebuilt the VS). */
static bool still_there(const struct coop_vs *vs)
{
	const struct iso_netns *st = vs->iso_priv;
	char path[sizeof(COOP_NETNS_DIR) + COOP_NAME_MAX + 1];
	struct stat a, b;

	if (!st || !st->ns)
		return false;
	snprintf(path, sizeof(path), "%s/%s", COOP_NETNS_DIR, vs->cfg->netns);
	return stat(path, &a) == 0 && fstat(st->ns->fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

static void watch_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct netns_rt *rt = container_of(io, struct netns_rt, watch);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct coop *c = rt->c;
	ssize_t n;
	size_t i;

	(void)loop;
	(void)revents;
	while ((n = read(rt->watch_fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (!ev->len)
				continue;
			for (i = 0; i < c->n_vs; i++) {
				struct coop_vs *vs = c->vs[i];

				if (vs->iso == &coop_iso_netns && vs->state != COOP_VS_LOSING &&
				    vs->state != COOP_VS_LOST && vs->state != COOP_VS_DOWN &&
				    !strcmp(vs->cfg->netns, ev->name) && !still_there(vs))
					coop_vs_lose(vs, "its namespace was deleted outside coop");
			}
		}
	}
}

static int netns_start(struct coop *c, char *err, size_t errlen)
{
	struct netns_rt *rt = calloc(1, sizeof(*rt));

	if (!rt) {
		snprintf(err, errlen, "netns: out of memory");
		return -ENOMEM;
	}
	rt->c = c;
	rt->watch_fd = -1;
	coop_module_set_priv(c, COOP_MOD_NETNS, rt);
	return 0;
}

static int netns_run(struct coop *c, char *err, size_t errlen)
{
	struct netns_rt *rt = rt_of(c);

	(void)err;
	(void)errlen;
	rt->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (rt->watch_fd < 0)
		goto err_warn;
	if (inotify_add_watch(rt->watch_fd, COOP_NETNS_DIR, IN_DELETE | IN_MOVED_FROM) < 0) {
		close(rt->watch_fd);
		rt->watch_fd = -1;
		goto err_warn;
	}
	ev_io_init(&rt->watch, watch_cb, rt->watch_fd, EV_READ);
	ev_io_start(c->loop, &rt->watch);
	return 0;

err_warn:
	coop_warn("cannot watch %s (%m): namespaces deleted under coop go unnoticed",
		  COOP_NETNS_DIR);
	return 0;
}

static void netns_unrun(struct coop *c)
{
	struct netns_rt *rt = rt_of(c);

	if (!rt || rt->watch_fd < 0)
		return;
	ev_io_stop(c->loop, &rt->watch);
	close(rt->watch_fd);
	rt->watch_fd = -1;
}

static void netns_stop(struct coop *c)
{
	struct netns_rt *rt = rt_of(c);

	if (!rt)
		return;
	netns_batch_commit(c, NULL, 0);
	free(rt);
	coop_module_set_priv(c, COOP_MOD_NETNS, NULL);
}

/* --- a reload's change, in place ---------------------------------------------- */

static bool has_prefix(const struct coop_vs_cfg *cfg, const struct coop_prefix *p)
{
	size_t i;

	for (i = 0; i < cfg->n_addrs; i++)
		if (coop_prefix_equal(&cfg->addrs[i], p))
			return true;
	return false;
}

static bool gw_same(bool ha, const struct coop_addr *a, bool hb, const struct coop_addr *b)
{
	return ha == hb && (!ha || coop_addr_equal(a, b));
}

/* Add the gateways of cfg to a record's routes (once each). */
static void rec_routes_add(struct coop_netns_rec *rec, const struct coop_vs_cfg *cfg)
{
	const struct coop_addr *gws[2] = { cfg->has_gw4 ? &cfg->gw4 : NULL,
					   cfg->has_gw6 ? &cfg->gw6 : NULL };
	size_t g, i;

	for (g = 0; g < 2; g++) {
		if (!gws[g] || rec->n_routes == COOP_ARRAY_LEN(rec->routes))
			continue;
		for (i = 0; i < rec->n_routes && !coop_addr_equal(&rec->routes[i].gw, gws[g]); i++)
			;
		if (i < rec->n_routes)
			continue;
		memset(&rec->routes[i], 0, sizeof(rec->routes[i]));
		rec->routes[i].gw = *gws[g];
		if (gws[g]->family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&gws[g]->v6))
			snprintf(rec->routes[i].ifname, IF_NAMESIZE, "%s", cfg->ifname);
		rec->n_routes++;
	}
}

/* Rewrite the VS's record to claim the addresses and gateways of a and,
 * when b is not NULL, of b too: before a change acts it claims both, so a
 * crash half-way leaves nothing unclaimed; after it, only the new. */
static int rec_claim(struct coop_vs *vs, const struct iso_netns *st, const struct coop_vs_cfg *a,
		     const struct coop_vs_cfg *b, char *err, size_t errlen)
{
	struct coop_netns_rec rec;
	struct coop_prefix *addrs;
	char why[256];
	size_t i, n = 0;
	int rc;

	if (!st->recorded)
		return 0;
	rc = coop_netns_rec_read(COOP_NETNS_REC_DIR, st->ns->name, &rec, why, sizeof(why));
	if (rc < 0) {
		if (rc != -ENOENT)
			coop_netns_rec_free(&rec);
		snprintf(err, errlen, "vs '%s': its record: %s", vs->cfg->name,
			 rc == -ENOENT ? "missing" : why);
		return rc;
	}
	addrs = calloc(a->n_addrs + (b ? b->n_addrs : 0) + 1, sizeof(*addrs));
	if (!addrs) {
		coop_netns_rec_free(&rec);
		snprintf(err, errlen, "vs '%s': out of memory", vs->cfg->name);
		return -ENOMEM;
	}
	for (i = 0; i < a->n_addrs; i++)
		addrs[n++] = a->addrs[i];
	for (i = 0; b && i < b->n_addrs; i++)
		if (!has_prefix(a, &b->addrs[i]))
			addrs[n++] = b->addrs[i];
	for (i = 0; i < n; i++)
		snprintf(addrs[i].ifname, IF_NAMESIZE, "%s", addr_link(vs, &addrs[i]));
	free(rec.addrs);
	rec.addrs = addrs;
	rec.n_addrs = n;
	rec.n_routes = 0;
	rec_routes_add(&rec, a);
	if (b)
		rec_routes_add(&rec, b);
	rc = coop_netns_rec_set_owner(&rec);
	if (rc == 0)
		rc = coop_netns_rec_write(COOP_NETNS_REC_DIR, &rec, false, why, sizeof(why));
	if (rc < 0)
		snprintf(err, errlen, "vs '%s': its record: %s", vs->cfg->name, why);
	coop_netns_rec_free(&rec);
	return rc;
}

/* Add the addresses of new that st lacks; st->addrs becomes new's list
 * (removed ones are kept in *gone for the caller to delete). */
static int addrs_change(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl,
			const struct coop_vs_cfg *new, struct iso_addr **gone, size_t *n_gone,
			struct coop_change_note *note, char *err, size_t errlen)
{
	struct iso_addr *list = calloc(new->n_addrs + 1, sizeof(*list)), *left;
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i, j, n_left = 0;
	int rc, ifindex;

	left = calloc(st->n_addrs + 1, sizeof(*left));
	if (!list || !left) {
		free(list);
		free(left);
		return fail(vs, NULL, -ENOMEM, err, errlen, "addresses");
	}
	for (i = 0; i < new->n_addrs; i++) {
		const struct coop_prefix *p = &new->addrs[i];

		for (j = 0; j < st->n_addrs && !coop_prefix_equal(&st->addrs[j].p, p); j++)
			;
		if (j < st->n_addrs) {
			list[i] = st->addrs[j];
			continue;
		}
		if (p->ifname[0]) {
			struct coop_nl_link link;

			rc = coop_nl_link_get(nl, 0, p->ifname, &link);
			if (rc < 0)
				goto err_undo;
			ifindex = link.ifindex;
		} else {
			ifindex = st->ifindex ? st->ifindex : LOOPBACK_IFINDEX;
		}
		rc = coop_nl_addr_add(nl, ifindex, p);
		if (rc < 0)
			goto err_undo;
		list[i].p = *p;
		list[i].ifindex = ifindex;
		coop_change_note_add(note, "address %s added", prefix_str(p, buf, sizeof(buf)));
	}
	for (j = 0; j < st->n_addrs; j++)
		if (!has_prefix(new, &st->addrs[j].p))
			left[n_left++] = st->addrs[j];
	free(st->addrs);
	st->addrs = list;
	st->n_addrs = new->n_addrs;
	*gone = left;
	*n_gone = n_left;
	return 0;

err_undo:
	fail(vs, nl, rc, err, errlen, "address %s on %s", prefix_str(&new->addrs[i], buf, sizeof(buf)),
	     addr_link(vs, &new->addrs[i]));
	/* the ones this change added go again */
	while (i--) {
		for (j = 0; j < st->n_addrs && !coop_prefix_equal(&st->addrs[j].p, &new->addrs[i]); j++)
			;
		if (j == st->n_addrs)
			coop_nl_addr_del(nl, list[i].ifindex, &list[i].p);
	}
	free(list);
	free(left);
	return rc;
}

/* Replace the default route of one family: old gateway out, new in. */
static int route_change(struct coop_vs *vs, struct iso_netns *st, struct coop_nl *nl, int family,
			bool had, const struct coop_addr *was, bool has, const struct coop_addr *now,
			struct coop_change_note *note, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN];
	size_t i;
	int rc;

	if (gw_same(had, was, has, now))
		return 0;
	for (i = 0; i < st->n_routes && st->routes[i].gw.family != family; i++)
		;
	if (had && i < st->n_routes) {
		rc = coop_nl_route_default_del(nl, &st->routes[i].gw, st->routes[i].ifindex);
		if (rc < 0 && !gone(rc))
			return fail(vs, nl, rc, err, errlen, "default route via %s",
				    addr_str(was, buf, sizeof(buf)));
		st->routes[i] = st->routes[--st->n_routes];
	}
	if (has) {
		struct iso_route *r = &st->routes[st->n_routes];

		r->gw = *now;
		r->ifindex = gw_ifindex(st, now);
		rc = coop_nl_route_default_add(nl, now, r->ifindex);
		if (rc < 0) {
			fail(vs, nl, rc, err, errlen, "default route via %s",
			     addr_str(now, buf, sizeof(buf)));
			/* the old one back */
			if (had && coop_nl_route_default_add(nl, was, gw_ifindex(st, was)) == 0) {
				st->routes[st->n_routes].gw = *was;
				st->routes[st->n_routes].ifindex = gw_ifindex(st, was);
				st->n_routes++;
			}
			return rc;
		}
		st->n_routes++;
	}
	coop_change_note_add(note, "IPv%c gateway %s", family == AF_INET ? '4' : '6',
			     has ? addr_str(now, buf, sizeof(buf)) : "removed");
	return 0;
}

/* A reload: addresses and gateways change in place, recorded before and
 * after; another namespace or interface is a rebuild. */
static int netns_vs_change(struct coop_vs *vs, const struct coop_vs_cfg *old,
			   const struct coop_vs_cfg *new, struct coop_change_note *note, char *err,
			   size_t errlen)
{
	struct iso_netns *st = vs->iso_priv;
	char lerr[384], buf[INET6_ADDRSTRLEN + 8];
	struct iso_addr *gone_list = NULL;
	struct coop_nl *nl = NULL;
	size_t i, n_gone = 0;
	int rc, rc4 = -1;

	if (strcmp(old->netns, new->netns) || strcmp(old->ifname, new->ifname) || !st)
		return -EOPNOTSUPP;
	if (coop_vs_cfg_addrs_equal(old, new) && coop_vs_cfg_gws_equal(old, new))
		return 0;
	rc = coop_netns_rec_begin(COOP_NETNS_REC_DIR, lerr, sizeof(lerr));
	if (rc < 0) {
		snprintf(err, errlen, "vs '%s': %s", new->name, lerr);
		return rc;
	}
	rc = rec_claim(vs, st, old, new, err, errlen);
	if (rc < 0)
		goto out;
	rc = coop_nl_open(st->ns->fd, &nl);
	if (rc < 0) {
		fail(vs, NULL, rc, err, errlen, "netlink socket in namespace '%s'", st->ns->name);
		goto out_claim;
	}
	rc = addrs_change(vs, st, nl, new, &gone_list, &n_gone, note, err, errlen);
	if (rc < 0)
		goto out_claim;
	rc = rc4 = route_change(vs, st, nl, AF_INET, old->has_gw4, &old->gw4, new->has_gw4,
				&new->gw4, note, err, errlen);
	if (rc == 0)
		rc = route_change(vs, st, nl, AF_INET6, old->has_gw6, &old->gw6, new->has_gw6,
				  &new->gw6, note, err, errlen);
	if (rc < 0) {
		/* back as it was: the IPv4 route (when IPv6 failed), the
		 * addresses this change added; removed ones are still there */
		struct coop_change_note undo_note = { .len = 0 };
		struct iso_addr *back = calloc(old->n_addrs + 1, sizeof(*back));
		size_t j, k;

		if (rc4 == 0)
			route_change(vs, st, nl, AF_INET, new->has_gw4, &new->gw4, old->has_gw4,
				     &old->gw4, &undo_note, lerr, sizeof(lerr));
		for (j = 0; back && j < old->n_addrs; j++) {
			for (k = 0; k < st->n_addrs && !coop_prefix_equal(&st->addrs[k].p, &old->addrs[j]); k++)
				;
			if (k < st->n_addrs) {
				back[j] = st->addrs[k];
				continue;
			}
			for (k = 0; k < n_gone && !coop_prefix_equal(&gone_list[k].p, &old->addrs[j]); k++)
				;
			if (k < n_gone)
				back[j] = gone_list[k];
		}
		for (k = 0; back && k < st->n_addrs; k++)
			if (!has_prefix(old, &st->addrs[k].p))
				coop_nl_addr_del(nl, st->addrs[k].ifindex, &st->addrs[k].p);
		if (back) {
			free(st->addrs);
			st->addrs = back;
			st->n_addrs = old->n_addrs;
		}
		goto out_claim;
	}
	for (i = 0; i < n_gone; i++) {
		int r = coop_nl_addr_del(nl, gone_list[i].ifindex, &gone_list[i].p);

		if (r < 0 && !gone(r))
			coop_warn("vs '%s': cannot delete address %s: %s", new->name,
				  prefix_str(&gone_list[i].p, buf, sizeof(buf)), strerror(-r));
		coop_change_note_add(note, "address %s removed",
				     prefix_str(&gone_list[i].p, buf, sizeof(buf)));
	}
out_claim:
	/* the record says what is there now: new after success, old after
	 * a rollback */
	if (rec_claim(vs, st, rc == 0 ? new : old, NULL, lerr, sizeof(lerr)) < 0)
		coop_warn("%s (it keeps claiming the old and the new state)", lerr);
out:
	free(gone_list);
	coop_nl_close(nl);
	coop_netns_rec_end();
	return rc;
}

const struct coop_module coop_mod_netns = {
	.id = COOP_MOD_NETNS,
	.name = "netns",
	.iso = &coop_iso_netns,
	.keytabs = coop_netns_keytabs,
	.n_keytabs = 1,
	.start = netns_start,
	.stop = netns_stop,
	.run = netns_run,
	.unrun = netns_unrun,
	.batch_begin = netns_batch_begin,
	.batch_commit = netns_batch_commit,
	.vs_add = netns_up,
	.vs_change = netns_vs_change,
	.vs_remove = netns_down,
};
