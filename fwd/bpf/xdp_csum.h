/* xdp_csum.h - Internet checksums in XDP: IPv4 header, pseudo-headers, and one's-complement sums over packet bytes of any length. */
#ifndef COOP_XDP_CSUM_H
#define COOP_XDP_CSUM_H

#include "fwd/bpf/xdp_parse.h"

/*
 * Sums are kept as 64-bit accumulators of native-order 16/32-bit words and
 * folded at the end: one's-complement addition commutes with byte swapping,
 * so a native sum folded to 16 bits is the checksum in network order once
 * stored back through the same native view.
 */

/* Fold an accumulator to 16 bits (not inverted). */
XDP_INLINE __u16 xdp_csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Sum of n 32-bit words at p (n constant, p already bounds-checked). */
XDP_INLINE __u64 xdp_csum_words(const __u32 *p, int n)
{
	__u64 s = 0;
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		s += p[i];
	return s;
}

/* IPv4 header checksum of a 20-byte header whose check field is zero. */
XDP_INLINE __u16 xdp_csum_ip4(const struct iphdr *ip)
{
	return ~xdp_csum_fold(xdp_csum_words((const __u32 *)ip, 5));
}

/*
 * Steps of coop_xdp_csum: n bytes (a power of two) when that bit of len is
 * set, through the helper (at most 512 bytes per call) or inline (small:
 * cheaper than a call). The next position is computed before the branch
 * (the empty asm pins it there) and p itself is dead after it, so the two
 * sides rejoin in identical states (the bounds check gave p a range only
 * on one side): the verifier walks each step once, not every combination.
 */
#define XDP_CSUM_STEP(n, body)                                  \
	do {                                                    \
		__u8 *next_ = p + (len & (n));                  \
		asm volatile("" : "+r"(next_));                 \
		if (len & (n)) {                                \
			if ((void *)p + (n) > end)              \
				return -1;                      \
			body;                                   \
		}                                               \
		p = next_;                                      \
	} while (0)

#define XDP_CSUM_HELPER(n, calls)                                                       \
	do {                                                                            \
		int k_;                                                                 \
		for (k_ = 0; k_ < (calls); k_++)                                        \
			s += (__u32)bpf_csum_diff(NULL, 0, (void *)p + k_ * ((n) / (calls)), \
						  (n) / (calls), 0);                    \
	} while (0)

#define XDP_CSUM_STEP_HELPER(n, calls) XDP_CSUM_STEP(n, XDP_CSUM_HELPER(n, calls))
#define XDP_CSUM_STEP_INLINE(n) XDP_CSUM_STEP(n, s += xdp_csum_words((const __u32 *)p, (n) / 4))

/*
 * Longest run summed: COOP_XDP_INNER_MAX, as blocks of 512 bytes (the
 * helper's limit per call) and a tail below a block. Packets that long
 * reach XDP in generic (skb) mode, which hands a program without
 * multi-buffer support the whole frame linear (jumbo frames, 9,000 bytes
 * and more); native mode's frames are below a page. The bound is the
 * verifier's: it proves packet accesses only below offset 65,535
 * (MAX_PACKET_OFF), and the last block starts at most XDP_CSUM_OFF_MAX
 * (the headers in front of the run) plus the tail plus 124 blocks in.
 */
#define XDP_CSUM_OFF_MAX 127u
#define XDP_CSUM_BLOCK 512u
#define XDP_CSUM_BLOCKS 125u
#define XDP_CSUM_MAX (XDP_CSUM_BLOCKS * XDP_CSUM_BLOCK + XDP_CSUM_BLOCK - 1)
_Static_assert(XDP_CSUM_MAX == COOP_XDP_INNER_MAX, "the checksum covers every inner packet sent");
_Static_assert(XDP_CSUM_OFF_MAX + XDP_CSUM_BLOCK - 2 + XDP_CSUM_BLOCKS * XDP_CSUM_BLOCK <= 0xffff,
	       "every block below the verifier's packet offset limit");

