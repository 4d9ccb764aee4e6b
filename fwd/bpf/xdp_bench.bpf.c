/* xdp_bench.bpf.c - harness programs of bench/xdp: a replayer that restores the packet before every test_run repetition, the bouncer that keeps frames circulating through the forwarder, and a reflector baseline. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Frame length the replayer works with (bench/xdp builds 128-byte frames). */
#define XDP_BENCH_LEN 128
/* Flows the replayer can rotate through (one per repetition). */
#define XDP_BENCH_FLOWS 262144

/* The original frame, and how many flows to rotate (0: keep its flow). */
struct xdp_bench_replay {
	__u32 nflows;                 /* entries of xdp_bench_flows in use */
	__u32 pad;                    /* zero */
	__u8 frame[XDP_BENCH_LEN];    /* bytes restored before every run */
};

/* A flow to write into the restored IPv4 frame: source address and port. */
struct xdp_bench_flow {
	__be32 src;   /* IPv4 source address */
	__be16 sport; /* TCP source port */
	__u16 pad;    /* zero */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdp_bench_replay);
} xdp_bench_frame SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDP_BENCH_FLOWS);
	__type(key, __u32);
	__type(value, struct xdp_bench_flow);
} xdp_bench_flows SEC(".maps");

/* Repetition number. Shared, not per CPU: test_run may migrate between
 * repetitions when it reschedules. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xdp_bench_seq SEC(".maps");

/* The program under measurement (coop_xdp, or xdp_pass to calibrate). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xdp_bench_target SEC(".maps");

/* What the bouncers counted, per CPU: [0] frames sent back into the loop,
 * [1] frames dropped while the loop is stopped (the ones it held). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} xdp_bench_loop_count SEC(".maps");

/* The loop's settings. */
struct xdp_bench_loop {
	__u32 stop;     /* 1: drop what comes back (drain the loop) */
	__u32 back_if;  /* frames coming back on this veth (the kernel's way out) ... */
	__u32 front_if; /* ... are sent in again through this one */
	__u32 pad;      /* zero */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdp_bench_loop);
} xdp_bench_loop SEC(".maps");

/* Headers the loop's stages rewrite (Ethernet, IPv4, TCP, rounded up): an
 * encapsulation only adds bytes in front of them, the kernel's forwarding
 * only changes MACs, TTL and checksum; the payload stays as it was. */
#define XDP_BENCH_HDRS 64

/* Put the original frame back: start where it began, its first copy bytes
 * (XDP_BENCH_LEN: all of them). 0 or -1. */
static __always_inline int restore(struct xdp_md *ctx, struct xdp_bench_replay *r, __u8 **pdata,
				   const __u32 copy)
{
	long len = (long)ctx->data_end - (long)ctx->data;
	__u8 *data, *end;

	if (len != XDP_BENCH_LEN && bpf_xdp_adjust_head(ctx, (int)(len - XDP_BENCH_LEN)))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + XDP_BENCH_LEN > end)
		return -1;
	if (copy == XDP_BENCH_LEN)
		__builtin_memcpy(data, r->frame, XDP_BENCH_LEN);
	else
		__builtin_memcpy(data, r->frame, XDP_BENCH_HDRS);
	*pdata = data;
	return 0;
}

/*
 * test_run with repeat > 1 hands every repetition the packet as the last
 * one left it. This undoes that (and, for new-flow runs, writes the next
 * flow's source address and port), then tail-calls the program under
 * measurement. The same replayer in front of xdp_pass is the calibration.
 */
SEC("xdp")
int xdp_bench_replay(struct xdp_md *ctx)
{
	__u32 zero = 0, *seq, i;
	struct xdp_bench_replay *r = bpf_map_lookup_elem(&xdp_bench_frame, &zero);
	struct xdp_bench_flow *f;
	__u8 *data;

	if (!r || restore(ctx, r, &data, XDP_BENCH_LEN))
		return XDP_ABORTED;
	if (r->nflows) {
		seq = bpf_map_lookup_elem(&xdp_bench_seq, &zero);
		if (!seq)
			return XDP_ABORTED;
		i = (*seq)++;
		i = i < r->nflows ? i : i % r->nflows;
		f = bpf_map_lookup_elem(&xdp_bench_flows, &i);
		if (!f)
			return XDP_ABORTED;
		/* untagged IPv4: source address at 26, TCP source port at 34 */
		*(__be32 *)(data + 26) = f->src;
		*(__be16 *)(data + 34) = f->sport;
	}
	bpf_tail_call(ctx, &xdp_bench_target, 0);
	return XDP_ABORTED;
}

/*
 * The packets-per-second loop. A fixed number of frames circulates: the
 * front veth hands them to the forwarder's veth, the forwarder sends them
 * back (encapsulated out of the same veth, forwarded by the kernel out of
 * another, or reflected), and where they come back this bouncer restores
 * the original frame and sends it in again: back out of the front veth,
 * or from the kernel's way out redirected to the front veth. So the loop
 * runs as fast as its slowest stage.
 */
SEC("xdp")
int xdp_bench_bounce(struct xdp_md *ctx)
{
	__u32 zero = 0, one = 1;
	struct xdp_bench_replay *r = bpf_map_lookup_elem(&xdp_bench_frame, &zero);
	struct xdp_bench_loop *l = bpf_map_lookup_elem(&xdp_bench_loop, &zero);
	__u64 *n;
	__u8 *data;

	if (!r || !l)
		return XDP_ABORTED;
	n = bpf_map_lookup_elem(&xdp_bench_loop_count, l->stop ? &one : &zero);
	if (n)
		(*n)++;
	if (l->stop)
		return XDP_DROP;
	if (restore(ctx, r, &data, XDP_BENCH_HDRS))
		return XDP_ABORTED;
	if (ctx->ingress_ifindex == l->back_if)
		return bpf_redirect(l->front_if, 0);
	return XDP_TX;
}

/* The baseline of the packets-per-second run: attached where the
 * forwarder would be, it sends every frame straight back, unchanged, so
 * veth and bouncer costs can be taken out of the figures. */
SEC("xdp")
int xdp_bench_reflect(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
