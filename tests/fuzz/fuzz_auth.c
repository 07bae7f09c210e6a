// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for request authentication.
 *
 * Each input is parsed as a STUN request and checked twice per mode
 * (long-term static users, TURN REST secrets, anonymous):
 *  - as is: its nonce is almost never ours, so this explores the early steps;
 *  - rebuilt: the visible attributes are re-encoded with the NONCE replaced
 *    by a fresh one of ours and MESSAGE-INTEGRITY(-SHA256) recomputed with
 *    the key the named user would have, so the later steps (algorithm
 *    negotiation, user lookup, REST expiry, integrity) are reached.
 * Every result must be self-consistent (code, why, stale, key length), a
 * success must sign a response that verifies with the returned key, and for
 * the static user "fuzz" (by USERNAME or USERHASH) the outcome of a rebuilt request must be exactly
 * what RFC 8489 §9.2.4 predicts from its attributes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kturn/auth.h"
#include "kturn/stun.h"

#include "fuzz.h"

#define REALM	"fuzz.realm"
#define SECRET	"fuzz-secret"
#define USER	"fuzz"
#define PASS	"fuzz-pw"
#define NOW	1800000000ull
#define BUF_CAP (STUN_MAX_MSG_LEN + 256)

static const uint8_t offer_bytes[8] = {0, 2, 0, 0, 0, 1, 0, 0};

struct harness {
	struct auth *lt, *rest, *none;
	struct sockaddr_in client;
	uint8_t userhash[32]; /* of USER in REALM */
	uint8_t buf[BUF_CAP];
};

static struct harness *h;

static struct auth *make(enum conf_auth mode)
{
	static struct conf_user users[] = {{USER, PASS, false}};
	static char *secrets[] = {"other-secret", SECRET};
	struct auth_opts o = {
		.mode = mode,
		.realm = mode == CONF_AUTH_NONE ? NULL : REALM,
		.creds =
			{
				.users = &(struct conf_users){users, 1},
				.secrets = &(struct conf_strv){secrets, 2},
				.rest_separator = ':',
			},
	};
	struct auth *a = NULL;

	CHECK(auth__new(&a, &o) == 0 && a);
	return a;
}

static struct harness *harness(void)
{
	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	CHECK(h);
	h->lt = make(CONF_AUTH_LONG_TERM);
	h->rest = make(CONF_AUTH_SECRET);
	h->none = make(CONF_AUTH_NONE);
	h->client.sin_family = AF_INET;
	h->client.sin_port = htons(40000);
	h->client.sin_addr.s_addr = htonl(0xc0000207);
	stun_userhash(USER, sizeof(USER) - 1, REALM, sizeof(REALM) - 1, h->userhash);
	return h;
}

static const struct sockaddr *client(void)
{
	return (const struct sockaddr *)&h->client;
}

/* A success response signed by auth__sign must verify with r->key. */
static void check_sign(const struct auth_result *r)
{
	uint8_t out[128];
	struct stun_builder b;
	struct stun_msg m;
	ssize_t n;

	stun_build__init(&b, out, sizeof(out), STUN_BINDING, STUN_SUCCESS, NULL);
	auth__sign(r, &b);
	n = stun_build__finish(&b);
	CHECK(n > 0 && stun_msg__parse(&m, out, (size_t)n) == 0);
	if (r->anonymous)
		CHECK(n == STUN_HEADER_LEN);
	else if (r->sha256)
		CHECK(stun_msg__check_integrity_sha256(&m, r->key, r->key_len) == 0);
	else
		CHECK(stun_msg__check_integrity(&m, r->key, r->key_len) == 0);
}

