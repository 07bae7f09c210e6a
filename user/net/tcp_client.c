// SPDX-License-Identifier: MIT
/*
 * A TCP client connection: frame the byte stream into STUN messages and
 * ChannelData, hand messages to the handler, queue responses.
 *
 * Backpressure: while responses are queued (the client is not reading), the
 * connection stops reading requests, so a client cannot make the server
 * buffer without bound; the queue itself is bounded by tcp_tx_max.
 */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/stun.h"
#include "kturn/tls.h"
#include "server_priv.h"

#define RX_CHUNK    4096
#define RX_KEEP	    4096	 /* buffers above this are released when idle */
#define READ_BUDGET (256 * 1024) /* bytes per wakeup, for fairness */
#define GONE	    1		 /* the connection left this object (data plane, other worker) */

static void client_io(struct loop_watch *w, uint32_t events);

static void log_conn(const struct tcp_client *c, const char *event, const char *why)
{
	char peer[NET_ADDRSTRLEN];

	net_addr_str((const struct sockaddr *)&c->peer, peer, sizeof(peer));
	if (why)
		klog_info("tcp %s client=%s reason=\"%s\"", event, peer, why);
	else
		klog_debug("tcp %s client=%s", event, peer);
}

/* Forget the connection; its fd is closed only when close_fd. */
static void release(struct tcp_client *c, bool close_fd)
{
	struct server *s = c->srv;

	if (c->w.fd >= 0) /* -1: the fd now belongs to (and is watched by) someone else */
		loop__del(s->loop, &c->w);
	loop__timer_cancel(s->loop, &c->idle);
	if (close_fd && c->w.fd >= 0)
		close(c->w.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_clients--;
	buf__free(&c->rx);
	buf__free(&c->tx);
	free(c);
}

void tcp_client__close(struct tcp_client *c, const char *why)
{
	log_conn(c, "close", why);
	if (c->conn.ts) {
		turn__conn_closed(&c->conn);
		turn_server__flush(c->conn.ts);
	}
	if (c->ssl) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* best effort close_notify; never waits */
		ERR_clear_error();    /* its failure must not end the next session */
		SSL_free(c->ssl);
	}
	release(c, true);
}

static void idle_expired(struct loop_timer *t)
{
	tcp_client__close(t->arg, "idle timeout");
}

/*
 * Only connections without an allocation idle out: an allocation's own
 * lifetime (Refresh) decides how long its connection may stay silent.
 * Only a whole message counts as activity: a client trickling a byte at a
 * time (slowloris) is closed when the timeout passes without one.
 */
static void touch(struct tcp_client *c)
{
	if (c->conn.alloc)
		loop__timer_cancel(c->srv->loop, &c->idle);
	else if (c->srv->opts.tcp_idle_ms && c->progress)
		loop__timer_arm(c->srv->loop, &c->idle, c->srv->opts.tcp_idle_ms);
	c->progress = false;
}

/*
 * Interest follows the output queue: read only when nothing is queued.
 * EPOLLRDHUP goes with reading: it stays raised once the client shuts down
 * its side, so asking for it while waiting to write woke the worker for
 * nothing, forever, for a client that half-closed and stopped reading.
 */
static int update_interest(struct tcp_client *c)
{
	uint32_t ev = buf__len(&c->tx) ? EPOLLOUT : EPOLLIN | EPOLLRDHUP;

	return loop__mod(c->srv->loop, &c->w, ev);
}

/*
 * OpenSSL's result as ours: bytes, 0 at a clean close, -EAGAIN, -EPROTO.
 * SSL_get_error reads this thread's error queue, which every session of the
 * worker shares: each TLS call starts with an empty queue, or an
 * error left by another session ends this one.
 */
static ssize_t tls_result(struct tcp_client *c, int n)
{
	int e = SSL_get_error(c->ssl, n);

	if (n > 0)
		return n;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno))
		return 0;
	if (e == SSL_ERROR_SYSCALL)
		return -errno;
	tls_log_errors("TLS connection failed");
	return -EPROTO;
}

