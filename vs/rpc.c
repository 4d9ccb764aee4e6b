/* rpc.c - XDR, ONC RPC call parsing and replies, TCP record marking, and the
 * per-VS portmapper (registry, portmap version 2 and rpcbind versions 3 and
 * 4 with universal addresses), over plain buffers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/coop_admin.h"
#include "core/runtime.h"
#include "vs/rpc.h"
#include "core/vs.h"

/* --- XDR ----------------------------------------------------------------------- */

void coop_xdr_in_init(struct coop_xdr_in *x, const void *buf, size_t len)
{
	x->p = buf;
	x->len = buf ? len : 0;
	x->off = 0;
	x->bad = false;
}

size_t coop_xdr_left(const struct coop_xdr_in *x)
{
	return x->len - x->off;
}

uint32_t coop_xdr_u32(struct coop_xdr_in *x)
{
	uint32_t v;

	if (x->bad || coop_xdr_left(x) < 4) {
		x->bad = true;
		return 0;
	}
	memcpy(&v, x->p + x->off, 4);
	x->off += 4;
	return ntohl(v);
}

bool coop_xdr_bool(struct coop_xdr_in *x)
{
	uint32_t v = coop_xdr_u32(x);

	if (v > 1)
		x->bad = true;
	return v == 1;
}

const uint8_t *coop_xdr_opaque(struct coop_xdr_in *x, size_t max, size_t *len)
{
	uint32_t n = coop_xdr_u32(x);
	size_t padded;
	const uint8_t *p;

	*len = 0;
	if (x->bad)
		return NULL;
	/* Compare before rounding up: n near 2^32 must not wrap. */
	if (n > max || n > coop_xdr_left(x)) {
		x->bad = true;
		return NULL;
	}
	padded = ((size_t)n + 3) & ~(size_t)3;
	if (padded > coop_xdr_left(x)) {
		x->bad = true;
		return NULL;
	}
	p = x->p + x->off;
	x->off += padded;
	*len = n;
	return p;
}

void coop_xdr_out_init(struct coop_xdr_out *x, void *buf, size_t cap)
{
	x->p = buf;
	x->cap = buf ? cap : 0;
	x->off = 0;
	x->full = false;
}

void coop_xdr_put_u32(struct coop_xdr_out *x, uint32_t v)
{
	if (x->full || x->cap - x->off < 4) {
		x->full = true;
		return;
	}
	v = htonl(v);
	memcpy(x->p + x->off, &v, 4);
	x->off += 4;
}

void coop_xdr_put_opaque(struct coop_xdr_out *x, const void *data, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;

	if (len > UINT32_MAX) {
		x->full = true;
		return;
	}
	coop_xdr_put_u32(x, (uint32_t)len);
	if (x->full || x->cap - x->off < padded) {
		x->full = true;
		return;
	}
	if (len)
		memcpy(x->p + x->off, data, len);
	memset(x->p + x->off + len, 0, padded - len);
	x->off += padded;
}

/* --- RPC messages ------------------------------------------------------------------- */

/* An AUTH_SYS body: stamp, machinename<255>, uid, gid, gids<16>. It must
 * be exactly that, no more. */
static bool auth_sys_ok(const uint8_t *body, size_t len)
{
	struct coop_xdr_in x;
	size_t n;
	uint32_t gids, i;

	coop_xdr_in_init(&x, body, len);
	coop_xdr_u32(&x);
	coop_xdr_opaque(&x, 255, &n);
	coop_xdr_u32(&x);
	coop_xdr_u32(&x);
	gids = coop_xdr_u32(&x);
	if (x.bad || gids > 16)
		return false;
	for (i = 0; i < gids; i++)
		coop_xdr_u32(&x);
	return !x.bad && coop_xdr_left(&x) == 0;
}

/* An opaque_auth body: 1 read, 0 cut short, -1 longer than RFC 5531 allows
 * (which deserves an AUTH_ERROR reply rather than silence). */
static int auth_body(struct coop_xdr_in *x, const uint8_t **body, size_t *len)
{
	uint32_t n = coop_xdr_u32(x);
	size_t padded;

	if (x->bad)
		return 0;
	if (n > COOP_RPC_AUTH_BODY_MAX)
		return -1;
	padded = ((size_t)n + 3) & ~(size_t)3;
	if (padded > coop_xdr_left(x)) {
		x->bad = true;
		return 0;
	}
	*body = x->p + x->off;
	*len = n;
	x->off += padded;
	return 1;
}

enum coop_rpc_verdict coop_rpc_call_parse(const void *msg, size_t len, struct coop_rpc_call *call,
					  uint32_t *auth_stat)
{
	const uint8_t *cred = NULL, *verf = NULL;
	size_t cred_len = 0, verf_len = 0;
	struct coop_xdr_in x;

	memset(call, 0, sizeof(*call));
	*auth_stat = COOP_RPC_AUTH_OK;
	if (!msg || len < 8)
		return COOP_RPC_DROP_SHORT;
	coop_xdr_in_init(&x, msg, len);
	call->xid = coop_xdr_u32(&x);
	if (coop_xdr_u32(&x) != COOP_RPC_CALL)
		return COOP_RPC_DROP_NOCALL;
	call->rpcvers = coop_xdr_u32(&x);
	if (x.bad)
		return COOP_RPC_DROP_HEADER;
	/* Answerable from the xid alone, so answered before the rest. */
	if (call->rpcvers != COOP_RPC_VERSION)
		return COOP_RPC_DENY_VERS;
	call->prog = coop_xdr_u32(&x);
	call->vers = coop_xdr_u32(&x);
	call->proc = coop_xdr_u32(&x);
	call->cred_flavor = coop_xdr_u32(&x);
	switch (auth_body(&x, &cred, &cred_len)) {
	case -1:
		*auth_stat = COOP_RPC_AUTH_BADCRED;
		return COOP_RPC_DENY_AUTH;
	case 0:
		return COOP_RPC_DROP_HEADER;
	}
	call->verf_flavor = coop_xdr_u32(&x);
	switch (auth_body(&x, &verf, &verf_len)) {
	case -1:
		*auth_stat = COOP_RPC_AUTH_BADVERF;
		return COOP_RPC_DENY_AUTH;
	case 0:
		return COOP_RPC_DROP_HEADER;
	}
	(void)verf;
	switch (call->cred_flavor) {
	case COOP_RPC_AUTH_NONE:
		if (cred_len) {
			*auth_stat = COOP_RPC_AUTH_BADCRED;
			return COOP_RPC_DENY_AUTH;
		}
		break;
	case COOP_RPC_AUTH_SYS:
		if (!auth_sys_ok(cred, cred_len)) {
			*auth_stat = COOP_RPC_AUTH_BADCRED;
			return COOP_RPC_DENY_AUTH;
		}
		break;
	default:
		/* The portmapper answers anyone, but only in the flavors it
		 * can parse; others are told to use another. */
		*auth_stat = COOP_RPC_AUTH_REJECTEDCRED;
		return COOP_RPC_DENY_AUTH;
	}
	call->args = (const uint8_t *)msg + x.off;
	call->args_len = coop_xdr_left(&x);
	return COOP_RPC_CALL_OK;
}

