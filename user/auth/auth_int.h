/* SPDX-License-Identifier: MIT */
/*
 * Internals of the authentication module shared by auth.c, creds.c and
 * nonce.c; not part of the public API.
 */
#ifndef KTURN_AUTH_INT_H
#define KTURN_AUTH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kturn/auth.h"

/* RFC 8489 §9.2: "nonce cookie" and security-feature bits (bit 0 is the MSB of 24). */
#define AUTH_NONCE_COOKIE	 "obMatJos2"
#define AUTH_NONCE_COOKIE_LEN	 9
#define AUTH_FEAT_PASSWORD_ALGS	 (1u << 23)
#define AUTH_FEAT_USER_ANONYMITY (1u << 22)
#define AUTH_NONCE_PREFIX_LEN	 (AUTH_NONCE_COOKIE_LEN + 4) /* cookie + 4 base64 chars */
#define AUTH_NONCE_TIME_HEX	 16			     /* issue time, 64-bit, hex */
#define AUTH_NONCE_MAC_LEN	 16			     /* truncated HMAC-SHA256 */
#define AUTH_NONCE_LEN		 (AUTH_NONCE_PREFIX_LEN + AUTH_NONCE_TIME_HEX + 2 * AUTH_NONCE_MAC_LEN)
#define AUTH_NONCE_KEY_LEN	 32
#define AUTH_FUTURE_SLACK	 5 /* seconds a nonce may come from the future (clock steps) */

/* One static user, keys precomputed at set time (no SASLprep per request). */
struct auth_user {
	char *name;
	size_t name_len;
	uint8_t userhash[32];
	uint8_t md5[16];
	uint8_t sha256[32];
	bool has_md5;
	bool has_sha256;
};

struct auth_secret {
	char *val;
	size_t len;
};

/* An immutable credential snapshot; replaced as a whole. */
struct auth_snap {
	struct auth_user *users;
	size_t n_users;
	struct auth_secret *secrets;
	size_t n_secrets;
	char sep;
};

struct auth {
	enum conf_auth mode;
	char *realm; /* NULL in mode NONE */
	size_t realm_len;
	uint32_t stale_nonce;
	uint8_t nonce_key[AUTH_NONCE_KEY_LEN];
	char nonce_prefix[AUTH_NONCE_PREFIX_LEN + 1]; /* cookie + features */
	pthread_rwlock_t lock;			      /* protects snap (the pointer) */
	struct auth_snap *snap;
};

/* nonce.c */
int nonce__init(struct auth *a);
size_t nonce__make(const struct auth *a, const struct sockaddr *client, uint64_t now,
		   char out[AUTH_NONCE_LEN + 1]);
/* Starts with our cookie and feature bits (so the §9.2.4 algorithm rules apply). */
bool nonce__ours(const struct auth *a, const char *s, size_t len);
/* Ours, untampered, issued to client's IP, not expired, not from the future. */
bool nonce__valid(const struct auth *a, const char *s, size_t len, const struct sockaddr *client,
		  uint64_t now);

/* creds.c */
int creds__build(const struct auth_creds *c, const char *realm, size_t realm_len,
		 struct auth_snap **out);
void creds__free(struct auth_snap *s);
const struct auth_user *creds__find_name(const struct auth_snap *s, const char *name, size_t len);
const struct auth_user *creds__find_hash(const struct auth_snap *s, const uint8_t *hash,
					 size_t len);
/* The user's key for alg into key (32 bytes); its length, or 0 if it has none. */
size_t creds__user_key(const struct auth_user *u, enum stun_pwalg alg, uint8_t *key);
/* TURN REST API: expiry timestamp of a username; 0 or -EINVAL when not numeric. */
int rest__expiry(const char *user, size_t len, char sep, uint64_t *expiry);
/* Long-term key for a REST username under one secret; key length or -errno. */
int rest__key(const struct auth_secret *s, const char *user, size_t user_len, const char *realm,
	      size_t realm_len, enum stun_pwalg alg, uint8_t *key);

#endif /* KTURN_AUTH_INT_H */
