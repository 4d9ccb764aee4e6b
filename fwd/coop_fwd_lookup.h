/* coop_fwd_lookup.h - forwarder lookup side shared by userspace and XDP: flow hash, Maglev slot, flow-cache and fragment-table layouts. */
#ifndef COOP_FWD_LOOKUP_H
#define COOP_FWD_LOOKUP_H

/*
 * This header is the contract between coop's userspace forwarder core
 * (fwd/coop_fwd.h, fwd/maglev.c, the control plane fwd/xdp_*.c and the
 * reference model fwd/model/) and the XDP data path (fwd/bpf/). Both sides
 * include it, so it must compile unchanged with gcc/clang for
 * userspace and with `clang -target bpf`:
 *   - only <linux/types.h> (__u8 .. __u64, __be16, __be32), no libc;
 *   - every function is static inline and forced inline, straight-line code
 *     without loops, so the verifier sees no back edge;
 *   - structs are hash-map keys and values: fixed layout, explicit padding
 *     that callers zero (the builders below do).
 *
 * Flow hash (documented, stable; docs/forwarder.md has the full text):
 *   MurmurHash3_x86_32 (Austin Appleby's public-domain algorithm) of a byte
 *   string, seed COOP_FWD_SEED_FLOW. The byte string is, all fields in
 *   network byte order as they appear on the wire:
 *     5-tuple (TCP, UDP):   src  dst  sport dport  proto 0 0 0
 *     3-tuple (others, and every fragment):   src  dst  proto 0 0 0
 *   with 4-byte addresses for IPv4 and 16-byte ones for IPv6, i.e. 16, 40,
 *   12 and 36 bytes. MurmurHash3 reads 4-byte blocks little-endian; the code
 *   below loads the words natively and swaps on big-endian hosts, so every
 *   node of a cluster computes the same value whatever its CPU.
 *
 * Maglev slot: slot = (hash * M) >> 32 (64-bit product), the
 * multiply-shift reduction: uniform like hash % M without a division.
 * ECMP comparison mode: index = hash % N over the active backends in key
 * order (the classic mod-N of FreeBSD's ECMP).
 */

#include <linux/types.h>

#define COOP_FWD_INLINE static inline __attribute__((always_inline))

/* Seeds: ASCII "coop", "offs", "skip". Changing one changes every table and
 * every flow's owner in a cluster, so they are part of the wire contract. */
#define COOP_FWD_SEED_FLOW 0x636f6f70u   /* packet flow hash */
#define COOP_FWD_SEED_OFFSET 0x6f666673u /* Maglev permutation offset of a backend key */
#define COOP_FWD_SEED_SKIP 0x736b6970u   /* Maglev permutation skip of a backend key */

/* Default Maglev table size: the paper's prime, 100 x 655 backends. */
#define COOP_FWD_M_DEFAULT 65537u
/* Table entry / lookup result meaning "no active backend". */
#define COOP_FWD_NO_BACKEND 0xffffffffu
/* Backend ids are < COOP_FWD_ID_MAX so the data path can keep per-backend
 * state (address, MAC, state below) in BPF array maps indexed by id. */
#define COOP_FWD_ID_MAX 65536u

/* Backend state as the flow cache sees it (BPF: array map id -> state,
 * published together with the table). */
#define COOP_FWD_STATE_ABSENT 0u   /* not in the current backend set */
#define COOP_FWD_STATE_ACTIVE 1u   /* weight > 0: owns table slots */
#define COOP_FWD_STATE_DRAINING 2u /* weight 0: no slots, established flows kept */

/* coop_fwd_flow_verdict(): use the cached backend, or why not. */
#define COOP_FWD_FLOW_USE 0     /* cached entry is valid */
#define COOP_FWD_FLOW_GONE 1    /* backend no longer in the set */
#define COOP_FWD_FLOW_DRAINED 2 /* TCP SYN for a draining backend: new connection */
#define COOP_FWD_FLOW_EXPIRED 3 /* non-TCP entry idle longer than the timeout */

/* Timing defaults of the flow cache and fragment table: what coopd writes
 * into the data path's configuration (fwd/xdp_ctl.c) and what the
 * userspace reference model (fwd/model/) starts with, so both behave alike. */
