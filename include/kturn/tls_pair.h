/* SPDX-License-Identifier: MIT */
/*
 * The TLS data plane: an RFC 6062 pair whose client data connection is TURN
 * over TLS. Neither splice() nor the sockmap can move bytes that must be
 * decrypted and encrypted (this kernel has no kTLS), so they are copied in
 * userspace: SSL_read() -> send() towards the peer, recv() -> SSL_write()
 * towards the client, one bounded buffer per direction, on one worker's
 * event loop. Flow control is TCP's, as on the other planes: a direction
 * stops reading while its buffer waits for the other side.
 *
 * Half-close: the client's close_notify or FIN becomes shutdown(SHUT_WR) on
 * the peer once every byte before it is written; the peer's FIN becomes a
 * close_notify plus SHUT_WR towards the client. Errors reset both.
 */
#ifndef KTURN_TLS_PAIR_H
#define KTURN_TLS_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "kturn/loop.h"
#include "kturn/pair.h"

struct tls_pair;
struct ssl_st;

typedef void (*tls_pair_done_cb)(struct tls_pair *p, enum pair_end how, void *arg);

/*
 * Relay between the TLS connection (fd_a, ssl, handshake done) and fd_b.
 * Takes ownership of both fds and ssl, also on error. first[0]: plaintext
 * the client sent that was already decrypted (to the peer first); first[1]:
 * plaintext still owed to the client (written first). 0 or -errno.
 */
int tls_pair__new(struct tls_pair **out, struct loop *l, int fd_a, struct ssl_st *ssl, int fd_b,
		  const uint8_t *const first[2], const size_t first_len[2], tls_pair_done_cb cb,
		  void *arg);
/* Close both (reset unless the pair ended cleanly), free the TLS session. NULL-safe. */
void tls_pair__free(struct tls_pair *p);
void tls_pair__stats(const struct tls_pair *p, struct pair_stats *st);

#endif /* KTURN_TLS_PAIR_H */
