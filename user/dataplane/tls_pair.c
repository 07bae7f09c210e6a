// SPDX-License-Identifier: MIT
/* Userspace relay of a TLS client data connection: see include/kturn/tls_pair.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "kturn/net.h"
#include "kturn/tls_pair.h"

#define BUF_SIZE (64 * 1024)

struct tdir {
	uint8_t *buf;
	size_t len, off;
	bool eof;  /* its source ended */
	bool shut; /* its destination got the end */
	uint64_t bytes;
};

struct tls_pair {
	struct loop *loop;
	struct loop_watch w[2]; /* [0] the client (TLS), [1] the peer */
	SSL *ssl;
	struct tdir d[2]; /* [0] client -> peer, [1] peer -> client */
	bool want_write;  /* OpenSSL waits for the client socket to be writable */
	bool peer_full;	  /* send() to the peer said EAGAIN */
	tls_pair_done_cb cb;
	void *arg;
	bool ended, clean;
};

/* OpenSSL's verdict on a failed call: 0 to wait (noting what for), 1 at EOF, -EPROTO. */
static int ssl_wait(struct tls_pair *p, int n)
{
	int e = SSL_get_error(p->ssl, n);

	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		p->want_write = true;
		return 0;
	}
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno))
		return 1;
	return -EPROTO;
}

/* Client -> peer: SSL_read, send. 0 or -errno. */
static int pump_up(struct tls_pair *p)
{
	struct tdir *d = &p->d[0];

	for (;;) {
		while (d->off < d->len) {
			ssize_t n = send(p->w[1].fd, d->buf + d->off, d->len - d->off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0) {
				p->peer_full = errno == EAGAIN;
				return p->peer_full ? 0 : -errno;
			}
			d->off += (size_t)n;
			d->bytes += (uint64_t)n;
		}
		d->len = d->off = 0;
		p->peer_full = false;
		if (d->eof) {
			if (!d->shut && shutdown(p->w[1].fd, SHUT_WR) < 0 && errno != ENOTCONN)
				return -errno;
			d->shut = true;
			return 0;
		}
		ERR_clear_error(); /* SSL_get_error reads the thread's queue: start it empty */
		int n = SSL_read(p->ssl, d->buf, BUF_SIZE);

		if (n > 0) {
			d->len = (size_t)n;
			continue;
		}
		int w = ssl_wait(p, n);

		if (w <= 0)
			return w;
		d->eof = true;
	}
}

/* Peer -> client: recv, SSL_write. 0 or -errno. */
static int pump_down(struct tls_pair *p)
{
	struct tdir *d = &p->d[1];

	for (;;) {
		while (d->off < d->len) {
			ERR_clear_error();
			int n = SSL_write(p->ssl, d->buf + d->off, (int)(d->len - d->off));

			if (n <= 0) {
				int w = ssl_wait(p, n);

				return w < 0 ? w : w ? -EPIPE : 0;
			}
			d->off += (size_t)n;
			d->bytes += (uint64_t)n;
		}
		d->len = d->off = 0;
		if (d->eof) {
			if (!d->shut) {
				ERR_clear_error();
				SSL_shutdown(p->ssl); /* close_notify, then the FIN */
				ERR_clear_error();
				if (shutdown(p->w[0].fd, SHUT_WR) < 0 && errno != ENOTCONN)
					return -errno;
			}
			d->shut = true;
			return 0;
		}
		ssize_t n = recv(p->w[1].fd, d->buf, BUF_SIZE, MSG_DONTWAIT);

		if (n == 0)
			d->eof = true;
		else if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		else
			d->len = (size_t)n;
	}
}

static void update_interest(struct tls_pair *p)
{
	struct tdir *up = &p->d[0], *down = &p->d[1];
	bool down_pending = down->off < down->len;
	uint32_t ev_a = 0, ev_b = 0;

	if ((!up->eof && up->off == up->len) || down_pending)
		ev_a |= EPOLLIN; /* records to read, or OpenSSL reading for its write */
	if (p->want_write || down_pending)
		ev_a |= EPOLLOUT;
	if (!down->eof && !down_pending)
		ev_b |= EPOLLIN;
	if (p->peer_full)
		ev_b |= EPOLLOUT;
	loop__mod(p->loop, &p->w[0], ev_a);
	loop__mod(p->loop, &p->w[1], ev_b);
}

static void end(struct tls_pair *p, bool clean)
{
	p->ended = true;
	p->clean = clean;
	loop__mod(p->loop, &p->w[0], 0);
	loop__mod(p->loop, &p->w[1], 0);
	p->cb(p, clean ? PAIR_DONE : PAIR_RESET, p->arg);
}

static void pair_io(struct loop_watch *w, uint32_t events)
{
	struct tls_pair *p = w->arg;
	int err;

	if (p->ended)
		return;
	p->want_write = false;
	err = (events & EPOLLERR) ? -EIO : pump_up(p);
	if (!err)
		err = pump_down(p);
	if (err) {
		end(p, false);
		return;
	}
	if (p->d[0].shut && p->d[1].shut) {
		end(p, true);
		return;
	}
	update_interest(p);
}

static int dir_init(struct tdir *d, const uint8_t *first, size_t len)
{
	d->buf = malloc(len > BUF_SIZE ? len : BUF_SIZE);
	if (!d->buf)
		return -ENOMEM;
	if (len)
		memcpy(d->buf, first, len);
	d->len = len;
	return 0;
}

int tls_pair__new(struct tls_pair **out, struct loop *l, int fd_a, struct ssl_st *ssl, int fd_b,
		  const uint8_t *const first[2], const size_t first_len[2], tls_pair_done_cb cb,
		  void *arg)
{
	struct tls_pair *p = calloc(1, sizeof(*p));
	int err = 0;

	if (!p) {
		SSL_free(ssl);
		close(fd_a);
		close(fd_b);
		return -ENOMEM;
	}
	p->loop = l;
	p->ssl = ssl;
	p->cb = cb;
	p->arg = arg;
	loop_watch__init(&p->w[0], fd_a, pair_io, p);
	loop_watch__init(&p->w[1], fd_b, pair_io, p);
	for (int i = 0; i < 2 && !err; i++)
		err = dir_init(&p->d[i], first ? first[i] : NULL, first_len ? first_len[i] : 0);
	for (int i = 0; i < 2 && !err; i++)
		err = loop__add(l, &p->w[i], EPOLLIN | EPOLLOUT);
	if (err) {
		tls_pair__free(p);
		return err;
	}
	*out = p;
	return 0;
}

void tls_pair__free(struct tls_pair *p)
{
	if (!p)
		return;
	for (int i = 0; i < 2; i++) {
		loop__del(p->loop, &p->w[i]);
		net_close(p->w[i].fd, !p->clean);
		free(p->d[i].buf);
	}
	SSL_free(p->ssl);
	free(p);
}

void tls_pair__stats(const struct tls_pair *p, struct pair_stats *st)
{
	st->bytes[0] = p->d[0].bytes;
	st->bytes[1] = p->d[1].bytes;
}
