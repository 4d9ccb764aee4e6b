/* hash.h - FNV-1a, the one non-cryptographic hash of coop's tables (namespace
 * handles, host names, cache keys, record names, stable pbr ids). Not for
 * anything a peer chooses in bulk: those tables bound their chains. */
#ifndef COOP_BASE_HASH_H
#define COOP_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define COOP_FNV32_INIT 2166136261u
#define COOP_FNV64_INIT 0xcbf29ce484222325ull

/* Continue a 32-bit FNV-1a over n bytes from h (start with COOP_FNV32_INIT). */
static inline uint32_t coop_fnv32(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

/* Continue a 64-bit FNV-1a over n bytes from h (start with COOP_FNV64_INIT). */
static inline uint64_t coop_fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

#endif
