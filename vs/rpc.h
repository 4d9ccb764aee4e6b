/* rpc.h - inside libcoop: XDR (RFC 4506), ONC RPC call parsing and reply
 * encoding (RFC 5531), TCP record marking, and the portmapper registry and
 * protocol (RFC 1833: portmap version 2, rpcbind versions 3 and 4, with
 * universal addresses). Pure functions over buffers, so every
 * path is tested with hand-built packets; the service glue is in
 * examples/services/portmap.c, the public calls in vs/coop_rpc.h.
 *
 * Threads: XDR, parsing and record reassembly use only their arguments.
 * A registry is shared by the workers serving its VS and the application:
 * its mappings are under a mutex, its counters are atomics. */
#ifndef COOP_VS_RPC_H
#define COOP_VS_RPC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vs/coop_rpc.h"

struct coop_json;
struct coop_vs;
struct sockaddr;

#define COOP_RPC_VERSION       2   /* rpcvers of RFC 5531 */
#define COOP_RPC_AUTH_BODY_MAX 400 /* opaque_auth body<400> */
#define COOP_PMAP_PROG	       100000
#define COOP_PMAP_VERS	       2 /* portmap: rpcbind version 2 */
#define COOP_RPCB_VERS_LOW     2 /* versions answered: 2 (portmap), */
#define COOP_RPCB_VERS_HIGH    4 /* 3 and 4 (rpcbind) */
/* Bounds on the strings of rpcbind arguments. Real ones are a few bytes
 * ("udp6"; a uaddr is at most 53 characters; owners are "superuser" or a
 * uid); longer ones are GARBAGE_ARGS. */
#define COOP_RPCB_NETID_MAX 32
#define COOP_RPCB_UADDR_MAX 64
#define COOP_RPCB_OWNER_MAX 256
/* Owner strings kept with a mapping (NUL included). */
#define COOP_RPC_OWNER_LEN 32
/* A portmap call is a few dozen bytes plus two credentials: 4 KiB is far
 * beyond any honest one, and what a TCP record may grow to. */
#define COOP_PMAP_RECORD_MAX 4096
/* The largest reply: what one UDP datagram can carry, rounded down to a
 * word. A version 2 DUMP of a full registry (20 bytes a mapping) fits; a
 * version 3/4 DUMP (about 80 bytes a mapping and address family) of a
 * large registry may not, and is answered SYSTEM_ERR. */
#define COOP_PMAP_REPLY_MAX 65504

/* msg_type, reply_stat, accept_stat, reject_stat, auth_flavor, auth_stat */
enum { COOP_RPC_CALL = 0, COOP_RPC_REPLY = 1 };
enum { COOP_RPC_MSG_ACCEPTED = 0, COOP_RPC_MSG_DENIED = 1 };
enum {
	COOP_RPC_SUCCESS = 0,
	COOP_RPC_PROG_UNAVAIL = 1,
	COOP_RPC_PROG_MISMATCH = 2,
	COOP_RPC_PROC_UNAVAIL = 3,
	COOP_RPC_GARBAGE_ARGS = 4,
	COOP_RPC_SYSTEM_ERR = 5,
};
enum { COOP_RPC_RPC_MISMATCH = 0, COOP_RPC_AUTH_ERROR = 1 };
enum { COOP_RPC_AUTH_NONE = 0, COOP_RPC_AUTH_SYS = 1 };
enum {
	COOP_RPC_AUTH_OK = 0,
	COOP_RPC_AUTH_BADCRED = 1,
	COOP_RPC_AUTH_REJECTEDCRED = 2,
	COOP_RPC_AUTH_BADVERF = 3,
};
/* Portmap procedures. */
enum {
	COOP_PMAP_NULL = 0,
	COOP_PMAP_SET = 1,
	COOP_PMAP_UNSET = 2,
	COOP_PMAP_GETPORT = 3,
	COOP_PMAP_DUMP = 4,
	COOP_PMAP_CALLIT = 5,
};
/* rpcbind procedures, versions 3 and 4 (RFC 1833 section 2.2). */
enum {
	COOP_RPCB_NULL = 0,
	COOP_RPCB_SET = 1,
	COOP_RPCB_UNSET = 2,
	COOP_RPCB_GETADDR = 3,
	COOP_RPCB_DUMP = 4,
	COOP_RPCB_CALLIT = 5, /* v3; BCAST in v4 */
	COOP_RPCB_GETTIME = 6,
	COOP_RPCB_UADDR2TADDR = 7,
	COOP_RPCB_TADDR2UADDR = 8,
	COOP_RPCB_GETVERSADDR = 9, /* v4 only, from here */
	COOP_RPCB_INDIRECT = 10,
	COOP_RPCB_GETADDRLIST = 11,
	COOP_RPCB_GETSTAT = 12,
	COOP_RPCB_NPROC = 13, /* RPCBSTAT_HIGHPROC: procedures counted per version */
};

