/* xdp_bench.c - XDP forwarder figures: ns per packet under bpf_prog_test_run against a calibration program, and forwarded packets per second on veth against the kernel's IP forwarding. */
#include <dirent.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>

#include "tests/unit/fwd/xdp_util.h"

/*
 * ns mode (any namespace): four packets through coop_xdp.bpf.o, each timed
 * per run by the kernel (test_run's duration, repeat = 1: the kernel does
 * not restore a packet between repeated runs, and an encapsulated packet
 * would take another path on the second one), alternating with the same
 * packets through xdp_pass.bpf.o, the calibration row. Every run's verdict
 * is checked, the encapsulation's bytes once per measurement, and the
 * counters after it: each measured run took the intended path.
 *
 * ab mode: the same warm runs, this build's program against another build's,
 * alternating within every round (run_ab).
 *
 * loop mode (inside the namespace bench/xdp/run.sh builds): a fixed number
 * of frames circulates between the front veth and the forwarder veth,
 * whose XDP program is either coop_xdp (encapsulating back out of the same
 * veth), a plain XDP_PASS handing them to the kernel's IP forwarding (out
 * of a second veth), or a reflector (the loop's own ceiling); bouncers
 * where the frames come back restore them and send them in again, and
 * count. Two layouts per round: the forwarder veth's NAPI in a thread
 * pinned to its own CPU (timed by the scheduler), and everything on one
 * CPU. A, B, C... medians.
 */

#define NODE_SELF 0
#define NODE_REMOTE 1

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_d(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
	fprintf(stderr, "xdp_bench: %s\n", what);
	exit(1);
}

/* The forwarder as in the unit test: node 0 is us, 1..3 peers (IPv4
 * cluster addresses), VIP 198.19.0.1 TCP 80, a default-size table. */
struct bench {
	struct xu_env x;                 /* coop_xdp.bpf.o */
	struct coop_fwd_maglev *t;       /* its table */
	struct coop_xdp_config cfg;      /* configuration written */
	struct coop_xdp_node node[4];    /* nodes written */
	uint32_t vip;                    /* VIP, network order */
};

static void bench_setup(struct bench *b, const uint8_t *peer_mac, const uint8_t *our_mac)
{
	struct coop_xdp_vip_key k = { .port = htons(80), .proto = 6, .family = 4 };
	struct coop_xdp_vip v = { 0, 0 };
	struct coop_fwd_backend be[4];
	char names[4][4], err[512];
	uint32_t i, zero = 0;

	b->vip = inet_addr("198.19.0.1");
	b->cfg.self_id = NODE_SELF;
	b->cfg.flags = COOP_XDP_CFG_ENABLED;
	b->cfg.encap = COOP_XDP_ENCAP_GUE;
	b->cfg.gue_port = htons(6080);
	b->cfg.mtu = 1500;
	b->cfg.src4 = inet_addr("198.18.3.10");
	b->cfg.udp_idle_ns = 30000000000ull;
	b->cfg.frag_timeout_ns = 30000000000ull;
	/* each CPU's share of the flow cache, as coopd writes it: a new flow
	 * beyond it counts an eviction (the new-flow case pays for that) */
	b->cfg.flow_share =
		bpf_map__max_entries(bpf_object__find_map_by_name(b->x.obj, COOP_XDP_MAP_FLOWS)) /
		(uint32_t)b->x.ncpu;
	/* the VIP address filter, as coopd writes it */
	{
		uint32_t a[4] = { b->vip, 0, 0, 0 }, bit = coop_xdp_vip_bit(a);

		b->cfg.flags |= COOP_XDP_CFG_VIP_FILTER | COOP_XDP_CFG_VIP_SLOTS;
		b->cfg.vip_filter[bit / 64] |= 1ull << (bit % 64);
	}
	if (bpf_map_update_elem(b->x.config, &zero, &b->cfg, BPF_ANY))
		die("config");
	for (i = 0; i < 4; i++) {
		struct coop_xdp_node *n = &b->node[i];

		n->family = 4;
		n->addr[0] = htonl(ntohl(b->cfg.src4) + i);
		n->state = COOP_FWD_STATE_ACTIVE;
		n->flags = COOP_XDP_NODE_RESOLVED | (i == NODE_SELF ? COOP_XDP_NODE_SELF : 0);
		memcpy(n->dmac, peer_mac, 6);
		memcpy(n->smac, our_mac, 6);
		if (bpf_map_update_elem(b->x.nodes, &i, n, BPF_ANY))
			die("node");
		snprintf(names[i], sizeof(names[i]), "n%u", i);
		be[i] = (struct coop_fwd_backend){ names[i], strlen(names[i]), i, 1 };
	}
	if (coop_fwd_maglev_build(NULL, be, 4, &b->t, err, sizeof(err)))
		die(err);
	if (xu_table_publish(&b->x, 0, b->t))
		die("publish");
	k.addr[0] = b->vip;
	if (xu_vip_put(&b->x, &k, &v))
		die("vip");
}

/* A 128-byte TCP frame from src:sport to VIP:80 (or to dst when set). */
static void bench_packet(struct bench *b, struct xu_pkt *p, uint32_t src, uint16_t sport,
			 uint8_t flags, uint32_t dst)
{
	struct xu_spec s = { .family = 4, .proto = 6, .sport = sport, .dport = 80,
			     .tcp_flags = flags, .payload = 74, .df = true };

	s.src[0] = src;
	s.dst[0] = dst ? dst : b->vip;
	xu_build(p, &s);
}

static uint32_t owner(struct bench *b, const struct xu_pkt *p)
{
	struct coop_fwd_tuple t;
	uint32_t s, d;
	uint16_t sp, dp;

	memcpy(&s, p->b + p->l3 + 12, 4);
	memcpy(&d, p->b + p->l3 + 16, 4);
	memcpy(&sp, p->b + p->l3 + 20, 2);
	memcpy(&dp, p->b + p->l3 + 22, 2);
	coop_fwd_tuple_v4(&t, s, d, sp, dp, 6);
	return coop_fwd_maglev_lookup(b->t, coop_fwd_hash(&t));
}

