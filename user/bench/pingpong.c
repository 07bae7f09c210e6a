// SPDX-License-Identifier: MIT
/*
 * pingpong: one message of -l bytes in flight. The client sends it, the peer
 * checks it and echoes it, the client checks the echo; one round trip is one
 * latency sample. TCP: a bridged pair; -T udp: a UDP allocation (ChannelData
 * or Send/Data indications). Messages are slices of the pattern at offset
 * seq * length, so a stale, repeated or mixed-up message is caught too.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

struct pp {
	const struct bench_opts *o;
	struct pattern pat;
	uint64_t seq, corrupt, lost;
	int err;
	struct bench_lat lat;
	uint8_t rx[65536 + 64];
};

/* The message for seq (one byte changed for the first message with --inject-corruption). */
static const uint8_t *message(struct pp *p, uint8_t *copy)
{
	const uint8_t *m = pattern__at(&p->pat, p->seq * p->o->msg_len);

	if (!p->o->corrupt || p->seq)
		return m;
	memcpy(copy, m, p->o->msg_len);
	copy[0] ^= 0x5a;
	return copy;
}

static uint64_t check(struct pp *p, const uint8_t *data, size_t len)
{
	if (len != p->o->msg_len)
		return p->o->msg_len;
	return pattern__check(&p->pat, p->seq * p->o->msg_len, data, len);
}

static int tcp_round(struct pp *p, const struct bpair *bp)
{
	size_t len = p->o->msg_len;
	int ms = (int)p->o->timeout_ms, err;
	uint8_t copy[65536];
	const uint8_t *m = message(p, copy);

	err = bench_send_all(bp->cfd, m, len, ms);
	if (!err)
		err = bench_recv_all(bp->pfd, p->rx, len, ms);
	if (err)
		return err;
	p->corrupt += check(p, p->rx, len);
	err = bench_send_all(bp->pfd, p->rx, len, ms);
	if (!err)
		err = bench_recv_all(bp->cfd, p->rx, len, ms);
	if (!err)
		p->corrupt += check(p, p->rx, len);
	return err;
}

/* 1: got one datagram for the client, 0: timed out. */
static int udp_client_wait(struct pp *p, struct udp_path *u, const uint8_t **data, ssize_t *n)
{
	do {
		int err = bench_wait_fd(u->cfd, POLLIN, (int)p->o->timeout_ms);

		if (err)
			return err == -ETIMEDOUT ? 0 : err;
		*n = udp_path__client_recv(u, p->rx, sizeof(p->rx), data);
	} while (*n == 0 || *n == -EAGAIN);
	return *n < 0 ? (int)*n : 1;
}

static int udp_round(struct pp *p, struct udp_path *u)
{
	size_t len = p->o->msg_len;
	uint8_t copy[65536];
	const uint8_t *m = message(p, copy), *data;
	ssize_t n;
	int err = udp_path__client_send(u, m, len);

	if (!err)
		err = bench_wait_fd(u->pfd, POLLIN, (int)p->o->timeout_ms);
	if (err == -ETIMEDOUT) {
		p->lost++;
		return 0;
	}
	n = err ? -1 : recv(u->pfd, p->rx, sizeof(p->rx), MSG_DONTWAIT);
	if (n < 0)
		return err ? err : -errno;
	p->corrupt += check(p, p->rx, (size_t)n);
	err = udp_path__peer_send(u, p->rx, (size_t)n);
	if (!err)
		err = udp_client_wait(p, u, &data, &n);
	if (err == 0)
		p->lost++;
	if (err == 1)
		p->corrupt += check(p, data, (size_t)n);
	return err < 0 ? err : 0;
}

