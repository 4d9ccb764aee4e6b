/* xdp_jumbo_test.c - packet fixtures of frames longer than a page through coop_xdp.bpf.o in generic XDP on a veth pair (test_run hands a program at most a page of linear data): jumbo and 64 KB inner packets encapsulated with their UDP checksums, the longest inner packet and one byte more. */
#define XU_PKT_MAX 65600

#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>

#include "tests/unit/fwd/xdp_util.h"

/*
 * Why generic mode: the XDP program is not multi-buffer aware, so native
 * mode never gives it more than a page, and test_run gives it at most a
 * page of linear data; generic (skb) mode linearizes every frame for it,
 * whatever the MTU, and that is how coopd runs on links with jumbo frames
 * (xdp_mode = auto falls back to it when the driver refuses native XDP at
 * that MTU). So: a network namespace of this process, a veth pair with
 * MTU 65,535, coop_xdp on xj0 in generic mode, frames written to and read
 * from xj1 with a packet socket. Expected output bytes come from
 * tests/unit/fwd/xdp_util.h's independent builders (RFC 1071 checksums
 * byte by byte).
 *
 * Before the checksum was a loop of 512-byte blocks (fwd/bpf/xdp_csum.h),
 * any inner packet over 4,095 bytes was dropped (drop_adjust) whenever
 * the outer UDP checksum was computed: always over IPv6, with
 * COOP_XDP_CFG_UDP_CSUM4 over IPv4.
 */

#define GUE_PORT 6080
#define XDP_TX_ 3
#define XDP_DROP_ 1

struct jenv {
	struct xu_env x;            /* loaded object */
	struct coop_xdp_config cfg; /* as written */
	struct coop_xdp_node nodes[4]; /* 0 us, 1 IPv4, 3 IPv6 */
	int ifindex;                /* xj0: the program's */
	int peer;                   /* xj1 */
	int sock;                   /* packet socket on xj1 */
};

static uint32_t a_self4, a_node1, a_vip4, a_client4;
static uint32_t a_self6[4], a_node3[4], a_vip6[4], a_client6[4];
static struct xu_pkt in, want, got; /* 64 KB each: not on the stack */

static int sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		print_error("'%s': exit %d\n", cmd, rc);
	return rc;
}

static void vip(struct jenv *e, int family, const uint32_t *a, uint16_t port, uint8_t proto)
{
	struct coop_xdp_vip_key k = { .port = htons(port), .proto = proto, .family = family };
	struct coop_xdp_vip v = { .service = 0 };
	uint32_t b[4] = { 0 }, bit;

	memcpy(k.addr, a, family == 6 ? 16 : 4);
	memcpy(b, a, family == 6 ? 16 : 4);
	assert_int_equal(xu_vip_put(&e->x, &k, &v), 0);
	bit = coop_xdp_vip_bit(b);
	e->cfg.vip_filter[bit / 64] |= 1ull << (bit % 64);
}

/* Every flow to node id: a table of that node alone, and no flow cached
 * (the rows reuse one flow). */
static void owner(struct jenv *e, uint32_t id)
{
	struct coop_fwd_maglev_config mc = { .m = 1009, .mode = COOP_FWD_MODE_MAGLEV };
	struct coop_fwd_backend b = { .key = "n", .keylen = 1, .id = id, .weight = 1 };
	struct coop_fwd_maglev *t = NULL;
	char err[256];

	if (coop_fwd_maglev_build(&mc, &b, 1, &t, err, sizeof(err)))
		fail_msg("table: %s", err);
	assert_int_equal(xu_table_publish(&e->x, 0, t), 0);
	coop_fwd_maglev_free(t);
	xu_map_clear(e->x.flows, sizeof(struct coop_fwd_tuple));
}

