/* pbr_nl.c - netlink for the pbr backend: many requests per sendmsg with
 * only failures answered, dumps, and the rule/route/address messages coop
 * builds and reads back. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/netns.h"
#include "vs/pbr.h"

/* A sendmsg carries at most this much (netlink refuses a message larger
 * than the socket's send buffer) unless the batch is atomic. */
#define CHUNK_BYTES (64u << 10)
/* Socket buffers asked for: a chunk of failures (one small skb each) must
 * fit in the receive buffer, an nftables transaction in the send buffer. */
#define SOCK_BUF (8 << 20)
#define RECV_BUF (256u << 10)
/* The kernel answers within the sendmsg; a silent socket means trouble. */
#define RECV_TIMEOUT_S 10

struct coop_pbr_nl {
	int fd;             /* the netlink socket */
	int protocol;       /* NETLINK_ROUTE or NETLINK_NETFILTER */
	bool atomic;        /* never split the queue over several sendmsg */
	uint8_t *buf;       /* queued requests */
	size_t len, cap;    /* bytes used / allocated in buf */
	size_t msg;         /* offset of the request being built */
	uint32_t *tags;     /* tag of each queued request */
	int *errs;          /* answer of each request of a flushed chunk */
	char **exts;        /* extended-ack text of the refused ones (or NULL) */
	size_t n, tcap;     /* requests queued / room in tags, errs, exts */
	uint32_t seq;       /* sequence number of the next request */
	uint32_t seq_base;  /* sequence number of the first queued request */
	int poison;         /* first append failure since the last flush */
	uint8_t *rbuf;      /* receive buffer */
};

int coop_pbr_nl_open(int nsfd, int protocol, struct coop_pbr_nl **out)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = RECV_TIMEOUT_S };
	struct coop_pbr_nl *nl;
	int one = 1, size = SOCK_BUF, fd, ret;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->rbuf = malloc(RECV_BUF);
	if (!nl->rbuf) {
		ret = -ENOMEM;
		goto err_free;
	}
	fd = coop_netns_socket(nsfd, AF_NETLINK, SOCK_RAW, protocol);
	if (fd < 0) {
		ret = fd;
		goto err_free;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto err_close;
	}
	/* Best effort: the kernel's words for a refusal, no echo of the
	 * request in it, and big buffers (the FORCE variants need
	 * CAP_NET_ADMIN, which coop has; the plain ones are capped). */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	nl->fd = fd;
	nl->protocol = protocol;
	nl->seq = 1;
	*out = nl;
	return 0;

err_close:
	close(fd);
err_free:
	free(nl->rbuf);
	free(nl);
	return ret;
}

static void forget_exts(struct coop_pbr_nl *nl)
{
	size_t i;

	if (!nl->exts)
		return;
	for (i = 0; i < nl->n; i++) {
		free(nl->exts[i]);
		nl->exts[i] = NULL;
	}
}

void coop_pbr_nl_close(struct coop_pbr_nl *nl)
{
	if (!nl)
		return;
	forget_exts(nl);
	close(nl->fd);
	free(nl->buf);
	free(nl->tags);
	free(nl->errs);
	free(nl->exts);
	free(nl->rbuf);
	free(nl);
}

void coop_pbr_nl_set_atomic(struct coop_pbr_nl *nl, bool atomic)
{
	nl->atomic = atomic;
}

size_t coop_pbr_nl_pending(const struct coop_pbr_nl *nl, size_t *n_msgs)
{
	if (n_msgs)
		*n_msgs = nl->n;
	return nl->len;
}

const void *coop_pbr_nl_buf(const struct coop_pbr_nl *nl)
{
	return nl->buf;
}

/* Room for more bytes at the end of the queue. */
static int reserve(struct coop_pbr_nl *nl, size_t more)
{
	size_t cap;
	uint8_t *b;

	if (nl->poison)
		return nl->poison;
	if (nl->len + more <= nl->cap)
		return 0;
	cap = nl->cap ? nl->cap : CHUNK_BYTES + 4096;
	while (cap < nl->len + more)
		cap *= 2;
	b = realloc(nl->buf, cap);
	if (!b) {
		nl->poison = -ENOMEM;
		return -ENOMEM;
	}
	nl->buf = b;
	nl->cap = cap;
	return 0;
}

