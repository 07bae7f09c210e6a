// SPDX-License-Identifier: MIT
/* Peer filter: table-driven verdicts over IPv4, IPv6 and embedded forms. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "kturn/conf.h"
#include "kturn/net.h"
#include "kturn/peer_filter.h"

enum cfg { DEFAULT, DENY10, DENY10_ALLOW, LOOPBACK, N_CFG };

static struct conf_ip_range range(int family, const char *lo, const char *hi)
{
	struct conf_ip_range r = {.family = family};

	assert_int_equal(inet_pton(family, lo, r.lo), 1);
	assert_int_equal(inet_pton(family, hi, r.hi), 1);
	return r;
}

static struct peer_filter *xfilter(enum cfg cfg)
{
	static struct conf_ip_range deny[2], allow[2];
	struct kturn_conf c;
	struct peer_filter *pf;
	struct sockaddr_storage ss;

	conf__defaults(&c);
	deny[0] = range(AF_INET, "10.0.0.0", "10.255.255.255");
	deny[1] = range(AF_INET6, "fd00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	allow[0] = range(AF_INET, "10.1.2.0", "10.1.2.255");
	allow[1] = range(AF_INET, "127.0.0.1", "127.0.0.1"); /* must not re-allow */
	if (cfg == DENY10 || cfg == DENY10_ALLOW)
		c.denied_peer_ips = (struct conf_ip_ranges){deny, 2};
	if (cfg == DENY10_ALLOW)
		c.allowed_peer_ips = (struct conf_ip_ranges){allow, 2};
	c.allow_loopback_peers = cfg == LOOPBACK;
	assert_int_equal(peer_filter__new(&pf, &c), 0);
	/* c owns nothing we set; nothing to free beyond defaults. */
	c.denied_peer_ips = c.allowed_peer_ips = (struct conf_ip_ranges){0};
	conf__free(&c);

	assert_int_equal(net_addr_parse("192.0.2.10", 3478, &ss), 0);
	assert_int_equal(peer_filter__add_self(pf, (struct sockaddr *)&ss), 0);
	assert_int_equal(net_addr_parse("2001:db8::10", 3478, &ss), 0);
	assert_int_equal(peer_filter__add_self(pf, (struct sockaddr *)&ss), 0);
	assert_int_equal(net_addr_parse("127.0.0.5", 3478, &ss), 0);
	assert_int_equal(peer_filter__add_self(pf, (struct sockaddr *)&ss), 0);
	assert_int_equal(net_addr_parse("0.0.0.0", 3478, &ss), 0);
	assert_int_equal(peer_filter__add_self(pf, (struct sockaddr *)&ss), 0);
	return pf;
}

#define A PEER_ALLOW
#define X_ALL(v)                                                                                   \
	{                                                                                          \
		v, v, v, v                                                                         \
	}

