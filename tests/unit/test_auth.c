// SPDX-License-Identifier: MIT
/*
 * Authentication: challenges, nonces, long-term credentials (MD5, SHA-256,
 * precomputed keys, USERHASH), TURN REST credentials, the RFC 8489 §9.2.4
 * PASSWORD-ALGORITHMS rules and credential reload. Requests are built with
 * the codec's encoder and keys come from stun_lt_key, independently of the
 * module's own precomputation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kturn/auth.h"
#include "kturn/stun.h"

#define REALM "kturn.test"
#define NOW   1800000000ull /* 2027-01-15 */

static const uint8_t TID[STUN_TID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

#include "rfc8489_b1.h" /* RFC 8489 B.1 with erratum 6268: rfc8489_b1[], lt_* */

enum algs_mode {
	ALGS_NONE, /* neither PASSWORD-ALGORITHMS nor PASSWORD-ALGORITHM */
	ALGS_BOTH, /* both, list as offered unless `list` is set */
	ALGS_LIST, /* only PASSWORD-ALGORITHMS */
	ALGS_ONE,  /* only PASSWORD-ALGORITHM */
};

struct req {
	const char *user;
	const uint8_t *userhash;
	const char *realm;
	const char *nonce;
	enum algs_mode algs;
	const uint16_t *list; /* with ALGS_BOTH: another PASSWORD-ALGORITHMS */
	size_t n_list;
	uint16_t alg;
	const uint8_t *key;
	size_t key_len;
	bool mi256;
	bool no_mi;
	bool raw_user; /* USERNAME bytes as given, even if not valid UTF-8 */
};

struct fixture {
	struct auth *a;
	struct conf_user users[4];
	struct conf_users uv;
	char *secret_v[2];
	struct conf_strv sv;
	struct sockaddr_storage client, client_port2, other, client6, mapped;
	char nonce[STUN_MAX_NONCE + 1];
	uint8_t buf[1024];
	size_t len;
	struct stun_msg m;
	struct auth_result r;
};

static const uint16_t offer[] = {STUN_PWALG_SHA256, STUN_PWALG_MD5};

static void sa_set(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
}

static struct fixture *fx(void **state)
{
	return *state;
}

static void auth_make(struct fixture *f, enum conf_auth mode, const char *realm)
{
	struct auth_opts o = {
		.mode = mode,
		.realm = realm,
		.stale_nonce = 0,
		.creds = {.users = &f->uv, .secrets = &f->sv, .rest_separator = ':'},
	};

	auth__free(f->a);
	f->a = NULL;
	assert_int_equal(auth__new(&f->a, &o), 0);
	assert_non_null(f->a);
}

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.users[0] = (struct conf_user){"alice", "alice-pw", false};
	f.users[1] = (struct conf_user){"bob", "bob-pw", false};
	f.uv = (struct conf_users){f.users, 2};
	f.secret_v[0] = "north";
	f.secret_v[1] = "south";
	f.sv = (struct conf_strv){f.secret_v, 0};
	sa_set(&f.client, "192.0.2.7", 40000);
	sa_set(&f.client_port2, "192.0.2.7", 40001);
	sa_set(&f.other, "192.0.2.8", 40000);
	sa_set(&f.client6, "2001:db8::7", 40000);
	sa_set(&f.mapped, "::ffff:192.0.2.7", 40002);
	auth_make(&f, CONF_AUTH_LONG_TERM, REALM);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	auth__free(fx(state)->a);
	return 0;
}

static const struct sockaddr *sa(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr *)ss;
}

/* A 401 as the handler would build it; returns its length, parsed into *m. */
static size_t challenge(struct fixture *f, const struct sockaddr_storage *client, uint64_t now,
			uint8_t *buf, size_t cap, struct stun_msg *m)
{
	struct stun_builder b;
	ssize_t n;

	stun_build__init(&b, buf, cap, TURN_ALLOCATE, STUN_ERROR, TID);
	stun_build__error(&b, 401, NULL);
	auth__challenge(f->a, sa(client), now, &b);
	n = stun_build__finish(&b);
	assert_true(n > 0);
	assert_int_equal(stun_msg__parse(m, buf, (size_t)n), 0);
	return (size_t)n;
}

/* Fresh nonce for client at now, into f->nonce. */
static const char *get_nonce(struct fixture *f, const struct sockaddr_storage *client, uint64_t now)
{
	uint8_t buf[512];
	struct stun_msg m;
	struct stun_attr a;
	const char *s;
	size_t len;

	challenge(f, client, now, buf, sizeof(buf), &m);
	assert_true(stun_msg__find(&m, STUN_ATTR_NONCE, &a));
	assert_int_equal(stun_attr__string(&a, &s, &len), 0);
	assert_true(len < sizeof(f->nonce));
	memcpy(f->nonce, s, len);
	f->nonce[len] = '\0';
	return f->nonce;
}

