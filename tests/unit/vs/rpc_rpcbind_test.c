/* rpc_rpcbind_test.c - rpcbind versions 3 and 4 of the per-VS portmapper
 * (RFC 1833 section 2): universal addresses and netids, every procedure's
 * arguments and results checked byte for byte against hand-built
 * encodings, the registry seen through versions 2, 3 and 4 alike, owners,
 * the refused procedures, GETSTAT's counts, who may SET (a forged source
 * equal to the address called may not) and how many network SETs a VS
 * keeps, and malformed, truncated, oversize and random arguments. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vs/rpc.h"

/* XDR bytes built by hand: words and strings appended one by one. */
struct buf {
	uint8_t b[2048]; /* bytes */
	size_t n;	 /* used */
};

static void w32(struct buf *m, uint32_t v)
{
	assert_true(m->n + 4 <= sizeof(m->b));
	m->b[m->n++] = v >> 24;
	m->b[m->n++] = v >> 16;
	m->b[m->n++] = v >> 8;
	m->b[m->n++] = v;
}

/* An XDR string/opaque: length, bytes, zero padding to 4. */
static void wbytes(struct buf *m, const void *s, size_t len)
{
	w32(m, (uint32_t)len);
	assert_true(m->n + len + 3 <= sizeof(m->b));
	memcpy(m->b + m->n, s, len);
	m->n += len;
	while (m->n % 4)
		m->b[m->n++] = 0;
}

static void wstr(struct buf *m, const char *s)
{
	wbytes(m, s, strlen(s));
}

/* A call with AUTH_NONE credential and verifier, no arguments yet. */
static void call(struct buf *m, uint32_t xid, uint32_t vers, uint32_t proc)
{
	static const uint32_t rest[] = {0, 2, 100000};
	size_t i;

	m->n = 0;
	w32(m, xid);
	for (i = 0; i < 3; i++)
		w32(m, rest[i]);
	w32(m, vers);
	w32(m, proc);
	for (i = 0; i < 4; i++)
		w32(m, 0);
}

/* struct rpcb: prog, vers, netid, addr, owner. */
static void rpcb(struct buf *m, uint32_t prog, uint32_t vers, const char *netid, const char *addr,
		 const char *owner)
{
	w32(m, prog);
	w32(m, vers);
	wstr(m, netid);
	wstr(m, addr);
	wstr(m, owner);
}

/* The accepted-reply header for xid with stat. */
static void accepted(struct buf *e, uint32_t xid, uint32_t stat)
{
	e->n = 0;
	w32(e, xid);
	w32(e, 1); /* REPLY */
	w32(e, 0); /* MSG_ACCEPTED */
	w32(e, 0); /* verifier AUTH_NONE */
	w32(e, 0); /* empty */
	w32(e, stat);
}

static uint8_t out[COOP_PMAP_REPLY_MAX];

/* Handle m (sent to `to`, may be NULL) and compare the reply with e. */
static void expect(struct coop_rpc_reg *reg, const struct buf *m, bool local,
		   const struct sockaddr *to, const struct buf *e)
{
	size_t n = coop_pmap_handle_to(reg, m->b, m->n, local, to, out, sizeof(out));

	if (n != e->n)
		print_error("reply of %zu bytes, expected %zu\n", n, e->n);
	assert_int_equal(n, e->n);
	assert_memory_equal(out, e->b, n);
}

static uint64_t st(const _Atomic uint64_t *c)
{
	return atomic_load(c);
}

static struct in_addr addr4;
static struct in6_addr addr6;

/* A VS's registry: the portmapper's own mappings (versions 2 to 4 on
 * udp:111 and tcp:111), an application's NFS, and the VS's addresses. */
static int setup(void **state)
{
	struct coop_rpc_reg *reg = coop_rpc_reg_new();
	struct coop_rpc_mapping m = {100000, 0, IPPROTO_UDP, 111};
	struct coop_rpc_mapping nfs = {100003, 3, IPPROTO_TCP, 2049};

	assert_non_null(reg);
	assert_int_equal(inet_pton(AF_INET, "198.18.1.1", &addr4), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1::1", &addr6), 1);
	for (m.vers = 2; m.vers <= 4; m.vers++)
		assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_CONFIG), 0);
	m.prot = IPPROTO_TCP;
	for (m.vers = 2; m.vers <= 4; m.vers++)
		assert_int_equal(coop_rpc_reg_set(reg, &m, COOP_RPC_OWNER_CONFIG), 0);
	assert_int_equal(coop_rpc_reg_set_owned(reg, &nfs, COOP_RPC_OWNER_APP, "nfsd"), 0);
	coop_rpc_reg_addr_add(reg, AF_INET, &addr4);
	coop_rpc_reg_addr_add(reg, AF_INET6, &addr6);
	*state = reg;
	return 0;
}

static int teardown(void **state)
{
	coop_rpc_reg_free(*state);
	return 0;
}

/* --- universal addresses and netids ------------------------------------------------- */

static void test_uaddr_fmt(void **state)
{
	struct in6_addr any6 = IN6ADDR_ANY_INIT;
	struct in_addr any4 = {0};
	char b[COOP_RPCB_UADDR_MAX];

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "198.18.1.1", &addr4), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1::1", &addr6), 1);
	assert_int_equal(coop_rpc_uaddr_fmt(b, sizeof(b), AF_INET, &addr4, 111), 16);
	assert_string_equal(b, "198.18.1.1.0.111");
	assert_int_equal(coop_rpc_uaddr_fmt(b, sizeof(b), AF_INET, &addr4, 2049), 14);
	assert_string_equal(b, "198.18.1.1.8.1");
	assert_int_equal(coop_rpc_uaddr_fmt(b, sizeof(b), AF_INET6, &addr6, 65535), 21);
	assert_string_equal(b, "2001:db8:1::1.255.255");
	coop_rpc_uaddr_fmt(b, sizeof(b), AF_INET6, &any6, 111);
	assert_string_equal(b, "::.0.111");
	coop_rpc_uaddr_fmt(b, sizeof(b), AF_INET, &any4, 0);
	assert_string_equal(b, "0.0.0.0.0.0");
	/* The longest IPv6 form fits the bound. */
	memset(&any6, 0xff, sizeof(any6));
	assert_true(coop_rpc_uaddr_fmt(b, sizeof(b), AF_INET6, &any6, 65535) > 0);
	assert_int_equal(coop_rpc_uaddr_fmt(b, 16, AF_INET, &addr4, 111), -ENOSPC);
	assert_int_equal(coop_rpc_uaddr_fmt(b, sizeof(b), AF_UNIX, &addr4, 111), -EINVAL);
}

