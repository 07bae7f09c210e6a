// SPDX-License-Identifier: MIT
/*
 * Typed attribute getters. Each checks the value length exactly and the
 * fields the RFCs constrain; reserved bits that RFC 8489/8656 tell receivers
 * to ignore are ignored, the first byte of address attributes included
 * (RFC 8489 §14.1: senders set it to zero, receivers ignore it).
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "stun_int.h"

/* Continuation bytes after lead byte c, its payload bits and the smallest code point. */
static size_t utf8_lead(uint8_t c, uint32_t *cp, uint32_t *min)
{
	if (c >= 0xC2 && c <= 0xDF) {
		*cp = c & 0x1F;
		*min = 0x80;
		return 1;
	}
	if (c >= 0xE0 && c <= 0xEF) {
		*cp = c & 0x0F;
		*min = 0x800;
		return 2;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		*cp = c & 0x07;
		*min = 0x10000;
		return 3;
	}
	return 0;
}

bool stun_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp, min;
		size_t more;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		more = utf8_lead(s[i], &cp, &min);
		if (!more || n - i - 1 < more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += more + 1;
	}
	return true;
}

size_t stun_string_limit(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_USERNAME:
		return STUN_MAX_USERNAME;
	case STUN_ATTR_REALM:
		return STUN_MAX_REALM;
	case STUN_ATTR_NONCE:
		return STUN_MAX_NONCE;
	case STUN_ATTR_SOFTWARE:
		return STUN_MAX_SOFTWARE;
	case STUN_ATTR_ALTERNATE_DOMAIN:
		return 255; /* RFC 8489 §14.16 */
	default:
		return STUN_MAX_REASON;
	}
}

static bool text_ok(const uint8_t *s, size_t n, size_t max)
{
	return n <= max && !memchr(s, 0, n) && stun_utf8_valid(s, n);
}

/*
 * Shared by MAPPED-ADDRESS and the XOR forms: `mask` is XORed over port
 * and address (all zero for the plain form).
 */
static int get_addr(const struct stun_attr *a, const uint8_t mask[18], struct sockaddr_storage *out)
{
	const uint8_t *v = a->val;
	uint16_t port;

	if (a->len < 4)
		return -EBADMSG;
	if (!((v[1] == STUN_FAMILY_IPV4 && a->len == 8) ||
	      (v[1] == STUN_FAMILY_IPV6 && a->len == 20)))
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	port = (uint16_t)(get16(v + 2) ^ get16(mask));
	if (v[1] == STUN_FAMILY_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		for (int i = 0; i < 4; i++)
			((uint8_t *)&sin->sin_addr)[i] = v[4 + i] ^ mask[2 + i];
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		for (int i = 0; i < 16; i++)
			sin6->sin6_addr.s6_addr[i] = v[4 + i] ^ mask[2 + i];
	}
	return 0;
}

int stun_attr__addr(const struct stun_attr *a, struct sockaddr_storage *out)
{
	static const uint8_t zero[18];

	return get_addr(a, zero, out);
}

int stun_attr__xaddr(const struct stun_attr *a, const uint8_t tid[STUN_TID_LEN],
		     struct sockaddr_storage *out)
{
	uint8_t mask[18];

	/* port ^ cookie>>16; address ^ cookie (IPv4) or cookie || tid (IPv6) */
	put16(mask, STUN_MAGIC_COOKIE >> 16);
	put32(mask + 2, STUN_MAGIC_COOKIE);
	memcpy(mask + 6, tid, STUN_TID_LEN);
	return get_addr(a, mask, out);
}

int stun_attr__u32(const struct stun_attr *a, uint32_t *v)
{
	if (a->len != 4)
		return -EBADMSG;
	*v = get32(a->val);
	return 0;
}

int stun_attr__u64(const struct stun_attr *a, uint64_t *v)
{
	if (a->len != 8)
		return -EBADMSG;
	*v = (uint64_t)get32(a->val) << 32 | get32(a->val + 4);
	return 0;
}

