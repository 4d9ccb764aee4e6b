/* xdp_config_test.c - unit tests of the [forwarder] section: values (fwd/xdp_config.c), whole-section rules, and the messages an operator sees. */
#include <arpa/inet.h>
#include <errno.h>
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
#include "runtime/rt.h"
#include "base/netns.h"
#include "fwd/bpf/coop_xdp.h"
#include "fwd/coop_fwd.h"
#include "fwd/xdp_ctl.h"

static char tmpdir[64];    /* mkdtemp directory */
static char ini_path[128]; /* tmpdir/coop.ini */
static char err[1024];     /* last loader message */

/* A VS section every file needs, then the forwarder section body. */
#define HEAD "[global]\nadmin_socket = none\n\n[vs a]\nlisten = tcp:7 echo\n\n[forwarder]\n"
#define BASE                                                                                \
	"interface = lo\n"                                                                  \
	"vips = 198.18.100.1:7/tcp\n"                                                       \
	"nodes = n1 198.18.11.2, n2 198.18.12.2\n"                                          \
	"self = n1\n"

static int load(const char *body, unsigned flags, struct coop_config **cfg)
{
	char text[4096];
	FILE *f;

	snprintf(text, sizeof(text), HEAD "%s", body);
	f = fopen(ini_path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	*cfg = NULL;
	return coop_config_load_flags(ini_path, flags, cfg, err, sizeof(err));
}

static struct coop_config *load_ok(const char *body)
{
	struct coop_config *cfg;
	int ret = load(body, COOP_CONFIG_NO_LINKS, &cfg);

	if (ret)
		print_error("unexpected error %d: %s\n", ret, err);
	assert_int_equal(ret, 0);
	assert_true(cfg->fwd.enabled);
	return cfg;
}

/* The load fails with "FILE: [forwarder] KEY: ..." containing what. */
static void expect_error(const char *body, const char *key, const char *what)
{
	struct coop_config *cfg;
	char where[64];
	int ret = load(body, COOP_CONFIG_NO_LINKS, &cfg);

	if (ret == 0 || !strstr(err, what))
		print_error("body:\n%s\nerror: %s\n(wanted: %s)\n", body, err, what);
	assert_int_equal(ret, -EINVAL);
	assert_null(cfg);
	snprintf(where, sizeof(where), ": [forwarder] %s: ", key);
	if (!strstr(err, where))
		print_error("error '%s' does not name %s\n", err, where);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, what));
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/coop-xdpcfg.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(ini_path, sizeof(ini_path), "%s/coop.ini", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(ini_path);
	rmdir(tmpdir);
	return 0;
}

static void test_absent(void **state)
{
	struct coop_config *cfg;
	FILE *f;

	(void)state;
	f = fopen(ini_path, "w");
	assert_non_null(f);
	fputs("[vs a]\nlisten = tcp:7 echo\n", f);
	fclose(f);
	assert_int_equal(coop_config_load_flags(ini_path, COOP_CONFIG_NO_LINKS, &cfg, err,
						sizeof(err)),
			 0);
	assert_false(cfg->fwd.enabled);
	assert_int_equal(cfg->fwd.n_nodes, 0);
	coop_config_free(cfg);
}

static void test_defaults(void **state)
{
	struct coop_config *cfg = load_ok(BASE);
	const struct coop_fwd_cfg *f = &cfg->fwd;

	(void)state;
	assert_string_equal(f->ifname, "lo");
	assert_int_equal(f->table_size, COOP_FWD_M_DEFAULT);
	assert_int_equal(f->flow_cache_size, COOP_XDP_FLOWS_DEFAULT);
	assert_int_equal(f->encap, COOP_FWD_ENCAP_GUE);
	assert_int_equal(f->gue_port, 6080);
	assert_int_equal(f->mtu, 0);
	assert_int_equal(f->xdp_mode, COOP_FWD_XDP_AUTO);
	assert_int_equal(f->n_nodes, 2);
	assert_int_equal(f->nodes[0].weight, 1);
	assert_string_equal(f->self, "n1");
	coop_config_free(cfg);
}

