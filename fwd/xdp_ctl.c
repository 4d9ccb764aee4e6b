/* xdp_ctl.c - the XDP forwarder's control plane: load and attach the embedded program, fill its maps, build and publish Maglev tables, change the node set at run time, detach. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "core/module.h"
#include "core/runtime.h"
#include "fwd/xdp_ctl.h"
#include "fwd/xdp_priv.h"

/* How long a new table waits for a node's next hop before it is published
 * anyway (its flows are then dropped, counted, until the MAC arrives). */
#define PUBLISH_WAIT 3.0
#define PUBLISH_POLL 0.02
/* Kernel memory per flow-cache entry, about: element, key, value, bucket. */
#define FLOW_ENTRY_BYTES 128u

static void __attribute__((format(printf, 3, 4))) errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* libbpf talks on stderr by default; route its warnings into coop's log. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	/* libbpf's lines start with "libbpf: " already */
	coop_log(level == LIBBPF_WARN ? COOP_LOG_WARN : COOP_LOG_INFO, "%s", line);
	return 0;
}

static void addr_to_be32(const struct coop_addr *a, __be32 out[4], __u8 *family)
{
	memset(out, 0, 4 * sizeof(__be32));
	if (a->family == AF_INET) {
		out[0] = a->v4.s_addr;
		*family = COOP_FWD_FAMILY_V4;
	} else {
		memcpy(out, &a->v6, 16);
		*family = COOP_FWD_FAMILY_V6;
	}
}

/* --- nodes ------------------------------------------------------------------------ */

struct xdp_node *coop_fwd_xdp_node_find(struct coop_fwd_xdp *x, const char *name)
{
	size_t i;

	for (i = 0; i < x->n_nodes; i++)
		if (!strcmp(x->nodes[i].name, name))
			return &x->nodes[i];
	return NULL;
}

