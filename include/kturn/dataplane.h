/* SPDX-License-Identifier: MIT */
/*
 * Kernel data plane for RFC 6062 TCP relaying: bridged socket pairs are
 * spliced by an SK_SKB verdict program (bpf/relay.bpf.c) over a sockhash.
 *
 * One struct sockmap per process: it loads the program, attaches it to the
 * sockhash and pins the maps under a directory on bpffs (mounting bpffs on
 * /sys/fs/bpf first if it is not mounted), so kturnctl and bpftool can read
 * the counters:
 *
 *   bpftool map dump pinned /sys/fs/bpf/kturn/kturn_sock_cnt
 *
 * Pinned maps outlive the process. At open, pins left by a dead instance are
 * removed; pins of a live instance (-EBUSY) or of another ABI version
 * (-EPROTO, unless opts.clean_incompatible) are left alone.
 *
 * open/close are not thread-safe; every other call only issues syscalls on
 * the map fds and may run from any worker thread.
 *
 * All functions return 0 or a negative errno unless stated otherwise.
 */
#ifndef KTURN_DATAPLANE_H
#define KTURN_DATAPLANE_H

#include <stdbool.h>
#include <linux/types.h>

#include "kturn/bpf_abi.h"

#define SOCKMAP_MAX_SOCKS_DEFAULT 65536

struct sockmap;

struct sockmap_opts {
	const char *pin_dir; /* NULL: KTURN_PIN_DIR_DEFAULT; its parent must exist */
	__u32 max_socks;     /* capacity of the sockhash and per-socket maps; 0: default */
	/* Remove pinned maps of another ABI version instead of failing. */
	bool clean_incompatible;
	/* sockmap__close() unpins the maps (and removes the directory if it made it). */
	bool unpin_on_close;
};

/*
 * One spliced pair. The caller fills the ids, sockmap__add_pair the rest;
 * keep it until sockmap__remove_pair (the cookies outlive a closed fd).
 */
struct sockmap_pair {
	__u32 alloc_id; /* in: owning allocation, stored in the link map */
	__u32 pair_id;	/* in: CONNECTION-ID */
	/*
	 * in: side A was read up to an skb boundary: the caller read it to
	 * EAGAIN (SIOCINQ 0) after its last partial read, so whatever is queued
	 * now arrived later, in skbs of its own. Skips the -EBUSY refusal for A.
	 */
	bool a_at_boundary;
	__u64 cookie_a; /* out: SO_COOKIE of fd_a (side A, the client's data connection) */
	__u64 cookie_b; /* out: SO_COOKIE of fd_b (side B, the peer connection) */
	/*
	 * out: that side parked bytes while the pair was being spliced (both
	 * sockets enter the redirect-target map before either runs the verdict,
	 * so this takes a pause, e.g. a partner backlog already at the mark).
	 * kturnd relays parked bytes in userspace until the pause resolves.
	 * Rare; logged.
	 */
	bool parked_a;
	bool parked_b;
};

int sockmap__open(struct sockmap **out, const struct sockmap_opts *opts);
/* NULL-safe. Pairs still in the map stay spliced while the pins are kept. */
void sockmap__close(struct sockmap *sm);
const char *sockmap__pin_dir(const struct sockmap *sm);

/*
 * Splice two ESTABLISHED TCP sockets: TCP_NODELAY on both, link and counter
 * entries, both into the sockhash, then SO_RCVLOWAT=1 on each so bytes
 * already queued (e.g. sent by the peer before ConnectionBind) are forwarded
 * at once, first and in order. Bytes userspace has read stay read.
 * The fds stay the caller's: it keeps them open and polls them for
 * EPOLLRDHUP (a spliced socket's own FIN is not forwarded: see
 * sockmap__remove_pair and DESIGN §3).
 * -EOPNOTSUPP: a socket is not ESTABLISHED (e.g. the peer already sent FIN);
 * relay that pair in userspace. -EEXIST: a socket is already spliced.
 * -EBUSY: userspace has read from a socket that still has bytes queued; the
 * kernel would forward the read bytes again (it forwards whole skbs). Read
 * what is queued (to EAGAIN) and deliver it first, or relay in userspace.
 * For ConnectionBind: read exactly the STUN message; only a client that sent
 * data before the success response hits this.
 * -EIO: a socket failed to enter the map after its partner had parked bytes,
 * which were lost with its removal: the stream is broken, reset both.
 * On error nothing of the pair is left in the maps.
 */
int sockmap__add_pair(struct sockmap *sm, struct sockmap_pair *pair, int fd_a, int fd_b);

/*
 * Take the pair out of the maps; final (may be NULL) receives the counters of
 * side A ([0]: bytes received on A) and side B ([1]) at removal. Sockets that
 * were already closed (and so left the sockhash) are not an error.
 * Caller's duty first (DESIGN §3): removing a socket discards bytes still
 * queued for it by redirects (its backlog) and bytes parked on it. Stop
 * traffic into it and wait for its backlog to drain before removing.
 */
int sockmap__remove_pair(struct sockmap *sm, const struct sockmap_pair *pair,
			 struct kturn_sock_counters final[2]);

/* Counters of a spliced socket by cookie; -ENOENT if it is not spliced. */
int sockmap__read_counters(struct sockmap *sm, __u64 cookie, struct kturn_sock_counters *out);

/*
 * Per-allocation counters (kturn_alloc_cnt): created (zeroed, idempotent)
 * before an allocation's first pair enters the map; removed with the
 * allocation, final values copied out when final is not NULL.
 */
int sockmap__alloc_add(struct sockmap *sm, __u32 alloc_id);
int sockmap__alloc_remove(struct sockmap *sm, __u32 alloc_id, struct kturn_alloc_counters *final);
/* Current per-allocation counters; -ENOENT when the allocation has none. */
int sockmap__alloc_read(struct sockmap *sm, __u32 alloc_id, struct kturn_alloc_counters *out);

/*
 * Userspace's side of backpressure for a spliced socket (bpf_abi.h,
 * "Backpressure"): parked bytes read and relayed, pause resolved.
 */
int sockmap__set_ctl(struct sockmap *sm, __u64 cookie, const struct kturn_sock_ctl *ctl);

/* SO_COOKIE of a socket. */
int sockmap__sock_cookie(int fd, __u64 *cookie);

#endif /* KTURN_DATAPLANE_H */