static int setup(void **state)
{
	struct sockaddr_ll sl = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct timeval tv = { .tv_sec = 2 };
	int rcvbuf = 8 << 20, one = 1, i;
	char path[PATH_MAX + 64], err[512];
	struct jenv *e;
	uint32_t zero = 0;

	*state = NULL;
	if (geteuid() != 0) {
		print_message("not root: no network namespace, no BPF; test skipped\n");
		return 0;
	}
	if (unshare(CLONE_NEWNET)) {
		print_message("no network namespace (%s); test skipped\n", strerror(errno));
		return 0;
	}
	if (sh("ip link add xj0 type veth peer name xj1") ||
	    sh("ip link set xj0 address 02:c0:00:00:00:aa mtu 65535 up") ||
	    sh("ip link set xj1 address 02:c0:00:00:00:01 mtu 65535 up") ||
	    sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1"))
		return -1;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -1;
	xu_object_path(path, sizeof(path), "COOP_XDP_BPF_OBJ", "coop_xdp.bpf.o", 4);
	if (xu_env_open(&e->x, path, err, sizeof(err))) {
		print_error("%s\n", err);
		return -1;
	}
	inet_pton(AF_INET, "198.18.0.10", &a_self4);
	inet_pton(AF_INET, "198.18.0.11", &a_node1);
	inet_pton(AF_INET, "198.19.0.1", &a_vip4);
	inet_pton(AF_INET, "198.18.200.1", &a_client4);
	inet_pton(AF_INET6, "2001:db8::10", a_self6);
	inet_pton(AF_INET6, "2001:db8::13", a_node3);
	inet_pton(AF_INET6, "2001:db8:f::1", a_vip6);
	inet_pton(AF_INET6, "2001:db8:c::1", a_client6);

	e->cfg.flags = COOP_XDP_CFG_ENABLED | COOP_XDP_CFG_VIP_FILTER | COOP_XDP_CFG_VIP_SLOTS |
		       COOP_XDP_CFG_PEERS | COOP_XDP_CFG_UDP_CSUM4;
	e->cfg.encap = COOP_XDP_ENCAP_GUE;
	e->cfg.gue_port = htons(GUE_PORT);
	e->cfg.mtu = 65535;
	e->cfg.src4 = a_self4;
	memcpy(e->cfg.src6, a_self6, 16);
	e->cfg.udp_idle_ns = 30000000000ull;
	e->cfg.frag_timeout_ns = 30000000000ull;
	vip(e, 4, &a_vip4, 53, 17);
	vip(e, 4, &a_vip4, 0, 17);
	vip(e, 6, a_vip6, 53, 17);
	vip(e, 6, a_vip6, 0, 17);
	assert_int_equal(bpf_map_update_elem(e->x.config, &zero, &e->cfg, BPF_ANY), 0);
	for (i = 0; i < 4; i++) {
		struct coop_xdp_node *n = &e->nodes[i];
		uint32_t id = (uint32_t)i;

		if (i == 2)
			continue;
		n->family = i == 3 ? 6 : 4;
		if (i == 3)
			memcpy(n->addr, a_node3, 16);
		else
			n->addr[0] = i ? a_node1 : a_self4;
		n->state = COOP_FWD_STATE_ACTIVE;
		n->flags = COOP_XDP_NODE_RESOLVED;
		n->dmac[0] = 0x02;
		n->dmac[5] = (uint8_t)(0x10 + i);
		memcpy(n->smac, xu_mac_self, 6);
		assert_int_equal(bpf_map_update_elem(e->x.nodes, &id, n, BPF_ANY), 0);
	}
	e->ifindex = (int)if_nametoindex("xj0");
	e->peer = (int)if_nametoindex("xj1");
	if (bpf_xdp_attach(e->ifindex, e->x.prog, XDP_FLAGS_SKB_MODE, NULL)) {
		print_error("cannot attach in generic mode: %s\n", strerror(errno));
		return -1;
	}
	e->sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	sl.sll_ifindex = e->peer;
	if (e->sock < 0 || bind(e->sock, (struct sockaddr *)&sl, sizeof(sl)) ||
	    setsockopt(e->sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) ||
	    setsockopt(e->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(e->sock, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one))) {
		print_error("packet socket on xj1: %s\n", strerror(errno));
		return -1;
	}
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct jenv *e = *state;

	if (!e)
		return 0;
	bpf_xdp_detach(e->ifindex, XDP_FLAGS_SKB_MODE, NULL);
	close(e->sock);
	xu_env_close(&e->x);
	free(e);
	return 0;
}

/*
 * Send in through xj1; unless verdict is a drop, the first frame back on
 * xj1 must be want, byte for byte. The verdict counter must move by one,
 * no other.
 */
static void run(struct jenv *e, const char *desc, const struct xu_pkt *p, int verdict,
		uint32_t counter, const struct xu_pkt *w)
{
	uint64_t before[COOP_XDP_CNT_MAX], after[COOP_XDP_CNT_MAX];
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = e->peer, .sll_halen = 6 };
	uint32_t id;
	ssize_t n;

	assert_int_equal(xu_counters(&e->x, before), 0);
	if (sendto(e->sock, p->b, p->len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)p->len)
		fail_msg("%s: cannot send %zu bytes: %s", desc, p->len, strerror(errno));
	if (verdict == XDP_TX_) {
		for (;;) {
			n = recv(e->sock, got.b, sizeof(got.b), 0);
			if (n < 0) {
				xu_counters(&e->x, after);
				for (id = 0; id < COOP_XDP_CNT_FLOW_HIT; id++)
					if (after[id] != before[id])
						print_error("  %s +%lu\n", coop_xdp_counter_name(id),
							    (unsigned long)(after[id] - before[id]));
				fail_msg("%s: nothing came back (%s)", desc, strerror(errno));
			}
			/* anything else the kernel sends on the link is not ours */
			if ((size_t)n >= 14 && !memcmp(got.b, w->b, 12))
				break;
		}
		got.len = (size_t)n;
		if (got.len != w->len || memcmp(got.b, w->b, got.len)) {
			size_t i, m = got.len < w->len ? got.len : w->len;

			for (i = 0; i < m && got.b[i] == w->b[i]; i++)
				;
			fail_msg("%s: %zu bytes back, want %zu; first difference at byte %zu", desc,
				 got.len, w->len, i);
		}
	} else {
		usleep(100000);
	}
	assert_int_equal(xu_counters(&e->x, after), 0);
	for (id = 0; id < COOP_XDP_CNT_FLOW_HIT; id++) {
		uint64_t d = after[id] - before[id];

		if (id == counter && d != 1)
			fail_msg("%s: %s +%lu, want +1", desc, coop_xdp_counter_name(id),
				 (unsigned long)d);
		if (id != counter && d)
			fail_msg("%s: %s +%lu, want 0", desc, coop_xdp_counter_name(id),
				 (unsigned long)d);
	}
}

