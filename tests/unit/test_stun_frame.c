// SPDX-License-Identifier: MIT
/*
 * Stream framing: a byte stream of coalesced STUN and ChannelData frames
 * must come out as the same frames however the stream is cut into reads
 * (every split point, every pair of split points, one byte at a time,
 * random chunk sizes); junk is rejected within its first few bytes; frames
 * larger than max_len are rejected.
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

#include "kturn/stun.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_FRAMES    16
#define MAX_LEN	      2048

struct frames {
	size_t n;
	enum stun_frame_kind kind[MAX_FRAMES];
	size_t len[MAX_FRAMES];
	enum stun_frame_status last; /* NEED or INVALID */
	size_t need;
};

static struct {
	uint8_t buf[1024];
	size_t len;
	struct frames want;
} stream;

static void add_frame(enum stun_frame_kind kind, size_t len)
{
	assert_true(stream.want.n < MAX_FRAMES);
	stream.want.kind[stream.want.n] = kind;
	stream.want.len[stream.want.n++] = len;
	stream.len += len;
}

static void add_stun(uint16_t method, enum stun_class cls, size_t data_len, bool sign)
{
	static const uint8_t key[] = "k";
	static uint8_t data[512];
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(5000)};
	struct stun_builder b;

	peer.sin_addr.s_addr = htonl(0xC0000201);
	stun_build__init(&b, stream.buf + stream.len, sizeof(stream.buf) - stream.len, method, cls,
			 NULL);
	if (data_len) {
		memset(data, 0x5A, data_len);
		stun_build__xaddr(&b, STUN_ATTR_XOR_PEER_ADDRESS, (struct sockaddr *)&peer);
		stun_build__attr(&b, STUN_ATTR_DATA, data, data_len);
	}
	if (sign) {
		stun_build__string(&b, STUN_ATTR_SOFTWARE, "kturn");
		stun_build__integrity(&b, key, 1);
		stun_build__fingerprint(&b);
	}
	assert_true(stun_build__finish(&b) > 0);
	add_frame(STUN_FRAME_STUN, (size_t)stun_build__finish(&b));
}

static void add_channel(uint16_t ch, size_t data_len)
{
	static const uint8_t data[64] = "0123456789abcdef0123456789abcdef";
	ssize_t n = stun_channel__build(stream.buf + stream.len, sizeof(stream.buf) - stream.len,
					ch, data, data_len, true);

	assert_true(n > 0);
	add_frame(STUN_FRAME_CHANNEL, (size_t)n);
}

static int setup_stream(void **state)
{
	memset(&stream, 0, sizeof(stream));
	add_stun(STUN_BINDING, STUN_REQUEST, 0, true);
	add_channel(0x4000, 5);
	add_channel(0x4FFF, 0);
	add_stun(TURN_SEND, STUN_INDICATION, 301, false);
	add_channel(0x4ABC, 1);
	add_channel(0x4001, 8);
	add_stun(STUN_BINDING, STUN_SUCCESS, 0, false); /* header only */
	add_channel(0x4123, 32);
	stream.want.last = STUN_FRAME_NEED;
	stream.want.need = STUN_CHANNEL_HDR_LEN;
	return 0;
}

/* Every frame the framer hands out must decode as what it claims to be. */
static void check_frame(const uint8_t *p, const struct stun_frame *f, size_t avail)
{
	const uint8_t *data;
	struct stun_msg m;
	size_t dlen;
	uint16_t ch;

	assert_true(f->len > 0 && f->len <= avail && f->len <= MAX_LEN);
	if (f->kind == STUN_FRAME_STUN)
		assert_int_equal(stun_msg__parse(&m, p, f->len), 0);
	else
		assert_int_equal(stun_channel__parse(p, f->len, true, &ch, &data, &dlen), 0);
}

/* A connection's receive side: append what arrived, take every complete frame. */
struct rx {
	uint8_t buf[1024];
	size_t have;
	bool dead;
	struct frames got;
};

static void rx_push(struct rx *rx, const uint8_t *p, size_t n)
{
	struct stun_frame f;

	if (rx->dead)
		return;
	assert_true(rx->have + n <= sizeof(rx->buf));
	memcpy(rx->buf + rx->have, p, n);
	rx->have += n;
	for (;;) {
		enum stun_frame_status st = stun_frame__next(rx->buf, rx->have, MAX_LEN, &f);

		rx->got.last = st;
		if (st == STUN_FRAME_INVALID) {
			rx->dead = true;
			return;
		}
		if (st == STUN_FRAME_NEED) {
			assert_true(f.need > rx->have);
			rx->got.need = f.need;
			return;
		}
		check_frame(rx->buf, &f, rx->have);
		assert_true(rx->got.n < MAX_FRAMES);
		rx->got.kind[rx->got.n] = f.kind;
		rx->got.len[rx->got.n++] = f.len;
		memmove(rx->buf, rx->buf + f.len, rx->have - f.len);
		rx->have -= f.len;
	}
}