static const struct {
	const char *ip;
	uint16_t port;
	enum peer_verdict want[N_CFG]; /* DEFAULT, DENY10, DENY10_ALLOW, LOOPBACK */
} cases[] = {
	{"127.0.0.1", 5000, {PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, A}},
	{"127.9.9.9", 5000, {PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, A}},
	{"::1", 5000, {PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, A}},
	{"::ffff:127.0.0.1", 5000, {PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, A}},
	{"::127.0.0.1", 5000, {PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, A}},
	{"64:ff9b::7f00:1", 5000, {PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, A}},
	{"::ffff:0:127.0.0.1",
	 5000,
	 {PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, A}},
	{"127.0.0.5", 5000, {PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, PEER_DENY_LOOPBACK, A}},
	{"0.0.0.0", 5000, X_ALL(PEER_DENY_UNSPECIFIED)},
	{"0.1.2.3", 5000, X_ALL(PEER_DENY_UNSPECIFIED)},
	{"::", 5000, X_ALL(PEER_DENY_UNSPECIFIED)},
	{"::ffff:0.0.0.0", 5000, X_ALL(PEER_DENY_UNSPECIFIED)},
	{"::0.1.2.3", 5000, X_ALL(PEER_DENY_UNSPECIFIED)},
	{"64:ff9b::", 5000, X_ALL(PEER_DENY_UNSPECIFIED)},
	{"169.254.1.1", 5000, X_ALL(PEER_DENY_LINK_LOCAL)},
	{"fe80::1", 5000, X_ALL(PEER_DENY_LINK_LOCAL)},
	{"febf::1", 5000, X_ALL(PEER_DENY_LINK_LOCAL)},
	{"::ffff:169.254.169.254", 5000, X_ALL(PEER_DENY_LINK_LOCAL)},
	{"224.0.0.1", 5000, X_ALL(PEER_DENY_MULTICAST)},
	{"239.255.255.250", 5000, X_ALL(PEER_DENY_MULTICAST)},
	{"ff02::1", 5000, X_ALL(PEER_DENY_MULTICAST)},
	{"255.255.255.255", 5000, X_ALL(PEER_DENY_BROADCAST)},
	{"240.0.0.1", 5000, X_ALL(PEER_DENY_RESERVED)},
	{"2002:7f00:1::1", 5000, X_ALL(PEER_DENY_EMBEDDED)},
	{"2002:c000:201::1", 5000, X_ALL(A)},
	{"192.0.2.10", 5000, X_ALL(PEER_DENY_SELF)},
	{"192.0.2.10", 3478, X_ALL(PEER_DENY_SELF)},
	{"::ffff:192.0.2.10", 9, X_ALL(PEER_DENY_SELF)},
	{"2001:db8::10", 5000, X_ALL(PEER_DENY_SELF)},
	{"192.0.2.1", 5000, X_ALL(A)},
	{"::ffff:192.0.2.1", 5000, X_ALL(A)},
	{"2001:db8::1", 5000, X_ALL(A)},
	{"192.0.2.1", 0, X_ALL(PEER_DENY_PORT_ZERO)},
	{"2001:db8::1", 0, X_ALL(PEER_DENY_PORT_ZERO)},
	{"10.1.2.3", 5000, {A, PEER_DENY_CONFIG, A, A}},
	{"::ffff:10.1.2.3", 5000, {A, PEER_DENY_CONFIG, A, A}},
	{"10.1.3.1", 5000, {A, PEER_DENY_CONFIG, PEER_DENY_CONFIG, A}},
	{"192.168.1.1", 5000, X_ALL(A)},
	{"fd12::1", 5000, {A, PEER_DENY_CONFIG, PEER_DENY_CONFIG, A}},
	{"fc00::1", 5000, X_ALL(A)},
};

static void test_table(void **state)
{
	struct peer_filter *pf[N_CFG];
	struct sockaddr_storage ss;
	int bad = 0;

	(void)state;
	for (int c = 0; c < N_CFG; c++)
		pf[c] = xfilter(c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(net_addr_parse(cases[i].ip, cases[i].port, &ss), 0);
		for (int c = 0; c < N_CFG; c++) {
			enum peer_verdict got = peer_filter__check(pf[c], (struct sockaddr *)&ss);

			if (got != cases[i].want[c]) {
				print_error("%s port %u cfg %d: got %s, want %s\n", cases[i].ip,
					    cases[i].port, c, peer_verdict_str(got),
					    peer_verdict_str(cases[i].want[c]));
				bad++;
			}
		}
	}
	for (int c = 0; c < N_CFG; c++)
		peer_filter__free(pf[c]);
	assert_int_equal(bad, 0);
}

static void test_misc(void **state)
{
	struct peer_filter *pf = xfilter(DEFAULT);
	struct sockaddr_un un = {.sun_family = AF_UNIX};

	(void)state;
	assert_int_equal(peer_filter__check(pf, (struct sockaddr *)&un), PEER_DENY_FAMILY);
	assert_int_equal(peer_filter__add_self(pf, (struct sockaddr *)&un), -EAFNOSUPPORT);
	for (int v = PEER_ALLOW; v <= PEER_DENY_CONFIG; v++)
		assert_string_not_equal(peer_verdict_str(v), "unknown");
	peer_filter__free(pf);
	peer_filter__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
