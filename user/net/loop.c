// SPDX-License-Identifier: MIT
/*
 * epoll event loop with a binary min-heap of timers.
 *
 * Why the "pending batch" dance in loop__del: a callback may close and free
 * another connection whose event is still waiting later in the same
 * epoll_wait() batch. loop__del() clears such entries so no callback ever
 * runs on a freed watch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "kturn/loop.h"

#define LOOP_MAX_EVENTS 256
#define HEAP_NONE	((size_t)-1)

struct loop {
	int epfd;
	bool stop;
	uint64_t now_ms;
	struct epoll_event events[LOOP_MAX_EVENTS];
	int nevents; /* valid entries in events[] during dispatch */
	struct loop_timer **heap;
	size_t heap_len;
	size_t heap_cap;
};

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int loop__new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int err = -errno;

		free(l);
		return err;
	}
	l->now_ms = monotonic_ms();
	*out = l;
	return 0;
}

void loop__free(struct loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l->heap);
	free(l);
}

void loop_watch__init(struct loop_watch *w, int fd, loop_io_cb cb, void *arg)
{
	w->fd = fd;
	w->events = 0;
	w->cb = cb;
	w->arg = arg;
}

static int epoll_op(struct loop *l, int op, struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	if (epoll_ctl(l->epfd, op, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

int loop__add(struct loop *l, struct loop_watch *w, uint32_t events)
{
	return epoll_op(l, EPOLL_CTL_ADD, w, events);
}

int loop__mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
	if (w->events == events)
		return 0;
	return epoll_op(l, EPOLL_CTL_MOD, w, events);
}

int loop__del(struct loop *l, struct loop_watch *w)
{
	int err = 0;

	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0)
		err = -errno;
	for (int i = 0; i < l->nevents; i++)
		if (l->events[i].data.ptr == w)
			l->events[i].data.ptr = NULL;
	w->events = 0;
	return err;
}

/* --- timers ------------------------------------------------------------ */

void loop_timer__init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{
	t->when_ms = 0;
	t->heap_idx = HEAP_NONE;
	t->cb = cb;
	t->arg = arg;
}

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (l->heap[parent]->when_ms <= t->when_ms)
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && l->heap[c + 1]->when_ms < l->heap[c]->when_ms)
			c++;
		if (t->when_ms <= l->heap[c]->when_ms)
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

void loop__timer_cancel(struct loop *l, struct loop_timer *t)
{
	size_t i = t->heap_idx;
	struct loop_timer *last;

	if (i == HEAP_NONE)
		return;
	t->heap_idx = HEAP_NONE;
	last = l->heap[--l->heap_len];
	if (last == t)
		return;
	heap_set(l, i, last);
	heap_up(l, i);
	heap_down(l, last->heap_idx);
}

int loop__timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms)
{
	loop__timer_cancel(l, t);
	if (l->heap_len == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->when_ms = l->now_ms + after_ms;
	heap_set(l, l->heap_len++, t);
	heap_up(l, t->heap_idx);
	return 0;
}

static int next_timeout(const struct loop *l)
{
	uint64_t when;

	if (!l->heap_len)
		return -1;
	when = l->heap[0]->when_ms;
	if (when <= l->now_ms)
		return 0;
	return when - l->now_ms > 60000 ? 60000 : (int)(when - l->now_ms);
}

static void run_timers(struct loop *l)
{
	while (l->heap_len && l->heap[0]->when_ms <= l->now_ms) {
		struct loop_timer *t = l->heap[0];

		loop__timer_cancel(l, t);
		t->cb(t);
	}
}

/* --- dispatch ------------------------------------------------------------ */

uint64_t loop__now_ms(const struct loop *l)
{
	return l->now_ms;
}

void loop__stop(struct loop *l)
{
	l->stop = true;
}

int loop__run(struct loop *l)
{
	l->stop = false;
	while (!l->stop) {
		int n = epoll_wait(l->epfd, l->events, LOOP_MAX_EVENTS, next_timeout(l));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->now_ms = monotonic_ms();
		l->nevents = n;
		for (int i = 0; i < n; i++) {
			struct loop_watch *w = l->events[i].data.ptr;

			if (w)
				w->cb(w, l->events[i].events);
		}
		l->nevents = 0;
		run_timers(l);
	}
	return 0;
}
