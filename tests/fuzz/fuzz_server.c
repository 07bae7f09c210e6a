// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the whole server: the real listeners (user/net
 * server.c, tcp_client.c), event loop (loop.c), STUN dispatch, every TURN
 * method with long-term auth, the UDP relay, RFC 6062 TCP relay and the
 * splice() data plane, on top of an in-memory fake of the kernel.
 *
 * Fake I/O: the binary is linked with -Wl,--wrap=<syscall> for every call
 * these modules make (socket, bind, listen, accept4, connect, recv, send,
 * sendto, sendmmsg, recvmmsg, setsockopt, getsockopt, shutdown, close,
 * fcntl, splice, pipe2, epoll_*, eventfd, read, write); clock_gettime,
 * time, getrandom, RAND_bytes and arc4random_uniform are renamed with -D
 * (see fuzz_clock_gettime below).
 * While a test input runs (g.active), descriptors at FAKE_FD_BASE and above
 * are fake sockets held in g.fd[]; anything else (libFuzzer's own files,
 * the log on /dev/null) goes to the real call. The clock is fake too: it
 * moves only when the input says so, so lifetimes, permissions, channels,
 * connect and ConnectionBind timeouts expire deterministically. Randomness
 * (nonce key, transaction ids, port choice, hash keys) comes from a PRNG
 * reset per input.
 *
 * The loop is the real loop__run(): the fake epoll_wait() returns the fake
 * descriptors that are ready (level-triggered, like the kernel); when none
 * is, it applies the next operation of the input, and at the end of the
 * input it stops the loop. Then everything is freed: a leak is a finding
 * (LeakSanitizer), and so is a fake descriptor still open after
 * server__free/turn_shared__free.
 *
 * Input: one flags byte (FINGERPRINT on responses, a user quota of 1,
 * max-bps, channel numbers limited to RFC 5766, an IPv6 relay address
 * offered, two workers: two servers on the one loop sharing the TURN state,
 * so a ConnectionBind that lands on the other worker is handed over through
 * its mailbox), then operations, one opcode byte each (modulo OP_COUNT):
 *
 *   OP_UDP       c len16 bytes   datagram from client c to the UDP listener
 *   OP_UDP_SIGN  c len16 bytes   same, but a STUN request is re-signed first
 *   OP_TCP_OPEN  c               client c opens a TCP connection to the listener
 *   OP_TCP       k len16 bytes   bytes arrive on TCP connection k (client or peer side)
 *   OP_TCP_SIGN  k len16 bytes   same, re-signed
 *   OP_CLOCK     v16             advance the clock: v>>1 seconds if v&1, else v>>1 ms
 *   OP_PEER_UDP  r p len16 bytes peer p sends a datagram to UDP relay socket r
 *   OP_CLOSE     k how           remote closes connection k (how&1: RST, else FIN)
 *   OP_PEER_TCP  r p             peer p connects to TCP relay listener r
 *   OP_CONNECTED k ok            outgoing connect k completes (ok&1) or is refused
 *   OP_BLOCK     k               toggle: connection k's remote stops/starts reading
 *
 * Indices are taken modulo the number of matching live objects; a short
 * input reads as zeros. "Re-signed": if the bytes parse as a STUN message,
 * it is rebuilt with its visible attributes minus USERNAME, USERHASH, REALM,
 * NONCE, PASSWORD-ALGORITHM(S), the integrity attributes and FINGERPRINT,
 * then USERNAME "fuzz", REALM, a NONCE of the server valid now for that
 * client, and MESSAGE-INTEGRITY with the user's key (plus FINGERPRINT if the
 * original had one) are appended. So the fuzzer never has to forge an HMAC
 * (and nonces stay valid however far the clock moves), while OP_UDP/OP_TCP
 * still reach every authentication failure path.
 *
 * Checks beyond the sanitizers: every datagram the listener sends a client
 * parses as STUN (FINGERPRINT correct when present) or as ChannelData; the
 * byte stream a TCP client receives frames as STUN/ChannelData until the
 * data plane writes raw peer bytes to it; every response carries a
 * transaction id some client sent; after every operation the shared
 * allocation count equals the workers' allocations (0 after teardown); the
 * loop goes idle once the input stops (no busy loop); every fake descriptor
 * is closed once the server is freed.
 *
 * Global state: g (the fake kernel, reset per input) and the log level
 * set once (log__open to /dev/null, debug) - libFuzzer gives no other
 * place to keep the wrappers' state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/rand.h>

#include "kturn/auth.h"
#include "kturn/conf.h"
#include "kturn/log.h"
#include "kturn/loop.h"
#include "kturn/peer_filter.h"
#include "kturn/server.h"
#include "kturn/stun.h"
#include "kturn/turn.h"

#include "fuzz.h"
#include "../../user/auth/auth_int.h"     /* nonce__make: signed with the server's own nonces */
#include "../../user/net/server_priv.h" /* struct server: its worker's turn_server */

#define FAKE_FD_BASE 0x40000000
#define NFD	     128
#define RX_MAX	     (256 * 1024) /* bytes a fake TCP socket holds unread */
#define UDP_QMAX     64		  /* datagrams a fake UDP socket holds */
#define PIPE_CAP     65536
#define CHECK_MAX    (64 * 1024) /* client stream bytes kept for the framing check */
#define SPIN_MAX     2000	 /* ready batches in a row with no op between: a busy loop */
#define WALL_BASE    1800000000ull
#define TID_RING     1024
#define LISTEN_PORT  3478
#define REALM	     "fuzz.realm"
#define USER	     "fuzz"
#define PASS	     "fuzz-pw"

enum kind { K_FREE, K_EPOLL, K_EVENTFD, K_UDP, K_TCP, K_LISTEN, K_PIPE_R, K_PIPE_W };

struct dgram {
	struct dgram *next;
	struct sockaddr_storage from;
	size_t len;
	uint8_t data[];
};

