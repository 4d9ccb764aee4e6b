/* pbr_nl_test.c - the pbr backend's netlink: rule, route and address
 * requests read back field for field, malformed and foreign-looking
 * messages, and (root) a batch of thousands of requests with one refusal
 * reported against the right request, and the nftables ingress map marking
 * real connections. As root the whole test runs in a private network
 * namespace of its own, so nothing it sends can reach the host's tables. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "base/netns.h"
#include "vs/pbr.h"

#define PROTO 246

/* Kernel tests run only in the private namespace. */
static bool private_ns;

static struct coop_pbr_nl *open_nl(int protocol)
{
	struct coop_pbr_nl *nl = NULL;

	assert_int_equal(coop_pbr_nl_open(coop_netns_default_fd(), protocol, &nl), 0);
	/* Atomic: nothing leaves unless a test flushes on purpose. */
	coop_pbr_nl_set_atomic(nl, true);
	return nl;
}

/* The payload (after the netlink header) of the only queued message. */
static const void *only_msg(struct coop_pbr_nl *nl, size_t *len, const struct nlmsghdr **h)
{
	size_t n;

	coop_pbr_nl_pending(nl, &n);
	assert_int_equal(n, 1);
	*h = coop_pbr_nl_buf(nl);
	*len = (*h)->nlmsg_len - NLMSG_HDRLEN;
	return NLMSG_DATA(*h);
}

static void test_rule_roundtrip(void **state)
{
	const struct coop_pbr_rule rules[] = {
		{ .family = AF_INET, .action = FR_ACT_TO_TBL, .pref = 20005, .mark = 0x12345,
		  .mask = 0xffffffff, .table = 70000 },
		{ .family = AF_INET6, .action = FR_ACT_TO_TBL, .pref = 20005, .mark = 7,
		  .mask = 0xffffffff, .table = 100 },
		{ .family = AF_INET, .action = FR_ACT_GOTO, .pref = 20001, .mark = 0x14000,
		  .mask = 0xffffc000, .target = 20002 },
		{ .family = AF_INET, .action = FR_ACT_GOTO, .invert = true, .pref = 20000,
		  .mark = 0x10000, .mask = 0xffff0000, .target = 20488 },
		{ .family = AF_INET6, .action = FR_ACT_NOP, .pref = 20488 },
		{ .family = AF_INET, .action = FR_ACT_UNREACHABLE, .pref = 20487, .mark = 0x10000,
		  .mask = 0xffff0000 },
	};
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct coop_pbr_nl *nl = open_nl(NETLINK_ROUTE);
		const struct nlmsghdr *h;
		struct coop_pbr_rule back;
		uint32_t proto = 0;
		const void *m;

		assert_int_equal(coop_pbr_nl_rule(nl, &rules[i], PROTO, true, 7, NULL, NULL), 0);
		m = only_msg(nl, &len, &h);
		assert_int_equal(h->nlmsg_type, RTM_NEWRULE);
		/* Created, never with the kernel's O(n) duplicate check. */
		assert_true(h->nlmsg_flags & NLM_F_CREATE);
		assert_false(h->nlmsg_flags & NLM_F_EXCL);
		assert_int_equal(coop_pbr_nl_parse_rule(m, len, &back, &proto), 0);
		assert_int_equal(proto, PROTO);
		assert_memory_equal(&back, &rules[i], sizeof(back));
		coop_pbr_nl_close(nl);
	}
}

