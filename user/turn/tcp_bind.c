// SPDX-License-Identifier: MIT
/*
 * ConnectionBind (RFC 6062 §5.4): a new client connection claims a peer
 * connection by CONNECTION-ID and from the byte after the success response
 * carries that peer's raw stream. The pair is then handed to a data plane.
 */
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/sockmap_pair.h"
#include "kturn/splice_pair.h"
#include "kturn/tls_pair.h"
#include "turn_int.h"

ssize_t turn_req__connection_bind(struct turn_req *rq)
{
	struct turn_conn *conn = rq->conn;
	struct turn_server *owner;
	struct turn_peer *pc;
	struct stun_attr at;
	void *ptr = NULL;
	uint32_t id;

	if (conn->transport == KT_TRANSPORT_UDP)
		return turn_req__error(rq, 400, "ConnectionBind over UDP");
	if (!conn->first || conn->alloc)
		return turn_req__error(rq, 400,
				       "ConnectionBind is not the connection's first message");
	if (!stun_msg__find(rq->m, STUN_ATTR_CONNECTION_ID, &at) || stun_attr__u32(&at, &id) < 0)
		return turn_req__error(rq, 400, "missing or malformed CONNECTION-ID");
	owner = turn_shared__conn_owner(rq->ts->sh, id, &ptr);
	if (!owner)
		return turn_req__error(rq, 400, "unknown or expired CONNECTION-ID");
	if (owner != rq->ts) {
		conn->handoff = owner; /* that worker answers, with the same bytes */
		return 0;
	}
	pc = ptr;
	if (!rq->auth.anonymous && (!pc->a->user || strcmp(pc->a->user, rq->auth.user)))
		return turn_req__error(rq, 441, "credentials differ from the allocation's");
	if (pc->state != TURN_PEER_WAITING)
		return turn_req__error(rq, 400, "connection is not waiting for a bind");
	conn->bind = pc;
	turn_req__start(rq, STUN_SUCCESS);
	return turn_req__end(rq, true);
}

/* A pair ended on either plane: turn_peer__free accounts, logs and forgets it. */
static void splice_done(struct splice_pair *p, enum pair_end how, void *arg)
{
	(void)p;
	turn_peer__free(arg, how == PAIR_DONE ? "closed" : "reset");
}

static void sockmap_done(struct sockmap_pair_rt *p, enum pair_end how, void *arg)
{
	(void)p;
	turn_peer__free(arg, how == PAIR_DONE ? "closed" : "reset");
}

static void tls_done(struct tls_pair *p, enum pair_end how, void *arg)
{
	(void)p;
	turn_peer__free(arg, how == PAIR_DONE ? "closed" : "reset");
}

/*
 * The kernel plane when it is there and nothing must be written first;
 * otherwise (no BPF, bytes already read behind the bind or not yet sent,
 * a socket the sockhash refuses) splice(). 0 and the plane's name, or -errno.
 */
static int splice_in_kernel(struct turn_peer *pc, int fd, int peer_fd, const uint8_t *first[2],
			    size_t first_len[2], bool at_boundary, const char **plane)
{
	struct turn_server *ts = pc->a->ts;
	char why[64];
	int err;

	/* bytes for the peer first: written now, before BPF can redirect any */
	while (ts->o->sockmap && at_boundary && first_len[0] && !first_len[1]) {
		ssize_t n = send(peer_fd, first[0], first_len[0], MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n <= 0)
			break; /* what is left goes through splice_pair */
		first[0] += n;
		first_len[0] -= (size_t)n;
		pc->a->up_bytes += (uint64_t)n;
		ts->stats.bytes[TURN_PLANE_SOCKMAP][TURN_DIR_TO_PEER] += (uint64_t)n;
	}
	if (ts->o->sockmap && !first_len[0] && !first_len[1]) {
		err = sockmap__alloc_add(ts->o->sockmap, pc->a->id);
		if (!err)
			err = sockmap_pair__new(&pc->spair, ts->loop, ts->o->sockmap, fd, peer_fd,
						pc->a->id, pc->id, at_boundary, sockmap_done, pc);
		*plane = "sockmap";
		if (!err)
			return 0;
		snprintf(why, sizeof(why), "reason=\"%s\"",
			 err == -EBUSY	      ? "bytes read behind the bind"
			 : err == -EOPNOTSUPP ? "socket not established"
					      : strerror(-err));
		turn_peer__log(pc, "sockmap-refused", why);
	}
	*plane = "splice";
	return splice_pair__new(&pc->pair, ts->loop, fd, peer_fd, first, first_len, splice_done,
				pc);
}

void turn__data_conn(struct turn_conn *conn, int fd, struct ssl_st *ssl, const uint8_t *to_peer,
		     size_t to_peer_len, const uint8_t *to_client, size_t to_client_len,
		     bool at_boundary)
{
	struct turn_peer *pc = conn->bind;
	struct turn_server *ts = pc->a->ts;
	const uint8_t *first[2] = {to_peer, to_client};
	size_t first_len[2] = {to_peer_len, to_client_len};
	const char *plane = "splice";
	char detail[32];
	int err, peer_fd = pc->fd;

	conn->bind = NULL;
	turn_shared__conn_del(ts->sh, pc->id);
	loop__timer_cancel(ts->loop, &pc->timer);
	pc->state = TURN_PEER_BOUND;
	pc->fd = -1; /* the pair owns both sockets now */
	pc->data_client = conn->client;
	turn_stats__bind(&ts->stats, turn_mono_ns() - pc->wait_ns);
	if (ssl) {
		plane = "tls"; /* no kTLS here: bytes must be decrypted, so userspace copies */
		err = tls_pair__new(&pc->tpair, ts->loop, fd, ssl, peer_fd, first, first_len,
				    tls_done, pc);
	} else {
		err = splice_in_kernel(pc, fd, peer_fd, first, first_len, at_boundary, &plane);
	}
	if (err) {
		pc->pair = NULL;
		pc->spair = NULL;
		pc->tpair = NULL;
		turn_peer__free(pc, strerror(-err));
		return;
	}
	snprintf(detail, sizeof(detail), "plane=%s", plane);
	turn_peer__log(pc, "bind", detail);
}
