// SPDX-License-Identifier: MIT
/*
 * Listeners of one worker: UDP sockets answered in batches of datagrams,
 * TCP listeners that hand accepted sockets to tcp_client.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/stun.h"
#include "server_priv.h"

#define UDP_BATCH	32
#define UDP_MAX_DGRAM	65536
#define ACCEPT_RETRY_MS 100
#define ACCEPT_LOG_MS	60000
#define ACCEPT_BACKLOG	1024

struct udp_batch {
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	uint8_t data[UDP_BATCH][2048];
};

/* Datagrams that are not ours get no answer; a line only at debug level (junk is cheap). */
static void udp_drop(const struct sockaddr_storage *from, size_t len, const char *why)
{
	char addr[NET_ADDRSTRLEN];

	if (log__level() < LOG_DEBUG)
		return;
	net_addr_str((const struct sockaddr *)from, addr, sizeof(addr));
	klog_debug("udp drop client=%s len=%zu reason=\"%s\"", addr, len, why);
}

static void udp_one(struct listener *li, const uint8_t *p, size_t len,
		    const struct sockaddr_storage *from)
{
	struct turn_conn conn = {
		.ts = li->srv->turn,
		.transport = KT_TRANSPORT_UDP,
		.client = *from,
		.local = li->addr,
		.send = turn_conn__udp_send,
		.fd = li->w.fd,
	};
	struct msg_src src = {
		.transport = KT_TRANSPORT_UDP,
		.client = (const struct sockaddr *)from,
		.local = (const struct sockaddr *)&li->addr,
		.conn = conn.ts ? &conn : NULL,
	};
	uint8_t out[HANDLER_REPLY_MAX];
	ssize_t n;

	if (len >= STUN_CHANNEL_HDR_LEN && (p[0] & 0xC0) == 0x40) {
		if (conn.ts)
			turn__channel_data(&conn, p, len);
		return;
	}
	if (!stun_msg__looks_like(p, len)) {
		udp_drop(from, len, "not STUN or ChannelData");
		return;
	}
	n = handler__stun(&li->srv->opts.handler, &src, p, len, out, sizeof(out));
	if (n > 0 && sendto(li->w.fd, out, (size_t)n, 0, (const struct sockaddr *)from,
			    net_addr_len((const struct sockaddr *)from)) < 0)
		klog_debug("udp sendto failed: %s", strerror(errno));
}

static void udp_io(struct loop_watch *w, uint32_t events)
{
	struct listener *li = w->arg;
	struct udp_batch *b = li->srv->udp;
	int n;

	for (int i = 0; i < UDP_BATCH; i++) {
		b->iov[i] = (struct iovec){b->data[i], sizeof(b->data[i])};
		b->msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &b->from[i],
			.msg_namelen = sizeof(b->from[i]),
			.msg_iov = &b->iov[i],
			.msg_iovlen = 1,
		};
	}
	n = recvmmsg(w->fd, b->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++) {
		if (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			udp_drop(&b->from[i], b->msgs[i].msg_len, "larger than any request");
			continue;
		}
		udp_one(li, b->data[i], b->msgs[i].msg_len, &b->from[i]);
	}
	/* queued relay datagrams point into b: send them before it is reused */
	if (li->srv->turn)
		turn_server__flush(li->srv->turn);
}

static void accept_resume(struct loop_timer *t)
{
	struct listener *li = t->arg;

	if (loop__add(li->srv->loop, &li->w, EPOLLIN) < 0)
		klog_err("cannot resume accepting: %s", strerror(errno));
}

/*
 * Out of descriptors: stop accepting for a moment instead of spinning. Logged
 * the first time and then once a minute (with the count), not on every retry.
 */
static void accept_pause(struct listener *li, int err)
{
	uint64_t now = loop__now_ms(li->srv->loop);
	char addr[NET_ADDRSTRLEN];

	li->pauses++;
	if (!li->paused_log_ms || now - li->paused_log_ms >= ACCEPT_LOG_MS) {
		net_addr_str((const struct sockaddr *)&li->addr, addr, sizeof(addr));
		klog_warn("accept on %s failed: %s; pausing %d ms (%llu pauses)", addr,
			  strerror(err), ACCEPT_RETRY_MS, (unsigned long long)li->pauses);
		li->paused_log_ms = now ? now : 1;
		li->pauses = 0;
	}
	loop__del(li->srv->loop, &li->w);
	loop__timer_arm(li->srv->loop, &li->retry, ACCEPT_RETRY_MS);
}

