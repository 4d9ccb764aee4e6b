/* xdp_test.c - packet fixtures through coop_xdp.bpf.o with bpf_prog_test_run: {input, verdict, output bytes, counter} tables for local delivery, encapsulation, decapsulation, flow cache, fragments, VLAN, IPv6, malformed input and MTU. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "tests/unit/fwd/xdp_util.h"

/*
 * The cluster of the fixtures: node 0 is this node, nodes 1 and 2 have IPv4
 * cluster addresses (2 behind VLAN 7), node 3 an IPv6 one; node 4 joins in
 * the flow-cache cases. Service 0 serves the VIPs. Tables come from the
 * userspace core (coop_fwd_maglev_build) and every expected owner from its
 * lookup, so the fixtures also prove that userspace and BPF agree. Expected
 * output bytes are built by tests/unit/fwd/xdp_util.h from the wire format
 * (RFC 1071 checksums byte by byte), not by the BPF code's helpers.
 */

#define NODES 5
#define M_TEST 1009u
#define GUE_PORT 6080
#define XDP_DROP_ 1
#define XDP_PASS_ 2
#define XDP_TX_ 3
#define XDP_REDIRECT_ 4
#define EV_MAX 4

struct tenv {
	struct xu_env x;                        /* loaded object */
	struct coop_fwd_maglev *t;              /* current table of service 0 */
	struct coop_xdp_config cfg;             /* as last written */
	struct coop_xdp_node nodes[NODES];      /* as last written */
	uint32_t weight[NODES];                 /* weights of the current table */
	bool member[NODES];                     /* in the current backend set */
};

/* One fixture row. */
struct xcase {
	const char *desc;       /* what it shows */
	struct xu_pkt in;       /* input frame */
	uint32_t verdict;       /* expected XDP action */
	bool same;              /* expected output = input */
	struct xu_pkt out;      /* expected output frame, when !same */
	uint32_t counter;       /* verdict counter that must bump (and no other) */
	uint32_t ev[EV_MAX];    /* event counters that must bump by one; 0 ends */
};

/* Addresses of the fixtures (network order), set in setup. */
static uint32_t a_vip4, a_vip4_any, a_self4, a_node4[NODES], a_client4, a_other4;
static uint32_t a_vip6[4], a_self6[4], a_node6[4], a_client6[4];

static void addr6(uint32_t *a, const char *s)
{
	assert_int_equal(inet_pton(AF_INET6, s, a), 1);
}

