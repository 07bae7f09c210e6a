// SPDX-License-Identifier: MIT
/*
 * The option table: coturn's names and short flags (src/apps/relay/mainrelay.c
 * long_options and its "c:d:p:L:..." string), kturn-only options prefixed
 * "kturn-", and coturn options kturn accepts but ignores. Adding an option is
 * one row here plus, for a new setting, one field in struct kturn_conf.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"

#define F(field)     offsetof(struct kturn_conf, field)
#define FSIZE(field) sizeof(((struct kturn_conf *)0)->field)

#define FLAG(n, s, field, h)                                                                       \
	{                                                                                          \
		.name = n, .short_name = s, .arg = ARG_NONE, .kind = KIND_BOOL, .off = F(field),   \
		.help = h                                                                          \
	}
#define UINT(n, s, field, lo, hi, mv, h)                                                           \
	{                                                                                          \
		.name = n, .short_name = s, .arg = ARG_REQUIRED, .kind = KIND_UINT,                \
		.off = F(field), .size = FSIZE(field), .min = lo, .max = hi, .metavar = mv,        \
		.help = h                                                                          \
	}
/* coturn's optional-argument integers: bare "stale-nonce" means the default. */
#define UINT_OPT(n, field, lo, hi, dflt, mv, h)                                                    \
	{                                                                                          \
		.name = n, .arg = ARG_OPTIONAL, .kind = KIND_UINT, .off = F(field),                \
		.size = FSIZE(field), .min = lo, .max = hi, .bare = dflt, .metavar = mv, .help = h \
	}
#define STR(n, s, field, chk, mv, h)                                                               \
	{                                                                                          \
		.name = n, .short_name = s, .arg = ARG_REQUIRED, .kind = KIND_STR,                 \
		.off = F(field), .check = chk, .metavar = mv, .help = h                            \
	}
#define STRV(n, s, field, chk, mv, h)                                                              \
	{                                                                                          \
		.name = n, .short_name = s, .arg = ARG_REQUIRED, .kind = KIND_STRV,                \
		.off = F(field), .check = chk, .metavar = mv, .help = h                            \
	}
#define SET(n, s, a, fn, field, mv, h)                                                             \
	{                                                                                          \
		.name = n, .short_name = s, .arg = a, .kind = KIND_SET, .set = fn,                 \
		.off = F(field), .metavar = mv, .help = h                                          \
	}
#define CLI(n, s, kind_, field, mv, h)                                                             \
	{                                                                                          \
		.name = n, .short_name = s, .arg = (kind_) == KIND_STR ? ARG_REQUIRED : ARG_NONE,  \
		.kind = kind_, .flags = OPT_CLI_ONLY | OPT_EARLY, .off = F(field), .metavar = mv,  \
		.help = h                                                                          \
	}
#define IGNORED(n, s, a)                                                                           \
	{                                                                                          \
		.name = n, .short_name = s, .arg = a, .kind = KIND_IGNORED                         \
	}

/* ---- setters for options that are more than "store this value" ---- */

static bool bool_of(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		    const struct conf_src *src, int *err)
{
	bool b = true;

	*err = 0;
	if (val && conf_value__bool(val, &b))
		*err = conf_diag__bad_value(c, o, val, src,
					    "expected a boolean (yes/no, true/false, on/off, 1/0)");
	return b;
}

/* coturn: -v does not lower an earlier -V. */
static int set_verbose(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		       const struct conf_src *src)
{
	int err;
	bool on = bool_of(c, o, val, src, &err);

	if (!err && c->verbose != CONF_VERBOSE_EXTRA)
		c->verbose = on ? CONF_VERBOSE_NORMAL : CONF_VERBOSE_NONE;
	return err;
}

static int set_extra_verbose(struct kturn_conf *c, const struct conf_opt *o, const char *val,
			     const struct conf_src *src)
{
	int err;
	bool on = bool_of(c, o, val, src, &err);

	if (!err && on)
		c->verbose = CONF_VERBOSE_EXTRA;
	return err;
}

/* no-software-attribute (deprecated in coturn) and the older "prod". */
static int set_no_software(struct kturn_conf *c, const struct conf_opt *o, const char *val,
			   const struct conf_src *src)
{
	int err;
	bool on = bool_of(c, o, val, src, &err);

	if (!err)
		c->software_attribute = !on;
	return err;
}