/*
 * One's-complement sum of the len bytes at offset off (at most
 * XDP_CSUM_OFF_MAX) of ctx's packet, folded to 16 bits (not inverted), or
 * -1 when the range leaves the packet. The odd byte first (found from the
 * start, as the high-order byte of a zero-padded word); then the even
 * part of the tail (len mod 512), one step per binary digit, so every
 * access has a constant size the verifier can check; then the whole
 * blocks in a bounded loop, not unrolled: one copy of the code, walked
 * once per block. Every sum starts at an even offset from the start, so
 * the order does not change the result.
 *
 * A global function: the verifier checks it once, for any offset and
 * length, instead of walking the loop again on every path to a checksum
 * (the encapsulations, inlined on the unfragmented path and in
 * coop_xdp_send, and the ICMP replies). It returns the sum rather than
 * adding to the caller's (no pointer to keep: its frame stays small, and
 * the program's frame, coop_xdp_send's and this one's must fit 512 bytes
 * together). It does not change the packet, so the caller's packet
 * pointers stay valid across the call. Arguments are 64-bit: the bounds
 * checked are then those of the registers used (a 32-bit argument is
 * widened into a fresh copy that carries no bound).
 */
__attribute__((noinline)) int coop_xdp_csum(struct xdp_md *ctx, __u64 off, __u64 len)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u64 s = 0, i, blocks;
	__u8 *p;

	if (off > XDP_CSUM_OFF_MAX || len > XDP_CSUM_MAX)
		return -1;
	p = (__u8 *)data + off;
	if (len & 1) {
		__u8 last[2] = { 0, 0 };
		__u64 at = len & ~1ull;

		/* bounded again where the verifier sees it: the compiler may
		 * use a copy of len that the first check did not bound */
		asm volatile("" : "+r"(at));
		if (at > XDP_CSUM_MAX || (void *)p + at + 1 > end)
			return -1;
		last[0] = p[at];
		s += *(__u16 *)last;
	}
	XDP_CSUM_STEP_HELPER(256, 1);
	XDP_CSUM_STEP_HELPER(128, 1);
	XDP_CSUM_STEP_HELPER(64, 1);
	XDP_CSUM_STEP_INLINE(32);
	XDP_CSUM_STEP_INLINE(16);
	XDP_CSUM_STEP_INLINE(8);
	XDP_CSUM_STEP_INLINE(4);
	XDP_CSUM_STEP(2, s += *(__u16 *)p);
	blocks = len / XDP_CSUM_BLOCK;
#pragma clang loop unroll(disable)
	for (i = 0; i < XDP_CSUM_BLOCKS; i++) {
		if (i >= blocks)
			break;
		if ((void *)p + XDP_CSUM_BLOCK > end)
			return -1;
		s += (__u32)bpf_csum_diff(NULL, 0, (void *)p, XDP_CSUM_BLOCK, 0);
		p += XDP_CSUM_BLOCK;
	}
	return xdp_csum_fold(s);
}

/* Add the sum of len bytes at offset off to *acc (coop_xdp_csum). 0 or -1. */
XDP_INLINE int xdp_csum_bytes(struct xdp_md *ctx, __u32 off, __u32 len, __u64 *acc)
{
	int c = coop_xdp_csum(ctx, off, len);

	if (c < 0)
		return -1;
	*acc += (__u32)c;
	return 0;
}

/* Pseudo-header sum for IPv4 (addresses network order, len host order). */
XDP_INLINE __u64 xdp_csum_pseudo4(__be32 src, __be32 dst, __u32 len, __u8 proto)
{
	return (__u64)src + dst + bpf_htons((__u16)len) + bpf_htons((__u16)proto);
}

/* Pseudo-header sum for IPv6. */
XDP_INLINE __u64 xdp_csum_pseudo6(const __be32 *src, const __be32 *dst, __u32 len, __u8 proto)
{
	return (__u64)src[0] + src[1] + src[2] + src[3] + dst[0] + dst[1] + dst[2] + dst[3] +
	       bpf_htonl(len) + bpf_htonl((__u32)proto);
}

#endif
