/* pbr_sync.c - one pbr namespace: read what coop owns there, compute the
 * whole desired state of its VSes, and apply only the difference, in
 * batches; with no VS left, remove every trace. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "base/log.h"
#include "base/netns.h"
#include "base/nl.h"
#include "vs/pbr.h"

/* What the kernel's IPv6 routes carry as metric when none is given. */
#define IP6_METRIC 1024
/* Dumps that raced with a change are read again this often. */
#define DUMP_TRIES 3

enum kind { K_ADDR, K_ROUTE, K_RULE };

/* One kernel object, in the model (have) or in the desired state (want). */
struct obj {
	uint8_t kind;       /* enum kind */
	bool done;          /* apply: the add or delete went through */
	bool foreign;       /* add: the address was there already, not coop's */
	uint32_t pos;       /* rules: place among the rules of its preference */
	const char *owner;  /* want: VS name for messages, NULL = shared rules */
	union {
		struct coop_pbr_addr a;  /* K_ADDR */
		struct coop_pbr_route r; /* K_ROUTE */
		struct coop_pbr_rule u;  /* K_RULE */
	};
};

struct vec {
	struct obj *v; /* objects */
	size_t n, cap;
};

/* A table some foreign rule or route uses, with a witness for messages. */
struct busy {
	uint32_t table; /* the table */
	uint32_t pref;  /* priority of a foreign rule using it, 0 = a route */
};

/* What foreign state uses a link, from the first read: removing the last
 * IPv4 address of a link makes the kernel drop every route through it. */
struct link_use {
	int ifindex;      /* the link */
	unsigned addrs4;  /* IPv4 addresses coop does not own */
	unsigned routes4; /* IPv4 routes coop does not own through it */
};

/* A link a VS address sits on, resolved once per commit. */
struct link {
	char name[IF_NAMESIZE]; /* as configured */
	int ifindex;            /* inside the namespace */
	bool raised;            /* coop set it up (and sets it down at the end) */
};


struct coop_pbr_space {
	char name[COOP_NAME_MAX];       /* namespace = ("" = coopd's own) */
	struct coop_pbr_params p;       /* the runtime's pbr_* settings */
	struct coop_netns *ns;          /* reference, NULL for coopd's own */
	int nsfd;                       /* namespace fd */
	struct coop_pbr_nl *rt;         /* NETLINK_ROUTE socket inside */
	struct coop_nl *cnl;            /* core socket inside: link lookups */
	struct vec have;                /* what coop owns there now */
	struct busy *busy;              /* tables with foreign state, sorted */
	size_t n_busy;
	uint32_t *busy_tables;          /* the same tables, unique: for the allocator */
	size_t n_busy_tables;
	struct link_use *uses;          /* foreign IPv4 state per link */
	size_t n_uses;
	uint32_t *foreign_prefs;        /* priorities of foreign rules, sorted */
	size_t n_foreign_prefs;
	struct link *links;             /* links of the VS addresses */
	size_t n_links;
	struct coop_pbr_ingress ingress; /* coop's nftables table there */
	struct coop_pbr_sysctls sysctls; /* the sysctls coop set there */
	bool touched;                   /* a commit ran: the model is the truth */
	struct coop_pbr_member *members; /* VSes of this namespace */
	struct coop_pbr_commit_stats stats; /* last commit */
	uint32_t range_end;             /* last priority the tree uses (warnings) */
};

/* --- small helpers ------------------------------------------------------- */

