/* rpc_portmap_test.c - the per-VS portmapper: its registry (owners, limits)
 * and every procedure and error reply of program 100000 version 2 (versions
 * 3 and 4 are in rpc_rpcbind_test.c), driven
 * with hand-built call messages and checked word by word; malformed,
 * truncated and random input never crash and are counted. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "vs/rpc.h"

/* A hand-built message: big-endian words appended one by one. */
struct msg {
	uint8_t b[1024]; /* bytes */
	size_t n;	 /* used */
};

static void w32(struct msg *m, uint32_t v)
{
	assert_true(m->n + 4 <= sizeof(m->b));
	m->b[m->n++] = v >> 24;
	m->b[m->n++] = v >> 16;
	m->b[m->n++] = v >> 8;
	m->b[m->n++] = v;
}

/* A call with AUTH_NONE credential and verifier, no arguments yet. */
static void call(struct msg *m, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc)
{
	m->n = 0;
	w32(m, xid);
	w32(m, 0);
	w32(m, 2);
	w32(m, prog);
	w32(m, vers);
	w32(m, proc);
	w32(m, 0);
	w32(m, 0);
	w32(m, 0);
	w32(m, 0);
}

static void mapping(struct msg *m, uint32_t prog, uint32_t vers, uint32_t prot, uint32_t port)
{
	w32(m, prog);
	w32(m, vers);
	w32(m, prot);
	w32(m, port);
}

/* A reply, read back word by word. */
struct reply {
	uint8_t b[COOP_PMAP_REPLY_MAX]; /* bytes */
	size_t n;			/* length */
	size_t off;			/* next word */
};

static uint32_t r32(struct reply *r)
{
	uint32_t v;

	assert_true(r->off + 4 <= r->n);
	v = (uint32_t)r->b[r->off] << 24 | (uint32_t)r->b[r->off + 1] << 16 |
	    (uint32_t)r->b[r->off + 2] << 8 | r->b[r->off + 3];
	r->off += 4;
	return v;
}

static void handle(struct coop_rpc_reg *reg, const struct msg *m, bool local, struct reply *r)
{
	r->off = 0;
	r->n = coop_pmap_handle(reg, m->b, m->n, local, r->b, sizeof(r->b));
}

/* An accepted reply to xid with stat; the reply is left at the results. */
static void expect_accepted(struct reply *r, uint32_t xid, uint32_t stat)
{
	assert_true(r->n >= 24);
	assert_int_equal(r32(r), xid);
	assert_int_equal(r32(r), 1); /* REPLY */
	assert_int_equal(r32(r), 0); /* MSG_ACCEPTED */
	assert_int_equal(r32(r), 0); /* verifier AUTH_NONE */
	assert_int_equal(r32(r), 0); /* empty */
	assert_int_equal(r32(r), stat);
}

static uint64_t stat_of(const _Atomic uint64_t *c)
{
	return atomic_load(c);
}

static int setup(void **state)
{
	struct coop_rpc_reg *reg = coop_rpc_reg_new();
	struct coop_rpc_mapping self[2] = {
	    {100000, 2, IPPROTO_TCP, 111},
	    {100000, 2, IPPROTO_UDP, 111},
	};

	assert_non_null(reg);
	assert_int_equal(coop_rpc_reg_set(reg, &self[0], COOP_RPC_OWNER_CONFIG), 0);
	assert_int_equal(coop_rpc_reg_set(reg, &self[1], COOP_RPC_OWNER_CONFIG), 0);
	*state = reg;
	return 0;
}

static int teardown(void **state)
{
	coop_rpc_reg_free(*state);
	return 0;
}

/* --- registry ------------------------------------------------------------------ */

