/* module.h - the one interface every module of libcoop implements: a table
 * of operations the runtime calls at start, stop, for each VS that comes,
 * changes or goes, on every worker, and when a reload brings a new
 * configuration. Modules sit above core/ and base/ and below runtime/; they
 * never call each other, only core/ and what these hooks hand them.
 *
 * Every hook is optional (NULL = nothing to do) and runs on the control
 * thread unless it says otherwise. Hooks of a module with `iso` set run
 * only for the VSes that module isolates: that is how backends are
 * chosen, never by testing a VS's isolation type.
 */
#ifndef COOP_CORE_MODULE_H
#define COOP_CORE_MODULE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/coop_admin.h"

struct coop;
struct coop_vs;
struct coop_worker;
struct coop_json;
struct coop_prom;
struct coop_iso_ops;

/* Modules built into libcoop, in the order their hooks run (bring-up
 * order; tear-down runs them backwards). The id indexes the runtime's
 * per-module state (coop_module_priv). */
enum coop_module_id {
	COOP_MOD_NETNS,    /* isolation backend: own namespace (vs/iso_netns.c) */
	COOP_MOD_PBR,      /* isolation backend: mark + table (vs/iso_pbr.c) */
	COOP_MOD_RPC,      /* per-VS ONC RPC registry (vs/rpc.c) */
	COOP_MOD_RESOLVER, /* per-VS resolvers (resolver/vs_resolver.c) */
	COOP_MOD_LISTEN,   /* TCP listeners (vs/listener.c) */
	COOP_MOD_UDP,      /* UDP demux (vs/udp.c) */
	COOP_MOD_FWD,      /* XDP forwarder (fwd/xdp_ctl.c) */
	COOP_MOD_MAX
};

/* What a reload did to one VS, as modules report it for the reply. */
struct coop_change_note {
	char text[256]; /* "address 198.18.1.9/24 added, listener tcp:9 added" */
	size_t len;     /* bytes used */
};

/* Append to a change note (a comma goes between entries). */
void coop_change_note_add(struct coop_change_note *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct coop_module {
	enum coop_module_id id; /* index of its state in the runtime */
	const char *name;       /* "netns", "udp", ...: for messages */
	/* The isolation backend this module is, or NULL. */
	const struct coop_iso_ops *iso;

	/* Its configuration keys (one table per section it adds keys to)
	 * and its admin commands, registered at start. */
	const struct coop_cfg_keytab *keytabs;
	size_t n_keytabs;
	const struct coop_admin_cmd *cmds;
	size_t n_cmds;

	/* Runtime start (before any VS comes up) and stop (after every VS
	 * went down). start: 0 or -errno with err filled; a failure undoes
	 * the modules started before it. */
	int (*start)(struct coop *c, char *err, size_t errlen);
	void (*stop)(struct coop *c);
	/* After the VSes are up and the workers run (the forwarder: flows
	 * this node owns pass to the listeners at once); before stop. */
	int (*run)(struct coop *c, char *err, size_t errlen);
	void (*unrun)(struct coop *c);

	/* A reload: old is the running configuration, new the validated one.
	 * check() says, changing nothing, whether the module can take new's
	 * [global] and own sections live (-EOPNOTSUPP with err naming the
	 * key otherwise); reconfigure() applies them once every module
	 * agreed. 0 or -errno with err filled. */
	int (*check)(struct coop *c, const struct coop_config *old, const struct coop_config *new,
		     char *err, size_t errlen);
	int (*reconfigure)(struct coop *c, const struct coop_config *old,
			   const struct coop_config *new, struct coop_change_note *note,
			   char *err, size_t errlen);

	/* Batches around many vs_add/vs_remove calls (pbr: one rule tree per
	 * namespace, programmed once at the commit). begin only reads. */
	int (*batch_begin)(struct coop *c, char *err, size_t errlen);
	int (*batch_commit)(struct coop *c, char *err, size_t errlen);

	/* A VS object is made (no kernel state: what validation can refuse,
	 * such as a registry seeded from its section) and freed. */
	int (*vs_new)(struct coop_vs *vs, char *err, size_t errlen);
	void (*vs_free)(struct coop_vs *vs);
	/* A VS comes up: make this module's part of it (vs->cfg is set).
	 * On failure undo that part and return -errno with err filled; the
	 * runtime then removes the parts of the modules before it. Workers
	 * may be running: what they must see is published by vs_publish. */
	int (*vs_add)(struct coop_vs *vs, char *err, size_t errlen);
	/* The VS is now in the table the workers see (after every vs_add
	 * succeeded): start serving it on the workers. */
	void (*vs_publish)(struct coop_vs *vs);
	/* A reload changed the VS's section from old to new (vs->cfg is
	 * still old). Apply this module's part in place and say what in
	 * note: 0 (done, or nothing of this module's changed); -EOPNOTSUPP
	 * when only a rebuild can do it (nothing changed); another -errno
	 * with err filled when it failed (this module's part is back to old).
	 * The runtime rolls a VS back by calling vs_change(vs, new, old) on
	 * the modules that had applied theirs. Workers run meanwhile. */
	int (*vs_change)(struct coop_vs *vs, const struct coop_vs_cfg *old,
			 const struct coop_vs_cfg *new, struct coop_change_note *note, char *err,
			 size_t errlen);
	/* Stop taking new work for the VS (drain, removal): listeners
	 * close; existing connections go on. */
	void (*vs_drain)(struct coop_vs *vs);
	/* Take new work again after a drain. 0 or -errno with err filled. */
	int (*vs_resume)(struct coop_vs *vs, char *err, size_t errlen);
	/* The VS is going away: from now on drop its traffic (before the
	 * workers are told to let go). */
	void (*vs_lose)(struct coop_vs *vs);
	/* Worker thread w: let go of the VS there (watchers, channels). */
	void (*vs_release_worker)(struct coop_vs *vs, struct coop_worker *w);
	/* Undo vs_add: every worker let go of the VS (or none runs). */
	void (*vs_remove)(struct coop_vs *vs);

	/* Worker thread w starts or stops: watch or unwatch its sockets. */
	void (*worker_start)(struct coop *c, struct coop_worker *w);
	void (*worker_stop)(struct coop *c, struct coop_worker *w);

	/* Admin and metrics: members of a VS's `show vs NAME` object (detail)
	 * or of its `show stats` entry (!detail); members of `show stats`;
	 * Prometheus samples. */
	void (*vs_json)(const struct coop_vs *vs, struct coop_json *out, bool detail);
	void (*stats_json)(struct coop *c, struct coop_json *out);
	void (*metrics)(struct coop *c, struct coop_prom *p);
};

/* The modules of the runtime, in hook order; the runtime sets them. */
const struct coop_module *const *coop_modules(const struct coop *c, size_t *n);
/* A module's state in the runtime (what its start made), or NULL. */
void *coop_module_priv(const struct coop *c, enum coop_module_id id);
void coop_module_set_priv(struct coop *c, enum coop_module_id id, void *priv);

#endif
