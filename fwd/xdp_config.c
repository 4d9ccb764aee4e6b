/* xdp_config.c - the [forwarder] section: its key table (typed keys, and parsers for the lists and names), defaults and the whole-section check. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "fwd/bpf/coop_xdp.h"
#include "fwd/coop_fwd.h"
#include "fwd/xdp_ctl.h"

#define GUE_PORT_DEFAULT 6080
/* Largest flow cache: the core's limit, and a map the kernel can allocate. */
#define FLOWS_MAX (1u << 26)
#define FLOWS_MIN 1024u

bool coop_fwd_node_name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n >= COOP_FWD_NODE_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!islower(c) && !isdigit(c) && !strchr("_.-", c))
			return false;
	}
	return true;
}

void coop_fwd_cfg_init(struct coop_fwd_cfg *f)
{
	memset(f, 0, sizeof(*f));
	f->enabled = true;
	f->table_size = COOP_FWD_M_DEFAULT;
	f->flow_cache_size = COOP_XDP_FLOWS_DEFAULT;
	f->encap = COOP_FWD_ENCAP_GUE;
	f->gue_port = GUE_PORT_DEFAULT;
	f->xdp_mode = COOP_FWD_XDP_AUTO;
}

void coop_fwd_cfg_release(struct coop_fwd_cfg *f)
{
	free(f->vips);
	free(f->nodes);
	f->vips = NULL;
	f->nodes = NULL;
	f->n_vips = f->n_nodes = 0;
}

int coop_fwd_cfg_parse_interface(void *obj, const char *val, char *why, size_t whylen)
{
	struct coop_fwd_cfg *f = obj;
	if (!coop_cfg_ifname_ok(val))
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s' is not a link name (1..%d bytes, no '/', ':' or blanks)",
				    val, IF_NAMESIZE - 1);
	snprintf(f->ifname, sizeof(f->ifname), "%s", val);
	return 0;
}

/* "ADDR:PORT/PROTO", "[V6ADDR]:PORT/PROTO"; PORT 1..65535 or '*'. */
static int vip_entry(void *obj, size_t i, size_t n, char *e, char *why, size_t whylen)
{
	struct coop_fwd_cfg *f = obj;
	char orig[128], *slash, *colon, *addr = e;
	struct coop_fwd_vip_cfg *v;
	uint32_t port = 0;
	size_t j;

	if (!i && !(f->vips = calloc(n, sizeof(*f->vips))))
		return coop_cfg_why(why, whylen, -ENOMEM, "out of memory");
	v = &f->vips[i];
	snprintf(orig, sizeof(orig), "%s", e);
	slash = strrchr(e, '/');
	colon = slash ? memrchr(e, ':', (size_t)(slash - e)) : NULL;
	if (!slash || !colon)
		return coop_cfg_why(
		    why, whylen, -EINVAL,
		    "'%s' is not ADDR:PORT/PROTO (e.g. 198.18.100.1:2049/tcp, [2001:db8::1]:*/udp)",
		    orig);
	*slash = *colon = '\0';
	if (!strcasecmp(slash + 1, "tcp"))
		v->proto = IPPROTO_TCP;
	else if (!strcasecmp(slash + 1, "udp"))
		v->proto = IPPROTO_UDP;
	else
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s': unknown protocol '%s' (tcp or udp)", orig, slash + 1);
	if (strcmp(colon + 1, "*") &&
	    (coop_cfg_u32(colon + 1, false, &port) < 0 || port < 1 || port > 65535))
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': bad port (1..65535, or * for all)",
				    orig);
	v->port = (uint16_t)port;
	if (addr[0] == '[') {
		size_t len = strlen(addr);

		if (len < 3 || addr[len - 1] != ']')
			return coop_cfg_why(why, whylen, -EINVAL, "'%s': unbalanced [ ]", orig);
		addr[len - 1] = '\0';
		addr++;
	}
	if (coop_addr_parse(addr, &v->addr) < 0 || !coop_addr_unicast(&v->addr))
		return coop_cfg_why(why, whylen, -EINVAL, "'%s': '%s' is not a unicast address",
				    orig, addr);
	if (v->addr.family == AF_INET6 && e[0] != '[')
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s': write an IPv6 VIP as [ADDR]:PORT/PROTO", orig);
	f->n_vips = i + 1;
	for (j = 0; j < i; j++)
		if (coop_addr_equal(&f->vips[j].addr, &v->addr) && f->vips[j].port == v->port &&
		    f->vips[j].proto == v->proto)
			return coop_cfg_why(why, whylen, -EINVAL, "'%s' is listed twice", orig);
	if (f->n_vips > COOP_XDP_VIPS_MAX / 2)
		return coop_cfg_why(why, whylen, -EINVAL, "more than %u VIP entries",
				    COOP_XDP_VIPS_MAX / 2);
	return 0;
}

