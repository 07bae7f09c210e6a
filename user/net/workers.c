// SPDX-License-Identifier: MIT
/*
 * Worker threads around loop + server. Stopping uses one eventfd per
 * worker, watched by its loop; workers__call a second one, with a queue of
 * calls under the workers' mutex: a caller waits on the condition variable
 * until the worker has run its call, so whatever fn wrote is visible to it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kturn/log.h"
#include "kturn/loop.h"
#include "kturn/workers.h"

struct wcall {
	struct wcall *next;
	workers_fn fn;
	void *arg;
	int err;
	bool done;
};

struct worker {
	pthread_t thread;
	bool started;
	unsigned id;
	int stop_fd;
	int call_fd;
	struct loop_watch call_w;
	struct wcall *calls, **calls_tail; /* under ws->lock */
	bool gone;			   /* under ws->lock: its loop has ended */
	/* freed by workers__stop once every worker has stopped: another worker
	 * may still post to this one's mailbox until then */
	struct loop *loop;
	struct server *server;
	struct loop_watch stop_w;
	struct workers *ws;
};

struct workers {
	struct server_opts opts;
	unsigned n;
	/* start-up handshake: workers report bind results here */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned reported;
	int first_err;
	struct worker w[];
};

static void on_stop(struct loop_watch *w, uint32_t events)
{
	uint64_t v;

	if (read(w->fd, &v, sizeof(v)) == sizeof(v))
		loop__stop(w->arg);
}

/* Run the queued calls; the worker's own thread. */
static void on_call(struct loop_watch *w, uint32_t events)
{
	struct worker *wk = w->arg;
	struct workers *ws = wk->ws;
	struct wcall *c;
	uint64_t v;

	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		klog_warn("worker %u: call eventfd: %d", wk->id, errno);
	for (;;) {
		pthread_mutex_lock(&ws->lock);
		c = wk->calls;
		if (c) {
			wk->calls = c->next;
			if (!wk->calls)
				wk->calls_tail = &wk->calls;
		}
		pthread_mutex_unlock(&ws->lock);
		if (!c)
			return;
		c->fn(wk->server, wk->id, c->arg);
		pthread_mutex_lock(&ws->lock);
		c->done = true;
		pthread_cond_broadcast(&ws->cond);
		pthread_mutex_unlock(&ws->lock);
	}
}

/* The loop has ended: refuse calls from now on, fail the queued ones. */
static void calls_close(struct worker *wk)
{
	struct workers *ws = wk->ws;

	pthread_mutex_lock(&ws->lock);
	wk->gone = true;
	for (struct wcall *c = wk->calls; c; c = c->next) {
		c->err = -ESHUTDOWN;
		c->done = true;
	}
	wk->calls = NULL;
	wk->calls_tail = &wk->calls;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
}

int workers__call(struct workers *ws, unsigned i, workers_fn fn, void *arg)
{
	struct wcall c = {.fn = fn, .arg = arg};
	struct worker *wk;
	uint64_t one = 1;

	if (i >= ws->n)
		return -EINVAL;
	wk = &ws->w[i];
	pthread_mutex_lock(&ws->lock);
	if (wk->gone) {
		pthread_mutex_unlock(&ws->lock);
		return -ESHUTDOWN;
	}
	*wk->calls_tail = &c;
	wk->calls_tail = &c.next;
	pthread_mutex_unlock(&ws->lock);
	if (write(wk->call_fd, &one, sizeof(one)) < 0)
		klog_warn("cannot wake worker %u: %d", i, errno);
	pthread_mutex_lock(&ws->lock);
	while (!c.done)
		pthread_cond_wait(&ws->cond, &ws->lock);
	pthread_mutex_unlock(&ws->lock);
	return c.err;
}

static void report(struct workers *ws, int err)
{
	pthread_mutex_lock(&ws->lock);
	if (err && !ws->first_err)
		ws->first_err = err;
	ws->reported++;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct loop *l = NULL;
	struct server *s = NULL;
	int err = loop__new(&l);

	if (!err) {
		loop_watch__init(&wk->stop_w, wk->stop_fd, on_stop, l);
		err = loop__add(l, &wk->stop_w, EPOLLIN);
	}
	if (!err) {
		loop_watch__init(&wk->call_w, wk->call_fd, on_call, wk);
		err = loop__add(l, &wk->call_w, EPOLLIN);
	}
	if (!err)
		err = server__new(&s, l, &wk->ws->opts);
	wk->server = s;
	report(wk->ws, err);
	if (!err) {
		klog_debug("worker %u running", wk->id);
		err = loop__run(l);
		if (err)
			klog_err("worker %u: event loop failed: %d", wk->id, err);
	}
	calls_close(wk);
	wk->loop = l;
	wk->server = s;
	return NULL;
}

static int wait_all_reported(struct workers *ws, unsigned n)
{
	int err;

	pthread_mutex_lock(&ws->lock);
	while (ws->reported < n)
		pthread_cond_wait(&ws->cond, &ws->lock);
	err = ws->first_err;
	pthread_mutex_unlock(&ws->lock);
	return err;
}

int workers__start(struct workers **out, unsigned n, const struct server_opts *so)
{
	struct workers *ws = calloc(1, sizeof(*ws) + n * sizeof(ws->w[0]));
	unsigned started = 0;
	int err = 0;

	if (!ws || !n) {
		free(ws);
		return -EINVAL;
	}
	ws->opts = *so;
	ws->n = n;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->cond, NULL);
	for (unsigned i = 0; i < n && !err; i++) {
		struct worker *wk = &ws->w[i];

		*wk = (struct worker){.id = i, .ws = ws, .call_fd = -1};
		wk->calls_tail = &wk->calls;
		wk->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		wk->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (wk->stop_fd < 0 || wk->call_fd < 0)
			err = -errno;
		else if ((err = -pthread_create(&wk->thread, NULL, worker_main, wk)) == 0)
			wk->started = true, started++;
		else
			wk->gone = true; /* no thread: calls fail */
	}
	if (!err)
		err = wait_all_reported(ws, started);
	if (err) {
		wait_all_reported(ws, started);
		workers__stop(ws);
		return err;
	}
	*out = ws;
	return 0;
}

void workers__stop(struct workers *ws)
{
	uint64_t one = 1;

	if (!ws)
		return;
	for (unsigned i = 0; i < ws->n; i++)
		if (ws->w[i].started && write(ws->w[i].stop_fd, &one, sizeof(one)) < 0)
			klog_err("cannot signal worker %u: %d", i, errno);
	for (unsigned i = 0; i < ws->n; i++) {
		if (ws->w[i].started)
			pthread_join(ws->w[i].thread, NULL);
		if (ws->w[i].stop_fd > 0)
			close(ws->w[i].stop_fd);
		if (ws->w[i].call_fd > 0)
			close(ws->w[i].call_fd);
	}
	for (unsigned i = 0; i < ws->n; i++) {
		server__free(ws->w[i].server);
		loop__free(ws->w[i].loop);
	}
	pthread_mutex_destroy(&ws->lock);
	pthread_cond_destroy(&ws->cond);
	free(ws);
}

unsigned workers__count(const struct workers *ws)
{
	return ws->n;
}
