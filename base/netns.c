/* netns.c - network namespaces: the cached default fd, "enter, work, return"
 * helpers, and an iproute2-compatible registry of named namespaces. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/netns.h"
#include "base/nl.h"

#define SELF_NS "/proc/thread-self/ns/net"
/* The loopback device has this index in every namespace (the kernel reserves
 * it), so a new namespace needs no lookup to bring lo up. */
#define LOOPBACK_IFINDEX 1
/* Registry hash buckets: a thousand VSes must not mean a linear search each. */
#define NS_BUCKETS 256
/* How long to wait for a file in /run/netns to become a namespace mount:
 * `ip netns add` creates the file first and mounts on it about 1 ms later. */
#define NSFS_WAIT_STEP_NS 500000L
#define NSFS_WAIT_STEPS 40

/* Namespace of the thread that called coop_netns_init: the one every thread
 * returns to. Written once before other threads exist, then read-only. */
static int default_fd = -1;
/* fd of the namespace the calling thread entered through this module, -1
 * for the default one: lets calls nest (an rtnetlink socket opened from
 * inside coop_netns_run) and still return to where the caller was. */
static __thread int inside = -1;
/* Registry of named namespaces; control thread only. */
static struct coop_netns *ns_table[NS_BUCKETS];
/* /run/netns exists and is a shared mount point: checked once per process
 * rather than once per namespace (it costs two mount syscalls). */
static bool run_dir_ready;

int coop_netns_init(void)
{
	int fd;

	if (default_fd >= 0)
		return 0;
	fd = open(SELF_NS, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	default_fd = fd;
	return 0;
}

int coop_netns_default_fd(void)
{
	return default_fd;
}

/* The namespace the calling thread is in. */
static int here(void)
{
	return inside < 0 ? default_fd : inside;
}

/* Enter namespace nsfd, remembering it. */
static int enter(int nsfd)
{
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	inside = nsfd;
	return 0;
}

/* Put the calling thread back into namespace prev (-1: the default) or die:
 * carrying on in a tenant's namespace would create the next sockets in the
 * wrong place. */
static void leave(int prev)
{
	if (setns(prev < 0 ? default_fd : prev, CLONE_NEWNET) == 0) {
		inside = prev;
		return;
	}
	fprintf(stderr, "coop: cannot return to the %s network namespace: %s; aborting\n",
		prev < 0 ? "default" : "previous", strerror(errno));
	abort();
}

int coop_netns_run(int nsfd, int (*fn)(void *arg), void *arg)
{
	int prev = inside, rc;

	if (default_fd < 0)
		return -EBADF;
	/* Threads live in the default namespace between calls, so entering it
	 * again would be two wasted syscalls. */
	if (nsfd == here())
		return fn(arg);
	rc = enter(nsfd);
	if (rc < 0)
		return rc;
	rc = fn(arg);
	leave(prev);
	return rc;
}

int coop_netns_socket(int nsfd, int domain, int type, int protocol)
{
	int prev = inside, fd, rc;

	if (default_fd < 0)
		return -EBADF;
	if (nsfd == here()) {
		fd = socket(domain, type | SOCK_CLOEXEC, protocol);
		return fd < 0 ? -errno : fd;
	}
	rc = enter(nsfd);
	if (rc < 0)
		return rc;
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	rc = fd < 0 ? -errno : fd;
	leave(prev);
	return rc;
}

/* iproute2 names: one path component, fits struct coop_netns.name. */
static int name_check(const char *name)
{
	size_t len = strnlen(name, sizeof(((struct coop_netns *)0)->name));

	/* An absolute path names a namespace file elsewhere (/proc/PID/ns/net,
	 * a container runtime's bind mount): attached, never created. */
	if (name[0] == '/')
		return len >= sizeof(((struct coop_netns *)0)->name) ? -ENAMETOOLONG : 0;
	if (len == 0 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (len >= sizeof(((struct coop_netns *)0)->name))
		return -ENAMETOOLONG;
	return 0;
}

static void ns_path(const char *name, char *buf, size_t len)
{
	if (name[0] == '/')
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s/%s", COOP_NETNS_DIR, name);
}

/* Fill err with "namespace 'NAME': WHAT: strerror(-rc)" and return rc. */
static int __attribute__((format(printf, 5, 6)))
ns_fail(char *err, size_t errlen, const char *name, int rc, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(err, errlen, "namespace '%s': %s: %s", name, what, strerror(-rc));
	}
	return rc;
}

static unsigned name_hash(const char *name)
{
	return coop_fnv32(COOP_FNV32_INIT, name, strlen(name)) % NS_BUCKETS;
}

static struct coop_netns *registry_find(const char *name)
{
	struct coop_netns *ns;

	for (ns = ns_table[name_hash(name)]; ns; ns = ns->next)
		if (!strcmp(ns->name, name))
			return ns;
	return NULL;
}

static void registry_add(struct coop_netns *ns)
{
	unsigned h = name_hash(ns->name);

	ns->next = ns_table[h];
	ns_table[h] = ns;
}

static void registry_del(struct coop_netns *ns)
{
	struct coop_netns **pp;

	for (pp = &ns_table[name_hash(ns->name)]; *pp; pp = &(*pp)->next) {
		if (*pp == ns) {
			*pp = ns->next;
			return;
		}
	}
}

/* True when fd is an nsfs file of a network namespace. */
static bool fd_is_netns(int fd)
{
	struct statfs sfs;
	int type;

	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC)
		return false;
	type = ioctl(fd, NS_GET_NSTYPE);
	/* Kernels before 4.11 lack NS_GET_NSTYPE; setns() checks the type then. */
	return type == CLONE_NEWNET || (type < 0 && errno == ENOTTY);
}