static void put_header(struct coop_xdr_out *x, uint32_t xid, uint32_t reply_stat)
{
	coop_xdr_put_u32(x, xid);
	coop_xdr_put_u32(x, COOP_RPC_REPLY);
	coop_xdr_put_u32(x, reply_stat);
}

void coop_rpc_put_accepted(struct coop_xdr_out *x, uint32_t xid, uint32_t stat)
{
	put_header(x, xid, COOP_RPC_MSG_ACCEPTED);
	coop_xdr_put_u32(x, COOP_RPC_AUTH_NONE); /* verifier: AUTH_NONE, empty */
	coop_xdr_put_u32(x, 0);
	coop_xdr_put_u32(x, stat);
}

void coop_rpc_put_rpc_mismatch(struct coop_xdr_out *x, uint32_t xid, uint32_t low, uint32_t high)
{
	put_header(x, xid, COOP_RPC_MSG_DENIED);
	coop_xdr_put_u32(x, COOP_RPC_RPC_MISMATCH);
	coop_xdr_put_u32(x, low);
	coop_xdr_put_u32(x, high);
}

void coop_rpc_put_auth_error(struct coop_xdr_out *x, uint32_t xid, uint32_t auth_stat)
{
	put_header(x, xid, COOP_RPC_MSG_DENIED);
	coop_xdr_put_u32(x, COOP_RPC_AUTH_ERROR);
	coop_xdr_put_u32(x, auth_stat);
}

/* --- record marking ---------------------------------------------------------------- */

#define REC_LAST 0x80000000u

void coop_rpc_rec_init(struct coop_rpc_rec *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
}

void coop_rpc_rec_free(struct coop_rpc_rec *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}

void coop_rpc_rec_mark(uint8_t hdr[4], size_t len)
{
	uint32_t v = htonl(REC_LAST | (uint32_t)(len & ~REC_LAST));

	memcpy(hdr, &v, 4);
}

/* Room for need bytes in total; the bound was checked by the caller. */
static int rec_reserve(struct coop_rpc_rec *r, size_t need)
{
	size_t cap = r->cap ? r->cap : 512;
	uint8_t *p;

	if (need <= r->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > r->max)
		cap = r->max;
	p = realloc(r->buf, cap);
	if (!p)
		return -ENOMEM;
	r->buf = p;
	r->cap = cap;
	return 0;
}

int coop_rpc_rec_feed(struct coop_rpc_rec *r, const void *data, size_t len, coop_rpc_rec_cb cb,
		      void *arg)
{
	const uint8_t *p = data;
	uint32_t v;
	size_t n;
	int ret;

	while (len) {
		if (!r->in_frag) {
			n = 4 - r->nhdr < len ? 4 - r->nhdr : len;
			memcpy(r->hdr + r->nhdr, p, n);
			r->nhdr += n;
			p += n;
			len -= n;
			if (r->nhdr < 4)
				break;
			memcpy(&v, r->hdr, 4);
			v = ntohl(v);
			r->nhdr = 0;
			r->in_frag = true;
			r->last = v & REC_LAST;
			r->frag_left = v & ~REC_LAST;
			/* Headers count toward the bound: endless empty
			 * fragments must end too. */
			r->used += 4;
			if (r->frag_left > r->max || r->used + r->frag_left > r->max)
				return -EMSGSIZE;
			if (rec_reserve(r, r->len + r->frag_left) < 0)
				return -ENOMEM;
		}
		n = r->frag_left < len ? r->frag_left : len;
		if (n) {
			memcpy(r->buf + r->len, p, n);
			r->len += n;
			r->used += n;
			r->frag_left -= n;
			p += n;
			len -= n;
		}
		if (r->frag_left)
			break;
		r->in_frag = false;
		if (!r->last)
			continue;
		ret = cb(arg, r->buf, r->len);
		r->len = 0;
		r->used = 0;
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* --- the registry ---------------------------------------------------------------------- */

/* One mapping and who made it. */
struct reg_entry {
	struct coop_rpc_mapping m;     /* the mapping */
	enum coop_rpc_owner owner;     /* who may remove it */
	char name[COOP_RPC_OWNER_LEN]; /* rpcbind's r_owner, shown by v3/v4 DUMP */
};

struct coop_rpc_reg {
	pthread_mutex_t lock;	   /* protects entries, n and n_net */
	struct reg_entry *entries; /* in registration order */
	size_t n;		   /* used */
	size_t n_net;		   /* of them made by network SETs (COOP_RPC_OWNER_NET) */
	size_t cap;		   /* allocated */
	struct coop_pmap_stats st; /* counters (atomics, outside the lock) */
	/* The VS's first address of each family (set before the registry is
	 * shared, read without the lock): the host part of universal
	 * addresses when the request's destination is not of that family. */
	bool has4, has6;    /* an address of the family is known */
	struct in_addr a4;  /* first IPv4 address */
	struct in6_addr a6; /* first IPv6 address */
};

struct coop_rpc_reg *coop_rpc_reg_new(void)
{
	struct coop_rpc_reg *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return NULL;
	pthread_mutex_init(&reg->lock, NULL);
	return reg;
}

void coop_rpc_reg_free(struct coop_rpc_reg *reg)
{
	if (!reg)
		return;
	pthread_mutex_destroy(&reg->lock);
	free(reg->entries);
	free(reg);
}

void coop_rpc_reg_addr_add(struct coop_rpc_reg *reg, int family, const void *addr)
{
	if (family == AF_INET && !reg->has4) {
		memcpy(&reg->a4, addr, sizeof(reg->a4));
		reg->has4 = true;
	} else if (family == AF_INET6 && !reg->has6) {
		memcpy(&reg->a6, addr, sizeof(reg->a6));
		reg->has6 = true;
	}
}

/* rpcbind's getowner() for a caller it knows the uid of. */
static void default_owner(enum coop_rpc_owner owner, char *buf, size_t len)
{
	uid_t uid = geteuid();

	if (owner == COOP_RPC_OWNER_NET)
		snprintf(buf, len, "unknown");
	else if (owner == COOP_RPC_OWNER_CONFIG || uid == 0)
		snprintf(buf, len, "superuser");
	else
		snprintf(buf, len, "%u", (unsigned)uid);
}

int coop_rpc_reg_set(struct coop_rpc_reg *reg, const struct coop_rpc_mapping *m,
		     enum coop_rpc_owner owner)
{
	return coop_rpc_reg_set_owned(reg, m, owner, NULL);
}

static void entry_fill(struct reg_entry *e, const struct coop_rpc_mapping *m,
		       enum coop_rpc_owner owner, const char *name)
{
	e->m = *m;
	e->owner = owner;
	if (name)
		snprintf(e->name, sizeof(e->name), "%s", name);
	else
		default_owner(owner, e->name, sizeof(e->name));
}

/* Network SETs and the others (the application's, the configuration's)
 * have limits of their own: a flood of network SETs fills its share,
 * never the application's. An application or configuration mapping
 * takes the place of a network one for the same (prog, vers, prot). */
int coop_rpc_reg_set_owned(struct coop_rpc_reg *reg, const struct coop_rpc_mapping *m,
			   enum coop_rpc_owner owner, const char *name)
{
	bool net = owner == COOP_RPC_OWNER_NET;
	struct reg_entry *e;
	size_t i;
	int ret = 0;

	if ((m->prot != IPPROTO_TCP && m->prot != IPPROTO_UDP) || !m->port || m->port > 65535)
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		e = &reg->entries[i];
		if (e->m.prog != m->prog || e->m.vers != m->vers || e->m.prot != m->prot)
			continue;
		if (net || e->owner != COOP_RPC_OWNER_NET)
			ret = -EEXIST;
		else if (reg->n - reg->n_net == COOP_RPC_MAPPINGS_MAX)
			ret = -ENOSPC;
		if (ret)
			goto out;
		entry_fill(e, m, owner, name);
		reg->n_net--;
		goto out;
	}
	if (net ? reg->n_net == COOP_RPC_NET_MAPPINGS_MAX
		: reg->n - reg->n_net == COOP_RPC_MAPPINGS_MAX) {
		ret = -ENOSPC;
		goto out;
	}
	if (reg->n == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 8;

		e = realloc(reg->entries, cap * sizeof(*e));
		if (!e) {
			ret = -ENOMEM;
			goto out;
		}
		reg->entries = e;
		reg->cap = cap;
	}
	entry_fill(&reg->entries[reg->n++], m, owner, name);
	if (net)
		reg->n_net++;
out:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

int coop_rpc_reg_unset(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, unsigned owners)
{
	return coop_rpc_reg_unset_prot(reg, prog, vers, 0, owners);
}

int coop_rpc_reg_unset_prot(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, uint32_t prot,
			    unsigned owners)
{
	size_t i, k = 0;
	int gone;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		const struct reg_entry *e = &reg->entries[i];

		if (e->m.prog == prog && e->m.vers == vers && (!prot || e->m.prot == prot) &&
		    (owners & (1u << e->owner))) {
			if (e->owner == COOP_RPC_OWNER_NET)
				reg->n_net--;
			continue;
		}
		reg->entries[k++] = *e;
	}
	gone = (int)(reg->n - k);
	reg->n = k;
	pthread_mutex_unlock(&reg->lock);
	return gone;
}

uint16_t coop_rpc_reg_port(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, uint32_t prot)
{
	uint16_t port = 0;
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		const struct coop_rpc_mapping *m = &reg->entries[i].m;

		if (m->prog == prog && m->vers == vers && m->prot == prot) {
			port = (uint16_t)m->port;
			break;
		}
	}
	pthread_mutex_unlock(&reg->lock);
	return port;
}

