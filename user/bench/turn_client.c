// SPDX-License-Identifier: MIT
/*
 * The client side of TURN signalling for kturn-bench: one control connection
 * (TCP or UDP), blocking transactions with long-term credentials learned from
 * the first 401 (RFC 8489 §9.2: REALM and NONCE from the server, MD5 key,
 * MESSAGE-INTEGRITY), a new NONCE on 438, and RFC 6062 ConnectionAttempt
 * indications queued while a transaction waits for its response.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"
#include "kturn/net.h"

int tc__open(struct tc *t, const struct sockaddr *server, bool udp, const char *user,
	     const char *pass, unsigned timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};

	memset(t, 0, sizeof(*t));
	t->udp = udp;
	t->timeout_ms = timeout_ms;
	t->user = user;
	t->pass = pass;
	t->fd = socket(server->sa_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return -errno;
	/* Blocking socket; the timeouts bound every send, recv and connect. */
	if (setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(t->fd, server, net_addr_len(server)) < 0) {
		int err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;

		tc__close(t);
		return err;
	}
	return 0;
}

void tc__close(struct tc *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	free(t->att);
	t->att = NULL;
	t->n_att = t->cap_att = 0;
}

ssize_t tc__build(struct tc *t, const struct tc_req *rq, uint8_t *buf, size_t cap,
		  uint8_t tid[STUN_TID_LEN])
{
	struct stun_builder b;

	stun_build__init(&b, buf, cap, rq->method, STUN_REQUEST, NULL);
	if (rq->transport)
		stun_build__transport(&b, rq->transport);
	if (rq->peer)
		stun_build__xaddr(&b, STUN_ATTR_XOR_PEER_ADDRESS, rq->peer);
	if (rq->channel)
		stun_build__channel(&b, rq->channel);
	if (rq->has_lifetime)
		stun_build__u32(&b, STUN_ATTR_LIFETIME, rq->lifetime);
	if (rq->has_cid)
		stun_build__u32(&b, STUN_ATTR_CONNECTION_ID, rq->cid);
	if (t->key_len) {
		stun_build__string(&b, STUN_ATTR_USERNAME, t->user);
		stun_build__string(&b, STUN_ATTR_REALM, t->realm);
		stun_build__string(&b, STUN_ATTR_NONCE, t->nonce);
		stun_build__integrity(&b, t->key, (size_t)t->key_len);
	}
	if (tid && cap >= STUN_HEADER_LEN)
		memcpy(tid, buf + 8, STUN_TID_LEN);
	return stun_build__finish(&b);
}

/* The next STUN frame from the control connection into t->resp. */
static int tc_read(struct tc *t, unsigned ms)
{
	struct stun_frame f;
	ssize_t n;
	int err;

	for (;;) {
		if (!t->udp && t->rx_len) {
			enum stun_frame_status st =
				stun_frame__next(t->rx, t->rx_len, sizeof(t->rx), &f);

			if (st == STUN_FRAME_INVALID ||
			    (st == STUN_FRAME_OK && f.len > sizeof(t->resp)))
				return -EBADMSG;
			if (st == STUN_FRAME_OK) {
				memcpy(t->resp, t->rx, f.len);
				t->resp_len = f.len;
				t->rx_len -= f.len;
				memmove(t->rx, t->rx + f.len, t->rx_len);
				return 0;
			}
		}
		err = bench_wait_fd(t->fd, POLLIN, (int)ms);
		if (err)
			return err;
		if (t->udp) {
			n = recv(t->fd, t->resp, sizeof(t->resp), 0);
			if (n < 0)
				return -errno;
			t->resp_len = (size_t)n;
			return 0;
		}
		n = recv(t->fd, t->rx + t->rx_len, sizeof(t->rx) - t->rx_len, 0);
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		t->rx_len += (size_t)n;
	}
}

