/* vsctl.c - a VS's life through the modules: up (every module's part, in
 * order, undone backwards on failure), drain and resume, retire (drain,
 * then release once its connections are gone or drain_timeout passed),
 * lose (its namespace vanished) and down. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/rt.h"

/* How often a draining VS's connections are counted. */
#define DRAIN_POLL 0.05

int coop_rt_vs_make(struct coop *c, const struct coop_vs_cfg *sec, struct coop_vs **out,
		    char *err, size_t errlen)
{
	struct coop_vs *vs;
	size_t i;
	int ret;

	ret = coop_vs_new(c, sec, coop_rt_iso(c, sec), &vs, err, errlen);
	if (ret < 0)
		return ret;
	for (i = 0; i < c->n_mods; i++) {
		if (!c->mods[i]->vs_new || !coop_rt_mod_for(c->mods[i], vs))
			continue;
		ret = c->mods[i]->vs_new(vs, err, errlen);
		if (ret < 0) {
			while (i--)
				if (c->mods[i]->vs_free && coop_rt_mod_for(c->mods[i], vs))
					c->mods[i]->vs_free(vs);
			coop_vs_free(vs);
			return ret;
		}
	}
	*out = vs;
	return 0;
}

void coop_rt_vs_destroy(struct coop_vs *vs)
{
	struct coop *c;
	size_t i;

	if (!vs)
		return;
	c = vs->coop;
	for (i = c->n_mods; i-- > 0;)
		if (c->mods[i]->vs_free && coop_rt_mod_for(c->mods[i], vs))
			c->mods[i]->vs_free(vs);
	coop_vs_free(vs);
}

bool coop_rt_mod_for(const struct coop_module *m, const struct coop_vs *vs)
{
	return !m->iso || m->iso == vs->iso;
}

int coop_rt_batch_begin(struct coop *c, char *err, size_t errlen)
{
	size_t i;
	int ret;

	for (i = 0; i < c->n_mods; i++)
		if (c->mods[i]->batch_begin && (ret = c->mods[i]->batch_begin(c, err, errlen)) < 0)
			goto err_close;
	return 0;

err_close:
	/* close the batches already open (they hold nothing yet), so that
	 * no module stays in one, with its locks, after this failure */
	while (i--)
		if (c->mods[i]->batch_begin && c->mods[i]->batch_commit)
			c->mods[i]->batch_commit(c, NULL, 0);
	return ret;
}

int coop_rt_batch_commit(struct coop *c, char *err, size_t errlen)
{
	size_t i;
	int ret = 0, r;

	/* Every module commits even after one failed: each has VSes
	 * waiting for their state. The first failure is reported. */
	for (i = 0; i < c->n_mods; i++) {
		if (!c->mods[i]->batch_commit)
			continue;
		r = c->mods[i]->batch_commit(c, ret ? NULL : err, ret ? 0 : errlen);
		if (r < 0 && !ret)
			ret = r;
	}
	return ret;
}

int coop_rt_vs_insert(struct coop *c, struct coop_vs *vs)
{
	if (COOP_ARRAY_GROW(c->vs, c->cap_vs, c->n_vs + 1, 16) < 0)
		return -ENOMEM;
	c->vs[c->n_vs++] = vs;
	return 0;
}

void coop_rt_vs_unlink(struct coop *c, struct coop_vs *vs)
{
	size_t i;

	for (i = 0; i < c->n_vs; i++) {
		if (c->vs[i] == vs) {
			memmove(&c->vs[i], &c->vs[i + 1], (c->n_vs - i - 1) * sizeof(*c->vs));
			c->n_vs--;
			return;
		}
	}
}

static bool has_state(const struct coop_vs *vs)
{
	return vs->state == COOP_VS_UP || vs->state == COOP_VS_DRAINING ||
	       vs->state == COOP_VS_REMOVING || vs->state == COOP_VS_LOSING;
}