int coop_fwd_xdp_peer_forget(struct coop_fwd_xdp *x, const struct coop_addr *addr, uint32_t id)
{
	struct coop_xdp_peer_key pk;
	uint32_t cur;

	memset(&pk, 0, sizeof(pk));
	addr_to_be32(addr, pk.addr, &pk.family);
	if (bpf_map_lookup_elem(x->fd_peers, &pk, &cur) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* a node added since with this address keeps it */
	if (cur != id)
		return 0;
	if (bpf_map_delete_elem(x->fd_peers, &pk) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int coop_fwd_xdp_node_write(struct coop_fwd_xdp *x, const struct xdp_node *n, uint32_t state)
{
	struct coop_xdp_peer_key pk;
	struct coop_xdp_node v;
	int ret;

	/* A node in the set may send us tunnels from now on; a removed one no
	 * longer (its packets still in flight are dropped, drop_tunnel_peer:
	 * what it sends now is no flow of ours, and its address may pass to
	 * a host outside the cluster). The entry is written before the node
	 * and deleted after it: the data path trusts only a peer whose node
	 * entry is not absent. */
	if (state != COOP_FWD_STATE_ABSENT) {
		memset(&pk, 0, sizeof(pk));
		addr_to_be32(&n->addr, pk.addr, &pk.family);
		if (bpf_map_update_elem(x->fd_peers, &pk, &n->id, BPF_ANY) < 0)
			return -errno;
	}
	memset(&v, 0, sizeof(v));
	addr_to_be32(&n->addr, v.addr, &v.family);
	v.state = (__u8)state;
	v.flags = (n->self ? COOP_XDP_NODE_SELF : 0) | (n->resolved ? COOP_XDP_NODE_RESOLVED : 0);
	v.ifindex = n->egress;
	memcpy(v.dmac, n->dmac, sizeof(v.dmac));
	memcpy(v.smac, n->smac, sizeof(v.smac));
	v.vlan = n->vlan;
	if (bpf_map_update_elem(x->fd_nodes, &n->id, &v, BPF_ANY) < 0)
		return -errno;
	if (state == COOP_FWD_STATE_ABSENT && (ret = coop_fwd_xdp_peer_forget(x, &n->addr, n->id)) < 0)
		return ret;
	return 0;
}

bool coop_fwd_xdp_all_resolved(const struct coop_fwd_xdp *x)
{
	size_t i;

	for (i = 0; i < x->n_nodes; i++)
		if (x->nodes[i].weight && !x->nodes[i].self && !x->nodes[i].resolved)
			return false;
	return true;
}

/* Forget cached flows of id before the id names another node: collect
 * the keys first (deleting while walking would restart the walk). */
static void flows_purge(struct coop_fwd_xdp *x, uint32_t id)
{
	struct coop_fwd_tuple cur, next, *del = NULL, *grown;
	struct coop_fwd_flow f;
	size_t n = 0, cap = 0, i, purged = 0;
	bool first = true;

	while (bpf_map_get_next_key(x->fd_flows, first ? NULL : &cur, &next) == 0) {
		first = false;
		cur = next;
		if (bpf_map_lookup_elem(x->fd_flows, &cur, &f) < 0 || f.backend != id)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			grown = realloc(del, cap * sizeof(*del));
			if (!grown)
				break;
			del = grown;
		}
		del[n++] = cur;
	}
	for (i = 0; i < n; i++)
		purged += bpf_map_delete_elem(x->fd_flows, &del[i]) == 0;
	free(del);
	coop_info("forwarder: node id %u reused: %zu cached flows of its former node forgotten", id,
		  purged);
}

int coop_fwd_xdp_id_alloc(const struct coop_fwd_xdp *x, const char *name, uint32_t *id,
			  size_t *ridx)
{
	size_t i;

	for (i = 0; i < x->n_retired; i++) {
		if (!strcmp(x->retired[i].name, name)) {
			*id = x->retired[i].id;
			*ridx = i;
			return 0;
		}
	}
	*ridx = SIZE_MAX;
	if (x->next_id < COOP_XDP_NODES_MAX) {
		*id = x->next_id;
		return 0;
	}
	if (!x->n_retired)
		return -ENOSPC;
	*id = x->retired[0].id;
	*ridx = 0;
	return 0;
}

void coop_fwd_xdp_id_commit(struct coop_fwd_xdp *x, const char *name, uint32_t id, size_t ridx)
{
	if (ridx == SIZE_MAX) {
		x->next_id++;
		return;
	}
	if (strcmp(x->retired[ridx].name, name))
		flows_purge(x, id);
	memmove(&x->retired[ridx], &x->retired[ridx + 1],
		(x->n_retired - ridx - 1) * sizeof(*x->retired));
	x->n_retired--;
}

int coop_fwd_xdp_id_retire(struct coop_fwd_xdp *x, const struct xdp_node *n)
{
	struct xdp_retired *r = realloc(x->retired, (x->n_retired + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	x->retired = r;
	snprintf(r[x->n_retired].name, sizeof(r->name), "%s", n->name);
	r[x->n_retired].id = n->id;
	x->n_retired++;
	return 0;
}

/* --- tables ---------------------------------------------------------------------------- */

int coop_fwd_xdp_table_build_of(const struct coop_fwd_xdp *x, const struct xdp_node *nodes,
				size_t n, struct coop_fwd_maglev **out, char *err, size_t errlen)
{
	struct coop_fwd_maglev_config mc = { .m = x->cfg->table_size, .mode = COOP_FWD_MODE_MAGLEV };
	struct coop_fwd_backend *b = calloc(n + 1, sizeof(*b));
	size_t i;
	int ret;

	if (!b) {
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		b[i].key = nodes[i].name;
		b[i].keylen = strlen(nodes[i].name);
		b[i].id = nodes[i].id;
		b[i].weight = nodes[i].weight;
	}
	ret = coop_fwd_maglev_build(&mc, b, n, out, err, errlen);
	free(b);
	return ret;
}

/* The Maglev table of the current node set. */
static int table_build(const struct coop_fwd_xdp *x, struct coop_fwd_maglev **out, char *err,
		       size_t errlen)
{
	return coop_fwd_xdp_table_build_of(x, x->nodes, x->n_nodes, out, err, errlen);
}

/* Copy t into a new inner array map and swap it into the outer map: one
 * update, so a packet sees the old table or the new one. */
static int table_publish(struct coop_fwd_xdp *x, struct coop_fwd_maglev *t, char *err,
			 size_t errlen)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_INNER_MAP);
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	const uint32_t *entries;
	uint32_t m, i, count, svc = XDP_SERVICE, *keys = NULL, *vals = NULL;
	int fd, ret = 0;

	entries = coop_fwd_maglev_entries(t, &m);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "coop_xdp_table", sizeof(__u32), sizeof(__u32),
			    m + 1, &mo);
	if (fd < 0) {
		ret = -errno;
		errf(err, errlen, "cannot create a table map of %u entries: %s", m + 1, strerror(-ret));
		return ret;
	}
	keys = malloc((size_t)(m + 1) * sizeof(*keys));
	vals = malloc((size_t)(m + 1) * sizeof(*vals));
	if (!keys || !vals) {
		ret = -ENOMEM;
		errf(err, errlen, "out of memory");
		goto out_close;
	}
	for (i = 0; i <= m; i++)
		keys[i] = i;
	vals[0] = m; /* header: Maglev mode, m entries */
	memcpy(vals + 1, entries, (size_t)m * sizeof(*vals));
	count = m + 1;
	if (bpf_map_update_batch(fd, keys, vals, &count, &bo) < 0) {
		/* kernels without batch ops on arrays: one by one */
		for (i = 0; i <= m; i++) {
			if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY) < 0) {
				ret = -errno;
				errf(err, errlen, "cannot fill the table map: %s", strerror(-ret));
				goto out_close;
			}
		}
	}
	if (bpf_map_update_elem(x->fd_tables, &svc, &fd, BPF_ANY) < 0) {
		ret = -errno;
		errf(err, errlen, "cannot publish the table: %s", strerror(-ret));
		goto out_close;
	}
	coop_fwd_maglev_free(x->table);
	x->table = t;
	x->publications++;
out_close:
	free(keys);
	free(vals);
	close(fd); /* the outer map holds the live table */
	return ret;
}

static void publish_timer_stop(struct coop_fwd_xdp *x)
{
	x->publish_pending = false;
	ev_timer_stop(x->coop->loop, &x->publish_timer);
}

int coop_fwd_xdp_publish(struct coop_fwd_xdp *x, struct coop_fwd_maglev *t, bool wait,
			 bool *published, char *err, size_t errlen)
{
	int ret;

	if (published)
		*published = false;
	if (wait && !coop_fwd_xdp_all_resolved(x)) {
		coop_fwd_maglev_free(t);
		if (!x->publish_pending) {
			x->publish_pending = true;
			x->publish_deadline = ev_now(x->coop->loop) + PUBLISH_WAIT;
			ev_timer_again(x->coop->loop, &x->publish_timer);
		}
		return 0;
	}
	publish_timer_stop(x);
	ret = table_publish(x, t, err, errlen);
	if (ret < 0) {
		coop_fwd_maglev_free(t);
		return ret;
	}
	if (published)
		*published = true;
	return 0;
}

/* Build from the current set and publish now (the pending case); late:
 * a next hop is still unresolved. */
