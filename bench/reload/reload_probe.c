/* reload_probe.c - timing helper of bench/reload/run.sh: sends `reload` on
 * coopd's admin socket and polls netns VSes until their echo listener
 * answers (TCP connect + one echo round trip to the VS address, from
 * inside the VS's namespace), times whole commands, and generates the echo
 * load and the add/remove churn of the request-rate rounds.
 *
 * usage:
 *   reload_probe add SOCK CONF NEWCONF NSPATH ADDR PORT
 *       install NEWCONF as CONF (copy + rename), check that NSPATH does not
 *       exist, send "reload"; poll NSPATH's ADDR:PORT until the echo comes
 *       back (the admin reply is read in between). Prints
 *       "ANSWER_MS REPLY_MS PROBES" then the reply line.
 *   reload_probe reload SOCK [CONF NEWCONF]
 *       (install NEWCONF as CONF,) send "reload", wait for the reply.
 *       Prints "REPLY_MS" then the reply line.
 *   reload_probe up T0 NSLIST ADDR PORT
 *       T0: a time of day in seconds ($EPOCHREALTIME). Waits until the VS
 *       whose namespace path is NSLIST's last line answers, then checks
 *       every other one (waiting for any that does not answer yet, which
 *       moves the end time). Prints "MS_SINCE_T0 NOT_UP_AT_ONCE".
 *   reload_probe exec CMD [ARG...]
 *       runs CMD (its output passes through), prints its wall time in ms
 *       on the last line; exits with CMD's status.
 *   reload_probe rr HOST PORT CONNS T_START SECONDS
 *       connects CONNS TCP connections, waits until T_START (time of day,
 *       seconds), then runs closed-loop 64-byte echo request/response on
 *       all of them for SECONDS, or with SECONDS 0 until SIGUSR1; prints
 *       "REQUESTS_PER_S SECONDS_MEASURED".
 *   reload_probe churn SOCK CONF FILE_WITHOUT FILE_WITH CYCLES T_START [SECONDS]
 *       from T_START on, CYCLES times: install FILE_WITH and reload (the
 *       reply must list $CHURN_VS in "added"), install FILE_WITHOUT and
 *       reload (it must be in "removed"); back to back, or with SECONDS
 *       one reload every 0.45 SECONDS / CYCLES (all within 0.9 SECONDS;
 *       late ones go at once). Prints "RELOADS MEDIAN_MS MAX_MS SECONDS"
 *       (from T_START to the last reply).
 *   reload_probe nschurn WORKERS CYCLES T_START SECONDS
 *       the kernel's part of that churn without coop, on the same
 *       schedule: a new network namespace with lo up, 198.18.0.1/32 on lo
 *       and WORKERS TCP listeners on port 7 (what coop makes for the VS),
 *       then, half a period later, its sockets and last reference closed.
 *       Prints "OPERATIONS MEDIAN_MS MAX_MS SECONDS".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG_SIZE 64
#define POLL_GAP_NS 20000 /* pause between two failed probes */

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double real_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until_real(double t)
{
	double d = t - real_s();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static void gap(void)
{
	struct timespec ts = { 0, POLL_GAP_NS };

	nanosleep(&ts, NULL);
}

static void die(const char *what)
{
	fprintf(stderr, "reload_probe: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* --- config files ---------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		die(path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	if (!buf || fread(buf, 1, n, f) != (size_t)n)
		die(path);
	fclose(f);
	*len = n;
	return buf;
}

/* Write buf to CONF.new and rename it over CONF: coopd reads either the
 * old or the new file, never half of one. */
static void install(const char *conf, const char *buf, size_t len)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", conf);
	f = fopen(tmp, "w");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		die(tmp);
	if (rename(tmp, conf) < 0)
		die("rename");
}

static void install_file(const char *conf, const char *src)
{
	size_t len;
	char *buf = slurp(src, &len);

	install(conf, buf, len);
	free(buf);
}

/* --- admin socket ---------------------------------------------------------- */

static int admin_send(const char *path, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(line);
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(path);
	if (write(fd, line, len) != (ssize_t)len)
		die("admin write");
	return fd;
}

struct reply {
	char *buf;
	size_t len, cap;
	bool done;
};

/* Read what is there (wait up to timeout_ms); true once the line is in. */
static bool reply_poll(int fd, struct reply *r, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (r->done)
		return true;
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	if (r->cap - r->len < 65536) {
		r->cap = r->cap ? r->cap * 2 : 1 << 20;
		r->buf = realloc(r->buf, r->cap);
		if (!r->buf)
			die("realloc");
	}
	n = read(fd, r->buf + r->len, r->cap - r->len - 1);
	if (n < 0 && errno != EINTR)
		die("admin read");
	if (n == 0) {
		fprintf(stderr, "reload_probe: admin socket closed without a reply\n");
		exit(1);
	}
	if (n > 0)
		r->len += n;
	r->buf[r->len] = 0;
	if (memchr(r->buf, '\n', r->len))
		r->done = true;
	return r->done;
}

static void reply_wait(int fd, struct reply *r)
{
	double t_end = mono_ms() + 120000;

	while (!reply_poll(fd, r, 1000))
		if (mono_ms() > t_end) {
			fprintf(stderr, "reload_probe: no reply to reload in 120 s\n");
			exit(1);
		}
}

/* --- probing a VS ----------------------------------------------------------- */

static int self_ns = -1;

/* One attempt: enter the namespace at nspath, connect to addr:port, send
 * MSG_SIZE bytes and read them back (at most 2 s). true if it answered. */
static bool probe(const char *nspath, const struct sockaddr_in *sin)
{
	char msg[MSG_SIZE], buf[MSG_SIZE];
	struct pollfd p;
	size_t got = 0;
	bool ok = false;
	int nsfd, s;

	nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return false;
	/* Before coop has bind-mounted the namespace on it, the file is a
	 * plain empty file and setns refuses it. */
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		close(nsfd);
		return false;
	}
	close(nsfd);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (setns(self_ns, CLONE_NEWNET) < 0)
		die("setns back");
	if (s < 0)
		return false;
	if (connect(s, (const struct sockaddr *)sin, sizeof(*sin)) < 0)
		goto out;
	memset(msg, 'r', sizeof(msg));
	if (write(s, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		goto out;
	p.fd = s;
	p.events = POLLIN;
	while (got < sizeof(buf) && poll(&p, 1, 2000) == 1) {
		ssize_t n = read(s, buf + got, sizeof(buf) - got);

		if (n <= 0)
			goto out;
		got += n;
	}
	ok = got == sizeof(buf) && !memcmp(msg, buf, sizeof(buf));
out:
	close(s);
	return ok;
}

static void parse_addr(const char *addr, const char *port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(atoi(port));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
		fprintf(stderr, "reload_probe: bad IPv4 address %s\n", addr);
		exit(2);
	}
}

static void init_self(void)
{
	self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self_ns < 0)
		die("/proc/self/ns/net");
}

