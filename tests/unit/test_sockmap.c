// SPDX-License-Identifier: MIT
/*
 * The sockmap data plane with real sockets (sk_skb programs cannot be run
 * with BPF_PROG_TEST_RUN). Needs root: skipped otherwise.
 *
 * Topology, in a fresh network namespace per test:
 *
 *   A <-tcp-> B ==verdict== C <-tcp-> D
 *
 * A and D are the endpoints, B and C the relay's sockets, spliced as a pair.
 * Streams carry sequence-numbered 32-bit words and are verified byte for byte.
 * Every wait is a poll() with a timeout, so a broken redirect fails, not hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <linux/sockios.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <bpf/bpf.h>

#include "kturn/bpf_abi.h"
#include "kturn/dataplane.h"

#define TIMEOUT_MS 5000
#define CHUNK	   (64 * 1024)
#define MIB	   (1024 * 1024)

static const char *skip_reason;

struct env {
	char pin_dir[128];
	struct sockmap *sm;
	struct sockmap_pair pair;
	int a, b, c, d;
};

/* --- helpers that fail loudly ---------------------------------------------------- */

static void lo_up(void)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	strcpy(ifr.ifr_name, "lo");
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

/*
 * Connected pair on 127.0.0.1, port 0: *cli is the connecting end, *srv the
 * accepted one. No asserts: also used in a forked child.
 */
static int tcp_pair(int *cli, int *srv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int l, err = -1;

	*cli = *srv = -1;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &len))
		goto out;
	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cli < 0 || connect(*cli, (struct sockaddr *)&sin, sizeof(sin)))
		goto out;
	*srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	err = *srv < 0 ? -1 : 0;
out:
	close(l);
	return err;
}

static void xtcp_pair(int *cli, int *srv)
{
	if (tcp_pair(cli, srv))
		fail_msg("loopback TCP connection: %s", strerror(errno));
}

static void xnonblock(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static int xpin_fd(const struct env *e, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", e->pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fail_msg("bpf_obj_get(%s): %s", path, strerror(errno));
	return fd;
}

static __u32 map_id(int fd)
{
	struct bpf_map_info mi = {0};
	__u32 len = sizeof(mi);

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &mi, &len), 0);
	return mi.id;
}

static void xopen(struct env *e)
{
	struct sockmap_opts o = {.pin_dir = e->pin_dir, .max_socks = 64, .unpin_on_close = true};
	int err = sockmap__open(&e->sm, &o);

	if (err)
		fail_msg("sockmap__open(%s): %s", e->pin_dir, strerror(-err));
}

static void xadd_pair(struct env *e)
{
	int err;

	e->pair = (struct sockmap_pair){.alloc_id = 7, .pair_id = 42};
	err = sockmap__add_pair(e->sm, &e->pair, e->b, e->c);
	if (err)
		fail_msg("sockmap__add_pair: %s", strerror(-err));
	assert_false(e->pair.parked_a);
	assert_false(e->pair.parked_b);
}

static struct kturn_sock_counters xcounters(struct env *e, __u64 cookie)
{
	struct kturn_sock_counters c;
	int err = sockmap__read_counters(e->sm, cookie, &c);

	if (err)
		fail_msg("sockmap__read_counters: %s", strerror(-err));
	return c;
}

/* --- the pattern: word i of a stream is i ^ seed, little endian ---------------------- */

static unsigned char pattern_byte(__u64 off, __u32 seed)
{
	__u32 w = (__u32)(off / 4) ^ seed;

	return (unsigned char)(w >> (8 * (off % 4)));
}

static void pattern_fill(unsigned char *buf, __u64 off, size_t len, __u32 seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(off + i, seed);
}

static void pattern_check(const unsigned char *buf, __u64 off, size_t len, __u32 seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_byte(off + i, seed))
			fail_msg("stream byte %llu is 0x%02x, expected 0x%02x",
				 (unsigned long long)(off + i), buf[i],
				 pattern_byte(off + i, seed));
}

/* Bytes [tx_off, end) go into tx_fd; bytes [rx_off, end) must come out of rx_fd. */
struct flow {
	int tx_fd, rx_fd;
	__u32 seed;
	__u64 tx_off, rx_off, end;
};

