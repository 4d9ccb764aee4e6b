/* dns_test.c - the resolver's DNS message parser on crafted answers: record
 * types, CNAME chains, negative TTLs, TTL rules, escaping, malformed input;
 * reverse names, type names and result objects. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "resolver/resolver_priv.h"
#include "tests/unit/resolver/dnsmsg.h"

#define QR_AA 0x8400

static struct msgb m;

static int parse(uint16_t qtype, struct res_rrset *s, struct res_msg_info *info)
{
	res_rrset_init(s);
	return res_dns_parse(m.buf, m.len, qtype, s, info);
}

static void test_a_records(void **state)
{
	struct res_msg_info info;
	struct res_rrset s;
	size_t at;
	char buf[64];

	(void)state;
	mb_header(&m, 7, QR_AA, 1, 3, 0, 0);
	mb_question(&m, "Host.Test", 1);
	at = mb_rr_q(&m, 1, 300);
	mb_a(&m, "198.18.1.1");
	mb_rr_end(&m, at);
	at = mb_rr_q(&m, 1, 60);
	mb_a(&m, "198.18.1.2");
	mb_rr_end(&m, at);
	/* Another owner's record is not part of the answer. */
	at = mb_rr(&m, "other.test", 1, 10);
	mb_a(&m, "198.18.9.9");
	mb_rr_end(&m, at);

	assert_int_equal(parse(1, &s, &info), 0);
	assert_int_equal(info.rcode, 0);
	assert_string_equal(info.qname, "Host.Test");
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ttl, 60);
	assert_string_equal(s.rrs[0].name, "Host.Test");
	assert_int_equal(s.rrs[0].addr.family, AF_INET);
	assert_string_equal(coop_resolver_addr_str(&s.rrs[1].addr, buf, sizeof(buf)), "198.18.1.2");
	assert_int_equal(s.rrs[1].rdlen, 4);
	assert_string_equal(s.canonical, "Host.Test");
	res_rrset_clear(&s);
}

static void test_cname_chain(void **state)
{
	struct res_msg_info info;
	struct res_rrset s;
	size_t at;

	(void)state;
	mb_header(&m, 1, QR_AA, 1, 3, 0, 0);
	mb_question(&m, "www.test", 28);
	at = mb_rr_q(&m, 5, 50);
	mb_name(&m, "web.test");
	mb_rr_end(&m, at);
	at = mb_rr(&m, "WEB.test", 5, 500);
	mb_name(&m, "srv.test");
	mb_rr_end(&m, at);
	at = mb_rr(&m, "srv.test", 28, 300);
	mb_aaaa(&m, "2001:db8::5");
	mb_rr_end(&m, at);

	assert_int_equal(parse(28, &s, &info), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.rrs[0].type, 28);
	assert_string_equal(s.rrs[0].name, "srv.test");
	assert_string_equal(s.canonical, "srv.test");
	assert_int_equal(s.ttl, 50); /* the chain's weakest link */
	res_rrset_clear(&s);

	/* Asking for the CNAME itself gives the CNAME, not what it points to. */
	assert_int_equal(parse(5, &s, &info), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.rrs[0].target, "web.test");
	res_rrset_clear(&s);
}

static void test_cname_loop_ends(void **state)
{
	struct res_msg_info info;
	struct res_rrset s;
	size_t at;

	(void)state;
	mb_header(&m, 1, QR_AA, 1, 2, 0, 0);
	mb_question(&m, "a.test", 1);
	at = mb_rr(&m, "a.test", 5, 5);
	mb_name(&m, "b.test");
	mb_rr_end(&m, at);
	at = mb_rr(&m, "b.test", 5, 5);
	mb_name(&m, "a.test");
	mb_rr_end(&m, at);
	assert_int_equal(parse(1, &s, &info), 0);
	assert_int_equal(s.n, 0);
	res_rrset_clear(&s);
}

