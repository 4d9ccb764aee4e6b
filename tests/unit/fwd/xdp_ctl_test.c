/* xdp_ctl_test.c - unit tests of the XDP forwarder's control plane (fwd/xdp_ctl.c): the per-CPU sizes of the LRU maps, and which addresses coop_xdp_peers trusts as the node set changes (real maps, the real node-set functions). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "core/runtime.h"
#include "fwd/xdp_priv.h"

/* --- sizes ---------------------------------------------------------------------- */

/*
 * The kernel splits a per-CPU LRU map's max_entries over the possible
 * CPUs; the flow cache is sized so that each online CPU gets its share of
 * flow_cache_size. Sized from the possible CPUs instead (max_entries =
 * flow_cache_size, as before), a VM with 2 CPUs online of 128 possible got
 * 512 flows per CPU out of 65,536.
 */
static void test_lru_size(void **state)
{
	uint32_t share, entries;

	(void)state;
	assert_int_equal(coop_fwd_xdp_lru_size(65536, 2, 2, &share, &entries), 0);
	assert_int_equal(share, 32768);
	assert_int_equal(entries, 65536);
	/* 2 online of 128 possible: each online CPU still holds half */
	assert_int_equal(coop_fwd_xdp_lru_size(65536, 2, 128, &share, &entries), 0);
	assert_int_equal(share, 32768);
	assert_int_equal(entries, 32768u * 128);
	/* rounded up: the online CPUs hold at least what was asked */
	assert_int_equal(coop_fwd_xdp_lru_size(1000, 3, 4, &share, &entries), 0);
	assert_int_equal(share, 334);
	assert_int_equal(entries, 1336);
	/* more online than possible cannot be: the possible count wins */
	assert_int_equal(coop_fwd_xdp_lru_size(1024, 8, 4, &share, &entries), 0);
	assert_int_equal(share, 256);
	assert_int_equal(entries, 1024);
	/* too many for a map */
	assert_int_equal(coop_fwd_xdp_lru_size(67108864, 1, 128, &share, &entries), -E2BIG);
	assert_int_equal(coop_fwd_xdp_lru_size(1024, 0, 4, &share, &entries), -EINVAL);
}

/* --- tunnel peers ------------------------------------------------------------------ */

/* A forwarder with real maps and three nodes, without program or netlink:
 * what fwd node remove|weight and the reload need. */
struct cenv {
	struct coop coop;          /* runtime: only the loop is used */
	struct coop_fwd_cfg cfg;   /* [forwarder]: only table_size is used */
	struct coop_fwd_xdp *x;    /* the forwarder */
};

static void no_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

static void node_set(struct xdp_node *n, const char *name, const char *addr, uint32_t id)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	assert_int_equal(coop_addr_parse(addr, &n->addr), 0);
	n->weight = 1;
	n->id = id;
	n->resolved = true;
}

static int csetup(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, inner_o, .map_flags = BPF_F_INNER_MAP);
	LIBBPF_OPTS(bpf_map_create_opts, outer_o);
	struct cenv *e;
	struct coop_fwd_xdp *x;
	int inner;
	size_t i;

	if (geteuid() != 0) {
		print_message("not root: BPF maps cannot be created; tests skipped\n");
		*state = NULL;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	x = calloc(1, sizeof(*x));
	if (!e || !x)
		return -1;
	e->x = x;
	e->coop.loop = ev_loop_new(EVFLAG_AUTO);
	e->cfg.table_size = 307; /* a prime, 100 x the nodes */
	x->coop = &e->coop;
	x->cfg = &e->cfg;
	ev_timer_init(&x->publish_timer, no_cb, 0., 0.);
	x->fd_peers = bpf_map_create(BPF_MAP_TYPE_HASH, "t_peers", sizeof(struct coop_xdp_peer_key),
				     sizeof(__u32), 64, NULL);
	x->fd_nodes = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_nodes", sizeof(__u32),
				     sizeof(struct coop_xdp_node), 64, NULL);
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_inner", 4, 4, 1, &inner_o);
	outer_o.inner_map_fd = inner;
	x->fd_tables = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "t_tables", 4, 4, 1, &outer_o);
	close(inner);
	if (x->fd_peers < 0 || x->fd_nodes < 0 || x->fd_tables < 0 || !e->coop.loop) {
		print_error("cannot create the maps: %s\n", strerror(errno));
		return -1;
	}
	x->nodes = calloc(8, sizeof(*x->nodes));
	if (!x->nodes)
		return -1;
	x->cap_nodes = 8;
	node_set(&x->nodes[0], "n1", "198.18.11.2", 0);
	node_set(&x->nodes[1], "n2", "198.18.12.2", 1);
	node_set(&x->nodes[2], "n3", "198.18.13.2", 2);
	x->nodes[0].self = true;
	x->n_nodes = 3;
	x->next_id = 3;
	for (i = 0; i < x->n_nodes; i++)
		assert_int_equal(coop_fwd_xdp_node_write(x, &x->nodes[i], COOP_FWD_STATE_ACTIVE), 0);
	*state = e;
	return 0;
}