static int set_user(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		    const struct conf_src *src)
{
	struct conf_users *u = &c->users;
	struct conf_user user, *nv;
	const char *why;
	int err = conf_value__user(val, &user, &why);

	if (err)
		return err == -EINVAL ? conf_diag__bad_value(c, o, val, src, why) : err;
	nv = reallocarray(u->v, u->n + 1, sizeof(*nv));
	if (!nv) {
		free(user.name);
		free(user.password);
		return -ENOMEM;
	}
	u->v = nv;
	u->v[u->n++] = user;
	return 0;
}

static int set_peer_range(struct kturn_conf *c, const struct conf_opt *o, const char *val,
			  const struct conf_src *src)
{
	struct conf_ip_ranges *r = (struct conf_ip_ranges *)((char *)c + o->off);
	struct conf_ip_range range, *nv;
	const char *why;

	if (conf_value__ip_range(val, &range, &why))
		return conf_diag__bad_value(c, o, val, src, why);
	nv = reallocarray(r->v, r->n + 1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	r->v = nv;
	r->v[r->n++] = range;
	return 0;
}

/* coturn: a static secret switches the TURN REST API mechanism on. */
static int set_static_secret(struct kturn_conf *c, const struct conf_opt *o, const char *val,
			     const struct conf_src *src)
{
	int err = conf_strv__push(&c->static_auth_secrets, val);

	(void)o;
	(void)src;
	if (!err)
		c->use_auth_secret = true;
	return err;
}

static int set_separator(struct kturn_conf *c, const struct conf_opt *o, const char *val,
			 const struct conf_src *src)
{
	if (strlen(val) != 1)
		return conf_diag__bad_value(c, o, val, src, "expected a single character");
	c->rest_api_separator = val[0];
	return 0;
}

static const char *const data_plane_names[] = {"auto", "sockmap", "splice", NULL};

_Static_assert(sizeof(enum conf_data_plane) == sizeof(int), "KIND_ENUM stores an int");

const struct conf_opt conf_opts[] = {
	CLI(NULL, 'c', KIND_STR, config_file, "<file>",
	    "configuration file (turnserver.conf syntax), read before the command line"),
	CLI(NULL, 'n', KIND_BOOL, no_config_file, NULL,
	    "do not read a configuration file (ignore -c)"),
	CLI("help", 'h', KIND_BOOL, show_help, NULL, "print this help and exit"),
	CLI("version", 0, KIND_BOOL, show_version, NULL, "print the version and exit"),

	/* listeners */
	STRV("listening-ip", 'L', listening_ips, conf_value__check_ip, "<ip>",
	     "listen on this address (default all); repeatable"),
	UINT("listening-port", 'p', listening_port, 1, 65535, "<port>",
	     "UDP and TCP listener port"),
	UINT("tls-listening-port", 0, tls_listening_port, 1, 65535, "<port>", "TLS listener port"),
	FLAG("no-udp", 0, no_udp, "do not start UDP listeners"),
	FLAG("no-tcp", 0, no_tcp, "do not start TCP listeners"),
	FLAG("no-tls", 0, no_tls, "do not start TLS listeners"),
	FLAG("no-dtls", 0, no_dtls, "do not start DTLS listeners"),
	STR("cert", 0, cert, NULL, "<file>", "TLS certificate chain, PEM"),
	STR("pkey", 0, pkey, NULL, "<file>", "TLS private key, PEM"),

	/* relay */
	STRV("relay-ip", 'E', relay_ips, conf_value__check_ip, "<ip>",
	     "relay from this address; repeatable"),
	STRV("external-ip", 'X', external_ips, conf_value__check_external_ip, "<ip[/private-ip]>",
	     "behind NAT: advertise this address for the relay address (of its family, or "
	     "private-ip); repeatable"),
	UINT("min-port", 0, min_port, 1, 65535, "<port>", "lowest relay port"),
	UINT("max-port", 0, max_port, 1, 65535, "<port>", "highest relay port"),
	FLAG("no-udp-relay", 0, no_udp_relay, "refuse UDP allocations"),
	FLAG("no-tcp-relay", 0, no_tcp_relay, "refuse TCP allocations (RFC 6062)"),

	/* peers */
	SET("allowed-peer-ip", 0, ARG_REQUIRED, set_peer_range, allowed_peer_ips, "<ip[-ip]|ip/n>",
	    "allow these peers even if denied; repeatable"),
	SET("denied-peer-ip", 0, ARG_REQUIRED, set_peer_range, denied_peer_ips, "<ip[-ip]|ip/n>",
	    "deny these peers; repeatable"),
	FLAG("allow-loopback-peers", 0, allow_loopback_peers,
	     "allow peers on 127.0.0.0/8 and ::1 (testing only)"),
	FLAG("no-multicast-peers", 0, no_multicast_peers, "deny multicast and broadcast peers"),

	/* authentication */
	STR("realm", 'r', realm, NULL, "<realm>", "realm for long-term credentials"),
	FLAG("lt-cred-mech", 'a', lt_cred_mech, "long-term credential mechanism"),
	FLAG("no-auth", 'z', no_auth, "no authentication: anonymous access"),
	SET("user", 'u', ARG_REQUIRED, set_user, users, "<name:password>",
	    "static user (password or 0x<key>); repeatable"),
	FLAG("use-auth-secret", 0, use_auth_secret, "TURN REST API shared-secret credentials"),
	SET("static-auth-secret", 0, ARG_REQUIRED, set_static_secret, static_auth_secrets,
	    "<secret>", "TURN REST API secret (implies use-auth-secret); repeatable"),
	SET("rest-api-separator", 'C', ARG_REQUIRED, set_separator, rest_api_separator, "<char>",
	    "timestamp/username separator in REST API usernames"),

	/* protocol */
	FLAG("fingerprint", 'f', fingerprint, "add FINGERPRINT to every response"),
	FLAG("software-attribute", 0, software_attribute, "send the SOFTWARE attribute (default)"),
	SET("no-software-attribute", 0, ARG_NONE, set_no_software, software_attribute, NULL,
	    "do not send the SOFTWARE attribute"),
	UINT_OPT("stale-nonce", stale_nonce, 0, 86400 * 365, 600, "[=<s>]", "nonce lifetime"),
	UINT_OPT("max-allocate-lifetime", max_allocate_lifetime, 1, 86400 * 365, 3600, "[=<s>]",
		 "longest allocation lifetime a client may ask for"),
	UINT_OPT("channel-lifetime", channel_lifetime, 1, 86400 * 365, 600, "[=<s>]",
		 "channel binding lifetime; change for tests only"),
	UINT_OPT("permission-lifetime", permission_lifetime, 1, 86400 * 365, 300, "[=<s>]",
		 "permission lifetime; change for tests only"),
	UINT("user-quota", 'q', user_quota, 0, UINT32_MAX, "<n>",
	     "concurrent allocations per user, 0 = unlimited"),
	UINT("total-quota", 'Q', total_quota, 0, UINT32_MAX, "<n>",
	     "concurrent allocations in total, 0 = unlimited"),
	UINT("max-bps", 's', max_bps, 0, UINT64_MAX, "<bytes/s>",
	     "bandwidth per session and direction, 0 = unlimited"),
	STRV("alternate-server", 0, alternate_servers, conf_value__check_host_port, "<ip[:port]>",
	     "redirect Allocate requests (300 Try Alternate, round robin) to this server, "
	     "port 3478 by default; UDP, and TCP/TLS unless set below; repeatable"),
	STRV("tcp-alternate-server", 0, tcp_alternate_servers, conf_value__check_host_port,
	     "<ip[:port]>", "alternate server for TCP (and TLS) clients; repeatable"),
	STRV("tls-alternate-server", 0, tls_alternate_servers, conf_value__check_host_port,
	     "<ip[:port]>", "alternate server for TLS clients, port 5349 by default; repeatable"),
	UINT("kturn-alternate-max-allocations", 0, alternate_max_allocations, 0, UINT32_MAX, "<n>",
	     "redirect to an alternate server only while this node (all workers) holds n or more "
	     "allocations; with neither ceiling every Allocate is redirected, as coturn does"),
	UINT("kturn-alternate-max-bps", 0, alternate_max_bps, 0, UINT64_MAX, "<bits/s>",
	     "redirect to an alternate server only while this node (all workers, all planes) "
	     "relays this many bits per second or more (measured over the last second); "
	     "0 = no bandwidth ceiling"),

	/* logging and process */
	STR("log-file", 'l', log_file, NULL, "<file>", "log file; \"stdout\", \"stderr\" or \"-\""),
	SET("verbose", 'v', ARG_NONE, set_verbose, verbose, NULL, "log at info level"),
	SET("Verbose", 'V', ARG_NONE, set_extra_verbose, verbose, NULL, "log at debug level"),
	FLAG("no-stdout-log", 0, no_stdout_log, "do not copy the log to stdout"),
	FLAG("syslog", 0, syslog, "log to syslog"),
	FLAG("simple-log", 0, simple_log, "no rollover suffix on the log file name (logrotate)"),
	FLAG("new-log-timestamp", 0, new_log_timestamp, "ISO-8601 timestamps (kturn: always)"),
	STR("pidfile", 0, pidfile, NULL, "<file>", "write the process id here"),
	FLAG("no-cli", 0, no_cli, "no telnet CLI (kturn has none; use kturnctl)"),
	FLAG("prometheus", 0, prometheus, "serve Prometheus metrics on /metrics"),
	UINT("prometheus-port", 0, prometheus_port, 1, 65535, "<port>", "Prometheus port"),
	STR("prometheus-address", 0, prometheus_address, conf_value__check_ip, "<ip>",
	    "Prometheus listening address (default: the first listening-ip, else any)"),

	/* kturn only */
	{.name = "kturn-data-plane",
	 .arg = ARG_REQUIRED,
	 .kind = KIND_ENUM,
	 .off = F(data_plane),
	 .names = data_plane_names,
	 .metavar = "<auto|sockmap|splice>",
	 .help = "how bridged TCP pairs move bytes: splice() (auto, the default) or the BPF sockmap (opt-in: see README)"},
	UINT("kturn-default-allocate-lifetime", 0, default_allocate_lifetime, 1, 86400 * 365, "<s>",
	     "allocation lifetime when the client asks for less (600; lower it for tests)"),
	FLAG("kturn-rfc5766-channels", 0, rfc5766_channels,
	     "also bind channel numbers 0x5000-0x7FFF (RFC 5766 clients, coturn's uclient)"),
	UINT("kturn-connection-timeout", 0, connection_timeout, 1, 3600, "<s>",
	     "RFC 6062: Connect timeout and life of an unbound CONNECTION-ID (30; lower for "
	     "tests)"),
	STR("kturn-bpf-pin-dir", 0, bpf_pin_dir, NULL, "<dir>",
	    "where the sockmap plane pins its maps (default /sys/fs/bpf/kturn)"),
	STR("kturn-control-socket", 0, control_socket, NULL, "<path>",
	    "kturnctl's unix socket, mode 0600 (default /run/kturn/kturnd.sock; \"none\": off)"),
	STR("kturn-node-name", 0, node_name, NULL, "<name>",
	    "this node's name in metrics and kturnctl status (default: the hostname)"),
	UINT("kturn-workers", 0, workers, 0, 1024, "<n>", "worker threads, 0 = one per CPU"),
	UINT("kturn-max-message-size", 0, max_message_size, 576, 65552, "<bytes>",
	     "largest STUN message accepted on a stream"),
	UINT("kturn-tcp-idle-timeout", 0, tcp_idle_timeout, 0, UINT32_MAX, "<s>",
	     "close a silent TCP/TLS client without an allocation (30), 0 = never"),
	UINT("kturn-auth-fail-burst", 0, auth_fail_burst, 0, 1000000, "<n>",
	     "wrong credentials a source (IPv4 address, IPv6 /64) may send at once before its "
	     "authenticated requests are refused (5), 0 = no limit"),
	UINT("kturn-auth-fail-rate", 0, auth_fail_rate, 0, 1000000, "<n>",
	     "wrong credentials per second a source earns back (1), 0 = no limit"),

	/* older coturn spelling of no-software-attribute */
	{.name = "prod",
	 .arg = ARG_NONE,
	 .kind = KIND_SET,
	 .set = set_no_software,
	 .flags = OPT_NO_HELP},

	/* coturn options kturn does not implement: warned about once, then ignored */
	IGNORED("listening-device", 'd', ARG_REQUIRED),
	IGNORED("alt-listening-port", 0, ARG_REQUIRED),
	IGNORED("alt-tls-listening-port", 0, ARG_REQUIRED),
	IGNORED("tcp-proxy-port", 0, ARG_REQUIRED),
	IGNORED("aux-server", 0, ARG_REQUIRED),
	IGNORED("udp-self-balance", 0, ARG_NONE),
	IGNORED("relay-device", 'i', ARG_REQUIRED),
	IGNORED("relay-threads", 'm', ARG_REQUIRED),
	IGNORED("userdb", 'b', ARG_REQUIRED),
	IGNORED("db", 0, ARG_REQUIRED),
	IGNORED("psql-userdb", 'e', ARG_REQUIRED),
	IGNORED("sql-userdb", 0, ARG_REQUIRED),
	IGNORED("mysql-userdb", 'M', ARG_REQUIRED),
	IGNORED("mongo-userdb", 'J', ARG_REQUIRED),
	IGNORED("redis-userdb", 'N', ARG_REQUIRED),
	IGNORED("redis-statsdb", 'O', ARG_REQUIRED),
	IGNORED("secret-key-file", 0, ARG_REQUIRED),
	IGNORED("prometheus-username-labels", 0, ARG_NONE),
	IGNORED("no-auth-pings", 0, ARG_NONE),
	IGNORED("no-dynamic-ip-list", 0, ARG_NONE),
	IGNORED("no-dynamic-realms", 0, ARG_NONE),
	IGNORED("server-name", 0, ARG_REQUIRED),
	IGNORED("oauth", 0, ARG_NONE),
	IGNORED("bps-capacity", 'B', ARG_REQUIRED),
	IGNORED("daemon", 'o', ARG_NONE),
	IGNORED("check-origin-consistency", 0, ARG_NONE),
	IGNORED("stun-only", 'S', ARG_NONE),
	IGNORED("no-stun", 0, ARG_NONE),
	IGNORED("secure-stun", 0, ARG_NONE),
	IGNORED("mobility", 0, ARG_NONE),
	IGNORED("server-relay", 0, ARG_NONE),
	IGNORED("max-allocate-timeout", 0, ARG_REQUIRED),
	IGNORED("keep-address-family", 'K', ARG_NONE),
	IGNORED("allocation-default-address-family", 'A', ARG_REQUIRED),
	IGNORED("raw-public-keys", 0, ARG_NONE),
	IGNORED("pkey-pwd", 0, ARG_REQUIRED),
	IGNORED("cipher-list", 0, ARG_REQUIRED),
	IGNORED("CA-file", 0, ARG_REQUIRED),
	IGNORED("ec-curve-name", 0, ARG_REQUIRED),
	IGNORED("dh566", 0, ARG_NONE),
	IGNORED("dh1066", 0, ARG_NONE),
	IGNORED("dh2066", 0, ARG_NONE),
	IGNORED("dh-file", 0, ARG_REQUIRED),
	IGNORED("no-tlsv1", 0, ARG_NONE),
	IGNORED("no-tlsv1_1", 0, ARG_NONE),
	IGNORED("no-tlsv1_2", 0, ARG_NONE),
	IGNORED("no-sslv2", 0, ARG_NONE),
	IGNORED("no-sslv3", 0, ARG_NONE),
	IGNORED("sha256", 0, ARG_NONE),
	IGNORED("sha384", 0, ARG_NONE),
	IGNORED("sha512", 0, ARG_NONE),
	IGNORED("no-loopback-peers", 0, ARG_NONE),
	IGNORED("new-log-timestamp-format", 0, ARG_REQUIRED),
	IGNORED("syslog-facility", 0, ARG_REQUIRED),
	IGNORED("log-binding", 0, ARG_NONE),
	IGNORED("proc-user", 0, ARG_REQUIRED),
	IGNORED("proc-group", 0, ARG_REQUIRED),
	IGNORED("cli-ip", 0, ARG_REQUIRED),
	IGNORED("cli-port", 0, ARG_REQUIRED),
	IGNORED("cli-password", 0, ARG_REQUIRED),
	IGNORED("cli-max-output-sessions", 0, ARG_REQUIRED),
	IGNORED("web-admin", 0, ARG_NONE),
	IGNORED("web-admin-ip", 0, ARG_REQUIRED),
	IGNORED("web-admin-port", 0, ARG_REQUIRED),
	IGNORED("web-admin-listen-on-workers", 0, ARG_NONE),
	IGNORED("acme-redirect", 0, ARG_REQUIRED),
	IGNORED("ne", 0, ARG_REQUIRED),
	IGNORED("no-rfc5780", 0, ARG_NONE),
	IGNORED("no-stun-backward-compatibility", 0, ARG_NONE),
	IGNORED("response-origin-only-with-rfc5780", 0, ARG_NONE),
	IGNORED("respond-http-unsupported", 0, ARG_NONE),
};

const size_t conf_n_opts = sizeof(conf_opts) / sizeof(conf_opts[0]);

const struct conf_opt *conf_opts__find(const char *name, size_t len)
{
	for (size_t i = 0; i < conf_n_opts; i++) {
		const char *n = conf_opts[i].name;

		if (n && strlen(n) == len && !memcmp(n, name, len))
			return &conf_opts[i];
	}
	return NULL;
}

const struct conf_opt *conf_opts__find_short(char c)
{
	for (size_t i = 0; i < conf_n_opts; i++)
		if (c && conf_opts[i].short_name == c)
			return &conf_opts[i];
	return NULL;
}

/* The name users know the option by: its long name, else "-c". */
const char *conf_opts__display(const struct conf_opt *o, char *buf, size_t cap)
{
	if (o->name)
		return o->name;
	snprintf(buf, cap, "-%c", o->short_name);
	return buf;
}
