/* xdp_encap.h - packet rewriting for coop_xdp.bpf.c: GUE and IPIP encapsulation to an owner node, decapsulation, ICMP "too big" replies. */
#ifndef COOP_XDP_ENCAP_H
#define COOP_XDP_ENCAP_H

#include <linux/udp.h>

#include "fwd/bpf/xdp_csum.h"

#define XDP_ETH_P_8021Q 0x8100
#define XDP_ICMP_DEST_UNREACH 3   /* IPv4 destination unreachable ... */
#define XDP_ICMP_FRAG_NEEDED 4    /* ... code: fragmentation needed and DF set */
#define XDP_ICMP6_PKT_TOOBIG 2    /* ICMPv6 packet too big */

/* ICMP / ICMPv6 error header (<linux/icmp.h> drags in libc headers). */
struct xdp_icmp {
	__u8 type;     /* message type */
	__u8 code;     /* message code */
	__sum16 csum;  /* checksum over the message (ICMPv6: and pseudo-header) */
	__be16 unused; /* zero (IPv4); high half of the MTU (ICMPv6) */
	__be16 mtu;    /* next-hop MTU (IPv4); low half of the MTU (ICMPv6) */
};
#define XDP_TTL 64
#define XDP_IPPROTO_IPIP 4
#define XDP_IPPROTO_IPV6 41

/* Link-layer header kept across a rewrite. */
struct xdp_l2 {
	__u8 dst[6];   /* destination MAC */
	__u8 src[6];   /* source MAC */
	__be16 tci;    /* VLAN tag control, when vlan */
	__u8 vlan;     /* 1: an 802.1Q tag follows the MACs */
	__u8 pad;      /* unused */
};

/* Write Ethernet (+ 802.1Q) at data; returns its length, or 0 when the
 * packet is too short. type is the ethertype (network order). */
XDP_INLINE __u32 xdp_l2_write(void *data, void *end, const __u8 *dst, const __u8 *src, int vlan,
			      __be16 tci, __be16 type)
{
	struct ethhdr *eth = data;

	if ((void *)eth + sizeof(*eth) + sizeof(struct xdp_vlan) > end)
		return 0;
	__builtin_memcpy(eth->h_dest, dst, ETH_ALEN);
	__builtin_memcpy(eth->h_source, src, ETH_ALEN);
	if (vlan) {
		struct xdp_vlan *v = (void *)(eth + 1);

		eth->h_proto = bpf_htons(XDP_ETH_P_8021Q);
		v->tci = tci;
		v->proto = type;
		return sizeof(*eth) + sizeof(*v);
	}
	eth->h_proto = type;
	return sizeof(*eth);
}

