// SPDX-License-Identifier: MIT
/*
 * Published STUN test vectors: RFC 5769 §2.1-2.4 and RFC 8489 Appendix B.1
 * (as corrected by erratum 6268). Each vector is decoded and checked
 * (attributes, MESSAGE-INTEGRITY[-SHA256], FINGERPRINT), encoded again with
 * the builder and compared byte for byte, and every truncated prefix is
 * rejected by the parser and reported as "need more" by the stream framer.
 *
 * The vectors' MACs and CRCs are checked cryptographically below, so a
 * mistyped byte fails the tests rather than going unnoticed.
 * Test vectors: Copyright (c) 2010, 2020 IETF Trust and the persons
 * identified as the document authors (Simplified BSD License).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <openssl/evp.h>

#include "kturn/stun.h"

/*
 * RFC 5769 §2.1 Sample Request: Binding request with SOFTWARE "STUN test
 * client", PRIORITY, ICE-CONTROLLED, USERNAME "evtj:h6vY" (padded with three
 * 0x20 bytes, not zeros), MESSAGE-INTEGRITY with the short-term password
 * "VOkJxbRl1RmTxUk/WvJxBt", FINGERPRINT.
 */
static const uint8_t rfc5769_request[] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e,
	0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24,
	0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
	0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68,
	0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
	0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5,
	0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 §2.2 Sample IPv4 Response: XOR-MAPPED-ADDRESS 192.0.2.1:32853. */
static const uint8_t rfc5769_ipv4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
	0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
	0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
	0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
	0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/*
 * RFC 5769 §2.3 Sample IPv6 Response: XOR-MAPPED-ADDRESS
 * [2001:db8:1234:5678:11:2233:4455:6677]:32853.
 */
static const uint8_t rfc5769_ipv6[] = {
	0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
	0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02,
	0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
	0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6,
	0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
	0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/*
 * RFC 5769 §2.4 Sample Request with Long-Term Authentication: USERNAME
 * U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9, NONCE, REALM "example.org",
 * MESSAGE-INTEGRITY under MD5(username ":" realm ":" SASLprep(password)).
 */
static const uint8_t rfc5769_long_term[] = {
	0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
	0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
	0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
	0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
	0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
	0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
	0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
	0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};

/*
 * RFC 8489 Appendix B.1 (request with long-term authentication, USERHASH,
 * MESSAGE-INTEGRITY-SHA256) as corrected by erratum 6268
 * (https://www.rfc-editor.org/errata/eid6268). The erratum changed three
 * things in the published vector:
 *  - the header length was 0x9c, the length of the whole message including
 *    the 20-byte header; a STUN length excludes the header;
 *  - a PASSWORD-ALGORITHM attribute (SHA-256, no parameters) is added, since
 *    the key is the non-default SHA-256 long-term key; with it the length
 *    becomes 0x90;
 *  - MESSAGE-INTEGRITY-SHA256 is recomputed over the corrected message.
 * (The published MAC turns out to have been computed over a header carrying
 * the bad 0x9c length; see test_rfc8489_b1_published_is_broken.)
 */
#include "rfc8489_b1.h" /* rfc8489_b1[], lt_user, lt_pass, lt_realm */

/* RFC 8489 Appendix B.1 as published, before erratum 6268. */
static const uint8_t rfc8489_b1_published[] = {
	0x00, 0x01, 0x00, 0x9c, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
	0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x1e, 0x00, 0x20, 0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69,
	0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17, 0xda, 0x0f, 0x24, 0x81, 0x94, 0x15, 0x56,
	0x9e, 0x60, 0xb2, 0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f, 0x17, 0x04, 0x00, 0x15, 0x00, 0x29,
	0x6f, 0x62, 0x4d, 0x61, 0x74, 0x4a, 0x6f, 0x73, 0x32, 0x41, 0x41, 0x41, 0x43, 0x66, 0x2f,
	0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36, 0x4f, 0x4c, 0x33, 0x34, 0x6f,
	0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73, 0x41, 0x00, 0x00, 0x00, 0x00,
	0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00,
	0x00, 0x1c, 0x00, 0x20, 0xe4, 0x68, 0x6c, 0x8f, 0x0e, 0xde, 0xb5, 0x90, 0x13, 0xe0, 0x70,
	0x90, 0x01, 0x0a, 0x93, 0xef, 0xcc, 0xbc, 0xcc, 0x54, 0x4c, 0x0a, 0x45, 0xd9, 0xf8, 0x30,
	0xaa, 0x6d, 0x6f, 0x73, 0x5a, 0x01,
};

static const char short_term_pw[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const char lt_nonce_5769[] = "f//499k954d6OL34oL9FSTvy64sA";
static const char lt_nonce_8489[] = "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA";

#define VEC(v)                                                                                     \
	{                                                                                          \
#v, v, sizeof(v)                                                                   \
	}

static const struct vector {
	const char *name;
	const uint8_t *buf;
	size_t len;
} vectors[] = {
	VEC(rfc5769_request),	VEC(rfc5769_ipv4), VEC(rfc5769_ipv6),
	VEC(rfc5769_long_term), VEC(rfc8489_b1),
};

#define N_VECTORS (sizeof(vectors) / sizeof(vectors[0]))

static void parse_ok(struct stun_msg *m, const uint8_t *buf, size_t len)
{
	assert_int_equal(stun_msg__parse(m, buf, len), 0);
}

static void assert_string_attr(const struct stun_msg *m, uint16_t type, const char *want)
{
	struct stun_attr a;
	const char *s;
	size_t len;

	assert_true(stun_msg__find(m, type, &a));
	assert_int_equal(stun_attr__string(&a, &s, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(s, want, len);
}

static void assert_xaddr(const struct stun_msg *m, int family, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct stun_attr a;
	char text[INET6_ADDRSTRLEN];
	const void *addr;

	assert_true(stun_msg__find(m, STUN_ATTR_XOR_MAPPED_ADDRESS, &a));
	assert_int_equal(stun_attr__xaddr(&a, m->tid, &ss), 0);
	assert_int_equal(ss.ss_family, family);
	if (family == AF_INET) {
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
		assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), port);
	} else {
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), port);
	}
	assert_non_null(inet_ntop(family, addr, text, sizeof(text)));
	assert_string_equal(text, ip);
}

