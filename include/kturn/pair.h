/* SPDX-License-Identifier: MIT */
/* What every data plane of a bridged RFC 6062 pair reports (splice, sockmap). */
#ifndef KTURN_PAIR_H
#define KTURN_PAIR_H

#include <stdint.h>

enum pair_end {
	PAIR_DONE = 0,	/* both directions ended with FIN, every byte delivered */
	PAIR_RESET = 1, /* an error or RST on either side */
};

struct pair_stats {
	uint64_t bytes[2]; /* [0] a -> b, [1] b -> a, delivered to the destination */
};

#endif /* KTURN_PAIR_H */
