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

#include "kturn/cut_list.h"
#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/sockmap_pair.h"

#define DRAIN_POLL_MS 2
#define PARK_BUF      (256 * 1024)

struct pside {
	struct loop_watch w;
	struct sockmap_pair_rt *p;
	int idx;
	uint64_t base;	      /* bytes_acked + outq at insertion: sent before the splice */
	uint64_t user_in;     /* bytes userspace wrote into this socket (parked relay) */
	uint64_t user_read;   /* parked bytes userspace read from this socket */
	bool eof;	      /* its receive stream ended */
	bool rdhup;	      /* a FIN arrived; eof once the verdict has seen every byte */
	bool shut;	      /* its partner got SHUT_WR */
	bool dirty;	      /* kturn_sock_ctl needs writing */
	bool clear;	      /* the partner's redirect backlog was seen empty since the pause */
	uint64_t pause_seen;  /* the verdict's pause_seq that `clear` refers to */
	uint64_t resumed;     /* the pause_seq resolved (kturn_sock_ctl.resume_seq) */
	struct cut_list cuts; /* repeated bytes to drop from the parked stream */
	uint64_t cuts_taken;  /* the verdict's cut records copied here */
	uint8_t *buf;	      /* parked bytes read, not yet written to the partner */
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

/*
 * The verdict has seen more bytes than TCP received on side i: the kernel
 * ran it twice on some (measured on 6.18 under bulk load, see
 * sockmap_pair.h). Counters first: a correct kernel only ever verdicts
 * bytes already received, so a later TCP_INFO can only be larger.
 */
static bool verdicted_twice(struct sockmap_pair_rt *p, int i, const struct kturn_sock_counters *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint64_t seen = c->fwd_bytes + c->pass_bytes - c->repeated_bytes;

	if (getsockopt(p->side[i].w.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    seen <= ti.tcpi_bytes_received)
		return false;
	klog_err("sockmap: pair %u side %d: the verdict saw %llu bytes, TCP received %llu: "
		 "the kernel delivered bytes twice, resetting the pair",
		 p->pair.pair_id, i, (unsigned long long)seen,
		 (unsigned long long)ti.tcpi_bytes_received);
	return true;
}

/*
 * Copy the verdict's new cut records (bpf_abi.h, "Repeated bytes"); false
 * when one was lost or there is no room (the stream cannot be repaired).
 */
static bool take_cuts(struct sockmap_pair_rt *p, int i, const struct kturn_sock_counters *c)
{
	struct pside *s = &p->side[i];

	if (c->cut_lost) {
		klog_err("sockmap: pair %u side %d: the kernel repeated bytes more often than "
			 "kturnd could record, resetting the pair",
			 p->pair.pair_id, i);
		return false;
	}
	cut_list__done(&s->cuts, s->user_read);
	for (; s->cuts_taken < c->cuts; s->cuts_taken++) {
		unsigned slot = (unsigned)(s->cuts_taken % KTURN_CUTS);

		if (!cut_list__add(&s->cuts, c->cut_at[slot], c->cut_len[slot])) {
			klog_err("sockmap: pair %u side %d: too many repeated ranges pending, "
				 "resetting the pair",
				 p->pair.pair_id, i);
			return false;
		}
		klog_info("sockmap: pair %u side %d: the kernel repeated %llu bytes "
			  "at parked offset %llu: cut",
			  p->pair.pair_id, i, (unsigned long long)c->cut_len[slot],
			  (unsigned long long)c->cut_at[slot]);
		s->dirty = true;
	}
	return true;
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

/* Tell the verdict what userspace has read and relayed for side i (and resolved). */
static int publish(struct sockmap_pair_rt *p, int i)
{
	struct pside *s = &p->side[i];
	/*
	 * Bytes read but not yet written to the partner are not "consumed":
	 * while any are held here the verdict must keep parking, or a new
	 * redirect would overtake them.
	 */
	struct kturn_sock_ctl ctl = {
		.resume_seq = s->resumed,
		.user_read = s->user_read - (s->len - s->off),
		.user_sent = p->side[!i].user_in,
		.cuts_taken = s->cuts_taken,
	};

	if (!s->dirty)
		return 0;
	s->dirty = false;
	return sockmap__set_ctl(p->sm, cookie_of(p, i), &ctl);
}

/*
 * A new pause of side i: bytes redirected before it may still wait in the
 * partner's psock queue, so parked bytes wait for that backlog again.
 */
static void observe(struct pside *s, const struct kturn_sock_counters *c)
{
	if (c->pause_seq > s->pause_seen) {
		s->pause_seen = c->pause_seq;
		s->clear = false;
	}
}

/*
 * Read what the verdict parked on side i, and never more: with its psock
 * message queue empty, a read falls through to the TCP receive queue, whose
 * skbs the verdict has not seen yet - it would later take a partly read one
 * whole (duplicated bytes). So a read is bounded by SIOCINQ (the message
 * queue) and by the parked bytes not yet read (counters), and waits while
 * either is 0 (sockmap_pair.h). 0 at EOF, -1 with errno EAGAIN when nothing
 * can be read now, EPROTO when the counts cannot be trusted.
 */
static ssize_t recv_parked(struct sockmap_pair_rt *p, int i)
{
	struct pside *s = &p->side[i];
	struct kturn_sock_counters c;
	uint64_t avail;
	int q = 0;

	/* the queue first: every byte in it was counted before it was queued */
	if (ioctl(s->w.fd, SIOCINQ, &q) < 0 ||
	    sockmap__read_counters(p->sm, cookie_of(p, i), &c) < 0)
		return -1;
	observe(s, &c);
	if (s->user_read > c.pass_bytes) {
		/* more read than parked: a read fell through to the TCP queue (must not) */
		klog_warn("sockmap: pair %u side %d: read %llu bytes, verdict parked %llu",
			  p->pair.pair_id, i, (unsigned long long)s->user_read,
			  (unsigned long long)c.pass_bytes);
		errno = EPROTO;
		return -1;
	}
	avail = c.pass_bytes - s->user_read;
	if (!take_cuts(p, i, &c) || verdicted_twice(p, i, &c)) {
		errno = EPROTO;
		return -1;
	}
	if ((uint64_t)q > avail) {
		/* the kernel queued a parked skb twice: relaying it would corrupt the stream */
		klog_warn("sockmap: pair %u side %d: %llu bytes queued, %llu parked: "
			  "duplicated skb, resetting the pair",
			  p->pair.pair_id, i, (unsigned long long)q, (unsigned long long)avail);
		errno = EPROTO;
		return -1;
	}
	if (!avail) {
		/* the FIN: every byte before it verdicted (none queued) and read */
		if (s->rdhup && q == 0)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	if (!q) {
		/* parked bytes still on their way to the queue: a read now would fall through */
		errno = EAGAIN;
		return -1;
	}
	/* the buffer comes with the first parked byte: most pairs never pause */
	if (!s->buf && !(s->buf = malloc(PARK_BUF))) {
		errno = ENOMEM;
		return -1;
	}
	return recv(s->w.fd, s->buf, (size_t)q < PARK_BUF ? (size_t)q : PARK_BUF, MSG_DONTWAIT);
}

/*
 * Side i has delivered every byte the verdict parked: hand the direction
 * back to the kernel by resolving the pause (bpf_abi.h "Backpressure"). A
 * failed redirect stays final. Bytes redirected after this go behind the
 * parked ones, which are already in the partner's TCP send queue.
 */
static int resume(struct sockmap_pair_rt *p, int i)
{
	struct pside *s = &p->side[i];
	struct kturn_sock_counters c;

	if (s->off < s->len || sockmap__read_counters(p->sm, cookie_of(p, i), &c) < 0)
		return 0;
	observe(s, &c);
	if (c.redirect_fail || c.pause_seq <= s->resumed || c.pass_bytes != s->user_read)
		return 0;
	s->resumed = c.pause_seq;
	s->dirty = true;
	return publish(p, i);
}

/*
 * Bytes parked on side i (paused, or a redirect failed): recv them, send
 * them to the partner at its pace. Also where side i's EOF is seen: the
 * verdict never forwards a FIN, it parks it. 0 or -errno.
 */
static int relay_parked(struct sockmap_pair_rt *p, int i, bool *waiting)
{
	struct pside *s = &p->side[i], *d = &p->side[!i];

	for (;;) {
		/*
		 * Bytes redirected before the pause may still wait in the partner's
		 * psock queue: parked bytes go after them, never before.
		 */
		if (s->off < s->len && !s->clear) {
			uint64_t left;
			int err = backlog(p, !i, &left);

			if (err)
				return err;
			if (left) {
				*waiting = true;
				return publish(p, i);
			}
			s->clear = true;
		}
		while (s->off < s->len) {
			ssize_t n = send(d->w.fd, s->buf + s->off, s->len - s->off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0)
				return errno == EAGAIN ? publish(p, i) : -errno;
			s->off += (size_t)n;
			d->user_in += (uint64_t)n;
			s->dirty = true;
		}
		s->len = s->off = 0;
		/* everything read is delivered: the verdict's backlog sum needs user_sent */
		int err = publish(p, i);

		if (err || s->eof)
			return err;
		ssize_t n = recv_parked(p, i);

		if (n == 0) {
			s->eof = true;
		} else if (n < 0 && errno == EAGAIN) {
			return resume(p, i);
		} else if (n < 0) {
			return -errno;
		} else {
			s->len = cut_list__apply(&s->cuts, s->user_read, s->buf, (size_t)n);
			s->user_read += (uint64_t)n;
			s->dirty = true;
		}
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

		if (!s->eof || s->shut || s->off < s->len)
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

static void update(struct sockmap_pair_rt *p, bool waiting)
{
	bool fin_wait = false;
	int err = forward_fins(p, &fin_wait);

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

		/* readable: bytes parked (paused) or the FIN; the rest never reaches us */
		if (!s->eof && s->off == s->len)
			ev |= EPOLLIN | (s->rdhup ? 0 : EPOLLRDHUP);
		if (p->side[!i].off < p->side[!i].len)
			ev |= EPOLLOUT;
		loop__mod(p->loop, &s->w, ev);
	}
	if (waiting || fin_wait)
		loop__timer_arm(p->loop, &p->drain, DRAIN_POLL_MS);
}

/* Unread bytes in the socket's receive queue (the verdict has not run on them). */
static int inq(int fd, int *n)
{
	return ioctl(fd, SIOCINQ, n) < 0 ? -errno : 0;
}

/*
 * Side i after an event (ev) or a poll tick. Userspace reads a spliced
 * socket only while the verdict parks its bytes - as the verdict decides
 * it (bpf_abi.h): reading otherwise could take bytes out of order. A FIN is
 * its stream's end once the verdict has taken every byte before it.
 */
static int service(struct sockmap_pair_rt *p, int i, uint32_t ev, bool *waiting)
{
	struct pside *s = &p->side[i];
	struct kturn_sock_counters c;
	int n = 0, err;

	if (s->eof)
		return relay_parked(p, i, waiting); /* flush what is buffered */
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		s->rdhup = true;
	err = sockmap__read_counters(p->sm, cookie_of(p, i), &c);
	if (err)
		return err;
	observe(s, &c);
	if (c.redirect_fail || c.pause_seq > s->resumed || c.pass_bytes != s->user_read ||
	    s->off < s->len)
		return relay_parked(p, i, waiting);
	if (!s->rdhup)
		return 0;
	err = inq(s->w.fd, &n);
	if (err)
		return err;
	if (n)
		*waiting = true;
	else
		s->eof = true;
	return 0;
}

/* Both sides; ev belongs to side `who` (-1: a poll tick). 0 or -errno. */
static int service_both(struct sockmap_pair_rt *p, int who, uint32_t ev, bool *waiting)
{
	for (int i = 0; i < 2; i++) {
		int err = service(p, i, i == who ? ev : 0, waiting);

		if (err)
			return err;
	}
	return 0;
}

static void drain_tick(struct loop_timer *t)
{
	struct sockmap_pair_rt *p = t->arg;
	bool waiting = false;

	if (service_both(p, -1, 0, &waiting) < 0)
		end(p, false);
	else
		update(p, waiting);
}

static void side_io(struct loop_watch *w, uint32_t events)
{
	struct pside *s = w->arg;
	struct sockmap_pair_rt *p = s->p;
	bool waiting = false;

	if (p->ended)
		return;
	if ((events & EPOLLERR) || service_both(p, s->idx, events, &waiting) < 0) {
		end(p, false);
		return;
	}
	update(p, waiting);
}

static int side_init(struct sockmap_pair_rt *p, int i, int fd)
{
	struct pside *s = &p->side[i];

	s->p = p;
	s->idx = i;
	loop_watch__init(&s->w, fd, side_io, s);
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
	err = side_init(p, 0, fd_a);
	if (!err)
		err = side_init(p, 1, fd_b);
	if (!err)
		err = sockmap__add_pair(sm, &p->pair, fd_a, fd_b);
	if (err) {
		free(p);
		return err; /* fds stay the caller's */
	}
	p->in_map = true;
	for (int i = 0; i < 2 && !err; i++)
		err = loop__add(l, &p->side[i].w, EPOLLRDHUP | EPOLLIN);
	if (err) {
		sockmap__remove_pair(sm, &p->pair, NULL);
		for (int i = 0; i < 2; i++)
			loop__del(l, &p->side[i].w);
		free(p);
		return err; /* fds stay the caller's */
	}
	*out = p;
	update(p, false);
	return 0;
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
		net_close(p->side[i].w.fd, !p->clean);
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

void sockmap_pair__counters(struct sockmap_pair_rt *p, struct kturn_sock_counters k[2],
			    uint64_t cookie[2])
{
	for (int i = 0; i < 2; i++) {
		k[i] = p->final[i];
		cookie[i] = cookie_of(p, i);
		if (p->in_map)
			sockmap__read_counters(p->sm, cookie[i], &k[i]);
	}
}
