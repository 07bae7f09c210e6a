// SPDX-License-Identifier: MIT
/*
 * STUN codec behaviour beyond the published vectors: header and TLV
 * validation, the attributes RFC 8489 §14.5/§14.6 tells receivers to ignore,
 * integrity/fingerprint failures, encode->decode round trips for every typed
 * encoder, malformed values rejected by every getter, builder errors and
 * ChannelData.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>

#include "kturn/net.h"
#include "kturn/stun.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t tid[STUN_TID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const uint8_t key[] = "a long-term key, 16+ bytes";
#define KEY_LEN (sizeof(key) - 1)

static void parse_ok(struct stun_msg *m, const uint8_t *buf, size_t len)
{
	assert_int_equal(stun_msg__parse(m, buf, len), 0);
}

static size_t finish_ok(struct stun_builder *b)
{
	ssize_t n = stun_build__finish(b);

	assert_true(n >= STUN_HEADER_LEN);
	return (size_t)n;
}

static void make_sa(struct sockaddr_storage *ss, int family, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	}
}

static void assert_sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	size_t len =
		a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	assert_int_equal(a->ss_family, b->ss_family);
	assert_memory_equal(a, b, len);
}

/* A message with integrity and fingerprint: SOFTWARE, LIFETIME, USERNAME, MI, FP. */
static size_t build_signed(uint8_t *buf, size_t cap)
{
	struct stun_builder b;

	stun_build__init(&b, buf, cap, TURN_REFRESH, STUN_REQUEST, tid);
	stun_build__string(&b, STUN_ATTR_SOFTWARE, "kturn test");
	stun_build__u32(&b, STUN_ATTR_LIFETIME, 600);
	stun_build__string(&b, STUN_ATTR_USERNAME, "alice");
	stun_build__integrity(&b, key, KEY_LEN);
	stun_build__fingerprint(&b);
	return finish_ok(&b);
}

/* Header and TLV validation --------------------------------------------------- */

static void test_parse_basic(void **state)
{
	uint8_t buf[256];
	size_t len = build_signed(buf, sizeof(buf));
	static const uint16_t order[] = {STUN_ATTR_SOFTWARE, STUN_ATTR_LIFETIME, STUN_ATTR_USERNAME,
					 STUN_ATTR_MESSAGE_INTEGRITY, STUN_ATTR_FINGERPRINT};
	struct stun_attr_iter it;
	struct stun_attr a;
	struct stun_msg m;
	size_t n = 0;

	parse_ok(&m, buf, len);
	assert_int_equal(m.method, TURN_REFRESH);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_int_equal(m.type, 0x0004);
	assert_memory_equal(m.tid, tid, STUN_TID_LEN);
	assert_int_equal(m.len, len);
	stun_attr_iter__init(&it, &m);
	while (stun_attr_iter__next(&it, &a)) {
		assert_true(n < ARRAY_SIZE(order));
		assert_int_equal(a.type, order[n++]);
	}
	assert_int_equal(n, ARRAY_SIZE(order));
	assert_int_equal(stun_msg__check_integrity(&m, key, KEY_LEN), 0);
	assert_int_equal(stun_msg__check_fingerprint(&m), 0);
	assert_false(stun_msg__find(&m, STUN_ATTR_DATA, &a));
}

static void test_type_bits(void **state)
{
	static const struct {
		uint16_t method;
		enum stun_class cls;
		uint16_t type;
	} cases[] = {
		{STUN_BINDING, STUN_REQUEST, 0x0001},
		{STUN_BINDING, STUN_SUCCESS, 0x0101},
		{STUN_BINDING, STUN_ERROR, 0x0111},
		{TURN_SEND, STUN_INDICATION, 0x0016},
		{TURN_DATA, STUN_INDICATION, 0x0017},
		{TURN_ALLOCATE, STUN_ERROR, 0x0113},
		{TURN_CONNECTION_ATTEMPT, STUN_REQUEST, 0x000c},
		{0xFFF, STUN_ERROR, 0x3FFF},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t buf[32];
		struct stun_builder b;
		struct stun_msg m;

		stun_build__init(&b, buf, sizeof(buf), cases[i].method, cases[i].cls, tid);
		parse_ok(&m, buf, finish_ok(&b));
		assert_int_equal(m.type, cases[i].type);
		assert_int_equal(m.method, cases[i].method);
		assert_int_equal(m.cls, cases[i].cls);
	}
}

static void set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

enum mutation { XOR_BYTE, LEN_DELTA, SET16, CUT };

static void test_header_and_tlv_rejected(void **state)
{
	/* In the signed message SOFTWARE starts at 20 (10 bytes + 2 of padding). */
	static const struct {
		const char *what;
		enum mutation op;
		size_t at;
		int v;
	} cases[] = {
		{"first bit set", XOR_BYTE, 0, 0x80},
		{"second bit set", XOR_BYTE, 0, 0x40},
		{"cookie", XOR_BYTE, 4, 0x01},
		{"cookie, last byte", XOR_BYTE, 7, 0x10},
		{"length not a multiple of 4", LEN_DELTA, 0, 2},
		{"length past the datagram", LEN_DELTA, 0, 4},
		{"length short of the datagram", LEN_DELTA, 0, -4},
		{"TLV runs past the end", SET16, 22, 0x0400},
		{"TLV one byte too long", SET16, 22, 0x00FD},
		{"one byte short", CUT, 0, 1},
		{"shorter than a header", CUT, 0, 80},
	};
	uint8_t good[256], buf[256];
	size_t len = build_signed(good, sizeof(good));

	assert_true(len < 100);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = len;
		struct stun_msg m;

		memcpy(buf, good, len);
		switch (cases[i].op) {
		case XOR_BYTE:
			buf[cases[i].at] ^= (uint8_t)cases[i].v;
			break;
		case LEN_DELTA:
			set16(buf + 2, (uint16_t)((int)len - 20 + cases[i].v));
			break;
		case SET16:
			set16(buf + cases[i].at, (uint16_t)cases[i].v);
			break;
		case CUT:
			n = len - (size_t)cases[i].v;
			break;
		}
		if (stun_msg__parse(&m, buf, n) != -EBADMSG)
			fail_msg("accepted: %s", cases[i].what);
		if (cases[i].op != SET16 && stun_msg__looks_like(buf, n))
			fail_msg("looks like STUN: %s", cases[i].what);
	}
}

static void test_parse_null_and_empty(void **state)
{
	struct stun_msg m;

	assert_int_equal(stun_msg__parse(&m, NULL, 0), -EBADMSG);
	assert_int_equal(stun_msg__parse(&m, (const uint8_t *)"", 0), -EBADMSG);
	assert_false(stun_msg__looks_like(NULL, 0));
}

static void test_looks_like(void **state)
{
	uint8_t buf[256];
	size_t len = build_signed(buf, sizeof(buf));

	assert_true(stun_msg__looks_like(buf, len));
	assert_false(stun_msg__looks_like(buf, len - 4));
	assert_false(
		stun_msg__looks_like((const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 26));
	buf[0] = 0x40; /* ChannelData */
	assert_false(stun_msg__looks_like(buf, len));
}

/* Integrity, fingerprint and what follows them ---------------------------------- */

static void test_integrity_detects_every_corruption(void **state)
{
	uint8_t good[256], buf[256];
	size_t len = build_signed(good, sizeof(good)), parsed = 0;
	struct stun_msg m;

	parse_ok(&m, good, len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, good, len);
			buf[i] ^= (uint8_t)(1u << bit);
			if (stun_msg__parse(&m, buf, len))
				continue;
			parsed++;
			/* -EACCES/-EBADMSG, or -ENOENT when the flip hit the attribute type. */
			if (i < m.mi_off + 24 && !stun_msg__check_integrity(&m, key, KEY_LEN))
				fail_msg("bit %d of byte %zu: integrity still verifies", bit, i);
			if (!stun_msg__check_fingerprint(&m))
				fail_msg("bit %d of byte %zu: fingerprint still verifies", bit, i);
		}
	}
	/* Every bit of every attribute value and of the transaction id, at least. */
	assert_true(parsed >= 8 * (12 + 10 + 4 + 5 + 20 + 4));
}

