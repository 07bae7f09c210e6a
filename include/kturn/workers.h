/* SPDX-License-Identifier: MIT */
/*
 * Worker threads: each runs its own event loop and struct server with its
 * own SO_REUSEPORT listeners, so the kernel spreads clients across workers
 * and a client's 5-tuple always lands on the same one. Workers share no
 * mutable state; the main thread only starts and stops them.
 */
#ifndef KTURN_WORKERS_H
#define KTURN_WORKERS_H

#include "kturn/server.h"

struct workers;

/*
 * Start n workers (n >= 1) serving `so` (copied; its listen array must stay
 * valid until workers__stop). Returns once every worker has bound its
 * listeners: 0, or the first worker's -errno (all workers are then stopped).
 */
int workers__start(struct workers **out, unsigned n, const struct server_opts *so);
/* Stop every loop, join the threads, free everything. NULL is a no-op. */
void workers__stop(struct workers *w);
unsigned workers__count(const struct workers *w);

#endif /* KTURN_WORKERS_H */