struct fsock {
	enum kind kind;
	int family;
	bool bound;
	struct sockaddr_storage local, remote;
	bool watched; /* registered with the (one) epoll instance */
	uint32_t ev;
	epoll_data_t data;
	/* UDP */
	struct dgram *qh, *qt;
	unsigned qn;
	/* TCP */
	uint8_t *rx; /* also the pipe buffer for K_PIPE_R */
	size_t rx_len, rx_cap;
	bool pending;	 /* in a listener's backlog, not accepted yet */
	int listener;	 /* backlog owner while pending */
	bool connecting; /* connect() in progress, outcome not decided */
	bool connected;
	bool eof, rst, blocked, wr_shut;
	int so_error;
	bool client; /* accepted from the TURN listener: the stream is checked */
	bool raw;    /* the data plane wrote to it: no more framing check */
	uint8_t *chk;
	size_t chk_len;
	uint8_t tail[4 + STUN_TID_LEN - 1]; /* last bytes pushed: a cookie + tid split over ops */
	size_t tail_len;
	/* eventfd */
	uint64_t counter;
	/* pipe write end: index of the read end */
	int peer;
};

static struct {
	bool active;
	uint64_t now_ms;
	uint64_t rng;
	const uint8_t *p;
	size_t n;
	struct loop *loop;
	struct auth *auth;
	struct fsock fd[NFD];
	int hi; /* slots at or above are free: loops stop there */
	unsigned spins;
	uint16_t next_port;
	struct turn_shared *sh;
	struct server *srv[2];
	/* transaction ids seen in anything sent to the server (responses must echo one) */
	uint8_t tids[TID_RING][STUN_TID_LEN];
	unsigned n_tids;
	uint8_t sig[STUN_MAX_MSG_LEN + 256];
} g;

/* --- helpers ---------------------------------------------------------- */

static uint8_t in_u8(void)
{
	if (!g.n)
		return 0;
	g.n--;
	return *g.p++;
}

static uint16_t in_u16(void)
{
	return (uint16_t)(in_u8() << 8 | in_u8());
}

static const uint8_t *in_bytes(size_t *len)
{
	const uint8_t *p;

	*len = in_u16();
	if (*len > g.n)
		*len = g.n;
	p = g.p;
	g.p += *len;
	g.n -= *len;
	return p;
}