static int reserve_tag(struct coop_pbr_nl *nl)
{
	size_t cap;
	uint32_t *t;
	int *e;
	char **x;

	if (nl->n < nl->tcap)
		return 0;
	cap = nl->tcap ? 2 * nl->tcap : 256;
	t = realloc(nl->tags, cap * sizeof(*t));
	if (t)
		nl->tags = t;
	e = realloc(nl->errs, cap * sizeof(*e));
	if (e)
		nl->errs = e;
	x = realloc(nl->exts, cap * sizeof(*x));
	if (x) {
		memset(x + nl->tcap, 0, (cap - nl->tcap) * sizeof(*x));
		nl->exts = x;
	}
	if (!t || !e || !x) {
		nl->poison = -ENOMEM;
		return -ENOMEM;
	}
	nl->tcap = cap;
	return 0;
}

int coop_pbr_nl_begin(struct coop_pbr_nl *nl, uint16_t type, uint16_t flags, const void *fixed,
		      size_t fixed_len, uint32_t tag)
{
	struct nlmsghdr *h;
	int ret;

	ret = reserve(nl, NLMSG_SPACE(fixed_len));
	if (ret == 0)
		ret = reserve_tag(nl);
	if (ret < 0)
		return ret;
	nl->msg = nl->len;
	h = (struct nlmsghdr *)(nl->buf + nl->len);
	memset(h, 0, NLMSG_SPACE(fixed_len));
	h->nlmsg_type = type;
	h->nlmsg_flags = flags | NLM_F_REQUEST;
	if (!nl->n)
		nl->seq_base = nl->seq;
	h->nlmsg_seq = nl->seq++;
	if (fixed_len)
		memcpy(NLMSG_DATA(h), fixed, fixed_len);
	nl->len += NLMSG_SPACE(fixed_len);
	nl->tags[nl->n] = tag;
	nl->errs[nl->n] = 0;
	nl->n++;
	return 0;
}

int coop_pbr_nl_put(struct coop_pbr_nl *nl, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a;
	int ret;

	if (len > 0xffff - NLA_HDRLEN)
		return -EMSGSIZE;
	ret = reserve(nl, NLA_ALIGN(NLA_HDRLEN + len));
	if (ret < 0)
		return ret;
	a = (struct nlattr *)(nl->buf + nl->len);
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	memset((uint8_t *)a + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
	nl->len += NLA_ALIGN(NLA_HDRLEN + len);
	return 0;
}

int coop_pbr_nl_put_u8(struct coop_pbr_nl *nl, uint16_t type, uint8_t v)
{
	return coop_pbr_nl_put(nl, type, &v, sizeof(v));
}

int coop_pbr_nl_put_u32(struct coop_pbr_nl *nl, uint16_t type, uint32_t v)
{
	return coop_pbr_nl_put(nl, type, &v, sizeof(v));
}

int coop_pbr_nl_put_be32(struct coop_pbr_nl *nl, uint16_t type, uint32_t v)
{
	v = htonl(v);
	return coop_pbr_nl_put(nl, type, &v, sizeof(v));
}

int coop_pbr_nl_put_str(struct coop_pbr_nl *nl, uint16_t type, const char *s)
{
	return coop_pbr_nl_put(nl, type, s, strlen(s) + 1);
}

long coop_pbr_nl_nest(struct coop_pbr_nl *nl, uint16_t type)
{
	size_t at = nl->len;
	int ret = coop_pbr_nl_put(nl, type | NLA_F_NESTED, NULL, 0);

	return ret < 0 ? ret : (long)at;
}

void coop_pbr_nl_nest_end(struct coop_pbr_nl *nl, long nest)
{
	struct nlattr *a;

	if (nest < 0 || nl->poison)
		return;
	a = (struct nlattr *)(nl->buf + nest);
	if (nl->len - (size_t)nest > 0xffff)
		nl->poison = -EMSGSIZE;
	else
		a->nla_len = (uint16_t)(nl->len - (size_t)nest);
}

/* Copy NLMSGERR_ATTR_MSG of an error answer, if the kernel sent one. */
static char *ext_text(const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = sizeof(*e), total = h->nlmsg_len - NLMSG_HDRLEN;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	off = NLMSG_ALIGN(off);
	while (off + NLA_HDRLEN <= total) {
		const struct nlattr *a = (const void *)((const uint8_t *)e + off);

		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > total)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
			return strndup((const char *)a + NLA_HDRLEN, a->nla_len - NLA_HDRLEN);
		off += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

/* Read answers until the one for seq `last`; record refusals. */
static int collect(struct coop_pbr_nl *nl, uint32_t last)
{
	int lost = 0;

	for (;;) {
		ssize_t r = recv(nl->fd, nl->rbuf, RECV_BUF, 0);
		struct nlmsghdr *h;
		size_t left;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS: answers were dropped; keep reading for the
			 * last one, but the batch's outcome is unknown. */
			if (errno == ENOBUFS) {
				lost = -ENOBUFS;
				continue;
			}
			return -errno;
		}
		left = (size_t)r;
		for (h = (struct nlmsghdr *)nl->rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			const struct nlmsgerr *e;
			size_t idx;

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			e = NLMSG_DATA(h);
			idx = h->nlmsg_seq - nl->seq_base;
			if (idx < nl->n && e->error) {
				nl->errs[idx] = e->error;
				free(nl->exts[idx]);
				nl->exts[idx] = ext_text(h);
			}
			if (h->nlmsg_seq == last)
				return lost;
		}
	}
}

/* A harmless request whose acknowledgement marks the end of the answers
 * to a netfilter batch (nfnetlink ignores anything after BATCH_END in the
 * same sendmsg and acknowledges nothing itself). */
static int send_sentinel(struct coop_pbr_nl *nl, uint32_t *seq)
{
	struct {
		struct nlmsghdr h;
		struct nfgenmsg g;
	} req = {
		.h = { .nlmsg_len = sizeof(req),
		       .nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		       .nlmsg_seq = nl->seq++ },
		.g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0 },
	};

	*seq = req.h.nlmsg_seq;
	if (send(nl->fd, &req, sizeof(req), 0) < 0)
		return -errno;
	return 0;
}