#define COOP_FWD_FLOW_IDLE_NS_DEFAULT 30000000000ull    /* non-TCP flow entries: 30 s idle */
#define COOP_FWD_FRAG_TIMEOUT_NS_DEFAULT 30000000000ull /* fragment records: 30 s (ipfrag_time) */
#define COOP_FWD_INSERT_RATE_DEFAULT 100000u            /* new flow entries per second; burst 1 s */

#define COOP_FWD_FAMILY_V4 4
#define COOP_FWD_FAMILY_V6 6
#define COOP_FWD_PROTO_TCP 6
#define COOP_FWD_PROTO_UDP 17

/*
 * A flow: the flow-cache key (BPF: key of the LRU hash map coop_xdp_flows)
 * and the input of the flow hash. 40 bytes, no implicit padding.
 */
struct coop_fwd_tuple {
	__be32 src[4]; /* source address, network order; IPv4 in src[0], rest zero */
	__be32 dst[4]; /* destination address, as src */
	__be16 sport;  /* source port, network order; zero for non-port protocols */
	__be16 dport;  /* destination port, as sport */
	__u8 proto;    /* IP protocol (upper layer, after IPv6 fragment header) */
	__u8 family;   /* COOP_FWD_FAMILY_V4 or _V6 */
	__u8 pad[2];   /* zero: part of the map key */
};

/* Flow-cache value (BPF: the LRU map value). 16 bytes. */
struct coop_fwd_flow {
	__u32 backend;  /* backend id chosen on the flow's first packet */
	__u32 pad;      /* zero; keeps atime_ns 8-byte aligned */
	__u64 atime_ns; /* last packet, CLOCK_MONOTONIC ns (bpf_ktime_get_ns) */
};

/* Fragment-table key: one IP datagram (Maglev paper section 4.3). 40 bytes. */
struct coop_fwd_frag_key {
	__be32 src[4]; /* source address, as in coop_fwd_tuple */
	__be32 dst[4]; /* destination address, as in coop_fwd_tuple */
	__u32 id;      /* IPv4 ID (16 bits) or IPv6 fragment identification, host order */
	__u8 proto;    /* upper-layer protocol */
	__u8 family;   /* COOP_FWD_FAMILY_V4 or _V6 */
	__u8 pad[2];   /* zero: part of the map key */
};

/* Fragment-table value: the first fragment's 5-tuple decision. 16 bytes. */
struct coop_fwd_frag_val {
	__u32 backend;  /* owner chosen for the first fragment */
	__u32 pad;      /* zero */
	__u64 ctime_ns; /* when the first fragment was seen; entries expire from it */
};

/*
 * Token bucket capping new flow-cache inserts (BPF: per-CPU array value), so
 * a SYN flood cannot push established flows out of the LRU. Credit is kept
 * in nanoseconds of elapsed time: an insert costs cost_ns = 1e9 / rate, the
 * bucket holds at most burst_ns = cost_ns * burst.
 */
struct coop_fwd_ratelimit {
	__u64 credit_ns; /* accumulated allowance */
	__u64 last_ns;   /* time of the last refill */
};

/* --- byte order ----------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
COOP_FWD_INLINE __u32 coop_fwd_le32(__u32 x)
{
	return __builtin_bswap32(x);
}
COOP_FWD_INLINE __u32 coop_fwd_le16(__u16 x)
{
	return __builtin_bswap16(x);
}
#else
/* Native load of 4 wire bytes -> their little-endian value (no-op here). */
COOP_FWD_INLINE __u32 coop_fwd_le32(__u32 x)
{
	return x;
}
/* Native load of 2 wire bytes -> their little-endian value (no-op here). */
COOP_FWD_INLINE __u32 coop_fwd_le16(__u16 x)
{
	return x;
}
#endif

/* --- MurmurHash3_x86_32 pieces -------------------------------------------- */

