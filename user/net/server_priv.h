/* SPDX-License-Identifier: MIT */
/* Internals shared by server.c (listeners, UDP) and tcp_client.c. */
#ifndef KTURN_SERVER_PRIV_H
#define KTURN_SERVER_PRIV_H

#include <netinet/in.h>

#include "kturn/buf.h"
#include "kturn/loop.h"
#include "kturn/mailbox.h"
#include "kturn/server.h"
#include "kturn/turn.h"

struct listener {
	struct loop_watch w;
	struct loop_timer retry; /* re-enables accept after EMFILE */
	uint64_t paused_log_ms;	 /* last "accept failed" line: one a minute, not one per retry */
	uint64_t pauses;	 /* pauses since that line */
	struct server *srv;
	struct sockaddr_storage addr;
	int type; /* SOCK_DGRAM or SOCK_STREAM */
	bool tls; /* stream listener for TURN over TLS */
};

struct tcp_client {
	struct loop_watch w;
	struct loop_timer idle;
	struct server *srv;
	struct sockaddr_storage peer;
	struct sockaddr_storage local;
	struct buf rx;
	struct buf tx;
	struct ssl_st *ssl;    /* NULL for plain TCP */
	bool drained;	       /* read to EAGAIN before a ConnectionBind response */
	bool progress;	       /* a whole message arrived since the idle timer was armed */
	struct turn_conn conn; /* TURN view; conn.alloc: ChannelData is acceptable only then */
	struct tcp_client *prev, *next;
};

struct server {
	struct loop *loop;
	struct server_opts opts;
	struct listener *listeners;
	size_t n_listeners;
	struct tcp_client *clients; /* doubly linked, for shutdown */
	size_t n_clients;
	struct udp_batch *udp;	  /* receive buffers for recvmmsg */
	struct turn_server *turn; /* NULL when opts.turn is */
	struct mailbox *mbox;	  /* connections handed over by other workers */
};

/* Take ownership of an accepted, non-blocking socket. */
int tcp_client__start(struct server *s, int fd, const struct sockaddr_storage *peer,
		      const struct sockaddr_storage *local, bool tls);
void tcp_client__close(struct tcp_client *c, const char *why);
/* A connection another worker passed on (struct mail); takes ownership. */
void tcp_client__adopt(struct server *s, struct mail *m);

#endif /* KTURN_SERVER_PRIV_H */
