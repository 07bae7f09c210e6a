// SPDX-License-Identifier: MIT
/*
 * bulk: N bridged TCP pairs carrying a verified byte stream one or both ways.
 * One sender thread and one receiver thread, each with its own epoll over
 * nonblocking sockets and 256 KiB calls, so sending and checking run on
 * different cores. A stream ends when its sender has sent the amount (-n)
 * or the time is up (-d) and its receiver has read exactly that many bytes:
 * no FIN is needed, so a relay that closes both sides on a half-close cannot
 * cut a transfer short unnoticed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"

#define CHUNK	 (256u * 1024u)
#define STALL_NS (10ull * 1000000000ull)
#define BURST	 16 /* calls per stream and wakeup, so no stream starves the others */

struct stream {
	int sfd, rfd;
	uint64_t base;	     /* pattern offset */
	uint64_t sent;	     /* sender thread; read atomically */
	uint64_t rcvd;	     /* receiver thread; read atomically */
	uint64_t corrupt;    /* bytes that differ from the pattern */
	uint64_t first_bad;  /* stream offset of the first chunk with a difference, +1 */
	int64_t first_shift; /* pattern__locate() of the bytes after the first wrong one */
	int sent_done;	     /* atomic flag */
	bool rcv_done;
	int serr, rerr;
	uint64_t t_send_end, t_rcv_end, t_progress;
};

struct bulk {
	const struct bench_opts *o;
	struct pattern pat;
	struct stream *s;
	size_t n;
	uint64_t t0, deadline;
	int finished;	/* atomic: the receiver is done */
	double cpu_pct; /* this process's user+system CPU over the run, 100 = one core */
};

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* 1: stream done, 0: would block, -1: error. */
static int send_some(struct bulk *b, struct stream *st)
{
	for (int k = 0; k < BURST; k++) {
		uint64_t left = b->o->bytes ? b->o->bytes - st->sent : CHUNK;
		const uint8_t *p = pattern__at(&b->pat, st->base + st->sent);
		size_t len = left < CHUNK ? (size_t)left : CHUNK;
		uint8_t bad;
		ssize_t n;

		if (!len)
			return 1;
		if (b->o->corrupt && !st->sent) { /* hidden test switch: one wrong byte */
			bad = p[0] ^ 0x5a;
			p = &bad;
			len = 1;
		}
		n = send(st->sfd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			st->serr = -errno;
			return -1;
		}
		store(&st->sent, st->sent + (uint64_t)n);
	}
	return 0;
}

static void send_end(struct stream *st, int ep)
{
	st->t_send_end = bench_now_ns();
	__atomic_store_n(&st->sent_done, 1, __ATOMIC_RELEASE);
	epoll_ctl(ep, EPOLL_CTL_DEL, st->sfd, NULL);
}

static void *sender(void *arg)
{
	struct bulk *b = arg;
	struct epoll_event ev[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	size_t left = b->n;

	for (size_t i = 0; i < b->n; i++) {
		struct epoll_event e = {.events = EPOLLOUT, .data.ptr = &b->s[i]};

		epoll_ctl(ep, EPOLL_CTL_ADD, b->s[i].sfd, &e);
	}
	while (left) {
		int nev = epoll_wait(ep, ev, 64, 100);

		if (!b->o->bytes && bench_now_ns() >= b->deadline)
			break;
		for (int i = 0; i < nev; i++) {
			struct stream *st = ev[i].data.ptr;

			if (!st->sent_done && send_some(b, st)) {
				send_end(st, ep);
				left--;
			}
		}
	}
	for (size_t i = 0; i < b->n; i++)
		if (!b->s[i].sent_done)
			send_end(&b->s[i], ep);
	close(ep);
	return NULL;
}

static uint64_t first_diff(const struct pattern *p, uint64_t off, const uint8_t *buf)
{
	const uint8_t *want = pattern__at(p, off);
	uint64_t i = 0;

	while (want[i] == buf[i])
		i++;
	return i;
}

/* Where the first wrong byte is, and whether the bytes after it are shifted. */
static void first_wrong(struct bulk *b, struct stream *st, const uint8_t *buf, size_t n)
{
	uint64_t i = first_diff(&b->pat, st->base + st->rcvd, buf);

	st->first_bad = st->rcvd + i + 1;
	st->first_shift =
		pattern__locate(&b->pat, st->base + st->rcvd + i + 1, buf + i + 1, n - i - 1);
}

static void recv_some(struct bulk *b, struct stream *st, uint8_t *buf)
{
	for (int k = 0; k < BURST; k++) {
		ssize_t n = recv(st->rfd, buf, CHUNK, MSG_DONTWAIT);

		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			st->rerr = n ? -errno : -ECONNRESET; /* EOF before the end */
			return;
		}
		uint64_t bad = pattern__check(&b->pat, st->base + st->rcvd, buf, (size_t)n);

		if (bad && !st->first_bad)
			first_wrong(b, st, buf, (size_t)n);
		st->corrupt += bad;
		store(&st->rcvd, st->rcvd + (uint64_t)n);
		st->t_progress = bench_now_ns();
	}
}

