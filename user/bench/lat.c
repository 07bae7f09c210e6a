// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "kturn/bench.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_lat__add(struct bench_lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint64_t *p = realloc(l->ns, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->ns = p;
		l->cap = cap;
	}
	l->ns[l->n++] = ns;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t bench_lat__pct(struct bench_lat *l, double p)
{
	size_t i;

	if (!l->n)
		return 0;
	qsort(l->ns, l->n, sizeof(*l->ns), cmp_u64);
	i = (size_t)(p / 100.0 * (double)(l->n - 1) + 0.5);
	return l->ns[i < l->n ? i : l->n - 1];
}

void bench_lat__free(struct bench_lat *l)
{
	free(l->ns);
	l->ns = NULL;
	l->n = l->cap = 0;
}
