// SPDX-License-Identifier: MIT
/* Cross-worker hand-off of connections: a mutex-guarded list and an eventfd. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "kturn/mailbox.h"

struct mailbox {
	pthread_mutex_t mu;
	struct mail *head, *tail;
	struct loop *loop;
	struct loop_watch w;
	mailbox_cb cb;
	void *arg;
};

struct mail *mail__new(const uint8_t *data, size_t len)
{
	struct mail *m = calloc(1, sizeof(*m) + len);

	if (!m)
		return NULL;
	m->fd = -1;
	m->len = len;
	if (len)
		memcpy(m->data, data, len);
	return m;
}

void mail__free(struct mail *m)
{
	if (!m)
		return;
	SSL_free(m->ssl);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

static struct mail *take_all(struct mailbox *mb)
{
	struct mail *m;

	pthread_mutex_lock(&mb->mu);
	m = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->mu);
	return m;
}

static void on_mail(struct loop_watch *w, uint32_t events)
{
	struct mailbox *mb = w->arg;
	uint64_t v;
	struct mail *m;

	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	m = take_all(mb);
	while (m) {
		struct mail *next = m->next;

		m->next = NULL;
		mb->cb(mb->arg, m);
		m = next;
	}
}

int mailbox__new(struct mailbox **out, struct loop *l, mailbox_cb cb, void *arg)
{
	struct mailbox *mb = calloc(1, sizeof(*mb));
	int fd, err;

	if (!mb)
		return -ENOMEM;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		free(mb);
		return -errno;
	}
	pthread_mutex_init(&mb->mu, NULL);
	mb->loop = l;
	mb->cb = cb;
	mb->arg = arg;
	loop_watch__init(&mb->w, fd, on_mail, mb);
	err = loop__add(l, &mb->w, EPOLLIN);
	if (err) {
		mailbox__free(mb);
		return err;
	}
	*out = mb;
	return 0;
}

int mailbox__post(struct mailbox *mb, struct mail *m)
{
	uint64_t one = 1;

	m->next = NULL;
	pthread_mutex_lock(&mb->mu);
	if (mb->tail)
		mb->tail->next = m;
	else
		mb->head = m;
	mb->tail = m;
	pthread_mutex_unlock(&mb->mu);
	if (write(mb->w.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno; /* stays queued; freed with the mailbox at worst */
	return 0;
}

void mailbox__free(struct mailbox *mb)
{
	struct mail *m;

	if (!mb)
		return;
	loop__del(mb->loop, &mb->w);
	close(mb->w.fd);
	m = take_all(mb);
	while (m) {
		struct mail *next = m->next;

		mail__free(m);
		m = next;
	}
	pthread_mutex_destroy(&mb->mu);
	free(mb);
}
