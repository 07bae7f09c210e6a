// SPDX-License-Identifier: MIT
/*
 * Allocate (RFC 8656 §7.2, RFC 6156 address families): checks in the RFC's
 * order, the alternate-server ceiling (300), then the relay ports and
 * sockets, then the success response.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>

#include "kturn/log.h"
#include "kturn/net.h"
#include "turn_int.h"

#define BIND_ATTEMPTS 8 /* ports another process holds are skipped this often */

/* What the request asks for, parsed and cross-checked. */
struct alloc_ask {
	bool tcp; /* RFC 6062 */
	bool df;
	bool even, reserve;
	bool has_token;
	uint64_t token;
	int family;	 /* primary relayed address family */
	bool additional; /* ADDITIONAL-ADDRESS-FAMILY IPv6 */
	uint32_t lifetime;
};

static const char *transport_check(struct turn_req *rq, int *code, bool *tcp)
{
	struct stun_attr at;
	uint8_t proto;

	*code = 400;
	if (!stun_msg__find(rq->m, STUN_ATTR_REQUESTED_TRANSPORT, &at) ||
	    stun_attr__transport(&at, &proto) < 0)
		return "missing or malformed REQUESTED-TRANSPORT";
	if (proto == STUN_TRANSPORT_TCP && rq->conn->transport == KT_TRANSPORT_UDP)
		return "TCP allocation requested over UDP";
	*code = 442;
	if (proto == STUN_TRANSPORT_TCP && !rq->ts->o->tcp_relay)
		return "TCP relay disabled (no-tcp-relay)";
	if (proto == STUN_TRANSPORT_UDP && !rq->ts->o->udp_relay)
		return "UDP relay disabled (no-udp-relay)";
	if (proto != STUN_TRANSPORT_UDP && proto != STUN_TRANSPORT_TCP)
		return "unsupported REQUESTED-TRANSPORT";
	*tcp = proto == STUN_TRANSPORT_TCP;
	*code = 0;
	return NULL;
}

/* Family attributes and tokens (RFC 8656 §7.2 steps 5-7). NULL or the reason for 400. */
static const char *family_check(struct turn_req *rq, struct alloc_ask *k)
{
	struct stun_attr at;
	bool raf, aaf;
	uint8_t fam = STUN_FAMILY_IPV4, add = 0;

	if (stun_msg__find(rq->m, STUN_ATTR_EVEN_PORT, &at)) {
		if (stun_attr__even_port(&at, &k->reserve) < 0)
			return "malformed EVEN-PORT";
		k->even = true;
	}
	if (stun_msg__find(rq->m, STUN_ATTR_RESERVATION_TOKEN, &at)) {
		if (stun_attr__u64(&at, &k->token) < 0)
			return "malformed RESERVATION-TOKEN";
		k->has_token = true;
	}
	raf = stun_msg__find(rq->m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &at);
	if (raf && stun_attr__family(&at, &fam) < 0)
		return "malformed REQUESTED-ADDRESS-FAMILY";
	aaf = stun_msg__find(rq->m, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &at);
	if (aaf && (stun_attr__family(&at, &add) < 0 || add != STUN_FAMILY_IPV6))
		return "ADDITIONAL-ADDRESS-FAMILY must be IPv6";
	if (k->has_token && (k->even || raf || aaf))
		return "RESERVATION-TOKEN with EVEN-PORT or an address family";
	if (raf && aaf)
		return "both REQUESTED- and ADDITIONAL-ADDRESS-FAMILY";
	if (aaf && k->even && k->reserve)
		return "EVEN-PORT reservation with a dual allocation";
	k->family = fam == STUN_FAMILY_IPV6 ? AF_INET6 : AF_INET;
	k->additional = aaf;
	k->df = stun_msg__find(rq->m, STUN_ATTR_DONT_FRAGMENT, &at);
	if (k->tcp && (k->df || k->even || k->has_token))
		return "DONT-FRAGMENT, EVEN-PORT or RESERVATION-TOKEN on a TCP allocation";
	if (k->tcp && aaf)
		return "dual-stack TCP allocations are not supported";
	return NULL;
}