static void publish_now(struct coop_fwd_xdp *x, bool late)
{
	struct coop_fwd_maglev *t;
	char err[256];

	if (table_build(x, &t, err, sizeof(err)) < 0 ||
	    coop_fwd_xdp_publish(x, t, false, NULL, err, sizeof(err)) < 0) {
		coop_err("forwarder: pending table not published: %s", err);
		publish_timer_stop(x);
		return;
	}
	if (late)
		coop_warn("forwarder: table published with a next hop still unresolved: flows of that node are dropped (drop_no_neigh) until it resolves");
	else
		coop_info("forwarder: table published (next hops resolved)");
}

void coop_fwd_xdp_publish_retry(struct coop_fwd_xdp *x)
{
	if (x->publish_pending && coop_fwd_xdp_all_resolved(x))
		publish_now(x, false);
}

static void publish_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct coop_fwd_xdp *x = (struct coop_fwd_xdp *)((char *)w - offsetof(struct coop_fwd_xdp, publish_timer));

	(void)revents;
	if (!x->publish_pending) {
		ev_timer_stop(loop, w);
		return;
	}
	if (coop_fwd_xdp_all_resolved(x))
		publish_now(x, false);
	else if (ev_now(loop) >= x->publish_deadline)
		publish_now(x, true);
}

/* Entries [COOP_XDP_TABLE_HDR, HDR + n) of inner table fd into vals: in
 * batches (one syscall instead of one per entry), else one by one. */
static int table_entries(int fd, uint32_t n, uint32_t *vals)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	uint32_t *keys, *all, count = n + 1, out, i;
	int ret = 0;

	/* zeroed: valgrind cannot see the batch lookup write them */
	keys = calloc((size_t)n + 1, sizeof(*keys));
	all = calloc((size_t)n + 1, sizeof(*all));
	if (!keys || !all) {
		ret = -ENOMEM;
		goto out_free;
	}
	/* -ENOENT: the walk reached the end, count says how far */
	if ((bpf_map_lookup_batch(fd, NULL, &out, keys, all, &count, &bo) == 0 || errno == ENOENT) &&
	    count == n + 1) {
		memcpy(vals, all + COOP_XDP_TABLE_HDR, (size_t)n * sizeof(*vals));
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		uint32_t k = COOP_XDP_TABLE_HDR + i;

		if (bpf_map_lookup_elem(fd, &k, &vals[i]) < 0) {
			ret = -errno;
			break;
		}
	}
out_free:
	free(keys);
	free(all);
	return ret;
}

int coop_fwd_xdp_table_read(struct coop_fwd_xdp *x, uint32_t service, uint32_t **entries,
			    uint32_t *m, bool *ecmp)
{
	uint32_t inner_id, hdr, zero = 0, n;
	uint32_t *vals;
	int fd, ret = 0;

	*entries = NULL;
	*m = 0;
	if (bpf_map_lookup_elem(x->fd_tables, &service, &inner_id) < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &zero, &hdr) < 0) {
		ret = -errno;
		goto out_close;
	}
	n = COOP_XDP_TABLE_COUNT(hdr);
	vals = malloc(((size_t)n + 1) * sizeof(*vals));
	if (!vals) {
		ret = -ENOMEM;
		goto out_close;
	}
	ret = table_entries(fd, n, vals);
	if (ret < 0) {
		free(vals);
		goto out_close;
	}
	*entries = vals;
	*m = n;
	*ecmp = hdr & COOP_XDP_TABLE_ECMP;
out_close:
	close(fd);
	return ret;
}

int coop_fwd_xdp_counter_read(struct coop_fwd_xdp *x, uint32_t id, struct coop_xdp_counter *out)
{
	struct coop_xdp_counter *v = calloc((size_t)x->ncpus, sizeof(*v));
	int i;

	memset(out, 0, sizeof(*out));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(x->fd_stats, &id, v) < 0) {
		free(v);
		return -errno;
	}
	for (i = 0; i < x->ncpus; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
	}
	free(v);
	return 0;
}

/* --- runtime changes of the node set ---------------------------------------------- */

static const char *node_names(const struct coop_fwd_xdp *x, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < x->n_nodes && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", x->nodes[i].name);
	return x->n_nodes ? buf : "none";
}

static int no_node(const struct coop_fwd_xdp *x, const char *name, char *err, size_t errlen)
{
	char names[256];

	errf(err, errlen, "no node '%s' (nodes: %s)", name, node_names(x, names, sizeof(names)));
	return -ENOENT;
}

