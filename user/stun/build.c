// SPDX-License-Identifier: MIT
/*
 * Message builder. The first failure is kept in b->err and turns every later
 * call into a no-op, so callers check once, at stun_build__finish().
 * The header's length field is kept current after every attribute.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <openssl/rand.h>

#include "stun_int.h"

static void fail(struct stun_builder *b, int err)
{
	if (!b->err)
		b->err = err;
}

int stun_random_tid(uint8_t tid[STUN_TID_LEN])
{
	return RAND_bytes(tid, STUN_TID_LEN) == 1 ? 0 : -EIO;
}

void stun_build__init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		      enum stun_class cls, const uint8_t *tid)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
	if (method > 0xFFF || (unsigned)cls > STUN_ERROR) {
		fail(b, -EINVAL);
		return;
	}
	if (!buf || cap < STUN_HEADER_LEN) {
		fail(b, -ENOSPC);
		return;
	}
	put16(buf, stun_type(method, cls));
	put16(buf + 2, 0);
	put32(buf + 4, STUN_MAGIC_COOKIE);
	if (tid)
		memcpy(buf + 8, tid, STUN_TID_LEN);
	if (!tid && stun_random_tid(buf + 8)) {
		fail(b, -EIO);
		return;
	}
	b->len = STUN_HEADER_LEN;
}

uint8_t *stun_build_reserve(struct stun_builder *b, uint16_t type, size_t len)
{
	size_t need = STUN_ATTR_HDR_LEN + pad4(len);
	uint8_t *p;

	if (b->err)
		return NULL;
	if (len > 0xFFFF || b->len - STUN_HEADER_LEN + need > STUN_MAX_MSG_LEN - STUN_HEADER_LEN) {
		fail(b, -EINVAL);
		return NULL;
	}
	if (need > b->cap - b->len) {
		fail(b, -ENOSPC);
		return NULL;
	}
	p = b->buf + b->len;
	put16(p, type);
	put16(p + 2, (uint16_t)len);
	memset(p + STUN_ATTR_HDR_LEN + len, 0, pad4(len) - len);
	b->len += need;
	put16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	return p + STUN_ATTR_HDR_LEN;
}

void stun_build__attr(struct stun_builder *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *p;

	if (len && !val) {
		fail(b, -EINVAL);
		return;
	}
	p = stun_build_reserve(b, type, len);
	if (p && len)
		memcpy(p, val, len);
}

void stun_build__u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t *p = stun_build_reserve(b, type, 4);

	if (p)
		put32(p, v);
}

void stun_build__u64(struct stun_builder *b, uint16_t type, uint64_t v)
{
	uint8_t *p = stun_build_reserve(b, type, 8);

	if (p) {
		put32(p, (uint32_t)(v >> 32));
		put32(p + 4, (uint32_t)v);
	}
}

/* Family, port and address bytes of a sockaddr, or -EINVAL. */
static int sa_parts(const struct sockaddr *sa, uint8_t *family, uint16_t *port,
		    const uint8_t **addr)
{
	if (!sa)
		return -EINVAL;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		*family = STUN_FAMILY_IPV4;
		*port = ntohs(sin->sin_port);
		*addr = (const uint8_t *)&sin->sin_addr;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		*family = STUN_FAMILY_IPV6;
		*port = ntohs(sin6->sin6_port);
		*addr = sin6->sin6_addr.s6_addr;
		return 0;
	}
	return -EINVAL;
}

static void put_addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa, bool xor)
{
	uint8_t family, mask[16], *p;
	const uint8_t *addr;
	uint16_t port;
	size_t alen;
	int err = sa_parts(sa, &family, &port, &addr);

	if (err) {
		fail(b, err);
		return;
	}
	alen = family == STUN_FAMILY_IPV4 ? 4 : 16;
	memset(mask, 0, sizeof(mask));
	p = stun_build_reserve(b, type, 4 + alen);
	if (!p)
		return;
	if (xor) {
		/* cookie || tid, the tid already in the header */
		memcpy(mask, b->buf + 4, 16);
		port ^= STUN_MAGIC_COOKIE >> 16;
	}
	p[0] = 0;
	p[1] = family;
	put16(p + 2, port);
	for (size_t i = 0; i < alen; i++)
		p[4 + i] = addr[i] ^ mask[i];
}

void stun_build__addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa)
{
	put_addr(b, type, sa, false);
}

void stun_build__xaddr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa)
{
	put_addr(b, type, sa, true);
}

