/* whoami.c - the "whoami" example service: answers the VS name and a
 * newline, then closes (TCP), or answers a datagram with them (UDP; not
 * one from a service's port, as echo). Lets a client prove which VS
 * served it. */
#include <string.h>

#include "core/coop.h"
#include "vs/coop_udp.h"

static int whoami_accept(struct coop_conn *conn)
{
	const char *name = coop_vs_name(coop_conn_vs(conn));
	int ret;

	ret = coop_conn_write(conn, name, strlen(name));
	if (!ret)
		ret = coop_conn_write(conn, "\n", 1);
	coop_conn_close(conn);
	return ret;
}

static void whoami_read(struct coop_conn *conn, const void *data, size_t len)
{
	(void)conn;
	(void)data;
	(void)len;
}

static void whoami_datagram(struct coop_dgram *dg, const void *data, size_t len)
{
	const char *name = coop_vs_name(coop_dgram_vs(dg));
	struct iovec iov[2] = { { (void *)name, strlen(name) }, { "\n", 1 } };

	(void)data;
	(void)len;
	if (coop_dgram_from_service(dg)) {
		coop_dgram_drop(dg);
		return;
	}
	coop_dgram_replyv(dg, iov, 2);
}

const struct coop_service coop_service_whoami = {
	.name = "whoami",
	.on_accept = whoami_accept,
	.on_read = whoami_read,
	.on_datagram = whoami_datagram,
};