/* --- modes ------------------------------------------------------------------ */

static int cmd_add(char **argv)
{
	const char *sock = argv[0], *conf = argv[1], *nspath = argv[3];
	struct reply r = { 0 };
	struct sockaddr_in sin;
	double t0, t_ans = -1, t_rep = -1;
	unsigned long probes = 0;
	struct stat st;
	int fd;

	parse_addr(argv[4], argv[5], &sin);
	init_self();
	install_file(conf, argv[2]);
	if (stat(nspath, &st) == 0) {
		fprintf(stderr, "reload_probe: %s exists before the reload (left from a removal?)\n", nspath);
		return 1;
	}
	t0 = mono_ms();
	fd = admin_send(sock, "reload\n");
	for (;;) {
		probes++;
		if (probe(nspath, &sin)) {
			t_ans = mono_ms();
			break;
		}
		if (reply_poll(fd, &r, 0) && t_rep < 0) {
			t_rep = mono_ms();
			if (strstr(r.buf, "\"error\"")) {
				fprintf(stderr, "reload_probe: reload failed: %s", r.buf);
				return 1;
			}
		}
		if (mono_ms() - t0 > 60000) {
			fprintf(stderr, "reload_probe: %s did not answer within 60 s of the reload\n", nspath);
			return 1;
		}
		gap();
	}
	if (!r.done) {
		reply_wait(fd, &r);
		t_rep = mono_ms();
	}
	close(fd);
	printf("%.3f %.3f %lu\n%s", t_ans - t0, t_rep - t0, probes, r.buf);
	return strstr(r.buf, "\"error\"") ? 1 : 0;
}

static int cmd_reload(int argc, char **argv)
{
	struct reply r = { 0 };
	double t0;
	int fd;

	if (argc == 3)
		install_file(argv[1], argv[2]);
	t0 = mono_ms();
	fd = admin_send(argv[0], "reload\n");
	reply_wait(fd, &r);
	printf("%.3f\n%s", mono_ms() - t0, r.buf);
	close(fd);
	return strstr(r.buf, "\"error\"") ? 1 : 0;
}

