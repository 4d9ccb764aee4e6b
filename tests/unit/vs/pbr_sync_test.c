/* pbr_sync_test.c - one pbr namespace against the real kernel: a commit
 * programs exactly the objects the VSes need, a second run adopts them all,
 * a VS leaving takes only its own state, foreign rules and routes (even one
 * inside coop's priorities or with coop's protocol outside them) survive,
 * a refused change is rolled back, a link coop raised is lowered again.
 * Needs root (skips otherwise) and then runs in a private network namespace
 * of its own. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "base/netns.h"
#include "vs/pbr.h"

static bool private_ns;

/* Output of a shell command (in the private namespace). */
static const char *sh(const char *cmd)
{
	static char out[65536];
	size_t n = 0;
	FILE *f = popen(cmd, "r");

	assert_non_null(f);
	while (n < sizeof(out) - 1 && fgets(out + n, (int)(sizeof(out) - n), f))
		n += strlen(out + n);
	out[n] = '\0';
	pclose(f);
	return out;
}

static int count(const char *cmd)
{
	return atoi(sh(cmd));
}

/* A [vs NAME] section as the loader makes it. */
struct tvs {
	struct coop_vs_cfg cfg;      /* what the space sees */
	struct coop_prefix addrs[4]; /* its addresses */
};

static void tvs_init(struct tvs *t, const char *name, const char *link, const char *a4,
		     const char *gw4, const char *a6, const char *gw6)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->cfg.name, sizeof(t->cfg.name), "%s", name);
	snprintf(t->cfg.ifname, sizeof(t->cfg.ifname), "%s", link);
	t->cfg.isolation = COOP_ISO_PBR;
	t->cfg.addrs = t->addrs;
	if (a4)
		assert_int_equal(coop_prefix_parse(a4, true, &t->addrs[t->cfg.n_addrs++]), 0);
	if (a6)
		assert_int_equal(coop_prefix_parse(a6, true, &t->addrs[t->cfg.n_addrs++]), 0);
	if (gw4) {
		assert_int_equal(coop_addr_parse(gw4, &t->cfg.gw4), 0);
		t->cfg.has_gw4 = true;
	}
	if (gw6) {
		assert_int_equal(coop_addr_parse(gw6, &t->cfg.gw6), 0);
		t->cfg.has_gw6 = true;
	}
}

static struct coop_pbr_space *open_space(void)
{
	struct coop_pbr_params p;
	struct coop_pbr_space *sp = NULL;
	char err[256];

	coop_pbr_params_default(&p);
	assert_int_equal(coop_pbr_space_open("", &p, &sp, err, sizeof(err)), 0);
	return sp;
}

static struct coop_pbr_member *join(struct coop_pbr_space *sp, struct tvs *t, uint32_t mark,
				    uint32_t table)
{
	struct coop_pbr_member *m = coop_pbr_space_join(sp, &t->cfg, mark, table);

	assert_non_null(m);
	return m;
}

static void commit_ok(struct coop_pbr_space *sp)
{
	char err[512];
	int ret = coop_pbr_space_commit(sp, err, sizeof(err));

	if (ret)
		fail_msg("commit: %s", err);
}

static int setup(void **state)
{
	(void)state;
	if (!private_ns)
		return 0;
	sh("ip link add v0 type veth peer name v1 2>&1; ip link set v0 up; ip link set v1 up; "
	   "ip addr add 198.18.69.250/32 dev v0");
	return 0;
}