/* Send the queue as one chunk and collect its answers. */
static int exchange(struct coop_pbr_nl *nl)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(nl->buf + nl->msg);
	uint32_t last = 0;
	ssize_t w;
	int ret;

	if (nl->protocol != NETLINK_NETFILTER) {
		/* The acknowledgement of the last request follows every
		 * refusal of the earlier ones: the kernel works through a
		 * sendmsg in order before the call returns. */
		h->nlmsg_flags |= NLM_F_ACK;
		last = h->nlmsg_seq;
	}
	do
		w = send(nl->fd, nl->buf, nl->len, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	if (nl->protocol == NETLINK_NETFILTER) {
		ret = send_sentinel(nl, &last);
		if (ret < 0)
			return ret;
	}
	return collect(nl, last);
}

int coop_pbr_nl_flush(struct coop_pbr_nl *nl, coop_pbr_nl_result_cb cb, void *arg)
{
	int ret = nl->poison;
	size_t i;

	if (!nl->n && !ret)
		return 0;
	if (!ret)
		ret = exchange(nl);
	for (i = 0; i < nl->n; i++) {
		int err = ret && ret != -ENOBUFS ? ret : nl->errs[i];

		if (cb)
			cb(arg, nl->tags[i], err, nl->exts[i] ? nl->exts[i] : "");
	}
	forget_exts(nl);
	nl->len = 0;
	nl->n = 0;
	nl->poison = 0;
	return ret;
}

int coop_pbr_nl_end(struct coop_pbr_nl *nl, coop_pbr_nl_result_cb cb, void *arg)
{
	struct nlmsghdr *h;

	if (nl->poison)
		return nl->poison;
	h = (struct nlmsghdr *)(nl->buf + nl->msg);
	h->nlmsg_len = (uint32_t)(nl->len - nl->msg);
	if (!nl->atomic && nl->len >= CHUNK_BYTES)
		return coop_pbr_nl_flush(nl, cb, arg);
	return 0;
}

