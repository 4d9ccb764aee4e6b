/* xdp_reload.c - a reloaded [forwarder] section: what the running forwarder takes live (nodes), and the running node set made the file's. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/module.h"
#include "fwd/xdp_priv.h"

static void __attribute__((format(printf, 3, 4)))
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* --- what may change -------------------------------------------------------------- */

/* The first key whose value differs between two present sections, or NULL;
 * "nodes" is compared last, so when it is the answer no other key changed. */
static const char *changed_key(const struct coop_fwd_cfg *a, const struct coop_fwd_cfg *b)
{
	size_t i;

	if (strcmp(a->ifname, b->ifname))
		return "interface";
	if (a->n_vips != b->n_vips)
		return "vips";
	for (i = 0; i < a->n_vips; i++)
		if (!coop_addr_equal(&a->vips[i].addr, &b->vips[i].addr) ||
		    a->vips[i].port != b->vips[i].port || a->vips[i].proto != b->vips[i].proto)
			return "vips";
	if (strcmp(a->self, b->self))
		return "self";
	if (a->table_size != b->table_size)
		return "table_size";
	if (a->flow_cache_size != b->flow_cache_size)
		return "flow_cache_size";
	if (a->encap != b->encap)
		return "encap";
	if (a->gue_port != b->gue_port)
		return "gue_port";
	if (a->mtu != b->mtu)
		return "mtu";
	if (a->xdp_mode != b->xdp_mode)
		return "xdp_mode";
	if (a->n_nodes != b->n_nodes)
		return "nodes";
	for (i = 0; i < a->n_nodes; i++)
		if (strcmp(a->nodes[i].name, b->nodes[i].name) ||
		    !coop_addr_equal(&a->nodes[i].addr, &b->nodes[i].addr) ||
		    a->nodes[i].weight != b->nodes[i].weight)
			return "nodes";
	return NULL;
}

/* A scalar key's value as a file writes it, for messages; "" for the lists. */
static const char *key_value(const struct coop_fwd_cfg *f, const char *key, char *buf, size_t len)
{
	static const char *const modes[] = {"auto", "native", "generic"};

	buf[0] = '\0';
	if (!strcmp(key, "interface"))
		snprintf(buf, len, "%s", f->ifname);
	else if (!strcmp(key, "self"))
		snprintf(buf, len, "%s", f->self);
	else if (!strcmp(key, "table_size"))
		snprintf(buf, len, "%u", f->table_size);
	else if (!strcmp(key, "flow_cache_size"))
		snprintf(buf, len, "%u", f->flow_cache_size);
	else if (!strcmp(key, "encap"))
		snprintf(buf, len, "%s", f->encap == COOP_FWD_ENCAP_IPIP ? "ipip" : "gue");
	else if (!strcmp(key, "gue_port"))
		snprintf(buf, len, "%u", f->gue_port);
	else if (!strcmp(key, "mtu") && !f->mtu)
		snprintf(buf, len, "auto");
	else if (!strcmp(key, "mtu"))
		snprintf(buf, len, "%u", f->mtu);
	else if (!strcmp(key, "xdp_mode") && (unsigned)f->xdp_mode < 3)
		snprintf(buf, len, "%s", modes[f->xdp_mode]);
	return buf;
}

/* --- the node set ------------------------------------------------------------------ */

/*
 * A reload makes the running node set the file's `nodes` list. The
 * difference is taken against the set the forwarder runs now, not against
 * the old file: `fwd node add|remove|weight` may have changed it since the
 * last reload, and the file is what the operator wants from now on (a node
 * removed or drained by hand comes back if the file still lists it).
 *
 * Each difference is applied as its admin command would apply it, in the
 * order of coop_xdp.h, with one table for the whole change:
 *   - a new node, a node back from weight 0 and a node whose address
 *     changed are written (with their next hop) before a table uses them,
 *     and that table waits for their next hops (PUBLISH_WAIT at most), as
 *     `fwd node add` and `fwd node weight NAME W` do;
 *   - a removed node is marked absent, a drained one draining, only once a
 *     table without it (or without its entries) is live, as `fwd node
 *     remove` and `fwd node weight NAME 0` do.
 * When both kinds meet and a next hop is not resolved yet, one table cannot
 * serve both rules: a table without the waiting nodes goes live at once
 * (removals and drains take effect now, as their commands would), and the
 * whole set follows when the next hops are there.
 *
 * A node whose address changed keeps its id (`remove` then `add` would give
 * it the same one back), so flows cached for it follow it to its new
 * address. Self's address cannot change (nodes_check).
 */

