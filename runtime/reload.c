/* reload.c - a reload: read and validate the whole new file, refuse what
 * cannot change live, then compare VS by VS (by name) and apply only the
 * difference: added VSes come up, removed ones drain and go, changed ones
 * change in place module by module (or, where a module cannot, drain and
 * come back rebuilt), untouched ones are not touched at all. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "core/admin.h"
#include "runtime/rt.h"

/* The outcome for one VS, for the reply and the log. */
enum outcome { KEPT, ADDED, CHANGED, REBUILT, REMOVED, FAILED };

struct item {
	char name[COOP_NAME_MAX];    /* the VS */
	enum outcome what;           /* what happened to it */
	struct coop_change_note note; /* CHANGED: what changed; FAILED: why */
};

struct plan {
	struct item *items; /* one per VS of the old and the new file */
	size_t n;
	struct coop_change_note global; /* what [global] and the modules' own
					  * sections changed ("forwarder: node n3 removed") */
	char first_err[1024]; /* the first VS that failed */
};

static struct item *item_add(struct plan *p, const char *name, enum outcome what)
{
	struct item *it = &p->items[p->n++];
	size_t len = strnlen(name, sizeof(it->name) - 1);

	it->what = what;
	it->note.len = 0;
	it->note.text[0] = '\0';
	memcpy(it->name, name, len);
	it->name[len] = '\0';
	return it;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* [global] keys that would need a restart. */
static int check_global(const struct coop_config *old, const struct coop_config *new, char *err,
			size_t errlen)
{
	const struct coop_global_cfg *a = &old->global, *b = &new->global;
	const char *key = NULL;

	if (a->workers != b->workers)
		key = "workers";
	else if (strcmp(a->admin_socket, b->admin_socket))
		key = "admin_socket";
	else if (!coop_addr_equal(&a->metrics_addr, &b->metrics_addr) ||
		 a->metrics_port != b->metrics_port)
		key = "metrics_listen";
	else if (a->pbr_mark_lo != b->pbr_mark_lo || a->pbr_mark_hi != b->pbr_mark_hi)
		key = "pbr_marks";
	else if (a->pbr_table_lo != b->pbr_table_lo || a->pbr_table_hi != b->pbr_table_hi)
		key = "pbr_tables";
	else if (a->pbr_protocol != b->pbr_protocol)
		key = "pbr_protocol";
	else if (a->pbr_priority != b->pbr_priority)
		key = "pbr_priority";
	if (!key)
		return 0;
	snprintf(err, errlen,
		 "%s: [global] %s: changed, and it cannot change while coopd runs (restart it); "
		 "nothing was reloaded",
		 new->path, key);
	return -EOPNOTSUPP;
}

/* [global] keys that change live, said in note. */
static void apply_global(struct coop *c, const struct coop_config *old,
			 const struct coop_config *new, struct coop_change_note *note)
{
	c->drain_timeout = new->global.drain_timeout_ms / 1000.0;
	coop_conn_global_apply(c); /* c->cfg is new already */
	if (old->global.max_connections != new->global.max_connections)
		coop_change_note_add(note, "max_connections %u%s", new->global.max_connections,
				     new->global.max_connections ? "" : " (auto)");
	if (old->global.drain_timeout_ms != new->global.drain_timeout_ms)
		coop_change_note_add(note, "drain_timeout %u ms", new->global.drain_timeout_ms);
	if (old->global.admin_mode == new->global.admin_mode || !new->global.admin_socket[0])
		return;
	if (chmod(new->global.admin_socket, new->global.admin_mode) < 0)
		coop_warn("reload: admin_mode: chmod %s: %m", new->global.admin_socket);
	else
		coop_change_note_add(note, "admin_mode %04o", new->global.admin_mode);
}

static void vs_publish_all(struct coop_vs *vs)
{
	struct coop *c = vs->coop;
	size_t i;

	for (i = 0; i < c->n_mods; i++)
		if (c->mods[i]->vs_publish && coop_rt_mod_for(c->mods[i], vs))
			c->mods[i]->vs_publish(vs);
}

/* A new VS: its parts, then the table the workers see, then serving. */
static int add_vs(struct coop *c, const struct coop_vs_cfg *sec, char *err, size_t errlen)
{
	struct coop_vs *vs;
	int ret;

	ret = coop_rt_vs_make(c, sec, &vs, err, errlen);
	if (ret < 0)
		return ret;
	ret = coop_rt_batch_begin(c, err, errlen);
	if (ret < 0)
		goto err_free;
	ret = coop_rt_vs_up(vs, false, err, errlen);
	if (ret < 0) {
		coop_rt_batch_commit(c, NULL, 0);
		goto err_free;
	}
	ret = coop_rt_batch_commit(c, err, errlen);
	if (ret < 0)
		goto err_down;
	coop_workers_park(c);
	ret = coop_rt_vs_insert(c, vs);
	coop_workers_unpark(c);
	if (ret < 0) {
		snprintf(err, errlen, "vs '%s': out of memory", sec->name);
		goto err_down;
	}
	vs_publish_all(vs);
	return 0;

err_down:
	coop_rt_vs_down(vs);
err_free:
	coop_rt_vs_destroy(vs);
	return ret;
}

/* Swap the section the workers read (they hold no pointer into it across
 * callbacks, so once they were parked the old one is free to go). */
static void swap_cfg(struct coop_vs *vs, struct coop_vs_cfg *cfg)
{
	coop_workers_park(vs->coop);
	vs->cfg = cfg;
	coop_workers_unpark(vs->coop);
}

/* A changed VS, module by module. 0 done; -EOPNOTSUPP when only a rebuild
 * can; another -errno with err filled (rolled back to old). */
static int change_vs(struct coop_vs *vs, const struct coop_vs_cfg *sec,
		     struct coop_change_note *note, char *err, size_t errlen)
{
	struct coop *c = vs->coop;
	struct coop_vs_cfg *old = vs->cfg, *new;
	struct coop_change_note undo_note = { .len = 0 };
	char again[256];
	size_t i;
	int ret = 0;

