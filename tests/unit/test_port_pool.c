// SPDX-License-Identifier: MIT
/* Relay port pool: exhaustion, take/put, even pairs, randomness, no double use. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kturn/port_pool.h"

static struct port_pool *xpool(uint16_t min, uint16_t max)
{
	struct port_pool *pp;

	assert_int_equal(port_pool__new(&pp, min, max), 0);
	assert_non_null(pp);
	return pp;
}

static void test_bad_range(void **state)
{
	struct port_pool *pp;

	(void)state;
	assert_int_equal(port_pool__new(&pp, 100, 99), -EINVAL);
	assert_null(pp);
	assert_int_equal(port_pool__new(&pp, 0, 10), -EINVAL);
	port_pool__free(NULL);
}

static void test_exhaustion(void **state)
{
	struct port_pool *pp = xpool(50000, 50009);
	bool seen[10] = {0};
	uint16_t p;

	(void)state;
	assert_int_equal(port_pool__free_count(pp), 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(port_pool__get(pp, &p), 0);
		assert_in_range(p, 50000, 50009);
		assert_false(seen[p - 50000]);
		seen[p - 50000] = true;
	}
	assert_int_equal(port_pool__free_count(pp), 0);
	assert_int_equal(port_pool__get(pp, &p), -EADDRNOTAVAIL);
	assert_int_equal(port_pool__get_even_pair(pp, &p), -EADDRNOTAVAIL);

	port_pool__put(pp, 50004);
	assert_int_equal(port_pool__free_count(pp), 1);
	assert_int_equal(port_pool__get(pp, &p), 0);
	assert_int_equal(p, 50004);
	assert_int_equal(port_pool__get(pp, &p), -EADDRNOTAVAIL);
	port_pool__free(pp);
}

static void test_full_range(void **state)
{
	struct port_pool *pp = xpool(1, 65535);
	uint16_t p;

	(void)state;
	assert_int_equal(port_pool__free_count(pp), 65535);
	assert_int_equal(port_pool__take(pp, 65535), 0);
	assert_int_equal(port_pool__take(pp, 1), 0);
	assert_int_equal(port_pool__get(pp, &p), 0);
	assert_in_range(p, 2, 65534);
	port_pool__free(pp);
}

static void test_take_put(void **state)
{
	struct port_pool *pp = xpool(40000, 40009);
	uint16_t p;

	(void)state;
	assert_int_equal(port_pool__take(pp, 40003), 0);
	assert_int_equal(port_pool__take(pp, 40003), -EADDRINUSE);
	assert_int_equal(port_pool__take(pp, 39999), -EINVAL);
	assert_int_equal(port_pool__take(pp, 40010), -EINVAL);
	assert_int_equal(port_pool__free_count(pp), 9);
	for (int i = 0; i < 9; i++) {
		assert_int_equal(port_pool__get(pp, &p), 0);
		assert_int_not_equal(p, 40003);
	}
	assert_int_equal(port_pool__get(pp, &p), -EADDRNOTAVAIL);
	port_pool__put(pp, 40003);
	port_pool__put(pp, 40003); /* double put ignored */
	port_pool__put(pp, 12345); /* out of range ignored */
	assert_int_equal(port_pool__free_count(pp), 1);
	assert_int_equal(port_pool__take(pp, 40003), 0);
	assert_int_equal(port_pool__free_count(pp), 0);
	port_pool__free(pp);
}

