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

#include "base/addr.h"
#include "base/cfgval.h"

struct coop_resolver_conf;

#define COOP_NAME_MAX 64    /* VS and namespace names, with the NUL */
#define COOP_SERVICE_MAX 32 /* service names, with the NUL */

/* The isolation backends' ids. The loader does not know them: each
 * backend's [vs] key table gives its name (isolation = NAME, the same as
 * its struct coop_iso_ops.name) and its id (struct coop_cfg_keytab .iso
 * and .iso_id). */
enum coop_isolation {
	COOP_ISO_NETNS, /* own network namespace (vs/netns_config.c) */
	COOP_ISO_PBR,   /* shared namespace, SO_MARK + policy routing table (vs/pbr_config.c) */
};

/* One `listen =` entry. */
struct coop_listen_cfg {
	int proto;                      /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;                  /* host byte order */
	char service[COOP_SERVICE_MAX]; /* registered service name */
};

/* One `rpc =` entry: a fixed mapping in the VS's portmapper registry. */
struct coop_rpc_cfg {
	uint32_t prog; /* RPC program number */
	uint32_t vers; /* its version */
	uint32_t prot; /* IPPROTO_TCP or IPPROTO_UDP */
	uint32_t port; /* 1..65535 */
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
	uint32_t mark;  /* pbr: mark = (0 = assign; vs/pbr_config.c) */
	uint32_t table; /* pbr: table = (0 = assign; vs/pbr_config.c) */
	struct coop_rpc_cfg *rpcs; /* rpc =, in file order */
	size_t n_rpcs;
	struct coop_resolver_conf *dns; /* dns =, search =, ndots =, dns_timeout =,
					 * dns_attempts =, dns_cache =, hosts_file =
					 * (parsed by resolver/vs_resolver.c);
					 * NULL when the section has none of them
					 * (the defaults: no resolver servers) */
	size_t dns_len; /* bytes of *dns: a flat struct the resolver's parsers
			 * allocate, so a copy is a memcpy */
	uint64_t src_hash; /* FNV-1a of the section's text: a reload copies a
			    * section whose text did not change instead of
			    * parsing it again */
	/* Connection limits (core/conn.c reads them from vs->cfg when it
	 * uses them, so a reload that changes them applies to the VS's
	 * open connections too). 0 in a hand-made section means the
	 * default (out_high, out_max) or no limit (the others). */
	uint32_t max_connections; /* max_connections: open at once (0 = only [global]'s) */
	uint32_t idle_timeout_ms; /* idle_timeout: close after this long without a byte
				   * either way (0 = never) */
	uint32_t out_high;        /* out_high: stop reading while this much output is unsent */
	uint32_t out_max;         /* out_max: close a connection whose unsent output
				   * would pass this */
};

/* Defaults of the connection limits (docs/config.md). */
#define COOP_CONN_OUT_HIGH 65536u         /* [vs] out_high: 64 KiB */
#define COOP_CONN_OUT_MAX 1048576u        /* [vs] out_max: 1 MiB */
#define COOP_CONN_IDLE_MS 600000u         /* [vs] idle_timeout: 10 minutes */
#define COOP_CONN_STOP_GRACE_MS 2000u     /* [global] stop_grace: 2 s */

/* Defaults of the [global] pbr_* keys (vs/pbr_config.c reads them; see
 * docs/pbr.md): aligned blocks, so one masked rule tells coop's marks from
 * everybody else's; protocol 246 is neither the kernel's (0..4) nor one
 * iproute2's rt_protos names. */
#define COOP_PBR_MARK_LO 0x10000u
#define COOP_PBR_MARK_HI 0x1ffffu
#define COOP_PBR_TABLE_LO 0x10000u
#define COOP_PBR_TABLE_HI 0x1ffffu
#define COOP_PBR_PROTOCOL 246u
#define COOP_PBR_PRIORITY 20000u
/* Last rule preference coop may use: the main table's rule is 32766. */
#define COOP_PBR_PRIORITY_MAX 32765u

