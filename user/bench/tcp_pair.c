// SPDX-License-Identifier: MIT
/*
 * Bridged TCP pairs (RFC 6062): per allocation a control connection does
 * Allocate(REQUESTED-TRANSPORT=TCP) and CreatePermission for the peer IP;
 * then either the peer connects to the relayed address and the server
 * announces a ConnectionAttempt (--flow peer), or the client sends Connect to
 * the peer's listening address (--flow client). Either way the client opens
 * a data connection and sends ConnectionBind; from the byte after the
 * response that connection is bridged to the peer's.
 *
 * A batch (one allocation) keeps every connect and bind in flight at once:
 * the waits are sequential, the operations overlap.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"
#include "kturn/net.h"

static const struct sockaddr *sa(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr *)ss;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void pair_fail(struct pair_set *ps, struct bpair *p)
{
	if (p->cfd >= 0)
		close(p->cfd);
	if (p->pfd >= 0)
		close(p->pfd);
	p->cfd = p->pfd = -1;
	ps->failed++;
}

/* Nonblocking connect; 0 when it is complete or in progress. */
static int start_connect(int fd, const struct sockaddr_storage *to)
{
	if (connect(fd, sa(to), net_addr_len(sa(to))) < 0 && errno != EINPROGRESS)
		return -errno;
	return 0;
}

static int finish_connect(int fd, int ms)
{
	int err = bench_wait_fd(fd, POLLOUT, ms), soerr = 0;
	socklen_t len = sizeof(soerr);

	if (err)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return -soerr;
}

/* Read exactly one STUN message (and no byte of the data after it). */
static int read_bind_response(int fd, const uint8_t *tid, int ms)
{
	uint8_t buf[1024];
	struct stun_msg m;
	size_t len;
	int err = bench_recv_all(fd, buf, STUN_HEADER_LEN, ms);

	if (err)
		return err;
	len = STUN_HEADER_LEN + ((size_t)buf[2] << 8 | buf[3]);
	if (len > sizeof(buf))
		return -EBADMSG;
	err = bench_recv_all(fd, buf + STUN_HEADER_LEN, len - STUN_HEADER_LEN, ms);
	if (err)
		return err;
	if (stun_msg__parse(&m, buf, len) || memcmp(m.tid, tid, STUN_TID_LEN) ||
	    m.method != TURN_CONNECTION_BIND)
		return -EBADMSG;
	return m.cls == STUN_SUCCESS ? 0 : -EPROTO;
}

/* Data connections + ConnectionBind for pairs whose cid[] is known. */
static void bind_all(const struct bench_opts *o, struct tc *t, struct pair_set *ps, struct bpair *p,
		     const uint32_t *cid, size_t m)
{
	uint8_t(*tid)[STUN_TID_LEN] = calloc(m, STUN_TID_LEN);
	int ms = (int)o->timeout_ms;

	for (size_t i = 0; i < m; i++) {
		if (p[i].pfd < 0)
			continue;
		p[i].cfd = bench_tcp_socket(NULL, o->server.ss_family);
		if (p[i].cfd < 0 || start_connect(p[i].cfd, &o->server))
			pair_fail(ps, &p[i]);
	}
	for (size_t i = 0; i < m; i++) {
		struct tc_req rq = {.method = TURN_CONNECTION_BIND, .has_cid = true, .cid = cid[i]};
		uint8_t buf[512];
		ssize_t len;

		if (p[i].cfd < 0)
			continue;
		len = tc__build(t, &rq, buf, sizeof(buf), tid ? tid[i] : NULL);
		if (!tid || len < 0 || finish_connect(p[i].cfd, ms) ||
		    bench_send_all(p[i].cfd, buf, (size_t)len, ms))
			pair_fail(ps, &p[i]);
	}
	for (size_t i = 0; i < m; i++) {
		if (p[i].cfd < 0)
			continue;
		if (read_bind_response(p[i].cfd, tid[i], ms) || finish_connect(p[i].pfd, ms))
			pair_fail(ps, &p[i]);
		nodelay(p[i].cfd);
		nodelay(p[i].pfd);
	}
	free(tid);
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return net_addr_port((struct sockaddr *)&ss);
}

