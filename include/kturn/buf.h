/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer used for stream input and output queues.
 *
 * Invariant: 0 <= head <= tail <= size; the pending bytes are
 * data[head..tail). buf__consume() advances head; when the buffer empties,
 * head and tail return to 0 so the space is reused without copying.
 */
#ifndef KTURN_BUF_H
#define KTURN_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	size_t size;
	size_t head;
	size_t tail;
	uint8_t *data;
};

static inline size_t buf__len(const struct buf *b)
{
	return b->tail - b->head;
}

static inline uint8_t *buf__begin(const struct buf *b)
{
	/* data is NULL until the first reserve and after buf__shrink: NULL + 0 is UB */
	return b->data ? b->data + b->head : NULL;
}

/* Free space after tail. */
static inline size_t buf__room(const struct buf *b)
{
	return b->size - b->tail;
}

/*
 * Make room for `need` bytes after tail, moving pending bytes to the front
 * and growing the allocation (never beyond `max` total). Returns 0 or
 * -ENOMEM / -ENOBUFS (would exceed max).
 */
int buf__reserve(struct buf *b, size_t need, size_t max);
int buf__append(struct buf *b, const void *p, size_t n, size_t max);
void buf__consume(struct buf *b, size_t n);
/* Release the allocation when empty and larger than `keep` bytes. */
void buf__shrink(struct buf *b, size_t keep);
void buf__free(struct buf *b);

#endif /* KTURN_BUF_H */
