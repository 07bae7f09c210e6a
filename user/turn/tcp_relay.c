// SPDX-License-Identifier: MIT
/*
 * RFC 6062 on top of a TCP allocation: the relayed address is a listening
 * socket; peers that connect to it (with a permission) are announced with a
 * ConnectionAttempt; Connect makes the server connect out from the relayed
 * address; ConnectionBind on a new client connection turns that connection
 * and the peer's into a spliced pair.
 *
 * A peer connection is not read before it is bound: what the peer sends
 * waits in its socket's receive buffer (TCP flow control bounds it) and is
 * delivered first, in order, once the pair is spliced.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/peer_filter.h"
#include "kturn/sockmap_pair.h"
#include "kturn/splice_pair.h"
#include "kturn/tls_pair.h"
#include "kturn/turn_perms.h"
#include "turn_int.h"

#define MAX_PEERS     128 /* peer connections per allocation */
#define RELAY_BACKLOG 128

/* out of descriptors: accept again after RELAY_PAUSE_MS, log once a minute */
#define RELAY_PAUSE_MS	   100
#define RELAY_PAUSE_LOG_MS 60000

void turn_peer__log(const struct turn_peer *pc, const char *event, const char *why)
{
	char peer[NET_ADDRSTRLEN];

	net_addr_str((const struct sockaddr *)&pc->addr, peer, sizeof(peer));
	klog_info("turn %s user=%s connection_id=%u peer=%s%s%s", event,
		  pc->a->user ? pc->a->user : "-", pc->id, peer, why ? " " : "", why ? why : "");
}

void turn_peer__free(struct turn_peer *pc, const char *why)
{
	struct turn_alloc *a = pc->a;
	struct loop *l = a->ts->loop;
	struct pair_stats st = {{0, 0}};
	bool bound = pc->pair || pc->spair || pc->tpair;
	char detail[192];

	/* a bound pair's bytes are the allocation's too, and logged before they go */
	if (pc->pair)
		splice_pair__stats(pc->pair, &st);
	else if (pc->spair)
		sockmap_pair__stats(pc->spair, &st);
	else if (pc->tpair)
		tls_pair__stats(pc->tpair, &st);
	a->up_bytes += st.bytes[0];
	a->down_bytes += st.bytes[1];
	if (bound) {
		enum turn_plane plane = pc->spair  ? TURN_PLANE_SOCKMAP
					: pc->pair ? TURN_PLANE_SPLICE
						   : TURN_PLANE_TLS;

		a->ts->stats.bytes[plane][TURN_DIR_TO_PEER] += st.bytes[0];
		a->ts->stats.bytes[plane][TURN_DIR_TO_CLIENT] += st.bytes[1];
	}
	if (why && bound)
		snprintf(detail, sizeof(detail), "reason=\"%s\" up_bytes=%llu down_bytes=%llu", why,
			 (unsigned long long)st.bytes[0], (unsigned long long)st.bytes[1]);
	else if (why)
		snprintf(detail, sizeof(detail), "reason=\"%s\"", why);
	if (why)
		turn_peer__log(pc, "peer-close", detail);
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		a->peers = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	a->n_peers--;
	if (pc->id && pc->state != TURN_PEER_BOUND)
		turn_shared__conn_del(a->ts->sh, pc->id);
	loop__timer_cancel(l, &pc->timer);
	if (pc->state == TURN_PEER_CONNECTING)
		loop__del(l, &pc->w);
	if (pc->fd >= 0)
		close(pc->fd);
	splice_pair__free(pc->pair);
	sockmap_pair__free(pc->spair);
	tls_pair__free(pc->tpair);
	free(pc);
}

static void peer_timeout(struct loop_timer *t);

static struct turn_peer *peer_new(struct turn_alloc *a, int fd, const struct sockaddr_storage *addr)
{
	struct turn_peer *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return NULL;
	pc->a = a;
	pc->fd = fd;
	pc->addr = *addr;
	loop_timer__init(&pc->timer, peer_timeout, pc);
	pc->next = a->peers;
	if (pc->next)
		pc->next->prev = pc;
	a->peers = pc;
	a->n_peers++;
	return pc;
}

void turn_sign__save(struct turn_sign *s, const struct turn_req *rq)
{
	memcpy(s->tid, rq->m->tid, STUN_TID_LEN);
	memcpy(s->key, rq->auth.key, sizeof(s->key));
	s->key_len = rq->auth.key_len;
	s->sha256 = rq->auth.sha256;
	s->anonymous = rq->auth.anonymous;
	s->fingerprint = rq->m->fp_off != 0;
}

