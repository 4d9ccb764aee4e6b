/* admin.h - inside libcoop: the admin socket's lifecycle and its command
 * dispatcher. Embedders register commands through core/coop_admin.h; the
 * protocol is in docs/admin.md.
 *
 * Everything here belongs to the control thread. c->admin (struct
 * coop_admin, private to admin.c) is created by the first of
 * coop_admin_register(), coop_admin_exec(), coop_admin_set_timeouts() or
 * coop_admin_open(), and holds the command table as well as the socket. */
#ifndef COOP_ADMIN_INTERNAL_H
#define COOP_ADMIN_INTERNAL_H

#include <stddef.h>

#include "core/coop_admin.h"

struct coop;

/* Longest command line, "\n" included; a longer one gets an error reply
 * and is skipped up to its newline. */
#define COOP_ADMIN_LINE_MAX 4096
/* Clients connected at once; one more is told so and closed. */
#define COOP_ADMIN_CLIENTS_MAX 128
/* Seconds a client may sit on a partial command line or on a reply it
 * does not read before it is dropped. */
#define COOP_ADMIN_STALL_TIMEOUT 10.0
/* Seconds an idle client (nothing pending either way) is kept. */
#define COOP_ADMIN_IDLE_TIMEOUT 600.0

/* Create the admin socket at c->cfg->global.admin_socket (nothing to do,
 * return 0, when that is empty) and serve it on c->loop: make the parent
 * directory (0755) if missing, replace a stale socket file nobody listens
 * on, refuse to start when a live one answers ("admin socket PATH:
 * another coopd is running"), apply c->cfg->global.admin_mode, then
 * listen. Call after c->loop exists, before coop_run. Returns 0 or -errno
 * with a message naming the path in err. */
int coop_admin_open(struct coop *c, char *err, size_t errlen);

/* Close every client and the listening socket and remove the socket file
 * (only if it is still the one this process created). The command table
 * is kept, so coop_admin_open may be called again. Safe when nothing is
 * open or c->admin is NULL. */
void coop_admin_close(struct coop *c);

/* coop_admin_close, then free the command table and c->admin (set to
 * NULL). Call from coop_free. Safe when c->admin is NULL. */
void coop_admin_free(struct coop *c);

/* Run one command line (words separated by spaces or tabs; no newline
 * needed; modified in place) and write the reply document into reply,
 * which is reset first: the command's JSON, or {"error":"..."}. Returns 0
 * when the command succeeded, else the -errno of the failure (-ENOENT
 * unknown command, -EINVAL bad arguments, or the handler's). */
int coop_admin_exec(struct coop *c, char *line, struct coop_json *reply);

/* Override COOP_ADMIN_STALL_TIMEOUT and COOP_ADMIN_IDLE_TIMEOUT (seconds,
 * > 0) for clients accepted from now on. 0 or -errno. */
int coop_admin_set_timeouts(struct coop *c, double stall, double idle);

#endif