int coop_fwd_cfg_parse_vips(void *obj, const char *val, char *why, size_t whylen)
{
	return coop_cfg_list_each(val, obj, vip_entry, why, whylen);
}

/* "NAME ADDR [WEIGHT]". */
static int node_entry(void *obj, size_t i, size_t n, char *e, char *why, size_t whylen)
{
	struct coop_fwd_cfg *f = obj;
	char orig[160], *tok[4], *save = NULL;
	struct coop_fwd_node_cfg *nd;
	size_t k, j;

	if (!i && !(f->nodes = calloc(n, sizeof(*f->nodes))))
		return coop_cfg_why(why, whylen, -ENOMEM, "out of memory");
	nd = &f->nodes[i];
	snprintf(orig, sizeof(orig), "%s", e);
	for (k = 0; k < 4; k++)
		tok[k] = strtok_r(k ? NULL : e, " \t", &save);
	if (!tok[1] || tok[3])
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s' is not NAME ADDR [WEIGHT] (e.g. node1 198.18.1.1 2)",
				    orig);
	if (!coop_fwd_node_name_ok(tok[0]))
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s' is not a node name (1..%d of a-z 0-9 _ . -)", tok[0],
				    COOP_FWD_NODE_NAME_MAX - 1);
	snprintf(nd->name, sizeof(nd->name), "%s", tok[0]);
	if (coop_addr_parse(tok[1], &nd->addr) < 0 || !coop_addr_unicast(&nd->addr))
		return coop_cfg_why(why, whylen, -EINVAL, "node %s: '%s' is not a unicast address",
				    tok[0], tok[1]);
	nd->weight = 1;
	if (tok[2] &&
	    (coop_cfg_u32(tok[2], false, &nd->weight) < 0 || nd->weight > COOP_FWD_WEIGHT_MAX))
		return coop_cfg_why(why, whylen, -EINVAL,
				    "node %s: '%s' is not a weight (0..%u; 0 drains the node)",
				    tok[0], tok[2], COOP_FWD_WEIGHT_MAX);
	f->n_nodes = i + 1;
	if (f->n_nodes > COOP_XDP_NODES_MAX)
		return coop_cfg_why(why, whylen, -EINVAL, "more than %u nodes", COOP_XDP_NODES_MAX);
	for (j = 0; j < i; j++) {
		if (!strcmp(f->nodes[j].name, nd->name))
			return coop_cfg_why(why, whylen, -EINVAL, "node %s is listed twice",
					    nd->name);
		if (coop_addr_equal(&f->nodes[j].addr, &nd->addr))
			return coop_cfg_why(why, whylen, -EINVAL,
					    "nodes %s and %s have the same address %s",
					    f->nodes[j].name, nd->name, tok[1]);
	}
	return 0;
}

int coop_fwd_cfg_parse_nodes(void *obj, const char *val, char *why, size_t whylen)
{
	return coop_cfg_list_each(val, obj, node_entry, why, whylen);
}

int coop_fwd_cfg_parse_self(void *obj, const char *val, char *why, size_t whylen)
{
	struct coop_fwd_cfg *f = obj;

	if (!coop_fwd_node_name_ok(val))
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s' is not a node name (1..%d of a-z 0-9 _ . -)", val,
				    COOP_FWD_NODE_NAME_MAX - 1);
	snprintf(f->self, sizeof(f->self), "%s", val);
	return 0;
}

