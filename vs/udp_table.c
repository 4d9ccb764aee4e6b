/* udp_table.c - the UDP demux's address table: destination address to
 * owning bind, open addressing with linear probing and backward-shift
 * deletion (no tombstones, so lookups never slow down with churn). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vs/udp_table.h"

/* Keys are configured addresses, not chosen by senders, so a fixed mix is
 * enough: a sender can only probe clusters that exist, and the table is at
 * most half full. */
static size_t addr_hash(uint32_t family, const uint8_t addr[16])
{
	uint64_t x, y, h;

	memcpy(&x, addr, 8);
	memcpy(&y, addr + 8, 8);
	h = (x ^ family) * 0x9E3779B97F4A7C15ull;
	h ^= y * 0xC2B2AE3D27D4EB4Full;
	h ^= h >> 31;
	h *= 0xD6E8FEB86659FD93ull;
	h ^= h >> 32;
	return (size_t)h;
}

struct udp_bind *coop_udp_table_find(const struct coop_udp_table *t, uint32_t family,
				     const uint8_t addr[16])
{
	size_t i;

	if (!t->slots)
		return NULL;
	for (i = addr_hash(family, addr) & t->mask;; i = (i + 1) & t->mask) {
		const struct coop_udp_entry *e = &t->slots[i];

		if (!e->b)
			return NULL;
		if (e->family == family && !memcmp(e->addr, addr, 16))
			return e->b;
	}
}

static void table_put(struct coop_udp_table *t, const struct coop_udp_entry *src)
{
	size_t i;

	for (i = addr_hash(src->family, src->addr) & t->mask; t->slots[i].b; i = (i + 1) & t->mask)
		;
	t->slots[i] = *src;
	t->n++;
}

static int table_grow(struct coop_udp_table *t)
{
	size_t size = t->slots ? (t->mask + 1) * 2 : 16, i;
	struct coop_udp_table nt = {.mask = size - 1};

	nt.slots = calloc(size, sizeof(*nt.slots));
	if (!nt.slots)
		return -ENOMEM;
	for (i = 0; t->slots && i <= t->mask; i++)
		if (t->slots[i].b)
			table_put(&nt, &t->slots[i]);
	free(t->slots);
	*t = nt;
	return 0;
}

int coop_udp_table_insert(struct coop_udp_table *t, uint32_t family, const uint8_t addr[16],
			  struct udp_bind *b, struct udp_bind **owner)
{
	struct coop_udp_entry e = {.b = b, .family = family};
	struct udp_bind *cur = coop_udp_table_find(t, family, addr);
	int ret;

	if (cur) {
		*owner = cur;
		return -EEXIST;
	}
	if (!t->slots || (t->n + 1) * 2 > t->mask + 1) {
		ret = table_grow(t);
		if (ret < 0)
			return ret;
	}
	memcpy(e.addr, addr, 16);
	table_put(t, &e);
	return 0;
}

/* Backward-shift deletion keeps every probe chain unbroken without
 * tombstones. */
void coop_udp_table_remove(struct coop_udp_table *t, uint32_t family, const uint8_t addr[16],
			   const struct udp_bind *b)
{
	size_t i, j, home;

	if (!t->slots)
		return;
	for (i = addr_hash(family, addr) & t->mask;; i = (i + 1) & t->mask) {
		if (!t->slots[i].b)
			return;
		if (t->slots[i].family == family && !memcmp(t->slots[i].addr, addr, 16))
			break;
	}
	if (t->slots[i].b != b)
		return;
	for (j = (i + 1) & t->mask; t->slots[j].b; j = (j + 1) & t->mask) {
		home = addr_hash(t->slots[j].family, t->slots[j].addr) & t->mask;
		/* Move j into the hole at i unless its home lies cyclically
		 * in (i, j]: then it is still reachable from its home. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	memset(&t->slots[i], 0, sizeof(t->slots[i]));
	t->n--;
}

void coop_udp_table_clear(struct coop_udp_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->mask = 0;
	t->n = 0;
}
