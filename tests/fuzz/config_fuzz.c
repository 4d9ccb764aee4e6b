/* config_fuzz.c - fuzz the INI configuration loader and validator (coopd -c, coopd --check): any bytes as the file; it loads or says what is wrong, nothing else. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "runtime/rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct coop_config *cfg = NULL;
	char path[64], err[512];
	int fd = memfd_create("coop-config-fuzz", MFD_CLOEXEC), ret;

	if (fd < 0 || (n && write(fd, d, n) != (ssize_t)n))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	/* links are not looked up: a file for another machine */
	ret = coop_config_load_flags(path, COOP_CONFIG_NO_LINKS, &cfg, err, sizeof(err));
	if (ret == 0 && !cfg)
		abort();
	if (ret != 0 && (cfg || !err[0]))
		abort(); /* a refusal always says why */
	coop_config_free(cfg);
	close(fd);
	return 0;
}
