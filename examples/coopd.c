/* coopd.c - the reference daemon: wires the runtime, the example services
 * and a configuration file together, in the foreground. */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/coop.h"
#include "vs/coop_rpc.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: coopd [--check] -c FILE\n"
		   "  -c, --config FILE  configuration (INI)\n"
		   "      --check        validate FILE and exit 0 (valid) or 1\n"
		   "  -h, --help         this text\n"
		   "Runs in the foreground; SIGINT/SIGTERM stop it and remove every\n"
		   "namespace, link, address and route it created.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool check = false;
	char err[1024];
	struct coop *c;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	c = coop_new();
	if (!c) {
		fprintf(stderr, "coopd: cannot initialise the runtime\n");
		return 1;
	}
	/* portmap: the per-VS ONC RPC portmapper; each VS's registry holds
	 * the portmapper itself and the VS's `rpc =` entries (docs/udp.md). */
	if (coop_service_register(c, &coop_service_echo) < 0 ||
	    coop_service_register(c, &coop_service_whoami) < 0 ||
	    coop_service_register(c, &coop_service_portmap) < 0) {
		fprintf(stderr, "coopd: cannot register the example services\n");
		goto err_free;
	}
	ret = coop_configure(c, path, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "coopd: %s\n", err);
		goto err_free;
	}
	if (check) {
		printf("%s: ok\n", path);
		coop_free(c);
		return 0;
	}
	ret = coop_start(c, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "coopd: %s\n", err);
		goto err_free;
	}
	coop_run(c);
	coop_free(c);
	return 0;

err_free:
	coop_free(c);
	return 1;
}
