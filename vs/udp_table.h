/* udp_table.h - inside libcoop: the UDP demux's address table, mapping a
 * destination address (IPv4 or IPv6) to the bind that owns it; open
 * addressing with linear probing, at most half full, backward-shift
 * deletion. One table per (namespace, port) group, in vs/udp.c.
 *
 * Not thread-safe: changed by the control thread only while no worker
 * reads it (see vs/udp.h). */
#ifndef COOP_VS_UDP_TABLE_H
#define COOP_VS_UDP_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct udp_bind;

/* A slot. */
struct coop_udp_entry {
	struct udp_bind *b; /* owner; NULL = empty slot */
	uint32_t family;    /* AF_INET or AF_INET6 */
	uint8_t addr[16];   /* address; IPv4 in the first 4 bytes, rest zero */
};

struct coop_udp_table {
	struct coop_udp_entry *slots; /* mask + 1 of them, or NULL when empty */
	size_t mask;		      /* size - 1 (a power of two) */
	size_t n;		      /* slots used */
};

/* The owner of addr (16 bytes as stored, see coop_udp_entry), or NULL. */
struct udp_bind *coop_udp_table_find(const struct coop_udp_table *t, uint32_t family,
				     const uint8_t addr[16]);
/* Give addr to b. 0, -EEXIST (the holder in *owner) or -ENOMEM. */
int coop_udp_table_insert(struct coop_udp_table *t, uint32_t family, const uint8_t addr[16],
			  struct udp_bind *b, struct udp_bind **owner);
/* Take addr back if b holds it (otherwise nothing happens). */
void coop_udp_table_remove(struct coop_udp_table *t, uint32_t family, const uint8_t addr[16],
			   const struct udp_bind *b);
/* Free the slots; the table is empty and usable again. */
void coop_udp_table_clear(struct coop_udp_table *t);

#endif
