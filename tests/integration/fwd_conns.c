/* fwd_conns.c - client of the forwarder cluster test: holds many TCP connections to a VIP, tells which survive a change of the node set, and prepares veth links for XDP_TX. */

/*
 * Built by tests/integration/t_fwd_cluster.sh (and bench/cluster/run.sh)
 * with `cc -O2 -o fwd_conns fwd_conns.c -lbpf`; it is test tooling, not
 * part of libcoop.
 *
 *   fwd_conns                  commands on stdin, one reply block each on
 *                              stdout, ending with a line "end" (ADDR is
 *                              IPv4 or IPv6, without brackets):
 *     open ADDR PORT N         open N connections at once; "conn ID SPORT ok"
 *                              or "conn ID SPORT fail REASON" per connection
 *     ping MS                  send a line on every open connection and wait
 *                              up to MS ms for its echo; "ping ID SPORT ok" or
 *                              "ping ID SPORT broken REASON" (then closed)
 *     bulk N BYTES MS          send BYTES on each of the first N open
 *                              connections and read them back within MS ms:
 *                              full-size segments, for the MTU path; "bulk ID
 *                              SPORT ok" or "... broken REASON" (then closed)
 *     whoami ADDR PORT N       N short connections, one at a time; "who SPORT
 *                              NAME" with the line the server sent
 *     quit
 *   fwd_conns xdp-pass IFNAME  attach a two-instruction XDP_PASS program
 *                              (native mode): XDP_TX towards a veth needs an
 *                              XDP program on its peer
 *   fwd_conns tx-csum-off IFNAME  turn TX checksum offload off, so the
 *                              packets an XDP program sends back out carry
 *                              real checksums (what `ethtool -K IF tx off` does)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* One held connection. */
struct conn {
	int fd;         /* socket, -1 once closed */
	unsigned id;    /* number given at open, stable for the whole run */
	unsigned sport; /* local port, host order */
	char buf[32];   /* echo received so far */
	size_t have;    /* bytes in buf */
	int done;       /* ping, bulk: 1 answered, -1 broken */
	size_t sent;    /* bulk: bytes sent */
	size_t got;     /* bulk: bytes echoed back */
};

static struct conn *conns;
static size_t n_conns, cap_conns;
static unsigned next_id;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A destination, IPv4 or IPv6. */
struct dst {
	struct sockaddr_storage sa; /* address and port */
	socklen_t len;              /* sizeof the family's sockaddr */
	int family;                 /* AF_INET or AF_INET6 */
};

static unsigned local_port(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return 0;
	return ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port :
						((struct sockaddr_in *)&sa)->sin_port);
}

static int dst_parse(const char *addr, const char *port, struct dst *d)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&d->sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&d->sa;

	memset(d, 0, sizeof(*d));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)atoi(port));
		d->len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)atoi(port));
		d->len = sizeof(*s6);
	} else {
		return -1;
	}
	d->family = d->sa.ss_family;
	return 0;
}

/* open: all connects in flight at once, then wait for each to finish. */
static void cmd_open(const struct dst *dst, unsigned n)
{
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	long long deadline = now_ms() + 10000;
	size_t base, i, pending = 0;

	if (n_conns + n > cap_conns) {
		size_t cap = (n_conns + n) * 2;
		struct conn *c = realloc(conns, cap * sizeof(*c));

		if (!c) {
			fprintf(stderr, "fwd_conns: out of memory\n");
			exit(1);
		}
		conns = c;
		cap_conns = cap;
	}
	if (!pfd) {
		fprintf(stderr, "fwd_conns: out of memory\n");
		exit(1);
	}
	base = n_conns;
	for (i = 0; i < n; i++) {
		struct conn *c = &conns[base + i];

		memset(c, 0, sizeof(*c));
		c->id = next_id++;
		c->fd = socket(dst->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd >= 0 && connect(c->fd, (const struct sockaddr *)&dst->sa, dst->len) < 0 &&
		    errno != EINPROGRESS) {
			close(c->fd);
			c->fd = -1;
		}
		c->sport = c->fd >= 0 ? local_port(c->fd) : 0;
		pfd[i].fd = c->fd;
		pfd[i].events = POLLOUT;
		pending += c->fd >= 0;
	}
	n_conns += n;
	while (pending && now_ms() < deadline) {
		int r = poll(pfd, n, (int)(deadline - now_ms()));

		if (r <= 0)
			continue;
		for (i = 0; i < n; i++) {
			struct conn *c = &conns[base + i];
			int err = 0;
			socklen_t len = sizeof(err);

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			printf("conn %u %u %s%s\n", c->id, c->sport, err ? "fail " : "ok",
			       err ? strerror(err) : "");
			if (err) {
				close(c->fd);
				c->fd = -1;
			}
			pfd[i].fd = -1;
			pending--;
		}
	}
	for (i = 0; i < n; i++) {
		struct conn *c = &conns[base + i];

		if (pfd[i].fd < 0 && c->fd >= 0)
			continue;
		printf("conn %u %u fail %s\n", c->id, c->sport,
		       c->fd < 0 ? "socket" : "timeout");
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
	}
	free(pfd);
}

