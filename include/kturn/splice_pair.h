/* SPDX-License-Identifier: MIT */
/*
 * The splice() data plane: two connected TCP sockets relayed both ways
 * through a pipe per direction, on one worker's event loop. Bytes never
 * reach userspace memory (except `first` bytes handed in at creation).
 *
 * Flow control is TCP's: a direction reads only while its pipe is empty, so
 * a slow reader on one side fills the pipe, then the source's receive
 * buffer, then closes the sender's window. Memory per pair is bounded by
 * the two pipes and the kernel socket buffers.
 *
 * Half-close: when one side's byte stream ends (FIN), the other side gets
 * shutdown(SHUT_WR) after every byte before the FIN was written; the other
 * direction keeps flowing. A reset or error on either side ends the pair
 * with PAIR_RESET, and splice_pair__free then resets both connections.
 */
#ifndef KTURN_SPLICE_PAIR_H
#define KTURN_SPLICE_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "kturn/loop.h"
#include "kturn/pair.h"

struct splice_pair;

/*
 * Called once when the pair ends, from the pair's own event callback; the
 * callee usually frees the pair there (that is safe).
 */
typedef void (*splice_pair_done_cb)(struct splice_pair *p, enum pair_end how, void *arg);

/*
 * Relay between fd_a and fd_b (connected, non-blocking TCP sockets; the
 * pair owns them from now on, also on error). first[d]/first_len[d]: bytes
 * to write before anything else in direction d (0: a->b, 1: b->a), e.g.
 * bytes read with the ConnectionBind request; copied.
 * Returns 0 or -errno.
 */
int splice_pair__new(struct splice_pair **out, struct loop *l, int fd_a, int fd_b,
		     const uint8_t *const first[2], const size_t first_len[2],
		     splice_pair_done_cb cb, void *arg);
/* Close both sockets (reset if the pair did not end cleanly); NULL is a no-op. */
void splice_pair__free(struct splice_pair *p);
void splice_pair__stats(const struct splice_pair *p, struct pair_stats *st);

#endif /* KTURN_SPLICE_PAIR_H */
