// SPDX-License-Identifier: MIT
/*
 * The cross-worker TURN state: relay ports never handed out twice, EVEN-PORT
 * reservations redeemed once, quotas per user and in total, and all of it
 * consistent when several threads allocate and release at once.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "../../user/turn/turn_int.h"

static struct turn_shared *xshared(uint16_t min, uint16_t max, uint32_t user_q, uint32_t total_q)
{
	struct turn_opts o = {
		.min_port = min, .max_port = max, .user_quota = user_q, .total_quota = total_q};
	struct turn_shared *sh = NULL;

	assert_int_equal(turn_shared__new(&sh, &o, NULL, NULL), 0);
	return sh;
}

static void test_ports_exhaust_and_return(void **state)
{
	struct turn_shared *sh = xshared(30000, 30002, 0, 0);
	uint16_t p[3], extra;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(turn_shared__port(sh, &p[i]), 0);
		assert_in_range(p[i], 30000, 30002);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(p[i], p[j]);
	}
	assert_int_equal(turn_shared__port(sh, &extra), -EADDRNOTAVAIL);
	turn_shared__put_port(sh, p[1]);
	assert_int_equal(turn_shared__port(sh, &extra), 0);
	assert_int_equal(extra, p[1]);
	turn_shared__free(sh);
}

static void test_reservation_redeemed_once(void **state)
{
	struct turn_shared *sh = xshared(30000, 30003, 0, 0);
	uint64_t token = 0;
	uint16_t port, reserved, other;
	int fam = 0;

	(void)state;
	assert_int_equal(turn_shared__even_port(sh, true, AF_INET6, &port, &token), 0);
	assert_int_equal(port % 2, 0);
	assert_int_not_equal(token, 0);
	assert_int_equal(turn_shared__redeem(sh, token + 1, &reserved, &fam), -ENOENT);
	assert_int_equal(turn_shared__redeem(sh, token, &reserved, &fam), 0);
	assert_int_equal(reserved, port + 1);
	assert_int_equal(fam, AF_INET6);
	assert_int_equal(turn_shared__redeem(sh, token, &reserved, &fam), -ENOENT);
	/* both ports of the pair are in use now: two left */
	assert_int_equal(turn_shared__port(sh, &other), 0);
	assert_int_equal(turn_shared__port(sh, &other), 0);
	assert_int_equal(turn_shared__port(sh, &other), -EADDRNOTAVAIL);
	turn_shared__free(sh);
}

static void test_even_without_reservation_frees_partner(void **state)
{
	struct turn_shared *sh = xshared(30000, 30001, 0, 0);
	uint64_t token = 0;
	uint16_t port, other;

	(void)state;
	assert_int_equal(turn_shared__even_port(sh, false, AF_INET, &port, &token), 0);
	assert_int_equal(port, 30000);
	assert_int_equal(turn_shared__port(sh, &other), 0);
	assert_int_equal(other, 30001);
	turn_shared__free(sh);
}

static void test_user_quota(void **state)
{
	struct turn_shared *sh = xshared(30000, 30010, 2, 0);

	(void)state;
	assert_int_equal(turn_shared__quota_take(sh, "alice"), 0);
	assert_int_equal(turn_shared__quota_take(sh, "alice"), 0);
	assert_int_equal(turn_shared__quota_take(sh, "alice"), -EDQUOT);
	assert_int_equal(turn_shared__quota_take(sh, "bob"), 0);
	assert_int_equal(turn_shared__allocations(sh), 3);
	turn_shared__quota_release(sh, "alice");
	assert_int_equal(turn_shared__quota_take(sh, "alice"), 0);
	turn_shared__quota_release(sh, "alice");
	turn_shared__quota_release(sh, "alice");
	turn_shared__quota_release(sh, "bob");
	assert_int_equal(turn_shared__allocations(sh), 0);
	turn_shared__free(sh);
}

static void sa4(struct sockaddr_storage *ss, uint8_t last, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	in->sin_addr.s_addr = htonl(0xc0000200u | last); /* 192.0.2.last */
}

/*
 * kturn-alternate-max-allocations: under the ceiling Allocate is counted;
 * at it, the alternates of the client's family come round robin and
 * nothing is counted; a transport without alternates is never redirected.
 */
