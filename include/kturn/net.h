/* SPDX-License-Identifier: MIT */
/* Socket and address helpers shared by listeners, relays and tools. */
#ifndef KTURN_NET_H
#define KTURN_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "[ffff:...:ffff]:65535" plus NUL. */
#define NET_ADDRSTRLEN 56

/* "1.2.3.4:5" or "[::1]:5"; always NUL-terminates. */
const char *net_addr_str(const struct sockaddr *sa, char *buf, size_t len);
socklen_t net_addr_len(const struct sockaddr *sa);
uint16_t net_addr_port(const struct sockaddr *sa);
/* Parse an IPv4/IPv6 literal and a port into *out. Returns 0 or -EINVAL. */
int net_addr_parse(const char *ip, uint16_t port, struct sockaddr_storage *out);
bool net_addr_equal(const struct sockaddr *a, const struct sockaddr *b);

enum net_listen_flags {
	NET_REUSEPORT = 1 << 0,
};

/* Bound, non-blocking, close-on-exec sockets; return the fd or -errno. */
int net_udp_bind(const struct sockaddr *sa, unsigned flags);
int net_tcp_listen(const struct sockaddr *sa, int backlog, unsigned flags);
int net_set_nonblock(int fd);
/* close(fd); with reset, as an RST (SO_LINGER 0) instead of a FIN. */
void net_close(int fd, bool reset);

#endif /* KTURN_NET_H */
