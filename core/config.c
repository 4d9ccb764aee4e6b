/* config.c - the INI configuration loader: pre-scan, iniparser, the key
 * tables (typed keys read from their entries), whole-file validation
 * through the tables' hooks. */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <iniparser.h>

#include "base/array.h"
#include "base/hash.h"
#include "base/util.h"

#include "core/config.h"
#include "base/netns.h"

#define ADMIN_SOCKET_DEFAULT "/run/coop/admin.sock"
#define ADMIN_MODE_DEFAULT 0600
#define WORKERS_MAX 256
#define DRAIN_DEFAULT_MS 30000
#define DRAIN_MAX_MS 3600000
#define STOP_GRACE_MAX_MS 60000
#define CONNS_MAX 10000000u      /* max_connections, [global] and [vs] */
#define IDLE_MAX_MS 86400000u    /* idle_timeout: a day */
#define OUT_BYTES_MAX 1073741824u /* out_high, out_max: 1 GiB */
#define WHY_MAX 256 /* a parser's "problem" text */
#define SEC_MAX (COOP_NAME_MAX + 4) /* "vs NAME" */

/*
 * Why a pre-scan of our own besides iniparser: iniparser merges two sections
 * of the same name, lets a repeated key overwrite the first silently, and
 * keeps no line numbers. An operator who pastes [vs nas1] twice must hear
 * about it, so we read the raw lines first, classifying them exactly as
 * iniparser 4.1 does (same stripping, lowercasing and '\' continuation), and
 * only then let iniparser produce the values (quotes, inline comments).
 */

enum sec_kind {
	SEC_GLOBAL, /* [global] */
	SEC_VS,     /* [vs NAME] */
	SEC_OWN,    /* a module's own section ([forwarder]): raw_sec.tab */
};


/* A section header found by the pre-scan. */
struct raw_sec {
	char *name;         /* header text, trimmed and lowercased as iniparser does */
	unsigned line;      /* line of the header */
	enum sec_kind kind; /* set by check_sections() */
	const char *vsname; /* SEC_VS: the VS name, inside name */
	const struct coop_cfg_keytab *tab; /* SEC_OWN: the table of the section */
	char disp[SEC_MAX]; /* "global" or "vs NAME", for messages */
	size_t key0;        /* index of its first key in loader.keys */
	size_t n_keys;      /* keys under this header (they are contiguous) */
	uint64_t hash;      /* FNV-1a of its header and key lines (comments and
			     * blank lines left out) */
	const struct coop_vs_cfg *reuse; /* SEC_VS: the previous file's section
					  * of the same name and text: copied,
					  * not parsed again */
};

/* A key found by the pre-scan. */
struct raw_key {
	char *key;                 /* trimmed and lowercased as iniparser does */
	unsigned line;             /* line the key starts on */
	const struct coop_cfg_key *def;    /* its table entry (set by check_keys()) */
	const struct coop_cfg_keytab *tab; /* the table holding it */
	char *text;                        /* the whole line, as classify() saw it */
};

/* One "section:key" = value of iniparser's dictionary. */
struct ini_entry {
	const char *key; /* iniparser's "section:key" */
	const char *val; /* its value */
};

/* Everything one coop_config_load() call works with. */
struct loader {
	const char *path;        /* file as named by the caller, for messages */
	unsigned flags;          /* COOP_CONFIG_* */
	char *err;               /* caller's message buffer (may be NULL) */
	size_t errlen;           /* its size */
	bool failed;             /* err holds the first error already */
	struct raw_sec *secs;    /* section headers in file order */
	size_t n_secs, cap_secs;
	struct raw_key *keys;    /* keys in file order */
	size_t n_keys, cap_keys;
	dictionary *dict;        /* iniparser's view of the same file */
	struct ini_entry *index; /* dict's entries sorted by key, for lookups */
	size_t n_index;
	struct coop_config *cfg; /* being built */
	const struct coop_cfg_keytab *const *tabs; /* every key table, core's first */
	size_t n_tabs;
	const struct coop_config *prev; /* the running configuration (a reload), or NULL */
	int memfd;               /* the sections parsed again, for iniparser; -1 = none */
};


/* Record the first error as "FILE: [SECTION] KEY: problem" (section and key
 * optional) and return ret, so callers can `return fail(...)`. */
static int vfail(struct loader *ld, int ret, const char *sec, const char *key, const char *fmt,
		 va_list ap)
{
	char what[1024];

	if (ld->failed || !ld->err || !ld->errlen)
		return ret;
	ld->failed = true;
	vsnprintf(what, sizeof(what), fmt, ap);
	if (sec && key)
		snprintf(ld->err, ld->errlen, "%s: [%s] %s: %s", ld->path, sec, key, what);
	else if (sec || key)
		snprintf(ld->err, ld->errlen, sec ? "%s: [%s]: %s" : "%s: %s: %s", ld->path,
			 sec ? sec : key, what);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", ld->path, what);
	return ret;
}

static int __attribute__((format(printf, 5, 6)))
fail(struct loader *ld, int ret, const char *sec, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ret = vfail(ld, ret, sec, key, fmt, ap);
	va_end(ap);
	return ret;
}

/* fail() about a key of a parsed VS. */
static int __attribute__((format(printf, 4, 5)))
fail_vs(struct loader *ld, const struct coop_vs_cfg *vs, const char *key, const char *fmt, ...)
{
	char sec[SEC_MAX];
	va_list ap;
	int ret;

	snprintf(sec, sizeof(sec), "vs %s", vs->name);
	va_start(ap, fmt);
	ret = vfail(ld, -EINVAL, sec, key, fmt, ap);
	va_end(ap);
	return ret;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* --- [global] keys ---------------------------------------------------------- */

static int parse_metrics_listen(void *obj, const char *val, char *why, size_t whylen)
{
	struct coop_global_cfg *g = obj;
	char addr[INET6_ADDRSTRLEN + 2];
	const char *colon;
	uint32_t port;
	size_t n;

	if (!strcmp(val, "none")) {
		g->metrics_port = 0;
		return 0;
	}
	colon = strrchr(val, ':');
	n = colon ? (size_t)(colon - val) : 0;
	if (!colon || !n || n >= sizeof(addr))
		return coop_cfg_why(why, whylen, -EINVAL,
			       "'%s' is not ADDRESS:PORT (an IPv6 address in brackets), or none", val);
	memcpy(addr, val, n);
	addr[n] = '\0';
	if (addr[0] == '[') {
		if (n < 3 || addr[n - 1] != ']')
			return coop_cfg_why(why, whylen, -EINVAL,
				       "'%s': an IPv6 address goes in brackets: [2001:db8::1]:9101", val);
		addr[n - 1] = '\0';
		memmove(addr, addr + 1, n - 1);
	}
	if (coop_addr_parse(addr, &g->metrics_addr) < 0 ||
	    (g->metrics_addr.family == AF_INET6) != (val[0] == '['))
		return coop_cfg_why(why, whylen, -EINVAL,
			       "'%s': '%s' is not an IPv4 address or a bracketed IPv6 address", val,
			       addr);
	if (coop_cfg_u32(colon + 1, false, &port) < 0 || port < 1 || port > 65535)
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': port '%s' is not 1..65535", val,
			       colon + 1);
	g->metrics_port = (uint16_t)port;
	return 0;
}

/* --- [vs NAME] keys --------------------------------------------------------- */

static int parse_namespace(void *obj, const char *val, char *why, size_t whylen)
{
	struct coop_vs_cfg *vs = obj;

	/* An absolute path attaches a namespace file outside /run/netns
	 * (/proc/PID/ns/net, a container runtime's mount). */
	if (val[0] == '/') {
		if (strlen(val) >= COOP_NAME_MAX || strpbrk(val, " \t") || strstr(val, "/../"))
			return coop_cfg_why(why, whylen, -EINVAL,
				       "'%s' is not a usable namespace path (absolute, under %d bytes)",
				       val, COOP_NAME_MAX);
	} else if (!coop_cfg_name_ok(val, COOP_NAME_MAX, true, "_.-"))
		return coop_cfg_why(why, whylen, -EINVAL,
			       "'%s' is not a namespace name (1..%d of A-Z a-z 0-9 _ . -) or an absolute path",
			       val, COOP_NAME_MAX - 1);
	snprintf(vs->netns, sizeof(vs->netns), "%s", val);
	return 0;
}

static int parse_interface(void *obj, const char *val, char *why, size_t whylen)
{
	struct coop_vs_cfg *vs = obj;

	if (!coop_cfg_ifname_ok(val))
		return coop_cfg_why(why, whylen, -EINVAL,
			       "'%s' is not a link name (1..%d bytes, no '/', ':' or blanks)", val,
			       IF_NAMESIZE - 1);
	snprintf(vs->ifname, sizeof(vs->ifname), "%s", val);
	return 0;
}

/* One addresses entry: ADDR/LEN or, for pbr (checked once the whole section
 * is read, since isolation may come later), ADDR/LEN@IFNAME. */