/* GETPORT (and rpcbind's GETADDR) as rpcbind answers it: the exact
 * version, or else any version of the program on that protocol, so the
 * client learns the program is there and gets PROG_MISMATCH from it rather
 * than "not registered". GETVERSADDR wants the exact one (exact). */
static uint32_t reg_lookup(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, uint32_t prot,
			   bool exact)
{
	uint32_t port = 0;
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		const struct coop_rpc_mapping *m = &reg->entries[i].m;

		if (m->prog != prog || m->prot != prot || (exact && m->vers != vers))
			continue;
		port = m->port;
		if (m->vers == vers)
			break;
	}
	pthread_mutex_unlock(&reg->lock);
	return port;
}

size_t coop_rpc_reg_dump(struct coop_rpc_reg *reg, struct coop_rpc_mapping *out, size_t max)
{
	size_t i, n;

	pthread_mutex_lock(&reg->lock);
	n = reg->n;
	for (i = 0; i < n && i < max; i++)
		out[i] = reg->entries[i].m;
	pthread_mutex_unlock(&reg->lock);
	return n;
}

const struct coop_pmap_stats *coop_rpc_reg_stats(const struct coop_rpc_reg *reg)
{
	return &reg->st;
}

void coop_rpc_reg_note_record_drop(struct coop_rpc_reg *reg)
{
	atomic_fetch_add_explicit(&reg->st.drop_record, 1, memory_order_relaxed);
}

/* --- universal addresses and netids ------------------------------------------------------- */

int coop_rpc_uaddr_fmt(char *buf, size_t len, int family, const void *addr, uint16_t port)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if ((family != AF_INET && family != AF_INET6) ||
	    !inet_ntop(family, addr, host, sizeof(host)))
		return -EINVAL;
	n = snprintf(buf, len, "%s.%u.%u", host, (unsigned)(port >> 8), (unsigned)(port & 0xff));
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* A port octet of a universal address: 1 to 3 decimal digits, at most
 * 255; -1 otherwise. */
static int uaddr_octet(const char *s, size_t len)
{
	int v = 0;
	size_t i;

	if (!len || len > 3)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v > 255 ? -1 : v;
}

int coop_rpc_uaddr_parse(const char *s, size_t len, int *family, void *addr, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN];
	size_t d1, d2;
	int p1, p2;

	if (!s)
		return -EINVAL;
	/* The port is the last two dot-separated fields; the host is what
	 * comes before (itself dotted for IPv4). */
	for (d2 = len; d2 > 0 && s[d2 - 1] != '.'; d2--)
		;
	if (d2 < 2)
		return -EINVAL;
	d2--;
	for (d1 = d2; d1 > 0 && s[d1 - 1] != '.'; d1--)
		;
	if (d1 < 2)
		return -EINVAL;
	d1--;
	p1 = uaddr_octet(s + d1 + 1, d2 - d1 - 1);
	p2 = uaddr_octet(s + d2 + 1, len - d2 - 1);
	if (p1 < 0 || p2 < 0 || d1 >= sizeof(host) || memchr(s, '\0', d1))
		return -EINVAL;
	memcpy(host, s, d1);
	host[d1] = '\0';
	*family = memchr(host, ':', d1) ? AF_INET6 : AF_INET;
	if (inet_pton(*family, host, addr) != 1)
		return -EINVAL;
	*port = (uint16_t)(p1 << 8 | p2);
	return 0;
}

