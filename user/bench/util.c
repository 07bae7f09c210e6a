// SPDX-License-Identifier: MIT
/* Small socket helpers shared by the kturn-bench workloads. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_int.h"
#include "kturn/net.h"

int bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

void bench_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

int bench_tcp_socket(const struct sockaddr *ip, int family)
{
	int fd = socket(ip ? ip->sa_family : family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (ip && bind(fd, ip, net_addr_len(ip)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int bench_wait_fd(int fd, short events, int ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

int bench_send_all(int fd, const void *buf, size_t len, int ms)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const uint8_t *)buf + done, len - done, MSG_NOSIGNAL);
		int err;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		err = bench_wait_fd(fd, POLLOUT, ms);
		if (err)
			return err;
	}
	return 0;
}

int bench_recv_all(int fd, void *buf, size_t len, int ms)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(fd, (uint8_t *)buf + done, len - done, 0);
		int err;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		err = bench_wait_fd(fd, POLLIN, ms);
		if (err)
			return err;
	}
	return 0;
}

const char *bench_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	return net_addr_str((const struct sockaddr *)ss, buf, len);
}

void bench_json_head(FILE *f, const struct bench_opts *o)
{
	char a[NET_ADDRSTRLEN];

	fprintf(f, "\"mode\":\"%s\",\"server\":\"%s\",\"direct\":%s,\"transport\":\"%s\"", o->mode,
		o->direct ? "direct" : bench_addr(&o->server, a, sizeof(a)),
		o->direct ? "true" : "false", o->udp ? "udp" : "tcp");
}