/* Send a late Connect response on the allocation's control connection. */
static void connect_answer(struct turn_peer *pc, int code)
{
	const struct turn_opts *o = pc->a->ts->o;
	struct auth_result r = {.key_len = pc->connect.key_len,
				.sha256 = pc->connect.sha256,
				.anonymous = pc->connect.anonymous};
	struct stun_builder b;
	uint8_t out[256];
	struct iovec iov;
	ssize_t n;

	memcpy(r.key, pc->connect.key, sizeof(r.key));
	stun_build__init(&b, out, sizeof(out), TURN_CONNECT, code ? STUN_ERROR : STUN_SUCCESS,
			 pc->connect.tid);
	if (code)
		stun_build__error(&b, code, NULL);
	else
		stun_build__u32(&b, STUN_ATTR_CONNECTION_ID, pc->id);
	if (o->software)
		stun_build__string(&b, STUN_ATTR_SOFTWARE, o->software);
	auth__sign(&r, &b);
	if (o->fingerprint || pc->connect.fingerprint)
		stun_build__fingerprint(&b);
	n = stun_build__finish(&b);
	if (n < 0)
		return;
	iov = (struct iovec){out, (size_t)n};
	pc->a->conn->send(pc->a->conn, &iov, 1);
}

static void peer_timeout(struct loop_timer *t)
{
	struct turn_peer *pc = t->arg;

	if (pc->state == TURN_PEER_CONNECTING) {
		connect_answer(pc, 447);
		turn_peer__free(pc, "connect timed out (447)");
	} else {
		turn_peer__free(pc, "no ConnectionBind in time");
	}
}

/* Registered id, 30 s to bind. 0 or -errno. */
static int peer_wait_bind(struct turn_peer *pc)
{
	int err = turn_shared__conn_add(pc->a->ts->sh, pc->a->ts, pc, &pc->id);

	if (err)
		return err;
	pc->state = TURN_PEER_WAITING;
	pc->wait_ns = turn_mono_ns();
	loop__timer_arm(pc->a->ts->loop, &pc->timer, pc->a->ts->o->connection_timeout_ms);
	return 0;
}

static void connection_attempt(struct turn_peer *pc)
{
	struct turn_alloc *a = pc->a;
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN], out[128];
	struct iovec iov;
	ssize_t n;

	turn_server__next_tid(a->ts, tid);
	stun_build__init(&b, out, sizeof(out), TURN_CONNECTION_ATTEMPT, STUN_INDICATION, tid);
	stun_build__u32(&b, STUN_ATTR_CONNECTION_ID, pc->id);
	stun_build__xaddr(&b, STUN_ATTR_XOR_PEER_ADDRESS, (const struct sockaddr *)&pc->addr);
	if (a->ts->o->fingerprint)
		stun_build__fingerprint(&b);
	n = stun_build__finish(&b);
	if (n < 0)
		return;
	iov = (struct iovec){out, (size_t)n};
	a->conn->send(a->conn, &iov, 1);
}

/* Why an incoming peer connection is refused, or NULL. */
static const char *refuse_peer(struct turn_alloc *a, const struct sockaddr_storage *from)
{
	enum peer_verdict v;

	if (!turn_perms__allowed(a->perms, (const void *)from, loop__now_ms(a->ts->loop)))
		return "no permission";
	v = peer_filter__check(turn_shared__filter(a->ts->sh), (const void *)from);
	if (v != PEER_ALLOW)
		return peer_verdict_str(v);
	if (a->n_peers >= MAX_PEERS)
		return "too many peer connections";
	return NULL;
}

static void peer_accept(struct turn_alloc *a, int fd, const struct sockaddr_storage *from)
{
	char addr[NET_ADDRSTRLEN];
	const char *why = refuse_peer(a, from);
	struct turn_peer *pc;
	int one = 1;

	if (why) {
		net_addr_str((const struct sockaddr *)from, addr, sizeof(addr));
		klog_info("turn peer-refused user=%s peer=%s reason=\"%s\"",
			  a->user ? a->user : "-", addr, why);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pc = peer_new(a, fd, from);
	if (!pc) {
		close(fd);
		return;
	}
	if (peer_wait_bind(pc) < 0) {
		turn_peer__free(pc, "out of memory");
		return;
	}
	turn_peer__log(pc, "connection-attempt", NULL);
	connection_attempt(pc);
}

static void relay_accept_resume(struct loop_timer *t)
{
	struct turn_relay *r = t->arg;

	if (loop__add(r->a->ts->loop, &r->w, EPOLLIN) < 0)
		klog_err("relay accept: cannot resume: %s", strerror(errno));
}

/*
 * Out of descriptors: the waiting peer keeps the listener readable, so stop
 * watching it for a moment instead of spinning (as the client listeners do).
 * Logged once a minute per worker.
 */
static void relay_accept_pause(struct turn_relay *r, int err)
{
	struct turn_server *ts = r->a->ts;
	uint64_t now = loop__now_ms(ts->loop);

	if (!ts->fd_log_ms || now - ts->fd_log_ms >= RELAY_PAUSE_LOG_MS) {
		klog_warn("relay accept user=%s: %s; pausing %d ms", r->a->user ? r->a->user : "-",
			  strerror(err), RELAY_PAUSE_MS);
		ts->fd_log_ms = now ? now : 1;
	}
	loop__del(ts->loop, &r->w);
	r->retry.cb = relay_accept_resume;
	loop__timer_arm(ts->loop, &r->retry, RELAY_PAUSE_MS);
}

static void relay_accept_io(struct loop_watch *w, uint32_t events)
{
	struct turn_relay *r = w->arg;

	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		int fd = accept4(w->fd, (struct sockaddr *)&from, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			relay_accept_pause(r, errno);
			return;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				klog_warn("relay accept: %s", strerror(errno));
			return;
		}
		peer_accept(r->a, fd, &from);
	}
}

