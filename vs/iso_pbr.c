/* iso_pbr.c - the pbr isolation backend: VSes share a namespace and are
 * told apart by SO_MARK and a routing table each; up()/down() record, a
 * batch commit programs every namespace at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "base/array.h"
#include "base/log.h"
#include "base/netns.h"
#include "core/module.h"
#include "core/runtime.h"
#include "core/vs.h"
#include "vs/pbr.h"

const struct coop_iso_ops coop_iso_pbr;

/* The pbr state of one runtime (its module state). Control thread only. */
struct pbr_rt {
	struct coop *c;                 /* its runtime */
	const struct coop_config *cfg;  /* configuration the slots were made for */
	struct coop_pbr_params p;       /* [global] pbr_* */
	struct coop_pbr_slot *slots;    /* mark and table of each pbr VS of cfg */
	size_t n_slots;
	struct coop_pbr_space **spaces; /* namespaces holding pbr VSes */
	size_t n_spaces, cap_spaces;
	bool batch;                     /* between batch_begin and batch_commit */
};

static struct pbr_rt *rt_find(const struct coop *c)
{
	return coop_module_priv(c, COOP_MOD_PBR);
}

static void rt_free(struct pbr_rt *rt)
{
	size_t i;

	coop_module_set_priv(rt->c, COOP_MOD_PBR, NULL);
	for (i = 0; i < rt->n_spaces; i++)
		coop_pbr_space_close(rt->spaces[i]);
	free(rt->spaces);
	free(rt->slots);
	free(rt);
}

static void params_of(const struct coop_config *cfg, struct coop_pbr_params *p)
{
	const struct coop_global_cfg *g = &cfg->global;

	p->mark_lo = g->pbr_mark_lo;
	p->mark_hi = g->pbr_mark_hi;
	p->table_lo = g->pbr_table_lo;
	p->table_hi = g->pbr_table_hi;
	p->protocol = g->pbr_protocol;
	p->priority = g->pbr_priority;
}

static struct coop_pbr_space *space_find(const struct pbr_rt *rt, const char *name)
{
	size_t i;

	for (i = 0; i < rt->n_spaces; i++)
		if (!strcmp(coop_pbr_space_name(rt->spaces[i]), name))
			return rt->spaces[i];
	return NULL;
}

static int space_get(struct pbr_rt *rt, const char *name, struct coop_pbr_space **out,
		     char *err, size_t errlen)
{
	struct coop_pbr_space *sp = space_find(rt, name);
	int ret;

	if (sp) {
		*out = sp;
		return 0;
	}
	if (COOP_ARRAY_GROW(rt->spaces, rt->cap_spaces, rt->n_spaces + 1, 4) < 0) {
		snprintf(err, errlen, "pbr: out of memory");
		return -ENOMEM;
	}
	ret = coop_pbr_space_open(name, &rt->p, &sp, err, errlen);
	if (ret < 0)
		return ret;
	rt->spaces[rt->n_spaces++] = sp;
	*out = sp;
	return 0;
}

/* Close the namespaces nobody uses (after a failed preparation, or once
 * every VS is down and committed). */
static void spaces_trim(struct pbr_rt *rt)
{
	size_t i, n = 0;

	for (i = 0; i < rt->n_spaces; i++) {
		if (coop_pbr_space_empty(rt->spaces[i]))
			coop_pbr_space_close(rt->spaces[i]);
		else
			rt->spaces[n++] = rt->spaces[i];
	}
	rt->n_spaces = n;
}

