// SPDX-License-Identifier: MIT
/*
 * A UDP allocation between the client and one peer socket: ChannelBind
 * (ChannelData both ways) or CreatePermission with Send/Data indications.
 * With --direct the client's socket talks to the peer's socket itself.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"
#include "kturn/net.h"

#define BENCH_CHANNEL 0x4000

static const struct sockaddr *sa(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr *)ss;
}

static int udp_socket(const struct sockaddr_storage *bind_to, struct sockaddr_storage *local)
{
	socklen_t len = sizeof(*local);
	int fd = socket(bind_to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;
	int buf = 4 << 20;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, sa(bind_to), net_addr_len(sa(bind_to))) < 0 ||
	    getsockname(fd, (struct sockaddr *)local, &len) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static int direct_open(const struct bench_opts *o, struct udp_path *u)
{
	struct sockaddr_storage any = o->peer_ip;
	socklen_t len = sizeof(u->relayed);

	u->cfd = udp_socket(&any, &u->relayed);
	if (u->cfd < 0)
		return u->cfd;
	if (connect(u->cfd, sa(&u->peer), net_addr_len(sa(&u->peer))) < 0 ||
	    getsockname(u->cfd, (struct sockaddr *)&u->relayed, &len) < 0)
		return -errno;
	return 0;
}

static int relayed_open(const struct bench_opts *o, struct udp_path *u)
{
	struct tc_req rq = {
		.method = TURN_CHANNEL_BIND, .peer = sa(&u->peer), .channel = BENCH_CHANNEL};
	int err = tc__open(&u->t, sa(&o->server), true, o->user, o->pass, o->timeout_ms);
	int buf = 4 << 20;

	if (err)
		return tc__perror(&u->t, "UDP socket", err);
	u->cfd = u->t.fd;
	setsockopt(u->cfd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(u->cfd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	err = tc__allocate(&u->t, STUN_TRANSPORT_UDP);
	if (err)
		return tc__perror(&u->t, "Allocate (UDP)", err);
	u->relayed = u->t.relayed;
	u->channel = BENCH_CHANNEL;
	if (u->send_ind)
		rq = (struct tc_req){.method = TURN_CREATE_PERMISSION, .peer = sa(&u->peer)};
	return tc__perror(&u->t, u->send_ind ? "CreatePermission" : "ChannelBind",
			  tc__request(&u->t, &rq));
}

int udp_path__open(const struct bench_opts *o, struct udp_path *u)
{
	memset(u, 0, sizeof(*u));
	u->t.fd = u->cfd = -1;
	u->direct = o->direct;
	u->send_ind = o->send_ind;
	u->pfd = udp_socket(&o->peer_ip, &u->peer);
	if (u->pfd < 0)
		return u->pfd;
	return o->direct ? direct_open(o, u) : relayed_open(o, u);
}

void udp_path__close(struct udp_path *u)
{
	struct tc_req rq = {.method = TURN_REFRESH, .has_lifetime = true, .lifetime = 0};

	/*
	 * Over UDP nothing tells the server we are gone: without Refresh(0) the
	 * allocation would live on, and a later socket that happens to get the
	 * same port would meet 437 Allocation Mismatch.
	 */
	if (!u->direct && u->t.fd >= 0 && u->t.key_len)
		tc__request(&u->t, &rq);
	if (u->direct && u->cfd >= 0)
		close(u->cfd);
	tc__close(&u->t);
	if (u->pfd >= 0)
		close(u->pfd);
	u->cfd = u->pfd = -1;
}

static ssize_t wrap(struct udp_path *u, const void *data, size_t len, uint8_t *buf, size_t cap)
{
	struct stun_builder b;

	if (!u->send_ind)
		return stun_channel__build(buf, cap, u->channel, data, len, false);
	stun_build__init(&b, buf, cap, TURN_SEND, STUN_INDICATION, NULL);
	stun_build__xaddr(&b, STUN_ATTR_XOR_PEER_ADDRESS, sa(&u->peer));
	stun_build__attr(&b, STUN_ATTR_DATA, data, len);
	return stun_build__finish(&b);
}

int udp_path__client_send(struct udp_path *u, const void *data, size_t len)
{
	uint8_t buf[65536 + 64];
	ssize_t n = (ssize_t)len;

	if (!u->direct) {
		n = wrap(u, data, len, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		data = buf;
	}
	if (send(u->cfd, data, (size_t)n, MSG_DONTWAIT) < 0)
		return -errno;
	return 0;
}

ssize_t udp_path__client_recv(struct udp_path *u, uint8_t *buf, size_t cap, const uint8_t **data)
{
	ssize_t n = recv(u->cfd, buf, cap, MSG_DONTWAIT);
	struct stun_msg m;
	struct stun_attr a;
	uint16_t ch;
	size_t len;

	if (n < 0)
		return -errno;
	*data = buf;
	if (u->direct)
		return n;
	if (n >= 4 && buf[0] >= 0x40 && buf[0] <= 0x7f) {
		if (stun_channel__parse(buf, (size_t)n, false, &ch, data, &len) || ch != u->channel)
			return 0;
		return (ssize_t)len;
	}
	if (stun_msg__parse(&m, buf, (size_t)n) || m.cls != STUN_INDICATION ||
	    m.method != TURN_DATA || !stun_msg__find(&m, STUN_ATTR_DATA, &a))
		return 0;
	*data = a.val;
	return a.len;
}

int udp_path__peer_send(struct udp_path *u, const void *data, size_t len)
{
	if (sendto(u->pfd, data, len, MSG_DONTWAIT, sa(&u->relayed),
		   net_addr_len(sa(&u->relayed))) < 0)
		return -errno;
	return 0;
}