#define NODE_NEW     0x1u  /* not in the running set: id allocated */
#define NODE_MOVED   0x2u  /* address changed: next hop resolved anew */
#define NODE_UNDRAIN 0x4u  /* weight 0 -> W */
#define NODE_DRAIN   0x8u  /* weight W -> 0 */
#define NODE_WEIGHT  0x10u /* weight W -> W', both above 0 */
#define NODE_WAITS   (NODE_NEW | NODE_MOVED | NODE_UNDRAIN)

static size_t cfg_node_find(const struct coop_fwd_node_cfg *nodes, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(nodes[i].name, name))
			return i;
	return SIZE_MAX;
}

static const struct xdp_node *set_find(const struct xdp_node *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

static bool retired_has(const struct coop_fwd_xdp *x, const char *name)
{
	size_t i;

	for (i = 0; i < x->n_retired; i++)
		if (!strcmp(x->retired[i].name, name))
			return true;
	return false;
}

static int nodes_check(const struct coop_fwd_xdp *x, const struct coop_fwd_node_cfg *want,
		       size_t n_want, char *err, size_t errlen)
{
	const struct coop_fwd_cfg *cfg = x->cfg;
	size_t i, j, fresh = 0, reclaimed = 0;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	/* self's address is the source of its tunnels (coop_xdp_config) */
	i = cfg_node_find(cfg->nodes, cfg->n_nodes, cfg->self);
	j = cfg_node_find(want, n_want, cfg->self);
	if (i != SIZE_MAX && j != SIZE_MAX &&
	    !coop_addr_equal(&cfg->nodes[i].addr, &want[j].addr)) {
		errf(err, errlen,
		     "node %s is this node (self): its address changed (%s -> %s), and it is the "
		     "source of its tunnels, which needs a restart",
		     cfg->self, coop_addr_str(&cfg->nodes[i].addr, a, sizeof(a)),
		     coop_addr_str(&want[j].addr, b, sizeof(b)));
		return -EOPNOTSUPP;
	}
	/* ids for new nodes: their own old one, else a fresh or the oldest
	 * retired one (those of nodes this change removes are not free yet) */
	for (j = 0; j < n_want; j++) {
		if (set_find(x->nodes, x->n_nodes, want[j].name))
			continue;
		if (retired_has(x, want[j].name))
			reclaimed++;
		else
			fresh++;
	}
	if (fresh > (COOP_XDP_NODES_MAX - x->next_id) + (x->n_retired - reclaimed)) {
		errf(err, errlen,
		     "no free node id for %zu new nodes (%u ids handed out): remove nodes in one "
		     "reload and add the new ones in the next",
		     fresh, x->next_id);
		return -ENOSPC;
	}
	return 0;
}

/* Add one file node to next[*n] with an id (its old one if it had one). */
static int node_new(struct coop_fwd_xdp *x, const struct coop_fwd_node_cfg *nc,
		    struct xdp_node *next, uint8_t *what, size_t *n, char *err, size_t errlen)
{
	struct xdp_node *nd = &next[*n];
	size_t ridx;
	int ret;

	memset(nd, 0, sizeof(*nd));
	snprintf(nd->name, sizeof(nd->name), "%s", nc->name);
	nd->addr = nc->addr;
	nd->weight = nc->weight;
	nd->self = !strcmp(nc->name, x->cfg->self);
	ret = coop_fwd_xdp_id_alloc(x, nc->name, &nd->id, &ridx);
	if (ret < 0) {
		errf(err, errlen, "node %s: no free node id (at most %u nodes)", nc->name,
		     COOP_XDP_NODES_MAX);
		return ret;
	}
	coop_fwd_xdp_id_commit(x, nc->name, nd->id, ridx);
	what[(*n)++] = NODE_NEW;
	return 0;
}

/* The table of the set as it stands before the nodes that wait: without
 * new nodes, with undrained and moved ones at weight 0. */
static int table_build_early(const struct coop_fwd_xdp *x, const uint8_t *what,
			     struct coop_fwd_maglev **out, char *err, size_t errlen)
{
	struct xdp_node *v = calloc(x->n_nodes + 1, sizeof(*v));
	size_t i, n = 0;
	int ret;

	if (!v) {
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < x->n_nodes; i++) {
		if (what[i] & NODE_NEW)
			continue;
		v[n] = x->nodes[i];
		if (what[i] & (NODE_UNDRAIN | NODE_MOVED))
			v[n].weight = 0;
		n++;
	}
	ret = coop_fwd_xdp_table_build_of(x, v, n, out, err, errlen);
	free(v);
	return ret;
}

/* After a table without them is live: removed nodes absent (their ids kept
 * for their names), drained ones draining. */
static void nodes_settle(struct coop_fwd_xdp *x, const struct xdp_node *gone, size_t n_gone,
			 const uint8_t *what)
{
	size_t i;
	int ret;

	for (i = 0; i < n_gone; i++) {
		ret = coop_fwd_xdp_node_write(x, &gone[i], COOP_FWD_STATE_ABSENT);
		if (ret < 0)
			coop_warn("forwarder: node %s: cannot mark it absent: %s", gone[i].name,
				  strerror(-ret));
	}
	for (i = 0; i < x->n_nodes; i++) {
		if (!(what[i] & NODE_DRAIN))
			continue;
		ret = coop_fwd_xdp_node_write(x, &x->nodes[i], COOP_FWD_STATE_DRAINING);
		if (ret < 0)
			coop_warn("forwarder: node %s: cannot mark it draining: %s",
				  x->nodes[i].name, strerror(-ret));
	}
}

/* What changed, for the reload's note and the log. */
static void nodes_note(const struct coop_fwd_xdp *x, const struct xdp_node *first, size_t n_first,
		       const struct xdp_node *gone, size_t n_gone, const uint8_t *what,
		       struct coop_change_note *note)
{
	char a[INET6_ADDRSTRLEN];
	size_t i, k;

	for (i = 0; i < n_gone; i++)
		coop_change_note_add(note, "node %s removed", gone[i].name);
	for (i = 0; i < x->n_nodes; i++) {
		const struct xdp_node *nd = &x->nodes[i];
		uint32_t was = 0;

		for (k = 0; k < n_first; k++)
			if (first[k].id == nd->id)
				was = first[k].weight;
		if (what[i] & NODE_NEW)
			coop_change_note_add(note, "node %s %s added (id %u, weight %u)", nd->name,
					     coop_addr_str(&nd->addr, a, sizeof(a)), nd->id,
					     nd->weight);
		if (what[i] & NODE_MOVED)
			coop_change_note_add(note, "node %s moved to %s", nd->name,
					     coop_addr_str(&nd->addr, a, sizeof(a)));
		if (what[i] & (NODE_UNDRAIN | NODE_DRAIN | NODE_WEIGHT))
			coop_change_note_add(note, "node %s weight %u -> %u", nd->name, was,
					     nd->weight);
	}
}

/* n's entry before a table uses it: undrained nodes first (they have their
 * next hop), then new and moved ones, whose next hop is looked up now. */
static int nodes_prepare(struct coop_fwd_xdp *x, const uint8_t *what, char *err, size_t errlen)
{
	size_t i;
	int pass, ret;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < x->n_nodes; i++) {
			struct xdp_node *nd = &x->nodes[i];

			if (!(what[i] & (pass ? NODE_NEW | NODE_MOVED : NODE_UNDRAIN)))
				continue;
			if (pass)
				coop_fwd_xdp_node_resolve(x, nd);
			ret = coop_fwd_xdp_node_write(x, nd, coop_fwd_xdp_node_state(nd));
			if (ret < 0) {
				errf(err, errlen, "cannot write node '%s': %s", nd->name,
				     strerror(-ret));
				return ret;
			}
		}
	}
	return 0;
}