/* ping: one line out on every connection, the same line back. */
static void cmd_ping(int timeout)
{
	struct pollfd *pfd = calloc(n_conns + 1, sizeof(*pfd));
	long long deadline = now_ms() + timeout;
	size_t i, pending = 0;

	if (!pfd) {
		fprintf(stderr, "fwd_conns: out of memory\n");
		exit(1);
	}
	for (i = 0; i < n_conns; i++) {
		struct conn *c = &conns[i];
		char line[32];
		int len;

		pfd[i].fd = -1;
		if (c->fd < 0)
			continue;
		c->have = 0;
		c->done = 0;
		len = snprintf(line, sizeof(line), "%u\n", c->id);
		if (send(c->fd, line, (size_t)len, MSG_NOSIGNAL) != len) {
			printf("ping %u %u broken send: %s\n", c->id, c->sport, strerror(errno));
			c->done = -1;
			continue;
		}
		pfd[i].fd = c->fd;
		pfd[i].events = POLLIN;
		pending++;
	}
	while (pending && now_ms() < deadline) {
		int r = poll(pfd, n_conns, (int)(deadline - now_ms()));

		if (r <= 0)
			continue;
		for (i = 0; i < n_conns; i++) {
			struct conn *c = &conns[i];
			char want[32];
			ssize_t got;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			got = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, 0);
			if (got <= 0) {
				printf("ping %u %u broken %s\n", c->id, c->sport,
				       got ? strerror(errno) : "closed by peer");
				c->done = -1;
			} else {
				c->have += (size_t)got;
				c->buf[c->have] = '\0';
				snprintf(want, sizeof(want), "%u\n", c->id);
				if (!strchr(c->buf, '\n') && c->have < sizeof(c->buf) - 1)
					continue;
				c->done = strcmp(c->buf, want) ? -1 : 1;
				printf("ping %u %u %s\n", c->id, c->sport,
				       c->done > 0 ? "ok" : "broken wrong echo");
			}
			pfd[i].fd = -1;
			pending--;
		}
	}
	for (i = 0; i < n_conns; i++) {
		struct conn *c = &conns[i];

		if (c->fd < 0)
			continue;
		if (!c->done) {
			printf("ping %u %u broken timeout\n", c->id, c->sport);
			c->done = -1;
		}
		if (c->done < 0) {
			close(c->fd);
			c->fd = -1;
		}
	}
	free(pfd);
}

/* The byte at offset i of connection c's bulk payload. */
static unsigned char bulk_byte(const struct conn *c, size_t i)
{
	return (unsigned char)('a' + (c->id + i * 7) % 26);
}

