/* xdp_priv.h - inside the XDP forwarder's control plane: the state that fwd/xdp_ctl.c, fwd/xdp_nl.c and fwd/xdp_admin.c share. */
#ifndef COOP_FWD_XDP_PRIV_H
#define COOP_FWD_XDP_PRIV_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "fwd/bpf/coop_xdp.h"
#include "fwd/coop_fwd.h"

struct bpf_object;
struct nl_sock;
struct nl_cache_mngr;
struct nl_cache;

/* The compiled data path, embedded by fwd/xdp_obj.c. */
extern const unsigned char coop_fwd_xdp_obj[];
extern const unsigned char coop_fwd_xdp_obj_end[];

/* coopd keeps one node set, so every VIP uses one table: service 0. */
#define XDP_SERVICE 0u

/* A node as the control plane knows it. Control thread. */
struct xdp_node {
	char name[COOP_FWD_NODE_NAME_MAX]; /* Maglev key, the same on every node */
	struct coop_addr addr;             /* cluster address */
	uint32_t weight;                   /* table share; 0 = draining */
	uint32_t id;                       /* index in coop_xdp_nodes and table entry value */
	bool self;                         /* this node: owns flows that pass up locally */
	/* Next hop, from the last resolution (fwd/xdp_nl.c). */
	bool resolved;                     /* dmac/smac valid: tunnels to it can leave */
	int oif;                           /* route's output link, 0 = no route */
	struct coop_addr via;              /* neighbour asked: gateway, or addr on-link */
	uint32_t egress;                   /* ifindex in the map entry: 0 = XDP_TX */
	uint16_t vlan;                     /* 802.1Q id pushed on egress, 0 = none */
	uint8_t dmac[6];                   /* next hop's MAC */
	uint8_t smac[6];                   /* our MAC on the egress link */
	char why[96];                      /* why not resolved (for `show fwd`) */
	double probed;                     /* last neighbour probe (ev_now), to pace them */
};

/* A removed node's id, kept for its name: if the node comes back it gets
 * the same id, so flow-cache entries still naming that id mean the node
 * that has those connections, never a stranger. */
struct xdp_retired {
	char name[COOP_FWD_NODE_NAME_MAX]; /* node name */
	uint32_t id;                       /* its id */
};

/* The running forwarder (c->fwd). Control thread only. */
struct coop_fwd_xdp {
	struct coop *coop;                /* runtime */
	const struct coop_fwd_cfg *cfg;   /* [forwarder] it started from */
	struct bpf_object *obj;           /* loaded program and its maps */
	int ifindex;                      /* interface attached to */
	uint32_t xdp_flags;               /* XDP_FLAGS_DRV_MODE or _SKB_MODE, as attached */
	bool attached;                    /* our program is on ifindex */
	int prog_fd;                      /* the program (owned by obj) */
	uint32_t prog_id;                 /* its kernel id, for `show fwd` and detach */
	int fd_config;                    /* coop_xdp_config (maps owned by obj) */
	int fd_vips;                      /* coop_xdp_vips */
	int fd_vslots;                    /* coop_xdp_vslots */
	int fd_peers;                     /* coop_xdp_peers */
	int fd_tables;                    /* coop_xdp_tables (outer) */
	int fd_nodes;                     /* coop_xdp_nodes */
	int fd_flows;                     /* coop_xdp_flows */
	int fd_stats;                     /* coop_xdp_stats (per CPU) */
	int ncpus;                        /* possible CPUs: per-CPU value count */
	int ncpus_online;                 /* online CPUs at start: the LRU shares' divisor */
	uint32_t flow_share;              /* flow-cache entries per CPU (each CPU's LRU list) */
	uint32_t flow_entries;            /* coop_xdp_flows max_entries: flow_share x ncpus */
	struct coop_xdp_config xcfg;      /* what coop_xdp_config[0] holds */
	struct xdp_node *nodes;           /* current set (removed nodes leave it) */
	size_t n_nodes, cap_nodes;
	struct xdp_retired *retired;      /* ids of removed nodes, oldest first */
	size_t n_retired;
	uint32_t next_id;                 /* lowest id never handed out */
	struct coop_fwd_maglev *table;    /* the table published last */
	uint64_t publications;            /* tables published since start */
	bool publish_pending;             /* a new table waits for a next hop */
	ev_tstamp publish_deadline;       /* publish anyway at this time */
	ev_timer publish_timer;           /* polls for the pending publication */
	/* Next-hop resolution (fwd/xdp_nl.c). */
	struct nl_sock *nl;               /* requests: route lookups, neighbour probes */
	struct nl_sock *nl_mngr;          /* the mngr's notification socket (ours to free) */
	struct nl_cache_mngr *mngr;       /* keeps neighs/links/routes current */
	struct nl_cache *neighs;          /* neighbour cache */
	struct nl_cache *links;           /* link cache (MACs, VLANs) */
	struct nl_cache *routes;          /* route cache (only its change events are used) */
	ev_io nl_io;                      /* mngr socket on the control loop */
	ev_timer settle;                  /* re-resolve shortly after netlink changes */
	ev_timer refresh;                 /* periodic re-resolution and probes */
	ev_timer retry;                   /* re-resolve when a paced probe is due */
	uint64_t resolutions;             /* full re-resolutions done */
};