/* The [global] section. */
struct coop_global_cfg {
	unsigned workers;        /* worker threads (default: number of CPUs) */
	char admin_socket[108];  /* Unix socket path ("" = no admin socket) */
	unsigned admin_mode;     /* admin socket file mode (default 0600) */
	uint32_t pbr_mark_lo, pbr_mark_hi;   /* pbr_marks: marks coop assigns */
	uint32_t pbr_table_lo, pbr_table_hi; /* pbr_tables: tables coop assigns */
	uint32_t pbr_protocol;   /* pbr_protocol: tag of coop's rules, routes, addresses */
	uint32_t pbr_priority;   /* pbr_priority: first rule preference coop uses */
	struct coop_addr metrics_addr; /* metrics_listen: address of the HTTP listener */
	uint16_t metrics_port;   /* ... and its port (0 = no metrics listener) */
	unsigned drain_timeout_ms; /* drain_timeout: how long a VS leaving the
				    * configuration waits for its connections */
	bool metrics_public;     /* metrics_public: metrics_listen may be a wildcard
				  * or a VS's address */
	unsigned stop_grace_ms;  /* stop_grace: how long a stop lets connections
				  * flush what they owe */
	uint32_t max_connections; /* max_connections: TCP connections open at once in
				   * all VSes together (0 = auto: 7/8 of RLIMIT_NOFILE) */
};

/* The [forwarder] section (fwd/xdp_config.c parses it; docs/xdp.md). */
#define COOP_FWD_NODE_NAME_MAX 32 /* node names, with the NUL */

enum coop_fwd_encap {
	COOP_FWD_ENCAP_GUE,  /* IP in GUE in UDP (default) */
	COOP_FWD_ENCAP_IPIP, /* IP in IP */
};

enum coop_fwd_xdp_mode {
	COOP_FWD_XDP_AUTO,    /* native, generic when the driver has no XDP */
	COOP_FWD_XDP_NATIVE,  /* native only: fail when unsupported */
	COOP_FWD_XDP_GENERIC, /* generic (skb) mode only */
};

/* One `vips =` entry. */
struct coop_fwd_vip_cfg {
	struct coop_addr addr; /* the virtual address */
	uint16_t port;         /* host order; 0 = every port ("*") */
	int proto;             /* IPPROTO_TCP or IPPROTO_UDP */
};

/* One `nodes =` entry. */
struct coop_fwd_node_cfg {
	char name[COOP_FWD_NODE_NAME_MAX]; /* Maglev key: spelled the same on every node */
	struct coop_addr addr;             /* cluster address: where tunnels to it go */
	uint32_t weight;                   /* relative share; 0 = drain */
};

struct coop_fwd_cfg {
	bool enabled;                      /* the section is present */
	char ifname[IF_NAMESIZE];          /* interface = */
	struct coop_fwd_vip_cfg *vips;     /* vips =, in file order */
	size_t n_vips;
	struct coop_fwd_node_cfg *nodes;   /* nodes =, in file order */
	size_t n_nodes;
	char self[COOP_FWD_NODE_NAME_MAX]; /* self = */
	uint32_t table_size;               /* table_size = (prime) */
	uint32_t flow_cache_size;          /* flow_cache_size = (entries) */
	enum coop_fwd_encap encap;         /* encap = */
	uint16_t gue_port;                 /* gue_port =, host order */
	uint32_t mtu;                      /* mtu = (0: the interface's at start) */
	enum coop_fwd_xdp_mode xdp_mode;   /* xdp_mode = */
};

struct coop_cfg_keytab;

struct coop_config {
	char path[4096];           /* file it came from, for messages */
	const struct coop_cfg_keytab *const *tabs; /* the key tables it was read with */
	size_t n_tabs;
	struct coop_global_cfg global;
	struct coop_vs_cfg *vs;    /* [vs NAME] sections, in file order */
	size_t n_vs;
	struct coop_fwd_cfg fwd;   /* [forwarder] (fwd.enabled: present) */
};

/* coop_config_parse() flags. */
#define COOP_CONFIG_NO_LINKS 0x1u /* skip the link existence checks: validate a
				   * file for another machine (coopd --check) */

/* Parse and validate path with the key tables tabs (core's, then each
 * module's). On success *out is a new config (free with coop_config_free).
 * On failure returns -errno (-EINVAL for content errors) and fills err
 * with "FILE: [SECTION] KEY: problem". Touches no kernel state except
 * reading which links exist (for `interface =`); looking for a link inside
 * an existing namespace uses coop_netns_run(), so call coop_netns_init()
 * first. Control thread only: iniparser's error callback is process-global.
 * The runtime's coop_config_load() (runtime/runtime.h) passes every
 * built-in module's tables. */