static int cteardown(void **state)
{
	struct cenv *e = *state;

	if (!e)
		return 0;
	close(e->x->fd_peers);
	close(e->x->fd_nodes);
	close(e->x->fd_tables);
	coop_fwd_maglev_free(e->x->table);
	free(e->x->nodes);
	free(e->x->retired);
	free(e->x);
	ev_loop_destroy(e->coop.loop);
	free(e);
	return 0;
}

/* The node id coop_xdp_peers gives addr, or -1 when it is no peer. */
static int64_t peer_of(struct cenv *e, const char *addr)
{
	struct coop_xdp_peer_key k;
	struct coop_addr a;
	uint32_t id;

	memset(&k, 0, sizeof(k));
	assert_int_equal(coop_addr_parse(addr, &a), 0);
	k.addr[0] = a.v4.s_addr;
	k.family = COOP_FWD_FAMILY_V4;
	return bpf_map_lookup_elem(e->x->fd_peers, &k, &id) ? -1 : (int64_t)id;
}

static uint32_t node_state(struct cenv *e, uint32_t id)
{
	struct coop_xdp_node v;

	assert_int_equal(bpf_map_lookup_elem(e->x->fd_nodes, &id, &v), 0);
	return v.state;
}

/* `fwd node remove`: the node leaves coop_xdp_peers with the set (it used
 * to stay, "for its packets in flight", and so stayed trusted for good);
 * a drained node stays. */
static void test_remove_forgets_peer(void **state)
{
	struct cenv *e = *state;
	bool published;
	char err[256] = "";

	if (!e)
		skip();
	assert_int_equal(peer_of(e, "198.18.13.2"), 2);
	if (coop_fwd_xdp_node_weight(e->x, "n2", 0, &published, err, sizeof(err)))
		fail_msg("fwd node weight n2 0: %s", err);
	assert_int_equal(peer_of(e, "198.18.12.2"), 1);
	assert_int_equal(node_state(e, 1), COOP_FWD_STATE_DRAINING);
	if (coop_fwd_xdp_node_remove(e->x, "n3", err, sizeof(err)))
		fail_msg("fwd node remove n3: %s", err);
	assert_int_equal(node_state(e, 2), COOP_FWD_STATE_ABSENT);
	assert_int_equal(peer_of(e, "198.18.13.2"), -1);
	/* the others are still trusted */
	assert_int_equal(peer_of(e, "198.18.11.2"), 0);
	assert_int_equal(peer_of(e, "198.18.12.2"), 1);
}

/* A removed node's address that another node has taken since stays that
 * node's; forgetting an address that is no peer is no error. */
static void test_forget_keeps_new_owner(void **state)
{
	struct cenv *e = *state;
	struct xdp_node n4, gone;

	if (!e)
		skip();
	/* n4 takes n2's address (in a reload, written before n2 is marked
	 * absent), then n2 leaves */
	node_set(&n4, "n4", "198.18.12.2", 3);
	assert_int_equal(coop_fwd_xdp_node_write(e->x, &n4, COOP_FWD_STATE_ACTIVE), 0);
	gone = e->x->nodes[1];
	assert_int_equal(coop_fwd_xdp_node_write(e->x, &gone, COOP_FWD_STATE_ABSENT), 0);
	assert_int_equal(peer_of(e, "198.18.12.2"), 3);
	assert_int_equal(coop_fwd_xdp_peer_forget(e->x, &gone.addr, gone.id), 0);
	assert_int_equal(peer_of(e, "198.18.12.2"), 3);
	assert_int_equal(coop_fwd_xdp_peer_forget(e->x, &n4.addr, n4.id), 0);
	assert_int_equal(peer_of(e, "198.18.12.2"), -1);
	assert_int_equal(coop_fwd_xdp_peer_forget(e->x, &n4.addr, n4.id), 0);
}

int main(void)
{
	const struct CMUnitTest sizes[] = {
		cmocka_unit_test(test_lru_size),
	};
	const struct CMUnitTest peers[] = {
		cmocka_unit_test_setup_teardown(test_remove_forgets_peer, csetup, cteardown),
		cmocka_unit_test_setup_teardown(test_forget_keeps_new_owner, csetup, cteardown),
	};
	int failed = cmocka_run_group_tests_name("sizes", sizes, NULL, NULL);

	return failed + cmocka_run_group_tests_name("peers", peers, NULL, NULL);
}
