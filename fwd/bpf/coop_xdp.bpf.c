/* coop_xdp.bpf.c - XDP forwarder: VIP flows through the flow cache and Maglev table to their owner node; local delivery, GUE/IPIP encapsulation, decapsulation, fragments, MTU replies. */
#include "fwd/bpf/xdp_encap.h"
#include "fwd/bpf/xdp_maps.h"

/*
 * Per packet (docs/xdp.md has the full story):
 *   parse -> tunnel to us?   from a node, to a VIP or us: decapsulate,
 *                            pass (a steered fragment is decided here, as
 *                            its fragment owner)
 *         -> VIP?            no: pass untouched
 *         -> fragment?       steer by 3-tuple to the fragment owner, which
 *                            decides per datagram (fragment table)
 *         -> flow cache, else Maglev table -> owner
 *         -> owner = self:   pass; else encapsulate and transmit.
 * Every packet ends in exactly one verdict counter.
 */

XDP_INLINE void count(__u32 id, __u64 bytes)
{
	struct coop_xdp_counter *c = bpf_map_lookup_elem(&coop_xdp_stats, &id);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* action() relies on the order of the verdict counters in coop_xdp.h. */
_Static_assert(COOP_XDP_CNT_PASS_DISABLED == 0 && COOP_XDP_CNT_PASS_DECAP + 1 == COOP_XDP_CNT_TX_ENCAP &&
		       COOP_XDP_CNT_TX_ICMP6_TOO_BIG + 1 == COOP_XDP_CNT_DROP_ETH_TRUNC &&
		       COOP_XDP_CNT_DROP_MTU_NODF + 1 == COOP_XDP_CNT_FLOW_HIT,
	       "verdict counters: PASS_*, then TX_*/REDIRECT_*, then DROP_*, then events");

/* XDP action of a verdict counter. */
XDP_INLINE int action(__u32 id)
{
	if (id <= COOP_XDP_CNT_PASS_DECAP)
		return XDP_PASS;
	if (id == COOP_XDP_CNT_REDIRECT_ENCAP)
		return XDP_REDIRECT;
	if (id <= COOP_XDP_CNT_TX_ICMP6_TOO_BIG)
		return XDP_TX;
	return XDP_DROP;
}

/* Owner of hash in service's current table, or COOP_FWD_NO_BACKEND. */
XDP_INLINE __u32 table_owner(__u32 service, __u32 hash)
{
	__u32 key = 0, *hdr, *id, n;
	void *table = bpf_map_lookup_elem(&coop_xdp_tables, &service);

	if (!table)
		return COOP_FWD_NO_BACKEND;
	hdr = bpf_map_lookup_elem(table, &key);
	if (!hdr)
		return COOP_FWD_NO_BACKEND;
	n = COOP_XDP_TABLE_COUNT(*hdr);
	if (*hdr & COOP_XDP_TABLE_ECMP)
		key = COOP_XDP_TABLE_HDR + coop_fwd_ecmp_index(hash, n);
	else
		key = COOP_XDP_TABLE_HDR + coop_fwd_maglev_slot(hash, n);
	if (!n)
		return COOP_FWD_NO_BACKEND;
	id = bpf_map_lookup_elem(table, &key);
	return id ? *id : COOP_FWD_NO_BACKEND;
}

#define INSERT_DONE 1    /* flow_insert: entry created */
#define INSERT_CAPPED 0  /* refused by the insert cap */
#define INSERT_EXISTS -1 /* BPF_NOEXIST and the flow is cached already */
#define INSERT_NOT_TRIED 2 /* flow_owner: no insert attempted yet */

/*
 * Count an entry created (FLOW_INSERT). With BPF_F_NO_COMMON_LRU every CPU
 * takes new entries from its own LRU list of flow_share entries, and only
 * the data path inserts (deletes are the control plane's rare purges): so
 * once this CPU has inserted more than flow_share flows, each insert took
 * the room of a flow the kernel evicted (FLOW_EVICT). This CPU's element
 * of the FLOW_INSERT counter is the count, so this costs one compare.
 */
XDP_INLINE void count_insert(const struct coop_xdp_config *cfg, __u64 bytes)
{
	__u32 id = COOP_XDP_CNT_FLOW_INSERT;
	struct coop_xdp_counter *c = bpf_map_lookup_elem(&coop_xdp_stats, &id);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	if (cfg->flow_share && c->packets > cfg->flow_share)
		count(COOP_XDP_CNT_FLOW_EVICT, bytes);
}

/* Cache owner for flow p, within the insert cap. */
XDP_INLINE int flow_insert(const struct coop_xdp_config *cfg, const struct xdp_pkt *p, __u32 owner,
			   __u64 now, __u64 flags)
{
	struct coop_fwd_flow nf = {};
	struct coop_fwd_ratelimit *rl;
	__u32 zero = 0;

	rl = bpf_map_lookup_elem(&coop_xdp_rlimit, &zero);
	if (cfg->insert_cost_ns && rl &&
	    !coop_fwd_ratelimit_take(rl, now, cfg->insert_cost_ns, cfg->insert_burst_ns))
		return INSERT_CAPPED;
	nf.backend = owner;
	nf.atime_ns = p->t.proto == COOP_FWD_PROTO_TCP ? 0 : now;
	if (bpf_map_update_elem(&coop_xdp_flows, &p->t, &nf, flags))
		return flags == BPF_NOEXIST ? INSERT_EXISTS : INSERT_CAPPED;
	return INSERT_DONE;
}

/*
 * Judge the cached entry f of flow p (coop_fwd_flow_verdict): its owner
 * when it stands (counted as a hit), else NO_BACKEND with *verdict why.
 * Clocks: the coarse monotonic clock (a tick's resolution, a few ns to
 * read) is plenty for idle timeouts of seconds and the insert cap.
 */
XDP_INLINE __u32 flow_judge(const struct coop_xdp_config *cfg, const struct xdp_pkt *p,
			    struct coop_fwd_flow *f, __u64 bytes, __u64 *now, int *verdict)
{
	int tcp = p->t.proto == COOP_FWD_PROTO_TCP;
	__u32 state, backend = f->backend;
	struct coop_xdp_node *n;

	n = bpf_map_lookup_elem(&coop_xdp_nodes, &backend);
	state = n && n->family ? n->state : COOP_FWD_STATE_ABSENT;
	/* TCP entries never expire, so they need no clock */
	if (!tcp)
		*now = bpf_ktime_get_coarse_ns();
	*verdict = coop_fwd_flow_verdict(f, p->t.proto, p->syn, state, *now, cfg->udp_idle_ns);
	if (*verdict != COOP_FWD_FLOW_USE)
		return COOP_FWD_NO_BACKEND;
	count(COOP_XDP_CNT_FLOW_HIT, bytes);
	if (!tcp)
		f->atime_ns = *now;
	return backend;
}

/*
 * The flow cache in front of the table: the owner of p, or NO_BACKEND.
 * looked: the caller looked p up in the cache already and passes the
 * entry (f, or 0 for none).
 */
XDP_INLINE __u32 flow_owner(const struct coop_xdp_config *cfg, const struct xdp_pkt *p,
			    __u32 service, __u32 hash, __u64 bytes, struct coop_fwd_flow *f,
			    int looked)
{
	int tcp = p->t.proto == COOP_FWD_PROTO_TCP, tried = INSERT_NOT_TRIED;
	__u32 owner = COOP_FWD_NO_BACKEND;
	__u64 now = 0;

	/*
	 * A SYN is almost always a new flow: try to insert the table's answer
	 * first, which costs one hash-table operation instead of a lookup and
	 * an insert. Only when the flow is cached already (a retransmitted
	 * SYN) does the lookup below judge the cached entry.
	 */
	if (p->syn) {
		owner = table_owner(service, hash);
		if (owner != COOP_FWD_NO_BACKEND) {
			now = bpf_ktime_get_coarse_ns();
			tried = flow_insert(cfg, p, owner, now, BPF_NOEXIST);
			if (tried == INSERT_DONE) {
				count(COOP_XDP_CNT_FLOW_MISS, bytes);
				count_insert(cfg, bytes);
				return owner;
			}
		}
	}
	if (!looked)
		f = bpf_map_lookup_elem(&coop_xdp_flows, &p->t);
	if (f) {
		__u32 cached;
		int v;

		cached = flow_judge(cfg, p, f, bytes, &now, &v);
		if (cached != COOP_FWD_NO_BACKEND)
			return cached;
		count(v == COOP_FWD_FLOW_GONE	  ? COOP_XDP_CNT_FLOW_GONE :
		      v == COOP_FWD_FLOW_DRAINED ? COOP_XDP_CNT_FLOW_DRAINED :
						   COOP_XDP_CNT_FLOW_EXPIRED,
		      bytes);
		if (!p->syn)
			owner = table_owner(service, hash);
		if (owner != COOP_FWD_NO_BACKEND) {
			/* replace in place: the flow keeps its LRU slot */
			f->backend = owner;
			f->atime_ns = tcp ? 0 : now;
		}
		return owner;
	}
	count(COOP_XDP_CNT_FLOW_MISS, bytes);
	if (!p->syn)
		owner = table_owner(service, hash);
	if (owner == COOP_FWD_NO_BACKEND)
		return owner;
	if (tried == INSERT_CAPPED) {
		/* the SYN path already asked the cap */
		count(COOP_XDP_CNT_FLOW_CAPPED, bytes);
		return owner;
	}
	now = bpf_ktime_get_coarse_ns();
	tried = flow_insert(cfg, p, owner, now, BPF_ANY);
	if (tried == INSERT_DONE)
		count_insert(cfg, bytes);
	else
		count(COOP_XDP_CNT_FLOW_CAPPED, bytes);
	return owner;
}

/* Deliver to owner: pass when it is us, else encapsulate to its node. */
XDP_INLINE int send(struct xdp_md *ctx, const struct coop_xdp_config *cfg, const struct xdp_pkt *p,
		    __u32 owner, __u32 hash, __u32 steer)
{
	struct coop_xdp_node *n;

	if (owner == COOP_FWD_NO_BACKEND)
		return COOP_XDP_CNT_PASS_NO_BACKEND;
	if (owner == cfg->self_id)
		return COOP_XDP_CNT_PASS_LOCAL;
	n = bpf_map_lookup_elem(&coop_xdp_nodes, &owner);
	if (!n || (n->family != COOP_FWD_FAMILY_V4 && n->family != COOP_FWD_FAMILY_V6))
		return COOP_XDP_CNT_DROP_NO_NODE;
	if (!(n->flags & COOP_XDP_NODE_RESOLVED))
		return COOP_XDP_CNT_DROP_NO_NEIGH;
	return xdp_encap(ctx, cfg, p, n, hash, steer);
}

/*
 * send() for the fragment paths. A global function: the verifier checks it
 * once, not once per caller (three callers, each with the whole
 * encapsulation and ICMP code); the unfragmented path inlines send().
 */
__attribute__((noinline)) int coop_xdp_send(struct xdp_md *ctx, const struct xdp_pkt *p,
					    __u32 owner, __u32 hash, __u32 steer)
{
	struct coop_xdp_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&coop_xdp_config, &zero);
	if (!p || !cfg)
		return COOP_XDP_CNT_PASS_DISABLED;
	return send(ctx, cfg, p, owner, hash, steer);
}

