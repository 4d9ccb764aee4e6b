/* reload_conns.c - client of the reload test: holds long-lived TCP
 * connections to echo services (in any namespace), keeps numbered bytes
 * flowing on each and checks every byte that comes back, recording errors,
 * bytes verified and the longest gap between successive echoes. */

/*
 * Built by tests/integration/t_reload.sh with `cc -O2 -o reload_conns
 * reload_conns.c`; it is test tooling, not part of libcoop.
 *
 *   reload_conns [-r WRITES_PER_S] [-b BYTES] [-g MS] [TARGET...]
 *
 * TARGET is LABEL,NS,ADDR,PORT,N: N connections to ADDR (IPv4 or IPv6,
 * no brackets) port PORT, opened from namespace NS (a name under
 * /run/netns, an absolute path, or "-" for the current namespace). Each
 * connection writes BYTES bytes (default 16) WRITES_PER_S times a second
 * (default 100) as long as less than 4 KiB are unanswered. Byte i of
 * connection ID is (i + 37 * ID) % 251, so a lost, repeated or reordered
 * chunk shows. With -g, every gap between echoes longer than MS ms is
 * logged on stderr with the wall-clock time it ended (to match with logs).
 *
 * Gaps are the server's: when this process itself was not running (poll
 * returned later than the time it was given, or the work between two polls
 * took long: a busy machine), echoes wait in the socket meanwhile, so that
 * time is taken off the gaps it falls in; the longest such stall is
 * reported as cstall.
 *
 * When the TARGETs are connected it prints "ready ok=K fail=F" and "end".
 * Then commands on stdin, one reply block each ending with "end":
 *
 *   stats                  one line per label:
 *                          "LABEL conns=N open=M errors=E closed=C bytes=B
 *                          maxgap=MS wgap=MS werrors=E cstall=MS": maxgap is the
 *                          longest gap between echoes since the start,
 *                          wgap and werrors the same since the previous
 *                          stats (a gap still running counts too); cstall
 *                          the longest stall of this client in the window
 *   open LABEL NS ADDR PORT N
 *                          N more connections; "opened LABEL ok=K fail=F"
 *   close LABEL            close LABEL's connections (not an error)
 *   expect LABEL           from now on the peer closing LABEL's connections
 *                          is expected: counted as closed, not as an error
 *   quit                   the summary, then exit
 *
 *   reload_conns udp NS ADDR PORT MESSAGE [TIMEOUT_MS]
 *
 * sends MESSAGE in one datagram from namespace NS, prints the first reply
 * (and a newline) as soon as it comes, exit 0; exit 1 when none comes
 * within TIMEOUT_MS (default 1000). A quicker UDP client than socat,
 * which waits out its timeout after every reply.
 *
 * SIGTERM and SIGINT also print the summary and exit (the end of stdin
 * does not: it only ends the commands).
 * The summary: the stats lines, then "total bytes=B errors=E maxgap=MS
 * closed=C". Exit status 1 if any connection saw an error (a refused
 * connect, a reset, an unexpected close, a wrong byte), else 0. Every
 * error is also described on stderr as it happens.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define MAX_LABELS 64
#define MAX_OUTSTANDING 4096
#define CONNECT_TIMEOUT_MS 3000.0

enum cstate { C_CONNECTING, C_UP, C_CLOSED };

struct label {
	char name[32];
	int expect_close;    /* peer closes are expected */
	unsigned long long errors, werrors, closed, bytes;
	double maxgap, wgap; /* ms */
};

struct conn {
	int fd;
	enum cstate st;
	unsigned id;
	int label;
	uint64_t sent, rcvd; /* bytes written, bytes verified */
	double started;      /* connect began (ms) */
	double next_send;    /* ms */
	double last_rx;      /* last echo (or connection up), ms */
	double stall_at_rx;  /* stalled then (the total below) */
	double maxgap;
};

static struct conn conns[MAX_CONNS];
static unsigned nconns;
static struct label labels[MAX_LABELS];
static unsigned nlabels;
static int orig_ns = -1;
static double period_ms = 10.0;
static size_t chunk = 16;
static volatile sig_atomic_t stop;
static double log_gap_ms; /* -g: log gaps longer than this (0: none) */
static double stalled;    /* ms this client was not running when it should have */
static double wstall;     /* the longest such stall since the previous stats */