static void test_uaddr_parse(void **state)
{
	static const char *bad[] = {
	    "",
	    "198.18.1.1",
	    "198.18.1.1.0",
	    "198.18.1.1.0.",
	    "198.18.1.1..111",
	    "198.18.1.1.256.1",
	    "198.18.1.1.0.1x",
	    "198.18.1.1.0.0111",
	    "198.18.1.1.-1.1",
	    "198.18.1.0.111", /* three host octets */
	    "198.18.1.01.0.111",
	    "198.18.1.1 .0.111",
	    ".0.111",
	    "..",
	    "a.b.c.d.0.1",
	    "2001:db8::1%eth0.0.111", /* no scopes in a uaddr */
	    "2001:db8::g.0.111",
	    "2001:db8::1.0",
	    "[2001:db8::1].0.111",
	    "2001:db8::1.0.111.",
	};
	uint8_t a[16];
	uint16_t port;
	int fam;
	size_t i;

	(void)state;
	assert_int_equal(coop_rpc_uaddr_parse("198.18.1.1.8.1", 14, &fam, a, &port), 0);
	assert_int_equal(fam, AF_INET);
	assert_int_equal(port, 2049);
	assert_memory_equal(a, "\xc6\x12\x01\x01", 4);
	assert_int_equal(coop_rpc_uaddr_parse("2001:db8:1::1.0.111", 19, &fam, a, &port), 0);
	assert_int_equal(fam, AF_INET6);
	assert_int_equal(port, 111);
	assert_memory_equal(a, "\x20\x01\x0d\xb8\x00\x01\0\0\0\0\0\0\0\0\0\x01", 16);
	assert_int_equal(coop_rpc_uaddr_parse("::.255.255", 10, &fam, a, &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(coop_rpc_uaddr_parse("::ffff:198.18.1.1.0.7", 21, &fam, a, &port), 0);
	assert_int_equal(fam, AF_INET6);
	assert_int_equal(port, 7);
	/* Only the given length counts: the rest of the buffer is not read. */
	assert_int_equal(coop_rpc_uaddr_parse("198.18.1.1.0.111junk", 16, &fam, a, &port), 0);
	assert_int_equal(port, 111);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (coop_rpc_uaddr_parse(bad[i], strlen(bad[i]), &fam, a, &port) != -EINVAL)
			print_error("'%s' accepted\n", bad[i]);
		assert_int_equal(coop_rpc_uaddr_parse(bad[i], strlen(bad[i]), &fam, a, &port),
				 -EINVAL);
	}
	/* A NUL inside. */
	assert_int_equal(coop_rpc_uaddr_parse("198.18\0.1.1.0.1", 15, &fam, a, &port), -EINVAL);
	assert_int_equal(coop_rpc_uaddr_parse("198.18.1.1.0\0.1", 15, &fam, a, &port), -EINVAL);
	assert_int_equal(coop_rpc_uaddr_parse(NULL, 0, &fam, a, &port), -EINVAL);
}

static void test_netid(void **state)
{
	uint32_t prot;
	int fam;

	(void)state;
	assert_int_equal(coop_rpc_netid_parse("tcp", 3, &prot, &fam), 0);
	assert_true(prot == IPPROTO_TCP && fam == AF_INET);
	assert_int_equal(coop_rpc_netid_parse("udp", 3, &prot, &fam), 0);
	assert_true(prot == IPPROTO_UDP && fam == AF_INET);
	assert_int_equal(coop_rpc_netid_parse("tcp6", 4, &prot, &fam), 0);
	assert_true(prot == IPPROTO_TCP && fam == AF_INET6);
	assert_int_equal(coop_rpc_netid_parse("udp6", 4, &prot, &fam), 0);
	assert_true(prot == IPPROTO_UDP && fam == AF_INET6);
	assert_int_equal(coop_rpc_netid_parse("udp6", 3, &prot, &fam), 0); /* "udp" */
	assert_int_equal(coop_rpc_netid_parse("TCP", 3, &prot, &fam), -EINVAL);
	assert_int_equal(coop_rpc_netid_parse("tcp\0", 4, &prot, &fam), -EINVAL);
	assert_int_equal(coop_rpc_netid_parse("local", 5, &prot, &fam), -EINVAL);
	assert_int_equal(coop_rpc_netid_parse("", 0, &prot, &fam), -EINVAL);
	assert_int_equal(coop_rpc_netid_parse(NULL, 0, &prot, &fam), -EINVAL);
}

/* --- procedures ----------------------------------------------------------------------- */

static void test_null_and_versions(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct buf m, e;

	call(&m, 1, 3, 0);
	accepted(&e, 1, 0);
	expect(reg, &m, false, NULL, &e);
	call(&m, 2, 4, 0);
	accepted(&e, 2, 0);
	expect(reg, &m, false, NULL, &e);
	/* Versions 1 and 5: PROG_MISMATCH 2..4. */
	call(&m, 3, 1, 0);
	accepted(&e, 3, COOP_RPC_PROG_MISMATCH);
	w32(&e, 2);
	w32(&e, 4);
	expect(reg, &m, false, NULL, &e);
	call(&m, 4, 5, 0);
	accepted(&e, 4, COOP_RPC_PROG_MISMATCH);
	w32(&e, 2);
	w32(&e, 4);
	expect(reg, &m, false, NULL, &e);
	assert_int_equal(st(&coop_rpc_reg_stats(reg)->prog_mismatch), 2);
	assert_int_equal(st(&coop_rpc_reg_stats(reg)->success), 2);
}

/* GETADDR, checked against a literal encoding once (RFC 1833 examples:
 * "198.18.1.1.8.1" is port 8*256+1 = 2049). */
static void test_getaddr_literal(void **state)
{
	static const uint8_t want[] = {
	    0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x0e, '1',  '9',  '8',  '.',	'1',
	    '8',  '.',	'1',  '.',  '1',  '.',	'8',  '.',  '1',  0x00, 0x00,
	};
	struct coop_rpc_reg *reg = *state;
	struct buf m, e;

	call(&m, 7, 3, COOP_RPCB_GETADDR);
	rpcb(&m, 100003, 3, "tcp", "", "");
	memcpy(e.b, want, sizeof(want));
	e.n = sizeof(want);
	expect(reg, &m, false, NULL, &e);
}

static void test_getaddr(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct sockaddr_in to4 = {.sin_family = AF_INET};
	struct sockaddr_in6 to6 = {.sin6_family = AF_INET6};
	struct buf m, e;

	/* tcp6: the VS's IPv6 address. */
	call(&m, 8, 4, COOP_RPCB_GETADDR);
	rpcb(&m, 100003, 3, "tcp6", "", "someone");
	accepted(&e, 8, 0);
	wstr(&e, "2001:db8:1::1.8.1");
	expect(reg, &m, false, NULL, &e);
	/* The address the request was sent to wins over the first one. */
	inet_pton(AF_INET6, "2001:db8:1::42", &to6.sin6_addr);
	accepted(&e, 8, 0);
	wstr(&e, "2001:db8:1::42.8.1");
	expect(reg, &m, false, (struct sockaddr *)&to6, &e);
	/* ...for its own family only. */
	inet_pton(AF_INET, "198.18.1.7", &to4.sin_addr);
	accepted(&e, 8, 0);
	wstr(&e, "2001:db8:1::1.8.1");
	expect(reg, &m, false, (struct sockaddr *)&to4, &e);
	call(&m, 9, 4, COOP_RPCB_GETADDR);
	rpcb(&m, 100003, 3, "tcp", "", "");
	accepted(&e, 9, 0);
	wstr(&e, "198.18.1.7.8.1");
	expect(reg, &m, false, (struct sockaddr *)&to4, &e);
	/* GETADDR, like GETPORT: another version of the program will do. */
	call(&m, 10, 3, COOP_RPCB_GETADDR);
	rpcb(&m, 100003, 4, "tcp", "", "");
	accepted(&e, 10, 0);
	wstr(&e, "198.18.1.1.8.1");
	expect(reg, &m, false, NULL, &e);
	/* GETVERSADDR: that version or nothing. */
	call(&m, 11, 4, COOP_RPCB_GETVERSADDR);
	rpcb(&m, 100003, 4, "tcp", "", "");
	accepted(&e, 11, 0);
	wstr(&e, "");
	expect(reg, &m, false, NULL, &e);
	call(&m, 12, 4, COOP_RPCB_GETVERSADDR);
	rpcb(&m, 100003, 3, "tcp", "", "");
	accepted(&e, 12, 0);
	wstr(&e, "198.18.1.1.8.1");
	expect(reg, &m, false, NULL, &e);
	/* Other protocol, unknown netid, unknown program: "". */
	call(&m, 13, 4, COOP_RPCB_GETADDR);
	rpcb(&m, 100003, 3, "udp", "", "");
	accepted(&e, 13, 0);
	wstr(&e, "");
	expect(reg, &m, false, NULL, &e);
	call(&m, 14, 4, COOP_RPCB_GETADDR);
	rpcb(&m, 100003, 3, "local", "", "");
	accepted(&e, 14, 0);
	wstr(&e, "");
	expect(reg, &m, false, NULL, &e);
	call(&m, 15, 3, COOP_RPCB_GETADDR);
	rpcb(&m, 100005, 3, "udp", "", "");
	accepted(&e, 15, 0);
	wstr(&e, "");
	expect(reg, &m, false, NULL, &e);
	/* The portmapper finds itself, version 4 over udp6. */
	call(&m, 16, 4, COOP_RPCB_GETVERSADDR);
	rpcb(&m, 100000, 4, "udp6", "", "");
	accepted(&e, 16, 0);
	wstr(&e, "2001:db8:1::1.0.111");
	expect(reg, &m, false, NULL, &e);
	/* GETVERSADDR is version 4 only. */
	call(&m, 17, 3, COOP_RPCB_GETVERSADDR);
	rpcb(&m, 100000, 3, "udp", "", "");
	accepted(&e, 17, COOP_RPC_PROC_UNAVAIL);
	expect(reg, &m, false, NULL, &e);
}

/* A VS with no IPv6 address is not offered over IPv6, and a VS without
 * any address answers with the wildcard form. */
static void test_getaddr_families(void **state)
{
	struct coop_rpc_reg *reg = coop_rpc_reg_new();
	struct coop_rpc_mapping m4 = {100000, 4, IPPROTO_UDP, 111};
	struct buf m, e;

	(void)state;
	assert_int_equal(coop_rpc_reg_set(reg, &m4, COOP_RPC_OWNER_CONFIG), 0);
	call(&m, 1, 4, COOP_RPCB_GETADDR);
	rpcb(&m, 100000, 4, "udp", "", "");
	accepted(&e, 1, 0);
	wstr(&e, "0.0.0.0.0.111");
	expect(reg, &m, false, NULL, &e);
	call(&m, 2, 4, COOP_RPCB_GETADDR);
	rpcb(&m, 100000, 4, "udp6", "", "");
	accepted(&e, 2, 0);
	wstr(&e, "");
	expect(reg, &m, false, NULL, &e);
	inet_pton(AF_INET, "198.18.2.1", &addr4);
	coop_rpc_reg_addr_add(reg, AF_INET, &addr4);
	inet_pton(AF_INET, "198.18.2.2", &addr4);
	coop_rpc_reg_addr_add(reg, AF_INET, &addr4); /* not the first: ignored */
	call(&m, 3, 4, COOP_RPCB_GETADDR);
	rpcb(&m, 100000, 4, "udp", "", "");
	accepted(&e, 3, 0);
	wstr(&e, "198.18.2.1.0.111");
	expect(reg, &m, false, NULL, &e);
	coop_rpc_reg_free(reg);
}

static void test_dump(void **state)
{
	struct coop_rpc_reg *reg = coop_rpc_reg_new();
	struct coop_rpc_mapping pm = {100000, 4, IPPROTO_UDP, 111};
	struct coop_rpc_mapping nlm = {100021, 4, IPPROTO_TCP, 4045};
	struct buf m, e;

	(void)state;
	call(&m, 20, 4, COOP_RPCB_DUMP);
	accepted(&e, 20, 0);
	w32(&e, 0); /* an empty list */
	expect(reg, &m, false, NULL, &e);
	assert_int_equal(coop_rpc_reg_set(reg, &pm, COOP_RPC_OWNER_CONFIG), 0);
	assert_int_equal(coop_rpc_reg_set(reg, &nlm, COOP_RPC_OWNER_NET), 0);
	inet_pton(AF_INET, "198.18.1.1", &addr4);
	coop_rpc_reg_addr_add(reg, AF_INET, &addr4);
	call(&m, 21, 3, COOP_RPCB_DUMP);
	accepted(&e, 21, 0);
	w32(&e, 1);
	w32(&e, 100000);
	w32(&e, 4);
	wstr(&e, "udp");
	wstr(&e, "198.18.1.1.0.111");
	wstr(&e, "superuser");
	w32(&e, 1);
	w32(&e, 100021);
	w32(&e, 4);
	wstr(&e, "tcp");
	wstr(&e, "198.18.1.1.15.205");
	wstr(&e, "unknown");
	w32(&e, 0);
	expect(reg, &m, false, NULL, &e);
	/* With an IPv6 address each mapping is listed for both families. */
	inet_pton(AF_INET6, "2001:db8:1::1", &addr6);
	coop_rpc_reg_addr_add(reg, AF_INET6, &addr6);
	call(&m, 22, 4, COOP_RPCB_DUMP);
	accepted(&e, 22, 0);
	w32(&e, 1);
	w32(&e, 100000);
	w32(&e, 4);
	wstr(&e, "udp");
	wstr(&e, "198.18.1.1.0.111");
	wstr(&e, "superuser");
	w32(&e, 1);
	w32(&e, 100000);
	w32(&e, 4);
	wstr(&e, "udp6");
	wstr(&e, "2001:db8:1::1.0.111");
	wstr(&e, "superuser");
	w32(&e, 1);
	w32(&e, 100021);
	w32(&e, 4);
	wstr(&e, "tcp");
	wstr(&e, "198.18.1.1.15.205");
	wstr(&e, "unknown");
	w32(&e, 1);
	w32(&e, 100021);
	w32(&e, 4);
	wstr(&e, "tcp6");
	wstr(&e, "2001:db8:1::1.15.205");
	wstr(&e, "unknown");
	w32(&e, 0);
	expect(reg, &m, false, NULL, &e);
	coop_rpc_reg_free(reg);
}

/* Owners: the application's string, or rpcbind's default; cut to fit. */
static void test_owners(void **state)
{
	struct coop_rpc_reg *reg = coop_rpc_reg_new();
	struct coop_rpc_mapping a = {200000, 1, IPPROTO_UDP, 700};
	struct coop_rpc_mapping b = {200001, 1, IPPROTO_UDP, 701};
	char longname[64];
	struct buf m, e;

	(void)state;
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(coop_rpc_reg_set_owned(reg, &a, COOP_RPC_OWNER_APP, longname), 0);
	assert_int_equal(coop_rpc_reg_set(reg, &b, COOP_RPC_OWNER_APP), 0);
	inet_pton(AF_INET, "198.18.1.1", &addr4);
	coop_rpc_reg_addr_add(reg, AF_INET, &addr4);
	call(&m, 30, 4, COOP_RPCB_DUMP);
	accepted(&e, 30, 0);
	w32(&e, 1);
	w32(&e, 200000);
	w32(&e, 1);
	wstr(&e, "udp");
	wstr(&e, "198.18.1.1.2.188");
	wbytes(&e, longname, COOP_RPC_OWNER_LEN - 1);
	w32(&e, 1);
	w32(&e, 200001);
	w32(&e, 1);
	wstr(&e, "udp");
	wstr(&e, "198.18.1.1.2.189");
	wstr(&e, geteuid() == 0 ? "superuser" : "?"); /* the tests run as root */
	w32(&e, 0);
	if (geteuid() == 0)
		expect(reg, &m, false, NULL, &e);
	coop_rpc_reg_free(reg);
}

/* SET and UNSET in versions 3/4 follow version 2's rule, and the three
 * versions see one registry. */
static void test_set_unset(void **state)
{
	struct coop_rpc_reg *reg = *state;
	const struct coop_pmap_stats *s = coop_rpc_reg_stats(reg);
	struct buf m, e, t, f;

	accepted(&t, 40, 0);
	w32(&t, 1);
	accepted(&f, 40, 0);
	w32(&f, 0);
	/* Remote: FALSE, nothing changes. */
	call(&m, 40, 3, COOP_RPCB_SET);
	rpcb(&m, 100021, 4, "udp", "198.18.1.1.15.205", "superuser");
	expect(reg, &m, false, NULL, &f);
	assert_int_equal(coop_rpc_reg_port(reg, 100021, 4, IPPROTO_UDP), 0);
	assert_int_equal(st(&s->set_refused), 1);
	/* Local: TRUE; seen by version 2. */
	expect(reg, &m, true, NULL, &t);
	assert_int_equal(coop_rpc_reg_port(reg, 100021, 4, IPPROTO_UDP), 4045);
	call(&m, 41, 2, COOP_PMAP_GETPORT);
	w32(&m, 100021);
	w32(&m, 4);
	w32(&m, IPPROTO_UDP);
	w32(&m, 0);
	accepted(&e, 41, 0);
	w32(&e, 4045);
	expect(reg, &m, false, NULL, &e);
	/* udp6 at the same port: the same mapping, TRUE; at another: FALSE. */
	call(&m, 40, 4, COOP_RPCB_SET);
	rpcb(&m, 100021, 4, "udp6", "2001:db8:1::1.15.205", "");
	expect(reg, &m, true, NULL, &t);
	call(&m, 40, 4, COOP_RPCB_SET);
	rpcb(&m, 100021, 4, "udp6", "2001:db8:1::1.15.206", "");
	expect(reg, &m, true, NULL, &f);
	/* Netid and address family disagree, bad uaddr, port 0, unknown
	 * netid: FALSE. */
	call(&m, 40, 4, COOP_RPCB_SET);
	rpcb(&m, 100024, 1, "udp", "2001:db8:1::1.2.150", "");
	expect(reg, &m, true, NULL, &f);
	call(&m, 40, 4, COOP_RPCB_SET);
	rpcb(&m, 100024, 1, "udp", "198.18.1.1.2", "");
	expect(reg, &m, true, NULL, &f);
	call(&m, 40, 4, COOP_RPCB_SET);
	rpcb(&m, 100024, 1, "udp", "198.18.1.1.0.0", "");
	expect(reg, &m, true, NULL, &f);
	call(&m, 40, 4, COOP_RPCB_SET);
	rpcb(&m, 100024, 1, "rdma", "198.18.1.1.2.150", "");
	expect(reg, &m, true, NULL, &f);
	/* The application's and the configuration's mappings stay. */
	call(&m, 40, 4, COOP_RPCB_UNSET);
	rpcb(&m, 100003, 3, "", "", "");
	expect(reg, &m, true, NULL, &f);
	call(&m, 40, 3, COOP_RPCB_UNSET);
	rpcb(&m, 100000, 4, "udp", "", "");
	expect(reg, &m, true, NULL, &f);
	/* UNSET remote: FALSE; of another protocol: FALSE; then TRUE. */
	call(&m, 40, 3, COOP_RPCB_UNSET);
	rpcb(&m, 100021, 4, "", "", "");
	expect(reg, &m, false, NULL, &f);
	call(&m, 40, 3, COOP_RPCB_UNSET);
	rpcb(&m, 100021, 4, "tcp6", "", "");
	expect(reg, &m, true, NULL, &f);
	call(&m, 40, 3, COOP_RPCB_UNSET);
	rpcb(&m, 100021, 4, "udp6", "", "");
	expect(reg, &m, true, NULL, &t);
	assert_int_equal(coop_rpc_reg_port(reg, 100021, 4, IPPROTO_UDP), 0);
	expect(reg, &m, true, NULL, &f);
	/* A version 2 SET is seen by version 4's GETVERSADDR, and a
	 * version 4 UNSET with an empty netid removes it. */
	call(&m, 42, 2, COOP_PMAP_SET);
	w32(&m, 100024);
	w32(&m, 1);
	w32(&m, IPPROTO_TCP);
	w32(&m, 662);
	accepted(&e, 42, 0);
	w32(&e, 1);
	expect(reg, &m, true, NULL, &e);
	call(&m, 43, 4, COOP_RPCB_GETVERSADDR);
	rpcb(&m, 100024, 1, "tcp", "", "");
	accepted(&e, 43, 0);
	wstr(&e, "198.18.1.1.2.150");
	expect(reg, &m, false, NULL, &e);
	call(&m, 40, 4, COOP_RPCB_UNSET);
	rpcb(&m, 100024, 1, "", "", "");
	expect(reg, &m, true, NULL, &t);
	assert_int_equal(coop_rpc_reg_port(reg, 100024, 1, IPPROTO_TCP), 0);
	assert_int_equal(st(&s->set_refused), 2);
	assert_int_equal(st(&s->set_ok[0]), 1);
	assert_int_equal(st(&s->set_ok[1]), 1);
	assert_int_equal(st(&s->set_ok[2]), 1);
	assert_int_equal(st(&s->unset_ok[1]), 1);
	assert_int_equal(st(&s->unset_ok[2]), 1);
}

/* The caller as the portmap service sees it: trusted only from loopback
 * with a reserved port. */
static bool from(const char *addr, uint16_t port)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(port)};

	if (strchr(addr, ':')) {
		assert_int_equal(inet_pton(AF_INET6, addr, &s6.sin6_addr), 1);
		return coop_pmap_caller_trusted((const struct sockaddr *)&s6);
	}
	assert_int_equal(inet_pton(AF_INET, addr, &s4.sin_addr), 1);
	return coop_pmap_caller_trusted((const struct sockaddr *)&s4);
}