int coop_rpc_netid_parse(const char *s, size_t len, uint32_t *prot, int *family)
{
	static const struct {
		const char *name; /* netid */
		uint32_t prot;	  /* its protocol */
		int family;	  /* and address family */
	} ids[] = {
	    {"tcp", IPPROTO_TCP, AF_INET},
	    {"udp", IPPROTO_UDP, AF_INET},
	    {"tcp6", IPPROTO_TCP, AF_INET6},
	    {"udp6", IPPROTO_UDP, AF_INET6},
	};
	size_t i;

	for (i = 0; s && i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (strlen(ids[i].name) == len && !memcmp(ids[i].name, s, len)) {
			*prot = ids[i].prot;
			*family = ids[i].family;
			return 0;
		}
	}
	return -EINVAL;
}

/* --- the portmap protocol ---------------------------------------------------------------- */

static bool v4_loopback(const void *a)
{
	return ((const uint8_t *)a)[0] == 127;
}

bool coop_pmap_caller_trusted(const struct sockaddr *peer)
{
	if (!peer)
		return false;
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *p = (const struct sockaddr_in *)peer;

		return v4_loopback(&p->sin_addr) && ntohs(p->sin_port) < IPPORT_RESERVED;
	}
	if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)peer;
		bool lo =
		    IN6_IS_ADDR_LOOPBACK(&p->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&p->sin6_addr) && v4_loopback(&p->sin6_addr.s6_addr[12]));

		return lo && ntohs(p->sin6_port) < IPPORT_RESERVED;
	}
	return false;
}

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static bool get_mapping(struct coop_xdr_in *x, struct coop_rpc_mapping *m)
{
	m->prog = coop_xdr_u32(x);
	m->vers = coop_xdr_u32(x);
	m->prot = coop_xdr_u32(x);
	m->port = coop_xdr_u32(x);
	return !x->bad;
}

static void put_dump(struct coop_rpc_reg *reg, struct coop_xdr_out *x)
{
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		const struct coop_rpc_mapping *m = &reg->entries[i].m;

		coop_xdr_put_u32(x, 1); /* value follows */
		coop_xdr_put_u32(x, m->prog);
		coop_xdr_put_u32(x, m->vers);
		coop_xdr_put_u32(x, m->prot);
		coop_xdr_put_u32(x, m->port);
	}
	pthread_mutex_unlock(&reg->lock);
	coop_xdr_put_u32(x, 0); /* end of list */
}

/* A version 2 call: writes the results after the accepted header the
 * caller wrote and returns the accept_stat. */
static uint32_t pmap_call(struct coop_rpc_reg *reg, const struct coop_rpc_call *call, bool local,
			  struct coop_xdr_out *x)
{
	struct coop_xdr_in in;
	struct coop_rpc_mapping m;
	bool ok;
	int ret;

	coop_xdr_in_init(&in, call->args, call->args_len);
	switch (call->proc) {
	case COOP_PMAP_NULL:
		return COOP_RPC_SUCCESS;
	case COOP_PMAP_SET:
	case COOP_PMAP_UNSET:
		if (!get_mapping(&in, &m))
			return COOP_RPC_GARBAGE_ARGS;
		if (!local) {
			/* Only the VS's own host may change its map,
			 * as with rpcbind; others are told FALSE. */
			count(&reg->st.set_refused);
			ok = false;
		} else if (call->proc == COOP_PMAP_SET) {
			ret = coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_NET);
			ok = ret == 0;
			if (ok)
				count(&reg->st.set_ok[0]);
			else if (ret == -ENOSPC)
				count(&reg->st.set_full);
		} else {
			ok = coop_rpc_reg_unset(reg, m.prog, m.vers, 1u << COOP_RPC_OWNER_NET) > 0;
			if (ok)
				count(&reg->st.unset_ok[0]);
		}
		coop_xdr_put_u32(x, ok);
		return COOP_RPC_SUCCESS;
	case COOP_PMAP_GETPORT:
		if (!get_mapping(&in, &m))
			return COOP_RPC_GARBAGE_ARGS;
		coop_xdr_put_u32(x, reg_lookup(reg, m.prog, m.vers, m.prot, false));
		return COOP_RPC_SUCCESS;
	case COOP_PMAP_DUMP:
		put_dump(reg, x);
		return COOP_RPC_SUCCESS;
	}
	/* CALLIT (5) included: an indirect call would make every VS a
	 * reflector for spoofed requests. */
	return COOP_RPC_PROC_UNAVAIL;
}

/* --- rpcbind versions 3 and 4 ------------------------------------------------------------- */

/* Where version 3/4 answers say the VS is: the host part of universal
 * addresses, per family (index 0 IPv4, 1 IPv6). */
struct view {
	bool has[2];	     /* the family can be answered */
	uint8_t addr[2][16]; /* its host address (in_addr, in6_addr) */
	int to_family;	     /* family the request came in on, 0 if unknown */
};

static int fam_idx(int family)
{
	return family == AF_INET6;
}

static void view_init(struct view *v, const struct coop_rpc_reg *reg, const struct sockaddr *to)
{
	memset(v, 0, sizeof(*v));
	if (reg->has4) {
		v->has[0] = true;
		memcpy(v->addr[0], &reg->a4, 4);
	}
	if (reg->has6) {
		v->has[1] = true;
		memcpy(v->addr[1], &reg->a6, 16);
	}
	/* The address the client called beats the configured one: it is
	 * the one that reaches the VS from where the client is. */
	if (to && to->sa_family == AF_INET) {
		v->to_family = AF_INET;
		v->has[0] = true;
		memcpy(v->addr[0], &((const struct sockaddr_in *)to)->sin_addr, 4);
	} else if (to && to->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)to)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			v->to_family = AF_INET;
			v->has[0] = true;
			memcpy(v->addr[0], &a->s6_addr[12], 4);
		} else {
			v->to_family = AF_INET6;
			v->has[1] = true;
			memcpy(v->addr[1], a, 16);
		}
	}
	/* A VS without addresses, asked without a destination: rpcbind's
	 * wildcard form, 0.0.0.0. */
	if (!v->has[0] && !v->has[1])
		v->has[0] = true;
}

static void put_string(struct coop_xdr_out *x, const char *s)
{
	coop_xdr_put_opaque(x, s, strlen(s));
}