/* Save the received link-layer header (MACs and tag) before a rewrite. */
XDP_INLINE int xdp_l2_save(void *data, void *end, const struct xdp_pkt *p, struct xdp_l2 *l2)
{
	struct ethhdr *eth = data;

	if ((void *)eth + sizeof(*eth) + sizeof(struct xdp_vlan) > end)
		return -1;
	__builtin_memcpy(l2->dst, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(l2->src, eth->h_source, ETH_ALEN);
	l2->vlan = p->l3_off > sizeof(*eth);
	l2->tci = ((struct xdp_vlan *)(eth + 1))->tci;
	return 0;
}

/* Drop Ethernet padding after the IP packet, so the payload we wrap or
 * quote is exactly the IP packet. */
XDP_INLINE int xdp_trim(struct xdp_md *ctx, const struct xdp_pkt *p)
{
	long frame = (long)ctx->data_end - (long)ctx->data;
	long want = p->l3_off + p->ip_len;

	if (frame > want && bpf_xdp_adjust_tail(ctx, (int)(want - frame)))
		return -1;
	return 0;
}

/* --- ICMP "too big" -------------------------------------------------------- */

/* IPv4: fragmentation needed (type 3 code 4) carrying mtu, from the VIP back
 * to the client, quoting COOP_XDP_ICMP4_QUOTE bytes. */
XDP_INLINE int xdp_icmp4_too_big(struct xdp_md *ctx, const struct xdp_pkt *p, __u32 mtu)
{
	const __u32 quote = COOP_XDP_ICMP4_QUOTE, add = sizeof(struct iphdr) + 8;
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct xdp_icmp *icmp;
	struct xdp_l2 l2;
	struct iphdr *ip;
	__u64 sum = 0;
	__u32 l2len;

	if (mtu < 68 || p->ip_len < quote || xdp_l2_save(data, end, p, &l2))
		return COOP_XDP_CNT_DROP_MTU;
	if (bpf_xdp_adjust_tail(ctx, (int)(p->l3_off + quote) - (int)(end - data)) ||
	    bpf_xdp_adjust_head(ctx, -(int)add))
		return COOP_XDP_CNT_DROP_ADJUST;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	/* reply: to the client's MAC from the one it used, same VLAN */
	l2len = xdp_l2_write(data, end, l2.src, l2.dst, l2.vlan, l2.tci, bpf_htons(ETH_P_IP));
	if (!l2len)
		return COOP_XDP_CNT_DROP_ADJUST;
	ip = data + (l2len & 0x1f);
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) + quote > end)
		return COOP_XDP_CNT_DROP_ADJUST;
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0xc0; /* internetwork control, as kernels send errors */
	ip->tot_len = bpf_htons(add + quote);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = XDP_TTL;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = p->t.dst[0];
	ip->daddr = p->t.src[0];
	ip->check = xdp_csum_ip4(ip);
	icmp->type = XDP_ICMP_DEST_UNREACH;
	icmp->code = XDP_ICMP_FRAG_NEEDED;
	icmp->csum = 0;
	icmp->unused = 0;
	icmp->mtu = bpf_htons((__u16)mtu);
	sum = xdp_csum_words((const __u32 *)icmp, 2);
	if (xdp_csum_bytes(ctx, (l2len & 0x1f) + add, quote, &sum))
		return COOP_XDP_CNT_DROP_ADJUST;
	icmp->csum = ~xdp_csum_fold(sum);
	return COOP_XDP_CNT_TX_ICMP4_FRAG_NEEDED;
}

/* IPv6: packet too big (type 2) carrying mtu, quoting COOP_XDP_ICMP6_QUOTE. */
XDP_INLINE int xdp_icmp6_too_big(struct xdp_md *ctx, const struct xdp_pkt *p, __u32 mtu)
{
	const __u32 quote = COOP_XDP_ICMP6_QUOTE, add = sizeof(struct ipv6hdr) + 8;
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct xdp_icmp *icmp;
	struct ipv6hdr *ip6;
	struct xdp_l2 l2;
	__u64 sum;
	__u32 l2len;

	if (mtu < 1280 || p->ip_len < quote || xdp_l2_save(data, end, p, &l2))
		return COOP_XDP_CNT_DROP_MTU;
	if (bpf_xdp_adjust_tail(ctx, (int)(p->l3_off + quote) - (int)(end - data)) ||
	    bpf_xdp_adjust_head(ctx, -(int)add))
		return COOP_XDP_CNT_DROP_ADJUST;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	l2len = xdp_l2_write(data, end, l2.src, l2.dst, l2.vlan, l2.tci, bpf_htons(ETH_P_IPV6));
	if (!l2len)
		return COOP_XDP_CNT_DROP_ADJUST;
	ip6 = data + (l2len & 0x1f);
	icmp = (void *)(ip6 + 1);
	if ((void *)(icmp + 1) + quote > end)
		return COOP_XDP_CNT_DROP_ADJUST;
	*(__be32 *)ip6 = bpf_htonl(0x60000000);
	ip6->payload_len = bpf_htons(8 + quote);
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = XDP_TTL;
	__builtin_memcpy(&ip6->saddr, p->t.dst, 16);
	__builtin_memcpy(&ip6->daddr, p->t.src, 16);
	icmp->type = XDP_ICMP6_PKT_TOOBIG;
	icmp->code = 0;
	icmp->csum = 0;
	icmp->unused = bpf_htons((__u16)(mtu >> 16));
	icmp->mtu = bpf_htons((__u16)mtu);
	sum = xdp_csum_pseudo6(p->t.dst, p->t.src, 8 + quote, IPPROTO_ICMPV6) +
	      xdp_csum_words((const __u32 *)icmp, 2);
	if (xdp_csum_bytes(ctx, (l2len & 0x1f) + add, quote, &sum))
		return COOP_XDP_CNT_DROP_ADJUST;
	icmp->csum = ~xdp_csum_fold(sum);
	return COOP_XDP_CNT_TX_ICMP6_TOO_BIG;
}

