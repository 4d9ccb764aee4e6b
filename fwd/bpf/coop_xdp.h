/* coop_xdp.h - contract between the XDP forwarder (coop_xdp.bpf.c) and its userspace control plane: map names, keys, values, counters, wire formats. */
#ifndef COOP_XDP_H
#define COOP_XDP_H

/*
 * Both sides include this file: the BPF program (clang -target bpf) and
 * coopd's control plane (gcc). So: <linux/types.h> only, fixed-width __u
 * types, explicit padding (zero it: several structs are hash-map keys), no
 * libc. docs/xdp.md describes the data path around it.
 *
 * Stability: map names, struct layouts and counter numbers are an ABI
 * between a loaded program and a running coopd. Change them only by
 * appending (new fields at the end of a struct, new counters before
 * COOP_XDP_CNT_MAX) and list every change here.
 *
 * Changes:
 *   v1  first version (issue 7; drop_ip6_bad_hdr added before release).
 *   v2  coop_xdp_config.vip_filter, COOP_XDP_CFG_VIP_FILTER, _VIP_SLOTS and
 *       _PEERS; maps coop_xdp_vslots and coop_xdp_peers; counter
 *       drop_tunnel_peer (the event counters after it move up by one: coopd
 *       and the program are built together); event counter icmp_vip.
 *   v3  verdict counters drop_tunnel_dst and drop_mtu_nodf (the event
 *       counters after them move up by two); event counter flow_evict;
 *       coop_xdp_config.flow_share; COOP_XDP_INNER_MAX. Tunnels are trusted
 *       only from nodes whose coop_xdp_nodes entry is not absent, and only
 *       for inner packets to a VIP address or to us; a removed node's
 *       address leaves coop_xdp_peers.
 *
 * Publication order (the control plane's side of the contract). Maps are
 * updated one element at a time, so a change spanning maps is ordered so
 * that every intermediate state forwards correctly:
 *   - add a node:     write its coop_xdp_nodes entry (state ACTIVE, MAC
 *                     resolved), then publish tables that use it;
 *   - drain a node:   publish tables built with weight 0, then set its
 *                     state DRAINING;
 *   - remove a node:  publish tables without it, then set its state ABSENT
 *                     (keep the entry or zero it: family 0 means absent)
 *                     and delete its address from coop_xdp_peers (unless
 *                     the address is another node's by then);
 *   - move a node:    write its new address (coop_xdp_nodes, then
 *                     coop_xdp_peers), then delete the old one from
 *                     coop_xdp_peers;
 *   - change a table: build a new inner array and swap it into
 *                     coop_xdp_tables with one update (never write the
 *                     live inner array in place);
 *   - configuration:  write coop_xdp_config whole; set COOP_XDP_CFG_ENABLED
 *                     last at start-up (until then every packet passes).
 *
 * Times the data path stores (coop_fwd_flow.atime_ns of UDP flows,
 * coop_fwd_frag_val.ctime_ns) come from bpf_ktime_get_coarse_ns():
 * CLOCK_MONOTONIC at tick resolution (compare with CLOCK_MONOTONIC or
 * CLOCK_MONOTONIC_COARSE, allowing one tick). TCP flows store 0: they
 * never expire.
 */

#include <linux/types.h>

#include "fwd/coop_fwd_lookup.h"

/* --- names --------------------------------------------------------------- */

/* The XDP program (SEC("xdp")) in coop_xdp.bpf.o. */
#define COOP_XDP_PROG_NAME "coop_xdp"