static void put_uaddr(struct coop_xdr_out *x, const struct view *v, int fi, uint32_t port)
{
	char buf[COOP_RPCB_UADDR_MAX];

	if (coop_rpc_uaddr_fmt(buf, sizeof(buf), fi ? AF_INET6 : AF_INET, v->addr[fi],
			       (uint16_t)port) < 0)
		buf[0] = '\0';
	put_string(x, buf);
}

static const char *netid_name(uint32_t prot, int fi)
{
	if (prot == IPPROTO_TCP)
		return fi ? "tcp6" : "tcp";
	return fi ? "udp6" : "udp";
}

/* struct rpcb as a call argument; the strings point into the message. */
struct rpcb_args {
	uint32_t prog, vers; /* r_prog, r_vers */
	const char *netid;   /* r_netid */
	size_t netid_len;
	const char *addr; /* r_addr, a universal address */
	size_t addr_len;
};

static bool get_rpcb(struct coop_xdr_in *x, struct rpcb_args *a)
{
	size_t owner_len;

	a->prog = coop_xdr_u32(x);
	a->vers = coop_xdr_u32(x);
	a->netid = (const char *)coop_xdr_opaque(x, COOP_RPCB_NETID_MAX, &a->netid_len);
	a->addr = (const char *)coop_xdr_opaque(x, COOP_RPCB_UADDR_MAX, &a->addr_len);
	/* r_owner is read and ignored: like rpcbind, the owner is decided
	 * by who the caller is, not by what it says. */
	coop_xdr_opaque(x, COOP_RPCB_OWNER_MAX, &owner_len);
	return !x->bad;
}

/* (prog, vers, prot) is mapped to port by a remote SET. */
static bool reg_has_net(struct coop_rpc_reg *reg, const struct coop_rpc_mapping *m)
{
	bool hit = false;
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n && !hit; i++) {
		const struct reg_entry *e = &reg->entries[i];

		hit = e->m.prog == m->prog && e->m.vers == m->vers && e->m.prot == m->prot &&
		      e->m.port == m->port && e->owner == COOP_RPC_OWNER_NET;
	}
	pthread_mutex_unlock(&reg->lock);
	return hit;
}

/* SET or UNSET, versions 3/4: the v2 rule (local callers only, remote
 * mappings only), keyed by netid and universal address. */
static bool rpcb_change(struct coop_rpc_reg *reg, const struct rpcb_args *a, bool set, bool local,
			unsigned vi)
{
	struct coop_rpc_mapping m = {a->prog, a->vers, 0, 0};
	int family, afam, ret;
	uint8_t addr[16];
	uint16_t port;
	bool ok;

	if (!local) {
		count(&reg->st.set_refused);
		return false;
	}
	if (set) {
		if (coop_rpc_netid_parse(a->netid, a->netid_len, &m.prot, &family) < 0 ||
		    coop_rpc_uaddr_parse(a->addr, a->addr_len, &afam, addr, &port) < 0 ||
		    afam != family || !port)
			return false;
		m.port = port;
		ret = coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_NET);
		/* The registry maps protocols, not netids: "udp6" after "udp"
		 * at the same port is the same mapping, already there. */
		ok = ret == 0 || (ret == -EEXIST && reg_has_net(reg, &m));
		if (ret == -ENOSPC)
			count(&reg->st.set_full);
	} else {
		/* An empty netid removes every transport, as in rpcbind. */
		if (a->netid_len &&
		    coop_rpc_netid_parse(a->netid, a->netid_len, &m.prot, &family) < 0)
			return false;
		ok = coop_rpc_reg_unset_prot(reg, a->prog, a->vers, m.prot,
					     1u << COOP_RPC_OWNER_NET) > 0;
	}
	if (ok)
		count(set ? &reg->st.set_ok[vi] : &reg->st.unset_ok[vi]);
	return ok;
}

/* GETADDR (any version of the program, as GETPORT) and GETVERSADDR (that
 * version): the universal address for the netid, "" when none. */
static void put_getaddr(struct coop_rpc_reg *reg, const struct view *v, const struct rpcb_args *a,
			bool exact, struct coop_xdr_out *x)
{
	uint32_t prot, port = 0;
	int family;

	if (coop_rpc_netid_parse(a->netid, a->netid_len, &prot, &family) == 0 &&
	    v->has[fam_idx(family)])
		port = reg_lookup(reg, a->prog, a->vers, prot, exact);
	if (port)
		put_uaddr(x, v, fam_idx(family), port);
	else
		put_string(x, "");
}

/* rpcblist: every mapping once per family the VS answers on. */
static void put_rpcb_dump(struct coop_rpc_reg *reg, const struct view *v, struct coop_xdr_out *x)
{
	size_t i;
	int fi;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n && !x->full; i++) {
		const struct reg_entry *e = &reg->entries[i];

		for (fi = 0; fi < 2; fi++) {
			if (!v->has[fi])
				continue;
			coop_xdr_put_u32(x, 1); /* value follows */
			coop_xdr_put_u32(x, e->m.prog);
			coop_xdr_put_u32(x, e->m.vers);
			put_string(x, netid_name(e->m.prot, fi));
			put_uaddr(x, v, fi, e->m.port);
			put_string(x, e->name);
		}
	}
	pthread_mutex_unlock(&reg->lock);
	coop_xdr_put_u32(x, 0);
}

/* rpcb_entry_list: the mappings of (prog, vers) on the family the request
 * came in on (every family when that is unknown). */
static void put_addrlist(struct coop_rpc_reg *reg, const struct view *v, const struct rpcb_args *a,
			 struct coop_xdr_out *x)
{
	size_t i;
	int fi;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n && !x->full; i++) {
		const struct coop_rpc_mapping *m = &reg->entries[i].m;

		if (m->prog != a->prog || m->vers != a->vers)
			continue;
		for (fi = 0; fi < 2; fi++) {
			if (!v->has[fi] || (v->to_family && fam_idx(v->to_family) != fi))
				continue;
			coop_xdr_put_u32(x, 1);
			put_uaddr(x, v, fi, m->port);		/* r_maddr */
			put_string(x, netid_name(m->prot, fi)); /* r_nc_netid */
			coop_xdr_put_u32(
			    x, m->prot == IPPROTO_TCP ? 3 : 1); /* NC_TPI_COTS_ORD, _CLTS */
			put_string(x, fi ? "inet6" : "inet");	/* r_nc_protofmly */
			put_string(x, m->prot == IPPROTO_TCP ? "tcp" : "udp"); /* r_nc_proto */
		}
	}
	pthread_mutex_unlock(&reg->lock);
	coop_xdr_put_u32(x, 0);
}