static void add_algs(struct stun_builder *b, const struct req *q)
{
	if (q->algs == ALGS_BOTH || q->algs == ALGS_LIST) {
		if (q->list)
			stun_build__password_algorithms(b, q->list, q->n_list);
		else
			stun_build__password_algorithms(b, offer, 2);
	}
	if (q->algs == ALGS_BOTH || q->algs == ALGS_ONE)
		stun_build__password_algorithm(b, q->alg);
}

static void build_req(struct fixture *f, const struct req *q)
{
	struct stun_builder b;
	ssize_t n;

	stun_build__init(&b, f->buf, sizeof(f->buf), TURN_ALLOCATE, STUN_REQUEST, TID);
	stun_build__transport(&b, STUN_TRANSPORT_UDP);
	if (q->user && q->raw_user)
		stun_build__attr(&b, STUN_ATTR_USERNAME, q->user, strlen(q->user));
	else if (q->user)
		stun_build__string(&b, STUN_ATTR_USERNAME, q->user);
	if (q->userhash)
		stun_build__attr(&b, STUN_ATTR_USERHASH, q->userhash, 32);
	if (q->realm)
		stun_build__string(&b, STUN_ATTR_REALM, q->realm);
	if (q->nonce)
		stun_build__string(&b, STUN_ATTR_NONCE, q->nonce);
	add_algs(&b, q);
	if (!q->no_mi && q->mi256)
		stun_build__integrity_sha256(&b, q->key, q->key_len);
	else if (!q->no_mi)
		stun_build__integrity(&b, q->key, q->key_len);
	n = stun_build__finish(&b);
	assert_true(n > 0);
	f->len = (size_t)n;
	assert_int_equal(stun_msg__parse(&f->m, f->buf, f->len), 0);
}

static int check_at(struct fixture *f, const struct sockaddr_storage *client, uint64_t now)
{
	return auth__check(f->a, &f->m, sa(client), now, &f->r);
}

static int check(struct fixture *f)
{
	return check_at(f, &f->client, NOW);
}

static size_t lt_key(enum stun_pwalg alg, const char *user, const char *realm, const char *pw,
		     uint8_t key[32])
{
	int n = stun_lt_key(alg, user, strlen(user), realm, strlen(realm), pw, strlen(pw), key);

	assert_int_equal(n, alg == STUN_PWALG_MD5 ? 16 : 32);
	return (size_t)n;
}

/* A well-formed, correctly signed request for user/pw with algorithm negotiation as asked. */
static void signed_req(struct fixture *f, const char *user, const char *pw, enum algs_mode algs,
		       enum stun_pwalg alg, bool mi256, uint8_t key[32])
{
	struct req q = {.user = user, .realm = REALM, .algs = algs, .alg = alg, .mi256 = mi256};

	q.nonce = get_nonce(f, &f->client, NOW);
	q.key = key;
	q.key_len = lt_key(algs == ALGS_NONE ? STUN_PWALG_MD5 : alg, user, REALM, pw, key);
	build_req(f, &q);
}

static void assert_failed(struct fixture *f, int code)
{
	assert_int_equal(check(f), code);
	assert_int_equal(f->r.code, code);
	assert_non_null(f->r.why);
	assert_int_equal(f->r.stale, code == 438);
	assert_int_equal(f->r.key_len, 0);
}

/* Challenge ----------------------------------------------------------------- */

