// SPDX-License-Identifier: MIT
/* Peer filter, deny by default; rules in kturn/peer_filter.h. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/peer_filter.h"

/* An address reduced to what the rules look at. */
struct ip {
	int family;    /* AF_INET or AF_INET6 */
	uint8_t a[16]; /* AF_INET uses a[0..3] */
};

struct peer_filter {
	struct conf_ip_ranges allowed, denied;
	bool allow_loopback;
	struct ip *self;
	size_t n_self;
};

static int copy_ranges(struct conf_ip_ranges *dst, const struct conf_ip_ranges *src)
{
	dst->n = 0;
	dst->v = NULL;
	if (!src->n)
		return 0;
	dst->v = calloc(src->n, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	dst->n = src->n;
	return 0;
}

int peer_filter__new(struct peer_filter **out, const struct kturn_conf *c)
{
	struct peer_filter *pf;

	*out = NULL;
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	pf->allow_loopback = c->allow_loopback_peers;
	if (copy_ranges(&pf->allowed, &c->allowed_peer_ips) ||
	    copy_ranges(&pf->denied, &c->denied_peer_ips)) {
		peer_filter__free(pf);
		return -ENOMEM;
	}
	*out = pf;
	return 0;
}

void peer_filter__free(struct peer_filter *pf)
{
	if (!pf)
		return;
	free(pf->allowed.v);
	free(pf->denied.v);
	free(pf->self);
	free(pf);
}

static void set_v4(struct ip *ip, const uint8_t *v4)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET;
	memcpy(ip->a, v4, 4);
}

/* Reduce sa to an IP, unwrapping IPv6 forms that carry an IPv4 address. */
static int to_ip(const struct sockaddr *sa, struct ip *ip, uint16_t *port)
{
	static const uint8_t zero[12];
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	static const uint8_t siit[12] = {[8] = 0xff, [9] = 0xff};
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		set_v4(ip, (const uint8_t *)&s4->sin_addr);
		*port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = s6->sin6_addr.s6_addr;

		*port = ntohs(s6->sin6_port);
		memset(ip, 0, sizeof(*ip));
		ip->family = AF_INET6;
		memcpy(ip->a, a, 16);
		if (!memcmp(a, mapped, 12) || !memcmp(a, siit, 12) || !memcmp(a, nat64, 12))
			set_v4(ip, a + 12);
		/* ::a.b.c.d, but :: and ::1 stay IPv6 (unspecified, loopback). */
		else if (!memcmp(a, zero, 12) && (a[12] | a[13] | a[14] || a[15] > 1))
			set_v4(ip, a + 12);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Rules 2 and 3, without the loopback exception. */
static enum peer_verdict classify(const struct ip *ip)
{
	const uint8_t *a = ip->a;

	if (ip->family == AF_INET) {
		if (a[0] == 0)
			return PEER_DENY_UNSPECIFIED;
		if (a[0] == 127)
			return PEER_DENY_LOOPBACK;
		if (a[0] == 169 && a[1] == 254)
			return PEER_DENY_LINK_LOCAL;
		if ((a[0] & 0xf0) == 224)
			return PEER_DENY_MULTICAST;
		if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
			return PEER_DENY_BROADCAST;
		if ((a[0] & 0xf0) == 240)
			return PEER_DENY_RESERVED;
		return PEER_ALLOW;
	}
	static const uint8_t zero[15];

	if (!memcmp(a, zero, 15) && a[15] == 0)
		return PEER_DENY_UNSPECIFIED;
	if (!memcmp(a, zero, 15) && a[15] == 1)
		return PEER_DENY_LOOPBACK;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return PEER_DENY_LINK_LOCAL;
	if (a[0] == 0xff)
		return PEER_DENY_MULTICAST;
	if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4 */
		struct ip v4;

		set_v4(&v4, a + 2);
		if (classify(&v4) != PEER_ALLOW)
			return PEER_DENY_EMBEDDED;
	}
	return PEER_ALLOW;
}

static bool ip_equal(const struct ip *x, const struct ip *y)
{
	return x->family == y->family && !memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16);
}

int peer_filter__add_self(struct peer_filter *pf, const struct sockaddr *addr)
{
	struct ip ip, *v;
	uint16_t port;
	int err = to_ip(addr, &ip, &port);

	if (err)
		return err;
	if (classify(&ip) == PEER_DENY_UNSPECIFIED)
		return 0; /* wildcard: always denied anyway */
	for (size_t i = 0; i < pf->n_self; i++)
		if (ip_equal(&pf->self[i], &ip))
			return 0;
	v = realloc(pf->self, (pf->n_self + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[pf->n_self++] = ip;
	pf->self = v;
	return 0;
}

enum peer_verdict peer_filter__check(const struct peer_filter *pf, const struct sockaddr *peer)
{
	enum peer_verdict v;
	struct ip ip;
	uint16_t port;

	if (to_ip(peer, &ip, &port))
		return PEER_DENY_FAMILY;
	if (port == 0)
		return PEER_DENY_PORT_ZERO;
	v = classify(&ip);
	if (v == PEER_DENY_LOOPBACK && pf->allow_loopback)
		v = PEER_ALLOW;
	if (v != PEER_ALLOW)
		return v;
	for (size_t i = 0; i < pf->n_self; i++) {
		if (!ip_equal(&pf->self[i], &ip))
			continue;
		if (pf->allow_loopback && classify(&ip) == PEER_DENY_LOOPBACK)
			break;
		return PEER_DENY_SELF;
	}
	if (conf__ip_ranges_match(&pf->denied, ip.family, ip.a) &&
	    !conf__ip_ranges_match(&pf->allowed, ip.family, ip.a))
		return PEER_DENY_CONFIG;
	return PEER_ALLOW;
}

const char *peer_verdict_str(enum peer_verdict v)
{
	switch (v) {
	case PEER_ALLOW:
		return "allowed";
	case PEER_DENY_FAMILY:
		return "address family";
	case PEER_DENY_PORT_ZERO:
		return "port 0";
	case PEER_DENY_UNSPECIFIED:
		return "unspecified address";
	case PEER_DENY_LOOPBACK:
		return "loopback";
	case PEER_DENY_LINK_LOCAL:
		return "link-local";
	case PEER_DENY_MULTICAST:
		return "multicast";
	case PEER_DENY_BROADCAST:
		return "broadcast";
	case PEER_DENY_RESERVED:
		return "reserved";
	case PEER_DENY_EMBEDDED:
		return "6to4 embeds a denied IPv4";
	case PEER_DENY_SELF:
		return "server's own address";
	case PEER_DENY_CONFIG:
		return "denied-peer-ip";
	}
	return "unknown";
}
