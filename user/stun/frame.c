// SPDX-License-Identifier: MIT
/*
 * Stream framing for STUN over TCP/TLS (RFC 8489 §6.2.2, RFC 8656 §12.5).
 *
 * The first byte tells the kind: 0x00-0x3F STUN, 0x40-0x7F ChannelData
 * (RFC 8656 binds only 0x40-0x4F; RFC 5766 clients use the rest too),
 * anything else is not ours. Every check is made as soon as the bytes it
 * needs are present, so junk (HTTP, a TLS record on a plain port) is
 * rejected within the first few bytes instead of after a whole "frame".
 */
#include <string.h>

#include "stun_int.h"

static enum stun_frame_status need(struct stun_frame *f, size_t n)
{
	f->need = n;
	return STUN_FRAME_NEED;
}

static enum stun_frame_status done(struct stun_frame *f, size_t avail, size_t total)
{
	if (avail < total)
		return need(f, total);
	f->len = total;
	return STUN_FRAME_OK;
}

static bool cookie_prefix_ok(const uint8_t *buf, size_t avail)
{
	uint8_t cookie[4];
	size_t n = avail < 8 ? avail - 4 : 4;

	put32(cookie, STUN_MAGIC_COOKIE);
	return memcmp(buf + 4, cookie, n) == 0;
}

static enum stun_frame_status stun_frame(const uint8_t *buf, size_t avail, size_t max_len,
					 struct stun_frame *f)
{
	size_t total;

	f->kind = STUN_FRAME_STUN;
	if (avail < 4)
		return need(f, STUN_HEADER_LEN);
	total = STUN_HEADER_LEN + (size_t)get16(buf + 2);
	if (total % 4 || total > max_len || !cookie_prefix_ok(buf, avail))
		return STUN_FRAME_INVALID;
	if (avail < STUN_HEADER_LEN)
		return need(f, STUN_HEADER_LEN);
	return done(f, avail, total);
}

static enum stun_frame_status channel_frame(const uint8_t *buf, size_t avail, size_t max_len,
					    struct stun_frame *f)
{
	size_t total;

	f->kind = STUN_FRAME_CHANNEL;
	if (avail < STUN_CHANNEL_HDR_LEN)
		return need(f, STUN_CHANNEL_HDR_LEN);
	total = STUN_CHANNEL_HDR_LEN + pad4(get16(buf + 2));
	if (total > max_len)
		return STUN_FRAME_INVALID;
	return done(f, avail, total);
}

enum stun_frame_status stun_frame__next(const uint8_t *buf, size_t avail, size_t max_len,
					struct stun_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (avail == 0)
		return need(f, STUN_CHANNEL_HDR_LEN);
	if (buf[0] <= 0x3F)
		return stun_frame(buf, avail, max_len, f);
	if (buf[0] <= 0x7F)
		return channel_frame(buf, avail, max_len, f);
	return STUN_FRAME_INVALID;
}