int coop_fwd_xdp_node_add(struct coop_fwd_xdp *x, const char *name, const struct coop_addr *addr,
			  uint32_t weight, bool *published, char *err, size_t errlen)
{
	const struct xdp_node *self = NULL;
	struct coop_fwd_maglev *t;
	struct xdp_node *n;
	char a[INET6_ADDRSTRLEN];
	size_t i, ridx;
	uint32_t id;
	int ret;

	*published = false;
	if (!coop_fwd_node_name_ok(name)) {
		errf(err, errlen, "'%s' is not a node name (1..%d of a-z 0-9 _ . -)", name,
		     COOP_FWD_NODE_NAME_MAX - 1);
		return -EINVAL;
	}
	if (weight > COOP_FWD_WEIGHT_MAX) {
		errf(err, errlen, "weight %u is above %u", weight, COOP_FWD_WEIGHT_MAX);
		return -EINVAL;
	}
	if (coop_fwd_xdp_node_find(x, name)) {
		errf(err, errlen, "node '%s' exists; use `fwd node weight` to change it", name);
		return -EEXIST;
	}
	for (i = 0; i < x->n_nodes; i++) {
		if (x->nodes[i].self)
			self = &x->nodes[i];
		if (x->nodes[i].addr.family == addr->family &&
		    !memcmp(&x->nodes[i].addr.v6, &addr->v6,
			    addr->family == AF_INET ? 4 : 16)) {
			errf(err, errlen, "address %s belongs to node '%s'", coop_addr_str(addr, a, sizeof(a)),
			     x->nodes[i].name);
			return -EEXIST;
		}
	}
	if (addr->family != (self ? self->addr.family : x->cfg->nodes[0].addr.family)) {
		errf(err, errlen, "%s: cluster addresses are all IPv%c here",
		     coop_addr_str(addr, a, sizeof(a)),
		     x->cfg->nodes[0].addr.family == AF_INET ? '4' : '6');
		return -EINVAL;
	}
	/* this node back in its own set: it keeps its cluster address, the
	 * source of its tunnels */
	for (i = 0; i < x->cfg->n_nodes; i++) {
		const struct coop_fwd_node_cfg *nc = &x->cfg->nodes[i];

		if (!strcmp(nc->name, x->cfg->self) && !strcmp(name, nc->name) &&
		    memcmp(&nc->addr.v6, &addr->v6, addr->family == AF_INET ? 4 : 16)) {
			errf(err, errlen, "'%s' is this node: its address is %s", name,
			     coop_addr_str(&nc->addr, a, sizeof(a)));
			return -EINVAL;
		}
	}
	ret = coop_fwd_xdp_id_alloc(x, name, &id, &ridx);
	if (ret < 0) {
		errf(err, errlen, "no free node id (at most %u nodes)", COOP_XDP_NODES_MAX);
		return ret;
	}
	if (x->n_nodes == x->cap_nodes) {
		size_t cap = x->cap_nodes ? 2 * x->cap_nodes : 8;

		n = realloc(x->nodes, cap * sizeof(*n));
		if (!n) {
			errf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		x->nodes = n;
		x->cap_nodes = cap;
	}
	n = &x->nodes[x->n_nodes++];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->addr = *addr;
	n->weight = weight;
	n->id = id;
	n->self = !strcmp(name, x->cfg->self);
	/* the table must build (size rules) before any map changes */
	ret = table_build(x, &t, err, errlen);
	if (ret < 0) {
		x->n_nodes--;
		return ret;
	}
	coop_fwd_xdp_id_commit(x, name, id, ridx);
	coop_fwd_xdp_node_resolve(x, n);
	ret = coop_fwd_xdp_node_write(x, n, coop_fwd_xdp_node_state(n));
	if (ret < 0) {
		errf(err, errlen, "cannot write node '%s': %s", name, strerror(-ret));
		coop_fwd_maglev_free(t);
		coop_fwd_xdp_id_retire(x, n);
		x->n_nodes--;
		return ret;
	}
	coop_info("forwarder: node %s (%s, id %u, weight %u) added", name,
		  coop_addr_str(addr, a, sizeof(a)), id, weight);
	return coop_fwd_xdp_publish(x, t, true, published, err, errlen);
}

int coop_fwd_xdp_node_remove(struct coop_fwd_xdp *x, const char *name, char *err, size_t errlen)
{
	struct coop_fwd_maglev *t;
	struct xdp_node *n = coop_fwd_xdp_node_find(x, name), gone;
	size_t idx;
	int ret;

	if (!n)
		return no_node(x, name, err, errlen);
	gone = *n;
	idx = (size_t)(n - x->nodes);
	memmove(n, n + 1, (x->n_nodes - idx - 1) * sizeof(*n));
	x->n_nodes--;
	ret = table_build(x, &t, err, errlen);
	if (ret == 0)
		ret = coop_fwd_xdp_publish(x, t, false, NULL, err, errlen);
	if (ret < 0) {
		memmove(&x->nodes[idx + 1], &x->nodes[idx], (x->n_nodes - idx) * sizeof(*n));
		x->nodes[idx] = gone;
		x->n_nodes++;
		return ret;
	}
	/* Tables no longer name it; now cached flows of it are replaced. */
	ret = coop_fwd_xdp_node_write(x, &gone, COOP_FWD_STATE_ABSENT);
	if (ret < 0)
		coop_warn("forwarder: node %s: cannot mark it absent: %s", name, strerror(-ret));
	if (coop_fwd_xdp_id_retire(x, &gone) < 0)
		coop_warn("forwarder: node %s: id %u not kept for it (out of memory)", name, gone.id);
	coop_info("forwarder: node %s (id %u) removed", name, gone.id);
	return 0;
}

int coop_fwd_xdp_node_weight(struct coop_fwd_xdp *x, const char *name, uint32_t weight,
			     bool *published, char *err, size_t errlen)
{
	struct xdp_node *n = coop_fwd_xdp_node_find(x, name);
	struct coop_fwd_maglev *t;
	uint32_t old;
	int ret;

	*published = false;
	if (!n)
		return no_node(x, name, err, errlen);
	if (weight > COOP_FWD_WEIGHT_MAX) {
		errf(err, errlen, "weight %u is above %u", weight, COOP_FWD_WEIGHT_MAX);
		return -EINVAL;
	}
	old = n->weight;
	n->weight = weight;
	ret = table_build(x, &t, err, errlen);
	if (ret < 0) {
		n->weight = old;
		return ret;
	}
	if (!old && weight) {
		/* back from drain: active before tables send it new flows */
		ret = coop_fwd_xdp_node_write(x, n, COOP_FWD_STATE_ACTIVE);
		if (ret == 0)
			ret = coop_fwd_xdp_publish(x, t, true, published, err, errlen);
		else
			coop_fwd_maglev_free(t);
	} else {
		ret = coop_fwd_xdp_publish(x, t, false, published, err, errlen);
		/* drain: tables without it first, then keep only its flows */
		if (ret == 0 && old && !weight)
			ret = coop_fwd_xdp_node_write(x, n, COOP_FWD_STATE_DRAINING);
	}
	if (ret < 0) {
		if (!err[0])
			errf(err, errlen, "node '%s': %s", name, strerror(-ret));
		return ret;
	}
	coop_info("forwarder: node %s weight %u -> %u", name, old, weight);
	return 0;
}

/* --- load, attach, detach --------------------------------------------------------- */

static int map_fd(struct coop_fwd_xdp *x, const char *name, int *fd, char *err, size_t errlen)
{
	struct bpf_map *m = bpf_object__find_map_by_name(x->obj, name);

	*fd = m ? bpf_map__fd(m) : -1;
	if (*fd < 0) {
		errf(err, errlen, "the XDP object has no map '%s' (built from another coop_xdp.h?)",
		     name);
		return -ENOENT;
	}
	return 0;
}

int coop_fwd_xdp_lru_size(uint32_t want, int online, int possible, uint32_t *share,
			  uint32_t *entries)
{
	uint64_t s, m;

	if (online < 1 || possible < 1)
		return -EINVAL;
	if (online > possible)
		online = possible;
	s = ((uint64_t)want + (uint64_t)online - 1) / (uint64_t)online;
	m = s * (uint64_t)possible;
	if (m > UINT32_MAX)
		return -E2BIG;
	*share = (uint32_t)s;
	*entries = (uint32_t)m;
	return 0;
}

/*
 * Size one of the per-CPU LRU maps (flow cache, fragment table) before
 * load: want entries shared by the online CPUs, each CPU's share held for
 * every possible CPU (the kernel's split; a CPU brought online later finds
 * its share too). *share: entries per CPU. 0 or -errno with err filled.
 */
static int lru_size(struct coop_fwd_xdp *x, const char *name, const char *what, uint32_t want,
		    uint32_t *share, uint32_t *entries, char *err, size_t errlen)
{
	struct bpf_map *m = bpf_object__find_map_by_name(x->obj, name);
	int ret;

	ret = coop_fwd_xdp_lru_size(want, x->ncpus_online, x->ncpus, share, entries);
	if (ret < 0) {
		errf(err, errlen,
		     "%s: %u entries over %d online CPUs are %u per CPU, which for the kernel's %d "
		     "possible CPUs is more than a map holds; lower it",
		     what, want, x->ncpus_online, (want + x->ncpus_online - 1) / x->ncpus_online,
		     x->ncpus);
		return ret;
	}
	if (!m || bpf_map__set_max_entries(m, *entries) < 0) {
		errf(err, errlen, "cannot size the %s (map %s)", what, name);
		return -ENOENT;
	}
	return 0;
}

static int load(struct coop_fwd_xdp *x, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "coop_xdp");
	size_t len = (size_t)(coop_fwd_xdp_obj_end - coop_fwd_xdp_obj);
	struct bpf_program *prog;
	uint32_t frag_share, frag_entries;
	int ret;

	x->obj = bpf_object__open_mem(coop_fwd_xdp_obj, len, &oo);
	if (!x->obj) {
		ret = -errno;
		errf(err, errlen, "cannot open the embedded XDP object (%zu bytes): %s", len,
		     strerror(-ret));
		return ret;
	}
	if ((ret = lru_size(x, COOP_XDP_MAP_FLOWS, "flow cache (flow_cache_size)",
			    x->cfg->flow_cache_size, &x->flow_share, &x->flow_entries, err,
			    errlen)) < 0 ||
	    (ret = lru_size(x, COOP_XDP_MAP_FRAGS, "fragment table", COOP_XDP_FRAGS_DEFAULT,
			    &frag_share, &frag_entries, err, errlen)) < 0)
		return ret;
	ret = bpf_object__load(x->obj);
	if (ret < 0) {
		errf(err, errlen, "cannot load the XDP program: %s (kernel with BPF and CAP_BPF/CAP_SYS_ADMIN needed; the flow cache is %u entries: %u per CPU for %d possible CPUs)",
		     strerror(-ret), x->flow_entries, x->flow_share, x->ncpus);
		return ret;
	}
	if (x->ncpus > x->ncpus_online)
		coop_warn("forwarder: flow cache of %u flows per CPU held for all %d possible CPUs, "
			  "%d of them online: %u entries (%u MB)",
			  x->flow_share, x->ncpus, x->ncpus_online, x->flow_entries,
			  (unsigned)(((uint64_t)x->flow_entries * FLOW_ENTRY_BYTES) >> 20));
	prog = bpf_object__find_program_by_name(x->obj, COOP_XDP_PROG_NAME);
	x->prog_fd = prog ? bpf_program__fd(prog) : -1;
	if (x->prog_fd < 0) {
		errf(err, errlen, "the XDP object has no program '%s'", COOP_XDP_PROG_NAME);
		return -ENOENT;
	}
	if ((ret = map_fd(x, COOP_XDP_MAP_CONFIG, &x->fd_config, err, errlen)) < 0 ||
	    (ret = map_fd(x, COOP_XDP_MAP_VIPS, &x->fd_vips, err, errlen)) < 0 ||
	    (ret = map_fd(x, COOP_XDP_MAP_VIP_SLOTS, &x->fd_vslots, err, errlen)) < 0 ||
	    (ret = map_fd(x, COOP_XDP_MAP_PEERS, &x->fd_peers, err, errlen)) < 0 ||
	    (ret = map_fd(x, COOP_XDP_MAP_TABLES, &x->fd_tables, err, errlen)) < 0 ||
	    (ret = map_fd(x, COOP_XDP_MAP_NODES, &x->fd_nodes, err, errlen)) < 0 ||
	    (ret = map_fd(x, COOP_XDP_MAP_FLOWS, &x->fd_flows, err, errlen)) < 0 ||
	    (ret = map_fd(x, COOP_XDP_MAP_STATS, &x->fd_stats, err, errlen)) < 0)
		return ret;
	return 0;
}

