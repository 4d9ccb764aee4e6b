/* coop_admin.h - public API for an embedding application's own admin
 * commands: the command table entry, its registration, and the JSON writer
 * a command handler answers with. The protocol is described in docs/admin.md. */
#ifndef COOP_ADMIN_H
#define COOP_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coop_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The runtime (see coop.h). Declared here too so this header stands alone. */
struct coop;

/* --- admin commands ---------------------------------------------------------- */

/*
 * A command handler. argv[0..argc-1] are the words of the command line
 * after the command's own words (so argc is 0 for `show vs`, 1 for
 * `show vs nas1`); their number has already been checked against the
 * usage. Write the reply into out (one JSON value, normally an object; if
 * nothing is written the reply is {}). Return 0, or -errno with a message
 * for the operator in err: the reply is then {"error":"<err>"} and
 * anything written to out is discarded. Runs on the control thread and
 * must not block: the admin socket shares the control loop.
 */
typedef int (*coop_admin_handler)(struct coop *c, int argc, char **argv,
				  struct coop_json *out, char *err, size_t errlen);

/* One entry of the admin command table. */
struct coop_admin_cmd {
	/* The command's words, separated by single spaces: "show vs",
	 * "smb sessions". Words are [a-z0-9_-], at most 8 words. */
	const char *words;
	/* Usage of the arguments, for `help` and argument checking: NAME is
	 * required, [NAME] optional (after the required ones), a trailing
	 * NAME... or [NAME...] takes any number. NULL or "" = no arguments. */
	const char *args;
	/* One line of help, shown by `help`. */
	const char *help;
	/* Builds the reply. */
	coop_admin_handler handler;
	/* Application pointer, returned by coop_admin_data() during the call. */
	void *data;
};

/* Add a command to the runtime's admin table (the struct is copied; the
 * strings and data must outlive the runtime). Callable on the control
 * thread at any time, typically before coop_start. Returns 0, -EINVAL for
 * bad words or usage or a NULL handler, -EEXIST when the same words are
 * already registered (built-ins included), or -ENOMEM. */
int coop_admin_register(struct coop *c, const struct coop_admin_cmd *cmd);

/* The data pointer of the command whose handler is running; NULL outside
 * a handler. Control thread. */
void *coop_admin_data(const struct coop *c);

/* --- replies given later ------------------------------------------------------ */

/* A reply that a handler gives after it returned (a DNS lookup, say). */
struct coop_admin_defer;

/*
 * Inside a handler: the reply to this command comes later, through
 * coop_admin_defer_done(); the handler then returns 0 and writes nothing.
 * The client's next commands wait for it (replies stay in order) and its
 * timeouts are suspended meanwhile, so the command must bound its own time.
 * If the client goes away (or the admin socket closes) first, cancel(arg)
 * is called and the handle is gone: do not call coop_admin_defer_done
 * after that. Returns NULL when the reply cannot wait (no client: the
 * command came through coop_admin_exec; out of memory): answer at once or
 * fail. Control thread.
 */
struct coop_admin_defer *coop_admin_defer(struct coop *c, void (*cancel)(void *arg), void *arg);

/* Give a deferred reply: ret 0 with the JSON value in out (NULL = {}), or
 * ret -errno with the message in err. Allowed before the handler returned
 * too. The handle is gone afterwards. Control thread. */
void coop_admin_defer_done(struct coop_admin_defer *d, int ret, const struct coop_json *out,
			   const char *err);

#ifdef __cplusplus
}
#endif
#endif
