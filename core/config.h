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
	char netns[COOP_NAME_MAX];     /* namespace = ("" = backend default) */
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
 * state except reading which links exist (for `interface =`). */
int coop_config_load(const char *path, struct coop_config **out, char *err, size_t errlen);
void coop_config_free(struct coop_config *cfg);

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
