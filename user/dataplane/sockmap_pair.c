// SPDX-License-Identifier: MIT
/* One spliced pair's edges on the sockmap plane: see include/kturn/sockmap_pair.h. */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kturn/log.h"
#include "kturn/sockmap_pair.h"

#define DRAIN_POLL_MS 2
#define PARK_BUF      (64 * 1024)

struct pside {
	struct loop_watch w;
	struct sockmap_pair_rt *p;
	int idx;
	uint64_t base;	  /* bytes_acked + outq at insertion: sent before the splice */
	uint64_t user_in; /* bytes userspace wrote into this socket (parked relay) */
	bool eof;	  /* its receive stream ended */
	bool shut;	  /* its partner got SHUT_WR */
	bool parked;	  /* its received bytes are relayed by userspace */
	uint8_t *buf;	  /* parked relay: bytes read, not yet written to the partner */
	size_t len, off;
};

struct sockmap_pair_rt {
	struct loop *loop;
	struct sockmap *sm;
	struct sockmap_pair pair;
	struct pside side[2];
	struct loop_timer drain;
	sockmap_pair_done_cb cb;
	void *arg;
	bool in_map, ended, clean;
	struct kturn_sock_counters final[2];
};

/* Bytes this socket's stack has taken for sending: acked + still in the send queue. */
static int sent_total(int fd, uint64_t *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || ioctl(fd, SIOCOUTQ, &outq) < 0)
		return -errno;
	*out = ti.tcpi_bytes_acked + (uint64_t)outq;
	return 0;
}

static uint64_t cookie_of(const struct sockmap_pair_rt *p, int i)
{
	return i ? p->pair.cookie_b : p->pair.cookie_a;
}

/* Bytes redirected or relayed into side i that its stack has not taken yet. */
static int backlog(struct sockmap_pair_rt *p, int i, uint64_t *out)
{
	struct kturn_sock_counters c = {0};
	uint64_t taken;
	int err = sent_total(p->side[i].w.fd, &taken);

	if (err)
		return err;
	if (sockmap__read_counters(p->sm, cookie_of(p, !i), &c) < 0)
		c = p->final[!i];
	taken -= p->side[i].base;
	*out = c.fwd_bytes + p->side[i].user_in > taken ? c.fwd_bytes + p->side[i].user_in - taken
							: 0;
	return 0;
}

static void end(struct sockmap_pair_rt *p, bool clean)
{
	p->ended = true;
	p->clean = clean;
	loop__timer_cancel(p->loop, &p->drain);
	for (int i = 0; i < 2; i++)
		loop__mod(p->loop, &p->side[i].w, 0);
	p->cb(p, clean ? PAIR_DONE : PAIR_RESET, p->arg);
}