/* VIP entry of key k: from its slot, or coop_xdp_vips when the slot is
 * shared or the slots are not in use. */
XDP_INLINE struct coop_xdp_vip *vip_get(const struct coop_xdp_config *cfg,
					const struct coop_xdp_vip_key *k)
{
	struct coop_xdp_vip_slot *s;
	__u32 i;

	if (!(cfg->flags & COOP_XDP_CFG_VIP_SLOTS))
		return bpf_map_lookup_elem(&coop_xdp_vips, k);
	i = coop_xdp_vip_slot_of(k);
	s = bpf_map_lookup_elem(&coop_xdp_vslots, &i);
	if (!s || s->state == COOP_XDP_SLOT_EMPTY)
		return 0;
	if (s->state == COOP_XDP_SLOT_ONE)
		return coop_xdp_vip_key_eq(&s->key, k) ? &s->vip : 0;
	return bpf_map_lookup_elem(&coop_xdp_vips, k);
}

/* VIP entry of p: exact (address, port, protocol), then the all-ports
 * entry when configured. port0 asks for the port-0 entry only (fragments). */
XDP_INLINE struct coop_xdp_vip *vip_find(const struct coop_xdp_config *cfg,
					 const struct xdp_pkt *p, int port0)
{
	struct coop_xdp_vip_key k;
	struct coop_xdp_vip *v;

	k.addr[0] = p->t.dst[0];
	k.addr[1] = p->t.dst[1];
	k.addr[2] = p->t.dst[2];
	k.addr[3] = p->t.dst[3];
	k.port = port0 ? 0 : p->t.dport;
	k.proto = p->t.proto;
	k.family = p->t.family;
	v = vip_get(cfg, &k);
	if (v || port0 || !(cfg->flags & COOP_XDP_CFG_ANY_PORT))
		return v;
	k.port = 0;
	v = vip_get(cfg, &k);
	return v && (v->flags & COOP_XDP_VIP_ALL_PORTS) ? v : 0;
}