/* Run the flows at once until every byte arrived, each poll bounded by TIMEOUT_MS. */
static void run_flows(struct flow *f, int n)
{
	static unsigned char buf[CHUNK];
	struct pollfd pfd[4];
	int who[4];

	assert_true(n <= 2);
	for (;;) {
		int k = 0;

		for (int i = 0; i < n; i++) {
			if (f[i].tx_off < f[i].end) {
				pfd[k] = (struct pollfd){.fd = f[i].tx_fd, .events = POLLOUT};
				who[k++] = i;
			}
			if (f[i].rx_off < f[i].end) {
				pfd[k] = (struct pollfd){.fd = f[i].rx_fd, .events = POLLIN};
				who[k++] = i + 2;
			}
		}
		if (!k)
			return;
		if (poll(pfd, k, TIMEOUT_MS) <= 0)
			fail_msg("no progress for %d ms (flow 0 at %llu/%llu): redirect broken?",
				 TIMEOUT_MS, (unsigned long long)f[0].rx_off,
				 (unsigned long long)f[0].end);
		for (int j = 0; j < k; j++) {
			struct flow *fl = &f[who[j] % 2];
			ssize_t r;

			if (!pfd[j].revents)
				continue;
			if (who[j] < 2) {
				size_t len =
					fl->end - fl->tx_off < CHUNK ? fl->end - fl->tx_off : CHUNK;

				pattern_fill(buf, fl->tx_off, len, fl->seed);
				r = send(fl->tx_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
				if (r < 0 && errno != EAGAIN)
					fail_msg("send: %s", strerror(errno));
				if (r > 0)
					fl->tx_off += (size_t)r;
			} else {
				size_t len =
					fl->end - fl->rx_off < CHUNK ? fl->end - fl->rx_off : CHUNK;

				/* Never more than expected: extra bytes stay for assert_quiet(). */
				r = recv(fl->rx_fd, buf, len, MSG_DONTWAIT);
				if (r < 0 && errno != EAGAIN)
					fail_msg("recv: %s", strerror(errno));
				if (r == 0)
					fail_msg("unexpected EOF at %llu",
						 (unsigned long long)fl->rx_off);
				if (r > 0) {
					pattern_check(buf, fl->rx_off, (size_t)r, fl->seed);
					fl->rx_off += (size_t)r;
				}
			}
		}
	}
}

static void send_pattern(int fd, __u64 off, size_t len, __u32 seed)
{
	struct flow f = {.tx_fd = fd, .rx_fd = -1, .seed = seed, .tx_off = off, .end = off + len};

	/* A one-sided flow: rx already "complete". */
	f.rx_off = f.end;
	run_flows(&f, 1);
}

static void recv_pattern(int fd, __u64 off, size_t len, __u32 seed)
{
	struct flow f = {
		.tx_fd = -1, .rx_fd = fd, .seed = seed, .tx_off = off + len, .end = off + len};

	f.rx_off = off;
	run_flows(&f, 1);
}

/* Wait until fd has n bytes queued for reading. */
static void wait_inq(int fd, int n)
{
	for (int ms = 0; ms < TIMEOUT_MS; ms += 10) {
		int q = 0;

		assert_int_equal(ioctl(fd, SIOCINQ, &q), 0);
		if (q >= n)
			return;
		usleep(10000);
	}
	fail_msg("%d bytes never arrived", n);
}

/* Nothing to read on fd within ms (not even EOF). */
static void assert_quiet(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};

	assert_int_equal(poll(&p, 1, ms), 0);
}

/* --- fixtures ---------------------------------------------------------------------- */

