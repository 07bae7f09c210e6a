// SPDX-License-Identifier: MIT
/*
 * connections: K bridged pairs (several allocations, --pairs-per-alloc each),
 * set up as fast as the server allows, then every pair echoes a 16-byte
 * message both ways (all pairs at once, one epoll), they are held for
 * --hold seconds (allocations refreshed) and checked again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"

#define MSG 16

struct conns {
	const struct bench_opts *o;
	struct pair_set ps;
	struct pattern pat;
	uint8_t *bad;  /* per pair: a check failed */
	uint8_t *rx;   /* MSG bytes per pair */
	uint16_t *got; /* bytes received per pair in this phase */
	uint64_t corrupt;
	double seconds; /* the whole run: setup, checks, hold */
	int err;
};

static const uint8_t *msg_for(struct conns *c, unsigned round, bool up, size_t i)
{
	return pattern__at(&c->pat, (((uint64_t)round * 2 + up) * c->ps.n + i) * MSG);
}

static void recv_one(struct conns *c, int ep, int fd, size_t i, unsigned round, bool up)
{
	ssize_t n = recv(fd, c->rx + i * MSG + c->got[i], MSG - c->got[i], MSG_DONTWAIT);

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->bad[i] = 1;
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
		}
		return;
	}
	c->got[i] += (uint16_t)n;
	if (c->got[i] < MSG)
		return;
	if (memcmp(c->rx + i * MSG, msg_for(c, round, up, i), MSG)) {
		c->corrupt++;
		c->bad[i] = 1;
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
}

/* Every good pair sends one message one way; wait for all of them. */
static void echo_phase(struct conns *c, int ep, unsigned round, bool up)
{
	struct epoll_event ev[256];
	uint64_t end = bench_now_ns() + c->o->timeout_ms * 1000000ull;
	size_t want = 0;

	for (size_t i = 0; i < c->ps.n; i++) {
		struct bpair *p = &c->ps.p[i];
		int sfd = up ? p->cfd : p->pfd, rfd = up ? p->pfd : p->cfd;
		struct epoll_event e = {.events = EPOLLIN, .data.u64 = i};
		const uint8_t *m = msg_for(c, round, up, i);
		uint8_t copy[MSG];

		c->got[i] = 0;
		if (p->cfd < 0 || c->bad[i])
			continue;
		if (c->o->corrupt && i == 0) { /* hidden test switch */
			memcpy(copy, m, MSG);
			copy[0] ^= 0x5a;
			m = copy;
		}
		if (bench_send_all(sfd, m, MSG, 1000) || epoll_ctl(ep, EPOLL_CTL_ADD, rfd, &e))
			c->bad[i] = 1;
		else
			want++;
	}
	while (want && bench_now_ns() < end) {
		int nev = epoll_wait(ep, ev, 256, 100);

		for (int k = 0; k < nev; k++) {
			size_t i = ev[k].data.u64;
			struct bpair *p = &c->ps.p[i];

			recv_one(c, ep, up ? p->pfd : p->cfd, i, round, up);
			want -= c->got[i] == MSG || c->bad[i];
		}
	}
	for (size_t i = 0; i < c->ps.n; i++) {
		struct bpair *p = &c->ps.p[i];

		if (p->cfd >= 0 && !c->bad[i] && c->got[i] < MSG) {
			c->bad[i] = 1;
			epoll_ctl(ep, EPOLL_CTL_DEL, up ? p->pfd : p->cfd, NULL);
		}
	}
}

static void hold(struct conns *c)
{
	uint64_t start = bench_now_ns(), last_refresh = start;
	double t;

	while ((t = (double)(bench_now_ns() - start) / 1e9) < c->o->hold) {
		double left = c->o->hold - t;

		nanosleep(&(struct timespec){.tv_sec = left >= 1 ? 1 : 0,
					     .tv_nsec = left >= 1 ? 0 : (long)(left * 1e9)},
			  NULL);
		if (bench_now_ns() - last_refresh > 60 * 1000000000ull) {
			if (pairs__refresh(&c->ps))
				c->err = -EPROTO;
			last_refresh = bench_now_ns();
		}
		if (c->o->progress)
			fprintf(stderr, "[%6.1f s] holding %zu pairs\n",
				(double)(bench_now_ns() - start) / 1e9, c->ps.n - c->ps.failed);
	}
}

