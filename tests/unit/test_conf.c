// SPDX-License-Identifier: MIT
/* Configuration: coturn file syntax, command line, validation, --help. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kturn/conf.h"
#include "kturn/stun.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A temp file holding text; its path is returned in path (PATH_MAX). */
static void xwrite_tmp(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/kturn-test-conf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

/* Index of the diagnostic with exactly this level and text, or fail. */
static size_t xdiag(const struct kturn_conf *c, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static size_t xdiag(const struct kturn_conf *c, enum log_level level, const char *fmt, ...)
{
	char want[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < c->n_diags; i++)
		if (c->diags[i].level == level && !strcmp(c->diags[i].msg, want))
			return i;
	for (size_t i = 0; i < c->n_diags; i++)
		print_message("diag[%zu] %d: %s\n", i, c->diags[i].level, c->diags[i].msg);
	fail_msg("no diagnostic '%s'", want);
	return 0;
}

static int load_args(struct kturn_conf *c, int argc, char **argv)
{
	conf__defaults(c);
	return conf__load(c, argc, argv);
}

static int load_text(struct kturn_conf *c, const char *text, char *path)
{
	int err;

	xwrite_tmp(path, text);
	conf__defaults(c);
	err = conf__load_file(c, path);
	unlink(path);
	return err;
}

static void test_defaults(void **state)
{
	struct kturn_conf c;

	conf__defaults(&c);
	assert_int_equal(c.listening_port, 3478);
	assert_int_equal(c.tls_listening_port, 5349);
	assert_int_equal(c.min_port, 49152);
	assert_int_equal(c.max_port, 65535);
	assert_int_equal(c.stale_nonce, 600);
	assert_int_equal(c.max_allocate_lifetime, 3600);
	assert_int_equal(c.channel_lifetime, 600);
	assert_int_equal(c.permission_lifetime, 300);
	assert_int_equal(c.prometheus_port, 9641);
	assert_int_equal(c.rest_api_separator, ':');
	assert_int_equal(c.data_plane, CONF_DATA_PLANE_AUTO);
	assert_int_equal(c.max_message_size, STUN_MAX_MSG_LEN);
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.tcp_idle_timeout, 30);
	assert_int_equal(c.verbose, CONF_VERBOSE_NONE);
	assert_false(c.fingerprint);
	assert_true(c.software_attribute);
	assert_null(c.realm);
	assert_null(c.log_file);
	assert_int_equal(c.listening_ips.n, 0);
	assert_int_equal(conf__validate(&c), 0);
	assert_int_equal(c.auth, CONF_AUTH_NONE);
	assert_int_equal(c.n_diags, 0);
	conf__free(&c);
	conf__free(&c);
	conf__free(NULL);
}

static const char realistic[] = "# TURN server name and realm\n"
				"realm=example.org\n"
				"\n"
				"lt-cred-mech\n"
				"user=alice:secret\n"
				"listening-port=3479\n"
				"listening-ip=127.0.0.1\n"
				"min-port=50000\n"
				"max-port=50100\n"
				"relay-ip=192.0.2.10\n"
				"allow-loopback-peers\n"
				"no-tls\n"
				"no-cli\n"
				"fingerprint\n"
				"verbose\n"
				"redis-userdb=\"ip=127.0.0.1 dbname=0 password=turn port=6379\"\n"
				"lisening-port=3478\n"
				"redis-userdb=\"ip=127.0.0.2\"\n";

static void test_realistic_file(void **state)
{
	struct kturn_conf c;
	char path[64];

	xwrite_tmp(path, realistic);
	char *argv[] = {"kturnd", "-c", path};
	conf__defaults(&c);
	assert_int_equal(conf__load(&c, ARGC(argv), argv), 0);
	unlink(path);

	assert_string_equal(c.config_file, path);
	assert_string_equal(c.realm, "example.org");
	assert_true(c.lt_cred_mech);
	assert_int_equal(c.auth, CONF_AUTH_LONG_TERM);
	assert_int_equal(c.users.n, 1);
	assert_string_equal(c.users.v[0].name, "alice");
	assert_string_equal(c.users.v[0].password, "secret");
	assert_false(c.users.v[0].is_key);
	assert_int_equal(c.listening_port, 3479);
	assert_int_equal(c.listening_ips.n, 1);
	assert_string_equal(c.listening_ips.v[0], "127.0.0.1");
	assert_int_equal(c.min_port, 50000);
	assert_int_equal(c.max_port, 50100);
	assert_int_equal(c.relay_ips.n, 1);
	assert_string_equal(c.relay_ips.v[0], "192.0.2.10");
	assert_true(c.allow_loopback_peers);
	assert_true(c.no_tls);
	assert_false(c.no_dtls);
	assert_false(c.no_udp);
	assert_true(c.no_cli);
	assert_true(c.fingerprint);
	assert_int_equal(c.verbose, CONF_VERBOSE_NORMAL);
	assert_int_equal(conf__log_level(&c), LOG_INFO);
	assert_int_equal(c.tls_listening_port, 5349);

	/* redis-userdb twice: reported once, at its first line */
	assert_int_equal(c.n_diags, 3);
	assert_int_equal(c.n_errors, 0);
	assert_int_equal(xdiag(&c, LOG_WARN,
			       "option 'redis-userdb' (%s:16) is not supported by kturn; ignored",
			       path),
			 0);
	assert_int_equal(
		xdiag(&c, LOG_WARN, "unknown option 'lisening-port' (%s:17); ignored", path), 1);
	assert_int_equal(xdiag(&c, LOG_WARN,
			       "allow-loopback-peers lets clients reach services on this host; "
			       "for testing only"),
			 2);
	assert_string_equal(c.diags[0].option, "redis-userdb");
	assert_string_equal(c.diags[1].option, "lisening-port");
	conf__free(&c);
}

static void test_cli_overrides_file(void **state)
{
	struct kturn_conf c;
	char path[64];

	xwrite_tmp(path, "listening-port=3479\nrealm=file.org\nuser=alice:a\n"
			 "listening-ip=10.0.0.1\nfingerprint\nkturn-data-plane=splice\n");
	char *argv[] = {"kturnd", "-p", "4000",	    "--realm=cli.org",	"-c", path, "-u",
			"bob:b",  "-L", "10.0.0.2", "--fingerprint=off"};
	assert_int_equal(load_args(&c, ARGC(argv), argv), 0);
	unlink(path);
	assert_int_equal(c.listening_port, 4000);
	assert_string_equal(c.realm, "cli.org");
	assert_false(c.fingerprint);
	assert_int_equal(c.data_plane, CONF_DATA_PLANE_SPLICE);
	/* lists accumulate: file first, then command line */
	assert_int_equal(c.users.n, 2);
	assert_string_equal(c.users.v[0].name, "alice");
	assert_string_equal(c.users.v[1].name, "bob");
	assert_int_equal(c.listening_ips.n, 2);
	assert_string_equal(c.listening_ips.v[0], "10.0.0.1");
	assert_string_equal(c.listening_ips.v[1], "10.0.0.2");
	/* users without lt-cred-mech: turned on, as coturn does, with a warning */
	assert_true(c.lt_cred_mech);
	assert_int_equal(c.auth, CONF_AUTH_LONG_TERM);
	xdiag(&c, LOG_WARN,
	      "user accounts given without lt-cred-mech: turning lt-cred-mech on, as coturn does");
	assert_int_equal(c.n_diags, 1);
	conf__free(&c);
}

static void test_short_flags(void **state)
{
	struct kturn_conf c;
	char *argv[] = {"kturnd",
			"-p3480",
			"-L",
			"::1",
			"-r",
			"r.org",
			"-u",
			"a:b",
			"-af",
			"-V",
			"-v",
			"-l",
			"/tmp/k.log",
			"-E",
			"10.1.1.1",
			"-X",
			"1.2.3.4/10.1.1.1",
			"-q",
			"5",
			"-Q",
			"10",
			"-s",
			"100000",
			"-C",
			"|",
			"-p=3481"};

	assert_int_equal(load_args(&c, ARGC(argv), argv), 0);
	assert_int_equal(c.listening_port, 3481); /* coturn's -p=N: the '=' is skipped */
	assert_string_equal(c.listening_ips.v[0], "::1");
	assert_string_equal(c.realm, "r.org");
	assert_string_equal(c.users.v[0].password, "b");
	assert_true(c.lt_cred_mech);
	assert_true(c.fingerprint);
	assert_int_equal(c.verbose, CONF_VERBOSE_EXTRA); /* -v does not lower -V */
	assert_int_equal(conf__log_level(&c), LOG_DEBUG);
	assert_string_equal(c.log_file, "/tmp/k.log");
	assert_string_equal(c.relay_ips.v[0], "10.1.1.1");
	assert_string_equal(c.external_ips.v[0], "1.2.3.4/10.1.1.1");
	assert_int_equal(c.user_quota, 5);
	assert_int_equal(c.total_quota, 10);
	assert_int_equal(c.max_bps, 100000);
	assert_int_equal(c.rest_api_separator, '|');
	assert_int_equal(c.n_diags, 0);
	conf__free(&c);
}

static void test_long_forms(void **state)
{
	struct kturn_conf c;
	char *argv[] = {
		"kturnd",
		"--listening-port=3481",
		"--tls-listening-port",
		"5350",
		"--no-tls=false",
		"--no-udp",
		"--stale-nonce",
		"45",
		"--channel-lifetime",
		"--permission-lifetime=120",
		"--kturn-data-plane=sockmap",
		"--kturn-workers",
		"4",
		"--kturn-max-message-size=4096",
		"--kturn-tcp-idle-timeout=30",
		"--max-bps=18446744073709551615",
		"--software-attribute",
		"--prometheus",
		"--prometheus-address=::",
		"--pidfile=/run/kturn.pid",
		"--cert",
		"/etc/c.pem",
		"--pkey=/etc/k.pem",
		"--Verbose=no",
		"--",
	};

	assert_int_equal(load_args(&c, ARGC(argv), argv), 0);
	assert_int_equal(c.listening_port, 3481);
	assert_int_equal(c.tls_listening_port, 5350);
	assert_false(c.no_tls);
	assert_true(c.no_udp);
	assert_int_equal(c.stale_nonce, 45);
	assert_int_equal(c.channel_lifetime, 600); /* bare: coturn's default */
	assert_int_equal(c.permission_lifetime, 120);
	assert_int_equal(c.data_plane, CONF_DATA_PLANE_SOCKMAP);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.max_message_size, 4096);
	assert_int_equal(c.tcp_idle_timeout, 30);
	assert_true(c.max_bps == UINT64_MAX);
	assert_true(c.software_attribute);
	assert_true(c.prometheus);
	assert_string_equal(c.prometheus_address, "::");
	assert_string_equal(c.pidfile, "/run/kturn.pid");
	assert_string_equal(c.cert, "/etc/c.pem");
	assert_string_equal(c.pkey, "/etc/k.pem");
	assert_int_equal(c.verbose, CONF_VERBOSE_NONE);
	assert_int_equal(conf__log_level(&c), LOG_WARN);
	assert_int_equal(c.n_diags, 0);
	conf__free(&c);
}

