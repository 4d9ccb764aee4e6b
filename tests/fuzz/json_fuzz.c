/* json_fuzz.c - fuzz the JSON reader coopctl parses admin replies with: any bytes; what parses must have a well-formed tree. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct coop_json_value *v = NULL;
	char err[128];

	if (coop_json_parse((const char *)d, n, &v, err, sizeof(err)) == 0) {
		if (!v)
			abort();
		coop_json_value_free(v);
	}
	return 0;
}