static void test_reg_set_unset(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct coop_rpc_mapping nfs3 = {100003, 3, IPPROTO_TCP, 2049};
	struct coop_rpc_mapping bad = {100003, 3, 1, 2049};
	struct coop_rpc_mapping out[8];

	assert_int_equal(coop_rpc_reg_set(reg, &nfs3, COOP_RPC_OWNER_APP), 0);
	assert_int_equal(coop_rpc_reg_set(reg, &nfs3, COOP_RPC_OWNER_APP), -EEXIST);
	nfs3.port = 2050; /* another port for the same triple: still taken */
	assert_int_equal(coop_rpc_reg_set(reg, &nfs3, COOP_RPC_OWNER_NET), -EEXIST);
	assert_int_equal(coop_rpc_reg_set(reg, &bad, COOP_RPC_OWNER_APP), -EINVAL);
	bad.prot = IPPROTO_UDP;
	bad.port = 0;
	assert_int_equal(coop_rpc_reg_set(reg, &bad, COOP_RPC_OWNER_APP), -EINVAL);
	bad.port = 65536;
	assert_int_equal(coop_rpc_reg_set(reg, &bad, COOP_RPC_OWNER_APP), -EINVAL);
	assert_int_equal(coop_rpc_reg_port(reg, 100003, 3, IPPROTO_TCP), 2049);
	assert_int_equal(coop_rpc_reg_port(reg, 100003, 3, IPPROTO_UDP), 0);
	assert_int_equal(coop_rpc_reg_port(reg, 100003, 4, IPPROTO_TCP), 0);
	assert_int_equal(coop_rpc_reg_dump(reg, out, 8), 3);
	assert_int_equal(out[2].prog, 100003);
	assert_int_equal(coop_rpc_reg_dump(reg, out, 1), 3); /* total, even if cut */
	/* Owners: a remote UNSET cannot take what the application set, nor
	 * the configuration's. */
	assert_int_equal(coop_rpc_reg_unset(reg, 100003, 3, 1u << COOP_RPC_OWNER_NET), 0);
	assert_int_equal(
	    coop_rpc_reg_unset(reg, 100000, 2, 1u << COOP_RPC_OWNER_APP | 1u << COOP_RPC_OWNER_NET),
	    0);
	assert_int_equal(coop_rpc_reg_unset(reg, 100003, 3, 1u << COOP_RPC_OWNER_APP), 1);
	assert_int_equal(coop_rpc_reg_dump(reg, out, 8), 2);
	assert_int_equal(out[0].port, 111);
}

/* Network SETs have a share of their own: once it is full they are
 * refused, while the application and the configuration still get all of
 * theirs, and take a network mapping's place for the same triple. */
static void test_reg_limit(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct coop_rpc_mapping m = {300000, 1, IPPROTO_UDP, 1000};
	uint32_t i;

	for (i = 0; i < COOP_RPC_NET_MAPPINGS_MAX; i++) {
		m.prog = 300000 + i;
		assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_NET), 0);
	}
	m.prog = 1;
	assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_NET), -ENOSPC);
	/* The application's program a network SET took first: replaced. */
	m.prog = 300000;
	m.port = 2000;
	assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_APP), 0);
	assert_int_equal(coop_rpc_reg_port(reg, 300000, 1, IPPROTO_UDP), 2000);
	assert_int_equal(coop_rpc_reg_unset(reg, 300000, 1, 1u << COOP_RPC_OWNER_NET), 0);
	/* ... which freed one network place. */
	m.prog = 1;
	assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_NET), 0);
	assert_int_equal(coop_rpc_reg_set(reg, &(struct coop_rpc_mapping){2, 1, IPPROTO_UDP, 9},
					  COOP_RPC_OWNER_NET),
			 -ENOSPC);
	/* Application and configuration: COOP_RPC_MAPPINGS_MAX of their own
	 * (two of the portmapper's, one application's so far), whatever the
	 * network holds. */
	for (i = 3; i < COOP_RPC_MAPPINGS_MAX; i++) {
		m.prog = 400000 + i;
		assert_int_equal(
		    coop_rpc_reg_set(reg, &m, i % 2 ? COOP_RPC_OWNER_APP : COOP_RPC_OWNER_CONFIG),
		    0);
	}
	m.prog = 3;
	assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_APP), -ENOSPC);
	assert_int_equal(coop_rpc_reg_dump(reg, NULL, 0),
			 COOP_RPC_MAPPINGS_MAX + COOP_RPC_NET_MAPPINGS_MAX);
	/* Taking a network mapping's place still counts against the
	 * application's own limit. */
	m.prog = 300002;
	assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_APP), -ENOSPC);
	assert_int_equal(coop_rpc_reg_unset(reg, 300002, 1, 1u << COOP_RPC_OWNER_NET), 1);
	/* Network mappings going make room for network ones only. */
	m.prog = 3;
	assert_int_equal(coop_rpc_reg_unset(reg, 300001, 1, 1u << COOP_RPC_OWNER_NET), 1);
	assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_APP), -ENOSPC);
	assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_NET), 0);
}