/*
 * At the fragment owner: one decision per datagram. The first fragment
 * takes the flow's decision (flow cache, so it lands with the flow's
 * unfragmented packets) and records it; later ones follow the record.
 */
XDP_INLINE int frag_decide(struct xdp_md *ctx, const struct coop_xdp_config *cfg,
			   const struct xdp_pkt *p, __u32 fhash, __u64 bytes)
{
	struct coop_fwd_frag_key k;
	struct coop_fwd_frag_val *rec, nv = {};
	__u64 now = bpf_ktime_get_coarse_ns();
	__u32 owner;

	coop_fwd_frag_key_make(&k, &p->t, p->frag_id);
	if (p->frag == XDP_FRAG_FIRST) {
		struct coop_xdp_vip *v = vip_find(cfg, p, 0);

		/* a port that is not a VIP port: the datagram is ours */
		owner = v ? flow_owner(cfg, p, v->service, coop_fwd_hash(&p->t), bytes, 0, 0)
			  : cfg->self_id;
		if (owner == COOP_FWD_NO_BACKEND)
			owner = cfg->self_id;
		nv.backend = owner;
		nv.ctime_ns = now;
		bpf_map_update_elem(&coop_xdp_frags, &k, &nv, BPF_ANY);
		count(COOP_XDP_CNT_FRAG_FIRST, bytes);
		return coop_xdp_send(ctx, p, owner, fhash, 0);
	}
	rec = bpf_map_lookup_elem(&coop_xdp_frags, &k);
	if (!rec || (cfg->frag_timeout_ns && now - rec->ctime_ns > cfg->frag_timeout_ns)) {
		count(COOP_XDP_CNT_FRAG_MISS, bytes);
		return COOP_XDP_CNT_PASS_FRAG_ORPHAN;
	}
	count(COOP_XDP_CNT_FRAG_HIT, bytes);
	return coop_xdp_send(ctx, p, rec->backend, fhash, 0);
}

