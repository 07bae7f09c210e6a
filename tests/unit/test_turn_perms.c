// SPDX-License-Identifier: MIT
/* Permissions and channel bindings with a fake clock (RFC 8656 §9, §12). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kturn/turn_perms.h"

#define S(x)   ((uint64_t)(x)*1000u)
#define T0     S(1000) /* arbitrary non-zero start */
#define COOL   TURN_CHANNEL_COOLDOWN_MS
#define PERM_S TURN_PERM_LIFETIME_S
#define CHAN_S TURN_CHANNEL_LIFETIME_S

static struct sockaddr_storage xaddr(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static int setup(void **state)
{
	*state = turn_perms__create(TURN_PERMS_DEFAULT_MAX_PERMS, TURN_PERMS_DEFAULT_MAX_CHANS);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	turn_perms__free(*state);
	return 0;
}

static void test_create_free(void **state)
{
	(void)state;
	assert_null(turn_perms__create(0, 1));
	assert_null(turn_perms__create(1, 0));
	turn_perms__free(NULL);
	assert_int_equal(turn_perms__expire(NULL, 0), UINT64_MAX);
}

/* Table: IPv4/IPv6, allowed strictly before expiry, port ignored. */
static void test_perm_expiry(void **state)
{
	static const struct {
		const char *ip, *other;
	} cases[] = {
		{"192.0.2.1", "192.0.2.2"},
		{"2001:db8::1", "2001:db8::2"},
	};
	struct turn_perms *p = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage a = xaddr(cases[i].ip, 1000);
		struct sockaddr_storage a2 = xaddr(cases[i].ip, 2000);
		struct sockaddr_storage b = xaddr(cases[i].other, 1000);

		assert_false(turn_perms__allowed(p, SA(a), T0));
		assert_int_equal(turn_perms__permit(p, SA(a), T0, PERM_S), 0);
		assert_true(turn_perms__allowed(p, SA(a), T0));
		assert_true(turn_perms__allowed(p, SA(a2), T0 + S(PERM_S) - 1));
		assert_false(turn_perms__allowed(p, SA(b), T0));
		assert_false(turn_perms__allowed(p, SA(a), T0 + S(PERM_S)));
		assert_false(turn_perms__allowed(p, SA(a), T0 + S(PERM_S) + 1));
	}
}

static void test_perm_mapped_v4_distinct(void **state)
{
	struct turn_perms *p = *state;
	struct sockaddr_storage v4 = xaddr("192.0.2.1", 1);
	struct sockaddr_storage mapped = xaddr("::ffff:192.0.2.1", 1);

	assert_int_equal(turn_perms__permit(p, SA(v4), T0, PERM_S), 0);
	assert_false(turn_perms__allowed(p, SA(mapped), T0));
}

static void test_perm_refresh(void **state)
{
	struct turn_perms *p = *state;
	struct sockaddr_storage a = xaddr("192.0.2.1", 1);

	assert_int_equal(turn_perms__permit(p, SA(a), T0, PERM_S), 0);
	assert_int_equal(turn_perms__permit(p, SA(a), T0 + S(200), PERM_S), 0);
	assert_true(turn_perms__allowed(p, SA(a), T0 + S(PERM_S) + S(100)));
	assert_false(turn_perms__allowed(p, SA(a), T0 + S(200 + PERM_S)));
	assert_int_equal(turn_perms__perm_count(p, T0), 1);
}

static void test_perm_bad_family(void **state)
{
	struct turn_perms *p = *state;
	struct sockaddr_storage u;

	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNIX;
	assert_int_equal(turn_perms__permit(p, SA(u), T0, PERM_S), -EAFNOSUPPORT);
	assert_false(turn_perms__allowed(p, SA(u), T0));
	assert_int_equal(turn_perms__permit(p, NULL, T0, PERM_S), -EINVAL);
}

