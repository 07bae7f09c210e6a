// SPDX-License-Identifier: MIT
/*
 * TURN requests (RFC 8656 §7-§12): authenticate (RFC 8489 §9.2), find the
 * allocation of the 5-tuple, check that the credentials are the
 * allocation's, then Allocate / Refresh / CreatePermission / ChannelBind.
 * Every error is answered with the RFC's code and logged with the reason.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/peer_filter.h"
#include "kturn/turn_perms.h"
#include "turn_int.h"

static const char *method_name(uint16_t m)
{
	switch (m) {
	case TURN_ALLOCATE:
		return "allocate";
	case TURN_REFRESH:
		return "refresh";
	case TURN_CREATE_PERMISSION:
		return "create-permission";
	case TURN_CHANNEL_BIND:
		return "channel-bind";
	case TURN_CONNECT:
		return "connect";
	case TURN_CONNECTION_BIND:
		return "connection-bind";
	}
	return "?";
}

void turn_req__start(struct turn_req *rq, enum stun_class cls)
{
	stun_build__init(&rq->b, rq->out, rq->cap, rq->m->method, cls, rq->m->tid);
}

/* SOFTWARE, integrity (when authenticated), FINGERPRINT. */
ssize_t turn_req__end(struct turn_req *rq, bool sign)
{
	const struct turn_opts *o = rq->ts->o;

	if (o->software)
		stun_build__string(&rq->b, STUN_ATTR_SOFTWARE, o->software);
	if (sign)
		auth__sign(&rq->auth, &rq->b);
	if (o->fingerprint || rq->m->fp_off)
		stun_build__fingerprint(&rq->b);
	return stun_build__finish(&rq->b);
}

static void log_reject(struct turn_req *rq, int code, const char *why)
{
	char client[NET_ADDRSTRLEN];

	net_addr_str((const struct sockaddr *)&rq->conn->client, client, sizeof(client));
	klog_info("turn reject method=%s code=%d user=%s transport=%s client=%s reason=\"%s\"",
		  method_name(rq->m->method), code, rq->auth.user[0] ? rq->auth.user : "-",
		  kt_transport_name(rq->conn->transport), client, why);
}

/* An error after authentication succeeded: signed like a success. */
ssize_t turn_req__error(struct turn_req *rq, int code, const char *why)
{
	log_reject(rq, code, why);
	turn_stats__error(&rq->ts->stats, code);
	turn_req__start(rq, STUN_ERROR);
	stun_build__error(&rq->b, code, NULL);
	return turn_req__end(rq, true);
}

/* 400/401/438 from auth__check: never signed; 401/438 carry a challenge. */
static ssize_t reply_auth_error(struct turn_req *rq)
{
	int code = rq->auth.code;

	turn_stats__error(&rq->ts->stats, code);
	turn_stats__auth_fail(&rq->ts->stats, code, rq->auth.why);

	/* a bare first request is the normal start of the dance, not worth a line */
	if (!rq->limited && (rq->m->mi_off || rq->m->mi256_off || code != 401))
		log_reject(rq, code, rq->auth.why ? rq->auth.why : "authentication");
	turn_req__start(rq, STUN_ERROR);
	stun_build__error(&rq->b, code, NULL);
	if (code == 401 || code == 438)
		auth__challenge(turn_shared__auth(rq->ts->sh), (const void *)&rq->conn->client,
				(uint64_t)time(NULL), &rq->b);
	return turn_req__end(rq, false);
}

/* LIFETIME rule of RFC 8656 §7.2 and §7.3; *zero for an explicit 0. */
uint32_t turn_req__lifetime(const struct turn_req *rq, bool *zero)
{
	const struct turn_opts *o = rq->ts->o;
	struct stun_attr at;
	uint32_t v;

	*zero = false;
	if (!stun_msg__find(rq->m, STUN_ATTR_LIFETIME, &at) || stun_attr__u32(&at, &v) < 0)
		return o->default_lifetime;
	if (v == 0) {
		*zero = true;
		return 0;
	}
	if (v > o->max_lifetime)
		v = o->max_lifetime;
	return v > o->default_lifetime ? v : o->default_lifetime;
}

/* The allocation of this 5-tuple, checked against the request's credentials. */
static struct turn_alloc *own_alloc(struct turn_req *rq, ssize_t *err)
{
	struct turn_alloc *a = turn_alloc__find(rq->ts, rq->conn);

	if (!a) {
		*err = turn_req__error(rq, 437, "no allocation for this 5-tuple");
		return NULL;
	}
	if (!rq->auth.anonymous && (!a->user || strcmp(a->user, rq->auth.user))) {
		*err = turn_req__error(rq, 441, "credentials differ from the allocation's");
		return NULL;
	}
	return a;
}

