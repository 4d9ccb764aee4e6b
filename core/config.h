/* config.h - parsed coop configuration: the INI file as validated data.
 *
 * Owned by the control thread. A struct coop_config is built whole by
 * coop_config_load(), validated whole, and only then used; nothing in it
 * refers to kernel state. */
#ifndef COOP_CONFIG_H
#define COOP_CONFIG_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COOP_NAME_MAX 64    /* VS and namespace names, with the NUL */
#define COOP_SERVICE_MAX 32 /* service names, with the NUL */

enum coop_isolation {
	COOP_ISO_NETNS, /* own network namespace */
	COOP_ISO_PBR,   /* shared namespace, SO_MARK + policy routing table */
};

/* An IPv4 or IPv6 address. */
struct coop_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

/* An address with its prefix length, as configured on a VS. */
struct coop_prefix {
	struct coop_addr addr;
	uint8_t len;            /* prefix length */
	char ifname[IF_NAMESIZE]; /* link carrying it ("" = the VS interface) */
};

/* One `listen =` entry. */
struct coop_listen_cfg {
	int proto;                      /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;                  /* host byte order */
	char service[COOP_SERVICE_MAX]; /* registered service name */
};

/* One [vs NAME] section. */
struct coop_vs_cfg {
	char name[COOP_NAME_MAX];      /* section name after "vs " */
	enum coop_isolation isolation; /* isolation = */
	char netns[COOP_NAME_MAX];     /* namespace =; netns: always set (default: the
					* VS name); pbr: "" = coopd's own namespace */
	char ifname[IF_NAMESIZE];      /* interface = ("" = none) */
	struct coop_prefix *addrs;     /* addresses =, in file order */
	size_t n_addrs;
	struct coop_addr gw4;          /* gateway = (v4 part) */
	struct coop_addr gw6;          /* gateway = (v6 part) */
	bool has_gw4, has_gw6;
	struct coop_listen_cfg *listens; /* listen =, in file order */
	size_t n_listens;
	uint32_t mark;  /* pbr: mark = (0 = assign) */
	uint32_t table; /* pbr: table = (0 = assign) */
};

/* The [global] section. */
struct coop_global_cfg {
	unsigned workers;        /* worker threads (default: number of CPUs) */
	char admin_socket[108];  /* Unix socket path ("" = no admin socket) */
	unsigned admin_mode;     /* admin socket file mode (default 0600) */
};

struct coop_config {
	char path[4096];           /* file it came from, for messages */
	struct coop_global_cfg global;
	struct coop_vs_cfg *vs;    /* [vs NAME] sections, in file order */
	size_t n_vs;
};

/* Parse and validate path. On success *out is a new config (free with
 * coop_config_free). On failure returns -errno (-EINVAL for content errors)
 * and fills err with "FILE: [SECTION] KEY: problem". Touches no kernel
 * state except reading which links exist (for `interface =`); looking for
 * a link inside an existing namespace uses coop_netns_run(), so call
 * coop_netns_init() first. Control thread only: iniparser's error callback
 * is process-global. */
int coop_config_load(const char *path, struct coop_config **out, char *err, size_t errlen);

/* coop_config_load_flags() flags. */
#define COOP_CONFIG_NO_LINKS 0x1u /* skip the link existence checks: validate a
				   * file for another machine (coopd --check) */

/* coop_config_load() with flags (COOP_CONFIG_*). */
int coop_config_load_flags(const char *path, unsigned flags, struct coop_config **out,
			   char *err, size_t errlen);
/* Free a config from coop_config_load (NULL is fine). */
void coop_config_free(struct coop_config *cfg);

/* One configuration key as documented by the loader's own key tables, for
 * `help` output and docs/config.md. */
struct coop_config_keydoc {
	const char *section; /* "global" or "vs" */
	const char *key;     /* name in the file */
	const char *syntax;  /* accepted values */
	const char *dflt;    /* default when the key is absent */
	const char *help;    /* what it does, one paragraph */
};

/* The i-th key (the [global] keys, then the [vs NAME] keys, in table
 * order), or NULL past the last. Static data; any thread. */
const struct coop_config_keydoc *coop_config_keydoc_at(size_t i);

/* Parse "198.18.1.1/24" or "2001:db8::1/64" (prefix required when
 * need_len, else optional and defaulting to the host length). */
int coop_prefix_parse(const char *s, bool need_len, struct coop_prefix *out);
/* Parse a bare address. Returns 0 or -EINVAL. */
int coop_addr_parse(const char *s, struct coop_addr *out);
/* Format an address (no prefix) into buf (INET6_ADDRSTRLEN bytes). */
const char *coop_addr_str(const struct coop_addr *a, char *buf, size_t len);
/* True when two prefixes overlap (share at least one address). */
bool coop_prefix_overlap(const struct coop_prefix *a, const struct coop_prefix *b);

#endif