static void test_rfc5769_request(void **state)
{
	static const uint8_t tid[] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
				      0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
	struct stun_msg m;
	struct stun_attr a;
	uint32_t prio;
	uint64_t tie;

	parse_ok(&m, rfc5769_request, sizeof(rfc5769_request));
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_memory_equal(m.tid, tid, STUN_TID_LEN);
	assert_string_attr(&m, STUN_ATTR_SOFTWARE, "STUN test client");
	assert_string_attr(&m, STUN_ATTR_USERNAME, "evtj:h6vY");
	assert_true(stun_msg__find(&m, STUN_ATTR_PRIORITY, &a));
	assert_int_equal(stun_attr__u32(&a, &prio), 0);
	assert_int_equal(prio, 0x6e0001ff);
	assert_true(stun_msg__find(&m, STUN_ATTR_ICE_CONTROLLED, &a));
	assert_int_equal(stun_attr__u64(&a, &tie), 0);
	assert_true(tie == 0x932ff9b151263b36ull);
	assert_int_equal(stun_msg__check_integrity(&m, (const uint8_t *)short_term_pw,
						   strlen(short_term_pw)),
			 0);
	assert_int_equal(stun_msg__check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBu",
						   strlen(short_term_pw)),
			 -EACCES);
	assert_int_equal(stun_msg__check_integrity_sha256(&m, (const uint8_t *)"x", 1), -ENOENT);
	assert_int_equal(stun_msg__check_fingerprint(&m), 0);
}

static void test_rfc5769_ipv4(void **state)
{
	struct stun_msg m;

	parse_ok(&m, rfc5769_ipv4, sizeof(rfc5769_ipv4));
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_SUCCESS);
	assert_string_attr(&m, STUN_ATTR_SOFTWARE, "test vector");
	assert_xaddr(&m, AF_INET, "192.0.2.1", 32853);
	assert_int_equal(stun_msg__check_integrity(&m, (const uint8_t *)short_term_pw,
						   strlen(short_term_pw)),
			 0);
	assert_int_equal(stun_msg__check_fingerprint(&m), 0);
}

