/* netns_config.h - the netns backend's configuration rules (vs/netns_config.c),
 * for coop_mod_netns.keytabs. Static data; the loader calls the hooks on
 * the control thread. */
#ifndef COOP_VS_NETNS_CONFIG_H
#define COOP_VS_NETNS_CONFIG_H

#include "core/config.h"

/* The netns [vs NAME] table: no keys of its own, isolation = netns, and
 * its rules: a netns VS's namespace defaults to its name; its addresses
 * take no @IFNAME; no two netns VSes share a namespace or an interface;
 * no other VS lives in a netns VS's namespace or, from coopd's namespace,
 * uses a link a netns VS moves away; its interface exists (in coopd's
 * namespace or already in its own). */
extern const struct coop_cfg_keytab coop_netns_keytabs[1];

#endif