static void test_integrity_explicit(void **state)
{
	uint8_t buf[256];
	size_t len = build_signed(buf, sizeof(buf));
	struct stun_msg m;
	uint8_t *mi;

	parse_ok(&m, buf, len);
	mi = buf + m.mi_off + 4;
	mi[19] ^= 1; /* the MAC itself */
	assert_int_equal(stun_msg__check_integrity(&m, key, KEY_LEN), -EACCES);
	mi[19] ^= 1;
	buf[24] ^= 0x20; /* SOFTWARE "kturn test" -> "Kturn test" */
	assert_int_equal(stun_msg__check_integrity(&m, key, KEY_LEN), -EACCES);
	buf[24] ^= 0x20;
	assert_int_equal(stun_msg__check_integrity(&m, key, KEY_LEN), 0);
	assert_int_equal(stun_msg__check_integrity(&m, key, KEY_LEN - 1), -EACCES);
	assert_int_equal(stun_msg__check_integrity_sha256(&m, key, KEY_LEN), -ENOENT);
	/* The check did not write to the buffer. */
	parse_ok(&m, buf, len);
	assert_int_equal(stun_msg__check_fingerprint(&m), 0);
}

static void test_fingerprint_mismatch(void **state)
{
	uint8_t buf[256];
	size_t len = build_signed(buf, sizeof(buf));
	struct stun_msg m;

	buf[len - 1] ^= 0xFF;
	parse_ok(&m, buf, len);
	assert_int_equal(stun_msg__check_fingerprint(&m), -EBADMSG);
	assert_int_equal(stun_msg__check_integrity(&m, key, KEY_LEN), 0);
}

static void test_attribute_after_fingerprint_rejected(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;

	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);
	stun_build__fingerprint(&b);
	stun_build__string(&b, STUN_ATTR_SOFTWARE, "late");
	assert_int_equal(stun_msg__parse(&m, buf, finish_ok(&b)), -EBADMSG);

	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);
	stun_build__fingerprint(&b);
	stun_build__fingerprint(&b);
	assert_int_equal(stun_msg__parse(&m, buf, finish_ok(&b)), -EBADMSG);
}

enum op { SOFTWARE, DATA, LIFETIME, MI, MI256, FP, END };

static void apply(struct stun_builder *b, enum op op)
{
	switch (op) {
	case SOFTWARE:
		stun_build__string(b, STUN_ATTR_SOFTWARE, "sw");
		break;
	case DATA:
		stun_build__attr(b, STUN_ATTR_DATA, "payload", 7);
		break;
	case LIFETIME:
		stun_build__u32(b, STUN_ATTR_LIFETIME, 1);
		break;
	case MI:
		stun_build__integrity(b, key, KEY_LEN);
		break;
	case MI256:
		stun_build__integrity_sha256(b, key, KEY_LEN);
		break;
	case FP:
		stun_build__fingerprint(b);
		break;
	case END:
		break;
	}
}

static uint16_t op_type(enum op op)
{
	static const uint16_t types[] = {
		[SOFTWARE] = STUN_ATTR_SOFTWARE,
		[DATA] = STUN_ATTR_DATA,
		[LIFETIME] = STUN_ATTR_LIFETIME,
		[MI] = STUN_ATTR_MESSAGE_INTEGRITY,
		[MI256] = STUN_ATTR_MESSAGE_INTEGRITY_SHA256,
		[FP] = STUN_ATTR_FINGERPRINT,
	};

	return types[op];
}

/* RFC 8489 §14.5/§14.6: what follows MI (bar MI-SHA256/FP) or MI-SHA256 (bar FP) is ignored. */
static void test_attributes_after_integrity_ignored(void **state)
{
	static const struct {
		enum op build[8];
		enum op visible[8];
		int mi, mi256, fp;
	} cases[] = {
		{{SOFTWARE, MI, DATA, END}, {SOFTWARE, MI, END}, 0, -ENOENT, -ENOENT},
		{{SOFTWARE, MI, DATA, FP, END}, {SOFTWARE, MI, FP, END}, 0, -ENOENT, 0},
		{{SOFTWARE, MI, DATA, MI256, LIFETIME, FP, END},
		 {SOFTWARE, MI, MI256, FP, END},
		 0,
		 0,
		 0},
		{{SOFTWARE, MI256, MI, DATA, FP, END}, {SOFTWARE, MI256, FP, END}, -ENOENT, 0, 0},
		{{SOFTWARE, MI, MI, LIFETIME, END}, {SOFTWARE, MI, END}, 0, -ENOENT, -ENOENT},
		{{MI256, MI256, END}, {MI256, END}, -ENOENT, 0, -ENOENT},
		{{SOFTWARE, DATA, FP, END}, {SOFTWARE, DATA, FP, END}, -ENOENT, -ENOENT, 0},
		{{END}, {END}, -ENOENT, -ENOENT, -ENOENT},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t buf[512];
		struct stun_builder b;
		struct stun_attr_iter it;
		struct stun_attr a;
		struct stun_msg m;
		size_t n = 0;

		stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);
		for (size_t k = 0; cases[i].build[k] != END; k++)
			apply(&b, cases[i].build[k]);
		parse_ok(&m, buf, finish_ok(&b));
		stun_attr_iter__init(&it, &m);
		while (stun_attr_iter__next(&it, &a)) {
			if (cases[i].visible[n] == END || a.type != op_type(cases[i].visible[n]))
				fail_msg("case %zu: attribute %zu is 0x%04x", i, n, a.type);
			n++;
		}
		assert_int_equal(cases[i].visible[n], END);
		for (size_t k = 0; cases[i].build[k] != END; k++) {
			bool shown = false;

			for (size_t v = 0; cases[i].visible[v] != END; v++)
				shown |= cases[i].visible[v] == cases[i].build[k];
			assert_int_equal(stun_msg__find(&m, op_type(cases[i].build[k]), &a), shown);
		}
		assert_int_equal(stun_msg__check_integrity(&m, key, KEY_LEN), cases[i].mi);
		assert_int_equal(stun_msg__check_integrity_sha256(&m, key, KEY_LEN),
				 cases[i].mi256);
		assert_int_equal(stun_msg__check_fingerprint(&m), cases[i].fp);
	}
}

static void test_integrity_sizes(void **state)
{
	static const struct {
		uint16_t type;
		uint16_t len;
		int rc;
	} cases[] = {
		{STUN_ATTR_MESSAGE_INTEGRITY, 19, -EBADMSG},
		{STUN_ATTR_MESSAGE_INTEGRITY, 21, -EBADMSG},
		{STUN_ATTR_MESSAGE_INTEGRITY, 32, -EBADMSG},
		{STUN_ATTR_MESSAGE_INTEGRITY, 20, 0},
		{STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 12, -EBADMSG},
		{STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 18, -EBADMSG},
		{STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 36, -EBADMSG},
		{STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 16, 0},
		{STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 28, 0},
		{STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 32, 0},
		{STUN_ATTR_FINGERPRINT, 3, -EBADMSG},
		{STUN_ATTR_FINGERPRINT, 8, -EBADMSG},
		{STUN_ATTR_FINGERPRINT, 0, -EBADMSG},
		{STUN_ATTR_FINGERPRINT, 4, 0},
	};
	static const uint8_t zeros[40];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t buf[128];
		struct stun_builder b;
		struct stun_msg m;

		stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);
		stun_build__attr(&b, cases[i].type, zeros, cases[i].len);
		if (stun_msg__parse(&m, buf, finish_ok(&b)) != cases[i].rc)
			fail_msg("type 0x%04x len %u: want %d", cases[i].type, cases[i].len,
				 cases[i].rc);
	}
}