static void pp_loop(struct pp *p, const struct bpair *bp, struct udp_path *u)
{
	const struct bench_opts *o = p->o;
	uint64_t start = bench_now_ns(), tick = start, last = 0, now = start;

	while (!p->err &&
	       (o->count ? p->seq < o->count : now - start < (uint64_t)(o->seconds * 1e9))) {
		uint64_t t0 = bench_now_ns(), lost = p->lost;

		p->err = u ? udp_round(p, u) : tcp_round(p, bp);
		now = bench_now_ns();
		if (!p->err && p->lost == lost) /* a lost round is not a sample */
			bench_lat__add(&p->lat, now - t0);
		p->seq++;
		if (o->progress && now - tick >= 1000000000ull) {
			fprintf(stderr, "[%6.1f s] %8llu round trips/s  content errors %llu\n",
				(double)(now - start) / 1e9, (unsigned long long)(p->seq - last),
				(unsigned long long)p->corrupt);
			last = p->seq;
			tick = now;
		}
	}
}

static void pp_report(struct pp *p, double secs, double setup_s)
{
	const struct bench_opts *o = p->o;
	uint64_t ok = p->lat.n;
	double rate = secs > 0 ? (double)ok / secs : 0;
	double p50 = bench_lat__pct(&p->lat, 50) / 1e3, p90 = bench_lat__pct(&p->lat, 90) / 1e3,
	       p99 = bench_lat__pct(&p->lat, 99) / 1e3;
	uint64_t errors = (p->err != 0) + p->lost;

	if (o->json) {
		printf("{");
		bench_json_head(stdout, o);
		printf(",\"flow\":\"%s\",\"pairs\":%d,\"length\":%u,\"round_trips\":%llu,\"bytes\":"
		       "%llu,"
		       "\"seconds\":%.3f,\"setup_seconds\":%.3f,\"rate_per_s\":%.1f,"
		       "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"content_errors\":%llu,"
		       "\"lost\":%llu,\"errors\":%llu}\n",
		       o->udp		? "udp"
		       : o->client_flow ? "client"
					: "peer",
		       o->udp ? 0 : 1, o->msg_len, (unsigned long long)ok,
		       (unsigned long long)(ok * 2 * o->msg_len), secs, setup_s, rate, p50, p90,
		       p99, (unsigned long long)p->corrupt, (unsigned long long)p->lost,
		       (unsigned long long)errors);
		return;
	}
	printf("pingpong/%s: %u-byte messages, %llu round trips in %.2f s%s%s\n",
	       o->udp ? "udp" : "tcp", o->msg_len, (unsigned long long)ok, secs,
	       p->err ? ", stopped by: " : "", p->err ? strerror(-p->err) : "");
	printf("  %.0f round trips/s  latency p50 %.1f us  p90 %.1f us  p99 %.1f us\n", rate, p50,
	       p90, p99);
	printf("  content errors %llu  lost %llu  %s\n", (unsigned long long)p->corrupt,
	       (unsigned long long)p->lost, p->corrupt || errors ? "FAILED" : "ok");
}

int bench_pingpong__run(const struct bench_opts *o)
{
	struct pp *p = calloc(1, sizeof(*p));
	struct pair_set ps = {0};
	struct udp_path u = {.cfd = -1, .pfd = -1, .t.fd = -1};
	uint64_t t0 = bench_now_ns(), t1;
	int err = p ? pattern__init(&p->pat, 0x70696e67ull) : -ENOMEM, status = 1;

	if (!err)
		err = o->udp ? udp_path__open(o, &u) : pairs__open(o, 1, &ps);
	if (!err)
		err = pairs__all_up(&ps);
	if (!err) {
		p->o = o;
		t1 = bench_now_ns();
		pp_loop(p, ps.p, o->udp ? &u : NULL);
		pp_report(p, (double)(bench_now_ns() - t1) / 1e9, (double)(t1 - t0) / 1e9);
		status = p->err || p->corrupt || p->lost || !p->lat.n;
	}
	if (o->udp)
		udp_path__close(&u);
	else if (ps.p)
		pairs__close(&ps);
	if (p) {
		pattern__free(&p->pat);
		bench_lat__free(&p->lat);
	}
	free(p);
	return err ? err : status;
}