/* --- procedures ------------------------------------------------------------------- */

static void test_null(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct reply r;
	struct msg m;

	call(&m, 0x1234, 100000, 2, 0);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 0x1234, 0);
	assert_int_equal(r.n, 24);
	assert_int_equal(stat_of(&coop_rpc_reg_stats(reg)->calls), 1);
	assert_int_equal(stat_of(&coop_rpc_reg_stats(reg)->success), 1);
}

static void test_getport(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct coop_rpc_mapping mnt = {100005, 3, IPPROTO_UDP, 20048};
	struct reply r;
	struct msg m;

	assert_int_equal(coop_rpc_reg_set(reg, &mnt, COOP_RPC_OWNER_APP), 0);
	call(&m, 1, 100000, 2, 3);
	mapping(&m, 100005, 3, IPPROTO_UDP, 0);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 1, 0);
	assert_int_equal(r32(&r), 20048);
	assert_int_equal(r.off, r.n);
	/* Another version of a registered program: its port, as rpcbind
	 * does, so the client hears PROG_MISMATCH from the program. */
	call(&m, 2, 100000, 2, 3);
	mapping(&m, 100005, 1, IPPROTO_UDP, 0);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 2, 0);
	assert_int_equal(r32(&r), 20048);
	/* Other protocol, other program: 0. */
	call(&m, 3, 100000, 2, 3);
	mapping(&m, 100005, 3, IPPROTO_TCP, 0);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 3, 0);
	assert_int_equal(r32(&r), 0);
	call(&m, 4, 100000, 2, 3);
	mapping(&m, 100021, 4, IPPROTO_UDP, 0);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 4, 0);
	assert_int_equal(r32(&r), 0);
	/* The portmapper finds itself. */
	call(&m, 5, 100000, 2, 3);
	mapping(&m, 100000, 2, IPPROTO_UDP, 0);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 5, 0);
	assert_int_equal(r32(&r), 111);
}

static void test_dump(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct coop_rpc_mapping nfs = {100003, 3, IPPROTO_TCP, 2049};
	struct reply r;
	struct msg m;

	assert_int_equal(coop_rpc_reg_set(reg, &nfs, COOP_RPC_OWNER_APP), 0);
	call(&m, 77, 100000, 2, 4);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 77, 0);
	assert_int_equal(r32(&r), 1);
	assert_int_equal(r32(&r), 100000);
	assert_int_equal(r32(&r), 2);
	assert_int_equal(r32(&r), IPPROTO_TCP);
	assert_int_equal(r32(&r), 111);
	assert_int_equal(r32(&r), 1);
	assert_int_equal(r32(&r), 100000);
	assert_int_equal(r32(&r), 2);
	assert_int_equal(r32(&r), IPPROTO_UDP);
	assert_int_equal(r32(&r), 111);
	assert_int_equal(r32(&r), 1);
	assert_int_equal(r32(&r), 100003);
	assert_int_equal(r32(&r), 3);
	assert_int_equal(r32(&r), IPPROTO_TCP);
	assert_int_equal(r32(&r), 2049);
	assert_int_equal(r32(&r), 0); /* end of list */
	assert_int_equal(r.off, r.n);
}

static void test_dump_empty(void **state)
{
	struct coop_rpc_reg *reg = coop_rpc_reg_new();
	struct reply r;
	struct msg m;

	(void)state;
	call(&m, 78, 100000, 2, 4);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 78, 0);
	assert_int_equal(r32(&r), 0);
	assert_int_equal(r.n, 28);
	coop_rpc_reg_free(reg);
}