/* A UDP datagram of an inner IP packet of ip_len bytes to the VIP. */
static void udp_to_vip(struct xu_pkt *p, int family, size_t ip_len, bool df)
{
	struct xu_spec s = { .family = family, .proto = 17, .sport = 40000, .dport = 53, .df = df,
			     .ip_id = 0x77 };

	if (family == 4) {
		s.src[0] = a_client4;
		s.dst[0] = a_vip4;
		s.payload = ip_len - 28;
	} else {
		memcpy(s.src, a_client6, 16);
		memcpy(s.dst, a_vip6, 16);
		s.payload = ip_len - 48;
	}
	xu_build(p, &s);
}

/* The expected GUE packet to node id for flow hash of p. */
static void gue_to(struct jenv *e, struct xu_pkt *w, const struct xu_pkt *p, uint32_t id)
{
	const struct coop_xdp_node *n = &e->nodes[id];
	struct coop_fwd_tuple t;
	const uint8_t *ip = p->b + p->l3;
	uint32_t h;
	struct xu_outer o = { .family = n->family, .csum = true, .dmac = n->dmac, .smac = n->smac,
			      .dport = GUE_PORT };

	if ((ip[0] >> 4) == 4)
		coop_fwd_tuple_v4(&t, *(uint32_t *)(ip + 12), *(uint32_t *)(ip + 16),
				  *(uint16_t *)(ip + 20), *(uint16_t *)(ip + 22), ip[9]);
	else
		coop_fwd_tuple_v6(&t, (const __be32 *)(ip + 8), (const __be32 *)(ip + 24),
				  *(uint16_t *)(ip + 40), *(uint16_t *)(ip + 42), ip[6]);
	h = coop_fwd_hash(&t);
	o.sport = (uint16_t)(0xc000 | ((h ^ (h >> 16)) & 0x3fff));
	o.flowlabel = h & 0xfffff;
	if (n->family == 4) {
		o.src[0] = e->cfg.src4;
		o.dst[0] = n->addr[0];
	} else {
		memcpy(o.src, e->cfg.src6, 16);
		memcpy(o.dst, n->addr, 16);
	}
	xu_encap(w, p, &o);
}

