/* pbr_config.c - the pbr backend's configuration keys ([global] pbr_*,
 * [vs NAME] mark and table) and its checks: a pbr VS's own section, and
 * across pbr VSes (marks, tables and addresses apart in a namespace,
 * explicit values inside the [global] ranges, links where the VSes live). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfgval.h"
#include "base/util.h"
#include "vs/pbr.h"

/* --- [global] ----------------------------------------------------------------------- */

/* "LOW-HIGH" (decimal or 0x hex each), 1 <= LOW <= HIGH. */
static int u32_range_parse(const char *val, uint32_t *lo, uint32_t *hi)
{
	const char *dash = strchr(val, '-');
	char low[16];

	if (!dash || dash == val || (size_t)(dash - val) >= sizeof(low))
		return -EINVAL;
	snprintf(low, sizeof(low), "%.*s", (int)(dash - val), val);
	if (coop_cfg_u32(low, true, lo) < 0 || coop_cfg_u32(dash + 1, true, hi) < 0 || !*lo ||
	    *lo > *hi)
		return -EINVAL;
	return 0;
}

static int parse_marks(void *obj, const char *val, char *why, size_t whylen)
{
	struct coop_global_cfg *g = obj;

	if (u32_range_parse(val, &g->pbr_mark_lo, &g->pbr_mark_hi) < 0)
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s' is not a mark range LOW-HIGH with 1 <= LOW <= HIGH (0 is unmarked traffic)",
				    val);
	return 0;
}

static int parse_tables(void *obj, const char *val, char *why, size_t whylen)
{
	struct coop_global_cfg *g = obj;
	uint32_t lo, hi;

	if (u32_range_parse(val, &lo, &hi) < 0)
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s' is not a table range LOW-HIGH with 1 <= LOW <= HIGH", val);
	if (lo >= RT_TABLE_DEFAULT && hi <= RT_TABLE_LOCAL)
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s' holds only the kernel's tables (253 default, 254 main, 255 local)",
				    val);
	g->pbr_table_lo = lo;
	g->pbr_table_hi = hi;
	return 0;
}

static const struct coop_cfg_key global_keys[] = {
	{ { "global", "pbr_marks", "LOW-HIGH (decimal or 0x hex), 1 <= LOW", "0x10000-0x1ffff",
	    "Marks of pbr VSes: a VS without mark = gets one from here, derived from its "
	    "name (stable across restarts); an explicit mark must lie here too. An aligned "
	    "block costs unmarked traffic a single rule." },
	  .parse = parse_marks },
	{ { "global", "pbr_tables", "LOW-HIGH, 1 <= LOW", "65536-131071",
	    "Routing tables of pbr VSes, assigned like the marks; tables used by rules or "
	    "routes coop does not own are skipped (and refused when given explicitly)." },
	  .parse = parse_tables },
	/* 0..4 are the kernel's own; `ip route add` writes 3 or 4. */
	{ { "global", "pbr_protocol", "5..255", "246",
	    "Protocol number tagging every rule, route and address coop creates for pbr "
	    "VSes: how coop finds its own state after a crash. Rules and routes with "
	    "another protocol are never touched." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_global_cfg, pbr_protocol),
	  .what = "a usable protocol number", .hint = "0..4 are the kernel's", .min = 5,
	  .max = 255 },
	{ { "global", "pbr_priority", "1..32763", "20000",
	    "First rule priority of coop's pbr rule tree; it grows upwards by about one "
	    "priority per three VSes and must end below the main table's rule (32766)." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_global_cfg, pbr_priority),
	  .what = "a rule priority coop can start at",
	  .hint = "the tree must end below the main table's rule 32766", .min = 1,
	  .max = COOP_PBR_PRIORITY_MAX - 2 },
};

static void global_init(void *obj)
{
	struct coop_global_cfg *g = obj;

	g->pbr_mark_lo = COOP_PBR_MARK_LO;
	g->pbr_mark_hi = COOP_PBR_MARK_HI;
	g->pbr_table_lo = COOP_PBR_TABLE_LO;
	g->pbr_table_hi = COOP_PBR_TABLE_HI;
	g->pbr_protocol = COOP_PBR_PROTOCOL;
	g->pbr_priority = COOP_PBR_PRIORITY;
}

/* --- [vs NAME] ---------------------------------------------------------------------- */

/* 0 is what unmarked traffic carries: a VS marked 0 is not separated from
 * anything. Leaving the key out means "let coop choose". */
static const uint32_t mark_reserved[] = { 0 };
static const uint32_t table_reserved[] = { RT_TABLE_UNSPEC, RT_TABLE_DEFAULT, RT_TABLE_MAIN,
					   RT_TABLE_LOCAL };

