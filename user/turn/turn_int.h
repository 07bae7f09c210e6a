/* SPDX-License-Identifier: MIT */
/* Internals of the TURN core shared by user/turn/{shared,alloc,relay,methods}.c. */
#ifndef KTURN_TURN_INT_H
#define KTURN_TURN_INT_H

#include <pthread.h>

#include "kturn/auth.h"
#include "kturn/turn.h"
#include "kturn/turn_stats.h"

#define TURN_RESERVATION_S 30 /* RFC 8656 §7.2: a reserved port is held ~30 s */
#define TURN_MAX_RELAYS	   2  /* one IPv4 and one IPv6 relayed address */
#define TURN_TXQ_SLOTS	   64
#define TURN_RX_BATCH	   32
#define TURN_RX_DGRAM	   4096 /* largest datagram relayed from a peer */
#define TURN_IND_HDR_MAX   64	/* Data indication header + XOR-PEER-ADDRESS + DATA header */

/* Token bucket for max-bps: `tokens` bytes may pass now. */
struct turn_rate {
	uint64_t tokens;
	uint64_t last_ms;
};

struct turn_relay {
	struct loop_watch w;
	struct sockaddr_storage addr; /* bound relayed transport address */
	struct turn_alloc *a;

	/* TCP relays: accept again after EMFILE (tcp_relay.c) */
	struct loop_timer retry;
};

/* What an asynchronous response (Connect) needs to be built and signed later. */
struct turn_sign {
	uint8_t tid[STUN_TID_LEN];
	uint8_t key[AUTH_MAX_KEY];
	size_t key_len;
	bool sha256, anonymous, fingerprint;
};

enum turn_peer_state {
	TURN_PEER_CONNECTING, /* Connect: connect() in progress */
	TURN_PEER_WAITING,    /* connected, waiting for ConnectionBind */
	TURN_PEER_BOUND,      /* spliced with a client data connection */
};

/* A TCP connection with a peer on a TCP allocation's relayed address (RFC 6062). */
struct turn_peer {
	struct turn_alloc *a;
	struct turn_peer *prev, *next;
	uint32_t id; /* CONNECTION-ID */
	int fd;
	enum turn_peer_state state;
	struct sockaddr_storage addr;
	struct loop_watch w; /* CONNECTING: waits for EPOLLOUT */
	struct loop_timer timer;
	struct turn_sign connect;      /* Connect: how to answer when it completes */
	struct splice_pair *pair;      /* bound on the splice plane, or */
	struct sockmap_pair_rt *spair; /* bound on the sockmap plane, or */
	struct tls_pair *tpair;	       /* bound with a TLS client (userspace copy) */
	/* CLOCK_MONOTONIC ns when it began to wait for a ConnectionBind */
	uint64_t wait_ns;
	/* bound: the address of the client's data connection */
	struct sockaddr_storage data_client;
};

struct turn_alloc {
	struct turn_server *ts;
	uint32_t id;		   /* for the BPF link map and logs */
	struct turn_conn *conn;	   /* client side of the 5-tuple */
	struct turn_conn udp_conn; /* UDP clients: conn points here */
	struct turn_alloc *hnext;  /* UDP 5-tuple hash chain */
	struct turn_alloc *prev, *next;
	uint8_t tid[STUN_TID_LEN]; /* the Allocate that made it (retransmissions) */
	char *user;		   /* authenticated USERNAME; NULL when anonymous */
	struct turn_relay relay[TURN_MAX_RELAYS];
	unsigned n_relay;
	struct turn_perms *perms;
	uint64_t expiry_ms; /* loop clock */
	uint32_t lifetime_s;
	struct loop_timer timer;
	struct turn_rate rate_up, rate_down;
	bool tcp;		 /* RFC 6062 allocation: relay[0] is a listening socket */
	struct turn_peer *peers; /* TCP allocations */
	unsigned n_peers;
	uint64_t up_bytes, up_pkts, down_bytes, down_pkts, dropped;
};

/* Outgoing datagrams of one callback, sent with sendmmsg at flush. */
struct turn_txq {
	unsigned n;
	int fd[TURN_TXQ_SLOTS];
	struct mmsghdr msg[TURN_TXQ_SLOTS];
	struct iovec iov[TURN_TXQ_SLOTS][3];
	struct sockaddr_storage dest[TURN_TXQ_SLOTS];
	uint8_t hdr[TURN_TXQ_SLOTS][TURN_IND_HDR_MAX];
};

struct turn_rx {
	struct mmsghdr msg[TURN_RX_BATCH];
	struct iovec iov[TURN_RX_BATCH];
	struct sockaddr_storage from[TURN_RX_BATCH];
	uint8_t data[TURN_RX_BATCH][TURN_RX_DGRAM];
};

struct turn_server {
	struct turn_shared *sh;
	const struct turn_opts *o;
	struct loop *loop;
	struct turn_alloc **buckets; /* UDP allocations by 5-tuple */
	size_t n_buckets;
	uint64_t hash_key;
	uint64_t prng; /* xorshift state for indication transaction ids */
	struct turn_alloc *allocs;
	size_t n_allocs;
	struct turn_txq txq;
	struct turn_rx *rx;
	void *transport;
	struct turn_stats stats; /* this worker's counters (kturn/turn_stats.h) */
	uint64_t fd_log_ms;	 /* last "relay accept" EMFILE line: one a minute */
};

struct turn_req {
	struct turn_server *ts;
	struct turn_conn *conn;
	const struct stun_msg *m;
	struct auth_result auth;
	struct stun_builder b;
	uint8_t *out;
	size_t cap;
	bool limited; /* refused by the failed-authentication limit (auth_gate.c) */
};

