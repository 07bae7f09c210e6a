/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the files of the STUN codec; not part of the public API.
 */
#ifndef KTURN_STUN_INT_H
#define KTURN_STUN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kturn/stun.h"

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Length rounded up to the 4-byte attribute boundary. */
static inline size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF). */
bool stun_utf8_valid(const uint8_t *s, size_t n);

/* RFC 8489 byte limit for a text attribute type (763 for unlisted types). */
size_t stun_string_limit(uint16_t type);

/*
 * Append an attribute header for `len` value bytes and return where the
 * value goes (padding already zeroed, header length updated), or NULL with
 * b->err set.
 */
uint8_t *stun_build_reserve(struct stun_builder *b, uint16_t type, size_t len);

#endif /* KTURN_STUN_INT_H */
