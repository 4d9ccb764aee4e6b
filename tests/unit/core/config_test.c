/* config_test.c - unit tests of the INI configuration loader (core/config.c). */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "runtime/rt.h"
#include "base/netns.h"

static char tmpdir[64];     /* mkdtemp directory for every file written */
static char ini_path[128];  /* tmpdir/coop.ini */
static char err[1024];      /* last loader message */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Write text as coop.ini and load it with flags. */
static int load_flags(const char *text, unsigned flags, struct coop_config **cfg)
{
	write_file(ini_path, text);
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	return coop_config_load_flags(ini_path, flags, cfg, err, sizeof(err));
}

static int load(const char *text, struct coop_config **cfg)
{
	return load_flags(text, 0, cfg);
}

/* Load must succeed; prints the message when it does not. */
static struct coop_config *load_ok_flags(const char *text, unsigned flags)
{
	struct coop_config *cfg = NULL;
	int ret = load_flags(text, flags, &cfg);

	if (ret)
		print_error("unexpected error %d: %s\n", ret, err);
	assert_int_equal(ret, 0);
	assert_non_null(cfg);
	assert_string_equal(err, "");
	return cfg;
}

static struct coop_config *load_ok(const char *text)
{
	return load_ok_flags(text, 0);
}

/* Load must fail with a message "FILE: <where>...<what>". */
static void expect_error(const char *text, const char *where, const char *what)
{
	struct coop_config *cfg = (struct coop_config *)1;
	size_t plen = strlen(ini_path);
	int ret = load(text, &cfg);

	if (ret == 0 || strncmp(err, ini_path, plen) || strncmp(err + plen, ": ", 2) ||
	    !strstr(err, where) || !strstr(err, what))
		print_error("file:\n%s\nret %d, message: %s\nwanted: %s ... %s\n", text, ret, err,
			    where, what);
	assert_true(ret < 0);
	assert_null(cfg);
	assert_memory_equal(err, ini_path, plen);
	assert_memory_equal(err + plen, ": ", 2);
	/* The section (and key) come right after the file name. */
	assert_ptr_equal(strstr(err, where), err + plen + 2);
	assert_non_null(strstr(err, what));
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/coop-cfgtest.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(ini_path, sizeof(ini_path), "%s/coop.ini", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *ntop(const struct coop_addr *a)
{
	static char buf[INET6_ADDRSTRLEN];

	return coop_addr_str(a, buf, sizeof(buf));
}

/* --- valid files ---------------------------------------------------------- */

static const char full_ini[] =
	"; a complete file\n"
	"[global]\n"
	"workers = 3\n"
	"admin_socket = /run/coop-test/admin.sock\n"
	"admin_mode = 0660\n"
	"pbr_marks = 0x100-0x1ff\n"
	"pbr_tables = 100-199\n"
	"pbr_protocol = 200\n"
	"pbr_priority = 1000\n"
	"\n"
	"[vs nas1]\n"
	"isolation = netns\n"
	"namespace = ct-nas1\n"
	"addresses = 198.18.1.1/24, 2001:db8:1::1/64\n"
	"gateway = 198.18.1.254, 2001:db8:1::fe\n"
	"listen = tcp:7 echo, udp:111 portmap\n"
	"\n"
	"[vs nas2]\n"
	"isolation = pbr\n"
	"interface = lo\n"
	"addresses = 198.18.2.1/24, 198.18.3.1/24@lo\n"
	"gateway = 198.18.2.254\n"
	"listen = tcp:8 whoami\n"
	"mark = 0x100\n"
	"table = 100\n";

static void test_full_file(void **state)
{
	struct coop_config *cfg;
	const struct coop_vs_cfg *v;

	(void)state;
	cfg = load_ok(full_ini);
	assert_string_equal(cfg->path, ini_path);
	assert_int_equal(cfg->global.workers, 3);
	assert_string_equal(cfg->global.admin_socket, "/run/coop-test/admin.sock");
	assert_int_equal(cfg->global.admin_mode, 0660);
	assert_int_equal(cfg->n_vs, 2);

	v = &cfg->vs[0];
	assert_string_equal(v->name, "nas1");
	assert_int_equal(v->isolation, COOP_ISO_NETNS);
	assert_string_equal(v->netns, "ct-nas1");
	assert_string_equal(v->ifname, "");
	assert_int_equal(v->n_addrs, 2);
	assert_int_equal(v->addrs[0].addr.family, AF_INET);
	assert_string_equal(ntop(&v->addrs[0].addr), "198.18.1.1");
	assert_int_equal(v->addrs[0].len, 24);
	assert_string_equal(v->addrs[0].ifname, "");
	assert_int_equal(v->addrs[1].addr.family, AF_INET6);
	assert_string_equal(ntop(&v->addrs[1].addr), "2001:db8:1::1");
	assert_int_equal(v->addrs[1].len, 64);
	assert_true(v->has_gw4);
	assert_true(v->has_gw6);
	assert_string_equal(ntop(&v->gw4), "198.18.1.254");
	assert_string_equal(ntop(&v->gw6), "2001:db8:1::fe");
	assert_int_equal(v->n_listens, 2);
	assert_int_equal(v->listens[0].proto, IPPROTO_TCP);
	assert_int_equal(v->listens[0].port, 7);
	assert_string_equal(v->listens[0].service, "echo");
	assert_int_equal(v->listens[1].proto, IPPROTO_UDP);
	assert_int_equal(v->listens[1].port, 111);
	assert_string_equal(v->listens[1].service, "portmap");
	assert_int_equal(v->mark, 0);
	assert_int_equal(v->table, 0);

	v = &cfg->vs[1];
	assert_string_equal(v->name, "nas2");
	assert_int_equal(v->isolation, COOP_ISO_PBR);
	assert_string_equal(v->netns, "");
	assert_string_equal(v->ifname, "lo");
	assert_int_equal(v->n_addrs, 2);
	assert_string_equal(v->addrs[0].ifname, "");
	assert_string_equal(ntop(&v->addrs[1].addr), "198.18.3.1");
	assert_string_equal(v->addrs[1].ifname, "lo");
	assert_true(v->has_gw4);
	assert_false(v->has_gw6);
	assert_int_equal(v->mark, 0x100);
	assert_int_equal(v->table, 100);
	assert_int_equal(cfg->global.pbr_mark_lo, 0x100);
	assert_int_equal(cfg->global.pbr_mark_hi, 0x1ff);
	assert_int_equal(cfg->global.pbr_table_lo, 100);
	assert_int_equal(cfg->global.pbr_table_hi, 199);
	assert_int_equal(cfg->global.pbr_protocol, 200);
	assert_int_equal(cfg->global.pbr_priority, 1000);
	assert_int_equal(v->n_listens, 1);
	coop_config_free(cfg);
}

static void test_defaults(void **state)
{
	struct coop_config *cfg;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned)cpus;

	(void)state;
	cfg = load_ok("");
	assert_int_equal(cfg->global.workers, want);
	assert_string_equal(cfg->global.admin_socket, "/run/coop/admin.sock");
	assert_int_equal(cfg->global.admin_mode, 0600);
	assert_int_equal(cfg->n_vs, 0);
	coop_config_free(cfg);

	cfg = load_ok("[global]\n[vs a]\n");
	assert_int_equal(cfg->n_vs, 1);
	assert_string_equal(cfg->vs[0].name, "a");
	assert_int_equal(cfg->vs[0].isolation, COOP_ISO_NETNS);
	/* a netns VS's namespace defaults to its name */
	assert_string_equal(cfg->vs[0].netns, "a");
	assert_string_equal(cfg->vs[0].ifname, "");
	assert_int_equal(cfg->vs[0].n_addrs, 0);
	assert_int_equal(cfg->vs[0].n_listens, 0);
	assert_false(cfg->vs[0].has_gw4);
	assert_false(cfg->vs[0].has_gw6);
	coop_config_free(cfg);
}

static void test_comments_and_blanks(void **state)
{
	struct coop_config *cfg;

	(void)state;
	cfg = load_ok("# hash comment\n"
		      "; semicolon comment\n"
		      "   [global]   \r\n"
		      "\tworkers=2 ; inline semicolon comment\n"
		      "admin_socket = \"/run/coop t/a.sock\" ; quoted keeps blanks\n"
		      "[vs a]\n"
		      "addresses =198.18.1.1/24 ,2001:db8::1/64,   198.18.9.1/30   # inline hash\n"
		      "  listen   =   tcp:7    echo ,udp:7 echo\n");
	assert_int_equal(cfg->global.workers, 2);
	assert_string_equal(cfg->global.admin_socket, "/run/coop t/a.sock");
	assert_int_equal(cfg->vs[0].n_addrs, 3);
	assert_string_equal(ntop(&cfg->vs[0].addrs[2].addr), "198.18.9.1");
	assert_int_equal(cfg->vs[0].addrs[2].len, 30);
	assert_int_equal(cfg->vs[0].n_listens, 2);
	assert_string_equal(cfg->vs[0].listens[0].service, "echo");
	assert_int_equal(cfg->vs[0].listens[1].proto, IPPROTO_UDP);
	coop_config_free(cfg);
}

static void test_continuation(void **state)
{
	struct coop_config *cfg;

	(void)state;
	cfg = load_ok("[vs a]\n"
		      "addresses = 198.18.1.1/24, \\\n"
		      "            198.18.2.1/24, \\\n"
		      "            2001:db8::1/64\n"
		      "listen = tcp:7 echo\n");
	assert_int_equal(cfg->vs[0].n_addrs, 3);
	assert_string_equal(ntop(&cfg->vs[0].addrs[2].addr), "2001:db8::1");
	assert_int_equal(cfg->vs[0].n_listens, 1);
	coop_config_free(cfg);
	/* a comment continued with '\' swallows the next line, as iniparser does */
	cfg = load_ok("[global]\n; workers = 1 \\\nworkers = 9\n");
	assert_int_not_equal(cfg->global.workers, 9);
	coop_config_free(cfg);
}

static void test_case_insensitive_names(void **state)
{
	struct coop_config *cfg;

	(void)state;
	cfg = load_ok("[GLOBAL]\nWorkers = 4\n[VS Nas1]\nISOLATION = netns\nListen = tcp:7 echo\n");
	assert_int_equal(cfg->global.workers, 4);
	assert_string_equal(cfg->vs[0].name, "nas1");
	assert_string_equal(cfg->vs[0].netns, "nas1");
	coop_config_free(cfg);
}

static void test_metrics_listen(void **state)
{
	struct coop_config *cfg;
	char buf[INET6_ADDRSTRLEN];

	(void)state;
	cfg = load_ok("[global]\nmetrics_listen = [2001:db8::9]:9101\n");
	assert_int_equal(cfg->global.metrics_addr.family, AF_INET6);
	assert_string_equal(coop_addr_str(&cfg->global.metrics_addr, buf, sizeof(buf)), "2001:db8::9");
	assert_int_equal(cfg->global.metrics_port, 9101);
	coop_config_free(cfg);
	cfg = load_ok("[global]\nmetrics_listen = 198.18.0.9:80\n");
	assert_int_equal(cfg->global.metrics_addr.family, AF_INET);
	assert_int_equal(cfg->global.metrics_port, 80);
	coop_config_free(cfg);
	cfg = load_ok("[global]\nmetrics_listen = none\n");
	assert_int_equal(cfg->global.metrics_port, 0);
	coop_config_free(cfg);
	cfg = load_ok("[global]\nmetrics_listen = 127.0.0.1:9101\n"
		      "[vs a]\naddresses = 198.18.1.1/24\n");
	assert_false(cfg->global.metrics_public);
	coop_config_free(cfg);
}

/* metrics_listen refuses what VS clients could reach - a wildcard, a VS's
 * own address - saying why and how to force it; metrics_public = yes does
 * (written before or after metrics_listen). */
static void test_metrics_listen_exposed(void **state)
{
	static const char *const wild[] = { "0.0.0.0:9101", "[::]:9101", "[::ffff:0.0.0.0]:9101" };
	struct coop_config *cfg;
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(wild) / sizeof(wild[0]); i++) {
		snprintf(text, sizeof(text), "[global]\nmetrics_listen = %s\n", wild[i]);
		expect_error(text, "[global] metrics_listen: ", "is a wildcard");
		assert_non_null(strstr(err, "metrics_public = yes"));
		snprintf(text, sizeof(text), "[global]\nmetrics_public = yes\nmetrics_listen = %s\n",
			 wild[i]);
		cfg = load_ok(text);
		assert_true(cfg->global.metrics_public);
		coop_config_free(cfg);
	}
	/* a netns VS's address, a pbr VS's, v4-mapped, IPv6 */
	expect_error("[global]\nmetrics_listen = 198.18.1.1:9101\n"
		     "[vs a]\naddresses = 198.18.1.1/24\n",
		     "[global] metrics_listen: ", "198.18.1.1 is an address of vs 'a'");
	assert_non_null(strstr(err, "metrics_public = yes"));
	expect_error("[global]\nmetrics_listen = 198.18.2.1:9101\n"
		     "[vs a]\naddresses = 198.18.1.1/24\n"
		     "[vs b]\nisolation = pbr\ninterface = lo\naddresses = 198.18.2.1/24\n",
		     "[global] metrics_listen: ", "is an address of vs 'b'");
	expect_error("[global]\nmetrics_listen = [::ffff:198.18.1.1]:9101\n"
		     "[vs a]\naddresses = 198.18.1.1/24\n",
		     "[global] metrics_listen: ", "is an address of vs 'a'");
	expect_error("[vs a]\naddresses = 198.18.1.1/24, 2001:db8:1::1/64\n"
		     "[global]\nmetrics_listen = [2001:db8:1::1]:9101\n",
		     "[global] metrics_listen: ", "2001:db8:1::1 is an address of vs 'a'");
	/* another address of the VS's subnet is not one of its addresses */
	cfg = load_ok("[global]\nmetrics_listen = 198.18.1.2:9101\n"
		      "[vs a]\naddresses = 198.18.1.1/24\n");
	coop_config_free(cfg);
	cfg = load_ok("[vs a]\naddresses = 198.18.1.1/24\n"
		      "[global]\nmetrics_listen = 198.18.1.1:9101\nmetrics_public = on\n");
	assert_true(cfg->global.metrics_public);
	coop_config_free(cfg);
}