/* rpcb_stat_byvers: for versions 2, 3, 4 the calls of each procedure,
 * the SETs and UNSETs that changed the map, and two lists: GETPORT/GETADDR
 * per program (not kept: empty) and indirect calls (refused: empty). */
static void put_stat(struct coop_rpc_reg *reg, struct coop_xdr_out *x)
{
	const struct coop_pmap_stats *s = &reg->st;
	unsigned v, p;

	for (v = 0; v < 3; v++) {
		for (p = 0; p < COOP_RPCB_NPROC; p++)
			coop_xdr_put_u32(x, (uint32_t)atomic_load_explicit(&s->proc[v][p],
									   memory_order_relaxed));
		coop_xdr_put_u32(
		    x, (uint32_t)atomic_load_explicit(&s->set_ok[v], memory_order_relaxed));
		coop_xdr_put_u32(
		    x, (uint32_t)atomic_load_explicit(&s->unset_ok[v], memory_order_relaxed));
		coop_xdr_put_u32(x, 0); /* addrinfo: NULL */
		coop_xdr_put_u32(x, 0); /* rmtinfo: NULL */
	}
}

/* UADDR2TADDR: a netbuf {maxlen, buf<>} holding the sockaddr in this
 * host's layout, as libtirpc's uaddr2taddr makes it; an empty netbuf for a
 * bad universal address (rpcbind's answer too). */
static void put_taddr(struct coop_xdr_out *x, const char *s, size_t len)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	uint8_t addr[16];
	uint16_t port;
	int family;

	if (coop_rpc_uaddr_parse(s, len, &family, addr, &port) < 0) {
		coop_xdr_put_u32(x, 0);
		coop_xdr_put_opaque(x, NULL, 0);
	} else if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		memcpy(&sin.sin_addr, addr, 4);
		coop_xdr_put_u32(x, sizeof(sin));
		coop_xdr_put_opaque(x, &sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		memcpy(&sin6.sin6_addr, addr, 16);
		coop_xdr_put_u32(x, sizeof(sin6));
		coop_xdr_put_opaque(x, &sin6, sizeof(sin6));
	}
}

/* TADDR2UADDR: the universal address of a netbuf's sockaddr, "" when it
 * holds no IPv4 or IPv6 one. */
static void put_taddr2uaddr(struct coop_xdr_out *x, const uint8_t *buf, size_t len)
{
	char out[COOP_RPCB_UADDR_MAX] = "";
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	sa_family_t fam = AF_UNSPEC;

	if (len >= sizeof(fam))
		memcpy(&fam, buf, sizeof(fam));
	if (fam == AF_INET && len >= sizeof(sin)) {
		memcpy(&sin, buf, sizeof(sin));
		if (coop_rpc_uaddr_fmt(out, sizeof(out), AF_INET, &sin.sin_addr,
				       ntohs(sin.sin_port)) < 0)
			out[0] = '\0';
	} else if (fam == AF_INET6 && len >= sizeof(sin6)) {
		memcpy(&sin6, buf, sizeof(sin6));
		if (coop_rpc_uaddr_fmt(out, sizeof(out), AF_INET6, &sin6.sin6_addr,
				       ntohs(sin6.sin6_port)) < 0)
			out[0] = '\0';
	}
	put_string(x, out);
}

/* A version 3 or 4 call, as pmap_call. */
static uint32_t rpcb_call(struct coop_rpc_reg *reg, const struct coop_rpc_call *call, bool local,
			  const struct sockaddr *to, struct coop_xdr_out *x)
{
	bool v4 = call->vers == 4;
	const uint8_t *p;
	struct coop_xdr_in in;
	struct rpcb_args a;
	struct view v;
	uint32_t maxlen;
	size_t len;

	coop_xdr_in_init(&in, call->args, call->args_len);
	view_init(&v, reg, to);
	switch (call->proc) {
	case COOP_RPCB_NULL:
		return COOP_RPC_SUCCESS;
	case COOP_RPCB_SET:
	case COOP_RPCB_UNSET:
		if (!get_rpcb(&in, &a))
			return COOP_RPC_GARBAGE_ARGS;
		coop_xdr_put_u32(
		    x, rpcb_change(reg, &a, call->proc == COOP_RPCB_SET, local, call->vers - 2));
		return COOP_RPC_SUCCESS;
	case COOP_RPCB_GETVERSADDR:
		if (!v4)
			break;
		/* fall through */
	case COOP_RPCB_GETADDR:
		if (!get_rpcb(&in, &a))
			return COOP_RPC_GARBAGE_ARGS;
		put_getaddr(reg, &v, &a, call->proc == COOP_RPCB_GETVERSADDR, x);
		return COOP_RPC_SUCCESS;
	case COOP_RPCB_DUMP:
		put_rpcb_dump(reg, &v, x);
		return COOP_RPC_SUCCESS;
	case COOP_RPCB_GETTIME:
		coop_xdr_put_u32(x, (uint32_t)time(NULL));
		return COOP_RPC_SUCCESS;
	case COOP_RPCB_UADDR2TADDR:
		p = coop_xdr_opaque(&in, COOP_RPCB_UADDR_MAX, &len);
		if (in.bad)
			return COOP_RPC_GARBAGE_ARGS;
		put_taddr(x, (const char *)p, len);
		return COOP_RPC_SUCCESS;
	case COOP_RPCB_TADDR2UADDR:
		maxlen = coop_xdr_u32(&in);
		p = coop_xdr_opaque(&in, sizeof(struct sockaddr_storage), &len);
		if (in.bad || len > maxlen)
			return COOP_RPC_GARBAGE_ARGS;
		put_taddr2uaddr(x, p, len);
		return COOP_RPC_SUCCESS;
	case COOP_RPCB_GETADDRLIST:
		if (!v4)
			break;
		if (!get_rpcb(&in, &a))
			return COOP_RPC_GARBAGE_ARGS;
		put_addrlist(reg, &v, &a, x);
		return COOP_RPC_SUCCESS;
	case COOP_RPCB_GETSTAT:
		if (!v4)
			break;
		put_stat(reg, x);
		return COOP_RPC_SUCCESS;
	}
	/* CALLIT/BCAST (5) and INDIRECT (10) included, for the reason v2's
	 * CALLIT is refused: no VS becomes a reflector. */
	return COOP_RPC_PROC_UNAVAIL;
}