static size_t addr_bytes(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int addr_cmp(const struct coop_addr *a, const struct coop_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (!a->family)
		return 0;
	return memcmp(&a->v4, &b->v4, addr_bytes(a->family));
}

static const char *ip_str(const struct coop_addr *a, char *buf, size_t len)
{
	if (!a->family || !inet_ntop(a->family, &a->v4, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

/* The namespace's name for messages. */
static const char *shown(const struct coop_pbr_space *sp)
{
	return sp->name[0] ? sp->name : "(coopd's own)";
}

static struct obj *vec_push(struct vec *v)
{
	struct obj *o;

	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 256;

		o = realloc(v->v, cap * sizeof(*o));
		if (!o)
			return NULL;
		v->v = o;
		v->cap = cap;
	}
	o = &v->v[v->n++];
	memset(o, 0, sizeof(*o));
	return o;
}

static void vec_free(struct vec *v)
{
	free(v->v);
	memset(v, 0, sizeof(*v));
}

/* --- comparing ----------------------------------------------------------- */

static int u32_cmp(uint32_t a, uint32_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_addr_obj(const struct coop_pbr_addr *x, const struct coop_pbr_addr *y)
{
	int c = u32_cmp((uint32_t)x->local.family, (uint32_t)y->local.family);

	if (!c)
		c = u32_cmp((uint32_t)x->ifindex, (uint32_t)y->ifindex);
	if (!c)
		c = u32_cmp(x->len, y->len);
	if (!c)
		c = addr_cmp(&x->local, &y->local);
	return c;
}

static int cmp_route(const struct coop_pbr_route *x, const struct coop_pbr_route *y)
{
	int c = u32_cmp(x->family, y->family);

	if (!c)
		c = u32_cmp(x->table, y->table);
	if (!c)
		c = u32_cmp(x->dst_len, y->dst_len);
	if (!c)
		c = addr_cmp(&x->dst, &y->dst);
	if (!c)
		c = u32_cmp(x->metric, y->metric);
	if (!c)
		c = u32_cmp(x->type, y->type);
	/* IPv6 has no route scopes: the kernel reports every route as
	 * universe, so only IPv4 compares them. */
	if (!c && x->family == AF_INET)
		c = u32_cmp(x->scope, y->scope);
	if (!c)
		c = u32_cmp((uint32_t)x->oif, (uint32_t)y->oif);
	if (!c)
		c = addr_cmp(&x->gw, &y->gw);
	if (!c)
		c = addr_cmp(&x->src, &y->src);
	if (!c)
		c = u32_cmp(x->extra, y->extra);
	return c;
}

static bool rule_eq(const struct coop_pbr_rule *x, const struct coop_pbr_rule *y)
{
	return x->action == y->action && x->invert == y->invert && x->mark == y->mark &&
	       x->mask == y->mask && x->table == y->table && x->target == y->target &&
	       !x->extra && !y->extra;
}

/* Order of a vector for the merge: kind, then identity; rules by
 * (family, preference, position) so each preference is one run. */
static int obj_order(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;
	int c = u32_cmp(x->kind, y->kind);

	if (c)
		return c;
	switch (x->kind) {
	case K_ADDR:
		return cmp_addr_obj(&x->a, &y->a);
	case K_ROUTE:
		return cmp_route(&x->r, &y->r);
	default:
		c = u32_cmp(x->u.family, y->u.family);
		if (!c)
			c = u32_cmp(x->u.pref, y->u.pref);
		if (!c)
			c = u32_cmp(x->pos, y->pos);
		return c;
	}
}

/* --- reading the kernel -------------------------------------------------- */

struct reader {
	struct coop_pbr_space *sp; /* being filled */
	int err;                   /* first failure */
	uint32_t dump_index;       /* rules: position in the kernel's list */
};

static void busy_add(struct coop_pbr_space *sp, uint32_t table, uint32_t pref, int *err)
{
	struct busy *b;

	if (table == RT_TABLE_UNSPEC || table == RT_TABLE_DEFAULT || table == RT_TABLE_MAIN ||
	    table == RT_TABLE_LOCAL)
		return;
	b = realloc(sp->busy, (sp->n_busy + 1) * sizeof(*b));
	if (!b) {
		*err = -ENOMEM;
		return;
	}
	sp->busy = b;
	sp->busy[sp->n_busy++] = (struct busy){ .table = table, .pref = pref };
}

static int on_rule(const void *msg, size_t len, void *arg)
{
	struct reader *rd = arg;
	struct coop_pbr_space *sp = rd->sp;
	struct coop_pbr_rule r;
	uint32_t proto;
	struct obj *o;

	if (coop_pbr_nl_parse_rule(msg, len, &r, &proto) < 0)
		return 0;
	rd->dump_index++;
	/* Coop's own: its protocol and a preference coop can use. The range
	 * check keeps a foreign rule that happens to share the protocol
	 * number safe from deletion. */
	if (proto == sp->p.protocol && r.pref >= sp->p.priority && r.pref <= COOP_PBR_PRIORITY_MAX) {
		o = vec_push(&sp->have);
		if (!o)
			return -ENOMEM;
		o->kind = K_RULE;
		o->u = r;
		o->pos = rd->dump_index; /* made dense per preference later */
		return 0;
	}
	if (r.action == FR_ACT_TO_TBL)
		busy_add(sp, r.table, r.pref ? r.pref : 1, &rd->err);
	if (r.pref >= sp->p.priority) {
		uint32_t *fp = realloc(sp->foreign_prefs, (sp->n_foreign_prefs + 1) * sizeof(*fp));

		if (!fp)
			return -ENOMEM;
		sp->foreign_prefs = fp;
		fp[sp->n_foreign_prefs++] = r.pref;
	}
	return rd->err;
}

static bool table_in_range(const struct coop_pbr_space *sp, uint32_t t)
{
	return t >= sp->p.table_lo && t <= sp->p.table_hi;
}

static struct link_use *link_use(struct coop_pbr_space *sp, int ifindex)
{
	struct link_use *u;
	size_t i;

	for (i = 0; i < sp->n_uses; i++)
		if (sp->uses[i].ifindex == ifindex)
			return &sp->uses[i];
	u = realloc(sp->uses, (sp->n_uses + 1) * sizeof(*u));
	if (!u)
		return NULL;
	sp->uses = u;
	u = &sp->uses[sp->n_uses++];
	*u = (struct link_use){ .ifindex = ifindex };
	return u;
}

static int on_route(const void *msg, size_t len, void *arg)
{
	struct reader *rd = arg;
	struct coop_pbr_space *sp = rd->sp;
	struct coop_pbr_route r;
	struct obj *o;

	if (coop_pbr_nl_parse_route(msg, len, &r) < 0)
		return 0;
	if (r.protocol == sp->p.protocol && table_in_range(sp, r.table)) {
		o = vec_push(&sp->have);
		if (!o)
			return -ENOMEM;
		o->kind = K_ROUTE;
		o->r = r;
		return 0;
	}
	busy_add(sp, r.table, 0, &rd->err);
	if (r.family == AF_INET && r.oif > 0 && r.table != RT_TABLE_LOCAL &&
	    r.protocol != RTPROT_KERNEL) {
		struct link_use *u = link_use(sp, r.oif);

		if (!u)
			return -ENOMEM;
		u->routes4++;
	}
	return rd->err;
}

static int on_addr(const void *msg, size_t len, void *arg)
{
	struct reader *rd = arg;
	struct coop_pbr_addr a;
	struct obj *o;

	if (coop_pbr_nl_parse_addr(msg, len, &a) < 0)
		return 0;
	if (a.protocol != rd->sp->p.protocol) {
		struct link_use *u = a.local.family == AF_INET ? link_use(rd->sp, a.ifindex) : NULL;

		if (u)
			u->addrs4++;
		return a.local.family == AF_INET && !u ? -ENOMEM : 0;
	}
	o = vec_push(&rd->sp->have);
	if (!o)
		return -ENOMEM;
	o->kind = K_ADDR;
	o->a = a;
	return 0;
}

static int busy_order(const void *a, const void *b)
{
	const struct busy *x = a, *y = b;
	int c = u32_cmp(x->table, y->table);

	/* Rules before routes: a rule is the better witness to name. */
	return c ? c : u32_cmp(x->pref ? 0 : 1, y->pref ? 0 : 1);
}

static int u32_order(const void *a, const void *b)
{
	return u32_cmp(*(const uint32_t *)a, *(const uint32_t *)b);
}

/* Rule positions: 0, 1, ... within each (family, preference) in the
 * kernel's list order, which is the dump order. */
static void number_rules(struct vec *v)
{
	size_t i;

	coop_sort(v->v, v->n, sizeof(*v->v), obj_order);
	for (i = 0; i < v->n; i++) {
		struct obj *o = &v->v[i], *prev = i ? &v->v[i - 1] : NULL;

		if (o->kind != K_RULE)
			continue;
		if (prev && prev->kind == K_RULE && prev->u.family == o->u.family &&
		    prev->u.pref == o->u.pref)
			o->pos = prev->pos + 1;
		else
			o->pos = 0;
	}
}

static void reset_read(struct coop_pbr_space *sp)
{
	vec_free(&sp->have);
	free(sp->busy);
	sp->busy = NULL;
	sp->n_busy = 0;
	free(sp->foreign_prefs);
	sp->foreign_prefs = NULL;
	sp->n_foreign_prefs = 0;
	free(sp->uses);
	sp->uses = NULL;
	sp->n_uses = 0;
}

static int read_once(struct coop_pbr_space *sp)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct reader rd = { .sp = sp };
	size_t i, n;
	int ret = 0;

	for (i = 0; i < 2 && !ret; i++) {
		struct fib_rule_hdr frh = { .family = (uint8_t)families[i] };
		struct rtmsg rtm = { .rtm_family = (uint8_t)families[i] };

		ret = coop_pbr_nl_dump(sp->rt, RTM_GETRULE, &frh, sizeof(frh), on_rule, &rd);
		if (!ret)
			ret = coop_pbr_nl_dump(sp->rt, RTM_GETROUTE, &rtm, sizeof(rtm), on_route, &rd);
	}
	if (!ret) {
		struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };

		ret = coop_pbr_nl_dump(sp->rt, RTM_GETADDR, &ifa, sizeof(ifa), on_addr, &rd);
	}
	if (ret)
		return ret;
	number_rules(&sp->have);
	coop_sort(sp->busy, sp->n_busy, sizeof(*sp->busy), busy_order);
	coop_sort(sp->foreign_prefs, sp->n_foreign_prefs, sizeof(uint32_t), u32_order);
	/* The allocator wants the bare tables, unique. */
	sp->busy_tables = malloc((sp->n_busy + 1) * sizeof(uint32_t));
	if (!sp->busy_tables)
		return -ENOMEM;
	for (i = n = 0; i < sp->n_busy; i++)
		if (!n || sp->busy_tables[n - 1] != sp->busy[i].table)
			sp->busy_tables[n++] = sp->busy[i].table;
	sp->n_busy_tables = n;
	return 0;
}

static int read_kernel(struct coop_pbr_space *sp)
{
	int tries, ret = -EINTR;

	for (tries = 0; tries < DUMP_TRIES && ret == -EINTR; tries++) {
		reset_read(sp);
		free(sp->busy_tables);
		sp->busy_tables = NULL;
		sp->n_busy_tables = 0;
		ret = read_once(sp);
	}
	return ret;
}

/* --- opening and closing -------------------------------------------------- */

int coop_pbr_space_open(const char *name, const struct coop_pbr_params *p,
			struct coop_pbr_space **out, char *err, size_t errlen)
{
	const char *shown = name[0] ? name : "(coopd's own)";
	struct coop_pbr_space *sp;
	char nserr[256];
	int ret;

	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		snprintf(err, errlen, "pbr namespace %s: out of memory", shown);
		return -ENOMEM;
	}
	snprintf(sp->name, sizeof(sp->name), "%s", name);
	sp->p = *p;
	if (name[0]) {
		/* Attach only: the links carrying the addresses live there. */
		ret = coop_netns_get(name, false, &sp->ns, nserr, sizeof(nserr));
		if (ret < 0) {
			snprintf(err, errlen, "pbr namespace '%s': %s", name, nserr);
			goto err_free;
		}
		sp->nsfd = sp->ns->fd;
	} else {
		sp->nsfd = coop_netns_default_fd();
	}
	ret = coop_pbr_nl_open(sp->nsfd, NETLINK_ROUTE, &sp->rt);
	if (ret == 0)
		ret = coop_nl_open(sp->nsfd, &sp->cnl);
	if (ret < 0) {
		snprintf(err, errlen, "pbr namespace %s: netlink socket: %s", shown, strerror(-ret));
		goto err_close;
	}
	/* nftables may be missing from a kernel: then no ingress marks (and
	 * a warning at the first commit), not a failure. */
	if (coop_pbr_nl_open(sp->nsfd, NETLINK_NETFILTER, &sp->ingress.nl) == 0)
		coop_pbr_nl_set_atomic(sp->ingress.nl, true);
	else
		sp->ingress.nl = NULL;
	ret = read_kernel(sp);
	if (ret < 0) {
		snprintf(err, errlen, "pbr namespace %s: reading rules, routes and addresses: %s",
			 shown, strerror(-ret));
		goto err_close;
	}
	*out = sp;
	return 0;

err_close:
	coop_pbr_space_close(sp);
	return ret;
err_free:
	free(sp);
	return ret;
}

void coop_pbr_space_close(struct coop_pbr_space *sp)
{
	struct coop_pbr_member *m, *next;

	if (!sp)
		return;
	for (m = sp->members; m; m = next) {
		next = m->next;
		free(m);
	}
	coop_pbr_nl_close(sp->rt);
	coop_pbr_nl_close(sp->ingress.nl);
	coop_nl_close(sp->cnl);
	if (sp->ns)
		coop_netns_put(sp->ns);
	reset_read(sp);
	free(sp->busy_tables);
	free(sp->links);
	free(sp->ingress.elems);
	free(sp);
}

const char *coop_pbr_space_name(const struct coop_pbr_space *sp)
{
	return sp->name;
}

const uint32_t *coop_pbr_space_busy(const struct coop_pbr_space *sp, size_t *n)
{
	*n = sp->n_busy_tables;
	return sp->busy_tables;
}

int coop_pbr_space_table_check(const struct coop_pbr_space *sp, uint32_t table, char *why,
			       size_t whylen)
{
	size_t i;

	for (i = 0; i < sp->n_busy; i++) {
		if (sp->busy[i].table != table)
			continue;
		if (sp->busy[i].pref)
			snprintf(why, whylen,
				 "table %u is used by a rule coop does not own (priority %u ... lookup %u)",
				 table, sp->busy[i].pref, table);
		else
			snprintf(why, whylen, "table %u holds routes coop does not own", table);
		return -EBUSY;
	}
	return 0;
}

/* --- members --------------------------------------------------------------- */

struct coop_pbr_member *coop_pbr_space_join(struct coop_pbr_space *sp,
					    const struct coop_vs_cfg *cfg, uint32_t mark,
					    uint32_t table)
{
	struct coop_pbr_member *m = calloc(1, sizeof(*m)), **tail;

	if (!m)
		return NULL;
	m->sp = sp;
	m->cfg = cfg;
	m->mark = mark;
	m->table = table;
	m->nsfd = sp->nsfd;
	m->want = true;
	/* Keep config order: it decides nothing, but logs read better. */
	for (tail = &sp->members; *tail; tail = &(*tail)->next)
		;
	*tail = m;
	return m;
}

void coop_pbr_space_leave(struct coop_pbr_member *m)
{
	m->want = false;
	m->left = true;
}

bool coop_pbr_space_dirty(const struct coop_pbr_space *sp)
{
	const struct coop_pbr_member *m;

	for (m = sp->members; m; m = m->next)
		if (m->want != m->applied || m->changed)
			return true;
	return false;
}

bool coop_pbr_space_empty(const struct coop_pbr_space *sp)
{
	return !sp->members;
}

size_t coop_pbr_space_owned(const struct coop_pbr_space *sp)
{
	return sp->have.n;
}

void coop_pbr_space_stats(const struct coop_pbr_space *sp, struct coop_pbr_commit_stats *out)
{
	*out = sp->stats;
}

/* --- the desired state ------------------------------------------------------ */

/* Everything the members want, being built. */
struct build {
	struct coop_pbr_space *sp;     /* the namespace */
	struct vec want;               /* addresses, routes, rules */
	struct coop_pbr_leaf *leaves[2]; /* per family (0: IPv4, 1: IPv6) */
	size_t n_leaves[2];
	struct coop_pbr_mark_elem *elems; /* ingress map */
	size_t n_elems;
	char *err;                     /* message buffer */
	size_t errlen;
};

static int link_index(struct build *b, const char *vs, const char *name)
{
	struct coop_pbr_space *sp = b->sp;
	struct coop_nl_link link;
	struct link *l;
	size_t i;
	int ret;

	for (i = 0; i < sp->n_links; i++)
		if (!strcmp(sp->links[i].name, name) && sp->links[i].ifindex > 0)
			return sp->links[i].ifindex;
	ret = coop_nl_link_get(sp->cnl, 0, name, &link);
	if (ret < 0) {
		snprintf(b->err, b->errlen, "vs '%s': link %s in namespace %s: %s", vs, name,
			 sp->name[0] ? sp->name : "(coopd's own)", strerror(-ret));
		return ret;
	}
	for (i = 0; i < sp->n_links; i++)
		if (!strcmp(sp->links[i].name, name))
			break;
	if (i == sp->n_links) {
		l = realloc(sp->links, (sp->n_links + 1) * sizeof(*l));
		if (!l)
			return -ENOMEM;
		sp->links = l;
		memset(&l[i], 0, sizeof(l[i]));
		snprintf(l[i].name, sizeof(l[i].name), "%s", name);
		sp->n_links++;
	}
	l = &sp->links[i];
	l->ifindex = link.ifindex;
	/* Routes through a link that is down are refused ("Nexthop device
	 * is not up"); the link is not moved, but it must carry traffic. */
	if (!(link.flags & IFF_UP)) {
		ret = coop_nl_link_set_up(sp->cnl, link.ifindex, true);
		if (ret < 0) {
			snprintf(b->err, b->errlen, "vs '%s': setting link %s up: %s", vs, name,
				 strerror(-ret));
			return ret;
		}
		l->raised = true;
	}
	return l->ifindex;
}

static const char *link_name(const struct coop_pbr_space *sp, int ifindex)
{
	size_t i;

	for (i = 0; i < sp->n_links; i++)
		if (sp->links[i].ifindex == ifindex)
			return sp->links[i].name;
	return "?";
}

/* The network part of p (host bits cleared). */
static struct coop_addr network(const struct coop_prefix *p)
{
	struct coop_addr n = p->addr;
	uint8_t *b = (uint8_t *)&n.v4;
	unsigned bits = (unsigned)addr_bytes(n.family) * 8, i;

	for (i = p->len; i < bits; i++)
		b[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return n;
}

static bool prefix_has(const struct coop_prefix *p, const struct coop_addr *a)
{
	struct coop_prefix q = { .addr = *a, .len = p->len };
	struct coop_addr x = network(p), y;

	if (p->addr.family != a->family)
		return false;
	y = network(&q);
	return !addr_cmp(&x, &y);
}

static int push_route(struct build *b, const struct coop_pbr_member *m,
		      const struct coop_pbr_route *r)
{
	struct obj *o = vec_push(&b->want);

	if (!o)
		return -ENOMEM;
	o->kind = K_ROUTE;
	o->owner = m->cfg->name;
	o->r = *r;
	return 0;
}

/* The default route of one family: via the gateway with the source of the
 * VS address that shares its subnet, or unreachable when the VS has no
 * gateway there (a lookup must never fall through to the main table). */
static int default_route(struct build *b, const struct coop_pbr_member *m, int family,
			 const int *ifindex)
{
	const struct coop_vs_cfg *cfg = m->cfg;
	const struct coop_addr *gw = family == AF_INET ? &cfg->gw4 : &cfg->gw6;
	bool has_gw = family == AF_INET ? cfg->has_gw4 : cfg->has_gw6;
	struct coop_pbr_route r = { .family = (uint8_t)family, .table = m->table,
				    .scope = RT_SCOPE_UNIVERSE,
				    .metric = family == AF_INET6 ? IP6_METRIC : 0 };
	size_t i, best = cfg->n_addrs, first = cfg->n_addrs;

	if (!has_gw) {
		r.type = RTN_UNREACHABLE;
		return push_route(b, m, &r);
	}
	for (i = 0; i < cfg->n_addrs; i++) {
		const struct coop_prefix *p = &cfg->addrs[i];

		if (p->addr.family != family)
			continue;
		if (first == cfg->n_addrs)
			first = i;
		if (prefix_has(p, gw) && (best == cfg->n_addrs || p->len > cfg->addrs[best].len))
			best = i;
	}
	r.type = RTN_UNICAST;
	r.gw = *gw;
	if (best < cfg->n_addrs) {
		r.oif = ifindex[best];
		r.src = cfg->addrs[best].addr;
	} else if (first < cfg->n_addrs) {
		/* An IPv6 link-local router: reachable on the link of the VS's
		 * first IPv6 address, which is also the source. */
		r.src = cfg->addrs[first].addr;
		if (family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&gw->v6))
			r.oif = ifindex[first];
	}
	return push_route(b, m, &r);
}

static int member_want(struct build *b, const struct coop_pbr_member *m)
{
	const struct coop_vs_cfg *cfg = m->cfg;
	bool has[2] = { false, false };
	int *ifindex, ret = 0;
	size_t i, j;

	ifindex = calloc(cfg->n_addrs + 1, sizeof(*ifindex));
	if (!ifindex)
		return -ENOMEM;
	for (i = 0; i < cfg->n_addrs && ret >= 0; i++) {
		const struct coop_prefix *p = &cfg->addrs[i];
		unsigned bits = (unsigned)addr_bytes(p->addr.family) * 8;
		bool dup = false;
		struct obj *o;

		ret = link_index(b, cfg->name, p->ifname[0] ? p->ifname : cfg->ifname);
		if (ret < 0)
			break;
		ifindex[i] = ret;
		has[p->addr.family == AF_INET6] = true;
		o = vec_push(&b->want);
		if (!o) {
			ret = -ENOMEM;
			break;
		}
		o->kind = K_ADDR;
		o->owner = cfg->name;
		o->a.ifindex = ifindex[i];
		o->a.len = p->len;
		o->a.local = p->addr;
		/* Connected route, once per subnet, with this address as the
		 * source: replies into that subnet go out directly. */
		for (j = 0; j < i; j++)
			if (cfg->addrs[j].len == p->len && prefix_has(&cfg->addrs[j], &p->addr))
				dup = true;
		if (p->len < bits && !dup) {
			struct coop_pbr_route r = {
				.family = (uint8_t)p->addr.family, .type = RTN_UNICAST,
				.scope = p->addr.family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
				.dst_len = p->len, .table = m->table,
				.metric = p->addr.family == AF_INET6 ? IP6_METRIC : 0,
				.oif = ifindex[i], .dst = network(p), .src = p->addr,
			};

			ret = push_route(b, m, &r);
		}
		if (ret >= 0) {
			struct coop_pbr_mark_elem *e = &b->elems[b->n_elems++];

			e->addr = p->addr;
			e->mark = m->mark;
		}
	}
	for (i = 0; i < 2 && ret >= 0; i++) {
		if (!has[i])
			continue;
		ret = default_route(b, m, i ? AF_INET6 : AF_INET, ifindex);
		if (ret >= 0)
			b->leaves[i][b->n_leaves[i]++] =
				(struct coop_pbr_leaf){ .mark = m->mark, .table = m->table };
	}
	free(ifindex);
	return ret < 0 ? ret : 0;
}

static int tree_want(struct build *b)
{
	struct coop_pbr_space *sp = b->sp;
	size_t f, i;
	int ret;

	for (f = 0; f < 2; f++) {
		struct coop_pbr_rule *rules;
		size_t n;

		ret = coop_pbr_tree_build(&sp->p, f ? AF_INET6 : AF_INET, b->leaves[f],
					  b->n_leaves[f], &rules, &n, b->err, b->errlen);
		if (ret < 0)
			return ret;
		for (i = 0; i < n; i++) {
			struct obj *o = vec_push(&b->want);

			if (!o) {
				free(rules);
				return -ENOMEM;
			}
			o->kind = K_RULE;
			o->u = rules[i];
			o->pos = i && rules[i - 1].pref == rules[i].pref ? o[-1].pos + 1 : 0;
			if (rules[i].pref > sp->range_end)
				sp->range_end = rules[i].pref;
		}
		free(rules);
	}
	return 0;
}

static void build_free(struct build *b)
{
	vec_free(&b->want);
	free(b->leaves[0]);
	free(b->leaves[1]);
	free(b->elems);
}

static int want_build(struct coop_pbr_space *sp, struct build *b, char *err, size_t errlen)
{
	const struct coop_pbr_member *m;
	size_t n_addrs = 0, n_members = 0;
	int ret = 0;

	memset(b, 0, sizeof(*b));
	b->sp = sp;
	b->err = err;
	b->errlen = errlen;
	for (m = sp->members; m; m = m->next) {
		if (!m->want)
			continue;
		n_members++;
		n_addrs += m->cfg->n_addrs;
	}
	if (!n_members)
		return 0; /* nothing wanted: every rule goes too */
	b->leaves[0] = calloc(n_members, sizeof(*b->leaves[0]));
	b->leaves[1] = calloc(n_members, sizeof(*b->leaves[1]));
	b->elems = calloc(n_addrs + 1, sizeof(*b->elems));
	if (!b->leaves[0] || !b->leaves[1] || !b->elems) {
		ret = -ENOMEM;
		goto err;
	}
	sp->range_end = 0;
	for (m = sp->members; m && !ret; m = m->next)
		if (m->want)
			ret = member_want(b, m);
	if (!ret)
		ret = tree_want(b);
	if (!ret)
		return 0;
err:
	if (ret == -ENOMEM)
		snprintf(err, errlen, "pbr namespace %s: out of memory",
			 sp->name[0] ? sp->name : "(coopd's own)");
	build_free(b);
	return ret;
}

/* --- applying the difference ------------------------------------------------ */

/* One request of an apply. */
struct op {
	struct obj *o; /* in have (delete) or want (add) */
	bool add;      /* add, else delete */
};

struct apply {
	struct coop_pbr_space *sp; /* the namespace */
	struct op *ops;            /* in the order sent */
	size_t n_ops;
	int err;                   /* first refusal */
	char *msg;                 /* its message */
	size_t msglen;
	size_t n_failed;           /* refusals in all */
};

static void describe(const struct coop_pbr_space *sp, const struct obj *o, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], g[INET6_ADDRSTRLEN];

	switch (o->kind) {
	case K_ADDR:
		snprintf(buf, len, "address %s/%u on %s", ip_str(&o->a.local, a, sizeof(a)),
			 o->a.len, link_name(sp, o->a.ifindex));
		break;
	case K_ROUTE:
		if (o->r.dst_len)
			snprintf(buf, len, "route %s/%u table %u", ip_str(&o->r.dst, a, sizeof(a)),
				 o->r.dst_len, o->r.table);
		else if (o->r.type == RTN_UNREACHABLE)
			snprintf(buf, len, "unreachable IPv%d default route table %u",
				 o->r.family == AF_INET ? 4 : 6, o->r.table);
		else
			snprintf(buf, len, "default route via %s table %u",
				 ip_str(&o->r.gw, g, sizeof(g)), o->r.table);
		break;
	default:
		snprintf(buf, len, "IPv%d rule priority %u", o->u.family == AF_INET ? 4 : 6,
			 o->u.pref);
		break;
	}
}