static uint64_t rnd(void)
{
	/* splitmix64: deterministic per input */
	uint64_t z = (g.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct fsock *fake(int fd)
{
	if (!g.active || fd < FAKE_FD_BASE || fd >= FAKE_FD_BASE + NFD)
		return NULL;
	return &g.fd[fd - FAKE_FD_BASE];
}

static int fd_of(const struct fsock *s)
{
	return FAKE_FD_BASE + (int)(s - g.fd);
}

static struct fsock *slot_new(enum kind k)
{
	for (int i = 0; i < NFD; i++) /* lowest free, as the kernel does */
		if (g.fd[i].kind == K_FREE) {
			memset(&g.fd[i], 0, sizeof(g.fd[i]));
			g.fd[i].kind = k;
			g.fd[i].listener = -1;
			g.fd[i].peer = -1;
			if (i >= g.hi)
				g.hi = i + 1;
			return &g.fd[i];
		}
	return NULL;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

static void set_addr4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s->sin_addr);
}

/* Clients 192.0.2.1-2, ports 40000-40003; peers 198.51.100.1-2, ports 5000-5003. */
static void client_addr(struct sockaddr_storage *ss, unsigned c, uint16_t port)
{
	set_addr4(ss, (c & 2) ? "192.0.2.2" : "192.0.2.1", port ? port : (uint16_t)(40000 + c));
}

static void peer_addr(struct sockaddr_storage *ss, unsigned p)
{
	set_addr4(ss, (p & 2) ? "198.51.100.2" : "198.51.100.1", (uint16_t)(5000 + (p & 3)));
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
					 : ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static bool is_listener_udp(const struct fsock *s)
{
	return s->kind == K_UDP && port_of(&s->local) == LISTEN_PORT;
}

static bool is_turn_listen(const struct fsock *s)
{
	return s->kind == K_LISTEN && port_of(&s->local) == LISTEN_PORT;
}

/* The k-th (modulo their number) live fake socket matching pred. */
static struct fsock *pick(unsigned k, bool (*pred)(const struct fsock *))
{
	unsigned n = 0;

	for (int i = 0; i < g.hi; i++)
		n += pred(&g.fd[i]);
	if (!n)
		return NULL;
	k %= n;
	for (int i = 0; i < g.hi; i++)
		if (pred(&g.fd[i]) && !k--)
			return &g.fd[i];
	return NULL;
}

static bool is_tcp(const struct fsock *s)
{
	return s->kind == K_TCP && (s->pending || s->connected);
}

static bool is_relay_udp(const struct fsock *s)
{
	return s->kind == K_UDP && !is_listener_udp(s);
}

static bool is_relay_listen(const struct fsock *s)
{
	return s->kind == K_LISTEN && !is_turn_listen(s);
}

static bool is_connecting(const struct fsock *s)
{
	return s->kind == K_TCP && s->connecting;
}

static void free_slot(struct fsock *s)
{
	while (s->qh) {
		struct dgram *d = s->qh;

		s->qh = d->next;
		free(d);
	}
	free(s->rx);
	free(s->chk);
	if (s->kind == K_PIPE_R)
		for (int i = 0; i < g.hi; i++)
			if (g.fd[i].kind == K_PIPE_W && g.fd[i].peer == (int)(s - g.fd))
				g.fd[i].peer = -1;
	if (s->kind == K_LISTEN)
		for (int i = 0; i < g.hi; i++)
			if (g.fd[i].pending && g.fd[i].listener == (int)(s - g.fd))
				free_slot(&g.fd[i]);
	memset(s, 0, sizeof(*s));
}

/* --- checks on what the server sends ----------------------------------- */

/* Every 12 bytes behind a magic cookie in what clients send may be a transaction id. */
static void note_tids(const uint8_t *p, size_t len)
{
	static const uint8_t cookie[4] = {0x21, 0x12, 0xA4, 0x42};

	for (size_t i = 4; i + 4 + STUN_TID_LEN <= len; i++)
		if (!memcmp(p + i, cookie, 4))
			memcpy(g.tids[g.n_tids++ % TID_RING], p + i + 4, STUN_TID_LEN);
}

/* The same over a stream, whose messages the input may split anywhere. */
static void note_stream_tids(struct fsock *s, const uint8_t *p, size_t len)
{
	uint8_t *all = malloc(sizeof(s->tail) + len + 4);
	size_t n = s->tail_len + len, keep;

	CHECK(all);
	memset(all, 0, 4); /* note_tids looks for the cookie from offset 4 */
	memcpy(all + 4, s->tail, s->tail_len);
	memcpy(all + 4 + s->tail_len, p, len);
	note_tids(all, n + 4);
	keep = n < sizeof(s->tail) ? n : sizeof(s->tail);
	memcpy(s->tail, all + 4 + n - keep, keep);
	s->tail_len = keep;
	free(all);
}

static bool tid_seen(const uint8_t *tid)
{
	unsigned n = g.n_tids < TID_RING ? g.n_tids : TID_RING;

	for (unsigned i = 0; i < n; i++)
		if (!memcmp(g.tids[i], tid, STUN_TID_LEN))
			return true;
	return false;
}

/* FUZZ_SERVER_TRACE=1 in the environment: what the server sends, on stderr (seed checks). */
static int trace = -1;

static void trace_msg(const char *where, const struct stun_msg *m, size_t len)
{
	struct stun_attr a;
	const char *reason;
	uint32_t cid = 0;
	size_t rlen = 0;
	int code = 0;

	if (trace < 0)
		trace = getenv("FUZZ_SERVER_TRACE") != NULL;
	if (!trace)
		return;
	if (m && stun_msg__find(m, STUN_ATTR_ERROR_CODE, &a))
		stun_attr__error(&a, &code, &reason, &rlen);
	if (m && stun_msg__find(m, STUN_ATTR_CONNECTION_ID, &a))
		stun_attr__u32(&a, &cid);
	if (m)
		fprintf(stderr,
			"trace t=%llu %s stun method=0x%03x class=%d len=%zu cid=%u error=%d %.*s\n",
			(unsigned long long)g.now_ms, where, m->method, (int)m->cls, len, cid, code,
			(int)rlen, code ? reason : "");
	else
		fprintf(stderr, "trace t=%llu %s data len=%zu\n", (unsigned long long)g.now_ms,
			where, len);
}

static void check_stun(const char *where, const uint8_t *p, size_t len)
{
	struct stun_msg m;

	CHECK(stun_msg__parse(&m, p, len) == 0);
	if (m.fp_off)
		CHECK(stun_msg__check_fingerprint(&m) == 0);
	/* a response answers a request some client sent */
	if (m.cls == STUN_SUCCESS || m.cls == STUN_ERROR)
		CHECK(tid_seen(m.tid));
	trace_msg(where, &m, len);
}

/* A datagram from the listener to a client: STUN or ChannelData. */
static void check_to_client(const uint8_t *p, size_t len)
{
	const uint8_t *payload;
	uint16_t ch;
	size_t n;

	if (len >= 4 && (p[0] & 0xC0) == 0x40) {
		CHECK(stun_channel__parse(p, len, false, &ch, &payload, &n) == 0);
		trace_msg("udp>client channeldata", NULL, len);
		return;
	}
	check_stun("udp>client", p, len);
}

/* Bytes written to a client's TCP connection: whole frames, each valid. */
static void check_stream(struct fsock *s, const uint8_t *p, size_t len)
{
	struct stun_frame f;

	if (!s->client || s->raw)
		return;
	if (!s->chk)
		s->chk = malloc(CHECK_MAX);
	CHECK(s->chk);
	if (len > CHECK_MAX - s->chk_len) {
		s->raw = true; /* too much to keep: stop checking this one */
		return;
	}
	memcpy(s->chk + s->chk_len, p, len);
	s->chk_len += len;
	for (;;) {
		enum stun_frame_status st = stun_frame__next(s->chk, s->chk_len, CHECK_MAX, &f);

		CHECK(st != STUN_FRAME_INVALID);
		if (st == STUN_FRAME_NEED)
			return;
		if (f.kind == STUN_FRAME_STUN)
			check_stun("tcp>client", s->chk, f.len);
		else
			trace_msg("tcp>client channeldata", NULL, f.len);
		memmove(s->chk, s->chk + f.len, s->chk_len - f.len);
		s->chk_len -= f.len;
	}
}

/* --- the wrapped calls ---------------------------------------------------- */

#define REAL(ret, name, ...) ret __real_##name(__VA_ARGS__)
REAL(int, socket, int, int, int);
REAL(int, bind, int, const struct sockaddr *, socklen_t);
REAL(int, listen, int, int);
REAL(int, accept4, int, struct sockaddr *, socklen_t *, int);
REAL(int, connect, int, const struct sockaddr *, socklen_t);
REAL(ssize_t, recv, int, void *, size_t, int);
REAL(ssize_t, send, int, const void *, size_t, int);
REAL(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t);
REAL(int, sendmmsg, int, struct mmsghdr *, unsigned int, int);
REAL(int, recvmmsg, int, struct mmsghdr *, unsigned int, int, struct timespec *);
REAL(int, setsockopt, int, int, int, const void *, socklen_t);
REAL(int, getsockopt, int, int, int, void *, socklen_t *);
REAL(int, shutdown, int, int);
REAL(int, close, int);
REAL(int, fcntl, int, int, ...);
REAL(int, pipe2, int *, int);
REAL(ssize_t, splice, int, loff_t *, int, loff_t *, size_t, unsigned int);
REAL(int, epoll_create1, int);
REAL(int, epoll_ctl, int, int, int, struct epoll_event *);
REAL(int, epoll_wait, int, struct epoll_event *, int, int);
REAL(int, eventfd, unsigned int, int);
REAL(ssize_t, read, int, void *, size_t);
REAL(ssize_t, write, int, const void *, size_t);

#define WRAP(ret, name, ...)                                                                       \
	ret __wrap_##name(__VA_ARGS__);                                                            \
	ret __wrap_##name(__VA_ARGS__)

WRAP(int, socket, int domain, int type, int proto)
{
	struct fsock *s;

	if (!g.active)
		return __real_socket(domain, type, proto);
	s = slot_new((type & 0xf) == SOCK_DGRAM ? K_UDP : K_TCP);
	if (!s)
		return fail(EMFILE);
	s->family = domain;
	return fd_of(s);
}

static bool same_bound(const struct fsock *a, const struct fsock *b)
{
	return a != b && b->bound && (a->kind == K_UDP) == (b->kind == K_UDP) &&
	       b->kind != K_FREE && a->local.ss_family == b->local.ss_family &&
	       port_of(&a->local) == port_of(&b->local);
}

WRAP(int, bind, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_bind(fd, sa, len);
	CHECK(len <= sizeof(s->local) && !s->bound);
	memcpy(&s->local, sa, len);
	if (!port_of(&s->local)) {
		uint16_t port = (uint16_t)(32768 + g.next_port++ % 1000);

		if (sa->sa_family == AF_INET6)
			((struct sockaddr_in6 *)&s->local)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&s->local)->sin_port = htons(port);
	}
	/*
	 * UDP relay ports come from the pool and must be unique; TCP relay
	 * sockets share theirs, the workers' listeners (SO_REUSEPORT) too.
	 */
	if (s->kind == K_UDP && port_of(&s->local) != LISTEN_PORT)
		for (int i = 0; i < g.hi; i++)
			if (same_bound(s, &g.fd[i]))
				return fail(EADDRINUSE);
	s->bound = true;
	return 0;
}

WRAP(int, listen, int fd, int backlog)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_listen(fd, backlog);
	CHECK(s->kind == K_TCP && s->bound);
	s->kind = K_LISTEN;
	return 0;
}