static int address_entry(void *obj, size_t i, size_t n, char *e, char *why, size_t whylen)
{
	struct coop_vs_cfg *vs = obj;
	char orig[128], *at = strchr(e, '@');
	struct coop_prefix *p;
	enum coop_pfx_result r;
	size_t j;

	if (!i && !(vs->addrs = calloc(n, sizeof(*vs->addrs))))
		return coop_cfg_why(why, whylen, -ENOMEM, "out of memory");
	p = &vs->addrs[i];
	snprintf(orig, sizeof(orig), "%s", e);
	if (at)
		*at = '\0';
	r = coop_prefix_parse_why(e, true, p);
	if (r == COOP_PFX_NOLEN)
		return coop_cfg_why(why, whylen, -EINVAL, "'%s' needs a prefix length (ADDR/LEN)", orig);
	if (r == COOP_PFX_RANGE || (r == COOP_PFX_OK && p->len == 0))
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': prefix length out of range (1..%u)",
			       orig, coop_addr_bits(&p->addr));
	if (r != COOP_PFX_OK)
		return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not an address/prefix", orig);
	if (!coop_addr_unicast(&p->addr))
		return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not a unicast address", orig);
	if (at && !coop_cfg_ifname_ok(at + 1))
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': '%s' is not a link name (1..%d bytes)",
			       orig, at + 1, IF_NAMESIZE - 1);
	if (at)
		snprintf(p->ifname, sizeof(p->ifname), "%s", at + 1);
	vs->n_addrs = i + 1;
	/* One address is one kernel object: a second copy (even with another
	 * length) would fail at start with EEXIST. */
	for (j = 0; j < i; j++)
		if (coop_addr_equal(&vs->addrs[j].addr, &p->addr))
			return coop_cfg_why(why, whylen, -EINVAL, "address %.*s is listed twice",
				       (int)strcspn(orig, "/"), orig);
	return 0;
}

static int parse_addresses(void *obj, const char *val, char *why, size_t whylen)
{
	return coop_cfg_list_each(val, obj, address_entry, why, whylen);
}

static int gateway_entry(void *obj, size_t i, size_t n, char *e, char *why, size_t whylen)
{
	struct coop_vs_cfg *vs = obj;
	char prev[INET6_ADDRSTRLEN];
	struct coop_addr a;
	bool v4;

	(void)i;
	(void)n;
	if (coop_addr_parse(e, &a) < 0)
		return coop_cfg_why(why, whylen, -EINVAL,
			       strchr(e, '/') ? "'%s' is not an address (a gateway has no prefix length)" :
						"'%s' is not an IPv4 or IPv6 address",
			       e);
	if (!coop_addr_unicast(&a))
		return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not a unicast address", e);
	v4 = a.family == AF_INET;
	if (v4 ? vs->has_gw4 : vs->has_gw6)
		return coop_cfg_why(why, whylen, -EINVAL,
			       "two IPv%c gateways (%s and %s); give at most one per family",
			       v4 ? '4' : '6',
			       coop_addr_str(v4 ? &vs->gw4 : &vs->gw6, prev, sizeof(prev)), e);
	*(v4 ? &vs->gw4 : &vs->gw6) = a;
	*(v4 ? &vs->has_gw4 : &vs->has_gw6) = true;
	return 0;
}

static int parse_gateway(void *obj, const char *val, char *why, size_t whylen)
{
	return coop_cfg_list_each(val, obj, gateway_entry, why, whylen);
}

/* One listen entry: "PROTO:PORT SERVICE". */
static int listen_entry(void *obj, size_t i, size_t n, char *e, char *why, size_t whylen)
{
	struct coop_vs_cfg *vs = obj;
	char *colon = strchr(e, ':'), *svc, pbuf[8];
	struct coop_listen_cfg *l;
	size_t digits, j;
	uint32_t port;

	if (!i && !(vs->listens = calloc(n, sizeof(*vs->listens))))
		return coop_cfg_why(why, whylen, -ENOMEM, "out of memory");
	l = &vs->listens[i];
	if (!colon)
		return coop_cfg_why(why, whylen, -EINVAL,
			       "'%s' is not PROTO:PORT SERVICE (e.g. tcp:2049 nfs)", e);
	if (colon - e == 3 && !strncasecmp(e, "tcp", 3))
		l->proto = IPPROTO_TCP;
	else if (colon - e == 3 && !strncasecmp(e, "udp", 3))
		l->proto = IPPROTO_UDP;
	else
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': unknown protocol '%.*s' (tcp or udp)",
			       e, (int)(colon - e), e);
	digits = strspn(colon + 1, "0123456789");
	svc = colon + 1 + digits;
	if (digits && digits < sizeof(pbuf))
		snprintf(pbuf, sizeof(pbuf), "%.*s", (int)digits, colon + 1);
	if (!digits || digits > 5 || (*svc && !isspace((unsigned char)*svc)) ||
	    coop_cfg_u32(pbuf, false, &port) < 0 || port < 1 || port > 65535)
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': bad port (1..65535)", e);
	l->port = (uint16_t)port;
	while (isspace((unsigned char)*svc))
		svc++;
	if (!*svc)
		return coop_cfg_why(why, whylen, -EINVAL, "'%s' names no service (PROTO:PORT SERVICE)", e);
	if (!coop_cfg_name_ok(svc, COOP_SERVICE_MAX, false, "_-"))
		return coop_cfg_why(why, whylen, -EINVAL,
			       "'%s' is not a service name (1..%d of a-z 0-9 _ -)", svc,
			       COOP_SERVICE_MAX - 1);
	snprintf(l->service, sizeof(l->service), "%s", svc);
	vs->n_listens = i + 1;
	for (j = 0; j < i; j++)
		if (vs->listens[j].proto == l->proto && vs->listens[j].port == l->port)
			return coop_cfg_why(why, whylen, -EINVAL,
				       "%s:%u is listed twice (one service per port)",
				       l->proto == IPPROTO_TCP ? "tcp" : "udp", l->port);
	return 0;
}

static int parse_listen(void *obj, const char *val, char *why, size_t whylen)
{
	return coop_cfg_list_each(val, obj, listen_entry, why, whylen);
}

/* One rpc entry: "PROG:VERS:PROTO:PORT". */
static int rpc_entry(void *obj, size_t i, size_t n, char *e, char *why, size_t whylen)
{
	struct coop_vs_cfg *vs = obj;
	char *f[4], *save = NULL, buf[64];
	struct coop_rpc_cfg *r;
	uint32_t prog, vers, port;
	size_t k;

	if (!i && !(vs->rpcs = calloc(n, sizeof(*vs->rpcs))))
		return coop_cfg_why(why, whylen, -ENOMEM, "out of memory");
	r = &vs->rpcs[i];
	snprintf(buf, sizeof(buf), "%s", e);
	for (k = 0; k < 4; k++)
		f[k] = strtok_r(k ? NULL : buf, ":", &save);
	if (!f[3] || strtok_r(NULL, ":", &save) || coop_cfg_u32(f[0], false, &prog) < 0 ||
	    coop_cfg_u32(f[1], false, &vers) < 0)
		return coop_cfg_why(why, whylen, -EINVAL,
			       "'%s' is not PROG:VERS:PROTO:PORT (e.g. 100003:3:tcp:2049)", e);
	if (!strcasecmp(f[2], "tcp"))
		r->prot = IPPROTO_TCP;
	else if (!strcasecmp(f[2], "udp"))
		r->prot = IPPROTO_UDP;
	else
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': unknown protocol '%s' (tcp or udp)", e,
			       f[2]);
	if (coop_cfg_u32(f[3], false, &port) < 0 || port < 1 || port > 65535)
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': bad port (1..65535)", e);
	r->prog = prog;
	r->vers = vers;
	r->port = port;
	vs->n_rpcs = i + 1;
	/* The portmapper refuses a second mapping of the same triple. */
	for (k = 0; k < i; k++)
		if (vs->rpcs[k].prog == prog && vs->rpcs[k].vers == vers &&
		    vs->rpcs[k].prot == r->prot)
			return coop_cfg_why(why, whylen, -EINVAL, "program %u version %u over %s is listed twice",
				       prog, vers, f[2]);
	return 0;
}

static int parse_rpc(void *obj, const char *val, char *why, size_t whylen)
{
	return coop_cfg_list_each(val, obj, rpc_entry, why, whylen);
}

/* --- the core's key tables ------------------------------------------------------ */

/* The loader, coop_cfg_keydoc_at() and docs/config.md all come from these;
 * the pbr_* [global] keys and the pbr [vs] keys are vs/pbr_config.c's. */
