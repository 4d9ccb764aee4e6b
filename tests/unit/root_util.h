/* root_util.h - helpers of the unit tests that build kernel state (they
 * run their root-only parts only as root): run a shell command, remove the
 * named namespaces a test left. Header-only: each test is one binary. */
#ifndef COOP_TESTS_ROOT_UTIL_H
#define COOP_TESTS_ROOT_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/netns.h"

/* system() of the formatted command: its exit status, -1 if it could not run. */
static inline int __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* Unmount and remove every /run/netns/PREFIX* (what `ip netns del` does). */
static inline void netns_remove_prefixed(const char *prefix)
{
	char path[300];
	struct dirent *de;
	DIR *d;

	d = opendir(COOP_NETNS_DIR);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", COOP_NETNS_DIR, de->d_name);
		umount2(path, MNT_DETACH);
		unlink(path);
	}
	closedir(d);
}

#endif
