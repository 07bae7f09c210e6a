// SPDX-License-Identifier: MIT
/* splice() relay of one TCP pair: see include/kturn/splice_pair.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kturn/net.h"
#include "kturn/splice_pair.h"

/*
 * A pipe starts at PIPE_SIZE and grows to PIPE_BULK the first time one
 * splice() fills it: a bulk direction then moves 1 MiB per syscall pair
 * instead of 256 KiB (kturnd CPU -33 % in a loopback bulk pair, BENCHMARKS.md),
 * while idle pairs keep the small pipe ring (kernel memory per pipe scales
 * with its size).
 */
#define PIPE_SIZE   (256 * 1024)
#define PIPE_BULK   (1024 * 1024)
#define WAKE_BUDGET (1024 * 1024) /* bytes per direction per wakeup, for fairness */

struct side {
	struct loop_watch w;
	struct splice_pair *p;
	int idx;
};

/* One direction: from side[d] to side[!d]. */
struct dir {
	int pipe[2];
	size_t in_pipe; /* bytes in the pipe */
	size_t pipe_sz; /* its capacity */
	bool grown;	/* PIPE_BULK was asked for (once: it may be refused) */
	uint8_t *first; /* bytes to send before the pipe's */
	size_t first_len, first_off;
	bool eof;	  /* the source's stream ended */
	bool shut;	  /* the destination got SHUT_WR */
	bool blocked_out; /* the destination said EAGAIN */
	uint64_t bytes;
};

struct splice_pair {
	struct loop *loop;
	struct side side[2];
	struct dir dir[2];
	splice_pair_done_cb cb;
	void *arg;
	bool ended, clean;
};

