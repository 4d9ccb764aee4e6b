/* array.c - the growable array (base/array.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"

void coop_array_init(struct coop_array *a, size_t size)
{
	memset(a, 0, sizeof(*a));
	a->size = size;
}

int coop_array_reserve(struct coop_array *a, size_t n)
{
	size_t cap = a->cap ? a->cap : 8;
	void *v;

	if (n <= a->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	v = realloc(a->v, cap * a->size);
	if (!v)
		return -ENOMEM;
	a->v = v;
	a->cap = cap;
	return 0;
}

void *coop_array_push(struct coop_array *a)
{
	void *e;

	if (coop_array_reserve(a, a->n + 1) < 0)
		return NULL;
	e = coop_array_at(a, a->n++);
	memset(e, 0, a->size);
	return e;
}

void coop_array_remove(struct coop_array *a, size_t i)
{
	if (i >= a->n)
		return;
	memmove(coop_array_at(a, i), coop_array_at(a, i + 1), (a->n - i - 1) * a->size);
	a->n--;
}

void coop_array_fini(struct coop_array *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}