/* --- encapsulation --------------------------------------------------------- */

/* Does IPv4 packet p carry DF? */
XDP_INLINE int xdp_ip4_df(struct xdp_md *ctx, const struct xdp_pkt *p)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + (p->l3_off & 0x1f);

	if ((void *)(ip + 1) > end)
		return 0;
	return (ip->frag_off & bpf_htons(XDP_IP4_DF)) != 0;
}

/* What xdp_encap writes: the outer headers, derived once. */
struct xdp_outer {
	__u32 iphl;     /* outer IP header: 20 or 40 */
	__u32 gue_len;  /* GUE header: 0 (IPIP), 4, or 8 (steered fragment) */
	__u32 len;      /* all outer headers: IP + UDP + GUE */
	__u8 v6;        /* outer IPv6 */
	__u8 inner;     /* protocol number of the inner packet: 4 or 41 */
	__u8 steer;     /* GUE private flag COOP_XDP_GUE_PRIV_STEER */
	__u8 pad;       /* unused */
};

/* UDP + GUE after the outer IP header; returns the UDP header. */
XDP_INLINE struct udphdr *xdp_gue_write(void *l4, const struct coop_xdp_config *cfg,
					const struct xdp_outer *o, __u32 inner_len, __u32 hash)
{
	struct udphdr *udp = l4;
	struct coop_xdp_gue *g = (void *)(udp + 1);

	udp->source = bpf_htons(coop_xdp_gue_sport(hash));
	udp->dest = cfg->gue_port;
	udp->len = bpf_htons(sizeof(*udp) + o->gue_len + inner_len);
	udp->check = 0;
	g->vc_hlen = o->steer ? 1 : 0;
	g->proto = o->inner;
	g->flags = o->steer ? bpf_htons(COOP_XDP_GUE_FLAG_P) : 0;
	if (o->steer)
		*(__be32 *)(g + 1) = bpf_htonl(COOP_XDP_GUE_PRIV_STEER);
	return udp;
}

/* UDP checksum of the datagram at udp (header with check 0, GUE, inner
 * packet; l2len bytes of link layer in front of the outer IP header),
 * given its pseudo-header sum. Returns 0 or -1 (out of packet). */
XDP_INLINE int xdp_udp_csum(struct xdp_md *ctx, struct udphdr *udp, void *end,
			    const struct xdp_outer *o, __u32 l2len, __u32 inner_len, __u64 sum)
{
	__u32 inner = (l2len & 0x1f) + o->len;
	__u16 c;

	if ((void *)(udp + 1) + 8 > end)
		return -1;
	sum += xdp_csum_words((const __u32 *)udp, 2) + *(__u32 *)(udp + 1);
	if (o->steer)
		sum += *((__u32 *)(udp + 1) + 1);
	if (xdp_csum_bytes(ctx, inner, inner_len, &sum))
		return -1;
	c = ~xdp_csum_fold(sum);
	udp->check = c ? c : 0xffff; /* zero would mean "no checksum" */
	return 0;
}

/*
 * Wrap the IP packet of p for node n (GUE, or IPIP per the configuration;
 * steer forces GUE with the steering mark) and point it at n's next hop.
 * hash feeds the outer UDP source port and IPv6 flow label. Returns the
 * verdict counter: TX_ENCAP / TX_FRAG_STEER / REDIRECT_ENCAP, an ICMP
 * reply when the result would exceed the MTU, or a drop.
 */