/* Versions 3 and 4 take the same decision as version 2: a SET forged
 * with the VS's own address as source (IPv6 lets one in from the network)
 * or sent from loopback by an unprivileged port is FALSE. */
static void test_set_trust(void **state)
{
	struct coop_rpc_reg *reg = *state;
	const struct coop_pmap_stats *s = coop_rpc_reg_stats(reg);
	struct sockaddr_in6 to6 = {.sin6_family = AF_INET6, .sin6_port = htons(111)};
	struct sockaddr_in to4 = {.sin_family = AF_INET, .sin_port = htons(111)};
	const struct sockaddr *t6 = (const struct sockaddr *)&to6,
			      *t4 = (const struct sockaddr *)&to4;
	struct buf m, t, f;

	to6.sin6_addr = addr6;
	to4.sin_addr = addr4;
	accepted(&t, 50, 0);
	w32(&t, 1);
	accepted(&f, 50, 0);
	w32(&f, 0);
	call(&m, 50, 4, COOP_RPCB_SET);
	rpcb(&m, 200002, 1, "udp6", "2001:db8:1::1.27.89", "superuser");
	expect(reg, &m, from("2001:db8:1::1", 111), t6, &f);
	expect(reg, &m, from("2001:db8:1::1", 700), t6, &f);
	expect(reg, &m, from("::1", 1024), t6, &f);
	call(&m, 50, 3, COOP_RPCB_SET);
	rpcb(&m, 200002, 1, "udp", "198.18.1.1.27.89", "superuser");
	expect(reg, &m, from("198.18.1.1", 40000), t4, &f);
	expect(reg, &m, from("127.0.0.1", 40000), t4, &f);
	assert_int_equal(coop_rpc_reg_port(reg, 200002, 1, IPPROTO_UDP), 0);
	assert_int_equal(st(&s->set_refused), 5);
	expect(reg, &m, from("127.0.0.1", 1000), t4, &t);
	assert_int_equal(coop_rpc_reg_port(reg, 200002, 1, IPPROTO_UDP), 7001);
	/* UNSET likewise. */
	call(&m, 50, 4, COOP_RPCB_UNSET);
	rpcb(&m, 200002, 1, "", "", "");
	expect(reg, &m, from("2001:db8:1::1", 111), t6, &f);
	expect(reg, &m, from("::1", 600), t6, &t);
	assert_int_equal(coop_rpc_reg_port(reg, 200002, 1, IPPROTO_UDP), 0);
	assert_int_equal(st(&s->set_refused), 6);
}