static void test_alternate_ceiling(void **state)
{
	struct turn_opts o = {.min_port = 30000, .max_port = 30010, .alt_max_allocs = 1};
	struct sockaddr_storage v[3], got;
	struct turn_shared *sh = NULL;

	(void)state;
	assert_int_equal(turn_shared__new(&sh, &o, NULL, NULL), 0);
	sa4(&v[0], 1, 3478);
	memset(&v[1], 0, sizeof(v[1]));
	v[1].ss_family = AF_INET6; /* skipped for IPv4 clients */
	sa4(&v[2], 2, 3479);
	assert_int_equal(turn_shared__set_alternates(sh, TURN_ALT_UDP, v, 3), 0);
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got),
				 -EXDEV);
		assert_memory_equal(&got, &v[0], sizeof(struct sockaddr_in));
		assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got),
				 -EXDEV);
		assert_memory_equal(&got, &v[2], sizeof(struct sockaddr_in));
	}
	assert_int_equal(turn_shared__allocations(sh), 1);
	/* no TCP list, and an IPv6 client finds the one IPv6 entry */
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_TCP, AF_INET, &got), 0);
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET6, &got), -EXDEV);
	assert_int_equal(got.ss_family, AF_INET6);
	turn_shared__quota_release(sh, "a");
	turn_shared__quota_release(sh, "a");
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), 0);
	turn_shared__quota_release(sh, "a");
	turn_shared__free(sh);
}

/*
 * kturn-alternate-max-bps: redirected while the last measured rate is at or
 * over the ceiling, admitted below it; either ceiling alone redirects.
 */
static void test_alternate_rate_ceiling(void **state)
{
	struct turn_opts o = {.min_port = 30000, .max_port = 30010, .alt_max_bps = 8000};
	struct sockaddr_storage v, got;
	struct turn_shared *sh = NULL;

	(void)state;
	assert_int_equal(turn_shared__new(&sh, &o, NULL, NULL), 0);
	sa4(&v, 1, 3478);
	assert_int_equal(turn_shared__set_alternates(sh, TURN_ALT_UDP, &v, 1), 0);
	/* no allocation ceiling: idle, the node keeps its clients */
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), 0);
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), 0);
	turn_shared__set_rate(sh, 8000);
	assert_int_equal(turn_shared__rate(sh), 8000);
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), -EXDEV);
	assert_memory_equal(&got, &v, sizeof(struct sockaddr_in));
	turn_shared__set_rate(sh, 7999);
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), 0);
	assert_int_equal(turn_shared__allocations(sh), 3);
	for (int i = 0; i < 3; i++)
		turn_shared__quota_release(sh, "a");
	turn_shared__free(sh);

	/* both ceilings: the allocation one still applies with the rate below its own */
	o.alt_max_allocs = 1;
	assert_int_equal(turn_shared__new(&sh, &o, NULL, NULL), 0);
	assert_int_equal(turn_shared__set_alternates(sh, TURN_ALT_UDP, &v, 1), 0);
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), 0);
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), -EXDEV);
	turn_shared__quota_release(sh, "a");
	turn_shared__set_rate(sh, 1000000);
	assert_int_equal(turn_shared__admit(sh, "a", KT_TRANSPORT_UDP, AF_INET, &got), -EXDEV);
	assert_int_equal(turn_shared__allocations(sh), 0);
	turn_shared__free(sh);
}

static void test_total_quota(void **state)
{
	struct turn_shared *sh = xshared(30000, 30010, 0, 2);

	(void)state;
	assert_int_equal(turn_shared__quota_take(sh, "a"), 0);
	assert_int_equal(turn_shared__quota_take(sh, NULL), 0);
	assert_int_equal(turn_shared__quota_take(sh, "b"), -EDQUOT);
	turn_shared__quota_release(sh, NULL);
	assert_int_equal(turn_shared__quota_take(sh, "b"), 0);
	turn_shared__quota_release(sh, "a");
	turn_shared__quota_release(sh, "b");
	turn_shared__free(sh);
}

struct churn {
	struct turn_shared *sh;
	int failures;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	uint16_t ports[50];

	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++)
			if (turn_shared__port(c->sh, &ports[i]) ||
			    turn_shared__quota_take(c->sh, "u"))
				c->failures++;
		for (int i = 0; i < 50; i++) {
			turn_shared__put_port(c->sh, ports[i]);
			turn_shared__quota_release(c->sh, "u");
		}
	}
	return NULL;
}

/* Four threads each holding 50 of 200 ports: never a failure, all back at the end. */
static void test_threads(void **state)
{
	struct churn c[4];
	pthread_t t[4];
	uint16_t p;
	int got = 0;
	struct turn_shared *sh = xshared(31000, 31199, 0, 0);

	(void)state;
	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){sh, 0};
		assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].failures, 0);
	}
	assert_int_equal(turn_shared__allocations(sh), 0);
	while (turn_shared__port(sh, &p) == 0)
		got++;
	assert_int_equal(got, 200);
	turn_shared__free(sh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports_exhaust_and_return),
		cmocka_unit_test(test_reservation_redeemed_once),
		cmocka_unit_test(test_even_without_reservation_frees_partner),
		cmocka_unit_test(test_user_quota),
		cmocka_unit_test(test_total_quota),
		cmocka_unit_test(test_alternate_ceiling),
		cmocka_unit_test(test_alternate_rate_ceiling),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