static int cmd_up(char **argv)
{
	double t0 = atof(argv[0]), t_last = 0;
	struct sockaddr_in sin;
	char line[4096], **ns = NULL;
	size_t n = 0, cap = 0, i;
	unsigned long failed = 0;
	FILE *f = fopen(argv[1], "r");

	if (!f)
		die(argv[1]);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!*line)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			ns = realloc(ns, cap * sizeof(*ns));
		}
		ns[n++] = strdup(line);
	}
	fclose(f);
	if (!n)
		return 2;
	parse_addr(argv[2], argv[3], &sin);
	init_self();
	/* The last VS of the file first, then every other one in order; a VS
	 * that does not answer at once is waited for, and its answer moves
	 * the end time. */
	for (i = 0; i < n; i++) {
		const char *p = ns[i == 0 ? n - 1 : i - 1];
		bool at_once = probe(p, &sin);

		if (!at_once) {
			failed += i != 0;
			while (!probe(p, &sin)) {
				if (real_s() - t0 > 120) {
					fprintf(stderr, "reload_probe: %s did not answer within 120 s\n", p);
					return 1;
				}
				gap();
			}
		}
		if (i == 0 || !at_once)
			t_last = real_s();
	}
	printf("%.3f %lu\n", (t_last - t0) * 1e3, failed);
	return 0;
}