/* --- fwd/xdp_ctl.c -------------------------------------------------------------- */

/* Node by name, or NULL. */
struct xdp_node *coop_fwd_xdp_node_find(struct coop_fwd_xdp *x, const char *name);
/* Write n's coop_xdp_nodes entry with state (COOP_FWD_STATE_*), and its
 * address in coop_xdp_peers: trusted as a tunnel source while n is in the
 * set, forgotten when state is ABSENT (n removed). 0 or -errno. */
int coop_fwd_xdp_node_write(struct coop_fwd_xdp *x, const struct xdp_node *n, uint32_t state);
/* Delete addr from coop_xdp_peers if it still names node id (it may be
 * another node's address by now). 0 or -errno (-ENOENT is 0). */
int coop_fwd_xdp_peer_forget(struct coop_fwd_xdp *x, const struct coop_addr *addr, uint32_t id);
/*
 * Size of a per-CPU LRU map (BPF_F_NO_COMMON_LRU) that gives each online
 * CPU at least want / online entries: the kernel splits max_entries evenly
 * over the *possible* CPUs, so *entries = *share x possible. 0, or -E2BIG
 * when that does not fit 32 bits, -EINVAL for CPU counts below 1.
 */
int coop_fwd_xdp_lru_size(uint32_t want, int online, int possible, uint32_t *share,
			  uint32_t *entries);
/* Runtime changes of the node set, in the order docs/xdp.md gives (the
 * contract in coop_xdp.h). 0 or -errno with err filled; *published tells
 * whether the new table is live (false: it waits for a next hop). */
int coop_fwd_xdp_node_add(struct coop_fwd_xdp *x, const char *name, const struct coop_addr *addr,
			  uint32_t weight, bool *published, char *err, size_t errlen);
int coop_fwd_xdp_node_remove(struct coop_fwd_xdp *x, const char *name, char *err, size_t errlen);
int coop_fwd_xdp_node_weight(struct coop_fwd_xdp *x, const char *name, uint32_t weight,
			     bool *published, char *err, size_t errlen);
/* Node n's state in the data path while it is in the set. */
static inline uint32_t coop_fwd_xdp_node_state(const struct xdp_node *n)
{
	return n->weight ? COOP_FWD_STATE_ACTIVE : COOP_FWD_STATE_DRAINING;
}
/* Are all active nodes but self resolved (tables may send them flows)? */
bool coop_fwd_xdp_all_resolved(const struct coop_fwd_xdp *x);
/* An id for name: its old one if it was removed earlier, else one never
 * used, else the longest-retired one. *ridx: the retired record used, or
 * SIZE_MAX. 0 or -ENOSPC. Nothing changes until id_commit, which takes it
 * (purging cached flows of the id when it passes to another name). */