WRAP(int, accept4, int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_accept4(fd, sa, len, flags);
	CHECK(s->kind == K_LISTEN);
	for (int i = 0; i < g.hi; i++)
		if (g.fd[i].pending && g.fd[i].listener == (int)(s - g.fd)) {
			struct fsock *c = &g.fd[i];
			socklen_t n = sizeof(struct sockaddr_in);

			c->pending = false;
			c->listener = -1;
			if (sa && len) {
				memcpy(sa, &c->remote, *len < n ? *len : n);
				*len = n;
			}
			return fd_of(c);
		}
	return fail(EAGAIN);
}

WRAP(int, connect, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_connect(fd, sa, len);
	CHECK(s->kind == K_TCP && len <= sizeof(s->remote));
	memcpy(&s->remote, sa, len);
	s->connecting = true;
	return fail(EINPROGRESS);
}

WRAP(ssize_t, recv, int fd, void *p, size_t len, int flags)
{
	struct fsock *s = fake(fd);
	size_t n;

	if (!s)
		return __real_recv(fd, p, len, flags);
	CHECK(s->kind == K_TCP);
	if (s->rst)
		return fail(ECONNRESET);
	if (!s->rx_len)
		return s->eof ? 0 : fail(EAGAIN);
	n = len < s->rx_len ? len : s->rx_len;
	memcpy(p, s->rx, n);
	memmove(s->rx, s->rx + n, s->rx_len - n);
	s->rx_len -= n;
	return (ssize_t)n;
}

/* What a fake TCP socket accepts from the server now: bytes, or -1 with errno. */
static ssize_t tcp_room(struct fsock *s, size_t len)
{
	if (s->kind != K_TCP || !s->connected)
		return fail(s->kind == K_TCP ? ENOTCONN : ENOTSOCK);
	if (s->rst)
		return fail(ECONNRESET);
	if (s->wr_shut)
		return fail(EPIPE);
	if (s->blocked)
		return fail(EAGAIN);
	return (ssize_t)(len < 65536 ? len : 65536);
}

WRAP(ssize_t, send, int fd, const void *p, size_t len, int flags)
{
	struct fsock *s = fake(fd);
	ssize_t n;

	if (!s)
		return __real_send(fd, p, len, flags);
	n = tcp_room(s, len);
	if (n > 0 && !s->client)
		trace_msg("tcp>peer", NULL, (size_t)n);
	if (n > 0)
		check_stream(s, p, (size_t)n);
	return n;
}

WRAP(ssize_t, sendto, int fd, const void *p, size_t len, int flags, const struct sockaddr *sa,
     socklen_t alen)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_sendto(fd, p, len, flags, sa, alen);
	CHECK(s->kind == K_UDP && sa && len <= 65535);
	if (is_listener_udp(s))
		check_to_client(p, len);
	return (ssize_t)len;
}

WRAP(int, sendmmsg, int fd, struct mmsghdr *v, unsigned int vlen, int flags)
{
	struct fsock *s = fake(fd);
	uint8_t buf[65536];

	if (!s)
		return __real_sendmmsg(fd, v, vlen, flags);
	CHECK(s->kind == K_UDP && vlen > 0);
	for (unsigned i = 0; i < vlen; i++) {
		const struct msghdr *h = &v[i].msg_hdr;
		size_t len = 0;

		CHECK(h->msg_name && h->msg_namelen >= sizeof(struct sockaddr_in));
		for (size_t j = 0; j < h->msg_iovlen; j++) {
			CHECK(len + h->msg_iov[j].iov_len <= sizeof(buf));
			memcpy(buf + len, h->msg_iov[j].iov_base, h->msg_iov[j].iov_len);
			len += h->msg_iov[j].iov_len;
		}
		if (is_listener_udp(s))
			check_to_client(buf, len);
		else
			trace_msg("relay>peer", NULL, len);
		v[i].msg_len = (unsigned)len;
	}
	return (int)vlen;
}

