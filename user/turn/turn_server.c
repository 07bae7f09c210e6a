// SPDX-License-Identifier: MIT
/* One worker's TURN state: creation, shutdown, counters. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "kturn/log.h"
#include "turn_int.h"

#define INITIAL_BUCKETS 256

int turn_server__new(struct turn_server **out, struct turn_shared *sh, struct loop *l)
{
	struct turn_server *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return -ENOMEM;
	ts->sh = sh;
	ts->o = turn_shared__opts(sh);
	ts->loop = l;
	ts->n_buckets = INITIAL_BUCKETS;
	ts->buckets = calloc(ts->n_buckets, sizeof(*ts->buckets));
	ts->rx = malloc(sizeof(*ts->rx));
	if (!ts->buckets || !ts->rx ||
	    getrandom(&ts->hash_key, sizeof(ts->hash_key), 0) != sizeof(ts->hash_key) ||
	    getrandom(&ts->prng, sizeof(ts->prng), 0) != sizeof(ts->prng)) {
		turn_server__free(ts);
		return -ENOMEM;
	}
	ts->prng |= 1; /* xorshift needs a nonzero state */
	*out = ts;
	return 0;
}

void turn_server__free(struct turn_server *ts)
{
	if (!ts)
		return;
	while (ts->allocs)
		turn_alloc__free(ts->allocs, "server shutdown");
	turn_server__flush(ts);
	free(ts->buckets);
	free(ts->rx);
	free(ts);
}

void turn_server__set_transport(struct turn_server *ts, void *transport)
{
	ts->transport = transport;
}

void *turn_server__transport(const struct turn_server *ts)
{
	return ts->transport;
}

size_t turn_server__allocations(const struct turn_server *ts)
{
	return ts->n_allocs;
}

bool turn__known_attr(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_XOR_PEER_ADDRESS:
	case STUN_ATTR_DATA:
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case STUN_ATTR_EVEN_PORT:
	case STUN_ATTR_REQUESTED_TRANSPORT:
	case STUN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_RESERVATION_TOKEN:
	case STUN_ATTR_CONNECTION_ID:
		return true;
	}
	return false;
}