/* Run a well-formed call to program 100000, version 2 to 4. */
static void rpcb_dispatch(struct coop_rpc_reg *reg, const struct coop_rpc_call *call, bool local,
			  const struct sockaddr *to, struct coop_xdr_out *x)
{
	size_t start = x->off;
	uint32_t stat;

	/* Counted as rpcbind does for GETSTAT: every request of a known
	 * procedure number, answered or refused. */
	if (call->proc < COOP_RPCB_NPROC)
		count(&reg->st.proc[call->vers - COOP_RPCB_VERS_LOW][call->proc]);
	coop_rpc_put_accepted(x, call->xid, COOP_RPC_SUCCESS);
	if (call->vers == COOP_PMAP_VERS)
		stat = pmap_call(reg, call, local, x);
	else
		stat = rpcb_call(reg, call, local, to, x);
	if (stat == COOP_RPC_SUCCESS && !x->full) {
		count(&reg->st.success);
		return;
	}
	switch (stat) {
	case COOP_RPC_SUCCESS:
		stat = COOP_RPC_SYSTEM_ERR; /* the results did not fit */
		count(&reg->st.system_err);
		break;
	case COOP_RPC_GARBAGE_ARGS:
		count(&reg->st.garbage_args);
		break;
	default:
		count(&reg->st.proc_unavail);
		break;
	}
	x->full = false;
	x->off = start;
	coop_rpc_put_accepted(x, call->xid, stat);
}

size_t coop_pmap_handle(struct coop_rpc_reg *reg, const void *msg, size_t len, bool local,
			void *out, size_t cap)
{
	return coop_pmap_handle_to(reg, msg, len, local, NULL, out, cap);
}

size_t coop_pmap_handle_to(struct coop_rpc_reg *reg, const void *msg, size_t len, bool local,
			   const struct sockaddr *to, void *out, size_t cap)
{
	struct coop_rpc_call call;
	struct coop_xdr_out x;
	uint32_t auth;

	coop_xdr_out_init(&x, out, cap);
	switch (coop_rpc_call_parse(msg, len, &call, &auth)) {
	case COOP_RPC_DROP_SHORT:
		count(&reg->st.drop_short);
		return 0;
	case COOP_RPC_DROP_NOCALL:
		count(&reg->st.drop_nocall);
		return 0;
	case COOP_RPC_DROP_HEADER:
		count(&reg->st.drop_header);
		return 0;
	case COOP_RPC_DENY_VERS:
		count(&reg->st.rpc_mismatch);
		coop_rpc_put_rpc_mismatch(&x, call.xid, COOP_RPC_VERSION, COOP_RPC_VERSION);
		break;
	case COOP_RPC_DENY_AUTH:
		count(&reg->st.auth_error);
		coop_rpc_put_auth_error(&x, call.xid, auth);
		break;
	case COOP_RPC_CALL_OK:
		count(&reg->st.calls);
		if (call.prog != COOP_PMAP_PROG) {
			count(&reg->st.prog_unavail);
			coop_rpc_put_accepted(&x, call.xid, COOP_RPC_PROG_UNAVAIL);
		} else if (call.vers < COOP_RPCB_VERS_LOW || call.vers > COOP_RPCB_VERS_HIGH) {
			count(&reg->st.prog_mismatch);
			coop_rpc_put_accepted(&x, call.xid, COOP_RPC_PROG_MISMATCH);
			coop_xdr_put_u32(&x, COOP_RPCB_VERS_LOW);
			coop_xdr_put_u32(&x, COOP_RPCB_VERS_HIGH);
		} else {
			rpcb_dispatch(reg, &call, local, to, &x);
		}
		break;
	}
	/* Only a buffer smaller than the 24-byte header gets here full. */
	return x.full ? 0 : x.off;
}

/* --- admin ------------------------------------------------------------------------------- */

static const char *owner_name(enum coop_rpc_owner o)
{
	switch (o) {
	case COOP_RPC_OWNER_CONFIG:
		return "config";
	case COOP_RPC_OWNER_APP:
		return "application";
	case COOP_RPC_OWNER_NET:
		return "remote";
	}
	return "?";
}

void coop_rpc_reg_json(struct coop_rpc_reg *reg, struct coop_json *out)
{
	const struct coop_pmap_stats *s = &reg->st;
	size_t i;

	coop_json_key(out, "rpc");
	coop_json_object_begin(out);
	coop_json_key(out, "mappings");
	coop_json_array_begin(out);
	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		const struct reg_entry *e = &reg->entries[i];

		coop_json_object_begin(out);
		coop_json_kv_u64(out, "program", e->m.prog);
		coop_json_kv_u64(out, "version", e->m.vers);
		coop_json_kv_string(out, "proto", e->m.prot == IPPROTO_TCP ? "tcp" : "udp");
		coop_json_kv_u64(out, "port", e->m.port);
		coop_json_kv_string(out, "owner", owner_name(e->owner));
		coop_json_kv_string(out, "r_owner", e->name);
		coop_json_object_end(out);
	}
	pthread_mutex_unlock(&reg->lock);
	coop_json_array_end(out);
	coop_json_key(out, "counters");
	coop_json_object_begin(out);
#define PUT(f) coop_json_kv_u64(out, #f, atomic_load_explicit(&s->f, memory_order_relaxed))
	PUT(calls);
	PUT(success);
	PUT(prog_unavail);
	PUT(prog_mismatch);
	PUT(proc_unavail);
	PUT(garbage_args);
	PUT(system_err);
	PUT(rpc_mismatch);
	PUT(auth_error);
	PUT(drop_short);
	PUT(drop_nocall);
	PUT(drop_header);
	PUT(drop_record);
	PUT(set_refused);
	PUT(set_full);
#undef PUT
	coop_json_object_end(out);
	coop_json_object_end(out);
}

/* --- a VS's registry ---------------------------------------------------------------------- */

struct coop_rpc_reg *coop_vs_rpc_reg(const struct coop_vs *vs)
{
	return vs->rpc;
}