static void tcp_accept_io(struct loop_watch *w, uint32_t events)
{
	struct listener *li = w->arg;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(w->fd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				accept_pause(li, errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				klog_warn("accept failed: %s", strerror(errno));
			return;
		}
		if (tcp_client__start(li->srv, fd, &peer, &li->addr, li->tls) < 0)
			klog_warn("cannot track new TCP client: out of memory");
	}
}

static const char *proto_name(int type, bool tls)
{
	return type == SOCK_DGRAM ? "udp" : tls ? "tls" : "tcp";
}

static int listener_open(struct server *s, struct listener *li, const struct sockaddr_storage *addr,
			 int type, bool tls)
{
	const struct sockaddr *sa = (const struct sockaddr *)addr;
	char name[NET_ADDRSTRLEN];
	int fd;

	li->srv = s;
	li->addr = *addr;
	li->type = type;
	li->tls = tls;
	net_addr_str(sa, name, sizeof(name));
	fd = type == SOCK_DGRAM ? net_udp_bind(sa, NET_REUSEPORT)
				: net_tcp_listen(sa, ACCEPT_BACKLOG, NET_REUSEPORT);
	if (fd < 0) {
		klog_err("cannot listen on %s/%s: %s", name, proto_name(type, tls), strerror(-fd));
		return fd;
	}
	loop_watch__init(&li->w, fd, type == SOCK_DGRAM ? udp_io : tcp_accept_io, li);
	loop_timer__init(&li->retry, accept_resume, li);
	klog_info("listening on %s/%s", name, proto_name(type, tls));
	return loop__add(s->loop, &li->w, EPOLLIN);
}

static int open_listeners(struct server *s)
{
	const struct server_opts *o = &s->opts;
	size_t per = (size_t)o->udp + (size_t)o->tcp;
	size_t n_tls = o->tls ? o->n_tls_listen : 0;
	int err = 0;

	s->listeners = calloc(o->n_listen * per + n_tls, sizeof(*s->listeners));
	if (!s->listeners)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_listen && !err; i++) {
		if (o->udp)
			err = listener_open(s, &s->listeners[s->n_listeners++], &o->listen[i],
					    SOCK_DGRAM, false);
		if (!err && o->tcp)
			err = listener_open(s, &s->listeners[s->n_listeners++], &o->listen[i],
					    SOCK_STREAM, false);
	}
	for (size_t i = 0; i < n_tls && !err; i++)
		err = listener_open(s, &s->listeners[s->n_listeners++], &o->tls_listen[i],
				    SOCK_STREAM, true);
	return err;
}

static void on_mail(void *arg, struct mail *m)
{
	tcp_client__adopt(arg, m);
}

int server__new(struct server **out, struct loop *l, const struct server_opts *o)
{
	struct server *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->loop = l;
	s->opts = *o;
	s->udp = calloc(1, sizeof(*s->udp));
	err = s->udp ? 0 : -ENOMEM;
	if (!err && o->turn)
		err = turn_server__new(&s->turn, o->turn, l);
	if (!err && s->turn) {
		turn_server__set_transport(s->turn, s);
		err = mailbox__new(&s->mbox, l, on_mail, s);
	}
	if (!err)
		err = open_listeners(s);
	if (err) {
		server__free(s);
		return err;
	}
	*out = s;
	return 0;
}

void server__free(struct server *s)
{
	if (!s)
		return;
	while (s->clients)
		tcp_client__close(s->clients, "server shutdown");
	turn_server__free(s->turn); /* after the connections: they own TCP allocations */
	mailbox__free(s->mbox);
	for (size_t i = 0; i < s->n_listeners; i++) {
		struct listener *li = &s->listeners[i];

		if (li->w.cb) {
			loop__del(s->loop, &li->w);
			loop__timer_cancel(s->loop, &li->retry);
			close(li->w.fd);
		}
	}
	free(s->listeners);
	free(s->udp);
	free(s);
}

size_t server__tcp_conns(const struct server *s)
{
	return s->n_clients;
}

struct turn_server *server__turn(struct server *s)
{
	return s ? s->turn : NULL;
}
