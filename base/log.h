/* log.h - coop's log lines on stderr: one line per event, with level and time. */
#ifndef COOP_BASE_LOG_H
#define COOP_BASE_LOG_H

enum coop_log_level { COOP_LOG_ERR, COOP_LOG_WARN, COOP_LOG_INFO, COOP_LOG_DEBUG };

/* Lowest level printed (default INFO; COOP_LOG=debug in the environment). */
void coop_log_set_level(enum coop_log_level level);
/* Print one line; any thread (a single write(2) per line). */
void coop_log(enum coop_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define coop_err(...) coop_log(COOP_LOG_ERR, __VA_ARGS__)
#define coop_warn(...) coop_log(COOP_LOG_WARN, __VA_ARGS__)
#define coop_info(...) coop_log(COOP_LOG_INFO, __VA_ARGS__)
#define coop_debug(...) coop_log(COOP_LOG_DEBUG, __VA_ARGS__)

#endif
