// SPDX-License-Identifier: MIT
/*
 * struct kturn_conf -> struct turn_shared: relay addresses and their public
 * (external-ip) form, alternate servers, auth, peer filter, limits. And the
 * SIGHUP path: new credentials from a re-read
 * configuration, allocations untouched.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/auth.h"
#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/peer_filter.h"
#include "kturn/turn.h"

#define DEFAULT_REALM "kturn"

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static bool usable_v6(const struct sockaddr_in6 *s)
{
	return !IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr) && !IN6_IS_ADDR_V4MAPPED(&s->sin6_addr);
}

/* First address of each family from a list of IP literals, skipping wildcards. */
static void pick_from(const struct conf_strv *ips, struct turn_opts *o)
{
	for (size_t i = 0; i < ips->n; i++) {
		struct sockaddr_storage ss;
		struct sockaddr_storage *dst;

		if (net_addr_parse(ips->v[i], 0, &ss) < 0 || is_wildcard(&ss))
			continue;
		dst = ss.ss_family == AF_INET ? &o->relay4 : &o->relay6;
		if (dst->ss_family == AF_UNSPEC)
			*dst = ss;
	}
}

/*
 * Listening on all addresses with no relay-ip: take the first global
 * address of each family an interface has (as coturn does), loopback last.
 */
static void pick_from_interfaces(struct turn_opts *o)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0)
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (i = ifa; i; i = i->ifa_next) {
			const struct sockaddr *sa = i->ifa_addr;
			struct sockaddr_storage *dst;

			if (!sa || !(i->ifa_flags & IFF_UP) ||
			    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
			    (pass == 0) != !(i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (sa->sa_family == AF_INET6 && !usable_v6((const void *)sa))
				continue;
			dst = sa->sa_family == AF_INET ? &o->relay4 : &o->relay6;
			if (dst->ss_family == AF_UNSPEC)
				memcpy(dst, sa, net_addr_len(sa));
		}
	}
	freeifaddrs(ifa);
}

static void relay_addresses(const struct kturn_conf *c, struct turn_opts *o)
{
	char a4[NET_ADDRSTRLEN] = "none", a6[NET_ADDRSTRLEN] = "none";

	pick_from(&c->relay_ips, o);
	if (!c->relay_ips.n)
		pick_from(&c->listening_ips, o);
	if (!c->relay_ips.n && o->relay4.ss_family == AF_UNSPEC && o->relay6.ss_family == AF_UNSPEC)
		pick_from_interfaces(o);
	if (o->relay4.ss_family)
		net_addr_str((const void *)&o->relay4, a4, sizeof(a4));
	if (o->relay6.ss_family)
		net_addr_str((const void *)&o->relay6, a6, sizeof(a6));
	klog_info("relay addresses: ipv4 %s ipv6 %s ports %u-%u", a4, a6, c->min_port, c->max_port);
}

/*
 * external-ip (coturn): "public" maps the relay address of its family,
 * "public/private" maps the relay address equal to private. A mapping that
 * matches no relay address would silently do nothing: say so.
 */
static void public_addresses(const struct kturn_conf *c, struct turn_opts *o)
{
	for (size_t i = 0; i < c->external_ips.n; i++) {
		char pub[64], a[NET_ADDRSTRLEN];
		const char *v = c->external_ips.v[i], *slash = strchr(v, '/');
		size_t len = slash ? (size_t)(slash - v) : strlen(v);
		struct sockaddr_storage ip, priv, *relay, *dst;

		if (len >= sizeof(pub))
			continue;
		memcpy(pub, v, len);
		pub[len] = '\0';
		if (net_addr_parse(pub, 0, &ip) < 0)
			continue; /* conf checked it */
		relay = ip.ss_family == AF_INET ? &o->relay4 : &o->relay6;
		dst = ip.ss_family == AF_INET ? &o->public4 : &o->public6;
		if (slash && (net_addr_parse(slash + 1, 0, &priv) < 0 ||
			      !net_addr_equal((const void *)&priv, (const void *)relay))) {
			klog_warn("external-ip %s: %s is not this server's relay address (%s); "
				  "ignored",
				  v, slash + 1,
				  relay->ss_family ? net_addr_str((const void *)relay, a, sizeof(a))
						   : "none of that family");
			continue;
		}
		if (relay->ss_family == AF_UNSPEC) {
			klog_warn("external-ip %s: no relay address of that family; ignored", v);
			continue;
		}
		*dst = ip;
		net_addr_str((const void *)relay, a, sizeof(a));
		*strrchr(a, ':') = '\0'; /* the port is each allocation's */
		klog_info("relayed addresses on %s are advertised as %s", a, pub);
	}
}