int coop_rt_vs_up(struct coop_vs *vs, bool publish, char *err, size_t errlen)
{
	struct coop *c = vs->coop;
	size_t i;
	int ret;

	for (i = 0; i < c->n_mods; i++) {
		const struct coop_module *m = c->mods[i];

		if (!m->vs_add || !coop_rt_mod_for(m, vs))
			continue;
		ret = m->vs_add(vs, err, errlen);
		if (ret < 0)
			goto err_undo;
	}
	vs->state = COOP_VS_UP;
	if (publish)
		for (i = 0; i < c->n_mods; i++)
			if (c->mods[i]->vs_publish && coop_rt_mod_for(c->mods[i], vs))
				c->mods[i]->vs_publish(vs);
	return 0;

err_undo:
	while (i--)
		if (c->mods[i]->vs_remove && coop_rt_mod_for(c->mods[i], vs))
			c->mods[i]->vs_remove(vs);
	return ret;
}

void coop_rt_vs_down(struct coop_vs *vs)
{
	struct coop *c = vs->coop;
	size_t i;

	if (!has_state(vs))
		return;
	for (i = c->n_mods; i-- > 0;)
		if (c->mods[i]->vs_remove && coop_rt_mod_for(c->mods[i], vs))
			c->mods[i]->vs_remove(vs);
	vs->state = COOP_VS_DOWN;
}

static void drain_mods(struct coop_vs *vs)
{
	struct coop *c = vs->coop;
	size_t i;

	for (i = c->n_mods; i-- > 0;)
		if (c->mods[i]->vs_drain && coop_rt_mod_for(c->mods[i], vs))
			c->mods[i]->vs_drain(vs);
}

int coop_rt_vs_drain(struct coop_vs *vs, char *err, size_t errlen)
{
	if (vs->state == COOP_VS_DRAINING)
		return 0;
	if (vs->state != COOP_VS_UP) {
		snprintf(err, errlen, "vs '%s' is %s: only a VS that is up can drain", vs->cfg->name,
			 coop_vs_state_name(vs->state));
		return -EINVAL;
	}
	drain_mods(vs);
	vs->state = COOP_VS_DRAINING;
	coop_info("vs '%s': draining (no new connections)", vs->cfg->name);
	return 0;
}

int coop_rt_vs_resume(struct coop_vs *vs, char *err, size_t errlen)
{
	struct coop *c = vs->coop;
	size_t i;
	int ret;

	if (vs->state == COOP_VS_UP)
		return 0;
	if (vs->state != COOP_VS_DRAINING) {
		snprintf(err, errlen, "vs '%s' is %s: only a draining VS can resume", vs->cfg->name,
			 coop_vs_state_name(vs->state));
		return -EINVAL;
	}
	for (i = 0; i < c->n_mods; i++) {
		if (!c->mods[i]->vs_resume || !coop_rt_mod_for(c->mods[i], vs))
			continue;
		ret = c->mods[i]->vs_resume(vs, err, errlen);
		if (ret < 0) {
			/* what resumed before it drains again */
			while (i--)
				if (c->mods[i]->vs_drain && coop_rt_mod_for(c->mods[i], vs))
					c->mods[i]->vs_drain(vs);
			return ret;
		}
	}
	vs->state = COOP_VS_UP;
	coop_info("vs '%s': accepting again", vs->cfg->name);
	return 0;
}

/* On each worker: let go of the VS (its watchers, channels and
 * connections). */
static void release_on_worker(struct coop_worker *w, void *arg)
{
	struct coop_vs *vs = arg;
	struct coop *c = vs->coop;
	size_t i;

	for (i = c->n_mods; i-- > 0;)
		if (c->mods[i]->vs_release_worker && coop_rt_mod_for(c->mods[i], vs))
			c->mods[i]->vs_release_worker(vs, w);
	coop_conn_close_vs(w, vs);
}

/* Stop serving vs: its traffic is dropped, every worker lets go of it,
 * then its modules' parts are removed. */
