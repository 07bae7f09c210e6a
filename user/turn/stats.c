// SPDX-License-Identifier: MIT
/* A worker's counters (kturn/turn_stats.h): plain increments, one writer. */
#include <string.h>

#include <time.h>

#include "kturn/turn_stats.h"
#include "turn_int.h"

const double turn_bind_bounds[TURN_BIND_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void turn_stats__error(struct turn_stats *s, int code)
{
	if (code >= TURN_STATS_CODE_MIN && code < TURN_STATS_CODE_MIN + TURN_STATS_CODE_N)
		s->errors[code - TURN_STATS_CODE_MIN]++;
}

/* auth.c's reasons (auth_result.why) by their text; anything new is "other". */
static enum turn_auth_fail auth_reason(int code, const char *why)
{
	static const struct {
		const char *why;
		enum turn_auth_fail f;
	} map[] = {
		{"no MESSAGE-INTEGRITY", TURN_AUTH_MISSING_INTEGRITY},
		{"unknown user", TURN_AUTH_UNKNOWN_USER},
		{"unknown USERHASH", TURN_AUTH_UNKNOWN_USER},
		{"integrity check failed", TURN_AUTH_BAD_INTEGRITY},
		{"user key is for another password algorithm", TURN_AUTH_BAD_INTEGRITY},
		{"expired credentials", TURN_AUTH_EXPIRED},
		{"wrong realm", TURN_AUTH_WRONG_REALM},
	};

	if (code == 438)
		return TURN_AUTH_STALE_NONCE;
	if (code == 400)
		return TURN_AUTH_BAD_REQUEST;
	for (size_t i = 0; why && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(why, map[i].why))
			return map[i].f;
	return TURN_AUTH_OTHER;
}

void turn_stats__auth_fail(struct turn_stats *s, int code, const char *why)
{
	s->auth_fail[auth_reason(code, why)]++;
}

void turn_stats__bind(struct turn_stats *s, uint64_t ns)
{
	double sec = (double)ns / 1e9;
	unsigned i = 0;

	while (i < TURN_BIND_BUCKETS && sec > turn_bind_bounds[i])
		i++;
	s->bind_bucket[i]++;
	s->bind_count++;
	s->bind_sum_ns += ns;
}

void turn_stats__add(struct turn_stats *acc, const struct turn_stats *s)
{
	/* every field is a uint64_t: add them as an array */
	uint64_t *a = (uint64_t *)acc;
	const uint64_t *b = (const uint64_t *)s;

	_Static_assert(sizeof(struct turn_stats) % sizeof(uint64_t) == 0, "u64 fields only");
	for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		a[i] += b[i];
}

const char *turn_plane_name(enum turn_plane p)
{
	static const char *const n[TURN_PLANE_N] = {"udp", "sockmap", "splice", "tls"};

	return p < TURN_PLANE_N ? n[p] : "?";
}

const char *turn_dir_name(enum turn_dir d)
{
	return d == TURN_DIR_TO_PEER ? "to_peer" : "to_client";
}

const char *turn_auth_fail_name(enum turn_auth_fail f)
{
	static const char *const n[TURN_AUTH_N] = {
		"missing_integrity", "unknown_user", "bad_integrity", "expired_credentials",
		"wrong_realm",	     "stale_nonce",  "bad_request",   "other",
	};

	return f < TURN_AUTH_N ? n[f] : "other";
}

uint64_t turn_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
