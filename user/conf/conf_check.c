// SPDX-License-Identifier: MIT
/*
 * Cross-field checks, run once everything is parsed. Where coturn silently
 * fixes a combination up (users without lt-cred-mech turn it on), kturn does
 * the same and says so with a warning; where coturn refuses to start, so does
 * kturn.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "conf_int.h"

/* Keep the first error; -ENOMEM wins over everything. */
static int first(int ret, int err)
{
	if (err == -ENOMEM)
		return err;
	return ret ? ret : err;
}

static int check_ports(struct kturn_conf *c)
{
	if (c->min_port > c->max_port)
		return conf_diag__add(c, LOG_ERR, "min-port",
				      "min-port (%u) is greater than max-port (%u)", c->min_port,
				      c->max_port);
	return 0;
}

static int check_transports(struct kturn_conf *c)
{
	int ret = 0;

	if (c->no_udp_relay && c->no_tcp_relay)
		ret = conf_diag__add(
			c, LOG_ERR, "no-tcp-relay",
			"no-udp-relay and no-tcp-relay together leave no relay transport");
	if (c->no_udp && c->no_tcp && c->no_tls)
		ret = first(ret,
			    conf_diag__add(c, LOG_ERR, "no-tls",
					   "no-udp, no-tcp and no-tls together leave no listener"));
	return ret;
}

/* coturn: a bare external-ip maps the one relay address; one per family here. */
static int check_external_ip(struct kturn_conf *c)
{
	size_t plain[2] = {0, 0};
	uint8_t a[16];
	int fam;

	for (size_t i = 0; i < c->external_ips.n; i++) {
		const char *v = c->external_ips.v[i];

		if (!strchr(v, '/') && !conf_value__ip(v, &fam, a))
			plain[fam == AF_INET6]++;
	}
	for (int f = 0; f < 2; f++)
		if (plain[f] > 1)
			return conf_diag__add(
				c, LOG_ERR, "external-ip",
				"external-ip without a /private-ip part may be given only once "
				"per address family (given %zu times for %s); use "
				"public-ip/private-ip pairs",
				plain[f], f ? "IPv6" : "IPv4");
	return 0;
}

/* Secret-based, long-term, or none; as coturn decides it. */
static int derive_auth(struct kturn_conf *c)
{
	int ret = 0;

	if (c->no_auth && (c->lt_cred_mech || c->use_auth_secret))
		return conf_diag__add(
			c, LOG_ERR, "no-auth",
			"no-auth cannot be used with lt-cred-mech or use-auth-secret");
	if (c->use_auth_secret) {
		c->auth = CONF_AUTH_SECRET;
		if (c->lt_cred_mech || c->users.n)
			ret = conf_diag__add(c, LOG_WARN, "use-auth-secret",
					     "use-auth-secret overrides lt-cred-mech: static users "
					     "are not used");
	} else if (c->no_auth) {
		c->auth = CONF_AUTH_NONE;
		if (c->users.n)
			ret = conf_diag__add(c, LOG_WARN, "no-auth",
					     "no-auth: the %zu user account(s) given are ignored",
					     c->users.n);
	} else if (c->lt_cred_mech || c->users.n) {
		if (!c->lt_cred_mech)
			ret = conf_diag__add(c, LOG_WARN, "lt-cred-mech",
					     "user accounts given without lt-cred-mech: turning "
					     "lt-cred-mech on, as coturn does");
		c->lt_cred_mech = true;
		c->auth = CONF_AUTH_LONG_TERM;
	} else {
		c->auth = CONF_AUTH_NONE;
	}
	return ret;
}

static int check_auth(struct kturn_conf *c)
{
	int ret = derive_auth(c);

	if (ret)
		return ret;
	if (c->auth == CONF_AUTH_SECRET && !c->static_auth_secrets.n)
		return conf_diag__add(c, LOG_ERR, "use-auth-secret",
				      "use-auth-secret needs static-auth-secret (kturn has no "
				      "user database)");
	if (c->auth == CONF_AUTH_LONG_TERM && !c->users.n)
		ret = conf_diag__add(
			c, LOG_WARN, "lt-cred-mech",
			"lt-cred-mech without any user: every Allocate will be refused");
	if (c->auth != CONF_AUTH_NONE && !c->realm)
		ret = first(ret, conf_diag__add(c, LOG_WARN, "realm",
						"no realm set for authenticated access"));
	return ret;
}

static int check_lifetimes(struct kturn_conf *c)
{
	if (c->default_allocate_lifetime <= c->max_allocate_lifetime)
		return 0;
	c->default_allocate_lifetime = c->max_allocate_lifetime;
	return conf_diag__add(c, LOG_WARN, "kturn-default-allocate-lifetime",
			      "kturn-default-allocate-lifetime is above max-allocate-lifetime: "
			      "using %u s",
			      c->max_allocate_lifetime);
}

static int check_peers(struct kturn_conf *c)
{
	if (c->allow_loopback_peers)
		return conf_diag__add(c, LOG_WARN, "allow-loopback-peers",
				      "allow-loopback-peers lets clients reach services on this "
				      "host; for testing only");
	return 0;
}

int conf__validate(struct kturn_conf *c)
{
	int ret = check_ports(c);

	ret = first(ret, check_transports(c));
	ret = first(ret, check_external_ip(c));
	ret = first(ret, check_auth(c));
	ret = first(ret, check_peers(c));
	ret = first(ret, check_lifetimes(c));
	return ret;
}