/* Map names (at most 15 characters: the kernel's limit). */
#define COOP_XDP_MAP_CONFIG "coop_xdp_config" /* ARRAY[1] of struct coop_xdp_config */
#define COOP_XDP_MAP_VIPS "coop_xdp_vips"     /* HASH coop_xdp_vip_key -> coop_xdp_vip */
#define COOP_XDP_MAP_VIP_SLOTS "coop_xdp_vslots" /* ARRAY slot -> coop_xdp_vip_slot */
#define COOP_XDP_MAP_PEERS "coop_xdp_peers" /* HASH coop_xdp_peer_key -> node id */
#define COOP_XDP_MAP_TABLES "coop_xdp_tables" /* ARRAY_OF_MAPS service -> inner table */
#define COOP_XDP_MAP_NODES "coop_xdp_nodes"   /* ARRAY node id -> struct coop_xdp_node */
#define COOP_XDP_MAP_FLOWS "coop_xdp_flows"   /* LRU_HASH coop_fwd_tuple -> coop_fwd_flow */
#define COOP_XDP_MAP_FRAGS "coop_xdp_frags"   /* LRU_HASH coop_fwd_frag_key -> coop_fwd_frag_val */
#define COOP_XDP_MAP_STATS "coop_xdp_stats"   /* PERCPU_ARRAY counter id -> coop_xdp_counter */
#define COOP_XDP_MAP_RLIMIT "coop_xdp_rlimit" /* PERCPU_ARRAY[1] of coop_fwd_ratelimit */

/* --- sizes ------------------------------------------------------------------ */

/* Services (tables) the outer map holds; a VIP names one by index. */
#define COOP_XDP_SERVICES_MAX 256u
/* Node ids are below this (coop_xdp_nodes is an array of this size); the
 * core allows ids up to COOP_FWD_ID_MAX, the data path fewer. */
#define COOP_XDP_NODES_MAX 4096u
/* VIP entries (address, port, protocol). */
#define COOP_XDP_VIPS_MAX 4096u
/* Slots of the direct-mapped VIP table in front of coop_xdp_vips. */
#define COOP_XDP_VIP_SLOTS 1024u
/* Default flow-cache and fragment-table sizes. The control plane may change
 * them with bpf_map__set_max_entries() between open and load. */
#define COOP_XDP_FLOWS_DEFAULT 65536u
#define COOP_XDP_FRAGS_DEFAULT 8192u

/* --- configuration: coop_xdp_config[0] --------------------------------------- */

#define COOP_XDP_ENCAP_GUE 1u  /* IP in GUE in UDP (default) */
#define COOP_XDP_ENCAP_IPIP 2u /* IP in IP: IPIP / IP6IP6 / 4in6 / 6in4 */

/* Forward VIP traffic. Clear: every packet passes untouched, counted
 * PASS_DISABLED (the state between attach and a complete configuration). */
#define COOP_XDP_CFG_ENABLED 0x1u
/* Compute the outer UDP checksum over IPv4 too. Off: zero, which RFC 768
 * allows for IPv4 and which tunnels (GUE, VXLAN) use; IPv6 outer UDP
 * always carries a real checksum. */
#define COOP_XDP_CFG_UDP_CSUM4 0x2u
/* Some VIP has an all-ports entry (COOP_XDP_VIP_ALL_PORTS): on a miss of
 * the exact (address, port, protocol), look up port 0 too. Clear: one
 * lookup per packet. */
#define COOP_XDP_CFG_ANY_PORT 0x4u
/* vip_filter has the bit of every VIP address: a packet to an address
 * whose bit is clear is no VIP, and passes without a map lookup. Clear:
 * every TCP/UDP packet is looked up. */
#define COOP_XDP_CFG_VIP_FILTER 0x8u

/* coop_xdp_vip_slots holds every VIP entry (coop_xdp_vip_slot_put()):
 * VIPs are looked up there, and in coop_xdp_vips only for a slot shared
 * by several entries. Clear: always in coop_xdp_vips. */
#define COOP_XDP_CFG_VIP_SLOTS 0x10u

/* Tunnels (GUE, IPIP) to us are decapsulated only when their outer source
 * is the cluster address of a node in the set (coop_xdp_peers names the
 * node; its coop_xdp_nodes entry must not be absent); others are dropped,
 * DROP_TUNNEL_PEER. Clear: from any source. Whatever the flag, the inner
 * packet must be to a VIP address (one with a port-0 entry, TCP or UDP:
 * every VIP address has one, see coop_xdp_vip_key) or to our cluster
 * address, else DROP_TUNNEL_DST. */
#define COOP_XDP_CFG_PEERS 0x20u

/* Bits of coop_xdp_config.vip_filter. */
#define COOP_XDP_VIP_FILTER_BITS 256u

