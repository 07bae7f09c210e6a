// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/buf.h"

int buf__reserve(struct buf *b, size_t need, size_t max)
{
	size_t len = buf__len(b);
	size_t size;
	uint8_t *p;

	if (buf__room(b) >= need)
		return 0;
	if (len + need > max)
		return -ENOBUFS;
	if (b->head && b->size - len >= need) {
		memmove(b->data, b->data + b->head, len);
		b->head = 0;
		b->tail = len;
		return 0;
	}
	size = b->size ? b->size : 512;
	while (size < len + need)
		size *= 2;
	if (size > max)
		size = max;
	p = malloc(size);
	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, b->data + b->head, len);
	free(b->data);
	b->data = p;
	b->size = size;
	b->head = 0;
	b->tail = len;
	return 0;
}

int buf__append(struct buf *b, const void *p, size_t n, size_t max)
{
	int err = buf__reserve(b, n, max);

	if (err)
		return err;
	memcpy(b->data + b->tail, p, n);
	b->tail += n;
	return 0;
}

void buf__consume(struct buf *b, size_t n)
{
	b->head += n;
	if (b->head >= b->tail)
		b->head = b->tail = 0;
}

void buf__shrink(struct buf *b, size_t keep)
{
	if (buf__len(b) == 0 && b->size > keep)
		buf__free(b);
}

void buf__free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->size = b->head = b->tail = 0;
}