static void challenge_contents(void **state)
{
	struct fixture *f = fx(state);
	uint8_t buf[512], bits[3] = {0xC0, 0x00, 0x00}; /* bits 0 and 1 of 24 */
	char feat[8], prefix[32];
	uint16_t algs[4];
	struct stun_attr_iter it;
	struct stun_attr a;
	struct stun_msg m;
	const char *s;
	size_t len, n;

	assert_int_equal(EVP_EncodeBlock((unsigned char *)feat, bits, 3), 4);
	assert_string_equal(feat, "wAAA");
	snprintf(prefix, sizeof(prefix), "obMatJos2%s", feat);
	challenge(f, &f->client, NOW, buf, sizeof(buf), &m);

	/* ERROR-CODE, REALM, NONCE, PASSWORD-ALGORITHMS, in that order and nothing else. */
	stun_attr_iter__init(&it, &m);
	assert_true(stun_attr_iter__next(&it, &a));
	assert_int_equal(a.type, STUN_ATTR_ERROR_CODE);
	assert_true(stun_attr_iter__next(&it, &a));
	assert_int_equal(a.type, STUN_ATTR_REALM);
	assert_int_equal(stun_attr__string(&a, &s, &len), 0);
	assert_int_equal(len, strlen(REALM));
	assert_memory_equal(s, REALM, len);
	assert_true(stun_attr_iter__next(&it, &a));
	assert_int_equal(a.type, STUN_ATTR_NONCE);
	assert_int_equal(stun_attr__string(&a, &s, &len), 0);
	assert_true(len > strlen(prefix) + 16 + 2 * 16 - 1 && len < 128);
	assert_memory_equal(s, prefix, strlen(prefix));
	assert_true(stun_attr_iter__next(&it, &a));
	assert_int_equal(a.type, STUN_ATTR_PASSWORD_ALGORITHMS);
	assert_int_equal(a.len, 8);
	assert_memory_equal(a.val, "\x00\x02\x00\x00\x00\x01\x00\x00", 8);
	assert_int_equal(stun_attr__password_algorithms(&a, algs, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(algs[0], STUN_PWALG_SHA256);
	assert_int_equal(algs[1], STUN_PWALG_MD5);
	assert_false(stun_attr_iter__next(&it, &a));
	assert_string_equal(auth__realm(f->a), REALM);
}

static void nonce_depends_on_time_and_ip_not_port(void **state)
{
	struct fixture *f = fx(state);
	char n1[STUN_MAX_NONCE + 1];

	strcpy(n1, get_nonce(f, &f->client, NOW));
	assert_string_equal(get_nonce(f, &f->client_port2, NOW), n1);
	assert_string_not_equal(get_nonce(f, &f->other, NOW), n1);
	assert_string_not_equal(get_nonce(f, &f->client, NOW + 1), n1);
	/* IPv4-mapped IPv6 is the same client as plain IPv4. */
	assert_string_equal(get_nonce(f, &f->mapped, NOW), n1);
}

/* Round trips ---------------------------------------------------------------- */

static void sign_and_verify(struct fixture *f, const uint8_t *key, size_t key_len, bool sha256)
{
	uint8_t out[256];
	struct stun_builder b;
	struct stun_msg m;
	ssize_t n;

	stun_build__init(&b, out, sizeof(out), TURN_ALLOCATE, STUN_SUCCESS, TID);
	auth__sign(&f->r, &b);
	n = stun_build__finish(&b);
	assert_true(n > 0);
	assert_int_equal(stun_msg__parse(&m, out, (size_t)n), 0);
	if (sha256) {
		assert_int_equal(m.mi_off, 0);
		assert_int_equal(stun_msg__check_integrity_sha256(&m, key, key_len), 0);
	} else {
		assert_int_equal(m.mi256_off, 0);
		assert_int_equal(stun_msg__check_integrity(&m, key, key_len), 0);
	}
}

static void assert_ok(struct fixture *f, const char *user, enum stun_pwalg alg, bool sha256,
		      const uint8_t *key)
{
	assert_int_equal(check(f), 0);
	assert_int_equal(f->r.code, 0);
	assert_false(f->r.anonymous);
	assert_false(f->r.stale);
	assert_int_equal(f->r.alg, alg);
	assert_int_equal(f->r.sha256, sha256);
	assert_int_equal(f->r.key_len, alg == STUN_PWALG_MD5 ? 16 : 32);
	assert_memory_equal(f->r.key, key, f->r.key_len);
	assert_string_equal(f->r.user, user);
	sign_and_verify(f, key, f->r.key_len, sha256);
}

static void roundtrip_md5_legacy(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];

	signed_req(f, "alice", "alice-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_ok(f, "alice", STUN_PWALG_MD5, false, key);
}

static void roundtrip_md5_negotiated(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];

	signed_req(f, "alice", "alice-pw", ALGS_BOTH, STUN_PWALG_MD5, false, key);
	/* an RFC 8489 client (it sent the algorithms): answered with MI-SHA256 (§9.2.4) */
	assert_ok(f, "alice", STUN_PWALG_MD5, true, key);
}

static void roundtrip_sha256(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];

	signed_req(f, "bob", "bob-pw", ALGS_BOTH, STUN_PWALG_SHA256, true, key);
	assert_ok(f, "bob", STUN_PWALG_SHA256, true, key);
	/* SHA-256 key with the SHA-1 MESSAGE-INTEGRITY: the key follows the algorithm. */
	signed_req(f, "bob", "bob-pw", ALGS_BOTH, STUN_PWALG_SHA256, false, key);
	assert_ok(f, "bob", STUN_PWALG_SHA256, true, key);
	/* MD5 key with MESSAGE-INTEGRITY-SHA256 (legacy negotiation). */
	signed_req(f, "bob", "bob-pw", ALGS_NONE, STUN_PWALG_MD5, true, key);
	assert_ok(f, "bob", STUN_PWALG_MD5, true, key);
}

