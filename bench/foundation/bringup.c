/* bringup.c - bring-up of N netns virtual servers (one address, one TCP
 * listener each) from INI to all listening, and the raw-kernel baseline.
 *
 * usage: bringup coop create|attach N PREFIX WORKERS
 *          time coop from reading the INI to every listener open; the
 *          namespaces PREFIX-0..N-1 are created (create) or must exist
 *          (attach). Prints "ms rss_kb_per_vs", then tears everything down.
 *        bringup kernel N PREFIX
 *          the same namespaces, lo up, address and one listener with bare
 *          syscalls (no coop): prints "ms"; removes them.
 *        bringup mkns|rmns N PREFIX
 *          create / remove namespaces PREFIX-0..N-1 (for attach runs). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/coop.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* /run/netns as a shared mount point, as iproute2 leaves it. */
static int netns_dir(void)
{
	mkdir("/run/netns", 0755);
	if (mount("", "/run/netns", "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (mount("/run/netns", "/run/netns", "none", MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	return mount("", "/run/netns", "none", MS_SHARED | MS_REC, NULL) ? -errno : 0;
}

/* Create PREFIX-i the way `ip netns add` does; with listen, also lo up,
 * 198.18.0.1 on lo and a TCP listener on it (the socket is leaked on
 * purpose: it lives until the process exits, like a daemon's). */
static int mkns(const char *prefix, int i, int self, bool listen_too)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s-%d", prefix, i);
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
		return -errno;
	if (listen_too) {
		struct ifreq ifr = { .ifr_name = "lo" };
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(7) };
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), l;

		ifr.ifr_flags = IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
		inet_pton(AF_INET, "198.18.0.1", &sin.sin_addr);
		memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
		ioctl(s, SIOCSIFADDR, &ifr);
		close(s);
		l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(l, 128) < 0)
			return -errno;
	}
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	return 0;
}

static void rmns(const char *prefix, int n)
{
	char path[128];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/run/netns/%s-%d", prefix, i);
		umount2(path, MNT_DETACH);
		unlink(path);
	}
}

static int run_coop(bool create, int n, const char *prefix, int workers)
{
	char ini[] = "/tmp/coop-bringup-XXXXXX", err[1024];
	struct coop *c;
	double t0, t1;
	long rss0, rss1;
	FILE *f;
	int fd, i;

	fd = mkstemp(ini);
	f = fdopen(fd, "w");
	fprintf(f, "[global]\nworkers = %d\nadmin_socket = none\n\n", workers);
	for (i = 0; i < n; i++)
		fprintf(f, "[vs v%d]\nnamespace = %s-%d\naddresses = 198.18.0.1/32\nlisten = tcp:7 echo\n\n",
			i, prefix, i);
	fclose(f);
	c = coop_new();
	coop_service_register(c, &coop_service_echo);
	rss0 = rss_kb();
	t0 = now_ms();
	if (coop_configure(c, ini, err, sizeof(err)) < 0 || coop_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "bringup: %s\n", err);
		unlink(ini);
		return 1;
	}
	t1 = now_ms();
	rss1 = rss_kb();
	unlink(ini);
	printf("%.1f %.2f\n", t1 - t0, (double)(rss1 - rss0) / n);
	(void)create;
	coop_stop(c);
	coop_run(c);
	coop_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	int n, self, i;
	double t0;

	if (argc < 4)
		goto usage;
	n = atoi(argv[argc == 4 ? 2 : 3]);
	if (!strcmp(argv[1], "coop") && argc == 6)
		return run_coop(!strcmp(argv[2], "create"), n, argv[4], atoi(argv[5]));
	if (argc != 4)
		goto usage;
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (netns_dir() < 0) {
		perror("bringup: /run/netns");
		return 1;
	}
	if (!strcmp(argv[1], "rmns")) {
		rmns(argv[3], n);
		return 0;
	}
	if (strcmp(argv[1], "kernel") && strcmp(argv[1], "mkns"))
		goto usage;
	t0 = now_ms();
	for (i = 0; i < n; i++) {
		int ret = mkns(argv[3], i, self, !strcmp(argv[1], "kernel"));

		if (ret < 0) {
			fprintf(stderr, "bringup: namespace %d: %s\n", i, strerror(-ret));
			rmns(argv[3], i + 1);
			return 1;
		}
	}
	if (!strcmp(argv[1], "kernel")) {
		printf("%.1f\n", now_ms() - t0);
		rmns(argv[3], n);
	}
	return 0;
usage:
	fprintf(stderr, "usage: bringup coop create|attach N PREFIX WORKERS | kernel|mkns|rmns N PREFIX\n");
	return 2;
}
