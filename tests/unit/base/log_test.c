/* log_test.c - the log: the application's handler gets every line above
 * the level with its syslog priority and no timestamp; stderr gets the
 * timestamped form, or "<PRIO>text" when it is the journal. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"

struct seen {
	int n;           /* lines received */
	int level, prio; /* of the last one */
	char text[256];  /* its text */
};

static void take(enum coop_log_level level, int priority, const char *text, void *arg)
{
	struct seen *s = arg;

	s->n++;
	s->level = level;
	s->prio = priority;
	snprintf(s->text, sizeof(s->text), "%s", text);
}

static void test_handler(void **state)
{
	struct seen s = { 0 };

	(void)state;
	coop_log_set_level(COOP_LOG_INFO);
	coop_log_set_handler(take, &s);
	coop_warn("vs '%s': %d things", "nas1", 3);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.level, COOP_LOG_WARN);
	assert_int_equal(s.prio, LOG_WARNING);
	assert_string_equal(s.text, "vs 'nas1': 3 things");
	coop_debug("below the level");
	assert_int_equal(s.n, 1);
	coop_err("bad");
	assert_int_equal(s.prio, LOG_ERR);
	coop_log_set_handler(NULL, NULL);
	coop_info("to stderr again");
	assert_int_equal(s.n, 2);
}

/* stderr to a file: FORMAT of one coop_info() line in a child whose
 * JOURNAL_STREAM names that file (journal) or nothing. */
static void line_to_file(bool journal, char *out, size_t len)
{
	char path[] = "/tmp/coop-log-test.XXXXXX";
	int fd = mkstemp(path), st;
	pid_t pid;
	ssize_t n;

	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct stat sb;
		char env[64];

		dup2(fd, STDERR_FILENO);
		fstat(fd, &sb);
		snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)sb.st_dev,
			 (unsigned long long)sb.st_ino);
		if (journal)
			setenv("JOURNAL_STREAM", env, 1);
		else
			unsetenv("JOURNAL_STREAM");
		coop_info("hello %d", 7);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	n = pread(fd, out, len - 1, 0);
	assert_true(n > 0);
	out[n] = '\0';
	close(fd);
	unlink(path);
}

static void test_stderr_forms(void **state)
{
	char buf[256];

	(void)state;
	line_to_file(true, buf, sizeof(buf));
	assert_string_equal(buf, "<6>hello 7\n");
	line_to_file(false, buf, sizeof(buf));
	assert_int_equal(strncmp(buf, "coop ", 5), 0);
	assert_non_null(strstr(buf, " info: hello 7\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stderr_forms),
		cmocka_unit_test(test_handler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