/* --- ns per packet ---------------------------------------------------------------- */

/* One measurement: calls runs of prog over pkts (round robin), each with
 * repeat = 1; every verdict must be want. Returns the median in-kernel
 * duration of one run, ns. */
static double measure(int prog, struct xu_pkt *pkts, size_t npkts, uint32_t calls, uint32_t want,
		      const struct xu_pkt *want_out)
{
	uint32_t *d = malloc(calls * sizeof(*d)), i, m;
	static uint8_t out[4096];

	if (!d)
		die("memory");
	for (i = 0; i < calls; i++) {
		const struct xu_pkt *p = &pkts[i % npkts];
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		if (bpf_prog_test_run_opts(prog, &o))
			die("test_run");
		if (o.retval != want) {
			fprintf(stderr, "xdp_bench: verdict %u, want %u\n", o.retval, want);
			exit(1);
		}
		if (i == 0 && want_out &&
		    (o.data_size_out != want_out->len || memcmp(out, want_out->b, want_out->len)))
			die("encapsulated bytes differ from the expectation");
		d[i] = o.duration;
	}
	qsort(d, calls, sizeof(*d), cmp_u32);
	m = d[calls / 2];
	free(d);
	return m;
}

/* Counter deltas of one measurement must show the intended path. */
static void expect_delta(const uint64_t *a, const uint64_t *b, uint32_t id, uint64_t n)
{
	if (b[id] - a[id] != n) {
		fprintf(stderr, "xdp_bench: counter %s +%llu, want +%llu\n", coop_xdp_counter_name(id),
			(unsigned long long)(b[id] - a[id]), (unsigned long long)n);
		exit(1);
	}
}

/* The replayer of xdp_bench.bpf.o (same layout as there). */
#define REPLAY_LEN 128
#define REPLAY_FLOWS 262144

struct replay_frame {
	uint32_t nflows;             /* flows rotated, 0: none */
	uint32_t pad;                /* zero */
	uint8_t frame[REPLAY_LEN];   /* restored before every run */
};

struct replay_flow {
	uint32_t src;   /* IPv4 source, network order */
	uint16_t sport; /* TCP source port, network order */
	uint16_t pad;   /* zero */
};

struct replayer {
	struct bpf_object *obj; /* xdp_bench.bpf.o */
	int prog;               /* xdp_bench_replay */
	int frame;              /* its frame map */
	int flows;              /* its flow list */
	int seq;                /* its run counter */
	int target;             /* its prog array */
	int ncpu;               /* possible CPUs */
};

/* Warm runs: repeat runs in one test_run, the replayer restoring the frame
 * (and rotating flows when nflows) before each and tail-calling target.
 * Returns the kernel's mean ns per run; *retval is the last verdict, out
 * the last output frame. */
static double replay_run(struct replayer *rp, int target, const struct xu_pkt *p, uint32_t nflows,
			 uint32_t repeat, uint32_t *retval, struct xu_pkt *out)
{
	struct replay_frame fr = { .nflows = nflows };
	uint32_t zero = 0, seq0 = 0;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .repeat = repeat);

	if (p->len != REPLAY_LEN)
		die("replayed frames are 128 bytes");
	memcpy(fr.frame, p->b, REPLAY_LEN);
	if (bpf_map_update_elem(rp->frame, &zero, &fr, BPF_ANY) || bpf_map_update_elem(rp->seq, &zero, &seq0, BPF_ANY) ||
	    bpf_map_update_elem(rp->target, &zero, &target, BPF_ANY))
		die("replayer maps");
	if (bpf_prog_test_run_opts(rp->prog, &o))
		die("test_run (replayer)");
	*retval = o.retval;
	out->len = o.data_size_out;
	return o.duration;
}

/* Plain runs of prog on p, repeat in one test_run: the kernel's mean. */
static double plain_run(int prog, const struct xu_pkt *p, uint32_t repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(prog, &o))
		die("test_run");
	return o.duration;
}

/* The four measured packets, and where the replayer and calibration are. */
struct cases {
	struct xu_pkt pk[4];         /* cached_local, cached_encap, new_flow_syn, non_vip */
	struct xu_pkt want_encap;    /* the encapsulation of pk[1], expected */
	uint32_t nfl;                /* new flows the replayer rotates (pk[2]) */
	struct replayer rp;          /* xdp_bench.bpf.o's replayer */
	struct bpf_object *pass_obj; /* xdp_pass.bpf.o */
	int pass;                    /* its program: the calibration */
};

static const char *const case_names[4] = { "cached_local", "cached_encap", "new_flow_syn",
					   "non_vip" };

/* Load the calibration and the replayer, and build the packets for b's
 * table: a flow of ours, a flow of node 1, SYNs of distinct new flows of
 * node 1 (the replayer rotates them), another address. */