int coop_pbr_nl_dump(struct coop_pbr_nl *nl, uint16_t type, const void *fixed, size_t fixed_len,
		     int (*cb)(const void *msg, size_t len, void *arg), void *arg)
{
	struct {
		struct nlmsghdr h;
		uint8_t fixed[64];
	} req;
	int ret = 0;

	if (nl->n || fixed_len > sizeof(req.fixed))
		return -EBUSY;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(fixed_len);
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = nl->seq++;
	memcpy(req.fixed, fixed, fixed_len);
	if (send(nl->fd, &req, req.h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t r = recv(nl->fd, nl->rbuf, RECV_BUF, MSG_TRUNC);
		struct nlmsghdr *h;
		size_t left;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((size_t)r > RECV_BUF)
			return -EMSGSIZE;
		left = (size_t)r;
		for (h = (struct nlmsghdr *)nl->rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != req.h.nlmsg_seq)
				continue;
			/* A dump that raced with a change is inconsistent:
			 * the caller starts over. */
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				ret = ret ? ret : -EINTR;
			if (h->nlmsg_type == NLMSG_DONE)
				return ret;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error ? e->error : ret;
			}
			if (!ret)
				ret = cb(NLMSG_DATA(h), h->nlmsg_len - NLMSG_HDRLEN, arg);
		}
	}
}

/* --- coop's objects -------------------------------------------------- */

static size_t addr_len(const struct coop_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

int coop_pbr_nl_rule(struct coop_pbr_nl *nl, const struct coop_pbr_rule *r, uint32_t protocol,
		     bool add, uint32_t tag, coop_pbr_nl_result_cb cb, void *arg)
{
	struct fib_rule_hdr frh = {
		.family = r->family,
		.action = r->action,
		.flags = r->invert ? FIB_RULE_INVERT : 0,
		.table = r->table && r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC,
	};
	int ret;

	/* No NLM_F_EXCL: the kernel's duplicate check walks every rule, and
	 * coop knows what is there from its own dump. */
	ret = coop_pbr_nl_begin(nl, add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE : 0, &frh,
				sizeof(frh), tag);
	if (ret < 0)
		return ret;
	coop_pbr_nl_put_u32(nl, FRA_PRIORITY, r->pref);
	if (r->mask) {
		coop_pbr_nl_put_u32(nl, FRA_FWMARK, r->mark);
		coop_pbr_nl_put_u32(nl, FRA_FWMASK, r->mask);
	}
	if (r->action == FR_ACT_TO_TBL)
		coop_pbr_nl_put_u32(nl, FRA_TABLE, r->table);
	if (r->action == FR_ACT_GOTO)
		coop_pbr_nl_put_u32(nl, FRA_GOTO, r->target);
	/* A delete names the protocol too, so it can only ever match a rule
	 * coop made. */
	coop_pbr_nl_put_u8(nl, FRA_PROTOCOL, (uint8_t)protocol);
	return coop_pbr_nl_end(nl, cb, arg);
}

int coop_pbr_nl_route(struct coop_pbr_nl *nl, const struct coop_pbr_route *rt,
		      uint32_t protocol, bool add, uint32_t tag, coop_pbr_nl_result_cb cb,
		      void *arg)
{
	struct rtmsg rtm = {
		.rtm_family = rt->family,
		.rtm_dst_len = rt->dst_len,
		.rtm_table = rt->table < 256 ? (uint8_t)rt->table : RT_TABLE_UNSPEC,
		.rtm_protocol = (uint8_t)protocol,
		.rtm_scope = rt->scope,
		.rtm_type = rt->type,
	};
	int ret;

	ret = coop_pbr_nl_begin(nl, add ? RTM_NEWROUTE : RTM_DELROUTE,
				add ? NLM_F_CREATE | NLM_F_EXCL : 0, &rtm, sizeof(rtm), tag);
	if (ret < 0)
		return ret;
	coop_pbr_nl_put_u32(nl, RTA_TABLE, rt->table);
	if (rt->dst_len)
		coop_pbr_nl_put(nl, RTA_DST, &rt->dst.v4, addr_len(&rt->dst));
	if (rt->gw.family)
		coop_pbr_nl_put(nl, RTA_GATEWAY, &rt->gw.v4, addr_len(&rt->gw));
	if (rt->src.family)
		coop_pbr_nl_put(nl, RTA_PREFSRC, &rt->src.v4, addr_len(&rt->src));
	if (rt->oif)
		coop_pbr_nl_put_u32(nl, RTA_OIF, (uint32_t)rt->oif);
	if (rt->metric)
		coop_pbr_nl_put_u32(nl, RTA_PRIORITY, rt->metric);
	return coop_pbr_nl_end(nl, cb, arg);
}

int coop_pbr_nl_addr(struct coop_pbr_nl *nl, const struct coop_pbr_addr *a, uint32_t protocol,
		     bool add, uint32_t tag, coop_pbr_nl_result_cb cb, void *arg)
{
	/* No connected route in the main table: a VS subnet lives in the VS
	 * table only. IPv6 addresses skip DAD so they can be bound at once. */
	uint32_t flags = IFA_F_NOPREFIXROUTE | (a->local.family == AF_INET6 ? IFA_F_NODAD : 0);
	struct ifaddrmsg ifa = {
		.ifa_family = (uint8_t)a->local.family,
		.ifa_prefixlen = a->len,
		.ifa_flags = (uint8_t)flags,
		.ifa_index = (uint32_t)a->ifindex,
	};
	size_t len = addr_len(&a->local);
	int ret;

	ret = coop_pbr_nl_begin(nl, add ? RTM_NEWADDR : RTM_DELADDR,
				add ? NLM_F_CREATE | NLM_F_EXCL : 0, &ifa, sizeof(ifa), tag);
	if (ret < 0)
		return ret;
	coop_pbr_nl_put(nl, IFA_LOCAL, &a->local.v4, len);
	coop_pbr_nl_put(nl, IFA_ADDRESS, &a->local.v4, len);
	if (add) {
		coop_pbr_nl_put_u32(nl, IFA_FLAGS, flags);
		coop_pbr_nl_put_u8(nl, IFA_PROTO, (uint8_t)protocol);
	}
	return coop_pbr_nl_end(nl, cb, arg);
}

/* --- reading back -------------------------------------------------------- */

/* Attributes of a message after its fixed part, indexed by type (the
 * last of a type wins); max is the highest type kept. */
static int attrs(const void *msg, size_t len, size_t fixed, const struct nlattr **tb, size_t max)
{
	size_t off = NLMSG_ALIGN(fixed);

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (len < fixed)
		return -EINVAL;
	while (off + NLA_HDRLEN <= len) {
		const struct nlattr *a = (const void *)((const uint8_t *)msg + off);
		uint16_t type = a->nla_type & NLA_TYPE_MASK;

		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > len)
			return -EINVAL;
		if (type <= max)
			tb[type] = a;
		off += NLA_ALIGN(a->nla_len);
	}
	return 0;
}