/* The connection limits: defaults, values, words; reload sees a change. */
static void test_conn_limits(void **state)
{
	struct coop_config *cfg, *again;

	(void)state;
	cfg = load_ok("[vs a]\n");
	assert_int_equal(cfg->global.max_connections, 0); /* auto */
	assert_int_equal(cfg->global.stop_grace_ms, 2000);
	assert_int_equal(cfg->vs[0].max_connections, 0);
	assert_int_equal(cfg->vs[0].idle_timeout_ms, 600000);
	assert_int_equal(cfg->vs[0].out_high, 65536);
	assert_int_equal(cfg->vs[0].out_max, 1048576);
	coop_config_free(cfg);
	cfg = load_ok("[global]\nmax_connections = 500\nstop_grace = 0\n"
		      "[vs a]\nmax_connections = 5\nidle_timeout = none\nout_high = 4096\n"
		      "out_max = 65536\n");
	assert_int_equal(cfg->global.max_connections, 500);
	assert_int_equal(cfg->global.stop_grace_ms, 0);
	assert_int_equal(cfg->vs[0].max_connections, 5);
	assert_int_equal(cfg->vs[0].idle_timeout_ms, 0);
	assert_int_equal(cfg->vs[0].out_high, 4096);
	assert_int_equal(cfg->vs[0].out_max, 65536);
	/* a limit is part of the VS's section: a reload compares it */
	write_file(ini_path, "[global]\nmax_connections = 500\nstop_grace = 0\n"
			     "[vs a]\nmax_connections = 6\nidle_timeout = none\nout_high = 4096\n"
			     "out_max = 65536\n");
	assert_int_equal(coop_config_load_again(ini_path, cfg, &again, err, sizeof(err)), 0);
	assert_false(coop_vs_cfg_equal(&cfg->vs[0], &again->vs[0]));
	again->vs[0].max_connections = 5;
	assert_true(coop_vs_cfg_equal(&cfg->vs[0], &again->vs[0]));
	again->vs[0].idle_timeout_ms = 1000;
	assert_false(coop_vs_cfg_equal(&cfg->vs[0], &again->vs[0]));
	coop_config_free(again);
	coop_config_free(cfg);
	cfg = load_ok("[global]\nmax_connections = auto\n[vs a]\nmax_connections = none\n");
	assert_int_equal(cfg->global.max_connections, 0);
	assert_int_equal(cfg->vs[0].max_connections, 0);
	coop_config_free(cfg);
}

static void test_admin_socket_none(void **state)
{
	struct coop_config *cfg;

	(void)state;
	cfg = load_ok("[global]\nadmin_socket = none\nadmin_mode = 600\n");
	assert_string_equal(cfg->global.admin_socket, "");
	assert_int_equal(cfg->global.admin_mode, 0600);
	coop_config_free(cfg);
}

static void test_numbers(void **state)
{
	struct coop_config *cfg;

	(void)state;
	cfg = load_ok("[global]\nworkers = 256\npbr_marks = 1-0xffffffff\npbr_tables = 1-4294967295\n"
		      "[vs a]\nisolation = pbr\ninterface = lo\naddresses = 198.18.1.1/24\n"
		      "mark = 4294967295\ntable = 252\n"
		      "[vs b]\nisolation = PBR\ninterface = lo\naddresses = 198.18.2.1/24\n"
		      "mark = 0xA\ntable = 0x100\n");
	assert_int_equal(cfg->global.workers, 256);
	assert_int_equal(cfg->vs[0].mark, 0xffffffffu);
	assert_int_equal(cfg->vs[0].table, 252);
	assert_int_equal(cfg->vs[1].mark, 10);
	assert_int_equal(cfg->vs[1].table, 256);
	coop_config_free(cfg);
}

