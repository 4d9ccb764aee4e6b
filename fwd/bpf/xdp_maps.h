/* xdp_maps.h - the maps of coop_xdp.bpf.c, as described in coop_xdp.h (included by the entry file only: maps are defined once). */
#ifndef COOP_XDP_MAPS_H
#define COOP_XDP_MAPS_H

#include "fwd/bpf/xdp_parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct coop_xdp_config);
} coop_xdp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, COOP_XDP_VIPS_MAX);
	__type(key, struct coop_xdp_vip_key);
	__type(value, struct coop_xdp_vip);
} coop_xdp_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COOP_XDP_VIP_SLOTS);
	__type(key, __u32);
	__type(value, struct coop_xdp_vip_slot);
} coop_xdp_vslots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, COOP_XDP_NODES_MAX);
	__type(key, struct coop_xdp_peer_key);
	__type(value, __u32);
} coop_xdp_peers SEC(".maps");

/* Template of the inner tables: any size, thanks to BPF_F_INNER_MAP. */
struct coop_xdp_table_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, COOP_XDP_SERVICES_MAX);
	__type(key, __u32);
	__array(values, struct coop_xdp_table_map);
} coop_xdp_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COOP_XDP_NODES_MAX);
	__type(key, __u32);
	__type(value, struct coop_xdp_node);
} coop_xdp_nodes SEC(".maps");

/*
 * Flow cache: one key space for all CPUs (so `fwd lookup` and every CPU see
 * the same entry) with per-CPU LRU lists (BPF_F_NO_COMMON_LRU: no global
 * LRU lock on the insert path). Hits only read and write the value.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, COOP_XDP_FLOWS_DEFAULT);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct coop_fwd_tuple);
	__type(value, struct coop_fwd_flow);
} coop_xdp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, COOP_XDP_FRAGS_DEFAULT);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct coop_fwd_frag_key);
	__type(value, struct coop_fwd_frag_val);
} coop_xdp_frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COOP_XDP_CNT_MAX);
	__type(key, __u32);
	__type(value, struct coop_xdp_counter);
} coop_xdp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct coop_fwd_ratelimit);
} coop_xdp_rlimit SEC(".maps");

#endif
