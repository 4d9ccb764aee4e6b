/* pbr.h - inside the pbr isolation backend: mark/table allocation, the rule
 * tree layout, batched rtnetlink and nftables messages, and the
 * per-namespace reconciliation that vs/iso_pbr.c drives.
 *
 * Everything here runs on the control thread, except what iso_pbr.c's
 * socket() reads (a VS's mark), which is written before workers start.
 * The pure parts (allocation, tree, message building and parsing) touch no
 * kernel state and are unit-tested without root. */
#ifndef COOP_VS_PBR_H
#define COOP_VS_PBR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

struct coop;
struct coop_vs;

/* Defaults and limits of the [global] pbr_* keys: COOP_PBR_* in
 * core/config.h, next to the fields they fill. */

/* --- configuration (vs/pbr_config.c) ------------------------------------- */

/* The pbr keys and checks, for coop_mod_pbr.keytabs: [global] pbr_marks,
 * pbr_tables, pbr_protocol, pbr_priority (defaults included); [vs NAME]
 * mark and table, refused in VSes of another backend, a pbr VS's own
 * rules (addresses, each on a link), and across pbr VSes: marks, tables
 * and addresses apart within a namespace, explicit marks and tables inside
 * pbr_marks and pbr_tables, and the links where the VSes live. */
struct coop_cfg_keytab;
extern const struct coop_cfg_keytab coop_pbr_keytabs[2];

/* The [global] pbr_* settings, shared by every pbr VS of a runtime. */
struct coop_pbr_params {
	uint32_t mark_lo, mark_hi;   /* pbr_marks: marks coop may assign */
	uint32_t table_lo, table_hi; /* pbr_tables: routing tables coop may assign */
	uint32_t protocol;           /* pbr_protocol: tag on every rule/route/address */
	uint32_t priority;           /* pbr_priority: first rule preference */
};

/* Fill p with the defaults above. */
void coop_pbr_params_default(struct coop_pbr_params *p);
/* Check ranges and values; 0 or -EINVAL with "pbr_KEY: problem" in err. */
int coop_pbr_params_check(const struct coop_pbr_params *p, char *err, size_t errlen);

/* --- allocation (vs/pbr_alloc.c) ----------------------------------------- */

/* One pbr VS as the allocator sees it. */
struct coop_pbr_slot {
	const char *name;  /* VS name: the hash input, so the result is stable */
	uint32_t want_mark;  /* mark = (0 = assign) */
	uint32_t want_table; /* table = (0 = assign) */
	uint32_t mark;       /* out: the mark it gets */
	uint32_t table;      /* out: the table it gets */
};

/*
 * Give every slot a mark and a table. Explicit values must lie in their
 * range (uniqueness inside a namespace is the config loader's check, and a
 * clash with foreign kernel state the caller's, per namespace). The others
 * are assigned by a hash of the VS name with linear probing, in name order,
 * avoiding every explicit value and every table in busy (tables the kernel
 * already uses for state coop does not own; sorted). So the result depends
 * only on the set of names and explicit values, not on file order, and a VS
 * keeps its mark and table across restarts. Returns 0, or -EINVAL / -ENOSPC
 * with "vs 'NAME': ..." in err.
 */
int coop_pbr_alloc(const struct coop_pbr_params *p, struct coop_pbr_slot *slots, size_t n,
		   const uint32_t *busy, size_t n_busy, char *err, size_t errlen);

/* --- rule tree (vs/pbr_tree.c) ------------------------------------------- */

/* A FIB rule as coop lays it out and as it reads it back from the kernel. */
struct coop_pbr_rule {
	uint8_t family;  /* AF_INET or AF_INET6 */
	uint8_t action;  /* FR_ACT_TO_TBL, FR_ACT_GOTO, FR_ACT_NOP, FR_ACT_UNREACHABLE */
	bool invert;     /* FIB_RULE_INVERT: matches marks outside mark/mask */
	bool extra;      /* read back with selectors coop never sets (never equal) */
	uint32_t pref;   /* FRA_PRIORITY */
	uint32_t mark;   /* FRA_FWMARK */
	uint32_t mask;   /* FRA_FWMASK; 0 = no fwmark selector at all */
	uint32_t table;  /* FR_ACT_TO_TBL: the table, else 0 */
	uint32_t target; /* FR_ACT_GOTO: preference jumped to, else 0 */
};

