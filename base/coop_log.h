/* coop_log.h - public API of coop's log: where its lines go. By default
 * one line per event on stderr ("coop HH:MM:SS.mmm LEVEL: text"), or with
 * a syslog priority prefix ("<3>text", sd-daemon(3) style) when stderr is
 * the systemd journal. An embedding application can take the lines
 * itself. The lowest level logged comes from COOP_LOG (err, warn, info,
 * debug; default info) or coop_log_set_level(). */
#ifndef COOP_LOG_H
#define COOP_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum coop_log_level { COOP_LOG_ERR, COOP_LOG_WARN, COOP_LOG_INFO, COOP_LOG_DEBUG };

/* Lowest level passed on (default INFO; COOP_LOG in the environment). */
void coop_log_set_level(enum coop_log_level level);

/* Receives every log line: its level, its syslog priority (LOG_ERR,
 * LOG_WARNING, LOG_INFO, LOG_DEBUG of syslog.h), the text without
 * timestamp or newline (valid during the call), and arg. Called on the
 * thread that logs (control or worker): it must be thread-safe and must
 * not block for long. */
typedef void (*coop_log_fn)(enum coop_log_level level, int priority, const char *text,
			    void *arg);

/* Send the lines to fn instead of stderr (NULL: back to stderr). Any
 * thread; lines logged by other threads during the switch go to one of
 * the two. */
void coop_log_set_handler(coop_log_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