static int check(struct auth *a, const struct stun_msg *m, struct auth_result *r)
{
	int code = auth__check(a, m, client(), NOW, r);

	CHECK(code == r->code);
	CHECK(code == 0 || code == 400 || code == 401 || code == 438);
	CHECK(memchr(r->user, 0, sizeof(r->user)));
	if (code) {
		CHECK(r->why && r->key_len == 0 && r->stale == (code == 438));
		return code;
	}
	CHECK(!r->stale);
	if (!r->anonymous)
		CHECK(r->key_len == (r->alg == STUN_PWALG_MD5 ? 16u : 32u));
	check_sign(r);
	return code;
}

/* A fresh nonce of a's for our client. */
static size_t fresh_nonce(struct auth *a, char *out)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_attr at;
	struct stun_msg m;
	const char *s;
	size_t len;
	ssize_t n;

	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_ERROR, NULL);
	stun_build__error(&b, 401, NULL);
	auth__challenge(a, client(), NOW, &b);
	n = stun_build__finish(&b);
	CHECK(n > 0 && stun_msg__parse(&m, buf, (size_t)n) == 0);
	CHECK(stun_msg__find(&m, STUN_ATTR_NONCE, &at) && !stun_attr__string(&at, &s, &len));
	/* password algorithms, plus username anonymity where static users can be hashed */
	CHECK(len < 128 && !memcmp(s, "obMatJos2", 9) &&
	      (!memcmp(s + 9, "wAAA", 4) || !memcmp(s + 9, "gAAA", 4)));
	memcpy(out, s, len);
	return len;
}

/* The algorithm RFC 8489 §9.2.4 makes the server use; false when it must answer 400. */
static bool expected_alg(const struct stun_msg *m, enum stun_pwalg *alg)
{
	struct stun_attr list, one;
	bool has_list = stun_msg__find(m, STUN_ATTR_PASSWORD_ALGORITHMS, &list);
	bool has_one = stun_msg__find(m, STUN_ATTR_PASSWORD_ALGORITHM, &one);
	uint16_t v;

	*alg = STUN_PWALG_MD5;
	if (!has_list && !has_one)
		return true;
	if (!has_list || !has_one || list.len != 8 || memcmp(list.val, offer_bytes, 8))
		return false;
	if (stun_attr__password_algorithm(&one, &v) || (v != 1 && v != 2))
		return false;
	*alg = (enum stun_pwalg)v;
	return true;
}

static bool text_is(const struct stun_msg *m, uint16_t type, const char *want)
{
	struct stun_attr at;
	const char *s;
	size_t len;

	return stun_msg__find(m, type, &at) && !stun_attr__string(&at, &s, &len) &&
	       len == strlen(want) && !memcmp(s, want, len);
}

static bool rest_password(const char *user, size_t len, char *pw)
{
	uint8_t mac[20];
	unsigned int n = 0;

	CHECK(HMAC(EVP_sha1(), SECRET, sizeof(SECRET) - 1, (const uint8_t *)user, len, mac, &n));
	return EVP_EncodeBlock((unsigned char *)pw, mac, 20) == 28;
}

/* USERNAME "fuzz", or no USERNAME and the USERHASH of "fuzz". */
static bool is_fuzz_user(const struct stun_msg *m)
{
	struct stun_attr at;

	if (stun_msg__find(m, STUN_ATTR_USERNAME, &at))
		return text_is(m, STUN_ATTR_USERNAME, USER);
	return stun_msg__find(m, STUN_ATTR_USERHASH, &at) && at.len == 32 &&
	       !memcmp(at.val, h->userhash, 32);
}

/* The key the client named by USERNAME (or USERHASH) would use; 0 when it has none. */
static size_t user_key(const struct stun_msg *m, bool rest, enum stun_pwalg alg, uint8_t *key)
{
	struct stun_attr at;
	const char *user = USER;
	size_t len = sizeof(USER) - 1;
	char pw[32] = PASS;
	int n;

	if (stun_msg__find(m, STUN_ATTR_USERNAME, &at)) {
		if (stun_attr__string(&at, &user, &len))
			return 0;
	} else if (!stun_msg__find(m, STUN_ATTR_USERHASH, &at)) {
		return 0;
	}
	if (rest && !(len == sizeof(USER) - 1 && !memcmp(user, USER, len)))
		CHECK(rest_password(user, len, pw));
	n = stun_lt_key(alg, user, len, REALM, sizeof(REALM) - 1, pw, strlen(pw), key);
	CHECK(n == 16 || n == 32);
	return (size_t)n;
}