static void on_result(void *arg, uint32_t tag, int err, const char *ext)
{
	struct apply *ap = arg;
	struct op *op;
	char what[128];

	if (tag >= ap->n_ops)
		return;
	op = &ap->ops[tag];
	if (!err) {
		op->o->done = true;
		return;
	}
	if (!op->add && (err == -ENOENT || err == -ESRCH || err == -EADDRNOTAVAIL || err == -ENODEV)) {
		/* Gone already (an address took its routes with it, a deleted
		 * link took its addresses). */
		op->o->done = true;
		return;
	}
	if (op->add && op->o->kind == K_ADDR && err == -EEXIST) {
		/* Someone else's address: use it, never remove it. */
		op->o->done = true;
		op->o->foreign = true;
		describe(ap->sp, op->o, what, sizeof(what));
		coop_info("vs '%s': %s exists and is not coop's: used as it is, left in place",
			  op->o->owner ? op->o->owner : "?", what);
		return;
	}
	ap->n_failed++;
	describe(ap->sp, op->o, what, sizeof(what));
	if (!ap->err) {
		ap->err = err;
		if (op->o->owner)
			snprintf(ap->msg, ap->msglen, "vs '%s': %s %s: %s%s%s%s", op->o->owner,
				 op->add ? "adding" : "removing", what, strerror(-err),
				 *ext ? " (" : "", ext, *ext ? ")" : "");
		else
			snprintf(ap->msg, ap->msglen, "pbr namespace %s: %s %s: %s%s%s%s",
				 ap->sp->name[0] ? ap->sp->name : "(coopd's own)",
				 op->add ? "adding" : "removing", what, strerror(-err),
				 *ext ? " (" : "", ext, *ext ? ")" : "");
	} else {
		coop_warn("pbr: %s %s: %s", op->add ? "adding" : "removing", what, strerror(-err));
	}
}