/* A full registry fits COOP_PMAP_REPLY_MAX; a smaller buffer gets a
 * SYSTEM_ERR reply instead of a cut one. */
static void test_dump_full_and_small_buffer(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct coop_rpc_mapping mm = {0, 1, IPPROTO_UDP, 999};
	struct reply r;
	struct msg m;
	uint32_t i, n = 0;

	for (i = 2; i < COOP_RPC_MAPPINGS_MAX; i++) {
		mm.prog = 400000 + i;
		assert_int_equal(coop_rpc_reg_set(reg, &mm, COOP_RPC_OWNER_APP), 0);
	}
	call(&m, 9, 100000, 2, 4);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 9, 0);
	while (r32(&r) == 1) {
		r.off += 16;
		n++;
	}
	assert_int_equal(n, COOP_RPC_MAPPINGS_MAX);
	assert_int_equal(r.off, r.n);
	r.off = 0;
	r.n = coop_pmap_handle(reg, m.b, m.n, false, r.b, 1000);
	expect_accepted(&r, 9, COOP_RPC_SYSTEM_ERR);
	assert_int_equal(r.n, 24);
	assert_int_equal(stat_of(&coop_rpc_reg_stats(reg)->system_err), 1);
	/* Not even room for a header: nothing, never a partial reply. */
	assert_int_equal(coop_pmap_handle(reg, m.b, m.n, false, r.b, 20), 0);
}

static void test_set_unset(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct reply r;
	struct msg m;

	/* From a remote client: FALSE, and nothing changes. */
	call(&m, 10, 100000, 2, 1);
	mapping(&m, 100021, 4, IPPROTO_UDP, 4045);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 10, 0);
	assert_int_equal(r32(&r), 0);
	assert_int_equal(coop_rpc_reg_port(reg, 100021, 4, IPPROTO_UDP), 0);
	assert_int_equal(stat_of(&coop_rpc_reg_stats(reg)->set_refused), 1);
	/* Local: TRUE, then FALSE for the same triple. */
	handle(reg, &m, true, &r);
	expect_accepted(&r, 10, 0);
	assert_int_equal(r32(&r), 1);
	assert_int_equal(coop_rpc_reg_port(reg, 100021, 4, IPPROTO_UDP), 4045);
	handle(reg, &m, true, &r);
	expect_accepted(&r, 10, 0);
	assert_int_equal(r32(&r), 0);
	/* A bad protocol: FALSE. */
	call(&m, 11, 100000, 2, 1);
	mapping(&m, 100021, 4, 99, 4045);
	handle(reg, &m, true, &r);
	expect_accepted(&r, 11, 0);
	assert_int_equal(r32(&r), 0);
	/* UNSET remote: FALSE; local: TRUE once, then FALSE. */
	call(&m, 12, 100000, 2, 2);
	mapping(&m, 100021, 4, 0, 0);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 12, 0);
	assert_int_equal(r32(&r), 0);
	handle(reg, &m, true, &r);
	expect_accepted(&r, 12, 0);
	assert_int_equal(r32(&r), 1);
	handle(reg, &m, true, &r);
	expect_accepted(&r, 12, 0);
	assert_int_equal(r32(&r), 0);
	/* The portmapper's own mapping cannot be unset over the wire. */
	call(&m, 13, 100000, 2, 2);
	mapping(&m, 100000, 2, 0, 0);
	handle(reg, &m, true, &r);
	expect_accepted(&r, 13, 0);
	assert_int_equal(r32(&r), 0);
	assert_int_equal(coop_rpc_reg_port(reg, 100000, 2, IPPROTO_UDP), 111);
}

/* --- who may SET and UNSET --------------------------------------------------------------- */