static void test_address_plans(void **state)
{
	struct coop_config *cfg;

	(void)state;
	/* netns VSes have independent address plans */
	cfg = load_ok("[vs a]\naddresses = 198.18.1.1/24\n[vs b]\naddresses = 198.18.1.1/24\n");
	coop_config_free(cfg);
	/* one pbr VS may hold several addresses of one subnet */
	cfg = load_ok("[vs a]\nisolation = pbr\ninterface = lo\n"
		      "addresses = 198.18.1.1/24, 198.18.1.2/24, 198.18.1.3/32\n"
		      "[vs b]\nisolation = pbr\ninterface = lo\naddresses = 198.18.2.1/24\n");
	coop_config_free(cfg);
	/* pbr VSes in different namespaces do not meet */
	cfg = load_ok_flags("[global]\npbr_marks = 1-0xff\n"
			    "[vs a]\nisolation = pbr\nnamespace = ct-one\ninterface = eth0\n"
			    "addresses = 198.18.1.1/24\n"
			    "[vs b]\nisolation = pbr\nnamespace = ct-two\ninterface = eth0\n"
			    "addresses = 198.18.1.1/24\nmark = 5\n"
			    "[vs c]\nisolation = pbr\nnamespace = ct-three\ninterface = eth0\n"
			    "addresses = 198.18.1.1/24\nmark = 5\n",
			    COOP_CONFIG_NO_LINKS);
	coop_config_free(cfg);
}

static void test_gateways(void **state)
{
	struct coop_config *cfg;

	(void)state;
	/* v6 routers are usually link-local; v6 given first is fine */
	cfg = load_ok("[vs a]\naddresses = 198.18.1.1/24, 2001:db8::1/64\n"
		      "gateway = fe80::1, 198.18.1.254\n");
	assert_true(cfg->vs[0].has_gw4);
	assert_true(cfg->vs[0].has_gw6);
	assert_string_equal(ntop(&cfg->vs[0].gw6), "fe80::1");
	coop_config_free(cfg);
	cfg = load_ok("[vs a]\naddresses = 2001:db8::1/64\ngateway = 2001:db8::ffff\n");
	assert_false(cfg->vs[0].has_gw4);
	coop_config_free(cfg);
}

static void test_listen_same_port_two_protocols(void **state)
{
	struct coop_config *cfg;

	(void)state;
	cfg = load_ok("[vs a]\nlisten = tcp:111 portmap, udp:111 portmap, TCP:65535 echo\n");
	assert_int_equal(cfg->vs[0].n_listens, 3);
	assert_int_equal(cfg->vs[0].listens[2].port, 65535);
	assert_int_equal(cfg->vs[0].listens[2].proto, IPPROTO_TCP);
	coop_config_free(cfg);
}

/* --- files that cannot be read ---------------------------------------------- */

static void test_missing_file(void **state)
{
	struct coop_config *cfg = (struct coop_config *)1;
	char path[160];
	int ret;

	(void)state;
	snprintf(path, sizeof(path), "%s/nonexistent.ini", tmpdir);
	ret = coop_config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(ret, -ENOENT);
	assert_null(cfg);
	assert_memory_equal(err, path, strlen(path));
	assert_non_null(strstr(err, "cannot read: No such file or directory"));
}

static void test_directory_file(void **state)
{
	struct coop_config *cfg = (struct coop_config *)1;
	int ret;

	(void)state;
	ret = coop_config_load(tmpdir, &cfg, err, sizeof(err));
	assert_true(ret < 0);
	assert_null(cfg);
	assert_memory_equal(err, tmpdir, strlen(tmpdir));
	assert_non_null(strstr(err, "cannot read"));
}

static void test_unreadable_file(void **state)
{
	struct coop_config *cfg = (struct coop_config *)1;
	int ret;

	(void)state;
	if (geteuid() == 0)
		skip(); /* root reads mode 000 files */
	write_file(ini_path, "[global]\n");
	assert_int_equal(chmod(ini_path, 0), 0);
	ret = coop_config_load(ini_path, &cfg, err, sizeof(err));
	assert_int_equal(ret, -EACCES);
	assert_null(cfg);
	assert_non_null(strstr(err, "cannot read: Permission denied"));
	assert_int_equal(chmod(ini_path, 0600), 0);
}

/* A file that opens but fails to read (offset 0 of our own memory is not
 * mapped): the read error is reported, as root too. */
static void test_read_error(void **state)
{
	struct coop_config *cfg = (struct coop_config *)1;
	int ret;

	(void)state;
	ret = coop_config_load("/proc/self/mem", &cfg, err, sizeof(err));
	assert_int_equal(ret, -EIO);
	assert_null(cfg);
	assert_string_equal(err, "/proc/self/mem: cannot read: Input/output error");
}

/* iniparser's messages go to err, never to stderr. */
static void test_iniparser_message_captured(void **state)
{
	char path[160], big[3000], text[3100], out[256];
	struct coop_config *cfg = NULL;
	int saved, fd, ret;
	ssize_t n;

	(void)state;
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text), "[vs a]\nlisten = tcp:%s echo\n", big);
	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	dup2(fd, 2);
	ret = load(text, &cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	assert_true(ret < 0);
	assert_null(cfg);
	assert_int_equal(n, 0);
	assert_memory_equal(err, ini_path, strlen(ini_path));
	assert_non_null(strstr(err, "input line too long"));
	assert_null(strchr(err, '\n'));
}