/* A program already on the link: ours from an earlier coopd that died
 * (replace it), or somebody else's (refuse: coop never removes it). */
static int clear_stale(struct coop_fwd_xdp *x, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, qo);
	struct bpf_prog_info info;
	uint32_t len = sizeof(info), flags;
	int fd, ret;

	if (bpf_xdp_query(x->ifindex, 0, &qo) < 0 || !qo.prog_id)
		return 0;
	fd = bpf_prog_get_fd_by_id(qo.prog_id);
	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) < 0 ||
	    strcmp(info.name, COOP_XDP_PROG_NAME)) {
		errf(err, errlen,
		     "interface %s already has an XDP program (id %u%s%s); coop does not replace programs it did not load",
		     x->cfg->ifname, qo.prog_id, fd >= 0 ? ", name " : "", fd >= 0 ? info.name : "");
		if (fd >= 0)
			close(fd);
		return -EBUSY;
	}
	flags = qo.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	ret = bpf_xdp_detach(x->ifindex, flags, &(struct bpf_xdp_attach_opts){
						 .sz = sizeof(struct bpf_xdp_attach_opts),
						 .old_prog_fd = fd });
	close(fd);
	if (ret < 0) {
		errf(err, errlen, "interface %s: cannot remove the %s program left by an earlier coopd: %s",
		     x->cfg->ifname, COOP_XDP_PROG_NAME, strerror(-ret));
		return ret;
	}
	coop_warn("forwarder: removed the %s program (id %u) an earlier coopd left on %s",
		  COOP_XDP_PROG_NAME, qo.prog_id, x->cfg->ifname);
	return 0;
}