/* addr ("198.18.1.1", "::1", ...) and port as the sockaddr of that family. */
static const struct sockaddr *sa(struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

/* rpcbind's rule: a loopback source and a reserved source port. */
static void test_caller_trusted(void **state)
{
	static const struct {
		const char *addr; /* the caller's source */
		uint16_t port;	  /* and port */
		bool trusted;	  /* may it SET? */
	} cases[] = {
	    /* A source equal to the address called: forged from the network
	     * (IPv6 accepts it), or any user of the namespace. */
	    {"2001:db8:1::1", 111, false},
	    {"2001:db8:1::1", 40000, false},
	    {"198.18.1.1", 700, false},
	    {"198.18.1.1", 111, false},
	    /* Loopback from an unprivileged port: any local user. */
	    {"127.0.0.1", 1024, false},
	    {"127.0.0.1", 40000, false},
	    {"::1", 1024, false},
	    {"::1", 65535, false},
	    {"::ffff:127.0.0.1", 5000, false},
	    /* Loopback and a reserved port: a privileged local process. */
	    {"127.0.0.1", 1023, true},
	    {"127.0.0.1", 600, true},
	    {"127.0.0.53", 111, true},
	    {"::1", 700, true},
	    {"::ffff:127.0.0.1", 700, true},
	    /* A remote host, even from a reserved port. */
	    {"198.18.1.2", 700, false},
	    {"::ffff:198.18.1.2", 700, false},
	    {"2001:db8:1::2", 700, false},
	    {"::", 700, false},
	    {"0.0.0.0", 700, false},
	};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sockaddr_storage ss;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = coop_pmap_caller_trusted(sa(&ss, cases[i].addr, cases[i].port));

		if (got != cases[i].trusted)
			print_error("%s port %u: %d\n", cases[i].addr, cases[i].port, got);
		assert_int_equal(got, cases[i].trusted);
	}
	assert_false(coop_pmap_caller_trusted((const struct sockaddr *)&sun));
	assert_false(coop_pmap_caller_trusted(NULL));
}

/* A SET as the portmap service hands it over: trust decided from its
 * source, sent to the address `to`. */
static void handle_from(struct coop_rpc_reg *reg, const struct msg *m, const char *from,
			uint16_t port, const char *to, struct reply *r)
{
	struct sockaddr_storage src, dst;

	r->off = 0;
	r->n = coop_pmap_handle_to(reg, m->b, m->n, coop_pmap_caller_trusted(sa(&src, from, port)),
				   sa(&dst, to, 111), r->b, sizeof(r->b));
}

static void test_set_from(void **state)
{
	struct coop_rpc_reg *reg = *state;
	const struct coop_pmap_stats *st = coop_rpc_reg_stats(reg);
	struct reply r;
	struct msg m;

	call(&m, 20, 100000, 2, COOP_PMAP_SET);
	mapping(&m, 200001, 1, IPPROTO_UDP, 7001);
	/* One datagram forged from the network with the VS's own IPv6
	 * address as source: refused. */
	handle_from(reg, &m, "2001:db8:1::1", 111, "2001:db8:1::1", &r);
	expect_accepted(&r, 20, 0);
	assert_int_equal(r32(&r), 0);
	/* The same from IPv4, and a local user on loopback: refused. */
	handle_from(reg, &m, "198.18.1.1", 40000, "198.18.1.1", &r);
	expect_accepted(&r, 20, 0);
	assert_int_equal(r32(&r), 0);
	handle_from(reg, &m, "127.0.0.1", 40000, "198.18.1.1", &r);
	expect_accepted(&r, 20, 0);
	assert_int_equal(r32(&r), 0);
	assert_int_equal(coop_rpc_reg_port(reg, 200001, 1, IPPROTO_UDP), 0);
	assert_int_equal(stat_of(&st->set_refused), 3);
	/* A privileged process on loopback: TRUE. */
	handle_from(reg, &m, "127.0.0.1", 999, "198.18.1.1", &r);
	expect_accepted(&r, 20, 0);
	assert_int_equal(r32(&r), 1);
	assert_int_equal(coop_rpc_reg_port(reg, 200001, 1, IPPROTO_UDP), 7001);
	/* UNSET: the forged one cannot take it away, the privileged one can. */
	call(&m, 21, 100000, 2, COOP_PMAP_UNSET);
	mapping(&m, 200001, 1, 0, 0);
	handle_from(reg, &m, "2001:db8:1::1", 111, "2001:db8:1::1", &r);
	expect_accepted(&r, 21, 0);
	assert_int_equal(r32(&r), 0);
	assert_int_equal(coop_rpc_reg_port(reg, 200001, 1, IPPROTO_UDP), 7001);
	handle_from(reg, &m, "::1", 800, "2001:db8:1::1", &r);
	expect_accepted(&r, 21, 0);
	assert_int_equal(r32(&r), 1);
	assert_int_equal(coop_rpc_reg_port(reg, 200001, 1, IPPROTO_UDP), 0);
	assert_int_equal(stat_of(&st->set_refused), 4);
}

