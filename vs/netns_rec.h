/* netns_rec.h - the on-disk record of what coop did for one netns VS (the
 * namespace it created, the link it moved in, the addresses and default
 * routes it added), so that a coopd started after a crash can adopt that
 * state and a clean stop, or a later start, can undo exactly it.
 *
 * Records live in one append-only log per coopd process under
 * COOP_NETNS_REC_DIR, "coopd.PID.START": a sequence of entries, each a whole
 * record or a "gone NAME" line, written with one write(2) to a descriptor
 * opened once. The latest entry of a namespace in a log is its entry there;
 * a truncated last entry (the writer died inside write(2), before acting on
 * it) is ignored. Logs are not fsync'ed: they describe kernel state that
 * does not survive a reboot either, and the page cache survives the death
 * of the process, which is the crash they are for.
 *
 * The module keeps an index of every log (loaded on first use, refreshed
 * from what other logs appended each time the store is locked) and this
 * process's log open. A flock(2) on DIR/.lock, held from
 * coop_netns_rec_begin to coop_netns_rec_end, keeps two coopds from claiming
 * one namespace at once.
 *
 * Pure file and /proc work: no netlink, no namespaces. Control thread only;
 * the state is per process (a forked child starts afresh). */
#ifndef COOP_NETNS_REC_H
#define COOP_NETNS_REC_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

/* Where the records live; /run/coop is shared with the pbr backend's
 * saved sysctls (vs/pbr_sysctl.c). */
#define COOP_NETNS_REC_DIR "/run/coop/netns"

/* A default route coop added. */
struct coop_netns_rec_route {
	struct coop_addr gw;       /* its gateway */
	char ifname[IF_NAMESIZE];  /* output link it was pinned to, "" = none */
};

/* What coop did (or, before it acts, is about to do) in one namespace.
 * Every item is a claim: "this is coop's"; what the record does not name is
 * never touched on its strength. */
struct coop_netns_rec {
	char ns[COOP_NAME_MAX];         /* namespace name, or absolute path */
	long pid;                       /* owner: pid of the coopd that wrote it */
	unsigned long long start;       /* ...and its start time (/proc/PID/stat
					 * field 22), so a reused pid is not taken
					 * for the owner */
	unsigned long long ns_ino;      /* nsfs inode of the namespace, 0 = not
					 * known yet (written before creating it) */
	bool created;                   /* coop created the namespace */
	char ifname[IF_NAMESIZE];       /* the VS interface, "" = none */
	bool moved;                     /* coop moved it in from the default
					 * namespace... */
	bool was_up;                    /* ...where it was up */
	bool set_up;                    /* coop set IFF_UP on it */
	struct coop_prefix *addrs;      /* addresses coop added; p.ifname is the
					 * link carrying each ("lo" or a name);
					 * malloc'ed, coop_netns_rec_free */
	size_t n_addrs;
	struct coop_netns_rec_route routes[4]; /* default routes coop added */
	size_t n_routes;
};

/* Text form of r into buf: the number of bytes (excluding the NUL), or
 * -ENOSPC when buf is too small. */
int coop_netns_rec_format(const struct coop_netns_rec *r, char *buf, size_t len);
/* Parse the text form of one record. 0, or -EBADMSG with why = "line N:
 * ..."; r is zeroed first and must be freed with coop_netns_rec_free
 * either way. */
int coop_netns_rec_parse(const char *text, size_t len, struct coop_netns_rec *r, char *why,
			 size_t whylen);

/* Path of the log of owner pid/start under dir ("DIR/coopd.PID.START"):
 * where a record of that owner is. 0 or -ENAMETOOLONG. */
int coop_netns_rec_log_path(const char *dir, long pid, unsigned long long start, char *buf,
			    size_t len);

/* Lock the store in dir (made if missing) and bring the index up to date:
 * read every log the first time, then only what other logs appended since.
 * Waits up to 10 s for another process's lock. Nests: only the outermost
 * call locks, and only the outermost coop_netns_rec_end unlocks. The
 * functions below call it themselves, so a caller needs it only to make
 * several of them one step (read, then claim). 0 or -errno with err filled. */
int coop_netns_rec_begin(const char *dir, char *err, size_t errlen);
void coop_netns_rec_end(void);

/* Append r to this process's log as the current record of r->ns (the log
 * is created on the first write). Entries of r->ns in the logs of dead
 * owners are superseded: a "gone" line goes to each, or the log is removed
 * when nothing else in it is current. excl: fail with -EEXIST if another
 * log holds an entry of r->ns at all; either way -EBUSY if one whose owner
 * runs does. 0 or -errno with err naming the file. */
int coop_netns_rec_write(const char *dir, const struct coop_netns_rec *r, bool excl, char *err,
			 size_t errlen);
/* The current record of namespace ns (this process's entry, else one of a
 * running owner, else the newest dead owner's). 0; -ENOENT when there is
 * none (err untouched); -EBADMSG (an entry is corrupt) or another -errno
 * with err naming the file and line. r must be freed with
 * coop_netns_rec_free after 0 or -EBADMSG. */
int coop_netns_rec_read(const char *dir, const char *ns, struct coop_netns_rec *r, char *err,
			size_t errlen);
/* Remove the record of ns from this process's log and the logs of dead
 * owners ("gone" line, or the log goes when nothing in it is current any
 * more); a running owner's entry stays. No record: 0. 0 or -errno. */
int coop_netns_rec_remove(const char *dir, const char *ns);
/* Namespaces with an entry in some log (corrupt ones included), as a
 * malloc'ed array of *n malloc'ed names; free with coop_netns_rec_list_free.
 * 0 or -errno with err filled. */
int coop_netns_rec_list(const char *dir, char ***names, size_t *n, char *err, size_t errlen);
void coop_netns_rec_list_free(char **names, size_t n);
/* Forget the index and close the files (the logs stay): the next call
 * reads the store again, as a new process would. Not inside a begin. */
void coop_netns_rec_reset(void);
void coop_netns_rec_free(struct coop_netns_rec *r);

/* Start time (field 22 of /proc/PID/stat) of process pid: 0, -ESRCH when
 * there is no such process, -EBADMSG when the file cannot be parsed. */
int coop_netns_rec_proc_start(long pid, unsigned long long *start);
/* Fill r->pid and r->start with this process (start time cached). 0 or -errno. */
int coop_netns_rec_set_owner(struct coop_netns_rec *r);
/* The record's owner still runs: its pid exists with the recorded start
 * time. A record of this very process counts as alive. */
bool coop_netns_rec_owner_alive(const struct coop_netns_rec *r);
/* The record was written by this process. */
bool coop_netns_rec_owner_self(const struct coop_netns_rec *r);

#endif