/* MESSAGE-INTEGRITY-SHA256 truncated by the sender, HMAC computed here independently. */
static void test_integrity_sha256_truncated(void **state)
{
	static const size_t lens[] = {16, 20, 24, 28, 32};

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		uint8_t buf[128], mac[32];
		unsigned mac_len = 0;
		struct stun_builder b;
		struct stun_msg m;
		size_t off;

		stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);
		stun_build__string(&b, STUN_ATTR_USERNAME, "bob");
		off = b.len;
		set16(buf + 2, (uint16_t)(off + 4 + lens[i] - 20));
		assert_non_null(HMAC(EVP_sha256(), key, KEY_LEN, buf, off, mac, &mac_len));
		stun_build__attr(&b, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, mac, lens[i]);
		parse_ok(&m, buf, finish_ok(&b));
		assert_int_equal(stun_msg__check_integrity_sha256(&m, key, KEY_LEN), 0);
		buf[off + 4 + lens[i] - 1] ^= 1;
		assert_int_equal(stun_msg__check_integrity_sha256(&m, key, KEY_LEN), -EACCES);
	}
}

static void test_empty_key(void **state)
{
	uint8_t buf[64];
	struct stun_builder b;
	struct stun_msg m;

	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);
	stun_build__integrity(&b, NULL, 0);
	parse_ok(&m, buf, finish_ok(&b));
	assert_int_equal(stun_msg__check_integrity(&m, NULL, 0), 0);
	assert_int_equal(stun_msg__check_integrity(&m, (const uint8_t *)"", 0), 0);
	assert_int_equal(stun_msg__check_integrity(&m, key, 1), -EACCES);
}

static bool known_types(uint16_t type)
{
	return type == STUN_ATTR_USERNAME || type == STUN_ATTR_LIFETIME;
}

static void test_unknown_required(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;
	uint16_t out[4];

	stun_build__init(&b, buf, sizeof(buf), TURN_ALLOCATE, STUN_REQUEST, tid);
	stun_build__u32(&b, STUN_ATTR_LIFETIME, 1);
	stun_build__u32(&b, 0x7777, 1);
	stun_build__u32(&b, 0x8888, 1); /* optional: never reported */
	stun_build__u32(&b, 0x7777, 2);
	stun_build__u32(&b, 0x0030, 2);
	stun_build__string(&b, STUN_ATTR_USERNAME, "u");
	stun_build__integrity(&b, key, KEY_LEN);
	stun_build__u32(&b, 0x0031, 2); /* ignored: after MESSAGE-INTEGRITY */
	parse_ok(&m, buf, finish_ok(&b));

	assert_int_equal(stun_msg__unknown_required(&m, known_types, out, 4), 3);
	assert_int_equal(out[0], 0x7777);
	assert_int_equal(out[1], 0x0030);
	assert_int_equal(out[2], STUN_ATTR_MESSAGE_INTEGRITY);
	assert_int_equal(stun_msg__unknown_required(&m, known_types, out, 1), 1);
	assert_int_equal(out[0], 0x7777);
}

/* Round trips ------------------------------------------------------------------ */

static void test_roundtrip_addresses(void **state)
{
	static const struct {
		int family;
		const char *ip;
		uint16_t port;
	} addrs[] = {
		{AF_INET, "192.0.2.1", 32853},	     {AF_INET, "0.0.0.0", 0},
		{AF_INET, "255.255.255.255", 65535}, {AF_INET6, "::", 1},
		{AF_INET6, "2001:db8::1", 3478},     {AF_INET6, "::ffff:192.0.2.9", 9},
		{AF_INET6, "fe80::1:2:3:4", 65535},
	};
	static const struct {
		uint16_t type;
		bool xor ;
	} kinds[] = {
		{STUN_ATTR_MAPPED_ADDRESS, false},     {STUN_ATTR_ALTERNATE_SERVER, false},
		{STUN_ATTR_RESPONSE_ORIGIN, false},    {STUN_ATTR_OTHER_ADDRESS, false},
		{STUN_ATTR_XOR_MAPPED_ADDRESS, true},  {STUN_ATTR_XOR_PEER_ADDRESS, true},
		{STUN_ATTR_XOR_RELAYED_ADDRESS, true},
	};

	for (size_t i = 0; i < ARRAY_SIZE(addrs); i++) {
		for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
			struct sockaddr_storage in, out;
			uint8_t buf[128];
			struct stun_builder b;
			struct stun_attr a;
			struct stun_msg m;

			make_sa(&in, addrs[i].family, addrs[i].ip, addrs[i].port);
			stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_SUCCESS, NULL);
			if (kinds[k].xor)
				stun_build__xaddr(&b, kinds[k].type, (struct sockaddr *)&in);
			else
				stun_build__addr(&b, kinds[k].type, (struct sockaddr *)&in);
			parse_ok(&m, buf, finish_ok(&b));
			assert_true(stun_msg__find(&m, kinds[k].type, &a));
			assert_int_equal(a.len, addrs[i].family == AF_INET ? 8 : 20);
			if (kinds[k].xor)
				assert_int_equal(stun_attr__xaddr(&a, m.tid, &out), 0);
			else
				assert_int_equal(stun_attr__addr(&a, &out), 0);
			assert_sa_equal(&in, &out);
		}
	}
}

/* 300 Try Alternate (RFC 8489 §10): ALTERNATE-SERVER is MAPPED-ADDRESS's encoding, no XOR. */
static void test_alternate_server_bytes(void **state)
{
	static const uint8_t want4[] = {0x80, 0x23, 0x00, 0x08, 0x00, 0x01,
					0x0d, 0x96, 0xc0, 0x00, 0x02, 0x01};
	static const uint8_t want6[] = {0x80, 0x23, 0x00, 0x14, 0x00, 0x02, 0x14, 0x95,
					0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
					0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07};
	struct sockaddr_storage in, out;
	uint8_t buf[128];
	struct stun_builder b;
	struct stun_attr a;
	struct stun_msg m;
	size_t len;

	(void)state;
	make_sa(&in, AF_INET, "192.0.2.1", 3478);
	stun_build__init(&b, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, tid);
	stun_build__error(&b, 300, NULL);
	stun_build__addr(&b, STUN_ATTR_ALTERNATE_SERVER, (struct sockaddr *)&in);
	make_sa(&in, AF_INET6, "2001:db8::7", 5269);
	stun_build__addr(&b, STUN_ATTR_ALTERNATE_SERVER, (struct sockaddr *)&in);
	len = finish_ok(&b);
	/* header, ERROR-CODE 300 "Try Alternate" (4 + 4 + 16), then the two */
	assert_int_equal(len, 20 + 24 + sizeof(want4) + sizeof(want6));
	assert_memory_equal(buf + 20 + 24, want4, sizeof(want4));
	assert_memory_equal(buf + 20 + 24 + sizeof(want4), want6, sizeof(want6));
	parse_ok(&m, buf, len);
	assert_int_equal(m.cls, STUN_ERROR);
	assert_true(stun_msg__find(&m, STUN_ATTR_ALTERNATE_SERVER, &a));
	assert_int_equal(stun_attr__addr(&a, &out), 0);
	make_sa(&in, AF_INET, "192.0.2.1", 3478);
	assert_sa_equal(&in, &out);
}

static void test_xor_actually_xors(void **state)
{
	struct sockaddr_storage in, out;
	uint8_t buf[128], other[STUN_TID_LEN] = {0};
	struct stun_builder b;
	struct stun_attr a;
	struct stun_msg m;

	make_sa(&in, AF_INET6, "2001:db8::1", 3478);
	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_SUCCESS, tid);
	stun_build__xaddr(&b, STUN_ATTR_XOR_PEER_ADDRESS, (struct sockaddr *)&in);
	parse_ok(&m, buf, finish_ok(&b));
	assert_true(stun_msg__find(&m, STUN_ATTR_XOR_PEER_ADDRESS, &a));
	assert_int_equal(a.val[2] << 8 | a.val[3], 3478 ^ 0x2112);
	assert_int_equal(stun_attr__addr(&a, &out), 0);
	assert_memory_not_equal(&((struct sockaddr_in6 *)&in)->sin6_addr,
				&((struct sockaddr_in6 *)&out)->sin6_addr, 16);
	/* The tid is part of the IPv6 mask. */
	assert_int_equal(stun_attr__xaddr(&a, other, &out), 0);
	assert_memory_not_equal(&((struct sockaddr_in6 *)&in)->sin6_addr,
				&((struct sockaddr_in6 *)&out)->sin6_addr, 16);
}

