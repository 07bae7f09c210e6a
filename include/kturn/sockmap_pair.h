/* SPDX-License-Identifier: MIT */
/*
 * The sockmap data plane for one bridged pair, on a worker's event loop:
 * both sockets enter the sockhash (struct sockmap) and the verdict program
 * moves every byte in the kernel; this object only watches the pair's edges.
 *
 *  - FIN: the verdict does not forward a FIN. When one side's stream ends
 *    (EPOLLRDHUP), its partner gets shutdown(SHUT_WR) once every byte
 *    redirected to it has left its psock backlog (redirected bytes vs the
 *    partner's tcpi_bytes_acked + SIOCOUTQ, polled), so a half-close never
 *    truncates the stream; the other direction keeps flowing.
 *  - Backpressure (bpf_abi.h): when the partner's redirect backlog reaches
 *    KTURN_HIGH_WATER the verdict parks a side's bytes on it; this object
 *    then relays them by recv()/send() at the partner's pace - only after
 *    what was redirected before has left the partner's psock queue, so
 *    nothing is reordered - and once every parked byte is delivered it
 *    resolves the pause (kturn_sock_ctl.resume_seq) and the kernel path
 *    takes over again. A side whose redirect failed while the pair was
 *    being inserted is relayed here for good.
 *  - Reading parked bytes: a recv() on a psock socket whose message queue
 *    is empty falls through to the TCP receive queue, i.e. to bytes the
 *    verdict has not seen; the verdict later takes that skb whole, so the
 *    part read appears twice (a 64 KiB skb repeated in ~1 of 24 64 MiB veth
 *    runs). So a read is never larger than SIOCINQ (on a psock socket: the
 *    bytes in its message queue, which only this object consumes) nor than
 *    what the verdict parked and this object has not read; with either at 0
 *    it waits for the next wake-up (0 of 30 veth runs duplicated after). More
 *    queued than parked means an skb was queued twice: the pair is reset.
 *  - Repeated bytes (bpf_abi.h): on 6.18, while a direction parks, the
 *    kernel now and then hands the verdict an skb that begins up to one skb
 *    before where the previous one ended - forwarded whole, those bytes
 *    would appear twice in the stream (measured: a 64 KiB stretch repeated
 *    in most five-second loopback bulk runs; BENCHMARKS.md). The verdict
 *    compares each skb's TCP sequence range with where the stream has got
 *    to, parks such an skb and records the repeated range; this object
 *    copies the records before it reads those bytes and drops them from
 *    what it relays. A repeat it could not record (ring full) resets the
 *    pair. As a last net, before each parked read the pair checks that the
 *    verdict has not seen more bytes than TCP received (fwd_bytes +
 *    pass_bytes - repeated_bytes <= tcpi_bytes_received) and resets both
 *    sides otherwise: the applications see a reset, never a corrupted
 *    stream. Known defect, why kturn-data-plane=auto means splice: after a
 *    repeat the kernel has counted the repeated bytes as read (Recv-Q, i.e.
 *    rcv_nxt - copied_seq, shows 0 while an unverdicted skb sits in the
 *    queue), so when a burst ends with no more than that many bytes queued
 *    no data-ready event comes and the verdict never sees them until the
 *    sender sends again (~1 in 30 five-second loopback bulk runs stalled at
 *    the end); a SO_RCVLOWAT kick every 2 ms was tried and does not help.
 *    Tried and measured (BENCHMARKS.md): an 8 MiB high-water mark;
 *    taking the paused socket out of the verdict's map and back (the
 *    removal races a running verdict: an skb is dropped, the stream skips
 *    65,483 bytes); relaying a removed socket by splice() (after psock
 *    reads, splice() returns EAGAIN while poll says readable).
 *  - RST or a socket error on either side: both are removed and reset.
 *  - Both FINs forwarded and both backlogs empty: removed from the maps
 *    (final counters read) and closed.
 *
 * The fds belong to the pair once sockmap_pair__new succeeds.
 */
#ifndef KTURN_SOCKMAP_PAIR_H
#define KTURN_SOCKMAP_PAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "kturn/dataplane.h"
#include "kturn/loop.h"
#include "kturn/pair.h"

struct sockmap_pair_rt;

typedef void (*sockmap_pair_done_cb)(struct sockmap_pair_rt *p, enum pair_end how, void *arg);

/*
 * Splice fd_a (client data connection) and fd_b (peer) through sm.
 * 0, or -errno with the fds still the caller's: -EBUSY (userspace read
 * part of a queue) and -EOPNOTSUPP (not ESTABLISHED) are the expected
 * "use another plane for this pair".
 */
int sockmap_pair__new(struct sockmap_pair_rt **out, struct loop *l, struct sockmap *sm, int fd_a,
		      int fd_b, uint32_t alloc_id, uint32_t pair_id, bool a_at_boundary,
		      sockmap_pair_done_cb cb, void *arg);
/* Remove from the maps, close both (reset unless the pair ended cleanly). NULL-safe. */
void sockmap_pair__free(struct sockmap_pair_rt *p);
/* Bytes delivered each way so far (redirected by BPF plus relayed by userspace). */
void sockmap_pair__stats(struct sockmap_pair_rt *p, struct pair_stats *st);
/* BPF counters of side A ([0], client) and B ([1], peer) and their socket cookies. */
void sockmap_pair__counters(struct sockmap_pair_rt *p, struct kturn_sock_counters k[2],
			    uint64_t cookie[2]);

#endif /* KTURN_SOCKMAP_PAIR_H */
