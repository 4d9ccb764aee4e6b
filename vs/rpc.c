/* rpc.c - XDR, ONC RPC call parsing and replies, TCP record marking, and the
 * per-VS portmapper (registry and version 2 protocol), over plain buffers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/coop_admin.h"
#include "core/runtime.h"
#include "vs/rpc.h"
#include "vs/vs.h"

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
	struct coop_rpc_mapping m; /* the mapping */
	enum coop_rpc_owner owner; /* who may remove it */
};

struct coop_rpc_reg {
	pthread_mutex_t lock;	   /* protects entries and n */
	struct reg_entry *entries; /* in registration order */
	size_t n;		   /* used */
	size_t cap;		   /* allocated */
	struct coop_pmap_stats st; /* counters (atomics, outside the lock) */
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

int coop_rpc_reg_set(struct coop_rpc_reg *reg, const struct coop_rpc_mapping *m,
		     enum coop_rpc_owner owner)
{
	struct reg_entry *e;
	size_t i;
	int ret = 0;

	if ((m->prot != IPPROTO_TCP && m->prot != IPPROTO_UDP) || !m->port || m->port > 65535)
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		const struct coop_rpc_mapping *o = &reg->entries[i].m;

		if (o->prog == m->prog && o->vers == m->vers && o->prot == m->prot) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (reg->n == COOP_RPC_MAPPINGS_MAX) {
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
	reg->entries[reg->n].m = *m;
	reg->entries[reg->n].owner = owner;
	reg->n++;
out:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

int coop_rpc_reg_unset(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, unsigned owners)
{
	size_t i, k = 0;
	int gone;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		const struct reg_entry *e = &reg->entries[i];

		if (e->m.prog == prog && e->m.vers == vers && (owners & (1u << e->owner)))
			continue;
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

/* GETPORT as rpcbind answers it: the exact version, or else any version
 * of the program on that protocol, so the client learns the program is
 * there and gets PROG_MISMATCH from it rather than "not registered". */
static uint32_t reg_getport(struct coop_rpc_reg *reg, uint32_t prog, uint32_t vers, uint32_t prot)
{
	uint32_t port = 0;
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->n; i++) {
		const struct coop_rpc_mapping *m = &reg->entries[i].m;

		if (m->prog != prog || m->prot != prot)
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

/* --- the portmap protocol ---------------------------------------------------------------- */

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

/* Run a well-formed call to program 100000 version 2. */
static void pmap_call(struct coop_rpc_reg *reg, const struct coop_rpc_call *call, bool local,
		      struct coop_xdr_out *x)
{
	struct coop_xdr_in in;
	struct coop_rpc_mapping m;
	size_t start = x->off;
	bool ok;

	coop_xdr_in_init(&in, call->args, call->args_len);
	switch (call->proc) {
	case COOP_PMAP_NULL:
		coop_rpc_put_accepted(x, call->xid, COOP_RPC_SUCCESS);
		break;
	case COOP_PMAP_SET:
	case COOP_PMAP_UNSET:
		if (!get_mapping(&in, &m))
			goto garbage;
		if (!local) {
			/* Only the VS's own host may change its map,
			 * as with rpcbind; others are told FALSE. */
			count(&reg->st.set_refused);
			ok = false;
		} else if (call->proc == COOP_PMAP_SET) {
			ok = coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_NET) == 0;
		} else {
			ok = coop_rpc_reg_unset(reg, m.prog, m.vers, 1u << COOP_RPC_OWNER_NET) > 0;
		}
		coop_rpc_put_accepted(x, call->xid, COOP_RPC_SUCCESS);
		coop_xdr_put_u32(x, ok);
		break;
	case COOP_PMAP_GETPORT:
		if (!get_mapping(&in, &m))
			goto garbage;
		coop_rpc_put_accepted(x, call->xid, COOP_RPC_SUCCESS);
		coop_xdr_put_u32(x, reg_getport(reg, m.prog, m.vers, m.prot));
		break;
	case COOP_PMAP_DUMP:
		coop_rpc_put_accepted(x, call->xid, COOP_RPC_SUCCESS);
		put_dump(reg, x);
		break;
	default:
		/* CALLIT (5) included: an indirect call would make every
		 * VS a reflector for spoofed requests. */
		count(&reg->st.proc_unavail);
		coop_rpc_put_accepted(x, call->xid, COOP_RPC_PROC_UNAVAIL);
		return;
	}
	if (x->full) {
		x->full = false;
		x->off = start;
		count(&reg->st.system_err);
		coop_rpc_put_accepted(x, call->xid, COOP_RPC_SYSTEM_ERR);
		return;
	}
	count(&reg->st.success);
	return;

garbage:
	count(&reg->st.garbage_args);
	coop_rpc_put_accepted(x, call->xid, COOP_RPC_GARBAGE_ARGS);
}

size_t coop_pmap_handle(struct coop_rpc_reg *reg, const void *msg, size_t len, bool local,
			void *out, size_t cap)
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
		} else if (call.vers != COOP_PMAP_VERS) {
			count(&reg->st.prog_mismatch);
			coop_rpc_put_accepted(&x, call.xid, COOP_RPC_PROG_MISMATCH);
			coop_xdr_put_u32(&x, COOP_PMAP_VERS);
			coop_xdr_put_u32(&x, COOP_PMAP_VERS);
		} else {
			pmap_call(reg, &call, local, &x);
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
		struct coop_rpc_mapping m = {COOP_PMAP_PROG, COOP_PMAP_VERS, (uint32_t)lc->proto,
					     lc->port};

		if (coop_service_find(vs->coop, lc->service) != &coop_service_portmap)
			continue;
		ret = coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_CONFIG);
		if (ret == -ENOMEM)
			goto err_free;
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
	struct coop_rpc_mapping m = {prog, vers, (uint32_t)proto, port};

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -EINVAL;
	return coop_rpc_reg_set(vs->rpc, &m, COOP_RPC_OWNER_APP);
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