/* Build one attribute into a fresh message and hand back the parsed attribute. */
#define BUILD_ONE(m, buf, call)                                                                    \
	do {                                                                                       \
		struct stun_builder b_;                                                            \
		stun_build__init(&b_, buf, sizeof(buf), STUN_BINDING, STUN_SUCCESS, tid);          \
		call;                                                                              \
		parse_ok(m, buf, finish_ok(&b_));                                                  \
	} while (0)

static void test_roundtrip_integers(void **state)
{
	static const uint32_t u32s[] = {0, 1, 600, 0x80000000u, 0xFFFFFFFFu};
	static const uint64_t u64s[] = {0, 1, 0x932ff9b151263b36ull, ~0ull};
	uint8_t buf[64];
	struct stun_attr a;
	struct stun_msg m;

	for (size_t i = 0; i < ARRAY_SIZE(u32s); i++) {
		uint32_t v;

		BUILD_ONE(&m, buf, stun_build__u32(&b_, STUN_ATTR_CONNECTION_ID, u32s[i]));
		assert_true(stun_msg__find(&m, STUN_ATTR_CONNECTION_ID, &a));
		assert_int_equal(stun_attr__u32(&a, &v), 0);
		assert_int_equal(v, u32s[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(u64s); i++) {
		uint64_t v;

		BUILD_ONE(&m, buf, stun_build__u64(&b_, STUN_ATTR_RESERVATION_TOKEN, u64s[i]));
		assert_true(stun_msg__find(&m, STUN_ATTR_RESERVATION_TOKEN, &a));
		assert_int_equal(stun_attr__u64(&a, &v), 0);
		assert_true(v == u64s[i]);
	}
}

static void test_roundtrip_error_codes(void **state)
{
	static const struct {
		int code;
		const char *reason; /* NULL: default phrase */
		const char *want;
	} cases[] = {
		{300, NULL, "Try Alternate"},
		{401, NULL, "Unauthenticated"},
		{438, NULL, "Stale Nonce"},
		{508, NULL, "Insufficient Capacity"},
		{699, NULL, ""},
		{420, "Unknown Attribute", "Unknown Attribute"},
		{400, "", ""},
		{500, "\xc3\xa9\xe2\x82\xac", "\xc3\xa9\xe2\x82\xac"},
	};
	uint8_t buf[128];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *reason;
		struct stun_attr a;
		struct stun_msg m;
		size_t len;
		uint8_t family;
		int code;

		BUILD_ONE(&m, buf, stun_build__error(&b_, cases[i].code, cases[i].reason));
		assert_true(stun_msg__find(&m, STUN_ATTR_ERROR_CODE, &a));
		assert_int_equal(stun_attr__error(&a, &code, &reason, &len), 0);
		assert_int_equal(code, cases[i].code);
		assert_int_equal(len, strlen(cases[i].want));
		assert_memory_equal(reason, cases[i].want, len);

		BUILD_ONE(&m, buf,
			  stun_build__address_error(&b_, STUN_FAMILY_IPV6, cases[i].code,
						    cases[i].reason));
		assert_true(stun_msg__find(&m, STUN_ATTR_ADDRESS_ERROR_CODE, &a));
		assert_int_equal(stun_attr__address_error(&a, &family, &code, &reason, &len), 0);
		assert_int_equal(family, STUN_FAMILY_IPV6);
		assert_int_equal(code, cases[i].code);
		assert_int_equal(len, strlen(cases[i].want));
		assert_memory_equal(reason, cases[i].want, len);
	}
}

static void test_roundtrip_small_values(void **state)
{
	uint8_t buf[64], proto, family, type, code;
	struct stun_attr a;
	struct stun_msg m;
	uint16_t ch, alg;
	uint32_t data;
	bool r;

	for (uint32_t c = 0; c <= 0xFFFF; c += 0x1111) {
		BUILD_ONE(&m, buf, stun_build__channel(&b_, (uint16_t)c));
		assert_true(stun_msg__find(&m, STUN_ATTR_CHANNEL_NUMBER, &a));
		assert_int_equal(stun_attr__channel(&a, &ch), 0);
		assert_int_equal(ch, c);
	}
	BUILD_ONE(&m, buf, stun_build__transport(&b_, STUN_TRANSPORT_UDP));
	assert_true(stun_msg__find(&m, STUN_ATTR_REQUESTED_TRANSPORT, &a));
	assert_int_equal(stun_attr__transport(&a, &proto), 0);
	assert_int_equal(proto, STUN_TRANSPORT_UDP);

	BUILD_ONE(&m, buf,
		  stun_build__family(&b_, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6));
	assert_true(stun_msg__find(&m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &a));
	assert_int_equal(stun_attr__family(&a, &family), 0);
	assert_int_equal(family, STUN_FAMILY_IPV6);

	BUILD_ONE(&m, buf,
		  stun_build__family(&b_, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV4));
	assert_true(stun_msg__find(&m, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &a));
	assert_int_equal(stun_attr__family(&a, &family), 0);
	assert_int_equal(family, STUN_FAMILY_IPV4);

	for (int reserve = 0; reserve <= 1; reserve++) {
		BUILD_ONE(&m, buf, stun_build__even_port(&b_, reserve));
		assert_true(stun_msg__find(&m, STUN_ATTR_EVEN_PORT, &a));
		assert_int_equal(a.len, 1);
		assert_int_equal(stun_attr__even_port(&a, &r), 0);
		assert_int_equal(r, reserve);
	}

	BUILD_ONE(&m, buf, stun_build__icmp(&b_, 3, 13, 0xdeadbeef));
	assert_true(stun_msg__find(&m, STUN_ATTR_ICMP, &a));
	assert_int_equal(stun_attr__icmp(&a, &type, &code, &data), 0);
	assert_int_equal(type, 3);
	assert_int_equal(code, 13);
	assert_int_equal(data, 0xdeadbeef);

	BUILD_ONE(&m, buf, stun_build__password_algorithm(&b_, STUN_PWALG_SHA256));
	assert_true(stun_msg__find(&m, STUN_ATTR_PASSWORD_ALGORITHM, &a));
	assert_int_equal(stun_attr__password_algorithm(&a, &alg), 0);
	assert_int_equal(alg, STUN_PWALG_SHA256);
}

static void test_roundtrip_lists(void **state)
{
	static const uint16_t algs[] = {STUN_PWALG_SHA256, STUN_PWALG_MD5, 0x1234};
	static const uint16_t types[] = {0x0001, 0x7777, 0x0030};
	uint16_t out[8];
	uint8_t buf[64];
	struct stun_attr a;
	struct stun_msg m;
	size_t n;

	BUILD_ONE(&m, buf, stun_build__password_algorithms(&b_, algs, ARRAY_SIZE(algs)));
	assert_true(stun_msg__find(&m, STUN_ATTR_PASSWORD_ALGORITHMS, &a));
	assert_int_equal(stun_attr__password_algorithms(&a, out, 8, &n), 0);
	assert_int_equal(n, ARRAY_SIZE(algs));
	assert_memory_equal(out, algs, sizeof(algs));
	assert_int_equal(stun_attr__password_algorithms(&a, out, 2, &n), 0);
	assert_int_equal(n, 2);

	/* Odd count: the attribute is padded, the value length stays 6. */
	BUILD_ONE(&m, buf, stun_build__unknown(&b_, types, ARRAY_SIZE(types)));
	assert_true(stun_msg__find(&m, STUN_ATTR_UNKNOWN_ATTRIBUTES, &a));
	assert_int_equal(a.len, 6);
	assert_int_equal(stun_attr__unknown(&a, out, 8, &n), 0);
	assert_int_equal(n, ARRAY_SIZE(types));
	assert_memory_equal(out, types, sizeof(types));
	assert_int_equal(stun_attr__unknown(&a, out, 1, &n), 0);
	assert_int_equal(n, 1);
}

static void test_password_algorithms_with_params(void **state)
{
	/* SHA-256 with 3 parameter bytes padded to 4, then MD5 without. */
	static const uint8_t v[] = {0, 2, 0, 3, 'a', 'b', 'c', 0, 0, 1, 0, 0};
	static const uint8_t one[] = {0, 2, 0, 3, 'a', 'b', 'c'};
	struct stun_attr a = {STUN_ATTR_PASSWORD_ALGORITHMS, sizeof(v), v};
	uint16_t algs[4], alg;
	size_t n;

	assert_int_equal(stun_attr__password_algorithms(&a, algs, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(algs[0], STUN_PWALG_SHA256);
	assert_int_equal(algs[1], STUN_PWALG_MD5);
	a = (struct stun_attr){STUN_ATTR_PASSWORD_ALGORITHM, sizeof(one), one};
	assert_int_equal(stun_attr__password_algorithm(&a, &alg), 0);
	assert_int_equal(alg, STUN_PWALG_SHA256);
	a.len = 8; /* with the parameter padding counted */
	a.val = v;
	assert_int_equal(stun_attr__password_algorithm(&a, &alg), 0);
}

static void test_roundtrip_strings(void **state)
{
	static const struct {
		uint16_t type;
		size_t len;
	} cases[] = {
		{STUN_ATTR_USERNAME, 0},
		{STUN_ATTR_USERNAME, 1},
		{STUN_ATTR_USERNAME, STUN_MAX_USERNAME},
		{STUN_ATTR_REALM, STUN_MAX_REALM},
		{STUN_ATTR_NONCE, STUN_MAX_NONCE},
		{STUN_ATTR_SOFTWARE, STUN_MAX_SOFTWARE},
		{STUN_ATTR_ALTERNATE_DOMAIN, 255},
	};
	static uint8_t buf[1024];
	char text[1024];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct stun_attr a;
		struct stun_msg m;
		const char *s;
		size_t len;

		memset(text, 'a' + (int)i, cases[i].len);
		text[cases[i].len] = '\0';
		BUILD_ONE(&m, buf, stun_build__string(&b_, cases[i].type, text));
		assert_true(stun_msg__find(&m, cases[i].type, &a));
		assert_int_equal(stun_attr__string(&a, &s, &len), 0);
		assert_int_equal(len, cases[i].len);
		assert_memory_equal(s, text, len);
	}
}

/* Malformed values ------------------------------------------------------------------ */

enum getter {
	G_ADDR,
	G_XADDR,
	G_U32,
	G_U64,
	G_ERROR,
	G_CHANNEL,
	G_TRANSPORT,
	G_FAMILY,
	G_EVEN_PORT,
	G_ADDRESS_ERROR,
	G_ICMP,
	G_PWALGS,
	G_PWALG,
	G_UNKNOWN,
	G_STRING,
};

static int call_getter(enum getter g, const struct stun_attr *a)
{
	struct sockaddr_storage ss;
	const char *s;
	uint16_t u16[8];
	uint64_t u64;
	uint32_t u32;
	uint8_t u8, u8b;
	size_t n;
	bool r;
	int code;

	switch (g) {
	case G_ADDR:
		return stun_attr__addr(a, &ss);
	case G_XADDR:
		return stun_attr__xaddr(a, tid, &ss);
	case G_U32:
		return stun_attr__u32(a, &u32);
	case G_U64:
		return stun_attr__u64(a, &u64);
	case G_ERROR:
		return stun_attr__error(a, &code, &s, &n);
	case G_CHANNEL:
		return stun_attr__channel(a, u16);
	case G_TRANSPORT:
		return stun_attr__transport(a, &u8);
	case G_FAMILY:
		return stun_attr__family(a, &u8);
	case G_EVEN_PORT:
		return stun_attr__even_port(a, &r);
	case G_ADDRESS_ERROR:
		return stun_attr__address_error(a, &u8, &code, &s, &n);
	case G_ICMP:
		return stun_attr__icmp(a, &u8, &u8b, &u32);
	case G_PWALGS:
		return stun_attr__password_algorithms(a, u16, 8, &n);
	case G_PWALG:
		return stun_attr__password_algorithm(a, u16);
	case G_UNKNOWN:
		return stun_attr__unknown(a, u16, 8, &n);
	case G_STRING:
		return stun_attr__string(a, &s, &n);
	}
	return 0;
}

#define BAD(g, type, bytes)                                                                        \
	{                                                                                          \
#g " " bytes, g, type, (const uint8_t *)bytes, sizeof(bytes) - 1                   \
	}

static void test_getters_reject_malformed(void **state)
{
	static const struct {
		const char *what;
		enum getter g;
		uint16_t type;
		const uint8_t *val;
		size_t len;
	} cases[] = {
		BAD(G_ADDR, STUN_ATTR_MAPPED_ADDRESS, ""),
		BAD(G_ADDR, STUN_ATTR_MAPPED_ADDRESS, "\0\1\0\1\1\2\3"),
		BAD(G_ADDR, STUN_ATTR_MAPPED_ADDRESS, "\0\1\0\1\1\2\3\4\5"),
		BAD(G_ADDR, STUN_ATTR_MAPPED_ADDRESS, "\0\2\0\1\1\2\3\4"),
		BAD(G_ADDR, STUN_ATTR_MAPPED_ADDRESS, "\0\3\0\1\1\2\3\4"),
		BAD(G_ADDR, STUN_ATTR_MAPPED_ADDRESS, "\0\0\0\1\1\2\3\4"),
		BAD(G_ADDR, STUN_ATTR_MAPPED_ADDRESS,
		    "\0\1\0\1\1\2\3\4\5\6\7\10\11\12\13\14\15\16\17\20"),
		BAD(G_XADDR, STUN_ATTR_XOR_MAPPED_ADDRESS, "\0\1\0"),
		BAD(G_XADDR, STUN_ATTR_XOR_MAPPED_ADDRESS, "\0\2\0\1\1\2\3\4"),
		BAD(G_XADDR, STUN_ATTR_XOR_MAPPED_ADDRESS,
		    "\0\2\0\1\1\2\3\4\5\6\7\10\11\12\13\14\15\16\17"),
		BAD(G_XADDR, STUN_ATTR_XOR_MAPPED_ADDRESS, "\0\4\0\1\1\2\3\4"),
		BAD(G_U32, STUN_ATTR_LIFETIME, "\0\0\1"),
		BAD(G_U32, STUN_ATTR_LIFETIME, "\0\0\0\1\0"),
		BAD(G_U32, STUN_ATTR_LIFETIME, ""),
		BAD(G_U64, STUN_ATTR_RESERVATION_TOKEN, "\0\0\0\0\0\0\1"),
		BAD(G_U64, STUN_ATTR_RESERVATION_TOKEN, "\0\0\0\1"),
		BAD(G_ERROR, STUN_ATTR_ERROR_CODE, "\0\0\4"),
		BAD(G_ERROR, STUN_ATTR_ERROR_CODE, "\0\0\2\0"),
		BAD(G_ERROR, STUN_ATTR_ERROR_CODE, "\0\0\7\0"),
		BAD(G_ERROR, STUN_ATTR_ERROR_CODE, "\0\0\0\0"),
		BAD(G_ERROR, STUN_ATTR_ERROR_CODE, "\0\0\4\144"),
		BAD(G_ERROR, STUN_ATTR_ERROR_CODE, "\0\0\4\1\xff"),
		BAD(G_ERROR, STUN_ATTR_ERROR_CODE, "\0\0\4\1a\0b"),
		BAD(G_CHANNEL, STUN_ATTR_CHANNEL_NUMBER, "\x40\0"),
		BAD(G_CHANNEL, STUN_ATTR_CHANNEL_NUMBER, "\x40\0\0\0\0\0\0\0"),
		BAD(G_TRANSPORT, STUN_ATTR_REQUESTED_TRANSPORT, "\x11"),
		BAD(G_TRANSPORT, STUN_ATTR_REQUESTED_TRANSPORT, "\x11\0\0\0\0"),
		BAD(G_FAMILY, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, "\0\0\0\0"),
		BAD(G_FAMILY, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, "\3\0\0\0"),
		BAD(G_FAMILY, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, "\1"),
		BAD(G_FAMILY, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, "\2\0\0\0\0\0\0\0"),
		BAD(G_EVEN_PORT, STUN_ATTR_EVEN_PORT, ""),
		BAD(G_EVEN_PORT, STUN_ATTR_EVEN_PORT, "\x80\0\0\0"),
		BAD(G_ADDRESS_ERROR, STUN_ATTR_ADDRESS_ERROR_CODE, "\1\0\4"),
		BAD(G_ADDRESS_ERROR, STUN_ATTR_ADDRESS_ERROR_CODE, "\0\0\4\100"),
		BAD(G_ADDRESS_ERROR, STUN_ATTR_ADDRESS_ERROR_CODE, "\3\0\4\100"),
		BAD(G_ADDRESS_ERROR, STUN_ATTR_ADDRESS_ERROR_CODE, "\1\0\2\0"),
		BAD(G_ADDRESS_ERROR, STUN_ATTR_ADDRESS_ERROR_CODE, "\1\0\4\310"),
		BAD(G_ICMP, STUN_ATTR_ICMP, "\0\0\3\1"),
		BAD(G_ICMP, STUN_ATTR_ICMP, "\0\0\3\1\0\0\0\0\0\0\0\0"),
		BAD(G_PWALGS, STUN_ATTR_PASSWORD_ALGORITHMS, ""),
		BAD(G_PWALGS, STUN_ATTR_PASSWORD_ALGORITHMS, "\0\1"),
		BAD(G_PWALGS, STUN_ATTR_PASSWORD_ALGORITHMS, "\0\1\0\0\0\2"),
		BAD(G_PWALGS, STUN_ATTR_PASSWORD_ALGORITHMS, "\0\1\0\4\0\0"),
		BAD(G_PWALGS, STUN_ATTR_PASSWORD_ALGORITHMS, "\0\1\0\1\xaa"),
		BAD(G_PWALG, STUN_ATTR_PASSWORD_ALGORITHM, "\0\2"),
		BAD(G_PWALG, STUN_ATTR_PASSWORD_ALGORITHM, "\0\2\0\4"),
		BAD(G_PWALG, STUN_ATTR_PASSWORD_ALGORITHM, "\0\2\0\0\0\0\0\0"),
		BAD(G_UNKNOWN, STUN_ATTR_UNKNOWN_ATTRIBUTES, ""),
		BAD(G_UNKNOWN, STUN_ATTR_UNKNOWN_ATTRIBUTES, "\0\1\0"),
		BAD(G_STRING, STUN_ATTR_USERNAME, "a\0b"),
		BAD(G_STRING, STUN_ATTR_USERNAME, "\xff"),
		BAD(G_STRING, STUN_ATTR_USERNAME, "\xc0\x80"),	    /* overlong NUL */
		BAD(G_STRING, STUN_ATTR_USERNAME, "\xe0\x80\xaf"),  /* overlong '/' */
		BAD(G_STRING, STUN_ATTR_REALM, "\xed\xa0\x80"),	    /* surrogate */
		BAD(G_STRING, STUN_ATTR_NONCE, "\xf4\x90\x80\x80"), /* > U+10FFFF */
		BAD(G_STRING, STUN_ATTR_SOFTWARE, "abc\xe3\x83"),   /* truncated */
		BAD(G_STRING, STUN_ATTR_SOFTWARE, "\x83"),	    /* lone continuation */
		BAD(G_STRING, STUN_ATTR_SOFTWARE, "\xe3\x83\x41"),  /* bad continuation */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct stun_attr a = {cases[i].type, (uint16_t)cases[i].len, cases[i].val};

		if (call_getter(cases[i].g, &a) != -EBADMSG)
			fail_msg("case %zu accepted: %s", i, cases[i].what);
	}
}

static void test_string_limits(void **state)
{
	static const struct {
		uint16_t type;
		size_t max;
	} cases[] = {
		{STUN_ATTR_USERNAME, STUN_MAX_USERNAME}, {STUN_ATTR_REALM, STUN_MAX_REALM},
		{STUN_ATTR_NONCE, STUN_MAX_NONCE},	 {STUN_ATTR_SOFTWARE, STUN_MAX_SOFTWARE},
		{STUN_ATTR_ALTERNATE_DOMAIN, 255},
	};
	static uint8_t text[1024], buf[2048];

	memset(text, 'x', sizeof(text));
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct stun_attr a = {cases[i].type, (uint16_t)cases[i].max, text};
		struct stun_builder b;
		const char *s;
		size_t len;

		assert_int_equal(stun_attr__string(&a, &s, &len), 0);
		a.len++;
		assert_int_equal(stun_attr__string(&a, &s, &len), -EBADMSG);
		text[cases[i].max + 1] = '\0';
		stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);
		stun_build__string(&b, cases[i].type, (const char *)text);
		assert_int_equal(stun_build__finish(&b), -EINVAL);
		text[cases[i].max + 1] = 'x';
	}
	/* The ERROR-CODE reason phrase: 763 bytes. */
	text[763] = '\0';
	{
		static uint8_t v[4 + 764];
		struct stun_attr a = {STUN_ATTR_ERROR_CODE, 4 + 763, v};
		struct stun_builder b;
		const char *s;
		size_t len;
		int code;

		v[2] = 4;
		memset(v + 4, 'r', 764);
		assert_int_equal(stun_attr__error(&a, &code, &s, &len), 0);
		a.len++;
		assert_int_equal(stun_attr__error(&a, &code, &s, &len), -EBADMSG);
		stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_ERROR, tid);
		stun_build__error(&b, 400, (const char *)text);
		assert_int_equal(stun_build__finish(&b), 20 + 4 + 4 + 764);
		text[763] = 'x';
		text[764] = '\0';
		stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_ERROR, tid);
		stun_build__error(&b, 400, (const char *)text);
		assert_int_equal(stun_build__finish(&b), -EINVAL);
	}
}

