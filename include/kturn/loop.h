/* SPDX-License-Identifier: MIT */
/*
 * A small epoll event loop with monotonic millisecond timers.
 *
 * One loop per worker thread; nothing in it is shared between threads.
 * Watches and timers are intrusive: their owner embeds them and keeps them
 * alive while they are registered.
 */
#ifndef KTURN_LOOP_H
#define KTURN_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_watch;
struct loop_timer;

typedef void (*loop_io_cb)(struct loop_watch *w, uint32_t events);
typedef void (*loop_timer_cb)(struct loop_timer *t);

struct loop_watch {
	int fd;
	uint32_t events;
	loop_io_cb cb;
	void *arg;
};

struct loop_timer {
	uint64_t when_ms;
	size_t heap_idx; /* position in the loop's heap, SIZE_MAX when unarmed */
	loop_timer_cb cb;
	void *arg;
};

int loop__new(struct loop **out);
void loop__free(struct loop *l);

void loop_watch__init(struct loop_watch *w, int fd, loop_io_cb cb, void *arg);
int loop__add(struct loop *l, struct loop_watch *w, uint32_t events);
int loop__mod(struct loop *l, struct loop_watch *w, uint32_t events);
/* Safe to call from inside the watch's own callback. */
int loop__del(struct loop *l, struct loop_watch *w);

void loop_timer__init(struct loop_timer *t, loop_timer_cb cb, void *arg);
/* (Re)arm to fire once at loop__now_ms() + after_ms. */
int loop__timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms);
void loop__timer_cancel(struct loop *l, struct loop_timer *t);
static inline bool loop_timer__armed(const struct loop_timer *t)
{
	return t->heap_idx != (size_t)-1;
}

/* Cached monotonic time of the current iteration, in milliseconds. */
uint64_t loop__now_ms(const struct loop *l);

/* Run until loop__stop(); returns 0 or -errno on a fatal epoll error. */
int loop__run(struct loop *l);
void loop__stop(struct loop *l);

#endif /* KTURN_LOOP_H */