static int add_op(struct apply *ap, struct obj *o, bool add)
{
	ap->ops[ap->n_ops].o = o;
	ap->ops[ap->n_ops].add = add;
	ap->n_ops++;
	return 0;
}

/* Rules of one (family, preference) run, starting at v[i]. */
static size_t run_end(const struct vec *v, size_t i)
{
	size_t j = i + 1;

	while (j < v->n && v->v[j].kind == K_RULE && v->v[j].u.family == v->v[i].u.family &&
	       v->v[j].u.pref == v->v[i].u.pref)
		j++;
	return j;
}

/* Deletes (rules first, gotos before the rest so the kernel stops
 * re-pointing gotos early; then routes; then addresses) and adds
 * (addresses, connected routes, default routes, then rules by descending
 * preference: each goto finds its target, each insert stops at once). */
static int op_order(const void *a, const void *b)
{
	const struct op *x = a, *y = b;
	int kx, ky;

	if (x->add != y->add)
		return x->add ? 1 : -1;
	if (!x->add) {
		kx = x->o->kind == K_RULE ? (x->o->u.action == FR_ACT_GOTO ? 0 : 1) :
		     x->o->kind == K_ROUTE ? 2 : 3;
		ky = y->o->kind == K_RULE ? (y->o->u.action == FR_ACT_GOTO ? 0 : 1) :
		     y->o->kind == K_ROUTE ? 2 : 3;
		if (kx != ky)
			return kx < ky ? -1 : 1;
		if (x->o->kind == K_RULE) {
			int c = u32_cmp(x->o->u.pref, y->o->u.pref);

			return c ? c : u32_cmp(x->o->pos, y->o->pos);
		}
		return x->o < y->o ? -1 : x->o > y->o;
	}
	kx = x->o->kind == K_ADDR ? 0 : x->o->kind == K_ROUTE ? (x->o->r.dst_len ? 1 : 2) : 3;
	ky = y->o->kind == K_ADDR ? 0 : y->o->kind == K_ROUTE ? (y->o->r.dst_len ? 1 : 2) : 3;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (x->o->kind == K_RULE) {
		int c = u32_cmp(y->o->u.pref, x->o->u.pref);

		if (c)
			return c;
		c = u32_cmp(x->o->u.family, y->o->u.family);
		return c ? c : u32_cmp(x->o->pos, y->o->pos);
	}
	return x->o < y->o ? -1 : x->o > y->o;
}

