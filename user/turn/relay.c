// SPDX-License-Identifier: MIT
/*
 * The UDP relay: datagrams from peers (recvmmsg on the relay socket) become
 * Data indications or ChannelData to the client; Send indications and
 * ChannelData from the client leave the relay socket towards the peer. Both
 * directions queue into the worker's batch, sent with sendmmsg when the
 * callback ends (turn_server__flush).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/turn_perms.h"
#include "turn_int.h"

static const uint8_t zero_pad[4];

uint64_t turn_server__next_tid(struct turn_server *ts, uint8_t tid[STUN_TID_LEN])
{
	uint64_t x = ts->prng;

	/* xorshift64*: indication ids need to be unique-ish, not secret */
	for (int i = 0; i < STUN_TID_LEN; i += 4) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint32_t v = (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);

		memcpy(tid + i, &v, 4);
	}
	ts->prng = x;
	return x;
}

bool turn_rate__take(struct turn_rate *r, uint64_t max_bps, uint64_t now_ms, size_t len)
{
	if (!max_bps)
		return true;
	if (now_ms > r->last_ms) {
		r->tokens += (now_ms - r->last_ms) * max_bps / 1000;
		if (r->tokens > max_bps) /* burst: one second's worth */
			r->tokens = max_bps;
		r->last_ms = now_ms;
	}
	if (r->tokens < len)
		return false;
	r->tokens -= len;
	return true;
}

void turn_server__flush(struct turn_server *ts)
{
	struct turn_txq *q = &ts->txq;
	unsigned i = 0;

	while (i < q->n) {
		unsigned j = i + 1;
		int sent;

		while (j < q->n && q->fd[j] == q->fd[i])
			j++;
		/* one sendmmsg per run of datagrams leaving the same socket */
		while (i < j) {
			sent = sendmmsg(q->fd[i], &q->msg[i], j - i, MSG_DONTWAIT);
			if (sent <= 0) {
				klog_debug("relay sendmmsg: %s", sent < 0 ? strerror(errno) : "0");
				i++; /* drop the one that failed, keep the rest */
				continue;
			}
			i += (unsigned)sent;
		}
	}
	q->n = 0;
}

void turn_txq__add(struct turn_server *ts, int fd, const struct sockaddr *dest, const uint8_t *hdr,
		   size_t hdr_len, const uint8_t *data, size_t len, size_t pad)
{
	struct turn_txq *q = &ts->txq;
	unsigned k, n = 0;

	if (q->n == TURN_TXQ_SLOTS)
		turn_server__flush(ts);
	k = q->n++;
	q->fd[k] = fd;
	memcpy(&q->dest[k], dest, net_addr_len(dest));
	if (hdr_len) {
		memcpy(q->hdr[k], hdr, hdr_len);
		q->iov[k][n++] = (struct iovec){q->hdr[k], hdr_len};
	}
	q->iov[k][n++] = (struct iovec){(void *)data, len};
	if (pad)
		q->iov[k][n++] = (struct iovec){(void *)zero_pad, pad};
	q->msg[k].msg_hdr = (struct msghdr){
		.msg_name = &q->dest[k],
		.msg_namelen = net_addr_len(dest),
		.msg_iov = q->iov[k],
		.msg_iovlen = n,
	};
}

int turn_conn__udp_send(struct turn_conn *c, const struct iovec *iov, int iovcnt)
{
	size_t pad = iovcnt > 2 ? iov[2].iov_len : 0;

	/* iov is (header, data[, padding]) as built below, or one whole message */
	if (iovcnt == 1)
		turn_txq__add(c->ts, c->fd, (const void *)&c->client, NULL, 0, iov[0].iov_base,
			      iov[0].iov_len, 0);
	else
		turn_txq__add(c->ts, c->fd, (const void *)&c->client, iov[0].iov_base,
			      iov[0].iov_len, iov[1].iov_base, iov[1].iov_len, pad);
	return 0;
}