int coop_fwd_cfg_check(const struct coop_fwd_cfg *f, bool links, const char **key, char *why,
		       size_t whylen)
{
	const struct coop_fwd_node_cfg *self = NULL;
	size_t i;

	/* A value first (the key itself may be all the section has so far):
	 * the typed key checked the range, Maglev needs a prime. */
	*key = "table_size";
	if (coop_fwd_prime_next(f->table_size) != f->table_size)
		return coop_cfg_why(why, whylen, -EINVAL,
				    "%u is not prime (Maglev needs a prime size; next prime: %u)",
				    f->table_size, coop_fwd_prime_next(f->table_size));
	*key = NULL;
	if (!f->ifname[0]) {
		*key = "interface";
		return coop_cfg_why(why, whylen, -EINVAL,
				    "required: the link VIP traffic arrives on");
	}
	if (!f->n_vips) {
		*key = "vips";
		return coop_cfg_why(why, whylen, -EINVAL, "required: at least one ADDR:PORT/PROTO");
	}
	if (!f->n_nodes) {
		*key = "nodes";
		return coop_cfg_why(why, whylen, -EINVAL,
				    "required: the cluster's nodes, this one included");
	}
	if (!f->self[0]) {
		*key = "self";
		return coop_cfg_why(why, whylen, -EINVAL,
				    "required: which of the nodes this one is");
	}
	for (i = 0; i < f->n_nodes; i++) {
		if (!strcmp(f->nodes[i].name, f->self))
			self = &f->nodes[i];
		/* One outer family: this node has one cluster address, the
		 * source of every tunnel it sends. */
		if (f->nodes[i].addr.family != f->nodes[0].addr.family) {
			*key = "nodes";
			return coop_cfg_why(why, whylen, -EINVAL,
					    "nodes %s and %s have addresses of different families; "
					    "cluster addresses are all IPv4 or all IPv6",
					    f->nodes[0].name, f->nodes[i].name);
		}
	}
	if (!self) {
		*key = "self";
		return coop_cfg_why(why, whylen, -EINVAL, "'%s' is not one of the nodes", f->self);
	}
	*key = "table_size";
	if (coop_fwd_maglev_check_size(f->table_size, f->n_nodes, why, whylen) < 0)
		return -EINVAL;
	*key = "interface";
	if (links && !if_nametoindex(f->ifname))
		return coop_cfg_why(why, whylen, -EINVAL, "no link '%s' in coopd's namespace",
				    f->ifname);
	*key = NULL;
	return 0;
}

/* --- the key table ---------------------------------------------------------------- */

static const struct coop_cfg_name encaps[] = {
	{ "gue", COOP_FWD_ENCAP_GUE },
	{ "ipip", COOP_FWD_ENCAP_IPIP },
	{ NULL, 0 },
};

static const struct coop_cfg_name xdp_modes[] = {
	{ "auto", COOP_FWD_XDP_AUTO },
	{ "native", COOP_FWD_XDP_NATIVE },
	{ "generic", COOP_FWD_XDP_GENERIC },
	{ NULL, 0 },
};

