// SPDX-License-Identifier: MIT
/*
 * Value parsers for configuration options. They only look at the string:
 * no allocation except conf_value__user, no side effects, no logging.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "conf_int.h"

/* The words coturn's turnserver.conf documents for booleans, and y/n. */
int conf_value__bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "t", "yes", "y", "on"};
	static const char *const no[] = {"0", "false", "f", "no", "n", "off"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Decimal digits only: no sign, no spaces, no hex, no trailing junk. */
int conf_value__uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int conf_value__ip(const char *s, int *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static size_t family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Parse the first len bytes of s as an IP literal. */
static int ip_n(const char *s, size_t len, int *family, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return conf_value__ip(buf, family, addr);
}

static int cidr(const char *s, const char *slash, struct conf_ip_range *r)
{
	uint64_t bits;
	size_t n;

	if (ip_n(s, (size_t)(slash - s), &r->family, r->lo))
		return -EINVAL;
	n = family_len(r->family);
	if (conf_value__uint(slash + 1, 0, n * 8, &bits))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned keep = bits >= (i + 1) * 8 ? 8
				: bits > i * 8	    ? (unsigned)(bits - i * 8)
						    : 0;
		uint8_t mask = (uint8_t)(0xff00u >> keep);

		r->lo[i] &= mask;
		r->hi[i] = r->lo[i] | (uint8_t)~mask;
	}
	return 0;
}

/* "ip", "ip-ip" (coturn) or "ip/prefix". */
int conf_value__ip_range(const char *s, struct conf_ip_range *r, const char **why)
{
	const char *dash = strchr(s, '-'), *slash = strchr(s, '/');
	int fam2;

	memset(r, 0, sizeof(*r));
	*why = "expected an IP address, a range ip-ip, or ip/prefix";
	if (slash)
		return cidr(s, slash, r);
	if (!dash) {
		if (conf_value__ip(s, &r->family, r->lo))
			return -EINVAL;
		memcpy(r->hi, r->lo, sizeof(r->hi));
		return 0;
	}
	if (ip_n(s, (size_t)(dash - s), &r->family, r->lo) ||
	    conf_value__ip(dash + 1, &fam2, r->hi))
		return -EINVAL;
	if (fam2 != r->family) {
		*why = "the two ends of the range are of different address families";
		return -EINVAL;
	}
	if (memcmp(r->lo, r->hi, family_len(r->family)) > 0) {
		*why = "the first address of the range is above the last";
		return -EINVAL;
	}
	return 0;
}

static bool is_hex_key(const char *p)
{
	size_t n;

	if (strncmp(p, "0x", 2))
		return false;
	n = strlen(p + 2);
	if (n != 32 && n != 64)
		return false;
	return strspn(p + 2, "0123456789abcdefABCDEF") == n;
}

/* "name:password" or "name:0x<key>"; the name ends at the first ':'. */
int conf_value__user(const char *s, struct conf_user *u, const char **why)
{
	const char *colon = strchr(s, ':');

	memset(u, 0, sizeof(*u));
	*why = "expected name:password";
	if (!colon || colon == s || !colon[1])
		return -EINVAL;
	u->name = strndup(s, (size_t)(colon - s));
	u->password = strdup(colon + 1);
	if (!u->name || !u->password) {
		free(u->name);
		free(u->password);
		memset(u, 0, sizeof(*u));
		return -ENOMEM;
	}
	u->is_key = is_hex_key(u->password);
	return 0;
}

const char *conf_value__check_ip(const char *s)
{
	uint8_t a[16];
	int fam;

	return conf_value__ip(s, &fam, a) ? "not an IPv4 or IPv6 address" : NULL;
}

/* "public" or "public/private" (coturn's NAT mapping form). */
const char *conf_value__check_external_ip(const char *s)
{
	const char *slash = strchr(s, '/');
	uint8_t a[16];
	int pub, priv;

	if (!slash)
		return conf_value__check_ip(s);
	if (ip_n(s, (size_t)(slash - s), &pub, a) || conf_value__ip(slash + 1, &priv, a))
		return "expected public-ip or public-ip/private-ip";
	if (pub != priv)
		return "public-ip and private-ip must be of the same address family";
	return NULL;
}

static const char *check_port(const char *p)
{
	uint64_t port;

	return conf_value__uint(p, 1, 65535, &port) ? "the port is not in 1..65535" : NULL;
}

/* "ip", "ip:port", "[ipv6]", "[ipv6]:port", or a bare IPv6 literal. */
const char *conf_value__check_host_port(const char *s)
{
	static const char *const bad = "expected ip[:port] or [ipv6]:port";
	const char *colon, *close;
	uint8_t a[16];
	int fam;

	if (!conf_value__ip(s, &fam, a))
		return NULL;
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (!close || ip_n(s + 1, (size_t)(close - s - 1), &fam, a) || fam != AF_INET6)
			return bad;
		if (!close[1])
			return NULL;
		return close[1] == ':' ? check_port(close + 2) : bad;
	}
	colon = strrchr(s, ':');
	if (!colon || ip_n(s, (size_t)(colon - s), &fam, a) || fam != AF_INET)
		return bad;
	return check_port(colon + 1);
}