/* ICMP (v4) error types about a packet: destination unreachable (with
 * fragmentation needed), time exceeded, parameter problem; ICMPv6: 1 to 4
 * (destination unreachable, packet too big, time exceeded, parameter
 * problem). */
#define XDP_ICMP4_ERROR(t) ((t) == 3 || (t) == 11 || (t) == 12)
#define XDP_ICMP6_ERROR(t) ((t) >= 1 && (t) <= 4)
#define XDP_IPPROTO_ICMPV6 58

/*
 * An ICMP error to a VIP address about a packet the VIP sent: a reply of
 * a VIP flow, sent by the flow's owner straight to the client (so a
 * router's "fragmentation needed" on the way back). The router in front
 * spreads such errors by its own hash, not by the flow's, so the error is
 * sent where the flow is: the quoted packet turned around is the flow's
 * tuple; its owner comes from the flow cache (an entry that stands) or
 * the table. Nothing is cached for it. Anything else passes.
 */
XDP_INLINE int icmp_packet(struct xdp_md *ctx, const struct coop_xdp_config *cfg,
			   const struct xdp_pkt *p, __u64 bytes)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct xdp_pkt q = {};
	struct coop_xdp_vip *v;
	struct coop_fwd_flow *f;
	__u32 off = p->l4_off, owner = COOP_FWD_NO_BACKEND, hash;
	__u8 *icmp, *in, *l4;
	__be16 vport, cport;

	if (p->frag != XDP_FRAG_NONE || off > XDP_L4_OFF_MAX)
		return COOP_XDP_CNT_PASS_NOT_VIP;
	icmp = data + off;
	in = icmp + 8;
	if (p->t.family == COOP_FWD_FAMILY_V4) {
		__u32 ihl;
		__be16 fragoff;

		if ((void *)(in + 20) > end || !XDP_ICMP4_ERROR(icmp[0]) || (in[0] >> 4) != 4)
			return COOP_XDP_CNT_PASS_NOT_VIP;
		ihl = (in[0] & 0xf) << 2;
		fragoff = *(__be16 *)(in + 6) & bpf_htons(XDP_IP4_OFFSET);
		l4 = in + ihl;
		if (ihl < 20 || fragoff || (void *)(l4 + 4) > end)
			return COOP_XDP_CNT_PASS_NOT_VIP;
		vport = *(__be16 *)l4;
		cport = *(__be16 *)(l4 + 2);
		/* the quoted packet: from the VIP (this error's destination) */
		if (*(__be32 *)(in + 12) != p->t.dst[0])
			return COOP_XDP_CNT_PASS_NOT_VIP;
		coop_fwd_tuple_v4(&q.t, *(__be32 *)(in + 16), *(__be32 *)(in + 12), cport, vport,
				  in[9]);
	} else {
		__be32 src[4], dst[4];

		l4 = in + 40;
		if ((void *)(l4 + 4) > end || !XDP_ICMP6_ERROR(icmp[0]) || (in[0] >> 4) != 6)
			return COOP_XDP_CNT_PASS_NOT_VIP;
		__builtin_memcpy(src, in + 8, 16);
		__builtin_memcpy(dst, in + 24, 16);
		if (src[0] != p->t.dst[0] || src[1] != p->t.dst[1] || src[2] != p->t.dst[2] ||
		    src[3] != p->t.dst[3])
			return COOP_XDP_CNT_PASS_NOT_VIP;
		vport = *(__be16 *)l4;
		cport = *(__be16 *)(l4 + 2);
		/* extension headers in the quote are not walked: TCP/UDP next */
		coop_fwd_tuple_v6(&q.t, dst, src, cport, vport, in[6]);
	}
	if (!coop_fwd_proto_has_ports(q.t.proto))
		return COOP_XDP_CNT_PASS_NOT_VIP;
	v = vip_find(cfg, &q, 0);
	if (!v)
		return COOP_XDP_CNT_PASS_NOT_VIP;
	hash = coop_fwd_hash(&q.t);
	f = bpf_map_lookup_elem(&coop_xdp_flows, &q.t);
	if (f) {
		__u32 backend = f->backend;
		struct coop_xdp_node *n = bpf_map_lookup_elem(&coop_xdp_nodes, &backend);

		if (n && n->family && n->state != COOP_FWD_STATE_ABSENT)
			owner = backend;
	}
	if (owner == COOP_FWD_NO_BACKEND)
		owner = table_owner(v->service, hash);
	count(COOP_XDP_CNT_ICMP_VIP, bytes);
	return coop_xdp_send(ctx, p, owner, hash, 0);
}

