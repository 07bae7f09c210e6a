// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * RFC 6062 TCP relay data plane: splice each bridged socket pair in the kernel.
 *
 * An SK_SKB verdict program attached (BPF_SK_SKB_VERDICT) to kturn_sockhash.
 * It runs for every skb received on a socket in the map and redirects it to
 * the egress of the socket's partner, found by cookie in kturn_link. Anything
 * it does not redirect is SK_PASS: the bytes stay on the receiving socket
 * where userspace can read them. Never SK_DROP: TCP has already acknowledged
 * these bytes, so dropping one would cut a hole in the stream.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "kturn/bpf_abi.h"

/* max_entries are set by the loader (sockmap_opts.max_socks). */

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u64));   /* socket cookie */
	__uint(value_size, sizeof(__u64)); /* fd on update, cookie on lookup */
} kturn_sockhash SEC(".maps");

/*
 * The same sockets with no program attached: the redirect target, and where
 * the verdict looks a partner up. Both sockets of a pair enter it before
 * either enters kturn_sockhash, so a socket's first verdict always finds its
 * partner (no redirect can fail while a pair is being spliced).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u64));
	__uint(value_size, sizeof(__u64));
} kturn_sock_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct kturn_sock_link);
} kturn_link SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct kturn_sock_counters);
} kturn_sock_cnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct kturn_sock_ctl);
} kturn_sock_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct kturn_alloc_counters);
} kturn_alloc_cnt SEC(".maps");

/* Not used by the program: the loader writes and pins it (ABI check). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kturn_info);
} kturn_info SEC(".maps");

/*
 * Bytes redirected to the partner that its TCP has not taken yet (bpf_abi.h,
 * "Backpressure"); 0 when the partner cannot be seen.
 */
static __always_inline __u32 partner_backlog(struct kturn_sock_counters *cnt,
					     const struct kturn_sock_ctl *ctl, __u64 partner)
{
	struct bpf_sock *psk = bpf_map_lookup_elem(&kturn_sock_tx, &partner);
	struct tcp_sock *tp;
	__u32 seq, ahead;

	if (!psk)
		return 0;
	tp = bpf_skc_to_tcp_sock(psk);
	seq = tp ? tp->write_seq : 0;
	bpf_sk_release(psk);
	if (!tp)
		return 0;
	if (!cnt->base_set) {
		cnt->partner_base = seq;
		cnt->base_set = 1;
		return 0;
	}
	ahead = cnt->partner_base + (__u32)cnt->fwd_bytes + (__u32)(ctl ? ctl->user_sent : 0) - seq;
	return (__s32)ahead > 0 ? ahead : 0;
}

/* Parked bytes userspace has not read, or a pause it has not resolved. */
static __always_inline bool paused(const struct kturn_sock_counters *cnt,
				   const struct kturn_sock_ctl *ctl)
{
	__u64 resume = ctl ? ctl->resume_seq : 0, read = ctl ? ctl->user_read : 0;

	return cnt->pause_seq > resume || cnt->pass_bytes != read;
}

/*
 * The skb's TCP sequence range, from its control block (TCP_SKB_CB: seq and
 * end_seq stay at the head of skb->cb for sk_skb programs). False if it
 * cannot be read.
 */
static __always_inline bool skb_seq(struct __sk_buff *skb, __u32 *seq, __u32 *end)
{
	__u32 cb[2];

	if (bpf_probe_read_kernel(cb, sizeof(cb),
				  (void *)skb + bpf_core_field_offset(struct sk_buff, cb)))
		return false;
	*seq = cb[0];
	*end = cb[1];
	return true;
}

/*
 * Does this skb begin inside bytes the verdict has already seen? On 6.18
 * the kernel sometimes hands the verdict an skb that starts up to one skb
 * before where the previous one ended (bpf_abi.h, "Repeated bytes"). Such
 * an skb is parked, and its repeated head recorded for userspace to cut.
 */