static void test_typed_records(void **state)
{
	struct res_msg_info info;
	struct res_rrset s;
	size_t at;

	(void)state;
	mb_header(&m, 1, QR_AA, 1, 2, 0, 0);
	mb_question(&m, "_ldap._tcp.dc.test", 33);
	at = mb_rr_q(&m, 33, 600);
	mb_u16(&m, 0);
	mb_u16(&m, 100);
	mb_u16(&m, 389);
	mb_name(&m, "dc1.test");
	mb_rr_end(&m, at);
	at = mb_rr_q(&m, 33, 600);
	mb_u16(&m, 10);
	mb_u16(&m, 5);
	mb_u16(&m, 3268);
	mb_ptr(&m, 12 + 6 + 5 + 3); /* "test" inside the question */
	mb_rr_end(&m, at);
	assert_int_equal(parse(33, &s, &info), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.rrs[0].srv.port, 389);
	assert_int_equal(s.rrs[0].srv.weight, 100);
	assert_string_equal(s.rrs[0].srv.target, "dc1.test");
	assert_int_equal(s.rrs[1].srv.priority, 10);
	assert_string_equal(s.rrs[1].srv.target, "test");
	res_rrset_clear(&s);

	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "5.1.18.198.in-addr.arpa", 12);
	at = mb_rr_q(&m, 12, 60);
	mb_name(&m, "nas1.test");
	mb_rr_end(&m, at);
	assert_int_equal(parse(12, &s, &info), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.rrs[0].target, "nas1.test");
	res_rrset_clear(&s);

	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "test", 15);
	at = mb_rr_q(&m, 15, 60);
	mb_u16(&m, 20);
	mb_name(&m, "mx.test");
	mb_rr_end(&m, at);
	assert_int_equal(parse(15, &s, &info), 0);
	assert_int_equal(s.rrs[0].mx.preference, 20);
	assert_string_equal(s.rrs[0].mx.exchange, "mx.test");
	res_rrset_clear(&s);

	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "test", 16);
	at = mb_rr_q(&m, 16, 60);
	mb_u8(&m, 6);
	mb_bytes(&m, "v=spf1", 6);
	mb_u8(&m, 5);
	mb_bytes(&m, " -all", 5);
	mb_rr_end(&m, at);
	assert_int_equal(parse(16, &s, &info), 0);
	assert_int_equal(s.rrs[0].txt.len, 11);
	assert_string_equal(s.rrs[0].txt.text, "v=spf1 -all");
	res_rrset_clear(&s);

	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "test", 6);
	at = mb_rr_q(&m, 6, 60);
	mb_soa(&m, 30);
	mb_rr_end(&m, at);
	assert_int_equal(parse(6, &s, &info), 0);
	assert_string_equal(s.rrs[0].soa.mname, "ns.test");
	assert_string_equal(s.rrs[0].soa.rname, "hostmaster.test");
	assert_int_equal(s.rrs[0].soa.minimum, 30);
	res_rrset_clear(&s);

	/* An unknown type: raw rdata, nothing else. */
	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "test", 65280);
	at = mb_rr_q(&m, 65280, 60);
	mb_bytes(&m, "\x01\x02\x03", 3);
	mb_rr_end(&m, at);
	assert_int_equal(parse(65280, &s, &info), 0);
	assert_int_equal(s.rrs[0].rdlen, 3);
	assert_memory_equal(s.rrs[0].rdata, "\x01\x02\x03", 3);
	res_rrset_clear(&s);
}

static void test_negative_ttl(void **state)
{
	struct res_msg_info info;
	struct res_rrset s;
	size_t at;

	(void)state;
	mb_header(&m, 1, QR_AA | 3, 1, 0, 1, 0);
	mb_question(&m, "nope.test", 1);
	at = mb_rr(&m, "test", 6, 120);
	mb_soa(&m, 45);
	mb_rr_end(&m, at);
	assert_int_equal(parse(1, &s, &info), 0);
	assert_int_equal(info.rcode, 3);
	assert_true(info.has_soa);
	assert_int_equal(info.neg_ttl, 45);
	assert_int_equal(s.n, 0);
	res_rrset_clear(&s);

	/* The SOA's own TTL caps MINIMUM too. */
	mb_header(&m, 1, QR_AA, 1, 0, 1, 0);
	mb_question(&m, "nope.test", 1);
	at = mb_rr(&m, "test", 6, 20);
	mb_soa(&m, 3600);
	mb_rr_end(&m, at);
	assert_int_equal(parse(1, &s, &info), 0);
	assert_int_equal(info.neg_ttl, 20);
	res_rrset_clear(&s);
}

