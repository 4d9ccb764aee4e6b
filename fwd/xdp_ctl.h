/* xdp_ctl.h - the XDP forwarder's control plane inside libcoop: the [forwarder] key parsers for the config loader, and start/stop for the runtime. */
#ifndef COOP_FWD_XDP_CTL_H
#define COOP_FWD_XDP_CTL_H

/*
 * The data path is fwd/bpf/coop_xdp.bpf.c; fwd/bpf/coop_xdp.h is the
 * contract between the two; docs/xdp.md describes both. Everything here
 * runs on the control thread.
 */

#include <stdbool.h>
#include <stddef.h>

struct coop;
struct coop_fwd_cfg;

/* --- configuration (fwd/xdp_config.c) ------------------------------------------ */

/* Parsers of the [forwarder] keys, for core/config.c's key table: obj is
 * the struct coop_fwd_cfg being filled. 0, or -errno with the problem in
 * why. */
int coop_fwd_cfg_parse_interface(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_vips(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_nodes(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_self(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_table_size(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_flow_cache_size(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_encap(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_gue_port(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_mtu(void *obj, const char *val, char *why, size_t whylen);
int coop_fwd_cfg_parse_xdp_mode(void *obj, const char *val, char *why, size_t whylen);

/* The [forwarder] key table, for the module's keytabs. */
struct coop_cfg_keytab;
extern const struct coop_cfg_keytab coop_fwd_keytabs[1];
/* Defaults of a [forwarder] section, before its keys are parsed. */
void coop_fwd_cfg_init(struct coop_fwd_cfg *f);

/* The section as a whole, once every key is parsed: required keys, self
 * among the nodes, one address family for cluster addresses, the table
 * size against the node count, and (links) the interface exists in the
 * caller's namespace. 0, or -EINVAL with *key naming the key to blame and
 * the problem in why. */
int coop_fwd_cfg_check(const struct coop_fwd_cfg *f, bool links, const char **key, char *why,
		       size_t whylen);

/* Free what the parsers allocated (the struct itself is the caller's). */
void coop_fwd_cfg_release(struct coop_fwd_cfg *f);

/* A node name: 1..COOP_FWD_NODE_NAME_MAX-1 of a-z 0-9 _ . - (the Maglev
 * key, so it must be spelled the same on every node). */
bool coop_fwd_node_name_ok(const char *name);

/* --- runtime (fwd/xdp_ctl.c) ------------------------------------------------------- */

/* When the configuration has a [forwarder] section: load the embedded
 * program, fill its maps (configuration, nodes, VIPs, the first Maglev
 * table), start next-hop resolution on c->loop, attach to the interface
 * (native mode, generic when the driver has none and xdp_mode allows) and
 * enable forwarding; register the `show fwd` and `fwd ...` admin commands.
 * Without the section: nothing, 0. On failure everything done is undone
 * and -errno comes back with a message in err. Control thread, after the
 * VSes are up (flows owned by this node pass to them at once). */
int coop_fwd_xdp_start(struct coop *c, char *err, size_t errlen);

/* Detach the program, stop resolution, close the maps (the kernel frees
 * them with the program). Safe when not started. Control thread. */
void coop_fwd_xdp_stop(struct coop *c);

#endif