static int cmd_exec(char **argv)
{
	double t0 = mono_ms();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	fflush(stdout);
	printf("%.3f\n", mono_ms() - t0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

struct rr_conn {
	int fd;
	size_t got;
};

static volatile sig_atomic_t rr_stop;

static void on_usr1(int sig)
{
	(void)sig;
	rr_stop = 1;
}

static int cmd_rr(char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct epoll_event ev, evs[64];
	char msg[MSG_SIZE], buf[4096];
	unsigned long long done = 0;
	struct rr_conn *conns;
	int n = atoi(argv[2]), i, ep, one = 1;
	double t_start = atof(argv[3]), secs = atof(argv[4]), t0, t_end, t1;
	struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART */

	sigaction(SIGUSR1, &sa, NULL);
	if (n < 1 || getaddrinfo(argv[0], argv[1], &hints, &ai)) {
		fprintf(stderr, "reload_probe rr: bad arguments\n");
		return 2;
	}
	memset(msg, 'x', sizeof(msg));
	conns = calloc(n, sizeof(*conns));
	ep = epoll_create1(0);
	for (i = 0; i < n; i++) {
		conns[i].fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (conns[i].fd < 0 || connect(conns[i].fd, ai->ai_addr, ai->ai_addrlen) < 0)
			die("rr connect");
		setsockopt(conns[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.events = EPOLLIN;
		ev.data.ptr = &conns[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	sleep_until_real(t_start);
	t0 = mono_ms();
	t_end = secs > 0 ? t0 + secs * 1e3 : 1e300;
	for (i = 0; i < n; i++)
		if (write(conns[i].fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
			die("rr write");
	while (!rr_stop && mono_ms() < t_end) {
		int k, m = epoll_wait(ep, evs, 64, 100);

		if (m < 0 && errno != EINTR)
			die("epoll_wait");

		for (k = 0; k < m; k++) {
			struct rr_conn *c = evs[k].data.ptr;
			ssize_t r = read(c->fd, buf, sizeof(buf));

			if (r <= 0) {
				fprintf(stderr, "reload_probe rr: connection lost\n");
				return 1;
			}
			c->got += r;
			while (c->got >= sizeof(msg)) {
				c->got -= sizeof(msg);
				done++;
				if (write(c->fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
					die("rr write");
			}
		}
	}
	t1 = mono_ms();
	printf("%.0f %.3f\n", done / ((t1 - t0) / 1e3), (t1 - t0) / 1e3);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double timed_reload(const char *sock, const char *conf, const char *buf, size_t len,
			   const char *vs, bool added)
{
	struct reply r = { 0 };
	double t0;
	int fd;

	install(conf, buf, len);
	t0 = mono_ms();
	fd = admin_send(sock, "reload\n");
	reply_wait(fd, &r);
	t0 = mono_ms() - t0;
	close(fd);
	/* {"added":[...],"removed":[...],...}: the VS must be in the right
	 * list; a cheap check without a JSON parser: it follows the list's
	 * key before the next key. */
	{
		const char *key = strstr(r.buf, added ? "\"added\"" : "\"removed\"");
		const char *name = key ? strstr(key, vs) : NULL;
		const char *close_br = key ? strchr(key, ']') : NULL;

		if (strstr(r.buf, "\"error\"") || !name || !close_br || name > close_br) {
			fprintf(stderr, "reload_probe churn: unexpected reply (%s %s): %s",
				added ? "adding" : "removing", vs, r.buf);
			exit(1);
		}
	}
	free(r.buf);
	return t0;
}

static int cmd_churn(char **argv)
{
	const char *sock = argv[0], *conf = argv[1];
	size_t len_without, len_with;
	char *without = slurp(argv[2], &len_without), *with = slurp(argv[3], &len_with);
	int cycles = atoi(argv[4]), i, k = 0;
	double t_start = atof(argv[5]), secs = argv[6] ? atof(argv[6]) : 0, *ms, end;
	double period = 0.9 * secs / (cycles > 0 ? cycles : 1);
	char vs[128];

	/* The VS churned: the one FILE_WITH has and FILE_WITHOUT lacks. */
	snprintf(vs, sizeof(vs), "\"%s\"", getenv("CHURN_VS") ? getenv("CHURN_VS") : "");
	if (cycles < 1 || strlen(vs) < 3) {
		fprintf(stderr, "reload_probe churn: bad arguments (CHURN_VS set?)\n");
		return 2;
	}
	ms = calloc(2 * cycles, sizeof(*ms));
	for (i = 0; i < cycles; i++) {
		sleep_until_real(t_start + i * period);
		ms[k++] = timed_reload(sock, conf, with, len_with, vs, true);
		sleep_until_real(t_start + (i + 0.5) * period);
		ms[k++] = timed_reload(sock, conf, without, len_without, vs, false);
	}
	end = real_s() - t_start;
	qsort(ms, k, sizeof(*ms), cmp_double);
	printf("%d %.3f %.3f %.3f\n", k, (ms[(k - 1) / 2] + ms[k / 2]) / 2, ms[k - 1], end);
	return 0;
}

/* The kernel work of one netns VS without coop: namespace, lo up, the
 * address, WORKERS listeners (SO_REUSEPORT). Returns the namespace's fd;
 * the listeners in ls[]. */
static int kernel_vs_up(int workers, int *ls)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(7) };
	struct ifreq ifr = { .ifr_name = "lo" };
	int s, nsfd, i, one = 1;

	if (unshare(CLONE_NEWNET) < 0)
		die("unshare");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
	if (s < 0 || ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die("lo up");
	inet_pton(AF_INET, "198.18.0.1", &sin.sin_addr);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		die("SIOCSIFADDR");
	close(s);
	for (i = 0; i < workers; i++) {
		ls[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		setsockopt(ls[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (ls[i] < 0 || bind(ls[i], (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(ls[i], 128) < 0)
			die("listener");
	}
	nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(self_ns, CLONE_NEWNET) < 0)
		die("setns back");
	return nsfd;
}

static int cmd_nschurn(char **argv)
{
	int workers = atoi(argv[0]), cycles = atoi(argv[1]), i, j, k = 0, ls[64], nsfd;
	double t_start = atof(argv[2]), secs = atof(argv[3]), period, *ms, end, t0;

	if (workers < 1 || workers > 64 || cycles < 1 || secs <= 0) {
		fprintf(stderr, "reload_probe nschurn: bad arguments\n");
		return 2;
	}
	init_self();
	ms = calloc(2 * cycles, sizeof(*ms));
	period = 0.9 * secs / cycles;
	for (i = 0; i < cycles; i++) {
		sleep_until_real(t_start + i * period);
		t0 = mono_ms();
		nsfd = kernel_vs_up(workers, ls);
		ms[k++] = mono_ms() - t0;
		sleep_until_real(t_start + (i + 0.5) * period);
		t0 = mono_ms();
		for (j = 0; j < workers; j++)
			close(ls[j]);
		close(nsfd); /* the last reference: the kernel frees it */
		ms[k++] = mono_ms() - t0;
	}
	end = real_s() - t_start;
	qsort(ms, k, sizeof(*ms), cmp_double);
	printf("%d %.3f %.3f %.3f\n", k, (ms[(k - 1) / 2] + ms[k / 2]) / 2, ms[k - 1], end);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 8 && !strcmp(argv[1], "add"))
		return cmd_add(argv + 2);
	if ((argc == 3 || argc == 5) && !strcmp(argv[1], "reload"))
		return cmd_reload(argc - 2, argv + 2);
	if (argc == 6 && !strcmp(argv[1], "up"))
		return cmd_up(argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "exec"))
		return cmd_exec(argv + 2);
	if (argc == 7 && !strcmp(argv[1], "rr"))
		return cmd_rr(argv + 2);
	if ((argc == 8 || argc == 9) && !strcmp(argv[1], "churn"))
		return cmd_churn(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "nschurn"))
		return cmd_nschurn(argv + 2);
	fprintf(stderr, "usage: reload_probe add SOCK CONF NEWCONF NSPATH ADDR PORT\n"
			"       reload_probe reload SOCK [CONF NEWCONF]\n"
			"       reload_probe up T0 NSLIST ADDR PORT\n"
			"       reload_probe exec CMD [ARG...]\n"
			"       reload_probe rr HOST PORT CONNS T_START SECONDS\n"
			"       reload_probe churn SOCK CONF FILE_WITHOUT FILE_WITH CYCLES T_START [SECONDS]\n"
			"       reload_probe nschurn WORKERS CYCLES T_START SECONDS\n");
	return 2;
}
