// SPDX-License-Identifier: MIT
/*
 * STUN message dispatch (RFC 8489 §6.3): validate, answer Binding, reject
 * what the server does not understand. TURN methods plug in here.
 */
#include <errno.h>
#include <string.h>

#include "kturn/handler.h"
#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/stun.h"
#include "kturn/turn.h"

const char *kt_transport_name(enum kt_transport t)
{
	switch (t) {
	case KT_TRANSPORT_UDP:
		return "udp";
	case KT_TRANSPORT_TCP:
		return "tcp";
	case KT_TRANSPORT_TLS:
		return "tls";
	}
	return "?";
}

bool handler__known_attr(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_USERNAME:
	case STUN_ATTR_MESSAGE_INTEGRITY:
	case STUN_ATTR_ERROR_CODE:
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_XOR_PEER_ADDRESS:
	case STUN_ATTR_DATA:
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case STUN_ATTR_XOR_RELAYED_ADDRESS:
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case STUN_ATTR_EVEN_PORT:
	case STUN_ATTR_REQUESTED_TRANSPORT:
	case STUN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
	case STUN_ATTR_PASSWORD_ALGORITHM:
	case STUN_ATTR_USERHASH:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case STUN_ATTR_RESERVATION_TOKEN:
	case STUN_ATTR_PRIORITY:
	case STUN_ATTR_USE_CANDIDATE:
	case STUN_ATTR_CONNECTION_ID:
		return true;
	}
	return !stun_attr_is_required(type);
}

/* Start a response to `req` with the same method and transaction id. */
static void reply_init(struct stun_builder *b, const struct stun_msg *req, enum stun_class cls,
		       uint8_t *out, size_t cap)
{
	stun_build__init(b, out, cap, req->method, cls, req->tid);
}

/* SOFTWARE and FINGERPRINT close every response. */
static ssize_t reply_finish(const struct handler_opts *o, const struct stun_msg *req,
			    struct stun_builder *b)
{
	if (o->software)
		stun_build__string(b, STUN_ATTR_SOFTWARE, o->software);
	if (o->fingerprint || req->fp_off)
		stun_build__fingerprint(b);
	return stun_build__finish(b);
}

static ssize_t reply_error(const struct handler_opts *o, const struct stun_msg *req, int code,
			   uint8_t *out, size_t cap)
{
	struct stun_builder b;

	reply_init(&b, req, STUN_ERROR, out, cap);
	stun_build__error(&b, code, NULL);
	return reply_finish(o, req, &b);
}

static ssize_t reply_unknown(const struct handler_opts *o, const struct stun_msg *req,
			     const uint16_t *types, size_t n, uint8_t *out, size_t cap)
{
	struct stun_builder b;

	reply_init(&b, req, STUN_ERROR, out, cap);
	stun_build__error(&b, 420, NULL);
	stun_build__unknown(&b, types, n);
	return reply_finish(o, req, &b);
}

static ssize_t handle_binding(const struct handler_opts *o, const struct msg_src *src,
			      const struct stun_msg *req, uint8_t *out, size_t cap)
{
	struct stun_builder b;

	reply_init(&b, req, STUN_SUCCESS, out, cap);
	stun_build__xaddr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, src->client);
	return reply_finish(o, req, &b);
}

static void log_drop(const struct msg_src *src, const char *why)
{
	char addr[NET_ADDRSTRLEN];

	net_addr_str(src->client, addr, sizeof(addr));
	klog_info("stun drop transport=%s client=%s reason=\"%s\"",
		  kt_transport_name(src->transport), addr, why);
}

static ssize_t handle_request(const struct handler_opts *o, const struct msg_src *src,
			      const struct stun_msg *req, uint8_t *out, size_t cap)
{
	uint16_t unknown[STUN_MAX_UNKNOWN];
	size_t n;

	/* TURN authenticates first, then checks attributes (RFC 8489 §6.3, §9.2.4) */
	if (src->conn && req->method != STUN_BINDING)
		return turn__request(src->conn, req, out, cap);
	n = stun_msg__unknown_required(req, handler__known_attr, unknown, STUN_MAX_UNKNOWN);
	if (n) {
		log_drop(src, "unknown comprehension-required attribute (420)");
		return reply_unknown(o, req, unknown, n, out, cap);
	}
	switch (req->method) {
	case STUN_BINDING:
		return handle_binding(o, src, req, out, cap);
	default:
		log_drop(src, "unsupported method (400)");
		return reply_error(o, req, 400, out, cap);
	}
}

ssize_t handler__stun(const struct handler_opts *o, const struct msg_src *src, const uint8_t *buf,
		      size_t len, uint8_t *out, size_t cap)
{
	struct stun_msg m;
	uint16_t unknown;
	ssize_t n;

	if (stun_msg__parse(&m, buf, len) < 0) {
		log_drop(src, "malformed STUN message");
		return -EBADMSG;
	}
	if (m.fp_off && stun_msg__check_fingerprint(&m) < 0) {
		log_drop(src, "bad FINGERPRINT");
		return 0;
	}
	switch (m.cls) {
	case STUN_REQUEST:
		n = handle_request(o, src, &m, out, cap);
		break;
	case STUN_INDICATION:
		/* Binding indications are keepalives: no answer (RFC 8489 §6.3.2). */
		n = 0;
		if (stun_msg__unknown_required(&m, handler__known_attr, &unknown, 1)) {
			log_drop(src,
				 "indication with an unknown comprehension-required attribute");
			break;
		}
		if (src->conn)
			turn__indication(src->conn, &m);
		break;
	default:
		log_drop(src, "response received by server");
		n = 0;
		break;
	}
	if (n < 0) {
		klog_err("stun response encoding failed: %s", strerror((int)-n));
		return 0;
	}
	return n;
}
