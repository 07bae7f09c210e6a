// SPDX-License-Identifier: MIT
/*
 * Request authentication: the RFC 8489 §9.2.4 decision order (see
 * include/kturn/auth.h), challenges and response signing. Credentials live
 * in an immutable snapshot (creds.c) swapped under a rwlock; nonces are
 * stateless (nonce.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth_int.h"

/* What we offer in PASSWORD-ALGORITHMS, in order of preference. */
static const uint16_t offered_algs[] = {STUN_PWALG_SHA256, STUN_PWALG_MD5};

/* The text attributes of a request that authentication looks at. */
struct auth_req {
	const char *user; /* USERNAME, or NULL when USERHASH is used */
	size_t user_len;
	const uint8_t *userhash;
	size_t userhash_len;
	const char *realm;
	size_t realm_len;
	const char *nonce;
	size_t nonce_len;
};

static int fail(struct auth_result *r, int code, const char *why)
{
	OPENSSL_cleanse(r->key, sizeof(r->key));
	r->key_len = 0;
	r->sha256 = false;
	r->code = code;
	r->why = why;
	r->stale = code == 438;
	return code;
}

/* Writers first: with readers on every worker, a reload must not wait forever. */
static int lock_init(pthread_rwlock_t *lock)
{
	pthread_rwlockattr_t attr;
	int err = pthread_rwlockattr_init(&attr);

	if (err)
		return err;
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return err;
}

int auth__new(struct auth **out, const struct auth_opts *o)
{
	struct auth *a;
	int err;

	*out = NULL;
	if (o->mode != CONF_AUTH_NONE &&
	    (!o->realm || !*o->realm || strlen(o->realm) > STUN_MAX_REALM))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->mode = o->mode;
	a->stale_nonce = o->stale_nonce ? o->stale_nonce : 600;
	err = lock_init(&a->lock);
	if (err) {
		free(a);
		return -err;
	}
	if (o->mode != CONF_AUTH_NONE) {
		a->realm = strdup(o->realm);
		a->realm_len = a->realm ? strlen(a->realm) : 0;
		err = a->realm ? 0 : -ENOMEM;
	}
	err = err ? err : nonce__init(a);
	err = err ? err : creds__build(&o->creds, a->realm, a->realm_len, &a->snap);
	if (err) {
		auth__free(a);
		return err;
	}
	*out = a;
	return 0;
}

void auth__free(struct auth *a)
{
	if (!a)
		return;
	creds__free(a->snap);
	pthread_rwlock_destroy(&a->lock);
	OPENSSL_cleanse(a->nonce_key, sizeof(a->nonce_key));
	free(a->realm);
	free(a);
}

int auth__set_credentials(struct auth *a, const struct auth_creds *c)
{
	struct auth_snap *s, *old;
	int err = creds__build(c, a->realm, a->realm_len, &s);

	if (err)
		return err;
	pthread_rwlock_wrlock(&a->lock);
	old = a->snap;
	a->snap = s;
	pthread_rwlock_unlock(&a->lock);
	creds__free(old);
	return 0;
}

const char *auth__realm(const struct auth *a)
{
	return a->realm;
}

static bool get_text(const struct stun_msg *m, uint16_t type, const char **s, size_t *len)
{
	struct stun_attr at;

	return stun_msg__find(m, type, &at) && !stun_attr__string(&at, s, len);
}

/* Step 2: USERNAME or USERHASH, REALM and NONCE, each well formed. */
static const char *read_request(const struct stun_msg *m, struct auth_req *q)
{
	struct stun_attr at;

	memset(q, 0, sizeof(*q));
	if (stun_msg__find(m, STUN_ATTR_USERNAME, &at)) {
		if (stun_attr__string(&at, &q->user, &q->user_len))
			return "malformed USERNAME";
	} else if (stun_msg__find(m, STUN_ATTR_USERHASH, &at)) {
		if (at.len != 32)
			return "malformed USERHASH";
		q->userhash = at.val;
		q->userhash_len = at.len;
	} else {
		return "missing USERNAME";
	}
	if (!get_text(m, STUN_ATTR_REALM, &q->realm, &q->realm_len))
		return "missing or malformed REALM";
	if (!get_text(m, STUN_ATTR_NONCE, &q->nonce, &q->nonce_len))
		return "missing or malformed NONCE";
	return NULL;
}

/*
 * Step 3 (RFC 8489 §9.2.4, our nonce has the password-algorithms bit):
 * neither attribute -> MD5; exactly one -> 400; both -> PASSWORD-ALGORITHMS
 * must be what we offered, byte for byte, and PASSWORD-ALGORITHM one of them.
 */
static const char *negotiate_alg(const struct stun_msg *m, enum stun_pwalg *alg)
{
	uint8_t want[4 * sizeof(offered_algs) / sizeof(offered_algs[0])];
	struct stun_attr algs, one;
	bool has_algs = stun_msg__find(m, STUN_ATTR_PASSWORD_ALGORITHMS, &algs);
	bool has_one = stun_msg__find(m, STUN_ATTR_PASSWORD_ALGORITHM, &one);
	uint16_t v;

	*alg = STUN_PWALG_MD5;
	if (!has_algs && !has_one)
		return NULL;
	if (!has_algs || !has_one)
		return "only one of PASSWORD-ALGORITHMS and PASSWORD-ALGORITHM";
	memset(want, 0, sizeof(want));
	for (size_t i = 0; i < sizeof(offered_algs) / sizeof(offered_algs[0]); i++) {
		want[4 * i] = (uint8_t)(offered_algs[i] >> 8);
		want[4 * i + 1] = (uint8_t)offered_algs[i];
	}
	if (algs.len != sizeof(want) || memcmp(algs.val, want, sizeof(want)))
		return "PASSWORD-ALGORITHMS differs from the offer";
	if (stun_attr__password_algorithm(&one, &v) ||
	    (v != STUN_PWALG_MD5 && v != STUN_PWALG_SHA256))
		return "PASSWORD-ALGORITHM not offered";
	*alg = (enum stun_pwalg)v;
	return NULL;
}