/* Open an existing /run/netns/NAME. -ENOENT (err untouched) when there is no
 * such file, so that the caller may create it. */
static int ns_attach(struct coop_netns *ns, char *err, size_t errlen)
{
	struct timespec step = { 0, NSFS_WAIT_STEP_NS };
	char path[sizeof(COOP_NETNS_DIR) + sizeof(ns->name)];
	int fd, i;

	ns_path(ns->name, path, sizeof(path));
	for (i = 0;; i++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				return -ENOENT;
			return ns_fail(err, errlen, ns->name, -errno, "cannot open %s", path);
		}
		if (fd_is_netns(fd))
			break;
		close(fd);
		/* Someone may be half-way through `ip netns add`: give the
		 * mount a moment to appear before calling the file foreign. */
		if (i == NSFS_WAIT_STEPS)
			return ns_fail(err, errlen, ns->name, -EEXIST,
				       "%s exists but is not a network namespace", path);
		nanosleep(&step, NULL);
	}
	ns->fd = fd;
	ns->owned = false;
	return 0;
}

/* Make /run/netns a shared mount point, as iproute2 does, so that namespace
 * mounts made here show up in other mount namespaces and vice versa. What it
 * sets up is left in place once complete (other tools rely on it, as they do
 * after `ip netns add`); a partial set-up is undone. */