static ssize_t do_refresh(struct turn_req *rq)
{
	ssize_t err = 0;
	struct turn_alloc *a = own_alloc(rq, &err);
	struct stun_attr at;
	uint8_t fam;
	bool zero;
	uint32_t life;

	if (!a)
		return err;
	if (stun_msg__find(rq->m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &at)) {
		if (stun_attr__family(&at, &fam) < 0)
			return turn_req__error(rq, 400, "bad REQUESTED-ADDRESS-FAMILY");
		if (!turn_alloc__relay(a, fam == STUN_FAMILY_IPV4 ? AF_INET : AF_INET6))
			return turn_req__error(rq, 443, "no relayed address of that family");
	}
	life = turn_req__lifetime(rq, &zero);
	turn_req__start(rq, STUN_SUCCESS);
	stun_build__u32(&rq->b, STUN_ATTR_LIFETIME, life);
	if (zero)
		turn_alloc__free(a, "refresh with lifetime 0");
	else
		turn_alloc__set_lifetime(a, life);
	return turn_req__end(rq, true);
}

/*
 * XOR-PEER-ADDRESS checks shared by CreatePermission (ip_only: the port is
 * ignored there, RFC 8656 §9.1, so port 0 is fine) and ChannelBind.
 */
static int check_peer(struct turn_req *rq, struct turn_alloc *a, const struct stun_attr *at,
		      struct sockaddr_storage *peer, bool ip_only, ssize_t *err)
{
	char addr[NET_ADDRSTRLEN], why[96];
	struct sockaddr_storage judged;
	enum peer_verdict v;

	if (stun_attr__xaddr(at, rq->m->tid, peer) < 0) {
		*err = turn_req__error(rq, 400, "malformed XOR-PEER-ADDRESS");
		return -1;
	}
	if (!turn_alloc__relay(a, peer->ss_family)) {
		*err = turn_req__error(rq, 443, "peer family has no relayed address");
		return -1;
	}
	judged = *peer;
	if (ip_only && judged.ss_family == AF_INET)
		((struct sockaddr_in *)&judged)->sin_port = htons(9);
	else if (ip_only)
		((struct sockaddr_in6 *)&judged)->sin6_port = htons(9);
	v = peer_filter__check(turn_shared__filter(rq->ts->sh), (const struct sockaddr *)&judged);
	if (v != PEER_ALLOW) {
		net_addr_str((const struct sockaddr *)peer, addr, sizeof(addr));
		snprintf(why, sizeof(why), "peer %s denied: %s", addr, peer_verdict_str(v));
		*err = turn_req__error(rq, 403, why);
		return -1;
	}
	return 0;
}

#define MAX_PEERS_PER_REQUEST 32

static ssize_t do_create_permission(struct turn_req *rq)
{
	struct sockaddr_storage peers[MAX_PEERS_PER_REQUEST];
	ssize_t err = 0;
	struct turn_alloc *a = own_alloc(rq, &err);
	uint64_t now;
	struct stun_attr_iter it;
	struct stun_attr at;
	size_t n = 0;

	if (!a)
		return err;
	stun_attr_iter__init(&it, rq->m);
	while (stun_attr_iter__next(&it, &at)) {
		if (at.type != STUN_ATTR_XOR_PEER_ADDRESS)
			continue;
		if (n == MAX_PEERS_PER_REQUEST)
			return turn_req__error(rq, 508, "too many XOR-PEER-ADDRESS in one request");
		if (check_peer(rq, a, &at, &peers[n++], true, &err) < 0)
			return err;
	}
	if (!n)
		return turn_req__error(rq, 400, "no XOR-PEER-ADDRESS");
	now = loop__now_ms(rq->ts->loop);
	for (size_t i = 0; i < n; i++)
		if (turn_perms__permit(a->perms, (const void *)&peers[i], now,
				       rq->ts->o->perm_lifetime) < 0)
			return turn_req__error(rq, 508, "permission limit reached");
	turn_alloc__rearm(a);
	turn_req__start(rq, STUN_SUCCESS);
	return turn_req__end(rq, true);
}