/* A packet to a VIP address (or not: then it passes). */
XDP_INLINE int vip_packet(struct xdp_md *ctx, const struct coop_xdp_config *cfg,
			  const struct xdp_pkt *p, __u64 bytes)
{
	struct coop_fwd_flow *f = 0;
	struct coop_xdp_vip *v;
	__u32 hash, owner;

	if (cfg->flags & COOP_XDP_CFG_VIP_FILTER) {
		__u32 bit = coop_xdp_vip_bit(p->t.dst);

		if (!(cfg->vip_filter[(bit >> 6) & 3] & (1ull << (bit & 63))))
			return COOP_XDP_CNT_PASS_NOT_VIP;
	}
	if (!coop_fwd_proto_has_ports(p->t.proto)) {
		if (p->t.proto == (p->t.family == COOP_FWD_FAMILY_V4 ? IPPROTO_ICMP : XDP_IPPROTO_ICMPV6))
			return icmp_packet(ctx, cfg, p, bytes);
		return COOP_XDP_CNT_PASS_NOT_VIP;
	}
	if (p->frag != XDP_FRAG_NONE) {
		/* fragments meet at the owner of their 3-tuple */
		v = vip_find(cfg, p, 1);
		if (!v)
			return COOP_XDP_CNT_PASS_NOT_VIP;
		hash = coop_fwd_frag_hash(&p->t);
		owner = table_owner(v->service, hash);
		if (owner == COOP_FWD_NO_BACKEND)
			return COOP_XDP_CNT_PASS_NO_BACKEND;
		if (owner != cfg->self_id)
			return coop_xdp_send(ctx, p, owner, hash, 1);
		return frag_decide(ctx, cfg, p, hash, bytes);
	}
	/*
	 * Established flows first: only VIP flows are ever cached, so a hit
	 * needs no VIP lookup (a packet to no VIP pays a cache miss instead).
	 * A SYN asks the table first (flow_owner).
	 */
	if (!p->syn) {
		__u64 now = 0;
		int verdict;

		f = bpf_map_lookup_elem(&coop_xdp_flows, &p->t);
		if (f && (owner = flow_judge(cfg, p, f, bytes, &now, &verdict)) != COOP_FWD_NO_BACKEND)
			return send(ctx, cfg, p, owner, coop_fwd_hash(&p->t), 0);
	}
	v = vip_find(cfg, p, 0);
	if (!v)
		return COOP_XDP_CNT_PASS_NOT_VIP;
	hash = coop_fwd_hash(&p->t);
	owner = flow_owner(cfg, p, v->service, hash, bytes, f, !p->syn);
	return send(ctx, cfg, p, owner, hash, 0);
}