/* "ip", "ip:port", "[ipv6]", "[ipv6]:port" or a bare IPv6 literal (conf checked it). */
static int host_port(const char *s, uint16_t dflt, struct sockaddr_storage *out)
{
	char ip[64];
	const char *end = NULL, *port = NULL;
	size_t len;

	if (net_addr_parse(s, dflt, out) == 0)
		return 0;
	if (s[0] == '[') {
		s++;
		end = strchr(s, ']');
		port = end && end[1] == ':' ? end + 2 : NULL;
	} else {
		end = strrchr(s, ':');
		port = end ? end + 1 : NULL;
	}
	if (!end || (size_t)(end - s) >= sizeof(ip))
		return -EINVAL;
	len = (size_t)(end - s);
	memcpy(ip, s, len);
	ip[len] = '\0';
	return net_addr_parse(ip, port ? (uint16_t)strtoul(port, NULL, 10) : dflt, out);
}

static int alt_list(struct turn_shared *sh, enum turn_alt_list which, const struct conf_strv *l,
		    uint16_t dflt)
{
	struct sockaddr_storage *v = l->n ? calloc(l->n, sizeof(*v)) : NULL;
	size_t n = 0;
	int err;

	if (l->n && !v)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		if (host_port(l->v[i], dflt, &v[n]) == 0)
			n++;
	err = turn_shared__set_alternates(sh, which, v, n);
	free(v);
	return err;
}

/*
 * coturn: alternate-server serves UDP and TCP, tls-alternate-server TLS.
 * kturn: tcp-alternate-server, when given, takes over TCP (and TLS without
 * tls-alternate-server).
 */
static int alternates(struct turn_shared *sh, const struct kturn_conf *c)
{
	const struct conf_strv *tcp =
		c->tcp_alternate_servers.n ? &c->tcp_alternate_servers : &c->alternate_servers;
	int err = alt_list(sh, TURN_ALT_UDP, &c->alternate_servers, 3478);

	if (!err)
		err = alt_list(sh, TURN_ALT_TCP, tcp, 3478);
	if (!err && c->tls_alternate_servers.n)
		err = alt_list(sh, TURN_ALT_TLS, &c->tls_alternate_servers, 5349);
	else if (!err)
		err = alt_list(sh, TURN_ALT_TLS, tcp, 3478);
	if (!err &&
	    (c->alternate_servers.n || c->tcp_alternate_servers.n || c->tls_alternate_servers.n))
		klog_info("alternate servers: %zu UDP, %zu TCP, %zu TLS; redirecting %s",
			  c->alternate_servers.n, tcp->n,
			  c->tls_alternate_servers.n ? c->tls_alternate_servers.n : tcp->n,
			  c->alternate_max_allocations || c->alternate_max_bps
				  ? "when this node is full"
				  : "every Allocate");
	return err;
}

static struct auth_creds creds_of(const struct kturn_conf *c)
{
	static const struct conf_users none;

	return (struct auth_creds){
		/* with use-auth-secret static users are ignored (conf says so at start) */
		.users = c->auth == CONF_AUTH_SECRET ? &none : &c->users,
		.secrets = &c->static_auth_secrets,
		.rest_separator = c->rest_api_separator,
	};
}

