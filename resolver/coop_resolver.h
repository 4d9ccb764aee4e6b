/* coop_resolver.h - public API of coop's per-VS DNS resolvers: asynchronous
 * name and record lookups through a virtual server's own DNS servers, from
 * inside its own scope (namespace or mark), with a bounded TTL cache.
 *
 * Threads. A resolver (one per VS) is shared by every thread; the c-ares
 * channels that do the work are not: each thread that resolves gets its own
 * channel for that VS, created on its first lookup and driven by that
 * thread's libev loop. A lookup is therefore started on the thread that
 * wants the answer, with that thread's loop, and its callback runs on that
 * same thread. Worker threads pass loop = NULL (their own loop is found);
 * the control thread and an embedder's own threads pass their loop.
 * docs/resolver.md has the whole design. */
#ifndef COOP_RESOLVER_H
#define COOP_RESOLVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;
struct coop_vs;

/* A VS's resolver: settings, cache, counters, per-thread channels. Opaque. */
struct coop_resolver;
/* A lookup in progress, owned by the thread that started it. Opaque. */
struct coop_resolver_query;

/* --- settings ------------------------------------------------------------ */

#define COOP_RESOLVER_SERVERS_MAX  8	   /* dns = entries */
#define COOP_RESOLVER_SEARCH_MAX   6	   /* search = domains (as glibc) */
#define COOP_RESOLVER_NAME_MAX	   256	   /* a domain name in text, with the NUL */
#define COOP_RESOLVER_NDOTS_MAX	   15	   /* as resolv.conf */
#define COOP_RESOLVER_ATTEMPTS_MAX 5	   /* as resolv.conf */
#define COOP_RESOLVER_TIMEOUT_MAX  30000   /* ms, as resolv.conf's 30 s */
#define COOP_RESOLVER_CACHE_MAX	   1000000 /* entries */

/* One DNS server of a VS. */
struct coop_resolver_server {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
	uint16_t port; /* host byte order; 53 unless given */
};

/*
 * The DNS settings of one VS, as the [vs NAME] keys give them (see
 * coop_resolver_conf_set for the keys). Plain data: copy it freely.
 */
struct coop_resolver_conf {
	struct coop_resolver_server servers[COOP_RESOLVER_SERVERS_MAX]; /* dns = */
	unsigned n_servers; /* 0 = the VS has no resolver */
	char search[COOP_RESOLVER_SEARCH_MAX][COOP_RESOLVER_NAME_MAX]; /* search = */
	unsigned n_search;     /* 0 = names are only tried as given */
	unsigned ndots;	       /* ndots = (default 1) */
	unsigned timeout_ms;   /* dns_timeout = per attempt (default 2000) */
	unsigned attempts;     /* dns_attempts = per server (default 2) */
	unsigned cache_size;   /* dns_cache = entries (default 1024, 0 = off) */
	char hosts_file[4096]; /* hosts_file = ("" = none) */
	unsigned given;	       /* bit 1 << COOP_RESOLVER_KEY_* per key present,
				* so "absent" differs from a default and
				* keys that need dns = can be reported */
};

/* Bits of struct coop_resolver_conf.given. */
enum {
	COOP_RESOLVER_KEY_DNS,
	COOP_RESOLVER_KEY_SEARCH,
	COOP_RESOLVER_KEY_NDOTS,
	COOP_RESOLVER_KEY_TIMEOUT,
	COOP_RESOLVER_KEY_ATTEMPTS,
	COOP_RESOLVER_KEY_CACHE,
	COOP_RESOLVER_KEY_HOSTS,
};

/* Defaults, no servers (= no resolver). */
void coop_resolver_conf_init(struct coop_resolver_conf *conf);
/* One shared, read-only conf with those defaults. Any thread. */
const struct coop_resolver_conf *coop_resolver_conf_defaults(void);

/* Apply one [vs NAME] key: dns, search, ndots, dns_timeout, dns_attempts,
 * dns_cache, hosts_file (docs/config.md describes them). Returns 0;
 * -ENOENT when key is not a resolver key (err untouched, so a loader can try
 * its other tables); -EINVAL with the problem in err (the caller names the
 * key and where it was). Any thread. */