static void test_route_roundtrip(void **state)
{
	struct coop_pbr_route r[3];
	size_t i, len;

	(void)state;
	memset(r, 0, sizeof(r));
	r[0] = (struct coop_pbr_route){ .family = AF_INET, .type = RTN_UNICAST,
					.scope = RT_SCOPE_LINK, .dst_len = 24, .table = 70000,
					.oif = 3, .protocol = PROTO };
	coop_addr_parse("198.18.10.0", &r[0].dst);
	coop_addr_parse("198.18.10.5", &r[0].src);
	r[1] = (struct coop_pbr_route){ .family = AF_INET6, .type = RTN_UNICAST, .table = 65536,
					.metric = 1024, .oif = 4, .protocol = PROTO };
	coop_addr_parse("2001:db8:1::1", &r[1].gw);
	coop_addr_parse("2001:db8:1::5", &r[1].src);
	r[2] = (struct coop_pbr_route){ .family = AF_INET, .type = RTN_UNREACHABLE, .table = 200,
					.protocol = PROTO };
	for (i = 0; i < 3; i++) {
		struct coop_pbr_nl *nl = open_nl(NETLINK_ROUTE);
		struct coop_pbr_route back;
		const struct nlmsghdr *h;
		const void *m;

		assert_int_equal(coop_pbr_nl_route(nl, &r[i], PROTO, true, 1, NULL, NULL), 0);
		m = only_msg(nl, &len, &h);
		assert_int_equal(h->nlmsg_type, RTM_NEWROUTE);
		assert_true((h->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) ==
			    (NLM_F_CREATE | NLM_F_EXCL));
		assert_int_equal(coop_pbr_nl_parse_route(m, len, &back), 0);
		assert_false(back.extra);
		assert_int_equal(back.family, r[i].family);
		assert_int_equal(back.type, r[i].type);
		assert_int_equal(back.scope, r[i].scope);
		assert_int_equal(back.dst_len, r[i].dst_len);
		assert_int_equal(back.table, r[i].table);
		assert_int_equal(back.metric, r[i].metric);
		assert_int_equal(back.oif, r[i].oif);
		assert_int_equal(back.protocol, PROTO);
		assert_memory_equal(&back.dst, &r[i].dst, sizeof(back.dst));
		assert_memory_equal(&back.gw, &r[i].gw, sizeof(back.gw));
		assert_memory_equal(&back.src, &r[i].src, sizeof(back.src));
		coop_pbr_nl_close(nl);
	}
}

/* Flags of an address request, from IFA_FLAGS. */
static uint32_t ifa_flags(const void *m, size_t len)
{
	size_t off = NLMSG_ALIGN(sizeof(struct ifaddrmsg));
	uint32_t v = 0;

	while (off + NLA_HDRLEN <= len) {
		const struct nlattr *a = (const void *)((const char *)m + off);

		if (a->nla_type == IFA_FLAGS)
			memcpy(&v, (const char *)a + NLA_HDRLEN, 4);
		off += NLA_ALIGN(a->nla_len);
	}
	return v;
}

static void test_addr_roundtrip(void **state)
{
	const char *addrs[] = { "198.18.10.5", "2001:db8:12::5" };
	size_t i, len;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct coop_pbr_addr a = { .ifindex = 9, .len = i ? 64 : 24 }, back;
		struct coop_pbr_nl *nl = open_nl(NETLINK_ROUTE);
		const struct nlmsghdr *h;
		const void *m;
		uint32_t flags;

		coop_addr_parse(addrs[i], &a.local);
		assert_int_equal(coop_pbr_nl_addr(nl, &a, PROTO, true, 1, NULL, NULL), 0);
		m = only_msg(nl, &len, &h);
		assert_int_equal(h->nlmsg_type, RTM_NEWADDR);
		assert_int_equal(coop_pbr_nl_parse_addr(m, len, &back), 0);
		assert_int_equal(back.ifindex, 9);
		assert_int_equal(back.len, a.len);
		assert_int_equal(back.protocol, PROTO);
		assert_memory_equal(&back.local, &a.local, sizeof(a.local));
		/* No connected route in the main table; IPv6 usable at once. */
		flags = ifa_flags(m, len);
		assert_true(flags & IFA_F_NOPREFIXROUTE);
		assert_int_equal(!!(flags & IFA_F_NODAD), i == 1);
		coop_pbr_nl_close(nl);
	}
}

/* Messages coop did not make: selectors it never sets mark a rule as
 * "extra" (never equal to coop's layout); broken attributes are refused. */