/* Is p a tunnel packet ending here? 1 GUE, 2 IPIP, 0 no. */
XDP_INLINE int tunnel_to_us(const struct coop_xdp_config *cfg, const struct xdp_pkt *p)
{
	__u8 proto = p->t.proto;

	if (p->frag != XDP_FRAG_NONE)
		return 0;
	if (p->t.family == COOP_FWD_FAMILY_V4) {
		if (!cfg->src4 || p->t.dst[0] != cfg->src4)
			return 0;
	} else if (!(cfg->src6[0] | cfg->src6[1] | cfg->src6[2] | cfg->src6[3]) ||
		   p->t.dst[0] != cfg->src6[0] || p->t.dst[1] != cfg->src6[1] ||
		   p->t.dst[2] != cfg->src6[2] || p->t.dst[3] != cfg->src6[3]) {
		return 0;
	}
	if (proto == IPPROTO_UDP && p->t.dport == cfg->gue_port)
		return 1;
	if (proto == XDP_IPPROTO_IPIP || proto == XDP_IPPROTO_IPV6)
		return 2;
	return 0;
}

/*
 * Is the outer source of tunnel packet p the cluster address of a node in
 * the set? coop_xdp_peers names the node; a node marked absent (removed:
 * its address should have left coop_xdp_peers with it) is not trusted
 * even if its entry is still there.
 */