static void rm_pin_dir(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static int setup(void **state)
{
	static unsigned int seq;
	struct env *e;

	if (skip_reason)
		return 0;
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->a = e->b = e->c = e->d = -1;
	snprintf(e->pin_dir, sizeof(e->pin_dir), "/sys/fs/bpf/kturn-test-%d-%u", (int)getpid(),
		 seq++);
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	lo_up();
	*state = e;
	return 0;
}

/* Setup plus the two connections and a loaded data plane. */
static int setup_relay(void **state)
{
	struct env *e;

	setup(state);
	if (skip_reason)
		return 0;
	e = *state;
	xtcp_pair(&e->a, &e->b);
	xtcp_pair(&e->d, &e->c);
	xnonblock(e->a);
	xnonblock(e->d);
	xopen(e);
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	for (int *fd = &e->a; fd <= &e->d; fd++)
		if (*fd >= 0)
			close(*fd);
	sockmap__close(e->sm);
	rm_pin_dir(e->pin_dir);
	free(e);
	*state = NULL;
	return 0;
}

#define SKIP_UNLESS_BPF()                                                                          \
	do {                                                                                       \
		if (skip_reason) {                                                                 \
			print_message("skipped: %s\n", skip_reason);                               \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* --- tests ------------------------------------------------------------------------- */

/*
 * 768 KiB each way at once, byte for byte; counters match via the API and the
 * pin. Below KTURN_HIGH_WATER on purpose: the partner's backlog can never
 * reach the mark, so the verdict never parks - nobody here would relay parked
 * bytes (kturnd's sockmap_pair does; 64 MiB bulk through it is tested in
 * tests/integ/test_rfc6062_netns.py).
 */
#define FLOW_BYTES (768 * 1024)
_Static_assert(FLOW_BYTES < KTURN_HIGH_WATER, "the verdict must never park here");

static void test_bidirectional(void **state)
{
	struct env *e = *state;
	struct kturn_sock_counters cb, cc, pinned, final[2];
	struct kturn_sock_link link;
	struct flow f[2];
	int cnt_fd, link_fd;

	SKIP_UNLESS_BPF();
	f[0] = (struct flow){.tx_fd = e->a, .rx_fd = e->d, .seed = 0xa5a50000, .end = FLOW_BYTES};
	f[1] = (struct flow){.tx_fd = e->d, .rx_fd = e->a, .seed = 0x5a5a0000, .end = FLOW_BYTES};
	xadd_pair(e);
	run_flows(f, 2);

	cb = xcounters(e, e->pair.cookie_a);
	cc = xcounters(e, e->pair.cookie_b);
	assert_int_equal(cb.fwd_bytes, FLOW_BYTES);
	assert_int_equal(cc.fwd_bytes, FLOW_BYTES);
	assert_true(cb.fwd_packets > 0 && cc.fwd_packets > 0);
	assert_int_equal(cb.redirect_fail + cc.redirect_fail, 0);
	assert_int_equal(cb.pass_bytes + cc.pass_bytes, 0);
	print_message("A->D: %llu bytes in %llu skbs; D->A: %llu bytes in %llu skbs\n",
		      (unsigned long long)cb.fwd_bytes, (unsigned long long)cb.fwd_packets,
		      (unsigned long long)cc.fwd_bytes, (unsigned long long)cc.fwd_packets);

	/* What kturnctl or bpftool see: the pinned maps, by cookie. */
	cnt_fd = xpin_fd(e, KTURN_MAP_SOCK_CNT);
	assert_int_equal(bpf_map_lookup_elem(cnt_fd, &e->pair.cookie_a, &pinned), 0);
	assert_memory_equal(&pinned, &cb, sizeof(pinned));
	link_fd = xpin_fd(e, KTURN_MAP_LINK);
	assert_int_equal(bpf_map_lookup_elem(link_fd, &e->pair.cookie_b, &link), 0);
	assert_true(link.partner_cookie == e->pair.cookie_a);
	assert_int_equal(link.pair_id, 42);
	assert_int_equal(link.alloc_id, 7);
	assert_int_equal(link.flags, KTURN_LINK_F_SIDE_B);

	/* Nothing extra arrived, then removal hands back the final counters. */
	assert_quiet(e->a, 50);
	assert_quiet(e->d, 50);
	assert_int_equal(sockmap__remove_pair(e->sm, &e->pair, final), 0);
	assert_memory_equal(&final[0], &cb, sizeof(cb));
	assert_memory_equal(&final[1], &cc, sizeof(cc));
	assert_int_equal(sockmap__read_counters(e->sm, e->pair.cookie_a, &cb), -ENOENT);
	assert_int_not_equal(bpf_map_lookup_elem(link_fd, &e->pair.cookie_a, &link), 0);
	close(cnt_fd);
	close(link_fd);
}

/*
 * Bytes A sent before the pair existed wait in B's receive queue; the
 * SO_RCVLOWAT kick in add_pair forwards them first and in order.
 */
static void test_queued_before_splice(void **state)
{
	struct env *e = *state;
	const __u32 seed = 0x11110000;
	const int early = 100000;

	SKIP_UNLESS_BPF();
	send_pattern(e->a, 0, early, seed);
	wait_inq(e->b, early);
	xadd_pair(e);
	/* Without the kick D would wait for A's next segment: don't send one yet. */
	recv_pattern(e->d, 0, early, seed);
	send_pattern(e->a, early, MIB, seed);
	recv_pattern(e->d, early, MIB, seed);
	assert_quiet(e->d, 50);
	assert_int_equal(xcounters(e, e->pair.cookie_a).fwd_bytes, early + MIB);
}

/*
 * ConnectionBind: userspace reads the first bytes (the STUN message) of what
 * is queued. The kernel would forward the head skb from its start, read bytes
 * included, so add_pair refuses (-EBUSY) while bytes are queued behind read
 * ones; once userspace has read the queue dry, splicing is exact.
 */
static void test_partly_read_before_splice(void **state)
{
	struct env *e = *state;
	const __u32 seed = 0x22220000;
	const int early = 100000, consumed = 100;
	struct kturn_sock_counters cb;
	__u64 cookie;

	SKIP_UNLESS_BPF();
	send_pattern(e->a, 0, early, seed);
	wait_inq(e->b, early);
	recv_pattern(e->b, 0, consumed, seed);
	e->pair = (struct sockmap_pair){.pair_id = 42};
	assert_int_equal(sockmap__add_pair(e->sm, &e->pair, e->b, e->c), -EBUSY);
	assert_int_equal(sockmap__sock_cookie(e->b, &cookie), 0);
	assert_int_equal(sockmap__read_counters(e->sm, cookie, &cb), -ENOENT);

	/* Userspace takes the rest (it would write it to C itself), then splices. */
	xnonblock(e->b);
	recv_pattern(e->b, consumed, early - consumed, seed);
	xadd_pair(e);
	send_pattern(e->a, early, MIB, seed);
	recv_pattern(e->d, early, MIB, seed);
	assert_quiet(e->d, 50);
	cb = xcounters(e, e->pair.cookie_a);
	assert_int_equal(cb.fwd_bytes, MIB);
}

/*
 * FIN: the verdict passes the 0-length skb instead of redirecting it, so B
 * sees the half-close (EOF) and D does not until userspace forwards it;
 * the other direction keeps flowing.
 */
static void test_fin_not_redirected(void **state)
{
	struct env *e = *state;
	const __u32 seed = 0x33330000;
	struct pollfd p;
	struct kturn_sock_counters cb;
	char byte;

	SKIP_UNLESS_BPF();
	xadd_pair(e);
	send_pattern(e->a, 0, MIB, seed);
	recv_pattern(e->d, 0, MIB, seed);
	assert_int_equal(shutdown(e->a, SHUT_WR), 0);

	/* B: EOF is visible to userspace. */
	p = (struct pollfd){.fd = e->b, .events = POLLIN | POLLRDHUP};
	assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
	assert_true(p.revents & POLLRDHUP);
	assert_int_equal(recv(e->b, &byte, 1, MSG_DONTWAIT), 0);
	cb = xcounters(e, e->pair.cookie_a);
	print_message("B after A's FIN: revents 0x%x, recv 0, pass_packets %llu pass_bytes %llu\n",
		      p.revents, (unsigned long long)cb.pass_packets,
		      (unsigned long long)cb.pass_bytes);
	assert_int_equal(cb.fwd_bytes, MIB);
	assert_int_equal(cb.redirect_fail, 0);
	/* The FIN came alone (all data was already forwarded): one empty skb, passed. */
	assert_int_equal(cb.pass_packets, 1);
	assert_int_equal(cb.pass_bytes, 0);

	/* D: no EOF, the FIN was not forwarded. */
	assert_quiet(e->d, 200);

	/* Half-close: D -> A still works through the pair. */
	send_pattern(e->d, 0, MIB, seed + 1);
	recv_pattern(e->a, 0, MIB, seed + 1);

	/* Userspace forwards the half-close once C has nothing queued: D sees EOF. */
	assert_int_equal(shutdown(e->c, SHUT_WR), 0);
	p = (struct pollfd){.fd = e->d, .events = POLLIN};
	assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
	assert_int_equal(recv(e->d, &byte, 1, MSG_DONTWAIT), 0);
}

/*
 * A failed redirect (partner not in the redirect-target map, kturn_sock_tx)
 * parks the bytes on the receiving socket, and every later byte too, even
 * once the partner is back: userspace reads them all, in order; nothing
 * reaches D.
 */
static void test_redirect_fail_parks_in_order(void **state)
{
	struct env *e = *state;
	const __u32 seed = 0x44440000;
	struct kturn_sock_counters cb;
	__u64 fd_c;
	int hash_fd;

	SKIP_UNLESS_BPF();
	xadd_pair(e);
	hash_fd = xpin_fd(e, KTURN_MAP_SOCK_TX);
	assert_int_equal(bpf_map_delete_elem(hash_fd, &e->pair.cookie_b), 0);

	send_pattern(e->a, 0, 1000, seed);
	xnonblock(e->b);
	recv_pattern(e->b, 0, 1000, seed);
	cb = xcounters(e, e->pair.cookie_a);
	assert_true(cb.redirect_fail >= 1);
	assert_int_equal(cb.pass_bytes, 1000);
	assert_int_equal(cb.fwd_bytes, 0);

	fd_c = (__u64)e->c;
	assert_int_equal(bpf_map_update_elem(hash_fd, &e->pair.cookie_b, &fd_c, BPF_NOEXIST), 0);
	send_pattern(e->a, 1000, 1000, seed);
	recv_pattern(e->b, 1000, 1000, seed);
	assert_quiet(e->d, 100);
	cb = xcounters(e, e->pair.cookie_a);
	assert_int_equal(cb.pass_bytes, 2000);
	assert_int_equal(cb.fwd_bytes, 0);
	close(hash_fd);
}

static int pin_info(const char *dir, enum bpf_map_type type, __u32 version)
{
	struct kturn_info info = {.abi_version = version, .owner_pid = 1};
	char path[PATH_MAX];
	__u32 key = 0;
	int fd;

	fd = bpf_map_create(type, KTURN_MAP_INFO, sizeof(key), sizeof(info), 1, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &key, &info, BPF_ANY), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, KTURN_MAP_INFO);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	return fd;
}

static struct kturn_info read_info(struct env *e)
{
	struct kturn_info info;
	__u32 key = 0;
	int fd = xpin_fd(e, KTURN_MAP_INFO);

	assert_int_equal(bpf_map_lookup_elem(fd, &key, &info), 0);
	close(fd);
	return info;
}

/* Pinned maps of another ABI version (or layout) are refused unless told to clean. */
static void test_abi_mismatch(void **state)
{
	struct env *e = *state;
	struct sockmap_opts o = {.pin_dir = e ? e->pin_dir : NULL, .unpin_on_close = true};
	struct kturn_info info;
	int old;

	SKIP_UNLESS_BPF();
	assert_int_equal(mkdir(e->pin_dir, 0700), 0);
	old = pin_info(e->pin_dir, BPF_MAP_TYPE_ARRAY, KTURN_BPF_ABI_VERSION + 1);
	assert_int_equal(sockmap__open(&e->sm, &o), -EPROTO);
	assert_null(e->sm);
	info = read_info(e); /* left alone */
	assert_int_equal(info.abi_version, KTURN_BPF_ABI_VERSION + 1);

	o.clean_incompatible = true;
	assert_int_equal(sockmap__open(&e->sm, &o), 0);
	info = read_info(e);
	assert_int_equal(info.abi_version, KTURN_BPF_ABI_VERSION);
	assert_int_equal(info.owner_pid, getpid());
	sockmap__close(e->sm);
	e->sm = NULL;
	close(old);

	/* Right version number, wrong map type: another layout, refused as well. */
	mkdir(e->pin_dir, 0700);
	old = pin_info(e->pin_dir, BPF_MAP_TYPE_HASH, KTURN_BPF_ABI_VERSION);
	o.clean_incompatible = false;
	assert_int_equal(sockmap__open(&e->sm, &o), -EPROTO);
	close(old);
}

/*
 * A killed instance leaves its pins (and counter entries) behind: the next
 * open removes them. A live instance's pins are refused.
 */
static void test_stale_pins_cleaned(void **state)
{
	struct env *e = *state;
	struct sockmap_opts o = {.pin_dir = e ? e->pin_dir : NULL, .unpin_on_close = true};
	struct sockmap *second = NULL;
	struct kturn_info info;
	__u64 key, next;
	int status, fd, old_cnt;
	pid_t pid;

	SKIP_UNLESS_BPF();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The previous instance: splice a pair, then die without cleaning up. */
		struct sockmap_pair pair = {.pair_id = 1};
		struct sockmap *sm;
		int a, b, c, d;

		if (tcp_pair(&a, &b) || tcp_pair(&d, &c) ||
		    sockmap__open(&sm, &(struct sockmap_opts){.pin_dir = e->pin_dir}) ||
		    sockmap__add_pair(sm, &pair, b, c))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	info = read_info(e);
	assert_int_equal(info.owner_pid, pid);
	old_cnt = xpin_fd(e, KTURN_MAP_SOCK_CNT);
	assert_int_equal(bpf_map_get_next_key(old_cnt, NULL, &key), 0); /* stale entries */

	assert_int_equal(sockmap__open(&e->sm, &o), 0);
	info = read_info(e);
	assert_int_equal(info.owner_pid, getpid());
	fd = xpin_fd(e, KTURN_MAP_SOCK_CNT);
	assert_int_not_equal(map_id(fd), map_id(old_cnt));
	assert_int_equal(bpf_map_get_next_key(fd, NULL, &next), -ENOENT);
	close(fd);
	close(old_cnt);

	/* Ours now, and we are alive: a second instance must keep off. */
	assert_int_equal(sockmap__open(&second, &o), -EBUSY);
	assert_null(second);
	info = read_info(e);
	assert_int_equal(info.owner_pid, getpid());
}

/* An instance that died while pinning (no info map yet) left debris: cleaned too. */
static void test_half_pinned_cleaned(void **state)
{
	struct env *e = *state;
	char path[PATH_MAX];
	int fd, old;

	SKIP_UNLESS_BPF();
	assert_int_equal(mkdir(e->pin_dir, 0700), 0);
	old = bpf_map_create(BPF_MAP_TYPE_HASH, KTURN_MAP_LINK, 8, 8, 1, NULL);
	assert_true(old >= 0);
	snprintf(path, sizeof(path), "%s/%s", e->pin_dir, KTURN_MAP_LINK);
	assert_int_equal(bpf_obj_pin(old, path), 0);
	xopen(e);
	fd = xpin_fd(e, KTURN_MAP_LINK);
	assert_int_not_equal(map_id(fd), map_id(old));
	close(fd);
	close(old);
}

/*
 * On a fresh machine bpffs is not mounted: open mounts it. Tried in a private
 * mount namespace where /sys/fs/bpf was unmounted (runs last: the process
 * stays in that namespace).
 */
static void test_mounts_bpffs(void **state)
{
	struct env *e = *state;
	struct statfs st;

	SKIP_UNLESS_BPF();
	assert_int_equal(unshare(CLONE_NEWNS), 0);
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	while (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		assert_int_equal(umount2("/sys/fs/bpf", MNT_DETACH), 0);

	xopen(e);
	assert_int_equal(statfs("/sys/fs/bpf", &st), 0);
	assert_true(st.f_type == BPF_FS_MAGIC);
	assert_int_equal(access(e->pin_dir, F_OK), 0);
}

static int group_setup(void **state)
{
	int fd;

	if (geteuid() != 0) {
		skip_reason = "needs root (BPF maps, netns)";
		return 0;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, NULL, 8, 8, 1, NULL);
	if (fd < 0) {
		skip_reason = "kernel refuses a SOCKHASH map (no BPF sockmap support?)";
		return 0;
	}
	close(fd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bidirectional, setup_relay, teardown),
		cmocka_unit_test_setup_teardown(test_queued_before_splice, setup_relay, teardown),
		cmocka_unit_test_setup_teardown(test_partly_read_before_splice, setup_relay,
						teardown),
		cmocka_unit_test_setup_teardown(test_fin_not_redirected, setup_relay, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_fail_parks_in_order, setup_relay,
						teardown),
		cmocka_unit_test_setup_teardown(test_abi_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_pins_cleaned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_pinned_cleaned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mounts_bpffs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