	if (coop_rt_iso(c, sec) != vs->iso)
		return -EOPNOTSUPP;
	new = coop_vs_cfg_dup(sec);
	if (!new) {
		snprintf(err, errlen, "vs '%s': out of memory", sec->name);
		return -ENOMEM;
	}
	swap_cfg(vs, new);
	for (i = 0; i < c->n_mods; i++) {
		const struct coop_module *m = c->mods[i];

		if (!m->vs_change || !coop_rt_mod_for(m, vs))
			continue;
		ret = m->vs_change(vs, old, new, note, err, errlen);
		if (ret < 0)
			break;
	}
	if (ret == 0) {
		coop_vs_cfg_free(old);
		return 0;
	}
	/* back to old, module by module, in reverse */
	while (i--) {
		const struct coop_module *m = c->mods[i];

		if (!m->vs_change || !coop_rt_mod_for(m, vs))
			continue;
		if (m->vs_change(vs, new, old, &undo_note, again, sizeof(again)) < 0)
			coop_warn("vs '%s': %s: rolling back: %s", old->name, m->name, again);
	}
	swap_cfg(vs, old);
	coop_vs_cfg_free(new);
	return ret;
}

/* Names to look up in O(log n): a reload of a thousand VSes must not
 * compare every name with every other. */
struct name_ix {
	char name[COOP_NAME_MAX]; /* the VS's or the section's name (a copy: a VS
				   * retired during the reload takes its own) */
	void *p;                  /* the VS, or the section */
};

static int ix_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_ix *)a)->name, ((const struct name_ix *)b)->name);
}

static void *ix_find(const struct name_ix *ix, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, ix[mid].name);

		if (!c)
			return ix[mid].p;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The running VSes and the new file's sections, each sorted by name. */
static int ix_build(const struct coop *c, const struct coop_config *new, struct name_ix **vs_ix,
		    struct name_ix **sec_ix)
{
	size_t i;

	*vs_ix = calloc(c->n_vs + 1, sizeof(**vs_ix));
	*sec_ix = calloc(new->n_vs + 1, sizeof(**sec_ix));
	if (!*vs_ix || !*sec_ix) {
		free(*vs_ix);
		free(*sec_ix);
		return -ENOMEM;
	}
	for (i = 0; i < c->n_vs; i++) {
		memcpy((*vs_ix)[i].name, c->vs[i]->cfg->name, COOP_NAME_MAX);
		(*vs_ix)[i].p = c->vs[i];
	}
	for (i = 0; i < new->n_vs; i++) {
		memcpy((*sec_ix)[i].name, new->vs[i].name, COOP_NAME_MAX);
		(*sec_ix)[i].p = &new->vs[i];
	}
	coop_sort(*vs_ix, c->n_vs, sizeof(**vs_ix), ix_cmp);
	coop_sort(*sec_ix, new->n_vs, sizeof(**sec_ix), ix_cmp);
	return 0;
}