static void assert_frames_equal(const struct frames *got, const struct frames *want,
				const char *how)
{
	if (got->n != want->n || got->last != want->last || got->need != want->need)
		fail_msg("%s: %zu frames, last %d need %zu", how, got->n, got->last, got->need);
	for (size_t i = 0; i < want->n; i++)
		if (got->kind[i] != want->kind[i] || got->len[i] != want->len[i])
			fail_msg("%s: frame %zu is kind %d len %zu", how, i, got->kind[i],
				 got->len[i]);
}

/* Cut the stream at the given sorted offsets and feed the pieces. */
static void feed_cuts(const size_t *cuts, size_t ncuts, const char *how)
{
	static struct rx rx;
	size_t from = 0;

	memset(&rx, 0, sizeof(rx));
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : stream.len;

		rx_push(&rx, stream.buf + from, to - from);
		from = to;
	}
	assert_int_equal(rx.have, 0);
	assert_frames_equal(&rx.got, &stream.want, how);
}

static void test_whole_stream(void **state)
{
	size_t cut = stream.len;

	feed_cuts(&cut, 1, "whole");
}

static void test_every_split(void **state)
{
	for (size_t p = 0; p <= stream.len; p++)
		feed_cuts(&p, 1, "one split");
}

static void test_every_pair_of_splits(void **state)
{
	for (size_t p = 0; p <= stream.len; p++) {
		for (size_t q = p; q <= stream.len; q++) {
			size_t cuts[2] = {p, q};

			feed_cuts(cuts, 2, "two splits");
		}
	}
}

