// SPDX-License-Identifier: MIT
/*
 * Loader and pair management for the sockmap data plane (bpf/relay.bpf.c).
 *
 * Order matters: the verdict is attached to the sockhash before any socket
 * enters it (a socket's psock is set up for the programs the map has when it
 * is inserted), and kturn_info is pinned last so a half-pinned directory is
 * recognised as stale.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received */

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kturn/bpf_abi.h"
#include "kturn/dataplane.h"
#include "kturn/log.h"
#include "relay.skel.h"

#include "bpffs.h"

struct sockmap {
	struct relay_bpf *skel;
	char *pin_dir;
	bool created_dir;
	bool unpin_on_close;
	int sockhash_fd;
	int tx_fd;
	int link_fd;
	int cnt_fd;
	int ctl_fd;
	int alloc_fd;
};

/* The maps in pinning order: kturn_info last (see bpffs.c). */
static struct bpf_map **skel_maps(struct relay_bpf *skel, size_t i)
{
	struct bpf_map **maps[] = {
		&skel->maps.kturn_sockhash, &skel->maps.kturn_sock_tx,	&skel->maps.kturn_link,
		&skel->maps.kturn_sock_cnt, &skel->maps.kturn_sock_ctl, &skel->maps.kturn_alloc_cnt,
		&skel->maps.kturn_info,
	};

	return i < sizeof(maps) / sizeof(maps[0]) ? maps[i] : NULL;
}

static const char *const pin_names[] = {
	KTURN_MAP_SOCKHASH, KTURN_MAP_SOCK_TX,	 KTURN_MAP_LINK, KTURN_MAP_SOCK_CNT,
	KTURN_MAP_SOCK_CTL, KTURN_MAP_ALLOC_CNT, KTURN_MAP_INFO,
};
#define N_MAPS (sizeof(pin_names) / sizeof(pin_names[0]))

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (level == LIBBPF_WARN)
		klog_warn("libbpf: %s", line);
	else
		klog_info("libbpf: %s", line);
	return 0;
}