/* --flow peer: the peers connect to the relayed address. */
static void peer_flow(const struct bench_opts *o, struct tc *t, struct pair_set *ps,
		      struct bpair *p, uint32_t *cid, size_t m)
{
	int *port = calloc(m, sizeof(*port));
	size_t want = 0;
	struct tc_attempt a;

	for (size_t i = 0; i < m && port; i++) {
		p[i].pfd = bench_tcp_socket(sa(&o->peer_ip), 0);
		port[i] = p[i].pfd < 0 ? -1 : local_port(p[i].pfd);
		if (port[i] < 0 || start_connect(p[i].pfd, &t->relayed)) {
			pair_fail(ps, &p[i]);
			port[i] = -1;
		} else {
			want++;
		}
	}
	for (; port && want && !tc__next_attempt(t, o->timeout_ms, &a); want--) {
		int pp = net_addr_port(sa(&a.peer));

		for (size_t i = 0; i < m; i++) {
			if (port[i] == pp) {
				cid[i] = a.cid;
				port[i] = 0;
				break;
			}
		}
	}
	for (size_t i = 0; i < m && port; i++)
		if (port[i] > 0) /* no ConnectionAttempt for it */
			pair_fail(ps, &p[i]);
	free(port);
	bind_all(o, t, ps, p, cid, m);
}

/* --flow client: Connect to a listener per pair (one connection per peer address). */
static int connect_one(const struct bench_opts *o, struct tc *t, struct bpair *p, uint32_t *cid)
{
	struct sockaddr_storage la = o->peer_ip;
	int lfd = bench_tcp_socket(sa(&o->peer_ip), 0), port, err;
	struct tc_req rq = {.method = TURN_CONNECT, .peer = sa(&la)};

	if (lfd < 0)
		return lfd;
	port = local_port(lfd);
	err = port < 0 ? port : (listen(lfd, 1) < 0 ? -errno : 0);
	bench_set_port(&la, (uint16_t)port);
	if (!err)
		err = tc__request(t, &rq);
	if (!err)
		err = tc__resp_u32(t, STUN_ATTR_CONNECTION_ID, cid);
	if (!err)
		err = bench_wait_fd(lfd, POLLIN, (int)o->timeout_ms);
	if (!err) {
		p->pfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		err = p->pfd < 0 ? -errno : 0;
	}
	close(lfd);
	return err;
}

static void client_flow(const struct bench_opts *o, struct tc *t, struct pair_set *ps,
			struct bpair *p, uint32_t *cid, size_t m)
{
	for (size_t i = 0; i < m; i++)
		if (connect_one(o, t, &p[i], &cid[i]))
			pair_fail(ps, &p[i]);
	bind_all(o, t, ps, p, cid, m);
}

static int alloc_open(const struct bench_opts *o, struct tc *t)
{
	struct tc_req rq = {.method = TURN_CREATE_PERMISSION, .peer = sa(&o->peer_ip)};
	int err = tc__open(t, sa(&o->server), false, o->user, o->pass, o->timeout_ms);

	if (err)
		return tc__perror(t, "control connection", err);
	err = tc__allocate(t, STUN_TRANSPORT_TCP);
	if (err)
		return tc__perror(t, "Allocate (TCP)", err);
	return tc__perror(t, "CreatePermission", tc__request(t, &rq));
}

