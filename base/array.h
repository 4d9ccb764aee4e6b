/* array.h - a growable array of fixed-size elements: amortised doubling,
 * elements stay contiguous (so a pointer into it is valid until the next
 * growth). Owned by whoever embeds it; not thread-safe. */
#ifndef COOP_BASE_ARRAY_H
#define COOP_BASE_ARRAY_H

#include <stddef.h>

struct coop_array {
	void *v;     /* elements */
	size_t n;    /* in use */
	size_t cap;  /* allocated */
	size_t size; /* bytes per element */
};

/* An empty array of elements of `size` bytes (no allocation yet). */
void coop_array_init(struct coop_array *a, size_t size);
/* Room for at least n elements in all. 0 or -ENOMEM (a is unchanged). */
int coop_array_reserve(struct coop_array *a, size_t n);
/* Append one zeroed element and return it, or NULL on ENOMEM. */
void *coop_array_push(struct coop_array *a);
/* Remove element i, moving the later ones down (order kept). */
void coop_array_remove(struct coop_array *a, size_t i);
/* Element i (no bounds check). */
static inline void *coop_array_at(const struct coop_array *a, size_t i)
{
	return (char *)a->v + i * a->size;
}
/* Free the elements; a is empty again and reusable. */
void coop_array_fini(struct coop_array *a);

#endif
