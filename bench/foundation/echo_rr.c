/* echo_rr.c - request/response load generator for the echo service: C
 * connections, each sending a MSG-byte message and waiting for it to come
 * back, repeatedly, for D seconds; prints transactions per second.
 *
 * usage: echo_rr HOST PORT CONNS SECONDS [MSG] */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct rr_conn {
	int fd;      /* connected socket */
	size_t got;  /* bytes of the current reply received */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct epoll_event ev, evs[256];
	char msg[4096], buf[4096];
	struct rr_conn *conns;
	unsigned long long done = 0;
	double t0, t_end;
	size_t size;
	int n, i, ep, one = 1;

	if (argc < 5) {
		fprintf(stderr, "usage: echo_rr HOST PORT CONNS SECONDS [MSG]\n");
		return 2;
	}
	n = atoi(argv[3]);
	size = argc > 5 ? (size_t)atoi(argv[5]) : 64;
	if (n < 1 || size < 1 || size > sizeof(msg) ||
	    getaddrinfo(argv[1], argv[2], &hints, &ai)) {
		fprintf(stderr, "echo_rr: bad arguments\n");
		return 2;
	}
	memset(msg, 'x', sizeof(msg));
	conns = calloc(n, sizeof(*conns));
	ep = epoll_create1(0);
	for (i = 0; i < n; i++) {
		conns[i].fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (conns[i].fd < 0 || connect(conns[i].fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			perror("echo_rr: connect");
			return 1;
		}
		setsockopt(conns[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.events = EPOLLIN;
		ev.data.ptr = &conns[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	t0 = now();
	t_end = t0 + atof(argv[4]);
	for (i = 0; i < n; i++)
		if (write(conns[i].fd, msg, size) != (ssize_t)size)
			return 1;
	while (now() < t_end) {
		int k, m = epoll_wait(ep, evs, 256, 100);

		for (k = 0; k < m; k++) {
			struct rr_conn *c = evs[k].data.ptr;
			ssize_t r = read(c->fd, buf, sizeof(buf));

			if (r <= 0) {
				fprintf(stderr, "echo_rr: connection lost\n");
				return 1;
			}
			c->got += r;
			if (c->got >= size) {
				c->got -= size;
				done++;
				if (write(c->fd, msg, size) != (ssize_t)size)
					return 1;
			}
		}
	}
	printf("%.0f\n", done / (now() - t0));
	return 0;
}