static const struct sockaddr_storage *relay_ip(const struct turn_opts *o, int family)
{
	const struct sockaddr_storage *ip = family == AF_INET ? &o->relay4 : &o->relay6;

	return ip->ss_family == family ? ip : NULL;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static int add_relay(struct turn_alloc *a, const struct sockaddr_storage *addr, bool df)
{
	return a->tcp ? turn_alloc__add_tcp_relay(a, addr) : turn_alloc__add_relay(a, addr, df);
}

/* Bind a relay on `ip` with a port from the pool (or `port` when nonzero). */
static int open_relay(struct turn_alloc *a, const struct sockaddr_storage *ip, uint16_t port,
		      bool df)
{
	struct turn_shared *sh = a->ts->sh;
	struct sockaddr_storage addr = *ip;
	int err = -EADDRNOTAVAIL;

	if (port) {
		set_port(&addr, port);
		err = add_relay(a, &addr, df);
		if (err)
			turn_shared__put_port(sh, port);
		return err;
	}
	for (int i = 0; i < BIND_ATTEMPTS; i++) {
		err = turn_shared__port(sh, &port);
		if (err)
			return err;
		set_port(&addr, port);
		err = add_relay(a, &addr, df);
		if (!err)
			return 0;
		turn_shared__put_port(sh, port);
		if (err != -EADDRINUSE)
			return err;
	}
	return -EADDRNOTAVAIL;
}

/* The relayed address as clients must see it: external-ip's public IP, bound port. */
static struct sockaddr_storage advertised(const struct turn_opts *o,
					  const struct sockaddr_storage *bound)
{
	const struct sockaddr_storage *pub =
		bound->ss_family == AF_INET ? &o->public4 : &o->public6;
	struct sockaddr_storage ss = *bound;

	if (pub->ss_family != bound->ss_family)
		return ss;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr = ((const struct sockaddr_in *)pub)->sin_addr;
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr =
			((const struct sockaddr_in6 *)pub)->sin6_addr;
	return ss;
}

static ssize_t success(struct turn_req *rq, struct turn_alloc *a, const struct alloc_ask *k,
		       int add_err)
{
	turn_req__start(rq, STUN_SUCCESS);
	for (unsigned i = 0; i < a->n_relay; i++) {
		struct sockaddr_storage pub = advertised(rq->ts->o, &a->relay[i].addr);

		stun_build__xaddr(&rq->b, STUN_ATTR_XOR_RELAYED_ADDRESS, (const void *)&pub);
	}
	if (add_err)
		stun_build__address_error(&rq->b, STUN_FAMILY_IPV6, add_err, NULL);
	stun_build__u32(&rq->b, STUN_ATTR_LIFETIME,
			(uint32_t)((a->expiry_ms - loop__now_ms(a->ts->loop) + 999) / 1000));
	if (k && k->reserve)
		stun_build__u64(&rq->b, STUN_ATTR_RESERVATION_TOKEN, k->token);
	stun_build__xaddr(&rq->b, STUN_ATTR_XOR_MAPPED_ADDRESS, (const void *)&rq->conn->client);
	return turn_req__end(rq, true);
}

/* Relayed addresses for the allocation; 0, or a STUN error code with *why. */
static int make_relays(struct turn_req *rq, struct turn_alloc *a, struct alloc_ask *k, int *add_err,
		       const char **why)
{
	const struct turn_opts *o = rq->ts->o;
	const struct sockaddr_storage *ip;
	uint16_t port = 0;
	int err = 0;

	if (k->has_token && turn_shared__redeem(rq->ts->sh, k->token, &port, &k->family) < 0) {
		*why = "unknown or expired RESERVATION-TOKEN";
		return 508;
	}
	ip = relay_ip(o, k->family);
	if (!ip) {
		if (port)
			turn_shared__put_port(rq->ts->sh, port);
		*why = "no relay address of the requested family";
		return 440;
	}
	if (k->even && !port)
		err = turn_shared__even_port(rq->ts->sh, k->reserve, k->family, &port, &k->token);
	if (!err)
		err = open_relay(a, ip, port, k->df);
	if (err) {
		*why = err == -EADDRNOTAVAIL ? "relay ports exhausted" : "cannot open relay socket";
		return 508;
	}
	if (k->additional) {
		ip = relay_ip(o, AF_INET6);
		*add_err = !ip ? 440 : open_relay(a, ip, 0, k->df) < 0 ? 508 : 0;
	}
	return 0;
}

/*
 * 300 Try Alternate (RFC 8489 §10): after authentication, so signed like
 * any other error when the client used credentials.
 */
static ssize_t try_alternate(struct turn_req *rq, const struct sockaddr_storage *alt)
{
	char client[NET_ADDRSTRLEN], to[NET_ADDRSTRLEN];

	net_addr_str((const void *)&rq->conn->client, client, sizeof(client));
	net_addr_str((const void *)alt, to, sizeof(to));
	klog_info("turn redirect user=%s transport=%s client=%s alternate=%s allocations=%zu "
		  "relayed_bps=%" PRIu64,
		  rq->auth.user[0] ? rq->auth.user : "-", kt_transport_name(rq->conn->transport),
		  client, to, turn_shared__allocations(rq->ts->sh), turn_shared__rate(rq->ts->sh));
	turn_req__start(rq, STUN_ERROR);
	stun_build__error(&rq->b, 300, NULL);
	stun_build__addr(&rq->b, STUN_ATTR_ALTERNATE_SERVER, (const void *)alt);
	return turn_req__end(rq, true);
}

ssize_t turn_req__allocate(struct turn_req *rq)
{
	struct sockaddr_storage alt;
	struct turn_alloc *a = turn_alloc__find(rq->ts, rq->conn);
	const char *user = rq->auth.anonymous ? NULL : rq->auth.user;
	struct alloc_ask k = {0};
	const char *why;
	int code, add_err = 0;
	bool zero;

	if (a && !memcmp(a->tid, rq->m->tid, STUN_TID_LEN))
		return success(rq, a, NULL, 0); /* retransmission (RFC 8656 §7.2) */
	if (a)
		return turn_req__error(rq, 437, "allocation exists for this 5-tuple");
	why = transport_check(rq, &code, &k.tcp);
	if (why)
		return turn_req__error(rq, code, why);
	why = family_check(rq, &k);
	if (why)
		return turn_req__error(rq, 400, why);
	switch (turn_shared__admit(rq->ts->sh, user, rq->conn->transport,
				   rq->conn->client.ss_family, &alt)) {
	case 0:
		break;
	case -EXDEV:
		return try_alternate(rq, &alt);
	default:
		return turn_req__error(rq, 486, "allocation quota reached");
	}
	a = turn_alloc__new(rq->ts, rq->conn, rq->m->tid, user);
	if (a)
		a->tcp = k.tcp;
	code = a ? make_relays(rq, a, &k, &add_err, &why) : 508;
	if (!a)
		why = "out of memory";
	if (code) {
		if (a)
			turn_alloc__free(a, NULL);
		turn_shared__quota_release(rq->ts->sh, user);
		return turn_req__error(rq, code, why);
	}
	k.lifetime = turn_req__lifetime(rq, &zero);
	turn_alloc__activate(a, zero ? rq->ts->o->default_lifetime : k.lifetime);
	return success(rq, a, &k, add_err);
}