static uint32_t get_u32(const struct nlattr *a)
{
	uint32_t v = 0;

	if (a && a->nla_len >= NLA_HDRLEN + 4)
		memcpy(&v, (const uint8_t *)a + NLA_HDRLEN, 4);
	return v;
}

static uint8_t get_u8(const struct nlattr *a)
{
	return a && a->nla_len >= NLA_HDRLEN + 1 ? *((const uint8_t *)a + NLA_HDRLEN) : 0;
}

static int get_addr(const struct nlattr *a, int family, struct coop_addr *out)
{
	size_t len = family == AF_INET ? 4 : 16;

	memset(out, 0, sizeof(*out));
	if (!a)
		return 0;
	if (a->nla_len < NLA_HDRLEN + len)
		return -EINVAL;
	out->family = family;
	memcpy(&out->v4, (const uint8_t *)a + NLA_HDRLEN, len);
	return 0;
}

int coop_pbr_nl_parse_rule(const void *msg, size_t len, struct coop_pbr_rule *r,
			   uint32_t *protocol)
{
	const struct fib_rule_hdr *frh = msg;
	const struct nlattr *tb[FRA_MAX + 1];
	size_t i;

	if (attrs(msg, len, sizeof(*frh), tb, FRA_MAX) < 0)
		return -EINVAL;
	if (frh->family != AF_INET && frh->family != AF_INET6)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->family = frh->family;
	r->action = frh->action;
	r->invert = frh->flags & FIB_RULE_INVERT;
	r->pref = get_u32(tb[FRA_PRIORITY]);
	r->mark = get_u32(tb[FRA_FWMARK]);
	r->mask = tb[FRA_FWMARK] ? (tb[FRA_FWMASK] ? get_u32(tb[FRA_FWMASK]) : 0xffffffffu) : 0;
	r->table = tb[FRA_TABLE] ? get_u32(tb[FRA_TABLE]) : frh->table;
	r->target = get_u32(tb[FRA_GOTO]);
	if (r->action != FR_ACT_TO_TBL)
		r->table = 0;
	/* Selectors coop never sets: such a rule is never one of coop's
	 * layout, whatever its protocol says. */
	if (frh->src_len || frh->dst_len || frh->tos)
		r->extra = true;
	for (i = 0; i <= FRA_MAX; i++) {
		switch (i) {
		case FRA_IIFNAME:
		case FRA_OIFNAME:
		case FRA_FLOW:
		case FRA_TUN_ID:
		case FRA_L3MDEV:
		case FRA_UID_RANGE:
		case FRA_IP_PROTO:
		case FRA_SPORT_RANGE:
		case FRA_DPORT_RANGE:
			if (tb[i])
				r->extra = true;
			break;
		default:
			break;
		}
	}
	if (tb[FRA_SUPPRESS_PREFIXLEN] && (int32_t)get_u32(tb[FRA_SUPPRESS_PREFIXLEN]) != -1)
		r->extra = true;
	if (tb[FRA_SUPPRESS_IFGROUP] && (int32_t)get_u32(tb[FRA_SUPPRESS_IFGROUP]) != -1)
		r->extra = true;
	*protocol = get_u8(tb[FRA_PROTOCOL]);
	return 0;
}