int coop_resolver_conf_set(struct coop_resolver_conf *conf, const char *key, const char *value,
			   char *err, size_t errlen);

/* Validate the settings as a whole: keys that need dns = (search, ndots,
 * hosts_file, ...) and, when read_files, that the hosts file can be read
 * and parsed. Returns 0, or -errno with the key at fault in *key and the
 * problem in err. Any thread. */
int coop_resolver_conf_check(const struct coop_resolver_conf *conf, bool read_files,
			     const char **key, char *err, size_t errlen);

/* Write the server list as "198.18.1.2:53,[2001:db8::1]:5353" into buf.
 * Returns buf. */
const char *coop_resolver_conf_servers_str(const struct coop_resolver_conf *conf, char *buf,
					   size_t len);

/* --- resolvers ----------------------------------------------------------- */

/* Makes the sockets of a resolver: fd or -errno. Called on the thread that
 * resolves, with SOCK_NONBLOCK|SOCK_CLOEXEC already in type. */
typedef int (*coop_resolver_socket_fn)(void *ctx, int domain, int type, int protocol);

/* Create a resolver named name (for messages) whose sockets come from
 * sockfn(ctx, ...). slots = how many different loops (threads) may use it
 * at once. conf may have no servers: the resolver then exists but every
 * lookup fails with -ENOTSUP until coop_resolver_configure gives it some.
 * Returns 0 or -errno with err filled. Any thread. */
int coop_resolver_new(const char *name, const struct coop_resolver_conf *conf,
		      coop_resolver_socket_fn sockfn, void *ctx, unsigned slots,
		      struct coop_resolver **out, char *err, size_t errlen);

/* Destroy a resolver: its channels (their sockets, watchers and timers),
 * lookups still in progress (without calling their callbacks) and cache.
 * Call when no thread uses it any more: for a VS, after the workers have
 * stopped and before their loops are destroyed (coop_vs_down does so). */
void coop_resolver_free(struct coop_resolver *r);

/* Refuse new lookups from now on (-ESHUTDOWN): the VS is going away.
 * Lookups in progress go on until their channel is released. Any thread. */
void coop_resolver_shutdown(struct coop_resolver *r);

/* Destroy the channels of loop now: lookups still running there end with
 * -ESHUTDOWN (their callbacks run, on this thread), then the sockets,
 * watchers and timers go. On the thread running loop, outside any resolver
 * callback, after coop_resolver_shutdown (so no callback starts another
 * lookup): how a thread lets go of a VS that is going away. */
void coop_resolver_release_loop(struct coop_resolver *r, struct ev_loop *loop);

/* Replace the settings. Lookups started after this returns use the new
 * servers, search list and hosts file (each thread's channel is rebuilt on
 * its next lookup); lookups in progress finish on the old ones. The cache
 * is emptied. Returns 0 or -errno with err filled (the old settings stay).
 * Any thread. */
int coop_resolver_configure(struct coop_resolver *r, const struct coop_resolver_conf *conf,
			    char *err, size_t errlen);

/* True when the resolver has servers (a lookup can succeed). Any thread. */
bool coop_resolver_enabled(const struct coop_resolver *r);

/* Copy the current settings into *out. Any thread. */
void coop_resolver_conf_get(const struct coop_resolver *r, struct coop_resolver_conf *out);

/* Empty the cache. Any thread. */
void coop_resolver_cache_flush(struct coop_resolver *r);

/* The resolver of a VS (never NULL once the VS is up; it may have no
 * servers, see coop_resolver_enabled). Any thread. */
struct coop_resolver *coop_vs_resolver(struct coop_vs *vs);

/* Counters, summed over threads. */
struct coop_resolver_stats {
	uint64_t queries;	/* lookups started */
	uint64_t answers;	/* lookups answered with records (DNS, hosts or cache) */
	uint64_t negative;	/* lookups answered "no such name" or "no such record" */
	uint64_t cache_hits;	/* lookups answered from the cache */
	uint64_t timeouts;	/* lookups that got no answer in time */
	uint64_t failures;	/* other failures (server failure, refused, bad
				 * answer, no resolver, out of memory) */
	uint64_t cancelled;	/* lookups cancelled by their caller */
	uint64_t upstream;	/* DNS questions sent (each candidate name, each type) */
	uint64_t cache_entries; /* entries in the cache now */
	uint64_t generation;	/* settings generation (1, +1 per configure) */
};