static void test_err_buffer_edge_cases(void **state)
{
	struct coop_config *cfg = (struct coop_config *)1;
	char tiny[8];

	(void)state;
	write_file(ini_path, "[bogus]\n");
	assert_int_equal(coop_config_load(ini_path, &cfg, NULL, 0), -EINVAL);
	assert_null(cfg);
	memset(tiny, 'X', sizeof(tiny));
	assert_int_equal(coop_config_load(ini_path, &cfg, tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(coop_config_load("", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no configuration file"));
}

/* --- errors, table-driven: each row is one cmocka test ------------------------- */

struct err_case {
	const char *name;  /* test name */
	const char *text;  /* file contents */
	const char *where; /* expected right after "FILE: " */
	const char *what;  /* expected somewhere in the message */
};

#define PBR_A "[vs a]\nisolation = pbr\ninterface = lo\n"
#define PBR_B "[vs b]\nisolation = pbr\ninterface = lo\n"

static const struct err_case err_cases[] = {
	/* sections */
	{ "unknown_section", "[global]\n[server x]\n", "[server x]: ", "line 2: unknown section" },
	{ "vs_without_name", "[vs]\n", "[vs]: ", "missing VS name" },
	{ "vs_bad_name", "[vs na$1]\n", "[vs na$1]: ", "bad VS name 'na$1'" },
	{ "vs_name_too_long",
	  "[vs aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", "[vs aaaa",
	  "bad VS name" },
	{ "vs_name_dotdot", "[vs ..]\n", "[vs ..]: ", "bad VS name '..'" },
	{ "duplicate_vs_case_insensitive", "[vs nas1]\nlisten = tcp:7 echo\n\n[vs NAS1]\n",
	  "[vs nas1]: ", "section given twice (lines 1 and 4); VS names are case-insensitive" },
	{ "duplicate_global", "[global]\nworkers = 1\n[global]\n", "[global]: ",
	  "section given twice (lines 1 and 3)" },
	{ "empty_section_name", "[ ]\n", "line 1: ", "empty section name" },
	/* keys and syntax */
	{ "duplicate_key",
	  "[vs a]\naddresses = 198.18.1.1/24\nlisten = tcp:7 echo\nADDRESSES = 198.18.1.2/24\n",
	  "[vs a] addresses: ", "given twice (lines 2 and 4)" },
	{ "duplicate_key_global", "[global]\nworkers = 1\nworkers = 2\n", "[global] workers: ",
	  "given twice (lines 2 and 3)" },
	{ "unknown_key_vs", "[vs a]\nadresses = 198.18.1.1/24\n", "[vs a] adresses: ",
	  "unknown key (valid here: isolation, namespace, interface, addresses" },
	{ "unknown_key_global", "[global]\nthreads = 2\n", "[global] threads: ", "unknown key" },
	{ "global_key_in_vs", "[vs a]\nworkers = 2\n", "[vs a] workers: ", "unknown key" },
	{ "key_outside_section", "workers = 2\n[global]\n", "workers: ",
	  "key outside any section" },
	{ "syntax_error", "[vs a]\n\nlisten tcp:7 echo\n", "[vs a]: ",
	  "line 3: syntax error: 'listen tcp:7 echo'" },
	{ "syntax_error_no_key", "[global]\n= 3\n", "[global]: ", "line 2: syntax error" },
	{ "header_with_comment", "[vs a] ; the first\n", "line 1: ",
	  "'[vs a] ; the first' is not a section header: a header ends with ']'" },
	{ "continued_at_eof", "[vs a]\nlisten = tcp:7 echo, \\\n", "line 2: ",
	  "ends inside a line continued" },
	{ "empty_value", "[vs a]\nlisten =\n", "[vs a] listen: ", "empty value" },
	{ "empty_quoted_value", "[vs a]\nnamespace = \"\"\n", "[vs a] namespace: ",
	  "empty value" },
	/* [global] values */
	{ "workers_zero", "[global]\nworkers = 0\n", "[global] workers: ",
	  "'0' is not a thread count (1..256)" },
	{ "workers_too_many", "[global]\nworkers = 257\n", "[global] workers: ", "(1..256)" },
	{ "workers_negative", "[global]\nworkers = -1\n", "[global] workers: ", "'-1'" },
	{ "workers_words", "[global]\nworkers = two\n", "[global] workers: ", "'two'" },
	{ "admin_socket_relative", "[global]\nadmin_socket = run/coop.sock\n",
	  "[global] admin_socket: ", "not an absolute path" },
	{ "admin_socket_too_long",
	  "[global]\nadmin_socket = /run/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.sock\n",
	  "[global] admin_socket: ", "shorter than 108" },
	{ "admin_mode_not_octal", "[global]\nadmin_mode = 0800\n", "[global] admin_mode: ",
	  "not an octal file mode" },
	{ "admin_mode_too_big", "[global]\nadmin_mode = 01777\n", "[global] admin_mode: ",
	  "not an octal file mode" },
	{ "metrics_no_port", "[global]\nmetrics_listen = 127.0.0.1\n", "[global] metrics_listen: ",
	  "is not ADDRESS:PORT" },
	{ "metrics_port_zero", "[global]\nmetrics_listen = 127.0.0.1:0\n",
	  "[global] metrics_listen: ", "port '0' is not 1..65535" },
	{ "metrics_v6_bare", "[global]\nmetrics_listen = ::1:9101\n", "[global] metrics_listen: ",
	  "bracketed IPv6" },
	{ "metrics_name", "[global]\nmetrics_listen = localhost:9101\n",
	  "[global] metrics_listen: ", "'localhost' is not an IPv4 address" },
	{ "metrics_public_word", "[global]\nmetrics_public = maybe\n", "[global] metrics_public: ",
	  "'maybe' is not yes or no" },
	{ "stop_grace_too_long", "[global]\nstop_grace = 60001\n", "[global] stop_grace: ",
	  "(0..60000)" },
	{ "max_connections_zero", "[global]\nmax_connections = 0\n", "[global] max_connections: ",
	  "'0' is not a number of connections (1..10000000, or 'auto' for 7/8 of the open-file limit)" },
	{ "vs_max_connections_zero", "[vs a]\nmax_connections = 0\n", "[vs a] max_connections: ",
	  "(1..10000000, or 'none' for no limit of the VS's own)" },
	{ "idle_timeout_short", "[vs a]\nidle_timeout = 99\n", "[vs a] idle_timeout: ",
	  "(100..86400000, or 'none' for never)" },
	{ "out_high_small", "[vs a]\nout_high = 4095\n", "[vs a] out_high: ", "(4096..1073741824)" },
	{ "out_max_small", "[vs a]\nout_max = 65535\n", "[vs a] out_max: ", "(65536..1073741824)" },
	{ "out_max_below_high", "[vs a]\nout_high = 2097152\n", "[vs a] out_max: ",
	  "1048576 is below out_high (2097152)" },
	/* [vs] scalar values */
	{ "isolation_unknown", "[vs a]\nisolation = vrf\n", "[vs a] isolation: ",
	  "'vrf' is not an isolation (netns or pbr)" },
	{ "namespace_bad", "[vs a]\nnamespace = ../etc\n", "[vs a] namespace: ",
	  "not a namespace name" },
	{ "interface_bad_name", "[vs a]\ninterface = a-very-long-link0\n", "[vs a] interface: ",
	  "not a link name" },
	/* addresses */
	{ "address_malformed", "[vs nas1]\naddresses = 198.18.1.300/24\n",
	  "[vs nas1] addresses: ", "'198.18.1.300/24' is not an address/prefix" },
	{ "address_without_length", "[vs a]\naddresses = 198.18.1.1/24, 198.18.1.2\n",
	  "[vs a] addresses: ", "'198.18.1.2' needs a prefix length" },
	{ "address_bad_length", "[vs a]\naddresses = 198.18.1.1/2x\n", "[vs a] addresses: ",
	  "not an address/prefix" },
	{ "address_empty_length", "[vs a]\naddresses = 2001:db8::1/\n", "[vs a] addresses: ",
	  "not an address/prefix" },
	{ "prefix_v4_too_long", "[vs a]\naddresses = 198.18.1.1/33\n", "[vs a] addresses: ",
	  "'198.18.1.1/33': prefix length out of range (1..32)" },
	{ "prefix_v6_too_long", "[vs a]\naddresses = 2001:db8::1/129\n", "[vs a] addresses: ",
	  "prefix length out of range (1..128)" },
	{ "prefix_zero", "[vs a]\naddresses = 198.18.1.1/0\n", "[vs a] addresses: ",
	  "prefix length out of range" },
	{ "address_multicast", "[vs a]\naddresses = ff02::1/64\n", "[vs a] addresses: ",
	  "not a unicast address" },
	{ "address_duplicate", "[vs a]\naddresses = 198.18.1.1/24, 2001:db8::1/64, 198.18.1.1/25\n",
	  "[vs a] addresses: ", "address 198.18.1.1 is listed twice" },
	{ "address_list_hole", "[vs a]\naddresses = 198.18.1.1/24,, 198.18.1.2/24\n",
	  "[vs a] addresses: ", "empty entry" },
	{ "address_trailing_comma", "[vs a]\naddresses = 198.18.1.1/24,\n", "[vs a] addresses: ",
	  "empty entry" },
	/* gateway */
	{ "gateway_not_address", "[vs a]\naddresses = 198.18.1.1/24\ngateway = 198.18.1.x\n",
	  "[vs a] gateway: ", "'198.18.1.x' is not an IPv4 or IPv6 address" },
	{ "gateway_with_length", "[vs a]\naddresses = 198.18.1.1/24\ngateway = 198.18.1.254/24\n",
	  "[vs a] gateway: ", "no prefix length" },
	{ "gateway_two_v4",
	  "[vs a]\naddresses = 198.18.1.1/24\ngateway = 198.18.1.254, 198.18.1.253\n",
	  "[vs a] gateway: ", "two IPv4 gateways (198.18.1.254 and 198.18.1.253)" },
	{ "gateway_two_v6", "[vs a]\naddresses = 2001:db8::1/64\ngateway = fe80::1, fe80::2\n",
	  "[vs a] gateway: ", "two IPv6 gateways" },
	{ "gateway_v6_without_v6_address",
	  "[vs a]\ngateway = 2001:db8::fe\naddresses = 198.18.1.1/24\n", "[vs a] gateway: ",
	  "IPv6 gateway 2001:db8::fe but addresses has no IPv6 address" },
	{ "gateway_without_addresses", "[vs a]\ngateway = 198.18.1.254\n", "[vs a] gateway: ",
	  "no IPv4 address" },
	{ "gateway_unreachable", "[vs a]\naddresses = 198.18.1.1/24\ngateway = 198.18.2.254\n",
	  "[vs a] gateway: ", "198.18.2.254 is in none of the VS's IPv4 prefixes" },
	{ "gateway_own_address", "[vs a]\naddresses = 198.18.1.1/24\ngateway = 198.18.1.1\n",
	  "[vs a] gateway: ", "one of the VS's own addresses" },
	/* listen */
	{ "listen_bad_syntax", "[vs a]\nlisten = tcp7 echo\n", "[vs a] listen: ",
	  "'tcp7 echo' is not PROTO:PORT SERVICE" },
	{ "listen_unknown_protocol", "[vs a]\nlisten = tcp:7 echo, sctp:7 echo\n",
	  "[vs a] listen: ", "unknown protocol 'sctp' (tcp or udp)" },
	{ "listen_port_zero", "[vs a]\nlisten = tcp:0 echo\n", "[vs a] listen: ",
	  "'tcp:0 echo': bad port (1..65535)" },
	{ "listen_port_too_big", "[vs a]\nlisten = udp:65536 echo\n", "[vs a] listen: ",
	  "bad port" },
	{ "listen_port_words", "[vs a]\nlisten = tcp:echo echo\n", "[vs a] listen: ", "bad port" },
	{ "listen_port_glued", "[vs a]\nlisten = tcp:7echo\n", "[vs a] listen: ", "bad port" },
	{ "listen_no_service", "[vs a]\nlisten = tcp:7\n", "[vs a] listen: ",
	  "'tcp:7' names no service" },
	{ "listen_bad_service", "[vs a]\nlisten = tcp:7 Echo\n", "[vs a] listen: ",
	  "'Echo' is not a service name" },
	{ "listen_two_services", "[vs a]\nlisten = tcp:7 echo whoami\n", "[vs a] listen: ",
	  "is not a service name" },
	{ "listen_duplicate", "[vs a]\nlisten = tcp:7 echo, udp:7 echo, tcp:7 whoami\n",
	  "[vs a] listen: ", "tcp:7 is listed twice" },
	/* isolation-dependent keys */
	{ "netns_with_mark", "[vs a]\nmark = 5\n", "[vs a] mark: ", "only for isolation = pbr" },
	{ "netns_with_table", "[vs a]\ntable = 5\nisolation = netns\n", "[vs a] table: ",
	  "only for isolation = pbr" },
	{ "netns_with_at_ifname", "[vs a]\naddresses = 198.18.1.1/24@lo\n", "[vs a] addresses: ",
	  "'198.18.1.1/24@lo': @IFNAME is only for isolation = pbr" },
	{ "mark_zero", PBR_A "addresses = 198.18.1.1/24\nmark = 0\n", "[vs a] mark: ",
	  "0 is the mark of unmarked traffic" },
	{ "mark_hex_zero", PBR_A "addresses = 198.18.1.1/24\nmark = 0x0\n", "[vs a] mark: ",
	  "0 is the mark" },
	{ "mark_garbage", PBR_A "addresses = 198.18.1.1/24\nmark = 0x1g\n", "[vs a] mark: ",
	  "'0x1g' is not a mark" },
	{ "mark_too_big", PBR_A "addresses = 198.18.1.1/24\nmark = 0x100000000\n",
	  "[vs a] mark: ", "is not a mark" },
	{ "table_zero", PBR_A "addresses = 198.18.1.1/24\ntable = 0\n", "[vs a] table: ",
	  "table 0 is reserved" },
	{ "table_default", PBR_A "addresses = 198.18.1.1/24\ntable = 253\n", "[vs a] table: ",
	  "table 253 is reserved" },
	{ "table_main", PBR_A "addresses = 198.18.1.1/24\ntable = 254\n", "[vs a] table: ",
	  "table 254 is reserved" },
	{ "table_local", PBR_A "addresses = 198.18.1.1/24\ntable = 0xff\n", "[vs a] table: ",
	  "table 255 is reserved" },
	{ "pbr_without_addresses", "[vs a]\nisolation = pbr\ninterface = lo\n",
	  "[vs a] addresses: ", "missing: a pbr VS" },
	{ "pbr_address_without_link",
	  "[vs a]\nisolation = pbr\naddresses = 198.18.1.1/24@lo, 198.18.2.1/24\n",
	  "[vs a] addresses: ", "'198.18.2.1/24' has no link" },
	/* across VSes */
	{ "netns_shared_namespace_default", "[vs a]\n[vs b]\nnamespace = a\n",
	  "[vs b] namespace: ", "'a' is also the namespace of netns VS 'a'" },
	{ "netns_shared_namespace_default_first", "[vs b]\nnamespace = a\n[vs a]\n",
	  "[vs b] namespace: ", "'a' is also the namespace of netns VS 'a'" },
	{ "netns_shared_namespace_explicit", "[vs a]\nnamespace = tenant\n[vs b]\n[vs c]\nnamespace = tenant\n",
	  "[vs c] namespace: ", "'tenant' is also the namespace of netns VS 'a'" },
	{ "netns_shared_interface", "[vs a]\ninterface = lo\n[vs b]\ninterface = lo\n",
	  "[vs b] interface: ", "'lo' is also the interface of netns VS 'a'" },
	{ "pbr_in_netns_namespace",
	  "[vs a]\n[vs b]\nisolation = pbr\nnamespace = a\naddresses = 198.18.1.1/24@lo\n",
	  "[vs b] namespace: ", "'a' is owned by netns VS 'a'" },
	{ "pbr_link_taken_by_netns",
	  "[vs a]\nisolation = pbr\naddresses = 198.18.1.1/24@lo\n[vs b]\ninterface = lo\n",
	  "[vs a] addresses: ", "link 'lo' is moved into the namespace of netns VS 'b'" },
	{ "pbr_interface_taken_by_netns",
	  "[vs a]\ninterface = lo\n[vs b]\nisolation = pbr\ninterface = lo\naddresses = 198.18.1.1/24\n",
	  "[vs b] interface: ", "link 'lo' is moved into the namespace of netns VS 'a'" },
	{ "pbr_overlap_v4",
	  PBR_A "addresses = 198.18.1.1/24\n" PBR_B "addresses = 198.18.9.1/24, 198.18.1.200/25\n",
	  "[vs b] addresses: ",
	  "198.18.1.200/25 overlaps 198.18.1.1/24 of pbr VS 'a'" },
	{ "pbr_overlap_same_address",
	  PBR_A "addresses = 198.18.1.1/32\n" PBR_B "addresses = 198.18.1.1/32\n",
	  "[vs b] addresses: ", "198.18.1.1/32 overlaps 198.18.1.1/32 of pbr VS 'a'" },
	{ "pbr_overlap_v6",
	  PBR_A "addresses = 2001:db8:1::1/48\n" PBR_B "addresses = 2001:db8:1:2::1/64\n",
	  "[vs b] addresses: ", "2001:db8:1:2::1/64 overlaps 2001:db8:1::1/48 of pbr VS 'a'" },
	{ "pbr_overlap_wider_later",
	  PBR_A "addresses = 198.18.1.1/26\n" PBR_B "addresses = 198.18.0.1/16\n",
	  "[vs b] addresses: ", "198.18.0.1/16 overlaps 198.18.1.1/26 of pbr VS 'a'" },
	{ "pbr_duplicate_mark",
	  PBR_A "addresses = 198.18.1.1/24\nmark = 7\n" PBR_B "addresses = 198.18.2.1/24\nmark = 7\n",
	  "[vs b] mark: ", "mark 0x7 is also the mark of pbr VS 'a'" },
	{ "pbr_duplicate_table",
	  PBR_A "addresses = 198.18.1.1/24\ntable = 70\n" PBR_B "addresses = 198.18.2.1/24\ntable = 70\n",
	  "[vs b] table: ", "table 70 is also the table of pbr VS 'a'" },
	/* [global] pbr_* and the ranges explicit marks and tables must obey */
	{ "pbr_mark_outside", PBR_A "addresses = 198.18.1.1/24\nmark = 5\n", "[vs a] mark: ",
	  "mark 0x5 is outside pbr_marks 0x10000-0x1ffff" },
	{ "pbr_table_outside",
	  "[global]\npbr_tables = 1000-1999\n" PBR_A "addresses = 198.18.1.1/24\ntable = 100\n",
	  "[vs a] table: ", "table 100 is outside pbr_tables 1000-1999" },
	{ "pbr_marks_reversed", "[global]\npbr_marks = 0x20-0x10\n", "[global] pbr_marks: ",
	  "'0x20-0x10' is not a mark range" },
	{ "pbr_marks_zero", "[global]\npbr_marks = 0-100\n", "[global] pbr_marks: ",
	  "is not a mark range" },
	{ "pbr_marks_single", "[global]\npbr_marks = 7\n", "[global] pbr_marks: ",
	  "is not a mark range" },
	{ "pbr_tables_kernel", "[global]\npbr_tables = 253-255\n", "[global] pbr_tables: ",
	  "holds only the kernel's tables" },
	{ "pbr_protocol_kernel", "[global]\npbr_protocol = 4\n", "[global] pbr_protocol: ",
	  "'4' is not a usable protocol number" },
	{ "pbr_priority_high", "[global]\npbr_priority = 32764\n", "[global] pbr_priority: ",
	  "'32764' is not a rule priority" },
	/* links */
	{ "interface_missing", "[vs a]\ninterface = ctnosuchlnk0\n", "[vs a] interface: ",
	  "no link 'ctnosuchlnk0' in coopd's namespace (and namespace 'a' does not exist yet)" },
	{ "pbr_at_ifname_missing", PBR_A "addresses = 198.18.1.1/24, 198.18.2.1/24@ctnosuchlnk0\n",
	  "[vs a] addresses: ", "no link 'ctnosuchlnk0' in coopd's namespace" },
	{ "pbr_interface_missing",
	  "[vs a]\nisolation = pbr\ninterface = ctnosuchlnk0\naddresses = 198.18.1.1/24\n",
	  "[vs a] interface: ", "no link 'ctnosuchlnk0'" },
	{ "pbr_namespace_missing",
	  "[vs a]\nisolation = pbr\nnamespace = ctnosuchns0\ninterface = lo\naddresses = 198.18.1.1/24\n",
	  "[vs a] interface: ", "namespace 'ctnosuchns0' does not exist" },
};

static void run_err_case(void **state)
{
	const struct err_case *c = *state;

	expect_error(c->text, c->where, c->what);
}

/* --- the address helpers ------------------------------------------------------------ */

static void test_prefix_parse(void **state)
{
	struct coop_prefix p;

	(void)state;
	assert_int_equal(coop_prefix_parse("198.18.1.1/24", true, &p), 0);
	assert_int_equal(p.addr.family, AF_INET);
	assert_int_equal(p.len, 24);
	assert_string_equal(p.ifname, "");
	assert_int_equal(coop_prefix_parse("2001:db8::1/64", true, &p), 0);
	assert_int_equal(p.addr.family, AF_INET6);
	assert_int_equal(p.len, 64);
	/* optional length defaults to the host length */
	assert_int_equal(coop_prefix_parse("198.18.1.1", false, &p), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(coop_prefix_parse("2001:db8::1", false, &p), 0);
	assert_int_equal(p.len, 128);
	assert_int_equal(coop_prefix_parse("198.18.1.1", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("198.18.1.1/0", true, &p), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(coop_prefix_parse("198.18.1.1/32", true, &p), 0);
	assert_int_equal(coop_prefix_parse("2001:db8::/128", true, &p), 0);
	assert_int_equal(coop_prefix_parse("198.18.1.1/33", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("2001:db8::1/129", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("198.18.1.1/-1", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("198.18.1.1/+8", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("198.18.1.1/ 8", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("198.18.1.1/00024", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("198.18.1.1/24/8", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("198.18.1/24", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("198.018.1.1/24", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse(" 198.18.1.1/24", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("fe80::1%eth0/64", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("", false, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse("/24", true, &p), -EINVAL);
	assert_int_equal(coop_prefix_parse(NULL, false, &p), -EINVAL);
}

static void test_addr_parse_and_str(void **state)
{
	struct coop_addr a;
	char buf[INET6_ADDRSTRLEN], small[4];

	(void)state;
	assert_int_equal(coop_addr_parse("198.18.0.1", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(ntohl(a.v4.s_addr), 0xc6120001u);
	assert_string_equal(coop_addr_str(&a, buf, sizeof(buf)), "198.18.0.1");
	assert_int_equal(coop_addr_parse("2001:DB8:0:0::1", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	/* canonical form on output */
	assert_string_equal(coop_addr_str(&a, buf, sizeof(buf)), "2001:db8::1");
	assert_int_equal(coop_addr_parse("198.18.0.1/24", &a), -EINVAL);
	assert_int_equal(coop_addr_parse("host.example", &a), -EINVAL);
	assert_int_equal(coop_addr_parse("1.2.3.4.5", &a), -EINVAL);
	assert_int_equal(coop_addr_parse("", &a), -EINVAL);
	/* a buffer too small gives a marker, never an overflow */
	assert_int_equal(coop_addr_parse("198.18.0.1", &a), 0);
	assert_string_equal(coop_addr_str(&a, small, sizeof(small)), "?");
	memset(&a, 0, sizeof(a));
	assert_string_equal(coop_addr_str(&a, buf, sizeof(buf)), "?");
}

static struct coop_prefix pfx(const char *s)
{
	struct coop_prefix p;

	assert_int_equal(coop_prefix_parse(s, true, &p), 0);
	return p;
}

static void test_prefix_overlap(void **state)
{
	struct coop_prefix a, b;

	(void)state;
	a = pfx("198.18.1.1/24");
	b = pfx("198.18.1.200/32");
	assert_true(coop_prefix_overlap(&a, &b));
	assert_true(coop_prefix_overlap(&b, &a));
	b = pfx("198.18.2.1/24");
	assert_false(coop_prefix_overlap(&a, &b));
	/* host bits are kept and ignored at the shorter length */
	a = pfx("198.18.1.129/25");
	b = pfx("198.18.1.1/25");
	assert_false(coop_prefix_overlap(&a, &b));
	b = pfx("198.18.1.1/24");
	assert_true(coop_prefix_overlap(&a, &b));
	/* non-byte-aligned lengths */
	a = pfx("198.18.0.1/15");
	b = pfx("198.19.255.1/24");
	assert_true(coop_prefix_overlap(&a, &b));
	b = pfx("198.20.0.1/24");
	assert_false(coop_prefix_overlap(&a, &b));
	a = pfx("0.0.0.0/0");
	assert_true(coop_prefix_overlap(&a, &b));
	/* families never overlap */
	a = pfx("2001:db8::1/32");
	assert_false(coop_prefix_overlap(&a, &b));
	b = pfx("2001:db8:ffff::1/127");
	assert_true(coop_prefix_overlap(&a, &b));
	b = pfx("2001:db9::1/64");
	assert_false(coop_prefix_overlap(&a, &b));
	a = pfx("2001:db8::1/128");
	b = pfx("2001:db8::1/128");
	assert_true(coop_prefix_overlap(&a, &b));
	b = pfx("2001:db8::2/127");
	assert_false(coop_prefix_overlap(&a, &b));
}

/*
 * The loader's sorted sweep over pbr addresses must agree with the obvious
 * pairwise check, on random address plans dense enough to collide often.
 */
static void test_pbr_overlap_random(void **state)
{
	unsigned seed = 12345, round, agree_ok = 0, agree_bad = 0;

	(void)state;
	for (round = 0; round < 150; round++) {
		struct coop_prefix all[16];
		size_t owner[16], n = 0, i, j;
		char text[4096];
		size_t off = 0;
		unsigned n_vs = 2 + rand_r(&seed) % 3, v, k;
		bool want_overlap = false;
		struct coop_config *cfg = NULL;
		int ret;

		for (v = 0; v < n_vs; v++) {
			unsigned n_addr = 1 + rand_r(&seed) % 3;

			off += (size_t)snprintf(text + off, sizeof(text) - off,
						"[vs v%u]\nisolation = pbr\ninterface = lo\naddresses = ",
						v);
			for (k = 0; k < n_addr; k++) {
				char a[64];
				unsigned host = rand_r(&seed) % 1024, len = 22 + rand_r(&seed) % 11;

				snprintf(a, sizeof(a), "198.18.%u.%u/%u", host / 256, host % 256 | 1,
					 len);
				off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s",
							k ? ", " : "", a);
				all[n] = pfx(a);
				owner[n++] = v;
			}
			off += (size_t)snprintf(text + off, sizeof(text) - off, "\n");
		}
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				if (owner[i] != owner[j] && coop_prefix_overlap(&all[i], &all[j]))
					want_overlap = true;
		ret = load(text, &cfg);
		/* Duplicate addresses inside one VS are a different error. */
		if (ret < 0 && strstr(err, "listed twice"))
			continue;
		if (want_overlap) {
			if (ret == 0 || !strstr(err, "overlaps"))
				print_error("expected an overlap:\n%s\n-> %s\n", text, err);
			assert_true(ret < 0);
			assert_non_null(strstr(err, "overlaps"));
			agree_bad++;
		} else {
			if (ret)
				print_error("unexpected error:\n%s\n-> %s\n", text, err);
			assert_int_equal(ret, 0);
			coop_config_free(cfg);
			agree_ok++;
		}
	}
	/* both outcomes were exercised */
	assert_true(agree_ok > 10);
	assert_true(agree_bad > 10);
}

/* Thousands of pbr VSes load fast (sorted checks, not pairwise). */
static void test_many_pbr_vses(void **state)
{
	const unsigned n = 4000;
	size_t cap = (size_t)n * 128 + 256, off = 0;
	char *text = malloc(cap);
	struct coop_config *cfg;
	struct timespec t0, t1;
	unsigned i;
	double ms;

	(void)state;
	assert_non_null(text);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"[vs t%u]\nisolation = pbr\ninterface = lo\n"
					"addresses = 198.18.%u.%u/30, 2001:db8:%x::1/64\n",
					i, (i * 4) / 256, (i * 4) % 256 + 1, i);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cfg = load_ok(text);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(cfg->n_vs, n);
	coop_config_free(cfg);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("    %u pbr VSes loaded in %.1f ms\n", n, ms);
	/* the last VS overlapping the first is still found */
	off += (size_t)snprintf(text + off, cap - off,
				"[vs last]\nisolation = pbr\ninterface = lo\n"
				"addresses = 198.18.0.2/32\n");
	assert_true(load(text, &cfg) < 0);
	assert_non_null(strstr(err, "[vs last] addresses: 198.18.0.2/32 overlaps 198.18.0.1/30 of pbr VS 't0'"));
	free(text);
}

/* --- typed keys and backend tables, with tables of the test's own ------------------- */

static const struct coop_cfg_name colours[] = { { "red", 1 }, { "green", 2 }, { NULL, 0 } };
static const uint32_t port_taken[] = { 7 };

/* Typed keys of every kind, in an own section [typed] whose object is
 * (borrowed) the forwarder's struct. */
static const struct coop_cfg_key typed_keys[] = {
	{ { "typed", "flag", "yes or no", "no", "A bool." },
	  .type = COOP_CFG_BOOL, COOP_CFG_AT(struct coop_fwd_cfg, enabled), .what = "a test flag" },
	{ { "typed", "label", "1..31 bytes", "none", "A string." },
	  .type = COOP_CFG_STR, COOP_CFG_AT(struct coop_fwd_cfg, self), .what = "a label" },
	{ { "typed", "colour", "red or green", "none", "An enum." },
	  .type = COOP_CFG_ENUM, COOP_CFG_AT(struct coop_fwd_cfg, encap), .what = "a colour",
	  .names = colours },
	{ { "typed", "perm", "octal", "0", "Octal." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_fwd_cfg, mtu), .what = "a mode",
	  .max = 0777, .base = 8 },
	{ { "typed", "port16", "hex", "0", "Hex into 16 bits, with a word and a reserved value." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_fwd_cfg, gue_port), .what = "a port",
	  .hint = "a test", .min = 1, .max = 70000, .base = 16, .zero_word = "none",
	  .reserved = port_taken, .n_reserved = 1, .reserved_why = "is taken" },
};

static const struct coop_cfg_keytab typed_tab = {
	.section = "typed", .keys = typed_keys, .n = sizeof(typed_keys) / sizeof(typed_keys[0]),
	.obj_off = offsetof(struct coop_config, fwd),
};

/* Parse text with the core's tables and the given ones. */
static int parse_with(const char *text, const struct coop_cfg_keytab *const *extra, size_t n_extra,
		      struct coop_config **cfg)
{
	/* static: the config keeps a pointer to its tables */
	static const struct coop_cfg_keytab *tabs[8];
	size_t i;

	tabs[0] = &coop_cfg_core_tabs[0];
	tabs[1] = &coop_cfg_core_tabs[1];
	for (i = 0; i < n_extra; i++)
		tabs[2 + i] = extra[i];
	write_file(ini_path, text);
	err[0] = '\0';
	return coop_config_parse(ini_path, COOP_CONFIG_NO_LINKS, tabs, 2 + n_extra, cfg, err,
				 sizeof(err));
}

/* The load succeeds; prints the message when it does not. */
static struct coop_config *parse_ok(const char *text, const struct coop_cfg_keytab *const *extra,
				    size_t n_extra)
{
	struct coop_config *cfg = NULL;
	int ret = parse_with(text, extra, n_extra, &cfg);

	if (ret)
		print_error("unexpected error %d: %s\n", ret, err);
	assert_int_equal(ret, 0);
	return cfg;
}

/* The load fails and the message holds what. */
static void parse_fails(const char *text, const struct coop_cfg_keytab *const *extra,
			size_t n_extra, const char *what)
{
	struct coop_config *cfg = NULL;
	int ret = parse_with(text, extra, n_extra, &cfg);

	if (ret == 0 || !strstr(err, what))
		print_error("file:\n%s\nret %d, message: %s\nwanted: %s\n", text, ret, err, what);
	assert_true(ret < 0);
	assert_null(cfg);
	assert_non_null(strstr(err, what));
}

static void test_typed_keys(void **state)
{
	const struct coop_cfg_keytab *const extra[] = { &typed_tab };
	struct coop_config *cfg;

	(void)state;
	cfg = parse_ok("[typed]\nflag = Yes\nlabel = abc\ncolour = GREEN\nperm = 0750\nport16 = 0x1F\n",
		       extra, 1);
	assert_true(cfg->fwd.enabled);
	assert_string_equal(cfg->fwd.self, "abc");
	assert_int_equal(cfg->fwd.encap, 2);
	assert_int_equal(cfg->fwd.mtu, 0750);
	assert_int_equal(cfg->fwd.gue_port, 0x1f);
	coop_config_free(cfg);
	cfg = parse_ok("[typed]\nflag = off\nport16 = NONE\n", extra, 1);
	assert_false(cfg->fwd.enabled);
	assert_int_equal(cfg->fwd.gue_port, 0);
	coop_config_free(cfg);

	parse_fails("[typed]\nflag = maybe\n", extra, 1,
		    "[typed] flag: 'maybe' is not a test flag (yes or no)");
	parse_fails("[typed]\nlabel = 0123456789abcdef0123456789abcdef\n", extra, 1,
		    "[typed] label: the value is 32 bytes; a label must be shorter than 32");
	parse_fails("[typed]\ncolour = blue\n", extra, 1, "'blue' is not a colour (red or green)");
	parse_fails("[typed]\nperm = 8\n", extra, 1, "'8' is not a mode (0000..0777)");
	parse_fails("[typed]\nperm = 0x7\n", extra, 1, "'0x7' is not a mode");
	parse_fails("[typed]\nport16 = 0\n", extra, 1,
		    "'0' is not a port (1..0x11170, decimal or 0x hex, or 'none'; a test)");
	parse_fails("[typed]\nport16 = 7\n", extra, 1, "[typed] port16: port16 7 is taken");
	/* a range wider than its field is the table's bug, said as such */
	parse_fails("[typed]\nport16 = 65536\n", extra, 1,
		    "65536 does not fit a 2-byte field (a bug in the key's table)");
}

/* Two backends of the test's own under the built-in names. */
static void own_complete(void *obj)
{
	struct coop_vs_cfg *vs = obj;

	if (!vs->table)
		vs->table = 42;
}

static int own_check(const void *obj, bool links, const char **key, char *why, size_t whylen)
{
	const struct coop_vs_cfg *vs = obj;

	(void)links;
	*key = "own_key";
	return vs->mark == 13 ? coop_cfg_why(why, whylen, -EINVAL, "unlucky") : 0;
}

/* At most one VS of the shared backend. */
static int shared_check_cfg(const struct coop_config *cfg, bool links, struct coop_cfg_err *e)
{
	size_t i, seen = 0;

	(void)links;
	for (i = 0; i < cfg->n_vs; i++)
		if (cfg->vs[i].isolation == COOP_ISO_PBR && seen++)
			return coop_cfg_err_vs(e, &cfg->vs[i], "shared_key", "one is enough");
	return 0;
}

static const struct coop_cfg_key own_keys[] = {
	{ { "vs", "own_key", "1..100", "none", "Own backend's key." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_vs_cfg, mark), .what = "a number",
	  .min = 1, .max = 100 },
};

static const struct coop_cfg_key shared_keys[] = {
	{ { "vs", "shared_key", "1..100", "none", "Shared backend's key." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_vs_cfg, table), .what = "a number",
	  .min = 1, .max = 100 },
};

static const struct coop_cfg_keytab own_tab = {
	.section = "vs", .keys = own_keys, .n = 1, .iso = "netns", .iso_id = COOP_ISO_NETNS,
	.complete = own_complete, .check = own_check,
};
static const struct coop_cfg_keytab shared_tab = {
	.section = "vs", .keys = shared_keys, .n = 1, .iso = "pbr", .iso_id = COOP_ISO_PBR,
	.check_cfg = shared_check_cfg,
};

static void test_backend_tables(void **state)
{
	const struct coop_cfg_keytab *const extra[] = { &own_tab, &shared_tab };
	const struct coop_cfg_keytab *const tabs[] = { &coop_cfg_core_tabs[1], &own_tab, &shared_tab };
	struct coop_config *cfg;

	(void)state;
	/* the isolation key's default names the backend of a VS without it;
	 * only that backend's complete runs */
	cfg = parse_ok("[vs a]\nown_key = 5\n[vs b]\nisolation = PBR\nshared_key = 9\n", extra, 2);
	assert_int_equal(cfg->vs[0].isolation, COOP_ISO_NETNS);
	assert_int_equal(cfg->vs[0].mark, 5);
	assert_int_equal(cfg->vs[0].table, 42);
	assert_int_equal(cfg->vs[1].isolation, COOP_ISO_PBR);
	assert_int_equal(cfg->vs[1].table, 9);
	coop_config_free(cfg);
	/* a backend's keys are refused in another backend's VS, wherever
	 * isolation comes in the section */
	parse_fails("[vs a]\nshared_key = 5\n", extra, 2,
		    "[vs a] shared_key: only for isolation = pbr (this VS uses netns)");
	parse_fails("[vs a]\nown_key = 5\nisolation = pbr\n", extra, 2,
		    "[vs a] own_key: only for isolation = netns (this VS uses pbr)");
	parse_fails("[vs a]\nown_key = 13\n", extra, 2, "[vs a] own_key: unlucky");
	parse_fails("[vs a]\nisolation = pbr\n[vs b]\nisolation = pbr\n", extra, 2,
		    "[vs b] shared_key: one is enough");
	parse_fails("[vs a]\nisolation = vrf\n", extra, 2, "'vrf' is not an isolation (netns or pbr)");
	/* without backend tables no isolation is known */
	parse_fails("[vs a]\nisolation = netns\n", NULL, 0,
		    "'netns' is not an isolation (no isolation backend is built in)");
	assert_string_equal(coop_cfg_iso_name(tabs, 3, COOP_ISO_PBR), "pbr");
	assert_string_equal(coop_cfg_iso_name(tabs, 3, COOP_ISO_NETNS), "netns");
	assert_null(coop_cfg_iso_name(tabs, 3, 77));
	assert_null(coop_cfg_iso_name(tabs, 1, COOP_ISO_NETNS));
}

/* --- links inside a namespace (root) ---------------------------------------------- */

static char ns_name[32];   /* ct<pid>cfg namespace made by the test */
static char ns_link[16];   /* veth end inside it */
static char host_link[16]; /* its peer, left in coopd's namespace */

static int ns_teardown(void **state);

static int ns_setup(void **state)
{
	char cmd[256];

	(void)state;
	if (geteuid() != 0 || system("command -v ip >/dev/null") != 0)
		return 0; /* the test skips */
	snprintf(ns_name, sizeof(ns_name), "ct%dcfg", (int)getpid());
	snprintf(ns_link, sizeof(ns_link), "ct%dn", (int)getpid());
	snprintf(host_link, sizeof(host_link), "ct%dh", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s && ip link add %s type veth peer name %s netns %s", ns_name,
		 host_link, ns_link, ns_name);
	if (system(cmd) != 0) {
		ns_teardown(state);
		return -1;
	}
	return 0;
}

static int ns_teardown(void **state)
{
	char cmd[128];

	(void)state;
	if (!ns_name[0])
		return 0;
	/* deleting the namespace takes the veth pair with it; the explicit
	 * delete covers a setup that failed half way */
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null; ip netns del %s", host_link,
		 ns_name);
	ns_name[0] = '\0';
	return system(cmd) == 0 ? 0 : -1;
}

static void test_interface_in_namespace(void **state)
{
	struct coop_config *cfg;
	char text[512];

	(void)state;
	if (!ns_name[0])
		skip();
	/* the link is not in coopd's namespace but in the VS's */
	assert_int_equal(if_nametoindex(ns_link), 0);
	snprintf(text, sizeof(text), "[vs a]\nnamespace = %s\ninterface = %s\n", ns_name, ns_link);
	cfg = load_ok(text);
	assert_string_equal(cfg->vs[0].ifname, ns_link);
	coop_config_free(cfg);
	/* pbr: the link carrying the addresses lives in the shared namespace */
	snprintf(text, sizeof(text),
		 "[vs a]\nisolation = pbr\nnamespace = %s\naddresses = 198.18.1.1/24@%s\n", ns_name,
		 ns_link);
	cfg = load_ok(text);
	coop_config_free(cfg);
	/* a link in neither place */
	snprintf(text, sizeof(text), "[vs a]\nnamespace = %s\ninterface = ctnosuchlnk0\n", ns_name);
	assert_true(load(text, &cfg) < 0);
	assert_null(cfg);
	assert_non_null(strstr(err, "[vs a] interface: no link 'ctnosuchlnk0' in coopd's namespace or in namespace"));
	/* a pbr VS looks in its shared namespace only, not in coopd's */
	assert_int_not_equal(if_nametoindex(host_link), 0);
	snprintf(text, sizeof(text),
		 "[vs a]\nisolation = pbr\nnamespace = %s\ninterface = %s\naddresses = 198.18.1.1/24\n",
		 ns_name, host_link);
	assert_true(load(text, &cfg) < 0);
	snprintf(text, sizeof(text), "[vs a] interface: no link '%s' in namespace '%s'", host_link,
		 ns_name);
	assert_non_null(strstr(err, text));
	/* the check leaves no trace: still in the default namespace */
	assert_int_equal(if_nametoindex(ns_link), 0);
	assert_int_not_equal(if_nametoindex("lo"), 0);
}

/* A netns VS's interface is found in coopd's namespace, ready to move. */
static void test_interface_here(void **state)
{
	struct coop_config *cfg;

	(void)state;
	cfg = load_ok("[vs a]\ninterface = lo\naddresses = 198.18.1.1/24\n");
	assert_string_equal(cfg->vs[0].ifname, "lo");
	coop_config_free(cfg);
}

static void test_no_links_flag(void **state)
{
	struct coop_config *cfg;

	(void)state;
	cfg = load_ok_flags("[vs a]\ninterface = ctnosuchlnk0\n", COOP_CONFIG_NO_LINKS);
	assert_string_equal(cfg->vs[0].ifname, "ctnosuchlnk0");
	coop_config_free(cfg);
}

/* --- the docs and the example match the key tables ----------------------------------- */

/* The project root: the current directory when it has docs/, else four
 * levels above this binary (B/tests/unit/core/config_test). */
static bool project_file(const char *rel, char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n;
	int i;

	snprintf(out, len, "%s", rel);
	if (access(out, R_OK) == 0)
		return true;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	for (i = 0; i < 5; i++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return false;
		*slash = '\0';
	}
	if ((size_t)snprintf(out, len, "%s/%s", exe, rel) >= len)
		return false;
	return access(out, R_OK) == 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Every key under its section's heading, in the order of the tables. */
static void test_docs_match_tables(void **state)
{
	const struct coop_config_keydoc *d;
	char path[PATH_MAX], want[512];
	const char *sec = NULL, *end = NULL, *prev = NULL, *at, *next;
	size_t i, len;
	char *doc;

	(void)state;
	if (!project_file("docs/config.md", path, sizeof(path)))
		skip();
	doc = slurp(path);
	for (i = 0; (d = coop_config_keydoc_at(i)); i++) {
		snprintf(want, sizeof(want), "\n## [%s]\n", strcmp(d->section, "vs") ? d->section : "vs NAME");
		if (!sec || strncmp(sec, want, strlen(want))) {
			sec = strstr(doc, want);
			if (!sec)
				print_error("docs/config.md has no section %s", want + 1);
			assert_non_null(sec);
			end = strstr(sec + 1, "\n## ");
			prev = sec;
		}
		snprintf(want, sizeof(want), "### `%s`\n", d->key);
		at = strstr(prev, want);
		if (!at || (end && at > end))
			print_error("docs/config.md lacks %s under [%s] after the key before it\n", want,
				    d->section);
		assert_non_null(at);
		assert_true(!end || at < end);
		prev = at;
		/* its syntax, default and help under its own heading */
		next = strstr(at + 1, "\n#");
		len = next ? (size_t)(next - at) : strlen(at);
		snprintf(want, sizeof(want), "Syntax: %s\n", d->syntax);
		assert_non_null(memmem(at, len, want, strlen(want)));
		snprintf(want, sizeof(want), "Default: %s\n", d->dflt);
		assert_non_null(memmem(at, len, want, strlen(want)));
		assert_non_null(memmem(at, len, d->help, strlen(d->help)));
	}
	/* 8 + 4 pbr [global], 11 + 2 pbr + 7 resolver [vs NAME], 10 [forwarder] */
	assert_int_equal(i, 42);
	free(doc);
}

/* A reload's parse copies the sections whose text did not change and
 * parses the others: same result as a parse from scratch, errors in a
 * changed section still found. */
static void test_reparse(void **state)
{
	struct coop_config *a = NULL, *b = NULL, *fresh = NULL;
	size_t i;

	(void)state;
	assert_int_equal(load("[global]\nworkers = 2\n"
			      "[vs x]\naddresses = 198.18.1.1/24\nlisten = tcp:7 echo\n"
			      "[vs y]\naddresses = 198.18.2.1/24 ; a comment\nlisten = tcp:7 echo\n",
			      &a),
			 0);
	/* y's text changes (an address more), x gains only a comment line */
	write_file(ini_path, "[global]\nworkers = 2\n"
			     "[vs x]\n# said again\naddresses = 198.18.1.1/24\nlisten = tcp:7 echo\n"
			     "[vs y]\naddresses = 198.18.2.1/24, 198.18.2.9/24\nlisten = tcp:7 echo\n"
			     "[vs z]\naddresses = 198.18.3.1/24\n");
	assert_int_equal(coop_config_load_again(ini_path, a, &b, err, sizeof(err)), 0);
	assert_int_equal(coop_config_load(ini_path, &fresh, err, sizeof(err)), 0);
	assert_int_equal(b->n_vs, 3);
	for (i = 0; i < 3; i++)
		assert_true(coop_vs_cfg_equal(&b->vs[i], &fresh->vs[i]));
	assert_int_equal(b->vs[0].src_hash, a->vs[0].src_hash);
	assert_int_not_equal(b->vs[1].src_hash, a->vs[1].src_hash);
	assert_int_equal(b->vs[1].n_addrs, 2);
	/* the copy is b's own: freeing a leaves it whole */
	coop_config_free(a);
	assert_int_equal(b->vs[0].addrs[0].len, 24);
	coop_config_free(fresh);
	/* an error in a changed section is found; one in an unchanged one too,
	 * since the text that holds it is parsed the first time */
	write_file(ini_path, "[global]\nworkers = 2\n"
			     "[vs x]\n# said again\naddresses = 198.18.1.1/24\nlisten = tcp:7 echo\n"
			     "[vs y]\naddresses = 198.18.2.300/24\n");
	assert_int_equal(coop_config_load_again(ini_path, b, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[vs y] addresses"));
	coop_config_free(b);
}

static void test_example_ini(void **state)
{
	const struct coop_config_keydoc *d;
	struct coop_config *cfg = NULL;
	char path[PATH_MAX], want[64];
	char *text;
	size_t i;
	int ret;

	(void)state;
	if (!project_file("etc/example.ini", path, sizeof(path)))
		skip();
	text = slurp(path);
	/* every key is shown, set for real (not only in a comment) */
	for (i = 0; (d = coop_config_keydoc_at(i)); i++) {
		snprintf(want, sizeof(want), "\n%s = ", d->key);
		if (!strstr(text, want))
			print_error("etc/example.ini never sets %s\n", d->key);
		assert_non_null(strstr(text, want));
	}
	free(text);
	/* it loads, wherever its links live */
	ret = coop_config_load_flags(path, COOP_CONFIG_NO_LINKS, &cfg, err, sizeof(err));
	if (ret)
		print_error("%s\n", err);
	assert_int_equal(ret, 0);
	assert_true(cfg->n_vs >= 2);
	coop_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_comments_and_blanks),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_case_insensitive_names),
		cmocka_unit_test(test_admin_socket_none),
		cmocka_unit_test(test_metrics_listen),
		cmocka_unit_test(test_metrics_listen_exposed),
		cmocka_unit_test(test_conn_limits),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_address_plans),
		cmocka_unit_test(test_gateways),
		cmocka_unit_test(test_listen_same_port_two_protocols),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_directory_file),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_iniparser_message_captured),
		cmocka_unit_test(test_err_buffer_edge_cases),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_addr_parse_and_str),
		cmocka_unit_test(test_prefix_overlap),
		cmocka_unit_test(test_pbr_overlap_random),
		cmocka_unit_test(test_many_pbr_vses),
		cmocka_unit_test(test_typed_keys),
		cmocka_unit_test(test_backend_tables),
		cmocka_unit_test_setup_teardown(test_interface_in_namespace, ns_setup, ns_teardown),
		cmocka_unit_test(test_interface_here),
		cmocka_unit_test(test_no_links_flag),
		cmocka_unit_test(test_docs_match_tables),
		cmocka_unit_test(test_reparse),
		cmocka_unit_test(test_example_ini),
	};
	const size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
	const size_t n_err = sizeof(err_cases) / sizeof(err_cases[0]);
	struct CMUnitTest *tests = calloc(n_fixed + n_err, sizeof(*tests));
	size_t i;
	int failed;

	if (!tests)
		return 1;
	/* Links inside a namespace are looked for with coop_netns_run(). */
	if (coop_netns_init() < 0)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	for (i = 0; i < n_err; i++) {
		tests[n_fixed + i].name = err_cases[i].name;
		tests[n_fixed + i].test_func = run_err_case;
		tests[n_fixed + i].initial_state = (void *)&err_cases[i];
	}
	failed = _cmocka_run_group_tests("config", tests, n_fixed + n_err, group_setup,
					 group_teardown);
	free(tests);
	return failed;
}
