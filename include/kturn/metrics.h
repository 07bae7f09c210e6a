/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: GET /metrics on an HTTP listener (libmicrohttpd, its
 * own thread), in the text exposition format 0.0.4. Each scrape asks every
 * worker for its counters (workers__call, kturn/turn_stats.h) and sums them;
 * the hot path never touches shared state for metrics.
 *
 * Names (README "Metrics (Prometheus)"): coturn's where coturn has one
 * (turn_total_allocations), kturn_* otherwise.
 */
#ifndef KTURN_METRICS_H
#define KTURN_METRICS_H

#include <stdint.h>
#include <sys/socket.h>

#include "kturn/strbuf.h"
#include "kturn/turn_stats.h"

struct workers;
struct metrics;

struct metrics_opts {
	struct sockaddr_storage addr; /* with the port */
	const char *node;	      /* kturn_build_info{node=...} */
	struct workers *workers;      /* must outlive metrics__stop */
};

/* Listen and serve; 0 or -errno. */
int metrics__start(struct metrics **out, const struct metrics_opts *o);
/* Stop the HTTP thread (waits for a scrape in progress). NULL is a no-op. */
void metrics__stop(struct metrics *m);

/* Sum every worker's gauges and counters into m (zeroed first). */
void metrics__gather(struct workers *w, struct turn_metrics *m);
/* Payload bytes relayed in m, every plane and direction (kturn_relayed_bytes_total). */
uint64_t metrics__relayed_bytes(const struct turn_metrics *m);
/* The exposition text for m. */
void metrics__render(const struct turn_metrics *m, const char *node, struct strbuf *out);

#endif /* KTURN_METRICS_H */