/* Is the stream complete (or failed)? */
static bool recv_finished(struct stream *st, uint64_t now)
{
	bool sdone = __atomic_load_n(&st->sent_done, __ATOMIC_ACQUIRE);
	uint64_t sent = load(&st->sent);

	if (st->rerr)
		return true;
	if (!sdone)
		return false;
	if (st->rcvd > sent)
		st->rerr = -EOVERFLOW;
	else if (st->rcvd < sent && now - st->t_progress > STALL_NS &&
		 now - st->t_send_end > STALL_NS)
		st->rerr = -ETIMEDOUT;
	return st->rerr || st->rcvd == sent;
}

static size_t recv_sweep(struct bulk *b, int ep)
{
	uint64_t now = bench_now_ns();
	size_t done = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct stream *st = &b->s[i];

		if (!st->rcv_done && recv_finished(st, now)) {
			st->rcv_done = true;
			st->t_rcv_end = now;
			epoll_ctl(ep, EPOLL_CTL_DEL, st->rfd, NULL);
		}
		done += st->rcv_done;
	}
	return done;
}

static void *receiver(void *arg)
{
	struct bulk *b = arg;
	struct epoll_event ev[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint8_t *buf = malloc(CHUNK);

	for (size_t i = 0; i < b->n; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &b->s[i]};

		b->s[i].t_progress = b->t0;
		epoll_ctl(ep, EPOLL_CTL_ADD, b->s[i].rfd, &e);
	}
	while (buf && recv_sweep(b, ep) < b->n) {
		int nev = epoll_wait(ep, ev, 64, 20);

		for (int i = 0; i < nev; i++)
			recv_some(b, ev[i].data.ptr, buf);
	}
	for (size_t i = 0; i < b->n && !buf; i++)
		b->s[i].rerr = -ENOMEM;
	free(buf);
	close(ep);
	__atomic_store_n(&b->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void progress(struct bulk *b, uint64_t *last_s, uint64_t *last_r, uint64_t now)
{
	uint64_t s = 0, r = 0;

	for (size_t i = 0; i < b->n; i++) {
		s += load(&b->s[i].sent);
		r += load(&b->s[i].rcvd);
	}
	fprintf(stderr, "[%6.1f s] sent %7.2f Gb/s  received %7.2f Gb/s  total %llu MiB\n",
		(double)(now - b->t0) / 1e9, (double)(s - *last_s) * 8 / 1e9,
		(double)(r - *last_r) * 8 / 1e9, (unsigned long long)(r >> 20));
	*last_s = s;
	*last_r = r;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void run_threads(struct bulk *b)
{
	double cpu0 = cpu_s();
	pthread_t ts, tr;
	uint64_t last_s = 0, last_r = 0, tick;

	b->t0 = bench_now_ns();
	tick = b->t0;
	b->deadline = b->t0 + (uint64_t)(b->o->seconds * 1e9);
	pthread_create(&tr, NULL, receiver, b);
	pthread_create(&ts, NULL, sender, b);
	while (!__atomic_load_n(&b->finished, __ATOMIC_ACQUIRE)) {
		uint64_t now;

		nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
		now = bench_now_ns();
		if (b->o->progress && now - tick >= 1000000000ull) {
			progress(b, &last_s, &last_r, now);
			tick = now;
		}
	}
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	b->cpu_pct = 100 * (cpu_s() - cpu0) / ((double)(bench_now_ns() - b->t0) / 1e9);
}

static void add_stream(struct bulk *b, int sfd, int rfd)
{
	struct stream *st = &b->s[b->n];

	*st = (struct stream){.sfd = sfd, .rfd = rfd, .base = pattern__base((unsigned)b->n)};
	b->n++;
}

static double gbps(uint64_t bytes, uint64_t t0, uint64_t t1)
{
	return t1 > t0 ? (double)bytes * 8 / (double)(t1 - t0) : 0;
}

struct bulk_sum {
	uint64_t sent, rcvd, corrupt, errors, t_send, t_rcv;
};

static struct bulk_sum bulk_sum(const struct bulk *b, const struct pair_set *ps)
{
	struct bulk_sum t = {.errors = ps->failed, .t_send = b->t0, .t_rcv = b->t0};

	for (size_t i = 0; i < b->n; i++) {
		const struct stream *st = &b->s[i];

		t.sent += st->sent;
		t.rcvd += st->rcvd;
		t.corrupt += st->corrupt;
		t.errors += st->serr || st->rerr || st->rcvd != st->sent ||
			    (b->o->bytes && st->rcvd != b->o->bytes);
		t.t_send = st->t_send_end > t.t_send ? st->t_send_end : t.t_send;
		t.t_rcv = st->t_rcv_end > t.t_rcv ? st->t_rcv_end : t.t_rcv;
	}
	return t;
}

static const char *dir_name(enum bench_dir d)
{
	return d == BENCH_UP ? "up" : d == BENCH_DOWN ? "down" : "both";
}

/* JSON value: null when there is no wrong byte or its bytes are not pattern bytes. */
static const char *shift_str(const struct stream *st, char *buf, size_t len)
{
	if (!st->first_bad || st->first_shift == PAT_UNKNOWN)
		return "null";
	snprintf(buf, len, "%lld", (long long)st->first_shift);
	return buf;
}

static void json_stream(const struct bulk *b, const struct stream *st, const char *name)
{
	char shift[24];

	printf("\"%s\":{\"sent\":%llu,\"received\":%llu,\"sender_gbps\":%.3f,"
	       "\"receiver_gbps\":%.3f,\"content_errors\":%llu,\"first_error_offset\":%lld,"
	       "\"first_error_shift\":%s,"
	       "\"error\":\"%s\"}",
	       name, (unsigned long long)st->sent, (unsigned long long)st->rcvd,
	       gbps(st->sent, b->t0, st->t_send_end), gbps(st->rcvd, b->t0, st->t_rcv_end),
	       (unsigned long long)st->corrupt, (long long)st->first_bad - 1,
	       shift_str(st, shift, sizeof(shift)),
	       st->serr	  ? strerror(-st->serr)
	       : st->rerr ? strerror(-st->rerr)
			  : "");
}

static void bulk_json(const struct bulk *b, const struct pair_set *ps)
{
	const struct bench_opts *o = b->o;
	struct bulk_sum t = bulk_sum(b, ps);
	size_t per = o->dir == BENCH_BOTH ? 2 : 1;

	printf("{");
	bench_json_head(stdout, o);
	printf(",\"flow\":\"%s\",\"dir\":\"%s\",\"pairs\":%u,\"bytes_per_pair\":%llu,"
	       "\"bytes_sent\":%llu,\"bytes_received\":%llu,\"bytes\":%llu,"
	       "\"seconds\":%.3f,\"setup_seconds\":%.3f,\"gbps\":%.3f,\"sender_gbps\":%.3f,"
	       "\"receiver_gbps\":%.3f,\"content_errors\":%llu,\"failed_pairs\":%llu,"
	       "\"errors\":%llu,\"cpu_percent\":%.1f,\"per_pair\":[",
	       o->client_flow ? "client" : "peer", dir_name(o->dir), o->pairs,
	       (unsigned long long)o->bytes, (unsigned long long)t.sent, (unsigned long long)t.rcvd,
	       (unsigned long long)t.rcvd, (double)(t.t_rcv - b->t0) / 1e9, ps->setup_s,
	       gbps(t.rcvd, b->t0, t.t_rcv), gbps(t.sent, b->t0, t.t_send),
	       gbps(t.rcvd, b->t0, t.t_rcv), (unsigned long long)t.corrupt,
	       (unsigned long long)ps->failed, (unsigned long long)t.errors, b->cpu_pct);
	for (size_t i = 0; i < b->n; i += per) {
		printf("%s{\"pair\":%zu,", i ? "," : "", i / per);
		if (o->dir & BENCH_UP)
			json_stream(b, &b->s[i], "up");
		if (o->dir == BENCH_BOTH)
			printf(",");
		if (o->dir & BENCH_DOWN)
			json_stream(b, &b->s[i + per - 1], "down");
		printf("}");
	}
	printf("]}\n");
}

static void text_stream(const struct bulk *b, const struct stream *st, size_t pair,
			const char *name)
{
	printf("  pair %-4zu %-4s sent %9.1f MiB %7.2f Gb/s  received %9.1f MiB %7.2f Gb/s"
	       "  content errors %llu%s%s\n",
	       pair, name, (double)st->sent / 1048576, gbps(st->sent, b->t0, st->t_send_end),
	       (double)st->rcvd / 1048576, gbps(st->rcvd, b->t0, st->t_rcv_end),
	       (unsigned long long)st->corrupt, st->serr || st->rerr ? "  error: " : "",
	       st->serr	  ? strerror(-st->serr)
	       : st->rerr ? strerror(-st->rerr)
			  : "");
	if (st->first_bad && st->first_shift && st->first_shift != PAT_UNKNOWN)
		printf("            first wrong byte at stream offset %llu: from there on the "
		       "bytes "
		       "are %lld bytes %s (%s)\n",
		       (unsigned long long)st->first_bad - 1, (long long)llabs(st->first_shift),
		       st->first_shift < 0 ? "behind" : "ahead",
		       st->first_shift < 0 ? "repeated" : "skipped");
	else if (st->first_bad)
		printf("            first wrong byte at stream offset %llu\n",
		       (unsigned long long)st->first_bad - 1);
}

static void bulk_report(const struct bulk *b, const struct pair_set *ps)
{
	const struct bench_opts *o = b->o;
	struct bulk_sum t = bulk_sum(b, ps);
	size_t per = o->dir == BENCH_BOTH ? 2 : 1;
	char a[64];

	if (o->json) {
		bulk_json(b, ps);
		return;
	}
	printf("bulk: %u pair(s), dir %s, flow %s, %s (setup %.3f s)\n", o->pairs, dir_name(o->dir),
	       o->client_flow ? "client" : "peer",
	       o->direct ? "direct" : bench_addr(&o->server, a, sizeof(a)), ps->setup_s);
	for (size_t i = 0; i < b->n; i++)
		text_stream(b, &b->s[i], i / per,
			    o->dir == BENCH_DOWN || (per == 2 && i % 2) ? "down" : "up");
	printf("  total     sent %9.1f MiB %7.2f Gb/s  received %9.1f MiB %7.2f Gb/s in %.2f s\n",
	       (double)t.sent / 1048576, gbps(t.sent, b->t0, t.t_send), (double)t.rcvd / 1048576,
	       gbps(t.rcvd, b->t0, t.t_rcv), (double)(t.t_rcv - b->t0) / 1e9);
	printf("  kturn-bench CPU %.0f %%  content errors %llu  errors %llu  %s\n", b->cpu_pct,
	       (unsigned long long)t.corrupt, (unsigned long long)t.errors,
	       t.corrupt || t.errors ? "FAILED" : "ok");
}

int bench_bulk__run(const struct bench_opts *o)
{
	struct bulk b = {.o = o};
	struct pair_set ps;
	int err = pattern__init(&b.pat, 0x6b7475726eull), status;

	if (err)
		return err;
	err = pairs__open(o, o->pairs, &ps);
	if (!err)
		err = pairs__all_up(&ps);
	b.s = calloc(2 * (size_t)o->pairs, sizeof(*b.s));
	if (!err && !b.s)
		err = -ENOMEM;
	for (size_t i = 0; i < ps.n && !err; i++) {
		if (o->dir & BENCH_UP)
			add_stream(&b, ps.p[i].cfd, ps.p[i].pfd);
		if (o->dir & BENCH_DOWN)
			add_stream(&b, ps.p[i].pfd, ps.p[i].cfd);
	}
	if (!err) {
		run_threads(&b);
		bulk_report(&b, &ps);
	}
	status = 0;
	for (size_t i = 0; i < b.n; i++)
		if (b.s[i].serr || b.s[i].rerr || b.s[i].corrupt || b.s[i].rcvd != b.s[i].sent ||
		    (o->bytes && b.s[i].rcvd != o->bytes))
			status = 1;
	pairs__close(&ps);
	pattern__free(&b.pat);
	free(b.s);
	return err ? err : status;
}
