/* xdp_parse.h - header parsing for coop_xdp.bpf.c: Ethernet, one 802.1Q tag, IPv4 (options, fragments), IPv6 (extension headers, fragment header), TCP/UDP ports. */
#ifndef COOP_XDP_PARSE_H
#define COOP_XDP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fwd/bpf/coop_xdp.h"

#define XDP_INLINE static __always_inline

/* Wire structs the uapi headers do not provide in a usable form. */
struct xdp_vlan {
	__be16 tci;   /* priority, DEI, VLAN id */
	__be16 proto; /* ethertype of what follows */
};

struct xdp_ip6_frag {
	__u8 nexthdr;  /* upper-layer protocol */
	__u8 reserved; /* zero */
	__be16 off_m;  /* fragment offset << 3 | M */
	__be32 id;     /* identification */
};

struct xdp_ip6_opt {
	__u8 nexthdr; /* next header */
	__u8 len;     /* length in 8-byte units, not counting the first 8 */
};

struct xdp_l4 {
	__be16 sport; /* source port */
	__be16 dport; /* destination port */
};

#define XDP_IP4_DF 0x4000
#define XDP_IP4_MF 0x2000
#define XDP_IP4_OFFSET 0x1fff
#define XDP_IP6_OFFSET 0xfff8
#define XDP_IP6_MF 0x0001
#define XDP_IP6_EXT_MAX 4      /* extension headers walked before the fragment header */
#define XDP_L4_OFF_MAX 512     /* deepest L4 offset parsed (Ethernet included) */
#define XDP_TCP_SYN 0x02
#define XDP_TCP_ACK 0x10

#define XDP_FRAG_NONE 0  /* not a fragment */
#define XDP_FRAG_FIRST 1 /* offset 0, more to come: carries the L4 header */
#define XDP_FRAG_LATER 2 /* offset > 0: no L4 header */

/* One parsed packet. Offsets are from ctx->data. */
struct xdp_pkt {
	struct coop_fwd_tuple t; /* flow: ports set for TCP/UDP when present (first fragment too) */
	__u32 l3_off;            /* IP header (14, or 18 behind a VLAN tag) */
	__u32 l4_off;            /* after IPv4 options / IPv6 extension headers */
	__u32 ip_len;            /* IP packet length from its header (frame padding excluded) */
	__u32 frag_id;           /* IPv4 ID or IPv6 fragment identification, host order */
	__u8 frag;               /* XDP_FRAG_* */
	__u8 syn;                /* TCP with SYN set and ACK clear: a new connection */
	__u8 tos;                /* IPv4 TOS / IPv6 traffic class (copied to the outer header) */
	__u8 ports;              /* t.sport/t.dport hold the L4 ports */
};

/* Parse result: 0, or the counter of the verdict (XDP_PASS or XDP_DROP). */
XDP_INLINE int xdp_parse_l2(void *data, void *end, struct xdp_pkt *p, __be16 *ethertype)
{
	struct ethhdr *eth = data;
	struct xdp_vlan *v;

	if ((void *)(eth + 1) > end)
		return COOP_XDP_CNT_DROP_ETH_TRUNC;
	*ethertype = eth->h_proto;
	p->l3_off = sizeof(*eth);
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD)) {
		v = (void *)(eth + 1);
		if ((void *)(v + 1) > end)
			return COOP_XDP_CNT_DROP_ETH_TRUNC;
		*ethertype = v->proto;
		p->l3_off += sizeof(*v);
	}
	return 0;
}

/* TCP/UDP header at l4_off, inside the IP packet: ports and SYN. */
XDP_INLINE int xdp_parse_l4(void *data, void *end, struct xdp_pkt *p, __be16 *sport,
			    __be16 *dport)
{
	__u32 off = p->l4_off;
	__u32 need = p->t.proto == IPPROTO_TCP ? 20 : 8;
	__u8 *l4;

	if (off > XDP_L4_OFF_MAX)
		return COOP_XDP_CNT_PASS_UNPARSED;
	/* the header must lie inside the IP packet, not in frame padding */
	if (off + need > p->l3_off + p->ip_len)
		return COOP_XDP_CNT_DROP_L4_TRUNC;
	l4 = data + off;
	if ((void *)(l4 + 20) > end) {
		if ((void *)(l4 + 8) > end || need == 20)
			return COOP_XDP_CNT_DROP_L4_TRUNC;
	} else if (need == 20) {
		p->syn = (l4[13] & (XDP_TCP_SYN | XDP_TCP_ACK)) == XDP_TCP_SYN;
	}
	*sport = ((struct xdp_l4 *)l4)->sport;
	*dport = ((struct xdp_l4 *)l4)->dport;
	p->ports = 1;
	return 0;
}