/* A leaf of the tree: one VS of the family. */
struct coop_pbr_leaf {
	uint32_t mark;  /* the VS's mark */
	uint32_t table; /* its table */
};

/*
 * Lay out the rules of one family for a namespace: an entry rule that
 * sends every packet whose mark is outside coop's range straight to the
 * end, a radix tree of mark-masked goto rules (a few rules per level)
 * leading to one `lookup TABLE` rule per leaf, an `unreachable` rule for
 * coop marks no VS has, and a `nop` anchor the entry jumps to. A lookup
 * walks O(levels x fanout) rules, not O(n). leaves need not be sorted;
 * marks must be unique and inside p's range. On success *out (malloc'd,
 * in kernel walk order: ascending pref, then position) holds *n_out rules.
 * -ENOSPC with a message when the preferences would reach the main
 * table's rule. n == 0 still gives the entry, unreachable and anchor.
 */
int coop_pbr_tree_build(const struct coop_pbr_params *p, int family,
			const struct coop_pbr_leaf *leaves, size_t n,
			struct coop_pbr_rule **out, size_t *n_out, char *err, size_t errlen);

/* Result of coop_pbr_tree_eval. */
enum coop_pbr_verdict {
	COOP_PBR_PASS,        /* no coop rule decided: on to the main table */
	COOP_PBR_TABLE,       /* a lookup rule matched: *table is set */
	COOP_PBR_UNREACHABLE, /* an unreachable rule matched */
	COOP_PBR_BROKEN,      /* a goto to a missing or backward preference */
};

/* Walk rules (sorted as coop_pbr_tree_build returns them) for a packet
 * carrying mark, the way the kernel's fib_rules_lookup does. *visited
 * counts the rules examined (the per-packet cost). Pure. */
enum coop_pbr_verdict coop_pbr_tree_eval(const struct coop_pbr_rule *r, size_t n,
					 uint32_t mark, uint32_t *table, unsigned *visited);

/* --- netlink (vs/pbr_nl.c) ----------------------------------------------- */

/* A netlink socket with a send buffer that holds many requests. Opaque. */
struct coop_pbr_nl;

/* Called once per request of a flushed batch, in order: err is 0 or the
 * kernel's -errno, ext its extended-ack text ("" if none). */
typedef void (*coop_pbr_nl_result_cb)(void *arg, uint32_t tag, int err, const char *ext);

/* Open a NETLINK_ROUTE or NETLINK_NETFILTER socket inside namespace nsfd
 * (through coop_netns_socket). 0 or -errno. */
int coop_pbr_nl_open(int nsfd, int protocol, struct coop_pbr_nl **out);
void coop_pbr_nl_close(struct coop_pbr_nl *nl);

/* Keep every queued request in one sendmsg (nftables transactions) rather
 * than flushing every few hundred. */
void coop_pbr_nl_set_atomic(struct coop_pbr_nl *nl, bool atomic);

/* Build a request: begin (header and fixed part), attributes, end. tag is
 * handed back to the result callback. Attribute writers return 0 or
 * -ENOMEM; after a failure the batch is poisoned and flush fails. */
int coop_pbr_nl_begin(struct coop_pbr_nl *nl, uint16_t type, uint16_t flags, const void *fixed,
		      size_t fixed_len, uint32_t tag);