/* the pending reply: initial "ready" (-1) or an "open" (label), or none */
static int pending = -2;
static unsigned pend_from, pend_to;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static unsigned char seq_byte(const struct conn *c, uint64_t i)
{
	return (unsigned char)((i + 37u * c->id) % 251u);
}

static int label_find(const char *name, int create)
{
	unsigned i;

	for (i = 0; i < nlabels; i++)
		if (!strcmp(labels[i].name, name))
			return (int)i;
	if (!create || nlabels == MAX_LABELS)
		return -1;
	memset(&labels[nlabels], 0, sizeof(labels[nlabels]));
	snprintf(labels[nlabels].name, sizeof(labels[nlabels].name), "%s", name);
	return (int)nlabels++;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_CLOSED;
}

static void conn_error(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void conn_error(struct conn *c, const char *fmt, ...)
{
	struct label *l = &labels[c->label];
	va_list ap;

	fprintf(stderr, "reload_conns: %s#%u: ", l->name, c->id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%llu bytes verified)\n", (unsigned long long)c->rcvd);
	l->errors++;
	l->werrors++;
	conn_close(c);
}

/* A peer close or reset: an error unless the label expects it. */
static void conn_gone(struct conn *c, const char *why)
{
	if (labels[c->label].expect_close) {
		labels[c->label].closed++;
		conn_close(c);
		return;
	}
	conn_error(c, "%s", why);
}

static int open_ns(const char *ns)
{
	char path[300];

	if (!strcmp(ns, "-"))
		return -2;
	if (ns[0] == '/')
		snprintf(path, sizeof(path), "%s", ns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* N connections of LABEL; they are connecting when this returns. */
static int conns_open(const char *label, const char *ns, const char *addr, const char *port,
		      unsigned n)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int li = label_find(label, 1), nsfd, ret;
	unsigned i;

	if (li < 0) {
		fprintf(stderr, "reload_conns: too many labels\n");
		return -1;
	}
	ret = getaddrinfo(addr, port, &hints, &ai);
	if (ret) {
		fprintf(stderr, "reload_conns: %s %s: %s\n", addr, port, gai_strerror(ret));
		return -1;
	}
	nsfd = open_ns(ns);
	if (nsfd == -1) {
		fprintf(stderr, "reload_conns: namespace %s: %s\n", ns, strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	for (i = 0; i < n && nconns < MAX_CONNS; i++) {
		struct conn *c = &conns[nconns];
		int one = 1;

		memset(c, 0, sizeof(*c));
		c->id = nconns++;
		c->label = li;
		c->started = now_ms();
		c->st = C_CONNECTING;
		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0) {
			c->fd = -1;
			conn_error(c, "setns %s: %s", ns, strerror(errno));
			continue;
		}
		c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (nsfd >= 0 && setns(orig_ns, CLONE_NEWNET) < 0) {
			perror("reload_conns: setns back");
			exit(2);
		}
		if (c->fd < 0) {
			conn_error(c, "socket: %s", strerror(errno));
			continue;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			conn_error(c, "connect %s:%s: %s", addr, port, strerror(errno));
			continue;
		}
	}
	if (nsfd >= 0)
		close(nsfd);
	freeaddrinfo(ai);
	return 0;
}

static void conn_up(struct conn *c)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err) {
		conn_error(c, "connect: %s", strerror(err));
		return;
	}
	c->st = C_UP;
	c->last_rx = now_ms();
	c->stall_at_rx = stalled;
	c->next_send = c->last_rx;
}

static void conn_send(struct conn *c, double t)
{
	unsigned char buf[256];
	size_t n = chunk, i;
	ssize_t w;

	if (t < c->next_send)
		return;
	c->next_send += period_ms;
	if (c->next_send < t - 10 * period_ms) /* far behind (stopped): no burst */
		c->next_send = t + period_ms;
	if (c->sent - c->rcvd + n > MAX_OUTSTANDING)
		return;
	for (i = 0; i < n; i++)
		buf[i] = seq_byte(c, c->sent + i);
	w = send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		if (errno == ECONNRESET || errno == EPIPE)
			conn_gone(c, errno == EPIPE ? "send: broken pipe" : "send: reset");
		else
			conn_error(c, "send: %s", strerror(errno));
		return;
	}
	c->sent += (uint64_t)w;
}