struct coop_xdp_config {
	__u32 self_id;         /* this node's id: flows owned by it pass to the local stack */
	__u32 flags;           /* COOP_XDP_CFG_* */
	__u8 encap;            /* COOP_XDP_ENCAP_*: format this node sends (it accepts both) */
	__u8 pad0;             /* zero */
	__be16 gue_port;       /* GUE UDP destination port, network order; also the port decapsulated */
	__u32 mtu;             /* cluster link MTU: largest outer IP packet (bytes, L3); 0 = no check */
	__be32 src4;           /* our IPv4 cluster address: outer source, and where IPv4 tunnels end */
	__be32 src6[4];        /* our IPv6 cluster address, as src4; all zero = none */
	__u32 pad1;            /* zero; aligns the 64-bit fields */
	__u64 udp_idle_ns;     /* flow-cache idle timeout of non-TCP flows; 0 = never expire */
	__u64 frag_timeout_ns; /* fragment-table entry lifetime from the first fragment */
	__u64 insert_cost_ns;  /* flow-cache insert cap: 1e9 / inserts per second; 0 = no cap */
	__u64 insert_burst_ns; /* cap depth: insert_cost_ns x burst (inserts) */
	__u64 vip_filter[COOP_XDP_VIP_FILTER_BITS / 64]; /* coop_xdp_vip_bit() of every VIP address */
	__u32 flow_share;      /* flow-cache entries of each CPU's LRU list (max_entries /
				  possible CPUs): an insert beyond that many on a CPU evicts
				  (FLOW_EVICT); 0 = not counted */
	__u32 pad2;            /* zero */
};

/* Bit of an address (coop_fwd_tuple layout, network order) in vip_filter:
 * its words folded, times an odd constant, the top 8 bits; so the
 * addresses of one /24 get 256 different bits. */
static inline __attribute__((always_inline)) __u32 coop_xdp_vip_bit(const __be32 *addr)
{
	__u32 h = addr[0] ^ addr[1] ^ addr[2] ^ addr[3];

	return (h * 0x9e3779b1u) >> 24;
}
_Static_assert(COOP_XDP_VIP_FILTER_BITS == 256, "coop_xdp_vip_bit() gives 8 bits");

/* --- VIPs: coop_xdp_vips --------------------------------------------------------- */

/* The port-0 entry of an (address, protocol) is the catch-all for ports
 * without their own entry (only with this flag and COOP_XDP_CFG_ANY_PORT). */
#define COOP_XDP_VIP_ALL_PORTS 0x1u

/*
 * Key. A VIP served on ports 80 and 443 over TCP has two entries. Fragments
 * carry no port (only the first one does), so every (address, protocol)
 * that has VIP entries also needs a port-0 entry: it names the service whose
 * table steers that address's fragments (with one node set, as in coopd,
 * any of them). Without COOP_XDP_VIP_ALL_PORTS it serves fragments only.
 */
struct coop_xdp_vip_key {
	__be32 addr[4]; /* VIP, network order; IPv4 in addr[0], rest zero */
	__be16 port;    /* destination port, network order; 0: see above */
	__u8 proto;     /* COOP_FWD_PROTO_TCP or _UDP */
	__u8 family;    /* COOP_FWD_FAMILY_V4 or _V6 */
};

struct coop_xdp_vip {
	__u32 service; /* index into coop_xdp_tables, < COOP_XDP_SERVICES_MAX */
	__u32 flags;   /* COOP_XDP_VIP_* */
};

/*
 * The direct-mapped VIP table: each entry of coop_xdp_vips also sits in
 * slot coop_xdp_vip_slot_of(key) of coop_xdp_vip_slots, an array whose
 * lookup the verifier inlines (a hash-map lookup costs a helper call, a
 * hash and a key compare: 13 ns here). A slot is empty (no entry: a
 * miss), holds the one entry whose slot it is, or says several entries
 * share it (look in coop_xdp_vips).
 */
#define COOP_XDP_SLOT_EMPTY 0u
#define COOP_XDP_SLOT_ONE 1u
#define COOP_XDP_SLOT_SHARED 2u

struct coop_xdp_vip_slot {
	struct coop_xdp_vip_key key; /* the entry (SLOT_ONE) */
	struct coop_xdp_vip vip;     /* its value (SLOT_ONE) */
	__u32 state;                 /* COOP_XDP_SLOT_* */
	__u32 pad;                   /* zero */
};