/* A TCP socket bound to the relayed address; listeners and Connect share the port. */
static int tcp_relay_socket(const struct sockaddr_storage *addr)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, net_addr_len((const void *)addr)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int turn_alloc__add_tcp_relay(struct turn_alloc *a, const struct sockaddr_storage *addr)
{
	int fd = tcp_relay_socket(addr), err;

	if (fd < 0)
		return fd;
	if (listen(fd, RELAY_BACKLOG) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return turn_alloc__watch_relay(a, fd, addr, relay_accept_io);
}

static void connect_done_io(struct loop_watch *w, uint32_t events)
{
	struct turn_peer *pc = w->arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(pc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (!err && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return;
	loop__del(pc->a->ts->loop, &pc->w);
	loop__timer_cancel(pc->a->ts->loop, &pc->timer);
	if (!err)
		err = -peer_wait_bind(pc);
	if (err) {
		pc->state = TURN_PEER_WAITING; /* not watched any more */
		connect_answer(pc, 447);
		turn_peer__free(pc, strerror(err));
		return;
	}
	turn_peer__log(pc, "connect", NULL);
	connect_answer(pc, 0);
}

static bool peer_exists(const struct turn_alloc *a, const struct sockaddr_storage *addr)
{
	for (const struct turn_peer *pc = a->peers; pc; pc = pc->next)
		if (net_addr_equal((const void *)&pc->addr, (const void *)addr))
			return true;
	return false;
}

/* Connect (RFC 6062 §5.2): answered later, from connect_done_io or the timer. */
ssize_t turn_req__connect(struct turn_req *rq, struct turn_alloc *a)
{
	struct sockaddr_storage peer;
	struct turn_peer *pc;
	struct stun_attr at;
	enum peer_verdict v;
	int fd, one = 1;

	if (!a->tcp)
		return turn_req__error(rq, 400, "Connect on a UDP allocation");
	if (!stun_msg__find(rq->m, STUN_ATTR_XOR_PEER_ADDRESS, &at) ||
	    stun_attr__xaddr(&at, rq->m->tid, &peer) < 0)
		return turn_req__error(rq, 400, "missing or malformed XOR-PEER-ADDRESS");
	if (peer.ss_family != a->relay[0].addr.ss_family)
		return turn_req__error(rq, 443, "peer family differs from the relayed address");
	v = peer_filter__check(turn_shared__filter(rq->ts->sh), (const void *)&peer);
	if (v != PEER_ALLOW)
		return turn_req__error(rq, 403, peer_verdict_str(v));
	if (peer_exists(a, &peer))
		return turn_req__error(rq, 446, "a connection to this peer exists");
	if (a->n_peers >= MAX_PEERS)
		return turn_req__error(rq, 508, "too many peer connections");
	fd = tcp_relay_socket(&a->relay[0].addr);
	if (fd < 0)
		return turn_req__error(rq, 447, "cannot bind the relayed address");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const void *)&peer, net_addr_len((const void *)&peer)) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return turn_req__error(rq, 447, strerror(errno));
	}
	pc = peer_new(a, fd, &peer);
	if (!pc) {
		close(fd);
		return turn_req__error(rq, 447, "out of memory");
	}
	pc->state = TURN_PEER_CONNECTING;
	turn_sign__save(&pc->connect, rq);
	turn_perms__permit(a->perms, (const void *)&peer, loop__now_ms(rq->ts->loop),
			   rq->ts->o->perm_lifetime);
	loop_watch__init(&pc->w, fd, connect_done_io, pc);
	if (loop__add(rq->ts->loop, &pc->w, EPOLLOUT) < 0) {
		pc->state = TURN_PEER_WAITING;
		turn_peer__free(pc, NULL);
		return turn_req__error(rq, 447, "cannot watch the connection");
	}
	loop__timer_arm(rq->ts->loop, &pc->timer, rq->ts->o->connection_timeout_ms);
	turn_alloc__rearm(a);
	return 0;
}
