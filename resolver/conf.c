/* conf.c - the resolver's [vs NAME] keys: parsing, whole-settings checks,
 * defaults and their documentation table. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/resolver_priv.h"

#define DEFAULT_NDOTS	   1
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_ATTEMPTS   2
#define DEFAULT_CACHE	   1024
#define TIMEOUT_MIN_MS	   10
#define DNS_PORT	   53

void coop_resolver_conf_init(struct coop_resolver_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->ndots = DEFAULT_NDOTS;
	conf->timeout_ms = DEFAULT_TIMEOUT_MS;
	conf->attempts = DEFAULT_ATTEMPTS;
	conf->cache_size = DEFAULT_CACHE;
}

bool res_name_valid(const char *name)
{
	size_t n = strlen(name), label = 0, i;

	if (n && name[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		/* c-ares reads backslash escapes; printable bytes only. */
		if (c <= ' ' || c >= 0x7f || c == '\\')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

/* Next item of a list separated by commas and/or blanks, or NULL. */
static char *next_item(char **cursor)
{
	char *s = *cursor, *start;

	while (*s == ',' || *s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return NULL;
	start = s;
	while (*s && *s != ',' && *s != ' ' && *s != '\t')
		s++;
	if (*s)
		*s++ = '\0';
	*cursor = s;
	return start;
}

static int parse_port(const char *s, uint16_t *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* "198.18.1.2", "198.18.1.2:5353", "2001:db8::1" or "[2001:db8::1]:5353". */
static int parse_server(char *s, struct coop_resolver_server *out)
{
	char *port = NULL, *close;

	memset(out, 0, sizeof(*out));
	out->port = DNS_PORT;
	if (*s == '[') {
		close = strchr(s, ']');
		if (!close)
			return -EINVAL;
		*close = '\0';
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return -EINVAL;
		s++;
		if (inet_pton(AF_INET6, s, &out->v6) != 1)
			return -EINVAL;
		out->family = AF_INET6;
	} else if (inet_pton(AF_INET6, s, &out->v6) == 1) {
		out->family = AF_INET6;
	} else {
		port = strchr(s, ':');
		if (port)
			*port++ = '\0';
		if (inet_pton(AF_INET, s, &out->v4) != 1)
			return -EINVAL;
		out->family = AF_INET;
	}
	if (port && parse_port(port, &out->port) < 0)
		return -EINVAL;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int set_dns(struct coop_resolver_conf *conf, char *v, char *err, size_t errlen)
{
	struct coop_resolver_server sv[COOP_RESOLVER_SERVERS_MAX];
	char *cur = v, *item, copy[80];
	unsigned n = 0;

	while ((item = next_item(&cur))) {
		if (n == COOP_RESOLVER_SERVERS_MAX) {
			snprintf(err, errlen, "at most %d servers", COOP_RESOLVER_SERVERS_MAX);
			return -EINVAL;
		}
		snprintf(copy, sizeof(copy), "%s", item);
		if (parse_server(item, &sv[n]) < 0) {
			snprintf(err, errlen,
				 "'%.64s' is not ADDR, ADDR:PORT or [IPV6]:PORT (port 1..65535)",
				 copy);
			return -EINVAL;
		}
		n++;
	}
	if (!n) {
		snprintf(err, errlen, "no server given");
		return -EINVAL;
	}
	memcpy(conf->servers, sv, sizeof(sv[0]) * n);
	conf->n_servers = n;
	return 0;
}

static int set_search(struct coop_resolver_conf *conf, char *v, char *err, size_t errlen)
{
	char list[COOP_RESOLVER_SEARCH_MAX][COOP_RESOLVER_NAME_MAX];
	char *cur = v, *item;
	unsigned n = 0;

	while ((item = next_item(&cur))) {
		size_t len = strlen(item);

		if (n == COOP_RESOLVER_SEARCH_MAX) {
			snprintf(err, errlen, "at most %d domains", COOP_RESOLVER_SEARCH_MAX);
			return -EINVAL;
		}
		if (!res_name_valid(item)) {
			snprintf(err, errlen, "'%.64s' is not a valid domain name", item);
			return -EINVAL;
		}
		if (item[len - 1] == '.')
			item[len - 1] = '\0';
		snprintf(list[n++], COOP_RESOLVER_NAME_MAX, "%s", item);
	}
	memcpy(conf->search, list, sizeof(list[0]) * n);
	conf->n_search = n;
	return 0;
}

int coop_resolver_conf_set(struct coop_resolver_conf *conf, const char *key, const char *value,
			   char *err, size_t errlen)
{
	char buf[4096];
	int bit, ret = 0;

	if (strlen(value) >= sizeof(buf)) {
		snprintf(err, errlen, "value too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	if (!strcmp(key, "dns")) {
		bit = COOP_RESOLVER_KEY_DNS;
		ret = set_dns(conf, buf, err, errlen);
	} else if (!strcmp(key, "search")) {
		bit = COOP_RESOLVER_KEY_SEARCH;
		ret = set_search(conf, buf, err, errlen);
	} else if (!strcmp(key, "ndots")) {
		bit = COOP_RESOLVER_KEY_NDOTS;
		if (parse_uint(buf, 0, COOP_RESOLVER_NDOTS_MAX, &conf->ndots) < 0) {
			snprintf(err, errlen, "'%.32s' is not a number 0..%d", value,
				 COOP_RESOLVER_NDOTS_MAX);
			ret = -EINVAL;
		}
	} else if (!strcmp(key, "dns_timeout")) {
		bit = COOP_RESOLVER_KEY_TIMEOUT;
		if (parse_uint(buf, TIMEOUT_MIN_MS, COOP_RESOLVER_TIMEOUT_MAX, &conf->timeout_ms) <
		    0) {
			snprintf(err, errlen, "'%.32s' is not a number of milliseconds %d..%d",
				 value, TIMEOUT_MIN_MS, COOP_RESOLVER_TIMEOUT_MAX);
			ret = -EINVAL;
		}
	} else if (!strcmp(key, "dns_attempts")) {
		bit = COOP_RESOLVER_KEY_ATTEMPTS;
		if (parse_uint(buf, 1, COOP_RESOLVER_ATTEMPTS_MAX, &conf->attempts) < 0) {
			snprintf(err, errlen, "'%.32s' is not a number 1..%d", value,
				 COOP_RESOLVER_ATTEMPTS_MAX);
			ret = -EINVAL;
		}
	} else if (!strcmp(key, "dns_cache")) {
		bit = COOP_RESOLVER_KEY_CACHE;
		if (parse_uint(buf, 0, COOP_RESOLVER_CACHE_MAX, &conf->cache_size) < 0) {
			snprintf(err, errlen, "'%.32s' is not a number of entries 0..%d", value,
				 COOP_RESOLVER_CACHE_MAX);
			ret = -EINVAL;
		}
	} else if (!strcmp(key, "hosts_file")) {
		bit = COOP_RESOLVER_KEY_HOSTS;
		if (buf[0] != '/' || strlen(buf) >= sizeof(conf->hosts_file)) {
			snprintf(err, errlen, "'%.64s' is not an absolute path", value);
			ret = -EINVAL;
		} else {
			snprintf(conf->hosts_file, sizeof(conf->hosts_file), "%s", buf);
		}
	} else {
		return -ENOENT;
	}
	if (ret == 0)
		conf->given |= 1u << bit;
	return ret;
}

int coop_resolver_conf_check(const struct coop_resolver_conf *conf, bool read_files,
			     const char **key, char *err, size_t errlen)
{
	static const char *const names[] = {"dns",	    "search",	 "ndots",     "dns_timeout",
					    "dns_attempts", "dns_cache", "hosts_file"};
	struct res_hosts *h;
	unsigned bit;
	int ret;

	*key = NULL;
	if (!conf->n_servers) {
		for (bit = COOP_RESOLVER_KEY_SEARCH; bit <= COOP_RESOLVER_KEY_HOSTS; bit++) {
			if (conf->given & (1u << bit)) {
				*key = names[bit];
				snprintf(err, errlen,
					 "needs dns = (a VS without DNS servers has no resolver)");
				return -EINVAL;
			}
		}
		return 0;
	}
	if (read_files && conf->hosts_file[0]) {
		*key = "hosts_file";
		ret = res_hosts_load(conf->hosts_file, &h, err, errlen);
		if (ret < 0)
			return ret;
		res_hosts_free(h);
		*key = NULL;
	}
	return 0;
}

const char *coop_resolver_conf_servers_str(const struct coop_resolver_conf *conf, char *buf,
					   size_t len)
{
	char a[INET6_ADDRSTRLEN];
	size_t o = 0;
	unsigned i;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < conf->n_servers && o < len; i++) {
		const struct coop_resolver_server *s = &conf->servers[i];
		int n;

		inet_ntop(s->family,
			  s->family == AF_INET ? (const void *)&s->v4 : (const void *)&s->v6, a,
			  sizeof(a));
		n = snprintf(buf + o, len - o, s->family == AF_INET6 ? "%s[%s]:%u" : "%s%s:%u",
			     i ? "," : "", a, s->port);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return buf;
}
