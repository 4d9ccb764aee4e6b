/* iso_netns_test.c - the netns isolation backend: up/down with a veth moved
 * in and back, addresses and default routes, attached namespaces left as
 * they were, undo on failure, independent address plans. Needs root (skips
 * otherwise); every namespace and link is named "ct<pid>-..." and removed in
 * teardown even when an assertion failed. State is checked with `ip`. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "base/netns.h"
#include "core/vs.h"
#include "runtime/rt.h"
#include "tests/unit/root_util.h"

/* "ct<pid>-": short enough that prefix + "v0" fits IF_NAMESIZE. */
static char P[14];

/* A VS built by hand, as vs.c would from a [vs NAME] section. */
struct tvs {
	struct coop_vs vs;           /* what the backend sees */
	struct coop_vs_cfg cfg;      /* its configuration */
	struct coop_prefix addrs[8]; /* cfg.addrs storage */
};

/* Output of a shell command (stderr discarded), in a static buffer. */
static const char *__attribute__((format(printf, 1, 2))) out(const char *fmt, ...)
{
	static char buf[8192];
	char cmd[512];
	size_t n = 0, r;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>/dev/null", sizeof(cmd) - strlen(cmd) - 1);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (n < sizeof(buf) - 1 && (r = fread(buf + n, 1, sizeof(buf) - 1 - n, f)) > 0)
		n += r;
	buf[n] = '\0';
	pclose(f);
	return buf;
}

#define assert_has(hay, needle) assert_non_null(strstr((hay), (needle)))
#define assert_lacks(hay, needle) assert_null(strstr((hay), (needle)))

static void set_addr(struct coop_addr *a, const char *s)
{
	a->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a->family, s, &a->v4), 1);
}

static void tvs_init(struct tvs *t, const char *suffix)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->cfg.name, sizeof(t->cfg.name), "%s%s", P, suffix);
	t->cfg.isolation = COOP_ISO_NETNS;
	t->cfg.addrs = t->addrs;
	t->vs.cfg = &t->cfg;
	t->vs.iso = coop_mod_netns.iso;
}

/* Add "ADDR/LEN", on link ifname ("" = the VS interface or lo). */
static void tvs_addr(struct tvs *t, const char *s, const char *ifname)
{
	struct coop_prefix *p = &t->addrs[t->cfg.n_addrs++];
	char a[64], *slash;

	snprintf(a, sizeof(a), "%s", s);
	slash = strchr(a, '/');
	assert_non_null(slash);
	*slash = '\0';
	set_addr(&p->addr, a);
	p->len = atoi(slash + 1);
	snprintf(p->ifname, sizeof(p->ifname), "%s", ifname);
}

static void tvs_gw(struct tvs *t, const char *s)
{
	if (strchr(s, ':')) {
		set_addr(&t->cfg.gw6, s);
		t->cfg.has_gw6 = true;
	} else {
		set_addr(&t->cfg.gw4, s);
		t->cfg.has_gw4 = true;
	}
}

static int up(struct tvs *t, char *err, size_t errlen)
{
	return coop_mod_netns.vs_add(&t->vs, err, errlen);
}

/* Is link ifname (in namespace ns, "" = default) administratively up? */
static bool link_is_up(const char *ns, const char *ifname)
{
	const char *o = *ns ? out("ip -n %s -o link show dev %s", ns, ifname)
			    : out("ip -o link show dev %s", ifname);

	assert_has(o, ifname);
	return strstr(o, "<UP") || strstr(o, ",UP");
}

static bool link_exists(const char *ns, const char *ifname)
{
	return *ns ? sh("ip -n %s link show dev %s >/dev/null 2>&1", ns, ifname) == 0
		   : sh("ip link show dev %s >/dev/null 2>&1", ifname) == 0;
}

/* Remove every /run/netns/ct<pid>-* and the test veth, whatever happened. */
static int cleanup(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	netns_remove_prefixed(P);
	sh("ip link del %sv0 2>/dev/null", P);
	sh("ip link del %sv1 2>/dev/null", P);
	return 0;
}