int coop_pbr_nl_put(struct coop_pbr_nl *nl, uint16_t type, const void *data, size_t len);
int coop_pbr_nl_put_u8(struct coop_pbr_nl *nl, uint16_t type, uint8_t v);
int coop_pbr_nl_put_u32(struct coop_pbr_nl *nl, uint16_t type, uint32_t v);
int coop_pbr_nl_put_be32(struct coop_pbr_nl *nl, uint16_t type, uint32_t v);
int coop_pbr_nl_put_str(struct coop_pbr_nl *nl, uint16_t type, const char *s);
/* Open a nested attribute; returns a handle for nest_end (>= 0) or -ENOMEM. */
long coop_pbr_nl_nest(struct coop_pbr_nl *nl, uint16_t type);
void coop_pbr_nl_nest_end(struct coop_pbr_nl *nl, long nest);
/* Close the request; may send a full chunk (results go to cb). */
int coop_pbr_nl_end(struct coop_pbr_nl *nl, coop_pbr_nl_result_cb cb, void *arg);
/*
 * Send what is queued and collect the answers. Requests carry no
 * NLM_F_ACK except the last of each sendmsg, so the kernel answers only
 * failures plus one acknowledgement: thousands of requests cost a few
 * system calls. cb runs for every request (err 0 for those not refused).
 * Returns 0 when the exchange worked (individual refusals are reported
 * through cb only), or -errno when it did not (then cb was called with
 * that errno for the requests whose fate is unknown).
 */
int coop_pbr_nl_flush(struct coop_pbr_nl *nl, coop_pbr_nl_result_cb cb, void *arg);
/* Bytes and requests queued (for tests). */
size_t coop_pbr_nl_pending(const struct coop_pbr_nl *nl, size_t *n_msgs);
/* The queued bytes (for tests that parse what would be sent). */
const void *coop_pbr_nl_buf(const struct coop_pbr_nl *nl);

/* Dump: send a NLM_F_DUMP request with the fixed part given and call
 * cb for every answer message until NLMSG_DONE. 0 or -errno. */
int coop_pbr_nl_dump(struct coop_pbr_nl *nl, uint16_t type, const void *fixed, size_t fixed_len,
		     int (*cb)(const void *msg, size_t len, void *arg), void *arg);

/* Request builders for the objects coop owns (add or delete). */
struct coop_pbr_route;
struct coop_pbr_addr;
int coop_pbr_nl_rule(struct coop_pbr_nl *nl, const struct coop_pbr_rule *r, uint32_t protocol,
		     bool add, uint32_t tag, coop_pbr_nl_result_cb cb, void *arg);
int coop_pbr_nl_route(struct coop_pbr_nl *nl, const struct coop_pbr_route *rt,
		      uint32_t protocol, bool add, uint32_t tag, coop_pbr_nl_result_cb cb,
		      void *arg);
int coop_pbr_nl_addr(struct coop_pbr_nl *nl, const struct coop_pbr_addr *a, uint32_t protocol,
		     bool add, uint32_t tag, coop_pbr_nl_result_cb cb, void *arg);

/* A route in one of coop's tables. */
struct coop_pbr_route {
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t type;     /* RTN_UNICAST or RTN_UNREACHABLE */
	uint8_t scope;    /* RT_SCOPE_LINK (connected, v4) or RT_SCOPE_UNIVERSE */
	uint8_t dst_len;  /* prefix length, 0 = default */
	uint8_t protocol; /* as read back (coop's own when built) */
	bool extra;       /* read back with attributes coop never sets */
	uint32_t table;   /* routing table */
	uint32_t metric;  /* RTA_PRIORITY (IPv6: 1024 when the kernel chose) */
	int oif;          /* output link, 0 = none */
	struct coop_addr dst; /* destination network (family 0 when default) */
	struct coop_addr gw;  /* gateway, family 0 = none */
	struct coop_addr src; /* preferred source, family 0 = none */
};

/* An address coop puts on a link. */
struct coop_pbr_addr {
	int ifindex;           /* link */
	uint8_t len;           /* prefix length */
	uint8_t protocol;      /* IFA_PROTO as read back */
	struct coop_addr local; /* the address */
};

/* Parse dumped RTM_NEWRULE / RTM_NEWROUTE / RTM_NEWADDR messages. Return
 * 0, or -EINVAL for a malformed message or another family. */