static void test_full(void **state)
{
	struct coop_config *cfg = load_ok(
		"interface = eth1\n"
		"vips = 198.18.100.1:2049/tcp, 198.18.100.1:*/UDP, [2001:db8:100::1]:445/tcp\n"
		"nodes = nas-a 198.18.11.2 3, nas-b 198.18.12.2 0, nas.c 198.18.13.2\n"
		"self = nas-b\n"
		"table_size = 65537\n"
		"flow_cache_size = 1048576\n"
		"encap = IPIP\n"
		"gue_port = 5555\n"
		"mtu = 9000\n"
		"xdp_mode = generic\n");
	const struct coop_fwd_cfg *f = &cfg->fwd;
	struct in6_addr v6;

	(void)state;
	assert_string_equal(f->ifname, "eth1");
	assert_int_equal(f->n_vips, 3);
	assert_int_equal(f->vips[0].addr.family, AF_INET);
	assert_int_equal(ntohl(f->vips[0].addr.v4.s_addr), 0xc6126401);
	assert_int_equal(f->vips[0].port, 2049);
	assert_int_equal(f->vips[0].proto, IPPROTO_TCP);
	assert_int_equal(f->vips[1].port, 0); /* every port */
	assert_int_equal(f->vips[1].proto, IPPROTO_UDP);
	inet_pton(AF_INET6, "2001:db8:100::1", &v6);
	assert_int_equal(f->vips[2].addr.family, AF_INET6);
	assert_memory_equal(&f->vips[2].addr.v6, &v6, 16);
	assert_int_equal(f->vips[2].port, 445);
	assert_int_equal(f->n_nodes, 3);
	assert_string_equal(f->nodes[0].name, "nas-a");
	assert_int_equal(f->nodes[0].weight, 3);
	assert_int_equal(f->nodes[1].weight, 0);
	assert_string_equal(f->nodes[2].name, "nas.c");
	assert_int_equal(ntohl(f->nodes[2].addr.v4.s_addr), 0xc6120d02);
	assert_string_equal(f->self, "nas-b");
	assert_int_equal(f->flow_cache_size, 1048576);
	assert_int_equal(f->encap, COOP_FWD_ENCAP_IPIP);
	assert_int_equal(f->gue_port, 5555);
	assert_int_equal(f->mtu, 9000);
	assert_int_equal(f->xdp_mode, COOP_FWD_XDP_GENERIC);
	coop_config_free(cfg);
}

/* Words in any case; auto is 0 (the interface's MTU at start). */
static void test_words(void **state)
{
	struct coop_config *cfg = load_ok(BASE "mtu = Auto\nencap = GUE\nxdp_mode = NATIVE\n");

	(void)state;
	assert_int_equal(cfg->fwd.mtu, 0);
	assert_int_equal(cfg->fwd.encap, COOP_FWD_ENCAP_GUE);
	assert_int_equal(cfg->fwd.xdp_mode, COOP_FWD_XDP_NATIVE);
	coop_config_free(cfg);
}

static void test_ipv6_cluster(void **state)
{
	struct coop_config *cfg = load_ok("interface = lo\nvips = [2001:db8::100]:80/tcp\n"
					  "nodes = a 2001:db8:1::2, b 2001:db8:2::2\nself = b\n");

	(void)state;
	assert_int_equal(cfg->fwd.nodes[0].addr.family, AF_INET6);
	coop_config_free(cfg);
}

static void test_required(void **state)
{
	(void)state;
	expect_error("vips = 198.18.100.1:7/tcp\nnodes = n1 198.18.11.2\nself = n1\n", "interface",
		     "required");
	expect_error("interface = lo\nnodes = n1 198.18.11.2\nself = n1\n", "vips", "required");
	expect_error("interface = lo\nvips = 198.18.100.1:7/tcp\nself = n1\n", "nodes", "required");
	expect_error("interface = lo\nvips = 198.18.100.1:7/tcp\nnodes = n1 198.18.11.2\n", "self",
		     "required");
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_error("interface = a/b\n", "interface", "not a link name");
	expect_error("vips = 198.18.100.1/tcp\n", "vips", "is not ADDR:PORT/PROTO");
	expect_error("vips = 198.18.100.1:7\n", "vips", "is not ADDR:PORT/PROTO");
	expect_error("vips = 198.18.100.1:7/sctp\n", "vips", "unknown protocol 'sctp'");
	expect_error("vips = 198.18.100.1:0/tcp\n", "vips", "bad port");
	expect_error("vips = 198.18.100.1:65536/tcp\n", "vips", "bad port");
	expect_error("vips = 224.0.0.1:7/tcp\n", "vips", "not a unicast address");
	expect_error("vips = 2001:db8::1:7/tcp\n", "vips", "write an IPv6 VIP as [ADDR]");
	expect_error("vips = [2001:db8::1:7/tcp\n", "vips", "unbalanced");
	expect_error("vips = 198.18.100.1:7/tcp, 198.18.100.1:7/tcp\n", "vips", "listed twice");
	expect_error("vips = 198.18.100.1:7/tcp,\n", "vips", "empty entry");
	expect_error("nodes = n1\n", "nodes", "is not NAME ADDR [WEIGHT]");
	expect_error("nodes = n1 198.18.11.2 1 2\n", "nodes", "is not NAME ADDR [WEIGHT]");
	expect_error("nodes = N1 198.18.11.2\n", "nodes", "'N1' is not a node name");
	expect_error("nodes = n1 198.18.11.300\n", "nodes", "is not a unicast address");
	expect_error("nodes = n1 198.18.11.2 10001\n", "nodes", "is not a weight");
	expect_error("nodes = n1 198.18.11.2, n1 198.18.11.3\n", "nodes", "node n1 is listed twice");
	expect_error("nodes = n1 198.18.11.2, n2 198.18.11.2\n", "nodes", "the same address");
	expect_error("self = n1 n2\n", "self", "is not a node name");
	expect_error("table_size = 100\n", "table_size", "not a table size");
	/* a value error comes before the keys the section still lacks */
	expect_error("table_size = 65535\n", "table_size", "not prime");
	expect_error("flow_cache_size = 10\n", "flow_cache_size", "not a flow count");
	expect_error("encap = vxlan\n", "encap", "not an encapsulation");
	expect_error("gue_port = 0\n", "gue_port", "not a UDP port");
	expect_error("mtu = 1335\n", "mtu", "not a cluster MTU (1336..65535, or 'auto'");
	expect_error("xdp_mode = offload\n", "xdp_mode", "not an XDP mode");
}

