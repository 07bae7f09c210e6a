/* SPDX-License-Identifier: MIT */
/* kturn-bench workloads and their statistics. */
#ifndef KTURN_BENCH_H
#define KTURN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Latency samples in nanoseconds; grows as needed. */
struct bench_lat {
	uint64_t *ns;
	size_t n;
	size_t cap;
};

int bench_lat__add(struct bench_lat *l, uint64_t ns);
/* p in [0,100]; sorts the samples on first use. 0 when empty. */
uint64_t bench_lat__pct(struct bench_lat *l, double p);
void bench_lat__free(struct bench_lat *l);

uint64_t bench_now_ns(void);

struct bench_binding_opts {
	struct sockaddr_storage server;
	bool tcp;
	unsigned concurrency; /* sockets, each with one request in flight */
	uint64_t count;	      /* stop after this many responses (0: use seconds) */
	double seconds;	      /* stop after this long */
	unsigned timeout_ms;  /* UDP: a request unanswered this long is lost */
	bool progress;	      /* a line per second on stderr */
};

struct bench_binding_result {
	uint64_t sent;
	uint64_t ok;   /* answered and verified */
	uint64_t bad;  /* answered wrongly (class, tid, mapped address) */
	uint64_t lost; /* UDP timeouts */
	double elapsed_s;
	struct bench_lat lat;
};

/* STUN Binding round trips; returns 0 or -errno (setup failures). */
int bench_binding__run(const struct bench_binding_opts *o, struct bench_binding_result *r);

#endif /* KTURN_BENCH_H */
