/* uaddr_fuzz.c - fuzz the universal-address parser (RPCBIND SET, UNSET, GETADDR arguments): any bytes; what parses must print back to a string that parses to the same address and port. */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vs/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	uint8_t addr[16], again[16];
	char buf[COOP_RPCB_UADDR_MAX];
	int family, family2, len;
	uint16_t port, port2;

	memset(addr, 0, sizeof(addr));
	if (coop_rpc_uaddr_parse((const char *)d, n, &family, addr, &port))
		return 0;
	if (family != AF_INET && family != AF_INET6)
		abort();
	len = coop_rpc_uaddr_fmt(buf, sizeof(buf), family, addr, port);
	if (len < 0 || (size_t)len >= sizeof(buf))
		abort();
	memset(again, 0, sizeof(again));
	if (coop_rpc_uaddr_parse(buf, (size_t)len, &family2, again, &port2) || family2 != family ||
	    port2 != port || memcmp(addr, again, family == AF_INET ? 4 : 16))
		abort();
	return 0;
}