int coop_pbr_nl_parse_rule(const void *msg, size_t len, struct coop_pbr_rule *r,
			   uint32_t *protocol);
int coop_pbr_nl_parse_route(const void *msg, size_t len, struct coop_pbr_route *rt);
int coop_pbr_nl_parse_addr(const void *msg, size_t len, struct coop_pbr_addr *a);

/* --- ingress marks (vs/pbr_nft.c) ---------------------------------------- */

/* One destination address and the mark packets to it get. */
struct coop_pbr_mark_elem {
	struct coop_addr addr; /* a VS address */
	uint32_t mark;         /* that VS's mark */
};

/* Name of coop's nftables table (family inet) in a pbr namespace. */
#define COOP_PBR_NFT_TABLE "coop_pbr"

/*
 * Queue one nftables transaction on nl (a NETLINK_NETFILTER socket in
 * atomic mode) that replaces coop's table with a prerouting chain setting
 * `meta mark` from two maps (IPv4, IPv6 destination -> mark) holding
 * elems; n == 0 (or install false) queues only the table's removal. The
 * transaction is all or nothing. Flush with coop_pbr_nl_flush.
 */
int coop_pbr_nft_queue(struct coop_pbr_nl *nl, bool install, const struct coop_pbr_mark_elem *elems,
		       size_t n, coop_pbr_nl_result_cb cb, void *arg);

/* --- namespaces (vs/pbr_sync.c) ----------------------------------------- */

/* A namespace holding pbr VSes: the sockets into it, a model of the kernel
 * state coop owns there, and its members. Opaque. */
struct coop_pbr_space;

/* A pbr VS inside its space. Owned by the space; the VS points at it
 * (vs->iso_priv) from up() to down(). */
struct coop_pbr_member {
	struct coop_pbr_space *sp;      /* its namespace */
	const struct coop_vs_cfg *cfg;  /* its section: name, addresses, gateways */
	uint32_t mark;                  /* SO_MARK of its sockets */
	uint32_t table;                 /* its routing table */
	int nsfd;                       /* the space's namespace fd (for sockets) */
	bool want;                      /* should be in the kernel */
	bool applied;                   /* is in the kernel (last commit) */
	bool left;                      /* down() released it: freed at commit */
	bool changed;                   /* its section changed (reload): the
					 * next commit brings the kernel along */
	struct coop_pbr_member *next;   /* the space's list */
};

/* Open the space for namespace name ("" = coopd's own, else an existing
 * /run/netns name or path) and read what is in the kernel: coop's own
 * rules, routes and addresses (recognised by protocol) become the model,
 * tables used by foreign rules or routes are noted. Changes nothing. */
int coop_pbr_space_open(const char *name, const struct coop_pbr_params *p,
			struct coop_pbr_space **out, char *err, size_t errlen);
/* Release sockets and the namespace reference; changes nothing in the
 * kernel (commit with no members first to remove coop's state). */
void coop_pbr_space_close(struct coop_pbr_space *sp);
const char *coop_pbr_space_name(const struct coop_pbr_space *sp);
/* Tables used by state coop does not own (sorted, unique). */
const uint32_t *coop_pbr_space_busy(const struct coop_pbr_space *sp, size_t *n);
/* 0 if table is free of foreign state here, else -EBUSY with the reason
 * ("used by rule 'priority 500 lookup 100' coop does not own") in why. */
int coop_pbr_space_table_check(const struct coop_pbr_space *sp, uint32_t table, char *why,
			       size_t whylen);
/* Add a member that wants to be up (programmed at the next commit). */
struct coop_pbr_member *coop_pbr_space_join(struct coop_pbr_space *sp,
					    const struct coop_vs_cfg *cfg, uint32_t mark,
					    uint32_t table);
/* The member's VS went down: removed from the kernel at the next commit. */
void coop_pbr_space_leave(struct coop_pbr_member *m);
/* Something to apply: a member joined, left or failed since the last commit. */
bool coop_pbr_space_dirty(const struct coop_pbr_space *sp);
/* Free the members that left without ever being applied (a start that
 * failed before its commit): nothing to send to the kernel for them. */