/* Slot of a VIP key: address words and port/protocol folded, times an odd
 * constant, the top 10 bits. */
static inline __attribute__((always_inline)) __u32
coop_xdp_vip_slot_of(const struct coop_xdp_vip_key *k)
{
	__u32 h = k->addr[0] ^ k->addr[1] ^ k->addr[2] ^ k->addr[3];

	h ^= (__u32)k->port << 16 | (__u32)k->proto << 8 | k->family;
	return (h * 0x9e3779b1u) >> 22;
}
_Static_assert(COOP_XDP_VIP_SLOTS == 1024, "coop_xdp_vip_slot_of() gives 10 bits");

/* Are two VIP keys the same entry? */
static inline __attribute__((always_inline)) int coop_xdp_vip_key_eq(const struct coop_xdp_vip_key *a,
								   const struct coop_xdp_vip_key *b)
{
	return a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] && a->addr[2] == b->addr[2] &&
	       a->addr[3] == b->addr[3] && a->port == b->port && a->proto == b->proto &&
	       a->family == b->family;
}

/* Enter (k, v) into its slot s (the control plane, for every entry it
 * writes to coop_xdp_vips). */
static inline void coop_xdp_vip_slot_put(struct coop_xdp_vip_slot *s,
					 const struct coop_xdp_vip_key *k,
					 const struct coop_xdp_vip *v)
{
	if (s->state == COOP_XDP_SLOT_EMPTY ||
	    (s->state == COOP_XDP_SLOT_ONE && coop_xdp_vip_key_eq(&s->key, k))) {
		s->key = *k;
		s->vip = *v;
		s->state = COOP_XDP_SLOT_ONE;
	} else {
		s->state = COOP_XDP_SLOT_SHARED;
	}
}

/* --- tables: coop_xdp_tables ------------------------------------------------------ */

/*
 * The outer map is an ARRAY_OF_MAPS indexed by service. Each inner map is
 * an ARRAY of __u32 created with map_flags = BPF_F_INNER_MAP exactly (so
 * tables of any size fit one outer map) and laid out as:
 *   [0]        header: COOP_XDP_TABLE_COUNT(hdr) entries follow; with
 *              COOP_XDP_TABLE_ECMP set they are the active node ids in key
 *              order (coop_fwd_maglev_active) and a flow takes
 *              coop_fwd_ecmp_index(); otherwise they are the M Maglev
 *              entries (coop_fwd_maglev_entries) and a flow takes
 *              coop_fwd_maglev_slot(hash, M);
 *   [1 .. n]   node ids (COOP_FWD_NO_BACKEND: no active node).
 * max_entries >= n + 1. A new table is a new inner map, filled, then put
 * in the outer map with one update: a packet sees the old or the new
 * table, never a mixture. A service with no inner map or count 0 has no
 * owner: its packets pass to the local stack (PASS_NO_BACKEND).
 */
#define COOP_XDP_TABLE_HDR 1u                    /* index of the first entry */
#define COOP_XDP_TABLE_ECMP 0x80000000u          /* header flag: mod-N comparison mode */
#define COOP_XDP_TABLE_COUNT(hdr) ((hdr) & 0x7fffffffu)

/* --- nodes: coop_xdp_nodes -------------------------------------------------------- */

/* The entry is this node (informational: the data path uses self_id). */
#define COOP_XDP_NODE_SELF 0x1u
/* dmac holds the resolved next-hop MAC; clear: flows owned by the node are
 * dropped (DROP_NO_NEIGH) until the neighbour is resolved. */
#define COOP_XDP_NODE_RESOLVED 0x2u

struct coop_xdp_node {
	__be32 addr[4]; /* cluster address (outer destination), network order; IPv4 in addr[0] */
	__u8 family;    /* COOP_FWD_FAMILY_V4 / _V6 (outer IP version); 0 = no node */
	__u8 state;     /* COOP_FWD_STATE_ABSENT / _ACTIVE / _DRAINING (flow-cache verdict) */
	__u8 flags;     /* COOP_XDP_NODE_* */
	__u8 pad0;      /* zero */
	__u32 ifindex;  /* egress interface; 0 or the ingress one: XDP_TX, else XDP_REDIRECT */
	__u8 dmac[6];   /* next hop's MAC (the node, or the router towards it) */
	__u8 smac[6];   /* our MAC on the egress interface (outer source) */
	__u16 vlan;     /* 802.1Q VLAN id on egress, host order; 0 = untagged */
	__u16 pad1;     /* zero */
};