static void cases_setup(struct cases *cs, struct bench *b)
{
	static struct replay_flow fl[REPLAY_FLOWS];
	struct xu_pkt *local = &cs->pk[0], *encap = &cs->pk[1], *synp = &cs->pk[2];
	struct replayer *rp = &cs->rp;
	char path[PATH_MAX + 64];
	uint32_t i, seq = 0;

	xu_object_path(path, sizeof(path), "COOP_XDP_PASS_OBJ", "xdp_pass.bpf.o", 3);
	cs->pass = xu_prog_open(path, "xdp_pass", &cs->pass_obj);
	xu_object_path(path, sizeof(path), "COOP_XDP_BENCH_OBJ", "xdp_bench.bpf.o", 3);
	rp->prog = xu_prog_open(path, "xdp_bench_replay", &rp->obj);
	if (cs->pass < 0 || rp->prog < 0)
		die("cannot load xdp_pass.bpf.o / xdp_bench.bpf.o");
	rp->frame = bpf_map__fd(bpf_object__find_map_by_name(rp->obj, "xdp_bench_frame"));
	rp->flows = bpf_map__fd(bpf_object__find_map_by_name(rp->obj, "xdp_bench_flows"));
	rp->seq = bpf_map__fd(bpf_object__find_map_by_name(rp->obj, "xdp_bench_seq"));
	rp->target = bpf_map__fd(bpf_object__find_map_by_name(rp->obj, "xdp_bench_target"));
	rp->ncpu = b->x.ncpu;
	for (i = 40000; owner(b, (bench_packet(b, local, inet_addr("198.18.200.1"), (uint16_t)i,
						0x10, 0), local)) != NODE_SELF; i++)
		;
	for (i = 40000; owner(b, (bench_packet(b, encap, inet_addr("198.18.200.1"), (uint16_t)i,
						0x10, 0), encap)) != NODE_REMOTE; i++)
		;
	cs->nfl = 0;
	while (cs->nfl < REPLAY_FLOWS) {
		uint32_t src = htonl(0xc612c800u + (seq >> 14)); /* 198.18.200.0 and up */
		uint16_t sport = (uint16_t)(1024 + (seq & 0x3fff));

		bench_packet(b, synp, src, sport, 0x02, 0);
		seq++;
		if (owner(b, synp) != NODE_REMOTE)
			continue;
		fl[cs->nfl].src = src;
		fl[cs->nfl].sport = htons(sport);
		if (bpf_map_update_elem(rp->flows, &cs->nfl, &fl[cs->nfl], BPF_ANY))
			die("flow list");
		cs->nfl++;
	}
	bench_packet(b, &cs->pk[3], inet_addr("198.18.200.1"), 40000, 0x10, inet_addr("198.18.9.9"));
	{
		struct coop_fwd_tuple t;
		struct xu_outer o = { .family = 4, .dmac = b->node[1].dmac, .smac = b->node[1].smac,
				      .dport = 6080 };
		uint32_t s, d;
		uint16_t sp, dp;

		memcpy(&s, encap->b + encap->l3 + 12, 4);
		memcpy(&d, encap->b + encap->l3 + 16, 4);
		memcpy(&sp, encap->b + encap->l3 + 20, 2);
		memcpy(&dp, encap->b + encap->l3 + 22, 2);
		coop_fwd_tuple_v4(&t, s, d, sp, dp, 6);
		o.sport = coop_xdp_gue_sport(coop_fwd_hash(&t));
		o.src[0] = b->cfg.src4;
		o.dst[0] = b->node[1].addr[0];
		xu_encap(&cs->want_encap, encap, &o);
	}
}

static void cases_close(struct cases *cs)
{
	bpf_object__close(cs->rp.obj);
	bpf_object__close(cs->pass_obj);
}

static int run_ns(int rounds, uint32_t calls)
{
	static struct cases cs;
	static struct xu_pkt out, syns[1024];
	struct xu_pkt *local = &cs.pk[0], *synp = &cs.pk[2], *want_encap = &cs.want_encap;
	struct replayer *rp = &cs.rp;
	struct bench b = { 0 };
	char path[PATH_MAX + 64], err[512];
	const char *const *names = case_names;
	double warm[4][64], wcal[4][64], wnet[4][64], cold[4][64], ccal[4][64], cnet[4][64];
	double plain[64];
	uint32_t i, nfl, repeat = 100000;
	int pass, r, c;

	if (rounds > 64)
		rounds = 64;
	xu_object_path(path, sizeof(path), "COOP_XDP_BPF_OBJ", "coop_xdp.bpf.o", 3);
	if (xu_env_open(&b.x, path, err, sizeof(err)))
		die(err);
	bench_setup(&b, xu_mac_router, xu_mac_self);
	cases_setup(&cs, &b);
	pass = cs.pass;
	nfl = cs.nfl;

	for (r = 0; r < rounds; r++) {
		plain[r] = plain_run(pass, local, repeat);
		for (c = 0; c < 4; c++) {
			struct xu_pkt *pk = &cs.pk[c];
			uint32_t nf = c == 2 ? nfl : 0, runs = c == 2 ? nfl : repeat, rv;
			uint32_t want = c == 1 || c == 2 ? 3 /* XDP_TX */ : 2 /* XDP_PASS */;
			uint64_t a[COOP_XDP_CNT_MAX], z[COOP_XDP_CNT_MAX];
			uint32_t verdict = c == 0 ? COOP_XDP_CNT_PASS_LOCAL :
					   c == 3 ? COOP_XDP_CNT_PASS_NOT_VIP : COOP_XDP_CNT_TX_ENCAP;

			/* warm: cached cases start with the flow cached (one
			 * run), the new-flow case with an empty cache */
			xu_map_clear(b.x.flows, sizeof(struct coop_fwd_tuple));
			if (c < 2)
				replay_run(rp, b.x.prog, pk, 0, 1, &rv, &out);
			wcal[c][r] = replay_run(rp, pass, pk, nf, runs, &rv, &out);
			if (rv != 2)
				die("calibration verdict");
			if (xu_counters(&b.x, a))
				die("counters");
			warm[c][r] = replay_run(rp, b.x.prog, pk, nf, runs, &rv, &out);
			if (xu_counters(&b.x, z))
				die("counters");
			if (rv != want)
				die("verdict of the measured runs");
			if (c == 1 && (out.len != want_encap->len || memcmp(out.b, want_encap->b, out.len)))
				die("encapsulated bytes differ from the expectation");
			expect_delta(a, z, verdict, runs);
			if (c < 2)
				expect_delta(a, z, COOP_XDP_CNT_FLOW_HIT, runs);
			if (c == 2) {
				expect_delta(a, z, COOP_XDP_CNT_FLOW_MISS, runs);
				expect_delta(a, z, COOP_XDP_CNT_FLOW_INSERT, runs);
			}
			wnet[c][r] = warm[c][r] - wcal[c][r];

			/* cold: one run per syscall, the calibration likewise */
			xu_map_clear(b.x.flows, sizeof(struct coop_fwd_tuple));
			if (c == 2) {
				for (i = 0; i < 1024; i++) {
					struct replay_flow f;

					if (bpf_map_lookup_elem(rp->flows, &i, &f))
						die("flow list");
					syns[i] = *synp;
					memcpy(syns[i].b + 26, &f.src, 4);
					memcpy(syns[i].b + 34, &f.sport, 2);
				}
				ccal[c][r] = measure(pass, syns, 1024, 1024, 2, NULL);
				cold[c][r] = measure(b.x.prog, syns, 1024, 1024, want, NULL);
			} else {
				if (c < 2)
					measure(b.x.prog, pk, 1, 1, want, NULL);
				ccal[c][r] = measure(pass, pk, 1, calls, 2, NULL);
				cold[c][r] = measure(b.x.prog, pk, 1, calls, want,
						     c == 1 ? want_encap : NULL);
			}
			cnet[c][r] = cold[c][r] - ccal[c][r];
		}
	}
	printf("calib plain_pass_ns=%.1f rounds=%d repeat=%u\n", median_d(plain, rounds), rounds,
	       repeat);
	for (c = 0; c < 4; c++)
		printf("ns case=%s warm_ns=%.1f warm_calib_ns=%.1f net_ns=%.1f cold_ns=%.1f "
		       "cold_calib_ns=%.1f cold_net_ns=%.1f runs=%u\n",
		       names[c], median_d(warm[c], rounds), median_d(wcal[c], rounds),
		       median_d(wnet[c], rounds), median_d(cold[c], rounds), median_d(ccal[c], rounds),
		       median_d(cnet[c], rounds), c == 2 ? nfl : repeat);
	cases_close(&cs);
	coop_fwd_maglev_free(b.t);
	xu_env_close(&b.x);
	return 0;
}

