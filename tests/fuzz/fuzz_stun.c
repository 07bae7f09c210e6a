// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the STUN decoder.
 *
 * Parse the input; on success iterate the visible attributes and call every
 * typed getter on each, check integrity (fixed key) and fingerprint. Every
 * value a getter accepts is encoded again with the matching typed encoder
 * and must decode to the same value; the whole message is re-encoded
 * attribute by attribute with the builder and must decode to the same
 * visible attributes (decode(encode(x)) == x). Any mismatch abort()s.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "kturn/stun.h"

#include "fuzz.h"

static const uint8_t fuzz_key[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const uint8_t fuzz_tid[STUN_TID_LEN] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
					       0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

/* A one-attribute message built by `b`, parsed; its single attribute in *a. */
static struct {
	uint8_t buf[2048];
	struct stun_builder b;
	struct stun_msg m;
} scratch;

static struct stun_builder *start(void)
{
	stun_build__init(&scratch.b, scratch.buf, sizeof(scratch.buf), STUN_BINDING, STUN_SUCCESS,
			 fuzz_tid);
	return &scratch.b;
}

static void reparse(uint16_t type, struct stun_attr *a)
{
	ssize_t n = stun_build__finish(&scratch.b);

	CHECK(n > 0);
	CHECK(stun_msg__parse(&scratch.m, scratch.buf, (size_t)n) == 0);
	CHECK(stun_msg__find(&scratch.m, type, a));
}

static size_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void addr_roundtrip(const struct stun_attr *a)
{
	struct sockaddr_storage in, out;
	struct stun_attr r;

	if (stun_attr__addr(a, &in) == 0) {
		stun_build__addr(start(), a->type, (struct sockaddr *)&in);
		reparse(a->type, &r);
		CHECK(stun_attr__addr(&r, &out) == 0);
		CHECK(memcmp(&in, &out, sa_len(&in)) == 0);
	}
	if (stun_attr__xaddr(a, fuzz_tid, &in) == 0) {
		stun_build__xaddr(start(), a->type, (struct sockaddr *)&in);
		reparse(a->type, &r);
		/* Byte 0 is ignored on input and always written as zero. */
		CHECK(r.len == a->len && r.val[0] == 0 &&
		      memcmp(r.val + 1, a->val + 1, a->len - 1u) == 0);
		CHECK(stun_attr__xaddr(&r, fuzz_tid, &out) == 0);
		CHECK(memcmp(&in, &out, sa_len(&in)) == 0);
	}
}

static void int_roundtrip(const struct stun_attr *a)
{
	struct stun_attr r;
	uint64_t v64, w64;
	uint32_t v32, w32;

	if (stun_attr__u32(a, &v32) == 0) {
		stun_build__u32(start(), a->type, v32);
		reparse(a->type, &r);
		CHECK(stun_attr__u32(&r, &w32) == 0 && w32 == v32);
	}
	if (stun_attr__u64(a, &v64) == 0) {
		stun_build__u64(start(), a->type, v64);
		reparse(a->type, &r);
		CHECK(stun_attr__u64(&r, &w64) == 0 && w64 == v64);
	}
}

/* Copy a counted string so it can go back through the NUL-terminated encoders. */
static char *dup_text(const char *s, size_t len)
{
	char *t = malloc(len + 1);

	CHECK(t);
	memcpy(t, s, len);
	t[len] = '\0';
	return t;
}

static void same_code(const struct stun_attr *r, uint8_t family, int code, const char *reason,
		      size_t len)
{
	const char *s;
	uint8_t f = 0;
	size_t n;
	int c;

	if (r->type == STUN_ATTR_ADDRESS_ERROR_CODE)
		CHECK(stun_attr__address_error(r, &f, &c, &s, &n) == 0 && f == family);
	else
		CHECK(stun_attr__error(r, &c, &s, &n) == 0);
	CHECK(c == code && n == len && memcmp(s, reason, n) == 0);
}

static void code_roundtrip(const struct stun_attr *a)
{
	struct stun_attr r;
	const char *reason;
	size_t len;
	uint8_t family;
	int code;
	char *t;

	if (stun_attr__error(a, &code, &reason, &len) == 0) {
		t = dup_text(reason, len);
		stun_build__error(start(), code, t);
		reparse(STUN_ATTR_ERROR_CODE, &r);
		same_code(&r, 0, code, reason, len);
		free(t);
	}
	if (stun_attr__address_error(a, &family, &code, &reason, &len) == 0) {
		t = dup_text(reason, len);
		stun_build__address_error(start(), family, code, t);
		reparse(STUN_ATTR_ADDRESS_ERROR_CODE, &r);
		same_code(&r, family, code, reason, len);
		free(t);
	}
}

static void string_roundtrip(const struct stun_attr *a)
{
	struct stun_attr r;
	const char *s, *s2;
	size_t len, len2;
	char *t;

	if (stun_attr__string(a, &s, &len))
		return;
	t = dup_text(s, len);
	stun_build__string(start(), a->type, t);
	reparse(a->type, &r);
	CHECK(stun_attr__string(&r, &s2, &len2) == 0);
	CHECK(len2 == len && memcmp(s2, s, len) == 0);
	free(t);
}

static void small_roundtrip(const struct stun_attr *a)
{
	uint8_t u8, w8, type, code, t2, c2;
	uint32_t data, d2;
	uint16_t ch, ch2;
	struct stun_attr r;
	bool b, b2;

	if (stun_attr__channel(a, &ch) == 0) {
		stun_build__channel(start(), ch);
		reparse(STUN_ATTR_CHANNEL_NUMBER, &r);
		CHECK(stun_attr__channel(&r, &ch2) == 0 && ch2 == ch);
	}
	if (stun_attr__transport(a, &u8) == 0) {
		stun_build__transport(start(), u8);
		reparse(STUN_ATTR_REQUESTED_TRANSPORT, &r);
		CHECK(stun_attr__transport(&r, &w8) == 0 && w8 == u8);
	}
	if (stun_attr__family(a, &u8) == 0) {
		stun_build__family(start(), a->type, u8);
		reparse(a->type, &r);
		CHECK(stun_attr__family(&r, &w8) == 0 && w8 == u8);
	}
	if (stun_attr__even_port(a, &b) == 0) {
		stun_build__even_port(start(), b);
		reparse(STUN_ATTR_EVEN_PORT, &r);
		CHECK(stun_attr__even_port(&r, &b2) == 0 && b2 == b);
	}
	if (stun_attr__icmp(a, &type, &code, &data) == 0) {
		stun_build__icmp(start(), type, code, data);
		reparse(STUN_ATTR_ICMP, &r);
		CHECK(stun_attr__icmp(&r, &t2, &c2, &d2) == 0);
		CHECK(t2 == type && c2 == code && d2 == data);
	}
}

static void list_roundtrip(const struct stun_attr *a)
{
	uint16_t v[STUN_MAX_UNKNOWN], w[STUN_MAX_UNKNOWN], alg, alg2;
	struct stun_attr r;
	size_t n, n2;

	if (stun_attr__password_algorithms(a, v, STUN_MAX_UNKNOWN, &n) == 0 && n) {
		stun_build__password_algorithms(start(), v, n);
		reparse(STUN_ATTR_PASSWORD_ALGORITHMS, &r);
		CHECK(stun_attr__password_algorithms(&r, w, STUN_MAX_UNKNOWN, &n2) == 0);
		CHECK(n2 == n && memcmp(v, w, n * sizeof(v[0])) == 0);
	}
	if (stun_attr__password_algorithm(a, &alg) == 0) {
		stun_build__password_algorithm(start(), alg);
		reparse(STUN_ATTR_PASSWORD_ALGORITHM, &r);
		CHECK(stun_attr__password_algorithm(&r, &alg2) == 0 && alg2 == alg);
	}
	if (stun_attr__unknown(a, v, STUN_MAX_UNKNOWN, &n) == 0 && n) {
		stun_build__unknown(start(), v, n);
		reparse(STUN_ATTR_UNKNOWN_ATTRIBUTES, &r);
		CHECK(stun_attr__unknown(&r, w, STUN_MAX_UNKNOWN, &n2) == 0);
		CHECK(n2 == n && memcmp(v, w, n * sizeof(v[0])) == 0);
	}
}

static bool is_integrity(uint16_t type)
{
	return type == STUN_ATTR_MESSAGE_INTEGRITY || type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
	       type == STUN_ATTR_FINGERPRINT;
}

/* Sign the visible attributes afresh: the builder's MACs and CRC must verify. */
static void resign(const struct stun_msg *m)
{
	size_t cap = m->len + 24 + 36 + 8;
	uint8_t *buf = malloc(cap);
	struct stun_attr_iter it;
	struct stun_builder b;
	struct stun_attr a;
	struct stun_msg m2;
	ssize_t n;

	CHECK(buf);
	stun_build__init(&b, buf, cap, m->method, m->cls, m->tid);
	stun_attr_iter__init(&it, m);
	while (stun_attr_iter__next(&it, &a))
		if (!is_integrity(a.type))
			stun_build__attr(&b, a.type, a.val, a.len);
	stun_build__integrity(&b, fuzz_key, sizeof(fuzz_key) - 1);
	stun_build__integrity_sha256(&b, fuzz_key, sizeof(fuzz_key) - 1);
	stun_build__fingerprint(&b);
	n = stun_build__finish(&b);
	CHECK(n > 0);
	CHECK(stun_msg__parse(&m2, buf, (size_t)n) == 0);
	CHECK(stun_msg__check_integrity(&m2, fuzz_key, sizeof(fuzz_key) - 1) == 0);
	CHECK(stun_msg__check_integrity_sha256(&m2, fuzz_key, sizeof(fuzz_key) - 1) == 0);
	CHECK(stun_msg__check_fingerprint(&m2) == 0);
	free(buf);
}

/* Text attributes double as credentials: SASLprep and the key derivations on fuzzed UTF-8. */
static void credentials(const struct stun_attr *a)
{
	uint8_t key[32], hash[32];
	const char *s;
	size_t len;
	int rc;

	if (stun_attr__string(a, &s, &len))
		return;
	stun_userhash(s, len, "realm", 5, hash);
	rc = stun_lt_key(STUN_PWALG_MD5, "user", 4, "realm", 5, s, len, key);
	CHECK(rc == 16 || rc == -EINVAL);
	rc = stun_lt_key(STUN_PWALG_SHA256, s, len, s, len, s, len, key);
	CHECK(rc == 32 || rc == -EINVAL);
}

/* Every getter on every attribute, whatever its type; accepted values go round again. */
static void poke(const struct stun_msg *m, const struct stun_attr *a)
{
	struct sockaddr_storage ss;

	CHECK(a->val >= m->buf + STUN_HEADER_LEN + STUN_ATTR_HDR_LEN);
	CHECK(a->val + a->len <= m->buf + m->len);
	stun_attr__xaddr(a, m->tid, &ss);
	addr_roundtrip(a);
	int_roundtrip(a);
	code_roundtrip(a);
	string_roundtrip(a);
	small_roundtrip(a);
	list_roundtrip(a);
	credentials(a);
}

static bool known(uint16_t type)
{
	return type <= STUN_ATTR_XOR_MAPPED_ADDRESS;
}

/* Re-encode the visible attributes; the copy must show exactly the same ones. */
static void reencode(const struct stun_msg *m)
{
	struct stun_attr_iter it, it2;
	struct stun_attr a, b;
	struct stun_builder bld;
	struct stun_msg m2;
	uint8_t *buf = malloc(m->len);
	ssize_t n;

	CHECK(buf);
	stun_build__init(&bld, buf, m->len, m->method, m->cls, m->tid);
	stun_attr_iter__init(&it, m);
	while (stun_attr_iter__next(&it, &a))
		stun_build__attr(&bld, a.type, a.val, a.len);
	n = stun_build__finish(&bld);
	CHECK(n > 0 && (size_t)n <= m->len);
	CHECK(stun_msg__parse(&m2, buf, (size_t)n) == 0);
	CHECK(m2.type == m->type && memcmp(m2.tid, m->tid, STUN_TID_LEN) == 0);
	stun_attr_iter__init(&it, m);
	stun_attr_iter__init(&it2, &m2);
	while (stun_attr_iter__next(&it, &a)) {
		CHECK(stun_attr_iter__next(&it2, &b));
		CHECK(a.type == b.type && a.len == b.len && memcmp(a.val, b.val, a.len) == 0);
	}
	CHECK(!stun_attr_iter__next(&it2, &b));
	CHECK(!m->fp_off == !m2.fp_off && !m->mi_off == !m2.mi_off);
	CHECK(!m->mi256_off == !m2.mi256_off);
	free(buf);
}

static void poke_other_decoders(const uint8_t *data, size_t size)
{
	const uint8_t *payload;
	size_t dlen;
	uint16_t ch;

	stun_msg__looks_like(data, size);
	if (stun_channel__parse(data, size, false, &ch, &payload, &dlen) == 0)
		CHECK(stun_channel_any(ch) && payload + dlen <= data + size);
	if (stun_channel__parse(data, size, true, &ch, &payload, &dlen) == 0)
		CHECK(payload + dlen <= data + size && (size & 3) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_attr_iter it;
	struct stun_attr a, first;
	struct stun_msg m;
	uint16_t unknown[STUN_MAX_UNKNOWN];

	poke_other_decoders(data, size);
	if (stun_msg__parse(&m, data, size))
		return 0;
	CHECK(m.len == size && size % 4 == 0 && m.visible_end <= size);
	CHECK(stun_msg__looks_like(data, size));
	stun_attr_iter__init(&it, &m);
	while (stun_attr_iter__next(&it, &a)) {
		poke(&m, &a);
		CHECK(stun_msg__find(&m, a.type, &first));
	}
	CHECK(stun_msg__unknown_required(&m, known, unknown, STUN_MAX_UNKNOWN) <= STUN_MAX_UNKNOWN);
	stun_msg__check_integrity(&m, fuzz_key, sizeof(fuzz_key) - 1);
	stun_msg__check_integrity_sha256(&m, fuzz_key, sizeof(fuzz_key) - 1);
	stun_msg__check_fingerprint(&m);
	reencode(&m);
	resign(&m);
	return 0;
}