int coop_rpc_vs_init(struct coop_vs *vs, char *err, size_t errlen)
{
	const struct coop_vs_cfg *cfg = vs->cfg;
	struct coop_rpc_reg *reg = coop_rpc_reg_new();
	size_t i;
	int ret;

	if (!reg)
		goto err_nomem;
	/* The portmapper maps itself on each of its listeners, as rpcbind
	 * does; the service is recognised by identity, not by name. */
	for (i = 0; i < cfg->n_listens; i++) {
		const struct coop_listen_cfg *lc = &cfg->listens[i];
		struct coop_rpc_mapping m = {COOP_PMAP_PROG, 0, (uint32_t)lc->proto, lc->port};

		if (coop_service_find(vs->coop, lc->service) != &coop_service_portmap)
			continue;
		for (m.vers = COOP_RPCB_VERS_LOW; m.vers <= COOP_RPCB_VERS_HIGH; m.vers++) {
			ret = coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_CONFIG);
			if (ret == -ENOMEM)
				goto err_free;
		}
	}
	for (i = 0; i < cfg->n_addrs; i++) {
		const struct coop_addr *a = &cfg->addrs[i].addr;

		coop_rpc_reg_addr_add(reg, a->family,
				      a->family == AF_INET ? (const void *)&a->v4
							   : (const void *)&a->v6);
	}
	for (i = 0; i < cfg->n_rpcs; i++) {
		const struct coop_rpc_cfg *rc = &cfg->rpcs[i];
		struct coop_rpc_mapping m = {rc->prog, rc->vers, rc->prot, rc->port};

		ret = coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_CONFIG);
		if (ret == -ENOMEM)
			goto err_free;
		/* The loader checked values and duplicates; only the
		 * portmapper's own mapping can still collide. */
		if (ret < 0) {
			snprintf(err, errlen,
				 "vs '%s': rpc %u:%u:%s:%u: %s (the portmapper maps itself there)",
				 cfg->name, rc->prog, rc->vers,
				 rc->prot == IPPROTO_TCP ? "tcp" : "udp", rc->port, strerror(-ret));
			coop_rpc_reg_free(reg);
			return ret;
		}
	}
	vs->rpc = reg;
	return 0;

err_free:
	coop_rpc_reg_free(reg);
err_nomem:
	snprintf(err, errlen, "vs '%s': out of memory", cfg->name);
	return -ENOMEM;
}

void coop_rpc_vs_fini(struct coop_vs *vs)
{
	coop_rpc_reg_free(vs->rpc);
	vs->rpc = NULL;
}

int coop_vs_rpc_set(struct coop_vs *vs, uint32_t prog, uint32_t vers, int proto, uint16_t port)
{
	return coop_vs_rpc_set_owner(vs, prog, vers, proto, port, NULL);
}

int coop_vs_rpc_set_owner(struct coop_vs *vs, uint32_t prog, uint32_t vers, int proto,
			  uint16_t port, const char *owner)
{
	struct coop_rpc_mapping m = {prog, vers, (uint32_t)proto, port};

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -EINVAL;
	return coop_rpc_reg_set_owned(vs->rpc, &m, COOP_RPC_OWNER_APP, owner);
}

int coop_vs_rpc_unset(struct coop_vs *vs, uint32_t prog, uint32_t vers)
{
	return coop_rpc_reg_unset(vs->rpc, prog, vers,
				  1u << COOP_RPC_OWNER_APP | 1u << COOP_RPC_OWNER_NET);
}

uint16_t coop_vs_rpc_getport(const struct coop_vs *vs, uint32_t prog, uint32_t vers, int proto)
{
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	return coop_rpc_reg_port(vs->rpc, prog, vers, (uint32_t)proto);
}

size_t coop_vs_rpc_dump(const struct coop_vs *vs, struct coop_rpc_mapping *out, size_t max)
{
	return coop_rpc_reg_dump(vs->rpc, out, max);
}

/* --- the module ------------------------------------------------------------------ */

/* The mappings a section gives the registry: the portmapper's own (100000
 * v2..v4 on each of its listeners) and its `rpc =` entries. Up to max. */
static size_t cfg_mappings(const struct coop_vs *vs, const struct coop_vs_cfg *cfg,
			   struct coop_rpc_mapping *out, size_t max)
{
	size_t i, n = 0;
	uint32_t v;

	for (i = 0; i < cfg->n_listens; i++) {
		const struct coop_listen_cfg *lc = &cfg->listens[i];

		if (coop_service_find(vs->coop, lc->service) != &coop_service_portmap)
			continue;
		for (v = COOP_RPCB_VERS_LOW; v <= COOP_RPCB_VERS_HIGH && n < max; v++)
			out[n++] = (struct coop_rpc_mapping){ COOP_PMAP_PROG, v, (uint32_t)lc->proto,
							      lc->port };
	}
	for (i = 0; i < cfg->n_rpcs && n < max; i++)
		out[n++] = (struct coop_rpc_mapping){ cfg->rpcs[i].prog, cfg->rpcs[i].vers,
						      cfg->rpcs[i].prot, cfg->rpcs[i].port };
	return n;
}


/* The configured mappings change in place: the application's and the
 * network's registrations stay. */
static int rpc_vs_change(struct coop_vs *vs, const struct coop_vs_cfg *old,
			 const struct coop_vs_cfg *new, struct coop_change_note *note, char *err,
			 size_t errlen)
{
	struct coop_rpc_mapping was[256], now[256];
	size_t n_was = cfg_mappings(vs, old, was, 256), n_now = cfg_mappings(vs, new, now, 256);
	size_t i, j;
	bool changed = n_was != n_now;
	int ret;

	for (i = 0; !changed && i < n_now; i++)
		changed = memcmp(&was[i], &now[i], sizeof(now[i])) != 0;
	for (i = 0; i < new->n_addrs; i++) {
		const struct coop_addr *a = &new->addrs[i].addr;

		coop_rpc_reg_addr_add(vs->rpc, a->family,
				      a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6);
	}
	if (!changed)
		return 0;
	for (i = 0; i < n_was; i++)
		coop_rpc_reg_unset_prot(vs->rpc, was[i].prog, was[i].vers, was[i].prot,
					1u << COOP_RPC_OWNER_CONFIG);
	for (i = 0; i < n_now; i++) {
		ret = coop_rpc_reg_set(vs->rpc, &now[i], COOP_RPC_OWNER_CONFIG);
		if (ret < 0 && ret != -EEXIST) {
			snprintf(err, errlen, "vs '%s': rpc %u:%u: %s", new->name, now[i].prog,
				 now[i].vers, strerror(-ret));
			for (j = 0; j < i; j++)
				coop_rpc_reg_unset_prot(vs->rpc, now[j].prog, now[j].vers,
							now[j].prot, 1u << COOP_RPC_OWNER_CONFIG);
			for (j = 0; j < n_was; j++)
				coop_rpc_reg_set(vs->rpc, &was[j], COOP_RPC_OWNER_CONFIG);
			return ret;
		}
	}
	coop_change_note_add(note, "rpc mappings updated");
	return 0;
}

static void rpc_vs_json(const struct coop_vs *vs, struct coop_json *out, bool detail)
{
	if (detail && vs->rpc)
		coop_rpc_reg_json(vs->rpc, out);
}

const struct coop_module coop_mod_rpc = {
	.id = COOP_MOD_RPC,
	.name = "rpc",
	.vs_new = coop_rpc_vs_init,
	.vs_change = rpc_vs_change,
	.vs_free = coop_rpc_vs_fini,
	.vs_json = rpc_vs_json,
};