/*
 * ab mode: this build's coop_xdp.bpf.o against another's (an earlier
 * build, its own coop_xdp.h: the configuration only grows at its end, so
 * the same one is written to both), warm runs as in ns mode, alternating
 * the two and the calibration within every round and case so that the
 * machine's drift between recordings (or between processes run one after
 * the other) does not enter the comparison. Only verdicts are checked on
 * the other build (its counters may be numbered differently). Prints
 * medians of each's net ns and of the per-round ratio.
 */
static int run_ab(const char *other, int rounds, int other_first)
{
	static struct cases cs;
	static struct xu_pkt out;
	struct bench b = { 0 }, o = { 0 };
	char path[PATH_MAX + 64], err[512];
	double net[2][4][256], ratio[4][256];
	uint32_t repeat = 100000, rv;
	int r, c, k;

	if (rounds > 256)
		rounds = 256;
	/* the one loaded first runs measurably slower here (where the kernel
	 * puts its maps and code): other_first swaps, and run.sh runs both */
	xu_object_path(path, sizeof(path), "COOP_XDP_BPF_OBJ", "coop_xdp.bpf.o", 3);
	if ((other_first && xu_env_open(&o.x, other, err, sizeof(err))) ||
	    xu_env_open(&b.x, path, err, sizeof(err)) ||
	    (!other_first && xu_env_open(&o.x, other, err, sizeof(err))))
		die(err);
	bench_setup(&b, xu_mac_router, xu_mac_self);
	bench_setup(&o, xu_mac_router, xu_mac_self);
	cases_setup(&cs, &b);
	for (r = 0; r < rounds; r++) {
		for (c = 0; c < 4; c++) {
			struct xu_pkt *pk = &cs.pk[c];
			uint32_t nf = c == 2 ? cs.nfl : 0, runs = c == 2 ? cs.nfl : repeat;
			uint32_t want = c == 1 || c == 2 ? 3 /* XDP_TX */ : 2 /* XDP_PASS */;
			double cal = replay_run(&cs.rp, cs.pass, pk, nf, runs, &rv, &out);

			if (rv != 2)
				die("calibration verdict");
			for (k = 0; k < 2; k++) {
				/* this build first in even rounds, the other in odd ones */
				struct bench *x = (k ^ (r & 1)) ? &o : &b;
				double w;

				xu_map_clear(x->x.flows, sizeof(struct coop_fwd_tuple));
				if (c < 2)
					replay_run(&cs.rp, x->x.prog, pk, 0, 1, &rv, &out);
				w = replay_run(&cs.rp, x->x.prog, pk, nf, runs, &rv, &out);
				if (rv != want)
					die("verdict of the measured runs");
				if (c == 1 && (out.len != cs.want_encap.len ||
					       memcmp(out.b, cs.want_encap.b, out.len)))
					die("encapsulated bytes differ from the expectation");
				net[x == &o][c][r] = w - cal;
			}
			ratio[c][r] = net[0][c][r] / net[1][c][r];
		}
	}
	for (c = 0; c < 4; c++)
		printf("ab case=%s this_ns=%.1f other_ns=%.1f ratio=%.3f rounds=%d\n", case_names[c],
		       median_d(net[0][c], rounds), median_d(net[1][c], rounds),
		       median_d(ratio[c], rounds), rounds);
	cases_close(&cs);
	coop_fwd_maglev_free(b.t);
	coop_fwd_maglev_free(o.t);
	xu_env_close(&b.x);
	xu_env_close(&o.x);
	return 0;
}

/* --- packets per second on veth ---------------------------------------------------- */