static void test_byte_at_a_time(void **state)
{
	static size_t cuts[1024];

	for (size_t i = 0; i < stream.len; i++)
		cuts[i] = i + 1;
	feed_cuts(cuts, stream.len, "byte at a time");
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_random_chunks(void **state)
{
	static size_t cuts[1024];

	for (uint32_t seed = 1; seed <= 2000; seed++) {
		uint32_t s = seed * 2654435761u;
		size_t n = 0, at = 0;
		uint32_t max_chunk = 1 + seed % 97;

		while (at < stream.len) {
			at += 1 + xorshift(&s) % max_chunk;
			if (at > stream.len)
				at = stream.len;
			cuts[n++] = at;
		}
		feed_cuts(cuts, n, "random chunks");
	}
}

/* The prefix length at which each input is first rejected (every shorter one: NEED). */
static void test_junk_rejected_early(void **state)
{
	static const struct {
		const char *what;
		const char *bytes;
		size_t len;
		size_t invalid_at;
	} cases[] = {
#define JUNK(what, bytes, at) {what, bytes, sizeof(bytes) - 1, at}
		JUNK("HTTP GET", "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n", 4),
		JUNK("HTTP HEAD", "HEAD / HTTP/1.1\r\n\r\n", 4),
		JUNK("HTTP OPTIONS", "OPTIONS * HTTP/1.1\r\n\r\n", 4),
		JUNK("HTTP DELETE", "DELETE /x HTTP/1.1\r\n\r\n", 4),
		JUNK("HTTP CONNECT", "CONNECT a:443 HTTP/1.1\r\n\r\n", 4),
		/* "PO" reads as RFC 5766 channel 0x504f; "ST" as a 21 KB length */
		JUNK("HTTP POST", "POST / HTTP/1.1\r\n\r\n", 4),
		JUNK("HTTP PUT", "PUT / HTTP/1.1\r\n\r\n", 4),
		JUNK("SSH banner", "SSH-2.0-OpenSSH_9.2\r\n", 4),
		JUNK("TLS ClientHello, length 0x00f8",
		     "\x16\x03\x01\x00\xf8\x01\x00\x00\xf4\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00"
		     "\x00\x00\x00\x00",
		     5),
		JUNK("TLS ClientHello, length 0x0200",
		     "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00"
		     "\x00\x00\x00\x00",
		     4),
		JUNK("RTP", "\x80\x60\x00\x01", 1),
		JUNK("STUN, cookie wrong in its last byte",
		     "\x00\x01\x00\x00\x21\x12\xa4\x43\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		     "\x00",
		     8),
		JUNK("STUN, cookie wrong in its first byte", "\x00\x01\x00\x00\x22\x12\xa4\x42", 5),
		JUNK("STUN, length not a multiple of 4", "\x00\x01\x00\x02\x21\x12\xa4\x42", 4),
		JUNK("STUN, larger than max_len", "\x00\x01\x07\xf0\x21\x12\xa4\x42", 4),
		JUNK("ChannelData, larger than max_len", "\x40\x00\x07\xfd\x00\x00", 4),
		JUNK("first byte 0x80", "\x80\x00\x00\x00", 1),
		JUNK("ChannelData 0xffff", "\xff\xff\x00\x00", 1),
		JUNK("ChannelData 0x3fff (a STUN first byte)", "\x3f\xff\x00\x00\x00\x00\x00\x00",
		     5),
#undef JUNK
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const uint8_t *p = (const uint8_t *)cases[i].bytes;

		for (size_t n = 0; n <= cases[i].len; n++) {
			struct stun_frame f;
			enum stun_frame_status st = stun_frame__next(p, n, MAX_LEN, &f);
			enum stun_frame_status want =
				n < cases[i].invalid_at ? STUN_FRAME_NEED : STUN_FRAME_INVALID;

			if (st != want)
				fail_msg("%s: %zu bytes: status %d, want %d", cases[i].what, n, st,
					 want);
			if (st == STUN_FRAME_NEED && f.need <= n)
				fail_msg("%s: %zu bytes: need %zu", cases[i].what, n, f.need);
		}
	}
}

static void test_size_limits(void **state)
{
	static const struct {
		const char *what;
		uint8_t hdr[4];
		size_t max_len;
		enum stun_frame_status st;
	} cases[] = {
		{"STUN exactly max_len", {0x00, 0x01, 0x00, 0x64}, 120, STUN_FRAME_NEED},
		{"STUN one over", {0x00, 0x01, 0x00, 0x64}, 119, STUN_FRAME_INVALID},
		{"STUN max body, default limit",
		 {0x00, 0x01, 0xff, 0xfc},
		 STUN_MAX_MSG_LEN,
		 STUN_FRAME_NEED},
		{"STUN header only, max_len 19", {0x00, 0x01, 0x00, 0x00}, 19, STUN_FRAME_INVALID},
		{"ChannelData exactly max_len", {0x40, 0x00, 0x00, 0x08}, 12, STUN_FRAME_NEED},
		{"ChannelData padding over", {0x40, 0x00, 0x00, 0x05}, 11, STUN_FRAME_INVALID},
		{"ChannelData max data", {0x4f, 0xff, 0xff, 0xff}, 4 + 0x10000, STUN_FRAME_NEED},
		{"ChannelData max data, one short",
		 {0x4f, 0xff, 0xff, 0xff},
		 4 + 0xFFFF,
		 STUN_FRAME_INVALID},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t buf[8];
		struct stun_frame f;

		memcpy(buf, cases[i].hdr, 4);
		memcpy(buf + 4, "\x21\x12\xa4\x42", 4);
		if (stun_frame__next(buf, 8, cases[i].max_len, &f) != cases[i].st)
			fail_msg("%s", cases[i].what);
	}
}

static void test_need_values(void **state)
{
	/* ChannelData with 5 bytes: header first, then the padded total. */
	static const uint8_t cd[] = {0x40, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
	struct stun_frame f;

	for (size_t n = 0; n < sizeof(cd); n++) {
		assert_int_equal(stun_frame__next(cd, n, MAX_LEN, &f), STUN_FRAME_NEED);
		assert_int_equal(f.need, n < 4 ? 4 : sizeof(cd));
	}
	assert_int_equal(stun_frame__next(cd, sizeof(cd), MAX_LEN, &f), STUN_FRAME_OK);
	assert_int_equal(f.kind, STUN_FRAME_CHANNEL);
	assert_int_equal(f.len, sizeof(cd));
	/* Bytes after the frame belong to the next one. */
	assert_int_equal(stun_frame__next(stream.buf, stream.len, MAX_LEN, &f), STUN_FRAME_OK);
	assert_int_equal(f.len, stream.want.len[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_whole_stream, setup_stream),
		cmocka_unit_test_setup(test_every_split, setup_stream),
		cmocka_unit_test_setup(test_every_pair_of_splits, setup_stream),
		cmocka_unit_test_setup(test_byte_at_a_time, setup_stream),
		cmocka_unit_test_setup(test_random_chunks, setup_stream),
		cmocka_unit_test(test_junk_rejected_early),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test_setup(test_need_values, setup_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