WRAP(int, recvmmsg, int fd, struct mmsghdr *v, unsigned int vlen, int flags, struct timespec *t)
{
	struct fsock *s = fake(fd);
	unsigned i;

	if (!s)
		return __real_recvmmsg(fd, v, vlen, flags, t);
	CHECK(s->kind == K_UDP);
	for (i = 0; i < vlen && s->qh; i++) {
		struct dgram *d = s->qh;
		struct msghdr *h = &v[i].msg_hdr;
		size_t cap = 0, off = 0;

		for (size_t j = 0; j < h->msg_iovlen; j++)
			cap += h->msg_iov[j].iov_len;
		h->msg_flags = d->len > cap ? MSG_TRUNC : 0;
		for (size_t j = 0; j < h->msg_iovlen && off < d->len; j++) {
			size_t n = d->len - off < h->msg_iov[j].iov_len ? d->len - off
									: h->msg_iov[j].iov_len;

			memcpy(h->msg_iov[j].iov_base, d->data + off, n);
			off += n;
		}
		v[i].msg_len = (unsigned)off;
		if (h->msg_name) {
			socklen_t n = sizeof(struct sockaddr_in);

			memcpy(h->msg_name, &d->from, h->msg_namelen < n ? h->msg_namelen : n);
			h->msg_namelen = n;
		}
		s->qh = d->next;
		if (!s->qh)
			s->qt = NULL;
		s->qn--;
		free(d);
	}
	return i ? (int)i : fail(EAGAIN);
}

WRAP(int, setsockopt, int fd, int level, int name, const void *v, socklen_t len)
{
	if (!fake(fd))
		return __real_setsockopt(fd, level, name, v, len);
	return 0;
}

WRAP(int, getsockopt, int fd, int level, int name, void *v, socklen_t *len)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_getsockopt(fd, level, name, v, len);
	if (level == SOL_SOCKET && name == SO_ERROR && *len >= sizeof(int)) {
		*(int *)v = s->so_error;
		s->so_error = 0;
		*len = sizeof(int);
		return 0;
	}
	return fail(ENOPROTOOPT);
}

WRAP(int, shutdown, int fd, int how)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_shutdown(fd, how);
	if (s->kind != K_TCP || !s->connected)
		return fail(ENOTCONN);
	if (how != SHUT_RD)
		s->wr_shut = true;
	return 0;
}

WRAP(int, close, int fd)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_close(fd);
	CHECK(s->kind != K_FREE); /* double close */
	free_slot(s);
	return 0;
}

WRAP(int, fcntl, int fd, int cmd, ...)
{
	__builtin_va_list ap;
	long arg;

	__builtin_va_start(ap, cmd);
	arg = __builtin_va_arg(ap, long);
	__builtin_va_end(ap);
	if (!fake(fd))
		return __real_fcntl(fd, cmd, arg);
	CHECK(fake(fd)->kind != K_FREE);
	return cmd == F_GETFL ? O_RDWR : 0;
}

WRAP(int, pipe2, int *fds, int flags)
{
	struct fsock *r, *w;

	if (!g.active)
		return __real_pipe2(fds, flags);
	r = slot_new(K_PIPE_R);
	if (!r)
		return fail(EMFILE);
	w = slot_new(K_PIPE_W);
	if (!w) {
		free_slot(r);
		return fail(EMFILE);
	}
	r->rx = malloc(PIPE_CAP);
	CHECK(r->rx);
	w->peer = (int)(r - g.fd);
	fds[0] = fd_of(r);
	fds[1] = fd_of(w);
	return 0;
}

WRAP(ssize_t, splice, int in, loff_t *oin, int out, loff_t *oout, size_t len, unsigned int flags)
{
	struct fsock *si = fake(in), *so = fake(out);
	size_t n;

	if (!si && !so)
		return __real_splice(in, oin, out, oout, len, flags);
	CHECK(si && so && !oin && !oout);
	if (si->kind == K_TCP && so->kind == K_PIPE_W) {
		struct fsock *pr = so->peer >= 0 ? &g.fd[so->peer] : NULL;

		if (!pr)
			return fail(EPIPE);
		if (si->rst)
			return fail(ECONNRESET);
		if (!si->rx_len)
			return si->eof ? 0 : fail(EAGAIN);
		n = PIPE_CAP - pr->rx_len;
		if (!n)
			return fail(EAGAIN);
		n = n < len ? n : len;
		n = n < si->rx_len ? n : si->rx_len;
		memcpy(pr->rx + pr->rx_len, si->rx, n);
		pr->rx_len += n;
		memmove(si->rx, si->rx + n, si->rx_len - n);
		si->rx_len -= n;
		return (ssize_t)n;
	}
	CHECK(si->kind == K_PIPE_R && so->kind == K_TCP);
	if (!si->rx_len)
		return fail(EAGAIN);
	if (tcp_room(so, len) < 0)
		return -1;
	n = (size_t)tcp_room(so, len < si->rx_len ? len : si->rx_len);
	so->raw = true;
	trace_msg(so->client ? "splice>client" : "splice>peer", NULL, n);
	memmove(si->rx, si->rx + n, si->rx_len - n);
	si->rx_len -= n;
	return (ssize_t)n;
}

WRAP(int, epoll_create1, int flags)
{
	struct fsock *s;

	if (!g.active)
		return __real_epoll_create1(flags);
	s = slot_new(K_EPOLL);
	return s ? fd_of(s) : fail(EMFILE);
}

WRAP(int, epoll_ctl, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct fsock *e = fake(epfd), *s = fake(fd);

	if (!e)
		return __real_epoll_ctl(epfd, op, fd, ev);
	CHECK(e->kind == K_EPOLL && s && s->kind != K_FREE && s->kind != K_EPOLL);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (s->watched)
			return fail(EEXIST);
		s->watched = true;
		break;
	case EPOLL_CTL_MOD:
		if (!s->watched)
			return fail(ENOENT);
		break;
	case EPOLL_CTL_DEL:
		if (!s->watched)
			return fail(ENOENT);
		s->watched = false;
		return 0;
	default:
		return fail(EINVAL);
	}
	s->ev = ev->events;
	s->data = ev->data;
	return 0;
}