static int nodes_set(struct coop_fwd_xdp *x, const struct coop_fwd_node_cfg *want, size_t n_want,
		     struct coop_change_note *note, char *err, size_t errlen)
{
	struct xdp_node *first = x->nodes, *next, *gone;
	size_t n_first = x->n_nodes, cap_first = x->cap_nodes, cap = n_first + n_want + 1;
	size_t n = 0, n_gone = 0, i, j;
	struct xdp_retired *saved = NULL;
	size_t saved_n_retired = x->n_retired;
	uint32_t saved_next_id = x->next_id;
	struct coop_fwd_maglev *t = NULL, *early;
	bool waits = false, settles = false, changed, published = false, early_live = false;
	uint8_t *what;
	int pass, ret = -ENOMEM;

	next = calloc(cap, sizeof(*next));
	gone = calloc(n_first + 1, sizeof(*gone));
	what = calloc(cap, 1);
	saved = malloc((x->n_retired + 1) * sizeof(*saved));
	if (!next || !gone || !what || !saved) {
		errf(err, errlen, "out of memory");
		goto out_free;
	}
	if (x->n_retired)
		memcpy(saved, x->retired, x->n_retired * sizeof(*saved));
	/* the running nodes: gone, or kept with the file's address and weight */
	for (i = 0; i < n_first; i++) {
		const struct xdp_node *r = &first[i];
		const struct coop_fwd_node_cfg *w;

		j = cfg_node_find(want, n_want, r->name);
		if (j == SIZE_MAX) {
			gone[n_gone++] = *r;
			continue;
		}
		w = &want[j];
		next[n] = *r;
		if (!coop_addr_equal(&w->addr, &r->addr)) {
			/* a new next hop too: looked up by nodes_prepare */
			memset(&next[n], 0, sizeof(next[n]));
			snprintf(next[n].name, sizeof(next[n].name), "%s", r->name);
			next[n].addr = w->addr;
			next[n].id = r->id;
			next[n].self = r->self;
			what[n] |= NODE_MOVED;
		}
		next[n].weight = w->weight;
		if (!r->weight && w->weight)
			what[n] |= NODE_UNDRAIN;
		else if (r->weight && !w->weight)
			what[n] |= NODE_DRAIN;
		else if (r->weight != w->weight)
			what[n] |= NODE_WEIGHT;
		n++;
	}
	/* new nodes: first those that get their old id back, so that no
	 * retired id handed to a stranger is one of theirs */
	for (pass = 0; pass < 2; pass++) {
		for (j = 0; j < n_want; j++) {
			if (set_find(next, n, want[j].name) ||
			    (!pass && !retired_has(x, want[j].name)))
				continue;
			ret = node_new(x, &want[j], next, what, &n, err, errlen);
			if (ret < 0)
				goto err_restore;
		}
	}
	changed = n_gone > 0;
	for (i = 0; i < n; i++) {
		changed |= what[i] != 0;
		waits |= (what[i] & NODE_WAITS) != 0;
		settles |= (what[i] & NODE_DRAIN) != 0;
	}
	settles |= n_gone > 0;
	if (!changed) {
		ret = 0;
		goto out_free;
	}
	x->nodes = next;
	x->n_nodes = n;
	x->cap_nodes = cap;
	ret = coop_fwd_xdp_table_build_of(x, x->nodes, x->n_nodes, &t, err, errlen);
	if (ret == 0 && (ret = nodes_prepare(x, what, err, errlen)) < 0)
		coop_fwd_maglev_free(t);
	if (ret < 0)
		goto err_restore;
	/* a moved node's old address no longer sends its tunnels */
	for (i = 0; i < n; i++)
		for (j = 0; (what[i] & NODE_MOVED) && j < n_first; j++)
			if (first[j].id == next[i].id &&
			    (ret = coop_fwd_xdp_peer_forget(x, &first[j].addr, first[j].id)) < 0)
				coop_warn("forwarder: node %s: cannot forget its old address as a "
					  "tunnel source: %s",
					  first[j].name, strerror(-ret));
	ret = 0;
	for (i = 0; i < n_gone; i++)
		if (coop_fwd_xdp_id_retire(x, &gone[i]) < 0)
			coop_warn("forwarder: node %s: id %u not kept for it (out of memory)",
				  gone[i].name, gone[i].id);
	if (waits && settles && !coop_fwd_xdp_all_resolved(x)) {
		/* removals and drains now, the waiting nodes once resolved */
		ret = table_build_early(x, what, &early, err, errlen);
		if (ret == 0)
			ret = coop_fwd_xdp_publish(x, early, false, NULL, err, errlen);
		if (ret == 0)
			nodes_settle(x, gone, n_gone, what);
		early_live = ret == 0;
		settles = false;
	}
	if (ret == 0)
		ret = coop_fwd_xdp_publish(x, t, waits, &published, err, errlen);
	else
		coop_fwd_maglev_free(t);
	if (ret == 0 && settles)
		nodes_settle(x, gone, n_gone, what);
	nodes_note(x, first, n_first, gone, n_gone, what, note);
	if (early_live)
		coop_change_note_add(note, "table without the waiting nodes published");
	if (ret == 0)
		coop_change_note_add(note, "%s",
				     published ? "table published"
					       : "table waits for the new next hops (3 s at most)");
	free(first);
	goto out_free;

err_restore:
	/* no table changed: the old set again (a moved node's entry, rewritten
	 * by nodes_prepare, gets its old address back) */
	if (x->nodes == next) {
		for (i = 0; i < n; i++)
			for (j = 0; (what[i] & NODE_MOVED) && j < n_first; j++)
				if (first[j].id == next[i].id) {
					coop_fwd_xdp_node_write(x, &first[j],
								coop_fwd_xdp_node_state(&first[j]));
					coop_fwd_xdp_peer_forget(x, &next[i].addr, next[i].id);
				}
	}
	x->nodes = first;
	x->n_nodes = n_first;
	x->cap_nodes = cap_first;
	free(x->retired);
	x->retired = saved;
	x->n_retired = saved_n_retired;
	x->next_id = saved_next_id;
	saved = NULL;
out_free:
	if (x->nodes != next)
		free(next);
	free(gone);
	free(what);
	free(saved);
	return ret;
}