/* Read the counters. Any thread. */
void coop_resolver_stats_get(const struct coop_resolver *r, struct coop_resolver_stats *out);

/* --- lookups ------------------------------------------------------------- */

/* DNS record types with parsed data; any other type number may be asked
 * for and comes back as raw rdata. */
enum {
	COOP_DNS_A = 1,
	COOP_DNS_NS = 2,
	COOP_DNS_CNAME = 5,
	COOP_DNS_SOA = 6,
	COOP_DNS_PTR = 12,
	COOP_DNS_MX = 15,
	COOP_DNS_TXT = 16,
	COOP_DNS_AAAA = 28,
	COOP_DNS_SRV = 33,
};

/* An address in a result. */
struct coop_resolver_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

/* One resource record of a result. Names are in text form without the
 * final dot; bytes outside [-_.a-zA-Z0-9*] appear as \DDD. */
struct coop_resolver_rr {
	const char *name; /* owner name */
	uint16_t type;	  /* COOP_DNS_* or other */
	uint16_t rclass;  /* 1 = IN */
	uint32_t ttl;	  /* seconds, as received (0 for the hosts file) */
	union {
		struct coop_resolver_addr addr; /* A, AAAA */
		const char *target;		/* NS, CNAME, PTR */
		struct {
			uint16_t priority;  /* lower first */
			uint16_t weight;    /* share among equal priorities */
			uint16_t port;	    /* service port */
			const char *target; /* host */
		} srv;			    /* SRV */
		struct {
			uint16_t preference;  /* lower first */
			const char *exchange; /* host */
		} mx;			      /* MX */
		struct {
			const char *mname;				  /* primary server */
			const char *rname;				  /* responsible mailbox */
			uint32_t serial, refresh, retry, expire, minimum; /* RFC 1035 */
		} soa;							  /* SOA */
		struct {
			const char *text; /* the character-strings joined, NUL-terminated */
			size_t len;	  /* bytes of text (it may hold NULs) */
		} txt;			  /* TXT */
	};
	const unsigned char *rdata; /* raw rdata (names inside may be compressed
				     * pointers into a message that is gone:
				     * use the parsed fields for known types);
				     * NULL for a PTR from the hosts file */
	size_t rdlen;		    /* its length */
};

/* Where a result came from. */
enum coop_resolver_source {
	COOP_RESOLVER_SRC_DNS,	   /* the VS's DNS servers */
	COOP_RESOLVER_SRC_HOSTS,   /* the VS's hosts_file */
	COOP_RESOLVER_SRC_LITERAL, /* the name was an address already */
};

/*
 * An answer. Immutable and reference-counted: valid during the callback;
 * keep it longer with coop_resolver_result_hold() and give it back with
 * coop_resolver_result_release(), from any thread.
 */
struct coop_resolver_result {
	const char *name;			/* the name that answered (after the search
						 * list), without the final dot */
	const char *canonical;			/* the end of its CNAME chain (== name if none) */
	uint16_t type;				/* type asked, or 0 for an address lookup */
	enum coop_resolver_source source;	/* DNS or hosts file */
	uint32_t ttl;				/* seconds the answer was valid for when received */
	const struct coop_resolver_addr *addrs; /* address lookups: the addresses */
	size_t n_addrs;
	const struct coop_resolver_rr *rrs; /* records of the asked type(s), in
					     * answer order (address lookups:
					     * the A and AAAA records) */
	size_t n_rrs;
};

const struct coop_resolver_result *
coop_resolver_result_hold(const struct coop_resolver_result *res);
void coop_resolver_result_release(const struct coop_resolver_result *res);

/* Flags of a lookup. */
#define COOP_RESOLVER_F_NOCACHE	 0x1u /* neither use nor fill the cache */
#define COOP_RESOLVER_F_NOSEARCH 0x2u /* the name as given only, no search list */
#define COOP_RESOLVER_F_V4FIRST	 0x4u /* address lookups: IPv4 before IPv6 */
#define COOP_RESOLVER_F_NOHOSTS	 0x8u /* skip the VS's hosts file */