static int queue_attempt(struct tc *t, const struct stun_msg *m)
{
	struct stun_attr a, pa;
	struct tc_attempt at;

	if (!stun_msg__find(m, STUN_ATTR_CONNECTION_ID, &a) || stun_attr__u32(&a, &at.cid) ||
	    !stun_msg__find(m, STUN_ATTR_XOR_PEER_ADDRESS, &pa) ||
	    stun_attr__xaddr(&pa, m->tid, &at.peer))
		return -EBADMSG;
	if (t->n_att == t->cap_att) {
		size_t cap = t->cap_att ? 2 * t->cap_att : 16;
		struct tc_attempt *p = realloc(t->att, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->att = p;
		t->cap_att = cap;
	}
	t->att[t->n_att++] = at;
	return 0;
}

/*
 * Read until the response to tid arrives (parsed into *m); ConnectionAttempts
 * are queued, other indications and non-STUN datagrams ignored.
 */
static int tc_wait_response(struct tc *t, const uint8_t *tid, unsigned ms, struct stun_msg *m)
{
	for (;;) {
		int err = tc_read(t, ms);

		if (err)
			return err;
		if (stun_msg__parse(m, t->resp, t->resp_len) < 0)
			continue;
		if (m->cls == STUN_INDICATION) {
			if (m->method == TURN_CONNECTION_ATTEMPT && (err = queue_attempt(t, m)))
				return err;
			continue;
		}
		if (!memcmp(m->tid, tid, STUN_TID_LEN))
			return 0;
	}
}

static int copy_string(const struct stun_msg *m, uint16_t type, char *out, size_t cap)
{
	struct stun_attr a;
	const char *s;
	size_t len;

	if (!stun_msg__find(m, type, &a) || stun_attr__string(&a, &s, &len) || len >= cap)
		return -EBADMSG;
	memcpy(out, s, len);
	out[len] = 0;
	return 0;
}

/* 401 or 438: take REALM and NONCE; returns 0 when a retry makes sense. */
static int learn_auth(struct tc *t, const struct stun_msg *m, int code)
{
	int len;

	if (!t->user || !t->pass || (code == 401 && t->key_len))
		return -EACCES;
	if (copy_string(m, STUN_ATTR_NONCE, t->nonce, sizeof(t->nonce)))
		return -EBADMSG;
	if (code == 438 && t->key_len)
		return 0;
	if (copy_string(m, STUN_ATTR_REALM, t->realm, sizeof(t->realm)))
		return -EBADMSG;
	len = stun_lt_key(STUN_PWALG_MD5, t->user, strlen(t->user), t->realm, strlen(t->realm),
			  t->pass, strlen(t->pass), t->key);
	if (len < 0)
		return len;
	t->key_len = len;
	return 0;
}

static int response_code(struct tc *t, const struct stun_msg *m)
{
	struct stun_attr a;
	const char *reason;
	size_t rlen;
	int code = 0;

	if (m->cls == STUN_SUCCESS) {
		if (t->key_len && m->mi_off &&
		    stun_msg__check_integrity(m, t->key, (size_t)t->key_len))
			return -EACCES;
		return 0;
	}
	if (!stun_msg__find(m, STUN_ATTR_ERROR_CODE, &a) ||
	    stun_attr__error(&a, &code, &reason, &rlen))
		code = 500;
	return code;
}

/*
 * Send a request and wait for its response; over UDP, retransmit with a
 * doubling RTO from 250 ms (RFC 8489 §6.2.1) until the timeout.
 */
static int transact(struct tc *t, const uint8_t *buf, size_t len, const uint8_t *tid,
		    struct stun_msg *m)
{
	uint64_t end = bench_now_ns() + t->timeout_ms * 1000000ull;
	unsigned rto = t->udp ? 250 : t->timeout_ms;

	for (;;) {
		uint64_t now = bench_now_ns();
		unsigned left = (unsigned)((end - now) / 1000000) + 1;
		int err;

		if (now >= end)
			return -ETIMEDOUT;
		if (t->udp)
			err = send(t->fd, buf, len, 0) == (ssize_t)len ? 0 : -errno;
		else
			err = bench_send_all(t->fd, buf, len, (int)t->timeout_ms);
		if (err)
			return err;
		err = tc_wait_response(t, tid, rto < left ? rto : left, m);
		if (err != -ETIMEDOUT || !t->udp)
			return err;
		rto *= 2;
	}
}

int tc__request(struct tc *t, const struct tc_req *rq)
{
	uint8_t buf[512], tid[STUN_TID_LEN];
	struct stun_msg m;

	t->err_code = 0;
	for (int tries = 0; tries < 4; tries++) {
		ssize_t len = tc__build(t, rq, buf, sizeof(buf), tid);
		int err, code;

		if (len < 0)
			return (int)len;
		err = transact(t, buf, (size_t)len, tid, &m);
		if (err)
			return err;
		code = response_code(t, &m);
		if (code <= 0)
			return code;
		t->err_code = code;
		if ((code != 401 && code != 438) || learn_auth(t, &m, code))
			return -EPROTO;
	}
	return -EPROTO;
}

int tc__resp_xaddr(struct tc *t, uint16_t type, struct sockaddr_storage *out)
{
	struct stun_msg m;
	struct stun_attr a;

	if (stun_msg__parse(&m, t->resp, t->resp_len) || !stun_msg__find(&m, type, &a))
		return -EBADMSG;
	return stun_attr__xaddr(&a, m.tid, out);
}

int tc__resp_u32(struct tc *t, uint16_t type, uint32_t *v)
{
	struct stun_msg m;
	struct stun_attr a;

	if (stun_msg__parse(&m, t->resp, t->resp_len) || !stun_msg__find(&m, type, &a))
		return -EBADMSG;
	return stun_attr__u32(&a, v);
}

int tc__next_attempt(struct tc *t, unsigned timeout_ms, struct tc_attempt *a)
{
	uint64_t end = bench_now_ns() + timeout_ms * 1000000ull;
	struct stun_msg m;

	while (!t->n_att) {
		uint64_t now = bench_now_ns();
		int err;

		if (now >= end)
			return -ETIMEDOUT;
		err = tc_read(t, (unsigned)((end - now) / 1000000 + 1));
		if (err)
			return err;
		if (!stun_msg__parse(&m, t->resp, t->resp_len) && m.cls == STUN_INDICATION &&
		    m.method == TURN_CONNECTION_ATTEMPT && (err = queue_attempt(t, &m)))
			return err;
	}
	*a = t->att[0];
	memmove(t->att, t->att + 1, --t->n_att * sizeof(*t->att));
	return 0;
}

int tc__allocate(struct tc *t, uint8_t proto)
{
	struct tc_req rq = {.method = TURN_ALLOCATE, .transport = proto};
	int err = tc__request(t, &rq);

	return err ? err : tc__resp_xaddr(t, STUN_ATTR_XOR_RELAYED_ADDRESS, &t->relayed);
}

int tc__perror(const struct tc *t, const char *what, int err)
{
	if (err == -EPROTO && t->err_code)
		fprintf(stderr, "kturn-bench: %s: error response %d %s\n", what, t->err_code,
			stun_error_reason(t->err_code));
	else if (err)
		fprintf(stderr, "kturn-bench: %s: %s\n", what, strerror(-err));
	return err;
}
