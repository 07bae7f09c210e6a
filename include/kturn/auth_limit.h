/* SPDX-License-Identifier: MIT */
/*
 * Failed-authentication budget per source (credential guessing, SECURITY.md).
 *
 * A token bucket per source: `burst` failures at once, refilled at `per_s`
 * failures per second. While a source's bucket is empty its authenticated
 * requests are refused without looking at the credentials, so a right guess
 * looks exactly like a wrong one until the bucket refills.
 *
 * A source is an IPv4 address or an IPv6 /64 (one subscriber's prefix:
 * keying on the full IPv6 address would give an attacker 2^64 buckets).
 * Memory is fixed at auth_limit__new: a set-associative table of
 * AUTH_LIMIT_SETS x AUTH_LIMIT_WAYS entries, hashed with a random key. A new
 * source evicts the entry of its set that has the most tokens (the least
 * limited), so a flood of fresh addresses cannot push a limited source out
 * while its set holds any source less limited than it.
 *
 * Thread-safe (one mutex, its own: a lookup per request that carries
 * MESSAGE-INTEGRITY and an update per failure, never anything per relayed
 * packet). Time is passed in (monotonic milliseconds) so tests drive a fake
 * clock.
 */
#ifndef KTURN_AUTH_LIMIT_H
#define KTURN_AUTH_LIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define AUTH_LIMIT_SETS	  1024
#define AUTH_LIMIT_WAYS	  8
#define AUTH_LIMIT_LOG_MS 60000 /* one "still limited" log line per source per minute */

struct auth_limit;

enum auth_limit_verdict {
	AUTH_LIMIT_PASS,   /* check the credentials */
	AUTH_LIMIT_REFUSE, /* bucket empty: refuse, already logged recently */
	AUTH_LIMIT_LOG,	   /* bucket empty: refuse and log (first time, or once a minute) */
};

/*
 * burst or per_s 0: disabled (auth_limit__check always passes, nothing is
 * allocated). 0 or -ENOMEM / -EIO.
 */
int auth_limit__new(struct auth_limit **out, uint32_t burst, uint32_t per_s);
void auth_limit__free(struct auth_limit *l);

/* May `src` have its credentials checked now? *refused: requests refused since the last log. */
enum auth_limit_verdict auth_limit__check(struct auth_limit *l, const struct sockaddr *src,
					  uint64_t now_ms, uint64_t *refused);
/* A credential failure (401 after a valid nonce) from src: take one token. */
void auth_limit__fail(struct auth_limit *l, const struct sockaddr *src, uint64_t now_ms);

#endif
