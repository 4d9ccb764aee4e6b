/* vs.c - the virtual server object: creation with its own copy of its
 * section, the scope-socket helper, lookup and counters. Bringing a VS up
 * and down is the runtime's (runtime/vsctl.c), through the modules. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/vs.h"

int coop_vs_new(struct coop *c, const struct coop_vs_cfg *cfg, const struct coop_iso_ops *iso,
		struct coop_vs **out, char *err, size_t errlen)
{
	struct coop_vs *vs;

	vs = calloc(1, sizeof(*vs));
	if (!vs)
		goto err_nomem;
	vs->coop = c;
	vs->iso = iso;
	vs->cfg = coop_vs_cfg_dup(cfg);
	if (!vs->cfg)
		goto err_free_vs;
	vs->n_workers = c->n_workers;
	vs->wstats = aligned_alloc(64, sizeof(*vs->wstats) * c->n_workers);
	if (!vs->wstats)
		goto err_free_cfg;
	memset(vs->wstats, 0, sizeof(*vs->wstats) * c->n_workers);
	*out = vs;
	return 0;

err_free_cfg:
	coop_vs_cfg_free(vs->cfg);
err_free_vs:
	free(vs);
err_nomem:
	snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
	return -ENOMEM;
}

void coop_vs_free(struct coop_vs *vs)
{
	if (!vs)
		return;
	coop_vs_cfg_free(vs->successor);
	coop_vs_cfg_free(vs->cfg);
	free(vs->wstats);
	free(vs);
}

void coop_vs_lose(struct coop_vs *vs, const char *why)
{
	if (vs->coop->vs_lost)
		vs->coop->vs_lost(vs, why);
}

const char *coop_vs_state_name(enum coop_vs_state st)
{
	switch (st) {
	case COOP_VS_DOWN: return "down";
	case COOP_VS_UP: return "up";
	case COOP_VS_DRAINING: return "draining";
	case COOP_VS_REMOVING: return "removing";
	case COOP_VS_LOSING: return "losing";
	case COOP_VS_LOST: return "lost";
	}
	return "unknown";
}

int coop_vs_socket(struct coop_vs *vs, int domain, int type, int protocol)
{
	return vs->iso->socket(vs, domain, type, protocol);
}

const char *coop_vs_name(const struct coop_vs *vs)
{
	return vs->cfg->name;
}

size_t coop_vs_count(const struct coop *c)
{
	return c->n_vs;
}

struct coop_vs *coop_vs_at(const struct coop *c, size_t i)
{
	return i < c->n_vs ? c->vs[i] : NULL;
}

struct coop_vs *coop_vs_find(const struct coop *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_vs; i++)
		if (!strcmp(c->vs[i]->cfg->name, name))
			return c->vs[i];
	return NULL;
}

void coop_vs_stats_get(const struct coop_vs *vs, struct coop_vs_stats *out)
{
	uint64_t closed = 0;
	unsigned w;

	memset(out, 0, sizeof(*out));
	for (w = 0; w < vs->n_workers; w++) {
		const struct coop_vs_wstats *s = &vs->wstats[w];

		out->accepted += atomic_load_explicit(&s->accepted, memory_order_relaxed);
		out->outbound += atomic_load_explicit(&s->outbound, memory_order_relaxed);
		closed += atomic_load_explicit(&s->closed, memory_order_relaxed);
		out->bytes_in += atomic_load_explicit(&s->bytes_in, memory_order_relaxed);
		out->bytes_out += atomic_load_explicit(&s->bytes_out, memory_order_relaxed);
	}
	/* Each counter is read once, so a close may be seen before its
	 * accept on another worker's line: clamp rather than wrap. */
	out->active = out->accepted + out->outbound > closed ? out->accepted + out->outbound - closed : 0;
}

/* --- modules ------------------------------------------------------------------ */

const struct coop_module *const *coop_modules(const struct coop *c, size_t *n)
{
	*n = c->n_mods;
	return c->mods;
}

void *coop_module_priv(const struct coop *c, enum coop_module_id id)
{
	return id < COOP_MOD_MAX ? c->priv[id] : NULL;
}

void coop_module_set_priv(struct coop *c, enum coop_module_id id, void *priv)
{
	if (id < COOP_MOD_MAX)
		c->priv[id] = priv;
}

void coop_change_note_add(struct coop_change_note *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (n->len + 3 >= sizeof(n->text))
		return;
	if (n->len) {
		memcpy(n->text + n->len, ", ", 3);
		n->len += 2;
	}
	va_start(ap, fmt);
	k = vsnprintf(n->text + n->len, sizeof(n->text) - n->len, fmt, ap);
	va_end(ap);
	if (k > 0)
		n->len += (size_t)k < sizeof(n->text) - n->len ? (size_t)k : sizeof(n->text) - n->len - 1;
}