/* The reserved bits RFC 8489/8656 say receivers ignore are ignored. */
static void test_reserved_bits_ignored(void **state)
{
	static const uint8_t err[] = {0xff, 0xff, 0xfc, 0x26, 'h', 'i'}; /* 438 */
	static const uint8_t ch[] = {0x40, 0x01, 0xff, 0xff};
	static const uint8_t even[] = {0xff};
	static const uint8_t addr[] = {0x80, 0x01, 0x0d, 0x96, 192, 0, 2, 1}; /* 192.0.2.1:3478 */
	struct stun_attr a = {STUN_ATTR_ERROR_CODE, sizeof(err), err};
	struct sockaddr_storage ss;
	char name[NET_ADDRSTRLEN];
	const char *s;
	size_t len;
	uint16_t c;
	bool r;
	int code;

	assert_int_equal(stun_attr__error(&a, &code, &s, &len), 0);
	assert_int_equal(code, 438);
	a = (struct stun_attr){STUN_ATTR_CHANNEL_NUMBER, sizeof(ch), ch};
	assert_int_equal(stun_attr__channel(&a, &c), 0);
	assert_int_equal(c, 0x4001);
	a = (struct stun_attr){STUN_ATTR_EVEN_PORT, sizeof(even), even};
	assert_int_equal(stun_attr__even_port(&a, &r), 0);
	assert_true(r);
	a = (struct stun_attr){STUN_ATTR_MAPPED_ADDRESS, sizeof(addr), addr};
	assert_int_equal(stun_attr__addr(&a, &ss), 0);
	assert_string_equal(net_addr_str((struct sockaddr *)&ss, name, sizeof(name)),
			    "192.0.2.1:3478");
}

