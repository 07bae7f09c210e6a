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

/* ---------------------------------------------------------------------- */
/* TURN workloads: kturn-bench plays the TURN client and the peer.          */

enum bench_dir {
	BENCH_UP = 1,	/* client -> peer */
	BENCH_DOWN = 2, /* peer -> client */
	BENCH_BOTH = 3,
};

struct bench_opts {
	const char *mode;
	struct sockaddr_storage server;
	struct sockaddr_storage peer_ip; /* port 0 */
	const char *user, *pass;	 /* NULL: no credentials */
	bool direct;			 /* no relay: the client talks to the peer itself */
	bool udp;			 /* -T udp */
	bool client_flow;		 /* RFC 6062 Connect instead of ConnectionAttempt */
	bool send_ind;			 /* udp: Send/Data indications, not ChannelData */
	bool echo;			 /* udp: the peer echoes */
	bool progress;
	bool json;
	bool corrupt;	      /* hidden: the sender flips one byte per stream */
	unsigned pairs;	      /* bulk -P */
	unsigned conns;	      /* connections -k */
	unsigned per_alloc;   /* bridged pairs per allocation */
	unsigned concurrency; /* allocs -c */
	unsigned msg_len;     /* pingpong/udp -l */
	enum bench_dir dir;
	uint64_t bytes; /* bulk: per pair and direction; 0: use seconds */
	uint64_t count; /* pingpong/allocs/udp: stop after this many; 0: use seconds */
	double seconds;
	double hold;
	uint64_t pps; /* udp: packets per second, 0 = as fast as possible */
	unsigned timeout_ms;
};

/*
 * Each runs one workload, prints its result (text or JSON) on stdout and
 * returns the exit status: 0 when every check passed, 1 otherwise, or a
 * negative errno when the workload could not be set up.
 */
int bench_bulk__run(const struct bench_opts *o);
int bench_pingpong__run(const struct bench_opts *o);
int bench_conns__run(const struct bench_opts *o);
int bench_allocs__run(const struct bench_opts *o);
int bench_udp__run(const struct bench_opts *o);

#endif /* KTURN_BENCH_H */