static const struct coop_cfg_key global_keys[] = {
	{ { "global", "workers", "1..256", "the number of online CPUs (at most 256)",
	    "Worker threads, each with its own event loop. Every listener gets one "
	    "SO_REUSEPORT socket per worker, so the kernel spreads connections." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_global_cfg, workers),
	  .what = "a thread count", .min = 1, .max = WORKERS_MAX },
	{ { "global", "admin_socket", "absolute path shorter than 108 bytes, or none",
	    ADMIN_SOCKET_DEFAULT,
	    "Unix socket of the admin protocol (used by coopctl). 'none' runs without one." },
	  .type = COOP_CFG_PATH, COOP_CFG_AT(struct coop_global_cfg, admin_socket),
	  .what = "a Unix socket path", .zero_word = "none", .zero_means = "no admin socket" },
	{ { "global", "admin_mode", "octal mode 0000..0777", "0600",
	    "File mode of the admin socket; peer credentials are checked as well." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_global_cfg, admin_mode),
	  .what = "an octal file mode", .max = 0777, .base = 8 },
	{ { "global", "metrics_listen", "ADDRESS:PORT ([IPv6]:PORT), or none", "none",
	    "HTTP listener in coopd's own namespace serving GET /metrics: every counter of "
	    "the admin protocol's show stats (and show fwd) in Prometheus text format. "
	    "Anyone who can connect can read it: bind it to a management address. A wildcard "
	    "(0.0.0.0, ::) or an address of a VS is refused unless metrics_public = yes." },
	  .parse = parse_metrics_listen },
	{ { "global", "metrics_public", "yes or no", "no",
	    "Allow metrics_listen on a wildcard address (0.0.0.0, ::) or on an address of a "
	    "VS. Without it such a metrics_listen is refused: every VS's counters would be "
	    "readable from addresses that VS clients reach." },
	  .type = COOP_CFG_BOOL, COOP_CFG_AT(struct coop_global_cfg, metrics_public),
	  .what = "yes or no" },
	{ { "global", "drain_timeout", "milliseconds, 0..3600000", "30000",
	    "How long a VS that a reload removes (or must rebuild) keeps serving the "
	    "connections it has after it stopped accepting; those left then are closed." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_global_cfg, drain_timeout_ms),
	  .what = "a number of milliseconds", .max = DRAIN_MAX_MS },
	{ { "global", "stop_grace", "milliseconds, 0..60000", "2000",
	    "On SIGTERM (or coop_stop) connections stop being accepted, and the open ones "
	    "get this long to be answered and flushed: each is read up to what its peer has "
	    "sent, its replies are sent and acknowledged, then it is closed. Those left "
	    "when it ends are closed as they are; 0 closes everything at once." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_global_cfg, stop_grace_ms),
	  .what = "a number of milliseconds", .max = STOP_GRACE_MAX_MS },
	{ { "global", "max_connections", "1..10000000, or auto",
	    "auto: 7/8 of coopd's open-file limit (RLIMIT_NOFILE)",
	    "TCP connections open at once in all VSes together, accepted and outbound. A "
	    "connection accepted over it is closed at once and counted as refused. A reload "
	    "applies a new value to the next connections." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_global_cfg, max_connections),
	  .what = "a number of connections", .min = 1, .max = CONNS_MAX, .zero_word = "auto",
	  .zero_means = "7/8 of the open-file limit" },
};

static const struct coop_cfg_key vs_keys[] = {
	{ { "vs", "isolation", "netns or pbr", "netns",
	    "netns: the VS has its own network namespace (two VSes may use the same "
	    "addresses). pbr: the VS shares a namespace and is separated by SO_MARK and "
	    "a policy routing table." },
	  .type = COOP_CFG_ISO, COOP_CFG_AT(struct coop_vs_cfg, isolation),
	  .what = "an isolation" },
	{ { "vs", "namespace", "1..63 of A-Z a-z 0-9 _ . -, or an absolute path",
	    "netns: the VS name; pbr: the namespace coopd runs in",
	    "netns: the VS's namespace (/run/netns/NAME), created and owned by coop if "
	    "absent, attached if present; no two netns VSes may name the same one. pbr: "
	    "the shared namespace the VS lives in. An absolute path (e.g. /proc/1/ns/net) "
	    "attaches that namespace file; coop never creates or deletes it." },
	  .parse = parse_namespace },
	{ { "vs", "interface", "link name, 1..15 bytes", "none",
	    "netns: an existing link (a VLAN sub-interface, a veth) moved into the "
	    "namespace. pbr: the link that carries the addresses written without @IFNAME. "
	    "It must exist when the configuration is loaded (netns: in coopd's namespace "
	    "or already in the VS's)." },
	  .parse = parse_interface },
	{ { "vs", "addresses", "ADDR/LEN[, ADDR/LEN...]; pbr also ADDR/LEN@IFNAME",
	    "none (required for pbr)",
	    "The VS's IPv4 and IPv6 addresses with their prefix lengths, in order. An "
	    "outbound connection leaves from the address whose subnet holds the "
	    "destination, else from the first of its family. Listeners bind "
	    "each address (a netns VS without addresses binds the wildcards). pbr VSes "
	    "sharing a namespace must not overlap." },
	  .parse = parse_addresses },
	{ { "vs", "gateway", "ADDR[, ADDR]: at most one IPv4 and one IPv6", "none",
	    "Default route(s) of the VS. Each gateway must lie in one of the VS's "
	    "prefixes of its family (IPv6 link-local gateways excepted)." },
	  .parse = parse_gateway },
	{ { "vs", "listen", "PROTO:PORT SERVICE[, ...]; PROTO tcp or udp, PORT 1..65535",
	    "none",
	    "Listeners and the registered service each hands its traffic to; one entry "
	    "per protocol and port." },
	  .parse = parse_listen },
	{ { "vs", "rpc", "PROG:VERS:PROTO:PORT[, ...]; PROTO tcp or udp", "none",
	    "Fixed mappings in the VS's own ONC RPC portmapper (the portmap service, "
	    "RFC 1833), next to its own; see docs/udp.md. Applications register theirs "
	    "with coop_vs_rpc_set()." },
	  .parse = parse_rpc },
	{ { "vs", "max_connections", "1..10000000, or none", "none: only [global] max_connections",
	    "TCP connections of this VS open at once, accepted and outbound. A connection "
	    "accepted over it is closed at once and counted as refused; the open ones are "
	    "not touched when a reload lowers it." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_vs_cfg, max_connections),
	  .what = "a number of connections", .min = 1, .max = CONNS_MAX, .zero_word = "none",
	  .zero_means = "no limit of the VS's own" },
	{ { "vs", "idle_timeout", "milliseconds, 100..86400000, or none", "600000",
	    "A connection that neither received nor sent a byte for this long is closed "
	    "(counted as idle). A reload's new value applies to the open connections within "
	    "a minute. none: never; use it for protocols whose sessions stay idle for long." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_vs_cfg, idle_timeout_ms),
	  .what = "a number of milliseconds", .min = 100, .max = IDLE_MAX_MS,
	  .zero_word = "none", .zero_means = "never" },
	{ { "vs", "out_high", "bytes, 4096..1073741824", "65536",
	    "While this much output of a connection is unsent (its peer reads slowly or not "
	    "at all), nothing more is read from it; reading resumes below a quarter of it." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_vs_cfg, out_high),
	  .what = "a number of bytes", .min = 4096, .max = OUT_BYTES_MAX },
	{ { "vs", "out_max", "bytes, 65536..1073741824, at least out_high", "1048576",
	    "A connection whose unsent output would pass this is closed (counted as out_max): "
	    "requests already read can make more output than out_high, say many pipelined "
	    "portmap DUMPs, and a peer that never reads must not make coopd hold it. Checked "
	    "at every write, so no connection ever holds more." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_vs_cfg, out_max),
	  .what = "a number of bytes", .min = 65536, .max = OUT_BYTES_MAX },
};

static unsigned default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

static void global_init(void *obj)
{
	struct coop_global_cfg *g = obj;

	g->workers = default_workers();
	snprintf(g->admin_socket, sizeof(g->admin_socket), "%s", ADMIN_SOCKET_DEFAULT);
	g->admin_mode = ADMIN_MODE_DEFAULT;
	g->drain_timeout_ms = DRAIN_DEFAULT_MS;
	g->stop_grace_ms = COOP_CONN_STOP_GRACE_MS;
}

/* Is a an address of every interface (0.0.0.0, ::, ::ffff:0.0.0.0)? */
static bool addr_wildcard(const struct coop_addr *a)
{
	static const struct in6_addr mapped_any = { .s6_addr = { [10] = 0xff, [11] = 0xff } };

	if (a->family == AF_INET)
		return a->v4.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&a->v6) || IN6_ARE_ADDR_EQUAL(&a->v6, &mapped_any);
}

/* Is a the address p (v4 also written v4-mapped)? */
static bool addr_is(const struct coop_addr *a, const struct coop_addr *p)
{
	if (coop_addr_equal(a, p))
		return true;
	return a->family == AF_INET6 && p->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&a->v6) &&
	       !memcmp(&a->v6.s6_addr[12], &p->v4, 4);
}