/* A flood of SETs from a trusted caller fills the network's share and is
 * then told FALSE, counted; the application still registers. */
static void test_set_full(void **state)
{
	struct coop_rpc_reg *reg = *state;
	const struct coop_pmap_stats *st = coop_rpc_reg_stats(reg);
	struct coop_rpc_mapping app = {100003, 3, IPPROTO_TCP, 2049};
	struct reply r;
	struct msg m;
	uint32_t i, yes = 0;

	for (i = 0; i < COOP_RPC_NET_MAPPINGS_MAX + 10; i++) {
		call(&m, 30 + i, 100000, 2, COOP_PMAP_SET);
		mapping(&m, 300000 + i, 1, IPPROTO_UDP, 1000 + i);
		handle(reg, &m, true, &r);
		expect_accepted(&r, 30 + i, 0);
		yes += r32(&r);
	}
	assert_int_equal(yes, COOP_RPC_NET_MAPPINGS_MAX);
	assert_int_equal(stat_of(&st->set_full), 10);
	assert_int_equal(stat_of(&st->set_ok[0]), COOP_RPC_NET_MAPPINGS_MAX);
	assert_int_equal(coop_rpc_reg_set(reg, &app, COOP_RPC_OWNER_APP), 0);
	assert_int_equal(coop_rpc_reg_dump(reg, NULL, 0), COOP_RPC_NET_MAPPINGS_MAX + 3);
}

/* --- errors --------------------------------------------------------------------------- */

static void test_prog_vers_proc_errors(void **state)
{
	struct coop_rpc_reg *reg = *state;
	const struct coop_pmap_stats *st = coop_rpc_reg_stats(reg);
	struct reply r;
	struct msg m;

	call(&m, 20, 100003, 3, 0);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 20, COOP_RPC_PROG_UNAVAIL);
	assert_int_equal(r.n, 24);
	call(&m, 21, 100000, 5, 0); /* versions 2..4 are spoken */
	handle(reg, &m, false, &r);
	expect_accepted(&r, 21, COOP_RPC_PROG_MISMATCH);
	assert_int_equal(r32(&r), 2); /* low */
	assert_int_equal(r32(&r), 4); /* high */
	assert_int_equal(r.off, r.n);
	call(&m, 22, 100000, 2, 5); /* CALLIT: refused on purpose */
	handle(reg, &m, false, &r);
	expect_accepted(&r, 22, COOP_RPC_PROC_UNAVAIL);
	call(&m, 23, 100000, 2, 0x7fffffff);
	handle(reg, &m, false, &r);
	expect_accepted(&r, 23, COOP_RPC_PROC_UNAVAIL);
	assert_int_equal(r.n, 24);
	assert_int_equal(stat_of(&st->prog_unavail), 1);
	assert_int_equal(stat_of(&st->prog_mismatch), 1);
	assert_int_equal(stat_of(&st->proc_unavail), 2);
}

static void test_garbage_args(void **state)
{
	struct coop_rpc_reg *reg = *state;
	uint32_t proc;
	struct reply r;
	struct msg m;

	for (proc = 1; proc <= 3; proc++) {
		call(&m, 30 + proc, 100000, 2, proc);
		w32(&m, 100003);
		w32(&m, 3); /* half a mapping */
		handle(reg, &m, true, &r);
		expect_accepted(&r, 30 + proc, COOP_RPC_GARBAGE_ARGS);
		assert_int_equal(r.n, 24);
	}
	assert_int_equal(stat_of(&coop_rpc_reg_stats(reg)->garbage_args), 3);
}