static int attach(struct coop_fwd_xdp *x, char *err, size_t errlen)
{
	const char *ifname = x->cfg->ifname;
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	int ret;

	ret = clear_stale(x, err, errlen);
	if (ret < 0)
		return ret;
	ret = -EOPNOTSUPP; /* generic mode unless native works */
	if (x->cfg->xdp_mode != COOP_FWD_XDP_GENERIC) {
		x->xdp_flags = XDP_FLAGS_DRV_MODE;
		ret = bpf_xdp_attach(x->ifindex, x->prog_fd,
				     XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
		if (ret < 0 && x->cfg->xdp_mode == COOP_FWD_XDP_NATIVE) {
			errf(err, errlen, "interface %s: native XDP: %s (xdp_mode = native)", ifname,
			     strerror(-ret));
			return ret;
		}
		if (ret < 0)
			coop_warn("forwarder: %s: native XDP not available (%s): using generic mode, slower",
				  ifname, strerror(-ret));
	}
	if (ret < 0) {
		x->xdp_flags = XDP_FLAGS_SKB_MODE;
		ret = bpf_xdp_attach(x->ifindex, x->prog_fd,
				     XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
		if (ret < 0) {
			errf(err, errlen, "interface %s: cannot attach the XDP program: %s", ifname,
			     strerror(-ret));
			return ret;
		}
	}
	x->attached = true;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(x->prog_fd, &info, &len) == 0)
		x->prog_id = info.id;
	coop_info("forwarder: XDP program (id %u) attached to %s in %s mode", x->prog_id, ifname,
		  x->xdp_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic");
	return 0;
}

static void detach(struct coop_fwd_xdp *x)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, ao, .old_prog_fd = x->prog_fd);
	int ret;

	if (!x->attached)
		return;
	/* old_prog_fd: only if it is still ours (nobody replaced it) */
	ret = bpf_xdp_detach(x->ifindex, x->xdp_flags, &ao);
	if (ret < 0)
		coop_warn("forwarder: cannot detach from %s: %s", x->cfg->ifname, strerror(-ret));
	else
		coop_info("forwarder: XDP program detached from %s", x->cfg->ifname);
	x->attached = false;
}

/* --- maps at start ------------------------------------------------------------------- */