/* Builder -------------------------------------------------------------------------- */

static void test_builder_padding_and_length(void **state)
{
	static const char value[] = "abcdefgh";
	uint8_t buf[256];
	struct stun_builder b;
	size_t off = STUN_HEADER_LEN;

	memset(buf, 0xAA, sizeof(buf));
	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);
	assert_int_equal(buf[2] << 8 | buf[3], 0);
	for (size_t len = 0; len <= 8; len++) {
		size_t padded = (len + 3) & ~(size_t)3;

		stun_build__attr(&b, 0x8000 + (uint16_t)len, value, len);
		assert_int_equal(b.len, off + 4 + padded);
		assert_int_equal(buf[2] << 8 | buf[3], b.len - STUN_HEADER_LEN);
		assert_int_equal(buf[off] << 8 | buf[off + 1], 0x8000 + len);
		assert_int_equal(buf[off + 2] << 8 | buf[off + 3], len);
		assert_memory_equal(buf + off + 4, value, len);
		for (size_t k = len; k < padded; k++)
			assert_int_equal(buf[off + 4 + k], 0);
		off = b.len;
	}
	assert_int_equal(stun_build__finish(&b), off);
}

static void build_three(struct stun_builder *b, uint8_t *buf, size_t cap)
{
	stun_build__init(b, buf, cap, STUN_BINDING, STUN_REQUEST, tid);
	stun_build__u32(b, STUN_ATTR_LIFETIME, 1);
	stun_build__string(b, STUN_ATTR_SOFTWARE, "abcde");
	stun_build__integrity(b, key, KEY_LEN);
	stun_build__fingerprint(b);
}