static void test_rfc5769_ipv6(void **state)
{
	struct stun_msg m;

	parse_ok(&m, rfc5769_ipv6, sizeof(rfc5769_ipv6));
	assert_int_equal(m.cls, STUN_SUCCESS);
	assert_string_attr(&m, STUN_ATTR_SOFTWARE, "test vector");
	assert_xaddr(&m, AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	assert_int_equal(stun_msg__check_integrity(&m, (const uint8_t *)short_term_pw,
						   strlen(short_term_pw)),
			 0);
	assert_int_equal(stun_msg__check_fingerprint(&m), 0);
}

/* MD5 or SHA-256 of "user:realm:pass", computed here without the codec. */
static void plain_digest(const EVP_MD *md, const char *pass, uint8_t *out)
{
	char text[128];
	int n = snprintf(text, sizeof(text), "%s:%s:%s", lt_user, lt_realm, pass);

	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(EVP_Digest(text, (size_t)n, out, NULL, md, NULL), 1);
}

static int lt_key(enum stun_pwalg alg, const char *pass, uint8_t key[32])
{
	return stun_lt_key(alg, lt_user, strlen(lt_user), lt_realm, strlen(lt_realm), pass,
			   strlen(pass), key);
}

static void test_rfc5769_long_term(void **state)
{
	uint8_t key[32], prepped[32], want[16];
	struct stun_msg m;

	parse_ok(&m, rfc5769_long_term, sizeof(rfc5769_long_term));
	assert_string_attr(&m, STUN_ATTR_USERNAME, lt_user);
	assert_string_attr(&m, STUN_ATTR_NONCE, lt_nonce_5769);
	assert_string_attr(&m, STUN_ATTR_REALM, lt_realm);

	/* SASLprep maps U+00AD to nothing, U+00AA to "a", U+2168 to "IX". */
	assert_int_equal(lt_key(STUN_PWALG_MD5, lt_pass, key), 16);
	assert_int_equal(lt_key(STUN_PWALG_MD5, "TheMatrIX", prepped), 16);
	assert_memory_equal(key, prepped, 16);
	plain_digest(EVP_md5(), "TheMatrIX", want);
	assert_memory_equal(key, want, 16);

	assert_int_equal(stun_msg__check_integrity(&m, key, 16), 0);
	key[15] ^= 1;
	assert_int_equal(stun_msg__check_integrity(&m, key, 16), -EACCES);
	assert_int_equal(stun_msg__check_fingerprint(&m), -ENOENT);
}

static void test_rfc8489_b1(void **state)
{
	uint8_t key[32], want[32], hash[32];
	struct stun_msg m;
	struct stun_attr a;
	uint16_t alg;

	parse_ok(&m, rfc8489_b1, sizeof(rfc8489_b1));
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_string_attr(&m, STUN_ATTR_NONCE, lt_nonce_8489);
	assert_string_attr(&m, STUN_ATTR_REALM, lt_realm);
	assert_false(stun_msg__find(&m, STUN_ATTR_USERNAME, &a));

	assert_true(stun_msg__find(&m, STUN_ATTR_USERHASH, &a));
	assert_int_equal(a.len, 32);
	stun_userhash(lt_user, strlen(lt_user), lt_realm, strlen(lt_realm), hash);
	assert_memory_equal(a.val, hash, 32);

	assert_true(stun_msg__find(&m, STUN_ATTR_PASSWORD_ALGORITHM, &a));
	assert_int_equal(stun_attr__password_algorithm(&a, &alg), 0);
	assert_int_equal(alg, STUN_PWALG_SHA256);

	assert_int_equal(lt_key(STUN_PWALG_SHA256, lt_pass, key), 32);
	plain_digest(EVP_sha256(), "TheMatrIX", want);
	assert_memory_equal(key, want, 32);
	assert_int_equal(stun_msg__check_integrity_sha256(&m, key, 32), 0);
	assert_int_equal(stun_msg__check_integrity(&m, key, 32), -ENOENT);
	key[0] ^= 0x80;
	assert_int_equal(stun_msg__check_integrity_sha256(&m, key, 32), -EACCES);
}

/* What erratum 6268 fixed: the published bytes do not parse, and do not verify once they do. */
static void test_rfc8489_b1_published_is_broken(void **state)
{
	uint8_t buf[sizeof(rfc8489_b1_published)], key[32];
	struct stun_msg m;

	assert_int_equal(stun_msg__parse(&m, rfc8489_b1_published, sizeof(buf)), -EBADMSG);
	memcpy(buf, rfc8489_b1_published, sizeof(buf));
	buf[3] = (uint8_t)(sizeof(buf) - STUN_HEADER_LEN);
	parse_ok(&m, buf, sizeof(buf));
	assert_int_equal(lt_key(STUN_PWALG_SHA256, lt_pass, key), 32);
	assert_int_equal(stun_msg__check_integrity_sha256(&m, key, 32), -EACCES);
}

/* Encoders --------------------------------------------------------------- */

static void assert_built(struct stun_builder *b, const uint8_t *want, size_t len)
{
	ssize_t n = stun_build__finish(b);

	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(b->buf, want, len);
}

/*
 * RFC 5769 pads USERNAME/SOFTWARE with 0x20 where RFC 8489 asks for zeros.
 * The builder writes zeros; to reproduce the vectors byte for byte the test
 * overwrites the padding of the attribute just written with 0x20, before
 * MESSAGE-INTEGRITY and FINGERPRINT are computed over it.
 */
static void space_pad(struct stun_builder *b, size_t value_len)
{
	size_t pad = (4 - value_len % 4) % 4;

	memset(b->buf + b->len - pad, 0x20, pad);
}

static void build_5769_request(struct stun_builder *b, uint8_t *buf, size_t cap, bool spaces)
{
	stun_build__init(b, buf, cap, STUN_BINDING, STUN_REQUEST, rfc5769_request + 8);
	stun_build__string(b, STUN_ATTR_SOFTWARE, "STUN test client");
	stun_build__u32(b, STUN_ATTR_PRIORITY, 0x6e0001ff);
	stun_build__u64(b, STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ull);
	stun_build__string(b, STUN_ATTR_USERNAME, "evtj:h6vY");
	if (spaces)
		space_pad(b, strlen("evtj:h6vY"));
	stun_build__integrity(b, (const uint8_t *)short_term_pw, strlen(short_term_pw));
	stun_build__fingerprint(b);
}

static void test_encode_rfc5769_request(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;
	size_t pad_at = 20 + 20 + 8 + 12 + 4 + 9;

	build_5769_request(&b, buf, sizeof(buf), true);
	assert_built(&b, rfc5769_request, sizeof(rfc5769_request));

	/* With zero padding: same bytes up to the padding, and still self-consistent. */
	build_5769_request(&b, buf, sizeof(buf), false);
	assert_int_equal(stun_build__finish(&b), sizeof(rfc5769_request));
	assert_memory_equal(buf, rfc5769_request, pad_at);
	assert_memory_equal(buf + pad_at, "\0\0\0", 3);
	assert_memory_equal(buf + pad_at + 3, rfc5769_request + pad_at + 3, 4);
	parse_ok(&m, buf, sizeof(rfc5769_request));
	assert_int_equal(stun_msg__check_integrity(&m, (const uint8_t *)short_term_pw,
						   strlen(short_term_pw)),
			 0);
	assert_int_equal(stun_msg__check_fingerprint(&m), 0);
}

static void build_5769_response(struct stun_builder *b, uint8_t *buf, size_t cap,
				const struct sockaddr *sa)
{
	stun_build__init(b, buf, cap, STUN_BINDING, STUN_SUCCESS, rfc5769_ipv4 + 8);
	stun_build__string(b, STUN_ATTR_SOFTWARE, "test vector");
	space_pad(b, strlen("test vector"));
	stun_build__xaddr(b, STUN_ATTR_XOR_MAPPED_ADDRESS, sa);
	stun_build__integrity(b, (const uint8_t *)short_term_pw, strlen(short_term_pw));
	stun_build__fingerprint(b);
}

static void test_encode_rfc5769_ipv4(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(32853)};
	struct stun_builder b;
	uint8_t buf[256];

	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr), 1);
	build_5769_response(&b, buf, sizeof(buf), (struct sockaddr *)&sin);
	assert_built(&b, rfc5769_ipv4, sizeof(rfc5769_ipv4));
}