/* metrics_listen must not serve VS clients: no wildcard, no VS address,
 * unless metrics_public says it should. */
static int global_check_cfg(const struct coop_config *cfg, bool links, struct coop_cfg_err *e)
{
	const struct coop_global_cfg *g = &cfg->global;
	char a[INET6_ADDRSTRLEN];
	size_t i, k;

	(void)links;
	if (!g->metrics_port || g->metrics_public)
		return 0;
	coop_addr_str(&g->metrics_addr, a, sizeof(a));
	if (addr_wildcard(&g->metrics_addr))
		return coop_cfg_err_set(e, -EINVAL, "global", "metrics_listen",
					"%s is a wildcard: the metrics (every VS's counters, no "
					"authentication) would answer on every address of coopd's "
					"namespace, pbr VSes' included; bind a management address or "
					"loopback, or set metrics_public = yes to serve them there anyway",
					a);
	for (i = 0; i < cfg->n_vs; i++)
		for (k = 0; k < cfg->vs[i].n_addrs; k++)
			if (addr_is(&g->metrics_addr, &cfg->vs[i].addrs[k].addr))
				return coop_cfg_err_set(e, -EINVAL, "global", "metrics_listen",
							"%s is an address of vs '%s': its clients "
							"could read every VS's counters (no "
							"authentication); bind a management address "
							"or loopback, or set metrics_public = yes to "
							"serve them there anyway",
							a, cfg->vs[i].name);
	return 0;
}

static void vs_defaults(void *obj)
{
	struct coop_vs_cfg *vs = obj;

	vs->idle_timeout_ms = COOP_CONN_IDLE_MS;
	vs->out_high = COOP_CONN_OUT_HIGH;
	vs->out_max = COOP_CONN_OUT_MAX;
}

static int vs_check(const void *obj, bool links, const char **key, char *why, size_t whylen)
{
	const struct coop_vs_cfg *vs = obj;

	(void)links;
	if (vs->out_max < vs->out_high) {
		*key = "out_max";
		return coop_cfg_why(why, whylen, -EINVAL,
				    "%u is below out_high (%u): a connection would be closed "
				    "before its reading pauses; raise out_max or lower out_high",
				    vs->out_max, vs->out_high);
	}
	return 0;
}

#define MAX_KEYS 32 /* keys of one section over all its tables */

/* The core's own tables: [global] and [vs NAME] keys of the runtime. */
const struct coop_cfg_keytab coop_cfg_core_tabs[2] = {
	{ .section = "global", .keys = global_keys, .n = COOP_ARRAY_LEN(global_keys),
	  .init = global_init, .check_cfg = global_check_cfg },
	{ .section = "vs", .keys = vs_keys, .n = COOP_ARRAY_LEN(vs_keys), .init = vs_defaults,
	  .check = vs_check },
};

const struct coop_config_keydoc *coop_cfg_keydoc_at(const struct coop_cfg_keytab *const *tabs,
						     size_t n_tabs, size_t i)
{
	static const char *const order[] = { "global", "vs" };
	size_t t, o;

	/* [global] keys, then [vs NAME] keys, then each own section's. */
	for (o = 0; o <= COOP_ARRAY_LEN(order); o++) {
		for (t = 0; t < n_tabs; t++) {
			const struct coop_cfg_keytab *kt = tabs[t];
			bool own = strcmp(kt->section, "global") && strcmp(kt->section, "vs");

			if (o < COOP_ARRAY_LEN(order) ? strcmp(kt->section, order[o]) : !own)
				continue;
			if (i < kt->n)
				return &kt->keys[i].doc;
			i -= kt->n;
		}
	}
	return NULL;
}

/* --- pre-scan ------------------------------------------------------------------ */

static int add_sec(struct loader *ld, const char *name, unsigned line)
{
	struct raw_sec *s;

	if (COOP_ARRAY_GROW(ld->secs, ld->cap_secs, ld->n_secs + 1, 16) < 0)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	s = &ld->secs[ld->n_secs];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	if (!s->name)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	s->line = line;
	s->key0 = ld->n_keys;
	s->hash = coop_fnv64(COOP_FNV64_INIT, name, strlen(name) + 1);
	ld->n_secs++;
	return 0;
}

static int add_key(struct loader *ld, const char *key, const char *text, unsigned line)
{
	struct raw_key *k;

	if (COOP_ARRAY_GROW(ld->keys, ld->cap_keys, ld->n_keys + 1, 64) < 0)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	k = &ld->keys[ld->n_keys];
	memset(k, 0, sizeof(*k));
	k->key = strdup(key);
	k->text = strdup(text);
	if (!k->key || !k->text)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	k->line = line;
	ld->n_keys++;
	ld->secs[ld->n_secs - 1].n_keys++;
	ld->secs[ld->n_secs - 1].hash =
	    coop_fnv64(ld->secs[ld->n_secs - 1].hash, text, strlen(text) + 1);
	return 0;
}

/* Classify one logical line the way iniparser 4.1 does: blank, comment
 * (';' or '#' first), "[section]" (first '[' and last ']'), "key = value"
 * (key before the first '='), else a syntax error. */
static int classify(struct loader *ld, char *s, unsigned line)
{
	const char *cur = ld->n_secs ? ld->secs[ld->n_secs - 1].name : NULL;
	char *eq, *text;
	size_t n;
	int ret;

	s = coop_cfg_strip(s);
	n = strlen(s);
	if (!n || s[0] == '#' || s[0] == ';')
		return 0;
	if (s[0] == '[' && s[n - 1] == ']') {
		*strchr(s, ']') = '\0';
		s = coop_cfg_strip(s + 1);
		lower(s);
		if (!*s)
			return fail(ld, -EINVAL, NULL, NULL, "line %u: empty section name", line);
		return add_sec(ld, s, line);
	}
	eq = strchr(s, '=');
	if (!eq || eq == s)
		return fail(ld, -EINVAL, cur, NULL, "line %u: syntax error: '%.60s' %s", line, s,
			    s[0] == '[' ? "is not a section header: a header ends with ']' (no comment after it)" :
					  "is neither [SECTION] nor KEY = VALUE");
	text = strdup(s);
	if (!text)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	*eq = '\0';
	s = coop_cfg_strip(s);
	lower(s);
	if (!cur) {
		free(text);
		return fail(ld, -EINVAL, NULL, s,
			    "line %u: key outside any section (put it under [global] or [vs NAME])",
			    line);
	}
	ret = add_key(ld, s, text, line);
	free(text);
	return ret;
}

static int prescan(struct loader *ld)
{
	char *phys = NULL, *logical = NULL;
	size_t physcap = 0, loglen = 0, logcap = 0;
	unsigned lineno = 0, start = 0;
	ssize_t n;
	FILE *f;
	int ret = 0;

	f = fopen(ld->path, "re");
	if (!f) {
		ret = -errno;
		return fail(ld, ret, NULL, NULL, "cannot read: %s", strerror(-ret));
	}
	while ((n = getline(&phys, &physcap, f)) >= 0) {
		lineno++;
		if (!loglen)
			start = lineno;
		if (loglen + (size_t)n + 1 > logcap) {
			size_t cap = (loglen + (size_t)n + 1) * 2;
			char *p = realloc(logical, cap);

			if (!p) {
				ret = fail(ld, -ENOMEM, NULL, NULL, "out of memory");
				goto out_close;
			}
			logical = p;
			logcap = cap;
		}
		memcpy(logical + loglen, phys, (size_t)n + 1);
		loglen += (size_t)n;
		while (loglen && isspace((unsigned char)logical[loglen - 1]))
			logical[--loglen] = '\0';
		/* A trailing '\' continues the line, as in iniparser (which
		 * also drops a line holding only '\'). */
		if (loglen && logical[loglen - 1] == '\\') {
			logical[--loglen] = '\0';
			if (loglen)
				continue;
		}
		ret = classify(ld, logical, start);
		loglen = 0;
		logical[0] = '\0';
		if (ret < 0)
			goto out_close;
	}
	if (ferror(f)) {
		ret = -(errno ? errno : EIO);
		ret = fail(ld, ret, NULL, NULL, "cannot read: %s", strerror(-ret));
	} else if (loglen) {
		/* iniparser silently drops a continued last line. */
		ret = fail(ld, -EINVAL, NULL, NULL,
			   "line %u: the file ends inside a line continued with '\\'", start);
	}
out_close:
	free(phys);
	free(logical);
	fclose(f);
	return ret;
}

/* --- structure ----------------------------------------------------------------------- */

/* The table of a module's own section called name, or NULL. */
static const struct coop_cfg_keytab *own_tab(const struct loader *ld, const char *name)
{
	size_t t;

	for (t = 0; t < ld->n_tabs; t++)
		if (ld->tabs[t]->obj_off && !strcmp(ld->tabs[t]->section, name))
			return ld->tabs[t];
	return NULL;
}

