/* xdp_admin.c - admin commands of the XDP forwarder: `show fwd`, `fwd node add|remove|weight`, `fwd lookup` (who owns a flow, from the live maps). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "core/coop_admin.h"
#include "core/module.h"
#include "core/runtime.h"
#include "fwd/xdp_ctl.h"
#include "fwd/xdp_priv.h"

static struct coop_fwd_xdp *running(struct coop *c, char *err, size_t errlen)
{
	if (!coop_module_priv(c, COOP_MOD_FWD))
		snprintf(err, errlen, "the forwarder is not running (no [forwarder] section, or coop is stopped)");
	return coop_module_priv(c, COOP_MOD_FWD);
}

static int u32_arg(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Name of node id: a current node, a removed one, or NULL. */
static const char *id_name(const struct coop_fwd_xdp *x, uint32_t id, bool *removed)
{
	size_t i;

	*removed = false;
	for (i = 0; i < x->n_nodes; i++)
		if (x->nodes[i].id == id)
			return x->nodes[i].name;
	for (i = x->n_retired; i-- > 0;) {
		if (x->retired[i].id == id) {
			*removed = true;
			return x->retired[i].name;
		}
	}
	return NULL;
}

static void put_node_id(struct coop_json *out, const char *key, const struct coop_fwd_xdp *x,
			uint32_t id)
{
	bool removed;
	const char *name = id == COOP_FWD_NO_BACKEND ? NULL : id_name(x, id, &removed);

	coop_json_key(out, key);
	if (name)
		coop_json_string(out, name);
	else if (id == COOP_FWD_NO_BACKEND)
		coop_json_null(out);
	else
		coop_json_stringf(out, "id %u", id);
}

static const char *state_name(uint32_t state)
{
	switch (state) {
	case COOP_FWD_STATE_ACTIVE:
		return "active";
	case COOP_FWD_STATE_DRAINING:
		return "draining";
	default:
		return "absent";
	}
}

/* --- show fwd ------------------------------------------------------------------------ */