static bool skipped(uint16_t type)
{
	return type == STUN_ATTR_NONCE || type == STUN_ATTR_MESSAGE_INTEGRITY ||
	       type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 || type == STUN_ATTR_FINGERPRINT;
}

/* Re-encode m with our nonce and MACs under key; false if it does not fit. */
static bool rebuild(struct auth *a, const struct stun_msg *m, const uint8_t *key, size_t key_len,
		    struct stun_msg *out)
{
	char nonce[128];
	size_t nonce_len = fresh_nonce(a, nonce);
	struct stun_attr_iter it;
	struct stun_builder b;
	struct stun_attr at;
	ssize_t n;

	stun_build__init(&b, h->buf, sizeof(h->buf), m->method, m->cls, m->tid);
	stun_attr_iter__init(&it, m);
	while (stun_attr_iter__next(&it, &at)) {
		if (at.type == STUN_ATTR_NONCE)
			stun_build__attr(&b, STUN_ATTR_NONCE, nonce, nonce_len);
		else if (!skipped(at.type))
			stun_build__attr(&b, at.type, at.val, at.len);
	}
	if (m->mi_off)
		stun_build__integrity(&b, key, key_len);
	if (m->mi256_off)
		stun_build__integrity_sha256(&b, key, key_len);
	n = stun_build__finish(&b);
	if (n <= 0)
		return false;
	CHECK(stun_msg__parse(out, h->buf, (size_t)n) == 0);
	return true;
}

/* What a rebuilt request from the static user "fuzz" must get (RFC 8489 §9.2.4 order). */
static int predicted(const struct stun_msg *m, bool alg_ok)
{
	struct stun_attr at;
	const char *realm;
	size_t len;

	if (!m->mi_off && !m->mi256_off)
		return 401;
	if (!stun_msg__find(m, STUN_ATTR_REALM, &at) || stun_attr__string(&at, &realm, &len) ||
	    !stun_msg__find(m, STUN_ATTR_NONCE, &at))
		return 400;
	if (!alg_ok)
		return 400;
	return len == sizeof(REALM) - 1 && !memcmp(realm, REALM, len) ? 0 : 401;
}

static void rebuilt(struct auth *a, bool rest, const struct stun_msg *m)
{
	enum stun_pwalg alg;
	bool alg_ok = expected_alg(m, &alg);
	struct auth_result r;
	struct stun_attr at;
	struct stun_msg m2;
	uint8_t key[32];
	size_t key_len = user_key(m, rest, alg, key);
	int want, code;

	if (!key_len || !rebuild(a, m, key, key_len, &m2))
		return;
	code = check(a, &m2, &r);
	if (!is_fuzz_user(&m2))
		return;
	want = predicted(&m2, alg_ok);
	CHECK(code == want);
	/* RFC 8489 §9.2.4: answer with MI-SHA256 unless the client is a legacy one */
	if (code == 0)
		CHECK(r.alg == alg && !strcmp(r.user, USER) &&
		      r.sha256 == (m2.mi256_off ||
				   stun_msg__find(&m2, STUN_ATTR_PASSWORD_ALGORITHMS, &at) ||
				   stun_msg__find(&m2, STUN_ATTR_PASSWORD_ALGORITHM, &at)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_result r;
	struct stun_msg m;

	harness();
	if (stun_msg__parse(&m, data, size))
		return 0;
	CHECK(check(h->none, &m, &r) == 0 && r.anonymous);
	check(h->lt, &m, &r);
	check(h->rest, &m, &r);
	rebuilt(h->lt, false, &m);
	rebuilt(h->rest, true, &m);
	return 0;
}