static int filter_of(const struct kturn_conf *c, const struct turn_opts *o,
		     struct peer_filter **out)
{
	int err = peer_filter__new(out, c);

	for (size_t i = 0; !err && i < c->listening_ips.n; i++) {
		struct sockaddr_storage ss;

		if (net_addr_parse(c->listening_ips.v[i], 0, &ss) == 0)
			err = peer_filter__add_self(*out, (const void *)&ss);
	}
	for (size_t i = 0; !err && i < c->relay_ips.n; i++) {
		struct sockaddr_storage ss;

		if (net_addr_parse(c->relay_ips.v[i], 0, &ss) == 0)
			err = peer_filter__add_self(*out, (const void *)&ss);
	}
	if (!err && o->relay4.ss_family)
		err = peer_filter__add_self(*out, (const void *)&o->relay4);
	if (!err && o->relay6.ss_family)
		err = peer_filter__add_self(*out, (const void *)&o->relay6);
	/* external-ip: the relay's public face is the server too */
	if (!err && o->public4.ss_family)
		err = peer_filter__add_self(*out, (const void *)&o->public4);
	if (!err && o->public6.ss_family)
		err = peer_filter__add_self(*out, (const void *)&o->public6);
	return err;
}

int turn_shared__from_conf(struct turn_shared **out, const struct kturn_conf *c,
			   const char *software, struct sockmap *sm)
{
	struct turn_opts o = {
		.software = software,
		.fingerprint = c->fingerprint,
		.min_port = c->min_port,
		.max_port = c->max_port,
		.default_lifetime = c->default_allocate_lifetime,
		.max_lifetime = c->max_allocate_lifetime,
		.perm_lifetime = c->permission_lifetime,
		.chan_lifetime = c->channel_lifetime,
		.connection_timeout_ms = c->connection_timeout * 1000,
		.channel_max = c->rfc5766_channels ? STUN_CHANNEL_MAX_RFC5766 : STUN_CHANNEL_MAX,
		.user_quota = c->user_quota,
		.total_quota = c->total_quota,
		.max_bps = c->max_bps,
		.udp_relay = !c->no_udp_relay,
		.sockmap = sm,
		.tcp_relay = !c->no_tcp_relay,
		.auth_fail_burst = c->auth_fail_burst,
		.auth_fail_rate = c->auth_fail_rate,
		.alt_max_allocs = c->alternate_max_allocations,
		.alt_max_bps = c->alternate_max_bps,
	};
	struct auth_opts ao = {
		.mode = c->auth,
		.realm = c->realm ? c->realm : DEFAULT_REALM,
		.stale_nonce = c->stale_nonce,
		.creds = creds_of(c),
	};
	struct peer_filter *pf = NULL;
	struct auth *auth = NULL;
	int err;

	relay_addresses(c, &o);
	if (o.relay4.ss_family == AF_UNSPEC && o.relay6.ss_family == AF_UNSPEC) {
		klog_err("no relay address: set relay-ip");
		return -EADDRNOTAVAIL;
	}
	public_addresses(c, &o);
	err = filter_of(c, &o, &pf);
	if (!err)
		err = auth__new(&auth, &ao);
	if (!err)
		err = turn_shared__new(out, &o, auth, pf);
	if (err) {
		auth__free(auth);
		peer_filter__free(pf);
		return err;
	}
	err = alternates(*out, c);
	if (err) {
		turn_shared__free(*out);
		*out = NULL;
	}
	return err;
}

int turn_shared__reload(struct turn_shared *sh, const struct kturn_conf *c)
{
	struct auth_creds cr = creds_of(c);
	int err = auth__set_credentials(turn_shared__auth(sh), &cr);

	if (!err)
		klog_info("credentials reloaded: %zu user(s), %zu secret(s)", cr.users->n,
			  cr.secrets->n);
	return err;
}