static void test_encode_rfc5769_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(32853)};
	struct stun_builder b;
	uint8_t buf[256];

	assert_int_equal(
		inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &sin6.sin6_addr), 1);
	build_5769_response(&b, buf, sizeof(buf), (struct sockaddr *)&sin6);
	assert_built(&b, rfc5769_ipv6, sizeof(rfc5769_ipv6));
}

static void test_encode_rfc5769_long_term(void **state)
{
	struct stun_builder b;
	uint8_t buf[256], key[32];

	assert_int_equal(lt_key(STUN_PWALG_MD5, lt_pass, key), 16);
	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, rfc5769_long_term + 8);
	stun_build__string(&b, STUN_ATTR_USERNAME, lt_user);
	stun_build__string(&b, STUN_ATTR_NONCE, lt_nonce_5769);
	stun_build__string(&b, STUN_ATTR_REALM, lt_realm);
	stun_build__integrity(&b, key, 16);
	assert_built(&b, rfc5769_long_term, sizeof(rfc5769_long_term));
}

static void test_encode_rfc8489_b1(void **state)
{
	struct stun_builder b;
	uint8_t buf[256], key[32], hash[32];

	assert_int_equal(lt_key(STUN_PWALG_SHA256, lt_pass, key), 32);
	stun_userhash(lt_user, strlen(lt_user), lt_realm, strlen(lt_realm), hash);
	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, rfc8489_b1 + 8);
	stun_build__attr(&b, STUN_ATTR_USERHASH, hash, sizeof(hash));
	stun_build__string(&b, STUN_ATTR_NONCE, lt_nonce_8489);
	stun_build__string(&b, STUN_ATTR_REALM, lt_realm);
	stun_build__password_algorithm(&b, STUN_PWALG_SHA256);
	stun_build__integrity_sha256(&b, key, 32);
	assert_built(&b, rfc8489_b1, sizeof(rfc8489_b1));
}