static int u32_order(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Tables used by foreign state in any of the namespaces: an assigned
 * table avoids them all, so a VS could move between namespaces. */
static uint32_t *busy_union(const struct pbr_rt *rt, size_t *n_out)
{
	size_t i, n = 0, k;
	uint32_t *all;

	for (i = 0; i < rt->n_spaces; i++) {
		coop_pbr_space_busy(rt->spaces[i], &k);
		n += k;
	}
	all = malloc((n + 1) * sizeof(*all));
	if (!all)
		return NULL;
	n = 0;
	for (i = 0; i < rt->n_spaces; i++) {
		const uint32_t *b = coop_pbr_space_busy(rt->spaces[i], &k);

		memcpy(all + n, b, k * sizeof(*b));
		n += k;
	}
	coop_sort(all, n, sizeof(*all), u32_order);
	for (i = k = 0; i < n; i++)
		if (!k || all[k - 1] != all[i])
			all[k++] = all[i];
	*n_out = k;
	return all;
}

/*
 * Read every pbr namespace of the configuration and give each pbr VS its
 * mark and table. Reads the kernel only; every problem (a table a foreign
 * rule uses, a mark outside pbr_marks) is found before anything changes.
 */
static int rt_prepare(struct pbr_rt *rt, const struct coop_config *cfg, char *err, size_t errlen)
{
	struct coop_pbr_slot *list = NULL;
	size_t i, j, n = 0, n_busy = 0;
	uint32_t *busy = NULL;
	char why[160];
	int ret;

	params_of(cfg, &rt->p);
	ret = coop_pbr_params_check(&rt->p, err, errlen);
	if (ret < 0)
		return ret;
	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *v = &cfg->vs[i];
		struct coop_pbr_space *sp;

		if (v->isolation != COOP_ISO_PBR)
			continue;
		ret = space_get(rt, v->netns, &sp, err, errlen);
		if (ret < 0)
			goto out;
		if (v->table && coop_pbr_space_table_check(sp, v->table, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "vs '%s': table: %s in namespace %s", v->name, why,
				 v->netns[0] ? v->netns : "(coopd's own)");
			ret = -EBUSY;
			goto out;
		}
		n++;
	}
	ret = -ENOMEM;
	list = calloc(n + 1, sizeof(*list));
	busy = busy_union(rt, &n_busy);
	if (!list || !busy) {
		snprintf(err, errlen, "pbr: out of memory");
		goto out;
	}
	for (i = n = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *v = &cfg->vs[i];

		if (v->isolation != COOP_ISO_PBR)
			continue;
		list[n] = (struct coop_pbr_slot){ .name = v->name, .want_mark = v->mark,
						  .want_table = v->table };
		/* A VS that is up keeps what it has (a reload must not move
		 * it); a changed mark or table makes it a rebuild. */
		for (j = 0; j < rt->c->n_vs; j++) {
			const struct coop_vs *vs = rt->c->vs[j];
			const struct coop_pbr_member *m = vs->iso_priv;

			if (vs->iso == &coop_iso_pbr && m && !strcmp(vs->cfg->name, v->name) &&
			    (!v->mark || v->mark == m->mark) && (!v->table || v->table == m->table)) {
				list[n].want_mark = m->mark;
				list[n].want_table = m->table;
			}
		}
		n++;
	}
	ret = coop_pbr_alloc(&rt->p, list, n, busy, n_busy, err, errlen);
	if (ret < 0)
		goto out;
	free(rt->slots);
	rt->slots = list;
	rt->n_slots = n;
	list = NULL;
	rt->cfg = cfg;
	ret = 0;
out:
	free(list);
	free(busy);
	return ret;
}

static size_t pbr_count(const struct coop_config *cfg)
{
	size_t i, n = 0;

	for (i = 0; cfg && i < cfg->n_vs; i++)
		n += cfg->vs[i].isolation == COOP_ISO_PBR;
	return n;
}

int coop_iso_pbr_batch_begin(struct coop *c, char *err, size_t errlen)
{
	struct pbr_rt *rt = rt_find(c);
	int ret;

	if (!rt) {
		if (!pbr_count(c->cfg))
			return 0;
		rt = calloc(1, sizeof(*rt));
		if (!rt) {
			snprintf(err, errlen, "pbr: out of memory");
			return -ENOMEM;
		}
		rt->c = c;
		coop_module_set_priv(c, COOP_MOD_PBR, rt);
	}
	if (rt->batch)
		return 0;
	if (rt->cfg != c->cfg) {
		ret = rt_prepare(rt, c->cfg, err, errlen);
		if (ret < 0) {
			spaces_trim(rt);
			if (!rt->n_spaces)
				rt_free(rt);
			return ret;
		}
	}
	rt->batch = true;
	return 0;
}

int coop_iso_pbr_batch_commit(struct coop *c, char *err, size_t errlen)
{
	struct pbr_rt *rt = rt_find(c);
	char one[512];
	size_t i;
	int ret = 0, r;

	if (!rt || !rt->batch)
		return 0;
	rt->batch = false;
	for (i = 0; i < rt->n_spaces; i++) {
		struct coop_pbr_space *sp = rt->spaces[i];

		if (!coop_pbr_space_dirty(sp)) {
			coop_pbr_space_prune(sp);
			continue;
		}
		r = coop_pbr_space_commit(sp, one, sizeof(one));
		if (r < 0 && !ret) {
			ret = r;
			if (err && errlen)
				snprintf(err, errlen, "%s", one);
		} else if (r < 0) {
			coop_warn("%s", one);
		}
	}
	spaces_trim(rt);
	if (!rt->n_spaces)
		rt_free(rt);
	return ret;
}