/* --- XDR --------------------------------------------------------------------- */

/* A decoder over a buffer. Reading past the end sets bad and yields
 * zeros; check bad once after a group of reads. */
struct coop_xdr_in {
	const uint8_t *p; /* buffer */
	size_t len;	  /* its length */
	size_t off;	  /* next byte */
	bool bad;	  /* a read ran short or a value was invalid */
};

void coop_xdr_in_init(struct coop_xdr_in *x, const void *buf, size_t len);
uint32_t coop_xdr_u32(struct coop_xdr_in *x);
/* An XDR bool: 0 or 1; anything else sets bad. */
bool coop_xdr_bool(struct coop_xdr_in *x);
/* A variable-length opaque<max>: length word, bytes, padding to 4. Returns
 * a pointer into the buffer and its length in *len, or NULL (bad set) when
 * the length exceeds max or the bytes are not all there. The padding's
 * content is not checked (RFC 4506 makes it zero, receivers need not care). */
const uint8_t *coop_xdr_opaque(struct coop_xdr_in *x, size_t max, size_t *len);
/* Bytes not read yet. */
size_t coop_xdr_left(const struct coop_xdr_in *x);

/* An encoder into a fixed buffer. Writing past cap sets full and writes
 * nothing more; check full once at the end. */
struct coop_xdr_out {
	uint8_t *p; /* buffer */
	size_t cap; /* its size */
	size_t off; /* bytes written */
	bool full;  /* a write did not fit */
};

void coop_xdr_out_init(struct coop_xdr_out *x, void *buf, size_t cap);
void coop_xdr_put_u32(struct coop_xdr_out *x, uint32_t v);
void coop_xdr_put_opaque(struct coop_xdr_out *x, const void *data, size_t len);

/* --- RPC messages -------------------------------------------------------------- */

/* A call as parsed: the header fields, and where the arguments start. */
struct coop_rpc_call {
	uint32_t xid;	      /* transaction id, echoed in the reply */
	uint32_t rpcvers;     /* must be 2 */
	uint32_t prog;	      /* program */
	uint32_t vers;	      /* program version */
	uint32_t proc;	      /* procedure */
	uint32_t cred_flavor; /* credential flavor (NONE, SYS, ...) */
	uint32_t verf_flavor; /* verifier flavor */
	const uint8_t *args;  /* procedure arguments (into the message) */
	size_t args_len;      /* their length */
};

/* What to do with a message. */
enum coop_rpc_verdict {
	COOP_RPC_CALL_OK,     /* a well-formed call: dispatch it */
	COOP_RPC_DROP_SHORT,  /* shorter than an xid and a message type */
	COOP_RPC_DROP_NOCALL, /* a reply, or no message type at all */
	COOP_RPC_DROP_HEADER, /* the call header is cut short */
	COOP_RPC_DENY_VERS,   /* rpcvers is not 2: answer RPC_MISMATCH */
	COOP_RPC_DENY_AUTH,   /* credential or verifier refused: answer AUTH_ERROR */
};

/* Parse msg. The header fields read so far are in *call (xid is valid for
 * every verdict but DROP_SHORT); for DENY_AUTH *auth_stat says why. */
enum coop_rpc_verdict coop_rpc_call_parse(const void *msg, size_t len, struct coop_rpc_call *call,
					  uint32_t *auth_stat);

/* Reply headers. Accepted: xid, REPLY, MSG_ACCEPTED, a null verifier and
 * stat; SUCCESS results or PROG_MISMATCH's low/high follow, by the caller. */
void coop_rpc_put_accepted(struct coop_xdr_out *x, uint32_t xid, uint32_t stat);
/* Denied: RPC_MISMATCH with the versions we speak, or AUTH_ERROR. */
void coop_rpc_put_rpc_mismatch(struct coop_xdr_out *x, uint32_t xid, uint32_t low, uint32_t high);
void coop_rpc_put_auth_error(struct coop_xdr_out *x, uint32_t xid, uint32_t auth_stat);

/* --- record marking (RPC over TCP) ------------------------------------------------ */

/* Reassembles records from a byte stream: 4-byte fragment headers (last
 * flag, 31-bit length), fragments joined up to a bound that counts the
 * headers too, so a stream of empty fragments cannot run forever. */
struct coop_rpc_rec {
	uint8_t *buf;	    /* record being assembled */
	size_t len;	    /* bytes of it so far */
	size_t cap;	    /* allocated */
	size_t max;	    /* bound on a record, headers included */
	size_t used;	    /* bytes of the current record consumed, headers included */
	uint32_t frag_left; /* payload still due in the current fragment */
	bool in_frag;	    /* a fragment header was read */
	bool last;	    /* the current fragment ends the record */
	uint8_t hdr[4];	    /* a fragment header split across reads */
	unsigned nhdr;	    /* bytes of it so far */
};