/* --- tunnel peers: coop_xdp_peers ----------------------------------------------- */

/* A node's cluster address, as a tunnel packet's outer source. */
struct coop_xdp_peer_key {
	__be32 addr[4]; /* network order; IPv4 in addr[0], rest zero */
	__u8 family;    /* COOP_FWD_FAMILY_V4 or _V6 */
	__u8 pad[3];    /* zero */
};

/* --- counters: coop_xdp_stats ----------------------------------------------------- */

/* One per-CPU element per counter; sum over CPUs for totals. */
struct coop_xdp_counter {
	__u64 packets; /* packets counted */
	__u64 bytes;   /* their length as received (Ethernet header included) */
};

/*
 * Every packet bumps exactly one verdict counter (PASS_*, TX_*, REDIRECT_*,
 * DROP_*), so their sum is the number of packets seen. FLOW_* and FRAG_*
 * are events along the way. The groups stay in this order, verdicts
 * before events (the program maps a verdict to its XDP action by range; a
 * new verdict goes at the end of its group). X(id, name, help): name for
 * `show fwd`.
 */
#define COOP_XDP_COUNTERS(X)                                                                  \
	X(PASS_DISABLED, "pass_disabled", "passed: forwarder not enabled (configuration)")    \
	X(PASS_NOT_IP, "pass_not_ip", "passed: neither IPv4 nor IPv6")                        \
	X(PASS_NOT_VIP, "pass_not_vip", "passed: not to a VIP, not a tunnel to us")           \
	X(PASS_UNPARSED, "pass_unparsed", "passed: IPv6 extension chain longer than parsed")  \
	X(PASS_LOCAL, "pass_local", "passed: VIP flow owned by this node")                    \
	X(PASS_NO_BACKEND, "pass_no_backend", "passed: VIP service without table or nodes")   \
	X(PASS_FRAG_ORPHAN, "pass_frag_orphan", "passed: later fragment, first one unseen")   \
	X(PASS_DECAP, "pass_decap", "passed: tunnel to us, decapsulated")                     \
	X(TX_ENCAP, "tx_encap", "sent: encapsulated to the owner node")                       \
	X(TX_FRAG_STEER, "tx_frag_steer", "sent: fragment encapsulated to its fragment owner") \
	X(REDIRECT_ENCAP, "redirect_encap", "sent: encapsulated, via another interface")      \
	X(TX_ICMP4_FRAG_NEEDED, "tx_icmp4_frag_needed", "sent: ICMP fragmentation needed")    \
	X(TX_ICMP6_TOO_BIG, "tx_icmp6_too_big", "sent: ICMPv6 packet too big")                \
	X(DROP_ETH_TRUNC, "drop_eth_trunc", "dropped: truncated Ethernet or 802.1Q header")  \
	X(DROP_IP4_TRUNC, "drop_ip4_trunc", "dropped: IPv4 header or total length truncated") \
	X(DROP_IP4_BAD_HDR, "drop_ip4_bad_hdr", "dropped: IPv4 version, IHL or length wrong") \
	X(DROP_IP6_TRUNC, "drop_ip6_trunc", "dropped: IPv6 header, payload or ext truncated") \
	X(DROP_IP6_BAD_HDR, "drop_ip6_bad_hdr", "dropped: IPv6 ethertype, version not 6")        \
	X(DROP_L4_TRUNC, "drop_l4_trunc", "dropped: TCP or UDP header truncated")             \
	X(DROP_ENCAP_BAD, "drop_encap_bad", "dropped: tunnel to us with a bad header")        \
	X(DROP_NO_NODE, "drop_no_node", "dropped: owner id without node entry")               \
	X(DROP_NO_NEIGH, "drop_no_neigh", "dropped: owner's next-hop MAC unresolved")         \
	X(DROP_NO_SRC, "drop_no_src", "dropped: no cluster source address of that family")    \
	X(DROP_ADJUST, "drop_adjust", "dropped: packet resize failed")                        \
	X(DROP_MTU, "drop_mtu", "dropped: too big to encapsulate, no ICMP possible")          \
	X(DROP_TUNNEL_PEER, "drop_tunnel_peer", "dropped: tunnel to us from no node's address") \
	X(DROP_TUNNEL_DST, "drop_tunnel_dst", "dropped: tunnel to us, inner packet to no VIP nor us") \
	X(DROP_MTU_NODF, "drop_mtu_nodf", "dropped: IPv4 without DF too big to encapsulate")  \
	X(FLOW_HIT, "flow_hit", "flow cache: cached owner used")                              \
	X(FLOW_MISS, "flow_miss", "flow cache: no entry, table answer")                       \
	X(FLOW_GONE, "flow_gone", "flow cache: cached owner left the set, replaced")          \
	X(FLOW_DRAINED, "flow_drained", "flow cache: SYN to a draining owner, replaced")      \
	X(FLOW_EXPIRED, "flow_expired", "flow cache: idle non-TCP entry, replaced")           \
	X(FLOW_INSERT, "flow_insert", "flow cache: entry created")                            \
	X(FLOW_CAPPED, "flow_capped", "flow cache: insert refused by the rate cap")           \
	X(FRAG_FIRST, "frag_first", "fragments: first fragment's owner recorded")             \
	X(FRAG_HIT, "frag_hit", "fragments: later fragment found its datagram")               \
	X(FRAG_MISS, "frag_miss", "fragments: later fragment without record")                \
	X(ICMP_VIP, "icmp_vip", "ICMP error about a VIP flow's packet, sent to its owner")   \
	X(FLOW_EVICT, "flow_evict", "flow cache: insert into a full CPU share, a flow evicted")

