/* conf_test.c - the resolver's [vs NAME] keys (dns with ports and IPv6,
 * search, ndots, timeouts, cache, hosts_file), whole-settings checks, and
 * the per-VS hosts file parser and tables. */
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

#include "resolver/resolver_priv.h"

static char err[512];
static const char *bad_key;

static int check(const struct coop_resolver_conf *c, bool read_files)
{
	err[0] = '\0';
	return coop_resolver_conf_check(c, read_files, &bad_key, err, sizeof(err));
}

static int set(struct coop_resolver_conf *c, const char *k, const char *v)
{
	err[0] = '\0';
	return coop_resolver_conf_set(c, k, v, err, sizeof(err));
}

/* Write text to a new temporary file; its path goes into path. */
static void write_tmp(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/coop-conf-test.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_defaults(void **state)
{
	struct coop_resolver_conf c;

	(void)state;
	coop_resolver_conf_init(&c);
	assert_int_equal(c.n_servers, 0);
	assert_int_equal(c.ndots, 1);
	assert_int_equal(c.timeout_ms, 2000);
	assert_int_equal(c.attempts, 2);
	assert_int_equal(c.cache_size, 1024);
	assert_int_equal(c.given, 0);
	assert_int_equal(check(&c, true), 0);
	assert_int_equal(set(&c, "listen", "tcp:7 echo"), -ENOENT);
}

static void test_dns(void **state)
{
	struct coop_resolver_conf c;
	char buf[256];

	(void)state;
	coop_resolver_conf_init(&c);
	assert_int_equal(set(&c, "dns", "198.18.1.2, 198.18.1.3:5353 [2001:db8::1]:54,2001:db8::2"),
			 0);
	assert_int_equal(c.n_servers, 4);
	assert_int_equal(c.servers[0].family, AF_INET);
	assert_int_equal(c.servers[0].port, 53);
	assert_int_equal(c.servers[1].port, 5353);
	assert_int_equal(c.servers[2].family, AF_INET6);
	assert_int_equal(c.servers[2].port, 54);
	assert_int_equal(c.servers[3].family, AF_INET6);
	assert_int_equal(c.servers[3].port, 53);
	assert_true(c.given & (1u << COOP_RESOLVER_KEY_DNS));
	assert_string_equal(coop_resolver_conf_servers_str(&c, buf, sizeof(buf)),
			    "198.18.1.2:53,198.18.1.3:5353,[2001:db8::1]:54,[2001:db8::2]:53");

	/* A bad value leaves the old list. */
	assert_int_equal(set(&c, "dns", "198.18.1.2:0"), -EINVAL);
	assert_non_null(strstr(err, "'198.18.1.2:0' is not ADDR"));
	assert_int_equal(set(&c, "dns", "[2001:db8::1"), -EINVAL);
	assert_int_equal(set(&c, "dns", "dns.example"), -EINVAL);
	assert_int_equal(set(&c, "dns", "198.18.1.2:65536"), -EINVAL);
	assert_int_equal(set(&c, "dns", " , "), -EINVAL);
	assert_non_null(strstr(err, "no server"));
	assert_int_equal(
	    set(&c, "dns",
		"1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9"),
	    -EINVAL);
	assert_non_null(strstr(err, "at most 8"));
	assert_int_equal(c.n_servers, 4);
}

static void test_other_keys(void **state)
{
	struct coop_resolver_conf c;

	(void)state;
	coop_resolver_conf_init(&c);
	assert_int_equal(set(&c, "search", "corp.test, lab.test."), 0);
	assert_int_equal(c.n_search, 2);
	assert_string_equal(c.search[1], "lab.test");
	assert_int_equal(set(&c, "search", "a..test"), -EINVAL);
	assert_int_equal(set(&c, "search", "a b c d e f g"), -EINVAL);
	assert_int_equal(set(&c, "ndots", "3"), 0);
	assert_int_equal(c.ndots, 3);
	assert_int_equal(set(&c, "ndots", "16"), -EINVAL);
	assert_int_equal(set(&c, "ndots", "-1"), -EINVAL);
	assert_int_equal(set(&c, "dns_timeout", "500"), 0);
	assert_int_equal(c.timeout_ms, 500);
	assert_int_equal(set(&c, "dns_timeout", "5"), -EINVAL);
	assert_int_equal(set(&c, "dns_timeout", "1s"), -EINVAL);
	assert_int_equal(set(&c, "dns_attempts", "5"), 0);
	assert_int_equal(set(&c, "dns_attempts", "0"), -EINVAL);
	assert_int_equal(set(&c, "dns_cache", "0"), 0);
	assert_int_equal(c.cache_size, 0);
	assert_int_equal(set(&c, "hosts_file", "relative/hosts"), -EINVAL);
	assert_int_equal(set(&c, "hosts_file", "/etc/coop/nas1.hosts"), 0);

	/* Everything but dns needs dns. */
	assert_int_equal(check(&c, true), -EINVAL);
	assert_string_equal(bad_key, "search");
	assert_non_null(strstr(err, "needs dns ="));
}

static void test_hosts_file(void **state)
{
	struct coop_resolver_conf c;
	struct coop_resolver_addr out[4], a;
	const char *canon = NULL;
	struct res_hosts *h;
	char path[64];

	(void)state;
	write_tmp(path, sizeof(path),
		  "# nas1's own names\n"
		  "198.18.1.10  files.corp.test files   # the filer\n"
		  "2001:db8:1::10 files.corp.test\n"
		  "\n"
		  "198.18.1.11\tprint.corp.test. FILES\n"
		  "198.18.1.10  dup.corp.test\n");
	assert_int_equal(res_hosts_load(path, &h, err, sizeof(err)), 0);
	assert_int_equal(res_hosts_count(h), 6);

	assert_int_equal(res_hosts_addrs(h, "FILES.corp.test.", AF_UNSPEC, out, 4, &canon), 2);
	assert_string_equal(canon, "files.corp.test");
	assert_int_equal(out[0].family, AF_INET);
	assert_int_equal(out[1].family, AF_INET6);
	assert_int_equal(res_hosts_addrs(h, "files.corp.test", AF_INET6, out, 4, NULL), 1);
	/* An alias on two lines: both addresses, in file order. */
	assert_int_equal(res_hosts_addrs(h, "files", AF_INET, out, 4, &canon), 2);
	assert_string_equal(canon, "files.corp.test");
	assert_int_equal(ntohl(out[1].v4.s_addr) & 0xff, 11);
	assert_int_equal(res_hosts_addrs(h, "print.corp.test", AF_INET, out, 4, &canon), 1);
	assert_string_equal(canon, "print.corp.test");
	assert_int_equal(res_hosts_addrs(h, "nothere.test", AF_UNSPEC, out, 4, NULL), 0);

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	inet_pton(AF_INET, "198.18.1.10", &a.v4);
	assert_string_equal(res_hosts_name(h, &a), "files.corp.test");
	inet_pton(AF_INET, "198.18.1.99", &a.v4);
	assert_null(res_hosts_name(h, &a));
	res_hosts_free(h);

	/* The whole-settings check loads it. */
	coop_resolver_conf_init(&c);
	assert_int_equal(set(&c, "dns", "198.18.1.2"), 0);
	assert_int_equal(set(&c, "hosts_file", path), 0);
	assert_int_equal(check(&c, true), 0);
	unlink(path);
	assert_int_equal(check(&c, true), -ENOENT);
	assert_string_equal(bad_key, "hosts_file");
	assert_non_null(strstr(err, "No such file"));
	/* Checking a file for another machine: the file is not read. */
	assert_int_equal(check(&c, false), 0);
}

static void test_hosts_errors(void **state)
{
	struct res_hosts *h = NULL;
	char path[64];

	(void)state;
	write_tmp(path, sizeof(path), "198.18.1.1 ok.test\n198.18.1.300 bad.test\n");
	assert_int_equal(res_hosts_load(path, &h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2: '198.18.1.300' is not an IPv4 or IPv6 address"));
	unlink(path);

	write_tmp(path, sizeof(path), "198.18.1.1\n");
	assert_int_equal(res_hosts_load(path, &h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 1: address without a name"));
	unlink(path);

	write_tmp(path, sizeof(path), "198.18.1.1 bad..name\n");
	assert_int_equal(res_hosts_load(path, &h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a valid host name"));
	unlink(path);

	assert_int_equal(res_hosts_load("/", &h, err, sizeof(err)), -EINVAL);
	assert_null(h);
}

static void test_names(void **state)
{
	char longname[300];

	(void)state;
	assert_true(res_name_valid("a.test"));
	assert_true(res_name_valid("_ldap._tcp.dc._msdcs.corp.test."));
	assert_false(res_name_valid(""));
	assert_false(res_name_valid("."));
	assert_false(res_name_valid("a..b"));
	assert_false(res_name_valid(".a"));
	assert_false(res_name_valid("a b"));
	assert_false(res_name_valid("a\\.b"));
	memset(longname, 'a', 64);
	longname[64] = '\0';
	assert_false(res_name_valid(longname)); /* a 64-byte label */
	for (int i = 0; i < 127; i++) {
		longname[2 * i] = 'a';
		longname[2 * i + 1] = '.';
	}
	longname[253] = '\0';
	assert_true(res_name_valid(longname));
	longname[253] = 'a';
	longname[254] = '\0';
	assert_false(res_name_valid(longname));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	 cmocka_unit_test(test_dns),
	    cmocka_unit_test(test_other_keys),	 cmocka_unit_test(test_hosts_file),
	    cmocka_unit_test(test_hosts_errors), cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