static int send_first(struct dir *d, int dst)
{
	while (d->first_off < d->first_len) {
		ssize_t n = send(dst, d->first + d->first_off, d->first_len - d->first_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		d->first_off += (size_t)n;
		d->bytes += (uint64_t)n;
	}
	free(d->first);
	d->first = NULL;
	d->first_len = d->first_off = 0;
	return 0;
}

/* Pipe -> destination. 0 when the pipe is empty, -EAGAIN, or -errno. */
static int drain_pipe(struct dir *d, int dst)
{
	while (d->in_pipe) {
		ssize_t n = splice(d->pipe[0], NULL, dst, NULL, d->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		d->in_pipe -= (size_t)n;
		d->bytes += (uint64_t)n;
	}
	return 0;
}

/* The pipe was filled by one splice(): a bulk direction, give it PIPE_BULK. */
static void grow(struct dir *d)
{
	int sz;

	if (d->grown)
		return;
	d->grown = true;
	sz = fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_BULK); /* may exceed pipe-user-pages-soft */
	if (sz > 0)
		d->pipe_sz = (size_t)sz;
}

/* Move what can move in direction i. 0, or -errno for a broken pair. */
static int pump(struct splice_pair *p, int i)
{
	struct dir *d = &p->dir[i];
	int src = p->side[i].w.fd, dst = p->side[!i].w.fd;
	size_t budget = WAKE_BUDGET;
	int err;

	for (;;) {
		err = d->first ? send_first(d, dst) : 0;
		if (!err)
			err = drain_pipe(d, dst);
		d->blocked_out = err == -EAGAIN || d->first;
		if (d->blocked_out)
			return 0;
		if (err)
			return err;
		if (d->eof) {
			if (!d->shut && shutdown(dst, SHUT_WR) < 0 && errno != ENOTCONN)
				return -errno;
			d->shut = true;
			return 0;
		}
		if (!budget)
			return 0; /* level-triggered: the rest comes next round */
		ssize_t n = splice(src, NULL, d->pipe[1], NULL,
				   budget < d->pipe_sz ? budget : d->pipe_sz,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == 0)
			d->eof = true;
		else if (n < 0 && errno == EAGAIN)
			return 0;
		else if (n < 0 && errno != EINTR)
			return -errno;
		else if (n > 0) {
			if ((size_t)n >= d->pipe_sz)
				grow(d);
			d->in_pipe += (size_t)n;
			budget -= (size_t)n < budget ? (size_t)n : budget;
		}
	}
}

/* Read a side only while its direction can move; write-wait where blocked. */
static void update_interest(struct splice_pair *p)
{
	for (int i = 0; i < 2; i++) {
		uint32_t ev = 0;

		if (!p->dir[i].eof && !p->dir[i].blocked_out)
			ev |= EPOLLIN;
		if (p->dir[!i].blocked_out)
			ev |= EPOLLOUT;
		loop__mod(p->loop, &p->side[i].w, ev);
	}
}

static void end(struct splice_pair *p, bool clean)
{
	p->ended = true;
	p->clean = clean;
	for (int i = 0; i < 2; i++)
		loop__mod(p->loop, &p->side[i].w, 0);
	p->cb(p, clean ? PAIR_DONE : PAIR_RESET, p->arg);
}

static void side_io(struct loop_watch *w, uint32_t events)
{
	struct side *s = w->arg;
	struct splice_pair *p = s->p;
	int err;

	if (p->ended)
		return;
	err = pump(p, 0);
	if (!err)
		err = pump(p, 1);
	if (err) {
		end(p, false);
		return;
	}
	if (p->dir[0].shut && p->dir[1].shut) {
		end(p, true);
		return;
	}
	/* a socket error with nothing left to read: reset (e.g. RST while idle) */
	if ((events & EPOLLERR) ||
	    ((events & EPOLLHUP) && p->dir[s->idx].eof && p->dir[!s->idx].eof)) {
		end(p, false);
		return;
	}
	update_interest(p);
}

static int dir_init(struct dir *d, const uint8_t *first, size_t len)
{
	int sz;

	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	sz = fcntl(d->pipe[0], F_SETPIPE_SZ, PIPE_SIZE); /* best effort */
	if (sz <= 0)
		sz = fcntl(d->pipe[0], F_GETPIPE_SZ);
	d->pipe_sz = sz > 0 ? (size_t)sz : 65536;
	if (len) {
		d->first = malloc(len);
		if (!d->first)
			return -ENOMEM;
		memcpy(d->first, first, len);
		d->first_len = len;
	}
	return 0;
}

int splice_pair__new(struct splice_pair **out, struct loop *l, int fd_a, int fd_b,
		     const uint8_t *const first[2], const size_t first_len[2],
		     splice_pair_done_cb cb, void *arg)
{
	struct splice_pair *p = calloc(1, sizeof(*p));
	int fds[2] = {fd_a, fd_b}, err = 0;

	if (!p) {
		close(fd_a);
		close(fd_b);
		return -ENOMEM;
	}
	p->loop = l;
	p->cb = cb;
	p->arg = arg;
	for (int i = 0; i < 2; i++) {
		p->dir[i].pipe[0] = p->dir[i].pipe[1] = -1;
		p->side[i] = (struct side){.p = p, .idx = i};
		loop_watch__init(&p->side[i].w, fds[i], side_io, &p->side[i]);
	}
	for (int i = 0; i < 2 && !err; i++)
		err = dir_init(&p->dir[i], first ? first[i] : NULL, first_len ? first_len[i] : 0);
	for (int i = 0; i < 2 && !err; i++)
		err = loop__add(l, &p->side[i].w, EPOLLIN | EPOLLOUT);
	if (err) {
		p->ended = true; /* never registered fully: just close */
		splice_pair__free(p);
		return err;
	}
	*out = p;
	return 0;
}

void splice_pair__free(struct splice_pair *p)
{
	if (!p)
		return;
	for (int i = 0; i < 2; i++) {
		struct dir *d = &p->dir[i];

		if (p->side[i].w.fd >= 0) {
			loop__del(p->loop, &p->side[i].w);
			net_close(p->side[i].w.fd, !p->clean);
		}
		if (d->pipe[0] >= 0)
			close(d->pipe[0]);
		if (d->pipe[1] >= 0)
			close(d->pipe[1]);
		free(d->first);
	}
	free(p);
}

void splice_pair__stats(const struct splice_pair *p, struct pair_stats *st)
{
	st->bytes[0] = p->dir[0].bytes;
	st->bytes[1] = p->dir[1].bytes;
}