int coop_config_parse(const char *path, unsigned flags, const struct coop_cfg_keytab *const *tabs,
		      size_t n_tabs, struct coop_config **out, char *err, size_t errlen);
/* coop_config_parse() for a reload: sections of path whose text is that
 * of the same section in prev (the running configuration) are copied from
 * prev rather than parsed again (whole-file checks still run on all). */
int coop_config_reparse(const char *path, unsigned flags, const struct coop_cfg_keytab *const *tabs,
			size_t n_tabs, const struct coop_config *prev, struct coop_config **out,
			char *err, size_t errlen);
/* Free a config from coop_config_parse (NULL is fine). */
void coop_config_free(struct coop_config *cfg);

/* A VS section of its own (the runtime keeps one per VS, so that a reload
 * can free the file's): a deep copy, or NULL on ENOMEM; free with
 * coop_vs_cfg_free (NULL is fine). */
struct coop_vs_cfg *coop_vs_cfg_dup(const struct coop_vs_cfg *src);
void coop_vs_cfg_free(struct coop_vs_cfg *cfg);
/* Same address, length and link; same protocol, port and service. */
bool coop_prefix_equal(const struct coop_prefix *a, const struct coop_prefix *b);
bool coop_listen_equal(const struct coop_listen_cfg *a, const struct coop_listen_cfg *b);
/* Same addresses (order included) / same gateways. */
bool coop_vs_cfg_addrs_equal(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b);
bool coop_vs_cfg_gws_equal(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b);
/* Same section, value for value. */
bool coop_vs_cfg_equal(const struct coop_vs_cfg *a, const struct coop_vs_cfg *b);

/* One configuration key as documented by the loader's own key tables, for
 * `help` output and docs/config.md. */
struct coop_config_keydoc {
	const char *section; /* "global", "vs" or an own section's name */
	const char *key;     /* name in the file */
	const char *syntax;  /* accepted values */
	const char *dflt;    /* default when the key is absent */
	const char *help;    /* what it does, one paragraph */
};

/* How a key's value is read: by the loader, from the key's entry (typed
 * keys, no function of their own), or by the entry's parse(). */
enum coop_cfg_type {
	COOP_CFG_FN,   /* parse() reads it: lists, addresses, ranges, names with rules */
	COOP_CFG_U32,  /* a number min..max, not one of reserved, into an unsigned field
			* of 1, 2 or 4 bytes; base 10 (0 means 10), 16 (decimal or 0x
			* hex) or 8 (octal) */
	COOP_CFG_BOOL, /* yes/no, true/false, on/off, 1/0 (any case), into a bool */
	COOP_CFG_ENUM, /* one of names (any case): its value, into an enum field */
	COOP_CFG_STR,  /* a string shorter than its char array field */
	COOP_CFG_PATH, /* an absolute path shorter than its char array field */
	COOP_CFG_ISO,  /* the name of an isolation backend (the iso of a [vs] table):
			* its iso_id, into an enum field; its doc.dflt names the
			* backend of a VS without the key */
};

/* One word a COOP_CFG_ENUM key accepts. */
struct coop_cfg_name {
	const char *name; /* as written in the file, any case; NULL ends the list */
	int value;        /* what the field gets */
};

/* A key of a table: its documentation and how to read it. Messages of
 * typed keys read "'VALUE' is not WHAT (ACCEPTED; HINT)", where ACCEPTED
 * comes from the entry (the range, the words). */
struct coop_cfg_key {
	struct coop_config_keydoc doc; /* name, syntax, default, help */
	/* COOP_CFG_FN: parse val into obj (struct coop_global_cfg, struct
	 * coop_vs_cfg, or the section's own object). 0, or -errno with the
	 * problem in why. */
	int (*parse)(void *obj, const char *val, char *why, size_t whylen);
	enum coop_cfg_type type; /* COOP_CFG_FN (0) unless said */
	size_t off;              /* typed: offsetof the field in the section object */
	size_t size;             /* typed: sizeof the field (COOP_CFG_AT sets both) */
	const char *what;        /* typed: the kind of value, "a thread count" */
	const char *hint;        /* typed, optional: why the values are what they are */
	const char *zero_word;   /* U32, STR, PATH, optional: a word ("none", "auto")
				  * that stores 0 or "" ... */
	const char *zero_means;  /* ... and what it stands for: "no admin socket" */
	uint32_t min, max;       /* U32: the accepted range */
	unsigned base;           /* U32: 10, 16 or 8 (see COOP_CFG_U32) */
	const uint32_t *reserved; /* U32, optional: values refused although in
				   * range (checked first) ... */
	size_t n_reserved;
	const char *reserved_why; /* ... and why: "KEY VALUE <reserved_why>" */
	const struct coop_cfg_name *names; /* ENUM: the accepted words */
};

