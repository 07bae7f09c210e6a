/* SPDX-License-Identifier: MIT */
/*
 * Ranges of a parked byte stream to drop before relaying it: the bytes the
 * kernel handed the verdict twice (bpf_abi.h, "Repeated bytes"). Offsets are
 * positions in the parked stream as read (raw, before any cut). Ranges are
 * kept in stream order; at most KTURN_CUTS are pending at a time.
 */
#ifndef KTURN_CUT_LIST_H
#define KTURN_CUT_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kturn/bpf_abi.h"

struct cut_list {
	uint64_t at[KTURN_CUTS], end[KTURN_CUTS];
	unsigned n;
};

/* Add [at, at + len) after the ranges already there. False when full or out of order. */
bool cut_list__add(struct cut_list *l, uint64_t at, uint64_t len);
/* Forget the ranges that end at or before read_to (already applied). */
void cut_list__done(struct cut_list *l, uint64_t read_to);
/*
 * buf holds the n raw bytes at stream offsets [r0, r0 + n): remove the parts
 * inside pending ranges, moving the rest down. The bytes kept.
 */
size_t cut_list__apply(const struct cut_list *l, uint64_t r0, uint8_t *buf, size_t n);

#endif /* KTURN_CUT_LIST_H */