static void mi256_is_the_one_checked(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32], bad[16] = {0};
	struct stun_builder b;
	ssize_t n;

	lt_key(STUN_PWALG_MD5, "alice", REALM, "alice-pw", key);
	/* Good MI, bad MI-SHA256: refused. */
	stun_build__init(&b, f->buf, sizeof(f->buf), TURN_ALLOCATE, STUN_REQUEST, TID);
	stun_build__string(&b, STUN_ATTR_USERNAME, "alice");
	stun_build__string(&b, STUN_ATTR_REALM, REALM);
	stun_build__string(&b, STUN_ATTR_NONCE, get_nonce(f, &f->client, NOW));
	stun_build__integrity(&b, key, 16);
	stun_build__integrity_sha256(&b, bad, sizeof(bad));
	n = stun_build__finish(&b);
	assert_true(n > 0);
	assert_int_equal(stun_msg__parse(&f->m, f->buf, (size_t)n), 0);
	assert_failed(f, 401);
}

static void nonce_any_port_and_mapped(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];

	signed_req(f, "alice", "alice-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_int_equal(check_at(f, &f->client_port2, NOW), 0);
	assert_int_equal(check_at(f, &f->mapped, NOW), 0);
	assert_int_equal(check_at(f, &f->client6, NOW), 438);
	assert_true(f->r.stale);
}

/* RFC 8489 Appendix B.1 ---------------------------------------------------------- */

static void rfc8489_b1_vector(void **state)
{
	struct fixture *f = fx(state);
	struct conf_user u = {(char *)lt_user, (char *)lt_pass, false};
	struct auth_creds c = {.users = &(struct conf_users){&u, 1}};
	uint8_t key[32], hash[32];
	struct req q = {.realm = lt_realm, .algs = ALGS_BOTH, .alg = STUN_PWALG_SHA256};

	auth_make(f, CONF_AUTH_LONG_TERM, lt_realm);
	assert_int_equal(auth__set_credentials(f->a, &c), 0);
	/* The published nonce is not ours: stale, whatever else the message says. */
	assert_int_equal(stun_msg__parse(&f->m, rfc8489_b1, sizeof(rfc8489_b1)), 0);
	assert_failed(f, 438);

	/* The same kind of request with a nonce of ours passes. */
	stun_userhash(lt_user, strlen(lt_user), lt_realm, strlen(lt_realm), hash);
	assert_memory_equal(hash, rfc8489_b1 + 24, 32);
	q.userhash = hash;
	q.nonce = get_nonce(f, &f->client, NOW);
	q.key = key;
	q.key_len = lt_key(STUN_PWALG_SHA256, lt_user, lt_realm, lt_pass, key);
	q.mi256 = true;
	build_req(f, &q);
	assert_ok(f, lt_user, STUN_PWALG_SHA256, true, key);

	/* Like B.1 itself, PASSWORD-ALGORITHM alone: with our nonce that is a 400. */
	q.algs = ALGS_ONE;
	build_req(f, &q);
	assert_failed(f, 400);
}

/* Missing and malformed attributes --------------------------------------------- */

static void no_integrity_is_401(void **state)
{
	struct fixture *f = fx(state);
	struct req q = {.user = "alice", .realm = REALM, .no_mi = true};

	q.nonce = get_nonce(f, &f->client, NOW);
	build_req(f, &q);
	assert_failed(f, 401);
}

static void missing_attributes_are_400(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];
	struct req q = {.user = "alice", .realm = REALM, .key = key};

	q.key_len = lt_key(STUN_PWALG_MD5, "alice", REALM, "alice-pw", key);
	q.nonce = get_nonce(f, &f->client, NOW);
	q.user = NULL;
	build_req(f, &q);
	assert_failed(f, 400);
	q.user = "alice";
	q.realm = NULL;
	build_req(f, &q);
	assert_failed(f, 400);
	q.realm = REALM;
	q.nonce = NULL;
	build_req(f, &q);
	assert_failed(f, 400);
	/* Username that is not valid UTF-8. */
	q.nonce = f->nonce;
	q.user = "al\xffice";
	q.raw_user = true;
	build_req(f, &q);
	assert_failed(f, 400);
	/* Everything present: fine. */
	q.user = "alice";
	q.raw_user = false;
	build_req(f, &q);
	assert_int_equal(check(f), 0);
}

/* Wrong credentials -------------------------------------------------------------- */

