/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Kernel <-> userspace ABI of kturn's BPF data plane: map keys, values and
 * pinned names. This is the only place these layouts are defined: the BPF
 * programs (bpf/) and the loader (user/dataplane/) both include it.
 *
 * Rules: __u32/__u64 only, explicit padding, sizes asserted. Any change to a
 * layout, a map type or a pinned name bumps KTURN_BPF_ABI_VERSION: the loader
 * refuses to reuse pinned maps written by another version.
 *
 * Every per-socket map is keyed by the socket cookie (SO_COOKIE in userspace,
 * bpf_get_socket_cookie() in the verdict), a __u64 unique per boot.
 */
#ifndef KTURN_BPF_ABI_H
#define KTURN_BPF_ABI_H

/* BPF objects include vmlinux.h first, which already defines __u32/__u64. */
#if !defined(__bpf__) && !defined(__BPF__)
#include <linux/types.h>
#endif

#define KTURN_BPF_ABI_VERSION 4

/*
 * Map names, also used as file names under the pin directory. Kernel object
 * names hold at most 15 characters. Everything kturn pins starts with
 * KTURN_PIN_PREFIX, which is what the loader removes when it cleans a
 * directory left behind by a dead instance.
 */
#define KTURN_PIN_PREFIX      "kturn_"
#define KTURN_MAP_SOCKHASH    "kturn_sockhash"	/* SOCKHASH: cookie -> socket (verdict runs) */
#define KTURN_MAP_SOCK_TX     "kturn_sock_tx"	/* SOCKHASH: cookie -> socket (redirect target) */
#define KTURN_MAP_LINK	      "kturn_link"	/* HASH: cookie -> kturn_sock_link (user) */
#define KTURN_MAP_SOCK_CNT    "kturn_sock_cnt"	/* HASH: cookie -> kturn_sock_counters (BPF) */
#define KTURN_MAP_SOCK_CTL    "kturn_sock_ctl"	/* HASH: cookie -> kturn_sock_ctl (user) */
#define KTURN_MAP_ALLOC_CNT   "kturn_alloc_cnt" /* HASH: alloc_id -> kturn_alloc_counters (BPF) */
#define KTURN_MAP_INFO	      "kturn_info"	/* ARRAY[1]: kturn_info, pinned last */
#define KTURN_PIN_DIR_DEFAULT "/sys/fs/bpf/kturn"

/*
 * Per-socket link, written only by userspace before the socket enters the
 * sockhash, deleted after it left: what the verdict does with bytes that
 * arrive on this socket.
 */
struct kturn_sock_link {
	__u64 partner_cookie; /* redirect received bytes to this socket's egress */
	__u32 alloc_id;	      /* owning TURN allocation (for kturnctl) */
	__u32 pair_id;	      /* RFC 6062 CONNECTION-ID of the pair */
	__u32 flags;	      /* KTURN_LINK_F_* */
	__u32 _pad;
};

/* This socket is the pair's side B (the peer side); clear: side A (client). */
#define KTURN_LINK_F_SIDE_B (1u << 0)

/* Repeated-byte records the verdict keeps for userspace (see "Repeated bytes" below). */
#define KTURN_CUTS 8

/*
 * Per-socket counters, written only by the verdict (atomic adds); userspace
 * creates the zeroed entry before the socket enters the sockhash and deletes
 * it after it left. Every field counts bytes *received on this socket*: the
 * other direction of the pair is the partner's entry.
 */
struct kturn_sock_counters {
	__u64 fwd_bytes;	   /* payload redirected to the partner's egress */
	__u64 fwd_packets;	   /* skbs redirected */
	__u64 pass_bytes;	   /* payload left on this socket for userspace (parked) */
	__u64 pass_packets;	   /* skbs left on this socket, zero-length (FIN) ones included */
	__u64 redirect_fail;	   /* redirects refused (partner not in kturn_sock_tx) */
	__u64 pauses;		   /* times the partner's backlog reached KTURN_HIGH_WATER */
	__u64 pause_seq;	   /* paused while pause_seq > kturn_sock_ctl.resume_seq */
	__u32 partner_base;	   /* partner's write_seq when this socket first redirected */
	__u32 base_set;		   /* partner_base is valid */
	__u64 repeats;		   /* skbs that began inside bytes already verdicted */
	__u64 repeated_bytes;	   /* bytes those skbs repeated (cut by userspace) */
	__u64 cuts;		   /* cut records written (ring index: cuts % KTURN_CUTS) */
	__u64 cut_lost;		   /* repeats not recorded: the ring was full */
	__u64 cut_at[KTURN_CUTS];  /* parked-stream offset of a repeat's first byte */
	__u64 cut_len[KTURN_CUTS]; /* its repeated bytes, to drop there */
	__u32 next_seq;		   /* TCP sequence after the last verdicted byte */
	__u32 seq_set;		   /* next_seq is valid */
};