static void test_perm_cap(void **state)
{
	struct turn_perms *p = turn_perms__create(3, 2);
	struct sockaddr_storage a[4];
	char ip[32];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		a[i] = xaddr(ip, 9);
	}
	assert_int_equal(turn_perms__permit(p, SA(a[0]), T0, 100), 0);
	assert_int_equal(turn_perms__permit(p, SA(a[1]), T0, PERM_S), 0);
	assert_int_equal(turn_perms__permit(p, SA(a[2]), T0, PERM_S), 0);
	assert_int_equal(turn_perms__permit(p, SA(a[3]), T0, PERM_S), -ENOSPC);
	/* refreshing an existing one is fine at the cap */
	assert_int_equal(turn_perms__permit(p, SA(a[1]), T0 + 1, PERM_S), 0);
	assert_int_equal(turn_perms__expire(p, T0 + S(100)), T0 + S(PERM_S));
	assert_int_equal(turn_perms__permit(p, SA(a[3]), T0 + S(100), PERM_S), 0);
	assert_true(turn_perms__allowed(p, SA(a[3]), T0 + S(100)));
	assert_false(turn_perms__allowed(p, SA(a[0]), T0 + S(100)));
	turn_perms__free(p);
}

/* Expired slot is reused even when expire() was not called. */
static void test_perm_cap_reuse_without_expire(void **state)
{
	struct turn_perms *p = turn_perms__create(1, 1);
	struct sockaddr_storage a = xaddr("192.0.2.1", 1), b = xaddr("192.0.2.2", 1);

	(void)state;
	assert_int_equal(turn_perms__permit(p, SA(a), T0, 10), 0);
	assert_int_equal(turn_perms__permit(p, SA(b), T0 + S(10) - 1, 10), -ENOSPC);
	assert_int_equal(turn_perms__permit(p, SA(b), T0 + S(10), 10), 0);
	assert_false(turn_perms__allowed(p, SA(a), T0 + S(10)));
	turn_perms__free(p);
}

static void test_chan_bind_lookup(void **state)
{
	static const char *const ips[] = {"192.0.2.1", "2001:db8::7"};
	struct turn_perms *p = *state;

	for (size_t i = 0; i < 2; i++) {
		struct sockaddr_storage a = xaddr(ips[i], 5000), out;
		uint16_t ch = (uint16_t)(0x4000 + i), got = 0;

		assert_false(turn_perms__allowed(p, SA(a), T0));
		assert_int_equal(turn_perms__bind_channel(p, ch, SA(a), T0, CHAN_S, PERM_S), 0);
		assert_int_equal(turn_perms__channel_peer(p, ch, T0, &out), 0);
		assert_int_equal(out.ss_family, a.ss_family);
		assert_memory_equal(&out, &a, sizeof(out));
		assert_int_equal(turn_perms__peer_channel(p, SA(a), T0, &got), 0);
		assert_int_equal(got, ch);
		/* ChannelBind installs the permission */
		assert_true(turn_perms__allowed(p, SA(a), T0));
		assert_false(turn_perms__allowed(p, SA(a), T0 + S(PERM_S)));
	}
	assert_int_equal(turn_perms__channel_count(p, T0), 2);
}

static void test_chan_range(void **state)
{
	static const struct {
		uint16_t ch;
		int rc;
	} cases[] = {
		{0x0000, -EINVAL}, {0x3FFF, -EINVAL}, {0x4000, 0},	 {0x4FFF, 0},
		{0x7FFF, 0},	   {0x8000, -EINVAL}, {0xFFFF, -EINVAL},
	};
	struct turn_perms *p = *state;
	char ip[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "192.0.2.%zu", i + 1);
		a = xaddr(ip, 1);
		assert_int_equal(
			turn_perms__bind_channel(p, cases[i].ch, SA(a), T0, CHAN_S, PERM_S),
			cases[i].rc);
		assert_int_equal(turn_perms__allowed(p, SA(a), T0), cases[i].rc == 0);
	}
}

static void test_chan_conflicts(void **state)
{
	struct turn_perms *p = *state;
	struct sockaddr_storage a = xaddr("192.0.2.1", 1000);
	struct sockaddr_storage a_port = xaddr("192.0.2.1", 1001);
	struct sockaddr_storage b = xaddr("192.0.2.2", 1000);
	uint16_t got;

	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(a), T0, CHAN_S, PERM_S), 0);
	/* number to a different peer (different port counts) */
	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(b), T0, CHAN_S, PERM_S), -EEXIST);
	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(a_port), T0, CHAN_S, PERM_S),
			 -EEXIST);
	/* peer to a different number */
	assert_int_equal(turn_perms__bind_channel(p, 0x4001, SA(a), T0, CHAN_S, PERM_S), -EEXIST);
	/* same IP, different port, different number: fine */
	assert_int_equal(turn_perms__bind_channel(p, 0x4001, SA(a_port), T0, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__peer_channel(p, SA(a_port), T0, &got), 0);
	assert_int_equal(got, 0x4001);
	/* failed binds changed nothing */
	assert_false(turn_perms__allowed(p, SA(b), T0));
	assert_int_equal(turn_perms__peer_channel(p, SA(b), T0, &got), -ENOENT);
}