XDP_INLINE int xdp_encap(struct xdp_md *ctx, const struct coop_xdp_config *cfg,
			 const struct xdp_pkt *p, const struct coop_xdp_node *n, __u32 hash,
			 int steer)
{
	int gue = steer || cfg->encap != COOP_XDP_ENCAP_IPIP;
	__u32 inner_len = p->ip_len, l2len, delta, room;
	void *data, *end;
	struct xdp_outer o = {};
	void *l3;

	o.v6 = n->family == COOP_FWD_FAMILY_V6;
	o.iphl = o.v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	o.gue_len = gue ? COOP_XDP_GUE_HLEN + (steer ? 4 : 0) : 0;
	o.len = o.iphl + (gue ? sizeof(struct udphdr) + o.gue_len : 0);
	o.inner = p->t.family == COOP_FWD_FAMILY_V6 ? XDP_IPPROTO_IPV6 : XDP_IPPROTO_IPIP;
	o.steer = steer ? 1 : 0;
	if (o.v6 ? !(cfg->src6[0] | cfg->src6[1] | cfg->src6[2] | cfg->src6[3]) : !cfg->src4)
		return COOP_XDP_CNT_DROP_NO_SRC;
	if (inner_len > COOP_XDP_INNER_MAX || (cfg->mtu && inner_len + o.len > cfg->mtu)) {
		/* the room for the inner packet: the MTU's, never more than
		 * the checksum reaches */
		room = COOP_XDP_INNER_MAX;
		if (cfg->mtu && cfg->mtu < o.len + room)
			room = cfg->mtu > o.len ? cfg->mtu - o.len : 0;
		if (!room)
			return COOP_XDP_CNT_DROP_MTU;
		if (p->t.family == COOP_FWD_FAMILY_V6)
			return xdp_icmp6_too_big(ctx, p, room);
		/* "fragmentation needed" is for DF packets only (RFC 792,
		 * 1191); the others cannot be fragmented here and must not
		 * go up to a node that does not own their flow */
		if (!xdp_ip4_df(ctx, p))
			return COOP_XDP_CNT_DROP_MTU_NODF;
		return xdp_icmp4_too_big(ctx, p, room);
	}
	if (xdp_trim(ctx, p))
		return COOP_XDP_CNT_DROP_ADJUST;
	delta = (n->vlan ? 18 : 14) + o.len - p->l3_off;
	if (bpf_xdp_adjust_head(ctx, -(int)delta))
		return COOP_XDP_CNT_DROP_ADJUST;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	l2len = xdp_l2_write(data, end, n->dmac, n->smac, n->vlan != 0,
			     bpf_htons(n->vlan & 0x0fff),
			     bpf_htons(o.v6 ? ETH_P_IPV6 : ETH_P_IP));
	if (!l2len)
		return COOP_XDP_CNT_DROP_ADJUST;
	l3 = data + (l2len & 0x1f);

	if (!o.v6) {
		struct iphdr *ip = l3;
		struct udphdr *udp;

		/* outer + the smallest inner IP header: always present */
		if (l3 + sizeof(*ip) + sizeof(*udp) + 8 > end)
			return COOP_XDP_CNT_DROP_ADJUST;
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = p->tos;
		ip->tot_len = bpf_htons(o.len + inner_len);
		ip->id = 0;
		ip->frag_off = bpf_htons(XDP_IP4_DF);
		ip->ttl = XDP_TTL;
		ip->protocol = gue ? IPPROTO_UDP : o.inner;
		ip->check = 0;
		ip->saddr = cfg->src4;
		ip->daddr = n->addr[0];
		ip->check = xdp_csum_ip4(ip);
		if (gue) {
			udp = xdp_gue_write(ip + 1, cfg, &o, inner_len, hash);
			if ((cfg->flags & COOP_XDP_CFG_UDP_CSUM4) &&
			    xdp_udp_csum(ctx, udp, end, &o, l2len, inner_len,
					 xdp_csum_pseudo4(ip->saddr, ip->daddr,
							  o.len - o.iphl + inner_len, IPPROTO_UDP)))
				return COOP_XDP_CNT_DROP_ADJUST;
		}
	} else {
		struct ipv6hdr *ip6 = l3;
		struct udphdr *udp;

		if (l3 + sizeof(*ip6) + sizeof(*udp) + 8 > end)
			return COOP_XDP_CNT_DROP_ADJUST;
		/* version, traffic class from the inner packet, flow label
		 * from the flow hash (RFC 6438) for ECMP on the cluster links */
		*(__be32 *)ip6 = bpf_htonl(0x60000000 | (__u32)p->tos << 20 | (hash & 0xfffff));
		ip6->payload_len = bpf_htons(o.len - o.iphl + inner_len);
		ip6->nexthdr = gue ? IPPROTO_UDP : o.inner;
		ip6->hop_limit = XDP_TTL;
		__builtin_memcpy(&ip6->saddr, cfg->src6, 16);
		__builtin_memcpy(&ip6->daddr, n->addr, 16);
		if (gue) {
			udp = xdp_gue_write(ip6 + 1, cfg, &o, inner_len, hash);
			if (xdp_udp_csum(ctx, udp, end, &o, l2len, inner_len,
					 xdp_csum_pseudo6(cfg->src6, n->addr,
							  o.len - o.iphl + inner_len, IPPROTO_UDP)))
				return COOP_XDP_CNT_DROP_ADJUST;
		}
	}
	if (n->ifindex && n->ifindex != ctx->ingress_ifindex) {
		if (bpf_redirect(n->ifindex, 0) != XDP_REDIRECT)
			return COOP_XDP_CNT_DROP_NO_NODE;
		return COOP_XDP_CNT_REDIRECT_ENCAP;
	}
	return steer ? COOP_XDP_CNT_TX_FRAG_STEER : COOP_XDP_CNT_TX_ENCAP;
}

