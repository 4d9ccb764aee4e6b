/* lookup_check.bpf.c - XDP program proving fwd/coop_fwd_lookup.h serves BPF: parse, hash, Maglev lookup, record the decision for the userspace comparison test. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fwd/coop_fwd_lookup.h"

/* What the program decided for the last packet; tests/unit/fwd/bpf_test.c
 * compares it with the userspace library on the same packet. */
struct lookup_check_result {
	struct coop_fwd_tuple tuple; /* parsed flow (ports zero for fragments) */
	__u32 kind;                  /* LOOKUP_CHECK_* */
	__u32 hash;                  /* steering hash: flow hash, or 3-tuple for fragments */
	__u32 slot;                  /* Maglev slot of hash */
	__u32 backend;               /* table entry at slot, or COOP_FWD_NO_BACKEND */
	__u32 frag_id;               /* IP ID of a fragment, else 0 */
	__u32 pad;                   /* zero */
};

#define LOOKUP_CHECK_PORTS 1    /* TCP/UDP, unfragmented: 5-tuple */
#define LOOKUP_CHECK_NOPORTS 2  /* other protocol: 3-tuple */
#define LOOKUP_CHECK_FRAGMENT 3 /* a fragment, first or later: 3-tuple */

/* The Maglev table of the default size, filled by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COOP_FWD_M_DEFAULT);
	__type(key, __u32);
	__type(value, __u32);
} lookup_check_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lookup_check_result);
} lookup_check_last SEC(".maps");

struct vlan_tag {
	__be16 tci;   /* priority and VLAN id */
	__be16 proto; /* encapsulated ethertype */
};

struct ipv6_frag {
	__u8 nexthdr;   /* upper-layer protocol */
	__u8 reserved;  /* zero */
	__be16 off_m;   /* offset << 3 | M flag */
	__be32 id;      /* identification */
};

struct l4_ports {
	__be16 sport; /* source port */
	__be16 dport; /* destination port */
};

#define IPV4_MF 0x2000
#define IPV4_OFFSET 0x1fff
#define IPV6_FRAGMENT_HDR 44

SEC("xdp")
int lookup_check(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct lookup_check_result r = {};
	struct ethhdr *eth = data;
	struct l4_ports *lp = NULL;
	void *l3 = eth + 1;
	__u32 zero = 0, *slot_val;
	__be16 ethertype;
	__u8 proto;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	ethertype = eth->h_proto;
	if (ethertype == bpf_htons(ETH_P_8021Q)) {
		struct vlan_tag *v = l3;

		if ((void *)(v + 1) > end)
			return XDP_PASS;
		ethertype = v->proto;
		l3 = v + 1;
	}
	if (ethertype == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return XDP_PASS;
		proto = ip->protocol;
		if (ip->frag_off & bpf_htons(IPV4_MF | IPV4_OFFSET)) {
			r.kind = LOOKUP_CHECK_FRAGMENT;
			r.frag_id = bpf_ntohs(ip->id);
		} else if (coop_fwd_proto_has_ports(proto)) {
			lp = (void *)ip + ip->ihl * 4;
			if ((void *)(lp + 1) > end)
				return XDP_PASS;
		}
		coop_fwd_tuple_v4(&r.tuple, ip->saddr, ip->daddr, lp ? lp->sport : 0,
				  lp ? lp->dport : 0, proto);
	} else if (ethertype == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		proto = ip6->nexthdr;
		if (proto == IPV6_FRAGMENT_HDR) {
			struct ipv6_frag *fh = (void *)(ip6 + 1);

			if ((void *)(fh + 1) > end)
				return XDP_PASS;
			proto = fh->nexthdr;
			r.kind = LOOKUP_CHECK_FRAGMENT;
			r.frag_id = bpf_ntohl(fh->id);
		} else if (coop_fwd_proto_has_ports(proto)) {
			lp = (void *)(ip6 + 1);
			if ((void *)(lp + 1) > end)
				return XDP_PASS;
		}
		coop_fwd_tuple_v6(&r.tuple, ip6->saddr.in6_u.u6_addr32, ip6->daddr.in6_u.u6_addr32,
				  lp ? lp->sport : 0, lp ? lp->dport : 0, proto);
	} else {
		return XDP_PASS;
	}

	if (r.kind == LOOKUP_CHECK_FRAGMENT) {
		r.hash = coop_fwd_frag_hash(&r.tuple);
	} else {
		r.kind = lp ? LOOKUP_CHECK_PORTS : LOOKUP_CHECK_NOPORTS;
		r.hash = coop_fwd_hash(&r.tuple);
	}
	r.slot = coop_fwd_maglev_slot(r.hash, COOP_FWD_M_DEFAULT);
	slot_val = bpf_map_lookup_elem(&lookup_check_table, &r.slot);
	r.backend = slot_val ? *slot_val : COOP_FWD_NO_BACKEND;
	bpf_map_update_elem(&lookup_check_last, &zero, &r, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