static void test_chan_refresh_and_expiry(void **state)
{
	struct turn_perms *p = *state;
	struct sockaddr_storage a = xaddr("192.0.2.1", 1000), out;
	uint16_t got;
	uint64_t t1 = T0 + S(500), end = t1 + S(CHAN_S);

	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(a), T0, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(a), t1, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__channel_peer(p, 0x4000, T0 + S(CHAN_S), &out), 0);
	assert_true(turn_perms__allowed(p, SA(a), t1 + S(PERM_S) - 1)); /* perm refreshed too */
	assert_int_equal(turn_perms__channel_peer(p, 0x4000, end - 1, &out), 0);
	assert_int_equal(turn_perms__channel_peer(p, 0x4000, end, &out), -ENOENT);
	assert_int_equal(turn_perms__peer_channel(p, SA(a), end, &got), -ENOENT);
	assert_int_equal(turn_perms__channel_count(p, end), 0);
}

static void test_chan_cooldown(void **state)
{
	struct turn_perms *p = *state;
	struct sockaddr_storage a = xaddr("192.0.2.1", 1000), b = xaddr("192.0.2.2", 1000), out;
	uint64_t end = T0 + S(CHAN_S);

	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(a), T0, CHAN_S, PERM_S), 0);
	/* within cooldown: number to other peer, peer to other number */
	static const uint64_t during[] = {0, 1, COOL / 2, COOL - 1};
	for (size_t i = 0; i < 4; i++) {
		uint64_t t = end + during[i];

		assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(b), t, CHAN_S, PERM_S),
				 -EBUSY);
		assert_int_equal(turn_perms__bind_channel(p, 0x4001, SA(a), t, CHAN_S, PERM_S),
				 -EBUSY);
		assert_int_equal(turn_perms__channel_peer(p, 0x4000, t, &out), -ENOENT);
		/* expire() keeps the cooldown and reports its end */
		assert_int_equal(turn_perms__expire(p, t), end + COOL);
	}
	/* after cooldown: both are free */
	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(b), end + COOL, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__bind_channel(p, 0x4001, SA(a), end + COOL, CHAN_S, PERM_S), 0);
}

static void test_chan_cooldown_same_pair(void **state)
{
	struct turn_perms *p = *state;
	struct sockaddr_storage a = xaddr("2001:db8::1", 1000), out;
	uint64_t end = T0 + S(CHAN_S), t = end + S(60);

	assert_int_equal(turn_perms__bind_channel(p, 0x4abc, SA(a), T0, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__bind_channel(p, 0x4abc, SA(a), t, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__channel_peer(p, 0x4abc, t, &out), 0);
	assert_int_equal(turn_perms__channel_peer(p, 0x4abc, t + S(CHAN_S) - 1, &out), 0);
}

static void test_expire_deadlines(void **state)
{
	struct turn_perms *p = *state;
	struct sockaddr_storage a = xaddr("192.0.2.1", 1000), b = xaddr("192.0.2.2", 1);

	assert_int_equal(turn_perms__expire(p, T0), UINT64_MAX);
	/* permission of a: T0+300 s; channel: T0+600 s; cooldown end T0+900 s */
	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(a), T0, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__permit(p, SA(b), T0, 100), 0);
	assert_int_equal(turn_perms__expire(p, T0), T0 + S(100));
	assert_int_equal(turn_perms__expire(p, T0 + S(100)), T0 + S(PERM_S));
	assert_int_equal(turn_perms__perm_count(p, T0 + S(100)), 1);
	assert_int_equal(turn_perms__expire(p, T0 + S(PERM_S)), T0 + S(CHAN_S));
	assert_int_equal(turn_perms__perm_count(p, T0 + S(PERM_S)), 0);
	assert_int_equal(turn_perms__expire(p, T0 + S(CHAN_S)), T0 + S(CHAN_S) + COOL);
	assert_int_equal(turn_perms__expire(p, T0 + S(CHAN_S) + COOL), UINT64_MAX);
}

static void test_chan_cap(void **state)
{
	struct turn_perms *p = turn_perms__create(8, 2);
	struct sockaddr_storage a = xaddr("192.0.2.1", 1), b = xaddr("192.0.2.1", 2),
				c = xaddr("192.0.2.1", 3);

	(void)state;
	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(a), T0, 10, PERM_S), 0);
	assert_int_equal(turn_perms__bind_channel(p, 0x4001, SA(b), T0, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__bind_channel(p, 0x4002, SA(c), T0, CHAN_S, PERM_S), -ENOSPC);
	/* an expired binding in cooldown still holds its slot */
	assert_int_equal(turn_perms__bind_channel(p, 0x4002, SA(c), T0 + S(10), CHAN_S, PERM_S),
			 -ENOSPC);
	assert_int_equal(
		turn_perms__bind_channel(p, 0x4002, SA(c), T0 + S(10) + COOL, CHAN_S, PERM_S), 0);
	turn_perms__free(p);
}