/* Compare have (sorted) with want (sorted) and list the requests. */
static void plan(struct apply *ap, struct vec *have, struct vec *want, size_t *kept)
{
	size_t i = 0, j = 0;

	while (i < have->n || j < want->n) {
		struct obj *h = i < have->n ? &have->v[i] : NULL;
		struct obj *w = j < want->n ? &want->v[j] : NULL;
		int c;

		if (!h) {
			add_op(ap, w, true);
			j++;
			continue;
		}
		if (!w) {
			add_op(ap, h, false);
			i++;
			continue;
		}
		if (h->kind != w->kind) {
			if (h->kind < w->kind) {
				add_op(ap, h, false);
				i++;
			} else {
				add_op(ap, w, true);
				j++;
			}
			continue;
		}
		if (h->kind == K_RULE) {
			size_t he, we, k;
			bool same;

			c = u32_cmp(h->u.family, w->u.family);
			if (!c)
				c = u32_cmp(h->u.pref, w->u.pref);
			if (c < 0) {
				for (he = run_end(have, i); i < he; i++)
					add_op(ap, &have->v[i], false);
				continue;
			}
			if (c > 0) {
				for (we = run_end(want, j); j < we; j++)
					add_op(ap, &want->v[j], true);
				continue;
			}
			/* Same preference: keep it only if every rule is the
			 * same in the same order; the kernel cannot delete one
			 * goto of a preference without ambiguity (it ignores
			 * the target), so a changed node is replaced whole. */
			he = run_end(have, i);
			we = run_end(want, j);
			same = he - i == we - j;
			for (k = 0; same && k < he - i; k++)
				same = rule_eq(&have->v[i + k].u, &want->v[j + k].u);
			if (same) {
				*kept += he - i;
				i = he;
				j = we;
				continue;
			}
			for (; i < he; i++)
				add_op(ap, &have->v[i], false);
			for (; j < we; j++)
				add_op(ap, &want->v[j], true);
			continue;
		}
		c = obj_order(h, w);
		if (!c) {
			(*kept)++;
			i++;
			j++;
		} else if (c < 0) {
			add_op(ap, h, false);
			i++;
		} else {
			add_op(ap, w, true);
			j++;
		}
	}
	coop_sort(ap->ops, ap->n_ops, sizeof(*ap->ops), op_order);
}