/* --- the backend ---------------------------------------------------------- */

static int pbr_up(struct coop_vs *vs, char *err, size_t errlen)
{
	struct coop *c = vs->coop;
	struct pbr_rt *rt = rt_find(c);
	const struct coop_pbr_slot *slot = NULL;
	struct coop_pbr_space *sp = NULL;
	struct coop_pbr_member *m;
	bool implicit;
	size_t idx;
	int ret;

	if (vs->iso_priv) {
		snprintf(err, errlen, "vs '%s': isolation: already up", vs->cfg->name);
		return -EALREADY;
	}
	/* Outside a batch (a VS added on its own) this is a batch of one. */
	implicit = !rt || !rt->batch;
	if (implicit) {
		ret = coop_iso_pbr_batch_begin(c, err, errlen);
		if (ret < 0)
			return ret;
		rt = rt_find(c);
	}
	for (idx = 0; rt && idx < rt->n_slots && !slot; idx++)
		if (!strcmp(rt->slots[idx].name, vs->cfg->name))
			slot = &rt->slots[idx];
	if (!slot || !(sp = space_find(rt, vs->cfg->netns))) {
		snprintf(err, errlen, "vs '%s': not part of the loaded configuration",
			 vs->cfg->name);
		ret = -EINVAL;
		goto err_commit;
	}
	m = coop_pbr_space_join(sp, vs->cfg, slot->mark, slot->table);
	if (!m) {
		snprintf(err, errlen, "vs '%s': out of memory", vs->cfg->name);
		ret = -ENOMEM;
		goto err_commit;
	}
	vs->iso_priv = m;
	coop_debug("vs '%s': pbr mark %#x table %u", vs->cfg->name, m->mark, m->table);
	if (!implicit)
		return 0;
	ret = coop_iso_pbr_batch_commit(c, err, errlen);
	if (ret < 0 && !m->applied) {
		vs->iso_priv = NULL;
		coop_pbr_space_leave(m);
		coop_pbr_space_prune(sp);
		rt = rt_find(c);
		if (rt) {
			spaces_trim(rt);
			if (!rt->n_spaces)
				rt_free(rt);
		}
		return ret;
	}
	return 0;

err_commit:
	if (implicit)
		coop_iso_pbr_batch_commit(c, NULL, 0);
	return ret;
}

static void pbr_down(struct coop_vs *vs)
{
	struct coop_pbr_member *m = vs->iso_priv;
	struct pbr_rt *rt;
	char err[512];

	if (!m)
		return;
	vs->iso_priv = NULL;
	coop_pbr_space_leave(m);
	rt = rt_find(vs->coop);
	if (rt && !rt->batch) {
		rt->batch = true;
		if (coop_iso_pbr_batch_commit(vs->coop, err, sizeof(err)) < 0)
			coop_warn("%s", err);
	}
}

/* Any thread: the member is written before workers start and only freed
 * after they stopped. */