/* Parked direction i: recv from side i, send to its partner. 0 or -errno. */
static int relay_parked(struct sockmap_pair_rt *p, int i)
{
	struct pside *s = &p->side[i], *d = &p->side[!i];

	for (;;) {
		while (s->off < s->len) {
			ssize_t n = send(d->w.fd, s->buf + s->off, s->len - s->off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			s->off += (size_t)n;
			d->user_in += (uint64_t)n;
		}
		s->len = s->off = 0;
		if (s->eof)
			return 0;
		ssize_t n = recv(s->w.fd, s->buf, PARK_BUF, MSG_DONTWAIT);

		if (n == 0)
			s->eof = true;
		else if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		else
			s->len = (size_t)n;
	}
}

/*
 * Forward each ended stream's FIN once its partner's backlog is empty.
 * Returns 0, or -errno; *waiting when a FIN still waits for a backlog.
 */
static int forward_fins(struct sockmap_pair_rt *p, bool *waiting)
{
	*waiting = false;
	for (int i = 0; i < 2; i++) {
		struct pside *s = &p->side[i];
		uint64_t left;
		int err;

		if (!s->eof || s->shut || (s->parked && s->off < s->len))
			continue;
		err = backlog(p, !i, &left);
		if (err)
			return err;
		if (left) {
			*waiting = true;
			continue;
		}
		if (shutdown(p->side[!i].w.fd, SHUT_WR) < 0 && errno != ENOTCONN)
			return -errno;
		s->shut = true;
	}
	return 0;
}

static void update(struct sockmap_pair_rt *p)
{
	bool waiting = false;
	int err = forward_fins(p, &waiting);

	if (err) {
		end(p, false);
		return;
	}
	if (p->side[0].shut && p->side[1].shut) {
		end(p, true);
		return;
	}
	for (int i = 0; i < 2; i++) {
		struct pside *s = &p->side[i];
		uint32_t ev = 0;

		if (!s->eof)
			ev |= s->parked ? EPOLLIN : EPOLLRDHUP;
		if (p->side[!i].parked && p->side[!i].off < p->side[!i].len)
			ev |= EPOLLOUT;
		loop__mod(p->loop, &s->w, ev);
	}
	if (waiting)
		loop__timer_arm(p->loop, &p->drain, DRAIN_POLL_MS);
}

static void drain_tick(struct loop_timer *t)
{
	update(t->arg);
}

static void side_io(struct loop_watch *w, uint32_t events)
{
	struct pside *s = w->arg;
	struct sockmap_pair_rt *p = s->p;

	if (p->ended)
		return;
	if (events & EPOLLERR) {
		end(p, false);
		return;
	}
	for (int i = 0; i < 2; i++) {
		if (p->side[i].parked && relay_parked(p, i) < 0) {
			end(p, false);
			return;
		}
	}
	/* A spliced socket reads as EAGAIN; RDHUP/HUP tell that its stream ended. */
	if (!s->parked && (events & (EPOLLRDHUP | EPOLLHUP)))
		s->eof = true;
	update(p);
}

static int side_init(struct sockmap_pair_rt *p, int i, int fd, bool parked)
{
	struct pside *s = &p->side[i];

	s->p = p;
	s->idx = i;
	s->parked = parked;
	loop_watch__init(&s->w, fd, side_io, s);
	if (parked && !(s->buf = malloc(PARK_BUF)))
		return -ENOMEM;
	return sent_total(fd, &s->base);
}

int sockmap_pair__new(struct sockmap_pair_rt **out, struct loop *l, struct sockmap *sm, int fd_a,
		      int fd_b, uint32_t alloc_id, uint32_t pair_id, bool a_at_boundary,
		      sockmap_pair_done_cb cb, void *arg)
{
	struct sockmap_pair_rt *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->loop = l;
	p->sm = sm;
	p->cb = cb;
	p->arg = arg;
	p->pair.alloc_id = alloc_id;
	p->pair.pair_id = pair_id;
	p->pair.a_at_boundary = a_at_boundary;
	loop_timer__init(&p->drain, drain_tick, p);
	/* bases first: bytes sent before the splice are not the backlog's */
	err = side_init(p, 0, fd_a, false);
	if (!err)
		err = side_init(p, 1, fd_b, false);
	if (!err)
		err = sockmap__add_pair(sm, &p->pair, fd_a, fd_b);
	if (err) {
		free(p);
		return err; /* fds stay the caller's */
	}
	p->in_map = true;
	for (int i = 0; i < 2 && !err; i++) {
		bool parked = i ? p->pair.parked_b : p->pair.parked_a;

		if (parked && !(p->side[i].buf = malloc(PARK_BUF)))
			err = -ENOMEM;
		p->side[i].parked = parked;
	}
	for (int i = 0; i < 2 && !err; i++)
		err = loop__add(l, &p->side[i].w, EPOLLRDHUP | EPOLLIN);
	if (err) {
		sockmap__remove_pair(sm, &p->pair, NULL);
		for (int i = 0; i < 2; i++) {
			loop__del(l, &p->side[i].w);
			free(p->side[i].buf);
		}
		free(p);
		return err; /* fds stay the caller's */
	}
	*out = p;
	update(p);
	return 0;
}

static void reset_socket(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void sockmap_pair__free(struct sockmap_pair_rt *p)
{
	if (!p)
		return;
	loop__timer_cancel(p->loop, &p->drain);
	if (p->in_map)
		sockmap__remove_pair(p->sm, &p->pair, p->final);
	p->in_map = false;
	for (int i = 0; i < 2; i++) {
		loop__del(p->loop, &p->side[i].w);
		if (!p->clean)
			reset_socket(p->side[i].w.fd);
		close(p->side[i].w.fd);
		free(p->side[i].buf);
	}
	free(p);
}

void sockmap_pair__stats(struct sockmap_pair_rt *p, struct pair_stats *st)
{
	for (int i = 0; i < 2; i++) {
		struct kturn_sock_counters c = p->final[i];

		if (p->in_map)
			sockmap__read_counters(p->sm, cookie_of(p, i), &c);
		st->bytes[i] = c.fwd_bytes + p->side[!i].user_in;
	}
}