static void put_names(struct coop_json *out, const char *key, const struct plan *p,
		      enum outcome what)
{
	size_t i;

	coop_json_key(out, key);
	coop_json_array_begin(out);
	for (i = 0; i < p->n; i++)
		if (p->items[i].what == what)
			coop_json_string(out, p->items[i].name);
	coop_json_array_end(out);
}

static void put_reply(struct coop_json *out, const struct coop *c, const struct plan *p, double ms)
{
	size_t i;

	coop_json_object_begin(out);
	coop_json_kv_string(out, "file", c->cfg->path);
	put_names(out, "added", p, ADDED);
	put_names(out, "removed", p, REMOVED);
	put_names(out, "rebuilt", p, REBUILT);
	coop_json_key(out, "changed");
	coop_json_array_begin(out);
	for (i = 0; i < p->n; i++) {
		if (p->items[i].what != CHANGED)
			continue;
		coop_json_object_begin(out);
		coop_json_kv_string(out, "name", p->items[i].name);
		coop_json_kv_string(out, "what", p->items[i].note.text);
		coop_json_object_end(out);
	}
	coop_json_array_end(out);
	put_names(out, "kept", p, KEPT);
	coop_json_kv_string(out, "global", p->global.text);
	coop_json_key(out, "ms");
	coop_json_double(out, ms);
	coop_json_object_end(out);
}

/* "added a, b; removed c; ..." for the log and for an error message. */
static void summary(const struct plan *p, char *buf, size_t len)
{
	static const char *const words[] = { "kept", "added", "changed", "rebuilt", "removed",
					     "failed" };
	size_t off = 0, i, w, k;

	buf[0] = '\0';
	for (w = 0; w < COOP_ARRAY_LEN(words) && off < len; w++) {
		for (i = k = 0; i < p->n; i++)
			k += p->items[i].what == w;
		if (!k && w != KEPT)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "; " : "", words[w]);
		if (w == KEPT) {
			off += (size_t)snprintf(buf + off, len - off, " %zu", k);
			continue;
		}
		for (i = 0, k = 0; i < p->n && off < len; i++)
			if (p->items[i].what == w)
				off += (size_t)snprintf(buf + off, len - off, "%s%s", k++ ? ", " : " ",
							p->items[i].name);
	}
}