static uint32_t readiness(const struct fsock *s)
{
	uint32_t r = 0;

	switch (s->kind) {
	case K_UDP:
		return (s->qh ? EPOLLIN : 0) | EPOLLOUT;
	case K_LISTEN:
		for (int i = 0; i < g.hi; i++)
			if (g.fd[i].pending && g.fd[i].listener == (int)(s - g.fd))
				return EPOLLIN;
		return 0;
	case K_EVENTFD:
		return (s->counter ? EPOLLIN : 0) | EPOLLOUT;
	case K_PIPE_R:
		return s->rx_len ? EPOLLIN : 0;
	case K_PIPE_W:
		return s->peer < 0 ? EPOLLERR : g.fd[s->peer].rx_len < PIPE_CAP ? EPOLLOUT : 0;
	case K_TCP:
		if (s->connecting || s->pending)
			return 0;
		if (!s->connected) /* refused */
			return s->so_error ? EPOLLERR | EPOLLHUP | EPOLLOUT : EPOLLHUP;
		if (s->rx_len || s->eof || s->rst)
			r |= EPOLLIN;
		if (s->eof)
			r |= EPOLLRDHUP;
		if (s->rst)
			r |= EPOLLERR | EPOLLHUP;
		if (!s->blocked || s->rst) /* a reset socket is "writable": the send fails */
			r |= EPOLLOUT;
		return r;
	default:
		return 0;
	}
}

static bool next_op(void);

WRAP(int, epoll_wait, int epfd, struct epoll_event *ev, int max, int timeout)
{
	struct fsock *e = fake(epfd);

	if (!e)
		return __real_epoll_wait(epfd, ev, max, timeout);
	for (;;) {
		int n = 0;

		for (int i = 0; i < g.hi && n < max; i++) {
			struct fsock *s = &g.fd[i];
			uint32_t r;

			if (!s->watched)
				continue;
			r = readiness(s) & (s->ev | EPOLLERR | EPOLLHUP);
			if (r)
				ev[n++] = (struct epoll_event){.events = r, .data = s->data};
		}
		if (n && g.spins++ < SPIN_MAX)
			return n;
		/*
		 * Ready again and again with no new input: the server is not
		 * consuming what wakes it (a busy loop on a real kernel too).
		 */
		if (n && getenv("FUZZ_SERVER_TRACE"))
			for (int i = 0; i < n; i++) {
				const struct loop_watch *w = ev[i].data.ptr;
				const struct fsock *f = fake(w->fd);

				fprintf(stderr,
					"trace spin fd=%d kind=%d want=0x%x events=0x%x client=%d "
					"eof=%d blocked=%d rx=%zu\n",
					w->fd, f->kind, f->ev, ev[i].events, f->client, f->eof,
					f->blocked, f->rx_len);
			}
		CHECK(!n);
		g.spins = 0;
		if (timeout == 0)
			return 0; /* a timer is due: let it run first */
		if (!next_op()) {
			loop__stop(g.loop);
			return 0;
		}
		return 0; /* timers may be due after the op (the clock may have moved) */
	}
}

WRAP(int, eventfd, unsigned int init, int flags)
{
	struct fsock *s;

	if (!g.active)
		return __real_eventfd(init, flags);
	s = slot_new(K_EVENTFD);
	if (!s)
		return fail(EMFILE);
	s->counter = init;
	return fd_of(s);
}

WRAP(ssize_t, read, int fd, void *p, size_t len)
{
	struct fsock *s = fake(fd);

	if (!s)
		return __real_read(fd, p, len);
	CHECK(s->kind == K_EVENTFD && len >= 8);
	if (!s->counter)
		return fail(EAGAIN);
	memcpy(p, &s->counter, 8);
	s->counter = 0;
	return 8;
}

WRAP(ssize_t, write, int fd, const void *p, size_t len)
{
	struct fsock *s = fake(fd);
	uint64_t v;

	if (!s)
		return __real_write(fd, p, len);
	CHECK(s->kind == K_EVENTFD && len == 8);
	memcpy(&v, p, 8);
	s->counter += v;
	return 8;
}

/*
 * Clock and randomness: the server sources are compiled with
 * -Dclock_gettime=fuzz_clock_gettime etc. (not --wrap: libFuzzer's own
 * clock must stay real, or its timeout and -max_total_time would see ours).
 */
#undef clock_gettime
#undef time
#undef getrandom
#undef RAND_bytes
#undef arc4random_uniform
int clock_gettime(clockid_t id, struct timespec *ts);
time_t time(time_t *t);
ssize_t getrandom(void *p, size_t len, unsigned int flags);
int RAND_bytes(unsigned char *p, int len);
uint32_t arc4random_uniform(uint32_t upper);
int fuzz_clock_gettime(clockid_t id, struct timespec *ts);
time_t fuzz_time(time_t *t);
ssize_t fuzz_getrandom(void *p, size_t len, unsigned int flags);
int fuzz_RAND_bytes(unsigned char *p, int len);
uint32_t fuzz_arc4random_uniform(uint32_t upper);

int fuzz_clock_gettime(clockid_t id, struct timespec *ts)
{
	uint64_t ms = g.now_ms;

	if (!g.active)
		return clock_gettime(id, ts);
	if (id == CLOCK_REALTIME)
		ms += WALL_BASE * 1000;
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
	return 0;
}

time_t fuzz_time(time_t *t)
{
	time_t now;

	if (!g.active)
		return time(t);
	now = (time_t)(WALL_BASE + g.now_ms / 1000);
	if (t)
		*t = now;
	return now;
}

ssize_t fuzz_getrandom(void *p, size_t len, unsigned int flags)
{
	if (!g.active)
		return getrandom(p, len, flags);
	for (size_t i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)rnd();
	return (ssize_t)len;
}