void coop_pbr_space_prune(struct coop_pbr_space *sp);
/* No members at all (the space may be closed). */
bool coop_pbr_space_empty(const struct coop_pbr_space *sp);
/*
 * Bring the kernel in line with the members that want to be up: compute
 * the whole desired state (addresses, tables, the rule tree, ingress
 * marks, sysctls), compare it with the model and send only the difference
 * in batches. With no member left, everything coop owns there is removed.
 * On failure the members that were joining are dropped again (their
 * partial state removed), and -errno comes back with a message in err.
 */
int coop_pbr_space_commit(struct coop_pbr_space *sp, char *err, size_t errlen);

/* Write what coop owns in the namespace as iproute2 commands, in the
 * order coop sends them: addresses, routes and IPv4 rules to batch4 (for
 * `ip -batch`), IPv6 rules to batch6 (for `ip -6 -batch`: a rule without
 * an address has no family of its own). The benchmark replays them to
 * compare coop with iproute2 on the very same objects. */
int coop_pbr_space_script(const struct coop_pbr_space *sp, FILE *batch4, FILE *batch6);

/* Number of kernel objects coop owns there (as read or last committed). */
size_t coop_pbr_space_owned(const struct coop_pbr_space *sp);

/* Counters of the last commit, for logs, tests and the benchmark. */
struct coop_pbr_commit_stats {
	size_t kept;    /* objects already in place (adopted) */
	size_t added;   /* objects added */
	size_t removed; /* objects removed */
	size_t rules;   /* coop rules in the namespace afterwards (both families) */
};
void coop_pbr_space_stats(const struct coop_pbr_space *sp, struct coop_pbr_commit_stats *out);

/* coop's ingress marking in one namespace. Control thread. */
struct coop_pbr_ingress {
	struct coop_pbr_nl *nl;           /* NETLINK_NETFILTER socket, NULL = none */
	struct coop_pbr_mark_elem *elems; /* map now in the kernel, sorted */
	size_t n;
	bool on;                          /* coop's table exists */
	bool warned;                      /* said once that marking is unavailable */
};

/* Make coop's table hold elems (sorted here), or remove it (n == 0); does
 * nothing when that is what the kernel has. A failure costs only the
 * kernel's own replies their VS route: it is logged once, not returned. */
void coop_pbr_ingress_sync(struct coop_pbr_ingress *ing, const char *nsname,
			   struct coop_pbr_mark_elem *elems, size_t n);

/* --- sysctls (vs/pbr_sysctl.c) --------------------------------------------- */

#define COOP_PBR_N_SYSCTLS 5

/* The sysctls coop set in one namespace. Control thread. */
struct coop_pbr_sysctls {
	char saved[COOP_PBR_N_SYSCTLS][16]; /* value before coop, "" = untouched */
	bool set;                           /* coop's values are written */
};

/* Write coop's values (set) or put back the saved ones in namespace nsfd.
 * The originals are also kept in /run/coop, so that a run after a crash
 * restores what the administrator had. Failures are logged. */
void coop_pbr_sysctls_apply(struct coop_pbr_sysctls *s, int nsfd, const char *nsname, bool set);

/* --- runtime glue (vs/iso_pbr.c) ------------------------------------------ */

/* Apply the pbr backend's pending work as one batch: every VS brought up or
 * down between batch_begin and batch_commit is programmed with a single
 * reconciliation per namespace. Control thread. */
int coop_iso_pbr_batch_begin(struct coop *c, char *err, size_t errlen);
int coop_iso_pbr_batch_commit(struct coop *c, char *err, size_t errlen);

/* The mark and table a pbr VS got (0 when it is not up). Any thread. */
uint32_t coop_iso_pbr_mark(const struct coop_vs *vs);
uint32_t coop_iso_pbr_table(const struct coop_vs *vs);

#endif
