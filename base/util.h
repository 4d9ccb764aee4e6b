/* util.h - the few macros every file of coop shares: recover an object from
 * a member embedded in it (libev watchers, list links) and count a fixed
 * array. */
#ifndef COOP_BASE_UTIL_H
#define COOP_BASE_UTIL_H

#include <stddef.h>

/* The object of type `type` whose member `member` is at p. */
#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* Entries of a fixed-size array (not a pointer). */
#define COOP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
