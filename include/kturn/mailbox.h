/* SPDX-License-Identifier: MIT */
/*
 * A worker's mailbox: other threads post connections to it (an RFC 6062
 * ConnectionBind that reached the wrong worker), the owner's event loop
 * receives them. Posting is thread-safe; delivery runs on the owner's loop.
 */
#ifndef KTURN_MAILBOX_H
#define KTURN_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kturn/loop.h"

struct mailbox;

/* A client connection in transit, with the bytes already read from it. */
struct mail {
	struct mail *next;
	int fd;
	struct ssl_st *ssl; /* TLS session, or NULL */
	struct sockaddr_storage peer, local;
	size_t len;
	uint8_t data[]; /* len bytes */
};

typedef void (*mailbox_cb)(void *arg, struct mail *m); /* takes ownership of m */

/* A mail carrying len bytes (copied). NULL when out of memory. */
struct mail *mail__new(const uint8_t *data, size_t len);
/* Close its fd, free its TLS session and the mail. */
void mail__free(struct mail *m);

int mailbox__new(struct mailbox **out, struct loop *l, mailbox_cb cb, void *arg);
/* Any thread. Takes ownership of m (queued even when waking the owner fails). */
int mailbox__post(struct mailbox *mb, struct mail *m);
/* Undelivered mail is freed (connections closed). NULL is a no-op. */
void mailbox__free(struct mailbox *mb);

#endif /* KTURN_MAILBOX_H */
