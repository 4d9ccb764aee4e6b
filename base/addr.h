/* addr.h - IPv4/IPv6 addresses and prefixes as configured on VSes: parse,
 * format, compare. Plain data; any thread. */
#ifndef COOP_BASE_ADDR_H
#define COOP_BASE_ADDR_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An IPv4 or IPv6 address. */
struct coop_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

/* An address with its prefix length, as configured on a VS. */
struct coop_prefix {
	struct coop_addr addr;
	uint8_t len;            /* prefix length */
	char ifname[IF_NAMESIZE]; /* link carrying it ("" = the VS interface) */
};

/* Parse "198.18.1.1/24" or "2001:db8::1/64" (prefix required when
 * need_len, else optional and defaulting to the host length). */
int coop_prefix_parse(const char *s, bool need_len, struct coop_prefix *out);
/* Parse a bare address. Returns 0 or -EINVAL. */
int coop_addr_parse(const char *s, struct coop_addr *out);
/* Format an address (no prefix) into buf (INET6_ADDRSTRLEN bytes). */
const char *coop_addr_str(const struct coop_addr *a, char *buf, size_t len);
/* True when two prefixes overlap (share at least one address). */
bool coop_prefix_overlap(const struct coop_prefix *a, const struct coop_prefix *b);

/* Same family, same address. */
bool coop_addr_equal(const struct coop_addr *a, const struct coop_addr *b);
/* Neither unspecified nor multicast (nor v4 limited broadcast). */
bool coop_addr_unicast(const struct coop_addr *a);

enum coop_pfx_result {
	COOP_PFX_OK,    /* parsed */
	COOP_PFX_BAD,   /* not ADDR or ADDR/LEN */
	COOP_PFX_NOLEN, /* ADDR without the /LEN that was required */
	COOP_PFX_RANGE, /* LEN larger than the family allows */
};

/* coop_prefix_parse() with the reason a caller may want to report. */
enum coop_pfx_result coop_prefix_parse_why(const char *s, bool need_len, struct coop_prefix *out);
/* 32 or 128. */
unsigned coop_addr_bits(const struct coop_addr *a);
/* The address bytes (4 or 16, network order). */
const uint8_t *coop_addr_bytes(const struct coop_addr *a);

#endif
