/* pbr_sysctl.c - the sysctls a pbr namespace needs (mark reflection,
 * reverse-path checks by mark, promoted secondaries), set once, and the
 * administrator's values put back at the end, even after a crash. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/netns.h"
#include "vs/pbr.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14; older libc headers lack it */
#endif

/* A sysctl coop sets in a pbr namespace, and why (docs/pbr.md says the same). */
struct sysctl_def {
	const char *path; /* under /proc/sys */
	const char *want; /* value coop writes */
};

static const struct sysctl_def sysctls[] = {
	/* Kernel replies (TCP RST, ICMP errors, echo replies) carry the
	 * mark of the packet they answer, set by the ingress map. */
	{ "net/ipv4/fwmark_reflect", "1" },
	{ "net/ipv6/fwmark_reflect", "1" },
	/* A listener without a mark (not opened through coop) still answers
	 * through the VS table: accepted sockets take the SYN's mark. */
	{ "net/ipv4/tcp_fwmark_accept", "1" },
	/* Reverse-path checks use the packet mark, i.e. the VS table, where
	 * the VS subnets live (they are not in the main table). */
	{ "net/ipv4/conf/all/src_valid_mark", "1" },
	/* Deleting one VS's address must not take the addresses of other
	 * VSes in the same subnet with it (secondaries are promoted). */
	{ "net/ipv4/conf/all/promote_secondaries", "1" },
};
#define N_SYSCTLS (sizeof(sysctls) / sizeof(sysctls[0]))

_Static_assert(N_SYSCTLS == COOP_PBR_N_SYSCTLS, "COOP_PBR_N_SYSCTLS in vs/pbr.h");

/* The values coop found before it changed any sysctl of a namespace live
 * here too, so that a stop after a crash and a restart still puts back
 * what the administrator had (the second run finds coop's own values).
 * The name carries the namespace's cookie, which the kernel never gives
 * to another namespace (an nsfs inode number can come back); /run is gone
 * after a reboot, and so are the sysctls. */
#define SYSCTL_STATE_DIR "/run/coop"

static void state_path(int nsfd, char *buf, size_t len)
{
	uint64_t cookie = 0;
	socklen_t cl = sizeof(cookie);
	int fd = coop_netns_socket(nsfd, AF_UNIX, SOCK_DGRAM, 0);

	buf[0] = '\0';
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl) == 0 && cookie)
		snprintf(buf, len, SYSCTL_STATE_DIR "/pbr-sysctl-%llx", (unsigned long long)cookie);
	close(fd);
}

/* Originals a previous run recorded: "PATH VALUE" lines. Returns whether
 * there was such a record. */
static bool state_load(struct coop_pbr_sysctls *s, const char *path)
{
	char line[128], key[96], value[16];
	FILE *f = path[0] ? fopen(path, "re") : NULL;
	size_t i;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%95s %15s", key, value) != 2)
			continue;
		for (i = 0; i < N_SYSCTLS; i++)
			if (!strcmp(key, sysctls[i].path))
				snprintf(s->saved[i], sizeof(s->saved[i]), "%s", value);
	}
	if (!f)
		return false;
	fclose(f);
	return true;
}

static void state_store(const struct coop_pbr_sysctls *s, const char *path)
{
	char tmp[160];
	size_t i;
	FILE *f;

	if (!path[0])
		return;
	mkdir(SYSCTL_STATE_DIR, 0700);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "we");
	if (!f)
		goto err;
	for (i = 0; i < N_SYSCTLS; i++)
		if (s->saved[i][0])
			fprintf(f, "%s %s\n", sysctls[i].path, s->saved[i]);
	if (fclose(f) == 0 && rename(tmp, path) == 0)
		return;
err:
	coop_warn("pbr: cannot record sysctl values in %s: %m (a stop after a crash cannot restore them)",
		  path);
}

struct sysctl_job {
	struct coop_pbr_sysctls *s; /* values saved */
	const char *nsname;         /* namespace, for messages */
	bool set;                   /* set coop's values, else restore */
};

/* Runs inside the namespace: /proc/sys/net follows the calling thread's
 * namespace when the file is opened. */
static int sysctl_here(void *arg)
{
	struct sysctl_job *job = arg;
	struct coop_pbr_sysctls *s = job->s;
	char path[96], buf[16];
	size_t i;

	for (i = 0; i < N_SYSCTLS; i++) {
		const char *value;
		ssize_t r;
		int fd;

		snprintf(path, sizeof(path), "/proc/sys/%s", sysctls[i].path);
		if (job->set) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue; /* IPv6 disabled: nothing to set */
			r = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (r <= 0)
				continue;
			buf[r] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			if (!strcmp(buf, sysctls[i].want))
				continue; /* already so (maybe by a crashed run, whose
					   * record of the original is in saved) */
			snprintf(s->saved[i], sizeof(s->saved[i]), "%s", buf);
			value = sysctls[i].want;
		} else {
			if (!s->saved[i][0])
				continue;
			value = s->saved[i];
		}
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, value, strlen(value)) < 0)
			coop_warn("pbr namespace %s: cannot write %s = %s: %m", job->nsname,
				  sysctls[i].path, value);
		if (fd >= 0)
			close(fd);
		if (!job->set)
			s->saved[i][0] = '\0';
	}
	return 0;
}

void coop_pbr_sysctls_apply(struct coop_pbr_sysctls *s, int nsfd, const char *nsname, bool set)
{
	struct sysctl_job job = { .s = s, .nsname = nsname, .set = set };
	char path[160];

	if (s->set == set && set)
		return;
	state_path(nsfd, path, sizeof(path));
	if (!set && !s->set) {
		/* Nothing set by this run; but a run that crashed may have set
		 * them, and its record says what to put back. */
		if (!state_load(s, path))
			return;
		s->set = true;
	}
	if (set)
		state_load(s, path);
	coop_netns_run(nsfd, sysctl_here, &job);
	if (set)
		state_store(s, path);
	else if (path[0])
		unlink(path);
	s->set = set;
}
