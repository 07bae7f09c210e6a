/* SPDX-License-Identifier: MIT */
/* kturn-bench internals: TURN client signalling, bridged pairs, content pattern. */
#ifndef KTURN_BENCH_INT_H
#define KTURN_BENCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "kturn/bench.h"
#include "kturn/stun.h"

/* ---------------------------------------------------------------------- */
/* turn_client.c: one TURN control connection (TCP or UDP), blocking I/O.  */

struct tc_attempt {
	uint32_t cid;
	struct sockaddr_storage peer;
};

struct tc {
	int fd;
	bool udp;
	unsigned timeout_ms; /* a transaction fails after this long */
	const char *user, *pass;
	char realm[STUN_MAX_REALM + 1];
	char nonce[STUN_MAX_NONCE + 1];
	uint8_t key[32];
	int key_len;  /* 0 until a 401 taught us the realm */
	int err_code; /* ERROR-CODE of the last error response */
	struct sockaddr_storage relayed;
	struct tc_attempt *att; /* ConnectionAttempts not claimed yet */
	size_t n_att, cap_att;
	uint8_t rx[4096]; /* TCP: bytes read, not yet framed */
	size_t rx_len;
	uint8_t resp[2048]; /* the last response, for tc_resp_*() */
	size_t resp_len;
};

/* Optional attributes of a request; zero means absent. */
struct tc_req {
	uint16_t method;
	uint8_t transport;
	const struct sockaddr *peer;
	uint16_t channel;
	bool has_lifetime;
	uint32_t lifetime;
	bool has_cid;
	uint32_t cid;
};

int tc__open(struct tc *t, const struct sockaddr *server, bool udp, const char *user,
	     const char *pass, unsigned timeout_ms);
void tc__close(struct tc *t);
/* One transaction, authenticating on 401/438; 0, -EPROTO (t->err_code) or -errno. */
int tc__request(struct tc *t, const struct tc_req *rq);
/* The last response's attribute of `type` as an address / u32. */
int tc__resp_xaddr(struct tc *t, uint16_t type, struct sockaddr_storage *out);
int tc__resp_u32(struct tc *t, uint16_t type, uint32_t *v);
/* Build an authenticated request (no transaction) into buf; returns length. */
ssize_t tc__build(struct tc *t, const struct tc_req *rq, uint8_t *buf, size_t cap,
		  uint8_t tid[STUN_TID_LEN]);
/* Wait for the next ConnectionAttempt indication. */
int tc__next_attempt(struct tc *t, unsigned timeout_ms, struct tc_attempt *a);
/* "kturn-bench: WHAT: 401 Unauthorized" or the errno text, on stderr; returns err. */
int tc__perror(const struct tc *t, const char *what, int err);
/* Allocate (auth included) with REQUESTED-TRANSPORT proto; fills t->relayed. */
int tc__allocate(struct tc *t, uint8_t proto);

/* ---------------------------------------------------------------------- */
/* tcp_pair.c: bridged TCP pairs (RFC 6062) or direct connections.         */

struct bpair {
	int cfd; /* the client's data connection (to the server, or the peer when direct) */
	int pfd; /* the peer's connection (from the relayed address) */
};

struct pair_set {
	struct tc *ctl; /* one control connection per allocation */
	size_t n_ctl;
	struct bpair *p;
	size_t n;
	double setup_s;
	uint64_t failed; /* pairs that could not be set up */
};

/* Set up n pairs (o->per_alloc per allocation); sockets are left nonblocking. */
int pairs__open(const struct bench_opts *o, size_t n, struct pair_set *ps);
/* 0 if every pair is up; else says how many are not, on stderr, and returns -EIO. */
int pairs__all_up(const struct pair_set *ps);
/* Refresh every allocation (lifetime 600 s). */
int pairs__refresh(struct pair_set *ps);
void pairs__close(struct pair_set *ps);

/* ---------------------------------------------------------------------- */
/* udp_path.c: a UDP allocation with one channel (or Send/Data indications). */

struct udp_path {
	struct tc t;
	bool direct, send_ind;
	int cfd; /* client socket: the control socket, or a plain socket when direct */
	int pfd; /* peer socket */
	struct sockaddr_storage peer;	 /* pfd's address */
	struct sockaddr_storage relayed; /* where the peer sends to */
	uint16_t channel;
};

int udp_path__open(const struct bench_opts *o, struct udp_path *u);
void udp_path__close(struct udp_path *u);
/* Client -> peer (wrapped in ChannelData or a Send indication). */
int udp_path__client_send(struct udp_path *u, const void *data, size_t len);
/*
 * One datagram for the client, payload unwrapped into *data: its length, 0 for
 * a datagram that carries no data for us, -EAGAIN when there is none.
 */
ssize_t udp_path__client_recv(struct udp_path *u, uint8_t *buf, size_t cap, const uint8_t **data);
int udp_path__peer_send(struct udp_path *u, const void *data, size_t len);

/* ---------------------------------------------------------------------- */
/* pattern.c: the verified byte stream.                                     */

/* A prime period: whole-chunk losses, repeats or swaps never realign. */
#define PAT_PERIOD 1048573u

struct pattern {
	uint8_t *buf; /* 2 * PAT_PERIOD bytes: any PAT_PERIOD window is contiguous */
};

int pattern__init(struct pattern *p, uint64_t seed);
void pattern__free(struct pattern *p);
/* PAT_PERIOD contiguous pattern bytes starting at stream offset off. */
static inline const uint8_t *pattern__at(const struct pattern *p, uint64_t off)
{
	return p->buf + off % PAT_PERIOD;
}
/* Number of bytes of data[0..len) that differ from the pattern at off (len <= PAT_PERIOD). */
uint64_t pattern__check(const struct pattern *p, uint64_t off, const uint8_t *data, size_t len);
/*
 * Where do data[0..len) really belong? Returns their offset minus off, in
 * (-PAT_PERIOD/2, PAT_PERIOD/2] (negative: bytes from earlier, i.e. repeated;
 * positive: bytes skipped), or PAT_UNKNOWN when they are not pattern bytes
 * or len < 32.
 */
#define PAT_UNKNOWN INT64_MIN
int64_t pattern__locate(const struct pattern *p, uint64_t off, const uint8_t *data, size_t len);
/* Stream number s starts at this pattern offset (streams differ from each other). */
static inline uint64_t pattern__base(unsigned s)
{
	return (uint64_t)s * 7919u * 131u;
}

/* ---------------------------------------------------------------------- */
/* util.c                                                                   */

int bench_raise_nofile(void);
void bench_set_port(struct sockaddr_storage *ss, uint16_t port);
/* A new TCP socket bound to ip (port 0) unless ip is NULL; nonblocking. */
int bench_tcp_socket(const struct sockaddr *ip, int family);
/* poll one fd for events, up to ms; 0 ready, -ETIMEDOUT, -errno. */
int bench_wait_fd(int fd, short events, int ms);
/* Exactly len bytes on a (possibly nonblocking) socket, within ms. */
int bench_send_all(int fd, const void *buf, size_t len, int ms);
int bench_recv_all(int fd, void *buf, size_t len, int ms);
const char *bench_addr(const struct sockaddr_storage *ss, char *buf, size_t len);
/* "server" JSON value / text: the server address, or "direct". */
void bench_json_head(FILE *f, const struct bench_opts *o);

#endif /* KTURN_BENCH_INT_H */