static int queue(struct apply *ap, const struct op *op, uint32_t tag)
{
	const struct coop_pbr_space *sp = ap->sp;
	uint32_t proto = sp->p.protocol;

	switch (op->o->kind) {
	case K_ADDR:
		return coop_pbr_nl_addr(sp->rt, &op->o->a, proto, op->add, tag, on_result, ap);
	case K_ROUTE:
		return coop_pbr_nl_route(sp->rt, &op->o->r, proto, op->add, tag, on_result, ap);
	default:
		return coop_pbr_nl_rule(sp->rt, &op->o->u, proto, op->add, tag, on_result, ap);
	}
}

/* The kernel drops every route through a link whose last IPv4 address
 * goes (fib_disable_ip), foreign ones included. coop cannot prevent that
 * when its address was the last one; it can say so. */
static void warn_last_addrs(const struct coop_pbr_space *sp, const struct apply *ap,
			    const struct vec *want)
{
	size_t i, j;

	for (i = 0; i < ap->n_ops; i++) {
		const struct obj *o = ap->ops[i].o;
		const struct link_use *u = NULL;
		bool stays = false;

		if (ap->ops[i].add || o->kind != K_ADDR || o->a.local.family != AF_INET)
			continue;
		for (j = 0; j < sp->n_uses; j++)
			if (sp->uses[j].ifindex == o->a.ifindex)
				u = &sp->uses[j];
		if (!u || u->addrs4 || !u->routes4)
			continue;
		for (j = 0; j < want->n && !stays; j++)
			stays = want->v[j].kind == K_ADDR && want->v[j].a.ifindex == o->a.ifindex &&
				want->v[j].a.local.family == AF_INET;
		if (stays)
			continue;
		coop_warn("pbr namespace %s: removing the last IPv4 address of link %s; the kernel then drops every route through it, including %u that coop does not own",
			  sp->name[0] ? sp->name : "(coopd's own)", link_name(sp, o->a.ifindex),
			  u->routes4);
		return;
	}
}