int coop_rt_reload(struct coop *c, struct coop_json *out, char *err, size_t errlen)
{
	struct coop_config *new, *old = c->cfg;
	struct name_ix *vs_ix = NULL, *sec_ix = NULL;
	size_t n_vs_ix;
	struct plan p = { 0 };
	double t0 = now_ms();
	char msg[1024], sum[1024];
	size_t i, n_failed = 0;
	int ret;

	if (!c->started) {
		snprintf(err, errlen, "coop is not running");
		return -EINVAL;
	}
	/* 1. the whole file, validated, before anything changes */
	ret = coop_config_load_again(old->path, old, &new, err, errlen);
	if (ret < 0)
		return ret;
	if ((ret = coop_rt_check(c, new, err, errlen)) < 0 ||
	    (ret = check_global(old, new, err, errlen)) < 0)
		goto err_free;
	for (i = 0; i < c->n_mods; i++)
		if (c->mods[i]->check && (ret = c->mods[i]->check(c, old, new, err, errlen)) < 0)
			goto err_free;
	n_vs_ix = c->n_vs;
	if (ix_build(c, new, &vs_ix, &sec_ix) < 0) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto err_free;
	}
	for (i = 0; i < new->n_vs; i++) {
		struct coop_vs *vs = ix_find(vs_ix, n_vs_ix, new->vs[i].name);

		if (vs && vs->state == COOP_VS_REMOVING) {
			snprintf(err, errlen,
				 "vs '%s' is still draining from an earlier reload; reload again once it is gone",
				 vs->cfg->name);
			ret = -EBUSY;
			goto err_free;
		}
	}
	p.items = calloc(c->n_vs + new->n_vs + 1, sizeof(*p.items));
	if (!p.items) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto err_free;
	}

	/* 2. the new file is the runtime's from now on */
	c->cfg = new;
	apply_global(c, old, new, &p.global);
	for (i = 0; i < c->n_mods; i++) {
		struct coop_change_note note = { .len = 0 };

		if (!c->mods[i]->reconfigure)
			continue;
		if (c->mods[i]->reconfigure(c, old, new, &note, msg, sizeof(msg)) < 0) {
			coop_warn("reload: %s: %s", c->mods[i]->name, msg);
			coop_change_note_add(&p.global, "%s: failed: %.200s", c->mods[i]->name, msg);
		} else if (note.len) {
			coop_change_note_add(&p.global, "%s: %s", c->mods[i]->name, note.text);
		}
	}

	/* 3. removed VSes drain and go (retiring may free them: walk a copy) */
	{
		struct coop_vs **gone = calloc(c->n_vs + 1, sizeof(*gone));
		size_t n_gone = 0;

		for (i = 0; gone && i < c->n_vs; i++)
			if (c->vs[i]->state != COOP_VS_REMOVING &&
			    !ix_find(sec_ix, new->n_vs, c->vs[i]->cfg->name))
				gone[n_gone++] = c->vs[i];
		for (i = 0; i < n_gone; i++) {
			item_add(&p, gone[i]->cfg->name, REMOVED);
			if (gone[i]->state == COOP_VS_LOST || gone[i]->state == COOP_VS_DOWN) {
				coop_workers_park(c);
				coop_rt_vs_unlink(c, gone[i]);
				coop_workers_unpark(c);
				coop_rt_vs_destroy(gone[i]);
			} else {
				coop_rt_vs_retire(gone[i]);
			}
		}
		free(gone);
	}

	/* 4. changed and added VSes */
	for (i = 0; i < new->n_vs; i++) {
		const struct coop_vs_cfg *sec = &new->vs[i];
		/* a name of the new file is never one of the VSes retired
		 * above, so the index made before them still holds */
		struct coop_vs *vs = ix_find(vs_ix, n_vs_ix, sec->name);
		struct item *it;

		if (vs && coop_vs_cfg_equal(vs->cfg, sec)) {
			item_add(&p, sec->name, KEPT);
			continue;
		}
		if (vs && vs->state == COOP_VS_LOST) {
			/* its namespace is gone: start it afresh */
			coop_workers_park(c);
			coop_rt_vs_unlink(c, vs);
			coop_workers_unpark(c);
			coop_rt_vs_destroy(vs);
			vs = NULL;
		}
		if (!vs) {
			it = item_add(&p, sec->name, ADDED);
			ret = add_vs(c, sec, msg, sizeof(msg));
		} else {
			it = item_add(&p, sec->name, CHANGED);
			ret = change_vs(vs, sec, &it->note, msg, sizeof(msg));
			if (ret == -EOPNOTSUPP) {
				/* only a rebuild does it: drain, then up again */
				it->what = REBUILT;
				vs->successor = coop_vs_cfg_dup(sec);
				if (!vs->successor) {
					snprintf(msg, sizeof(msg), "vs '%s': out of memory", sec->name);
					ret = -ENOMEM;
				} else {
					ret = 0;
					coop_rt_vs_retire(vs);
				}
			}
		}
		if (ret < 0) {
			it->what = FAILED;
			coop_change_note_add(&it->note, "%s", msg);
			if (!n_failed++)
				snprintf(p.first_err, sizeof(p.first_err), "%.900s", msg);
			coop_err("reload: %s (rolled back; the others go on)", msg);
		}
	}
	coop_config_free(old);
	summary(&p, sum, sizeof(sum));
	coop_info("reload of %s: %s%s%s (%.1f ms)", new->path, sum, p.global.len ? "; " : "",
		  p.global.text, now_ms() - t0);
	if (n_failed) {
		snprintf(err, errlen, "%.700s; that VS was rolled back, the rest applied (%.300s)", p.first_err,
			 sum);
		ret = -EIO;
	} else {
		ret = 0;
		if (out)
			put_reply(out, c, &p, now_ms() - t0);
	}
	free(p.items);
	free(vs_ix);
	free(sec_ix);
	return ret;

err_free:
	free(vs_ix);
	free(sec_ix);
	coop_config_free(new);
	coop_info("reload refused: %s", err);
	return ret;
}
