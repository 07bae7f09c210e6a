/* SPDX-License-Identifier: MIT */
/*
 * kturnd configuration. kturnd reads coturn's option names, in coturn's
 * turnserver.conf syntax and on the command line, so `kturnd -c
 * /etc/turnserver.conf` runs a coturn setup. One table (user/conf/conf_opts.c)
 * drives the file parser, the command line parser and --help.
 *
 * Order, as in coturn: the file named by -c is read first, then the command
 * line, so for single-valued options the command line wins; list options
 * (listening-ip, user, relay-ip, ...) accumulate over both. Without -c no file
 * is read (kturn never searches for a default turnserver.conf).
 *
 * Nothing here logs or exits: warnings and errors are appended to
 * kturn_conf.diags, fully worded, for the caller to log (conf__log_diags) once
 * it has opened the log the configuration asked for. Parsing goes on after an
 * error so that one run reports every mistake; the functions then return
 * -EINVAL. The struct holds no hidden pointers to static data: every string is
 * owned by it and released by conf__free.
 *
 *	struct kturn_conf c;
 *	conf__defaults(&c);
 *	int err = conf__load(&c, argc, argv);
 *	conf__log_diags(&c);
 *	if (err) exit(2);
 *	if (c.show_help) conf__usage(stdout, argv[0]);
 *	...
 *	conf__free(&c);
 */
#ifndef KTURN_CONF_H
#define KTURN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kturn/log.h"

enum conf_verbose {
	CONF_VERBOSE_NONE = 0,
	CONF_VERBOSE_NORMAL = 1, /* -v, verbose: info */
	CONF_VERBOSE_EXTRA = 2,	 /* -V, Verbose: debug */
};

enum conf_data_plane {
	CONF_DATA_PLANE_AUTO = 0,
	CONF_DATA_PLANE_SOCKMAP = 1,
	CONF_DATA_PLANE_SPLICE = 2,
};

/* Derived by conf__validate from lt-cred-mech, no-auth, use-auth-secret, user. */
enum conf_auth {
	CONF_AUTH_NONE = 0,	 /* anonymous (no-auth, or nothing configured) */
	CONF_AUTH_LONG_TERM = 1, /* static users, RFC 8489 long-term credentials */
	CONF_AUTH_SECRET = 2,	 /* TURN REST API: static-auth-secret */
};

struct conf_strv {
	char **v;
	size_t n;
};

/* user=name:password, or name:0x<hex> where the hex is the precomputed key. */
struct conf_user {
	char *name;
	char *password; /* as written, including any "0x" */
	bool is_key;	/* password is "0x" followed by 32 or 64 hex digits */
};

struct conf_users {
	struct conf_user *v;
	size_t n;
};

/* Inclusive address range; AF_INET uses the first 4 bytes. Network order. */
struct conf_ip_range {
	int family;
	uint8_t lo[16];
	uint8_t hi[16];
};

struct conf_ip_ranges {
	struct conf_ip_range *v;
	size_t n;
};

struct conf_diag {
	enum log_level level; /* LOG_ERR or LOG_WARN */
	char *option;	      /* option concerned, NULL for file-level problems */
	char *msg;	      /* complete sentence, names the option and its source */
};

struct kturn_conf {
	/* command line only */
	char *config_file;   /* -c */
	bool no_config_file; /* -n */
	bool show_help;	     /* -h, --help */
	bool show_version;   /* --version */

	/* listeners */
	struct conf_strv listening_ips; /* IP literals; empty = all addresses */
	uint16_t listening_port;	/* 3478 */
	uint16_t tls_listening_port;	/* 5349 */
	bool no_udp, no_tcp, no_tls, no_dtls;

	/* relay */
	struct conf_strv relay_ips;    /* IP literals */
	struct conf_strv external_ips; /* "public" or "public/private" */
	uint16_t min_port;	       /* 49152 */
	uint16_t max_port;	       /* 65535 */
	bool no_udp_relay, no_tcp_relay;

	/* peers */
	struct conf_ip_ranges allowed_peer_ips;
	struct conf_ip_ranges denied_peer_ips;
	bool allow_loopback_peers;
	bool no_multicast_peers;

	/* authentication */
	char *realm;
	bool lt_cred_mech;
	bool no_auth;
	bool use_auth_secret; /* also set by static-auth-secret */
	struct conf_users users;
	struct conf_strv static_auth_secrets;
	char rest_api_separator; /* ':' */
	enum conf_auth auth;	 /* derived by conf__validate */

