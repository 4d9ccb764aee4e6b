/* xdp_metrics.c - the XDP forwarder's /metrics samples: every data-path
 * counter `show fwd` reads (verdicts and events, packets and bytes), the
 * flow cache's size per CPU and evictions, the live table and each node's
 * share of it, weight and next hop. */
#include <errno.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/module.h"
#include "core/prom.h"
#include "core/runtime.h"
#include "fwd/xdp_priv.h"

/* The verdict counters come first, the events after them, from
 * COOP_XDP_CNT_FLOW_HIT on (fwd/bpf/coop_xdp.h; the data path asserts the
 * order). One family each, so that a sum over the verdicts is every
 * packet seen and events are never added to it. */
static void counters(struct coop_fwd_xdp *x, struct coop_prom *p)
{
	struct coop_prom_family *vpk, *vby, *epk, *eby;
	struct coop_xdp_counter ctr;
	uint32_t id;

	vpk = coop_prom_family(p, "coop_fwd_packets_total", COOP_PROM_COUNTER,
			       "packets the XDP program saw, by verdict (pass_*, tx_*, redirect_*, "
			       "drop_*); each packet has exactly one");
	vby = coop_prom_family(p, "coop_fwd_bytes_total", COOP_PROM_COUNTER,
			       "bytes of those packets as received (Ethernet header included), "
			       "by verdict");
	epk = coop_prom_family(p, "coop_fwd_events_total", COOP_PROM_COUNTER,
			       "data-path events along the way (flow_*, frag_*, icmp_vip), in "
			       "packets");
	eby = coop_prom_family(p, "coop_fwd_event_bytes_total", COOP_PROM_COUNTER,
			       "bytes of the packets of those events");
	for (id = 0; id < COOP_XDP_CNT_MAX; id++) {
		const char *name = coop_xdp_counter_name(id);
		bool verdict = id < COOP_XDP_CNT_FLOW_HIT;

		if (coop_fwd_xdp_counter_read(x, id, &ctr) < 0)
			continue;
		coop_prom_u64(verdict ? vpk : epk, ctr.packets, verdict ? "verdict" : "event", name,
			      NULL);
		coop_prom_u64(verdict ? vby : eby, ctr.bytes, verdict ? "verdict" : "event", name,
			      NULL);
	}
}

/* The live table: size, slots without an owner, each node's share. */
static void table(struct coop_fwd_xdp *x, struct coop_prom *p)
{
	struct coop_prom_family *info, *weight, *entries, *resolved;
	uint32_t *live = NULL, *count, m = 0, i, none = 0;
	const char *mode;
	bool ecmp = false;
	size_t k;
	int ret;

	ret = coop_fwd_xdp_table_read(x, XDP_SERVICE, &live, &m, &ecmp);
	mode = ret < 0 ? "none" : ecmp ? "ecmp" : "maglev";
	if (ret < 0 && ret != -ENOENT)
		coop_warn("metrics: cannot read the forwarder's live table: %s", strerror(-ret));
	count = calloc(COOP_XDP_NODES_MAX, sizeof(*count));
	for (i = 0; i < m; i++) {
		if (live[i] >= COOP_XDP_NODES_MAX)
			none++;
		else if (count)
			count[live[i]]++;
	}
	free(live);

	info = coop_prom_family(p, "coop_fwd_info", COOP_PROM_GAUGE,
				"1, with the forwarder's interface, XDP mode, encapsulation, this "
				"node's name and the live table's mode as labels");
	coop_prom_u64(info, 1, "interface", x->cfg->ifname, "mode",
		      x->xdp_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic", "encap",
		      x->cfg->encap == COOP_FWD_ENCAP_IPIP ? "ipip" : "gue", "self", x->cfg->self,
		      "table", mode, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_fwd_table_size", COOP_PROM_GAUGE,
				       "entries of the live table (0: none published)"),
		      m, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_fwd_table_unowned", COOP_PROM_GAUGE,
				       "entries of the live table that name no node"),
		      none, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_fwd_table_publications_total", COOP_PROM_COUNTER,
				       "tables published since the forwarder started"),
		      x->publications, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_fwd_table_pending", COOP_PROM_GAUGE,
				       "1 while a new table waits for a node's next hop"),
		      x->publish_pending ? 1 : 0, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_fwd_resolutions_total", COOP_PROM_COUNTER,
				       "full re-resolutions of the nodes' next hops"),
		      x->resolutions, NULL);

	weight = coop_prom_family(p, "coop_fwd_node_weight", COOP_PROM_GAUGE,
				  "a node's weight (its share of the table; 0 = draining)");
	entries = coop_prom_family(p, "coop_fwd_node_table_entries", COOP_PROM_GAUGE,
				   "entries of the live table owned by the node");
	resolved = coop_prom_family(p, "coop_fwd_node_resolved", COOP_PROM_GAUGE,
				    "1 when the next hop to another node is resolved (tunnels "
				    "to it can leave), else 0");
	for (k = 0; k < x->n_nodes; k++) {
		const struct xdp_node *n = &x->nodes[k];

		coop_prom_u64(weight, n->weight, "node", n->name, NULL);
		if (count)
			coop_prom_u64(entries, n->id < COOP_XDP_NODES_MAX ? count[n->id] : 0,
				      "node", n->name, NULL);
		if (!n->self)
			coop_prom_u64(resolved, n->resolved ? 1 : 0, "node", n->name, NULL);
	}
	free(count);
}

/* The flow cache: its size, each CPU's share, the flows it evicted. */
static void flow_cache(struct coop_fwd_xdp *x, struct coop_prom *p)
{
	struct coop_xdp_counter ev;

	if (coop_fwd_xdp_counter_read(x, COOP_XDP_CNT_FLOW_EVICT, &ev) < 0)
		return;
	coop_prom_u64(coop_prom_family(p, "coop_fwd_flow_cache_size", COOP_PROM_GAUGE,
				       "flows the flow cache holds over the online CPUs "
				       "(flow_cache_size)"),
		      x->cfg->flow_cache_size, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_fwd_flow_cache_per_cpu", COOP_PROM_GAUGE,
				       "flow-cache entries of each CPU (its own LRU list): a CPU "
				       "that inserts more evicts among its own"),
		      x->flow_share, NULL);
	coop_prom_u64(coop_prom_family(p, "coop_fwd_flow_cache_evictions_total", COOP_PROM_COUNTER,
				       "flows evicted from the flow cache (inserts into a CPU's "
				       "full share; the event flow_evict)"),
		      ev.packets, NULL);
}

void coop_fwd_xdp_metrics(struct coop *c, struct coop_prom *p)
{
	struct coop_fwd_xdp *x = coop_module_priv(c, COOP_MOD_FWD);

	if (!x)
		return;
	table(x, p);
	flow_cache(x, p);
	counters(x, p);
}