/* Network SETs of any version share COOP_RPC_NET_MAPPINGS_MAX places. */
static void test_set_cap(void **state)
{
	struct coop_rpc_reg *reg = *state;
	const struct coop_pmap_stats *s = coop_rpc_reg_stats(reg);
	struct coop_rpc_mapping app = {100021, 4, IPPROTO_UDP, 4045};
	char ua[COOP_RPCB_UADDR_MAX];
	struct buf m, t, f;
	uint32_t i;

	accepted(&t, 60, 0);
	w32(&t, 1);
	accepted(&f, 60, 0);
	w32(&f, 0);
	for (i = 0; i < COOP_RPC_NET_MAPPINGS_MAX + 5; i++) {
		call(&m, 60, 3 + i % 2, COOP_RPCB_SET);
		assert_true(
		    coop_rpc_uaddr_fmt(ua, sizeof(ua), AF_INET, &addr4, (uint16_t)(2000 + i)) > 0);
		rpcb(&m, 300000 + i, 1, "tcp", ua, "");
		expect(reg, &m, true, NULL, i < COOP_RPC_NET_MAPPINGS_MAX ? &t : &f);
	}
	assert_int_equal(st(&s->set_full), 5);
	/* udp6 after udp at the same port is still the same mapping: TRUE,
	 * nothing added. */
	call(&m, 60, 4, COOP_RPCB_SET);
	rpcb(&m, 300000, 1, "tcp6", "2001:db8:1::1.7.208", "");
	expect(reg, &m, true, NULL, &t);
	assert_int_equal(coop_rpc_reg_set(reg, &app, COOP_RPC_OWNER_APP), 0);
	/* One network mapping removed: room for one more. */
	call(&m, 60, 4, COOP_RPCB_UNSET);
	rpcb(&m, 300001, 1, "", "", "");
	expect(reg, &m, true, NULL, &t);
	call(&m, 60, 4, COOP_RPCB_SET);
	rpcb(&m, 400000, 1, "udp", "198.18.1.1.9.9", "");
	expect(reg, &m, true, NULL, &t);
	expect(reg, &m, true, NULL, &t); /* the same again: there */
	call(&m, 60, 4, COOP_RPCB_SET);
	rpcb(&m, 400001, 1, "udp", "198.18.1.1.9.9", "");
	expect(reg, &m, true, NULL, &f);
	assert_int_equal(st(&s->set_full), 6);
}