	/* protocol */
	bool fingerprint;
	bool software_attribute;	    /* send SOFTWARE; off by default as in coturn */
	uint32_t stale_nonce;		    /* seconds, 600 */
	uint32_t max_allocate_lifetime;	    /* seconds, 3600 */
	uint32_t default_allocate_lifetime; /* seconds, 600; capped to the maximum */
	uint32_t channel_lifetime;	    /* seconds, 600 */
	uint32_t permission_lifetime;	    /* seconds, 300 */

	/* quotas (0 = unlimited) */
	uint32_t user_quota;
	uint32_t total_quota;
	uint64_t max_bps;

	/* TLS */
	char *cert;
	char *pkey;

	/* redirection: "ip[:port]" or "[ipv6]:port" */
	struct conf_strv alternate_servers;	/* UDP; TCP/TLS too unless given below */
	struct conf_strv tcp_alternate_servers; /* TCP (and TLS without tls-alternate-server) */
	struct conf_strv tls_alternate_servers;
	uint32_t alternate_max_allocations; /* redirect at/over this many, 0 = no such ceiling */
	uint64_t alternate_max_bps; /* redirect at/over this relayed rate, bits/s, 0 = none */
	/* with neither ceiling, every Allocate is redirected (coturn) */

	/* logging and process */
	char *log_file; /* NULL, "-", "stderr", "stdout" or a path */
	char *pidfile;	/* NULL = no pid file */
	enum conf_verbose verbose;
	bool no_stdout_log;
	bool syslog;
	bool simple_log;
	bool new_log_timestamp;
	bool no_cli;

	/* metrics */
	bool prometheus;
	uint16_t prometheus_port; /* 9641 */
	char *prometheus_address; /* NULL = the first listening-ip, else any */

	/* kturn-only */
	enum conf_data_plane data_plane;
	char *bpf_pin_dir;	     /* NULL: KTURN_PIN_DIR_DEFAULT */
	char *control_socket;	     /* NULL: CTL_SOCKET_DEFAULT; "" or "none": no socket */
	char *node_name;	     /* NULL: the hostname */
	uint32_t workers;	     /* 0 = one per online CPU */
	bool rfc5766_channels;	     /* bind channels 0x5000-0x7FFF too */
	uint32_t connection_timeout; /* s, 30: RFC 6062 Connect and unbound connection ids */
	uint32_t max_message_size;   /* bytes, STUN_MAX_MSG_LEN */
	uint32_t tcp_idle_timeout;   /* seconds, 30; connections without an allocation; 0 = never */

	/* wrong credentials per source before its requests are refused; either 0 = off */
	uint32_t auth_fail_burst; /* 5 at once */
	uint32_t auth_fail_rate;  /* 1 a second earned back */

	/* diagnostics, in the order found */
	struct conf_diag *diags;
	size_t n_diags;
	size_t n_errors;

	/* private: option names already reported as unknown or unsupported */
	struct conf_strv reported;
};

/* Zero c and set every default. Allocates nothing. */
void conf__defaults(struct kturn_conf *c);

/*
 * -h/--version/-c/-n first, then the file named by -c, then the whole
 * command line, then conf__validate. Returns 0, -EINVAL (see diags), -ENOMEM,
 * or -errno when the file cannot be read. With show_help/show_version set it
 * returns 0 without reading anything else.
 */
int conf__load(struct kturn_conf *c, int argc, char **argv);

/* Read one turnserver.conf. Returns 0, -EINVAL, -ENOMEM or -errno (open/read). */
int conf__load_file(struct kturn_conf *c, const char *path);

/* argv[0] is the program name. -c only records the path. 0, -EINVAL, -ENOMEM. */
int conf__parse_args(struct kturn_conf *c, int argc, char **argv);

/* Cross-field checks, coturn's implied settings, and c->auth. 0 or -EINVAL. */
int conf__validate(struct kturn_conf *c);

/* Release everything c owns and zero it. NULL is a no-op. */
void conf__free(struct kturn_conf *c);

/* --help text, generated from the option table. */
void conf__usage(FILE *f, const char *prog);

/* log__write every diagnostic at its level. */
void conf__log_diags(const struct kturn_conf *c);

/* Log level verbose asks for: none -> LOG_WARN, -v -> LOG_INFO, -V -> LOG_DEBUG. */
enum log_level conf__log_level(const struct kturn_conf *c);

/* True if addr (family AF_INET/AF_INET6, network order bytes) is in any range. */
bool conf__ip_ranges_match(const struct conf_ip_ranges *r, int family, const void *addr);

#endif /* KTURN_CONF_H */