/* bulk: BYTES each way on the first n connections, all at once. */
static void cmd_bulk(unsigned n, size_t bytes, int timeout)
{
	struct pollfd *pfd = calloc(n_conns + 1, sizeof(*pfd));
	long long deadline = now_ms() + timeout;
	unsigned char chunk[4096], in[4096];
	size_t i, pending = 0, used = 0;

	if (!pfd) {
		fprintf(stderr, "fwd_conns: out of memory\n");
		exit(1);
	}
	for (i = 0; i < n_conns; i++) {
		struct conn *c = &conns[i];

		pfd[i].fd = -1;
		if (c->fd < 0 || used == n)
			continue;
		used++;
		c->sent = c->got = 0;
		c->done = 0;
		pfd[i].fd = c->fd;
		pfd[i].events = POLLIN | POLLOUT;
		pending++;
	}
	while (pending && now_ms() < deadline) {
		if (poll(pfd, n_conns, (int)(deadline - now_ms())) <= 0)
			continue;
		for (i = 0; i < n_conns; i++) {
			struct conn *c = &conns[i];
			ssize_t r;
			size_t k, len;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if ((pfd[i].revents & POLLOUT) && c->sent < bytes) {
				len = bytes - c->sent < sizeof(chunk) ? bytes - c->sent : sizeof(chunk);
				for (k = 0; k < len; k++)
					chunk[k] = bulk_byte(c, c->sent + k);
				r = send(c->fd, chunk, len, MSG_NOSIGNAL);
				if (r > 0)
					c->sent += (size_t)r;
				else if (r < 0 && errno != EAGAIN)
					c->done = -1;
				if (c->sent == bytes)
					pfd[i].events = POLLIN;
			}
			if (!c->done && (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))) {
				r = recv(c->fd, in, sizeof(in), 0);
				if (r <= 0 && !(r < 0 && errno == EAGAIN))
					c->done = -1;
				for (k = 0; r > 0 && k < (size_t)r && !c->done; k++)
					if (in[k] != bulk_byte(c, c->got + k))
						c->done = -1;
				if (r > 0)
					c->got += (size_t)r;
				if (!c->done && c->got == bytes)
					c->done = 1;
			}
			if (c->done) {
				printf("bulk %u %u %s\n", c->id, c->sport, c->done > 0 ? "ok" : "broken");
				pfd[i].fd = -1;
				pending--;
			}
		}
	}
	for (i = 0; i < n_conns; i++) {
		struct conn *c = &conns[i];

		if (pfd[i].fd >= 0) {
			printf("bulk %u %u broken timeout after %zu of %zu bytes back\n", c->id,
			       c->sport, c->got, bytes);
			c->done = -1;
		}
		if (c->fd >= 0 && c->done < 0) {
			close(c->fd);
			c->fd = -1;
		}
	}
	free(pfd);
}

/* whoami: the served node's name, one short connection at a time. */
static void cmd_whoami(const struct dst *dst, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		int fd = socket(dst->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timeval tv = { 3, 0 };
		char name[128] = "";
		size_t have = 0;
		ssize_t got;

		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (const struct sockaddr *)&dst->sa, dst->len) < 0) {
			printf("who %u - %s\n", local_port(fd), strerror(errno));
			close(fd);
			continue;
		}
		while (have < sizeof(name) - 1 &&
		       (got = recv(fd, name + have, sizeof(name) - 1 - have, 0)) > 0)
			have += (size_t)got;
		name[have] = '\0';
		name[strcspn(name, "\n")] = '\0';
		printf("who %u %s\n", local_port(fd), name[0] ? name : "-");
		close(fd);
	}
}

static int serve(void)
{
	char line[256], a[64], p[16];
	struct rlimit rl = { 65536, 65536 };
	struct dst dst;
	size_t bytes;
	unsigned n;
	int ms;

	setrlimit(RLIMIT_NOFILE, &rl);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "open %63s %15s %u", a, p, &n) == 3 && !dst_parse(a, p, &dst))
			cmd_open(&dst, n);
		else if (sscanf(line, "ping %d", &ms) == 1)
			cmd_ping(ms);
		else if (sscanf(line, "bulk %u %zu %d", &n, &bytes, &ms) == 3)
			cmd_bulk(n, bytes, ms);
		else if (sscanf(line, "whoami %63s %15s %u", a, p, &n) == 3 && !dst_parse(a, p, &dst))
			cmd_whoami(&dst, n);
		else if (!strncmp(line, "quit", 4))
			break;
		else
			printf("error bad command: %s", line);
		printf("end\n");
		fflush(stdout);
	}
	return 0;
}

static int xdp_pass(const char *ifname)
{
	/* r0 = XDP_PASS; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int ifindex = (int)if_nametoindex(ifname), fd, ret;

	if (!ifindex) {
		fprintf(stderr, "fwd_conns: no link %s\n", ifname);
		return 1;
	}
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pass", "GPL", insns, 2, NULL);
	if (fd < 0) {
		fprintf(stderr, "fwd_conns: load: %s\n", strerror(-fd));
		return 1;
	}
	ret = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL);
	close(fd); /* the link holds the program now */
	if (ret < 0) {
		fprintf(stderr, "fwd_conns: attach to %s: %s\n", ifname, strerror(-ret));
		return 1;
	}
	return 0;
}

static int tx_csum_off(const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = 0 };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	ret = fd < 0 ? -1 : ioctl(fd, SIOCETHTOOL, &ifr);
	if (ret < 0)
		fprintf(stderr, "fwd_conns: %s: tx checksum offload: %s\n", ifname,
			strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret < 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc == 1)
		return serve();
	if (argc == 3 && !strcmp(argv[1], "xdp-pass"))
		return xdp_pass(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "tx-csum-off"))
		return tx_csum_off(argv[2]);
	fprintf(stderr, "usage: fwd_conns [xdp-pass IFNAME | tx-csum-off IFNAME]\n");
	return 2;
}
