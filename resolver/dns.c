/* dns.c - DNS messages for the resolver: names, answer parsing with CNAME
 * chains and negative TTLs, result objects, type names and messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "resolver/resolver_priv.h"

#define CHUNK_MIN     1024 /* smallest arena block */
#define NAME_WIRE_MAX 255  /* RFC 1035 2.3.4 */
#define HDR_LEN	      12   /* DNS header */

/* --- arena ------------------------------------------------------------------ */

void *res_arena_alloc(struct res_arena *a, size_t n)
{
	struct res_chunk *c = a->head;
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (!c || c->size - c->used < n) {
		size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

char *res_arena_strdup(struct res_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = res_arena_alloc(a, n);

	if (p)
		memcpy(p, s, n);
	return p;
}

void res_arena_take(struct res_arena *to, struct res_arena *from)
{
	struct res_chunk *c = from->head, *next;

	/* Older blocks of `to` stay behind the moved ones; order is irrelevant
	 * except that the newest block keeps serving small allocations. */
	for (; c; c = next) {
		next = c->next;
		c->next = to->head;
		to->head = c;
	}
	from->head = NULL;
}

void res_arena_free(struct res_arena *a)
{
	struct res_chunk *c = a->head, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* --- record sets -------------------------------------------------------------- */

void res_rrset_init(struct res_rrset *s)
{
	memset(s, 0, sizeof(*s));
	s->ttl = UINT32_MAX;
}

void res_rrset_clear(struct res_rrset *s)
{
	free(s->rrs);
	res_arena_free(&s->arena);
	res_rrset_init(s);
}

int res_rrset_push(struct res_rrset *s, const struct coop_resolver_rr *rr)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		struct coop_resolver_rr *p = realloc(s->rrs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->rrs = p;
		s->cap = cap;
	}
	s->rrs[s->n++] = *rr;
	if (rr->ttl < s->ttl)
		s->ttl = rr->ttl;
	return 0;
}

/* --- names ---------------------------------------------------------------------- */

static bool plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '*';
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int res_dns_name(const unsigned char *msg, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t pos = *off, end = 0, o = 0, wire = 0;
	bool jumped = false;

	for (;;) {
		unsigned char l;

		if (pos >= len)
			return -EBADMSG;
		l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= len)
				return -EBADMSG;
			to = (size_t)(l & 0x3f) << 8 | msg[pos + 1];
			/* Only backwards: every jump lands before the pointer,
			 * so a loop is impossible. */
			if (to >= pos)
				return -EBADMSG;
			if (!jumped)
				end = pos + 2;
			jumped = true;
			pos = to;
			continue;
		}
		if (l & 0xc0)
			return -EBADMSG; /* 0x40/0x80: obsolete label types */
		if (l == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		wire += (size_t)l + 1;
		if (wire + 1 > NAME_WIRE_MAX || pos + 1 + l > len)
			return -EBADMSG;
		if (o) {
			if (o + 1 >= outlen)
				return -EBADMSG;
			out[o++] = '.';
		}
		for (size_t i = 0; i < l; i++) {
			unsigned char c = msg[pos + 1 + i];

			if (plain_char(c)) {
				if (o + 1 >= outlen)
					return -EBADMSG;
				out[o++] = (char)c;
			} else {
				if (o + 4 >= outlen)
					return -EBADMSG;
				snprintf(out + o, 5, "\\%03u", c);
				o += 4;
			}
		}
		pos += 1 + (size_t)l;
	}
	if (!outlen)
		return -EBADMSG;
	out[o] = '\0';
	*off = end;
	return 0;
}

bool res_name_eq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* --- answers ---------------------------------------------------------------------- */

/* Where one resource record sits in the message. */
struct raw_rr {
	size_t owner;	/* offset of its owner name */
	uint16_t type;	/* TYPE */
	uint16_t cls;	/* CLASS */
	uint32_t ttl;	/* TTL, clamped */
	size_t rd;	/* offset of its rdata */
	uint16_t rdlen; /* RDLENGTH */
};

static uint32_t clamp_ttl(uint32_t ttl)
{
	if (ttl & 0x80000000u) /* RFC 2181 8: treat as zero */
		return 0;
	return ttl > RES_TTL_CAP ? RES_TTL_CAP : ttl;
}

/* Read n records from *off into raw (may be NULL to skip them). */
static int read_rrs(const unsigned char *msg, size_t len, size_t *off, unsigned n,
		    struct raw_rr *raw)
{
	char name[RES_TEXT_NAME_MAX];
	unsigned i;

	for (i = 0; i < n; i++) {
		size_t o = *off, owner = o;

		if (res_dns_name(msg, len, &o, name, sizeof(name)) < 0 || o + 10 > len)
			return -EBADMSG;
		if (raw) {
			raw[i].owner = owner;
			raw[i].type = get16(msg + o);
			raw[i].cls = get16(msg + o + 2);
			raw[i].ttl = clamp_ttl(get32(msg + o + 4));
			raw[i].rdlen = get16(msg + o + 8);
			raw[i].rd = o + 10;
		}
		if (o + 10 + get16(msg + o + 8) > len)
			return -EBADMSG;
		*off = o + 10 + get16(msg + o + 8);
	}
	return 0;
}

/* A name inside rdata [rd, end): read it into the arena. */
static const char *rd_name(const unsigned char *msg, size_t len, size_t *off, size_t end,
			   struct res_arena *a)
{
	char name[RES_TEXT_NAME_MAX];

	if (res_dns_name(msg, len, off, name, sizeof(name)) < 0 || *off > end)
		return NULL;
	return res_arena_strdup(a, name);
}

/* Fill rr's parsed fields from its rdata. 0, -EBADMSG or -ENOMEM. */
static int parse_rdata(const unsigned char *msg, size_t len, const struct raw_rr *raw,
		       struct coop_resolver_rr *rr, struct res_arena *a)
{
	size_t off = raw->rd, end = raw->rd + raw->rdlen;
	unsigned char *copy;

	copy = res_arena_alloc(a, raw->rdlen ? raw->rdlen : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, msg + raw->rd, raw->rdlen);
	rr->rdata = copy;
	rr->rdlen = raw->rdlen;

	switch (raw->type) {
	case COOP_DNS_A:
		if (raw->rdlen != 4)
			return -EBADMSG;
		rr->addr.family = AF_INET;
		memcpy(&rr->addr.v4, msg + off, 4);
		return 0;
	case COOP_DNS_AAAA:
		if (raw->rdlen != 16)
			return -EBADMSG;
		rr->addr.family = AF_INET6;
		memcpy(&rr->addr.v6, msg + off, 16);
		return 0;
	case COOP_DNS_NS:
	case COOP_DNS_CNAME:
	case COOP_DNS_PTR:
		rr->target = rd_name(msg, len, &off, end, a);
		return rr->target ? 0 : -EBADMSG;
	case COOP_DNS_MX:
		if (raw->rdlen < 3)
			return -EBADMSG;
		rr->mx.preference = get16(msg + off);
		off += 2;
		rr->mx.exchange = rd_name(msg, len, &off, end, a);
		return rr->mx.exchange ? 0 : -EBADMSG;
	case COOP_DNS_SRV:
		if (raw->rdlen < 7)
			return -EBADMSG;
		rr->srv.priority = get16(msg + off);
		rr->srv.weight = get16(msg + off + 2);
		rr->srv.port = get16(msg + off + 4);
		off += 6;
		rr->srv.target = rd_name(msg, len, &off, end, a);
		return rr->srv.target ? 0 : -EBADMSG;
	case COOP_DNS_SOA:
		rr->soa.mname = rd_name(msg, len, &off, end, a);
		if (!rr->soa.mname)
			return -EBADMSG;
		rr->soa.rname = rd_name(msg, len, &off, end, a);
		if (!rr->soa.rname || off + 20 > end)
			return -EBADMSG;
		rr->soa.serial = get32(msg + off);
		rr->soa.refresh = get32(msg + off + 4);
		rr->soa.retry = get32(msg + off + 8);
		rr->soa.expire = get32(msg + off + 12);
		rr->soa.minimum = get32(msg + off + 16);
		return 0;
	case COOP_DNS_TXT: {
		char *t = res_arena_alloc(a, raw->rdlen + 1);
		size_t n = 0;

		if (!t)
			return -ENOMEM;
		while (off < end) {
			unsigned l = msg[off];

			if (off + 1 + l > end)
				return -EBADMSG;
			memcpy(t + n, msg + off + 1, l);
			n += l;
			off += 1 + l;
		}
		t[n] = '\0';
		rr->txt.text = t;
		rr->txt.len = n;
		return 0;
	}
	default:
		return 0; /* raw rdata only */
	}
}

/* Decode the owner of raw into buf (RES_TEXT_NAME_MAX bytes) and compare it
 * with name. */
static bool owner_is(const unsigned char *msg, size_t len, const struct raw_rr *raw,
		     const char *name, char *buf)
{
	size_t off = raw->owner;

	if (res_dns_name(msg, len, &off, buf, RES_TEXT_NAME_MAX) < 0)
		return false;
	return res_name_eq(buf, name);
}

/* Append the records of qtype owned by name; *found tells whether any. */
static int collect(const unsigned char *msg, size_t len, const struct raw_rr *raw, unsigned n,
		   const char *name, uint16_t qtype, struct res_rrset *out, bool *found)
{
	char owner[RES_TEXT_NAME_MAX];
	struct coop_resolver_rr rr;
	unsigned i;
	int ret;

	*found = false;
	for (i = 0; i < n; i++) {
		if (raw[i].type != qtype || raw[i].cls != RES_CLASS_IN ||
		    !owner_is(msg, len, &raw[i], name, owner))
			continue;
		memset(&rr, 0, sizeof(rr));
		rr.name = res_arena_strdup(&out->arena, owner);
		if (!rr.name)
			return -ENOMEM;
		rr.type = raw[i].type;
		rr.rclass = raw[i].cls;
		rr.ttl = raw[i].ttl;
		ret = parse_rdata(msg, len, &raw[i], &rr, &out->arena);
		if (ret < 0)
			return ret;
		ret = res_rrset_push(out, &rr);
		if (ret < 0)
			return ret;
		*found = true;
	}
	return 0;
}

/* Follow the CNAME chain from the question's name and collect qtype. */
static int follow(const unsigned char *msg, size_t len, const struct raw_rr *raw, unsigned n,
		  uint16_t qtype, const char *qname, struct res_rrset *out)
{
	char cur[RES_TEXT_NAME_MAX], owner[RES_TEXT_NAME_MAX];
	uint32_t chain_ttl = UINT32_MAX;
	unsigned hop, i;
	bool found;
	int ret;

	snprintf(cur, sizeof(cur), "%s", qname);
	for (hop = 0; hop <= RES_CNAME_MAX; hop++) {
		ret = collect(msg, len, raw, n, cur, qtype, out, &found);
		if (ret < 0)
			return ret;
		if (found || qtype == COOP_DNS_CNAME)
			break;
		for (i = 0; i < n; i++)
			if (raw[i].type == COOP_DNS_CNAME && raw[i].cls == RES_CLASS_IN &&
			    owner_is(msg, len, &raw[i], cur, owner))
				break;
		if (i == n)
			break;
		{
			size_t off = raw[i].rd;

			if (res_dns_name(msg, len, &off, cur, sizeof(cur)) < 0 ||
			    off > raw[i].rd + raw[i].rdlen)
				return -EBADMSG;
		}
		if (raw[i].ttl < chain_ttl)
			chain_ttl = raw[i].ttl;
	}
	if (out->n) {
		if (!out->canonical) {
			out->canonical = res_arena_strdup(&out->arena, cur);
			if (!out->canonical)
				return -ENOMEM;
		}
		if (chain_ttl < out->ttl)
			out->ttl = chain_ttl;
	}
	return 0;
}

int res_dns_parse(const unsigned char *msg, size_t len, uint16_t qtype, struct res_rrset *out,
		  struct res_msg_info *info)
{
	struct raw_rr *raw = NULL, *auth = NULL;
	unsigned qd, an, ns, i;
	size_t off = HDR_LEN;
	int ret = -EBADMSG;

	memset(info, 0, sizeof(*info));
	if (len < HDR_LEN)
		return -EBADMSG;
	info->rcode = msg[3] & 0x0f;
	info->truncated = msg[2] & 0x02;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	ns = get16(msg + 8);
	if (qd < 1)
		return -EBADMSG;
	/* Each record takes at least 11 bytes: no allocation a message cannot back. */
	if ((size_t)(an + ns) * 11 > len)
		return -EBADMSG;
	if (res_dns_name(msg, len, &off, info->qname, sizeof(info->qname)) < 0 || off + 4 > len)
		return -EBADMSG;
	off += 4;
	for (i = 1; i < qd; i++) {
		char skip[RES_TEXT_NAME_MAX];

		if (res_dns_name(msg, len, &off, skip, sizeof(skip)) < 0 || off + 4 > len)
			return -EBADMSG;
		off += 4;
	}
	raw = calloc(an ? an : 1, sizeof(*raw));
	auth = calloc(ns ? ns : 1, sizeof(*auth));
	if (!raw || !auth) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (read_rrs(msg, len, &off, an, raw) < 0 || read_rrs(msg, len, &off, ns, auth) < 0)
		goto out_free;
	for (i = 0; i < ns; i++) {
		/* RFC 2308 5: the negative TTL is the SOA's own TTL capped by
		 * its MINIMUM field. */
		if (auth[i].type == COOP_DNS_SOA && auth[i].rdlen >= 22) {
			uint32_t min = clamp_ttl(get32(msg + auth[i].rd + auth[i].rdlen - 4));

			info->neg_ttl = auth[i].ttl < min ? auth[i].ttl : min;
			info->has_soa = true;
			break;
		}
	}
	ret = follow(msg, len, raw, an, qtype, info->qname, out);
out_free:
	free(auth);
	free(raw);
	return ret;
}

/* --- results ---------------------------------------------------------------------- */

static size_t count_addrs(const struct res_rrset *s)
{
	size_t i, n = 0;

	for (i = 0; s && i < s->n; i++)
		if (s->rrs[i].type == COOP_DNS_A || s->rrs[i].type == COOP_DNS_AAAA)
			n++;
	return n;
}

struct res_result *res_result_build(const char *name, uint16_t type,
				    enum coop_resolver_source source, struct res_rrset *a,
				    struct res_rrset *b)
{
	struct res_rrset *sets[2] = {a, b};
	size_t n = 0, na = 0, i, k, j = 0, m = 0;
	struct res_result *r;
	uint32_t ttl = UINT32_MAX;
	const char *canon = NULL;

	for (k = 0; k < 2; k++) {
		if (!sets[k])
			continue;
		n += sets[k]->n;
		if (sets[k]->n && sets[k]->ttl < ttl)
			ttl = sets[k]->ttl;
		if (!canon && sets[k]->n && sets[k]->canonical)
			canon = sets[k]->canonical;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	atomic_init(&r->refs, 1);
	r->rrs = calloc(n ? n : 1, sizeof(*r->rrs));
	if (type == 0)
		na = count_addrs(a) + count_addrs(b);
	r->addrs = calloc(na ? na : 1, sizeof(*r->addrs));
	r->pub.name = res_arena_strdup(&r->arena, name);
	if (!r->rrs || !r->addrs || !r->pub.name) {
		free(r->rrs);
		free(r->addrs);
		res_arena_free(&r->arena);
		free(r);
		return NULL;
	}
	for (k = 0; k < 2; k++) {
		if (!sets[k])
			continue;
		for (i = 0; i < sets[k]->n; i++) {
			const struct coop_resolver_rr *rr = &sets[k]->rrs[i];

			r->rrs[j++] = *rr;
			if (type == 0 && (rr->type == COOP_DNS_A || rr->type == COOP_DNS_AAAA))
				r->addrs[m++] = rr->addr;
		}
		/* The strings move with their blocks: pointers stay valid. */
		res_arena_take(&r->arena, &sets[k]->arena);
	}
	r->pub.canonical = canon ? canon : r->pub.name;
	r->pub.type = type;
	r->pub.source = source;
	r->pub.ttl = n ? ttl : 0;
	r->pub.rrs = r->rrs;
	r->pub.n_rrs = n;
	r->pub.addrs = r->addrs;
	r->pub.n_addrs = m;
	for (k = 0; k < 2; k++)
		if (sets[k])
			res_rrset_clear(sets[k]);
	return r;
}

struct res_result *res_result_hold(struct res_result *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return r;
}

void res_result_release(struct res_result *r)
{
	if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	res_arena_free(&r->arena);
	free(r->rrs);
	free(r->addrs);
	free(r);
}

const struct coop_resolver_result *coop_resolver_result_hold(const struct coop_resolver_result *res)
{
	/* pub is the first member: the cast recovers the container. */
	return &res_result_hold((struct res_result *)res)->pub;
}

void coop_resolver_result_release(const struct coop_resolver_result *res)
{
	res_result_release((struct res_result *)res);
}

/* --- reverse names ------------------------------------------------------------------ */

int coop_resolver_ptr_name(const struct coop_resolver_addr *a, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int i;

	if (a->family == AF_INET) {
		const unsigned char *b = (const unsigned char *)&a->v4;
		int n = snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);

		return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
	}
	if (a->family != AF_INET6)
		return -EINVAL;
	if (len < 32 * 2 + sizeof("ip6.arpa"))
		return -ENOSPC;
	for (i = 15; i >= 0; i--) {
		buf[o++] = hex[a->v6.s6_addr[i] & 0xf];
		buf[o++] = '.';
		buf[o++] = hex[a->v6.s6_addr[i] >> 4];
		buf[o++] = '.';
	}
	memcpy(buf + o, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool res_ptr_name_parse(const char *name, struct coop_resolver_addr *out)
{
	size_t n = strlen(name);
	char v4[32];
	unsigned b[4];
	int i, used = -1;

	if (n && name[n - 1] == '.')
		n--;
	memset(out, 0, sizeof(*out));
	if (n > 13 && n - 13 < sizeof(v4) && !strncasecmp(name + n - 13, ".in-addr.arpa", 13)) {
		/* The four labels before the suffix, each 0..255 in decimal. */
		memcpy(v4, name, n - 13);
		v4[n - 13] = '\0';
		if (sscanf(v4, "%3u.%3u.%3u.%3u%n", &b[0], &b[1], &b[2], &b[3], &used) != 4 ||
		    (size_t)used != n - 13 || b[0] > 255 || b[1] > 255 || b[2] > 255 || b[3] > 255)
			return false;
		out->family = AF_INET;
		((unsigned char *)&out->v4)[0] = (unsigned char)b[3];
		((unsigned char *)&out->v4)[1] = (unsigned char)b[2];
		((unsigned char *)&out->v4)[2] = (unsigned char)b[1];
		((unsigned char *)&out->v4)[3] = (unsigned char)b[0];
		return true;
	}
	if (n == 64 + 8 && !strncasecmp(name + 64, "ip6.arpa", 8)) {
		for (i = 0; i < 32; i++) {
			int v = hexval(name[2 * i]);

			if (v < 0 || name[2 * i + 1] != '.')
				return false;
			/* Nibble i counts from the end of the address. */
			if (i & 1)
				out->v6.s6_addr[15 - i / 2] |= (unsigned char)(v << 4);
			else
				out->v6.s6_addr[15 - i / 2] |= (unsigned char)v;
		}
		out->family = AF_INET6;
		return true;
	}
	return false;
}

/* --- type names and messages --------------------------------------------------------- */

static const struct {
	uint16_t type;	  /* number */
	const char *name; /* mnemonic */
} types[] = {
    {COOP_DNS_A, "A"},
    {COOP_DNS_NS, "NS"},
    {COOP_DNS_CNAME, "CNAME"},
    {COOP_DNS_SOA, "SOA"},
    {COOP_DNS_PTR, "PTR"},
    {13, "HINFO"},
    {COOP_DNS_MX, "MX"},
    {COOP_DNS_TXT, "TXT"},
    {COOP_DNS_AAAA, "AAAA"},
    {29, "LOC"},
    {COOP_DNS_SRV, "SRV"},
    {35, "NAPTR"},
    {39, "DNAME"},
    {43, "DS"},
    {44, "SSHFP"},
    {46, "RRSIG"},
    {48, "DNSKEY"},
    {52, "TLSA"},
    {64, "SVCB"},
    {65, "HTTPS"},
    {256, "URI"},
    {257, "CAA"},
};

const char *coop_resolver_type_str(uint16_t type, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (types[i].type == type) {
			snprintf(buf, len, "%s", types[i].name);
			return buf;
		}
	}
	snprintf(buf, len, "TYPE%u", type);
	return buf;
}

int coop_resolver_type_parse(const char *s)
{
	const char *num = s;
	unsigned long v;
	char *end;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(s, types[i].name))
			return types[i].type;
	if (!strncasecmp(s, "TYPE", 4))
		num = s + 4;
	if (*num < '0' || *num > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(num, &end, 10);
	/* 0 is reserved, 255 (ANY) gets unreliable answers and 251/252
	 * (IXFR/AXFR) are zone transfers, not lookups. */
	if (errno || *end || v == 0 || v > 65535 || v == 251 || v == 252 || v == 255)
		return -EINVAL;
	return (int)v;
}

const char *coop_resolver_strerror(int status)
{
	switch (status) {
	case 0:
		return "ok";
	case -ENOENT:
		return "no such name (NXDOMAIN)";
	case -ENODATA:
		return "no record of that type";
	case -ETIMEDOUT:
		return "no answer from the DNS servers (timed out)";
	case -EAGAIN:
		return "DNS server failure (SERVFAIL)";
	case -ECONNREFUSED:
		return "refused by the DNS server";
	case -EBADMSG:
		return "malformed DNS answer";
	case -ENOTSUP:
		return "no resolver (no dns = servers configured)";
	case -EINVAL:
		return "invalid name or type";
	case -ECANCELED:
		return "cancelled";
	case -ESHUTDOWN:
		return "the virtual server is going away";
	case -ENOMEM:
		return "out of memory";
	default:
		return strerror(-status);
	}
}

const char *coop_resolver_addr_str(const struct coop_resolver_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family,
		       a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6, buf,
		       (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

uint64_t res_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
