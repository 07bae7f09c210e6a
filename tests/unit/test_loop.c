// SPDX-License-Identifier: MIT
/* Event loop, timers and byte buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "kturn/buf.h"
#include "kturn/loop.h"

struct order {
	struct loop *l;
	int fired[16];
	int n;
	int stop_after;
};

struct tick {
	struct loop_timer t;
	struct order *o;
	int id;
};

static void on_tick(struct loop_timer *t)
{
	struct tick *k = t->arg;

	k->o->fired[k->o->n++] = k->id;
	if (k->o->n == k->o->stop_after)
		loop__stop(k->o->l);
}

static void timers_fire_in_deadline_order(void **state)
{
	struct order o = {.stop_after = 4};
	static const uint64_t after[5] = {30, 10, 20, 5, 40};
	struct tick k[5];

	assert_int_equal(loop__new(&o.l), 0);
	for (int i = 0; i < 5; i++) {
		k[i] = (struct tick){.o = &o, .id = i};
		loop_timer__init(&k[i].t, on_tick, &k[i]);
		assert_int_equal(loop__timer_arm(o.l, &k[i].t, after[i]), 0);
		assert_true(loop_timer__armed(&k[i].t));
	}
	loop__timer_cancel(o.l, &k[2].t); /* 20 ms: never fires */
	assert_false(loop_timer__armed(&k[2].t));
	assert_int_equal(loop__run(o.l), 0);
	assert_int_equal(o.n, 4);
	assert_int_equal(o.fired[0], 3);
	assert_int_equal(o.fired[1], 1);
	assert_int_equal(o.fired[2], 0);
	assert_int_equal(o.fired[3], 4);
	loop__free(o.l);
}

static void timer_rearm_moves_deadline(void **state)
{
	struct order o = {.stop_after = 2};
	struct tick a = {.o = &o, .id = 1}, b = {.o = &o, .id = 2};

	assert_int_equal(loop__new(&o.l), 0);
	loop_timer__init(&a.t, on_tick, &a);
	loop_timer__init(&b.t, on_tick, &b);
	loop__timer_arm(o.l, &a.t, 5);
	loop__timer_arm(o.l, &b.t, 15);
	loop__timer_arm(o.l, &a.t, 30); /* re-arm: now after b */
	loop__run(o.l);
	assert_int_equal(o.fired[0], 2);
	assert_int_equal(o.fired[1], 1);
	loop__free(o.l);
}

struct pipe_pair {
	struct loop *l;
	struct loop_watch w[2];
	int fds[2][2];
	int calls[2];
};

/* The first readable watch deletes the other: its pending event must not run. */
static void on_readable(struct loop_watch *w, uint32_t ev)
{
	struct pipe_pair *p = w->arg;
	int me = w == &p->w[0] ? 0 : 1;

	p->calls[me]++;
	loop__del(p->l, &p->w[!me]);
	loop__del(p->l, w);
	loop__stop(p->l);
}

static void del_drops_pending_events(void **state)
{
	struct pipe_pair p = {0};

	assert_int_equal(loop__new(&p.l), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pipe(p.fds[i]), 0);
		loop_watch__init(&p.w[i], p.fds[i][0], on_readable, &p);
		assert_int_equal(loop__add(p.l, &p.w[i], EPOLLIN), 0);
		assert_int_equal(write(p.fds[i][1], "x", 1), 1);
	}
	assert_int_equal(loop__run(p.l), 0);
	assert_int_equal(p.calls[0] + p.calls[1], 1);
	for (int i = 0; i < 2; i++) {
		close(p.fds[i][0]);
		close(p.fds[i][1]);
	}
	loop__free(p.l);
}

static void buf_append_consume_reserve(void **state)
{
	struct buf b = {0};
	uint8_t chunk[300];

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	assert_int_equal(buf__append(&b, chunk, sizeof(chunk), 4096), 0);
	assert_int_equal(buf__len(&b), 300);
	buf__consume(&b, 100);
	assert_int_equal(buf__len(&b), 200);
	assert_memory_equal(buf__begin(&b), chunk + 100, 200);
	/* Grows, keeping the pending bytes in order. */
	assert_int_equal(buf__append(&b, chunk, sizeof(chunk), 4096), 0);
	assert_int_equal(buf__len(&b), 500);
	assert_memory_equal(buf__begin(&b), chunk + 100, 200);
	assert_memory_equal(buf__begin(&b) + 200, chunk, 300);
	/* The bound is on pending bytes plus the request. */
	assert_int_equal(buf__reserve(&b, 4096 - 500 + 1, 4096), -ENOBUFS);
	assert_int_equal(buf__reserve(&b, 4096 - 500, 4096), 0);
	buf__consume(&b, 500);
	assert_int_equal(b.head, 0);
	assert_int_equal(b.tail, 0);
	buf__shrink(&b, 0);
	assert_null(b.data);
	/* Empty and released: no pointer arithmetic on NULL (fuzz_server, UBSan). */
	assert_null(buf__begin(&b));
	assert_int_equal(buf__len(&b), 0);
	buf__free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timers_fire_in_deadline_order),
		cmocka_unit_test(timer_rearm_moves_deadline),
		cmocka_unit_test(del_drops_pending_events),
		cmocka_unit_test(buf_append_consume_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