static __always_inline bool repeated(struct kturn_sock_counters *cnt,
				     const struct kturn_sock_ctl *ctl, struct __sk_buff *skb,
				     __u32 len)
{
	__u32 seq, end, over;

	if (!skb_seq(skb, &seq, &end) || end - seq != len)
		return false; /* no sequence numbers: nothing to compare */
	if (!cnt->seq_set || (__s32)(cnt->next_seq - seq) <= 0) {
		cnt->next_seq = end;
		cnt->seq_set = 1;
		return false;
	}
	over = cnt->next_seq - seq;
	if (over > len)
		over = len;
	if (cnt->cuts - (ctl ? ctl->cuts_taken : 0) >= KTURN_CUTS) {
		__sync_fetch_and_add(&cnt->cut_lost, 1);
	} else {
		__u32 slot = cnt->cuts % KTURN_CUTS;

		cnt->cut_at[slot] = cnt->pass_bytes;
		cnt->cut_len[slot] = over;
		cnt->cuts++;
	}
	__sync_fetch_and_add(&cnt->repeats, 1);
	__sync_fetch_and_add(&cnt->repeated_bytes, over);
	if ((__s32)(end - cnt->next_seq) > 0)
		cnt->next_seq = end;
	return true;
}

SEC("sk_skb")
int kturn_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct kturn_sock_counters *cnt;
	struct kturn_sock_link *link;
	struct kturn_alloc_counters *acnt;
	struct kturn_sock_ctl *ctl;
	__u64 len = skb->len;
	__u64 partner;

	cnt = bpf_map_lookup_elem(&kturn_sock_cnt, &cookie);
	link = bpf_map_lookup_elem(&kturn_link, &cookie);
	ctl = bpf_map_lookup_elem(&kturn_sock_ctl, &cookie);
	/*
	 * Zero-length skb: a FIN. Redirecting it makes the partner's send fail
	 * (EPIPE); passing it lets this socket see EOF and userspace decide
	 * when to forward the half-close. A socket without link or counters is
	 * not (or no longer) a managed pair. A socket that already parked bytes
	 * keeps parking, so nothing overtakes them (see bpf_abi.h).
	 */
	if (len == 0 || !link || !cnt || cnt->redirect_fail)
		goto pass;
	if (repeated(cnt, ctl, skb, len)) {
		cnt->pause_seq = (ctl ? ctl->resume_seq : 0) + 1;
		goto pass;
	}
	partner = link->partner_cookie;
	if (paused(cnt, ctl))
		goto pass;
	acnt = bpf_map_lookup_elem(&kturn_alloc_cnt, &link->alloc_id);
	if (partner_backlog(cnt, ctl, partner) + len > KTURN_HIGH_WATER) {
		cnt->pause_seq = (ctl ? ctl->resume_seq : 0) + 1;
		__sync_fetch_and_add(&cnt->pauses, 1);
		if (acnt)
			__sync_fetch_and_add(&acnt->pauses, 1);
		goto pass;
	}
	if (bpf_sk_redirect_hash(skb, &kturn_sock_tx, &partner, 0) != SK_PASS) {
		__sync_fetch_and_add(&cnt->redirect_fail, 1);
		if (acnt)
			__sync_fetch_and_add(&acnt->redirect_fail, 1);
		goto pass;
	}
	__sync_fetch_and_add(&cnt->fwd_bytes, len);
	__sync_fetch_and_add(&cnt->fwd_packets, 1);
	if (acnt && (link->flags & KTURN_LINK_F_SIDE_B)) {
		__sync_fetch_and_add(&acnt->down_bytes, len);
		__sync_fetch_and_add(&acnt->down_packets, 1);
	} else if (acnt) {
		__sync_fetch_and_add(&acnt->up_bytes, len);
		__sync_fetch_and_add(&acnt->up_packets, 1);
	}
	return SK_PASS;
pass:
	if (cnt) {
		__sync_fetch_and_add(&cnt->pass_bytes, len);
		__sync_fetch_and_add(&cnt->pass_packets, 1);
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