/* MAC address of an interface of this namespace. 0 or -1. */
static int if_mac(const char *ifname, uint8_t *mac)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (s < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	rc = ioctl(s, SIOCGIFHWADDR, &ifr);
	close(s);
	if (rc)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* First number of a file (a sysfs counter, /proc/TID/schedstat). */
static uint64_t file_u64(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		die(path);
	if (fscanf(f, "%llu", &v) != 1) {
		fclose(f);
		die(path);
	}
	fclose(f);
	return v;
}

/* A counter of /sys/class/net/IF/statistics. */
static uint64_t if_stat(const char *ifname, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	return file_u64(path);
}

/* Run ifname's NAPI in a kernel thread of its own (on) or, veth's
 * default, in the softirq of the CPU that scheduled it. 0 or -1. */
static int napi_threaded(const char *ifname, int on)
{
	char path[128];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "/sys/class/net/%s/threaded", ifname);
	f = fopen(path, "w");
	if (!f)
		return -1;
	rc = fprintf(f, "%d\n", on) < 0;
	rc |= fclose(f) != 0;
	return rc ? -1 : 0;
}

/* The kernel thread of ifname's NAPI (a veth with one receive queue has
 * one, named napi/IFNAME-ID, cut to 15 characters). tid or -1. */
static pid_t napi_tid(const char *ifname)
{
	char want[32], comm[32], path[300];
	struct dirent *e;
	pid_t found = -1;
	int n = 0;
	DIR *d = opendir("/proc");

	if (!d)
		return -1;
	snprintf(want, sizeof(want), "napi/%s-", ifname);
	want[15] = '\0';
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, want, strlen(want))) {
			found = atoi(e->d_name);
			n++;
		}
		fclose(f);
	}
	closedir(d);
	return n == 1 ? found : -1;
}

/* Pin a thread (0: the caller) to cpu. 0 or -1. */
static int pin(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set);
}

/* Time tid has spent on a CPU, ns (the scheduler's account). */
static uint64_t task_runtime(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)tid);
	return file_u64(path);
}

/* How many times tid was put on a CPU (the third field of schedstat): a
 * NAPI thread runs once per wake-up. */
static uint64_t task_runs(pid_t tid)
{
	unsigned long long run, wait, n;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)tid);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu %llu %llu", &run, &wait, &n) != 3)
		die(path);
	fclose(f);
	return n;
}

/* Per-CPU packets of element key of a PERCPU_ARRAY into v[ncpu]: u64
 * values (the sink), or struct coop_xdp_counter (coop_xdp's counters). */
static void percpu_packets(int map, uint32_t key, int ncpu, int counter, uint64_t *v)
{
	struct coop_xdp_counter c[ncpu];
	uint64_t u[ncpu];
	int i;

	if (bpf_map_lookup_elem(map, &key, counter ? (void *)c : (void *)u))
		die("per-CPU counter");
	for (i = 0; i < ncpu; i++)
		v[i] = counter ? c[i].packets : u[i];
}

static uint64_t sum(const uint64_t *v, int n)
{
	uint64_t s = 0;
	int i;

	for (i = 0; i < n; i++)
		s += v[i];
	return s;
}

/* The veths of the packets-per-second loop and where their work runs. */
struct loop {
	const char *front, *fwd; /* the bouncer's veth, its peer: the forwarder's */
	const char *out, *back;  /* the kernel's way out, its peer (a bouncer too) */
	int front_if, fwd_if;    /* ifindexes of front, fwd */
	int out_if, back_if;     /* ifindexes of out, back */
	int bounce_cpu, fwd_cpu; /* the bouncers' CPU, the forwarder's */
	pid_t fwd_tid;           /* fwd's NAPI thread (two-CPU layout), else 0 */
	pid_t front_tid;         /* front's NAPI thread (two-CPU layout) */
	pid_t back_tid;          /* back's NAPI thread (two-CPU layout) */
	int count_map;           /* xdp_bench_loop_count */
	int loop_map;            /* xdp_bench_loop */
	int ncpu;                /* possible CPUs */
	int sock;                /* AF_PACKET socket on front: puts the frames in */
	uint32_t inflight;       /* frames circulating */
	uint32_t ms;             /* measured time per run */
	struct xu_pkt pkt;       /* the circulating frame */
};

/* Pin the NAPI thread of ifname to cpu; its tid. */
static pid_t napi_pin(const char *ifname, int cpu)
{
	pid_t tid = napi_tid(ifname);

	if (tid < 0 || pin(tid, cpu))
		die("cannot find or pin a veth's NAPI thread");
	return tid;
}

/*
 * Where receive processing runs. one: veth's default, NAPI in the softirq
 * of the CPU that scheduled it: the frames are put in from bounce_cpu and
 * the whole loop (bouncer, veths, forwarder) stays on that CPU, with no
 * hand-off between CPUs. two: every veth's NAPI in a kernel thread, the
 * forwarder's pinned to fwd_cpu (doing the forwarder's work only: veth
 * receive, the XDP program or the kernel's stack, the transmission), the
 * bouncers' to bounce_cpu; each hand-off between them that finds the
 * other side's thread asleep wakes it across CPUs.
 */
static void loop_layout(struct loop *l, int two)
{
	if (napi_threaded(l->fwd, two) || napi_threaded(l->front, two) ||
	    napi_threaded(l->back, two))
		die("cannot switch veth NAPI threading (/sys/class/net/IF/threaded)");
	l->fwd_tid = 0;
	if (!two)
		return;
	l->fwd_tid = napi_pin(l->fwd, l->fwd_cpu);
	l->front_tid = napi_pin(l->front, l->bounce_cpu);
	l->back_tid = napi_pin(l->back, l->bounce_cpu);
}

/* One run's outcome. */
struct loop_run {
	double pps;        /* frames through the loop per second (bounced) */
	uint64_t bounced;  /* bounced in the measured time */
	uint64_t total;    /* bounced from the first frame to the stop */
	double wall_ns;    /* measured time */
	uint64_t fwd_ns;   /* CPU time of fwd's NAPI thread in it (two CPUs) */
	uint64_t wakes;    /* times the bouncers' NAPI threads were woken in it (two CPUs) */
};