static int config_write(struct coop_fwd_xdp *x, char *err, size_t errlen)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(x->fd_config, &zero, &x->xcfg, BPF_ANY) < 0) {
		errf(err, errlen, "cannot write the forwarder configuration map: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int config_fill(struct coop_fwd_xdp *x, const struct xdp_node *self, char *err,
		       size_t errlen)
{
	struct coop_xdp_config *xc = &x->xcfg;
	uint32_t mtu = x->cfg->mtu;
	size_t i;
	__u8 fam;

	memset(xc, 0, sizeof(*xc));
	xc->self_id = self->id;
	xc->encap = x->cfg->encap == COOP_FWD_ENCAP_IPIP ? COOP_XDP_ENCAP_IPIP : COOP_XDP_ENCAP_GUE;
	xc->gue_port = htons(x->cfg->gue_port);
	if (!mtu) {
		mtu = coop_fwd_xdp_link_mtu(x, x->ifindex);
		if (mtu && mtu < COOP_XDP_MTU_MIN) {
			errf(err, errlen,
			     "interface %s has MTU %u: tunnels between nodes need at least %u (1280-byte IPv6 packets plus %u bytes of headers); raise it or set mtu =",
			     x->cfg->ifname, mtu, COOP_XDP_MTU_MIN, COOP_XDP_MTU_MIN - 1280);
			return -EINVAL;
		}
	}
	xc->mtu = mtu;
	if (self->addr.family == AF_INET) {
		xc->src4 = self->addr.v4.s_addr;
	} else {
		__be32 a[4];

		addr_to_be32(&self->addr, a, &fam);
		memcpy(xc->src6, a, sizeof(a));
	}
	/* the core's defaults, which the reference model (fwd/model/) shares */
	xc->udp_idle_ns = COOP_FWD_FLOW_IDLE_NS_DEFAULT;
	xc->frag_timeout_ns = COOP_FWD_FRAG_TIMEOUT_NS_DEFAULT;
	xc->insert_cost_ns = 1000000000ull / COOP_FWD_INSERT_RATE_DEFAULT;
	/* a burst of one second's worth */
	xc->insert_burst_ns = xc->insert_cost_ns * COOP_FWD_INSERT_RATE_DEFAULT;
	for (i = 0; i < x->cfg->n_vips; i++) {
		__be32 a[4];
		__u32 bit;

		if (!x->cfg->vips[i].port)
			xc->flags |= COOP_XDP_CFG_ANY_PORT;
		addr_to_be32(&x->cfg->vips[i].addr, a, &fam);
		bit = coop_xdp_vip_bit(a);
		xc->vip_filter[bit / 64] |= 1ull << (bit % 64);
	}
	xc->flags |= COOP_XDP_CFG_VIP_FILTER | COOP_XDP_CFG_PEERS;
	/* each CPU's LRU list: inserts beyond it evict (flow_evict) */
	xc->flow_share = x->flow_share;
	return config_write(x, err, errlen);
}

static int vip_put(struct coop_fwd_xdp *x, struct coop_xdp_vip_slot *slots,
		   const struct coop_addr *a, uint16_t port, int proto, uint32_t flags, char *err,
		   size_t errlen)
{
	struct coop_xdp_vip_key k;
	struct coop_xdp_vip v = { .service = XDP_SERVICE, .flags = flags };
	char buf[INET6_ADDRSTRLEN];

	memset(&k, 0, sizeof(k));
	addr_to_be32(a, k.addr, &k.family);
	k.port = htons(port);
	k.proto = (__u8)proto;
	if (bpf_map_update_elem(x->fd_vips, &k, &v, BPF_ANY) < 0) {
		errf(err, errlen, "cannot add VIP %s:%u: %s", coop_addr_str(a, buf, sizeof(buf)), port,
		     strerror(errno));
		return -errno;
	}
	coop_xdp_vip_slot_put(&slots[coop_xdp_vip_slot_of(&k)], &k, &v);
	return 0;
}

/* The direct-mapped VIP table: every slot an entry has, and the flag
 * that puts it in use (written with COOP_XDP_CFG_ENABLED). */
static int slots_write(struct coop_fwd_xdp *x, const struct coop_xdp_vip_slot *slots, char *err,
		       size_t errlen)
{
	uint32_t i;

	for (i = 0; i < COOP_XDP_VIP_SLOTS; i++) {
		if (slots[i].state == COOP_XDP_SLOT_EMPTY)
			continue;
		if (bpf_map_update_elem(x->fd_vslots, &i, &slots[i], BPF_ANY) < 0) {
			errf(err, errlen, "cannot write VIP slot %u: %s", i, strerror(errno));
			return -errno;
		}
	}
	x->xcfg.flags |= COOP_XDP_CFG_VIP_SLOTS;
	return 0;
}

/* Every VIP entry, plus the port-0 entry of each (address, protocol) that
 * steers its fragments (they carry no port); then their slots. */
static int vips_fill(struct coop_fwd_xdp *x, char *err, size_t errlen)
{
	struct coop_xdp_vip_slot *slots = calloc(COOP_XDP_VIP_SLOTS, sizeof(*slots));
	size_t i, j;
	int ret = 0;

	if (!slots) {
		errf(err, errlen, "out of memory for the VIP slots");
		return -ENOMEM;
	}
	for (i = 0; i < x->cfg->n_vips; i++) {
		const struct coop_fwd_vip_cfg *v = &x->cfg->vips[i];
		bool zero_known = false;

		ret = vip_put(x, slots, &v->addr, v->port, v->proto,
			      v->port ? 0 : COOP_XDP_VIP_ALL_PORTS, err, errlen);
		if (ret < 0)
			goto out;
		for (j = 0; j < x->cfg->n_vips && !zero_known; j++) {
			const struct coop_fwd_vip_cfg *o = &x->cfg->vips[j];

			zero_known = !o->port && o->proto == v->proto &&
				     o->addr.family == v->addr.family &&
				     !memcmp(&o->addr.v6, &v->addr.v6, v->addr.family == AF_INET ? 4 : 16);
		}
		if (!zero_known &&
		    (ret = vip_put(x, slots, &v->addr, 0, v->proto, 0, err, errlen)) < 0)
			goto out;
	}
	ret = slots_write(x, slots, err, errlen);
out:
	free(slots);
	return ret;
}

static int nodes_fill(struct coop_fwd_xdp *x, struct xdp_node **self, char *err, size_t errlen)
{
	size_t i;

	x->nodes = calloc(x->cfg->n_nodes, sizeof(*x->nodes));
	if (!x->nodes) {
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x->cap_nodes = x->cfg->n_nodes;
	for (i = 0; i < x->cfg->n_nodes; i++) {
		const struct coop_fwd_node_cfg *nc = &x->cfg->nodes[i];
		struct xdp_node *n = &x->nodes[x->n_nodes++];

		snprintf(n->name, sizeof(n->name), "%s", nc->name);
		n->addr = nc->addr;
		n->weight = nc->weight;
		n->id = x->next_id++;
		n->self = !strcmp(nc->name, x->cfg->self);
		if (n->self)
			*self = n;
	}
	return 0;
}

static void fwd_free(struct coop_fwd_xdp *x)
{
	coop_fwd_xdp_nl_stop(x);
	ev_timer_stop(x->coop->loop, &x->publish_timer);
	detach(x);
	if (x->obj)
		bpf_object__close(x->obj);
	coop_fwd_maglev_free(x->table);
	free(x->nodes);
	free(x->retired);
	free(x);
}

int coop_fwd_xdp_start(struct coop *c, char *err, size_t errlen)
{
	const struct coop_fwd_cfg *cfg = &c->cfg->fwd;
	libbpf_print_fn_t old_print;
	struct xdp_node *self = NULL;
	struct coop_fwd_maglev *t;
	struct coop_fwd_xdp *x;
	size_t i;
	int ret;

	if (!cfg->enabled)
		return 0;
	if (coop_module_priv(c, COOP_MOD_FWD)) {
		errf(err, errlen, "the forwarder is running already");
		return -EBUSY;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x->coop = c;
	x->cfg = cfg;
	x->prog_fd = -1;
	ev_init(&x->publish_timer, publish_timer_cb);
	x->publish_timer.repeat = PUBLISH_POLL;
	x->ifindex = (int)if_nametoindex(cfg->ifname);
	if (!x->ifindex) {
		errf(err, errlen, "[forwarder] interface: no link '%s'", cfg->ifname);
		ret = -ENODEV;
		goto err_free;
	}
	x->ncpus = libbpf_num_possible_cpus();
	if (x->ncpus <= 0) {
		errf(err, errlen, "cannot count the possible CPUs");
		ret = x->ncpus < 0 ? x->ncpus : -EINVAL;
		goto err_free;
	}
	/* the CPUs that run the program; the LRU maps are split over the
	 * possible ones, which can be many more (hotplug slots of a VM) */
	x->ncpus_online = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (x->ncpus_online < 1 || x->ncpus_online > x->ncpus)
		x->ncpus_online = x->ncpus;
	old_print = libbpf_set_print(libbpf_print);
	ret = load(x, err, errlen);
	libbpf_set_print(old_print);
	if (ret < 0)
		goto err_free;
	if ((ret = nodes_fill(x, &self, err, errlen)) < 0 ||
	    (ret = coop_fwd_xdp_nl_start(x, err, errlen)) < 0 ||
	    (ret = config_fill(x, self, err, errlen)) < 0)
		goto err_free;
	if (!coop_fwd_xdp_self_local(x, self)) {
		char a[INET6_ADDRSTRLEN];

		coop_warn("forwarder: %s, the cluster address of this node (%s), is not an address of this host: tunnels from the other nodes will not end here",
			  coop_addr_str(&self->addr, a, sizeof(a)), self->name);
	}
	for (i = 0; i < x->n_nodes; i++) {
		struct xdp_node *n = &x->nodes[i];

		coop_fwd_xdp_node_resolve(x, n);
		ret = coop_fwd_xdp_node_write(x, n, coop_fwd_xdp_node_state(n));
		if (ret < 0) {
			errf(err, errlen, "cannot write node '%s': %s", n->name, strerror(-ret));
			goto err_free;
		}
	}
	if ((ret = vips_fill(x, err, errlen)) < 0 || (ret = table_build(x, &t, err, errlen)) < 0 ||
	    (ret = coop_fwd_xdp_publish(x, t, false, NULL, err, errlen)) < 0)
		goto err_free;
	old_print = libbpf_set_print(libbpf_print);
	ret = attach(x, err, errlen);
	libbpf_set_print(old_print);
	if (ret < 0)
		goto err_free;
	/* last: until now every packet passed untouched */
	x->xcfg.flags |= COOP_XDP_CFG_ENABLED;
	if ((ret = config_write(x, err, errlen)) < 0 ||
	    (ret = coop_fwd_xdp_admin_register(c, err, errlen)) < 0)
		goto err_free;
	coop_module_set_priv(c, COOP_MOD_FWD, x);
	coop_info("forwarder: %zu VIP entries, %zu nodes (self %s, id %u), table %u, encap %s, cluster MTU %u, flow cache %u per CPU (%d online)",
		  cfg->n_vips, x->n_nodes, self->name, self->id, cfg->table_size,
		  cfg->encap == COOP_FWD_ENCAP_IPIP ? "ipip" : "gue", x->xcfg.mtu, x->flow_share,
		  x->ncpus_online);
	return 0;

err_free:
	fwd_free(x);
	return ret;
}

void coop_fwd_xdp_stop(struct coop *c)
{
	struct coop_fwd_xdp *x = coop_module_priv(c, COOP_MOD_FWD);

	if (!x)
		return;
	fwd_free(x);
	coop_module_set_priv(c, COOP_MOD_FWD, NULL);
}

/* --- the module ------------------------------------------------------------------ */

/* fwd/xdp_metrics.c: the forwarder's /metrics samples. */
void coop_fwd_xdp_metrics(struct coop *c, struct coop_prom *p);

const struct coop_module coop_mod_fwd = {
	.id = COOP_MOD_FWD,
	.name = "forwarder",
	.keytabs = coop_fwd_keytabs,
	.n_keytabs = 1,
	.run = coop_fwd_xdp_start,
	.unrun = coop_fwd_xdp_stop,
	.check = coop_fwd_xdp_reload_check,
	.reconfigure = coop_fwd_xdp_reload_apply,
	.metrics = coop_fwd_xdp_metrics,
};