/* ", [forwarder]" for every own section. */
static void own_list(const struct loader *ld, char *buf, size_t len)
{
	size_t t, off = 0;

	buf[0] = '\0';
	for (t = 0; t < ld->n_tabs && off < len; t++)
		if (ld->tabs[t]->obj_off)
			off += (size_t)snprintf(buf + off, len - off, " and [%s]",
						ld->tabs[t]->section);
}

/* Does table kt hold keys of section s? */
static bool tab_for(const struct coop_cfg_keytab *kt, const struct raw_sec *s)
{
	switch (s->kind) {
	case SEC_GLOBAL: return !strcmp(kt->section, "global");
	case SEC_VS: return !strcmp(kt->section, "vs");
	case SEC_OWN: return kt == s->tab;
	}
	return false;
}

/* Known section kinds, valid VS names, each section once. */
static int check_sections(struct loader *ld)
{
	struct coop_cfg_dup *items;
	size_t i, a, b;
	int ret = 0;

	for (i = 0; i < ld->n_secs; i++) {
		struct raw_sec *s = &ld->secs[i];

		if (!strcmp(s->name, "global")) {
			s->kind = SEC_GLOBAL;
			snprintf(s->disp, sizeof(s->disp), "global");
			continue;
		}
		if ((s->tab = own_tab(ld, s->name))) {
			s->kind = SEC_OWN;
			snprintf(s->disp, sizeof(s->disp), "%s", s->name);
			continue;
		}
		if (strncmp(s->name, "vs", 2) || (s->name[2] && !isspace((unsigned char)s->name[2]))) {
			char known[256];

			own_list(ld, known, sizeof(known));
			return fail(ld, -EINVAL, s->name, NULL,
				    "line %u: unknown section (sections are [global], [vs NAME]%s)",
				    s->line, known);
		}
		s->kind = SEC_VS;
		s->vsname = s->name + 2;
		while (isspace((unsigned char)*s->vsname))
			s->vsname++;
		if (!*s->vsname)
			return fail(ld, -EINVAL, s->name, NULL, "line %u: missing VS name ([vs NAME])",
				    s->line);
		if (!coop_cfg_name_ok(s->vsname, COOP_NAME_MAX, false, "_.-"))
			return fail(ld, -EINVAL, s->name, NULL,
				    "line %u: bad VS name '%s' (1..%d of a-z 0-9 _ . -; names are case-insensitive)",
				    s->line, s->vsname, COOP_NAME_MAX - 1);
		/* "vs NAME" (the name is checked short enough above) */
		memcpy(s->disp, "vs ", 3);
		memcpy(s->disp + 3, s->vsname, strlen(s->vsname) + 1);
	}

	items = calloc(ld->n_secs + 1, sizeof(*items));
	if (!items)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	for (i = 0; i < ld->n_secs; i++)
		items[i] = (struct coop_cfg_dup){ .s = ld->secs[i].vsname ? ld->secs[i].vsname : "",
						  .v = ld->secs[i].kind, .idx = i };
	if (coop_cfg_dup_find(items, ld->n_secs, &a, &b))
		ret = fail(ld, -EINVAL, ld->secs[b].disp, NULL,
			   "section given twice (lines %u and %u)%s", ld->secs[a].line,
			   ld->secs[b].line,
			   ld->secs[b].kind == SEC_VS ? "; VS names are case-insensitive" : "");
	free(items);
	return ret;
}

/* Every key known to its section kind, and given once. */
static int check_keys(struct loader *ld)
{
	const struct coop_cfg_key *defs[MAX_KEYS];
	const struct coop_cfg_keytab *dtabs[MAX_KEYS];
	size_t i, k, t, d, nd;

	for (i = 0; i < ld->n_secs; i++) {
		const struct raw_sec *s = &ld->secs[i];
		unsigned seen[MAX_KEYS] = { 0 };

		/* the same text as a section checked by the last load */
		if (s->reuse)
			continue;

		for (t = nd = 0; t < ld->n_tabs; t++) {
			if (!tab_for(ld->tabs[t], s))
				continue;
			for (d = 0; d < ld->tabs[t]->n && nd < MAX_KEYS; d++) {
				dtabs[nd] = ld->tabs[t];
				defs[nd++] = &ld->tabs[t]->keys[d];
			}
		}
		for (k = s->key0; k < s->key0 + s->n_keys; k++) {
			struct raw_key *rk = &ld->keys[k];
			char valid[512] = "";
			size_t off = 0;

			for (d = 0; d < nd && strcmp(defs[d]->doc.key, rk->key); d++)
				;
			if (d < nd && seen[d])
				return fail(ld, -EINVAL, s->disp, rk->key,
					    "given twice (lines %u and %u); put every value in one comma-separated list",
					    seen[d], rk->line);
			if (d < nd) {
				seen[d] = rk->line;
				rk->def = defs[d];
				rk->tab = dtabs[d];
				continue;
			}
			for (d = 0; d < nd && off < sizeof(valid); d++)
				off += (size_t)snprintf(valid + off, sizeof(valid) - off, "%s%s",
							d ? ", " : "", defs[d]->doc.key);
			return fail(ld, -EINVAL, s->disp, rk->key,
				    "line %u: unknown key (valid here: %s)", rk->line, valid);
		}
	}
	return 0;
}

/* --- iniparser ------------------------------------------------------------------- */

/* iniparser reports through one process-global callback; the loader runs
 * on the control thread only, so a static buffer is enough. */
static char ini_msg[512];
static bool ini_msg_set;

static int ini_error(const char *fmt, ...)
{
	va_list ap;

	if (ini_msg_set)
		return 0;
	va_start(ap, fmt);
	vsnprintf(ini_msg, sizeof(ini_msg), fmt, ap);
	va_end(ap);
	ini_msg_set = true;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ini_entry *)a)->key, ((const struct ini_entry *)b)->key);
}

/* iniparser_getstring() scans the whole dictionary, which made loading
 * quadratic in the number of VSes; index the entries once instead. */
static int ini_index(struct loader *ld)
{
	const dictionary *d = ld->dict;
	ssize_t i;

	ld->index = calloc(d->n > 0 ? (size_t)d->n : 1, sizeof(*ld->index));
	if (!ld->index)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	for (i = 0; i < d->size && ld->n_index < (size_t)d->n; i++) {
		/* section entries have no value */
		if (!d->key[i] || !d->val[i])
			continue;
		ld->index[ld->n_index].key = d->key[i];
		ld->index[ld->n_index++].val = d->val[i];
	}
	qsort(ld->index, ld->n_index, sizeof(*ld->index), entry_cmp);
	return 0;
}

/* Which sections of a reload's file are the previous file's, text for
 * text: those are copied, and only the others are parsed again. */
static int prev_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct coop_vs_cfg *const *)a)->name,
		      (*(const struct coop_vs_cfg *const *)b)->name);
}

static void mark_reuse(struct loader *ld)
{
	const struct coop_config *prev = ld->prev;
	const struct coop_vs_cfg **ix;
	size_t i;

	if (!prev || !prev->n_vs)
		return;
	ix = calloc(prev->n_vs, sizeof(*ix));
	if (!ix)
		return; /* everything is parsed again: slower, not wrong */
	for (i = 0; i < prev->n_vs; i++)
		ix[i] = &prev->vs[i];
	qsort(ix, prev->n_vs, sizeof(*ix), prev_cmp);
	for (i = 0; i < ld->n_secs; i++) {
		struct raw_sec *s = &ld->secs[i];
		struct coop_vs_cfg key, *kp = &key;
		const struct coop_vs_cfg **hit;

		if (s->kind != SEC_VS)
			continue;
		snprintf(key.name, sizeof(key.name), "%s", s->vsname);
		hit = bsearch(&kp, ix, prev->n_vs, sizeof(*ix), prev_cmp);
		if (hit && (*hit)->src_hash == s->hash)
			s->reuse = *hit;
	}
	free(ix);
}

/* The sections to parse, as iniparser will read them: a memfd holding
 * their header and key lines. -1 when every section is to be parsed (the
 * file itself is read then, with its own line numbers). */
