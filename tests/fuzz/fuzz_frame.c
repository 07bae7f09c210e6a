// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the stream framer.
 *
 * Input: byte 0 picks max_len, byte 1 seeds the chunk sizes, the rest is
 * the byte stream. The stream is framed once as a whole and once as it
 * would arrive over TCP, in chunks; both must yield the same frames and end
 * the same way. Every window handed to the framer is an exactly-sized heap
 * copy, so reading past `avail` is caught by ASan. Frames must lie within
 * what was available and within max_len; ChannelData frames must decode;
 * STUN frames are parsed (and may be rejected) without crashing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/stun.h"

#include "fuzz.h"

static const size_t max_lens[] = {0, 4, 19, 20, 64, 100, 256, 1500, 4096, STUN_MAX_MSG_LEN};

struct result {
	size_t n;    /* frames */
	size_t *len; /* n entries */
	enum stun_frame_kind *kind;
	enum stun_frame_status last;
	size_t need; /* with last == NEED */
	size_t consumed;
};

/* Frame the window [p, p+avail) through an exact-size copy. */
static enum stun_frame_status next(const uint8_t *p, size_t avail, size_t max_len,
				   struct stun_frame *f)
{
	uint8_t *w = malloc(avail ? avail : 1);
	enum stun_frame_status st;

	CHECK(w);
	memcpy(w, p, avail);
	st = stun_frame__next(w, avail, max_len, f);
	if (st == STUN_FRAME_OK) {
		const uint8_t *payload;
		struct stun_msg m;
		size_t dlen;
		uint16_t ch;

		CHECK(f->len >= 4 && f->len % 4 == 0 && f->len <= avail && f->len <= max_len);
		if (f->kind == STUN_FRAME_STUN) {
			CHECK(w[0] < 0x40);
			if (stun_msg__parse(&m, w, f->len) == 0)
				stun_msg__check_fingerprint(&m);
		} else {
			CHECK(f->kind == STUN_FRAME_CHANNEL);
			CHECK(stun_channel__parse(w, f->len, true, &ch, &payload, &dlen) == 0);
		}
	} else if (st == STUN_FRAME_NEED) {
		CHECK(f->need > avail);
	} else {
		CHECK(st == STUN_FRAME_INVALID);
	}
	free(w);
	return st;
}

static void result_init(struct result *r, size_t size)
{
	size_t cap = size / 4 + 1;

	memset(r, 0, sizeof(*r));
	r->len = calloc(cap, sizeof(*r->len));
	r->kind = calloc(cap, sizeof(*r->kind));
	CHECK(r->len && r->kind);
}

static void result_free(struct result *r)
{
	free(r->len);
	free(r->kind);
}

/* Take every complete frame from [buf+r->consumed, buf+end). False once INVALID. */
static bool drain(const uint8_t *buf, size_t end, size_t max_len, struct result *r)
{
	struct stun_frame f;

	for (;;) {
		enum stun_frame_status st = next(buf + r->consumed, end - r->consumed, max_len, &f);

		r->last = st;
		if (st == STUN_FRAME_INVALID)
			return false;
		if (st == STUN_FRAME_NEED) {
			r->need = f.need;
			return true;
		}
		r->len[r->n] = f.len;
		r->kind[r->n++] = f.kind;
		r->consumed += f.len;
	}
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, inc;
	const uint8_t *s;
	size_t n, max_len, end = 0;
	uint32_t seed;

	if (size < 2)
		return 0;
	max_len = max_lens[data[0] % (sizeof(max_lens) / sizeof(max_lens[0]))];
	seed = (uint32_t)data[1] * 2654435761u + (uint32_t)size;
	seed = seed ? seed : 1;
	s = data + 2;
	n = size - 2;

	result_init(&whole, n);
	drain(s, n, max_len, &whole);

	result_init(&inc, n);
	while (end < n) {
		/* Mostly small reads, sometimes large ones, sometimes single bytes. */
		uint32_t r = xorshift(&seed);
		size_t chunk = (r & 3) == 0 ? 1 : 1 + (r >> 2) % ((r & 3) == 1 ? 512 : 24);

		end = chunk > n - end ? n : end + chunk;
		if (!drain(s, end, max_len, &inc))
			break;
	}
	if (n == 0)
		drain(s, 0, max_len, &inc);

	CHECK(inc.n == whole.n && inc.last == whole.last && inc.consumed == whole.consumed);
	CHECK(memcmp(inc.len, whole.len, whole.n * sizeof(*whole.len)) == 0);
	CHECK(memcmp(inc.kind, whole.kind, whole.n * sizeof(*whole.kind)) == 0);
	if (whole.last == STUN_FRAME_NEED)
		CHECK(inc.need == whole.need);
	result_free(&whole);
	result_free(&inc);
	return 0;
}