static void conn_recv(struct conn *c, double t)
{
	unsigned char buf[8192];
	struct label *l = &labels[c->label];
	ssize_t r, i;
	double gap;

	r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		if (errno == ECONNRESET)
			conn_gone(c, "recv: reset");
		else
			conn_error(c, "recv: %s", strerror(errno));
		return;
	}
	if (r == 0) {
		conn_gone(c, "closed by the peer");
		return;
	}
	if (c->rcvd + (uint64_t)r > c->sent) {
		conn_error(c, "%zd bytes back with only %llu unanswered", r,
			   (unsigned long long)(c->sent - c->rcvd));
		return;
	}
	for (i = 0; i < r; i++)
		if (buf[i] != seq_byte(c, c->rcvd + (uint64_t)i)) {
			conn_error(c, "byte %llu is %u, expected %u",
				   (unsigned long long)(c->rcvd + (uint64_t)i), buf[i],
				   seq_byte(c, c->rcvd + (uint64_t)i));
			return;
		}
	c->rcvd += (uint64_t)r;
	l->bytes += (uint64_t)r;
	gap = t - c->last_rx - (stalled - c->stall_at_rx);
	c->last_rx = t;
	c->stall_at_rx = stalled;
	if (log_gap_ms > 0 && gap > log_gap_ms) {
		struct timespec now;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		fprintf(stderr, "reload_conns: %s#%u: %.0f ms without an echo, until %02d:%02d:%02d.%03ld\n",
			l->name, c->id, gap, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	}
	if (gap > c->maxgap)
		c->maxgap = gap;
	if (gap > l->maxgap)
		l->maxgap = gap;
	if (gap > l->wgap)
		l->wgap = gap;
}

/* A gap still running: an open connection waiting for its echo. */
static void running_gaps(double t)
{
	unsigned i;

	for (i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		struct label *l = &labels[c->label];
		double gap = t - c->last_rx - (stalled - c->stall_at_rx);

		if (c->st != C_UP || c->sent == c->rcvd)
			continue;
		if (gap > l->maxgap)
			l->maxgap = gap;
		if (gap > l->wgap)
			l->wgap = gap;
	}
}

static void print_stats(int window_reset)
{
	unsigned i, j;
	double t = now_ms();

	running_gaps(t);
	for (i = 0; i < nlabels; i++) {
		struct label *l = &labels[i];
		unsigned n = 0, open = 0;

		for (j = 0; j < nconns; j++)
			if (conns[j].label == (int)i) {
				n++;
				open += conns[j].st != C_CLOSED;
			}
		printf("%s conns=%u open=%u errors=%llu closed=%llu bytes=%llu maxgap=%.0f wgap=%.0f "
		       "werrors=%llu cstall=%.0f\n",
		       l->name, n, open, l->errors, l->closed, l->bytes, l->maxgap, l->wgap, l->werrors,
		       wstall);
		if (window_reset) {
			l->wgap = 0;
			l->werrors = 0;
		}
	}
	if (window_reset)
		wstall = 0;
}

static int summary(void)
{
	unsigned long long bytes = 0, errors = 0, closed = 0;
	double maxgap = 0;
	unsigned i;

	print_stats(0);
	for (i = 0; i < nlabels; i++) {
		bytes += labels[i].bytes;
		errors += labels[i].errors;
		closed += labels[i].closed;
		if (labels[i].maxgap > maxgap)
			maxgap = labels[i].maxgap;
	}
	printf("total bytes=%llu errors=%llu maxgap=%.0f closed=%llu\nend\n", bytes, errors, maxgap,
	       closed);
	fflush(stdout);
	return errors ? 1 : 0;
}

/* The reply to "ready"/"open" once none of its connections is connecting. */
static void pending_check(void)
{
	unsigned i, ok = 0, failed = 0;

	if (pending == -2)
		return;
	for (i = pend_from; i < pend_to; i++) {
		if (conns[i].st == C_CONNECTING)
			return;
		if (conns[i].st == C_UP)
			ok++;
		else
			failed++;
	}
	if (pending == -1)
		printf("ready ok=%u fail=%u\nend\n", ok, failed);
	else
		printf("opened %s ok=%u fail=%u\nend\n", labels[pending].name, ok, failed);
	fflush(stdout);
	pending = -2;
}