static void test_gettime(void **state)
{
	struct coop_rpc_reg *reg = *state;
	uint32_t t0 = (uint32_t)time(NULL), t;
	struct buf m;
	size_t n;

	call(&m, 50, 3, COOP_RPCB_GETTIME);
	n = coop_pmap_handle(reg, m.b, m.n, false, out, sizeof(out));
	assert_int_equal(n, 28);
	t = (uint32_t)out[24] << 24 | (uint32_t)out[25] << 16 | (uint32_t)out[26] << 8 | out[27];
	assert_true(t >= t0 && t <= (uint32_t)time(NULL));
}

static void test_uaddr2taddr(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct buf m, e;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(2049);
	inet_pton(AF_INET, "198.18.1.1", &sin.sin_addr);
	call(&m, 60, 3, COOP_RPCB_UADDR2TADDR);
	wstr(&m, "198.18.1.1.8.1");
	accepted(&e, 60, 0);
	w32(&e, sizeof(sin)); /* maxlen */
	wbytes(&e, &sin, sizeof(sin));
	expect(reg, &m, false, NULL, &e);
	/* The wire bytes of that sockaddr: family in host order (libtirpc
	 * sends the struct as it is), port and address in network order. */
	assert_int_equal(out[24 + 8 + 2], 0x08);
	assert_int_equal(out[24 + 8 + 3], 0x01);
	assert_memory_equal(out + 24 + 8 + 4, "\xc6\x12\x01\x01", 4);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(111);
	inet_pton(AF_INET6, "2001:db8:1::1", &sin6.sin6_addr);
	call(&m, 61, 4, COOP_RPCB_UADDR2TADDR);
	wstr(&m, "2001:db8:1::1.0.111");
	accepted(&e, 61, 0);
	w32(&e, sizeof(sin6));
	wbytes(&e, &sin6, sizeof(sin6));
	expect(reg, &m, false, NULL, &e);
	/* A bad uaddr: the empty netbuf. */
	call(&m, 62, 4, COOP_RPCB_UADDR2TADDR);
	wstr(&m, "198.18.1.1.999.1");
	accepted(&e, 62, 0);
	w32(&e, 0);
	w32(&e, 0);
	expect(reg, &m, false, NULL, &e);
}

