// SPDX-License-Identifier: MIT
/*
 * The failed-authentication limit per source (kturn/auth_limit.h) on a fake
 * clock: burst, refill, one log line per limited source, other sources
 * untouched, IPv6 keyed by /64, a flood of fresh sources does not evict a
 * limited one, and concurrent failures all count.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kturn/auth_limit.h"

static struct sockaddr_storage ip(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &a->sin_addr), 1);
	}
	return ss;
}

static struct auth_limit *xlimit(uint32_t burst, uint32_t per_s)
{
	struct auth_limit *l = NULL;

	assert_int_equal(auth_limit__new(&l, burst, per_s), 0);
	assert_non_null(l);
	return l;
}

static enum auth_limit_verdict check(struct auth_limit *l, const char *src, uint64_t now)
{
	struct sockaddr_storage ss = ip(src);
	uint64_t refused;

	return auth_limit__check(l, (void *)&ss, now, &refused);
}

static void failn(struct auth_limit *l, const char *src, uint64_t now, int n)
{
	struct sockaddr_storage ss = ip(src);

	while (n-- > 0)
		auth_limit__fail(l, (void *)&ss, now);
}

static void test_disabled(void **state)
{
	struct auth_limit *l = (void *)1;

	(void)state;
	assert_int_equal(auth_limit__new(&l, 0, 1), 0);
	assert_null(l);
	assert_int_equal(auth_limit__new(&l, 5, 0), 0);
	assert_null(l);
	failn(l, "192.0.2.1", 0, 100);
	assert_int_equal(check(l, "192.0.2.1", 0), AUTH_LIMIT_PASS);
	auth_limit__free(l);
}

static void test_burst_then_refused_others_served(void **state)
{
	struct auth_limit *l = xlimit(5, 1);

	(void)state;
	assert_int_equal(check(l, "192.0.2.1", 1000), AUTH_LIMIT_PASS);
	failn(l, "192.0.2.1", 1000, 4);
	assert_int_equal(check(l, "192.0.2.1", 1000), AUTH_LIMIT_PASS);
	failn(l, "192.0.2.1", 1000, 1);
	assert_int_equal(check(l, "192.0.2.1", 1000), AUTH_LIMIT_LOG);
	assert_int_equal(check(l, "192.0.2.1", 1001), AUTH_LIMIT_REFUSE);
	assert_int_equal(check(l, "192.0.2.2", 1001), AUTH_LIMIT_PASS);
	assert_int_equal(check(l, "2001:db8::1", 1001), AUTH_LIMIT_PASS);
	auth_limit__free(l);
}

static void test_refill_one_per_second(void **state)
{
	struct auth_limit *l = xlimit(5, 1);

	(void)state;
	failn(l, "192.0.2.1", 0, 50); /* the bucket floors at 0, it never goes into debt */
	assert_int_equal(check(l, "192.0.2.1", 999), AUTH_LIMIT_LOG);
	assert_int_equal(check(l, "192.0.2.1", 1000), AUTH_LIMIT_PASS);
	failn(l, "192.0.2.1", 1000, 1);
	assert_int_equal(check(l, "192.0.2.1", 1000), AUTH_LIMIT_LOG); /* limited again: logged */
	/* full after 5 s, never more than the burst */
	failn(l, "192.0.2.1", 100000, 4);
	assert_int_equal(check(l, "192.0.2.1", 100000), AUTH_LIMIT_PASS);
	failn(l, "192.0.2.1", 100000, 1);
	assert_int_equal(check(l, "192.0.2.1", 100000), AUTH_LIMIT_LOG);
	auth_limit__free(l);
}

static void test_log_once_a_minute_with_count(void **state)
{
	struct auth_limit *l = xlimit(1, 1);
	struct sockaddr_storage ss = ip("192.0.2.9");
	uint64_t refused = 0, t = 0;

	(void)state;
	auth_limit__fail(l, (void *)&ss, t);
	assert_int_equal(auth_limit__check(l, (void *)&ss, t, &refused), AUTH_LIMIT_LOG);
	assert_int_equal(refused, 1);
	for (int i = 0; i < 10; i++) {
		/* keep it empty: one failure a second, as the refill gives back */
		t += 1000;
		auth_limit__fail(l, (void *)&ss, t);
		auth_limit__fail(l, (void *)&ss, t);
		assert_int_equal(auth_limit__check(l, (void *)&ss, t, &refused), AUTH_LIMIT_REFUSE);
	}
	t = AUTH_LIMIT_LOG_MS + 1;
	auth_limit__fail(l, (void *)&ss, t);
	assert_int_equal(auth_limit__check(l, (void *)&ss, t, &refused), AUTH_LIMIT_LOG);
	assert_int_equal(refused, 11);
	auth_limit__free(l);
}

static void test_ipv6_by_slash64(void **state)
{
	struct auth_limit *l = xlimit(2, 1);

	(void)state;
	failn(l, "2001:db8:1:2::1", 0, 1);
	failn(l, "2001:db8:1:2:ffff:ffff:ffff:ffff", 0, 1);
	assert_int_equal(check(l, "2001:db8:1:2::77", 0), AUTH_LIMIT_LOG);
	assert_int_equal(check(l, "2001:db8:1:3::1", 0), AUTH_LIMIT_PASS);
	/* an IPv4-mapped address is that IPv4 address, not a /64 */
	failn(l, "::ffff:192.0.2.5", 0, 2);
	assert_int_equal(check(l, "192.0.2.5", 0), AUTH_LIMIT_LOG);
	assert_int_equal(check(l, "192.0.2.6", 0), AUTH_LIMIT_PASS);
	auth_limit__free(l);
}

static void test_flood_does_not_evict_limited(void **state)
{
	struct auth_limit *l = xlimit(3, 1);
	char a[32];

	(void)state;
	failn(l, "198.51.100.7", 0, 3);
	/* 16x the table's capacity of fresh sources, one failure each */
	for (uint32_t i = 0; i < 16u * AUTH_LIMIT_SETS * AUTH_LIMIT_WAYS; i++) {
		snprintf(a, sizeof(a), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		failn(l, a, 0, 1);
	}
	assert_int_equal(check(l, "198.51.100.7", 0), AUTH_LIMIT_LOG);
	auth_limit__free(l);
}

struct worker {
	struct auth_limit *l;
	int n;
};

static void *hammer(void *p)
{
	struct worker *w = p;

	failn(w->l, "203.0.113.1", 0, w->n);
	return NULL;
}

static void test_threads_all_failures_count(void **state)
{
	struct auth_limit *l = xlimit(400, 1);
	struct worker w = {l, 99};
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &w), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(check(l, "203.0.113.1", 0), AUTH_LIMIT_PASS); /* 4 left */
	failn(l, "203.0.113.1", 0, 4);
	assert_int_equal(check(l, "203.0.113.1", 0), AUTH_LIMIT_LOG);
	auth_limit__free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_burst_then_refused_others_served),
		cmocka_unit_test(test_refill_one_per_second),
		cmocka_unit_test(test_log_once_a_minute_with_count),
		cmocka_unit_test(test_ipv6_by_slash64),
		cmocka_unit_test(test_flood_does_not_evict_limited),
		cmocka_unit_test(test_threads_all_failures_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
