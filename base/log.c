/* log.c - timestamped log lines on stderr, one write(2) each so threads do
 * not interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

static int min_level = -1;

void coop_log_set_level(enum coop_log_level level)
{
	min_level = level;
}

static int level_from_env(void)
{
	const char *e = getenv("COOP_LOG");

	if (!e)
		return COOP_LOG_INFO;
	if (!strcmp(e, "debug"))
		return COOP_LOG_DEBUG;
	if (!strcmp(e, "warn"))
		return COOP_LOG_WARN;
	if (!strcmp(e, "err"))
		return COOP_LOG_ERR;
	return COOP_LOG_INFO;
}

void coop_log(enum coop_log_level level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (min_level < 0)
		min_level = level_from_env();
	if ((int)level > min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "coop %02d:%02d:%02d.%03ld %s: ", tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
