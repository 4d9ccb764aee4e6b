/* bpf_test.c - the BPF build of coop_fwd_lookup.h agrees with userspace: lookup_check.bpf.o runs on crafted packets through bpf_prog_test_run. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "tests/unit/fwd/fwd_test_util.h"

/*
 * libcoop does not link libbpf (the Makefile's LDLIBS), so this test opens
 * libbpf.so.1 at run time; the prototypes still come from its headers.
 */
static struct {
	__typeof__(&bpf_object__open_file) open_file;            /* parse the ELF object */
	__typeof__(&bpf_object__load) load;                      /* create maps, verify, load */
	__typeof__(&bpf_object__close) close;                    /* unload and free */
	__typeof__(&bpf_object__find_program_by_name) find_prog; /* program by name */
	__typeof__(&bpf_object__find_map_by_name) find_map;      /* map by name */
	__typeof__(&bpf_program__fd) prog_fd;                    /* program fd */
	__typeof__(&bpf_map__fd) map_fd;                         /* map fd */
	__typeof__(&bpf_map_update_elem) update;                 /* write a map element */
	__typeof__(&bpf_map_lookup_elem) lookup;                 /* read a map element */
	__typeof__(&bpf_prog_test_run_opts) test_run;            /* run on a crafted packet */
} lb;

/* Same layout as in fwd/bpf/lookup_check.bpf.c. */
struct lookup_check_result {
	struct coop_fwd_tuple tuple; /* parsed flow */
	uint32_t kind;               /* 1 ports, 2 no ports, 3 fragment */
	uint32_t hash;               /* steering hash */
	uint32_t slot;               /* Maglev slot */
	uint32_t backend;            /* table entry */
	uint32_t frag_id;            /* IP ID of a fragment */
	uint32_t pad;                /* zero */
};

struct env {
	struct bpf_object *obj;      /* loaded lookup_check.bpf.o */
	int prog;                    /* program fd */
	int last;                    /* lookup_check_last map fd */
	struct coop_fwd_maglev *t;   /* the same table as in lookup_check_table */
	struct tu_set set;           /* its backends */
};

#define LOAD(field, name)                                        \
	do {                                                     \
		*(void **)&lb.field = dlsym(h, name);            \
		if (!lb.field) {                                 \
			print_error("libbpf: no symbol %s\n", name); \
			return -1;                               \
		}                                                \
	} while (0)

static int libbpf_open(void)
{
	void *h = dlopen("libbpf.so.1", RTLD_NOW);

	if (!h) {
		print_error("dlopen libbpf.so.1: %s (install libbpf1)\n", dlerror());
		return -1;
	}
	LOAD(open_file, "bpf_object__open_file");
	LOAD(load, "bpf_object__load");
	LOAD(close, "bpf_object__close");
	LOAD(find_prog, "bpf_object__find_program_by_name");
	LOAD(find_map, "bpf_object__find_map_by_name");
	LOAD(prog_fd, "bpf_program__fd");
	LOAD(map_fd, "bpf_map__fd");
	LOAD(update, "bpf_map_update_elem");
	LOAD(lookup, "bpf_map_lookup_elem");
	LOAD(test_run, "bpf_prog_test_run_opts");
	return 0;
}

/* $B/tests/unit/fwd/bpf_test -> $B/fwd/bpf/lookup_check.bpf.o, unless
 * COOP_FWD_BPF_OBJ names it. */
