/* pbr_nft.c - ingress marking for the pbr backend: one nftables table of
 * coop's own whose prerouting chain sets the packet mark from a map keyed
 * by destination address, replaced as a whole in one transaction when the
 * VS addresses change. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/log.h"
#include "vs/pbr.h"

#define CHAIN "prerouting"
#define MAP4 "marks4"
#define MAP6 "marks6"
/* Transaction-local ids that let the rules name the maps created by the
 * same transaction. */
#define MAP4_ID 1
#define MAP6_ID 2
/* nft(8)'s data type numbers, informational for the kernel: they make
 * `nft list table inet coop_pbr` print addresses and marks. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_MARK 19
/* Mangle priority: before routing, like `type filter hook prerouting
 * priority mangle`. */
#define CHAIN_PRIORITY (-150)
/* Elements per NEWSETELEM message: an attribute nest holds at most 64 kB
 * and an IPv6 element takes 40 bytes. */
#define ELEMS_PER_MSG 1000

static uint16_t nft_type(int msg)
{
	return (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | msg);
}

static int begin(struct coop_pbr_nl *nl, int msg, uint16_t flags, uint32_t tag)
{
	struct nfgenmsg g = { .nfgen_family = NFPROTO_INET, .version = NFNETLINK_V0 };

	return coop_pbr_nl_begin(nl, nft_type(msg), flags, &g, sizeof(g), tag);
}

static int batch_mark(struct coop_pbr_nl *nl, uint16_t type, uint32_t tag,
		      coop_pbr_nl_result_cb cb, void *arg)
{
	struct nfgenmsg g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0,
			      .res_id = htons(NFNL_SUBSYS_NFTABLES) };
	int ret = coop_pbr_nl_begin(nl, type, 0, &g, sizeof(g), tag);

	return ret < 0 ? ret : coop_pbr_nl_end(nl, cb, arg);
}

static int table_msg(struct coop_pbr_nl *nl, int msg, uint16_t flags, uint32_t tag,
		     coop_pbr_nl_result_cb cb, void *arg)
{
	int ret = begin(nl, msg, flags, tag);

	if (ret < 0)
		return ret;
	coop_pbr_nl_put_str(nl, NFTA_TABLE_NAME, COOP_PBR_NFT_TABLE);
	return coop_pbr_nl_end(nl, cb, arg);
}

static int chain_msg(struct coop_pbr_nl *nl, uint32_t tag, coop_pbr_nl_result_cb cb, void *arg)
{
	long hook;
	int ret = begin(nl, NFT_MSG_NEWCHAIN, NLM_F_CREATE, tag);

	if (ret < 0)
		return ret;
	coop_pbr_nl_put_str(nl, NFTA_CHAIN_TABLE, COOP_PBR_NFT_TABLE);
	coop_pbr_nl_put_str(nl, NFTA_CHAIN_NAME, CHAIN);
	hook = coop_pbr_nl_nest(nl, NFTA_CHAIN_HOOK);
	coop_pbr_nl_put_be32(nl, NFTA_HOOK_HOOKNUM, NF_INET_PRE_ROUTING);
	coop_pbr_nl_put_be32(nl, NFTA_HOOK_PRIORITY, (uint32_t)CHAIN_PRIORITY);
	coop_pbr_nl_nest_end(nl, hook);
	coop_pbr_nl_put_be32(nl, NFTA_CHAIN_POLICY, NF_ACCEPT);
	coop_pbr_nl_put_str(nl, NFTA_CHAIN_TYPE, "filter");
	return coop_pbr_nl_end(nl, cb, arg);
}

