/* echo.c - the "echo" example service: every byte received is sent back,
 * and every datagram is answered with its own payload - unless it comes
 * from a service's port, which could be a forged source making two
 * services answer each other forever (counted as dropped by the service). */
#include "core/coop.h"
#include "vs/coop_udp.h"

static void echo_read(struct coop_conn *conn, const void *data, size_t len)
{
	if (coop_conn_write(conn, data, len) < 0)
		coop_conn_close(conn);
}

static void echo_datagram(struct coop_dgram *dg, const void *data, size_t len)
{
	if (coop_dgram_from_service(dg)) {
		coop_dgram_drop(dg);
		return;
	}
	coop_dgram_reply(dg, data, len);
}

const struct coop_service coop_service_echo = {
	.name = "echo",
	.on_read = echo_read,
	.on_datagram = echo_datagram,
};
