/* xdp_pass.bpf.c - the trivial XDP program (XDP_PASS): calibration row of bench/xdp, the cost of test_run itself. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