static void test_lifecycle(void **state)
{
	struct coop_pbr_commit_stats st;
	struct coop_pbr_space *sp;
	struct coop_pbr_member *ma, *mb;
	struct tvs a, b;

	(void)state;
	if (!private_ns)
		skip();
	tvs_init(&a, "a", "v0", "198.18.70.5/24", "198.18.70.1", "2001:db8:70::5/64",
		 "2001:db8:70::1");
	tvs_init(&b, "b", "v0", "198.18.71.5/24", "198.18.71.1", NULL, NULL);
	sp = open_space();
	ma = join(sp, &a, 0x10001, 70001);
	mb = join(sp, &b, 0x10002, 70002);
	assert_true(coop_pbr_space_dirty(sp));
	commit_ok(sp);
	assert_false(coop_pbr_space_dirty(sp));
	assert_true(ma->applied && mb->applied);
	coop_pbr_space_stats(sp, &st);
	/* 3 addresses; routes: a 2+2, b 2; rules: v4 entry, a node of two
	 * lookups, unreachable, nop; v6 the same with one lookup. */
	assert_int_equal(st.added, 3 + 6 + 9);
	assert_int_equal(st.rules, 9);
	assert_int_equal(st.removed, 0);
	assert_int_equal(count("ip -4 rule | grep -c 'proto 246'"), 5);
	assert_int_equal(count("ip route show table 70001 | grep -c 'proto 246'"), 2);
	assert_non_null(strstr(sh("ip route show table 70001"),
			       "default via 198.18.70.1 dev v0 proto 246 src 198.18.70.5"));
	assert_non_null(strstr(sh("ip -6 route show table 70001"), "src 2001:db8:70::5"));
	assert_int_equal(count("sysctl -n net.ipv4.fwmark_reflect"), 1);
	/* Addresses carry no connected route in the main table. */
	assert_null(strstr(sh("ip route show table main"), "198.18.70.0/24"));

	/* A crash: the process goes, the kernel state stays. A new run adopts
	 * every object instead of adding or removing any. */
	coop_pbr_space_close(sp);
	sp = open_space();
	ma = join(sp, &a, 0x10001, 70001);
	mb = join(sp, &b, 0x10002, 70002);
	commit_ok(sp);
	coop_pbr_space_stats(sp, &st);
	assert_int_equal(st.kept, 18);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.removed, 0);

	/* b leaves: its address and table go, a's state stays. */
	coop_pbr_space_leave(mb);
	commit_ok(sp);
	coop_pbr_space_stats(sp, &st);
	assert_int_equal(st.rules, 8);
	assert_null(strstr(sh("ip -o addr show dev v0"), "198.18.71.5"));
	assert_non_null(strstr(sh("ip -o addr show dev v0"), "198.18.70.5"));
	assert_int_equal(count("ip route show table 70002 | wc -l"), 0);
	assert_int_equal(count("ip route show table 70001 | wc -l"), 2);

	/* The last one: nothing of coop's left, sysctls as they were. */
	coop_pbr_space_leave(ma);
	commit_ok(sp);
	coop_pbr_space_stats(sp, &st);
	assert_int_equal(st.rules, 0);
	assert_int_equal(count("sysctl -n net.ipv4.fwmark_reflect"), 0);
	assert_int_equal(count("ip rule | grep -c 'proto 246'"), 0);
	assert_int_equal(count("ip -6 rule | grep -c 'proto 246'"), 0);
	assert_int_equal(count("ip route show table all proto 246 | wc -l"), 0);
	assert_null(strstr(sh("ip -o addr show dev v0"), "198.18.70.5"));
	assert_non_null(strstr(sh("ip -o addr show dev v0"), "198.18.69.250"));
	coop_pbr_space_close(sp);
}

static void test_foreign_state(void **state)
{
	struct coop_pbr_space *sp;
	struct coop_pbr_member *m;
	struct tvs a;
	char why[160];

	(void)state;
	if (!private_ns)
		skip();
	sh("ip rule add pref 20001 fwmark 0x99 lookup 555; "
	   "ip rule add pref 100 fwmark 0x98 lookup 556 proto 246; "
	   "ip route add 198.18.80.0/24 dev v0 table 557");
	sp = open_space();
	assert_int_equal(coop_pbr_space_table_check(sp, 555, why, sizeof(why)), -EBUSY);
	assert_non_null(strstr(why, "used by a rule coop does not own (priority 20001"));
	/* coop's protocol but not coop's priority range: still foreign. */
	assert_int_equal(coop_pbr_space_table_check(sp, 556, why, sizeof(why)), -EBUSY);
	assert_int_equal(coop_pbr_space_table_check(sp, 557, why, sizeof(why)), -EBUSY);
	assert_non_null(strstr(why, "holds routes coop does not own"));
	assert_int_equal(coop_pbr_space_table_check(sp, 558, why, sizeof(why)), 0);
	tvs_init(&a, "a", "v0", "198.18.70.5/24", "198.18.70.1", NULL, NULL);
	m = join(sp, &a, 0x10001, 70001);
	commit_ok(sp);
	assert_int_equal(count("ip rule | grep -c 'proto 246'"), 5);
	coop_pbr_space_leave(m);
	commit_ok(sp);
	coop_pbr_space_close(sp);
	assert_non_null(strstr(sh("ip rule"), "20001:\tfrom all fwmark 0x99 lookup 555"));
	assert_non_null(strstr(sh("ip rule"), "100:\tfrom all fwmark 0x98 lookup 556 proto 246"));
	assert_non_null(strstr(sh("ip route show table 557"), "198.18.80.0/24"));
	assert_int_equal(count("ip rule | grep -c 'proto 246'"), 1);
	sh("ip rule del pref 20001; ip rule del pref 100; ip route flush table 557");
}

