/* SPDX-License-Identifier: MIT */
/*
 * TURN server core (RFC 8656): allocations, permissions, channels and the
 * UDP relay, for one worker's event loop.
 *
 * Two layers:
 *  - struct turn_shared: process-wide and thread-safe; what every worker must
 *    agree on: relay port pool, reservation tokens, quotas, credentials (auth),
 *    peer filter, the options. Created once by kturnd before the workers.
 *  - struct turn_server: one per worker, touched only by that worker's thread:
 *    its allocations (keyed by 5-tuple), their relay sockets and timers, and
 *    the batch of outgoing datagrams.
 *
 * The transports (user/net/) know nothing about TURN: they describe the
 * client side of each 5-tuple as a struct turn_conn with a send function,
 * pass STUN messages to handler__stun (which calls turn__request /
 * turn__indication) and ChannelData to turn__channel_data.
 */
#ifndef KTURN_TURN_H
#define KTURN_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kturn/conf.h"
#include "kturn/handler.h"
#include "kturn/loop.h"
#include "kturn/stun.h"

struct turn_shared;
struct turn_server;
struct turn_alloc;
struct auth;
struct peer_filter;
struct sockmap;
struct ssl_st;

struct turn_opts {
	const char *software; /* SOFTWARE value, NULL for none */
	bool fingerprint;     /* FINGERPRINT on every response */
	/* relay addresses, port 0; family AF_UNSPEC when the family is not offered */
	struct sockaddr_storage relay4, relay6;
	uint16_t min_port, max_port;
	uint32_t default_lifetime;	/* s, 600 */
	uint32_t max_lifetime;		/* s, 3600 */
	uint32_t perm_lifetime;		/* s, 300 */
	uint32_t chan_lifetime;		/* s, 600 */
	uint32_t connection_timeout_ms; /* RFC 6062: 30 s */
	uint16_t channel_max;		/* STUN_CHANNEL_MAX, or _RFC5766 for old clients */
	uint32_t user_quota;		/* concurrent allocations per user, 0 = no limit */
	uint32_t total_quota;		/* concurrent allocations in all, 0 = no limit */
	uint64_t max_bps;	 /* bytes/s relayed per allocation and direction, 0 = no limit */
	bool udp_relay;		 /* REQUESTED-TRANSPORT 17 allowed */
	struct sockmap *sockmap; /* NULL: bridged pairs use splice() */
	bool tcp_relay;		 /* REQUESTED-TRANSPORT 6 allowed (RFC 6062, over TCP/TLS) */

	/* wrong credentials per source (kturn/auth_limit.h); either 0 = no limit */
	uint32_t auth_fail_burst; /* at once */
	uint32_t auth_fail_rate;  /* refilled per second */
	/*
	 * external-ip: XOR-RELAYED-ADDRESS advertises this IP (with the bound
	 * port) instead of relay4/relay6; AF_UNSPEC: advertise the bound address.
	 */
	struct sockaddr_storage public4, public6;
	/*
	 * Alternate servers: redirect Allocate at/over this many allocations, or
	 * at/over this relayed rate (turn_shared__set_rate); 0 = no such ceiling,
	 * and with neither every Allocate is redirected (as coturn does).
	 */
	uint32_t alt_max_allocs;
	uint64_t alt_max_bps; /* bits/s */
};

/* Alternate servers (300 Try Alternate), one list per client transport. */
enum turn_alt_list {
	TURN_ALT_UDP = KT_TRANSPORT_UDP,
	TURN_ALT_TCP = KT_TRANSPORT_TCP,
	TURN_ALT_TLS = KT_TRANSPORT_TLS,
	TURN_ALT_LISTS,
};

/* Takes ownership of auth and pf on success. 0 or -errno (-EINVAL: bad port range). */
int turn_shared__new(struct turn_shared **out, const struct turn_opts *o, struct auth *auth,
		     struct peer_filter *pf);
void turn_shared__free(struct turn_shared *sh);
/*
 * Everything from the configuration: relay addresses (relay-ip, else the
 * listening IPs, else the interfaces' first addresses), auth, peer filter
 * with the server's own addresses, limits. 0 or -errno (logged).
 */
int turn_shared__from_conf(struct turn_shared **out, const struct kturn_conf *c,
			   const char *software, struct sockmap *sm);