/* methods.c: building responses */
void turn_req__start(struct turn_req *rq, enum stun_class cls);
/* SOFTWARE, integrity when sign, FINGERPRINT; the length or -errno. */
ssize_t turn_req__end(struct turn_req *rq, bool sign);
/* Logged, signed error response. */
ssize_t turn_req__error(struct turn_req *rq, int code, const char *why);
/* LIFETIME rule of RFC 8656 §7.2/§7.3; *zero for an explicit 0. */
uint32_t turn_req__lifetime(const struct turn_req *rq, bool *zero);
/* auth_gate.c: the failed-authentication limit around auth__check */
bool turn_req__auth_limited(struct turn_req *rq);
void turn_req__auth_failed(struct turn_req *rq);
/* allocate.c */
ssize_t turn_req__allocate(struct turn_req *rq);

/* shared.c: the thread-safe parts */
const struct turn_opts *turn_shared__opts(const struct turn_shared *sh);
struct peer_filter *turn_shared__filter(struct turn_shared *sh);
/* NULL when kturn-auth-fail-burst or -rate is 0 */
struct auth_limit *turn_shared__auth_limit(struct turn_shared *sh);
int turn_shared__port(struct turn_shared *sh, uint16_t *port);
int turn_shared__even_port(struct turn_shared *sh, bool reserve, int family, uint16_t *port,
			   uint64_t *token);
/* The reserved port and its family; -ENOENT for an unknown or expired token. */
int turn_shared__redeem(struct turn_shared *sh, uint64_t token, uint16_t *port, int *family);
void turn_shared__put_port(struct turn_shared *sh, uint16_t port);
/* 0, or -EDQUOT when user-quota/total-quota is reached. user may be NULL. */
int turn_shared__quota_take(struct turn_shared *sh, const char *user);
/*
 * quota_take, but first the alternate-server ceilings: while this node holds
 * alt_max_allocs or more allocations or relays alt_max_bps or more (or
 * always, when neither is set) and an
 * alternate server of the client's family is configured for transport t,
 * nothing is counted, *alt is the next one (round robin) and the result is
 * -EXDEV. Otherwise as quota_take.
 */
int turn_shared__admit(struct turn_shared *sh, const char *user, enum kt_transport t, int family,
		       struct sockaddr_storage *alt);
void turn_shared__quota_release(struct turn_shared *sh, const char *user);
/* A fresh random CONNECTION-ID for owner's ptr. 0, -ENOMEM or -EIO. */
int turn_shared__conn_add(struct turn_shared *sh, struct turn_server *owner, void *ptr,
			  uint32_t *id);
/* The owner worker of id (and its ptr), or NULL when id is unknown. */
struct turn_server *turn_shared__conn_owner(struct turn_shared *sh, uint32_t id, void **ptr);
void turn_shared__conn_del(struct turn_shared *sh, uint32_t id);
uint32_t turn_shared__alloc_id(struct turn_shared *sh);

/* alloc.c: allocation table and lifecycle */
struct turn_alloc *turn_alloc__find(struct turn_server *ts, const struct turn_conn *c);
struct turn_alloc *turn_alloc__new(struct turn_server *ts, struct turn_conn *c,
				   const uint8_t tid[STUN_TID_LEN], const char *user);
/* Register a bound relay socket (closed on error); 0 or -errno. */
int turn_alloc__watch_relay(struct turn_alloc *a, int fd, const struct sockaddr_storage *addr,
			    loop_io_cb cb);
/* Open a relay socket bound to addr (port set); 0 or -errno. */
int turn_alloc__add_relay(struct turn_alloc *a, const struct sockaddr_storage *addr, bool df);
/* Make it live: lifetime timer armed, in the table, counted, logged. */
void turn_alloc__activate(struct turn_alloc *a, uint32_t lifetime_s);
void turn_alloc__set_lifetime(struct turn_alloc *a, uint32_t lifetime_s);
/* Reschedule the timer after a permission or channel change. */
void turn_alloc__rearm(struct turn_alloc *a);
/* Close relays, return ports, release quota, log with why. */
void turn_alloc__free(struct turn_alloc *a, const char *why);
/* Relayed address of the given family, NULL if this allocation has none. */
struct turn_relay *turn_alloc__relay(struct turn_alloc *a, int family);
void turn_alloc__log(const struct turn_alloc *a, const char *event, const char *detail);

/* tcp_relay.c: RFC 6062 */
int turn_alloc__add_tcp_relay(struct turn_alloc *a, const struct sockaddr_storage *addr);
ssize_t turn_req__connect(struct turn_req *rq, struct turn_alloc *a);
ssize_t turn_req__connection_bind(struct turn_req *rq);
void turn_peer__free(struct turn_peer *pc, const char *why);
/* "turn <event> user=.. connection_id=.. peer=.. <detail>" */
void turn_peer__log(const struct turn_peer *pc, const char *event, const char *detail);
void turn_sign__save(struct turn_sign *s, const struct turn_req *rq);

/* relay.c: moving datagrams */
void turn_relay__io(struct loop_watch *w, uint32_t events);
void turn_relay__to_peer(struct turn_alloc *a, const struct sockaddr *peer, const uint8_t *data,
			 size_t len);
void turn_txq__add(struct turn_server *ts, int fd, const struct sockaddr *dest, const uint8_t *hdr,
		   size_t hdr_len, const uint8_t *data, size_t len, size_t pad);
bool turn_rate__take(struct turn_rate *r, uint64_t max_bps, uint64_t now_ms, size_t len);
uint64_t turn_server__next_tid(struct turn_server *ts, uint8_t tid[STUN_TID_LEN]);
/* CLOCK_MONOTONIC in nanoseconds (latency histograms). */
uint64_t turn_mono_ns(void);

#endif /* KTURN_TURN_INT_H */
