/* service.c - reference model of table publication (what the data path does with map-in-map): atomic pointer swap, hazard slots per reader, deferred free. */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fwd/model/model_priv.h"

#define SERVICE_READERS_MAX 1024

/* One reader's hazard pointer, alone on its cache line so readers on
 * different CPUs do not bounce a shared line. */
struct hazard {
	alignas(64) _Atomic(const struct coop_fwd_maglev *) table; /* pinned table, or NULL */
};

/* Written by the control thread; read by readers through cur and their own
 * hazard slot only. */
struct coop_fwd_service {
	_Atomic(struct coop_fwd_maglev *) cur; /* the published table */
	struct coop_fwd_maglev *retired;      /* replaced tables not yet freed */
	unsigned int nslots;                  /* reader slots */
	struct hazard *slots;                 /* nslots hazard pointers */
};

struct coop_fwd_service *coop_fwd_service_new(unsigned int max_readers)
{
	struct coop_fwd_service *svc;
	unsigned int i;

	if (max_readers == 0 || max_readers > SERVICE_READERS_MAX)
		return NULL;
	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return NULL;
	svc->slots = aligned_alloc(64, max_readers * sizeof(*svc->slots));
	if (!svc->slots) {
		free(svc);
		return NULL;
	}
	for (i = 0; i < max_readers; i++)
		atomic_init(&svc->slots[i].table, NULL);
	svc->nslots = max_readers;
	atomic_init(&svc->cur, NULL);
	return svc;
}

static bool held(const struct coop_fwd_service *svc, const struct coop_fwd_maglev *t)
{
	unsigned int i;

	for (i = 0; i < svc->nslots; i++)
		if (atomic_load_explicit(&svc->slots[i].table, memory_order_seq_cst) == t)
			return true;
	return false;
}

size_t coop_fwd_service_reclaim(struct coop_fwd_service *svc)
{
	struct coop_fwd_maglev **p = &svc->retired;
	size_t pending = 0;

	while (*p) {
		struct coop_fwd_maglev *t = *p;

		if (held(svc, t)) {
			pending++;
			p = &t->retired_next;
			continue;
		}
		*p = t->retired_next;
		coop_fwd_maglev_free(t);
	}
	return pending;
}

void coop_fwd_service_publish(struct coop_fwd_service *svc, struct coop_fwd_maglev *t)
{
	struct coop_fwd_maglev *old;

	/* seq_cst pairs with the reader's store-then-recheck in enter: a
	 * reader whose hazard store the scan below misses is ordered after
	 * this exchange, so its recheck sees t and it retries. */
	old = atomic_exchange_explicit(&svc->cur, t, memory_order_seq_cst);
	if (old) {
		old->retired_next = svc->retired;
		svc->retired = old;
	}
	coop_fwd_service_reclaim(svc);
}

const struct coop_fwd_maglev *coop_fwd_service_enter(struct coop_fwd_service *svc,
						     unsigned int slot)
{
	struct hazard *hz = &svc->slots[slot];
	const struct coop_fwd_maglev *t, *again;

	t = atomic_load_explicit(&svc->cur, memory_order_acquire);
	for (;;) {
		atomic_store_explicit(&hz->table, t, memory_order_seq_cst);
		again = atomic_load_explicit(&svc->cur, memory_order_seq_cst);
		if (again == t)
			return t;
		t = again;
	}
}

void coop_fwd_service_leave(struct coop_fwd_service *svc, unsigned int slot)
{
	atomic_store_explicit(&svc->slots[slot].table, NULL, memory_order_release);
}

void coop_fwd_service_free(struct coop_fwd_service *svc)
{
	struct coop_fwd_maglev *t;

	if (!svc)
		return;
	while ((t = svc->retired)) {
		svc->retired = t->retired_next;
		coop_fwd_maglev_free(t);
	}
	coop_fwd_maglev_free(atomic_load_explicit(&svc->cur, memory_order_relaxed));
	free(svc->slots);
	free(svc);
}