static int run_dir_prepare(const char *name, char *err, size_t errlen)
{
	bool made_dir = false, made_bind = false;
	int rc;

	if (run_dir_ready)
		return 0;
	if (mkdir(COOP_NETNS_DIR, 0755) == 0)
		made_dir = true;
	else if (errno != EEXIST)
		return ns_fail(err, errlen, name, -errno, "cannot create %s", COOP_NETNS_DIR);
	while (mount("", COOP_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		/* EINVAL: not a mount point yet; make it one, then retry. */
		if (errno != EINVAL || made_bind) {
			rc = ns_fail(err, errlen, name, -errno, "cannot make %s a shared mount",
				     COOP_NETNS_DIR);
			goto err_undo;
		}
		if (mount(COOP_NETNS_DIR, COOP_NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0) {
			rc = ns_fail(err, errlen, name, -errno, "cannot bind-mount %s",
				     COOP_NETNS_DIR);
			goto err_undo;
		}
		made_bind = true;
	}
	run_dir_ready = true;
	return 0;

err_undo:
	if (made_bind)
		umount2(COOP_NETNS_DIR, MNT_DETACH);
	if (made_dir)
		rmdir(COOP_NETNS_DIR);
	return rc;
}

/* Bring lo up in the namespace the calling thread is in (a new one). */
static int lo_up_here(void)
{
	struct coop_nl *nl;
	int rc;

	rc = coop_nl_open(-1, &nl);
	if (rc < 0)
		return rc;
	rc = coop_nl_link_set_up(nl, LOOPBACK_IFINDEX, true);
	coop_nl_close(nl);
	return rc;
}

/* Create /run/netns/NAME the way `ip netns add` does, with lo up. */
static int ns_create(struct coop_netns *ns, char *err, size_t errlen)
{
	char path[sizeof(COOP_NETNS_DIR) + sizeof(ns->name)];
	int prev = inside, fd, rc;

	rc = run_dir_prepare(ns->name, err, errlen);
	if (rc < 0)
		return rc;
	ns_path(ns->name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0 && errno == ENOENT) {
		/* /run/netns vanished since we prepared it (tmpfs cleaned?). */
		run_dir_ready = false;
		rc = run_dir_prepare(ns->name, err, errlen);
		if (rc < 0)
			return rc;
		fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	}
	if (fd < 0)
		return ns_fail(err, errlen, ns->name, -errno, "cannot create %s", path);
	close(fd);

	/* From here until leave() this thread is in the new namespace (which
	 * has no fd of ours yet: `inside` keeps naming the one to go back to). */
	if (unshare(CLONE_NEWNET) < 0) {
		rc = ns_fail(err, errlen, ns->name, -errno, "cannot create a network namespace");
		goto err_unlink;
	}
	if (mount(SELF_NS, path, "none", MS_BIND, NULL) < 0) {
		rc = ns_fail(err, errlen, ns->name, -errno, "cannot bind-mount it on %s", path);
		goto err_leave;
	}
	fd = open(SELF_NS, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = ns_fail(err, errlen, ns->name, -errno, "cannot open it");
		goto err_umount;
	}
	/* Still inside: the netlink socket for lo is created here without
	 * another setns pair. */
	rc = lo_up_here();
	if (rc < 0) {
		ns_fail(err, errlen, ns->name, rc, "cannot bring lo up");
		goto err_close;
	}
	leave(prev);
	ns->fd = fd;
	ns->owned = true;
	return 0;

err_close:
	close(fd);
err_umount:
	umount2(path, MNT_DETACH);
err_leave:
	leave(prev);
err_unlink:
	unlink(path);
	return rc;
}

int coop_netns_get(const char *name, bool create, struct coop_netns **out,
		   char *err, size_t errlen)
{
	struct coop_netns *ns;
	int rc;

	rc = name_check(name);
	if (rc < 0)
		return ns_fail(err, errlen, name, rc, "invalid name");
	if (default_fd < 0)
		return ns_fail(err, errlen, name, -EBADF, "coop_netns_init() was not called");
	ns = registry_find(name);
	if (ns) {
		ns->refs++;
		*out = ns;
		return 0;
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return ns_fail(err, errlen, name, -ENOMEM, "cannot allocate");
	strcpy(ns->name, name); /* length checked by name_check */
	rc = ns_attach(ns, err, errlen);
	if (rc == -ENOENT) {
		if (create && name[0] != '/')
			rc = ns_create(ns, err, errlen);
		else if (name[0] == '/')
			rc = ns_fail(err, errlen, name, rc, "%s does not exist", name);
		else
			rc = ns_fail(err, errlen, name, rc, "%s/%s does not exist",
				     COOP_NETNS_DIR, name);
	}
	if (rc < 0) {
		free(ns);
		return rc;
	}
	ns->refs = 1;
	registry_add(ns);
	*out = ns;
	return 0;
}

struct coop_netns *coop_netns_find(const char *name)
{
	return registry_find(name);
}

/* Unmount and unlink an owned namespace, unless the name now belongs to a
 * different namespace (someone ran `ip netns del NAME; ip netns add NAME`):
 * that one is not ours to delete. */
static void ns_remove(struct coop_netns *ns)
{
	char path[sizeof(COOP_NETNS_DIR) + sizeof(ns->name)];
	struct stat file, mine;

	ns_path(ns->name, path, sizeof(path));
	if (stat(path, &file) < 0 || fstat(ns->fd, &mine) < 0)
		return;
	if (file.st_dev != mine.st_dev || file.st_ino != mine.st_ino)
		return;
	if (umount2(path, MNT_DETACH) < 0)
		return;
	unlink(path);
}

void coop_netns_put(struct coop_netns *ns)
{
	if (!ns || --ns->refs > 0)
		return;
	registry_del(ns);
	if (ns->owned)
		ns_remove(ns);
	close(ns->fd);
	free(ns);
}

bool coop_netns_exists(const char *name)
{
	char path[sizeof(COOP_NETNS_DIR) + sizeof(((struct coop_netns *)0)->name)];
	struct statfs sfs;
	struct stat st;

	if (name_check(name) < 0)
		return false;
	ns_path(name, path, sizeof(path));
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	return statfs(path, &sfs) == 0 && sfs.f_type == NSFS_MAGIC;
}