/* Packets past 4,095 bytes are encapsulated with their UDP checksum. */
static void test_jumbo_encap(void **state)
{
	static const struct {
		const char *desc;
		int family;       /* of the inner packet */
		size_t len;       /* its length */
		uint32_t node;    /* 1: outer IPv4 (UDP checksum configured), 3: outer IPv6 */
	} rows[] = {
		{ "IPv4, 4,096-byte inner packet, GUE/IPv4 with UDP checksum", 4, 4096, 1 },
		{ "IPv4, 9,000-byte inner packet (jumbo frame)", 4, 9000, 1 },
		{ "IPv4, 9,001 bytes: the odd byte", 4, 9001, 1 },
		{ "IPv6, 9,000 bytes, GUE/IPv6 (checksum always)", 6, 9000, 3 },
		{ "IPv4, 16,411 bytes over IPv6", 4, 16411, 3 },
		{ "IPv6, the longest inner packet (COOP_XDP_INNER_MAX) over IPv6", 6,
		  COOP_XDP_INNER_MAX, 3 },
		{ "IPv4, the longest inner packet over IPv4", 4, COOP_XDP_INNER_MAX, 1 },
	};
	struct jenv *e = *state;
	size_t i;

	if (!e)
		skip();
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		owner(e, rows[i].node);
		udp_to_vip(&in, rows[i].family, rows[i].len, true);
		gue_to(e, &want, &in, rows[i].node);
		run(e, rows[i].desc, &in, XDP_TX_, COOP_XDP_CNT_TX_ENCAP, &want);
	}
}

/* One byte more than the checksum reaches: too big, answered as the MTU
 * would be (the size reported is what fits), never dropped silently. */
static void test_jumbo_too_big(void **state)
{
	struct jenv *e = *state;

	if (!e)
		skip();
	owner(e, 1);
	udp_to_vip(&in, 4, COOP_XDP_INNER_MAX + 1, true);
	xu_icmp_too_big(&want, &in, COOP_XDP_INNER_MAX);
	run(e, "IPv4 DF, one byte over COOP_XDP_INNER_MAX: frag needed", &in, XDP_TX_,
	    COOP_XDP_CNT_TX_ICMP4_FRAG_NEEDED, &want);
	udp_to_vip(&in, 4, COOP_XDP_INNER_MAX + 1, false);
	run(e, "IPv4 without DF, one byte over: dropped, counted", &in, XDP_DROP_,
	    COOP_XDP_CNT_DROP_MTU_NODF, NULL);
	owner(e, 3);
	udp_to_vip(&in, 6, COOP_XDP_INNER_MAX + 1, true);
	xu_icmp_too_big(&want, &in, COOP_XDP_INNER_MAX);
	run(e, "IPv6, one byte over: packet too big", &in, XDP_TX_, COOP_XDP_CNT_TX_ICMP6_TOO_BIG,
	    &want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jumbo_encap),
		cmocka_unit_test(test_jumbo_too_big),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