/* The [forwarder] section (docs/xdp.md). */
static const struct coop_cfg_key fwd_keys[] = {
	{ { "forwarder", "interface", "link name, 1..15 bytes", "none (required)",
	    "The link VIP traffic arrives on (the uplink towards the ECMP router). The XDP "
	    "program is attached to it; tunnels to other nodes leave by it, or by the link "
	    "the route to a node names." },
	  .parse = coop_fwd_cfg_parse_interface },
	{ { "forwarder", "vips",
	    "ADDR:PORT/PROTO[, ...]; IPv6 as [ADDR]:PORT/PROTO; PORT 1..65535 or *; PROTO tcp or udp",
	    "none (required)",
	    "The virtual addresses the cluster serves, with port and protocol (* takes every "
	    "port). Every node lists the same VIPs and has them as local addresses (on lo or "
	    "a VS) so that the flows it owns are accepted." },
	  .parse = coop_fwd_cfg_parse_vips },
	{ { "forwarder", "nodes",
	    "NAME ADDR [WEIGHT][, ...]; NAME 1..31 of a-z 0-9 _ . -; WEIGHT 0..10000",
	    "none (required)",
	    "Every node of the cluster, this one included: its name (the Maglev key: the same "
	    "list on every node gives the same table everywhere), its cluster address (where "
	    "tunnels to it go) and a weight (default 1; 0 drains the node). Cluster "
	    "addresses are all IPv4 or all IPv6." },
	  .parse = coop_fwd_cfg_parse_nodes },
	{ { "forwarder", "self", "a NAME from nodes", "none (required)",
	    "Which of the nodes this one is: flows it owns pass to the local stack, its "
	    "cluster address is the source of its tunnels and where tunnels to it end." },
	  .parse = coop_fwd_cfg_parse_self },
	{ { "forwarder", "table_size", "a prime, 101..16777213, at least 100 x the nodes",
	    "65537",
	    "Entries of the Maglev lookup table; more entries spread flows more evenly and "
	    "move fewer of them when the node set changes." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_fwd_cfg, table_size),
	  .what = "a table size", .hint = "Maglev needs a prime", .min = 101, .max = COOP_FWD_M_MAX },
	{ { "forwarder", "flow_cache_size", "1024..67108864", "65536",
	    "Flows the data path remembers (an LRU map): a cached flow keeps its node through "
	    "changes of the node set, as long as that node stays in the set." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_fwd_cfg, flow_cache_size),
	  .what = "a flow count", .min = FLOWS_MIN, .max = FLOWS_MAX },
	{ { "forwarder", "encap", "gue or ipip", "gue",
	    "How packets travel to the node that owns their flow: gue (IP in GUE in UDP, the "
	    "flow hash in the outer source port so receivers spread flows over their queues) "
	    "or ipip. Every node accepts both." },
	  .type = COOP_CFG_ENUM, COOP_CFG_AT(struct coop_fwd_cfg, encap),
	  .what = "an encapsulation", .names = encaps },
	{ { "forwarder", "gue_port", "1..65535", "6080",
	    "UDP destination port of GUE tunnels; the same on every node." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_fwd_cfg, gue_port),
	  .what = "a UDP port", .min = 1, .max = 65535 },
	{ { "forwarder", "mtu", "auto, or 1336..65535", "auto (the interface's MTU)",
	    "Largest encapsulated packet (IP bytes) the links between nodes carry. A client "
	    "packet that would not fit once encapsulated is answered with ICMP fragmentation "
	    "needed / packet too big; see docs/xdp.md for the MTU and MSS plan." },
	  .type = COOP_CFG_U32, COOP_CFG_AT(struct coop_fwd_cfg, mtu),
	  .what = "a cluster MTU", .zero_word = "auto", .zero_means = "the interface's MTU",
	  .min = COOP_XDP_MTU_MIN, .max = 65535,
	  .hint = "encapsulated packets must still carry 1280-byte IPv6 packets" },
	{ { "forwarder", "xdp_mode", "auto, native or generic", "auto",
	    "auto: native XDP, or generic (skb) mode when the driver has none, said in the "
	    "log; native or generic insist on one." },
	  .type = COOP_CFG_ENUM, COOP_CFG_AT(struct coop_fwd_cfg, xdp_mode),
	  .what = "an XDP mode", .names = xdp_modes },
};

static void tab_init(void *obj)
{
	coop_fwd_cfg_init(obj);
}

static int tab_check(const void *obj, bool links, const char **key, char *why, size_t whylen)
{
	return coop_fwd_cfg_check(obj, links, key, why, whylen);
}

static void tab_release(void *obj)
{
	coop_fwd_cfg_release(obj);
}

const struct coop_cfg_keytab coop_fwd_keytabs[1] = {
	{ .section = "forwarder", .keys = fwd_keys, .n = sizeof(fwd_keys) / sizeof(fwd_keys[0]),
	  .obj_off = offsetof(struct coop_config, fwd), .init = tab_init, .check = tab_check,
	  .release = tab_release },
};