COOP_FWD_INLINE __u32 coop_fwd_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* Absorb one little-endian 4-byte block into the state h. */
COOP_FWD_INLINE __u32 coop_fwd_hash_word(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = coop_fwd_rotl32(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = coop_fwd_rotl32(h, 13);
	return h * 5 + 0xe6546b64u;
}

/* Finalisation: fold in the length and avalanche every bit. */
COOP_FWD_INLINE __u32 coop_fwd_hash_final(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* --- tuples ---------------------------------------------------------------- */

/* TCP and UDP carry ports; everything else hashes by 3-tuple. */
COOP_FWD_INLINE int coop_fwd_proto_has_ports(__u8 proto)
{
	return proto == COOP_FWD_PROTO_TCP || proto == COOP_FWD_PROTO_UDP;
}

/* Fill t for IPv4. Addresses and ports in network order; ports are
 * ignored (stored as zero) for non-port protocols. */
COOP_FWD_INLINE void coop_fwd_tuple_v4(struct coop_fwd_tuple *t, __be32 src, __be32 dst,
				       __be16 sport, __be16 dport, __u8 proto)
{
	int ports = coop_fwd_proto_has_ports(proto);

	t->src[0] = src;
	t->src[1] = 0;
	t->src[2] = 0;
	t->src[3] = 0;
	t->dst[0] = dst;
	t->dst[1] = 0;
	t->dst[2] = 0;
	t->dst[3] = 0;
	t->sport = ports ? sport : 0;
	t->dport = ports ? dport : 0;
	t->proto = proto;
	t->family = COOP_FWD_FAMILY_V4;
	t->pad[0] = 0;
	t->pad[1] = 0;
}

/* Fill t for IPv6; src and dst point at 16 bytes each (e.g. in the packet). */
COOP_FWD_INLINE void coop_fwd_tuple_v6(struct coop_fwd_tuple *t, const __be32 *src,
				       const __be32 *dst, __be16 sport, __be16 dport, __u8 proto)
{
	int ports = coop_fwd_proto_has_ports(proto);

	t->src[0] = src[0];
	t->src[1] = src[1];
	t->src[2] = src[2];
	t->src[3] = src[3];
	t->dst[0] = dst[0];
	t->dst[1] = dst[1];
	t->dst[2] = dst[2];
	t->dst[3] = dst[3];
	t->sport = ports ? sport : 0;
	t->dport = ports ? dport : 0;
	t->proto = proto;
	t->family = COOP_FWD_FAMILY_V6;
	t->pad[0] = 0;
	t->pad[1] = 0;
}

/* Absorb the addresses of t (1 or 4 words each); *len counts bytes. */
COOP_FWD_INLINE __u32 coop_fwd_hash_addrs(const struct coop_fwd_tuple *t, __u32 h, __u32 *len)
{
	if (t->family == COOP_FWD_FAMILY_V6) {
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->src[0]));
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->src[1]));
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->src[2]));
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->src[3]));
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->dst[0]));
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->dst[1]));
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->dst[2]));
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->dst[3]));
		*len = 32;
	} else {
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->src[0]));
		h = coop_fwd_hash_word(h, coop_fwd_le32(t->dst[0]));
		*len = 8;
	}
	return h;
}

/* 5-tuple hash (src, dst, sport, dport, proto) with the given seed. */
COOP_FWD_INLINE __u32 coop_fwd_hash5(const struct coop_fwd_tuple *t, __u32 seed)
{
	__u32 len;
	__u32 h = coop_fwd_hash_addrs(t, seed, &len);

	h = coop_fwd_hash_word(h, coop_fwd_le16(t->sport) | coop_fwd_le16(t->dport) << 16);
	h = coop_fwd_hash_word(h, t->proto);
	return coop_fwd_hash_final(h, len + 8);
}

/* 3-tuple hash (src, dst, proto) with the given seed: every fragment of a
 * datagram, with or without the L4 header, gives the same value. */
COOP_FWD_INLINE __u32 coop_fwd_hash3(const struct coop_fwd_tuple *t, __u32 seed)
{
	__u32 len;
	__u32 h = coop_fwd_hash_addrs(t, seed, &len);

	h = coop_fwd_hash_word(h, t->proto);
	return coop_fwd_hash_final(h, len + 4);
}

/* The flow hash of an unfragmented packet: 5-tuple for TCP/UDP, 3-tuple
 * otherwise, seed COOP_FWD_SEED_FLOW. Fragments use coop_fwd_frag_hash(). */
COOP_FWD_INLINE __u32 coop_fwd_hash(const struct coop_fwd_tuple *t)
{
	if (coop_fwd_proto_has_ports(t->proto))
		return coop_fwd_hash5(t, COOP_FWD_SEED_FLOW);
	return coop_fwd_hash3(t, COOP_FWD_SEED_FLOW);
}