static void test_even_pair(void **state)
{
	struct port_pool *pp = xpool(40001, 40010); /* pairs 40002..40009 */
	bool got[4] = {0};
	uint16_t p;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(port_pool__get_even_pair(pp, &p), 0);
		assert_int_equal(p % 2, 0);
		assert_in_range(p, 40002, 40008);
		assert_false(got[(p - 40002) / 2]);
		got[(p - 40002) / 2] = true;
		assert_int_equal(port_pool__take(pp, p), -EADDRINUSE);
		assert_int_equal(port_pool__take(pp, p + 1), -EADDRINUSE);
	}
	/* 40001 and 40010 are left, but 40010's partner is outside the range. */
	assert_int_equal(port_pool__free_count(pp), 2);
	assert_int_equal(port_pool__get_even_pair(pp, &p), -EADDRNOTAVAIL);
	assert_int_equal(port_pool__free_count(pp), 2);

	/* Only one pair has both halves free: the scan must find it. */
	port_pool__put(pp, 40005);
	port_pool__put(pp, 40006);
	port_pool__put(pp, 40007);
	assert_int_equal(port_pool__get_even_pair(pp, &p), 0);
	assert_int_equal(p, 40006);
	assert_int_equal(port_pool__get_even_pair(pp, &p), -EADDRNOTAVAIL);
	port_pool__free(pp);

	pp = xpool(40001, 40001);
	assert_int_equal(port_pool__get_even_pair(pp, &p), -EADDRNOTAVAIL);
	port_pool__free(pp);
}

static void test_random(void **state)
{
	struct port_pool *a = xpool(50000, 50999);
	struct port_pool *b = xpool(50000, 50999);
	uint16_t sa[10], sb[10];
	int consecutive = 0;

	(void)state;
	for (int i = 0; i < 10; i++) {
		assert_int_equal(port_pool__get(a, &sa[i]), 0);
		assert_int_equal(port_pool__get(b, &sb[i]), 0);
	}
	assert_memory_not_equal(sa, sb, sizeof(sa));
	for (int i = 1; i < 10; i++)
		consecutive += sa[i] == sa[i - 1] + 1;
	assert_true(consecutive < 9);
	/* Not sorted either way (1 in 10! / 2 by chance). */
	int up = 0, down = 0;
	for (int i = 1; i < 10; i++) {
		up += sa[i] > sa[i - 1];
		down += sa[i] < sa[i - 1];
	}
	assert_true(up < 9 && down < 9);
	port_pool__free(a);
	port_pool__free(b);
}

static void test_shadow(void **state)
{
	enum { MIN = 30000, MAX = 30199, N = MAX - MIN + 1 };
	struct port_pool *pp = xpool(MIN, MAX);
	bool used[N] = {0};
	size_t nused = 0;
	uint16_t p;

	(void)state;
	srand(1);
	for (int op = 0; op < 100000; op++) {
		int r = rand() % 4;

		if (r == 0) {
			int err = port_pool__get(pp, &p);

			if (nused == N) {
				assert_int_equal(err, -EADDRNOTAVAIL);
				continue;
			}
			assert_int_equal(err, 0);
			assert_in_range(p, MIN, MAX);
			assert_false(used[p - MIN]);
			used[p - MIN] = true;
			nused++;
		} else if (r == 1) {
			int err = port_pool__get_even_pair(pp, &p);

			if (err) {
				assert_int_equal(err, -EADDRNOTAVAIL);
				for (int q = MIN; q < MAX; q += 2)
					assert_true(used[q - MIN] || used[q + 1 - MIN]);
				continue;
			}
			assert_int_equal(p % 2, 0);
			assert_in_range(p, MIN, MAX - 1);
			assert_false(used[p - MIN] || used[p + 1 - MIN]);
			used[p - MIN] = used[p + 1 - MIN] = true;
			nused += 2;
		} else if (r == 2) {
			p = (uint16_t)(MIN + rand() % N);
			int err = port_pool__take(pp, p);

			assert_int_equal(err, used[p - MIN] ? -EADDRINUSE : 0);
			if (!used[p - MIN])
				nused++;
			used[p - MIN] = true;
		} else {
			p = (uint16_t)(MIN + rand() % N);
			if (used[p - MIN])
				nused--;
			used[p - MIN] = false;
			port_pool__put(pp, p);
		}
		assert_int_equal(port_pool__free_count(pp), N - nused);
	}
	port_pool__free(pp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_range),  cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_full_range), cmocka_unit_test(test_take_put),
		cmocka_unit_test(test_even_pair),  cmocka_unit_test(test_random),
		cmocka_unit_test(test_shadow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