static void loop_set(struct loop *l, uint32_t stop)
{
	struct xdp_bench_loop {
		uint32_t stop, back_if, front_if, pad;
	} v = { stop, (uint32_t)l->back_if, (uint32_t)l->front_if, 0 };
	uint32_t zero = 0;

	if (bpf_map_update_elem(l->loop_map, &zero, &v, BPF_ANY))
		die("loop settings");
}

/*
 * Put inflight frames into the loop (from the front veth, as if from a
 * wire), let it settle, count what the bouncers send back in over ms
 * milliseconds, then stop it: the bouncers drop what still arrives, and
 * that must be every frame put in (none lost on the way).
 */
static void loop_run(struct loop *l, struct loop_run *res)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = l->front_if,
				  .sll_halen = 6 };
	uint64_t a[l->ncpu], z[l->ncpu], d0[l->ncpu], d[l->ncpu], c0, c1, t0, t1, r0 = 0, w0 = 0, last = 0;
	int still = 0, tries = 0;
	uint32_t i;

	memcpy(to.sll_addr, l->pkt.b, 6);
	percpu_packets(l->count_map, 0, l->ncpu, 0, a);
	percpu_packets(l->count_map, 1, l->ncpu, 0, d0);
	loop_set(l, 0);
	for (i = 0; i < l->inflight; i++)
		if (sendto(l->sock, l->pkt.b, l->pkt.len, 0, (struct sockaddr *)&to, sizeof(to)) !=
		    (ssize_t)l->pkt.len)
			die("cannot put a frame into the loop (AF_PACKET send)");
	usleep(200000);
	percpu_packets(l->count_map, 0, l->ncpu, 0, z);
	c0 = sum(z, l->ncpu);
	if (l->fwd_tid) {
		r0 = task_runtime(l->fwd_tid);
		w0 = task_runs(l->front_tid) + task_runs(l->back_tid);
	}
	t0 = now_ns();
	usleep(l->ms * 1000);
	percpu_packets(l->count_map, 0, l->ncpu, 0, z);
	t1 = now_ns();
	c1 = sum(z, l->ncpu);
	res->fwd_ns = l->fwd_tid ? task_runtime(l->fwd_tid) - r0 : 0;
	res->wakes = l->fwd_tid ? task_runs(l->front_tid) + task_runs(l->back_tid) - w0 : 0;
	loop_set(l, 1);
	/* drained when the drop count holds still; at most a second */
	while (still < 5 && tries++ < 1000) {
		uint64_t n;

		usleep(1000);
		percpu_packets(l->count_map, 1, l->ncpu, 0, d);
		n = sum(d, l->ncpu) - sum(d0, l->ncpu);
		still = n == last ? still + 1 : 0;
		last = n;
	}
	percpu_packets(l->count_map, 0, l->ncpu, 0, z);
	res->bounced = c1 - c0;
	res->total = sum(z, l->ncpu) - sum(a, l->ncpu);
	res->wall_ns = (double)(t1 - t0);
	res->pps = (double)res->bounced / (res->wall_ns / 1e9);
	if (last != l->inflight) {
		fprintf(stderr, "xdp_bench: the loop lost frames: %llu of %u came back\n",
			(unsigned long long)last, l->inflight);
		exit(1);
	}
	/* every bounce on the bouncers' CPU: the layout held */
	if (z[l->bounce_cpu] - a[l->bounce_cpu] != res->total) {
		fprintf(stderr, "xdp_bench: %llu of %llu bounces ran off CPU %d\n",
			(unsigned long long)(res->total - (z[l->bounce_cpu] - a[l->bounce_cpu])),
			(unsigned long long)res->total, l->bounce_cpu);
		exit(1);
	}
	if (res->bounced < 1000)
		die("the loop did not run");
}

/* A: coop_xdp encapsulates and transmits back out of fwd. Each frame
 * went round as often as it was encapsulated, less its last trip (it
 * ended at a bouncer), on the forwarder's CPU, with no other verdict. */
static void run_xdp(struct loop *l, struct bench *b, struct loop_run *r)
{
	uint64_t a[COOP_XDP_CNT_MAX], z[COOP_XDP_CNT_MAX], ea[l->ncpu], ez[l->ncpu], enc, all = 0;
	int cpu = l->fwd_tid ? l->fwd_cpu : l->bounce_cpu;
	uint32_t id;

	if (bpf_xdp_attach(l->fwd_if, b->x.prog, XDP_FLAGS_DRV_MODE, NULL))
		die("attach coop_xdp");
	xu_map_clear(b->x.flows, sizeof(struct coop_fwd_tuple));
	if (xu_counters(&b->x, a))
		die("counters");
	percpu_packets(b->x.stats, COOP_XDP_CNT_TX_ENCAP, l->ncpu, 1, ea);
	loop_run(l, r);
	if (xu_counters(&b->x, z))
		die("counters");
	percpu_packets(b->x.stats, COOP_XDP_CNT_TX_ENCAP, l->ncpu, 1, ez);
	enc = z[COOP_XDP_CNT_TX_ENCAP] - a[COOP_XDP_CNT_TX_ENCAP];
	for (id = 0; id < COOP_XDP_CNT_FLOW_HIT; id++)
		all += z[id] - a[id];
	if (all != enc || enc != r->total + l->inflight || ez[cpu] - ea[cpu] != enc) {
		fprintf(stderr, "xdp_bench: xdp run: %llu packets, %llu encapsulated (%llu on CPU %d), "
				"%llu bounced, %u in flight\n",
			(unsigned long long)all, (unsigned long long)enc,
			(unsigned long long)(ez[cpu] - ea[cpu]), cpu, (unsigned long long)r->total,
			l->inflight);
		exit(1);
	}
}

