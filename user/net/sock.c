// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kturn/net.h"

int net_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int opt_on(int fd, int level, int name)
{
	int one = 1;

	return setsockopt(fd, level, name, &one, sizeof(one)) < 0 ? -errno : 0;
}

/* Socket with the options every listener wants, bound to sa. */
static int bound_socket(const struct sockaddr *sa, int type, unsigned flags)
{
	int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	err = opt_on(fd, SOL_SOCKET, SO_REUSEADDR);
	if (!err && (flags & NET_REUSEPORT))
		err = opt_on(fd, SOL_SOCKET, SO_REUSEPORT);
	/* An IPv6 listener serves IPv6 only; IPv4 has its own listener. */
	if (!err && sa->sa_family == AF_INET6)
		err = opt_on(fd, IPPROTO_IPV6, IPV6_V6ONLY);
	if (!err && bind(fd, sa, net_addr_len(sa)) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int net_udp_bind(const struct sockaddr *sa, unsigned flags)
{
	return bound_socket(sa, SOCK_DGRAM, flags);
}

int net_tcp_listen(const struct sockaddr *sa, int backlog, unsigned flags)
{
	int fd = bound_socket(sa, SOCK_STREAM, flags);

	if (fd >= 0 && listen(fd, backlog) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void net_close(int fd, bool reset)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (reset)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}
