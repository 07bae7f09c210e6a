// SPDX-License-Identifier: MIT
/* Repeated-byte ranges of a parked stream: see include/kturn/cut_list.h. */
#include <string.h>

#include "kturn/cut_list.h"

bool cut_list__add(struct cut_list *l, uint64_t at, uint64_t len)
{
	if (l->n == KTURN_CUTS || (l->n && at < l->end[l->n - 1]))
		return false;
	l->at[l->n] = at;
	l->end[l->n] = at + len;
	l->n++;
	return true;
}

void cut_list__done(struct cut_list *l, uint64_t read_to)
{
	unsigned k = 0;

	while (k < l->n && l->end[k] <= read_to)
		k++;
	memmove(l->at, l->at + k, (l->n - k) * sizeof(l->at[0]));
	memmove(l->end, l->end + k, (l->n - k) * sizeof(l->end[0]));
	l->n -= k;
}

size_t cut_list__apply(const struct cut_list *l, uint64_t r0, uint8_t *buf, size_t n)
{
	size_t kept = n;

	/* last range first: the offsets of the earlier ones stay valid */
	for (unsigned k = l->n; k-- > 0;) {
		uint64_t a = r0 > l->at[k] ? r0 : l->at[k];
		uint64_t b = r0 + n < l->end[k] ? r0 + n : l->end[k];
		size_t off, len;

		if (a >= b)
			continue;
		off = (size_t)(a - r0);
		len = (size_t)(b - a);
		memmove(buf + off, buf + off + len, kept - off - len);
		kept -= len;
	}
	return kept;
}