XDP_INLINE int tunnel_from_peer(const struct xdp_pkt *p)
{
	struct coop_xdp_peer_key k = {};
	struct coop_xdp_node *n;
	__u32 *id;

	k.addr[0] = p->t.src[0];
	k.addr[1] = p->t.src[1];
	k.addr[2] = p->t.src[2];
	k.addr[3] = p->t.src[3];
	k.family = p->t.family;
	id = bpf_map_lookup_elem(&coop_xdp_peers, &k);
	if (!id)
		return 0;
	n = bpf_map_lookup_elem(&coop_xdp_nodes, id);
	return n && n->family && n->state != COOP_FWD_STATE_ABSENT;
}

/*
 * May the decapsulated packet to dst go up? Only to a VIP address (one
 * with a port-0 entry, TCP or UDP: every VIP address has one for its
 * fragments) or to our own cluster address: a node, or somebody forging a
 * node's address, must not use the tunnel to reach any other address
 * through this one (the kernel would forward it, past the filters in
 * front of the cluster).
 */
XDP_INLINE int tunnel_inner_ok(const struct coop_xdp_config *cfg, struct coop_xdp_vip_key *dst)
{
	if (dst->family == COOP_FWD_FAMILY_V4) {
		if (cfg->src4 && dst->addr[0] == cfg->src4)
			return 1;
	} else if ((cfg->src6[0] | cfg->src6[1] | cfg->src6[2] | cfg->src6[3]) &&
		   dst->addr[0] == cfg->src6[0] && dst->addr[1] == cfg->src6[1] &&
		   dst->addr[2] == cfg->src6[2] && dst->addr[3] == cfg->src6[3]) {
		return 1;
	}
	dst->port = 0;
	dst->proto = COOP_FWD_PROTO_TCP;
	if (vip_get(cfg, dst))
		return 1;
	dst->proto = COOP_FWD_PROTO_UDP;
	return vip_get(cfg, dst) != 0;
}

SEC("xdp")
int coop_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 bytes = end - data;
	struct coop_xdp_config *cfg;
	struct xdp_pkt p = {};
	__u32 zero = 0;
	int id, kind, steer;

	cfg = bpf_map_lookup_elem(&coop_xdp_config, &zero);
	if (!cfg || !(cfg->flags & COOP_XDP_CFG_ENABLED)) {
		id = COOP_XDP_CNT_PASS_DISABLED;
		goto out;
	}
	id = xdp_parse(data, end, &p);
	if (id)
		goto out;
	kind = tunnel_to_us(cfg, &p);
	if (!kind) {
		id = vip_packet(ctx, cfg, &p, bytes);
		goto out;
	}
	if ((cfg->flags & COOP_XDP_CFG_PEERS) && !tunnel_from_peer(&p)) {
		id = COOP_XDP_CNT_DROP_TUNNEL_PEER;
		goto out;
	}
	{
		/* scoped: its stack slot is shared with the other paths' (the
		 * stack of this program and the two global functions it may
		 * call in a row must fit 512 bytes) */
		struct coop_xdp_vip_key dst = {};

		id = xdp_decap(ctx, &p, kind == 1, &steer, &dst);
		if (!id && !tunnel_inner_ok(cfg, &dst))
			id = COOP_XDP_CNT_DROP_TUNNEL_DST;
	}
	if (id)
		goto out;
	id = COOP_XDP_CNT_PASS_DECAP;
	if (steer) {
		/* a fragment sent to us as its fragment owner: decide it (the
		 * inner packet's parse takes the outer one's place: the stack
		 * is tight) */
		__builtin_memset(&p, 0, sizeof(p));
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		if (xdp_parse(data, end, &p) || p.frag == XDP_FRAG_NONE ||
		    !coop_fwd_proto_has_ports(p.t.proto) || !vip_find(cfg, &p, 1))
			goto out;
		id = frag_decide(ctx, cfg, &p, coop_fwd_frag_hash(&p.t), bytes);
	}
out:
	count(id, bytes);
	return action(id);
}

char LICENSE[] SEC("license") = "GPL";
