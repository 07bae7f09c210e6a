/* SPDX-License-Identifier: MIT */
/*
 * TURN authentication (RFC 8489 §9.2 long-term credentials, RFC 8656 §5,
 * TURN REST API ephemeral credentials).
 *
 * One `struct auth` is shared by every worker thread. Checking a request is
 * lock-free apart from a read lock on the credential set, which SIGHUP
 * replaces as a whole (auth__set_credentials) without touching allocations.
 *
 * Nonces are stateless: "obMatJos2" + the RFC 8489 security-feature bits
 * (password algorithms, username anonymity: "wAAA") + the issue time (16 hex
 * digits) + an HMAC-SHA256 truncated to 16 bytes (32 hex digits) over (all
 * of the above, client IP family and address) under a random key made at
 * auth__new. A nonce is valid for `stale_nonce` seconds from its issue time
 * (not if issued more than 5 s in the future) and only from the IP address it
 * was issued to (any port: RFC 6062 ConnectionBind comes from a new
 * connection; an IPv4-mapped IPv6 address counts as the IPv4 address).
 *
 * Decision order for a request (RFC 8489 §9.2.4), as auth__check applies it:
 *   1. no MESSAGE-INTEGRITY and no MESSAGE-INTEGRITY-SHA256 -> 401 (challenge)
 *   2. missing USERNAME/USERHASH, REALM or NONCE, or one of
 *      them malformed (bad UTF-8, too long, USERHASH not 32 bytes) -> 400
 *   3. NONCE does not start with our cookie and feature bits -> 438 (challenge)
 *      (the §9.2.4 algorithm rules apply only to a nonce that set the
 *      password-algorithms bit, so a foreign nonce is stale, not a 400)
 *   4. PASSWORD-ALGORITHMS / PASSWORD-ALGORITHM inconsistent with what the
 *      nonce promised: neither -> MD5; only one -> 400; both -> the list must
 *      be byte for byte our offer and the algorithm one of it, else 400
 *   5. nonce forged, expired, or issued to another IP       -> 438 (challenge)
 *   6. REALM not ours, unknown user or USERHASH, non-numeric or expired REST
 *      timestamp, static 0x-key user asking for the other algorithm -> 401
 *   7. integrity wrong                                       -> 401 (challenge)
 * With MESSAGE-INTEGRITY-SHA256 present only it is checked (r->sha256);
 * otherwise MESSAGE-INTEGRITY. Either way the key is derived with the
 * negotiated algorithm (r->alg). Static users are looked up first (also in
 * SECRET mode); a USERNAME that names none is then tried as a REST username
 * against every secret in turn.
 * A 401/438 answer carries REALM, a fresh NONCE and PASSWORD-ALGORITHMS
 * (auth__challenge). Responses to an authenticated request are signed with
 * the same integrity attribute family the request used (auth__sign).
 */
#ifndef KTURN_AUTH_H
#define KTURN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kturn/conf.h"
#include "kturn/stun.h"

#define AUTH_MAX_KEY 32

struct auth;

/* Credentials: replaced as a whole on reload. */
struct auth_creds {
	const struct conf_users *users;	 /* user=name:password or name:0x<key> */
	const struct conf_strv *secrets; /* static-auth-secret values */
	char rest_separator;		 /* ':' */
};

struct auth_opts {
	enum conf_auth mode;  /* NONE: every request passes, nothing signed */
	const char *realm;    /* required unless mode is NONE */
	uint32_t stale_nonce; /* seconds a nonce stays valid; 0 = 600 */
	struct auth_creds creds;
};

/* Outcome of auth__check. */
struct auth_result {
	int code;	     /* 0 = authenticated; else 400, 401 or 438 */
	const char *why;     /* short reason for the log when code != 0 */
	bool stale;	     /* 438: the challenge is for a stale nonce */
	bool anonymous;	     /* mode NONE: nothing to sign */
	bool sha256;	     /* request used MESSAGE-INTEGRITY-SHA256 */
	enum stun_pwalg alg; /* key derivation algorithm in use */
	uint8_t key[AUTH_MAX_KEY];
	size_t key_len;
	char user[STUN_MAX_USERNAME + 1]; /* USERNAME (or the one USERHASH named), NUL-terminated */
};

/*
 * Copies what it needs from o (strings and credentials, as
 * auth__set_credentials); 0, -EINVAL (no realm, or longer than STUN_MAX_REALM,
 * outside mode NONE) or -errno.
 */
int auth__new(struct auth **out, const struct auth_opts *o);
void auth__free(struct auth *a);

/*
 * Swap in a new credential set (SIGHUP). Thread-safe against auth__check.
 * Everything is copied; per user both long-term keys (or the 0x key) and the
 * USERHASH are computed here, so checks never run SASLprep. A user whose
 * password SASLprep rejects, or whose 0x key is not 32/64 hex digits, is
 * skipped with a warning. users/secrets may be NULL (none); rest_separator 0
 * means ':'. 0 or -ENOMEM (the old set then stays in place).
 */
int auth__set_credentials(struct auth *a, const struct auth_creds *c);

/*
 * Authenticate request `m` from `client` at wall-clock time `now` (seconds,
 * CLOCK_REALTIME: REST timestamps are Unix times). Fills r; returns r->code.
 */
int auth__check(struct auth *a, const struct stun_msg *m, const struct sockaddr *client,
		uint64_t now, struct auth_result *r);

/*
 * Append REALM, a fresh NONCE for `client` and PASSWORD-ALGORITHMS (SHA-256,
 * MD5) to an error response being built (after ERROR-CODE). No-op in mode
 * NONE.
 */
void auth__challenge(struct auth *a, const struct sockaddr *client, uint64_t now,
		     struct stun_builder *b);

/*
 * Append MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 (as the request used)
 * computed with r's key; no-op for anonymous or failed (code != 0) results.
 */
void auth__sign(const struct auth_result *r, struct stun_builder *b);

/* The configured realm (NULL in mode NONE). */
const char *auth__realm(const struct auth *a);

#endif /* KTURN_AUTH_H */