static void release(struct coop_vs *vs)
{
	struct coop *c = vs->coop;
	size_t i;

	for (i = c->n_mods; i-- > 0;)
		if (c->mods[i]->vs_lose && coop_rt_mod_for(c->mods[i], vs))
			c->mods[i]->vs_lose(vs);
	coop_workers_run(c, release_on_worker, vs);
	coop_rt_vs_down(vs);
}

void coop_rt_vs_lose(struct coop_vs *vs, const char *why)
{
	if (!has_state(vs) || vs->state == COOP_VS_LOSING)
		return;
	coop_err("vs '%s': %s; it stops serving", vs->cfg->name, why);
	snprintf(vs->lost_why, sizeof(vs->lost_why), "%s", why);
	if (ev_is_active(&vs->drain_timer))
		ev_timer_stop(vs->coop->loop, &vs->drain_timer);
	vs->state = COOP_VS_LOSING;
	release(vs);
	vs->state = COOP_VS_LOST;
	coop_info("vs '%s': released", vs->cfg->name);
}

/* A retired VS is gone: out of the table, freed, its successor up. */
static void retired(struct coop_vs *vs)
{
	struct coop *c = vs->coop;
	struct coop_vs_cfg *succ = vs->successor;
	struct coop_vs *next = NULL;
	char err[512];
	int ret;

	vs->state = COOP_VS_REMOVING;
	release(vs);
	coop_workers_park(c);
	coop_rt_vs_unlink(c, vs);
	coop_workers_unpark(c);
	coop_info("vs '%s': removed", vs->cfg->name);
	vs->successor = NULL;
	coop_rt_vs_destroy(vs);
	if (!succ)
		return;
	/* the rebuild of a VS a reload changed in a way only this can do */
	ret = coop_rt_vs_make(c, succ, &next, err, sizeof(err));
	if (ret == 0 && (ret = coop_rt_batch_begin(c, err, sizeof(err))) == 0) {
		ret = coop_rt_vs_up(next, false, err, sizeof(err));
		if (coop_rt_batch_commit(c, ret ? NULL : err, ret ? 0 : sizeof(err)) < 0 && !ret) {
			ret = -EIO;
			coop_rt_vs_down(next);
		}
		if (ret == 0) {
			coop_workers_park(c);
			ret = coop_rt_vs_insert(c, next);
			coop_workers_unpark(c);
			if (ret == 0) {
				size_t i;

				for (i = 0; i < c->n_mods; i++)
					if (c->mods[i]->vs_publish && coop_rt_mod_for(c->mods[i], next))
						c->mods[i]->vs_publish(next);
				coop_info("vs '%s': rebuilt", next->cfg->name);
			} else {
				snprintf(err, sizeof(err), "out of memory");
				coop_rt_vs_down(next);
			}
		}
	}
	if (ret < 0) {
		coop_err("vs '%s': rebuild failed: %s", succ->name, err);
		if (next && next->state == COOP_VS_DOWN)
			coop_rt_vs_destroy(next);
	}
	coop_vs_cfg_free(succ);
}

static void drain_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct coop_vs *vs = container_of(t, struct coop_vs, drain_timer);
	struct coop_vs_stats st;

	(void)revents;
	coop_vs_stats_get(vs, &st);
	if (st.active && ev_now(loop) < vs->drain_deadline)
		return;
	ev_timer_stop(loop, t);
	if (st.active)
		coop_warn("vs '%s': drain_timeout: closing its %llu connections left",
			  vs->cfg->name, (unsigned long long)st.active);
	retired(vs);
}

void coop_rt_vs_retire(struct coop_vs *vs)
{
	struct coop *c = vs->coop;

	if (vs->state == COOP_VS_UP)
		drain_mods(vs);
	vs->state = COOP_VS_REMOVING;
	vs->drain_deadline = ev_now(c->loop) + c->drain_timeout;
	ev_timer_init(&vs->drain_timer, drain_poll, 0., DRAIN_POLL);
	ev_timer_again(c->loop, &vs->drain_timer);
	/* nothing to wait for: go at once */
	drain_poll(c->loop, &vs->drain_timer, 0);
}