/* Bind fails atomically when the permission table is full. */
static void test_chan_perm_cap(void **state)
{
	struct turn_perms *p = turn_perms__create(1, 4);
	struct sockaddr_storage a = xaddr("192.0.2.1", 1), b = xaddr("192.0.2.2", 1), out;

	(void)state;
	assert_int_equal(turn_perms__bind_channel(p, 0x4000, SA(a), T0, CHAN_S, PERM_S), 0);
	assert_int_equal(turn_perms__bind_channel(p, 0x4001, SA(b), T0, CHAN_S, PERM_S), -ENOSPC);
	assert_int_equal(turn_perms__channel_peer(p, 0x4001, T0, &out), -ENOENT);
	assert_int_equal(turn_perms__channel_count(p, T0), 1);
	turn_perms__free(p);
}

/* At the default caps: fill, then check every entry is found. */
static void test_full_tables(void **state)
{
	struct turn_perms *p = *state;
	char ip[32];
	uint16_t got;

	for (int i = 0; i < TURN_PERMS_DEFAULT_MAX_PERMS; i++) {
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		a = xaddr(ip, (uint16_t)(i + 1));
		if (i < TURN_PERMS_DEFAULT_MAX_CHANS)
			assert_int_equal(turn_perms__bind_channel(p, (uint16_t)(0x4000 + i), SA(a),
								  T0, CHAN_S, PERM_S),
					 0);
		else
			assert_int_equal(turn_perms__permit(p, SA(a), T0, PERM_S), 0);
	}
	for (int i = 0; i < TURN_PERMS_DEFAULT_MAX_PERMS; i++) {
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		a = xaddr(ip, (uint16_t)(i + 1));
		assert_true(turn_perms__allowed(p, SA(a), T0));
		if (i < TURN_PERMS_DEFAULT_MAX_CHANS) {
			assert_int_equal(turn_perms__peer_channel(p, SA(a), T0, &got), 0);
			assert_int_equal(got, 0x4000 + i);
		}
	}
	assert_int_equal(turn_perms__perm_count(p, T0), TURN_PERMS_DEFAULT_MAX_PERMS);
	assert_int_equal(turn_perms__channel_count(p, T0), TURN_PERMS_DEFAULT_MAX_CHANS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_free),
		cmocka_unit_test_setup_teardown(test_perm_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_mapped_v4_distinct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_bad_family, setup, teardown),
		cmocka_unit_test(test_perm_cap),
		cmocka_unit_test(test_perm_cap_reuse_without_expire),
		cmocka_unit_test_setup_teardown(test_chan_bind_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chan_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chan_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chan_refresh_and_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chan_cooldown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chan_cooldown_same_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_deadlines, setup, teardown),
		cmocka_unit_test(test_chan_cap),
		cmocka_unit_test(test_chan_perm_cap),
		cmocka_unit_test_setup_teardown(test_full_tables, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
