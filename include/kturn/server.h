/* SPDX-License-Identifier: MIT */
/*
 * One server instance = one worker's listeners and client connections on
 * one event loop. Workers do not share mutable state: each binds its own
 * SO_REUSEPORT listeners and the kernel spreads clients between them.
 */
#ifndef KTURN_SERVER_H
#define KTURN_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

#include "kturn/handler.h"
#include "kturn/loop.h"

struct server;
struct turn_shared;
struct tls_store;

struct server_opts {
	struct handler_opts handler;
	const struct sockaddr_storage *listen; /* addresses with ports */
	size_t n_listen;
	bool udp;	       /* serve UDP on each listen address */
	bool tcp;	       /* serve TCP on each listen address */
	size_t max_msg;	       /* largest STUN message accepted on a stream */
	unsigned tcp_idle_ms;  /* close a TCP client silent this long; 0 = never */
	size_t tcp_tx_max;     /* per-connection output queue bound */
	struct tls_store *tls; /* NULL: no TLS listeners; SIGHUP may swap its context */
	const struct sockaddr_storage *tls_listen; /* addresses with the TLS port */
	size_t n_tls_listen;
	struct turn_shared *turn; /* NULL: STUN only (Binding) */
};

/* Bind every listener and register it on `l`. Returns 0 or -errno. */
int server__new(struct server **out, struct loop *l, const struct server_opts *o);
/* Close listeners and connections; NULL is a no-op. */
void server__free(struct server *s);
size_t server__tcp_conns(const struct server *s);
/* This worker's TURN state, NULL when serving STUN only. */
struct turn_server *server__turn(struct server *s);

#endif /* KTURN_SERVER_H */
