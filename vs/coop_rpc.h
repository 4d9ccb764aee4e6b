/* coop_rpc.h - public API of the per-VS ONC RPC portmapper: each VS has its
 * own registry of (program, version, protocol, port) mappings, answered by
 * the "portmap" service (program 100000: portmap version 2 and rpcbind
 * versions 3 and 4, RFC 1833) on whatever
 * `listen = udp:111 portmap, tcp:111 portmap` entries the VS has. See
 * docs/udp.md. */
#ifndef COOP_RPC_H
#define COOP_RPC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Declared here too so this header stands alone (see coop.h). */
struct coop_vs;
struct coop_service;

/* One mapping, as portmap's DUMP lists it. */
struct coop_rpc_mapping {
	uint32_t prog; /* RPC program number */
	uint32_t vers; /* its version */
	uint32_t prot; /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
	uint32_t port; /* port the program listens on, 1..65535 */
};

/* Most mappings one VS holds from the application and the configuration
 * together, and, apart from those, from SETs received over the network
 * (which only local, privileged callers may make). Network mappings never
 * take room from the others. */
#define COOP_RPC_MAPPINGS_MAX	  1024
#define COOP_RPC_NET_MAPPINGS_MAX 64

/* Register prog/vers/proto at port in the VS's registry, the way an RPC
 * server registers with rpcbind. Any thread. Returns 0, -EEXIST when
 * (prog, vers, proto) is already mapped by the application or the
 * configuration (to any port; unset it first) - a mapping a network SET
 * made is replaced -, -EINVAL for a proto other than IPPROTO_TCP/IPPROTO_UDP
 * or port 0, -ENOSPC past COOP_RPC_MAPPINGS_MAX, -ENOMEM. */
int coop_vs_rpc_set(struct coop_vs *vs, uint32_t prog, uint32_t vers, int proto, uint16_t port);

/* The same with the owner string rpcbind versions 3 and 4 show for the
 * mapping (r_owner; at most 31 bytes are kept). coop_vs_rpc_set uses
 * rpcbind's own rule: "superuser" for uid 0, else the uid in decimal. */
int coop_vs_rpc_set_owner(struct coop_vs *vs, uint32_t prog, uint32_t vers, int proto,
			  uint16_t port, const char *owner);

/* Remove every mapping of prog/vers (all protocols) that the application
 * or a remote SET made; mappings that come from the configuration (the
 * portmapper's own, `rpc =`) stay. Any thread. Returns how many were
 * removed (0 when none). */
int coop_vs_rpc_unset(struct coop_vs *vs, uint32_t prog, uint32_t vers);

/* Port of prog/vers/proto (what GETPORT answers), or 0 when unmapped. */
uint16_t coop_vs_rpc_getport(const struct coop_vs *vs, uint32_t prog, uint32_t vers, int proto);

/* Copy up to max mappings into out (in registration order); returns how
 * many there are in total (call again with a larger out if more). */
size_t coop_vs_rpc_dump(const struct coop_vs *vs, struct coop_rpc_mapping *out, size_t max);

/* "portmap": ONC RPC program 100000 versions 2, 3 and 4 over UDP and TCP
 * (record marking) answering from the VS's own registry. Register it with
 * coop_service_register() and list it on udp:111 and tcp:111. */
extern const struct coop_service coop_service_portmap;

#ifdef __cplusplus
}
#endif
#endif
