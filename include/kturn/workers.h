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

/*
 * Run fn(server of worker i, i, arg) on that worker's thread, between two of
 * its events, and wait until it returned: how the control socket and the
 * metrics endpoint read or change a worker's allocations without sharing
 * them. Any thread but a worker's own (it would wait for itself). 0, or
 * -ESHUTDOWN when that worker's loop has ended (fn did not run).
 */
typedef void (*workers_fn)(struct server *s, unsigned worker, void *arg);
int workers__call(struct workers *w, unsigned i, workers_fn fn, void *arg);

#endif /* KTURN_WORKERS_H */