static void test_taddr2uaddr(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct buf m, e;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(4045);
	inet_pton(AF_INET, "198.18.1.1", &sin.sin_addr);
	call(&m, 70, 3, COOP_RPCB_TADDR2UADDR);
	w32(&m, sizeof(sin));
	wbytes(&m, &sin, sizeof(sin));
	accepted(&e, 70, 0);
	wstr(&e, "198.18.1.1.15.205");
	expect(reg, &m, false, NULL, &e);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(2049);
	inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
	call(&m, 71, 4, COOP_RPCB_TADDR2UADDR);
	w32(&m, 128); /* maxlen larger than the address: fine */
	wbytes(&m, &sin6, sizeof(sin6));
	accepted(&e, 71, 0);
	wstr(&e, "2001:db8::5.8.1");
	expect(reg, &m, false, NULL, &e);
	/* Not an inet address, or cut short: "". */
	call(&m, 72, 4, COOP_RPCB_TADDR2UADDR);
	w32(&m, 8);
	wbytes(&m, &sin, 8);
	accepted(&e, 72, 0);
	wstr(&e, "");
	expect(reg, &m, false, NULL, &e);
	sin.sin_family = AF_UNIX;
	call(&m, 73, 4, COOP_RPCB_TADDR2UADDR);
	w32(&m, sizeof(sin));
	wbytes(&m, &sin, sizeof(sin));
	accepted(&e, 73, 0);
	wstr(&e, "");
	expect(reg, &m, false, NULL, &e);
	/* A buffer longer than its maxlen: GARBAGE_ARGS. */
	call(&m, 74, 4, COOP_RPCB_TADDR2UADDR);
	w32(&m, 4);
	wbytes(&m, &sin, sizeof(sin));
	accepted(&e, 74, COOP_RPC_GARBAGE_ARGS);
	expect(reg, &m, false, NULL, &e);
}

