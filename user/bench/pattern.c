// SPDX-License-Identifier: MIT
/*
 * The verified byte stream: stream byte i is pattern[(base + i) % PAT_PERIOD],
 * pseudo-random bytes from a seed. Senders send straight from the pattern
 * (no per-byte work); receivers compare with memcmp and count differing bytes
 * only on a mismatch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

int pattern__init(struct pattern *p, uint64_t seed)
{
	uint64_t x = seed | 1;

	p->buf = malloc(2 * (size_t)PAT_PERIOD + 8);
	if (!p->buf)
		return -ENOMEM;
	for (size_t i = 0; i < PAT_PERIOD; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p->buf + i, &x, 8);
	}
	memcpy(p->buf + PAT_PERIOD, p->buf, PAT_PERIOD);
	return 0;
}

void pattern__free(struct pattern *p)
{
	free(p->buf);
	p->buf = NULL;
}

uint64_t pattern__check(const struct pattern *p, uint64_t off, const uint8_t *data, size_t len)
{
	const uint8_t *want = pattern__at(p, off);
	uint64_t bad = 0;

	if (!memcmp(want, data, len))
		return 0;
	for (size_t i = 0; i < len; i++)
		bad += want[i] != data[i];
	return bad;
}

int64_t pattern__locate(const struct pattern *p, uint64_t off, const uint8_t *data, size_t len)
{
	const uint8_t *at;
	int64_t shift;

	if (len < 32)
		return PAT_UNKNOWN;
	at = memmem(p->buf, PAT_PERIOD + 31, data, 32);
	if (!at)
		return PAT_UNKNOWN;
	shift = ((int64_t)(at - p->buf) - (int64_t)(off % PAT_PERIOD)) % PAT_PERIOD;
	if (shift > PAT_PERIOD / 2)
		shift -= PAT_PERIOD;
	else if (shift <= -(int64_t)(PAT_PERIOD / 2))
		shift += PAT_PERIOD;
	return shift;
}