/* --- decapsulation ------------------------------------------------------------ */

/*
 * p is GUE to our port or IPIP to our address: strip the outer headers,
 * keep the link-layer header (with its tag) in front of the inner packet.
 * *steer is set for a fragment steered to us as its fragment owner; dst
 * gets the inner packet's destination address and family (the rest of the
 * key is the caller's). Returns 0 or a drop counter.
 */
XDP_INLINE int xdp_decap(struct xdp_md *ctx, const struct xdp_pkt *p, int gue, int *steer,
			 struct coop_xdp_vip_key *dst)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 inner_off = p->l4_off, delta;
	struct xdp_l2 l2;
	__u8 *inner, proto = p->t.proto;

	*steer = 0;
	if (gue) {
		__u8 *g = data + (p->l4_off & 0x3ff) + sizeof(struct udphdr);
		__u8 ver;

		if ((void *)(g + 8) > end)
			return COOP_XDP_CNT_DROP_ENCAP_BAD;
		ver = g[0] >> 6;
		if (ver == 1) {
			/* variant 1: the IP packet right after UDP */
			inner_off += sizeof(struct udphdr);
			proto = (g[0] >> 4) == 6 ? XDP_IPPROTO_IPV6 : XDP_IPPROTO_IPIP;
		} else if (ver == 0 && !(g[0] & 0x20)) {
			struct coop_xdp_gue *h = (void *)g;
			__u32 hlen = (h->vc_hlen & 0x1f) * 4;

			proto = h->proto;
			*steer = h->flags == bpf_htons(COOP_XDP_GUE_FLAG_P) && hlen >= 4 &&
				 (*(__be32 *)(h + 1) & bpf_htonl(COOP_XDP_GUE_PRIV_STEER));
			inner_off += sizeof(struct udphdr) + COOP_XDP_GUE_HLEN + hlen;
		} else {
			/* control messages and unknown versions */
			return COOP_XDP_CNT_DROP_ENCAP_BAD;
		}
	}
	if (inner_off > XDP_L4_OFF_MAX)
		return COOP_XDP_CNT_DROP_ENCAP_BAD;
	inner = data + inner_off;
	if ((void *)(inner + sizeof(struct iphdr)) > end)
		return COOP_XDP_CNT_DROP_ENCAP_BAD;
	if (proto == XDP_IPPROTO_IPIP && (inner[0] >> 4) == 4) {
		dst->addr[0] = *(__be32 *)(inner + 16);
		dst->addr[1] = 0;
		dst->addr[2] = 0;
		dst->addr[3] = 0;
		dst->family = COOP_FWD_FAMILY_V4;
	} else if (proto == XDP_IPPROTO_IPV6 && (inner[0] >> 4) == 6) {
		if ((void *)(inner + sizeof(struct ipv6hdr)) > end)
			return COOP_XDP_CNT_DROP_ENCAP_BAD;
		__builtin_memcpy(dst->addr, inner + 24, 16);
		dst->family = COOP_FWD_FAMILY_V6;
	} else {
		return COOP_XDP_CNT_DROP_ENCAP_BAD;
	}
	if (xdp_l2_save(data, end, p, &l2))
		return COOP_XDP_CNT_DROP_ENCAP_BAD;
	delta = inner_off - (l2.vlan ? 18 : 14);
	if (bpf_xdp_adjust_head(ctx, (int)delta))
		return COOP_XDP_CNT_DROP_ADJUST;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (!xdp_l2_write(data, end, l2.dst, l2.src, l2.vlan, l2.tci,
			  bpf_htons(proto == XDP_IPPROTO_IPV6 ? ETH_P_IPV6 : ETH_P_IP)))
		return COOP_XDP_CNT_DROP_ADJUST;
	return 0;
}

#endif
