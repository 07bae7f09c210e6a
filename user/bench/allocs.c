// SPDX-License-Identifier: MIT
/*
 * allocs: allocation rate. Each of -c threads repeats, on a new connection
 * (or UDP socket): Allocate -> 401 -> authenticated Allocate -> success ->
 * Refresh(LIFETIME 0) -> close; one latency sample per cycle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_int.h"

/* A failure of the Refresh: ERROR-CODE + REFRESH_FAILED. */
#define REFRESH_FAILED 1000

struct allocs {
	const struct bench_opts *o;
	uint64_t end_ns;
	uint64_t tickets;    /* atomic: cycles started (with -n) */
	uint64_t ok, failed; /* atomic */
	int first_err;	     /* atomic: first failure, -errno or the ERROR-CODE */
	int running;	     /* atomic: threads still working */
};

struct worker {
	struct allocs *a;
	pthread_t th;
	struct bench_lat lat;
};

static int one_cycle(const struct bench_opts *o)
{
	struct tc_req rq = {.method = TURN_REFRESH, .has_lifetime = true, .lifetime = 0};
	struct tc t;
	int err = tc__open(&t, (const struct sockaddr *)&o->server, o->udp, o->user, o->pass,
			   o->timeout_ms);

	if (err)
		return err;
	err = tc__allocate(&t, o->udp ? STUN_TRANSPORT_UDP : STUN_TRANSPORT_TCP);
	if (err == -EPROTO)
		err = t.err_code;
	if (!err) {
		err = tc__request(&t, &rq);
		err = err == -EPROTO ? t.err_code + REFRESH_FAILED : err;
	}
	tc__close(&t);
	return err;
}

static bool more(struct allocs *a)
{
	if (a->o->count)
		return __atomic_fetch_add(&a->tickets, 1, __ATOMIC_RELAXED) < a->o->count;
	return bench_now_ns() < a->end_ns;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct allocs *a = w->a;

	while (more(a)) {
		uint64_t t0 = bench_now_ns();
		int err = one_cycle(a->o), zero = 0;

		if (!err) {
			bench_lat__add(&w->lat, bench_now_ns() - t0);
			__atomic_fetch_add(&a->ok, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_fetch_add(&a->failed, 1, __ATOMIC_RELAXED);
		__atomic_compare_exchange_n(&a->first_err, &zero, err, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	}
	__atomic_fetch_sub(&a->running, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void merge(struct worker *w, unsigned n, struct bench_lat *all)
{
	for (unsigned i = 0; i < n; i++) {
		for (size_t k = 0; k < w[i].lat.n; k++)
			bench_lat__add(all, w[i].lat.ns[k]);
		bench_lat__free(&w[i].lat);
	}
}

static void wait_all(struct allocs *a, uint64_t start)
{
	uint64_t tick = start, last = 0;

	while (__atomic_load_n(&a->running, __ATOMIC_ACQUIRE)) {
		uint64_t now, ok;

		nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
		now = bench_now_ns();
		if (!a->o->progress || now - tick < 1000000000ull)
			continue;
		ok = __atomic_load_n(&a->ok, __ATOMIC_RELAXED);
		fprintf(stderr, "[%6.1f s] %8llu allocations/s  failed %llu\n",
			(double)(now - start) / 1e9, (unsigned long long)(ok - last),
			(unsigned long long)__atomic_load_n(&a->failed, __ATOMIC_RELAXED));
		last = ok;
		tick = now;
	}
}

static void report(struct allocs *a, struct bench_lat *lat, double secs)
{
	const struct bench_opts *o = a->o;
	double rate = secs > 0 ? (double)a->ok / secs : 0;
	double p50 = bench_lat__pct(lat, 50) / 1e3, p90 = bench_lat__pct(lat, 90) / 1e3,
	       p99 = bench_lat__pct(lat, 99) / 1e3;
	char why[64] = "";

	if (a->first_err > 0)
		snprintf(why, sizeof(why), "error response %d to %s", a->first_err % REFRESH_FAILED,
			 a->first_err > REFRESH_FAILED ? "Refresh" : "Allocate");
	else if (a->first_err < 0)
		snprintf(why, sizeof(why), "%s", strerror(-a->first_err));
	if (o->json) {
		printf("{");
		bench_json_head(stdout, o);
		printf(",\"concurrency\":%u,\"allocations\":%llu,\"failed\":%llu,\"seconds\":%.3f,"
		       "\"rate_per_s\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
		       "\"errors\":%llu,\"first_error\":\"%s\"}\n",
		       o->concurrency, (unsigned long long)a->ok, (unsigned long long)a->failed,
		       secs, rate, p50, p90, p99, (unsigned long long)a->failed, why);
		return;
	}
	printf("allocs/%s: concurrency %u, %llu allocations in %.2f s, %llu failed%s%s\n",
	       o->udp ? "udp" : "tcp", o->concurrency, (unsigned long long)a->ok, secs,
	       (unsigned long long)a->failed, *why ? ", first: " : "", why);
	printf("  %.0f allocations/s  latency p50 %.1f us  p90 %.1f us  p99 %.1f us  %s\n", rate,
	       p50, p90, p99, a->failed || !a->ok ? "FAILED" : "ok");
}

int bench_allocs__run(const struct bench_opts *o)
{
	struct allocs a = {.o = o, .running = (int)o->concurrency};
	struct worker *w = calloc(o->concurrency, sizeof(*w));
	struct bench_lat all = {0};
	uint64_t start = bench_now_ns();
	unsigned started = 0;

	if (o->direct) {
		fprintf(stderr, "kturn-bench: allocs has no --direct variant\n");
		free(w);
		return -EINVAL;
	}
	if (!w)
		return -ENOMEM;
	a.end_ns = start + (uint64_t)(o->seconds * 1e9);
	for (; started < o->concurrency; started++) {
		w[started].a = &a;
		if (pthread_create(&w[started].th, NULL, work, &w[started]))
			break;
	}
	__atomic_fetch_sub(&a.running, (int)(o->concurrency - started), __ATOMIC_RELEASE);
	wait_all(&a, start);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].th, NULL);
	merge(w, started, &all);
	report(&a, &all, (double)(bench_now_ns() - start) / 1e9);
	bench_lat__free(&all);
	free(w);
	return a.failed || !a.ok;
}