/* Details of a delivery, passed to the callback. */
#define COOP_RESOLVER_I_CACHED 0x1u /* answered from the cache */

/*
 * The end of a lookup, on the thread (loop) that started it. status is 0
 * with res set, or one of (res NULL):
 *   -ENOENT       the name does not exist (NXDOMAIN), on every candidate
 *   -ENODATA      the name exists but has no record of that type
 *   -ETIMEDOUT    no answer within dns_timeout x dns_attempts x servers
 *   -EAGAIN       server failure (SERVFAIL)
 *   -ECONNREFUSED the server refused, or the connection was refused
 *   -EBADMSG      malformed or unusable answer
 *   -ESHUTDOWN    the VS went away first (coop_resolver_release_loop)
 *   -ENOMEM, -EIO local failures
 * coop_resolver_strerror() has a message for each. info: COOP_RESOLVER_I_*.
 * After the callback returns the query handle is gone.
 */
typedef void (*coop_resolver_cb)(int status, const struct coop_resolver_result *res, unsigned info,
				 void *arg);

/*
 * Look up the addresses of name: A and AAAA records (family AF_UNSPEC,
 * IPv6 first unless COOP_RESOLVER_F_V4FIRST), or one of them (AF_INET,
 * AF_INET6). The VS's hosts_file is consulted first for the name as given;
 * then the DNS with the search list and ndots as resolv.conf(5) describes
 * (a name ending with "." is absolute). A numeric address is answered as
 * itself.
 *
 * loop is the calling thread's libev loop (NULL on a worker thread: its
 * own). The answer may be known at once (cache, hosts file, numeric): then
 * cb runs before this returns, *out is set to NULL and 0 is returned.
 * Otherwise *out (when out is not NULL) is set to a handle for
 * coop_resolver_cancel, valid until cb runs. Returns 0, or -errno without
 * calling cb: -EINVAL (bad name, family or flags), -ENOTSUP (the resolver
 * has no servers: the VS has no resolver), -ESHUTDOWN (the VS is going
 * away), -EPERM (loop NULL outside a
 * worker), -ENOSPC (more loops than slots), -ENOMEM, or an error creating
 * the channel (socket in the VS's scope).
 */
int coop_resolver_resolve(struct coop_resolver *r, struct ev_loop *loop, const char *name,
			  int family, unsigned flags, coop_resolver_cb cb, void *arg,
			  struct coop_resolver_query **out);

/*
 * Look up the records of one type (COOP_DNS_SRV, COOP_DNS_PTR, ... or any
 * type number) for name, with the same search list, cache, threads and
 * returns as coop_resolver_resolve. PTR lookups of a reverse name
 * (coop_resolver_ptr_name) are answered from the hosts file when it has
 * the address.
 */
int coop_resolver_query(struct coop_resolver *r, struct ev_loop *loop, const char *name,
			uint16_t type, unsigned flags, coop_resolver_cb cb, void *arg,
			struct coop_resolver_query **out);

/* Forget a lookup: its callback will not run. Only on the thread that
 * started it, before its callback ran. Answers that still arrive may fill
 * the cache. */
void coop_resolver_cancel(struct coop_resolver_query *q);

/* --- helpers ------------------------------------------------------------- */

/* A message for a lookup status (0 or one of the negative codes above). */
const char *coop_resolver_strerror(int status);

/* "A", "SRV", ... or "TYPE65" into buf (at least 12 bytes). Returns buf. */
const char *coop_resolver_type_str(uint16_t type, char *buf, size_t len);

/* Parse "A", "aaaa", "SRV", "TYPE65" or "65": the type number, or -EINVAL. */
int coop_resolver_type_parse(const char *s);

/* The reverse-lookup name of an address ("5.1.18.198.in-addr.arpa",
 * nibbles under ip6.arpa) into buf (at least 74 bytes). 0 or -ENOSPC. */
int coop_resolver_ptr_name(const struct coop_resolver_addr *a, char *buf, size_t len);

/* Format an address into buf (INET6_ADDRSTRLEN bytes). Returns buf. */
const char *coop_resolver_addr_str(const struct coop_resolver_addr *a, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