/* SIGHUP: credentials (users, static-auth-secret) from a re-read configuration. */
int turn_shared__reload(struct turn_shared *sh, const struct kturn_conf *c);
struct auth *turn_shared__auth(struct turn_shared *sh);
/*
 * The alternate servers offered to clients on that transport, used round
 * robin among those of the client's address family. Copies v. 0 or -ENOMEM.
 */
int turn_shared__set_alternates(struct turn_shared *sh, enum turn_alt_list which,
				const struct sockaddr_storage *v, size_t n);
/* Allocations alive in all workers. */
size_t turn_shared__allocations(struct turn_shared *sh);
/*
 * The node's relayed rate in bits/s (all workers, all planes), as last
 * measured by the main thread; what kturn-alternate-max-bps is checked
 * against. Any thread.
 */
void turn_shared__set_rate(struct turn_shared *sh, uint64_t bps);
uint64_t turn_shared__rate(const struct turn_shared *sh);

/* The client side of a 5-tuple, as the transport sees it. */
struct turn_conn {
	struct turn_server *ts;
	enum kt_transport transport;
	struct sockaddr_storage client;
	struct sockaddr_storage local;
	/*
	 * Send one whole message (STUN or ChannelData, already padded for
	 * streams) to the client. Datagram semantics: 0 when sent or queued,
	 * <0 when dropped (queue full, socket error).
	 */
	int (*send)(struct turn_conn *c, const struct iovec *iov, int iovcnt);
	/* stream transports: the allocation went (expired, deleted); may be NULL */
	void (*alloc_gone)(struct turn_conn *c);
	int fd;			  /* UDP: the listener socket replies leave from */
	struct turn_alloc *alloc; /* stream transports: the connection's allocation */
	/* RFC 6062 data connections (streams only): */
	bool first;		     /* set by the transport while its first message is handled */
	void *bind;		     /* set by ConnectionBind success: call turn__data_conn */
	struct turn_server *handoff; /* ConnectionBind for another worker: pass it there */
};

int turn_server__new(struct turn_server **out, struct turn_shared *sh, struct loop *l);
/* Closes every allocation of this worker (graceful shutdown). */
void turn_server__free(struct turn_server *ts);
/* Send what the current callback batched (sendmmsg). Transports call it last. */
void turn_server__flush(struct turn_server *ts);
size_t turn_server__allocations(const struct turn_server *ts);
/* The transport (struct server) of this worker, for hand-offs between workers. */
void turn_server__set_transport(struct turn_server *ts, void *transport);
void *turn_server__transport(const struct turn_server *ts);

/*
 * UDP datagram sender for a listener socket (turn_conn.send for UDP):
 * batches into the worker's sendmmsg queue.
 */
int turn_conn__udp_send(struct turn_conn *c, const struct iovec *iov, int iovcnt);

/*
 * A TURN request (Allocate, Refresh, CreatePermission, ChannelBind) from
 * conn. Writes the response to out; returns its length or 0 for none.
 */
ssize_t turn__request(struct turn_conn *conn, const struct stun_msg *m, uint8_t *out, size_t cap);
/* A Send indication (others are ignored). */
void turn__indication(struct turn_conn *conn, const struct stun_msg *m);
/*
 * ChannelData from the client: relayed to the channel's peer, or dropped.
 * For UDP, conn is the datagram's 5-tuple (its allocation is looked up).
 */
void turn__channel_data(struct turn_conn *conn, const uint8_t *buf, size_t len);
/*
 * After a successful ConnectionBind (conn->bind set), the transport gives up
 * the connection: fd and its TLS session if any (now owned by the TURN
 * core; to_peer/to_client are plaintext then), bytes it already read
 * behind the request (to the peer first) and response bytes it could not
 * write yet (to the client first). at_boundary: the transport read the
 * socket to EAGAIN after the request, so what is queued now arrived later
 * (the sockmap plane needs that). It must not touch conn afterwards.
 */
void turn__data_conn(struct turn_conn *conn, int fd, struct ssl_st *ssl, const uint8_t *to_peer,
		     size_t to_peer_len, const uint8_t *to_client, size_t to_client_len,
		     bool at_boundary);
/* A stream connection closed: its allocation goes with it (RFC 8656 §3.1). */
void turn__conn_closed(struct turn_conn *conn);

/* True if attribute type is understood by the TURN methods (420 decisions). */
bool turn__known_attr(uint16_t type);

#endif /* KTURN_TURN_H */
