/* dnsmsg.h - build DNS messages byte by byte for the resolver's unit tests
 * (crafted answers for the parser, and the replies of the in-process fake
 * server). Test-only; included by the tests next to it. */
#ifndef COOP_TEST_DNSMSG_H
#define COOP_TEST_DNSMSG_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#define MB_MAX 65536

/* A message being written. */
struct msgb {
	unsigned char buf[MB_MAX]; /* bytes */
	size_t len;		   /* written */
};

static inline void mb_u8(struct msgb *m, unsigned v)
{
	m->buf[m->len++] = (unsigned char)v;
}

static inline void mb_u16(struct msgb *m, unsigned v)
{
	mb_u8(m, v >> 8);
	mb_u8(m, v & 0xff);
}

static inline void mb_u32(struct msgb *m, uint32_t v)
{
	mb_u16(m, v >> 16);
	mb_u16(m, v & 0xffff);
}

static inline void mb_bytes(struct msgb *m, const void *p, size_t n)
{
	memcpy(m->buf + m->len, p, n);
	m->len += n;
}

/* An uncompressed name from dotted text ("" = root). */
static inline void mb_name(struct msgb *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		mb_u8(m, (unsigned)l);
		mb_bytes(m, name, l);
		name += l + (dot ? 1 : 0);
	}
	mb_u8(m, 0);
}

/* A compression pointer to offset off. */
static inline void mb_ptr(struct msgb *m, unsigned off)
{
	mb_u8(m, 0xc0 | (off >> 8));
	mb_u8(m, off & 0xff);
}

/* flags: the 16 bits after the id (QR=0x8000, AA=0x400, TC=0x200,
 * RD=0x100, RA=0x80, low 4 bits RCODE). */
static inline void mb_header(struct msgb *m, unsigned id, unsigned flags, unsigned qd, unsigned an,
			     unsigned ns, unsigned ar)
{
	m->len = 0;
	mb_u16(m, id);
	mb_u16(m, flags);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, ns);
	mb_u16(m, ar);
}

static inline void mb_question(struct msgb *m, const char *name, unsigned type)
{
	mb_name(m, name);
	mb_u16(m, type);
	mb_u16(m, 1);
}

/* Start a record whose owner is the question's name (pointer to 12); the
 * rdata follows; returns where its length goes, for mb_rr_end. */
static inline size_t mb_rr_q(struct msgb *m, unsigned type, uint32_t ttl)
{
	size_t at;

	mb_ptr(m, 12);
	mb_u16(m, type);
	mb_u16(m, 1);
	mb_u32(m, ttl);
	at = m->len;
	mb_u16(m, 0);
	return at;
}

/* The same with an owner written out in full. */
static inline size_t mb_rr(struct msgb *m, const char *owner, unsigned type, uint32_t ttl)
{
	size_t at;

	mb_name(m, owner);
	mb_u16(m, type);
	mb_u16(m, 1);
	mb_u32(m, ttl);
	at = m->len;
	mb_u16(m, 0);
	return at;
}

static inline void mb_rr_end(struct msgb *m, size_t at)
{
	size_t n = m->len - at - 2;

	m->buf[at] = (unsigned char)(n >> 8);
	m->buf[at + 1] = (unsigned char)(n & 0xff);
}

static inline void mb_a(struct msgb *m, const char *addr)
{
	struct in_addr a;

	inet_pton(AF_INET, addr, &a);
	mb_bytes(m, &a, 4);
}

static inline void mb_aaaa(struct msgb *m, const char *addr)
{
	struct in6_addr a;

	inet_pton(AF_INET6, addr, &a);
	mb_bytes(m, &a, 16);
}

/* An SOA rdata with the given MINIMUM. */
static inline void mb_soa(struct msgb *m, uint32_t minimum)
{
	mb_name(m, "ns.test");
	mb_name(m, "hostmaster.test");
	mb_u32(m, 2024010101);
	mb_u32(m, 3600);
	mb_u32(m, 600);
	mb_u32(m, 86400);
	mb_u32(m, minimum);
}

#endif