static void wrong_password_realm_user_are_401(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];
	struct req q = {.user = "alice", .realm = REALM, .key = key, .key_len = 16};

	q.nonce = get_nonce(f, &f->client, NOW);
	lt_key(STUN_PWALG_MD5, "alice", REALM, "not-alice-pw", key);
	build_req(f, &q);
	assert_failed(f, 401);

	/* Wrong REALM, even with the key of our realm (as the server would compute it). */
	lt_key(STUN_PWALG_MD5, "alice", REALM, "alice-pw", key);
	q.realm = "other.realm";
	build_req(f, &q);
	assert_failed(f, 401);
	assert_string_equal(f->r.why, "wrong realm");
	q.realm = REALM "x";
	build_req(f, &q);
	assert_failed(f, 401);
	assert_string_equal(f->r.why, "wrong realm");
	q.realm = "kturn.tes";
	build_req(f, &q);
	assert_failed(f, 401);
	q.realm = REALM;
	build_req(f, &q);
	assert_int_equal(check(f), 0);

	lt_key(STUN_PWALG_MD5, "carol", REALM, "alice-pw", key);
	q.realm = REALM;
	q.user = "carol";
	build_req(f, &q);
	assert_failed(f, 401);
	assert_string_equal(f->r.user, "carol");
}

/* Nonces ----------------------------------------------------------------------------- */

static void stale_nonce_is_438(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];

	signed_req(f, "alice", "alice-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_int_equal(check_at(f, &f->client, NOW + 600), 0);
	assert_int_equal(check_at(f, &f->client, NOW + 600 + 1), 438);
	assert_true(f->r.stale);
	assert_int_equal(f->r.key_len, 0);
	/* Issued more than 5 s in the future. */
	assert_int_equal(check_at(f, &f->client, NOW - 5), 0);
	assert_int_equal(check_at(f, &f->client, NOW - 6), 438);
}

static void stale_nonce_option(void **state)
{
	struct fixture *f = fx(state);
	struct auth_opts o = {.mode = CONF_AUTH_LONG_TERM, .realm = REALM, .stale_nonce = 30};
	uint8_t key[32];

	o.creds.users = &f->uv;
	auth__free(f->a);
	assert_int_equal(auth__new(&f->a, &o), 0);
	signed_req(f, "alice", "alice-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_int_equal(check_at(f, &f->client, NOW + 30), 0);
	assert_int_equal(check_at(f, &f->client, NOW + 31), 438);
}

static void other_ip_nonce_is_438(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];

	signed_req(f, "alice", "alice-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_int_equal(check_at(f, &f->other, NOW), 438);
	assert_true(f->r.stale);
}

static void nonce_with(struct fixture *f, const char *nonce)
{
	uint8_t key[32];
	struct req q = {.user = "alice", .realm = REALM, .nonce = nonce, .key = key};

	q.key_len = lt_key(STUN_PWALG_MD5, "alice", REALM, "alice-pw", key);
	build_req(f, &q);
}

static void forged_nonce_is_438(void **state)
{
	struct fixture *f = fx(state);
	char n[STUN_MAX_NONCE + 1], *last;
	struct auth *other;
	struct auth_opts o = {.mode = CONF_AUTH_LONG_TERM, .realm = REALM};
	struct auth_result r;
	size_t len;

	strcpy(n, get_nonce(f, &f->client, NOW));
	len = strlen(n);
	nonce_with(f, n);
	assert_int_equal(check(f), 0);

	last = &n[len - 1]; /* a MAC digit */
	*last = *last == '0' ? '1' : '0';
	nonce_with(f, n);
	assert_failed(f, 438);
	*last = f->nonce[len - 1];

	n[13 + 15] = n[13 + 15] == '0' ? '1' : '0'; /* last digit of the issue time */
	nonce_with(f, n);
	assert_failed(f, 438);
	n[13 + 15] = f->nonce[13 + 15];

	n[len - 1] = '\0'; /* truncated */
	nonce_with(f, n);
	assert_failed(f, 438);

	nonce_with(f, "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA"); /* other feature bits */
	assert_failed(f, 438);
	nonce_with(f, "f//499k954d6OL34oL9FSTvy64sA"); /* no cookie */
	assert_failed(f, 438);

	/* Another server's (another key's) nonce for the same client and time. */
	assert_int_equal(auth__new(&other, &o), 0);
	nonce_with(f, f->nonce);
	assert_int_equal(auth__check(other, &f->m, sa(&f->client), NOW, &r), 438);
	auth__free(other);
}

/* PASSWORD-ALGORITHMS ---------------------------------------------------------------- */

static void algorithms_mismatch_is_400(void **state)
{
	struct fixture *f = fx(state);
	static const uint16_t reversed[] = {STUN_PWALG_MD5, STUN_PWALG_SHA256};
	static const uint16_t only_sha[] = {STUN_PWALG_SHA256};
	static const uint16_t extra[] = {STUN_PWALG_SHA256, STUN_PWALG_MD5, 3};
	uint8_t key[32];
	struct req q = {.user = "alice", .realm = REALM, .algs = ALGS_BOTH, .key = key};

	q.alg = STUN_PWALG_SHA256;
	q.key_len = lt_key(STUN_PWALG_SHA256, "alice", REALM, "alice-pw", key);
	q.nonce = get_nonce(f, &f->client, NOW);
	build_req(f, &q);
	assert_int_equal(check(f), 0);

	q.list = reversed, q.n_list = 2;
	build_req(f, &q);
	assert_failed(f, 400);
	q.list = only_sha, q.n_list = 1;
	build_req(f, &q);
	assert_failed(f, 400);
	q.list = extra, q.n_list = 3;
	build_req(f, &q);
	assert_failed(f, 400);

	q.list = NULL;
	q.alg = 3; /* not offered */
	build_req(f, &q);
	assert_failed(f, 400);
}

static void only_one_algorithm_attr_is_400(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];
	struct req q = {.user = "alice", .realm = REALM, .alg = STUN_PWALG_MD5, .key = key};

	q.key_len = lt_key(STUN_PWALG_MD5, "alice", REALM, "alice-pw", key);
	q.nonce = get_nonce(f, &f->client, NOW);
	q.algs = ALGS_LIST;
	build_req(f, &q);
	assert_failed(f, 400);
	assert_string_equal(f->r.why, "only one of PASSWORD-ALGORITHMS and PASSWORD-ALGORITHM");
	q.algs = ALGS_ONE;
	build_req(f, &q);
	assert_failed(f, 400);
	assert_string_equal(f->r.why, "only one of PASSWORD-ALGORITHMS and PASSWORD-ALGORITHM");
}

