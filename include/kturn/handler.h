/* SPDX-License-Identifier: MIT */
/*
 * STUN/TURN request handling, independent of sockets: a message and where it
 * came from go in, a response (or nothing) comes out. The transports in
 * user/net/ own the sockets and call this.
 */
#ifndef KTURN_HANDLER_H
#define KTURN_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum kt_transport {
	KT_TRANSPORT_UDP = 0,
	KT_TRANSPORT_TCP = 1,
	KT_TRANSPORT_TLS = 2,
};

const char *kt_transport_name(enum kt_transport t);

struct turn_conn;

struct handler_opts {
	const char *software; /* SOFTWARE attribute value; NULL omits it */
	bool fingerprint;     /* FINGERPRINT on every response, not only when asked */
};

/* Where a message came from. */
struct msg_src {
	enum kt_transport transport;
	const struct sockaddr *client; /* remote address (sockaddr_in/in6) */
	const struct sockaddr *local;  /* local address it arrived on */
	struct turn_conn *conn;	       /* TURN state of this 5-tuple; NULL: STUN only */
};

/* Response buffer large enough for any response the handler builds. */
#define HANDLER_REPLY_MAX 1500

/*
 * Handle one STUN message (bytes as received, one message). Returns the
 * length of the response written to `out`, 0 when nothing is sent back
 * (indications, responses, malformed datagrams), or -EBADMSG when the bytes
 * are not a valid STUN message (a stream transport closes the connection).
 */
ssize_t handler__stun(const struct handler_opts *o, const struct msg_src *src, const uint8_t *buf,
		      size_t len, uint8_t *out, size_t cap);

/* True for attribute types this server understands (for 420 decisions). */
bool handler__known_attr(uint16_t type);

#endif /* KTURN_HANDLER_H */