/* One command line; 1 to quit. */
static int command(char *line)
{
	char *w[8], *save = NULL, *tok;
	int n = 0, li;
	unsigned i;

	for (tok = strtok_r(line, " \t\r\n", &save); tok && n < 8; tok = strtok_r(NULL, " \t\r\n", &save))
		w[n++] = tok;
	if (n == 0)
		return 0;
	if (!strcmp(w[0], "quit"))
		return 1;
	if (!strcmp(w[0], "stats") && n == 1) {
		print_stats(1);
	} else if (!strcmp(w[0], "open") && n == 6) {
		unsigned from = nconns;

		if (conns_open(w[1], w[2], w[3], w[4], (unsigned)atoi(w[5])) == 0) {
			pending = label_find(w[1], 0);
			pend_from = from;
			pend_to = nconns;
			pending_check();
			return 0;
		}
		printf("error open\n");
	} else if ((!strcmp(w[0], "close") || !strcmp(w[0], "expect")) && n == 2) {
		li = label_find(w[1], 0);
		if (li < 0) {
			printf("error no label %s\n", w[1]);
		} else if (w[0][0] == 'e') {
			labels[li].expect_close = 1;
		} else {
			for (i = 0; i < nconns; i++)
				if (conns[i].label == li && conns[i].st != C_CLOSED) {
					labels[li].closed++;
					conn_close(&conns[i]);
				}
		}
	} else {
		printf("error unknown command %s\n", w[0]);
	}
	printf("end\n");
	fflush(stdout);
	return 0;
}

