/* rt.h - the runtime layer: the built-in modules wired together, a VS's
 * life through them (vsctl.c), reloads (reload.c) and the runtime's admin
 * commands (cmds.c). The top of libcoop: nothing below includes it. */
#ifndef COOP_RUNTIME_RT_H
#define COOP_RUNTIME_RT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/module.h"
#include "core/runtime.h"
#include "core/vs.h"

/* The modules, declared by each in its own file. */
extern const struct coop_module coop_mod_netns, coop_mod_pbr, coop_mod_rpc, coop_mod_resolver,
	coop_mod_listen, coop_mod_udp, coop_mod_fwd;

/* Every built-in module, in hook order. */
const struct coop_module *const *coop_rt_modules(size_t *n);

/* coop_config_parse() with every built-in module's key tables: what coopd,
 * the tests and the fuzzers load files with. */
int coop_config_load(const char *path, struct coop_config **out, char *err, size_t errlen);
int coop_config_load_flags(const char *path, unsigned flags, struct coop_config **out,
			   char *err, size_t errlen);
/* coop_config_load() for a reload: sections whose text did not change since
 * prev are copied from it, not parsed again. */
int coop_config_load_again(const char *path, const struct coop_config *prev,
			   struct coop_config **out, char *err, size_t errlen);
/* The i-th documented key of every table (docs/config.md, help). */
const struct coop_config_keydoc *coop_config_keydoc_at(size_t i);

/* What the runtime needs of a loaded configuration beyond the file's own
 * rules: every listener names a registered service that speaks its
 * protocol. 0 or -errno with err filled. */
int coop_rt_check(const struct coop *c, const struct coop_config *cfg, char *err, size_t errlen);
/* The isolation backend of a section, by its isolation = name. */
const struct coop_iso_ops *coop_rt_iso(const struct coop *c, const struct coop_vs_cfg *cfg);

/* --- a VS's life (vsctl.c), control thread ------------------------------------- */

/* A VS object for section sec (coop_vs_new, then every module's vs_new),
 * and its end (every module's vs_free, then coop_vs_free). */
int coop_rt_vs_make(struct coop *c, const struct coop_vs_cfg *sec, struct coop_vs **out,
		    char *err, size_t errlen);
void coop_rt_vs_destroy(struct coop_vs *vs);

/* Run every module's vs_add for vs (its backend's, then the others) and,
 * when publish, its vs_publish: 0, or -errno with err filled and every part
 * undone. */
int coop_rt_vs_up(struct coop_vs *vs, bool publish, char *err, size_t errlen);
/* Every module's vs_remove, backwards (workers let go of it, or stopped). */
void coop_rt_vs_down(struct coop_vs *vs);
/* Stop accepting (drain) / accept again (resume). */
int coop_rt_vs_drain(struct coop_vs *vs, char *err, size_t errlen);
int coop_rt_vs_resume(struct coop_vs *vs, char *err, size_t errlen);
/* The VS leaves: drain, then (connections gone or drain_timeout passed)
 * release and free it, and bring up its successor if it has one. */
void coop_rt_vs_retire(struct coop_vs *vs);
/* Batches on every module with them. */
int coop_rt_batch_begin(struct coop *c, char *err, size_t errlen);
int coop_rt_batch_commit(struct coop *c, char *err, size_t errlen);
/* Append vs to / take it out of the table workers read (workers parked). */
int coop_rt_vs_insert(struct coop *c, struct coop_vs *vs);
void coop_rt_vs_unlink(struct coop *c, struct coop_vs *vs);
/* A module's hook applies to vs (backends only to their own VSes). */
bool coop_rt_mod_for(const struct coop_module *m, const struct coop_vs *vs);
/* coop_vs_lose() of the runtime. */
void coop_rt_vs_lose(struct coop_vs *vs, const char *why);

/* --- reloads (reload.c) ----------------------------------------------------------- */

/* Re-read the file the runtime runs on and apply the difference. The reply
 * (added, removed, rebuilt, changed, kept) goes to out when not NULL. 0,
 * or -errno with err filled: nothing changed (a bad file, a [global] or
 * [forwarder] change that cannot be applied live), or some VS failed and
 * was rolled back (err names it; the rest was applied). */
int coop_rt_reload(struct coop *c, struct coop_json *out, char *err, size_t errlen);

/* The runtime's admin commands (cmds.c). */
extern const struct coop_admin_cmd coop_rt_cmds[];
extern const size_t coop_rt_n_cmds;

#endif