#define COOP_XDP_CNT_ENUM(id, name, help) COOP_XDP_CNT_##id,
enum coop_xdp_counter_id {
	COOP_XDP_COUNTERS(COOP_XDP_CNT_ENUM)
	COOP_XDP_CNT_MAX /* number of counters: coop_xdp_stats max_entries */
};
#undef COOP_XDP_CNT_ENUM

#ifndef __bpf__
/* Name of counter id for `show fwd`, NULL when out of range. */
static inline const char *coop_xdp_counter_name(unsigned int id)
{
#define COOP_XDP_CNT_NAME(id, name, help) name,
	static const char *const names[] = { COOP_XDP_COUNTERS(COOP_XDP_CNT_NAME) };
#undef COOP_XDP_CNT_NAME
	return id < COOP_XDP_CNT_MAX ? names[id] : (const char *)0;
}

/* One-line description of counter id, NULL when out of range. */
static inline const char *coop_xdp_counter_help(unsigned int id)
{
#define COOP_XDP_CNT_HELP(id, name, help) help,
	static const char *const helps[] = { COOP_XDP_COUNTERS(COOP_XDP_CNT_HELP) };
#undef COOP_XDP_CNT_HELP
	return id < COOP_XDP_CNT_MAX ? helps[id] : (const char *)0;
}
#endif

/* --- wire formats --------------------------------------------------------------- */

/*
 * GUE (draft-ietf-intarea-gue), variant 0, as sent:
 *   outer IPv4 (DF, TTL 64, ID 0, TOS copied from the inner packet) or
 *   outer IPv6 (hop limit 64, traffic class copied), both from our cluster
 *   address to the owner's;
 *   UDP: source port 0xc000 | (fold16(flow hash) & 0x3fff) (RFC 6335's
 *   dynamic range, so receivers spread flows over queues by RSS),
 *   destination gue_port, checksum as COOP_XDP_CFG_UDP_CSUM4 says (always
 *   computed over IPv6);
 *   GUE: version 0, C 0, hlen, proto/ctype = 4 (inner IPv4) or 41 (IPv6),
 *   flags 0: a 4-byte header. A fragment steered to its fragment owner
 *   (docs/forwarder.md, "Fragments") sets the P flag and one word of private
 *   flags holding COOP_XDP_GUE_PRIV_STEER (hlen 1, 8 bytes): the receiver
 *   then makes the per-datagram decision instead of delivering.
 * IPIP: outer IPv4 protocol 4/41 or IPv6 next header 4/41, no UDP. IPIP
 * has no room for the mark, so steered fragments travel in GUE in IPIP
 * mode too (every node accepts both formats on receive).
 * Receive: GUE to (src4 or src6, gue_port) and IPIP/4in6/6in4 to src4/src6
 * are decapsulated; GUE variant 1 (bare IP after UDP) is accepted too.
 */