static int parse_only_file(struct loader *ld)
{
	size_t i, k, reused = 0;
	FILE *f;
	int fd;

	for (i = 0; i < ld->n_secs; i++)
		reused += ld->secs[i].reuse != NULL;
	if (!reused)
		return -1;
	fd = memfd_create("coop-reload", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	f = fdopen(dup(fd), "w");
	if (!f) {
		close(fd);
		return -1;
	}
	for (i = 0; i < ld->n_secs; i++) {
		const struct raw_sec *s = &ld->secs[i];

		if (s->reuse)
			continue;
		fprintf(f, "[%s]\n", s->name);
		for (k = s->key0; k < s->key0 + s->n_keys; k++)
			fprintf(f, "%s\n", ld->keys[k].text);
	}
	if (fclose(f) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int ini_load(struct loader *ld)
{
	char *m, *p, memp[64];

	ld->memfd = parse_only_file(ld);
	if (ld->memfd >= 0)
		snprintf(memp, sizeof(memp), "/proc/self/fd/%d", ld->memfd);
	ini_msg[0] = '\0';
	ini_msg_set = false;
	iniparser_set_error_callback(ini_error);
	ld->dict = iniparser_load(ld->memfd >= 0 ? memp : ld->path);
	iniparser_set_error_callback(NULL); /* back to iniparser's default */
	if (ld->dict)
		return ini_index(ld);
	/* One line: "iniparser: syntax error in F (3):\n-> text\n". */
	for (p = ini_msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	m = coop_cfg_strip(ini_msg);
	if (!strncmp(m, "iniparser: ", 11))
		m += 11;
	return fail(ld, -EINVAL, NULL, NULL, "%s", *m ? m : "iniparser could not load the file");
}

/* --- typed keys ------------------------------------------------------------------- */

/* The [vs] table of isolation backend name (any case), or NULL. */
static const struct coop_cfg_keytab *iso_by_name(const struct loader *ld, const char *name)
{
	size_t t;

	for (t = 0; t < ld->n_tabs; t++)
		if (ld->tabs[t]->iso && !strcmp(ld->tabs[t]->section, "vs") &&
		    !strcasecmp(ld->tabs[t]->iso, name))
			return ld->tabs[t];
	return NULL;
}

const char *coop_cfg_iso_name(const struct coop_cfg_keytab *const *tabs, size_t n_tabs, int id)
{
	size_t t;

	for (t = 0; t < n_tabs; t++)
		if (tabs[t]->iso && !strcmp(tabs[t]->section, "vs") && tabs[t]->iso_id == id)
			return tabs[t]->iso;
	return NULL;
}

/* Word i of n, as a list reads: "a", "a or b", "a, b or c". */
static size_t list_word(char *buf, size_t len, size_t off, size_t i, size_t n, const char *w)
{
	if (off >= len)
		return off;
	return off + (size_t)snprintf(buf + off, len - off, "%s%s",
				      !i ? "" : i + 1 == n ? " or " : ", ", w);
}

/* Store v in the unsigned (or enum, or bool) field of k. */
static int store(const struct coop_cfg_key *k, void *obj, uint32_t v, char *why, size_t whylen)
{
	char *p = (char *)obj + k->off;
	uint16_t v16 = (uint16_t)v;
	uint8_t v8 = (uint8_t)v;

	if (k->size == 4)
		memcpy(p, &v, 4);
	else if (k->size == 2 && v <= UINT16_MAX)
		memcpy(p, &v16, 2);
	else if (k->size == 1 && v <= UINT8_MAX)
		memcpy(p, &v8, 1);
	else
		return coop_cfg_why(why, whylen, -ERANGE,
				    "%u does not fit a %zu-byte field (a bug in the key's table)", v,
				    k->size);
	return 0;
}

/* A bound as the key is written: octal, hex above 9, else decimal. */
static void u32_str(const struct coop_cfg_key *k, uint32_t v, char *buf, size_t len)
{
	if (k->base == 8)
		snprintf(buf, len, "%04o", v);
	else if (k->base == 16 && v > 9)
		snprintf(buf, len, "%#x", v);
	else
		snprintf(buf, len, "%u", v);
}

/* ", or 'none' for no admin socket" when the key has a zero word. */
static void zero_text(const struct coop_cfg_key *k, char *buf, size_t len)
{
	buf[0] = '\0';
	if (k->zero_word)
		snprintf(buf, len, ", or '%s'%s%s", k->zero_word, k->zero_means ? " for " : "",
			 k->zero_means ? k->zero_means : "");
}

static int parse_u32(const struct coop_cfg_key *k, void *obj, const char *val, char *why,
		     size_t whylen)
{
	char lo[16], hi[16], zero[128];
	bool ok;
	uint32_t v;
	size_t i;

	if (k->zero_word && !strcasecmp(val, k->zero_word))
		return store(k, obj, 0, why, whylen);
	ok = coop_cfg_u32_base(val, k->base ? k->base : 10, &v) == 0;
	for (i = 0; ok && i < k->n_reserved; i++)
		if (v == k->reserved[i])
			return coop_cfg_why(why, whylen, -EINVAL, "%s %u %s", k->doc.key, v,
					    k->reserved_why);
	if (ok && v >= k->min && v <= k->max)
		return store(k, obj, v, why, whylen);
	u32_str(k, k->min, lo, sizeof(lo));
	u32_str(k, k->max, hi, sizeof(hi));
	zero_text(k, zero, sizeof(zero));
	return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not %s (%s..%s%s%s%s%s)", val, k->what,
			    lo, hi, k->base == 16 ? ", decimal or 0x hex" : "", zero,
			    k->hint ? "; " : "", k->hint ? k->hint : "");
}

static int parse_bool(const struct coop_cfg_key *k, void *obj, const char *val, char *why,
		      size_t whylen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < COOP_ARRAY_LEN(yes); i++) {
		if (!strcasecmp(val, yes[i]))
			return store(k, obj, 1, why, whylen);
		if (!strcasecmp(val, no[i]))
			return store(k, obj, 0, why, whylen);
	}
	return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not %s (yes or no%s%s)", val,
			    k->what ? k->what : "yes or no", k->hint ? "; " : "",
			    k->hint ? k->hint : "");
}

static int parse_enum(const struct coop_cfg_key *k, void *obj, const char *val, char *why,
		      size_t whylen)
{
	char words[256] = "";
	size_t i, n, off = 0;

	for (n = 0; k->names[n].name; n++)
		if (!strcasecmp(val, k->names[n].name))
			return store(k, obj, (uint32_t)k->names[n].value, why, whylen);
	for (i = 0; i < n; i++)
		off = list_word(words, sizeof(words), off, i, n, k->names[i].name);
	return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not %s (%s%s%s)", val, k->what, words,
			    k->hint ? "; " : "", k->hint ? k->hint : "");
}

static int parse_str(const struct coop_cfg_key *k, void *obj, const char *val, char *why,
		     size_t whylen)
{
	bool path = k->type == COOP_CFG_PATH;
	char *p = (char *)obj + k->off, zero[128];
	size_t n = strlen(val);

	if (k->zero_word && !strcasecmp(val, k->zero_word)) {
		p[0] = '\0';
		return 0;
	}
	zero_text(k, zero, sizeof(zero));
	if (path && val[0] != '/')
		return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not an absolute path%s%s%s%s%s", val,
				    zero[0] ? " (" : "", zero[0] ? zero + 2 : "", zero[0] ? ")" : "",
				    k->hint ? "; " : "", k->hint ? k->hint : "");
	if (n >= k->size)
		return coop_cfg_why(why, whylen, -EINVAL, "%s is %zu bytes; %s must be shorter than %zu%s%s",
				    path ? "path" : "the value", n, k->what, k->size,
				    k->hint ? "; " : "", k->hint ? k->hint : "");
	memcpy(p, val, n + 1);
	return 0;
}

/* isolation = NAME: the backends are the [vs] tables with an iso. */
static int parse_iso(const struct loader *ld, const struct coop_cfg_key *k, void *obj,
		     const char *val, char *why, size_t whylen)
{
	const struct coop_cfg_keytab *kt = iso_by_name(ld, val);
	char words[256] = "";
	size_t t, i, n = 0, off = 0;

	if (kt)
		return store(k, obj, (uint32_t)kt->iso_id, why, whylen);
	for (t = 0; t < ld->n_tabs; t++)
		n += ld->tabs[t]->iso && !strcmp(ld->tabs[t]->section, "vs");
	for (t = i = 0; t < ld->n_tabs; t++)
		if (ld->tabs[t]->iso && !strcmp(ld->tabs[t]->section, "vs"))
			off = list_word(words, sizeof(words), off, i++, n, ld->tabs[t]->iso);
	return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not %s (%s)", val, k->what,
			    n ? words : "no isolation backend is built in");
}

/* Parse val into obj with the key's entry: its own parser, or its type's. */
static int parse_value(const struct loader *ld, const struct coop_cfg_key *k, void *obj,
		       const char *val, char *why, size_t whylen)
{
	switch (k->type) {
	case COOP_CFG_FN:
		if (k->parse)
			return k->parse(obj, val, why, whylen);
		break;
	case COOP_CFG_U32: return parse_u32(k, obj, val, why, whylen);
	case COOP_CFG_BOOL: return parse_bool(k, obj, val, why, whylen);
	case COOP_CFG_ENUM: return parse_enum(k, obj, val, why, whylen);
	case COOP_CFG_STR:
	case COOP_CFG_PATH: return parse_str(k, obj, val, why, whylen);
	case COOP_CFG_ISO: return parse_iso(ld, k, obj, val, why, whylen);
	}
	return coop_cfg_why(why, whylen, -EINVAL, "the key has no parser (a bug in its table)");
}