static void test_ttl_rules(void **state)
{
	struct res_msg_info info;
	struct res_rrset s;
	size_t at;

	(void)state;
	mb_header(&m, 1, QR_AA, 1, 2, 0, 0);
	mb_question(&m, "t.test", 1);
	at = mb_rr_q(&m, 1, 0x7fffffffu);
	mb_a(&m, "198.18.0.1");
	mb_rr_end(&m, at);
	at = mb_rr_q(&m, 1, 0x80000001u);
	mb_a(&m, "198.18.0.2");
	mb_rr_end(&m, at);
	assert_int_equal(parse(1, &s, &info), 0);
	assert_int_equal(s.rrs[0].ttl, RES_TTL_CAP);
	assert_int_equal(s.rrs[1].ttl, 0); /* RFC 2181: high bit set = 0 */
	res_rrset_clear(&s);
}

static void test_name_escapes(void **state)
{
	unsigned char raw[] = {3, 'a', '.', 'b', 2, ' ', 'Z', 4, 't', 'e', 's', 't', 0};
	char out[RES_TEXT_NAME_MAX];
	size_t off = 0;

	(void)state;
	assert_int_equal(res_dns_name(raw, sizeof(raw), &off, out, sizeof(out)), 0);
	assert_string_equal(out, "a\\046b.\\032Z.test");
	assert_int_equal(off, sizeof(raw));
	assert_true(res_name_eq("A\\046B.\\032z.TEST", out));
}

static void test_malformed(void **state)
{
	struct res_msg_info info;
	struct res_rrset s;
	unsigned char loop[] = {0xc0, 0x00};
	unsigned char fwd[] = {0xc0, 0x02, 0x00};
	char out[RES_TEXT_NAME_MAX];
	size_t off = 0, at;

	(void)state;
	assert_int_equal(res_dns_name(loop, sizeof(loop), &off, out, sizeof(out)), -EBADMSG);
	off = 0;
	assert_int_equal(res_dns_name(fwd, sizeof(fwd), &off, out, sizeof(out)), -EBADMSG);

	/* An A record with 3 bytes of rdata. */
	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "x.test", 1);
	at = mb_rr_q(&m, 1, 60);
	mb_bytes(&m, "\x01\x02\x03", 3);
	mb_rr_end(&m, at);
	assert_int_equal(parse(1, &s, &info), -EBADMSG);
	res_rrset_clear(&s);

	/* rdlength beyond the message. */
	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "x.test", 1);
	at = mb_rr_q(&m, 1, 60);
	mb_a(&m, "198.18.0.1");
	mb_rr_end(&m, at);
	m.len -= 2;
	assert_int_equal(parse(1, &s, &info), -EBADMSG);
	res_rrset_clear(&s);

	/* More records announced than the message can hold. */
	mb_header(&m, 1, QR_AA, 1, 60000, 0, 0);
	mb_question(&m, "x.test", 1);
	assert_int_equal(parse(1, &s, &info), -EBADMSG);
	res_rrset_clear(&s);

	/* No question; a header only. */
	mb_header(&m, 1, QR_AA, 0, 0, 0, 0);
	assert_int_equal(parse(1, &s, &info), -EBADMSG);
	assert_int_equal(res_dns_parse(m.buf, 5, 1, &s, &info), -EBADMSG);
	res_rrset_clear(&s);

	/* A name longer than 255 bytes on the wire. */
	mb_header(&m, 1, QR_AA, 1, 0, 0, 0);
	for (int i = 0; i < 5; i++) {
		mb_u8(&m, 63);
		for (int j = 0; j < 63; j++)
			mb_u8(&m, 'a');
	}
	mb_u8(&m, 0);
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	assert_int_equal(parse(1, &s, &info), -EBADMSG);
	res_rrset_clear(&s);
}