static const struct coop_cfg_key vs_keys[] = {
	{ { "vs", "mark", "1..0xffffffff (decimal or 0x hex); pbr only", "assigned by coop",
	    "SO_MARK carried by every socket of the VS, selecting its policy routing rule." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_vs_cfg, mark), .what = "a mark",
	  .min = 1, .max = UINT32_MAX, .base = 16, .reserved = mark_reserved,
	  .n_reserved = COOP_ARRAY_LEN(mark_reserved),
	  .reserved_why = "is the mark of unmarked traffic; use 1..0xffffffff or omit mark" },
	{ { "vs", "table", "1..0xffffffff except 253, 254, 255; pbr only", "assigned by coop",
	    "Policy routing table holding the VS's connected routes and gateway." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_vs_cfg, table),
	  .what = "a routing table", .min = 1, .max = UINT32_MAX, .base = 16,
	  .reserved = table_reserved, .n_reserved = COOP_ARRAY_LEN(table_reserved),
	  .reserved_why = "is reserved by the kernel (0 unspec, 253 default, 254 main, 255 local); "
			  "use another or omit table" },
};

/* A pbr VS is selected by its addresses, each on a link of the shared
 * namespace. */
static int check_vs(const void *obj, bool links, const char **key, char *why, size_t whylen)
{
	const struct coop_vs_cfg *vs = obj;
	char a[INET6_ADDRSTRLEN];
	size_t i;

	(void)links;
	*key = "addresses";
	if (!vs->n_addrs)
		return coop_cfg_why(why, whylen, -EINVAL,
				    "missing: a pbr VS is selected by its addresses, give at least one");
	for (i = 0; i < vs->n_addrs; i++) {
		const struct coop_prefix *p = &vs->addrs[i];

		if (!p->ifname[0] && !vs->ifname[0])
			return coop_cfg_why(why, whylen, -EINVAL,
					    "'%s/%u' has no link: set interface = or write ADDR/LEN@IFNAME",
					    coop_addr_str(&p->addr, a, sizeof(a)), p->len);
	}
	*key = NULL;
	return 0;
}

/* --- across pbr VSes -------------------------------------------------------------- */

/* pbr VSes sharing a namespace need their own marks and tables. */
static int check_ids(const struct coop_config *cfg, bool tables, struct coop_cfg_err *e)
{
	struct coop_cfg_dup *items;
	size_t i, n = 0, a, b;
	int ret = 0;

	items = calloc(cfg->n_vs + 1, sizeof(*items));
	if (!items)
		return coop_cfg_err_set(e, -ENOMEM, NULL, NULL, "out of memory");
	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *vs = &cfg->vs[i];
		uint32_t v = tables ? vs->table : vs->mark;

		if (vs->isolation == COOP_ISO_PBR && v)
			items[n++] = (struct coop_cfg_dup){ .s = vs->netns, .v = v, .idx = i };
	}
	if (coop_cfg_dup_find(items, n, &a, &b))
		ret = coop_cfg_err_vs(e, &cfg->vs[b], tables ? "table" : "mark",
				      tables ? "table %u is also the table of pbr VS '%s' in the same namespace" :
					       "mark %#x is also the mark of pbr VS '%s' in the same namespace",
				      tables ? cfg->vs[b].table : cfg->vs[b].mark, cfg->vs[a].name);
	free(items);
	return ret;
}

/* Explicit marks and tables lie in the [global] ranges (which may come
 * after the VS sections, hence a check once everything is read). */
static int check_ranges(const struct coop_config *cfg, struct coop_cfg_err *e)
{
	const struct coop_global_cfg *g = &cfg->global;
	size_t i;

	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *vs = &cfg->vs[i];

		if (vs->isolation != COOP_ISO_PBR)
			continue;
		if (vs->mark && (vs->mark < g->pbr_mark_lo || vs->mark > g->pbr_mark_hi))
			return coop_cfg_err_vs(e, vs, "mark",
					       "mark %#x is outside pbr_marks %#x-%#x ([global]); use a mark in that range or widen it",
					       vs->mark, g->pbr_mark_lo, g->pbr_mark_hi);
		if (vs->table && (vs->table < g->pbr_table_lo || vs->table > g->pbr_table_hi))
			return coop_cfg_err_vs(e, vs, "table",
					       "table %u is outside pbr_tables %u-%u ([global]); use a table in that range or widen it",
					       vs->table, g->pbr_table_lo, g->pbr_table_hi);
	}
	return 0;
}

/* A pbr address with its network part, for the overlap sweep. */
struct pfx_item {
	const char *ns;              /* namespace of its VS */
	const struct coop_prefix *p; /* the address */
	size_t vs;                   /* index of its VS */
	uint8_t net[16];             /* network part (host bits cleared) */
};

static int pfx_cmp(const void *a, const void *b)
{
	const struct pfx_item *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	if (c)
		return c;
	if (x->p->addr.family != y->p->addr.family)
		return x->p->addr.family < y->p->addr.family ? -1 : 1;
	c = memcmp(x->net, y->net, sizeof(x->net));
	if (c)
		return c;
	if (x->p->len != y->p->len)
		return x->p->len < y->p->len ? -1 : 1;
	return x->vs < y->vs ? -1 : x->vs > y->vs;
}

/* Every pbr address, tagged with its namespace and network part. */
static struct pfx_item *pbr_prefixes(const struct coop_config *cfg, size_t *n)
{
	struct pfx_item *items;
	size_t i, j, k, total = 0;

