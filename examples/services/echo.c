/* echo.c - the "echo" example service: every byte received is sent back. */
#include "core/coop.h"

static void echo_read(struct coop_conn *conn, const void *data, size_t len)
{
	if (coop_conn_write(conn, data, len) < 0)
		coop_conn_close(conn);
}

const struct coop_service coop_service_echo = {
	.name = "echo",
	.on_read = echo_read,
};
