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
 * Steps of xdp_csum_bytes: n bytes (a power of two) when that bit of len is
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

/* Longest run summed: the linear part of an XDP frame is below a page. */
#define XDP_CSUM_MAX 4095u

/*
 * One's-complement sum (unfolded) of len bytes at p, p..end being the
 * packet: one step per binary digit of len, so every access has a
 * constant size the verifier can check and the code has no loop.
 * Returns 0 and adds to *acc, or -1 when the range leaves the packet.
 */
XDP_INLINE int xdp_csum_bytes(__u8 *p, void *end, __u32 len, __u64 *acc)
{
	__u64 s = 0;

	if (len > XDP_CSUM_MAX)
		return -1;
	XDP_CSUM_STEP_HELPER(2048, 4);
	XDP_CSUM_STEP_HELPER(1024, 2);
	XDP_CSUM_STEP_HELPER(512, 1);
	XDP_CSUM_STEP_HELPER(256, 1);
	XDP_CSUM_STEP_HELPER(128, 1);
	XDP_CSUM_STEP_HELPER(64, 1);
	XDP_CSUM_STEP_INLINE(32);
	XDP_CSUM_STEP_INLINE(16);
	XDP_CSUM_STEP_INLINE(8);
	XDP_CSUM_STEP_INLINE(4);
	XDP_CSUM_STEP(2, s += *(__u16 *)p);
	if (len & 1) {
		/* the odd byte is the high-order byte of a zero-padded word */
		__u8 last[2] = { 0, 0 };

		if ((void *)p + 1 > end)
			return -1;
		last[0] = *p;
		s += *(__u16 *)last;
	}
	*acc += s;
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