	for (i = 0; i < cfg->n_vs; i++)
		if (cfg->vs[i].isolation == COOP_ISO_PBR)
			total += cfg->vs[i].n_addrs;
	items = calloc(total + 1, sizeof(*items));
	if (!items)
		return NULL;
	*n = 0;
	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *vs = &cfg->vs[i];

		for (j = 0; vs->isolation == COOP_ISO_PBR && j < vs->n_addrs; j++) {
			struct pfx_item *it = &items[(*n)++];

			*it = (struct pfx_item){ .ns = vs->netns, .p = &vs->addrs[j], .vs = i };
			memcpy(it->net, coop_addr_bytes(&it->p->addr), coop_addr_bits(&it->p->addr) / 8);
			for (k = it->p->len; k < sizeof(it->net) * 8; k++)
				it->net[k / 8] &= (uint8_t)~(0x80u >> (k % 8));
		}
	}
	return items;
}

/*
 * pbr VSes in one namespace are told apart by their addresses, so no two may
 * overlap. Prefixes nest or are disjoint, so after sorting by network then
 * length a stack of the enclosing prefixes finds every overlap in
 * O(n log n): the stack holds at most one entry per length.
 */
static int check_overlap(const struct coop_config *cfg, struct coop_cfg_err *e)
{
	const struct pfx_item *stack[130];
	size_t i, j, n, depth = 0;
	struct pfx_item *items;
	int ret = 0;

	items = pbr_prefixes(cfg, &n);
	if (!items)
		return coop_cfg_err_set(e, -ENOMEM, NULL, NULL, "out of memory");
	coop_sort(items, n, sizeof(*items), pfx_cmp);
	for (i = 0; i < n && !ret; i++) {
		const struct pfx_item *x = &items[i], *top;

		while (depth && (strcmp(stack[depth - 1]->ns, x->ns) ||
				 !coop_prefix_overlap(stack[depth - 1]->p, x->p)))
			depth--;
		/* Everything left on the stack contains x. */
		for (j = 0; j < depth && !ret; j++) {
			const struct pfx_item *y = stack[j];
			const struct pfx_item *later = y->vs > x->vs ? y : x;
			const struct pfx_item *earlier = later == x ? y : x;
			char a1[INET6_ADDRSTRLEN], a2[INET6_ADDRSTRLEN];

			if (y->vs != x->vs)
				ret = coop_cfg_err_vs(e, &cfg->vs[later->vs], "addresses",
						      "%s/%u overlaps %s/%u of pbr VS '%s'; pbr VSes sharing a namespace need disjoint addresses",
						      coop_addr_str(&later->p->addr, a1, sizeof(a1)),
						      later->p->len,
						      coop_addr_str(&earlier->p->addr, a2, sizeof(a2)),
						      earlier->p->len, cfg->vs[earlier->vs].name);
		}
		/* Same network and length as the top: the top stands for both. */
		top = depth ? stack[depth - 1] : NULL;
		if (top && top->p->len == x->p->len && !memcmp(top->net, x->net, sizeof(x->net)))
			continue;
		if (depth < sizeof(stack) / sizeof(stack[0]))
			stack[depth++] = x;
	}
	free(items);
	return ret;
}

/* Every link a pbr VS names exists in its shared namespace. */
static int check_links(const struct coop_config *cfg, struct coop_cfg_err *e)
{
	char why[256];
	size_t i, j;

	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *vs = &cfg->vs[i];

		if (vs->isolation != COOP_ISO_PBR)
			continue;
		if (vs->ifname[0] && coop_cfg_link_find(vs->netns, false, vs->ifname, why,
							sizeof(why)) < 0)
			return coop_cfg_err_vs(e, vs, "interface", "%s", why);
		for (j = 0; j < vs->n_addrs; j++) {
			const char *l = vs->addrs[j].ifname;

			/* Each name once: many addresses on one link is the
			 * common case. */
			if (!l[0] || !strcmp(l, vs->ifname) ||
			    (j && !strcmp(l, vs->addrs[j - 1].ifname)))
				continue;
			if (coop_cfg_link_find(vs->netns, false, l, why, sizeof(why)) < 0)
				return coop_cfg_err_vs(e, vs, "addresses", "%s", why);
		}
	}
	return 0;
}

static int check_cfg(const struct coop_config *cfg, bool links, struct coop_cfg_err *e)
{
	int ret;

	if ((ret = check_ids(cfg, false, e)) < 0 || (ret = check_ids(cfg, true, e)) < 0 ||
	    (ret = check_overlap(cfg, e)) < 0 || (ret = check_ranges(cfg, e)) < 0)
		return ret;
	return links ? check_links(cfg, e) : 0;
}

const struct coop_cfg_keytab coop_pbr_keytabs[2] = {
	{ .section = "global", .keys = global_keys, .n = COOP_ARRAY_LEN(global_keys),
	  .init = global_init },
	{ .section = "vs", .keys = vs_keys, .n = COOP_ARRAY_LEN(vs_keys), .iso = "pbr",
	  .iso_id = COOP_ISO_PBR, .check = check_vs, .check_cfg = check_cfg },
};
