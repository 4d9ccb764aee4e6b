/* array.h - growing an array kept as pointer + count + capacity: the one
 * doubling rule of coop's growable tables (config sections and keys, the
 * VS table, pbr namespaces, ...). Not thread-safe: the owner's. */
#ifndef COOP_BASE_ARRAY_H
#define COOP_BASE_ARRAY_H

#include <stddef.h>

/* Make room in *v (elements of size bytes, *cap allocated) for at least
 * need elements, doubling from min_cap. Elements keep their place; the
 * array may move. 0, or -ENOMEM with *v and *cap unchanged. */
int coop_array_grow(void **v, size_t *cap, size_t need, size_t size, size_t min_cap);

/* coop_array_grow for a typed pointer: COOP_ARRAY_GROW(arr, cap, need). */
#define COOP_ARRAY_GROW(arr, cap, need, min_cap)                                         \
	coop_array_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)), (min_cap))

#endif