/* A complete record; return 0 to go on, < 0 to stop feeding (returned). */
typedef int (*coop_rpc_rec_cb)(void *arg, const uint8_t *rec, size_t len);

void coop_rpc_rec_init(struct coop_rpc_rec *r, size_t max);
void coop_rpc_rec_free(struct coop_rpc_rec *r);
/* Feed stream bytes; cb runs for each completed record (valid during the
 * call). Returns 0, -EMSGSIZE when a record would pass max (the stream is
 * then unusable: close it), -ENOMEM, or cb's negative return. */
int coop_rpc_rec_feed(struct coop_rpc_rec *r, const void *data, size_t len, coop_rpc_rec_cb cb,
		      void *arg);
/* The header of a single, last fragment of len bytes. */
void coop_rpc_rec_mark(uint8_t hdr[4], size_t len);

/* --- the portmapper ---------------------------------------------------------------- */

/* Who made a mapping; decides who may remove it. */
enum coop_rpc_owner {
	COOP_RPC_OWNER_CONFIG, /* the portmapper's own listeners, `rpc =`: permanent */
	COOP_RPC_OWNER_APP,    /* coop_vs_rpc_set */
	COOP_RPC_OWNER_NET,    /* a SET over the network, from a trusted caller
				* (coop_pmap_caller_trusted) */
};

/* Portmap counters of one VS (any worker increments, relaxed). */
struct coop_pmap_stats {
	_Atomic uint64_t calls;		/* well-formed calls answered */
	_Atomic uint64_t success;	/* ...with SUCCESS */
	_Atomic uint64_t prog_unavail;	/* replies PROG_UNAVAIL */
	_Atomic uint64_t prog_mismatch; /* replies PROG_MISMATCH */
	_Atomic uint64_t proc_unavail;	/* replies PROC_UNAVAIL */
	_Atomic uint64_t garbage_args;	/* replies GARBAGE_ARGS */
	_Atomic uint64_t system_err;	/* replies SYSTEM_ERR (reply did not fit) */
	_Atomic uint64_t rpc_mismatch;	/* denied: RPC_MISMATCH */
	_Atomic uint64_t auth_error;	/* denied: AUTH_ERROR */
	_Atomic uint64_t drop_short;	/* dropped: no xid and type */
	_Atomic uint64_t drop_nocall;	/* dropped: not a call */
	_Atomic uint64_t drop_header;	/* dropped: truncated call header */
	_Atomic uint64_t drop_record;	/* TCP records over the bound (connection closed) */
	_Atomic uint64_t set_refused;	/* SET/UNSET from an untrusted caller */
	_Atomic uint64_t set_full;	/* SETs refused: COOP_RPC_NET_MAPPINGS_MAX reached */
	/* What rpcbind's GETSTAT reports, per version (2, 3, 4): calls of each
	 * procedure, and SETs and UNSETs that changed the map. */
	_Atomic uint64_t proc[3][COOP_RPCB_NPROC];
	_Atomic uint64_t set_ok[3];
	_Atomic uint64_t unset_ok[3];
};

/* A VS's registry: mappings and counters. */
struct coop_rpc_reg;

struct coop_rpc_reg *coop_rpc_reg_new(void);
void coop_rpc_reg_free(struct coop_rpc_reg *reg);
/* Add a mapping. 0, -EEXIST ((prog, vers, prot) mapped; a CONFIG or APP
 * mapping replaces a NET one instead), -EINVAL (prot not TCP/UDP, port not
 * 1..65535), -ENOSPC (NET: COOP_RPC_NET_MAPPINGS_MAX network mappings;
 * CONFIG and APP: COOP_RPC_MAPPINGS_MAX of theirs, network ones not
 * counted), -ENOMEM. */
int coop_rpc_reg_set(struct coop_rpc_reg *reg, const struct coop_rpc_mapping *m,
		     enum coop_rpc_owner owner);
/* The same with rpcbind's owner string (r_owner, shown by version 3/4
 * DUMP): name, cut to COOP_RPC_OWNER_LEN - 1 bytes; NULL for the default of
 * the kind: CONFIG "superuser", NET "unknown" (rpcbind's word for a caller
 * it cannot identify), APP the process's, as rpcbind names a local
 * registrant ("superuser" for uid 0, else the uid in decimal). */
int coop_rpc_reg_set_owned(struct coop_rpc_reg *reg, const struct coop_rpc_mapping *m,
			   enum coop_rpc_owner owner, const char *name);
/* Tell the registry the VS's addresses (family AF_INET with a struct
 * in_addr, AF_INET6 with a struct in6_addr): the first of each family is
 * the host part of the universal addresses it answers when the request's
 * own destination is not of that family. Call before the registry is
 * shared (coop_rpc_vs_init). */