static void test_builder_enospc(void **state)
{
	const size_t need = 20 + 8 + 12 + 24 + 8;
	uint8_t buf[128];
	struct stun_builder b;

	for (size_t cap = 0; cap < need; cap++) {
		build_three(&b, buf, cap);
		if (stun_build__finish(&b) != -ENOSPC)
			fail_msg("cap %zu: %zd", cap, stun_build__finish(&b));
		assert_true(b.len <= cap);
	}
	build_three(&b, buf, need);
	assert_int_equal(stun_build__finish(&b), need);

	/* Sticky: a later attribute that would fit is not written. */
	stun_build__init(&b, buf, 31, STUN_BINDING, STUN_REQUEST, tid);
	stun_build__u64(&b, STUN_ATTR_RESERVATION_TOKEN, 1);
	stun_build__u32(&b, STUN_ATTR_LIFETIME, 1);
	assert_int_equal(stun_build__finish(&b), -ENOSPC);
	assert_int_equal(b.len, STUN_HEADER_LEN);
}

static void test_builder_einval(void **state)
{
	struct sockaddr_storage ss = {.ss_family = AF_UNIX};
	static const uint16_t one = 1;
	uint8_t buf[256];
	struct stun_builder b;

#define EXPECT_EINVAL(call)                                                                        \
	do {                                                                                       \
		stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, tid);           \
		call;                                                                              \
		stun_build__u32(&b, STUN_ATTR_LIFETIME, 1);                                        \
		if (stun_build__finish(&b) != -EINVAL)                                             \
			fail_msg("not -EINVAL: %s", #call);                                        \
	} while (0)

	EXPECT_EINVAL(stun_build__addr(&b, STUN_ATTR_MAPPED_ADDRESS, NULL));
	EXPECT_EINVAL(stun_build__addr(&b, STUN_ATTR_MAPPED_ADDRESS, (struct sockaddr *)&ss));
	EXPECT_EINVAL(stun_build__xaddr(&b, STUN_ATTR_XOR_PEER_ADDRESS, (struct sockaddr *)&ss));
	EXPECT_EINVAL(stun_build__error(&b, 299, NULL));
	EXPECT_EINVAL(stun_build__error(&b, 700, NULL));
	EXPECT_EINVAL(stun_build__error(&b, 400, "bad \xff"));
	EXPECT_EINVAL(stun_build__address_error(&b, 0, 440, NULL));
	EXPECT_EINVAL(stun_build__address_error(&b, STUN_FAMILY_IPV4, 200, NULL));
	EXPECT_EINVAL(stun_build__family(&b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, 3));
	EXPECT_EINVAL(stun_build__unknown(&b, &one, 0));
	EXPECT_EINVAL(stun_build__password_algorithms(&b, &one, 0));
	EXPECT_EINVAL(stun_build__string(&b, STUN_ATTR_USERNAME, NULL));
	EXPECT_EINVAL(stun_build__string(&b, STUN_ATTR_USERNAME, "\xc0\x80"));
	EXPECT_EINVAL(stun_build__attr(&b, STUN_ATTR_DATA, NULL, 3));
	EXPECT_EINVAL(stun_build__attr(&b, STUN_ATTR_DATA, buf, 0x10000));
	EXPECT_EINVAL(stun_build__integrity(&b, NULL, 4));
	EXPECT_EINVAL(stun_build__integrity_sha256(&b, NULL, 4));
#undef EXPECT_EINVAL

	stun_build__init(&b, buf, sizeof(buf), 0x1000, STUN_REQUEST, tid);
	assert_int_equal(stun_build__finish(&b), -EINVAL);
	/* First error wins. */
	stun_build__init(&b, buf, 24, STUN_BINDING, STUN_REQUEST, tid);
	stun_build__family(&b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, 9);
	stun_build__u64(&b, STUN_ATTR_RESERVATION_TOKEN, 1);
	assert_int_equal(stun_build__finish(&b), -EINVAL);
}

/* The 16-bit length field caps a message at 20 + 0xFFFC bytes. */
static void test_builder_message_limit(void **state)
{
	size_t cap = STUN_MAX_MSG_LEN + 64;
	uint8_t *buf = calloc(1, cap), *data = calloc(1, 0xFFFF);
	struct stun_builder b;
	struct stun_msg m;
	struct stun_attr a;

	assert_non_null(buf);
	assert_non_null(data);
	stun_build__init(&b, buf, cap, TURN_SEND, STUN_INDICATION, tid);
	stun_build__attr(&b, STUN_ATTR_DATA, data, 0xFFFC - 4 - 8 - 8);
	stun_build__u32(&b, STUN_ATTR_LIFETIME, 1);
	stun_build__fingerprint(&b);
	assert_int_equal(stun_build__finish(&b), STUN_MAX_MSG_LEN);
	stun_build__u32(&b, STUN_ATTR_LIFETIME, 1);
	assert_int_equal(stun_build__finish(&b), -EINVAL);

	/* Offsets past 0xFFFF are addressable: a FINGERPRINT at the very end. */
	stun_build__init(&b, buf, cap, TURN_SEND, STUN_INDICATION, tid);
	stun_build__attr(&b, STUN_ATTR_DATA, data, 0xFFFC - 4 - 8);
	stun_build__fingerprint(&b);
	parse_ok(&m, buf, finish_ok(&b));
	assert_int_equal(m.fp_off, STUN_MAX_MSG_LEN - 8);
	assert_int_equal(stun_msg__check_fingerprint(&m), 0);
	assert_true(stun_msg__find(&m, STUN_ATTR_FINGERPRINT, &a));
	assert_true(stun_msg__find(&m, STUN_ATTR_DATA, &a));
	assert_int_equal(a.len, 0xFFFC - 4 - 8);
	free(data);
	free(buf);
}

static void test_builder_random_tid(void **state)
{
	uint8_t a[STUN_TID_LEN], b2[STUN_TID_LEN], buf[32];
	static const uint8_t zero[STUN_TID_LEN];
	struct stun_builder b;

	assert_int_equal(stun_random_tid(a), 0);
	assert_int_equal(stun_random_tid(b2), 0);
	assert_memory_not_equal(a, b2, STUN_TID_LEN);
	stun_build__init(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, NULL);
	assert_int_equal(stun_build__finish(&b), STUN_HEADER_LEN);
	assert_memory_not_equal(buf + 8, zero, STUN_TID_LEN);
}