static int pin_path(char *buf, size_t cap, const char *dir, const char *name)
{
	if (snprintf(buf, cap, "%s/%s", dir, name) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

/* Unpin the first n maps, last first: kturn_info goes before the others. */
static void unpin_maps(struct sockmap *sm, size_t n)
{
	while (n--) {
		struct bpf_map *map = *skel_maps(sm->skel, n);

		if (bpf_map__is_pinned(map))
			bpf_map__unpin(map, NULL);
	}
}

static int write_info(struct sockmap *sm, __u32 max_socks)
{
	struct kturn_info info = {
		.abi_version = KTURN_BPF_ABI_VERSION,
		.owner_pid = (__u32)getpid(),
		.max_socks = max_socks,
	};
	__u32 key = 0;
	int err;

	err = bpffs__proc_start_time(getpid(), &info.owner_start);
	if (err)
		return err;
	if (bpf_map_update_elem(bpf_map__fd(sm->skel->maps.kturn_info), &key, &info, BPF_ANY))
		return -errno;
	return 0;
}

int sockmap__open(struct sockmap **out, const struct sockmap_opts *opts)
{
	const char *dir = opts && opts->pin_dir ? opts->pin_dir : KTURN_PIN_DIR_DEFAULT;
	__u32 max_socks = opts && opts->max_socks ? opts->max_socks : SOCKMAP_MAX_SOCKS_DEFAULT;
	int prog_fd, err;
	char path[PATH_MAX];
	struct sockmap *sm;
	size_t i;

	*out = NULL;
	libbpf_set_print(libbpf_log);

	sm = calloc(1, sizeof(*sm));
	if (!sm)
		return -ENOMEM;
	sm->unpin_on_close = opts && opts->unpin_on_close;
	sm->pin_dir = strdup(dir);
	if (!sm->pin_dir) {
		err = -ENOMEM;
		goto err_free;
	}

	err = bpffs__prepare_dir(dir, &sm->created_dir);
	if (err)
		goto err_free;
	err = bpffs__claim_dir(dir, opts && opts->clean_incompatible);
	if (err)
		goto err_rmdir;

	sm->skel = relay_bpf__open();
	if (!sm->skel) {
		err = -errno;
		klog_err("sockmap: cannot open the BPF object: %s", strerror(-err));
		goto err_rmdir;
	}
	for (i = 0; i < N_MAPS; i++) {
		struct bpf_map *map = *skel_maps(sm->skel, i);

		if (strcmp(bpf_map__name(map), pin_names[i])) {
			klog_err("sockmap: map %s does not match bpf_abi.h name %s",
				 bpf_map__name(map), pin_names[i]);
			err = -EINVAL;
			goto err_destroy_skel;
		}
		if (map != sm->skel->maps.kturn_info)
			bpf_map__set_max_entries(map, max_socks);
	}

	err = relay_bpf__load(sm->skel);
	if (err) {
		klog_err("sockmap: cannot load the BPF programs: %s", strerror(-err));
		goto err_destroy_skel;
	}
	sm->sockhash_fd = bpf_map__fd(sm->skel->maps.kturn_sockhash);
	sm->tx_fd = bpf_map__fd(sm->skel->maps.kturn_sock_tx);
	sm->link_fd = bpf_map__fd(sm->skel->maps.kturn_link);
	sm->cnt_fd = bpf_map__fd(sm->skel->maps.kturn_sock_cnt);
	sm->ctl_fd = bpf_map__fd(sm->skel->maps.kturn_sock_ctl);
	sm->alloc_fd = bpf_map__fd(sm->skel->maps.kturn_alloc_cnt);

	/* Before any socket enters the map. libbpf 1.1 cannot attach "sk_skb" itself. */
	prog_fd = bpf_program__fd(sm->skel->progs.kturn_verdict);
	if (bpf_prog_attach(prog_fd, sm->sockhash_fd, BPF_SK_SKB_VERDICT, 0)) {
		err = -errno;
		klog_err("sockmap: cannot attach the verdict to the sockhash: %s", strerror(-err));
		goto err_destroy_skel;
	}

	err = write_info(sm, max_socks);
	if (err) {
		klog_err("sockmap: cannot fill %s: %s", KTURN_MAP_INFO, strerror(-err));
		goto err_destroy_skel;
	}
	for (i = 0; i < N_MAPS; i++) {
		err = pin_path(path, sizeof(path), dir, pin_names[i]);
		if (!err)
			err = bpf_map__pin(*skel_maps(sm->skel, i), path);
		if (err) {
			klog_err("sockmap: cannot pin %s/%s: %s", dir, pin_names[i],
				 strerror(-err));
			goto err_unpin;
		}
	}

	klog_info("sockmap: data plane loaded, maps pinned in %s (max_socks=%u abi=%u)", dir,
		  max_socks, KTURN_BPF_ABI_VERSION);
	*out = sm;
	return 0;

err_unpin:
	unpin_maps(sm, i);
err_destroy_skel:
	relay_bpf__destroy(sm->skel);
err_rmdir:
	if (sm->created_dir)
		rmdir(dir);
err_free:
	free(sm->pin_dir);
	free(sm);
	return err;
}

void sockmap__close(struct sockmap *sm)
{
	if (!sm)
		return;
	if (sm->unpin_on_close) {
		unpin_maps(sm, N_MAPS);
		if (sm->created_dir)
			rmdir(sm->pin_dir);
	}
	relay_bpf__destroy(sm->skel);
	free(sm->pin_dir);
	free(sm);
}

const char *sockmap__pin_dir(const struct sockmap *sm)
{
	return sm->pin_dir;
}

int sockmap__sock_cookie(int fd, __u64 *cookie)
{
	socklen_t len = sizeof(*cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0)
		return -errno;
	return 0;
}

static int tcp_info(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) < 0 ? -errno : 0;
}

/*
 * Can fd enter the sockhash? Only ESTABLISHED sockets can (-EOPNOTSUPP).
 * And the verdict is handed whole skbs: if userspace read the first bytes
 * of an skb, the kernel forwards the skb from its start, read bytes again
 * (measured on 6.18: 100 bytes read of a queued 1000-byte skb, all 1000
 * forwarded). Userspace cannot see skb boundaries, so refuse (-EBUSY) any
 * socket with bytes read *and* bytes queued: a ConnectionBind followed by
 * data the client sent without waiting for the response. Read = bytes
 * received - bytes queued; arrivals while we look only make that smaller,
 * so it is retried for a stable snapshot and never overestimated.
 */
static int check_spliceable(int fd, bool at_boundary)
{
	struct tcp_info t0, t1;
	__s64 consumed = 0;
	int inq = 0, err;

	for (int tries = 0; tries < 3; tries++) {
		err = tcp_info(fd, &t0);
		if (err)
			return err;
		if (t0.tcpi_state != BPF_TCP_ESTABLISHED)
			return -EOPNOTSUPP;
		if (ioctl(fd, SIOCINQ, &inq) < 0)
			return -errno;
		consumed = (__s64)t0.tcpi_bytes_received - inq;
		err = tcp_info(fd, &t1);
		if (err)
			return err;
		if (t1.tcpi_bytes_received == t0.tcpi_bytes_received)
			break;
	}
	return consumed > 0 && inq > 0 && !at_boundary ? -EBUSY : 0;
}

static int prepare_sock(int fd, bool at_boundary, __u64 *cookie)
{
	int one = 1, err;

	err = check_spliceable(fd, at_boundary);
	if (err)
		return err;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -errno;
	return sockmap__sock_cookie(fd, cookie);
}

static int map_insert(int map_fd, const void *key, const void *val)
{
	return bpf_map_update_elem(map_fd, key, val, BPF_NOEXIST) ? -errno : 0;
}

static int sock_insert(int map_fd, __u64 cookie, int fd)
{
	__u64 val = (__u64)fd;

	return map_insert(map_fd, &cookie, &val);
}

/*
 * Queued bytes are only seen by the verdict at the next data-ready event:
 * setting SO_RCVLOWAT makes TCP run one now.
 */
static int kick(int fd)
{
	int one = 1;

	return setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)) < 0 ? -errno : 0;
}