/* Text attribute value: length limit for `type`, UTF-8. */
static int text_check(const char *s, size_t max, size_t *len)
{
	if (!s)
		return -EINVAL;
	*len = strlen(s);
	if (*len > max || !stun_utf8_valid((const uint8_t *)s, *len))
		return -EINVAL;
	return 0;
}

void stun_build__string(struct stun_builder *b, uint16_t type, const char *s)
{
	size_t len;
	int err = text_check(s, stun_string_limit(type), &len);

	if (err) {
		fail(b, err);
		return;
	}
	stun_build__attr(b, type, s, len);
}

/* Code/reason tail shared by ERROR-CODE and ADDRESS-ERROR-CODE; head is byte 0. */
static void put_code(struct stun_builder *b, uint16_t type, uint8_t head, int code,
		     const char *reason)
{
	size_t len;
	uint8_t *p;
	int err;

	if (code < 300 || code > 699) {
		fail(b, -EINVAL);
		return;
	}
	err = text_check(reason ? reason : stun_error_reason(code), STUN_MAX_REASON, &len);
	if (err) {
		fail(b, err);
		return;
	}
	p = stun_build_reserve(b, type, 4 + len);
	if (!p)
		return;
	p[0] = head;
	p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	memcpy(p + 4, reason ? reason : stun_error_reason(code), len);
}

void stun_build__error(struct stun_builder *b, int code, const char *reason)
{
	put_code(b, STUN_ATTR_ERROR_CODE, 0, code, reason);
}

void stun_build__address_error(struct stun_builder *b, uint8_t family, int code, const char *reason)
{
	if (family != STUN_FAMILY_IPV4 && family != STUN_FAMILY_IPV6) {
		fail(b, -EINVAL);
		return;
	}
	put_code(b, STUN_ATTR_ADDRESS_ERROR_CODE, family, code, reason);
}

void stun_build__unknown(struct stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *p;

	if (n == 0 || !types || n > 0xFFFF / 2) {
		fail(b, -EINVAL);
		return;
	}
	p = stun_build_reserve(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	for (size_t i = 0; p && i < n; i++)
		put16(p + 2 * i, types[i]);
}

void stun_build__channel(struct stun_builder *b, uint16_t channel)
{
	stun_build__u32(b, STUN_ATTR_CHANNEL_NUMBER, (uint32_t)channel << 16);
}

void stun_build__transport(struct stun_builder *b, uint8_t proto)
{
	stun_build__u32(b, STUN_ATTR_REQUESTED_TRANSPORT, (uint32_t)proto << 24);
}

void stun_build__family(struct stun_builder *b, uint16_t type, uint8_t family)
{
	if (family != STUN_FAMILY_IPV4 && family != STUN_FAMILY_IPV6) {
		fail(b, -EINVAL);
		return;
	}
	stun_build__u32(b, type, (uint32_t)family << 24);
}

void stun_build__even_port(struct stun_builder *b, bool reserve)
{
	uint8_t v = reserve ? 0x80 : 0;

	stun_build__attr(b, STUN_ATTR_EVEN_PORT, &v, 1);
}

void stun_build__icmp(struct stun_builder *b, uint8_t type, uint8_t code, uint32_t data)
{
	uint8_t *p = stun_build_reserve(b, STUN_ATTR_ICMP, 8);

	if (p) {
		put16(p, 0);
		p[2] = type;
		p[3] = code;
		put32(p + 4, data);
	}
}

void stun_build__password_algorithms(struct stun_builder *b, const uint16_t *algs, size_t n)
{
	uint8_t *p;

	if (n == 0 || !algs || n > 0xFFFF / 4) {
		fail(b, -EINVAL);
		return;
	}
	p = stun_build_reserve(b, STUN_ATTR_PASSWORD_ALGORITHMS, 4 * n);
	for (size_t i = 0; p && i < n; i++)
		put32(p + 4 * i, (uint32_t)algs[i] << 16);
}

void stun_build__password_algorithm(struct stun_builder *b, uint16_t alg)
{
	stun_build__u32(b, STUN_ATTR_PASSWORD_ALGORITHM, (uint32_t)alg << 16);
}

ssize_t stun_build__finish(struct stun_builder *b)
{
	return b->err ? b->err : (ssize_t)b->len;
}

static const struct {
	int code;
	const char *reason;
} reasons[] = {
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
};

const char *stun_error_reason(int code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].reason;
	return "";
}
