/* test_addr.h - for the integration tests' small C clients: a socket
 * address from "ADDR" (IPv4 or IPv6, no brackets) and a port; exits 2 on
 * a bad address. Test tooling, not part of libcoop. */
#ifndef COOP_TEST_ADDR_H
#define COOP_TEST_ADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static inline socklen_t mkaddr(struct sockaddr_storage *ss, const char *a, int port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(a, ':')) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		if (inet_pton(AF_INET6, a, &s->sin6_addr) != 1)
			exit(2);
		return sizeof(*s);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	if (inet_pton(AF_INET, a, &s4->sin_addr) != 1)
		exit(2);
	return sizeof(*s4);
}

#endif