static bool parked(struct sockmap *sm, __u64 cookie)
{
	struct kturn_sock_counters c;

	return !sockmap__read_counters(sm, cookie, &c) && (c.redirect_fail || c.pass_bytes);
}

int sockmap__add_pair(struct sockmap *sm, struct sockmap_pair *pair, int fd_a, int fd_b)
{
	const struct kturn_sock_counters zero = {};
	struct kturn_sock_link link_a, link_b;
	int err;

	pair->parked_a = pair->parked_b = false;
	err = prepare_sock(fd_a, pair->a_at_boundary, &pair->cookie_a);
	if (!err)
		err = prepare_sock(fd_b, false, &pair->cookie_b);
	if (err)
		return err;

	link_a = (struct kturn_sock_link){
		.partner_cookie = pair->cookie_b,
		.alloc_id = pair->alloc_id,
		.pair_id = pair->pair_id,
	};
	link_b = link_a;
	link_b.partner_cookie = pair->cookie_a;
	link_b.flags = KTURN_LINK_F_SIDE_B;

	err = map_insert(sm->link_fd, &pair->cookie_a, &link_a);
	if (err)
		return err;
	err = map_insert(sm->link_fd, &pair->cookie_b, &link_b);
	if (err)
		goto err_del_link_a;
	err = map_insert(sm->cnt_fd, &pair->cookie_a, &zero);
	if (err)
		goto err_del_link_b;
	err = map_insert(sm->cnt_fd, &pair->cookie_b, &zero);
	if (err)
		goto err_del_cnt_a;

	/*
	 * Both into the redirect-target map first: whichever verdict runs first
	 * then finds its partner. Then B (the peer) into the verdict's map, A
	 * last. A redirect can still fail if a socket cannot enter the verdict's
	 * map at all (then its partner may have parked bytes: see below).
	 */
	err = sock_insert(sm->tx_fd, pair->cookie_a, fd_a);
	if (err)
		goto err_del_cnt_b;
	err = sock_insert(sm->tx_fd, pair->cookie_b, fd_b);
	if (err)
		goto err_del_tx_a;
	err = sock_insert(sm->sockhash_fd, pair->cookie_b, fd_b);
	if (err)
		goto err_del_tx_b;
	err = sock_insert(sm->sockhash_fd, pair->cookie_a, fd_a);
	if (err) {
		/* B's removal would discard bytes it redirected to A or parked meanwhile. */
		if (parked(sm, pair->cookie_b)) {
			klog_err("sockmap: pair %u: side A could not enter the map (%s), side B "
				 "parked bytes meanwhile: they are lost",
				 pair->pair_id, strerror(-err));
			err = -EIO;
		}
		goto err_del_sock_b;
	}

	err = kick(fd_a);
	if (!err)
		err = kick(fd_b);
	if (err) {
		/* Queued bytes wait for the next segment: late, not lost. */
		klog_warn("sockmap: pair %u: SO_RCVLOWAT kick failed: %s", pair->pair_id,
			  strerror(-err));
	}

	/* Both are in: a redirect can only have failed in between the insertions. */
	pair->parked_a = parked(sm, pair->cookie_a);
	pair->parked_b = parked(sm, pair->cookie_b);
	if (pair->parked_a || pair->parked_b)
		klog_warn("sockmap: pair %u: bytes arrived while the pair was being spliced; side "
			  "%s must be relayed in userspace",
			  pair->pair_id, pair->parked_a ? (pair->parked_b ? "A and B" : "A") : "B");
	return 0;

err_del_sock_b:
	bpf_map_delete_elem(sm->sockhash_fd, &pair->cookie_b);
err_del_tx_b:
	bpf_map_delete_elem(sm->tx_fd, &pair->cookie_b);
err_del_tx_a:
	bpf_map_delete_elem(sm->tx_fd, &pair->cookie_a);
err_del_cnt_b:
	bpf_map_delete_elem(sm->cnt_fd, &pair->cookie_b);
err_del_cnt_a:
	bpf_map_delete_elem(sm->cnt_fd, &pair->cookie_a);
err_del_link_b:
	bpf_map_delete_elem(sm->link_fd, &pair->cookie_b);
err_del_link_a:
	bpf_map_delete_elem(sm->link_fd, &pair->cookie_a);
	return err;
}