XDP_INLINE int xdp_parse_ip4(void *data, void *end, struct xdp_pkt *p)
{
	struct iphdr *ip = data + (p->l3_off & 0x1f);
	__be16 sport = 0, dport = 0;
	__u32 hlen, tot;
	__u16 frag;
	int rc;

	if ((void *)(ip + 1) > end)
		return COOP_XDP_CNT_DROP_IP4_TRUNC;
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || hlen < sizeof(*ip) || tot < hlen)
		return COOP_XDP_CNT_DROP_IP4_BAD_HDR;
	if ((void *)ip + tot > end)
		return COOP_XDP_CNT_DROP_IP4_TRUNC;
	p->ip_len = tot;
	p->l4_off = p->l3_off + hlen;
	p->tos = ip->tos;
	p->t.proto = ip->protocol;
	frag = bpf_ntohs(ip->frag_off);
	if (frag & XDP_IP4_OFFSET)
		p->frag = XDP_FRAG_LATER;
	else if (frag & XDP_IP4_MF)
		p->frag = XDP_FRAG_FIRST;
	p->frag_id = bpf_ntohs(ip->id);
	if (p->frag != XDP_FRAG_LATER && coop_fwd_proto_has_ports(ip->protocol)) {
		rc = xdp_parse_l4(data, end, p, &sport, &dport);
		if (rc)
			return rc;
	}
	coop_fwd_tuple_v4(&p->t, ip->saddr, ip->daddr, sport, dport, ip->protocol);
	return 0;
}

/* Is nh an IPv6 extension header walked on the way to the fragment header
 * or the upper layer (hop-by-hop, routing, destination options)? */
XDP_INLINE int xdp_ip6_is_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS;
}

XDP_INLINE int xdp_parse_ip6(void *data, void *end, struct xdp_pkt *p)
{
	struct ipv6hdr *ip6 = data + (p->l3_off & 0x1f);
	__be16 sport = 0, dport = 0;
	__u32 off;
	__u8 nh;
	int i, rc;

	if ((void *)(ip6 + 1) > end)
		return COOP_XDP_CNT_DROP_IP6_TRUNC;
	if (ip6->version != 6)
		return COOP_XDP_CNT_DROP_IP6_BAD_HDR;
	p->ip_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if ((void *)ip6 + p->ip_len > end)
		return COOP_XDP_CNT_DROP_IP6_TRUNC;
	p->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	nh = ip6->nexthdr;
	off = p->l3_off + sizeof(*ip6);

#pragma unroll
	for (i = 0; i < XDP_IP6_EXT_MAX; i++) {
		struct xdp_ip6_opt *o;

		if (!xdp_ip6_is_ext(nh))
			break;
		if (off > XDP_L4_OFF_MAX)
			return COOP_XDP_CNT_PASS_UNPARSED;
		o = data + off;
		if ((void *)(o + 1) > end)
			return COOP_XDP_CNT_DROP_IP6_TRUNC;
		nh = o->nexthdr;
		off += (o->len + 1) * 8;
	}
	if (xdp_ip6_is_ext(nh))
		return COOP_XDP_CNT_PASS_UNPARSED;
	if (nh == IPPROTO_FRAGMENT) {
		struct xdp_ip6_frag *fh;
		__u16 om;

		if (off > XDP_L4_OFF_MAX)
			return COOP_XDP_CNT_PASS_UNPARSED;
		fh = data + off;
		if ((void *)(fh + 1) > end)
			return COOP_XDP_CNT_DROP_IP6_TRUNC;
		nh = fh->nexthdr;
		om = bpf_ntohs(fh->off_m);
		p->frag = (om & XDP_IP6_OFFSET) ? XDP_FRAG_LATER : XDP_FRAG_FIRST;
		p->frag_id = bpf_ntohl(fh->id);
		off += sizeof(*fh);
	}
	if (off > p->l3_off + p->ip_len)
		return COOP_XDP_CNT_DROP_IP6_TRUNC;
	p->l4_off = off;
	p->t.proto = nh;
	if (p->frag != XDP_FRAG_LATER && coop_fwd_proto_has_ports(nh)) {
		rc = xdp_parse_l4(data, end, p, &sport, &dport);
		if (rc)
			return rc;
	}
	coop_fwd_tuple_v6(&p->t, ip6->saddr.in6_u.u6_addr32, ip6->daddr.in6_u.u6_addr32, sport,
			  dport, nh);
	return 0;
}

/* Parse from the Ethernet header up to the L4 ports. Returns 0, or the
 * counter that decides the packet (drops for malformed headers,
 * PASS_NOT_IP, PASS_UNPARSED). */
XDP_INLINE int xdp_parse(void *data, void *end, struct xdp_pkt *p)
{
	__be16 ethertype;
	int rc = xdp_parse_l2(data, end, p, &ethertype);

	if (rc)
		return rc;
	if (ethertype == bpf_htons(ETH_P_IP))
		return xdp_parse_ip4(data, end, p);
	if (ethertype == bpf_htons(ETH_P_IPV6))
		return xdp_parse_ip6(data, end, p);
	return COOP_XDP_CNT_PASS_NOT_IP;
}

#endif