/* The field a typed key fills: .off and .size of member field of type. */
#define COOP_CFG_AT(type, field) .off = offsetof(type, field), .size = sizeof(((type *)0)->field)

/* Where a whole-configuration check (check_cfg) found a problem; the
 * loader reports it as "FILE: [SECTION] KEY: why". */
struct coop_cfg_err {
	char section[COOP_NAME_MAX + 4]; /* "vs NAME", "global", ... ("" = the file) */
	const char *key;                 /* the key to blame, or NULL */
	char why[512];                   /* the problem */
};

/* Fill e about key (NULL: the section) of the VS vs; returns -EINVAL. */
int coop_cfg_err_vs(struct coop_cfg_err *e, const struct coop_vs_cfg *vs, const char *key,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Fill e about key of section sec (both may be NULL); returns ret. */
int coop_cfg_err_set(struct coop_cfg_err *e, int ret, const char *sec, const char *key,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * The keys one module adds to a section, and the module's checks.
 *
 * Order of a load: every [global] table's init on the [global] object; per
 * section, in file order: init ([vs] tables: on each VS; own sections: on
 * the section's object), the keys, then the section as a whole: [vs]
 * sections first refuse keys of another backend's table, then run
 * complete and check of the VS's backend table, the core's own checks
 * (gateways), and complete and check of the tables without iso; own
 * sections run their table's check. Last, every table's check_cfg, in
 * table order, on the whole configuration.
 */
struct coop_cfg_keytab {
	const char *section;            /* "global", "vs", or an own section's name */
	const struct coop_cfg_key *keys;
	size_t n;
	/* Own sections: where the section's object lives in struct
	 * coop_config (non-zero); 0 for "global" and "vs". */
	size_t obj_off;
	/* [vs] tables of an isolation backend: its name, as isolation =
	 * takes it (struct coop_iso_ops.name), and the id a VS of that
	 * backend gets (enum coop_isolation). Their keys are refused in
	 * VSes of another backend, and their complete and check run for
	 * the backend's VSes only. NULL: every VS. */
	const char *iso;
	int iso_id;
	/* Defaults, before the keys (see the order above). */
	void (*init)(void *obj);
	/* Defaults that depend on other keys, once the section is read
	 * (netns: the namespace is the VS's name). */
	void (*complete)(void *obj);
	/* The section as a whole ([vs] tables: each VS; own sections: the
	 * section; not run for [global]: use check_cfg). links: links and
	 * files may be looked at. 0, or -errno with *key naming the key to
	 * blame and why the problem. */
	int (*check)(const void *obj, bool links, const char **key, char *why, size_t whylen);
	/* The whole configuration (across VSes: namespaces, marks, address
	 * overlaps; links): 0, or -errno with e filled. */
	int (*check_cfg)(const struct coop_config *cfg, bool links, struct coop_cfg_err *e);
	/* Own sections: free what the parsers allocated. */
	void (*release)(void *obj);
};

/* Is link name where a VS will look for it: in namespace netns ("" =
 * coopd's own) or, when here, in coopd's namespace first (a link about to
 * be moved)? Read-only. 0, or -errno with the problem in why. Control
 * thread (coop_netns_run). */
int coop_cfg_link_find(const char *netns, bool here, const char *name, char *why,
		       size_t whylen);

/* The name of isolation id in tabs (the iso of the [vs] table with that
 * iso_id), or NULL. Static data; any thread. */
const char *coop_cfg_iso_name(const struct coop_cfg_keytab *const *tabs, size_t n_tabs, int id);

/* The core's own tables: [global] and [vs NAME]. */
extern const struct coop_cfg_keytab coop_cfg_core_tabs[2];

/* The i-th key of tabs (every [global] key, then every [vs NAME] key, then
 * the own sections'), or NULL past the last. Static data; any thread. */
const struct coop_config_keydoc *coop_cfg_keydoc_at(const struct coop_cfg_keytab *const *tabs,
						     size_t n_tabs, size_t i);

#endif