int coop_pbr_nl_parse_route(const void *msg, size_t len, struct coop_pbr_route *rt)
{
	const struct rtmsg *rtm = msg;
	const struct nlattr *tb[RTA_MAX + 1];

	if (attrs(msg, len, sizeof(*rtm), tb, RTA_MAX) < 0)
		return -EINVAL;
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return -EINVAL;
	memset(rt, 0, sizeof(*rt));
	rt->family = rtm->rtm_family;
	rt->type = rtm->rtm_type;
	rt->scope = rtm->rtm_scope;
	rt->dst_len = rtm->rtm_dst_len;
	rt->protocol = rtm->rtm_protocol;
	rt->table = tb[RTA_TABLE] ? get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	rt->metric = get_u32(tb[RTA_PRIORITY]);
	rt->oif = (int)get_u32(tb[RTA_OIF]);
	if (get_addr(tb[RTA_DST], rt->family, &rt->dst) < 0 ||
	    get_addr(tb[RTA_GATEWAY], rt->family, &rt->gw) < 0 ||
	    get_addr(tb[RTA_PREFSRC], rt->family, &rt->src) < 0)
		return -EINVAL;
	if (!rt->dst_len)
		memset(&rt->dst, 0, sizeof(rt->dst));
	/* IPv6 points reject routes at lo; coop never names a link there. */
	if (rt->type != RTN_UNICAST)
		rt->oif = 0;
	if (rtm->rtm_src_len || rtm->rtm_tos || tb[RTA_MULTIPATH] || tb[RTA_ENCAP] ||
	    tb[RTA_NH_ID] || tb[RTA_VIA] || tb[RTA_FLOW] || tb[RTA_IIF] || tb[RTA_EXPIRES] ||
	    (tb[RTA_METRICS] && tb[RTA_METRICS]->nla_len > NLA_HDRLEN))
		rt->extra = true;
	return 0;
}

int coop_pbr_nl_parse_addr(const void *msg, size_t len, struct coop_pbr_addr *a)
{
	const struct ifaddrmsg *ifa = msg;
	const struct nlattr *tb[IFA_MAX + 1];

	if (attrs(msg, len, sizeof(*ifa), tb, IFA_MAX) < 0)
		return -EINVAL;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->ifindex = (int)ifa->ifa_index;
	a->len = ifa->ifa_prefixlen;
	a->protocol = get_u8(tb[IFA_PROTO]);
	/* IFA_LOCAL is the address itself for IPv4 (IFA_ADDRESS the peer on
	 * point-to-point links); IPv6 has only IFA_ADDRESS. */
	if (get_addr(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], ifa->ifa_family,
		     &a->local) < 0 || !a->local.family)
		return -EINVAL;
	return 0;
}