/* TURN REST API ----------------------------------------------------------------------- */

static void rest_password(const char *secret, const char *user, char out[64])
{
	uint8_t mac[20];
	unsigned int len = 0;

	assert_non_null(HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)user,
			     strlen(user), mac, &len));
	assert_int_equal(len, 20);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)out, mac, 20), 28);
}

static int rest_check(struct fixture *f, const char *user, const char *secret, enum algs_mode m,
		      enum stun_pwalg alg)
{
	char pw[64];
	uint8_t key[32];

	rest_password(secret, user, pw);
	signed_req(f, user, pw, m, alg, false, key);
	if (!check(f))
		assert_memory_equal(f->r.key, key, f->r.key_len);
	return f->r.code;
}

static void rest_credentials(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32];

	f->sv.n = 1;
	auth_make(f, CONF_AUTH_SECRET, REALM);
	assert_int_equal(rest_check(f, "1800000100:carol", "north", ALGS_NONE, STUN_PWALG_MD5), 0);
	assert_string_equal(f->r.user, "1800000100:carol");
	assert_int_equal(rest_check(f, "1800000100:carol", "north", ALGS_BOTH, STUN_PWALG_SHA256),
			 0);
	assert_int_equal(f->r.key_len, 32);
	/* Only digits is a timestamp too; expiry == now still valid. */
	assert_int_equal(rest_check(f, "1800000000", "north", ALGS_NONE, STUN_PWALG_MD5), 0);

	assert_int_equal(rest_check(f, "1799999999:carol", "north", ALGS_NONE, STUN_PWALG_MD5),
			 401);
	assert_string_equal(f->r.why, "expired credentials");
	assert_int_equal(rest_check(f, "1800000100:carol", "south", ALGS_NONE, STUN_PWALG_MD5),
			 401);
	assert_int_equal(rest_check(f, "18000x0100:carol", "north", ALGS_NONE, STUN_PWALG_MD5),
			 401);
	assert_int_equal(rest_check(f, ":carol", "north", ALGS_NONE, STUN_PWALG_MD5), 401);
	assert_int_equal(rest_check(f, "carol", "north", ALGS_NONE, STUN_PWALG_MD5), 401);

	/* Static users are accepted in SECRET mode as well. */
	assert_int_equal(rest_check(f, "alice", "north", ALGS_NONE, STUN_PWALG_MD5), 401);
	signed_req(f, "alice", "alice-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_ok(f, "alice", STUN_PWALG_MD5, false, key);

	/* Secrets configured but mode LONG_TERM: REST usernames are just unknown users. */
	auth_make(f, CONF_AUTH_LONG_TERM, REALM);
	assert_int_equal(rest_check(f, "1800000100:carol", "north", ALGS_NONE, STUN_PWALG_MD5),
			 401);
	assert_string_equal(f->r.why, "unknown user");
}

static void rest_second_secret_and_separator(void **state)
{
	struct fixture *f = fx(state);
	struct auth_creds c = {.secrets = &f->sv, .rest_separator = '-'};

	f->sv.n = 2;
	auth_make(f, CONF_AUTH_SECRET, REALM);
	assert_int_equal(rest_check(f, "1800000100:carol", "south", ALGS_NONE, STUN_PWALG_MD5), 0);
	assert_int_equal(rest_check(f, "1800000100:carol", "north", ALGS_NONE, STUN_PWALG_MD5), 0);
	assert_int_equal(rest_check(f, "1800000100:carol", "west", ALGS_NONE, STUN_PWALG_MD5), 401);

	assert_int_equal(auth__set_credentials(f->a, &c), 0);
	assert_int_equal(rest_check(f, "1800000100-carol", "south", ALGS_NONE, STUN_PWALG_MD5), 0);
	assert_int_equal(rest_check(f, "1800000100:carol", "south", ALGS_NONE, STUN_PWALG_MD5),
			 401);
}