static int map_msg(struct coop_pbr_nl *nl, const char *name, uint32_t id, uint32_t key_type,
		   uint32_t key_len, uint32_t tag, coop_pbr_nl_result_cb cb, void *arg)
{
	int ret = begin(nl, NFT_MSG_NEWSET, NLM_F_CREATE, tag);

	if (ret < 0)
		return ret;
	coop_pbr_nl_put_str(nl, NFTA_SET_TABLE, COOP_PBR_NFT_TABLE);
	coop_pbr_nl_put_str(nl, NFTA_SET_NAME, name);
	/* No interval, no size limit: the kernel picks a resizable hash. */
	coop_pbr_nl_put_be32(nl, NFTA_SET_FLAGS, NFT_SET_MAP);
	coop_pbr_nl_put_be32(nl, NFTA_SET_KEY_TYPE, key_type);
	coop_pbr_nl_put_be32(nl, NFTA_SET_KEY_LEN, key_len);
	coop_pbr_nl_put_be32(nl, NFTA_SET_DATA_TYPE, NFT_TYPE_MARK);
	coop_pbr_nl_put_be32(nl, NFTA_SET_DATA_LEN, sizeof(uint32_t));
	coop_pbr_nl_put_be32(nl, NFTA_SET_ID, id);
	return coop_pbr_nl_end(nl, cb, arg);
}

/* One expression of a rule: a list element holding the name and data. */
static long expr_begin(struct coop_pbr_nl *nl, const char *name, long *data)
{
	long elem = coop_pbr_nl_nest(nl, NFTA_LIST_ELEM);

	coop_pbr_nl_put_str(nl, NFTA_EXPR_NAME, name);
	*data = coop_pbr_nl_nest(nl, NFTA_EXPR_DATA);
	return elem;
}

static void expr_end(struct coop_pbr_nl *nl, long elem, long data)
{
	coop_pbr_nl_nest_end(nl, data);
	coop_pbr_nl_nest_end(nl, elem);
}

/* meta mark set ip[6] daddr map @MAP, for one family:
 *   meta load nfproto => reg 1; cmp reg 1 == family;
 *   payload load daddr => reg 1; lookup reg 1 in MAP => reg 1;
 *   meta set mark with reg 1. */