int coop_fwd_xdp_id_alloc(const struct coop_fwd_xdp *x, const char *name, uint32_t *id,
			  size_t *ridx);
void coop_fwd_xdp_id_commit(struct coop_fwd_xdp *x, const char *name, uint32_t id, size_t ridx);
/* Keep removed node n's id for its name. 0 or -ENOMEM. */
int coop_fwd_xdp_id_retire(struct coop_fwd_xdp *x, const struct xdp_node *n);
/* The Maglev table of n nodes (keys: node names; table_size of x->cfg).
 * 0 and *out, or -errno with err filled. */
int coop_fwd_xdp_table_build_of(const struct coop_fwd_xdp *x, const struct xdp_node *nodes,
				size_t n, struct coop_fwd_maglev **out, char *err, size_t errlen);
/* Publish t (owned from here on), built from the current node set. With
 * wait, a set whose active nodes are not all resolved is published later
 * (coop_fwd_xdp_publish_retry, or PUBLISH_WAIT at the latest): the contract
 * wants a node's MAC in place before tables send it flows. *published (may
 * be NULL): live now. 0 or -errno with err filled. */
int coop_fwd_xdp_publish(struct coop_fwd_xdp *x, struct coop_fwd_maglev *t, bool wait,
			 bool *published, char *err, size_t errlen);
/* A next hop became resolved: publish a table that was waiting for it. */
void coop_fwd_xdp_publish_retry(struct coop_fwd_xdp *x);
/* Read the live table of service: *m entries into a malloc'ed array (the
 * caller frees it), *ecmp its mode. 0, -ENOENT (none published) or -errno. */
int coop_fwd_xdp_table_read(struct coop_fwd_xdp *x, uint32_t service, uint32_t **entries,
			    uint32_t *m, bool *ecmp);
/* Sum counter id over CPUs. 0 or -errno. */
int coop_fwd_xdp_counter_read(struct coop_fwd_xdp *x, uint32_t id, struct coop_xdp_counter *out);

/* --- fwd/xdp_nl.c ---------------------------------------------------------------- */

/* Open the netlink caches and watch them on the control loop. 0 or -errno. */
int coop_fwd_xdp_nl_start(struct coop_fwd_xdp *x, char *err, size_t errlen);
void coop_fwd_xdp_nl_stop(struct coop_fwd_xdp *x);
/* Resolve n's next hop now (route, link, neighbour; a probe is sent when the
 * neighbour is unknown or stale) and rewrite its map entry if it changed.
 * Returns true when n is resolved. */
bool coop_fwd_xdp_node_resolve(struct coop_fwd_xdp *x, struct xdp_node *n);
/* Is self's cluster address one of this host's? (Tunnels to it end here.)
 * True when it cannot be told. */
bool coop_fwd_xdp_self_local(struct coop_fwd_xdp *x, const struct xdp_node *self);
/* MTU of link ifindex, or 0 if unknown. */
uint32_t coop_fwd_xdp_link_mtu(struct coop_fwd_xdp *x, int ifindex);

/* --- fwd/xdp_reload.c ------------------------------------------------------------ */

struct coop_config;
struct coop_change_note;
/* The module's reload hooks (core/module.h): check accepts a [forwarder]
 * section that differs from the running one only in `nodes` (and self's
 * address stays); apply makes the running node set the file's list. */
int coop_fwd_xdp_reload_check(struct coop *c, const struct coop_config *old,
			      const struct coop_config *new, char *err, size_t errlen);
int coop_fwd_xdp_reload_apply(struct coop *c, const struct coop_config *old,
			      const struct coop_config *new, struct coop_change_note *note,
			      char *err, size_t errlen);

/* --- fwd/xdp_admin.c -------------------------------------------------------------- */

/* Register `show fwd` and `fwd ...` (once per runtime). 0 or -errno. */
int coop_fwd_xdp_admin_register(struct coop *c, char *err, size_t errlen);

#endif