/* Class/number/reason tail shared by ERROR-CODE and ADDRESS-ERROR-CODE. */
static int get_code(const struct stun_attr *a, int *code, const char **reason, size_t *reason_len)
{
	int cls = a->val[2] & 0x07, num = a->val[3];

	if (cls < 3 || cls > 6 || num > 99)
		return -EBADMSG;
	if (!text_ok(a->val + 4, a->len - 4u, STUN_MAX_REASON))
		return -EBADMSG;
	*code = cls * 100 + num;
	*reason = (const char *)a->val + 4;
	*reason_len = a->len - 4u;
	return 0;
}

int stun_attr__error(const struct stun_attr *a, int *code, const char **reason, size_t *reason_len)
{
	if (a->len < 4)
		return -EBADMSG;
	return get_code(a, code, reason, reason_len);
}

int stun_attr__address_error(const struct stun_attr *a, uint8_t *family, int *code,
			     const char **reason, size_t *reason_len)
{
	if (a->len < 4)
		return -EBADMSG;
	if (a->val[0] != STUN_FAMILY_IPV4 && a->val[0] != STUN_FAMILY_IPV6)
		return -EBADMSG;
	*family = a->val[0];
	return get_code(a, code, reason, reason_len);
}

int stun_attr__channel(const struct stun_attr *a, uint16_t *channel)
{
	if (a->len != 4)
		return -EBADMSG;
	*channel = get16(a->val);
	return 0;
}

int stun_attr__transport(const struct stun_attr *a, uint8_t *proto)
{
	if (a->len != 4)
		return -EBADMSG;
	*proto = a->val[0];
	return 0;
}

int stun_attr__family(const struct stun_attr *a, uint8_t *family)
{
	if (a->len != 4)
		return -EBADMSG;
	if (a->val[0] != STUN_FAMILY_IPV4 && a->val[0] != STUN_FAMILY_IPV6)
		return -EBADMSG;
	*family = a->val[0];
	return 0;
}

int stun_attr__even_port(const struct stun_attr *a, bool *reserve)
{
	if (a->len != 1)
		return -EBADMSG;
	*reserve = a->val[0] & 0x80;
	return 0;
}

int stun_attr__icmp(const struct stun_attr *a, uint8_t *type, uint8_t *code, uint32_t *data)
{
	if (a->len != 8)
		return -EBADMSG;
	*type = a->val[2];
	*code = a->val[3];
	*data = get32(a->val + 4);
	return 0;
}

/*
 * One {algorithm, parameter length, parameters} entry at v[off..len).
 * Inside PASSWORD-ALGORITHMS the parameters are padded to 4 bytes.
 * Returns the entry's size, or 0 if it does not fit.
 */
static size_t alg_entry(const uint8_t *v, size_t len, size_t off, uint16_t *alg)
{
	size_t plen;

	if (len - off < 4)
		return 0;
	*alg = get16(v + off);
	plen = pad4(get16(v + off + 2));
	if (plen > len - off - 4)
		return 0;
	return 4 + plen;
}

int stun_attr__password_algorithms(const struct stun_attr *a, uint16_t *algs, size_t max, size_t *n)
{
	size_t off = 0;

	*n = 0;
	if (a->len == 0)
		return -EBADMSG;
	while (off < a->len) {
		uint16_t alg;
		size_t step = alg_entry(a->val, a->len, off, &alg);

		if (!step)
			return -EBADMSG;
		if (*n < max)
			algs[(*n)++] = alg;
		off += step;
	}
	return 0;
}

int stun_attr__password_algorithm(const struct stun_attr *a, uint16_t *alg)
{
	size_t plen;

	if (a->len < 4)
		return -EBADMSG;
	/* The attribute's own padding may or may not be counted in the value. */
	plen = get16(a->val + 2);
	if (a->len != 4 + plen && a->len != 4 + pad4(plen))
		return -EBADMSG;
	*alg = get16(a->val);
	return 0;
}

int stun_attr__unknown(const struct stun_attr *a, uint16_t *types, size_t max, size_t *n)
{
	*n = 0;
	if (a->len == 0 || a->len % 2)
		return -EBADMSG;
	for (size_t off = 0; off < a->len && *n < max; off += 2)
		types[(*n)++] = get16(a->val + off);
	return 0;
}

int stun_attr__string(const struct stun_attr *a, const char **s, size_t *len)
{
	if (!text_ok(a->val, a->len, stun_string_limit(a->type)))
		return -EBADMSG;
	*s = (const char *)a->val;
	*len = a->len;
	return 0;
}