/* --- the module's hooks ---------------------------------------------------------- */

/* Does the running set equal the list f? */
static bool nodes_match(const struct coop_fwd_xdp *x, const struct coop_fwd_cfg *f)
{
	size_t i, j;

	if (x->n_nodes != f->n_nodes)
		return false;
	for (i = 0; i < x->n_nodes; i++) {
		j = cfg_node_find(f->nodes, f->n_nodes, x->nodes[i].name);
		if (j == SIZE_MAX || !coop_addr_equal(&f->nodes[j].addr, &x->nodes[i].addr) ||
		    f->nodes[j].weight != x->nodes[i].weight)
			return false;
	}
	return true;
}

/* A reload may change the node list live (nodes_set); the other keys size
 * the data path's maps, fill its configuration or name its interface, so
 * they need a restart. */
int coop_fwd_xdp_reload_check(struct coop *c, const struct coop_config *old,
			      const struct coop_config *new, char *err, size_t errlen)
{
	const struct coop_fwd_xdp *x = coop_module_priv(c, COOP_MOD_FWD);
	const struct coop_fwd_cfg *a = &old->fwd, *b = &new->fwd;
	char va[64], vb[64], why[512];
	const char *key;
	int ret;

	if (a->enabled != b->enabled) {
		errf(err, errlen, "%s: [forwarder]: %s, and %s the forwarder needs a restart",
		     new->path, b->enabled ? "added" : "removed",
		     b->enabled ? "starting" : "stopping");
		return -EOPNOTSUPP;
	}
	if (!a->enabled || !(key = changed_key(a, b)))
		return 0;
	if (strcmp(key, "nodes")) {
		key_value(a, key, va, sizeof(va));
		key_value(b, key, vb, sizeof(vb));
		if (va[0])
			snprintf(why, sizeof(why), " (%s -> %s)", va, vb);
		else
			why[0] = '\0';
		errf(err, errlen,
		     "%s: [forwarder] %s: changed%s, and the running forwarder takes only changes "
		     "of nodes live: %s needs a restart",
		     new->path, key, why, key);
		return -EOPNOTSUPP;
	}
	if (!x)
		return 0;
	ret = nodes_check(x, b->nodes, b->n_nodes, why, sizeof(why));
	if (ret < 0)
		errf(err, errlen, "%s: [forwarder] nodes: %s", new->path, why);
	return ret;
}

int coop_fwd_xdp_reload_apply(struct coop *c, const struct coop_config *old,
			      const struct coop_config *new, struct coop_change_note *note,
			      char *err, size_t errlen)
{
	struct coop_fwd_xdp *x = coop_module_priv(c, COOP_MOD_FWD);
	bool drifted;
	int ret;

	if (!x)
		return 0;
	/* old is freed after the reload: from here on the new section */
	x->cfg = &new->fwd;
	/* an unchanged section leaves the running set alone, even where `fwd
	 * node` changed it: a drain by hand outlives a reload made for a VS */
	if (!old->fwd.enabled || !changed_key(&old->fwd, &new->fwd))
		return 0;
	drifted = !nodes_match(x, &old->fwd);
	ret = nodes_set(x, new->fwd.nodes, new->fwd.n_nodes, note, err, errlen);
	if (note->len && drifted)
		coop_change_note_add(note,
				     "(against the running set, which `fwd node` had changed)");
	if (ret < 0) {
		coop_err("forwarder: reload: nodes: %s%s%s", err, note->len ? "; " : "",
			 note->text);
		return ret;
	}
	if (note->len)
		coop_info("forwarder: reload: %s", note->text);
	return 0;
}