/* The hash that steers a fragment (first or later) to its fragment owner. */
COOP_FWD_INLINE __u32 coop_fwd_frag_hash(const struct coop_fwd_tuple *t)
{
	return coop_fwd_hash3(t, COOP_FWD_SEED_FLOW);
}

/* --- tables ---------------------------------------------------------------- */

/* Maglev slot of a hash in a table of m entries: (hash * m) >> 32, < m. */
COOP_FWD_INLINE __u32 coop_fwd_maglev_slot(__u32 hash, __u32 m)
{
	return (__u32)(((__u64)hash * m) >> 32);
}

/* Owner in a table held as a plain array of m backend ids (userspace, or a
 * BPF map value known to hold m entries). */
COOP_FWD_INLINE __u32 coop_fwd_maglev_pick(const __u32 *entries, __u32 m, __u32 hash)
{
	if (m == 0)
		return COOP_FWD_NO_BACKEND;
	return entries[coop_fwd_maglev_slot(hash, m)];
}

/* ECMP comparison mode: index into the n active backends in key order. */
COOP_FWD_INLINE __u32 coop_fwd_ecmp_index(__u32 hash, __u32 n)
{
	return n ? hash % n : 0;
}

/* --- flow cache and fragment table contract -------------------------------- */

/*
 * May a cached flow keep its backend? state is the cached backend's state in
 * the current table, syn is non-zero for a TCP segment with SYN set and ACK
 * clear (a new connection), idle_ns the idle timeout of non-TCP entries (0:
 * never). Returns COOP_FWD_FLOW_USE or the reason to take the table's
 * answer instead (and overwrite the entry).
 */
COOP_FWD_INLINE int coop_fwd_flow_verdict(const struct coop_fwd_flow *f, __u8 proto, int syn,
					  __u32 state, __u64 now_ns, __u64 idle_ns)
{
	if (state == COOP_FWD_STATE_ABSENT)
		return COOP_FWD_FLOW_GONE;
	if (syn && state == COOP_FWD_STATE_DRAINING)
		return COOP_FWD_FLOW_DRAINED;
	if (proto != COOP_FWD_PROTO_TCP && idle_ns && now_ns > f->atime_ns &&
	    now_ns - f->atime_ns > idle_ns)
		return COOP_FWD_FLOW_EXPIRED;
	return COOP_FWD_FLOW_USE;
}

/* Fragment-table key of the datagram carrying t with IP ID id. */
COOP_FWD_INLINE void coop_fwd_frag_key_make(struct coop_fwd_frag_key *k,
					    const struct coop_fwd_tuple *t, __u32 id)
{
	k->src[0] = t->src[0];
	k->src[1] = t->src[1];
	k->src[2] = t->src[2];
	k->src[3] = t->src[3];
	k->dst[0] = t->dst[0];
	k->dst[1] = t->dst[1];
	k->dst[2] = t->dst[2];
	k->dst[3] = t->dst[3];
	k->id = id;
	k->proto = t->proto;
	k->family = t->family;
	k->pad[0] = 0;
	k->pad[1] = 0;
}

/* Start a full bucket at now_ns. */
COOP_FWD_INLINE void coop_fwd_ratelimit_init(struct coop_fwd_ratelimit *rl, __u64 now_ns,
					     __u64 burst_ns)
{
	rl->credit_ns = burst_ns;
	rl->last_ns = now_ns;
}

/* Take one insert from the bucket: 1 if allowed, 0 if over the rate. */
COOP_FWD_INLINE int coop_fwd_ratelimit_take(struct coop_fwd_ratelimit *rl, __u64 now_ns,
					    __u64 cost_ns, __u64 burst_ns)
{
	__u64 credit = rl->credit_ns;

	if (credit > burst_ns) /* the burst was lowered since the last call */
		credit = burst_ns;
	if (now_ns > rl->last_ns) {
		__u64 elapsed = now_ns - rl->last_ns;

		/* compare before adding: a long idle gap must not overflow */
		credit = elapsed >= burst_ns - credit ? burst_ns : credit + elapsed;
		rl->last_ns = now_ns;
	}
	if (credit < cost_ns) {
		rl->credit_ns = credit;
		return 0;
	}
	rl->credit_ns = credit - cost_ns;
	return 1;
}

#endif