static void test_getaddrlist(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct coop_rpc_mapping u = {100003, 3, IPPROTO_UDP, 2049};
	struct sockaddr_in6 to6 = {.sin6_family = AF_INET6};
	struct buf m, e;

	assert_int_equal(coop_rpc_reg_set(reg, &u, COOP_RPC_OWNER_APP), 0);
	inet_pton(AF_INET6, "2001:db8:1::1", &to6.sin6_addr);
	call(&m, 80, 4, COOP_RPCB_GETADDRLIST);
	rpcb(&m, 100003, 3, "udp6", "", "");
	/* Sent over IPv6: the IPv6 entries only (rpcinfo -l). */
	accepted(&e, 80, 0);
	w32(&e, 1);
	wstr(&e, "2001:db8:1::1.8.1");
	wstr(&e, "tcp6");
	w32(&e, 3); /* NC_TPI_COTS_ORD */
	wstr(&e, "inet6");
	wstr(&e, "tcp");
	w32(&e, 1);
	wstr(&e, "2001:db8:1::1.8.1");
	wstr(&e, "udp6");
	w32(&e, 1); /* NC_TPI_CLTS */
	wstr(&e, "inet6");
	wstr(&e, "udp");
	w32(&e, 0);
	expect(reg, &m, false, (struct sockaddr *)&to6, &e);
	/* Destination unknown: both families. */
	call(&m, 81, 4, COOP_RPCB_GETADDRLIST);
	rpcb(&m, 100003, 3, "udp", "", "");
	assert_true(coop_pmap_handle(reg, m.b, m.n, false, out, sizeof(out)) > e.n);
	/* Another version: an empty list; version 3: no such procedure. */
	call(&m, 82, 4, COOP_RPCB_GETADDRLIST);
	rpcb(&m, 100003, 4, "udp", "", "");
	accepted(&e, 82, 0);
	w32(&e, 0);
	expect(reg, &m, false, NULL, &e);
	call(&m, 83, 3, COOP_RPCB_GETADDRLIST);
	rpcb(&m, 100003, 3, "udp", "", "");
	accepted(&e, 83, COOP_RPC_PROC_UNAVAIL);
	expect(reg, &m, false, NULL, &e);
}

/* GETSTAT: per version, the calls of every procedure number so far
 * (GETSTAT itself included), SETs, UNSETs, two empty lists. */
static void test_getstat(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct buf m, e;
	unsigned v, p;

	call(&m, 90, 2, COOP_PMAP_NULL);
	coop_pmap_handle(reg, m.b, m.n, false, out, sizeof(out));
	call(&m, 91, 2, COOP_PMAP_DUMP);
	coop_pmap_handle(reg, m.b, m.n, false, out, sizeof(out));
	call(&m, 92, 3, COOP_RPCB_CALLIT); /* refused, still counted */
	coop_pmap_handle(reg, m.b, m.n, false, out, sizeof(out));
	call(&m, 93, 4, COOP_RPCB_SET);
	rpcb(&m, 300000, 1, "udp", "198.18.1.1.3.0", "");
	coop_pmap_handle(reg, m.b, m.n, true, out, sizeof(out));
	call(&m, 94, 4, 99); /* not a procedure number: not counted */
	coop_pmap_handle(reg, m.b, m.n, false, out, sizeof(out));
	call(&m, 95, 4, COOP_RPCB_GETSTAT);
	accepted(&e, 95, 0);
	for (v = 0; v < 3; v++) {
		for (p = 0; p < 13; p++)
			w32(&e, (v == 0 && (p == 0 || p == 4)) || (v == 1 && p == 5) ||
				    (v == 2 && (p == 1 || p == 12)));
		w32(&e, v == 2); /* setinfo */
		w32(&e, 0);	 /* unsetinfo */
		w32(&e, 0);	 /* addrinfo */
		w32(&e, 0);	 /* rmtinfo */
	}
	expect(reg, &m, false, NULL, &e);
	/* GETSTAT is version 4 only. */
	call(&m, 96, 3, COOP_RPCB_GETSTAT);
	accepted(&e, 96, COOP_RPC_PROC_UNAVAIL);
	expect(reg, &m, false, NULL, &e);
}

/* --- refusals and errors ------------------------------------------------------------- */

static void test_refused(void **state)
{
	static const struct {
		uint32_t vers, proc;
	} cases[] = {
	    {3, COOP_RPCB_CALLIT},
	    {4, COOP_RPCB_CALLIT}, /* BCAST */
	    {4, COOP_RPCB_INDIRECT},
	    {3, 9},
	    {3, 10},
	    {3, 11},
	    {3, 12},
	    {4, 13},
	    {3, 0xffffffff},
	};
	struct coop_rpc_reg *reg = *state;
	struct buf m, e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call(&m, 100 + (uint32_t)i, cases[i].vers, cases[i].proc);
		/* A well-formed indirect call: refused all the same. */
		w32(&m, 100003);
		w32(&m, 3);
		w32(&m, 0);
		wstr(&m, "");
		accepted(&e, 100 + (uint32_t)i, COOP_RPC_PROC_UNAVAIL);
		expect(reg, &m, true, NULL, &e);
	}
	assert_int_equal(st(&coop_rpc_reg_stats(reg)->proc_unavail), i);
}

/* Every cut of the arguments of each procedure that takes some, and
 * strings over their bounds: GARBAGE_ARGS, counted. */