static bool need_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("not root: namespace test skipped\n");
	return false;
}

/* A veth pair: PREFIX-v0 (given to the VS) and PREFIX-v1 (the "router"
 * side, in the default namespace, carrying the gateway addresses). */
static void veth_make(const char *gw4, const char *gw6)
{
	assert_int_equal(sh("ip link add %sv0 type veth peer name %sv1", P, P), 0);
	assert_int_equal(sh("ip link set %sv1 up", P), 0);
	if (gw4)
		assert_int_equal(sh("ip addr add %s dev %sv1", gw4, P), 0);
	if (gw6)
		assert_int_equal(sh("ip addr add %s dev %sv1 nodad", gw6, P), 0);
}

/* Owned namespace, veth moved in and back, addresses, both default routes,
 * a socket serving in there, and nothing left after down. */
static void test_owned_with_veth(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof(sin);
	char v0[IF_NAMESIZE], err[256];
	const char *ns, *o;
	struct tvs t;
	int lfd, cfd, afd;

	(void)state;
	if (!need_root())
		return;
	veth_make("198.18.1.254/24", "2001:db8:1::fe/64");
	snprintf(v0, sizeof(v0), "%sv0", P);
	/* Up before: it must come back up. */
	assert_int_equal(sh("ip link set %s up", v0), 0);
	tvs_init(&t, "vs1");
	ns = t.cfg.name;
	snprintf(t.cfg.ifname, sizeof(t.cfg.ifname), "%s", v0);
	tvs_addr(&t, "198.18.1.1/24", "");
	tvs_addr(&t, "2001:db8:1::1/64", "");
	tvs_gw(&t, "198.18.1.254");
	tvs_gw(&t, "2001:db8:1::fe");
	assert_int_equal(t.vs.iso->socket(&t.vs, AF_INET, SOCK_DGRAM, 0), -ENETDOWN);

	err[0] = '\0';
	assert_int_equal(up(&t, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(t.vs.iso_priv);
	assert_true(coop_netns_exists(ns));
	assert_false(link_exists("", v0));
	assert_true(link_is_up(ns, v0));
	o = out("ip -n %s -o addr show dev %s", ns, v0);
	assert_has(o, "inet 198.18.1.1/24");
	assert_has(o, "inet6 2001:db8:1::1/64");
	assert_lacks(out("ip -n %s -o addr show dev %s | grep 2001:db8:1::1/", ns, v0), "tentative");
	assert_has(out("ip -n %s -4 route show default", ns), "via 198.18.1.254");
	assert_has(out("ip -n %s -6 route show default", ns), "via 2001:db8:1::fe");
	/* A second up is refused, not stacked. */
	assert_int_equal(up(&t, err, sizeof(err)), -EALREADY);

	/* A listener in the VS, reached from the default namespace. */
	lfd = t.vs.iso->socket(&t.vs, AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	inet_pton(AF_INET, "198.18.1.1", &sin.sin_addr);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(afd);
	close(cfd);
	close(lfd);
	/* The VS's IPv6 address is bindable at once (no DAD wait). */
	lfd = t.vs.iso->socket(&t.vs, AF_INET6, SOCK_DGRAM, 0);
	assert_true(lfd >= 0);
	inet_pton(AF_INET6, "2001:db8:1::1", &sin6.sin6_addr);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	close(lfd);

	coop_mod_netns.vs_remove(&t.vs);
	assert_null(t.vs.iso_priv);
	assert_false(coop_netns_exists(ns));
	assert_true(link_exists("", v0));
	assert_true(link_is_up("", v0));
	o = out("ip -o addr show dev %s", v0);
	assert_lacks(o, "198.18.1.1");
	assert_lacks(o, "2001:db8:1::1/");
	/* down twice is harmless. */
	coop_mod_netns.vs_remove(&t.vs);
}

/* An existing namespace holding the interface already: coop adds and later
 * removes only its own addresses, routes and link state. */
static void test_attached_untouched(void **state)
{
	char att[64], v0[IF_NAMESIZE], err[256];
	const char *o;
	struct tvs t;

	(void)state;
	if (!need_root())
		return;
	snprintf(att, sizeof(att), "%satt", P);
	snprintf(v0, sizeof(v0), "%sv0", P);
	veth_make("198.18.2.254/24", "2001:db8:2::fe/64");
	assert_int_equal(sh("ip netns add %s", att), 0);
	assert_int_equal(sh("ip link set %s netns %s", v0, att), 0);
	assert_int_equal(sh("ip -n %s addr add 198.18.2.9/24 dev %s", att, v0), 0);
	assert_int_equal(sh("ip -n %s link set lo up", att), 0);
	assert_int_equal(sh("ip -n %s addr add 198.18.2.77/32 dev lo", att), 0);
	assert_false(link_is_up(att, v0));

	tvs_init(&t, "vs2");
	snprintf(t.cfg.netns, sizeof(t.cfg.netns), "%s", att);
	snprintf(t.cfg.ifname, sizeof(t.cfg.ifname), "%s", v0);
	tvs_addr(&t, "198.18.2.1/24", "");
	tvs_addr(&t, "2001:db8:2::1/64", "");
	tvs_addr(&t, "198.18.3.1/32", "lo");
	tvs_gw(&t, "198.18.2.254");
	tvs_gw(&t, "2001:db8:2::fe");
	assert_int_equal(up(&t, err, sizeof(err)), 0);
	assert_false(coop_netns_exists(t.cfg.name)); /* namespace = wins */
	assert_true(link_is_up(att, v0));
	o = out("ip -n %s -o addr show dev %s", att, v0);
	assert_has(o, "inet 198.18.2.1/24");
	assert_has(o, "inet 198.18.2.9/24");
	assert_has(o, "inet6 2001:db8:2::1/64");
	assert_has(out("ip -n %s -o addr show dev lo", att), "inet 198.18.3.1/32");
	assert_has(out("ip -n %s -4 route show default", att), "via 198.18.2.254");
	assert_has(out("ip -n %s -6 route show default", att), "via 2001:db8:2::fe");

	coop_mod_netns.vs_remove(&t.vs);
	assert_true(coop_netns_exists(att));
	assert_true(link_exists(att, v0));
	assert_false(link_exists("", v0));
	assert_false(link_is_up(att, v0)); /* coop set it up, coop set it down */
	o = out("ip -n %s -o addr show dev %s", att, v0);
	assert_lacks(o, "198.18.2.1/");
	assert_lacks(o, "2001:db8:2::1/");
	assert_has(o, "inet 198.18.2.9/24");
	o = out("ip -n %s -o addr show dev lo", att);
	assert_lacks(o, "198.18.3.1");
	assert_has(o, "inet 198.18.2.77/32");
	assert_true(link_is_up(att, "lo"));
	assert_string_equal(out("ip -n %s -4 route show default", att), "");
	assert_string_equal(out("ip -n %s -6 route show default", att), "");
}

/* An address that already exists in an attached namespace stops up() after
 * a link move and other addresses: all of that is undone, theirs is kept. */
static void test_failure_undoes(void **state)
{
	char att[64], v0[IF_NAMESIZE], err[256], want[256];
	const char *o;
	struct tvs t;

	(void)state;
	if (!need_root())
		return;
	snprintf(att, sizeof(att), "%satt", P);
	snprintf(v0, sizeof(v0), "%sv0", P);
	veth_make(NULL, NULL);
	assert_int_equal(sh("ip netns add %s", att), 0);
	assert_int_equal(sh("ip -n %s addr add 198.18.4.1/32 dev lo", att), 0);

	tvs_init(&t, "vs3");
	snprintf(t.cfg.netns, sizeof(t.cfg.netns), "%s", att);
	snprintf(t.cfg.ifname, sizeof(t.cfg.ifname), "%s", v0);
	tvs_addr(&t, "198.18.5.1/24", "");
	tvs_addr(&t, "2001:db8:5::1/64", "");
	tvs_addr(&t, "198.18.4.1/32", "lo");
	assert_int_equal(up(&t, err, sizeof(err)), -EEXIST);
	/* The kernel's own words may follow in parentheses. */
	snprintf(want, sizeof(want), "vs '%s': address 198.18.4.1/32 on lo: File exists", t.cfg.name);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	assert_null(t.vs.iso_priv);
	/* The veth went back, down as it was; the namespace and its own
	 * address stay. */
	assert_true(link_exists("", v0));
	assert_false(link_exists(att, v0));
	assert_false(link_is_up("", v0));
	assert_true(coop_netns_exists(att));
	assert_has(out("ip -n %s -o addr show dev lo", att), "inet 198.18.4.1/32");
	o = out("ip -n %s -o addr; ip -o addr", att);
	assert_lacks(o, "198.18.5.1");
	assert_lacks(o, "2001:db8:5::1");
	assert_int_equal(t.vs.iso->socket(&t.vs, AF_INET, SOCK_DGRAM, 0), -ENETDOWN);
}

/* A failure at the last step (the route) in a namespace coop created: the
 * namespace goes, the veth comes back. */
static void test_route_failure_owned(void **state)
{
	char v0[IF_NAMESIZE], err[256], want[256];
	struct tvs t;

	(void)state;
	if (!need_root())
		return;
	snprintf(v0, sizeof(v0), "%sv0", P);
	veth_make(NULL, NULL);
	tvs_init(&t, "vs4");
	snprintf(t.cfg.ifname, sizeof(t.cfg.ifname), "%s", v0);
	tvs_addr(&t, "198.18.6.1/24", "");
	tvs_gw(&t, "198.18.99.1");
	assert_int_equal(up(&t, err, sizeof(err)), -ENETUNREACH);
	snprintf(want, sizeof(want), "vs '%s': default route via 198.18.99.1: Network is unreachable",
		 t.cfg.name);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	assert_null(t.vs.iso_priv);
	assert_false(coop_netns_exists(t.cfg.name));
	assert_true(link_exists("", v0));
	assert_lacks(out("ip -o addr show dev %s", v0), "198.18.6.1");
}

/* An IPv6 link-local gateway only makes sense on the VS interface. */
static void test_linklocal_gateway(void **state)
{
	char v0[IF_NAMESIZE], err[256];
	const char *o;
	struct tvs t;

	(void)state;
	if (!need_root())
		return;
	snprintf(v0, sizeof(v0), "%sv0", P);
	veth_make(NULL, NULL);
	tvs_init(&t, "vs6");
	snprintf(t.cfg.ifname, sizeof(t.cfg.ifname), "%s", v0);
	tvs_addr(&t, "2001:db8:8::1/64", "");
	tvs_gw(&t, "fe80::1");
	assert_int_equal(up(&t, err, sizeof(err)), 0);
	o = out("ip -n %s -6 route show default", t.cfg.name);
	assert_has(o, "via fe80::1");
	assert_has(o, v0);
	coop_mod_netns.vs_remove(&t.vs);
	assert_false(coop_netns_exists(t.cfg.name));
	assert_true(link_exists("", v0));
}

static void test_missing_interface(void **state)
{
	char err[256], want[256];
	struct tvs t;

	(void)state;
	if (!need_root())
		return;
	tvs_init(&t, "vs5");
	snprintf(t.cfg.ifname, sizeof(t.cfg.ifname), "%sno", P);
	tvs_addr(&t, "198.18.7.1/24", "");
	assert_int_equal(up(&t, err, sizeof(err)), -ENODEV);
	snprintf(want, sizeof(want), "vs '%s': interface %sno: No such device", t.cfg.name, P);
	assert_string_equal(err, want);
	assert_false(coop_netns_exists(t.cfg.name));
}

/* Two VSes with the same address in their own namespaces: independent
 * address plans, each socket binds it in its own namespace. */
static void test_same_address_twice(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(7000) };
	struct tvs a, b;
	char err[256];
	int fa, fb;

	(void)state;
	if (!need_root())
		return;
	tvs_init(&a, "a");
	tvs_init(&b, "b");
	tvs_addr(&a, "198.18.9.1/32", "");
	tvs_addr(&b, "198.18.9.1/32", "");
	assert_int_equal(up(&a, err, sizeof(err)), 0);
	assert_int_equal(up(&b, err, sizeof(err)), 0);
	assert_has(out("ip -n %s -o addr show dev lo", a.cfg.name), "inet 198.18.9.1/32");
	inet_pton(AF_INET, "198.18.9.1", &sin.sin_addr);
	fa = a.vs.iso->socket(&a.vs, AF_INET, SOCK_STREAM, 0);
	fb = b.vs.iso->socket(&b.vs, AF_INET, SOCK_STREAM, 0);
	assert_true(fa >= 0 && fb >= 0);
	assert_int_equal(bind(fa, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(bind(fb, (struct sockaddr *)&sin, sizeof(sin)), 0);
	close(fa);
	close(fb);
	coop_mod_netns.vs_remove(&a.vs);
	assert_false(coop_netns_exists(a.cfg.name));
	assert_true(coop_netns_exists(b.cfg.name));
	coop_mod_netns.vs_remove(&b.vs);
	assert_false(coop_netns_exists(b.cfg.name));
}

/* Two VSes in one namespace coop created: the first down removes only its
 * own address; the namespace goes with the last. */
static void test_shared_namespace(void **state)
{
	char shared[64], err[256];
	struct tvs a, b;
	const char *o;

	(void)state;
	if (!need_root())
		return;
	snprintf(shared, sizeof(shared), "%sshared", P);
	tvs_init(&a, "sa");
	tvs_init(&b, "sb");
	snprintf(a.cfg.netns, sizeof(a.cfg.netns), "%s", shared);
	snprintf(b.cfg.netns, sizeof(b.cfg.netns), "%s", shared);
	tvs_addr(&a, "198.18.10.1/32", "");
	tvs_addr(&b, "198.18.10.2/32", "");
	assert_int_equal(up(&a, err, sizeof(err)), 0);
	assert_int_equal(up(&b, err, sizeof(err)), 0);
	/* The same address twice in one namespace is a conflict. */
	{
		struct tvs c;

		tvs_init(&c, "sc");
		snprintf(c.cfg.netns, sizeof(c.cfg.netns), "%s", shared);
		tvs_addr(&c, "198.18.10.2/32", "");
		assert_int_equal(up(&c, err, sizeof(err)), -EEXIST);
	}
	coop_mod_netns.vs_remove(&a.vs);
	assert_true(coop_netns_exists(shared));
	o = out("ip -n %s -o addr show dev lo", shared);
	assert_lacks(o, "198.18.10.1/");
	assert_has(o, "inet 198.18.10.2/32");
	coop_mod_netns.vs_remove(&b.vs);
	assert_false(coop_netns_exists(shared));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_owned_with_veth, cleanup),
		cmocka_unit_test_teardown(test_attached_untouched, cleanup),
		cmocka_unit_test_teardown(test_failure_undoes, cleanup),
		cmocka_unit_test_teardown(test_route_failure_owned, cleanup),
		cmocka_unit_test_teardown(test_linklocal_gateway, cleanup),
		cmocka_unit_test_teardown(test_missing_interface, cleanup),
		cmocka_unit_test_teardown(test_same_address_twice, cleanup),
		cmocka_unit_test_teardown(test_shared_namespace, cleanup),
	};

	snprintf(P, sizeof(P), "ct%d-", (int)getpid());
	if (coop_netns_init() < 0) {
		fprintf(stderr, "coop_netns_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, cleanup);
}