static int pbr_socket(struct coop_vs *vs, int domain, int type, int protocol)
{
	const struct coop_pbr_member *m = vs->iso_priv;
	int fd, ret;

	if (!m)
		return -ENETDOWN;
	fd = coop_netns_socket(m->nsfd, domain, type, protocol);
	if (fd < 0)
		return fd;
	/* Routing of everything this socket sends (and of the connections a
	 * listener accepts, which inherit the mark) goes by the VS table. */
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &m->mark, sizeof(m->mark)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

uint32_t coop_iso_pbr_mark(const struct coop_vs *vs)
{
	const struct coop_pbr_member *m = vs->iso_priv;

	return vs->iso == &coop_iso_pbr && m ? m->mark : 0;
}

uint32_t coop_iso_pbr_table(const struct coop_vs *vs)
{
	const struct coop_pbr_member *m = vs->iso_priv;

	return vs->iso == &coop_iso_pbr && m ? m->table : 0;
}

static const char *pbr_namespace(const struct coop_vs *vs)
{
	return vs->cfg->netns;
}

const struct coop_iso_ops coop_iso_pbr = {
	.name = "pbr",
	.socket = pbr_socket,
	.namespace = pbr_namespace,
};

/* A reload: addresses and gateways change in place (the namespace's rule
 * tree and the VS's table follow at the commit); another namespace, mark
 * or table is a rebuild. */
static int pbr_vs_change(struct coop_vs *vs, const struct coop_vs_cfg *old,
			 const struct coop_vs_cfg *new, struct coop_change_note *note, char *err,
			 size_t errlen)
{
	struct coop_pbr_member *m = vs->iso_priv;
	struct pbr_rt *rt = rt_find(vs->coop);
	char again[256];
	size_t i, j;
	int ret;

	if (strcmp(old->netns, new->netns) || strcmp(old->ifname, new->ifname) ||
	    old->mark != new->mark || old->table != new->table)
		return -EOPNOTSUPP;
	if (!m || !rt)
		return -EOPNOTSUPP;
	if (coop_vs_cfg_addrs_equal(old, new) && coop_vs_cfg_gws_equal(old, new))
		return 0;
	m->cfg = new;
	m->changed = true;
	rt->batch = true;
	ret = coop_iso_pbr_batch_commit(vs->coop, err, errlen);
	if (ret < 0) {
		m->cfg = old;
		m->changed = true;
		rt = rt_find(vs->coop);
		if (rt) {
			rt->batch = true;
			if (coop_iso_pbr_batch_commit(vs->coop, again, sizeof(again)) < 0)
				coop_warn("vs '%s': pbr: restoring the old state: %s", old->name, again);
		}
		return ret;
	}
	for (i = 0; i < new->n_addrs; i++) {
		char a[INET6_ADDRSTRLEN];

		for (j = 0; j < old->n_addrs && !coop_prefix_equal(&old->addrs[j], &new->addrs[i]); j++)
			;
		if (j == old->n_addrs)
			coop_change_note_add(note, "address %s/%u added",
					     coop_addr_str(&new->addrs[i].addr, a, sizeof(a)),
					     new->addrs[i].len);
	}
	for (i = 0; i < old->n_addrs; i++) {
		char a[INET6_ADDRSTRLEN];

		for (j = 0; j < new->n_addrs && !coop_prefix_equal(&new->addrs[j], &old->addrs[i]); j++)
			;
		if (j == new->n_addrs)
			coop_change_note_add(note, "address %s/%u removed",
					     coop_addr_str(&old->addrs[i].addr, a, sizeof(a)),
					     old->addrs[i].len);
	}
	if (!coop_vs_cfg_gws_equal(old, new))
		coop_change_note_add(note, "gateway changed");
	return 0;
}

/* The member keeps a pointer to the section: follow the VS's own copy
 * once the reload has settled on it. */
static void pbr_vs_publish(struct coop_vs *vs)
{
	struct coop_pbr_member *m = vs->iso_priv;

	if (m)
		m->cfg = vs->cfg;
}

static void pbr_vs_json(const struct coop_vs *vs, struct coop_json *out, bool detail)
{
	if (!detail)
		return;
	/* What the VS got (assigned when the file gave none). */
	coop_json_kv_u64(out, "mark", coop_iso_pbr_mark(vs) ? coop_iso_pbr_mark(vs) : vs->cfg->mark);
	coop_json_kv_u64(out, "table",
			 coop_iso_pbr_table(vs) ? coop_iso_pbr_table(vs) : vs->cfg->table);
}

/* A new configuration: marks and tables are worked out again from it at
 * the next batch (VSes that are up keep theirs). */
static int pbr_reconfigure(struct coop *c, const struct coop_config *old,
			   const struct coop_config *new, struct coop_change_note *note, char *err,
			   size_t errlen)
{
	struct pbr_rt *rt = rt_find(c);

	(void)old;
	(void)new;
	(void)note;
	(void)err;
	(void)errlen;
	if (rt)
		rt->cfg = NULL;
	return 0;
}

const struct coop_module coop_mod_pbr = {
	.reconfigure = pbr_reconfigure,
	.id = COOP_MOD_PBR,
	.name = "pbr",
	.iso = &coop_iso_pbr,
	.keytabs = coop_pbr_keytabs,
	.n_keytabs = sizeof(coop_pbr_keytabs) / sizeof(coop_pbr_keytabs[0]),
	.batch_begin = coop_iso_pbr_batch_begin,
	.batch_commit = coop_iso_pbr_batch_commit,
	.vs_add = pbr_up,
	.vs_publish = pbr_vs_publish,
	.vs_change = pbr_vs_change,
	.vs_remove = pbr_down,
	.vs_json = pbr_vs_json,
};