/* --direct: the client connects straight to a listener of the peer. */
static int direct_open(const struct bench_opts *o, struct pair_set *ps)
{
	struct sockaddr_storage la = o->peer_ip;
	int lfd = bench_tcp_socket(sa(&o->peer_ip), 0), port, err;

	if (lfd < 0)
		return lfd;
	port = local_port(lfd);
	err = port < 0 ? port : (listen(lfd, 4096) < 0 ? -errno : 0);
	bench_set_port(&la, (uint16_t)port);
	for (size_t i = 0; i < ps->n && !err; i++) {
		struct bpair *p = &ps->p[i];

		p->cfd = bench_tcp_socket(NULL, la.ss_family);
		err = p->cfd < 0 ? p->cfd : start_connect(p->cfd, &la);
		if (!err)
			err = bench_wait_fd(lfd, POLLIN, (int)o->timeout_ms);
		if (!err) {
			p->pfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			err = p->pfd < 0 ? -errno : finish_connect(p->cfd, (int)o->timeout_ms);
		}
		if (!err) {
			nodelay(p->cfd);
			nodelay(p->pfd);
		}
	}
	close(lfd);
	return err;
}

static int relayed_open(const struct bench_opts *o, struct pair_set *ps)
{
	size_t per = o->per_alloc ? o->per_alloc : 100;
	uint32_t *cid = calloc(per, sizeof(*cid));
	uint64_t t0 = bench_now_ns(), tick = t0;
	int err = 0;

	ps->n_ctl = (ps->n + per - 1) / per;
	ps->ctl = calloc(ps->n_ctl, sizeof(*ps->ctl));
	if (!ps->ctl || !cid) {
		free(cid);
		return -ENOMEM;
	}
	for (size_t a = 0; a < ps->n_ctl; a++)
		ps->ctl[a].fd = -1;
	for (size_t a = 0; a < ps->n_ctl && !err; a++) {
		size_t first = a * per, m = ps->n - first < per ? ps->n - first : per;
		uint64_t now = bench_now_ns();

		if (o->progress && now - tick >= 1000000000ull) {
			fprintf(stderr, "[%6.1f s] setup: %zu of %zu pairs, %llu failed\n",
				(double)(now - t0) / 1e9, first, ps->n,
				(unsigned long long)ps->failed);
			tick = now;
		}

		err = alloc_open(o, &ps->ctl[a]);
		memset(cid, 0, per * sizeof(*cid));
		if (!err && o->client_flow)
			client_flow(o, &ps->ctl[a], ps, ps->p + first, cid, m);
		else if (!err)
			peer_flow(o, &ps->ctl[a], ps, ps->p + first, cid, m);
	}
	free(cid);
	return err;
}

int pairs__open(const struct bench_opts *o, size_t n, struct pair_set *ps)
{
	uint64_t t0 = bench_now_ns();
	int err;

	memset(ps, 0, sizeof(*ps));
	bench_raise_nofile();
	ps->p = malloc(n * sizeof(*ps->p));
	if (!ps->p)
		return -ENOMEM;
	ps->n = n;
	for (size_t i = 0; i < n; i++)
		ps->p[i] = (struct bpair){.cfd = -1, .pfd = -1};
	err = o->direct ? direct_open(o, ps) : relayed_open(o, ps);
	ps->setup_s = (double)(bench_now_ns() - t0) / 1e9;
	return err;
}

int pairs__all_up(const struct pair_set *ps)
{
	if (!ps->failed)
		return 0;
	fprintf(stderr,
		"kturn-bench: %llu of %zu bridged pairs could not be set up "
		"(peer connect, ConnectionAttempt, Connect or ConnectionBind failed)\n",
		(unsigned long long)ps->failed, ps->n);
	return -EIO;
}

int pairs__refresh(struct pair_set *ps)
{
	struct tc_req rq = {.method = TURN_REFRESH, .has_lifetime = true, .lifetime = 600};
	int err = 0;

	for (size_t a = 0; a < ps->n_ctl && !err; a++)
		err = tc__request(&ps->ctl[a], &rq);
	return err;
}

void pairs__close(struct pair_set *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->p[i].cfd >= 0)
			close(ps->p[i].cfd);
		if (ps->p[i].pfd >= 0)
			close(ps->p[i].pfd);
	}
	for (size_t a = 0; a < ps->n_ctl; a++)
		tc__close(&ps->ctl[a]);
	free(ps->p);
	free(ps->ctl);
	memset(ps, 0, sizeof(*ps));
}