static void test_section_rules(void **state)
{
	(void)state;
	expect_error("interface = lo\nvips = 198.18.100.1:7/tcp\nnodes = n1 198.18.11.2\nself = n9\n",
		     "self", "'n9' is not one of the nodes");
	expect_error("interface = lo\nvips = 198.18.100.1:7/tcp\n"
		     "nodes = n1 198.18.11.2, n2 2001:db8::2\nself = n1\n",
		     "nodes", "different families");
	/* 2 nodes need 200 entries: the message names the next good prime */
	expect_error(BASE "table_size = 101\n", "table_size", "next prime: 211");
}

static void test_section_once_and_keys(void **state)
{
	struct coop_config *cfg;

	(void)state;
	assert_int_equal(load(BASE "\n[forwarder]\n" BASE, COOP_CONFIG_NO_LINKS, &cfg), -EINVAL);
	assert_non_null(strstr(err, "[forwarder]: section given twice"));
	expect_error(BASE "listen = tcp:7 echo\n", "listen", "unknown key (valid here: interface, vips");
}

static void test_interface_must_exist(void **state)
{
	struct coop_config *cfg;

	(void)state;
	assert_int_equal(load(BASE, 0, &cfg), 0); /* lo exists everywhere */
	coop_config_free(cfg);
	assert_int_equal(load("interface = coopnosuch0\nvips = 198.18.100.1:7/tcp\n"
			      "nodes = n1 198.18.11.2\nself = n1\n",
			      0, &cfg),
			 -EINVAL);
	assert_non_null(strstr(err, "[forwarder] interface: no link 'coopnosuch0'"));
	/* a file for another machine: not looked for */
	assert_int_equal(load("interface = coopnosuch0\nvips = 198.18.100.1:7/tcp\n"
			      "nodes = n1 198.18.11.2\nself = n1\n",
			      COOP_CONFIG_NO_LINKS, &cfg),
			 0);
	coop_config_free(cfg);
}

static void test_node_names(void **state)
{
	char name[COOP_FWD_NODE_NAME_MAX + 1];

	(void)state;
	memset(name, 'a', COOP_FWD_NODE_NAME_MAX - 1);
	name[COOP_FWD_NODE_NAME_MAX - 1] = '\0';
	assert_true(coop_fwd_node_name_ok(name)); /* 31 bytes */
	name[COOP_FWD_NODE_NAME_MAX - 1] = 'a';
	name[COOP_FWD_NODE_NAME_MAX] = '\0';
	assert_false(coop_fwd_node_name_ok(name)); /* 32 */
	assert_true(coop_fwd_node_name_ok("a.b-c_9"));
	assert_false(coop_fwd_node_name_ok(""));
	assert_false(coop_fwd_node_name_ok("."));
	assert_false(coop_fwd_node_name_ok(".."));
	assert_false(coop_fwd_node_name_ok("a b"));
	assert_false(coop_fwd_node_name_ok("A"));
}

/* Every [forwarder] key is in the loader's documentation table. */
static void test_keydocs(void **state)
{
	static const char *const keys[] = { "interface", "vips",  "nodes",    "self",
					    "table_size", "flow_cache_size", "encap",
					    "gue_port",   "mtu",  "xdp_mode" };
	const struct coop_config_keydoc *d;
	size_t i, k, found = 0;

	(void)state;
	for (i = 0; (d = coop_config_keydoc_at(i)); i++) {
		if (strcmp(d->section, "forwarder"))
			continue;
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			found += !strcmp(d->key, keys[k]);
		assert_true(d->syntax[0] && d->dflt[0] && d->help[0]);
	}
	assert_int_equal(found, sizeof(keys) / sizeof(keys[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_ipv6_cluster),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_section_rules),
		cmocka_unit_test(test_section_once_and_keys),
		cmocka_unit_test(test_interface_must_exist),
		cmocka_unit_test(test_node_names),
		cmocka_unit_test(test_keydocs),
	};

	if (coop_netns_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
