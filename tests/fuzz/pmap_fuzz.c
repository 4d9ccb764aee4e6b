/* pmap_fuzz.c - fuzz the portmapper: any bytes as a datagram (or TCP record) to a VS's port 111, from a loopback client or not, to an IPv4, IPv6 or unknown address; every PMAP v2 and RPCBIND v3/v4 procedure. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vs/rpc.h"

/* Mappings every run starts from: the portmapper's own, an NFS server's. */
static const struct coop_rpc_mapping start[] = {
	{ 100000, 2, IPPROTO_TCP, 111 }, { 100000, 2, IPPROTO_UDP, 111 },
	{ 100003, 3, IPPROTO_TCP, 2049 }, { 100005, 3, IPPROTO_UDP, 20048 },
};

static uint8_t out[COOP_PMAP_REPLY_MAX];

/*
 * Input: one flags byte, then the message. Flags bit 0: the client is on
 * loopback (SET and UNSET allowed); bits 1-2: the request's destination
 * (0 unknown, 1 IPv4, 2 IPv6). A fresh registry each run, so every input
 * replays alone.
 */
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct coop_rpc_reg *reg;
	struct sockaddr_in to4 = { .sin_family = AF_INET, .sin_port = htons(111) };
	struct sockaddr_in6 to6 = { .sin6_family = AF_INET6, .sin6_port = htons(111) };
	const struct sockaddr *to = NULL;
	struct in_addr a4;
	struct in6_addr a6;
	size_t i, r;

	if (n < 1)
		return 0;
	reg = coop_rpc_reg_new();
	if (!reg)
		abort();
	for (i = 0; i < sizeof(start) / sizeof(start[0]); i++)
		if (coop_rpc_reg_set(reg, &start[i], i < 2 ? COOP_RPC_OWNER_CONFIG : COOP_RPC_OWNER_APP))
			abort();
	inet_pton(AF_INET, "198.18.5.1", &a4);
	inet_pton(AF_INET6, "2001:db8:5::1", &a6);
	coop_rpc_reg_addr_add(reg, AF_INET, &a4);
	coop_rpc_reg_addr_add(reg, AF_INET6, &a6);
	to4.sin_addr = a4;
	to6.sin6_addr = a6;
	if (((d[0] >> 1) & 3) == 1)
		to = (const struct sockaddr *)&to4;
	else if (((d[0] >> 1) & 3) == 2)
		to = (const struct sockaddr *)&to6;
	r = coop_pmap_handle_to(reg, d + 1, n - 1, d[0] & 1, to, out, sizeof(out));
	if (r > sizeof(out))
		abort();
	coop_rpc_reg_free(reg);
	return 0;
}