static void report(struct conns *c)
{
	const struct bench_opts *o = c->o;
	uint64_t up = c->ps.n - c->ps.failed, echo_fail = 0;
	double rate = c->ps.setup_s > 0 ? (double)up / c->ps.setup_s : 0;

	for (size_t i = 0; i < c->ps.n; i++)
		echo_fail += c->ps.p[i].cfd >= 0 && c->bad[i];
	if (o->json) {
		printf("{");
		bench_json_head(stdout, o);
		printf(",\"flow\":\"%s\",\"pairs\":%u,\"pairs_per_alloc\":%u,\"allocations\":%zu,"
		       "\"established\":%llu,\"setup_failures\":%llu,\"echo_failures\":%llu,"
		       "\"content_errors\":%llu,\"setup_seconds\":%.3f,\"setup_rate_per_s\":%.1f,"
		       "\"hold_seconds\":%.1f,\"seconds\":%.3f,\"bytes\":%llu,\"errors\":%llu}\n",
		       o->client_flow ? "client" : "peer", o->conns, o->per_alloc, c->ps.n_ctl,
		       (unsigned long long)up, (unsigned long long)c->ps.failed,
		       (unsigned long long)echo_fail, (unsigned long long)c->corrupt, c->ps.setup_s,
		       rate, o->hold, c->seconds, (unsigned long long)(up * 4 * MSG),
		       (unsigned long long)(c->ps.failed + echo_fail + (c->err != 0)));
		return;
	}
	printf("connections: %u pairs requested, %llu established in %.3f s (%.0f pairs/s), "
	       "%zu allocations\n",
	       o->conns, (unsigned long long)up, c->ps.setup_s, rate, c->ps.n_ctl);
	printf("  setup failures %llu  echo failures %llu  content errors %llu  held %.1f s  %s\n",
	       (unsigned long long)c->ps.failed, (unsigned long long)echo_fail,
	       (unsigned long long)c->corrupt, o->hold,
	       c->ps.failed || echo_fail || c->err ? "FAILED" : "ok");
}

static int need_fds(const struct bench_opts *o)
{
	struct rlimit rl;
	uint64_t need = 2ull * o->conns + o->conns / o->per_alloc + 64;

	bench_raise_nofile();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		fprintf(stderr, "kturn-bench: %u pairs need %llu descriptors, the limit is %llu\n",
			o->conns, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
		return -EMFILE;
	}
	return 0;
}

static int conns_run(struct conns *c)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), err;
	uint64_t t0 = bench_now_ns();

	if (ep < 0)
		return -errno;
	err = pairs__open(c->o, c->o->conns, &c->ps);
	c->bad = calloc(c->o->conns, 1);
	c->got = calloc(c->o->conns, sizeof(*c->got));
	c->rx = malloc((size_t)c->o->conns * MSG);
	if (!err && (!c->bad || !c->got || !c->rx))
		err = -ENOMEM;
	if (!err) {
		echo_phase(c, ep, 0, true);
		echo_phase(c, ep, 0, false);
		hold(c);
		echo_phase(c, ep, 1, true);
		echo_phase(c, ep, 1, false);
		c->seconds = (double)(bench_now_ns() - t0) / 1e9;
		report(c);
	}
	close(ep);
	return err;
}

int bench_conns__run(const struct bench_opts *o)
{
	struct conns c = {.o = o};
	int err = need_fds(o), status = 1;

	if (!err)
		err = pattern__init(&c.pat, 0x636f6e6eull);
	if (!err)
		err = conns_run(&c);
	if (!err) {
		status = 0;
		for (size_t i = 0; i < c.ps.n; i++)
			status |= c.bad[i];
		status |= c.ps.failed || c.err;
	}
	if (c.ps.p)
		pairs__close(&c.ps);
	pattern__free(&c.pat);
	free(c.bad);
	free(c.got);
	free(c.rx);
	return err ? err : !!status;
}