static ssize_t do_channel_bind(struct turn_req *rq)
{
	const struct turn_opts *o = rq->ts->o;
	struct sockaddr_storage peer;
	ssize_t err = 0;
	struct turn_alloc *a = own_alloc(rq, &err);
	struct stun_attr at;
	uint16_t ch;
	char why[64];
	int rc;

	if (!a)
		return err;
	if (a->tcp)
		return turn_req__error(rq, 400, "ChannelBind on a TCP allocation (RFC 6062 §5)");
	if (!stun_msg__find(rq->m, STUN_ATTR_CHANNEL_NUMBER, &at) ||
	    stun_attr__channel(&at, &ch) < 0)
		return turn_req__error(rq, 400, "missing or malformed CHANNEL-NUMBER");
	if (ch < STUN_CHANNEL_MIN || ch > o->channel_max) {
		snprintf(why, sizeof(why), "CHANNEL-NUMBER 0x%04x outside 0x4000-0x%04X", ch,
			 o->channel_max);
		return turn_req__error(rq, 400, why);
	}
	if (!stun_msg__find(rq->m, STUN_ATTR_XOR_PEER_ADDRESS, &at))
		return turn_req__error(rq, 400, "no XOR-PEER-ADDRESS");
	if (check_peer(rq, a, &at, &peer, false, &err) < 0)
		return err;
	rc = turn_perms__bind_channel(a->perms, ch, (const void *)&peer, loop__now_ms(rq->ts->loop),
				      o->chan_lifetime, o->perm_lifetime);
	if (rc == -ENOSPC)
		return turn_req__error(rq, 508, "channel or permission limit reached");
	if (rc == -EBUSY)
		return turn_req__error(rq, 400, "channel or peer in its post-expiry cooldown");
	if (rc < 0)
		return turn_req__error(rq, 400, "channel or peer already bound to another");
	turn_alloc__rearm(a);
	turn_req__start(rq, STUN_SUCCESS);
	return turn_req__end(rq, true);
}

static ssize_t do_connect(struct turn_req *rq)
{
	ssize_t err = 0;
	struct turn_alloc *a = own_alloc(rq, &err);

	return a ? turn_req__connect(rq, a) : err;
}

ssize_t turn__request(struct turn_conn *conn, const struct stun_msg *m, uint8_t *out, size_t cap)
{
	struct turn_req rq = {.ts = conn->ts, .conn = conn, .m = m, .out = out, .cap = cap};

	uint16_t unknown[STUN_MAX_UNKNOWN];
	size_t n;

	if (turn_req__auth_limited(&rq))
		return reply_auth_error(&rq);
	if (auth__check(turn_shared__auth(conn->ts->sh), m, (const void *)&conn->client,
			(uint64_t)time(NULL), &rq.auth)) {
		turn_req__auth_failed(&rq);
		return reply_auth_error(&rq);
	}
	n = stun_msg__unknown_required(m, handler__known_attr, unknown, STUN_MAX_UNKNOWN);
	if (n) {
		log_reject(&rq, 420, "unknown comprehension-required attribute");
		turn_stats__error(&rq.ts->stats, 420);
		turn_req__start(&rq, STUN_ERROR);
		stun_build__error(&rq.b, 420, NULL);
		stun_build__unknown(&rq.b, unknown, n);
		return turn_req__end(&rq, true);
	}
	switch (m->method) {
	case TURN_ALLOCATE:
		return turn_req__allocate(&rq);
	case TURN_REFRESH:
		return do_refresh(&rq);
	case TURN_CREATE_PERMISSION:
		return do_create_permission(&rq);
	case TURN_CHANNEL_BIND:
		return do_channel_bind(&rq);
	case TURN_CONNECT:
		return do_connect(&rq);
	case TURN_CONNECTION_BIND:
		return turn_req__connection_bind(&rq);
	}
	return turn_req__error(&rq, 400, "method not supported");
}

void turn__indication(struct turn_conn *conn, const struct stun_msg *m)
{
	struct turn_alloc *a;
	struct sockaddr_storage peer;
	struct stun_attr at, data;

	if (m->method != TURN_SEND)
		return;
	a = turn_alloc__find(conn->ts, conn);
	if (!a)
		klog_debug("turn drop method=send transport=%s reason=\"no allocation\"",
			   kt_transport_name(conn->transport));
	if (!a || !stun_msg__find(m, STUN_ATTR_XOR_PEER_ADDRESS, &at) ||
	    !stun_msg__find(m, STUN_ATTR_DATA, &data) || stun_attr__xaddr(&at, m->tid, &peer) < 0)
		return; /* RFC 8656 §10.2: silently discarded */
	if (peer_filter__check(turn_shared__filter(conn->ts->sh), (const void *)&peer) !=
	    PEER_ALLOW) {
		a->dropped++;
		return;
	}
	turn_relay__to_peer(a, (const void *)&peer, data.val, data.len);
}

void turn__channel_data(struct turn_conn *conn, const uint8_t *buf, size_t len)
{
	struct turn_alloc *a = turn_alloc__find(conn->ts, conn);
	struct sockaddr_storage peer;
	const uint8_t *data;
	size_t data_len;
	uint16_t ch;

	if (!a || stun_channel__parse(buf, len, conn->transport != KT_TRANSPORT_UDP, &ch, &data,
				      &data_len) < 0)
		return;
	if (turn_perms__channel_peer(a->perms, ch, loop__now_ms(conn->ts->loop), &peer) < 0) {
		a->dropped++;
		return;
	}
	turn_relay__to_peer(a, (const void *)&peer, data, data_len);
}

void turn__conn_closed(struct turn_conn *conn)
{
	if (conn->alloc)
		turn_alloc__free(conn->alloc, "client connection closed");
}
