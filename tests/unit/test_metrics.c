// SPDX-License-Identifier: MIT
/*
 * Metrics and control replies without a daemon: the worker counters
 * (histogram buckets, auth reasons, error codes), their sum over workers,
 * the exposition text they render to, and the escapings of strbuf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kturn/metrics.h"
#include "kturn/strbuf.h"
#include "kturn/turn_stats.h"

static void test_strbuf_escapes(void **state)
{
	struct strbuf b;
	char *s;

	strbuf__init(&b);
	strbuf__json_str(&b, "a\"b\\c\nd\x01");
	strbuf__puts(&b, " ");
	strbuf__json_str(&b, NULL);
	strbuf__puts(&b, " ");
	strbuf__prom_label(&b, "x\"y\\z\nw");
	s = strbuf__take(&b, NULL);
	assert_string_equal(s, "\"a\\\"b\\\\c\\u000ad\\u0001\" null x\\\"y\\\\z\\nw");
	free(s);
	/* growth across many appends keeps every byte */
	for (int i = 0; i < 10000; i++)
		strbuf__printf(&b, "%d,", i % 10);
	assert_false(strbuf__failed(&b));
	assert_int_equal(b.len, 20000);
	assert_memory_equal(b.s + 19996, "8,9,", 4);
	strbuf__free(&b);
}

static void test_stats_counters(void **state)
{
	struct turn_stats a = {0}, b = {0};

	turn_stats__error(&a, 401);
	turn_stats__error(&a, 437);
	turn_stats__error(&a, 200); /* not an error code: ignored */
	turn_stats__error(&a, 700);
	turn_stats__auth_fail(&a, 401, "no MESSAGE-INTEGRITY");
	turn_stats__auth_fail(&a, 401, "unknown USERHASH");
	turn_stats__auth_fail(&a, 401, "integrity check failed");
	turn_stats__auth_fail(&a, 438, "stale or foreign nonce");
	turn_stats__auth_fail(&a, 401, "something new");
	turn_stats__bind(&a, 300000);	   /* 0.3 ms: first bucket */
	turn_stats__bind(&a, 1000000);	   /* 1 ms: on a bound, counted in it */
	turn_stats__bind(&a, 60000000000); /* 60 s: only +Inf */
	assert_int_equal(a.errors[401 - TURN_STATS_CODE_MIN], 1);
	assert_int_equal(a.errors[437 - TURN_STATS_CODE_MIN], 1);
	assert_int_equal(a.auth_fail[TURN_AUTH_MISSING_INTEGRITY], 1);
	assert_int_equal(a.auth_fail[TURN_AUTH_UNKNOWN_USER], 1);
	assert_int_equal(a.auth_fail[TURN_AUTH_BAD_INTEGRITY], 1);
	assert_int_equal(a.auth_fail[TURN_AUTH_STALE_NONCE], 1);
	assert_int_equal(a.auth_fail[TURN_AUTH_OTHER], 1);
	assert_int_equal(a.bind_bucket[0], 1);
	assert_int_equal(a.bind_bucket[1], 1);
	assert_int_equal(a.bind_bucket[TURN_BIND_BUCKETS], 1);
	assert_int_equal(a.bind_count, 3);

	b.bytes[TURN_PLANE_SPLICE][TURN_DIR_TO_CLIENT] = 5;
	b.bind_count = 1;
	turn_stats__add(&b, &a);
	turn_stats__add(&b, &a);
	assert_int_equal(b.bind_count, 7);
	assert_int_equal(b.errors[401 - TURN_STATS_CODE_MIN], 2);
	assert_int_equal(b.bytes[TURN_PLANE_SPLICE][TURN_DIR_TO_CLIENT], 5);
}

static void test_render(void **state)
{
	struct turn_metrics m = {0};
	struct strbuf b;
	char *s, *p;
	uint64_t last = 0;
	int buckets = 0;

	m.allocs[1][1] = 2;
	m.pairs[TURN_PLANE_SOCKMAP] = 3;
	m.c.bytes[TURN_PLANE_SOCKMAP][TURN_DIR_TO_PEER] = 1234567890123ull;
	turn_stats__error(&m.c, 599);
	turn_stats__bind(&m.c, 2000000);
	turn_stats__bind(&m.c, 20000000);
	turn_stats__bind(&m.c, 20000000000);
	strbuf__init(&b);
	metrics__render(&m, "n\"1\\", &b);
	s = strbuf__take(&b, NULL);
	assert_non_null(strstr(s, "kturn_build_info{version=\"" KTURN_VERSION
				  "\",node=\"n\\\"1\\\\\"} 1\n"));
	assert_non_null(strstr(s, "# TYPE turn_total_allocations gauge\n"));
	assert_non_null(strstr(s, "turn_total_allocations{type=\"TCP\"} 2\n"));
	assert_non_null(strstr(s, "kturn_allocations{transport=\"tcp\",relay=\"tcp\"} 2\n"));
	assert_non_null(strstr(s, "kturn_bridged_pairs{plane=\"sockmap\"} 3\n"));
	assert_non_null(strstr(s, "kturn_relayed_bytes_total{plane=\"sockmap\",direction=\"to_"
				  "peer\"} 1234567890123\n"));
	assert_non_null(strstr(s, "kturn_error_responses_total{code=\"599\"} 1\n"));
	assert_non_null(strstr(s, "kturn_error_responses_total{code=\"401\"} 0\n"));
	/* cumulative buckets ending in +Inf == _count */
	for (p = s; (p = strstr(p, "kturn_connection_bind_duration_seconds_bucket{le=\"")); p++) {
		uint64_t v = strtoull(strchr(p, '}') + 2, NULL, 10);

		assert_true(v >= last);
		last = v;
		buckets++;
	}
	assert_int_equal(buckets, TURN_BIND_BUCKETS + 1);
	assert_int_equal(last, 3);
	assert_non_null(
		strstr(s, "kturn_connection_bind_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(
		strstr(s, "kturn_connection_bind_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(s, "kturn_connection_bind_duration_seconds_count 3\n"));
	assert_non_null(strstr(s, "kturn_connection_bind_duration_seconds_sum 20.022000000\n"));
	assert_int_equal(s[strlen(s) - 1], '\n');
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strbuf_escapes),
		cmocka_unit_test(test_stats_counters),
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
