// SPDX-License-Identifier: MIT
/*
 * STUN message view: header and TLV validation, attribute iteration.
 *
 * The parser walks every TLV once and records where the integrity
 * attributes are; it never writes to the buffer. What RFC 8489 §14.5/§14.6
 * tells receivers to ignore (attributes after MESSAGE-INTEGRITY other than
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, attributes after
 * MESSAGE-INTEGRITY-SHA256 other than FINGERPRINT) is bounds-checked but
 * never handed out by the iterator.
 */
#include <errno.h>
#include <string.h>

#include "stun_int.h"

static bool header_ok(const uint8_t *buf, size_t len)
{
	return len >= STUN_HEADER_LEN && (buf[0] & 0xC0) == 0 &&
	       get32(buf + 4) == STUN_MAGIC_COOKIE && (get16(buf + 2) & 3) == 0 &&
	       (size_t)STUN_HEADER_LEN + get16(buf + 2) == len;
}

bool stun_msg__looks_like(const uint8_t *buf, size_t len)
{
	return buf && header_ok(buf, len);
}

static bool mi256_len_ok(uint16_t alen)
{
	return alen >= 16 && alen <= STUN_HMAC_SHA256_LEN && alen % 4 == 0;
}

/* Record one integrity-related attribute; sizes are checked wherever it appears. */
static int note_attr(struct stun_msg *m, uint16_t type, uint16_t alen, uint32_t off)
{
	switch (type) {
	case STUN_ATTR_MESSAGE_INTEGRITY:
		if (alen != STUN_HMAC_SHA1_LEN)
			return -EBADMSG;
		if (!m->mi_off && !m->mi256_off)
			m->mi_off = off;
		return 0;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		if (!mi256_len_ok(alen))
			return -EBADMSG;
		if (!m->mi256_off)
			m->mi256_off = off;
		return 0;
	case STUN_ATTR_FINGERPRINT:
		if (alen != STUN_FINGERPRINT_LEN)
			return -EBADMSG;
		m->fp_off = off;
		return 0;
	default:
		return 0;
	}
}

static uint32_t visible_end(const struct stun_msg *m)
{
	if (m->mi_off)
		return m->mi_off + STUN_ATTR_HDR_LEN + STUN_HMAC_SHA1_LEN;
	if (m->mi256_off)
		return m->mi256_off + STUN_ATTR_HDR_LEN + get16(m->buf + m->mi256_off + 2);
	return m->fp_off ? m->fp_off : (uint32_t)m->len;
}

static int walk(struct stun_msg *m)
{
	size_t off = STUN_HEADER_LEN;

	while (off < m->len) {
		uint16_t type, alen;
		int err;

		if (m->fp_off || m->len - off < STUN_ATTR_HDR_LEN)
			return -EBADMSG;
		type = get16(m->buf + off);
		alen = get16(m->buf + off + 2);
		if (pad4(alen) > m->len - off - STUN_ATTR_HDR_LEN)
			return -EBADMSG;
		err = note_attr(m, type, alen, (uint32_t)off);
		if (err)
			return err;
		off += STUN_ATTR_HDR_LEN + pad4(alen);
	}
	m->visible_end = visible_end(m);
	return 0;
}

int stun_msg__parse(struct stun_msg *m, const uint8_t *buf, size_t len)
{
	int err;

	memset(m, 0, sizeof(*m));
	if (!buf || !header_ok(buf, len))
		return -EBADMSG;
	m->buf = buf;
	m->len = len;
	m->type = get16(buf);
	m->method = stun_type_method(m->type);
	m->cls = stun_type_class(m->type);
	m->tid = buf + 8;
	err = walk(m);
	if (err)
		memset(m, 0, sizeof(*m));
	return err;
}

void stun_attr_iter__init(struct stun_attr_iter *it, const struct stun_msg *m)
{
	it->msg = m;
	it->off = STUN_HEADER_LEN;
}

/* The integrity attributes past visible_end: MESSAGE-INTEGRITY-SHA256, then FINGERPRINT. */
static size_t next_tail(const struct stun_msg *m, size_t off)
{
	if (off < m->visible_end)
		off = m->visible_end;
	if (m->mi256_off && m->mi256_off >= off)
		return m->mi256_off;
	if (m->fp_off && m->fp_off >= off)
		return m->fp_off;
	return 0;
}

bool stun_attr_iter__next(struct stun_attr_iter *it, struct stun_attr *a)
{
	const struct stun_msg *m = it->msg;
	size_t off = it->off;

	if (!m->buf)
		return false;
	if (off >= m->visible_end) {
		off = next_tail(m, off);
		if (!off)
			return false;
	}
	a->type = get16(m->buf + off);
	a->len = get16(m->buf + off + 2);
	a->val = m->buf + off + STUN_ATTR_HDR_LEN;
	it->off = off + STUN_ATTR_HDR_LEN + pad4(a->len);
	return true;
}

bool stun_msg__find(const struct stun_msg *m, uint16_t type, struct stun_attr *a)
{
	struct stun_attr_iter it;
	struct stun_attr cur;

	stun_attr_iter__init(&it, m);
	while (stun_attr_iter__next(&it, &cur)) {
		if (cur.type == type) {
			*a = cur;
			return true;
		}
	}
	return false;
}

static bool contains(const uint16_t *v, size_t n, uint16_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

size_t stun_msg__unknown_required(const struct stun_msg *m, bool (*known)(uint16_t type),
				  uint16_t *out, size_t max)
{
	struct stun_attr_iter it;
	struct stun_attr a;
	size_t n = 0;

	stun_attr_iter__init(&it, m);
	while (n < max && stun_attr_iter__next(&it, &a)) {
		if (!stun_attr_is_required(a.type) || (known && known(a.type)))
			continue;
		if (!contains(out, n, a.type))
			out[n++] = a.type;
	}
	return n;
}