static void test_garbage_args(void **state)
{
	static const uint32_t procs[][2] = {
	    {3, COOP_RPCB_SET},		{3, COOP_RPCB_UNSET},	    {3, COOP_RPCB_GETADDR},
	    {4, COOP_RPCB_GETVERSADDR}, {4, COOP_RPCB_GETADDRLIST}, {4, COOP_RPCB_SET},
	};
	struct coop_rpc_reg *reg = *state;
	uint64_t want = 0;
	char big[300];
	struct buf m, e;
	size_t i, cut, full;

	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		call(&m, 200, procs[i][0], procs[i][1]);
		full = m.n;
		rpcb(&m, 100021, 4, "udp6", "2001:db8:1::1.15.205", "superuser");
		/* Whole words cut off, and cuts inside a string's padding. */
		for (cut = full; cut < m.n; cut++) {
			accepted(&e, 200, COOP_RPC_GARBAGE_ARGS);
			assert_int_equal(coop_pmap_handle(reg, m.b, cut, true, out, sizeof(out)),
					 24);
			assert_memory_equal(out, e.b, 24);
			want++;
		}
	}
	memset(big, 'a', sizeof(big));
	/* netid over 32, uaddr over 64, owner over 256 bytes. */
	for (i = 0; i < 3; i++) {
		call(&m, 201, 4, COOP_RPCB_SET);
		w32(&m, 100021);
		w32(&m, 4);
		wbytes(&m, big, i == 0 ? COOP_RPCB_NETID_MAX + 1 : 3);
		wbytes(&m, big, i == 1 ? COOP_RPCB_UADDR_MAX + 1 : 3);
		wbytes(&m, big, i == 2 ? COOP_RPCB_OWNER_MAX + 1 : 3);
		accepted(&e, 201, COOP_RPC_GARBAGE_ARGS);
		expect(reg, &m, true, NULL, &e);
		want++;
	}
	/* A length near 2^32, and UADDR2TADDR/TADDR2UADDR cut short. */
	call(&m, 202, 4, COOP_RPCB_GETADDR);
	w32(&m, 1);
	w32(&m, 1);
	w32(&m, 0xfffffffd);
	accepted(&e, 202, COOP_RPC_GARBAGE_ARGS);
	expect(reg, &m, false, NULL, &e);
	call(&m, 203, 3, COOP_RPCB_UADDR2TADDR);
	w32(&m, 20);
	accepted(&e, 203, COOP_RPC_GARBAGE_ARGS);
	expect(reg, &m, false, NULL, &e);
	call(&m, 204, 3, COOP_RPCB_TADDR2UADDR);
	w32(&m, 16);
	accepted(&e, 204, COOP_RPC_GARBAGE_ARGS);
	expect(reg, &m, false, NULL, &e);
	call(&m, 205, 3, COOP_RPCB_TADDR2UADDR);
	w32(&m, 4096);
	wbytes(&m, big, 200); /* more than any sockaddr */
	accepted(&e, 205, COOP_RPC_GARBAGE_ARGS);
	expect(reg, &m, false, NULL, &e);
	want += 4;
	assert_int_equal(st(&coop_rpc_reg_stats(reg)->garbage_args), want);
	/* Nothing was registered on the way. */
	assert_int_equal(coop_rpc_reg_port(reg, 100021, 4, IPPROTO_UDP), 0);
}

/* A version 4 DUMP of a full registry does not fit a datagram: SYSTEM_ERR,
 * never a cut list; version 2 still lists it all. */
static void test_dump_too_big(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct coop_rpc_mapping mm = {0, 1, IPPROTO_UDP, 999};
	struct buf m, e;
	uint32_t i;
	size_t n;

	for (i = 7; i < COOP_RPC_MAPPINGS_MAX; i++) {
		mm.prog = 400000 + i;
		assert_int_equal(coop_rpc_reg_set(reg, &mm, COOP_RPC_OWNER_APP), 0);
	}
	call(&m, 300, 4, COOP_RPCB_DUMP);
	accepted(&e, 300, COOP_RPC_SYSTEM_ERR);
	expect(reg, &m, false, NULL, &e);
	assert_int_equal(st(&coop_rpc_reg_stats(reg)->system_err), 1);
	call(&m, 301, 2, COOP_PMAP_DUMP);
	n = coop_pmap_handle(reg, m.b, m.n, false, out, sizeof(out));
	assert_int_equal(n, 24 + COOP_RPC_MAPPINGS_MAX * 20 + 4);
}

/* Random corruptions of valid version 3/4 calls: a reply, if any, is a
 * well-formed reply to the same xid; never a crash. */
static void test_random_input(void **state)
{
	struct coop_rpc_reg *reg = *state;
	struct buf m;
	unsigned i, j;
	size_t n;

	srand(4242);
	for (i = 0; i < 30000; i++) {
		call(&m, i, 3 + (uint32_t)(rand() % 2), (uint32_t)(rand() % 14));
		if (i % 3)
			rpcb(&m, 100000 + (uint32_t)(rand() % 30), 4, (i % 2) ? "udp6" : "tcp",
			     (i % 5) ? "198.18.1.1.3.4" : "2001:db8::1.0.1", "x");
		else
			wstr(&m, "198.18.1.1.0.111");
		for (j = 0; j < 3; j++)
			m.b[40 + (size_t)rand() % (m.n - 40)] = (uint8_t)rand();
		m.n -= (size_t)(rand() % 8);
		n = coop_pmap_handle(reg, m.b, m.n, (i % 4) == 0, out, sizeof(out));
		if (!n)
			continue;
		assert_true(n >= 24 && n % 4 == 0 && n <= sizeof(out));
		assert_memory_equal(out, m.b, 4);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uaddr_fmt),
	    cmocka_unit_test(test_uaddr_parse),
	    cmocka_unit_test(test_netid),
	    cmocka_unit_test_setup_teardown(test_null_and_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_getaddr_literal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_getaddr, setup, teardown),
	    cmocka_unit_test(test_getaddr_families),
	    cmocka_unit_test(test_dump),
	    cmocka_unit_test(test_owners),
	    cmocka_unit_test_setup_teardown(test_set_unset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_trust, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gettime, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uaddr2taddr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_taddr2uaddr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_getaddrlist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_getstat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dump_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_input, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
