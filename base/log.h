/* log.h - coop's log lines: one per event, with level and time, on stderr
 * or to the embedding application's handler (base/coop_log.h). */
#ifndef COOP_BASE_LOG_H
#define COOP_BASE_LOG_H

#include "base/coop_log.h"

/* Log one line; any thread (on stderr: a single write(2) per line). */
void coop_log(enum coop_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define coop_err(...) coop_log(COOP_LOG_ERR, __VA_ARGS__)
#define coop_warn(...) coop_log(COOP_LOG_WARN, __VA_ARGS__)
#define coop_info(...) coop_log(COOP_LOG_INFO, __VA_ARGS__)
#define coop_debug(...) coop_log(COOP_LOG_DEBUG, __VA_ARGS__)

#endif
