/* portmap.c - the "portmap" service: ONC RPC program 100000 versions 2, 3
 * and 4 (RFC 1833) answered from each VS's own registry, over UDP datagrams
 * and over TCP with record marking. Universal addresses in version 3/4
 * answers carry the address the request came to. The protocol itself is in
 * vs/rpc.c. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/coop.h"
#include "vs/coop_udp.h"
#include "vs/rpc.h"

/* One TCP client: its record reassembly and what it may do. */
struct pmap_conn {
	struct coop_conn *conn;	  /* the connection */
	struct coop_rpc_reg *reg; /* its VS's registry */
	struct coop_rpc_rec rec;  /* record being reassembled */
	struct sockaddr_storage to; /* the VS address the client connected to */
	bool local;		  /* the caller may SET and UNSET (coop_pmap_caller_trusted) */
	bool closed;		  /* coop_conn_close was called: read no more */
};

static void pmap_datagram(struct coop_dgram *dg, const void *data, size_t len)
{
	struct coop_rpc_reg *reg = coop_vs_rpc_reg(coop_dgram_vs(dg));
	uint8_t out[COOP_PMAP_REPLY_MAX];
	bool local;
	size_t n;

	/* SET and UNSET only from a loopback source with a reserved port,
	 * as rpcbind; a source equal to the address called proves nothing
	 * (forged over IPv6, or any user of a shared namespace). */
	local = coop_pmap_caller_trusted(coop_dgram_peer(dg, NULL));
	n = coop_pmap_handle_to(reg, data, len, local, coop_dgram_local(dg, NULL), out,
				sizeof(out));
	if (!n) {
		coop_dgram_drop(dg);
		return;
	}
	coop_dgram_reply(dg, out, n);
}

static int pmap_accept(struct coop_conn *conn)
{
	struct pmap_conn *pc = calloc(1, sizeof(*pc));
	const struct sockaddr *to;
	socklen_t tolen;

	if (!pc)
		return -ENOMEM;
	pc->conn = conn;
	pc->reg = coop_vs_rpc_reg(coop_conn_vs(conn));
	to = coop_conn_local(conn, &tolen);
	pc->local = coop_pmap_caller_trusted(coop_conn_peer(conn, NULL));
	memcpy(&pc->to, to, tolen < sizeof(pc->to) ? tolen : sizeof(pc->to));
	coop_rpc_rec_init(&pc->rec, COOP_PMAP_RECORD_MAX);
	coop_conn_set_data(conn, pc);
	return 0;
}

static int pmap_record(void *arg, const uint8_t *rec, size_t len)
{
	struct pmap_conn *pc = arg;
	uint8_t out[4 + COOP_PMAP_REPLY_MAX];
	size_t n;

	n = coop_pmap_handle_to(pc->reg, rec, len, pc->local, (const struct sockaddr *)&pc->to,
				out + 4, sizeof(out) - 4);
	/* A dropped record is counted; the framing is intact, so the
	 * stream goes on with the next one. */
	if (!n)
		return 0;
	coop_rpc_rec_mark(out, n);
	return coop_conn_write(pc->conn, out, n + 4);
}

static void pmap_read(struct coop_conn *conn, const void *data, size_t len)
{
	struct pmap_conn *pc = coop_conn_data(conn);
	int ret;

	if (!pc || pc->closed)
		return;
	ret = coop_rpc_rec_feed(&pc->rec, data, len, pmap_record, pc);
	if (ret < 0) {
		if (ret == -EMSGSIZE)
			coop_rpc_reg_note_record_drop(pc->reg);
		pc->closed = true;
		coop_conn_close(conn);
	}
}

static void pmap_close(struct coop_conn *conn)
{
	struct pmap_conn *pc = coop_conn_data(conn);

	if (!pc)
		return;
	coop_rpc_rec_free(&pc->rec);
	free(pc);
	coop_conn_set_data(conn, NULL);
}

const struct coop_service coop_service_portmap = {
    .name = "portmap",
    .on_accept = pmap_accept,
    .on_read = pmap_read,
    .on_close = pmap_close,
    .on_datagram = pmap_datagram,
};
