/* rpc_config_test.c - the portmapper's configuration side: `rpc =` entries
 * parsed and refused with readable messages, each VS's registry seeded with
 * the portmapper's own listeners and its entries, the public registry calls
 * and their owners, and the runtime's service checks for udp listeners.
 * No kernel state: only coop_configure, which loads and validates. */
#include <errno.h>
#include <netinet/in.h>
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
#include "core/coop.h"
#include "vs/coop_rpc.h"
#include "vs/coop_udp.h"

static char dir[] = "/tmp/coop-rpccfg.XXXXXX";
static char path[64];
static char err[512];

/* Write the INI body after a fixed [global] section. */
static void ini(const char *body)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "[global]\nworkers = 1\nadmin_socket = none\n\n%s", body);
	fclose(f);
}

static void dgram_only(struct coop_dgram *dg, const void *data, size_t len)
{
	(void)dg;
	(void)data;
	(void)len;
}

/* A service that speaks UDP only. */
static const struct coop_service svc_dgram = {.name = "dgonly", .on_datagram = dgram_only};

static struct coop *runtime(void)
{
	struct coop *c = coop_new();

	assert_non_null(c);
	assert_int_equal(coop_service_register(c, &coop_service_echo), 0);
	assert_int_equal(coop_service_register(c, &coop_service_portmap), 0);
	assert_int_equal(coop_service_register(c, &svc_dgram), 0);
	return c;
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/coop.ini", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void test_parse(void **state)
{
	struct coop_config *cfg = NULL;

	(void)state;
	ini("[vs a]\nlisten = udp:111 portmap\nrpc = 100003:3:tcp:2049, 100005:1:UDP:635\n");
	assert_int_equal(coop_config_load_flags(path, COOP_CONFIG_NO_LINKS, &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg->vs[0].n_rpcs, 2);
	assert_int_equal(cfg->vs[0].rpcs[0].prog, 100003);
	assert_int_equal(cfg->vs[0].rpcs[0].vers, 3);
	assert_int_equal(cfg->vs[0].rpcs[0].prot, IPPROTO_TCP);
	assert_int_equal(cfg->vs[0].rpcs[0].port, 2049);
	assert_int_equal(cfg->vs[0].rpcs[1].prot, IPPROTO_UDP);
	assert_int_equal(cfg->vs[0].rpcs[1].port, 635);
	coop_config_free(cfg);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *val;  /* rpc = value */
		const char *want; /* part of the message */
	} cases[] = {
	    {"100003:3:sctp:2049", "unknown protocol 'sctp'"},
	    {"100003:3:tcp:0", "bad port"},
	    {"100003:3:tcp:65536", "bad port"},
	    {"100003:3:tcp", "PROG:VERS:PROTO:PORT"},
	    {"1:2:tcp:3:4", "PROG:VERS:PROTO:PORT"},
	    {"nfs:3:tcp:2049", "PROG:VERS:PROTO:PORT"},
	    {"1:1:tcp:5, 1:1:tcp:6", "listed twice"},
	    {"1:1:tcp:5,", "empty entry"},
	};
	struct coop_config *cfg = NULL;
	char body[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), "[vs a]\nrpc = %s\n", cases[i].val);
		ini(body);
		err[0] = '\0';
		assert_int_equal(
		    coop_config_load_flags(path, COOP_CONFIG_NO_LINKS, &cfg, err, sizeof(err)),
		    -EINVAL);
		if (!strstr(err, cases[i].want) || !strstr(err, "[vs a] rpc"))
			print_error("rpc = %s: '%s'\n", cases[i].val, err);
		assert_non_null(strstr(err, cases[i].want));
		assert_non_null(strstr(err, "[vs a] rpc"));
	}
}

static void test_registry_seeded(void **state)
{
	struct coop_rpc_mapping m[8];
	struct coop *c = runtime();
	struct coop_vs *a, *b;

	(void)state;
	ini("[vs a]\nlisten = udp:111 portmap, tcp:111 portmap, udp:7 echo\n"
	    "rpc = 100003:3:tcp:2049\n\n"
	    "[vs b]\nlisten = udp:111 portmap\n");
	assert_int_equal(coop_configure(c, path, err, sizeof(err)), 0);
	a = coop_vs_find(c, "a");
	b = coop_vs_find(c, "b");
	/* The portmapper maps versions 2, 3 and 4 on each listener. */
	assert_int_equal(coop_vs_rpc_dump(a, m, 8), 7);
	assert_int_equal(m[0].prog, 100000);
	assert_int_equal(m[0].vers, 2);
	assert_int_equal(m[0].prot, IPPROTO_UDP);
	assert_int_equal(m[2].vers, 4);
	assert_int_equal(m[3].prot, IPPROTO_TCP);
	assert_int_equal(m[6].port, 2049);
	assert_int_equal(coop_vs_rpc_dump(b, m, 8), 3);
	assert_int_equal(coop_vs_rpc_getport(b, 100003, 3, IPPROTO_TCP), 0);

	/* The application's calls: per VS, refusals, owners. */
	assert_int_equal(coop_vs_rpc_set(b, 100003, 3, IPPROTO_TCP, 2049), 0);
	assert_int_equal(coop_vs_rpc_set(b, 100003, 3, IPPROTO_TCP, 2050), -EEXIST);
	assert_int_equal(coop_vs_rpc_set(b, 100003, 3, 132, 2049), -EINVAL);
	assert_int_equal(coop_vs_rpc_set(b, 100003, 4, IPPROTO_TCP, 0), -EINVAL);
	assert_int_equal(coop_vs_rpc_getport(b, 100003, 3, IPPROTO_TCP), 2049);
	assert_int_equal(coop_vs_rpc_getport(b, 100003, 3, 1), 0);
	assert_int_equal(coop_vs_rpc_getport(a, 100003, 3, IPPROTO_TCP), 2049);
	assert_int_equal(coop_vs_rpc_unset(b, 100003, 3), 1);
	assert_int_equal(coop_vs_rpc_unset(b, 100003, 3), 0);
	/* Configuration mappings stay. */
	assert_int_equal(coop_vs_rpc_unset(a, 100003, 3), 0);
	assert_int_equal(coop_vs_rpc_unset(a, 100000, 2), 0);
	assert_int_equal(coop_vs_rpc_dump(a, m, 8), 7);
	coop_free(c);
}

static void test_self_mapping_conflict(void **state)
{
	struct coop *c = runtime();

	(void)state;
	ini("[vs a]\nlisten = udp:111 portmap\nrpc = 100000:2:udp:4111\n");
	assert_int_equal(coop_configure(c, path, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "vs 'a': rpc 100000:2:udp:4111"));
	coop_free(c);
}

static void test_service_checks(void **state)
{
	struct coop *c = runtime();
	static const struct coop_service none = {.name = "none"};

	(void)state;
	/* A service must speak one of the two. */
	assert_int_equal(coop_service_register(c, &none), -EINVAL);
	ini("[vs a]\nlisten = tcp:5 dgonly\n");
	assert_int_equal(coop_configure(c, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tcp:5 dgonly: the service does not speak TCP"));
	ini("[vs a]\nlisten = udp:5 dgonly, tcp:7 echo, udp:7 echo\n");
	assert_int_equal(coop_configure(c, path, err, sizeof(err)), 0);
	coop_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_registry_seeded), cmocka_unit_test(test_self_mapping_conflict),
	    cmocka_unit_test(test_service_checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