static int rule_msg(struct coop_pbr_nl *nl, int family, uint32_t tag, coop_pbr_nl_result_cb cb,
		    void *arg)
{
	uint8_t proto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	long exprs, e, d, v;
	int ret = begin(nl, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, tag);

	if (ret < 0)
		return ret;
	coop_pbr_nl_put_str(nl, NFTA_RULE_TABLE, COOP_PBR_NFT_TABLE);
	coop_pbr_nl_put_str(nl, NFTA_RULE_CHAIN, CHAIN);
	exprs = coop_pbr_nl_nest(nl, NFTA_RULE_EXPRESSIONS);

	e = expr_begin(nl, "meta", &d);
	coop_pbr_nl_put_be32(nl, NFTA_META_KEY, NFT_META_NFPROTO);
	coop_pbr_nl_put_be32(nl, NFTA_META_DREG, NFT_REG_1);
	expr_end(nl, e, d);

	e = expr_begin(nl, "cmp", &d);
	coop_pbr_nl_put_be32(nl, NFTA_CMP_SREG, NFT_REG_1);
	coop_pbr_nl_put_be32(nl, NFTA_CMP_OP, NFT_CMP_EQ);
	v = coop_pbr_nl_nest(nl, NFTA_CMP_DATA);
	coop_pbr_nl_put(nl, NFTA_DATA_VALUE, &proto, sizeof(proto));
	coop_pbr_nl_nest_end(nl, v);
	expr_end(nl, e, d);

	e = expr_begin(nl, "payload", &d);
	coop_pbr_nl_put_be32(nl, NFTA_PAYLOAD_DREG, NFT_REG_1);
	coop_pbr_nl_put_be32(nl, NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	/* Destination address: bytes 16..19 of an IPv4 header, 24..39 of
	 * an IPv6 one. */
	coop_pbr_nl_put_be32(nl, NFTA_PAYLOAD_OFFSET, family == AF_INET ? 16 : 24);
	coop_pbr_nl_put_be32(nl, NFTA_PAYLOAD_LEN, family == AF_INET ? 4 : 16);
	expr_end(nl, e, d);

	e = expr_begin(nl, "lookup", &d);
	coop_pbr_nl_put_str(nl, NFTA_LOOKUP_SET, family == AF_INET ? MAP4 : MAP6);
	coop_pbr_nl_put_be32(nl, NFTA_LOOKUP_SET_ID, family == AF_INET ? MAP4_ID : MAP6_ID);
	coop_pbr_nl_put_be32(nl, NFTA_LOOKUP_SREG, NFT_REG_1);
	coop_pbr_nl_put_be32(nl, NFTA_LOOKUP_DREG, NFT_REG_1);
	expr_end(nl, e, d);

	e = expr_begin(nl, "meta", &d);
	coop_pbr_nl_put_be32(nl, NFTA_META_KEY, NFT_META_MARK);
	coop_pbr_nl_put_be32(nl, NFTA_META_SREG, NFT_REG_1);
	expr_end(nl, e, d);

	coop_pbr_nl_nest_end(nl, exprs);
	return coop_pbr_nl_end(nl, cb, arg);
}

/* Elements of one family, ELEMS_PER_MSG per message. */
static int elems_msgs(struct coop_pbr_nl *nl, int family, const struct coop_pbr_mark_elem *elems,
		      size_t n, uint32_t tag, coop_pbr_nl_result_cb cb, void *arg)
{
	size_t i = 0, in_msg = 0;
	long list = -1;
	int ret;

	for (; i < n; i++) {
		const struct coop_pbr_mark_elem *x = &elems[i];
		long el, k, v;

		if (x->addr.family != family)
			continue;
		if (list < 0) {
			ret = begin(nl, NFT_MSG_NEWSETELEM, NLM_F_CREATE, tag);
			if (ret < 0)
				return ret;
			coop_pbr_nl_put_str(nl, NFTA_SET_ELEM_LIST_TABLE, COOP_PBR_NFT_TABLE);
			coop_pbr_nl_put_str(nl, NFTA_SET_ELEM_LIST_SET,
					    family == AF_INET ? MAP4 : MAP6);
			coop_pbr_nl_put_be32(nl, NFTA_SET_ELEM_LIST_SET_ID,
					     family == AF_INET ? MAP4_ID : MAP6_ID);
			list = coop_pbr_nl_nest(nl, NFTA_SET_ELEM_LIST_ELEMENTS);
		}
		el = coop_pbr_nl_nest(nl, NFTA_LIST_ELEM);
		k = coop_pbr_nl_nest(nl, NFTA_SET_ELEM_KEY);
		coop_pbr_nl_put(nl, NFTA_DATA_VALUE, &x->addr.v4, family == AF_INET ? 4 : 16);
		coop_pbr_nl_nest_end(nl, k);
		/* The mark goes into the register as the kernel keeps it: host
		 * order, as `meta mark set` copies it into skb->mark. */
		v = coop_pbr_nl_nest(nl, NFTA_SET_ELEM_DATA);
		coop_pbr_nl_put(nl, NFTA_DATA_VALUE, &x->mark, sizeof(x->mark));
		coop_pbr_nl_nest_end(nl, v);
		coop_pbr_nl_nest_end(nl, el);
		if (++in_msg == ELEMS_PER_MSG) {
			coop_pbr_nl_nest_end(nl, list);
			ret = coop_pbr_nl_end(nl, cb, arg);
			if (ret < 0)
				return ret;
			list = -1;
			in_msg = 0;
		}
	}
	if (list >= 0) {
		coop_pbr_nl_nest_end(nl, list);
		return coop_pbr_nl_end(nl, cb, arg);
	}
	return 0;
}

int coop_pbr_nft_queue(struct coop_pbr_nl *nl, bool install, const struct coop_pbr_mark_elem *elems,
		       size_t n, coop_pbr_nl_result_cb cb, void *arg)
{
	uint32_t tag = 0;
	int ret;

	if (!n)
		install = false;
	ret = batch_mark(nl, NFNL_MSG_BATCH_BEGIN, tag++, cb, arg);
	/* Creating the table first makes the delete succeed whether or not a
	 * previous run left one: replace or remove in one transaction. */
	if (!ret)
		ret = table_msg(nl, NFT_MSG_NEWTABLE, NLM_F_CREATE, tag++, cb, arg);
	if (!ret)
		ret = table_msg(nl, NFT_MSG_DELTABLE, 0, tag++, cb, arg);
	if (install) {
		if (!ret)
			ret = table_msg(nl, NFT_MSG_NEWTABLE, NLM_F_CREATE, tag++, cb, arg);
		if (!ret)
			ret = chain_msg(nl, tag++, cb, arg);
		if (!ret)
			ret = map_msg(nl, MAP4, MAP4_ID, NFT_TYPE_IPADDR, 4, tag++, cb, arg);
		if (!ret)
			ret = map_msg(nl, MAP6, MAP6_ID, NFT_TYPE_IP6ADDR, 16, tag++, cb, arg);
		if (!ret)
			ret = rule_msg(nl, AF_INET, tag++, cb, arg);
		if (!ret)
			ret = rule_msg(nl, AF_INET6, tag++, cb, arg);
		if (!ret)
			ret = elems_msgs(nl, AF_INET, elems, n, tag++, cb, arg);
		if (!ret)
			ret = elems_msgs(nl, AF_INET6, elems, n, tag++, cb, arg);
	}
	if (!ret)
		ret = batch_mark(nl, NFNL_MSG_BATCH_END, tag++, cb, arg);
	return ret;
}

/* --- keeping the table in line with the VSes --------------------------- */

static int elem_order(const void *a, const void *b)
{
	const struct coop_pbr_mark_elem *x = a, *y = b;
	int c = x->addr.family - y->addr.family;

	if (!c)
		c = memcmp(&x->addr.v4, &y->addr.v4, x->addr.family == AF_INET ? 4 : 16);
	return c ? c : (x->mark > y->mark) - (x->mark < y->mark);
}

struct nft_result {
	int err;        /* first refusal */
	char ext[128];  /* its kernel text */
};

static void on_nft(void *arg, uint32_t tag, int err, const char *ext)
{
	struct nft_result *r = arg;

	(void)tag;
	if (err && !r->err) {
		r->err = err;
		snprintf(r->ext, sizeof(r->ext), "%s", ext);
	}
}

/* Replace (or remove, n == 0) coop's nftables table when its content
 * changes. Failure only costs the kernel's own replies their VS route, so
 * it is a warning. */
void coop_pbr_ingress_sync(struct coop_pbr_ingress *ing, const char *nsname,
			   struct coop_pbr_mark_elem *elems, size_t n)
{
	struct nft_result r = { 0 };
	struct coop_pbr_mark_elem *copy = NULL;
	int ret;

	if (n)
		coop_sort(elems, n, sizeof(*elems), elem_order);
	if (ing->on == (n > 0) && n == ing->n &&
	    (!n || !memcmp(elems, ing->elems, n * sizeof(*elems))))
		return;
	if (!ing->nl) {
		ret = -EPROTONOSUPPORT;
	} else {
		ret = coop_pbr_nft_queue(ing->nl, n > 0, elems, n, on_nft, &r);
		if (!ret)
			ret = coop_pbr_nl_flush(ing->nl, on_nft, &r);
		if (!ret)
			ret = r.err;
	}
	if (ret < 0) {
		if (ing->nl)
			coop_pbr_nl_flush(ing->nl, NULL, NULL);
		if (n && !ing->warned)
			coop_warn("pbr namespace %s: no ingress marks (nftables: %s%s%s%s): kernel replies (TCP RST, ICMP) to VS addresses leave by the main table",
				  nsname, strerror(-ret),
				  r.ext[0] ? " (" : "", r.ext, r.ext[0] ? ")" : "");
		ing->warned = true;
		return;
	}
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (copy)
			memcpy(copy, elems, n * sizeof(*copy));
	}
	free(ing->elems);
	ing->elems = copy;
	ing->n = copy ? n : 0;
	ing->on = n > 0;
}