/* Parse every key of section s into obj with its table entry. */
static int parse_section(struct loader *ld, const struct raw_sec *s, void *obj)
{
	char why[WHY_MAX], dkey[2048];
	struct ini_entry want = { .key = dkey }, *e;
	size_t k;
	int ret;

	for (k = s->key0; k < s->key0 + s->n_keys; k++) {
		const struct raw_key *rk = &ld->keys[k];

		if ((size_t)snprintf(dkey, sizeof(dkey), "%s:%s", s->name, rk->key) >= sizeof(dkey))
			return fail(ld, -EINVAL, s->disp, rk->key, "line %u is too long", rk->line);
		e = bsearch(&want, ld->index, ld->n_index, sizeof(*ld->index), entry_cmp);
		if (!e)
			return fail(ld, -EINVAL, s->disp, rk->key,
				    "line %u: iniparser did not read this key (did the file change while loading?)",
				    rk->line);
		if (!*e->val)
			return fail(ld, -EINVAL, s->disp, rk->key,
				    "empty value (leave the key out to get the default)");
		why[0] = '\0';
		ret = parse_value(ld, rk->def, obj, e->val, why, sizeof(why));
		if (ret < 0)
			return fail(ld, ret, s->disp, rk->key, "%s", why);
	}
	return 0;
}

/* --- whole-VS and whole-file checks ------------------------------------------------- */

int coop_cfg_err_set(struct coop_cfg_err *e, int ret, const char *sec, const char *key,
		     const char *fmt, ...)
{
	va_list ap;

	snprintf(e->section, sizeof(e->section), "%s", sec ? sec : "");
	e->key = key;
	va_start(ap, fmt);
	vsnprintf(e->why, sizeof(e->why), fmt, ap);
	va_end(ap);
	return ret;
}

int coop_cfg_err_vs(struct coop_cfg_err *e, const struct coop_vs_cfg *vs, const char *key,
		    const char *fmt, ...)
{
	va_list ap;

	snprintf(e->section, sizeof(e->section), "vs %s", vs->name);
	e->key = key;
	va_start(ap, fmt);
	vsnprintf(e->why, sizeof(e->why), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int check_gateway(struct loader *ld, const struct coop_vs_cfg *vs,
			 const struct coop_addr *gw)
{
	struct coop_prefix host = { .addr = *gw, .len = (uint8_t)coop_addr_bits(gw) };
	int v = gw->family == AF_INET ? 4 : 6;
	bool family = false, covered = false;
	char a[INET6_ADDRSTRLEN];
	size_t i;

	coop_addr_str(gw, a, sizeof(a));
	for (i = 0; i < vs->n_addrs; i++) {
		if (coop_addr_equal(&vs->addrs[i].addr, gw))
			return fail_vs(ld, vs, "gateway", "%s is one of the VS's own addresses", a);
		family |= vs->addrs[i].addr.family == gw->family;
		covered |= coop_prefix_overlap(&host, &vs->addrs[i]);
	}
	if (!family)
		return fail_vs(ld, vs, "gateway",
			       "IPv%d gateway %s but addresses has no IPv%d address", v, a, v);
	/* The kernel refuses a gateway it cannot reach on a connected route;
	 * IPv6 routers are normally named by their link-local address. */
	if (!covered && !(gw->family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&gw->v6)))
		return fail_vs(ld, vs, "gateway",
			       "%s is in none of the VS's IPv%d prefixes, so it cannot be reached",
			       a, v);
	return 0;
}

/* Run complete and check of the [vs] tables that apply to vs: its
 * backend's (backend) or those without an iso (!backend). */
static int vs_hooks(struct loader *ld, struct coop_vs_cfg *vs, bool backend)
{
	char why[WHY_MAX];
	const char *key;
	size_t t;

	for (t = 0; t < ld->n_tabs; t++) {
		const struct coop_cfg_keytab *kt = ld->tabs[t];

		if (strcmp(kt->section, "vs") || !kt->iso != !backend ||
		    (kt->iso && kt->iso_id != (int)vs->isolation))
			continue;
		if (kt->complete)
			kt->complete(vs);
		if (!kt->check)
			continue;
		key = NULL;
		why[0] = '\0';
		if (kt->check(vs, !(ld->flags & COOP_CONFIG_NO_LINKS), &key, why, sizeof(why)) < 0)
			return fail_vs(ld, vs, key, "%s", why);
	}
	return 0;
}

/* Rules that need the whole section: isolation decides what else is
 * allowed, and it may come after the keys it constrains. */
static int check_vs(struct loader *ld, const struct raw_sec *s, struct coop_vs_cfg *vs)
{
	const char *iso = coop_cfg_iso_name(ld->tabs, ld->n_tabs, (int)vs->isolation);
	size_t k;
	int ret;

	/* One backend's keys mean nothing to another backend's VS. */
	for (k = s->key0; k < s->key0 + s->n_keys; k++) {
		const struct coop_cfg_keytab *kt = ld->keys[k].tab;

		if (kt->iso && kt->iso_id != (int)vs->isolation)
			return fail_vs(ld, vs, ld->keys[k].key,
				       "only for isolation = %s (this VS uses %s)", kt->iso,
				       iso ? iso : "none");
	}
	if ((ret = vs_hooks(ld, vs, true)) < 0)
		return ret;
	if (vs->has_gw4 && (ret = check_gateway(ld, vs, &vs->gw4)) < 0)
		return ret;
	if (vs->has_gw6 && (ret = check_gateway(ld, vs, &vs->gw6)) < 0)
		return ret;
	/* The modules' checks of their [vs NAME] keys (files are read
	 * unless the file is checked for another machine). */
	return vs_hooks(ld, vs, false);
}

/* Every table's whole-file check, in table order. */
static int check_cfg(struct loader *ld)
{
	struct coop_cfg_err e;
	size_t t;
	int ret;

	for (t = 0; t < ld->n_tabs; t++) {
		if (!ld->tabs[t]->check_cfg)
			continue;
		memset(&e, 0, sizeof(e));
		ret = ld->tabs[t]->check_cfg(ld->cfg, !(ld->flags & COOP_CONFIG_NO_LINKS), &e);
		if (ret < 0)
			return fail(ld, ret, e.section[0] ? e.section : NULL, e.key, "%s",
				    e.why[0] ? e.why : strerror(-ret));
	}
	return 0;
}

/* --- links ---------------------------------------------------------------------------- */

static int link_probe(void *arg)
{
	return if_nametoindex(arg) ? 0 : -(errno ? errno : ENODEV);
}

int coop_cfg_link_find(const char *netns, bool here, const char *name, char *why,
		       size_t whylen)
{
	char path[sizeof(COOP_NETNS_DIR) + COOP_NAME_MAX + 1];
	int fd, ret;

	if ((here || !netns[0]) && if_nametoindex(name))
		return 0;
	if (!netns[0])
		return coop_cfg_why(why, whylen, -ENODEV, "no link '%s' in coopd's namespace", name);
	if (!coop_netns_exists(netns))
		return coop_cfg_why(why, whylen, -ENOENT,
				    here ? "no link '%s' in coopd's namespace (and namespace '%s' does not exist yet)" :
					   "no link '%s': namespace '%s' does not exist",
				    name, netns);
	snprintf(path, sizeof(path), "%s/%s", COOP_NETNS_DIR, netns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		return coop_cfg_why(why, whylen, ret,
				    "cannot open namespace '%s' to look for link '%s': %s", netns,
				    name, strerror(-ret));
	}
	ret = coop_netns_run(fd, link_probe, (void *)name);
	close(fd);
	if (ret == 0)
		return 0;
	if (ret == -ENODEV)
		return coop_cfg_why(why, whylen, ret,
				    here ? "no link '%s' in coopd's namespace or in namespace '%s'" :
					   "no link '%s' in namespace '%s'",
				    name, netns);
	return coop_cfg_why(why, whylen, ret, "cannot look for link '%s' in namespace '%s': %s",
			    name, netns,
			    ret == -EBADF ? "coop_netns_init() was not called" : strerror(-ret));
}

/* --- the whole load ----------------------------------------------------------------- */

/* A module's own section as a whole (the module knows the rules). */
static int check_own(struct loader *ld, const struct raw_sec *s, void *obj)
{
	char why[WHY_MAX] = "";
	const char *key = NULL;
	int ret;

	if (!s->tab->check)
		return 0;
	ret = s->tab->check(obj, !(ld->flags & COOP_CONFIG_NO_LINKS), &key, why, sizeof(why));
	return ret < 0 ? fail(ld, ret, s->disp, key, "%s", why) : 0;
}

/* A new VS: every [vs] table's defaults, and the backend its isolation
 * key names by default. */
static void vs_init(struct loader *ld, struct coop_vs_cfg *vs, const char *name)
{
	const struct coop_cfg_keytab *iso;
	char why[WHY_MAX];
	size_t t, k;

	snprintf(vs->name, sizeof(vs->name), "%s", name);
	for (t = 0; t < ld->n_tabs; t++) {
		const struct coop_cfg_keytab *kt = ld->tabs[t];

		if (strcmp(kt->section, "vs"))
			continue;
		if (kt->init)
			kt->init(vs);
		for (k = 0; k < kt->n; k++)
			if (kt->keys[k].type == COOP_CFG_ISO &&
			    (iso = iso_by_name(ld, kt->keys[k].doc.dflt)))
				store(&kt->keys[k], vs, (uint32_t)iso->iso_id, why, sizeof(why));
	}
}

static int build(struct loader *ld)
{
	struct coop_config *cfg;
	size_t i, n_vs = 0;
	int ret;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	ld->cfg = cfg;
	cfg->tabs = ld->tabs;
	cfg->n_tabs = ld->n_tabs;
	snprintf(cfg->path, sizeof(cfg->path), "%s", ld->path);
	/* [global] has its defaults whether the file has the section or not. */
	for (i = 0; i < ld->n_tabs; i++)
		if (!strcmp(ld->tabs[i]->section, "global") && ld->tabs[i]->init)
			ld->tabs[i]->init(&cfg->global);
	for (i = 0; i < ld->n_secs; i++)
		n_vs += ld->secs[i].kind == SEC_VS;
	cfg->vs = calloc(n_vs + 1, sizeof(*cfg->vs));
	if (!cfg->vs)
		return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
	for (i = 0; i < ld->n_secs; i++) {
		const struct raw_sec *s = &ld->secs[i];
		struct coop_vs_cfg *vs;

		if (s->kind == SEC_GLOBAL) {
			if ((ret = parse_section(ld, s, &cfg->global)) < 0)
				return ret;
			continue;
		}
		if (s->kind == SEC_OWN) {
			void *obj = (char *)cfg + s->tab->obj_off;

			if (s->tab->init)
				s->tab->init(obj);
			if ((ret = parse_section(ld, s, obj)) < 0 || (ret = check_own(ld, s, obj)) < 0)
				return ret;
			continue;
		}
		vs = &cfg->vs[cfg->n_vs];
		if (s->reuse) {
			struct coop_vs_cfg *copy = coop_vs_cfg_dup(s->reuse);

			if (!copy)
				return fail(ld, -ENOMEM, NULL, NULL, "out of memory");
			*vs = *copy;
			free(copy); /* the struct only: its arrays are vs's now */
			cfg->n_vs++;
			continue;
		}
		cfg->n_vs++;
		vs_init(ld, vs, s->vsname);
		vs->src_hash = s->hash;
		if ((ret = parse_section(ld, s, vs)) < 0 || (ret = check_vs(ld, s, vs)) < 0)
			return ret;
	}
	return check_cfg(ld);
}

static void loader_release(struct loader *ld)
{
	size_t i;

	for (i = 0; i < ld->n_secs; i++)
		free(ld->secs[i].name);
	free(ld->secs);
	for (i = 0; i < ld->n_keys; i++) {
		free(ld->keys[i].key);
		free(ld->keys[i].text);
	}
	if (ld->memfd >= 0)
		close(ld->memfd);
	free(ld->keys);
	free(ld->index);
	if (ld->dict)
		iniparser_freedict(ld->dict);
}

int coop_config_parse(const char *path, unsigned flags, const struct coop_cfg_keytab *const *tabs,
		      size_t n_tabs, struct coop_config **out, char *err, size_t errlen)
{
	return coop_config_reparse(path, flags, tabs, n_tabs, NULL, out, err, errlen);
}

int coop_config_reparse(const char *path, unsigned flags, const struct coop_cfg_keytab *const *tabs,
			size_t n_tabs, const struct coop_config *prev, struct coop_config **out,
			char *err, size_t errlen)
{
	struct loader ld = { .path = path, .flags = flags, .err = err, .errlen = errlen,
			     .tabs = tabs, .n_tabs = n_tabs, .prev = prev, .memfd = -1 };
	int ret;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path) {
		ld.path = "(no file)";
		return fail(&ld, -EINVAL, NULL, NULL, "no configuration file named");
	}
	if (strlen(path) >= sizeof(ld.cfg->path))
		return fail(&ld, -ENAMETOOLONG, NULL, NULL, "path too long");
	if ((ret = prescan(&ld)) < 0 || (ret = check_sections(&ld)) < 0)
		goto err_release;
	mark_reuse(&ld);
	if ((ret = check_keys(&ld)) < 0 || (ret = ini_load(&ld)) < 0 || (ret = build(&ld)) < 0)
		goto err_release;
	loader_release(&ld);
	*out = ld.cfg;
	return 0;

err_release:
	coop_config_free(ld.cfg);
	loader_release(&ld);
	return ret;
}