static void test_error_reasons(void **state)
{
	static const struct {
		int code;
		const char *reason;
	} cases[] = {
		{300, "Try Alternate"},
		{400, "Bad Request"},
		{401, "Unauthenticated"},
		{403, "Forbidden"},
		{405, "Mobility Forbidden"},
		{420, "Unknown Attribute"},
		{437, "Allocation Mismatch"},
		{438, "Stale Nonce"},
		{440, "Address Family not Supported"},
		{441, "Wrong Credentials"},
		{442, "Unsupported Transport Protocol"},
		{443, "Peer Address Family Mismatch"},
		{446, "Connection Already Exists"},
		{447, "Connection Timeout or Failure"},
		{486, "Allocation Quota Reached"},
		{487, "Role Conflict"},
		{500, "Server Error"},
		{508, "Insufficient Capacity"},
		{499, ""},
		{0, ""},
		{-1, ""},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_string_equal(stun_error_reason(cases[i].code), cases[i].reason);
}

/* Credentials ----------------------------------------------------------------------- */

static void test_lt_key_rejects(void **state)
{
	static const struct {
		const char *pass;
		size_t len;
		int rc;
	} cases[] = {
		{"secret", 6, 16},
		{"", 0, 16},
		{"\xff", 1, -EINVAL}, /* not UTF-8 */
		{"a\x07"
		 "b",
		 3, -EINVAL},	      /* control character (RFC 4013 C.2.1) */
		{"a\0b", 3, -EINVAL}, /* embedded NUL */
		{"\xe2\x80\xae"
		 "abc",
		 6, -EINVAL}, /* RIGHT-TO-LEFT OVERRIDE (C.8) */
		{"\xd8\xa7"
		 "1",
		 3, -EINVAL},			   /* RandALCat then L/digit: bidi rule */
		{"\xf3\xa0\x80\x81x", 5, -EINVAL}, /* tagging character (C.9) */
	};
	uint8_t k[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc =
			stun_lt_key(STUN_PWALG_MD5, "u", 1, "r", 1, cases[i].pass, cases[i].len, k);

		if (rc != cases[i].rc)
			fail_msg("case %zu: %d, want %d", i, rc, cases[i].rc);
	}
	assert_int_equal(stun_lt_key(STUN_PWALG_SHA256, "u", 1, "r", 1, "p", 1, k), 32);
	assert_int_equal(stun_lt_key(0, "u", 1, "r", 1, "p", 1, k), -EINVAL);
	assert_int_equal(stun_lt_key(3, "u", 1, "r", 1, "p", 1, k), -EINVAL);
}

/* ChannelData ------------------------------------------------------------------------ */

static void test_channel_parse(void **state)
{
	static const struct {
		const char *what;
		const char *bytes;
		size_t len;
		bool stream;
		int rc;
		uint16_t ch;
		size_t dlen;
	} cases[] = {
		{"udp, no padding", "\x40\x00\x00\x05hello", 9, false, 0, 0x4000, 5},
		{"udp, padded", "\x40\x00\x00\x05hello\0\0\0", 12, false, 0, 0x4000, 5},
		{"udp, empty", "\x4f\xff\x00\x00", 4, false, 0, 0x4fff, 0},
		{"tcp, padded", "\x4a\xbc\x00\x05hello\0\0\0", 12, true, 0, 0x4abc, 5},
		{"tcp, aligned",
		 "\x40\x01\x00\x04"
		 "data",
		 8, true, 0, 0x4001, 4},
		{"tcp, unpadded", "\x40\x00\x00\x05hello", 9, true, -EBADMSG, 0, 0},
		{"tcp, extra",
		 "\x40\x01\x00\x04"
		 "data\0\0\0\0",
		 12, true, -EBADMSG, 0, 0},
		{"udp, 4 extra",
		 "\x40\x01\x00\x04"
		 "data\0\0\0\0",
		 12, false, -EBADMSG, 0, 0},
		{"udp, short", "\x40\x00\x00\x05hell", 8, false, -EBADMSG, 0, 0},
		{"channel 0x3fff", "\x3f\xff\x00\x00", 4, false, -EBADMSG, 0, 0},
		{"channel 0x8000", "\x80\x00\x00\x00", 4, false, -EBADMSG, 0, 0},
		{"rfc5766 channel 0x7fff", "\x7f\xff\x00\x00", 4, false, 0, 0x7fff, 0},
		{"channel 0xffff", "\xff\xff\x00\x00", 4, true, -EBADMSG, 0, 0},
		{"header only", "\x40\x00\x00", 3, false, -EBADMSG, 0, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const uint8_t *data = NULL;
		size_t dlen = 0;
		uint16_t ch = 0;
		int rc = stun_channel__parse((const uint8_t *)cases[i].bytes, cases[i].len,
					     cases[i].stream, &ch, &data, &dlen);

		if (rc != cases[i].rc)
			fail_msg("%s: %d", cases[i].what, rc);
		if (rc)
			continue;
		assert_int_equal(ch, cases[i].ch);
		assert_int_equal(dlen, cases[i].dlen);
		assert_ptr_equal(data, cases[i].bytes + 4);
	}
}

static void test_channel_build(void **state)
{
	uint8_t buf[64], big[4];
	const uint8_t *data;
	size_t dlen;
	uint16_t ch;

	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(stun_channel__build(buf, sizeof(buf), 0x4001, "hello", 5, true), 12);
	assert_memory_equal(buf, "\x40\x01\x00\x05hello\0\0\0", 12);
	assert_int_equal(stun_channel__parse(buf, 12, true, &ch, &data, &dlen), 0);
	assert_int_equal(stun_channel__build(buf, sizeof(buf), 0x4001, "hello", 5, false), 9);
	assert_int_equal(stun_channel__parse(buf, 9, false, &ch, &data, &dlen), 0);
	assert_int_equal(dlen, 5);
	assert_int_equal(stun_channel__build(buf, sizeof(buf), 0x4fff, NULL, 0, true), 4);
	assert_int_equal(stun_channel__build(buf, 11, 0x4001, "hello", 5, true), -ENOSPC);
	assert_int_equal(stun_channel__build(buf, 8, 0x4001, "hello", 5, false), -ENOSPC);
	assert_int_equal(stun_channel__build(buf, sizeof(buf), 0x3fff, "x", 1, true), -EINVAL);
	assert_int_equal(stun_channel__build(buf, sizeof(buf), 0x8000, "x", 1, true), -EINVAL);
	assert_int_equal(stun_channel__build(buf, sizeof(buf), 0x4000, big, 0x10000, true),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_type_bits),
		cmocka_unit_test(test_header_and_tlv_rejected),
		cmocka_unit_test(test_parse_null_and_empty),
		cmocka_unit_test(test_looks_like),
		cmocka_unit_test(test_integrity_detects_every_corruption),
		cmocka_unit_test(test_integrity_explicit),
		cmocka_unit_test(test_fingerprint_mismatch),
		cmocka_unit_test(test_attribute_after_fingerprint_rejected),
		cmocka_unit_test(test_attributes_after_integrity_ignored),
		cmocka_unit_test(test_integrity_sizes),
		cmocka_unit_test(test_integrity_sha256_truncated),
		cmocka_unit_test(test_empty_key),
		cmocka_unit_test(test_unknown_required),
		cmocka_unit_test(test_roundtrip_addresses),
		cmocka_unit_test(test_xor_actually_xors),
		cmocka_unit_test(test_alternate_server_bytes),
		cmocka_unit_test(test_roundtrip_integers),
		cmocka_unit_test(test_roundtrip_error_codes),
		cmocka_unit_test(test_roundtrip_small_values),
		cmocka_unit_test(test_roundtrip_lists),
		cmocka_unit_test(test_password_algorithms_with_params),
		cmocka_unit_test(test_roundtrip_strings),
		cmocka_unit_test(test_getters_reject_malformed),
		cmocka_unit_test(test_string_limits),
		cmocka_unit_test(test_reserved_bits_ignored),
		cmocka_unit_test(test_builder_padding_and_length),
		cmocka_unit_test(test_builder_enospc),
		cmocka_unit_test(test_builder_einval),
		cmocka_unit_test(test_builder_message_limit),
		cmocka_unit_test(test_builder_random_tid),
		cmocka_unit_test(test_error_reasons),
		cmocka_unit_test(test_lt_key_rejects),
		cmocka_unit_test(test_channel_parse),
		cmocka_unit_test(test_channel_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