/* Apply want against the model; the model becomes what the kernel
 * acknowledged. 0 or the first refusal (message in err). */
static int apply(struct coop_pbr_space *sp, struct vec *want, char *err, size_t errlen)
{
	struct apply ap = { .sp = sp, .msg = err, .msglen = errlen };
	struct vec next = { 0 };
	size_t i, kept = 0;
	int ret = 0;

	coop_sort(want->v, want->n, sizeof(*want->v), obj_order);
	coop_sort(sp->have.v, sp->have.n, sizeof(*sp->have.v), obj_order);
	ap.ops = calloc(sp->have.n + want->n + 1, sizeof(*ap.ops));
	if (!ap.ops) {
		snprintf(err, errlen, "pbr: out of memory");
		return -ENOMEM;
	}
	plan(&ap, &sp->have, want, &kept);
	warn_last_addrs(sp, &ap, want);
	for (i = 0; i < ap.n_ops && !ret; i++)
		ret = queue(&ap, &ap.ops[i], (uint32_t)i);
	if (!ret)
		ret = coop_pbr_nl_flush(sp->rt, on_result, &ap);
	if (ret < 0 && !ap.err) {
		/* The exchange itself failed: nothing is known to be done
		 * beyond what was acknowledged. */
		snprintf(err, errlen, "pbr namespace %s: netlink: %s",
			 sp->name[0] ? sp->name : "(coopd's own)", strerror(-ret));
		ap.err = ret;
		coop_pbr_nl_flush(sp->rt, NULL, NULL);
	}
	sp->stats = (struct coop_pbr_commit_stats){ .kept = kept };
	/* The new model: what was there and not removed, plus what was
	 * added (addresses that were someone else's stay theirs). */
	for (i = 0; i < sp->have.n; i++) {
		struct obj *o = &sp->have.v[i], *n;

		if (o->done) {
			sp->stats.removed++;
			continue;
		}
		n = vec_push(&next);
		if (!n)
			goto err_nomem;
		*n = *o;
	}
	for (i = 0; i < ap.n_ops; i++) {
		struct obj *o = ap.ops[i].o, *n;

		if (!ap.ops[i].add || !o->done)
			continue;
		sp->stats.added++;
		if (o->foreign)
			continue;
		n = vec_push(&next);
		if (!n)
			goto err_nomem;
		*n = *o;
		n->done = false;
		n->owner = NULL;
	}
	for (i = 0; i < next.n; i++)
		if (next.v[i].kind == K_RULE)
			sp->stats.rules++;
	vec_free(&sp->have);
	sp->have = next;
	free(ap.ops);
	return ap.err;

err_nomem:
	/* Keep the old model: a later commit re-sends what is missing and
	 * deletes of things already gone are harmless. */
	vec_free(&next);
	for (i = 0; i < sp->have.n; i++)
		sp->have.v[i].done = false;
	free(ap.ops);
	snprintf(err, errlen, "pbr: out of memory");
	return -ENOMEM;
}

/* A link's name for a script: from the commit's cache, or asked (a space
 * only opened has resolved nothing). */
static const char *ifname_of(const struct coop_pbr_space *sp, int ifindex, char *buf, size_t len)
{
	struct coop_nl_link link;
	const char *n = link_name(sp, ifindex);

	if (strcmp(n, "?"))
		return n;
	if (coop_nl_link_get(sp->cnl, ifindex, NULL, &link) == 0)
		snprintf(buf, len, "%s", link.name);
	else
		snprintf(buf, len, "if%d", ifindex);
	return buf;
}