#define COOP_XDP_GUE_HLEN 4u                  /* base GUE header */
#define COOP_XDP_GUE_FLAG_P 0x0001u           /* host order: private flags present */
#define COOP_XDP_GUE_PRIV_STEER 0x00000001u   /* host order: steered fragment */
#define COOP_XDP_GUE_SPORT_BASE 0xc000u       /* outer source port range start */
#define COOP_XDP_GUE_SPORT_MASK 0x3fffu       /* bits of the hash in the port */

/* Base GUE header (4 bytes), network order on the wire. */
struct coop_xdp_gue {
	__u8 vc_hlen; /* version (2 bits, 0), C (1 bit, 0), hlen (5 bits: words after this header) */
	__u8 proto;   /* inner IP protocol: 4 (IPv4) or 41 (IPv6) */
	__be16 flags; /* standard flags; COOP_XDP_GUE_FLAG_P when private flags follow */
};

/* Outer source port for a flow hash (host order). */
static inline __attribute__((always_inline)) __u16 coop_xdp_gue_sport(__u32 hash)
{
	return (__u16)(COOP_XDP_GUE_SPORT_BASE | ((hash ^ (hash >> 16)) & COOP_XDP_GUE_SPORT_MASK));
}

/*
 * MTU: an encapsulated packet whose outer length (inner IP packet + the
 * overhead below) would exceed config.mtu, or whose inner packet is longer
 * than COOP_XDP_INNER_MAX, is not sent. Instead the client gets, from the
 * VIP, an ICMP "fragmentation needed" (IPv4 with DF set, type 3 code 4) or
 * ICMPv6 "packet too big" (type 2) carrying the inner size that fits
 * (mtu - overhead, at most COOP_XDP_INNER_MAX), built in XDP and sent back
 * out of the ingress interface (TX_ICMP4_FRAG_NEEDED / TX_ICMP6_TOO_BIG).
 * It quotes the first COOP_XDP_ICMP4_QUOTE / COOP_XDP_ICMP6_QUOTE bytes of
 * the packet (576- and 1280-byte replies, RFC 1812 / RFC 4443). An IPv4
 * packet without DF (fragments included) is dropped instead, DROP_MTU_NODF:
 * "fragmentation needed" is only for DF packets (RFC 792, 1191), the data
 * path cannot fragment (one packet in, at most one out), and passing it up
 * would deliver it on a node that does not own its flow. The control plane
 * keeps mtu - overhead >= 1280 (IPv6's minimum MTU); a packet that cannot
 * be answered is dropped and counted DROP_MTU.
 */
#define COOP_XDP_OVERHEAD_GUE4 32u  /* IPv4 20 + UDP 8 + GUE 4 */
#define COOP_XDP_OVERHEAD_GUE6 52u  /* IPv6 40 + UDP 8 + GUE 4 */
#define COOP_XDP_OVERHEAD_STEER 4u  /* + private flags word of a steered fragment */
#define COOP_XDP_OVERHEAD_IPIP4 20u /* IPv4 20 */
#define COOP_XDP_OVERHEAD_IPIP6 40u /* IPv6 40 */
#define COOP_XDP_ICMP4_QUOTE 548u   /* 576 - IPv4 20 - ICMP 8 */
#define COOP_XDP_ICMP6_QUOTE 1232u  /* 1280 - IPv6 40 - ICMPv6 8 */
#define COOP_XDP_MTU_MIN (1280u + COOP_XDP_OVERHEAD_GUE6 + COOP_XDP_OVERHEAD_STEER)
/* Longest inner IP packet encapsulated: 125 blocks of 512 bytes and a tail
 * of up to 511. The UDP checksum reads every byte of it, and the verifier
 * proves packet accesses only below offset 65,535 (MAX_PACKET_OFF), outer
 * headers included (fwd/bpf/xdp_csum.h). */
#define COOP_XDP_INNER_MAX (125u * 512u + 511u)

#endif
