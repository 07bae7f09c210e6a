/* SPDX-License-Identifier: MIT */
/*
 * Peer filter: may a client's allocation talk to this peer (CreatePermission,
 * ChannelBind, Send, TCP Connect)? Pure logic, no sockets, no logging.
 *
 * Rules, in order (first match wins):
 *  1. IPv6 forms that embed an IPv4 address are unwrapped and judged as that
 *     IPv4 address: ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (SIIT),
 *     ::a.b.c.d (compatible, except ::1 which stays IPv6 loopback) and
 *     64:ff9b::a.b.c.d (NAT64 well-known /96). 6to4 (2002:V4ADDR::/48) is
 *     denied if its embedded IPv4 is not a public address (rules 2-3), and is
 *     otherwise judged as IPv6. This closes coturn's CVE-2020-26262.
 *  2. Always denied, nothing can allow: port 0, 0.0.0.0/8, ::/128, families
 *     other than AF_INET/AF_INET6.
 *  3. Denied unless noted: 127.0.0.0/8 and ::1 (allowed with
 *     allow-loopback-peers), 169.254.0.0/16 and fe80::/10 link-local,
 *     224.0.0.0/4 and ff00::/8 multicast, 255.255.255.255 broadcast,
 *     240.0.0.0/4 reserved. allowed-peer-ip does not override these.
 *  4. The server's own addresses (peer_filter__add_self), whatever the port.
 *     Exception: with allow-loopback-peers a loopback own address is allowed,
 *     since the operator asked for loopback peers (all-on-one-host tests);
 *     without that option loopback never gets this far.
 *  5. denied-peer-ip ranges, unless an allowed-peer-ip range also matches
 *     (coturn: allowed-peer-ip wins over denied-peer-ip).
 *  6. Everything else is allowed, including RFC 1918 (10/8, 172.16/12,
 *     192.168/16) and ULA fc00::/7, as in coturn: deny them with
 *     denied-peer-ip if the relay sits next to private networks.
 */
#ifndef KTURN_PEER_FILTER_H
#define KTURN_PEER_FILTER_H

#include <sys/socket.h>

#include "kturn/conf.h"

enum peer_verdict {
	PEER_ALLOW = 0,
	PEER_DENY_FAMILY,      /* not AF_INET/AF_INET6 */
	PEER_DENY_PORT_ZERO,   /* port 0 */
	PEER_DENY_UNSPECIFIED, /* 0.0.0.0/8, :: */
	PEER_DENY_LOOPBACK,    /* 127/8, ::1 without allow-loopback-peers */
	PEER_DENY_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
	PEER_DENY_MULTICAST,   /* 224/4, ff00::/8 */
	PEER_DENY_BROADCAST,   /* 255.255.255.255 */
	PEER_DENY_RESERVED,    /* 240/4 */
	PEER_DENY_EMBEDDED,    /* 6to4 embedding a non-public IPv4 */
	PEER_DENY_SELF,	       /* one of the server's own addresses */
	PEER_DENY_CONFIG,      /* denied-peer-ip */
};

struct peer_filter;

/* Copies what it needs from c (ranges and flags); c may be freed after. 0 or -ENOMEM. */
int peer_filter__new(struct peer_filter **out, const struct kturn_conf *c);
/* NULL is a no-op. */
void peer_filter__free(struct peer_filter *pf);
/* Deny this address (any port). IPv4-embedding forms are unwrapped.
 * 0, -EAFNOSUPPORT or -ENOMEM. Wildcard addresses are accepted and ignored. */
int peer_filter__add_self(struct peer_filter *pf, const struct sockaddr *addr);
enum peer_verdict peer_filter__check(const struct peer_filter *pf, const struct sockaddr *peer);
/* Short lowercase name for logs, e.g. "loopback". */
const char *peer_verdict_str(enum peer_verdict v);

#endif /* KTURN_PEER_FILTER_H */
