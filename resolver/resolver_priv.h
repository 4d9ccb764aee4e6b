/* resolver_priv.h - inside the resolver module: DNS message parsing, result
 * objects, the TTL cache and the per-VS hosts file, shared by the files of resolver/. */
#ifndef COOP_RESOLVER_PRIV_H
#define COOP_RESOLVER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolver/coop_resolver.h"

/* Longest name in text form with \DDD escapes (255 wire bytes, 4 text
 * bytes each at worst), with the NUL. */
#define RES_TEXT_NAME_MAX 1024
/* TTLs above this are clamped (RFC 2181 allows 2^31-1; nobody means it). */
#define RES_TTL_CAP 86400u
/* Lookups of one name follow at most this many CNAMEs. */
#define RES_CNAME_MAX 16
/* DNS classes and rcodes we use. */
#define RES_CLASS_IN	   1
#define RES_RCODE_NOERROR  0
#define RES_RCODE_NXDOMAIN 3

/* --- memory for result strings (dns.c) ------------------------------------ */

/* A chain of blocks holding a result's strings and rdata, freed in one go. */
struct res_chunk {
	struct res_chunk *next; /* older block */
	size_t used, size;	/* bytes taken / available in data */
	char data[];		/* the bytes */
};

struct res_arena {
	struct res_chunk *head; /* newest block, NULL when empty */
};

void *res_arena_alloc(struct res_arena *a, size_t n);
char *res_arena_strdup(struct res_arena *a, const char *s);
/* Move every block of from into to (from becomes empty). */
void res_arena_take(struct res_arena *to, struct res_arena *from);
void res_arena_free(struct res_arena *a);

/* --- records being collected (dns.c) -------------------------------------- */

/* The records of one type found for one question, with their strings. */
struct res_rrset {
	struct coop_resolver_rr *rrs; /* records (strings in arena) */
	size_t n, cap;		      /* used / allocated */
	struct res_arena arena;	      /* their strings and rdata */
	char *canonical;	      /* end of the CNAME chain (in arena), or NULL */
	uint32_t ttl;		      /* min TTL of the records and the chain */
};

void res_rrset_init(struct res_rrset *s);
void res_rrset_clear(struct res_rrset *s);
/* Append a record (strings already in s->arena); -ENOMEM. */
int res_rrset_push(struct res_rrset *s, const struct coop_resolver_rr *rr);

/* What a DNS answer said besides its records. */
struct res_msg_info {
	int rcode;		       /* RCODE of the header */
	bool truncated;		       /* TC bit */
	bool has_soa;		       /* an SOA in the authority section: the negative TTL */
	uint32_t neg_ttl;	       /* min(SOA TTL, SOA MINIMUM) when has_soa */
	char qname[RES_TEXT_NAME_MAX]; /* the question's name */
};

/* Parse a DNS message: the records of qtype reached from the question's
 * name through CNAMEs go into out (appended), the rest into info. Returns 0
 * or -EBADMSG (malformed) / -ENOMEM. */
int res_dns_parse(const unsigned char *msg, size_t len, uint16_t qtype, struct res_rrset *out,
		  struct res_msg_info *info);

/* Read a possibly compressed name at *off of msg into text form (no final
 * dot; "" for the root); *off moves past it. 0 or -EBADMSG. */
int res_dns_name(const unsigned char *msg, size_t len, size_t *off, char *out, size_t outlen);

/* Case-insensitive equality of two names in text form. */
bool res_name_eq(const char *a, const char *b);

/* Parse a reverse name (x.x.x.x.in-addr.arpa or 32 nibbles .ip6.arpa). */
bool res_ptr_name_parse(const char *name, struct coop_resolver_addr *out);

/* --- results (dns.c) ------------------------------------------------------ */

/* A result with its reference count and storage. */
struct res_result {
	struct coop_resolver_result pub;  /* what callers see (first member) */
	_Atomic unsigned refs;		  /* holders */
	struct res_arena arena;		  /* every string and rdata */
	struct coop_resolver_rr *rrs;	  /* pub.rrs, owned */
	struct coop_resolver_addr *addrs; /* pub.addrs, owned */
};

/* Build a result from up to two record sets (moved: they are left empty).
 * name is the name asked that answered. NULL on ENOMEM. */
struct res_result *res_result_build(const char *name, uint16_t type,
				    enum coop_resolver_source source, struct res_rrset *a,
				    struct res_rrset *b);
struct res_result *res_result_hold(struct res_result *r);
void res_result_release(struct res_result *r);

/* --- the cache (cache.c) -------------------------------------------------- */

/* A bounded LRU of answers keyed by (kind, name), each until its TTL ends.
 * Safe for any thread (one mutex); results are shared by reference. */
struct res_cache;

/* max 0 = a cache that holds nothing. NULL on ENOMEM. */
struct res_cache *res_cache_new(unsigned max);
void res_cache_free(struct res_cache *c);
/* A live entry: true with *status (0, -ENOENT or -ENODATA) and *res (a
 * reference for the caller when status is 0, else NULL). Expired entries
 * found are dropped. */
bool res_cache_get(struct res_cache *c, uint32_t kind, const char *name, uint64_t now_ms,
		   int *status, struct res_result **res);
/* Store (replacing an entry of the same key) for ttl seconds from now_ms,
 * unless gen is not the cache's generation (an answer to an older
 * configuration) or ttl is 0. res is held by the cache, NULL for a
 * negative entry. Evicts the least recently used entry when full. */
void res_cache_put(struct res_cache *c, uint64_t gen, uint32_t kind, const char *name, int status,
		   struct res_result *res, uint32_t ttl, uint64_t now_ms);
/* Drop every entry; from now on only answers of generation gen are stored,
 * at most max of them. */
void res_cache_reset(struct res_cache *c, uint64_t gen, unsigned max);
size_t res_cache_count(struct res_cache *c);

/* --- the hosts file (hosts.c) --------------------------------------------- */

/* A parsed hosts file: immutable, shared by the settings that loaded it. */
struct res_hosts;

/* Parse path ("ADDRESS NAME [ALIAS...]" lines, '#' comments). 0 or -errno
 * with "hosts_file PATH: line N: problem" in err. */
int res_hosts_load(const char *path, struct res_hosts **out, char *err, size_t errlen);
void res_hosts_free(struct res_hosts *h);
/* Addresses of name (case-insensitive, no final dot) of family (AF_UNSPEC
 * for both) in file order into out[max]: how many were found (may exceed
 * max: only max are written). *canonical gets the first name of the first
 * matching line. */
size_t res_hosts_addrs(const struct res_hosts *h, const char *name, int family,
		       struct coop_resolver_addr *out, size_t max, const char **canonical);
/* The first name of the first line with address a, or NULL. */
const char *res_hosts_name(const struct res_hosts *h, const struct coop_resolver_addr *a);
/* Entries (address, name) pairs loaded. */
size_t res_hosts_count(const struct res_hosts *h);

/* --- names (conf.c) ------------------------------------------------------- */

/* Check a name given to a lookup or a search domain: 1..253 bytes of
 * labels of 1..63 printable non-space bytes, an optional final dot. */
bool res_name_valid(const char *name);

/* --- time ------------------------------------------------------------------ */

/* Monotonic milliseconds (coarse clock: TTLs are seconds). */
uint64_t res_now_ms(void);

#endif