static void test_ptr_names(void **state)
{
	struct coop_resolver_addr a, b;
	char buf[128], small[10];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	inet_pton(AF_INET, "198.18.1.5", &a.v4);
	assert_int_equal(coop_resolver_ptr_name(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "5.1.18.198.in-addr.arpa");
	assert_true(res_ptr_name_parse(buf, &b));
	assert_int_equal(b.family, AF_INET);
	assert_memory_equal(&a.v4, &b.v4, 4);
	assert_int_equal(coop_resolver_ptr_name(&a, small, sizeof(small)), -ENOSPC);

	memset(&a, 0, sizeof(a));
	a.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1:abcd", &a.v6);
	assert_int_equal(coop_resolver_ptr_name(&a, buf, sizeof(buf)), 0);
	assert_string_equal(
	    buf, "d.c.b.a.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	assert_true(res_ptr_name_parse(buf, &b));
	assert_int_equal(b.family, AF_INET6);
	assert_memory_equal(&a.v6, &b.v6, 16);

	assert_false(res_ptr_name_parse("1.2.3.in-addr.arpa", &b));
	assert_false(res_ptr_name_parse("1.2.3.256.in-addr.arpa", &b));
	assert_false(res_ptr_name_parse("host.test", &b));
	assert_true(res_ptr_name_parse("5.1.18.198.IN-ADDR.ARPA.", &b));
}

static void test_types(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(coop_resolver_type_parse("srv"), 33);
	assert_int_equal(coop_resolver_type_parse("AAAA"), 28);
	assert_int_equal(coop_resolver_type_parse("TYPE65280"), 65280);
	assert_int_equal(coop_resolver_type_parse("99"), 99);
	assert_int_equal(coop_resolver_type_parse("AXFR"), -EINVAL);
	assert_int_equal(coop_resolver_type_parse("255"), -EINVAL);
	assert_int_equal(coop_resolver_type_parse("0"), -EINVAL);
	assert_int_equal(coop_resolver_type_parse("70000"), -EINVAL);
	assert_int_equal(coop_resolver_type_parse("bogus"), -EINVAL);
	assert_string_equal(coop_resolver_type_str(12, buf, sizeof(buf)), "PTR");
	assert_string_equal(coop_resolver_type_str(999, buf, sizeof(buf)), "TYPE999");
	assert_string_equal(coop_resolver_strerror(-ENOENT), "no such name (NXDOMAIN)");
}

static void test_result_build(void **state)
{
	struct res_msg_info info;
	struct res_rrset a6, a4;
	struct res_result *r;
	const struct coop_resolver_result *pub;
	size_t at;

	(void)state;
	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "h.test", 28);
	at = mb_rr_q(&m, 28, 100);
	mb_aaaa(&m, "2001:db8::1");
	mb_rr_end(&m, at);
	res_rrset_init(&a6);
	assert_int_equal(res_dns_parse(m.buf, m.len, 28, &a6, &info), 0);
	mb_header(&m, 1, QR_AA, 1, 1, 0, 0);
	mb_question(&m, "h.test", 1);
	at = mb_rr_q(&m, 1, 40);
	mb_a(&m, "198.18.0.1");
	mb_rr_end(&m, at);
	res_rrset_init(&a4);
	assert_int_equal(res_dns_parse(m.buf, m.len, 1, &a4, &info), 0);

	r = res_result_build("h.test", 0, COOP_RESOLVER_SRC_DNS, &a6, &a4);
	assert_non_null(r);
	assert_int_equal(a6.n, 0); /* moved */
	pub = &r->pub;
	assert_int_equal(pub->n_addrs, 2);
	assert_int_equal(pub->addrs[0].family, AF_INET6);
	assert_int_equal(pub->addrs[1].family, AF_INET);
	assert_int_equal(pub->n_rrs, 2);
	assert_int_equal(pub->ttl, 40);
	assert_string_equal(pub->name, "h.test");
	assert_string_equal(pub->canonical, "h.test");
	assert_ptr_equal(coop_resolver_result_hold(pub), pub);
	coop_resolver_result_release(pub);
	assert_string_equal(pub->rrs[1].name, "h.test"); /* still held once */
	coop_resolver_result_release(pub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_records),	    cmocka_unit_test(test_cname_chain),
	    cmocka_unit_test(test_cname_loop_ends), cmocka_unit_test(test_typed_records),
	    cmocka_unit_test(test_negative_ttl),    cmocka_unit_test(test_ttl_rules),
	    cmocka_unit_test(test_name_escapes),    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_ptr_names),	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_result_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