/* Step 6 with r->key set: the integrity attribute the request carries. */
static int verify(const struct stun_msg *m, struct auth_result *r)
{
	struct stun_attr at;
	int err;

	if (m->mi256_off)
		err = stun_msg__check_integrity_sha256(m, r->key, r->key_len);
	else
		err = stun_msg__check_integrity(m, r->key, r->key_len);
	if (err)
		return fail(r, 401, "integrity check failed");
	/*
	 * RFC 8489 §9.2.4: the response carries MESSAGE-INTEGRITY-SHA256 unless
	 * the request had neither PASSWORD-ALGORITHMS nor PASSWORD-ALGORITHM
	 * (an RFC 5389/5766 client, which only knows MESSAGE-INTEGRITY).
	 */
	r->sha256 = m->mi256_off || stun_msg__find(m, STUN_ATTR_PASSWORD_ALGORITHMS, &at) ||
		    stun_msg__find(m, STUN_ATTR_PASSWORD_ALGORITHM, &at);
	r->code = 0;
	return 0;
}

static int check_static(const struct auth_user *u, const struct stun_msg *m, struct auth_result *r)
{
	r->key_len = creds__user_key(u, r->alg, r->key);
	if (!r->key_len)
		return fail(r, 401, "user key is for another password algorithm");
	return verify(m, r);
}

static int check_rest(const struct auth *a, const struct auth_snap *s, const struct stun_msg *m,
		      const struct auth_req *q, uint64_t now, struct auth_result *r)
{
	uint64_t expiry;

	if (rest__expiry(q->user, q->user_len, s->sep, &expiry))
		return fail(r, 401, "unknown user");
	if (expiry < now)
		return fail(r, 401, "expired credentials");
	for (size_t i = 0; i < s->n_secrets; i++) {
		int n = rest__key(&s->secrets[i], q->user, q->user_len, a->realm, a->realm_len,
				  r->alg, r->key);

		if (n < 0)
			continue;
		r->key_len = (size_t)n;
		if (!verify(m, r))
			return 0;
	}
	return fail(r, 401, "integrity check failed");
}

/* Step 5 and 6 against one credential snapshot. */
static int check_user(const struct auth *a, const struct auth_snap *s, const struct stun_msg *m,
		      const struct auth_req *q, uint64_t now, struct auth_result *r)
{
	const struct auth_user *u;

	if (q->userhash) {
		u = creds__find_hash(s, q->userhash, q->userhash_len);
		if (!u)
			return fail(r, 401, "unknown USERHASH");
		memcpy(r->user, u->name, u->name_len + 1);
		return check_static(u, m, r);
	}
	u = creds__find_name(s, q->user, q->user_len);
	if (u)
		return check_static(u, m, r);
	if (a->mode == CONF_AUTH_SECRET)
		return check_rest(a, s, m, q, now, r);
	return fail(r, 401, "unknown user");
}

int auth__check(struct auth *a, const struct stun_msg *m, const struct sockaddr *client,
		uint64_t now, struct auth_result *r)
{
	struct auth_req q;
	const char *why;
	int code;

	memset(r, 0, sizeof(*r));
	if (a->mode == CONF_AUTH_NONE) {
		r->anonymous = true;
		return 0;
	}
	if (!m->mi_off && !m->mi256_off)
		return fail(r, 401, "no MESSAGE-INTEGRITY");
	why = read_request(m, &q);
	if (why)
		return fail(r, 400, why);
	if (q.user) {
		memcpy(r->user, q.user, q.user_len);
		r->user[q.user_len] = '\0';
	}
	if (!nonce__ours(a, q.nonce, q.nonce_len))
		return fail(r, 438, "nonce not ours");
	why = negotiate_alg(m, &r->alg);
	if (why)
		return fail(r, 400, why);
	if (!nonce__valid(a, q.nonce, q.nonce_len, client, now))
		return fail(r, 438, "stale or foreign nonce");
	if (q.realm_len != a->realm_len || memcmp(q.realm, a->realm, a->realm_len))
		return fail(r, 401, "wrong realm");
	pthread_rwlock_rdlock(&a->lock);
	code = check_user(a, a->snap, m, &q, now, r);
	pthread_rwlock_unlock(&a->lock);
	return code;
}

void auth__challenge(struct auth *a, const struct sockaddr *client, uint64_t now,
		     struct stun_builder *b)
{
	char nonce[AUTH_NONCE_LEN + 1];

	if (a->mode == CONF_AUTH_NONE)
		return;
	nonce__make(a, client, now, nonce);
	stun_build__string(b, STUN_ATTR_REALM, a->realm);
	stun_build__string(b, STUN_ATTR_NONCE, nonce);
	stun_build__password_algorithms(b, offered_algs,
					sizeof(offered_algs) / sizeof(offered_algs[0]));
}

void auth__sign(const struct auth_result *r, struct stun_builder *b)
{
	if (r->anonymous || r->code || !r->key_len)
		return;
	if (r->sha256)
		stun_build__integrity_sha256(b, r->key, r->key_len);
	else
		stun_build__integrity(b, r->key, r->key_len);
}