void coop_config_free(struct coop_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_vs; i++) {
		free(cfg->vs[i].addrs);
		free(cfg->vs[i].listens);
		free(cfg->vs[i].rpcs);
		free(cfg->vs[i].dns);
	}
	free(cfg->vs);
	for (i = 0; i < cfg->n_tabs; i++)
		if (cfg->tabs[i]->obj_off && cfg->tabs[i]->release)
			cfg->tabs[i]->release((char *)cfg + cfg->tabs[i]->obj_off);
	free(cfg);
}

/* --- one VS section on its own ------------------------------------------------------- */

static void *dup_mem(const void *p, size_t n, bool *fail)
{
	void *q;

	if (!p || !n)
		return NULL;
	q = malloc(n);
	if (!q)
		*fail = true;
	else
		memcpy(q, p, n);
	return q;
}

struct coop_vs_cfg *coop_vs_cfg_dup(const struct coop_vs_cfg *src)
{
	struct coop_vs_cfg *d = malloc(sizeof(*d));
	bool fail = false;

	if (!d)
		return NULL;
	*d = *src;
	d->addrs = dup_mem(src->addrs, src->n_addrs * sizeof(*src->addrs), &fail);
	d->listens = dup_mem(src->listens, src->n_listens * sizeof(*src->listens), &fail);
	d->rpcs = dup_mem(src->rpcs, src->n_rpcs * sizeof(*src->rpcs), &fail);
	d->dns = dup_mem(src->dns, src->dns ? src->dns_len : 0, &fail);
	if (fail) {
		coop_vs_cfg_free(d);
		return NULL;
	}
	return d;
}

void coop_vs_cfg_free(struct coop_vs_cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->addrs);
	free(cfg->listens);
	free(cfg->rpcs);
	free(cfg->dns);
	free(cfg);
}

static bool mem_eq(const void *a, const void *b, size_t n)
{
	return !n || (a && b && !memcmp(a, b, n));
}

bool coop_prefix_equal(const struct coop_prefix *a, const struct coop_prefix *b)
{
	return coop_addr_equal(&a->addr, &b->addr) && a->len == b->len && !strcmp(a->ifname, b->ifname);
}

bool coop_listen_equal(const struct coop_listen_cfg *a, const struct coop_listen_cfg *b)
{
	return a->proto == b->proto && a->port == b->port && !strcmp(a->service, b->service);
}

bool coop_vs_cfg_addrs_equal(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b)
{
	size_t i;

	if (a->n_addrs != b->n_addrs)
		return false;
	for (i = 0; i < a->n_addrs; i++)
		if (!coop_prefix_equal(&a->addrs[i], &b->addrs[i]))
			return false;
	return true;
}

static bool listens_eq(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b)
{
	size_t i;

	if (a->n_listens != b->n_listens)
		return false;
	for (i = 0; i < a->n_listens; i++)
		if (!coop_listen_equal(&a->listens[i], &b->listens[i]))
			return false;
	return true;
}

bool coop_vs_cfg_gws_equal(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b)
{
	return a->has_gw4 == b->has_gw4 && a->has_gw6 == b->has_gw6 &&
	       (!a->has_gw4 || coop_addr_equal(&a->gw4, &b->gw4)) &&
	       (!a->has_gw6 || coop_addr_equal(&a->gw6, &b->gw6));
}

bool coop_vs_cfg_equal(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b)
{
	return !strcmp(a->name, b->name) && a->isolation == b->isolation &&
	       !strcmp(a->netns, b->netns) && !strcmp(a->ifname, b->ifname) &&
	       coop_vs_cfg_addrs_equal(a, b) && coop_vs_cfg_gws_equal(a, b) && listens_eq(a, b) &&
	       a->mark == b->mark && a->table == b->table && a->n_rpcs == b->n_rpcs &&
	       mem_eq(a->rpcs, b->rpcs, a->n_rpcs * sizeof(*a->rpcs)) && !a->dns == !b->dns &&
	       (!a->dns || (a->dns_len == b->dns_len && mem_eq(a->dns, b->dns, a->dns_len))) &&
	       a->max_connections == b->max_connections &&
	       a->idle_timeout_ms == b->idle_timeout_ms && a->out_high == b->out_high &&
	       a->out_max == b->out_max;
}