static void test_refused_change_rolls_back(void **state)
{
	struct coop_pbr_commit_stats st;
	struct coop_pbr_space *sp;
	struct coop_pbr_member *ma, *mbad;
	struct tvs a, bad;
	char err[512];

	(void)state;
	if (!private_ns)
		skip();
	tvs_init(&a, "a", "v0", "198.18.70.5/24", "198.18.70.1", NULL, NULL);
	/* A gateway in none of its subnets: the kernel refuses the route. */
	tvs_init(&bad, "bad", "v0", "198.18.72.5/24", "198.18.99.1", NULL, NULL);
	sp = open_space();
	ma = join(sp, &a, 0x10001, 70001);
	commit_ok(sp);
	mbad = join(sp, &bad, 0x10003, 70003);
	assert_int_equal(coop_pbr_space_commit(sp, err, sizeof(err)), -ENETUNREACH);
	assert_non_null(strstr(err, "vs 'bad': adding default route via 198.18.99.1 table 70003"));
	assert_false(mbad->want || mbad->applied);
	assert_true(ma->applied);
	assert_null(strstr(sh("ip -o addr show dev v0"), "198.18.72.5"));
	assert_int_equal(count("ip route show table 70003 | wc -l"), 0);
	assert_int_equal(count("ip rule | grep -c 'lookup 70003'"), 0);
	assert_int_equal(count("ip rule | grep -c 'lookup 70001'"), 1);
	/* a alone, IPv4 only: entry, lookup, unreachable, nop; IPv6 keeps
	 * entry, unreachable and nop so a's IPv6 sockets go nowhere. */
	coop_pbr_space_stats(sp, &st);
	assert_int_equal(st.rules, 4 + 3);
	coop_pbr_space_leave(mbad);
	coop_pbr_space_leave(ma);
	commit_ok(sp);
	assert_int_equal(count("ip rule | grep -c 'proto 246'"), 0);
	coop_pbr_space_close(sp);
}

static void test_link_raised_and_lowered(void **state)
{
	struct coop_pbr_space *sp;
	struct coop_pbr_member *m;
	struct tvs a;

	(void)state;
	if (!private_ns)
		skip();
	sh("ip link add v2 type veth peer name v3; ip link set v3 up");
	tvs_init(&a, "a", "v2", "198.18.73.5/24", "198.18.73.1", NULL, NULL);
	sp = open_space();
	m = join(sp, &a, 0x10001, 70001);
	commit_ok(sp);
	assert_non_null(strstr(sh("ip -o link show v2"), ",UP"));
	coop_pbr_space_leave(m);
	commit_ok(sp);
	assert_null(strstr(sh("ip -o link show v2"), ",UP"));
	coop_pbr_space_close(sp);
	sh("ip link del v2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_foreign_state),
		cmocka_unit_test(test_refused_change_rolls_back),
		cmocka_unit_test(test_link_raised_and_lowered),
	};

	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0 &&
	    system("ip link set lo up && sysctl -qw net.ipv6.conf.default.addr_gen_mode=1") == 0)
		private_ns = true;
	if (coop_netns_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, NULL);
}
