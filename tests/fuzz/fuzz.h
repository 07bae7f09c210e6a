/* SPDX-License-Identifier: MIT */
/* Shared by the libFuzzer targets: the entry point and a check that aborts. */
#ifndef KTURN_FUZZ_H
#define KTURN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding: abort so libFuzzer saves the input. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#endif /* KTURN_FUZZ_H */