int fuzz_RAND_bytes(unsigned char *p, int len)
{
	if (!g.active)
		return RAND_bytes(p, len);
	for (int i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
	return 1;
}

uint32_t fuzz_arc4random_uniform(uint32_t upper)
{
	if (!g.active)
		return arc4random_uniform(upper);
	return upper < 2 ? 0 : (uint32_t)(rnd() % upper);
}

/* --- operations ------------------------------------------------------------ */

enum {
	OP_UDP,
	OP_UDP_SIGN,
	OP_TCP_OPEN,
	OP_TCP,
	OP_TCP_SIGN,
	OP_CLOCK,
	OP_PEER_UDP,
	OP_CLOSE,
	OP_PEER_TCP,
	OP_CONNECTED,
	OP_BLOCK,
	OP_COUNT
};

static bool is_credential(uint16_t t)
{
	switch (t) {
	case STUN_ATTR_USERNAME:
	case STUN_ATTR_USERHASH:
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case STUN_ATTR_PASSWORD_ALGORITHM:
	case STUN_ATTR_PASSWORD_ALGORITHMS:
	case STUN_ATTR_MESSAGE_INTEGRITY:
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
	case STUN_ATTR_FINGERPRINT:
		return true;
	}
	return false;
}

/*
 * The request re-signed for USER as `client` sees the server now (see the
 * top). Only the first message is: bytes behind it (a stream's next
 * messages, data behind a ConnectionBind) follow unchanged.
 */
static const uint8_t *sign(const uint8_t *p, size_t *len, const struct sockaddr_storage *client)
{
	char nonce[AUTH_NONCE_LEN + 1];
	uint8_t key[16];
	struct stun_attr_iter it;
	struct stun_builder b;
	struct stun_attr a;
	struct stun_msg m;
	size_t nlen, mlen, rest;
	ssize_t n;

	if (*len < STUN_HEADER_LEN)
		return p;
	mlen = STUN_HEADER_LEN + (size_t)(p[2] << 8 | p[3]);
	if (mlen > *len || stun_msg__parse(&m, p, mlen) < 0)
		return p;
	rest = *len - mlen;
	stun_build__init(&b, g.sig, sizeof(g.sig) - rest, m.method, m.cls, m.tid);
	stun_attr_iter__init(&it, &m);
	while (stun_attr_iter__next(&it, &a))
		if (!is_credential(a.type))
			stun_build__attr(&b, a.type, a.val, a.len);
	nlen = nonce__make(g.auth, (const struct sockaddr *)client, WALL_BASE + g.now_ms / 1000,
			   nonce);
	stun_build__string(&b, STUN_ATTR_USERNAME, USER);
	stun_build__string(&b, STUN_ATTR_REALM, REALM);
	stun_build__attr(&b, STUN_ATTR_NONCE, (const uint8_t *)nonce, nlen);
	CHECK(stun_lt_key(STUN_PWALG_MD5, USER, strlen(USER), REALM, strlen(REALM), PASS,
			  strlen(PASS), key) == 16);
	stun_build__integrity(&b, key, sizeof(key));
	if (m.fp_off)
		stun_build__fingerprint(&b);
	n = stun_build__finish(&b);
	if (n < 0)
		return p; /* too large once signed: as is */
	memcpy(g.sig + n, p + mlen, rest);
	*len = (size_t)n + rest;
	return g.sig;
}

static void push_dgram(struct fsock *s, const struct sockaddr_storage *from, const uint8_t *p,
		       size_t len)
{
	struct dgram *d;

	if (s->qn >= UDP_QMAX)
		return; /* the kernel drops too */
	d = malloc(sizeof(*d) + len);
	CHECK(d);
	d->next = NULL;
	d->from = *from;
	d->len = len;
	memcpy(d->data, p, len);
	if (s->qt)
		s->qt->next = d;
	else
		s->qh = d;
	s->qt = d;
	s->qn++;
}

static void push_bytes(struct fsock *s, const uint8_t *p, size_t len)
{
	if (s->eof || s->rst)
		return;
	if (len > RX_MAX - s->rx_len)
		len = RX_MAX - s->rx_len;
	if (!len)
		return;
	if (s->rx_len + len > s->rx_cap) {
		size_t cap = s->rx_len + len;
		uint8_t *rx = realloc(s->rx, cap);

		CHECK(rx);
		s->rx = rx;
		s->rx_cap = cap;
	}
	memcpy(s->rx + s->rx_len, p, len);
	s->rx_len += len;
}

static struct fsock *new_conn(struct fsock *li, const struct sockaddr_storage *from)
{
	struct fsock *c = slot_new(K_TCP);

	if (!c)
		return NULL;
	c->family = AF_INET;
	c->local = li->local;
	c->remote = *from;
	c->bound = true;
	c->pending = true;
	c->connected = true;
	c->listener = (int)(li - g.fd);
	return c;
}

static void op_udp(bool signed_)
{
	struct sockaddr_storage from;
	unsigned c = in_u8() & 3;
	struct fsock *li = pick(c, is_listener_udp); /* SO_REUSEPORT: a worker per client */
	const uint8_t *p;
	size_t len;

	client_addr(&from, c, 0);
	p = in_bytes(&len);
	if (signed_)
		p = sign(p, &len, &from);
	note_tids(p, len);
	if (li)
		push_dgram(li, &from, p, len);
}

static void op_tcp(bool signed_)
{
	struct fsock *c = pick(in_u8(), is_tcp);
	const uint8_t *p;
	size_t len;

	p = in_bytes(&len);
	if (!c)
		return;
	if (signed_)
		p = sign(p, &len, &c->remote);
	note_stream_tids(c, p, len);
	push_bytes(c, p, len);
}

/* Allocations counted by the shared state are exactly those the workers hold. */
static void check_counts(void)
{
	size_t n = 0;

	for (int i = 0; i < 2; i++)
		if (g.srv[i])
			n += turn_server__allocations(g.srv[i]->turn);
	CHECK(turn_shared__allocations(g.sh) == n);
}

static bool next_op(void)
{
	struct sockaddr_storage from;
	struct fsock *s;
	const uint8_t *p;
	size_t len;
	unsigned k;
	uint16_t v;

	check_counts();
	if (!g.n)
		return false;
	switch (in_u8() % OP_COUNT) {
	case OP_UDP:
		op_udp(false);
		break;
	case OP_UDP_SIGN:
		op_udp(true);
		break;
	case OP_TCP_OPEN:
		k = in_u8() & 3;
		client_addr(&from, k, (uint16_t)(41000 + g.next_port++ % 1000));
		s = pick(g.next_port, is_turn_listen); /* the workers take turns */
		if (s && (s = new_conn(s, &from)))
			s->client = true;
		break;
	case OP_TCP:
		op_tcp(false);
		break;
	case OP_TCP_SIGN:
		op_tcp(true);
		break;
	case OP_CLOCK:
		v = in_u16();
		g.now_ms += (v & 1) ? (uint64_t)(v >> 1) * 1000 : (uint64_t)(v >> 1);
		break;
	case OP_PEER_UDP:
		s = pick(in_u8(), is_relay_udp);
		peer_addr(&from, in_u8());
		p = in_bytes(&len);
		if (s)
			push_dgram(s, &from, p, len);
		break;
	case OP_CLOSE:
		s = pick(in_u8(), is_tcp);
		k = in_u8();
		if (s && (k & 1))
			s->rst = true;
		else if (s)
			s->eof = true;
		break;
	case OP_PEER_TCP:
		s = pick(in_u8(), is_relay_listen);
		peer_addr(&from, in_u8());
		if (s)
			new_conn(s, &from);
		break;
	case OP_CONNECTED:
		s = pick(in_u8(), is_connecting);
		k = in_u8();
		if (!s)
			break;
		s->connecting = false;
		if (k & 1) {
			s->connected = true;
		} else {
			s->so_error = ECONNREFUSED;
		}
		break;
	case OP_BLOCK:
		s = pick(in_u8(), is_tcp);
		if (s)
			s->blocked = !s->blocked;
		break;
	}
	return true;
}

/* --- one input ------------------------------------------------------------------ */

enum {
	F_FINGERPRINT = 1 << 0,
	F_QUOTA = 1 << 1,
	F_MAX_BPS = 1 << 2,
	F_RFC5766 = 1 << 3,
	F_RELAY6 = 1 << 4,
	F_TWO_WORKERS = 1 << 5, /* two servers share the TURN state: ConnectionBind hand-offs */
};

static struct auth *make_auth(void)
{
	static struct conf_user users[] = {{USER, PASS, false}};
	struct auth_opts o = {
		.mode = CONF_AUTH_LONG_TERM,
		.realm = REALM,
		.stale_nonce = 600,
		.creds = {.users = &(struct conf_users){users, 1}, .rest_separator = ':'},
	};
	struct auth *a = NULL;

	CHECK(auth__new(&a, &o) == 0 && a);
	return a;
}

static void run(uint8_t flags)
{
	struct sockaddr_storage listen_addr;
	struct turn_opts o = {
		.software = "kturn-fuzz",
		.fingerprint = flags & F_FINGERPRINT,
		.min_port = 49152,
		.max_port = 49159,
		.default_lifetime = 600,
		.max_lifetime = 3600,
		.perm_lifetime = 300,
		.chan_lifetime = 600,
		.connection_timeout_ms = 30000,
		.channel_max = (flags & F_RFC5766) ? STUN_CHANNEL_MAX_RFC5766 : STUN_CHANNEL_MAX,
		.user_quota = (flags & F_QUOTA) ? 1 : 0,
		.total_quota = 6,
		.max_bps = (flags & F_MAX_BPS) ? 1000 : 0,
		.udp_relay = true,
		.tcp_relay = true,
	};
	struct kturn_conf *conf = calloc(1, sizeof(*conf));
	struct turn_shared *sh = NULL;
	struct peer_filter *pf = NULL;
	struct server **srv = g.srv;
	int workers = (flags & F_TWO_WORKERS) ? 2 : 1;
	struct server_opts so;

	CHECK(conf);
	set_addr4(&o.relay4, "10.0.0.1", 0);
	if (flags & F_RELAY6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&o.relay6;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::1", &s6->sin6_addr);
	}
	set_addr4(&listen_addr, "10.0.0.1", LISTEN_PORT);
	g.auth = make_auth();
	CHECK(peer_filter__new(&pf, conf) == 0);
	CHECK(peer_filter__add_self(pf, (const struct sockaddr *)&listen_addr) == 0);
	CHECK(turn_shared__new(&sh, &o, g.auth, pf) == 0);
	g.sh = sh;
	CHECK(loop__new(&g.loop) == 0);
	so = (struct server_opts){
		.handler = {.software = o.software, .fingerprint = o.fingerprint},
		.listen = &listen_addr,
		.n_listen = 1,
		.udp = true,
		.tcp = true,
		.max_msg = STUN_MAX_MSG_LEN,
		.tcp_idle_ms = 30000,
		.tcp_tx_max = 16384,
		.turn = sh,
	};
	for (int i = 0; i < workers; i++)
		CHECK(server__new(&srv[i], g.loop, &so) == 0);
	CHECK(loop__run(g.loop) == 0);
	for (int i = 0; i < workers; i++) {
		server__free(srv[i]);
		srv[i] = NULL;
	}
	CHECK(turn_shared__allocations(sh) == 0);
	loop__free(g.loop);
	turn_shared__free(sh);
	free(conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	uint8_t flags;

	if (!once) {
		CHECK(log__open(getenv("FUZZ_SERVER_TRACE") ? "stderr" : "/dev/null", LOG_DEBUG) == 0);
		once = true;
	}
	memset(&g, 0, sizeof(g));
	g.active = true;
	g.p = data;
	g.n = size;
	g.now_ms = 1000000;
	g.rng = 0x6b7475726eull;
	flags = in_u8();
	run(flags);
	for (int i = 0; i < NFD; i++)
		CHECK(g.fd[i].kind == K_FREE); /* a descriptor leaked */
	g.active = false;
	return 0;
}