static int delete_elem(int map_fd, const __u64 *key)
{
	if (bpf_map_delete_elem(map_fd, key) && errno != ENOENT)
		return -errno;
	return 0;
}

int sockmap__remove_pair(struct sockmap *sm, const struct sockmap_pair *pair,
			 struct kturn_sock_counters final[2])
{
	const __u64 *cookies[2] = {&pair->cookie_a, &pair->cookie_b};
	int err = 0, e;

	/* Out of the sockhash first: from then on the verdict no longer runs for them. */
	for (int i = 0; i < 2; i++) {
		e = delete_elem(sm->sockhash_fd, cookies[i]);
		err = err ? err : e;
	}
	for (int i = 0; i < 2; i++) {
		e = delete_elem(sm->tx_fd, cookies[i]);
		err = err ? err : e;
	}
	for (int i = 0; i < 2; i++) {
		if (final) {
			e = sockmap__read_counters(sm, *cookies[i], &final[i]);
			if (e)
				memset(&final[i], 0, sizeof(final[i]));
		}
		e = delete_elem(sm->link_fd, cookies[i]);
		err = err ? err : e;
		e = delete_elem(sm->cnt_fd, cookies[i]);
		err = err ? err : e;
		bpf_map_delete_elem(sm->ctl_fd, cookies[i]); /* exists only after a pause */
	}
	if (err)
		klog_warn("sockmap: pair %u: removal incomplete: %s", pair->pair_id,
			  strerror(-err));
	return err;
}

int sockmap__alloc_add(struct sockmap *sm, __u32 alloc_id)
{
	const struct kturn_alloc_counters zero = {0};

	if (bpf_map_update_elem(sm->alloc_fd, &alloc_id, &zero, BPF_NOEXIST) && errno != EEXIST)
		return -errno;
	return 0;
}

int sockmap__alloc_remove(struct sockmap *sm, __u32 alloc_id, struct kturn_alloc_counters *final)
{
	if (final && bpf_map_lookup_elem(sm->alloc_fd, &alloc_id, final))
		memset(final, 0, sizeof(*final));
	if (bpf_map_delete_elem(sm->alloc_fd, &alloc_id) && errno != ENOENT)
		return -errno;
	return 0;
}

int sockmap__alloc_read(struct sockmap *sm, __u32 alloc_id, struct kturn_alloc_counters *out)
{
	return bpf_map_lookup_elem(sm->alloc_fd, &alloc_id, out) ? -errno : 0;
}

int sockmap__set_ctl(struct sockmap *sm, __u64 cookie, const struct kturn_sock_ctl *ctl)
{
	return bpf_map_update_elem(sm->ctl_fd, &cookie, ctl, BPF_ANY) ? -errno : 0;
}

int sockmap__read_counters(struct sockmap *sm, __u64 cookie, struct kturn_sock_counters *out)
{
	return bpf_map_lookup_elem(sm->cnt_fd, &cookie, out) ? -errno : 0;
}