static void rest_userhash_cannot_resolve(void **state)
{
	struct fixture *f = fx(state);
	const char *user = "1800000100:carol";
	uint8_t key[32], hash[32];
	char pw[64];
	struct req q = {.realm = REALM, .key = key, .key_len = 16, .userhash = hash};

	f->sv.n = 1;
	auth_make(f, CONF_AUTH_SECRET, REALM);
	rest_password("north", user, pw);
	lt_key(STUN_PWALG_MD5, user, REALM, pw, key);
	stun_userhash(user, strlen(user), REALM, strlen(REALM), hash);
	q.nonce = get_nonce(f, &f->client, NOW);
	build_req(f, &q);
	assert_failed(f, 401);
}

/* Precomputed keys and USERHASH ------------------------------------------------------ */

static void hex_key(const uint8_t *key, size_t n, char *out)
{
	out[0] = '0', out[1] = 'x';
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 + 2 * i, "%02X", key[i]);
}

static void key_users(void **state)
{
	struct fixture *f = fx(state);
	char md5hex[2 + 64 + 1], shahex[2 + 128 + 1];
	struct conf_user u[2] = {{"kmd5", md5hex, true}, {"ksha", shahex, true}};
	struct auth_creds c = {.users = &(struct conf_users){u, 2}};
	uint8_t key[32];

	lt_key(STUN_PWALG_MD5, "kmd5", REALM, "md5-pw", key);
	hex_key(key, 16, md5hex);
	lt_key(STUN_PWALG_SHA256, "ksha", REALM, "sha-pw", key);
	hex_key(key, 32, shahex);
	assert_int_equal(auth__set_credentials(f->a, &c), 0);

	signed_req(f, "kmd5", "md5-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_ok(f, "kmd5", STUN_PWALG_MD5, false, key);
	signed_req(f, "kmd5", "md5-pw", ALGS_BOTH, STUN_PWALG_MD5, true, key);
	assert_ok(f, "kmd5", STUN_PWALG_MD5, true, key);
	signed_req(f, "kmd5", "md5-pw", ALGS_BOTH, STUN_PWALG_SHA256, false, key);
	assert_failed(f, 401);

	signed_req(f, "ksha", "sha-pw", ALGS_BOTH, STUN_PWALG_SHA256, true, key);
	assert_ok(f, "ksha", STUN_PWALG_SHA256, true, key);
	signed_req(f, "ksha", "sha-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_failed(f, 401);
}

static void bad_users_skipped(void **state)
{
	struct fixture *f = fx(state);
	struct conf_user u[3] = {
		{"short", "0x0123", true},
		{"prohibited", "pw\x07", false}, /* control character: SASLprep refuses */
		{"fine", "fine-pw", false},
	};
	struct auth_creds c = {.users = &(struct conf_users){u, 3}};
	uint8_t key[32];

	assert_int_equal(auth__set_credentials(f->a, &c), 0);
	signed_req(f, "fine", "fine-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_int_equal(check(f), 0);
	/* Skipped, so unknown: any key gets 401 "unknown user". */
	signed_req(f, "prohibited", "pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_failed(f, 401);
	assert_string_equal(f->r.why, "unknown user");
}

static void userhash_resolution(void **state)
{
	struct fixture *f = fx(state);
	uint8_t key[32], hash[32];
	struct req q = {.realm = REALM, .key = key, .userhash = hash};

	q.nonce = get_nonce(f, &f->client, NOW);
	q.key_len = lt_key(STUN_PWALG_MD5, "bob", REALM, "bob-pw", key);
	stun_userhash("bob", 3, REALM, strlen(REALM), hash);
	build_req(f, &q);
	assert_ok(f, "bob", STUN_PWALG_MD5, false, key);

	stun_userhash("bob", 3, "other.realm", 11, hash);
	build_req(f, &q);
	assert_failed(f, 401);
}

/* Reload ----------------------------------------------------------------------------------- */

static void credential_swap(void **state)
{
	struct fixture *f = fx(state);
	struct conf_user u = {"dave", "dave-pw", false};
	struct auth_creds c = {.users = &(struct conf_users){&u, 1}};
	uint8_t key[32], alice_req[1024];
	size_t alice_len;

	signed_req(f, "alice", "alice-pw", ALGS_NONE, STUN_PWALG_MD5, false, key);
	assert_int_equal(check(f), 0);
	memcpy(alice_req, f->buf, f->len);
	alice_len = f->len;

	assert_int_equal(auth__set_credentials(f->a, &c), 0);
	assert_int_equal(stun_msg__parse(&f->m, alice_req, alice_len), 0);
	assert_failed(f, 401);
	signed_req(f, "dave", "dave-pw", ALGS_BOTH, STUN_PWALG_SHA256, true, key);
	assert_ok(f, "dave", STUN_PWALG_SHA256, true, key);

	/* An empty set refuses everyone; a NULL list is the same as an empty one. */
	c.users = NULL;
	assert_int_equal(auth__set_credentials(f->a, &c), 0);
	assert_failed(f, 401);
}

struct racer {
	struct auth *a;
	const struct sockaddr *client;
	const uint8_t *req;
	size_t len;
	int failures;
	int done; /* set (atomically) when the loop is over */
};

static void *race_checks(void *arg)
{
	struct racer *rc = arg;
	struct auth_result r;
	struct stun_msg m;

	if (stun_msg__parse(&m, rc->req, rc->len))
		return NULL;
	for (int i = 0; i < 3000; i++)
		if (auth__check(rc->a, &m, rc->client, NOW, &r))
			rc->failures++;
	__atomic_store_n(&rc->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Checks in two threads while the set is swapped under them: alice is in every set. */
static void credential_swap_concurrent(void **state)
{
	struct fixture *f = fx(state);
	struct conf_user u[2][2] = {{{"alice", "alice-pw", false}, {"eve", "eve-pw", false}},
				    {{"zed", "zed-pw", false}, {"alice", "alice-pw", false}}};
	struct racer rc[2];
	pthread_t t[2];
	uint8_t key[32];

	signed_req(f, "alice", "alice-pw", ALGS_BOTH, STUN_PWALG_SHA256, true, key);
	for (int i = 0; i < 2; i++) {
		rc[i] = (struct racer){f->a, sa(&f->client), f->buf, f->len, 0, 0};
		assert_int_equal(pthread_create(&t[i], NULL, race_checks, &rc[i]), 0);
	}
	for (int i = 0; i < 100 || !__atomic_load_n(&rc[0].done, __ATOMIC_ACQUIRE) ||
			!__atomic_load_n(&rc[1].done, __ATOMIC_ACQUIRE);
	     i++) {
		struct auth_creds c = {.users = &(struct conf_users){u[i & 1], 2}};

		assert_int_equal(auth__set_credentials(f->a, &c), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(rc[i].failures, 0);
	}
}

/* Anonymous -------------------------------------------------------------------------------- */

static void anonymous_mode(void **state)
{
	struct fixture *f = fx(state);
	struct stun_builder b;
	uint8_t out[128];
	struct req q = {.no_mi = true};

	auth_make(f, CONF_AUTH_NONE, NULL);
	assert_null(auth__realm(f->a));
	build_req(f, &q);
	assert_int_equal(check(f), 0);
	assert_true(f->r.anonymous);
	assert_int_equal(f->r.key_len, 0);

	stun_build__init(&b, out, sizeof(out), TURN_ALLOCATE, STUN_SUCCESS, TID);
	auth__sign(&f->r, &b);
	auth__challenge(f->a, sa(&f->client), NOW, &b);
	assert_int_equal(stun_build__finish(&b), STUN_HEADER_LEN);
}

static void new_requires_realm(void **state)
{
	struct auth *a = (struct auth *)1;
	struct auth_opts o = {.mode = CONF_AUTH_LONG_TERM};

	assert_int_equal(auth__new(&a, &o), -EINVAL);
	assert_null(a);
	o.realm = "";
	assert_int_equal(auth__new(&a, &o), -EINVAL);
	o.mode = CONF_AUTH_SECRET;
	assert_int_equal(auth__new(&a, &o), -EINVAL);
	auth__free(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(challenge_contents),
		T(nonce_depends_on_time_and_ip_not_port),
		T(roundtrip_md5_legacy),
		T(roundtrip_md5_negotiated),
		T(roundtrip_sha256),
		T(mi256_is_the_one_checked),
		T(nonce_any_port_and_mapped),
		T(rfc8489_b1_vector),
		T(no_integrity_is_401),
		T(missing_attributes_are_400),
		T(wrong_password_realm_user_are_401),
		T(stale_nonce_is_438),
		T(stale_nonce_option),
		T(other_ip_nonce_is_438),
		T(forged_nonce_is_438),
		T(algorithms_mismatch_is_400),
		T(only_one_algorithm_attr_is_400),
		T(rest_credentials),
		T(rest_second_secret_and_separator),
		T(rest_userhash_cannot_resolve),
		T(key_users),
		T(bad_users_skipped),
		T(userhash_resolution),
		T(credential_swap),
		T(credential_swap_concurrent),
		T(anonymous_mode),
		T(new_requires_realm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