static void test_bool_forms(void **state)
{
	static const struct {
		const char *word;
		bool value;
	} forms[] = {
		{"yes", true}, {"no", false},  {"true", true}, {"false", false},
		{"1", true},   {"0", false},   {"on", true},   {"off", false},
		{"Y", true},   {"OFF", false}, {"TRUE", true}, {"f", false},
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct kturn_conf c;
		char arg[64], text[64], path[64];

		snprintf(arg, sizeof(arg), "--allow-loopback-peers=%s", forms[i].word);
		char *argv[] = {"kturnd", arg};
		assert_int_equal(load_args(&c, ARGC(argv), argv), 0);
		assert_int_equal(c.allow_loopback_peers, forms[i].value);
		conf__free(&c);

		snprintf(text, sizeof(text), "no-udp-relay = %s\nno-tcp-relay\t%s\n", forms[i].word,
			 forms[i].value ? "no" : "yes");
		assert_int_equal(load_text(&c, text, path), 0);
		assert_int_equal(c.no_udp_relay, forms[i].value);
		assert_int_equal(c.no_tcp_relay, !forms[i].value);
		conf__free(&c);
	}
}

struct bad_case {
	const char *arg;
	const char *msg;
};

static void test_invalid_values(void **state)
{
	static const struct bad_case cases[] = {
		{"--listening-port=70000", "option 'listening-port' (command line): invalid value "
					   "'70000': expected an integer in 1..65535"},
		{"--listening-port=0", "option 'listening-port' (command line): invalid value '0': "
				       "expected an integer in 1..65535"},
		{"--listening-ip=300.1.1.1", "option 'listening-ip' (command line): invalid value "
					     "'300.1.1.1': not an IPv4 or IPv6 address"},
		{"--relay-ip=example.org", "option 'relay-ip' (command line): invalid value "
					   "'example.org': not an IPv4 or IPv6 address"},
		{"--user=alice", "option 'user' (command line): invalid value 'alice': "
				 "expected name:password"},
		{"--user=:pw", "option 'user' (command line): invalid value ':pw': "
			       "expected name:password"},
		{"--max-port=abc", "option 'max-port' (command line): invalid value 'abc': "
				   "expected an integer in 1..65535"},
		{"--min-port= 5", "option 'min-port' (command line): invalid value ' 5': "
				  "expected an integer in 1..65535"},
		{"--user-quota=-1", "option 'user-quota' (command line): invalid value '-1': "
				    "expected an integer in 0..4294967295"},
		{"--max-bps=18446744073709551616",
		 "option 'max-bps' (command line): invalid value '18446744073709551616': expected "
		 "an integer in 0..18446744073709551615"},
		{"--kturn-data-plane=sockmep",
		 "option 'kturn-data-plane' (command line): invalid value 'sockmep': expected one "
		 "of auto, sockmap, splice"},
		{"--fingerprint=maybe", "option 'fingerprint' (command line): invalid value "
					"'maybe': expected a boolean (yes/no, true/false, on/off, "
					"1/0)"},
		{"--verbose=loud", "option 'verbose' (command line): invalid value 'loud': "
				   "expected a boolean (yes/no, true/false, on/off, 1/0)"},
		{"--realm", "option 'realm' (command line): missing value"},
		{"--realm=", "option 'realm' (command line): missing value"},
		{"--denied-peer-ip=10.0.0.9-10.0.0.1",
		 "option 'denied-peer-ip' (command line): invalid value '10.0.0.9-10.0.0.1': the "
		 "first address of the range is above the last"},
		{"--allowed-peer-ip=10.0.0.1-::1",
		 "option 'allowed-peer-ip' (command line): invalid value '10.0.0.1-::1': the two "
		 "ends of the range are of different address families"},
		{"--allowed-peer-ip=10.0.0.0/33",
		 "option 'allowed-peer-ip' (command line): invalid value '10.0.0.0/33': expected "
		 "an IP address, a range ip-ip, or ip/prefix"},
		{"--external-ip=1.2.3.4/x", "option 'external-ip' (command line): invalid value "
					    "'1.2.3.4/x': expected public-ip or "
					    "public-ip/private-ip"},
		{"--alternate-server=1.2.3.4:0", "option 'alternate-server' (command line): "
						 "invalid value '1.2.3.4:0': the port is not in "
						 "1..65535"},
		{"--external-ip=1.2.3.4/::1", "option 'external-ip' (command line): invalid value "
					      "'1.2.3.4/::1': public-ip and private-ip must "
					      "be of the same address family"},
		{"--tcp-alternate-server=1.2.3.4:x", "option 'tcp-alternate-server' (command "
						     "line): invalid value '1.2.3.4:x': the port "
						     "is not in 1..65535"},
		{"--tls-alternate-server=[::1:5349", "option 'tls-alternate-server' (command "
						     "line): invalid value '[::1:5349': expected "
						     "ip[:port] or [ipv6]:port"},
		{"--rest-api-separator=::", "option 'rest-api-separator' (command line): invalid "
					    "value '::': expected a single character"},
		{"--kturn-max-message-size=100", "option 'kturn-max-message-size' (command line): "
						 "invalid value '100': expected an integer in "
						 "576..65552"},
		{"stray", "unexpected argument 'stray' (command line)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kturn_conf c;
		char *argv[] = {"kturnd", (char *)cases[i].arg};

		print_message("case %s\n", cases[i].arg);
		assert_int_equal(load_args(&c, ARGC(argv), argv), -EINVAL);
		assert_int_equal(c.n_errors, 1);
		xdiag(&c, LOG_ERR, "%s", cases[i].msg);
		conf__free(&c);
	}
}

static void test_invalid_cross_field(void **state)
{
	static const struct {
		const char *a, *b, *msg;
	} cases[] = {
		{"--min-port=60000", "--max-port=50000",
		 "min-port (60000) is greater than max-port (50000)"},
		{"--no-udp-relay", "--no-tcp-relay",
		 "no-udp-relay and no-tcp-relay together leave no relay transport"},
		{"--lt-cred-mech", "--no-auth",
		 "no-auth cannot be used with lt-cred-mech or use-auth-secret"},
		{"--use-auth-secret", "--realm=r",
		 "use-auth-secret needs static-auth-secret (kturn has no user database)"},
		{"--external-ip=1.2.3.4", "-X5.6.7.8",
		 "external-ip without a /private-ip part may be given only once per address family "
		 "(given 2 times for IPv4); use public-ip/private-ip pairs"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kturn_conf c;
		char *argv[] = {"kturnd", (char *)cases[i].a, (char *)cases[i].b};

		assert_int_equal(load_args(&c, ARGC(argv), argv), -EINVAL);
		assert_int_equal(c.n_errors, 1);
		xdiag(&c, LOG_ERR, "%s", cases[i].msg);
		conf__free(&c);
	}
}

/* Errors in a file name the file and line; parsing goes on after them. */
static void test_invalid_in_file(void **state)
{
	struct kturn_conf c;
	char path[64];

	assert_int_equal(load_text(&c,
				   "realm=ok.org\n"
				   "listening-port=70000\n"
				   "listening-ip 300.1.1.1\n"
				   "user alice\n"
				   "min-port=1000\n"
				   "kturn-data-plane = zerocopy\n"
				   "realm\n",
				   path),
			 -EINVAL);
	assert_int_equal(c.n_errors, 5);
	xdiag(&c, LOG_ERR,
	      "option 'listening-port' (%s:2): invalid value '70000': expected an integer in "
	      "1..65535",
	      path);
	xdiag(&c, LOG_ERR,
	      "option 'listening-ip' (%s:3): invalid value '300.1.1.1': not an IPv4 or IPv6 "
	      "address",
	      path);
	xdiag(&c, LOG_ERR, "option 'user' (%s:4): invalid value 'alice': expected name:password",
	      path);
	xdiag(&c, LOG_ERR,
	      "option 'kturn-data-plane' (%s:6): invalid value 'zerocopy': expected one of auto, "
	      "sockmap, splice",
	      path);
	xdiag(&c, LOG_ERR, "option 'realm' (%s:7): missing value", path);
	assert_string_equal(c.realm, "ok.org");
	assert_int_equal(c.listening_port, 3478); /* untouched by the bad value */
	assert_int_equal(c.min_port, 1000);	  /* later lines still applied */
	conf__free(&c);
}

static void test_lists(void **state)
{
	struct kturn_conf c;
	char path[64];
	struct in_addr a4;
	struct in6_addr a6;

	assert_int_equal(
		load_text(&c,
			  "listening-ip=127.0.0.1\nlistening-ip=::1\nlistening-ip=10.0.0.1\n"
			  "relay-ip=10.0.0.2\nrelay-ip=2001:db8::2\n"
			  "denied-peer-ip=10.0.0.0-10.255.255.255\n"
			  "denied-peer-ip=192.168.0.0/16\n"
			  "denied-peer-ip=fc00::/7\n"
			  "allowed-peer-ip=10.1.2.3\n"
			  "static-auth-secret=north\nstatic-auth-secret=south\n"
			  "alternate-server=1.2.3.4:5678\nalternate-server=5.6.7.8\n"
			  "alternate-server=[2001:db8::1]:3478\n"
			  "tls-alternate-server=2001:db8::1\n"
			  "tcp-alternate-server=9.9.9.9:443\n"
			  "kturn-alternate-max-allocations=5000\n"
			  "external-ip=60.70.80.91/172.17.19.101\n"
			  "external-ip=60.70.80.92/172.17.19.102\n",
			  path),
		0);
	assert_int_equal(c.listening_ips.n, 3);
	assert_string_equal(c.listening_ips.v[1], "::1");
	assert_string_equal(c.listening_ips.v[2], "10.0.0.1");
	assert_int_equal(c.relay_ips.n, 2);
	assert_int_equal(c.denied_peer_ips.n, 3);
	assert_int_equal(c.allowed_peer_ips.n, 1);
	assert_int_equal(c.static_auth_secrets.n, 2);
	assert_string_equal(c.static_auth_secrets.v[1], "south");
	assert_true(c.use_auth_secret); /* implied, as in coturn */
	assert_int_equal(c.alternate_servers.n, 3);
	assert_int_equal(c.tls_alternate_servers.n, 1);
	assert_int_equal(c.tcp_alternate_servers.n, 1);
	assert_string_equal(c.tcp_alternate_servers.v[0], "9.9.9.9:443");
	assert_int_equal(c.alternate_max_allocations, 5000);
	assert_int_equal(c.external_ips.n, 2);

	inet_pton(AF_INET, "10.200.0.1", &a4);
	assert_true(conf__ip_ranges_match(&c.denied_peer_ips, AF_INET, &a4));
	inet_pton(AF_INET, "192.168.255.255", &a4);
	assert_true(conf__ip_ranges_match(&c.denied_peer_ips, AF_INET, &a4));
	inet_pton(AF_INET, "192.169.0.0", &a4);
	assert_false(conf__ip_ranges_match(&c.denied_peer_ips, AF_INET, &a4));
	inet_pton(AF_INET, "11.0.0.0", &a4);
	assert_false(conf__ip_ranges_match(&c.denied_peer_ips, AF_INET, &a4));
	inet_pton(AF_INET, "10.1.2.3", &a4);
	assert_true(conf__ip_ranges_match(&c.allowed_peer_ips, AF_INET, &a4));
	inet_pton(AF_INET6, "fd12::1", &a6);
	assert_true(conf__ip_ranges_match(&c.denied_peer_ips, AF_INET6, &a6));
	inet_pton(AF_INET6, "fe80::1", &a6);
	assert_false(conf__ip_ranges_match(&c.denied_peer_ips, AF_INET6, &a6));
	assert_int_equal(conf__validate(&c), 0);
	assert_int_equal(c.auth, CONF_AUTH_SECRET);
	conf__free(&c);
}

static void test_comments_whitespace_quotes(void **state)
{
	struct kturn_conf c;
	char path[64];

	assert_int_equal(load_text(&c,
				   "   # indented comment\n"
				   "#realm=commented.out\n"
				   "   \t  \n"
				   "\t realm \t=\t  \"quoted realm\"  \r\n"
				   "pidfile \"/var/run/k.pid\"\n"
				   "cert = '/etc/single.pem'\n"
				   "log-file==/tmp/a.log\n"
				   "static-auth-secret=a#b c\n"
				   "pkey=\"unbalanced\n"
				   "no-tls   \n"
				   "Verbose\n",
				   path),
			 0);
	assert_string_equal(c.realm, "quoted realm");
	assert_string_equal(c.pidfile, "/var/run/k.pid");
	assert_string_equal(c.cert, "'/etc/single.pem'"); /* coturn strips only '"' */
	assert_string_equal(c.log_file, "/tmp/a.log");
	assert_string_equal(c.static_auth_secrets.v[0], "a#b c");
	assert_string_equal(c.pkey, "unbalanced");
	assert_true(c.no_tls);
	assert_int_equal(c.verbose, CONF_VERBOSE_EXTRA);
	assert_int_equal(c.n_diags, 1);
	xdiag(&c, LOG_WARN, "option 'pkey' (%s:9): no closing '\"'; value taken as 'unbalanced'",
	      path);
	conf__free(&c);
}

static void test_semicolon_and_cli_only(void **state)
{
	struct kturn_conf c;
	char path[64];

	assert_int_equal(load_text(&c, "realm=example.org;\nhelp\nversion\nhelp\n", path), 0);
	assert_string_equal(c.realm, "example.org;");
	assert_false(c.show_help);
	assert_int_equal(c.n_diags, 3);
	xdiag(&c, LOG_WARN, "%s:1: line ends with ';', which is kept as part of it", path);
	xdiag(&c, LOG_WARN, "option 'help' (%s:2) is only valid on the command line; ignored",
	      path);
	xdiag(&c, LOG_WARN, "option 'version' (%s:3) is only valid on the command line; ignored",
	      path);
	conf__free(&c);
}

static void test_long_lines(void **state)
{
	struct kturn_conf c;
	char path[64];
	size_t n = 5000, huge = 70000;
	char *text = malloc(huge + 64);

	/* longer than coturn's 1024-byte buffer: read whole */
	strcpy(text, "static-auth-secret=");
	memset(text + strlen(text), 'x', n);
	strcpy(text + 19 + n, "\nrealm=after\n");
	assert_int_equal(load_text(&c, text, path), 0);
	assert_int_equal(strlen(c.static_auth_secrets.v[0]), n);
	assert_string_equal(c.realm, "after");
	conf__free(&c);

	/* over the 64 KiB line limit: an error, and the next line still counts */
	strcpy(text, "realm=");
	memset(text + 6, 'y', huge);
	strcpy(text + 6 + huge, "\nlistening-port=3500\n");
	assert_int_equal(load_text(&c, text, path), -EINVAL);
	xdiag(&c, LOG_ERR, "%s:1: line is %zu bytes long, over the 65536 limit", path, huge + 7);
	assert_null(c.realm);
	assert_int_equal(c.listening_port, 3500);
	conf__free(&c);
	free(text);
}

static void test_missing_file(void **state)
{
	struct kturn_conf c;
	char *argv[] = {"kturnd", "-c", "/nonexistent/turnserver.conf", "--realm=x"};

	conf__defaults(&c);
	assert_int_equal(conf__load_file(&c, "/nonexistent/turnserver.conf"), -ENOENT);
	xdiag(&c, LOG_ERR,
	      "cannot open configuration file '/nonexistent/turnserver.conf': No such file or "
	      "directory");
	conf__free(&c);

	assert_int_equal(load_args(&c, ARGC(argv), argv), -ENOENT);
	assert_null(c.realm); /* stopped before the command line */
	conf__free(&c);

	conf__defaults(&c);
	assert_int_equal(conf__load_file(&c, "/"), -EISDIR);
	conf__free(&c);
}

static void test_no_config_flag(void **state)
{
	struct kturn_conf c;
	char *argv[] = {"kturnd", "-c", "/nonexistent/turnserver.conf", "-n"};

	assert_int_equal(load_args(&c, ARGC(argv), argv), 0);
	assert_true(c.no_config_file);
	assert_int_equal(c.n_diags, 0);
	conf__free(&c);
}

/* coturn's bare external-ip, once per family; pairs as often as needed. */
static void test_external_ip_per_family(void **state)
{
	struct kturn_conf c;
	char *argv[] = {"kturnd",
			"-X",
			"192.0.2.1",
			"--external-ip=2001:db8::1",
			"--external-ip",
			"192.0.2.2/10.0.0.2",
			"--external-ip=2001:db8::2/fd00::2"};

	(void)state;
	assert_int_equal(load_args(&c, ARGC(argv), argv), 0);
	assert_int_equal(c.external_ips.n, 4);
	assert_int_equal(c.n_errors, 0);
	conf__free(&c);
}

static void test_help_and_version(void **state)
{
	struct kturn_conf c;
	char *argv[] = {"kturnd", "--fingerprint=maybe", "-c", "/nonexistent", "-h"};
	char *argv2[] = {"kturnd", "--version"};
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	/* -h wins over everything else: nothing is read, nothing reported */
	assert_int_equal(load_args(&c, ARGC(argv), argv), 0);
	assert_true(c.show_help);
	assert_int_equal(c.n_diags, 0);
	conf__free(&c);
	assert_int_equal(load_args(&c, ARGC(argv2), argv2), 0);
	assert_true(c.show_version);
	conf__free(&c);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	conf__usage(f, "kturnd");
	fclose(f);
	assert_non_null(strstr(text, "Usage: kturnd [-c turnserver.conf] [options]"));
	assert_non_null(strstr(text, "  -p, --listening-port <port>"));
	assert_non_null(strstr(text, "UDP and TCP listener port (default 3478)\n"));
	assert_non_null(strstr(text, "      --stale-nonce[=<s>]"));
	assert_non_null(strstr(text, "(default auto)"));
	assert_non_null(strstr(text, "  -c <file>"));
	assert_non_null(strstr(strstr(text, "warned about and ignored:\n"), " redis-userdb"));
	assert_null(strstr(text, "--redis-userdb"));
	assert_null(strstr(text, "prod")); /* aliases stay out of --help */
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');

		assert_non_null(nl);
		assert_true(nl - line <= 80);
		line = nl + 1;
	}
	free(text);
}

/* An option is reported once even when it is in the file and on the command line. */
static void test_reported_once(void **state)
{
	struct kturn_conf c;
	char path[64];

	xwrite_tmp(path, "mobility\nlisening-port=1\n");
	char *argv[] = {
		"kturnd", "-c", path,	"--mobility", "--lisening-port",  "3478", "--cli-port",
		"5766",	  "-d", "eth0", "-k",	      "--lisening-port=9"};
	assert_int_equal(load_args(&c, ARGC(argv), argv), 0);
	unlink(path);
	assert_int_equal(c.n_diags, 5);
	xdiag(&c, LOG_WARN, "option 'mobility' (%s:1) is not supported by kturn; ignored", path);
	xdiag(&c, LOG_WARN, "unknown option 'lisening-port' (%s:2); ignored", path);
	xdiag(&c, LOG_WARN, "option 'cli-port' (command line) is not supported by kturn; ignored");
	xdiag(&c, LOG_WARN,
	      "option 'listening-device' (command line) is not supported by kturn; ignored");
	xdiag(&c, LOG_WARN, "unknown option '-k' (command line); ignored");
	conf__free(&c);
}

static void test_users(void **state)
{
	struct kturn_conf c;
	char path[64];

	assert_int_equal(load_text(&c,
				   "user=ninefingers:0xbc807ee29df3c9ffa736523fb2c4e8ee\n"
				   "user=bob:pass:with:colons\n"
				   "user=carol:0xnothex\n",
				   path),
			 0);
	assert_int_equal(c.users.n, 3);
	assert_string_equal(c.users.v[0].name, "ninefingers");
	assert_string_equal(c.users.v[0].password, "0xbc807ee29df3c9ffa736523fb2c4e8ee");
	assert_true(c.users.v[0].is_key);
	assert_string_equal(c.users.v[1].name, "bob");
	assert_string_equal(c.users.v[1].password, "pass:with:colons");
	assert_false(c.users.v[1].is_key);
	assert_false(c.users.v[2].is_key);
	conf__free(&c);
}

static void test_auth_modes(void **state)
{
	struct kturn_conf c;
	char *secret[] = {"kturnd", "--static-auth-secret=s", "-r", "r", "-a", "-u", "a:b"};
	char *noauth[] = {"kturnd", "-z", "-u", "a:b"};
	char *lt_nouser[] = {"kturnd", "-a"};

	assert_int_equal(load_args(&c, ARGC(secret), secret), 0);
	assert_int_equal(c.auth, CONF_AUTH_SECRET);
	xdiag(&c, LOG_WARN, "use-auth-secret overrides lt-cred-mech: static users are not used");
	conf__free(&c);

	assert_int_equal(load_args(&c, ARGC(noauth), noauth), 0);
	assert_int_equal(c.auth, CONF_AUTH_NONE);
	xdiag(&c, LOG_WARN, "no-auth: the 1 user account(s) given are ignored");
	conf__free(&c);

	assert_int_equal(load_args(&c, ARGC(lt_nouser), lt_nouser), 0);
	assert_int_equal(c.auth, CONF_AUTH_LONG_TERM);
	xdiag(&c, LOG_WARN, "lt-cred-mech without any user: every Allocate will be refused");
	xdiag(&c, LOG_WARN, "no realm set for authenticated access");
	conf__free(&c);
}

static void test_software_attribute(void **state)
{
	struct kturn_conf c;
	char *on[] = {"kturnd", "--no-software-attribute", "--no-software-attribute=false"};
	char *off[] = {"kturnd", "--software-attribute", "--no-software-attribute"};
	char path[64];

	assert_int_equal(load_args(&c, ARGC(on), on), 0);
	assert_true(c.software_attribute);
	conf__free(&c);
	assert_int_equal(load_args(&c, ARGC(off), off), 0);
	assert_false(c.software_attribute);
	conf__free(&c);
	assert_int_equal(load_text(&c, "software-attribute\nprod\n", path), 0);
	assert_false(c.software_attribute);
	assert_int_equal(c.n_diags, 0);
	conf__free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_realistic_file),
		cmocka_unit_test(test_cli_overrides_file),
		cmocka_unit_test(test_short_flags),
		cmocka_unit_test(test_long_forms),
		cmocka_unit_test(test_bool_forms),
		cmocka_unit_test(test_invalid_values),
		cmocka_unit_test(test_invalid_cross_field),
		cmocka_unit_test(test_invalid_in_file),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_comments_whitespace_quotes),
		cmocka_unit_test(test_semicolon_and_cli_only),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_no_config_flag),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_reported_once),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_external_ip_per_family),
		cmocka_unit_test(test_auth_modes),
		cmocka_unit_test(test_software_attribute),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