static void test_parse_foreign(void **state)
{
	struct coop_pbr_nl *nl = open_nl(NETLINK_ROUTE);
	struct fib_rule_hdr frh = { .family = AF_INET, .action = FR_ACT_TO_TBL };
	struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_type = RTN_UNICAST };
	struct coop_pbr_route rt;
	struct coop_pbr_rule r;
	const struct nlmsghdr *h;
	uint32_t proto;
	size_t len;
	const void *m;
	char buf[64];

	(void)state;
	assert_int_equal(coop_pbr_nl_begin(nl, RTM_NEWRULE, 0, &frh, sizeof(frh), 0), 0);
	coop_pbr_nl_put_u32(nl, FRA_PRIORITY, 20001);
	coop_pbr_nl_put_str(nl, FRA_IIFNAME, "eth0");
	coop_pbr_nl_put_u32(nl, FRA_TABLE, 70000);
	assert_int_equal(coop_pbr_nl_end(nl, NULL, NULL), 0);
	m = only_msg(nl, &len, &h);
	assert_int_equal(coop_pbr_nl_parse_rule(m, len, &r, &proto), 0);
	assert_true(r.extra);
	assert_int_equal(proto, 0);
	assert_int_equal(r.table, 70000);
	/* A truncated attribute. */
	memcpy(buf, m, len < sizeof(buf) ? len : sizeof(buf));
	assert_int_equal(coop_pbr_nl_parse_rule(buf, sizeof(struct fib_rule_hdr) + 6, &r, &proto),
			 -EINVAL);
	coop_pbr_nl_close(nl);

	nl = open_nl(NETLINK_ROUTE);
	assert_int_equal(coop_pbr_nl_begin(nl, RTM_NEWROUTE, 0, &rtm, sizeof(rtm), 0), 0);
	coop_pbr_nl_put_u32(nl, RTA_TABLE, 70000);
	coop_pbr_nl_put(nl, RTA_MULTIPATH, "\0\0\0\0\0\0\0\0", 8);
	assert_int_equal(coop_pbr_nl_end(nl, NULL, NULL), 0);
	m = only_msg(nl, &len, &h);
	assert_int_equal(coop_pbr_nl_parse_route(m, len, &rt), 0);
	assert_true(rt.extra);
	coop_pbr_nl_close(nl);
}

/* --- against the kernel (root, private namespace) ------------------------ */

struct results {
	size_t n;           /* answers seen */
	size_t failed;      /* refusals */
	uint32_t bad_tag;   /* tag of the (last) refusal */
	int bad_err;        /* its errno */
	char ext[128];      /* its text */
};

static void on_result(void *arg, uint32_t tag, int err, const char *ext)
{
	struct results *r = arg;

	r->n++;
	if (err) {
		r->failed++;
		r->bad_tag = tag;
		r->bad_err = err;
		snprintf(r->ext, sizeof(r->ext), "%s", ext);
	}
}

static int count_ours(const void *msg, size_t len, void *arg)
{
	struct coop_pbr_rule r;
	uint32_t proto;

	if (coop_pbr_nl_parse_rule(msg, len, &r, &proto) == 0 && proto == PROTO)
		(*(size_t *)arg)++;
	return 0;
}

static size_t rules_in_kernel(struct coop_pbr_nl *nl)
{
	struct fib_rule_hdr frh = { .family = AF_INET };
	size_t n = 0;

	assert_int_equal(coop_pbr_nl_dump(nl, RTM_GETRULE, &frh, sizeof(frh), count_ours, &n), 0);
	return n;
}

#define MANY 3000

static void test_batch_kernel(void **state)
{
	struct coop_pbr_route bad = { .family = AF_INET, .type = RTN_UNICAST, .table = 70000 };
	struct results res = { 0 };
	struct coop_pbr_nl *nl;
	struct coop_pbr_rule r;
	size_t i, msgs;

	(void)state;
	if (!private_ns)
		skip();
	nl = open_nl(NETLINK_ROUTE);
	coop_pbr_nl_set_atomic(nl, false); /* chunked: many sendmsg */
	coop_addr_parse("198.18.99.1", &bad.gw);
	for (i = 0; i < MANY; i++) {
		r = (struct coop_pbr_rule){ .family = AF_INET, .action = FR_ACT_TO_TBL,
					    .pref = 30000 - (uint32_t)i, .mark = 0x10000 + (uint32_t)i,
					    .mask = 0xffffffff, .table = 70000 + (uint32_t)i };
		assert_int_equal(coop_pbr_nl_rule(nl, &r, PROTO, true, (uint32_t)i, on_result, &res),
				 0);
		/* One request the kernel must refuse: no route to its gateway. */
		if (i == MANY / 2)
			assert_int_equal(coop_pbr_nl_route(nl, &bad, PROTO, true, 99999, on_result,
							   &res), 0);
	}
	/* Some chunks already went out on their own. */
	assert_true(coop_pbr_nl_pending(nl, &msgs) < 64 * 1024);
	assert_int_equal(coop_pbr_nl_flush(nl, on_result, &res), 0);
	assert_int_equal(res.n, MANY + 1);
	assert_int_equal(res.failed, 1);
	assert_int_equal(res.bad_tag, 99999);
	assert_int_equal(res.bad_err, -ENETUNREACH);
	assert_true(res.ext[0] != '\0'); /* the kernel's words ("Nexthop has invalid gateway") */
	assert_int_equal(rules_in_kernel(nl), MANY);
	memset(&res, 0, sizeof(res));
	for (i = 0; i < MANY; i++) {
		r = (struct coop_pbr_rule){ .family = AF_INET, .action = FR_ACT_TO_TBL,
					    .pref = 30000 - (uint32_t)i, .mark = 0x10000 + (uint32_t)i,
					    .mask = 0xffffffff, .table = 70000 + (uint32_t)i };
		assert_int_equal(coop_pbr_nl_rule(nl, &r, PROTO, false, (uint32_t)i, on_result,
						  &res), 0);
	}
	assert_int_equal(coop_pbr_nl_flush(nl, on_result, &res), 0);
	assert_int_equal(res.failed, 0);
	assert_int_equal(rules_in_kernel(nl), 0);
	coop_pbr_nl_close(nl);
}

