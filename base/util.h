/* util.h - the few helpers every file of coop shares: recover an object
 * from a member embedded in it (libev watchers, list links), count a fixed
 * array, sort what may be empty. */
#ifndef COOP_BASE_UTIL_H
#define COOP_BASE_UTIL_H

#include <stddef.h>
#include <stdlib.h>

/* The object of type `type` whose member `member` is at p. */
#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* Entries of a fixed-size array (not a pointer). */
#define COOP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* qsort that takes an empty array (NULL, 0): qsort's base must not be
 * NULL even then. */
static inline void coop_sort(void *base, size_t n, size_t size,
			     int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

#endif
