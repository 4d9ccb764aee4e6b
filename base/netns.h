/* netns.h - network namespaces: cached fds, create/attach/delete, and the
 * "enter, socket(), return" helper.
 *
 * coop_netns_init() must run before any other thread exists. The namespace
 * registry (coop_netns_get/put) belongs to the control thread; the fd of a
 * namespace may be used from any thread while a reference is held. */
#ifndef COOP_BASE_NETNS_H
#define COOP_BASE_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#define COOP_NETNS_DIR "/run/netns"

/* A named network namespace known to coop. */
struct coop_netns {
	char name[64];             /* iproute2 name: /run/netns/NAME */
	int fd;                    /* open fd on the namespace, O_CLOEXEC */
	bool owned;                /* coop created it and deletes it on last put */
	unsigned refs;             /* VSes using it */
	struct coop_netns *next;   /* registry list */
};

/* Cache the calling thread's namespace as the default. 0 or -errno. */
int coop_netns_init(void);
/* fd of the default namespace (valid after coop_netns_init). */
int coop_netns_default_fd(void);

/* Find or open the namespace NAME: attach if /run/netns/NAME exists (NAME
 * may also be an absolute path to a namespace file, e.g. /proc/1/ns/net,
 * which is only ever attached), else
 * create it (with lo up) when create is true, else fail with -ENOENT.
 * Adds a reference. Control thread. */
int coop_netns_get(const char *name, bool create, struct coop_netns **out,
		   char *err, size_t errlen);
/* The registered namespace NAME (held by some VS of this process), or NULL.
 * Adds no reference. Control thread. */
struct coop_netns *coop_netns_find(const char *name);
/* Drop a reference; the last one closes the fd and, when coop created the
 * namespace, removes it. Control thread. */
void coop_netns_put(struct coop_netns *ns);

/* Run fn(arg) with the calling thread inside namespace nsfd, then return
 * to the default namespace. Aborts the process if the return fails: a
 * thread stranded in a tenant's namespace is a security bug. Returns
 * fn's result, or -errno if entering failed. Any thread. Calls may nest
 * (fn may use coop_netns_run/socket): each returns to where its caller
 * was. No setns at all when nsfd is the namespace the thread is in. */
int coop_netns_run(int nsfd, int (*fn)(void *arg), void *arg);

/* socket() inside namespace nsfd (SOCK_CLOEXEC added). fd or -errno. */
int coop_netns_socket(int nsfd, int domain, int type, int protocol);

/* True when path exists and is a network namespace (nsfs) mount. */
bool coop_netns_exists(const char *name);

#endif
