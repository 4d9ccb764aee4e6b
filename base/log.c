/* log.c - log lines: timestamped on stderr, one write(2) each so threads
 * do not interleave; with syslog priorities when stderr is the journal;
 * or handed to the application's handler. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

static int min_level = -1;
/* The application's handler and its argument (NULL: stderr). */
static _Atomic(coop_log_fn) handler;
static void *_Atomic handler_arg;
/* stderr is the systemd journal: -1 unknown yet, 0 no, 1 yes. */
static int journal = -1;

void coop_log_set_handler(coop_log_fn fn, void *arg)
{
	atomic_store(&handler_arg, arg);
	atomic_store(&handler, fn);
}

/* JOURNAL_STREAM names stderr's device and inode when systemd connected
 * it to the journal (systemd.exec(5)); a redirect since then does not
 * count. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

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
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	coop_log_fn fn = atomic_load(&handler);
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, text;

	if (min_level < 0)
		min_level = level_from_env();
	if ((int)level > min_level)
		return;
	if (journal < 0)
		journal = stderr_is_journal();
	if (fn || journal) {
		/* the application or the journal keeps the time */
		n = journal && !fn ? snprintf(line, sizeof(line), "<%d>", prio[level]) : 0;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "coop %02d:%02d:%02d.%03ld %s: ", tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
	}
	text = n;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (fn) {
		line[n] = '\0';
		fn(level, prio[level], line + text, atomic_load(&handler_arg));
		return;
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