/* B: XDP_PASS, the kernel forwards out of the other veth; nothing is
 * dropped on the way out (and loop_run saw every frame come back). */
static void run_kernel(struct loop *l, int pass, struct loop_run *r)
{
	uint64_t drop = if_stat(l->out, "tx_dropped");

	if (bpf_xdp_attach(l->fwd_if, pass, XDP_FLAGS_DRV_MODE, NULL))
		die("attach xdp_pass");
	loop_run(l, r);
	drop = if_stat(l->out, "tx_dropped") - drop;
	if (drop) {
		fprintf(stderr, "xdp_bench: kernel run: %llu dropped on the way out\n",
			(unsigned long long)drop);
		exit(1);
	}
}

/* C: the reflector, frames sent straight back from fwd. */
static void run_reflect(struct loop *l, int refl_prog, struct loop_run *r)
{
	if (bpf_xdp_attach(l->fwd_if, refl_prog, XDP_FLAGS_DRV_MODE, NULL))
		die("attach the reflector");
	loop_run(l, r);
}

/* Figures of one layout, per round. */
struct loop_fig {
	double xdp[64], kern[64], refl[64];     /* Mpps through the loop */
	double ratio[64];                       /* xdp / kern */
	double fxdp[64], fkern[64], fratio[64]; /* one CPU: ns above the reflector */
	double cxdp[64], ckern[64], crefl[64];  /* two CPUs: forwarder CPU ns/packet */
	double bxdp[64], bkern[64], brefl[64];  /* two CPUs: forwarder CPU busy, % */
	double wxdp[64], wkern[64], wrefl[64];  /* two CPUs: bouncer wake-ups per 1000 frames */
};

static void fig_round(struct loop_fig *f, int r, const struct loop_run *x, const struct loop_run *k,
		      const struct loop_run *c)
{
	const struct loop_run *run[3] = { x, k, c };
	double *ns[3] = { f->cxdp, f->ckern, f->crefl }, *busy[3] = { f->bxdp, f->bkern, f->brefl };
	double *wakes[3] = { f->wxdp, f->wkern, f->wrefl };
	int i;

	f->xdp[r] = x->pps / 1e6;
	f->kern[r] = k->pps / 1e6;
	f->refl[r] = c->pps / 1e6;
	f->ratio[r] = x->pps / k->pps;
	f->fxdp[r] = 1e9 / x->pps - 1e9 / c->pps;
	f->fkern[r] = 1e9 / k->pps - 1e9 / c->pps;
	f->fratio[r] = f->fkern[r] / f->fxdp[r];
	for (i = 0; i < 3; i++) {
		ns[i][r] = (double)run[i]->fwd_ns / (double)run[i]->bounced;
		busy[i][r] = 100.0 * (double)run[i]->fwd_ns / run[i]->wall_ns;
		wakes[i][r] = 1000.0 * (double)run[i]->wakes / (double)run[i]->bounced;
	}
}

/* Smallest and largest of v[n]. */
static void range_d(const double *v, int n, double *lo, double *hi)
{
	int i;

	*lo = *hi = v[0];
	for (i = 1; i < n; i++) {
		*lo = v[i] < *lo ? v[i] : *lo;
		*hi = v[i] > *hi ? v[i] : *hi;
	}
}

static void print_fig(const char *name, struct loop_fig *f, int rounds, int two)
{
	double lo, hi;

	range_d(f->ratio, rounds, &lo, &hi);
	printf("pps layout=%s rounds=%d xdp_mpps=%.2f kernel_mpps=%.2f ratio=%.2f ratio_min=%.2f "
	       "ratio_max=%.2f reflect_mpps=%.2f",
	       name, rounds, median_d(f->xdp, rounds), median_d(f->kern, rounds),
	       median_d(f->ratio, rounds), lo, hi, median_d(f->refl, rounds));
	if (two)
		printf(" xdp_cpu_ns=%.1f kernel_cpu_ns=%.1f reflect_cpu_ns=%.1f xdp_busy=%.0f "
		       "kernel_busy=%.0f reflect_busy=%.0f xdp_wakes=%.1f kernel_wakes=%.1f "
		       "reflect_wakes=%.1f",
		       median_d(f->cxdp, rounds), median_d(f->ckern, rounds),
		       median_d(f->crefl, rounds), median_d(f->bxdp, rounds),
		       median_d(f->bkern, rounds), median_d(f->brefl, rounds),
		       median_d(f->wxdp, rounds), median_d(f->wkern, rounds), median_d(f->wrefl, rounds));
	else
		printf(" xdp_fwd_ns=%.1f kernel_fwd_ns=%.1f fwd_ratio=%.2f", median_d(f->fxdp, rounds),
		       median_d(f->fkern, rounds), median_d(f->fratio, rounds));
	printf("\n");
}