static void object_path(char *buf, size_t len)
{
	const char *env = getenv("COOP_FWD_BPF_OBJ");
	char exe[PATH_MAX];
	ssize_t n;
	int i;

	if (env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	for (i = 0; i < 4; i++) {
		char *slash = strrchr(exe, '/');

		if (slash)
			*slash = '\0';
	}
	snprintf(buf, len, "%s/fwd/bpf/lookup_check.bpf.o", exe);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char path[PATH_MAX + 64], err[256];
	const uint32_t *entries;
	uint32_t m, i;
	int tfd;

	if (geteuid() != 0) {
		print_message("not root: BPF programs cannot be loaded; test skipped\n");
		free(e);
		*state = NULL;
		return 0;
	}
	if (libbpf_open())
		return -1;
	object_path(path, sizeof(path));
	if (access(path, R_OK)) {
		print_error("%s: %s (build it: make B=... .../fwd/bpf/lookup_check.bpf.o)\n", path,
			    strerror(errno));
		return -1;
	}
	e->obj = lb.open_file(path, NULL);
	if (!e->obj || lb.load(e->obj)) {
		print_error("%s: cannot load: %s\n", path, strerror(errno));
		return -1;
	}
	e->prog = lb.prog_fd(lb.find_prog(e->obj, "lookup_check"));
	e->last = lb.map_fd(lb.find_map(e->obj, "lookup_check_last"));
	tfd = lb.map_fd(lb.find_map(e->obj, "lookup_check_table"));
	if (e->prog < 0 || e->last < 0 || tfd < 0)
		return -1;

	/* 37 backends, weights 1..3, some ids sparse: the table the XDP
	 * program will consult is the userspace build, copied in */
	for (i = 0; i < 37; i++)
		tu_add(&e->set, 0xc6120200u + i, 2049, i * 7 + 1, 1 + i % 3);
	if (coop_fwd_maglev_build(NULL, e->set.b, e->set.n, &e->t, err, sizeof(err))) {
		print_error("build: %s\n", err);
		return -1;
	}
	entries = coop_fwd_maglev_entries(e->t, &m);
	for (i = 0; i < m; i++)
		if (lb.update(tfd, &i, &entries[i], BPF_ANY))
			return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	coop_fwd_maglev_free(e->t);
	lb.close(e->obj);
	free(e);
	return 0;
}

/* Packet builder: Ethernet (+ optional 802.1Q), IPv4 or IPv6 (+ fragment
 * header), 8 bytes of L4 header when ports are present. */
struct pkt {
	uint8_t b[256]; /* bytes */
	size_t len;     /* used */
};

static void put(struct pkt *p, const void *d, size_t n)
{
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static void eth(struct pkt *p, uint16_t type, bool vlan)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };
	uint16_t v[2] = { htons(0x8100), htons(42) };
	uint16_t t = htons(type);

	p->len = 0;
	put(p, macs, 12);
	if (vlan)
		put(p, v, 4);
	put(p, &t, 2);
}

static void ipv4(struct pkt *p, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
		 uint16_t frag, bool vlan)
{
	uint8_t h[20] = { 0x45, 0, 0, 48 };

	eth(p, 0x0800, vlan);
	h[4] = (uint8_t)(id >> 8);
	h[5] = (uint8_t)id;
	h[6] = (uint8_t)(frag >> 8);
	h[7] = (uint8_t)frag;
	h[8] = 64;
	h[9] = proto;
	memcpy(h + 12, &src, 4);
	memcpy(h + 16, &dst, 4);
	put(p, h, 20);
}

static void ipv6(struct pkt *p, const uint32_t *src, const uint32_t *dst, uint8_t proto,
		 bool frag, uint32_t id, uint16_t off_m)
{
	uint8_t h[40] = { 0x60, 0, 0, 0, 0, 48, frag ? 44 : proto, 64 };

	eth(p, 0x86dd, false);
	memcpy(h + 8, src, 16);
	memcpy(h + 24, dst, 16);
	put(p, h, 40);
	if (frag) {
		uint8_t f[8] = { proto, 0, (uint8_t)(off_m >> 8), (uint8_t)off_m };
		uint32_t nid = htonl(id);

		memcpy(f + 4, &nid, 4);
		put(p, f, 8);
	}
}

static void l4(struct pkt *p, uint16_t sport, uint16_t dport)
{
	uint16_t w[4] = { htons(sport), htons(dport), 0, 0 };

	put(p, w, 8);
}

/* Run the program on p; its record must match the userspace view of t. */
static void check(struct env *e, struct pkt *p, const struct coop_fwd_tuple *t, uint32_t kind,
		  uint32_t frag_id)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .repeat = 1);
	struct lookup_check_result r, clear = { 0 };
	uint32_t zero = 0, hash;

	assert_int_equal(lb.update(e->last, &zero, &clear, BPF_ANY), 0);
	assert_int_equal(lb.test_run(e->prog, &opts), 0);
	assert_int_equal(opts.retval, 2 /* XDP_PASS */);
	assert_int_equal(lb.lookup(e->last, &zero, &r), 0);
	assert_int_equal(r.kind, kind);
	assert_memory_equal(&r.tuple, t, sizeof(*t));
	hash = kind == 3 ? coop_fwd_frag_hash(t) : coop_fwd_hash(t);
	assert_int_equal(r.hash, hash);
	assert_int_equal(r.slot, coop_fwd_maglev_slot(hash, COOP_FWD_M_DEFAULT));
	assert_int_equal(r.backend, coop_fwd_maglev_lookup(e->t, hash));
	assert_int_equal(r.frag_id, frag_id);
}

