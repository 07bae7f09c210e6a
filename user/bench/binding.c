// SPDX-License-Identifier: MIT
/*
 * STUN Binding round trips against any STUN/TURN server: each slot (socket)
 * keeps one request in flight; every response is verified (class,
 * transaction id, XOR-MAPPED-ADDRESS equal to the slot's own address).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kturn/bench.h"
#include "kturn/net.h"
#include "kturn/stun.h"

struct slot {
	int fd;
	struct sockaddr_storage local;
	uint8_t tid[STUN_TID_LEN];
	uint64_t sent_ns;
	uint8_t rx[2048];
	size_t rx_len;
};

static int slot_open(struct slot *s, const struct bench_binding_opts *o)
{
	const struct sockaddr *srv = (const struct sockaddr *)&o->server;
	socklen_t len = sizeof(s->local);

	s->fd = socket(srv->sa_family, (o->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	if (connect(s->fd, srv, net_addr_len(srv)) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&s->local, &len) < 0) {
		int err = -errno;

		close(s->fd);
		s->fd = -1;
		return err;
	}
	return net_set_nonblock(s->fd);
}

static int slot_send(struct slot *s, struct bench_binding_result *r)
{
	uint8_t msg[64];
	struct stun_builder b;
	ssize_t len;

	stun_build__init(&b, msg, sizeof(msg), STUN_BINDING, STUN_REQUEST, NULL);
	memcpy(s->tid, msg + 8, STUN_TID_LEN);
	len = stun_build__finish(&b);
	if (len < 0)
		return (int)len;
	s->sent_ns = bench_now_ns();
	s->rx_len = 0;
	/* A request is tiny: a short write on a fresh TCP socket does not happen. */
	if (send(s->fd, msg, (size_t)len, MSG_NOSIGNAL) != len)
		return -errno;
	r->sent++;
	return 0;
}

static bool response_ok(const struct slot *s, const uint8_t *p, size_t len)
{
	struct stun_msg m;
	struct stun_attr a;
	struct sockaddr_storage mapped;

	if (stun_msg__parse(&m, p, len) < 0 || m.cls != STUN_SUCCESS || m.method != STUN_BINDING ||
	    memcmp(m.tid, s->tid, STUN_TID_LEN))
		return false;
	if (!stun_msg__find(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, &a) ||
	    stun_attr__xaddr(&a, m.tid, &mapped) < 0)
		return false;
	return net_addr_equal((const struct sockaddr *)&mapped, (const struct sockaddr *)&s->local);
}

/* Read what is there; returns 1 when a full response was consumed, 0 if not yet, <0 on error. */
static int slot_recv(struct slot *s, struct bench_binding_result *r)
{
	struct stun_frame f;
	ssize_t n = recv(s->fd, s->rx + s->rx_len, sizeof(s->rx) - s->rx_len, 0);

	if (n <= 0)
		return n == 0 ? -ECONNRESET : (errno == EAGAIN ? 0 : -errno);
	s->rx_len += (size_t)n;
	if (stun_frame__next(s->rx, s->rx_len, sizeof(s->rx), &f) == STUN_FRAME_NEED)
		return 0;
	if (response_ok(s, s->rx, s->rx_len)) {
		r->ok++;
		bench_lat__add(&r->lat, bench_now_ns() - s->sent_ns);
	} else {
		r->bad++;
	}
	return 1;
}

static bool done(const struct bench_binding_opts *o, const struct bench_binding_result *r,
		 uint64_t start, uint64_t now)
{
	if (o->count)
		return r->ok + r->bad + r->lost >= o->count;
	return (double)(now - start) / 1e9 >= o->seconds;
}

static void progress(const struct bench_binding_result *r, uint64_t *last_ok, double t)
{
	fprintf(stderr, "[%6.1f s] %8llu req/s  ok %llu  bad %llu  lost %llu\n", t,
		(unsigned long long)(r->ok - *last_ok), (unsigned long long)r->ok,
		(unsigned long long)r->bad, (unsigned long long)r->lost);
	*last_ok = r->ok;
}

static int run_slots(const struct bench_binding_opts *o, struct slot *s, struct pollfd *p,
		     struct bench_binding_result *r)
{
	uint64_t start = bench_now_ns(), tick = start, now = start, last_ok = 0;
	int err = 0;

	for (unsigned i = 0; i < o->concurrency && !err; i++)
		err = slot_send(&s[i], r);
	while (!err && !done(o, r, start, now)) {
		if (poll(p, o->concurrency, 50) < 0 && errno != EINTR)
			return -errno;
		now = bench_now_ns();
		for (unsigned i = 0; i < o->concurrency && !err; i++) {
			int got = (p[i].revents & (POLLIN | POLLERR | POLLHUP))
					  ? slot_recv(&s[i], r)
					  : 0;

			if (!got && !o->tcp && now - s[i].sent_ns > o->timeout_ms * 1000000ull) {
				r->lost++;
				got = 1;
			}
			err = got < 0 ? got : (got ? slot_send(&s[i], r) : 0);
		}
		if (o->progress && now - tick >= 1000000000ull) {
			progress(r, &last_ok, (double)(now - start) / 1e9);
			tick = now;
		}
	}
	r->elapsed_s = (double)(now - start) / 1e9;
	return err;
}

int bench_binding__run(const struct bench_binding_opts *o, struct bench_binding_result *r)
{
	struct slot *s = calloc(o->concurrency, sizeof(*s));
	struct pollfd *p = calloc(o->concurrency, sizeof(*p));
	int err = s && p ? 0 : -ENOMEM;

	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < o->concurrency && !err; i++) {
		err = slot_open(&s[i], o);
		p[i] = (struct pollfd){.fd = s[i].fd, .events = POLLIN};
	}
	if (!err)
		err = run_slots(o, s, p, r);
	for (unsigned i = 0; s && i < o->concurrency; i++)
		if (s[i].fd > 0)
			close(s[i].fd);
	free(s);
	free(p);
	return err;
}