static int run_loop(const char *front, const char *fwd, const char *out, const char *back,
		    int rounds, uint32_t inflight, uint32_t ms)
{
	static struct loop_fig fig[2];
	struct loop l = { .front = front, .fwd = fwd, .out = out, .back = back, .bounce_cpu = 0,
			  .fwd_cpu = 1, .inflight = inflight, .ms = ms };
	uint8_t front_mac[6], fwd_mac[6];
	struct bpf_object *pass_obj, *bench_obj;
	struct bench b = { 0 };
	char path[PATH_MAX + 64], err[512];
	int pass, refl_prog, bounce_prog, r, two;
	uint32_t i;

	l.front_if = (int)if_nametoindex(front);
	l.fwd_if = (int)if_nametoindex(fwd);
	l.out_if = (int)if_nametoindex(out);
	l.back_if = (int)if_nametoindex(back);
	if (!l.front_if || !l.fwd_if || !l.out_if || !l.back_if || if_mac(front, front_mac) ||
	    if_mac(fwd, fwd_mac))
		die("interfaces missing (run inside bench/xdp/run.sh's namespace)");
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		die("the two-CPU layout needs two CPUs online");
	/* a veth receive ring holds 256 frames: all of them must fit in one */
	if (inflight < 1 || inflight > 192)
		die("frames in flight: 1 to 192");
	if (rounds > 64)
		rounds = 64;
	xu_object_path(path, sizeof(path), "COOP_XDP_BPF_OBJ", "coop_xdp.bpf.o", 3);
	if (xu_env_open(&b.x, path, err, sizeof(err)))
		die(err);
	l.ncpu = b.x.ncpu;
	xu_object_path(path, sizeof(path), "COOP_XDP_PASS_OBJ", "xdp_pass.bpf.o", 3);
	pass = xu_prog_open(path, "xdp_pass", &pass_obj);
	xu_object_path(path, sizeof(path), "COOP_XDP_BENCH_OBJ", "xdp_bench.bpf.o", 3);
	bounce_prog = xu_prog_open(path, "xdp_bench_bounce", &bench_obj);
	if (pass < 0 || bounce_prog < 0)
		die("cannot load xdp_pass.bpf.o / xdp_bench.bpf.o");
	l.count_map = bpf_map__fd(bpf_object__find_map_by_name(bench_obj, "xdp_bench_loop_count"));
	l.loop_map = bpf_map__fd(bpf_object__find_map_by_name(bench_obj, "xdp_bench_loop"));
	refl_prog = bpf_program__fd(bpf_object__find_program_by_name(bench_obj, "xdp_bench_reflect"));
	/* encapsulated packets go back out of fwd, to the front veth */
	bench_setup(&b, front_mac, fwd_mac);

	/* a flow of node 1, addressed to the forwarder's MAC so the kernel
	 * accepts it too; from 198.18.1.2, the front side's subnet */
	for (i = 40000;; i++) {
		bench_packet(&b, &l.pkt, inet_addr("198.18.1.2"), (uint16_t)i, 0x10, 0);
		if (owner(&b, &l.pkt) == NODE_REMOTE)
			break;
	}
	memcpy(l.pkt.b, fwd_mac, 6);
	memcpy(l.pkt.b + 6, front_mac, 6);
	{
		/* the bouncers restore this frame before sending it in again */
		struct replay_frame fr = { 0 };
		uint32_t zero = 0;
		int fd = bpf_map__fd(bpf_object__find_map_by_name(bench_obj, "xdp_bench_frame"));

		if (l.pkt.len != REPLAY_LEN)
			die("circulating frames are 128 bytes");
		memcpy(fr.frame, l.pkt.b, REPLAY_LEN);
		if (bpf_map_update_elem(fd, &zero, &fr, BPF_ANY))
			die("bouncer frame");
	}
	l.sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (l.sock < 0)
		die("AF_PACKET socket");

	/* the bouncers, and a program on fwd from now on: veth has NAPI (and
	 * so a thread to pin) only while one is attached; replacing it keeps it */
	if (bpf_xdp_attach(l.front_if, bounce_prog, XDP_FLAGS_DRV_MODE, NULL) ||
	    bpf_xdp_attach(l.back_if, bounce_prog, XDP_FLAGS_DRV_MODE, NULL) ||
	    bpf_xdp_attach(l.fwd_if, pass, XDP_FLAGS_DRV_MODE, NULL))
		die("attach the bouncers (native XDP on veth)");
	/* the frames are put in from here: with one CPU the loop runs here */
	if (pin(0, l.bounce_cpu))
		die("cannot pin the bench");
	for (r = 0; r < rounds; r++) {
		for (two = 1; two >= 0; two--) {
			struct loop_run x, k, c;

			loop_layout(&l, two);
			run_xdp(&l, &b, &x);
			run_kernel(&l, pass, &k);
			run_reflect(&l, refl_prog, &c);
			fig_round(&fig[two], r, &x, &k, &c);
		}
	}
	bpf_xdp_detach(l.fwd_if, XDP_FLAGS_DRV_MODE, NULL);
	bpf_xdp_detach(l.front_if, XDP_FLAGS_DRV_MODE, NULL);
	bpf_xdp_detach(l.back_if, XDP_FLAGS_DRV_MODE, NULL);
	close(l.sock);
	printf("loop inflight=%u ms=%u bounce_cpu=%d fwd_cpu=%d\n", inflight, ms, l.bounce_cpu,
	       l.fwd_cpu);
	print_fig("two", &fig[1], rounds, 1);
	print_fig("one", &fig[0], rounds, 0);
	bpf_object__close(bench_obj);
	bpf_object__close(pass_obj);
	coop_fwd_maglev_free(b.t);
	xu_env_close(&b.x);
	return 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(xu_libbpf_print);
	if (geteuid() != 0)
		die("needs root (BPF programs)");
	if (argc >= 2 && !strcmp(argv[1], "ns"))
		return run_ns(argc > 2 ? atoi(argv[2]) : 7, argc > 3 ? (uint32_t)atoi(argv[3]) : 20000);
	if (argc >= 3 && !strcmp(argv[1], "ab"))
		return run_ab(argv[2], argc > 3 ? atoi(argv[3]) : 15,
			      argc > 4 && !strcmp(argv[4], "other-first"));
	if (argc >= 6 && !strcmp(argv[1], "loop"))
		return run_loop(argv[2], argv[3], argv[4], argv[5], argc > 6 ? atoi(argv[6]) : 5,
				argc > 7 ? (uint32_t)atoi(argv[7]) : 128,
				argc > 8 ? (uint32_t)atoi(argv[8]) : 1000);
	fprintf(stderr, "usage: xdp_bench ns [ROUNDS [CALLS]]\n"
			"       xdp_bench ab OTHER_COOP_XDP_BPF_O [ROUNDS [other-first]]\n"
			"       xdp_bench loop FRONT_IF FWD_IF OUT_IF BACK_IF [ROUNDS [INFLIGHT [MS]]]\n");
	return 2;
}