/* The mark an accepted connection to addr:port got, with
 * tcp_fwmark_accept on: the mark its SYN carried on the way in. */
static uint32_t mark_on_accept(const char *addr, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, l, c, a;
	uint32_t mark = 0xdead;
	socklen_t ml = sizeof(mark);

	inet_pton(AF_INET, addr, &sin.sin_addr);
	l = socket(AF_INET, SOCK_STREAM, 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0 && c >= 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(getsockopt(a, SOL_SOCKET, SO_MARK, &mark, &ml), 0);
	close(a);
	close(c);
	close(l);
	return mark;
}

static void test_nft_kernel(void **state)
{
	struct coop_pbr_mark_elem e[3];
	struct results res = { 0 };
	struct coop_pbr_nl *nl;

	(void)state;
	if (!private_ns)
		skip();
	assert_int_equal(system("ip addr add 198.18.50.1/32 dev lo && ip addr add 198.18.50.2/32 dev lo && "
				"ip -6 addr add 2001:db8:50::1/128 dev lo && "
				"sysctl -qw net.ipv4.tcp_fwmark_accept=1"), 0);
	nl = open_nl(NETLINK_NETFILTER);
	coop_addr_parse("198.18.50.1", &e[0].addr);
	e[0].mark = 0x10042;
	coop_addr_parse("2001:db8:50::1", &e[1].addr);
	e[1].mark = 0x10043;
	coop_addr_parse("198.18.60.1", &e[2].addr);
	e[2].mark = 0x10044;
	assert_int_equal(coop_pbr_nft_queue(nl, true, e, 3, on_result, &res), 0);
	assert_int_equal(coop_pbr_nl_flush(nl, on_result, &res), 0);
	assert_int_equal(res.failed, 0);
	/* Marked by destination on the way in; other addresses untouched. */
	assert_int_equal(mark_on_accept("198.18.50.1", 5001), 0x10042);
	assert_int_equal(mark_on_accept("198.18.50.2", 5002), 0);
	/* Replacing the table is one transaction, whether or not it exists. */
	e[0].mark = 0x10099;
	assert_int_equal(coop_pbr_nft_queue(nl, true, e, 1, on_result, &res), 0);
	assert_int_equal(coop_pbr_nl_flush(nl, on_result, &res), 0);
	assert_int_equal(res.failed, 0);
	assert_int_equal(mark_on_accept("198.18.50.1", 5003), 0x10099);
	/* Removal, twice: the second finds nothing and still succeeds. */
	assert_int_equal(coop_pbr_nft_queue(nl, false, NULL, 0, on_result, &res), 0);
	assert_int_equal(coop_pbr_nl_flush(nl, on_result, &res), 0);
	assert_int_equal(coop_pbr_nft_queue(nl, false, NULL, 0, on_result, &res), 0);
	assert_int_equal(coop_pbr_nl_flush(nl, on_result, &res), 0);
	assert_int_equal(res.failed, 0);
	assert_int_equal(mark_on_accept("198.18.50.1", 5004), 0);
	coop_pbr_nl_close(nl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_roundtrip),
		cmocka_unit_test(test_route_roundtrip),
		cmocka_unit_test(test_addr_roundtrip),
		cmocka_unit_test(test_parse_foreign),
		cmocka_unit_test(test_batch_kernel),
		cmocka_unit_test(test_nft_kernel),
	};

	/* As root, leave the host's namespace before anything else: the
	 * kernel tests add thousands of rules. The namespace dies with the
	 * process. */
	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0 && system("ip link set lo up") == 0)
		private_ns = true;
	if (coop_netns_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