/* Header of a Data indication carrying len bytes from peer; returns its length. */
static size_t data_ind_header(struct turn_server *ts, uint8_t *hdr, const struct sockaddr *peer,
			      size_t len)
{
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN];
	size_t n;

	turn_server__next_tid(ts, tid);
	stun_build__init(&b, hdr, TURN_IND_HDR_MAX, TURN_DATA, STUN_INDICATION, tid);
	stun_build__xaddr(&b, STUN_ATTR_XOR_PEER_ADDRESS, peer);
	n = b.len;
	hdr[n] = STUN_ATTR_DATA >> 8;
	hdr[n + 1] = STUN_ATTR_DATA & 0xff;
	hdr[n + 2] = (uint8_t)(len >> 8);
	hdr[n + 3] = (uint8_t)len;
	n += 4;
	len = n - STUN_HEADER_LEN + ((len + 3) & ~(size_t)3);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	return n;
}

/* One datagram from peer to the client, if a permission allows it. */
static void to_client(struct turn_alloc *a, const struct sockaddr *peer, const uint8_t *data,
		      size_t len)
{
	struct turn_server *ts = a->ts;
	uint64_t now = loop__now_ms(ts->loop);
	bool stream = a->conn->transport != KT_TRANSPORT_UDP;
	uint8_t hdr[TURN_IND_HDR_MAX];
	struct iovec iov[3];
	uint16_t ch;
	size_t pad = 0;

	if (!turn_perms__allowed(a->perms, peer, now) ||
	    !turn_rate__take(&a->rate_down, ts->o->max_bps, now, len)) {
		a->dropped++;
		return;
	}
	if (turn_perms__peer_channel(a->perms, peer, now, &ch) == 0) {
		hdr[0] = (uint8_t)(ch >> 8);
		hdr[1] = (uint8_t)ch;
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		iov[0] = (struct iovec){hdr, 4};
		pad = stream ? (4 - (len & 3)) & 3 : 0;
	} else {
		iov[0] = (struct iovec){hdr, data_ind_header(ts, hdr, peer, len)};
		pad = (4 - (len & 3)) & 3; /* a STUN attribute is always padded */
	}
	iov[1] = (struct iovec){(void *)data, len};
	iov[2] = (struct iovec){(void *)zero_pad, pad};
	if (a->conn->send(a->conn, iov, pad ? 3 : 2) < 0) {
		a->dropped++;
		return;
	}
	a->down_bytes += len;
	a->down_pkts++;
}

void turn_relay__io(struct loop_watch *w, uint32_t events)
{
	struct turn_relay *r = w->arg;
	struct turn_alloc *a = r->a;
	struct turn_server *ts = a->ts;
	struct turn_rx *rx = ts->rx;
	int n;

	for (int i = 0; i < TURN_RX_BATCH; i++) {
		rx->iov[i] = (struct iovec){rx->data[i], sizeof(rx->data[i])};
		rx->msg[i].msg_hdr = (struct msghdr){
			.msg_name = &rx->from[i],
			.msg_namelen = sizeof(rx->from[i]),
			.msg_iov = &rx->iov[i],
			.msg_iovlen = 1,
		};
	}
	n = recvmmsg(w->fd, rx->msg, TURN_RX_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++) {
		if (rx->msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			a->dropped++;
			continue;
		}
		to_client(a, (const struct sockaddr *)&rx->from[i], rx->data[i],
			  rx->msg[i].msg_len);
	}
	/* datagrams point into rx: send them before the buffers are reused */
	turn_server__flush(ts);
}

void turn_relay__to_peer(struct turn_alloc *a, const struct sockaddr *peer, const uint8_t *data,
			 size_t len)
{
	struct turn_server *ts = a->ts;
	uint64_t now = loop__now_ms(ts->loop);
	struct turn_relay *r = turn_alloc__relay(a, peer->sa_family);

	if (!r || !turn_perms__allowed(a->perms, peer, now) ||
	    !turn_rate__take(&a->rate_up, ts->o->max_bps, now, len)) {
		a->dropped++;
		return;
	}
	turn_txq__add(ts, r->w.fd, peer, NULL, 0, data, len, 0);
	a->up_bytes += len;
	a->up_pkts++;
}