/* recv() or SSL_read(): bytes, 0 at EOF, -EAGAIN or -errno. */
static ssize_t conn_read(struct tcp_client *c, void *p, size_t len)
{
	ssize_t n;

	if (c->ssl) {
		ERR_clear_error();
		return tls_result(c, SSL_read(c->ssl, p, (int)(len > INT_MAX ? INT_MAX : len)));
	}
	do
		n = recv(c->w.fd, p, len, 0);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* send() or SSL_write(): bytes written, -EAGAIN or -errno. */
static ssize_t conn_write(struct tcp_client *c, const void *p, size_t len)
{
	ssize_t n;

	if (c->ssl) {
		ERR_clear_error();
		n = tls_result(c, SSL_write(c->ssl, p, (int)(len > INT_MAX ? INT_MAX : len)));
		return n == 0 ? -EPIPE : n;
	}
	do
		n = send(c->w.fd, p, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int flush_tx(struct tcp_client *c)
{
	while (buf__len(&c->tx)) {
		ssize_t n = conn_write(c, buf__begin(&c->tx), buf__len(&c->tx));

		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		buf__consume(&c->tx, (size_t)n);
	}
	buf__shrink(&c->tx, RX_KEEP);
	return update_interest(c);
}

static int queue_reply(struct tcp_client *c, const uint8_t *p, size_t n)
{
	int err = buf__append(&c->tx, p, n, c->srv->opts.tcp_tx_max);

	if (err)
		return err;
	return flush_tx(c);
}

/* The connection a turn_conn is embedded in. */
static struct tcp_client *conn_client(struct turn_conn *tc)
{
	return (struct tcp_client *)((char *)tc - offsetof(struct tcp_client, conn));
}

/*
 * turn_conn.send for streams: queue one whole message (never a part of
 * one, or the stream would lose its framing) and try to write it now.
 * Write errors are left for the connection's own event to report: the
 * caller may be relaying for the allocation this connection owns.
 */
static int tcp_conn_send(struct turn_conn *tc, const struct iovec *iov, int iovcnt)
{
	struct tcp_client *c = conn_client(tc);
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (buf__len(&c->tx) + total > c->srv->opts.tcp_tx_max)
		return -ENOBUFS;
	for (int i = 0; i < iovcnt; i++)
		if (buf__append(&c->tx, iov[i].iov_base, iov[i].iov_len, c->srv->opts.tcp_tx_max))
			return -ENOBUFS; /* cannot happen after the check above */
	while (buf__len(&c->tx)) {
		ssize_t n = conn_write(c, buf__begin(&c->tx), buf__len(&c->tx));

		if (n < 0)
			break;
		buf__consume(&c->tx, (size_t)n);
	}
	update_interest(c);
	return 0;
}

#define BEHIND_MAX (256 * 1024) /* bytes read behind a ConnectionBind, at most */

/*
 * ConnectionBind succeeded and its response is not sent yet: anything
 * queued now was sent without waiting for it, maybe in the request's own
 * segment. Read it all (it is the first data for the peer), so the socket
 * is at an skb boundary when a data plane takes it.
 */
static void drain_behind_bind(struct tcp_client *c)
{
	if (c->ssl)
		return;
	while (buf__len(&c->rx) < BEHIND_MAX) {
		ssize_t n;

		if (buf__reserve(&c->rx, RX_CHUNK, BEHIND_MAX + c->srv->opts.max_msg) < 0)
			return;
		n = recv(c->w.fd, c->rx.data + c->rx.tail, buf__room(&c->rx), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN) {
			c->drained = true;
			return;
		}
		if (n <= 0)
			return; /* EOF or error: the data plane finds out */
		c->rx.tail += (size_t)n;
	}
}

/* One complete STUN frame: 0 to go on, <0 to close the connection. */
static int on_stun(struct tcp_client *c, const uint8_t *p, size_t len)
{
	struct msg_src src = {
		.transport = c->ssl ? KT_TRANSPORT_TLS : KT_TRANSPORT_TCP,
		.client = (const struct sockaddr *)&c->peer,
		.local = (const struct sockaddr *)&c->local,
		.conn = c->conn.ts ? &c->conn : NULL,
	};
	uint8_t out[HANDLER_REPLY_MAX];
	ssize_t n = handler__stun(&c->srv->opts.handler, &src, p, len, out, sizeof(out));

	if (n < 0)
		return (int)n;
	if (n && c->conn.bind)
		drain_behind_bind(c);
	return n ? queue_reply(c, out, (size_t)n) : 0;
}

/*
 * ConnectionBind succeeded: the connection now carries a peer's raw bytes,
 * spliced by the TURN core. Hand it the socket and what is buffered.
 */
static int become_data(struct tcp_client *c)
{
	log_conn(c, "data", NULL);
	loop__del(c->srv->loop, &c->w); /* the data plane registers the fd itself */
	turn__data_conn(&c->conn, c->w.fd, c->ssl, buf__begin(&c->rx), buf__len(&c->rx),
			buf__begin(&c->tx), buf__len(&c->tx), c->drained);
	c->w.fd = -1;
	c->ssl = NULL; /* the data plane's now */
	release(c, false);
	return GONE;
}

/* ConnectionBind for an allocation of another worker: move the connection there. */
static int hand_off(struct tcp_client *c, const char **why)
{
	struct server *dst = turn_server__transport(c->conn.handoff);
	struct mail *m = mail__new(buf__begin(&c->rx), buf__len(&c->rx));

	if (!m) {
		*why = "out of memory";
		return -ENOMEM;
	}
	m->fd = c->w.fd;
	m->ssl = c->ssl;
	m->peer = c->peer;
	m->local = c->local;
	log_conn(c, "handoff", NULL);
	loop__del(c->srv->loop, &c->w);
	c->w.fd = -1; /* posted below: the other worker may register it at once */
	release(c, false);
	mailbox__post(dst->mbox, m);
	return GONE;
}

/*
 * Consume every complete frame in rx. Returns 0, <0 to close, or GONE when
 * the connection was handed on (c is freed).
 */
static int process_rx(struct tcp_client *c, const char **why)
{
	for (;;) {
		struct stun_frame f;
		enum stun_frame_status st = stun_frame__next(buf__begin(&c->rx), buf__len(&c->rx),
							     c->srv->opts.max_msg, &f);
		int err = 0;

		if (st == STUN_FRAME_INVALID) {
			*why = "not STUN or ChannelData";
			return -EBADMSG;
		}
		/*
		 * ChannelData needs an allocation on this connection; without one
		 * it is junk that happens to look like a channel header (an HTTP
		 * "GET " does): close instead of waiting for its "length".
		 */
		if (buf__len(&c->rx) && (buf__begin(&c->rx)[0] & 0xC0) == 0x40 && !c->conn.alloc) {
			*why = "ChannelData without an allocation";
			return -EBADMSG;
		}
		if (st == STUN_FRAME_NEED)
			return buf__reserve(&c->rx, f.need - buf__len(&c->rx),
					    c->srv->opts.max_msg);
		if (f.kind == STUN_FRAME_STUN)
			err = on_stun(c, buf__begin(&c->rx), f.len);
		else
			turn__channel_data(&c->conn, buf__begin(&c->rx), f.len);
		if (!err && c->conn.handoff)
			return hand_off(c, why); /* with this frame: the owner re-reads it */
		/* relayed datagrams point into rx: send them before it moves */
		if (c->conn.ts)
			turn_server__flush(c->conn.ts);
		buf__consume(&c->rx, f.len);
		c->conn.first = false;
		c->progress = true;
		if (err) {
			*why = err == -EBADMSG ? "malformed STUN message" : "output queue full";
			return err;
		}
		if (c->conn.bind)
			return become_data(c);
		if (buf__len(&c->tx))
			return 0; /* backpressure: stop until the client reads */
	}
}

/*
 * How much to read. Until the first message is complete, exactly that
 * message: if it is a ConnectionBind, what follows is the client's data and
 * must stay in the socket for the data plane. TLS cannot be read so exactly;
 * there the surplus is handed on from rx.
 */
static size_t read_want(struct tcp_client *c)
{
	size_t have = buf__len(&c->rx), room = buf__room(&c->rx);
	struct stun_frame f;

	if (!c->conn.first || c->ssl || !c->conn.ts)
		return room;
	if (have < STUN_HEADER_LEN)
		return STUN_HEADER_LEN - have;
	if (stun_frame__next(buf__begin(&c->rx), have, c->srv->opts.max_msg, &f) != STUN_FRAME_NEED)
		return room;
	return f.need - have < room ? f.need - have : room;
}

/* Returns 0 to keep the connection, <0 to close it (why set), GONE when handed on. */
static int read_some(struct tcp_client *c, const char **why)
{
	size_t budget = READ_BUDGET;

	while (budget && !buf__len(&c->tx)) {
		ssize_t n;
		int err = buf__reserve(&c->rx, RX_CHUNK, c->srv->opts.max_msg + RX_CHUNK);

		if (err) {
			*why = "out of memory";
			return err;
		}
		n = conn_read(c, c->rx.data + c->rx.tail, read_want(c));
		if (n == 0) {
			*why = NULL;
			return -ECONNRESET;
		}
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			*why = strerror((int)-n);
			return (int)n;
		}
		c->rx.tail += (size_t)n;
		/* OpenSSL may hold decrypted bytes epoll cannot see: drain TLS fully. */
		if (!c->ssl)
			budget -= (size_t)n < budget ? (size_t)n : budget;
		err = process_rx(c, why);
		if (err)
			return err; /* GONE too: c is no longer ours */
	}
	buf__shrink(&c->rx, RX_KEEP);
	return 0;
}

static void client_io(struct loop_watch *w, uint32_t events)
{
	struct tcp_client *c = w->arg;
	const char *why = NULL;
	int err = 0;

	if (events & EPOLLOUT) {
		err = flush_tx(c);
		if (err)
			why = strerror(-err);
		else if (!buf__len(&c->tx))
			err = process_rx(c, &why); /* frames left behind by backpressure */
		if (err == GONE)
			return;
		if (!err && c->ssl)
			events |= EPOLLIN; /* records OpenSSL buffered meanwhile */
	}
	if (!err && (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		err = read_some(c, &why);
	if (err == GONE)
		return;
	if (err)
		tcp_client__close(c, why);
	else
		touch(c); /* after the messages: an Allocate may have just succeeded */
}

/* Server side of TLS on an accepted socket; the handshake runs inside SSL_read. */
static int tls_attach(struct tcp_client *c, int fd)
{
	c->ssl = tls_store__ssl_new(c->srv->opts.tls);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		tls_log_errors("TLS session setup failed");
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -ENOMEM;
	}
	SSL_set_accept_state(c->ssl);
	return 0;
}

/* Its allocation expired or was deleted: the connection may idle out again. */
static void conn_alloc_gone(struct turn_conn *tc)
{
	struct tcp_client *c = conn_client(tc);

	c->progress = true;
	touch(c);
}

/* Register a new connection object; on error fd and ssl are closed. */
static struct tcp_client *client_new(struct server *s, int fd, const struct sockaddr_storage *peer,
				     const struct sockaddr_storage *local, bool tls,
				     struct ssl_st *ssl)
{
	struct tcp_client *c = calloc(1, sizeof(*c));
	int one = 1, err;

	if (!c) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	c->srv = s;
	c->ssl = ssl;
	if (tls && !ssl && tls_attach(c, fd) < 0) {
		close(fd);
		free(c);
		return NULL;
	}
	c->peer = *peer;
	c->local = *local;
	c->conn = (struct turn_conn){
		.ts = s->turn,
		.transport = tls ? KT_TRANSPORT_TLS : KT_TRANSPORT_TCP,
		.client = *peer,
		.local = *local,
		.send = tcp_conn_send,
		.alloc_gone = conn_alloc_gone,
		.fd = -1,
		.first = true,
	};
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	loop_watch__init(&c->w, fd, client_io, c);
	loop_timer__init(&c->idle, idle_expired, c);
	err = loop__add(s->loop, &c->w, EPOLLIN | EPOLLRDHUP);
	if (err) {
		SSL_free(c->ssl);
		close(fd);
		free(c);
		return NULL;
	}
	c->next = s->clients;
	if (c->next)
		c->next->prev = c;
	s->clients = c;
	s->n_clients++;
	c->progress = true; /* arms the idle timer: the first message must come in time */
	touch(c);
	return c;
}

int tcp_client__start(struct server *s, int fd, const struct sockaddr_storage *peer,
		      const struct sockaddr_storage *local, bool tls)
{
	struct tcp_client *c = client_new(s, fd, peer, local, tls, NULL);

	if (!c)
		return -ENOMEM;
	log_conn(c, "open", NULL);
	return 0;
}

void tcp_client__adopt(struct server *s, struct mail *m)
{
	struct tcp_client *c = client_new(s, m->fd, &m->peer, &m->local, m->ssl != NULL, m->ssl);
	const char *why = NULL;
	int err;

	m->fd = -1;
	m->ssl = NULL;
	if (c && buf__append(&c->rx, m->data, m->len, s->opts.max_msg + RX_CHUNK) < 0) {
		tcp_client__close(c, "out of memory");
		c = NULL;
	}
	mail__free(m);
	if (!c)
		return;
	log_conn(c, "adopt", NULL);
	err = process_rx(c, &why);
	if (err < 0)
		tcp_client__close(c, why);
}