static void script_obj(const struct coop_pbr_space *sp, const struct obj *o, FILE *f4, FILE *f6)
{
	char ifn[IF_NAMESIZE + 8];
	char a[INET6_ADDRSTRLEN], g[INET6_ADDRSTRLEN];
	const struct coop_pbr_rule *u = &o->u;
	const struct coop_pbr_route *r = &o->r;
	unsigned proto = sp->p.protocol;

	switch (o->kind) {
	case K_ADDR:
		/* iproute2 6.1 cannot tag an address with a protocol. */
		fprintf(f4, "address add %s/%u dev %s noprefixroute%s\n",
			ip_str(&o->a.local, a, sizeof(a)), o->a.len,
			ifname_of(sp, o->a.ifindex, ifn, sizeof(ifn)),
			o->a.local.family == AF_INET6 ? " nodad" : "");
		break;
	case K_ROUTE:
		if (r->dst_len)
			snprintf(a, sizeof(a), "%s", ip_str(&r->dst, g, sizeof(g)));
		fprintf(f4, "route add %s%s/%u", r->type == RTN_UNREACHABLE ? "unreachable " : "",
			r->dst_len ? a : r->family == AF_INET ? "0.0.0.0" : "::", r->dst_len);
		if (r->gw.family)
			fprintf(f4, " via %s", ip_str(&r->gw, g, sizeof(g)));
		if (r->oif)
			fprintf(f4, " dev %s", ifname_of(sp, r->oif, ifn, sizeof(ifn)));
		fprintf(f4, " table %u proto %u", r->table, proto);
		if (r->family == AF_INET && r->scope == RT_SCOPE_LINK)
			fprintf(f4, " scope link");
		if (r->src.family)
			fprintf(f4, " src %s", ip_str(&r->src, g, sizeof(g)));
		if (r->metric)
			fprintf(f4, " metric %u", r->metric);
		fputc('\n', f4);
		break;
	default: {
		FILE *f = u->family == AF_INET ? f4 : f6;

		fprintf(f, "rule add pref %u%s", u->pref, u->invert ? " not" : "");
		if (u->mask)
			fprintf(f, " fwmark %#x/%#x", u->mark, u->mask);
		if (u->action == FR_ACT_TO_TBL)
			fprintf(f, " lookup %u", u->table);
		else if (u->action == FR_ACT_GOTO)
			fprintf(f, " goto %u", u->target);
		else if (u->action == FR_ACT_NOP)
			fprintf(f, " nop");
		else if (u->action == FR_ACT_UNREACHABLE)
			fprintf(f, " unreachable");
		fprintf(f, " proto %u\n", proto);
		break;
	}
	}
}

int coop_pbr_space_script(const struct coop_pbr_space *sp, FILE *batch4, FILE *batch6)
{
	struct op *ops;
	size_t i;

	ops = calloc(sp->have.n + 1, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (i = 0; i < sp->have.n; i++)
		ops[i] = (struct op){ .o = &sp->have.v[i], .add = true };
	coop_sort(ops, sp->have.n, sizeof(*ops), op_order);
	for (i = 0; i < sp->have.n; i++)
		script_obj(sp, ops[i].o, batch4, batch6);
	free(ops);
	return ferror(batch4) || ferror(batch6) ? -EIO : 0;
}

/* --- ingress marks, sysctls -------------------------------------------------- */

static void links_lower(struct coop_pbr_space *sp)
{
	size_t i;

	for (i = 0; i < sp->n_links; i++) {
		struct link *l = &sp->links[i];

		if (l->raised && l->ifindex > 0 && coop_nl_link_set_up(sp->cnl, l->ifindex, false) < 0)
			coop_warn("pbr: cannot set link %s down again", l->name);
		l->raised = false;
	}
}

/* --- commit -------------------------------------------------------------- */

static void warn_foreign_prefs(const struct coop_pbr_space *sp)
{
	size_t i;

	for (i = 0; i < sp->n_foreign_prefs; i++)
		if (sp->foreign_prefs[i] <= sp->range_end) {
			coop_warn("pbr namespace %s: a rule coop does not own sits at priority %u, inside coop's rules (%u-%u): every lookup of coop's VSes walks it",
				  sp->name[0] ? sp->name : "(coopd's own)", sp->foreign_prefs[i],
				  sp->p.priority, sp->range_end);
			return;
		}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One pass: build what the members want and apply it. */
static int sync_once(struct coop_pbr_space *sp, char *err, size_t errlen)
{
	struct build b;
	int ret;

	ret = want_build(sp, &b, err, errlen);
	if (ret < 0)
		return ret;
	if (b.n_elems || b.want.n)
		coop_pbr_sysctls_apply(&sp->sysctls, sp->nsfd, shown(sp), true);
	ret = apply(sp, &b.want, err, errlen);
	if (!ret)
		coop_pbr_ingress_sync(&sp->ingress, shown(sp), b.elems, b.n_elems);
	build_free(&b);
	return ret;
}

static void members_settle(struct coop_pbr_space *sp)
{
	struct coop_pbr_member **pm = &sp->members, *m;

	while ((m = *pm)) {
		m->applied = m->want;
		m->changed = false;
		if (m->left) {
			*pm = m->next;
			free(m);
			continue;
		}
		pm = &m->next;
	}
}

void coop_pbr_space_prune(struct coop_pbr_space *sp)
{
	if (!coop_pbr_space_dirty(sp))
		members_settle(sp);
}

int coop_pbr_space_commit(struct coop_pbr_space *sp, char *err, size_t errlen)
{
	double t0 = now_ms();
	struct coop_pbr_member *m;
	size_t n = 0;
	int ret;

	ret = sync_once(sp, err, errlen);
	sp->touched = true;
	if (ret < 0) {
		char again[256];

		/* Take the joining members out again, with whatever of their
		 * state got in; members that were up stay up. */
		for (m = sp->members; m; m = m->next)
			if (m->want && !m->applied)
				m->want = false;
		if (sync_once(sp, again, sizeof(again)) < 0)
			coop_warn("pbr: undoing a failed change: %s", again);
	}
	for (m = sp->members; m; m = m->next)
		n += m->want;
	if (!n) {
		/* Nothing left here: no ingress table, no sysctls, links as
		 * they were. */
		coop_pbr_ingress_sync(&sp->ingress, shown(sp), NULL, 0);
		coop_pbr_sysctls_apply(&sp->sysctls, sp->nsfd, shown(sp), false);
		links_lower(sp);
	} else {
		warn_foreign_prefs(sp);
	}
	members_settle(sp);
	coop_info("pbr namespace %s: %zu VSes; %zu kernel objects kept, %zu added, %zu removed; %zu rules; %.1f ms",
		  sp->name[0] ? sp->name : "(coopd's own)", n, sp->stats.kept, sp->stats.added,
		  sp->stats.removed, sp->stats.rules, now_ms() - t0);
	return ret;
}