void coop_rpc_reg_addr_add(struct coop_rpc_reg *reg, int family, const void *addr);
/* Remove the mappings of prog/vers whose owner bit is in owners
 * (1u << COOP_RPC_OWNER_x). Returns how many went. */
int coop_rpc_reg_unset(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, unsigned owners);
/* The same, limited to protocol prot (0: all). */
int coop_rpc_reg_unset_prot(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, uint32_t prot,
			    unsigned owners);
/* Exact (prog, vers, prot) lookup: the port or 0. */
uint16_t coop_rpc_reg_port(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, uint32_t prot);
/* Copy up to max mappings; returns the total. */
size_t coop_rpc_reg_dump(struct coop_rpc_reg *reg, struct coop_rpc_mapping *out, size_t max);
/* Counters, for the admin socket and tests. */
const struct coop_pmap_stats *coop_rpc_reg_stats(const struct coop_rpc_reg *reg);
/* Count a TCP record refused for its size (the service closes the stream). */
void coop_rpc_reg_note_record_drop(struct coop_rpc_reg *reg);

/* The VS's registry (made by coop_rpc_vs_init with the VS). Any thread. */
struct coop_rpc_reg *coop_vs_rpc_reg(const struct coop_vs *vs);
/* Give vs its registry, holding what its configuration maps: the
 * portmapper's own listeners (100000 v2 on each `listen = ... portmap`).
 * 0 or -ENOMEM with err filled. Control thread, from coop_vs_new. */
int coop_rpc_vs_init(struct coop_vs *vs, char *err, size_t errlen);
/* Free it (coop_vs_free). */
void coop_rpc_vs_fini(struct coop_vs *vs);

/* May the caller at peer (its address and port, sockaddr_in or
 * sockaddr_in6) SET and UNSET? rpcbind's rule for a network caller: a
 * loopback source address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) and a
 * reserved source port (below 1024, which only a privileged process of the
 * VS's host binds). A source equal to the address called is not enough:
 * the network can forge it (over IPv6 the kernel accepts it), and every
 * user of a shared namespace has it. Pure; any thread. */
bool coop_pmap_caller_trusted(const struct sockaddr *peer);

/* Answer one portmap message (a UDP datagram or a reassembled TCP record)
 * from reg. local: the caller is trusted (coop_pmap_caller_trusted) and
 * may SET and UNSET. Writes the reply into out (cap bytes; COOP_PMAP_REPLY_MAX is
 * always enough) and returns its length, or 0 when the message is dropped
 * without a reply (counted). */
size_t coop_pmap_handle(struct coop_rpc_reg *reg, const void *msg, size_t len, bool local,
			void *out, size_t cap);
/* The same, knowing the address the message was sent to (sockaddr_in or
 * sockaddr_in6; NULL when unknown): rpcbind versions 3 and 4 answer it as
 * the host part of universal addresses of its family, and GETADDRLIST lists
 * that family only. Without it, the registry's first address of each
 * family stands in. */
size_t coop_pmap_handle_to(struct coop_rpc_reg *reg, const void *msg, size_t len, bool local,
			   const struct sockaddr *to, void *out, size_t cap);

/* --- universal addresses (RFC 1833 section 2.1, RFC 5665) ------------------------------ */

/* Write "h1.h2.h3.h4.p1.p2" (AF_INET, addr a struct in_addr) or
 * "x:x::x.p1.p2" (AF_INET6, a struct in6_addr) into buf, NUL-terminated.
 * Returns its length, or -EINVAL (family) / -ENOSPC (len too small;
 * COOP_RPCB_UADDR_MAX is always enough). */
int coop_rpc_uaddr_fmt(char *buf, size_t len, int family, const void *addr, uint16_t port);
/* Parse the len bytes at s (no NUL needed) as a universal address: *family
 * AF_INET or AF_INET6, addr (16 bytes of room) a struct in_addr or in6_addr,
 * *port. 0, or -EINVAL for anything else: missing or empty or non-decimal
 * port octets, octets above 255, a host part inet_pton refuses (scopes
 * included), NULs or other stray bytes. */
int coop_rpc_uaddr_parse(const char *s, size_t len, int *family, void *addr, uint16_t *port);
/* A netid: "tcp", "udp" (AF_INET), "tcp6", "udp6" (AF_INET6) into *prot
 * (IPPROTO_TCP/UDP) and *family. 0 or -EINVAL. */
int coop_rpc_netid_parse(const char *s, size_t len, uint32_t *prot, int *family);

/* Write "rpc": {"mappings": [...], "counters": {...}} as members of the
 * object being written (admin `show vs NAME`). */
void coop_rpc_reg_json(struct coop_rpc_reg *reg, struct coop_json *out);

#endif