/* Truncation ------------------------------------------------------------- */

static void test_truncated_prefixes_rejected(void **state)
{
	for (size_t v = 0; v < N_VECTORS; v++) {
		const struct vector *t = &vectors[v];
		struct stun_msg m;

		for (size_t n = 0; n < t->len; n++) {
			if (stun_msg__parse(&m, t->buf, n) != -EBADMSG)
				fail_msg("%s: prefix of %zu bytes accepted", t->name, n);
			if (stun_msg__looks_like(t->buf, n))
				fail_msg("%s: prefix of %zu bytes looks like STUN", t->name, n);
		}
		assert_int_equal(stun_msg__parse(&m, t->buf, t->len), 0);
		assert_true(stun_msg__looks_like(t->buf, t->len));
	}
}

/* A trailing byte beyond the header's length is not part of the message. */
static void test_trailing_bytes_rejected(void **state)
{
	uint8_t buf[256];

	for (size_t v = 0; v < N_VECTORS; v++) {
		const struct vector *t = &vectors[v];
		struct stun_msg m;

		memcpy(buf, t->buf, t->len);
		memset(buf + t->len, 0, 4);
		assert_int_equal(stun_msg__parse(&m, buf, t->len + 4), -EBADMSG);
	}
}

static size_t expected_need(size_t avail, size_t total)
{
	if (avail == 0)
		return STUN_CHANNEL_HDR_LEN;
	return avail < STUN_HEADER_LEN ? STUN_HEADER_LEN : total;
}

static void test_truncated_prefixes_need_more(void **state)
{
	for (size_t v = 0; v < N_VECTORS; v++) {
		const struct vector *t = &vectors[v];
		struct stun_frame f;

		for (size_t n = 0; n < t->len; n++) {
			enum stun_frame_status st =
				stun_frame__next(t->buf, n, STUN_MAX_MSG_LEN, &f);

			if (st != STUN_FRAME_NEED || f.need != expected_need(n, t->len))
				fail_msg("%s: prefix %zu: status %d need %zu", t->name, n, st,
					 f.need);
		}
		assert_int_equal(stun_frame__next(t->buf, t->len, STUN_MAX_MSG_LEN, &f),
				 STUN_FRAME_OK);
		assert_int_equal(f.kind, STUN_FRAME_STUN);
		assert_int_equal(f.len, t->len);
		/* One byte short of the limit: oversize. */
		assert_int_equal(stun_frame__next(t->buf, t->len, t->len - 1, &f),
				 STUN_FRAME_INVALID);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5769_request),
		cmocka_unit_test(test_rfc5769_ipv4),
		cmocka_unit_test(test_rfc5769_ipv6),
		cmocka_unit_test(test_rfc5769_long_term),
		cmocka_unit_test(test_rfc8489_b1),
		cmocka_unit_test(test_rfc8489_b1_published_is_broken),
		cmocka_unit_test(test_encode_rfc5769_request),
		cmocka_unit_test(test_encode_rfc5769_ipv4),
		cmocka_unit_test(test_encode_rfc5769_ipv6),
		cmocka_unit_test(test_encode_rfc5769_long_term),
		cmocka_unit_test(test_encode_rfc8489_b1),
		cmocka_unit_test(test_truncated_prefixes_rejected),
		cmocka_unit_test(test_trailing_bytes_rejected),
		cmocka_unit_test(test_truncated_prefixes_need_more),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