static void test_fixed_packets(void **state)
{
	struct env *e = *state;
	uint32_t s4 = htonl(0xc6120001u), d4 = htonl(0xc6130005u);
	uint32_t s6[4] = { htonl(0x20010db8u), 0, 0, htonl(0x11) };
	uint32_t d6[4] = { htonl(0x20010db8u), htonl(0xff), 0, htonl(0x22) };
	struct coop_fwd_tuple t;
	struct pkt p;

	if (!e)
		skip();
	/* IPv4 TCP and UDP, plain and behind a VLAN tag */
	ipv4(&p, s4, d4, 6, 1, 0, false);
	l4(&p, 40000, 2049);
	coop_fwd_tuple_v4(&t, s4, d4, htons(40000), htons(2049), 6);
	check(e, &p, &t, 1, 0);
	ipv4(&p, s4, d4, 17, 1, 0, true);
	l4(&p, 700, 111);
	coop_fwd_tuple_v4(&t, s4, d4, htons(700), htons(111), 17);
	check(e, &p, &t, 1, 0);
	/* ICMP: 3-tuple */
	ipv4(&p, s4, d4, 1, 1, 0, false);
	l4(&p, 0x0800, 0);
	coop_fwd_tuple_v4(&t, s4, d4, 0, 0, 1);
	check(e, &p, &t, 2, 0);
	/* IPv4 first fragment (MF, ports present) and a later one: 3-tuple */
	ipv4(&p, s4, d4, 17, 0x1234, 0x2000, false);
	l4(&p, 700, 2049);
	coop_fwd_tuple_v4(&t, s4, d4, 0, 0, 17);
	check(e, &p, &t, 3, 0x1234);
	ipv4(&p, s4, d4, 17, 0x1234, 0x00b9, false);
	l4(&p, 0xdead, 0xbeef);
	check(e, &p, &t, 3, 0x1234);
	/* IPv6 TCP, UDP, GRE, and fragments */
	ipv6(&p, s6, d6, 6, false, 0, 0);
	l4(&p, 50000, 445);
	coop_fwd_tuple_v6(&t, s6, d6, htons(50000), htons(445), 6);
	check(e, &p, &t, 1, 0);
	ipv6(&p, s6, d6, 17, false, 0, 0);
	l4(&p, 5353, 53);
	coop_fwd_tuple_v6(&t, s6, d6, htons(5353), htons(53), 17);
	check(e, &p, &t, 1, 0);
	ipv6(&p, s6, d6, 47, false, 0, 0);
	l4(&p, 1, 2);
	coop_fwd_tuple_v6(&t, s6, d6, 0, 0, 47);
	check(e, &p, &t, 2, 0);
	ipv6(&p, s6, d6, 17, true, 0xabcdef01u, 0x0001);
	l4(&p, 5353, 53);
	coop_fwd_tuple_v6(&t, s6, d6, 0, 0, 17);
	check(e, &p, &t, 3, 0xabcdef01u);
	ipv6(&p, s6, d6, 17, true, 0xabcdef01u, 0x0170);
	check(e, &p, &t, 3, 0xabcdef01u);
}

/* 400 random flows, v4 and v6, TCP and UDP. */
static void test_random_flows(void **state)
{
	struct env *e = *state;
	uint64_t rng = 41;
	int i;

	if (!e)
		skip();
	for (i = 0; i < 400; i++) {
		uint8_t proto = i & 1 ? 6 : 17;
		uint16_t sp = (uint16_t)tu_rand(&rng), dp = (uint16_t)tu_rand(&rng);
		struct coop_fwd_tuple t;
		struct pkt p;

		if (i & 2) {
			uint32_t s6[4], d6[4];
			int j;

			for (j = 0; j < 4; j++) {
				s6[j] = (uint32_t)tu_rand(&rng);
				d6[j] = (uint32_t)tu_rand(&rng);
			}
			ipv6(&p, s6, d6, proto, false, 0, 0);
			coop_fwd_tuple_v6(&t, s6, d6, htons(sp), htons(dp), proto);
		} else {
			uint32_t s4 = (uint32_t)tu_rand(&rng), d4 = (uint32_t)tu_rand(&rng);

			ipv4(&p, s4, d4, proto, 1, 0, i & 4);
			coop_fwd_tuple_v4(&t, s4, d4, htons(sp), htons(dp), proto);
		}
		l4(&p, sp, dp);
		check(e, &p, &t, 1, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_packets),
		cmocka_unit_test(test_random_flows),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