/* reload_conns udp NS ADDR PORT MESSAGE [TIMEOUT_MS] */
static int udp_probe(int argc, char **argv)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai;
	struct pollfd p;
	char buf[65536];
	int nsfd, fd, ms = argc > 6 ? atoi(argv[6]) : 1000;
	ssize_t n;

	if (argc < 6 || getaddrinfo(argv[3], argv[4], &hints, &ai)) {
		fprintf(stderr, "usage: reload_conns udp NS ADDR PORT MESSAGE [TIMEOUT_MS]\n");
		return 2;
	}
	nsfd = open_ns(argv[2]);
	if (nsfd == -1 || (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)) {
		fprintf(stderr, "reload_conns: namespace %s: %s\n", argv[2], strerror(errno));
		return 2;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	/* connected: only a reply from ADDR PORT counts */
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    send(fd, argv[5], strlen(argv[5]), 0) < 0) {
		fprintf(stderr, "reload_conns: udp %s %s: %s\n", argv[3], argv[4], strerror(errno));
		return 1;
	}
	p.fd = fd;
	p.events = POLLIN;
	for (double end = now_ms() + ms, t; (t = now_ms()) < end;) {
		if (poll(&p, 1, (int)(end - t) + 1) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			fprintf(stderr, "reload_conns: udp %s %s: %s\n", argv[3], argv[4], strerror(errno));
			return 1;
		}
		fwrite(buf, 1, (size_t)n, stdout);
		/* whoami replies end with a newline already */
		if (!n || buf[n - 1] != '\n')
			putchar('\n');
		return 0;
	}
	fprintf(stderr, "reload_conns: udp %s %s: no reply within %d ms\n", argv[3], argv[4], ms);
	return 1;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	static struct pollfd pfd[MAX_CONNS + 1];
	static unsigned idx[MAX_CONNS + 1];
	char inbuf[4096];
	size_t inlen = 0;
	int stdin_open = 1, opt;
	unsigned rate = 100, i;
	struct sigaction sa;

	if (argc > 1 && !strcmp(argv[1], "udp"))
		return udp_probe(argc, argv);
	while ((opt = getopt(argc, argv, "r:b:g:")) != -1) {
		switch (opt) {
		case 'r':
			rate = (unsigned)atoi(optarg);
			break;
		case 'b':
			chunk = (size_t)atoi(optarg);
			break;
		case 'g':
			log_gap_ms = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: reload_conns [-r WRITES_PER_S] [-b BYTES] [-g MS] "
					"[LABEL,NS,ADDR,PORT,N...]\n");
			return 2;
		}
	}
	if (rate < 1 || rate > 1000 || chunk < 1 || chunk > 256) {
		fprintf(stderr, "reload_conns: -r 1..1000, -b 1..256\n");
		return 2;
	}
	period_ms = 1000.0 / rate;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig_ns < 0) {
		perror("reload_conns: /proc/self/ns/net");
		return 2;
	}
	pend_from = 0;
	for (; optind < argc; optind++) {
		char *f[5], *save = NULL, *s = argv[optind];
		int k;

		for (k = 0; k < 5; k++, s = NULL) {
			f[k] = strtok_r(s, ",", &save);
			if (!f[k])
				break;
		}
		if (k != 5 || conns_open(f[0], f[1], f[2], f[3], (unsigned)atoi(f[4])) < 0) {
			fprintf(stderr, "reload_conns: bad target (LABEL,NS,ADDR,PORT,N)\n");
			return 2;
		}
	}
	pending = -1;
	pend_to = nconns;
	pending_check();

	double t_prev = now_ms(); /* the previous poll returned */

	while (!stop) {
		double t = now_ms(), wake = t + 50;
		unsigned np = 0;
		int timeout, ret;

		if (stdin_open) {
			pfd[np].fd = 0;
			pfd[np].events = POLLIN;
			idx[np++] = MAX_CONNS;
		}
		for (i = 0; i < nconns; i++) {
			struct conn *c = &conns[i];

			if (c->st == C_CLOSED)
				continue;
			if (c->st == C_CONNECTING && t - c->started > CONNECT_TIMEOUT_MS) {
				conn_error(c, "connect: timed out");
				continue;
			}
			pfd[np].fd = c->fd;
			pfd[np].events = c->st == C_CONNECTING ? POLLOUT : POLLIN;
			idx[np++] = i;
			if (c->st == C_UP && c->next_send < wake)
				wake = c->next_send;
			if (c->st == C_CONNECTING && c->started + CONNECT_TIMEOUT_MS < wake)
				wake = c->started + CONNECT_TIMEOUT_MS;
		}
		pending_check();
		timeout = wake <= t ? 0 : (int)(wake - t) + 1;
		{
			double before = now_ms(), late;

			ret = poll(pfd, np, timeout);
			if (ret < 0 && errno != EINTR) {
				perror("reload_conns: poll");
				return 2;
			}
			t = now_ms();
			/* not running when it should have: poll back later than
			 * asked (a few ms of slack), or slow work since the last */
			late = (t - before - timeout - 2) + (before - t_prev - 2);
			if (t - before - timeout - 2 < 0)
				late -= t - before - timeout - 2;
			if (before - t_prev - 2 < 0)
				late -= before - t_prev - 2;
			if (log_gap_ms > 0 && late > log_gap_ms)
				fprintf(stderr, "reload_conns: this client did not run for %.0f ms\n", late);
			if (late > 0) {
				stalled += late;
				if (late > wstall)
					wstall = late;
			}
			t_prev = t;
		}
		for (i = 0; ret > 0 && i < np; i++) {
			struct conn *c;

			if (!pfd[i].revents)
				continue;
			if (idx[i] == MAX_CONNS) {
				ssize_t r = read(0, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
				char *nl;

				if (r <= 0) { /* no more commands: run until a signal */
					stdin_open = 0;
					continue;
				}
				inlen += (size_t)r;
				inbuf[inlen] = '\0';
				while ((nl = memchr(inbuf, '\n', inlen))) {
					*nl = '\0';
					if (command(inbuf)) {
						stop = 1;
						break;
					}
					inlen -= (size_t)(nl + 1 - inbuf);
					memmove(inbuf, nl + 1, inlen);
					inbuf[inlen] = '\0';
				}
				if (inlen == sizeof(inbuf) - 1)
					inlen = 0; /* overlong line: dropped */
				continue;
			}
			c = &conns[idx[i]];
			if (c->st == C_CONNECTING)
				conn_up(c);
			else if (c->st == C_UP)
				conn_recv(c, t);
		}
		for (i = 0; i < nconns; i++)
			if (conns[i].st == C_UP)
				conn_send(&conns[i], t);
	}
	return summary();
}