static uint32_t addr4(const char *s)
{
	uint32_t a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

/* --- maps ------------------------------------------------------------------------ */

static void write_cfg(struct tenv *e)
{
	uint32_t zero = 0;

	assert_int_equal(bpf_map_update_elem(e->x.config, &zero, &e->cfg, BPF_ANY), 0);
}

/* Node id as last set in e->nodes, and its address as a tunnel peer (as
 * coopd writes them). */
static void write_node(struct tenv *e, uint32_t id)
{
	struct coop_xdp_peer_key k = { .family = e->nodes[id].family };

	memcpy(k.addr, e->nodes[id].addr, sizeof(k.addr));
	assert_int_equal(bpf_map_update_elem(e->x.nodes, &id, &e->nodes[id], BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(e->x.peers, &k, &id, BPF_ANY), 0);
}

/* A table built from member[] and weight[]. */
static struct coop_fwd_maglev *build(struct tenv *e, enum coop_fwd_mode mode)
{
	struct coop_fwd_maglev_config mc = { .m = M_TEST, .mode = mode };
	struct coop_fwd_backend b[NODES];
	struct coop_fwd_maglev *t = NULL;
	char names[NODES][4], err[256];
	size_t n = 0;
	uint32_t i;

	for (i = 0; i < NODES; i++) {
		if (!e->member[i])
			continue;
		snprintf(names[i], sizeof(names[i]), "n%u", i);
		b[n].key = names[i];
		b[n].keylen = strlen(names[i]);
		b[n].id = i;
		b[n].weight = e->weight[i];
		n++;
	}
	if (coop_fwd_maglev_build(&mc, b, n, &t, err, sizeof(err)))
		fail_msg("build: %s", err);
	return t;
}

/* Build service 0's table and publish it. */
static void publish(struct tenv *e, enum coop_fwd_mode mode)
{
	coop_fwd_maglev_free(e->t);
	e->t = build(e, mode);
	assert_int_equal(xu_table_publish(&e->x, 0, e->t), 0);
}

static void vip_add(struct tenv *e, int family, const uint32_t *addr, uint16_t port, uint8_t proto,
		    uint32_t flags)
{
	struct coop_xdp_vip_key k = { .port = htons(port), .proto = proto, .family = family };
	struct coop_xdp_vip v = { .service = 0, .flags = flags };

	memcpy(k.addr, addr, family == 6 ? 16 : 4);
	assert_int_equal(xu_vip_put(&e->x, &k, &v), 0);
}

/* Set addr's bit in the VIP address filter of e->cfg (not written). */
static void filter_add(struct tenv *e, int family, const uint32_t *addr)
{
	uint32_t a[4] = { 0, 0, 0, 0 }, bit;

	memcpy(a, addr, family == 6 ? 16 : 4);
	bit = coop_xdp_vip_bit(a);
	e->cfg.vip_filter[bit / 64] |= 1ull << (bit % 64);
}

/* As coopd configures it: the VIP address filter holds every VIP address,
 * the VIP slots every entry (vip_add), tunnels only from nodes. */
static void default_cfg(struct tenv *e)
{
	memset(&e->cfg, 0, sizeof(e->cfg));
	e->cfg.self_id = 0;
	e->cfg.flags = COOP_XDP_CFG_ENABLED | COOP_XDP_CFG_ANY_PORT | COOP_XDP_CFG_VIP_FILTER |
		       COOP_XDP_CFG_VIP_SLOTS | COOP_XDP_CFG_PEERS;
	filter_add(e, 4, &a_vip4);
	filter_add(e, 4, &a_vip4_any);
	filter_add(e, 6, a_vip6);
	e->cfg.encap = COOP_XDP_ENCAP_GUE;
	e->cfg.gue_port = htons(GUE_PORT);
	e->cfg.mtu = 1500;
	e->cfg.src4 = a_self4;
	memcpy(e->cfg.src6, a_self6, 16);
	e->cfg.udp_idle_ns = 30000000000ull;
	e->cfg.frag_timeout_ns = 30000000000ull;
	write_cfg(e);
}

/* Nodes 0-3 active with weight 1, node 4 known to nobody; flows cleared. */
static void reset(struct tenv *e)
{
	uint32_t i;

	default_cfg(e);
	for (i = 0; i < NODES; i++) {
		struct coop_xdp_node *n = &e->nodes[i];

		memset(n, 0, sizeof(*n));
		n->family = i == 3 ? 6 : 4;
		if (i == 3)
			memcpy(n->addr, a_node6, 16);
		else
			n->addr[0] = a_node4[i];
		n->state = i < 4 ? COOP_FWD_STATE_ACTIVE : COOP_FWD_STATE_ABSENT;
		n->flags = COOP_XDP_NODE_RESOLVED | (i == 0 ? COOP_XDP_NODE_SELF : 0);
		n->dmac[0] = 0x02;
		n->dmac[5] = (uint8_t)(0x10 + i);
		memcpy(n->smac, xu_mac_self, 6);
		n->vlan = i == 2 ? 7 : 0;
		write_node(e, i);
		e->member[i] = i < 4;
		e->weight[i] = 1;
	}
	/* this node sends over both families here (src4 and src6): its IPv6
	 * source is a node address too */
	{
		struct coop_xdp_peer_key k = { .family = 6 };
		uint32_t id = 0;

		memcpy(k.addr, a_self6, 16);
		assert_int_equal(bpf_map_update_elem(e->x.peers, &k, &id, BPF_ANY), 0);
	}
	publish(e, COOP_FWD_MODE_MAGLEV);
	xu_map_clear(e->x.flows, sizeof(struct coop_fwd_tuple));
	xu_map_clear(e->x.frags, sizeof(struct coop_fwd_frag_key));
}

/* --- flows ------------------------------------------------------------------------ */

/* A TCP (or proto) flow from the client to VIP:port. */
static struct xu_spec flow4(uint8_t proto, uint16_t dport)
{
	struct xu_spec s = { .family = 4, .proto = proto, .sport = 40000, .dport = dport,
			     .tcp_flags = 0x10, .payload = 32, .df = true, .ip_id = 0x77 };

	s.src[0] = a_client4;
	s.dst[0] = a_vip4;
	return s;
}

static struct xu_spec flow6(uint8_t proto, uint16_t dport)
{
	struct xu_spec s = { .family = 6, .proto = proto, .sport = 40000, .dport = dport,
			     .tcp_flags = 0x10, .payload = 32 };

	memcpy(s.src, a_client6, 16);
	memcpy(s.dst, a_vip6, 16);
	return s;
}

static uint32_t owner_of(struct tenv *e, const struct xu_spec *s)
{
	struct coop_fwd_tuple t;

	xu_tuple(&t, s);
	return coop_fwd_maglev_lookup(e->t, coop_fwd_hash(&t));
}

static uint32_t hash_of(const struct xu_spec *s)
{
	struct coop_fwd_tuple t;

	xu_tuple(&t, s);
	return s->frag ? coop_fwd_frag_hash(&t) : coop_fwd_hash(&t);
}

/* Move s->sport until the current table gives the flow to owner. */
static void find_owner(struct tenv *e, struct xu_spec *s, uint32_t owner)
{
	int i;

	for (i = 0; i < 60000; i++, s->sport++)
		if (owner_of(e, s) == owner)
			return;
	fail_msg("no flow for node %u", owner);
}

/* Move the source address until the datagram's fragment owner (3-tuple)
 * is fowner, keeping a 5-tuple owner of owner (UINT32_MAX: any). */
static void find_frag(struct tenv *e, struct xu_spec *s, uint32_t fowner, uint32_t owner)
{
	struct coop_fwd_tuple t;
	int i;

	for (i = 0; i < 60000; i++) {
		int family = s->family, frag = s->frag;

		if (family == 4)
			s->src[0] = htonl(ntohl(a_client4) + (uint32_t)i);
		else
			s->src[3] = htonl(ntohl(a_client6[3]) + (uint32_t)i);
		xu_tuple(&t, s);
		if (coop_fwd_maglev_lookup(e->t, coop_fwd_frag_hash(&t)) != fowner)
			continue;
		if (owner == UINT32_MAX)
			return;
		s->frag = 0;
		if (owner_of(e, s) == owner) {
			s->frag = frag;
			return;
		}
		s->frag = frag;
	}
	fail_msg("no datagram for fragment owner %u / owner %u", fowner, owner);
}

/* The independent expectation of an encapsulation to owner. */
static void expect_encap(struct tenv *e, struct xu_pkt *out, const struct xu_pkt *in,
			 uint32_t owner, uint32_t hash, bool steer)
{
	const struct coop_xdp_node *n = &e->nodes[owner];
	struct xu_outer o = {
		.family = n->family,
		.ipip = !steer && e->cfg.encap == COOP_XDP_ENCAP_IPIP,
		.steer = steer,
		.csum = (e->cfg.flags & COOP_XDP_CFG_UDP_CSUM4) != 0,
		.dmac = n->dmac,
		.smac = n->smac,
		.vlan = n->vlan,
		/* documented: 0xc000 | 14 bits of the hash folded to 16 */
		.sport = (uint16_t)(0xc000 | ((hash ^ (hash >> 16)) & 0x3fff)),
		.dport = GUE_PORT,
		.flowlabel = hash & 0xfffff,
	};

	if (n->family == 4) {
		o.src[0] = e->cfg.src4;
		o.dst[0] = n->addr[0];
	} else {
		memcpy(o.src, e->cfg.src6, 16);
		memcpy(o.dst, n->addr, 16);
	}
	xu_encap(out, in, &o);
}

/* --- running fixtures ---------------------------------------------------------------- */

static bool verdict_counter(uint32_t id)
{
	return id < COOP_XDP_CNT_FLOW_HIT;
}

/*
 * Checksums of an output frame, recomputed over the wire bytes: IPv4
 * header, UDP (when not zero), ICMP/ICMPv6. Independent of both builders.
 */
static void check_wire(const struct xu_pkt *p, const char *desc)
{
	size_t l3 = (p->b[12] == 0x81 && p->b[13] == 0x00) ? 18 : 14, l4, len;
	uint16_t type = (uint16_t)(p->b[l3 - 2] << 8 | p->b[l3 - 1]);
	const uint8_t *ip = p->b + l3;
	uint32_t src[4] = { 0 }, dst[4] = { 0 };
	uint8_t proto;
	int family;

	if (type == 0x0800) {
		size_t hl = (ip[0] & 15) * 4u;

		if (xu_fold(xu_sum(ip, hl, 0)) != 0)
			fail_msg("%s: bad IPv4 header checksum", desc);
		family = 4;
		proto = ip[9];
		len = (size_t)(ip[2] << 8 | ip[3]) - hl;
		l4 = l3 + hl;
		memcpy(src, ip + 12, 4);
		memcpy(dst, ip + 16, 4);
		if ((ip[6] & 0x3f) || ip[7])
			return; /* a fragment: no L4 checksum over it alone */
	} else if (type == 0x86dd) {
		family = 6;
		proto = ip[6];
		len = (size_t)(ip[4] << 8 | ip[5]);
		l4 = l3 + 40;
		memcpy(src, ip + 8, 16);
		memcpy(dst, ip + 24, 16);
	} else {
		return;
	}
	if (proto == 17 && (p->b[l4 + 6] | p->b[l4 + 7]) &&
	    xu_fold(xu_sum(p->b + l4, len, xu_pseudo(family, src, dst, len, 17))) != 0)
		fail_msg("%s: bad UDP checksum", desc);
	if (proto == 17 && family == 6 && !(p->b[l4 + 6] | p->b[l4 + 7]))
		fail_msg("%s: zero UDP checksum over IPv6", desc);
	if (proto == 1 && xu_fold(xu_sum(p->b + l4, len, 0)) != 0)
		fail_msg("%s: bad ICMP checksum", desc);
	if (proto == 58 && xu_fold(xu_sum(p->b + l4, len, xu_pseudo(6, src, dst, len, 58))) != 0)
		fail_msg("%s: bad ICMPv6 checksum", desc);
}

static void hexdiff(const char *desc, const uint8_t *got, size_t glen, const uint8_t *want,
		    size_t wlen)
{
	size_t i, n = glen < wlen ? glen : wlen;

	for (i = 0; i < n && got[i] == want[i]; i++)
		;
	print_error("%s: output differs at byte %zu (got %zu bytes, want %zu)\n", desc, i, glen,
		    wlen);
	for (n = i > 8 ? i - 8 : 0; n < i + 16 && (n < glen || n < wlen); n++)
		print_error("  %4zu: got %02x want %02x%s\n", n, n < glen ? got[n] : 0,
			    n < wlen ? want[n] : 0, n == i ? "  <--" : "");
}

/* Run one row: verdict, output bytes, exactly one verdict counter, events. */
static void run_case(struct tenv *e, const struct xcase *c)
{
	uint64_t before[COOP_XDP_CNT_MAX], after[COOP_XDP_CNT_MAX];
	struct xu_pkt got;
	const struct xu_pkt *want = c->same ? &c->in : &c->out;
	uint32_t retval = 0, id;
	size_t outlen = sizeof(got.b);
	int i;

	assert_int_equal(xu_counters(&e->x, before), 0);
	assert_int_equal(xu_run(e->x.prog, c->in.b, c->in.len, got.b, &outlen, &retval), 0);
	assert_int_equal(xu_counters(&e->x, after), 0);
	got.len = outlen;
	if (retval != c->verdict)
		fail_msg("%s: verdict %u, want %u", c->desc, retval, c->verdict);
	for (id = 0; id < COOP_XDP_CNT_MAX; id++) {
		uint64_t d = after[id] - before[id];
		bool ev = false;

		for (i = 0; i < EV_MAX && c->ev[i]; i++)
			ev |= c->ev[i] == id;
		if (id == c->counter && d != 1)
			fail_msg("%s: counter %s +%lu, want +1", c->desc, coop_xdp_counter_name(id),
				 (unsigned long)d);
		if (id != c->counter && verdict_counter(id) && d)
			fail_msg("%s: counter %s +%lu, want 0", c->desc, coop_xdp_counter_name(id),
				 (unsigned long)d);
		if (ev && d != 1)
			fail_msg("%s: event %s +%lu, want +1", c->desc, coop_xdp_counter_name(id),
				 (unsigned long)d);
	}
	if (c->verdict == XDP_DROP_)
		return;
	if (got.len != want->len || memcmp(got.b, want->b, got.len)) {
		hexdiff(c->desc, got.b, got.len, want->b, want->len);
		fail_msg("%s: output bytes differ", c->desc);
	}
	if (!c->same)
		check_wire(&got, c->desc);
}

static void run_table(struct tenv *e, const struct xcase *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		run_case(e, &cases[i]);
}

/* Row helpers. */
static struct xcase row_same(const char *desc, const struct xu_spec *s, uint32_t verdict,
			     uint32_t counter)
{
	struct xcase c = { .desc = desc, .verdict = verdict, .same = true, .counter = counter };

	xu_build(&c.in, s);
	return c;
}

static struct xcase row_encap(struct tenv *e, const char *desc, const struct xu_spec *s,
			      uint32_t owner, bool steer, uint32_t counter)
{
	struct xcase c = { .desc = desc, .verdict = XDP_TX_, .counter = counter };

	xu_build(&c.in, s);
	expect_encap(e, &c.out, &c.in, owner, hash_of(s), steer);
	return c;
}

/* --- setup ------------------------------------------------------------------------ */

static int setup(void **state)
{
	struct tenv *e;
	char path[PATH_MAX + 64], err[512];
	uint32_t i;

	if (geteuid() != 0) {
		print_message("not root: BPF programs cannot be loaded; test skipped\n");
		*state = NULL;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -1;
	xu_object_path(path, sizeof(path), "COOP_XDP_BPF_OBJ", "coop_xdp.bpf.o", 4);
	if (xu_env_open(&e->x, path, err, sizeof(err))) {
		print_error("%s\n", err);
		free(e);
		return -1;
	}
	a_vip4 = addr4("198.19.0.1");
	a_vip4_any = addr4("198.19.0.2");
	a_self4 = addr4("198.18.0.10");
	for (i = 0; i < NODES; i++)
		a_node4[i] = htonl(ntohl(a_self4) + i);
	a_client4 = addr4("198.18.200.1");
	a_other4 = addr4("198.18.9.9");
	addr6(a_vip6, "2001:db8:f::1");
	addr6(a_self6, "2001:db8::10");
	addr6(a_node6, "2001:db8::13");
	addr6(a_client6, "2001:db8:c::1");
	/* VIPs: TCP 80 and UDP 53 on both, port-0 entries for fragments, and
	 * an all-ports TCP VIP */
	vip_add(e, 4, &a_vip4, 80, 6, 0);
	vip_add(e, 4, &a_vip4, 53, 17, 0);
	vip_add(e, 4, &a_vip4, 0, 6, 0);
	vip_add(e, 4, &a_vip4, 0, 17, 0);
	vip_add(e, 4, &a_vip4_any, 0, 6, COOP_XDP_VIP_ALL_PORTS);
	vip_add(e, 6, a_vip6, 443, 6, 0);
	vip_add(e, 6, a_vip6, 53, 17, 0);
	vip_add(e, 6, a_vip6, 0, 6, 0);
	vip_add(e, 6, a_vip6, 0, 17, 0);
	reset(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct tenv *e = *state;

	if (!e)
		return 0;
	coop_fwd_maglev_free(e->t);
	xu_env_close(&e->x);
	free(e);
	return 0;
}

static struct tenv *begin(void **state)
{
	struct tenv *e = *state;

	if (!e)
		skip();
	reset(e);
	return e;
}

/* --- the fixtures ---------------------------------------------------------------- */

/* Counter names: unique, present for every id (show fwd prints them). */
static void test_counter_names(void **state)
{
	uint32_t i, j;

	(void)state;
	for (i = 0; i < COOP_XDP_CNT_MAX; i++) {
		assert_non_null(coop_xdp_counter_name(i));
		assert_non_null(coop_xdp_counter_help(i));
		for (j = 0; j < i; j++)
			assert_string_not_equal(coop_xdp_counter_name(i), coop_xdp_counter_name(j));
	}
	assert_null(coop_xdp_counter_name(COOP_XDP_CNT_MAX));
}

/* Traffic that is not ours passes untouched. */
static void test_pass(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec tcp = flow4(6, 80), other = flow4(6, 80), icmp = flow4(1, 0),
		       port81 = flow4(6, 81), v6 = flow6(6, 80), udp = flow4(17, 80);
	struct xcase c[8];
	size_t n = 0;
	uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06 };

	other.dst[0] = a_other4;
	c[n++] = row_same("IPv4 TCP to a non-VIP address", &other, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	c[n++] = row_same("ICMP to the VIP (no ports)", &icmp, XDP_PASS_, COOP_XDP_CNT_PASS_NOT_VIP);
	c[n++] = row_same("TCP to a VIP port not served", &port81, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	c[n++] = row_same("UDP to the VIP's TCP-only port", &udp, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	c[n++] = row_same("IPv6 TCP to port 80 of the IPv6 VIP (only 443)", &v6, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	c[n] = (struct xcase){ .desc = "ARP", .verdict = XDP_PASS_, .same = true,
			       .counter = COOP_XDP_CNT_PASS_NOT_IP };
	memcpy(c[n].in.b, arp, sizeof(arp));
	c[n++].in.len = sizeof(arp);
	run_table(e, c, n);

	/* disabled: even a VIP packet owned elsewhere passes */
	find_owner(e, &tcp, 1);
	e->cfg.flags &= ~COOP_XDP_CFG_ENABLED;
	write_cfg(e);
	c[0] = row_same("forwarder disabled", &tcp, XDP_PASS_, COOP_XDP_CNT_PASS_DISABLED);
	run_table(e, c, 1);
}

/* The VIP address filter decides "no VIP" alone: an address whose bit is
 * clear passes untouched even if it is a VIP (so coopd must list them all);
 * a set bit only leads to the lookups. Without the filter every TCP/UDP
 * packet is looked up, with the same verdicts. */
static void test_vip_filter(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec vip = flow4(6, 80), twin = flow4(6, 80), other = flow4(6, 80);
	uint32_t bit = coop_xdp_vip_bit((uint32_t[4]){ a_vip4, 0, 0, 0 }), i, a[4] = { 0 };
	struct xcase c[6];
	size_t n = 0;

	/* a non-VIP address sharing the VIP's bit, and one whose bit is clear */
	twin.dst[0] = other.dst[0] = 0;
	for (i = 0; i < 65536 && !twin.dst[0]; i++) {
		a[0] = htonl(ntohl(addr4("198.18.64.0")) + i);
		if (coop_xdp_vip_bit(a) == bit)
			twin.dst[0] = a[0];
	}
	for (i = 0; i < 65536 && !other.dst[0]; i++) {
		a[0] = htonl(ntohl(addr4("198.18.64.0")) + i);
		if (!(e->cfg.vip_filter[coop_xdp_vip_bit(a) / 64] & 1ull << (coop_xdp_vip_bit(a) % 64)))
			other.dst[0] = a[0];
	}
	assert_true(twin.dst[0] && other.dst[0]);
	find_owner(e, &vip, 1);
	c[n] = row_encap(e, "filter: VIP flow, its bit set", &vip, 1, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_MISS;
	c[n] = row_encap(e, "filter: same flow, cache hit", &vip, 1, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_HIT;
	c[n++] = row_same("filter: non-VIP address sharing the VIP's bit", &twin, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	c[n++] = row_same("filter: non-VIP address, bit clear", &other, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	run_table(e, c, n);

	/* the VIP's bit missing: even its cached flow passes as no VIP */
	e->cfg.vip_filter[bit / 64] &= ~(1ull << (bit % 64));
	write_cfg(e);
	c[0] = row_same("filter without the VIP's bit: passes", &vip, XDP_PASS_,
			COOP_XDP_CNT_PASS_NOT_VIP);
	run_table(e, c, 1);

	/* no filter: the cached flow is found, non-VIPs pass after lookups */
	e->cfg.flags &= ~COOP_XDP_CFG_VIP_FILTER;
	write_cfg(e);
	n = 0;
	c[n] = row_encap(e, "no filter: cache hit", &vip, 1, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_HIT;
	c[n++] = row_same("no filter: non-VIP address", &other, XDP_PASS_, COOP_XDP_CNT_PASS_NOT_VIP);
	c[n++] = row_same("no filter: non-VIP address sharing the VIP's bit", &twin, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	run_table(e, c, n);
}

/* VIP key of a TCP flow to the IPv4 VIP at port. */
static struct coop_xdp_vip_key vip4_key(uint16_t port)
{
	struct coop_xdp_vip_key k = { .port = htons(port), .proto = 6, .family = 4 };

	k.addr[0] = a_vip4;
	return k;
}

/* First port above from whose key falls in slot (and is not skip). */
static uint16_t port_in_slot(uint32_t slot, uint16_t from, uint16_t skip)
{
	uint32_t p;

	for (p = from; p < 65536; p++) {
		struct coop_xdp_vip_key k = vip4_key((uint16_t)p);

		if (p != skip && coop_xdp_vip_slot_of(&k) == slot)
			return (uint16_t)p;
	}
	fail_msg("no port falls in slot %u", slot);
	return 0;
}

/* The direct-mapped VIP table: a slot holding one entry answers alone (a
 * key that only shares its slot is no VIP); a slot shared by entries sends
 * the lookup to the hash map; without the slots every lookup goes there. */
static void test_vip_slots(void **state)
{
	struct tenv *e = begin(state);
	struct coop_xdp_vip_key k80 = vip4_key(80), kq;
	struct coop_xdp_vip_slot saved, now;
	uint32_t slot = coop_xdp_vip_slot_of(&k80);
	struct xu_spec vip = flow4(6, 80), q = flow4(6, 80), r = flow4(6, 80);
	struct xcase c[6];
	size_t n = 0;

	assert_int_equal(bpf_map_lookup_elem(e->x.vslots, &slot, &saved), 0);
	assert_int_equal(saved.state, COOP_XDP_SLOT_ONE);
	assert_true(coop_xdp_vip_key_eq(&saved.key, &k80));
	/* q, then r: ports that are no VIP and fall in port 80's slot */
	q.dport = port_in_slot(slot, 1000, 80);
	r.dport = port_in_slot(slot, q.dport + 1, 80);
	find_owner(e, &vip, 1);
	find_owner(e, &q, 2);
	c[n] = row_encap(e, "slot with one entry: the VIP", &vip, 1, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_MISS;
	c[n++] = row_same("slot with one entry: another port in it is no VIP", &q, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	run_table(e, c, n);

	/* q becomes a VIP too: the slot is shared */
	kq = vip4_key(q.dport);
	assert_int_equal(xu_vip_put(&e->x, &kq, &(struct coop_xdp_vip){ 0, 0 }), 0);
	assert_int_equal(bpf_map_lookup_elem(e->x.vslots, &slot, &now), 0);
	assert_int_equal(now.state, COOP_XDP_SLOT_SHARED);
	xu_map_clear(e->x.flows, sizeof(struct coop_fwd_tuple));
	n = 0;
	c[n] = row_encap(e, "shared slot: the first VIP, from the hash map", &vip, 1, false,
			 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_MISS;
	c[n] = row_encap(e, "shared slot: the second VIP", &q, 2, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_MISS;
	c[n++] = row_same("shared slot: a third port in it is no VIP", &r, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NOT_VIP);
	run_table(e, c, n);

	/* without the slots: the same answers from the hash map alone */
	e->cfg.flags &= ~COOP_XDP_CFG_VIP_SLOTS;
	write_cfg(e);
	xu_map_clear(e->x.flows, sizeof(struct coop_fwd_tuple));
	n = 0;
	c[n] = row_encap(e, "no slots: the VIP", &q, 2, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_MISS;
	c[n++] = row_same("no slots: a port that is no VIP", &r, XDP_PASS_, COOP_XDP_CNT_PASS_NOT_VIP);
	run_table(e, c, n);

	/* put the shared setup back */
	assert_int_equal(bpf_map_delete_elem(e->x.vips, &kq), 0);
	assert_int_equal(bpf_map_update_elem(e->x.vslots, &slot, &saved, BPF_ANY), 0);
}

/* An ICMP error (type, code, word: unused or MTU) from `from` to the
 * address the packet r came from, quoting q bytes of r's IP packet. */
static void icmp_error(struct xu_pkt *out, int family, const uint32_t *from, uint8_t type,
		       uint8_t code, uint32_t word, const struct xu_pkt *r, size_t q)
{
	const uint8_t *rip = r->b + r->l3;
	uint8_t h[40] = { 0 }, m[8] = { type, code, 0, 0, (uint8_t)(word >> 24),
					 (uint8_t)(word >> 16), (uint8_t)(word >> 8), (uint8_t)word };
	uint32_t to[4] = { 0 }, src[4] = { 0 };
	size_t icmp, len = 8 + q;
	uint16_t c;

	xu_eth(out, xu_mac_self, xu_mac_router, 0, family == 6 ? 0x86dd : 0x0800);
	if (family == 4) {
		memcpy(to, rip + 12, 4);
		src[0] = from[0];
		h[0] = 0x45;
		h[2] = (uint8_t)((20 + len) >> 8);
		h[3] = (uint8_t)(20 + len);
		h[8] = 64;
		h[9] = 1;
		memcpy(h + 12, from, 4);
		memcpy(h + 16, to, 4);
		c = xu_fold(xu_sum(h, 20, 0));
		h[10] = (uint8_t)(c >> 8);
		h[11] = (uint8_t)c;
		xu_put(out, h, 20);
	} else {
		memcpy(to, rip + 8, 16);
		memcpy(src, from, 16);
		h[0] = 0x60;
		h[4] = (uint8_t)(len >> 8);
		h[5] = (uint8_t)len;
		h[6] = 58;
		h[7] = 64;
		memcpy(h + 8, from, 16);
		memcpy(h + 24, to, 16);
		xu_put(out, h, 40);
	}
	icmp = out->len;
	xu_put(out, m, 8);
	xu_put(out, rip, q);
	c = xu_fold(xu_sum(out->b + icmp, len,
			   family == 6 ? xu_pseudo(6, src, to, len, 58) : 0));
	out->b[icmp + 2] = (uint8_t)(c >> 8);
	out->b[icmp + 3] = (uint8_t)c;
}

/* The reply of flow s: from the VIP to the client, ports swapped. */
static struct xu_spec reply_of(const struct xu_spec *s)
{
	struct xu_spec r = *s;

	memcpy(r.src, s->dst, sizeof(r.src));
	memcpy(r.dst, s->src, sizeof(r.dst));
	r.sport = s->dport;
	r.dport = s->sport;
	return r;
}

/* An ICMP error row about flow s, expected to reach owner (encapsulated,
 * or passed here when owner is us). */
static struct xcase row_icmp(struct tenv *e, const char *desc, const struct xu_spec *s,
			     uint8_t type, uint8_t code, uint32_t owner)
{
	/* from a router on the way back: 198.18.254.1, 2001:db8::fe:0:1 */
	uint32_t router6[4] = { htonl(0x20010db8), 0, htonl(0xfe), htonl(1) },
		 from[4] = { addr4("198.18.254.1") };
	struct xu_spec rs = reply_of(s);
	struct xu_pkt r;
	struct xcase c = { .desc = desc, .counter = COOP_XDP_CNT_TX_ENCAP,
			   .ev = { COOP_XDP_CNT_ICMP_VIP } };

	xu_build(&r, &rs);
	icmp_error(&c.in, s->family, s->family == 6 ? router6 : from, type, code, 1400, &r,
		   s->family == 6 ? r.len - r.l3 : 28);
	if (owner == 0) {
		c.verdict = XDP_PASS_;
		c.same = true;
		c.counter = COOP_XDP_CNT_PASS_LOCAL;
	} else {
		c.verdict = XDP_TX_;
		expect_encap(e, &c.out, &c.in, owner, hash_of(s), false);
	}
	return c;
}

/* ICMP errors about a VIP's packets go to the owner of the flow they
 * belong to; other ICMP passes. */
static void test_icmp(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec s1 = flow4(6, 80), s0 = flow4(6, 80), s2 = flow4(6, 80), u = flow4(17, 53),
		       v6 = flow6(6, 443), bad;
	struct coop_fwd_tuple t;
	struct coop_fwd_flow cached = { .backend = 2 };
	struct xu_pkt r;
	struct xcase c[12];
	size_t n = 0;

	find_owner(e, &s1, 1);
	find_owner(e, &s0, 0);
	find_owner(e, &s2, 1);
	s2.sport++;
	find_owner(e, &s2, 1);
	find_owner(e, &u, 3);
	find_owner(e, &v6, 3);
	/* s2 is cached on node 2 (as after a table change): the cache wins */
	xu_tuple(&t, &s2);
	assert_int_equal(bpf_map_update_elem(e->x.flows, &t, &cached, BPF_ANY), 0);

	c[n++] = row_icmp(e, "fragmentation needed about a reply of node 1's flow", &s1, 3, 4, 1);
	c[n++] = row_icmp(e, "fragmentation needed about our own flow: passed", &s0, 3, 4, 0);
	c[n++] = row_icmp(e, "host unreachable about a flow cached on node 2", &s2, 3, 1, 2);
	c[n++] = row_icmp(e, "time exceeded about a UDP flow of node 3", &u, 11, 0, 3);
	c[n++] = row_icmp(e, "IPv6 packet too big about node 3's flow", &v6, 2, 0, 3);
	c[n++] = row_icmp(e, "IPv6 destination unreachable about node 3's flow", &v6, 1, 4, 3);
	run_table(e, c, n);
	/* nothing was cached for them */
	xu_tuple(&t, &s1);
	assert_int_not_equal(bpf_map_lookup_elem(e->x.flows, &t, &cached), 0);

	n = 0;
	bad = reply_of(&s1);
	xu_build(&r, &bad);
	c[n] = (struct xcase){ .desc = "ICMP error quoting too little for ports",
			       .verdict = XDP_PASS_, .same = true,
			       .counter = COOP_XDP_CNT_PASS_NOT_VIP };
	icmp_error(&c[n++].in, 4, &a_client4, 3, 4, 1400, &r, 22);
	c[n] = (struct xcase){ .desc = "echo request to the VIP", .verdict = XDP_PASS_, .same = true,
			       .counter = COOP_XDP_CNT_PASS_NOT_VIP };
	icmp_error(&c[n++].in, 4, &a_client4, 8, 0, 0x10001, &r, 28);
	bad.sport = 81; /* from VIP port 81, which serves nothing */
	xu_build(&r, &bad);
	c[n] = (struct xcase){ .desc = "error about a packet from a VIP port not served",
			       .verdict = XDP_PASS_, .same = true,
			       .counter = COOP_XDP_CNT_PASS_NOT_VIP };
	icmp_error(&c[n++].in, 4, &a_client4, 3, 4, 1400, &r, 28);
	bad = reply_of(&s1);
	bad.src[0] = a_other4;
	xu_build(&r, &bad);
	c[n] = (struct xcase){ .desc = "error sent to the VIP about another address's packet",
			       .verdict = XDP_PASS_, .same = true,
			       .counter = COOP_XDP_CNT_PASS_NOT_VIP };
	icmp_error(&c[n].in, 4, &a_client4, 3, 4, 1400, &r, 28);
	/* addressed to the VIP all the same */
	memcpy(c[n].in.b + 14 + 16, &a_vip4, 4);
	c[n].in.b[14 + 10] = c[n].in.b[14 + 11] = 0;
	{
		uint16_t ck = xu_fold(xu_sum(c[n].in.b + 14, 20, 0));

		c[n].in.b[14 + 10] = (uint8_t)(ck >> 8);
		c[n].in.b[14 + 11] = (uint8_t)ck;
	}
	n++;
	run_table(e, c, n);
}

/* XDP action of a verdict counter (the program maps them by range). */
static uint32_t action_of(uint32_t id)
{
	if (id <= COOP_XDP_CNT_PASS_DECAP)
		return XDP_PASS_;
	if (id == COOP_XDP_CNT_REDIRECT_ENCAP)
		return XDP_REDIRECT_;
	if (id <= COOP_XDP_CNT_TX_ICMP6_TOO_BIG)
		return XDP_TX_;
	return XDP_DROP_;
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * Mutated packets: valid frames of every kind the program handles (TCP
 * and UDP to VIPs, SYNs, IPv6, VLAN, IPv4 options, fragments first and
 * later, tunnels to us, ICMP errors about VIP flows), then bytes flipped
 * (mostly in the headers), cut short or extended. Whatever comes out: the
 * program never aborts, ends every packet in exactly one verdict counter,
 * returns that verdict's action, and a frame it sends grows by at most
 * the outer headers. Deterministic (fixed seed).
 */
static void test_mutations(void **state)
{
	struct tenv *e = begin(state);
	enum { BASES = 12, RUNS = 20000 };
	static struct xu_pkt base[BASES], in, out;
	struct xu_spec s[BASES];
	struct xu_outer o = { .family = 4, .dmac = xu_mac_self, .smac = xu_mac_router,
			      .sport = 50001, .dport = GUE_PORT };
	uint64_t before[COOP_XDP_CNT_MAX], after[COOP_XDP_CNT_MAX], x = 0x9e3779b97f4a7c15ull;
	unsigned seen[5] = { 0 }, i, k;
	struct xu_pkt r;

	s[0] = flow4(6, 80);
	s[1] = flow4(6, 80);
	s[1].tcp_flags = 0x02;
	s[2] = flow4(17, 53);
	s[3] = flow6(6, 443);
	s[4] = flow6(17, 53);
	s[5] = flow4(6, 80);
	s[5].vlan = 42;
	s[5].options = 12;
	s[6] = flow4(17, 53);
	s[6].frag = 1;
	s[6].frag_id = 7;
	s[7] = flow6(17, 53);
	s[7].frag = 2;
	s[7].frag_off = 3;
	s[7].frag_id = 9;
	s[8] = flow4(6, 8443);
	s[8].dst[0] = a_vip4_any;
	for (i = 0; i < 9; i++)
		xu_build(&base[i], &s[i]);
	/* a tunnel to us from node 1, an ICMP error about a VIP flow, and
	 * the same inside a tunnel */
	o.src[0] = a_node4[1];
	o.dst[0] = a_self4;
	xu_encap(&base[9], &base[0], &o);
	s[10] = reply_of(&s[0]);
	xu_build(&r, &s[10]);
	icmp_error(&base[10], 4, &a_client4, 3, 4, 1400, &r, 28);
	base[10].l3 = 14;
	xu_encap(&base[11], &base[10], &o);

	for (i = 0; i < RUNS; i++) {
		const struct xu_pkt *b = &base[rng_next(&x) % BASES];
		size_t outlen = sizeof(out.b), flips = rng_next(&x) % 4;
		uint32_t retval = 99, id, verdicts = 0, verdict = 0;

		memcpy(in.b, b->b, b->len);
		in.len = b->len;
		for (k = 0; k < flips; k++) {
			/* three in four in the first 96 bytes: the headers */
			size_t at = rng_next(&x) % (rng_next(&x) % 4 ? (in.len < 96 ? in.len : 96) : in.len);

			in.b[at] ^= (uint8_t)(1u << (rng_next(&x) % 8));
		}
		if (rng_next(&x) % 4 == 0)
			in.len = 14 + rng_next(&x) % (in.len - 13); /* test_run needs 14 */
		else if (rng_next(&x) % 8 == 0)
			for (k = 1 + rng_next(&x) % 64; k; k--)
				in.b[in.len++] = (uint8_t)rng_next(&x);
		assert_int_equal(xu_counters(&e->x, before), 0);
		assert_int_equal(xu_run(e->x.prog, in.b, in.len, out.b, &outlen, &retval), 0);
		assert_int_equal(xu_counters(&e->x, after), 0);
		for (id = 0; id < COOP_XDP_CNT_MAX; id++) {
			if (!verdict_counter(id) || after[id] == before[id])
				continue;
			verdicts += (uint32_t)(after[id] - before[id]);
			verdict = id;
		}
		if (verdicts != 1)
			fail_msg("mutation %u: %u verdict counters moved", i, verdicts);
		if (retval != action_of(verdict))
			fail_msg("mutation %u: action %u, counter %s", i, retval,
				 coop_xdp_counter_name(verdict));
		if (retval != XDP_DROP_ && outlen > in.len + 18 + 40 + 8 + 8)
			fail_msg("mutation %u: %zu bytes in, %zu out", i, in.len, outlen);
		seen[retval]++;
	}
	print_message("%u mutated packets: %u passed, %u sent, %u dropped, %u redirected\n", RUNS,
		      seen[XDP_PASS_], seen[XDP_TX_], seen[XDP_DROP_], seen[XDP_REDIRECT_]);
	/* the mutations reached every action the fixtures can */
	assert_true(seen[XDP_PASS_] && seen[XDP_TX_] && seen[XDP_DROP_]);
}

/* Local delivery, encapsulation to each other node, IPv6, VLAN, options. */
static void test_local_and_encap(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec s[12];
	struct xcase c[16];
	size_t n = 0;
	uint32_t i;

	s[0] = flow4(6, 80);
	s[0].tcp_flags = 0x02;
	find_owner(e, &s[0], 0);
	c[n] = row_same("TCP SYN owned by this node", &s[0], XDP_PASS_, COOP_XDP_CNT_PASS_LOCAL);
	c[n].ev[0] = COOP_XDP_CNT_FLOW_MISS;
	c[n++].ev[1] = COOP_XDP_CNT_FLOW_INSERT;
	c[n] = row_same("same flow again: cache hit", &s[0], XDP_PASS_, COOP_XDP_CNT_PASS_LOCAL);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_HIT;
	for (i = 1; i <= 3; i++) {
		static const char *const d[] = { "", "TCP to node 1 (GUE over IPv4)",
						  "TCP to node 2 (GUE over IPv4, VLAN 7 out)",
						  "TCP to node 3 (GUE over IPv6)" };

		s[i] = flow4(6, 80);
		find_owner(e, &s[i], i);
		c[n] = row_encap(e, d[i], &s[i], i, false, COOP_XDP_CNT_TX_ENCAP);
		c[n++].ev[0] = COOP_XDP_CNT_FLOW_MISS;
	}
	s[4] = flow4(17, 53);
	find_owner(e, &s[4], 3);
	c[n++] = row_encap(e, "UDP to node 3", &s[4], 3, false, COOP_XDP_CNT_TX_ENCAP);
	s[5] = flow6(6, 443);
	find_owner(e, &s[5], 1);
	c[n++] = row_encap(e, "IPv6 TCP to node 1 (6 in GUE/IPv4)", &s[5], 1, false,
			   COOP_XDP_CNT_TX_ENCAP);
	s[6] = flow6(17, 53);
	find_owner(e, &s[6], 3);
	c[n++] = row_encap(e, "IPv6 UDP to node 3 (6 in GUE/IPv6)", &s[6], 3, false,
			   COOP_XDP_CNT_TX_ENCAP);
	s[7] = flow4(6, 80);
	s[7].vlan = 42;
	find_owner(e, &s[7], 1);
	c[n++] = row_encap(e, "VLAN 42 in, node 1 untagged out", &s[7], 1, false,
			   COOP_XDP_CNT_TX_ENCAP);
	s[8] = flow4(6, 80);
	s[8].vlan = 42;
	s[8].sport = 20000;
	find_owner(e, &s[8], 0);
	c[n++] = row_same("VLAN 42 in, ours: passed with its tag", &s[8], XDP_PASS_,
			  COOP_XDP_CNT_PASS_LOCAL);
	s[9] = flow4(6, 80);
	s[9].options = 12;
	s[9].tos = 0x2a;
	find_owner(e, &s[9], 2);
	c[n++] = row_encap(e, "IPv4 options and TOS, to node 2", &s[9], 2, false,
			   COOP_XDP_CNT_TX_ENCAP);
	s[10] = flow6(6, 443);
	s[10].v6_ext = 2;
	s[10].tos = 0xb8;
	find_owner(e, &s[10], 3);
	c[n++] = row_encap(e, "IPv6 hop-by-hop + dest options, to node 3", &s[10], 3, false,
			   COOP_XDP_CNT_TX_ENCAP);
	s[11] = flow4(6, 8443);
	s[11].dst[0] = a_vip4_any;
	find_owner(e, &s[11], 1);
	c[n++] = row_encap(e, "all-ports VIP, port 8443, to node 1", &s[11], 1, false,
			   COOP_XDP_CNT_TX_ENCAP);
	run_table(e, c, n);
}

/* Encapsulation options: UDP checksum over IPv4, IPIP, frame padding. */
static void test_encap_formats(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec a = flow4(6, 80), b = flow6(6, 443), d = flow4(6, 80), f = flow4(17, 53);
	struct xcase c[6];
	size_t n = 0;

	find_owner(e, &a, 1);
	find_owner(e, &b, 3);
	find_owner(e, &f, 2);
	e->cfg.flags |= COOP_XDP_CFG_UDP_CSUM4;
	write_cfg(e);
	c[n++] = row_encap(e, "GUE/IPv4 with UDP checksum", &a, 1, false, COOP_XDP_CNT_TX_ENCAP);
	f.payload = 333; /* odd length: the checksum's last byte */
	c[n++] = row_encap(e, "GUE/IPv4 with UDP checksum, odd length", &f, 2, false,
			   COOP_XDP_CNT_TX_ENCAP);
	run_table(e, c, n);

	xu_map_clear(e->x.flows, sizeof(struct coop_fwd_tuple));
	n = 0;
	e->cfg.flags &= ~COOP_XDP_CFG_UDP_CSUM4;
	e->cfg.encap = COOP_XDP_ENCAP_IPIP;
	write_cfg(e);
	c[n++] = row_encap(e, "IPIP to node 1", &a, 1, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++] = row_encap(e, "IP6IP6 to node 3", &b, 3, false, COOP_XDP_CNT_TX_ENCAP);
	b = flow4(6, 80);
	find_owner(e, &b, 3);
	c[n++] = row_encap(e, "4in6 to node 3", &b, 3, false, COOP_XDP_CNT_TX_ENCAP);
	/* a 54-byte TCP ACK padded to the 60-byte Ethernet minimum: the
	 * padding is not part of the IP packet and must not be wrapped */
	d.payload = 0;
	find_owner(e, &d, 1);
	c[n] = row_encap(e, "padded minimum frame, IPIP", &d, 1, false, COOP_XDP_CNT_TX_ENCAP);
	memset(c[n].in.b + c[n].in.len, 0xee, 6);
	c[n++].in.len += 6;
	run_table(e, c, n);
}

/* Tunnels ending here are unwrapped; the round trip gives the original. */
static void test_decap(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec s4 = flow4(6, 80), s6 = flow6(17, 53);
	struct xu_pkt in4, in6;
	struct xcase c[12];
	struct xu_outer o4 = { .family = 4, .dmac = xu_mac_self, .smac = xu_mac_router,
			       .sport = 50001, .dport = GUE_PORT };
	struct xu_outer o6 = o4;
	size_t n = 0;

	o4.src[0] = a_node4[1];
	o4.dst[0] = a_self4;
	o6.family = 6;
	memcpy(o6.src, a_node6, 16);
	memcpy(o6.dst, a_self6, 16);
	xu_build(&in4, &s4);
	xu_build(&in6, &s6);

	/* expected: the MACs of the tunnel frame, then the inner packet */
#define DECAP_ROW(d, inner, outer, vl)                                                 \
	do {                                                                           \
		struct xu_outer oo = (outer);                                          \
		oo.vlan = (vl);                                                        \
		c[n] = (struct xcase){ .desc = (d), .verdict = XDP_PASS_,              \
				       .counter = COOP_XDP_CNT_PASS_DECAP };           \
		xu_encap(&c[n].in, &(inner), &oo);                                     \
		xu_eth(&c[n].out, xu_mac_self, xu_mac_router, (vl),                    \
		       (inner).b[(inner).l3] >> 4 == 6 ? 0x86dd : 0x0800);             \
		xu_put(&c[n].out, (inner).b + (inner).l3, (inner).len - (inner).l3);  \
		n++;                                                                   \
	} while (0)
	DECAP_ROW("GUE/IPv4 carrying IPv4", in4, o4, 0);
	DECAP_ROW("GUE/IPv4 carrying IPv6", in6, o4, 0);
	DECAP_ROW("GUE/IPv6 carrying IPv4", in4, o6, 0);
	DECAP_ROW("GUE/IPv6 carrying IPv6, VLAN 9 kept", in6, o6, 9);
	o4.variant1 = true;
	DECAP_ROW("GUE variant 1 (bare IP in UDP)", in4, o4, 0);
	o4.variant1 = false;
	o4.ipip = true;
	o6.ipip = true;
	DECAP_ROW("IPIP", in4, o4, 0);
	DECAP_ROW("6in4", in6, o4, 0);
	DECAP_ROW("IP6IP6", in6, o6, 0);
	o4.ipip = false;
	run_table(e, c, n);

	/* malformed tunnels to us */
	n = 0;
	c[n] = (struct xcase){ .desc = "GUE control message (C bit)", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_ENCAP_BAD };
	xu_encap(&c[n].in, &in4, &o4);
	c[n++].in.b[14 + 20 + 8] |= 0x20;
	c[n] = (struct xcase){ .desc = "GUE version 2", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_ENCAP_BAD };
	xu_encap(&c[n].in, &in4, &o4);
	c[n++].in.b[14 + 20 + 8] = 0x80;
	c[n] = (struct xcase){ .desc = "GUE proto 4 carrying IPv6", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_ENCAP_BAD };
	xu_encap(&c[n].in, &in6, &o4);
	c[n++].in.b[14 + 20 + 8 + 1] = 4;
	c[n] = (struct xcase){ .desc = "GUE header cut short", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_ENCAP_BAD };
	{
		struct xu_spec u = flow4(17, GUE_PORT);

		u.src[0] = a_node4[1];
		u.dst[0] = a_self4;
		u.payload = 2;
		xu_build(&c[n++].in, &u);
	}
	/* GUE to another port of ours is not a tunnel */
	o4.dport = GUE_PORT + 1;
	c[n] = (struct xcase){ .desc = "UDP to another port of ours", .verdict = XDP_PASS_,
			       .same = true, .counter = COOP_XDP_CNT_PASS_NOT_VIP };
	xu_encap(&c[n++].in, &in4, &o4);
	run_table(e, c, n);

	/* only nodes may send us tunnels */
	n = 0;
	o4.dport = GUE_PORT;
	o4.src[0] = a_client4;
	c[n] = (struct xcase){ .desc = "GUE from an address that is no node", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_TUNNEL_PEER };
	xu_encap(&c[n++].in, &in4, &o4);
	o4.ipip = true;
	c[n] = (struct xcase){ .desc = "IPIP from an address that is no node", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_TUNNEL_PEER };
	xu_encap(&c[n++].in, &in4, &o4);
	o4.ipip = false;
	memcpy(o6.src, a_client6, 16);
	c[n] = (struct xcase){ .desc = "GUE/IPv6 from an address that is no node",
			       .verdict = XDP_DROP_, .counter = COOP_XDP_CNT_DROP_TUNNEL_PEER };
	xu_encap(&c[n++].in, &in6, &o6);
	o6.ipip = true;
	memcpy(o6.src, a_node6, 16);
	o6.src[3] ^= htonl(1);
	c[n] = (struct xcase){ .desc = "IP6IP6 from a node's address but one", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_TUNNEL_PEER };
	xu_encap(&c[n++].in, &in6, &o6);
	run_table(e, c, n);

	/* a node that left the set sends no tunnels: coopd deletes its
	 * address from coop_xdp_peers, and the data path does not trust an
	 * entry left there either (here left in place, as before the fix) */
	n = 0;
	o4.src[0] = a_node4[1];
	o4.ipip = false;
	e->nodes[1].state = COOP_FWD_STATE_ABSENT;
	write_node(e, 1);
	c[n] = (struct xcase){ .desc = "GUE from a removed node (absent, address still a peer)",
			       .verdict = XDP_DROP_, .counter = COOP_XDP_CNT_DROP_TUNNEL_PEER };
	xu_encap(&c[n++].in, &in4, &o4);
	o4.ipip = true;
	c[n] = (struct xcase){ .desc = "IPIP from a removed node", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_TUNNEL_PEER };
	xu_encap(&c[n++].in, &in4, &o4);
	o4.ipip = false;
	e->nodes[1].family = 0;
	write_node(e, 1);
	e->nodes[1].family = 4;
	c[n] = (struct xcase){ .desc = "GUE from a node whose entry is zeroed",
			       .verdict = XDP_DROP_, .counter = COOP_XDP_CNT_DROP_TUNNEL_PEER };
	xu_encap(&c[n++].in, &in4, &o4);
	run_table(e, c, n);
	/* draining is still in the set: its flows still come */
	n = 0;
	e->nodes[1].state = COOP_FWD_STATE_DRAINING;
	write_node(e, 1);
	DECAP_ROW("GUE from a draining node", in4, o4, 0);
	run_table(e, c, n);
	reset(e);

	/* the inner packet must be to a VIP address or to this node */
	{
		struct xu_spec to_other = flow4(6, 80), to_self = flow4(17, 7), to_port = flow4(6, 22),
			       to_any = flow4(6, 8080), to_client6 = flow6(17, 53), frag = flow4(17, 53);
		struct xu_pkt i_other, i_self, i_port, i_any, i_c6, i_icmp, i_frag;

		to_other.dst[0] = a_other4;
		to_self.dst[0] = a_self4;
		to_any.dst[0] = a_vip4_any;
		memcpy(to_client6.dst, a_client6, 16);
		to_client6.src[3] ^= htonl(0x100);
		frag.dst[0] = a_other4;
		frag.frag = 1;
		frag.frag_id = 0x4242;
		xu_build(&i_other, &to_other);
		xu_build(&i_self, &to_self);
		xu_build(&i_port, &to_port);
		xu_build(&i_any, &to_any);
		xu_build(&i_c6, &to_client6);
		{
			/* a router's error about a reply of the VIP: to the VIP */
			struct xu_spec rs = reply_of(&to_port);
			uint32_t router[4] = { addr4("198.18.254.1") };
			struct xu_pkt r;

			xu_build(&r, &rs);
			icmp_error(&i_icmp, 4, router, 3, 4, 1400, &r, 28);
		}
		xu_build(&i_frag, &frag);

		n = 0;
		o4.src[0] = a_node4[1];
		o6.ipip = false;
		memcpy(o6.src, a_node6, 16);
		DECAP_ROW("GUE to a VIP address, a port it does not serve", i_port, o4, 0);
		DECAP_ROW("GUE to the all-ports VIP", i_any, o4, 0);
		DECAP_ROW("GUE carrying ICMP to the VIP (a steered error)", i_icmp, o4, 0);
		DECAP_ROW("GUE to this node's cluster address", i_self, o4, 0);
		run_table(e, c, n);

		n = 0;
#define INNER_BAD(d, inner, outer)                                                         \
	do {                                                                               \
		c[n] = (struct xcase){ .desc = (d), .verdict = XDP_DROP_,                  \
				       .counter = COOP_XDP_CNT_DROP_TUNNEL_DST };          \
		xu_encap(&c[n++].in, &(inner), &(outer));                                  \
	} while (0)
		INNER_BAD("GUE from a node carrying IPv4 to no VIP", i_other, o4);
		o4.variant1 = true;
		INNER_BAD("GUE variant 1 carrying IPv4 to no VIP", i_other, o4);
		o4.variant1 = false;
		o4.steer = true;
		INNER_BAD("steered fragment to no VIP", i_frag, o4);
		o4.steer = false;
		INNER_BAD("GUE/IPv6 from a node carrying IPv6 to no VIP", i_c6, o6);
		o4.ipip = true;
		INNER_BAD("IPIP from a node to no VIP", i_other, o4);
		INNER_BAD("6in4 from a node to no VIP", i_c6, o4);
		o4.ipip = false;
		run_table(e, c, n);

		/* without the peer check the inner check stays */
		e->cfg.flags &= ~COOP_XDP_CFG_PEERS;
		write_cfg(e);
		n = 0;
		o4.src[0] = a_client4;
		INNER_BAD("no peer check: GUE to no VIP still dropped", i_other, o4);
		run_table(e, c, n);
		e->cfg.flags |= COOP_XDP_CFG_PEERS;
		write_cfg(e);
		o4.src[0] = a_node4[1];
#undef INNER_BAD
	}

	/* an IPv6 inner header cut short: no destination to check */
	n = 0;
	c[n] = (struct xcase){ .desc = "GUE carrying 20 bytes of an IPv6 header",
			       .verdict = XDP_DROP_, .counter = COOP_XDP_CNT_DROP_ENCAP_BAD };
	{
		struct xu_spec u = flow4(17, GUE_PORT);
		size_t at;

		u.src[0] = a_node4[1];
		u.dst[0] = a_self4;
		u.payload = 4 + 20;
		xu_build(&c[n].in, &u);
		at = c[n].in.l3 + 20 + 8;
		memcpy(c[n].in.b + at, (uint8_t[]){ 0, 41, 0, 0, 0x60 }, 5);
		n++;
	}
	run_table(e, c, n);

	/* without the check (COOP_XDP_CFG_PEERS clear) anyone's tunnel is ours */
	e->cfg.flags &= ~COOP_XDP_CFG_PEERS;
	write_cfg(e);
	n = 0;
	o4.src[0] = a_client4;
	DECAP_ROW("no peer check: GUE from an address that is no node", in4, o4, 0);
	run_table(e, c, n);
#undef DECAP_ROW
}

/* What the program wraps, it unwraps: feed node 1's view of the output
 * back in with node 1's addresses configured. */
static void test_round_trip(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec s[3] = { flow4(6, 80), flow6(6, 443), flow4(17, 53) };
	uint32_t owner[3] = { 1, 1, 3 };
	int i;

	for (i = 0; i < 3; i++) {
		struct xu_pkt in, mid, out;
		size_t len = sizeof(mid.b), l3;
		uint32_t rv;
		struct coop_xdp_config keep = e->cfg;

		find_owner(e, &s[i], owner[i]);
		xu_build(&in, &s[i]);
		assert_int_equal(xu_run(e->x.prog, in.b, in.len, mid.b, &len, &rv), 0);
		assert_int_equal(rv, XDP_TX_);
		mid.len = len;
		/* become the owner */
		e->cfg.src4 = a_node4[owner[i]];
		if (owner[i] == 3)
			memcpy(e->cfg.src6, a_node6, 16);
		e->cfg.self_id = owner[i];
		write_cfg(e);
		len = sizeof(out.b);
		assert_int_equal(xu_run(e->x.prog, mid.b, mid.len, out.b, &len, &rv), 0);
		assert_int_equal(rv, XDP_PASS_);
		l3 = out.b[12] == 0x81 ? 18 : 14;
		assert_int_equal(len - l3, in.len - in.l3);
		assert_memory_equal(out.b + l3, in.b + in.l3, in.len - in.l3);
		e->cfg = keep;
		write_cfg(e);
	}
}

/* The flow cache keeps established flows through table changes. */
static void test_flow_cache(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec a = flow4(6, 80), syn, u = flow4(17, 53);
	struct xcase c[8];
	struct coop_fwd_maglev *next;
	size_t n = 0;
	uint32_t moved_to;
	int i;

	/* find a flow of node 1 that moves to node 4 when node 4 joins */
	e->member[4] = true;
	next = build(e, COOP_FWD_MODE_MAGLEV);
	e->member[4] = false;
	for (i = 0; i < 20000; i++, a.sport++) {
		struct coop_fwd_tuple t;

		xu_tuple(&t, &a);
		if (coop_fwd_maglev_lookup(e->t, coop_fwd_hash(&t)) == 1 &&
		    coop_fwd_maglev_lookup(next, coop_fwd_hash(&t)) == 4)
			break;
	}
	coop_fwd_maglev_free(next);
	assert_true(i < 20000);
	c[n++] = row_encap(e, "flow to node 1, cached", &a, 1, false, COOP_XDP_CNT_TX_ENCAP);
	run_table(e, c, n);

	/* node 4 joins: node entry first, then the table */
	e->member[4] = true;
	e->nodes[4].state = COOP_FWD_STATE_ACTIVE;
	write_node(e, 4);
	publish(e, COOP_FWD_MODE_MAGLEV);
	assert_int_equal(owner_of(e, &a), 4);
	n = 0;
	c[n] = row_encap(e, "after node 4 joined: cached flow stays on node 1", &a, 1, false,
			 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_HIT;
	syn = a;
	syn.tcp_flags = 0x02;
	c[n] = row_encap(e, "retransmitted SYN to an active owner stays", &syn, 1, false,
			 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_HIT;
	run_table(e, c, n);
	/* the uncached flow would take the new table's answer */
	xu_map_clear(e->x.flows, sizeof(struct coop_fwd_tuple));
	n = 0;
	c[n] = row_encap(e, "same flow uncached: node 4", &a, 4, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_MISS;
	run_table(e, c, n);

	/* drain node 4: table without it first, then its state */
	e->weight[4] = 0;
	publish(e, COOP_FWD_MODE_MAGLEV);
	e->nodes[4].state = COOP_FWD_STATE_DRAINING;
	write_node(e, 4);
	moved_to = owner_of(e, &a);
	assert_int_not_equal(moved_to, 4);
	n = 0;
	c[n] = row_encap(e, "draining node keeps its established flow", &a, 4, false,
			 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_HIT;
	syn = a;
	syn.tcp_flags = 0x02;
	if (moved_to == 0)
		c[n] = row_same("SYN to a draining node moves (here)", &syn, XDP_PASS_,
				COOP_XDP_CNT_PASS_LOCAL);
	else
		c[n] = row_encap(e, "SYN to a draining node moves", &syn, moved_to, false,
				 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_DRAINED;
	run_table(e, c, n);

	/* remove node 1: cached flows of node 1 are gone */
	xu_map_clear(e->x.flows, sizeof(struct coop_fwd_tuple));
	a = flow4(6, 80);
	find_owner(e, &a, 1);
	n = 0;
	c[n++] = row_encap(e, "flow to node 1 before removal", &a, 1, false, COOP_XDP_CNT_TX_ENCAP);
	run_table(e, c, n);
	e->member[1] = false;
	publish(e, COOP_FWD_MODE_MAGLEV);
	e->nodes[1].state = COOP_FWD_STATE_ABSENT;
	write_node(e, 1);
	moved_to = owner_of(e, &a);
	n = 0;
	if (moved_to == 0)
		c[n] = row_same("node 1 removed: its flow moves (here)", &a, XDP_PASS_,
				COOP_XDP_CNT_PASS_LOCAL);
	else
		c[n] = row_encap(e, "node 1 removed: its flow moves", &a, moved_to, false,
				 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_GONE;
	run_table(e, c, n);

	/* UDP entries expire after udp_idle_ns */
	reset(e);
	find_owner(e, &u, 2);
	e->cfg.udp_idle_ns = 1000000000ull;
	write_cfg(e);
	n = 0;
	c[n] = row_encap(e, "UDP flow cached", &u, 2, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_INSERT;
	c[n] = row_encap(e, "UDP flow within the idle timeout: kept", &u, 2, false,
			 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_HIT;
	run_table(e, c, n);
	{
		/* age the entry: last packet at time 1 ns */
		struct coop_fwd_tuple t;
		struct coop_fwd_flow f;

		xu_tuple(&t, &u);
		assert_int_equal(bpf_map_lookup_elem(e->x.flows, &t, &f), 0);
		f.atime_ns = 1;
		assert_int_equal(bpf_map_update_elem(e->x.flows, &t, &f, BPF_EXIST), 0);
	}
	n = 0;
	c[n] = row_encap(e, "UDP flow idle past the timeout: expired", &u, 2, false,
			 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_EXPIRED;
	run_table(e, c, n);

	/* the insert cap: a one-insert bucket that refills once an hour */
	reset(e);
	e->cfg.insert_cost_ns = 3600000000000ull;
	e->cfg.insert_burst_ns = 3600000000000ull;
	write_cfg(e);
	{
		/* a full bucket refilled just now, whatever the uptime: one insert */
		struct coop_fwd_ratelimit full[e->x.ncpu];
		struct timespec ts;
		uint32_t k = 0;
		int cpu;

		assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
		for (cpu = 0; cpu < e->x.ncpu; cpu++) {
			full[cpu].credit_ns = e->cfg.insert_burst_ns;
			full[cpu].last_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
		}
		assert_int_equal(bpf_map_update_elem(e->x.rlimit, &k, full, BPF_ANY), 0);
	}
	a = flow4(6, 80);
	find_owner(e, &a, 2);
	syn = a;
	syn.sport++;
	find_owner(e, &syn, 2);
	n = 0;
	c[n] = row_encap(e, "first new flow: inserted", &a, 2, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_INSERT;
	c[n] = row_encap(e, "second new flow: over the cap, still forwarded", &syn, 2, false,
			 COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FLOW_CAPPED;
	run_table(e, c, n);
}

/* Fragments: steered by 3-tuple, decided per datagram at their owner. */
static void frag_family(struct tenv *e, int family)
{
	struct xu_spec first, later, orphan, steer;
	struct xcase c[8];
	struct xu_outer o = { .family = 4, .steer = true, .dmac = xu_mac_self,
			      .smac = xu_mac_router, .sport = 50002, .dport = GUE_PORT };
	struct xu_pkt inner;
	size_t n = 0;

	first = family == 4 ? flow4(17, 53) : flow6(17, 53);
	first.frag = 1;
	first.frag_id = 0x4242;
	first.payload = 64;
	first.df = false;
	/* fragment owner: us; the datagram's 5-tuple owner: node 2 */
	find_frag(e, &first, 0, 2);
	later = first;
	later.frag = 2;
	later.frag_off = 9;
	c[n] = row_encap(e, family == 4 ? "v4 first fragment: decided here, to node 2"
					: "v6 first fragment: decided here, to node 2",
			 &first, 2, false, COOP_XDP_CNT_TX_ENCAP);
	c[n].ev[0] = COOP_XDP_CNT_FRAG_FIRST;
	c[n++].ev[1] = COOP_XDP_CNT_FLOW_MISS;
	c[n] = row_encap(e, family == 4 ? "v4 later fragment follows the first"
					: "v6 later fragment follows the first",
			 &later, 2, false, COOP_XDP_CNT_TX_ENCAP);
	c[n++].ev[0] = COOP_XDP_CNT_FRAG_HIT;
	orphan = later;
	orphan.frag_id = 0x4243;
	c[n] = row_same("later fragment without its first: local", &orphan, XDP_PASS_,
			COOP_XDP_CNT_PASS_FRAG_ORPHAN);
	c[n++].ev[0] = COOP_XDP_CNT_FRAG_MISS;
	run_table(e, c, n);
	{
		/* a record older than frag_timeout_ns no longer counts */
		struct coop_fwd_frag_key k;
		struct coop_fwd_frag_val v;
		struct coop_fwd_tuple t;

		xu_tuple(&t, &later);
		coop_fwd_frag_key_make(&k, &t, later.frag_id);
		assert_int_equal(bpf_map_lookup_elem(e->x.frags, &k, &v), 0);
		v.ctime_ns = 1;
		assert_int_equal(bpf_map_update_elem(e->x.frags, &k, &v, BPF_EXIST), 0);
	}
	n = 0;
	c[n] = row_same("later fragment after the record expired: local", &later, XDP_PASS_,
			COOP_XDP_CNT_PASS_FRAG_ORPHAN);
	c[n++].ev[0] = COOP_XDP_CNT_FRAG_MISS;

	/* a datagram whose fragment owner is node 1: both fragments go there,
	 * marked, in GUE even in IPIP mode */
	steer = first;
	find_frag(e, &steer, 1, UINT32_MAX);
	c[n++] = row_encap(e, "first fragment steered to its fragment owner", &steer, 1, true,
			   COOP_XDP_CNT_TX_FRAG_STEER);
	steer.frag = 2;
	steer.frag_off = 9;
	c[n++] = row_encap(e, "later fragment steered likewise", &steer, 1, true,
			   COOP_XDP_CNT_TX_FRAG_STEER);
	run_table(e, c, n);

	e->cfg.encap = COOP_XDP_ENCAP_IPIP;
	write_cfg(e);
	n = 0;
	c[n++] = row_encap(e, "IPIP mode: steered fragment still in GUE", &steer, 1, true,
			   COOP_XDP_CNT_TX_FRAG_STEER);
	run_table(e, c, n);
	e->cfg.encap = COOP_XDP_ENCAP_GUE;
	write_cfg(e);

	/* a steered fragment arriving from node 3: we are its fragment owner,
	 * so the first fragment is decided (to node 2) and re-wrapped */
	n = 0;
	steer = first;
	steer.frag_id = 0x5151;
	o.src[0] = a_node4[1];
	o.dst[0] = a_self4;
	xu_build(&inner, &steer);
	c[n] = (struct xcase){ .desc = "steered first fragment arrives: decided here",
			       .verdict = XDP_TX_, .counter = COOP_XDP_CNT_TX_ENCAP,
			       .ev = { COOP_XDP_CNT_FRAG_FIRST } };
	xu_encap(&c[n].in, &inner, &o);
	/* after decapsulation the frame keeps the tunnel's MACs */
	{
		struct xu_pkt dec;

		xu_eth(&dec, xu_mac_self, xu_mac_router, 0, family == 4 ? 0x0800 : 0x86dd);
		xu_put(&dec, inner.b + inner.l3, inner.len - inner.l3);
		expect_encap(e, &c[n].out, &dec, 2, hash_of(&steer), false);
	}
	n++;
	steer.frag = 2;
	steer.frag_off = 9;
	xu_build(&inner, &steer);
	c[n] = (struct xcase){ .desc = "steered later fragment arrives: follows",
			       .verdict = XDP_TX_, .counter = COOP_XDP_CNT_TX_ENCAP,
			       .ev = { COOP_XDP_CNT_FRAG_HIT } };
	xu_encap(&c[n].in, &inner, &o);
	{
		struct xu_pkt dec;

		xu_eth(&dec, xu_mac_self, xu_mac_router, 0, family == 4 ? 0x0800 : 0x86dd);
		xu_put(&dec, inner.b + inner.l3, inner.len - inner.l3);
		expect_encap(e, &c[n].out, &dec, 2, hash_of(&steer), false);
	}
	n++;
	run_table(e, c, n);
}

static void test_fragments_v4(void **state)
{
	frag_family(begin(state), 4);
}

static void test_fragments_v6(void **state)
{
	frag_family(begin(state), 6);
}

/* Malformed input: every truncation point, bad IHL, version, lengths. */
static void test_malformed(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec s4 = flow4(6, 80), s6 = flow6(6, 443);
	struct xu_pkt p4, p6, v;
	struct xcase c;
	size_t len;
	char desc[96];

	s4.vlan = 5;
	s4.options = 8;
	s4.payload = 0;
	s6.payload = 0;
	s6.v6_ext = 1;
	xu_build(&p4, &s4);
	xu_build(&p6, &s6);
	/* Ethernet + tag + IPv4 (28 with options) + TCP 20: cut at every byte
	 * from the 14-byte minimum test_run accepts */
	for (len = 14; len < p4.len; len++) {
		uint32_t want = len < 18 ? COOP_XDP_CNT_DROP_ETH_TRUNC : COOP_XDP_CNT_DROP_IP4_TRUNC;

		snprintf(desc, sizeof(desc), "IPv4 frame cut to %zu bytes", len);
		c = (struct xcase){ .desc = desc, .verdict = XDP_DROP_, .counter = want };
		memcpy(c.in.b, p4.b, len);
		c.in.len = len;
		run_case(e, &c);
	}
	for (len = 14; len < p6.len; len++) {
		snprintf(desc, sizeof(desc), "IPv6 frame cut to %zu bytes", len);
		c = (struct xcase){ .desc = desc, .verdict = XDP_DROP_,
				    .counter = COOP_XDP_CNT_DROP_IP6_TRUNC };
		memcpy(c.in.b, p6.b, len);
		c.in.len = len;
		run_case(e, &c);
	}
	/* consistent lengths, TCP header cut: every byte of it */
	for (len = 0; len < 20; len++) {
		struct xu_pkt *p = &c.in;
		size_t tot = 28 + len;

		snprintf(desc, sizeof(desc), "IPv4 + %zu bytes of TCP header", len);
		c = (struct xcase){ .desc = desc, .verdict = XDP_DROP_,
				    .counter = COOP_XDP_CNT_DROP_L4_TRUNC };
		memcpy(p->b, p4.b, p4.l3 + tot);
		p->len = p4.l3 + tot;
		p->b[p4.l3 + 2] = (uint8_t)(tot >> 8);
		p->b[p4.l3 + 3] = (uint8_t)tot;
		run_case(e, &c);
		snprintf(desc, sizeof(desc), "IPv6 + %zu bytes of TCP header", len);
		c = (struct xcase){ .desc = desc, .verdict = XDP_DROP_,
				    .counter = COOP_XDP_CNT_DROP_L4_TRUNC };
		memcpy(p->b, p6.b, p6.l3 + 48 + len);
		p->len = p6.l3 + 48 + len;
		p->b[p6.l3 + 5] = (uint8_t)(8 + len);
		run_case(e, &c);
	}
	/* bad IPv4 headers */
	v = p4;
	v.b[v.l3] = 0x44; /* IHL 4 */
	c = (struct xcase){ .desc = "IHL 4", .verdict = XDP_DROP_,
			    .counter = COOP_XDP_CNT_DROP_IP4_BAD_HDR, .in = v };
	run_case(e, &c);
	v = p4;
	v.b[v.l3] = 0x57; /* version 5 */
	c = (struct xcase){ .desc = "IPv4 ethertype, version 5", .verdict = XDP_DROP_,
			    .counter = COOP_XDP_CNT_DROP_IP4_BAD_HDR, .in = v };
	run_case(e, &c);
	v = p4;
	v.b[v.l3 + 2] = 0;
	v.b[v.l3 + 3] = 24; /* total length below the 28-byte header */
	c = (struct xcase){ .desc = "total length < IHL", .verdict = XDP_DROP_,
			    .counter = COOP_XDP_CNT_DROP_IP4_BAD_HDR, .in = v };
	run_case(e, &c);
	v = p4;
	v.b[v.l3] = 0x4f; /* IHL 15: 60-byte header past the packet */
	c = (struct xcase){ .desc = "IHL 15 beyond the packet", .verdict = XDP_DROP_,
			    .counter = COOP_XDP_CNT_DROP_IP4_BAD_HDR, .in = v };
	run_case(e, &c);
	v = p6;
	v.b[v.l3] = 0x45; /* IPv4 version behind the IPv6 ethertype */
	c = (struct xcase){ .desc = "IPv6 ethertype, version 4", .verdict = XDP_DROP_,
			    .counter = COOP_XDP_CNT_DROP_IP6_BAD_HDR, .in = v };
	run_case(e, &c);
	/* an IPv6 extension chain longer than the parser walks */
	s6.v6_ext = 5;
	xu_build(&v, &s6);
	c = (struct xcase){ .desc = "IPv6 with 5 extension headers", .verdict = XDP_PASS_,
			    .same = true, .counter = COOP_XDP_CNT_PASS_UNPARSED, .in = v };
	run_case(e, &c);
}

/* Too big once wrapped: ICMP back to the client (IPv4 only with DF, as
 * RFC 792 and 1191 have it); an IPv4 packet without DF is dropped and
 * counted: nothing here can fragment it, and the stack of a node that
 * does not own its flow must not have it. */
static void test_mtu(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec a = flow4(6, 80), b = flow6(6, 443), l = flow4(6, 80), nodf, fit, vl, fr;
	struct xcase c[8];
	size_t n = 0;

	e->cfg.mtu = 1400;
	write_cfg(e);
	a.payload = 1500 - 40;
	find_owner(e, &a, 1);
	c[n] = (struct xcase){ .desc = "1500-byte IPv4 DF packet for node 1: frag needed",
			       .verdict = XDP_TX_, .counter = COOP_XDP_CNT_TX_ICMP4_FRAG_NEEDED };
	xu_build(&c[n].in, &a);
	xu_icmp_too_big(&c[n].out, &c[n].in, 1400 - 32);
	n++;
	vl = a;
	vl.vlan = 3;
	c[n] = (struct xcase){ .desc = "DF, VLAN 3: frag needed on VLAN 3",
			       .verdict = XDP_TX_, .counter = COOP_XDP_CNT_TX_ICMP4_FRAG_NEEDED };
	xu_build(&c[n].in, &vl);
	xu_icmp_too_big(&c[n].out, &c[n].in, 1400 - 32);
	n++;
	nodf = a;
	nodf.df = false;
	c[n++] = row_same("1500-byte IPv4 packet without DF for node 1: dropped, no ICMP", &nodf,
			  XDP_DROP_, COOP_XDP_CNT_DROP_MTU_NODF);
	nodf.payload = 1400 - 32 - 40;
	c[n++] = row_encap(e, "without DF but fitting: encapsulated (outer DF)", &nodf, 1, false,
			   COOP_XDP_CNT_TX_ENCAP);
	b.payload = 1500 - 60;
	find_owner(e, &b, 3);
	c[n] = (struct xcase){ .desc = "1500-byte IPv6 packet for node 3: packet too big",
			       .verdict = XDP_TX_, .counter = COOP_XDP_CNT_TX_ICMP6_TOO_BIG };
	xu_build(&c[n].in, &b);
	xu_icmp_too_big(&c[n].out, &c[n].in, 1400 - 52);
	n++;
	fit = a;
	fit.payload = 1400 - 32 - 40;
	c[n++] = row_encap(e, "exactly fits the MTU once wrapped", &fit, 1, false,
			   COOP_XDP_CNT_TX_ENCAP);
	l.payload = 1500 - 40;
	find_owner(e, &l, 0);
	c[n++] = row_same("1500 bytes owned here: passed", &l, XDP_PASS_, COOP_XDP_CNT_PASS_LOCAL);
	run_table(e, c, n);

	/* IPIP: 20 bytes of overhead, so the reported MTU is 1380 */
	e->cfg.encap = COOP_XDP_ENCAP_IPIP;
	write_cfg(e);
	n = 0;
	c[n] = (struct xcase){ .desc = "IPIP: frag needed reports 1380", .verdict = XDP_TX_,
			       .counter = COOP_XDP_CNT_TX_ICMP4_FRAG_NEEDED };
	xu_build(&c[n].in, &a);
	xu_icmp_too_big(&c[n].out, &c[n].in, 1400 - 20);
	n++;
	/* a first fragment decided here for node 1 (through coop_xdp_send):
	 * fragments never carry DF */
	fr = flow4(17, 53);
	fr.frag = 1;
	fr.frag_id = 0x5151;
	fr.df = false;
	fr.payload = 1500 - 28;
	find_frag(e, &fr, 0, 1);
	c[n] = (struct xcase){ .desc = "too big first fragment: dropped, no ICMP",
			       .verdict = XDP_DROP_, .counter = COOP_XDP_CNT_DROP_MTU_NODF,
			       .ev = { COOP_XDP_CNT_FRAG_FIRST } };
	xu_build(&c[n++].in, &fr);
	run_table(e, c, n);
	/* an MTU that leaves IPv6 below 1280: cannot answer, counted */
	e->cfg.mtu = 1300;
	write_cfg(e);
	n = 0;
	c[n] = (struct xcase){ .desc = "MTU too small for an IPv6 answer", .verdict = XDP_DROP_,
			       .counter = COOP_XDP_CNT_DROP_MTU };
	xu_build(&c[n++].in, &b);
	run_table(e, c, n);
}

/* Entries of a hash map (key of keysize bytes). */
static uint32_t map_count(int fd, size_t keysize)
{
	uint8_t key[64], next[64];
	uint32_t n = 0;

	if (keysize > sizeof(key) || bpf_map_get_next_key(fd, NULL, key))
		return 0;
	do
		n++;
	while (!bpf_map_get_next_key(fd, key, next) && (memcpy(key, next, keysize), 1));
	return n;
}

/*
 * The flow cache is split per CPU (BPF_F_NO_COMMON_LRU): each CPU's LRU
 * list holds max_entries / possible CPUs, which coopd writes as flow_share
 * (it sizes the map from the online CPUs: fwd/xdp_ctl.c). Inserts on one
 * CPU beyond its share evict among that CPU's flows, counted flow_evict;
 * the kernel frees up to 4 at a time, so up to 3 more may be gone than
 * counted. A second object with a small cache; the thread pinned to one
 * CPU, where test_run runs the program.
 */
#define EVICT_SHARE 16u
#define EVICT_MORE 6u
static void test_flow_evict(void **state)
{
	struct tenv *e = *state, *s;
	char path[PATH_MAX + 64], err[512];
	uint64_t before[COOP_XDP_CNT_MAX], after[COOP_XDP_CNT_MAX];
	struct xu_spec f = flow4(6, 80);
	struct coop_fwd_tuple last;
	struct coop_fwd_flow v;
	cpu_set_t saved, one;
	struct xcase c;
	uint32_t i, n;

	if (!e)
		skip();
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	xu_object_path(path, sizeof(path), "COOP_XDP_BPF_OBJ", "coop_xdp.bpf.o", 4);
	if (xu_env_open_sized(&s->x, path, EVICT_SHARE * (uint32_t)e->x.ncpu, err, sizeof(err)))
		fail_msg("%s", err);
	vip_add(s, 4, &a_vip4, 80, 6, 0);
	vip_add(s, 4, &a_vip4, 0, 6, 0);
	reset(s);
	s->cfg.flow_share = EVICT_SHARE;
	write_cfg(s);
	assert_int_equal(sched_getaffinity(0, sizeof(saved), &saved), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);

	f.tcp_flags = 0x02; /* SYN: a new flow, inserted */
	for (i = 0; i < EVICT_SHARE + EVICT_MORE; i++) {
		f.sport++;
		find_owner(s, &f, 0);
		c = row_same("new flow", &f, XDP_PASS_, COOP_XDP_CNT_PASS_LOCAL);
		c.ev[0] = COOP_XDP_CNT_FLOW_INSERT;
		if (i >= EVICT_SHARE) {
			c.desc = "new flow, this CPU's share full: one evicted";
			c.ev[1] = COOP_XDP_CNT_FLOW_EVICT;
		}
		assert_int_equal(xu_counters(&s->x, before), 0);
		run_case(s, &c);
		assert_int_equal(xu_counters(&s->x, after), 0);
		if (i < EVICT_SHARE && after[COOP_XDP_CNT_FLOW_EVICT] != before[COOP_XDP_CNT_FLOW_EVICT])
			fail_msg("flow %u of a share of %u: counted as an eviction", i + 1, EVICT_SHARE);
		if (i + 1 == EVICT_SHARE)
			assert_int_equal(map_count(s->x.flows, sizeof(struct coop_fwd_tuple)),
					 EVICT_SHARE);
	}
	/* the share is max_entries / possible CPUs, the flows gone at least
	 * those counted, at most 3 more */
	n = map_count(s->x.flows, sizeof(struct coop_fwd_tuple));
	if (n > EVICT_SHARE || n < EVICT_SHARE - 3)
		fail_msg("%u flows cached after %u inserts on one CPU, share %u", n,
			 EVICT_SHARE + EVICT_MORE, EVICT_SHARE);
	assert_int_equal(after[COOP_XDP_CNT_FLOW_EVICT], EVICT_MORE);
	xu_tuple(&last, &f);
	assert_int_equal(bpf_map_lookup_elem(s->x.flows, &last, &v), 0);

	/* flow_share 0: evictions not counted */
	s->cfg.flow_share = 0;
	write_cfg(s);
	f.sport++;
	find_owner(s, &f, 0);
	c = row_same("new flow, eviction not counted", &f, XDP_PASS_, COOP_XDP_CNT_PASS_LOCAL);
	assert_int_equal(xu_counters(&s->x, before), 0);
	run_case(s, &c);
	assert_int_equal(xu_counters(&s->x, after), 0);
	assert_int_equal(after[COOP_XDP_CNT_FLOW_EVICT], before[COOP_XDP_CNT_FLOW_EVICT]);

	assert_int_equal(sched_setaffinity(0, sizeof(saved), &saved), 0);
	coop_fwd_maglev_free(s->t);
	xu_env_close(&s->x);
	free(s);
}

/* Configuration and state errors each have their counter. */
static void test_errors(void **state)
{
	struct tenv *e = begin(state);
	struct xu_spec a = flow4(6, 80), b = flow4(6, 80);
	struct xcase c[8];
	size_t n = 0;
	uint32_t svc = 0;

	find_owner(e, &a, 1);
	find_owner(e, &b, 3);
	e->nodes[1].flags &= ~COOP_XDP_NODE_RESOLVED;
	write_node(e, 1);
	c[n++] = row_same("next hop of node 1 unresolved", &a, XDP_DROP_,
			  COOP_XDP_CNT_DROP_NO_NEIGH);
	run_table(e, c, n);

	reset(e);
	e->nodes[1].family = 0;
	write_node(e, 1);
	n = 0;
	c[n++] = row_same("owner without a node entry", &a, XDP_DROP_, COOP_XDP_CNT_DROP_NO_NODE);
	run_table(e, c, n);

	reset(e);
	memset(e->cfg.src6, 0, 16);
	write_cfg(e);
	n = 0;
	c[n++] = row_same("no IPv6 cluster source for node 3", &b, XDP_DROP_,
			  COOP_XDP_CNT_DROP_NO_SRC);
	run_table(e, c, n);

	reset(e);
	e->nodes[1].ifindex = 4242; /* test_run ingress is lo (1) */
	write_node(e, 1);
	n = 0;
	c[n] = row_encap(e, "node 1 behind another interface: redirect", &a, 1, false,
			 COOP_XDP_CNT_REDIRECT_ENCAP);
	c[n++].verdict = XDP_REDIRECT_;
	run_table(e, c, n);

	reset(e);
	assert_int_equal(bpf_map_delete_elem(e->x.tables, &svc), 0);
	n = 0;
	c[n++] = row_same("service without a table: local", &a, XDP_PASS_,
			  COOP_XDP_CNT_PASS_NO_BACKEND);
	run_table(e, c, n);

	/* ECMP comparison mode tables work through the same map */
	reset(e);
	publish(e, COOP_FWD_MODE_ECMP);
	a = flow4(6, 80);
	find_owner(e, &a, 2);
	n = 0;
	c[n++] = row_encap(e, "ECMP-mode table: mod-N owner", &a, 2, false, COOP_XDP_CNT_TX_ENCAP);
	run_table(e, c, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_names),
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_vip_filter),
		cmocka_unit_test(test_vip_slots),
		cmocka_unit_test(test_icmp),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_local_and_encap),
		cmocka_unit_test(test_encap_formats),
		cmocka_unit_test(test_decap),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_flow_cache),
		cmocka_unit_test(test_flow_evict),
		cmocka_unit_test(test_fragments_v4),
		cmocka_unit_test(test_fragments_v6),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mtu),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
