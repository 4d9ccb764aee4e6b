/* addr.c - IPv4/IPv6 addresses and prefixes: parse, format, compare. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"

int coop_addr_parse(const char *s, struct coop_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &out->v4) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &out->v6) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

const char *coop_addr_str(const struct coop_addr *a, char *buf, size_t len)
{
	const void *src = a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6;

	if (!len)
		return buf;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, src, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

unsigned coop_addr_bits(const struct coop_addr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

const uint8_t *coop_addr_bytes(const struct coop_addr *a)
{
	return a->family == AF_INET ? (const uint8_t *)&a->v4 : a->v6.s6_addr;
}

bool coop_addr_equal(const struct coop_addr *a, const struct coop_addr *b)
{
	return a->family == b->family && !memcmp(coop_addr_bytes(a), coop_addr_bytes(b), coop_addr_bits(a) / 8);
}

/* Neither unspecified nor multicast (nor v4 limited broadcast): something a
 * VS can own, or send to as its next hop. */
bool coop_addr_unicast(const struct coop_addr *a)
{
	if (a->family == AF_INET) {
		uint32_t v = ntohl(a->v4.s_addr);

		return v != 0 && (v >> 28) != 0xe && v != 0xffffffffu;
	}
	return !IN6_IS_ADDR_UNSPECIFIED(&a->v6) && !IN6_IS_ADDR_MULTICAST(&a->v6);
}

/* The first len bits of a and b are equal. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rem = len % 8;

	if (memcmp(a, b, full))
		return false;
	return !rem || ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rem))) == 0;
}

/* Interface addresses keep their host bits (198.18.1.1/24 is an address on
 * 198.18.1.0/24), so two prefixes overlap when their network parts agree at
 * the shorter of the two lengths. */
bool coop_prefix_overlap(const struct coop_prefix *a, const struct coop_prefix *b)
{
	unsigned len;

	if (a->addr.family != b->addr.family ||
	    (a->addr.family != AF_INET && a->addr.family != AF_INET6))
		return false;
	len = a->len < b->len ? a->len : b->len;
	if (len > coop_addr_bits(&a->addr))
		len = coop_addr_bits(&a->addr);
	return bits_equal(coop_addr_bytes(&a->addr), coop_addr_bytes(&b->addr), len);
}


/* The one prefix syntax, with the reason a caller may want to report. */
enum coop_pfx_result coop_prefix_parse_why(const char *s, bool need_len, struct coop_prefix *out)
{
	const char *slash = strchr(s, '/'), *p;
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	char abuf[INET6_ADDRSTRLEN];
	unsigned long len;

	memset(out, 0, sizeof(*out));
	if (alen >= sizeof(abuf))
		return COOP_PFX_BAD;
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';
	if (coop_addr_parse(abuf, &out->addr) < 0)
		return COOP_PFX_BAD;
	if (!slash) {
		out->len = (uint8_t)coop_addr_bits(&out->addr);
		return need_len ? COOP_PFX_NOLEN : COOP_PFX_OK;
	}
	/* Digits only: strtoul would take " 24", "+24" and "0x18". */
	for (p = slash + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return COOP_PFX_BAD;
	if (p == slash + 1)
		return COOP_PFX_BAD;
	if (p - slash > 4)
		return COOP_PFX_RANGE;
	len = strtoul(slash + 1, NULL, 10);
	if (len > coop_addr_bits(&out->addr))
		return COOP_PFX_RANGE;
	out->len = (uint8_t)len;
	return COOP_PFX_OK;
}

int coop_prefix_parse(const char *s, bool need_len, struct coop_prefix *out)
{
	if (!s) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return coop_prefix_parse_why(s, need_len, out) == COOP_PFX_OK ? 0 : -EINVAL;
}

/* --- small value parsers --------------------------------------------------- */