static void put_mac(struct coop_json *out, const char *key, const uint8_t *m)
{
	coop_json_key(out, key);
	coop_json_stringf(out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void put_nodes(struct coop_json *out, const struct coop_fwd_xdp *x, const uint32_t *count)
{
	char a[INET6_ADDRSTRLEN], ifn[IF_NAMESIZE];
	size_t i;

	coop_json_key(out, "nodes");
	coop_json_array_begin(out);
	for (i = 0; i < x->n_nodes; i++) {
		const struct xdp_node *n = &x->nodes[i];

		coop_json_object_begin(out);
		coop_json_kv_string(out, "name", n->name);
		coop_json_kv_u64(out, "id", n->id);
		coop_json_kv_string(out, "address", coop_addr_str(&n->addr, a, sizeof(a)));
		coop_json_kv_u64(out, "weight", n->weight);
		coop_json_kv_string(out, "state", state_name(n->weight ? COOP_FWD_STATE_ACTIVE :
									 COOP_FWD_STATE_DRAINING));
		coop_json_kv_bool(out, "self", n->self);
		coop_json_kv_u64(out, "entries", count && n->id < COOP_XDP_NODES_MAX ? count[n->id] : 0);
		if (!n->self) {
			coop_json_kv_bool(out, "resolved", n->resolved);
			if (n->oif) {
				coop_json_kv_string(out, "via", coop_addr_str(&n->via, a, sizeof(a)));
				coop_json_kv_string(out, "dev", if_indextoname((unsigned)n->oif, ifn) ? ifn : "?");
			}
			if (n->resolved) {
				put_mac(out, "mac", n->dmac);
				coop_json_kv_string(out, "send", n->egress ? "redirect" : "tx");
				if (n->vlan)
					coop_json_kv_u64(out, "vlan", n->vlan);
			} else {
				coop_json_kv_string(out, "problem", n->why);
			}
		}
		coop_json_object_end(out);
	}
	coop_json_array_end(out);
}

static void put_vips(struct coop_json *out, const struct coop_fwd_cfg *cfg)
{
	char a[INET6_ADDRSTRLEN], port[8];
	size_t i;

	coop_json_key(out, "vips");
	coop_json_array_begin(out);
	for (i = 0; i < cfg->n_vips; i++) {
		const struct coop_fwd_vip_cfg *v = &cfg->vips[i];
		bool v6 = v->addr.family == AF_INET6;

		snprintf(port, sizeof(port), "%u", v->port);
		coop_json_stringf(out, "%s%s%s:%s/%s", v6 ? "[" : "", coop_addr_str(&v->addr, a, sizeof(a)),
				  v6 ? "]" : "", v->port ? port : "*",
				  v->proto == IPPROTO_TCP ? "tcp" : "udp");
	}
	coop_json_array_end(out);
}

static void put_counters(struct coop_json *out, struct coop_fwd_xdp *x)
{
	struct coop_xdp_counter ctr;
	uint32_t id;

	coop_json_key(out, "counters");
	coop_json_object_begin(out);
	for (id = 0; id < COOP_XDP_CNT_MAX; id++) {
		if (coop_fwd_xdp_counter_read(x, id, &ctr) < 0)
			continue;
		coop_json_key(out, coop_xdp_counter_name(id));
		coop_json_object_begin(out);
		coop_json_kv_u64(out, "packets", ctr.packets);
		coop_json_kv_u64(out, "bytes", ctr.bytes);
		coop_json_object_end(out);
	}
	coop_json_object_end(out);
}

/* The flow cache as the kernel holds it: one LRU list per CPU. */
static void put_flow_cache(struct coop_json *out, struct coop_fwd_xdp *x)
{
	struct coop_xdp_counter ev;

	if (coop_fwd_xdp_counter_read(x, COOP_XDP_CNT_FLOW_EVICT, &ev) < 0)
		ev.packets = 0;
	coop_json_key(out, "flow_cache");
	coop_json_object_begin(out);
	coop_json_kv_u64(out, "size", x->cfg->flow_cache_size);
	coop_json_kv_u64(out, "per_cpu", x->flow_share);
	coop_json_kv_u64(out, "cpus_online", (uint64_t)x->ncpus_online);
	coop_json_kv_u64(out, "cpus_possible", (uint64_t)x->ncpus);
	coop_json_kv_u64(out, "entries", x->flow_entries);
	coop_json_kv_u64(out, "evicted", ev.packets);
	coop_json_object_end(out);
}

static int cmd_show(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		    size_t errlen)
{
	struct coop_fwd_xdp *x = running(c, err, errlen);
	uint32_t *entries = NULL, *count = NULL, m = 0, i, none = 0;
	bool ecmp = false;
	int ret;

	(void)argc;
	(void)argv;
	if (!x)
		return -ENODEV;
	ret = coop_fwd_xdp_table_read(x, XDP_SERVICE, &entries, &m, &ecmp);
	if (ret < 0 && ret != -ENOENT) {
		snprintf(err, errlen, "cannot read the live table: %s", strerror(-ret));
		return ret;
	}
	count = calloc(COOP_XDP_NODES_MAX, sizeof(*count));
	if (!count) {
		free(entries);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < m; i++) {
		if (entries[i] < COOP_XDP_NODES_MAX)
			count[entries[i]]++;
		else
			none++;
	}
	coop_json_object_begin(out);
	coop_json_kv_string(out, "interface", x->cfg->ifname);
	coop_json_kv_string(out, "mode", x->xdp_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic");
	coop_json_kv_u64(out, "program_id", x->prog_id);
	coop_json_kv_string(out, "self", x->cfg->self);
	coop_json_kv_string(out, "encap", x->cfg->encap == COOP_FWD_ENCAP_IPIP ? "ipip" : "gue");
	coop_json_kv_u64(out, "gue_port", x->cfg->gue_port);
	coop_json_kv_u64(out, "mtu", x->xcfg.mtu);
	coop_json_kv_u64(out, "flow_cache_size", x->cfg->flow_cache_size);
	put_flow_cache(out, x);
	coop_json_key(out, "table");
	coop_json_object_begin(out);
	coop_json_kv_string(out, "mode", ecmp ? "ecmp" : "maglev");
	coop_json_kv_u64(out, "size", m);
	coop_json_kv_u64(out, "unowned", none);
	coop_json_kv_u64(out, "publications", x->publications);
	coop_json_kv_bool(out, "pending", x->publish_pending);
	coop_json_object_end(out);
	put_nodes(out, x, count);
	put_vips(out, x->cfg);
	put_counters(out, x);
	coop_json_object_end(out);
	free(count);
	free(entries);
	return 0;
}

/* --- fwd node ... ----------------------------------------------------------------------- */

static int cmd_node_add(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
			size_t errlen)
{
	struct coop_fwd_xdp *x = running(c, err, errlen);
	struct coop_addr addr;
	uint32_t weight = 1;
	bool published;
	int ret;

	if (!x)
		return -ENODEV;
	if (coop_addr_parse(argv[1], &addr) < 0) {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", argv[1]);
		return -EINVAL;
	}
	if (argc > 2 && u32_arg(argv[2], COOP_FWD_WEIGHT_MAX, &weight) < 0) {
		snprintf(err, errlen, "'%s' is not a weight (0..%u)", argv[2], COOP_FWD_WEIGHT_MAX);
		return -EINVAL;
	}
	ret = coop_fwd_xdp_node_add(x, argv[0], &addr, weight, &published, err, errlen);
	if (ret < 0)
		return ret;
	coop_json_object_begin(out);
	coop_json_kv_string(out, "node", argv[0]);
	coop_json_kv_bool(out, "published", published);
	coop_json_kv_u64(out, "publications", x->publications);
	coop_json_object_end(out);
	return 0;
}

static int cmd_node_remove(struct coop *c, int argc, char **argv, struct coop_json *out,
			   char *err, size_t errlen)
{
	struct coop_fwd_xdp *x = running(c, err, errlen);
	int ret;

	(void)argc;
	if (!x)
		return -ENODEV;
	ret = coop_fwd_xdp_node_remove(x, argv[0], err, errlen);
	if (ret < 0)
		return ret;
	coop_json_object_begin(out);
	coop_json_kv_string(out, "node", argv[0]);
	coop_json_kv_bool(out, "published", true);
	coop_json_kv_u64(out, "publications", x->publications);
	coop_json_object_end(out);
	return 0;
}

static int cmd_node_weight(struct coop *c, int argc, char **argv, struct coop_json *out,
			   char *err, size_t errlen)
{
	struct coop_fwd_xdp *x = running(c, err, errlen);
	uint32_t weight;
	bool published;
	int ret;

	(void)argc;
	if (!x)
		return -ENODEV;
	if (u32_arg(argv[1], COOP_FWD_WEIGHT_MAX, &weight) < 0) {
		snprintf(err, errlen, "'%s' is not a weight (0..%u; 0 drains the node)", argv[1],
			 COOP_FWD_WEIGHT_MAX);
		return -EINVAL;
	}
	ret = coop_fwd_xdp_node_weight(x, argv[0], weight, &published, err, errlen);
	if (ret < 0)
		return ret;
	coop_json_object_begin(out);
	coop_json_kv_string(out, "node", argv[0]);
	coop_json_kv_u64(out, "weight", weight);
	coop_json_kv_bool(out, "published", published);
	coop_json_kv_u64(out, "publications", x->publications);
	coop_json_object_end(out);
	return 0;
}

/* --- fwd lookup --------------------------------------------------------------------------- */

static int proto_arg(const char *s, uint8_t *proto)
{
	uint32_t v;

	if (!strcasecmp(s, "tcp"))
		*proto = COOP_FWD_PROTO_TCP;
	else if (!strcasecmp(s, "udp"))
		*proto = COOP_FWD_PROTO_UDP;
	else if (u32_arg(s, 255, &v) == 0)
		*proto = (uint8_t)v;
	else
		return -EINVAL;
	return 0;
}

/* The VIP entry a packet of t would match (as the data path's vip_find). */
static bool vip_match(struct coop_fwd_xdp *x, const struct coop_fwd_tuple *t, struct coop_xdp_vip *v)
{
	struct coop_xdp_vip_key k;

	memset(&k, 0, sizeof(k));
	memcpy(k.addr, t->dst, sizeof(k.addr));
	k.port = t->dport;
	k.proto = t->proto;
	k.family = t->family;
	if (bpf_map_lookup_elem(x->fd_vips, &k, v) == 0)
		return true;
	if (!(x->xcfg.flags & COOP_XDP_CFG_ANY_PORT))
		return false;
	k.port = 0;
	return bpf_map_lookup_elem(x->fd_vips, &k, v) == 0 && (v->flags & COOP_XDP_VIP_ALL_PORTS);
}

/* Owner of hash in the live table of service, and the slot it took. */
static int live_owner(struct coop_fwd_xdp *x, uint32_t service, uint32_t hash, uint32_t *owner,
		      uint32_t *slot)
{
	uint32_t inner, hdr, zero = 0, n, key;
	int fd, ret = 0;

	*owner = COOP_FWD_NO_BACKEND;
	*slot = 0;
	if (bpf_map_lookup_elem(x->fd_tables, &service, &inner) < 0)
		return errno == ENOENT ? 0 : -errno;
	fd = bpf_map_get_fd_by_id(inner);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &zero, &hdr) < 0) {
		ret = -errno;
		goto out_close;
	}
	n = COOP_XDP_TABLE_COUNT(hdr);
	if (!n)
		goto out_close;
	*slot = hdr & COOP_XDP_TABLE_ECMP ? coop_fwd_ecmp_index(hash, n) : coop_fwd_maglev_slot(hash, n);
	key = COOP_XDP_TABLE_HDR + *slot;
	if (bpf_map_lookup_elem(fd, &key, owner) < 0)
		ret = -errno;
out_close:
	close(fd);
	return ret;
}

static const char *verdict_name(int v)
{
	switch (v) {
	case COOP_FWD_FLOW_USE:
		return "use";
	case COOP_FWD_FLOW_GONE:
		return "gone";
	case COOP_FWD_FLOW_DRAINED:
		return "drained";
	default:
		return "expired";
	}
}

static int cmd_lookup(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		      size_t errlen)
{
	struct coop_fwd_xdp *x = running(c, err, errlen);
	struct coop_addr src, dst;
	struct coop_fwd_tuple t;
	struct coop_xdp_vip vip;
	struct coop_fwd_flow f;
	struct coop_xdp_node node;
	uint32_t sport, dport, hash, owner, table_owner, slot;
	struct timespec now;
	uint32_t state = COOP_FWD_STATE_ABSENT;
	bool cached;
	uint8_t proto;
	int ret, verdict = COOP_FWD_FLOW_USE;

	(void)argc;
	if (!x)
		return -ENODEV;
	if (coop_addr_parse(argv[0], &src) < 0 || coop_addr_parse(argv[2], &dst) < 0 ||
	    src.family != dst.family) {
		snprintf(err, errlen, "SRC and DST must be two addresses of one family");
		return -EINVAL;
	}
	if (u32_arg(argv[1], 65535, &sport) < 0 || u32_arg(argv[3], 65535, &dport) < 0) {
		snprintf(err, errlen, "SPORT and DPORT are 0..65535");
		return -EINVAL;
	}
	if (proto_arg(argv[4], &proto) < 0) {
		snprintf(err, errlen, "'%s' is not a protocol (tcp, udp or 0..255)", argv[4]);
		return -EINVAL;
	}
	if (src.family == AF_INET)
		coop_fwd_tuple_v4(&t, src.v4.s_addr, dst.v4.s_addr, htons((uint16_t)sport),
				  htons((uint16_t)dport), proto);
	else
		coop_fwd_tuple_v6(&t, (const __be32 *)&src.v6, (const __be32 *)&dst.v6,
				  htons((uint16_t)sport), htons((uint16_t)dport), proto);
	coop_json_object_begin(out);
	if (!coop_fwd_proto_has_ports(proto) || !vip_match(x, &t, &vip)) {
		/* the data path passes it untouched to the local stack */
		coop_json_kv_bool(out, "vip", false);
		coop_json_kv_string(out, "verdict", "pass_not_vip");
		coop_json_key(out, "owner");
		coop_json_null(out);
		coop_json_object_end(out);
		return 0;
	}
	hash = coop_fwd_hash(&t);
	ret = live_owner(x, vip.service, hash, &table_owner, &slot);
	if (ret < 0) {
		snprintf(err, errlen, "cannot read the live table: %s", strerror(-ret));
		return ret;
	}
	owner = table_owner;
	cached = bpf_map_lookup_elem(x->fd_flows, &t, &f) == 0;
	if (cached) {
		if (bpf_map_lookup_elem(x->fd_nodes, &f.backend, &node) == 0 && node.family)
			state = node.state;
		clock_gettime(CLOCK_MONOTONIC, &now);
		/* a packet of an established flow: not a SYN */
		verdict = coop_fwd_flow_verdict(&f, proto, 0, state,
						(uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec,
						x->xcfg.udp_idle_ns);
		if (verdict == COOP_FWD_FLOW_USE)
			owner = f.backend;
	}
	coop_json_kv_bool(out, "vip", true);
	coop_json_kv_u64(out, "service", vip.service);
	coop_json_kv_u64(out, "hash", hash);
	coop_json_kv_u64(out, "slot", slot);
	put_node_id(out, "table", x, table_owner);
	if (cached) {
		put_node_id(out, "cached", x, f.backend);
		coop_json_kv_string(out, "cached_state", state_name(state));
		coop_json_kv_string(out, "cache_verdict", verdict_name(verdict));
	} else {
		coop_json_key(out, "cached");
		coop_json_null(out);
	}
	put_node_id(out, "owner", x, owner);
	coop_json_kv_string(out, "source", cached && verdict == COOP_FWD_FLOW_USE ? "cache" : "table");
	coop_json_kv_string(out, "verdict",
			    owner == COOP_FWD_NO_BACKEND ? "pass_no_backend" :
			    owner == x->xcfg.self_id     ? "pass_local" :
							   "encap");
	coop_json_object_end(out);
	return 0;
}

static const struct coop_admin_cmd cmds[] = {
	{ "show fwd", NULL,
	  "XDP forwarder: interface and mode, the flow cache per CPU and its evictions, the live "
	  "table's share per node, nodes with next hops, VIPs, and every data-path counter",
	  cmd_show, NULL },
	{ "fwd node add", "NAME ADDR [WEIGHT]",
	  "add a node (cluster address, weight 1 by default) and publish a new table once its "
	  "next hop is resolved",
	  cmd_node_add, NULL },
	{ "fwd node remove", "NAME",
	  "remove a node: publish a table without it; its cached flows move on their next packet",
	  cmd_node_remove, NULL },
	{ "fwd node weight", "NAME WEIGHT",
	  "change a node's share and publish a new table; weight 0 drains it (established "
	  "flows stay, new ones go elsewhere)",
	  cmd_node_weight, NULL },
	{ "fwd lookup", "SRC SPORT DST DPORT PROTO",
	  "which node owns this flow now, from the live maps: flow cache first, then the table",
	  cmd_lookup, NULL },
};

int coop_fwd_xdp_admin_register(struct coop *c, char *err, size_t errlen)
{
	size_t i;
	int ret;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ret = coop_admin_register(c, &cmds[i]);
		/* registered by an earlier start of this runtime: still good */
		if (ret < 0 && ret != -EEXIST) {
			snprintf(err, errlen, "cannot register admin command '%s': %s", cmds[i].words,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}