static void test_rpc_and_auth_denied(void **state)
{
	struct coop_rpc_reg *reg = *state;
	const struct coop_pmap_stats *st = coop_rpc_reg_stats(reg);
	struct reply r;
	struct msg m;

	call(&m, 40, 100000, 2, 0);
	m.b[11] = 3; /* rpcvers 3 */
	handle(reg, &m, false, &r);
	assert_int_equal(r.n, 24);
	assert_int_equal(r32(&r), 40);
	assert_int_equal(r32(&r), 1); /* REPLY */
	assert_int_equal(r32(&r), 1); /* MSG_DENIED */
	assert_int_equal(r32(&r), 0); /* RPC_MISMATCH */
	assert_int_equal(r32(&r), 2);
	assert_int_equal(r32(&r), 2);
	call(&m, 41, 100000, 2, 0);
	m.b[27] = 6; /* credential flavor RPCSEC_GSS */
	handle(reg, &m, false, &r);
	assert_int_equal(r.n, 20);
	assert_int_equal(r32(&r), 41);
	assert_int_equal(r32(&r), 1);
	assert_int_equal(r32(&r), 1);
	assert_int_equal(r32(&r), 1); /* AUTH_ERROR */
	assert_int_equal(r32(&r), COOP_RPC_AUTH_REJECTEDCRED);
	assert_int_equal(stat_of(&st->rpc_mismatch), 1);
	assert_int_equal(stat_of(&st->auth_error), 1);
	assert_int_equal(stat_of(&st->calls), 0);
}

static void test_drops(void **state)
{
	struct coop_rpc_reg *reg = *state;
	const struct coop_pmap_stats *st = coop_rpc_reg_stats(reg);
	struct reply r;
	struct msg m;
	size_t n;

	m.n = 0;
	handle(reg, &m, false, &r);
	assert_int_equal(r.n, 0);
	w32(&m, 1);
	w32(&m, 1); /* a REPLY sent to us */
	w32(&m, 0);
	handle(reg, &m, false, &r);
	assert_int_equal(r.n, 0);
	/* Every truncation of a GETPORT call before its arguments: dropped. */
	call(&m, 50, 100000, 2, 3);
	for (n = 1; n < m.n; n++) {
		assert_int_equal(coop_pmap_handle(reg, m.b, n, false, r.b, sizeof(r.b)), 0);
	}
	assert_int_equal(stat_of(&st->drop_short), 1 + 7);
	assert_int_equal(stat_of(&st->drop_nocall), 1);
	assert_int_equal(stat_of(&st->drop_header), m.n - 8);
	assert_int_equal(stat_of(&st->calls), 0);
}

/* Random bytes and random corruptions of valid calls: a reply, if any, is
 * a well-formed header for the same xid; never a crash. */
static void test_random_input(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct reply r;
	struct msg m;
	unsigned i, j;

	srand(12345);
	for (i = 0; i < 20000; i++) {
		if (i % 2) {
			m.n = (size_t)(rand() % 200);
			for (j = 0; j < m.n; j++)
				m.b[j] = (uint8_t)rand();
		} else {
			call(&m, i, 100000, 2, (uint32_t)(rand() % 6));
			mapping(&m, 100000, 2, IPPROTO_UDP, 0);
			for (j = 0; j < 3; j++)
				m.b[rand() % m.n] = (uint8_t)rand();
			m.n -= (size_t)(rand() % 8);
		}
		handle(reg, &m, (i % 3) == 0, &r);
		if (!r.n)
			continue;
		assert_true(r.n >= 20 && r.n % 4 == 0 && r.n <= sizeof(r.b));
		assert_memory_equal(r.b, m.b, 4); /* the caller's xid */
		r.off = 4;
		assert_int_equal(r32(&r), 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reg_set_unset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reg_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_null, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_getport, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
	    cmocka_unit_test(test_dump_empty),
	    cmocka_unit_test_setup_teardown(test_dump_full_and_small_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_unset, setup, teardown),
	    cmocka_unit_test(test_caller_trusted),
	    cmocka_unit_test_setup_teardown(test_set_from, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prog_vers_proc_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rpc_and_auth_denied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_input, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
