/* SPDX-License-Identifier: MIT */
/*
 * What a worker counts for kturnctl and /metrics, and the sums a scrape
 * builds from them.
 *
 * Every worker owns one struct turn_stats inside its turn_server and is the
 * only thread that writes it, so the hot path pays a plain increment (no
 * atomics, no shared cache line). Readers never look at it from another
 * thread: a scrape asks each worker (workers__call) to add its counters and
 * its live allocations' and pairs' counters into the reader's
 * struct turn_metrics, and sums the workers' answers.
 */
#ifndef KTURN_TURN_STATS_H
#define KTURN_TURN_STATS_H

#include <stdint.h>

/* How a relayed byte moved: UDP relay, or the plane of an RFC 6062 pair. */
enum turn_plane {
	TURN_PLANE_UDP = 0,
	TURN_PLANE_SOCKMAP,
	TURN_PLANE_SPLICE,
	TURN_PLANE_TLS,
	TURN_PLANE_N,
};

enum turn_dir {
	TURN_DIR_TO_PEER = 0, /* client -> peer ("up") */
	TURN_DIR_TO_CLIENT,   /* peer -> client ("down") */
	TURN_DIR_N,
};

/* Why auth__check refused a request (a stable label for its free-text reason). */
enum turn_auth_fail {
	TURN_AUTH_MISSING_INTEGRITY = 0, /* no MESSAGE-INTEGRITY: the usual first 401 */
	TURN_AUTH_UNKNOWN_USER,
	TURN_AUTH_BAD_INTEGRITY,
	TURN_AUTH_EXPIRED, /* REST credentials past their timestamp */
	TURN_AUTH_WRONG_REALM,
	TURN_AUTH_STALE_NONCE, /* 438 */
	TURN_AUTH_BAD_REQUEST, /* 400 from the auth checks */
	TURN_AUTH_OTHER,
	TURN_AUTH_N,
};

#define TURN_STATS_CODE_MIN 300 /* error codes counted: 300..699 */
#define TURN_STATS_CODE_N   400
#define TURN_BIND_BUCKETS   14 /* finite buckets of the ConnectionBind latency histogram */

/* Upper bounds of the latency buckets, in seconds (+Inf is implicit). */
extern const double turn_bind_bounds[TURN_BIND_BUCKETS];

struct turn_stats {
	/* bytes and packets of allocations and pairs that are gone */
	uint64_t bytes[TURN_PLANE_N][TURN_DIR_N];
	uint64_t packets[TURN_PLANE_N][TURN_DIR_N];
	uint64_t errors[TURN_STATS_CODE_N]; /* error responses sent, by code - 300 */
	uint64_t auth_fail[TURN_AUTH_N];
	/* ConnectionAttempt sent / Connect succeeded -> ConnectionBind spliced */
	uint64_t bind_bucket[TURN_BIND_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
	uint64_t bind_count;
	uint64_t bind_sum_ns;
};

/* A scrape: gauges of this instant and every counter, summed over workers. */
struct turn_metrics {
	uint64_t allocs[3][2]; /* [enum kt_transport of the client][relay: 0 udp, 1 tcp] */
	uint64_t pairs[TURN_PLANE_N];
	uint64_t peers_waiting; /* peer connections not bound yet */
	struct turn_stats c;	/* gone + live */
};

void turn_stats__error(struct turn_stats *s, int code);
void turn_stats__auth_fail(struct turn_stats *s, int code, const char *why);
void turn_stats__bind(struct turn_stats *s, uint64_t ns);
/* acc += s, field by field. */
void turn_stats__add(struct turn_stats *acc, const struct turn_stats *s);

const char *turn_plane_name(enum turn_plane p);
const char *turn_dir_name(enum turn_dir d);
const char *turn_auth_fail_name(enum turn_auth_fail f);

#endif /* KTURN_TURN_STATS_H */