/*
 * Per-allocation counters, written only by the verdict (atomic adds);
 * userspace creates the zeroed entry with the allocation's first spliced
 * pair and deletes it with the allocation. "up" is client -> peer (bytes
 * received on the client's data connections), "down" peer -> client. Bytes
 * relayed by userspace after a pause are not counted here (pass_bytes).
 */
struct kturn_alloc_counters {
	__u64 up_bytes;
	__u64 up_packets;
	__u64 down_bytes;
	__u64 down_packets;
	__u64 redirect_fail;
	__u64 pauses;
};

/*
 * Per-socket control, written only by userspace (a whole-value update never
 * races the program's atomic adds on the counters).
 */
struct kturn_sock_ctl {
	__u64 resume_seq; /* the pause_seq userspace has resolved */
	__u64 user_read;  /* parked bytes userspace has read from this socket */
	__u64 user_sent;  /* of those, bytes userspace has written to the partner */
	__u64 cuts_taken; /* cut records userspace has copied out of the counters */
};

/*
 * Backpressure. An egress redirect queues skbs on the partner's psock and a
 * kernel worker sends them when the partner's socket has room: nothing in
 * TCP limits that queue, so a stalled reader on one side would let the other
 * side's sender fill the kernel (measured: 512 MiB in 4 s). The verdict
 * therefore computes the partner's backlog - bytes redirected (plus written
 * by userspace) that the partner's TCP has not taken yet:
 *     partner_base + fwd_bytes + user_sent - partner.write_seq   (mod 2^32)
 * and at KTURN_HIGH_WATER stops redirecting: it parks the bytes on this
 * socket instead (SK_PASS), where they count against its receive buffer, so
 * its window closes and the sender is throttled. Userspace then relays the
 * parked bytes at the partner's pace. The verdict would redirect again once
 * userspace has delivered every parked byte (pass_bytes == user_read) and
 * resolved the pause (resume_seq = pause_seq), so a redirected byte never
 * overtakes a parked one (user/dataplane/sockmap_pair.c does that).
 */
#define KTURN_HIGH_WATER (1u << 20)

/*
 * Once a redirect from a socket has failed, its bytes are parked on it, and
 * the verdict parks every later byte too (redirect_fail != 0 is sticky): a
 * later redirect would overtake the parked bytes and reorder the stream.
 * Userspace must relay that socket's bytes itself from then on.
 */

/*
 * Repeated bytes. On kernel 6.18, under load and while bytes are being
 * parked, the verdict is sometimes handed an skb whose TCP sequence range
 * begins before the end of the previous one (typically by exactly one skb):
 * forwarding it whole would repeat those bytes in the stream (measured:
 * bench/FINDINGS.md). The verdict reads each skb's sequence range from its
 * control block and tracks where the stream has got to (next_seq). An skb
 * that starts earlier is parked - the direction pauses, so nothing
 * overtakes it - and its repeated head is recorded in a ring of KTURN_CUTS
 * "drop cut_len bytes at parked offset cut_at" records; userspace copies
 * the records out (kturn_sock_ctl.cuts_taken) before it reads those bytes
 * and drops them from the parked stream it relays. A full ring (cut_lost)
 * cannot be repaired: userspace resets the pair.
 */

/*
 * Contents of the single entry of KTURN_MAP_INFO. abi_version stays the first
 * field in every version, so any loader can read it from any pinned info map.
 */
struct kturn_info {
	__u32 abi_version; /* KTURN_BPF_ABI_VERSION of the instance that pinned */
	__u32 owner_pid;   /* process that pinned the maps */
	__u64 owner_start; /* its start time (/proc/PID/stat field 22), vs pid reuse */
	__u32 max_socks;   /* max_entries of the per-socket maps */
	__u32 _pad;
};

_Static_assert(sizeof(struct kturn_sock_link) == 24, "kturn_sock_link layout");
_Static_assert(sizeof(struct kturn_sock_counters) == 104 + 16 * KTURN_CUTS,
	       "kturn_sock_counters layout");
_Static_assert(sizeof(struct kturn_sock_ctl) == 32, "kturn_sock_ctl layout");
_Static_assert(sizeof(struct kturn_alloc_counters) == 48, "kturn_alloc_counters layout");
_Static_assert(sizeof(struct kturn_info) == 24, "kturn_info layout");
_Static_assert(sizeof(KTURN_MAP_SOCKHASH) <= 16 && sizeof(KTURN_MAP_SOCK_TX) <= 16 &&
		       sizeof(KTURN_MAP_LINK) <= 16 && sizeof(KTURN_MAP_SOCK_CNT) <= 16 &&
		       sizeof(KTURN_MAP_INFO) <= 16 && sizeof(KTURN_MAP_SOCK_CTL) <= 16 &&
		       sizeof(KTURN_MAP_ALLOC_CNT) <= 16,
	       "BPF object names hold at most 15 characters");

#endif /* KTURN_BPF_ABI_H */
